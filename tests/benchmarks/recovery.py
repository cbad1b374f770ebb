"""Recovery study: check that the model's 90% intervals cover the simulated truth 90% of the time.

For each family (ordinal, gaussian, bernoulli, binomial) the script simulates ``--datasets``
case surveys with :func:`data.simulate` (fixed seeds), fits each with :func:`models.fit`
and records whether the central 90% posterior interval (5% and 95% quantiles) of each
condition's per-SD effect covers the true per-SD effect. It prints per family:

- coverage over all (dataset, condition) pairs, with the exact binomial test against 0.9
  (``scipy.stats.binomtest``). The effects of one dataset share its data, so these pairs
  are *not* independent trials: the test is indicative only;
- two dataset-level summaries that do not lean on that independence: one effect per
  dataset (the condition rotates with the dataset number), which gives independent
  trials and an exact binomial test, and the mean and spread of the per-dataset coverage
  fractions, with a one-sample t test of their mean against 0.9;
- the largest R-hat, smallest bulk ESS and the divergences seen over all fits.

The designs have fixed sizes (10 alliances of 3 organisations and 3 networks of 9
respondents, 3 from each organisation: 270 respondents), so every dataset of a family
has the same array shapes and reuses one nutpie compilation (:func:`models.fit.compiled_model`).
They have no missing codes, so the model standardises each condition with exactly the
mean and SD the simulator used and the per-SD truth is like-for-like.

The truth is fixed across datasets (not drawn from the prior), so 90% coverage is a
frequentist property that weakly informative priors meet only approximately; group
effects are redrawn for every dataset.

Run::

    .venv/bin/python tests/benchmarks/recovery.py [--families ordinal gaussian] [--datasets 20]
        [--chains 2] [--draws 500] [--tune 500] [--seed 1000]
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy import stats

from data import Codebook, Design, load_codebook, simulate
from models import ModelSpec, diagnostics, fit

FAMILIES = ("ordinal", "gaussian", "bernoulli", "binomial")
INTERVAL = 0.90
# One condition per level, two at the individual level (one of them binary); per-SD effects.
EFFECTS = {
    "personal_contact": 0.5,          # individual, likert-5
    "voluntary_participation": 0.3,   # individual, binary
    "shared_interests": 0.4,          # network
    "receptivity": -0.3,              # organisation
    "prior_cooperation": 0.4,         # alliance
}
# An outcome of the scale each family fits (the default codebook's are all likert-5).
OUTCOMES = {
    "ordinal": ("individual_learning", "likert-5"),
    "gaussian": ("learning_score", "continuous"),
    "bernoulli": ("learned", "binary"),
    "binomial": ("learning_hits", "count"),
}
TRIALS = 10


def recovery_codebook() -> Codebook:
    """Return the default codebook plus one individual-level outcome per non-ordinal family."""
    raw = load_codebook().to_dict()
    for family, (name, scale) in OUTCOMES.items():
        raw["outcomes"].setdefault(name, {"level": "individual", "scale": scale,
                                          "label": f"simulated outcome of the {family} family"})
    return Codebook.from_dict(raw, source="recovery codebook (default + simulated outcomes)")


def recovery_design(family: str, alliances: int = 10) -> Design:
    """Return a small design of fixed sizes, so all datasets share one model structure."""
    return Design(
        alliances=alliances, organisations=(3, 3), networks=(3, 3), people=(9, 9),
        respondents_per_organisation=(3, 3), conditions=tuple(EFFECTS), effects=dict(EFFECTS),
        condition_correlation=0.2,
        group_sd={"network": 0.5, "organisation": 0.3, "alliance": 0.5},
        family=family, outcome=OUTCOMES[family][0], alliance_outcome=None,
        cutpoints=(-3.0, -1.2, 0.6, 2.4) if family == "ordinal" else None,
        intercept=0.0 if family == "ordinal" else 0.2, sigma=1.0, trials=TRIALS,
        missing_rate=0.0)


def recovery_spec(family: str) -> ModelSpec:
    """Return the model fitted to each dataset: every condition, every group level."""
    outcome = OUTCOMES[family][0]
    return ModelSpec(outcome=outcome, family=family, conditions=tuple(EFFECTS),
                     trials=TRIALS if family == "binomial" else None)


@dataclass(frozen=True)
class DatasetResult:
    """One fitted dataset: truth, posterior summaries and diagnostics per condition."""

    family: str
    seed: int
    truth: dict[str, float]
    mean: dict[str, float]
    sd: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    diagnostics: dict
    seconds: float

    def covered(self, condition: str) -> bool:
        """Tell whether the central interval covers the truth of ``condition``."""
        return self.lower[condition] <= self.truth[condition] <= self.upper[condition]

    def z(self, condition: str) -> float:
        """Return (posterior mean - truth) / posterior SD."""
        return (self.mean[condition] - self.truth[condition]) / self.sd[condition]


def fit_dataset(family: str, seed: int, *, codebook: Codebook | None = None, alliances: int = 10,
                chains: int = 2, draws: int = 500, tune: int = 500) -> DatasetResult:
    """Simulate one dataset with ``seed``, fit it with the same seed, summarise the effects."""
    codebook = codebook if codebook is not None else recovery_codebook()
    sim = simulate(recovery_design(family, alliances), codebook, seed=seed)
    start = time.perf_counter()
    tree = fit(recovery_spec(family), sim.survey(), chains=chains, draws=draws, tune=tune,
               seed=seed, progressbar=False, predictive=False)
    seconds = time.perf_counter() - start
    # the model's standardisation must be the simulator's (no missing codes): like-for-like truth
    constant = tree["constant_data"]
    for condition in EFFECTS:
        used = sim.truth["standardisation"][condition]
        assert np.isclose(float(constant["condition_center"].sel(condition=condition)), used["mean"])
        assert np.isclose(float(constant["condition_scale"].sel(condition=condition)), used["sd"])
    b = tree["posterior"]["b"]
    tail = (1 - INTERVAL) / 2
    q = b.quantile([tail, 1 - tail], dim=("chain", "draw"))
    names = [str(c) for c in b["condition"].values]
    pick = lambda da: {c: float(da.sel(condition=c)) for c in names}  # noqa: E731
    return DatasetResult(
        family=family, seed=seed, truth={c: float(sim.truth["effects"][c]) for c in names},
        mean=pick(b.mean(("chain", "draw"))), sd=pick(b.std(("chain", "draw"), ddof=1)),
        lower=pick(q.isel(quantile=0)), upper=pick(q.isel(quantile=1)),
        diagnostics=diagnostics(tree), seconds=seconds)


def summarise(results: list[DatasetResult]) -> dict:
    """Compute the coverage figures of one family's datasets (see the module docstring)."""
    conditions = list(results[0].truth)
    hits = [r.covered(c) for r in results for c in conditions]
    # one effect per dataset, rotating through the conditions: independent trials
    rotating = [r.covered(conditions[i % len(conditions)]) for i, r in enumerate(results)]
    fractions = np.array([np.mean([r.covered(c) for c in conditions]) for r in results])
    by_condition = {c: sum(r.covered(c) for r in results) for c in conditions}
    z = np.array([r.z(c) for r in results for c in conditions])
    diag = [r.diagnostics for r in results]
    return {
        "covered": int(sum(hits)), "total": len(hits),
        "p_all": stats.binomtest(int(sum(hits)), len(hits), INTERVAL).pvalue,
        "rotating_covered": int(sum(rotating)), "rotating_total": len(rotating),
        "p_rotating": stats.binomtest(int(sum(rotating)), len(rotating), INTERVAL).pvalue,
        "fraction_mean": float(fractions.mean()), "fraction_sd": float(fractions.std(ddof=1)),
        "fraction_min": float(fractions.min()),
        "p_fraction": (float(stats.ttest_1samp(fractions, INTERVAL).pvalue)
                       if fractions.std() > 0 else float("nan")),
        "by_condition": by_condition,
        "z_mean": float(z.mean()), "z_sd": float(z.std(ddof=1)),
        "max_rhat": max(d["max_rhat"] for d in diag),
        "min_ess_bulk": min(d["min_ess_bulk"] for d in diag),
        "divergences": sum(d["divergences"] or 0 for d in diag),
        "fits_with_divergences": sum(1 for d in diag if d["divergences"]),
        "seconds": sum(r.seconds for r in results),
    }


def report(family: str, s: dict, n_datasets: int) -> str:
    """Format the figures of one family for printing."""
    per = ", ".join(f"{c} {k}/{n_datasets}" for c, k in s["by_condition"].items())
    return "\n".join([
        f"== {family}: {n_datasets} datasets, {s['total'] // n_datasets} effects each",
        f"  all effects (NOT independent within a dataset): {s['covered']}/{s['total']} covered "
        f"= {s['covered'] / s['total']:.3f}; binomial test vs {INTERVAL}: p = {s['p_all']:.3f}",
        f"  one effect per dataset (rotating, independent): {s['rotating_covered']}/"
        f"{s['rotating_total']}; binomial test p = {s['p_rotating']:.3f}",
        f"  per-dataset coverage fraction: mean {s['fraction_mean']:.3f}, SD {s['fraction_sd']:.3f}, "
        f"min {s['fraction_min']:.2f}; t test of the mean vs {INTERVAL}: p = {s['p_fraction']:.3f}",
        f"  by condition: {per}",
        f"  (mean - truth) / sd over all effects: mean {s['z_mean']:+.3f}, SD {s['z_sd']:.3f} "
        "(ideal 0 and 1)",
        f"  diagnostics: max R-hat {s['max_rhat']:.4f}, min bulk ESS {s['min_ess_bulk']:.0f}, "
        f"divergences {s['divergences']} (in {s['fits_with_divergences']} fits); "
        f"fit time {s['seconds']:.0f} s",
    ])


def main(argv=None) -> None:
    """Run the study and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1000, help="first dataset seed (then +1, +2...)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymc").setLevel(logging.ERROR)

    codebook = recovery_codebook()
    print(f"recovery study: {args.datasets} datasets per family, seeds {args.seed}.."
          f"{args.seed + args.datasets - 1}, {args.chains} chains x {args.draws} draws "
          f"({args.tune} tune), {INTERVAL:.0%} central intervals of the per-SD effects")
    print(f"true per-SD effects: {EFFECTS}")
    for family in args.families:
        start = time.perf_counter()
        results = [fit_dataset(family, args.seed + i, codebook=codebook, chains=args.chains,
                               draws=args.draws, tune=args.tune) for i in range(args.datasets)]
        print(report(family, summarise(results), args.datasets))
        print(f"  wall time incl. simulation and the one compilation: "
              f"{time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
