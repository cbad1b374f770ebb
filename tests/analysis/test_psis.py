"""analysis.psis.psis_loo gives arviz_stats.loo's pointwise numbers, many observations at once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.psis import psis_log_weights, psis_loo, tail_length


def _log_lik(values: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values, dims=("chain", "draw", "individual"),
                        coords={"individual": [f"r{i}" for i in range(values.shape[-1])]})


def _arviz(log_lik: xr.DataArray, r_eff: float):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return log_lik.azstats.loo(sample_dims=["chain", "draw"], r_eff=r_eff)


def _assert_same(log_lik: xr.DataArray, r_eff: float) -> None:
    """psis_loo as arviz_stats.loo, psis_log_weights as arviz_stats.psislw."""
    mine, theirs = psis_loo(log_lik, r_eff), _arviz(log_lik, r_eff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        their_weights = log_lik.azstats.psislw(r_eff=r_eff, dim=["chain", "draw"])
    mine_weights = psis_log_weights(log_lik, r_eff)
    for name, a, b in zip(("elpd_i", "pareto_k", "p_loo_i", "log_weights", "psislw k"),
                          (*mine, *mine_weights), (*theirs, *their_weights)):
        b = b.transpose(*a.dims)
        assert list(a["individual"].values) == list(b["individual"].values), name
        np.testing.assert_allclose(a.values, b.values, rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("chains,draws,r_eff", [(4, 2000, 0.9), (2, 100, 1.0), (4, 250, 0.3)])
def test_equals_arviz_on_heavy_tailed_log_likelihoods(chains, draws, r_eff):
    rng = np.random.default_rng(draws)
    shape = (chains, draws, 60)
    values = rng.normal(-1, 0.5, shape) + 0.4 * rng.standard_t(2, shape)
    values[..., :10] *= 8  # a few observations with Pareto k well above 0.7
    _assert_same(_log_lik(values), r_eff)


def test_equals_arviz_where_it_treats_an_observation_otherwise():
    """A -inf draw (NaN everywhere), a tail whose first quartile is tied with the cutoff
    (k is NaN, nothing smoothed), a discrete log-likelihood with few distinct values and
    ties among the largest ratios: ArviZ's own answer for each."""
    rng = np.random.default_rng(5)
    values = rng.normal(-1, 0.3, (2, 500, 6))
    values[0, 3, 0] = -np.inf
    values[..., 1] = np.round(values[..., 1], 1)
    draws, tail = 1000, tail_length(1000, 1.0)
    for column, tied in ((2, slice(draws - tail - 1, draws - tail - 1 + tail // 3)),
                         (3, slice(draws - tail // 2, draws))):
        ratios = -values[..., column].reshape(-1)
        order = np.argsort(ratios)
        ratios[order[tied]] = ratios[order[tied.start]]
        values[..., column] = -ratios.reshape(2, 500)
    mine = psis_loo(_log_lik(values), 1.0)
    assert np.isnan(mine[0].values[0]) and np.isnan(mine[1].values[2]), "the edge cases are met"
    _assert_same(_log_lik(values), 1.0)


def test_a_constant_tail_raises_as_arviz_does():
    values = np.full((2, 200, 3), -1.0)
    with pytest.raises(ValueError, match="tail values are the same"):
        _arviz(_log_lik(values), 1.0)
    with pytest.raises(ValueError, match="tail values are the same"):
        psis_loo(_log_lik(values), 1.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), scale=st.floats(0.01, 20), r_eff=st.floats(0.05, 1.0),
       draws=st.integers(30, 400))
def test_equals_arviz_property(seed, scale, r_eff, draws):
    rng = np.random.default_rng(seed)
    _assert_same(_log_lik(scale * rng.standard_normal((2, draws, 5)) - 2), r_eff)
