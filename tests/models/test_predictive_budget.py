"""The predictive draws a fit keeps: 1,000, fewer where draws x respondents pass the budget
(models.predictive.predictive_draws_for), never under the floor."""

from __future__ import annotations

import pytest

from models import ModelSpec, fit, predictive

from .conftest import FIT_OPTIONS, FIT_SPECS


def test_the_budget_rule():
    rule = predictive.predictive_draws_for
    assert predictive.PREDICTIVE_VALUES == 200_000_000 and predictive.PREDICTIVE_DRAWS_FLOOR == 200
    # every survey up to 200,000 respondents keeps 1,000 draws (the 7,000 and 190,000 benchmarks)
    for n in (1, 900, 7_062, 190_032, 200_000):
        assert rule(n) == 1000
    assert rule(200_001) == 999
    assert rule(500_000) == 400
    assert rule(1_000_000) == 200
    assert rule(5_000_000) == 200  # the floor
    assert rule(1_000_000, 100) == 100  # a smaller cap asked for is kept
    assert rule(1_000_000, None) is None  # every draw, as asked
    assert rule(1000, values=50_000, floor=10) == 50


@pytest.mark.parametrize("family", ["gaussian", "ordinal"])
def test_fit_keeps_the_budgeted_draws_of_both_predictive_groups(family, survey, monkeypatch):
    """A budget of 30 x 48 values (48 respondents, 47 with an outcome) keeps 30 of 2 x 100 draws (every 7th: 2 x 15)."""
    monkeypatch.setattr(predictive, "PREDICTIVE_VALUES", 30 * 48)
    monkeypatch.setattr(predictive, "PREDICTIVE_DRAWS_FLOOR", 10)
    tree = fit(ModelSpec(**FIT_SPECS[family]), survey, **FIT_OPTIONS)
    n = tree["observed_data"].sizes["individual"]
    expected = predictive.predictive_draws_for(n, values=30 * 48, floor=10)
    assert expected == 30
    kept = tree["posterior_predictive"]["y"]
    step = -(-2 * 100 // expected)
    assert int(tree.attrs["predictive_thinning"]) == step
    assert kept.sizes["chain"] * kept.sizes["draw"] == int(tree.attrs["predictive_draws"]) == 2 * len(range(0, 100, step))
    assert list(kept["draw"].values) == list(range(0, 100, step))
    assert tree["prior_predictive"]["y"].sizes["draw"] == expected
    assert tree["posterior"].sizes["draw"] == 100  # the posterior keeps every draw


def test_log_prior_is_kept_summed_per_draw(survey):
    """Each log-prior term summed over its elements (a group level's pointwise terms are
    groups x draws): the sums of models.predictive.log_prior's pointwise values."""
    import numpy as np

    from models import make_design
    from models.build import model_from_design

    spec = ModelSpec(**FIT_SPECS["gaussian"])
    tree = fit(spec, survey, **FIT_OPTIONS)
    pointwise = predictive.log_prior(model_from_design(make_design(spec, survey)),
                                     tree["posterior"].to_dataset())
    stored = tree["log_prior"].to_dataset()
    assert sorted(stored.data_vars) == sorted(pointwise.data_vars)
    assert any(pointwise[name].ndim > 2 for name in pointwise.data_vars)  # e.g. the group offsets
    for name, da in pointwise.data_vars.items():
        assert stored[name].dims == ("chain", "draw"), name
        total = da.sum([d for d in da.dims if d not in ("chain", "draw")])
        np.testing.assert_allclose(stored[name].values, total.values, rtol=1e-12, err_msg=name)
