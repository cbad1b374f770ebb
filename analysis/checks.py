"""All posterior checks of a run in one call, and their record in the run directory.

:func:`check_run` computes, from a saved run (DESIGN.md §4):

1. the sampler's diagnostics and the gates they pass or fail;
2. the variance decomposition by level and side (:func:`analysis.variance_decomposition`),
   Pratt shares of the fixed part and shares of the total latent variance with each side's
   group variance;
3. the dominance verdict (:func:`analysis.dominance_verdict`) on the side shares of the
   fixed part;
4. readable effects (:func:`analysis.readable_effects`);
5. posterior predictive checks (:func:`analysis.posterior_predictive_checks`);
6. the PSIS-LOO comparison of the interpersonal-only, interorganisational-only, full
   ("both") and null (group effects only) models (:func:`analysis.predictive_comparison`);
7. power-scaling prior sensitivity of the shares and of the verdict
   (:func:`analysis.prior_sensitivity`);
8. the Bayesian dominance analysis of the level groups (:mod:`analysis.dominance`).

The sub-models of 6 and 8 are fitted together, in parallel, reusing the run's compiled
model (:mod:`analysis.submodels`). When the run fails a diagnostic gate the verdict is
``not trustworthy`` and the sub-models are not fitted: a refit of a posterior that cannot be
trusted says nothing more. A part that fails with an error is recorded in ``errors`` (and
logged) instead of stopping the other parts.

:func:`save_checks` writes ``checks/checks.json`` and one PNG per figure into the run
directory, atomically, and refuses to replace earlier checks unless ``force``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import arviz_base
import numpy as np
import xarray as xr

from data.codebook import GROUP_LEVELS, SIDES
from data.errors import AllianceLearningError
from data.files import atomic_dir
from data.jsonable import json_scalar

from .decomposition import (
    SAMPLE_DIMS,
    UNIT_DIM,
    posterior_summary,
    variance_decomposition,
)
from .dominance import (
    DominanceAnalysis,
    dominance_analysis,
    dominance_requests,
    level_groups,
)
from .effects import binary_contrasts, readable_effects
from .figures import new_figure
from .loo import PredictiveComparison, plot_comparison, predictive_comparison
from .ppc import (
    CHECK_KINDS,
    PosteriorPredictiveChecks,
    groups_from_constant_data,
    posterior_predictive_checks,
)
from .sensitivity import PriorSensitivity, plot_sensitivity, prior_sensitivity
from .submodels import fit_submodels
from .verdict import (
    DEFAULT_GATES,
    DominanceVerdict,
    Gate,
    dominance_verdict,
    sampling_diagnostics,
)

logger = logging.getLogger(__name__)

CHECKS_SCHEMA_VERSION = 1
CHECKS_DIR = "checks"
CHECKS_FILE = "checks.json"
# Exit code of `alliance-learning check` when the run fails its diagnostic gates.
EXIT_NOT_TRUSTWORTHY = 3
# Log-prior terms that are part of the model's structure (non-centred offsets, centred group
# effects, imputed codes, the horseshoe's standard-normal part), not priors a user chose:
# power-scaling leaves them alone, as brms' `lprior` does.
_STRUCTURAL_PRIOR_PREFIXES = ("z_", "u_", "x_missing_", "hs_z")
_STRUCTURAL_PRIORS = ("slope",)


class ChecksExistError(AllianceLearningError, FileExistsError):
    """The run directory holds checks already (pass ``force=True`` / ``--force``)."""


@dataclass(frozen=True)
class Checks:
    """Every posterior check of one run.

    Attributes
    ----------
    verdict : DominanceVerdict
        The verdict, its probabilities and the gates.
    diagnostics : dict
        :func:`analysis.sampling_diagnostics` of the run.
    decomposition : xarray.Dataset
        :func:`analysis.variance_decomposition` per draw (dims chain, draw, level, side,
        group).
    effects : xarray.DataArray or None
        Readable effects per draw (dims chain, draw, condition).
    ppc, loo, sensitivity, dominance
        The results of those checks, or None when skipped (see ``skipped``) or failed
        (see ``errors``).
    skipped : dict of str to str
        Why a part was not computed.
    errors : dict of str to str
        Parts that failed, with the error.
    settings : dict
        Run path, outcome, family, rope, probability threshold, seed, interval probability.
    submodels : dict
        Sub-models fitted for the predictive comparison: conditions, seed, seconds and
        diagnostics (the dominance analysis keeps its own in ``dominance.submodels``).
    tree : xarray.DataTree
        The run's fit (kept for the figures).
    """

    verdict: DominanceVerdict
    diagnostics: dict
    decomposition: xr.Dataset
    effects: xr.DataArray | None = None
    ppc: PosteriorPredictiveChecks | None = None
    loo: PredictiveComparison | None = None
    sensitivity: PriorSensitivity | None = None
    dominance: DominanceAnalysis | None = None
    skipped: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    submodels: dict = field(default_factory=dict)
    tree: xr.DataTree | None = field(default=None, repr=False, compare=False)

    @property
    def trustworthy(self) -> bool:
        """Whether the run passed every diagnostic gate."""
        return self.verdict.trustworthy

    @property
    def exit_code(self) -> int:
        """0 when the run is trustworthy, :data:`EXIT_NOT_TRUSTWORTHY` (3) otherwise."""
        return 0 if self.trustworthy else EXIT_NOT_TRUSTWORTHY

    def shares(self) -> xr.Dataset:
        """Posterior summaries of the shares: dims (level | side | group, stat).

        ``share`` and ``variance_alone`` by level, ``side_share`` (Pratt, fixed part) and
        ``side_share_of_total`` (with the side's group variance, over the total latent
        variance) by side, ``share_of_total`` by level, ``group_share_of_total`` by group
        and ``residual_share_of_total``.
        """
        names = [n for n in ("share", "variance_alone", "share_of_total", "side_share",
                             "side_variance_alone", "side_share_of_total", "group_share_of_total",
                             "residual_share_of_total") if n in self.decomposition]
        return posterior_summary(self.decomposition[names], prob=self.settings.get("ci_prob"))

    def figures(self) -> dict:
        """Every figure, keyed by a file stem (``<key>.png``); a failing figure is skipped."""
        makers = {"shares": lambda: plot_shares(self.decomposition,
                                                prob=self.settings.get("ci_prob"))}
        if self.effects is not None:
            makers["effects"] = lambda: plot_effects(self.effects, prob=self.settings.get("ci_prob"))
        if self.dominance is not None:
            makers["dominance"] = lambda: plot_dominance(self.dominance,
                                                         prob=self.settings.get("ci_prob"))
        if self.loo is not None:
            makers["loo_comparison"] = lambda: plot_comparison(self.loo)
        if self.sensitivity is not None and self.tree is not None:
            makers["prior_sensitivity"] = lambda: plot_sensitivity(
                self.tree, {"side_share": self.decomposition["side_share"]})
        out = {}
        if self.ppc is not None:
            try:
                out.update(self.ppc.figures())
            except Exception as err:  # a figure must not lose the checks
                logger.warning("posterior predictive figures not drawn: %s", err)
        for key, make in makers.items():
            try:
                out[key] = make()
            except Exception as err:
                logger.warning("figure %s not drawn: %s", key, err)
        return out

    def to_dict(self) -> dict:
        """Plain-JSON form, the content of ``checks.json``."""
        prob = self.settings.get("ci_prob")
        out = {
            "schema_version": CHECKS_SCHEMA_VERSION,
            "settings": self.settings,
            "trustworthy": self.trustworthy,
            "verdict": self.verdict.to_dict(),
            "diagnostics": {k: json_scalar(v) for k, v in self.diagnostics.items()},
            "shares": _shares_dict(self.shares()),
            "effects": None,
            "ppc": None if self.ppc is None else self.ppc.to_dict(),
            "loo": None if self.loo is None else self.loo.to_dict(),
            "sensitivity": None if self.sensitivity is None else self.sensitivity.to_dict(),
            "dominance": None if self.dominance is None else self.dominance.to_dict(prob=prob),
            "submodels": self.submodels,
            "skipped": dict(self.skipped),
            "errors": dict(self.errors),
        }
        if self.effects is not None:
            table = posterior_summary(self.effects, prob=prob)
            out["effects"] = {
                "quantity": self.effects.attrs.get("quantity"),
                "conditions": {str(c): {str(s): json_scalar(table.sel(condition=c, stat=s))
                                        for s in table["stat"].values}
                               for c in table["condition"].values},
            }
        return out

    def __str__(self) -> str:
        """Readable report: verdict, shares, then each check's own summary."""
        s = self.settings
        lines = [f"Checks of {s.get('run') or 'the run'}: {s.get('outcome')} ({s.get('family')})",
                 str(self.verdict), "", _shares_text(self.shares())]
        if self.effects is not None:
            table = posterior_summary(self.effects, prob=s.get("ci_prob"))
            lines += ["", f"Readable effects: {self.effects.attrs.get('quantity')}"]
            for c in table["condition"].values:
                row = table.sel(condition=c)
                lines.append(f"  {str(c):<28} {float(row.sel(stat='mean')):+.3f} "
                             f"[{float(row.sel(stat='lower')):+.3f}, {float(row.sel(stat='upper')):+.3f}]")
        for part in (self.dominance, self.loo, self.ppc, self.sensitivity):
            if part is not None:
                lines += ["", str(part)]
        for name, why in self.skipped.items():
            lines.append(f"{name}: skipped ({why})")
        for name, error in self.errors.items():
            lines.append(f"{name}: FAILED ({error})")
        return "\n".join(lines)


def _shares_dict(table: xr.Dataset) -> dict:
    out = {}
    for name, da in table.data_vars.items():
        dims = [d for d in da.dims if d != "stat"]
        if not dims:
            out[name] = {str(s): json_scalar(da.sel(stat=s)) for s in da["stat"].values}
        else:
            out[name] = {str(k): {str(s): json_scalar(da.sel({dims[0]: k, "stat": s}))
                                  for s in da["stat"].values}
                         for k in da[dims[0]].values}
    out["interval"] = f"{table.attrs.get('ci_prob')} {table.attrs.get('interval')}"
    return out


def _shares_text(table: xr.Dataset) -> str:
    def cell(da, key=None, dim=None):
        row = da if key is None else da.sel({dim: key})
        return (f"{float(row.sel(stat='mean')):6.3f} "
                f"[{float(row.sel(stat='lower')):6.3f}, {float(row.sel(stat='upper')):6.3f}]")

    lines = [f"Variance shares ({table.attrs.get('ci_prob'):.0%} {table.attrs.get('interval')}): "
             "Pratt share of the fixed part | share of the total latent variance"]
    for side in table["side"].values:
        lines.append(f"  {str(side):<22} {cell(table['side_share'], side, 'side')} | "
                     f"{cell(table['side_share_of_total'], side, 'side')}")
    for level in table["level"].values:
        lines.append(f"  {str(level):<22} {cell(table['share'], level, 'level')} | "
                     f"{cell(table['share_of_total'], level, 'level')}")
    return "\n".join(lines)


# -- quantities read from a fit ---------------------------------------------------------------
def condition_values(tree: xr.DataTree, condition: str) -> xr.DataArray:
    """Return one condition's standardised value per individual and draw (imputed codes drawn).

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, individual).
    """
    constant = tree["constant_data"]
    posterior = tree["posterior"]
    level = str(constant["condition_level"].sel(condition=condition).values)
    X = constant[f"X_{level}"]
    cond_dim = f"{level}_condition"
    values = X.values
    j = [str(c) for c in X[cond_dim].values].index(condition)
    column = np.where(np.isnan(values[:, j]), 0.0, values[:, j])
    full = np.broadcast_to(column, (posterior.sizes["chain"], posterior.sizes["draw"], len(column))).copy()
    rows, cols = np.nonzero(np.isnan(values))  # the model's order of the missing codes
    if len(rows):
        latent = posterior[f"x_missing_{level}"].transpose(*SAMPLE_DIMS, ...).values
        full[:, :, rows[cols == j]] = latent[:, :, cols == j]
    if level != "individual":
        full = full[:, :, constant[f"idx_{level}"].values]
    return xr.DataArray(full, dims=(*SAMPLE_DIMS, UNIT_DIM),
                        coords={d: posterior[d].values for d in SAMPLE_DIMS}
                        | {UNIT_DIM: constant[UNIT_DIM].values})


def linear_predictor(tree: xr.DataTree, *, group_effects: bool = True) -> xr.DataArray:
    """Return the linear predictor of each individual per draw, at the observed data.

    ``eta = intercept + sum_L X_L b_L (+ group intercepts + varying slopes)``; cutpoints are
    not in it (they are the ordinal family's thresholds on eta).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit or a run's tree.
    group_effects : bool
        Add the group intercepts and the varying slopes (default); False gives the fixed
        part of the conditions only (plus the intercept).

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, individual).
    """
    from models import contributions

    posterior = tree["posterior"]
    constant = tree["constant_data"]
    if "b" in posterior and posterior.sizes.get("condition", 0):
        eta = contributions(tree, by="level").sum("level")
    else:
        shape = (posterior.sizes["chain"], posterior.sizes["draw"], constant.sizes[UNIT_DIM])
        eta = xr.DataArray(np.zeros(shape), dims=(*SAMPLE_DIMS, UNIT_DIM),
                           coords={d: posterior[d].values for d in SAMPLE_DIMS}
                           | {UNIT_DIM: constant[UNIT_DIM].values})
    if "intercept" in posterior:
        eta = eta + posterior["intercept"]
    if not group_effects:
        return eta.rename("eta")
    for level in GROUP_LEVELS:
        if f"u_{level}" in posterior:
            idx = xr.DataArray(constant[f"idx_{level}"].values, dims=UNIT_DIM)
            u = posterior[f"u_{level}"].isel({level: idx}).drop_vars(level, errors="ignore")
            eta = eta + u.assign_coords({UNIT_DIM: constant[UNIT_DIM].values})
    if "slope" in posterior:
        idx = xr.DataArray(constant["idx_alliance"].values, dims=UNIT_DIM)
        active = constant["condition_active"] if "condition_active" in constant else None
        for name in posterior["slope_condition"].values:
            if active is not None and not bool(active.sel(condition=name)):
                continue
            slope = posterior["slope"].sel(slope_condition=name).isel(alliance=idx)
            slope = slope.drop_vars(["alliance", "slope_condition"], errors="ignore")
            eta = eta + condition_values(tree, str(name)) * slope.assign_coords(
                {UNIT_DIM: constant[UNIT_DIM].values})
    return eta.transpose(*SAMPLE_DIMS, UNIT_DIM).rename("eta")


def decompose(tree: xr.DataTree) -> xr.Dataset:
    """Decompose the variance of a fit's linear predictor (:func:`analysis.variance_decomposition`).

    Sides and levels come from the fit's ``condition_side`` and ``condition_level``
    coordinates (the codebook's, at fitting time); each group level's variance is its
    ``sd_<level>`` squared, on the codebook's default side. Computed on chunks of draws
    (:func:`models.predictive.over_draw_chunks`): never individuals x draws x terms at once.
    """
    from models.predictive import over_draw_chunks

    return over_draw_chunks(tree, _decompose, values_per_draw=_values_per_draw(tree))


def _values_per_draw(tree: xr.DataTree) -> int:
    """Numbers per draw of the largest per-individual array (one per condition, and eta)."""
    return tree["constant_data"].sizes[UNIT_DIM] * (tree["posterior"].sizes.get("condition", 0) + 2)


def _decompose(tree: xr.DataTree) -> xr.Dataset:
    from models import contributions

    posterior = tree["posterior"]
    if "b" not in posterior or not posterior.sizes.get("condition", 0):
        raise ValueError("the run has no conditions: there is nothing to decompose")
    conditions = [str(c) for c in posterior["condition"].values]
    sides = dict(zip(conditions, map(str, posterior["condition_side"].values), strict=True))
    levels = dict(zip(conditions, map(str, posterior["condition_level"].values), strict=True))
    family = family_of(tree)
    group_var = {level: posterior[f"sd_{level}"] ** 2 for level in GROUP_LEVELS
                 if f"sd_{level}" in posterior}
    sigma = family.residual_sd(posterior)
    level_side = {levels[c]: set() for c in conditions}
    for c in conditions:
        level_side[levels[c]].add(sides[c])
    if all(len(s) == 1 for s in level_side.values()):
        # each level on one side: sum within levels first (a quarter of the memory)
        parts = contributions(tree, by="level")
        level_sides = {level: next(iter(s)) for level, s in level_side.items()}
        return variance_decomposition(parts, sides=level_sides, group_var=group_var or None,
                                      family=family.name, sigma=sigma)
    parts = contributions(tree, by="condition")
    return variance_decomposition(parts, sides=sides, levels=levels, group_var=group_var or None,
                                  family=family.name, sigma=sigma)


def family_of(tree: xr.DataTree):
    """The fit's ``models.Family`` (imported here: importing analysis loads no PyMC)."""
    from models.families import family_of

    return family_of(tree)


def _effects_of(tree: xr.DataTree) -> xr.DataArray:
    posterior = tree["posterior"]
    family = family_of(tree)
    b = posterior["b"].drop_vars(["condition_level", "condition_side"], errors="ignore")
    cutpoints = posterior["cutpoints"] if "cutpoints" in posterior else None
    return readable_effects(b, linear_predictor(tree), family=family, cutpoints=cutpoints,
                            outcome_sd=float(tree.attrs.get("outcome_scale", 1.0)),
                            contrast=binary_contrasts(tree))


def effects_of(tree: xr.DataTree) -> xr.DataArray:
    """Return the readable effects of +1 SD of each condition, 0 -> 1 of a binary one
    (:func:`analysis.readable_effects`).

    Computed on chunks of draws (the linear predictor is individuals x draws).
    """
    from models.predictive import over_draw_chunks

    return over_draw_chunks(tree, _effects_of, values_per_draw=_values_per_draw(tree))


def top_level_priors(tree: xr.DataTree) -> list[str] | None:
    """Return the log-prior terms a user chooses (effects, group SDs, cutpoints, sigma...)."""
    if "log_prior" not in tree.children:
        return None
    names = [str(n) for n in tree["log_prior"].data_vars]
    return [n for n in names if not n.startswith(_STRUCTURAL_PRIOR_PREFIXES)
            and n not in _STRUCTURAL_PRIORS] or None


# -- the orchestrator -------------------------------------------------------------------------
def check_run(
    run,
    *,
    rope: float = 0.05,
    prob_threshold: float = 0.95,
    dominance: bool = True,
    loo: bool = True,
    sensitivity: bool = True,
    ppc: bool = True,
    workers: int | None = None,
    seed: int | None = None,
    gates: tuple[Gate, ...] = DEFAULT_GATES,
    prob: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Checks:
    """Run every posterior check of a run (module docstring).

    Parameters
    ----------
    run : models.Run
        A loaded (:func:`models.load_run`) or saved run.
    rope : float, default 0.05
        Half-width of the region of practical equivalence of the share difference.
    prob_threshold : float, default 0.95
        Probability needed for a dominance verdict.
    dominance, loo, sensitivity, ppc : bool
        Compute the dominance analysis (``2^p - 2`` sub-model fits for ``p`` levels), the
        predictive comparison (3 sub-model fits), the prior sensitivity, the posterior
        predictive checks.
    workers : int, optional
        Parallel processes for the sub-model fits (default ``min(cpu_count, fits)``).
    seed : int, optional
        Base seed of the sub-model fits and of LOO-PIT; default the run's seed.
    gates : tuple of Gate
        Diagnostic gates (:data:`analysis.DEFAULT_GATES`).
    prob : float, optional
        Interval probability of the summaries (default ArviZ's ``stats.ci_prob``).
    progress : callable, optional
        Receives one line per step (default: logged at INFO level).

    Returns
    -------
    Checks
        Its ``str`` is a readable report, ``to_dict()`` the content of ``checks.json``.
    """
    say = progress or logger.info
    tree = run.tree
    if loo or sensitivity or ppc:  # a saved run's log-likelihood is recomputed, not stored
        from models import with_log_likelihood

        tree = with_log_likelihood(tree, run.spec, run.survey)
    seed = int(run.config.sampling.seed if seed is None else seed)
    prob = arviz_base.rcParams["stats.ci_prob"] if prob is None else prob
    family = family_of(tree)
    settings = {"run": None if run.path is None else str(run.path), "outcome": tree.attrs.get("outcome"),
                "family": family.name, "rope": rope, "prob_threshold": prob_threshold, "seed": seed,
                "ci_prob": prob, "gates": [g.label for g in gates],
                "written": datetime.now(UTC).isoformat(timespec="seconds")}
    skipped: dict[str, str] = {}
    errors: dict[str, str] = {}

    def attempt(name: str, compute):
        started = time.perf_counter()
        try:
            result = compute()
        except Exception as err:
            logger.warning("%s failed: %s", name, err, exc_info=logger.isEnabledFor(logging.DEBUG))
            errors[name] = f"{type(err).__name__}: {err}"
            return None
        say(f"{name} done in {time.perf_counter() - started:.1f} s")
        return result

    say("diagnostics and variance decomposition")
    diagnostics = sampling_diagnostics(tree)
    decomposition = decompose(tree)
    verdict = dominance_verdict(decomposition["side_share"], diagnostics, rope=rope,
                                prob_threshold=prob_threshold, gates=gates)
    say(f"verdict: {verdict.verdict}")
    effects = attempt("readable effects", lambda: effects_of(tree))

    ppc_result = None
    if not ppc:
        skipped["ppc"] = "not asked for"
    elif family.ppc not in CHECK_KINDS:
        skipped["ppc"] = f"no posterior predictive check of the {family.ppc} kind"
    elif "posterior_predictive" not in tree.children:
        skipped["ppc"] = "the run has no posterior predictive draws (fitted with predictive=False)"
    else:
        ppc_result = attempt("posterior predictive checks", lambda: _ppc(tree, seed))

    sensitivity_result = None
    if not sensitivity:
        skipped["sensitivity"] = "not asked for"
    elif not {"log_prior", "log_likelihood"} <= set(tree.children):
        skipped["sensitivity"] = "the run has no log_prior / log_likelihood groups"
    else:
        quantities = {"side_share": decomposition["side_share"], "share": decomposition["share"]}
        sensitivity_result = attempt("prior sensitivity", lambda: prior_sensitivity(
            tree, quantities, verdict=verdict, prior_var_names=top_level_priors(tree)))

    # sub-models: dominance analysis and predictive comparison, fitted together
    groups = level_groups(tree)
    requests: dict[str, tuple[str, ...]] = {}
    loo_models: dict[str, tuple[str, ...]] = {}
    refused = (f"the run failed its diagnostic gate(s) "
               f"({', '.join(r.gate.label for r in verdict.gates if not r.passed)}); "
               "refit the run before fitting sub-models")
    if not dominance:
        skipped["dominance"] = "not asked for"
    elif not verdict.trustworthy:
        skipped["dominance"] = refused
    elif len(groups) < 2:
        skipped["dominance"] = f"conditions at {len(groups)} level(s); dominance needs two or more"
    else:
        requests.update(dominance_requests(tree))
    if not loo:
        skipped["loo"] = "not asked for"
    elif not verdict.trustworthy:
        skipped["loo"] = refused
    elif "log_likelihood" not in tree.children:
        skipped["loo"] = "the run has no log_likelihood group (fitted with predictive=False)"
    else:
        loo_models = _side_models(tree)
        requests.update({f"loo:{name}": conditions for name, conditions in loo_models.items()})

    fits = {}
    if requests:
        started = time.perf_counter()
        fits = attempt("sub-model fits", lambda: fit_submodels(
            run, requests, seed=seed, workers=workers, progress=say,
            log_likelihood=[f"loo:{name}" for name in loo_models])) or {}
        settings["submodel_fits"] = len({v.conditions for v in fits.values()})
        settings["submodel_seconds"] = round(time.perf_counter() - started, 1)
        for name in ("dominance", "loo"):
            if "sub-model fits" in errors and name not in skipped:
                skipped[name] = "the sub-model fits failed"

    dominance_result = None
    if dominance and "dominance" not in skipped:
        dominance_result = attempt("dominance analysis", lambda: dominance_analysis(
            run, seed=seed, fits={k: v for k, v in fits.items() if not k.startswith("loo:")},
            gates=gates))

    loo_result = None
    submodels = {}
    if loo and "loo" not in skipped:
        trees = {name: fits[f"loo:{name}"].tree for name in loo_models}
        loo_result = attempt("predictive comparison", lambda: predictive_comparison(
            {**{k: v for k, v in trees.items() if k != "null"}, "both": tree, "null": trees["null"]}))
        for name in loo_models:
            fitted = fits[f"loo:{name}"]
            failed = [g.label for g in gates if not g.check(fitted.diagnostics.get(g.statistic))]
            submodels[name] = {"conditions": list(fitted.conditions), "seed": fitted.seed,
                               "seconds": round(fitted.seconds, 1), "passed": not failed,
                               "failed_gates": failed}

    return Checks(verdict=verdict, diagnostics=diagnostics, decomposition=decomposition,
                  effects=effects, ppc=ppc_result, loo=loo_result,
                  sensitivity=sensitivity_result, dominance=dominance_result, skipped=skipped,
                  errors=errors, settings=settings, submodels=submodels, tree=tree)


def _side_models(tree: xr.DataTree) -> dict[str, tuple[str, ...]]:
    """Conditions of the interpersonal-only, interorganisational-only and null models.

    A side without conditions has no model of its own (it would be the null model).
    """
    posterior = tree["posterior"]
    conditions = [str(c) for c in posterior["condition"].values]
    sides = [str(s) for s in posterior["condition_side"].values]
    out = {}
    for side in SIDES:
        mine = tuple(c for c, s in zip(conditions, sides, strict=True) if s == side)
        if mine and len(mine) < len(conditions):
            out[side] = mine
        elif not mine:
            logger.info("no %s conditions: no %s-only model in the predictive comparison", side, side)
    out["null"] = ()
    return out


def _ppc(tree: xr.DataTree, seed: int) -> PosteriorPredictiveChecks:
    constant = tree["constant_data"]
    # every group level of the fit (a two-level survey may have organisations only)
    levels = [lvl for lvl in ("alliance", "network", "organisation") if f"idx_{lvl}" in constant]
    family = family_of(tree)
    return posterior_predictive_checks(tree, groups=groups_from_constant_data(tree, levels),
                                       categories=family.categories(int(tree.attrs.get("n_categories", 0)) or None),
                                       kind=family.ppc, discrete=family.discrete, seed=seed)


# -- figures ----------------------------------------------------------------------------------
def _interval_rows(ax, table: xr.DataArray, dim: str, *, colour="#0072B2", reference=None):
    labels = [str(v) for v in table[dim].values]
    y = np.arange(len(labels))[::-1]
    mean = table.sel(stat="mean").values
    lower, upper = table.sel(stat="lower").values, table.sel(stat="upper").values
    ax.hlines(y, lower, upper, color=colour, linewidth=2)
    ax.plot(mean, y, "o", color=colour)
    ax.set_yticks(y, [label.replace("$", r"\$") for label in labels])
    ax.set_ylim(-0.6, len(labels) - 0.4)
    if reference is not None:
        ax.axvline(reference, color="#999999", linewidth=1, linestyle="--")


def plot_shares(decomposition: xr.Dataset, *, prob: float | None = None):
    """Side and level shares with intervals: Pratt shares of the fixed part, shares of total."""
    table = posterior_summary(decomposition[["side_share", "share", "side_share_of_total",
                                             "share_of_total"]], prob=prob)
    fig = new_figure(9, 4.5)
    axes = fig.subplots(2, 2, sharex="col", height_ratios=[1, 2])
    for col, (side_name, level_name, title) in enumerate((
            ("side_share", "share", "Pratt share of the fixed part"),
            ("side_share_of_total", "share_of_total", "share of the total latent variance"))):
        _interval_rows(axes[0, col], table[side_name], "side", colour="#D55E00",
                       reference=0.5 if col == 0 else None)
        _interval_rows(axes[1, col], table[level_name], "level", reference=0.0)
        axes[0, col].set_title(title)
    fig.suptitle(f"Variance shares (mean and {table.attrs['ci_prob']:.0%} interval)")
    return fig


def plot_effects(effects: xr.DataArray, *, prob: float | None = None):
    """Readable effect of +1 SD of each condition, with intervals."""
    table = posterior_summary(effects, prob=prob)
    fig = new_figure(7, 0.35 * effects.sizes["condition"] + 1.2)
    ax = fig.subplots()
    _interval_rows(ax, table, "condition", reference=0.0)
    ax.set_xlabel(str(effects.attrs.get("quantity", "effect")))
    return fig


def plot_dominance(result: DominanceAnalysis, *, prob: float | None = None):
    """General dominance of each level group (latent R^2 it adds on average), with intervals."""
    table = posterior_summary(result.general, prob=prob).sel(level=result.ranking)
    fig = new_figure(7, 0.5 * len(result.groups) + 1.2)
    ax = fig.subplots()
    _interval_rows(ax, table, "level", reference=0.0)
    ax.set_xlabel("general dominance (latent R2 of the fixed part)")
    return fig


# -- saving -----------------------------------------------------------------------------------
def checks_dir(run_dir: str | Path) -> Path:
    """Return the folder of a run directory that holds ``checks.json`` and the figures."""
    return Path(run_dir) / CHECKS_DIR


def check_checks_target(run_dir: str | Path, *, force: bool = False) -> None:
    """Raise :class:`ChecksExistError` when earlier checks would be replaced without force."""
    target = checks_dir(run_dir)
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    if target.exists() and not force:
        raise ChecksExistError(f"{target}: the run has checks already; pass --force to replace them")


def save_checks(checks: Checks, run_dir: str | Path, *, force: bool = False,
                figures: bool = True) -> Path:
    """Write ``checks/checks.json`` and one PNG per figure into a run directory, atomically.

    The folder is written beside its target under a temporary name and renamed into place,
    so it is complete or absent.

    Parameters
    ----------
    checks : Checks
    run_dir : str or Path
        The run directory.
    force : bool
        Replace earlier checks.
    figures : bool
        Also write the figures (``<name>.png``).

    Returns
    -------
    Path
        The checks folder.

    Raises
    ------
    ChecksExistError
        When the run has checks already and ``force`` is false.
    """
    run_dir = Path(run_dir)
    check_checks_target(run_dir, force=force)
    target = checks_dir(run_dir)
    with atomic_dir(target, replace=True) as staging:  # replacing was allowed just above
        content = checks.to_dict()
        written = []
        if figures:
            for name, fig in checks.figures().items():
                fig.savefig(staging / f"{name}.png", dpi=110)
                written.append(f"{name}.png")
        content["figures"] = written
        (staging / CHECKS_FILE).write_text(json.dumps(content, indent=2, allow_nan=False,
                                                      ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("checks written to %s", target)
    return target


def load_checks(run_dir: str | Path) -> dict:
    """Read ``checks/checks.json`` of a run directory."""
    path = checks_dir(run_dir) / CHECKS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the run has no checks yet (run `alliance-learning check`)")
    return json.loads(path.read_text(encoding="utf-8"))
