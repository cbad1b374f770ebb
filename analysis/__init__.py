"""alliance-learning analysis package."""

from .decomposition import (
    LATENT_RESIDUAL_VARIANCE,
    bayesian_r2_latent,
    posterior_summary,
    residual_variance,
    sides_and_levels,
    variance_decomposition,
)
from .effects import RESPONSES, readable_effects
from .verdict import (
    DEFAULT_GATES,
    PER_CHAIN_ESS_GATES,
    VERDICTS,
    DominanceVerdict,
    Gate,
    GateResult,
    dominance_verdict,
    sampling_diagnostics,
)

__all__ = [
    "DEFAULT_GATES",
    "LATENT_RESIDUAL_VARIANCE",
    "PER_CHAIN_ESS_GATES",
    "RESPONSES",
    "VERDICTS",
    "DominanceVerdict",
    "Gate",
    "GateResult",
    "bayesian_r2_latent",
    "dominance_verdict",
    "posterior_summary",
    "readable_effects",
    "residual_variance",
    "sampling_diagnostics",
    "sides_and_levels",
    "variance_decomposition",
]
