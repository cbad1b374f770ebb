"""Effects an analyst can read (DESIGN.md §4.7).

For each condition, per posterior draw: how much the sample-average predicted outcome
changes when that condition moves up by ``step`` (one SD on the standardised scale), every
individual keeping their other observed values:

    effect_c = mean_i h(eta_i + step_c * beta_c) - mean_i h(eta_i)

with ``h`` the family's response on a readable scale (its ``Family.effect``, computed by
the inverse of its ``Family.link``, :data:`INVERSE_LINKS`):

- ordinal (cumulative logit, categories 1..K, cutpoints c_1 < ... < c_{K-1} with
  P(y <= j) = logistic(c_j - eta)): P(y >= k) = logistic(eta - c_{k-1});
- bernoulli / binomial (logit): P(y = 1), P(success) = logistic(eta);
- gaussian (identity): the mean of y in SDs of y, eta / SD(y). The change in the mean in
  y's own units is the effect on the linear predictor itself (``summary.json``'s
  ``per_sd``); this table gives it as a standardised mean difference instead of copying it.

A **binary condition** (codes 0 and 1 only, as on the codebook's ``binary`` scale) is not
moved by one SD but contrasted from 0 to 1 for everyone (``contrast``):

    effect_c = mean_i h(eta_i - beta_c x_ic + beta_c x1) - mean_i h(eta_i - beta_c x_ic + beta_c x0)

with ``x0``, ``x1`` the codes 0 and 1 on the model's scale; :func:`binary_contrasts` finds
them in a fit. For the identity link this is ``beta_c (x1 - x0)``, the effect per raw unit.

Averaging individual predicted probabilities (rather than the probability at the average
eta) is the "average predictive comparison" of Gelman & Pardoe (2007).

The shift ``eta + step * beta`` is exact for a condition that enters the linear predictor
once and linearly; a condition that also enters an interaction or a derived predictor
(e.g. partner transparency) needs the model to recompute eta on the shifted design.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from scipy.special import expit

from .decomposition import SAMPLE_DIMS, UNIT_DIM

if TYPE_CHECKING:  # models (and PyMC with it) is imported when effects are computed
    from models.families import Family

logger = logging.getLogger(__name__)


def _cumulative_logit(cutpoints, top, outcome_sd):
    """P(y >= top) = 1 - P(y <= top - 1) = logistic(eta - c_{top-1}) (c_1 is position 0)."""
    if cutpoints is None:
        raise ValueError("the cumulative logit (ordinal family) needs `cutpoints`")
    cut_dims = [d for d in cutpoints.dims if d not in SAMPLE_DIMS]
    if len(cut_dims) != 1:
        raise ValueError(f"cutpoints needs one dim besides chain, draw; has {cutpoints.dims}")
    n_categories = cutpoints.sizes[cut_dims[0]] + 1
    top = n_categories - 1 if top is None else top
    if not 2 <= top <= n_categories:
        raise ValueError(f"top must be in 2..{n_categories} for {n_categories} categories")
    threshold = cutpoints.isel({cut_dims[0]: top - 2}, drop=True)
    return (lambda x: expit(x - threshold)), {"top": top}


def _logit(cutpoints, top, outcome_sd):
    return expit, {}


def _identity(cutpoints, top, outcome_sd):
    if outcome_sd is None:  # in y's own units
        return (lambda x: x), {}
    if not np.isfinite(outcome_sd) or outcome_sd <= 0:
        raise ValueError(f"outcome_sd must be a positive number, got {outcome_sd}")
    return (lambda x: x / outcome_sd), {"in SDs of y": True}


#: The readable response ``h`` of each link: ``make(cutpoints, top, outcome_sd)`` returns
#: ``(h, details)``. A family with a new link adds its inverse here.
INVERSE_LINKS = {"cumulative logit": _cumulative_logit, "logit": _logit, "identity": _identity}


def readable_effects(
    beta: xr.DataArray,
    eta: xr.DataArray,
    *,
    family: str | Family = "ordinal",
    cutpoints: xr.DataArray | None = None,
    top: int | None = None,
    step=1.0,
    outcome_sd: float | None = None,
    contrast: Mapping[str, tuple[xr.DataArray, float, float]] | None = None,
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
    family : str or models.Family
        Outcome family (its ``link`` gives the response, its ``effect`` the quantity).
    cutpoints : xarray.DataArray, optional
        Cumulative logit only: dims (chain, draw, C), the K-1 increasing cutpoints in order.
    top : int, optional
        Cumulative logit only: the effect is on P(y >= top), categories numbered 1..K.
        Default K - 1 (the top two categories; 4 on a 1..5 scale).
    step : float or xarray.DataArray, default 1.0
        Size of the move, per condition if a DataArray with dim ``condition`` (e.g. a raw
        SD when ``beta`` is per raw unit).
    outcome_sd : float, optional
        Identity link only: the outcome's SD; the effect is then on the mean of y in SDs of
        y (without it, in y's units, which is ``step * beta``).
    contrast : mapping, optional
        Binary conditions contrasted from one code to another instead of moved by
        ``step``: condition -> ``(part, x0, x1)`` with ``part`` its contribution
        ``beta_c x_ic`` to ``eta`` (dims chain, draw, individual) and ``x0``, ``x1`` the
        two codes on the model's scale (:func:`binary_contrasts`).

    Returns
    -------
    xarray.DataArray
        Named ``effect``, dims (chain, draw, condition); ``attrs`` say what it is a change
        in and which conditions were contrasted 0 -> 1. Summarise with
        :func:`analysis.decomposition.posterior_summary`.

    References
    ----------
    .. [1] Gelman, A., & Pardoe, I. (2007). Average predictive comparisons for models with
       nonlinearity, interactions, and variance components. *Sociological Methodology*,
       37(1), 23-51. https://doi.org/10.1111/j.1467-9531.2007.00181.x
    .. [2] McCullagh, P. (1980). Regression models for ordinal data. *Journal of the Royal
       Statistical Society: Series B*, 42(2), 109-142.
       https://doi.org/10.1111/j.2517-6161.1980.tb01109.x
    """
    from models.families import Family, get_family

    family = family if isinstance(family, Family) else get_family(family)
    if family.link not in INVERSE_LINKS:
        raise ValueError(f"no readable response for the {family.link!r} link of family {family.name!r}")
    contrast = dict(contrast or {})
    problems = []
    for name, da, dims in (("beta", beta, ("condition",)), ("eta", eta, (UNIT_DIM,))):
        missing = [d for d in (*SAMPLE_DIMS, *dims) if d not in da.dims]
        if missing:
            problems.append(f"{name} lacks dim(s) {missing}; it has {list(da.dims)}")
        elif int(da.isnull().sum()):
            problems.append(f"{name} holds {int(da.isnull().sum())} missing value(s)")
    unknown = [c for c in contrast if c not in beta["condition"].values] if "condition" in beta.dims else []
    if unknown:
        problems.append(f"contrast names condition(s) {unknown} that beta does not have")
    if problems:
        raise ValueError("; ".join(problems))

    response, details = INVERSE_LINKS[family.link](cutpoints, top, outcome_sd)
    quantity = family.effect.format(**details)
    if details.get("in SDs of y"):
        quantity += " in SDs of y"

    baseline = response(eta).mean(UNIT_DIM)
    shift = beta * step
    # One condition at a time: (chain, draw, individual, condition) at once can be GBs.
    changes = []
    for c in beta["condition"].values:
        if str(c) in contrast:
            part, low, high = contrast[str(c)]
            b = beta.sel(condition=c)
            rest = eta - part
            changes.append(response(rest + b * high).mean(UNIT_DIM) - response(rest + b * low).mean(UNIT_DIM))
        else:
            changes.append(response(eta + shift.sel(condition=c)).mean(UNIT_DIM) - baseline)
    effect = xr.concat(changes, dim="condition", coords="minimal")
    effect = effect.assign_coords(condition=beta["condition"].values).transpose(*SAMPLE_DIMS, ...)
    effect.name = "effect"
    move = "+step in the condition"
    if contrast:
        move += f", 0 -> 1 for the binary condition(s) {', '.join(contrast)}"
    effect.attrs = {
        "family": family.name,
        "quantity": f"change in {quantity} (sample average) for {move}",
        "step": float(step) if np.ndim(step) == 0 else "per condition",
        "contrast": list(contrast),
    }
    return effect


def binary_codes(tree: xr.DataTree) -> dict[str, tuple[float, float]]:
    """The binary conditions of a fit and their codes 0 and 1 on the model's scale.

    A condition is binary when its observed codes are 0 and 1 and nothing else (the
    codebook's ``binary`` scale); its codes are read back from the fit's ``constant_data``
    (model scale times ``condition_scale`` plus ``condition_center``).
    """
    posterior = tree["posterior"]
    constant = tree["constant_data"]
    if "b" not in posterior or not posterior.sizes.get("condition", 0):
        return {}
    binary = {}
    for name in (str(c) for c in posterior["condition"].values):
        level = str(constant["condition_level"].sel(condition=name).values)
        center = float(constant["condition_center"].sel(condition=name))
        scale = float(constant["condition_scale"].sel(condition=name))
        z = constant[f"X_{level}"].sel({f"{level}_condition": name}).values
        codes = np.unique(np.round(z[np.isfinite(z)] * scale + center, 9))
        if codes.size == 2 and set(codes.tolist()) == {0.0, 1.0}:
            binary[name] = ((0.0 - center) / scale, (1.0 - center) / scale)
    return binary


def binary_contrasts(tree: xr.DataTree) -> dict[str, tuple[xr.DataArray, float, float]]:
    """The binary conditions of a fit (:func:`binary_codes`), as :func:`readable_effects` contrasts them 0 -> 1.

    Returns
    -------
    dict
        Condition -> ``(part, x0, x1)``: its contribution to eta per draw and individual
        (imputed codes included) and the codes 0 and 1 on the model's scale.
    """
    from models import contributions

    binary = binary_codes(tree)
    if not binary:
        return {}
    parts = contributions(tree, by="condition").sel(condition=list(binary))
    parts = parts.drop_vars([c for c in parts.coords if c not in (*SAMPLE_DIMS, UNIT_DIM, "condition")])
    return {name: (parts.sel(condition=name, drop=True), low, high)
            for name, (low, high) in binary.items()}
