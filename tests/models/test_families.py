"""Each family says what differs about it; nobody else compares its name."""

import math
import pytest

from models import FAMILIES, get_family
from models.families import PPC_KINDS, Family


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

