"""LOO-PIT by chunks of respondents (analysis.ppc.LooPitByChunks) equals ArviZ's
``loo_pit`` on the whole arrays, for a continuous (Pareto-smoothed PIT) and an ordinal
(randomised PIT) outcome; ``check_run`` computes it in its one pass over the
log-likelihood's chunks and gets the same values."""

from __future__ import annotations

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr

from analysis import check_run
from analysis.ppc import _at_predictive_draws, loo_pit_check
from models import ModelSpec, fit, make_design
from models.build import model_from_design
from models.predictive import log_likelihood

from ..models.conftest import FIT_OPTIONS, FIT_SPECS, make_survey
from .test_checks import LENIENT

FAMILIES = ("gaussian", "ordinal")


@pytest.fixture(scope="module")
def fitted():
    """Per family: (fit with 50 kept predictive draws, the same with its float64 log-likelihood)."""
    survey = make_survey()
    out = {}
    for family in FAMILIES:
        spec = ModelSpec(**FIT_SPECS[family])
        tree = fit(spec, survey, predictive_draws=50, **FIT_OPTIONS)
        model = model_from_design(make_design(spec, survey))
        whole = tree.copy()
        whole["log_likelihood"] = log_likelihood(model, tree["posterior"].to_dataset())
        out[family] = (tree, whole, survey)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_loo_pit_in_chunks_equals_arviz_on_the_whole_arrays(family, fitted):
    _, whole, _ = fitted[family]
    discrete = family != "gaussian"
    kept = _at_predictive_draws(whole)
    assert kept["posterior_predictive"].sizes["draw"] * 2 == 50
    expected = azs.loo_pit(kept, var_names="y", random_state=5, pareto_pit=not discrete)["y"]
    observed = whole["observed_data"]["y"]
    expected = expected.where(observed.notnull(), drop=True) if observed.isnull().any() else expected
    n = expected.sizes["individual"]
    assert n > 40
    for per_chunk in (1, 7, 10**6):  # respondents per chunk (50 kept draws each)
        chunked = loo_pit_check(whole, seed=5, discrete=discrete, chunk_values=per_chunk * 50)
        assert chunked.randomised == discrete
        np.testing.assert_allclose(chunked.values.values, expected.values, rtol=1e-12, atol=1e-14)
        assert list(chunked.values["individual"].values) == list(expected["individual"].values)
    p_value, _, _ = expected.azstats.uniformity_test(dim=["individual"], method="pot_c")
    assert chunked.p_value == pytest.approx(float(p_value), rel=1e-12)
    # the randomisation is the seed's: another seed breaks the ties of a discrete outcome otherwise
    other = loo_pit_check(whole, seed=6, discrete=discrete, chunk_values=7 * 50)
    assert np.array_equal(other.values.values, chunked.values.values) != discrete


@pytest.mark.parametrize("family", FAMILIES)
def test_check_run_computes_loo_pit_in_the_log_likelihood_pass(family, fitted, monkeypatch):
    """check_run on the fit without a log-likelihood (recomputed 5 respondents at a time)
    gives the LOO-PIT of the whole-array computation."""
    import functools

    import models

    tree, whole, survey = fitted[family]
    monkeypatch.setattr(models, "log_likelihood_chunks",
                        functools.partial(models.log_likelihood_chunks, values=5 * 200))
    checks = check_run(tree, survey=survey, dominance=False, loo=False, sensitivity=False,
                       gates=LENIENT, seed=5)
    assert checks.errors == {}
    if family == "gaussian":  # its PIT comes from the conditional CDF (the test below)
        return
    expected = loo_pit_check(whole, seed=5, discrete=True)
    np.testing.assert_allclose(checks.ppc.loo_pit.values.values, expected.values.values, rtol=1e-9)
    assert checks.ppc.loo_pit.p_value == pytest.approx(expected.p_value, rel=1e-9)


def test_continuous_loo_pit_from_the_conditional_cdf(fitted, monkeypatch):
    """A gaussian run's LOO-PIT in check_run: sum_s w_s Phi((y - eta_s) / sigma_s) with the
    PSIS weights of the kept draws; the log CDF from the model (chunks of 5 respondents)
    equals scipy's at the linear predictor, and the values do not depend on the chunking."""
    import functools

    from scipy.stats import norm

    import models
    from analysis.checks import _predictive_draws, linear_predictor
    from analysis.loo import relative_ess
    from analysis.ppc import CONDITIONAL_CDF

    tree, whole, survey = fitted["gaussian"]
    keep = _predictive_draws(tree)
    kept = whole.copy()
    kept["posterior"] = xr.DataTree(whole["posterior"].to_dataset().sel(keep))
    eta = linear_predictor(kept).transpose("chain", "draw", "individual")
    y = whole["observed_data"]["y"]
    log_cdf = xr.DataArray(norm.logcdf(((y - eta) / kept["posterior"]["sigma"]).values), dims=eta.dims)
    log_lik = whole["log_likelihood"]["y"].sel(keep).transpose("chain", "draw", "individual")
    reff = relative_ess(kept["posterior"].to_dataset())
    lw, _ = log_lik.azstats.psislw(r_eff=reff, dim=["chain", "draw"])
    w = np.exp(lw - lw.max(["chain", "draw"]))
    expected = ((w * np.exp(log_cdf.values)).sum(["chain", "draw"]) / w.sum(["chain", "draw"])).values

    results = []
    for per_chunk in (5, 10**6):
        monkeypatch.setattr(models, "log_likelihood_chunks", functools.partial(
            models.log_likelihood_chunks.func if isinstance(models.log_likelihood_chunks, functools.partial)
            else models.log_likelihood_chunks, values=per_chunk * 200))
        checks = check_run(tree, survey=survey, dominance=False, loo=False, sensitivity=False,
                           gates=LENIENT, seed=5)
        assert checks.errors == {}
        pit = checks.ppc.loo_pit
        assert pit.estimator == CONDITIONAL_CDF and not pit.randomised
        assert pit.to_dict()["estimator"] == CONDITIONAL_CDF and "conditional CDF" in str(pit)
        # the linear predictor here is recomputed from constant_data: rounding apart
        np.testing.assert_allclose(pit.values.values, expected, rtol=1e-6)
        results.append(pit.values.values)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
    # the draw-based PIT (ArviZ's) of the same 50 draws is close (its Monte Carlo SD is up to
    # sqrt(0.25 / 50) = 0.07): the same weights, another estimator
    draws_based = loo_pit_check(whole, seed=5, discrete=False).values.values
    assert np.corrcoef(draws_based, expected)[0, 1] > 0.9
    assert np.abs(draws_based - expected).mean() < 0.07
