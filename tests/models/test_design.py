"""Design matrices: standardisation at each condition's own level, missing codes, indices."""

from __future__ import annotations

import numpy as np
import pytest

from models import ModelSpec, make_design


@pytest.fixture(scope="module")
def design(survey):
    return make_design(ModelSpec(outcome="learning", varying_slopes=["contact"]), survey)


def test_conditions_are_standardised_over_their_own_level(design, survey):
    for name in design.conditions:
        level = design.condition_level[name]
        z = design.standardised(name)
        assert len(z) == (design.n if level == "individual" else len(survey.table(level)))
        assert np.nanmean(z) == pytest.approx(0.0, abs=1e-12)
        assert np.nanstd(z, ddof=1) == pytest.approx(1.0)
    # per raw unit: the network SD is over networks, not over their members' rows
    sizes = survey.table("network")["group_size"]
    assert design.scale["group_size"] == pytest.approx(sizes.std(ddof=1))


def test_missing_codes_are_listed_once_at_their_level(design):
    assert design.missing["individual"][2] == ["a0n0p2:contact", "a0n1p1:contact"]  # rows 2 and 7
    assert design.missing["network"][2] == ["a1n0:group_size"]  # one network, not its six members
    assert design.missing["organisation"][2] == ["a2o1:absorptive"]
    assert len(design.missing["alliance"][0]) == 0
    assert design.coords["network_missing"] == ["a1n0:group_size"]


def test_missing_outcome_is_left_out_and_counted(design, survey):
    assert design.n_missing_outcome == 1
    assert design.n == len(survey.individuals) - 1
    assert "a0n0p5" not in design.coords["individual"]


def test_ordinal_outcome_is_coded_from_zero(design, survey):
    observed = survey.individuals["learning"].dropna().to_numpy()
    assert design.y.min() == observed.min() - 1 and design.y.max() == observed.max() - 1
    assert design.coords["cutpoint"] == ["1|2", "2|3", "3|4", "4|5"]


def test_group_indices_point_to_each_individuals_group(design, survey):
    people = survey.individuals.loc[design.coords["individual"]]
    for level, idx in design.index.items():
        assert list(np.asarray(design.coords[level])[idx]) == list(people[level])


def test_unstandardised_design_keeps_raw_values(survey):
    design = make_design(ModelSpec(outcome="score", standardize=False), survey)
    assert design.center["reputation"] == 0.0 and design.scale["reputation"] == 1.0
    assert design.outcome_scale == pytest.approx(survey.individuals["score"].std(ddof=1))


def test_structure_key_ignores_values_but_not_shapes(survey):
    from .conftest import make_survey

    spec = ModelSpec(outcome="learning")
    same_shape = make_design(spec, make_survey(seed=2))
    other_shape = make_design(spec, make_survey(seed=1, people_per_network=5))
    reference = make_design(spec, survey)
    assert same_shape.structure_key() == reference.structure_key()
    assert other_shape.structure_key() != reference.structure_key()
