"""A hand-made report context for the report tests.

FIXTURE DATA: every number below is made up with a seeded random generator to exercise the
report's layout. None of it is a result of any model or study.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from analysis import dominance_verdict, posterior_predictive_checks, variance_decomposition
from analysis.dominance import dominance_statistics, subset_label

FIXTURE_NOTICE = "FIXTURE DATA: made-up numbers for testing the report layout; not results."
CONDITIONS = {
    # name: (level, side, label)
    "personal_contact": ("network", "interpersonal", "Personal contact between members"),
    "trust": ("network", "interpersonal", "Interpersonal trust"),
    "prior_cooperation": ("organisation", "interorganisational", "Prior cooperation"),
    "partner_transparency": ("alliance", "interorganisational", "Partner transparency"),
}


def fixture_context(*, evil: str | None = None, seed: int = 20240101) -> dict:
    """Fields of a ReportContext filled with fixture data.

    Parameters
    ----------
    evil : str, optional
        A hostile string put in every place a user string can reach the report: title,
        notice, file name, condition name and label, IDs, table cells, index and column
        names, effect and outcome names, provenance and config keys and values. Each copy
        gets a suffix naming its place, so a test can check every place separately.
    seed : int
        Seed of the made-up numbers.
    """
    rng = np.random.default_rng(seed)

    def tag(place: str, plain: str) -> str:
        return plain if evil is None else f"{evil}{place}"

    conditions = dict(CONDITIONS)
    if evil is not None:
        level, side, _ = conditions.pop("trust")
        conditions[tag("condition", "")] = (level, side, tag("label", ""))
    names = list(conditions)
    levels = {c: conditions[c][0] for c in names}
    sides = {c: conditions[c][1] for c in names}
    labels = {c: conditions[c][2] for c in names}
    if evil is not None:
        # A label with mathtext syntax must not break the figures.
        labels["personal_contact"] = r"50$ per \frac{ unit$"

    chains, draws, individuals = 2, 150, 60
    shape = (chains, draws)
    beta = xr.DataArray(
        rng.normal([0.6, 0.4, 0.2, 0.1][: len(names)], 0.15, size=(*shape, len(names))),
        dims=("chain", "draw", "condition"), coords={"condition": names},
    )
    x = xr.DataArray(rng.normal(size=(individuals, len(names))), dims=("individual", "condition"),
                     coords={"condition": names})
    contributions = (beta * x).transpose("chain", "draw", "individual", "condition")
    decomposition = variance_decomposition(
        contributions, sides=sides, levels=levels,
        group_var={"network": xr.DataArray(rng.gamma(4, 0.05, shape), dims=("chain", "draw")),
                   "alliance": xr.DataArray(rng.gamma(4, 0.03, shape), dims=("chain", "draw"))},
    )
    from reports.context import variance_partition

    group_sd = xr.Dataset({f"sd_{level}": (("chain", "draw"), np.sqrt(rng.gamma(4, scale, shape)))
                           for level, scale in (("network", 0.05), ("alliance", 0.03))})
    partition = variance_partition(group_sd, "ordinal")
    parameters = pd.DataFrame(
        {"mean": [0.45, 0.35, -1.2, 0.9], "sd": [0.05, 0.04, 0.2, 0.2],
         "lower": [0.37, 0.29, -1.5, 0.6], "upper": [0.53, 0.41, -0.9, 1.2]},
        index=pd.Index(["group SD: network", "group SD: alliance", "cutpoint 1|2", "cutpoint 2|3"],
                       name="parameter"))
    diagnostics = {"max_rhat": 1.003, "min_ess_bulk": 812.0, "min_ess_tail": 655.0,
                   "divergences": 0, "min_bfmi": 0.81, "chains": chains, "draws": draws}
    verdict = dominance_verdict(decomposition, diagnostics)

    outcome = tag("outcome", "individual_learning")
    observed = rng.integers(1, 6, size=individuals).astype(float)
    observed[:3] = np.nan  # missing codes stay missing
    predicted = rng.integers(1, 6, size=(*shape, individuals)).astype(float)
    # DataTree forbids "/" in variable names, so the hostile outcome loses its slashes here.
    ppc_name = outcome.replace("/", "")
    ppc = xr.DataTree.from_dict({
        "observed_data": xr.Dataset({ppc_name: (("individual",), observed)}),
        "posterior_predictive": xr.Dataset({ppc_name: (("chain", "draw", "individual"), predicted)}),
    })

    missing = pd.DataFrame({
        "variable": [*names, outcome],
        "kind": ["condition"] * len(names) + ["outcome"],
        "level": [levels[c] for c in names] + ["individual"],
        "scale": ["likert5"] * (len(names) + 1),
        "units": [24, 24, 12, 4, individuals][: len(names)] + [individuals],
        "missing": [1, 0, 2, 0, 3][: len(names)] + [3],
    })
    reliability = pd.DataFrame({
        "variable": names[:2],
        "alpha": [0.81, 0.67],
        "units": [24, 24],
        "raters": [tag("rater_id", "R1, R2"), "R1, R3"],
    })
    loo = pd.DataFrame(
        {"rank": [0, 1, 2, 3], "elpd": [-80.2, -84.9, -88.0, -95.5], "p": [9.1, 6.0, 5.2, 4.0],
         "elpd_diff": [0.0, 4.7, 7.8, 15.3], "weight": [0.71, 0.19, 0.1, 0.0],
         "se": [6.1, 6.3, 6.5, 6.0], "dse": [0.0, 2.9, 3.8, 5.1],
         "warning": [False, False, True, False]},
        index=pd.Index(["both", "interpersonal only", tag("model_name", "interorganisational only"),
                        "null"], name="model"),
    )
    sensitivity = pd.DataFrame(
        {"prior": [0.02, 0.11], "likelihood": [0.08, 0.09],
         "diagnosis": ["-", tag("diagnosis", "prior-data conflict")]},
        index=pd.Index(["share[interpersonal]", "share[interorganisational]"], name="variable"),
    )
    provenance = {
        "command": tag("command", "alliance-learning run data/example/survey.csv --out runs/example --seed 7"),
        "data_file": tag("file_name", "survey.csv"),
        "data_hash": "sha256:" + "0123456789abcdef" * 4,
        "seed": 7,
        "run_id": tag("run_id", "run-2f9c"),
        "created": "2024-01-01T00:00:00+00:00",
        "versions": {"alliance-learning": "0.1.0", "pymc": "6.3.2", "arviz": "1.3.0"},
        "config": {"model": {"outcome": outcome, "family": "ordinal", "conditions": names,
                             tag("config_key", "standardize"): True},
                   "sampling": {"chains": chains, "draws": draws, "seed": 7,
                                "sampler": tag("config_value", "nutpie")}},
    }
    dominance = fixture_dominance(rng, conditions, shape, level_name=tag("level_group", "alliance"))
    ppc_checks = fixture_ppc_checks(rng, shape, group_id=tag("group_id", "A1-N2"))
    raters = fixture_raters(rng, shape, names[:2], rater=tag("rater_id", "R1"))
    per_sd = beta
    raw = beta / xr.DataArray(rng.uniform(0.8, 1.6, len(names)), dims="condition",
                              coords={"condition": names})
    return {
        "title": tag("title", "Fixture report"),
        "notice": tag("notice", FIXTURE_NOTICE) if evil else FIXTURE_NOTICE,
        "data_file": tag("file_name", "survey.csv"),
        "level_counts": {"individual": individuals, "network": 24, "organisation": 12, "alliance": 4},
        "missing": missing,
        "reliability": reliability,
        "model": {"outcome": outcome, "family": "ordinal", "conditions": names,
                  "group_effects": ["network", "organisation", "alliance"]},
        "priors": {"effect": {"dist": "Normal", "kwargs": {"mu": 0, "sigma": 0.5}},
                   tag("prior_name", "group_sd"): {"dist": "HalfNormal", "kwargs": {"sigma": 1}}},
        "diagnostics": diagnostics,
        "verdict": verdict,
        "effects": {tag("effect_title", "per raw unit (linear predictor)"): raw,
                    "per SD (linear predictor)": per_sd},
        "condition_labels": labels,
        "condition_sides": sides,
        "condition_levels": levels,
        "decomposition": decomposition,
        "ppc": ppc,
        "loo": loo,
        "sensitivity": sensitivity,
        "parameters": parameters,
        "parameters_interval": "89% ETI (lower to upper)",
        "variance_partition": partition,
        "provenance": provenance,
        "dominance_analysis": dominance,
        "ppc_checks": ppc_checks,
        "raters": raters,
        "measurement": "raters",
    }


def fixture_raters(rng, shape, conditions, *, rater="R1"):
    """A made-up rater check: three raters, the third coding the first condition only."""
    from analysis.raters import RaterAgreement

    raters = [rater, "R2", "R3"]
    coded = np.ones((len(conditions), 3), dtype=np.int8)
    coded[1:, 2] = 0
    severity = rng.normal(0.0, 0.3, (*shape, len(conditions), 3)) * coded
    dims = ("chain", "draw", "rater_condition", "rater")
    coords = {"rater_condition": conditions, "rater": raters}
    draws = xr.Dataset({
        "severity": (dims, severity),
        "discrimination": (dims, rng.gamma(20.0, 0.1, (*shape, len(conditions), 3)) * coded),
        "agreement": (dims[:3], rng.beta(30.0, 20.0, (*shape, len(conditions)))),
        "rater_coded": (dims[2:], coded),
        "overlap_components": (("rater_condition",), np.ones(len(conditions), dtype=np.int64)),
    }, coords=coords)
    alpha = pd.DataFrame({"units": [24, 24], "raters": [3, 2], "pairable": [70, 46],
                          "alpha": [0.58, 0.71], "note": ["", ""]},
                         index=pd.Index(conditions, name="condition"))
    return RaterAgreement(draws=draws, alpha=alpha)


# The sub-model of this subset fails a diagnostic gate in the fixture (the report must say so).
FAILING_SUBSET = "organisation"
# The sub-model of this subset was extended once (to twice the draws) in the fixture.
EXTENDED_SUBSET = "network"


def fixture_dominance(rng, conditions: dict, shape: tuple[int, int], *, level_name: str):
    """Make a dominance analysis of made-up R^2 draws over the fixture's three level groups.

    ``level_name`` replaces the name of the alliance level (a user string in the report).
    """
    levels = {"network": "network", "organisation": "organisation", "alliance": level_name}
    groups = list(levels.values())
    added = dict(zip(groups, [0.20, 0.08, 0.04]))  # made-up R^2 each group adds
    subsets = [s for k in range(1, len(groups) + 1) for s in itertools.combinations(groups, k)]
    r2 = xr.DataArray(
        np.stack([np.clip(sum(added[g] for g in s) + rng.normal(0, 0.03, shape), 0, 1)
                  for s in subsets], axis=-1),
        dims=("chain", "draw", "subset"), coords={"subset": [subset_label(s, groups) for s in subsets]})
    result = dominance_statistics(r2, groups)
    submodels = {}
    for s in subsets[:-1]:  # the full model is the run itself
        label = subset_label(s, groups)
        failed = ["R-hat"] if label == FAILING_SUBSET else []
        submodels[label] = {
            "conditions": [c for c, (level, _, _) in conditions.items() if levels[level] in s],
            "seed": 7, "seconds": round(float(rng.uniform(5, 20)), 1), "passed": not failed,
            "failed_gates": failed, "draws": 1250 if label == EXTENDED_SUBSET else 625,
            "extensions": int(label == EXTENDED_SUBSET)}
    return replace(result, submodels=submodels, seconds=95.0)


def fixture_ppc_checks(rng, shape: tuple[int, int], *, group_id: str):
    """Make per-group posterior predictive checks and LOO-PIT of made-up outcome draws.

    60 individuals in 12 networks of 5 and 4 alliances of 15. The network ``group_id``
    (a user string in the report) has every member answering 5 while the replicated answers are
    uniform, so its cell is the most extreme flagged one.
    """
    individuals = 60
    observed = rng.integers(1, 6, size=individuals).astype(float)
    observed[5:10] = 5.0  # the second network: every answer 5
    observed[:2] = np.nan  # missing outcomes are left out of the checks
    predicted = rng.integers(1, 6, size=(*shape, individuals)).astype(float)
    loglik = np.log(rng.uniform(0.1, 0.4, size=(*shape, individuals)))
    draws = {"chain": np.arange(shape[0]), "draw": np.arange(shape[1])}  # as a fit labels them
    tree = xr.DataTree.from_dict({
        "posterior": xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=shape))}, coords=draws),
        "observed_data": xr.Dataset({"y": (("individual",), observed)}),
        "posterior_predictive": xr.Dataset({"y": (("chain", "draw", "individual"), predicted)},
                                           coords=draws),
        "log_likelihood": xr.Dataset({"y": (("chain", "draw", "individual"), loglik)}, coords=draws),
    })
    networks = [f"A{i // 15 + 1}-N{i // 5 + 1}" for i in range(individuals)]
    networks = [group_id if name == "A1-N2" else name for name in networks]
    groups = {"alliance": xr.DataArray([f"A{i // 15 + 1}" for i in range(individuals)],
                                       dims="individual", name="alliance"),
              "network": xr.DataArray(networks, dims="individual", name="network")}
    return posterior_predictive_checks(tree, groups=groups, categories=[1, 2, 3, 4, 5], seed=7)


@pytest.fixture(scope="session")
def report_context() -> dict:
    """Fields of a full ReportContext made of fixture data (see :func:`fixture_context`)."""
    return fixture_context()


# -- a real run, made once per session --------------------------------------------------------
# Tiny sampling: the tests check the plumbing, not the statistics (the verdict of such a run
# is refused by the diagnostic gates). The model compiles once per pytest process; every later
# fit of the demo's model (the defaults) on data of the example's structure (the scripts,
# the coded sheet, the refit) reuses the compilation.
TINY = ["--chains", "2", "--draws", "100", "--tune", "100"]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The README's first command's job, ``alliance-learning demo``, with tiny draws.

    Returns a namespace with ``out`` (the run directory), ``output`` and ``exit_code``.
    """
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from reports.cli import app

    out = tmp_path_factory.mktemp("demo") / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), *TINY, "--no-progress"])
    return SimpleNamespace(out=out, output=result.output, exit_code=result.exit_code,
                           exception=result.exception)


@pytest.fixture
def cheap_checks(monkeypatch):
    """Make ``analysis.check_run`` skip the PPC and the prior sensitivity, and ``save_checks``
    skip the figures, for tests of the plumbing after the demo has run the full checks once.

    Code that imports them at call time (the pipeline, the CLI, the scripts run afresh) gets
    these; returns the list of the runs ``check_run`` was called with.
    """
    import analysis

    check_run, save_checks = analysis.check_run, analysis.save_checks
    calls = []

    def quick_check_run(run, **options):
        calls.append(run)
        return check_run(run, **{**options, "ppc": False, "sensitivity": False})

    def quick_save_checks(checks, run_dir, **options):
        return save_checks(checks, run_dir, **{**options, "figures": False})

    monkeypatch.setattr(analysis, "check_run", quick_check_run)
    monkeypatch.setattr(analysis, "save_checks", quick_save_checks)
    return calls
