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
