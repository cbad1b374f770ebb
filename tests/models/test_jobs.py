"""The executor seam (models.jobs): the local pool's workers, a Dask cluster, same draws everywhere.

The fits use the tiny survey and spec of tests/analysis/test_checks.py (same structure), so in
one pytest session the model is compiled once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import time
from concurrent.futures import wait
from pathlib import Path

import numpy as np
import pytest

from models import ModelSpec, check_spec, jobs
from models.jobs import FitJob, InlineExecutor, open_executor, run_fit

from .conftest import make_survey

LINUX = sys.platform.startswith("linux")


def _probe() -> dict:
    """What a pool worker knows about itself."""
    out = {"pid": os.getpid(), "parent": os.getppid(),
           "sigint_ignored": signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
           "cores": jobs.worker_cores()}
    if LINUX:
        value = ctypes.c_int(0)
        ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)  # PR_GET_PDEATHSIG
        out["death_signal"] = value.value
    return out


def _fail():
    raise RuntimeError("a failed job")


def test_one_worker_runs_the_jobs_in_this_process():
    with open_executor(workers=1) as executor:
        assert isinstance(executor, InlineExecutor) and jobs.worker_count(executor) == 1
        assert executor.submit(os.getpid).result() == os.getpid()
        with pytest.raises(RuntimeError, match="a failed job"):
            executor.submit(_fail).result()
    with pytest.raises(ValueError, match="at least 1"):
        with open_executor(workers=0):
            pass


@pytest.mark.skipif(not LINUX, reason="reads prctl and the process table")
def test_pool_workers_ignore_ctrl_c_and_are_killed_with_their_parent():
    with open_executor(workers=2) as executor:
        assert jobs.worker_count(executor) == 2
        probes = [executor.submit(_probe).result() for _ in range(4)]
    for probe in probes:
        assert probe["pid"] != os.getpid() and probe["parent"] == os.getpid()
        assert probe["sigint_ignored"]
        assert probe["death_signal"] == signal.SIGKILL
        assert probe["cores"] == max(1, (os.cpu_count() or 1) // 2)


@pytest.mark.skipif(not LINUX, reason="reads the process table in /proc")
def test_an_error_in_the_block_ends_the_workers_without_waiting_for_their_jobs():
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with open_executor(workers=2) as executor:
            futures = [executor.submit(time.sleep, 120) for _ in range(2)]
            pids = [executor.submit(os.getpid) for _ in range(2)]
            time.sleep(0.5)
            workers = list(executor._processes)
            raise KeyboardInterrupt
    assert time.monotonic() - started < 30
    assert len(workers) == 2
    assert not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in workers)
    # the lost jobs end too (cancelled, or failed with BrokenProcessPool), none is left waiting
    _, waiting = wait([f for f in futures + pids if not f.cancelled()], timeout=15)
    assert not waiting


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_a_scheduler_that_does_not_answer_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(jobs, "CONNECT_TIMEOUT", "1s")
    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ValueError, match=rf"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answered"):
        jobs.check_scheduler(f"tcp://127.0.0.1:{port}")
    with pytest.raises(ValueError, match="must name a Dask scheduler"):
        with open_executor(scheduler=" "):
            pass


def test_same_jobs_same_draws_in_this_process_a_pool_and_a_dask_cluster(monkeypatch):
    """Refits of new data reuse the compilation; every executor gives identical draws."""
    import nutpie
    from distributed import LocalCluster

    survey = make_survey()
    spec = check_spec(ModelSpec(outcome="learning", varying_slopes=["contact"]), survey)
    options = {"chains": 2, "draws": 60, "tune": 60, "predictive": False}
    batch = [FitJob(spec, survey, 3, options),
             FitJob(spec, make_survey(seed=2), 4, options),  # new data of the same shapes
             FitJob(spec, survey, 5, {**options, "active_conditions": ("contact",)})]
    jobs.compile_model(spec, survey)  # once, here; every refit below must reuse it

    def refuse(*args, **kwargs):
        raise AssertionError("a job compiled the model again")

    monkeypatch.setattr(nutpie, "compile_pymc_model", refuse)  # forked workers inherit it
    inline = [run_fit(job)["posterior"]["b"].values for job in batch]
    assert not np.array_equal(inline[0], inline[1])
    with open_executor(workers=2) as executor:  # the pool first: it forks this process
        pooled = [f.result()["posterior"]["b"].values for f in [executor.submit(run_fit, j) for j in batch]]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        with open_executor(scheduler=cluster.scheduler_address) as executor:
            assert jobs.worker_count(executor) == 1
            dask = [f.result()["posterior"]["b"].values for f in [executor.submit(run_fit, j) for j in batch]]
    for a, b, c in zip(inline, pooled, dask, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
