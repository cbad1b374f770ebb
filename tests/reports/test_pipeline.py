"""The main job: ``demo``, ``run`` and ``report`` (validate -> fit -> check -> report).

The demo run (``demo_run`` in conftest) is made once per session with tiny draws, so its
verdict is refused by the diagnostic gates: these tests check the plumbing and the page, not
the statistics. The end-to-end test opens the demo's report in headless Chromium and saves
a screenshot (copied to ``$ALLIANCE_SCREENSHOT_DIR`` when set).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from data import Design, save_simulation, simulate
from reports.cli import app
from reports.pipeline import DEMO_CONFIG, example_data_path, resolve_config

from .conftest import TINY
from .test_browser import chromium_page

runner = CliRunner()
# forest plot, variance shares, share difference, predictive check; the between-alliance and
# between-network variance of the mean outcome and the LOO-PIT (no dominance analysis)
DEMO_IMAGES = 7
VERDICTS = ("interpersonal dominates", "interorganisational dominates", "inconclusive",
            "not trustworthy")


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


# -- demo ---------------------------------------------------------------------------------------


def test_demo_writes_run_checks_and_report(demo_run):
    assert demo_run.exit_code == 0, (demo_run.output, demo_run.exception)
    out = demo_run.out
    for name in ("posterior.nc", "summary.json", "config.toml", "codebook.toml", "data.parquet",
                 "checks/checks.json", "report.html"):
        assert (out / name).is_file(), name
    assert not (out / "reliability.csv").exists()  # wide data: no raters
    for step in ("1/4 validate", "2/4 fit", "3/4 check", "4/4 report"):
        assert step in demo_run.output
    assert str((out / "report.html").resolve()) in demo_run.output.replace("\n", "")
    checks = json.loads((out / "checks" / "checks.json").read_text())
    assert f"verdict: {checks['verdict']['verdict']}" in demo_run.output


def test_demo_records_the_command_and_the_example_data(demo_run):
    summary = json.loads((demo_run.out / "summary.json").read_text())
    provenance = summary["provenance"]
    assert provenance["command"] == (f"alliance-learning demo --out {demo_run.out} "
                                     + " ".join(TINY))
    assert provenance["data_sha256"] == hashlib.sha256(example_data_path().read_bytes()).hexdigest()
    assert summary["diagnostics"]["chains"] == 2 and summary["diagnostics"]["draws"] == 100


def test_demo_report_is_self_contained_and_says_simulated(demo_run):
    page = (demo_run.out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and not re.search(r"https?://", page)
    assert "SIMULATED example data" in page
    assert "Not available: coding reliability" in page  # wide data, said so
    checks = json.loads((demo_run.out / "checks" / "checks.json").read_text())
    verdict = re.search(r'<div id="verdict"[^>]*>(.*?)</div>\s*<nav>', page, flags=re.S).group(1)
    assert checks["verdict"]["verdict"] in verdict
    assert page.count("data:image/png;base64,") == DEMO_IMAGES
    # the demo skips the dominance analysis: its section says so
    dominance = re.search(r'<section id="dominance-analysis">(.*?)</section>', page, flags=re.S).group(1)
    assert f"skipped: {checks['skipped']['dominance']}" in dominance
    # LOO was skipped (gates failed): the section says why instead of a bare "not available"
    loo = re.search(r'<section id="loo">(.*?)</section>', page, flags=re.S).group(1)
    assert checks["skipped"]["loo"] in loo.replace("&#39;", "'")


def test_demo_shows_every_figure_it_writes(demo_run):
    page = (demo_run.out / "report.html").read_text(encoding="utf-8")
    written = {p.stem for p in (demo_run.out / "checks").glob("*.png")}
    assert written and written == set(re.findall(r'data-figure="([^"]+)"', page))


def test_demo_report_sets_the_estimates_beside_the_simulated_truth(demo_run):
    truth = json.loads(example_data_path().with_suffix(".truth.json").read_text())
    summary = json.loads((demo_run.out / "summary.json").read_text())
    page = (demo_run.out / "report.html").read_text(encoding="utf-8")
    section = re.search(r'<section id="truth">(.*?)</section>', page, flags=re.S).group(1)
    rows = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>", section)]
    frame = pd.DataFrame(rows[1:], columns=rows[0]).set_index("quantity")
    numbers = ["simulated truth", "mean", "89% lower", "89% upper"]
    frame[numbers] = frame[numbers].astype(float)
    share = frame.loc["interpersonal share"]
    assert share["simulated truth"] == pytest.approx(truth["shares"]["side"]["interpersonal"],
                                                     abs=1e-3)
    assert share["89% lower"] <= share["mean"] <= share["89% upper"]
    for condition, effect in summary["effects"].items():
        row = frame.loc[f"effect of {condition}"]
        assert row["mean"] == pytest.approx(effect["per_sd"]["mean"], abs=1e-3)
        # the truth on the run's per-SD scale: per unit times the SD of the observed codes
        sd = effect["per_sd"]["mean"] / effect["per_unit"]["mean"]
        assert row["simulated truth"] == pytest.approx(
            truth["effects_per_unit"][condition] * sd, abs=1e-3)
        # ...close to the truth's own per-SD value (the SDs differ only by the missing codes)
        assert row["simulated truth"] == pytest.approx(truth["effects"][condition], rel=0.05)


def test_demo_refuses_to_overwrite(demo_run):
    before = (demo_run.out / "summary.json").read_text()
    result = invoke("demo", "--out", demo_run.out, *TINY, "--no-progress")
    assert result.exit_code == 2
    assert "exists already" in result.output and "--force" in result.output
    assert (demo_run.out / "summary.json").read_text() == before


def test_demo_report_in_chromium(demo_run, tmp_path):
    """The README's first command's report renders in a real browser with the verdict visible."""
    report = demo_run.out / "report.html"
    verdict_text = json.loads((demo_run.out / "checks" / "checks.json").read_text())["verdict"]["verdict"]
    with chromium_page(report) as opened:
        page = opened["page"]
        verdict = page.locator("#verdict")
        assert verdict.is_visible()
        assert verdict_text in verdict.inner_text()
        assert verdict.bounding_box()["y"] < 900  # in the first screen, no scrolling
        sizes = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(sizes) == DEMO_IMAGES and all(c and w > 0 and h > 0 for c, w, h in sizes), sizes
        assert page.locator("#ppc-groups img").count() == 3  # alliance, network, LOO-PIT
        for section in ("data", "model", "diagnostics", "effects", "shares", "provenance"):
            assert page.locator(f"#{section} table").count() > 0, section
        shot = tmp_path / "demo_report.png"
        page.screenshot(path=str(shot))  # the first screen: title, notice, verdict
        page.screenshot(path=str(tmp_path / "demo_report_full.png"), full_page=True)
    assert [f"{m.type}: {m.text}" for m in opened["console"] if m.type == "error"] == []
    assert opened["page_errors"] == [] and [r.url for r in opened["failed_requests"]] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("ALLIANCE_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / "demo_report.png")
        shutil.copy(tmp_path / "demo_report_full.png", Path(target) / "demo_report_full.png")


# -- report -------------------------------------------------------------------------------------


def test_report_renders_a_run_again_and_refuses_to_overwrite(demo_run, tmp_path):
    """Same run, same checks: the same page; an existing file is kept without --force."""
    out = tmp_path / "again.html"
    result = invoke("report", demo_run.out, "--out", out)
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output and out.is_file()
    first = (demo_run.out / "report.html").read_text(encoding="utf-8")
    again = out.read_text(encoding="utf-8")
    # same run, same checks: the same verdict and tables (the figures' PNG bytes may differ)
    strip = re.compile(r"data:image/png;base64,[^\"]*")
    assert strip.sub("", again) == strip.sub("", first)

    out.write_text("keep me")
    result = invoke("report", demo_run.out, "--out", out)
    assert result.exit_code == 2 and "--force" in result.output
    assert out.read_text() == "keep me"  # (--force replacing it: tests/reports/test_html.py)


def test_report_checks_a_run_without_checks(demo_run, tmp_path, cheap_checks):
    run_dir = tmp_path / "run"
    shutil.copytree(demo_run.out, run_dir, ignore=shutil.ignore_patterns("checks", "report.html"))
    result = invoke("report", run_dir)
    assert result.exit_code == 0, result.output
    assert [run.path for run in cheap_checks] == [run_dir]
    assert (run_dir / "checks" / "checks.json").is_file()
    assert "checks saved in" in result.output
    assert (run_dir / "report.html").is_file()


def test_report_of_a_missing_run_is_a_one_line_error(tmp_path):
    result = invoke("report", tmp_path / "nothing")
    assert result.exit_code == 2
    assert "no such run directory" in result.output


# -- run ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coded_sheet(tmp_path_factory) -> Path:
    """The example study coded by two raters (same structure as the example: no recompile)."""
    folder = tmp_path_factory.mktemp("coded")
    sim = simulate(Design(raters={"n": 2, "bias_sd": 0.2, "noise_sd": 0.4}), seed=1999)
    return save_simulation(sim, folder / "survey.csv")["coded"]


def test_run_on_a_coding_sheet_reports_reliability(coded_sheet, tmp_path, cheap_checks):
    config = tmp_path / "run.toml"  # the demo's model, the options' draws
    config.write_text('[model]\noutcome = "individual_learning"\nfamily = "ordinal"\n')
    out = tmp_path / "coded-run"
    result = invoke("run", coded_sheet, "--form", "coded", "--config", config, "--out", out, *TINY,
                    "--no-progress")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "reliability.csv", index_col=0)
    assert {"alpha", "units", "raters"} <= set(table.columns)
    assert (table["raters"] == 2).all()
    page = (out / "report.html").read_text(encoding="utf-8")
    data = re.search(r'<section id="data">(.*?)</section>', page, flags=re.S).group(1)
    assert "Not available: coding reliability" not in data
    for condition, alpha in table["alpha"].items():
        assert condition in data and f"{alpha:.4g}" in data
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["command"].startswith(f"alliance-learning run {coded_sheet} ")
    assert "--form coded" in summary["provenance"]["command"]
    assert summary["provenance"]["config"]["model"]["family"] == "ordinal"


def test_run_with_bad_data_lists_every_problem_and_writes_nothing(tmp_path):
    frame = pd.read_csv(example_data_path(), dtype=str)
    frame.loc[0, "personal_contact"] = "9"      # out of the 1-5 scale
    frame.loc[5, "individual_learning"] = "x"  # not a number
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "never"
    result = invoke("run", bad, "--out", out, *TINY)
    assert result.exit_code == 2
    assert f"{bad}:2" in result.output and f"{bad}:7" in result.output  # file:line of each
    assert "personal_contact" in result.output and "individual_learning" in result.output
    assert not out.exists()



# -- the run config: one place for the fit and run commands --------------------------------------


@pytest.fixture(scope="module")
def example_survey():
    from data import load_survey

    return load_survey(example_data_path())


def test_resolve_config_applies_the_options_over_the_config(example_survey):
    from models import SpecError

    config = resolve_config(example_survey, draws=10, seed=3)
    # the example's one individual-level outcome (collective_learning is at the alliance level)
    assert config.spec.outcome == "individual_learning"
    assert (config.sampling.draws, config.sampling.seed) == (10, 3)
    assert resolve_config(example_survey, config=DEMO_CONFIG, chains=2).sampling.draws == \
        DEMO_CONFIG.sampling.draws
    with pytest.raises(SpecError) as bad:
        resolve_config(example_survey, chains=0, draws=-1, source="survey.csv")
    assert bad.value.source == "options" and len(bad.value.problems) == 2  # every problem at once
    with pytest.raises(SpecError, match=r"^survey\.csv: outcome 'nope'"):
        resolve_config(example_survey, outcome="nope", source="survey.csv")


def test_fit_and_run_commands_share_resolve_config(monkeypatch, tmp_path):
    """Both commands build their run config in reports.pipeline.resolve_config (no sampling)."""
    import reports.pipeline
    from models import SpecError

    calls = []

    def refuse(survey, **options):
        calls.append(options)
        raise SpecError("resolve_config", ["stopped before sampling"])

    monkeypatch.setattr(reports.pipeline, "resolve_config", refuse)
    data = example_data_path()
    for command in (["fit", data, "--draws", "5", "--no-progress"], ["run", data, "--draws", "5"]):
        result = invoke(*command, "--out", tmp_path / command[0])
        assert result.exit_code == 2 and "resolve_config: stopped before sampling" in result.output
        assert not (tmp_path / command[0]).exists()
    assert [c["draws"] for c in calls] == [5, 5]
    assert calls[0]["source"] == calls[1]["source"] == str(data)  # errors name the data file
