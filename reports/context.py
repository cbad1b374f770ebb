"""What a report of a run shows: a :class:`~reports.html.ReportContext` built from a run.

:func:`build_context` collects, from a run directory (:func:`models.load_run`) and its
checks (an :class:`analysis.Checks`, just computed by :func:`analysis.check_run` or read
back by :func:`analysis.load_checks`: the same object either way, so the page is the same):

- the data: units per level and missing codes per condition (from the run's survey) and,
  when the run was fitted to a raters' coding sheet, Krippendorff's alpha per condition
  (``reliability.csv`` in the run directory, written by :func:`save_reliability`);
- the model and its priors (the run's config, defaults resolved);
- the diagnostics and what the sampler did (``summary.json``'s ``sampling`` block: a fit
  that missed a gate narrowly was sampled again, longer, :mod:`models.extend`) and the
  verdict, the effects (per raw unit, per SD, and as a change in a
  probability), the variance shares, the posterior predictive draws;
- the model's other parameters (group SDs, sigma, cutpoints, intercept: ``summary.json``'s
  numbers) and the variance partition (each level's ICC, computed per posterior draw);
- for a rater-model run, each rater's severity and the model-implied agreement per condition
  beside Krippendorff's alpha of the codes (the checks' :mod:`analysis.raters`);
- the Bayesian dominance analysis of the level groups, the per-group posterior predictive
  checks and LOO-PIT, the LOO comparison and the prior sensitivity tables of the checks (or
  why the checks skipped a part or failed in it), and every part that failed;
- the provenance: data file and hash, seed, versions, config, the command that made the
  run and a command that refits it from the run directory alone.

Nothing the checks computed is recomputed here: the verdict, the variance shares and the
readable effects are the checks' own (the report's verdict is the checks' verdict by
construction). Only the effects per SD and per raw unit, which are ``summary.json``'s
numbers, are read from the run's posterior.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from analysis import Checks, posterior_summary, sides_and_levels
from analysis.submodels import kept_sampling
from data.constants import SAMPLE_DIMS
from data.files import restore, write_csv
from models import DEFAULT_PRIORS, get_family
from models.extend import sampling_record
from models.priors import OUTCOME_SCALED
from models.run import raw_sd

from .html import ReportContext, extended_cell

logger = logging.getLogger(__name__)

__all__ = [
    "EXAMPLE_NOTICE",
    "RELIABILITY_FILE",
    "build_context",
    "effect_draws",
    "example_data_path",
    "example_truth_table",
    "is_example_data",
    "load_reliability",
    "missing_table",
    "parameter_table",
    "prior_table",
    "provenance",
    "rerun_command",
    "save_reliability",
    "variance_partition",
]

RELIABILITY_FILE = "reliability.csv"
EXAMPLE_NOTICE = ("SIMULATED example data (data/example/README.md): this report shows the "
                  "workflow on data generated from known values; it is not evidence about real "
                  "alliances.")


def example_data_path() -> Path:
    """The shipped example survey (simulated; ``data/example/README.md``)."""
    return Path(str(resources.files("data") / "example" / "survey.csv"))


def is_example_data(run) -> bool:
    """Whether the run was fitted to the shipped (simulated) example survey, by its hash."""
    recorded = (run.summary.get("provenance") or {}).get("data_sha256")
    if not recorded:
        return False
    return hashlib.sha256(example_data_path().read_bytes()).hexdigest() == recorded


def example_truth_table(run, decomposition: xr.Dataset | None = None, *,
                        ci_prob: float = 0.89) -> pd.DataFrame | None:
    """Estimates of a run on the shipped example beside the values it was simulated from.

    Read from ``data/example/survey.truth.json`` (written by :func:`data.simulate`). The
    interpersonal share is Pratt's product measure in both (the truth's is realised over the
    respondents). The truth's ``effects`` are per SD of each condition before its codes were
    set missing; the toolkit's ``per_sd`` is per SD of the *observed* codes, so the truth is
    put on the toolkit's scale: its ``effects_per_unit`` times the run's SD.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``quantity``, ``scale``, ``simulated truth``, ``mean``, ``<p> lower``,
        ``<p> upper`` and ``truth in interval``; None when the run is not on the example.
    """
    from analysis import posterior_summary

    if not is_example_data(run):
        return None
    truth = json.loads(example_data_path().with_suffix(".truth.json").read_text(encoding="utf-8"))
    if truth.get("outcome") != run.spec.outcome:  # e.g. the alliance outcome: another model's truth
        return None
    lower, upper = f"{ci_prob:.0%} lower", f"{ci_prob:.0%} upper"
    rows = []

    def row(quantity, scale, true_value, draws):
        s = posterior_summary(draws, prob=ci_prob)
        lo, hi = float(s.sel(stat="lower")), float(s.sel(stat="upper"))
        rows.append({"quantity": quantity, "scale": scale, "simulated truth": float(true_value),
                     "mean": float(s.sel(stat="mean")), lower: lo, upper: hi,
                     "truth in interval": "yes" if lo <= true_value <= hi else "no"})

    if decomposition is not None and "side_share" in decomposition:
        side = decomposition["side_share"]
        if "interpersonal" in side["side"].values:
            row("interpersonal share", "Pratt share of explained variance",
                truth["shares"]["side"]["interpersonal"], side.sel(side="interpersonal"))
    per_sd = effect_draws(run).get("per SD (linear predictor)")
    if per_sd is not None:
        for condition in per_sd["condition"].values:
            condition = str(condition)
            if condition not in truth["effects_per_unit"]:
                continue
            draws = per_sd.sel(condition=condition)
            row(f"effect of {condition}", "per SD of the observed codes (linear predictor)",
                truth["effects_per_unit"][condition] * _run_raw_sd(run, condition), draws)
    return pd.DataFrame(rows) if rows else None


def _run_raw_sd(run, condition: str) -> float:
    """The run's SD of a condition's raw codes over its level's units (the ``per_sd`` scale)."""
    constant = run.tree["constant_data"]
    return raw_sd(constant, condition, float(constant["condition_scale"].sel(condition=condition)))


# -- coding reliability, kept in the run directory ---------------------------------------------
def save_reliability(table: pd.DataFrame, run_dir: str | Path) -> Path:
    """Write the coding reliability of a run's data into its run directory.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`data.reliability` or ``CodedSurvey.reliability`` (indexed by condition).
    run_dir : str or Path
        The run directory (must exist).

    Returns
    -------
    Path
        ``run_dir / "reliability.csv"``, which :func:`build_context` shows.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    return write_csv(run_dir / RELIABILITY_FILE, table, index=True)


def load_reliability(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's coding reliability table, or None when its data were not rater-coded."""
    path = Path(run_dir) / RELIABILITY_FILE
    if not path.is_file():
        return None
    table = pd.read_csv(path, index_col=0, keep_default_na=False, na_values=[""])
    table.index = table.index.map(restore)  # condition names, neutralised by write_csv
    if "note" in table:
        # an all-empty column reads as float NaN: notes are text
        table["note"] = ["" if pd.isna(note) else str(note) for note in table["note"]]
    return table


# -- data, model and priors -------------------------------------------------------------------
def missing_table(survey) -> pd.DataFrame:
    """Units and missing codes of every condition and outcome, counted at its own level.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, ``kind`` (condition or outcome), ``level``, ``side``,
        ``scale``, ``units``, ``missing``.
    """
    codebook = survey.codebook
    counts = survey.counts()
    missing = survey.missing()
    rows = []
    for kind, names in (("condition", survey.conditions), ("outcome", survey.outcomes)):
        for name in names:
            var = codebook.variable(name)
            rows.append({"variable": name, "kind": kind, "level": var.level,
                         "side": getattr(var, "side", None) if kind == "condition" else "",
                         "scale": var.scale.name, "units": int(counts.get(var.level, 0)),
                         "missing": int(missing.get(name, 0))})
    return pd.DataFrame(rows, columns=["variable", "kind", "level", "side", "scale", "units",
                                       "missing"])


def prior_table(spec, *, any_missing: bool = True) -> dict[str, Any]:
    """The prior of every term in the model, as the report lists them.

    Parameters
    ----------
    spec : models.ModelSpec
        The run's spec (defaults resolved).
    any_missing : bool
        Whether some condition code is missing (then the imputation prior is used).

    Returns
    -------
    dict
        Term -> prior (``{"dist", "kwargs"}`` or text). Defaults the gaussian family
        rescales by the outcome's SD say so.
    """
    family = get_family(spec.family)
    kinds: list[tuple[str, str, str | None]] = []  # (shown name, kind, level)
    if spec.conditions and not spec.shrinkage:
        kinds.append(("effect (per SD of a condition)", "effect", None))
    for level in spec.group_effects or ():
        kinds.append((f"group_sd.{level}", "group_sd", level))
    if spec.varying_slopes:
        kinds.append(("slope_sd", "slope_sd", None))
    kinds.extend((term, term, None) for term in family.prior_terms)
    if any_missing and spec.conditions:
        kinds.append(("imputation (missing codes, standardised scale)", "imputation", None))

    out: dict[str, Any] = {}
    if spec.shrinkage:
        options = ", ".join(f"{k}={v}" for k, v in spec.options().items())
        out["effect (shrinkage)"] = f"{spec.shrinkage}({options})"
    for shown, kind, level in kinds:
        if kind not in DEFAULT_PRIORS:
            continue
        prior, is_default = spec.prior(kind, level)
        # the family's model sees y standardised: these defaults are rescaled by its SD
        if is_default and family.scaled_y and kind in OUTCOME_SCALED:
            from .html import format_prior

            prior = f"{format_prior(prior)} × SD of the outcome (default, rescaled)"
        out[shown] = prior
    return out


def model_description(run) -> dict[str, Any]:
    """The model's description for the report: outcome, family, terms, sampling."""
    spec = run.spec
    sampling = run.config.sampling
    summary = run.summary
    description = {
        "outcome": spec.outcome,
        "family": get_family(spec.family).label,
        "conditions": list(spec.conditions or ()),
        "group effects (varying intercepts)": list(spec.group_effects or ()) or "none",
        "slopes varying by alliance": list(spec.varying_slopes) or "none",
        "predictors standardised": spec.standardize,
        "centred group levels": list(spec.centered) or "none (non-centred)",
        "individuals left out (missing outcome)": summary.get("data", {}).get("n_missing_outcome", 0),
        "sampler": f"{sampling.sampler}: {sampling.chains} chains × {sampling.draws} draws "
                   f"after {sampling.tune} tuning steps, target accept {sampling.target_accept:g}",
    }
    runs = (summary.get("sampling") or {}).get("attempts") or []
    if len(runs) > 1:  # a narrow gate miss was extended (models.extend): say what was kept
        kept = runs[-1]
        description["sampler"] += (f"; extended to {kept['draws']} draws after {kept['tune']} "
                                   f"tuning steps, target accept {kept['target_accept']:g} "
                                   "(see Sampling diagnostics)")
    if spec.trials is not None:
        description["trials"] = spec.trials
    if run.tree.attrs.get("aggregation"):  # an alliance-level outcome (models.macro)
        from models.macro import MEASUREMENT_PRIORS, ORGANISATION_RULE

        description.pop("individuals left out (missing outcome)")
        description["unit of the outcome"] = (f"the alliance ({run.tree['constant_data'].sizes['individual']} "
                                              "alliances; micro-macro model)")
        description["alliances left out (missing outcome)"] = summary.get("data", {}).get("n_missing_outcome", 0)
        description["individual- and network-level conditions"] = (
            f"{run.tree.attrs['aggregation']} alliance means"
            + (" estimated from the members with their sampling error (Croon & van Veldhoven 2007)"
               if run.tree.attrs["aggregation"] == "latent" else " treated as exact"))
        description["organisation-level conditions"] = ORGANISATION_RULE
        if run.tree.attrs["aggregation"] == "latent":
            description["measurement priors (fixed)"] = MEASUREMENT_PRIORS
    return description


def alliance_note(run, decomposition, ci_prob: float) -> str | None:
    """For an alliance-level outcome: the shares are between alliances, and how wide they are."""
    from analysis import posterior_summary

    if not run.tree.attrs.get("aggregation"):
        return None
    n = run.tree["constant_data"].sizes["individual"]
    note = (f"The outcome {run.spec.outcome} is measured once per alliance: these are shares of the "
            f"variance explained between the {n} alliances.")
    if decomposition is not None and "side_share" in decomposition:
        s = posterior_summary(decomposition["side_share"].sel(side="interpersonal"), prob=ci_prob)
        lo, hi = float(s.sel(stat="lower")), float(s.sel(stat="upper"))
        note += (f" With {n} alliances they are uncertain: the interpersonal share's {ci_prob:.0%} "
                 f"interval runs from {lo:.2f} to {hi:.2f}, {hi - lo:.2f} wide"
                 + (" (more than half the 0-1 range)." if hi - lo > 0.5 else "."))
    return note


# -- draws: effects and variance shares ----------------------------------------------------------
def effect_draws(run, readable: xr.DataArray | None = None) -> dict[str, xr.DataArray]:
    """Effect draws of every condition on the scales the report shows.

    Returns
    -------
    dict of str to xarray.DataArray
        ``"per SD (linear predictor)"`` and ``"per raw unit (linear predictor)"`` (the
        same numbers as ``summary.json``'s ``per_sd`` and ``per_unit``) and, when
        ``readable`` is given (the checks' ``Checks.effects``), the change in the
        sample-average probability of a high outcome (or in its mean) for a step of one
        model unit, +1 SD for standardised conditions; dims (chain, draw, condition).
    """
    from models.contributions import (  # the posterior's one reader
        effects,
        has_conditions,
    )

    tree = run.tree
    if not has_conditions(tree):
        return {}
    constant = tree["constant_data"]
    b = effects(tree)
    names = [str(c) for c in b["condition"].values]
    scale = constant["condition_scale"].sel(condition=names)
    sd_raw = xr.DataArray([raw_sd(constant, c, float(scale.sel(condition=c))) for c in names],
                          dims="condition", coords={"condition": names})
    per_unit = (b / scale).drop_vars([c for c in b.coords if c not in (*SAMPLE_DIMS, "condition")])
    per_sd = per_unit * sd_raw
    per_sd.attrs["quantity"] = "change in the linear predictor (logit scale for logit links) per SD"
    per_unit.attrs["quantity"] = "change in the linear predictor per one step of the code"
    out = {"per SD (linear predictor)": per_sd, "per raw unit (linear predictor)": per_unit}
    if readable is None:
        return out
    readable = readable.copy()
    step = "+1 SD" if run.spec.standardize else "+1 raw unit"  # b is per model unit
    title = f"{readable.attrs['quantity'].split(' (')[0]} per {step}"
    if readable.attrs.get("contrast"):
        title += ", 0 → 1 for binary conditions"
    readable.attrs["quantity"] = readable.attrs["quantity"].replace("+step", step)
    out[title] = readable
    return out


# -- the model's other parameters and the variance partition ------------------------------------
def parameter_table(summary: Mapping) -> pd.DataFrame | None:
    """Group SDs, sigma, cutpoints and intercept as ``summary.json`` gives them.

    Returns
    -------
    pandas.DataFrame or None
        Index ``parameter``; columns ``mean``, ``sd``, ``lower``, ``upper`` (the interval
        ``summary["interval"]`` names). None when the summary holds none of them.
    """
    rows = {}
    for level, stats in (summary.get("group_sd") or {}).items():
        rows[f"group SD: {level}"] = stats
    if summary.get("sigma"):
        rows["sigma (residual SD)"] = summary["sigma"]
    for cut, stats in (summary.get("cutpoints") or {}).items():
        rows[f"cutpoint {cut}"] = stats
    if summary.get("intercept"):
        rows["intercept"] = summary["intercept"]
    if not rows:
        return None
    table = pd.DataFrame.from_dict(rows, orient="index")[["mean", "sd", "lower", "upper"]]
    table.index.name = "parameter"
    return table.astype(float)


def variance_partition(posterior: xr.Dataset, family, *, prob: float | None = None
                       ) -> pd.DataFrame | None:
    """Each group level's share of the total latent variance (its ICC), per draw.

    ``sd_level^2 / (sum of the group variances + residual variance)``; the residual variance
    is the family's (pi^2/3 for logit links, sigma^2 for the gaussian), so the shares and the
    residual's sum to one in every draw. Summarised by :func:`analysis.posterior_summary`.

    Returns
    -------
    pandas.DataFrame or None
        Index ``component`` (levels, then ``residual``); columns ``mean``, ``sd``, ``lower``,
        ``upper``. None when the model has no group levels.
    """
    family = get_family(family) if isinstance(family, str) else family
    # the same group SDs as summary.json's group_sd (sd_slope is a slope's SD, not a level's)
    levels = [name for name in posterior.data_vars
              if name.startswith("sd_") and name != "sd_slope" and posterior[name].ndim == 2]
    if not levels:
        return None
    variances = {name[3:]: posterior[name] ** 2 for name in levels}
    residual = family.residual_variance(family.residual_sd(posterior))
    residual = xr.zeros_like(next(iter(variances.values()))) + residual
    total = sum(variances.values()) + residual
    shares = xr.Dataset({**{level: v / total for level, v in variances.items()},
                         "residual": residual / total})
    summary = posterior_summary(shares, prob=prob)
    table = pd.DataFrame({name: {stat: float(summary[name].sel(stat=stat))
                                 for stat in ("mean", "sd", "lower", "upper")}
                          for name in shares.data_vars}).T
    table.index.name = "component"
    table.attrs["interval"] = summary.attrs.get("interval", "")
    return table


# -- provenance ---------------------------------------------------------------------------------
def rerun_command(run, out: str | Path | None = None) -> str:
    """A command that refits the run from its own directory: same data, config and seed.

    It reads the validated data (``data.parquet``), the codebook and the config (with the
    sampling options and seed) saved in the run directory, so it needs nothing else.
    """
    where = Path(run.path) if run.path is not None else Path("RUN_DIR")
    out = Path(out) if out is not None else where.with_name(f"{where.name}-rerun")
    parts = ["alliance-learning", "fit", str(where / "data.parquet"),
             "--codebook", str(where / "codebook.toml"), "--config", str(where / "config.toml"),
             "--out", str(out)]
    return shlex.join(parts)


def provenance(run) -> dict[str, Any]:
    """Provenance of a run for the report (command, data, hash, seed, versions, config)."""
    recorded = run.summary.get("provenance", {}) or {}
    command = recorded.get("command") or rerun_command(run)
    config = recorded.get("config") or run.config.to_dict()
    return {
        "command": command,
        "data_file": recorded.get("data_source"),
        "data_hash": f"sha256:{recorded['data_sha256']}" if recorded.get("data_sha256") else None,
        "seed": recorded.get("seed"),
        "created": recorded.get("written"),
        "data content fingerprint": recorded.get("data_fingerprint"),
        "sampler": recorded.get("sampler"),
        "run directory": str(run.path) if run.path is not None else None,
        "refit from the run directory": rerun_command(run),
        "summary schema": recorded.get("schema_version"),
        "versions": recorded.get("versions"),
        "config": config,
    }


# -- checks -------------------------------------------------------------------------------------
def load_checks_json(run_dir: str | Path) -> Checks | None:
    """The checks of a run directory (:func:`analysis.load_checks`), or None when it has none."""
    from analysis import load_checks

    try:
        return load_checks(run_dir)
    except FileNotFoundError:
        return None


def _loo_frame(loo: Mapping | None, fits: Mapping | None = None) -> pd.DataFrame | None:
    """The LOO comparison as a table, from its record (``PredictiveComparison.to_dict``).

    ``fits``: model name to its fit's ``draws`` (per chain) and ``extensions`` (checks.json's
    ``submodels``, and the run itself as ``both``), shown beside each model.
    """
    if loo is None:
        return None
    models = loo.get("models") or []
    if not models:
        return None
    table = pd.DataFrame([{k: v for k, v in m.items() if k != "pareto_k"} for m in models])
    table = table.set_index("model")
    flagged = pd.Series({m["model"]: (m.get("pareto_k") or {}).get("n_k_over_threshold")
                         for m in models})
    keep = [c for c in ("rank", "elpd", "se", "elpd_diff", "dse", "p", "weight") if c in table]
    table = table[keep]
    table[f"Pareto k > {loo.get('khat_threshold') or 0.7:g}"] = flagged.reindex(table.index)
    table.index.name = "model"
    numeric = table.select_dtypes("number").columns
    table[numeric] = table[numeric].astype(float).round(3)
    fits = fits or {}
    kept = [fits.get(m) or {} for m in table.index]
    table["draws per chain"] = pd.Series([k.get("draws") for k in kept], index=table.index,
                                         dtype=object)  # whole numbers, a dash where unknown
    table["extended"] = [extended_cell(k.get("extensions")) for k in kept]
    table.attrs.update(method=loo.get("method"))  # explained under the table in the report
    return table


def _loo_fits(record: Mapping, run) -> dict:
    """Each LOO model's draws per chain and extensions: its sub-model's, or the run's (``both``)."""
    fits = dict(record.get("submodels") or {})
    fits["both"] = kept_sampling(run.tree, run.summary.get("sampling"))
    return fits


def _sensitivity_frame(sensitivity: Mapping | None) -> pd.DataFrame | None:
    """The prior sensitivity table, from its record (``PriorSensitivity.to_dict``)."""
    if sensitivity is None:
        return None
    quantities = sensitivity.get("quantities") or {}
    if not quantities:
        return None
    table = pd.DataFrame.from_dict(quantities, orient="index")
    table = table.drop(columns=[c for c in ("flagged",) if c in table])
    table.index.name = "quantity"
    # explained under the table in the report
    table.attrs.update(threshold=sensitivity.get("threshold"), alphas=sensitivity.get("alphas"))
    return table


def _why(checks: Checks | None, part: str) -> tuple[str, str] | None:
    """Why a part of the checks is missing: ``("skipped" | "failed", reason)``, or None."""
    if checks is None:
        return None
    for status, reasons in (("skipped", checks.skipped), ("failed", checks.errors)):
        if reasons.get(part):
            return status, str(reasons[part])
    return None


def _table_or_why(table: pd.DataFrame | None, checks, part: str) -> pd.DataFrame | None:
    """The part's table, or a one-row table saying why it is missing (skipped or failed)."""
    if table is not None:
        return table
    why = _why(checks, part)
    return None if why is None else pd.DataFrame({"status": [why[0]], "why": [why[1]]})


def build_context(
    run,
    checks: Checks | None = None,
    *,
    reliability: pd.DataFrame | None = None,
    title: str | None = None,
    notice: str | None = None,
    ci_prob: float = 0.89,
) -> ReportContext:
    """Everything the report of a run shows.

    Parameters
    ----------
    run : models.Run
        A loaded or just saved run.
    checks : analysis.Checks, optional
        Its checks (:func:`analysis.check_run` or :func:`analysis.load_checks`). None reads
        them from the run directory; without checks the verdict, shares, dominance
        analysis, per-group predictive checks, LOO and sensitivity sections say "not
        available" (a part the checks skipped or failed says why).
    reliability : pandas.DataFrame, optional
        Coding reliability; default ``reliability.csv`` in the run directory (absent for a
        run fitted to wide data: the section then says "not available").
    title, notice : str, optional
        Page title (default names the outcome and the data file) and a banner under it
        (default: a warning when the data are the shipped simulated example, else none).
    ci_prob : float, default 0.89
        Probability of the intervals in the effects and shares.

    Returns
    -------
    ReportContext
    """
    if checks is None and run.path is not None:
        checks = load_checks_json(run.path)
    if checks is not None and not isinstance(checks, Checks):
        raise TypeError(f"checks must be an analysis.Checks (check_run or load_checks), "
                        f"not {type(checks).__name__}")
    if reliability is None and run.path is not None:
        reliability = load_reliability(run.path)
    spec = run.spec
    survey = run.survey
    prov = provenance(run)
    data_file = prov.get("data_file") or getattr(survey, "source", None)
    # the checks' record: what checks.json holds, the same for a live and a loaded Checks
    record = checks.to_dict() if checks is not None else {}

    diagnostics = checks.diagnostics if checks is not None else run.summary.get("diagnostics")
    effects = None
    if spec.conditions:
        effects = effect_draws(run, readable=None if checks is None else checks.effects)

    codebook = survey.codebook
    names = list(spec.conditions or ())
    labels = {n: codebook.conditions[n].label for n in names if n in codebook.conditions}
    sides, levels = sides_and_levels(codebook, [n for n in names if n in codebook.conditions])
    tree = run.tree
    ppc = None
    if {"observed_data", "posterior_predictive"} <= set(tree.children):
        ppc = _rename_outcome(tree, spec.outcome)

    unavailable = {part: f"{why[0]}: {why[1]}"
                   for part in ("dominance", "ppc", "verdict", "decomposition")
                   if (why := _why(checks, part)) is not None}
    if checks is None:
        unavailable["checks"] = "the run has not been checked (alliance-learning check RUN_DIR)"
    missing = missing_table(survey)
    any_missing = bool(missing.loc[missing["kind"] == "condition", "missing"].sum())
    return ReportContext(
        title=title or f"Alliance learning report: {spec.outcome} in {Path(str(data_file)).name}",
        notice=notice if notice is not None else (EXAMPLE_NOTICE if is_example_data(run) else None),
        data_file=None if data_file is None else str(data_file),
        level_counts=survey.counts(),
        missing=missing,
        reliability=reliability,
        model=model_description(run),
        priors=prior_table(spec, any_missing=any_missing),
        diagnostics=diagnostics,
        verdict=None if checks is None else checks.verdict,
        effects=effects,
        condition_labels=labels,
        condition_sides=sides,
        condition_levels=levels,
        binary_conditions=tuple(n for n in names if n in codebook.conditions
                                and codebook.conditions[n].scale.kind == "binary"),
        decomposition=None if checks is None else checks.decomposition,
        truth=example_truth_table(run, None if checks is None else checks.decomposition,
                                  ci_prob=ci_prob),
        ppc=ppc,
        loo=_table_or_why(_loo_frame(record.get("loo"), _loo_fits(record, run)), checks, "loo"),
        parameters=parameter_table(run.summary),
        parameters_interval=run.summary.get("interval"),
        variance_partition=variance_partition(tree["posterior"].to_dataset(),
                                              get_family(spec.family), prob=ci_prob),
        sensitivity=_table_or_why(_sensitivity_frame(record.get("sensitivity")), checks,
                                  "sensitivity"),
        provenance=prov,
        sampling=run.summary.get("sampling") or sampling_record(tree),
        dominance_analysis=None if checks is None else checks.dominance,
        ppc_checks=None if checks is None else checks.ppc,
        raters=None if checks is None else checks.raters,
        measurement=run.summary.get("measurement"),
        unavailable=unavailable,
        check_errors=dict(record.get("errors") or {}),
        alliance_note=alliance_note(run, None if checks is None else checks.decomposition, ci_prob),
        check_skipped=dict(record.get("skipped") or {}),
        ci_prob=ci_prob,
    )


def _rename_outcome(tree: xr.DataTree, outcome: str) -> xr.DataTree:
    """Observed and predicted outcome, with ``y`` named after the outcome (the figure's axis),
    and a binomial outcome's trials (``constant_data``).
    """
    name = outcome.replace("/", "")  # DataTree forbids "/" in names
    groups = {group: tree[group].to_dataset()[["y"]].rename_vars({"y": name})
              for group in ("observed_data", "posterior_predictive")}
    if "constant_data" in tree.children and "trials" in tree["constant_data"]:
        groups["constant_data"] = tree["constant_data"].to_dataset()[["trials"]]  # binomial
    return xr.DataTree.from_dict(groups)
