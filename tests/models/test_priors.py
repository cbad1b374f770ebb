"""The default priors table: every entry is a valid, serialisable Prior."""

from __future__ import annotations

import pytest
from pymc_extras.prior import Prior

from models import DEFAULT_PRIORS
from models.priors import OUTCOME_SCALED, prior_key_problems, prior_problems


@pytest.mark.parametrize("kind", sorted(DEFAULT_PRIORS))
def test_default_prior_is_a_valid_prior(kind):
    raw = DEFAULT_PRIORS[kind]
    assert prior_problems(kind, raw) == []
    assert Prior.from_dict(raw).to_dict() == raw


def test_outcome_scaled_kinds_have_a_sigma():
    # build.py multiplies `sigma` of these defaults by the outcome SD (gaussian family)
    for kind in OUTCOME_SCALED:
        assert "sigma" in DEFAULT_PRIORS[kind]["kwargs"]


def test_prior_keys():
    assert prior_key_problems("group_sd.network") == []
    assert prior_key_problems("effect.network")  # only group_sd is per level
    assert prior_key_problems("slope")
    assert prior_problems("effect", {"dist": "Normal", "dims": ["condition"]})  # dims are the model's
