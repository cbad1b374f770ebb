"""models.compiled: nutpie's compiled model with entry points cached on disk."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from models import ModelSpec, make_design

from .conftest import FIT_SPECS, make_survey

fit_module = importlib.import_module("models.fit")  # `models.fit` is also the function


@pytest.fixture(scope="module")
def ordinal_model(survey):
    design = make_design(ModelSpec(**FIT_SPECS["ordinal"]), survey)
    return design, fit_module.model_from_design(design)


def _draws(compiled, seed=5):
    import nutpie

    return nutpie.sample(compiled, draws=30, tune=30, chains=2, seed=seed, progress_bar=False)


def test_same_draws_as_nutpies_own_compilation_also_with_new_data(ordinal_model):
    import nutpie

    from models.compiled import compile_model

    design, model = ordinal_model
    with fit_module.exact_floats():
        ours = compile_model(model, initial_points=fit_module.initial_values(design, model))
        theirs = nutpie.compile_pymc_model(model, initial_points=fit_module.initial_values(design, model))
    assert type(ours).__name__ == "CachedCompiledModel"  # not the uncached fallback
    a, b = _draws(ours), _draws(theirs)
    for name in ("b", "cutpoints", "sd_network", "slope"):
        np.testing.assert_array_equal(a["posterior"][name].values, b["posterior"][name].values)

    new = make_design(ModelSpec(**FIT_SPECS["ordinal"]), make_survey(seed=11)).data()
    used = {var.name for var in ours.shared_var_keys}  # as models.fit passes them
    new = {name: value for name, value in new.items() if name in used}
    a, b = _draws(ours.with_data(**new)), _draws(theirs.with_data(**new))
    np.testing.assert_array_equal(a["posterior"]["b"].values, b["posterior"]["b"].values)
    assert not np.array_equal(a["posterior"]["b"].values, _draws(ours)["posterior"]["b"].values)
    with pytest.raises(KeyError, match="Unknown shared variable"):
        ours.with_data(no_such_container=np.zeros(3))


def test_a_second_compilation_loads_the_entry_points_from_disk(ordinal_model):
    """What a later process does: the same structure is compiled from the disk cache."""
    from models.compiled import compile_model

    design, model = ordinal_model
    with fit_module.exact_floats():
        compile_model(model, initial_points=fit_module.initial_values(design, model))
        again = compile_model(model, initial_points=fit_module.initial_values(design, model))
    assert again.compiled_logp_func.cache_hits == 1
    assert again.compiled_expand_func.cache_hits == 1
