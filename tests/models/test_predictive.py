"""The vectorised predictive step (models.predictive) against PyMC's own functions.

PyMC's functions loop over the draws; ours evaluate many draws per call. On the same
posterior they must give the same numbers: the log densities to rounding, the
posterior predictive draws exactly (same seed, same random stream in the same order).
PyMC's functions run under the same PyTensor mode here (no C compilation in the test
suite; PyMC's C and Python backends draw Bernoulli variables differently).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from models import ModelSpec, build_model, predictive

from .conftest import FIT_SPECS

FAMILIES = tuple(FIT_SPECS)
PYMC_OPTIONS = {"extend_inferencedata": False, "progressbar": False,
                "compile_kwargs": {"mode": predictive.NUMPY_MODE}}


def _pymc_posterior_predictive(model, posterior, seed):
    tree = xr.DataTree.from_dict({"posterior": posterior})
    return pm.sample_posterior_predictive(
        tree, model=model, var_names=["y"], freeze_vars=[rv.name for rv in model.free_RVs],
        random_seed=seed, **PYMC_OPTIONS)["posterior_predictive"].to_dataset()


def _assert_same_densities(ours: xr.Dataset, theirs: xr.Dataset):
    assert sorted(ours.data_vars) == sorted(theirs.data_vars)
    for name in theirs.data_vars:
        reference = theirs[name].transpose(*ours[name].dims)
        np.testing.assert_allclose(ours[name].values, reference.values, rtol=1e-12, atol=1e-12,
                                   err_msg=name)


def _posterior(fits, family):
    return fits(family)["posterior"].to_dataset()


@pytest.mark.parametrize("family", FAMILIES)
def test_log_densities_equal_pymcs(family, fits, survey):
    """Pointwise log-likelihood and log prior of every draw of a real fit (missing codes
    imputed; the ordinal model also has a varying slope)."""
    model = build_model(ModelSpec(**FIT_SPECS[family]), survey)
    posterior = _posterior(fits, family)
    tree = xr.DataTree.from_dict({"posterior": posterior})
    _assert_same_densities(predictive.log_likelihood(model, posterior),
                           pm.stats.compute_log_likelihood(tree, model=model, **PYMC_OPTIONS))
    _assert_same_densities(predictive.log_prior(model, posterior),
                           pm.stats.compute_log_prior(tree, model=model, **PYMC_OPTIONS))


@pytest.mark.parametrize("family", FAMILIES)
def test_posterior_predictive_draws_equal_pymcs(family, fits, survey):
    model = build_model(ModelSpec(**FIT_SPECS[family]), survey)
    posterior = _posterior(fits, family)
    ours = predictive.posterior_predictive(model, posterior, seed=11)["y"]
    theirs = _pymc_posterior_predictive(model, posterior, seed=11)["y"].transpose(*ours.dims)
    assert ours.dims == ("chain", "draw", "individual")
    assert ours.shape == theirs.shape
    if family == "gaussian":  # the same normal draws; the mean is summed in another order
        np.testing.assert_allclose(ours.values, theirs.values, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(ours.values, theirs.values)
    other = predictive.posterior_predictive(model, posterior, seed=12)["y"]
    assert (other.values != ours.values).any()


def test_results_do_not_depend_on_the_chunking(fits, survey, monkeypatch):
    model = build_model(ModelSpec(**FIT_SPECS["ordinal"]), survey)
    posterior = _posterior(fits, "ordinal")
    whole = predictive.posterior_predictive(model, posterior, seed=5)
    log_lik = predictive.log_likelihood(model, posterior)
    # a handful of draws per call, the last chunk of each chain shorter
    monkeypatch.setattr(predictive, "_CHUNK_VALUES", 3 * log_lik.sizes["individual"] + 1)
    np.testing.assert_array_equal(predictive.posterior_predictive(model, posterior, seed=5)["y"],
                                  whole["y"])
    np.testing.assert_array_equal(predictive.log_likelihood(model, posterior)["y"], log_lik["y"])


@pytest.mark.parametrize("spec", [
    {**FIT_SPECS["gaussian"], "shrinkage": "horseshoe"},
    {**FIT_SPECS["bernoulli"], "shrinkage": "r2d2m2"},
], ids=["horseshoe", "r2d2m2"])
def test_shrinkage_priors_log_densities_equal_pymcs(spec, survey):
    """Models with more free variables than effects (prior draws stand in for a fit)."""
    model = build_model(ModelSpec(**spec), survey)
    prior = predictive.prior_predictive(model, draws=40, seed=2)["prior"].to_dataset()
    posterior = xr.concat([prior.isel(draw=slice(0, 20)),
                           prior.isel(draw=slice(20, 40)).assign_coords(draw=np.arange(20))],
                          dim="chain").assign_coords(chain=[0, 1])
    tree = xr.DataTree.from_dict({"posterior": posterior})
    _assert_same_densities(predictive.log_prior(model, posterior),
                           pm.stats.compute_log_prior(tree, model=model, **PYMC_OPTIONS))
    _assert_same_densities(predictive.log_likelihood(model, posterior),
                           pm.stats.compute_log_likelihood(tree, model=model, **PYMC_OPTIONS))


@pytest.mark.parametrize("family", FAMILIES)
def test_log_likelihood_by_individuals_equals_the_whole(family, fits, survey):
    """Chunks of 7 individuals (the last shorter): the same values as all at once, with
    the individual-level missing codes of each chunk's rows (ordinal, gaussian, bernoulli)."""
    model = build_model(ModelSpec(**FIT_SPECS[family]), survey)
    posterior = _posterior(fits, family)
    whole = predictive.log_likelihood(model, posterior)["y"]
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    chunks = list(predictive.log_likelihood_by_individuals(model, posterior, values=7 * chains * draws))
    n = whole.sizes["individual"]
    assert [(a, b) for a, b, _ in chunks] == [(a, min(n, a + 7)) for a in range(0, n, 7)]
    joined = xr.concat([ds["y"] for _, _, ds in chunks], dim="individual")
    assert list(joined["individual"].values) == list(whole["individual"].values)
    np.testing.assert_allclose(joined.transpose(*whole.dims).values, whole.values, rtol=1e-12, atol=1e-12)
    # the model's own data containers are left as they were
    again = predictive.log_likelihood(model, posterior)["y"]
    np.testing.assert_array_equal(again.values, whole.values)
