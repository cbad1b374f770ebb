"""The alliance-level (micro-macro) model: an outcome measured once per alliance.

An outcome whose codebook level is ``alliance`` (``collective_learning``) has one value per
case. Relating it to individual- and network-level conditions through the alliances'
*observed* member means treats those means as exact, although they are means of a few
members: the effects are attenuated (regression dilution) and the other effects biased
(Croon & van Veldhoven 2007). This module fits the latent-aggregation remedy, in one joint
PyMC model with the alliance regression:

- **member-level conditions** (individual and network level): each alliance a has a latent
  mean ``mu_ac`` of condition c (on the condition's standardised scale), and every observed
  member value (a respondent's, or a network's) is ``z_ic ~ Normal(mu_{a(i)c}, sigma_w_c)``;
  the means are ``mu_ac ~ Normal(m_c, tau_c)`` (hierarchical), so each alliance's mean is
  estimated from its members with its sampling error and shrunk by its reliability.
  The members enter through their sufficient statistics (count, mean, within sum of
  squares), and each mean is sampled relative to its conditional posterior given the
  members: ``mu_ac = pm_ac + ps_ac z_ac`` with ``z_ac ~ N(0, 1)``, where ``ps_ac^-2 = tau_c^-2 +
  n_ac / sigma_w_c^2`` and ``pm_ac = ps_ac^2 (m_c / tau_c^2 + n_ac xbar_ac / sigma_w_c^2)``; the
  members' density is then ``N(xbar_ac | m_c, tau_c^2 + sigma_w_c^2 / n_ac)`` times the
  within-alliance term. This is the same joint model, written so that the sampler sees no
  funnel whether an alliance has 3 members (networks) or 30 (respondents), and whether or not
  the outcome informs the mean (a dominance sub-model that leaves the condition out).
  Missing member values are absent from the measurement (missing at random; integrating
  them out). Binary and ordinal codes get the same Normal measurement model: its ``mu_ac`` is
  the alliance's expected standardised code (for a binary condition, its proportion), a
  normal approximation of the codes' distribution whose mean is exact.
- **organisation-level conditions** enter directly as the mean over the alliance's partner
  organisations (every organisation with respondents in the alliance, each counted once,
  whatever its number of respondents), of their standardised values: an alliance's partners
  are a census, not a sample, so their mean has no sampling error. An organisation in two
  alliances counts in both. A missing value is left out of the mean; an alliance with no
  observed partner value gets one latent value (the ``imputation`` prior).
- **alliance-level conditions** enter as they are (missing codes imputed as in every model).

The linear predictor of alliance a is ``eta_a = sum_L X_aL b_L (+ intercept)`` with the same
families, priors, shrinkage options and condition masks (sub-models) as the individual-level
model (:mod:`models.build`); there are no group intercepts (one value per alliance: the
alliance's own residual is the family's). The fit keeps the layout of every other fit, so
the decomposition, verdict, dominance, LOO, predictive checks and report run unchanged: the
model's unit dim ``individual`` holds the **alliances** (``y`` is one value per alliance),
and ``constant_data``'s ``X_<level>`` are (alliance x condition) with the latent means
listed as the level's missing values, whose draws are ``x_missing_<level>`` (row-major:
alliance by alliance). The variance shares are therefore shares of the explained variance
*between alliances*. The measurement's own parameters are ``macro_mean_<level>`` (``m_c``),
``macro_between_sd_<level>`` (``tau_c``), ``macro_within_sd_<level>`` (``sigma_w_c``) and
``z_macro_<level>`` (``z_ac``), and the member values enter as the potential
``macro_members_<level>`` (so that LOO and the predictive checks stay those of the outcome:
LOO leaves out whole alliances' outcomes).

``aggregation="observed"`` (:func:`macro_design`) gives the shortcut the validation
compares against: member-level conditions as the alliances' observed means, treated as exact.

Reference
---------
Croon, M. A. & van Veldhoven, M. J. P. M. (2007). Predicting group-level outcome variables
from variables measured at the individual level: a latent variable multilevel model.
*Psychological Methods* 12(1), 45-57. doi:10.1037/1082-989X.12.1.45
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .families import FAMILIES

logger = logging.getLogger(__name__)

#: Levels whose conditions reach an alliance outcome through latent alliance means.
MEMBER_LEVELS = ("individual", "network")
#: Levels whose conditions enter an alliance outcome directly (organisations as their mean).
DIRECT_LEVELS = ("organisation", "alliance")
AGGREGATIONS = ("latent", "observed")
#: Priors of the measurement sub-model, on the standardised scale of the conditions
#: (members' values have mean 0 and SD 1 over all members, so these are weakly informative).
MACRO_PRIORS = {
    "macro_mean": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 1.0}},
    "macro_between_sd": {"dist": "HalfNormal", "kwargs": {"sigma": 1.0}},
    "macro_within_sd": {"dist": "HalfNormal", "kwargs": {"sigma": 1.0}},
}
MEASUREMENT_PRIORS = ("alliance means Normal(m, tau) per condition, m ~ Normal(0, 1), "
                      "tau ~ HalfNormal(1); members Normal(alliance mean, sigma_w), sigma_w ~ "
                      "HalfNormal(1) (standardised scale)")
ORGANISATION_RULE = ("mean over the alliance's partner organisations (each once) of their "
                     "standardised values")


def is_alliance_outcome(spec, codebook) -> bool:
    """Whether ``spec``'s outcome is measured at the alliance level (a micro-macro model)."""
    outcome = codebook.outcomes.get(spec.outcome)
    return outcome is not None and outcome.level == "alliance"


def spec_problems(spec, survey) -> list[str]:
    """What an alliance-level outcome's spec cannot have (called by :func:`models.check_spec`)."""
    problems = []
    if "alliance" not in survey.codebook.group_levels:
        problems.append(f"outcome {spec.outcome!r} is measured at the alliance level: the data "
                        "need alliance IDs")
    if spec.group_effects:
        problems.append(f"group_effects: outcome {spec.outcome!r} has one value per alliance, so "
                        "the model has no group intercepts (the alliance's own residual is the "
                        "family's); leave group_effects out")
    if spec.varying_slopes:
        problems.append(f"varying_slopes: outcome {spec.outcome!r} has one value per alliance; "
                        "slopes cannot vary between alliances")
    if spec.centered:
        problems.append("centered: an alliance-level outcome's model has no group effects")
    # (that the outcome is constant within each alliance is checked when the file is validated)
    return problems


@dataclass(frozen=True)
class MacroDesign:
    """The measurement part of a micro-macro design (see :func:`macro_design`).

    Attributes
    ----------
    aggregation : {"latent", "observed"}
    latent_levels : tuple of str
        Member levels whose alliance means are latent (``latent``) — empty for ``observed``.
    n_members : dict of str to ndarray
        Per member level: observed members (standardised values) per (alliance, condition).
    observed_means : dict of str to ndarray
        Per member level: the alliances' observed member means (NaN where none observed).
    within_ss : dict of str to ndarray
        Per member level: the sum of squared deviations from the alliance's observed mean.
    """

    aggregation: str
    latent_levels: tuple[str, ...]
    n_members: dict
    observed_means: dict
    within_ss: dict

    def data(self) -> dict[str, np.ndarray]:
        """The members' sufficient statistics of every latent level (the model's containers)."""
        out = {}
        for level in self.latent_levels:
            out[f"member_n_{level}"] = self.n_members[level]
            out[f"member_mean_{level}"] = np.nan_to_num(self.observed_means[level])
            out[f"member_ss_{level}"] = self.within_ss[level]
        return out


def macro_design(spec, survey, aggregation: str = "latent"):
    """The :class:`~models.design.ModelDesign` of an alliance-level outcome.

    Parameters
    ----------
    spec : ModelSpec
        Checked here (its outcome must be at the alliance level).
    survey : data.CaseSurvey
    aggregation : {"latent", "observed"}
        ``latent``: member-level conditions through latent alliance means (the model);
        ``observed``: through the observed member means, as if exact (the biased shortcut,
        kept for validation).

    Returns
    -------
    ModelDesign
        Its units (``individual`` dim, ``y``) are the alliances with an observed outcome; its
        ``macro`` holds the measurement arrays.
    """
    from .design import ModelDesign, conditions_by_level
    from .spec import check_spec

    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    spec = check_spec(spec, survey)
    codebook = survey.codebook
    family = FAMILIES[spec.family]
    outcome = codebook.outcomes[spec.outcome]

    people = survey.individuals
    alliances_all = pd.Index(survey.ids("alliance"))
    per_alliance = _alliance_values(survey, spec.outcome)
    per_alliance = per_alliance.reindex(alliances_all)
    observed = per_alliance.notna()
    n_missing_outcome = int((~observed).sum())
    if n_missing_outcome:
        logger.warning("%d alliance(s) with a missing %s are left out of the likelihood",
                       n_missing_outcome, spec.outcome)
    alliances = alliances_all[observed.to_numpy()]
    position = pd.Series(np.arange(len(alliances)), index=alliances)

    conditions = tuple(spec.conditions)
    condition_level, condition_side, level_conditions = conditions_by_level(codebook, conditions)
    levels_needed = list(level_conditions)

    # the partner organisations of each alliance: those with respondents in it
    partners = None
    if "organisation" in levels_needed:
        partners = people[["organisation", "alliance"]].drop_duplicates()

    center, scale, raw_sd, X, missing = {}, {}, {}, {}, {}
    n_members, observed_means, within_ss = {}, {}, {}
    n = len(alliances)
    for level in levels_needed:
        names = list(level_conditions[level])
        table = survey.table(level)
        raw = table[names].astype(float)
        sd, mean = raw.std(ddof=1), raw.mean()
        for name in names:  # standardised over the units of the condition's own level
            raw_sd[name] = float(sd[name]) if np.isfinite(sd[name]) else 1.0
            center[name] = float(mean[name]) if spec.standardize else 0.0
            scale[name] = float(sd[name]) if spec.standardize else 1.0
        z = (raw - pd.Series(center)[names]) / pd.Series(scale)[names]
        if level in MEMBER_LEVELS:
            alliance_of = table["alliance"] if level == "network" else people["alliance"]
            rows = position.reindex(alliance_of.to_numpy()).to_numpy()  # NaN: alliance left out
            keep = ~np.isnan(rows)
            values = z.to_numpy(dtype=float)[keep]
            rows = rows[keep].astype(np.int64)
            seen = ~np.isnan(values)
            counts = np.zeros((n, len(names)))
            sums = np.zeros((n, len(names)))
            for j in range(len(names)):
                np.add.at(counts[:, j], rows[seen[:, j]], 1)
                np.add.at(sums[:, j], rows[seen[:, j]], values[seen[:, j], j])
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            squares = np.zeros((n, len(names)))
            for j in range(len(names)):
                deviation = values[seen[:, j], j] - means[rows[seen[:, j]], j]
                np.add.at(squares[:, j], rows[seen[:, j]], deviation**2)
            n_members[level], observed_means[level], within_ss[level] = counts, means, squares
            if aggregation == "latent":
                matrix = np.full((n, len(names)), np.nan)  # every alliance mean is latent
            else:
                matrix = means
        elif level == "organisation":
            pairs = partners[partners["alliance"].isin(alliances)]
            values = z.reindex(pairs["organisation"].to_numpy()).to_numpy(dtype=float)
            frame = pd.DataFrame(values, columns=names)
            frame["alliance"] = pairs["alliance"].to_numpy()
            matrix = frame.groupby("alliance")[names].mean().reindex(alliances).to_numpy(dtype=float)
        else:  # alliance
            matrix = z.reindex(alliances).to_numpy(dtype=float)
        rows, cols = np.nonzero(np.isnan(matrix))
        labels = [f"{alliances[r]}:{names[c]}" for r, c in zip(rows, cols, strict=True)]
        X[level] = np.where(np.isnan(matrix), 0.0, matrix)
        missing[level] = (rows.astype(np.int64), cols.astype(np.int64), labels)

    for level, counts in n_members.items():
        empty = [f"{alliances[r]}:{level_conditions[level][c]}" for r, c in zip(*np.nonzero(counts == 0))]
        if empty:
            logger.warning("%d alliance(s) x condition(s) have no observed %s value (%s): their "
                           "alliance mean rests on the other alliances' (latent) or is imputed",
                           len(empty), level, ", ".join(empty[:5]))

    y = per_alliance[observed].to_numpy(dtype=float) - family.y_offset
    if family.discrete:
        y = y.astype(np.int64)
    n_categories = outcome.scale.n_categories if family.scale_categories else None
    location, spread = 0.0, 1.0
    if family.scaled_y:
        location, spread = float(np.mean(y)), float(np.std(y, ddof=1))
    trials = None
    if family.needs_trials:
        if isinstance(spec.trials, str):
            trials = _alliance_values(survey, spec.trials).reindex(alliances).to_numpy(dtype=np.int64)
        else:
            trials = np.full(len(y), int(spec.trials), dtype=np.int64)

    coords: dict[str, list] = {"individual": [str(a) for a in alliances], "condition": list(conditions)}
    for level, names in level_conditions.items():
        coords[f"{level}_condition"] = list(names)
        if len(missing[level][0]):
            coords[f"{level}_missing"] = missing[level][2]
    if n_categories is not None:
        coords["cutpoint"] = [f"{k}|{k + 1}" for k in range(1, n_categories)]

    latent_levels = tuple(lvl for lvl in levels_needed if lvl in MEMBER_LEVELS) if aggregation == "latent" else ()
    macro = MacroDesign(aggregation=aggregation, latent_levels=latent_levels,
                        n_members=n_members, observed_means=observed_means, within_ss=within_ss)
    return ModelDesign(spec=spec, family=family, conditions=conditions,
                       condition_level=condition_level, condition_side=condition_side,
                       center=center, scale=scale, raw_sd=raw_sd, level_conditions=level_conditions,
                       X=X, missing=missing, index={}, y=y, trials=trials,
                       n_categories=n_categories, outcome_location=location, outcome_scale=spread,
                       coords=coords, n_missing_outcome=n_missing_outcome, macro=macro)


def _alliance_values(survey, name: str) -> pd.Series:
    """An alliance-level variable, one value per alliance (the survey's alliance table)."""
    return survey.table("alliance")[name]


def with_aggregation(design, aggregation: str, survey):
    """The same spec's design with another aggregation (for validation studies)."""
    return macro_design(replace(design.spec), survey, aggregation=aggregation)


# -- the PyMC graph --------------------------------------------------------------------------
def _data_dims(name: str):
    if name == "condition_mask":
        return ("condition",)
    if name in ("y_observed", "trials"):
        return ("individual",)
    if name.startswith("X_"):
        return ("individual", f"{name[2:]}_condition")
    if name.startswith("missing_"):
        return (f"{name.split('_', 2)[2]}_missing",)
    return None


def model_from_design(design):
    """Build the PyMC model of a micro-macro design (see the module's docstring)."""
    import pymc as pm
    import pytensor.tensor as pt
    from pymc_extras.prior import Prior

    from .build import LinearPredictor, _effects, _likelihood, _OutcomeScale

    spec = design.spec
    macro = design.macro
    with pm.Model(coords=design.coords) as model:
        data = {name: pm.Data(name, value, dims=_data_dims(name))
                for name, value in design.data().items()}
        scale = _OutcomeScale(design, data)
        full = {}
        for level, names in design.level_conditions.items():
            matrix = data[f"X_{level}"]
            dims = f"{level}_condition"
            if level in macro.latent_levels:
                mean = _prior("macro_mean", f"macro_mean_{level}", dims)
                between = _prior("macro_between_sd", f"macro_between_sd_{level}", dims)
                within = _prior("macro_within_sd", f"macro_within_sd_{level}", dims)
                row, column = data[f"missing_row_{level}"], data[f"missing_col_{level}"]
                count = data[f"member_n_{level}"]        # (alliance, condition)
                xbar = data[f"member_mean_{level}"]
                squares = data[f"member_ss_{level}"]
                tau2, sw2 = between**2, within**2          # (condition,)
                # the mean's conditional posterior given its members, and z relative to it
                precision = 1.0 / tau2 + count / sw2
                post_sd = 1.0 / pt.sqrt(precision)
                post_mean = (mean / tau2 + count * xbar / sw2) / precision
                z = pm.Normal(f"z_macro_{level}", 0.0, 1.0, dims=f"{level}_missing")
                latent = pm.Deterministic(f"x_missing_{level}",
                                          post_mean[row, column] + post_sd[row, column] * z,
                                          dims=f"{level}_missing")
                matrix = pt.set_subtensor(matrix[row, column], latent)
                # the members' density with the means integrated out: N(xbar | m, tau^2 +
                # sw^2 / n) for each (alliance, condition) with members, and the within part
                seen = pt.gt(count, 0)
                spread = pt.sqrt(tau2 + sw2 / pt.maximum(count, 1.0))
                between_part = pt.switch(seen, pm.logp(pm.Normal.dist(mean, spread), xbar), 0.0)
                within_part = -(pt.maximum(count - 1.0, 0.0) * pt.log(within)) - squares / (2.0 * sw2)
                pm.Potential(f"macro_members_{level}", between_part.sum() + within_part.sum())
            elif len(design.missing[level][0]):
                raw, _ = spec.prior("imputation")
                raw["dims"] = (f"{level}_missing",)
                latent = Prior.from_dict(raw).create_variable(f"x_missing_{level}")
                matrix = pt.set_subtensor(
                    matrix[data[f"missing_row_{level}"], data[f"missing_col_{level}"]], latent)
            full[level] = matrix

        n = data["y_observed"].shape[0]
        offset = pt.zeros(n)
        if design.family.intercept:
            offset = offset + scale.prior(spec, "intercept").create_variable("intercept")
        if design.conditions:
            b = _effects(design, data, spec, scale) * data["condition_mask"]
            order = [design.conditions.index(c) for level in design.level_conditions
                     for c in design.level_conditions[level]]
            X = pt.concatenate([full[level] for level in design.level_conditions], axis=1)
            b = b[np.array(order, dtype=np.int64)]
        else:
            X, b = pt.zeros((n, 0)), pt.zeros((0,))
        predictor = LinearPredictor(X, b, pt.zeros((0,)), pt.zeros((n, 0), dtype="int64"), offset)
        _likelihood(design, data, predictor, spec, scale)
    return model


def _prior(kind: str, name: str, dims: str):
    from pymc_extras.prior import Prior

    raw = dict(MACRO_PRIORS[kind])
    return Prior.from_dict({**raw, "dims": (dims,)}).create_variable(name)
