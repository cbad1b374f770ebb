"""The import structure of the four packages: data -> models -> analysis -> reports.

Only module-level imports count: an import inside a function runs on first use (e.g.
``analysis`` asking ``models`` for a family without loading PyMC at import time).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("data", "models", "analysis", "reports")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """Project modules imported at module level (not inside functions or classes)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        nodes = [node]
        if isinstance(node, (ast.If, ast.Try)):  # e.g. `if TYPE_CHECKING:` blocks are skipped below
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            nodes = list(ast.walk(node))
        for item in nodes:
            if isinstance(item, ast.Import):
                found |= {alias.name for alias in item.names}
            elif isinstance(item, ast.ImportFrom):
                if item.level:
                    base = package.split(".")[: len(package.split(".")) - item.level + 1]
                    module = ".".join([*base, item.module] if item.module else base)
                else:
                    module = item.module or ""
                found.add(module)
                found |= {f"{module}.{alias.name}" for alias in item.names}
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "scripts" not in p.parts]
    modules = {_module_name(p): p for p in files}
    return {name: {m for m in _top_level_imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_no_package_imports_one_to_its_right():
    order = {pkg: i for i, pkg in enumerate(PACKAGES)}
    upstream = [f"{name} imports {other}" for name, imports in _graph().items() for other in imports
                if order[other.split(".")[0]] > order[name.split(".")[0]]]
    assert upstream == []


def test_no_import_circle_among_modules():
    graph = _graph()
    # a package's __init__ importing its own submodules is how a package is built, not a circle
    edges = {name: {m for m in imports if not (m.startswith(name + ".") and "." not in name)}
             for name, imports in graph.items()}
    circles, done = [], set()

    def visit(name, stack):
        if name in stack:
            circles.append(" -> ".join([*stack[stack.index(name):], name]))
            return
        if name in done:
            return
        for other in sorted(edges.get(name, ())):
            visit(other, [*stack, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])
    assert circles == []


def test_no_package_imports_another_packages_private_name():
    """A leading underscore means "this package's own": another package asks for a public name."""
    crossing = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # in functions too
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                other = node.module.split(".")[0]
                private = [a.name for a in node.names if a.name.startswith("_")]
                if other in PACKAGES and other != pkg and private:
                    crossing.append(f"{path.relative_to(ROOT)}: from {node.module} import {private}")
    assert crossing == []


def test_pipeline_provides_example_data_path_on_first_use():
    """reports.pipeline names example_data_path for linters (TYPE_CHECKING) but loads
    reports.context (the report's modules) only when it is asked for."""
    import subprocess
    import sys

    code = ("import sys, reports.pipeline as p; before = 'reports.context' in sys.modules; "
            "from reports.pipeline import example_data_path; "
            "print(before, 'reports.context' in sys.modules, example_data_path().name)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "survey.csv"]
