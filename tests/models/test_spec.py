"""Model specs and run configs: round trips and every kind of problem, without sampling."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pymc_extras.prior import Prior

from models import FitOptions, ModelSpec, RunConfig, SpecError, check_spec, load_config

from .conftest import make_survey

CONFIGS = Path(__file__).parent / "configs"


def test_spec_round_trips_through_dict():
    spec = ModelSpec(outcome="learning", family="ordinal", conditions=["contact", "group_size"],
                     group_effects=["network"], varying_slopes=["contact"], shrinkage="horseshoe",
                     shrinkage_options={"expected_nonzero": 1}, centered=["network"],
                     priors={"group_sd": Prior("HalfNormal", sigma=0.5)})
    assert spec.priors["group_sd"] == {"dist": "HalfNormal", "kwargs": {"sigma": 0.5}}
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert spec.conditions == ("contact", "group_size")  # lists become tuples


def test_full_config_round_trips_through_toml(tmp_path):
    config = load_config(CONFIGS / "full.toml")
    assert config.spec.shrinkage == "horseshoe"
    assert config.spec.centered == ("alliance",)
    assert config.sampling == FitOptions(chains=2, draws=300, tune=400, seed=7, sampler="pymc")
    assert Prior.from_dict(config.spec.priors["group_sd.alliance"]) == Prior("HalfNormal", sigma=0.5)
    written = tmp_path / "config.toml"
    written.write_text(config.to_toml())
    assert load_config(written) == config


def test_prior_lookup_prefers_the_level_override():
    spec = load_config(CONFIGS / "full.toml").spec
    assert spec.prior("group_sd", "alliance") == ({"dist": "HalfNormal", "kwargs": {"sigma": 0.5}}, False)
    default, is_default = spec.prior("group_sd", "network")
    assert is_default and default["dist"] == "HalfNormal"
    assert spec.options() == {"expected_nonzero": 1, "slab_scale": 1.5, "slab_df": 4.0}


@pytest.mark.parametrize(("name", "expected"), [
    ("unknown_family.toml", "unknown family 'poisson'"),
    ("bad_prior.toml", "priors.effect: not a valid prior"),
    ("not_toml.toml", "not valid TOML"),
])
def test_config_problems_seen_without_data(name, expected):
    with pytest.raises(SpecError, match=expected):
        load_config(CONFIGS / name)


def test_every_problem_is_listed_at_once():
    with pytest.raises(SpecError) as caught:
        load_config(CONFIGS / "many_problems.toml")
    problems = "\n".join(caught.value.problems)
    for expected in ("unknown family 'poisson'", "'team' is not a group level", "unknown shrinkage 'lasso'",
                     "unknown model key 'colour'", "sampling.chains", "sampling.sampler"):
        assert expected in problems
    assert len(caught.value.problems) == 6


def test_bad_prior_names_both_terms():
    with pytest.raises(SpecError) as caught:
        load_config(CONFIGS / "bad_prior.toml")
    assert [p.split(":")[0] for p in caught.value.problems] == ["priors.effect", "priors.group_sd"]


def test_missing_config_file(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_single_problem_is_one_line():
    with pytest.raises(SpecError) as caught:
        check_spec(ModelSpec(outcome="learning", conditions=["trust"]), make_survey())
    assert "\n" not in str(caught.value)
    assert "unknown condition 'trust'" in str(caught.value)


# -- against a survey -----------------------------------------------------------------------
def test_defaults_are_resolved_against_the_survey(survey):
    spec = check_spec(ModelSpec(outcome="learning"), survey)
    assert spec.family == "ordinal"
    assert spec.conditions == tuple(survey.conditions)
    assert spec.group_effects == ("network", "organisation", "alliance")
    assert check_spec(ModelSpec(outcome="learned"), survey).family == "bernoulli"
    assert check_spec(ModelSpec(outcome="score"), survey).family == "gaussian"


@pytest.mark.parametrize(("name", "expected"), [
    ("unknown_condition.toml", "unknown condition 'trust'"),
    ("wrong_family.toml", "family 'ordinal' does not fit outcome 'score' on the continuous scale"),
    ("bernoulli_on_likert.toml", "family 'bernoulli' does not fit outcome 'learning'"),
])
def test_config_problems_seen_with_data(name, expected, survey):
    spec = load_config(CONFIGS / name).spec
    with pytest.raises(SpecError, match=expected):
        check_spec(spec, survey)


def test_single_category_outcome_is_refused():
    wide_survey = make_survey()
    survey = replace(wide_survey, individuals=wide_survey.individuals.assign(learned=1.0))
    with pytest.raises(SpecError, match="'learned' has a single observed category"):
        check_spec(ModelSpec(outcome="learned"), survey)


def test_count_outcome_needs_a_family_and_binomial_needs_trials(survey):
    with pytest.raises(SpecError, match="choose a family"):
        check_spec(ModelSpec(outcome="hits"), survey)
    with pytest.raises(SpecError, match="needs trials"):
        check_spec(ModelSpec(outcome="hits", family="binomial"), survey)
    with pytest.raises(SpecError, match="values outside 0..trials"):
        check_spec(ModelSpec(outcome="hits", family="binomial", trials=2), survey)
    assert check_spec(ModelSpec(outcome="hits", family="binomial", trials="tries"), survey).trials == "tries"


def test_slope_and_centering_problems(survey):
    spec = ModelSpec(outcome="learning", conditions=["contact"], varying_slopes=["prior_coop", "group_size"],
                     group_effects=["network"], centered=["alliance"])
    with pytest.raises(SpecError) as caught:
        check_spec(spec, survey)
    text = str(caught.value)
    assert "'prior_coop' is not among the model's conditions" in text
    assert "'group_size' is not among the model's conditions" in text
    assert "centered: 'alliance' has no group effect" in text
    with pytest.raises(SpecError, match="alliance-level condition"):
        check_spec(ModelSpec(outcome="learning", varying_slopes=["prior_coop"]), survey)


def test_constant_condition_is_refused(survey):
    constant = replace(survey, individuals=survey.individuals.assign(contact=3.0))
    with pytest.raises(SpecError, match="condition 'contact' is constant"):
        check_spec(ModelSpec(outcome="learning"), constant)


def test_shrinkage_options_are_checked(survey):
    with pytest.raises(SpecError, match="unknown option 'tau'"):
        check_spec(ModelSpec(outcome="learning", shrinkage="horseshoe", shrinkage_options={"tau": 1}), survey)
    with pytest.raises(SpecError, match="expected_nonzero must lie between"):
        check_spec(ModelSpec(outcome="learning", shrinkage="horseshoe",
                             shrinkage_options={"expected_nonzero": 9}), survey)
    with pytest.raises(SpecError, match="cannot be combined with shrinkage"):
        check_spec(ModelSpec(outcome="learning", shrinkage="r2d2m2", priors={"effect": Prior("Normal", sigma=1)}),
                   survey)


def test_run_config_separates_priors_and_sampling():
    config = RunConfig(ModelSpec(outcome="learning", priors={"sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 2}}}))
    raw = config.to_dict()
    assert set(raw) == {"model", "priors", "sampling"}
    assert "priors" not in raw["model"]
    assert RunConfig.from_dict(raw) == config
