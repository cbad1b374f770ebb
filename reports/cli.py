"""The ``alliance-learning`` command line: a thin layer over the Python API.

Every command catches the toolkit's own errors and prints them as plain lines (no
traceback) with a non-zero exit code. Logging handlers are configured here, never in the
library.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    name="alliance-learning",
    help="Bayesian models of the conditions for learning between competing organisations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

# Errors a user can fix; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, FileExistsError, KeyError)


def user_errors(func):
    """Print a user error as plain text and exit 2 instead of showing a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            # escaped: messages quote TOML tables such as [model], which are not markup
            err_console.print(f"[bold red]error:[/] {escape(str(message))}", markup=True, highlight=False,
                              soft_wrap=True)  # one line, whatever the terminal's width
            raise typer.Exit(code=2) from None

    return wrapper


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False):
    """Validate, fit, check and report hierarchical models of case-survey data."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command()
@user_errors
def validate(
    file: Annotated[Path, typer.Argument(help="Wide case-survey file: CSV, Parquet or Excel.")],
    codebook: Annotated[Optional[Path], typer.Option(
        "--codebook", "-c", help="Codebook TOML (default: the shipped codebook).")] = None,
    sheet: Annotated[Optional[str], typer.Option(help="Excel sheet (default: the first).")] = None,
    form: Annotated[str, typer.Option(
        help="wide: one row per individual; coded: the raters' coding sheet (long form).")] = "wide",
    collapse: Annotated[str, typer.Option(
        help="For --form coded: collapse raters by median, mean or mode.")] = "median",
):
    """Check a case-survey file against its codebook and list every problem.

    Exits 0 when there is no error (warnings allowed), 1 when the data have errors, and
    2 when the file or the codebook cannot be read.
    """
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from data import validate_file

    report = validate_file(file, codebook, sheet=sheet, form=form, collapse=collapse)
    colour = {"error": "bold red", "warning": "yellow"}
    for problem in report.sorted_problems():
        column = f"  [cyan]{escape(problem.column)}[/]" if problem.column else ""
        console.print(f"{escape(problem.location)}{column}  [{colour[problem.severity]}]"
                      f"{problem.severity}:[/] {escape(problem.message)}",
                      highlight=False, soft_wrap=True)
    if report.ok:
        levels = Table(title="Units per level", box=box.SIMPLE)
        for name in ("level", "column", "units"):
            levels.add_column(name, justify="right" if name == "units" else "left")
        for level, n in report.counts.items():
            levels.add_row(level, escape(report.codebook.ids[level]), f"{n:,}")
        console.print(levels)
        codes = Table(title="Missing codes per condition and outcome (counted at its level)",
                      caption="outcomes listed last", box=box.SIMPLE)
        for name in ("variable", "level", "scale", "units", "missing"):
            codes.add_column(name, justify="right" if name in ("units", "missing") else "left",
                             no_wrap=True)
        for kind in ("condition", "outcome"):
            for row in report.summary[report.summary["kind"] == kind].itertuples(index=False):
                share = f" ({row.missing / row.units:.0%})" if row.units else ""
                codes.add_row(escape(row.variable), row.level, row.scale,
                              f"{row.units:,}", f"{row.missing:,}{share}")
            codes.add_section()
        console.print(codes)
        if report.absent:
            console.print(f"{len(report.absent)} codebook condition(s) not in the file (not an "
                          f"error): {escape(', '.join(report.absent))}", highlight=False, soft_wrap=True)
    console.print(escape(report.headline()), highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
@user_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Data file to write (.csv or .parquet).")],
    seed: Annotated[int, typer.Option(help="Seed of the random numbers (same seed, same files).")],
    design: Annotated[Optional[Path], typer.Option(
        "--design", "-d", help="Design TOML (default: the shipped example study's design).")] = None,
    codebook: Annotated[Optional[Path], typer.Option(
        "--codebook", "-c", help="Codebook TOML (default: the shipped codebook).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
):
    """Simulate a case survey with known generating values.

    Writes the data, ``<stem>.truth.json`` beside it (generating values, design, seed) and,
    when the design has raters, ``<stem>.coded.csv``.
    """
    from data import save_simulation
    from data import simulate as run_simulation

    sim = run_simulation(design, codebook, seed=seed)
    paths = save_simulation(sim, out, overwrite=force)
    sizes = sim.truth["sizes"]
    console.print(
        f"wrote {', '.join(str(p) for p in paths.values())}: {sizes['individual']} respondents, "
        f"{sizes['network']} networks, {sizes['organisation']} organisations, "
        f"{sizes['alliance']} alliances; {sum(sim.truth['missing'].values())} missing codes; seed {seed}",
        highlight=False, soft_wrap=True)


@app.command()
@user_errors
def fit(
    data_file: Annotated[Path, typer.Argument(metavar="DATA", help="Wide case-survey file: CSV, Parquet or Excel.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to create.")],
    codebook: Annotated[Optional[Path], typer.Option(
        "--codebook", "-c", help="Codebook TOML (default: the shipped codebook).")] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="Run config TOML with sections model, priors and sampling (see README).")] = None,
    outcome: Annotated[Optional[str], typer.Option(help="Outcome to model (overrides the config).")] = None,
    family: Annotated[Optional[str], typer.Option(
        help="ordinal, gaussian, bernoulli or binomial (default: by the outcome's scale).")] = None,
    chains: Annotated[Optional[int], typer.Option(help="Chains (default 4).")] = None,
    draws: Annotated[Optional[int], typer.Option(help="Kept draws per chain (default 1000).")] = None,
    tune: Annotated[Optional[int], typer.Option(help="Tuning steps per chain (default 1000).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the run (default 0).")] = None,
    sampler: Annotated[Optional[str], typer.Option(help="nutpie (default) or pymc.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run directory.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the sampler's progress.")] = True,
):
    """Fit the hierarchical model to a case survey and save a run directory.

    The run directory holds posterior.nc, summary.json, config.toml, codebook.toml and
    data.parquet; `check` and `report` work from it without refitting.
    """
    import dataclasses
    import sys

    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from data import load_survey
    from models import ModelSpec, RunConfig, SpecError, check_run_target, check_spec, load_config, save_run
    from models import fit as fit_model

    check_run_target(out, force=force)  # before the long step, not after it
    run_config = load_config(config) if config is not None else None
    survey = load_survey(data_file, codebook)
    spec = run_config.spec if run_config is not None else None
    if outcome is None and spec is None:
        individual = [n for n, v in survey.codebook.outcomes.items() if v.level == "individual"]
        if len(individual) != 1:
            raise SpecError(str(data_file), [f"choose the outcome with --outcome (outcomes in the data: "
                                             f"{', '.join(individual) or 'none'})"])
        outcome = individual[0]
    if spec is None:
        spec = ModelSpec(outcome=outcome, family=family)
    else:
        spec = dataclasses.replace(spec, **{k: v for k, v in (("outcome", outcome), ("family", family))
                                            if v is not None})
    sampling = run_config.sampling if run_config is not None else RunConfig(spec).sampling
    overrides = {k: v for k, v in dict(chains=chains, draws=draws, tune=tune, seed=seed,
                                       sampler=sampler).items() if v is not None}
    sampling = dataclasses.replace(sampling, **overrides)
    problems = sampling.problems()
    if problems:
        raise SpecError("options", problems)
    # unknown conditions, family vs outcome: checked before sampling, named after the config
    spec = check_spec(spec, survey, source=str(config) if config is not None else str(data_file))

    tree = fit_model(spec, survey, chains=sampling.chains, draws=sampling.draws, tune=sampling.tune,
                     seed=sampling.seed, sampler=sampling.sampler,
                     target_accept=sampling.target_accept, progressbar=progress)
    command = " ".join(["alliance-learning", *sys.argv[1:]])
    run = save_run(out, tree, survey, RunConfig(spec, sampling), force=force, command=command)

    summary = run.summary
    table = Table(title=f"Effects on {spec.outcome} ({spec.family}), per SD of each condition",
                  caption=summary["interval"], box=box.SIMPLE)
    for name in ("condition", "level", "side", "mean", "sd", "hdi_3%", "hdi_97%"):
        numeric = name in ("mean", "sd", "hdi_3%", "hdi_97%")
        table.add_column(name, justify="right" if numeric else "left", no_wrap=True)
    for condition, effect in summary["effects"].items():
        s = effect["per_sd"]
        table.add_row(escape(condition), effect["level"], effect["side"],
                      *(f"{s[k]:.3f}" for k in ("mean", "sd", "hdi_3%", "hdi_97%")))
    console.print(table)
    d = summary["diagnostics"]
    bfmi = "n/a" if d["min_bfmi"] is None else f"{d['min_bfmi']:.2f}"
    console.print(f"diagnostics: max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
                  f"min tail ESS {d['min_ess_tail']:.0f}, {d['divergences']} divergences, "
                  f"min E-BFMI {bfmi}", highlight=False)
    console.print(f"run written to {escape(str(out))}", highlight=False, soft_wrap=True)
