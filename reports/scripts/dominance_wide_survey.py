"""Report script: does the interpersonal side dominate? A wide case survey.

Copy this file next to your study, edit the block marked ``EDIT HERE`` and run it::

    .venv/bin/python dominance_wide_survey.py                # full sampling
    .venv/bin/python dominance_wide_survey.py --draws 200 --tune 200 --chains 2   # a quick look

What to edit:

- ``DATA``: your wide survey (CSV, Parquet or Excel; one row per respondent, ID columns
  plus one column per condition and outcome). The example is the shipped, SIMULATED survey.
- ``CODEBOOK``: your codebook TOML (``None``: the shipped default codebook). It declares
  each condition's level and side (interpersonal / interorganisational).
- ``OUTCOME`` and ``CONDITIONS``: what to model (``None``: every condition in the data).
- ``MODEL``: other model choices (family, group effects, priors, shrinkage; see
  ``models.ModelSpec``), or ``CONFIG``: a run config TOML that sets all of them.
- ``SAMPLING``: chains, draws, tuning steps and the seed (overridden by the command-line
  options, which the test suite uses to run this script with tiny draws).
- ``OUT``: the run directory to create (never next to your data).
- ``CHECKS``: options of ``analysis.check_run``; the dominance analysis of the level groups
  refits the model once per subset of levels (14 fits for four levels).
- ``ROPE`` and ``PROB_THRESHOLD``: the decision rule of the verdict.

The script does, with the public Python API: load and validate -> fit -> save the run ->
posterior checks -> HTML report (``OUT/report.html``), printing each result.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from analysis import check_run, save_checks
from data import load_survey
from models import (
    FitOptions,
    ModelSpec,
    RunConfig,
    check_spec,
    fit,
    load_config,
    save_run,
)
from reports import build_context, example_data_path, render_report

# ---- EDIT HERE ---------------------------------------------------------------------------
DATA = example_data_path()            # e.g. Path("data/raw/my_survey.xlsx")
CODEBOOK = None                       # e.g. Path("my_codebook.toml"); None = shipped default
OUTCOME = "individual_learning"
CONDITIONS = None                     # e.g. ["personal_contact", "prior_cooperation"]
MODEL = {"family": "ordinal"}  # other ModelSpec fields: group_effects, priors...
CONFIG = None                         # a run config TOML replaces OUTCOME/CONDITIONS/MODEL/SAMPLING
SAMPLING = {"chains": 4, "draws": 2000, "tune": 1000, "seed": 20240601}  # the defaults, seed fixed
CHECKS = {"dominance": True}          # False skips the dominance analysis (14 sub-model fits)
OUT = Path("runs/dominance_wide_survey")
ROPE, PROB_THRESHOLD = 0.05, 0.95
TITLE = "Does the interpersonal side dominate? (wide case survey)"
# -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> Path:
    """Run the analysis; return the report's path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("chains", "draws", "tune", "seed"):
        parser.add_argument(f"--{name}", type=int, help=f"override SAMPLING['{name}']")
    parser.add_argument("--out", type=Path, default=OUT, help=f"run directory (default {OUT})")
    parser.add_argument("--force", action="store_true", help="replace an existing run directory")
    args = parser.parse_args(argv)

    # 1. load and validate (every problem is listed at once if the file has errors)
    survey = load_survey(DATA, CODEBOOK)
    print(survey)

    # 2. the model and the sampling options
    if CONFIG is not None:
        config = load_config(CONFIG)
        spec, sampling = config.spec, config.sampling
    else:
        spec, sampling = ModelSpec(outcome=OUTCOME, conditions=CONDITIONS, **MODEL), FitOptions(**SAMPLING)
    overrides = {k: getattr(args, k) for k in ("chains", "draws", "tune", "seed")
                 if getattr(args, k) is not None}
    sampling = FitOptions(**{**sampling.to_dict(), **overrides})
    spec = check_spec(spec, survey)  # unknown conditions, wrong family: named before sampling
    print(spec)

    # 3. fit and save the run directory (refuses to replace one unless --force)
    tree = fit(spec, survey, chains=sampling.chains, draws=sampling.draws, tune=sampling.tune,
               seed=sampling.seed, sampler=sampling.sampler, target_accept=sampling.target_accept)
    command = shlex.join(["python", *sys.argv] if argv is None else ["python", __file__, *argv])
    run = save_run(args.out, tree, survey, RunConfig(spec, sampling), force=args.force,
                   command=command)
    print(run)

    # 4. posterior checks: diagnostics, variance shares, verdict, PPC, LOO, sensitivity
    checks = check_run(run, rope=ROPE, prob_threshold=PROB_THRESHOLD, **CHECKS)
    save_checks(checks, args.out, force=True)
    print(checks)

    # 5. the report: one self-contained HTML file
    context = build_context(run, checks, title=TITLE)  # warns by itself when DATA is the example
    report = render_report(context, args.out / "report.html", overwrite=True)
    print(f"verdict: {checks.verdict_name}")
    print(f"report: {report}")
    return report


if __name__ == "__main__":
    main()
