"""Validation time and peak memory for a 1,000,000-row x 40-condition wide case survey.

The table is built in memory (seeded), with every code stored as a string, exactly as
``data.read_table`` returns a CSV file; the timed step is ``data.validate_frame`` (no file
reading). With ``--csv`` the table is also written to a temporary CSV file and
``data.validate_file`` (reading + validation) is timed as well.

A few problems are planted so that the error paths run too; the script checks that each
is reported. Peak memory is the process's peak resident set size (``ru_maxrss``), which
includes the table itself: it bounds what validation needs.

Run::

    .venv/bin/python tests/benchmarks/validate_large.py [--rows 1000000] [--seed 1] [--csv]

Target (issue 2): under 30 s and under 4 GiB on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from data import Codebook, validate_file, validate_frame

LEVEL_SIZES = {"individual": 13, "network": 7, "organisation": 10, "alliance": 10}  # 40 conditions


def benchmark_codebook() -> Codebook:
    """40 conditions spread over the four levels as in the default codebook, 3 outcomes."""
    conditions = {}
    for level, n in LEVEL_SIZES.items():
        for i in range(n):
            scale = "likert-5"
            if i == 0 and level in ("network", "organisation"):
                scale = "count"  # group_size, organisation_size
            elif i == 1:
                scale = "binary"
            elif i == 2 and level == "individual":
                scale = "likert-7"
            conditions[f"{level[:3]}_{i:02d}"] = {"level": level, "scale": scale}
    outcomes = {"individual_learning": {"scale": "likert-5"},
                "organisational_learning": {"scale": "likert-5"},
                "collective_learning": {"scale": "likert-5", "level": "alliance"}}
    ids = {"individual": "respondent", "network": "network", "organisation": "organisation",
           "alliance": "alliance"}
    return Codebook.from_dict({"ids": ids, "conditions": conditions, "outcomes": outcomes},
                              source="<benchmark>")


def codes_as_strings(values: np.ndarray, missing: np.ndarray) -> pd.Series:
    """Integer codes written as the strings a CSV holds, empty (NaN) where missing."""
    text = values.astype(str).astype(object)
    text[missing] = None
    return pd.Series(pd.array(text, dtype="str"))


def build_table(n_rows: int, codebook: Codebook, seed: int, missing_rate: float = 0.05):
    """A nested survey: ~10 people per network, 10 networks and 5 organisations per alliance."""
    rng = np.random.default_rng(seed)
    n_networks = max(n_rows // 10, 2)
    n_alliances = max(n_networks // 10, 2)
    network = np.sort(rng.integers(0, n_networks, n_rows))
    alliance_of_network = np.arange(n_networks) * n_alliances // n_networks
    alliance = alliance_of_network[network]
    organisation = alliance * 5 + rng.integers(0, 5, n_rows)
    group_of = {"individual": np.arange(n_rows), "network": network,
                "organisation": organisation, "alliance": alliance}
    frame = {
        "respondent": pd.Series(pd.array(np.char.add("r", np.arange(n_rows).astype(str)), dtype="str")),
        "network": pd.Series(pd.array(np.char.add("n", network.astype(str)), dtype="str")),
        "organisation": pd.Series(pd.array(np.char.add("o", organisation.astype(str)), dtype="str")),
        "alliance": pd.Series(pd.array(np.char.add("a", alliance.astype(str)), dtype="str")),
    }
    for name in [*codebook.conditions, *codebook.outcomes]:
        var = codebook.variable(name)
        groups = group_of[var.level]
        n_groups = groups.max() + 1
        low, high = var.scale.bounds
        high = 12 if np.isinf(high) else high
        per_group = rng.integers(int(low), int(high) + 1, n_groups)
        if var.name in codebook.outcomes and var.scale.kind == "ordinal":
            per_group[: int(high)] = np.arange(1, int(high) + 1)  # every category observed
        missing = rng.random(n_groups) < missing_rate
        missing[: int(high)] = False
        frame[name] = codes_as_strings(per_group[groups], missing[groups])
    return pd.DataFrame(frame)


def plant_problems(frame: pd.DataFrame, codebook: Codebook, seed: int) -> set[tuple[str, int, str]]:
    """Plant one problem of each kind; return (rule, row number, column) of each."""
    rng = np.random.default_rng(seed + 1)
    rows = rng.choice(len(frame) // 2, size=6, replace=False) * 2  # distinct, far apart
    ind = codebook.conditions_at("individual")[0]
    net = codebook.conditions_at("network")[1]
    planted = set()
    frame.loc[rows[0], ind] = "9"
    planted.add(("out-of-scale", rows[0] + 1, ind))
    frame.loc[rows[1], ind] = "high"
    planted.add(("non-numeric", rows[1] + 1, ind))
    frame.loc[rows[2], ind] = "2.5"
    planted.add(("not-integer", rows[2] + 1, ind))
    frame.loc[rows[3], "respondent"] = np.nan
    planted.add(("missing-id", rows[3] + 1, "respondent"))
    frame.loc[rows[4] + 1, "respondent"] = frame.loc[rows[4], "respondent"]
    frame.loc[rows[4] + 1, "network"] = frame.loc[rows[4], "network"]
    planted.add(("duplicate-id", rows[4] + 2, "respondent"))
    # a different value on one row of a network (chosen where the network has other rows)
    target = frame.loc[rows[5], "network"]
    members = np.flatnonzero((frame["network"] == target).to_numpy())
    values = pd.to_numeric(frame.loc[members, net])
    if members.size > 2 and values.notna().all():
        frame.loc[members[-1], net] = str(1 - int(values.iloc[0]))  # binary: flip it
        planted.add(("varies-in-group", members[-1] + 1, net))
    return planted


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--csv", action="store_true", help="also time validate_file on a temp CSV")
    args = parser.parse_args(argv)

    codebook = benchmark_codebook()
    started = time.perf_counter()
    frame = build_table(args.rows, codebook, args.seed)
    planted = plant_problems(frame, codebook, args.seed)
    print(f"built {len(frame):,} rows x {len(codebook.conditions)} conditions + "
          f"{len(codebook.outcomes)} outcomes + 4 IDs (strings, as read from CSV) in "
          f"{time.perf_counter() - started:.1f} s; {len(planted)} problems planted")
    rss_before = peak_rss_mib()

    started = time.perf_counter()
    report = validate_frame(frame, codebook, file="<in-memory>")
    seconds = time.perf_counter() - started
    found = {(p.rule, p.row, p.column) for p in report.problems}
    print(f"validate_frame (in memory): {seconds:.1f} s; peak RSS {peak_rss_mib():,.0f} MiB "
          f"(table built: {rss_before:,.0f} MiB); {len(report.errors)} errors, "
          f"{len(report.warnings)} warnings; planted found: {len(planted & found)}/{len(planted)}")
    if planted - found:
        print("NOT FOUND:", sorted(planted - found), file=sys.stderr)
        print(report, file=sys.stderr)
        return 1

    if args.csv:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "large.csv"
            started = time.perf_counter()
            frame.to_csv(path, index=False)
            print(f"wrote {path.stat().st_size / 2**20:,.0f} MiB CSV in {time.perf_counter() - started:.1f} s")
            del frame
            started = time.perf_counter()
            report = validate_file(path, codebook)
            seconds = time.perf_counter() - started
            print(f"validate_file (read CSV + validate): {seconds:.1f} s; peak RSS "
                  f"{peak_rss_mib():,.0f} MiB; {len(report.errors)} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
