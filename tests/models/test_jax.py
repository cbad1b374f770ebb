"""nutpie's JAX backend (``--backend jax``): same posterior as the default numba backend."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from models import FitOptions, ModelSpec, SpecError, fit
from reports.cli import app

from .conftest import FIT_SPECS, assert_means_agree

HAS_JAX = importlib.util.find_spec("jax") is not None
# enough draws that the MCSE of each mean is well estimated; the gaussian model samples fast
OPTIONS = {"chains": 2, "draws": 500, "tune": 300, "seed": 11, "progressbar": False,
           "predictive": False, "extension": None}
Z = 4.0  # ~20 compared means: a chance failure of a correct backend is ~1e-3


@pytest.mark.skipif(not HAS_JAX, reason="jax not installed (pip install '.[jax]')")
def test_jax_backend_gives_the_numba_posterior_within_monte_carlo_error(survey):
    spec = ModelSpec(**FIT_SPECS["gaussian"])
    numba = fit(spec, survey, backend="numba", **OPTIONS)
    jax = fit(spec, survey, backend="jax", **{**OPTIONS, "seed": OPTIONS["seed"] + 1})
    assert (numba.attrs["backend"], jax.attrs["backend"]) == ("numba", "jax")
    names = ("b", "intercept", "sigma", "sd_organisation", "u_organisation")
    assert assert_means_agree(numba, jax, names, Z) >= 15


def test_backend_is_checked_with_the_sampling_options():
    assert FitOptions().backend == "numba" and FitOptions().problems() == []
    assert any("--backend" in p and "'gpu'" in p for p in FitOptions(backend="gpu").problems())
    assert any("needs sampling.sampler 'nutpie'" in p
               for p in FitOptions(backend="jax", sampler="pymc").problems())


def test_jax_backend_without_jax_is_a_clear_error_naming_the_option(survey, monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(SpecError, match=r"--backend.*'jax' needs the jax package.*alliance-learning\[jax\]"):
        fit(ModelSpec(**FIT_SPECS["gaussian"]), survey, backend="jax", **OPTIONS)
    # the CLI option reaches the fit: one line, exit code 2, no run directory
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "r"), "--backend", "jax", "--draws", "10",
                                      "--tune", "10", "--no-progress", "--no-loo", "--no-sensitivity"])
    assert result.exit_code == 2, result.output
    assert "--backend" in result.output and "jax" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r" / "posterior.nc").exists()
