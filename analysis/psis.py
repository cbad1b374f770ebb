"""Pareto-smoothed importance sampling LOO for many observations at once.

``arviz_stats.loo`` smooths one observation at a time in a Python loop (its ``make_ufunc``):
0.43 s per 1,000 observations of 8,000 draws on this 2-core machine, so ~7 minutes a pass
over a million respondents, and a run makes four such passes (the full model and the three LOO
sub-models). :func:`psis_loo` does the same arithmetic (``arviz_stats``' ``_psislw``,
``_gpdfit`` and ``_loo``: Vehtari et al. 2024's tail length, Zhang and Stephens' fit with
its weakly informative prior on k, the smoothed tail capped at its largest raw weight) on a
whole chunk of observations with array operations, and hands any observation outside the
common case (a non-finite log-likelihood, a tail it cannot fit) to ``arviz_stats.loo`` itself,
so every number is ArviZ's (``arviz_stats.loo``'s to 1e-10 on simulated log-likelihoods,
edge cases and a property-based test, tests/analysis/test_psis.py; to 1e-12 on real fits,
tests/analysis/test_loo.py). About half of ArviZ's time per chunk (0.13 s against 0.24-0.34 s
for 524 observations of 8,000 draws, a loaded machine): what remains is arithmetic on every
draw (the ratios' top, the sums of exponentials).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import logsumexp  # _gpdfit's weights, as ArviZ

from data.constants import SAMPLE_DIMS

_PRIOR_BS = 3  # arviz_stats' _gpdfit: prior on b, and a prior on k of weight 10 at 0.5
_PRIOR_K = 10
# rows of (chunk rows x candidate b x tail draws) evaluated at once: bounds the memory of the fit
_FIT_VALUES = 2**22


def tail_length(draws: int, r_eff: float) -> int:
    """Draws in the smoothed tail (``arviz_stats``' ``_get_ps_tails``, right tail)."""
    if draws * r_eff > 225:
        return int(np.floor(3 * (draws / r_eff) ** 0.5))
    return int(np.floor(draws / 5))


def psis_loo(log_lik: xr.DataArray, r_eff: float) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Pointwise PSIS-LOO of a chunk: ``elpd_i``, ``pareto_k`` and ``p_loo_i`` per observation.

    ``log_lik`` has dims chain, draw and one observation dim; the results are those of
    ``log_lik.azstats.loo(sample_dims=["chain", "draw"], r_eff=r_eff)``.
    """
    obs_dim, rows = _rows(log_lik)
    if tail_length(rows.shape[1], r_eff) < 5:  # too few draws: ArviZ says so
        return log_lik.azstats.loo(sample_dims=list(SAMPLE_DIMS), r_eff=r_eff)
    log_weights, k, odd = _smooth(rows, r_eff)
    log_weights += rows
    elpd = _logsumexp_rows(log_weights)
    p = _logsumexp_rows(rows) - np.log(rows.shape[1]) - elpd
    if odd.any():  # ArviZ's own answer (or error) for those observations
        labels = log_lik[obs_dim].values[odd]
        theirs = log_lik.sel({obs_dim: labels}).azstats.loo(sample_dims=list(SAMPLE_DIMS), r_eff=r_eff)
        for mine, their in zip((elpd, k, p), theirs):
            mine[odd] = their.transpose(obs_dim).values
    coords = {obs_dim: log_lik[obs_dim]}
    return tuple(xr.DataArray(a, dims=(obs_dim,), coords=coords) for a in (elpd, k, p))


def psis_log_weights(log_lik: xr.DataArray, r_eff: float) -> tuple[xr.DataArray, xr.DataArray]:
    """PSIS log weights of each observation's draws (normalised over chain and draw) and k.

    The results of ``log_lik.azstats.psislw(r_eff=r_eff, dim=["chain", "draw"])``;
    dims (observation, chain, draw) and (observation,).
    """
    obs_dim, rows = _rows(log_lik)
    if tail_length(rows.shape[1], r_eff) < 5:
        return log_lik.azstats.psislw(r_eff=r_eff, dim=list(SAMPLE_DIMS))
    log_weights, k, odd = _smooth(rows, r_eff)
    if odd.any():
        labels = log_lik[obs_dim].values[odd]
        theirs_w, theirs_k = log_lik.sel({obs_dim: labels}).azstats.psislw(r_eff=r_eff, dim=list(SAMPLE_DIMS))
        log_weights[odd] = theirs_w.transpose(obs_dim, *SAMPLE_DIMS).values.reshape(int(odd.sum()), -1)
        k[odd] = theirs_k.values
    ordered = log_lik.transpose(obs_dim, *SAMPLE_DIMS)
    weights = xr.DataArray(log_weights.reshape(ordered.shape), dims=ordered.dims, coords=ordered.coords)
    return weights, xr.DataArray(k, dims=(obs_dim,), coords={obs_dim: log_lik[obs_dim]})


def _rows(log_lik: xr.DataArray) -> tuple[str, np.ndarray]:
    """The observation dim and the values as rows (observation) of draws (chain-major)."""
    (obs_dim,) = [d for d in log_lik.dims if d not in SAMPLE_DIMS]
    values = log_lik.transpose(obs_dim, *SAMPLE_DIMS).values
    return obs_dim, np.ascontiguousarray(values.reshape(values.shape[0], -1), dtype=np.float64)


def _smooth(rows: np.ndarray, r_eff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised PSIS log weights and k of each row (an observation's log-likelihood at
    every draw), and which rows ArviZ treats otherwise (their weights are not to be used).
    """
    n, draws = rows.shape
    tail = tail_length(draws, r_eff)
    with np.errstate(invalid="ignore"):  # a row with -inf is odd (below)
        log_ratios = -rows - (-rows).max(axis=1, keepdims=True)
    # the tail + 1 largest ratios of each row, ascending: the cutoff, then the tail
    top = np.argpartition(log_ratios, draws - tail - 1, axis=1)[:, draws - tail - 1:]
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(log_ratios, top, axis=1), axis=1), axis=1)
    ordered = np.take_along_axis(log_ratios, top, axis=1)
    cutoff, tail_values = ordered[:, 0], ordered[:, 1:]
    max_tail = tail_values[:, -1]
    k, sigma = _gpdfit(np.exp(tail_values) - np.exp(cutoff)[:, None])
    # smoothed tail: the fitted generalised Pareto's quantiles at (i - 0.5) / tail, on the log scale
    probs = np.arange(0.5, tail) / tail
    smoothable = np.isfinite(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        ks = np.where(smoothable, k, 1.0)[:, None]
        quantiles = np.where(ks == 0, -np.log1p(-probs)[None, :],
                             np.expm1(-ks * np.log1p(-probs)[None, :]) / ks)
        smoothed = np.log(np.exp(cutoff)[:, None] + sigma[:, None] * quantiles)
    smoothed = np.where(smoothed > max_tail[:, None], max_tail[:, None], smoothed)
    rows_smoothed = np.flatnonzero(smoothable)
    log_weights = log_ratios
    log_weights[rows_smoothed[:, None], top[rows_smoothed, 1:]] = smoothed[rows_smoothed]
    # rows ArviZ treats otherwise: a non-finite value, a constant tail (ArviZ raises), a
    # non-positive scale (ArviZ's smoothed tail is NaN there)
    odd = (~np.isfinite(rows).all(axis=1)
           | (np.abs(tail_values[:, -1] - tail_values[:, 0]) < np.finfo(float).tiny)
           | (smoothable & ~(sigma > 0)))
    with np.errstate(invalid="ignore"):
        log_weights -= _logsumexp_rows(log_weights)[:, None]
    return log_weights, k, odd


def _logsumexp_rows(values: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) of each row (scipy's logsumexp, in a third of the time); a row
    with a non-finite value gives a meaningless number (such rows are odd, see _smooth).
    """
    top = values.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.log(np.exp(values - top).sum(axis=1)) + top[:, 0]


def _gpdfit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``arviz_stats``' ``_gpdfit`` of each row of ``x`` (sorted ascending): k and sigma.

    A row whose first quartile is not above its minimum gets (NaN, NaN), a NaN estimate
    (inf, NaN), as there.
    """
    n, size = x.shape
    m_est = 30 + int(size**0.5)
    xstar = x[:, int((size / 4 + 0.5) - 1)]
    fittable = xstar > x[:, 0]
    kappa, sigma = np.full(n, np.nan), np.full(n, np.nan)
    grid = 1 - np.sqrt(m_est / (np.arange(1, m_est + 1, dtype=float) - 0.5))
    step = max(1, _FIT_VALUES // (m_est * size))
    for start in range(0, n, step):
        rows = np.flatnonzero(fittable[start:start + step]) + start
        if rows.size == 0:
            continue
        xs = x[rows]
        b = grid[None, :] / (_PRIOR_BS * xstar[rows, None]) + 1 / xs[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            k_grid = np.log1p(-b[:, :, None] * xs[:, None, :]).mean(axis=2)
            len_scale = size * (np.log(-b / k_grid) - k_grid - 1)
        w = np.exp(len_scale - logsumexp(len_scale, axis=1, keepdims=True))
        w = np.where(w >= 10 * np.finfo(float).eps, w, 0.0)  # negligible weights removed
        w /= w.sum(axis=1, keepdims=True)
        b_post = (b * w).sum(axis=1)
        k_rows = np.log1p(-b_post[:, None] * xs).mean(axis=1)
        sigma[rows] = -k_rows / b_post
        k_rows = (size * k_rows + _PRIOR_K * 0.5) / (size + _PRIOR_K)
        kappa[rows] = np.where(np.isnan(k_rows), np.inf, k_rows)
        sigma[rows] = np.where(np.isnan(k_rows), np.nan, sigma[rows])
    return kappa, sigma
