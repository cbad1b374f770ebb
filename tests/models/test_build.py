"""Graph structure of the PyMC model (no sampling)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from models import ModelSpec, build_model, make_design
from models.build import cutpoint_start, initial_values, model_from_design, start_data


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


def _predictor_parts(rng, n=400):
    """Random parts of a linear predictor: X (n x 3), b, a table of two levels, positions."""
    sizes = (9, 4)
    table = rng.normal(0.0, 1.0, sum(sizes))
    idx = np.stack([rng.integers(0, sizes[0], n), sizes[0] + rng.integers(0, sizes[1], n)], axis=1)
    return rng.normal(size=(n, 3)), rng.normal(size=3), table, idx, rng.normal(0.0, 2.0, n)


def _logp_and_gradients(logp_of, parts, cutpoints, weights, mode):
    """Values of logp (per row) and of the gradient of sum(weights * logp) wrt X, b, table,
    offset and the cutpoints, compiled in ``mode``."""
    import pytensor
    import pytensor.tensor as pt

    X, b, table, idx, offset = parts
    inputs = [pt.dmatrix("X"), pt.dvector("b"), pt.dvector("table"), pt.dvector("offset"), pt.dvector("cut")]
    X_, b_, table_, offset_, cut_ = inputs
    logp = logp_of(X_, b_, table_, pt.as_tensor(idx), offset_, cut_)
    grads = pytensor.grad((weights * logp).sum(), inputs)
    return pytensor.function(inputs, [logp, *grads], mode=mode)(X, b, table, offset, cutpoints)


def _ours(y):
    from models.ordinal import cumulative_logit_logp_op

    return lambda *parts: cumulative_logit_logp_op(y, *parts)


def _ordered_logistic(y):
    from models.ordinal import linear_predictor

    def logp_of(X, b, table, idx, offset, cutpoints):
        eta = linear_predictor(X, b, table, idx, offset)
        return pm.logp(pm.OrderedLogistic.dist(eta=eta, cutpoints=cutpoints, compute_p=False), y)

    return logp_of


@pytest.mark.parametrize("mode", ["NUMBA", "FAST_RUN"])
def test_cumulative_logit_op_equals_pymc_ordered_logistic(mode):
    """Log-probabilities and every gradient, in nutpie's numba backend and PyTensor's C one.

    Random weights make the gradient Op's cotangent general (a sampler's is all ones); the
    second set of values lies beyond the shared-exp form's range, where the Op recomputes
    every row in the softplus form.
    """
    rng = np.random.default_rng(11)
    parts = _predictor_parts(rng)
    y = rng.integers(0, 5, 400)
    weights = rng.uniform(0.5, 2.0, 400)
    for offset_shift, cutpoints in ((0.0, np.sort(rng.normal(0.0, 2.0, 4))),
                                    (350.0, 350.0 + np.sort(rng.normal(0.0, 2.0, 4)))):
        shifted = (*parts[:4], parts[4] + offset_shift)
        ours = _logp_and_gradients(_ours(y), shifted, cutpoints, weights, mode)
        reference = _logp_and_gradients(_ordered_logistic(y), shifted, cutpoints, weights, mode)
        for name, mine, theirs in zip(("logp", "X", "b", "table", "offset", "cutpoints"), ours, reference):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-10, err_msg=name)


def test_the_kernels_exp_and_log_are_within_an_ulp_of_numpys():
    """The fast pass's exp and log, written as arithmetic on the bits so that LLVM
    vectorises them, against numpy's (libm's), over the ranges the kernel uses them on."""
    import numba

    from models.ordinal import _exp, _log

    def ufunc(scalar):  # the kernel's inline scalar function over an array
        return numba.vectorize(["float64(float64)"])(lambda x: scalar(x))

    exp, log = ufunc(_exp), ufunc(_log)

    rng = np.random.default_rng(7)
    eps = np.finfo(float).eps
    for x in (rng.uniform(-700.0, 700.0, 200_000), rng.uniform(-1.0, 1.0, 200_000), np.arange(-5.0, 5.0, 0.125)):
        assert np.max(np.abs(exp(x) / np.exp(x) - 1.0)) <= eps
    for q in (np.exp(rng.uniform(-700.0, 700.0, 200_000)), 1.0 + rng.uniform(0.0, 1e-6, 200_000),
              rng.uniform(0.5, 4.0, 200_000), np.array([1.0, 2.0, np.sqrt(2.0), 0.75, 1e300])):
        reference = np.log(q)
        assert np.all(np.abs(log(q) - reference) <= eps * np.maximum(np.abs(reference), np.finfo(float).tiny))


def test_cumulative_logit_op_is_exact_far_in_the_tails():
    """At eta = -40 (OrderedLogistic gives -inf for the middle categories) and eta = +-400
    (beyond the shared-exp form), against P(y = k) = expit(eta - c[k-1]) - expit(eta - c[k])."""
    import pytensor
    import pytensor.tensor as pt
    from scipy.special import expit

    from models.ordinal import cumulative_logit_logp_op

    rng = np.random.default_rng(3)
    cutpoints = np.sort(rng.normal(0.0, 2.0, 4))
    y = np.tile(np.arange(5), 100)
    offset = pt.dvector("offset")
    logp = pytensor.function([offset], cumulative_logit_logp_op(
        y, np.zeros((500, 0)), np.zeros(0), np.zeros(0), np.zeros((500, 0), dtype=int), offset, cutpoints))
    bounds = np.concatenate([[-np.inf], cutpoints, [np.inf]])

    tail = logp(np.full(500, -40.0))
    exact = np.log(expit(-40.0 - bounds[y]) - expit(-40.0 - bounds[y + 1]))
    np.testing.assert_allclose(tail, exact, rtol=1e-10, atol=1e-15)  # y = 0: log(1 - 3e-17)
    # out there P(y = k) = exp(-400) (exp(c[k]) - exp(c[k-1])) at eta = 400 and
    # exp(-400) (exp(-c[k-1]) - exp(-c[k])) at eta = -400, to a relative error of ~exp(-390)
    low = y < 2
    far = logp(np.where(low, 400.0, -400.0))
    expected = -400.0 + np.where(low, np.log(np.exp(bounds[y + 1]) - np.exp(bounds[y])),
                                 np.log(np.exp(-bounds[y]) - np.exp(-bounds[y + 1])))
    np.testing.assert_allclose(far, expected, rtol=1e-12)


def test_logp_and_gradient_share_one_pass():
    """Where a graph needs logp and its gradient, the gradient Op supplies both."""
    import pytensor
    import pytensor.tensor as pt

    from models.ordinal import (
        CumulativeLogitGrad,
        CumulativeLogitLogp,
        cumulative_logit_logp_op,
    )

    rng = np.random.default_rng(5)
    X, b, table, idx, offset = _predictor_parts(rng)
    b_ = pt.dvector("b")
    logp = cumulative_logit_logp_op(rng.integers(0, 5, 400), X, b_, table, idx, offset,
                                    np.array([-1.0, 0.0, 1.0, 2.0])).sum()
    both = pytensor.function([b_], [logp, pytensor.grad(logp, b_)], mode="NUMBA")
    ops = [type(node.op) for node in both.maker.fgraph.apply_nodes]
    assert CumulativeLogitGrad in ops and CumulativeLogitLogp not in ops
    alone = pytensor.function([b_], logp, mode="NUMBA")
    assert both(b)[0] == pytest.approx(alone(b), rel=1e-14)


def test_one_offset_and_a_samplers_unit_weights_are_passed_as_one_value():
    """An offset of static shape (1,) stands for every row, and the gradient of a sum (all
    weights 1) reaches the gradient Op as one weight, not a vector filled at every call;
    logp and gradients equal those of the offset and weights written out per row."""
    import pytensor
    import pytensor.tensor as pt

    from models.ordinal import CumulativeLogitGrad, cumulative_logit_logp_op

    rng = np.random.default_rng(8)
    X, b, table, idx, _ = _predictor_parts(rng)
    y = pytensor.shared(rng.integers(0, 5, 400), name="y")  # data, as in a model: not folded
    cutpoints = np.array([-1.0, 0.0, 1.0, 2.0])
    b_, table_, shift = pt.dvector("b"), pt.dvector("table"), pt.dscalar("shift")
    results = []
    for offset in (pt.zeros((1,)) + shift, pt.zeros(400) + shift):
        logp = cumulative_logit_logp_op(y, X, b_, table_, idx, offset, cutpoints).sum()
        function = pytensor.function([b_, table_, shift], [logp, *pytensor.grad(logp, [b_, table_, shift])],
                                     mode="NUMBA")
        grads = [node for node in function.maker.fgraph.apply_nodes if isinstance(node.op, CumulativeLogitGrad)]
        assert len(grads) == 1 and grads[0].inputs[-1].type.shape == (1,)
        results.append(function(b, table, 0.3))
    for one, per_row in zip(*results):
        np.testing.assert_allclose(one, per_row, rtol=1e-12)


def test_model_logp_equals_ordered_logistic_on_its_linear_predictor(survey):
    """The whole model (missing codes imputed, slopes varying by alliance), logp and
    gradient, against the same model with PyMC's OrderedLogistic on the same eta."""
    import pytensor

    from models.ordinal import linear_predictor

    design = make_design(ModelSpec(outcome="learning", varying_slopes=["contact"]), survey)
    model = model_from_design(design)
    y = model["y"]
    *parts, cutpoints = y.owner.op.dist_params(y.owner)
    value = model.rvs_to_values[y]
    reference_y = pm.logp(pm.OrderedLogistic.dist(eta=linear_predictor(*parts), cutpoints=cutpoints,
                                                  compute_p=False), value).sum()
    priors = model.logp(vars=model.free_RVs)
    reference = priors + model.replace_rvs_by_values([reference_y])[0]
    ours = model.logp()
    point = model.initial_point()
    rng = np.random.default_rng(2)
    for name in point:
        point[name] = point[name] + rng.normal(0.0, 0.3, np.shape(point[name]))
    point["cutpoints_ordered__"] = model.rvs_to_transforms[model["cutpoints"]].forward(
        cutpoint_start(design)).eval()
    values = [point[v.name] for v in model.value_vars]
    for mode in ("NUMBA", "FAST_RUN"):
        results = [pytensor.function(model.value_vars, [logp, *pytensor.grad(logp, model.value_vars)],
                                     mode=mode)(*values) for logp in (ours, reference)]
        for mine, theirs in zip(*results):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9)


def test_cumulative_logit_draws_follow_the_category_probabilities():
    import pytensor.tensor as pt
    from scipy import stats

    from models.build import _cumulative_logit_draws

    cutpoints = np.array([-2.0, -0.5, 0.4, 1.8])
    # eta = 0.7 for every draw: offset 0.7, no conditions, no groups
    n = 20_000
    draws = pm.draw(_cumulative_logit_draws(np.zeros((n, 0)), np.zeros(0), np.zeros(0),
                                            np.zeros((n, 0), dtype=int), pt.constant(np.full(n, 0.7)),
                                            cutpoints, size=(n,)),
                    random_seed=5)
    below = 1.0 / (1.0 + np.exp(-(cutpoints - 0.7)))
    probabilities = np.diff(np.concatenate([[0.0], below, [1.0]]))
    counts = np.bincount(draws, minlength=5)
    assert stats.chisquare(counts, probabilities * draws.size).pvalue > 0.01


def test_pymc_extras_runs_its_init_only_when_used():
    """models imports pymc_extras.prior without pymc_extras' heavy __init__ (a fit never
    needs it), and the package still works in full when a user's code asks for more."""
    import subprocess
    import sys

    code = ("import sys, models\n"
            "assert 'pymc_extras.inference' not in sys.modules, 'the full __init__ ran'\n"
            "import pymc_extras\n"
            "from pymc_extras.prior import Prior\n"
            "assert Prior is sys.modules['models.build'].Prior\n"
            "assert callable(pymc_extras.fit_laplace) and pymc_extras.__version__\n"
            "from pymc_extras import marginal, statespace\n"
            "assert 'pymc_extras.inference' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
