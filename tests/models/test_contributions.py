"""Level contributions rebuilt from the posterior, with imputed values per draw."""

from __future__ import annotations

import numpy as np

from models import contributions


def test_contributions_use_the_draws_imputed_values(fits):
    tree = fits("ordinal")
    c = contributions(tree)
    posterior, constant = tree["posterior"], tree["constant_data"]
    assert c.dims == ("chain", "draw", "individual", "condition")
    b = posterior["b"]

    # an individual with an observed code: x * b
    x = float(constant["X_individual"].sel(individual="a0n0p0", individual_condition="contact"))
    np.testing.assert_allclose(c.sel(individual="a0n0p0", condition="contact"), x * b.sel(condition="contact"))

    # an individual whose code is missing: its own latent value * b
    latent = posterior["x_missing_individual"].sel(individual_missing="a0n0p2:contact")
    np.testing.assert_allclose(c.sel(individual="a0n0p2", condition="contact"), latent * b.sel(condition="contact"))

    # a network whose size is missing: one latent value shared by all its members
    latent = posterior["x_missing_network"].sel(network_missing="a1n0:group_size")
    members = [i for i in c["individual"].values if str(i).startswith("a1n0")]
    for member in members:
        np.testing.assert_allclose(c.sel(individual=member, condition="group_size"),
                                   latent * b.sel(condition="group_size"))


def test_level_sums_match_condition_contributions(fits):
    tree = fits("ordinal")
    by_condition = contributions(tree)
    by_level = contributions(tree, by="level")
    assert list(by_level["level"].values) == ["individual", "network", "organisation", "alliance"]
    for level in by_level["level"].values:
        part = by_condition.where(by_condition["condition_level"] == level, drop=True).sum("condition")
        np.testing.assert_allclose(by_level.sel(level=level), part)


def _without_missing_codes(tree):
    """The fit with every missing code set to one value (the same at every draw)."""
    constant = tree["constant_data"].to_dataset()
    filled = {name: constant[name].fillna(0.25) for name in constant.data_vars if str(name).startswith("X_")}
    tree = tree.copy()
    tree["constant_data"] = constant.assign(filled)
    return tree


def test_condition_covariance_gives_the_decomposition_over_individuals(fits, monkeypatch):
    """Closed form (b' S b per draw) = the pass over draws x individuals, for each family's fit."""
    import importlib

    import analysis.checks as checks

    module = importlib.import_module("models.contributions")  # (models.contributions is the function)
    assert module.condition_covariance(fits("gaussian")) is None  # imputed codes
    for family in ("ordinal", "gaussian"):
        tree = _without_missing_codes(fits(family))
        covariance = module.condition_covariance(tree)
        assert covariance is not None and covariance.dims == ("condition", "condition_other")
        closed = checks.decompose(tree)
        over_individuals = checks.decompose(tree, checks._contributions(tree))
        for name in over_individuals.data_vars:
            np.testing.assert_allclose(closed[name].transpose(*over_individuals[name].dims),
                                       over_individuals[name], rtol=1e-9, atol=1e-12, err_msg=name)

    # the gaussian family's readable effects and R^2 need no individuals either
    tree = _without_missing_codes(fits("gaussian"))
    errors = {}
    closed = checks._per_draw(tree, errors)
    monkeypatch.setattr(module, "condition_covariance", lambda tree: None)
    chunked = checks._per_draw(tree, errors)
    assert errors == {}
    for name in ("effects", "fixed_r2", "side_share", "share_of_total"):
        np.testing.assert_allclose(closed[name].transpose(*chunked[name].dims), chunked[name],
                                   rtol=1e-9, atol=1e-12, err_msg=name)
