"""One interval convention: ArviZ's stats.ci_kind / stats.ci_prob decide every table."""

import arviz_base
import numpy as np
import pytest
import xarray as xr

from analysis.decomposition import posterior_summary
from data.intervals import credible_interval, interval_label


def _draws(seed=0):
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.gamma(2.0, size=(4, 500)), dims=("chain", "draw"))


def test_default_is_arviz_89_percent_eti():
    draws = _draws()
    interval = credible_interval(draws, dim=("chain", "draw"))
    lower, upper = np.quantile(draws.values.ravel(), [0.055, 0.945])
    assert float(interval.sel(ci_bound="lower")) == pytest.approx(lower, rel=1e-2)
    assert float(interval.sel(ci_bound="upper")) == pytest.approx(upper, rel=1e-2)
    assert interval_label() == "89% equal-tailed interval (ETI)"


def test_one_setting_changes_every_summary():
    draws = _draws()
    with arviz_base.rc_context({"stats.ci_kind": "hdi", "stats.ci_prob": 0.5}):
        hdi = credible_interval(draws, dim=("chain", "draw"))
        table = posterior_summary(draws)
        assert interval_label() == "50% highest-density interval (HDI)"
    # the analysis summary follows the same setting as summary.json's helper
    assert float(table.sel(stat="lower")) == pytest.approx(float(hdi.sel(ci_bound="lower")))
    assert table.attrs["interval"] == "highest-density interval (HDI)" and table.attrs["ci_prob"] == 0.5
    # a skewed posterior: the HDI sits lower than the ETI of the same probability
    eti = credible_interval(draws, dim=("chain", "draw"), prob=0.5, kind="eti")
    assert float(hdi.sel(ci_bound="lower")) < float(eti.sel(ci_bound="lower"))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="interval kind"):
        credible_interval(_draws(), dim=("chain", "draw"), kind="central")
