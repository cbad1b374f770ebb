"""Where a `fit` command's time goes, step by step (issue 15 item 5: its fixed costs).

Writes speed.py's simulated survey once (``speed.simulated(42, seed=1)``: 2,002
respondents, 42 alliances, 9 conditions) and runs the whole ``alliance-learning fit``
command in a new process, as a user runs it (``--chains 4 --draws 1000 --tune 1000
--seed 1``: the console script's ``reports.cli.entry_point``), with timers around its
steps: the imports, reading and validating the survey, building the model, compiling it
(from the on-disk cache after the first run), sampling (nutpie; twice where models.extend
extends a narrow gate miss), the gate diagnostics, the predictive draws and log-prior,
and writing the run directory. Each step prints its wall and CPU seconds (user + system of
the whole process, so sampling's CPU counts every sampler thread); then the garbage
collector's passes, the interpreter's start-up and exit (after the run is written until
the process has ended), the whole process (what speed.py times) and the load average. Run
it twice: the first run fills the compile cache, the second is what a later `fit` pays.
``--plain-app`` calls ``reports.cli.app`` instead, as the tests do: no ``gc.freeze``
(reports.cli._lasting_imports), the command as it was before session 9.

Run::

    nice -n 10 .venv/bin/python tests/benchmarks/fit_steps.py [--workdir DIR] [--draws N] [--tune N] [--plain-app]
        [--alliances 400] [--cold] [--compiles]

``--alliances`` sets the design's size (default 42, about 2,000 respondents; 400 gives
speed.py's 19,000-respondent survey). The command compiles into ``WORKDIR/cache``
(PyTensor's ``base_compiledir`` and ``NUMBA_CACHE_DIR``, as speed.py sets them per peer);
``--cold`` empties it first (a first run). ``--compiles`` also prints, per step, each
PyTensor function built (rewrites and linking, by the caller that asked for it) and each
numba compilation (by the compiled function's name; loads from the disk cache are not
compilations), with their wall seconds.

Figures: tests/benchmarks/README.md, "Fixed costs of the fit command", "Session 9" and
"Session 10".
"""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = {  # (module, attribute): label, in the order the command runs them
    ("data", "load_survey"): "read and validate the survey",
    ("reports.pipeline", "resolve_config"): "resolve the config",
    ("models.fit", "make_design"): "design",
    ("models.fit", "model_from_design"): "PyMC model",
    ("models.fit", "compiled_model"): "compile (nutpie; cached on disk)",
    ("models.compiled", "_cfunc"): "  of which nutpie's 2 entry points (cfunc)",
    ("nutpie", "sample"): "sampling (nutpie.sample)",
    ("models.extend", "gate_statistics"): "gate diagnostics (models.extend)",
    ("models.fit", "prior_predictive"): "prior predictive",
    ("models.fit", "posterior_predictive"): "posterior predictive",
    ("models.fit", "log_prior"): "log prior",
    ("models", "save_run"): "save_run (summary, posterior.nc, files)",
}
_MARK = "FIT_STEPS_CHILD "  # the child's line of figures for the parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "fit_steps")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--plain-app", action="store_true",
                        help="call reports.cli.app (no gc.freeze), as the command ran before session 9")
    parser.add_argument("--alliances", type=int, default=42, help="alliances of speed.py's design (400: ~19,000)")
    parser.add_argument("--cold", action="store_true", help="empty WORKDIR/cache first (a first run)")
    parser.add_argument("--compiles", action="store_true", help="print each PyTensor function and numba compilation")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    survey = _survey(args)
    if not survey.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        import speed

        speed.simulated(args.alliances, seed=1).data.to_csv(survey, index=False)
    cache = args.workdir / "cache"
    if args.cold and cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(exist_ok=True)
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache / 'pytensor'}", NUMBA_CACHE_DIR=str(cache / "numba"))
    command = [sys.executable, __file__, "--child", "--workdir", str(args.workdir), "--draws", str(args.draws),
               "--tune", str(args.tune), "--alliances", str(args.alliances),
               *(["--plain-app"] if args.plain_app else []), *(["--compiles"] if args.compiles else [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()  # CLOCK_MONOTONIC: the same clock as the child's
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env)
    ended = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figures = None
    for line in done.stdout.splitlines():
        if line.startswith(_MARK):
            figures = json.loads(line[len(_MARK):])
        else:
            print(line)
    if figures is None:
        print(f"the command's process ended with {done.returncode} before its figures")
        return done.returncode or 1
    start_up = figures["started"] - started
    exit_wall, exit_cpu = ended - figures["reported"], cpu - figures["reported_cpu"]
    print(f"{'interpreter start-up (to the script)':<46} {'':>5} {start_up:>8.2f} {figures['started_cpu']:>7.2f}")
    print(f"{'interpreter exit (after the run was written)':<46} {'':>5} {exit_wall:>8.2f} {exit_cpu:>7.2f}")
    print(f"{'whole process, start to exit':<46} {'':>5} {ended - started:>8.2f} {cpu:>7.2f}   "
          f"load {os.getloadavg()[0]:.1f}; peak RSS {after.ru_maxrss / 1024:.0f} MB; "
          f"{'app()' if args.plain_app else 'entry_point()'}; "
          f"{'cold' if args.cold else 'warm'} cache")
    return done.returncode


def _survey(args) -> Path:
    return args.workdir / ("survey.csv" if args.alliances == 42 else f"survey-{args.alliances}.csv")


def child(args) -> int:
    started, cpu_started = time.perf_counter(), time.process_time()
    rows: list[tuple[str, float, float]] = []
    passes = _count_passes()
    compiles = _count_compiles() if args.compiles else None
    import reports.cli as cli  # what `fit` imports before its first step

    def imports():
        import nutpie  # noqa: F401  (imported by the compile step)

        import models  # noqa: F401

    if args.plain_app:
        imports()
    else:  # as the command makes them in the console script's process (reports.cli.entry_point)
        cli._WHOLE_PROCESS = True
        with cli._lasting_imports():
            imports()
    rows.append(("imports (reports.cli, data, models, nutpie)",
                 time.perf_counter() - started, time.process_time() - cpu_started))
    for (module_name, name), label in STEPS.items():
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        _time(module, name, label, rows)
    atexit.register(_report, rows, started, cpu_started, passes, compiles)
    sys.argv = ["alliance-learning", "fit", str(_survey(args)), "--out", str(args.workdir / "run"),
                "--outcome", "individual_learning", "--chains", "4", "--draws", str(args.draws),
                "--tune", str(args.tune), "--seed", "1", "--no-progress", "--force"]
    try:
        cli.app() if args.plain_app else cli.entry_point()
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def _count_passes() -> dict:
    """The garbage collector's passes per generation and their seconds (gc.callbacks)."""
    passes = {generation: [0, 0.0] for generation in range(3)}
    began = [0.0]

    def callback(phase, info):
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            passes[info["generation"]][0] += 1
            passes[info["generation"]][1] += time.perf_counter() - began[0]

    gc.callbacks.append(callback)
    return passes


_STEP = ["imports and command set-up"]  # the step running now (innermost last)


def _count_compiles() -> list:
    """Record (step, what, seconds) of each PyTensor function built and numba compilation."""
    import numba.core.event as event
    from pytensor.compile.maker import FunctionMaker

    records: list = []
    here = str(Path(__file__).resolve().parents[2])

    def caller() -> str:  # the first frame outside PyTensor: who asked for the function
        frame = sys._getframe(2)
        while frame and ("/pytensor/" in frame.f_code.co_filename or frame.f_code.co_filename == __file__):
            frame = frame.f_back
        if frame is None:
            return "?"
        name = frame.f_code.co_filename.replace(here + "/", "").split("site-packages/")[-1]
        return f"{name}:{frame.f_code.co_name}"

    for method, what in (("__init__", "rewrite"), ("create", "link")):
        original = getattr(FunctionMaker, method)

        def timed(self, *args, _original=original, _what=what, **kwargs):
            at = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                records.append((_STEP[-1], f"pytensor {_what}: {caller()}", time.perf_counter() - at))

        setattr(FunctionMaker, method, timed)

    class Compilations(event.Listener):
        depth, began, name = 0, 0.0, ""

        def on_start(self, ev):
            if self.depth == 0:
                dispatcher = ev.data["dispatcher"]
                self.began = time.perf_counter()
                self.name = getattr(getattr(dispatcher, "py_func", None), "__name__", repr(dispatcher))[:40]
            self.depth += 1

        def on_end(self, ev):
            self.depth -= 1
            if self.depth == 0:
                records.append((_STEP[-1], f"numba: {self.name}", time.perf_counter() - self.began))

    event.register("numba:compile", Compilations())
    return records


def _time(module, name: str, label: str, rows: list) -> None:
    function = getattr(module, name)

    @functools.wraps(function)
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        _STEP.append(label)
        try:
            return function(*args, **kwargs)
        finally:
            _STEP.pop()
            rows.append((label, time.perf_counter() - wall, time.process_time() - cpu))

    setattr(module, name, timed)


def _report(rows, started: float, cpu_started: float, passes: dict, compiles: list | None) -> None:
    totals: dict[str, list] = {}
    for label, wall, cpu in rows:
        entry = totals.setdefault(label, [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += wall
        entry[2] += cpu
    print(f"\n{'step':<46} {'calls':>5} {'wall s':>8} {'CPU s':>7}")
    for label, (calls, wall, cpu) in totals.items():
        print(f"{label:<46} {calls:>5} {wall:>8.2f} {cpu:>7.2f}")
    print(f"{'whole command (in process)':<46} {'':>5} {time.perf_counter() - started:>8.2f} "
          f"{time.process_time() - cpu_started:>7.2f}")
    for generation, (count, seconds) in passes.items():
        label = f"of which garbage collector, generation {generation}"
        print(f"{label:<46} {count:>5} {seconds:>8.2f}")
    if compiles is not None:
        grouped: dict = {}
        for i, (step, what, seconds) in enumerate(compiles):
            if what.startswith("numba") and seconds >= 0.5:  # a long compilation: shown on its own
                what = f"{what} (#{i})"
            entry = grouped.setdefault((step, what), [0, 0.0])
            entry[0] += 1
            entry[1] += seconds
        print("\ncompilations (wall s; nested numba compilations inside a PyTensor link are counted in both)")
        for (step, what), (count, seconds) in grouped.items():
            if seconds >= 0.05:
                print(f"  {step[:34]:<34} {what[:70]:<70} {count:>4} {seconds:>7.2f}")
    print(_MARK + json.dumps({"started": started, "started_cpu": cpu_started,
                              "reported": time.perf_counter(), "reported_cpu": time.process_time()}),
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
