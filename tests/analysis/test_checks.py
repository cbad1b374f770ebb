"""check_run on tiny real fits: every part with named dims, refusal of a broken fit, no recompilation.

The tiny survey and model are those of tests/models (same spec and array shapes), so in
one pytest session the model is compiled once; sampling then takes seconds.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import xarray as xr
from scipy.special import expit

from analysis import (
    ChecksExistError,
    Gate,
    check_run,
    fit_submodels,
    linear_predictor,
    save_checks,
)
from analysis.checks import CHECKS_FILE
from analysis.dominance import fixed_r2
from models import FitOptions, ModelSpec, RunConfig, check_spec, fit, save_run, with_log_likelihood

from ..models.conftest import make_survey

SPEC = {"outcome": "learning", "varying_slopes": ["contact"]}
# A tiny fit (2 chains x 100 draws) cannot pass the default ESS gates (400); the structure
# tests use a gate it passes, because they test the wiring, not convergence.
LENIENT = (Gate("R-hat", "max_rhat", "<=", 1.5, "structure tests only"),)
LEVELS = ["individual", "network", "organisation", "alliance"]


def make_run(tmp_path_factory, name: str, **options):
    survey = make_survey()
    spec = check_spec(ModelSpec(**SPEC), survey)
    sampling = FitOptions(**options)
    tree = fit(spec, survey, chains=sampling.chains, draws=sampling.draws, tune=sampling.tune,
               seed=sampling.seed, progressbar=False)
    return save_run(tmp_path_factory.mktemp(name) / "run", tree, survey, RunConfig(spec, sampling))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory, "good", chains=2, draws=100, tune=150, seed=3)


@pytest.fixture(scope="module")
def checks(run):
    return check_run(run, gates=LENIENT, workers=2)


def test_every_part_is_computed_with_named_dims(checks, run):
    assert checks.errors == {} and checks.skipped == {}
    assert checks.trustworthy and checks.exit_code == 0
    assert checks.verdict.verdict in ("interpersonal dominates", "interorganisational dominates",
                                      "inconclusive")
    d = checks.decomposition
    assert list(d["share"]["level"].values) == LEVELS
    assert list(d["side_share"]["side"].values) == ["interpersonal", "interorganisational"]
    assert set(d["group_variance"]["group"].values) == {"network", "organisation", "alliance"}
    np.testing.assert_allclose(d["side_share"].sum("side"), 1.0, atol=1e-9)
    shares = checks.shares()
    assert set(shares["side_share"].dims) == {"side", "stat"}
    conditions = list(run.tree["posterior"]["condition"].values)
    assert checks.effects.dims == ("chain", "draw", "condition")
    assert list(checks.effects["condition"].values) == conditions

    dominance = checks.dominance
    assert dominance.groups == tuple(LEVELS)
    assert dominance.r2.sizes["subset"] == 16  # 15 non-empty subsets and the empty one
    assert dominance.general.dims == ("chain", "draw", "level")
    assert dominance.p_complete.dims == ("level", "other_level")
    assert len(dominance.submodels) == 14  # the full model is the run itself
    # the full model's R^2 is the run's own
    xr.testing.assert_allclose(dominance.r2.sel(subset="individual+network+organisation+alliance",
                                                drop=True), fixed_r2(run.tree), check_dim_order=False)

    assert set(checks.loo.table.index) == {"interpersonal", "interorganisational", "both", "null"}
    assert set(checks.submodels) == {"interpersonal", "interorganisational", "null"}
    assert checks.submodels["null"]["conditions"] == []
    assert "overall" in checks.ppc.proportions and "network" in checks.ppc.proportions
    assert "side_share[interpersonal]" in checks.sensitivity.table.index

    content = checks.to_dict()
    json.dumps(content, allow_nan=False)
    assert content["verdict"]["verdict"] == checks.verdict.verdict
    assert set(content["shares"]["side_share"]) == {"interpersonal", "interorganisational"}
    assert set(content["effects"]["conditions"]) == set(conditions)
    assert "Verdict:" in str(checks) and "Dominance analysis of 4 level groups" in str(checks)


def test_save_checks_writes_json_and_figures_and_never_overwrites(checks, run):
    where = save_checks(checks, run.path)
    content = json.loads((where / CHECKS_FILE).read_text())
    assert content["figures"] and all((where / name).is_file() for name in content["figures"])
    assert sorted(p.name for p in where.glob("*.png")) == sorted(content["figures"])
    # every figure written is shown: the report tags each embedded figure with its PNG's stem
    from reports.context import build_context
    from reports.html import render_report

    page = render_report(build_context(run, checks), run.path / "report.html",
                         overwrite=True).read_text()
    shown = set(re.findall(r'data-figure="([^"]+)"', page))
    assert {name.removesuffix(".png") for name in content["figures"]} == shown
    assert {"shares", "effects", "dominance", "ppc_overall", "loo_pit"} <= shown
    assert not {"loo_comparison", "prior_sensitivity", "ppc_network"} & shown  # tables only
    assert 'id="truth"' not in page  # estimates beside the truth: only for the shipped example
    with pytest.raises(ChecksExistError):
        save_checks(checks, run.path)
    save_checks(checks, run.path, force=True, figures=False)
    assert json.loads((where / CHECKS_FILE).read_text())["figures"] == []
    assert not list(run.path.glob(".checks.*"))  # no staging folder left behind


def test_sub_model_draws_and_extensions_reach_the_report_live_and_loaded(checks, run, tmp_path):
    """Each sub-model's kept draws per chain and extensions: in checks.json and the report."""
    import re

    from analysis import load_checks
    from reports import build_context
    from reports.html import extended_cell, render_html

    fits = {**checks.dominance.submodels, **checks.submodels}
    assert len(fits) == 17
    for entry in fits.values():  # draws: the sub-model's own, at most the run's unless extended
        assert entry["extensions"] in (0, 1, 2)
        assert 0 < entry["draws"] <= 100 * 4 ** bool(entry["extensions"])
    save_checks(checks, tmp_path, figures=False)
    loaded = load_checks(tmp_path)
    assert loaded.to_dict()["dominance"]["submodels"] == checks.dominance.submodels
    live = build_context(run, checks)
    page = render_html(live)
    assert render_html(build_context(run, loaded)) == page
    section = re.search(r'<section id="dominance-analysis">(.*?)</section>', page, re.S).group(1)
    rows = {cells[0]: cells[-2:] for cells in
            (re.findall(r"<td[^>]*>(.*?)</td>", row) for row in
             re.findall(r'<tr class="(?:passed|failed)">(.*?)</tr>', section))}
    assert rows == {label: [f"{e['draws']:,}", extended_cell(e["extensions"])]
                    for label, e in checks.dominance.submodels.items()}
    loo = live.loo
    assert loo.loc["both", "draws per chain"] == run.tree["posterior"].sizes["draw"]
    assert loo.loc["both", "extended"] in ("no", "yes, once", "yes, 2 times")
    for name, entry in checks.submodels.items():
        assert loo.loc[name, "draws per chain"] == entry["draws"]
        assert loo.loc[name, "extended"] == extended_cell(entry["extensions"])


def test_linear_predictor_reproduces_the_models_log_likelihood(run):
    """Eta (conditions, imputed codes, group intercepts, varying slopes) gives the loglik."""
    tree = with_log_likelihood(run.tree, run.spec, run.survey)
    eta = linear_predictor(tree)
    cut = tree["posterior"]["cutpoints"]
    y = tree["observed_data"]["y"]  # categories 1..K
    k = cut.sizes["cutpoint"] + 1
    upper = xr.concat([cut, xr.full_like(cut.isel(cutpoint=0), np.inf)], dim="cutpoint")
    lower = xr.concat([xr.full_like(cut.isel(cutpoint=0), -np.inf), cut], dim="cutpoint")
    position = xr.DataArray(y.values - 1, dims="individual")
    p = (expit(upper.isel(cutpoint=position) - eta) - expit(lower.isel(cutpoint=position) - eta))
    assert k == 5
    np.testing.assert_allclose(np.log(p.transpose("chain", "draw", "individual").values),
                               tree["log_likelihood"]["y"].transpose("chain", "draw", "individual").values,
                               rtol=1e-6, atol=1e-8)


def test_submodel_refits_reuse_the_compiled_model(run, monkeypatch):
    import nutpie

    def refuse(*args, **kwargs):
        raise AssertionError("a sub-model was compiled again")

    monkeypatch.setattr(nutpie, "compile_pymc_model", refuse)  # forked workers inherit it
    fits = fit_submodels(run, {"contact only": ["contact"], "organisation": ["absorptive"],
                               "null": []}, seed=5, workers=2)
    contact = fits["contact only"].tree
    b = contact["posterior"]["b"]
    assert float(abs(b.sel(condition="contact")).min()) > 0
    assert float(abs(b.drop_sel(condition="contact")).max()) == 0.0  # left out: no effect on eta
    assert list(contact["constant_data"]["condition_active"].values) == [
        c == "contact" for c in b["condition"].values]
    assert float(fixed_r2(fits["null"].tree).max()) == 0.0
    assert float(fixed_r2(contact).min()) > 0
    sequential = fit_submodels(run, {"contact only": ["contact"]}, seed=5, workers=1)
    # same seed, same sub-model: the same draws in a worker process and in this one
    np.testing.assert_array_equal(sequential["contact only"].tree["posterior"]["b"].values, b.values)


def test_a_broken_fit_is_not_trustworthy_and_gets_no_dominance_verdict(tmp_path_factory):
    broken = make_run(tmp_path_factory, "broken", chains=2, draws=50, tune=10, seed=1)
    checks = check_run(broken, sensitivity=False)  # default gates
    assert checks.verdict.verdict == "not trustworthy"
    assert not checks.trustworthy and checks.exit_code == 3
    assert checks.dominance is None and checks.loo is None
    assert "diagnostic gate" in checks.skipped["dominance"]
    assert "diagnostic gate" in checks.skipped["loo"]
    content = checks.to_dict()
    assert content["verdict"]["verdict"] == "not trustworthy" and content["dominance"] is None
    assert not any("dominates" in line for line in str(checks).splitlines()
                   if line.startswith("Verdict"))


def test_check_command_exit_codes(run, tmp_path_factory):
    from typer.testing import CliRunner

    from reports.cli import app

    broken = make_run(tmp_path_factory, "broken_cli", chains=2, draws=50, tune=10, seed=2)
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(broken.path), "--no-sensitivity"])
    assert result.exit_code == 3, result.output
    assert "verdict: not trustworthy" in result.output
    assert "P(interpersonal share > interorganisational share)" in result.output
    assert (broken.path / "checks" / CHECKS_FILE).is_file()
    again = runner.invoke(app, ["check", str(broken.path)])
    assert again.exit_code == 2 and "--force" in again.output
    missing = runner.invoke(app, ["check", str(broken.path.parent / "nowhere")])
    assert missing.exit_code == 2 and "no such run directory" in missing.output
    bad = runner.invoke(app, ["check", str(broken.path), "--threshold", "0.4", "--force"])
    assert bad.exit_code == 2 and "--threshold" in bad.output


# -- no part can lose the record or the report ---------------------------------------------
def test_a_failing_part_and_a_nan_part_still_give_checks_json_and_a_report(run, tmp_path,
                                                                           monkeypatch):
    import arviz_stats

    import analysis.checks
    from analysis import load_checks
    from reports.context import build_context
    from reports.html import render_html

    def broken_ppc(tree, seed, **kwargs):
        raise RuntimeError("injected failure")

    real_summary = arviz_stats.psense_summary

    def nan_summary(*args, **kwargs):  # a NaN sensitivity, as a real survey once gave
        table = real_summary(*args, **kwargs)
        table.iloc[0, table.columns.get_loc("prior")] = np.nan
        return table

    monkeypatch.setattr(analysis.checks, "_ppc", broken_ppc)
    monkeypatch.setattr(arviz_stats, "psense_summary", nan_summary)
    checks = check_run(run, gates=LENIENT, dominance=False, loo=False)
    assert checks.errors["ppc"] == "RuntimeError: injected failure"
    assert checks.errors["sensitivity"].startswith("NaN in the sensitivity of ")
    assert checks.verdict is not None and checks.decomposition is not None  # the rest stands
    nan_row = checks.sensitivity.table.index[0]
    assert checks.sensitivity.table.loc[nan_row, "diagnosis"] == "not computed (NaN)"
    # the text summary never shows the NaN row as a pass
    row = next(line for line in str(checks).splitlines() if line.strip().startswith(nan_row))
    assert "✓" not in row and "not computed (NaN)" in row
    assert "ppc: FAILED (RuntimeError: injected failure)" in str(checks)

    where = save_checks(checks, tmp_path)  # NaN written as null, never a json crash
    content = json.loads((where / CHECKS_FILE).read_text())
    assert content["sensitivity"]["quantities"][nan_row]["prior"] is None
    assert set(content["errors"]) >= {"ppc", "sensitivity"}
    loaded = load_checks(tmp_path)
    assert loaded.errors == checks.errors and loaded.ppc is None
    page = render_html(build_context(run, loaded))
    errors = page.split('id="check-errors"')[1].split("</div>")[0]
    assert "injected failure" in errors and "NaN in the sensitivity of" in errors
    assert "not computed (NaN)" in page


def test_a_failing_part_logs_its_traceback_when_asked_for_details(run, monkeypatch, caplog):
    import logging

    import analysis.checks

    def broken_ppc(tree, seed, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(analysis.checks, "_ppc", broken_ppc)
    caplog.set_level(logging.INFO, logger="analysis.checks")  # what the CLI's -v sets
    check_run(run, gates=LENIENT, dominance=False, loo=False, sensitivity=False)
    record = next(r for r in caplog.records if "injected failure" in r.getMessage())
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_the_contributions_are_rebuilt_once_per_check_run(run, monkeypatch):
    """Decomposition, readable effects and the full model's R^2 share one computation."""
    import importlib

    module = importlib.import_module("models.contributions")  # `models.contributions` is the function
    real = module.contributions
    calls = []

    def counting(tree, **kwargs):
        calls.append(tree is run.tree)
        return real(tree, **kwargs)

    monkeypatch.setattr(module, "contributions", counting)
    checks = check_run(run, gates=LENIENT, loo=False, ppc=False, sensitivity=False, workers=2)
    assert checks.errors == {} and checks.dominance is not None and checks.effects is not None
    assert calls.count(True) == 1  # the sub-models' own fits are the other calls


def test_check_run_takes_a_fit_held_in_memory(run, checks):
    in_memory = check_run(run.tree, survey=run.survey, gates=LENIENT, dominance=False, loo=False)
    assert in_memory.settings["run"] is None
    # the same numbers as the saved run's checks
    for part in ("verdict", "shares", "effects", "ppc", "sensitivity"):
        assert in_memory.to_dict()[part] == checks.to_dict()[part], part
    # without its data, the parts that refit sub-models say what they need
    alone = check_run(run.tree, gates=LENIENT, ppc=False)
    assert "survey=" in alone.skipped["dominance"] and "survey=" in alone.skipped["loo"]
    # and the log-likelihood (recomputed from the data) that the prior sensitivity needs
    assert "survey=" in alone.skipped["sensitivity"]


def test_draws_file_keeps_an_unnamed_array(tmp_path):
    # a binomial proportion check's replicated statistic has no name (attrs name=None), which
    # netCDF cannot store as an attribute: the draws file failed for lme4::cbpp
    from analysis.checks import _array, _array_group, _read_draws, _write_draws

    da = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("chain", "draw"),
                      attrs={"family": "binomial"})
    _write_draws(xr.DataTree.from_dict({"ppc/group_statistics/network": _array_group(da)}),
                 tmp_path / "draws.nc")
    back = _array(_read_draws(tmp_path / "draws.nc")["ppc/group_statistics/network"].to_dataset())
    xr.testing.assert_identical(back, da)
