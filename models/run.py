"""Run directories: the saved record of one fit, from which checks and reports are redone.

A run directory holds::

    posterior.nc     the fit's DataTree (posterior, sample_stats, prior, predictive draws,
                     log_prior, observed_data, constant_data), NetCDF (compressed but
                     the float64 draws: models.fit.netcdf_encoding); the
                     log-likelihood is recomputed on demand (models.fit.with_log_likelihood)
    summary.json     effects, group SDs, cutpoints or sigma, diagnostics, provenance
                     (schema below, version SCHEMA_VERSION)
    config.toml      the exact run config (model spec with its defaults resolved, sampling)
    codebook.toml    the codebook the data were read with
    data.parquet     the validated survey (wide, the user's column names), so that the run
                     rebuilds its model without the original file
    rater_codes.parquet  the raters' codes, when the model is the rater model (models.raters)

It is written to a temporary directory beside the target and renamed into place, so a run
directory is either complete or absent (:func:`data.files.atomic_dir`); it also holds the
toolkit's marker file ``.alliance-learning``. An existing run is never overwritten unless
``force=True``, and even then only a folder holding that marker (never one with other
files, the working folder or the folder of an input file).

A damaged run directory (a file missing, truncated or edited, JSON of the wrong shape, data
that no longer match the fit's fingerprint) raises :class:`RunError` naming the file and
what to do.

summary.json
------------
``effects``: keyed by condition, each with ``level``, ``side``, ``center`` and ``scale``
(the standardisation), ``binary`` and two blocks, ``per_sd`` (effect of one SD of the
condition at its level on the linear predictor) and ``per_unit`` (of one raw unit), each with
``mean``, ``sd``, ``lower`` and ``upper`` (the interval of :mod:`data.intervals`, by default
the 89% equal-tailed interval; ``interval`` names it). ``binary`` is true for a condition
whose observed codes are 0 and 1 only (:func:`is_binary`): one SD of a 0/1 code is no
meaningful step, so its ``per_sd`` is kept but best left aside; its ``per_unit`` is the
0 -> 1 contrast (the coefficient brms or bambi give a 0/1 predictor). ``effects_note`` says
so when a condition is binary.
``group_sd``: keyed by level, the SD of the group intercepts (same four numbers).
``slope_sd``: keyed by condition, SD between alliances of the varying slopes (if any).
``intercept``, ``cutpoints`` (keyed ``"1|2"``...) or ``sigma``, where the family has them.
``diagnostics``: ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences``,
``min_bfmi``, ``chains``, ``draws`` (of the kept run). ``sampling``: the runs of the
sampler, the first with the settings asked for and any extension after a narrow gate miss,
each with its settings, gate statistics, failed gates and why (:mod:`models.extend`).
``data``: counts per level, missing codes per condition, individuals left out for a missing
outcome. ``provenance``: data source, its SHA-256 and a content fingerprint, the config,
seed, sampler, package versions, schema version, command line and time of writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr

from data.constants import SAMPLE_DIMS
from data.errors import AllianceLearningError
from data.files import OutputExistsError, atomic_dir, check_output_dir
from data.intervals import credible_interval, interval_label
from data.jsonable import json_scalar

from .fit import SCHEMA_VERSION, for_storage, netcdf_encoding
from .spec import FitOptions, ModelSpec, RunConfig

logger = logging.getLogger(__name__)

RATER_CODES = "rater_codes.parquet"
FILES = ("posterior.nc", "summary.json", "config.toml", "codebook.toml", "data.parquet")
# What a run directory may hold besides FILES; a folder of these alone is a run directory
# written before the marker file existed, which --force may replace.
RUN_ENTRIES = (*FILES, RATER_CODES, "checks", "report.html", "reliability.csv")


class RunExistsError(AllianceLearningError, FileExistsError):
    """The run directory exists already (pass ``force=True`` / ``--force`` to replace it)."""


class RunError(AllianceLearningError, ValueError):
    """A run directory that cannot be loaded (missing or damaged file, other schema, ...)."""


@dataclass(frozen=True)
class Run:
    """A saved fit: its config, survey, DataTree and summary.

    Work on runs is done by functions of ``(run, ...)`` (checks, reports), not methods.
    """

    config: RunConfig
    survey: object
    tree: xr.DataTree
    summary: dict
    path: Path | None = None

    @property
    def spec(self) -> ModelSpec:
        """The model spec, defaults resolved."""
        return self.config.spec

    @property
    def coords(self) -> dict[str, list]:
        """Labels of the posterior's dimensions."""
        posterior = self.tree["posterior"]
        return {dim: list(posterior[dim].values) for dim in posterior.dims if dim not in SAMPLE_DIMS}

    def __str__(self) -> str:
        diag = self.summary.get("diagnostics", {})
        where = f" at {self.path}" if self.path else ""
        return (f"Run{where}: {self.spec.outcome} ({self.spec.family}), "
                f"{len(self.spec.conditions or ())} conditions, {diag.get('chains')} chains x "
                f"{diag.get('draws')} draws; max R-hat {diag.get('max_rhat')}, "
                f"{diag.get('divergences')} divergences")


# -- summary ----------------------------------------------------------------------------------
def _stats(da: xr.DataArray) -> dict[str, float | None]:
    interval = credible_interval(da, dim=SAMPLE_DIMS)
    return {
        "mean": json_scalar(da.mean(SAMPLE_DIMS)),
        "sd": json_scalar(da.std(SAMPLE_DIMS, ddof=1)),
        "lower": json_scalar(interval.sel(ci_bound="lower")),
        "upper": json_scalar(interval.sel(ci_bound="upper")),
    }


def diagnostics(tree: xr.DataTree, *, var_names=None) -> dict:
    """Convergence diagnostics of a fit (computed with arviz-stats).

    The one place they are computed: ``summary.json``, the analysis gates
    (:func:`analysis.verdict.sampling_diagnostics`) and the fit's own check for a narrow
    gate miss (:func:`models.extend.gate_statistics`) all use it.

    Parameters
    ----------
    tree : xarray.DataTree
        With a ``posterior`` group and, for divergences and E-BFMI, a ``sample_stats``
        group holding ``diverging`` and ``energy``.
    var_names : list of str, optional
        Posterior variables to check; default all.

    Returns
    -------
    dict
        ``max_rhat`` (rank-normalised split R-hat), ``min_ess_bulk``, ``min_ess_tail``
        over every posterior quantity, ``divergences`` (count), ``min_bfmi`` (E-BFMI, lowest
        chain), ``chains`` and ``draws``. Non-finite values (a constant variable gives 0/0)
        are ignored; a statistic the fit cannot give (none finite, no ``sample_stats``)
        is None. Computed once per process for the same draws (remembered by content).
    """
    posterior = tree["posterior"].to_dataset()
    if var_names is not None:
        posterior = posterior[list(var_names)]
    stats = tree["sample_stats"].to_dataset() if "sample_stats" in tree.children else None
    key = _draws_key(posterior, stats)
    if key not in _DIAGNOSTICS:
        if len(_DIAGNOSTICS) >= 8:
            _DIAGNOSTICS.pop(next(iter(_DIAGNOSTICS)))
        _DIAGNOSTICS[key] = _diagnostics(posterior, stats)
    return dict(_DIAGNOSTICS[key])


# A fit's gate check (models.extend) and its summary.json ask for the diagnostics of the
# same draws (and `run` asks again in its checks): remembered by the draws' content, so they
# are computed once per process (about 1 s of CPU at 2,000 respondents, 2 x 200 draws).
_DIAGNOSTICS: dict[bytes, dict] = {}


def _draws_key(posterior: xr.Dataset, stats: xr.Dataset | None) -> bytes:
    """A digest of everything :func:`diagnostics` reads: each variable's name and draws, with
    the sample dimensions first (the other dimensions' labels do not change the result).
    """
    digest = hashlib.blake2b(digest_size=20)
    groups = [("posterior", posterior)]
    if stats is not None:
        groups.append(("sample_stats", stats[[v for v in ("diverging", "energy") if v in stats]]))
    for group, ds in groups:
        for name, var in ds.data_vars.items():
            values = np.ascontiguousarray(var.transpose(*SAMPLE_DIMS, ..., missing_dims="ignore").values)
            digest.update(f"{group}/{name}:{values.dtype.str}{values.shape}".encode())
            digest.update(values.data)
    return digest.digest()


def _diagnostics(posterior: xr.Dataset, stats: xr.Dataset | None) -> dict:
    import arviz_stats as azs  # on first use: it (and scipy.stats) cost ~0.5 s CPU of `import models`

    def extreme(arrays, pick):
        values = np.concatenate([np.ravel(a) for a in arrays] or [np.array([])])
        values = values[np.isfinite(values)]
        return json_scalar(pick(values)) if values.size else None

    with np.errstate(invalid="ignore", divide="ignore"):
        rhat, ess_bulk, ess_tail = _rank_statistics(posterior)
    out = {
        "max_rhat": extreme(rhat, np.max),
        "min_ess_bulk": extreme(ess_bulk, np.min),
        "min_ess_tail": extreme(ess_tail, np.min),
        "divergences": None,
        "min_bfmi": None,
        "chains": int(posterior.sizes["chain"]),
        "draws": int(posterior.sizes["draw"]),
    }
    if stats is not None:
        if "diverging" in stats:
            out["divergences"] = int(stats["diverging"].sum())
        if "energy" in stats:
            try:
                bfmi = azs.bfmi(stats)  # a Dataset holding `energy` per chain
                out["min_bfmi"] = json_scalar(bfmi["energy"].min())
            except Exception as err:  # arviz-stats refuses too-short chains; report, don't fail
                logger.warning("E-BFMI not computed: %s", err)
    return out


def _rank_statistics(posterior: xr.Dataset) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Rank-normalised split R-hat, bulk ESS and tail ESS of every posterior quantity.

    arviz-stats' numbers (``rhat(method="rank")``, ``ess(method="bulk")``,
    ``ess(method="tail")``) to the last bit, faster.

    arviz-stats ranks each quantity's draws three times (R-hat's bulk and folded halves,
    then bulk ESS the bulk half again), one quantity at a time, with scipy's ``rankdata``
    (a stable sort, array-API checks) and ``norm.ppf``: two thirds of the diagnostics'
    time, about 2.5 s of CPU per gate check at 2,002 respondents, 4 x 2000 draws (858
    quantities). Here the split chains of all a variable's quantities are ranked at once,
    twice (average ranks do not depend on the sort; ``norm.ppf`` is ``ndtri`` inside (0, 1)),
    and the R-hat and ESS of the z-scores are arviz-stats' ``method="identity"`` ones,
    computed for a block of quantities at once (:func:`_rhat_identity`, :func:`_ess_identity`).
    The tail ESS's two quantiles of each quantity are taken at once too (``np.quantile``
    along the draws: the same order statistics and interpolation), then :func:`_ess_identity`
    of the split indicators (arviz-stats' ``method="tail"`` took a quantile per call:
    3.2 of 9.5 s of CPU per gate check at 19,000 respondents, 8,028 quantities).
    Where arviz-stats would treat the draws otherwise (NaN, fewer than 8 draws or 2 chains,
    not float64) it computes them itself. tests/models/test_run.py checks the equality.
    """
    from arviz_stats.base import array_stats
    from arviz_stats.validate import validate_ci_prob

    prob = validate_ci_prob(None)  # ess(method="tail")'s default: quantiles 1 - prob and prob
    probs = sorted((prob, 1 - prob))
    rhats, ess_bulk, ess_tail = [], [], []
    for var in posterior.data_vars.values():
        draws = np.asarray(var.transpose(..., *SAMPLE_DIMS).values)  # arviz's layout: sample dims last
        n_chains, n_draws = draws.shape[-2:]
        if draws.dtype != np.float64 or n_draws < 8 or n_chains < 2 or np.isnan(draws).any():
            rhats.append(np.asarray(array_stats.rhat(draws, method="rank")))
            ess_bulk.append(np.asarray(array_stats.ess(draws, method="bulk")))
            ess_tail.append(np.asarray(array_stats.ess(draws, method="tail", prob=prob)))
            continue
        # a block of quantities at a time: the ranking holds ~10 copies of what it ranks
        # (20,833 alliance effects x 8,000 draws: 1.3 GB a copy); two blocks at once in two
        # threads (numpy's sorts and FFTs release the GIL), each half the size one block had
        quantities = draws.reshape(-1, n_chains, n_draws)
        step = max(1, min(_RANK_BLOCK_VALUES // _RANK_THREADS // (n_chains * n_draws),
                          -(-len(quantities) // _RANK_THREADS)))
        blocks = [quantities[start:start + step] for start in range(0, len(quantities), step)]
        if len(blocks) == 1:
            parts = [_rank_block(blocks[0], probs)]
        else:
            with ThreadPoolExecutor(_RANK_THREADS) as pool:
                parts = list(pool.map(_rank_block_quietly, blocks, [probs] * len(blocks)))
        for out, i in ((rhats, 0), (ess_bulk, 1), (ess_tail, 2)):
            out.append(np.concatenate([part[i] for part in parts]).reshape(draws.shape[:-2]))
    return rhats, ess_bulk, ess_tail


# values (quantities x draws) ranked at once by _rank_statistics, in all its threads
# together (128 MB of float64)
_RANK_BLOCK_VALUES = 2**24
_RANK_THREADS = 2


def _rank_block_quietly(draws: np.ndarray, probs):
    """_rank_block in a worker thread, with the caller's ``np.errstate``.

    A worker thread does not inherit it: a constant quantity's 0 / 0 stays silent, as in
    the caller's thread.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return _rank_block(draws, probs)


def _rank_block(draws: np.ndarray, probs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-hat, bulk and tail ESS of a block of quantities (quantity, chain, draw), as _rank_statistics."""
    n_draws = draws.shape[-1]
    half = n_draws // 2

    def split(values):  # as arviz-stats' _split_chains
        return np.concatenate([values[..., :half], values[..., -half:]], axis=-2)

    rows = split(draws).reshape(len(draws), -1)
    bulk = _z_scores(rows).reshape(len(draws), -1, half)
    folded = _z_scores(np.abs(rows - np.median(rows, axis=1, keepdims=True))).reshape(bulk.shape)
    rhat_bulk, rhat_tail = _rhat_identity(bulk), _rhat_identity(folded)
    rhat = np.where(rhat_tail > rhat_bulk, rhat_tail, rhat_bulk)  # Python's max(bulk, tail)
    # tail ESS: the ESS of the split indicators `draws <= quantile`, the lower of the two
    quantiles = np.quantile(draws.reshape(len(draws), -1), probs, axis=1)
    low, high = (_ess_identity(split(draws <= q[:, None, None])) for q in quantiles)
    tail = np.where(high < low, high, low)  # Python's min(low, high)
    return rhat, _ess_identity(bulk), tail


# quantities whose ESS _ess_identity computes at once (their FFTs stay in the CPU's cache)
_ESS_BLOCK = 64


def _rhat_identity(blocks: np.ndarray) -> np.ndarray:
    """arviz-stats' ``rhat(method="identity")`` of each quantity of ``blocks``.

    ``blocks``: (quantity, chain, draw), no NaN, at least 2 chains and 4 draws. The same
    arithmetic on all at once: each mean and variance is over the last, contiguous axis,
    as arviz-stats' are.
    """
    blocks = np.ascontiguousarray(blocks, dtype=float)
    n = blocks.shape[-1]
    between = n * np.var(np.mean(blocks, axis=-1), axis=-1, ddof=1)
    within = np.mean(np.var(blocks, axis=-1, ddof=1), axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def _ess_identity(blocks: np.ndarray) -> np.ndarray:
    """arviz-stats' ``ess(method="identity")`` of each quantity of ``blocks``.

    ``blocks``: (quantity, chain, draw), no NaN, at least 4 draws; ``_ESS_BLOCK``
    quantities at a time.

    arviz-stats' ``_ess`` runs Geyer's initial positive and monotone sequences in Python,
    one quantity and one lag at a time: ~0.1 ms a quantity, 3 calls per quantity (bulk,
    two tail quantiles), 2.5 s of CPU per gate check at 19,000 respondents (8,028
    quantities). Here each step runs for every quantity still in its sequence at once, with
    the same arithmetic in the same order: every sum over chains is over a contiguous row
    (numpy's pairwise summation, as arviz-stats' sums over a column), the sums over lags
    one quantity at a time. tests/models/test_run.py checks the equality.
    """
    from scipy.fftpack import next_fast_len  # as arviz-stats' autocov

    blocks = np.asarray(blocks)
    out = np.empty(len(blocks))
    m, n = blocks.shape[-2:]
    size, total = next_fast_len(2 * n), m * n
    floor = 1 / np.log10(total)
    for start in range(0, len(blocks), _ESS_BLOCK):
        ary = np.ascontiguousarray(blocks[start:start + _ESS_BLOCK], dtype=float)
        q = len(ary)
        constant = (ary.max(axis=(1, 2)) - ary.min(axis=(1, 2))) < np.finfo(float).resolution
        transform = np.fft.rfft(ary - ary.mean(axis=-1, keepdims=True), n=size, axis=-1)
        transform *= np.conjugate(transform)
        acov = np.fft.irfft(transform, n=size, axis=-1)[..., :n]
        acov /= n
        lag_means = np.ascontiguousarray(np.swapaxes(acov, 1, 2)).mean(axis=-1)  # (quantity, lag)
        mean_var = lag_means[:, 0] * n / (n - 1.0)
        var_plus = mean_var * (n - 1.0) / n
        if m > 1:
            var_plus += np.var(ary.mean(axis=-1), axis=-1, ddof=1)
        rho_all = 1.0 - (mean_var[:, None] - lag_means) / var_plus[:, None]
        rho = np.zeros((q, n))
        rho[:, 0] = 1.0
        even, odd = np.ones(q), rho_all[:, 1].copy()
        rho[:, 1] = odd
        t = np.ones(q, dtype=np.int64)
        # Geyer's initial positive sequence: lags t + 1, t + 2 while the pairs' sums are positive
        active = np.flatnonzero((even + odd) > 0.0) if 1 < n - 3 else np.array([], dtype=np.int64)
        lag = 1
        while active.size:
            e, o = rho_all[active, lag + 1], rho_all[active, lag + 2]
            even[active], odd[active] = e, o
            keep = (e + o) >= 0
            rho[active[keep], lag + 1] = e[keep]
            rho[active[keep], lag + 2] = o[keep]
            lag += 2
            t[active] = lag
            active = active[((e + o) > 0.0)] if lag < n - 3 else active[:0]
        max_t = t - 2
        improve = np.flatnonzero(even > 0)
        rho[improve, max_t[improve] + 1] = even[improve]
        # Geyer's initial monotone sequence
        lag = 1
        active = np.flatnonzero(max_t - 2 >= lag)
        while active.size:
            left = rho[active, lag - 1] + rho[active, lag]
            change = (rho[active, lag + 1] + rho[active, lag + 2]) > left
            rows = active[change]
            rho[rows, lag + 1] = left[change] / 2.0
            rho[rows, lag + 2] = rho[rows, lag + 1]
            lag += 2
            active = active[max_t[active] - 2 >= lag]
        for i in range(q):
            if constant[i]:
                out[start + i] = total
                continue
            r, top = rho[i], max_t[i]
            tau = -1.0 + 2.0 * np.sum(r[:top + 1]) + np.sum(r[top + 1:top + 2])
            tau = max(tau, floor)
            out[start + i] = np.nan if np.isnan(r).any() else total / tau
    return out


def _z_scores(rows: np.ndarray, c: float = 3 / 8) -> np.ndarray:
    """arviz-stats' ``_z_scale`` of each row.

    The normal quantiles of its average ranks, Blom's offset ``c``. An average rank is a
    multiple of 1/2 in [1, n], so the quantile of each of those 2n - 1 values is computed
    once (the same arithmetic as per draw) and looked up by rank.
    """
    from scipy.special import ndtri

    n = rows.shape[1]
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    first = np.empty(rows.shape, dtype=bool)  # where each run of equal values starts
    first[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=first[:, 1:])
    table = ndtri(((np.arange(2 * n - 1) / 2 + 1) - c) / (n - 2 * c + 1))  # ranks 1, 1.5, ..., n
    # without ties the sorted row's j-th draw has rank j + 1 (table[2 j])
    values = np.broadcast_to(table[::2], rows.shape)
    tied = np.flatnonzero(~first)  # draws equal to the one before them in their sorted row (few)
    if tied.size:
        # runs of ties: from the draw before a run of consecutive `tied` positions to its last
        new_run = np.ones(tied.size, dtype=bool)
        np.not_equal(tied[1:], tied[:-1] + 1, out=new_run[1:])
        run_starts = tied[new_run] - 1
        counts = np.diff(np.append(np.flatnonzero(new_run), tied.size)) + 1
        # the run's average rank (start + 1) + (count - 1) / 2 sits at 2 (rank - 1) in the table
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)  # 0, 1, .. per run
        where = np.repeat(run_starts, counts) + offsets
        values = values.copy()
        values.flat[where] = np.repeat(table[2 * (run_starts % n) + (counts - 1)], counts)
    z = np.empty(rows.shape)
    np.put_along_axis(z, order, values, axis=1)
    return z


def summarize(tree: xr.DataTree, survey=None, *, config: RunConfig | None = None,
              command: str | None = None) -> dict:
    """The ``summary.json`` content of a fit (schema in this module's docstring)."""
    posterior = tree["posterior"]
    constant = tree["constant_data"]
    attrs = tree.attrs
    effects = {}
    if "b" in posterior:
        b = posterior["b"]
        for condition in b["condition"].values:
            condition = str(condition)
            per_model_unit = b.sel(condition=condition)
            scale = float(constant["condition_scale"].sel(condition=condition))
            center = float(constant["condition_center"].sel(condition=condition))
            sd_raw = raw_sd(constant, condition, scale)
            per_unit = per_model_unit / scale
            effects[condition] = {
                "level": str(constant["condition_level"].sel(condition=condition).values),
                "side": str(constant["condition_side"].sel(condition=condition).values),
                "center": center,
                "scale": scale,
                "binary": is_binary(constant, condition, scale, center),
                "per_sd": _stats(per_unit * sd_raw),
                "per_unit": _stats(per_unit),
            }
    group_sd = {name[3:]: _stats(posterior[name]) for name in posterior.data_vars
                if name.startswith("sd_") and name != "sd_slope"}
    out: dict = {
        "schema_version": SCHEMA_VERSION,
        "outcome": attrs.get("outcome"),
        "family": attrs.get("family"),
        "interval": interval_label() + " (lower to upper)",
        "effects": effects,
    }
    binary = [c for c, e in effects.items() if e["binary"]]
    if binary:
        out["effects_note"] = (f"binary (0/1) condition(s) {', '.join(binary)}: one SD of a 0/1 code is "
                               "no meaningful step; read per_unit, the 0 -> 1 contrast, not per_sd")
    out["group_sd"] = group_sd
    if "sd_slope" in posterior:
        out["slope_sd"] = {str(c): _stats(posterior["sd_slope"].sel(slope_condition=c))
                           for c in posterior["slope_condition"].values}
    if "intercept" in posterior:
        out["intercept"] = _stats(posterior["intercept"])
    if "cutpoints" in posterior:
        out["cutpoints"] = {str(c): _stats(posterior["cutpoints"].sel(cutpoint=c))
                            for c in posterior["cutpoint"].values}
    if "sigma" in posterior:
        out["sigma"] = _stats(posterior["sigma"])
    out["measurement"] = attrs.get("measurement", "observed")
    if "rater_severity" in posterior:
        from .raters import summarize_measurement, summarize_raters

        out["raters"] = summarize_raters(tree, _stats)
        out["rater_model"] = summarize_measurement(tree, _stats)
    out["diagnostics"] = diagnostics(tree)
    if attrs.get("sampling"):  # the runs of the sampler, and why (models.extend)
        out["sampling"] = json.loads(attrs["sampling"])
    out["data"] = {"n_missing_outcome": int(attrs.get("n_missing_outcome", 0))}
    if survey is not None:
        out["data"]["counts"] = {k: int(v) for k, v in survey.counts().items()}
        out["data"]["missing"] = {k: int(v) for k, v in survey.missing().items()}
    out["provenance"] = {
        "data_source": attrs.get("data_source"),
        "data_sha256": attrs.get("data_sha256"),
        "data_fingerprint": attrs.get("data_fingerprint"),
        "config": config.to_dict() if config is not None else None,
        "seed": attrs.get("seed"),
        "sampler": attrs.get("sampler"),
        "versions": json.loads(attrs.get("versions", "{}")),
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return out


def raw_sd(constant: xr.Dataset, condition: str, scale: float) -> float:
    """SD of a condition's raw codes over its level's units (``scale`` where it is undefined).

    ``constant`` is a fit's ``constant_data`` (standardised values, NaN where missing) and
    ``scale`` the condition's standardisation scale.
    """
    if "condition_raw_sd" in constant:  # a macro fit (models.macro): its X rows are alliance means
        return float(constant["condition_raw_sd"].sel(condition=condition))
    level = str(constant["condition_level"].sel(condition=condition).values)
    z = constant[f"X_{level}"].sel({f"{level}_condition": condition}).values
    observed = z[np.isfinite(z)]  # none for a rater model's latent true scores
    sd = float(np.std(observed * scale, ddof=1)) if observed.size > 1 else np.nan
    return sd if np.isfinite(sd) and sd > 0 else scale


def is_binary(constant: xr.Dataset, condition: str, scale: float, center: float) -> bool:
    """Whether a condition's observed raw codes are 0 and 1 and nothing else.

    The rule of :func:`analysis.effects.binary_codes`, whose readable effects contrast such a
    condition 0 -> 1. ``constant`` is a fit's ``constant_data``; a macro fit's latent alliance
    means are missing values there, so only its observed (alliance-level) codes count.
    """
    level = str(constant["condition_level"].sel(condition=condition).values)
    z = constant[f"X_{level}"].sel({f"{level}_condition": condition}).values
    codes = np.unique(np.round(z[np.isfinite(z)] * scale + center, 9))
    return codes.size == 2 and set(codes.tolist()) == {0.0, 1.0}


# -- saving and loading ------------------------------------------------------------------------
def save_run(path: str | Path, tree: xr.DataTree, survey, config: RunConfig, *,
             force: bool = False, command: str | None = None) -> Run:
    """Write a run directory atomically.

    Parameters
    ----------
    path : str or Path
        The run directory to create.
    tree : xarray.DataTree
        The result of :func:`models.fit`.
    survey : data.CaseSurvey
        The data the model was fitted to.
    config : RunConfig
        The config used (its spec is stored with defaults resolved).
    force : bool
        Replace an existing run directory.
    command : str, optional
        The command line, for the provenance record.

    Raises
    ------
    RunExistsError
        When ``path`` exists and ``force`` is false.
    """
    import tomli_w

    path = Path(path)
    target = check_run_target(path, force=force)
    spec = ModelSpec.from_dict(json.loads(tree.attrs["spec"]), "the fit's spec")
    config = RunConfig(spec=spec, sampling=config.sampling)
    summary = summarize(tree, survey, config=config, command=command)

    with atomic_dir(target, replace=force, own_names=RUN_ENTRIES) as staging:
        stored = for_storage(tree)  # the log-likelihood is recomputed on demand
        with _no_distributed_lookup():
            stored.to_netcdf(staging / "posterior.nc", engine="h5netcdf", encoding=netcdf_encoding(stored))
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n",
                                              encoding="utf-8")
        (staging / "config.toml").write_text(config.to_toml(), encoding="utf-8")
        (staging / "codebook.toml").write_text(tomli_w.dumps(survey.codebook.to_dict()), encoding="utf-8")
        survey.to_wide().to_parquet(staging / "data.parquet", index=False)
        if getattr(survey, "rater_codes", None) is not None and summary.get("measurement") == "raters":
            survey.rater_codes.to_parquet(staging / RATER_CODES, index=False)
    logger.info("run written to %s", path)
    return Run(config=config, survey=survey, tree=tree, summary=summary, path=path)


@contextlib.contextmanager
def _no_distributed_lookup():
    """Keep xarray's ``to_netcdf`` from importing ``distributed`` where nothing uses it.

    Every write asks which dask scheduler is active (``xarray.backends.locks.
    get_dask_scheduler`` and ``dask.base.get_scheduler``), and both import ``distributed``
    to look for a distributed ``Client``: about 0.25 s of CPU in a process that never used
    it (a `fit` command). A process that has not imported ``distributed`` has no
    ``Client``, so the answer is "no distributed scheduler" either way: during the write
    ``distributed`` and ``dask.distributed`` are marked absent (``None`` in
    ``sys.modules``: importing them raises ``ImportError``, which both callers catch) and
    the marks are removed after. Where ``distributed`` is imported (``--scheduler``, a
    worker) nothing changes.
    """
    import sys

    names = ("distributed", "dask.distributed")
    if any(name in sys.modules for name in names):
        yield
        return
    for name in names:
        sys.modules[name] = None
    try:
        yield
    finally:
        for name in names:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def check_run_target(path: str | Path, *, force: bool = False, inputs=(), option: str = "--out") -> Path:
    """Check, before any work, that a run directory may be written at ``path``; return it absolute.

    ``path`` must not exist, or (with ``force``) be a run directory this toolkit wrote that
    holds none of ``inputs`` (the command's input files); its nearest existing parent must be
    a writable folder (see :func:`data.files.check_output_dir`).

    Raises
    ------
    RunExistsError
        When ``path`` exists and ``force`` is false.
    data.files.LocationError
        When ``path`` cannot be written or may not be replaced, saying why and naming ``option``.
    """
    try:
        return check_output_dir(path, option=option, force=force, inputs=inputs, own_names=RUN_ENTRIES)
    except OutputExistsError as err:
        raise RunExistsError(str(err)) from None


def load_run(path: str | Path) -> Run:
    """Load a run directory written by :func:`save_run`.

    Raises
    ------
    RunError
        When a file is missing, damaged (unreadable, truncated, JSON or TOML of the wrong
        shape), the data no longer match the fit's fingerprint, or the run was written with
        another summary schema; the message names the file and what to do.
    """
    import pandas as pd

    from data import CaseSurvey, load_codebook

    from .spec import load_config

    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory")
    missing = [name for name in FILES if not (path / name).is_file()]
    if len(missing) == len(FILES):
        raise RunError(f"{path}: not a run directory (none of {', '.join(FILES)}); give the folder "
                       "that `fit`, `run` or `demo` wrote")
    if missing:
        raise RunError(f"{path}: not a complete run directory (missing {', '.join(missing)}); "
                       f"{_REFIT.format(path=path)}")
    summary = _read_summary(path / "summary.json")
    if summary.get("schema_version") != SCHEMA_VERSION:
        raise RunError(f"{path}: written with summary schema {summary.get('schema_version')}, "
                       f"this version reads schema {SCHEMA_VERSION}")
    provenance = summary.get("provenance") or {}
    # any failure of a reader here is the file's damage, reported in one line
    with _damaged(path / "config.toml"):
        config = load_config(path / "config.toml")
    with _damaged(path / "codebook.toml"):
        codebook = load_codebook(path / "codebook.toml")
    with _damaged(path / "data.parquet"):
        frame = pd.read_parquet(path / "data.parquet")
        for column in codebook.ids.values():
            if column in frame:
                frame[column] = frame[column].astype(str)
        survey = CaseSurvey.from_wide(frame, codebook, source=provenance.get("data_source") or str(path),
                                      sha256=provenance.get("data_sha256") or "")
    if (path / RATER_CODES).is_file():  # the rater model refits (sub-models) need the codes
        with _damaged(path / RATER_CODES):
            codes = pd.read_parquet(path / RATER_CODES)
        survey = replace(survey, rater_codes=codes)
    if summary.get("measurement") not in (None, "raters"):
        survey = replace(survey, measurement=summary["measurement"])
    recorded = provenance.get("data_fingerprint")
    if recorded and survey.fingerprint() != recorded:
        raise RunError(f"{path / 'data.parquet'}: the data differ from those the run was fitted to "
                       f"(content fingerprint changed); {_REFIT.format(path=path)}")
    with _damaged(path / "posterior.nc"):
        # opened lazily: each array is read when a command first uses it (the file stays open)
        tree = xr.open_datatree(path / "posterior.nc", engine="h5netcdf")
        absent = [group for group in ("posterior", "constant_data") if group not in tree.children]
        if absent:
            raise ValueError(f"no {' or '.join(absent)} group")
    return Run(config=config, survey=survey, tree=tree, summary=summary, path=path)


_REFIT = "fit the data again into it (`alliance-learning fit DATA --out {path} --force`)"
# summary.json blocks read as mappings (by `check`, `report` and Run.__str__)
_SUMMARY_BLOCKS = ("effects", "group_sd", "diagnostics", "data", "provenance")


@contextlib.contextmanager
def _damaged(file: Path):
    """Turn any failure to read ``file`` of a run directory into a one-line RunError."""
    try:
        yield
    except RunError:
        raise
    except Exception as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise RunError(f"{file}: damaged or not written by this toolkit ({reason}); "
                       f"{_REFIT.format(path=file.parent)}") from None


def _read_summary(file: Path) -> dict:
    with _damaged(file):
        summary = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(summary, dict):
            raise ValueError(f"holds a JSON {type(summary).__name__}, not an object")
        if summary.get("schema_version") != SCHEMA_VERSION:
            return summary  # another schema: load_run says so
        wrong = [key for key in _SUMMARY_BLOCKS if not isinstance(summary.get(key), dict)]
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: missing or not an object")
    return summary


__all__ = ["FILES", "FitOptions", "Run", "RunError", "RunExistsError",
           "check_run_target", "diagnostics", "load_run", "save_run", "summarize"]
