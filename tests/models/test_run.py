"""Run directories: atomic writing, refusal to overwrite, loading back, summary schema."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data.files import MARKER
from models import (
    FitOptions,
    ModelSpec,
    RunConfig,
    RunError,
    RunExistsError,
    load_run,
    save_run,
    with_log_likelihood,
)

from .conftest import FIT_OPTIONS, FIT_SPECS

SAMPLING = FitOptions(chains=FIT_OPTIONS["chains"], draws=FIT_OPTIONS["draws"], tune=FIT_OPTIONS["tune"],
                      seed=FIT_OPTIONS["seed"])


@pytest.fixture(scope="module")
def saved(fits, survey, tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "ordinal"
    run = save_run(path, fits("ordinal"), survey, RunConfig(ModelSpec(**FIT_SPECS["ordinal"]), SAMPLING),
                   command="pytest")
    return path, run


def test_run_directory_holds_every_file_and_nothing_else(saved):
    path, _ = saved
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["posterior.nc", "summary.json", "config.toml", "codebook.toml", "data.parquet", MARKER])
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_summary_follows_the_schema(saved, survey):
    path, run = saved
    summary = json.loads((path / "summary.json").read_text())
    assert summary == run.summary
    assert set(summary["effects"]) == set(survey.conditions)
    for effect in summary["effects"].values():
        assert {"level", "side", "binary", "per_sd", "per_unit", "center", "scale"} <= set(effect)
        for block in ("per_sd", "per_unit"):
            stats = effect[block]
            assert set(stats) == {"mean", "sd", "lower", "upper"}
            assert stats["lower"] < stats["mean"] < stats["upper"]
        # one raw unit is 1/scale SD, so the per-unit effect is the per-SD one over the scale
        assert effect["per_unit"]["mean"] == pytest.approx(effect["per_sd"]["mean"] / effect["scale"])
    # a 0/1 condition is marked, its per_sd kept (one SD of a 0/1 code is no step: the note)
    binary = [c for c in survey.conditions if survey.codebook.conditions[c].scale.kind == "binary"]
    assert binary == ["prior_coop"]
    assert [c for c, e in summary["effects"].items() if e["binary"] is True] == binary
    assert all(e["binary"] is False for c, e in summary["effects"].items() if c not in binary)
    assert "prior_coop" in summary["effects_note"] and "per_unit" in summary["effects_note"]
    assert set(summary["group_sd"]) == {"network", "organisation", "alliance"}
    assert set(summary["cutpoints"]) == {"1|2", "2|3", "3|4", "4|5"}
    assert "sigma" not in summary
    assert set(summary["diagnostics"]) == {"max_rhat", "min_ess_bulk", "min_ess_tail", "divergences",
                                           "min_bfmi", "chains", "draws"}
    provenance = summary["provenance"]
    assert provenance["data_sha256"] == survey.sha256
    assert provenance["seed"] == FIT_OPTIONS["seed"]
    assert provenance["command"] == "pytest"
    assert provenance["config"]["model"]["family"] == "ordinal"
    assert "pymc" in provenance["versions"]
    assert summary["data"]["n_missing_outcome"] == 1


def test_load_run_restores_what_checks_need(saved, fits, survey):
    path, run = saved
    loaded = load_run(path)
    assert loaded.spec == run.spec
    assert loaded.spec.conditions == tuple(survey.conditions)  # resolved, not None
    assert loaded.config.sampling == SAMPLING
    assert loaded.summary == run.summary
    # the log-likelihood is neither kept nor saved: recomputed from the posterior, in float32
    assert set(loaded.tree.children) == set(fits("ordinal").children)
    recomputed = with_log_likelihood(loaded.tree, loaded.spec, loaded.survey)["log_likelihood"]["y"]
    in_memory = with_log_likelihood(fits("ordinal"), loaded.spec, survey)["log_likelihood"]["y"]
    np.testing.assert_array_equal(recomputed.values, in_memory.values)
    assert recomputed.dtype == np.float32
    np.testing.assert_array_equal(loaded.tree["posterior"]["b"].values, fits("ordinal")["posterior"]["b"].values)
    assert list(loaded.tree["posterior"]["condition_side"].values) == list(
        fits("ordinal")["posterior"]["condition_side"].values)
    assert loaded.survey.sha256 == survey.sha256
    assert loaded.survey.fingerprint() == survey.fingerprint()
    assert loaded.coords["network"] == list(survey.ids("network"))
    assert "learning (ordinal)" in str(loaded)


def test_diagnostics_are_remembered_by_the_draws_content(saved, fits, monkeypatch):
    """summary.json's diagnostics come from the memo the fit's gate check filled: the same
    numbers as computed afresh; other draws (a loaded copy is the same) are computed anew."""
    import models.run as run_module

    path, run = saved
    tree = fits("ordinal")
    calls = []
    compute = run_module._diagnostics
    monkeypatch.setattr(run_module, "_diagnostics", lambda *a: calls.append(1) or compute(*a))
    monkeypatch.setattr(run_module, "_DIAGNOSTICS", {})
    fresh = run_module.diagnostics(tree)
    assert calls == [1] and fresh == run.summary["diagnostics"]
    assert run_module.diagnostics(load_run(path).tree) == fresh and calls == [1]  # same draws, from disk
    changed = tree.copy(deep=True)
    changed["posterior"]["sd_alliance"] = changed["posterior"]["sd_alliance"] * 2.0 + 1.0
    changed["posterior"]["sd_alliance"][{"chain": 0}] += 10.0  # chains apart: R-hat changes
    assert run_module.diagnostics(changed)["max_rhat"] > fresh["max_rhat"] and calls == [1, 1]


@pytest.mark.parametrize("block", [None, 2], ids=["one-block", "blocks-of-2"])
def test_rank_statistics_are_arviz_stats_numbers_exactly(fits, block, monkeypatch):
    """models.run's batched rank normalisation and quantiles (models.run._rank_statistics)
    change no R-hat, bulk or tail ESS by one bit: on a fit's draws, and on draws with ties, a constant
    quantity, a NaN, an infinity, float32, odd and too few draws, one chain; all of a
    variable's quantities at once, or 2 at a time (the memory bound's blocks)."""
    import arviz_stats as azs
    import xarray as xr

    import models.run as run_module

    rng = np.random.default_rng(3)
    draws = rng.normal(size=(4, 121, 3))
    draws[1] += 0.5  # one chain apart
    odd = xr.Dataset({
        "smooth": (("chain", "draw", "k"), draws),
        "ties": (("chain", "draw", "k"), np.round(draws, 1)),  # many tied values
        "discrete": (("chain", "draw"), rng.integers(0, 3, size=(4, 121)).astype(float)),
        "constant": (("chain", "draw"), np.full((4, 121), 2.0)),
        "with_nan": (("chain", "draw"), np.where(np.arange(121) == 7, np.nan, draws[..., 0])),
        "with_inf": (("chain", "draw"), np.where(np.arange(121) == 9, np.inf, draws[..., 1])),
        "single": (("chain", "draw"), draws[..., 2].astype(np.float32)),
        "matrix": (("k", "chain", "draw", "j"), np.moveaxis(draws, 2, 0)[..., None] * [1.0, -2.0]),
    })
    walk = np.cumsum(rng.normal(size=(4, 300)), axis=1)  # far from converged, strongly autocorrelated
    walks = xr.Dataset({"walk": (("chain", "draw"), walk),
                        "stuck": (("chain", "draw"), np.repeat(walk[:, ::10], 10, axis=1))})
    short = xr.Dataset({"a": (("chain", "draw"), draws[:, :6, 0])})
    if block is not None:  # "matrix"'s 6 quantities in 3 blocks, the fit's effects in several
        monkeypatch.setattr(run_module, "_RANK_BLOCK_VALUES", block * 4 * 121)
    one_chain = xr.Dataset({"a": (("chain", "draw"), draws[:1, :, 0])})
    for posterior in (fits("ordinal")["posterior"].to_dataset(), odd, walks, short, one_chain):
        with np.errstate(invalid="ignore", divide="ignore"):
            rhat, ess = azs.rhat(posterior), azs.ess(posterior, method="bulk")
            tail = azs.ess(posterior, method="tail")
            fast_rhat, fast_ess, fast_tail = run_module._rank_statistics(posterior)
        for i, name in enumerate(posterior.data_vars):
            order = [*(d for d in posterior[name].dims if d not in ("chain", "draw"))]
            assert np.array_equal(rhat[name].transpose(*order).values, fast_rhat[i], equal_nan=True), name
            assert np.array_equal(ess[name].transpose(*order).values, fast_ess[i], equal_nan=True), name
            assert np.array_equal(tail[name].transpose(*order).values, fast_tail[i], equal_nan=True), name
        if posterior is odd:  # the batched path ran and gave real numbers
            assert np.isfinite(fast_rhat[0]).all() and fast_rhat[0].min() > 1.01
            assert np.isfinite(fast_ess[1]).all() and np.isfinite(fast_tail[1]).all()


def test_posterior_draws_are_stored_uncompressed_and_predictive_draws_compressed(saved, fits):
    """models.fit.netcdf_encoding: float64 draws (nearly incompressible) are written as they
    are, small-integer predictive draws and the design with shuffled zlib; values unchanged."""
    import xarray as xr

    path, _ = saved
    with xr.open_datatree(path / "posterior.nc", engine="h5netcdf") as stored:
        assert not stored["posterior"]["b"].encoding["zlib"]
        assert not stored["log_prior"]["b"].encoding["zlib"]
        assert stored["posterior_predictive"]["y"].encoding["zlib"]
        assert stored["constant_data"]["idx_alliance"].encoding["zlib"]
        for group in ("posterior", "log_prior", "posterior_predictive"):
            assert stored[group].to_dataset().load().equals(fits("ordinal")[group].to_dataset()), group


def test_writing_a_run_does_not_import_distributed(tmp_path):
    """models.run._no_distributed_lookup keeps xarray (and dask) from importing
    dask.distributed on every write; without it they do (the reason it exists)."""
    import subprocess
    import sys

    code = f"""
import sys
import numpy as np, xarray as xr
from models.run import _no_distributed_lookup
tree = xr.DataTree.from_dict({{"posterior": xr.Dataset({{"a": (("chain", "draw"), np.zeros((2, 3)))}})}})
with _no_distributed_lookup():
    tree.to_netcdf({str(tmp_path / "a.nc")!r}, engine="h5netcdf")
assert not [m for m in sys.modules if m.startswith(("distributed", "dask.distributed"))], "imported"
assert xr.open_datatree({str(tmp_path / "a.nc")!r}, engine="h5netcdf")["posterior"]["a"].shape == (2, 3)
tree.to_netcdf({str(tmp_path / "b.nc")!r}, engine="h5netcdf")
assert "distributed" in sys.modules, "xarray no longer imports distributed: the guard is not needed"
with _no_distributed_lookup():  # distributed imported: left alone
    tree.to_netcdf({str(tmp_path / "c.nc")!r}, engine="h5netcdf")
import dask.distributed
assert sys.modules["dask.distributed"] is dask.distributed
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_existing_run_is_not_overwritten_without_force(saved, fits, survey):
    path, _ = saved
    before = (path / "summary.json").read_text()
    config = RunConfig(ModelSpec(**FIT_SPECS["ordinal"]), SAMPLING)
    with pytest.raises(RunExistsError, match="exists already"):
        save_run(path, fits("ordinal"), survey, config)
    assert (path / "summary.json").read_text() == before


def test_force_replaces_a_run(fits, survey, tmp_path):
    path = tmp_path / "run"
    config = RunConfig(ModelSpec(**FIT_SPECS["ordinal"]), SAMPLING)
    save_run(path, fits("ordinal"), survey, config, command="first")
    save_run(path, fits("ordinal"), survey, config, force=True, command="second")
    assert load_run(path).summary["provenance"]["command"] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_loading_a_broken_run_says_what_is_missing(tmp_path):
    with pytest.raises(RunError, match="no such run directory"):
        load_run(tmp_path / "absent")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "summary.json").write_text("{}")
    with pytest.raises(RunError, match="missing posterior.nc"):
        load_run(tmp_path / "half")


def test_raw_sd_and_binary_read_the_observed_codes():
    """models.run.raw_sd (the per_sd scale) and is_binary over a level's observed codes."""
    import warnings

    import xarray as xr

    from models.run import is_binary, raw_sd

    center, scale = 0.5, 0.5
    codes = {"flag": [0, 1, np.nan, 1, 0], "count": [0, 1, 2, 1, np.nan],
             "latent": [np.nan] * 5, "ones": [1, 1, np.nan, 1, 1]}
    names = list(codes)
    z = (np.array([codes[n] for n in names], dtype=float).T - center) / scale
    constant = xr.Dataset(
        {"X_individual": (("individual", "individual_condition"), z),
         "condition_level": ("condition", ["individual"] * len(names))},
        coords={"condition": names, "individual_condition": names})
    assert [is_binary(constant, n, scale, center) for n in names] == [True, False, False, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Degrees of freedom <= 0" for a latent condition
        assert raw_sd(constant, "latent", scale) == scale  # no observed code: the scale
        assert raw_sd(constant, "ones", scale) == scale  # constant codes: the scale
        assert raw_sd(constant, "flag", scale) == pytest.approx(np.std([0, 1, 1, 0], ddof=1))
