"""The model's description: what is modelled, apart from how PyMC builds it.

A :class:`ModelSpec` names the outcome, the family, the conditions, the group effects,
the slopes that vary by alliance, the priors and the shrinkage option. It imports no
PyMC, so it prints, saves (``to_dict``/``from_dict``, TOML via :func:`load_config`) and is
checked against a survey (:func:`check_spec`) without a sampler. :mod:`models.build`
turns a checked spec and a survey into a PyMC model.

Run config (TOML)
-----------------
::

    [model]
    outcome = "individual_learning"    # default: the codebook's only individual-level outcome
    family = "ordinal"                 # default: by the outcome's scale
    conditions = ["personal_contact", "prior_cooperation"]   # default: all in the data
    group_effects = ["network", "organisation", "alliance"]  # default: all in the data
    varying_slopes = ["personal_contact"]                    # slopes varying by alliance
    standardize = true
    shrinkage = "horseshoe"            # or "r2d2m2"; default: none
    centered = ["alliance"]            # group levels with centred effects (default none)
    rater_discrimination = true        # rater model: a discrimination per rater (default false)
    # trials = 10                      # binomial only: a number, or an outcome column

    [model.shrinkage_options]
    expected_nonzero = 3

    [priors.effect]                    # any kind in models.priors.DEFAULT_PRIORS
    dist = "Normal"
    kwargs = {mu = 0, sigma = 0.5}

    [sampling]
    chains = 4
    draws = 2000
    tune = 1000
    seed = 1
    sampler = "nutpie"                 # or "pymc"
    backend = "numba"                  # or "jax" (nutpie's JAX backend; pip install ".[jax]")
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from data.codebook import GROUP_LEVELS
from data.errors import ProblemsError
from data.tomlfile import read_toml, toml_fields

from .families import DEFAULT_FAMILY, FAMILIES
from .priors import (
    DEFAULT_PRIORS,
    SHRINKAGE_OPTIONS,
    default_prior,
    prior_key_problems,
    prior_problems,
)

logger = logging.getLogger(__name__)

SAMPLERS = ("nutpie", "pymc")
# how nutpie compiles the model: numba (CPU, cached on disk: models.compiled) or JAX (a GPU
# where jax has one; the optional extra "jax")
BACKENDS = ("numba", "jax")


class SpecError(ProblemsError):
    """A model spec or run config with problems; ``problems`` lists every one."""

    what = "the model spec"


def _as_tuple(value):
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class ModelSpec:
    """What to model.

    Parameters
    ----------
    outcome : str
        Name of an outcome in the codebook, measured on individuals, or on alliances (then
        the micro-macro model of :mod:`models.macro`, with no group effects); ``""`` (a config
        without ``outcome``) takes the codebook's only individual-level outcome when the
        spec is checked against the data (:func:`check_spec`).
    family : str, optional
        ``ordinal`` (cumulative logit), ``gaussian``, ``bernoulli`` or ``binomial``;
        None takes the default of the outcome's scale (see
        :data:`models.families.DEFAULT_FAMILY`).
    conditions : sequence of str, optional
        Conditions entering the linear predictor; None: every codebook condition present
        in the data.
    group_effects : sequence of str, optional
        Group levels with varying intercepts (``network``, ``organisation``,
        ``alliance``); None: every group level present in the data. Networks and
        organisations are crossed, not nested.
    varying_slopes : sequence of str
        Conditions whose slopes vary by alliance (independent normal deviations).
    standardize : bool
        Centre and scale each condition by its mean and SD over the units of its own
        level, so that effects are per SD (they are also reported per raw unit).
    priors : dict
        Overrides of :data:`models.priors.DEFAULT_PRIORS`, keyed by term kind (or
        ``group_sd.<level>``); values are ``pymc_extras.prior.Prior`` objects or their
        dictionary form. Stored in dictionary form.
    shrinkage : {None, "horseshoe", "r2d2m2"}
        Replace the ``effect`` prior by a regularised horseshoe or an R2D2M2CP prior.
    shrinkage_options : dict
        Options of the shrinkage prior (see :data:`models.priors.SHRINKAGE_OPTIONS`).
    centered : sequence of str
        Group levels whose effects use the centred parameterisation (default: none, all
        non-centred). Centring pays when a level's groups are large and well informed by
        the data; on the example data (about 29 respondents per alliance, 4 x 2000 draws)
        centring the alliances was no better (min bulk ESS 727-889 on seeds 1-2, against
        743-1081 non-centred on seeds 1-5) and centring every level was far worse (R-hat
        1.67 and 1000 divergences on one seed), hence the default.
    trials : int or str, optional
        Binomial family only: the number of trials, or the name of the outcome column
        holding it.
    rater_discrimination : bool
        With the rater model (a coding sheet, :mod:`models.raters`): give each rater its
        own discrimination on each condition it coded (how closely its codes follow the true
        score), not one per condition shared by the raters. Ignored without the rater model.
    """

    outcome: str
    family: str | None = None
    conditions: tuple[str, ...] | None = None
    group_effects: tuple[str, ...] | None = None
    varying_slopes: tuple[str, ...] = ()
    standardize: bool = True
    priors: dict = field(default_factory=dict)
    shrinkage: str | None = None
    shrinkage_options: dict = field(default_factory=dict)
    centered: tuple[str, ...] = ()
    trials: int | str | None = None
    rater_discrimination: bool = False

    def __post_init__(self):
        # Normalise without judging: problems() and check_spec() say what is wrong.
        set_ = object.__setattr__
        set_(self, "conditions", _as_tuple(self.conditions))
        set_(self, "group_effects", _as_tuple(self.group_effects))
        set_(self, "varying_slopes", _as_tuple(self.varying_slopes) or ())
        set_(self, "centered", _as_tuple(self.centered) or ())
        priors = {}
        for key, value in dict(self.priors or {}).items():
            priors[str(key)] = value.to_dict() if hasattr(value, "to_dict") else copy.deepcopy(value)
        set_(self, "priors", priors)
        set_(self, "shrinkage_options", dict(self.shrinkage_options or {}))

    # -- priors -----------------------------------------------------------------------
    def prior(self, kind: str, level: str | None = None) -> tuple[dict, bool]:
        """The prior of a term kind, in ``Prior`` dictionary form.

        Returns
        -------
        prior : dict
        is_default : bool
            True when no override applies (defaults are rescaled for the gaussian family).
        """
        if level is not None and f"{kind}.{level}" in self.priors:
            return copy.deepcopy(self.priors[f"{kind}.{level}"]), False
        if kind in self.priors:
            return copy.deepcopy(self.priors[kind]), False
        return default_prior(kind), True

    def options(self) -> dict:
        """Shrinkage options with defaults filled in (empty without shrinkage)."""
        if self.shrinkage not in SHRINKAGE_OPTIONS:
            return {}
        return {**SHRINKAGE_OPTIONS[self.shrinkage], **self.shrinkage_options}

    # -- checks -----------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Problems that can be seen without data (the survey is checked by check_spec)."""
        out: list[str] = []
        if not isinstance(self.outcome, str) or not self.outcome:
            out.append(f"outcome must name an outcome column, got {self.outcome!r}")
        family = FAMILIES.get(self.family)
        if self.family is not None and family is None:
            out.append(f"unknown family {self.family!r} (use {', '.join(FAMILIES)})")
        for name, value in (("group_effects", self.group_effects), ("centered", self.centered)):
            for level in value or ():
                if level not in GROUP_LEVELS:
                    out.append(f"{name}: {level!r} is not a group level ({', '.join(GROUP_LEVELS)})")
        if self.group_effects is not None:
            for level in self.centered:
                if level in GROUP_LEVELS and level not in self.group_effects:
                    out.append(f"centered: {level!r} has no group effect in this model")
        if not isinstance(self.standardize, bool):
            out.append(f"standardize must be true or false, got {self.standardize!r}")
        if not isinstance(self.rater_discrimination, bool):
            out.append(f"rater_discrimination must be true or false, got {self.rater_discrimination!r}")
        if self.shrinkage is not None and self.shrinkage not in SHRINKAGE_OPTIONS:
            out.append(f"unknown shrinkage {self.shrinkage!r} (use {', '.join(SHRINKAGE_OPTIONS)})")
        if self.shrinkage_options and self.shrinkage is None:
            out.append("shrinkage_options given but no shrinkage chosen")
        elif self.shrinkage in SHRINKAGE_OPTIONS:
            allowed = SHRINKAGE_OPTIONS[self.shrinkage]
            for key in set(self.shrinkage_options) - set(allowed):
                out.append(f"shrinkage_options: unknown option {key!r} for {self.shrinkage} "
                           f"(use {', '.join(allowed)})")
        if self.shrinkage and "effect" in self.priors:
            out.append(f"priors.effect cannot be combined with shrinkage={self.shrinkage!r} "
                       "(the shrinkage prior replaces it)")
        for key, value in self.priors.items():
            key_problems = prior_key_problems(key)
            out.extend(key_problems or prior_problems(key, value))
        if self.trials is not None and not (isinstance(self.trials, str) or
                                            (isinstance(self.trials, int) and self.trials >= 1)):
            out.append(f"trials must be a positive whole number or a column name, got {self.trials!r}")
        if family is not None and not family.needs_trials and self.trials is not None:
            users = " and ".join(name for name, f in FAMILIES.items() if f.needs_trials)
            out.append(f"trials is only used by the {users} family, not {self.family!r}")
        return out

    # -- (de)serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain mapping (lists, no None) that round-trips through :meth:`from_dict`."""
        return toml_fields(self)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "<model spec>") -> ModelSpec:
        """Build a spec from a mapping, collecting every problem before raising.

        Raises
        ------
        SpecError
            Listing every problem (unknown keys, wrong types, unknown family, ...).
        """
        problems: list[str] = []
        if not isinstance(raw, dict):
            raise SpecError(source, [f"the model spec must be a table, got {raw!r}"])
        names = {f.name for f in fields(cls)}
        for key in set(raw) - names:
            problems.append(f"unknown model key {key!r} (use {', '.join(sorted(names))})")
        kwargs = {k: v for k, v in raw.items() if k in names}
        for key in ("conditions", "group_effects", "varying_slopes", "centered"):
            value = kwargs.get(key)
            if value is not None and not (isinstance(value, list | tuple) and
                                          all(isinstance(v, str) for v in value)):
                problems.append(f"{key} must be a list of names, got {value!r}")
                kwargs.pop(key)
        for key in ("priors", "shrinkage_options"):
            if not isinstance(kwargs.get(key, {}), dict):
                problems.append(f"{key} must be a table, got {kwargs[key]!r}")
                kwargs.pop(key)
        spec = cls(**{"outcome": "", **kwargs})
        # a missing outcome is the data's only one, chosen by check_spec
        problems.extend(p for p in spec.problems()
                        if "outcome" in raw or not p.startswith("outcome must"))
        if problems:
            raise SpecError(source, problems)
        return spec

    def __str__(self) -> str:
        family = self.family or "default family"
        conditions = "all conditions" if self.conditions is None else f"{len(self.conditions)} conditions"
        groups = "all group levels" if self.group_effects is None else ", ".join(self.group_effects) or "no groups"
        extra = f", shrinkage={self.shrinkage}" if self.shrinkage else ""
        return f"ModelSpec({self.outcome} ~ {conditions} | {groups}; {family}{extra})"


@dataclass(frozen=True)
class FitOptions:
    """How to sample: chains, draws, tuning steps, seed, sampler and nutpie's backend.

    ``backend`` is how nutpie compiles the model: ``"numba"`` (default, CPU) or ``"jax"``
    (nutpie's JAX backend, for large surveys on a GPU; needs the optional extra ``jax``).

    The default keeps 2000 draws per chain (PyMC and brms keep 1000): on the shipped
    example data, with 1000 the group SDs' bulk ESS was 245-550 over seeds and max R-hat
    reached 1.018, so the diagnostic gates refused the verdict on about half the seeds;
    with 2000, min bulk ESS was 743-1081 and max R-hat at most 1.007 (seeds 1-5,
    ``tests/benchmarks/example_diagnostics.py``).
    """

    chains: int = 4
    draws: int = 2000
    tune: int = 1000
    seed: int = 0
    sampler: str = "nutpie"
    target_accept: float = 0.8
    backend: str = "numba"

    def problems(self) -> list[str]:
        """Problems with these options."""
        out = []
        for name in ("chains", "draws", "tune"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "tune" else 1):
                out.append(f"sampling.{name} must be a {'non-negative' if name == 'tune' else 'positive'} "
                           f"whole number, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            out.append(f"sampling.seed must be a non-negative whole number, got {self.seed!r}")
        if self.sampler not in SAMPLERS:
            out.append(f"sampling.sampler {self.sampler!r} is not one of {', '.join(SAMPLERS)}")
        if self.backend not in BACKENDS:
            out.append(f"sampling.backend (--backend) {self.backend!r} is not one of {', '.join(BACKENDS)}")
        elif self.backend != "numba" and self.sampler != "nutpie":
            out.append(f"sampling.backend (--backend) {self.backend!r} needs sampling.sampler 'nutpie', "
                       f"got {self.sampler!r}")
        if not isinstance(self.target_accept, float | int) or not 0 < self.target_accept < 1:
            out.append(f"sampling.target_accept must lie between 0 and 1, got {self.target_accept!r}")
        return out

    def to_dict(self) -> dict:
        """Plain mapping."""
        return asdict(self)


@dataclass(frozen=True)
class RunConfig:
    """A run config: the model spec and the sampling options."""

    spec: ModelSpec
    sampling: FitOptions = field(default_factory=FitOptions)

    def to_dict(self) -> dict:
        """Mapping of the TOML file's shape (``[model]``, ``[priors]``, ``[sampling]``)."""
        model = self.spec.to_dict()
        priors = model.pop("priors", {})
        out = {"model": model, "sampling": self.sampling.to_dict()}
        if priors:
            out["priors"] = priors
        return out

    @classmethod
    def from_dict(cls, raw: dict, source: str = "<run config>") -> RunConfig:
        """Build from a mapping of the TOML file's shape, collecting every problem."""
        problems: list[str] = []
        for key in set(raw) - {"model", "priors", "sampling"}:
            problems.append(f"unknown section [{key}] (use model, priors, sampling)")
        model = dict(raw.get("model", {})) if isinstance(raw.get("model", {}), dict) else {}
        if "priors" in raw:
            if "priors" in model:
                problems.append("priors given both in [priors] and in [model]; use [priors]")
            model["priors"] = raw["priors"]
        spec = None
        try:
            spec = ModelSpec.from_dict(model, source)
        except SpecError as err:
            problems.extend(err.problems)
        sampling_raw = raw.get("sampling", {})
        names = {f.name for f in fields(FitOptions)}
        if not isinstance(sampling_raw, dict):
            problems.append("[sampling] must be a table")
            sampling_raw = {}
        for key in set(sampling_raw) - names:
            problems.append(f"sampling: unknown key {key!r} (use {', '.join(sorted(names))})")
        sampling = FitOptions(**{k: v for k, v in sampling_raw.items() if k in names})
        problems.extend(sampling.problems())
        if problems:
            raise SpecError(source, problems)
        return cls(spec=spec, sampling=sampling)

    def to_toml(self) -> str:
        """The config as TOML text (round-trips through :func:`load_config`)."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())


def load_config(path: str | Path) -> RunConfig:
    """Read a run config (TOML) into a :class:`RunConfig`.

    Raises
    ------
    SpecError
        Listing every problem in the file; conditions and families are checked against
        the data later, by :func:`check_spec`.
    """
    return RunConfig.from_dict(read_toml(path, SpecError), source=str(path))


def check_spec(spec: ModelSpec, survey, source: str | None = None) -> ModelSpec:
    """Check a spec against a survey and fill in its defaults.

    Parameters
    ----------
    spec : ModelSpec
    survey : data.CaseSurvey
    source : str, optional
        Name used in the error (default: the survey's source).

    Returns
    -------
    ModelSpec
        With ``family``, ``conditions`` and ``group_effects`` resolved.

    Raises
    ------
    SpecError
        Listing every problem: unknown outcome or condition, a family that does not fit
        the outcome's scale, an outcome with a single observed category, a condition that
        is constant or never observed, slopes that cannot vary by alliance, ...
    """
    source = source or str(getattr(survey, "source", "<data>"))
    codebook = survey.codebook
    if spec.outcome == "":  # none named: the codebook's only individual-level outcome
        individual = [n for n, v in codebook.outcomes.items() if v.level == "individual"]
        if len(individual) != 1:
            raise SpecError(source, ["no outcome named: choose the outcome with --outcome or "
                                     "outcome in [model] "
                                     f"(outcomes in the data: {', '.join(individual) or 'none'})"])
        spec = replace(spec, outcome=individual[0])
    problems = list(spec.problems())
    group_levels = tuple(level for level in codebook.group_levels)

    # outcome and family
    family = spec.family
    outcome = codebook.outcomes.get(spec.outcome)
    if outcome is None:
        known = ", ".join(codebook.outcomes) or "none"
        problems.append(f"outcome {spec.outcome!r} is not an outcome in the data (outcomes: {known})")
    else:
        scale = outcome.scale
        if outcome.level == "alliance":  # the micro-macro model (models.macro)
            from .macro import spec_problems

            problems.extend(spec_problems(spec, survey))
        elif outcome.level != "individual":
            problems.append(f"outcome {spec.outcome!r} is measured at the {outcome.level} level; "
                            "only individual- and alliance-level outcomes are modelled")
        if family is None:
            family = DEFAULT_FAMILY.get(scale.kind)
            if family is None:
                problems.append(f"outcome {spec.outcome!r} is a {scale.name}: choose a family "
                                "(binomial with trials, or gaussian)")
        elif FAMILIES.get(family) and scale.kind not in FAMILIES[family].scales:
            fits = ", ".join(FAMILIES[family].scales)
            problems.append(f"family {family!r} does not fit outcome {spec.outcome!r} on the "
                            f"{scale.name} scale ({family} fits {fits} outcomes)")
        table = survey.table(outcome.level) if outcome.level in survey.codebook.levels else survey.individuals
        if spec.outcome in table:
            values = table[spec.outcome].dropna()
            if values.empty:
                problems.append(f"outcome {spec.outcome!r} has no observed value")
            elif values.nunique() < 2:
                problems.append(f"outcome {spec.outcome!r} has a single observed category "
                                f"({values.iloc[0]:g}): nothing to explain")
            elif FAMILIES.get(family) and FAMILIES[family].scale_categories \
                    and scale.kind == "ordinal":
                bad = values[(values < 1) | (values > scale.n_categories) | (values % 1 != 0)]
                if len(bad):
                    problems.append(f"outcome {spec.outcome!r} has codes outside 1..{scale.n_categories}: "
                                    f"{sorted(set(bad))[:5]}")
                unseen = sorted(set(range(1, scale.n_categories + 1)) - set(values.astype(int)))
                if unseen and not len(bad):  # the model keeps the scale's categories
                    logger.warning("category %s of %r is never observed: the cutpoints next to it "
                                   "rest on their prior, and the model predicts it rarely, not never",
                                   ", ".join(map(str, unseen)), spec.outcome)
        if FAMILIES.get(family) and FAMILIES[family].needs_trials:
            problems.extend(_trials_problems(spec, survey))

    # conditions
    available = list(codebook.conditions)
    conditions = spec.conditions if spec.conditions is not None else tuple(available)
    for name in conditions:
        if name not in codebook.conditions:
            known = ", ".join(available) or "none"
            problems.append(f"unknown condition {name!r} (conditions in the data: {known})")
            continue
        level = codebook.conditions[name].level
        values = survey.table(level)[name].dropna()
        if values.empty:
            problems.append(f"condition {name!r} has no observed value")
        elif spec.standardize and values.nunique() < 2:
            problems.append(f"condition {name!r} is constant ({values.iloc[0]:g}) over its "
                            f"{level}s: it cannot be standardised or estimated")
    if len(set(conditions)) < len(conditions):
        problems.append("conditions: a condition is listed twice")
    elif not problems:
        problems.extend(_collinear_problems(survey, conditions))

    # group effects and slopes
    group_effects = spec.group_effects if spec.group_effects is not None else group_levels
    if outcome is not None and outcome.level == "alliance":
        group_effects = ()  # one value per alliance: no group intercepts (models.macro)
    if spec.group_effects is None:  # by default a level with a single group has no group effect
        single = [lvl for lvl in group_effects if len(survey.ids(lvl)) < 2]
        for level in single:
            logger.warning("the data have a single %s: it gets no group effect (its SD cannot be "
                           "estimated from one group)", level)
        group_effects = tuple(lvl for lvl in group_effects if lvl not in single)
    for level in group_effects:
        if level in GROUP_LEVELS and level not in group_levels:
            problems.append(f"group_effects: the data have no {level} IDs")
        elif level in group_levels and len(survey.ids(level)) < 2:
            problems.append(f"group_effects: the data have a single {level}; its group SD cannot "
                            f"be estimated from one group (leave {level} out of group_effects)")
    for level in spec.centered:
        if level in GROUP_LEVELS and level not in group_effects:
            problems.append(f"centered: {level!r} has no group effect in this model")
    for name in spec.varying_slopes:
        if name not in conditions:
            problems.append(f"varying_slopes: {name!r} is not among the model's conditions")
        elif name in codebook.conditions and codebook.conditions[name].level == "alliance":
            problems.append(f"varying_slopes: {name!r} is an alliance-level condition; its slope "
                            "cannot vary between alliances")
    if spec.varying_slopes and "alliance" not in group_levels:
        problems.append("varying_slopes need alliance IDs in the data")
    if spec.shrinkage and not conditions:
        problems.append("shrinkage needs at least one condition")
    if spec.shrinkage == "horseshoe" and conditions:
        guess = spec.options().get("expected_nonzero")
        if guess is None and len(conditions) < 2:
            problems.append("the horseshoe needs at least 2 conditions")
        elif guess is not None and not (isinstance(guess, int | float) and 0 < guess < len(conditions)):
            problems.append(f"shrinkage_options.expected_nonzero must lie between 0 and the number "
                            f"of conditions ({len(conditions)}), got {guess!r}")
    if problems:
        raise SpecError(source, problems)
    return replace(spec, family=family, conditions=tuple(conditions),
                   group_effects=tuple(level for level in GROUP_LEVELS if level in group_effects))


def _collinear_problems(survey, conditions) -> list[str]:
    """Conditions that are exact linear combinations of others (and the intercept).

    Checked on the individuals with every condition observed, each condition at its level
    carried down to its individuals: perfectly collinear conditions have effects that the
    data cannot tell apart, so their shares would be set by the prior alone.
    """
    import numpy as np

    if len(conditions) < 2:
        return []
    wide = survey.to_wide()
    frame = wide[[c for c in conditions if c in wide.columns]].apply(
        lambda col: col.astype(float)).dropna()
    if len(frame) <= frame.shape[1]:
        return []  # too few complete rows to say
    z = (frame - frame.mean()) / frame.std(ddof=1).replace(0, np.nan)
    z = z.dropna(axis=1)  # a constant column is reported above
    names = list(z.columns)
    if len(names) < 2:
        return []
    values = z.to_numpy()
    rank = np.linalg.matrix_rank(values, tol=1e-8 * np.sqrt(len(values)))
    if rank == len(names):
        return []
    corr = np.corrcoef(values, rowvar=False)
    pairs = [f"{names[i]!r} and {names[j]!r} (r = {corr[i, j]:+.3f})"
             for i in range(len(names)) for j in range(i + 1, len(names))
             if abs(corr[i, j]) > 1 - 1e-9]
    what = ("; ".join(pairs) if pairs else
            f"{len(names) - rank} linear combination(s) of {', '.join(map(repr, names))}")
    return [f"conditions are perfectly collinear over the {len(values)} individuals with every "
            f"condition observed: {what}; their effects cannot be told apart: leave one out "
            "(model.conditions)"]


def _trials_problems(spec: ModelSpec, survey) -> list[str]:
    if spec.trials is None:
        return ["the binomial family needs trials (a number, or the outcome column holding them)"]
    y = survey.individuals[spec.outcome] if spec.outcome in survey.individuals else None
    if isinstance(spec.trials, str):
        if spec.trials not in survey.individuals:
            return [f"trials column {spec.trials!r} is not an outcome in the data"]
        n = survey.individuals[spec.trials]
    else:
        n = spec.trials
    if y is not None and ((y > n) | (y < 0)).any():
        return [f"outcome {spec.outcome!r} has values outside 0..trials"]
    return []


__all__ = [
    "DEFAULT_PRIORS",
    "FitOptions",
    "ModelSpec",
    "RunConfig",
    "SpecError",
    "check_spec",
    "load_config",
]
