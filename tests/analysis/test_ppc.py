"""Posterior predictive checks against hand computations and a tiny PyMC ordinal model.

The fixed fake fit gives numbers computed by hand; the PyMC model ignores strong network
effects in its data, which the group statistic must catch.
"""

import json
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pymc as pm
import pytest
import xarray as xr

from analysis import (
    PosteriorPredictiveChecks,
    groups_from_constant_data,
    posterior_predictive_checks,
)
from analysis.ppc import (
    between_group_variance,
    category_proportions,
    distribution_statistics,
    group_statistic_check,
    loo_pit_check,
    plot_category_proportions,
    plot_group_statistic,
    plot_loo_pit,
    plot_outcome_rootogram,
)

# Six individuals in two alliances (A: 0-2, B: 3-5) and three networks.
OBSERVED = np.array([1, 2, 2, 3, 3, np.nan])  # the last outcome is missing
ALLIANCE = np.array(["A", "A", "A", "B", "B", "B"])
NETWORK = np.array(["n1", "n1", "n2", "n2", "n3", "n3"])
# 2 chains x 3 draws of replicated outcomes for the six individuals.
REPLICATED = np.array(
    [
        [[1, 1, 2, 3, 3, 1], [2, 2, 2, 2, 3, 3], [1, 3, 2, 3, 1, 2]],
        [[1, 2, 2, 3, 3, 3], [3, 3, 3, 3, 3, 3], [1, 1, 1, 1, 2, 2]],
    ],
    dtype=float,
)
PEOPLE = [f"p{i}" for i in range(6)]


def fake_fit():
    individual = {"individual": PEOPLE}
    return xr.DataTree.from_dict({
        "observed_data": xr.Dataset({"y": ("individual", OBSERVED)}, coords=individual),
        "posterior_predictive": xr.Dataset(
            {"y": (("chain", "draw", "individual"), REPLICATED)}, coords=individual),
        "constant_data": xr.Dataset(
            {"idx_alliance": ("individual", [0, 0, 0, 1, 1, 1]),
             "idx_network": ("individual", [0, 0, 1, 1, 2, 2])},
            coords={**individual, "alliance": ["A", "B"], "network": ["n1", "n2", "n3"]}),
    })


def labels(values, name):
    return xr.DataArray(values, dims="individual", coords={"individual": PEOPLE}, name=name)


def test_groups_from_constant_data():
    groups = groups_from_constant_data(fake_fit())
    assert list(groups["alliance"].values) == list(ALLIANCE)
    assert list(groups["network"].values) == list(NETWORK)
    with pytest.raises(ValueError, match="organisation"):
        groups_from_constant_data(fake_fit(), levels=["organisation"])


def test_proportions_match_numpy_and_sum_to_one():
    checks = posterior_predictive_checks(
        fake_fit(), groups={"alliance": labels(ALLIANCE, "alliance")}, seed=1, prob=0.5)
    overall = checks.proportions["overall"]
    assert list(overall["category"].values) == [1, 2, 3]
    present = ~np.isnan(OBSERVED)
    for k in (1, 2, 3):
        expected_obs = np.mean(OBSERVED[present] == k)
        rep = (REPLICATED[..., present] == k).mean(axis=-1)  # per draw
        expected_p = np.mean(rep > expected_obs) + 0.5 * np.mean(rep == expected_obs)
        row = overall.sel(category=k)
        assert float(row["observed"]) == pytest.approx(expected_obs)
        assert float(row["replicated_mean"]) == pytest.approx(rep.mean())
        assert float(row["p_value"]) == pytest.approx(expected_p)
        low, high = float(row["replicated_lower"]), float(row["replicated_upper"])
        assert low <= float(row["replicated_mean"]) <= high
    assert float(overall["observed"].sum()) == pytest.approx(1.0)
    assert overall.attrs["n_missing"] == 1

    per_alliance = checks.proportions["alliance"]
    # Alliance B has two observed outcomes (3, 3): the missing one is left out of both sides.
    assert float(per_alliance["observed"].sel(alliance="B", category=3)) == 1.0
    rep_b = (REPLICATED[..., 3:5] == 3).mean(axis=-1)
    got = float(per_alliance["replicated_mean"].sel(alliance="B", category=3))
    assert got == pytest.approx(rep_b.mean())
    assert int(per_alliance["n_individuals"].sel(alliance="B")) == 2
    np.testing.assert_allclose(per_alliance["observed"].sum("category"), 1.0)
    np.testing.assert_allclose(category_proportions(
        fake_fit()["posterior_predictive"]["y"], [1, 2, 3]).sum("category"), 1.0)


def test_between_network_variance_and_p_value_by_hand():
    fit = fake_fit()
    network = labels(NETWORK, "network")
    observed, replicated = fit["observed_data"]["y"], fit["posterior_predictive"]["y"]
    check = group_statistic_check(observed, replicated, network)
    # Observed network means: n1 (1+2)/2 = 1.5, n2 (2+3)/2 = 2.5, n3 = 3 (one observed).
    t_obs = np.var([1.5, 2.5, 3.0], ddof=1)
    assert check.observed == pytest.approx(t_obs)
    assert check.n_groups == 3
    t_rep = []
    for draws in REPLICATED.reshape(-1, 6):
        means = [draws[[0, 1]].mean(), draws[[2, 3]].mean(), draws[4]]
        t_rep.append(np.var(means, ddof=1))
    t_rep = np.array(t_rep)
    np.testing.assert_allclose(np.ravel(check.replicated.values), t_rep)
    expected = np.mean(t_rep > t_obs) + 0.5 * np.mean(t_rep == t_obs)
    assert check.p_value == pytest.approx(expected)
    assert 0 < check.p_value < 1
    # A replicated set with no network differences gives T = 0 < T(y): p = 0 for that draw.
    flat = xr.full_like(fit["posterior_predictive"]["y"], 2.0)
    assert group_statistic_check(fit["observed_data"]["y"], flat, network).p_value == 0.0
    assert float(between_group_variance(flat, network).max()) == 0.0


def test_bad_groups_are_refused():
    fit = fake_fit()
    y = fit["observed_data"]["y"]
    with pytest.raises(ValueError, match="needs a name"):
        category_proportions(y, [1, 2, 3], labels(ALLIANCE, None))
    other = xr.DataArray(ALLIANCE, dims="individual", coords={"individual": list("abcdef")},
                         name="a")
    with pytest.raises(ValueError, match="other individuals"):
        category_proportions(y, [1, 2, 3], other)


# -- a tiny PyMC ordinal model without network effects, on data with strong ones -----------
N_NETWORKS, PER_NETWORK = 12, 8


@pytest.fixture(scope="module")
def ordinal_fit():
    rng = np.random.default_rng(7)
    network = np.repeat(np.arange(N_NETWORKS), PER_NETWORK)
    effect = rng.normal(0, 2.0, size=N_NETWORKS)  # strong network differences
    cutpoints_true = np.array([-1.5, 0.0, 1.5])
    latent = effect[network] + rng.logistic(size=network.size)
    y = np.searchsorted(cutpoints_true, latent)  # categories 0..3
    coords = {"individual": [f"i{i:03d}" for i in range(y.size)], "cutpoint": range(3),
              "network": [f"net{g}" for g in range(N_NETWORKS)]}
    with pm.Model(coords=coords):
        pm.Data("idx_network", network, dims="individual")
        # Ordered prior means: the default initial point is then ordered too.
        cut = pm.Normal("cutpoints", [-1.0, 0.0, 1.0], 3, dims="cutpoint",
                        transform=pm.distributions.transforms.ordered)
        pm.OrderedLogistic("y", eta=0.0, cutpoints=cut, observed=y, dims="individual",
                           compute_p=False)
        tree = pm.sample(draws=500, tune=500, chains=2, cores=1, random_seed=3,
                         progressbar=False, compute_convergence_checks=False)
        pm.sample_posterior_predictive(tree, extend_inferencedata=True, random_seed=4,
                                       progressbar=False)
        pm.stats.compute_log_likelihood(tree, progressbar=False)
    return tree


def test_group_statistic_catches_ignored_network_variation(ordinal_fit):
    groups = groups_from_constant_data(ordinal_fit, levels=["network"])
    checks = posterior_predictive_checks(ordinal_fit, groups=groups, categories=[0, 1, 2, 3],
                                         seed=11)
    # The model has no network term, so replicated network means vary only by sampling
    # noise: T(y_rep) falls below T(y) in (nearly) every draw.
    network = checks.group_statistics["network"]
    assert network.p_value < 0.025
    assert network.observed > network.upper
    # The cutpoints reproduce the overall shares: no overall cell is flagged.
    overall = checks.proportions["overall"]
    assert ((overall["p_value"] > 0.025) & (overall["p_value"] < 0.975)).all()
    np.testing.assert_allclose(overall["replicated_mean"].sum("category"), 1.0)
    # Per network, many cells are off (each network sits at one end of the scale).
    assert len(checks.extreme_cells("network")) > 0
    out = json.loads(json.dumps(checks.to_dict()))
    assert out["group_statistics"]["network"]["p_value"] == pytest.approx(network.p_value)
    assert out["groups"]["network"]["n_cells"] == N_NETWORKS * 4
    assert "between-network variance" in str(checks)


def test_loo_pit_is_seeded_and_randomised(ordinal_fit):
    a = loo_pit_check(ordinal_fit, seed=1)
    b = loo_pit_check(ordinal_fit, seed=1)
    c = loo_pit_check(ordinal_fit, seed=2)
    assert a.randomised
    assert a.values.dims == ("individual",)
    assert ((a.values >= 0) & (a.values <= 1)).all()
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)  # ties broken by a different U
    assert 0 <= a.p_value <= 1


def test_figures_without_pyplot_state(ordinal_fit, tmp_path):
    before = plt.get_fignums()
    groups = groups_from_constant_data(ordinal_fit, levels=["network"])
    checks = posterior_predictive_checks(ordinal_fit, groups=groups, seed=11)
    figures = checks.figures()
    assert set(figures) == {"ppc_overall", "ppc_network", "ppc_network_variance", "loo_pit"}
    figures["rootogram"] = plot_outcome_rootogram(ordinal_fit)
    figures["statistic"] = plot_group_statistic(checks.group_statistics["network"])
    figures["pit"] = plot_loo_pit(checks.loo_pit)
    figures["overall"] = plot_category_proportions(checks.proportions["overall"])
    for name, fig in figures.items():
        path = tmp_path / f"{name}.png"
        fig.savefig(path)
        assert path.stat().st_size > 1000
    assert plt.get_fignums() == before


def test_importing_analysis_loads_no_matplotlib():
    code = "import sys, analysis; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


# -- continuous outcomes: distribution statistics, group means and variances, PIT -----------
def continuous_fit(shift=3.0):
    """60 gaussian outcomes in 7 networks (the last of one person), the sixth shifted by ``shift``,
    replicated from a model that knows no networks."""
    rng = np.random.default_rng(0)
    network = np.repeat(np.arange(6), 10)
    network[-1] = 6
    observed = rng.normal(0, 1, network.size) + np.where(network == 5, shift, 0.0)
    replicated = rng.normal(0, 1, (2, 50, network.size))
    people = [f"p{i}" for i in range(network.size)]
    tree = xr.DataTree.from_dict({
        "observed_data": xr.Dataset({"y": ("individual", observed)}, coords={"individual": people}),
        "posterior_predictive": xr.Dataset({"y": (("chain", "draw", "individual"), replicated)},
                                           coords={"individual": people}),
    })
    group = xr.DataArray([f"g{k}" for k in network], dims="individual",
                         coords={"individual": people}, name="network")
    return tree, group, observed, replicated, network


def test_distribution_statistics_by_hand():
    tree, group, observed, replicated, network = continuous_fit()
    overall = distribution_statistics(tree["observed_data"]["y"])
    assert list(overall["statistic"].values) == ["mean", "sd", "q05", "q25", "median", "q75", "q95"]
    assert float(overall.sel(statistic="sd")) == pytest.approx(np.std(observed, ddof=1))
    assert float(overall.sel(statistic="q95")) == pytest.approx(np.quantile(observed, 0.95))
    per_group = distribution_statistics(tree["observed_data"]["y"], group)
    assert float(per_group.sel(network="g5", statistic="variance")) == pytest.approx(
        np.var(observed[network == 5], ddof=1))
    assert np.isnan(float(per_group.sel(network="g6", statistic="variance")))  # a group of one


def test_density_checks_flag_a_shifted_group_and_not_a_group_of_one():
    tree, group, observed, replicated, network = continuous_fit()
    checks = posterior_predictive_checks(tree, groups={"network": group}, kind="density", seed=1)
    assert isinstance(checks, PosteriorPredictiveChecks) and checks.row_dim == "statistic"
    mean = checks.proportions["overall"].sel(statistic="mean")
    rep_means = replicated.mean(axis=-1)
    expected = np.mean(rep_means > observed.mean()) + 0.5 * np.mean(rep_means == observed.mean())
    assert float(mean["p_value"]) == pytest.approx(expected)
    cells = checks.extreme_cells("network")
    assert {"network": "g5", "statistic": "mean"} in [{k: c[k] for k in ("network", "statistic")}
                                                      for c in cells]
    # the variance of a group of one is undefined: no p-value, never flagged
    assert np.isnan(float(checks.proportions["network"]["p_value"].sel(network="g6", statistic="variance")))
    out = json.loads(json.dumps(checks.to_dict()))
    assert out["kind"] == "density" and out["overall"][0]["statistic"] == "mean"
    assert out["groups"]["network"]["n_cells"] == 13  # 7 means + 6 variances
    assert "statistic mean" in str(checks)
    figures = checks.figures()
    assert set(figures) == {"ppc_overall", "ppc_network", "ppc_network_variance"}
    # no shift: the per-group means are reproduced
    calm = posterior_predictive_checks(continuous_fit(0.0)[0], groups={"network": group},
                                       kind="density", seed=1)
    assert not [c for c in calm.extreme_cells("network") if c["network"] == "g5"]
    with pytest.raises(ValueError, match="kind must be one of"):
        posterior_predictive_checks(tree, kind="rootogram", seed=1)


def test_continuous_loo_pit_is_pareto_smoothed():
    rng = np.random.default_rng(5)
    y = rng.normal(1.0, 2.0, size=80)
    with pm.Model(coords={"individual": [f"i{i}" for i in range(y.size)]}):
        mu = pm.Normal("mu", 0, 5)
        sigma = pm.HalfNormal("sigma", 5)
        pm.Normal("y", mu, sigma, observed=y, dims="individual")
        tree = pm.sample(draws=300, tune=300, chains=2, cores=1, random_seed=3,
                         progressbar=False, compute_convergence_checks=False)
        pm.sample_posterior_predictive(tree, extend_inferencedata=True, random_seed=4,
                                       progressbar=False)
        pm.stats.compute_log_likelihood(tree, progressbar=False)
    checks = posterior_predictive_checks(tree, kind="density", discrete=False, seed=1)
    assert checks.loo_pit is not None and not checks.loo_pit.randomised
    assert ((checks.loo_pit.values >= 0) & (checks.loo_pit.values <= 1)).all()
    # a calibrated model: the uniformity test does not reject at 1%
    assert checks.loo_pit.p_value > 0.01
    assert "Pareto-smoothed" in str(checks.loo_pit)


def test_proportion_checks_divide_by_the_trials():
    # counts out of different numbers of trials: the check compares success proportions
    tree, group, observed, replicated, network = continuous_fit()
    rng = np.random.default_rng(2)
    trials = rng.integers(1, 30, size=observed.size)
    counts = rng.binomial(trials, 0.3)
    rep_counts = rng.binomial(trials, 0.3, size=(2, 50, observed.size))
    people = list(tree["observed_data"]["individual"].values)
    fit = xr.DataTree.from_dict({
        "observed_data": xr.Dataset({"y": ("individual", counts)}, coords={"individual": people}),
        "posterior_predictive": xr.Dataset({"y": (("chain", "draw", "individual"), rep_counts)},
                                           coords={"individual": people}),
        "constant_data": xr.Dataset({"trials": ("individual", trials)}, coords={"individual": people}),
    })
    checks = posterior_predictive_checks(fit, groups={"network": group}, kind="proportion", seed=1)
    assert checks.kind == "proportion" and checks.row_dim == "statistic"
    overall = checks.proportions["overall"]
    assert float(overall["observed"].sel(statistic="mean")) == pytest.approx(np.mean(counts / trials))
    assert float(overall["replicated_mean"].sel(statistic="mean")) == pytest.approx(
        np.mean(rep_counts / trials))
    network_mean = checks.proportions["network"]["observed"].sel(network="g0", statistic="mean")
    assert float(network_mean) == pytest.approx(np.mean((counts / trials)[network == 0]))
    with pytest.raises(ValueError, match="needs the trials"):
        posterior_predictive_checks(tree, kind="proportion", seed=1)
