"""Micro-macro model vs observed alliance means: recovery and 90%-interval coverage (issue 16).

Each of ``--studies`` simulated case surveys has an alliance-level outcome
(``collective_learning``, 5-category ordinal) and is fitted twice through :func:`models.fit`:

- ``latent``: the micro-macro model (:mod:`models.macro`, the default for an alliance outcome):
  individual- and network-level conditions through latent alliance means;
- ``observed``: the shortcut, the alliances' observed member means treated as exact
  (``macro_design(..., aggregation="observed")``).

It prints, per method, the attenuation (mean over (study, condition) of estimated / true
effect, overall and per level), the coverage of the central 90% intervals of the effects and
of the interpersonal share (Pratt, over alliances), the mean estimated share beside the true
one, and the largest R-hat, smallest bulk ESS and the divergences; then one ``TARGET`` line.

Why its own outcome, not the simulator's
----------------------------------------
:func:`data.simulate` draws ``collective_learning`` from the mean linear predictor of the
alliance's *respondents*, and a member-level condition varies between alliances only through
the one alliance "climate" shared by every condition. For that outcome the observed
respondent means are the exact predictors (there is no sampling error to correct: the
micro-macro model would over-correct), and the conditions' alliance means are collinear. The
micro-macro question needs respondents who are a sample of the alliance's members. So this
script keeps the simulator's design (alliances, organisations, networks, respondents, IDs and
codebook: ``data.simulate``) and draws the conditions and the outcome again
(:func:`simulate_macro`):

- every condition c has an alliance component ``A_ac = sqrt(rho) F_a + sqrt(1 - rho) G_ac``
  (``F_a`` a climate shared by the conditions, so they correlate ``rho`` between alliances);
- a unit's latent value is ``sqrt(icc) A_ac + sqrt(1 - icc) e`` (respondents, networks,
  organisations; an alliance-level condition is ``A_ac`` itself), coded on the codebook's
  5-category scale at the standard-normal quantiles, as the simulator codes;
- the true alliance predictor of a member-level condition is the alliance's *population* mean
  of the standardised code, ``(E[code | A_ac] - centre) / sd`` (exact, from the normal CDF;
  centre and SD those of the coded values over the level's units, as the model standardises),
  of an organisation-level condition the mean over the alliance's partner organisations of
  their standardised values (a census, as the model aggregates), of an alliance-level one its
  standardised value;
- ``eta_a = sum_c b_c x_ac`` with the per-SD effects :data:`EFFECTS`, and the outcome is drawn
  from the cumulative logit at equal-probability cutpoints (no other alliance-level noise, so
  the cumulative-logit model is exactly the generating one). The true share is the Pratt
  share of the interpersonal side over the alliances.

Every study has the same sizes (``--alliances`` of 4 organisations and 3 networks of 10
respondents) and no missing codes, so each method compiles once.

Run::

    nice -n 10 .venv/bin/python tests/benchmarks/macro.py [--studies 20] [--alliances 60]
        [--chains 2] [--draws 500] [--tune 500] [--seed 3000] [--icc 0.3] [--rho 0.3]
        [--out macro.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from data import Design, simulate
from data.survey import CaseSurvey

INTERVAL = 0.90
OUTCOME = "collective_learning"
# Per-SD effects on the alliance outcome's logit scale (every condition likert-5).
EFFECTS = {
    "personal_contact": 1.2,        # individual (interpersonal)
    "peer_comparability": 0.8,      # individual (interpersonal)
    "shared_interests": 1.2,        # network (interpersonal)
    "receptivity": 0.8,             # organisation (interorganisational)
    "prior_cooperation": 0.8,       # alliance (interorganisational)
}
METHODS = ("latent", "observed")
MEMBER_LEVELS = ("individual", "network")


def sim_design(alliances: int, conditions=tuple(EFFECTS)) -> Design:
    """The simulator's design whose structure (and IDs, codebook) the studies keep."""
    return Design(alliances=alliances, organisations=(4, 4), networks=(3, 3), people=(10, 10),
                  respondents_per_organisation=(1, 4), conditions=tuple(conditions),
                  effects={c: 0.0 for c in conditions}, interpersonal_share=None,
                  missing_rate=0.0, alliance_outcome=OUTCOME)


def _expected_code(mean: np.ndarray, sd: float, k: int) -> np.ndarray:
    """E[code] of a normal latent value N(mean, sd^2) cut at the standard-normal k-quantiles."""
    cdf = np.vectorize(NormalDist().cdf)
    thresholds = [NormalDist().inv_cdf(i / k) for i in range(1, k)]
    return 1.0 + sum(1.0 - cdf((t - mean) / sd) for t in thresholds)


def simulate_macro(seed: int, alliances: int = 60, effects: dict | None = None,
                   icc: float = 0.3, rho: float = 0.3) -> tuple[CaseSurvey, dict]:
    """A case survey with an alliance-level outcome of latent alliance means, and its truth.

    Returns the survey and the truth: ``effects`` (per SD), ``level``, ``side``,
    ``interpersonal_share`` (Pratt over alliances), ``predictors`` (alliance x condition).
    """
    effects = dict(EFFECTS if effects is None else effects)
    design = sim_design(alliances, tuple(effects))
    sim = simulate(design, seed=seed)
    codebook = sim.codebook
    ids = codebook.ids
    data = sim.data.copy()
    rng = np.random.default_rng([seed, 16])
    alliance_ids = pd.Index(sorted(data[ids["alliance"]].unique()))
    climate = rng.standard_normal(len(alliance_ids))
    thresholds = np.array([NormalDist().inv_cdf(i / 5) for i in range(1, 5)])
    predictors = {}
    for name, b in effects.items():
        var = codebook.conditions[name]
        level = var.level
        if var.scale.kind != "ordinal" or var.scale.n_categories != 5:
            raise ValueError(f"{name}: the study codes likert-5 conditions only")
        component = math.sqrt(rho) * climate + math.sqrt(1 - rho) * rng.standard_normal(len(alliance_ids))
        column = ids[level] if level != "individual" else ids["individual"]
        units = data[list(dict.fromkeys([column, ids["alliance"]]))].drop_duplicates(column)
        a = alliance_ids.get_indexer(units[ids["alliance"]])
        if level == "alliance":
            latent = component[a]
        else:
            latent = math.sqrt(icc) * component[a] + math.sqrt(1 - icc) * rng.standard_normal(len(units))
        code = 1 + np.searchsorted(thresholds, latent)
        centre, sd = float(code.mean()), float(code.std(ddof=1))
        data[name] = data[column].map(dict(zip(units[column], code))).astype(int)
        if level in MEMBER_LEVELS:  # the alliance's population mean of the standardised code
            mean_code = _expected_code(math.sqrt(icc) * component, math.sqrt(1 - icc), 5)
            predictors[name] = (mean_code - centre) / sd
        elif level == "organisation":  # mean over the alliance's partners (a census)
            z = pd.Series((code - centre) / sd, index=units[column].to_numpy())
            pairs = data[[ids["organisation"], ids["alliance"]]].drop_duplicates()
            pairs = pairs.assign(z=z.reindex(pairs[ids["organisation"]]).to_numpy())
            predictors[name] = pairs.groupby(ids["alliance"])["z"].mean().reindex(alliance_ids).to_numpy()
        else:
            z = pd.Series((code - centre) / sd, index=units[column].to_numpy())
            predictors[name] = z.reindex(alliance_ids).to_numpy()
    x = np.column_stack([predictors[c] for c in effects])
    beta = np.array(list(effects.values()))
    eta = x @ beta
    # equal-probability cutpoints for the latent variance (as the simulator's defaults)
    stretch = math.sqrt((eta.var(ddof=1) + math.pi**2 / 3) / (math.pi**2 / 3))
    cutpoints = [stretch * math.log(i / (5 - i)) for i in range(1, 5)]
    y = 1 + np.searchsorted(cutpoints, eta + rng.logistic(0.0, 1.0, len(eta)))
    data[OUTCOME] = data[ids["alliance"]].map(dict(zip(alliance_ids, y))).astype(int)
    sides = np.array([codebook.conditions[c].side for c in effects])
    inter = x[:, sides == "interpersonal"] @ beta[sides == "interpersonal"]
    share = float(np.cov(inter, eta, ddof=1)[0, 1] / eta.var(ddof=1))
    truth = {"effects": effects, "level": {c: codebook.conditions[c].level for c in effects},
             "side": {c: codebook.conditions[c].side for c in effects},
             "interpersonal_share": share, "cutpoints": cutpoints, "icc": icc, "rho": rho,
             "predictors": pd.DataFrame(x, index=alliance_ids, columns=list(effects))}
    survey = CaseSurvey.from_wide(data, codebook, source=f"<micro-macro study {seed}>")
    return survey, truth


def fit_method(method: str, survey, *, chains: int, draws: int, tune: int, seed: int):
    """Fit one method through :func:`models.fit` (no predictive draws)."""
    from models import ModelSpec, fit
    from models.macro import macro_design

    spec = ModelSpec(outcome=OUTCOME)
    design = macro_design(spec, survey, aggregation=method)
    return fit(spec, survey, chains=chains, draws=draws, tune=tune, seed=seed,
               progressbar=False, predictive=False, design=design)


def interpersonal_share(tree):
    """Per-draw Pratt share of the interpersonal side over the alliances (the report's)."""
    from analysis.decomposition import variance_decomposition
    from models.contributions import condition_labels, contributions

    sides, levels = condition_labels(tree)
    parts = contributions(tree, by="condition")
    parts = parts.drop_vars([c for c in parts.coords if c not in ("chain", "draw", "individual", "condition")])
    shares = variance_decomposition(parts, sides=sides, levels=levels, family="ordinal")
    return shares["side_share"].sel(side="interpersonal")


def one_study(seed: int, args) -> list[dict]:
    from models import diagnostics

    survey, truth = simulate_macro(seed, alliances=args.alliances, icc=args.icc, rho=args.rho)
    rows = []
    lo, hi = (1 - INTERVAL) / 2, (1 + INTERVAL) / 2
    for method in METHODS:
        started = time.perf_counter()
        tree = fit_method(method, survey, chains=args.chains, draws=args.draws, tune=args.tune, seed=seed)
        seconds = time.perf_counter() - started
        b = tree["posterior"]["b"]
        share = interpersonal_share(tree)
        diag = diagnostics(tree)
        common = {"study": seed, "method": method, "max_rhat": diag["max_rhat"],
                  "min_ess_bulk": diag["min_ess_bulk"], "divergences": diag["divergences"],
                  "seconds": seconds}
        for condition, true in truth["effects"].items():
            draws = b.sel(condition=condition)
            rows.append({**common, "quantity": condition, "level": truth["level"][condition],
                         "true": true, "estimate": float(draws.mean()),
                         "low": float(draws.quantile(lo)), "high": float(draws.quantile(hi))})
        rows.append({**common, "quantity": "interpersonal_share", "level": "share",
                     "true": truth["interpersonal_share"], "estimate": float(share.mean()),
                     "low": float(share.quantile(lo)), "high": float(share.quantile(hi))})
    for row in rows:
        row["covered"] = bool(row["low"] <= row["true"] <= row["high"])
    return rows


def report(rows: list[dict]) -> str:
    """The table: per method, attenuation and coverage of the effects and of the share."""
    studies = sorted({r["study"] for r in rows})
    lines = [f"{len(studies)} studies; central {INTERVAL:.0%} intervals; ratio = mean estimated / "
             "true effect over (study, condition)"]
    levels = [lvl for lvl in ("individual", "network", "organisation", "alliance")
              if any(r["level"] == lvl for r in rows)]
    lines.append(f"{'method':8s} {'ratio':>6s} {'MC SE':>6s} "
                 + " ".join(f"{lvl[:12]:>12s}" for lvl in levels)
                 + f" {'effects covered':>16s} {'share true':>10s} {'share est':>9s} "
                 f"{'share covered':>14s} {'share width':>11s} {'max R-hat':>9s} {'min ESS':>8s} "
                 f"{'div':>4s} {'s/fit':>6s}")
    met = None
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        eff = [r for r in mine if r["level"] != "share"]
        shr = [r for r in mine if r["level"] == "share"]
        ratios = np.array([r["estimate"] / r["true"] for r in eff])
        per_study = [np.mean([r["estimate"] / r["true"] for r in eff if r["study"] == s]) for s in studies]
        mc_se = np.std(per_study, ddof=1) / math.sqrt(len(per_study)) if len(per_study) > 1 else math.nan
        by_level = [ratios[[r["level"] == lvl for r in eff]].mean() for lvl in levels]
        covered = np.array([r["covered"] for r in eff])
        share_cov = np.array([r["covered"] for r in shr])
        fits = {r["study"]: r for r in mine}.values()
        lines.append(
            f"{method:8s} {ratios.mean():6.3f} {mc_se:6.3f} "
            + " ".join(f"{v:12.3f}" for v in by_level)
            + f" {covered.mean():8.1%} ({covered.sum():3d}/{len(covered)})"
            + f" {np.mean([r['true'] for r in shr]):10.3f} {np.mean([r['estimate'] for r in shr]):9.3f}"
            + f" {share_cov.mean():6.1%} ({share_cov.sum():2d}/{len(share_cov)})"
            + f" {np.mean([r['high'] - r['low'] for r in shr]):11.3f}"
            + f" {max(f['max_rhat'] for f in fits):9.3f} {min(f['min_ess_bulk'] for f in fits):8.0f}"
            + f" {sum(f['divergences'] or 0 for f in fits):4d} {np.mean([f['seconds'] for f in fits]):6.1f}")
        if method == "latent":
            met = (covered.mean(), 0.85 <= covered.mean() <= 0.95)
    lines.append("per quantity: true value, mean estimate, ratio, 90% coverage, mean interval width")
    quantities = list(dict.fromkeys(r["quantity"] for r in rows))
    for method in METHODS:
        for quantity in quantities:
            mine = [r for r in rows if r["method"] == method and r["quantity"] == quantity]
            if not mine:
                continue
            true = np.mean([r["true"] for r in mine])
            estimate = np.mean([r["estimate"] for r in mine])
            lines.append(f"  {method:8s} {quantity:20s} {mine[0]['level']:12s} true {true:6.3f} "
                         f"estimate {estimate:6.3f} ratio {estimate / true:6.3f} "
                         f"covered {sum(r['covered'] for r in mine):2d}/{len(mine)} "
                         f"width {np.mean([r['high'] - r['low'] for r in mine]):5.2f}")
    n = len([r for r in rows if r["method"] == METHODS[0] and r["level"] != "share"])
    lines.append(f"(binomial SE of a 90% coverage over {n} pairs: {math.sqrt(0.09 / max(1, n)):.1%}; "
                 "pairs of one study share its data, so they are not independent)")
    if met is not None:
        lines.append(f"TARGET | 16.3 | micro-macro 90%-interval coverage of the effects, {len(studies)} "
                     f"studies of {rows[0].get('alliances', '?')} alliances | {met[0]:.1%} | 85-95% | "
                     f"{'met' if met[1] else 'NOT met'}")
    return "\n".join(lines)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20)
    parser.add_argument("--alliances", type=int, default=60)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--seed", type=int, default=3000, help="first study's seed (then +1, +2...)")
    parser.add_argument("--icc", type=float, default=0.3,
                        help="share of a unit's latent value that is its alliance's (member levels)")
    parser.add_argument("--rho", type=float, default=0.3,
                        help="correlation between the conditions' alliance components")
    parser.add_argument("--out", type=Path, help="write every (study, method, quantity) row as JSON")
    parser.add_argument("--from-json", type=Path, help="only print the table of rows written by --out")
    args = parser.parse_args(argv)
    if args.from_json:
        print(report(json.loads(args.from_json.read_text(encoding="utf-8"))))
        return
    rows: list[dict] = []
    for i in range(args.studies):
        seed = args.seed + i
        new = one_study(seed, args)
        for row in new:
            row["alliances"] = args.alliances
        rows.extend(new)
        print(f"study {seed}: " + "; ".join(
            f"{m} ratio {np.mean([r['estimate'] / r['true'] for r in new if r['method'] == m and r['level'] != 'share']):.2f} "
            f"covered {sum(r['covered'] for r in new if r['method'] == m and r['level'] != 'share')}/{len(EFFECTS)}"
            for m in METHODS), flush=True)
        if args.out:
            args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print(report(rows), flush=True)


if __name__ == "__main__":
    main()
