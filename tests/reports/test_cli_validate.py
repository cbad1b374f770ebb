"""The ``alliance-learning validate`` command: every problem listed, exit codes, no traceback."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reports.cli import app

FIXTURES = Path(__file__).parents[1] / "data" / "fixtures"
CODEBOOK = str(FIXTURES / "codebook.toml")
runner = CliRunner()


def validate(*args):
    result = runner.invoke(app, ["validate", *map(str, args)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_clean_file_prints_the_summary_and_exits_0():
    result = validate(FIXTURES / "good.csv", "--codebook", CODEBOOK)
    assert result.exit_code == 0, result.output
    assert "Units per level" in result.output and "Missing codes" in result.output
    for text in ("individual", "respondent", "19", "organisation", "identity", "learning"):
        assert text in result.output
    assert "0 errors, 0 warnings" in result.output
    assert "tacitness" in result.output  # codebook conditions absent from the file are named


def test_many_problems_are_all_printed_and_exit_1():
    result = validate(FIXTURES / "many_problems.csv", "--codebook", CODEBOOK)
    assert result.exit_code == 1
    name = str(FIXTURES / "many_problems.csv")
    for line in (2, 3, 4, 5, 6, 8, 10, 12, 13, 14, 16, 18, 20):
        assert f"{name}:{line} " in result.output, line
    assert "notes" in result.output
    assert "13 errors, 1 warning" in result.output
    assert "Units per level" not in result.output


@pytest.mark.parametrize("name", ["single_alliance.csv", "unknown_column.csv"])
def test_warnings_alone_exit_0(name):
    result = validate(FIXTURES / name, "--codebook", CODEBOOK)
    assert result.exit_code == 0
    assert "warning:" in result.output and "Units per level" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["survey.txt"], "unknown file type"),
    (["missing.csv"], "file not found"),
    (["good.csv", "--sheet", "x"], "sheet"),
    (["good.csv", "--codebook", "no_such_codebook.toml"], "file not found"),
    (["good.csv", "--codebook", "good.csv"], "not valid TOML"),
])
def test_unreadable_inputs_exit_2_with_one_message(args, message):
    args = [str(FIXTURES / a) if a.endswith((".csv", ".txt", ".toml")) else a for a in args]
    result = validate(*args)
    assert result.exit_code == 2
    assert "error:" in result.output and message in result.output


def test_bad_codebook_lists_its_problems(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[ids]\nindividual = "respondent"\n[conditions.trust]\nscale = "likert-9x"\n')
    result = validate(FIXTURES / "good.csv", "--codebook", bad)
    assert result.exit_code == 2
    assert "likert-9x" in result.output and "outcome" in result.output


def test_coded_sheet_is_validated_with_form_coded():
    codebook = str(FIXTURES / "codebook_two_level.toml")
    good = validate(FIXTURES / "coded_two_level.csv", "--codebook", codebook, "--form", "coded")
    assert good.exit_code == 0, good.output
    assert "Units per level" in good.output
    bad = validate(FIXTURES / "coded_out_of_scale.csv", "--codebook", codebook, "--form", "coded")
    assert bad.exit_code == 1
    assert f"{FIXTURES / 'coded_out_of_scale.csv'}:7 " in bad.output
    wrong = validate(FIXTURES / "good.csv", "--form", "long")
    assert wrong.exit_code == 2 and "form must be one of" in wrong.output
