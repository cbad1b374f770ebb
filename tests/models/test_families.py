"""Each family says what differs about it; nobody else compares its name."""

import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from models import FAMILIES, get_family
from models.families import PPC_KINDS, Family

ROOT = Path(__file__).resolve().parents[2]


def test_every_family_is_complete_and_consistent():
    for name, family in FAMILIES.items():
        assert family.name == name and family.label.startswith(name)
        assert family.ppc in PPC_KINDS
        # a family whose residual is not fixed has its own SD parameter to square
        assert family.latent_residual_variance is not None or family.auxiliary
        # the location lives in an intercept or in the cutpoints, and has a prior either way
        assert ("intercept" in family.prior_terms) == family.intercept
        if family.auxiliary:
            assert family.auxiliary in family.prior_terms
        # a continuous response has no categories to count
        assert family.discrete or family.ppc != "categories"


def test_categories_in_the_codebooks_codes():
    assert get_family("ordinal").categories(5) == [1, 2, 3, 4, 5]
    assert get_family("ordinal").categories(None) is None
    assert get_family("bernoulli").categories() == [0, 1]
    assert get_family("binomial").categories() is None  # counts: the values seen
    assert get_family("gaussian").categories(5) is None  # continuous: no categories


def test_residual_variance():
    assert get_family("bernoulli").residual_variance() == pytest.approx(math.pi**2 / 3)
    assert get_family("gaussian").residual_variance(2.0) == 4.0
    with pytest.raises(ValueError, match="sigma"):
        get_family("gaussian").residual_variance()


def test_unknown_family_and_bad_check_kind_are_named():
    with pytest.raises(ValueError, match="unknown family 'poisson'.*ordinal"):
        get_family("poisson")
    with pytest.raises(ValueError, match="ppc must be one of"):
        Family("odd", ("count",), "log", intercept=True, ppc="rootogram")



def test_no_name_comparison_outside_the_family_table_and_the_likelihoods():
    out = subprocess.run(["grep", "-rnE", r"family *(==|!=| in | not in )",
                          "data", "models", "analysis", "reports"],
                         cwd=ROOT, capture_output=True, text=True).stdout
    allowed = ("models/families.py", "models/build.py")
    found = [line for line in out.splitlines() if not line.startswith(allowed)
             and not re.search(r"\.py[:\d]+:\s*#", line)]
    assert not found, "\n".join(found)


# -- each family through the design, a short fit, its effects and its predictive checks ------
@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_family_codes_its_outcome_and_gets_its_own_checks(name, fits, survey):
    from analysis.checks import _ppc, effects_of
    from analysis.effects import binary_contrasts
    from models import ModelSpec, make_design, with_log_likelihood
    from tests.models.conftest import FIT_SPECS

    family = FAMILIES[name]
    design = make_design(ModelSpec(**FIT_SPECS[name]), survey)
    codes = survey.individuals[FIT_SPECS[name]["outcome"]].dropna().to_numpy(dtype=float)
    np.testing.assert_allclose(design.y, codes - family.y_offset)  # the model's coding
    assert np.issubdtype(design.y.dtype, np.integer) == family.discrete
    if family.scaled_y:
        assert design.outcome_scale == pytest.approx(np.std(codes, ddof=1))
    else:
        assert (design.outcome_location, design.outcome_scale) == (0.0, 1.0)

    tree = fits(name)
    y = tree["observed_data"]["y"]
    assert y.attrs["family"] == name
    np.testing.assert_allclose(y.values, codes)  # back in the codebook's codes
    assert np.issubdtype(tree["posterior_predictive"]["y"].dtype, np.integer) == family.discrete

    effects = effects_of(tree)
    assert effects.attrs["family"] == name
    assert effects.attrs["quantity"].startswith(f"change in {family.effect.format(top=4)}")
    if not family.scaled_y:
        assert "in SDs of y" not in effects.attrs["quantity"]
    else:  # the change in the mean in SDs of y: not a copy of the per-SD effect on eta
        b = tree["posterior"]["b"].sel(condition="contact")
        np.testing.assert_allclose(effects.sel(condition="contact"),
                                   b / float(tree.attrs["outcome_scale"]), rtol=1e-10)
        assert float(tree.attrs["outcome_scale"]) != pytest.approx(1.0, abs=0.05)

    # the fit keeps no log-likelihood (the checks compute it by chunks): LOO-PIT needs it here
    checks = _ppc(with_log_likelihood(tree, ModelSpec(**FIT_SPECS[name]), survey), seed=1)
    assert checks.kind == family.ppc
    rows = list(checks.proportions["overall"][checks.row_dim].values)
    if family.ppc == "categories":
        assert rows == (family.categories(design.n_categories) or sorted(set(rows)))
    else:
        assert rows[:2] == ["mean", "sd"]
    assert checks.group_statistics  # per-group checks for every family
    assert checks.loo_pit.randomised == family.discrete
    if "prior_coop" in (design.conditions or ()):
        assert list(binary_contrasts(tree)) == ["prior_coop"]  # the one 0/1 condition


def test_a_binary_condition_is_contrasted_from_0_to_1(fits):
    # the ordinal fit has every condition of the tiny survey, prior_coop (0/1) among them
    from scipy.special import expit

    from analysis.checks import effects_of, linear_predictor
    from analysis.effects import binary_contrasts

    tree = fits("ordinal")
    contrasts = binary_contrasts(tree)
    assert list(contrasts) == ["prior_coop"]
    part, x0, x1 = contrasts["prior_coop"]
    constant = tree["constant_data"]
    center = float(constant["condition_center"].sel(condition="prior_coop"))
    scale = float(constant["condition_scale"].sel(condition="prior_coop"))
    assert (x0, x1) == pytest.approx(((0 - center) / scale, (1 - center) / scale))
    effects = effects_of(tree)
    assert effects.attrs["contrast"] == ["prior_coop"]
    # by hand for one draw: everyone at 1 against everyone at 0, P(y >= 4)
    eta = linear_predictor(tree).isel(chain=0, draw=0).values
    b = float(tree["posterior"]["b"].sel(condition="prior_coop").isel(chain=0, draw=0))
    rest = eta - part.isel(chain=0, draw=0).values
    cut = float(tree["posterior"]["cutpoints"].isel(chain=0, draw=0)[2])
    expected = np.mean(expit(rest + b * x1 - cut)) - np.mean(expit(rest + b * x0 - cut))
    assert float(effects.sel(condition="prior_coop").isel(chain=0, draw=0)) == pytest.approx(expected)
