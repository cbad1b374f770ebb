"""The gaussian sampling model from sufficient statistics (models.sufficient): same posterior."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from pytensor.compile.mode import Mode

from data import CaseSurvey, Codebook
from models import ModelSpec, fit, make_design
from models.build import model_from_design
from models.sufficient import eligible, sampling_model, statistics

from .conftest import CODEBOOK, assert_means_agree, make_survey, make_wide

ALL = ["contact", "reputation", "group_size", "absorptive", "prior_coop"]
SHAPES = {
    "one level, group-level condition": dict(conditions=["contact", "absorptive"], group_effects=["organisation"]),
    "crossed network x organisation in alliance": dict(conditions=ALL),
    "group-level conditions only": dict(conditions=["group_size", "prior_coop"]),
    "condition level without group effect": dict(conditions=["contact", "absorptive"], group_effects=["network"]),
    "no groups": dict(conditions=["contact", "reputation"], group_effects=[]),
    # conditions at every level, alliance effects only: network and organisation conditions
    # become columns of X, one cell per alliance
    "alliance effects only": dict(conditions=ALL, group_effects=["alliance"]),
    "group-level conditions without group effects": dict(conditions=["group_size", "absorptive"],
                                                         group_effects=[]),
    "centred level": dict(conditions=["contact"], centered=["network"]),
    "horseshoe": dict(conditions=ALL, shrinkage="horseshoe"),
    "r2d2m2": dict(conditions=ALL, shrinkage="r2d2m2"),
}


# Python implementations, few rewrites: no C compilation (tiny models evaluate fast anyway)
_PYTHON = Mode(linker="py", optimizer="fast_compile")


@pytest.fixture(scope="module")
def complete():
    """The tiny survey without missing conditions (imputed values would make it ineligible)."""
    return make_survey(with_missing=False)


def _assert_same_density(design, n_points=4, seed=0):
    full, sampling = model_from_design(design), sampling_model(design)
    # the same free variables, in the same order, with the same transforms
    assert [v.name for v in full.value_vars] == [v.name for v in sampling.value_vars]
    assert ([type(full.rvs_to_transforms[v]).__name__ for v in full.free_RVs]
            == [type(sampling.rvs_to_transforms[v]).__name__ for v in sampling.free_RVs])
    assert "y" not in sampling.named_vars and "y_sufficient" in sampling.named_vars
    # log density and gradient in one compiled function per model
    full_fn, sampling_fn = (model.compile_fn([model.logp(), model.dlogp()], mode=_PYTHON)
                             for model in (full, sampling))
    rng = np.random.default_rng(seed)
    start = full.initial_point()
    for _ in range(n_points):
        point = {name: value + rng.normal(0, 0.7, np.shape(value)) for name, value in start.items()}
        (a, grad_a), (b, grad_b) = full_fn(point), sampling_fn(point)
        # exactly the full model's log density (constant included), to rounding
        assert b == pytest.approx(a, rel=1e-10, abs=1e-9)
        np.testing.assert_allclose(grad_b, grad_a, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_log_density_and_gradient_equal_the_full_models(shape, complete):
    design = make_design(ModelSpec(outcome="score", **SHAPES[shape]), complete)
    assert eligible(design)
    _assert_same_density(design)


def test_sub_model_mask_and_new_data_through_the_containers(complete):
    design = make_design(ModelSpec(outcome="score", conditions=ALL), complete)
    sub = design.with_active_conditions(["contact", "absorptive"])
    _assert_same_density(sub)
    # the statistics do not depend on the mask: a sub-model refits with the same ones
    for name, value in statistics(design).items():
        np.testing.assert_array_equal(statistics(sub)[name], value)


def _regrouped_survey(seed: int = 2) -> CaseSurvey:
    """Another survey of the same array shapes with one (network, organisation) cell fewer."""
    wide = make_wide(seed=seed, with_missing=False)
    wide.loc[wide["person"].isin(["a0n0p0", "a0n0p3"]), "firm"] = "a0o1"
    return CaseSurvey.from_wide(wide, Codebook.from_dict(CODEBOOK, source="tiny-codebook"),
                                source="tiny2.csv", sha256="1" * 64)


def test_statistics_count_cells_and_sum_to_the_data(complete):
    design = make_design(ModelSpec(outcome="score", conditions=ALL), complete)
    other = make_design(ModelSpec(outcome="score", conditions=ALL), _regrouped_survey())
    ours, theirs = statistics(design), statistics(other)
    assert design.structure_key() == other.structure_key()
    # 8 networks x 3 organisations each (crossed within an alliance); one pair fewer in the other
    assert len(ours["sufficient_cell_n"]) == 24 and len(theirs["sufficient_cell_n"]) == 23
    # without network and organisation effects their conditions are columns: a cell per alliance
    alliances = statistics(make_design(ModelSpec(outcome="score", conditions=ALL, group_effects=["alliance"]),
                                       complete))
    assert len(alliances["sufficient_cell_n"]) == 4 and alliances["sufficient_cell_X"].shape == (4, 4)
    assert ours["sufficient_cell_n"].sum() == design.n
    np.testing.assert_allclose(ours["sufficient_cell_X"].sum(axis=0), design.X["individual"].sum(axis=0),
                               atol=1e-9)
    assert abs(ours["sufficient_cell_y"].sum()) < 1e-9  # y is centred
    _assert_same_density(other)


def test_ineligible_designs_keep_the_full_model(survey, complete):
    assert not eligible(make_design(ModelSpec(outcome="score", conditions=["contact"]), survey))  # imputed
    assert not eligible(make_design(ModelSpec(outcome="score", conditions=["contact"],
                                              varying_slopes=["contact"]), complete))
    assert not eligible(make_design(ModelSpec(outcome="learning", conditions=["contact"]), complete))


# enough draws that each mean's MCSE is well estimated; the tiny gaussian model samples fast
OPTIONS = {"chains": 2, "draws": 500, "tune": 300, "progressbar": False, "predictive": False,
           "extension": None}
Z = 4.0  # ~30 compared means: a chance failure of a correct model is ~2e-3


def test_sampling_from_statistics_gives_the_full_models_posterior(complete, monkeypatch):
    fit_module = importlib.import_module("models.fit")
    sufficient = importlib.import_module("models.sufficient")
    spec = ModelSpec(outcome="score", conditions=["contact", "group_size", "absorptive"],
                     group_effects=["network", "organisation"])
    fit(spec, complete, **{**OPTIONS, "draws": 20, "tune": 20, "seed": 1})  # compiles the sampling model
    other = _regrouped_survey()

    def refuse(*args, **kwargs):
        raise AssertionError("recompiled the sampling model")

    with monkeypatch.context() as patch:
        patch.setattr(fit_module, "compile_model", refuse)  # new data: with_data, other cell count
        ours = fit(spec, other, **OPTIONS, seed=11)
    monkeypatch.setattr(sufficient, "eligible", lambda design: False)
    theirs = fit(spec, other, **OPTIONS, seed=12)  # the full model, observed y
    names = ("b", "intercept", "sigma", "sd_network", "sd_organisation", "u_network", "u_organisation")
    assert assert_means_agree(ours, theirs, names, Z) >= 25
    for name in names:
        a, b = ours["posterior"][name], theirs["posterior"][name]
        ratio = (a.std(("chain", "draw")) / b.std(("chain", "draw"))).values
        assert np.all(np.abs(ratio - 1) < 0.25), (name, ratio)
