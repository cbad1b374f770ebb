"""Fault injection: the toolkit never loses a user's files and never answers with a traceback.

Output locations (``--force``, unwritable ``--out``, folders given as files), damaged run
directories, permissions and CSV formula cells, and interrupted commands (SIGTERM, SIGINT,
``kill -9`` of ``check`` while its sub-model workers run, checked with real subprocesses).
Messy input files are tested with the data loader (tests/data).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from data.files import (
    MARKER,
    LocationError,
    atomic_dir,
    atomic_write,
    check_output_dir,
    neutralise,
    restore,
    write_csv,
)
from models import RunError, load_run
from reports.cli import app
from reports.context import load_reliability, save_reliability

from ..analysis.test_checks import make_run

runner = CliRunner()
LINUX = sys.platform.startswith("linux")


def invoke(*args, cwd: Path | None = None):
    """Run the CLI in this process; it must answer without a traceback."""
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = runner.invoke(app, [str(a) for a in args])
    finally:
        os.chdir(old)
    assert "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        result.exception
    return result


def one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path):
    """A user's folder holding the survey and other files of theirs."""
    folder = tmp_path / "proj"
    folder.mkdir()
    shutil.copy(Path(__file__).parents[2] / "data" / "example" / "survey.csv", folder / "survey.csv")
    (folder / "notes.txt").write_text("mine")
    return folder


# -- the atomic writer ----------------------------------------------------------------------------
def test_files_and_folders_get_the_usual_permissions_under_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "run") as staging:
            (staging / "f").write_text("y")
        os.umask(0o077)
        atomic_write(tmp_path / "private.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "run" / MARKER).is_file()
    assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "private.txt", "run"]


def test_a_failed_folder_write_leaves_the_old_one_and_no_temporary(tmp_path):
    with atomic_dir(tmp_path / "run") as staging:
        (staging / "f").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "run", replace=True) as staging:
        (staging / "f").write_text("new")
        raise RuntimeError("interrupted")
    assert (tmp_path / "run" / "f").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_killed_writers_leftovers_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f".run.{dead}.abcd.tmp").mkdir()
    (tmp_path / f".run.{os.getpid()}.ef01.tmp").mkdir()  # a live process's: kept
    with atomic_dir(tmp_path / "run") as staging:
        (staging / "f").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".run.{os.getpid()}.ef01.tmp", "run"]


def test_a_foreign_folder_is_never_replaced(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("years of work")
    with pytest.raises(LocationError, match="not a folder this toolkit wrote"):
        with atomic_dir(tmp_path / "mine", replace=True) as staging:
            (staging / "f").write_text("x")
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "years of work"


# -- CSV formula cells ---------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1+2", "-cmd", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised_and_restored(cell):
    assert neutralise(cell) == "'" + cell
    assert restore(neutralise(cell)) == cell


@pytest.mark.parametrize("cell", ["-0.5", "+3", "-1e-3", "plain", "", 5, -0.5, None])
def test_numbers_and_plain_text_are_kept(cell):
    assert neutralise(cell) == cell


def test_reliability_csv_neutralises_a_condition_named_like_a_formula(tmp_path):
    table = pd.DataFrame({"alpha": [0.8, -0.5], "note": ["=cmd|' /C calc'!A0", ""]},
                         index=pd.Index(["=evil", "trust"], name="condition"))
    path = save_reliability(table, tmp_path)
    text = path.read_text()
    assert "'=evil" in text and "'=cmd" in text and "\n=" not in text and ",=" not in text
    assert ",-0.5" in text  # a number stays a number
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    back = load_reliability(tmp_path)
    assert list(back.index) == ["=evil", "trust"]
    assert back["alpha"].tolist() == [0.8, -0.5]


def test_write_csv_keeps_numeric_columns_numeric(tmp_path):
    frame = pd.DataFrame({"id": ["=1+1", "R2"], "x": [-0.5, 2.0], "n": [-1, 3]})
    write_csv(tmp_path / "t.csv", frame)
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["id"].tolist() == ["'=1+1", "R2"]
    np.testing.assert_array_equal(back["x"], [-0.5, 2.0])
    np.testing.assert_array_equal(back["n"], [-1, 3])


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- output locations, checked before any work ---------------------------------------------------
def test_force_never_deletes_the_folder_holding_the_input(project):
    result = invoke("fit", project / "survey.csv", "--out", project, "--force")
    one_line_error(result, "--out", "holds the input file")
    assert sorted(p.name for p in project.iterdir()) == ["notes.txt", "survey.csv"]


def test_force_never_deletes_a_folder_with_other_files(project, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("keep")
    for command in (["fit", project / "survey.csv"], ["run", project / "survey.csv"], ["demo"]):
        result = invoke(*command, "--out", other, "--force")
        one_line_error(result, "--out", "only a folder written by alliance-learning")
        assert (other / "keep.txt").read_text() == "keep"


def test_force_replaces_a_run_directory_written_before_the_marker(saved_run, tmp_path):
    from models.run import check_run_target

    old = tmp_path / "old"
    shutil.copytree(saved_run.path, old)
    (old / MARKER).unlink()
    (old / "checks" / MARKER).unlink()
    assert check_run_target(old, force=True) == old
    (old / "mine.txt").write_text("keep")
    with pytest.raises(LocationError, match="holds other files"):
        check_run_target(old, force=True)


def test_force_never_replaces_the_working_folder(project):
    (project / MARKER).write_text("")  # even one that looks like a run directory
    result = invoke("fit", "survey.csv", "--out", ".", "--force", cwd=project)
    one_line_error(result, "--out", "working folder")
    assert (project / "notes.txt").exists()


@pytest.mark.parametrize("out, needle", [("/proc/x", "system folder"), ("afile/run", "is a file"),
                                         ("afile", "is a file, not a folder")])
def test_an_unusable_out_is_refused_before_any_work(project, out, needle):
    (project / "afile").write_text("")
    started = time.perf_counter()
    result = invoke("fit", "survey.csv", "--out", out, cwd=project)
    one_line_error(result, "--out", needle)
    assert time.perf_counter() - started < 20  # refused before reading or sampling


# every command that takes --out: its arguments, with the output named OUT (a file's name
# is appended where the output is a file)
OUT_COMMANDS = {
    "fit": ["fit", "survey.csv", "--out", "OUT"],
    "run": ["run", "survey.csv", "--out", "OUT"],
    "demo": ["demo", "--out", "OUT"],
    "power": ["power", "--out", "OUT", "--alliances", "5", "--sims", "1"],
    "simulate": ["simulate", "--seed", "1", "--out", "OUT/survey.csv"],
    "report": ["report", "RUN", "--out", "OUT/report.html"],
}


@pytest.mark.parametrize("command", list(OUT_COMMANDS))
@pytest.mark.parametrize("out, needle", [("afile/new", "afile is a file, not a folder"),
                                         ("/proc/x", "system folder")])
def test_every_command_refuses_an_unusable_out_before_any_work(project, request, command, out,
                                                               needle):
    (project / "afile").write_text("mine")
    run = request.getfixturevalue("saved_run").path if command == "report" else None
    args = [str(run) if a == "RUN" else a.replace("OUT", out) for a in OUT_COMMANDS[command]]
    started = time.perf_counter()
    one_line_error(invoke(*args, cwd=project), "--out", needle)
    assert time.perf_counter() - started < 20  # refused before simulating, sampling or checking
    assert (project / "afile").read_text() == "mine"


def test_missing_parent_folders_of_out_are_created(project, saved_run):
    """As README says: every --out's missing parents are made (mkdir -p), not refused."""
    from analysis.power import open_study_dir
    from data.files import atomic_dir

    result = invoke(*[a.replace("OUT", "new/deeper") for a in OUT_COMMANDS["simulate"]], cwd=project)
    assert result.exit_code == 0, result.output
    assert (project / "new" / "deeper" / "survey.csv").is_file()
    result = invoke("report", saved_run.path, "--out", project / "pages" / "a" / "report.html")
    assert result.exit_code == 0, result.output
    assert (project / "pages" / "a" / "report.html").is_file()
    # fit, run and demo write their run directory with atomic_dir, power its study folder
    with atomic_dir(project / "runs" / "a" / "r1") as staging:
        (staging / "x").write_text("")
    assert (project / "runs" / "a" / "r1" / "x").is_file()
    assert open_study_dir(project / "studies" / "a" / "s1").is_dir()
    assert check_output_dir(project / "more" / "a" / "r1") == project / "more" / "a" / "r1"


def test_an_unwritable_out_is_refused_before_any_work(project):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = project / "locked"
    locked.mkdir(mode=0o555)
    one_line_error(invoke("fit", "survey.csv", "--out", "locked/run", cwd=project), "--out", "not writable")


@pytest.mark.parametrize("option", ["--codebook", "--config"])
def test_a_folder_given_as_an_input_file_is_one_line(project, option):
    result = invoke("fit", "survey.csv", "--out", "r", option, ".", cwd=project)
    one_line_error(result, option, "is a folder")
    assert not (project / "r").exists()


def test_a_folder_given_as_the_simulated_file_is_one_line(tmp_path):
    (tmp_path / "sim.csv").mkdir()
    for extra in ([], ["--force"]):
        result = invoke("simulate", "--seed", 1, "--out", tmp_path / "sim.csv", *extra)
        one_line_error(result, "--out", "is a folder")


def test_check_output_dir_names_the_option(tmp_path):
    with pytest.raises(LocationError, match=r"^--run-dir .*/proc"):
        check_output_dir("/proc/x", option="--run-dir")
    with pytest.raises(LocationError, match="empty path"):
        check_output_dir("")
    assert check_output_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"  # parents made later


# -- damaged run directories -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A tiny real run (the compiled model is shared with tests/analysis) with its checks."""
    from analysis import check_run, save_checks

    from ..analysis.test_checks import LENIENT

    run = make_run(tmp_path_factory, "faults", chains=2, draws=100, tune=150, seed=3)
    save_checks(check_run(run, gates=LENIENT, dominance=False, loo=False, sensitivity=False),
                run.path, figures=False)
    return run


@pytest.fixture
def damaged(saved_run, tmp_path):
    """A fresh copy of the run to damage."""
    copy = tmp_path / "run"
    shutil.copytree(saved_run.path, copy)
    return copy


def test_run_directories_are_readable_by_others(saved_run):
    path = saved_run.path
    assert path.stat().st_mode & 0o777 == 0o777 & ~_umask()
    assert (path / "checks").stat().st_mode & 0o777 == 0o777 & ~_umask()
    for name in ("summary.json", "posterior.nc", "checks/checks.json"):
        assert (path / name).stat().st_mode & 0o777 == 0o666 & ~_umask(), name
    assert (path / MARKER).is_file() and (path / "checks" / MARKER).is_file()


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


DAMAGE = {
    "truncated posterior": ("posterior.nc", _truncate),
    "missing posterior": ("posterior.nc", Path.unlink),
    "summary holding a list": ("summary.json", lambda p: p.write_text("[1, 2]")),
    "summary not JSON": ("summary.json", lambda p: p.write_text("{not json")),
    "summary without effects": ("summary.json", lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "effects": [1]}))),
    "config garbage": ("config.toml", lambda p: p.write_text("[model\nx=")),
    "data not parquet": ("data.parquet", lambda p: p.write_text("a,b\n1,2\n")),
    "edited data": ("data.parquet", lambda p: _edit_data(p)),
}


def _edit_data(path: Path) -> None:
    frame = pd.read_parquet(path)
    row = frame.index[frame["contact"].notna()][0]
    frame.loc[row, "contact"] = 6 - frame.loc[row, "contact"]
    frame.to_parquet(path, index=False)


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_run_is_one_line_naming_the_file(damaged, case):
    name, damage = DAMAGE[case]
    damage(damaged / name)
    with pytest.raises(RunError, match=name.replace(".", r"\.")):
        load_run(damaged)
    for command in (["check", damaged, "--force"], ["report", damaged, "--force"]):
        line = one_line_error(invoke(*command), name)
        assert "--force" in line  # says what to do


CHECKS_DAMAGE = {
    "empty object": "{}",
    "a list": "[]",
    "not JSON": "{\"verdict\": ",
    "verdict not an object": json.dumps({"verdict": "inconclusive", "settings": {}, "diagnostics": {}}),
}


@pytest.mark.parametrize("case", list(CHECKS_DAMAGE))
def test_damaged_checks_are_one_line_and_no_report_is_written(damaged, case):
    (damaged / "report.html").unlink(missing_ok=True)
    (damaged / "checks" / "checks.json").write_text(CHECKS_DAMAGE[case])
    line = one_line_error(invoke("report", damaged), "checks.json")
    assert "alliance-learning check" in line
    assert not (damaged / "report.html").exists()


def test_report_out_may_not_be_a_folder(damaged, tmp_path):
    (tmp_path / "page").mkdir()
    one_line_error(invoke("report", damaged, "--out", tmp_path / "page"), "--out", "is a folder")
    one_line_error(invoke("report", damaged, "--out", tmp_path / "page", "--force"), "--out", "is a folder")


# -- interrupted commands: real processes -----------------------------------------------------------
# The child runs `check` with a gate the tiny fit passes, so that the dominance sub-models
# are fitted (the default gates refuse them for a 100-draw fit); everything else is the CLI.
CHILD = """
import functools, sys
import analysis
from tests.analysis.test_checks import LENIENT
analysis.check_run = functools.partial(analysis.check_run, gates=LENIENT)
from reports.cli import app
sys.argv = ["alliance-learning", *sys.argv[1:]]
app()
"""


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_check(run_dir: Path, log: Path) -> tuple[subprocess.Popen, list[int]]:
    """Start `check --workers 2` on a run and return it once both sub-model workers run.

    Its output goes to files, not pipes: a worker left behind would hold a pipe open and
    hang the test instead of failing it.
    """
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD, "check", str(run_dir), "--workers", "2", "--no-loo",
             "--no-sensitivity"], cwd=Path(__file__).parents[2], stdout=out, stderr=err)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        workers = _children(process.pid)
        if len(workers) >= 2:
            time.sleep(1.0)  # let them start fitting
            return process, workers
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    process.wait()
    pytest.fail(f"check never started its workers:\n{log.with_suffix('.err').read_text()}")


def _assert_gone(pids: list[int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.2)
    alive = [p for p in pids if _running(p)]
    for pid in alive:  # do not leave them behind if the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"worker(s) {alive} outlived their parent"


@pytest.mark.skipif(not LINUX, reason="reads the process table in /proc")
def test_kill_9_of_check_leaves_no_worker_and_no_valid_checks(damaged):
    shutil.rmtree(damaged / "checks")
    process, workers = _start_check(damaged, damaged.parent / "check")
    process.kill()  # SIGKILL: no handler runs
    process.wait()
    _assert_gone(workers)
    assert not (damaged / "checks").exists()
    # what a later command reads: no checks, so `report` checks the run again
    from reports.context import load_checks_json
    assert load_checks_json(damaged) is None


@pytest.mark.skipif(not LINUX, reason="reads the process table in /proc")
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143)])  # SIGINT: in-process test below
def test_sigterm_ends_check_with_one_line(damaged, signum, code):
    shutil.rmtree(damaged / "checks")
    log = damaged.parent / "check"
    process, workers = _start_check(damaged, log)
    process.send_signal(signum)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("check did not stop on the signal")
    _assert_gone(workers)
    out, err = log.with_suffix(".out").read_text(), log.with_suffix(".err").read_text()
    assert process.returncode == code, err
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("WARNING", "INFO"))]
    assert lines == [f"interrupted ({signal.Signals(signum).name}): stopped; nothing half-written was kept"]
    assert sorted(p.name for p in damaged.iterdir() if p.name.startswith(".")) == [MARKER]
    assert not (damaged / "checks").exists()


def test_interrupted_command_in_process_exits_130(monkeypatch, project):
    """Ctrl-C while the data are read (no subprocess): one line, exit 130, nothing written."""
    import data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "load_survey", interrupted)
    result = runner.invoke(app, ["fit", str(project / "survey.csv"), "--out", str(project / "r")])
    assert result.exit_code == 130, result.output
    assert "interrupted (SIGINT)" in result.output
    assert not (project / "r").exists()

