"""A tiny hand-made case survey for the model tests (no dependence on the simulator)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import CaseSurvey, Codebook

CODEBOOK = {
    "ids": {"individual": "person", "network": "ksn", "organisation": "firm", "alliance": "case"},
    "outcomes": {
        "learning": {"scale": "likert-5"},
        "learned": {"scale": "binary"},
        "score": {"scale": "continuous"},
        "hits": {"scale": "count"},
        "tries": {"scale": "count"},
    },
    "conditions": {
        "contact": {"level": "individual", "scale": "likert-5"},
        "reputation": {"level": "individual", "scale": "continuous"},
        "group_size": {"level": "network", "scale": "count"},
        "absorptive": {"level": "organisation", "scale": "likert-5"},
        "prior_coop": {"level": "alliance", "scale": "binary"},
    },
}

# Per-SD effects used to simulate the tiny survey (the tests only check structure).
TRUE_EFFECTS = {"contact": 1.0, "reputation": 0.3, "group_size": -0.4, "absorptive": 0.5,
                "prior_coop": 0.0}


def make_wide(seed: int = 1, n_alliances: int = 4, networks_per_alliance: int = 2,
              people_per_network: int = 6, orgs_per_alliance: int = 3,
              with_missing: bool = True) -> pd.DataFrame:
    """A wide table (user column names) shaped like a small case survey."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_alliances):
        prior_coop = int(rng.integers(0, 2)) if a > 0 else 0
        prior_coop = prior_coop if a != 1 else 1
        absorptive = {o: int(rng.integers(1, 6)) for o in range(orgs_per_alliance)}
        for n in range(networks_per_alliance):
            size = int(rng.integers(4, 15))
            for p in range(people_per_network):
                org = p % orgs_per_alliance
                rows.append({
                    "person": f"a{a}n{n}p{p}", "ksn": f"a{a}n{n}", "firm": f"a{a}o{org}",
                    "case": f"A{a}", "contact": int(rng.integers(1, 6)),
                    "reputation": float(rng.normal(50, 10)), "group_size": size,
                    "absorptive": absorptive[org], "prior_coop": prior_coop,
                })
    wide = pd.DataFrame(rows)
    z = {c: (wide[c] - wide[c].mean()) / wide[c].std() for c in TRUE_EFFECTS}
    eta = sum(TRUE_EFFECTS[c] * z[c] for c in TRUE_EFFECTS) + rng.normal(0, 0.5, len(wide))
    latent = eta + rng.logistic(size=len(wide))
    wide["learning"] = np.digitize(latent, [-2.0, -0.7, 0.7, 2.0]) + 1
    wide["learned"] = (latent > 0).astype(int)
    wide["score"] = eta + rng.normal(0, 1, len(wide))
    wide["tries"] = 10
    wide["hits"] = rng.binomial(10, 1 / (1 + np.exp(-eta)))
    if with_missing:
        wide.loc[[2, 7], "contact"] = np.nan                          # two individuals
        wide.loc[wide["ksn"] == "a1n0", "group_size"] = np.nan        # one network
        wide.loc[wide["firm"] == "a2o1", "absorptive"] = np.nan       # one organisation
        wide.loc[5, "learning"] = np.nan                              # one missing outcome
    return wide


def make_survey(**kwargs) -> CaseSurvey:
    """The tiny survey as a CaseSurvey."""
    codebook = Codebook.from_dict(CODEBOOK, source="tiny-codebook")
    return CaseSurvey.from_wide(make_wide(**kwargs), codebook, source="tiny.csv", sha256="0" * 64)


@pytest.fixture(scope="session")
def survey() -> CaseSurvey:
    return make_survey()


# One tiny model per family, each compiled once per test session (nutpie compiles in
# 15-60 s; sampling then takes well under a second).
FIT_SPECS = {
    "ordinal": {"outcome": "learning", "varying_slopes": ["contact"]},
    # the same model as configs/minimal_bernoulli.toml, so the CLI test reuses its compilation
    "bernoulli": {"outcome": "learned", "conditions": ["contact", "group_size"], "group_effects": ["network"]},
    "gaussian": {"outcome": "score", "conditions": ["contact", "absorptive"], "group_effects": ["organisation"]},
    "binomial": {"outcome": "hits", "family": "binomial", "trials": "tries", "conditions": ["contact"],
                 "group_effects": ["alliance"]},
}
FIT_OPTIONS = {"chains": 2, "draws": 100, "tune": 150, "seed": 3, "progressbar": False}


@pytest.fixture(scope="session")
def fits(survey):
    """Fitted DataTrees by family, made on first use."""
    from models import ModelSpec, fit

    cache = {}

    def get(family):
        if family not in cache:
            cache[family] = fit(ModelSpec(**FIT_SPECS[family]), survey, **FIT_OPTIONS)
        return cache[family]

    return get


def benchmark_script(filename: str):
    """A script of ``tests/benchmarks/`` as a module (scripts are not in a package)."""
    name = f"benchmark_{Path(filename).stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[1] / "benchmarks" / filename)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def assert_means_agree(ours, theirs, names, z: float) -> int:
    """Assert two independent fits' posterior means of ``names`` differ by at most ``z`` Monte
    Carlo errors of the difference, and that this check could fail (each MCSE under a fifth of
    the posterior SD). Returns how many means were compared."""
    import arviz as az

    compared = 0
    for name in names:
        a, b = ours["posterior"][name], theirs["posterior"][name]
        assert a.shape == b.shape
        difference = (a.mean(("chain", "draw")) - b.mean(("chain", "draw"))).values
        # Monte Carlo error of the difference of two independent means
        mcse = np.hypot(az.mcse(a.to_dataset(), method="mean")[name].values,
                        az.mcse(b.to_dataset(), method="mean")[name].values)
        assert np.all(np.abs(difference) <= z * mcse), (name, difference, mcse)
        assert np.all(mcse < 0.2 * a.std(("chain", "draw")).values), (name, mcse)
        compared += difference.size
    return compared
