"""Speed of the toolkit's fit next to PyMC's NUTS, a hand-written PyMC model and bambi.

Issue 3 ("Speed"): on simulated data of about 20,000 respondents in 2,000 networks and
400 alliances, 9 conditions over the four levels and a 5-category ordinal outcome, fit
4 chains x 1000 draws (1000 tuning steps) with

``toolkit``
    :func:`models.fit` with its defaults (nutpie, plus the prior and posterior predictive
    draws and the pointwise log-likelihood it stores for later checks);
``pymc``
    PyMC's own NUTS, ``pm.sample(nuts_sampler="pymc")``, of the model written by hand in
    :func:`handwritten_model` (standardised predictors, non-centred group intercepts,
    ``pm.OrderedLogistic``: the model a PyMC user would write);
``handwritten``
    PyMC's default ``pm.sample()`` (nutpie in PyMC 6) of the same hand-written model;
``bambi``
    bambi's default fit of ``y ~ x1 + ... + (1|network) + (1|organisation) + (1|alliance)``
    with ``family="cumulative"`` (bambi is optional: ``pip install bambi``).

Every fit runs in its own process, so that its peak memory (``ru_maxrss`` from
``os.wait4``) and its compile caches are its own. Each peer gets its own cache folder
(PyTensor's ``base_compiledir``, where PyTensor keeps its C and numba caches, and
``NUMBA_CACHE_DIR``): the *first* run starts from an empty folder (a cold compile cache,
as on a fresh install), the *later* run is a new process reusing that folder. nutpie
itself keeps no cache on disk: it compiles the PyTensor graph (numba caches the pieces
under ``base_compiledir/numba``) and then its own wrapper (``numba.cfunc``, never cached);
the toolkit writes that wrapper itself and caches it there too (:mod:`models.compiled`).
The runs are interleaved (first runs of all peers, then later runs of the peers named by
``--later``), and the load average of the machine is printed at the start and end of each
fit, because other work on the machine slows a fit down. Every peer samples on
``min(chains, CPUs)`` cores (PyMC's default would take 1 of the 2 here).

The reported min bulk ESS is over the parameters every peer reports: effects, cutpoints
(bambi: thresholds), group SDs and group intercepts (``z_*`` offsets and imputed values
left out). ESS/s divides it by the wall time of the whole fit call (compile included).
The targets are judged on the later runs and, separately, on the first runs.

Finally the toolkit fits about 200,000 respondents (10 times the design) without the
predictive draws (``predictive=False``) and with fewer draws (printed), to show time and
peak memory at that size.

Run::

    .venv/bin/python tests/benchmarks/speed.py --quick          # smoke run (~25 min on 2 busy cores)
    .venv/bin/python tests/benchmarks/speed.py                  # the issue's benchmark (hours)
    .venv/bin/python tests/benchmarks/speed.py --skip bambi --skip large --later toolkit,handwritten

See ``tests/benchmarks/README.md`` for every option and column.

Targets (issue 3): toolkit >= 3x PyMC's own NUTS in min-ESS/s, and no slower than the
default ``pm.sample()`` of the hand-written model.

``--issue15`` runs issue 15's targets instead (items 5 and 3, full-model part) and prints
them as ``TARGET | 15.5 | ...`` lines (RULES.md's benchmark protocol):

item 5
    at about 2,000 and 19,000 respondents (``--sizes``), for each seed (``--seeds``,
    default 1,2): the whole ``alliance-learning fit`` command (a new process, timed from its
    start to the run written: imports, validation, compile, sampling, predictive draws,
    writing) against the default ``pm.sample()`` (nutpie) of :func:`handwritten_model`
    timed in process (model building and ``pm.sample``, data in memory, imports not
    counted), 4 chains x 1000 draws (1000 tune) each, first run (empty compile cache) and
    later run (a new process with that cache). min-ESS/s is pooled over the seeds (the sum
    of the min bulk ESS over the sum of the wall times). Targets: >= 2x, first and later
    runs, at both sizes; >= 10x bambi (first runs, where bambi is installed);
item 3 (full-model part)
    ``alliance-learning demo`` with its defaults (no dominance analysis; 4 x 2000 draws,
    LOO and sensitivity), process start to report written, run twice: the second with the
    first's compile cache (warm). The issue's target, < 120 s, is for the whole job with the
    dominance analysis, whose sub-models are another helper's part.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PEERS = ("toolkit", "handwritten", "pymc", "bambi")
SKIPPABLE = (*PEERS, "large")
PEER_LABELS = {
    "toolkit": "toolkit models.fit (nutpie)",
    "pymc": "PyMC own NUTS, hand-written",
    "handwritten": "pm.sample() hand-written",
    "bambi": "bambi default fit",
    "large": "toolkit, large data",
}
# 9 conditions from the default codebook across the four levels
CONDITIONS = (
    "personal_contact", "peer_comparability", "voluntary_participation",  # individual
    "shared_interests", "joint_activity",                                 # network
    "receptivity", "absorptive_capacity",                                 # organisation
    "expected_payoff", "prior_cooperation",                               # alliance
)
OUTCOME = "individual_learning"
GROUP_LEVELS = ("network", "organisation", "alliance")
# 5 networks of ~10 respondents per alliance: 400 alliances give ~20,000 respondents
FULL = {"alliances": 400, "chains": 4, "draws": 1000, "tune": 1000}
QUICK = {"alliances": 40, "chains": 4, "draws": 300, "tune": 300}
LARGE_FACTOR = 10
LARGE_RUN = {"chains": 2, "draws": 200, "tune": 200}
QUICK_LARGE_RUN = {"chains": 2, "draws": 100, "tune": 100}


def design(alliances: int):
    """Return the simulation design: ``alliances`` alliances of 5 networks each."""
    from data.simulate import Design

    return Design(alliances=alliances, networks=(5, 5), people=(6, 15), conditions=CONDITIONS,
                  missing_rate=0.0, alliance_outcome=None)


def simulated(alliances: int, seed: int):
    """Simulate the benchmark's case survey (no missing codes)."""
    from data.simulate import simulate

    return simulate(design(alliances), seed=seed)


# -- the hand-written PyMC model ---------------------------------------------------------
def handwritten_model(frame):
    """Write the toolkit's likelihood plainly in PyMC (priors as the toolkit's defaults).

    Predictors are standardised over respondents' rows; ``compute_p=False`` keeps PyMC
    from storing every respondent's category probabilities per draw (about 3 GB here).
    """
    import pandas as pd
    import pymc as pm

    X = frame[list(CONDITIONS)].to_numpy(dtype=float)
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    y = frame[OUTCOME].to_numpy(dtype=int) - 1
    n_categories = int(y.max()) + 1
    index, coords = {}, {"condition": list(CONDITIONS), "cutpoint": list(range(n_categories - 1))}
    for level in GROUP_LEVELS:
        index[level], coords[level] = pd.factorize(frame[level])
    with pm.Model(coords=coords) as model:
        b = pm.Normal("b", 0.0, 1.0, dims="condition")
        eta = pm.math.dot(X, b)
        for level in GROUP_LEVELS:
            sd = pm.HalfNormal(f"sd_{level}", 1.0)
            z = pm.Normal(f"z_{level}", 0.0, 1.0, dims=level)
            u = pm.Deterministic(f"u_{level}", z * sd, dims=level)
            eta = eta + u[index[level]]
        cutpoints = pm.Normal("cutpoints", 0.0, 2.5, dims="cutpoint",
                              transform=pm.distributions.transforms.ordered,
                              initval=np.linspace(-2, 2, n_categories - 1))
        pm.OrderedLogistic("y", eta=eta, cutpoints=cutpoints, observed=y, compute_p=False)
    return model


def bambi_frame(frame):
    """Standardised predictors, string group IDs, ordered categorical outcome."""
    import pandas as pd

    data = pd.DataFrame({name: frame[name].astype(float) for name in CONDITIONS})
    data = (data - data.mean()) / data.std()
    for level in GROUP_LEVELS:
        data[level] = frame[level].astype(str).to_numpy()
    y = frame[OUTCOME].astype(int)
    data[OUTCOME] = pd.Categorical(y, categories=sorted(y.unique()), ordered=True)
    return data


BAMBI_FORMULA = (f"{OUTCOME} ~ {' + '.join(CONDITIONS)} + "
                 + " + ".join(f"(1|{level})" for level in GROUP_LEVELS))


# -- one fit, in a child process ---------------------------------------------------------
class PhaseTimer:
    """Wall time spent inside named library functions (patched on their modules)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, module, name: str, label: str):
        """Replace ``module.name`` by a wrapper that adds its time to ``label``."""
        original = getattr(module, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started

        setattr(module, name, timed)


def reported_parameters(posterior) -> list[str]:
    """Effects, cutpoints, group SDs and intercepts: what every peer reports."""
    skip = ("z_", "x_missing_", "hs_")
    return [name for name in posterior.data_vars
            if not name.startswith(skip) and not name.endswith("_offset")]


def min_ess_bulk(posterior) -> tuple[float, str]:
    """Smallest bulk ESS over the reported parameters, and the parameter it belongs to."""
    import arviz_stats as azs

    names = reported_parameters(posterior)
    ess = azs.ess(posterior[names], method="bulk")
    per_var = {name: float(np.nanmin(ess[name].values)) for name in names}
    worst = min(per_var, key=per_var.get)
    return per_var[worst], worst


def child(peer: str, args) -> dict:
    """Fit with one peer; return timings and diagnostics."""
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    import nutpie
    import pymc as pm

    import models

    timer = PhaseTimer()
    timer.wrap(nutpie, "compile_pymc_model", "compile")
    timer.wrap(nutpie, "sample", "sample")
    # the predictive step of models.fit (models.predictive, by the names fit imported)
    for name in ("prior_predictive", "posterior_predictive", "log_likelihood", "log_prior"):
        timer.wrap(sys.modules["models.fit"], name, "predictive")
    imported = time.perf_counter() - started

    sim = simulated(args.alliances, args.seed)
    run = {"chains": args.chains, "draws": args.draws, "tune": args.tune}
    # PyMC's default guesses half the CPUs are hyper-threads (1 core here); every peer gets
    # the cores the toolkit uses, so the comparison is of samplers, not of core counts
    cores = min(args.chains, os.cpu_count() or 1)
    survey = sim.survey()
    load_fit = os.getloadavg()[0]
    fit_started = time.perf_counter()
    if peer in ("toolkit", "large"):
        spec = models.ModelSpec(outcome=OUTCOME, conditions=CONDITIONS)
        tree = models.fit(spec, survey, seed=args.seed, progressbar=False,
                          predictive=peer == "toolkit", **run)
    elif peer in ("pymc", "handwritten"):
        sampler = {"nuts_sampler": "pymc"} if peer == "pymc" else {}  # else PyMC's default
        with handwritten_model(sim.data):
            tree = pm.sample(random_seed=args.seed, progressbar=False, cores=cores, **sampler, **run)
    elif peer == "bambi":
        import bambi

        model = bambi.Model(BAMBI_FORMULA, bambi_frame(sim.data), family="cumulative")
        tree = model.fit(random_seed=args.seed, progressbar=False, cores=cores, **run)
    else:
        raise ValueError(peer)
    wall = time.perf_counter() - fit_started
    load_end = os.getloadavg()[0]

    posterior = tree["posterior"].to_dataset()
    stats = tree["sample_stats"].to_dataset()
    import arviz_stats as azs

    ess, worst = min_ess_bulk(posterior)
    names = reported_parameters(posterior)
    rhat = azs.rhat(posterior[names])
    diverging = stats["diverging"] if "diverging" in stats else stats.get("divergences")
    return {
        "peer": peer, "respondents": int(len(sim.data)), "wall_s": wall, "import_s": imported,
        "phases": timer.seconds, "min_ess_bulk": ess, "worst": worst,
        "max_rhat": float(max(np.nanmax(rhat[n].values) for n in names)),
        "divergences": int(diverging.sum()) if diverging is not None else -1,
        "n_parameters": int(sum(posterior[n].isel(chain=0, draw=0).size for n in names)),
        "load": [load_start, load_fit, load_end], **run,
    }


# -- the parent: run the children, print the figures --------------------------------------
def run_child(peer: str, cache: Path, sizes: dict, seed: int, logdir: Path, tag: str) -> dict:
    """Run one fit in a fresh process using ``cache``; return its result and peak memory."""
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ,
               PYTENSOR_FLAGS=f"base_compiledir={cache / 'pytensor'}",
               NUMBA_CACHE_DIR=str(cache / "numba"),
               PYTHONWARNINGS="ignore")
    out = logdir / f"{peer}-{tag}.json"
    log = logdir / f"{peer}-{tag}.log"
    command = [sys.executable, __file__, "--child", peer, "--result", str(out), "--seed", str(seed),
               *[f"--{key}={value}" for key, value in sizes.items()]]
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    process_s = time.perf_counter() - started
    if process.returncode != 0 or not out.exists():
        tail = log.read_text().strip().splitlines()[-5:]
        return {"peer": peer, "error": f"exit {process.returncode}: " + " | ".join(tail)}
    result = json.loads(out.read_text())
    result["process_s"] = process_s
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB; the child's process tree
    return result


def print_row(label: str, run: str, r: dict) -> None:
    """Print one fit's figures (or why it failed) under :data:`HEADER`."""
    if "error" in r:
        print(f"  {label:<30} {run:<6} FAILED {r['error'][:300]}")
        return
    phases = r["phases"]
    compile_s = phases.get("compile")
    sample_s = phases.get("sample")
    predictive_s = phases.get("predictive")

    def cell(value):
        return f"{value:8.1f}" if value is not None else f"{'-':>8}"

    load = r["load"]
    print(f"  {label:<30} {run:<6} {r['wall_s']:8.1f} {cell(compile_s)} {cell(sample_s)} "
          f"{cell(predictive_s)} {r['min_ess_bulk']:8.0f} {r['min_ess_bulk'] / r['wall_s']:8.2f} "
          f"{r['max_rhat']:6.3f} {r['divergences']:5d} {r['peak_rss_mib']:8.0f}   "
          f"{load[1]:.2f}->{load[2]:.2f}  ({r['worst']})")


HEADER = (f"  {'peer':<30} {'run':<6} {'wall s':>8} {'compile':>8} {'sample':>8} {'predict':>8} "
          f"{'minESS':>8} {'ESS/s':>8} {'R-hat':>6} {'div':>5} {'RSS MiB':>8}   load 1-min start->end  (worst)")


def ratio_line(name: str, ours: dict, theirs: dict, target: float) -> None:
    """Print the min-ESS/s ratio of two fits and whether it meets ``target``."""
    if "error" in ours or "error" in theirs:
        print(f"  {name}: not available (a fit failed)")
        return
    ratio = (ours["min_ess_bulk"] / ours["wall_s"]) / (theirs["min_ess_bulk"] / theirs["wall_s"])
    wall = theirs["wall_s"] / ours["wall_s"]
    verdict = "MET" if ratio >= target else "NOT met"
    print(f"  {name}: {ratio:.2f}x in min-ESS/s ({wall:.2f}x in wall time); target >= {target:g}x: {verdict}")


# -- issue 15: items 5 and 3 (full-model part) --------------------------------------------
ISSUE15_SIZES = {2000: 42, 19000: 400}  # respondents (about) -> alliances of the design
ISSUE15_RUN = {"chains": 4, "draws": 1000, "tune": 1000}


def _cache_env(cache: Path) -> dict:
    cache.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache / 'pytensor'}",
                NUMBA_CACHE_DIR=str(cache / "numba"), PYTHONWARNINGS="ignore")


def run_command(command: list[str], cache: Path, log: Path) -> tuple[float, int, list[float]]:
    """Run ``command`` as a new process with its own compile cache; wall time from its start."""
    load = [os.getloadavg()[0]]
    started = time.perf_counter()
    with open(log, "w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=_cache_env(cache))
    wall = time.perf_counter() - started
    return wall, done.returncode, load + [os.getloadavg()[0]]


def toolkit_command(csv: Path, out: Path, seed: int, cache: Path, log: Path) -> dict:
    """The whole ``alliance-learning fit`` command on ``csv``; min ESS from the run it wrote."""
    import xarray as xr

    cli = Path(sys.executable).with_name("alliance-learning")
    command = [str(cli), "fit", str(csv), "--out", str(out), "--outcome", OUTCOME, "--seed", str(seed),
               *[f"--{k}={v}" for k, v in ISSUE15_RUN.items()], "--no-progress", "--force"]
    wall, code, load = run_command(command, cache, log)
    if code != 0:
        return {"error": f"exit {code}: " + " | ".join(log.read_text().strip().splitlines()[-3:])}
    with xr.open_datatree(out / "posterior.nc", engine="h5netcdf") as tree:
        posterior = tree["posterior"].to_dataset().load()
        diverging = int(tree["sample_stats"]["diverging"].sum())
    ess, worst = min_ess_bulk(posterior)
    return {"wall_s": wall, "min_ess_bulk": ess, "worst": worst, "divergences": diverging, "load": load}


def pooled(results: list[dict]) -> float | None:
    """min-ESS/s pooled over seeds: the sum of the min ESS over the sum of the wall times."""
    if not results or any("error" in r for r in results):
        return None
    return sum(r["min_ess_bulk"] for r in results) / sum(r["wall_s"] for r in results)


def target_line(item: str, what: str, figure: str, target: str, met: bool) -> None:
    print(f"TARGET | {item} | {what} | {figure} | {target} | {'met' if met else 'NOT met'}", flush=True)


def issue15(args, workdir: Path) -> int:
    """Issue 15 item 5 (and item 3's full-model part): print the TARGET lines."""
    seeds = [int(s) for s in args.seeds.split(",") if s]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    peers = ["toolkit", "handwritten"] + (["bambi"] if "bambi" not in args.skip else [])
    if "bambi" in peers:
        try:
            import bambi  # noqa: F401
        except ImportError:
            print("bambi: skipped (not installed; `.venv/bin/pip install bambi`, benchmark only)")
            peers.remove("bambi")
    print(f"issue 15 item 5: {ISSUE15_RUN['chains']} chains x {ISSUE15_RUN['draws']} draws "
          f"({ISSUE15_RUN['tune']} tune), seeds {seeds}; toolkit = the whole `alliance-learning fit` "
          "command (process start to run written); pm.sample() = model building + pm.sample in "
          "process (imports not counted); bambi = its fit in process; first = empty compile cache, "
          f"later = a new process with it; {os.cpu_count()} CPUs; workdir {workdir}", flush=True)
    print(f"  {'size':>7} {'seed':>4} {'peer':<12} {'run':<6} {'wall s':>8} {'minESS':>7} {'ESS/s':>7} "
          f"{'div':>4}  load start->end  (worst)", flush=True)
    results: dict = {}
    for size in sizes:
        alliances = ISSUE15_SIZES.get(size, max(1, round(size / 47.6)))
        for seed in seeds:
            sim = simulated(alliances, seed)
            n = len(sim.data)
            csv = workdir / f"survey-{size}-{seed}.csv"
            sim.data.to_csv(csv, index=False)
            del sim
            for run in ("first", "later"):
                for peer in peers:
                    if peer == "bambi" and run == "later":
                        continue
                    cache = workdir / "cache" / f"{peer}-{size}-{seed}"
                    if run == "first" and cache.exists():
                        shutil.rmtree(cache)
                    tag = f"{size}-{seed}-{run}"
                    if peer == "toolkit":
                        r = toolkit_command(csv, workdir / f"run-{tag}", seed, cache,
                                            workdir / f"toolkit-{tag}.log")
                    else:
                        r = run_child(peer, cache, {"alliances": alliances, **ISSUE15_RUN}, seed,
                                      workdir, tag)
                    r["respondents"] = n
                    results[(size, seed, peer, run)] = r
                    if "error" in r:
                        print(f"  {n:>7,} {seed:>4} {peer:<12} {run:<6} FAILED {r['error'][:200]}", flush=True)
                        continue
                    load = r["load"]
                    print(f"  {n:>7,} {seed:>4} {peer:<12} {run:<6} {r['wall_s']:8.1f} {r['min_ess_bulk']:7.0f} "
                          f"{r['min_ess_bulk'] / r['wall_s']:7.2f} {r['divergences']:4d}  "
                          f"{load[0]:.2f}->{load[-1]:.2f}  ({r['worst']})", flush=True)

    print()
    for size in sizes:
        n = [r["respondents"] for k, r in results.items() if k[0] == size]
        label = f"{min(n):,}-{max(n):,}" if min(n) != max(n) else f"{n[0]:,}"
        for run in ("first", "later"):
            ours = pooled([results[(size, s, "toolkit", run)] for s in seeds])
            theirs = pooled([results[(size, s, "handwritten", run)] for s in seeds])
            ratio = ours / theirs if ours and theirs else None
            target_line("15.5", f"min-ESS/s of the whole fit command vs default pm.sample() of the "
                        f"hand-written model, {label} respondents, {run} runs, seeds "
                        f"{','.join(map(str, seeds))} pooled",
                        f"{ratio:.2f}x" if ratio else "not measured (a fit failed)", ">= 2x",
                        bool(ratio and ratio >= 2))
        ours = pooled([results[(size, s, "toolkit", "first")] for s in seeds])
        if "bambi" in peers:
            theirs = pooled([results[(size, s, "bambi", "first")] for s in seeds])
            ratio = ours / theirs if ours and theirs else None
            figure = f"{ratio:.2f}x" if ratio else "not measured (a fit failed)"
        else:
            ratio, figure = None, "not measured (bambi not installed or skipped)"
        target_line("15.5", f"min-ESS/s of the whole fit command vs bambi's default fit, {label} "
                    f"respondents, first runs, seeds {','.join(map(str, seeds))} pooled",
                    figure, ">= 10x", bool(ratio and ratio >= 10))

    if "demo" not in args.skip:
        cli = Path(sys.executable).with_name("alliance-learning")
        cache = workdir / "cache" / "demo"
        walls = []
        for run in ("first", "later"):
            out = workdir / f"demo-{run}"
            wall, code, load = run_command([str(cli), "demo", "--out", str(out), "--force", "--no-progress"],
                                           cache, workdir / f"demo-{run}.log")
            walls.append(wall if code == 0 else None)
            print(f"  demo (defaults, no dominance) {run:<6} "
                  + (f"{wall:8.1f} s" if code == 0 else f"FAILED (exit {code}, see demo-{run}.log)")
                  + f"  load {load[0]:.2f}->{load[-1]:.2f}", flush=True)
        warm = walls[1]
        target_line("15.3", "demo's default job without dominance (full model + checks + report, warm "
                    "cache); the target is the whole job with the dominance analysis",
                    f"{warm:.0f} s" if warm else "not measured (failed)", "< 120 s", bool(warm and warm < 120))
    return 0


def main(argv=None) -> int:
    """Run the benchmark (or, with the hidden ``--child``, one fit of it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer draws (smoke run)")
    parser.add_argument("--skip", action="append", default=[], choices=(*SKIPPABLE, "demo"),
                        help="leave out a peer or the large-data fit (repeatable)")
    parser.add_argument("--later", default=",".join(PEERS),
                        help="peers to fit a second time with the compile cache of their first "
                             "run (comma-separated; '' for none; default: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for caches, logs and results (default: a new temporary one)")
    parser.add_argument("--alliances", type=int,
                        help="alliances of 5 networks (~50 respondents each); default 400 "
                             "(~20,000 respondents), 40 with --quick")
    parser.add_argument("--issue15", action="store_true",
                        help="issue 15's targets (item 5, item 3's full-model part) as TARGET lines")
    parser.add_argument("--sizes", default="2000,19000",
                        help="with --issue15: respondents, about (2000 and 19000: 42 and 400 alliances)")
    parser.add_argument("--seeds", default="1,2", help="with --issue15: seeds, pooled")
    # used by the child processes
    parser.add_argument("--child", choices=(*PEERS, "large"), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    for key in ("chains", "draws", "tune"):
        parser.add_argument(f"--{key}", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = child(args.child, args)
        args.result.write_text(json.dumps(result))
        return 0

    if args.issue15:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="alliance-speed15-"))
        workdir.mkdir(parents=True, exist_ok=True)
        return issue15(args, workdir)

    sizes = dict(QUICK if args.quick else FULL)
    if args.alliances:
        sizes["alliances"] = args.alliances
    large = {"alliances": sizes["alliances"] * LARGE_FACTOR,
             **(QUICK_LARGE_RUN if args.quick else LARGE_RUN)}
    peers = [p for p in PEERS if p not in args.skip]
    if "bambi" in peers:
        try:
            import bambi  # noqa: F401
        except ImportError:
            print("bambi: skipped (not installed; `.venv/bin/pip install bambi`, benchmark only)")
            peers.remove("bambi")
    unknown = {p for p in args.later.split(",") if p} - set(PEERS)
    if unknown:
        parser.error(f"--later: unknown peer(s) {', '.join(sorted(unknown))} (use {', '.join(PEERS)})")
    later = [p for p in peers if p in args.later.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="alliance-speed-"))
    workdir.mkdir(parents=True, exist_ok=True)

    sim = simulated(sizes["alliances"], args.seed)
    n_units = sim.truth["sizes"]
    print(f"data: {n_units['individual']:,} respondents, {n_units['network']:,} networks, "
          f"{n_units['organisation']:,} organisations, {n_units['alliance']:,} alliances; "
          f"{len(CONDITIONS)} conditions; ordinal outcome ({OUTCOME}); seed {args.seed}")
    print(f"fits: {sizes['chains']} chains x {sizes['draws']} draws ({sizes['tune']} tune) on "
          f"{min(sizes['chains'], os.cpu_count() or 1)} cores (every peer); {os.cpu_count()} CPUs; "
          f"workdir {workdir}")
    print("wall = the fit call, data in memory (compile, sampling and, for the toolkit, the "
          "predictive draws and log-likelihood); compile/sample/predict = time inside nutpie's "
          "compile and sample and the toolkit's predictive step ('-': not separable); "
          "ESS/s = min bulk ESS / wall; RSS = peak of the fit's process tree; "
          "load = 1-minute load average at the start and end of the fit", flush=True)
    del sim

    # interleaved: every peer's first run, then every peer's later run
    results: dict[str, dict[str, dict]] = {"first": {}, "later": {}}
    print("\n" + HEADER)
    for run, run_peers in (("first", peers), ("later", later)):
        for peer in run_peers:
            cache = workdir / "cache" / peer
            results[run][peer] = run_child(peer, cache, sizes, args.seed, workdir, run)
            print_row(PEER_LABELS[peer], run, results[run][peer])
            sys.stdout.flush()
    print("  (first = empty compile cache; later = a new process with the first run's cache)")

    for run in ("later", "first"):
        judged = results[run]
        if "toolkit" not in judged or len(judged) < 2:
            continue
        print(f"\ntargets, {run} runs ({'compile cache warm' if run == 'later' else 'cold compile cache'}):")
        if "pymc" in judged:
            ratio_line("toolkit vs PyMC's own NUTS", judged["toolkit"], judged["pymc"], 3.0)
        if "handwritten" in judged:
            ratio_line("toolkit vs pm.sample() of the hand-written model", judged["toolkit"],
                       judged["handwritten"], 1.0)
            ratio_line("toolkit vs pm.sample() of the hand-written model (stretch)",
                       judged["toolkit"], judged["handwritten"], 1.5)
        if "bambi" in judged:
            ratio_line("toolkit vs bambi's default fit", judged["toolkit"], judged["bambi"], 1.0)
        if "handwritten" in judged and "error" not in judged["toolkit"]:
            # what the stored predictive draws and log-densities cost, which no peer computes
            fit_only = dict(judged["toolkit"])
            fit_only["wall_s"] -= fit_only["phases"].get("predictive", 0.0)
            ratio_line("toolkit without its predictive step vs the hand-written model", fit_only,
                       judged["handwritten"], 1.0)

    if "large" not in args.skip:
        print(f"\nlarge data: {LARGE_FACTOR}x the alliances; toolkit fit with predictive=False and only "
              f"{large['chains']} chains x {large['draws']} draws ({large['tune']} tune) to bound "
              "the time; compile cache of the toolkit's runs above", flush=True)
        result = run_child("large", workdir / "cache" / "toolkit", large, args.seed, workdir, "large")
        if "error" in result:
            print(f"  FAILED {result['error'][:300]}")
        else:
            # the stored draws grow with chains x draws: what 4 x 1000 would add (float64)
            per_draw = result["n_parameters"] * 8 / 2**20
            print(f"  {result['respondents']:,} respondents, {result['n_parameters']:,} reported "
                  f"parameter values: wall {result['wall_s']:.0f} s (compile "
                  f"{result['phases'].get('compile', 0):.0f} s, sampling "
                  f"{result['phases'].get('sample', 0):.0f} s), peak RSS "
                  f"{result['peak_rss_mib']:,.0f} MiB, min bulk ESS {result['min_ess_bulk']:.0f}, "
                  f"max R-hat {result['max_rhat']:.3f}, {result['divergences']} divergences; "
                  f"load {result['load'][1]:.2f}->{result['load'][2]:.2f}")
            print(f"  stored draws of the reported parameters: {per_draw:.2f} MiB per draw, "
                  f"{per_draw * result['chains'] * result['draws']:,.0f} MiB here, "
                  f"{per_draw * 4 * 1000:,.0f} MiB for 4 chains x 1000 draws "
                  "(plus as much again for the z_ offsets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
