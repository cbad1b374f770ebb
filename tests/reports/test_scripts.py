"""The report scripts an analyst copies (reports/scripts/) run as shipped, with tiny draws.

Each script is run as ``__main__`` in this process (``runpy``), with its command-line options
for the draws, so the model compiled by the session's demo run is reused. The checks skip the
PPC, the prior sensitivity and the figures (``cheap_checks``): the demo runs them in full.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest

from .conftest import TINY

SCRIPTS = Path(__file__).parents[2] / "reports" / "scripts"


def run_script(name: str, out: Path, monkeypatch, capsys) -> str:
    path = SCRIPTS / name
    monkeypatch.setattr(sys, "argv", [str(path), *TINY, "--out", str(out)])
    runpy.run_path(str(path), run_name="__main__")
    return capsys.readouterr().out


@pytest.mark.parametrize("name", ["dominance_wide_survey.py", "rater_coded_survey.py"])
def test_script_says_what_to_edit(name):
    text = (SCRIPTS / name).read_text()
    assert "EDIT HERE" in text and text.startswith('"""Report script:')


def test_dominance_wide_survey(demo_run, tmp_path, monkeypatch, capsys, cheap_checks):
    out = tmp_path / "wide"
    printed = run_script("dominance_wide_survey.py", out, monkeypatch, capsys)
    assert len(cheap_checks) == 1
    checks = json.loads((out / "checks" / "checks.json").read_text())
    assert f"verdict: {checks['verdict']['verdict']}" in printed
    assert f"report: {out / 'report.html'}" in printed
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "wide case survey" in page and checks["verdict"]["verdict"] in page
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["config"]["sampling"]["draws"] == 100
    assert "dominance_wide_survey.py" in summary["provenance"]["command"]


def test_rater_coded_survey(demo_run, tmp_path, monkeypatch, capsys, cheap_checks):
    out = tmp_path / "coded"
    printed = run_script("rater_coded_survey.py", out, monkeypatch, capsys)
    sheet = tmp_path / "coded-input" / "survey.coded.csv"
    assert sheet.is_file()  # the simulator's rater-coded output
    reliability = pd.read_csv(out / "reliability.csv", index_col=0)
    assert (reliability["raters"] == 2).all()
    # the example raters have noise: agreement is imperfect, but far above chance (alpha 0)
    outcomes = ("individual_learning", "collective_learning")  # copied to every rater: alpha 1
    conditions = reliability.drop(index=list(outcomes), errors="ignore")["alpha"].dropna()
    assert (conditions < 1).all() and (conditions > 0.3).all()
    assert "alpha" in printed
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "rater-coded case survey" in page
    assert "Not available: coding reliability" not in page
    # the rater model (the script's default): severities and agreement beside alpha
    summary = json.loads((out / "summary.json").read_text())
    assert summary["measurement"] == "raters" and set(summary["raters"]) == {"rater1", "rater2"}
    assert "beside Krippendorff's alpha of the codes" in printed  # the checks' rater part
    assert 'id="rater-agreement"' in page and 'id="rater-severity"' in page
