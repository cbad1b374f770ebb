"""Peak memory, time and disk of the toolkit's commands on a simulated gaussian survey.

Issue 15, item 2. Simulates a gaussian case survey (``alliance-learning simulate
--design``: the example study's design with a continuous outcome, 5 conditions, 5
networks of 8-12 respondents per alliance, no missing codes), then runs, each as its own
process, as a user would:

``run``
    ``alliance-learning run --no-dominance`` (validate, fit, check, report) with the
    default sampling (4 x 2000 draws, 1000 tuning steps) of a model with one group level
    (alliance) and 5 conditions: peak memory, wall time and the size of the run directory.
    The checks include LOO (3 sub-model fits), LOO-PIT and the prior sensitivity;
    ``--dominance`` adds the dominance analysis (14 more sub-model fits: long).
``report``
    ``alliance-learning report --force`` of that run (re-rendering from its saved
    checks): peak memory and wall time.

Peak memory is given three ways: ``max RSS``, the largest resident set of any one process
of the command (``ru_maxrss`` from ``os.wait4``, which covers the process and every
descendant it waited for); ``tree RSS``, the largest sum of the resident sets of the
command and its sub-processes (the sub-model fits run in forked worker processes), and
``tree PSS``, the largest sum of their proportional set sizes, both sampled every 0.2 s
with psutil. A forked worker shares its parent's pages until either writes them: the
summed RSS counts such a page once per process, the summed PSS once in all (each process
its share), so ``tree PSS`` is the memory the machine needs and the targets are judged on
it; ``tree RSS`` is printed beside it as an upper bound. ``CPU s`` is the user plus system
time of the command and its sub-processes: on a machine shared with other work the wall
time grows with the load, the CPU time much less.

Each command's memory over time (summed PSS and RSS every 0.2 s, with how much of its
log was written) goes to ``<log>.memory.tsv`` beside its log, and the summary says after
which log line (the step running) the peak came.

Each target is printed as one line ``TARGET | 15.2 | <what> | <figure> | <target> | met``
(or ``NOT met``), the protocol tests/benchmarks/targets.py collects; a case not run (no
``--large`` / ``--huge``) prints ``not run`` and ``NOT met``.

Targets (issue 15): the 7,000-respondent ``run`` < 1.5 GiB with a run directory < 100 MB;
``report`` < 1 GiB and < 15 s; with ``--large`` (190,000 respondents) and ``--huge``
(1,000,000) the default fit plus checks without dominance (``run --no-dominance``)
< 8 GiB and < 16 GiB. The figures are printed, met or not, never asserted.

Run::

    nice -n 10 .venv/bin/python tests/benchmarks/memory.py              # ~7,000 respondents
    nice -n 10 .venv/bin/python tests/benchmarks/memory.py --large      # and 190,000 (long)
    nice -n 10 .venv/bin/python tests/benchmarks/memory.py --large --no-main   # 190,000 only
    .venv/bin/python tests/benchmarks/memory.py --respondents 2000 --draws 500   # smoke run
    .venv/bin/python tests/benchmarks/memory.py --profile DIR/large/run.log   # peak per step
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

GIB = 2**30
MB = 10**6
CONDITIONS = ("personal_contact", "shared_interests", "joint_activity", "receptivity",
              "prior_cooperation")
OUTCOME = "learning_score"
RESPONDENTS_PER_ALLIANCE = 48  # 5 networks of 8-12 respondents (some respondents share a slot)
TARGETS = {  # (respondents, command): (peak bytes, seconds or None, run dir bytes or None)
    "run": (1.5 * GIB, None, 100 * MB),
    "report": (1 * GIB, 15.0, None),
    "large": (8 * GIB, None, None),
    "huge": (16 * GIB, None, None),
}
ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("alliance-learning"))


def write_inputs(folder: Path, respondents: int, *, chains: int, draws: int, tune: int) -> dict:
    """Write the codebook (default + a continuous outcome), the design and the run config."""
    import tomli_w

    sys.path.insert(0, str(ROOT))
    from data import load_codebook

    codebook = load_codebook().to_dict()
    codebook["outcomes"][OUTCOME] = {"level": "individual", "scale": "continuous",
                                     "label": "simulated continuous learning score"}
    alliances = max(2, round(respondents / RESPONDENTS_PER_ALLIANCE))
    design = {"alliances": alliances, "networks": [5, 5], "people": [8, 12],
              "conditions": list(CONDITIONS), "family": "gaussian", "outcome": OUTCOME,
              "alliance_outcome": "", "intercept": 0.2, "sigma": 1.0, "missing_rate": 0.0}
    config = {"model": {"outcome": OUTCOME, "family": "gaussian", "conditions": list(CONDITIONS),
                        "group_effects": ["alliance"]},
              "sampling": {"chains": chains, "draws": draws, "tune": tune, "seed": 1}}
    paths = {"codebook": folder / "codebook.toml", "design": folder / "design.toml",
             "config": folder / "config.toml", "data": folder / "survey.parquet"}
    paths["codebook"].write_text(tomli_w.dumps(codebook), encoding="utf-8")
    paths["design"].write_text(tomli_w.dumps(design), encoding="utf-8")
    paths["config"].write_text(tomli_w.dumps(config), encoding="utf-8")
    return paths


def measure(command: list[str], log: Path) -> dict:
    """Run ``command``; return its wall time, exit code, max RSS and peak tree RSS (bytes)."""
    import psutil

    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    peak = {"rss": 0, "pss": 0, "at": 0.0, "log_at": 0}
    # the memory over time beside the log, written as it comes (a long run stopped early
    # still shows which step was running at its peak)
    timeline = log.with_suffix(".memory.tsv").open("w", buffering=1)
    timeline.write("seconds\tpss_bytes\trss_bytes\tlog_bytes\n")
    done = threading.Event()

    def sample():
        try:
            parent = psutil.Process(process.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            rss = pss = 0
            try:
                for proc in [parent, *parent.children(recursive=True)]:
                    try:
                        info = proc.memory_full_info()  # PSS from /proc/<pid>/smaps_rollup
                        rss += info.rss
                        pss += info.pss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            peak["rss"] = max(peak["rss"], rss)
            now = time.perf_counter() - started
            written = log.stat().st_size if log.exists() else 0
            if pss > peak["pss"]:
                peak.update(pss=pss, at=now, log_at=written)
            timeline.write(f"{now:.1f}\t{pss}\t{rss}\t{written}\n")
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    load = os.getloadavg()[1]  # the 5-minute load average as the command ended
    timeline.close()
    lines = [line.strip() for line in log.read_bytes()[:peak["log_at"]].decode(errors="replace")
             .splitlines() if line.strip() and not set(line.strip()) <= set("─ ")]
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "rc": process.returncode,
            "load": load,
            "max_rss": usage.ru_maxrss * 1024,
            "tree_rss": peak["rss"], "tree_pss": peak["pss"],
            "peak_at": peak["at"], "peak_during": lines[-1] if lines else ""}


def profile(log: Path) -> list[str]:
    """The peak summed PSS of each step of a command: per log line, from ``<log>.memory.tsv``
    (works on a command still running or stopped)."""
    timeline = log.with_suffix(".memory.tsv")
    if not timeline.exists():
        sys.exit(f"no {timeline}: memory.py writes it beside the log as the command runs")
    text = log.read_bytes()
    steps: dict[str, list[float]] = {}  # log line: [first s, last s, peak PSS]
    for row in timeline.read_text().splitlines()[1:]:
        seconds, pss, _, written = row.split("\t")
        lines = [line.strip() for line in text[:int(written)].decode(errors="replace").splitlines()
                 if line.strip() and not set(line.strip()) <= set("─ ")]
        key = lines[-1][:100] if lines else "(start)"
        span = steps.setdefault(key, [float(seconds), float(seconds), 0])
        span[1] = float(seconds)
        span[2] = max(span[2], int(pss))
    return [f"{a:7.0f} - {b:7.0f} s  peak PSS {p / GIB:5.2f} GiB  after: {key}"
            for key, (a, b, p) in steps.items()]


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def case(name: str, respondents: int, folder: Path, args, *, dominance: bool = True) -> list[dict]:
    """Simulate, ``run`` and (for the main case) re-render the report; return result rows."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = write_inputs(folder, respondents, chains=args.chains, draws=args.draws, tune=args.tune)
    simulated = measure([CLI, "simulate", "--design", str(paths["design"]), "--codebook",
                         str(paths["codebook"]), "--out", str(paths["data"]), "--seed", "1"],
                        folder / "simulate.log")
    if simulated["rc"] != 0:
        sys.exit(f"simulate failed, see {folder / 'simulate.log'}")
    import pandas as pd

    n = len(pd.read_parquet(paths["data"]))
    run_dir = folder / "run"
    command = [CLI, "run", str(paths["data"]), "--out", str(run_dir), "--codebook",
               str(paths["codebook"]), "--config", str(paths["config"]), "--no-progress"]
    if not dominance:
        command.append("--no-dominance")
    print(f"{name}: {n:,} respondents, {args.chains} x {args.draws} draws; running "
          f"{' '.join(command[1:2])} ...", flush=True)
    result = measure(command, folder / "run.log")
    result.update(step=f"{name}: run ({n:,}{'' if dominance else ', no dominance'})", target=name, respondents=n,
                  run_dir=dir_size(run_dir) if run_dir.is_dir() else None,
                  files={f.name: f.stat().st_size for f in run_dir.iterdir() if f.is_file()}
                  if run_dir.is_dir() else {})
    rows = [result]
    if result["rc"] not in (0, 3):  # 3: verdict "not trustworthy", the run is complete
        print(f"  exit code {result['rc']}: see {folder / 'run.log'}")
        return rows
    if name == "run":
        print("re-rendering the report ...", flush=True)
        again = measure([CLI, "report", str(run_dir), "--force"], folder / "report.log")
        again.update(step=f"report ({n:,} respondents)", target="report", run_dir=None, files={},
                     respondents=n)
        rows.append(again)
    return rows


WHAT = {  # target: what is measured
    "run": "7,000-respondent gaussian run --no-dominance",
    "report": "report re-render (7,000 respondents)",
    "large": "190,000 respondents: default fit + checks without dominance (run --no-dominance)",
    "huge": "1,000,000 respondents: default fit + checks without dominance (run --no-dominance)",
}


def target_lines(rows: list[dict], asked: set[str]) -> list[str]:
    """One ``TARGET | 15.2 | ...`` line per target (tests/benchmarks/targets.py reads them)."""
    lines = []

    def line(what, figure, target, met):
        lines.append(f"TARGET | 15.2 | {what} | {figure} | {target} | {'met' if met else 'NOT met'}")

    done = {row["target"]: row for row in rows}
    for name in ("run", "report", "large", "huge"):
        peak, seconds, size = TARGETS[name]
        row = done.get(name)
        if row is None or row["rc"] not in (0, 3):
            why = "not run" if row is None and name not in asked else "failed" if row else "not run"
            line(f"{WHAT[name]}: peak memory (summed PSS)", why, f"< {peak / GIB:g} GiB", False)
            continue
        load = f"{row['seconds']:.0f} s wall, {row['cpu']:.0f} s CPU, load {row['load']:.1f}"
        what = WHAT[name]
        if name in ("run", "report") and not 6_000 <= row["respondents"] <= 8_000:
            # --respondents elsewhere: its figures, judged not met (the target is at ~7,000)
            what = f"{what} [measured at {row['respondents']:,} respondents: not the target's size]"
        at_size = what == WHAT[name]
        line(f"{what}: peak memory (summed PSS; summed RSS {row['tree_rss'] / GIB:.2f} GiB, "
             f"largest process {row['max_rss'] / GIB:.2f} GiB; {load})",
             f"{row['tree_pss'] / GIB:.2f} GiB", f"< {peak / GIB:g} GiB",
             at_size and row["tree_pss"] < peak)
        if seconds is not None:
            line(f"{what}: wall time ({row['cpu']:.1f} s CPU, load {row['load']:.1f})",
                 f"{row['seconds']:.1f} s", f"< {seconds:g} s", at_size and row["seconds"] < seconds)
        if size is not None and row["run_dir"] is not None:
            line(f"{what}: run directory", f"{row['run_dir'] / MB:.1f} MB",
                 f"< {size / MB:g} MB", at_size and row["run_dir"] < size)
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respondents", type=int, default=7000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--dominance", action="store_true",
                        help="include the dominance analysis in the main run")
    parser.add_argument("--large", action="store_true", help="also 190,000 respondents (no dominance)")
    parser.add_argument("--huge", action="store_true", help="also 1,000,000 respondents (no dominance)")
    parser.add_argument("--no-main", action="store_true",
                        help="skip the 7,000-respondent run and report (with --large / --huge)")
    parser.add_argument("--keep", type=Path, help="folder to keep the runs in (default: temporary)")
    parser.add_argument("--profile", type=Path, metavar="LOG",
                        help="only print the peak memory of each step of a command's log "
                             "(e.g. DIR/large/run.log, beside its .memory.tsv) and stop")
    args = parser.parse_args(argv)
    if args.profile:
        print("\n".join(profile(args.profile)))
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="memory-benchmark-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; work in {folder}")
    rows = [] if args.no_main else case("run", args.respondents, folder / "run", args,
                                        dominance=args.dominance)
    if args.large:
        rows += case("large", 190_000, folder / "large", args, dominance=False)
    if args.huge:
        rows += case("huge", 1_000_000, folder / "huge", args, dominance=False)

    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    print(f"{'step':<42} {'rc':>3} {'seconds':>8} {'CPU s':>8} {'load':>5} {'max RSS':>9} "
          f"{'tree RSS':>9} {'tree PSS':>9} {'run dir':>9}")
    for row in rows:
        size = "" if row["run_dir"] is None else f"{row['run_dir'] / MB:.1f} MB"
        print(f"{row['step']:<42} {row['rc']:>3} {row['seconds']:8.1f} {row['cpu']:8.1f} "
              f"{row['load']:5.1f} {row['max_rss'] / GIB:7.2f} G {row['tree_rss'] / GIB:7.2f} G "
              f"{row['tree_pss'] / GIB:7.2f} G {size:>9}")
    for row in rows:
        print(f"  {row['step']}: peak PSS at {row['peak_at']:.0f} s, after the log line "
              f"{row['peak_during']!r}")
        for file, size in sorted(row["files"].items()):
            print(f"  {file:<20} {size / MB:8.1f} MB")
    print()
    asked = {"run", "report"} - ({"run", "report"} if args.no_main else set())
    asked |= {name for name, on in (("large", args.large), ("huge", args.huge)) if on}
    for line in target_lines(rows, asked):
        print(line)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
