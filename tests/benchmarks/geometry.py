"""Posterior geometry of the group effects at case-survey size (issue 15 item 5).

The worst-sampled parameters of the speed benchmark's 2,000-respondent fit are the group
SDs (``sd_organisation`` mostly). This script fits the hand-written model of
``speed.handwritten_model`` (same priors, same likelihood) under other parameterisations of
the group intercepts and prints, per variant and seed, the min bulk / tail ESS over the
reported parameters (effects, cutpoints, group SDs, group intercepts ``u_*``), the worst
parameter, the group SDs' bulk ESS, max R-hat, divergences and the sampling seconds
(nutpie, compile excluded). Variants:

``noncentred``
    every level ``u = sd * z``, ``z ~ N(0, 1)``, sd log-transformed (the peer's, and the
    toolkit's before :mod:`models.scales`);
``centred_alliance``
    the alliance level centred (``u ~ N(0, sd)``), the others non-centred;
``partial``
    partial non-centring per group (Papaspiliopoulos, Roberts & Sköld 2007):
    ``u_g = sd^(1 - w_g) * t_g``, ``t_g ~ N(0, sd^w_g)`` with
    ``w_g = k_g / (1 + k_g)``, ``k_g = n_g * I * s^2`` (``n_g`` respondents, ``I`` the
    cumulative logit's Fisher information on the location at the outcome's marginal
    frequencies, ``s`` a guess of the SD, here 0.5);
``partial_level``
    as ``partial`` with one ``w`` per level (the mean group size);
``nested_alliance``
    hierarchical centring (Gelfand, Sahu & Carlin 1995) of the organisations on their
    alliance: ``v_o ~ N(u_a(o), sd_organisation)`` replaces ``u_a + u_o`` in eta, the
    alliance level centred (``u_a ~ N(0, sd_alliance)``).
``partial_oracle``
    ``partial`` with each level's guess at the posterior mean of its SD on seed 1 (an
    oracle, not usable in practice: it bounds what a data-driven guess could give);
``cp_alliance_partial_net``
    alliance centred, networks partial (oracle guess), organisations non-centred;
``signed``
    every level non-centred with its SD sampled signed: ``t ~ N(0, 1)``, ``sd = |t|``,
    ``u = t z`` (:mod:`models.scales`, the toolkit's parameterisation since this study);
``signed_org``, ``signed_cp_alliance``
    the organisation level only signed; networks and organisations signed, alliance centred.

The sampler's seed is the data seed plus ``--sampler-seed`` (replicates on the same data).

Run (2 cores, niced; ~1-2 min per fit under load)::

    nice -n 10 .venv/bin/python tests/benchmarks/geometry.py --seeds 1,2,3
    nice -n 10 .venv/bin/python tests/benchmarks/geometry.py --variants noncentred,signed --sampler-seed 100

References: Gelfand, A. E., Sahu, S. K. & Carlin, B. P. (1995). Efficient parametrisations
for normal linear mixed models. *Biometrika* 82(3), 479-488. Papaspiliopoulos, O.,
Roberts, G. O. & Sköld, M. (2007). A general framework for the parametrization of
hierarchical models. *Statistical Science* 22(1), 59-73. Gorinova, M., Moore, D. &
Hoffman, M. (2020). Automatic reparameterisation of probabilistic programs. ICML.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402

GUESS_SD = 0.5
# per level: "nc" non-centred (default), "cp" centred, "partial[:guess]", "nested" (on alliance)
VARIANTS = {
    "noncentred": {},
    "centred_alliance": {"alliance": "cp"},
    "partial": {level: "partial" for level in speed.GROUP_LEVELS},
    "partial_level": {level: "partial" for level in speed.GROUP_LEVELS},
    "partial_oracle": {"network": "partial:0.65", "organisation": "partial:0.24", "alliance": "partial:0.70"},
    "cp_alliance_partial_net": {"alliance": "cp", "network": "partial:0.65"},
    "nested_alliance": {"alliance": "cp", "organisation": "nested"},
    "signed": {level: "signed" for level in speed.GROUP_LEVELS},
    "signed_org": {"organisation": "signed"},
    "signed_cp_alliance": {"network": "signed", "organisation": "signed", "alliance": "cp"},
}


def ordinal_information(y: np.ndarray) -> float:
    """Fisher information of one respondent on the cumulative logit's location (at eta = 0).

    Cutpoints from the marginal category frequencies; ``sum_k (f(c_k) - f(c_{k-1}))^2 / p_k``
    with ``f`` the logistic density.
    """
    counts = np.bincount(y)
    p = counts / counts.sum()
    cdf = np.cumsum(p)[:-1]
    c = np.log(cdf / (1 - cdf))
    f = np.exp(-c) / (1 + np.exp(-c)) ** 2
    f = np.concatenate([[0.0], f, [0.0]])
    return float(np.sum((f[1:] - f[:-1]) ** 2 / p))


def build(frame, variant: str):
    import pandas as pd
    import pymc as pm

    conditions = list(speed.CONDITIONS)
    X = frame[conditions].to_numpy(dtype=float)
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    y = frame[speed.OUTCOME].to_numpy(dtype=int) - 1
    n_categories = int(y.max()) + 1
    info = ordinal_information(y)
    index, coords = {}, {"condition": conditions, "cutpoint": list(range(n_categories - 1))}
    for level in speed.GROUP_LEVELS:
        index[level], coords[level] = pd.factorize(frame[level])
    # each organisation's alliance (nested in the benchmark's design)
    org_parent = np.zeros(len(coords["organisation"]), dtype=int)
    org_parent[index["organisation"]] = index["alliance"]

    with pm.Model(coords=coords) as model:
        b = pm.Normal("b", 0.0, 1.0, dims="condition")
        eta = pm.math.dot(X, b)
        modes = VARIANTS.get(variant, {})
        sds, signed = {}, {}
        for level in speed.GROUP_LEVELS:
            if modes.get(level) == "signed":
                # sd = |s|, s ~ N(0, 1): |s| ~ HalfNormal(1); u = s * z is u = |s| * (sign(s) z)
                signed[level] = pm.Normal(f"s_{level}", 0.0, 1.0)
                sds[level] = pm.Deterministic(f"sd_{level}", abs(signed[level]))
            else:
                sds[level] = pm.HalfNormal(f"sd_{level}", 1.0)
        u = {}
        for level in speed.GROUP_LEVELS:
            sd = sds[level]
            n_g = np.bincount(index[level])
            mode = modes.get(level, "nc")
            if mode == "signed":
                z = pm.Normal(f"z_{level}", 0.0, 1.0, dims=level)
                u[level] = pm.Deterministic(f"u_{level}", z * signed[level], dims=level)
            elif mode == "cp":
                u[level] = pm.Normal(f"u_{level}", 0.0, sd, dims=level)
            elif mode == "nested":
                continue  # after the alliance level
            elif mode.startswith("partial"):
                guess = float(mode.split(":")[1]) if ":" in mode else GUESS_SD
                k = n_g * info * guess**2
                if variant == "partial_level":
                    k = np.full(len(n_g), k.mean())
                w = k / (1 + k)
                t = pm.Normal(f"z_{level}", 0.0, sd**w, dims=level)
                u[level] = pm.Deterministic(f"u_{level}", sd ** (1 - w) * t, dims=level)
            else:
                z = pm.Normal(f"z_{level}", 0.0, 1.0, dims=level)
                u[level] = pm.Deterministic(f"u_{level}", z * sd, dims=level)
        if variant == "nested_alliance":
            v = pm.Normal("z_org_total", u["alliance"][org_parent], sds["organisation"],
                          dims="organisation")
            u["organisation"] = pm.Deterministic("u_organisation", v - u["alliance"][org_parent],
                                                 dims="organisation")
            eta = eta + v[index["organisation"]] + u["network"][index["network"]]
        else:
            for level in speed.GROUP_LEVELS:
                eta = eta + u[level][index[level]]
        cutpoints = pm.Normal("cutpoints", 0.0, 2.5, dims="cutpoint",
                              transform=pm.distributions.transforms.ordered,
                              initval=np.linspace(-2, 2, n_categories - 1))
        pm.OrderedLogistic("y", eta=eta, cutpoints=cutpoints, observed=y, compute_p=False)
    return model


def fit(frame, variant: str, seed: int, draws: int, tune: int, chains: int, cores: int) -> dict:
    import arviz_stats as azs
    import nutpie

    model = build(frame, variant)
    compiled = nutpie.compile_pymc_model(model)
    load0 = os.getloadavg()[0]
    started = time.perf_counter()
    cpu0 = os.times()
    tree = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores,
                         seed=seed, progress_bar=False)
    seconds = time.perf_counter() - started
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    posterior = tree["posterior"].to_dataset()
    names = [n for n in speed.reported_parameters(posterior) if not n.startswith("s_")]
    bulk = azs.ess(posterior[names], method="bulk")
    tail = azs.ess(posterior[names], method="tail")
    rhat = azs.rhat(posterior[names])
    per_var = {n: float(np.nanmin(bulk[n].values)) for n in names}
    worst = min(per_var, key=per_var.get)
    stats = tree["sample_stats"].to_dataset()
    return {
        "variant": variant, "seed": seed, "bulk": per_var[worst], "worst": worst,
        "tail": min(float(np.nanmin(tail[n].values)) for n in names),
        "sd": {n[3:]: per_var[n] for n in names if n.startswith("sd_")},
        "rhat": max(float(np.nanmax(rhat[n].values)) for n in names),
        "divergences": int(stats["diverging"].sum()),
        "seconds": seconds, "cpu": cpu, "load": (load0, os.getloadavg()[0]),
        "steps": float(stats["n_steps"].mean()),
        "sd_means": {n[3:]: float(posterior[n].mean()) for n in names if n.startswith("sd_")},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="noncentred,signed")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--alliances", type=int, default=42)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--sampler-seed", type=int, default=0,
                        help="added to the data seed for the sampler's seed (replicates on the same data)")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    results = []
    print("| variant | seed | min bulk ESS | worst | min tail ESS | sd ESS (net/org/all) | R-hat | div "
          "| steps | sampling s | CPU s | ESS/s | load |", flush=True)
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for seed in seeds:
        frame = speed.simulated(args.alliances, seed).data
        for variant in variants:
            r = fit(frame, variant, seed + args.sampler_seed, args.draws, args.tune, args.chains, args.cores)
            results.append(r)
            sd = "/".join(f"{r['sd'][k]:.0f}" for k in speed.GROUP_LEVELS)
            print(f"| {variant} | {seed} | {r['bulk']:.0f} | {r['worst']} | {r['tail']:.0f} | {sd} "
                  f"| {r['rhat']:.3f} | {r['divergences']} | {r['steps']:.1f} | {r['seconds']:.1f} "
                  f"| {r['cpu']:.1f} | {r['bulk'] / r['seconds']:.1f} | {r['load'][0]:.1f}-{r['load'][1]:.1f} |"
                  f"  sd means {r['sd_means']}", flush=True)
    print("\npooled over seeds (sum of min bulk ESS / sum of sampling s; per CPU s):")
    for variant in variants:
        rs = [r for r in results if r["variant"] == variant]
        ess = sum(r["bulk"] for r in rs)
        print(f"  {variant:<18} min bulk ESS {ess:6.0f}  ESS/s {ess / sum(r['seconds'] for r in rs):6.1f}  "
              f"ESS/CPU-s {ess / sum(r['cpu'] for r in rs):6.1f}  worst {[r['worst'] for r in rs]}")


if __name__ == "__main__":
    main()
