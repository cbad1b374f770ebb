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
    # the function is compiled once per model and reseeded: the same seed, the same draws
    again = predictive.posterior_predictive(model, posterior, seed=11)["y"]
    np.testing.assert_array_equal(again.values, ours.values)
    assert list(predictive._OUTCOME_FUNCTIONS[model]) == [("y",)]


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


def test_draw_chunks_take_the_budget_with_a_floor_under_a_ceiling():
    """Small draws fill the 2^22 budget; a draw that fills it alone still gets up to 8
    draws per chunk, as long as the chunk stays under the 2^25 ceiling."""
    budget, ceiling = predictive._CHUNK_VALUES, predictive._MAX_CHUNK_VALUES
    assert predictive.chunk_draws(budget // 20) == 20
    assert predictive.chunk_draws(budget) == 8
    assert predictive.chunk_draws(ceiling // 5) == 5
    assert predictive.chunk_draws(2 * ceiling) == 1


def test_over_draw_chunks_equals_one_call_on_all_draws(fits, monkeypatch):
    """A Dataset (per-draw and draw-free variables) and a DataArray, computed on chunks
    of 7 draws (the budget) and of 8 draws (the floor): the one-call result, coordinates
    included."""
    from models.contributions import fixed_predictor

    tree = fits("gaussian")
    draws = tree["posterior"].sizes["draw"]

    def compute(chunk):
        posterior = chunk["posterior"]
        return xr.Dataset({"eta": fixed_predictor(chunk), "b": posterior["b"],
                           "scale": xr.DataArray(float(tree.attrs.get("outcome_scale", 1.0)))})

    whole = compute(tree)
    per_draw = 5
    for budget, floor, sizes in ((7 * 2 * per_draw, 1, [7] * (draws // 7) + [draws % 7]),
                                 (1, 8, [8] * (draws // 8) + [draws % 8])):
        monkeypatch.setattr(predictive, "_CHUNK_VALUES", budget)
        monkeypatch.setattr(predictive, "_MIN_CHUNK_DRAWS", floor)
        seen = []
        chunked = predictive.over_draw_chunks(
            tree, lambda chunk: seen.append(chunk["posterior"].sizes["draw"]) or compute(chunk),
            values_per_draw=per_draw)
        assert seen == [size for size in sizes if size]
        xr.testing.assert_allclose(chunked, whole, rtol=1e-12)
        assert {name: chunked[name].dims for name in whole} == {name: whole[name].dims for name in whole}
        array = predictive.over_draw_chunks(tree, lambda chunk: compute(chunk)["eta"],
                                            values_per_draw=per_draw)
        xr.testing.assert_allclose(array, whole["eta"], rtol=1e-12)
        assert array.name == whole["eta"].name


def test_prior_predictive_outcome_does_not_depend_on_the_chunking(survey, monkeypatch):
    model = build_model(ModelSpec(**FIT_SPECS["gaussian"]), survey)
    whole = predictive.prior_predictive(model, draws=30, seed=4, dtype="float32")
    y = whole["prior_predictive"]["y"]
    assert y.dtype == np.float32
    assert y.dims == ("chain", "draw", "individual")
    monkeypatch.setattr(predictive, "_CHUNK_VALUES", 3 * y.sizes["individual"] + 1)
    chunked = predictive.prior_predictive(model, draws=30, seed=4, dtype="float32")
    np.testing.assert_array_equal(chunked["prior_predictive"]["y"].values, y.values)
    xr.testing.assert_equal(chunked["prior"].to_dataset(), whole["prior"].to_dataset())


@pytest.mark.parametrize("family", ["bernoulli", "gaussian"])
def test_prior_predictive_matches_pymcs_in_distribution(family, survey):
    """The outcome drawn given each prior draw has PyMC's one-shot prior predictive
    distribution: the mean over draws of each draw's mean (and, gaussian, of its log SD)
    agrees within 4 Monte Carlo standard errors (1,000 draws each, fixed seeds)."""
    model = build_model(ModelSpec(**FIT_SPECS[family]), survey)
    ours = predictive.prior_predictive(model, draws=1000, seed=8)["prior_predictive"]["y"]
    theirs = pm.sample_prior_predictive(draws=1000, random_seed=9, model=model,
                                        compile_kwargs={"mode": predictive.NUMPY_MODE})
    theirs = theirs["prior_predictive"]["y"]
    statistics = [lambda y: y.mean("individual")]
    if family == "gaussian":
        statistics.append(lambda y: np.log(y.std("individual")))
    for statistic in statistics:
        a, b = statistic(ours).values.ravel(), statistic(theirs).values.ravel()
        error = np.sqrt(a.var() / a.size + b.var() / b.size)
        assert abs(a.mean() - b.mean()) < 4 * error
