"""Building a report's context from a run directory and its checks.

The run-based tests use the session's demo run (tiny draws, see conftest); the table tests
use hand-made inputs and need no sampling.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from analysis import Checks, check_run, load_checks, save_checks
from models import ModelSpec, load_run
from reports.cli import app
from reports.context import (
    _loo_frame,
    _sensitivity_frame,
    build_context,
    load_reliability,
    prior_table,
    rerun_command,
    save_reliability,
)
from reports.html import MISSING_CELL, render_html


@pytest.fixture(scope="module")
def run(demo_run):
    assert demo_run.exit_code == 0, demo_run.output
    return load_run(demo_run.out)


@pytest.fixture(scope="module")
def context(run):
    return build_context(run)  # reads checks/checks.json from the run directory


def test_context_from_checks_json_matches_it(context, run):
    checks = load_checks(run.path)
    record = json.loads((run.path / "checks" / "checks.json").read_text(encoding="utf-8"))
    # the report's verdict is the checks' own, not recomputed: every number as recorded
    assert context.verdict.to_dict() == record["verdict"] == checks.verdict.to_dict()
    assert dict(context.diagnostics) == record["diagnostics"]
    shares = context.decomposition["side_share"].mean(("chain", "draw"))
    for side, stats in record["shares"]["side_share"].items():
        assert float(shares.sel(side=side)) == pytest.approx(stats["mean"], abs=1e-12)


def test_effects_per_sd_and_per_unit_match_summary_json(context, run):
    effects = run.summary["effects"]
    per_sd = context.effects["per SD (linear predictor)"].mean(("chain", "draw"))
    per_unit = context.effects["per raw unit (linear predictor)"].mean(("chain", "draw"))
    for condition, values in effects.items():
        # the same draws and arithmetic as summary.json: equal to rounding error
        assert float(per_sd.sel(condition=condition)) == pytest.approx(values["per_sd"]["mean"], rel=1e-9)
        assert float(per_unit.sel(condition=condition)) == pytest.approx(values["per_unit"]["mean"], rel=1e-9)


def test_binary_conditions_are_named_with_their_0_to_1_contrast(context, run):
    codebook = run.survey.codebook
    binary = [c for c in run.spec.conditions if codebook.conditions[c].scale.kind == "binary"]
    assert binary and context.binary_conditions == tuple(binary)
    section = _section(render_html(context), "effects")
    plural = "s" if len(binary) > 1 else ""
    assert f"Binary (0/1) condition{plural}: {', '.join(binary)}." in section
    # per_unit of a 0/1 condition is its 0 -> 1 contrast; per_sd is per_unit x the SD of
    # its codes (at most about 0.5): about half the contrast, the reason for the note
    for name in binary:
        effect = run.summary["effects"][name]
        assert abs(effect["per_sd"]["mean"]) <= 0.51 * abs(effect["per_unit"]["mean"])
    # summary.json marks the same conditions (kept per_sd) and says so in a note
    assert [c for c, e in run.summary["effects"].items() if e["binary"]] == binary
    assert all(name in run.summary["effects_note"] for name in binary)


def test_readable_effects_are_changes_in_a_probability(context, run):
    titles = [t for t in context.effects if t.startswith("change in P(y >= 4)")]
    assert len(titles) == 1
    readable = context.effects[titles[0]]
    assert float(np.abs(readable).max()) < 1
    # same sign as the effect on the linear predictor, draw by draw (P(y >= 4) rises with eta)
    per_sd = context.effects["per SD (linear predictor)"]
    assert bool((np.sign(readable) == np.sign(per_sd)).all())
    checks = load_checks(run.path).to_dict()
    means = readable.mean(("chain", "draw"))
    for condition, stats in checks["effects"]["conditions"].items():
        assert float(means.sel(condition=condition)) == pytest.approx(stats["mean"], abs=1e-12)


def test_data_model_and_priors(context, run):
    assert context.level_counts == run.survey.counts()
    missing = context.missing.set_index("variable")["missing"]
    assert missing.to_dict() == {k: int(v) for k, v in run.survey.missing().items()}
    assert int(missing.sum()) == 133  # data/example/README.md: 133 missing codes
    assert context.model["outcome"] == "individual_learning"
    assert context.model["conditions"] == list(run.spec.conditions)
    assert set(context.priors) == {
        "effect (per SD of a condition)", "group_sd.network", "group_sd.organisation",
        "group_sd.alliance", "cutpoints", "imputation (missing codes, standardised scale)"}
    assert context.reliability is None  # wide data
    assert context.condition_sides["personal_contact"] == "interpersonal"
    assert context.condition_levels["prior_cooperation"] == "alliance"


def test_provenance_and_the_rerun_command(context, run):
    prov = context.provenance
    recorded = run.summary["provenance"]
    assert prov["command"] == recorded["command"]
    assert prov["data_hash"] == f"sha256:{recorded['data_sha256']}"
    assert prov["seed"] == run.config.sampling.seed
    assert prov["versions"]["pymc"] == recorded["versions"]["pymc"]
    assert prov["config"]["sampling"]["draws"] == 100
    assert prov["refit from the run directory"] == rerun_command(run)


def test_rerun_command_reproduces_the_draws(run, tmp_path):
    """The report's refit command, run as it is, gives the same posterior draws."""
    out = tmp_path / "rerun"
    args = shlex.split(rerun_command(run, out))
    assert args[:2] == ["alliance-learning", "fit"]
    result = CliRunner().invoke(app, [*args[1:], "--no-progress"])
    assert result.exit_code == 0, result.output
    again = load_run(out)
    xr.testing.assert_equal(again.tree["posterior"]["b"], run.tree["posterior"]["b"])
    assert again.summary["provenance"]["data_fingerprint"] == run.summary["provenance"]["data_fingerprint"]


def test_a_context_without_checks_says_so(run, tmp_path):
    bare = replace(run, path=None)  # no run directory: no checks to read
    page = render_html(build_context(bare))
    assert "Not available: LOO comparison" in page
    assert "the run has not been checked" in page
    assert "Not available: dominance verdict" in page


def test_checks_in_another_form_are_refused(run):
    with pytest.raises(TypeError, match="analysis.Checks"):
        build_context(run, checks={"verdict": {"verdict": "inconclusive"}})


def test_saved_and_live_checks_render_the_same_page(run, tmp_path):
    """load_checks gives back the Checks that check_run returned: the very same page."""
    live = check_run(run, dominance=False, loo=False)
    save_checks(live, tmp_path)
    loaded = load_checks(tmp_path)
    assert isinstance(loaded, Checks)
    assert loaded.to_dict() == live.to_dict()
    page = render_html(build_context(run, live))
    assert render_html(build_context(run, loaded)) == page
    # and the demo's full checks (sub-model parts included) survive a second round trip
    full = load_checks(run.path)
    save_checks(full, tmp_path, force=True)
    assert render_html(build_context(run, load_checks(tmp_path))) == render_html(
        build_context(run, full))


def test_the_reports_verdict_is_the_one_in_checks_json(run, tmp_path):
    """Tamper with checks.json's verdict: the report follows it, as nothing is recomputed."""
    import shutil

    shutil.copytree(run.path / "checks", tmp_path / "checks")
    path = tmp_path / "checks" / "checks.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    other = "inconclusive" if record["verdict"]["verdict"] != "inconclusive" else "not trustworthy"
    record["verdict"]["verdict"] = other
    record["verdict"]["p_interpersonal_greater"] = 0.123456
    path.write_text(json.dumps(record), encoding="utf-8")
    context = build_context(run, load_checks(tmp_path))
    assert context.verdict.verdict == other
    page = render_html(context)
    assert f'<div class="text">{other}</div>' in page
    assert "<td>0.123</td>" in _section(page, "dominance")


# -- tables without sampling ---------------------------------------------------------------------


def test_reliability_round_trip(tmp_path):
    table = pd.DataFrame({"level": ["network", "alliance"], "alpha": [0.81, np.nan],
                          "unreliable": [False, False], "note": ["", "no unit coded by two raters"]},
                         index=pd.Index(["trust", "payoff"], name="condition"))
    with pytest.raises(FileNotFoundError):
        save_reliability(table, tmp_path / "missing")
    save_reliability(table, tmp_path)
    pd.testing.assert_frame_equal(load_reliability(tmp_path), table, check_dtype=False)
    assert load_reliability(tmp_path / "elsewhere") is None


def test_prior_table_follows_the_model():
    gaussian = ModelSpec(outcome="y", family="gaussian", conditions=("a",), group_effects=("network",),
                         priors={"sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 2.0}}})
    table = prior_table(gaussian, any_missing=False)
    assert set(table) == {"effect (per SD of a condition)", "group_sd.network", "intercept", "sigma"}
    assert "× SD of the outcome" in table["intercept"]  # default, rescaled by the gaussian family
    assert table["sigma"] == {"dist": "HalfNormal", "kwargs": {"sigma": 2.0}}  # as the user gave it
    shrunk = prior_table(ModelSpec(outcome="y", family="ordinal", conditions=("a",),
                                   group_effects=(), shrinkage="horseshoe"))
    assert table is not shrunk and shrunk["effect (shrinkage)"].startswith("horseshoe(")
    assert "effect (per SD of a condition)" not in shrunk and "cutpoints" in shrunk


def test_loo_and_sensitivity_tables_from_their_json_form():
    loo = {"khat_threshold": 0.7, "models": [
        {"model": "both", "rank": 0, "elpd": -1000.123456, "se": 20.0, "elpd_diff": 0.0, "dse": 0.0,
         "p": 40.0, "weight": 0.9, "pareto_k": {"n_k_over_threshold": 0}},
        {"model": "null", "rank": 1, "elpd": -1100.0, "se": 21.0, "elpd_diff": 99.877, "dse": 12.0,
         "p": 30.0, "weight": 0.1, "pareto_k": {"n_k_over_threshold": 2}}]}
    table = _loo_frame(loo)
    assert list(table.index) == ["both", "null"]
    assert table.loc["both", "elpd"] == -1000.123
    assert table.loc["null", "Pareto k > 0.7"] == 2
    assert table["draws per chain"].tolist() == [None, None]  # not recorded: a dash
    assert table["extended"].tolist() == [MISSING_CELL, MISSING_CELL]
    # each model's fit: draws per chain kept and extensions (checks.json's submodels, the run)
    table = _loo_frame(loo, {"both": {"draws": 2000, "extensions": 0},
                             "null": {"draws": 1250, "extensions": 2}})
    assert table["draws per chain"].tolist() == [2000, 1250]
    assert table["extended"].tolist() == ["no", "yes, 2 times"]
    sensitivity = {"quantities": {"share[network]": {"prior": 0.01, "likelihood": 0.2,
                                                     "diagnosis": "✓", "flagged": False}}}
    table = _sensitivity_frame(sensitivity)
    assert table.loc["share[network]", "likelihood"] == 0.2 and "flagged" not in table
    assert _loo_frame({"models": []}) is None and _sensitivity_frame(None) is None


def test_the_report_draws_a_binomial_outcome_with_its_trials(monkeypatch):
    """The run's trials reach the overall predictive figure (drawn as y / trials)."""
    from reports import plots
    from reports.context import _rename_outcome
    from reports.html import ReportContext

    trials = xr.DataArray([2, 10, 34], dims="individual")
    tree = xr.DataTree.from_dict({
        "observed_data": xr.Dataset({"y": xr.DataArray([1.0, 0.0, 5.0], dims="individual",
                                                       attrs={"family": "binomial"})}),
        "posterior_predictive": xr.Dataset({"y": xr.DataArray(np.ones((1, 4, 3)),
                                                              dims=("chain", "draw", "individual"))}),
        "constant_data": xr.Dataset({"trials": trials, "idx_network": trials * 0})})
    renamed = _rename_outcome(tree, "incidence")
    assert list(renamed["constant_data"].data_vars) == ["trials"]
    drawn = []
    real = plots.ppc_plot
    monkeypatch.setattr(plots, "ppc_plot", lambda *a, **k: drawn.append(k) or real(*a, **k))
    render_html(ReportContext(ppc=renamed, model={"outcome": "incidence"}))
    assert len(drawn) == 1 and drawn[0]["trials"].values.tolist() == [2, 10, 34]


# -- dominance analysis and per-group predictive checks from checks.json -----------------------


def _section(page: str, name: str) -> str:
    import re

    return re.search(rf'<section id="{name}">(.*?)</section>', page, flags=re.S).group(1)


def test_per_group_checks_from_the_loaded_checks(context, run):
    checks = load_checks(run.path)
    record = checks.to_dict()
    assert context.ppc_checks.to_dict() == record["ppc"]
    groupings = list(record["ppc"]["group_statistics"])
    assert sorted(groupings) == ["alliance", "network"]  # per alliance and network (DESIGN §4.5)
    page = render_html(context)
    ppc = _section(page, "ppc")
    for key, stat in record["ppc"]["group_statistics"].items():
        assert f"between-{key} variance of the mean outcome" in ppc
        assert f"<td>{stat['p_value']:.3f}</td>" in ppc
    assert f"<td>{record['ppc']['loo_pit']['uniformity_p_value']:.3f}</td>" in ppc
    assert ppc.split('<div id="ppc-groups">')[1].count("<img") == len(groupings) + 1


def test_a_skipped_dominance_analysis_says_why(context, run):
    checks = load_checks(run.path)
    assert context.dominance_analysis is None
    assert context.unavailable["dominance"] == f"skipped: {checks.skipped['dominance']}"
    section = _section(render_html(context), "dominance-analysis")
    assert "Not available: Bayesian dominance analysis (skipped: " in section
    assert "<table" not in section


def test_a_dominance_analysis_in_the_checks_is_shown(run, report_context):
    """Checks holding a dominance analysis (the fixture's made-up one, no fits here)."""
    checks = load_checks(run.path)
    checks = replace(checks, dominance=report_context["dominance_analysis"],
                     skipped={k: v for k, v in checks.skipped.items() if k != "dominance"})
    context = build_context(run, checks)
    assert context.dominance_analysis is checks.dominance and "dominance" not in context.unavailable
    section = _section(render_html(context), "dominance-analysis")
    assert 'id="pairwise-dominance"' in section and 'class="failed"' in section
    assert 'id="dominance-figure"' in section


def test_a_failed_part_says_failed(run):
    checks = replace(load_checks(run.path), ppc=None,
                     errors={"ppc": "ValueError: something broke"})
    context = build_context(run, checks)
    assert context.unavailable["ppc"] == "failed: ValueError: something broke"
    page = render_html(context)
    assert "(failed: ValueError: something broke)" in _section(page, "ppc")
    assert "something broke" in page.split('<section id="data">')[0]  # listed under the verdict


def test_other_parameters_and_variance_partition_of_the_run(context, run):
    """The parameters table is summary.json's; the ICC is each level's share per draw."""
    summary = run.summary
    for level, stats in summary["group_sd"].items():
        assert context.parameters.loc[f"group SD: {level}"].to_dict() == pytest.approx(stats)
    for cut, stats in (summary.get("cutpoints") or {}).items():  # the demo is ordinal
        assert context.parameters.loc[f"cutpoint {cut}"].to_dict() == pytest.approx(stats)
    assert summary.get("cutpoints"), "the demo's ordinal model has cutpoints"
    posterior = run.tree["posterior"]
    variances = {level: posterior[f"sd_{level}"] ** 2 for level in summary["group_sd"]}
    total = sum(variances.values()) + np.pi**2 / 3
    for level, var in variances.items():
        share = context.variance_partition.loc[level]
        assert share["mean"] == pytest.approx(float((var / total).mean()), rel=1e-9)
    assert context.variance_partition["mean"].sum() == pytest.approx(1.0)
    html = render_html(context)
    assert 'id="variance-partition"' in html and 'id="parameter-table"' in html
