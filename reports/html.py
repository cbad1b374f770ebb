"""One self-contained HTML report of a run (DESIGN.md §6).

:func:`render_report` writes a single HTML file: plots are embedded as base64 PNG, the CSS
is inline, and there are no scripts and no external resources, so the file opens offline
and can be mailed or archived as it is. A Content-Security-Policy in the page forbids
scripts and network loads as a second line of defence.

Every user string (condition names and labels, file names, IDs, config values) is
rendered through Jinja2 with autoescaping on; the report builds no HTML by string
concatenation. Each section renders a "not available" note when its input is missing, so
the same builder serves while checks are added.

The input is a :class:`ReportContext` (or a dict of its fields) of plain Python, pandas
and xarray objects; the figures are made by :mod:`reports.plots`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import xarray as xr

from analysis import DEFAULT_GATES, posterior_summary
from analysis.checks import plot_dominance
from analysis.ppc import plot_group_statistic, plot_loo_pit
from analysis.verdict import GateResult
from data.constants import SAMPLE_DIMS
from data.files import atomic_write
from data.intervals import interval_setting
from data.version import toolkit_version

from . import plots

logger = logging.getLogger(__name__)

__all__ = ["ReportContext", "config_text", "format_cell", "render_html", "render_report"]

MISSING_CELL = "—"
# Posterior summaries are shown to this many decimals (their Monte Carlo error is larger).
SUMMARY_DECIMALS = 3
_COMPARISON_TEXT = {"<=": "≤", ">=": "≥"}
# Provenance keys shown first, in this order; any other key follows as it is.
PROVENANCE_KEYS = ("command", "data_file", "data_hash", "seed", "run_id", "created")


@dataclass
class ReportContext:
    """Everything the report shows; every field is optional.

    A missing field (None) renders as a "not available" note in its section.

    Attributes
    ----------
    title : str
        Page title and heading.
    notice : str, optional
        A banner under the title, e.g. "Simulated data: not a finding."
    data_file : str, optional
        Name of the data file.
    level_counts : mapping of str to int, optional
        Units per level (``ValidationReport.counts``).
    missing : pandas.DataFrame, optional
        One row per condition and outcome with columns ``variable``, ``kind``, ``level``,
        ``scale``, ``units``, ``missing`` (``ValidationReport.summary``).
    reliability : pandas.DataFrame, optional
        Coding reliability, one row per coded variable (e.g. ``variable``, ``alpha``,
        ``units``, ``raters``); shown as it is.
    model : mapping, optional
        Model description (``ModelSpec.to_dict()``): outcome, family, conditions...
    priors : mapping, optional
        Parameter kind -> prior, as a ``{"dist": ..., "kwargs": {...}}`` dict or a string.
    diagnostics : mapping, optional
        Sampling statistics (``analysis.sampling_diagnostics``). Without a ``verdict`` the
        gates are :data:`analysis.DEFAULT_GATES` checked against these.
    verdict : analysis.DominanceVerdict or mapping, optional
        The verdict, or its ``to_dict()`` form (no posterior-difference figure then).
    effects : mapping of str to xarray.DataArray, optional
        Scale title -> effect draws with dims (chain, draw, condition), in display order,
        e.g. ``{"per raw unit": ..., "per SD": ..., "change in P(y >= 4) per SD": ...}``.
    condition_labels, condition_sides, condition_levels : mapping of str to str, optional
        Condition -> readable label, side and level (from the codebook).
    binary_conditions : sequence of str, optional
        Conditions on a binary (0/1) scale: the effects section says that one SD is no
        step for them and that their per-raw-unit effect is the 0 -> 1 contrast.
    decomposition : xarray.Dataset, optional
        From :func:`analysis.variance_decomposition`.
    ppc : xarray.DataTree, optional
        With groups ``observed_data`` and ``posterior_predictive`` holding the same
        outcome variable(s), and for a binomial outcome ``constant_data`` with its
        ``trials`` (the figure then shows ``y / trials``).
    loo : pandas.DataFrame, optional
        LOO comparison table (e.g. ``arviz_stats.compare``), one row per model.
    parameters : pandas.DataFrame, optional
        The model's other parameters (group SDs, sigma, cutpoints, intercept), index
        ``parameter``, columns ``mean``, ``sd``, ``lower``, ``upper``
        (:func:`reports.context.parameter_table`, from ``summary.json``).
    parameters_interval : str, optional
        The interval of ``parameters`` in words (``summary.json``'s ``interval``).
    variance_partition : pandas.DataFrame, optional
        Each group level's (and the residual's) share of the total latent variance, the ICC,
        same columns (:func:`reports.context.variance_partition`).
    sensitivity : pandas.DataFrame, optional
        Prior (power-scaling) sensitivity table (e.g. ``arviz_stats.psense_summary``).
    provenance : mapping, optional
        ``command`` (exact command reproducing the run), ``data_hash``, ``seed``,
        ``versions`` (mapping package -> version), ``config`` (mapping), and any other
        keys (``run_id``, ``created``...), shown as given.
    truth : pandas.DataFrame, optional
        Estimates beside the values the data were simulated from
        (:func:`reports.context.example_truth_table`; only for the shipped example).
    dominance_analysis : analysis.DominanceAnalysis, optional
        The Bayesian dominance analysis of the level groups.
    ppc_checks : analysis.PosteriorPredictiveChecks, optional
        The per-group posterior predictive checks and LOO-PIT.
    raters : analysis.raters.RaterAgreement, optional
        A rater-model run's rater severities and agreement beside Krippendorff's alpha.
    measurement : str, optional
        How the conditions were measured (``summary.json``'s ``measurement``: ``raters``, a
        collapse rule or ``observed``); says why a run has no rater section.
    unavailable : mapping of str to str, optional
        Why a part of the checks is missing (``"dominance"``, ``"ppc"``, ``"verdict"``,
        ``"checks"``), e.g. ``"skipped: not asked for"``; shown in its section.
    check_errors, check_skipped : mapping of str to str, optional
        Every part of the checks that failed (or gave NaN) and every part not computed,
        with the reason (``Checks.errors``, ``Checks.skipped``); shown under the verdict.
    alliance_note : str, optional
        For an alliance-level outcome (:mod:`models.macro`): what the shares are shares of
        and how wide they are with the survey's number of alliances; shown with the shares.
    ci_prob : float, default ArviZ's ``stats.ci_prob`` (0.89)
        Probability of the intervals in tables and figures.
    sampling : mapping, optional
        The fit's sampling record (``summary.json``'s ``sampling`` block,
        :mod:`models.extend`): each run of the sampler, and why a narrow gate miss was
        extended; shown under the diagnostics, in words and as a table.
    """

    title: str = "Alliance learning report"
    notice: str | None = None
    data_file: str | None = None
    level_counts: Mapping[str, int] | None = None
    missing: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None
    model: Mapping[str, Any] | None = None
    priors: Mapping[str, Any] | None = None
    diagnostics: Mapping[str, Any] | None = None
    verdict: Any = None
    effects: Mapping[str, xr.DataArray] | None = None
    condition_labels: Mapping[str, str] | None = None
    condition_sides: Mapping[str, str] | None = None
    condition_levels: Mapping[str, str] | None = None
    binary_conditions: tuple[str, ...] = ()
    decomposition: xr.Dataset | None = None
    ppc: xr.DataTree | None = None
    loo: pd.DataFrame | None = None
    parameters: pd.DataFrame | None = None
    parameters_interval: str | None = None
    variance_partition: pd.DataFrame | None = None
    sensitivity: pd.DataFrame | None = None
    provenance: Mapping[str, Any] | None = None
    truth: pd.DataFrame | None = None
    dominance_analysis: Any = None
    ppc_checks: Any = None
    raters: Any = None
    measurement: str | None = None
    unavailable: Mapping[str, str] | None = None
    check_errors: Mapping[str, str] | None = None
    check_skipped: Mapping[str, str] | None = None
    # an alliance-level outcome's note under the shares: over how many alliances, how wide
    alliance_note: str | None = None
    # the interval setting of data.intervals (ArviZ's stats.ci_prob) when the context is made
    ci_prob: float = field(default_factory=lambda: interval_setting()[0])
    sampling: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ReportContext:
        """Build from a mapping of field names; unknown names are an error (all listed)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown report field(s): {', '.join(map(str, unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls(**values)


# ---------------------------------------------------------------------------------------
# Cells and tables: plain strings only; the template escapes them.


def extended_cell(extensions: int | None) -> str:
    """Whether a fit was sampled again, longer, after a narrow miss (:mod:`models.extend`).

    ``extensions`` counts the extra runs; None (checks written before it was kept): a dash.
    """
    if extensions is None:
        return MISSING_CELL
    if not extensions:
        return "no"
    return "yes, once" if extensions == 1 else f"yes, {extensions} times"


def format_cell(value) -> str:
    """Format a table cell: 4 significant digits, thousands separators, a dash when missing."""
    if value is None:
        return MISSING_CELL
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            return MISSING_CELL if math.isnan(value) else str(value)
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return ", ".join(format_cell(v) for v in value)
    try:
        if pd.isna(value):
            return MISSING_CELL
    except (TypeError, ValueError):
        pass
    return str(value)


def table(frame: pd.DataFrame) -> dict:
    """Turn a DataFrame into ``{"columns", "numeric", "rows"}`` of strings for the template.

    The index becomes the first column unless it is a default RangeIndex.
    """
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    return {
        "columns": [format_cell(c) for c in frame.columns],
        # Right-align numeric columns (booleans read as yes/no, left-aligned).
        "numeric": [pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
                    for t in frame.dtypes],
        "rows": [[format_cell(v) for v in row] for row in frame.itertuples(index=False)],
    }


def _pairs(mapping: Mapping) -> dict:
    return table(pd.DataFrame({"name": list(mapping), "value": [format_cell(v) for v in mapping.values()]}))


def format_prior(prior) -> str:
    """``Normal(mu=0, sigma=0.5)`` from a prior's dict form; other values as text."""
    if isinstance(prior, Mapping) and "dist" in prior:
        kwargs = prior.get("kwargs", {}) or {}
        args = ", ".join(f"{k}={format_prior(v)}" for k, v in kwargs.items())
        return f"{prior['dist']}({args})"
    if hasattr(prior, "to_dict"):
        return format_prior(prior.to_dict())
    return format_cell(prior)


# ---------------------------------------------------------------------------------------
# Sections: each returns plain data for the template, or None when its input is missing.


# Figures that failed while this page was rendered: listed at its top, never a lost report.
_FAILED_FIGURES: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "failed_figures", default=None)


def _drawn(make, what: str):
    """``make()``'s figure, or None (the failure recorded for the page) when drawing fails."""
    try:
        return make()
    except Exception as err:  # a figure must not lose the report
        logger.warning("figure %s not drawn: %s", what, err,
                       exc_info=logger.isEnabledFor(logging.INFO))
        failed = _FAILED_FIGURES.get()
        if failed is not None:
            failed[f"figure: {what}"] = f"{type(err).__name__}: {err}"
        return None


def _image(fig, alt: str, key: str | None = None) -> dict | None:
    """Embed a figure: a matplotlib Figure, or the bytes of a PNG saved with the checks.

    ``key`` is the stem of the PNG that ``check`` writes of the same figure (``Checks.figures``),
    shown on the page as ``data-figure``: every PNG in ``checks/`` has its figure here.
    """
    if fig is None:
        return None
    png = plots.png_to_base64(fig) if isinstance(fig, bytes) else plots.figure_to_base64(fig)
    return {"png": png, "alt": alt, "key": key}


def _probability(value) -> str:
    return MISSING_CELL if value is None else f"{value:.3f}"


def _data_section(ctx: ReportContext) -> dict:
    counts = None
    if ctx.level_counts:
        counts = table(pd.DataFrame({"level": list(ctx.level_counts),
                                     "units": list(ctx.level_counts.values())}))
    missing = None
    if ctx.missing is not None:
        frame = ctx.missing.copy()
        if {"units", "missing"} <= set(frame.columns):
            units = frame["units"].astype(float)
            frame["missing share"] = (frame["missing"] / units.where(units > 0)).map(
                lambda s: MISSING_CELL if pd.isna(s) else f"{s:.0%}")
        missing = table(frame)
    reliability = table(ctx.reliability) if ctx.reliability is not None else None
    return {"file": ctx.data_file, "counts": counts, "missing": missing, "reliability": reliability}


def _model_section(ctx: ReportContext) -> dict:
    model = _pairs(ctx.model) if ctx.model else None
    priors = None
    if ctx.priors:
        priors = table(pd.DataFrame({"parameter": list(ctx.priors),
                                     "prior": [format_prior(p) for p in ctx.priors.values()]}))
    return {"model": model, "priors": priors}


def _verdict_dict(verdict) -> tuple[dict | None, xr.DataArray | None]:
    if verdict is None:
        return None, None
    if hasattr(verdict, "to_dict"):
        return verdict.to_dict(), getattr(verdict, "difference", None)
    return dict(verdict), None


def _gates(ctx: ReportContext, verdict: dict | None) -> list[dict] | None:
    if verdict is not None and verdict.get("gates"):
        return [dict(g) for g in verdict["gates"]]
    if ctx.diagnostics is None:
        return None
    results = [GateResult(g, ctx.diagnostics.get(g.statistic), g.check(ctx.diagnostics.get(g.statistic)))
               for g in DEFAULT_GATES]
    return [{"label": r.gate.label, "statistic": r.gate.statistic, "passes_if": r.gate.passes_if,
             "threshold": r.gate.threshold, "value": r.value, "passed": r.passed,
             "source": r.gate.source} for r in results]


def _diagnostics_section(ctx: ReportContext, verdict: dict | None) -> dict:
    gates = _gates(ctx, verdict)
    rows = None
    if gates is not None:
        rows = [{"label": g["label"], "value": format_cell(g["value"]),
                 "needs": f"{_COMPARISON_TEXT.get(g['passes_if'], g['passes_if'])} "
                          f"{format_cell(g['threshold'])}",
                 "passed": bool(g["passed"]), "source": g.get("source", "")} for g in gates]
    stats = _pairs(ctx.diagnostics) if ctx.diagnostics else None
    return {"gates": rows, "all_passed": rows is not None and all(r["passed"] for r in rows),
            "statistics": stats, **_sampling_section(ctx.sampling)}


def _sampling_section(record: Mapping | None) -> dict:
    """What the sampler did (models.extend's record): a sentence, and a table when it ran more than once."""
    if not record or not record.get("attempts"):
        return {"sampling_note": None, "sampling_runs": None}
    from models.extend import sampling_note  # (loads the models package only for a report)

    runs = record["attempts"]
    frame = pd.DataFrame({
        "run": [("asked" if i == 0 else f"extension {i}") for i in range(len(runs))],
        "draws": [r["draws"] for r in runs],
        "tuning steps": [r["tune"] for r in runs],
        "target accept": [r["target_accept"] for r in runs],
        "max R-hat": [(r.get("diagnostics") or {}).get("max_rhat") for r in runs],
        "min bulk ESS": [(r.get("diagnostics") or {}).get("min_ess_bulk") for r in runs],
        "min tail ESS": [(r.get("diagnostics") or {}).get("min_ess_tail") for r in runs],
        "divergences": [(r.get("diagnostics") or {}).get("divergences") for r in runs],
        "failed gates": [", ".join(f["gate"] for f in r.get("failed") or []) or "none" for r in runs],
        "seconds": [r.get("seconds") for r in runs],
    })
    return {"sampling_note": sampling_note(record),
            "sampling_runs": table(frame) if len(runs) > 1 or runs[0].get("failed") else None}


def _headline(verdict: dict) -> str:
    """Say in words the probability that carries the verdict."""
    rope = format_cell(verdict["rope"])
    needs = f"(a verdict needs ≥ {format_cell(verdict['prob_threshold'])})"
    up = verdict["p_interpersonal_dominates"]
    down = verdict["p_interorganisational_dominates"]
    if verdict["verdict"] == "interorganisational dominates":
        return (f"P(interorganisational share exceeds interpersonal share by more than {rope}) "
                f"= {down:.3f} {needs}")
    if verdict["verdict"] == "not trustworthy":
        failed = [g["label"] for g in verdict.get("gates", []) if not g["passed"]]
        return ("The verdict is refused: diagnostic gate(s) failed"
                + (f" ({', '.join(failed)})" if failed else "")
                + ". Refit with more tuning or draws before reading the shares.")
    if verdict["verdict"] == "inconclusive":
        return (f"Neither side dominates: P(interpersonal ahead by more than {rope}) = {up:.3f}, "
                f"P(interorganisational ahead by more than {rope}) = {down:.3f} {needs}")
    return (f"P(interpersonal share exceeds interorganisational share by more than {rope}) "
            f"= {up:.3f} {needs}")


def _verdict_section(ctx: ReportContext, verdict: dict | None, difference) -> dict | None:
    if verdict is None:
        return None
    if verdict["verdict"] == "not applicable":  # one side has no condition: nothing to compare
        return {"text": verdict["verdict"], "css": "none", "headline": verdict.get("reason") or "",
                "share": None, "near_threshold": None, "probabilities": None, "image": None}
    probabilities = table(pd.DataFrame({
        "event (d = interpersonal − interorganisational share)": [
            "P(d > 0)", f"P(d > {format_cell(verdict['rope'])})",
            f"P(|d| ≤ {format_cell(verdict['rope'])})", f"P(d < −{format_cell(verdict['rope'])})"],
        "probability": [f"{verdict[k]:.3f}" for k in (
            "p_interpersonal_greater", "p_interpersonal_dominates", "p_equivalent",
            "p_interorganisational_dominates")],
    }))
    image = None
    if difference is not None:
        image = _image(_drawn(lambda: plots.difference_plot(difference, rope=verdict["rope"]),
                              "share difference"),
                       "Posterior of the share difference with the region of practical equivalence")
    css = verdict["verdict"].replace(" ", "-")
    return {"text": verdict["verdict"], "css": css, "headline": _headline(verdict),
            "share": _interpersonal_share(ctx), "near_threshold": _near_threshold(verdict),
            "probabilities": probabilities, "image": image}


# A deciding probability this close to its threshold is worth a word: another seed or a
# slightly different prior could move it to the other side.
NEAR_THRESHOLD = 0.02


def _near_threshold(verdict: dict) -> str | None:
    """A note when the larger dominance probability is within NEAR_THRESHOLD of the threshold."""
    if verdict["verdict"] == "not trustworthy":
        return None
    p = max(verdict["p_interpersonal_dominates"], verdict["p_interorganisational_dominates"])
    threshold = verdict["prob_threshold"]
    if abs(p - threshold) > NEAR_THRESHOLD:
        return None
    return (f"Close call: the deciding probability {p:.3f} is within {NEAR_THRESHOLD} of the "
            f"threshold {format_cell(threshold)}; read the verdict with its interval, not alone.")


def _interpersonal_share(ctx: ReportContext) -> str | None:
    """The interpersonal share of the fixed part with its interval, in words."""
    ds = ctx.decomposition
    if ds is None or "side_share" not in ds:
        return None
    s = posterior_summary(ds["side_share"].sel(side="interpersonal"), prob=ctx.ci_prob)
    return (f"Interpersonal share of the explained variance {float(s.sel(stat='mean')):.3f} "
            f"[{float(s.sel(stat='lower')):.3f}, {float(s.sel(stat='upper')):.3f}] "
            f"({ctx.ci_prob:.0%} {s.attrs['interval']}; Pratt share of the fixed part)")


def _effects_section(ctx: ReportContext) -> dict | None:
    if not ctx.effects:
        return None
    labels = ctx.condition_labels or {}
    sides = ctx.condition_sides or {}
    levels = ctx.condition_levels or {}
    tables = []
    for title, draws in ctx.effects.items():
        summary = posterior_summary(draws, prob=ctx.ci_prob)
        conditions = [str(c) for c in draws["condition"].values]
        p_positive = (draws > 0).mean(SAMPLE_DIMS)
        frame = pd.DataFrame({
            "condition": conditions,
            "label": [labels.get(c, "") for c in conditions],
            "level": [levels.get(c, "") for c in conditions],
            "side": [sides.get(c, "") for c in conditions],
            "mean": summary.sel(stat="mean").values,
            "sd": summary.sel(stat="sd").values,
            f"{ctx.ci_prob:.0%} lower": summary.sel(stat="lower").values,
            f"{ctx.ci_prob:.0%} upper": summary.sel(stat="upper").values,
            "P(effect > 0)": p_positive.values,
        })
        frame = frame.drop(columns=[c for c in ("label", "level", "side") if not frame[c].any()])
        frame = frame.round(SUMMARY_DECIMALS)
        tables.append({"title": title, "table": table(frame),
                       "quantity": draws.attrs.get("quantity", "")})
    fig = _drawn(lambda: plots.forest_plot(ctx.effects, labels=labels, sides=sides,
                                           prob=ctx.ci_prob), "forest plot")
    shown = {str(c) for draws in ctx.effects.values() for c in draws["condition"].values}
    return {"tables": tables,
            "binary": [c for c in ctx.binary_conditions if c in shown],
            "contrasted": any(draws.attrs.get("contrast") for draws in ctx.effects.values()),
            "image": _image(fig, "Forest plot of the effects of every condition", key="effects")}


def _shares_section(ctx: ReportContext) -> dict | None:
    ds = ctx.decomposition
    if ds is None:
        return None
    rows = []
    for name, dim, what in (("share", "level", "share of explained variance"),
                            ("side_share", "side", "share of explained variance"),
                            ("side_share_of_total", "side", "share of total latent variance")):
        if name not in ds:
            continue
        summary = posterior_summary(ds[name], prob=ctx.ci_prob)
        for unit in ds[name][dim].values:
            s = summary.sel({dim: unit})
            rows.append({"by": dim, "unit": str(unit), "quantity": what,
                         "mean": float(s.sel(stat="mean")), "sd": float(s.sel(stat="sd")),
                         f"{ctx.ci_prob:.0%} lower": float(s.sel(stat="lower")),
                         f"{ctx.ci_prob:.0%} upper": float(s.sel(stat="upper"))})
    levels, sides = ctx.condition_levels or {}, ctx.condition_sides or {}
    level_sides = {levels[c]: sides[c] for c in levels if c in sides}
    image = _image(_drawn(lambda: plots.share_plot(ds, level_sides=level_sides, prob=ctx.ci_prob),
                          "variance shares"),
                   "Variance shares by level and side", key="shares")
    return {"table": table(pd.DataFrame(rows).round(SUMMARY_DECIMALS)) if rows else None,
            "image": image, "note": ctx.alliance_note}


def _parameters_section(ctx: ReportContext) -> dict | None:
    """The other parameters and the variance partition, intervals named in their columns."""
    if ctx.parameters is None and ctx.variance_partition is None:
        return None

    def shown(frame: pd.DataFrame | None) -> dict | None:
        # columns mean, sd, lower, upper: the lead above each table names the interval
        return None if frame is None else table(frame.round(SUMMARY_DECIMALS))

    partition = ctx.variance_partition
    partition_interval = f"{ctx.ci_prob:.0%} {getattr(partition, 'attrs', {}).get('interval', '')}"
    return {"table": shown(ctx.parameters),
            "interval": ctx.parameters_interval or "interval (not recorded)",
            "partition": shown(partition),
            "partition_interval": partition_interval.strip()}


def _ppc_section(ctx: ReportContext) -> dict | None:
    tree = ctx.ppc
    if tree is None or not {"observed_data", "posterior_predictive"} <= set(tree.children):
        return None
    observed = tree["observed_data"].to_dataset()
    predicted = tree["posterior_predictive"].to_dataset()
    names = [n for n in observed.data_vars if n in predicted.data_vars]
    outcome = (ctx.model or {}).get("outcome")
    constant = tree["constant_data"].to_dataset() if "constant_data" in tree.children else {}
    trials = constant.get("trials")  # a binomial outcome: drawn as y / trials
    images = [_image(_drawn(lambda n=n: plots.ppc_plot(observed[n], predicted[n], prob=ctx.ci_prob,
                                                       trials=trials),
                            f"posterior predictive check of {n}"),
                     f"Posterior predictive check of {n}",
                     key="ppc_overall" if n == outcome else None) for n in names]
    return {"images": images} if images else None


def _dominance_analysis_section(ctx: ReportContext) -> dict | None:
    """General, conditional and complete dominance of the level groups, and the sub-model fits."""
    result = ctx.dominance_analysis
    if result is None:
        return None
    data = result.to_dict(prob=ctx.ci_prob)
    figure = _drawn(lambda: plot_dominance(result, prob=ctx.ci_prob), "general dominance")
    ranking = [str(g) for g in data.get("ranking") or data["groups"]]
    submodels = data.get("submodels") or {}
    interval = f"{data['ci_prob']:.0%}"
    general, share = data["general"], data.get("general_share") or {}
    frame = pd.DataFrame({
        "level": ranking,
        "conditions": [", ".join(map(str, (submodels.get(g) or {}).get("conditions") or ()))
                       for g in ranking],
        "general dominance (R² added)": [general[g]["mean"] for g in ranking],
        f"{interval} lower": [general[g]["lower"] for g in ranking],
        f"{interval} upper": [general[g]["upper"] for g in ranking],
        "share of the full model's R²": [(share.get(g) or {}).get("mean") for g in ranking],
    })
    if not frame["conditions"].str.len().any():
        frame = frame.drop(columns="conditions")
    pairs = pd.DataFrame([
        {"comparison": f"{a} dominates {b}",
         **{f"P({kind} dominance)": _probability((data[f"p_{kind}"].get(a) or {}).get(b))
            for kind in ("complete", "conditional", "general")}}
        for a in ranking for b in ranking if a != b])
    # conditional dominance: keys "level|order" (rsplit: a level name may hold "|")
    orders: dict[str, dict[str, float]] = {}
    for key, stats in (data.get("conditional") or {}).items():
        level, order = key.rsplit("|", 1)
        orders.setdefault(level, {})[f"k = {order}"] = stats["mean"]
    conditional = None
    if orders:
        conditional = pd.DataFrame.from_dict(orders, orient="index").reindex(ranking)
        conditional.index.name = "level"
    full = (data.get("r2") or {}).get("+".join(data["groups"])) or {}
    fits = [{"subset": label, "conditions": format_cell(entry.get("conditions")),
             "passed": bool(entry.get("passed", True)),
             "failed": format_cell(entry.get("failed_gates")) if entry.get("failed_gates") else "",
             "seconds": format_cell(entry.get("seconds")),
             "draws": format_cell(entry.get("draws")),
             "extended": extended_cell(entry.get("extensions"))}
            for label, entry in submodels.items()]
    failed = [f["subset"] for f in fits if not f["passed"]]
    return {
        "interval": interval,
        "full_r2": None if not full else (f"{full['mean']:.3f} [{full['lower']:.3f}, "
                                          f"{full['upper']:.3f}]"),
        "fit_measure": data.get("fit_measure", ""),
        "pairing": data.get("pairing", ""),
        "general": table(frame.round(SUMMARY_DECIMALS)),
        "pairs": table(pairs),
        "conditional": None if conditional is None else table(conditional.round(SUMMARY_DECIMALS)),
        "fits": fits,
        "failed": failed,
        "image": None if figure is None else _image(
            figure, "General dominance of each level group with its interval", key="dominance"),
    }


def _ppc_checks_section(ctx: ReportContext) -> dict | None:
    """Per-group checks: the group statistic of each grouping, flagged group cells, LOO-PIT."""
    result = ctx.ppc_checks
    if result is None:
        return None
    data = result.to_dict()
    figures = {f"ppc_{key}_variance": _drawn(lambda check=check: plot_group_statistic(check),
                                             f"between-{key} variance")
               for key, check in result.group_statistics.items()}
    if result.loo_pit is not None:
        figures["loo_pit"] = _drawn(lambda: plot_loo_pit(result.loo_pit), "LOO-PIT")
    statistics = data.get("group_statistics") or {}
    interval = f"{data.get('ci_prob', ctx.ci_prob):.0%}"
    groups = []
    for key, stat in statistics.items():
        lower, upper = stat["replicated_interval"]
        row = pd.DataFrame({"statistic": [stat["statistic"]], "groups": [stat["n_groups"]],
                            "observed": [stat["observed"]],
                            "replicated mean": [stat["replicated_mean"]],
                            f"{interval} lower": [lower], f"{interval} upper": [upper],
                            "p-value (mid-p)": [_probability(stat["p_value"])]})
        figure = figures.get(f"ppc_{key}_variance")
        groups.append({"grouping": key, "table": table(row),
                       "image": None if figure is None else _image(
                           figure, f"Between-{key} variance of the mean outcome: observed "
                                   "against replicated data sets", key=f"ppc_{key}_variance")})
    flagged_rows, cells = [], []
    for key, part in (data.get("groups") or {}).items():
        flagged_rows.append({"grouping": key, "groups": part["n_groups"], "cells": part["n_cells"],
                             "flagged cells": part["n_extreme"],
                             "listed below": len(part.get("extreme") or ())})
        for cell in part.get("extreme") or ():
            row = "statistic" if "statistic" in cell else "category"  # density or category checks
            cells.append({"grouping": key, "group": cell.get(key), row: cell.get(row),
                          "individuals": cell.get("n_individuals"), "observed": cell["observed"],
                          "replicated mean": cell["replicated_mean"],
                          f"{interval} lower": cell["replicated_lower"],
                          f"{interval} upper": cell["replicated_upper"],
                          "p-value (mid-p)": _probability(cell["p_value"])})
    pit = data.get("loo_pit")
    loo_pit = None
    if pit:
        figure = figures.get("loo_pit")
        loo_pit = {
            "table": _pairs({"uniformity test p-value": _probability(pit["uniformity_p_value"]),
                             "test": pit["method"], "observations": pit["n"],
                             "PIT": "randomised (discrete outcome)" if pit["randomised"]
                                    else "PSIS-weighted conditional CDF"
                                    if pit.get("estimator") == "conditional CDF"
                                    else "Pareto-smoothed", "seed": pit["seed"]}),
            "image": None if figure is None else _image(
                figure, "LOO-PIT: difference of the ECDF from the uniform CDF", key="loo_pit"),
        }
    p_extreme = data.get("p_extreme")
    return {
        "groups": groups,
        "flagged": table(pd.DataFrame(flagged_rows)) if flagged_rows else None,
        "cells": table(pd.DataFrame(cells).round(SUMMARY_DECIMALS)) if cells else None,
        "p_extreme": None if p_extreme is None else f"[{p_extreme:g}, {1 - p_extreme:g}]",
        "interval": interval,
        "loo_pit": loo_pit,
    }


def _raters_section(ctx: ReportContext) -> dict | None:
    """Rater severities and the model-implied agreement beside Krippendorff's alpha."""
    result = ctx.raters
    if result is None:
        return None
    from analysis.raters import plot_raters

    agreement = result.agreement_table(prob=ctx.ci_prob)
    interval = f"{ctx.ci_prob:.0%}"
    agreement = agreement.rename(columns={"agreement lower": f"agreement {interval} lower",
                                          "agreement upper": f"agreement {interval} upper"})
    severity = result.severity_table(prob=ctx.ci_prob).rename(
        columns={"lower": f"{interval} lower", "upper": f"{interval} upper"})
    figure = _drawn(lambda: plot_raters(result, prob=ctx.ci_prob), "raters")
    return {
        "interval": interval,
        "agreement": table(agreement.round(SUMMARY_DECIMALS)),
        "severity": table(severity.round(SUMMARY_DECIMALS)),
        "split": result.split_conditions(),
        "per_rater": result.discrimination_per_rater,
        "image": None if figure is None else _image(
            figure, "Rater severities, and the agreement per condition beside Krippendorff's alpha",
            key="raters"),
    }


def _provenance_section(ctx: ReportContext) -> dict | None:
    if ctx.provenance is None:
        return None
    prov = dict(ctx.provenance)
    config = prov.pop("config", None)
    versions = prov.pop("versions", None)
    command = prov.get("command")
    ordered = {k: prov.get(k) for k in PROVENANCE_KEYS if k != "command"}
    ordered.update({k: v for k, v in prov.items() if k not in PROVENANCE_KEYS})
    return {
        "command": None if command is None else str(command),
        "details": _pairs({k: ("not recorded" if v is None else v) for k, v in ordered.items()}),
        "versions": _pairs(versions) if versions else None,
        "config": None if config is None else config_text(config),
    }


def config_text(config) -> str:
    """Write the run config as TOML (JSON when it holds values TOML cannot write)."""
    if isinstance(config, str):
        return config
    import tomli_w

    try:
        return tomli_w.dumps(dict(config))
    except (TypeError, ValueError):
        return json.dumps(config, indent=2, default=str, ensure_ascii=False)


def _environment() -> jinja2.Environment:
    # autoescape=True for every template, whatever its file name: all output is HTML.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(context: ReportContext | Mapping[str, Any]) -> str:
    """Render the report to an HTML string (see :func:`render_report`).

    A figure that cannot be drawn is left out and listed at the top of the page with the
    parts of the checks that failed: the page is always rendered.
    """
    ctx = context if isinstance(context, ReportContext) else ReportContext.from_dict(context)
    failed_figures: dict[str, str] = {}
    token = _FAILED_FIGURES.set(failed_figures)
    try:
        page = _page(ctx)
    finally:
        _FAILED_FIGURES.reset(token)
    page["check_errors"].update(failed_figures)
    return _environment().get_template("report.html.j2").render(page=page)


def _page(ctx: ReportContext) -> dict:
    verdict, difference = _verdict_dict(ctx.verdict)
    page = {
        "title": ctx.title,
        "notice": ctx.notice,
        "ci_prob": f"{ctx.ci_prob:.0%}",
        "data": _data_section(ctx),
        "model": _model_section(ctx),
        "diagnostics": _diagnostics_section(ctx, verdict),
        "verdict": _verdict_section(ctx, verdict, difference),
        "effects": _effects_section(ctx),
        "shares": _shares_section(ctx),
        # the model's unit: an alliance-level outcome's is the alliance (models.macro)
        "unit": "alliance" if ctx.alliance_note else "individual",
        "parameters": _parameters_section(ctx),
        "truth": None if ctx.truth is None else table(ctx.truth.round(SUMMARY_DECIMALS)),
        "ppc": _ppc_section(ctx),
        "dominance_analysis": _dominance_analysis_section(ctx),
        "ppc_checks": _ppc_checks_section(ctx),
        "raters": _raters_section(ctx),
        "measurement": ctx.measurement,
        "unavailable": dict(ctx.unavailable or {}),
        "check_errors": dict(ctx.check_errors or {}),
        "check_skipped": dict(ctx.check_skipped or {}),
        "loo": table(ctx.loo) if ctx.loo is not None else None,
        "loo_method": None if ctx.loo is None else ctx.loo.attrs.get("method"),
        "sensitivity": table(ctx.sensitivity) if ctx.sensitivity is not None else None,
        "sensitivity_threshold": (None if ctx.sensitivity is None
                                  else ctx.sensitivity.attrs.get("threshold")),
        "provenance": _provenance_section(ctx),
        "version": toolkit_version(),
    }
    return page


def render_report(
    context: ReportContext | Mapping[str, Any],
    out_path: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> Path:
    """Write one self-contained HTML report.

    Parameters
    ----------
    context : ReportContext or mapping
        What to show; a mapping holds :class:`ReportContext` field names. Missing
        sections render as "not available".
    out_path : str or path-like
        HTML file to write; its folder is created if needed.
    overwrite : bool, default False
        Replace an existing file. Without it an existing file is an error.

    Returns
    -------
    pathlib.Path
        The file written. It is written to a temporary file in the same folder and then
        renamed, so a reader never sees a half-written report.

    Raises
    ------
    FileExistsError
        When ``out_path`` exists and ``overwrite`` is False.
    """
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"{out_path} exists; pass overwrite=True (CLI: --force) to replace it")
    html = render_html(context)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out_path, html)
    logger.info("wrote report %s (%d bytes)", out_path, len(html.encode("utf-8")))
    return out_path

