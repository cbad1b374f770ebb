"""Every validation rule, each on its own fixture file with one planted problem.

The fixtures in ``fixtures/`` are ``good.csv`` with one change each (line numbers count
the header as line 1). ``many_problems.csv`` plants 14 problems at once.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import Codebook, DataValidationError, load_codebook, validate_file, validate_frame

FIXTURES = Path(__file__).parent / "fixtures"
CODEBOOK = load_codebook(FIXTURES / "codebook.toml")

# file, rule, severity, row (line in the file; None = the whole file), column
PLANTED = [
    ("missing_id_column.csv", "missing-id-column", "error", None, "ksn"),
    ("no_outcome.csv", "no-outcome", "error", None, None),
    ("unknown_column.csv", "unknown-column", "warning", None, "notes"),
    ("duplicate_column.csv", "duplicate-column", "error", None, "trust"),
    ("empty_file.csv", "empty-file", "error", None, None),
    ("empty_row.csv", "empty-rows", "warning", 8, None),
    ("out_of_scale.csv", "out-of-scale", "error", 6, "trust"),
    ("out_of_scale_binary.csv", "out-of-scale", "error", 9, "member"),
    ("negative_count.csv", "out-of-scale", "error", 4, "ties"),
    ("not_integer.csv", "not-integer", "error", 8, "trust"),
    ("non_numeric.csv", "non-numeric", "error", 11, "trust"),
    ("not_finite.csv", "not-finite", "error", 5, "hours"),
    ("missing_id.csv", "missing-id", "error", 13, "respondent"),
    ("duplicate_id.csv", "duplicate-id", "error", 5, "respondent"),
    ("individual_in_two_networks.csv", "individual-in-two-groups", "error", 15, "ksn"),
    ("network_in_two_alliances.csv", "network-in-two-alliances", "error", 17, "case"),
    ("varies_in_network.csv", "varies-in-group", "error", 3, "size"),
    ("varies_in_organisation.csv", "varies-in-group", "error", 7, "capacity"),
    ("varies_in_alliance.csv", "varies-in-group", "error", 20, "stakes"),
    ("empty_group.csv", "empty-group", "warning", 14, "ksn"),
    ("unobserved_category.csv", "unobserved-category", "warning", None, "learning"),
    ("single_alliance.csv", "single-group", "warning", None, "case"),
    ("blank_line.csv", "out-of-scale", "error", 12, "trust"),  # a skipped blank line before it
]

# (rule, line, column) of the 14 problems planted in many_problems.csv
MANY = {
    ("out-of-scale", 2, "trust"),
    ("not-integer", 3, "ties"),
    ("non-numeric", 4, "member"),
    ("not-finite", 5, "hours"),
    ("missing-id", 6, "respondent"),
    ("duplicate-id", 8, "respondent"),
    ("varies-in-group", 10, "size"),
    ("out-of-scale", 12, "learning"),
    ("varies-in-group", 13, "capacity"),
    ("non-numeric", 14, "hours"),
    ("network-in-two-alliances", 16, "case"),
    ("varies-in-group", 18, "stakes"),
    ("individual-in-two-groups", 20, "ksn"),
    ("unknown-column", None, "notes"),
}


def test_good_file_has_no_problem():
    report = validate_file(FIXTURES / "good.csv", CODEBOOK)
    assert report.problems == []
    assert report.ok
    assert report.absent == ["tacitness"]  # declared, not measured: not a problem
    assert report.counts == {"individual": 19, "network": 5, "organisation": 5, "alliance": 3}


@pytest.mark.parametrize(("name", "rule", "severity", "row", "column"), PLANTED,
                         ids=[p[0] for p in PLANTED])
def test_each_planted_problem_is_found_alone(name, rule, severity, row, column):
    report = validate_file(FIXTURES / name, CODEBOOK)
    assert [(p.rule, p.severity, p.row, p.column) for p in report.problems] == [
        (rule, severity, row, column)], str(report)
    assert report.ok == (severity == "warning")
    problem = report.problems[0]
    assert problem.file == str(FIXTURES / name)
    if row is not None:
        assert str(problem).startswith(f"{FIXTURES / name}:{row}:")


def test_many_problems_are_all_listed_in_one_run():
    report = validate_file(FIXTURES / "many_problems.csv", CODEBOOK)
    found = {(p.rule, p.row, p.column) for p in report.problems}
    assert found == MANY, str(report)
    assert len(report.problems) == len(MANY) >= 12
    assert len(report.errors) == 13 and len(report.warnings) == 1
    text = str(report)
    for problem in report.problems:
        assert str(problem) in text


def test_group_problem_lists_every_offending_line():
    report = validate_file(FIXTURES / "varies_in_network.csv", CODEBOOK)
    (problem,) = report.problems
    assert problem.rows == (3,)
    assert "'K1'" in problem.message
    assert "4 (lines 2, 4, 5)" in problem.message and "5 (line 3)" in problem.message


def test_network_in_two_alliances_names_both_alliances():
    (problem,) = validate_file(FIXTURES / "network_in_two_alliances.csv", CODEBOOK).problems
    assert "'A2' (line 17)" in problem.message and "'A3' (lines 18, 19, 20)" in problem.message


def test_individual_in_two_networks_names_both_lines():
    (problem,) = validate_file(FIXTURES / "individual_in_two_networks.csv", CODEBOOK).problems
    assert "'K3' (line 9)" in problem.message and "'K4' (line 15)" in problem.message


def test_unknown_columns_are_named_in_one_warning():
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str).assign(notes="x", trst="1")
    report = validate_frame(frame, CODEBOOK)
    (problem,) = report.problems
    assert problem.severity == "warning" and problem.column == "notes, trst"
    assert "'notes'" in problem.message and "'trst' may be 'trust'" in problem.message


def test_missing_codes_are_not_problems_and_are_counted_at_their_level():
    report = validate_file(FIXTURES / "good.csv", CODEBOOK)
    summary = report.summary.set_index("variable")
    # good.csv leaves one trust code empty (line 4), network K4's identity (3 rows, 1
    # network) and organisation F5's capacity (2 rows, 1 organisation)
    assert summary.loc["trust", ["units", "missing"]].tolist() == [19, 1]
    assert summary.loc["identity", ["units", "missing"]].tolist() == [5, 1]
    assert summary.loc["capacity", ["units", "missing"]].tolist() == [5, 1]
    assert summary.loc["learning", ["kind", "missing"]].tolist() == ["outcome", 1]


def test_a_group_value_missing_on_some_rows_only_is_not_variation():
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame.loc[0, "size"] = np.nan  # K1 still has size 4 on its other rows
    assert validate_frame(frame, CODEBOOK).problems == []


def test_group_level_outcome_must_be_constant_in_its_group():
    raw = CODEBOOK.to_dict()
    raw["outcomes"]["collective"] = {"level": "alliance", "scale": "likert-5"}
    codebook = Codebook.from_dict(raw)
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame["collective"] = frame["case"].map({"A1": "1", "A2": "3", "A3": "5"})
    frame.loc[4, "collective"] = "2"  # line 6, alliance A1
    report = validate_frame(frame, codebook, lines=np.arange(2, 21), row_label="line")
    errors = [(p.rule, p.row, p.column) for p in report.errors]
    assert errors == [("varies-in-group", 6, "collective")]
    assert "alliance-level outcome" in report.errors[0].message


def test_all_outcomes_empty_is_an_error():
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str).assign(learning=np.nan)
    report = validate_frame(frame, CODEBOOK)
    assert [(p.rule, p.severity) for p in report.problems] == [("no-outcome", "error")]


def test_numeric_frame_is_checked_like_strings():
    # Parquet keeps numbers as numbers: the same rules apply, rows are 1-based row numbers
    frame = pd.read_csv(FIXTURES / "out_of_scale.csv", dtype={"respondent": str})
    report = validate_frame(frame, CODEBOOK, file="mem")
    (problem,) = report.problems
    assert (problem.rule, problem.row, problem.column) == ("out-of-scale", 5, "trust")
    assert str(problem).startswith("mem:row 5:")


def test_many_bad_cells_are_one_problem_counting_cells():
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame = pd.concat([frame] * 200, ignore_index=True)
    frame["respondent"] = [f"r{i}" for i in range(len(frame))]
    frame["trust"] = "9"
    frame.loc[:1799, "member"] = "M"  # a text code in 1,800 cells, two values
    frame.loc[:799, "member"] = "F"
    report = validate_frame(frame, CODEBOOK, lines=np.arange(2, len(frame) + 2),
                            row_label="line")
    (out,) = report.by_rule("out-of-scale")
    assert out.count == len(frame) == 3800
    assert out.message.startswith("3,800 cells: out-of-scale code '9' (3,800) on lines 2, 3,")
    assert len(out.rows) == 20 and "(first 20 shown)" in out.message
    (text,) = report.by_rule("non-numeric")
    assert (text.column, text.count, text.row) == ("member", 1800, 2)
    assert "'M' (1,000), 'F' (800)" in text.message
    # the totals count cells, not messages
    assert report.headline().startswith("<data>: 5,600 errors (2 listed)")


def test_cell_failing_two_rules_is_reported_once():
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame.loc[0, "trust"] = "9.5"  # outside 1..5 and not whole: one problem
    (problem,) = validate_frame(frame, CODEBOOK).problems
    assert problem.rule == "out-of-scale"


def test_blank_ids_count_as_missing():
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame.loc[2, "ksn"] = "  "
    (problem,) = validate_frame(frame, CODEBOOK, lines=np.arange(2, 21), row_label="line").problems
    assert (problem.rule, problem.row, problem.column) == ("missing-id", 4, "ksn")


def test_report_raises_with_every_problem():
    report = validate_file(FIXTURES / "many_problems.csv", CODEBOOK)
    with pytest.raises(DataValidationError) as info:
        report.raise_for_errors()
    assert info.value.report is report
    assert str(info.value).count("\n") == len(report.problems)
    validate_file(FIXTURES / "single_alliance.csv", CODEBOOK).raise_for_errors()  # warnings only


def test_errors_are_listed_before_warnings_by_line():
    report = validate_file(FIXTURES / "many_problems.csv", CODEBOOK)
    ordered = report.sorted_problems()
    assert [p.severity for p in ordered] == ["error"] * 13 + ["warning"]
    rows = [p.row for p in ordered[:13]]
    assert rows == sorted(rows)


def test_missing_id_columns_are_all_listed_and_other_checks_still_run():
    frame = pd.read_csv(FIXTURES / "out_of_scale.csv", dtype=str).drop(columns=["respondent", "case"])
    report = validate_frame(frame, CODEBOOK, lines=np.arange(2, 21), row_label="line")
    found = {(p.rule, p.row, p.column) for p in report.problems}
    assert found == {("missing-id-column", None, "respondent"), ("missing-id-column", None, "case"),
                     ("out-of-scale", 6, "trust")}


def test_repeated_column_labels_in_memory_are_an_error():
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame = pd.concat([frame, frame[["trust"]]], axis=1)
    (problem,) = validate_frame(frame, CODEBOOK).problems
    assert (problem.rule, problem.column) == ("duplicate-column", "trust")


def test_problems_found_unit_by_unit_are_one_problem_per_column():
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame = pd.concat([frame] * 8, ignore_index=True)  # every respondent on 8 lines
    report = validate_frame(frame, CODEBOOK, lines=np.arange(2, len(frame) + 2),
                            row_label="line")
    (problem,) = report.by_rule("duplicate-id")
    assert problem.count == 19 and problem.column == "respondent"  # 19 IDs, one message
    assert problem.message.startswith("19 individual IDs are repeated: individual ID '001' "
                                      "is repeated on lines 2, 21, 40,")
    assert problem.message.endswith("(14 more)") and problem.row == 21
    assert report.headline() == "<data>: 19 errors (1 listed), 0 warnings"
