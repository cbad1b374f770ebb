"""Where a `fit` command's time goes, step by step (issue 15 item 5: its fixed costs).

Writes speed.py's simulated survey once (``speed.simulated(42, seed=1)``: 2,002
respondents, 42 alliances, 9 conditions) and runs the whole ``alliance-learning fit``
command in this process, as a user runs it (``--chains 4 --draws 1000 --tune 1000
--seed 1``), with timers around its steps: the imports, reading and validating the
survey, building the model, compiling it (from the on-disk cache after the first run),
sampling (nutpie; twice where models.extend extends a narrow gate miss), the gate
diagnostics, the predictive draws and log-prior, and writing the run directory. Each
step prints its wall and CPU seconds (user + system of the whole process, so sampling's
CPU counts every sampler thread) and the load average at the end. Run it twice: the
first run fills the compile cache, the second is what a later `fit` pays.

Run::

    nice -n 10 .venv/bin/python tests/benchmarks/fit_steps.py [--workdir DIR] [--draws N] [--tune N]

Figures: tests/benchmarks/README.md, "Fixed costs of the fit command".
"""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib
import os
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
    ("nutpie", "sample"): "sampling (nutpie.sample)",
    ("models.extend", "gate_statistics"): "gate diagnostics (models.extend)",
    ("models.fit", "prior_predictive"): "prior predictive",
    ("models.fit", "posterior_predictive"): "posterior predictive",
    ("models.fit", "log_prior"): "log prior",
    ("models", "save_run"): "save_run (summary, posterior.nc, files)",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "fit_steps")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    survey = args.workdir / "survey.csv"
    if not survey.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        import speed

        speed.simulated(42, seed=1).data.to_csv(survey, index=False)

    started, cpu_started = time.perf_counter(), time.process_time()
    rows: list[tuple[str, float, float]] = []
    import reports.cli as cli  # what `fit` imports before its first step

    import models  # noqa: F401
    import nutpie  # noqa: F401  (imported by the compile step)
    rows.append(("imports (reports.cli, data, models, nutpie)",
                 time.perf_counter() - started, time.process_time() - cpu_started))
    for (module_name, name), label in STEPS.items():
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        _time(module, name, label, rows)
    atexit.register(_report, rows, started, cpu_started)
    sys.argv = ["alliance-learning", "fit", str(survey), "--out", str(args.workdir / "run"),
                "--outcome", "individual_learning", "--chains", "4", "--draws", str(args.draws),
                "--tune", str(args.tune), "--seed", "1", "--no-progress", "--force"]
    try:
        cli.app()
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def _time(module, name: str, label: str, rows: list) -> None:
    function = getattr(module, name)

    @functools.wraps(function)
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            rows.append((label, time.perf_counter() - wall, time.process_time() - cpu))

    setattr(module, name, timed)


def _report(rows, started: float, cpu_started: float) -> None:
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
          f"{time.process_time() - cpu_started:>7.2f}   load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
