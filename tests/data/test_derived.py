"""Tests for data/derived.py on small hand-worked cases.

Every expected value below was worked out by hand from the tables in this file.
"""

import numpy as np
import pandas as pd
import pytest

from data.codebook import Codebook, load_codebook
from data.derived import (
    STRATEGIES,
    add_derived,
    learning_strategy,
    partner_transparency,
    strategy_cut_points,
)
from data.survey import CaseSurvey

NAN = np.nan


# -- learning_strategy --------------------------------------------------------------------
def test_cut_points_are_the_thirds_of_the_scale():
    assert strategy_cut_points(5) == pytest.approx((7 / 3, 11 / 3))
    assert strategy_cut_points(7) == pytest.approx((3.0, 5.0))
    with pytest.raises(ValueError, match="at least 2"):
        strategy_cut_points(1)


# The 3 x 3 grid of bands on a 5-point scale (1-2 low, 3 moderate, 4-5 high); every
# cell with a moderate band is a compromise (the rule in learning_strategy's Notes).
GRID = [
    # R, T, strategy
    (5, 5, "collaboration"), (4, 4, "collaboration"),
    (5, 1, "competition"), (4, 2, "competition"),
    (1, 5, "accommodation"), (2, 4, "accommodation"),
    (1, 1, "avoidance"), (2, 2, "avoidance"),
    (3, 3, "compromise"),
    (5, 3, "compromise"), (3, 5, "compromise"), (1, 3, "compromise"), (3, 1, "compromise"),
]


@pytest.mark.parametrize(("r", "t", "expected"), GRID)
def test_strategy_grid_on_a_five_point_scale(r, t, expected):
    assert list(learning_strategy([r], [t])) == [expected]


def test_categories_are_the_five_strategies():
    out = learning_strategy([5, 1], [5, 1])
    assert isinstance(out, pd.Categorical)
    assert list(out.categories) == list(STRATEGIES)
    assert not out.ordered


def test_cut_points_are_moderate_and_fractions_are_banded():
    # 7-point scale: cut points 3 and 5; 3 and 5 are moderate, 2.99 low, 5.01 high.
    out = learning_strategy([7, 7, 5.01, 2.99, 3], [7, 5, 6, 1, 3], scale_max=7)
    assert list(out) == ["collaboration", "compromise", "collaboration", "avoidance", "compromise"]
    # 5-point scale, means of respondents: 2.3 < 7/3 is low, 2.4 > 7/3 is moderate.
    out = learning_strategy([2.3, 2.4], [4.5, 4.5])
    assert list(out) == ["accommodation", "compromise"]


def test_custom_cut_points():
    # low=3, high=3: only the exact midpoint is moderate (a median split around it).
    out = learning_strategy([4, 3, 2], [4, 4, 2], low=3, high=3)
    assert list(out) == ["collaboration", "compromise", "avoidance"]
    with pytest.raises(ValueError, match="cut points"):
        learning_strategy([3], [3], low=4, high=2)
    with pytest.raises(ValueError, match="cut points"):
        learning_strategy([3], [3], low=0.5)


def test_missing_inputs_give_a_missing_strategy_not_a_dropped_row():
    out = learning_strategy([5, NAN, 1, NAN], [5, 1, NAN, NAN])
    assert len(out) == 4
    assert out[0] == "collaboration"
    assert pd.isna(out[1:]).all()


def test_series_are_aligned_on_their_index():
    r = pd.Series([5.0, 1.0], index=["A", "B"])
    t = pd.Series([1.0, 1.0], index=["B", "C"])  # A has no T, C has no R
    out = learning_strategy(r, t)
    assert isinstance(out, pd.Series) and out.name == "learning_strategy"
    assert list(out.index) == ["A", "B", "C"]
    assert pd.isna(out["A"]) and out["B"] == "avoidance" and pd.isna(out["C"])


def test_values_outside_the_scale_are_all_listed():
    with pytest.raises(ValueError) as info:
        learning_strategy([0, 3, 6], [3, 8, 3])
    message = str(info.value)
    assert "receptivity outside 1..5 at 0: 0, 2: 6" in message
    assert "transparency outside 1..5 at 1: 8" in message


def test_lengths_must_match():
    with pytest.raises(ValueError, match="3 values"):
        learning_strategy([1, 2, 3], [1, 2])


# -- partner_transparency -----------------------------------------------------------------
# Alliance X: A, B, C with transparency 1, 3, 5 (A has two respondents).
# Alliance Y: A again (an organisation in two alliances), D (transparency missing), E = 4.
# Alliance Z: F alone.  Alliance W: G and H, both with transparency missing.
ROWS = [
    # respondent, network, organisation, alliance
    ("r1", "nX", "A", "X"), ("r2", "nX", "A", "X"), ("r3", "nX", "B", "X"), ("r4", "nX", "C", "X"),
    ("r5", "nY", "A", "Y"), ("r6", "nY", "D", "Y"), ("r7", "nY", "E", "Y"),
    ("r8", "nZ", "F", "Z"),
    ("r9", "nW", "G", "W"), ("r10", "nW", "H", "W"),
]
ORGANISATIONS = {  # organisation: (receptivity, transparency)
    "A": (5, 1), "B": (1, 3), "C": (3, 5), "D": (4, NAN), "E": (1, 4), "F": (5, 2),
    "G": (NAN, NAN), "H": (2, NAN),
}


def _wide():
    wide = pd.DataFrame(ROWS, columns=["respondent", "network", "organisation", "alliance"])
    wide["receptivity"] = [ORGANISATIONS[o][0] for o in wide["organisation"]]
    wide["transparency"] = [ORGANISATIONS[o][1] for o in wide["organisation"]]
    wide["individual_learning"] = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    return wide


@pytest.fixture
def survey():
    return CaseSurvey.from_wide(_wide(), load_codebook())


# (organisation, alliance): (partner transparency, n_partners, n_partners_known)
EXPECTED_PARTNERS = {
    ("A", "X"): ((3 + 5) / 2, 2, 2),
    ("B", "X"): ((1 + 5) / 2, 2, 2),
    ("C", "X"): ((1 + 3) / 2, 2, 2),
    ("A", "Y"): (4.0, 2, 1),            # D's missing transparency is left out of the mean
    ("D", "Y"): ((1 + 4) / 2, 2, 2),    # D's own missing code does not matter
    ("E", "Y"): (1.0, 2, 1),
    ("F", "Z"): (NAN, 0, 0),            # alone in its alliance
    ("G", "W"): (NAN, 1, 0),            # its only partner's transparency is missing
    ("H", "W"): (NAN, 1, 0),
}


def test_partner_transparency_hand_worked(survey):
    out = partner_transparency(survey)
    assert out.index.names == ["organisation", "alliance"]
    assert list(out.columns) == ["partner_transparency", "n_partners", "n_partners_known"]
    assert sorted(out.index) == sorted(EXPECTED_PARTNERS)
    for key, (mean, n, known) in EXPECTED_PARTNERS.items():
        row = out.loc[key]
        if np.isnan(mean):
            assert np.isnan(row["partner_transparency"]), key
        else:
            assert row["partner_transparency"] == pytest.approx(mean), key
        assert (row["n_partners"], row["n_partners_known"]) == (n, known), key


def test_partner_transparency_has_named_dims(survey):
    ds = partner_transparency(survey).to_xarray()
    assert set(ds["partner_transparency"].dims) == {"organisation", "alliance"}
    value = ds["partner_transparency"].sel(organisation="B", alliance="X")
    assert float(value) == pytest.approx(3.0)


def test_partner_transparency_from_individual_codes():
    # transparency_individual: an organisation's value in an alliance is the mean of its
    # respondents there. X: A = mean(1, 3) = 2, B = 4, C = missing. Y: A = 5, D = 1.
    wide = _wide().iloc[:6].drop(columns=["transparency"])
    wide["transparency_individual"] = [1, 3, 4, NAN, 5, 1]
    survey = CaseSurvey.from_wide(wide, load_codebook())
    out = partner_transparency(survey, column="transparency_individual")
    column = out["partner_transparency_individual"]
    assert column[("A", "X")] == pytest.approx(4.0)   # only B is known
    assert column[("B", "X")] == pytest.approx(2.0)   # A's mean; C missing
    assert column[("C", "X")] == pytest.approx(3.0)   # mean of A (2) and B (4)
    assert column[("A", "Y")] == pytest.approx(1.0)
    assert column[("D", "Y")] == pytest.approx(5.0)


def test_partner_transparency_refuses_what_it_cannot_compute(survey):
    with pytest.raises(ValueError, match="'openness' is not a condition"):
        partner_transparency(survey, column="openness")
    two_level = Codebook.from_dict({
        "ids": {"individual": "respondent", "network": "network"},
        "outcomes": {"individual_learning": {"scale": "likert-5"}},
        "conditions": {"transparency_individual": {"level": "individual", "scale": "likert-5"}},
    })
    wide = _wide()[["respondent", "network", "individual_learning"]]
    wide["transparency_individual"] = 3
    with pytest.raises(ValueError, match="organisation and alliance IDs"):
        partner_transparency(CaseSurvey.from_wide(wide, two_level), "transparency_individual")
    wide = _wide()
    wide["shared_interests"] = 3
    with pytest.raises(ValueError, match="network-level condition"):
        partner_transparency(CaseSurvey.from_wide(wide, load_codebook()), "shared_interests")


# -- add_derived --------------------------------------------------------------------------
def test_add_derived_adds_both_predictors(survey):
    out = add_derived(survey)
    strategies = out.groups["organisation"]["learning_strategy"]
    assert list(strategies.cat.categories) == list(STRATEGIES)
    # A (5, 1) competition; B (1, 3) compromise; C (3, 5) compromise; E (1, 4)
    # accommodation; F (5, 2) competition; D, G, H have a missing code.
    expected = {"A": "competition", "B": "compromise", "C": "compromise", "E": "accommodation",
                "F": "competition"}
    assert strategies.dropna().to_dict() == expected
    assert strategies[["D", "G", "H"]].isna().all()

    partner = out.individuals["partner_transparency"]
    assert partner["r1"] == partner["r2"] == pytest.approx(4.0)   # A in X
    assert partner["r5"] == pytest.approx(4.0)                    # A in Y
    assert partner["r6"] == pytest.approx(2.5)                    # D in Y
    assert partner[["r8", "r9", "r10"]].isna().all()
    variable = out.codebook.conditions["partner_transparency"]
    assert (variable.level, variable.side, variable.scale.kind, variable.expected_sign) == (
        "individual", "interorganisational", "continuous", 1)
    assert out.missing()["partner_transparency"] == 3


def test_add_derived_does_not_change_its_input(survey):
    individuals = survey.individuals.copy()
    organisations = survey.groups["organisation"].copy()
    conditions = dict(survey.codebook.conditions)
    add_derived(survey)
    pd.testing.assert_frame_equal(survey.individuals, individuals)
    pd.testing.assert_frame_equal(survey.groups["organisation"], organisations)
    assert survey.codebook.conditions == conditions


def test_add_derived_lists_every_reason_it_cannot_run(survey):
    wide = _wide()[["respondent", "network", "organisation", "individual_learning"]]
    codebook = Codebook.from_dict({
        "ids": {"individual": "respondent", "network": "network", "organisation": "organisation"},
        "outcomes": {"individual_learning": {"scale": "likert-5"}},
    })
    with pytest.raises(ValueError) as info:
        add_derived(CaseSurvey.from_wide(wide, codebook))
    message = str(info.value)
    assert "needs the condition 'receptivity'" in message
    assert "needs the condition 'transparency'" in message
    assert "needs organisation and alliance IDs" in message
    with pytest.raises(ValueError, match="already has"):
        add_derived(add_derived(survey))


def test_add_derived_one_predictor_at_a_time(survey):
    only_partner = add_derived(survey, strategy=False)
    assert "learning_strategy" not in only_partner.groups["organisation"]
    assert "partner_transparency" in only_partner.individuals
    only_strategy = add_derived(survey, partner=False)
    assert "partner_transparency" not in only_strategy.individuals
    assert "partner_transparency" not in only_strategy.codebook.conditions
