"""The dominance analysis through `check --scheduler` on a Dask LocalCluster (loopback) equals
the local pool's: same seeds, same sub-model draws, identical numbers.

The run is the tiny survey and spec of test_checks.py (the model compiles once per session);
the cluster's one worker runs in this process (``processes=False``), so it reuses that
compilation. The local pool runs first: it forks this process, which is best done before
the cluster's threads start.
"""

from __future__ import annotations

import functools
import json

import pytest
from typer.testing import CliRunner

from analysis import dominance_analysis

from .test_checks import LENIENT, make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory, "dask", chains=2, draws=60, tune=80, seed=7)


@pytest.fixture(scope="module")
def pooled(run):
    return dominance_analysis(run, workers=2, gates=LENIENT)


@pytest.fixture(scope="module")
def scheduler(pooled):  # after the pool: see the module docstring
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_check_with_a_scheduler_gives_the_local_pools_dominance_analysis(run, pooled, scheduler,
                                                                         monkeypatch):
    import analysis
    from reports.cli import app

    monkeypatch.setattr(analysis, "check_run", functools.partial(analysis.check_run, gates=LENIENT))
    result = CliRunner().invoke(app, ["check", str(run.path), "--scheduler", scheduler,
                                      "--no-loo", "--no-sensitivity"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run.path / "checks" / "checks.json").read_text())["dominance"]
    expected = json.loads(json.dumps(pooled.to_dict(), allow_nan=True))
    for key in ("r2", "general", "conditional", "p_complete", "p_conditional", "p_general", "ranking"):
        assert saved[key] == expected[key], key
    # the same seed and the same sampler statistics for every sub-model
    for label, entry in pooled.submodels.items():
        assert saved["submodels"][label]["seed"] == entry["seed"]
        assert saved["submodels"][label]["diagnostics"] == json.loads(json.dumps(entry["diagnostics"]))

