"""Design analysis of a planned case survey: how often the verdict gets it right (DESIGN.md §5).

For each design point (the design with a number of alliances), :func:`run_power_study`
simulates ``sims`` case surveys from the design's truth (:func:`data.simulate`: shares or
effects, group SDs, raters, missing rate), fits the model, checks it with the verdict's
rule and gates (:func:`analysis.check_run`, without its sub-model parts) and counts:

- **correct**: the verdict names the side that truly dominates (the simulated survey's
  Pratt share difference ``d = s_I - s_O`` beyond the rope; the simulator realises the
  design's target share in every sample);
- **wrong side**: a "dominates" verdict for the other side, or any "dominates" verdict when
  no side truly dominates (``|d| <= rope``);
- **inconclusive**; **not trustworthy** (a diagnostic gate failed);

each as a proportion with its 95% Wilson interval (:meth:`scipy.stats.binomtest`), and the
expected width of the interpersonal share's interval (the toolkit's one interval,
:mod:`data.intervals`) with its Monte Carlo standard error. :func:`what_it_takes` reads the
smallest number of alliances reaching a target P(correct) off the design points by linear
interpolation.

Resumable by content
--------------------
Each simulation is one pure job (:class:`SimulationJob`, :func:`run_simulation`): a
function of (design point, codebook, model spec, sampling options, check settings, seed)
that returns a JSON-ready record. The record is stored in ``DIR/simulations/<key>.json``
(written atomically, :func:`data.files.atomic_write`), where ``key`` hashes all of those
inputs (:func:`simulation_key`). A rerun (after an interruption, or with more simulations or
design points) fits only the jobs whose record is missing, and the table is computed from the
records alone, so it comes out the same either way. Records of other settings in the same
folder are kept and ignored.

Jobs run on any :class:`concurrent.futures.Executor` (by default
:func:`models.jobs.open_executor`: a local process pool, or a Dask cluster given its
scheduler's address); the same job gives the same record (timing aside) on any of them,
since the simulation and the fit take their seeds from the job, and each worker compiles a
model once per array shapes. ``DIR`` must be new, empty, or a folder this command wrote earlier (it holds the
toolkit's marker and ``power.json``); nothing else in it is deleted or overwritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.codebook import SIDES, Codebook
from data.constants import SAMPLE_DIMS
from data.files import MARKER, OutputExistsError, atomic_dir, atomic_write, is_toolkit_dir, write_csv
from data.intervals import credible_interval, interval_label, interval_setting
from data.simulate import Design
from data.version import toolkit_version

from .figures import new_figure
from .verdict import DEFAULT_GATES, INTERORGANISATIONAL, INTERPERSONAL

logger = logging.getLogger(__name__)

__all__ = ["OUTCOMES", "PowerResult", "PowerStudy", "SimulationJob", "WhatItTakes", "plot_power",
           "power_table", "run_power_study", "run_simulation", "simulation_key", "what_it_takes"]

# How each simulation's verdict counts (columns of power.csv, in this order).
OUTCOMES = ("correct", "wrong_side", "inconclusive", "not_trustworthy")
OUTCOME_LABELS = {"correct": "correct decisive verdict", "wrong_side": "wrong-side verdict",
                  "inconclusive": "inconclusive", "not_trustworthy": "not trustworthy"}
NO_SIDE = "no side dominates"
# Probability of the binomial intervals of the proportions.
BINOMIAL_PROB = 0.95
RECORDS = "simulations"
STUDY_FILE = "power.json"
TABLE_FILE = "power.csv"
FIGURE_FILE = "power.png"
# Version of a simulation record; part of the key, so a changed record format refits
# (2: sampling extended within models.extend's budget, as `fit` does; sampler_runs).
RECORD_VERSION = 2


@dataclass(frozen=True)
class PowerStudy:
    """What a power study simulates, fits and checks.

    Attributes
    ----------
    design : data.Design
        The planned study and its truth; its ``alliances`` is replaced by each design point.
    alliances : tuple of int
        The design points: numbers of alliances (sorted, without repeats).
    sims : int
        Simulations per design point.
    codebook : data.Codebook
        Names, levels, sides and scales of the design's conditions and outcome.
    spec : models.ModelSpec
        The model fitted to each simulated survey; completed by :func:`models.check_spec` on
        a survey simulated from the design (:meth:`trial_survey`), before any fit.
    sampling : models.FitOptions
        Chains, draws, tuning, sampler; its ``seed`` is the study's base seed, from which
        every simulation's seed comes (:meth:`seed_of`).
    rope, threshold : float
        The verdict's region of practical equivalence and probability threshold.
    """

    design: Design
    alliances: tuple[int, ...]
    sims: int
    codebook: Codebook
    spec: object
    sampling: object
    rope: float = 0.05
    threshold: float = 0.95

    def __post_init__(self):
        problems = []
        alliances = tuple(sorted(set(int(a) for a in self.alliances)))
        object.__setattr__(self, "alliances", alliances)
        if not alliances:
            problems.append("give at least one number of alliances")
        if any(a < 2 for a in alliances):
            problems.append(f"every number of alliances must be at least 2, got {list(alliances)}")
        if not isinstance(self.sims, int) or self.sims < 1:
            problems.append(f"sims must be a whole number >= 1, got {self.sims!r}")
        if not 0.5 < self.threshold <= 1:
            problems.append(f"threshold must lie in (0.5, 1], got {self.threshold}")
        if not self.rope >= 0:
            problems.append(f"rope must be >= 0, got {self.rope}")
        self.design.check(self.codebook)
        sides = {self.codebook.conditions[c].side for c in self.design.conditions}
        lacking = [s for s in SIDES if s not in sides]
        if lacking:
            problems.append(f"the design has no {' and no '.join(lacking)} condition: the verdict "
                            "would be 'not applicable' in every simulation")
        problems += list(self.sampling.problems())
        if problems:
            raise ValueError("power study: " + "; ".join(problems))
        # the spec as check_spec completes it (so the API and the CLI store under the same
        # keys), checked on a simulated survey before any fit
        from models import check_spec

        object.__setattr__(self, "spec", check_spec(self.spec, self.trial_survey()))

    def trial_survey(self):
        """A survey simulated from the largest design point (seed 0), to check a model against."""
        from data import simulate

        return simulate(self.point(max(self.alliances)), self.codebook, seed=0).survey()

    def point(self, alliances: int) -> Design:
        """The design at one design point."""
        return dataclasses.replace(self.design, alliances=alliances)

    def seed_of(self, alliances: int, index: int) -> int:
        """Seed of simulation ``index`` at a design point (the data's and the fit's)."""
        state = np.random.SeedSequence([self.sampling.seed, alliances, index]).generate_state(1)
        return int(state[0])

    def jobs(self) -> list[SimulationJob]:
        """Every simulation's job, round-robin over the design points (a partial run covers all)."""
        from models.extend import DEFAULT_BUDGET

        prob, kind = interval_setting()
        extension = dataclasses.asdict(DEFAULT_BUDGET)
        sampling = {k: getattr(self.sampling, k) for k in ("chains", "draws", "tune", "sampler",
                                                           "target_accept")}
        out = []
        for index in range(self.sims):
            for alliances in self.alliances:
                out.append(SimulationJob(
                    alliances=alliances, index=index, seed=self.seed_of(alliances, index),
                    design=self.point(alliances), codebook=self.codebook, spec=self.spec,
                    sampling=sampling, rope=self.rope, threshold=self.threshold,
                    interval=(prob, kind), extension=extension))
        return out

    def to_dict(self) -> dict:
        """JSON-ready description (``power.json``)."""
        return {"design": self.design.to_dict(), "alliances": list(self.alliances), "sims": self.sims,
                "model": self.spec.to_dict(), "sampling": self.sampling.to_dict(),
                "rope": self.rope, "threshold": self.threshold,
                "gates": [g.label for g in DEFAULT_GATES], "interval": interval_label()}


@dataclass(frozen=True)
class SimulationJob:
    """One simulation of a power study: a pure, picklable job for any Executor.

    ``sampling`` holds chains, draws, tune, sampler and target_accept (the fit's seed is
    ``seed``); ``interval`` is the (probability, kind) of the share's interval;
    ``extension`` the fields of the :class:`models.extend.Budget` within which a fit that
    narrowly misses a gate is sampled longer, as ``fit`` and ``run`` do (None: never).
    """

    alliances: int
    index: int
    seed: int
    design: Design
    codebook: Codebook
    spec: object
    sampling: dict
    rope: float
    threshold: float
    interval: tuple[float, str]
    extension: dict | None = None

    @property
    def key(self) -> str:
        """The key its record is stored under (:func:`simulation_key`)."""
        return simulation_key(self)


def simulation_key(job: SimulationJob) -> str:
    """Hash of everything a simulation's result depends on.

    The design point (its truth included: shares or effects, group SDs, raters, missing
    rate), the codebook entries it uses, the model spec, the sampling options, the verdict's
    rope, threshold and gates, the share's interval, the budget of sampling extensions, and
    the seed.
    """
    used = [*job.design.conditions, job.design.outcome]
    content = {
        "record_version": RECORD_VERSION,
        "design": job.design.to_dict(),
        "codebook": job.codebook.restrict(used).to_dict(),
        "model": job.spec.to_dict(),
        "sampling": dict(job.sampling),
        "extension": job.extension,
        "checks": {"rope": job.rope, "threshold": job.threshold,
                   "gates": [dataclasses.astuple(g) for g in DEFAULT_GATES],
                   "interval": list(job.interval)},
        "seed": job.seed,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def run_simulation(job: SimulationJob) -> dict:
    """Simulate one survey, fit it, check it; return its JSON-ready record.

    A design with raters is fitted from its coding sheet with the rater model (as
    ``alliance-learning run --form coded`` would); otherwise from the wide data.
    """
    from data import load_coded, simulate
    from models import FitOptions, Run, RunConfig, check_spec
    from models.extend import SAMPLING_ATTR, Budget
    from models.jobs import FitJob, run_fit

    from .checks import check_run

    started = time.perf_counter()
    sim = simulate(job.design, job.codebook, seed=job.seed)
    if sim.coded is not None:
        with tempfile.TemporaryDirectory(prefix="alliance-learning-power-") as folder:
            sheet = Path(folder) / "sheet.csv"
            sim.coded.to_csv(sheet, index=False)
            survey = load_coded(sheet, sim.codebook).with_raters()
    else:
        survey = sim.survey()
    spec = check_spec(job.spec, survey)
    sampling = FitOptions(seed=job.seed, **job.sampling)
    # through models.jobs: one fit at a time per process, chains on the worker's cores
    extension = None if job.extension is None else Budget(
        **{**job.extension, "target_accepts": tuple(job.extension["target_accepts"])})
    tree = run_fit(FitJob(spec, survey, job.seed,
                          {**job.sampling, "predictive": False, "extension": extension}))
    runs = json.loads(tree.attrs.get(SAMPLING_ATTR, "{}")).get("attempts") or [None]
    run = Run(config=RunConfig(spec, sampling), survey=survey, tree=tree, summary={})
    checks = check_run(run, rope=job.rope, prob_threshold=job.threshold, dominance=False, loo=False,
                       sensitivity=False, ppc=False, progress=logger.debug)
    verdict = checks.verdict
    share = checks.decomposition["side_share"].sel(side=INTERPERSONAL)
    prob, kind = job.interval
    bounds = credible_interval(share, dim=SAMPLE_DIMS, prob=prob, kind=kind)
    lower, upper = (float(v) for v in np.asarray(bounds).ravel())
    true_share = float(sim.truth["shares"]["side"][INTERPERSONAL])
    true_other = float(sim.truth["shares"]["side"][INTERORGANISATIONAL])
    return {
        "key": job.key,
        "alliances": job.alliances,
        "index": job.index,
        "seed": job.seed,
        "true_share": true_share,
        "truth": true_side(true_share - true_other, job.rope),
        "verdict": verdict.verdict,
        "p_interpersonal_dominates": verdict.p_interpersonal_dominates,
        "p_interorganisational_dominates": verdict.p_interorganisational_dominates,
        "share_mean": float(share.mean()),
        "share_lower": lower,
        "share_upper": upper,
        "interval": interval_label(prob, kind),
        "failed_gates": [r.gate.label for r in verdict.gates if not r.passed],
        "sampler_runs": len(runs),  # more than 1: extended (models.extend)
        "diagnostics": {k: checks.diagnostics.get(k) for k in (
            "max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "min_bfmi")},
        "sizes": sim.truth["sizes"],
        "missing_codes": int(sum(sim.truth["missing"].values())),
        "seconds": round(time.perf_counter() - started, 2),
        "version": toolkit_version(),
    }


def true_side(difference: float, rope: float) -> str:
    """The verdict a perfect analysis would give for a true share difference ``d``."""
    if difference > rope:
        return "interpersonal dominates"
    if difference < -rope:
        return "interorganisational dominates"
    return NO_SIDE


def outcome_of(record: dict) -> str:
    """How one simulation counts (one of :data:`OUTCOMES`)."""
    verdict = record["verdict"]
    if verdict == "not trustworthy":
        return "not_trustworthy"
    if verdict == "inconclusive":
        return "inconclusive"
    if verdict == record["truth"]:
        return "correct"
    if verdict.endswith("dominates"):
        return "wrong_side"
    raise ValueError(f"simulation {record.get('key')}: unexpected verdict {verdict!r}")


# -- the table --------------------------------------------------------------------------------
def _wilson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=BINOMIAL_PROB, method="wilson")
    return float(ci.low), float(ci.high)


def power_table(records: Iterable[dict], alliances: Sequence[int] | None = None) -> pd.DataFrame:
    """One row per design point: the rate of each outcome with its Wilson interval, the share's width.

    Columns: ``alliances``, ``sims``, ``truth`` (the true verdict; several joined by " / "
    if the simulations differ), ``true_share`` (mean over the simulations), then for each of
    :data:`OUTCOMES` its count, ``p_<outcome>`` and ``p_<outcome>_lower/upper`` (95% Wilson),
    then ``width_mean`` and ``width_se`` (the interpersonal share's interval width: mean and
    Monte Carlo SE) and ``share_mean`` (mean posterior mean). The records' order does not
    matter.
    """
    frame = pd.DataFrame(list(records))
    points = sorted(set(frame["alliances"])) if alliances is None else list(alliances)
    rows = []
    for a in points:
        part = frame[frame["alliances"] == a].sort_values("index") if len(frame) else frame
        n = len(part)
        row = {"alliances": int(a), "sims": n}
        if n == 0:
            rows.append(row)
            continue
        row["truth"] = " / ".join(sorted(set(part["truth"])))
        row["true_share"] = float(part["true_share"].mean())
        outcome = part.apply(outcome_of, axis=1)
        for name in OUTCOMES:
            k = int((outcome == name).sum())
            low, high = _wilson(k, n)
            row.update({name: k, f"p_{name}": k / n, f"p_{name}_lower": low, f"p_{name}_upper": high})
        width = (part["share_upper"] - part["share_lower"]).to_numpy(float)
        row["width_mean"] = float(width.mean())
        row["width_se"] = float(width.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        row["share_mean"] = float(part["share_mean"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


# -- what would it take --------------------------------------------------------------------------
@dataclass(frozen=True)
class WhatItTakes:
    """The smallest number of alliances reaching ``target`` P(correct decisive verdict).

    ``status``: ``reached`` (interpolated between two design points), ``at smallest`` (the
    smallest design point reaches it already), ``not reached`` (no design point does),
    ``not applicable`` (no side truly dominates, so no verdict can be correct).
    ``alliances`` is None unless reached or at smallest; ``low``/``high`` are the same
    reading from the upper and lower bounds of the intervals (None where out of range).
    """

    target: float
    status: str
    alliances: int | None
    low: int | None
    high: int | None
    text: str

    def to_dict(self) -> dict:
        """Plain mapping."""
        return dataclasses.asdict(self)


def _crossing(x: Sequence[float], y: Sequence[float], target: float) -> tuple[str, float | None]:
    """Where ``y`` first reaches ``target`` along ``x`` (linear between points)."""
    for i, (xi, yi) in enumerate(zip(x, y)):
        if yi >= target:
            if i == 0:
                return "at smallest", float(xi)
            x0, y0 = x[i - 1], y[i - 1]
            return "reached", x0 + (target - y0) * (xi - x0) / (yi - y0)
    return "not reached", None


def what_it_takes(table: pd.DataFrame, target: float = 0.8) -> WhatItTakes:
    """Read the smallest number of alliances with P(correct decisive verdict) >= ``target``.

    Linear interpolation of the estimated proportions between neighbouring design points
    (the first crossing from below), rounded up to a whole alliance; the same reading of
    the interval bounds gives a range. Only the simulated range is read: below the
    smallest or above the largest design point the answer says so.
    """
    if not 0 < target < 1:
        raise ValueError(f"target power must lie in (0, 1), got {target}")
    table = table[table["sims"] > 0].sort_values("alliances")
    if table.empty:
        return WhatItTakes(target, "not reached", None, None, None, "no simulations yet")
    if (table["truth"] == NO_SIDE).all():
        return WhatItTakes(target, "not applicable", None, None, None,
                           "no side truly dominates in this design (shares within the rope), so "
                           "no verdict can be correct; read the wrong-side rate (false "
                           "'dominates' verdicts) instead")
    x = table["alliances"].to_list()
    status, value = _crossing(x, table["p_correct"].to_list(), target)
    _, optimistic = _crossing(x, table["p_correct_upper"].to_list(), target)
    _, pessimistic = _crossing(x, table["p_correct_lower"].to_list(), target)

    def whole(v):
        return None if v is None else int(math.ceil(v - 1e-9))

    low, high = whole(optimistic), whole(pessimistic)
    interval = f"{BINOMIAL_PROB:.0%}"
    if status == "not reached":
        best = table.iloc[table["p_correct"].to_numpy().argmax()]
        text = (f"P(correct decisive verdict) >= {target:g} is not reached within the design points "
                f"({x[0]}-{x[-1]} alliances; the highest is {best['p_correct']:.2f} at "
                f"{int(best['alliances'])}): simulate more alliances (or larger networks)")
        if low is not None:
            text += f"; by the upper {interval} bounds it could be reached from about {low}"
        return WhatItTakes(target, status, None, low, None, text)
    n = whole(value)
    if status == "at smallest":
        text = (f"P(correct decisive verdict) >= {target:g} is reached already at the smallest "
                f"design point, {x[0]} alliances ({table['p_correct'].iloc[0]:.2f}); fewer "
                "alliances were not simulated")
    else:
        text = (f"about {n} alliances reach P(correct decisive verdict) >= {target:g} "
                "(linear interpolation between the design points)")
    if high is None:
        text += (f"; by the {interval} intervals from {low} to beyond {x[-1]} (the lower bound does not "
                 "reach the target within the design points)")
    elif low != high:
        text += f"; by the {interval} intervals from {low} to {high}"
    return WhatItTakes(target, status, n, low, high, text)


# -- the figure ------------------------------------------------------------------------------------
def plot_power(table: pd.DataFrame, *, target: float | None = None):
    """Proportions of each outcome (with intervals) and the share's interval width, by alliances."""
    table = table[table["sims"] > 0].sort_values("alliances")
    fig = new_figure(9.0, 3.6)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    x = table["alliances"].to_numpy(float)
    markers = {"correct": "o", "wrong_side": "s", "inconclusive": "^", "not_trustworthy": "x"}
    # the four outcomes side by side at each design point, so that their intervals do not hide
    step = 0.012 * (x.max() - x.min() if len(x) > 1 else max(x.max(), 1.0))
    for i, name in enumerate(OUTCOMES):
        p = table[f"p_{name}"].to_numpy(float)
        err = np.vstack([p - table[f"p_{name}_lower"].to_numpy(float),
                         table[f"p_{name}_upper"].to_numpy(float) - p])
        left.errorbar(x + (i - 1.5) * step, p, yerr=err, marker=markers[name], capsize=3,
                      label=OUTCOME_LABELS[name])
    if target is not None:
        left.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    left.set_ylim(-0.02, 1.02)
    left.set_xlabel("alliances")
    left.set_ylabel("proportion of simulations")
    left.set_title(f"verdicts ({BINOMIAL_PROB:.0%} Wilson intervals)", fontsize="medium")
    left.legend(fontsize="small", loc="best")
    left.set_xticks(x)
    se = table["width_se"].fillna(0).to_numpy(float)
    right.errorbar(x, table["width_mean"].to_numpy(float), yerr=2 * se, marker="o", capsize=3)
    right.set_xlabel("alliances")
    right.set_ylabel("interval width")
    right.set_title("interpersonal share's interval\n(mean ± 2 Monte Carlo SE)", fontsize="medium")
    right.set_xticks(x)
    right.set_ylim(bottom=0)
    return fig


# -- the study folder ---------------------------------------------------------------------------
def open_study_dir(out: str | os.PathLike) -> Path:
    """Create ``out`` for a power study, or reopen one this toolkit wrote; return it made absolute.

    A new or empty folder gets the toolkit's marker; an existing folder must hold the
    marker and ``power.json`` (or nothing but the marker): anything else is refused, since
    the study adds files to it.
    """
    out = Path(os.path.abspath(out))
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out}: is a file, not a folder; choose another name")
    if not out.exists() or not any(out.iterdir()):
        with atomic_dir(out, replace=out.exists()):
            pass
    elif not (is_toolkit_dir(out) and ((out / STUDY_FILE).is_file()
                                       or {e.name for e in out.iterdir()} <= {MARKER, RECORDS})):
        raise OutputExistsError(
            f"--out {out}: exists and is not a power study's folder (it needs {MARKER} and "
            f"{STUDY_FILE}); its files are left alone: choose a new folder name")
    (out / RECORDS).mkdir(exist_ok=True)
    return out


def _record_path(out: Path, key: str) -> Path:
    return out / RECORDS / f"{key}.json"


def load_record(out: Path, key: str) -> dict | None:
    """The stored record of ``key``, None when there is none; a damaged one is an error."""
    path = _record_path(out, key)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("key") != key:
            raise ValueError("not the record of its key")
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: damaged or not written by this toolkit ({err}); move it away "
                         "and rerun to redo that simulation") from None
    return record


def save_record(out: Path, record: dict) -> Path:
    """Store a record under its key (atomically); an existing record is never replaced."""
    path = _record_path(out, record["key"])
    if path.exists():
        return path
    return atomic_write(path, json.dumps(record, indent=1, allow_nan=False, sort_keys=True) + "\n")


# -- the study ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerResult:
    """A finished (or resumed) power study.

    ``table`` is :func:`power_table`; ``answer`` :func:`what_it_takes`; ``fitted`` and
    ``reused`` count the simulations fitted now and found stored; ``paths`` name the files
    written (``table``, ``figure``, ``study``).
    """

    study: PowerStudy
    table: pd.DataFrame
    answer: WhatItTakes
    records: list[dict]
    fitted: int
    reused: int
    seconds: float
    paths: dict[str, Path]


def run_power_study(
    study: PowerStudy,
    out: str | os.PathLike,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    target: float = 0.8,
    on_result: Callable[[dict, bool], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> PowerResult:
    """Run (or resume) a power study in ``out`` and write its table and figure.

    Parameters
    ----------
    study : PowerStudy
    out : path
        The study's folder (:func:`open_study_dir`): ``simulations/`` (one record per
        simulation), ``power.json`` (the settings), ``power.csv`` and ``power.png``.
    executor : concurrent.futures.Executor, optional
        Runs the missing simulations. Default: :func:`models.jobs.open_executor` with
        ``workers`` and ``scheduler`` (a local pool, one worker per CPU by default, 1 runs
        them here one after the other; or the Dask cluster at ``scheduler``).
    target : float
        Target P(correct decisive verdict) of :func:`what_it_takes` and the figure.
    on_start : callable, optional
        Called once with (simulations stored already, simulations to fit).
    on_result : callable, optional
        Called with (record, fitted_now) for every simulation, stored ones first.

    A simulation that raises stops the study (the records stored so far stay); rerunning
    resumes it.
    """
    started = time.perf_counter()
    out = open_study_dir(out)
    atomic_write(out / STUDY_FILE, json.dumps(study.to_dict(), indent=2, sort_keys=True) + "\n")
    jobs = study.jobs()
    records: dict[str, dict] = {}
    missing = []
    for job in jobs:
        record = load_record(out, job.key)
        if record is None:
            missing.append(job)
        else:
            records[job.key] = record
    if on_start is not None:
        on_start(len(records), len(missing))
    for record in records.values():
        if on_result is not None:
            on_result(record, False)
    logger.info("power study in %s: %d simulation(s) stored, %d to fit", out, len(records), len(missing))

    def keep(record: dict) -> None:
        save_record(out, record)
        records[record["key"]] = record
        if on_result is not None:
            on_result(record, True)

    if missing and executor is None:
        from models.jobs import open_executor

        with open_executor(workers, scheduler) as opened:
            _run_on(opened, missing, keep)
    elif missing:
        _run_on(executor, missing, keep)

    ordered = [records[job.key] for job in jobs]
    table = power_table(ordered, study.alliances)
    answer = what_it_takes(table, target)
    paths = {"table": write_csv(out / TABLE_FILE, table), "study": out / STUDY_FILE}
    fig = plot_power(table, target=target)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    paths["figure"] = atomic_write(out / FIGURE_FILE, buffer.getvalue())
    return PowerResult(study=study, table=table, answer=answer, records=ordered,
                       fitted=len(missing), reused=len(jobs) - len(missing),
                       seconds=time.perf_counter() - started, paths=paths)


def _run_on(executor: Executor, jobs: list[SimulationJob], keep: Callable[[dict], None]) -> None:
    """Run the jobs on ``executor``, storing each record as soon as it finishes.

    Only a few jobs are in flight at a time (twice the executor's workers), so an executor
    that runs a job when it is submitted (in this process) stores each record before the
    next fit starts, and an interruption loses at most the fits in flight.
    """
    from models.jobs import worker_count

    window = 2 * worker_count(executor)
    waiting = iter(jobs)
    running: set = set()
    try:
        while True:
            while len(running) < window and (job := next(waiting, None)) is not None:
                running.add(executor.submit(run_simulation, job))
            if not running:
                return
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                keep(future.result())
    except BaseException:
        for future in running:
            future.cancel()
        raise
