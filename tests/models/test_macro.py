"""The alliance-level (micro-macro) model of models.macro: design, refusals, a fit, the CLI.

The fast version of ``tests/benchmarks/macro.py``: its generator (latent alliance means,
exact truth) on small studies, one compiled model shared by the fit and the CLI run.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from models import ModelSpec, SpecError, make_design
from models.macro import macro_design

from .conftest import benchmark_script

bench = benchmark_script("macro.py")
OUTCOME = bench.OUTCOME


@pytest.fixture(scope="module")
def study():
    return bench.simulate_macro(11, alliances=40)


def test_design_rows_are_alliances_and_member_means_latent(study):
    survey, truth = study
    design = make_design(ModelSpec(outcome=OUTCOME), survey)
    alliances = list(survey.ids("alliance"))
    assert design.macro is not None and design.coords["individual"] == alliances
    assert design.spec.group_effects == () and design.n == len(alliances)
    assert not design.index  # no group intercepts, no index of individuals
    for level, names in design.level_conditions.items():
        assert design.X[level].shape == (len(alliances), len(names))
    # member-level means: every (alliance, condition) is latent, measured by every member value
    for level in ("individual", "network"):
        rows, cols, _ = design.missing[level]
        assert len(rows) == design.X[level].size
        counts = design.macro.n_members[level]
        assert counts.sum() == survey.table(level)[list(design.level_conditions[level])].notna().sum().sum()
        assert (counts > 0).all()
    # organisations: the mean of the partners' standardised values, each partner once
    org = "receptivity"
    z = (survey.table("organisation")[org] - design.center[org]) / design.scale[org]
    pairs = survey.individuals[["organisation", "alliance"]].drop_duplicates()
    expected = pairs.assign(z=z.reindex(pairs["organisation"]).to_numpy()).groupby("alliance")["z"].mean()
    np.testing.assert_allclose(design.X["organisation"][:, 0], expected.reindex(alliances).to_numpy())
    np.testing.assert_allclose(design.X["organisation"][:, 0], truth["predictors"][org].to_numpy())
    # the shortcut's rows are the observed member means
    observed = macro_design(ModelSpec(outcome=OUTCOME), survey, aggregation="observed")
    people = survey.individuals
    zc = (people["personal_contact"] - design.center["personal_contact"]) / design.scale["personal_contact"]
    means = zc.groupby(people["alliance"]).mean().reindex(alliances).to_numpy()
    np.testing.assert_allclose(observed.X["individual"][:, 0], means)
    assert not len(observed.missing["individual"][0])


@pytest.mark.parametrize("extra, message", [
    ({"group_effects": ("alliance",)}, "one value per alliance"),
    ({"varying_slopes": ("personal_contact",)}, "slopes cannot vary"),
])
def test_alliance_outcome_refuses_group_terms(study, extra, message):
    survey, _ = study
    with pytest.raises(SpecError, match=message):
        make_design(ModelSpec(outcome=OUTCOME, **extra), survey)


@pytest.fixture(scope="module")
def fitted(study):
    survey, truth = study
    tree = bench.fit_method("latent", survey, chains=2, draws=300, tune=300, seed=4)
    return tree, truth


def test_latent_means_recover_the_alliances_population_means(fitted):
    """The measurement sub-model's alliance means cover the true (population) means.

    Tolerance from the posterior: each true mean within 3 posterior SDs of its posterior mean
    for at least 95% of (alliance, condition) pairs.
    """
    tree, truth = fitted
    posterior = tree["posterior"]
    constant = tree["constant_data"]
    for level in ("individual", "network"):
        names = [str(c) for c in constant[f"X_{level}"][f"{level}_condition"].values]
        draws = posterior[f"x_missing_{level}"]
        mean = draws.mean(("chain", "draw")).values.reshape(-1, len(names))  # row-major: alliance, condition
        sd = draws.std(("chain", "draw")).values.reshape(-1, len(names))
        true = truth["predictors"][names].to_numpy()
        assert np.mean(np.abs(mean - true) <= 3 * sd) >= 0.95, level
        assert np.corrcoef(mean.ravel(), true.ravel())[0, 1] > 0.7, level


def test_effects_and_share_within_their_posterior_uncertainty(fitted):
    """Each true effect and the true interpersonal share within 3.5 posterior SDs."""
    tree, truth = fitted
    b = tree["posterior"]["b"]
    for condition, true in truth["effects"].items():
        draws = b.sel(condition=condition)
        assert abs(float(draws.mean()) - true) <= 3.5 * float(draws.std()), condition
    share = bench.interpersonal_share(tree)
    assert abs(float(share.mean()) - truth["interpersonal_share"]) <= 3.5 * float(share.std())
    assert tree.attrs["aggregation"] == "latent"
    assert tree["constant_data"].sizes["individual"] == len(truth["predictors"])


def test_cli_run_fits_checks_and_reports_the_alliance_outcome(study, fitted, tmp_path):
    """`run --outcome collective_learning`: fit, check and report of the micro-macro model."""
    from reports.cli import app

    survey, _ = study
    data = tmp_path / "survey.csv"
    survey.to_wide().to_csv(data, index=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(data), "--outcome", OUTCOME, "--out", str(out),
                                      "--chains", "2", "--draws", "300", "--tune", "300", "--seed", "4",
                                      "--no-dominance", "--no-loo", "--no-progress"])
    assert result.exit_code == 0, result.output
    checks = json.loads((out / "checks" / "checks.json").read_text())
    assert checks["errors"] == {}  # the log-likelihood (sensitivity, LOO-PIT) included
    assert "sensitivity" not in checks["skipped"] and checks["sensitivity"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == OUTCOME
    effects = summary["effects"]
    # per SD = the effect on the model's scale, organisation conditions included (their rows
    # in the fit are alliance means, but the SD is the organisations')
    assert effects["receptivity"]["per_sd"]["mean"] == pytest.approx(
        effects["receptivity"]["per_unit"]["mean"] * effects["receptivity"]["scale"])
    page = (out / "report.html").read_text(encoding="utf-8")
    shares = re.search(r'<section id="shares">(.*?)</section>', page, flags=re.S).group(1)
    assert f"between the {len(survey.ids('alliance'))} alliances" in shares
    assert "interpersonal share" in shares and "wide" in shares
    model = re.search(r'<section id="model">(.*?)</section>', page, flags=re.S).group(1)
    assert "latent alliance means" in model and "partner organisations" in model


def test_gaussian_family_builds_the_same_measurement_model(study):
    """Another family on the same design: the outcome's likelihood changes, nothing else."""
    from models.build import model_from_design

    survey, _ = study
    design = make_design(ModelSpec(outcome=OUTCOME, family="gaussian"), survey)
    model = model_from_design(design)
    assert {"sigma", "intercept", "b", "x_missing_individual", "x_missing_network",
            "macro_within_sd_network"} <= set(model.named_vars)
    assert "normal" in str(model["y"].owner.op).lower()
    assert np.isfinite(model.compile_logp()(model.initial_point()))
    assert design.y.dtype.kind == "f" and model["y_observed"].get_value().shape == (len(survey.ids("alliance")),)


def test_missing_outcome_and_member_values_are_counted_not_imputed_away(study):
    """An alliance without its outcome leaves the likelihood (counted); a missing member value
    leaves its alliance's measurement (the count drops); a missing alliance condition is imputed."""
    from dataclasses import replace as copy_with

    survey, _ = study
    individuals = survey.individuals.copy()
    alliance = survey.groups["alliance"].copy()
    first, second = alliance.index[:2]
    alliance.loc[first, OUTCOME] = np.nan
    alliance.loc[second, "prior_cooperation"] = np.nan
    members = individuals.index[individuals["alliance"] == second][:4]
    individuals.loc[members, "personal_contact"] = np.nan
    holed = copy_with(survey, individuals=individuals, groups={**survey.groups, "alliance": alliance})
    design = make_design(ModelSpec(outcome=OUTCOME), holed)
    assert design.n_missing_outcome == 1 and design.n == len(alliance) - 1
    assert first not in design.coords["individual"]
    row = design.coords["individual"].index(second)
    full = make_design(ModelSpec(outcome=OUTCOME), survey)
    column = design.level_conditions["individual"].index("personal_contact")
    assert design.macro.n_members["individual"][row, column] == \
        full.macro.n_members["individual"][row + 1, column] - 4
    assert design.missing["alliance"][2] == [f"{second}:prior_cooperation"]


def test_report_of_an_alliance_outcome_names_its_unit_and_share_width():
    from reports.context import _loo_frame
    from reports.html import ReportContext, render_html

    loo = _loo_frame({"method": "stacking", "khat_threshold": 0.7, "models": [
        {"model": "both", "rank": 0, "elpd": -10.0, "se": 1.0, "elpd_diff": 0.0, "dse": 0.0,
         "p": 3.0, "weight": 1.0, "pareto_k": {"n_k_over_threshold": 0}}]})
    individual = render_html(ReportContext(loo=loo))
    alliance = render_html(ReportContext(loo=loo, alliance_note="between the 30 alliances"))
    assert "fitted to the same individuals" in individual and "for a new individual" in individual
    assert "fitted to the same alliances" in alliance and "for a new alliance" in alliance
