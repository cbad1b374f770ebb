"""alliance-learning analysis package: what a fitted run says, and whether to trust it.

Public API (what a notebook needs; the rest lives in the submodules)::

    check_run, Checks, save_checks, load_checks, ChecksExistError      every check of a run
    variance_decomposition, sides_and_levels, bayesian_r2_latent,
    posterior_summary                                                  (analysis.decomposition)
    dominance_verdict, DominanceVerdict, sampling_diagnostics,
    Gate, DEFAULT_GATES, PER_CHAIN_ESS_GATES                           (analysis.verdict)
    readable_effects, linear_predictor                                 (analysis.effects, .checks)
    dominance_analysis, DominanceAnalysis                              (analysis.dominance)
    posterior_predictive_checks, PosteriorPredictiveChecks,
    groups_from_constant_data                                          (analysis.ppc)
    predictive_comparison, PredictiveComparison                        (analysis.loo)
    prior_sensitivity, PriorSensitivity                                (analysis.sensitivity)
    fit_submodels, SubmodelFit                                         (analysis.submodels)

Figures come from the result objects (``Checks.figures()``, ...); the plot helpers and
constants stay in their submodules.
"""

import runpy as _runpy
from pathlib import Path as _Path

# The shadowing guard (data/guard.py), loaded by path, not imported: a user's own `data`
# module may be what `import data` finds.
_runpy.run_path(str(_Path(__file__).parent.parent / "data" / "guard.py"))["check_packages"](
    "data", "models")

# Imported after the guard, on purpose (E402).
from .checks import (  # noqa: E402
    Checks,
    ChecksExistError,
    check_run,
    linear_predictor,
    load_checks,
    save_checks,
)
from .decomposition import (  # noqa: E402
    bayesian_r2_latent,
    posterior_summary,
    sides_and_levels,
    variance_decomposition,
)
from .dominance import DominanceAnalysis, dominance_analysis  # noqa: E402
from .effects import readable_effects  # noqa: E402
from .loo import PredictiveComparison, predictive_comparison  # noqa: E402
from .ppc import (  # noqa: E402
    PosteriorPredictiveChecks,
    groups_from_constant_data,
    posterior_predictive_checks,
)
from .sensitivity import PriorSensitivity, prior_sensitivity  # noqa: E402
from .submodels import SubmodelFit, fit_submodels  # noqa: E402
from .verdict import (  # noqa: E402
    DEFAULT_GATES,
    PER_CHAIN_ESS_GATES,
    DominanceVerdict,
    Gate,
    dominance_verdict,
    sampling_diagnostics,
)

__all__ = [
    "DEFAULT_GATES",
    "PER_CHAIN_ESS_GATES",
    "Checks",
    "ChecksExistError",
    "DominanceAnalysis",
    "DominanceVerdict",
    "Gate",
    "PosteriorPredictiveChecks",
    "PredictiveComparison",
    "PriorSensitivity",
    "SubmodelFit",
    "bayesian_r2_latent",
    "check_run",
    "dominance_analysis",
    "dominance_verdict",
    "fit_submodels",
    "groups_from_constant_data",
    "linear_predictor",
    "load_checks",
    "posterior_predictive_checks",
    "posterior_summary",
    "predictive_comparison",
    "prior_sensitivity",
    "readable_effects",
    "sampling_diagnostics",
    "save_checks",
    "sides_and_levels",
    "variance_decomposition",
]
