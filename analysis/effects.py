"""Effects an analyst can read (DESIGN.md §4.7).

For each condition, per posterior draw: how much the sample-average predicted outcome
changes when that condition moves up by ``step`` (one SD on the standardised scale), every
individual keeping their other observed values:

    effect_c = mean_i h(eta_i + step_c * beta_c) - mean_i h(eta_i)

with ``h`` the response on a readable scale (:data:`RESPONSES`):

- ordinal (cumulative logit, categories 1..K, cutpoints c_1 < ... < c_{K-1} with
  P(y <= j) = logistic(c_j - eta)): P(y >= k) = logistic(eta - c_{k-1});
- bernoulli / binomial: P(success) = logistic(eta);
- gaussian: the mean, eta itself (the effect is then ``step * beta``).

Averaging individual predicted probabilities (rather than the probability at the average
eta) is the "average predictive comparison" of Gelman & Pardoe (2007).

The shift ``eta + step * beta`` is exact for a condition that enters the linear predictor
once and linearly; a condition that also enters an interaction or a derived predictor
(e.g. partner transparency) needs the model to recompute eta on the shifted design.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr
from scipy.special import expit

from .decomposition import SAMPLE_DIMS, UNIT_DIM

logger = logging.getLogger(__name__)

# What the effect is a change in, per family.
RESPONSES: dict[str, str] = {
    "ordinal": "P(y >= {top})",
    "bernoulli": "P(y = 1)",
    "binomial": "P(success)",
    "gaussian": "mean of y",
}


def readable_effects(
    beta: xr.DataArray,
    eta: xr.DataArray,
    *,
    family: str = "ordinal",
    cutpoints: xr.DataArray | None = None,
    top: int | None = None,
    step=1.0,
) -> xr.DataArray:
    """Change in the sample-average predicted outcome for +``step`` in each condition.

    Parameters
    ----------
    beta : xarray.DataArray
        Effects on the linear predictor, dims (chain, draw, condition), on the scale of
        ``step`` (standardised predictors: ``step=1`` is +1 SD).
    eta : xarray.DataArray
        Linear predictor at the observed data, dims (chain, draw, individual). Include the
        group effects to average over the observed groups.
    family : {"ordinal", "bernoulli", "binomial", "gaussian"}
        Outcome family.
    cutpoints : xarray.DataArray, optional
        Ordinal only: dims (chain, draw, C), the K-1 increasing cutpoints in order.
    top : int, optional
        Ordinal only: the effect is on P(y >= top), categories numbered 1..K. Default
        K - 1 (the top two categories; 4 on a 1..5 scale).
    step : float or xarray.DataArray, default 1.0
        Size of the move, per condition if a DataArray with dim ``condition`` (e.g. a raw
        SD when ``beta`` is per raw unit).

    Returns
    -------
    xarray.DataArray
        Named ``effect``, dims (chain, draw, condition); ``attrs`` say what it is a change
        in. Summarise with :func:`analysis.decomposition.posterior_summary`.

    References
    ----------
    .. [1] Gelman, A., & Pardoe, I. (2007). Average predictive comparisons for models with
       nonlinearity, interactions, and variance components. *Sociological Methodology*,
       37(1), 23-51. https://doi.org/10.1111/j.1467-9531.2007.00181.x
    .. [2] McCullagh, P. (1980). Regression models for ordinal data. *Journal of the Royal
       Statistical Society: Series B*, 42(2), 109-142.
       https://doi.org/10.1111/j.2517-6161.1980.tb01109.x
    """
    if family not in RESPONSES:
        raise ValueError(f"unknown family {family!r}; use one of {', '.join(RESPONSES)}")
    problems = []
    for name, da, dims in (("beta", beta, ("condition",)), ("eta", eta, (UNIT_DIM,))):
        missing = [d for d in (*SAMPLE_DIMS, *dims) if d not in da.dims]
        if missing:
            problems.append(f"{name} lacks dim(s) {missing}; it has {list(da.dims)}")
        elif int(da.isnull().sum()):
            problems.append(f"{name} holds {int(da.isnull().sum())} missing value(s)")
    if problems:
        raise ValueError("; ".join(problems))

    if family == "ordinal":
        if cutpoints is None:
            raise ValueError("the ordinal family needs `cutpoints`")
        cut_dims = [d for d in cutpoints.dims if d not in SAMPLE_DIMS]
        if len(cut_dims) != 1:
            raise ValueError(f"cutpoints needs one dim besides chain, draw; has {cutpoints.dims}")
        n_categories = cutpoints.sizes[cut_dims[0]] + 1
        top = n_categories - 1 if top is None else top
        if not 2 <= top <= n_categories:
            raise ValueError(f"top must be in 2..{n_categories} for {n_categories} categories")
        # P(y >= top) = 1 - P(y <= top - 1) = logistic(eta - c_{top-1}); c_1 is position 0.
        threshold = cutpoints.isel({cut_dims[0]: top - 2}, drop=True)

        def response(x):
            return expit(x - threshold)

        quantity = RESPONSES["ordinal"].format(top=top)
    elif family == "gaussian":

        def response(x):
            return x

        quantity = RESPONSES["gaussian"]
    else:
        response = expit
        quantity = RESPONSES[family]

    baseline = response(eta).mean(UNIT_DIM)
    shift = beta * step
    # One condition at a time: (chain, draw, individual, condition) at once can be GBs.
    changes = [
        response(eta + shift.sel(condition=c)).mean(UNIT_DIM) - baseline
        for c in beta["condition"].values
    ]
    effect = xr.concat(changes, dim="condition", coords="minimal")
    effect = effect.assign_coords(condition=beta["condition"].values).transpose(*SAMPLE_DIMS, ...)
    effect.name = "effect"
    effect.attrs = {
        "family": family,
        "quantity": f"change in {quantity} (sample average) for +step in the condition",
        "step": float(step) if np.ndim(step) == 0 else "per condition",
    }
    return effect
