"""Degenerate designs (issue 13, item 2): each gives a sensible result or a clear message.

Two tiny fits, shared by the tests of this module (2 chains x 100 draws: the tests check
what the toolkit says about the design, not convergence, so they use a lenient gate):

- one condition, on one side only (interpersonal): the verdict is ``not applicable`` with
  its reason, the parts that compare the sides are skipped with that reason, and checks.json,
  the report and ``alliance-learning check`` say so;
- two levels only (individuals in organisations: no network, no alliance level), with a
  binary condition and an outcome category never observed: a verdict, finite shares and
  effects, the binary condition contrasted 0 -> 1.

Designs the data already rule out (perfectly collinear or constant conditions, a level with
one group) are checked without fitting: :func:`models.check_spec` names the problem.
"""

from __future__ import annotations

import copy
import json
import logging

import numpy as np
import pytest
from typer.testing import CliRunner

from analysis import Gate, check_run, load_checks, save_checks
from data import CaseSurvey, Codebook
from models import FitOptions, ModelSpec, RunConfig, SpecError, check_spec, fit, save_run

from ..models.conftest import CODEBOOK, make_survey, make_wide

LENIENT = (Gate("R-hat", "max_rhat", "<=", 1.5, "degenerate-design tests only"),)
SAMPLING = FitOptions(chains=2, draws=100, tune=150, seed=5)


def _survey(codebook: dict, wide) -> CaseSurvey:
    return CaseSurvey.from_wide(wide, Codebook.from_dict(codebook, source="test-codebook"),
                                source="test.csv", sha256="0" * 64)


def _run(tmp_path_factory, name: str, survey: CaseSurvey, spec: ModelSpec):
    spec = check_spec(spec, survey)
    tree = fit(spec, survey, chains=SAMPLING.chains, draws=SAMPLING.draws, tune=SAMPLING.tune,
               seed=SAMPLING.seed, progressbar=False)
    return save_run(tmp_path_factory.mktemp(name) / "run", tree, survey, RunConfig(spec, SAMPLING))


# -- one condition, one side ------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_sided(tmp_path_factory):
    run = _run(tmp_path_factory, "one_sided", make_survey(),
               ModelSpec(outcome="learning", conditions=["contact"]))
    # the predictive comparison and the sensitivity run: they must skip only the side parts
    return run, check_run(run, gates=LENIENT, workers=1, dominance=False)


def test_one_side_gives_not_applicable_with_its_reason(one_sided):
    run, checks = one_sided
    verdict = checks.verdict
    assert verdict.verdict == "not applicable"
    assert "no interorganisational condition" in verdict.reason
    assert verdict.p_interpersonal_dominates is None  # no P = 1.000 for a comparison never made
    for part in ("verdict probabilities", "sensitivity of the verdict", "side-only LOO models"):
        assert checks.skipped[part] == verdict.reason
    assert checks.errors == {}
    # the parts that do not compare the sides still ran
    assert set(checks.loo.table.index) == {"both", "null"}
    assert checks.sensitivity is not None and checks.sensitivity.verdict is None
    assert not any(name.startswith("side_share") for name in checks.sensitivity.table.index)
    text = str(checks)
    assert "not applicable" in text and "dominates" not in text


def test_one_side_is_recorded_and_reported(one_sided, tmp_path):
    from reports.context import build_context
    from reports.html import render_report

    run, checks = one_sided
    where = save_checks(checks, run.path, force=True)
    record = json.loads((where / "checks.json").read_text())
    assert record["verdict"]["verdict"] == "not applicable"
    assert record["verdict"]["reason"] == checks.verdict.reason
    assert record["verdict"]["p_interpersonal_greater"] is None
    loaded = load_checks(run.path)  # the round trip keeps the verdict and its reason
    assert loaded.verdict.verdict == "not applicable" and loaded.verdict.reason == checks.verdict.reason
    assert loaded.verdict.difference is None and loaded.skipped == checks.skipped
    for shown, name in ((checks, "report.html"), (loaded, "loaded.html")):
        html = render_report(build_context(run, shown), tmp_path / name).read_text()
        assert "not applicable" in html and "no interorganisational condition" in html
        assert "Posterior of d" not in html  # no figure of a difference never compared


def test_check_command_prints_not_applicable_and_the_share(one_sided):
    from reports.cli import app

    run, _ = one_sided
    result = CliRunner().invoke(app, ["check", str(run.path), "--no-dominance", "--no-loo",
                                      "--no-sensitivity", "--force"], env={"COLUMNS": "200"})
    # exit 3: a 100-draw fit fails the default ESS gates; the verdict stays "not applicable"
    assert result.exit_code == 3, result.output
    assert "verdict: not applicable: the model has no interorganisational condition" in result.output
    assert "P(interpersonal share >" not in result.output
    # the one side holds the whole fixed part
    assert "interpersonal share 1.000 [1.000, 1.000]" in result.output


# -- two levels: individuals in organisations --------------------------------------------------
def _two_level_survey() -> CaseSurvey:
    codebook = copy.deepcopy(CODEBOOK)
    codebook["ids"] = {"individual": "person", "organisation": "firm"}
    codebook["conditions"] = {
        "contact": {"level": "individual", "scale": "likert-5"},
        "mentor": {"level": "individual", "scale": "binary"},
        "absorptive": {"level": "organisation", "scale": "likert-5"},
    }
    codebook["outcomes"] = {"learning": {"scale": "likert-5"}}
    wide = make_wide(n_alliances=6, with_missing=False)
    rng = np.random.default_rng(11)
    wide["mentor"] = rng.integers(0, 2, len(wide))
    wide["learning"] = wide["learning"].clip(upper=4)  # category 5 never observed
    return _survey(codebook, wide[["person", "firm", "contact", "mentor", "absorptive", "learning"]])


@pytest.fixture(scope="module")
def two_level(tmp_path_factory):
    run = _run(tmp_path_factory, "two_level", _two_level_survey(), ModelSpec(outcome="learning"))
    return run, check_run(run, gates=LENIENT, dominance=False, loo=False, sensitivity=False)


def test_two_levels_without_network_and_alliance_give_a_verdict(two_level):
    run, checks = two_level
    assert run.spec.group_effects == ("organisation",)
    assert checks.verdict.verdict in ("interpersonal dominates", "interorganisational dominates",
                                      "inconclusive")
    assert checks.errors == {}
    d = checks.decomposition
    assert list(d["group_variance"]["group"].values) == ["organisation"]
    assert np.isfinite(d["side_share"]).all()
    np.testing.assert_allclose(d["side_share"].sum("side"), 1.0, atol=1e-9)


def test_binary_condition_is_contrasted_0_to_1(two_level):
    _, checks = two_level
    effects = checks.effects
    assert "mentor" in effects["condition"].values
    assert np.isfinite(effects.sel(condition="mentor")).all()
    assert effects.attrs["contrast"] == ["mentor"]  # 0 -> 1, not per SD
    assert "0 -> 1 for the binary condition(s) mentor" in effects.attrs["quantity"]


def test_an_outcome_category_never_observed_is_said_and_fitted(two_level, caplog):
    run, checks = two_level
    with caplog.at_level(logging.WARNING, logger="models.spec"):
        check_spec(ModelSpec(outcome="learning"), _two_level_survey())
    assert "category 5 of 'learning' is never observed" in caplog.text
    # the model keeps the scale's five categories; the unseen one is predicted rarely, not never
    assert run.tree["posterior"]["cutpoints"].shape[-1] == 4
    assert np.isfinite(run.tree["posterior"]["cutpoints"]).all()


# -- designs check_spec rules out, without fitting --------------------------------------------
def test_perfectly_collinear_conditions_are_named():
    wide = make_wide(with_missing=False)
    wide["contact_copy"] = 6 - wide["contact"]  # reverse-coded duplicate
    codebook = copy.deepcopy(CODEBOOK)
    codebook["conditions"]["contact_copy"] = {"level": "individual", "scale": "likert-5"}
    with pytest.raises(SpecError) as err:
        check_spec(ModelSpec(outcome="learning"), _survey(codebook, wide))
    message = str(err.value)
    assert "perfectly collinear" in message
    assert "'contact' and 'contact_copy' (r = -1.000)" in message


def test_a_linear_combination_across_levels_is_named():
    wide = make_wide(with_missing=False)
    wide["mix"] = wide["contact"] + 2 * wide["absorptive"]
    codebook = copy.deepcopy(CODEBOOK)
    codebook["conditions"]["mix"] = {"level": "individual", "scale": "continuous"}
    with pytest.raises(SpecError, match=r"1 linear combination\(s\) of .*'mix'"):
        check_spec(ModelSpec(outcome="learning", conditions=["contact", "absorptive", "mix"]),
                   _survey(codebook, wide))


def test_a_constant_condition_is_named():
    wide = make_wide(with_missing=False)
    wide["contact"] = 3
    with pytest.raises(SpecError, match="condition 'contact' is constant"):
        check_spec(ModelSpec(outcome="learning"), _survey(CODEBOOK, wide))


def test_a_level_with_one_group_gets_no_group_effect(caplog):
    codebook = copy.deepcopy(CODEBOOK)
    del codebook["conditions"]["prior_coop"]  # an alliance-level condition is constant in one
    wide = make_wide(with_missing=False).drop(columns="prior_coop").assign(case="A0")
    survey = _survey(codebook, wide)
    conditions = ["contact", "reputation", "absorptive"]
    with caplog.at_level(logging.WARNING, logger="models.spec"):
        spec = check_spec(ModelSpec(outcome="learning", conditions=conditions), survey)
    assert "alliance" not in spec.group_effects and "network" in spec.group_effects
    assert "single alliance" in caplog.text
    with pytest.raises(SpecError, match="a single alliance; its group SD cannot be estimated"):
        check_spec(ModelSpec(outcome="learning", conditions=conditions,
                             group_effects=["network", "alliance"]), survey)
