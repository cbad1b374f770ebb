"""The rater model (models.raters): overlap check, its arrays, and small simulated studies.

The fast study fits one simulated rater-coded survey twice through ``alliance-learning fit
--form coded`` (the rater model, the default) and ``--collapse median``, checks and reports
both, and checks the summary fields, the rater check (analysis.raters) and the report's
Raters section, and that the rater model recovers an attenuated individual-level effect.
A second study, an unbalanced sheet of four raters (one coding a single case, codes
missing, a condition coded by two raters only), goes through ``alliance-learning run``.
The full comparison over many studies is tests/benchmarks/raters.py.
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

from data import Design, simulate
from models import ModelSpec
from models.raters import check_overlap, overlap_problems, rater_design
from reports.cli import app


def _codes(rows):
    return pd.DataFrame(rows, columns=["condition", "unit", "rater", "value"])


# -- overlap ---------------------------------------------------------------------------------
def test_overlap_connected_through_a_chain_of_raters():
    # A and B share unit 1, B and C share unit 2: all three are linked, though A and C never meet
    codes = _codes([("trust", "1", "A", 3), ("trust", "1", "B", 4), ("trust", "2", "B", 2),
                    ("trust", "2", "C", 2), ("trust", "3", "C", 5)])
    table = check_overlap(codes)
    row = table.loc["trust"]
    assert (row["raters"], row["units"], row["codes"], row["shared_units"]) == (3, 3, 5, 2)
    assert row["components"] == 1 and row["connected"]
    assert overlap_problems(table) == []


def test_overlap_split_raters_are_reported():
    # A and B code units 1-2, C and D units 3-4: two groups that never meet; a missing code
    # (NaN) does not link C to unit 1
    codes = _codes([("trust", "1", "A", 3), ("trust", "1", "B", 4), ("trust", "2", "A", 2),
                    ("trust", "2", "B", 2), ("trust", "3", "C", 5), ("trust", "3", "D", 4),
                    ("trust", "4", "C", 1), ("trust", "4", "D", 2), ("trust", "1", "C", np.nan),
                    ("size", "1", "A", 1), ("size", "1", "C", 2)])
    table = check_overlap(codes)
    assert table.loc["trust", "components"] == 2 and not table.loc["trust", "connected"]
    assert table.loc["size", "connected"]
    problems = overlap_problems(table)
    assert len(problems) == 1 and "'trust'" in problems[0] and "2 groups" in problems[0]


def test_overlap_single_rater_is_one_component():
    table = check_overlap(_codes([("trust", "1", "A", 3), ("trust", "2", "A", 4)]))
    assert table.loc["trust", "components"] == 1 and table.loc["trust", "shared_units"] == 0


# -- the arrays ------------------------------------------------------------------------------
class _Scale:
    def __init__(self, kind, n=None):
        self.kind, self.n_categories = kind, n
        self.bounds = (1.0, float(n)) if kind == "ordinal" else (0.0, 1.0)


class _Var:
    def __init__(self, level, scale):
        self.level, self.scale = level, scale


class _Codebook:
    conditions = {"trust": _Var("individual", _Scale("ordinal", 5)),
                  "open": _Var("individual", _Scale("binary")),
                  "size": _Var("network", _Scale("ordinal", 3))}


def test_rater_design_maps_codes_to_true_scores_and_categories():
    tables = {"individual": pd.DataFrame(index=["p1", "p2", "p3"]),
              "network": pd.DataFrame(index=["n1", "n2"])}
    level_conditions = {"individual": ("trust", "open"), "network": ("size",)}
    # every unit of the rater-modelled conditions is latent: listed row by row (np.nonzero order)
    missing = {"individual": (np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 1]), []),
               "network": (np.array([0, 1]), np.array([0, 0]), [])}
    codes = _codes([("trust", "p1", "A", 5), ("trust", "p1", "B", 4), ("trust", "p3", "B", 1),
                    ("open", "p2", "A", 1), ("open", "p2", "C", 0), ("size", "n2", "A", 3),
                    ("size", "n1", "B", np.nan), ("trust", "gone", "A", 2)])
    design = rater_design(codes, _Codebook(), ["trust", "open", "size"], tables, missing,
                          level_conditions)
    assert design.raters == ("A", "B", "C")
    assert design.n_categories == (5, 2, 3)
    assert design.latent_levels == ("individual", "network")
    # trust of p1 is latent 0, of p3 latent 4; open of p2 latent 3; size of n2 is 6 + 1
    np.testing.assert_array_equal(design.true, [0, 0, 4, 3, 3, 7])
    np.testing.assert_array_equal(design.category, [4, 3, 0, 1, 0, 2])
    np.testing.assert_array_equal(design.condition, [0, 0, 0, 1, 1, 2])
    # pairs: trust-A, trust-B, open-A, open-C, size-A (the empty code of B does not count)
    np.testing.assert_array_equal(design.pair_condition, [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(design.pair_rater, [0, 1, 0, 2, 0])
    np.testing.assert_array_equal(design.pair_size, [2, 2, 2, 2, 1])
    assert design.coded_mask.tolist() == [[True, True, False], [True, False, True],
                                          [True, False, False]]
    data = design.data()
    k = design.max_cutpoints  # 4
    # category 4 of 5 is the top (no upper cutpoint), its lower cutpoint is trust's 4th
    assert data["rater_top"][0] == 1 and data["rater_lower"][0] == 3
    # category 3 of trust: between cutpoints 3 and 4 (flat 2 and 3)
    assert (data["rater_lower"][1], data["rater_upper"][1]) == (2, 3)
    # open's category 1 is its top; category 0 its bottom with upper = open's first cutpoint
    assert data["rater_top"][3] == 1 and data["rater_lower"][3] == k
    assert data["rater_bottom"][4] == 1 and data["rater_upper"][4] == k
    # severities: one free coordinate each for trust and open (two raters), none for size
    # (one rater: severity 0); each column sums to zero within its condition, and the prior
    # SD of every severity of a condition with raters is 1
    basis = data["rater_basis"]
    assert basis.shape == (5, 2)
    assert np.allclose(basis.sum(axis=0), 0) and np.allclose(basis[4], 0)
    assert np.allclose(np.sqrt((basis**2).sum(axis=1))[:4], 1)
    assert design.severity_labels == ["trust|1", "open|1"]
    start = design.cutpoint_start()
    assert start.shape == (3, 4) and np.all(np.diff(start, axis=1) > 0)


# -- a small simulated study through the CLI -------------------------------------------------
CONDITIONS = ("personal_contact", "shared_interests")
TRUE_EFFECTS = {"personal_contact": 0.8, "shared_interests": 0.4}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raters")
    design = Design(alliances=10, organisations=(3, 3), networks=(2, 2), people=(9, 9),
                    respondents_per_organisation=(3, 3), conditions=CONDITIONS,
                    effects=dict(TRUE_EFFECTS), missing_rate=0.0,
                    raters={"n": 3, "bias_sd": 0.5, "noise_sd": 1.0})
    sim = simulate(design, seed=11)
    sim.coded.to_csv(folder / "sheet.csv", index=False)
    (folder / "codebook.toml").write_text(tomli_w.dumps(sim.codebook.to_dict()))
    runner = CliRunner()
    summaries = {}
    for name, extra in (("raters", []), ("median", ["--collapse", "median"])):
        result = runner.invoke(app, [
            "fit", str(folder / "sheet.csv"), "--form", "coded", "--codebook",
            str(folder / "codebook.toml"), "--outcome", "individual_learning", "--out",
            str(folder / name), "--chains", "2", "--draws", "300", "--tune", "300", "--seed", "3",
            "--no-progress", *extra])
        assert result.exit_code == 0, result.output
        summaries[name] = json.loads((folder / name / "summary.json").read_text())
        summaries[name + "_output"] = result.output
        # the checks (no sub-model fits: the conditions are on one side, one level each)
        # and the report, as a user runs them on the run directory
        result = runner.invoke(app, ["check", str(folder / name), "--no-dominance", "--no-loo"])
        assert result.exit_code in (0, 3), result.output  # 3: a gate failed on 2 x 300 draws
        summaries[name + "_check_output"] = result.output
        result = runner.invoke(app, ["report", str(folder / name)])
        assert result.exit_code == 0, result.output
        summaries[name + "_report"] = (folder / name / "report.html").read_text(encoding="utf-8")
    summaries["folder"] = folder
    summaries["truth"] = sim.truth
    return summaries


def test_summary_has_measurement_and_rater_severities(study):
    raters, median = study["raters"], study["median"]
    assert raters["measurement"] == "raters" and median["measurement"] == "median"
    assert "raters" not in median
    assert set(raters["raters"]) == {"rater1", "rater2", "rater3"}
    for block in raters["raters"].values():
        s = block["severity"]
        assert s["lower"] < s["mean"] < s["upper"]
        assert set(block["by_condition"]) == set(CONDITIONS)
    # severities sum to zero within each condition
    for condition in CONDITIONS:
        total = sum(raters["raters"][r]["by_condition"][condition]["mean"] for r in raters["raters"])
        assert total == pytest.approx(0.0, abs=1e-8)
    assert set(raters["rater_model"]["discrimination"]) == set(CONDITIONS)
    assert all(o["connected"] for o in raters["rater_model"]["overlap"].values())
    assert "measurement: rater model" in study["raters_output"]
    for block in raters["rater_model"]["agreement"].values():  # an ICC: within (0, 1)
        assert 0 < block["lower"] < block["mean"] < block["upper"] < 1


def test_log_likelihood_is_the_outcome_per_individual_and_the_rater_part_converges(study):
    import arviz_stats as azs

    from models import load_run, with_log_likelihood

    run = load_run(study["folder"] / "raters")
    assert run.survey.rater_codes is not None  # kept in the run directory for refits
    # the run saves no log-likelihood; it is recomputed from the run's model, which the
    # loaded survey (with its codes) rebuilds as the rater model
    tree = with_log_likelihood(run.tree, run.spec, run.survey)
    posterior = run.tree["posterior"].to_dataset()
    # the measurement part and the effects (the outcome model's group SDs, which mix slowly
    # on 2 x 300 draws whatever the measurement, are left to the diagnostics gate)
    names = ["b", "rater_discrimination", "rater_severity", "rater_cutpoints"]
    rhat = azs.rhat(posterior[names])
    assert max(float(rhat[n].max()) for n in names) < 1.05
    ll = tree["log_likelihood"]
    assert list(ll.data_vars) == ["y"]
    assert ll["y"].dims[-1] == "individual"
    assert ll.sizes["individual"] == study["truth"]["sizes"]["individual"]
    # so PSIS-LOO leaves out whole units (one term per individual), never single codes: the
    # codes are a potential, in no log-likelihood (one code per unit, condition and rater
    # would be 3 x (individuals + networks) terms here)
    loo = azs.loo(tree, pointwise=True, var_name="y")
    assert loo.elpd_i.sizes == {"individual": study["truth"]["sizes"]["individual"]}


def test_rater_model_undoes_the_attenuation_of_an_individual_effect(study):
    # noise SD 1.0 per code: the median of three codes keeps about 3/4 of the true score's
    # variance, so the collapsed effect is attenuated; the rater model's interval must hold
    # the truth, and its estimate be nearer to it than the collapsed one's
    true = study["truth"]["effects"]["personal_contact"]
    rater = study["raters"]["effects"]["personal_contact"]["per_sd"]
    median = study["median"]["effects"]["personal_contact"]["per_sd"]
    assert rater["lower"] <= true <= rater["upper"]
    assert abs(rater["mean"] - true) < abs(median["mean"] - true)
    assert median["mean"] < true  # the attenuation the rater model removes


# -- the rater check and the report ----------------------------------------------------------
def _section(page: str, name: str) -> str:
    return re.search(rf'<section id="{name}">(.*?)</section>', page, flags=re.S).group(1)


def test_check_and_report_show_severities_and_agreement_beside_alpha(study):
    from analysis import load_checks

    checks = load_checks(study["folder"] / "raters")
    record = json.loads((study["folder"] / "raters" / "checks" / "checks.json").read_text())
    raters = record["raters"]
    assert set(raters["agreement"]) == set(CONDITIONS)
    # the check's agreement is the same per-draw quantity as summary.json's (one formula)
    for condition, stats in study["raters"]["rater_model"]["agreement"].items():
        assert raters["agreement"][condition]["mean"] == pytest.approx(stats["mean"], rel=1e-9)
    # every rater's severity per condition as summary.json gives it
    for rater, block in study["raters"]["raters"].items():
        for condition, stats in block["by_condition"].items():
            assert raters["severity"][rater][condition]["mean"] == pytest.approx(stats["mean"], abs=1e-9)
    # Krippendorff's alpha of the codes beside it: both measure how far three raters agree on
    # codes with noise SD 1 (and bias SD 0.5) around a unit-variance score, about 0.4 on the
    # latent scale; on different scales, so close, not equal
    for condition in CONDITIONS:
        alpha = raters["alpha"][condition]["alpha"]
        agreement = raters["agreement"][condition]
        assert 0.2 < alpha < 0.7
        assert abs(agreement["mean"] - alpha) < 0.15, (condition, agreement, alpha)
    assert checks.raters.split_conditions() == []
    assert "rater agreement (model, Krippendorff's alpha)" in study["raters_check_output"]
    assert (study["folder"] / "raters" / "checks" / "raters.png").is_file()

    section = _section(study["raters_report"], "raters")
    assert 'data-figure="raters"' in section and "Not available" not in section
    agreement = re.search(r'<div id="rater-agreement">(.*?)</div>\s*</div>', section, flags=re.S).group(1)
    assert agreement.count("<tr>") == 1 + len(CONDITIONS) and "Krippendorff" in agreement
    severity = re.search(r'<div id="rater-severity">(.*?)</div>\s*</div>', section, flags=re.S).group(1)
    assert severity.count("<tr>") == 1 + 3 * (1 + len(CONDITIONS))  # header; per rater: all + each


def test_a_collapsed_run_has_no_rater_check_and_its_report_says_why(study):
    record = json.loads((study["folder"] / "median" / "checks" / "checks.json").read_text())
    assert record["raters"] is None
    section = _section(study["median_report"], "raters")
    assert "collapsed by their median" in section and "<table" not in section


def test_split_raters_are_named_when_the_design_is_made(tmp_path, caplog):
    """Raters of a condition in two groups that share no unit: the fit says so (no sampling)."""
    from data import load_coded
    from models import check_spec, make_design

    design = Design(alliances=4, organisations=(3, 3), networks=(2, 2), people=(9, 9),
                    respondents_per_organisation=(3, 3), conditions=CONDITIONS,
                    effects=dict(TRUE_EFFECTS), missing_rate=0.0,
                    raters={"n": 3, "bias_sd": 0.5, "noise_sd": 1.0})
    sim = simulate(design, seed=12)
    sheet = sim.coded
    # personal_contact: rater1 and rater2 code alliances A01-A02, rater3 alone A03-A04
    first = sheet["alliance"].isin(["A01", "A02"])
    mine = sheet["condition"] == "personal_contact"
    keep = ~mine | (first & sheet["rater"].isin(["rater1", "rater2"])) | (~first & (sheet["rater"] == "rater3"))
    sheet[keep].to_csv(tmp_path / "sheet.csv", index=False)
    (tmp_path / "codebook.toml").write_text(tomli_w.dumps(sim.codebook.to_dict()))
    survey = load_coded(tmp_path / "sheet.csv", tmp_path / "codebook.toml").with_raters()
    spec = check_spec(ModelSpec(outcome="individual_learning"), survey)
    with caplog.at_level(logging.WARNING, logger="models.design"):
        made = make_design(spec, survey)
    overlap = made.raters.overlap
    assert not overlap.loc["personal_contact", "connected"] and overlap.loc["shared_interests", "connected"]
    warned = [r.getMessage() for r in caplog.records if "rater model" in r.getMessage()]
    assert len(warned) == 1 and "'personal_contact'" in warned[0] and "2 groups" in warned[0]


# -- an unbalanced sheet of four raters through `run` ------------------------------------------
UNBALANCED = ("personal_contact", "shared_interests", "prior_cooperation")


@pytest.fixture(scope="module")
def unbalanced(tmp_path_factory):
    """Four raters: rater4 codes one alliance only; shared_interests has raters 1, 2 (and 4
    in that alliance); a tenth of personal_contact's codes are absent rows, a few empty cells."""
    folder = tmp_path_factory.mktemp("unbalanced")
    design = Design(alliances=8, organisations=(3, 3), networks=(2, 2), people=(9, 9),
                    respondents_per_organisation=(3, 3), conditions=UNBALANCED,
                    effects={"personal_contact": 0.6, "shared_interests": 0.4, "prior_cooperation": 0.4},
                    missing_rate=0.0, raters={"n": 4, "bias_sd": 0.5, "noise_sd": 0.8})
    sim = simulate(design, seed=21)
    sheet = sim.coded.copy()
    rng = np.random.default_rng(4)
    coded_condition = sheet["condition"].isin(UNBALANCED)
    drop = (coded_condition & (sheet["rater"] == "rater4") & (sheet["alliance"] != "A01")) | (
        (sheet["condition"] == "shared_interests") & (sheet["rater"] == "rater3"))
    pc = np.flatnonzero(((sheet["condition"] == "personal_contact") & ~drop).to_numpy())
    absent = rng.choice(pc, size=len(pc) // 10, replace=False)
    drop.iloc[absent] = True
    empty = rng.choice(np.setdiff1d(pc, absent), size=5, replace=False)
    sheet = sheet.astype({"value": object})
    sheet.iloc[empty, sheet.columns.get_loc("value")] = ""
    sheet = sheet[~drop.to_numpy()]
    sheet.to_csv(folder / "sheet.csv", index=False)
    (folder / "codebook.toml").write_text(tomli_w.dumps(sim.codebook.to_dict()))
    result = CliRunner().invoke(app, [
        "run", str(folder / "sheet.csv"), "--form", "coded", "--codebook", str(folder / "codebook.toml"),
        "--outcome", "individual_learning", "--out", str(folder / "run"), "--chains", "2",
        "--draws", "250", "--tune", "250", "--seed", "5", "--no-dominance", "--no-sensitivity",
        "--no-progress"])
    assert result.exit_code in (0, 3), result.output
    return {"folder": folder, "output": result.output, "sheet": sheet,
            "summary": json.loads((folder / "run" / "summary.json").read_text()),
            "checks": json.loads((folder / "run" / "checks" / "checks.json").read_text()),
            "report": (folder / "run" / "report.html").read_text(encoding="utf-8")}


def test_unbalanced_raters_through_run(unbalanced):
    summary, checks = unbalanced["summary"], unbalanced["checks"]
    assert summary["measurement"] == "raters"
    assert set(summary["raters"]) == {"rater1", "rater2", "rater3", "rater4"}
    assert set(summary["raters"]["rater3"]["by_condition"]) == {"personal_contact", "prior_cooperation"}
    assert all(o["connected"] for o in summary["rater_model"]["overlap"].values())
    # rater4 coded one alliance of eight: its severities rest on far fewer codes, so their
    # intervals are wider than rater1's (who coded everything) on every condition
    for condition in UNBALANCED:
        wide = summary["raters"]["rater4"]["by_condition"][condition]
        full = summary["raters"]["rater1"]["by_condition"][condition]
        assert wide["upper"] - wide["lower"] > 1.3 * (full["upper"] - full["lower"]), condition
    raters = checks["raters"]
    assert raters["alpha"]["shared_interests"]["raters"] == 3
    assert raters["alpha"]["personal_contact"]["units"] == 144
    assert set(raters["severity"]["rater4"]) == {"all coded", *UNBALANCED}
    # the run's data, coding reliability and checks; LOO compares sub-models per individual
    run_dir = unbalanced["folder"] / "run"
    assert (run_dir / "rater_codes.parquet").is_file() and (run_dir / "reliability.csv").is_file()
    codes = pd.read_parquet(run_dir / "rater_codes.parquet")
    codes = codes[codes["condition"].isin(UNBALANCED)]
    kept = unbalanced["sheet"]
    kept = kept[kept["condition"].isin(UNBALANCED)]
    assert int(codes["value"].notna().sum()) == int(
        pd.to_numeric(kept["value"], errors="coerce").notna().sum())  # absent and empty: gone
    if checks["loo"] is not None:  # only when 2 x 250 draws pass the gates (LOO per unit:
        # test_log_likelihood_is_the_outcome_per_individual_...)
        models = {m["model"] for m in checks["loo"]["models"]}
        assert models == {"both", "interpersonal", "interorganisational", "null"}
    else:
        assert "diagnostic gate" in checks["skipped"]["loo"]
    assert "rater agreement (model, Krippendorff's alpha)" in unbalanced["output"]
    section = _section(unbalanced["report"], "raters")
    assert 'data-figure="raters"' in section and "rater4" in section


# -- a discrimination per rater (ModelSpec.rater_discrimination) ------------------------------
def test_a_discrimination_per_rater_finds_the_noisy_rater(tmp_path):
    """One study coded twice, by sharp raters (noise SD 0.3) and noisy ones (1.5): rater3's
    codes come from the noisy coding. The model with a discrimination per rater must find
    rater3 less discriminating, with the slopes' geometric mean the condition's."""
    from data import load_coded
    from models import check_spec, fit

    base = dict(alliances=8, organisations=(3, 3), networks=(2, 2), people=(9, 9),
                respondents_per_organisation=(3, 3), conditions=CONDITIONS,
                effects=dict(TRUE_EFFECTS), missing_rate=0.0)
    sharp = simulate(Design(**base, raters={"n": 3, "bias_sd": 0.3, "noise_sd": 0.3}), seed=31)
    noisy = simulate(Design(**base, raters={"n": 3, "bias_sd": 0.3, "noise_sd": 1.5}), seed=31)
    pd.testing.assert_frame_equal(sharp.data, noisy.data)  # the same study: only the coding differs
    sheet = pd.concat([sharp.coded[sharp.coded["rater"] != "rater3"],
                       noisy.coded[noisy.coded["rater"] == "rater3"]])
    sheet.to_csv(tmp_path / "sheet.csv", index=False)
    (tmp_path / "codebook.toml").write_text(tomli_w.dumps(sharp.codebook.to_dict()))
    survey = load_coded(tmp_path / "sheet.csv", tmp_path / "codebook.toml").with_raters()
    spec = check_spec(ModelSpec(outcome="individual_learning", rater_discrimination=True), survey)
    # this model mixes slowly (R-hat of rater_slope above 1.1 on 3-4 of seeds 1-8 at 2 x 300 draws,
    # 1.02-1.11 at 4 x 500 after 1000 tuning steps): sample enough for the R-hat check below
    tree = fit(spec, survey, chains=4, draws=500, tune=1000, seed=4, progressbar=False)
    posterior = tree["posterior"]
    slope = posterior["rater_slope"]
    # identified: the log slopes of a condition's raters sum to zero around its discrimination
    np.testing.assert_allclose(np.exp(np.log(slope).mean("rater")).values,
                               posterior["rater_discrimination"].values, rtol=1e-6)
    # 144 respondents coded by each rater: the noisy rater's 90% interval lies below both others'
    pc = slope.sel(rater_condition="personal_contact")
    upper = float(pc.sel(rater="rater3").quantile(0.95))
    lower = min(float(pc.sel(rater=r).quantile(0.05)) for r in ("rater1", "rater2"))
    assert upper < lower, (upper, lower)
    # 16 networks: less to go on, the posterior means still ordered
    si = slope.sel(rater_condition="shared_interests").mean(("chain", "draw"))
    assert float(si.sel(rater="rater3")) < min(float(si.sel(rater="rater1")), float(si.sel(rater="rater2")))
    import arviz_stats as azs

    assert float(azs.rhat(posterior.to_dataset()[["rater_slope"]])["rater_slope"].max()) < 1.1
    # the rater check and the summary carry them
    from analysis.raters import rater_agreement
    from models.run import summarize

    table = rater_agreement(tree, survey).severity_table().set_index(["rater", "condition"])
    assert table.loc[("rater3", "all coded"), "discrimination"] < table.loc[("rater1", "all coded"), "discrimination"]
    summary = summarize(tree, survey)
    assert summary["rater_model"]["discrimination_per_rater"] is True
    own = {r: summary["raters"][r]["discrimination"]["mean"] for r in summary["raters"]}
    assert own["rater3"] == pytest.approx(table.loc[("rater3", "all coded"), "discrimination"], rel=1e-9)
    assert set(summary["raters"]["rater3"]["discrimination_by_condition"]) == set(CONDITIONS)


def test_rater_discrimination_is_a_model_option():
    from models import SpecError

    spec = ModelSpec.from_dict({"outcome": "individual_learning", "rater_discrimination": True})
    assert spec.rater_discrimination and ModelSpec.from_dict(spec.to_dict()) == spec
    assert ModelSpec(outcome="individual_learning").rater_discrimination is False  # off by default
    with pytest.raises(SpecError, match="rater_discrimination must be true or false"):
        ModelSpec.from_dict({"outcome": "individual_learning", "rater_discrimination": "yes"})
