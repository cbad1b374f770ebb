"""Tests of the simulator (data/simulate.py) and the shipped example data."""

from __future__ import annotations

import importlib.util
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

from data import (
    Codebook,
    Design,
    DesignError,
    load_codebook,
    load_design,
    save_simulation,
    simulate,
    validate_file,
    validate_frame,
)
from data.coded import collapse_raters, validate_coded
from data.simulate import example_design_path
from reports.cli import app

HERE = Path(__file__).parent
DESIGNS = HERE / "designs"
EXAMPLE = Path(example_design_path()).parent


def _codebook() -> Codebook:
    """A codebook with every scale at every level and one outcome per family."""
    raw = {
        "ids": {"individual": "person", "network": "ksn", "organisation": "firm", "alliance": "case"},
        "outcomes": {
            "y_ordinal": {"scale": "likert-5"},
            "y_gaussian": {"scale": "continuous"},
            "y_binary": {"scale": "binary"},
            "y_count": {"scale": "count"},
            "case_ordinal": {"scale": "likert-5", "level": "alliance"},
            "case_binary": {"scale": "binary", "level": "alliance"},
        },
        "conditions": {
            "trust": {"level": "individual", "scale": "likert-7"},
            "volunteer": {"level": "individual", "scale": "binary"},
            "hours": {"level": "individual", "scale": "continuous"},
            "size": {"level": "network", "scale": "count", "expected_sign": "-"},
            "interests": {"level": "network", "scale": "likert-5"},
            "capacity": {"level": "organisation", "scale": "likert-5"},
            "open": {"level": "organisation", "scale": "binary"},
            "payoff": {"level": "alliance", "scale": "likert-5"},
            "history": {"level": "alliance", "scale": "continuous"},
        },
    }
    return Codebook.from_dict(raw, source="<test codebook>")


CODEBOOK = _codebook()
ALL = tuple(CODEBOOK.conditions)


def _design(**changes) -> Design:
    base = dict(alliances=12, organisations=(3, 6), networks=(2, 4), people=(4, 12),
                conditions=ALL, outcome="y_ordinal", alliance_outcome="case_ordinal")
    return Design(**{**base, **changes})


# -- reproducibility -------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_files(tmp_path):
    design = _design(raters={"n": 3, "bias_sd": 0.3, "noise_sd": 0.5})
    written = []
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
        written.append(save_simulation(simulate(design, CODEBOOK, seed=7), tmp_path / run / "sim.csv"))
    assert set(written[0]) == {"data", "truth", "coded"}
    for key in written[0]:
        assert written[0][key].read_bytes() == written[1][key].read_bytes(), key


def test_different_seed_gives_different_data(tmp_path):
    first = save_simulation(simulate(_design(), CODEBOOK, seed=1), tmp_path / "a.csv")
    second = save_simulation(simulate(_design(), CODEBOOK, seed=2), tmp_path / "b.csv")
    assert first["data"].read_bytes() != second["data"].read_bytes()
    assert first["truth"].read_bytes() != second["truth"].read_bytes()


# -- design validation -------------------------------------------------------------------------

def test_design_errors_are_collected():
    with pytest.raises(DesignError) as caught:
        load_design(DESIGNS / "many_problems.toml")
    problems = caught.value.problems
    text = "\n".join(problems)
    for fragment in ("alliances: must be a whole number", "organisations must be a range",
                     "respondents_per_organisation must be a range", "condition_correlation must be in",
                     "family 'poisson'", "missing_rate must be in", "cutpoints must be",
                     "group_sd.team", "group_sd.network must be >= 0", "unknown key 'colour'",
                     "conditions lists a name twice"):
        assert fragment in text, fragment
    assert len(problems) == 11, text
    assert "many_problems.toml" in str(caught.value)


def test_design_errors_against_the_codebook_are_collected():
    design = load_design(DESIGNS / "against_codebook.toml")
    with pytest.raises(DesignError) as caught:
        simulate(design, seed=0)
    text = "\n".join(caught.value.problems)
    assert "'no_such_condition' is not in the codebook" in text
    assert "outcome 'individual_learning' has scale ordinal-5, which family 'gaussian'" in text
    assert "alliance_outcome 'individual_learning' is declared at level individual" in text
    assert len(caught.value.problems) == 4, text


def test_design_needs_one_way_to_give_effects():
    with pytest.raises(DesignError, match="not both"):
        Design(effects={c: 0.1 for c in Design().conditions}, interpersonal_share=0.5)
    with pytest.raises(DesignError, match="effects missing for: transparency"):
        Design(effects={c: 0.1 for c in Design().conditions if c != "transparency"})


def test_cutpoints_must_match_the_outcome_categories():
    with pytest.raises(DesignError, match="needs 4 cutpoints, got 2"):
        simulate(_design(cutpoints=(-1.0, 1.0)), CODEBOOK)


def test_design_round_trips_through_toml(tmp_path):
    design = _design(raters={"n": 2, "bias_sd": 0.1, "noise_sd": 0.2}, shared_organisations=0.2,
                     effect_weights={"trust": 2.0})
    path = tmp_path / "design.toml"
    path.write_text(tomli_w.dumps(design.to_dict()))
    assert load_design(path) == design


def test_example_design_is_the_default_design():
    assert load_design(example_design_path()) == Design()


# -- structure ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_sizes_are_within_the_design_ranges(seed):
    design = _design(alliances=20, organisations=(2, 5), networks=(2, 6), people=(3, 15),
                     respondents_per_organisation=(1, 3))
    data = simulate(design, CODEBOOK, seed=seed).data
    assert data["case"].nunique() == 20
    per_alliance = data.groupby("case").agg(orgs=("firm", "nunique"), nets=("ksn", "nunique"))
    assert per_alliance["orgs"].between(2, 5).all()
    assert per_alliance["nets"].between(2, 6).all()
    assert data.groupby("ksn").size().between(3, 15).all()
    assert data.groupby(["ksn", "firm"]).size().between(1, 3).all()
    # nesting: a network in one alliance, a respondent once
    assert (data.groupby("ksn")["case"].nunique() == 1).all()
    assert data["person"].is_unique


def test_ids_are_strings_in_the_documented_form():
    data = simulate(Design(), seed=0).data
    assert data["alliance"].str.fullmatch(r"A\d{2}").all()
    assert data["network"].str.fullmatch(r"A\d{2}-N\d").all()
    assert (data["network"].str[:3] == data["alliance"]).all()
    assert data["organisation"].str.fullmatch(r"O\d{3}").all()
    assert data["respondent"].str.fullmatch(r"R\d{5}").all()


def test_shared_organisations_join_two_alliances_and_still_validate():
    sim = simulate(_design(shared_organisations=0.3, missing_rate=0.0), CODEBOOK, seed=3)
    alliances_per_org = sim.data.groupby("firm")["case"].unique()
    several = {org: sorted(cases) for org, cases in alliances_per_org.items() if len(cases) > 1}
    assert several and several == sim.truth["organisations_in_several_alliances"]
    assert validate_frame(sim.data, CODEBOOK).ok


def test_group_level_conditions_are_constant_within_groups():
    sim = simulate(_design(missing_rate=0.1), CODEBOOK, seed=4)
    for name in ALL:
        level = CODEBOOK.conditions[name].level
        if level == "individual":
            continue
        per_group = sim.data.groupby(CODEBOOK.ids[level])[name]
        # constant, and a missing code is missing for the whole group
        assert (per_group.nunique(dropna=True) <= 1).all(), name
        assert (per_group.apply(lambda s: s.isna().all() or s.notna().all())).all(), name


def test_missing_rate_is_close_to_the_design():
    rate = 0.05
    sim = simulate(_design(alliances=300, missing_rate=rate), CODEBOOK, seed=5)
    for name in ALL:
        level = CODEBOOK.conditions[name].level
        n = sim.truth["sizes"][level]
        k = sim.truth["missing"][name]
        column = sim.data.drop_duplicates(CODEBOOK.ids[level])[name] if level != "individual" else sim.data[name]
        assert column.isna().sum() == k
        # MCAR: k ~ Binomial(n, rate); 4 binomial SDs (two-sided p < 1e-4 per condition)
        assert abs(k - n * rate) <= 4 * math.sqrt(n * rate * (1 - rate)), (name, k, n)
    assert sim.data[["y_ordinal", "case_ordinal"]].notna().all().all()


# -- codes -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("family", "outcome", "alliance_outcome"), [
    ("ordinal", "y_ordinal", "case_ordinal"),
    ("gaussian", "y_gaussian", None),
    ("bernoulli", "y_binary", "case_binary"),
    ("binomial", "y_count", None),
])
def test_each_family_produces_valid_codes(family, outcome, alliance_outcome):
    design = _design(family=family, outcome=outcome, alliance_outcome=alliance_outcome, trials=6,
                     intercept=0.3, sigma=0.7, missing_rate=0.05)
    sim = simulate(design, CODEBOOK, seed=11)
    report = validate_frame(sim.data, CODEBOOK)
    assert report.ok, str(report)
    y = sim.data[outcome].astype(float)
    expected = {"ordinal": set(range(1, 6)), "bernoulli": {0, 1}, "binomial": set(range(7))}
    if family in expected:
        assert set(y.unique()) <= expected[family]
        assert len(set(y.unique())) >= 2
    else:
        assert np.isfinite(y).all() and y.std() > 0
    assert ("cutpoints" in sim.truth) == (family == "ordinal")


def test_condition_codes_follow_their_scales():
    sim = simulate(_design(alliances=200, missing_rate=0.0, count_mean=4.0), CODEBOOK, seed=12)
    units = {level: sim.data.drop_duplicates(CODEBOOK.ids[level]) for level in CODEBOOK.levels}
    # Likert: equal-probability categories, so every category is used
    assert set(units["individual"]["trust"]) == set(range(1, 8))
    assert set(units["alliance"]["payoff"]) == set(range(1, 6))
    assert set(units["organisation"]["open"]) == {0, 1}
    size = units["network"]["size"].astype(float)
    # Poisson(4) margin: mean within 4 SEs (SE = sqrt(4 / n)) and no negative counts
    assert size.min() >= 0 and abs(size.mean() - 4.0) <= 4 * math.sqrt(4.0 / len(size))


# -- truth -------------------------------------------------------------------------------------

def _standardised(sim, codebook):
    """Standardise each condition over its own level's units, as the truth documents."""
    columns = []
    for name in sim.truth["effects"]:
        level = codebook.conditions[name].level
        values = sim.data[name].astype(float)
        own = sim.data.drop_duplicates(codebook.ids[level])[name].astype(float) if level != "individual" else values
        columns.append((values - own.mean()) / own.std(ddof=1))
    return np.column_stack(columns)


@pytest.mark.parametrize(("share", "rho"), [(0.75, 0.2), (0.3, 0.5), (0.5, 0.0)])
def test_realised_interpersonal_share_matches_the_target(share, rho):
    design = _design(alliances=150, interpersonal_share=share, condition_correlation=rho,
                     explained_variance=2.0, missing_rate=0.0)
    sim = simulate(design, CODEBOOK, seed=13)
    # recompute from the wide data alone: standardise, multiply by the true effects, Pratt share
    x = _standardised(sim, CODEBOOK)
    effects = np.array(list(sim.truth["effects"].values()))
    inter = np.array([CODEBOOK.conditions[c].side == "interpersonal" for c in sim.truth["effects"]])
    eta = x @ effects
    part = x[:, inter] @ effects[inter]
    realised = np.cov(part, eta)[0, 1] / eta.var(ddof=1)
    # The effects are solved from this sample's own covariance, so the share is exact (not
    # only in expectation): the tolerance is floating-point error, not sampling noise.
    assert realised == pytest.approx(share, abs=1e-9)
    assert eta.var(ddof=1) == pytest.approx(2.0, rel=1e-9)
    assert sim.truth["shares"]["side"]["interpersonal"] == pytest.approx(share, abs=1e-9)
    assert sum(sim.truth["shares"]["level"].values()) == pytest.approx(1.0, abs=1e-9)


def test_truth_effects_are_per_sd_of_the_observed_codes():
    # Gaussian outcome: y - intercept - realised group effects = X b + N(0, sigma), so OLS on
    # the standardised observed codes must recover truth["effects"] within its standard error.
    design = _design(alliances=300, family="gaussian", outcome="y_gaussian", alliance_outcome=None,
                     sigma=1.0, intercept=0.5, missing_rate=0.0, condition_correlation=0.3)
    sim = simulate(design, CODEBOOK, seed=14)
    data, truth = sim.data, sim.truth
    offset = truth["intercept"] + sum(
        data[CODEBOOK.ids[level]].map(truth["group_effects"][level]).to_numpy()
        for level in ("network", "organisation", "alliance"))
    residual = data["y_gaussian"].to_numpy(dtype=float) - offset
    x = _standardised(sim, CODEBOOK)
    estimate, *_ = np.linalg.lstsq(x, residual, rcond=None)
    se = truth["sigma"] * np.sqrt(np.diag(np.linalg.inv(x.T @ x)))
    # 4 SEs per coefficient: with 9 coefficients a false failure has probability < 1e-3
    assert np.all(np.abs(estimate - np.array(list(truth["effects"].values()))) < 4 * se)
    for name, sd in ((c, s["sd"]) for c, s in truth["standardisation"].items()):
        assert truth["effects_per_unit"][name] == pytest.approx(truth["effects"][name] / sd)


def test_explicit_effects_are_used_as_given():
    design = load_design(DESIGNS / "explicit_effects.toml")
    sim = simulate(design, seed=15)
    assert sim.truth["effects"] == design.effects
    assert sim.truth["design"]["effects"] == design.effects
    assert set(sim.truth["group_effects"]["alliance"]) == set(sim.data["alliance"])


def test_rater_codes_are_the_wide_codes_without_bias_or_noise():
    design = _design(missing_rate=0.1, raters={"n": 2, "bias_sd": 0.0, "noise_sd": 0.0})
    sim = simulate(design, CODEBOOK, seed=16)
    coded = sim.coded
    assert list(coded.columns) == ["person", "ksn", "firm", "case", "condition", "rater", "value"]
    assert validate_coded(coded, CODEBOOK).ok
    # collapsing two identical raters gives back the wide data, missing codes included
    wide = collapse_raters(coded, CODEBOOK, how="median").set_index("person").loc[sim.data["person"]]
    for name in [*ALL, "y_ordinal", "case_ordinal"]:
        expected = sim.data[name].astype(float).to_numpy()
        assert np.array_equal(wide[name].to_numpy(dtype=float), expected, equal_nan=True), name


def test_rater_sheet_has_one_row_per_unit_condition_and_rater():
    design = _design(alliances=40, raters={"n": 3, "bias_sd": 0.3, "noise_sd": 0.5})
    sim = simulate(design, CODEBOOK, seed=17)
    coded, sizes = sim.coded, sim.truth["sizes"]
    counts = coded.groupby("condition").size()
    for name in ALL:
        assert counts[name] == 3 * sizes[CODEBOOK.conditions[name].level], name
    # organisation rows name only the organisation (it may be in several alliances)
    firm_rows = coded[coded["condition"] == "capacity"]
    assert firm_rows[["person", "ksn", "case"]].isna().all().all() and firm_rows["firm"].notna().all()
    assert validate_coded(coded, CODEBOOK).ok
    trust = coded[coded["condition"] == "trust"].pivot(index="person", columns="rater", values="value")
    assert (trust["rater1"] != trust["rater2"]).any()
    assert trust.stack().dropna().astype(float).between(1, 7).all()


# -- saving --------------------------------------------------------------------------------------

def test_save_refuses_to_overwrite_and_leaves_no_temporary_files(tmp_path):
    sim = simulate(_design(), CODEBOOK, seed=18)
    paths = save_simulation(sim, tmp_path / "sim.csv")
    before = paths["data"].read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        save_simulation(simulate(_design(), CODEBOOK, seed=19), tmp_path / "sim.csv")
    assert paths["data"].read_bytes() == before
    save_simulation(simulate(_design(), CODEBOOK, seed=19), tmp_path / "sim.csv", overwrite=True)
    assert paths["data"].read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.csv", "sim.truth.json"]
    truth = json.loads(paths["truth"].read_text())
    assert truth["seed"] == 19 and truth["simulated"] is True and "package_version" in truth


def test_overwriting_removes_an_earlier_coding_sheet(tmp_path):
    rated = simulate(_design(raters={"n": 2, "bias_sd": 0.1, "noise_sd": 0.1}), CODEBOOK, seed=22)
    paths = save_simulation(rated, tmp_path / "sim.csv")
    with pytest.raises(FileExistsError):
        save_simulation(simulate(_design(), CODEBOOK, seed=23), tmp_path / "sim.csv")
    save_simulation(simulate(_design(), CODEBOOK, seed=23), tmp_path / "sim.csv", overwrite=True)
    assert not paths["coded"].exists()


def test_save_writes_parquet(tmp_path):
    sim = simulate(_design(), CODEBOOK, seed=20)
    paths = save_simulation(sim, tmp_path / "sim.parquet")
    back = pd.read_parquet(paths["data"])
    assert back["person"].tolist() == sim.data["person"].tolist()
    assert back["trust"].isna().sum() == sim.data["trust"].isna().sum()


# -- the default simulation and the shipped example ----------------------------------------------

def test_default_simulation_validates_with_the_default_codebook(tmp_path):
    sim = simulate(seed=21)
    paths = save_simulation(sim, tmp_path / "survey.csv")
    report = validate_file(paths["data"])
    assert report.ok, str(report)
    assert 800 <= report.counts["individual"] <= 1500
    assert sim.survey().counts() == sim.truth["sizes"]
    assert sim.survey().missing()[list(sim.truth["missing"])].to_dict() == sim.truth["missing"]


def _same_numbers(a, b) -> bool:
    """Equal JSON values, floats to a relative 1e-12."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_numbers(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b


def test_shipped_example_is_reproducible_and_valid(tmp_path):
    truth = json.loads((EXAMPLE / "survey.truth.json").read_text())
    assert truth["simulated"] is True
    sim = simulate(load_design(EXAMPLE / "design.toml"), load_codebook(), seed=truth["seed"])
    paths = save_simulation(sim, tmp_path / "survey.csv")
    assert paths["data"].read_bytes() == (EXAMPLE / "survey.csv").read_bytes()
    fresh = json.loads(paths["truth"].read_text())
    fresh.pop("package_version"), truth.pop("package_version")
    # the derived figures (shares, effects) to 1e-12: another NumPy release may round a
    # sum differently in the last bit (NumPy 2.5.5 did, on effects_per_unit)
    assert _same_numbers(fresh, truth), (fresh, truth)
    report = validate_file(EXAMPLE / "survey.csv")
    assert report.ok and not report.warnings, str(report)
    # the example's claim: interpersonal conditions explain clearly more variance
    assert truth["shares"]["side"]["interpersonal"] > 0.7
    assert 800 <= truth["sizes"]["individual"] <= 1500 and truth["sizes"]["alliance"] == 30
    assert 0 < sum(truth["missing"].values())


def test_example_readme_is_written_from_the_truth():
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    truth = json.loads((EXAMPLE / "survey.truth.json").read_text())
    readme = (EXAMPLE / "README.md").read_text()
    assert readme == module.render_readme(truth)
    assert "SIMULATED" in readme and f"seed {truth['seed']}" in readme
    assert module.SEED == truth["seed"]


# -- command line --------------------------------------------------------------------------------

def test_cli_simulate_writes_the_example_study(tmp_path):
    truth = json.loads((EXAMPLE / "survey.truth.json").read_text())
    runner = CliRunner()
    out = tmp_path / "survey.csv"
    result = runner.invoke(app, ["simulate", "--seed", str(truth["seed"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    line = " ".join(result.output.split())
    assert line.startswith("wrote") and f"{truth['sizes']['individual']} respondents" in line
    assert out.read_bytes() == (EXAMPLE / "survey.csv").read_bytes()
    again = runner.invoke(app, ["simulate", "--seed", "1", "--out", str(out)])
    assert again.exit_code == 2 and "exists already; pass --force" in " ".join(again.output.split())
    assert "Traceback" not in again.output
    forced = runner.invoke(app, ["simulate", "--seed", "1", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output


def test_cli_simulate_lists_design_problems(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "--design", str(DESIGNS / "many_problems.toml"),
                                      "--seed", "0", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "11 problem(s)" in result.output and "unknown key 'colour'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.csv").exists()


def test_design_file_is_valid_toml():
    raw = tomllib.loads((EXAMPLE / "design.toml").read_text())
    assert raw["alliances"] == 30 and "receptivity" in raw["conditions"] and "transparency" in raw["conditions"]
    per_level = pd.Series([load_codebook().conditions[c].level for c in raw["conditions"]]).value_counts()
    assert per_level.between(3, 4).all() and len(per_level) == 4


def test_the_simulators_families_agree_with_the_models_families():
    # data cannot import models, so the simulator keeps its own table of draws: same names,
    # a scale the family fits, integer codes exactly where the family's response is discrete
    from data.simulate import OUTCOME_DRAWS
    from models import FAMILIES

    assert set(OUTCOME_DRAWS) == set(FAMILIES)
    for name, draws in OUTCOME_DRAWS.items():
        family = FAMILIES[name]
        assert draws.scale in family.scales, name
        assert draws.discrete == family.discrete, name
        # the parameters it draws with are the ones the family's model estimates
        assert ("intercept" in draws.parameters) == family.intercept, name
        if family.auxiliary:
            assert family.auxiliary in draws.parameters, name
