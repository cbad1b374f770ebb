"""``alliance-learning power``: end to end, killed and resumed, on a pool and on Dask, and its errors.

The design is tiny (a few dozen respondents, fixed sizes, no missing codes: one compilation
per design point) and the fits short (2 chains x 100 draws), so most verdicts are "not
trustworthy"; the tests check the machinery, not the power of a real design. The local
pool (which forks this process) runs before the Dask cluster's threads start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reports.cli import app

runner = CliRunner()
TINY_DESIGN = """
alliances = 6
organisations = [2, 2]
networks = [2, 2]
people = [4, 4]
respondents_per_organisation = [2, 2]
conditions = ["personal_contact", "shared_interests", "receptivity", "expected_payoff"]
interpersonal_share = 0.8
explained_variance = 2.0
group_sd = { network = 0.3, organisation = 0.3, alliance = 0.3 }
alliance_outcome = ""
missing_rate = 0.0
"""
SMALL = ["--alliances", "6,10", "--sims", "2", "--chains", "2", "--draws", "100", "--tune", "100",
         "--seed", "5"]


def power(*args):
    result = runner.invoke(app, ["power", *map(str, args)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="module")
def design(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("design") / "tiny.toml"
    path.write_text(TINY_DESIGN)
    return path


@pytest.fixture(scope="module")
def reference(design, tmp_path_factory) -> Path:
    """The small study run once, in this process, from start to end."""
    out = tmp_path_factory.mktemp("reference") / "study"
    result = power("--design", design, "--out", out, "--workers", 1, *SMALL)
    assert result.exit_code == 0, result.output
    return out


def test_power_writes_the_table_the_figure_and_the_page(reference):
    for name in ("power.csv", "power.png", "power.html", "power.json"):
        assert (reference / name).is_file(), name
    assert len(list((reference / "simulations").glob("*.json"))) == 4
    header = (reference / "power.csv").read_text().splitlines()[0].split(",")
    for column in ("alliances", "sims", "p_correct", "p_correct_lower", "p_correct_upper",
                   "p_wrong_side", "p_not_trustworthy", "p_inconclusive", "width_mean"):
        assert column in header
    page = (reference / "power.html").read_text()
    assert 'id="answer"' in page and 'id="power-table"' in page and "data:image/png;base64," in page
    assert "<script" not in page and "What would it take" in page


def test_rerun_fits_nothing_and_a_pool_gives_the_same_table(reference, design, tmp_path):
    again = power("--design", design, "--out", reference, "--workers", 1, *SMALL)
    assert again.exit_code == 0, again.output
    assert "4 simulation(s) stored" in again.output and "0 to fit" in again.output
    assert "what would it take:" in again.output and "correct decisive verdict" in again.output
    pooled = power("--design", design, "--out", tmp_path / "pool", "--workers", 2, "--no-progress", *SMALL)
    assert pooled.exit_code == 0, pooled.output
    assert (tmp_path / "pool" / "power.csv").read_bytes() == (reference / "power.csv").read_bytes()


def test_killed_run_resumes_with_the_same_table(reference, design, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-c", "from reports.cli import app; app()", "power", "--design",
               str(design), "--out", str(out), "--workers", "1", "--no-progress", *SMALL]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(list((out / "simulations").glob("*.json"))) < 2:
            assert process.poll() is None, "the study ended before it could be killed"
            assert time.monotonic() < deadline, "no simulation stored in time"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    stored = len(list((out / "simulations").glob("*.json")))
    assert 2 <= stored < 4 and not (out / "power.csv").exists()
    resumed = power("--design", design, "--out", out, "--workers", 1, *SMALL)
    assert resumed.exit_code == 0, resumed.output
    assert f"{stored} simulation(s) stored" in resumed.output
    assert f"{4 - stored} simulation(s) fitted, {stored} reused" in resumed.output
    assert (out / "power.csv").read_bytes() == (reference / "power.csv").read_bytes()


def test_usage_errors_are_one_line_and_touch_nothing(design, tmp_path):
    bad = power("--design", design, "--out", tmp_path / "a", "--alliances", "6,ten")
    assert bad.exit_code == 2 and "--alliances must be whole numbers" in bad.output
    assert not (tmp_path / "a").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = power("--design", design, "--out", foreign, *SMALL)
    assert refused.exit_code == 2 and "not a power study's folder" in refused.output
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    one_sided = tmp_path / "one_sided.toml"
    one_sided.write_text(TINY_DESIGN.replace(', "receptivity", "expected_payoff"', ""))
    result = power("--design", one_sided, "--out", tmp_path / "b", *SMALL)
    assert result.exit_code == 2 and "no interorganisational condition" in result.output


@pytest.fixture(scope="module")
def scheduler():
    """A Dask LocalCluster on loopback; its one worker runs in this process (its compilations)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_a_dask_cluster_gives_the_local_pools_table(reference, design, scheduler, tmp_path):
    result = power("--design", design, "--out", tmp_path / "dask", "--scheduler", scheduler, *SMALL)
    assert result.exit_code == 0, result.output
    assert "4 simulation(s) fitted, 0 reused" in result.output
    assert (tmp_path / "dask" / "power.csv").read_bytes() == (reference / "power.csv").read_bytes()


def test_a_scheduler_that_does_not_answer_is_named_before_any_work(design, tmp_path):
    result = power("--design", design, "--out", tmp_path / "x", "--scheduler", "tcp://127.0.0.1:9", *SMALL)
    assert result.exit_code == 2 and "--scheduler tcp://127.0.0.1:9" in result.output
    assert not (tmp_path / "x").exists()
