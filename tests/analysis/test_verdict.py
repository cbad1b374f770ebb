"""The dominance verdict: every branch of the rule, and the diagnostic gates."""

import dataclasses

import arviz_base
import numpy as np
import pytest
import xarray as xr

from analysis import DEFAULT_GATES, PER_CHAIN_ESS_GATES, dominance_verdict, sampling_diagnostics
from analysis.verdict import VERDICTS

GOOD = {
    "max_rhat": 1.002,
    "min_ess_bulk": 1500.0,
    "min_ess_tail": 1200.0,
    "min_ess_bulk_per_chain": 375.0,
    "min_ess_tail_per_chain": 300.0,
    "divergences": 0,
    "min_bfmi": 0.9,
}


def side_shares(interpersonal, chains=1):
    """Shares per draw with the interorganisational share = 1 - interpersonal."""
    s = np.asarray(interpersonal, dtype=float).reshape(chains, -1)
    return xr.DataArray(
        np.stack([s, 1 - s], axis=-1),
        dims=("chain", "draw", "side"),
        coords={"side": ["interpersonal", "interorganisational"]},
    )


def test_interpersonal_dominates():
    result = dominance_verdict(side_shares([0.7] * 20), GOOD)
    assert result.verdict == "interpersonal dominates"
    assert result.p_interpersonal_dominates == 1.0
    assert result.p_interpersonal_greater == 1.0
    assert result.trustworthy


def test_interorganisational_dominates():
    result = dominance_verdict(side_shares([0.3] * 10 + [0.2] * 10, chains=2), GOOD)
    assert result.verdict == "interorganisational dominates"
    assert result.p_interorganisational_dominates == 1.0


def test_threshold_is_inclusive():
    # d = 2 s - 1: s = 0.7 gives d = 0.4 > rope, s = 0.5 gives d = 0 (inside the rope).
    at_threshold = [0.7] * 19 + [0.5]  # P(d > rope) = 19/20 = 0.95
    assert dominance_verdict(side_shares(at_threshold), GOOD).verdict == "interpersonal dominates"
    below = [0.7] * 18 + [0.5] * 2  # 0.90
    result = dominance_verdict(side_shares(below), GOOD)
    assert result.verdict == "inconclusive"
    assert result.p_interpersonal_dominates == pytest.approx(0.9)
    assert result.p_equivalent == pytest.approx(0.1)


def test_inconclusive_when_split():
    result = dominance_verdict(side_shares([0.7] * 10 + [0.3] * 10), GOOD)
    assert result.verdict == "inconclusive"
    assert result.p_interpersonal_greater == pytest.approx(0.5)


def test_equivalence_is_its_own_probability():
    # s in 0.49..0.51: |d| <= 0.02 < rope for every draw.
    result = dominance_verdict(side_shares(np.linspace(0.49, 0.51, 20)), GOOD)
    assert result.verdict == "inconclusive"
    assert result.p_equivalent == 1.0
    total = result.p_interpersonal_dominates + result.p_equivalent
    total += result.p_interorganisational_dominates
    assert total == pytest.approx(1.0)


def test_rope_moves_the_boundary():
    shares = side_shares([0.56] * 20)  # d = 0.12 in every draw
    assert dominance_verdict(shares, GOOD, rope=0.1).verdict == "interpersonal dominates"
    assert dominance_verdict(shares, GOOD, rope=0.15).verdict == "inconclusive"


@pytest.mark.parametrize(
    "statistic, bad_value",
    [
        ("max_rhat", 1.02),
        ("min_ess_bulk", 399.0),
        ("min_ess_tail", 120.0),
        ("divergences", 1),
        ("min_bfmi", 0.29),
        ("max_rhat", float("nan")),
        ("min_bfmi", None),
    ],
)
def test_a_failed_gate_refuses_a_dominance_verdict(statistic, bad_value):
    diagnostics = GOOD | {statistic: bad_value}
    for shares in (side_shares([0.9] * 20), side_shares([0.1] * 20)):
        result = dominance_verdict(shares, diagnostics)
        assert result.verdict == "not trustworthy"
        assert not result.trustworthy
        # The probabilities are still there for the reader.
        assert max(result.p_interpersonal_dominates, result.p_interorganisational_dominates) == 1
        assert "FAILED" in str(result)


def test_missing_statistic_fails_its_gate():
    diagnostics = {k: v for k, v in GOOD.items() if k != "divergences"}
    result = dominance_verdict(side_shares([0.9] * 20), diagnostics)
    assert result.verdict == "not trustworthy"
    assert "divergences: not available" in str(result)


def test_gates_are_configurable():
    diagnostics = GOOD | {"min_ess_bulk": 250.0}
    lenient = tuple(
        dataclasses.replace(g, threshold=200) if g.statistic == "min_ess_bulk" else g
        for g in DEFAULT_GATES
    )
    shares = side_shares([0.9] * 20)
    assert dominance_verdict(shares, diagnostics).verdict == "not trustworthy"
    result = dominance_verdict(shares, diagnostics, gates=lenient)
    assert result.verdict == "interpersonal dominates"
    # Per-chain ESS: 100 per chain, whatever the number of chains.
    per_chain = GOOD | {"min_ess_bulk": 250.0, "min_ess_bulk_per_chain": 125.0}
    result = dominance_verdict(shares, per_chain, gates=PER_CHAIN_ESS_GATES)
    assert result.verdict == "interpersonal dominates"


def test_dataset_input_uses_the_pratt_side_share():
    ds = xr.Dataset({"side_share": side_shares([0.8] * 20)})
    assert dominance_verdict(ds, GOOD).verdict == "interpersonal dominates"


def test_bad_arguments():
    shares = side_shares([0.8] * 20)
    with pytest.raises(ValueError, match="prob_threshold"):
        dominance_verdict(shares, GOOD, prob_threshold=0.5)
    with pytest.raises(ValueError, match="rope"):
        dominance_verdict(shares, GOOD, rope=-0.1)
    with pytest.raises(ValueError, match="no side"):
        dominance_verdict(shares.sel(side=["interpersonal"]), GOOD)
    odd = (dataclasses.replace(DEFAULT_GATES[0], passes_if="<"),)
    with pytest.raises(ValueError, match=r"gate comparisons must be '<=' or '>=', got \['<'\]"):
        dominance_verdict(shares, GOOD, gates=odd)


def test_readable_report_and_dict():
    result = dominance_verdict(side_shares([0.7] * 20), GOOD)
    text = str(result)
    assert text.startswith("Verdict: interpersonal dominates")
    assert "R-hat: 1.002 (needs <= 1.01) ok" in text
    record = result.to_dict()
    assert record["verdict"] in VERDICTS
    assert [g["statistic"] for g in record["gates"]] == [g.statistic for g in DEFAULT_GATES]


def fake_fit(seed, *, shift_chain=0.0, energy_walk=False, n_divergent=0):
    """Make a DataTree shaped like a fit: 4 chains x 500 iid draws unless broken on purpose."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(4, 500, 2))
    theta[0] += shift_chain
    energy = rng.normal(size=(4, 500))
    if energy_walk:
        # A random walk has tiny successive differences relative to its spread: low E-BFMI.
        energy = np.cumsum(energy, axis=1)
    diverging = np.zeros((4, 500), dtype=bool)
    diverging.flat[:n_divergent] = True
    return arviz_base.from_dict(
        {
            "posterior": {"theta": theta, "constant": np.ones((4, 500))},
            "sample_stats": {"energy": energy, "diverging": diverging},
        }
    )


def test_sampling_diagnostics_of_a_good_fit():
    stats = sampling_diagnostics(fake_fit(1))
    # iid draws: R-hat is about 1 and ESS about 2000; the constant variable (NaN R-hat)
    # is ignored rather than failing the fit.
    assert stats["max_rhat"] < 1.01
    assert stats["min_ess_bulk"] > 1000 and stats["min_ess_tail"] > 1000
    assert stats["divergences"] == 0
    assert stats["min_bfmi"] > 1  # iid energy: E-BFMI near 2
    assert stats["chains"] == 4
    result = dominance_verdict(side_shares([0.9] * 20), fake_fit(1))
    assert result.verdict == "interpersonal dominates"


@pytest.mark.parametrize(
    "broken, gate",
    [
        ({"shift_chain": 3.0}, "R-hat"),
        ({"energy_walk": True}, "E-BFMI"),
        ({"n_divergent": 3}, "divergences"),
    ],
)
def test_broken_fits_are_not_trustworthy(broken, gate):
    fit = fake_fit(2, **broken)
    result = dominance_verdict(side_shares([0.9] * 20), fit)
    assert result.verdict == "not trustworthy"
    assert [r.gate.label for r in result.gates if not r.passed][:1] == [gate]


def test_fit_without_sample_stats_is_not_trustworthy():
    fit = fake_fit(3)
    bare = xr.DataTree.from_dict({"posterior": fit["posterior"].to_dataset()})
    stats = sampling_diagnostics(bare)
    assert stats["divergences"] is None and stats["min_bfmi"] is None
    assert dominance_verdict(side_shares([0.9] * 20), bare).verdict == "not trustworthy"


# -- one side without conditions (DESIGN.md §4.2) ---------------------------------------------
def test_a_side_without_conditions_is_not_applicable():
    # the decomposition gives a side without terms share zero in every draw
    shares = side_shares([1.0] * 20)
    result = dominance_verdict(shares, GOOD)
    assert result.verdict == "not applicable" and not result.applicable
    assert "no interorganisational condition" in result.reason
    assert result.p_interpersonal_dominates is None and result.difference is None
    record = result.to_dict()
    assert record["verdict"] == "not applicable" and record["reason"] == result.reason
    assert record["p_interpersonal_greater"] is None
    assert "dominates" not in str(result) and "P(" not in str(result)
    assert result.headline().startswith("not applicable: the model has no interorganisational")


def test_sides_given_explicitly_decide_applicability():
    # a share that happens to be near 1 is not taken for a missing side when sides are given
    shares = side_shares([1.0] * 20)
    result = dominance_verdict(shares, GOOD, sides={"interpersonal": 2, "interorganisational": 1})
    assert result.verdict == "interpersonal dominates" and result.applicable
    assert "P(d > 0.05) = 1.000" in result.headline()
    none = dominance_verdict(side_shares([0.7] * 20), GOOD,
                             sides={"interpersonal": 0, "interorganisational": 0})
    assert none.verdict == "not applicable"
    assert "no interpersonal and no interorganisational condition" in none.reason


def test_not_applicable_wins_over_failed_gates():
    # nothing to compare: refitting would not make the verdict applicable
    result = dominance_verdict(side_shares([0.0] * 20), {**GOOD, "max_rhat": 1.5})
    assert result.verdict == "not applicable" and "no interpersonal condition" in result.reason
    assert not result.trustworthy  # the gates are still reported
