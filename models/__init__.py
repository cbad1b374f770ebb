"""alliance-learning models package: spec, PyMC graph, fitting, run directories.

Public API::

    ModelSpec, FitOptions, RunConfig, load_config, check_spec, SpecError   (no PyMC)
    DEFAULT_PRIORS, FAMILIES, make_design, ModelDesign
    build_model, fit, contributions
    save_run, load_run, Run, RunExistsError, RunError, summarize, diagnostics
"""

from __future__ import annotations

from pathlib import Path


def _check_sibling(name: str) -> None:
    """Fail loudly when a module named like our sibling package shadows it.

    Our package names (``data``, ``models``...) are short and generic; a ``data.py`` or a
    ``data/`` folder in the working directory would otherwise be imported instead.
    """
    import importlib

    module = importlib.import_module(name)
    ours = Path(__file__).resolve().parent.parent
    where = getattr(module, "__file__", None)
    found = Path(where).resolve() if where else None
    if found is None or found.parent.parent != ours or found.name != "__init__.py":
        shown = found if found is not None else list(getattr(module, "__path__", []))
        raise ImportError(
            f"'{name}' was imported from {shown}, not from alliance-learning's own package "
            f"in {ours / name}. A file or folder named '{name}' shadows it: rename it "
            "(or run from another directory)."
        )


_check_sibling("data")

# Imported eagerly (PyMC with them): a lazy import would let the submodules `fit` and
# `contributions` shadow the functions of the same names.
from .build import build_model, model_from_design  # noqa: E402
from .contributions import contributions  # noqa: E402
from .design import ModelDesign, make_design  # noqa: E402
from .families import DEFAULT_FAMILY, FAMILIES, Family, family_of, get_family  # noqa: E402
from .fit import SCHEMA_VERSION, compiled_model, fit  # noqa: E402
from .priors import DEFAULT_PRIORS, SHRINKAGE_OPTIONS  # noqa: E402
from .run import (  # noqa: E402
    HDI_PROB,
    Run,
    RunError,
    RunExistsError,
    check_run_target,
    diagnostics,
    load_run,
    raw_sd,
    save_run,
    summarize,
)
from .spec import (  # noqa: E402
    FitOptions,
    ModelSpec,
    RunConfig,
    SpecError,
    check_spec,
    load_config,
)

__all__ = [
    "DEFAULT_FAMILY",
    "DEFAULT_PRIORS",
    "FAMILIES",
    "HDI_PROB",
    "SCHEMA_VERSION",
    "SHRINKAGE_OPTIONS",
    "Family",
    "FitOptions",
    "ModelDesign",
    "ModelSpec",
    "Run",
    "RunConfig",
    "RunError",
    "RunExistsError",
    "SpecError",
    "build_model",
    "check_run_target",
    "check_spec",
    "compiled_model",
    "contributions",
    "diagnostics",
    "family_of",
    "fit",
    "get_family",
    "load_config",
    "load_run",
    "raw_sd",
    "make_design",
    "model_from_design",
    "save_run",
    "summarize",
]
