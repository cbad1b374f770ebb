"""Convergence diagnostics of the default model on the shipped example data.

Fits ``data/example/survey.csv`` (outcome ``individual_learning``) with the default spec
and the default sampling (nutpie, 4 chains x 2000 draws after 1000 tuning steps), seed
fixed, and prints max R-hat, min bulk and tail ESS, divergences and E-BFMI, with the
worst quantities by name, and the wall time. Issue 3 asks for max R-hat <= 1.01, min bulk
ESS >= 400 and no divergences; the exit status is 1 when one of them fails.

Predictive draws and the log-likelihood are skipped (``predictive=False``): they do not
change the posterior or its diagnostics.

Run::

    .venv/bin/python tests/benchmarks/example_diagnostics.py [--seed 1] [--chains 4] [--draws 2000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from importlib import resources
from pathlib import Path

import arviz_stats as azs
import numpy as np

from data import load_survey
from models import ModelSpec, diagnostics, fit

TARGETS = {"max_rhat": 1.01, "min_ess_bulk": 400, "divergences": 0}


def example_path() -> Path:
    """Return the path of the shipped example survey."""
    return Path(str(resources.files("data") / "example" / "survey.csv"))


def run(*, seed: int = 1, chains: int = 4, draws: int = 2000, tune: int = 1000,
        progressbar: bool = False) -> dict:
    """Fit the example data with the defaults; return the diagnostics and the worst quantities."""
    survey = load_survey(example_path())
    spec = ModelSpec(outcome="individual_learning")
    start = time.perf_counter()
    tree = fit(spec, survey, chains=chains, draws=draws, tune=tune, seed=seed,
               progressbar=progressbar, predictive=False)
    seconds = time.perf_counter() - start
    out = diagnostics(tree)
    posterior = tree["posterior"].to_dataset()
    rhat, ess = azs.rhat(posterior), azs.ess(posterior, method="bulk")
    out["worst"] = {name: {"max_rhat": float(np.nanmax(rhat[name].values)),
                           "min_ess_bulk": float(np.nanmin(ess[name].values))}
                    for name in posterior.data_vars}
    out["seconds"] = seconds
    out["n"] = int(tree["observed_data"]["y"].sizes["individual"])
    return out


def passed(result: dict) -> dict[str, bool]:
    """Tell which of the issue's targets are met."""
    return {"max_rhat": result["max_rhat"] <= TARGETS["max_rhat"],
            "min_ess_bulk": result["min_ess_bulk"] >= TARGETS["min_ess_bulk"],
            "divergences": result["divergences"] == TARGETS["divergences"]}


def main(argv=None) -> int:
    """Run the fit, print the figures; return 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--tune", type=int, default=1000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    result = run(seed=args.seed, chains=args.chains, draws=args.draws, tune=args.tune)
    ok = passed(result)
    print(f"example data ({result['n']} respondents with an outcome), default model, "
          f"{args.chains} chains x {args.draws} draws ({args.tune} tune), seed {args.seed}")
    print(f"  max R-hat     {result['max_rhat']:.4f}  (target <= 1.01: {'ok' if ok['max_rhat'] else 'FAIL'})")
    print(f"  min bulk ESS  {result['min_ess_bulk']:.0f}  (target >= 400: {'ok' if ok['min_ess_bulk'] else 'FAIL'})")
    print(f"  min tail ESS  {result['min_ess_tail']:.0f}")
    print(f"  divergences   {result['divergences']}  (target 0: {'ok' if ok['divergences'] else 'FAIL'})")
    print(f"  min E-BFMI    {result['min_bfmi']:.3f}")
    print(f"  wall time of the fit (compilation included): {result['seconds']:.0f} s")
    print("  per quantity (max R-hat, min bulk ESS), worst ESS first:")
    for name, worst in sorted(result["worst"].items(), key=lambda kv: kv[1]["min_ess_bulk"]):
        print(f"    {name:28s} {worst['max_rhat']:.4f} {worst['min_ess_bulk']:8.0f}")
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
