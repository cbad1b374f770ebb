"""The model recovers simulated truths (issue 3, "Recovery").

The fast test fits one simulated ordinal dataset of twice the study's size; the slow one
runs the whole study of ``tests/benchmarks/recovery.py`` (20 datasets per family, about 13
minutes on 2 cores).
"""

from __future__ import annotations

import pytest

from .conftest import benchmark_script


def _recovery():
    """The benchmark script as a module."""
    return benchmark_script("recovery.py")


def test_one_ordinal_dataset_recovers_every_effect():
    recovery = _recovery()
    # 20 alliances: 540 respondents, 60 networks, 60 organisations. Most of the time is
    # nutpie's compilation (25-55 s on the 2-core machine, depending on its load).
    result = recovery.fit_dataset("ordinal", seed=7, alliances=20, chains=2, draws=300, tune=300)
    assert result.diagnostics["max_rhat"] < 1.05
    for condition, truth in result.truth.items():
        # With a correct model, |mean - truth| / sd is about standard normal; 3 SD is exceeded
        # by one of the 5 effects with probability about 1.3 % (seed fixed).
        assert abs(result.z(condition)) < 3, (condition, truth, result.mean[condition],
                                              result.sd[condition])


@pytest.mark.slow
@pytest.mark.parametrize("family", ["ordinal", "gaussian", "bernoulli", "binomial"])
def test_recovery_study_intervals_cover_at_the_nominal_rate(family):
    recovery = _recovery()
    codebook = recovery.recovery_codebook()
    results = [recovery.fit_dataset(family, 1000 + i, codebook=codebook) for i in range(20)]
    summary = recovery.summarise(results)
    print(recovery.report(family, summary, len(results)))
    # The 100 (dataset, effect) pairs are not independent (5 effects share one dataset), so
    # the binomial test over all of them is anti-conservative; the rotating test (one effect
    # per dataset) has independent trials but only 20 of them. 1 % levels for both.
    assert summary["p_all"] > 0.01
    assert summary["p_rotating"] > 0.01
    assert summary["max_rhat"] < 1.1
