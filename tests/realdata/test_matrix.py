"""Real-data matrix (issue 13): five public datasets of other shapes, end to end.

Each dataset (``datasets.py``, codebooks in ``codebooks/``, run configs in ``configs/``)
goes through ``alliance-learning run`` with few draws to a report, which headless
Chromium must render with no console errors; its fixed effects per raw unit are compared
with maximum-likelihood fits in R (``references.py``, with their sources) within
``TOLERANCE`` posterior SDs.

| dataset       | family    | levels                         | sides     |
|---------------|-----------|--------------------------------|-----------|
| wine          | ordinal   | rating, judge (rater)          | one       |
| exam          | gaussian  | pupil, school                  | two       |
| contraception | bernoulli | woman, district                | one       |
| cbpp          | binomial  | herd-period, herd              | one       |
| insteval      | ordinal   | rating, student x lecturer     | two       |

Text factors (temp, contact, sex, use, urban) stay text in the files and are mapped by
the codebooks' ``codes``.

Each dataset is fitted once per module (``realdata_run``); a failing step is recorded in
the result, not raised, so that every test of the dataset reports on its own part. A test
that fails today because of a known toolkit bug is marked ``xfail(strict=True)`` with the
bug in its reason (``KNOWN_BUGS``): it turns into a failure as soon as the bug is fixed,
and the mark is then removed.

Cost: 2 chains x 300 draws (wine and exam 1000) after 300 tuning steps, no dominance
analysis (its sub-model fits would multiply the time; it has its own tests, and
``tests/benchmarks/realdata.py`` runs it on the full-size data). With so few draws the
diagnostic gates fail, so the verdict is "not trustworthy" and LOO is skipped: these tests
check that every shape runs and renders and that the estimates are right, not the verdict.
About 4 minutes on two cores shared with other jobs, most of it compiling five models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reports.cli import app

from ..reports.test_browser import chromium_page
from .datasets import CODEBOOKS, HERE, prepare
from .references import CITATIONS, REFERENCES

NAMES = ("wine", "exam", "contraception", "cbpp", "insteval")
SAMPLING = ("--chains", "2", "--tune", "300", "--seed", "1")
# Kept draws per chain. wine's 72 ratings give a skewed posterior whose mean sits
# 0.09-0.15 SD above the ML estimate of `temp` (2 x 1500 draws, seeds 1 and 2), and exam's
# school-level effects mix slowly (bulk ESS about 80 from 2 x 300 draws; boys_school was
# then 0.19 SD off, but within 0.05 SD with 2 x 1500 draws on seeds 1 and 2): 1000 draws
# keep the Monte Carlo error (about 0.05-0.07 SD) from pushing them past TOLERANCE.
DRAWS = {"wine": 1000, "exam": 1000}
DEFAULT_DRAWS = 300
# Posterior mean vs the ML estimate, in posterior SDs (the bound). With wide
# priors the models coincide up to the group-SD prior and the Laplace approximation; the
# Monte Carlo error of a mean of 200-300 effective draws is 0.06-0.07 SD.
TOLERANCE = 0.2

# (test, dataset) -> the bug that makes it fail today (strict xfail); none left: the one-sided
# surveys (wine, contraception, cbpp) get the verdict "not applicable" and a report, and a
# part that fails or yields NaN is recorded in the checks' errors and shown.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _cases(test: str):
    out = []
    for name in NAMES:
        bug = KNOWN_BUGS.get((test, name))
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@dataclass
class RealRun:
    name: str
    out: Path
    exit_code: int
    output: str
    exception: BaseException | None

    def describe(self) -> str:
        return f"{self.name}: exit {self.exit_code}\n{self.output[-3000:]}\n{self.exception!r}"


@pytest.fixture(scope="module")
def realdata_run(tmp_path_factory):
    """Run dataset ``name`` through the CLI once per module; returns a :class:`RealRun`."""
    cache: dict[str, RealRun] = {}
    root = tmp_path_factory.mktemp("realdata")

    def get(name: str) -> RealRun:
        if name not in cache:
            data = root / f"{name}.csv"
            prepare(name).to_csv(data, index=False)
            out = root / name
            result = CliRunner().invoke(app, [
                "run", str(data), "--out", str(out),
                "--codebook", str(CODEBOOKS / f"{name}.toml"),
                "--config", str(HERE / "configs" / f"{name}.toml"),
                *SAMPLING, "--draws", str(DRAWS.get(name, DEFAULT_DRAWS)),
                "--no-dominance", "--no-progress"])
            cache[name] = RealRun(name, out, result.exit_code, result.output, result.exception)
        return cache[name]

    return get


@pytest.mark.parametrize("name", _cases("end_to_end"))
def test_runs_end_to_end(realdata_run, name):
    run = realdata_run(name)
    assert run.exit_code == 0, run.describe()
    assert "Traceback" not in run.output
    for part in ("summary.json", "checks/checks.json", "report.html"):
        assert (run.out / part).is_file(), part
    assert "verdict:" in run.output


@pytest.mark.parametrize("name", _cases("browser"))
def test_report_renders_in_chromium(realdata_run, name):
    run = realdata_run(name)
    report = run.out / "report.html"
    assert report.is_file(), run.describe()
    with chromium_page(report) as opened:
        errors = [f"{m.type}: {m.text}" for m in opened["console"] if m.type == "error"]
        assert errors == []
        assert opened["page_errors"] == []
        assert [r.url for r in opened["failed_requests"]] == []
        page = opened["page"]
        assert page.locator("#verdict").is_visible()
        sizes = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert sizes and all(c and w > 0 and h > 0 for c, w, h in sizes), sizes


@pytest.mark.parametrize("name", _cases("estimates"))
def test_fixed_effects_match_published_fits(realdata_run, name):
    """Posterior means per raw unit within TOLERANCE posterior SDs of the ML estimates."""
    run = realdata_run(name)
    summary_file = run.out / "summary.json"
    assert summary_file.is_file(), run.describe()  # the fit step wrote its summary
    effects = json.loads(summary_file.read_text())["effects"]
    far = {}
    for condition, (estimate, se) in REFERENCES[name]["small"].items():
        posterior = effects[condition]["per_unit"]
        z = (posterior["mean"] - estimate) / posterior["sd"]
        # shown with pytest -rP: the figures behind the verdict of this test
        print(f"{name} {condition}: posterior {posterior['mean']:.4f} (sd {posterior['sd']:.4f}), "
              f"reference {estimate:.4f} (se {se:.4f}), difference {z:+.2f} sd")
        if abs(z) > TOLERANCE:
            far[condition] = (posterior["mean"], posterior["sd"], estimate, se, round(z, 2))
    assert far == {}, f"{name} vs {CITATIONS[name]}: (mean, sd, reference, se, z) {far}"
