"""Power-scaling sensitivity on a normal mean with a strong and with a weak prior.

The model is conjugate (known unit SD), so the power-scaled posterior is known exactly:
with prior N(0, s0^2) raised to alpha, the prior precision is alpha / s0^2 and the posterior
is N(n ybar / (alpha / s0^2 + n), 1 / (alpha / s0^2 + n)).
"""

import json

import matplotlib.pyplot as plt
import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy.special import expit
from scipy.stats import norm

from analysis import dominance_verdict, prior_sensitivity
from analysis.sensitivity import (
    plot_sensitivity,
    power_scaling_weights,
    verdict_under_power_scaling,
)

N = 20
STRONG, WEAK = 0.01, 100.0
GOOD = {"max_rhat": 1.0, "min_ess_bulk": 1000.0, "min_ess_tail": 1000.0,
        "divergences": 0, "min_bfmi": 1.0}


def exact_posterior(y, s0, alpha=1.0):
    precision = alpha / s0**2 + y.size
    return y.sum() / precision, precision**-0.5


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(5).normal(5.0, 1.0, size=N)  # far from the prior mean 0


@pytest.fixture(scope="module")
def fits(data):
    out = {}
    for name, s0 in (("strong", STRONG), ("weak", WEAK)):
        with pm.Model(coords={"individual": range(N)}):
            mu = pm.Normal("mu", 0.0, s0)
            pm.Normal("y", mu, 1.0, observed=data, dims="individual")
            tree = pm.sample(draws=1000, tune=500, chains=2, cores=1, random_seed=9,
                             progressbar=False, compute_convergence_checks=False)
            pm.stats.compute_log_likelihood(tree, progressbar=False)
            pm.stats.compute_log_prior(tree, progressbar=False)
        out[name] = tree
    return out


def test_strong_prior_flagged_weak_prior_not(fits):
    strong, weak = (
        prior_sensitivity(fits[name], {"shifted_mean": fits[name]["posterior"]["mu"] + 1})
        for name in ("strong", "weak")
    )
    assert strong.flagged == {"shifted_mean": "potential prior-data conflict"}
    assert weak.flagged == {}
    # Both components move the strong-prior posterior; the weak prior does not matter.
    assert float(strong.sensitivity["shifted_mean"].sel(component="prior")) > 0.05
    assert float(strong.sensitivity["shifted_mean"].sel(component="likelihood")) > 0.05
    assert float(weak.sensitivity["shifted_mean"].sel(component="prior")) < 0.05
    assert float(weak.sensitivity["shifted_mean"].sel(component="likelihood")) > 0.05
    out = json.loads(json.dumps(strong.to_dict()))
    assert out["quantities"]["shifted_mean"]["flagged"] is True
    assert "prior-data conflict" in str(strong)


def test_weights_match_the_exact_power_scaled_posterior(fits, data):
    tree = fits["strong"]
    mu = tree["posterior"]["mu"]
    centre, _ = exact_posterior(data, STRONG)
    for alpha in (0.8, 1.25):
        weights, k = power_scaling_weights(tree, alpha)
        assert float(weights.sum()) == pytest.approx(1.0)
        assert k < 0.7
        mean, sd = exact_posterior(data, STRONG, alpha)
        expected = norm.sf(centre, mean, sd)  # P(mu > the unscaled posterior mean)
        got = float((weights * (mu > centre)).sum())
        # 4 Monte Carlo SEs, SE = sqrt(p(1-p)/ESS) with ESS = 1/sum(w^2) (draws of this
        # one-parameter model are near-independent).
        ess = 1.0 / float((weights**2).sum())
        assert got == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / ess))
    # The direction: a weaker prior lets the data pull mu up.
    assert norm.sf(centre, *exact_posterior(data, STRONG, 0.8)) > 0.55
    uniform, k_one = power_scaling_weights(tree, 1.0)
    np.testing.assert_allclose(uniform, 1.0 / mu.size)
    assert np.isnan(k_one)


def test_verdict_under_prior_scaling(fits, data):
    tree = fits["strong"]
    mu = tree["posterior"]["mu"]
    centre, sd = exact_posterior(data, STRONG)
    share = expit((mu - centre) / sd)  # d = 2 s - 1 > 0 exactly when mu > centre
    shares = xr.concat([share, 1 - share], dim="side").assign_coords(
        side=["interpersonal", "interorganisational"])
    verdict = dominance_verdict(shares, GOOD)
    result = prior_sensitivity(tree, {"interpersonal_share": share}, verdict=verdict)
    scaled = result.verdict
    assert list(scaled["alpha"].values) == [0.8, 1.0, 1.25]
    assert float(scaled["p_interpersonal_greater"].sel(alpha=1.0)) == pytest.approx(
        verdict.p_interpersonal_greater)
    for alpha in (0.8, 1.25):
        mean, sd_alpha = exact_posterior(data, STRONG, alpha)
        expected = norm.sf(centre, mean, sd_alpha)
        row = scaled.sel(alpha=alpha)
        # 4 Monte Carlo SEs as above.
        se = np.sqrt(expected * (1 - expected) / float(row["ess"]))
        assert float(row["p_interpersonal_greater"]) == pytest.approx(expected, abs=4 * se)
        parts = ("p_interpersonal_dominates", "p_equivalent", "p_interorganisational_dominates")
        total = sum(float(row[v]) for v in parts)
        assert total == pytest.approx(1.0)
    assert (scaled["verdict"] == "inconclusive").all()
    assert result.verdict_stable
    assert "share_difference" in result.sensitivity
    out = json.loads(json.dumps(result.to_dict()))
    assert [s["alpha"] for s in out["verdict"]["scalings"]] == [0.8, 1.0, 1.25]
    assert "Verdict under prior scaling" in str(result)
    same = verdict_under_power_scaling(tree, verdict)
    xr.testing.assert_identical(same, scaled)


def test_inputs_are_checked(fits):
    bare = xr.DataTree.from_dict({"posterior": fits["weak"]["posterior"].to_dataset()})
    short = fits["weak"]["posterior"]["mu"].isel(draw=slice(10))
    with pytest.raises(ValueError) as err:
        prior_sensitivity(bare, {"a": short, "b": xr.DataArray([1.0, 2.0], dims="x")})
    message = str(err.value)
    for part in ("no log_prior", "no log_likelihood", "'b' lacks dim(s) ['chain', 'draw']"):
        assert part in message
    with pytest.raises(ValueError, match="10 draws"):
        prior_sensitivity(fits["weak"], {"a": short})


def test_sensitivity_figure(fits, tmp_path):
    before = plt.get_fignums()
    fig = plot_sensitivity(fits["strong"], {"mean": fits["strong"]["posterior"]["mu"]})
    fig.savefig(tmp_path / "psense.png")
    assert (tmp_path / "psense.png").stat().st_size > 1000
    assert plt.get_fignums() == before


def test_only_the_named_prior_terms_are_scaled():
    rng = np.random.default_rng(3)
    dims = ("chain", "draw")
    a = rng.normal(size=(2, 300))

    def tree(b):
        return xr.DataTree.from_dict({"log_prior": xr.Dataset({"a": (dims, a), "b": (dims, b)})})

    one, _ = power_scaling_weights(tree(rng.normal(size=(2, 300))), 0.8, var_names=["a"])
    other, _ = power_scaling_weights(tree(5 * rng.normal(size=(2, 300))), 0.8, var_names=["a"])
    np.testing.assert_allclose(one, other)
    both, _ = power_scaling_weights(tree(5 * rng.normal(size=(2, 300))), 0.8)
    assert not np.allclose(one, both)
