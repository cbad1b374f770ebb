"""The ``alliance-learning`` command line: a thin layer over the Python API.

Every command catches the toolkit's own errors and prints them as plain lines (no
traceback) with a non-zero exit code. Ctrl-C (SIGINT) and SIGTERM end a command with one
line and exit 130 or 143; whatever it was writing is removed (see :mod:`data.files`), and
sub-model workers end with it. Output locations are checked before any work. Logging
handlers are configured here, never in the library.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import signal
import threading
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

# options shared by several commands (one definition each)
CodebookOption = Annotated[Optional[Path], typer.Option(
    "--codebook", "-c", help="Codebook TOML (default: the shipped codebook).")]
ConfigOption = Annotated[Optional[Path], typer.Option(
    "--config", help="Run config TOML with sections model, priors and sampling (see README).")]
OutcomeOption = Annotated[Optional[str], typer.Option(help="Outcome to model (overrides the config).")]
CollapseOption = Annotated[Optional[str], typer.Option(
    help="For --form coded: collapse the raters' codes by median, mean or mode and treat them "
         "as exact (default: the rater model, which measures each coded condition's true score "
         "with each rater's severity, so that coding error is in the results).")]
# the defaults named here are models.FitOptions' (not imported: pymc would slow every command)
ChainsOption = Annotated[Optional[int], typer.Option(help="Chains (default 4).")]
DrawsOption = Annotated[Optional[int], typer.Option(help="Kept draws per chain (default 2000).")]
TuneOption = Annotated[Optional[int], typer.Option(help="Tuning steps per chain (default 1000).")]
SeedOption = Annotated[Optional[int], typer.Option(help="Seed of the run (default 0).")]
# how the data file is read (data.io.read_rows): detected unless given
SheetOption = Annotated[Optional[str], typer.Option(help="Excel sheet (default: the first).")]
EncodingOption = Annotated[Optional[str], typer.Option(
    help="CSV encoding, e.g. utf-8, cp1252, latin-1, utf-16 (default: detected).")]
SepOption = Annotated[Optional[str], typer.Option(
    "--sep", help="CSV delimiter: ',', ';', 'tab' or '|' (default: detected).")]
FamilyOption = Annotated[Optional[str], typer.Option(
    help="ordinal, gaussian, bernoulli or binomial (default: by the outcome's scale).")]
SamplerOption = Annotated[Optional[str], typer.Option(help="nutpie (default) or pymc.")]
ReplaceRunOption = Annotated[bool, typer.Option("--force", help="Replace an existing run directory.")]
# jax: nutpie's JAX backend (models.fit), for large surveys on a GPU; needs the extra "jax"
BackendOption = Annotated[Optional[str], typer.Option(
    help="How nutpie compiles the model: numba (default, CPU) or jax (JAX backend, e.g. on a "
         "GPU; pip install 'alliance-learning\\[jax]').")]
# the options of the checks (analysis.check_run), shared by check, run and demo
RopeOption = Annotated[float, typer.Option(
    help="Half-width of the region of practical equivalence of the share difference.")]
ThresholdOption = Annotated[float, typer.Option(
    help="Posterior probability needed for a dominance verdict.")]
DominanceOption = Annotated[bool, typer.Option(
    "--dominance/--no-dominance", help="Bayesian dominance analysis of the level groups "
    "(2^p - 2 sub-model fits for p levels: 14 for four).")]
LooOption = Annotated[bool, typer.Option(
    "--loo/--no-loo", help="PSIS-LOO comparison with the one-side and null sub-models.")]
SensitivityOption = Annotated[bool, typer.Option(
    "--sensitivity/--no-sensitivity", help="Power-scaling prior sensitivity.")]
WorkersOption = Annotated[Optional[int], typer.Option(
    help="Parallel processes for the sub-model fits (default: one per CPU).")]
# executor: the sub-model fits on a Dask cluster instead of local processes (models.jobs)
SchedulerOption = Annotated[Optional[str], typer.Option(
    help="Address of a Dask scheduler (tcp://host:8786) to run the sub-model fits on instead "
         "of local processes; same seeds, same results.")]
ProgressOption = Annotated[bool, typer.Option("--progress/--no-progress",
                                              help="Show the sampler's progress bar.")]

err_console = Console(stderr=True)

# Errors a user can fix; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, FileExistsError, KeyError,
                                            IsADirectoryError, NotADirectoryError, PermissionError)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived.

    Not a KeyboardInterrupt: the sampler (nutpie) answers that by returning the draws so far,
    which must not be saved as a run.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _interrupt(signum, frame):
    raise Interrupted(signum)


def user_errors(func):
    """Print a user error as plain text and exit 2 instead of showing a traceback.

    While the command runs, SIGINT and SIGTERM raise :class:`Interrupted`, so that files
    being written are cleaned up; the command then exits 128 + the signal's number.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            # escaped: messages quote TOML tables such as [model], which are not markup
            err_console.print(f"[bold red]error:[/] {escape(str(message))}", markup=True, highlight=False,
                              soft_wrap=True)  # one line, whatever the terminal's width
            raise typer.Exit(code=2) from None
        except (Interrupted, KeyboardInterrupt) as err:
            signum = getattr(err, "signum", signal.SIGINT)
            err_console.print(f"interrupted ({signal.Signals(signum).name}): stopped; nothing "
                              "half-written was kept", highlight=False, soft_wrap=True)
            raise typer.Exit(code=128 + signum) from None
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    return wrapper


def _example(command: str) -> str:
    """The epilog that ends a command's --help: one example call."""
    return f"Example: {command}"


def _inputs(**options) -> None:
    """Check that each input option names a file (not a folder), before any work."""
    from data.files import check_input_file

    for option, path in options.items():
        check_input_file(path, option="--" + option.replace("_", "-"))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False):
    """Validate, fit, check and report hierarchical models of case-survey data."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command(epilog=_example("alliance-learning validate survey.csv --codebook codebook.toml"))
@user_errors
def validate(
    file: Annotated[Path, typer.Argument(
        help="Case-survey file (wide, or a coding sheet with --form coded): CSV, Parquet or Excel.")],
    codebook: CodebookOption = None,
    sheet: SheetOption = None,
    encoding: EncodingOption = None,
    sep: SepOption = None,
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

    _inputs(codebook=codebook)
    report = validate_file(file, codebook, sheet=sheet, form=form, collapse=collapse,
                           encoding=encoding, sep=sep)
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


@app.command(epilog=_example("alliance-learning simulate --out sim/survey.csv --seed 1"))
@user_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Data file to write (.csv or .parquet).")],
    seed: Annotated[int, typer.Option(help="Seed of the random numbers (same seed, same files).")],
    design: Annotated[Optional[Path], typer.Option(
        "--design", "-d", help="Design TOML (default: the shipped example study's design).")] = None,
    codebook: CodebookOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
):
    """Simulate a case survey with known generating values.

    Writes the data, ``<stem>.truth.json`` beside it (generating values, design, seed) and,
    when the design has raters, ``<stem>.coded.csv``.
    """
    from data import save_simulation
    from data import simulate as run_simulation
    from data.files import check_output_file

    _inputs(design=design, codebook=codebook)
    check_output_file(out, option="--out", force=force, inputs=(design, codebook))
    sim = run_simulation(design, codebook, seed=seed)
    paths = save_simulation(sim, out, overwrite=force)
    sizes = sim.truth["sizes"]
    console.print(
        f"wrote {', '.join(str(p) for p in paths.values())}: {sizes['individual']} respondents, "
        f"{sizes['network']} networks, {sizes['organisation']} organisations, "
        f"{sizes['alliance']} alliances; {sum(sim.truth['missing'].values())} missing codes; seed {seed}",
        highlight=False, soft_wrap=True)


# -- fit: the process's garbage collector (see entry_point) ------------------------------
@contextlib.contextmanager
def _lasting_imports():
    """Keep what the imports made inside this block out of the garbage collector's passes.

    A command's scientific stack (pandas, PyMC, PyTensor, numba, nutpie, arviz, ...) is
    ~350,000 objects that live until the process exits and almost no garbage, yet each
    full pass of the collector traverses all of them: a `fit` at 2,000 respondents made 8
    full passes, 6 of them while importing, ~1.1 s of CPU (0.1 s with this;
    tests/benchmarks/README.md, "Session 9"). The collector is paused while importing and
    the imported objects are then moved to its permanent generation (``gc.freeze``): they
    stay alive as they would, and are not traversed again. Garbage made before the block
    (e.g. while reading a large survey) is collected first, so that only what is alive is
    frozen. Only where the command is its process's only job (:func:`entry_point`); in a
    longer-lived process (tests, a notebook calling ``app``) nothing changes, since frozen
    objects are never collected.
    """
    if not _WHOLE_PROCESS:
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@app.command(epilog=_example("alliance-learning fit survey.csv --codebook codebook.toml --out runs/r1 "
                             "--family gaussian --draws 1000"))
@user_errors
def fit(
    data_file: Annotated[Path, typer.Argument(metavar="DATA", help="Case-survey file: CSV, Parquet or Excel.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to create.")],
    codebook: CodebookOption = None,
    sheet: SheetOption = None,
    encoding: EncodingOption = None,
    sep: SepOption = None,
    config: ConfigOption = None,
    form: Annotated[str, typer.Option(
        help="wide: one row per individual; coded: the raters' coding sheet (long form).")] = "wide",
    collapse: CollapseOption = None,
    outcome: OutcomeOption = None,
    family: FamilyOption = None,
    chains: ChainsOption = None,
    draws: DrawsOption = None,
    tune: TuneOption = None,
    seed: SeedOption = None,
    sampler: SamplerOption = None,
    force: ReplaceRunOption = False,
    progress: ProgressOption = True,
    backend: BackendOption = None,
):
    """Fit the hierarchical model to a case survey and save a run directory.

    The run directory holds posterior.nc, summary.json, config.toml, codebook.toml and
    data.parquet; `check` and `report` work from it without refitting.
    """
    import sys

    from rich.markup import escape

    with _lasting_imports():
        from data import load_coded, load_survey
        from models import fit as fit_model
        from models import load_config, save_run
        from models.run import check_run_target
        from reports.pipeline import resolve_config

    _inputs(codebook=codebook, config=config)
    # before the long step, not after it
    check_run_target(out, force=force, inputs=(data_file, codebook, config))
    run_config = load_config(config) if config is not None else None  # a broken config first
    if form not in ("wide", "coded"):
        raise typer.BadParameter(f"--form must be wide or coded, got {form!r}")
    read_options = {"sheet": sheet, "encoding": encoding, "sep": sep}
    if form == "coded":  # the rater model unless --collapse names a rule
        coded = load_coded(data_file, codebook, collapse=collapse or "median", **read_options)
        survey = coded.with_raters() if collapse is None else coded.survey
    else:
        survey = load_survey(data_file, codebook, **read_options)
    # the options on top of the config, checked against the data before sampling (as `run` does)
    run_config = resolve_config(survey, config=run_config, outcome=outcome, family=family,
                                chains=chains, draws=draws, tune=tune, seed=seed, sampler=sampler,
                                source=str(config) if config is not None else str(data_file),
                                backend=backend)
    spec, sampling = run_config.spec, run_config.sampling
    if sampling.sampler == "nutpie":  # imported by the compile step anyway: arviz, matplotlib, scipy.stats
        with _lasting_imports():
            import nutpie  # noqa: F401

    tree = fit_model(spec, survey, chains=sampling.chains, draws=sampling.draws, tune=sampling.tune,
                     seed=sampling.seed, sampler=sampling.sampler,
                     target_accept=sampling.target_accept, progressbar=progress,
                     backend=sampling.backend)
    command = " ".join(["alliance-learning", *sys.argv[1:]])
    run = save_run(out, tree, survey, run_config, force=force, command=command)

    summary = run.summary
    console.print(_effects_table(summary, spec.outcome, spec.family))
    if "raters" in summary:  # the rater model: each rater's mean severity over its conditions
        shown = ", ".join(f"{escape(r)} {v['severity']['mean']:+.2f} [{v['severity']['lower']:+.2f}, "
                          f"{v['severity']['upper']:+.2f}]" for r, v in summary["raters"].items())
        console.print(f"measurement: rater model; severity (true-score SDs, {summary['interval']}): {shown}",
                      highlight=False, soft_wrap=True)
        split = [c for c, o in summary["rater_model"].get("overlap", {}).items() if not o["connected"]]
        if split:
            console.print(f"[bold red]raters do not overlap[/] on {escape(', '.join(split))}: their "
                          "severities are compared through the prior only", soft_wrap=True)
    d = summary["diagnostics"]
    bfmi = "n/a" if d["min_bfmi"] is None else f"{d['min_bfmi']:.2f}"
    console.print(f"diagnostics: max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
                  f"min tail ESS {d['min_ess_tail']:.0f}, {d['divergences']} divergences, "
                  f"min E-BFMI {bfmi}", highlight=False)
    _print_sampling(summary.get("sampling"), always=True)
    console.print(f"run written to {escape(str(out))}", highlight=False, soft_wrap=True)


def _effects_table(summary: dict, outcome: str, family: str):
    """summary.json's effects on the linear predictor: per SD, a binary condition 0 -> 1.

    One SD of a 0/1 code is no meaningful step (summary.json marks such a condition
    ``binary``): its row shows ``per_unit``, the 0 -> 1 contrast, as brms or bambi would.
    """
    from rich import box
    from rich.table import Table

    effects = summary["effects"]
    binary = any(e.get("binary") for e in effects.values())  # runs before the field: none
    title = f"Effects on {outcome} ({family}), per SD of each condition"
    table = Table(title=title + (", 0 → 1 of a binary one" if binary else ""),
                  caption=summary["interval"], box=box.SIMPLE)
    for name in ("condition", "level", "side", "per", "mean", "sd", "lower", "upper"):
        numeric = name in ("mean", "sd", "lower", "upper")
        # in a narrow terminal the numbers stay whole and a long condition name folds
        table.add_column(name, justify="right" if numeric else "left", no_wrap=numeric or name == "per",
                         overflow="fold" if name == "condition" else "ellipsis")
    for condition, effect in effects.items():
        step, s = ("0→1", effect["per_unit"]) if effect.get("binary") else ("SD", effect["per_sd"])
        table.add_row(escape(condition), effect["level"], effect["side"], step,
                      *(f"{s[k]:.3f}" for k in ("mean", "sd", "lower", "upper")))
    return table


def _print_sampling(record, *, always: bool = False) -> None:
    """What the sampler did (models.extend): every time, or only when a gate was missed."""
    from models.extend import PASSED, sampling_note

    note = sampling_note(record)
    if note and (always or record.get("outcome") != PASSED):
        console.print(f"sampling: {escape(note)}", highlight=False, soft_wrap=True)


# -- report, run, demo: the main job (reports.pipeline) ----------------------------------------
def _step_reporter(total: int = 4):
    """A step reporter for reports.pipeline: a rule per step, a spinner while it works.

    The fit step gets no spinner: the sampler draws its own progress bar there.
    """
    import contextlib
    import time

    @contextlib.contextmanager
    def step(number: int, name: str):
        console.rule(f"[bold]{number}/{total} {name}", align="left")
        started = time.perf_counter()
        if name == "fit":
            yield
        else:
            with console.status(f"{name}..."):
                yield
        console.print(f"{name}: done in {time.perf_counter() - started:.0f} s", highlight=False)

    return step


def _number(value, spec: str = ".3f") -> str:
    """Format a number for the terminal; NaN reads as NaN, never as a plausible value."""
    value = float(value)
    return "NaN" if value != value else format(value, spec)


def _say(line: str) -> None:
    console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)


_VERDICT_COLOURS = {"interpersonal dominates": "green", "interorganisational dominates": "green",
                    "inconclusive": "yellow", "not trustworthy": "red", "not applicable": "yellow"}


def _print_verdict(checks) -> None:
    """The verdict with the probability it rests on, and the interpersonal share's interval."""
    verdict = checks.verdict
    if verdict is None:
        console.print("verdict: [bold red]not computed[/] (see the failed parts above)", highlight=False)
        return
    colour = _VERDICT_COLOURS.get(verdict.verdict, "white")
    rest = verdict.headline()[len(verdict.verdict):]  # the probability, or why there is none
    console.print(f"verdict: [bold {colour}]{escape(verdict.verdict)}[/]{escape(rest)}",
                  highlight=False, soft_wrap=True)
    shares = checks.shares()
    if shares is not None and "side_share" in shares:
        row = shares["side_share"].sel(side="interpersonal")
        console.print(f"  interpersonal share {_number(row.sel(stat='mean'))} "
                      f"[{_number(row.sel(stat='lower'))}, {_number(row.sel(stat='upper'))}] "
                      f"({_number(shares.attrs.get('ci_prob', float('nan')), '.0%')} "
                      f"{shares.attrs.get('interval')}; Pratt share of the fixed part)",
                      highlight=False, soft_wrap=True)


def _print_raters(checks) -> None:
    """The rater model's agreement per condition beside Krippendorff's alpha, and overlap."""
    if checks.raters is None:
        return
    table = checks.raters.agreement_table()
    alpha = table.get("Krippendorff's alpha")
    console.print("rater agreement (model, Krippendorff's alpha): " + ", ".join(
        f"{escape(c)} {row['agreement mean']:.2f} [{row['agreement lower']:.2f}, "
        f"{row['agreement upper']:.2f}]" + ("" if alpha is None else f" alpha {_number(row[alpha.name], '.2f')}")
        for c, row in table.iterrows()), highlight=False, soft_wrap=True)
    split = checks.raters.split_conditions()
    if split:
        console.print(f"[bold red]raters do not overlap[/] on {escape(', '.join(split))}: their "
                      "severities are compared through the prior only", soft_wrap=True)


def _print_result(result) -> None:
    checks = result.checks
    console.rule("[bold]result", align="left")
    _print_raters(checks)
    _print_verdict(checks)
    _print_sampling(result.run.summary.get("sampling"))
    if not checks.trustworthy:
        failed = ", ".join(r.gate.label for r in checks.gate_results if not r.passed)
        console.print(f"  failed diagnostic gate(s): {escape(failed)}; refit with more --tune/--draws "
                      "before reading the shares", highlight=False, soft_wrap=True)
    console.print(f"run directory: {escape(str(result.run_dir))}", highlight=False, soft_wrap=True)
    console.print(f"report: [bold]{escape(str(result.report.resolve()))}[/]", highlight=False,
                  soft_wrap=True)


@app.command(epilog=_example("alliance-learning report runs/r1"))
@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="Run directory (from fit, run or demo).")],
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="HTML file to write (default: RUN_DIR/report.html).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing report file.")] = False,
):
    """Render one self-contained HTML report of a run.

    The report shows the data and coding reliability, model and priors, diagnostics,
    effects, variance shares, the verdict, the dominance analysis of the level groups,
    predictive checks (overall, per group, LOO-PIT), LOO, prior sensitivity and provenance.
    It uses the run's checks (RUN_DIR/checks/checks.json); a run without them is checked
    first and the checks are saved in the run directory.
    """
    from analysis import check_run, save_checks
    from data.files import check_output_file
    from models import load_run
    from reports.context import build_context
    from reports.html import render_report

    run = load_run(run_dir)
    inputs = [run_dir / name for name in ("summary.json", "data.parquet", "checks/checks.json")]
    if out is None:
        out = check_output_file(run_dir / "report.html", option=None, force=force, inputs=inputs)
    else:
        out = check_output_file(out, option="--out", force=force, inputs=inputs)
    checks = _saved_checks(run_dir)
    if checks is None:
        with console.status("no checks yet: checking the run..."):
            checks = check_run(run, progress=_say)
            save_checks(checks, run_dir)
        console.print(f"checks saved in {escape(str(run_dir / 'checks'))}", highlight=False, soft_wrap=True)
    with console.status("rendering the report..."):
        path = render_report(build_context(run, checks), out, overwrite=force)
    _print_verdict(checks)
    console.print(f"report written to {escape(str(path))}", highlight=False, soft_wrap=True)


def _saved_checks(run_dir: Path):
    """The run's saved checks, None when it has none; a damaged checks.json is one error line."""
    from models import RunError
    from reports.context import load_checks_json

    path = run_dir / "checks" / "checks.json"
    try:
        checks = load_checks_json(run_dir)
        if isinstance(checks, dict):  # the parts the report and this command read directly
            verdict = checks.get("verdict")
            if not isinstance(verdict, dict) or not isinstance(verdict.get("verdict"), str):
                raise ValueError("no verdict")
            bad = [k for k in ("settings", "diagnostics") if not isinstance(checks.get(k), dict)]
            if bad:
                raise ValueError(f"{', '.join(bad)}: missing or not an object")
        elif checks is not None and not hasattr(checks, "verdict"):
            raise ValueError(f"holds a JSON {type(checks).__name__}, not an object")
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise RunError(f"{path}: damaged or not written by this toolkit ({reason}); redo the checks "
                       f"(`alliance-learning check {run_dir} --force`)") from None
    return checks


@app.command("run", epilog=_example("alliance-learning run survey.csv --codebook codebook.toml --out runs/r1 "
                                    "--draws 1000 --no-dominance"))
@user_errors
def run_command(
    data_file: Annotated[Path, typer.Argument(metavar="DATA", help="Case-survey file: CSV, Parquet or Excel.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to create (holds the report).")],
    codebook: CodebookOption = None,
    sheet: SheetOption = None,
    encoding: EncodingOption = None,
    sep: SepOption = None,
    config: ConfigOption = None,
    form: Annotated[str, typer.Option(
        help="wide: one row per individual; coded: the raters' coding sheet (long form).")] = "wide",
    collapse: CollapseOption = None,
    outcome: OutcomeOption = None,
    family: FamilyOption = None,
    chains: ChainsOption = None,
    draws: DrawsOption = None,
    tune: TuneOption = None,
    seed: SeedOption = None,
    sampler: SamplerOption = None,
    force: ReplaceRunOption = False,
    rope: RopeOption = 0.05,
    threshold: ThresholdOption = 0.95,
    dominance: DominanceOption = True,
    loo: LooOption = True,
    sensitivity: SensitivityOption = True,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    progress: ProgressOption = True,
    backend: BackendOption = None,
):
    """Validate, fit, check and report a case survey: the whole job in one command.

    Writes the run directory (as `fit` does), its checks (as `check` does) and
    DIR/report.html, and prints the verdict and where the report is. Takes every option
    of `fit` and of `check`.
    """
    from reports.pipeline import command_line, run_pipeline

    _inputs(codebook=codebook, config=config)
    check_options = _check_options(rope=rope, threshold=threshold, dominance=dominance, loo=loo,
                                   sensitivity=sensitivity, workers=workers, scheduler=scheduler)
    command = command_line("run", data_file, out=out, codebook=codebook, sheet=sheet,
                           encoding=encoding, sep=sep, config=config,
                           form=None if form == "wide" else form,
                           collapse=collapse, outcome=outcome, family=family,
                           chains=chains, draws=draws, tune=tune, seed=seed, sampler=sampler,
                           backend=backend,
                           force=force, **_check_flags(check_options, dominance_default=True))
    result = run_pipeline(data_file, out, codebook=codebook, config=config, form=form,
                          collapse=collapse, outcome=outcome, family=family, chains=chains,
                          draws=draws, tune=tune, seed=seed, sampler=sampler, force=force,
                          command=command, step=_step_reporter(), say=_say,
                          sampler_progress=progress, check_options=check_options, backend=backend,
                          read_options={"sheet": sheet, "encoding": encoding, "sep": sep})
    _print_result(result)


@app.command(epilog=_example("alliance-learning demo --out out/demo --draws 500 --no-sensitivity --force"))
@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to create.")] = Path("out/demo"),
    config: ConfigOption = None,
    outcome: OutcomeOption = None,
    family: FamilyOption = None,
    chains: ChainsOption = None,
    draws: DrawsOption = None,
    tune: TuneOption = None,
    seed: SeedOption = None,
    sampler: SamplerOption = None,
    force: ReplaceRunOption = False,
    rope: RopeOption = 0.05,
    threshold: ThresholdOption = 0.95,
    dominance: DominanceOption = False,
    loo: LooOption = True,
    sensitivity: SensitivityOption = True,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    progress: ProgressOption = True,
    backend: BackendOption = None,
):
    """Run the whole job on the shipped, simulated example survey.

    Like `run data/example/survey.csv --out out/demo`: validate, fit, check and write
    out/demo/report.html. An existing out/demo is kept unless --force is given. Takes
    every option of `fit` and of `check`.

    The demo centres the alliance effects, keeps 2000 draws per chain
    (reports.pipeline.DEMO_CONFIG) and skips the dominance analysis unless --dominance.
    """
    from reports.pipeline import DEMO_CHECKS, DEMO_CONFIG, command_line, run_demo

    _inputs(config=config)
    check_options = {**DEMO_CHECKS, **_check_options(
        rope=rope, threshold=threshold, dominance=dominance, loo=loo, sensitivity=sensitivity,
        workers=workers, scheduler=scheduler)}
    command = command_line("demo", out=out, config=config, outcome=outcome, family=family,
                           chains=chains, draws=draws, tune=tune, seed=seed, sampler=sampler,
                           backend=backend,
                           force=force, **_check_flags(check_options, dominance_default=False))
    result = run_demo(out, config=config if config is not None else DEMO_CONFIG, outcome=outcome,
                      family=family, chains=chains, draws=draws, tune=tune, seed=seed,
                      sampler=sampler, force=force, command=command, step=_step_reporter(),
                      say=_say, sampler_progress=progress, check_options=check_options,
                      backend=backend)
    _print_result(result)


def _check_options(*, rope: float, threshold: float, dominance: bool, loo: bool,
                   sensitivity: bool, workers: int | None, scheduler: str | None = None) -> dict:
    """The keyword arguments of analysis.check_run from the check options, checked first."""
    if not 0.5 < threshold <= 1:
        raise ValueError(f"--threshold must lie in (0.5, 1], got {threshold}")
    if rope < 0:
        raise ValueError(f"--rope must be >= 0, got {rope}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if scheduler is not None:  # a wrong address before any work, not after the fit
        from models.jobs import check_scheduler

        check_scheduler(scheduler)
    return {"rope": rope, "prob_threshold": threshold, "dominance": dominance, "loo": loo,
            "sensitivity": sensitivity, "workers": workers, "scheduler": scheduler}


def _check_flags(options: dict, *, dominance_default: bool) -> dict:
    """The check options that differ from their defaults, as command_line() flags."""
    flags = {"rope": None if options["rope"] == 0.05 else options["rope"],
             "threshold": None if options["prob_threshold"] == 0.95 else options["prob_threshold"],
             "workers": options["workers"], "scheduler": options.get("scheduler"),
             "no_loo": not options["loo"],
             "no_sensitivity": not options["sensitivity"]}
    if options["dominance"] != dominance_default:
        flags["dominance" if options["dominance"] else "no_dominance"] = True
    return flags


# -- check: the posterior checks of a saved run (analysis.check_run) ---------------------------
@app.command(epilog=_example("alliance-learning check runs/r1 --no-dominance --rope 0.1 --workers 2"))
@user_errors
def check(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="Run directory (from fit, run or demo).")],
    rope: RopeOption = 0.05,
    threshold: ThresholdOption = 0.95,
    dominance: DominanceOption = True,
    loo: LooOption = True,
    sensitivity: SensitivityOption = True,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the sub-model fits (default: the run's).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the run's earlier checks.")] = False,
):
    """Check a fitted run: diagnostics, variance shares, the verdict and the posterior checks.

    Writes RUN_DIR/checks/checks.json and the figures (PNG), and prints the shares by side
    and level with their intervals, P(interpersonal > interorganisational) and the verdict.
    Exits 0 when the run passes its diagnostic gates, 3 when the verdict is `not
    trustworthy` (refit with more tuning or draws), 2 on a usage error.
    """
    import os

    from rich import box
    from rich.table import Table

    from analysis import check_run, save_checks
    from analysis.checks import check_checks_target
    from data.constants import SAMPLE_DIMS
    from models import load_run

    options = _check_options(rope=rope, threshold=threshold, dominance=dominance, loo=loo,
                             sensitivity=sensitivity, workers=workers, scheduler=scheduler)
    run = load_run(run_dir)
    check_checks_target(run_dir, force=force)  # before the long step, not after it
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"{run_dir}: the run directory is not writable; the checks could not be saved")
    checks = check_run(run, seed=seed, progress=_say, **options)
    where = save_checks(checks, run_dir, force=force)

    shares = checks.shares()
    if shares is not None:
        interval = f"{shares.attrs['ci_prob']:.0%} interval"
        table = Table(title=f"Variance shares of {escape(str(checks.settings.get('outcome')))} "
                            f"(posterior mean and {interval})",
                      caption="fixed part: Pratt share of Var(eta_fixed); of total: with group "
                              "variances and the residual", box=box.SIMPLE)
        for name in ("side / level", "fixed part", "of total"):
            table.add_column(name, justify="left" if name == "side / level" else "right",
                             no_wrap=True)

        def cells(da, **where):
            row = da.sel(**where)
            return (f"{_number(row.sel(stat='mean'))} "
                    f"[{_number(row.sel(stat='lower'))}, {_number(row.sel(stat='upper'))}]",)

        for side in shares["side"].values:
            table.add_row(f"[bold]{side}[/]", *cells(shares["side_share"], side=side),
                          *cells(shares["side_share_of_total"], side=side))
        table.add_section()
        for level in shares["level"].values:
            table.add_row(str(level), *cells(shares["share"], level=level),
                          *cells(shares["share_of_total"], level=level))
        console.print(table)
    verdict = checks.verdict
    if verdict is not None and verdict.applicable:
        console.print(f"P(interpersonal share > interorganisational share) = "
                      f"{_number(verdict.p_interpersonal_greater)}; P(difference > rope {rope:g}) = "
                      f"{_number(verdict.p_interpersonal_dominates)}; P(difference < -rope) = "
                      f"{_number(verdict.p_interorganisational_dominates)}", highlight=False,
                      soft_wrap=True)
    if checks.dominance is not None:
        ranking = checks.dominance.ranking
        general = checks.dominance.general_share.mean(SAMPLE_DIMS)
        console.print("dominance analysis (share of R2, general dominance): " + ", ".join(
            f"{level} {_number(general.sel(level=level), '.2f')}" for level in ranking),
            highlight=False)
    if checks.loo is not None:
        console.print(f"PSIS-LOO: best model {checks.loo.best}"
                      + ("" if checks.loo.reliable else " (high Pareto k: unreliable)"), highlight=False)
    _print_raters(checks)
    for name, why in checks.skipped.items():
        console.print(f"{name}: skipped ({escape(why)})", highlight=False, soft_wrap=True)
    for name, error in checks.errors.items():
        console.print(f"[yellow]{name}: FAILED ({escape(error)})[/]", highlight=False, soft_wrap=True)
    if checks.errors:
        console.print("  (run with -v for the tracebacks)", highlight=False)
    _print_verdict(checks)
    _print_sampling(run.summary.get("sampling"))
    if not checks.trustworthy:
        failed = ", ".join(str(r) for r in checks.gate_results if not r.passed)
        console.print(f"  failed gate(s): {escape(failed)}; refit with more --tune/--draws",
                      highlight=False, soft_wrap=True)
    console.print(f"checks written to {escape(str(where))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=checks.exit_code)


# -- power: design analysis of a planned case survey (analysis.power) --------------------------
@app.command(epilog=_example("alliance-learning power --design design.toml --out power/study "
                             "--alliances 20,30,50,80 --sims 50 --workers 4"))
@user_errors
def power(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Study folder: created, or a folder of an earlier power study, which is "
                            "resumed (only missing simulations are fitted).")],
    design: Annotated[Optional[Path], typer.Option(
        "--design", "-d", help="Design TOML of the planned study and its truth (default: the "
                               "shipped example study's design).")] = None,
    alliances: Annotated[str, typer.Option(
        help="Design points: numbers of alliances, comma-separated.")] = "20,30,50,80",
    sims: Annotated[int, typer.Option(help="Simulated surveys per design point.")] = 50,
    target: Annotated[float, typer.Option(
        help="Target P(correct decisive verdict) of 'what would it take'.")] = 0.8,
    codebook: CodebookOption = None,
    config: ConfigOption = None,
    chains: ChainsOption = None,
    draws: DrawsOption = None,
    tune: TuneOption = None,
    seed: Annotated[Optional[int], typer.Option(
        help="Base seed of the simulations and fits (default 0).")] = None,
    sampler: SamplerOption = None,
    rope: RopeOption = 0.05,
    threshold: ThresholdOption = 0.95,
    workers: Annotated[Optional[int], typer.Option(
        help="Parallel processes (default: one per CPU); 1 fits in this process.")] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        help="Address of a Dask scheduler (e.g. tcp://10.0.0.5:8786) to run the fits on.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress",
                                           help="Show progress bars.")] = True,
):
    """Plan a study: how often would the verdict be right with this design?

    For each number of alliances, simulates surveys from the design's truth, fits and
    checks each one, and writes DIR/power.csv (the proportion of correct, wrong-side,
    inconclusive and not trustworthy verdicts with 95% Wilson intervals, and the width of
    the share's interval), DIR/power.png and DIR/power.html, and prints the smallest number
    of alliances reaching --target. Every simulation is stored in DIR/simulations under a
    key of its inputs: rerun the same command to resume, or with more --sims or design
    points to add to it.
    """
    import sys

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from analysis.power import BINOMIAL_PROB, OUTCOME_LABELS, OUTCOMES, PowerStudy, run_power_study
    from data import load_codebook, load_design
    from data.simulate import example_design_path
    from models import FitOptions, ModelSpec, load_config
    from reports.pipeline import resolve_config
    from reports.power import PAGE_FILE, render_power_page

    _inputs(design=design, codebook=codebook, config=config)
    if not out.is_dir():  # a new study folder: its location checked before any work, as every --out
        from data.files import check_output_dir

        check_output_dir(out, option="--out")
    try:
        points = [int(a) for a in alliances.split(",") if a.strip()]
    except ValueError:
        raise ValueError(f"--alliances must be whole numbers separated by commas, got {alliances!r}") from None
    if not points:
        raise ValueError("--alliances: give at least one number of alliances")
    if not 0 < target < 1:
        raise ValueError(f"--target must lie in (0, 1), got {target}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if sims < 1:
        raise ValueError(f"--sims must be at least 1, got {sims}")
    if not 0.5 < threshold <= 1:
        raise ValueError(f"--threshold must lie in (0.5, 1], got {threshold}")
    if scheduler is not None:  # a wrong address before any work
        from models.jobs import check_scheduler

        check_scheduler(scheduler)
    run_config = load_config(config) if config is not None else None
    the_design = load_design(design if design is not None else example_design_path())
    the_codebook = load_codebook(codebook)
    the_design.check(the_codebook)
    # the model and the sampling options checked on one simulated survey, before any fit
    trial = PowerStudy(design=the_design, alliances=tuple(points), sims=sims,
                       codebook=the_codebook, spec=ModelSpec(outcome=the_design.outcome),
                       sampling=FitOptions(), rope=rope, threshold=threshold).trial_survey()
    run_config = resolve_config(trial, config=run_config,
                                outcome=the_design.outcome if run_config is None else None,
                                chains=chains, draws=draws, tune=tune, seed=seed, sampler=sampler,
                                source=str(config) if config is not None else str(design or "the design"))
    study = PowerStudy(design=the_design, alliances=tuple(points), sims=sims, codebook=the_codebook,
                       spec=run_config.spec, sampling=run_config.sampling, rope=rope,
                       threshold=threshold)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not progress) as bars:
        tasks = {a: bars.add_task(f"{a} alliances", total=study.sims) for a in study.alliances}

        def started(stored: int, to_fit: int) -> None:
            console.print(f"{stored} simulation(s) stored in {escape(str(out))} already, {to_fit} to "
                          f"fit ({study.sampling.chains} chains x {study.sampling.draws} draws each)",
                          highlight=False, soft_wrap=True)

        def done(record: dict, fitted: bool) -> None:
            bars.advance(tasks[record["alliances"]])

        result = run_power_study(study, out, workers=workers, scheduler=scheduler, target=target,
                                 on_start=started, on_result=done)
    page = render_power_page(result, result.paths["table"].parent / PAGE_FILE,
                             command=" ".join(["alliance-learning", *sys.argv[1:]]))

    console.print(f"Power by design point ({BINOMIAL_PROB:.0%} Wilson intervals):", highlight=False)
    for row in result.table.itertuples(index=False):
        rates = ", ".join(
            f"{OUTCOME_LABELS[name]} {getattr(row, 'p_' + name):.2f} "
            f"[{getattr(row, f'p_{name}_lower'):.2f}, {getattr(row, f'p_{name}_upper'):.2f}]"
            for name in OUTCOMES)
        console.print(f"  {row.alliances} alliances ({row.sims} simulations; truth: {escape(row.truth)}): "
                      f"{rates}; share interval width {_number(row.width_mean)}",
                      highlight=False, soft_wrap=True)
    console.print(f"what would it take: {escape(result.answer.text)}", highlight=False, soft_wrap=True)
    console.print(f"{result.fitted} simulation(s) fitted, {result.reused} reused, in "
                  f"{result.seconds:.0f} s; wrote {escape(str(result.paths['table']))}, "
                  f"{escape(str(result.paths['figure']))} and {escape(str(page))}",
                  highlight=False, soft_wrap=True)


# -- the console script -------------------------------------------------------------------
# True in the `alliance-learning` process (entry_point), where the command is the process's only
# job; False where `app` is called inside a longer-lived process (tests, a notebook)
_WHOLE_PROCESS = False


def entry_point() -> None:
    """The ``alliance-learning`` console script: run ``app`` as this process's only job.

    After the command, everything still alive is frozen out of the garbage collector
    (``gc.freeze``): the interpreter's shutdown passes would otherwise traverse it all
    before the process ends, ~1 s of a `fit` command at 2,000 respondents (0.1 s with
    this; tests/benchmarks/README.md, "Session 9"). The command has written and closed its
    files by then; the operating system frees the memory.
    """
    global _WHOLE_PROCESS
    _WHOLE_PROCESS = True
    try:
        app()
    finally:
        gc.freeze()
