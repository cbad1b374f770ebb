"""Bayesian dominance analysis over the level groups (DESIGN.md §4.3).

Dominance analysis (Budescu 1993; Azen & Budescu 2003) compares predictors, here the
*groups* of conditions measured at one level (individual, network, organisation,
alliance), by how much each adds to a fit measure across all sub-models. With ``p``
groups, the ``2^p - 1`` non-empty subsets are each fitted (the full one is the run itself;
the empty one has R^2 = 0 by definition) and, per posterior draw:

- the **additional contribution** of group A to subset S (A not in S) is
  ``R2(S + A) - R2(S)``;
- A **completely dominates** B when ``R2(S + A) > R2(S + B)`` for every subset S of the
  other groups (A's additional contribution beats B's wherever both can be compared);
- the **conditional dominance** of A at order k is A's mean additional contribution over
  the subsets of k other groups; A conditionally dominates B when it is larger at every k;
- the **general dominance** of A is the mean of its conditional values over k = 0..p-1.
  The general dominances sum to R2 of the full model (which they split), so they are also
  reported as shares of it. A generally dominates B when its general dominance is larger.

Complete implies conditional implies general dominance, per draw. The posterior
probability of each is the share of draws in which it holds.

The fit measure (:func:`fixed_r2`) is the Bayesian R^2 of the *fixed part* of the linear
predictor, ``eta_fixed = sum_L X_L b_L`` (conditions only; the group intercepts, varying
slopes and cutpoints are not in it), on the latent scale:
``Var(eta_fixed) / (Var(eta_fixed) + residual)`` with residual pi^2/3 for the logit families
(McKelvey & Zavoina 1975; R^2 on the response scale is not valid for ordinal outcomes) and
sigma^2 of the sub-model for the gaussian one (Gelman et al. 2019). Variances are over
individuals, per draw. Every sub-model keeps the run's group effects, so variance a left-out
level's conditions would explain can move to that level's group intercepts, and is then not
counted as explained: the analysis credits the conditions, not the levels' unexplained
variation.

Pairing draws. The sub-models are separate fits, so their posteriors are independent
given the data and there is no joint posterior of ``R2(S)`` over subsets. Draws are paired
by index (chain c, draw d of every fit), which makes every probability here a probability
under the product of the sub-models' posteriors: the uncertainty of each R^2 is propagated,
but not any dependence between them. The sub-models keep fewer draws than the run (as many
as their own ESS gates need, :func:`analysis.submodels.submodel_sampling`), and a fit the
sampler extended keeps more; every fit's draws are therefore thinned, evenly over each
chain, to the fewest any fit kept before they are paired (:func:`paired_draws`). This is the
choice made here; an alternative would compare posterior means with intervals only. Per-draw
dominance statistics follow Wang, Duverger & Bansal (2013), who compute dominance relations on posterior draws.

References
----------
.. [1] Budescu, D. V. (1993). Dominance analysis: A new approach to the problem of relative
   importance of predictors in multiple regression. *Psychological Bulletin*, 114(3),
   542-551. https://doi.org/10.1037/0033-2909.114.3.542
.. [2] Azen, R., & Budescu, D. V. (2003). The dominance analysis approach for comparing
   predictors in multiple regression. *Psychological Methods*, 8(2), 129-148.
   https://doi.org/10.1037/1082-989X.8.2.129
.. [3] McKelvey, R. D., & Zavoina, W. (1975). A statistical model for the analysis of
   ordinal level dependent variables. *Journal of Mathematical Sociology*, 4(1), 103-120.
   https://doi.org/10.1080/0022250X.1975.9989847
.. [4] Gelman, A., Goodrich, B., Gabry, J., & Vehtari, A. (2019). R-squared for Bayesian
   regression models. *The American Statistician*, 73(3), 307-309.
   https://doi.org/10.1080/00031305.2018.1549100
.. [5] Wang, X., Duverger, P., & Bansal, H. S. (2013). Bayesian inference of predictors
   relative importance in linear regression model using dominance hierarchies.
   *International Journal of Pure and Applied Mathematics*, 88(3), 321-339.
   https://doi.org/10.12732/ijpam.v88i3.1
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import xarray as xr

from data.codebook import LEVELS
from data.jsonable import json_scalar

from .decomposition import SAMPLE_DIMS, bayesian_r2_latent, posterior_summary
from .verdict import DEFAULT_GATES, Gate

logger = logging.getLogger(__name__)

EMPTY = "none"
JOIN = "+"
GROUP_DIM, OTHER_DIM, SUBSET_DIM, ORDER_DIM = "level", "other_level", "subset", "order"
PAIRING = ("draws of the separate sub-model fits paired by index (chain, draw), each fit "
           "thinned evenly to the fewest draws any kept: probabilities are under the product "
           "of the sub-models' posteriors")


# -- subsets and labels -------------------------------------------------------------------
def subset_label(groups: Sequence[str], order: Sequence[str] = LEVELS) -> str:
    """Label of a subset of groups: ``"individual+network"``, ``"none"`` when empty."""
    groups = [g for g in order if g in set(groups)] + [g for g in groups if g not in order]
    return JOIN.join(groups) if groups else EMPTY


def all_subsets(groups: Sequence[str]) -> list[tuple[str, ...]]:
    """Every subset of ``groups`` (empty one first), each in the order of ``groups``."""
    groups = list(groups)
    return [combo for k in range(len(groups) + 1) for combo in itertools.combinations(groups, k)]


def level_groups(tree: xr.DataTree) -> dict[str, tuple[str, ...]]:
    """Return the conditions of each level present in a fit, levels in data-flow order."""
    posterior = tree["posterior"]
    conditions = [str(c) for c in posterior["condition"].values]
    levels = [str(v) for v in posterior["condition_level"].values]
    out = {}
    for level in [*LEVELS, *sorted(set(levels) - set(LEVELS))]:
        names = tuple(c for c, lvl in zip(conditions, levels, strict=True) if lvl == level)
        if names:
            out[level] = names
    return out


# -- the fit measure ----------------------------------------------------------------------
def fixed_r2(tree: xr.DataTree) -> xr.DataArray:
    """Latent Bayesian R^2 of the fixed part of a fit's linear predictor, per draw.

    ``eta_fixed = sum_L X_L b_L`` over the conditions (group intercepts excluded), its
    variance over individuals divided by itself plus the family's residual variance
    (pi^2/3 for logit links, sigma^2 for gaussian). A fit without conditions (or with all
    left out) has R^2 = 0.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (:func:`models.fit`), a run's tree or a sub-model's reduced tree.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw).
    """
    from models import family_of
    from models.contributions import fixed_predictor, has_conditions

    family = family_of(tree)
    posterior = tree["posterior"]
    if not has_conditions(tree):
        shape = tuple(posterior.sizes[d] for d in SAMPLE_DIMS)
        zero = xr.DataArray(np.zeros(shape), dims=SAMPLE_DIMS,
                            coords={d: posterior[d].values for d in SAMPLE_DIMS}, name="r2_latent")
        zero.attrs = {"family": family.name, "scale": "latent"}
        return zero

    def r2(tree):  # per draw, on chunks of draws (eta is individuals x draws)
        return bayesian_r2_latent(fixed_predictor(tree), family=family.name,
                                  sigma=family.residual_sd(tree["posterior"]))

    from models.predictive import over_draw_chunks

    # a sub-model with every condition left out has eta_fixed = 0: R^2 = 0 exactly
    per_draw = tree["constant_data"].sizes["individual"] * (posterior.sizes["condition"] + 2)
    return over_draw_chunks(tree, r2, values_per_draw=per_draw)


# -- the statistics -------------------------------------------------------------------------
@dataclass(frozen=True)
class DominanceAnalysis:
    """Complete, conditional and general dominance of the level groups, per draw.

    Attributes
    ----------
    groups : tuple of str
        The compared groups (levels), in order.
    r2 : xarray.DataArray
        R^2 of every subset, dims (chain, draw, subset); subset ``"none"`` is 0.
    additional : xarray.DataArray
        Additional contribution of each group to each subset, dims (chain, draw, level,
        subset); NaN where the subset contains the group.
    conditional : xarray.DataArray
        Conditional dominance, dims (chain, draw, level, order); ``order`` k = number of
        other groups already in the model.
    general : xarray.DataArray
        General dominance, dims (chain, draw, level); sums to R^2 of the full model.
    p_complete, p_conditional, p_general : xarray.DataArray
        Posterior probability that the row group dominates the column group, dims
        (level, other_level); NaN on the diagonal.
    submodels : dict
        Per subset label: the conditions, seed, wall time, draws per chain kept, extensions
        (:func:`analysis.submodels.kept_sampling`) and diagnostics of its fit, and whether
        it passed the gates (empty for hand-made R^2).
    seconds : float or None
        Wall time of the sub-model fits this analysis made (None when they were given).
    pairing : str
        How draws of separate fits are combined.
    """

    groups: tuple[str, ...]
    r2: xr.DataArray
    additional: xr.DataArray
    conditional: xr.DataArray
    general: xr.DataArray
    p_complete: xr.DataArray
    p_conditional: xr.DataArray
    p_general: xr.DataArray
    submodels: dict = field(default_factory=dict)
    seconds: float | None = None
    pairing: str = PAIRING

    @property
    def full(self) -> str:
        """Label of the full model's subset."""
        return subset_label(self.groups, self.groups)

    @property
    def general_share(self) -> xr.DataArray:
        """General dominance as a share of the full model's R^2, per draw."""
        return self.general / self.r2.sel({SUBSET_DIM: self.full})

    @property
    def ranking(self) -> list[str]:
        """Groups by posterior mean general dominance, largest first."""
        means = self.general.mean(SAMPLE_DIMS)
        return [str(g) for g in means.sortby(means, ascending=False)[GROUP_DIM].values]

    @property
    def trustworthy(self) -> bool:
        """Whether every sub-model fit passed its diagnostic gates."""
        return all(entry.get("passed", True) for entry in self.submodels.values())

    def to_dataset(self) -> xr.Dataset:
        """Every per-draw quantity in one Dataset (named dims)."""
        return xr.Dataset({"r2": self.r2, "additional": self.additional,
                           "conditional": self.conditional, "general": self.general,
                           "general_share": self.general_share})

    def to_dict(self, prob: float | None = None) -> dict:
        """Plain-JSON form (for ``checks.json``): summaries and probabilities."""
        def summary(da: xr.DataArray) -> dict:
            table = posterior_summary(da, prob=prob)
            dims = [d for d in table.dims if d != "stat"]
            out = {}
            for index in itertools.product(*(range(table.sizes[d]) for d in dims)):
                cell = table.isel(dict(zip(dims, index, strict=True)))
                key = "|".join(str(cell[d].item()) for d in dims)
                out[key] = {str(s): json_scalar(cell.sel(stat=s)) for s in cell["stat"].values}
            return out

        def matrix(da: xr.DataArray) -> dict:
            return {str(a): {str(b): json_scalar(da.sel({GROUP_DIM: a, OTHER_DIM: b}))
                             for b in da[OTHER_DIM].values if b != a}
                    for a in da[GROUP_DIM].values}

        attrs = posterior_summary(self.general, prob=prob).attrs
        return {
            "groups": list(self.groups),
            "fit_measure": "latent R2 of the fixed part (McKelvey-Zavoina; sigma^2 for gaussian)",
            "pairing": self.pairing,
            "interval": attrs["interval"],
            "ci_prob": attrs["ci_prob"],
            "r2": summary(self.r2),
            "general": summary(self.general),
            "general_share": summary(self.general_share),
            "conditional": summary(self.conditional),
            "p_complete": matrix(self.p_complete),
            "p_conditional": matrix(self.p_conditional),
            "p_general": matrix(self.p_general),
            "ranking": self.ranking,
            "trustworthy": self.trustworthy,
            "submodels": self.submodels,
            "seconds": self.seconds,
        }

    def __str__(self) -> str:
        """Readable table: general dominance with intervals, then pairwise probabilities."""
        table = posterior_summary(self.general)
        share = self.general_share.mean(SAMPLE_DIMS)
        lines = [f"Dominance analysis of {len(self.groups)} level groups (latent R2 of the fixed "
                 f"part; full model R2 = {float(self.r2.sel({SUBSET_DIM: self.full}).mean()):.3f})",
                 f"  {'level':<14} {'general':>8} {'interval':>17} {'share':>6}"]
        for g in self.ranking:
            row = table.sel({GROUP_DIM: g})
            lines.append(f"  {g:<14} {float(row.sel(stat='mean')):8.3f} "
                         f"[{float(row.sel(stat='lower')):6.3f}, {float(row.sel(stat='upper')):6.3f}] "
                         f"{float(share.sel({GROUP_DIM: g})):6.2f}")
        lines.append("  P(row dominates column): complete / conditional / general")
        for a, b in itertools.permutations(self.ranking, 2):
            if self.ranking.index(a) < self.ranking.index(b):
                sel = {GROUP_DIM: a, OTHER_DIM: b}
                lines.append(f"    {a} over {b}: {float(self.p_complete.sel(sel)):.3f} / "
                             f"{float(self.p_conditional.sel(sel)):.3f} / "
                             f"{float(self.p_general.sel(sel)):.3f}")
        lines.append(f"  ({self.pairing})")
        failed = [k for k, v in self.submodels.items() if not v.get("passed", True)]
        if failed:
            lines.append(f"  Sub-model fit(s) failing the diagnostic gates: {', '.join(failed)}; "
                         "treat these results with caution.")
        return "\n".join(lines)


def dominance_statistics(r2: xr.DataArray, groups: Sequence[str]) -> DominanceAnalysis:
    """Complete, conditional and general dominance from the R^2 of every subset.

    A pure function of the R^2 draws (no fitting): see this module's docstring for the
    definitions.

    Parameters
    ----------
    r2 : xarray.DataArray
        R^2 per draw of every non-empty subset of ``groups``, dims (chain, draw, subset),
        subset labels from :func:`subset_label` with ``order=groups`` (e.g.
        ``"individual+network"``). The empty subset ``"none"`` may be given; it is 0
        otherwise.
    groups : sequence of str
        The groups compared (at least two).

    Returns
    -------
    DominanceAnalysis
    """
    groups = tuple(str(g) for g in groups)
    if len(groups) < 2:
        raise ValueError(f"dominance analysis needs at least two groups, got {list(groups)}")
    if len(set(groups)) != len(groups) or any(JOIN in g or g == EMPTY for g in groups):
        raise ValueError(f"groups must be distinct names without {JOIN!r} or {EMPTY!r}: {list(groups)}")
    missing = [d for d in (*SAMPLE_DIMS, SUBSET_DIM) if d not in r2.dims]
    if missing:
        raise ValueError(f"r2 lacks dim(s) {missing}; it has {list(r2.dims)}")
    subsets = all_subsets(groups)
    labels = [subset_label(s, groups) for s in subsets]
    given = [str(s) for s in r2[SUBSET_DIM].values]
    absent = [lab for lab in labels[1:] if lab not in given]
    if absent:
        raise ValueError(f"r2 lacks the subset(s) {absent}")
    if EMPTY not in given:
        empty = xr.zeros_like(r2.isel({SUBSET_DIM: 0}, drop=True)).expand_dims({SUBSET_DIM: [EMPTY]})
        r2 = xr.concat([empty, r2], dim=SUBSET_DIM)
    r2 = r2.assign_coords({SUBSET_DIM: [str(s) for s in r2[SUBSET_DIM].values]})
    r2 = r2.sel({SUBSET_DIM: labels}).transpose(*SAMPLE_DIMS, SUBSET_DIM)
    if int(r2.isnull().sum()):
        raise ValueError("r2 holds missing values")

    def value(subset) -> xr.DataArray:
        return r2.sel({SUBSET_DIM: subset_label(subset, groups)}, drop=True)

    # additional contribution of each group to each subset not containing it
    nan = xr.full_like(value(()), np.nan)
    additional = xr.concat(
        [xr.concat([value((*s, g)) - value(s) if g not in s else nan for s in subsets],
                   dim=SUBSET_DIM)
         for g in groups], dim=GROUP_DIM,
    ).assign_coords({GROUP_DIM: list(groups), SUBSET_DIM: labels})
    sizes = xr.DataArray([len(s) for s in subsets], dims=SUBSET_DIM, coords={SUBSET_DIM: labels})
    conditional = xr.concat(
        [additional.where(sizes == k).mean(SUBSET_DIM, skipna=True) for k in range(len(groups))],
        dim=ORDER_DIM,
    ).assign_coords({ORDER_DIM: list(range(len(groups)))})
    conditional = conditional.transpose(*SAMPLE_DIMS, GROUP_DIM, ORDER_DIM)
    general = conditional.mean(ORDER_DIM)

    def pairwise(holds: Callable[[str, str], xr.DataArray]) -> xr.DataArray:
        rows = []
        for a in groups:
            row = [holds(a, b).mean(SAMPLE_DIMS) if a != b else xr.DataArray(np.nan)
                   for b in groups]
            rows.append(xr.concat(row, dim=OTHER_DIM))
        out = xr.concat(rows, dim=GROUP_DIM)
        return out.assign_coords({GROUP_DIM: list(groups), OTHER_DIM: list(groups)}).astype(float)

    def complete(a, b):
        others = [g for g in groups if g not in (a, b)]
        checks = [value((*s, a)) > value((*s, b)) for s in all_subsets(others)]
        return xr.concat(checks, dim="comparison").all("comparison")

    def conditional_holds(a, b):
        return (conditional.sel({GROUP_DIM: a}) > conditional.sel({GROUP_DIM: b})).all(ORDER_DIM)

    def general_holds(a, b):
        return general.sel({GROUP_DIM: a}) > general.sel({GROUP_DIM: b})

    for name, da in (("r2", r2), ("additional", additional), ("conditional", conditional),
                     ("general", general)):
        da.name = name
    return DominanceAnalysis(
        groups=groups, r2=r2, additional=additional.transpose(*SAMPLE_DIMS, GROUP_DIM, SUBSET_DIM),
        conditional=conditional, general=general.transpose(*SAMPLE_DIMS, GROUP_DIM),
        p_complete=pairwise(complete), p_conditional=pairwise(conditional_holds),
        p_general=pairwise(general_holds),
    )


# -- from a run -----------------------------------------------------------------------------
def paired_draws(per_fit: Mapping[str, xr.DataArray]) -> dict[str, xr.DataArray]:
    """Per-draw values of separate fits, thinned to a common size so that draws pair by index.

    Each fit's draws are thinned evenly over each chain to the fewest draws per chain any
    fit kept (draw ``floor(i * n / m)`` of ``n`` for i < m), and renumbered 0..m-1.

    Raises
    ------
    ValueError
        When the fits have different numbers of chains.
    """
    chains = {label: da.sizes["chain"] for label, da in per_fit.items()}
    if len(set(chains.values())) > 1:
        raise ValueError(f"the fits have different numbers of chains {chains}: draws cannot be paired")
    fewest = min(da.sizes["draw"] for da in per_fit.values())
    out = {}
    for label, da in per_fit.items():
        n = da.sizes["draw"]
        kept = da.isel(draw=(np.arange(fewest) * n) // fewest) if n != fewest else da
        out[label] = kept.assign_coords(chain=np.arange(da.sizes["chain"]), draw=np.arange(fewest))
    return out


def dominance_requests(tree: xr.DataTree) -> dict[str, tuple[str, ...]]:
    """Sub-models the analysis needs: every non-empty proper subset of the level groups.

    Keyed by subset label, valued by the conditions of those levels. The full subset is
    the run itself and the empty one has R^2 = 0, so neither is fitted.
    """
    groups = level_groups(tree)
    names = list(groups)
    return {subset_label(s, names): tuple(c for g in s for c in groups[g])
            for s in all_subsets(names)[1:-1]}


def dominance_analysis(
    run,
    *,
    seed: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    fits: Mapping | None = None,
    gates: tuple[Gate, ...] = DEFAULT_GATES,
    progress: Callable[[str], None] | None = None,
    full_r2: xr.DataArray | None = None,
) -> DominanceAnalysis:
    """Bayesian dominance analysis of the level groups of a run.

    Fits every sub-model with the conditions of a non-empty proper subset of the levels
    present (``2^p - 2`` fits for ``p`` levels: 14 for four) with the run's group effects,
    priors and sampling options, reusing the run's compiled model, in parallel; then
    computes the dominance statistics (module docstring).

    Parameters
    ----------
    run : models.Run
    seed : int, optional
        Base seed of the sub-model fits; default the run's seed.
    workers : int, optional
        Parallel processes (see :func:`analysis.submodels.fit_submodels`).
    scheduler : str, optional
        Address of a Dask scheduler to fit the sub-models on instead.
    fits : mapping of str to SubmodelFit, optional
        Sub-models already fitted, keyed by subset label (as :func:`dominance_requests`);
        only the missing ones are fitted.
    gates : tuple of Gate
        Diagnostic gates each sub-model fit is checked against (reported, not enforced).
    progress : callable, optional
        Receives one line per finished fit.
    full_r2 : xarray.DataArray, optional
        :func:`fixed_r2` of the run, when already computed (``analysis.check_run`` computes
        it from the contributions it shares with the decomposition and the effects).

    Returns
    -------
    DominanceAnalysis
    """
    from .submodels import fit_submodels, kept_sampling

    groups = level_groups(run.tree)
    if len(groups) < 2:
        raise ValueError(f"dominance analysis needs conditions at two or more levels; the run has "
                         f"them at {', '.join(groups) or 'none'}")
    requests = dominance_requests(run.tree)
    fits = dict(fits or {})
    wanted = {k: v for k, v in requests.items() if k not in fits}
    seed = int(run.config.sampling.seed if seed is None else seed)
    full_r2 = fixed_r2(run.tree) if full_r2 is None else full_r2
    started = time.perf_counter()
    if wanted:
        fits.update(fit_submodels(run, wanted, seed=seed, workers=workers, scheduler=scheduler,
                                  progress=progress, full_r2=full_r2))
    seconds = time.perf_counter() - started

    full = subset_label(list(groups), list(groups))
    r2s = {full: full_r2, **{label: fixed_r2(fits[label].tree) for label in requests}}
    submodels = {}
    for label in requests:
        fitted = fits[label]
        failed = [g.label for g in gates if not g.check(fitted.diagnostics.get(g.statistic))]
        submodels[label] = {"conditions": list(fitted.conditions), "seed": fitted.seed,
                            "seconds": round(fitted.seconds, 1),
                            **kept_sampling(fitted.tree),  # draws per chain, extensions
                            "passed": not failed,
                            "failed_gates": failed,
                            "diagnostics": {k: json_scalar(v) for k, v in fitted.diagnostics.items()}}
        if failed:
            logger.warning("dominance sub-model %s failed gate(s): %s", label, ", ".join(failed))
    r2 = xr.concat([da.expand_dims({SUBSET_DIM: [label]}) for label, da in paired_draws(r2s).items()],
                   dim=SUBSET_DIM)
    result = dominance_statistics(r2, list(groups))
    return replace(result, submodels=submodels, seconds=seconds if wanted else None)
