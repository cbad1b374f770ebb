"""Signed group SDs (models.scales): same prior, same posterior, folded draws."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import xarray as xr
from pymc_extras.prior import Prior
from scipy import stats

import models
import models.build
from models import ModelSpec, fit
from models.build import build_model
from models.predictive import prior_predictive
from models.scales import fold_signed_scales, sampler_draws, signed_prior, stored_names, unstored_products

from .conftest import FIT_SPECS, make_survey

fit_module = importlib.import_module("models.fit")  # `models.fit` is also the function


@pytest.mark.parametrize(("half", "signed"), [
    (Prior("HalfNormal", sigma=2.0), Prior("Normal", mu=0.0, sigma=2.0)),
    (Prior("HalfStudentT", nu=3, sigma=0.5), Prior("StudentT", mu=0.0, nu=3, sigma=0.5)),
    (Prior("HalfCauchy", beta=1.0), Prior("Cauchy", alpha=0.0, beta=1.0)),
    (Prior("Exponential", lam=1.0), None),               # no symmetric counterpart
    (Prior("HalfNormal", sigma=Prior("HalfNormal")), None),  # a hierarchical scale
])
def test_signed_prior_is_the_symmetric_counterpart(half, signed):
    assert signed_prior(half) == signed


def test_fold_keeps_every_product_and_makes_the_sd_nonnegative():
    rng = np.random.default_rng(0)
    sd = rng.normal(size=(2, 50))
    z = rng.normal(size=(2, 50, 7))
    ds = xr.Dataset({"sd_network": (("chain", "draw"), sd),
                     "z_network": (("chain", "draw", "network"), z),
                     "u_network": (("chain", "draw", "network"), sd[..., None] * z)})
    folded = fold_signed_scales(ds)
    assert (folded["sd_network"] >= 0).all()
    np.testing.assert_allclose(folded["sd_network"] * folded["z_network"], ds["u_network"])
    np.testing.assert_array_equal(folded["z_network"].values[sd > 0], z[sd > 0])
    assert folded["z_network"].dims == ("chain", "draw", "network")
    # draws of a constrained SD pass through untouched
    constrained = ds.assign(sd_network=np.abs(ds["sd_network"]))
    assert fold_signed_scales(constrained) is constrained


def test_sampler_draws_computes_the_products_and_folds_in_place_only_when_asked():
    rng = np.random.default_rng(1)
    sd, z = rng.normal(size=(2, 40)), rng.normal(size=(2, 40, 5))
    ds = xr.Dataset({"sd_alliance": (("chain", "draw"), sd), "z_alliance": (("chain", "draw", "alliance"), z)})
    expected = fold_signed_scales(ds)
    copied = sampler_draws(ds)
    np.testing.assert_array_equal(ds["z_alliance"].values, z)  # the caller's draws untouched
    owned = ds.copy(deep=True)
    in_place = sampler_draws(owned, in_place=True)
    assert np.shares_memory(in_place["z_alliance"].values, owned["z_alliance"].values)
    for got in (copied, in_place):
        xr.testing.assert_identical(got[["sd_alliance", "z_alliance"]], expected)
        assert got["u_alliance"].dims == ("chain", "draw", "alliance")
        np.testing.assert_array_equal(got["u_alliance"].values, sd[..., None] * z)  # the sampler's product


def test_the_trace_leaves_out_the_products_and_the_fit_restores_them_exactly(survey):
    import nutpie

    from models.compiled import compile_model

    design = models.make_design(ModelSpec(**FIT_SPECS["ordinal"]), survey)
    model = fit_module.model_from_design(design)
    assert unstored_products(model) == {"u_network", "u_organisation", "u_alliance", "slope"}
    with fit_module.exact_floats():
        every = compile_model(model, initial_points=fit_module.initial_values(design, model))
        fewer = compile_model(model, initial_points=fit_module.initial_values(design, model),
                              var_names=stored_names(model))
    def draws(compiled):
        trace = nutpie.sample(compiled, draws=30, tune=30, chains=2, seed=5, progress_bar=False)
        return trace["posterior"].to_dataset()
    full, trace = draws(every), draws(fewer)
    assert unstored_products(model).isdisjoint(trace.data_vars)
    expected, got = fold_signed_scales(full), sampler_draws(trace, in_place=True)
    assert set(got.data_vars) == set(expected.data_vars)
    for name in expected.data_vars:  # the same numbers to the bit, in the same dims
        assert got[name].dims == expected[name].dims, name
        np.testing.assert_array_equal(got[name].values, expected[name].values, err_msg=name)


def test_model_samples_non_centred_sds_signed_and_centred_ones_constrained():
    survey = make_survey()
    model = build_model(ModelSpec(outcome="learning", centered=["alliance"]), survey)
    free = {rv.name: rv.owner.op for rv in model.free_RVs}
    assert type(free["sd_network"]).__name__ == "NormalRV"
    assert type(free["sd_organisation"]).__name__ == "NormalRV"
    assert type(free["sd_alliance"]).__name__ == "HalfNormalRV"
    assert "z_alliance" not in free


def test_prior_draws_of_the_sds_follow_the_half_normal_prior():
    """The folded prior draws of a signed SD have the spec's half-normal law (KS test)."""
    survey = make_survey()
    spec = ModelSpec(outcome="learning", priors={"group_sd.network": {"dist": "HalfNormal",
                                                                       "kwargs": {"sigma": 0.5}}})
    prior = prior_predictive(build_model(spec, survey), draws=2000, seed=11)["prior"].to_dataset()
    for level, sigma in (("network", 0.5), ("organisation", 1.0), ("alliance", 1.0)):
        sd = prior[f"sd_{level}"].values.ravel()
        assert (sd >= 0).all()
        assert stats.kstest(sd, stats.halfnorm(scale=sigma).cdf).pvalue > 0.001
        np.testing.assert_allclose(prior[f"sd_{level}"] * prior[f"z_{level}"], prior[f"u_{level}"])


def test_posterior_equals_the_constrained_parameterisation_within_mcse(monkeypatch):
    """Signed and log-transformed SDs give one posterior (means within Monte Carlo error)."""
    import arviz_stats as azs

    survey = make_survey()
    spec = ModelSpec(outcome="learning", conditions=["contact", "absorptive"])
    options = {"chains": 4, "draws": 1000, "tune": 500, "seed": 5, "progressbar": False,
               "predictive": False, "extension": None}
    signed = fit(spec, survey, **options)["posterior"].to_dataset()
    monkeypatch.setattr(models.build, "signed_prior", lambda prior: None)
    # a new graph: not the signed one that models.fit keeps compiled for this structure
    fit_module = importlib.import_module("models.fit")  # (models.fit is the function)
    monkeypatch.setattr(fit_module, "_COMPILED", type(fit_module._COMPILED)())
    constrained = fit(spec, survey, **options)["posterior"].to_dataset()
    assert not np.array_equal(signed["sd_network"].values, constrained["sd_network"].values)
    names = ["b", "cutpoints", "sd_network", "sd_organisation", "sd_alliance"]
    for name in names:
        a, b = signed[name], constrained[name]
        error = np.sqrt(azs.mcse(a, method="mean") ** 2 + azs.mcse(b, method="mean") ** 2)
        gap = np.abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw")))
        assert (gap < 4 * error).all(), (name, gap.values, error.values)
    assert (signed["sd_network"] >= 0).all()
