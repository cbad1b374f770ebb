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

Parallel fits run on a local process pool (:class:`concurrent.futures.ProcessPoolExecutor`).
Where the platform can fork (Linux), the model is compiled once in the parent before the
pool starts and every worker inherits that compilation; elsewhere each worker compiles once
on its first sub-model. Each fit gets ``cores = max(1, cpu_count // workers)`` threads for
its chains, so the machine is not oversubscribed.

Workers end with their parent, however it ends: each asks the kernel to kill it when the
parent dies (``prctl(PR_SET_PDEATHSIG)`` on Linux) and watches its parent's pid as a
fallback elsewhere; an interrupt or error in the parent terminates the pool's workers
instead of waiting for their fits. Workers ignore Ctrl-C (the terminal sends it to the
whole process group): the parent handles it.

A Dask cluster is not supported: dask is not a dependency of the toolkit.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .verdict import sampling_diagnostics

logger = logging.getLogger(__name__)

# Posterior variables a sub-model fit keeps when only its R^2 is needed (contributions of
# the conditions and the residual); the group effects are dropped to keep transfers small.
_R2_VARIABLES = ("b", "sigma")
_R2_PREFIXES = ("x_missing_", "sd_")


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
        :func:`analysis.sampling_diagnostics` of the full posterior.
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
    progress: Callable[[str], None] | None = None,
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
        Parallel processes; default ``min(cpu_count, number of fits)``. 1 fits in this
        process, one after the other.
    progress : callable, optional
        Called with one line per finished fit (default: logged at INFO level).

    Returns
    -------
    dict of str to SubmodelFit
        Keyed by the requested names.
    """
    say = progress or logger.info
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
    cpu = os.cpu_count() or 1
    workers = min(cpu, len(tasks)) if workers is None else max(1, min(int(workers), len(tasks)))
    cores = max(1, cpu // workers)
    sampling = run.config.sampling
    options = {"chains": sampling.chains, "draws": sampling.draws, "tune": sampling.tune,
               "sampler": sampling.sampler, "target_accept": sampling.target_accept,
               "cores": cores}
    say(f"fitting {len(tasks)} sub-model(s) with {workers} worker(s), "
        f"{sampling.chains} chains x {sampling.draws} draws each")

    started = time.perf_counter()
    fitted: dict[tuple[str, ...], SubmodelFit] = {}

    def record(result: SubmodelFit) -> None:
        fitted[result.conditions] = result
        label = ", ".join(result.conditions) if result.conditions else "group effects only"
        say(f"  sub-model {len(fitted)}/{len(tasks)} done in {result.seconds:.0f} s "
            f"({len(result.conditions)} condition(s): {_shorten(label)})")

    jobs = [(key, predictive, submodel_seed(seed, key)) for key, predictive in tasks.items()]
    if workers == 1:
        _init_worker(spec, run.survey, options)
        for job in jobs:
            record(_fit_one(*job))
    else:
        if sampling.sampler == "nutpie" and _can_fork():
            _compile_in_parent(spec, run.survey)  # inherited by the forked workers
        context = multiprocessing.get_context("fork" if _can_fork() else "spawn")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                   initializer=_start_worker,
                                   initargs=(os.getpid(), spec, run.survey, options))
        try:
            futures = [pool.submit(_fit_one, *job) for job in jobs]
            for future in as_completed(futures):
                record(future.result())
        except BaseException:
            _stop_pool(pool)  # an interrupt or a failed fit: do not wait for the other fits
            raise
        pool.shutdown()
    say(f"sub-models fitted in {time.perf_counter() - started:.0f} s")

    out = {}
    for name, conditions in requests.items():
        key = tuple(c for c in order if c in set(conditions))
        out[name] = fitted[key]
    return out


def _shorten(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _compile_in_parent(spec, survey) -> None:
    """Compile the run's model (or find it compiled) before the pool forks."""
    from models import make_design
    from models.build import model_from_design
    from models.fit import compiled_model

    design = make_design(spec, survey)
    compiled_model(model_from_design(design), design)


def _stop_pool(pool: ProcessPoolExecutor, timeout: float = 10.0) -> None:
    """Terminate a pool's workers now (their fits are lost) and reap them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(1.0)


# -- the worker side ------------------------------------------------------------------------
_WORKER: dict = {}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _start_worker(parent: int, spec, survey, options: dict) -> None:
    """Pool initializer: tie the worker's life to its parent's, then keep the fit's inputs."""
    _die_with_parent(parent)
    _init_worker(spec, survey, options)


def _die_with_parent(parent: int) -> None:
    """End this worker process when process ``parent`` ends (even by ``kill -9``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's inherited handler
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the watchdog below still works
            pass
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True).start()


def _watch_parent(parent: int, interval: float = 1.0) -> None:
    # an orphan is re-parented (to init or a subreaper), so its parent pid changes
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def _init_worker(spec, survey, options: dict) -> None:
    _WORKER.update(spec=spec, survey=survey, options=options)


def _fit_one(conditions: tuple[str, ...], predictive: bool, seed: int) -> SubmodelFit:
    """Fit one sub-model in a worker (or in this process); return it reduced."""
    from models import fit

    started = time.perf_counter()
    tree = fit(_WORKER["spec"], _WORKER["survey"], seed=seed, progressbar=False,
               predictive=False, active_conditions=conditions, **_WORKER["options"])
    diagnostics = sampling_diagnostics(tree)
    loo = _loo_of(tree) if predictive else None
    return SubmodelFit(conditions=tuple(conditions), tree=_reduced(tree),
                       diagnostics=diagnostics, seed=seed,
                       seconds=time.perf_counter() - started, loo=loo)


def _loo_of(tree: xr.DataTree):
    """PSIS-LOO of a sub-model's fit, its log-likelihood computed chunk by chunk of individuals."""
    from models import log_likelihood_chunks

    from .loo import relative_ess, summarise_log_likelihood

    chunks = log_likelihood_chunks(tree, _WORKER["spec"], _WORKER["survey"])
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
