"""Building a report's context from a run directory and its checks.

The run-based tests use the session's demo run (tiny draws, see conftest); the table tests
use hand-made inputs and need no sampling.
"""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from analysis import load_checks
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
from reports.html import render_html


@pytest.fixture(scope="module")
def run(demo_run):
    assert demo_run.exit_code == 0, demo_run.output
    return load_run(demo_run.out)


@pytest.fixture(scope="module")
def context(run):
    return build_context(run)  # reads checks/checks.json from the run directory


def test_context_from_checks_json_matches_it(context, run):
    checks = load_checks(run.path)
    assert context.verdict.verdict == checks["verdict"]["verdict"]
    # recomputed from the saved draws by the rule checks.json records: the same probabilities
    for key in ("p_interpersonal_greater", "p_interpersonal_dominates", "p_equivalent",
                "p_interorganisational_dominates"):
        assert getattr(context.verdict, key) == pytest.approx(checks["verdict"][key], abs=1e-12)
    assert dict(context.diagnostics) == checks["diagnostics"]
    shares = context.decomposition["side_share"].mean(("chain", "draw"))
    for side, stats in checks["shares"]["side_share"].items():
        assert float(shares.sel(side=side)) == pytest.approx(stats["mean"], abs=1e-12)


def test_effects_per_sd_and_per_unit_match_summary_json(context, run):
    effects = run.summary["effects"]
    per_sd = context.effects["per SD (linear predictor)"].mean(("chain", "draw"))
    per_unit = context.effects["per raw unit (linear predictor)"].mean(("chain", "draw"))
    for condition, values in effects.items():
        # the same draws and arithmetic as summary.json: equal to rounding error
        assert float(per_sd.sel(condition=condition)) == pytest.approx(values["per_sd"]["mean"], rel=1e-9)
        assert float(per_unit.sel(condition=condition)) == pytest.approx(values["per_unit"]["mean"], rel=1e-9)


def test_readable_effects_are_changes_in_a_probability(context, run):
    titles = [t for t in context.effects if t.startswith("change in P(y >= 4)")]
    assert len(titles) == 1
    readable = context.effects[titles[0]]
    assert float(np.abs(readable).max()) < 1
    # same sign as the effect on the linear predictor, draw by draw (P(y >= 4) rises with eta)
    per_sd = context.effects["per SD (linear predictor)"]
    assert bool((np.sign(readable) == np.sign(per_sd)).all())
    checks = load_checks(run.path)
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


def test_a_context_without_checks_still_has_verdict_and_shares(run, tmp_path):
    page = render_html(build_context(run, checks={}))
    assert "Not available: LOO comparison" in page
    assert run.summary["diagnostics"] and "Variance shares" in page


def test_a_recorded_verdict_that_the_draws_do_not_give_is_shown_as_recorded(run):
    checks = load_checks(run.path)
    other = "inconclusive" if checks["verdict"]["verdict"] != "inconclusive" else "not trustworthy"
    checks["verdict"]["verdict"] = other
    context = build_context(run, checks)
    assert context.verdict["verdict"] == other


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
    sensitivity = {"quantities": {"share[network]": {"prior": 0.01, "likelihood": 0.2,
                                                     "diagnosis": "✓", "flagged": False}}}
    table = _sensitivity_frame(sensitivity)
    assert table.loc["share[network]", "likelihood"] == 0.2 and "flagged" not in table
    assert _loo_frame({"models": []}) is None and _sensitivity_frame(None) is None


# -- dominance analysis and per-group predictive checks from checks.json -----------------------


def _section(page: str, name: str) -> str:
    import re

    return re.search(rf'<section id="{name}">(.*?)</section>', page, flags=re.S).group(1)


def test_per_group_checks_and_their_saved_figures_from_checks_json(context, run):
    checks = load_checks(run.path)
    assert context.ppc_checks == checks["ppc"]
    groupings = list(checks["ppc"]["group_statistics"])
    assert sorted(groupings) == ["alliance", "network"]
    # the PNGs saved beside checks.json; the dominance analysis was skipped, so no figure of it
    assert set(context.check_figures) == {*(f"ppc_{k}_variance" for k in groupings), "loo_pit"}
    assert context.check_figures["loo_pit"] == (run.path / "checks" / "loo_pit.png").read_bytes()
    page = render_html(context)
    ppc = _section(page, "ppc")
    for key, stat in checks["ppc"]["group_statistics"].items():
        assert f"between-{key} variance of the mean outcome" in ppc
        assert f"<td>{stat['p_value']:.3f}</td>" in ppc
    assert f"<td>{checks['ppc']['loo_pit']['uniformity_p_value']:.3f}</td>" in ppc
    assert ppc.split('<div id="ppc-groups">')[1].count("<img") == len(groupings) + 1


def test_a_skipped_dominance_analysis_says_why(context, run):
    checks = load_checks(run.path)
    assert context.dominance_analysis is None
    assert context.unavailable["dominance"] == f"skipped: {checks['skipped']['dominance']}"
    section = _section(render_html(context), "dominance-analysis")
    assert "Not available: Bayesian dominance analysis (skipped: " in section
    assert "<table" not in section


def test_dominance_analysis_in_checks_json_is_shown(run, report_context):
    """A checks.json holding a dominance analysis (the fixture's made-up one, no fits here)."""
    checks = load_checks(run.path)
    checks["dominance"] = report_context["dominance_analysis"].to_dict(prob=0.89)
    checks["skipped"] = {k: v for k, v in checks["skipped"].items() if k != "dominance"}
    context = build_context(run, checks)
    assert context.dominance_analysis == checks["dominance"] and "dominance" not in context.unavailable
    section = _section(render_html(context), "dominance-analysis")
    assert 'id="pairwise-dominance"' in section and 'class="failed"' in section
    # not among the figures saved with these checks: said so, nothing else is drawn in its place
    assert "the general-dominance figure (not saved with the checks)" in section


def test_a_failed_part_says_failed(run):
    checks = load_checks(run.path)
    checks["ppc"] = None
    checks["errors"] = {"ppc": "ValueError: something broke"}
    context = build_context(run, checks)
    assert context.unavailable["ppc"] == "failed: ValueError: something broke"
    assert "(failed: ValueError: something broke)" in _section(render_html(context), "ppc")


def test_load_check_figures_reads_only_listed_pngs(tmp_path):
    from reports.context import load_check_figures

    folder = tmp_path / "checks"
    folder.mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 8
    (folder / "dominance.png").write_bytes(png)
    (folder / "loo_pit.png").write_bytes(b"not a png")
    (folder / "ppc_network_variance.png").write_bytes(png)  # on disk but not listed as saved
    checks = {"ppc": {"group_statistics": {"network": {}}},
              "figures": ["dominance.png", "loo_pit.png", "ppc_alliance_variance.png"]}
    assert load_check_figures(tmp_path, checks) == {"dominance": png}
