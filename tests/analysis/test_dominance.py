"""Dominance statistics on hand-made R^2 draws (pure functions, no MCMC).

Three groups A, B, C and three draws of the R^2 of every subset. The expected additional
contributions, conditional and general dominance below were worked out by hand from the
definitions of Azen & Budescu (2003):

draw 1: A completely dominates B (R2(A) > R2(B), R2(AC) > R2(BC)).
draw 2: B and C work together (R2(BC) > R2(AC)): A does not dominate B completely nor
        conditionally (at order 2, ABC - BC = 0.17 < ABC - AC = 0.21), but generally
        (0.2167 > 0.1867).
draw 3: B completely dominates A.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from analysis.dominance import dominance_statistics, subset_label

GROUPS = ("A", "B", "C")
R2 = {  # subset: (draw 1, draw 2, draw 3)
    "A": (0.30, 0.30, 0.10),
    "B": (0.20, 0.20, 0.30),
    "C": (0.05, 0.05, 0.05),
    "A+B": (0.40, 0.40, 0.35),
    "A+C": (0.32, 0.21, 0.12),
    "B+C": (0.22, 0.25, 0.32),
    "A+B+C": (0.42, 0.42, 0.37),
}
# conditional dominance by hand: group -> per draw, orders 0, 1, 2
CONDITIONAL = {
    "A": [(0.30, (0.20 + 0.27) / 2, 0.20), (0.30, (0.20 + 0.16) / 2, 0.17),
          (0.10, (0.05 + 0.07) / 2, 0.05)],
    "B": [(0.20, (0.10 + 0.17) / 2, 0.10), (0.20, (0.10 + 0.20) / 2, 0.21),
          (0.30, (0.25 + 0.27) / 2, 0.25)],
    "C": [(0.05, (0.02 + 0.02) / 2, 0.02), (0.05, (-0.09 + 0.05) / 2, 0.02),
          (0.05, (0.02 + 0.02) / 2, 0.02)],
}


def hand_r2() -> xr.DataArray:
    labels = list(R2)
    values = np.array([R2[s] for s in labels]).T[np.newaxis]  # (chain, draw, subset)
    return xr.DataArray(values, dims=("chain", "draw", "subset"),
                        coords={"chain": [0], "draw": [0, 1, 2], "subset": labels})


@pytest.fixture(scope="module")
def result():
    return dominance_statistics(hand_r2(), GROUPS)


def test_conditional_and_general_dominance_match_the_hand_computation(result):
    for group, draws in CONDITIONAL.items():
        np.testing.assert_allclose(result.conditional.sel(level=group).isel(chain=0).values,
                                   np.array(draws), atol=1e-12)
        np.testing.assert_allclose(result.general.sel(level=group).isel(chain=0).values,
                                   np.array(draws).mean(axis=1), atol=1e-12)
    # general dominance splits the full model's R^2 (Azen & Budescu 2003)
    np.testing.assert_allclose(result.general.sum("level").values,
                               result.r2.sel(subset="A+B+C").values, atol=1e-12)
    np.testing.assert_allclose(result.general_share.sum("level").values, 1.0, atol=1e-12)
    # additional contribution of C to {A} in draw 2 is negative: kept, not clipped
    assert float(result.additional.sel(level="C", subset="A").isel(chain=0, draw=1)) == pytest.approx(-0.09)
    assert np.isnan(result.additional.sel(level="A", subset="A+B")).all()


def test_posterior_probabilities_of_complete_conditional_general_dominance(result):
    pair = {"level": "A", "other_level": "B"}
    assert float(result.p_complete.sel(pair)) == pytest.approx(1 / 3)     # draw 1
    assert float(result.p_conditional.sel(pair)) == pytest.approx(1 / 3)  # draw 1
    assert float(result.p_general.sel(pair)) == pytest.approx(2 / 3)      # draws 1 and 2
    reverse = {"level": "B", "other_level": "A"}
    assert float(result.p_complete.sel(reverse)) == pytest.approx(1 / 3)  # draw 3
    assert float(result.p_general.sel(reverse)) == pytest.approx(1 / 3)
    # A and B over C in every draw
    for group in ("A", "B"):
        assert float(result.p_complete.sel(level=group, other_level="C")) == 1.0
        assert float(result.p_complete.sel(level="C", other_level=group)) == 0.0
    # complete implies conditional implies general, draw by draw, so also in probability
    off = ~np.eye(3, dtype=bool)
    assert np.all(result.p_complete.values[off] <= result.p_conditional.values[off])
    assert np.all(result.p_conditional.values[off] <= result.p_general.values[off])
    assert np.isnan(np.diag(result.p_general.values)).all()
    # by posterior mean general dominance: B (0.203) before A (0.176), draw 3 weighs in
    assert result.ranking == ["B", "A", "C"]


def test_named_dims_and_plain_json(result):
    assert result.r2.dims == ("chain", "draw", "subset")
    assert list(result.r2["subset"].values) == ["none", "A", "B", "C", "A+B", "A+C", "B+C", "A+B+C"]
    assert float(result.r2.sel(subset="none").sum()) == 0.0
    assert result.conditional.dims == ("chain", "draw", "level", "order")
    assert result.p_general.dims == ("level", "other_level")
    content = result.to_dict()
    json.dumps(content, allow_nan=False)
    assert content["p_general"]["A"]["B"] == pytest.approx(2 / 3)
    assert "B" not in content["p_general"]["B"]
    text = str(result)
    assert "B over A: 0.333 / 0.333 / 0.333" in text  # pairs in ranking order


def test_subset_labels_follow_the_group_order():
    assert subset_label(["alliance", "individual"]) == "individual+alliance"
    assert subset_label([]) == "none"
    assert subset_label(["C", "A"], ["A", "B", "C"]) == "A+C"


def test_every_input_problem_is_named():
    r2 = hand_r2()
    with pytest.raises(ValueError, match=r"lacks the subset\(s\) \['A\+C', 'B\+C'\]"):
        dominance_statistics(r2.drop_sel(subset=["A+C", "B+C"]), GROUPS)
    with pytest.raises(ValueError, match="at least two groups"):
        dominance_statistics(r2, ["A"])
    with pytest.raises(ValueError, match="lacks dim"):
        dominance_statistics(r2.isel(chain=0), GROUPS)
    with pytest.raises(ValueError, match="missing values"):
        dominance_statistics(r2.where(r2 < 0.4), GROUPS)
