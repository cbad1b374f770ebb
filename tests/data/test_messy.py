"""Messy real-world files: each case a user met, and what the toolkit says about it.

Every file here is ``fixtures/good.csv`` (19 respondents; header = line 1) written the way a
spreadsheet program or a colleague would write it: another encoding or delimiter, a short
or long line, a spreadsheet error, IDs with spaces, a title row, the data on another sheet.
"""

import ast
import codecs
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from data import Codebook, CodebookError, DataFileError, DataValidationError, load_codebook, load_survey, validate_file
from data.io import read_rows

FIXTURES = Path(__file__).parent / "fixtures"
CODEBOOK = load_codebook(FIXTURES / "codebook.toml")
GOOD = (FIXTURES / "good.csv").read_text()
LINES = GOOD.splitlines()


def write(tmp_path, text, name="survey.csv", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def with_line(number: int, line: str) -> str:
    """good.csv with line ``number`` (1-based) replaced."""
    lines = list(LINES)
    lines[number - 1] = line
    return "\n".join(lines) + "\n"


def only(report, rule):
    found = report.by_rule(rule)
    assert len(found) == 1, str(report)
    return found[0]


# -- ragged rows ----------------------------------------------------------------------------------
def test_a_short_row_is_an_error_naming_its_line(tmp_path):
    short = LINES[4].rsplit(",", 1)[0]  # line 5 lost its last value (the outcome)
    path = write(tmp_path, with_line(5, short))
    report = validate_file(path, CODEBOOK)
    problem = only(report, "ragged-row")
    assert (problem.severity, problem.row) == ("error", 5)
    assert "line 5 (12 values)" in problem.message and "13 column names" in problem.message
    with pytest.raises(DataValidationError):  # not loaded with a respondent short of answers
        load_survey(path, CODEBOOK)


def test_a_long_row_is_an_error_naming_its_line(tmp_path):
    path = write(tmp_path, with_line(7, LINES[6] + ",5"))
    problem = only(validate_file(path, CODEBOOK), "ragged-row")
    assert (problem.severity, problem.row) == ("error", 7)
    assert "more values" in problem.message and "line 7 (14 values)" in problem.message
    # empty cells past the header (a trailing delimiter) hold nothing: not a problem
    assert validate_file(write(tmp_path, with_line(7, LINES[6] + ",, ")), CODEBOOK).problems == []


# -- spreadsheet errors ---------------------------------------------------------------------------
def test_an_excel_error_cell_is_an_error_not_a_missing_code(tmp_path):
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append([None if pd.isna(v) else v for v in row])
    sheet["E4"] = "#N/A"  # trust of line 4: openpyxl stores it as an error cell
    sheet["F9"] = "#DIV/0!"
    assert sheet["E4"].data_type == "e"
    book.save(tmp_path / "survey.xlsx")
    report = validate_file(tmp_path / "survey.xlsx", CODEBOOK)
    found = {(p.rule, p.row, p.column) for p in report.errors}
    assert found == {("spreadsheet-error", 4, "trust"), ("spreadsheet-error", 9, "ties")}
    assert "'#N/A'" in report.by_rule("spreadsheet-error")[1].message + \
        report.by_rule("spreadsheet-error")[0].message


def test_a_spreadsheet_error_exported_to_csv_is_an_error(tmp_path):
    cells = LINES[2].split(",")
    cells[1] = "#REF!"  # the network ID of line 3
    cells[4] = "#VALUE!"
    report = validate_file(write(tmp_path, with_line(3, ",".join(cells))), CODEBOOK)
    found = {(p.rule, p.row, p.column) for p in report.errors}
    assert ("spreadsheet-error", 3, "ksn") in found and ("spreadsheet-error", 3, "trust") in found
    assert not report.by_rule("non-numeric")  # reported once, as what it is


# -- IDs with spaces --------------------------------------------------------------------------
def test_ids_with_spaces_are_the_same_ids_with_a_warning(tmp_path):
    line = LINES[3].replace("K1", " K1", 1)  # line 4: ' K1' is network K1
    path = write(tmp_path, with_line(4, line))
    report = validate_file(path, CODEBOOK)
    assert report.ok and report.counts["network"] == 5  # not a sixth network
    problem = only(report, "id-spaces")
    assert (problem.severity, problem.row, problem.column) == ("warning", 4, "ksn")
    assert "' K1' is read as 'K1'" in problem.message
    assert load_survey(path, CODEBOOK).counts()["network"] == 5


def test_an_id_with_spaces_is_a_duplicate_of_the_same_id(tmp_path):
    cells = LINES[5].split(",")
    cells[0] = " 001 "  # line 6 repeats respondent 001 of line 2
    report = validate_file(write(tmp_path, with_line(6, ",".join(cells))), CODEBOOK)
    assert any(p.rule in ("duplicate-id", "individual-in-two-groups") and 6 in p.rows
               and "'001'" in p.message for p in report.errors), str(report)
    assert only(report, "id-spaces").row == 6


# -- encodings and delimiters ------------------------------------------------------------------
def accented() -> str:
    return GOOD.replace("K1", "Kö")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])
def test_encodings_are_detected(tmp_path, encoding):
    path = write(tmp_path, accented(), encoding=encoding)
    survey = load_survey(path, CODEBOOK)
    assert "Kö" in survey.ids("network")
    warnings = validate_file(path, CODEBOOK).warnings
    if encoding in ("cp1252", "latin-1"):  # a guess: said, with the first line that is not UTF-8
        (warning,) = warnings
        assert (warning.rule, warning.row) == ("encoding", 2) and "--encoding" in warning.message
    else:
        assert warnings == []


def test_a_wrong_encoding_names_the_line_and_what_to_pass(tmp_path):
    path = write(tmp_path, accented(), encoding="latin-1")
    with pytest.raises(DataFileError, match=r"survey.csv:2: byte 0xf6 cannot be read as utf-8; "
                                            r"try --encoding cp1252"):
        validate_file(path, CODEBOOK, encoding="utf-8")
    assert "Kö" in load_survey(path, CODEBOOK, encoding="latin-1").ids("network")
    with pytest.raises(DataFileError, match="unknown encoding 'nope'"):
        validate_file(path, CODEBOOK, encoding="nope")


def test_semicolons_and_decimal_commas_are_detected(tmp_path):
    european = GOOD.replace(",", ";").replace("2.5", "2,5").replace("1.0", "1,0")
    assert "2,5" in european
    path = write(tmp_path, european)
    table = read_rows(path)
    assert (table.sep, table.decimal) == (";", ",")
    survey = load_survey(path, CODEBOOK)
    reference = load_survey(FIXTURES / "good.csv", CODEBOOK)
    pd.testing.assert_frame_equal(survey.individuals, reference.individuals)
    assert survey.individuals.loc["001", "hours"] == 2.5
    # the delimiter given: the same; a wrong one is hinted with the right one
    assert load_survey(path, CODEBOOK, sep=";").fingerprint() == reference.fingerprint()
    report = validate_file(path, CODEBOOK, sep=",")
    assert not report.ok
    assert all("--sep ';'" in p.message for p in report.by_rule("missing-id-column"))


def test_tabs_are_detected(tmp_path):
    path = write(tmp_path, GOOD.replace(",", "\t"), name="survey.csv")
    assert validate_file(path, CODEBOOK).ok


# -- Excel sheets and title rows ---------------------------------------------------------------
def two_sheets(tmp_path) -> Path:
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["Survey of 2024, read me first"])
    data = book.create_sheet("Data")
    data.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        data.append([None if pd.isna(v) else v for v in row])
    book.save(tmp_path / "book.xlsx")
    return tmp_path / "book.xlsx"


def test_data_on_another_sheet_is_named_in_the_error(tmp_path):
    path = two_sheets(tmp_path)
    report = validate_file(path, CODEBOOK)
    problem = report.by_rule("missing-id-column")[0]
    assert "sheet 'Notes' was read; sheet 'Data' has" in problem.message
    assert "--sheet 'Data'" in problem.message
    assert validate_file(path, CODEBOOK, sheet="Data").ok


def test_a_wrong_sheet_names_the_sheets_there_are(tmp_path):
    with pytest.raises(DataFileError, match="no sheet 'data'; the sheets are 'Notes', 'Data'"):
        validate_file(two_sheets(tmp_path), CODEBOOK, sheet="data")


@pytest.mark.parametrize("title", ["Alliance survey 2024", "Alliance survey 2024, wave 1",
                                   "Alliance survey 2024\n"])
def test_a_title_row_above_the_header_is_named(tmp_path, title):
    path = write(tmp_path, f"{title}\n{GOOD}")
    report = validate_file(path, CODEBOOK)
    problem = only(report, "title-row")
    assert (problem.severity, problem.row) == ("error", 1)
    header_line = 3 if title.endswith("\n") else 2
    assert f"above the column names on line {header_line}" in problem.message
    assert [p.rule for p in report.errors] == ["title-row"]  # the rest is read from the header


def test_a_title_row_in_excel_is_named(tmp_path):
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    book = openpyxl.Workbook()
    book.active.append(["Alliance survey 2024"])
    book.active.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        book.active.append([None if pd.isna(v) else v for v in row])
    book.save(tmp_path / "titled.xlsx")
    report = validate_file(tmp_path / "titled.xlsx", CODEBOOK)
    assert [(p.rule, p.row) for p in report.errors] == [("title-row", 1)]


# -- the codebook's text codes and missing codes --------------------------------------------------
def codebook_with(**changes) -> Codebook:
    raw = CODEBOOK.to_dict()
    top = changes.pop("missing_codes", None)
    for name, spec in changes.items():
        raw["conditions" if name in raw["conditions"] else "outcomes"][name].update(spec)
    if top is not None:
        raw["missing_codes"] = top
    return Codebook.from_dict(raw)


def test_text_codes_are_mapped_per_variable(tmp_path):
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame["member"] = frame["member"].map({"0": "M", "1": " F"})
    frame.to_csv(tmp_path / "sexes.csv", index=False)
    codebook = codebook_with(member={"codes": {"M": 0, "F": 1}})
    survey = load_survey(tmp_path / "sexes.csv", codebook)
    pd.testing.assert_series_equal(survey.individuals["member"],
                                   load_survey(FIXTURES / "good.csv", CODEBOOK).individuals["member"])
    # without the mapping: one error for the column, counting its cells and values
    report = validate_file(tmp_path / "sexes.csv", CODEBOOK)
    (problem,) = report.errors
    n_m, n_f = (frame["member"] == "M").sum(), (frame["member"] == " F").sum()
    assert (problem.rule, problem.column, problem.count) == ("non-numeric", "member", n_m + n_f)
    assert f"'M' ({n_m})" in problem.message and f"' F' ({n_f})" in problem.message


def test_text_codes_must_be_valid_codes_of_the_scale():
    with pytest.raises(CodebookError, match=r"codes: 'F' = 2 is not a valid code of binary"):
        codebook_with(member={"codes": {"M": 0, "F": 2}})
    with pytest.raises(CodebookError, match="must be a table"):
        codebook_with(member={"codes": ["M", "F"]})


def test_declared_missing_codes_are_missing_never_values(tmp_path):
    frame = pd.read_csv(FIXTURES / "good.csv", dtype=str)
    frame.loc[[0, 5], "trust"] = "-99"
    frame.loc[1, "ties"] = "999"  # a valid count, declared missing at the top level
    frame.loc[2, "hours"] = "n/a"
    frame.to_csv(tmp_path / "coded_missing.csv", index=False)
    codebook = codebook_with(missing_codes=[-99, 999], hours={"missing_codes": [-99, "n/a"]})
    assert codebook.variable("trust").missing_codes == (-99.0, 999.0)
    assert codebook.variable("hours").missing_codes == (-99.0, "n/a")  # its own list
    report = validate_file(tmp_path / "coded_missing.csv", codebook)
    assert report.ok, str(report)
    summary = report.summary.set_index("variable")
    assert summary.loc["trust", "declared"] == 2 and summary.loc["ties", "declared"] == 1
    assert summary.loc["hours", "declared"] == 1
    base = validate_file(FIXTURES / "good.csv", CODEBOOK).summary.set_index("variable")
    assert summary.loc["trust", "missing"] == base.loc["trust", "missing"] + 2
    survey = load_survey(tmp_path / "coded_missing.csv", codebook)
    assert survey.individuals.loc[["001", "006"], "trust"].isna().all()
    assert np.isnan(survey.individuals.loc["002", "ties"])
    assert np.isnan(survey.individuals.loc["003", "hours"])
    assert survey.missing()["trust"] == base.loc["trust", "missing"] + 2
    # without the declaration -99 is a value outside the scale, not silently missing
    assert {p.rule for p in validate_file(tmp_path / "coded_missing.csv", CODEBOOK).errors} \
        == {"out-of-scale", "non-numeric"}


def test_a_missing_code_that_is_a_valid_code_is_a_codebook_error():
    with pytest.raises(CodebookError, match=r"top-level missing_codes \(for 'member'\): 0 is a "
                                            r"valid code of binary"):
        codebook_with(missing_codes=[0])
    codebook_with(missing_codes=[-99, 999])  # count and continuous scales: the user decides
    with pytest.raises(CodebookError, match=r"\[conditions.trust\] missing_codes: 3 is a valid"):
        codebook_with(trust={"missing_codes": [3]})
    with pytest.raises(CodebookError, match="must be a list"):
        codebook_with(missing_codes=-99)
    # a variable's own list replaces the top-level one: an empty list opts out
    codebook = codebook_with(missing_codes=[-99, 0], member={"missing_codes": []},
                             ties={"missing_codes": [-99]}, size={"missing_codes": [-99]})
    assert codebook.variable("member").missing_codes == ()


def test_codes_and_missing_codes_round_trip_through_toml(tmp_path):
    import tomli_w

    codebook = codebook_with(missing_codes=[-99], member={"codes": {"M": 0, "F": 1}})
    path = tmp_path / "codebook.toml"
    path.write_text(tomli_w.dumps(codebook.to_dict()))
    again = load_codebook(path)
    assert again.variable("member").codes == (("M", 0.0), ("F", 1.0))
    assert again.variable("trust").missing_codes == (-99.0,)


def test_missing_and_text_codes_apply_to_coding_sheets(tmp_path):
    from data import validate_coded

    sheet = pd.DataFrame({
        "respondent": ["1", "1", "2", "2"], "ksn": ["K1"] * 4, "firm": ["F1"] * 4,
        "case": ["A1"] * 4, "condition": ["member", "learning", "member", "learning"],
        "rater": ["A"] * 4, "value": ["F", "4", "M", "-99"]})
    codebook = codebook_with(missing_codes=[-99], member={"codes": {"M": 0, "F": 1}})
    report = validate_coded(sheet, codebook)
    assert not report.by_rule("non-numeric") and not report.by_rule("out-of-scale"), str(report)
    assert {p.rule for p in validate_coded(sheet, CODEBOOK).errors} >= {"non-numeric",
                                                                        "out-of-scale"}


# -- one home for reading files ------------------------------------------------------------------
def test_no_import_circle_among_the_data_modules():
    """data/coded.py and data/load.py once imported each other (a line-number helper)."""
    root = Path(__file__).parents[2] / "data"
    graph = {}
    for path in root.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                imported.add(node.module.split(".")[0])
        graph[path.stem] = imported
    done = set()

    def visit(name, stack):
        assert name not in stack, f"import circle: {' -> '.join([*stack, name])}"
        if name in done or name not in graph:
            return
        for other in graph[name]:
            visit(other, [*stack, name])
        done.add(name)

    for name in graph:
        visit(name, [])
    assert "load" not in graph["coded"]


def test_bom_and_utf16_without_bom(tmp_path):
    path = tmp_path / "le.csv"
    path.write_bytes(accented().encode("utf-16-le"))
    assert "Kö" in load_survey(path, CODEBOOK).ids("network")
    path.write_bytes(codecs.BOM_UTF8 + accented().encode("utf-8"))
    assert read_rows(path).frame.columns[0] == "respondent"


def test_the_cli_takes_encoding_sep_and_sheet(tmp_path):
    from typer.testing import CliRunner

    from reports.cli import app

    runner = CliRunner()
    path = write(tmp_path, accented().replace(",", ";"), encoding="latin-1")
    codebook = ["--codebook", str(FIXTURES / "codebook.toml")]
    result = runner.invoke(app, ["validate", str(path), *codebook])
    assert result.exit_code == 0 and "read as cp1252" in result.output
    result = runner.invoke(app, ["validate", str(path), *codebook, "--encoding", "latin-1",
                                 "--sep", ";"])
    assert result.exit_code == 0 and "0 errors, 0 warnings" in result.output
    result = runner.invoke(app, ["validate", str(path), *codebook, "--encoding", "utf-8"])
    assert result.exit_code == 2 and "survey.csv:2:" in result.output
    assert "--encoding cp1252" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["validate", str(two_sheets(tmp_path)), *codebook,
                                 "--sheet", "Data"])
    assert result.exit_code == 0, result.output


def test_columns_without_a_name(tmp_path):
    # trailing delimiters (a spreadsheet's empty columns) are nothing; a nameless column
    # holding values is named by its position and reported as unknown
    lines = [line + ",," for line in LINES]
    lines[3] = LINES[3] + ",x,"
    report = validate_file(write(tmp_path, "\n".join(lines) + "\n"), CODEBOOK)
    assert [(p.rule, p.column) for p in report.problems] == [("unknown-column",
                                                              "unnamed column 14")]


def test_a_short_row_in_a_coding_sheet_is_an_error(tmp_path):
    text = (Path(__file__).parent / "coded_fixtures" / "clean.csv").read_text().splitlines()
    text[4] = text[4].rsplit(",", 1)[0]
    path = write(tmp_path, "\n".join(text) + "\n")
    codebook = Path(__file__).parent / "coded_fixtures" / "codebook.toml"
    report = validate_file(path, codebook, form="coded")
    assert [(p.rule, p.row) for p in report.errors] == [("ragged-row", 5)]
