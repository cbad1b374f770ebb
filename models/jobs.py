"""The executor seam of many-fit work: dominance sub-models, power studies, SBC, calibration.

A fit job is a pure function of (spec, data, sampling options, seed): :class:`FitJob` holds
the four and :func:`run_fit` fits it (:func:`models.fit`), the same draws wherever it runs.
Any :class:`concurrent.futures.Executor` runs jobs; :func:`open_executor` gives the two the
toolkit supports::

    from models.jobs import FitJob, open_executor, run_fit

    with open_executor(workers=2) as executor:            # or scheduler="tcp://host:8786"
        futures = [executor.submit(run_fit, FitJob(spec, survey, seed, {"draws": 500}))
                   for survey in surveys]
        trees = [f.result() for f in futures]

Code that fits many models takes an executor (or opens one with :func:`open_executor`) and
submits module-level functions of picklable arguments, such as :func:`run_fit` or a function
that calls it and keeps only what the caller needs (less to send back).

**The local pool** (default) is a :class:`~concurrent.futures.ProcessPoolExecutor`. Its
workers end with their parent, however it ends: each asks the kernel to kill it when the
parent dies (``prctl(PR_SET_PDEATHSIG)`` on Linux) and watches its parent's pid as a
fallback elsewhere; an interrupt or error inside the ``with`` block terminates the workers
instead of waiting for their fits. Workers ignore Ctrl-C (the terminal sends it to the
whole process group): the parent handles it. ``workers=1`` runs the jobs in this process,
one after the other, when they are submitted. Where the platform can fork (Linux) the
workers start at the first submit as copies of this process, so a model compiled here
before then (:func:`compile_model`) is compiled in every worker.

**A Dask cluster** (``scheduler`` = the scheduler's address) runs the jobs through
:meth:`distributed.Client.get_executor`. Start the workers from an environment with this
toolkit installed, for example ``dask worker tcp://host:8786 --nworkers 4 --nthreads 1``.
A worker process runs one fit at a time (:func:`models.fit` shares a compiled-model cache
and PyTensor's flags within a process), sampling its chains on as many threads as the
worker has.

**One compilation per worker.** :func:`models.fit` keeps the compiled models of a process
keyed by the model's structure (:func:`models.fit.compiled_model`): spec, array shapes,
coordinates. Pool and Dask workers are long-lived processes, so each compiles a given
model once, on its first job, and refits new data (another simulated survey, another
sub-model's ``condition_mask``) with nutpie's ``with_data`` after that.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitJob:
    """One fit: a pure function of its fields.

    Attributes
    ----------
    spec : models.ModelSpec
    survey : data.CaseSurvey
        The data.
    seed : int
    options : mapping
        Keyword arguments of :func:`models.fit` besides these (``chains``, ``draws``,
        ``tune``, ``sampler``, ``target_accept``, ``predictive``, ``active_conditions``...).
        Not ``cores``: how many chains run at once does not change the draws, so the worker
        sets it (:func:`worker_cores`).
    """

    spec: object
    survey: object
    seed: int
    options: Mapping = field(default_factory=dict)


def run_fit(job: FitJob):
    """Fit one job (in a worker or in this process); return :func:`models.fit`'s DataTree."""
    from .fit import fit

    options = dict(job.options)
    options.setdefault("progressbar", False)
    options.setdefault("cores", worker_cores())
    with _FIT_LOCK:
        return fit(job.spec, job.survey, seed=int(job.seed), **options)


# models.fit is not thread-safe (the compiled-model cache, PyTensor's global flags): one fit
# at a time per process, whichever executor's thread runs it
_FIT_LOCK = threading.Lock()
# chains sampled at once by a fit in this worker (set by the pool's initializer)
_CORES: int | None = None


def worker_cores() -> int | None:
    """Chains a fit in this process samples at once.

    A local pool worker: ``cpu_count // workers`` (set when the pool starts); a Dask worker:
    its number of threads; this process: None (:func:`models.fit`'s default, one per chain
    up to the CPU count).
    """
    if _CORES is not None:
        return _CORES
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return max(1, int(get_worker().state.nthreads))
    except ValueError:  # not in a Dask worker
        return None


def compile_model(spec, survey) -> None:
    """Compile the model of ``spec`` on ``survey`` in this process (or find it compiled).

    Before a local pool's first submit, every worker then inherits it (where it forks).
    """
    from .build import model_from_design
    from .design import make_design
    from .fit import compiled_model

    design = make_design(spec, survey)
    compiled_model(model_from_design(design), design)


def inherits_compilations(executor: Executor) -> bool:
    """Whether ``executor``'s workers are forked from this process and have not started yet
    (so what this process compiles now, they have compiled too).
    """
    if isinstance(executor, InlineExecutor):
        return True
    if not isinstance(executor, ProcessPoolExecutor) or getattr(executor, "_processes", None):
        return False
    context = getattr(executor, "_mp_context", None)
    return context is not None and context.get_start_method() == "fork"


def worker_count(executor: Executor) -> int:
    """How many jobs ``executor`` runs at once (Dask: the cluster's threads now)."""
    if isinstance(executor, InlineExecutor):
        return 1
    if isinstance(executor, ProcessPoolExecutor):
        return int(executor._max_workers)
    client = getattr(executor, "_client", None)
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return int(getattr(executor, "_max_workers", 1))


@contextlib.contextmanager
def open_executor(workers: int | None = None, scheduler: str | None = None) -> Iterator[Executor]:
    """Open the executor of many-fit work; close it, and end its workers, on leaving.

    Parameters
    ----------
    workers : int, optional
        Local pool: parallel worker processes (default: one per CPU); 1 runs the jobs in
        this process. Ignored with ``scheduler`` (the cluster has its workers).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``): the jobs run on its
        cluster (needs ``distributed``).

    Yields
    ------
    concurrent.futures.Executor
        On an exception (Ctrl-C included) inside the block, the local pool's workers are
        terminated and the Dask futures not yet done are cancelled.
    """
    if scheduler:
        with _dask_executor(scheduler) as executor:
            yield executor
        return
    cpu = os.cpu_count() or 1
    workers = cpu if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        with InlineExecutor() as executor:
            yield executor
        return
    fork = "fork" in multiprocessing.get_all_start_methods()
    pool = ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("fork" if fork else "spawn"),
                               initializer=_start_worker, initargs=(os.getpid(), max(1, cpu // workers)))
    try:
        yield pool
    except BaseException:
        _stop_pool(pool)  # an interrupt or a failed fit: do not wait for the other fits
        raise
    pool.shutdown()


@contextlib.contextmanager
def _dask_executor(address: str) -> Iterator[Executor]:
    client = _connect(address)
    try:
        # pure=False: every submit is a new task (job arguments are not hashed for reuse)
        executor = client.get_executor(pure=False)
        try:
            yield executor
        except BaseException:
            executor.shutdown(wait=False)  # cancels what has not finished
            raise
        executor.shutdown()
    finally:
        client.close()


def check_scheduler(address: str) -> None:
    """Raise ValueError unless a Dask scheduler answers at ``address`` (checked before work)."""
    _connect(address).close()


# how long to wait for a scheduler to answer
CONNECT_TIMEOUT = "10s"


def _connect(address: str):
    if not str(address).strip():  # Client("") would start a cluster of its own
        raise ValueError("--scheduler must name a Dask scheduler's address, e.g. tcp://host:8786")
    try:
        from distributed import Client
    except ImportError as err:  # a dependency, but a trimmed environment may lack it
        raise ValueError(f"--scheduler {address}: dask.distributed is not installed "
                         "(pip install distributed)") from err
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"--scheduler {address}: no Dask scheduler answered ({reason})") from None


class InlineExecutor(Executor):
    """Runs each job in this process when it is submitted (``workers=1``)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` now; its result or exception in a done future."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # Ctrl-C and other BaseExceptions propagate at once
            future.set_exception(err)
        return future


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


# -- the local pool's worker side ---------------------------------------------------------
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _start_worker(parent: int, cores: int) -> None:
    """Pool initializer: tie the worker's life to its parent's; set its fits' cores."""
    global _CORES
    _die_with_parent(parent)
    _CORES = cores


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
