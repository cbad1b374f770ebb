"""The report and the command line say what the sampler did (models.extend, issue 15 item 4)."""

from __future__ import annotations

import json
import re

import numpy as np
import xarray as xr

from models import extend
from models.extend import Attempt, sample_until_trusted
from reports.html import render_html

GOOD = {"max_rhat": 1.003, "min_ess_bulk": 900.0, "min_ess_tail": 800.0, "divergences": 0, "min_bfmi": 0.8}
ASKED = Attempt(draws=2000, tune=1000, target_accept=0.8, seed=11)


def record(monkeypatch, by_draws: dict[int, dict]) -> dict:
    """The sampling record of a made-up fit whose gate statistics depend on its draws."""
    monkeypatch.setattr(extend, "gate_statistics", lambda tree: json.loads(tree.attrs["stats"]))

    def sample(attempt):
        tree = xr.DataTree(xr.Dataset({"mu": (("chain", "draw"), np.zeros((4, 2)))}))
        tree.attrs["stats"] = json.dumps({**GOOD, **by_draws.get(attempt.draws, {})})
        return tree

    return sample_until_trusted(sample, ASKED, chains=4, seed=5)[1]


def text(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(p|div)>', page, re.S)
    assert found, f"no #{element_id} in the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_report_says_an_extension_was_made_and_why(monkeypatch):
    page = render_html({"sampling": record(monkeypatch, {2000: {"max_rhat": 1.013}}),
                        "diagnostics": GOOD})
    note = text(page, "sampling-note")
    assert "missed a diagnostic gate narrowly" in note and "extended once" in note
    assert "R-hat 1.013 (needs &lt;= 1.01; narrow: &lt;= 1.05)" in note
    assert "4 chains x 4000 draws after 2000 tuning steps" in note and "passes every gate" in note
    runs = text(page, "sampling-runs")
    assert "asked" in runs and "extension 1" in runs and "R-hat" in runs and "4,000" in runs


def test_report_of_a_spent_budget_keeps_the_refusal(monkeypatch):
    short = {n: {"min_ess_tail": 390.0} for n in (2000, 4000, 8000)}
    page = render_html({"sampling": record(monkeypatch, short)})
    note = text(page, "sampling-note")
    assert "extended 2 times" in note and "still fails" in note and "The verdict is refused" in note


def test_report_of_a_fit_that_passed_at_once_says_so_without_a_table(monkeypatch):
    page = render_html({"sampling": record(monkeypatch, {})})
    assert "no extension needed" in text(page, "sampling-note")
    assert 'id="sampling-runs"' not in page
    assert 'id="sampling-note"' not in render_html({})  # a fit made before the record: nothing


def test_cli_prints_the_note_when_a_gate_was_missed(monkeypatch, capsys):
    from reports import cli

    monkeypatch.setattr(cli.console, "width", 2000)
    cli._print_sampling(record(monkeypatch, {}))  # passed at once: only when asked always
    assert capsys.readouterr().out == ""
    cli._print_sampling(record(monkeypatch, {}), always=True)
    assert "no extension needed" in capsys.readouterr().out
    cli._print_sampling(record(monkeypatch, {2000: {"min_ess_tail": 380.0}}))
    out = capsys.readouterr().out
    assert out.startswith("sampling: The first fit missed") and "tail ESS 380" in out
    assert "draws 2000 -> 4000, tuning 1000 -> 2000, new seed" in out
