"""Rater model vs collapsed codes: attenuation and 90%-interval coverage of the effects.

Each of ``--studies`` simulated case surveys (:func:`data.simulate`, fixed seeds) is coded
by three raters with a bias per rater and condition (SD ``--bias-sd``) and noise per code
(SD ``--noise-sd``), both on the scale of the conditions' latent standard-normal values
(the issue's ``raters = { n = 3, bias_sd = 0.5, noise_sd = 0.8 }``). Each study is fitted
twice through the toolkit's own path (the coding sheet written to CSV and read by
:func:`data.load_coded`):

- ``raters``: the rater model (:mod:`models.raters`), the default for a coding sheet;
- ``median``: the raters collapsed by their median and treated as exact (``--collapse median``);
- ``slopes`` (only with ``--methods``): the rater model with a discrimination per rater
  (``ModelSpec.rater_discrimination``), which the simulated raters (one noise SD) do not
  need: it shows what the option costs when it is not needed.

For every rater-coded condition it records the posterior mean and the central 90%
interval (5% and 95% quantiles) of the per-SD effect, and prints per method:

- the attenuation: the mean over (study, condition) of estimated / true effect, overall
  and per level (the truth is fixed, the simulator's per-SD effects of the error-free codes);
- the coverage of the 90% intervals over (study, condition) pairs (pairs of one study share
  its data, so they are not independent trials) and its binomial standard error;
- the largest R-hat, smallest bulk ESS and the divergences over the fits.

The error-free codes are the latent values cut into five equal-probability categories,
and the outcome depends on those codes; the rater model's true score is continuous, so its
best linear stand-in for a code has the effect b x corr(code, latent). The script prints that
correlation (about 0.96 for five categories): a ratio that close to it is the most the rater
model can recover of the simulator's truth. The table therefore gives each method's ratio and
coverage against both the simulator's truth ("code") and that truth per SD of the latent
true score ("latent", b x rho): the collapsed codes estimate the former (attenuated), the
rater model the latter.

The design has fixed sizes (``--alliances``, default 10, of 3 organisations and 2 networks
of 9 respondents: 18 respondents per alliance) and no missing codes, so every study has the same array
shapes and reuses one nutpie compilation per method.

Run::

    nice -n 10 .venv/bin/python tests/benchmarks/raters.py [--studies 20] [--chains 2]
        [--draws 400] [--tune 400] [--seed 2000] [--out raters.json]
        [--methods raters,median,slopes]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from statistics import NormalDist

import numpy as np

from data import Design, load_coded, simulate
from models import ModelSpec, diagnostics, fit

INTERVAL = 0.90
# Per-SD effects of the error-free codes, one or two per level (all likert-5, rater-coded).
EFFECTS = {
    "personal_contact": 0.5,        # individual
    "peer_comparability": 0.4,      # individual
    "shared_interests": 0.4,        # network
    "receptivity": 0.3,             # organisation
    "prior_cooperation": 0.4,       # alliance
}
METHODS = ("raters", "median")
ALL_METHODS = (*METHODS, "slopes")  # slopes: the rater model with a discrimination per rater


def design(bias_sd: float, noise_sd: float, alliances: int) -> Design:
    return Design(alliances=alliances, organisations=(3, 3), networks=(2, 2), people=(9, 9),
                  respondents_per_organisation=(3, 3), conditions=tuple(EFFECTS),
                  effects=dict(EFFECTS), interpersonal_share=None, missing_rate=0.0,
                  group_sd={"network": 0.3, "organisation": 0.3, "alliance": 0.3},
                  raters={"n": 3, "bias_sd": bias_sd, "noise_sd": noise_sd})


def code_latent_correlation(k: int = 5, n: int = 400_000, seed: int = 0) -> float:
    """corr(code, latent) for a standard normal cut into k equal-probability categories."""
    latent = np.random.default_rng(seed).standard_normal(n)
    thresholds = [NormalDist().inv_cdf(i / k) for i in range(1, k)]
    return float(np.corrcoef(np.searchsorted(thresholds, latent), latent)[0, 1])


def one_study(seed: int, sim_design: Design, args, folder: Path, methods=METHODS) -> list[dict]:
    sim = simulate(sim_design, seed=seed)
    sheet = folder / f"study{seed}.coded.csv"
    sim.coded.to_csv(sheet, index=False)
    coded = load_coded(sheet, sim.codebook, collapse="median")
    spec = ModelSpec(outcome="individual_learning", conditions=tuple(EFFECTS))
    rows = []
    for method in methods:
        survey = coded.survey if method == "median" else coded.with_raters()
        started = time.perf_counter()
        tree = fit(replace(spec, rater_discrimination=method == "slopes"), survey,
                   chains=args.chains, draws=args.draws, tune=args.tune,
                   seed=seed, progressbar=False, predictive=False)
        seconds = time.perf_counter() - started
        b = tree["posterior"]["b"]
        low = b.quantile((1 - INTERVAL) / 2, dim=("chain", "draw"))
        high = b.quantile((1 + INTERVAL) / 2, dim=("chain", "draw"))
        mean = b.mean(("chain", "draw"))
        median = b.median(("chain", "draw"))
        diag = diagnostics(tree)
        for condition in EFFECTS:
            true = sim.truth["effects"][condition]
            est = float(mean.sel(condition=condition))
            rows.append({
                "study": seed, "method": method, "condition": condition,
                "level": sim.truth["condition_level"][condition], "true": true, "estimate": est,
                "median": float(median.sel(condition=condition)),
                "ratio": est / true,
                "low": float(low.sel(condition=condition)), "high": float(high.sel(condition=condition)),
                "covered": bool(low.sel(condition=condition) <= true <= high.sel(condition=condition)),
                "max_rhat": diag["max_rhat"], "min_ess_bulk": diag["min_ess_bulk"],
                "divergences": diag["divergences"], "seconds": seconds,
            })
    return rows


def report(rows: list[dict], rho: float) -> str:
    """The table: per method, attenuation and coverage against both scales of the truth."""
    lines = [f"{len({r['study'] for r in rows})} studies; 90% central intervals; "
             f"rho = corr(code, latent) for 5 categories = {rho:.3f}",
             "truth 'code': the simulator's per-SD effect of the error-free code; 'latent': the same "
             "effect per SD of the latent true score (code truth x rho)"]
    levels = list(dict.fromkeys(r["level"] for r in rows))
    header = (f"{'method':7s} {'truth':6s} {'ratio':>6s} {'MC SE':>6s} "
              + " ".join(f"{lvl[:12]:>12s}" for lvl in levels)
              + f" {'coverage':>14s} {'max R-hat':>9s} {'min ESS':>8s} {'div':>4s} {'s/fit':>6s}")
    lines.append(header)
    for method in ALL_METHODS:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        fits = {r["study"]: r for r in mine}.values()
        studies = sorted({r["study"] for r in mine})
        for scale, factor in (("code", 1.0), ("latent", rho)):
            ratios = np.array([r["estimate"] / (r["true"] * factor) for r in mine])
            # Monte Carlo SE from the per-study mean ratios (a study's conditions share its data)
            per_study = [ratios[[r["study"] == s for r in mine]].mean() for s in studies]
            mc_se = np.std(per_study, ddof=1) / math.sqrt(len(per_study)) if len(per_study) > 1 else math.nan
            by_level = [ratios[[r["level"] == lvl for r in mine]].mean() for lvl in levels]
            covered = np.array([r["low"] <= r["true"] * factor <= r["high"] for r in mine])
            lines.append(
                f"{method:7s} {scale:6s} {ratios.mean():6.3f} {mc_se:6.3f} "
                + " ".join(f"{v:12.3f}" for v in by_level)
                + f" {covered.mean():6.1%} ({covered.sum():3d}/{len(covered)})"
                + f" {max(f['max_rhat'] for f in fits):9.3f} {min(f['min_ess_bulk'] for f in fits):8.0f}"
                + f" {sum(f['divergences'] or 0 for f in fits):4d}"
                + f" {np.mean([f['seconds'] for f in fits]):6.1f}")
    n = len([r for r in rows if r["method"] == rows[0]["method"]]) if rows else 0
    lines.append(f"(binomial SE of a 90% coverage over {n} pairs: {math.sqrt(0.09 / max(1, n)):.1%}; "
                 "pairs of one study are not independent)")
    return "\n".join(lines)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2000, help="first study's seed (then +1, +2...)")
    parser.add_argument("--alliances", type=int, default=10,
                        help="alliances per study (each: 3 organisations, 2 networks of 9 respondents)")
    parser.add_argument("--bias-sd", type=float, default=0.5)
    parser.add_argument("--noise-sd", type=float, default=0.8)
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, of {', '.join(ALL_METHODS)} (default: {','.join(METHODS)})")
    parser.add_argument("--out", type=Path, help="write every (study, method, condition) row as JSON")
    parser.add_argument("--from-json", type=Path, help="only print the table of rows written by --out")
    args = parser.parse_args(argv)
    if args.from_json:
        print(report(json.loads(args.from_json.read_text(encoding="utf-8")), code_latent_correlation()))
        return

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = sorted(set(methods) - set(ALL_METHODS))
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; use {', '.join(ALL_METHODS)}")
    sim_design = design(args.bias_sd, args.noise_sd, args.alliances)
    rho = code_latent_correlation()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.studies):
            seed = args.seed + i
            rows.extend(one_study(seed, sim_design, args, Path(folder), methods))
            done = [r for r in rows if r["study"] == seed]
            print(f"study {seed}: " + "; ".join(
                f"{m} ratio {np.mean([r['ratio'] for r in done if r['method'] == m]):.2f} "
                f"covered {sum(r['covered'] for r in done if r['method'] == m)}/{len(EFFECTS)}"
                for m in methods), flush=True)
            if args.out:
                args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print(report(rows, rho), flush=True)


if __name__ == "__main__":
    main()
