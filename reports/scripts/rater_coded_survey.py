"""Report script: a rater-coded case survey, from the coding sheet to the report.

In a bridging case survey two or more raters read each case and code its conditions; their
coding sheet has one row per (unit, condition, rater, value). Copy this file, edit the block
marked ``EDIT HERE`` and run it::

    .venv/bin/python rater_coded_survey.py
    .venv/bin/python rater_coded_survey.py --draws 200 --tune 200 --chains 2   # a quick look

What to edit:

- ``CODED_SHEET``: your coding sheet (CSV, Parquet or Excel; layout in ``data/coded.py``).
  ``None`` runs the example: a coding sheet SIMULATED from the shipped example design with
  two raters who have a bias and noise (``data.simulate``; written as ``survey.coded.csv``
  into the folder ``<OUT>-input`` beside the run directory).
- ``CODEBOOK``: your codebook TOML (``None``: the shipped default).
- ``COLLAPSE``: ``None`` (default) fits the rater model; ``median``, ``mean`` or ``mode``
  collapses the raters' codes into one value per unit and condition instead.
- ``MIN_ALPHA`` and ``DROP_UNRELIABLE``: Krippendorff's alpha below ``MIN_ALPHA`` flags a
  condition; with ``DROP_UNRELIABLE = True`` such conditions are left out of the model
  (otherwise they stay in and the report shows their alpha).
- ``OUTCOME``, ``MODEL``, ``SAMPLING``, ``CHECKS``, ``OUT``: as in ``dominance_wide_survey.py``.

Rater model (``models/raters.py``): each rater-coded ordinal or binary condition is a latent
true score of its unit, measured by the raters' codes with a severity per rater, inside the
same model as the learning regression; so coding error neither attenuates the effects nor
vanishes from the verdict's uncertainty (the run's summary.json lists each rater's severity
under ``raters``). The checks add the rater check (``checks.raters``, :mod:`analysis.raters`),
which the report shows in its *Raters* section: each rater's severity with its interval, and
per condition the model-implied agreement of two raters beside Krippendorff's alpha of the
codes; a condition whose raters share no coded unit is named there (their severities then
rest on the prior). With ``COLLAPSE`` set, the collapsed codes are treated as measured
without error, and low alpha then means attenuated effects: read the reliability table first.

The script does, with the public Python API: coding sheet -> validation and reliability ->
survey with the raters' codes (or collapsed) -> fit -> run directory (with
``reliability.csv``) -> checks -> report.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from analysis import check_run, save_checks
from data import Design, load_coded, save_simulation, simulate
from models import FitOptions, ModelSpec, RunConfig, check_spec, fit, save_run
from reports import build_context, render_report, save_reliability

# ---- EDIT HERE ---------------------------------------------------------------------------
CODED_SHEET = None                    # e.g. Path("data/raw/coding_sheet.xlsx"); None = example
CODEBOOK = None                       # None = shipped default codebook
COLLAPSE = None                       # None = the rater model; or "median", "mean", "mode"
MIN_ALPHA = 0.667                     # Krippendorff (2004): lowest alpha for tentative conclusions
DROP_UNRELIABLE = False
OUTCOME = "individual_learning"
MODEL = {"family": "ordinal"}  # other ModelSpec fields: group_effects, priors...
SAMPLING = {"chains": 4, "draws": 2000, "tune": 1000, "seed": 20240602}  # the defaults, seed fixed
CHECKS = {"dominance": True}          # False skips the dominance analysis (14 sub-model fits)
OUT = Path("runs/rater_coded_survey")
TITLE = "Does the interpersonal side dominate? (rater-coded case survey)"
NOTICE = "SIMULATED example coding sheet: not evidence about real alliances."  # shown for the example
# The example: the shipped example study (seed 1999) coded by two raters with bias and noise.
EXAMPLE_RATERS = {"n": 2, "bias_sd": 0.2, "noise_sd": 0.4}
EXAMPLE_SEED = 1999
# -------------------------------------------------------------------------------------------


def example_sheet(folder: Path) -> Path:
    """Simulate the example coding sheet into ``folder``; return the sheet's path."""
    folder.mkdir(parents=True, exist_ok=True)
    sim = simulate(Design(raters=EXAMPLE_RATERS), CODEBOOK, seed=EXAMPLE_SEED)
    paths = save_simulation(sim, folder / "survey.csv", overwrite=True)
    print(f"simulated the example: {sim}")
    return paths["coded"]


def main(argv: list[str] | None = None) -> Path:
    """Run the analysis; return the report's path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("chains", "draws", "tune", "seed"):
        parser.add_argument(f"--{name}", type=int, help=f"override SAMPLING['{name}']")
    parser.add_argument("--out", type=Path, default=OUT, help=f"run directory (default {OUT})")
    parser.add_argument("--force", action="store_true", help="replace an existing run directory")
    args = parser.parse_args(argv)

    # 1. the coding sheet: validated line by line, reliability per condition, raters collapsed
    sheet = CODED_SHEET if CODED_SHEET is not None else \
        example_sheet(args.out.with_name(f"{args.out.name}-input"))
    coded = load_coded(sheet, CODEBOOK, collapse=COLLAPSE or "median")
    print(coded)
    print(coded.reliability[["level", "units", "raters", "alpha", "note"]].round(3).to_string())
    unreliable = [str(c) for c in coded.reliability.index[coded.reliability["alpha"] < MIN_ALPHA]]
    if unreliable:
        print(f"alpha below {MIN_ALPHA}: {', '.join(unreliable)}"
              + (" (left out of the model)" if DROP_UNRELIABLE else " (kept; see the report)"))

    # 2. the model on the raters' codes (the rater model) or on the collapsed survey
    survey = coded.with_raters() if COLLAPSE is None else coded.survey
    conditions = None
    if DROP_UNRELIABLE and unreliable:
        conditions = [c for c in survey.conditions if c not in unreliable]
    spec = check_spec(ModelSpec(outcome=OUTCOME, conditions=conditions, **MODEL), survey)
    overrides = {k: getattr(args, k) for k in ("chains", "draws", "tune", "seed")
                 if getattr(args, k) is not None}
    sampling = FitOptions(**{**SAMPLING, **overrides})

    # 3. fit, save the run directory and the reliability beside it
    tree = fit(spec, survey, chains=sampling.chains, draws=sampling.draws, tune=sampling.tune,
               seed=sampling.seed)
    command = shlex.join(["python", *sys.argv] if argv is None else ["python", __file__, *argv])
    run = save_run(args.out, tree, survey, RunConfig(spec, sampling), force=args.force,
                   command=command)
    save_reliability(coded.reliability, args.out)
    print(run)

    # 4. posterior checks (with the rater model: severities, agreement beside alpha) and
    # 5. the report (its data section shows the reliability, its Raters section the rest)
    checks = check_run(run, **CHECKS)
    save_checks(checks, args.out, force=True)
    print(checks)
    if checks.raters is not None and checks.raters.split_conditions():
        print(f"raters do not overlap on {', '.join(checks.raters.split_conditions())}: "
              "have some units coded by raters of both groups")
    notice = NOTICE if CODED_SHEET is None else None
    report = render_report(build_context(run, checks, title=TITLE, notice=notice),
                           args.out / "report.html", overwrite=True)
    print(f"verdict: {checks.verdict_name}")
    print(f"report: {report}")
    return report


if __name__ == "__main__":
    main()
