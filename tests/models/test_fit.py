"""Real (tiny) fits: groups, shapes and coordinates, reproducibility, reuse of compilation."""

from __future__ import annotations

import numpy as np
import pytest

from models import ModelSpec, fit, with_log_likelihood

from .conftest import FIT_OPTIONS, FIT_SPECS, make_survey

# the log-likelihood is computed on demand (models.log_likelihood_chunks, with_log_likelihood)
GROUPS = {"posterior", "sample_stats", "prior", "prior_predictive", "posterior_predictive",
          "log_prior", "observed_data", "constant_data"}


@pytest.mark.parametrize("family", sorted(FIT_SPECS))
def test_fit_has_every_group_with_named_dims(family, fits, survey):
    tree = fits(family)
    assert GROUPS <= set(tree.children)
    posterior = tree["posterior"]
    assert posterior.sizes["chain"] == FIT_OPTIONS["chains"]
    assert posterior.sizes["draw"] == FIT_OPTIONS["draws"]
    conditions = FIT_SPECS[family].get("conditions", survey.conditions)
    assert list(posterior["condition"].values) == list(conditions)
    assert set(posterior["condition_level"].values) <= {"individual", "network", "organisation", "alliance"}
    n = len(survey.individuals) - int(survey.individuals[FIT_SPECS[family]["outcome"]].isna().sum())
    assert "log_likelihood" not in tree.children
    tree = with_log_likelihood(tree, ModelSpec(**FIT_SPECS[family]), survey)
    for group in ("observed_data", "posterior_predictive", "log_likelihood", "prior_predictive"):
        assert tree[group]["y"].sizes["individual"] == n
    assert np.isfinite(tree["log_likelihood"]["y"].values).all()
    assert tree.attrs["family"] == (FIT_SPECS[family].get("family") or family)
    for level in FIT_SPECS[family].get("group_effects", ["network", "organisation", "alliance"]):
        assert posterior[f"u_{level}"].sizes[level] == len(survey.table(level))


def test_ordinal_outcome_stays_in_codebook_codes(fits):
    tree = fits("ordinal")
    for group in ("observed_data", "posterior_predictive", "prior_predictive"):
        values = np.unique(tree[group]["y"].values)
        assert values.min() >= 1 and values.max() <= 5
    assert tree["posterior"]["cutpoints"].sizes["cutpoint"] == 4
    assert np.all(tree["posterior"]["cutpoints"].diff("cutpoint") > 0)
    assert tree["posterior"]["x_missing_network"].sizes["network_missing"] == 1
    assert tree["posterior"]["slope"].dims[-2:] == ("alliance", "slope_condition")


def test_binomial_predictions_respect_trials(fits):
    tree = fits("binomial")
    predicted = tree["posterior_predictive"]["y"]
    assert int(predicted.min()) >= 0 and int(predicted.max()) <= 10


def test_same_seed_same_draws_other_seed_other_draws(fits, survey):
    first = fits("ordinal")
    again = fit(ModelSpec(**FIT_SPECS["ordinal"]), survey, **FIT_OPTIONS)
    for group in ("posterior", "posterior_predictive", "prior"):
        for name in first[group].data_vars:
            np.testing.assert_array_equal(first[group][name].values, again[group][name].values)
    other = fit(ModelSpec(**FIT_SPECS["ordinal"]), survey, **{**FIT_OPTIONS, "seed": 4, "predictive": False})
    assert not np.array_equal(first["posterior"]["b"].values, other["posterior"]["b"].values)
    assert set(other.children) == {"posterior", "sample_stats", "observed_data", "constant_data"}


def test_new_data_of_the_same_structure_reuses_the_compiled_model(fits, monkeypatch):
    import importlib

    import nutpie

    fits("bernoulli")  # compiled once for this structure

    def refuse(*args, **kwargs):
        raise AssertionError("the model was compiled again")

    monkeypatch.setattr(nutpie, "compile_pymc_model", refuse)
    monkeypatch.setattr(importlib.import_module("models.fit"), "compile_model", refuse)
    new = make_survey(seed=11)
    tree = fit(ModelSpec(**FIT_SPECS["bernoulli"]), new, **{**FIT_OPTIONS, "predictive": False})
    # the new data are used, with their own labels
    assert list(tree["observed_data"]["y"].values) == list(
        new.individuals["learned"].dropna().astype(int).to_numpy())
    old = fits("bernoulli")
    assert not np.array_equal(old["posterior"]["b"].values, tree["posterior"]["b"].values)


def test_pymc_sampler_fallback(survey):
    spec = ModelSpec(outcome="learned", conditions=["contact"], group_effects=[])
    tree = fit(spec, survey, chains=2, draws=50, tune=50, seed=1, sampler="pymc", progressbar=False,
               predictive=False)
    assert tree["posterior"]["b"].shape == (2, 50, 1)
    assert "diverging" in tree["sample_stats"]


def test_reused_compilation_draws_exactly_as_a_fresh_one(fits, monkeypatch):
    import importlib
    from collections import OrderedDict

    fit_module = importlib.import_module("models.fit")  # `models.fit` is also the function

    fits("ordinal")  # compiled on the first survey; the cutpoints start from ITS proportions
    new = make_survey(seed=11)
    options = {**FIT_OPTIONS, "predictive": False}
    reused = fit(ModelSpec(**FIT_SPECS["ordinal"]), new, **options)
    monkeypatch.setattr(fit_module, "_COMPILED", OrderedDict())  # forget every compilation
    fresh = fit(ModelSpec(**FIT_SPECS["ordinal"]), new, **options)
    for name in fresh["posterior"].data_vars:
        np.testing.assert_array_equal(reused["posterior"][name].values, fresh["posterior"][name].values)
