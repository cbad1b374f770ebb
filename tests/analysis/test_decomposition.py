"""Variance decomposition on a tiny fixed posterior, checked against hand computations."""

import math

import arviz_base
import arviz_stats
import numpy as np
import pytest
import xarray as xr

from analysis import bayesian_r2_latent, posterior_summary, sides_and_levels, variance_decomposition
from analysis.decomposition import residual_variance
from data.codebook import DEFAULT_SIDE, LEVELS, load_codebook

PI2_3 = math.pi**2 / 3

# Five individuals. x has sample variance (ddof=1) 10/4 = 2.5; z has variance 4/4 = 1 and
# covariance with x of sum(x*z)/4 = -2/4 = -0.5.
X = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
Z = np.array([1.0, -1.0, 1.0, -1.0, 0.0])

# Coefficients per (chain, draw) for c_individual = b0 x, c_network = b1 z,
# c_organisation = b2 x, c_alliance = b3 z. Expected values below are worked by hand.
B = np.array(
    [
        [[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, -0.25, 0.0]],
        [[0.0, 2.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]],
    ]
)


def fixed_contributions():
    basis = np.stack([X, Z, X, Z])  # (level, individual)
    values = np.einsum("cdl,li->cdil", B, basis)
    return xr.DataArray(
        values, dims=("chain", "draw", "individual", "level"), coords={"level": list(LEVELS)}
    )


def test_hand_computed_variances_and_shares():
    ds = variance_decomposition(fixed_contributions(), sides=DEFAULT_SIDE)
    # Var(eta_fixed), by hand:
    #  c0d0: eta = 2x -> 4*2.5 = 10 (while Var(c_ind) + Var(c_org) = 5: correlated levels)
    #  c0d1: eta = 0.75x -> 0.5625*2.5 = 1.40625
    #  c1d0: eta = 2z -> 4
    #  c1d1: eta = x + z -> 2.5 + 1 + 2*(-0.5) = 2.5
    np.testing.assert_allclose(ds["fixed_variance"], [[10, 1.40625], [4, 2.5]])
    np.testing.assert_allclose(
        ds["variance_alone"].sel(level="individual"), [[2.5, 2.5], [0, 2.5]]
    )
    np.testing.assert_allclose(
        ds["variance_alone"].sel(level="organisation"), [[2.5, 0.0625 * 2.5], [0, 0]]
    )
    # Pratt shares Cov(c_L, eta)/Var(eta), by hand:
    #  c0d0: Cov(x, 2x)/10 = 5/10 for individual and organisation
    #  c0d1: Cov(x, .75x)/1.40625 = 4/3; Cov(-.25x, .75x)/1.40625 = -1/3 (suppressor, negative)
    #  c1d0: network alone = 1
    #  c1d1: Cov(x, x+z) = 2.5 - 0.5 = 2 -> 0.8; Cov(z, x+z) = -0.5 + 1 = 0.5 -> 0.2
    expected = np.array(
        [
            [[0.5, 0, 0.5, 0], [4 / 3, 0, -1 / 3, 0]],
            [[0, 1, 0, 0], [0.8, 0.2, 0, 0]],
        ]
    )
    shares = ds["share"].transpose("chain", "draw", "level")
    np.testing.assert_allclose(shares, expected, atol=1e-12)
    np.testing.assert_allclose(ds["share"].sum("level"), 1.0)
    np.testing.assert_allclose(
        ds["side_share"].sel(side="interpersonal"), [[0.5, 4 / 3], [1, 1]], atol=1e-12
    )
    np.testing.assert_allclose(ds["side_share"].sum("side"), 1.0)
    # The negative share is reported as it is, not clipped.
    assert float(ds["share"].sel(level="organisation")[0, 1]) < 0


def test_second_decomposition_adds_group_variance_by_side():
    groups = {"network": 1.0, "organisation": 0.5, "alliance": 0.25}
    ds = variance_decomposition(fixed_contributions(), sides=DEFAULT_SIDE, group_var=groups)
    total = np.array([[10, 1.40625], [4, 2.5]]) + 1.75 + PI2_3
    np.testing.assert_allclose(ds["total_variance"], total)
    # interpersonal: Cov(c_ind + c_net, eta) + network variance; interorganisational:
    # Cov(c_org + c_all, eta) + organisation and alliance variances (c0d0: 5 + 1 and 5 + .75).
    cov_interpersonal = np.array([[5, 1.875], [4, 2.5]])
    cov_interorganisational = np.array([[5, -0.46875], [0, 0]])
    np.testing.assert_allclose(
        ds["side_share_of_total"].sel(side="interpersonal"), (cov_interpersonal + 1) / total
    )
    np.testing.assert_allclose(
        ds["side_share_of_total"].sel(side="interorganisational"),
        (cov_interorganisational + 0.75) / total,
    )
    np.testing.assert_allclose(ds["residual_share_of_total"], PI2_3 / total)
    everything = (
        ds["share_of_total"].sum("level")
        + ds["group_share_of_total"].sum("group")
        + ds["residual_share_of_total"]
    )
    np.testing.assert_allclose(everything, 1.0)
    np.testing.assert_allclose(
        ds["side_share_of_total"].sum("side") + ds["residual_share_of_total"], 1.0
    )


def test_condition_terms_against_numpy_loops():
    """Per-condition contributions with a custom side mapping, against a plain numpy loop."""
    rng = np.random.default_rng(20240611)
    conditions = ["trust", "peers", "size", "slack", "payoff", "prior_coop"]
    levels = dict(zip(conditions, ["individual", "individual", "network", "organisation",
                                   "alliance", "alliance"]))
    # A custom codebook choice: organisational slack declared interpersonal.
    sides = {c: DEFAULT_SIDE[levels[c]] for c in conditions} | {"slack": "interpersonal"}
    values = rng.normal(size=(3, 4, 7, 6))
    values[..., 4] += 0.8 * values[..., 0]  # correlate payoff with trust
    contributions = xr.DataArray(
        values, dims=("chain", "draw", "individual", "condition"), coords={"condition": conditions}
    )
    group_sd = rng.uniform(0.2, 1.0, size=(3, 4, 3))
    group_var = xr.DataArray(
        group_sd**2, dims=("chain", "draw", "group"),
        coords={"group": ["network", "organisation", "alliance"]},
    )
    ds = variance_decomposition(
        contributions, sides=sides, levels=levels, group_var=group_var
    )
    for c in range(3):
        for d in range(4):
            v = values[c, d]
            eta = v.sum(axis=1)
            var_eta = np.var(eta, ddof=1)
            total = var_eta + group_sd[c, d] @ group_sd[c, d] + PI2_3
            for level in LEVELS:
                cols = [i for i, n in enumerate(conditions) if levels[n] == level]
                part = v[:, cols].sum(axis=1)
                cov = np.cov(part, eta, ddof=1)[0, 1]
                got = ds.isel(chain=c, draw=d).sel(level=level)
                np.testing.assert_allclose(got["variance_alone"], np.var(part, ddof=1))
                np.testing.assert_allclose(got["share"], cov / var_eta)
                np.testing.assert_allclose(got["share_of_total"], cov / total)
            cols = [i for i, n in enumerate(conditions) if sides[n] == "interpersonal"]
            cov = np.cov(v[:, cols].sum(axis=1), eta, ddof=1)[0, 1]
            got = ds.isel(chain=c, draw=d).sel(side="interpersonal")
            np.testing.assert_allclose(got["side_share"], cov / var_eta)
            np.testing.assert_allclose(
                got["side_share_of_total"], (cov + group_sd[c, d, 0] ** 2) / total
            )
    # Correlated terms: Var(eta) differs from the sum of the level variances.
    assert not np.allclose(ds["variance_alone"].sum("level"), ds["fixed_variance"])


def test_agrees_with_r2mlm_on_a_gaussian_model():
    """r2mlm's R2_t(f1), R2_t(f2), R2_t(m) by Rights & Sterba (2019) formulas.

    Two-level random-intercept model (individuals in networks), level-1 predictors centred
    within cluster (r2mlm's within part), one cluster-level predictor. Rights & Sterba:
    f1 = g_w' Phi_w g_w, f2 = g_b' Phi_b g_b, m = tau_00, total = f1 + f2 + m + sigma^2,
    with Phi the predictors' covariance matrices over rows (r2mlm uses R's var, ddof=1).
    Here both methods define the same quantity: with within-centred level-1 predictors
    Cov(c_individual, c_network) = 0, so the Pratt share is the variance share.
    """
    cluster = np.repeat([0, 1, 2], 4)
    raw = np.array([[3, 1], [5, 2], [4, 4], [6, 1], [2, 2], [2, 5], [7, 3], [1, 1],
                    [4, 4], [5, 6], [3, 2], [6, 7]], dtype=float)
    cluster_means = np.stack([raw[cluster == j].mean(axis=0) for j in range(3)])
    within = raw - cluster_means[cluster]
    between = np.array([-1.0, 0.5, 2.0])[cluster]
    # Two draws of (gamma_w1, gamma_w2, gamma_b, tau_00, sigma).
    draws = np.array([[0.6, -0.3, 0.9, 0.8, 1.2], [0.2, 0.4, -0.5, 0.3, 0.7]])

    gamma_w, gamma_b, tau, sigma = draws[:, :2], draws[:, 2], draws[:, 3], draws[:, 4]
    phi_w = np.cov(within.T, ddof=1)
    phi_b = np.var(between, ddof=1)
    f1 = np.einsum("dk,kl,dl->d", gamma_w, phi_w, gamma_w)
    f2 = gamma_b**2 * phi_b
    total = f1 + f2 + tau + sigma**2

    c_individual = gamma_w @ within.T  # (draw, individual)
    c_network = gamma_b[:, None] * between[None, :]
    contributions = xr.DataArray(
        np.stack([c_individual, c_network], axis=-1)[None],
        dims=("chain", "draw", "individual", "level"),
        coords={"level": ["individual", "network"]},
    )
    per_draw = ("chain", "draw")
    ds = variance_decomposition(
        contributions,
        sides=DEFAULT_SIDE,
        group_var={"network": xr.DataArray(tau[None], dims=per_draw)},
        family="gaussian",
        sigma=xr.DataArray(sigma[None], dims=per_draw),
    )
    np.testing.assert_allclose(ds["share_of_total"].sel(level="individual")[0], f1 / total)
    np.testing.assert_allclose(ds["share_of_total"].sel(level="network")[0], f2 / total)
    np.testing.assert_allclose(ds["group_share_of_total"].sel(group="network")[0], tau / total)
    np.testing.assert_allclose(ds["residual_share_of_total"][0], sigma**2 / total)
    np.testing.assert_allclose(ds["share"].sel(level="individual")[0], f1 / (f1 + f2))


def test_bayesian_r2_latent():
    eta = fixed_contributions().sum("level")  # Var(eta) = 10, 1.40625, 4, 2.5 by hand
    variance = np.array([[10, 1.40625], [4, 2.5]])
    np.testing.assert_allclose(bayesian_r2_latent(eta), variance / (variance + PI2_3))
    np.testing.assert_allclose(
        bayesian_r2_latent(eta, family="bernoulli"), variance / (variance + PI2_3)
    )
    # Gaussian: the same quantity as ArviZ's bayesian_r2 with the modelled sigma.
    sigma = xr.DataArray([[0.5, 1.0], [2.0, 1.5]], dims=("chain", "draw"))
    data = arviz_base.from_dict(
        {"posterior": {"mu": eta.values, "sigma": sigma.values}},
        dims={"mu": ["individual"]},
    )
    reference = arviz_stats.bayesian_r2(data, pred_mean="mu", scale="sigma", summary=False)
    ours = bayesian_r2_latent(eta, family="gaussian", sigma=sigma)
    np.testing.assert_allclose(np.sort(ours.values.ravel()), np.sort(np.ravel(reference)))


def test_residual_variance_table():
    assert residual_variance("ordinal") == pytest.approx(PI2_3)
    assert residual_variance("gaussian", 2.0) == 4.0
    with pytest.raises(ValueError, match="sigma"):
        residual_variance("gaussian")
    with pytest.raises(ValueError, match="unknown family"):
        residual_variance("poisson")


def test_every_problem_is_reported():
    contributions = xr.DataArray(
        np.zeros((1, 2, 3, 2)),
        dims=("chain", "draw", "individual", "condition"),
        coords={"condition": ["a", "b"]},
    )
    with pytest.raises(ValueError) as err:
        variance_decomposition(
            contributions, sides={"a": "personal"}, levels={"a": "individual"},
            group_var={"team": 1.0, "network": -1.0},
        )
    message = str(err.value)
    for fragment in ("'a': side 'personal'", "'b' has no side", "'b' has no level",
                     "'team' has no side", "negative variances"):
        assert fragment in message


def test_missing_values_are_refused():
    contributions = fixed_contributions().copy()
    contributions[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="1 missing value"):
        variance_decomposition(contributions, sides=DEFAULT_SIDE)


def test_sides_and_levels_from_codebook():
    codebook = load_codebook()
    sides, levels = sides_and_levels(codebook)
    assert set(sides) == set(codebook.conditions)
    for name, variable in codebook.conditions.items():
        assert sides[name] == variable.side and levels[name] == variable.level
    with pytest.raises(ValueError, match="not in the codebook"):
        sides_and_levels(codebook, ["no_such_condition"])


def test_posterior_summary_states_its_interval():
    ds = variance_decomposition(fixed_contributions(), sides=DEFAULT_SIDE)
    summary = posterior_summary(ds["share"], prob=0.5)
    assert summary.attrs["interval"].startswith("equal-tailed")
    assert summary.attrs["ci_prob"] == 0.5
    values = ds["share"].sel(level="individual").values.ravel()  # 0.5, 4/3, 0, 0.8
    got = summary.sel(level="individual")
    assert float(got.sel(stat="mean")) == pytest.approx(values.mean())
    assert float(got.sel(stat="sd")) == pytest.approx(values.std(ddof=1))
    assert float(got.sel(stat="lower")) == pytest.approx(np.quantile(values, 0.25))
    assert float(got.sel(stat="upper")) == pytest.approx(np.quantile(values, 0.75))


@pytest.mark.parametrize("family", ["gaussian", "ordinal"])
def test_the_decomposition_from_the_covariance_equals_the_one_over_individuals(family):
    """The closed form (quadratic forms in b) gives every variable of the pass over individuals."""
    from analysis.decomposition import decomposition_from_covariance

    rng = np.random.default_rng(7)
    names = ["a", "b", "c", "d", "e"]
    levels = dict(zip(names, ["individual", "individual", "network", "organisation", "alliance"]))
    sides = dict(zip(names, ["interpersonal", "interorganisational", "interpersonal",
                             "interorganisational", "interorganisational"]))
    x = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))  # correlated conditions
    b = xr.DataArray(rng.normal(size=(2, 7, 5)), dims=("chain", "draw", "condition"),
                     coords={"condition": names})
    parts = xr.DataArray(np.einsum("cdk,ik->cdik", b.values, x),
                         dims=("chain", "draw", "individual", "condition"), coords={"condition": names})
    groups = {"network": xr.DataArray(rng.uniform(0.1, 1, size=(2, 7)), dims=("chain", "draw")),
              "alliance": 0.3}
    sigma = xr.DataArray(rng.uniform(0.5, 2, size=(2, 7)), dims=("chain", "draw"))
    options = dict(sides=sides, levels=levels, group_var=groups, family=family,
                   sigma=sigma if family == "gaussian" else None)
    over_individuals = variance_decomposition(parts, **options)
    covariance = xr.DataArray(np.cov(x, rowvar=False, ddof=1), dims=("condition", "condition_other"),
                              coords={"condition": names, "condition_other": names})
    closed = decomposition_from_covariance(b, covariance, **options)
    assert set(closed.data_vars) == set(over_individuals.data_vars)
    for name in over_individuals.data_vars:
        expected = over_individuals[name]
        np.testing.assert_allclose(closed[name].transpose(*expected.dims).values, expected.values,
                                   rtol=1e-9, atol=1e-12, err_msg=name)
