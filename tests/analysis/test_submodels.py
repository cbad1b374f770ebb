"""Sub-model sampling and the pairing of draws (no fits: hand-made runs and draws)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from analysis.dominance import paired_draws
from analysis.submodels import (
    ESS_MARGIN,
    MIN_SUBMODEL_DRAWS,
    SUBMODEL_TUNE,
    submodel_jobs,
    submodel_sampling,
)
from analysis.verdict import DEFAULT_GATES, PER_CHAIN_ESS_GATES
from models import FitOptions


def _run(chains=4, draws=2000, tune=1000, ess=(989.0, 1500.0)):
    posterior = xr.Dataset({"b": (("chain", "draw"), np.zeros((chains, draws)))})
    diagnostics = {"min_ess_bulk": ess[0], "min_ess_tail": ess[1]}
    return SimpleNamespace(config=SimpleNamespace(sampling=FitOptions(chains=chains, draws=draws, tune=tune)),
                           summary={"diagnostics": diagnostics},
                           tree=xr.DataTree.from_dict({"posterior": posterior}))


def test_submodel_draws_follow_the_runs_ess_per_draw_and_the_gate():
    options = submodel_sampling(_run())
    per_draw = 989.0 / 8000
    assert options["draws"] == math.ceil(ESS_MARGIN * 400 / per_draw / 4) == 1618
    assert options["tune"] == SUBMODEL_TUNE and options["chains"] == 4
    assert options["sampler"] == "nutpie" and options["target_accept"] == 0.8
    # per-chain gates (100 per chain) ask as much of 4 chains as the total gate of 400
    assert submodel_sampling(_run(), PER_CHAIN_ESS_GATES)["draws"] == 1618
    # an efficient run: the floor; an inefficient one: never more than the run's draws
    assert submodel_sampling(_run(ess=(9000.0, 9000.0)))["draws"] == MIN_SUBMODEL_DRAWS
    assert submodel_sampling(_run(ess=(100.0, 90.0)))["draws"] == 2000
    # a short run keeps its own tuning; no ESS known or no ESS gate: the run's draws
    assert submodel_sampling(_run(tune=150))["tune"] == 150
    assert submodel_sampling(_run(ess=(float("nan"), 1.0)))["draws"] == 2000
    assert submodel_sampling(_run(), DEFAULT_GATES[:1])["draws"] == 2000


def test_dominance_sub_models_sample_for_their_r2_and_loo_sub_models_for_everything(monkeypatch):
    """A slow-mixing group SD sets the LOO sub-models' draws, not the R^2-only ones'."""
    import analysis.submodels

    rng = np.random.default_rng(0)
    chains, draws = 4, 1000
    slow = np.zeros((chains, draws))
    for t in range(1, draws):  # AR(1) with phi 0.97: ESS about 1.5% of the draws
        slow[:, t] = 0.97 * slow[:, t - 1] + rng.normal(size=chains)
    posterior = xr.Dataset({"b": (("chain", "draw", "condition"), rng.normal(size=(chains, draws, 3))),
                            "sd_alliance": (("chain", "draw"), np.exp(slow / 10))})
    run = SimpleNamespace(config=SimpleNamespace(sampling=FitOptions(chains=chains, draws=draws, tune=500)),
                          summary={}, tree=xr.DataTree.from_dict({"posterior": posterior}),
                          spec="spec", survey="survey")
    # the R^2 of this hand-made run: as efficient as independent draws
    monkeypatch.setattr(analysis.submodels, "r2_diagnostics",
                        lambda tree, r2=None: {"min_ess_bulk": 4000.0, "min_ess_tail": 3900.0})
    jobs = submodel_jobs(run, {("a",): False, ("a", "b"): True}, seed=1)
    r2_only, loo = jobs[("a",)][0], jobs[("a", "b")][0]
    assert r2_only.options["draws"] == math.ceil(ESS_MARGIN * 400 / (3900 / 4000) / 4)
    assert r2_only.options["extension"] is None
    assert loo.options["draws"] == draws and "extension" not in loo.options  # the run's: ESS too low
    assert r2_only.options["tune"] == loo.options["tune"] == SUBMODEL_TUNE
    assert r2_only.options["active_conditions"] == ("a",)
    assert jobs[("a", "b")][1] and not jobs[("a",)][1]  # PSIS-LOO in the worker for the LOO one only
    assert r2_only.seed != loo.seed


def test_draws_of_separate_fits_are_thinned_evenly_to_the_fewest():
    def draws(chains, n, offset):
        values = offset + np.arange(chains * n, dtype=float).reshape(chains, n)
        return xr.DataArray(values, dims=("chain", "draw"),
                            coords={"chain": np.arange(chains) + 5, "draw": np.arange(n) + 7})

    paired = paired_draws({"full": draws(2, 8, 0.0), "sub": draws(2, 4, 100.0), "long": draws(2, 10, 0.0)})
    assert {k: dict(v.sizes) for k, v in paired.items()} == {k: {"chain": 2, "draw": 4} for k in paired}
    np.testing.assert_array_equal(paired["full"].sel(chain=0).values, [0, 2, 4, 6])  # every 2nd
    np.testing.assert_array_equal(paired["long"].sel(chain=1).values, [10, 12, 15, 17])  # floor(i*10/4)
    np.testing.assert_array_equal(paired["sub"].sel(chain=1).values, [104, 105, 106, 107])  # as it was
    assert all(list(v["draw"].values) == [0, 1, 2, 3] and list(v["chain"].values) == [0, 1]
               for v in paired.values())
    with pytest.raises(ValueError, match="different numbers of chains"):
        paired_draws({"full": draws(2, 8, 0.0), "sub": draws(3, 8, 0.0)})


def test_a_dominance_sub_model_whose_r2_misses_a_gate_narrowly_is_refitted_longer(monkeypatch):
    import xarray as xr

    import analysis.submodels
    import models.jobs
    from analysis.submodels import _until_r2_trusted
    from models.extend import sampling_note, sampling_record
    from models.jobs import FitJob

    good = {"max_rhat": 1.002, "min_ess_bulk": 900.0, "min_ess_tail": 800.0,
            "min_ess_bulk_per_chain": 225.0, "min_ess_tail_per_chain": 200.0,
            "divergences": 0, "min_bfmi": 0.8}
    narrow = {**good, "max_rhat": 1.02}
    seen = {"first": narrow, "second": good}
    monkeypatch.setattr(analysis.submodels, "r2_diagnostics", lambda tree, r2=None: seen[tree.name])
    refits = []
    second = xr.DataTree(name="second")
    monkeypatch.setattr(models.jobs, "run_fit", lambda job: refits.append(job) or second)
    job = FitJob("spec", "survey", 7, {"chains": 4, "draws": 322, "tune": 400, "target_accept": 0.8,
                                       "active_conditions": ("a",), "extension": None})
    tree, diagnostics = _until_r2_trusted(job, xr.DataTree(name="first"))
    assert tree is second and diagnostics == good and len(refits) == 1
    assert refits[0].options["draws"] == 644 and refits[0].options["tune"] == 800
    assert refits[0].seed != 7 and refits[0].options["active_conditions"] == ("a",)
    # the kept fit records the extension (the report's sub-model table reads it)
    record = sampling_record(tree)
    assert record["outcome"] == "passed after extension"
    assert [a["draws"] for a in record["attempts"]] == [322, 644]
    assert record["attempts"][1]["change"] == "draws 322 -> 644, tuning 400 -> 800, new seed"
    assert "extended once" in sampling_note(record)
    # far from the gate: kept as it is, the failure reported
    seen["first"] = {**good, "max_rhat": 1.2}
    first = xr.DataTree(name="first")
    assert _until_r2_trusted(job, first) == (first, seen["first"]) and len(refits) == 1
    assert sampling_record(first)["outcome"] == "failed, not extended"
    assert len(sampling_record(first)["attempts"]) == 1
