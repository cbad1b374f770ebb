"""A compact run (thinned predictive draws, log-likelihood recomputed chunk by chunk of
individuals, NetCDF read lazily) gives the checks of the stored-everything run
within Monte Carlo error.

The stored-everything run is the same fit (same seed, so the same posterior draws) keeping
every posterior predictive draw and the whole float64 log-likelihood, checked in memory.
The tiny survey and model are those of tests/models (compiled once per session).
"""

from __future__ import annotations

import arviz_stats as azs
import numpy as np
import pytest

from analysis import check_run
from models import (
    FitOptions,
    ModelSpec,
    Run,
    RunConfig,
    check_spec,
    fit,
    load_run,
    make_design,
    save_run,
    with_log_likelihood,
)
from models.build import model_from_design
from models.predictive import log_likelihood

from ..models.conftest import make_survey
from .test_checks import LENIENT, SPEC

SAMPLING = {"chains": 2, "draws": 1000, "tune": 300, "seed": 11}
KEPT = 250  # of 2 x 1000 draws: every 8th draw of each chain
CHECKS = {"dominance": False, "loo": True, "sensitivity": True, "ppc": True, "gates": LENIENT}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(stored-everything run in memory, compact run saved and loaded)."""
    survey = make_survey()
    spec = check_spec(ModelSpec(**SPEC), survey)
    config = RunConfig(spec, FitOptions(**SAMPLING))
    # sampled once as asked (no extension on a narrow gate miss): the test counts the draws
    options = {"chains": SAMPLING["chains"], "draws": SAMPLING["draws"], "tune": SAMPLING["tune"],
               "seed": SAMPLING["seed"], "progressbar": False, "extension": None}
    everything = fit(spec, survey, predictive_draws=None, **options)
    model = model_from_design(make_design(spec, survey))
    everything["log_likelihood"] = log_likelihood(model, everything["posterior"].to_dataset())
    compact = fit(spec, survey, predictive_draws=KEPT, **options)
    path = tmp_path_factory.mktemp("storage") / "run"
    save_run(path, compact, survey, config)
    return Run(config=config, survey=survey, tree=everything, summary={}), load_run(path)


def test_compact_run_keeps_what_it_documents(pair):
    everything, compact = pair
    tree = compact.tree
    assert "log_likelihood" not in tree.children
    assert tree["posterior"].sizes == everything.tree["posterior"].sizes
    kept = tree["posterior_predictive"]["y"]
    assert kept.sizes["chain"] * kept.sizes["draw"] == KEPT == int(tree.attrs["predictive_draws"])
    assert int(tree.attrs["predictive_thinning"]) == 8
    assert list(kept["draw"].values) == list(range(0, SAMPLING["draws"], 8))
    # the same posterior draws (same seed)
    np.testing.assert_array_equal(tree["posterior"]["b"].values, everything.tree["posterior"]["b"].values)


def test_check_results_equal_the_stored_everything_version(pair):
    everything, compact = pair
    full = check_run(everything, **CHECKS)
    small = check_run(compact, **CHECKS)
    assert full.errors == {} and small.errors == {}

    # shares and verdict come from the posterior, which is kept whole
    assert small.verdict.verdict == full.verdict.verdict
    for name in ("share", "side_share"):
        np.testing.assert_allclose(small.decomposition[name].values, full.decomposition[name].values,
                                   rtol=1e-12)

    # PPC p-values: each is a proportion of draws, estimated from KEPT draws here and from
    # all 2000 there; the difference has SD <= sqrt(p(1-p) * 2 / KEPT) (the full run's
    # effective draws are at least the thinned run's); allow 4.5 SD in every cell
    def within_mc_error(p_small, p_full):
        p_small, p_full = np.ravel(p_small), np.ravel(p_full)
        finite = np.isfinite(p_full)
        assert np.array_equal(finite, np.isfinite(p_small))
        var = np.maximum(p_full * (1 - p_full), 1 / KEPT) * 2 / KEPT
        assert np.all(np.abs(p_small - p_full)[finite] <= 4.5 * np.sqrt(var[finite]))

    assert full.ppc.proportions.keys() == small.ppc.proportions.keys()
    for key, table in full.ppc.proportions.items():
        within_mc_error(small.ppc.proportions[key]["p_value"].values, table["p_value"].values)
    for key, check in full.ppc.group_statistics.items():
        within_mc_error(np.asarray(small.ppc.group_statistics[key].p_value),
                        np.asarray(check.p_value))
    # LOO-PIT per observation: a weighted proportion of draws, same bound
    within_mc_error(small.ppc.loo_pit.values.values, full.ppc.loo_pit.values.values)

    # prior sensitivity uses every draw's log-likelihood, summed over the individuals chunk
    # by chunk there and at once here: rounding only
    for name, values in full.sensitivity.sensitivity.data_vars.items():
        np.testing.assert_allclose(small.sensitivity.sensitivity[name].values, values.values,
                                   rtol=1e-6, atol=1e-9)

    # LOO: the full model's from the whole float64 array there, from chunks of individuals
    # recomputed here; the sub-models' from chunks in their workers (the same fits: same
    # seeds): rounding only, far below the elpd's standard error
    assert full.loo.best == small.loo.best
    columns = ["elpd", "se", "p", "elpd_diff", "dse", "weight"]
    np.testing.assert_allclose(small.loo.table.loc[full.loo.table.index, columns].to_numpy(float),
                               full.loo.table[columns].to_numpy(float), rtol=1e-6, atol=1e-6)
    assert small.loo.pareto_k.equals(full.loo.pareto_k.loc[small.loo.pareto_k.index])


def test_loo_in_chunks_of_individuals_equals_arviz_on_the_whole_array(pair):
    """The run's PSIS-LOO, its log-likelihood recomputed 10 individuals at a time (never
    draws x individuals), against ``arviz_stats.loo`` on the stored float64 array."""
    from analysis.loo import relative_ess, summarise_log_likelihood
    from models import log_likelihood_chunks

    everything, compact = pair
    full = azs.loo(everything.tree, pointwise=True)
    draws = SAMPLING["chains"] * SAMPLING["draws"]
    chunks = log_likelihood_chunks(compact.tree, compact.spec, compact.survey, values=10 * draws)
    small = summarise_log_likelihood(chunks, reff=relative_ess(compact.tree["posterior"].to_dataset())).loo
    assert small.elpd == pytest.approx(full.elpd, rel=1e-10)
    assert small.se == pytest.approx(full.se, rel=1e-8)
    assert small.p == pytest.approx(full.p, rel=1e-8)
    np.testing.assert_allclose(small.pareto_k.values, full.pareto_k.values, rtol=1e-8)
    # with_log_likelihood still gives the whole array (float32) where one wants it
    whole = azs.loo(with_log_likelihood(compact.tree, compact.spec, compact.survey), pointwise=True)
    assert abs(whole.elpd - full.elpd) < 1e-3 * full.se


def test_per_draw_computations_in_chunks_of_draws_equal_the_whole(pair, monkeypatch):
    """decompose, effects_of and fixed_r2 run on chunks of draws: same numbers."""
    import xarray as xr

    import models.predictive
    from analysis.checks import decompose, effects_of
    from analysis.dominance import fixed_r2

    tree = pair[1].tree
    whole = {name: f(tree) for name, f in
             (("decompose", decompose), ("effects", effects_of), ("r2", fixed_r2))}
    real = models.predictive.over_draw_chunks
    for name, f in (("decompose", decompose), ("effects", effects_of), ("r2", fixed_r2)):
        # chunks of 300 draws (the last one shorter), whatever values per draw f declares
        calls = []

        def chunked_by_300(tree, compute, *, values_per_draw, group="posterior"):
            monkeypatch.setattr(models.predictive, "_CHUNK_VALUES",
                                300 * tree[group].sizes["chain"] * values_per_draw)
            return real(tree, lambda t: calls.append(t[group].sizes["draw"]) or compute(t),
                        values_per_draw=values_per_draw, group=group)

        monkeypatch.setattr(models.predictive, "over_draw_chunks", chunked_by_300)
        chunked = f(tree)
        assert calls == [300, 300, 300, 100]
        assert chunked.sizes["draw"] == SAMPLING["draws"]
        xr.testing.assert_allclose(chunked, whole[name], rtol=1e-12)
