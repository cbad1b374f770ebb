"""Gaussian models sampled from sufficient statistics (models.sufficient) against the full model.

Issue 15, items 2 and 6 (a million respondents on one machine). Simulates gaussian case
surveys with the speed benchmark's design (9 conditions over the four levels; 5 networks
of 6-15 respondents per alliance; no missing codes) and fits three models (``--specs``):
``crossed``, all 9 conditions with network, organisation and alliance group effects
(networks and organisations cross within an alliance, so a cell, a distinct (network,
organisation) pair, holds about 3 respondents), and ``nested``, without the organisation
conditions and group effect (a cell is a network: about 10.5 respondents), and
``alliance``, all 9 conditions with alliance effects only, as memory.py's model (the
network and organisation conditions become per-respondent columns: a cell is an
alliance, about 52 respondents). For each size
and model it compiles nutpie's model both ways:

``full``
    the model with ``pm.Normal("y", eta, sigma, observed=y)``: a gradient touches every
    respondent;
``statistics``
    :func:`models.sufficient.sampling_model`, what :func:`models.fit.compiled_model` now
    compiles for such a model: the same free variables, the likelihood from per-cell sums.

It prints, per size and way: the milliseconds of one log-density-and-gradient evaluation
(median and least CPU time of 20 calls of nutpie's compiled function at one point), the
compile seconds, and with ``--sample`` the sampling seconds, wall and CPU (nutpie, few
draws), the smallest bulk ESS over the reported parameters and the largest difference of
posterior means between the ways in units of their posterior SD (same seed and starting
point, the same posterior: the chains start alike, then drift apart by rounding). Compile
seconds include PyTensor's numba compilation on a cold cache the first time.

``--exam`` instead fits mlmRev::Exam (tests/realdata, full size: 4,059 pupils, 65
schools) both ways with independent seeds and compares every estimate in units of the
Monte Carlo error of the difference.

Run::

    nice -n 10 .venv/bin/python tests/benchmarks/sufficient.py --sizes 20000 100000 --sample
    nice -n 10 .venv/bin/python tests/benchmarks/sufficient.py --sizes 1000000    # gradient only
    nice -n 10 .venv/bin/python tests/benchmarks/sufficient.py --sizes 1000000 --specs alliance \
        --ways statistics --sample --chains 4 --draws 2000 --tune 1000            # default draws
    nice -n 10 .venv/bin/python tests/benchmarks/sufficient.py --exam --chains 4 --draws 1000 --tune 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CONDITIONS = (
    "personal_contact", "peer_comparability", "voluntary_participation",  # individual
    "shared_interests", "joint_activity",                                 # network
    "receptivity", "absorptive_capacity",                                 # organisation
    "expected_payoff", "prior_cooperation",                               # alliance
)
OUTCOME = "learning_score"
# crossed: networks and organisations cross within an alliance, so a cell is a (network,
# organisation) pair (about 3 respondents); nested: networks within alliances (about 10.5)
SPECS = {
    "crossed": {"conditions": list(CONDITIONS), "group_effects": ["network", "organisation", "alliance"]},
    "nested": {"conditions": [c for c in CONDITIONS if c not in ("receptivity", "absorptive_capacity")],
               "group_effects": ["network", "alliance"]},
    # as memory.py's and gpu.py's model: alliance effects only, so the network and
    # organisation conditions are per-respondent columns and a cell is an alliance
    "alliance": {"conditions": list(CONDITIONS), "group_effects": ["alliance"]},
}
RESPONDENTS_PER_ALLIANCE = 52  # 5 networks of 6-15 (mean 10.5) respondents, some sharing a slot


def simulated(respondents: int, seed: int):
    """Simulate a gaussian survey of about ``respondents`` respondents."""
    from data import Codebook, load_codebook
    from data.simulate import Design, simulate

    codebook = load_codebook().to_dict()
    codebook["outcomes"][OUTCOME] = {"level": "individual", "scale": "continuous"}
    design = Design(alliances=max(2, round(respondents / RESPONDENTS_PER_ALLIANCE)), networks=(5, 5),
                    people=(6, 15), conditions=CONDITIONS, missing_rate=0.0, alliance_outcome=None,
                    family="gaussian", outcome=OUTCOME, intercept=0.2, sigma=1.0)
    return simulate(design, codebook=Codebook.from_dict(codebook), seed=seed).survey()


def compiled(design, statistics: bool):
    """nutpie's compiled model of ``design``: from sufficient statistics or the full model."""
    from models import sufficient
    from models.build import initial_values, model_from_design
    from models.compiled import compile_model
    from models.fit import exact_floats

    model = sufficient.sampling_model(design) if statistics else model_from_design(design)
    with exact_floats():
        return compile_model(model, initial_points=initial_values(design, model))


def gradient_seconds(model, repeats: int) -> tuple[float, float]:
    """Median and least CPU seconds of one call of the compiled log density and gradient.

    CPU time (``time.process_time``), not wall time: on the shared 2-core machine a niced
    process waits behind the others, and the wall time of one call varied tenfold.
    """
    x = np.random.default_rng(0).normal(0, 0.1, model.n_dim)
    model.logp_func(x)  # first call outside the timing
    times = []
    for _ in range(repeats):
        start = time.process_time()
        model.logp_func(x)
        times.append(time.process_time() - start)
    return float(np.median(times)), float(np.min(times))


def exam(args) -> None:
    """mlmRev::Exam (tests/realdata, full size): posterior both ways, independent seeds."""
    import tempfile
    import tomllib

    import arviz as az

    from data.load import load_survey
    from models import fit, sufficient
    from models.spec import RunConfig
    from tests.realdata.datasets import CODEBOOKS, HERE, prepare

    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "exam.csv"
        prepare("exam", full=True).to_csv(csv, index=False)
        survey = load_survey(csv, CODEBOOKS / "exam.toml")
    with open(HERE / "configs" / "exam.toml", "rb") as file:
        spec = RunConfig.from_dict(tomllib.load(file)).spec
    options = {"chains": args.chains, "draws": args.draws, "tune": args.tune, "progressbar": False,
               "predictive": False, "extension": None}
    fits, seconds = {}, {}
    for way, seed in (("statistics", args.seed), ("full", args.seed + 1)):
        eligible = sufficient.eligible
        if way == "full":
            sufficient.eligible = lambda design: False
        try:
            start = time.perf_counter()
            fits[way] = fit(spec, survey, seed=seed, **options)["posterior"].to_dataset()
            seconds[way] = time.perf_counter() - start
        finally:
            sufficient.eligible = eligible
    from models import make_design

    print(f"# Exam, {make_design(spec, survey).n:,} pupils; fit seconds (compile and sample, "
          f"{args.chains} x {args.draws}): statistics {seconds['statistics']:.1f}, full {seconds['full']:.1f}")
    print("parameter | statistics mean (SD) | full mean (SD) | difference / MCSE of the difference")
    worst = 0.0
    for name in ("b", "intercept", "sigma", "sd_organisation"):
        a, b = fits["statistics"][name], fits["full"][name]
        mcse = np.hypot(az.mcse(a.to_dataset(), method="mean")[name].values,
                        az.mcse(b.to_dataset(), method="mean")[name].values)
        for k, (ma, sa, mb, sb, m) in enumerate(zip(*(np.atleast_1d(v) for v in (
                a.mean(("chain", "draw")).values, a.std(("chain", "draw")).values,
                b.mean(("chain", "draw")).values, b.std(("chain", "draw")).values, mcse)), strict=True)):
            label = f"{name}[{a['condition'].values[k]}]" if "condition" in a.dims else name
            worst = max(worst, abs(ma - mb) / m)
            print(f"{label} | {ma:.4f} ({sa:.4f}) | {mb:.4f} ({sb:.4f}) | {(ma - mb) / m:+.2f}")
    print(f"# largest |difference| / MCSE: {worst:.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--sample", action="store_true", help="also sample both ways (nutpie)")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--tune", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--specs", nargs="+", choices=list(SPECS), default=list(SPECS))
    parser.add_argument("--ways", nargs="+", choices=["full", "statistics"], default=["full", "statistics"],
                        help="which models to time (the full model samples a million respondents slowly)")
    parser.add_argument("--exam", action="store_true",
                        help="instead: mlmRev::Exam (full size) fitted both ways, estimates compared")
    args = parser.parse_args(argv)
    if args.exam:
        exam(args)
        return

    import nutpie

    from models import ModelSpec, make_design
    from models.sufficient import statistics

    sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
    from speed import min_ess_bulk, reported_parameters

    print("model | respondents | cells | way | gradient ms median (least) | compile s | sampling s wall / CPU | min ESS bulk (param) | "
          "max |mean diff| / SD", flush=True)
    surveys = {}
    for size, name in ((size, name) for size in args.sizes for name in args.specs):
        start = time.perf_counter()
        data = surveys[size] = surveys.get(size) or simulated(size, args.seed)
        design = make_design(ModelSpec(outcome=OUTCOME, family="gaussian", **SPECS[name]), data)
        cells = len(statistics(design)["sufficient_cell_n"])
        print(f"# {design.n:,} respondents simulated and designed in {time.perf_counter() - start:.1f} s",
              flush=True)
        posteriors = {}
        for way in args.ways:
            start = time.perf_counter()
            model = compiled(design, way == "statistics")
            compile_s = time.perf_counter() - start
            grad_s = gradient_seconds(model, repeats=20)
            sample_s, ess = (float("nan"), float("nan")), (float("nan"), "-")
            if args.sample:
                start, cpu = time.perf_counter(), time.process_time()
                tree = nutpie.sample(model, draws=args.draws, tune=args.tune, chains=args.chains,
                                     cores=min(args.chains, os.cpu_count() or 1), seed=args.seed,
                                     progress_bar=False)
                sample_s = (time.perf_counter() - start, time.process_time() - cpu)
                posteriors[way] = tree["posterior"].to_dataset()
                ess = min_ess_bulk(posteriors[way])
            diff = ""
            if len(posteriors) == 2:
                worst = 0.0
                for parameter in reported_parameters(posteriors["full"]):
                    a, b = posteriors["full"][parameter], posteriors["statistics"][parameter]
                    sd = a.std(("chain", "draw"))
                    worst = max(worst, float((abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw"))) / sd).max()))
                diff = f"{worst:.2f}"
            print(f"{name} | {design.n:,} | {cells:,} | {way} | {grad_s[0] * 1e3:.3f} ({grad_s[1] * 1e3:.3f}) | {compile_s:.1f} | {sample_s[0]:.1f} / {sample_s[1]:.1f} | "
                  f"{ess[0]:.0f} ({ess[1]}) | {diff}", flush=True)


if __name__ == "__main__":
    main()
