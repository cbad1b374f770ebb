"""What a report of a run shows: a :class:`~reports.html.ReportContext` built from a run.

:func:`build_context` collects, from a run directory (:func:`models.load_run`) and its
checks (``checks/checks.json`` in the run directory, or an :class:`analysis.Checks` just
computed):

- the data: units per level and missing codes per condition (from the run's survey) and,
  when the run was fitted to a raters' coding sheet, Krippendorff's alpha per condition
  (``reliability.csv`` in the run directory, written by :func:`save_reliability`);
- the model and its priors (the run's config, defaults resolved);
- the diagnostics and the verdict, the effects (per raw unit, per SD, and as a change in a
  probability), the variance shares, the posterior predictive draws;
- the Bayesian dominance analysis of the level groups, the per-group posterior predictive
  checks and LOO-PIT, the LOO comparison and the prior sensitivity tables of the checks (or
  why the checks skipped a part or failed in it); their figures are drawn from a just
  computed :class:`analysis.Checks` or read from the PNGs saved beside ``checks.json``;
- the provenance: data file and hash, seed, versions, config, the command that made the
  run and a command that refits it from the run directory alone.

Draw-level objects that ``checks.json`` does not hold (the variance shares per draw, the
effects per draw) are recomputed from the run's posterior: they are deterministic
functions of the saved draws, so the figures match the numbers in ``checks.json``.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from analysis import (
    Gate,
    dominance_verdict,
    sides_and_levels,
    variance_decomposition,
)
from analysis.checks import effects_of
from data.constants import SAMPLE_DIMS
from data.files import restore, write_csv
from models import DEFAULT_PRIORS, contributions, get_family
from models.priors import OUTCOME_SCALED
from models.run import raw_sd

from .html import ReportContext
from .plots import PNG_SIGNATURE

logger = logging.getLogger(__name__)

__all__ = [
    "EXAMPLE_NOTICE",
    "RELIABILITY_FILE",
    "build_context",
    "effect_draws",
    "example_data_path",
    "is_example_data",
    "load_check_figures",
    "load_reliability",
    "missing_table",
    "prior_table",
    "provenance",
    "rerun_command",
    "run_decomposition",
    "save_reliability",
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
    if spec.trials is not None:
        description["trials"] = spec.trials
    return description


# -- draws: effects and variance shares ----------------------------------------------------------
def effect_draws(run, readable: xr.DataArray | None = None) -> dict[str, xr.DataArray]:
    """Effect draws of every condition on the scales the report shows.

    Returns
    -------
    dict of str to xarray.DataArray
        ``"per SD (linear predictor)"`` and ``"per raw unit (linear predictor)"`` (the
        same numbers as ``summary.json``'s ``per_sd`` and ``per_unit``) and the change in
        the sample-average probability of a high outcome (or in its mean) for a step of one
        model unit, +1 SD for standardised conditions (:func:`analysis.readable_effects`,
        as ``analysis.check_run`` computes them, or ``readable`` when given, e.g.
        ``Checks.effects``); dims (chain, draw, condition).
    """
    tree = run.tree
    posterior = tree["posterior"]
    if "b" not in posterior:
        return {}
    constant = tree["constant_data"]
    b = posterior["b"]
    names = [str(c) for c in b["condition"].values]
    scale = constant["condition_scale"].sel(condition=names)
    sd_raw = xr.DataArray([raw_sd(constant, c, float(scale.sel(condition=c))) for c in names],
                          dims="condition", coords={"condition": names})
    per_unit = (b / scale).drop_vars([c for c in b.coords if c not in (*SAMPLE_DIMS, "condition")])
    per_sd = per_unit * sd_raw
    per_sd.attrs["quantity"] = "change in the linear predictor (logit scale for logit links) per SD"
    per_unit.attrs["quantity"] = "change in the linear predictor per one step of the code"
    out = {"per SD (linear predictor)": per_sd, "per raw unit (linear predictor)": per_unit}
    if readable is None:  # as analysis.check_run computes them (in chunks of draws)
        readable = effects_of(tree)
    readable = readable.copy()
    step = "+1 SD" if run.spec.standardize else "+1 raw unit"  # b is per model unit
    title = f"{readable.attrs['quantity'].split(' (')[0]} per {step}"
    if readable.attrs.get("contrast"):
        title += ", 0 → 1 for binary conditions"
    readable.attrs["quantity"] = readable.attrs["quantity"].replace("+step", step)
    out[title] = readable
    return out


def run_decomposition(run) -> xr.Dataset:
    """Variance decomposition of a run's posterior (:func:`analysis.variance_decomposition`).

    Group variances are the posterior ``sd_<level>`` squared; the residual follows the
    run's family (sigma per draw for gaussian).
    """
    from models.predictive import over_draw_chunks

    def decompose(tree):
        posterior = tree["posterior"]
        parts = contributions(tree, by="condition")
        names = [str(c) for c in parts["condition"].values]
        sides, levels = sides_and_levels(run.survey.codebook, names)
        group_var = {name[3:]: posterior[name] ** 2 for name in posterior.data_vars
                     if name.startswith("sd_") and name != "sd_slope"}
        sigma = posterior["sigma"] if "sigma" in posterior else None
        return variance_decomposition(parts, sides=sides, levels=levels, group_var=group_var or None,
                                      family=run.spec.family, sigma=sigma)

    # per draw, on chunks of draws: never individuals x draws x conditions at once
    tree = run.tree
    per_draw = tree["constant_data"].sizes["individual"] * (tree["posterior"].sizes.get("condition", 0) + 2)
    return over_draw_chunks(tree, decompose, values_per_draw=per_draw)


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
def load_checks_json(run_dir: str | Path) -> dict | None:
    """``checks/checks.json`` of a run directory, or None when the run has not been checked."""
    from analysis import load_checks

    try:
        return load_checks(run_dir)
    except FileNotFoundError:
        return None


def _get(checks, name: str):
    """A part of the checks: an attribute of a Checks object or a key of its dict form."""
    if checks is None:
        return None
    if isinstance(checks, Mapping):
        return checks.get(name)
    return getattr(checks, name, None)


def _loo_frame(loo) -> pd.DataFrame | None:
    """The LOO comparison as a table, from a PredictiveComparison or its dict form."""
    if loo is None:
        return None
    if hasattr(loo, "table"):
        table = loo.table.copy()
        flagged = loo.pareto_k["n_k_over_threshold"] if hasattr(loo, "pareto_k") else None
    else:
        models = loo.get("models") or []
        if not models:
            return None
        table = pd.DataFrame([{k: v for k, v in m.items() if k != "pareto_k"} for m in models])
        table = table.set_index("model")
        flagged = pd.Series({m["model"]: (m.get("pareto_k") or {}).get("n_k_over_threshold")
                             for m in models})
    keep = [c for c in ("rank", "elpd", "se", "elpd_diff", "dse", "p", "weight") if c in table]
    table = table[keep]
    if flagged is not None:
        table[f"Pareto k > {_get(loo, 'khat_threshold') or 0.7:g}"] = flagged.reindex(table.index)
    table.index.name = "model"
    numeric = table.select_dtypes("number").columns
    table[numeric] = table[numeric].astype(float).round(3)
    return table


def _sensitivity_frame(sensitivity) -> pd.DataFrame | None:
    """The prior sensitivity table, from a PriorSensitivity or its dict form."""
    if sensitivity is None:
        return None
    if hasattr(sensitivity, "table"):
        table = sensitivity.table.copy()
    else:
        quantities = sensitivity.get("quantities") or {}
        if not quantities:
            return None
        table = pd.DataFrame.from_dict(quantities, orient="index")
        table = table.drop(columns=[c for c in ("flagged",) if c in table])
    table.index.name = "quantity"
    return table


def _verdict_from_draws(decomposition: xr.Dataset, diagnostics, recorded):
    """The verdict recomputed from the draws (for its figure) by the rule ``recorded`` states.

    ``recorded`` is the verdict's ``checks.json`` form (or None: the default rule). When the
    recomputed verdict differs from the recorded one, the recorded one is shown.
    """
    recorded = dict(recorded) if isinstance(recorded, Mapping) else {}
    kwargs = {k: recorded[k] for k in ("rope", "prob_threshold") if k in recorded}
    if recorded.get("gates"):
        kwargs["gates"] = tuple(Gate(g["label"], g["statistic"], g["passes_if"], g["threshold"],
                                     g.get("source", "")) for g in recorded["gates"])
    recomputed = dominance_verdict(decomposition, diagnostics, **kwargs)
    if recorded and recorded.get("verdict") != recomputed.verdict:
        logger.warning("checks.json says %r, the draws say %r: showing checks.json",
                       recorded.get("verdict"), recomputed.verdict)
        return recorded
    return recomputed


def _why(checks, part: str) -> tuple[str, str] | None:
    """Why a part of the checks is missing: ``("skipped" | "failed", reason)``, or None."""
    for status, key in (("skipped", "skipped"), ("failed", "errors")):
        why = (_get(checks, key) or {}).get(part)
        if why:
            return status, str(why)
    return None


def _table_or_why(table: pd.DataFrame | None, checks, part: str) -> pd.DataFrame | None:
    """The part's table, or a one-row table saying why it is missing (skipped or failed)."""
    if table is not None:
        return table
    why = _why(checks, part)
    return None if why is None else pd.DataFrame({"status": [why[0]], "why": [why[1]]})


def _check_figure_names(checks) -> list[str]:
    """File stems (``checks/<stem>.png``) of the saved figures of the checks the report shows.

    The stems are those of ``analysis.Checks.figures``: the general dominance, the
    group statistic of each grouping and the LOO-PIT.
    """
    ppc = _get(checks, "ppc") or {}
    groupings = (ppc.get("group_statistics") or {}) if isinstance(ppc, Mapping) else {}
    return ["dominance", *(f"ppc_{key}_variance" for key in groupings), "loo_pit"]


def load_check_figures(run_dir: str | Path, checks: Mapping) -> dict[str, bytes]:
    """Read the PNG figures saved with a run's checks that the report shows, by file stem.

    Only figures that ``checks`` lists as saved (its ``figures``, as :func:`analysis.save_checks`
    writes them) and that are PNG files are read; a missing one is left out and the report
    says so beside its table.

    Parameters
    ----------
    run_dir : str or Path
        The run directory (figures are in ``run_dir/checks``).
    checks : mapping
        The ``checks.json`` content.

    Returns
    -------
    dict of str to bytes
    """
    from analysis.checks import checks_dir

    saved = set(checks.get("figures") or ())
    out = {}
    for stem in _check_figure_names(checks):
        path = checks_dir(run_dir) / f"{stem}.png"
        if f"{stem}.png" not in saved or not path.is_file():
            continue
        png = path.read_bytes()
        if png[:8] != PNG_SIGNATURE:
            logger.warning("%s is not a PNG file: left out of the report", path)
            continue
        out[stem] = png
    return out


def build_context(
    run,
    checks=None,
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
    checks : analysis.Checks or mapping, optional
        Its checks, or their ``checks.json`` form. None reads ``checks/checks.json`` from
        the run directory; without checks the dominance analysis, per-group predictive
        checks, LOO and sensitivity sections say "not available" (a part the checks skipped
        or failed says why). With the ``checks.json`` form the figures of the dominance
        analysis and the per-group checks are the PNGs saved beside it.
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
    if reliability is None and run.path is not None:
        reliability = load_reliability(run.path)
    spec = run.spec
    survey = run.survey
    prov = provenance(run)
    data_file = prov.get("data_file") or getattr(survey, "source", None)

    diagnostics = _get(checks, "diagnostics") or run.summary.get("diagnostics")
    decomposition = _get(checks, "decomposition")
    if not isinstance(decomposition, xr.Dataset):
        decomposition = run_decomposition(run) if spec.conditions else None

    verdict = _get(checks, "verdict")
    if decomposition is not None and not hasattr(verdict, "difference"):
        verdict = _verdict_from_draws(decomposition, diagnostics, verdict)

    effects = None
    if spec.conditions:
        readable = _get(checks, "effects")
        effects = effect_draws(run, readable=readable if isinstance(readable, xr.DataArray) else None)

    codebook = survey.codebook
    names = list(spec.conditions or ())
    labels = {n: codebook.conditions[n].label for n in names if n in codebook.conditions}
    sides, levels = sides_and_levels(codebook, [n for n in names if n in codebook.conditions])
    tree = run.tree
    ppc = None
    if {"observed_data", "posterior_predictive"} <= set(tree.children):
        ppc = _rename_outcome(tree, spec.outcome)

    # the dominance analysis and the per-group predictive checks: the Checks' own objects
    # (figures drawn from their draws) or their checks.json form (figures read from checks/)
    figures = None
    if isinstance(checks, Mapping) and run.path is not None:
        figures = load_check_figures(run.path, checks)
    unavailable = {part: f"{why[0]}: {why[1]}" for part in ("dominance", "ppc")
                   if (why := _why(checks, part)) is not None}

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
        verdict=verdict,
        effects=effects,
        condition_labels=labels,
        condition_sides=sides,
        condition_levels=levels,
        decomposition=decomposition,
        ppc=ppc,
        loo=_table_or_why(_loo_frame(_get(checks, "loo")), checks, "loo"),
        sensitivity=_table_or_why(_sensitivity_frame(_get(checks, "sensitivity")), checks,
                                  "sensitivity"),
        provenance=prov,
        dominance_analysis=_get(checks, "dominance"),
        ppc_checks=_get(checks, "ppc"),
        check_figures=figures,
        unavailable=unavailable,
        ci_prob=ci_prob,
    )


def _rename_outcome(tree: xr.DataTree, outcome: str) -> xr.DataTree:
    """Observed and predicted outcome, with ``y`` named after the outcome (the figure's axis)."""
    name = outcome.replace("/", "")  # DataTree forbids "/" in names
    return xr.DataTree.from_dict({
        group: tree[group].to_dataset()[["y"]].rename_vars({"y": name})
        for group in ("observed_data", "posterior_predictive")})
