"""The numbers a model is built from: standardised design matrices, indices, outcome.

:func:`make_design` turns a checked spec and a survey into a :class:`ModelDesign`: one matrix
of standardised conditions per level (rows are the units of that level, so a network
condition has one value per network), the position of each individual's groups, where
the missing codes are, and the outcome coded for its family. It is plain NumPy, so it can
be inspected and tested without PyMC; :mod:`models.build` puts it into a PyMC graph and
:meth:`ModelDesign.data` gives the arrays that fill the model's data containers (the same
names are used to refit a compiled model on new data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from data.codebook import LEVELS

from .families import FAMILIES, Family
from .macro import MacroDesign, is_alliance_outcome, macro_design
from .raters import RaterDesign, overlap_problems, rater_conditions, rater_design
from .spec import ModelSpec, check_spec

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class ModelDesign:
    """Arrays and labels of one model (see :func:`make_design`).

    Attributes
    ----------
    spec : ModelSpec
        The checked spec (family, conditions and group effects resolved).
    family : Family
    conditions : tuple of str
        The model's conditions, in spec order (the ``condition`` dimension).
    condition_level, condition_side : dict of str to str
        Level and side of each condition, from the codebook.
    center, scale : dict of str to float
        Standardisation of each condition: ``z = (raw - center) / scale``, with the mean
        and SD (ddof=1) over the observed units of the condition's own level; 0 and 1 when
        ``standardize`` is off.
    raw_sd : dict of str to float
        SD of each condition on its raw scale (over its level's units).
    level_conditions : dict of str to tuple of str
        Conditions of each level that has any, in spec order.
    X : dict of str to ndarray
        Standardised conditions per level (units x conditions); missing codes hold 0 and
        are listed in ``missing``.
    missing : dict of str to tuple
        Per level: (row positions, column positions, labels ``"unit:condition"``) of the
        missing codes, each imputed by one latent value.
    index : dict of str to ndarray
        Position of each modelled individual's group at each group level used.
    y : ndarray
        Outcome of each modelled individual, coded for the family: the codebook's code
        minus ``family.y_offset`` (ordinal categories ``0..K-1``), integers for a discrete
        family.
    trials : ndarray or None
        Binomial trials per individual.
    n_categories : int or None
        Number of categories of a family whose values are the outcome scale's categories
        (ordinal).
    outcome_location, outcome_scale : float
        Mean and SD of the outcome for a family that models it standardised
        (``family.scaled_y``: gaussian; 0 and 1 otherwise), which also scale the default priors.
    coords : dict of str to list
        Labels of every dimension of the model.
    n_missing_outcome : int
        Individuals left out of the likelihood because their outcome is missing.
    condition_mask : ndarray or None
        1.0 for each condition that enters the linear predictor, 0.0 for one left out of a
        sub-model (None: all enter). A sub-model (dominance analysis, predictive
        comparison) is the same graph with another mask, so it reuses the compilation;
        see :meth:`with_active_conditions`.
    raters : RaterDesign or None
        The rater model's arrays (:mod:`models.raters`) when the survey carries raters'
        codes: the rater-modelled conditions are latent true scores (every unit of them is
        listed in ``missing``), measured by the codes.
    macro : MacroDesign or None
        An alliance-level outcome's measurement arrays (:mod:`models.macro`): the units
        (``y``, the ``individual`` dim) are then the alliances and ``X`` holds one row per
        alliance at every level.
    """

    spec: ModelSpec
    family: Family
    conditions: tuple[str, ...]
    condition_level: dict[str, str]
    condition_side: dict[str, str]
    center: dict[str, float]
    scale: dict[str, float]
    raw_sd: dict[str, float]
    level_conditions: dict[str, tuple[str, ...]]
    X: dict[str, np.ndarray]
    missing: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]
    index: dict[str, np.ndarray]
    y: np.ndarray
    trials: np.ndarray | None
    n_categories: int | None
    outcome_location: float
    outcome_scale: float
    coords: dict[str, list] = field(default_factory=dict)
    n_missing_outcome: int = 0
    condition_mask: np.ndarray | None = None
    raters: RaterDesign | None = None
    macro: MacroDesign | None = None

    @property
    def n(self) -> int:
        """Number of modelled individuals."""
        return len(self.y)

    def data(self) -> dict[str, np.ndarray]:
        """Arrays of the model's data containers, by container name.

        These are what changes when a compiled model is refitted on new data of the same
        structure (``nutpie``'s ``with_data``).
        """
        out: dict[str, np.ndarray] = {"y_observed": self.y}
        if self.conditions:
            out["condition_mask"] = self.mask
        if self.trials is not None:
            out["trials"] = self.trials
        if self.family.scaled_y:
            out["outcome_location"] = np.asarray(self.outcome_location, dtype=float)
            out["outcome_scale"] = np.asarray(self.outcome_scale, dtype=float)
        for level, matrix in self.X.items():
            # row-major: the ordinal likelihood reads one individual's row at a time (a
            # column-major X made its numba kernel 3x slower inside PyTensor's graph)
            out[f"X_{level}"] = np.ascontiguousarray(matrix)
            rows, cols, _ = self.missing[level]
            if len(rows):
                out[f"missing_row_{level}"] = rows
                out[f"missing_col_{level}"] = cols
        for level, idx in self.index.items():
            out[f"idx_{level}"] = idx
        if self.macro is None and self.table_levels:
            out["idx_table"] = self.table_positions()
        if self.raters is not None:
            out.update(self.raters.data())
        if self.macro is not None:
            out.update(self.macro.data())
        return out

    @property
    def table_levels(self) -> tuple[str, ...]:
        """The group levels with conditions or group effects, in the order of their table.

        The linear predictor looks up each individual's values of these levels in one table
        (models.build, models.ordinal).
        """
        return tuple(level for level in LEVELS[1:]
                     if level in self.level_conditions or level in self.spec.group_effects)

    def table_positions(self) -> np.ndarray:
        """Each individual's rows in the table of the table levels' values (n x levels).

        The levels' values follow one another in the table. A data container, so that a
        log-density does not stack the levels' positions again at every call.
        """
        columns, start = [], 0
        for level in self.table_levels:
            columns.append(self.index[level] + start)
            start += len(self.coords[level])
        return np.stack(columns, axis=1)

    @property
    def mask(self) -> np.ndarray:
        """1.0 for each condition in the linear predictor, 0.0 for one left out."""
        if self.condition_mask is None:
            return np.ones(len(self.conditions))
        return np.asarray(self.condition_mask, dtype=float)

    @property
    def active_conditions(self) -> tuple[str, ...]:
        """The conditions that enter the linear predictor, in spec order."""
        return tuple(c for c, m in zip(self.conditions, self.mask, strict=True) if m)

    def with_active_conditions(self, active) -> ModelDesign:
        """Return the same design with only ``active`` conditions in the linear predictor.

        The others keep their data, priors and imputed values (drawn from their priors,
        as nothing informs them) but contribute nothing to eta: the sub-model has the
        same compiled graph and differs only in the ``condition_mask`` container.
        """
        active = tuple(active)
        unknown = [c for c in active if c not in self.conditions]
        if unknown:
            raise ValueError(f"condition(s) not in the model: {', '.join(unknown)} "
                             f"(the model has {', '.join(self.conditions) or 'none'})")
        mask = np.array([1.0 if c in active else 0.0 for c in self.conditions])
        return replace(self, condition_mask=mask)

    def structure_key(self) -> tuple:
        """What a compiled model depends on besides the data values (for reuse)."""
        shapes = tuple(sorted((name, np.shape(a), np.asarray(a).dtype.str) for name, a in self.data().items()))
        sizes = tuple(sorted((dim, len(labels)) for dim, labels in self.coords.items()))
        return (repr(sorted(self.spec.to_dict().items())), shapes, sizes,
                tuple(sorted(self.condition_level.items())))

    def standardised(self, condition: str) -> np.ndarray:
        """Standardised values of one condition over its level's units (NaN where missing)."""
        level = self.condition_level[condition]
        j = self.level_conditions[level].index(condition)
        column = self.X[level][:, j].copy()
        rows, cols, _ = self.missing[level]
        column[rows[cols == j]] = np.nan
        return column


def conditions_by_level(codebook, conditions) -> tuple[dict, dict, dict]:
    """Each condition's level and side, and the conditions of each level that has any.

    Returns ``(condition_level, condition_side, level_conditions)``; ``level_conditions``
    lists the levels in :data:`data.codebook.LEVELS` order, each with its conditions in the
    order given.
    """
    condition_level = {c: codebook.conditions[c].level for c in conditions}
    condition_side = {c: codebook.conditions[c].side for c in conditions}
    level_conditions = {lvl: tuple(c for c in conditions if condition_level[c] == lvl)
                        for lvl in LEVELS if any(condition_level[c] == lvl for c in conditions)}
    return condition_level, condition_side, level_conditions


def make_design(spec: ModelSpec, survey) -> ModelDesign:
    """Standardise conditions, index groups, code the outcome.

    Parameters
    ----------
    spec : ModelSpec
        Checked (and defaults filled in) by :func:`models.check_spec` here.
    survey : data.CaseSurvey

    Returns
    -------
    ModelDesign

    Notes
    -----
    When the survey carries raters' codes (``survey.rater_codes``, see
    :meth:`data.coded.CodedSurvey.with_raters`), the model's ordinal and binary conditions
    that raters coded become latent true scores on the standardised scale, measured by the
    codes (:mod:`models.raters`); their ``center`` and ``scale`` are the mean and SD of the
    collapsed codes (so that effects per raw unit stay approximately readable), whatever
    ``standardize`` says.

    Individuals whose outcome is missing are left out of the likelihood; how many is
    recorded in ``n_missing_outcome`` and logged. Missing condition codes stay in the
    design and are imputed inside the model, one latent value per missing code at the
    condition's own level (a network whose size is unknown gets one latent size).

    An outcome at the alliance level gets the micro-macro design of :mod:`models.macro`.
    """
    if is_alliance_outcome(spec, survey.codebook):
        return macro_design(spec, survey)
    spec = check_spec(spec, survey)
    codebook = survey.codebook
    family = FAMILIES[spec.family]
    outcome = codebook.outcomes[spec.outcome]

    people = survey.individuals
    observed = people[spec.outcome].notna().to_numpy()
    if spec.trials is not None and isinstance(spec.trials, str):
        observed = observed & people[spec.trials].notna().to_numpy()
    n_missing_outcome = int((~observed).sum())
    if n_missing_outcome:
        logger.warning("%d individual(s) with a missing %s are left out of the likelihood",
                       n_missing_outcome, spec.outcome)
    people = people[observed]

    conditions = tuple(spec.conditions)
    condition_level, condition_side, level_conditions = conditions_by_level(codebook, conditions)
    levels_needed = list(level_conditions)

    codes = getattr(survey, "rater_codes", None)
    by_raters, left_collapsed = ([], []) if codes is None else rater_conditions(conditions, codebook, codes)
    if left_collapsed:
        logger.info("rater-coded %s: count or continuous scale, raters collapsed (%s)",
                    ", ".join(left_collapsed), getattr(survey, "measurement", "median"))

    center, scale, raw_sd, X, missing, tables = {}, {}, {}, {}, {}, {}
    for level in levels_needed:
        names = level_conditions[level]
        table = people if level == "individual" else survey.table(level)
        tables[level] = table
        raw = table[list(names)].astype(float)
        sd = raw.std(ddof=1)
        mean = raw.mean()
        for name in names:
            raw_sd[name] = float(sd[name]) if np.isfinite(sd[name]) else 1.0
            center[name] = float(mean[name]) if spec.standardize else 0.0
            scale[name] = float(sd[name]) if spec.standardize else 1.0
            if name in by_raters:  # a latent true score: standardised by construction
                center[name] = float(mean[name]) if np.isfinite(mean[name]) else 0.0
                scale[name] = raw_sd[name] if raw_sd[name] > 0 else 1.0
        z = (raw - pd.Series(center)[list(names)]) / pd.Series(scale)[list(names)]
        for name in names:
            if name in by_raters:
                z[name] = np.nan  # every unit's value is latent (listed in missing)
        values = z.to_numpy(dtype=float)
        rows, cols = np.nonzero(np.isnan(values))
        labels = [f"{table.index[r]}:{names[c]}" for r, c in zip(rows, cols, strict=True)]
        X[level] = np.where(np.isnan(values), 0.0, values)
        missing[level] = (rows.astype(np.int64), cols.astype(np.int64), labels)

    group_levels_needed = set(spec.group_effects) | {lvl for lvl in levels_needed if lvl != "individual"}
    if spec.varying_slopes:
        group_levels_needed.add("alliance")
    index = {}
    for level in LEVELS[1:]:
        if level in group_levels_needed:
            positions = pd.Index(survey.ids(level)).get_indexer(people[level].to_numpy())
            if (positions < 0).any():
                raise ValueError(f"{survey.source}: {int((positions < 0).sum())} individual(s) have a "
                                 f"{level} ID that is not in the {level} table")
            index[level] = positions.astype(np.int64)

    # the outcome as the family's model sees it (models.families.Family)
    y = people[spec.outcome].to_numpy(dtype=float) - family.y_offset
    if family.discrete:
        y = y.astype(np.int64)
    n_categories = outcome.scale.n_categories if family.scale_categories else None
    location, spread = 0.0, 1.0
    if family.scaled_y:
        location, spread = float(np.mean(y)), float(np.std(y, ddof=1))
    trials = None
    if family.needs_trials:
        n = people[spec.trials] if isinstance(spec.trials, str) else spec.trials
        trials = np.broadcast_to(np.asarray(n, dtype=np.int64), y.shape).copy()

    coords: dict[str, list] = {"individual": [str(i) for i in people.index], "condition": list(conditions)}
    for level in LEVELS[1:]:
        if level in index:
            coords[level] = [str(i) for i in survey.ids(level)]
    for level, names in level_conditions.items():
        coords[f"{level}_condition"] = list(names)
        if len(missing[level][0]):
            coords[f"{level}_missing"] = missing[level][2]
    if n_categories is not None:
        coords["cutpoint"] = [f"{k}|{k + 1}" for k in range(1, n_categories)]
    if spec.varying_slopes:
        coords["slope_condition"] = list(spec.varying_slopes)

    raters = None
    if by_raters:
        raters = rater_design(codes, codebook, by_raters, tables, missing, level_conditions)
        raters = replace(raters, collapsed=tuple(left_collapsed))
        for line in overlap_problems(raters.overlap):
            logger.warning("rater model: %s", line)
        coords["rater_condition"] = list(raters.conditions)
        coords["rater"] = list(raters.raters)
        coords["rater_cutpoint"] = [str(k + 1) for k in range(raters.max_cutpoints)]
        coords["rater_severity_free"] = raters.severity_labels

    return ModelDesign(spec=spec, family=family, conditions=conditions,
                  condition_level=condition_level, condition_side=condition_side,
                  center=center, scale=scale, raw_sd=raw_sd, level_conditions=level_conditions,
                  X=X, missing=missing, index=index, y=y, trials=trials,
                  n_categories=n_categories, outcome_location=location, outcome_scale=spread,
                  coords=coords, n_missing_outcome=n_missing_outcome, raters=raters)
