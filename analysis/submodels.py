"""Sub-models of a run: the run's model with some conditions left out, fitted in parallel.

The dominance analysis (every subset of the level groups) and the predictive comparison
(interpersonal-only, interorganisational-only and null models) need the run's model refitted
with fewer conditions. Each sub-model is the run's spec and data with the left-out
conditions masked (``models.fit(..., active_conditions=...)``): the same compiled graph
with another ``condition_mask`` data container, so no sub-model recompiles. Group effects,
priors and sampling options stay those of the run. With independent priors on the effects
this is exactly the model fitted without those conditions (their effects and imputed codes
are then drawn from their priors, informed by nothing); with a shrinkage prior
(horseshoe, R2D2M2) the sub-model keeps the run's joint prior over all conditions, whose
global scale was set for the full set.

Each sub-model is one :class:`models.jobs.FitJob` (spec, data, sampling options, seed), so
any :class:`concurrent.futures.Executor` fits them: the local process pool of
:func:`models.jobs.open_executor` by default (workers that die with the parent, one
compilation per worker; where the platform can fork, the model is compiled here before the
workers start and every worker inherits it), or a Dask cluster (``scheduler``: the
address of its scheduler; ``check --scheduler``). A sub-model's seed comes from the run's
seed and its conditions (:func:`submodel_seed`), so the same sub-model gets the same draws
whichever executor fits it and in whatever order.

The worker reduces each fit to what the analyses read (:func:`_fit_one`) before sending it
back.

How long each sub-model samples (:func:`submodel_sampling`): the run's chains and sampler,
at most :data:`SUBMODEL_TUNE` tuning steps, and only as many draws as the sub-model's own
ESS gates need, estimated from the run's ESS per draw (of the same variables) with a
margin (:data:`ESS_MARGIN`; a sub-model has the run's group structure and fewer
conditions). Which variables a sub-model's gates are judged on follows from its use:

- a sub-model of the predictive comparison (``log_likelihood``) is used whole: its gates
  are the run's, on every variable, and :func:`models.fit` extends it when it misses one
  narrowly (:mod:`models.extend`), as it does a run;
- a sub-model of the dominance analysis gives one quantity, its R^2 of the fixed part
  (:func:`analysis.dominance.fixed_r2`): its R-hat and ESS gates are judged on the draws of
  that R^2, with divergences and E-BFMI of the whole fit (:func:`r2_diagnostics`); when
  its R^2 misses a gate narrowly the worker samples it again, longer, by the rule and
  within the budget of :mod:`models.extend` (:func:`_until_r2_trusted`; its gates are then
  reported with the analysis, not enforced, and the kept fit's sampling record lists the
  runs, as a run's does; :func:`kept_sampling` gives the draws and extensions the report
  shows). Its group SDs, which its R^2 does not use, mix slowest: on the example survey the
  run's ESS per draw was 0.12 for the slowest variable (a group SD) and 0.62 for the R^2, so
  the R^2 needs about a fifth of the draws; the R^2 of sub-models with the alliance
  conditions mixed about three times slower than the run's (4 of 14 needed an extension).

The dominance analysis pairs draws after thinning every fit to a common size
(:func:`analysis.dominance.paired_draws`).
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

from .verdict import sampling_diagnostics

logger = logging.getLogger(__name__)

# Posterior variables a sub-model fit keeps when only its R^2 is needed (contributions of
# the conditions and the residual); the group effects are dropped to keep transfers small.
_R2_VARIABLES = ("b", "sigma")
_R2_PREFIXES = ("x_missing_", "sd_")


def kept_sampling(tree: xr.DataTree, record: dict | None = None) -> dict:
    """How long a kept fit sampled, for a sub-model's row in checks.json and the report.

    ``draws``: draws per chain it kept; ``extensions``: extra runs of the sampler
    :mod:`models.extend`'s rule gave it (0: none; None: the fit has no sampling record).
    ``record``: the fit's sampling record when held elsewhere (a run's summary.json);
    default the tree's own (:func:`models.extend.sampling_record`).
    """
    from models.extend import sampling_record

    record = record or sampling_record(tree)
    return {"draws": int(tree["posterior"].sizes["draw"]),
            "extensions": None if not record else len(record.get("attempts") or [None]) - 1}


def r2_diagnostics(tree: xr.DataTree, r2: xr.DataArray | None = None) -> dict:
    """:func:`analysis.sampling_diagnostics` of a fit's R^2 of the fixed part.

    R-hat and ESS of the draws of :func:`analysis.dominance.fixed_r2` (the one quantity a
    dominance sub-model gives; ``r2`` when already computed), divergences and E-BFMI of the
    whole fit.
    """
    from .dominance import fixed_r2

    r2 = fixed_r2(tree) if r2 is None else r2
    gated = {"posterior": r2.to_dataset(name="r2")}
    if "sample_stats" in tree.children:
        gated["sample_stats"] = tree["sample_stats"].to_dataset()
    return sampling_diagnostics(xr.DataTree.from_dict(gated))


@dataclass(frozen=True)
class SubmodelFit:
    """One fitted sub-model.

    Attributes
    ----------
    conditions : tuple of str
        The conditions in its linear predictor (empty: group effects only).
    tree : xarray.DataTree
        The fit, reduced: ``posterior`` (with only ``b``, ``x_missing_*``, ``sd_*`` and
        ``sigma``), ``sample_stats``, ``constant_data`` and ``observed_data``.
    diagnostics : dict
        :func:`analysis.sampling_diagnostics` of every variable for a fit with the
        log-likelihood; :func:`r2_diagnostics` otherwise (see the module docstring).
    seed : int
    seconds : float
        Wall time of the fit (with its PSIS-LOO).
    loo : arviz_stats.ELPDDataLOO or None
        When the log-likelihood was asked for: the fit's PSIS-LOO with pointwise elpd and
        Pareto k, computed in the worker chunk by chunk of individuals
        (:func:`analysis.loo.summarise_log_likelihood`), so that draws x individuals is
        neither held whole nor sent back.
    """

    conditions: tuple[str, ...]
    tree: xr.DataTree
    diagnostics: dict
    seed: int
    seconds: float
    loo: object | None = None


# At most this many tuning steps per sub-model: nutpie's adaptation settles well within it on
# the example survey (tests/benchmarks/throughput.py); the run's own tuning is the default 1000.
SUBMODEL_TUNE = 400
# Sub-model draws aim at this multiple of the ESS gate, from the run's ESS per draw: the
# dominance sub-models' smallest ESS per draw ranged 0.5-1.5x the run's on the example survey.
ESS_MARGIN = 2.0
# and never fewer draws per chain than this
MIN_SUBMODEL_DRAWS = 200


def submodel_sampling(run, gates=None, *, r2: bool = False, full_r2: xr.DataArray | None = None) -> dict:
    """Sampling options of a run's sub-model fits: ``chains``, ``draws``, ``tune``, ...

    Draws per chain: enough for ``ESS_MARGIN`` times the largest ESS gate at the run's
    efficiency (its smallest bulk or tail ESS over its draws: of every variable, or with
    ``r2`` of its R^2 of the fixed part), between :data:`MIN_SUBMODEL_DRAWS` and the run's
    draws; tuning: the run's, at most :data:`SUBMODEL_TUNE`. Chains, sampler and target
    acceptance are the run's. A run whose ESS is unknown gives its sub-models its own draws.
    ``full_r2``: the run's :func:`analysis.dominance.fixed_r2` when already computed.
    """
    from .verdict import DEFAULT_GATES, sampling_diagnostics

    sampling = run.config.sampling
    options = {"chains": sampling.chains, "draws": sampling.draws,
               "tune": min(sampling.tune, SUBMODEL_TUNE), "sampler": sampling.sampler,
               "target_accept": sampling.target_accept}
    gates = DEFAULT_GATES if gates is None else gates
    targets = [g.threshold * (sampling.chains if g.statistic.endswith("_per_chain") else 1)
               for g in gates if g.statistic.startswith(("min_ess_bulk", "min_ess_tail"))]
    if r2:
        diagnostics = r2_diagnostics(run.tree, full_r2)
    else:
        diagnostics = (getattr(run, "summary", None) or {}).get("diagnostics") or sampling_diagnostics(run.tree)
    ess = [diagnostics.get(k) for k in ("min_ess_bulk", "min_ess_tail")]
    kept = run.tree["posterior"].sizes["chain"] * run.tree["posterior"].sizes["draw"]
    if targets and all(e is not None and np.isfinite(e) and e > 0 for e in ess):
        per_draw = min(ess) / kept
        needed = int(np.ceil(ESS_MARGIN * max(targets) / per_draw / sampling.chains))
        options["draws"] = int(min(sampling.draws, max(MIN_SUBMODEL_DRAWS, needed)))
    return options


def submodel_seed(seed: int, conditions: Sequence[str]) -> int:
    """Return the seed of the sub-model with ``conditions`` (from the run seed and the set).

    The same sub-model gets the same seed whichever analysis asks for it and in whatever
    order the sub-models are fitted.
    """
    key = zlib.crc32("\n".join(sorted(conditions)).encode())
    return int(np.random.SeedSequence([seed, key]).generate_state(1)[0])


def fit_submodels(
    run,
    requests: Mapping[str, Sequence[str]],
    *,
    seed: int,
    log_likelihood: Collection[str] = (),
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    progress: Callable[[str], None] | None = None,
    full_r2: xr.DataArray | None = None,
) -> dict[str, SubmodelFit]:
    """Fit sub-models of a run, each with a subset of its conditions, in parallel.

    Parameters
    ----------
    run : models.Run
        A loaded or freshly saved run; its spec, data and sampling options are reused.
    requests : mapping of str to sequence of str
        Sub-model name to the conditions in its linear predictor. Names with the same set
        of conditions share one fit.
    seed : int
        Base seed; each sub-model's seed comes from it and its conditions
        (:func:`submodel_seed`).
    log_likelihood : collection of str
        Names whose fits also need PSIS-LOO (``SubmodelFit.loo``, computed in the worker).
    workers : int, optional
        Local pool: parallel processes; default ``min(cpu_count, number of fits)``. 1 fits
        in this process, one after the other.
    scheduler : str, optional
        Address of a Dask scheduler: fit on its cluster instead (``workers`` is ignored).
    executor : concurrent.futures.Executor, optional
        Fit with this executor (:func:`models.jobs.open_executor`) instead of opening one;
        ``workers`` and ``scheduler`` are then ignored.
    progress : callable, optional
        Called with one line per finished fit (default: logged at INFO level).
    full_r2 : xarray.DataArray, optional
        The run's :func:`analysis.dominance.fixed_r2`, when already computed (it sets the
        draws of the sub-models fitted for their R^2 only).

    Returns
    -------
    dict of str to SubmodelFit
        Keyed by the requested names.
    """
    from models.jobs import open_executor

    spec = run.spec
    known = set(spec.conditions or ())
    problems = [f"sub-model {name!r}: unknown condition(s) {sorted(set(c) - known)}"
                for name, c in requests.items() if set(c) - known]
    unknown = set(log_likelihood) - set(requests)
    if unknown:
        problems.append(f"log_likelihood names {sorted(unknown)} are not among the requests")
    if problems:
        raise ValueError("; ".join(problems))

    # one fit per distinct condition set, with the log-likelihood if any name needs it
    order = list(spec.conditions or ())
    tasks: dict[tuple[str, ...], bool] = {}
    for name, conditions in requests.items():
        key = tuple(c for c in order if c in set(conditions))
        tasks[key] = tasks.get(key, False) or name in log_likelihood
    if not tasks:
        return {}
    if executor is None:
        if workers is None and not scheduler:
            workers = min(os.cpu_count() or 1, len(tasks))
        with open_executor(workers=None if workers is None else max(1, min(int(workers), len(tasks))),
                           scheduler=scheduler) as executor:
            fitted = _fit_tasks(run, tasks, seed, executor, progress, full_r2)
    else:
        fitted = _fit_tasks(run, tasks, seed, executor, progress, full_r2)
    out = {}
    for name, conditions in requests.items():
        key = tuple(c for c in order if c in set(conditions))
        out[name] = fitted[key]
    return out


def submodel_jobs(run, tasks: Mapping[tuple[str, ...], bool], seed: int,
                  full_r2: xr.DataArray | None = None) -> dict:
    """The fit job of each sub-model: conditions -> (:class:`models.jobs.FitJob`, predictive).

    A sub-model with the log-likelihood (``predictive``) samples as
    :func:`submodel_sampling` gives for every variable and may be extended; one for its R^2
    only, as it gives for the R^2, without extension (module docstring).
    """
    from models.jobs import FitJob

    sampling = {}
    for predictive in sorted(set(tasks.values())):
        if predictive:
            sampling[True] = submodel_sampling(run)
        else:
            sampling[False] = {**submodel_sampling(run, r2=True, full_r2=full_r2), "extension": None}
    return {key: (FitJob(run.spec, run.survey, submodel_seed(seed, key),
                         {**sampling[predictive], "active_conditions": key, "predictive": False}),
                  predictive)
            for key, predictive in tasks.items()}


def _fit_tasks(run, tasks, seed: int, executor: Executor, progress,
               full_r2=None) -> dict[tuple[str, ...], SubmodelFit]:
    """Fit each distinct condition set with ``executor``; results keyed by the conditions."""
    from models.jobs import compile_model, inherits_compilations, worker_count

    say = progress or logger.info
    jobs = submodel_jobs(run, tasks, seed, full_r2)
    sizes = sorted({(job.options["chains"], job.options["draws"], job.options["tune"])
                    for job, _ in jobs.values()})
    say(f"fitting {len(jobs)} sub-model(s) with {min(worker_count(executor), len(jobs))} "
        f"worker(s), " + " or ".join(f"{c} chains x {d} draws after {t} tuning steps"
                                     for c, d, t in sizes))
    if run.config.sampling.sampler == "nutpie" and inherits_compilations(executor):
        compile_model(run.spec, run.survey)  # forked workers start with it compiled
    started = time.perf_counter()
    fitted: dict[tuple[str, ...], SubmodelFit] = {}
    futures = [executor.submit(_fit_one, job, predictive) for job, predictive in jobs.values()]
    for future in as_completed(futures):
        result = future.result()
        fitted[result.conditions] = result
        label = ", ".join(result.conditions) if result.conditions else "group effects only"
        say(f"  sub-model {len(fitted)}/{len(jobs)} done in {result.seconds:.0f} s "
            f"({len(result.conditions)} condition(s): {_shorten(label)})")
    say(f"sub-models fitted in {time.perf_counter() - started:.0f} s")
    return fitted


def _shorten(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# -- the worker side ------------------------------------------------------------------------
def _fit_one(job, predictive: bool) -> SubmodelFit:
    """Fit one sub-model in a worker (or in this process); return it reduced."""
    from models.garbage import free_dropped
    from models.jobs import run_fit

    started = time.perf_counter()
    tree = run_fit(job)
    # gated on what the sub-model is used for: all of it, or its R^2 (module docstring)
    if predictive:
        diagnostics = sampling_diagnostics(tree)
    else:
        tree, diagnostics = _until_r2_trusted(job, tree)
    loo = _loo_of(tree, job.spec, job.survey) if predictive else None
    reduced, size = _reduced(tree), tree.nbytes
    del tree  # the whole fit is not kept: freed before the next fit samples (models.garbage)
    free_dropped(size)
    return SubmodelFit(conditions=tuple(job.options["active_conditions"]),
                       tree=reduced, diagnostics=diagnostics, seed=job.seed,
                       seconds=time.perf_counter() - started, loo=loo)


def _until_r2_trusted(job, tree: xr.DataTree) -> tuple[xr.DataTree, dict]:
    """Refit a dominance sub-model longer while its R^2 misses a gate narrowly.

    :func:`models.extend.decide`'s rule and default budget on :func:`r2_diagnostics`; each
    refit is a new job (its seed from the sub-model's), so the result is the same wherever
    it runs. Returns the kept fit and its diagnostics; the kept fit's sampling record
    (:func:`models.extend.sampling_record`) is replaced by one of these runs, in the shape
    :func:`models.extend.sample_until_trusted` gives, judged on the R^2 (``judged_on``).
    """
    from dataclasses import replace

    from data.gates import DEFAULT_GATES, check_gates
    from models.extend import BUDGET_SPENT, DEFAULT_BUDGET, EXTENDED, NOT_EXTENDED, PASSED, Attempt, decide, with_record
    from models.jobs import run_fit

    options = dict(job.options)
    attempts = [Attempt(options["draws"], options["tune"], options["target_accept"], job.seed)]
    runs = [_attempt_entry(attempts[0])]
    while True:
        diagnostics = r2_diagnostics(tree)
        decision = decide(check_gates(diagnostics, DEFAULT_GATES), attempts,
                          chains=options["chains"], seed=job.seed)
        if decision.action != "extend":
            break
        runs.append(_attempt_entry(decision.next, attempts[-1], decision.why))
        attempts.append(decision.next)
        options.update(draws=decision.next.draws, tune=decision.next.tune,
                       target_accept=decision.next.target_accept)
        tree = run_fit(replace(job, seed=decision.next.seed, options=options))
    extended = len(attempts) > 1
    if decision.action == "accept":
        outcome = EXTENDED if extended else PASSED
    else:
        outcome = BUDGET_SPENT if extended else NOT_EXTENDED
    with_record(tree, {
        "asked": {"chains": options["chains"], **runs[0]},
        "budget": {**asdict(DEFAULT_BUDGET), "text": DEFAULT_BUDGET.describe()},
        "gates": [g.label for g in DEFAULT_GATES], "judged_on": "the sub-model's R^2",
        "attempts": runs, "outcome": outcome,
        "reason": decision.why if decision.action == "refuse" else None})
    return tree, diagnostics


def _attempt_entry(attempt, before=None, why: str | None = None) -> dict:
    """One run of a sub-model's sampling record; after the first, what changed and why."""
    entry = {"draws": attempt.draws, "tune": attempt.tune,
             "target_accept": attempt.target_accept, "seed": attempt.seed}
    if before is not None:
        changed = [f"{label} {getattr(before, name):g} -> {getattr(attempt, name):g}"
                   for name, label in (("draws", "draws"), ("tune", "tuning"),
                                       ("target_accept", "target acceptance"))
                   if getattr(before, name) != getattr(attempt, name)]
        entry.update(change=", ".join([*changed, "new seed"]), why=why)
    return entry


def _loo_of(tree: xr.DataTree, spec, survey):
    """PSIS-LOO of a sub-model's fit, its log-likelihood computed chunk by chunk of individuals."""
    from models import log_likelihood_chunks

    from .loo import relative_ess, summarise_log_likelihood

    chunks = log_likelihood_chunks(tree, spec, survey)
    return summarise_log_likelihood(chunks, reff=relative_ess(tree["posterior"].to_dataset())).loo


def _reduced(tree: xr.DataTree) -> xr.DataTree:
    """Keep the groups and variables the analyses read from a sub-model."""
    posterior = tree["posterior"].to_dataset()
    keep = [name for name in posterior.data_vars
            if name in _R2_VARIABLES or name.startswith(_R2_PREFIXES)]
    groups = {"posterior": posterior[keep]}
    names = ["sample_stats", "constant_data", "observed_data"]
    for name in names:
        if name in tree.children:
            groups[name] = tree[name].to_dataset()
    out = xr.DataTree.from_dict(groups)
    out.attrs.update(tree.attrs)
    return out
