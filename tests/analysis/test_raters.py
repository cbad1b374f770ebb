"""The rater check (analysis.raters) on hand-made draws: no sampling.

The model-implied agreement against its closed forms, the tables, and the round trip
through ``save_checks`` / ``load_checks`` (checks.json + checks/draws.nc). The check on a
fitted rater model is in tests/models/test_raters.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from analysis import Checks, load_checks, save_checks
from analysis.raters import RaterAgreement, plot_raters, rater_agreement
from data import load_codebook

CONDITIONS = ["personal_contact", "shared_interests", "prior_cooperation"]
RATERS = ["ann", "bob", "cy"]
# ann and bob code every condition, cy only personal_contact; prior_cooperation has one rater
CODED = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=bool)


def _tree(seed=0, chains=2, draws=200, slopes=None):
    rng = np.random.default_rng(seed)
    severity = rng.normal(0.0, 0.5, (chains, draws, 3, 3)) * CODED
    severity -= severity.sum(-1, keepdims=True) / CODED.sum(-1)[:, None] * CODED  # sum to zero
    discrimination = rng.gamma(20.0, 0.1, (chains, draws, 3))
    dims = ("chain", "draw", "rater_condition", "rater")
    coords = {"chain": np.arange(chains), "draw": np.arange(draws),
              "rater_condition": CONDITIONS, "rater": RATERS}
    posterior = {"rater_severity": (dims, severity),
                 "rater_discrimination": (dims[:3], discrimination)}
    if slopes is not None:
        posterior["rater_slope"] = (dims, np.broadcast_to(slopes, severity.shape).copy())
    constant = {"rater_coded": (("rater_condition", "rater"), CODED),
                "rater_overlap_components": (("rater_condition",), np.array([1, 2, 1]))}
    return xr.DataTree.from_dict({
        "posterior": xr.Dataset(posterior, coords=coords),
        "constant_data": xr.Dataset(constant, coords={"rater_condition": CONDITIONS, "rater": RATERS})})


def _survey():
    rng = np.random.default_rng(1)
    rows = []
    for c, condition in enumerate(CONDITIONS):
        for unit in range(12):
            truth = rng.integers(1, 6)
            for r, rater in enumerate(RATERS):
                if CODED[c, r] and not (r == 1 and unit == 0):  # bob misses one code
                    value = float(np.clip(truth + rng.integers(-1, 2), 1, 5))
                    rows.append({"condition": condition, "unit": f"u{unit}", "rater": rater,
                                 "value": value})
    return SimpleNamespace(rater_codes=pd.DataFrame(rows), codebook=load_codebook())


def test_agreement_is_the_icc_of_two_raters_latent_codes():
    tree = _tree()
    result = rater_agreement(tree)
    post = tree["posterior"]
    lam = post["rater_discrimination"].values
    sev = post["rater_severity"].values
    agreement = result.draws["agreement"].values
    for c in range(3):
        n = CODED[c].sum()
        v = (sev[..., c, :][..., CODED[c]] ** 2).sum(-1) / n  # mean severity is zero
        expected = lam[..., c] ** 2 / (lam[..., c] ** 2 * (1 + v) + np.pi**2 / 3)
        np.testing.assert_allclose(agreement[..., c], expected, rtol=1e-12)
    # one rater (prior_cooperation): the reliability of its code, no severity spread
    np.testing.assert_allclose(agreement[..., 2], lam[..., 2] ** 2 / (lam[..., 2] ** 2 + np.pi**2 / 3))
    assert result.alpha is None  # no codes given
    assert result.split_conditions() == ["shared_interests"]


def test_agreement_with_a_discrimination_per_rater():
    # slopes lambda_c a_r: with lambda_c = 1.5 on every condition, raters of sharpness a
    # have latent codes T - s_r + e / a_r, so agreement = lambda^2 / (lambda^2 (1 + var s)
    # + pi^2/3 mean(a^-2))
    slopes = 1.5 * np.array([[2.0, 1.0, 0.5], [2.0, 0.5, 0.0], [1.5, 0.0, 0.0]])
    tree = _tree(slopes=slopes)
    tree["posterior"]["rater_discrimination"] = xr.full_like(tree["posterior"]["rater_discrimination"], 1.5)
    tree["posterior"]["rater_severity"] = tree["posterior"]["rater_severity"] * 0.0
    agreement = rater_agreement(tree).draws["agreement"].isel(chain=0, draw=0).values
    noise = np.pi**2 / 3
    expected = [2.25 / (2.25 + noise * np.mean([1 / 4, 1, 4])),
                2.25 / (2.25 + noise * np.mean([1 / 4, 4])),
                2.25 / (2.25 + noise / 1.5**2)]  # one rater: its code's reliability
    assert agreement == pytest.approx(expected)
    # with severities, their spread over the raters lowers it
    tree["posterior"]["rater_severity"] = xr.full_like(tree["posterior"]["rater_severity"], 0.0) + \
        xr.DataArray(np.array([[0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.0, 0.0]]),
                     dims=("rater_condition", "rater"))
    lower = rater_agreement(tree).draws["agreement"].isel(chain=0, draw=0).values
    assert lower[1] == pytest.approx(2.25 / (2.25 * (1 + 0.25) + noise * np.mean([1 / 4, 4])))
    assert lower[0] == pytest.approx(2.25 / (2.25 * (1 + 1 / 6) + noise * np.mean([1 / 4, 1, 4])))


def test_tables_and_alpha_beside_the_agreement():
    result = rater_agreement(_tree(), _survey())
    table = result.agreement_table(prob=0.9)
    assert list(table.index) == CONDITIONS
    assert list(table["raters"]) == [3, 2, 1]
    assert list(table["raters overlap"]) == [True, False, True]
    assert (table["agreement lower"] < table["agreement mean"]).all()
    assert (table["agreement mean"] < table["agreement upper"]).all()
    alpha = table["Krippendorff's alpha"]
    assert np.isfinite(alpha.iloc[:2]).all() and np.isnan(alpha.iloc[2])  # one rater: no pairs
    assert list(table["units"]) == [12, 12, 12]
    severity = result.severity_table(prob=0.9)
    # one "all coded" row per rater, then one per condition it coded
    assert len(severity) == len(RATERS) + CODED.sum()
    assert list(severity[severity["rater"] == "cy"]["condition"]) == ["all coded", "personal_contact"]
    ann = severity[(severity["rater"] == "ann") & (severity["condition"] == "all coded")]
    draws = result.draws["severity"].sel(rater="ann").mean("rater_condition")
    assert float(ann["mean"].iloc[0]) == pytest.approx(float(draws.mean()))
    text = str(result)
    assert "Krippendorff" in text and "raters do not overlap on shared_interests" in text


def test_rater_check_round_trips_through_checks_json_and_draws(tmp_path):
    result = rater_agreement(_tree(), _survey())
    checks = Checks(verdict=None, diagnostics={}, decomposition=None, raters=result,
                    settings={"ci_prob": 0.89})
    assert "raters" in checks.figures()
    save_checks(checks, tmp_path)
    record = json.loads((tmp_path / "checks" / "checks.json").read_text(encoding="utf-8"))
    assert "raters.png" in record["figures"]
    assert record["raters"]["overlap"] == {"personal_contact": True, "shared_interests": False,
                                           "prior_cooperation": True}
    assert record["raters"]["alpha"]["prior_cooperation"]["alpha"] is None
    loaded = load_checks(tmp_path)
    assert isinstance(loaded.raters, RaterAgreement)
    assert loaded.to_dict()["raters"] == checks.to_dict()["raters"]
    xr.testing.assert_identical(loaded.raters.draws, result.draws)
    pd.testing.assert_frame_equal(loaded.raters.agreement_table(), result.agreement_table())
    plot_raters(loaded.raters)  # the figure draws from what was read back


def test_a_run_without_the_rater_model_has_no_rater_check():
    tree = _tree()
    del tree["posterior"]["rater_severity"]
    with pytest.raises(ValueError, match="no rater model"):
        rater_agreement(tree)
    assert RaterAgreement.from_record(None, None) is None


def test_severity_table_gives_each_raters_discrimination_when_the_model_has_one(tmp_path):
    slopes = np.array([[2.0, 1.0, 0.5], [2.0, 1.0, 0.0], [1.5, 0.0, 0.0]])
    result = rater_agreement(_tree(slopes=slopes))
    assert result.discrimination_per_rater
    table = result.severity_table().set_index(["rater", "condition"])
    # ann: geometric mean of 2, 2, 1.5 on her all-coded row; per condition as given
    assert table.loc[("ann", "all coded"), "discrimination"] == pytest.approx((2 * 2 * 1.5) ** (1 / 3))
    assert table.loc[("cy", "personal_contact"), "discrimination"] == pytest.approx(0.5)
    checks = Checks(verdict=None, diagnostics={}, decomposition=None, raters=result,
                    settings={"ci_prob": 0.89})
    save_checks(checks, tmp_path, figures=False)
    loaded = load_checks(tmp_path).raters
    assert loaded.discrimination_per_rater
    assert loaded.to_dict()["discrimination"]["bob"]["shared_interests"]["mean"] == pytest.approx(1.0)
    # without the option the table has no discrimination columns
    assert "discrimination" not in rater_agreement(_tree()).severity_table().columns


def test_the_report_names_conditions_whose_raters_do_not_overlap():
    import re

    from reports.html import render_html

    page = render_html({"raters": rater_agreement(_tree(), _survey()), "measurement": "raters"})
    section = re.search(r'<section id="raters">(.*?)</section>', page, flags=re.S).group(1)
    split = re.search(r'<p class="fail" id="raters-split">(.*?)</p>', section, flags=re.S).group(1)
    assert "shared_interests" in split and "personal_contact" not in split
    assert 'data-figure="raters"' in section
    # a run without the rater model says why it has none
    wide = render_html({"measurement": "observed"})
    assert "not a raters&#39; coding sheet" in re.search(
        r'<section id="raters">(.*?)</section>', wide, flags=re.S).group(1)
