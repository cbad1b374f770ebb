"""Real-data matrix at full size: five public datasets through ``alliance-learning run``.

The full-size versions of the test suite's real-data matrix (``tests/realdata``): the
same codebooks and run configs, all rows (InstEval: all of department 5), the default
draws (4 chains x 2000 after 1000 tuning steps) and the dominance analysis. For each
dataset it prints whether the run finished, the wall time, the verdict, the diagnostics,
and each fixed effect per raw unit (posterior mean and SD) beside the maximum-likelihood
reference of ``tests/realdata/references.py`` (lme4 / ordinal in R, sources cited there)
with the difference in posterior SDs.

Run::

    .venv/bin/python tests/benchmarks/realdata.py [--only wine exam] [--workdir DIR]
        [--chains 4] [--draws 2000] [--tune 1000] [--no-dominance] [--small]
    .venv/bin/python tests/benchmarks/realdata.py --write-csv DIR   # the tables R reads
                                                                    # (tests/realdata/references.R)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.realdata.datasets import CODEBOOKS, HERE, PREPARE, prepare  # noqa: E402
from tests.realdata.references import CITATIONS, REFERENCES  # noqa: E402


def run_one(name: str, workdir: Path, args) -> dict:
    size = "small" if args.small else "full"
    data = workdir / f"{name}.csv"
    prepare(name, full=not args.small).to_csv(data, index=False)
    out = workdir / name
    command = [str(Path(sys.executable).parent / "alliance-learning"), "run", str(data),
               "--out", str(out), "--force",
               "--codebook", str(CODEBOOKS / f"{name}.toml"),
               "--config", str(HERE / "configs" / f"{name}.toml"),
               "--chains", str(args.chains), "--draws", str(args.draws),
               "--tune", str(args.tune), "--seed", str(args.seed), "--no-progress",
               "--dominance" if args.dominance else "--no-dominance"]
    started, start = time.time(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (workdir / f"{name}.log").write_text(done.stdout + done.stderr)
    result = {"name": name, "exit": done.returncode, "seconds": seconds,
              "report": (out / "report.html").is_file(), "effects": {}, "verdict": None}
    summary = out / "summary.json"
    # a summary left by an earlier run in the same folder is not this run's
    if summary.is_file() and summary.stat().st_mtime >= started:
        content = json.loads(summary.read_text())
        result["diagnostics"] = content["diagnostics"]
        for condition, (estimate, se) in REFERENCES[name][size].items():
            post = content["effects"][condition]["per_unit"]
            result["effects"][condition] = (post["mean"], post["sd"], estimate, se,
                                            (post["mean"] - estimate) / post["sd"])
    checks = out / "checks" / "checks.json"
    if checks.is_file() and checks.stat().st_mtime >= started:
        result["verdict"] = json.loads(checks.read_text())["verdict"]["verdict"]
    if done.returncode:
        result["error"] = (done.stdout + done.stderr).strip().splitlines()[-1:]
    return result


def show(result: dict, rows: int) -> None:
    print(f"\n## {result['name']} ({rows:,} rows): exit {result['exit']}, "
          f"{result['seconds']:.0f} s, report {'written' if result['report'] else 'MISSING'}, "
          f"verdict {result['verdict']}")
    print(f"   reference: {CITATIONS[result['name']]}")
    if "diagnostics" in result:
        d = result["diagnostics"]
        print(f"   max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
              f"min tail ESS {d['min_ess_tail']:.0f}, divergences {d['divergences']}")
    if result.get("error"):
        print(f"   error: {result['error']}")
    print(f"   {'effect':10s} {'post. mean':>10s} {'post. SD':>9s} {'reference':>10s} "
          f"{'ref. SE':>8s} {'diff/SD':>8s}")
    for condition, (mean, sd, estimate, se, z) in result["effects"].items():
        print(f"   {condition:10s} {mean:10.4f} {sd:9.4f} {estimate:10.4f} {se:8.4f} {z:+8.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(PREPARE), default=list(PREPARE))
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dominance", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--small", action="store_true", help="the test suite's small versions")
    parser.add_argument("--write-csv", type=Path, metavar="DIR",
                        help="only write <name>.csv and <name>_full.csv to DIR (for references.R)")
    args = parser.parse_args(argv)
    if args.write_csv:
        args.write_csv.mkdir(parents=True, exist_ok=True)
        for name in PREPARE:
            prepare(name).to_csv(args.write_csv / f"{name}.csv", index=False)
            prepare(name, full=True).to_csv(args.write_csv / f"{name}_full.csv", index=False)
        print(f"wrote the tables to {args.write_csv}")
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="realdata-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# real-data matrix: {args.chains} chains x {args.draws} draws ({args.tune} tune), "
          f"dominance {'on' if args.dominance else 'off'}, {'small' if args.small else 'full'} "
          f"versions; logs and runs in {workdir}")
    for name in args.only:
        rows = len(prepare(name, full=not args.small))
        show(run_one(name, workdir, args), rows)


if __name__ == "__main__":
    main()
