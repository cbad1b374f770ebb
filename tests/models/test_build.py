"""Graph structure of the PyMC model (no sampling)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from models import ModelSpec, build_model, make_design, model_from_design
from models.build import cutpoint_start, initial_values, start_data


def _dims(model):
    return {name: dims for name, dims in model.named_vars_to_dims.items()}


def test_ordinal_model_has_named_dims_and_terms(survey):
    model = build_model(ModelSpec(outcome="learning", varying_slopes=["contact"]), survey)
    dims = _dims(model)
    assert dims["b"] == ("condition",)
    assert dims["cutpoints"] == ("cutpoint",)
    assert dims["y"] == ("individual",)
    for level in ("network", "organisation", "alliance"):
        assert dims[f"u_{level}"] == (level,)
        assert f"z_{level}" in model.named_vars  # non-centred by default
        assert f"sd_{level}" in model.named_vars
    assert dims["slope"] == ("alliance", "slope_condition")
    assert "intercept" not in model.named_vars  # the cutpoints carry the location
    assert list(model.coords["condition"]) == list(survey.conditions)
    assert [v.name for v in model.observed_RVs] == ["y"]


def test_missing_codes_are_latent_values_at_their_own_level(survey):
    model = build_model(ModelSpec(outcome="learning"), survey)
    dims = _dims(model)
    sizes = {name: model[name].eval().size for name in ("x_missing_individual", "x_missing_network",
                                                         "x_missing_organisation")}
    assert sizes == {"x_missing_individual": 2, "x_missing_network": 1, "x_missing_organisation": 1}
    assert dims["x_missing_network"] == ("network_missing",)
    assert "x_missing_alliance" not in model.named_vars
    assert all(var in model.free_RVs for var in (model["x_missing_network"], model["x_missing_individual"]))


def test_data_live_in_containers_named_as_the_design(survey):
    design = make_design(ModelSpec(outcome="learning"), survey)
    model = model_from_design(design)
    containers = {var.name for var in model.data_vars}
    # plus the cutpoints' starting point, a container so that it follows reused compilations
    assert containers == set(design.data()) | set(start_data(design)) == set(design.data()) | {"cutpoint_start"}


def test_centred_level_has_no_offset(survey):
    model = build_model(ModelSpec(outcome="learning", centered=["network"]), survey)
    assert "z_network" not in model.named_vars
    assert model["u_network"] in model.free_RVs
    assert "z_alliance" in model.named_vars


@pytest.mark.parametrize(("spec", "expected"), [
    (ModelSpec(outcome="learned", conditions=["contact"], group_effects=[]), {"intercept", "b"}),
    (ModelSpec(outcome="score", conditions=["contact"], group_effects=[]), {"intercept", "b", "sigma"}),
    (ModelSpec(outcome="hits", family="binomial", trials="tries", conditions=["contact"], group_effects=[]),
     {"intercept", "b"}),
])
def test_other_families(spec, expected, survey):
    model = build_model(spec, survey)
    free = {v.name for v in model.free_RVs}
    assert expected <= free | set(model.named_vars)
    assert "cutpoints" not in model.named_vars
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_gaussian_default_priors_follow_the_outcome_scale(survey):
    # default effect prior Normal(0, 1) is per outcome SD: draws of b should have SD ~ sd(y)
    design = make_design(ModelSpec(outcome="score", conditions=["contact"], group_effects=[]), survey)
    model = model_from_design(design)
    draws = pm.draw(model["b"], draws=4000, random_seed=1)
    # SD of 4000 normal draws has relative Monte Carlo error ~ 1/sqrt(2*4000) = 1.1%; allow 5%
    assert np.std(draws) == pytest.approx(design.outcome_scale, rel=0.05)


@pytest.mark.parametrize("shrinkage", ["horseshoe", "r2d2m2"])
def test_shrinkage_priors_build(shrinkage, survey):
    design = make_design(ModelSpec(outcome="learning", shrinkage=shrinkage), survey)
    model = model_from_design(design)
    assert tuple(model.named_vars_to_dims["b"]) == ("condition",)
    assert model["b"] not in model.free_RVs  # b is derived from the shrinkage parts
    # ordered cutpoints need distinct starting values (the samplers get them from initial_values)
    for name, value in initial_values(design).items():
        model.set_initval(model[name], value)
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_cutpoint_start_is_increasing(survey):
    start = cutpoint_start(make_design(ModelSpec(outcome="learning"), survey))
    assert np.all(np.diff(start) > 0)


def _ordered_logistic_reference(y, eta, cutpoints):
    """Log-probabilities and gradient (w.r.t. eta and cutpoints) from PyMC's OrderedLogistic."""
    import pytensor
    import pytensor.tensor as pt

    eta_, cut_ = pt.dvector("eta"), pt.dvector("cutpoints")
    logp = pm.logp(pm.OrderedLogistic.dist(eta=eta_, cutpoints=cut_, compute_p=False), y)
    grad = pytensor.grad(logp.sum(), [eta_, cut_])
    return pytensor.function([eta_, cut_], [logp, *grad])(eta, cutpoints)


def test_cumulative_logit_logp_equals_pymc_ordered_logistic():
    import pytensor
    import pytensor.tensor as pt

    from models.build import cumulative_logit_logp

    rng = np.random.default_rng(11)
    eta = rng.normal(0.0, 3.0, 500)
    cutpoints = np.sort(rng.normal(0.0, 2.0, 4))
    y = rng.integers(0, 5, 500)
    eta_, cut_ = pt.dvector("eta"), pt.dvector("cutpoints")
    logp = cumulative_logit_logp(pt.as_tensor(y), eta_, cut_)
    grad = pytensor.grad(logp.sum(), [eta_, cut_])
    ours = pytensor.function([eta_, cut_], [logp, *grad])(eta, cutpoints)
    reference = _ordered_logistic_reference(y, eta, cutpoints)
    for mine, theirs in zip(ours, reference):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-11)
    # far in the tails (eta = -40: OrderedLogistic gives -inf for the middle categories),
    # against P(y = k) = expit(eta - c[k-1]) - expit(eta - c[k]), exact enough out there
    from scipy.special import expit

    tail = pytensor.function([eta_, cut_], logp)(np.full(500, -40.0), cutpoints)
    bounds = np.concatenate([[-np.inf], cutpoints, [np.inf]])
    exact = np.log(expit(-40.0 - bounds[y]) - expit(-40.0 - bounds[y + 1]))
    np.testing.assert_allclose(tail, exact, rtol=1e-10, atol=1e-15)  # y = 0: log(1 - 3e-17)


def test_cumulative_logit_draws_follow_the_category_probabilities():
    import pytensor.tensor as pt
    from scipy import stats

    from models.build import _cumulative_logit_draws

    cutpoints = np.array([-2.0, -0.5, 0.4, 1.8])
    draws = pm.draw(_cumulative_logit_draws(pt.constant(0.7), cutpoints, size=(20_000,)),
                    random_seed=5)
    below = 1.0 / (1.0 + np.exp(-(cutpoints - 0.7)))
    probabilities = np.diff(np.concatenate([[0.0], below, [1.0]]))
    counts = np.bincount(draws, minlength=5)
    assert stats.chisquare(counts, probabilities * draws.size).pvalue > 0.01
