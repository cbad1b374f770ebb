"""Every package guards against a user's module shadowing one it imports (data/guard.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("shadow", "statement"), [
    ("data.py", "import models"),
    ("data.py", "import analysis"),
    ("data.py", "import reports"),
    ("models.py", "import analysis"),
    ("models/__init__.py", "import analysis"),
    ("analysis.py", "import reports"),
    ("analysis.py", "from reports import build_context"),
])
def test_a_shadowing_module_is_named(tmp_path, shadow, statement):
    (tmp_path / shadow).parent.mkdir(exist_ok=True)
    (tmp_path / shadow).write_text("x = 1\n")
    result = subprocess.run([sys.executable, "-c", statement], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "AttributeError" not in result.stderr
    assert str(tmp_path / shadow) in result.stderr
    assert "rename it" in result.stderr


def test_a_users_module_that_shadows_nothing_imported_is_harmless(tmp_path):
    (tmp_path / "reports.py").write_text("x = 1\n")
    result = subprocess.run([sys.executable, "-c", "import data, models, analysis"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_public_api():
    import models

    for name in models.__all__:
        assert getattr(models, name) is not None
    assert callable(models.fit) and callable(models.contributions)
