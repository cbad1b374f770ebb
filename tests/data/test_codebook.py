"""Tests for data/codebook.py and the shipped default codebook."""

from pathlib import Path

import pytest
import tomli_w

from data.codebook import (
    DEFAULT_SIDE,
    LEVELS,
    Codebook,
    CodebookError,
    Scale,
    default_codebook_path,
    load_codebook,
)

CODEBOOKS = Path(__file__).parent / "codebooks"

# DESIGN.md section 2: every condition of the default codebook, by level.
DESIGN_CONDITIONS = {
    "individual": [
        "personal_contact", "peer_comparability", "personal_reputation", "active_commitment",
        "voluntary_participation", "knowledge_cruciality", "future_value_of_peer",
        "strong_ties", "nonredundant_ties", "overlapping_membership",
        "receptivity_individual", "transparency_individual",
    ],
    "network": [
        "group_size", "composition_diversity", "shared_identity", "shared_interests",
        "joint_activity", "formal_regulation", "client_proximity",
    ],
    "organisation": [
        "absorptive_capacity", "organisational_slack", "organisational_commitment",
        "learning_intent", "organisation_size", "receptivity", "transparency",
        "reward_for_taking", "bridging_ties", "imitation",
    ],
    "alliance": [
        "expected_payoff", "long_term_orientation", "prior_cooperation",
        "interorganisational_trust", "power_asymmetry", "knowledge_tacitness",
        "knowledge_codification", "market_preemption_threat", "industry_competition",
        "problem_complexity",
    ],
}
DESIGN_OUTCOMES = {
    "individual_learning": "individual",
    "organisational_learning": "individual",
    "collective_learning": "alliance",
}


# -- the shipped default ------------------------------------------------------------------
@pytest.fixture(scope="module")
def default():
    return load_codebook()


def test_default_codebook_is_shipped_in_the_package():
    assert default_codebook_path().is_file()


def test_default_ids(default):
    assert default.ids == {"individual": "respondent", "network": "network",
                           "organisation": "organisation", "alliance": "alliance"}
    assert default.levels == LEVELS


def test_default_holds_exactly_the_design_conditions(default):
    expected = {name for names in DESIGN_CONDITIONS.values() for name in names}
    assert set(default.conditions) == expected
    for level, names in DESIGN_CONDITIONS.items():
        assert sorted(default.conditions_at(level)) == sorted(names)


def test_default_sides_follow_levels(default):
    for name, variable in default.conditions.items():
        assert variable.side == DEFAULT_SIDE[variable.level], name
    assert len(default.conditions_on("interpersonal")) == 12 + 7
    assert len(default.conditions_on("interorganisational")) == 10 + 10


def test_default_outcomes(default):
    assert {n: v.level for n, v in default.outcomes.items()} == DESIGN_OUTCOMES
    for variable in default.outcomes.values():
        assert variable.scale == Scale("ordinal", 5)


def test_every_default_condition_is_documented(default):
    for name, variable in default.conditions.items():
        assert variable.label, name
        assert variable.source, name


def test_default_scales_and_signs(default):
    c = default.conditions
    assert c["group_size"].scale.kind == "count"
    assert c["organisation_size"].scale.kind == "count"
    assert c["voluntary_participation"].scale.kind == "binary"
    assert c["personal_contact"].scale == Scale.parse("likert-5")
    negative = {n for n, v in c.items() if v.expected_sign < 0}
    assert {"client_proximity", "knowledge_tacitness", "industry_competition", "group_size",
            "reward_for_taking", "power_asymmetry"} <= negative


def test_default_sources_name_the_papers_authors(default):
    c = default.conditions
    assert c["receptivity"].source == "Larsson et al. (1998)"
    assert c["transparency"].source == "Larsson et al. (1998)"
    assert "Bengtsson & Kock (2000)" in c["client_proximity"].source
    assert "Delta case" in c["group_size"].source
    assert "KITe case" in c["voluntary_participation"].source
    assert "Von Hippel (1987)" in c["knowledge_cruciality"].source


# -- scales -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "k", "bounds"),
    [
        ("likert-5", "ordinal", 5, (1, 5)),
        ("likert-7", "ordinal", 7, (1, 7)),
        ("ordinal-3", "ordinal", 3, (1, 3)),
        ("Ordinal-12", "ordinal", 12, (1, 12)),
        ("binary", "binary", None, (0, 1)),
        ("count", "count", None, (0, float("inf"))),
        (" continuous ", "continuous", None, (float("-inf"), float("inf"))),
    ],
)
def test_scale_names_parse(text, kind, k, bounds):
    scale = Scale.parse(text)
    assert (scale.kind, scale.n_categories, scale.bounds) == (kind, k, bounds)
    assert Scale.parse(scale.name) == scale
    assert scale.integer == (kind != "continuous")


@pytest.mark.parametrize("text", ["likert", "ordinal-1", "ordinal-0", "nominal", "likert-5.5", ""])
def test_bad_scale_names_are_refused(text):
    with pytest.raises(ValueError, match="scale|categories"):
        Scale.parse(text)


# -- user codebooks -----------------------------------------------------------------------
def test_minimal_codebook_from_the_issue():
    cb = load_codebook(CODEBOOKS / "minimal.toml")
    assert cb.ids == {"individual": "respondent", "network": "ksn", "organisation": "firm",
                      "alliance": "case"}
    trust = cb.conditions["contact_trust"]
    assert (trust.level, trust.side) == ("individual", "interpersonal")
    assert trust.scale.name == "ordinal-5"
    assert trust.label == "Affective trust in the people of the network"
    outcome = cb.outcomes["learning_success"]
    assert (outcome.level, outcome.side, outcome.expected_sign) == ("individual", None, 0)
    assert cb.coded == {c: c for c in ("unit", "condition", "rater", "value")}


def test_minimal_codebook_without_organisation():
    cb = load_codebook(CODEBOOKS / "minimal_without_organisation.toml")
    assert cb.levels == ("individual", "network", "alliance")
    assert cb.group_levels == ("network", "alliance")
    payoff = cb.conditions["case_payoff"]
    assert payoff.side == "interorganisational"  # the default side of the alliance level
    assert payoff.scale == Scale("ordinal", 7)


def test_two_level_codebook():
    cb = load_codebook(CODEBOOKS / "minimal_two_level.toml")
    assert cb.levels == ("individual", "network")
    assert cb.ids["network"] == "school"
    assert cb.conditions["school_size"].side == "interpersonal"
    assert cb.conditions_at("network") == ["school_size"]
    assert cb.outcomes["learning_success"].scale.n_categories == 4


# One fixture per problem: the file must give exactly this one problem (no echoes of it).
SINGLE_PROBLEMS = {
    "missing_individual_id": "[ids] individual is required",
    "unknown_level_in_ids": "[ids] 'team' is not a level",
    "duplicate_id_columns": "[ids] two levels name the same column",
    "empty_id_column": "[ids] individual must name a column",
    "unknown_section": "unknown section [extras]",
    "section_not_table": "[ids] must be a table",
    "unknown_coded_key": "[coded] unknown key 'coder'",
    "no_outcomes": "no [outcomes.NAME] table",
    "condition_without_level": "[conditions.trust] level is required",
    "invalid_level": "[conditions.trust] level 'team' is not one of",
    "level_without_id": "[conditions.firm_slack] level 'organisation' has no ID column",
    "missing_scale": "[conditions.trust] scale is required",
    "unknown_scale": "[conditions.trust] unknown scale 'likert'",
    "ordinal_one_category": "[conditions.trust] an ordinal scale needs at least 2 categories",
    "invalid_side": "[conditions.trust] side 'personal' is not one of",
    "outcome_with_side": "[outcomes.learning_success] outcomes have no side",
    "invalid_sign": "[conditions.trust] expected_sign '++' is not +, - or 0",
    "unknown_key": "[conditions.trust] unknown key 'weight'",
    "variable_not_table": "[conditions.trust] must be a table",
    "condition_and_outcome": "'learning_success' is declared both as a condition and as an outcome",
    "variable_is_id_column": "'ksn' is both an ID column and a variable",
    "variable_is_level_name": "'alliance' is a level name",
    "not_toml": "not valid TOML",
}


@pytest.mark.parametrize("fixture", sorted(SINGLE_PROBLEMS))
def test_each_codebook_problem_is_reported(fixture):
    path = CODEBOOKS / f"{fixture}.toml"
    with pytest.raises(CodebookError) as info:
        load_codebook(path)
    err = info.value
    assert err.source == str(path)
    assert len(err.problems) == 1, err.problems
    assert SINGLE_PROBLEMS[fixture] in err.problems[0]
    assert str(path) in str(err)


def test_every_problem_in_a_file_is_reported_together():
    with pytest.raises(CodebookError) as info:
        load_codebook(CODEBOOKS / "many_problems.toml")
    problems = info.value.problems
    expected = [
        "[outcomes.learning_success] unknown scale 'likert-11x'",
        "[conditions.trust] level 'team' is not one of",
        "[conditions.slack] level 'organisation' has no ID column",
        "[conditions.size] expected_sign 'up' is not +, - or 0",
        "[conditions.peers] side 'personal' is not one of",
    ]
    assert len(problems) == len(expected), problems
    for text in expected:
        assert sum(text in p for p in problems) == 1, (text, problems)
    assert "5 problem(s)" in str(info.value)


def test_missing_file_is_a_codebook_error(tmp_path):
    with pytest.raises(CodebookError, match="file not found"):
        load_codebook(tmp_path / "nowhere.toml")


def test_integer_signs_are_accepted():
    raw = {"ids": {"individual": "r"},
           "outcomes": {"y": {"scale": "likert-5"}},
           "conditions": {"a": {"level": "individual", "scale": "binary", "expected_sign": 1},
                          "b": {"level": "individual", "scale": "binary", "expected_sign": -1},
                          "c": {"level": "individual", "scale": "binary", "expected_sign": 0}}}
    cb = Codebook.from_dict(raw)
    assert [cb.conditions[n].expected_sign for n in "abc"] == [1, -1, 0]


# -- views and round trips ----------------------------------------------------------------
def test_variable_lookup_and_restrict(default):
    assert default.variable("transparency").level == "organisation"
    assert default.variable("collective_learning").level == "alliance"
    with pytest.raises(KeyError, match="neither a condition nor an outcome"):
        default.variable("nothing")
    small = default.restrict(["respondent", "transparency", "individual_learning"])
    assert list(small.conditions) == ["transparency"]
    assert list(small.outcomes) == ["individual_learning"]
    assert small.ids == default.ids


@pytest.mark.parametrize("path", [None, CODEBOOKS / "minimal.toml",
                                  CODEBOOKS / "minimal_two_level.toml"])
def test_to_dict_from_dict_round_trip(path):
    cb = load_codebook(path)
    again = Codebook.from_dict(cb.to_dict(), source=cb.source)
    assert again == cb


def test_round_trip_through_toml_text(tmp_path, default):
    path = tmp_path / "copy.toml"
    path.write_text(tomli_w.dumps(default.to_dict()), encoding="utf-8")
    again = load_codebook(path)
    assert (again.ids, again.conditions, again.outcomes, again.coded) == (
        default.ids, default.conditions, default.outcomes, default.coded)
