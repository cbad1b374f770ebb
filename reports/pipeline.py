"""The main job as one call: validate -> fit -> check -> report (DESIGN.md §6).

:func:`run_pipeline` is what ``alliance-learning run`` does and :func:`run_demo` what
``alliance-learning demo`` does (the README's first command), so scripts and notebooks
can do the same job without the command line::

    from reports import run_pipeline

    result = run_pipeline("survey.csv", "runs/survey", draws=500, tune=500)
    print(result)             # where the run and the report are, and the verdict

The four steps:

1. **validate**: read the file and check it against the codebook (every problem is listed
   in one :class:`data.DataValidationError`); a coding sheet (``form="coded"``) is also
   measured for reliability (Krippendorff's alpha per condition), and its codes are modelled
   by the rater model (:mod:`models.raters`) unless ``collapse`` names a rule;
2. **fit**: the model of the run config (or the defaults: the one individual-level outcome,
   every condition, every group level), saved as a run directory (:func:`models.save_run`),
   with the coding reliability beside it (``reliability.csv``);
3. **check**: every posterior check (:func:`analysis.check_run`), saved in ``checks/``;
4. **report**: one self-contained HTML file, ``report.html`` in the run directory.

An existing run directory is never replaced unless ``force=True``, and then only one this
toolkit wrote that holds none of the inputs (:func:`models.check_run_target`); that is
checked before the long steps start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from data import load_coded, load_survey
from models import (
    FitOptions,
    ModelSpec,
    Run,
    RunConfig,
    SpecError,
    check_spec,
    load_config,
    save_run,
)
from models import fit as fit_model
from models.run import check_run_target

if TYPE_CHECKING:  # provided on first use by __getattr__ below (names it for linters too)
    from .context import example_data_path

logger = logging.getLogger(__name__)

__all__ = ["DEMO_CHECKS", "DEMO_CONFIG", "DEMO_OUT", "REPORT_FILE", "STEPS", "PipelineResult",
           "example_data_path", "resolve_config", "run_demo", "run_pipeline"]

STEPS = ("validate", "fit", "check", "report")
REPORT_FILE = "report.html"
DEMO_OUT = Path("out/demo")
# The demo's model and sampling: the defaults (every group level non-centred, 4 chains x
# 2000 draws after 1000 tuning steps; see FitOptions for why 2000), seed 0.
DEMO_CONFIG = RunConfig(ModelSpec(outcome="individual_learning"), FitOptions(seed=0))
# The demo skips the Bayesian dominance analysis (14 sub-model fits of the four level groups;
# its report section says it was not asked for); the predictive comparison (3 fits) and every
# other check run.
DEMO_CHECKS = {"dominance": False}

# A step reporter: called with (step number, step name) and used as a context manager
# around the step, e.g. to show a spinner; the CLI gives a rich one.
StepReporter = Callable[[int, str], contextlib.AbstractContextManager]


@dataclass(frozen=True)
class PipelineResult:
    """What :func:`run_pipeline` made.

    Attributes
    ----------
    run : models.Run
        The saved run (its ``path`` is the run directory).
    checks : analysis.Checks
        Its posterior checks (saved in ``<run>/checks/``).
    report : pathlib.Path
        The HTML report.
    reliability : pandas.DataFrame or None
        Krippendorff's alpha per condition, for a coding sheet.
    seconds : dict of str to float
        Wall time of each step.
    """

    run: Run
    checks: object
    report: Path
    reliability: pd.DataFrame | None
    seconds: dict

    @property
    def run_dir(self) -> Path:
        """The run directory."""
        return Path(self.run.path)

    @property
    def verdict(self) -> str:
        """The dominance verdict in words."""
        return self.checks.verdict_name

    def __str__(self) -> str:
        """Where the run and the report are, the verdict, and the time of each step."""
        times = ", ".join(f"{step} {s:.0f} s" for step, s in self.seconds.items())
        return (f"run {self.run_dir}: verdict {self.verdict!r}\n"
                f"report {self.report}\n({times})")


def resolve_config(survey, *, config: str | Path | RunConfig | None = None,
                   outcome: str | None = None, family: str | None = None,
                   chains: int | None = None, draws: int | None = None, tune: int | None = None,
                   seed: int | None = None, sampler: str | None = None,
                   source: str | None = None, backend: str | None = None) -> RunConfig:
    """Return the run config of a fit: the config (or defaults) with the options on top.

    The one place where ``alliance-learning fit``, ``run`` and :func:`run_pipeline` turn a
    config and command-line options into the :class:`models.RunConfig` they fit.

    Parameters
    ----------
    survey : data.CaseSurvey
        The validated data (the spec is checked against it).
    config : str, Path or RunConfig, optional
        The run config, or its TOML file (read with :func:`models.load_config`); None uses
        the defaults. Read it before the data to report a broken config first.
    outcome, family : str, optional
        Override the config's. Without both a config and an ``outcome``, the outcome is the
        survey's one individual-level outcome (an error lists them when there are several).
    chains, draws, tune, seed, sampler, backend : optional
        Override the config's sampling options.
    source : str, optional
        What errors in the spec are named after: default the config file when ``config``
        is a path, else ``"options"``. The CLI passes the config file or the data file.
        Problems with the sampling options are named ``"options"``.

    Returns
    -------
    models.RunConfig

    Raises
    ------
    models.SpecError
        Every problem with the options, or every problem of the spec with these data, at
        once, before any sampling.
    """
    if isinstance(config, RunConfig) or config is None:
        run_config = config
    else:
        source = source or str(config)
        run_config = load_config(config)
    source = source or "options"
    spec = run_config.spec if run_config is not None else None
    if spec is None:  # no outcome: check_spec takes the data's only one
        spec = ModelSpec(outcome=outcome or "", family=family)
    else:
        spec = dataclasses.replace(spec, **{k: v for k, v in (("outcome", outcome), ("family", family))
                                            if v is not None})
    sampling = run_config.sampling if run_config is not None else RunConfig(spec).sampling
    overrides = {k: v for k, v in dict(chains=chains, draws=draws, tune=tune, seed=seed,
                                       sampler=sampler, backend=backend).items() if v is not None}
    sampling = dataclasses.replace(sampling, **overrides)
    problems = sampling.problems()
    if problems:
        raise SpecError("options", problems)
    # unknown conditions, family vs outcome: checked before sampling
    return RunConfig(check_spec(spec, survey, source=source), sampling)


def _no_reporter(number: int, name: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def run_pipeline(
    data: str | Path,
    out: str | Path,
    *,
    codebook: str | Path | None = None,
    config: str | Path | RunConfig | None = None,
    form: str = "wide",
    collapse: str | None = None,
    outcome: str | None = None,
    family: str | None = None,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    force: bool = False,
    command: str | None = None,
    backend: str | None = None,
    title: str | None = None,
    notice: str | None = None,
    check_options: dict | None = None,
    read_options: dict | None = None,
    step: StepReporter | None = None,
    say: Callable[[str], None] | None = None,
    sampler_progress: bool = True,
) -> PipelineResult:
    """Validate, fit, check and report one case survey.

    Parameters
    ----------
    data : str or Path
        The survey file (CSV, Parquet or Excel).
    out : str or Path
        Run directory to create; the report is ``out/report.html``.
    codebook : str or Path, optional
        Codebook TOML (default: the shipped codebook).
    config : str, Path or RunConfig, optional
        Run config (model, priors, sampling); options below override its sampling.
    form : {"wide", "coded"}
        One row per individual, or the raters' coding sheet (then reliability is measured
        and the codes are modelled by the rater model, or collapsed by ``collapse``).
    collapse : {None, "median", "mean", "mode"}
        Coded form: None (default) fits the rater model (:mod:`models.raters`); a rule
        collapses the raters' codes into one value per unit and condition instead.
    outcome : str, optional
        Outcome to model (default: the config's, or the one individual-level outcome).
    family : str, optional
        Outcome family (default: the config's, or by the outcome's scale).
    chains, draws, tune, seed : int, optional
        Sampling options (default: the config's, else 4 chains x 2000 draws, 1000 tuning
        steps, seed 0).
    sampler : {"nutpie", "pymc"}, optional
        Sampler (default: the config's, else nutpie).
    backend : {"numba", "jax"}, optional
        How nutpie compiles the model (default: the config's, else numba on the CPU; jax:
        nutpie's JAX backend, for large surveys on a GPU).
    force : bool
        Replace an existing run directory this toolkit wrote (never a folder holding other
        files or the input).
    command : str, optional
        The command line that reproduces this call, recorded in the run (the CLI passes it).
    title, notice : str, optional
        The report's title and a banner under it.
    check_options : dict, optional
        Keyword arguments of :func:`analysis.check_run` (e.g. ``{"dominance": False}``, or
        ``{"scheduler": "tcp://host:8786"}`` to fit the sub-models on a Dask cluster).
    read_options : dict, optional
        How the file is read: ``sheet``, ``encoding`` and ``sep`` of :func:`data.load_survey`.
    step : callable, optional
        ``step(number, name)`` returns a context manager wrapped around each step (the CLI
        shows a spinner).
    say : callable, optional
        Receives one line per finished part of a step (default: logged at INFO level).
    sampler_progress : bool
        Show the sampler's own progress bar while fitting.

    Returns
    -------
    PipelineResult
    """
    from analysis import check_run, save_checks

    from .context import build_context, save_reliability
    from .html import render_report

    say = say or logger.info
    step = step or _no_reporter
    out = Path(out)
    if form not in ("wide", "coded"):
        raise ValueError(f"form must be 'wide' or 'coded', got {form!r}")
    # before the long steps, not after them
    inputs = (data, codebook, config if isinstance(config, (str, Path)) else None)
    check_run_target(out, force=force, inputs=inputs)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    with step(1, "validate"):
        source = str(config) if isinstance(config, (str, Path)) else str(data)
        if isinstance(config, (str, Path)):
            config = load_config(config)  # a broken config is reported before the data are read
        reliability = None
        if form == "coded":
            coded = load_coded(data, codebook, collapse=collapse or "median", **(read_options or {}))
            survey = coded.with_raters() if collapse is None else coded.survey
            reliability = coded.reliability
        else:
            survey = load_survey(data, codebook, **(read_options or {}))
        run_config = resolve_config(survey, config=config, outcome=outcome, family=family,
                                    chains=chains, draws=draws, tune=tune, seed=seed,
                                    sampler=sampler, source=source, backend=backend)
    seconds["validate"] = time.perf_counter() - started
    counts = ", ".join(f"{n:,} {level}s" for level, n in survey.counts().items())
    say(f"{data}: {counts}; {int(survey.missing().sum()):,} missing codes")

    started = time.perf_counter()
    spec, sampling = run_config.spec, run_config.sampling
    with step(2, "fit"):
        tree = fit_model(spec, survey, chains=sampling.chains, draws=sampling.draws,
                         tune=sampling.tune, seed=sampling.seed, sampler=sampling.sampler,
                         target_accept=sampling.target_accept, progressbar=sampler_progress,
                         backend=sampling.backend)
        run = save_run(out, tree, survey, run_config, force=force, command=command)
        if reliability is not None:
            save_reliability(reliability, out)
    seconds["fit"] = time.perf_counter() - started
    d = run.summary["diagnostics"]
    say(f"fitted {spec.outcome} ({spec.family}): max R-hat {d['max_rhat']:.3f}, "
        f"min bulk ESS {d['min_ess_bulk']:.0f}, {d['divergences']} divergences")
    runs = (run.summary.get("sampling") or {}).get("attempts") or []
    if len(runs) > 1:  # a narrow gate miss was extended (models.extend)
        say(f"sampling extended {len(runs) - 1} time(s): {runs[-1]['draws']} draws per chain kept "
            f"({run.summary['sampling']['outcome']})")

    started = time.perf_counter()
    with step(3, "check"):
        checks = check_run(run, progress=say, **(check_options or {}))
        save_checks(checks, out, force=True)  # the run directory is new: nothing to keep
    seconds["check"] = time.perf_counter() - started

    started = time.perf_counter()
    with step(4, "report"):
        context = build_context(run, checks, reliability=reliability, title=title, notice=notice)
        report = render_report(context, out / REPORT_FILE, overwrite=True)
    seconds["report"] = time.perf_counter() - started
    return PipelineResult(run=run, checks=checks, report=report, reliability=reliability,
                          seconds=seconds)


def run_demo(out: str | Path = DEMO_OUT, **options) -> PipelineResult:
    """:func:`run_pipeline` on the shipped (simulated) example survey.

    ``options`` are those of :func:`run_pipeline` (``chains``, ``draws``, ``force``...);
    the model and sampling default to :data:`DEMO_CONFIG` and the checks to
    :data:`DEMO_CHECKS`. The report carries a banner saying the data are simulated (as every
    report of a run on the example survey does, see :func:`reports.context.is_example_data`).
    """
    from .context import example_data_path

    options.setdefault("config", DEMO_CONFIG)
    options.setdefault("check_options", DEMO_CHECKS)
    return run_pipeline(example_data_path(), out, **options)


def __getattr__(name: str):
    # the report's modules (analysis, jinja2, plots) load on first use, not when `fit`
    # imports resolve_config; example_data_path is reports.context's
    if name == "example_data_path":
        from .context import example_data_path

        return example_data_path
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def command_line(name: str, *arguments, **options) -> str:
    """The shell command ``alliance-learning NAME ARGS --option value ...`` (quoted).

    Options whose value is None or False are left out; True gives the bare flag.
    """
    parts = ["alliance-learning", name, *map(str, arguments)]
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        parts.extend([flag] if value is True else [flag, str(value)])
    return shlex.join(parts)
