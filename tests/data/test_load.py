"""Loading wide case surveys from CSV, Parquet and Excel into a CaseSurvey."""

import logging
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from data import CaseSurvey, DataFileError, DataValidationError, load_codebook, load_survey, validate_file
from data.io import read_rows

FIXTURES = Path(__file__).parent / "fixtures"
CODEBOOK = load_codebook(FIXTURES / "codebook.toml")
ID_COLUMNS = ["respondent", "ksn", "firm", "case"]


def _typed(csv_path) -> pd.DataFrame:
    """The CSV as a user's Parquet would hold it: string IDs, numeric codes with NaN."""
    frame = pd.read_csv(csv_path, dtype={c: str for c in ID_COLUMNS})
    return frame


def write_parquet(csv_path, out) -> Path:
    _typed(csv_path).to_parquet(out, index=False)
    return out


def write_excel(csv_path, out, sheet="survey") -> Path:
    """An Excel file as a user types it: IDs as text, codes as numbers, missing codes blank."""
    frame = _typed(csv_path)
    book = openpyxl.Workbook()
    book.active.title = "notes"
    book.active.append(["this sheet is not the data"])
    page = book.create_sheet(sheet)
    page.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        page.append([None if (isinstance(v, float) and np.isnan(v)) else v for v in row])
    book.save(out)
    return out


def assert_same_survey(a: CaseSurvey, b: CaseSurvey):
    pd.testing.assert_frame_equal(a.individuals, b.individuals)
    assert a.groups.keys() == b.groups.keys()
    for level in a.groups:
        pd.testing.assert_frame_equal(a.groups[level], b.groups[level])
    assert a.fingerprint() == b.fingerprint()


def test_csv_load_splits_levels():
    survey = load_survey(FIXTURES / "good.csv", FIXTURES / "codebook.toml")
    assert survey.counts() == {"individual": 19, "network": 5, "organisation": 5, "alliance": 3}
    assert survey.conditions == ["trust", "ties", "member", "hours", "size", "identity",
                                 "capacity", "stakes"]  # tacitness is not in the file
    assert survey.individuals.index[0] == "001"  # IDs stay strings
    assert survey.groups["network"].loc["K3", "size"] == 5
    assert survey.groups["network"].loc["K3", "alliance"] == "A2"
    assert survey.groups["alliance"].loc["A3", "stakes"] == 5
    assert survey.source == str(FIXTURES / "good.csv") and len(survey.sha256) == 64


def test_missing_codes_are_kept_and_counted():
    survey = load_survey(FIXTURES / "good.csv", CODEBOOK)
    assert len(survey.individuals) == 19  # no row dropped for a missing code
    assert np.isnan(survey.individuals.loc["003", "trust"])
    assert np.isnan(survey.groups["network"].loc["K4", "identity"])
    assert np.isnan(survey.groups["organisation"].loc["F5", "capacity"])
    report = validate_file(FIXTURES / "good.csv", CODEBOOK)
    expected = report.summary.set_index("variable")["missing"]
    pd.testing.assert_series_equal(survey.missing(), expected, check_names=False)
    assert survey.missing()[["trust", "identity", "capacity", "size"]].tolist() == [1, 1, 1, 0]


def test_csv_parquet_and_excel_give_the_same_survey(tmp_path):
    from_csv = load_survey(FIXTURES / "good.csv", CODEBOOK)
    from_parquet = load_survey(write_parquet(FIXTURES / "good.csv", tmp_path / "good.parquet"),
                               CODEBOOK)
    from_excel = load_survey(write_excel(FIXTURES / "good.csv", tmp_path / "good.xlsx"),
                             CODEBOOK, sheet="survey")
    assert_same_survey(from_csv, from_parquet)
    assert_same_survey(from_csv, from_excel)


def test_parquet_problems_use_row_numbers(tmp_path):
    path = write_parquet(FIXTURES / "out_of_scale.csv", tmp_path / "bad.parquet")
    (problem,) = validate_file(path, CODEBOOK).problems
    assert (problem.rule, problem.row, problem.row_label, problem.column) == (
        "out-of-scale", 5, "row", "trust")
    assert str(problem).startswith(f"{path}:row 5:")


def test_excel_problems_use_line_numbers(tmp_path):
    path = write_excel(FIXTURES / "varies_in_alliance.csv", tmp_path / "bad.xlsx")
    (problem,) = validate_file(path, CODEBOOK, sheet="survey").problems
    assert (problem.rule, problem.row, problem.row_label, problem.column) == (
        "varies-in-group", 20, "line", "stakes")


def test_numeric_ids_in_parquet_become_labels(tmp_path):
    frame = _typed(FIXTURES / "good.csv")
    frame["respondent"] = frame["respondent"].astype(int)  # 1, 2, ... instead of "001"
    frame["case"] = frame["case"].str[1:].astype(float)  # 1.0, 2.0, 3.0
    frame.to_parquet(tmp_path / "numeric_ids.parquet", index=False)
    survey = load_survey(tmp_path / "numeric_ids.parquet", CODEBOOK)
    assert survey.individuals.index[:3].tolist() == ["1", "2", "3"]
    assert survey.ids("alliance").tolist() == ["1", "2", "3"]


def test_two_level_data_load(tmp_path):
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)[
        ["respondent", "ksn", "trust", "size", "identity", "learning"]]
    frame.to_csv(tmp_path / "two_level.csv", index=False)
    survey = load_survey(tmp_path / "two_level.csv", FIXTURES / "codebook_two_level.toml")
    assert survey.counts() == {"individual": 19, "network": 5}
    assert list(survey.groups) == ["network"]
    assert "alliance" not in survey.groups["network"].columns
    assert survey.group_index("network").tolist()[:5] == [0, 0, 0, 0, 1]


def test_data_without_organisation_load(tmp_path):
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str).drop(columns=["firm", "capacity"])
    frame.to_csv(tmp_path / "no_org.csv", index=False)
    codebook = load_codebook(FIXTURES / "codebook_no_organisation.toml")
    report = validate_file(tmp_path / "no_org.csv", codebook)
    assert [p.rule for p in report.problems] == ["unknown-column"]  # ties, member, ... not declared
    survey = load_survey(tmp_path / "no_org.csv", codebook)
    assert survey.counts() == {"individual": 19, "network": 5, "alliance": 3}
    assert survey.group_index("alliance", of="network").tolist() == [0, 0, 1, 1, 2]


def test_bad_file_raises_with_the_full_report():
    with pytest.raises(DataValidationError) as info:
        load_survey(FIXTURES / "many_problems.csv", CODEBOOK)
    assert len(info.value.report.problems) == 14
    assert "many_problems.csv:20" in str(info.value)


def test_warnings_are_logged_and_empty_rows_dropped(caplog):
    with caplog.at_level(logging.WARNING, logger="data.load"):
        survey = load_survey(FIXTURES / "empty_row.csv", CODEBOOK)
    assert len(survey.individuals) == 19
    assert "empty_row.csv:8" in caplog.text


def test_unreadable_files_raise_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match="unknown file type"):
        validate_file(tmp_path / "survey.txt", CODEBOOK)
    with pytest.raises(DataFileError, match="file not found"):
        validate_file(tmp_path / "missing.csv", CODEBOOK)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataFileError, match="cannot be read"):
        load_survey(tmp_path / "broken.parquet", CODEBOOK)
    with pytest.raises(DataFileError, match="sheet"):
        validate_file(FIXTURES / "good.csv", CODEBOOK, sheet="survey")


def test_unknown_form_is_refused():
    with pytest.raises(ValueError, match="form"):
        load_survey(FIXTURES / "good.csv", CODEBOOK, form="long")


def test_csv_line_numbers_follow_blank_lines_and_multiline_values(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text('id,note\n\na,"two\nlines"\n   \nb,x\nc,y\n')
    table = read_rows(path)
    assert len(table.frame) == 3
    assert table.lines.tolist() == [3, 6, 7]
    assert read_rows(FIXTURES / "good.csv").lines.tolist() == list(range(2, 21))


def test_coded_form_is_collapsed_over_raters():
    # raters agree on every value checked here, so the result does not depend on tie rules
    survey = load_survey(FIXTURES / "coded_two_level.csv", FIXTURES / "codebook_two_level.toml",
                         form="coded", collapse="median")
    assert survey.counts() == {"individual": 3, "network": 2}
    assert survey.individuals.loc["002", ["trust", "learning"]].tolist() == [2, 1]
    assert survey.individuals.loc["003", "trust"] == 3
    assert survey.groups["network"]["size"].tolist() == [4, 3]
    assert np.isnan(survey.groups["network"].loc["K1", "identity"])  # not coded: missing


def test_coded_form_problems_name_the_line_in_the_sheet():
    report = validate_file(FIXTURES / "coded_out_of_scale.csv", FIXTURES / "codebook_two_level.toml",
                           form="coded")
    assert [(p.rule, p.row, p.row_label) for p in report.errors] == [("out-of-scale", 7, "line")]
    with pytest.raises(DataValidationError):
        load_survey(FIXTURES / "coded_out_of_scale.csv", FIXTURES / "codebook_two_level.toml",
                    form="coded")
