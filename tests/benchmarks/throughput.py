"""Time to verdict with the dominance analysis (issue 15 item 3) and many-fit throughput (issue 17 item 3).

1. **Issue 15.3**: the whole job of ``alliance-learning demo --force --dominance`` (validate,
   fit, every check with the 14 dominance sub-models and the predictive comparison, report),
   timed as a user meets it: process start to report written, with a warm cache (a short
   demo first compiles the model into PyTensor's on-disk cache). Target < 2 minutes on the
   2-core machine. Printed as a ``TARGET | 15.3 | ...`` line with each step's time.
2. **Issue 17.3**: fits per minute of sub-model-sized fit jobs (``models.jobs.run_fit`` on the
   example survey, one job per dominance subset) through the executors of
   ``models.jobs.open_executor``: the local pool with 1 and 2 workers, and a Dask
   ``LocalCluster`` on loopback (worker processes, one thread each) with 1 and 2 workers.
   Every executor is warmed first (each worker compiles the model once, which is not
   timed), and the draws of every executor are checked to be identical.

The machine is shared: say what else ran when recording figures (tests/benchmarks/README.md).

Run::

    .venv/bin/python tests/benchmarks/throughput.py                 # both parts
    .venv/bin/python tests/benchmarks/throughput.py --no-demo --jobs 6
    .venv/bin/python tests/benchmarks/throughput.py --no-throughput
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

TARGET_S = 120  # issue 15 item 3: the demo's whole job with dominance < 2 minutes


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("alliance-learning")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "reports.cli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for descendants, pool workers too
    return usage.ru_utime + usage.ru_stime


def time_demo(out: Path, extra: list[str]) -> tuple[float, dict[str, float], str]:
    """Run the demo with dominance in a subprocess; its wall time, step times and output.

    The step times include ``cpu`` (user + system seconds of the command and its workers),
    which the other helpers' load on a shared machine changes far less than the wall time.
    """
    command = [*_cli(), "demo", "--out", str(out), "--force", "--dominance", "--no-progress", *extra]
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 3):  # 3: a gate failed (the verdict says so), still a full job
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    output = done.stdout + done.stderr
    steps = {name: float(s) for name, s in re.findall(r"^(\w+): done in ([\d.]+) s", output, re.M)}
    fitted = re.search(r"sub-models fitted in ([\d.]+) s", output)
    if fitted:
        steps["sub-models"] = float(fitted.group(1))
    steps["cpu"] = _children_cpu() - cpu
    return seconds, steps, output


def demo_target(extra: list[str]) -> None:
    """Part 1: the demo's whole job with the dominance analysis, warm cache."""
    work = Path(tempfile.mkdtemp(prefix="throughput-demo-"))
    try:
        warm = subprocess.run([*_cli(), "demo", "--out", str(work / "warm"), "--force", "--draws", "50",
                               "--tune", "50", "--no-dominance", "--no-loo", "--no-sensitivity",
                               "--no-progress"], capture_output=True, text=True, cwd=ROOT)
        if warm.returncode not in (0, 3):
            raise SystemExit(f"warm-up demo failed:\n{warm.stderr[-3000:]}")
        seconds, steps, output = time_demo(work / "demo", extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for line in output.splitlines():
        if line.strip().startswith(("fitting ", "sub-models fitted", "verdict")):
            print(f"  {line.strip()}")
    shown = ", ".join(f"{k} {v:.0f} s" for k, v in steps.items())
    load = os.getloadavg()[0]
    print(f"TARGET | 15.3 | demo --force --dominance, whole job, warm cache, "
          f"{os.cpu_count()} cores (load {load:.1f}; {shown}) | {seconds:.0f} s | < {TARGET_S} s | "
          f"{'met' if seconds < TARGET_S else 'NOT met'}")


# -- part 2: throughput of the executors ------------------------------------------------------------
def throughput(n_jobs: int, draws: int, tune: int) -> None:
    """Part 2: fits per minute, local pool vs Dask LocalCluster, 1 and 2 workers."""
    import numpy as np
    from distributed import Client, LocalCluster

    from data import load_survey
    from models import check_spec
    from models.jobs import FitJob, compile_model, open_executor, run_fit
    from reports.pipeline import DEMO_CONFIG, example_data_path

    survey = load_survey(example_data_path())
    spec = check_spec(DEMO_CONFIG.spec, survey)
    # the conditions of each level, as the dominance analysis's subsets
    levels: dict[str, list[str]] = {}
    for condition in spec.conditions:
        levels.setdefault(survey.codebook.conditions[condition].level, []).append(condition)
    subsets = [tuple(c for level in combo for c in levels[level])
               for k in range(1, len(levels)) for combo in itertools.combinations(levels, k)]
    # extension=None: every job samples exactly as asked, so fits per minute compare like with like
    options = {"chains": 4, "draws": draws, "tune": tune, "predictive": False, "extension": None}
    batch = [FitJob(spec, survey, 1000 + i, {**options, "active_conditions": subsets[i % len(subsets)]})
             for i in range(n_jobs)]
    compile_model(spec, survey)  # this process, and the forked pool workers, start compiled

    def timed(executor) -> tuple[float, list]:
        started = time.perf_counter()
        futures = [executor.submit(run_fit, job) for job in batch]
        draws_ = [f.result()["posterior"]["b"].values for f in futures]
        return time.perf_counter() - started, draws_

    results = {}
    for workers in (1, 2):
        with open_executor(workers=workers) as executor:
            results[f"local pool, {workers} worker(s)"] = timed(executor)
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            started = time.perf_counter()
            client.run(compile_model, spec, survey)  # each worker compiles once (not timed)
            print(f"  Dask: {workers} worker process(es) compiled in {time.perf_counter() - started:.0f} s")
            with open_executor(scheduler=cluster.scheduler_address) as executor:
                results[f"Dask LocalCluster, {workers} worker(s)"] = timed(executor)
    reference = next(iter(results.values()))[1]
    same = all(all(np.array_equal(a, b) for a, b in zip(reference, d, strict=True))
               for _, d in results.values())
    load = os.getloadavg()[0]
    for name, (seconds, _) in results.items():
        print(f"17.3 | fits per minute | {name} | {n_jobs / seconds * 60:.1f} "
              f"({n_jobs} fits of 4 chains x {draws} draws after {tune} tuning steps in {seconds:.0f} s; "
              f"load {load:.1f})")
    print(f"17.3 | same draws from every executor | {'yes' if same else 'NO'}")


def main(argv=None) -> None:
    """Parse the options and run the parts asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-demo", dest="demo", action="store_false", help="skip part 1")
    parser.add_argument("--no-throughput", dest="throughput", action="store_false", help="skip part 2")
    parser.add_argument("--jobs", type=int, default=8, help="fit jobs per executor in part 2")
    parser.add_argument("--draws", type=int, default=500, help="draws per chain of part 2's fits")
    parser.add_argument("--tune", type=int, default=400, help="tuning steps of part 2's fits")
    parser.add_argument("--demo-option", action="append", default=[],
                        help="extra option for the timed demo (repeatable), e.g. --demo-option=--workers=1")
    args = parser.parse_args(argv)
    if args.demo:
        demo_target(args.demo_option)
    if args.throughput:
        throughput(args.jobs, args.draws, args.tune)


if __name__ == "__main__":
    main()
