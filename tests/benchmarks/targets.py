"""Every issue-15 target in one table: runs the benchmark scripts and collects their TARGET lines.

Each issue-15 benchmark script prints one line per target it measures (RULES: benchmark
output protocol)::

    TARGET | <issue>.<item> | <what> | <figure measured> | <target> | met   (or NOT met)

This script runs the scripts that exist, one after the other, each as its own process
(``memory.py``: memory, disk and report time; ``speed.py``: speed against the peers;
``throughput.py``: time to verdict on a case survey; ``gates.py``: gate misses and
extensions), keeps each one's full output in a log folder, and prints every TARGET line
they wrote as one table, ordered by issue item. A script that is absent is said to be so; a
script that fails keeps the TARGET lines it printed, and its exit code is shown. Nothing is
asserted: the figures are printed, met or not.

Run::

    nice -n 10 .venv/bin/python tests/benchmarks/targets.py                 # every script (DEFAULT_FLAGS)
    .venv/bin/python tests/benchmarks/targets.py --only memory --flags memory="--large"
    .venv/bin/python tests/benchmarks/targets.py --flags speed="--quick" --markdown
    .venv/bin/python tests/benchmarks/targets.py --from-logs out/bench/*.log  # table of saved outputs

The whole set takes hours on a 2-core machine (the scripts' own docstrings give their
times); ``--only`` and each script's smoke flags make it shorter.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# name: script (in this folder); run in this order
SCRIPTS = {"memory": "memory.py", "speed": "speed.py", "throughput": "throughput.py",
           "gates": "gates.py"}
PREFIX = "TARGET |"
# each script's flags for its issue-15 targets, unless --flags gives others (speed.py times
# issue 3's comparison without --issue15; throughput.py's many-fit part is issue 17's)
DEFAULT_FLAGS = {"speed": ["--issue15"], "throughput": ["--no-throughput"]}


@dataclass(frozen=True)
class Target:
    """One TARGET line: the issue item, what was measured, the figure, the target, met or not."""

    item: str
    what: str
    figure: str
    target: str
    met: bool
    source: str

    @classmethod
    def parse(cls, line: str, source: str) -> Target | None:
        """A TARGET line's fields, or None when the line does not follow the protocol."""
        fields = [f.strip() for f in line.strip().split(" | ")]
        if len(fields) != 6 or fields[0] != "TARGET" or fields[5] not in ("met", "NOT met"):
            return None
        return cls(fields[1], fields[2], fields[3], fields[4], fields[5] == "met", source)


def targets_in(text: str, source: str) -> tuple[list[Target], list[str]]:
    """The TARGET lines of a script's output, and the lines that start so but do not parse."""
    found, bad = [], []
    for line in text.splitlines():
        if line.startswith(PREFIX):
            target = Target.parse(line, source)
            (found.append(target) if target is not None else bad.append(line))
    return found, bad


def run_script(name: str, flags: list[str], logs: Path) -> tuple[int | None, float, str]:
    """Run one script (its output to ``logs/<name>.log`` as it comes); return rc, seconds, output."""
    script = HERE / SCRIPTS[name]
    if not script.is_file():
        return None, 0.0, ""
    log = logs / f"{name}.log"
    command = [sys.executable, str(script), *flags]
    print(f"running {' '.join(shlex.quote(c) for c in command[1:])} (output: {log}) ...", flush=True)
    started = time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    return rc, time.perf_counter() - started, log.read_text(errors="replace")


def _item_key(target: Target):
    parts = []
    for part in target.item.split("."):
        parts.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return parts


def table(targets: list[Target], *, markdown: bool = False) -> str:
    """The targets as a text (or Markdown) table, by issue item."""
    rows = sorted(targets, key=_item_key)
    if markdown:
        lines = ["| item | what | measured | target | met | script |", "|---|---|---|---|---|---|"]
        lines += [f"| {t.item} | {t.what} | {t.figure} | {t.target} | "
                  f"{'met' if t.met else '**NOT met**'} | {t.source} |" for t in rows]
        return "\n".join(lines)
    width = max([len(t.what) for t in rows] + [4])
    width = min(width, 100)
    lines = [f"{'item':<6} {'what':<{width}} {'measured':>14} {'target':>12}  {'':7} script"]
    for t in rows:
        what = t.what if len(t.what) <= width else t.what[: width - 3] + "..."
        lines.append(f"{t.item:<6} {what:<{width}} {t.figure:>14} {t.target:>12}  "
                     f"{'met' if t.met else 'NOT met':7} {t.source}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SCRIPTS),
                        help=f"comma-separated scripts to run (default all: {','.join(SCRIPTS)})")
    parser.add_argument("--flags", action="append", default=[], metavar="NAME=FLAGS",
                        help='flags for one script, e.g. memory="--large" (repeatable)')
    parser.add_argument("--logs", type=Path, default=None,
                        help="folder for the scripts' outputs (default out/benchmarks-<time>)")
    parser.add_argument("--from-logs", nargs="+", type=Path, default=None,
                        help="do not run anything: collect the TARGET lines of these saved outputs")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    flags = {}
    for entry in args.flags:
        name, sep, value = entry.partition("=")
        if not sep or name not in SCRIPTS:
            parser.error(f"--flags {entry!r}: expected NAME=FLAGS with NAME among {list(SCRIPTS)}")
        flags[name] = shlex.split(value)
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in only if n not in SCRIPTS]
    if unknown:
        parser.error(f"--only: unknown script(s) {unknown}; known: {list(SCRIPTS)}")

    targets: list[Target] = []
    notes: list[str] = []
    if args.from_logs:
        for path in args.from_logs:
            found, bad = targets_in(path.read_text(errors="replace"), path.stem)
            targets += found
            notes += [f"{path}: unparsed TARGET line: {line}" for line in bad]
    else:
        logs = args.logs or ROOT / "out" / time.strftime("benchmarks-%Y%m%d-%H%M%S")
        logs.mkdir(parents=True, exist_ok=True)
        for name in only:
            rc, seconds, output = run_script(name, flags.get(name, DEFAULT_FLAGS.get(name, [])), logs)
            if rc is None:
                notes.append(f"{name}: {SCRIPTS[name]} is not there (not written yet): no targets")
                continue
            found, bad = targets_in(output, name)
            targets += found
            notes.append(f"{name}: exit code {rc}, {seconds:.0f} s, {len(found)} target(s)"
                         + ("" if rc == 0 else f" (see {logs / (name + '.log')})"))
            notes += [f"{name}: unparsed TARGET line: {line}" for line in bad]

    print()
    print(table(targets, markdown=args.markdown) if targets else "no TARGET lines")
    met = sum(t.met for t in targets)
    print(f"\n{met} of {len(targets)} targets met")
    for note in notes:
        print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
