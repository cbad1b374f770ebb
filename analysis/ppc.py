"""Posterior predictive checks of a fit's outcome (DESIGN.md §4.5).

Three checks, each comparing the observed outcome ``y`` with replicated data ``y_rep``
drawn from the posterior predictive distribution (Gelman, Meng & Stern 1996). The first
depends on the kind of check the outcome's family takes (``models.Family.ppc``):

1. ``categories`` (ordinal, bernoulli, binomial): **category proportions**, overall and per
   group (alliance, network): the observed share of each category beside the mean and
   equal-tailed interval of the replicated shares, with a posterior predictive p-value per
   cell. ``density`` (gaussian): **distribution statistics** overall (mean, SD and
   quantiles) and the **mean and variance of each group**, observed against replicated,
   with the same p-values; the figures overlay the observed density and ECDF on the
   replicated ones. ``proportion`` (binomial): the same statistics of the success
   proportion ``y / trials`` (counts out of different numbers of trials are not comparable
   categories).
2. **A group-level test statistic**: by default the between-group variance of the mean
   outcome, ``T(y) = Var_g(mean_{i in g} y_i)`` (ddof=1 over the groups). A model that
   leaves out network-level variation replicates too small a ``T``.
3. **LOO-PIT** (``arviz_stats.loo_pit``): the leave-one-out predictive CDF at each
   observation, uniform for a calibrated model, with ArviZ's uniformity test (randomised
   for a discrete outcome, Pareto-smoothed for a continuous one). Computed one chunk of
   respondents at a time (:class:`LooPitByChunks`). A run's continuous outcome takes the
   PSIS-weighted mean of its conditional CDF given each kept draw instead of the weighted
   share of predictive draws below it (:func:`_conditional_cdf_pit`): the share of S draws
   sits on a lattice of S + 1 values, which the test detects once the respondents number
   more than about (S / 10)^2, so at large N a calibrated model would fail it.

P-values. Proportions of small groups take few values, so ``T(y_rep) = T(y)`` is common; the
p-values are mid-p values, ``P(T(y_rep) > T(y)) + 0.5 P(T(y_rep) = T(y))``, which are 0.5 for a
statistic the model reproduces and near 0 (model predicts too little) or 1 (too much) for
one it misses. Posterior predictive p-values are not uniform under a correct model (they
concentrate near 0.5), so a cell outside ``[p_extreme, 1 - p_extreme]`` is a clear misfit;
with hundreds of cells a few such cells can still occur by chance.

LOO-PIT for discrete outcomes. ``arviz_stats.loo_pit`` (``pareto_pit=False``) returns
``P_loo(y_rep < y_i) + U * P_loo(y_rep = y_i)`` with ``U ~ Uniform(0, 1)``: the randomised
PIT, which is uniform under a calibrated model for discrete data too (Czado, Gneiting &
Held 2009). ArviZ draws ``U`` with a hidden fixed seed (214) unless given one; we always
pass the caller's ``seed``. Its Pareto-smoothed variant (``pareto_pit=True``, used by
``arviz_plots.plot_loo_pit`` by default) fits a generalised Pareto tail to the draws, which
suits continuous outcomes only, so it is used only when the outcome is not integer-valued.

Missing observed outcomes are left out of every check (observed and replicated alike) and
counted in the results' ``n_missing``.

Figures are ``matplotlib.figure.Figure`` objects. Ours are built without pyplot; the ones
from arviz_plots (drawn through ``pyplot.subplots``) are closed in pyplot before being
returned, so nothing accumulates in pyplot's global state. Save with ``fig.savefig(path)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import arviz_base
import numpy as np
import pandas as pd
import xarray as xr

from data.intervals import credible_interval, interval_name

from .decomposition import SAMPLE_DIMS, UNIT_DIM

if TYPE_CHECKING:  # matplotlib is imported only when a figure is drawn
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

CATEGORY_DIM = "category"
PPC_GROUPS = ("alliance", "network")  # the group levels the checks summarise by default
STATISTIC_DIM = "statistic"
# The check kinds (models.Family.ppc) written here; a family of another kind is skipped.
CHECK_KINDS = ("categories", "density", "proportion")
# Statistics of a continuous outcome's distribution (density checks), overall ...
DISTRIBUTION_STATISTICS = {
    "mean": lambda y, dim: y.mean(dim),
    "sd": lambda y, dim: y.std(dim, ddof=1),
    "q05": lambda y, dim: y.quantile(0.05, dim).drop_vars("quantile"),
    "q25": lambda y, dim: y.quantile(0.25, dim).drop_vars("quantile"),
    "median": lambda y, dim: y.median(dim),
    "q75": lambda y, dim: y.quantile(0.75, dim).drop_vars("quantile"),
    "q95": lambda y, dim: y.quantile(0.95, dim).drop_vars("quantile"),
}
# ... and per group (a group of one has no variance: NaN, left out of the flags)
GROUP_STATISTICS = ("mean", "variance")
# A cell is flagged when its p-value is below this or above 1 minus this.
P_EXTREME = 0.025
# How many flagged cells to list in ``str`` and ``to_dict``.
_SHOWN = 10


# -- building blocks ---------------------------------------------------------------------
def category_proportions(y: xr.DataArray, categories, group: xr.DataArray | None = None):
    """Share of each category among the non-missing values of ``y``, overall or per group.

    Parameters
    ----------
    y : xarray.DataArray
        Outcome with dim ``individual`` (and any others, e.g. chain and draw); NaN = missing.
    categories : sequence
        The categories, in order.
    group : xarray.DataArray, optional
        Group label of each individual (dim ``individual``); its ``name`` names the new dim.

    Returns
    -------
    xarray.DataArray
        ``y``'s other dims, the group dim if any, and ``category``. Over the categories
        the shares sum to one (a group whose outcomes are all missing gives NaN).
    """
    _check_unit_dim(y, "y")
    cats = xr.DataArray(np.asarray(categories), dims=CATEGORY_DIM, name=CATEGORY_DIM)
    cats = cats.assign_coords({CATEGORY_DIM: cats.values})
    hit = (y == cats).astype(float).where(y.notnull())
    if group is None:
        return hit.mean(UNIT_DIM)
    _check_group(group, y)
    return hit.groupby(group).mean(UNIT_DIM)


def between_group_variance(y: xr.DataArray, group: xr.DataArray) -> xr.DataArray:
    """Variance over groups (ddof=1) of each group's mean outcome.

    Parameters
    ----------
    y : xarray.DataArray
        Outcome with dim ``individual`` (and any others); NaN values are skipped.
    group : xarray.DataArray
        Group label of each individual, dim ``individual``, with a ``name``.

    Returns
    -------
    xarray.DataArray
        ``y``'s dims other than ``individual``.
    """
    _check_unit_dim(y, "y")
    _check_group(group, y)
    means = y.groupby(group).mean(UNIT_DIM)
    return means.var(group.name, ddof=1)


def distribution_statistics(y: xr.DataArray, group: xr.DataArray | None = None) -> xr.DataArray:
    """Statistics of a continuous outcome over the non-missing individuals.

    Overall: :data:`DISTRIBUTION_STATISTICS` (mean, SD, quantiles). Per group (``group``):
    each group's mean and variance (ddof=1), :data:`GROUP_STATISTICS`.

    Returns
    -------
    xarray.DataArray
        ``y``'s other dims, the group dim if any, and ``statistic``.
    """
    _check_unit_dim(y, "y")
    if group is None:
        values = [f(y, UNIT_DIM) for f in DISTRIBUTION_STATISTICS.values()]
        names = list(DISTRIBUTION_STATISTICS)
    else:
        _check_group(group, y)
        grouped = y.groupby(group)
        values = [grouped.mean(UNIT_DIM), grouped.var(UNIT_DIM, ddof=1)]
        names = list(GROUP_STATISTICS)
    out = xr.concat(values, dim=STATISTIC_DIM, coords="minimal")
    return out.assign_coords({STATISTIC_DIM: names})


def mid_p_value(replicated: xr.DataArray, observed, dims=SAMPLE_DIMS) -> xr.DataArray:
    """``P(T_rep > T_obs) + 0.5 P(T_rep = T_obs)`` over the draws (``dims``)."""
    greater = (replicated > observed).mean(dims)
    equal = (replicated == observed).mean(dims)
    return greater + 0.5 * equal


def category_check(
    observed: xr.DataArray,
    replicated: xr.DataArray,
    categories,
    group: xr.DataArray | None = None,
    *,
    prob: float | None = None,
) -> xr.Dataset:
    """Observed against replicated category proportions, overall or per group.

    Parameters
    ----------
    observed : xarray.DataArray
        Observed outcome, dim ``individual``; NaN = missing (left out of both sides).
    replicated : xarray.DataArray
        Replicated outcomes, dims (chain, draw, individual).
    categories : sequence
    group : xarray.DataArray, optional
        Group label of each individual.
    prob : float, optional
        Interval probability; default ArviZ's ``rcParams["stats.ci_prob"]``.

    Returns
    -------
    xarray.Dataset
        Dims ``category`` (and the group dim): ``observed``, ``replicated_mean``,
        ``replicated_lower``, ``replicated_upper`` (equal-tailed interval) and ``p_value``
        (mid-p, see the module docstring); ``attrs`` say how they were computed.
    """
    return _compare(observed, replicated, group, prob=prob,
                    statistic=lambda y, g: category_proportions(y, categories, g),
                    what="share of each category among non-missing outcomes")


def distribution_check(
    observed: xr.DataArray,
    replicated: xr.DataArray,
    group: xr.DataArray | None = None,
    *,
    prob: float | None = None,
) -> xr.Dataset:
    """Observed against replicated statistics of a continuous outcome, overall or per group.

    Overall: mean, SD and quantiles; per group: each group's mean and variance
    (:func:`distribution_statistics`). Parameters and result as :func:`category_check`,
    with the dim ``statistic`` in place of ``category``.
    """
    return _compare(observed, replicated, group, prob=prob, statistic=distribution_statistics,
                    what=("mean, SD and quantiles of the non-missing outcomes" if group is None
                          else "mean and variance (ddof=1) of each group's non-missing outcomes"))


def _compare(observed, replicated, group, *, prob, statistic, what) -> xr.Dataset:
    prob = arviz_base.rcParams["stats.ci_prob"] if prob is None else prob
    _check_unit_dim(replicated, "replicated", SAMPLE_DIMS)
    present = observed.notnull()
    replicated = _where_observed(replicated, present)
    obs = statistic(observed, group)
    rep = statistic(replicated, group)
    interval = credible_interval(rep, dim=SAMPLE_DIMS, prob=prob)
    out = xr.Dataset(
        {
            "observed": obs,
            "replicated_mean": rep.mean(SAMPLE_DIMS),
            "replicated_lower": interval.sel(ci_bound="lower", drop=True),
            "replicated_upper": interval.sel(ci_bound="upper", drop=True),
            # an undefined statistic (a group of one has no variance) gets no p-value
            "p_value": mid_p_value(rep, obs).where(obs.notnull()),
        }
    )
    if group is not None:
        out = out.assign(n_individuals=present.groupby(group).sum(UNIT_DIM))
    out.attrs = {
        "statistic": what,
        "interval": f"{interval_name()} of the replicated statistic",
        "ci_prob": prob,
        "p_value": "mid-p: P(T_rep > T_obs) + 0.5 P(T_rep = T_obs)",
        "n_missing": int((~present).sum()),
    }
    return out


@dataclass(frozen=True)
class GroupStatisticCheck:
    """A group-level test statistic on the observed and on each replicated data set."""

    name: str
    group_dim: str
    n_groups: int
    observed: float
    replicated: xr.DataArray = field(repr=False, compare=False)
    p_value: float
    lower: float
    upper: float
    ci_prob: float

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``checks.json``)."""
        return {
            "statistic": self.name,
            "group": self.group_dim,
            "n_groups": self.n_groups,
            "observed": self.observed,
            "replicated_mean": float(self.replicated.mean()),
            "replicated_interval": [self.lower, self.upper],
            "ci_prob": self.ci_prob,
            "p_value": self.p_value,
        }

    def __str__(self) -> str:
        """One line: observed, replicated interval, p-value."""
        return (
            f"{self.name} ({self.n_groups} {self.group_dim} groups): observed {self.observed:.4g}, "
            f"replicated {float(self.replicated.mean()):.4g} "
            f"[{self.lower:.4g}, {self.upper:.4g}] ({self.ci_prob:.0%}), p = {self.p_value:.3f}"
        )


def group_statistic_check(
    observed: xr.DataArray,
    replicated: xr.DataArray,
    group: xr.DataArray,
    *,
    statistic: Callable[[xr.DataArray, xr.DataArray], xr.DataArray] = between_group_variance,
    name: str | None = None,
    prob: float | None = None,
) -> GroupStatisticCheck:
    """Posterior predictive check of a group-level statistic ``T(y, group)``.

    Parameters
    ----------
    observed : xarray.DataArray
        Observed outcome, dim ``individual``; NaN = missing (left out of both sides).
    replicated : xarray.DataArray
        Replicated outcomes, dims (chain, draw, individual).
    group : xarray.DataArray
        Group label of each individual, with a ``name`` (e.g. ``"network"``).
    statistic : callable, default :func:`between_group_variance`
        ``statistic(y, group)`` reducing ``individual``.
    name : str, optional
        Label; default "between-<group> variance of the mean outcome" for the default.
    prob : float, optional
        Interval probability; default ArviZ's ``rcParams["stats.ci_prob"]``.

    Returns
    -------
    GroupStatisticCheck
        With the mid-p value ``P(T(y_rep) > T(y)) + 0.5 P(T(y_rep) = T(y))``.

    References
    ----------
    .. [1] Gelman, A., Meng, X.-L., & Stern, H. (1996). Posterior predictive assessment of
       model fitness via realized discrepancies. *Statistica Sinica*, 6(4), 733-760.
    """
    prob = arviz_base.rcParams["stats.ci_prob"] if prob is None else prob
    _check_unit_dim(replicated, "replicated", SAMPLE_DIMS)
    _check_group(group, observed)
    present = observed.notnull()
    t_obs = statistic(observed, group)
    t_rep = statistic(_where_observed(replicated, present), group)
    interval = credible_interval(t_rep, dim=SAMPLE_DIMS, prob=prob)
    if name is None:
        name = f"between-{group.name} variance of the mean outcome"
        if statistic is not between_group_variance:
            name = getattr(statistic, "__name__", "statistic")
    groups_present = np.unique(group.where(present, drop=True).values)
    return GroupStatisticCheck(
        name=name,
        group_dim=str(group.name),
        n_groups=int(groups_present.size),
        observed=float(t_obs),
        replicated=t_rep,
        p_value=float(mid_p_value(t_rep, t_obs)),
        lower=float(interval.sel(ci_bound="lower")),
        upper=float(interval.sel(ci_bound="upper")),
        ci_prob=prob,
    )


@dataclass(frozen=True)
class LooPitCheck:
    """LOO-PIT values and ArviZ's test of their uniformity."""

    values: xr.DataArray = field(repr=False, compare=False)
    p_value: float
    method: str
    randomised: bool
    seed: int
    # "draws": ArviZ's PIT from the predictive draws; "conditional CDF": the weighted
    # average of the outcome's CDF given each draw (continuous outcome, module docstring)
    estimator: str = "draws"

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``checks.json``)."""
        return {
            "uniformity_p_value": self.p_value,
            "method": self.method,
            "randomised": self.randomised,
            "seed": self.seed,
            "n": int(self.values.size),
            "estimator": self.estimator,
        }

    @property
    def kind(self) -> str:
        """How the PIT values were had, in words."""
        if self.randomised:
            return "randomised (discrete outcome)"
        if self.estimator == CONDITIONAL_CDF:
            return "PSIS-weighted conditional CDF"
        return "Pareto-smoothed"

    def __str__(self) -> str:
        """One line: the uniformity test."""
        kind = self.kind
        return (
            f"LOO-PIT ({kind}, {self.values.size} observations): uniformity test "
            f"({self.method}) p = {self.p_value:.3f}"
        )


# values (draws x respondents) per chunk of LOO-PIT: PSIS and the PIT hold a few float64
# arrays of a chunk at a time (32 MB each), never draws x every respondent
_PIT_CHUNK_VALUES = 2**22


# LooPitCheck.estimator of a continuous outcome's PIT from its conditional CDF
CONDITIONAL_CDF = "conditional CDF"


class LooPitByChunks:
    """LOO-PIT (``arviz_stats.loo_pit``) one chunk of respondents at a time.

    Each observation's PSIS weights and PIT value depend on its own draws only, so the
    values equal those of ``arviz_stats.loo_pit`` on the whole arrays when the chunks are
    given in the order of the observations: the tie-breaking uniforms come from one
    generator (seeded with ``seed``) consumed observation after observation, as ArviZ
    consumes it in one call (tests/analysis/test_ppc.py). Only the N PIT values are kept;
    the uniformity test (:meth:`check`) needs no more.

    Parameters
    ----------
    predictive : xarray.DataArray
        Posterior predictive draws (chain, draw, individual).
    observed : xarray.DataArray
        The observed outcome (individual); NaN = missing (left out of the values).
    reff : float
        Relative efficiency of the draws at ``predictive``'s draws (ArviZ's default:
        :func:`analysis.loo.relative_ess` of the posterior at those draws).
    seed : int
    discrete : bool
        Randomised PIT (discrete outcome) or Pareto-smoothed PIT (continuous one).
    """

    def __init__(self, predictive: xr.DataArray, observed: xr.DataArray, *, reff: float,
                 seed: int, discrete: bool):
        self.predictive = predictive
        self.observed = observed
        self.reff = float(reff)
        self.seed = seed
        self.discrete = bool(discrete)
        self._rng = np.random.default_rng(seed)
        self._positions = pd.Index(predictive[UNIT_DIM].values) if UNIT_DIM in predictive.coords else None
        self._parts: list[xr.DataArray] = []
        self.estimator = "draws"

    def add(self, log_lik: xr.DataArray, log_cdf: xr.DataArray | None = None) -> None:
        """The PIT values of the observations of ``log_lik`` (chain, draw, individual: a
        chunk of the log-likelihood at the predictive draws, chunks in order).

        ``log_cdf`` (a continuous outcome: the log CDF of each observation given each of
        those draws): the PIT is the PSIS-weighted mean of the CDF instead of the weighted
        share of predictive draws below the observation (all chunks must give it or none).
        """
        where = self._where(log_lik)
        predictive = self.predictive.isel({UNIT_DIM: where})
        observed = self.observed.isel({UNIT_DIM: where})
        log_lik = log_lik.transpose(*predictive.dims).assign_coords(
            {dim: predictive[dim] for dim in SAMPLE_DIMS if dim in predictive.coords})
        if log_cdf is not None and not self.discrete:
            self.estimator = CONDITIONAL_CDF
            self._parts.append(_conditional_cdf_pit(log_lik, log_cdf.transpose(*log_lik.dims),
                                                    self.reff))
            return
        self.estimator = "draws"
        pit, _ = predictive.azstats.loo_pit(
            y_obs=observed, log_ratios=-log_lik.astype(np.float64), r_eff=self.reff,
            sample_dims=list(SAMPLE_DIMS), random_state=self._rng, pareto_pit=not self.discrete)
        self._parts.append(pit)

    def _where(self, log_lik: xr.DataArray):
        """Positions of ``log_lik``'s observations in the predictive draws (a slice where
        they follow each other, as chunks do).
        """
        if self._positions is None or UNIT_DIM not in log_lik.coords:
            done = sum(part.sizes[UNIT_DIM] for part in self._parts)
            return slice(done, done + log_lik.sizes[UNIT_DIM])
        positions = self._positions.get_indexer(log_lik[UNIT_DIM].values)
        if (positions < 0).any():
            raise ValueError("the log-likelihood has observations the posterior predictive draws lack")
        if positions.size and np.array_equal(positions, np.arange(positions[0], positions[0] + positions.size)):
            return slice(int(positions[0]), int(positions[-1]) + 1)
        return positions

    def check(self, method: str = "pot_c") -> LooPitCheck:
        """The PIT values gathered so far and ArviZ's test of their uniformity."""
        if not self._parts:
            raise ValueError("no LOO-PIT values (no chunk of the log-likelihood was given)")
        pit = xr.concat(self._parts, dim=UNIT_DIM)
        observed = self.observed.sel({UNIT_DIM: pit[UNIT_DIM]}) if UNIT_DIM in pit.coords else self.observed
        if observed.isnull().any():
            pit = pit.where(observed.notnull(), drop=True)
        p_value, _, _ = pit.azstats.uniformity_test(dim=list(pit.dims), method=method)
        return LooPitCheck(values=pit, p_value=float(p_value), method=method,
                           randomised=self.discrete, seed=self.seed, estimator=self.estimator)


def _conditional_cdf_pit(log_lik: xr.DataArray, log_cdf: xr.DataArray, reff: float) -> xr.DataArray:
    """``sum_s w_s F(y_i | theta_s)``: the LOO predictive CDF at each observation, with the
    PSIS weights ``w`` of its log-likelihood (as ``arviz_stats.loo_pit`` weighs the draws).

    The share of S predictive draws below ``y_i`` takes about S + 1 values: a calibrated
    model's PIT values then sit on that lattice, which the uniformity test of N >> S^2 / 100
    values detects (a simulated 20,034-respondent gaussian survey fitted by its own model:
    p = 0.013 from 1,000 draws against 0.44 here). The conditional CDF is continuous and has
    a smaller Monte Carlo error (Rao-Blackwellisation); clipped to ArviZ's bounds
    [1 / (S 10^4), 1 - 1 / (S 10^4)].
    """
    from scipy.special import logsumexp

    from .psis import psis_log_weights

    dims = list(SAMPLE_DIMS)
    log_weights, _ = psis_log_weights(log_lik, reff)  # azstats.psislw's, all rows at once
    axes = tuple(log_weights.get_axis_num(d) for d in dims)
    lw = log_weights.values
    lc = log_cdf.transpose(*log_weights.dims).values.astype(np.float64)
    pit = np.exp(logsumexp(lw + lc, axis=axes) - logsumexp(lw, axis=axes))
    samples = int(np.prod([log_lik.sizes[d] for d in dims]))
    bound = 1.0 / samples / 1e4
    out = xr.DataArray(np.clip(pit, bound, 1 - bound),
                       dims=[d for d in log_weights.dims if d not in dims])
    return out.assign_coords({d: log_lik[d] for d in out.dims if d in log_lik.coords})


def is_discrete(observed: xr.DataArray) -> bool:
    """Whether every observed value is an integer (LOO-PIT's default for ``discrete``)."""
    values = observed.values[np.isfinite(observed.values)]
    return bool(np.all(values == np.round(values)))


def loo_pit_check(
    data: xr.DataTree,
    *,
    var_name: str = "y",
    seed: int,
    method: str = "pot_c",
    discrete: bool | None = None,
    chunk_values: int = _PIT_CHUNK_VALUES,
) -> LooPitCheck:
    """LOO-PIT values with ``arviz_stats.loo_pit`` and a test of their uniformity.

    Computed by chunks of respondents (:class:`LooPitByChunks`, about ``chunk_values``
    draws x respondents each): the same values as ``arviz_stats.loo_pit`` on the whole
    arrays, at the draws the posterior predictive kept.

    Parameters
    ----------
    data : xarray.DataTree
        With ``posterior``, ``posterior_predictive``, ``log_likelihood`` and
        ``observed_data`` groups holding ``var_name``.
    var_name : str, default "y"
    seed : int
        Seed of the randomisation of ties (discrete outcomes).
    method : {"pot_c", "prit_c", "piet_c"}, default "pot_c"
        ArviZ's uniformity test (``azstats.uniformity_test``), valid for the dependent
        LOO-PIT values (Tesso et al. 2026).
    discrete : bool, optional
        Whether the outcome is discrete; default: whether every observed value is an integer.

    Returns
    -------
    LooPitCheck
        ``values`` over the observation dims (missing observations left out).

    References
    ----------
    .. [1] Czado, C., Gneiting, T., & Held, L. (2009). Predictive model assessment for count
       data. *Biometrics*, 65(4), 1254-1261. https://doi.org/10.1111/j.1541-0420.2009.01191.x
    .. [2] Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation
       using leave-one-out cross-validation and WAIC. *Statistics and Computing*, 27(5),
       1413-1432. https://doi.org/10.1007/s11222-016-9696-4
    """
    missing = [g for g in ("posterior", "posterior_predictive", "log_likelihood", "observed_data")
               if g not in data.children]
    if missing:
        raise ValueError(f"LOO-PIT needs the group(s) {missing}")
    observed = data["observed_data"][var_name]
    kept = _at_predictive_draws(data)
    pit = loo_pit_by_chunks(kept, var_name=var_name, seed=seed,
                            discrete=is_discrete(observed) if discrete is None else discrete)
    log_lik = kept["log_likelihood"][var_name]
    obs_dims = [d for d in log_lik.dims if d not in SAMPLE_DIMS]
    if obs_dims != [UNIT_DIM]:  # not one dim of individuals: one chunk, as ArviZ takes it
        pit.add(log_lik)
        return pit.check(method)
    step = max(1, chunk_values // max(1, log_lik.sizes["chain"] * log_lik.sizes["draw"]))
    for start in range(0, log_lik.sizes[UNIT_DIM], step):
        pit.add(log_lik.isel({UNIT_DIM: slice(start, start + step)}))
    return pit.check(method)


def loo_pit_by_chunks(data: xr.DataTree, *, var_name: str = "y", seed: int,
                      discrete: bool) -> LooPitByChunks:
    """A :class:`LooPitByChunks` for a fit's posterior predictive draws (``data`` with
    ``posterior``, ``posterior_predictive`` and ``observed_data``): its relative efficiency
    is that of the posterior at the predictive draws, as ``arviz_stats.loo_pit`` takes it.
    """
    from .loo import relative_ess  # analysis.loo imports this module

    predictive = data["posterior_predictive"][var_name]
    keep = {dim: predictive[dim].values for dim in SAMPLE_DIMS if dim in predictive.coords}
    posterior = data["posterior"].to_dataset()
    reff = relative_ess(posterior.sel(keep) if keep else posterior)
    return LooPitByChunks(predictive.load(), data["observed_data"][var_name], reff=reff,
                          seed=seed, discrete=discrete)


def _at_predictive_draws(data: xr.DataTree) -> xr.DataTree:
    """The groups LOO-PIT reads, at the draws the posterior predictive kept (a fit thins them)."""
    draws = data["posterior_predictive"]
    # by label; draws without chain/draw labels (built by hand) are taken as they are
    keep = {dim: draws[dim].values for dim in SAMPLE_DIMS if dim in draws.coords}
    return xr.DataTree.from_dict({
        name: data[name].to_dataset().sel(keep) if name != "observed_data" else data[name].to_dataset()
        for name in ("posterior", "posterior_predictive", "log_likelihood", "observed_data")})


def groups_from_constant_data(
    data: xr.DataTree, levels: Sequence[str] = PPC_GROUPS
) -> dict[str, xr.DataArray]:
    """Group label of each individual from a fit's ``constant_data``.

    Reads ``idx_<level>`` (the group position of each individual) and maps it to the
    labels in the ``<level>`` coordinate when there is one.

    Parameters
    ----------
    data : xarray.DataTree
        With a ``constant_data`` group.
    levels : sequence of str, default ("alliance", "network")

    Returns
    -------
    dict of str to xarray.DataArray
        One DataArray per level, dim ``individual``, named after the level.
    """
    if "constant_data" not in data.children:
        raise ValueError("data has no constant_data group")
    constant = data["constant_data"].to_dataset()
    absent = [lvl for lvl in levels if f"idx_{lvl}" not in constant]
    if absent:
        raise ValueError(f"constant_data has no idx_{{level}} for level(s) {absent}")
    out = {}
    for level in levels:
        index = constant[f"idx_{level}"]
        values = index.values
        if level in constant.coords:
            values = constant[level].values[values.astype(int)]
        out[level] = xr.DataArray(values, dims=index.dims, coords=index.coords, name=level)
    return out


# -- all checks together -----------------------------------------------------------------
@dataclass(frozen=True)
class PosteriorPredictiveChecks:
    """Category proportions (or distribution statistics), group statistics and LOO-PIT of one fit.

    ``kind`` is the family's check (``categories`` or ``density``); ``proportions`` holds,
    overall and per grouping, the category shares (dim ``category``) or the distribution
    statistics (dim ``statistic``).
    """

    proportions: dict[str, xr.Dataset]
    group_statistics: dict[str, GroupStatisticCheck]
    loo_pit: LooPitCheck | None
    p_extreme: float
    kind: str = "categories"

    @property
    def row_dim(self) -> str:
        """The dim of the compared quantities: ``category`` or ``statistic``."""
        return CATEGORY_DIM if self.kind == "categories" else STATISTIC_DIM

    def extreme_cells(self, key: str) -> list[dict]:
        """Cells of ``proportions[key]`` whose p-value is outside [p_extreme, 1 - p_extreme]."""
        ds = self.proportions[key]
        flag = (ds["p_value"] < self.p_extreme) | (ds["p_value"] > 1 - self.p_extreme)
        stacked = ds.where(flag).to_dataframe().dropna(subset=["p_value"]).reset_index()
        stacked = stacked.assign(distance=(stacked["p_value"] - 0.5).abs())
        stacked = stacked.sort_values("distance", ascending=False).drop(columns="distance")
        if "n_individuals" in stacked:  # where() made the counts float
            stacked["n_individuals"] = stacked["n_individuals"].astype(int)
        return [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in stacked.to_dict(orient="records")
        ]

    def figures(self, keep: Callable[[str], bool] | None = None) -> dict[str, Figure]:
        """Every figure of these checks, keyed by a file stem (save as ``<key>.png``).

        ``keep``: draw only the figures whose key it accepts (a per-group figure of a
        large survey has one column per group: 20,000 alliances at a million respondents).
        """
        wanted = keep or (lambda key: True)
        what = "Category shares" if self.kind == "categories" else "Mean and variance"
        makers = {"ppc_overall": lambda: plot_category_proportions(self.proportions["overall"])}
        for key in self.proportions:
            if key != "overall":
                makers[f"ppc_{key}"] = lambda key=key: plot_category_proportions(
                    self.proportions[key], title=f"{what} per {key}")
        for key, check in self.group_statistics.items():
            makers[f"ppc_{key}_variance"] = lambda check=check: plot_group_statistic(check)
        if self.loo_pit is not None:
            makers["loo_pit"] = lambda: plot_loo_pit(self.loo_pit)
        return {key: make() for key, make in makers.items() if wanted(key)}

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``checks.json``): full overall table, flagged group cells."""
        overall = self.proportions["overall"]
        dim = self.row_dim
        out = {
            "kind": self.kind,
            "p_extreme": self.p_extreme,
            "n_missing": overall.attrs["n_missing"],
            "ci_prob": overall.attrs["ci_prob"],
            "overall": [
                {
                    dim: overall[dim].values[i].item(),
                    **{v: float(overall[v].values[i]) for v in overall.data_vars},
                }
                for i in range(overall.sizes[dim])
            ],
            "groups": {},
            "group_statistics": {k: v.to_dict() for k, v in self.group_statistics.items()},
            "loo_pit": None if self.loo_pit is None else self.loo_pit.to_dict(),
        }
        for key in self.proportions:
            if key == "overall":
                continue
            cells = self.extreme_cells(key)
            ds = self.proportions[key]
            out["groups"][key] = {
                "n_groups": int(ds.sizes[key]),
                "n_cells": int(ds["p_value"].notnull().sum()),
                "n_extreme": len(cells),
                "extreme": cells[:_SHOWN],
            }
        return out

    def __str__(self) -> str:
        """Readable summary of every check."""
        overall = self.proportions["overall"]
        dim = self.row_dim
        lines = [
            f"Posterior predictive checks (intervals {overall.attrs['ci_prob']:.0%}, "
            f"mid-p values; flagged outside [{self.p_extreme:g}, {1 - self.p_extreme:g}])",
            f"  {dim:>9} {'observed':>9} {'replicated':>10} {'interval':>17} {'p':>6}",
        ]
        for i in range(overall.sizes[dim]):
            row = overall.isel({dim: i})
            lines.append(
                f"  {str(row[dim].item()):>9} {float(row['observed']):9.3f} "
                f"{float(row['replicated_mean']):10.3f} "
                f"[{float(row['replicated_lower']):6.3f}, {float(row['replicated_upper']):6.3f}] "
                f"{float(row['p_value']):6.3f}"
            )
        if overall.attrs["n_missing"]:
            lines.append(f"  ({overall.attrs['n_missing']} missing outcomes left out)")
        for key in self.proportions:
            if key == "overall":
                continue
            cells = self.extreme_cells(key)
            n_cells = int(self.proportions[key]["p_value"].notnull().sum())
            lines.append(f"  per {key}: {len(cells)} of {n_cells} cells flagged")
            for cell in cells[:_SHOWN]:
                lines.append(
                    f"    {key} {cell[key]}, {dim} {cell[dim]}: observed "
                    f"{cell['observed']:.3f}, replicated {cell['replicated_mean']:.3f}, "
                    f"p = {cell['p_value']:.3f}"
                )
        lines.extend(f"  {check}" for check in self.group_statistics.values())
        if self.loo_pit is not None:
            lines.append(f"  {self.loo_pit}")
        return "\n".join(lines)


def posterior_predictive_checks(
    data: xr.DataTree,
    *,
    var_name: str = "y",
    groups: Mapping[str, xr.DataArray] | None = None,
    categories=None,
    kind: str = "categories",
    discrete: bool | None = None,
    prob: float | None = None,
    p_extreme: float = P_EXTREME,
    seed: int,
    loo_pit: LooPitCheck | None = None,
) -> PosteriorPredictiveChecks:
    """Run every posterior predictive check of a fit.

    Parameters
    ----------
    data : xarray.DataTree
        With ``observed_data`` and ``posterior_predictive`` holding ``var_name`` (dim
        ``individual``); with ``log_likelihood`` and ``posterior`` also LOO-PIT.
    var_name : str, default "y"
    groups : mapping of str to xarray.DataArray, optional
        Group label of each individual per grouping (e.g. from
        :func:`groups_from_constant_data`); each gives per-group proportions and the
        between-group variance of the mean outcome.
    categories : sequence, optional
        The outcome's categories; default the sorted values seen in observed or replicated
        data (pass them to include a category nobody chose).
    kind : {"categories", "density", "proportion"}, default "categories"
        The family's check (``models.Family.ppc``): category shares, or distribution
        statistics (mean, SD, quantiles; group means and variances) of a continuous outcome
        or of the proportion ``y / trials`` (``trials`` from ``constant_data``).
    discrete : bool, optional
        Whether the outcome is discrete (``models.Family.discrete``), for LOO-PIT; default:
        whether every observed value is an integer.
    prob : float, optional
        Interval probability; default ArviZ's ``rcParams["stats.ci_prob"]``.
    p_extreme : float, default 0.025
        A cell with p-value outside ``[p_extreme, 1 - p_extreme]`` is flagged.
    seed : int
        Seed of the LOO-PIT randomisation.
    loo_pit : LooPitCheck, optional
        LOO-PIT computed already (:class:`LooPitByChunks`, fed by the pass over the
        log-likelihood's chunks of respondents that PSIS-LOO makes); else computed here
        from a ``log_likelihood`` group, if ``data`` has one.

    Returns
    -------
    PosteriorPredictiveChecks
        ``proportions`` is keyed ``"overall"`` and by grouping name.
    """
    if not 0 < p_extreme < 0.5:
        raise ValueError(f"p_extreme must be in (0, 0.5), got {p_extreme}")
    missing = [g for g in ("observed_data", "posterior_predictive") if g not in data.children]
    if missing:
        raise ValueError(f"posterior predictive checks need the group(s) {missing}")
    observed = data["observed_data"][var_name]
    replicated = data["posterior_predictive"][var_name]
    if kind not in CHECK_KINDS:
        raise ValueError(f"kind must be one of {CHECK_KINDS}, got {kind!r}")
    if kind == "proportion":
        if "constant_data" not in data.children or "trials" not in data["constant_data"]:
            raise ValueError("a proportion check needs the trials (constant_data['trials'])")
        trials = data["constant_data"]["trials"]
        observed, replicated = observed / trials, replicated / trials
    if kind == "categories":
        if categories is None:
            seen = np.concatenate([np.unique(observed.values), np.unique(replicated.values)])
            categories = np.unique(seen[np.isfinite(seen)])

        def compare(group=None):
            return category_check(observed, replicated, categories, group, prob=prob)
    else:
        def compare(group=None):
            return distribution_check(observed, replicated, group, prob=prob)
    groups = dict(groups or {})
    proportions = {"overall": compare()}
    statistics = {}
    for key, group in groups.items():
        group = group.rename(key)
        proportions[key] = compare(group)
        statistics[key] = group_statistic_check(observed, replicated, group, prob=prob)
    pit = loo_pit
    if pit is None and {"log_likelihood", "posterior"} <= set(data.children):
        pit = loo_pit_check(data, var_name=var_name, seed=seed, discrete=discrete)
    elif pit is None:
        logger.info("no log_likelihood group: LOO-PIT skipped")
    return PosteriorPredictiveChecks(proportions, statistics, pit, p_extreme, kind)


# -- figures -----------------------------------------------------------------------------
def plot_category_proportions(check: xr.Dataset, *, title: str | None = None) -> Figure:
    """Observed shares (dots) against replicated intervals (bars), overall or per group.

    Parameters
    ----------
    check : xarray.Dataset
        A result of :func:`category_check` or :func:`distribution_check` (one entry of
        ``proportions``; then statistics take the place of categories).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Overall: one panel, categories on x. Per group: one panel per category, groups on x.
    """
    from matplotlib.figure import Figure

    row_dim = CATEGORY_DIM if CATEGORY_DIM in check.dims else STATISTIC_DIM
    shares = row_dim == CATEGORY_DIM
    group_dims = [d for d in check["observed"].dims if d != row_dim]
    categories = check[row_dim].values
    if not group_dims and not shares:
        # statistics on different scales (mean, SD, quantiles): one small panel each
        fig = Figure(figsize=(1.4 * categories.size + 1, 3), layout="constrained")
        axes = fig.subplots(1, categories.size, squeeze=False)[0]
        for ax, stat in zip(axes, categories):
            _interval_and_points(ax, np.arange(1), check.sel({row_dim: [stat]}))
            ax.set_xticks([0], [str(stat)])
    elif not group_dims:
        fig = Figure(figsize=(5, 3.5), layout="constrained")
        ax = fig.add_subplot()
        x = np.arange(categories.size)
        _interval_and_points(ax, x, check)
        ax.set_xticks(x, [str(c) for c in categories])
        ax.set_xlabel(row_dim)
        ax.set_ylabel("share")
    else:
        (group_dim,) = group_dims
        labels = check[group_dim].values
        n = categories.size
        fig = Figure(figsize=(max(6, 0.12 * labels.size + 2), 1.8 * n + 0.5), layout="constrained")
        axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
        x = np.arange(labels.size)
        for ax, cat in zip(axes, categories):
            _interval_and_points(ax, x, check.sel({row_dim: cat}))
            ax.set_ylabel(f"share of {cat}" if shares else str(cat))
        axes[-1].set_xticks(x, [str(v) for v in labels], rotation=90, fontsize="small")
        axes[-1].set_xlabel(group_dim)
    fig.suptitle(title or f"Observed (dots) and replicated (bars) {'category shares' if shares else 'statistics'}")
    return fig


def _interval_and_points(ax, x, ds: xr.Dataset) -> None:
    flagged = ds["p_value"].values
    ax.vlines(x, ds["replicated_lower"].values, ds["replicated_upper"].values,
              color="0.6", linewidth=4, label="replicated interval")
    ax.plot(x, ds["replicated_mean"].values, "_", color="0.3", markersize=10)
    colour = np.where((flagged < P_EXTREME) | (flagged > 1 - P_EXTREME), "C3", "C0")
    ax.scatter(x, ds["observed"].values, c=colour, zorder=3, s=18, label="observed")


def plot_group_statistic(check: GroupStatisticCheck) -> Figure:
    """Histogram of ``T(y_rep)`` with ``T(y)`` marked and the p-value in the title."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.hist(np.ravel(check.replicated.values), bins=40, color="0.7")
    ax.axvline(check.observed, color="C3", label="observed")
    ax.set_xlabel(check.name)
    ax.set_ylabel("replicated data sets")
    ax.set_title(f"p = {check.p_value:.3f}")
    ax.legend()
    return fig


def plot_loo_pit(check: LooPitCheck) -> Figure:
    """LOO-PIT Δ-ECDF with ArviZ's simultaneous band (``arviz_plots.plot_ecdf_pit``).

    Uses the check's own PIT values, so the randomisation is the seeded one.
    """
    from arviz_plots import plot_ecdf_pit

    name = check.values.name or "y"
    tree = xr.DataTree.from_dict({"loo_pit": xr.Dataset({name: check.values})})
    pc = plot_ecdf_pit(tree, group="loo_pit", sample_dims=list(check.values.dims),
                       method=check.method, backend="matplotlib",
                       visuals={"xlabel": {"text": "LOO-PIT"}, "ylabel": {}, "remove_axis": False})
    return figure_of(pc)


def plot_outcome_rootogram(data: xr.DataTree, *, var_name: str = "y") -> Figure:
    """Observed against replicated counts per outcome value (``plot_ppc_rootogram``)."""
    from arviz_plots import plot_ppc_rootogram

    pc = plot_ppc_rootogram(data, var_names=[var_name], backend="matplotlib")
    return figure_of(pc)


def figure_of(plot_collection) -> Figure:
    """Return the matplotlib figure of an arviz_plots PlotCollection, released from pyplot.

    arviz_plots draws through ``pyplot.subplots``; closing the figure in pyplot keeps
    pyplot's global list of figures from growing, and the figure can still be saved.
    """
    import matplotlib.pyplot as plt

    fig = plot_collection.viz["figure"].item()
    plt.close(fig)
    if fig.get_layout_engine() is None:
        fig.set_layout_engine("constrained")  # keeps the axis labels inside a saved PNG
    return fig


def _where_observed(replicated: xr.DataArray, present: xr.DataArray) -> xr.DataArray:
    """The replicated outcomes of the observed individuals only (NaN elsewhere); as they are
    when none is missing (``where`` would copy draws x respondents: 0.8 GB at a million).
    """
    return replicated if bool(present.all()) else replicated.where(present)


# -- input checks ------------------------------------------------------------------------
def _check_unit_dim(da: xr.DataArray, name: str, also=()) -> None:
    needed = (UNIT_DIM, *also)
    missing = [d for d in needed if d not in da.dims]
    if missing:
        raise ValueError(f"{name} lacks dim(s) {missing}; it has {list(da.dims)}")


def _check_group(group: xr.DataArray, y: xr.DataArray) -> None:
    if not isinstance(group, xr.DataArray) or group.dims != (UNIT_DIM,):
        raise ValueError("a group must be a DataArray with the single dim 'individual'")
    if group.name is None:
        raise ValueError("a group DataArray needs a name (e.g. 'network'): it names the dim")
    if group.sizes[UNIT_DIM] != y.sizes[UNIT_DIM]:
        raise ValueError(
            f"group {group.name!r} has {group.sizes[UNIT_DIM]} individuals, the outcome "
            f"{y.sizes[UNIT_DIM]}"
        )
    if group.isnull().any():
        raise ValueError(f"group {group.name!r} has individuals without a group")
    # xarray would align on the labels and silently drop individuals that differ
    if UNIT_DIM in group.coords and UNIT_DIM in y.coords and not np.array_equal(
        group[UNIT_DIM].values, y[UNIT_DIM].values
    ):
        raise ValueError(f"group {group.name!r} labels other individuals than the outcome")
