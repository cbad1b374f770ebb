"""Simulation-based calibration of the model for every outcome family (issue 17 item 4).

For each family of :data:`models.FAMILIES` the script takes one small simulated survey of
fixed sizes (its conditions and groups; the outcome is what SBC simulates), draws ``--sims``
parameter sets and outcomes from the toolkit's own model's prior, refits each with short
chains and ranks the truth of every effect, group SD and the interpersonal share among
``--kept`` evenly spaced posterior draws (:mod:`analysis.sbc`). It prints, per family and
quantity, the p-values of the ECDF (arviz-stats ``pot_c``) and chi-square uniformity tests
and whether the ECDF test rejects at 1 %, then one line per family with the Bonferroni
p-value over its quantities, and writes the ranks (CSV) and the ECDF-difference rank plots
(PNG) to ``--out``.

SBC calibrates the model *given its prior*, so small data and short chains are enough:
the design is 6 alliances x 2 organisations x 2 networks of 6 respondents (3 per
organisation): 72 respondents, 12 networks, 12 organisations; one condition per level plus
a binary individual one (5 conditions); no missing codes.

Run::

    nice -n 10 .venv/bin/python tests/benchmarks/sbc.py [--families ordinal gaussian]
        [--sims 100] [--chains 2] [--draws 200] [--tune 200] [--kept 99] [--workers 1]
        [--seed 17] [--out /tmp/sbc] [--scheduler tcp://host:8786]

The fits run on :func:`models.jobs.open_executor` (``--workers`` local processes, or the
Dask cluster at ``--scheduler``); the ranks do not depend on which.

``--example-seed N`` adds an ordinal study on the survey of issue 17's doubt: the shipped
example design at interpersonal share 0.5, simulated with seed N (104: 967 respondents,
30 alliances, 14 conditions, 3% missing codes, which the model imputes and SBC draws from
their prior too); only its outcome is replaced by the prior draws. ``--example-effect-sd S``
fits (and draws) the effects with a Normal(0, S) prior instead of the default Normal(0, 1),
so that effects of the example's size (0.16-0.26 per SD) are typical prior draws: SBC in
the regime of the doubt (small effects, 30 alliances).

``--equal-shares SEED [SEED ...]`` (no SBC) checks the simulator against the model at the
doubt's design: for each seed it simulates the example design at share 0.5 (with and
without missing codes: the same outcome), prints the simulator's truth share, the same
truth computed the model's way (the toolkit's decomposition of the model's design at the
true effects), the share at the maximum-likelihood effects given the true group effects
(what the data say, with no prior and no group-effect estimation), and the toolkit's
posterior (mean, 89% interval, P(share < 0.5)) from ``models.fit`` (2 x 300 draws).

``--miscalibrated`` adds a study that draws the effects from Normal(1.5, 0.2) but fits the
default Normal(0, 1) prior: SBC must reject it.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from analysis.sbc import LEVEL, plot_ranks, run_sbc
from data import Codebook, Design, load_codebook, simulate
from models import FAMILIES, ModelSpec, make_design
from models.jobs import open_executor

CONDITIONS = ("personal_contact", "voluntary_participation", "shared_interests", "receptivity",
              "prior_cooperation")
OUTCOMES = {
    "ordinal": ("individual_learning", None),
    "gaussian": ("learning_score", "continuous"),
    "bernoulli": ("learned", "binary"),
    "binomial": ("learning_hits", "count"),
}
TRIALS = 10
MISCALIBRATED_PRIOR = {"effect": {"dist": "Normal", "kwargs": {"mu": 1.5, "sigma": 0.2}}}


def sbc_codebook() -> Codebook:
    """The default codebook plus an individual-level outcome for each non-ordinal family."""
    raw = load_codebook().to_dict()
    for family, (name, scale) in OUTCOMES.items():
        if scale is not None:
            raw["outcomes"].setdefault(name, {"level": "individual", "scale": scale,
                                              "label": f"simulated outcome of the {family} family"})
    return Codebook.from_dict(raw, source="SBC codebook (default + simulated outcomes)")


def sbc_design(family: str, codebook: Codebook | None = None, *, alliances: int = 6, seed: int = 1,
               priors: dict | None = None, missing_rate: float = 0.0):
    """The model design SBC checks for ``family``: spec and small fixed-size survey.

    With ``missing_rate`` > 0 some condition codes are missing: the model imputes them,
    and SBC draws them from their prior with the rest of the truth.
    """
    codebook = codebook or sbc_codebook()
    outcome = OUTCOMES[family][0]
    design = Design(alliances=alliances, organisations=(2, 2), networks=(2, 2), people=(6, 6),
                    respondents_per_organisation=(3, 3), conditions=CONDITIONS,
                    condition_correlation=0.2, interpersonal_share=0.5, family=family,
                    outcome=outcome, alliance_outcome=None, missing_rate=missing_rate, trials=TRIALS)
    survey = simulate(design, codebook, seed=seed).survey()
    spec = ModelSpec(outcome=outcome, family=family, conditions=CONDITIONS,
                     trials=TRIALS if family == "binomial" else None, priors=priors or {})
    return make_design(spec, survey)


def example_design(seed: int, effect_sd: float | None = None):
    """The model design of the example study at equal shares (the survey of the doubt)."""
    import dataclasses

    from data.simulate import example_design_path, load_design

    design = dataclasses.replace(load_design(example_design_path()), interpersonal_share=0.5)
    sim = simulate(design, seed=seed)
    priors = {} if effect_sd is None else {"effect": {"dist": "Normal",
                                                       "kwargs": {"mu": 0.0, "sigma": effect_sd}}}
    spec = ModelSpec(outcome=design.outcome, family="ordinal", conditions=design.conditions,
                     priors=priors)
    return make_design(spec, sim.survey())


def equal_shares(seed: int) -> dict:
    """The simulator's truth against the model's decomposition and posterior (one seed)."""
    import dataclasses

    import numpy as np
    import xarray as xr

    from analysis.checks import decompose
    from analysis.sbc import SHARE, fit_tree, quantities
    from data.simulate import example_design_path, load_design
    from models import fit

    design = dataclasses.replace(load_design(example_design_path()), interpersonal_share=0.5)
    sim = simulate(design, seed=seed)
    complete = simulate(dataclasses.replace(design, missing_rate=0.0), seed=seed)
    spec = ModelSpec(outcome=design.outcome, family="ordinal", conditions=design.conditions)
    model_design = make_design(spec, complete.survey())
    effects = [complete.truth["effects"][c] for c in model_design.conditions]
    truth_tree = fit_tree(xr.Dataset({"b": (("chain", "draw", "condition"), [[effects]])},
                                  coords={"chain": [0], "draw": [0],
                                          "condition": list(model_design.conditions)}), model_design)
    model_way = float(quantities(truth_tree)[SHARE][0])
    ml = _ml_share(model_design, complete.truth)
    start = time.perf_counter()
    tree = fit(spec, sim.survey(), chains=2, draws=300, tune=300, seed=seed, progressbar=False,
               predictive=False)
    share = decompose(tree)["side_share"].sel(side="interpersonal").values.ravel()
    low, high = np.quantile(share, [0.055, 0.945])
    return {"seed": seed, "respondents": sim.truth["sizes"]["individual"],
            "truth": sim.truth["shares"]["side"]["interpersonal"], "model_way": model_way,
            "ml_given_group_effects": ml, "mean": float(share.mean()), "low": float(low),
            "high": float(high), "p_below": float((share < 0.5).mean()),
            "seconds": time.perf_counter() - start}


def _ml_share(design, truth: dict) -> float:
    """Pratt share at the ML effects of the cumulative logit with the group effects known."""
    import numpy as np
    from scipy import optimize, special

    columns = []
    for c in design.conditions:
        level = design.condition_level[c]
        column = design.X[level][:, design.level_conditions[level].index(c)]
        columns.append(column if level == "individual" else column[design.index[level]])
    X = np.column_stack(columns)
    offset = sum(np.array([truth["group_effects"][level][i] for i in design.coords[level]])[design.index[level]]
                 for level in ("network", "organisation", "alliance"))
    y, top, p = design.y, design.n_categories - 1, X.shape[1]

    def minus_loglik(theta):
        cuts = np.cumsum(np.r_[theta[p], np.exp(theta[p + 1:])])
        eta = X @ theta[:p] + offset
        upper = np.where(y < top, special.expit(cuts[np.minimum(y, top - 1)] - eta), 1.0)
        lower = np.where(y > 0, special.expit(cuts[np.maximum(y - 1, 0)] - eta), 0.0)
        return -np.log(np.clip(upper - lower, 1e-300, None)).sum()

    start = np.r_[np.zeros(p), -3.0, np.zeros(top - 1)]
    b = optimize.minimize(minus_loglik, start, method="BFGS").x[:p]
    sides = np.array([design.condition_side[c] for c in design.conditions])
    eta = X @ b
    inter = X[:, sides == "interpersonal"] @ b[sides == "interpersonal"]
    return float(np.cov(inter, eta)[0, 1] / eta.var(ddof=1))


def report(name: str, result, seconds: float) -> list[str]:
    """Lines for one study: a row per quantity, then the family's Bonferroni line."""
    table = result.uniformity()
    lines = [f"{name}: {len(result.ranks)} sims ({len(result.errors)} failed), ranks among "
             f"{result.max_rank} draws, {seconds:.0f} s wall, max R-hat "
             f"{result.diagnostics['max_rhat'].max():.3f}, divergent fits "
             f"{int((result.diagnostics['divergences'] > 0).sum())}"]
    lines.append(f"  {'quantity':34s} {'p (ECDF)':>9s} {'p (chi2)':>9s}  rejected at 1%?")
    for quantity, row in table.iterrows():
        lines.append(f"  {quantity:34s} {row.p_ecdf:9.3f} {row.p_chi2:9.3f}  "
                     f"{'YES' if row.rejected else 'no'}")
    family_p = result.family_p_value()
    lines.append(f"  family (Bonferroni over {len(table)} quantities): p = {family_p:.3f}, "
                 f"rejected at 1%? {'YES' if family_p < LEVEL else 'no'}")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--sims", type=int, default=100)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--tune", type=int, default=200)
    parser.add_argument("--kept", type=int, default=99)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=Path("/tmp/sbc"))
    parser.add_argument("--miscalibrated", action="store_true")
    parser.add_argument("--example-seed", type=int, default=None)
    parser.add_argument("--example-effect-sd", type=float, default=None)
    parser.add_argument("--equal-shares", type=int, nargs="+", default=None, metavar="SEED")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.equal_shares:
        print("seed | respondents | truth (simulator) | truth (model's decomposition) | ML share given "
              "true group effects | posterior mean [89%] | P(share < 0.5)")
        for seed in args.equal_shares:
            r = equal_shares(seed)
            print(f"{r['seed']} | {r['respondents']} | {r['truth']:.3f} | {r['model_way']:.3f} | "
                  f"{r['ml_given_group_effects']:.3f} | {r['mean']:.3f} [{r['low']:.3f}, {r['high']:.3f}] | "
                  f"{r['p_below']:.3f}", flush=True)
        return
    codebook = sbc_codebook()
    sampling = dict(chains=args.chains, draws=args.draws, tune=args.tune, kept=args.kept)
    studies = [(family, sbc_design(family, codebook), None) for family in args.families]
    # each study its own seed, so the families' prior draws are independent
    if args.example_seed is not None:
        prior = "" if args.example_effect_sd is None else f", effects ~ Normal(0, {args.example_effect_sd})"
        studies.append((f"example (ordinal, share 0.5, seed {args.example_seed}{prior})",
                        example_design(args.example_seed, args.example_effect_sd), None))
    if args.miscalibrated:
        family = args.families[0] if args.families else "ordinal"
        studies.append((f"{family} (miscalibrated: effects drawn from Normal(1.5, 0.2))",
                        sbc_design(family, codebook),
                        sbc_design(family, codebook, priors=MISCALIBRATED_PRIOR)))
    summary = []
    with open_executor(args.workers, args.scheduler) as executor:
        for i, (name, design, generating) in enumerate(studies):
            start = time.perf_counter()

            def progress(done, name=name, start=start):
                if done % 10 == 0:
                    print(f"  {name}: {done}/{args.sims} fits, {time.perf_counter() - start:.0f} s",
                          flush=True)

            result = run_sbc(design, args.sims, executor=executor, seed=args.seed + i,
                             generating_design=generating, progress=progress, **sampling)
            seconds = time.perf_counter() - start
            lines = report(name, result, seconds)
            print("\n".join(lines), flush=True)
            stem = name.split()[0] + ("_miscalibrated" if generating is not None else "")
            result.ranks.to_csv(args.out / f"{stem}_ranks.csv", index=False)
            result.truth.join(result.diagnostics).to_csv(args.out / f"{stem}_truth.csv", index=False)
            plot_ranks(result.ranks, result.max_rank, args.out / f"{stem}_ranks.png", title=name)
            summary.append((name, result, seconds, generating is not None))
    for name, result, seconds, miscalibrated in summary:
        family_p = result.family_p_value()
        if miscalibrated:
            met = family_p < LEVEL
            print(f"TARGET | 17.4 | SBC detects a miscalibrated prior ({name}) | family p = "
                  f"{family_p:.2g} | rejected at 1% | {'met' if met else 'NOT met'}")
        else:
            met = family_p >= LEVEL
            print(f"TARGET | 17.4 | SBC {name}: {len(result.ranks)} sims, "
                  f"{sum(result.uniformity()['rejected'])} of {result.ranks.shape[1]} quantities "
                  f"rejected at 1% | family p = {family_p:.3f} | not rejected at 1% | "
                  f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
