"""The `alliance-learning fit` command: one-line errors and a small real run."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from reports.cli import app

from .conftest import CODEBOOK, make_wide

CONFIGS = Path(__file__).parent / "configs"
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "codebook.toml").write_text(tomli_w.dumps(CODEBOOK))
    make_wide().to_csv(folder / "tiny.csv", index=False)
    constant = make_wide().assign(learned=1)
    constant.to_csv(folder / "constant.csv", index=False)
    return folder


def _fit(files, *args, data="tiny.csv"):
    return runner.invoke(app, ["fit", str(files / data), "--codebook", str(files / "codebook.toml"),
                               "--no-progress", *args])


def _one_line_error(result, expected):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:") and expected in lines[0], result.output


def test_unknown_condition_in_config(files, tmp_path):
    result = _fit(files, "--config", str(CONFIGS / "unknown_condition.toml"), "--out", str(tmp_path / "r"))
    _one_line_error(result, "unknown condition 'trust'")
    assert not (tmp_path / "r").exists()


def test_family_not_fitting_the_outcome(files, tmp_path):
    result = _fit(files, "--outcome", "learning", "--family", "bernoulli", "--out", str(tmp_path / "r"))
    _one_line_error(result, "family 'bernoulli' does not fit outcome 'learning'")


def test_single_category_outcome(files, tmp_path):
    result = _fit(files, "--outcome", "learned", "--out", str(tmp_path / "r"), data="constant.csv")
    _one_line_error(result, "'learned' has a single observed category")


def test_existing_run_directory(files, tmp_path):
    (tmp_path / "r").mkdir()
    result = _fit(files, "--outcome", "learned", "--out", str(tmp_path / "r"))
    _one_line_error(result, "exists already")


def test_outcome_must_be_chosen_when_there_are_several(files, tmp_path):
    result = _fit(files, "--out", str(tmp_path / "r"))
    _one_line_error(result, "choose the outcome with --outcome")


def test_fit_writes_a_run(files, tmp_path, fits):
    fits("bernoulli")  # same model as the config: the command reuses that compilation
    out = tmp_path / "run"
    result = _fit(files, "--config", str(CONFIGS / "minimal_bernoulli.toml"), "--draws", "60", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "run written to" in result.output
    from models import load_run

    run = load_run(out)
    assert run.config.sampling.draws == 60  # the flag overrides the config
    assert run.config.sampling.seed == 3
    assert run.summary["provenance"]["command"].startswith("alliance-learning")
    assert set(run.summary["effects"]) == {"contact", "group_size"}
    # no 0/1 condition here: every row is per SD, its numbers whole in CliRunner's 80 columns
    assert "per SD of each condition" in result.output and "0→1" not in result.output
    for effect in run.summary["effects"].values():
        assert all(f"{effect['per_sd'][k]:.3f}" in result.output for k in ("mean", "sd", "lower", "upper"))


def test_effects_printout_gives_a_binary_condition_its_0_to_1_contrast():
    from rich.console import Console

    from reports.cli import _effects_table

    def stats(mean):
        return {"mean": mean, "sd": 0.1, "lower": mean - 0.2, "upper": mean + 0.2}

    summary = {"interval": "89% equal-tailed interval (lower to upper)", "effects": {
        "contact": {"level": "individual", "side": "interpersonal", "binary": False,
                    "per_sd": stats(0.321), "per_unit": stats(0.654)},
        "member": {"level": "organisation", "side": "interorganisational", "binary": True,
                   "per_sd": stats(0.222), "per_unit": stats(0.444)},
        "older": {"level": "network", "side": "interorganisational",  # a run from before the field
                  "per_sd": stats(0.111), "per_unit": stats(0.555)}}}
    console = Console(width=200, record=True)
    console.print(_effects_table(summary, "learning", "ordinal"))
    text = console.export_text()
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.split() and line.split()[0] in summary["effects"]}
    assert rows["contact"][3:5] == ["SD", "0.321"]
    assert rows["member"][3:5] == ["0→1", "0.444"]  # per_unit, the 0 -> 1 contrast
    assert "0.222" not in rows["member"]
    assert rows["older"][3:5] == ["SD", "0.111"]
    assert "0 → 1 of a binary one" in text


def test_backend_help_names_the_jax_extra():
    # rich markup would read "[jax]" as a tag and print "pip install 'alliance-learning'"
    result = runner.invoke(app, ["fit", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "pip install 'alliance-learning[jax]'" in result.output


def test_lasting_imports_freeze_only_in_the_console_process(monkeypatch):
    """reports.cli._lasting_imports: garbage collected first, the collector paused inside and
    the objects frozen after, only where `entry_point` runs the command as its process's only
    job; on again after an error too."""
    import gc
    import weakref

    from reports import cli

    frozen = gc.get_freeze_count()
    with cli._lasting_imports():  # app() called in this (test) process: nothing changes
        assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    monkeypatch.setattr(cli, "_WHOLE_PROCESS", True)

    class Node:
        pass

    garbage = Node()
    garbage.itself = garbage  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    try:
        gc.disable()  # no collection of its own before the block
        del garbage
        with pytest.raises(RuntimeError), cli._lasting_imports():
            assert gone() is None  # collected before the freeze, not frozen alive
            assert not gc.isenabled()
            kept = [[]]  # noqa: F841  (a new tracked object, frozen on the way out)
            raise RuntimeError("while importing")
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()  # back as the test session had it
        gc.enable()


def test_console_script_writes_the_same_run(files, tmp_path, fits):
    """The `alliance-learning` console script (entry_point: collector paused while importing,
    imports frozen) writes the draws that `app` called in process writes."""
    import subprocess
    import sys

    import xarray as xr

    fits("bernoulli")  # the model compiled and cached on disk: the subprocess loads it
    args = ["fit", str(files / "tiny.csv"), "--codebook", str(files / "codebook.toml"), "--no-progress",
            "--config", str(CONFIGS / "minimal_bernoulli.toml"), "--draws", "60"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "in_process")]).exit_code == 0
    script = "import sys; from reports.cli import entry_point; sys.argv[0] = 'alliance-learning'; entry_point()"
    done = subprocess.run([sys.executable, "-c", script, *args, "--out", str(tmp_path / "script")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run written to" in done.stdout
    for group in ("posterior", "sample_stats", "posterior_predictive", "prior"):
        with (xr.open_dataset(tmp_path / "in_process" / "posterior.nc", group=group, engine="h5netcdf") as a,
              xr.open_dataset(tmp_path / "script" / "posterior.nc", group=group, engine="h5netcdf") as b):
            xr.testing.assert_equal(a.load(), b.load())
