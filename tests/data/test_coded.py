"""Tests of the coded (long) form: validation, reliability, collapsing raters, loading."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest

from data.codebook import Codebook, load_codebook
from data.coded import (
    CODE_COLUMNS,
    check_coded_file,
    collapse_raters,
    load_coded,
    reliability,
    reliability_table,
    validate_coded,
)
from data.io import read_table
from data.survey import CaseSurvey
from data.validate import DataValidationError, check_wide

FIXTURES = Path(__file__).parent / "coded_fixtures"
ID_COLUMNS = ["respondent", "ksn", "firm", "case"]


@pytest.fixture
def codebook() -> Codebook:
    return load_codebook(FIXTURES / "codebook.toml")


@pytest.fixture
def clean() -> pd.DataFrame:
    return read_table(FIXTURES / "clean.csv")


def rules(report) -> list[tuple[str, int | None]]:
    return [(p.rule, p.row) for p in report.sorted_problems()]


def one_condition_codebook(scale: str) -> Codebook:
    return Codebook.from_dict({
        "ids": {"individual": "respondent"},
        "outcomes": {"y": {"scale": "likert-5"}},
        "conditions": {"c": {"level": "individual", "scale": scale}},
    })


def codes_sheet(codes_by_unit: dict[str, list[float]], condition: str = "c") -> pd.DataFrame:
    """A sheet of one condition: rater r0, r1, ... give the listed codes to each unit."""
    rows = [{"respondent": unit, "condition": condition, "rater": f"r{i}", "value": value}
            for unit, codes in codes_by_unit.items() for i, value in enumerate(codes)]
    rows += [{"respondent": unit, "condition": "y", "rater": "r0", "value": 3}
             for unit in codes_by_unit]
    return pd.DataFrame(rows)


# -- validation ------------------------------------------------------------------------------
def test_clean_sheet_has_no_problem(codebook, clean):
    report = validate_coded(clean, codebook, file="clean.csv")
    assert report.problems == []
    assert report.counts == {"individual": 6, "network": 3, "organisation": 3, "alliance": 2}


# Every planted problem with its line in planted.csv (header = line 1).
PLANTED = [
    ("out-of-scale", 3),              # contact_trust 9 on a 1..5 scale
    ("non-numeric", 5),               # "high"
    ("not-integer", 6),               # 2.5 on an ordinal scale
    ("individual-in-two-groups", 7),  # P2 in N1 (lines 6, 8) and N2 (line 7)
    ("missing-rater", 8),
    ("missing-condition", 9),
    ("duplicate-code", 11),           # rater A coded P3's learning_success on lines 10 and 11
    ("network-in-two-alliances", 13), # N1 in K1 (respondents' rows) and K2 (line 13)
    ("out-of-scale", 14),             # group_size -1 on a count scale
    ("missing-unit", 15),             # network-level code without a network ID
    ("group-without-members", 16),    # network N9 has no respondent
    ("not-finite", 17),               # inf
    ("missing-group", 19),            # P4 has no network on any row
    ("unknown-column", None),         # the "note" column
    ("unknown-condition", 12),        # trust_in_persons
    ("empty-rows", 20),
    ("no-reliability", 21),           # prior_cooperation coded by rater A only
]


def test_planted_file_lists_every_problem_with_its_line(codebook):
    report, result = check_coded_file(FIXTURES / "planted.csv", codebook)
    assert result is None
    found = rules(report)
    for planted in PLANTED:
        assert planted in found, planted
    n_errors = sum(1 for rule, _ in PLANTED if rule not in
                   ("unknown-column", "unknown-condition", "empty-rows", "no-reliability"))
    assert len(report.errors) == n_errors  # no follow-on errors beyond the planted ones
    assert all(p.file.endswith("planted.csv") and p.row_label == "line" for p in report.problems)
    with pytest.raises(DataValidationError) as err:
        load_coded(FIXTURES / "planted.csv", codebook)
    assert len(err.value.report.errors) == n_errors


def test_messages_name_values_and_lines(codebook):
    report, _ = check_coded_file(FIXTURES / "planted.csv", codebook)
    text = {p.rule: str(p) for p in report.errors}
    assert ("'P2' is in 2 networks: 'N1' (lines 6, 8); 'N2' (line 7)"
            in text["individual-in-two-groups"])
    assert "lines 10, 11; values 4, 5" in text["duplicate-code"]
    assert "'high'" in text["non-numeric"]
    assert "[ksn]" in text["missing-unit"]


def test_missing_columns_are_all_reported(codebook, clean):
    report = validate_coded(clean.drop(columns=["ksn", "coder", "code"]), codebook)
    assert sorted(rules(report)) == [("missing-coded-column", None), ("missing-coded-column", None),
                                     ("missing-id-column", None)]


def test_empty_file(codebook, clean):
    assert rules(validate_coded(clean.iloc[:0], codebook)) == [("empty-file", None)]


def test_no_outcome_coded(codebook, clean):
    report = validate_coded(clean[clean["condition"] != "learning_success"], codebook)
    assert ("no-outcome", None) in rules(report)
    # an outcome whose codes are all empty is not coded either
    blank = clean.assign(code=clean["code"].where(clean["condition"] != "learning_success"))
    assert ("no-outcome", None) in rules(validate_coded(blank, codebook))


def test_network_without_alliance_is_reported(codebook, clean):
    sheet = clean[clean["case"] != "K2"].copy()  # alliance K2 is no longer named anywhere
    sheet = pd.concat([sheet, clean[clean["case"] == "K2"].assign(case=np.nan)
                       .query("condition != 'prior_cooperation'")], ignore_index=True)
    report = validate_coded(sheet, codebook)
    (error,) = report.errors  # one problem for the column, naming each unit
    assert (error.rule, error.count) == ("missing-group", 3)
    assert error.message.startswith("3 units have no group on any of their rows: ")
    for unit in ("individual 'P5' has no alliance", "individual 'P6' has no alliance",
                 "network 'N3' has no alliance"):
        assert unit in error.message


def test_unit_column_may_name_the_unit(codebook, clean):
    sheet = clean.copy()
    group_rows = sheet["respondent"].isna()
    # group-level rows name their unit in a `unit` column instead of their level's own column
    unit = sheet["ksn"].fillna(sheet["firm"]).fillna(sheet["case"]).where(group_rows)
    sheet.insert(0, "unit", unit)
    sheet.loc[sheet["condition"] == "group_size", "ksn"] = np.nan
    sheet.loc[sheet["condition"] == "absorptive_capacity", "firm"] = np.nan
    assert validate_coded(sheet, codebook).problems == []
    pd.testing.assert_frame_equal(collapse_raters(sheet, codebook),
                                  collapse_raters(clean, codebook))

    sheet.loc[sheet["condition"] == "shared_interests", "unit"] = "N2"
    report = validate_coded(sheet, codebook)
    (error,) = report.errors  # one problem for the rows that break one rule
    assert error.rule == "unit-mismatch"
    assert error.count == 4 and error.rows == (33, 34, 37, 38)  # N1 and N3 rows; N2's agree


def test_organisation_without_members(codebook, clean):
    extra = pd.DataFrame([{"firm": "F9", "condition": "absorptive_capacity", "coder": "A",
                           "code": "4"}])
    report = validate_coded(pd.concat([clean, extra], ignore_index=True), codebook)
    assert rules(report) == [("group-without-members", 56)]  # in memory: 1-based row numbers


def test_many_problems_of_one_rule_are_grouped_and_counted(codebook, clean):
    sheet = clean.copy()
    sheet["code"] = "x"
    report = validate_coded(sheet, codebook)
    non_numeric = report.by_rule("non-numeric")
    # one problem per condition (not one per cell), each counting its cells
    assert len(non_numeric) == sheet["condition"].nunique()
    assert sum(p.count for p in non_numeric) == len(sheet) == 55
    assert {p.rule for p in report.errors} == {"non-numeric", "no-outcome"}  # nothing usable
    assert report.headline() == f"<data>: 56 errors ({len(non_numeric) + 1} listed), 0 warnings"


# -- collapsing raters ------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["median", "mean", "mode"])
def test_collapse_matches_hand_worked_tables(codebook, clean, how):
    # expected_*.csv were worked out by hand from clean.csv with the rules of data/coded.py, e.g.
    # median: contact_trust P1 (4, 5) -> 4.5 -> 4, toward the midpoint 3; P2 (2, 3) -> 2.5 -> 3;
    # voluntary P4 (1, 0) -> 0.5 on the binary midpoint -> 0; shared_interests (likert-4,
    # midpoint 2.5) N1 (2, 3) -> 2, N2 (3, 4) -> 3, N3 (1, 2) -> 2; group_size N1 (12, 13) ->
    # 12 (count: lower); firm_size (continuous) F1 (100, 120) -> 110 exactly.
    expected = pd.read_csv(FIXTURES / f"expected_{how}.csv", dtype={c: "str" for c in ID_COLUMNS})
    expected = expected.astype({c: float for c in expected.columns if c not in ID_COLUMNS})
    pd.testing.assert_frame_equal(collapse_raters(clean, codebook, how=how), expected)


@pytest.mark.parametrize(("scale", "codes", "how", "expected"), [
    ("likert-5", [3, 4], "median", 3),          # 3.5 above the midpoint 3: down, toward it
    ("likert-5", [2, 3], "median", 3),          # 2.5 below the midpoint: up, toward it
    ("likert-5", [1, 2, 5], "median", 2),       # odd number of codes: the middle one
    ("likert-4", [2, 3], "median", 2),          # 2.5 is the midpoint itself: the lower code
    ("binary", [0, 1], "median", 0),            # 0.5 is the midpoint: the lower code
    ("count", [4, 5], "median", 4),             # no midpoint: the lower code
    ("continuous", [4, 5], "median", 4.5),      # continuous: kept exact
    ("likert-5", [1, 2, 2], "mean", 2),         # 1.67 -> nearest code
    ("likert-5", [4, 5], "mean", 4),            # 4.5: toward the midpoint
    ("continuous", [1, 2, 2], "mean", 5 / 3),
    ("likert-5", [1, 1, 5], "mode", 1),         # a clear mode, however extreme
    ("likert-5", [1, 4], "mode", 4),            # tied modes: the one nearer the midpoint 3
    ("likert-5", [2, 2, 5, 5, 3], "mode", 2),
    ("likert-5", [1, 5], "mode", 1),            # equally near the midpoint: the lower
    ("count", [7, 3], "mode", 3),               # no midpoint: the lower
])
def test_tie_rules(scale, codes, how, expected):
    wide = collapse_raters(codes_sheet({"P1": codes}), one_condition_codebook(scale), how=how)
    assert wide.loc[0, "c"] == pytest.approx(expected)


@pytest.mark.parametrize("how", ["median", "mean", "mode"])
def test_collapsed_codes_are_valid_codes(how):
    # every pair and triple of codes on a 1..4 and a 1..5 scale collapses to a whole code
    for k in (4, 5):
        units = {f"P{i}": list(c) for i, c in enumerate(
            itertools.chain(itertools.product(range(1, k + 1), repeat=2),
                            itertools.product(range(1, k + 1), repeat=3)))}
        wide = collapse_raters(codes_sheet(units), one_condition_codebook(f"likert-{k}"), how=how)
        assert wide["c"].isin(range(1, k + 1)).all()


def test_missing_codes_stay_missing_and_are_counted(codebook, clean, caplog):
    with caplog.at_level(logging.INFO, logger="data.coded"):
        wide = collapse_raters(clean, codebook)
    # P4 has only an empty contact_trust code, P6 none at all; voluntary is coded for P1, P4
    assert list(wide["respondent"]) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert wide.set_index("respondent")["contact_trust"].isna().to_dict() == {
        "P1": False, "P2": False, "P3": False, "P4": True, "P5": False, "P6": True}
    assert wide["voluntary"].isna().sum() == 4
    assert "6 unit-condition cells have no code and stay missing" in caplog.text


def test_collapsed_sheet_builds_a_valid_case_survey(codebook, clean):
    wide = collapse_raters(clean, codebook)
    report, table = check_wide(wide, codebook)
    assert report.ok, str(report)
    survey = CaseSurvey.from_wide(table, codebook)
    assert survey.counts() == {"individual": 6, "network": 3, "organisation": 3, "alliance": 2}
    assert survey.groups["network"]["group_size"].to_dict() == {"N1": 12.0, "N2": 8.0, "N3": 6.0}
    assert survey.groups["network"]["alliance"].to_dict() == {"N1": "K1", "N2": "K1", "N3": "K2"}
    assert survey.groups["organisation"]["firm_size"].to_dict() == {
        "F1": 110.0, "F2": 50.0, "F3": 10.0}
    assert survey.missing()[["contact_trust", "voluntary", "group_size"]].to_dict() == {
        "contact_trust": 2, "voluntary": 4, "group_size": 0}


def test_collapse_refuses_a_sheet_with_errors(codebook):
    with pytest.raises(DataValidationError):
        collapse_raters(read_table(FIXTURES / "planted.csv"), codebook)
    with pytest.raises(ValueError, match="how must be one of"):
        collapse_raters(read_table(FIXTURES / "clean.csv"), codebook, how="average")


def test_default_codebook_column_names():
    sheet = pd.DataFrame({
        "respondent": ["r1", "r1", "r1", "r1"], "network": "n1", "organisation": "o1",
        "alliance": "a1", "condition": ["personal_contact"] * 2 + ["individual_learning"] * 2,
        "rater": ["A", "B", "A", "B"], "value": ["4", "4", "2", "3"]})
    wide = collapse_raters(sheet, load_codebook())
    assert wide.to_dict("records") == [{
        "respondent": "r1", "network": "n1", "organisation": "o1", "alliance": "a1",
        "personal_contact": 4.0, "individual_learning": 3.0}]


# -- reliability ------------------------------------------------------------------------------
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers
# A-D code twelve units on a 1..5 scale (NaN = not coded). Published: nominal .743, ordinal
# .815, interval .849, ratio .797 (the krippendorff package's doctest reproduces .743, .815
# and .797 from the same page).
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
    [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
])
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


def reliability_codebook() -> Codebook:
    return Codebook.from_dict({
        "ids": {"individual": "respondent"},
        "outcomes": {"y": {"scale": "likert-5"}},
        "conditions": {"as_ordinal": {"level": "individual", "scale": "likert-5"},
                       "as_interval": {"level": "individual", "scale": "continuous"},
                       "as_ratio": {"level": "individual", "scale": "count"},
                       "as_binary": {"level": "individual", "scale": "binary"}},
    })


def matrix_to_sheet(matrix: np.ndarray, condition: str) -> pd.DataFrame:
    """Raters x units matrix -> a codes-only sheet (unit, condition, rater, value)."""
    rows = [{"unit": f"u{j + 1}", "condition": condition, "rater": f"r{i + 1}", "value": v}
            for i, j in itertools.product(range(matrix.shape[0]), range(matrix.shape[1]))
            if not np.isnan(v := matrix[i, j])]
    return pd.DataFrame(rows)


def alpha_from_coincidences(matrix: np.ndarray, metric: str) -> float:
    """Krippendorff's alpha written out from the coincidence matrix (Krippendorff 2011, eqs. for
    D_o and D_e), independent of the krippendorff package: loops, no vectorisation."""
    units = [col[~np.isnan(col)] for col in matrix.T]
    units = [u for u in units if len(u) >= 2]
    values = sorted({float(v) for u in units for v in u})
    o = {(c, k): 0.0 for c in values for k in values}
    for u in units:
        for i, j in itertools.permutations(range(len(u)), 2):
            o[float(u[i]), float(u[j])] += 1 / (len(u) - 1)
    n_c = {c: sum(o[c, k] for k in values) for c in values}
    n = sum(n_c.values())

    def delta(c, k):
        if metric == "nominal":
            return float(c != k)
        if metric == "interval":
            return (c - k) ** 2
        if metric == "ratio":
            return ((c - k) / (c + k)) ** 2 if c + k else 0.0
        low, high = min(c, k), max(c, k)  # ordinal
        between = sum(n_c[g] for g in values if low <= g <= high)
        return (between - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(o[c, k] * delta(c, k) for c in values for k in values)
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c in values for k in values)
    return 1 - (n - 1) * observed / expected


@pytest.mark.parametrize("metric", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_2011_published_values(metric):
    # both the package and the independent implementation give the published value (3 decimals)
    package = krippendorff.alpha(reliability_data=KRIPPENDORFF_2011, level_of_measurement=metric)
    assert round(package, 3) == PUBLISHED[metric]
    assert alpha_from_coincidences(KRIPPENDORFF_2011, metric) == pytest.approx(package, abs=1e-12)


def test_reliability_reproduces_krippendorff_2011():
    sheet = pd.concat([matrix_to_sheet(KRIPPENDORFF_2011, name)
                       for name in ("as_ordinal", "as_interval", "as_ratio")], ignore_index=True)
    table = reliability(sheet, reliability_codebook())
    assert table["metric"].to_dict() == {"as_ordinal": "ordinal", "as_interval": "interval",
                                         "as_ratio": "ratio"}
    for name, metric in table["metric"].items():
        assert round(table.at[name, "alpha"], 3) == PUBLISHED[metric]
    # 12 units coded, 4 raters; unit 12 (coded once) is not pairable: 41 codes - 1 = 40
    assert table.loc["as_ordinal", ["units", "raters", "pairable"]].tolist() == [12, 4, 40]


def test_reliability_hand_worked_small_examples():
    # Ordinal, two raters, units (1,1) (2,2) (3,3) (1,2): n1 = n2 = 3, n3 = 2, n = 8;
    # o12 = o21 = 1; delta12 = (6 - 3)^2 = 9, delta13 = (8 - 2.5)^2 = 30.25,
    # delta23 = (5 - 2.5)^2 = 6.25; alpha = 1 - 7 * 18 / (2 * (81 + 181.5 + 37.5)) = 0.79.
    ordinal = matrix_to_sheet(np.array([[1, 2, 3, 1], [1, 2, 3, 2.0]]), "as_ordinal")
    # Binary (nominal), units (0,0) (1,1) (0,1) (1,1): n0 = 3, n1 = 5, o01 = o10 = 1;
    # alpha = 1 - 7 * 2 / (2 * 3 * 5) = 8/15.
    binary = matrix_to_sheet(np.array([[0, 1, 0, 1], [0, 1, 1, 1.0]]), "as_binary")
    table = reliability(pd.concat([ordinal, binary], ignore_index=True), reliability_codebook())
    assert table.at["as_ordinal", "alpha"] == pytest.approx(0.79, abs=1e-12)
    assert table.at["as_binary", "alpha"] == pytest.approx(8 / 15, abs=1e-12)
    assert table.at["as_binary", "metric"] == "nominal"


def test_reliability_agrees_with_independent_formula_on_random_codes():
    rng = np.random.default_rng(20240611)
    truth = rng.integers(1, 6, size=40)
    matrix = np.clip(truth + rng.integers(-1, 2, size=(3, 40)), 1, 5).astype(float)
    matrix[rng.random(matrix.shape) < 0.2] = np.nan
    sheet = pd.concat([matrix_to_sheet(matrix, name)
                       for name in ("as_ordinal", "as_interval", "as_ratio")], ignore_index=True)
    table = reliability(sheet, reliability_codebook())
    for name, metric in table["metric"].items():
        assert table.at[name, "alpha"] == pytest.approx(alpha_from_coincidences(matrix, metric),
                                                        abs=1e-12)


def test_reliability_of_the_clean_sheet(codebook, clean, caplog):
    with caplog.at_level(logging.WARNING, logger="data.coded"):
        table = reliability(clean, codebook)
    # prior_cooperation: K1 (3, 4), K2 (2, 2) on 1..5; n2 = 2, n3 = n4 = 1, n = 4;
    # delta34 = 1, delta23 = 2.25, delta24 = 6.25; alpha = 1 - 3 * 2 / (2 * (4.5 + 12.5 + 1)) = 5/6
    assert table.at["prior_cooperation", "alpha"] == pytest.approx(5 / 6, abs=1e-12)
    assert list(table.index) == ["contact_trust", "voluntary", "group_size", "shared_interests",
                                 "absorptive_capacity", "firm_size", "prior_cooperation",
                                 "learning_success"]
    assert table.loc["firm_size", ["units", "raters", "pairable"]].tolist() == [3, 3, 5]
    assert table["unreliable"].to_dict() == (table["alpha"] < 0.667).to_dict()
    assert table["unreliable"].any() and not table["unreliable"].all()
    for name in table.index[table["unreliable"]]:
        assert name in caplog.text


def test_reliability_table_is_the_sheets_table_from_codes_already_read(codebook, clean):
    # the public entry analysis.raters uses on a survey's rater_codes (a subset of conditions)
    coded = load_coded(FIXTURES / "clean.csv", codebook)
    whole = reliability_table(coded.codes, codebook)
    pd.testing.assert_frame_equal(whole, reliability(clean, codebook))
    pd.testing.assert_frame_equal(whole, coded.reliability)
    some = ["firm_size", "prior_cooperation"]
    part = reliability_table(coded.codes[coded.codes["condition"].isin(some)], codebook)
    pd.testing.assert_frame_equal(part, whole.loc[some])


def test_reliability_undefined_cases_are_nan_with_a_note():
    one_rater = matrix_to_sheet(np.array([[1, 2, 3.0]]), "as_ordinal")
    no_variation = matrix_to_sheet(np.array([[4, 4], [4, 4.0]]), "as_interval")
    table = reliability(pd.concat([one_rater, no_variation], ignore_index=True),
                        reliability_codebook())
    assert table["alpha"].isna().all()
    assert not table["unreliable"].any()
    assert table.at["as_ordinal", "note"] == "no unit coded by two raters"
    assert "undefined" in table.at["as_interval", "note"]


def test_reliability_needs_valid_codes_but_not_the_nesting(codebook, clean):
    # a sheet without the nesting columns still has a reliability (its units are in `unit`)
    codes_only = clean.assign(unit=clean["respondent"].fillna(clean["ksn"]).fillna(clean["firm"])
                              .fillna(clean["case"])).drop(columns=ID_COLUMNS)
    assert not validate_coded(codes_only, codebook).ok
    pd.testing.assert_frame_equal(reliability(codes_only, codebook), reliability(clean, codebook))
    with pytest.raises(DataValidationError):
        reliability(clean.assign(code="x"), codebook)


# -- loading a file ---------------------------------------------------------------------------
def test_load_coded_keeps_the_raters_codes(codebook, clean):
    result = load_coded(FIXTURES / "clean.csv", codebook, collapse="mode")
    assert isinstance(result.survey, CaseSurvey)
    assert result.collapse == "mode"
    assert tuple(result.codes.columns) == CODE_COLUMNS
    assert len(result.codes) == len(clean)  # every row, the empty P4 code included
    codes = result.codes
    p1 = codes[(codes["unit"] == "P1") & (codes["condition"] == "contact_trust")]
    assert p1[["line", "rater", "value"]].to_dict("list") == {
        "line": [2, 3], "rater": ["A", "B"], "value": [4.0, 5.0]}
    assert result.raters == ["A", "B", "C"]
    assert result.survey.groups["network"]["group_size"].to_dict() == {
        "N1": 12.0, "N2": 8.0, "N3": 5.0}  # mode: N3's tie (5, 7) goes to the lower
    pd.testing.assert_frame_equal(result.reliability, reliability(clean, codebook))
    low = result.report.by_rule("low-reliability")
    assert {p.message.split("'")[1] for p in low} == set(
        result.reliability.index[result.reliability["unreliable"]])
    assert result.report.counts["individual"] == 6
    assert "collapsed by mode" in str(result)


def test_load_coded_from_parquet_and_excel(codebook, clean, tmp_path):
    expected = load_coded(FIXTURES / "clean.csv", codebook).survey.to_wide()
    clean.to_parquet(tmp_path / "clean.parquet")
    clean.to_excel(tmp_path / "clean.xlsx", index=False)
    for name in ("clean.parquet", "clean.xlsx"):
        loaded = load_coded(tmp_path / name, codebook).survey.to_wide()
        pd.testing.assert_frame_equal(loaded, expected)
    # row numbers: Excel rows count the header, Parquet rows do not
    bad = clean.copy()
    bad.loc[0, "code"] = "x"
    bad.to_excel(tmp_path / "bad.xlsx", index=False)
    bad.to_parquet(tmp_path / "bad.parquet")
    assert rules(check_coded_file(tmp_path / "bad.xlsx", codebook)[0])[0] == ("non-numeric", 2)
    report, _ = check_coded_file(tmp_path / "bad.parquet", codebook)
    assert (report.errors[0].row, report.errors[0].row_label) == (1, "row")
