"""alliance-learning models package: spec, PyMC graph, fitting, run directories.

Public API::

    ModelSpec, FitOptions, RunConfig, load_config, check_spec, SpecError   (no PyMC)
    DEFAULT_PRIORS, FAMILIES, Family, get_family, family_of
    make_design, ModelDesign, build_model, fit, contributions
    save_run, load_run, Run, RunExistsError, RunError, summarize, diagnostics,
    with_log_likelihood, log_likelihood_chunks

Everything else (constants, the compiled-model cache, run-directory helpers) is imported
from its submodule.
"""

import runpy as _runpy
from pathlib import Path as _Path

# The shadowing guard (data/guard.py), loaded by path, not imported: a user's own `data`
# module may be what `import data` finds.
_runpy.run_path(str(_Path(__file__).parent.parent / "data" / "guard.py"))["check_packages"]("data")

# Imported eagerly (PyMC with them): a lazy import would let the submodules `fit` and
# `contributions` shadow the functions of the same names.
from .build import build_model  # noqa: E402
from .contributions import contributions  # noqa: E402
from .design import ModelDesign, make_design  # noqa: E402
from .families import FAMILIES, Family, family_of, get_family  # noqa: E402
from .fit import fit, log_likelihood_chunks, with_log_likelihood  # noqa: E402
from .priors import DEFAULT_PRIORS  # noqa: E402
from .run import (  # noqa: E402
    Run,
    RunError,
    RunExistsError,
    diagnostics,
    load_run,
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
    "DEFAULT_PRIORS",
    "FAMILIES",
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
    "check_spec",
    "contributions",
    "diagnostics",
    "family_of",
    "fit",
    "get_family",
    "load_config",
    "load_run",
    "make_design",
    "save_run",
    "summarize",
    "log_likelihood_chunks",
    "with_log_likelihood",
]
