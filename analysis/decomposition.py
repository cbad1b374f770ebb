"""Variance decomposition of the linear predictor by level and by side (DESIGN.md §4.1).

Each level's conditions contribute ``c_L = X_L b_L`` to the fixed part of the linear
predictor, ``eta_fixed = sum_L c_L``. Conditions at different levels are correlated in real
surveys, so ``Var(eta_fixed)`` is not the sum of the ``Var(c_L)``. The default share of a
level is Pratt's product measure

    share_L = Cov(c_L, eta_fixed) / Var(eta_fixed),

which sums to one over the levels (because ``sum_L Cov(c_L, eta_fixed) = Var(eta_fixed)``)
and splits shared variance in proportion to each level's part of it. It can be slightly
negative (a suppressor); negative shares are returned as they are, never clipped. The
variance of each ``c_L`` alone is returned beside it.

A second decomposition divides by the total latent variance,

    Var(eta_fixed) + sum_g group variance_g + residual variance,

and adds each side's unexplained group variance to that side: by default network variance
to the interpersonal side, organisation and alliance variance to the interorganisational
side (``data.codebook.DEFAULT_SIDE``). The residual is pi^2/3 for logit links (the variance
of the standard logistic latent error: cumulative logit, Bernoulli and binomial logit) and
sigma^2 for the gaussian family.

All variances are over individuals, per posterior draw, with ``ddof=1`` (as R's ``var``
used by r2mlm, and ``arviz_stats.bayesian_r2``). Shares are ratios, so the choice of ddof
cancels in the first decomposition; in the second it matters at O(1/n).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import arviz_base
import numpy as np
import xarray as xr

from data.codebook import DEFAULT_SIDE, LEVELS, SIDES
from data.constants import SAMPLE_DIMS
from data.intervals import credible_interval, interval_name

logger = logging.getLogger(__name__)

UNIT_DIM = "individual"



def residual_variance(family: str, sigma=None):
    """Residual variance of the latent outcome for ``family``.

    Parameters
    ----------
    family : {"ordinal", "bernoulli", "binomial", "gaussian"}
        Outcome family; ``ordinal`` is the cumulative logit.
    sigma : float or xarray.DataArray, optional
        Residual standard deviation, required for (and only used by) ``gaussian``;
        a DataArray with dims (chain, draw) gives one value per draw.

    Returns
    -------
    float or xarray.DataArray
        pi^2/3 for the logit families, ``sigma**2`` for gaussian.
    """
    from models.families import get_family  # (importing analysis loads no PyMC)

    fixed = get_family(family).latent_residual_variance  # an unknown family is named
    if fixed is not None:
        return fixed
    if sigma is None:
        raise ValueError("the gaussian family needs the residual sd `sigma`")
    if np.any(np.asarray(sigma) < 0):
        raise ValueError("sigma must be non-negative")
    return sigma**2


def _own_residual(family: str) -> bool:
    """Whether the family's residual variance is its own parameter squared (gaussian sigma^2)."""
    from models.families import get_family

    return get_family(family).latent_residual_variance is None


def _check_draws(da: xr.DataArray, name: str, needed: tuple[str, ...]) -> None:
    missing = [d for d in needed if d not in da.dims]
    if missing:
        raise ValueError(f"{name} lacks dim(s) {missing}; it has {list(da.dims)}")
    n_missing = int(da.isnull().sum())
    if n_missing:
        raise ValueError(f"{name} holds {n_missing} missing value(s); impute them in the model")


def _ordered(names, reference) -> list[str]:
    """Names in the order of ``reference``, then the others in order of appearance."""
    names = list(dict.fromkeys(names))
    return [n for n in reference if n in names] + [n for n in names if n not in reference]


def _aggregate(contributions: xr.DataArray, term_dim: str, groups: dict[str, list], dim: str):
    """Sum the terms of each group along ``term_dim``; an empty group sums to zero."""
    parts = [contributions.sel({term_dim: terms}).sum(term_dim) for terms in groups.values()]
    return xr.concat(parts, dim=dim).assign_coords({dim: list(groups)})


def _group_variances(group_var) -> xr.DataArray | None:
    if group_var is None:
        return None
    if isinstance(group_var, xr.DataArray):
        if "group" in group_var.dims:
            return group_var
        if "level" in group_var.dims:
            return group_var.rename(level="group")
        raise ValueError(f"group_var needs a 'group' or 'level' dim; it has {list(group_var.dims)}")
    if not isinstance(group_var, Mapping):
        raise TypeError("group_var must be a DataArray with a 'group' dim or a mapping")
    names = list(group_var)
    values = [xr.DataArray(v) if not isinstance(v, xr.DataArray) else v for v in group_var.values()]
    return xr.concat(values, dim="group", coords="minimal").assign_coords(group=names)


def variance_decomposition(
    contributions: xr.DataArray,
    *,
    sides: Mapping[str, str],
    levels: Mapping[str, str] | None = None,
    group_var=None,
    group_sides: Mapping[str, str] | None = None,
    family: str = "ordinal",
    sigma=None,
) -> xr.Dataset:
    """Decompose the variance of the linear predictor by level and side, per draw.

    Parameters
    ----------
    contributions : xarray.DataArray
        Each term's fixed-part contribution to the linear predictor, with dims
        (chain, draw, individual, T). ``T`` is either ``level`` (one summed contribution
        ``c_L = X_L b_L`` per level) or any term dim such as ``condition``
        (``x_k b_k`` per condition), which is then summed within levels and sides.
    sides : mapping
        Side (``interpersonal`` / ``interorganisational``) of every coordinate of ``T``;
        take it from the codebook (:func:`sides_and_levels`).
    levels : mapping, optional
        Level of every coordinate of ``T``; required unless ``T`` is ``level``.
    group_var : xarray.DataArray or mapping, optional
        Variances (SD^2, not SD) of the group effects, per draw: a DataArray with dims
        (chain, draw, group) (a ``level`` dim is read as ``group``) or a mapping
        group -> DataArray (chain, draw) or float. None: no group effects.
    group_sides : mapping, optional
        Side of each group variance. Default ``data.codebook.DEFAULT_SIDE``: network to
        interpersonal, organisation and alliance to interorganisational.
    family : {"ordinal", "bernoulli", "binomial", "gaussian"}
        Sets the residual variance (:func:`residual_variance`).
    sigma : float or xarray.DataArray, optional
        Residual SD of the gaussian family, per draw.

    Returns
    -------
    xarray.Dataset
        Per draw (dims chain, draw and):

        - ``fixed_variance``: Var(eta_fixed);
        - ``variance_alone`` (level), ``side_variance_alone`` (side): Var(c_L), Var(c_side);
        - ``share`` (level), ``side_share`` (side): Pratt product measure
          Cov(c, eta_fixed) / Var(eta_fixed); sums to one over levels and over sides;
        - ``group_variance`` (group), ``residual_variance``, ``total_variance``;
        - ``share_of_total`` (level): Cov(c_L, eta_fixed) / total;
          ``group_share_of_total`` (group); ``residual_share_of_total``;
          ``side_share_of_total`` (side): fixed part plus the side's group variances, over
          total. These, with the residual share, sum to one.

        A side with no terms has share zero; both sides are always present.

    Notes
    -----
    Only random intercepts are covered. The variance that varying slopes add depends
    on the predictors (Rights & Sterba 2019, their ``v``) and is not computed here; it can
    be passed as an extra ``group_var`` entry with its side in ``group_sides``.

    With within-group-centred individual-level predictors and a gaussian family, the
    individual-level ``share_of_total`` is r2mlm's R^2_t(f1) and the network
    ``group_share_of_total`` is R^2_t(m) (Rights & Sterba 2019); the test suite checks this.

    References
    ----------
    .. [1] Pratt, J. W. (1987). Dividing the indivisible: Using simple symmetry to
       partition variance explained. In T. Pukkila & S. Puntanen (Eds.), *Proceedings of
       the Second International Tampere Conference in Statistics* (pp. 245-260).
    .. [2] Budescu, D. V. (1993). Dominance analysis: A new approach to the problem of
       relative importance of predictors in multiple regression. *Psychological
       Bulletin*, 114(3), 542-551. https://doi.org/10.1037/0033-2909.114.3.542
    .. [3] Azen, R., & Budescu, D. V. (2003). The dominance analysis approach for comparing
       predictors in multiple regression. *Psychological Methods*, 8(2), 129-148.
       https://doi.org/10.1037/1082-989X.8.2.129
    .. [4] Rights, J. D., & Sterba, S. K. (2019). Quantifying explained variance in
       multilevel models: An integrative framework for defining R-squared measures.
       *Psychological Methods*, 24(3), 309-338. https://doi.org/10.1037/met0000184
    """
    _check_draws(contributions, "contributions", (*SAMPLE_DIMS, UNIT_DIM))
    other = [d for d in contributions.dims if d not in (*SAMPLE_DIMS, UNIT_DIM)]
    if len(other) != 1:
        raise ValueError(
            "contributions must have exactly one term dim (e.g. 'level' or 'condition') "
            f"besides chain, draw, individual; it has {list(contributions.dims)}"
        )
    term_dim = other[0]
    terms = [str(t) for t in contributions[term_dim].values]
    contributions = contributions.assign_coords({term_dim: terms})
    if term_dim == "level":
        levels = {t: t for t in terms}
    levels, groups, group_sides = _checked_terms(terms, term_dim, sides, levels, group_var, group_sides)

    terms_by_level, terms_by_side = _terms_by(terms, sides, levels)
    by_level = _aggregate(contributions, term_dim, terms_by_level, "level")
    by_side = _aggregate(contributions, term_dim, terms_by_side, "side")
    eta_fixed = contributions.sum(term_dim)
    moments = {
        "fixed_variance": eta_fixed.var(UNIT_DIM, ddof=1),
        "level_cov": xr.cov(by_level, eta_fixed, dim=UNIT_DIM, ddof=1),
        "variance_alone": by_level.var(UNIT_DIM, ddof=1),
        "side_cov": xr.cov(by_side, eta_fixed, dim=UNIT_DIM, ddof=1),
        "side_variance_alone": by_side.var(UNIT_DIM, ddof=1),
    }
    return _assemble(moments, groups, group_sides, family, sigma)


def decomposition_from_covariance(
    effects: xr.DataArray,
    covariance: xr.DataArray,
    *,
    sides: Mapping[str, str],
    levels: Mapping[str, str],
    group_var=None,
    group_sides: Mapping[str, str] | None = None,
    family: str = "ordinal",
    sigma=None,
) -> xr.Dataset:
    """:func:`variance_decomposition` from the conditions' covariance, without individuals.

    The contributions are ``c_k = x_k b_k`` with the same ``x`` at every draw (no imputed
    codes), so every variance and covariance over individuals is a quadratic form in the
    effects: ``Cov(sum_{k in A} c_k, sum_{l in B} c_l) = b_A' S_AB b_B`` with ``S`` the
    covariance of the conditions over individuals (ddof=1). The result is the same Dataset
    (up to rounding), at draws x conditions^2 cost instead of draws x individuals x terms:
    what a survey of a million respondents needs.

    Parameters
    ----------
    effects : xarray.DataArray
        ``b`` per draw, dims (chain, draw, condition), on the scale of the covariance.
    covariance : xarray.DataArray
        dims (condition, condition_other): :func:`models.contributions.condition_covariance`.
    sides, levels, group_var, group_sides, family, sigma
        As :func:`variance_decomposition` (``levels`` maps each condition to its level).
    """
    _check_draws(effects, "effects", (*SAMPLE_DIMS, "condition"))
    terms = [str(t) for t in effects["condition"].values]
    effects = effects.assign_coords(condition=terms)
    covariance = covariance.assign_coords(condition=[str(c) for c in covariance["condition"].values],
                                          condition_other=[str(c) for c in covariance["condition_other"].values])
    levels, groups, group_sides = _checked_terms(terms, "condition", sides, levels, group_var, group_sides)
    terms_by_level, terms_by_side = _terms_by(terms, sides, levels)
    covariance = covariance.sel(condition=terms, condition_other=terms)
    other = effects.rename(condition="condition_other")

    def with_eta(group: xr.DataArray) -> xr.DataArray:  # Cov(c_group, eta_fixed) per draw
        return xr.dot(group, covariance, other, dim=["condition", "condition_other"])

    def alone(group: xr.DataArray) -> xr.DataArray:  # Var(c_group) per draw
        return xr.dot(group, covariance, group.rename(condition="condition_other"),
                      dim=["condition", "condition_other"])

    def masked(groups_of_terms: dict[str, list]) -> list[xr.DataArray]:  # b with other terms at 0
        return [effects.where(effects["condition"].isin(chosen), 0.0) for chosen in groups_of_terms.values()]

    def stacked(values: list[xr.DataArray], groups_of_terms: dict[str, list], dim: str) -> xr.DataArray:
        return xr.concat(values, dim=dim).assign_coords({dim: list(groups_of_terms)})

    by_level = masked(terms_by_level)
    by_side = masked(terms_by_side)
    moments = {
        "fixed_variance": alone(effects),
        "level_cov": stacked([with_eta(g) for g in by_level], terms_by_level, "level"),
        "variance_alone": stacked([alone(g) for g in by_level], terms_by_level, "level"),
        "side_cov": stacked([with_eta(g) for g in by_side], terms_by_side, "side"),
        "side_variance_alone": stacked([alone(g) for g in by_side], terms_by_side, "side"),
    }
    return _assemble(moments, groups, group_sides, family, sigma)


def _checked_terms(terms, term_dim, sides, levels, group_var, group_sides):
    """Every term's side and level and every group variance's side, or one error listing all problems."""
    problems = []
    if levels is None:
        problems.append(f"`levels` is required: map each {term_dim} to its level")
        levels = {}
    for term in terms:
        if term not in sides:
            problems.append(f"{term_dim} {term!r} has no side in `sides`")
        elif sides[term] not in SIDES:
            problems.append(f"{term_dim} {term!r}: side {sides[term]!r} is not one of {SIDES}")
        if term_dim != "level" and levels and term not in levels:
            problems.append(f"{term_dim} {term!r} has no level in `levels`")
    groups = _group_variances(group_var)
    group_sides = dict(DEFAULT_SIDE if group_sides is None else group_sides)
    if groups is not None:
        _check_draws(groups, "group_var", ("group",))
        groups = groups.assign_coords(group=[str(g) for g in groups["group"].values])
        for g in groups["group"].values.tolist():
            if g not in group_sides:
                problems.append(f"group variance {g!r} has no side in `group_sides`")
            elif group_sides[g] not in SIDES:
                problems.append(f"group {g!r}: side {group_sides[g]!r} is not one of {SIDES}")
        if bool((groups < 0).any()):
            problems.append("group_var holds negative variances (pass SD^2, not SD)")
    if problems:
        raise ValueError(f"{len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
    return levels, groups, group_sides


def _terms_by(terms, sides, levels) -> tuple[dict[str, list], dict[str, list]]:
    """The terms of each level (in the order of LEVELS) and of each side."""
    level_names = _ordered((levels[t] for t in terms), LEVELS)
    return ({L: [t for t in terms if levels[t] == L] for L in level_names},
            {s: [t for t in terms if sides[t] == s] for s in SIDES})


def _assemble(moments: dict, groups, group_sides, family: str, sigma) -> xr.Dataset:
    """The decomposition's Dataset from the per-draw variances and covariances of the fixed part."""
    fixed_variance = moments["fixed_variance"]
    level_cov, side_cov = moments["level_cov"], moments["side_cov"]
    residual = xr.DataArray(residual_variance(family, sigma))
    total = fixed_variance + residual
    side_group = xr.zeros_like(side_cov)
    if groups is not None:
        total = total + groups.sum("group")
        group_side = xr.DataArray(
            [group_sides[g] for g in groups["group"].values.tolist()],
            dims="group",
            coords={"group": groups["group"].values},
        )
        side_group = xr.concat(
            [groups.where(group_side == s, 0).sum("group") for s in SIDES], dim="side"
        ).assign_coords(side=list(SIDES))

    out = xr.Dataset(
        {
            "fixed_variance": fixed_variance,
            "variance_alone": moments["variance_alone"],
            "share": level_cov / fixed_variance,
            "side_variance_alone": moments["side_variance_alone"],
            "side_share": side_cov / fixed_variance,
            "residual_variance": residual.broadcast_like(fixed_variance),
            "total_variance": total,
            "share_of_total": level_cov / total,
            "residual_share_of_total": residual / total,
            "side_share_of_total": (side_cov + side_group) / total,
        }
    )
    if groups is not None:
        out["group_variance"] = groups.broadcast_like(fixed_variance)
        out["group_share_of_total"] = groups / total
    out = out.transpose(*SAMPLE_DIMS, ...)
    out.attrs = {
        "family": family,
        "share": "Pratt product measure Cov(c, eta_fixed) / Var(eta_fixed)",
        "residual": "sigma^2" if _own_residual(family) else "pi^2/3",
        "variance": "over individuals, ddof=1",
    }
    n_negative = int((out["share"].mean(SAMPLE_DIMS) < 0).sum())
    if n_negative:
        logger.info("%d level(s) have a negative posterior mean share (suppression)", n_negative)
    return out


def bayesian_r2_latent(eta: xr.DataArray, *, family: str = "ordinal", sigma=None) -> xr.DataArray:
    """Bayesian R^2 on the latent scale, per draw.

    ``Var(eta) / (Var(eta) + residual)`` with residual pi^2/3 for the logit families
    (McKelvey & Zavoina 1975; R^2 on the response scale is not valid for ordinal outcomes)
    and sigma^2 for the gaussian family (Gelman et al. 2019). Pass the fixed part of eta
    for a marginal R^2, the full eta (with group effects) for a conditional one.

    Parameters
    ----------
    eta : xarray.DataArray
        Linear predictor with dims (chain, draw, individual).
    family : {"ordinal", "bernoulli", "binomial", "gaussian"}
        Outcome family.
    sigma : float or xarray.DataArray, optional
        Residual SD, gaussian only.

    Returns
    -------
    xarray.DataArray
        R^2 with dims (chain, draw).

    References
    ----------
    .. [1] McKelvey, R. D., & Zavoina, W. (1975). A statistical model for the analysis of
       ordinal level dependent variables. *Journal of Mathematical Sociology*, 4(1),
       103-120. https://doi.org/10.1080/0022250X.1975.9989847
    .. [2] Gelman, A., Goodrich, B., Gabry, J., & Vehtari, A. (2019). R-squared for
       Bayesian regression models. *The American Statistician*, 73(3), 307-309.
       https://doi.org/10.1080/00031305.2018.1549100
    """
    _check_draws(eta, "eta", (*SAMPLE_DIMS, UNIT_DIM))
    variance = eta.var(UNIT_DIM, ddof=1)
    r2 = variance / (variance + residual_variance(family, sigma))
    r2.name = "r2_latent"
    r2.attrs = {"family": family, "scale": "latent"}
    return r2


def sides_and_levels(codebook, conditions=None) -> tuple[dict[str, str], dict[str, str]]:
    """Side and level of each condition, as declared in a codebook.

    Parameters
    ----------
    codebook : data.codebook.Codebook
        The codebook (its ``conditions`` map names to variables with ``side``, ``level``).
    conditions : iterable of str, optional
        The conditions in the model; default all of the codebook's.

    Returns
    -------
    sides, levels : dict
        condition -> side and condition -> level, for :func:`variance_decomposition`.
    """
    names = list(codebook.conditions) if conditions is None else list(conditions)
    unknown = [n for n in names if n not in codebook.conditions]
    if unknown:
        raise ValueError(f"condition(s) not in the codebook: {', '.join(unknown)}")
    sides = {n: codebook.conditions[n].side for n in names}
    levels = {n: codebook.conditions[n].level for n in names}
    return sides, levels


def posterior_summary(posterior, *, prob: float | None = None):
    """Posterior mean, SD and equal-tailed interval of every variable.

    Parameters
    ----------
    posterior : xarray.Dataset or xarray.DataArray
        Draws with dims (chain, draw, ...).
    prob : float, optional
        Interval probability; default ArviZ's ``rcParams["stats.ci_prob"]`` (0.89).

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        The input's non-sample dims plus ``stat`` = (mean, sd, lower, upper). The interval is
        the one interval of :mod:`data.intervals` (by default the equal-tailed interval),
        named in ``attrs``.
    """
    prob = arviz_base.rcParams["stats.ci_prob"] if prob is None else prob
    # Sample dims last and in C order: the sums then run in one order whatever the memory
    # layout, so draws read back from disk summarise to the very same numbers.
    posterior = posterior.transpose(..., *SAMPLE_DIMS)
    if isinstance(posterior, xr.Dataset):
        posterior = posterior.map(_c_order, keep_attrs=True)
    else:
        posterior = _c_order(posterior)
    interval = credible_interval(posterior, dim=SAMPLE_DIMS, prob=prob)
    parts = [
        posterior.mean(SAMPLE_DIMS),
        posterior.std(SAMPLE_DIMS, ddof=1),
        interval.sel(ci_bound="lower", drop=True),
        interval.sel(ci_bound="upper", drop=True),
    ]
    out = xr.concat(parts, dim="stat", coords="minimal").assign_coords(
        stat=["mean", "sd", "lower", "upper"]
    )
    out.attrs = {
        **posterior.attrs,
        "interval": interval_name(),
        "ci_prob": prob,
    }
    return out


def _c_order(da: xr.DataArray) -> xr.DataArray:
    return da.copy(data=np.ascontiguousarray(da.values))
