"""PSIS-LOO comparison on two tiny PyMC regressions where one model is the true one."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pymc as pm
import pytest
import xarray as xr

from analysis import predictive_comparison
from analysis.loo import STANDARD_MODELS, plot_comparison

N = 60


def fit(with_slope: bool, x, y, seed):
    """Fit a normal regression with or without the slope, with pointwise log-likelihood."""
    with pm.Model(coords={"individual": [f"p{i:02d}" for i in range(N)]}):
        a = pm.Normal("a", 0, 5)
        sigma = pm.HalfNormal("sigma", 2)
        mu = a + pm.Normal("b", 0, 5) * x if with_slope else a
        pm.Normal("y", mu, sigma, observed=y, dims="individual")
        tree = pm.sample(draws=500, tune=500, chains=2, cores=1, random_seed=seed,
                         progressbar=False, compute_convergence_checks=False)
        pm.stats.compute_log_likelihood(tree, progressbar=False)
    return tree


@pytest.fixture(scope="module")
def fits():
    rng = np.random.default_rng(20240611)
    x = rng.normal(size=N)
    y = 1.0 + 1.0 * x + rng.normal(size=N)  # the slope explains half the variance
    return {"slope": fit(True, x, y, 1), "null": fit(False, x, y, 2)}


def test_true_model_wins(fits):
    result = predictive_comparison(fits)
    assert result.best == "slope"
    null = result.table.loc["null"]
    # Var(y) = 2 against residual variance 1: the expected elpd gain is about
    # N/2 * log(2) = 21, far beyond 2 dse; the difference must be negative by more than 2 dse.
    assert null["elpd_diff"] < -2 * null["dse"]
    assert null["dse"] > 0
    assert result.table.loc["slope", "elpd_diff"] == 0
    assert result.weights["slope"] > 0.5
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-6)
    # Same numbers as the ELPDData it was computed from.
    assert result.table.loc["null", "elpd"] == pytest.approx(result.elpd["null"].elpd)
    assert set(result.pareto_k.index) == {"slope", "null"}
    assert (result.pareto_k["n"] == N).all()


def test_reference_model_and_json(fits):
    result = predictive_comparison(fits, reference="null")
    assert result.table.loc["null", "elpd_diff"] == 0
    assert result.table.loc["slope", "elpd_diff"] > 0
    assert "p_better" in result.table.columns
    out = json.loads(json.dumps(result.to_dict()))
    assert [m["model"] for m in out["models"]] == ["slope", "null"]
    assert out["models"][0]["pareto_k"]["n"] == N
    assert type(result.to_dict()["models"][1]["pareto_k"]["n_k_over_threshold"]) is int
    text = str(result)
    assert "slope" in text and "null" in text and "dse" in text


def test_every_input_problem_is_listed(fits):
    broken = xr.DataTree.from_dict({"posterior": fits["null"]["posterior"].to_dataset()})
    fewer = fits["null"].copy()
    fewer["log_likelihood"] = fits["null"]["log_likelihood"].to_dataset().isel(individual=slice(10))
    with pytest.raises(ValueError) as err:
        predictive_comparison(
            {"slope": fits["slope"], "broken": broken, "fewer": fewer, "wrong": 3},
            reference="nope",
        )
    message = str(err.value)
    for part in ("'broken': no log_likelihood", "'fewer'", "'wrong': not a DataTree", "'nope'"):
        assert part in message
    with pytest.raises(ValueError, match="at least two"):
        predictive_comparison({"slope": fits["slope"]})
    with pytest.raises(ValueError, match="has no 'mu'"):
        predictive_comparison(fits, var_name="mu")


def heavy_tailed_fit(seed, outlier_scale):
    """Make a fake fit whose first observation has heavy-tailed importance ratios."""
    rng = np.random.default_rng(seed)
    log_lik = rng.normal(-1.0, 0.1, size=(2, 400, 5))
    # Importance ratio exp(-log_lik) with -log_lik = exp(scale * z) is very heavy tailed.
    log_lik[..., 0] = -np.exp(outlier_scale * rng.normal(size=(2, 400)))
    dims = ("chain", "draw", "individual")
    coords = {"individual": ["a", "b", "c", "d", "e"]}
    return xr.DataTree.from_dict({
        "posterior": xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(2, 400)))}),
        "log_likelihood": xr.Dataset({"y": (dims, log_lik)}, coords=coords),
    })


def test_high_pareto_k_is_flagged_and_warnings_kept():
    fits = {"heavy": heavy_tailed_fit(0, 2.0), "tame": heavy_tailed_fit(1, 0.01)}
    result = predictive_comparison(fits)
    assert result.pareto_k.loc["heavy", "n_k_over_threshold"] >= 1
    assert result.flagged["heavy"][0] == "a"
    assert result.pareto_k.loc["tame", "n_k_over_threshold"] == 0
    assert not result.reliable
    assert any(w.startswith("heavy: Estimated shape parameter of Pareto") for w in result.warnings)
    assert "k > 0.7 for a" in str(result)


def test_comparison_figure(fits, tmp_path):
    before = plt.get_fignums()
    fig = plot_comparison(predictive_comparison(fits))
    fig.savefig(tmp_path / "compare.png")
    assert (tmp_path / "compare.png").stat().st_size > 1000
    assert plt.get_fignums() == before


def test_standard_names():
    assert STANDARD_MODELS == ("interpersonal", "interorganisational", "both", "null")


def test_loo_by_chunks_of_observations_equals_arvizs(fits):
    """PSIS smooths each observation alone: chunks of 7 observations give ArviZ's pointwise
    elpd and Pareto k, its elpd, SE and p_loo; the comparison takes the results as they are."""
    import arviz_stats as azs

    from analysis.loo import relative_ess, summarise_log_likelihood

    results = {}
    for name, tree in fits.items():
        whole = azs.loo(tree, pointwise=True, var_name="y")
        log_lik = tree["log_likelihood"].to_dataset()
        chunks = (log_lik.isel(individual=slice(a, a + 7)) for a in range(0, N, 7))
        keep = {"chain": [0, 1], "draw": list(range(0, 500, 5))}
        summary = summarise_log_likelihood(chunks, reff=relative_ess(tree["posterior"].to_dataset()),
                                           totals=True, keep=keep)
        got = summary.loo
        np.testing.assert_allclose(got.elpd_i.values, whole.elpd_i.values, rtol=1e-12)
        np.testing.assert_allclose(got.pareto_k.values, whole.pareto_k.values, rtol=1e-12)
        for attr in ("elpd", "se", "p", "good_k"):
            assert getattr(got, attr) == pytest.approx(getattr(whole, attr), rel=1e-12), attr
        assert got.n_samples == whole.n_samples and got.n_data_points == whole.n_data_points
        np.testing.assert_allclose(summary.total.values,
                                   log_lik["y"].sum("individual").transpose(*summary.total.dims).values)
        assert summary.kept["y"].dtype == np.float32 and summary.kept.sizes == {
            "chain": 2, "draw": 100, "individual": N}
        results[name] = got
    from_results = predictive_comparison(results)
    from_trees = predictive_comparison(fits)
    pd_cols = ["elpd", "se", "p", "elpd_diff", "dse", "weight"]
    np.testing.assert_allclose(from_results.table[pd_cols].to_numpy(float),
                               from_trees.table[pd_cols].to_numpy(float), rtol=1e-9)
    assert from_results.pareto_k.equals(from_trees.pareto_k)
