"""Readable effects against a direct computation on a tiny fixed posterior."""

import numpy as np
import pytest
import xarray as xr
from scipy.special import expit

from analysis import posterior_summary, readable_effects

CONDITIONS = ["trust", "payoff", "size"]
# 2 chains x 2 draws of three effects (per SD), and a 4-individual linear predictor.
BETA = np.array([[[0.5, -0.2, 0.0], [0.8, 0.1, -0.3]], [[0.4, 0.0, 0.2], [1.2, -0.5, 0.1]]])
ETA = np.array(
    [
        [[-1.0, 0.0, 0.5, 2.0], [-0.5, 0.3, 1.0, 1.5]],
        [[0.0, 0.0, -2.0, 1.0], [0.2, -0.8, 0.9, 0.4]],
    ]
)
# Four increasing cutpoints of a 1..5 outcome, per draw.
CUTS = np.array(
    [
        [[-2.0, -0.5, 0.5, 2.0], [-1.5, -0.4, 0.8, 1.9]],
        [[-2.2, -0.6, 0.3, 1.7], [-1.8, -0.2, 0.6, 2.4]],
    ]
)


def beta():
    return xr.DataArray(BETA, dims=("chain", "draw", "condition"), coords={"condition": CONDITIONS})


def eta():
    return xr.DataArray(ETA, dims=("chain", "draw", "individual"))


def cutpoints():
    return xr.DataArray(CUTS, dims=("chain", "draw", "cutpoint"))


def p_at_least(top, eta_values, cuts):
    """P(y >= top) summed from category probabilities P(y = k) = F(c_k - eta) - F(c_{k-1} - eta)."""
    cumulative = np.concatenate([[0.0], expit(cuts - eta_values), [1.0]])  # P(y <= 0..5)
    category = np.diff(cumulative)  # P(y = 1..5)
    return category[top - 1 :].sum()


def test_ordinal_change_in_top_two_categories():
    effect = readable_effects(beta(), eta(), family="ordinal", cutpoints=cutpoints())
    assert effect.attrs["quantity"].startswith("change in P(y >= 4)")  # default: top two of five
    for c in range(2):
        for d in range(2):
            for k, name in enumerate(CONDITIONS):
                before = np.mean([p_at_least(4, e, CUTS[c, d]) for e in ETA[c, d]])
                after = np.mean(
                    [p_at_least(4, e + BETA[c, d, k], CUTS[c, d]) for e in ETA[c, d]]
                )
                got = float(effect.sel(condition=name)[c, d])
                assert got == pytest.approx(after - before, abs=1e-12)
    # A zero effect changes nothing; a positive effect raises P(y >= 4).
    assert float(effect.sel(condition="size")[0, 0]) == 0.0
    assert float(effect.sel(condition="trust")[0, 0]) > 0


def test_ordinal_convention_matches_pymc():
    """P(y >= 4) is PyMC's OrderedLogistic P(y in {3, 4}) (PyMC codes categories 0..4)."""
    pm = pytest.importorskip("pymc")
    eta_values, cuts, shift = ETA[0, 1], CUTS[0, 1], BETA[0, 1, 0]

    def p_top(e):
        dist = pm.OrderedLogistic.dist(eta=e, cutpoints=cuts)
        return sum(np.exp(pm.logp(dist, np.full(e.shape, k)).eval()) for k in (3, 4))

    expected = np.mean(p_top(eta_values + shift) - p_top(eta_values))
    effect = readable_effects(beta(), eta(), family="ordinal", cutpoints=cutpoints(), top=4)
    assert float(effect.sel(condition="trust")[0, 1]) == pytest.approx(expected, abs=1e-10)


def test_top_category_and_step_per_condition():
    step = xr.DataArray([2.0, 1.0, 0.5], dims="condition", coords={"condition": CONDITIONS})
    effect = readable_effects(
        beta(), eta(), family="ordinal", cutpoints=cutpoints(), top=5, step=step
    )
    c, d = 1, 1
    before = np.mean([p_at_least(5, e, CUTS[c, d]) for e in ETA[c, d]])
    after = np.mean([p_at_least(5, e + 2.0 * BETA[c, d, 0], CUTS[c, d]) for e in ETA[c, d]])
    assert float(effect.sel(condition="trust")[c, d]) == pytest.approx(after - before, abs=1e-12)
    with pytest.raises(ValueError, match="top must be in 2..5"):
        readable_effects(beta(), eta(), family="ordinal", cutpoints=cutpoints(), top=6)
    with pytest.raises(ValueError, match="cutpoints"):
        readable_effects(beta(), eta(), family="ordinal")


def test_bernoulli_change_in_probability():
    effect = readable_effects(beta(), eta(), family="bernoulli")
    expected = expit(ETA[..., None] + BETA[:, :, None, :]).mean(axis=2) - expit(ETA).mean(axis=2)[
        ..., None
    ]
    np.testing.assert_allclose(effect.transpose("chain", "draw", "condition"), expected)


def test_gaussian_change_in_mean_is_step_times_beta():
    effect = readable_effects(beta(), eta(), family="gaussian", step=0.5)
    np.testing.assert_allclose(effect.transpose("chain", "draw", "condition"), 0.5 * BETA)


def test_gaussian_change_in_mean_in_sds_of_y_is_not_the_linear_predictor_table():
    effect = readable_effects(beta(), eta(), family="gaussian", outcome_sd=4.0)
    np.testing.assert_allclose(effect.transpose("chain", "draw", "condition"), BETA / 4.0)
    assert effect.attrs["quantity"].startswith("change in mean of y in SDs of y")
    with pytest.raises(ValueError, match="outcome_sd must be a positive"):
        readable_effects(beta(), eta(), family="gaussian", outcome_sd=0.0)


def _contrast(x, x0, x1):
    """A binary condition 'trust' with codes x (model scale) per individual."""
    part = beta().sel(condition="trust", drop=True) * xr.DataArray(x, dims="individual")
    return {"trust": (part, x0, x1)}


@pytest.mark.parametrize("family", ["bernoulli", "ordinal", "gaussian"])
def test_binary_condition_is_contrasted_from_0_to_1_for_everyone(family):
    x = np.array([0.0, 1.0, 1.0, 0.0])  # raw codes, not standardised (x0 = 0, x1 = 1)
    eta_values = ETA + BETA[..., :1] * x  # eta includes trust's contribution
    eta_da = xr.DataArray(eta_values, dims=("chain", "draw", "individual"))
    cuts = cutpoints() if family == "ordinal" else None
    effect = readable_effects(beta(), eta_da, family=family, cutpoints=cuts, contrast=_contrast(x, 0.0, 1.0))
    assert effect.attrs["contrast"] == ["trust"] and "0 -> 1" in effect.attrs["quantity"]
    for c in range(2):
        for d in range(2):
            rest = ETA[c, d]  # everyone's eta without trust
            b = BETA[c, d, 0]
            if family == "bernoulli":
                expected = np.mean(expit(rest + b)) - np.mean(expit(rest))
            elif family == "ordinal":
                expected = (np.mean([p_at_least(4, e + b, CUTS[c, d]) for e in rest])
                            - np.mean([p_at_least(4, e, CUTS[c, d]) for e in rest]))
            else:
                expected = b
            assert float(effect.sel(condition="trust")[c, d]) == pytest.approx(expected, abs=1e-12)
            # the others still move by one step, from the observed eta
            if family == "bernoulli":
                moved = np.mean(expit(eta_values[c, d] + BETA[c, d, 1])) - np.mean(expit(eta_values[c, d]))
                assert float(effect.sel(condition="payoff")[c, d]) == pytest.approx(moved, abs=1e-12)
    # on a standardised scale the contrast is b * (x1 - x0), not b per SD
    z = (x - 0.5) / np.std(x, ddof=1)
    standardised = readable_effects(beta(), eta_da, family="gaussian",
                                    contrast=_contrast(z, -0.5 / np.std(x, ddof=1), 0.5 / np.std(x, ddof=1)))
    np.testing.assert_allclose(standardised.sel(condition="trust"), BETA[..., 0] / np.std(x, ddof=1))


def test_summary_has_condition_dim():
    effect = readable_effects(beta(), eta(), family="bernoulli")
    summary = posterior_summary(effect)
    assert set(summary.dims) == {"stat", "condition"}
    assert summary.attrs["ci_prob"] == 0.89


def test_bad_input():
    with pytest.raises(ValueError, match="unknown family"):
        readable_effects(beta(), eta(), family="poisson")
    broken = eta().copy()
    broken[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="eta holds 1 missing"):
        readable_effects(beta(), broken, family="bernoulli")
    with pytest.raises(ValueError, match="beta lacks"):
        readable_effects(beta().rename(condition="term"), eta(), family="bernoulli")
    with pytest.raises(ValueError, match="contrast names condition"):
        readable_effects(beta(), eta(), family="bernoulli", contrast=_contrast(np.zeros(4), 0.0, 1.0) | {
            "size_x": (eta(), 0.0, 1.0)})
