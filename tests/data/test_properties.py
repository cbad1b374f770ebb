"""Property-based tests: messy CSV files never crash the validator or lose a respondent.

Hypothesis writes small files with random codes, blank and space-only cells, IDs with spaces,
repeated IDs, spreadsheet errors, ragged (short and long) lines, empty lines, a semicolon
delimiter or a Windows encoding, and checks, for each one:

- ``alliance-learning validate`` exits 0 or 1, never with a traceback;
- every problem names where it is: cell problems a line and a column, row problems a line,
  problems of the whole file a column (or are about the whole file: empty, no outcome);
  every line named is a line of the file;
- no respondent is dropped without being reported: when the file loads, its respondents are
  exactly the IDs on the file's non-empty lines; every empty line that is ignored is named.

The examples are bounded and derandomized, so CI runs the same few hundred files each time
in a few seconds.
"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from data import load_codebook, load_survey, validate_file
from reports.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
CODEBOOK_PATH = FIXTURES / "codebook.toml"
CODEBOOK = load_codebook(CODEBOOK_PATH)
HEADER = ["respondent", "ksn", "firm", "case", "trust", "ties", "member", "hours", "size",
          "identity", "capacity", "stakes", "learning"]

# problems of one cell: a line and a column; of one line: a line; of the file: a column
CELL_RULES = {"non-numeric", "not-finite", "out-of-scale", "not-integer", "missing-id",
              "spreadsheet-error", "id-spaces", "varies-in-group", "individual-in-two-groups",
              "network-in-two-alliances", "duplicate-id", "empty-group"}
LINE_RULES = {"ragged-row", "empty-rows", "title-row", "encoding", "header-spaces"}
FILE_RULES_WITHOUT_COLUMN = {"empty-file", "no-outcome"}

SETTINGS = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

ids = st.sampled_from(["001", "002", "003", "004", "005", " 001", "002 ", "Kö", ""])
groups = st.sampled_from(["K1", "K2", " K1", "K3 ", "F1", "A1", "A2", ""])
codes = st.one_of(
    st.sampled_from(["", " ", "1", "2", "3", "4", "5", "0", "7", "-99", "2.5", "x", "M",
                     "#N/A", "#DIV/0!", "nan", "inf", "1e3"]),
    st.integers(-3, 12).map(str),
)


@st.composite
def rows(draw):
    """One data line: IDs, codes, sometimes a cell short or one too many."""
    cells = [draw(ids), draw(groups), draw(groups), draw(groups)]
    cells += [draw(codes) for _ in HEADER[4:]]
    shape = draw(st.sampled_from(["ok"] * 8 + ["short", "long", "empty", "blank"]))
    if shape == "short":
        cells = cells[:draw(st.integers(1, len(HEADER) - 1))]
    elif shape == "long":
        cells = cells + [draw(codes)]
    elif shape == "empty":
        cells = [""] * len(HEADER)
    elif shape == "blank":
        cells = []
    return cells


@st.composite
def tidy_rows(draw):
    """Lines of a file that can load: unique respondents (spaces around some), nesting kept,
    group-level codes constant, codes valid or blank; empty and blank lines between."""
    respondents = draw(st.lists(st.sampled_from(["001", "002", "003", "004", "005", "Kö",
                                                 "7", "08"]), unique=True, min_size=1,
                                max_size=8))
    group = {"size": draw(st.sampled_from(["", "4"])), "identity": draw(st.sampled_from(["", "3"])),
             "capacity": draw(st.sampled_from(["", "6"])), "stakes": draw(st.sampled_from(["", "2"]))}
    valid = {"trust": ["", " ", "1", "5"], "ties": ["", "0", "3"], "member": ["", "0", "1"],
             "hours": ["", "2.5", "0"], "learning": ["1", "3", "5", ""]}
    body = []
    for person in respondents:
        network = draw(st.sampled_from(["K1", " K1", "K2", "K2 "]))
        cells = {"respondent": draw(st.sampled_from([person, f" {person}", f"{person} "])),
                 "ksn": network, "firm": "F1", "case": "A1" if "1" in network else "A2",
                 **group, **{name: draw(st.sampled_from(v)) for name, v in valid.items()}}
        body.append([cells[name] for name in HEADER])
        body.extend(draw(st.sampled_from([[], [[]], [[""] * len(HEADER)]])))
    return body


@st.composite
def messy_files(draw):
    """A file's text, its encoding and its lines' cells (header excluded)."""
    body = draw(st.one_of(st.lists(rows(), min_size=0, max_size=12), tidy_rows()))
    sep = draw(st.sampled_from([",", ",", ";"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "cp1252", "utf-16"]))
    lines = [sep.join(HEADER)] + [sep.join(cells) for cells in body]
    return "\n".join(lines) + "\n", encoding, body


def write(tmp_path: Path, text: str, encoding: str) -> Path:
    path = tmp_path / "survey.csv"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@SETTINGS
@given(messy_files())
def test_validate_never_crashes_and_names_every_problem(tmp_path, runner, case):
    text, encoding, body = case
    path = write(tmp_path, text, encoding)
    result = runner.invoke(app, ["validate", str(path), "--codebook", str(CODEBOOK_PATH)])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output

    report = validate_file(path, CODEBOOK)
    assert (result.exit_code == 0) == report.ok
    n_lines = text.count("\n")
    for problem in report.problems:
        if problem.rule in CELL_RULES:
            assert problem.row is not None and problem.column, problem
        elif problem.rule in LINE_RULES:
            assert problem.row is not None, problem
        else:
            assert problem.column or problem.rule in FILE_RULES_WITHOUT_COLUMN, problem
        assert all(1 <= line <= n_lines for line in problem.rows), problem
        assert problem.count >= 1


@SETTINGS
@given(messy_files())
def test_no_respondent_is_dropped_without_being_reported(tmp_path, case):
    text, encoding, body = case
    path = write(tmp_path, text, encoding)
    report = validate_file(path, CODEBOOK)
    # data lines in the file, by line number (header = line 1; blank lines hold no one)
    lines = {number: cells for number, cells in enumerate(body, start=2) if cells}
    empty = {n for n, cells in lines.items() if not any(c.strip() for c in cells)}
    ignored = {line for p in report.by_rule("empty-rows") for line in p.rows}
    assert ignored == empty  # every ignored line is named, and only those
    if not report.ok:
        return  # nothing is loaded: the errors say why
    survey = load_survey(path, CODEBOOK)
    expected = {cells[0].strip() for n, cells in lines.items() if n not in empty}
    assert set(survey.individuals.index) == expected
    assert len(survey.individuals) == len(lines) - len(empty)  # one row per respondent
