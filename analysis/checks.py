"""All posterior checks of a run in one call, and their record in the run directory.

:func:`check_run` computes, from a saved run or a fit held in memory (DESIGN.md §4):

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
8. the Bayesian dominance analysis of the level groups (:mod:`analysis.dominance`);
9. for a rater-model run, the raters' severities and the model-implied agreement per
   condition beside Krippendorff's alpha of the codes (:mod:`analysis.raters`).

The contributions of the conditions to the linear predictor (draws x individuals x levels,
the costly part at large n) are rebuilt from the posterior once (:mod:`models.contributions`)
and shared by 2, 4 and the full model's R^2 in 8.

The sub-models of 6 and 8 are fitted together, in parallel, reusing the run's compiled
model (:mod:`analysis.submodels`). When the run fails a diagnostic gate the verdict is
``not trustworthy`` and the sub-models are not fitted: a refit of a posterior that cannot be
trusted says nothing more.

No part can lose the others or the record: a part that raises is recorded in ``errors``
with its error (logged; with its traceback at DEBUG level), a part that yields NaN where
numbers are expected is recorded there too, and a part that was not computed is in
``skipped`` with the reason.

:func:`save_checks` writes ``checks/checks.json`` (NaN written as null), ``checks/draws.nc``
(the per-draw arrays, compressed NetCDF) and one PNG per figure into the run directory,
atomically, and refuses to replace earlier checks unless ``force``. :func:`load_checks`
reads them back as the same :class:`Checks`: the report renders that object only.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import arviz_base
import numpy as np
import pandas as pd
import xarray as xr

from data.codebook import SIDES
from data.errors import AllianceLearningError
from data.files import atomic_dir
from data.jsonable import json_scalar

from .decomposition import (
    UNIT_DIM,
    bayesian_r2_latent,
    decomposition_from_covariance,
    posterior_summary,
    residual_variance,
    variance_decomposition,
)
from .dominance import (
    DominanceAnalysis,
    dominance_analysis,
    dominance_requests,
    level_groups,
)
from .effects import binary_codes, binary_contrasts, readable_effects
from .figures import new_figure
from .loo import PredictiveComparison, predictive_comparison
from .ppc import (
    CHECK_KINDS,
    GroupStatisticCheck,
    LooPitCheck,
    PosteriorPredictiveChecks,
    groups_from_constant_data,
    loo_pit_by_chunks,
    posterior_predictive_checks,
)
from .raters import RaterAgreement, plot_raters, rater_agreement
from .sensitivity import PriorSensitivity, prior_sensitivity
from .submodels import fit_submodels, kept_sampling
from .verdict import (
    DEFAULT_GATES,
    NOT_APPLICABLE,
    DominanceVerdict,
    Gate,
    GateResult,
    dominance_verdict,
    sampling_diagnostics,
)

logger = logging.getLogger(__name__)

__all__ = ["Checks", "ChecksExistError", "check_run", "load_checks", "save_checks",
           "linear_predictor"]

CHECKS_SCHEMA_VERSION = 2
CHECKS_DIR = "checks"
CHECKS_FILE = "checks.json"
# The per-draw arrays of the checks (decomposition, effects, verdict, parts' draws).
DRAWS_FILE = "draws.nc"
# Exit code of `alliance-learning check` when the run fails its diagnostic gates.
EXIT_NOT_TRUSTWORTHY = 3


class ChecksExistError(AllianceLearningError, FileExistsError):
    """The run directory holds checks already (pass ``force=True`` / ``--force``)."""


@dataclass(frozen=True)
class Checks:
    """Every posterior check of one run.

    The same object whether just computed (:func:`check_run`) or read back
    (:func:`load_checks`); reports render it and nothing else.

    Attributes
    ----------
    verdict : DominanceVerdict or None
        The verdict, its probabilities and the gates; None when it could not be computed
        (the reason is in ``errors``).
    diagnostics : dict
        :func:`analysis.sampling_diagnostics` of the run.
    decomposition : xarray.Dataset or None
        :func:`analysis.variance_decomposition` per draw (dims chain, draw, level, side,
        group); None when it failed or the run has no conditions.
    effects : xarray.DataArray or None
        Readable effects per draw (dims chain, draw, condition).
    ppc, loo, sensitivity, dominance
        The results of those checks, or None when skipped (see ``skipped``) or failed
        (see ``errors``). Read back from disk, ``loo`` has no pointwise ``elpd`` and keeps
        the first flagged observations only (as ``checks.json``).
    skipped : dict of str to str
        Why a part was not computed.
    errors : dict of str to str
        Parts that failed or yielded NaN, with the error.
    settings : dict
        Run path, outcome, family, rope, probability threshold, seed, interval probability.
    submodels : dict
        Sub-models fitted for the predictive comparison: conditions, seed, seconds, the
        gates they failed, draws per chain kept and extensions
        (:func:`analysis.submodels.kept_sampling`); the dominance analysis keeps its own in
        ``dominance.submodels``.
    gates : tuple of Gate
        The diagnostic gates checked.
    tree : xarray.DataTree
        The run's fit (kept for the figures; None when read back).
    raters : RaterAgreement or None
        Rater severities and agreement (:func:`analysis.raters.rater_agreement`); None when
        the run has no rater model.
    """

    verdict: DominanceVerdict | None
    diagnostics: dict
    decomposition: xr.Dataset | None
    effects: xr.DataArray | None = None
    ppc: PosteriorPredictiveChecks | None = None
    loo: PredictiveComparison | None = None
    sensitivity: PriorSensitivity | None = None
    dominance: DominanceAnalysis | None = None
    skipped: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    submodels: dict = field(default_factory=dict)
    gates: tuple[Gate, ...] = DEFAULT_GATES
    tree: xr.DataTree | None = field(default=None, repr=False, compare=False)
    raters: RaterAgreement | None = None

    @property
    def gate_results(self) -> tuple[GateResult, ...]:
        """Each gate checked against the diagnostics."""
        if self.verdict is not None:
            return self.verdict.gates
        return tuple(GateResult(g, self.diagnostics.get(g.statistic),
                                g.check(self.diagnostics.get(g.statistic))) for g in self.gates)

    @property
    def trustworthy(self) -> bool:
        """Whether the run passed every diagnostic gate."""
        return all(r.passed for r in self.gate_results)

    @property
    def verdict_name(self) -> str:
        """The verdict in words, or ``not computed`` when it failed (see ``errors``)."""
        return "not computed" if self.verdict is None else self.verdict.verdict

    @property
    def exit_code(self) -> int:
        """0 when the run is trustworthy, :data:`EXIT_NOT_TRUSTWORTHY` (3) otherwise."""
        return 0 if self.trustworthy else EXIT_NOT_TRUSTWORTHY

    def shares(self) -> xr.Dataset | None:
        """Posterior summaries of the shares: dims (level | side | group, stat); None without them.

        ``share`` and ``variance_alone`` by level, ``side_share`` (Pratt, fixed part) and
        ``side_share_of_total`` (with the side's group variance, over the total latent
        variance) by side, ``share_of_total`` by level, ``group_share_of_total`` by group
        and ``residual_share_of_total``.
        """
        if self.decomposition is None:
            return None
        names = [n for n in ("share", "variance_alone", "share_of_total", "side_share",
                             "side_variance_alone", "side_share_of_total", "group_share_of_total",
                             "residual_share_of_total") if n in self.decomposition]
        return posterior_summary(self.decomposition[names], prob=self.settings.get("ci_prob"))

    def figures(self) -> dict:
        """Every figure the report shows, keyed by a file stem (``<key>.png``).

        Only figures the report embeds are made (the report tags each with its stem as
        ``data-figure``): the overall predictive check, the between-group variance of the
        mean outcome per grouping, the LOO-PIT, the variance shares, the effects and the
        general dominance, and the raters (severities, agreement beside Krippendorff's alpha)
        of a rater-model run. The per-group category shares, the LOO comparison and the prior
        sensitivity are tables in the report, so no figure of them is written.
        A figure that fails is left out and recorded in ``errors`` (``figure <key>``).
        """
        prob = self.settings.get("ci_prob")
        makers = {}
        if self.decomposition is not None:
            makers["shares"] = lambda: plot_shares(self.decomposition, prob=prob)
        if self.effects is not None:
            makers["effects"] = lambda: plot_effects(self.effects, prob=prob)
        if self.dominance is not None:
            makers["dominance"] = lambda: plot_dominance(self.dominance, prob=prob)
        if self.raters is not None:
            makers["raters"] = lambda: plot_raters(self.raters, prob=prob)
        out = {}
        if self.ppc is not None:
            try:
                # the per-group category shares (ppc_<grouping>) are a table in the report
                out.update(self.ppc.figures(
                    lambda key: key in ("ppc_overall", "loo_pit") or key.endswith("_variance")))
            except Exception as err:  # a figure must not lose the checks
                self._record_error("figure ppc", err)
        for key, make in makers.items():
            try:
                out[key] = make()
            except Exception as err:
                self._record_error(f"figure {key}", err)
        return out

    def _record_error(self, name: str, err: Exception) -> None:
        logger.warning("%s failed: %s", name, err, exc_info=logger.isEnabledFor(logging.INFO))
        self.errors[name] = f"{type(err).__name__}: {err}"

    def to_dict(self) -> dict:
        """Plain-JSON form, the content of ``checks.json`` (NaN and infinities as None).

        A part whose record cannot be written is None, with the reason in ``errors``.
        """
        prob = self.settings.get("ci_prob")

        def record(name: str, make):
            try:
                return make()
            except Exception as err:
                self._record_error(f"record of {name}", err)
                return None

        out = {
            "schema_version": CHECKS_SCHEMA_VERSION,
            "settings": self.settings,
            "trustworthy": self.trustworthy,
            "verdict": None if self.verdict is None else record("verdict", self.verdict.to_dict),
            "gates": [_gate_dict(r) for r in self.gate_results],
            "diagnostics": {k: json_scalar(v) for k, v in self.diagnostics.items()},
            "shares": None if self.decomposition is None else record(
                "shares", lambda: _shares_dict(self.shares())),
            "effects": None if self.effects is None else record(
                "effects", lambda: _effects_dict(self.effects, prob)),
            "ppc": None if self.ppc is None else record("ppc", self.ppc.to_dict),
            "loo": None if self.loo is None else record("loo", self.loo.to_dict),
            "sensitivity": None if self.sensitivity is None else record(
                "sensitivity", self.sensitivity.to_dict),
            "dominance": None if self.dominance is None else record(
                "dominance", lambda: self.dominance.to_dict(prob=prob)),
            "submodels": self.submodels,
            "raters": None if self.raters is None else record(
                "raters", lambda: self.raters.to_dict(prob=prob)),
        }
        out["skipped"] = dict(self.skipped)
        out["errors"] = dict(self.errors)  # last: records that failed above are in it
        return _json_safe(out)

    def draws(self) -> xr.DataTree:
        """Return the per-draw arrays of the checks in one tree (``checks/draws.nc``).

        Groups ``decomposition``, ``effects``, ``verdict`` (the share difference),
        ``dominance``, ``ppc/...``, ``sensitivity/...`` and ``raters``, each present when its
        part is.
        """
        groups: dict[str, xr.Dataset] = {}
        if self.decomposition is not None:
            groups["decomposition"] = self.decomposition
        if self.effects is not None:
            groups["effects"] = _array_group(self.effects)
        if self.verdict is not None and self.verdict.difference is not None:  # none if not applicable
            groups["verdict"] = _array_group(self.verdict.difference)
        if self.dominance is not None:
            d = self.dominance
            groups["dominance"] = xr.Dataset({
                "r2": d.r2, "additional": d.additional, "conditional": d.conditional,
                "general": d.general, "p_complete": d.p_complete,
                "p_conditional": d.p_conditional, "p_general": d.p_general})
        if self.ppc is not None:
            for key, ds in self.ppc.proportions.items():
                groups[f"ppc/proportions/{key}"] = ds
            for key, check in self.ppc.group_statistics.items():
                groups[f"ppc/group_statistics/{key}"] = _array_group(check.replicated)
            if self.ppc.loo_pit is not None:
                groups["ppc/loo_pit"] = _array_group(self.ppc.loo_pit.values)
        if self.sensitivity is not None:
            groups["sensitivity/sensitivity"] = self.sensitivity.sensitivity
            if self.sensitivity.verdict is not None:
                groups["sensitivity/verdict"] = self.sensitivity.verdict
        if self.raters is not None:
            groups["raters"] = self.raters.draws
        return xr.DataTree.from_dict(groups)

    @classmethod
    def from_record(cls, record: dict, draws: xr.DataTree | None) -> Checks:
        """Rebuild the checks from ``checks.json``'s content and :meth:`draws` (see :func:`load_checks`)."""
        draws = draws if draws is not None else xr.DataTree()

        def group(path: str) -> xr.Dataset | None:
            try:
                return draws[path].to_dataset()
            except KeyError:
                return None

        gates = tuple(Gate(g["label"], g["statistic"], g["passes_if"], g["threshold"],
                           g.get("source", "")) for g in record.get("gates") or ())
        verdict = None
        if record.get("verdict") is not None and group("verdict") is not None:
            verdict = _verdict_from_record(record["verdict"], _array(group("verdict")))
        elif (record.get("verdict") or {}).get("verdict") == NOT_APPLICABLE:  # no difference
            verdict = _verdict_from_record(record["verdict"], None)
        effects = None if group("effects") is None else _array(group("effects"))
        return cls(
            verdict=verdict,
            diagnostics=dict(record.get("diagnostics") or {}),
            decomposition=group("decomposition"),
            effects=effects,
            ppc=None if record.get("ppc") is None else _ppc_from_record(record["ppc"], draws),
            loo=None if record.get("loo") is None else _loo_from_record(record["loo"]),
            sensitivity=None if record.get("sensitivity") is None else _sensitivity_from_record(
                record["sensitivity"], group("sensitivity/sensitivity"),
                group("sensitivity/verdict")),
            dominance=None if record.get("dominance") is None else _dominance_from_record(
                record["dominance"], group("dominance")),
            skipped=dict(record.get("skipped") or {}),
            errors=dict(record.get("errors") or {}),
            settings=dict(record.get("settings") or {}),
            submodels=dict(record.get("submodels") or {}),
            gates=gates or DEFAULT_GATES,
            raters=RaterAgreement.from_record(record.get("raters"), group("raters")),
        )

    def __str__(self) -> str:
        """Readable report: verdict, shares, then each check's own summary and what failed."""
        s = self.settings
        lines = [f"Checks of {s.get('run') or 'the run'}: {s.get('outcome')} ({s.get('family')})"]
        if self.verdict is not None:
            lines.append(str(self.verdict))
        else:
            lines.append("Verdict: not computed (see the errors below)")
            lines += [f"  {r}" for r in self.gate_results]
        shares = self.shares()
        if shares is not None:
            lines += ["", _shares_text(shares)]
        if self.effects is not None:
            table = posterior_summary(self.effects, prob=s.get("ci_prob"))
            lines += ["", f"Readable effects: {self.effects.attrs.get('quantity')}"]
            for c in table["condition"].values:
                row = table.sel(condition=c)
                lines.append(f"  {str(c):<28} {_number(row.sel(stat='mean'), '+.3f')} "
                             f"[{_number(row.sel(stat='lower'), '+.3f')}, "
                             f"{_number(row.sel(stat='upper'), '+.3f')}]")
        for part in (self.raters, self.dominance, self.loo, self.ppc, self.sensitivity):
            if part is not None:
                lines += ["", str(part)]
        if self.skipped or self.errors:
            lines.append("")
        for name, why in self.skipped.items():
            lines.append(f"{name}: skipped ({why})")
        for name, error in self.errors.items():
            lines.append(f"{name}: FAILED ({error})")
        return "\n".join(lines)


def _json_safe(value):
    """Return a nested record with every float finite or None (``checks.json`` never holds NaN)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if value is None or isinstance(value, str | bool | int | float | np.generic):
        return json_scalar(value)
    return str(value)


def _number(value, spec: str) -> str:
    """Format a number for the text summary; NaN reads as ``NaN``, never as a plausible value."""
    value = float(value)
    return "NaN" if not math.isfinite(value) else format(value, spec)


def _gate_dict(result: GateResult) -> dict:
    g = result.gate
    return {"label": g.label, "statistic": g.statistic, "passes_if": g.passes_if,
            "threshold": g.threshold, "value": result.value, "passed": result.passed,
            "source": g.source}


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


def _effects_dict(effects: xr.DataArray, prob) -> dict:
    table = posterior_summary(effects, prob=prob)
    return {"quantity": effects.attrs.get("quantity"),
            "conditions": {str(c): {str(s): json_scalar(table.sel(condition=c, stat=s))
                                    for s in table["stat"].values}
                           for c in table["condition"].values}}


def _shares_text(table: xr.Dataset) -> str:
    def cell(da, key=None, dim=None):
        row = da if key is None else da.sel({dim: key})
        return (f"{_number(row.sel(stat='mean'), '6.3f')} "
                f"[{_number(row.sel(stat='lower'), '6.3f')}, {_number(row.sel(stat='upper'), '6.3f')}]")

    lines = [f"Variance shares ({table.attrs.get('ci_prob'):.0%} {table.attrs.get('interval')}): "
             "Pratt share of the fixed part | share of the total latent variance"]
    for side in table["side"].values:
        lines.append(f"  {str(side):<22} {cell(table['side_share'], side, 'side')} | "
                     f"{cell(table['side_share_of_total'], side, 'side')}")
    for level in table["level"].values:
        lines.append(f"  {str(level):<22} {cell(table['share'], level, 'level')} | "
                     f"{cell(table['share_of_total'], level, 'level')}")
    return "\n".join(lines)


# -- rebuilding the parts from their record ----------------------------------------------------
def _verdict_from_record(record: dict, difference: xr.DataArray | None) -> DominanceVerdict:
    gates = tuple(GateResult(Gate(g["label"], g["statistic"], g["passes_if"], g["threshold"],
                                  g.get("source", "")), g["value"], bool(g["passed"]))
                  for g in record.get("gates") or ())
    return DominanceVerdict(
        verdict=record["verdict"], p_interpersonal_greater=record["p_interpersonal_greater"],
        p_interpersonal_dominates=record["p_interpersonal_dominates"],
        p_interorganisational_dominates=record["p_interorganisational_dominates"],
        p_equivalent=record["p_equivalent"], rope=record["rope"],
        prob_threshold=record["prob_threshold"], gates=gates,
        difference=difference, reason=record.get("reason"))


def _dominance_from_record(record: dict, ds: xr.Dataset | None) -> DominanceAnalysis | None:
    if ds is None:
        return None
    return DominanceAnalysis(
        groups=tuple(record["groups"]), r2=ds["r2"], additional=ds["additional"],
        conditional=ds["conditional"], general=ds["general"], p_complete=ds["p_complete"],
        p_conditional=ds["p_conditional"], p_general=ds["p_general"],
        submodels=dict(record.get("submodels") or {}), seconds=record.get("seconds"),
        pairing=record.get("pairing"))


def _ppc_from_record(record: dict, draws: xr.DataTree) -> PosteriorPredictiveChecks | None:
    try:
        proportions = {key: node.to_dataset()
                       for key, node in draws["ppc/proportions"].children.items()}
    except KeyError:
        return None
    statistics = {}
    for key, stat in (record.get("group_statistics") or {}).items():
        lower, upper = stat["replicated_interval"]
        statistics[key] = GroupStatisticCheck(
            name=stat["statistic"], group_dim=stat["group"], n_groups=stat["n_groups"],
            observed=_nan(stat["observed"]),
            replicated=_array(draws[f"ppc/group_statistics/{key}"].to_dataset()),
            p_value=_nan(stat["p_value"]), lower=_nan(lower), upper=_nan(upper),
            ci_prob=stat["ci_prob"])
    loo_pit = None
    if record.get("loo_pit") is not None:
        pit = record["loo_pit"]
        loo_pit = LooPitCheck(values=_array(draws["ppc/loo_pit"].to_dataset()),
                              p_value=_nan(pit["uniformity_p_value"]), method=pit["method"],
                              randomised=pit["randomised"], seed=pit["seed"],
                              estimator=pit.get("estimator", "draws"))
    # the kind (category shares or a continuous outcome's statistics) names the tables' rows
    return PosteriorPredictiveChecks(proportions=proportions, group_statistics=statistics,
                                     loo_pit=loo_pit, p_extreme=record["p_extreme"],
                                     kind=record.get("kind", "categories"))


def _loo_from_record(record: dict) -> PredictiveComparison:
    models = record.get("models") or []
    table = pd.DataFrame([{k: v for k, v in m.items() if k not in ("model", "pareto_k")}
                          for m in models], index=pd.Index([m["model"] for m in models],
                                                           name="model"))
    pareto = pd.DataFrame([{k: v for k, v in (m.get("pareto_k") or {}).items() if k != "flagged"}
                           for m in models], index=table.index)
    flagged = {m["model"]: list((m.get("pareto_k") or {}).get("flagged") or ()) for m in models}
    return PredictiveComparison(
        table=table.astype({c: float for c in table.columns if table[c].dtype == object
                            and table[c].map(lambda v: v is None or isinstance(v, float)).all()}),
        pareto_k=pareto, flagged=flagged, warnings=tuple(record.get("warnings") or ()),
        method=record["method"], khat_threshold=record["khat_threshold"],
        var_name=record["var_name"], elpd={})


def _sensitivity_from_record(record: dict, sensitivity: xr.Dataset | None,
                             verdict: xr.Dataset | None) -> PriorSensitivity | None:
    if sensitivity is None:
        return None
    quantities = record.get("quantities") or {}
    table = pd.DataFrame({"prior": [_nan(q["prior"]) for q in quantities.values()],
                          "likelihood": [_nan(q["likelihood"]) for q in quantities.values()],
                          "diagnosis": [q["diagnosis"] for q in quantities.values()]},
                         index=pd.Index(list(quantities)))
    terms = record.get("scaled_prior_terms")
    return PriorSensitivity(sensitivity=sensitivity, table=table, threshold=record["threshold"],
                            alphas=tuple(record["alphas"]), verdict=verdict,
                            prior_var_names=None if terms in (None, "all") else tuple(terms))


# One array per group of the draws file: stored as "values", its own name kept in the attrs.
_ARRAY = "values"


def _array_group(da: xr.DataArray) -> xr.Dataset:
    return da.to_dataset(name=_ARRAY).assign_attrs(name=da.name)


def _array(ds: xr.Dataset) -> xr.DataArray:
    return ds[_ARRAY].rename(ds.attrs.get("name"))


def _nan(value) -> float:
    """Read a number of ``checks.json`` back as a float (null: NaN)."""
    return float("nan") if value is None else value


# -- quantities read from a fit (the names of its variables are models' business) ------------
# models is imported when first needed: it brings PyMC, which `import analysis` need not load.
def _posterior():
    """:mod:`models.contributions`, the one reader of a fit's posterior."""
    import importlib

    return importlib.import_module("models.contributions")


def linear_predictor(tree: xr.DataTree, *, group_effects: bool = True,
                     fixed: xr.DataArray | None = None) -> xr.DataArray:
    """Return the linear predictor of each individual per draw (:func:`models.contributions.linear_predictor`)."""
    return _posterior().linear_predictor(tree, group_effects=group_effects, fixed=fixed)


def _contributions(tree: xr.DataTree) -> xr.DataArray:
    """Return the conditions' contributions to eta, per draw: computed once per check run.

    Summed within levels (a quarter of the memory) when each level's conditions are on one
    side, as the decomposition then needs no more; per condition otherwise.
    """
    sides, levels = _posterior().condition_labels(tree)
    level_side: dict[str, set] = {}
    for c in sides:
        level_side.setdefault(levels[c], set()).add(sides[c])
    by = "level" if all(len(s) == 1 for s in level_side.values()) else "condition"
    return _posterior().contributions(tree, by=by)


def decompose(tree: xr.DataTree, parts: xr.DataArray | None = None) -> xr.Dataset:
    """Decompose the variance of a fit's linear predictor (:func:`analysis.variance_decomposition`).

    Sides and levels come from the fit's ``condition_side`` and ``condition_level``
    coordinates (the codebook's, at fitting time); each group level's variance is its
    group SD squared, on the codebook's default side.

    Parameters
    ----------
    tree : xarray.DataTree
    parts : xarray.DataArray, optional
        The contributions of the conditions (:func:`models.contributions`, by level or by
        condition) of these draws, when already computed. Without them they are built on
        chunks of draws (:func:`models.predictive.over_draw_chunks`): never individuals x
        draws x terms at once.
    """
    if parts is None:
        import models.predictive

        covariance = _posterior().condition_covariance(tree)
        if covariance is not None:
            return _decompose_from_covariance(tree, covariance)
        return models.predictive.over_draw_chunks(
            tree, lambda chunk: decompose(chunk, _contributions(chunk)),
            values_per_draw=_values_per_draw(tree))
    posterior = _posterior()
    if not posterior.has_conditions(tree):
        raise ValueError("the run has no conditions: there is nothing to decompose")
    sides, levels = posterior.condition_labels(tree)
    family = family_of(tree)
    group_var = posterior.group_variances(tree)
    sigma = family.residual_sd(tree["posterior"])  # None where the residual is fixed
    if "level" in parts.dims:
        level_sides = {levels[c]: sides[c] for c in sides}
        return variance_decomposition(parts, sides=level_sides, group_var=group_var or None,
                                      family=family.name, sigma=sigma)
    return variance_decomposition(parts, sides=sides, levels=levels, group_var=group_var or None,
                                  family=family.name, sigma=sigma)


def _decompose_from_covariance(tree: xr.DataTree, covariance: xr.DataArray) -> xr.Dataset:
    """:func:`decompose` without individuals: the conditions' codes are the same at every draw."""
    posterior = _posterior()
    sides, levels = posterior.condition_labels(tree)
    family = family_of(tree)
    return decomposition_from_covariance(
        posterior.effects(tree), covariance, sides=sides, levels=levels,
        group_var=posterior.group_variances(tree) or None, family=family.name,
        sigma=family.residual_sd(tree["posterior"]))


def _values_per_draw(tree: xr.DataTree) -> int:
    """Numbers per draw of the largest per-individual array (one per condition, and eta)."""
    return tree["constant_data"].sizes[UNIT_DIM] * (tree["posterior"].sizes.get("condition", 0) + 2)


def effects_of(tree: xr.DataTree, fixed: xr.DataArray | None = None) -> xr.DataArray:
    """Return the readable effects of +1 SD of each condition, 0 -> 1 of a binary one.

    :func:`analysis.readable_effects`. ``fixed``: the fixed part of eta of these draws
    (:func:`models.contributions.fixed_predictor`), when already computed; without it the
    effects are computed on chunks of draws (the linear predictor is individuals x draws).
    """
    if fixed is None:
        import models.predictive

        return models.predictive.over_draw_chunks(
            tree, lambda chunk: effects_of(chunk, _posterior().fixed_predictor(chunk)),
            values_per_draw=_values_per_draw(tree))
    posterior = _posterior()
    return readable_effects(posterior.effects(tree), posterior.linear_predictor(tree, fixed=fixed),
                            family=family_of(tree), cutpoints=posterior.cutpoints(tree),
                            outcome_sd=float(tree.attrs.get("outcome_scale", 1.0)),
                            contrast=binary_contrasts(tree))


def _per_draw(tree: xr.DataTree, errors: dict) -> xr.Dataset:
    """The decomposition, the readable effects and the full model's R^2, per draw, in one pass.

    On chunks of draws (:func:`models.predictive.over_draw_chunks`); in each chunk the
    contributions of the conditions are rebuilt once and shared by the three. The effects
    and R^2 are ``effects`` and ``fixed_r2`` beside the decomposition's variables; one of
    them that fails is left out, its error in ``errors``.
    """
    import models.predictive

    posterior = _posterior()
    family = family_of(tree)
    covariance = posterior.condition_covariance(tree)
    if covariance is not None and family.link == "identity":
        return _per_draw_closed_form(tree, covariance, errors)

    def one_chunk(chunk: xr.DataTree) -> xr.Dataset:
        parts = _contributions(chunk)
        fixed = posterior.fixed_predictor(chunk, parts)
        out = decompose(chunk, parts)
        return _with_parts(out, errors, {
            "effects": lambda: effects_of(chunk, fixed),
            "fixed_r2": lambda: bayesian_r2_latent(
                fixed, family=family.name, sigma=family.residual_sd(chunk["posterior"]))})

    return models.predictive.over_draw_chunks(tree, one_chunk, values_per_draw=_values_per_draw(tree))


def _per_draw_closed_form(tree: xr.DataTree, covariance: xr.DataArray, errors: dict) -> xr.Dataset:
    """:func:`_per_draw` where no quantity needs the individuals: fixed codes, identity link.

    The decomposition and R^2 are quadratic forms in the effects (:func:`_decompose_from_covariance`);
    with the identity link a move in a condition changes every individual's mean by the same
    amount, so the readable effects need no linear predictor either (one zero stands in).
    """
    posterior = _posterior()
    family = family_of(tree)
    out = _decompose_from_covariance(tree, covariance)
    effects = posterior.effects(tree)
    anyone = xr.zeros_like(effects.isel(condition=0, drop=True)).expand_dims(individual=1)
    sigma = family.residual_sd(tree["posterior"])
    return _with_parts(out, errors, {
        "effects": lambda: readable_effects(
            effects, anyone, family=family, outcome_sd=float(tree.attrs.get("outcome_scale", 1.0)),
            contrast={c: (anyone, low, high) for c, (low, high) in binary_codes(tree).items()}),
        "fixed_r2": lambda: out["fixed_variance"] / (out["fixed_variance"]
                                                     + residual_variance(family.name, sigma))})


def _with_parts(out: xr.Dataset, errors: dict, parts: dict[str, Callable]) -> xr.Dataset:
    """``out`` with each optional part computed; one that fails (now or in an earlier chunk)
    is left out, its error in ``errors``.
    """
    for name, compute in parts.items():
        if name in errors:
            continue
        try:
            out[name] = compute()
        except Exception as err:
            logger.warning("%s failed: %s", name, err, exc_info=logger.isEnabledFor(logging.INFO))
            errors[name] = f"{type(err).__name__}: {err}"
    return out


# -- the orchestrator -------------------------------------------------------------------------
def _as_run(run, survey=None, config=None):
    """Return a :class:`models.Run` from a run, a run directory or a fit held in memory."""
    from models import FitOptions, ModelSpec, Run, RunConfig, load_run

    if isinstance(run, str | os.PathLike):
        return load_run(run)
    if not isinstance(run, xr.DataTree):
        return run
    tree = run
    if config is None:
        spec = ModelSpec.from_dict(json.loads(tree.attrs["spec"]), "the fit's spec")
        posterior = tree["posterior"]
        # the settings asked for (the sampling record's; an extended fit kept more draws),
        # else the posterior's size and FitOptions' default tuning
        asked = json.loads(tree.attrs.get("sampling") or "{}").get("asked") or {}
        sampling = FitOptions(chains=posterior.sizes["chain"],
                              draws=int(asked.get("draws", posterior.sizes["draw"])),
                              tune=int(asked.get("tune", FitOptions.tune)),
                              target_accept=float(asked.get("target_accept", FitOptions.target_accept)),
                              seed=int(tree.attrs.get("seed", 0)),
                              sampler=str(tree.attrs.get("sampler", FitOptions.sampler)))
        config = RunConfig(spec=spec, sampling=sampling)
    return Run(config=config, survey=survey, tree=tree, summary={}, path=None)


def check_run(
    run,
    *,
    survey=None,
    config=None,
    rope: float = 0.05,
    prob_threshold: float = 0.95,
    dominance: bool = True,
    loo: bool = True,
    sensitivity: bool = True,
    ppc: bool = True,
    workers: int | None = None,
    scheduler: str | None = None,
    seed: int | None = None,
    gates: tuple[Gate, ...] = DEFAULT_GATES,
    prob: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Checks:
    """Run every posterior check of a run (module docstring).

    Parameters
    ----------
    run : models.Run, str, Path or xarray.DataTree
        A run (:func:`models.load_run`, :func:`models.save_run`), a run directory, or a fit
        held in memory (the DataTree :func:`models.fit` returns): nothing needs saving first.
    survey : data.CaseSurvey, optional
        With a fit held in memory: the data it was fitted to, which the sub-model fits of
        the dominance analysis and the predictive comparison need (without it those two
        parts are skipped, saying so).
    config : models.RunConfig, optional
        With a fit held in memory: its spec and sampling options, used by the sub-model
        fits. Default: the spec stored in the fit, its seed and sampler, and the chains,
        draws, tuning steps and target acceptance asked for (its ``sampling`` record; a fit
        without one: its chains and draws, :class:`models.FitOptions`' default tuning).
    rope : float, default 0.05
        Half-width of the region of practical equivalence of the share difference.
    prob_threshold : float, default 0.95
        Probability needed for a dominance verdict.
    dominance, loo, sensitivity, ppc : bool
        Compute the dominance analysis (``2^p - 2`` sub-model fits for ``p`` levels), the
        predictive comparison (3 sub-model fits), the prior sensitivity, the posterior
        predictive checks.
    workers : int, optional
        Parallel processes for the sub-model fits. Default: ``min(cpu_count, fits)`` with
        the dominance analysis; without it (the predictive comparison's 3 fits only) 1,
        i.e. the fits one after the other in this process, each with every core.
    scheduler : str, optional
        Address of a Dask scheduler: the sub-model fits run on its cluster instead of local
        processes (:func:`models.jobs.open_executor`); the same seeds give the same results.
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
        A part that failed or yielded NaN is in ``errors``, one not computed in
        ``skipped``; neither stops the other parts.
    """
    say = progress or logger.info
    run = _as_run(run, survey=survey, config=config)
    tree = run.tree
    seed = int(run.config.sampling.seed if seed is None else seed)
    prob = arviz_base.rcParams["stats.ci_prob"] if prob is None else prob
    family = family_of(tree)
    settings = {"run": None if run.path is None else str(run.path), "outcome": tree.attrs.get("outcome"),
                "family": family.name, "rope": rope, "prob_threshold": prob_threshold, "seed": seed,
                "ci_prob": prob, "gates": [g.label for g in gates],
                "written": datetime.now(UTC).isoformat(timespec="seconds")}
    skipped: dict[str, str] = {}
    errors: dict[str, str] = {}

    def attempt(name: str, compute, *, announce: bool = True):
        started = time.perf_counter()
        try:
            result = compute()
        except Exception as err:
            # the traceback when asked for details (the CLI's -v)
            logger.warning("%s failed: %s", name, err, exc_info=logger.isEnabledFor(logging.INFO))
            errors[name] = f"{type(err).__name__}: {err}"
            return None
        if announce:
            say(f"{name} done in {time.perf_counter() - started:.1f} s")
        return result

    def nan_check(name: str, what: str, values) -> None:
        """Record a part whose numbers came out NaN (it stays, for what it did compute)."""
        if values is not None and not np.all(np.isfinite(values)):
            errors[name] = f"NaN in {what}"
            logger.warning("%s: NaN in %s", name, what)

    posterior = _posterior()
    say("diagnostics and variance decomposition")
    diagnostics = attempt("diagnostics", lambda: sampling_diagnostics(tree), announce=False) or {}
    decomposition = verdict = effects = full_r2 = None
    if not posterior.has_conditions(tree):
        skipped["decomposition"] = "the run has no conditions: there is nothing to decompose"
        skipped["verdict"] = skipped["decomposition"]
    else:
        # the contributions of the conditions: once, for the decomposition, the effects and R^2
        failed: dict[str, str] = {}
        per_draw = attempt("decomposition", lambda: _per_draw(tree, failed), announce=False)
        if per_draw is not None:
            decomposition = per_draw[[v for v in per_draw.data_vars
                                      if v not in ("effects", "fixed_r2")]]
            effects = per_draw["effects"] if "effects" in per_draw and "effects" not in failed else None
            full_r2 = per_draw["fixed_r2"] if "fixed_r2" in per_draw and "fixed_r2" not in failed else None
            if "effects" in failed:
                errors["readable effects"] = failed["effects"]
            if "fixed_r2" in failed:
                logger.info("the full model's R^2 is recomputed by the dominance analysis")
            nan_check("decomposition", "the side shares", decomposition["side_share"].values)
            verdict = attempt("verdict", lambda: dominance_verdict(
                decomposition["side_share"], diagnostics, rope=rope,
                prob_threshold=prob_threshold, gates=gates, sides=_sides_of(tree)),
                announce=False)
            nan_check("readable effects", "the effects", None if effects is None else effects.values)
    if verdict is not None:
        say(f"verdict: {verdict.verdict}")
    if verdict is not None and not verdict.applicable:  # one side without conditions
        for part in ("verdict probabilities", "sensitivity of the verdict", "side-only LOO models"):
            skipped[part] = verdict.reason
    trustworthy = all(g.check(diagnostics.get(g.statistic)) for g in gates)

    # the pointwise log-likelihood: one pass over chunks of individuals gives what LOO (its
    # pointwise elpd and Pareto k), the likelihood's power-scaling (its sum per draw) and
    # LOO-PIT (its values at the kept predictive draws) use; draws x individuals is never held
    log_lik, no_log_lik = None, _no_log_likelihood(tree, run)
    pit = pit_failed = None
    if (no_log_lik is None and ppc and family.ppc in CHECK_KINDS
            and "posterior_predictive" in tree.children):
        # LOO-PIT in the same pass, chunk by chunk, at the kept predictive draws
        pit = attempt("LOO-PIT", lambda: loo_pit_by_chunks(tree, seed=seed, discrete=family.discrete),
                      announce=False)

    def pit_chunk(chunk, log_cdf=None):
        nonlocal pit_failed
        if pit is not None and pit_failed is None:
            try:
                pit.add(chunk, log_cdf)
            except Exception as err:  # LOO-PIT must not lose PSIS-LOO
                logger.warning("LOO-PIT failed: %s", err, exc_info=logger.isEnabledFor(logging.INFO))
                pit_failed = f"{type(err).__name__}: {err}"

    if no_log_lik is None and (loo or sensitivity or ppc):
        say("pointwise log-likelihood (PSIS-LOO and LOO-PIT, chunks of individuals)")
        log_lik = attempt("log-likelihood", lambda: _log_likelihood_summary(
            tree, run, totals=sensitivity, keep=_predictive_draws(tree) if pit is not None else None,
            on_kept=pit_chunk, cdf=pit is not None and not family.discrete))
        if log_lik is None:
            no_log_lik = f"the log-likelihood failed ({errors.get('log-likelihood')})"
    if pit_failed is not None:
        errors["LOO-PIT"] = pit_failed

    ppc_result = None
    if not ppc:
        skipped["ppc"] = "not asked for"
    elif family.ppc not in CHECK_KINDS:
        skipped["ppc"] = f"no posterior predictive check of the {family.ppc} kind"
    elif "posterior_predictive" not in tree.children:
        skipped["ppc"] = "the run has no posterior predictive draws (fitted with predictive=False)"
    else:
        # LOO-PIT came from the log-likelihood's pass: the checks need no log-likelihood here
        ppc_tree = _with_group(tree, "log_likelihood", None)
        if log_lik is None:
            logger.info("LOO-PIT skipped: %s", no_log_lik)
        ppc_result = attempt("ppc", lambda: _ppc(
            ppc_tree, seed,
            loo_pit=pit.check() if pit is not None and log_lik is not None and pit_failed is None else None))

    sensitivity_result = None
    if not sensitivity:
        skipped["sensitivity"] = "not asked for"
    elif "log_prior" not in tree.children:
        skipped["sensitivity"] = "the run has no log_prior group (fitted with predictive=False)"
    elif log_lik is None:
        skipped["sensitivity"] = no_log_lik
    elif decomposition is None:
        skipped["sensitivity"] = "no variance decomposition to assess"
    elif verdict is not None and not verdict.applicable and len(level_groups(tree)) < 2:
        skipped["sensitivity"] = ("the conditions are at one level of one side: every share is 0 "
                                  "or 1 in every draw, so there is no share to assess")
    else:
        quantities = {"side_share": decomposition["side_share"], "share": decomposition["share"]}
        applicable = verdict is not None and verdict.applicable
        if verdict is not None and not applicable:  # one side's share is 1 in every draw
            del quantities["side_share"]
        # power-scaling the likelihood uses its sum over the individuals per draw only
        totals = xr.Dataset({"y": log_lik.total})
        sensitivity_result = attempt("sensitivity", lambda: prior_sensitivity(
            _with_group(tree, "log_likelihood", totals), quantities,
            verdict=verdict if applicable else None,
            prior_var_names=posterior.user_prior_terms(tree)))
        if sensitivity_result is not None:
            table = sensitivity_result.table
            values = table[["prior", "likelihood"]].to_numpy(float)
            bad = [str(label) for label, ok in zip(table.index, np.isfinite(values).all(axis=1),
                                                   strict=True) if not ok]
            nan_check("sensitivity", f"the sensitivity of {', '.join(bad)}", values)

    # sub-models: dominance analysis and predictive comparison, fitted together
    groups = level_groups(tree) if posterior.has_conditions(tree) else {}
    requests: dict[str, tuple[str, ...]] = {}
    loo_models: dict[str, tuple[str, ...]] = {}
    refused = (f"the run failed its diagnostic gate(s) "
               f"({', '.join(g.label for g in gates if not g.check(diagnostics.get(g.statistic)))}); "
               "refit the run before fitting sub-models")
    no_data = "the run's data were not given (check_run(fit, survey=...)): no sub-model fits"
    if not dominance:
        skipped["dominance"] = "not asked for"
    elif not trustworthy:
        skipped["dominance"] = refused
    elif len(groups) < 2:
        skipped["dominance"] = f"conditions at {len(groups)} level(s); dominance needs two or more"
    elif run.survey is None:
        skipped["dominance"] = no_data
    else:
        requests.update(dominance_requests(tree))
    if not loo:
        skipped["loo"] = "not asked for"
    elif not trustworthy:
        skipped["loo"] = refused
    elif run.survey is None:
        skipped["loo"] = no_data
    elif log_lik is None:
        skipped["loo"] = no_log_lik
    else:
        loo_models = _side_models(tree)
        requests.update({f"loo:{name}": conditions for name, conditions in loo_models.items()})

    fits = {}
    if requests:
        started = time.perf_counter()
        if workers is None and not any(not name.startswith("loo:") for name in requests):
            # LOO's 3 fits alone: in this process, one after the other, each on every core.
            # A worker process costs ~0.4 GiB more (7,062 respondents, tests/benchmarks/
            # README.md) and 3 fits on 2 cores gain nothing from running 2 at a time.
            workers = 1
        fits = attempt("sub-model fits", lambda: fit_submodels(
            run, requests, seed=seed, workers=workers, scheduler=scheduler, progress=say, full_r2=full_r2,
            log_likelihood=[f"loo:{name}" for name in loo_models])) or {}
        settings["submodel_fits"] = len({v.conditions for v in fits.values()})
        settings["submodel_seconds"] = round(time.perf_counter() - started, 1)
        for name in ("dominance", "loo"):
            if "sub-model fits" in errors and name not in skipped:
                skipped[name] = "the sub-model fits failed"

    dominance_result = None
    if dominance and "dominance" not in skipped:
        dominance_result = attempt("dominance", lambda: dominance_analysis(
            run, seed=seed, fits={k: v for k, v in fits.items() if not k.startswith("loo:")},
            gates=gates, full_r2=full_r2))

    loo_result = None
    submodels = {}
    if loo and "loo" not in skipped:
        # each sub-model's PSIS-LOO was computed in its worker (pointwise elpd and k only)
        results = {name: fits[f"loo:{name}"].loo for name in loo_models}
        loo_result = attempt("loo", lambda: predictive_comparison(
            {**{k: v for k, v in results.items() if k != "null"}, "both": log_lik.loo,
             "null": results["null"]}))
        for name in loo_models:
            fitted = fits[f"loo:{name}"]
            failed = [g.label for g in gates if not g.check(fitted.diagnostics.get(g.statistic))]
            submodels[name] = {"conditions": list(fitted.conditions), "seed": fitted.seed,
                               "seconds": round(fitted.seconds, 1), "passed": not failed,
                               "failed_gates": failed, **kept_sampling(fitted.tree)}

    raters_result = None
    if "rater_severity" in tree["posterior"]:  # the rater model: severities and agreement
        raters_result = attempt("raters", lambda: rater_agreement(tree, run.survey))

    return Checks(verdict=verdict, diagnostics=diagnostics, decomposition=decomposition,
                  effects=effects, ppc=ppc_result, loo=loo_result,
                  sensitivity=sensitivity_result, dominance=dominance_result, skipped=skipped,
                  errors=errors, settings=settings, submodels=submodels, gates=tuple(gates),
                  tree=tree, raters=raters_result)


def _no_log_likelihood(tree: xr.DataTree, run) -> str | None:
    """Why the run's pointwise log-likelihood cannot be had (None: it can)."""
    from models.fit import LOG_LIKELIHOOD_ATTR, LOG_LIKELIHOOD_ON_DEMAND

    if "log_likelihood" in tree.children:
        return None
    if tree.attrs.get(LOG_LIKELIHOOD_ATTR) != LOG_LIKELIHOOD_ON_DEMAND:
        return "the run has no log-likelihood (fitted with predictive=False)"
    if run.survey is None:
        return ("the run's data were not given (check_run(fit, survey=...)): its log-likelihood "
                "cannot be computed")
    return None


# values per chunk of individuals of a log-likelihood group held whole (16 MB of float32)
_LOG_LIK_CHUNK_VALUES = 2**22


def _log_likelihood_summary(tree: xr.DataTree, run, *, totals: bool, keep, on_kept=None,
                            cdf: bool = False):
    """:func:`analysis.loo.summarise_log_likelihood` of the run, chunk by chunk of individuals.

    From the tree's ``log_likelihood`` group where it has one (a fit built by hand or given
    :func:`models.with_log_likelihood`), else recomputed from the posterior
    (:func:`models.log_likelihood_chunks`). ArviZ's warnings are logged (the comparison
    records the Pareto k one).
    """
    import warnings

    from .loo import relative_ess, summarise_log_likelihood

    if "log_likelihood" in tree.children:
        log_lik = tree["log_likelihood"].to_dataset()[["y"]]
        dim = next(d for d in log_lik["y"].dims if d not in ("chain", "draw"))
        step = max(1, _LOG_LIK_CHUNK_VALUES // (log_lik.sizes["chain"] * log_lik.sizes["draw"]))
        chunks = (log_lik.isel({dim: slice(a, a + step)})
                  for a in range(0, log_lik.sizes[dim], step))
    else:
        from models import log_likelihood_chunks

        # a continuous outcome's LOO-PIT also needs the log CDF at the kept draws
        cdf_draws = None
        if cdf and keep and "draw" in keep and np.array_equal(
                keep.get("chain", tree["posterior"]["chain"].values), tree["posterior"]["chain"].values):
            cdf_draws = pd.Index(tree["posterior"]["draw"].values).get_indexer(keep["draw"])
            cdf_draws = None if (cdf_draws < 0).any() else cdf_draws
        chunks = log_likelihood_chunks(tree, run.spec, run.survey, cdf_draws=cdf_draws)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = summarise_log_likelihood(chunks, reff=relative_ess(tree["posterior"].to_dataset()),
                                           totals=totals, keep=keep, on_kept=on_kept)
    for w in caught:
        logger.info("log-likelihood: %s", w.message)
    return summary


def _predictive_draws(tree: xr.DataTree) -> dict | None:
    """Labels of the draws the posterior predictive kept (LOO-PIT uses those), None without it."""
    if "posterior_predictive" not in tree.children:
        return None
    kept = tree["posterior_predictive"]
    return {dim: kept[dim].values for dim in ("chain", "draw") if dim in kept.coords}


def _with_group(tree: xr.DataTree, name: str, ds: xr.Dataset | None) -> xr.DataTree:
    """``tree`` (shallow copy) with group ``name`` set to ``ds`` (left out when None)."""
    out = tree.copy()
    if name in out.children:
        out = out.drop_nodes(name)
    if ds is not None:
        out[name] = xr.DataTree(ds)
    return out


def _sides_of(tree: xr.DataTree) -> dict[str, int]:
    """Number of conditions of each side in a fit."""
    posterior = tree["posterior"]
    sides = [str(s) for s in posterior["condition_side"].values] if "condition_side" in posterior else []
    return {side: sides.count(side) for side in SIDES}


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


def family_of(tree: xr.DataTree):
    """Return the run's outcome family (:func:`models.families.family_of`).

    Imported on first use: importing ``models`` loads PyMC (and, through pymc-extras,
    matplotlib), which ``import analysis`` must not pay for.
    """
    from models.families import family_of as lookup

    return lookup(tree)


def _ppc(tree: xr.DataTree, seed: int, loo_pit=None) -> PosteriorPredictiveChecks:
    constant = tree["constant_data"]
    # per alliance and network (DESIGN.md §4.5); a survey with neither, per organisation
    levels = ([lvl for lvl in ("alliance", "network") if f"idx_{lvl}" in constant]
              or [lvl for lvl in ("organisation",) if f"idx_{lvl}" in constant])
    family = family_of(tree)
    return posterior_predictive_checks(tree, groups=groups_from_constant_data(tree, levels),
                                       categories=family.categories(int(tree.attrs.get("n_categories", 0)) or None),
                                       kind=family.ppc, discrete=family.discrete, seed=seed,
                                       loo_pit=loo_pit)


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
    """Write ``checks/checks.json``, ``checks/draws.nc`` and one PNG per figure, atomically.

    The folder is written beside its target under a temporary name and renamed into place,
    so it is complete or absent. ``checks.json`` is always written: NaN is written as null,
    and a figure, a part's record or the draws file that cannot be written is left out and
    recorded in the checks' ``errors`` (in ``checks.json`` too).

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
    # replacing was allowed just above; checks/ is the run directory's own, whatever it holds
    with atomic_dir(target, replace=True, own_names=None) as staging:
        written = []
        if figures:
            for name, fig in checks.figures().items():
                try:
                    fig.savefig(staging / f"{name}.png", dpi=110)
                    written.append(f"{name}.png")
                except Exception as err:
                    checks._record_error(f"figure {name}", err)
        try:
            _write_draws(checks.draws(), staging / DRAWS_FILE)
        except Exception as err:
            checks._record_error("draws file", err)
        content = checks.to_dict()
        content["figures"] = written
        (staging / CHECKS_FILE).write_text(json.dumps(content, indent=2, allow_nan=False,
                                                      ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("checks written to %s", target)
    return target


# NetCDF attributes hold numbers and strings only: every attribute travels as one JSON text.
_ATTRS_KEY = "alliance_learning_attrs"


def _write_draws(tree: xr.DataTree, path: Path) -> None:
    """Write the checks' per-draw arrays as compressed NetCDF (attributes kept as JSON)."""
    nodes = {}
    for node in tree.subtree:
        if not node.has_data and node is not tree:
            continue
        ds = node.to_dataset()
        # the JSON replaces the attributes (a None among them has no netCDF type)
        ds = ds.copy()
        ds.attrs = {_ATTRS_KEY: json.dumps(_json_safe(ds.attrs))} if ds.attrs else {}
        for name in ds.variables:
            attrs = ds[name].attrs
            ds[name].attrs = {_ATTRS_KEY: json.dumps(_json_safe(attrs))} if attrs else {}
        nodes[node.path] = ds
    out = xr.DataTree.from_dict(nodes)
    encoding = {node.path: {name: {"zlib": True, "complevel": 4}
                            for name, var in node.to_dataset().data_vars.items()
                            if var.dtype.kind in "fiub"}
                for node in out.subtree if node.has_data}
    out.to_netcdf(path, engine="h5netcdf", encoding=encoding)


def _read_draws(path: Path) -> xr.DataTree:
    with xr.open_datatree(path, engine="h5netcdf") as stored:
        tree = stored.load()
    nodes = {}
    for node in tree.subtree:
        ds = node.to_dataset()
        if _ATTRS_KEY in ds.attrs:
            ds.attrs = json.loads(ds.attrs[_ATTRS_KEY])
        for name in ds.variables:
            if _ATTRS_KEY in ds[name].attrs:
                ds[name].attrs = json.loads(ds[name].attrs[_ATTRS_KEY])
        nodes[node.path] = ds
    return xr.DataTree.from_dict(nodes)


def load_checks(run_dir: str | Path) -> Checks:
    """Read the checks of a run directory back: the :class:`Checks` :func:`check_run` returned.

    Reads ``checks/checks.json`` and the per-draw arrays in ``checks/draws.nc`` (the run's
    fit is not loaded: ``tree`` is None). Checks written before the draws file existed
    (schema 1) are refused with the command that rewrites them.
    """
    folder = checks_dir(run_dir)
    path = folder / CHECKS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the run has no checks yet (run `alliance-learning check`)")
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("schema_version") != CHECKS_SCHEMA_VERSION:
        raise ValueError(f"{path}: checks of schema {record.get('schema_version')}, this version "
                         f"reads {CHECKS_SCHEMA_VERSION}; rerun `alliance-learning check "
                         f"{run_dir} --force`")
    draws = _read_draws(folder / DRAWS_FILE) if (folder / DRAWS_FILE).is_file() else None
    return Checks.from_record(record, draws)
