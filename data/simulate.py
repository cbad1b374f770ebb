"""Simulated case surveys with a known truth, shaped like real bridging case surveys.

The simulator draws a nested, cross-classified design (alliances, their organisations and
knowledge-sharing networks, respondents who belong to one network and one organisation),
conditions at their own level, and an outcome from the model of DESIGN.md §3::

    eta_i = X_i b_ind + Z_j b_net + W_o b_org + V_a b_all + u_j + v_o + w_a

How the truth is made exact
---------------------------
1. Each condition gets a latent standard-normal value at its own level (one per respondent,
   network, organisation or alliance). With ``condition_correlation = rho > 0`` every latent
   value is ``sqrt(rho) * F_a + sqrt(1 - rho) * e``, where ``F_a`` is one standard-normal
   "climate" per alliance shared by all units of the alliance, so any two conditions (at
   the same or at different levels) correlate ``rho`` on the latent scale.
2. The latent value is **coded** on the condition's scale: ordinal-K (Likert) by cutting at
   the standard-normal quantiles ``k/K`` (equal-probability categories, so all are used);
   binary at 0; count by the Poisson(``count_mean``) quantile of ``Phi(latent)`` (Poisson
   margin, monotone in the latent value); continuous as is (rounded to 3 decimals).
3. The coded values are **standardised** with their sample mean and SD over the units of
   the condition's own level (``ddof=1``) and enter the linear predictor. So
   ``truth["effects"]`` is exactly the per-SD effect of the *observed* coded condition that
   a model with standardised predictors estimates; ``truth["effects_per_unit"]`` is the
   same per raw unit, and ``truth["standardisation"]`` also gives the SD over respondent
   rows, so any other standardisation convention can be converted.
4. Effects are either given per condition (``effects``), or generated from a target
   ``interpersonal_share`` and ``explained_variance``: within each side the effects are
   proportional to ``effect_weights`` (default 1) times the codebook's expected sign, and
   the two side multipliers are solved in closed form from the realised covariance of the
   standardised conditions over respondents, so that in the simulated sample
   ``Var(eta_fixed) == explained_variance`` (over respondents, ``ddof=1``) and the Pratt
   share of the interpersonal side, ``Cov(c_inter, eta_fixed) / Var(eta_fixed)``
   (DESIGN.md §4), equals the target exactly (up to floating point), whatever the
   correlation between conditions. The target is met in the sample, not only in
   expectation: a verdict-calibration study knows each dataset's true share exactly. A
   model sees the data after missing codes, so its standardisation differs from the
   truth's by that sampling noise only.
5. The outcome is drawn, THEN missing codes are applied (MCAR, at the condition's own
   level: the whole group's value goes missing), so missing codes never change the truth.

Limitations: the simulator always generates all four levels, so the codebook needs ID
columns for network, organisation and alliance; outcomes never have missing codes.

References
----------
Pratt, J. W. (1987). Dividing the indivisible: using simple symmetry to partition variance
explained. In *Proceedings of the Second International Tampere Conference in Statistics*,
245-260.

Larsson, R., Bengtsson, L., Henriksson, K., & Sparks, J. (1998). The interorganizational
learning dilemma: collective knowledge development in strategic alliances. *Organization
Science*, 9(3), 285-305. https://doi.org/10.1287/orsc.9.3.285
"""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from importlib import resources
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from .codebook import GROUP_LEVELS, LEVELS, SIDES, Codebook, load_codebook
from .constants import LOGISTIC_VARIANCE
from .errors import ProblemsError
from .files import atomic_write, write_csv
from .tomlfile import read_toml, toml_fields
from .version import toolkit_version

logger = logging.getLogger(__name__)

# sizes of real designs (DESIGN.md §5); the simulator refuses designs outside them (the
# design names no limit for networks per alliance: 50 keeps a typo from eating the memory)
SIZE_LIMITS = {
    "organisations": (2, 15),
    "people": (3, 15),
    "respondents_per_organisation": (1, 4),
    "networks": (1, 50),
}
EXAMPLE_CONDITIONS = (
    # individual (interpersonal)
    "personal_contact", "peer_comparability", "active_commitment", "voluntary_participation",
    # network (interpersonal)
    "shared_interests", "joint_activity", "composition_diversity",
    # organisation (interorganisational)
    "receptivity", "transparency", "absorptive_capacity", "learning_intent",
    # alliance (interorganisational)
    "expected_payoff", "prior_cooperation", "industry_competition",
)
RATER_KEYS = ("n", "bias_sd", "noise_sd")
DEFAULT_INTERPERSONAL_SHARE = 0.75


class DesignError(ProblemsError):
    """A simulation design with problems; ``problems`` lists every one of them."""

    what = "the design"


@dataclass(frozen=True)
class Design:
    """What to simulate. The defaults are the shipped example study's design.

    Attributes
    ----------
    alliances : int
        Number of alliances (cases).
    organisations, networks : (int, int)
        Inclusive range of organisations (2-15) and of networks per alliance.
    people : (int, int)
        Inclusive range of respondents per network (3-15).
    respondents_per_organisation : (int, int)
        Inclusive range of respondents from one organisation in one network (1-4).
    shared_organisations : float
        Probability that an organisation slot of an alliance is filled by an organisation
        already in another alliance (organisations in two or more alliances); 0 = none.
    conditions : tuple of str
        Codebook names of the conditions to simulate.
    condition_correlation : float
        Latent correlation ``rho`` in [0, 1) between any two conditions, through a shared
        alliance-level factor.
    effects : dict or None
        Explicit per-SD effects for every condition; excludes ``interpersonal_share``.
    interpersonal_share : float or None
        Target Pratt share of the interpersonal side in the fixed-effect variance
        (default 0.75 when no explicit ``effects`` are given).
    explained_variance : float
        Target ``Var(eta_fixed)`` over respondents (used with ``interpersonal_share``).
    effect_weights : dict
        Relative effect sizes (>= 0) within a side, default 1; signs from the codebook.
    group_sd : dict
        SD of the network, organisation and alliance random intercepts (a level left out
        has SD 0).
    family : str
        ``ordinal`` (cumulative logit), ``gaussian``, ``bernoulli`` or ``binomial``.
    outcome : str
        Individual-level outcome (codebook name).
    alliance_outcome : str or None
        Optional alliance-level outcome, drawn with the same family from the alliance's
        mean linear predictor over its respondents plus the alliance effect (None, or
        ``""`` in TOML, for none).
    cutpoints : tuple of float or None
        Ordinal cutpoints (increasing, K - 1 of them); None (``[]`` in TOML) =
        equal-probability defaults.
    intercept, sigma, trials : float, float, int
        Intercept (not used by ordinal), residual SD (gaussian), trials (binomial).
    count_mean : float
        Mean of count-scale conditions.
    missing_rate : float
        MCAR probability that a unit's code of a condition is missing.
    raters : dict or None
        ``{"n": raters, "bias_sd": ..., "noise_sd": ...}`` for a rater-coded long sheet.
    """

    alliances: int = 30
    organisations: tuple[int, int] = (2, 6)
    networks: tuple[int, int] = (2, 5)
    people: tuple[int, int] = (3, 15)
    respondents_per_organisation: tuple[int, int] = (1, 4)
    shared_organisations: float = 0.0
    conditions: tuple[str, ...] = EXAMPLE_CONDITIONS
    condition_correlation: float = 0.2
    effects: dict | None = None
    interpersonal_share: float | None = None
    explained_variance: float = 1.5
    effect_weights: dict = field(default_factory=dict)
    group_sd: dict = field(default_factory=lambda: {"network": 0.5, "organisation": 0.3,
                                                    "alliance": 0.5})
    family: str = "ordinal"
    outcome: str = "individual_learning"
    alliance_outcome: str | None = "collective_learning"
    cutpoints: tuple[float, ...] | None = (-3.0, -1.2, 0.6, 2.4)
    intercept: float = 0.0
    sigma: float = 1.0
    trials: int = 10
    count_mean: float = 5.0
    missing_rate: float = 0.03
    raters: dict | None = None

    def __post_init__(self):
        if self.effects is None and self.interpersonal_share is None:
            object.__setattr__(self, "interpersonal_share", DEFAULT_INTERPERSONAL_SHARE)
        for name in ("organisations", "networks", "people", "respondents_per_organisation",
                     "conditions", "cutpoints"):  # lists given in Python compare equal to TOML's
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if self.alliance_outcome == "":
            object.__setattr__(self, "alliance_outcome", None)
        problems = _design_problems({f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise DesignError("<design>", problems)

    # -- (de)serialisation --------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict, source: str = "<design>") -> Design:
        """Build a design from a mapping of the TOML file's shape, collecting every problem."""
        problems: list[str] = []
        known = {f.name: f for f in fields(cls)}
        values = {}
        for key, value in raw.items():
            if key not in known:
                problems.append(f"unknown key {key!r} (use {', '.join(known)})")
                continue
            try:
                values[key] = _PARSERS[key](value)
            except (TypeError, ValueError) as err:
                problems.append(f"{key}: {err}")
        problems += _design_problems({**_defaults(), **values}, only=set(values) if problems else None)
        if problems:
            raise DesignError(source, problems)
        return cls(**values)

    def to_dict(self) -> dict:
        """The design as a TOML-ready mapping that round-trips through :meth:`from_dict`.

        TOML has no null: a None field whose default is None is left out, and the two whose
        default is not None are written as their TOML spelling of none (``alliance_outcome
        = ""``, ``cutpoints = []``).
        """
        out = toml_fields(self)
        for name, none in _NONE_IN_TOML.items():
            if getattr(self, name) is None:
                out[name] = none
        return out

    def check(self, codebook: Codebook) -> None:
        """Check the design against a codebook; raise :class:`DesignError` listing every problem."""
        problems = _codebook_problems(self, codebook)
        if problems:
            raise DesignError(f"design against {codebook.source}", problems)


def _defaults() -> dict:
    return {f.name: f.default if f.default_factory is MISSING else f.default_factory()
            for f in fields(Design)}


def _int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise TypeError(f"must be a whole number, got {value!r}")
    return int(value)


def _float(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number, got {value!r}")
    return float(value)


def _range(value) -> tuple[int, int]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (_int(value), _int(value))
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise TypeError(f"must be a number or a [low, high] pair, got {value!r}")
    return (_int(value[0]), _int(value[1]))


def _names(value) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"must be a list of condition names, got {value!r}")
    return tuple(value)


def _numbers(value) -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"must be a list of numbers, got {value!r}")
    return tuple(_float(v) for v in value)


def _number_table(value) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"must be a table of name = number, got {value!r}")
    return {str(k): _float(v) for k, v in value.items()}


def _optional(parse):
    return lambda value: None if value is None else parse(value)


def _text(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, got {value!r}")
    return value


# Fields whose default is not None, and how TOML (no null) says None for them.
_NONE_IN_TOML = {"alliance_outcome": "", "cutpoints": []}

_PARSERS = {
    "alliances": _int, "organisations": _range, "networks": _range, "people": _range,
    "respondents_per_organisation": _range, "shared_organisations": _float,
    "conditions": _names, "condition_correlation": _float,
    "effects": _optional(_number_table), "interpersonal_share": _optional(_float),
    "explained_variance": _float, "effect_weights": _number_table, "group_sd": _number_table,
    "family": _text, "outcome": _text,
    "alliance_outcome": _optional(lambda value: _text(value) or None),
    "cutpoints": _optional(lambda value: _numbers(value) or None),
    "intercept": _float, "sigma": _float, "trials": _int, "count_mean": _float,
    "missing_rate": _float, "raters": _optional(_number_table),
}


def _design_problems(v: dict, only: set | None = None) -> list[str]:
    """Every problem with the design's values (not needing a codebook).

    ``only`` restricts the checks to keys that parsed (when others failed to parse, their
    defaults stand in and are not re-reported).
    """
    problems: list[str] = []

    def want(*keys):
        return only is None or any(k in only for k in keys)

    if want("alliances") and v["alliances"] < 1:
        problems.append(f"alliances must be at least 1, got {v['alliances']}")
    sizes_ok = True
    for key, (lo, hi) in SIZE_LIMITS.items():
        low, high = v[key]
        if not (lo <= low <= high <= hi):
            sizes_ok = False
            if want(key):
                problems.append(f"{key} must be a range [low, high] with {lo} <= low <= high <= {hi}, "
                                f"got [{low}, {high}]")
    if want("organisations", "people", "respondents_per_organisation") and sizes_ok:
        for n_org in range(v["organisations"][0], v["organisations"][1] + 1):
            if not _feasible_sizes(n_org, v["people"], v["respondents_per_organisation"]):
                problems.append(f"an alliance of {n_org} organisations cannot fill a network of "
                                f"{v['people'][0]}-{v['people'][1]} people with "
                                f"{v['respondents_per_organisation'][0]}-"
                                f"{v['respondents_per_organisation'][1]} respondents per organisation")
    if want("shared_organisations") and not 0 <= v["shared_organisations"] < 1:
        problems.append(f"shared_organisations must be in [0, 1), got {v['shared_organisations']}")
    if want("conditions"):
        if len(set(v["conditions"])) < len(v["conditions"]):
            problems.append("conditions lists a name twice")
    if want("condition_correlation") and not 0 <= v["condition_correlation"] < 1:
        problems.append(f"condition_correlation must be in [0, 1), got {v['condition_correlation']}")
    if want("effects", "interpersonal_share"):
        if v["effects"] is not None and v["interpersonal_share"] is not None:
            problems.append("give either effects (explicit) or interpersonal_share (generated), "
                            "not both")
    if want("effects") and v["effects"] is not None:
        unknown = sorted(set(v["effects"]) - set(v["conditions"]))
        lacking = [c for c in v["conditions"] if c not in v["effects"]]
        if unknown:
            problems.append(f"effects for conditions not in the design: {', '.join(unknown)}")
        if lacking:
            problems.append(f"effects missing for: {', '.join(lacking)}")
    if want("interpersonal_share") and v["interpersonal_share"] is not None \
            and not 0 <= v["interpersonal_share"] <= 1:
        problems.append(f"interpersonal_share must be in [0, 1], got {v['interpersonal_share']}")
    if want("explained_variance") and not v["explained_variance"] >= 0:
        problems.append(f"explained_variance must be >= 0, got {v['explained_variance']}")
    if want("effect_weights"):
        for name, weight in v["effect_weights"].items():
            if name not in v["conditions"]:
                problems.append(f"effect_weights names {name!r}, which is not in conditions")
            elif weight < 0:
                problems.append(f"effect_weights.{name} must be >= 0 (signs come from the codebook)")
    if want("group_sd"):
        for level, sd in v["group_sd"].items():
            if level not in GROUP_LEVELS:
                problems.append(f"group_sd.{level}: not a group level (use {', '.join(GROUP_LEVELS)})")
            elif sd < 0:
                problems.append(f"group_sd.{level} must be >= 0, got {sd}")
    if want("family") and v["family"] not in FAMILIES:
        problems.append(f"family {v['family']!r} is not one of {', '.join(FAMILIES)}")
    if want("cutpoints") and v["cutpoints"] is not None:
        cuts = v["cutpoints"]
        if len(cuts) < 1 or any(b <= a for a, b in zip(cuts, cuts[1:])):
            problems.append(f"cutpoints must be one or more strictly increasing numbers, "
                            f"got {list(cuts)}")
    if want("sigma") and not v["sigma"] > 0:
        problems.append(f"sigma must be > 0, got {v['sigma']}")
    if want("trials") and v["trials"] < 1:
        problems.append(f"trials must be at least 1, got {v['trials']}")
    if want("count_mean") and not v["count_mean"] > 0:
        problems.append(f"count_mean must be > 0, got {v['count_mean']}")
    if want("missing_rate") and not 0 <= v["missing_rate"] < 1:
        problems.append(f"missing_rate must be in [0, 1), got {v['missing_rate']}")
    if want("raters") and v["raters"] is not None:
        raters = v["raters"]
        for key in sorted(set(raters) - set(RATER_KEYS)):
            problems.append(f"raters.{key}: unknown key (use {', '.join(RATER_KEYS)})")
        n = raters.get("n", 2)
        if n != int(n) or n < 1:
            problems.append(f"raters.n must be a whole number >= 1, got {n}")
        for key in ("bias_sd", "noise_sd"):
            if raters.get(key, 0) < 0:
                problems.append(f"raters.{key} must be >= 0, got {raters[key]}")
    return problems


def _codebook_problems(design: Design, codebook: Codebook) -> list[str]:
    problems = []
    for level in GROUP_LEVELS:
        if level not in codebook.ids:
            problems.append(f"the codebook has no ID column for {level} "
                            "(the simulator generates all four levels)")
    for name in design.conditions:
        if name not in codebook.conditions:
            problems.append(f"condition {name!r} is not in the codebook")
    for key, wanted_level in (("outcome", "individual"), ("alliance_outcome", "alliance")):
        name = getattr(design, key)
        if name is None:
            continue
        if name not in codebook.outcomes:
            problems.append(f"{key} {name!r} is not an outcome in the codebook")
            continue
        var = codebook.outcomes[name]
        if var.level != wanted_level:
            problems.append(f"{key} {name!r} is declared at level {var.level}, expected {wanted_level}")
        draws = OUTCOME_DRAWS[design.family]
        if var.scale.kind != draws.scale:
            problems.append(f"{key} {name!r} has scale {var.scale}, which family "
                            f"{design.family!r} cannot produce (it gives "
                            f"{draws.scale} codes)")
        elif "cutpoints" in draws.parameters and design.cutpoints is not None \
                and len(design.cutpoints) != var.scale.n_categories - 1:
            problems.append(f"{key} {name!r} has {var.scale.n_categories} categories, so it needs "
                            f"{var.scale.n_categories - 1} cutpoints, got {len(design.cutpoints)}")
    return problems


def load_design(path: str | Path) -> Design:
    """Read a design from TOML.

    Raises
    ------
    DesignError
        Listing every problem in the file.
    """
    return Design.from_dict(read_toml(path, DesignError), source=str(path))


def example_design_path() -> Path:
    """Path of the shipped example study's design."""
    return Path(str(resources.files("data") / "example" / "design.toml"))


# -- the simulation -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Simulation:
    """A simulated case survey and the values that generated it.

    Attributes
    ----------
    data : pandas.DataFrame
        Wide form, one row per respondent, in the codebook's column names; group-level
        conditions repeated on their members' rows; missing codes are NA.
    truth : dict
        Generating values (JSON-ready): ``effects`` (per SD of the observed coded condition),
        ``effects_per_unit``, ``standardisation``, ``cutpoints`` or ``intercept``/``sigma``/
        ``trials``, ``group_sd``, ``group_effects`` (realised, by ID), ``shares`` (realised
        Pratt shares per level and side), ``sizes``, ``missing``, ``coding``,
        ``organisations_in_several_alliances``, ``design``, ``seed``.
    codebook : Codebook
        The codebook restricted to the simulated columns.
    coded : pandas.DataFrame or None
        Rater-coded long sheet (unit, condition, rater, value) when the design has raters.
    """

    data: pd.DataFrame
    truth: dict
    codebook: Codebook
    coded: pd.DataFrame | None = None

    def survey(self):
        """The data as a :class:`~data.survey.CaseSurvey`."""
        from .survey import CaseSurvey

        return CaseSurvey.from_wide(self.data, self.codebook, source="<simulated>")

    def __str__(self) -> str:
        sizes = self.truth["sizes"]
        n_missing = sum(self.truth["missing"].values())
        return (f"simulated case survey: {sizes['alliance']} alliances, {sizes['network']} networks, "
                f"{sizes['organisation']} organisations, {sizes['individual']} respondents; "
                f"{len(self.truth['effects'])} conditions, outcome {self.truth['outcome']} "
                f"({self.truth['family']}); {n_missing} missing codes; seed {self.truth['seed']}")


def simulate(design: Design | str | Path | None = None, codebook: Codebook | str | Path | None = None,
             seed: int = 0) -> Simulation:
    """Simulate a case survey with a known truth.

    Parameters
    ----------
    design : Design, path or None
        What to simulate; None is the shipped example design.
    codebook : Codebook, path or None
        Names, levels, sides and scales; None is the shipped default codebook.
    seed : int
        Seed of the one ``numpy.random.default_rng`` that draws everything; the same design,
        codebook and seed give identical data.

    Returns
    -------
    Simulation
    """
    if design is None:
        design = load_design(example_design_path())
    elif not isinstance(design, Design):
        design = load_design(design)
    if not isinstance(codebook, Codebook):
        codebook = load_codebook(codebook)
    design.check(codebook)
    rng = np.random.default_rng(seed)

    structure = _draw_structure(design, rng)
    n_units = {"individual": len(structure["respondent_network"]),
               "network": len(structure["network_alliance"]),
               "organisation": len(structure["organisation_alliance"]),
               "alliance": design.alliances}
    alliance_of = {"individual": structure["network_alliance"][structure["respondent_network"]],
                   "network": structure["network_alliance"],
                   "organisation": structure["organisation_alliance"],
                   "alliance": np.arange(design.alliances)}
    row_index = {"individual": np.arange(n_units["individual"]),
                 "network": structure["respondent_network"],
                 "organisation": structure["respondent_organisation"],
                 "alliance": alliance_of["individual"]}

    # 1. latent conditions at their own level, correlated through an alliance climate
    rho = design.condition_correlation
    climate = rng.standard_normal(design.alliances)
    latent, coded, coding = {}, {}, {}
    for name in design.conditions:
        level = codebook.conditions[name].level
        own = rng.standard_normal(n_units[level])
        latent[name] = math.sqrt(rho) * climate[alliance_of[level]] + math.sqrt(1 - rho) * own
        scale = codebook.conditions[name].scale
        coded[name], coding[name] = _code(latent[name], scale, design.count_mean)

    # 2. standardise the coded values at their own level, spread them over respondent rows
    standardisation, columns = {}, []
    for name in design.conditions:
        level = codebook.conditions[name].level
        values = coded[name].astype(float)
        centre, scale = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
        if not scale > 0:
            raise DesignError("<design>", [f"condition {name!r} has no variation in the simulated "
                                           f"sample ({n_units[level]} {level} units): "
                                           "simulate more units"])
        rows = values[row_index[level]]
        standardisation[name] = {"level": level, "mean": centre, "sd": scale,
                                 "row_sd": float(rows.std(ddof=1)), "ddof": 1,
                                 "over": f"the {level} units"}
        columns.append((rows - centre) / scale)
    x = np.column_stack(columns) if columns else np.zeros((n_units["individual"], 0))

    # 3. effects, given or solved from the target share
    sides = np.array([codebook.conditions[c].side for c in design.conditions])
    if design.effects is not None:
        effects = np.array([design.effects[c] for c in design.conditions], dtype=float)
    else:
        effects = _effects_for_share(x, sides, design, codebook)
    eta_fixed = x @ effects if columns else np.zeros(n_units["individual"])

    # 4. group effects and the outcome
    group_effects = {level: rng.normal(0.0, design.group_sd.get(level, 0.0), n_units[level])
                     for level in GROUP_LEVELS}
    eta = eta_fixed + sum(group_effects[level][row_index[level]] for level in GROUP_LEVELS)
    cutpoints = _cutpoints(design, codebook, eta_fixed)
    y = _draw_outcome(eta, design, cutpoints, rng)
    alliance_y = None
    if design.alliance_outcome:
        # the alliance's mean of its respondents' eta (without the alliance effect), plus it
        members = row_index["alliance"]
        below = eta - group_effects["alliance"][members]
        alliance_eta = (np.bincount(members, weights=below, minlength=design.alliances)
                        / np.bincount(members, minlength=design.alliances) + group_effects["alliance"])
        alliance_y = _draw_outcome(alliance_eta, design, cutpoints, rng)

    # 5. missing codes after the outcome: MCAR at the condition's own level
    observed = {}
    for name in design.conditions:
        level = codebook.conditions[name].level
        gone = rng.random(n_units[level]) < design.missing_rate
        observed[name] = np.where(gone, np.nan, coded[name].astype(float))

    ids = _ids(n_units, structure)
    data = _wide_frame(design, codebook, ids, row_index, observed, y, alliance_y)
    outcomes = {design.outcome: y}
    if design.alliance_outcome:
        outcomes[design.alliance_outcome] = alliance_y
    coded_sheet = None
    if design.raters:
        coded_sheet = _rater_sheet(design, codebook, ids, structure, row_index, latent, observed,
                                   outcomes, rng)

    truth = _truth(design, codebook, seed, ids, effects, standardisation, x, sides, eta_fixed,
                   cutpoints, group_effects, observed, n_units, coding)
    truth["organisations_in_several_alliances"] = {
        ids["organisation"][o]: [ids["alliance"][a] for a in alliances]
        for o, alliances in enumerate(structure["organisation_alliances"]) if len(alliances) > 1}
    keep = [*design.conditions, *outcomes]
    return Simulation(data=data, truth=truth, codebook=codebook.restrict(keep), coded=coded_sheet)


def _feasible_sizes(n_org: int, people: tuple[int, int], per_org: tuple[int, int]) -> list[int]:
    """Network sizes within ``people`` that ``n_org`` organisations can fill."""
    lo, hi = per_org
    return [size for size in range(people[0], people[1] + 1)
            if any(m * lo <= size <= m * hi for m in range(1, n_org + 1))]


def _draw_structure(design: Design, rng: np.random.Generator) -> dict:
    """Alliances, their organisations and networks, and each respondent's network and organisation.

    Network sizes are drawn uniformly from the ``people`` sizes the alliance's organisations
    can fill; each network draws how many organisations take part, giving priority to
    organisations not yet in any network so every organisation gets respondents when the
    design allows it, then spreads its people over them within ``respondents_per_organisation``.
    """
    lo, hi = design.respondents_per_organisation
    org_home: list[int] = []
    network_alliance, resp_network, resp_org = [], [], []
    for a in range(design.alliances):
        n_org = int(rng.integers(design.organisations[0], design.organisations[1] + 1))
        members: list[int] = []
        earlier = len(org_home)  # organisations 0..earlier-1 belong to earlier alliances
        for _ in range(n_org):
            borrowed = [o for o in members if o < earlier]
            if (design.shared_organisations > 0 and len(borrowed) < earlier
                    and rng.random() < design.shared_organisations):
                pick = int(rng.integers(earlier))
                while pick in borrowed:  # uniform over the earlier organisations not yet taken
                    pick = int(rng.integers(earlier))
                members.append(pick)
            else:
                org_home.append(a)
                members.append(len(org_home) - 1)
        n_net = int(rng.integers(design.networks[0], design.networks[1] + 1))
        unused = [members[i] for i in rng.permutation(n_org)]
        sizes = _feasible_sizes(n_org, design.people, design.respondents_per_organisation)
        for k in range(n_net):
            network = len(network_alliance)
            network_alliance.append(a)
            size = sizes[int(rng.integers(len(sizes)))]
            m_lo, m_hi = -(-size // hi), min(n_org, size // lo)
            m = int(rng.integers(m_lo, m_hi + 1))
            m = max(m, min(m_hi, -(-len(unused) // (n_net - k))))  # spread unused organisations
            fresh = unused[:m]
            unused = unused[m:]
            rest = [o for o in members if o not in fresh]
            extra = [rest[i] for i in rng.permutation(len(rest))[: m - len(fresh)]]
            taking = fresh + extra
            counts = np.full(m, lo)
            for _ in range(size - m * lo):
                open_ = np.flatnonzero(counts < hi)
                counts[open_[int(rng.integers(len(open_)))]] += 1
            for org, count in zip(taking, counts):
                resp_network += [network] * int(count)
                resp_org += [org] * int(count)
    # organisations without respondents do not appear in the data; renumber the rest
    used = sorted(set(resp_org))
    if len(used) < len(org_home):
        logger.warning("%d organisation(s) got no respondents (networks too small for the "
                       "organisations per alliance) and are left out", len(org_home) - len(used))
    renumber = {old: new for new, old in enumerate(used)}
    memberships: dict[int, set[int]] = {}  # alliances in which an organisation has respondents
    for org, network in zip(resp_org, resp_network):
        memberships.setdefault(org, set()).add(network_alliance[network])
    org_alliances = [sorted(memberships[old]) for old in used]
    return {
        "network_alliance": np.array(network_alliance, dtype=int),
        "respondent_network": np.array(resp_network, dtype=int),
        "respondent_organisation": np.array([renumber[o] for o in resp_org], dtype=int),
        "organisation_alliance": np.array([org_home[old] for old in used], dtype=int),
        "organisation_alliances": org_alliances,
    }


def _code(latent: np.ndarray, scale, count_mean: float) -> tuple[np.ndarray, dict]:
    """Code latent standard-normal values on a condition's scale (deterministic)."""
    if scale.kind == "ordinal":
        k = scale.n_categories
        thresholds = [NormalDist().inv_cdf(i / k) for i in range(1, k)]
        return 1 + np.searchsorted(thresholds, latent), {"rule": "equal-probability normal quantiles",
                                                         "thresholds": thresholds}
    if scale.kind == "binary":
        return (latent > 0).astype(int), {"rule": "latent > 0", "thresholds": [0.0]}
    if scale.kind == "count":
        # Poisson quantile of Phi(latent): a Poisson margin, monotone in the latent value
        top = int(count_mean + 12 * math.sqrt(count_mean) + 20)
        pmf = np.array([math.exp(j * math.log(count_mean) - count_mean - math.lgamma(j + 1))
                        for j in range(top + 1)])
        cdf = np.cumsum(pmf)
        u = np.array([NormalDist().cdf(z) for z in latent])
        return np.minimum(np.searchsorted(cdf, u), top), {"rule": "Poisson quantile of Phi(latent)",
                                                           "mean": count_mean}
    return np.round(latent, 3), {"rule": "latent value rounded to 3 decimals"}


def _effects_for_share(x: np.ndarray, sides: np.ndarray, design: Design,
                       codebook: Codebook) -> np.ndarray:
    """Effects whose Pratt interpersonal share and Var(eta_fixed) equal the targets in this sample.

    With direction vectors ``d_I``, ``d_O`` (weights x expected signs) and effects
    ``alpha d_I + beta d_O``, let ``A = Var(X d_I)``, ``B = Var(X d_O)``,
    ``C = Cov(X d_I, X d_O)`` over respondents. The share ``s`` requires
    ``(alpha^2 A + alpha beta C) = s V`` and ``(beta^2 B + alpha beta C) = (1 - s) V``;
    with ``r = beta / alpha`` this is ``s B r^2 + (2s - 1) C r - (1 - s) A = 0``, whose
    roots have product ``-(1 - s) A / (s B) < 0``, so exactly one is positive.
    """
    share, target = design.interpersonal_share, design.explained_variance
    if target == 0:
        return np.zeros(len(design.conditions))
    signs = np.array([codebook.conditions[c].expected_sign or 1 for c in design.conditions],
                     dtype=float)
    weights = np.array([design.effect_weights.get(c, 1.0) for c in design.conditions]) * signs
    d_inter = np.where(sides == SIDES[0], weights, 0.0)
    d_org = np.where(sides == SIDES[1], weights, 0.0)
    n_cond = x.shape[1]
    cov = np.cov(x, rowvar=False, ddof=1).reshape(n_cond, n_cond) if n_cond else np.zeros((0, 0))
    a, b, c = d_inter @ cov @ d_inter, d_org @ cov @ d_org, d_inter @ cov @ d_org
    problems = []
    if share > 0 and not a > 0:
        problems.append("interpersonal_share > 0 needs at least one interpersonal condition "
                        "with a non-zero weight")
    if share < 1 and not b > 0:
        problems.append("interpersonal_share < 1 needs at least one interorganisational condition "
                        "with a non-zero weight")
    if problems:
        raise DesignError("<design>", problems)
    if share == 1:
        return math.sqrt(target / a) * d_inter
    if share == 0:
        return math.sqrt(target / b) * d_org
    discriminant = (2 * share - 1) ** 2 * c**2 + 4 * share * (1 - share) * a * b
    r = (-(2 * share - 1) * c + math.sqrt(discriminant)) / (2 * share * b)
    alpha = math.sqrt(target / (a + 2 * r * c + r**2 * b))
    return alpha * d_inter + alpha * r * d_org


def _cutpoints(design: Design, codebook: Codebook, eta_fixed: np.ndarray) -> list[float] | None:
    """The design's cutpoints, or equal-probability ones for the design's latent variance."""
    if "cutpoints" not in OUTCOME_DRAWS[design.family].parameters:
        return None
    if design.cutpoints is not None:
        return list(design.cutpoints)
    k = codebook.outcomes[design.outcome].scale.n_categories
    group_var = sum(sd**2 for sd in design.group_sd.values())
    latent_var = float(eta_fixed.var(ddof=1)) + group_var + LOGISTIC_VARIANCE
    # logistic quantiles of k equal categories, widened by the latent SD relative to the logistic's
    stretch = math.sqrt(latent_var / LOGISTIC_VARIANCE)
    return [stretch * math.log(i / (k - i)) for i in range(1, k)]


def _draw_outcome(eta: np.ndarray, design: Design, cutpoints, rng: np.random.Generator) -> np.ndarray:
    return OUTCOME_DRAWS[design.family].draw(eta, design, cutpoints, rng)


# -- how each family's outcome is drawn --------------------------------------------------------
# data comes before models, so the simulator cannot ask models.Family; it keeps this table of
# what it needs to *draw* a family, and tests/data/test_simulate.py checks it against
# models.FAMILIES (same names, a scale the family fits, discrete where the family is).
def _draw_ordinal(eta, design, cutpoints, rng):
    latent = eta + rng.logistic(0.0, 1.0, len(eta))
    return 1 + np.searchsorted(np.asarray(cutpoints), latent)


def _draw_gaussian(eta, design, cutpoints, rng):
    return np.round(design.intercept + eta + rng.normal(0.0, design.sigma, len(eta)), 3)


def _success_probability(eta, design):
    return 1.0 / (1.0 + np.exp(-(design.intercept + eta)))


def _draw_bernoulli(eta, design, cutpoints, rng):
    return (rng.random(len(eta)) < _success_probability(eta, design)).astype(int)


def _draw_binomial(eta, design, cutpoints, rng):
    return rng.binomial(design.trials, _success_probability(eta, design))


@dataclass(frozen=True)
class OutcomeDraw:
    """How the simulator draws one family's outcome.

    ``scale``: the codebook scale kind of the codes it produces; ``discrete``: integer codes
    (else floats); ``parameters``: the :class:`Design` fields it uses, recorded in the truth
    (``cutpoints`` are the ones used, defaults included); ``draw(eta, design, cutpoints, rng)``.
    """

    scale: str
    discrete: bool
    parameters: tuple[str, ...]
    draw: Callable


OUTCOME_DRAWS: dict[str, OutcomeDraw] = {
    "ordinal": OutcomeDraw("ordinal", True, ("cutpoints",), _draw_ordinal),
    "gaussian": OutcomeDraw("continuous", False, ("intercept", "sigma"), _draw_gaussian),
    "bernoulli": OutcomeDraw("binary", True, ("intercept",), _draw_bernoulli),
    "binomial": OutcomeDraw("count", True, ("intercept", "trials"), _draw_binomial),
}
FAMILIES = tuple(OUTCOME_DRAWS)


def _ids(n_units: dict, structure: dict) -> dict[str, list[str]]:
    """String IDs: alliances A01, networks A01-N2, organisations O017, respondents R00042."""
    def labels(prefix, n, least):
        width = max(least, len(str(n)))
        return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]

    alliances = labels("A", n_units["alliance"], 2)
    networks, counter = [], {}
    for a in structure["network_alliance"]:
        counter[a] = counter.get(a, 0) + 1
        networks.append(f"{alliances[a]}-N{counter[a]}")
    organisations = labels("O", n_units["organisation"], 3)
    respondents = labels("R", n_units["individual"], 5)
    return {"individual": respondents, "network": networks, "organisation": organisations,
            "alliance": alliances}


def _wide_frame(design, codebook, ids, row_index, observed, y, alliance_y) -> pd.DataFrame:
    columns = {}
    for level in LEVELS:
        labels = np.asarray(ids[level], dtype=object)[row_index[level]]
        columns[codebook.ids[level]] = pd.array(labels, dtype="str")
    for name in design.conditions:
        var = codebook.conditions[name]
        values = observed[name][row_index[var.level]]
        columns[name] = pd.array(values, dtype="Float64" if not var.scale.integer else "Int64")
    dtype = "Int64" if OUTCOME_DRAWS[design.family].discrete else "Float64"
    columns[design.outcome] = pd.array(y, dtype=dtype)
    if alliance_y is not None:
        columns[design.alliance_outcome] = pd.array(alliance_y[row_index["alliance"]], dtype=dtype)
    return pd.DataFrame(columns)


def _rater_sheet(design, codebook, ids, structure, row_index, latent, observed, outcomes,
                 rng) -> pd.DataFrame:
    """The coding sheet (layout of :mod:`data.coded`): one row per unit, condition and rater.

    Each rater codes a condition from the unit's latent value plus a rater bias (one draw
    per rater and condition, SD ``bias_sd``) and noise (one draw per code, SD ``noise_sd``),
    with the same coding rule as the wide data, whose codes are the error-free ones that
    the truth's effects refer to. A code missing in the wide data is an empty value for
    every rater. Outcomes are copied to every rater without error. Rows name the unit by
    its level's ID column plus the IDs of the groups it belongs to (an organisation, which
    may be in several alliances, names only itself).
    """
    n_raters = int(design.raters.get("n", 2))
    bias_sd = design.raters.get("bias_sd", 0.0)
    noise_sd = design.raters.get("noise_sd", 0.0)
    id_col, cols = codebook.ids, codebook.coded
    labels = {level: np.asarray(ids[level], dtype=object) for level in LEVELS}
    nesting = {
        "individual": {level: labels[level][row_index[level]] for level in LEVELS},
        "network": {"network": labels["network"],
                    "alliance": labels["alliance"][structure["network_alliance"]]},
        "organisation": {"organisation": labels["organisation"]},
        "alliance": {"alliance": labels["alliance"]},
    }

    def block(name, level, rater, values, integer):
        frame = {id_col[lvl]: nesting[level].get(lvl, None) for lvl in LEVELS}
        cells = [None if np.isnan(v) else (int(v) if integer else float(v)) for v in values]
        # object column: whole codes print as "4", not "4.0", and a missing code as ""
        frame.update({cols["condition"]: name, cols["rater"]: rater,
                      cols["value"]: pd.Series(cells, dtype=object)})
        return pd.DataFrame(frame)

    parts = []
    for name in design.conditions:
        var = codebook.conditions[name]
        bias = rng.normal(0.0, bias_sd, n_raters)
        missing = np.isnan(observed[name])
        for r in range(n_raters):
            noisy = latent[name] + bias[r] + rng.normal(0.0, noise_sd, len(latent[name]))
            codes, _ = _code(noisy, var.scale, design.count_mean)
            values = np.where(missing, np.nan, codes.astype(float))
            parts.append(block(name, var.level, f"rater{r + 1}", values, var.scale.integer))
    for name, values in outcomes.items():
        var = codebook.outcomes[name]
        for r in range(n_raters):
            parts.append(block(name, var.level, f"rater{r + 1}", values.astype(float),
                               var.scale.integer))
    sheet = pd.concat(parts, ignore_index=True)
    for level in LEVELS:
        sheet[id_col[level]] = sheet[id_col[level]].astype("str")
    return sheet


def _pratt(x, effects, labels) -> dict:
    """Pratt shares Cov(c_g, eta_fixed) / Var(eta_fixed) and Var(c_g) for each group label."""
    eta = x @ effects
    total = float(eta.var(ddof=1))
    shares, variances = {}, {}
    for label in dict.fromkeys(labels):
        part = x[:, labels == label] @ effects[labels == label]
        variances[str(label)] = float(part.var(ddof=1))
        covariance = float(np.sum((part - part.mean()) * (eta - eta.mean())) / (len(eta) - 1))
        shares[str(label)] = covariance / total if total > 0 else float("nan")
    return {"share": shares, "variance": variances}


def _truth(design, codebook, seed, ids, effects, standardisation, x, sides, eta_fixed, cutpoints,
           group_effects, observed, n_units, coding) -> dict:
    levels = np.array([codebook.conditions[c].level for c in design.conditions])
    names = list(design.conditions)
    by_level = _pratt(x, effects, levels) if names else {"share": {}, "variance": {}}
    by_side = _pratt(x, effects, sides) if names else {"share": {}, "variance": {}}
    truth = {
        "simulated": True,
        "seed": int(seed),
        "package_version": toolkit_version(),
        "family": design.family,
        "outcome": design.outcome,
        "alliance_outcome": design.alliance_outcome,
        "effects": {c: float(b) for c, b in zip(names, effects)},
        "effects_per_unit": {c: float(b) / standardisation[c]["sd"] for c, b in zip(names, effects)},
        "condition_level": {c: str(lvl) for c, lvl in zip(names, levels)},
        "condition_side": {c: str(side) for c, side in zip(names, sides)},
        "standardisation": standardisation,
        "coding": coding,
        "condition_correlation": design.condition_correlation,
        "group_sd": {level: float(design.group_sd.get(level, 0.0)) for level in GROUP_LEVELS},
        "group_effects": {level: dict(zip(ids[level], map(float, group_effects[level])))
                          for level in GROUP_LEVELS},
        "explained_variance": float(eta_fixed.var(ddof=1)),
        "shares": {
            "measure": "Pratt: Cov(c_g, eta_fixed) / Var(eta_fixed) over respondents (ddof=1)",
            "level": by_level["share"], "side": by_side["share"],
            "variance_level": by_level["variance"], "variance_side": by_side["variance"],
        },
        "sizes": {level: int(n_units[level]) for level in LEVELS},
        "missing": {c: int(np.isnan(observed[c]).sum()) for c in names},
        "design": design.to_dict(),
    }
    for name in OUTCOME_DRAWS[design.family].parameters:
        truth[name] = [float(c) for c in cutpoints] if name == "cutpoints" else getattr(design, name)
    if design.alliance_outcome:
        truth["alliance_outcome_model"] = ("same family and cutpoints/intercept, linear predictor = "
                                           "the alliance's mean of eta_fixed + network + "
                                           "organisation effects over its "
                                           "respondents, plus the alliance effect")
    return truth


# -- saving --------------------------------------------------------------------------------------

def simulation_paths(path: str | Path) -> dict[str, Path]:
    """Where :func:`save_simulation` writes: ``data``, ``truth`` and ``coded`` paths."""
    path = Path(path)
    return {"data": path, "truth": path.with_name(f"{path.stem}.truth.json"),
            "coded": path.with_name(f"{path.stem}.coded.csv")}


def save_simulation(sim: Simulation, path: str | Path, overwrite: bool = False) -> dict[str, Path]:
    """Write a simulation: its data, its truth and (when rater-coded) its coding sheet.

    The data go to ``path`` (CSV or Parquet, by extension), the truth to
    ``<stem>.truth.json`` (generating values, design, seed, package version) and the
    coding sheet to ``<stem>.coded.csv``. Every file is written to a temporary file in the
    same folder and renamed into place; missing parent folders are created.
    Existing files are refused unless ``overwrite=True``. Returns the paths written.
    """
    paths = simulation_paths(path)
    stale = paths.pop("coded") if sim.coded is None else None
    suffix = paths["data"].suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"{paths['data']}: write simulated data as .csv or .parquet, not {suffix!r}")
    existing = [str(p) for p in [*paths.values(), stale] if p is not None and p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); refusing to overwrite "
                              "(use --force)")
    paths["data"].parent.mkdir(parents=True, exist_ok=True)  # like save_run's, every --out's
    if stale is not None and stale.exists():  # an earlier simulation's coding sheet must not stay
        stale.unlink()
        logger.warning("removed %s, the coding sheet of the simulation this one overwrites", stale)

    if suffix == ".csv":
        write_csv(paths["data"], sim.data)
    else:
        buffer = io.BytesIO()
        sim.data.to_parquet(buffer, index=False)
        atomic_write(paths["data"], buffer.getvalue())
    truth = json.dumps(sim.truth, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    atomic_write(paths["truth"], truth)
    if "coded" in paths:
        write_csv(paths["coded"], sim.coded)
    logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
