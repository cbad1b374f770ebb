"""The rater model: the raters' codes as ordinal observations of latent true scores.

A coding sheet (:mod:`data.coded`) gives two or more codes of each unit's condition.
Collapsing them (median, mean, mode) and treating the result as exact attenuates the
effects (regression dilution) and hides the coding error from the verdict. The rater
model instead gives each unit u of a rater-coded condition c a latent true score
``T_uc`` (standardised: prior N(0, 1), the ``imputation`` prior) that enters the
learning regression in place of the collapsed value, and reads each code of rater r as a
cumulative-logit observation of it::

    P(code <= k) = logistic(kappa_ck - lambda_c (T_uc - s_cr))

with ordered cutpoints ``kappa_c`` over the condition's scale categories, a
discrimination ``lambda_c > 0`` per condition (how precisely the raters code it) and a
severity ``s_cr`` of rater r on condition c in true-score SDs (positive: the rater codes
lower than the others). Everything sits in the same PyMC model as the outcome
(:mod:`models.build`), so the uncertainty of the true scores reaches the effects, the
variance shares and the verdict.

Choices, and why
----------------
- **Severity sum-to-zero within each condition, with a fixed prior scale.** Each condition
  has free cutpoints, which absorb the raters' average severity, so only differences
  between raters are identified; the severities of the raters who coded a condition are
  built to sum to zero (n - 1 free coordinates per condition, :meth:`RaterDesign.severity_basis`),
  which removes the redundant direction exactly rather than leaving it to a prior (a
  purely hierarchical severity leaves the mean severity and the cutpoints trading off
  through the prior alone, which samples badly). Each severity has prior SD 1 true-score
  SD: weakly informative (a rater a whole SD off the others is extreme). A learned SD
  shared by the conditions was tried first; with two to four raters it is barely
  informed, and it slowed the sampler, so the scale is fixed. Severities are per rater
  *and* condition (a rater can be lenient on trust and strict on commitment); the
  summary's severity per rater is their mean over the conditions the rater coded.
- **Discrimination per condition; per rater on request.** The rater model's main job is the
  reliability of each condition, so by default the raters of a condition share one
  discrimination. With ``ModelSpec.rater_discrimination`` (``[model] rater_discrimination
  = true``) each rater gets its own on each condition it coded: its codes are ``a_cr``
  times as sharp, ``P(code <= k) = logistic(a_cr (kappa_ck - lambda_c (T - s_cr)))``, so
  its slope on the true score is ``lambda_c a_cr`` (``rater_slope``). The sharpness
  multiplies the cutpoints too: a rater who codes with more noise around the same category
  boundaries both follows the true score less and spreads its codes wider (a slope alone
  with shared cutpoints reads a noisy rater's wider codes as a *higher* slope, which a
  first version did on simulated raters). The ``log a_cr`` sum to zero over the
  condition's raters (the severities' basis), so ``lambda_c`` stays the raters' geometric
  mean and the scale of the true score (N(0, 1)) identifies the rest; each has prior SD
  0.75 (a rater twice or half as sharp as the others is one SD out). It needs many codes
  per rater and condition, hence off by default.
- **Ordinal and binary scales only.** Count and continuous conditions are left collapsed
  (their codes are not categories); :func:`rater_conditions` says which.
- **Outcomes stay collapsed.** The outcome is the model's ``y``; when raters coded it,
  their collapsed value is used (error in an ordinal outcome does not bias effects the
  way error in a predictor does, though it still loses precision).
- **Codes enter as a potential**, not as observed variables: the model's observed
  variable, its log-likelihood and its predictive draws stay the outcome's, one per
  individual, so PSIS-LOO leaves out whole units (an individual with its codes' share
  of information in the true scores), never single codes.

Identification needs raters who overlap: two raters' severities on a condition can only be
told apart from a difference in true scores when they coded some units in common, or are
linked through other raters. :func:`check_overlap` builds the bipartite graph of raters
and units per condition and reports its connected components; a condition whose graph is
split rests on the prior for the comparison of the parts, and the fit warns about it.

References
----------
Patz, R. J., Junker, B. W., Johnson, M. S. & Mariano, L. T. (2002). The hierarchical rater
model for rated test items and its application to large-scale educational assessment
data. *Journal of Educational and Behavioral Statistics* 27(4), 341-384.

DeCarlo, L. T., Kim, Y. & Johnson, M. S. (2011). A hierarchical rater model for
constructed responses, with a signal detection rater model. *Journal of Educational
Measurement* 48(3), 333-356.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

logger = logging.getLogger(__name__)

#: Scale kinds whose codes the rater model reads as ordered categories.
RATER_SCALES = ("ordinal", "binary")
#: Priors of the measurement part (true-score scale; cutpoints and discrimination on the logit scale).
RATER_PRIORS = {
    "rater_cutpoints": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 3.0}},
    "rater_discrimination": {"dist": "HalfNormal", "kwargs": {"sigma": 3.0}},
    "rater_severity": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 1.0}},
    # a rater's log discrimination relative to its condition's (ModelSpec.rater_discrimination)
    "rater_log_discrimination": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 0.75}},
}


def rater_conditions(conditions, codebook, codes: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Split the model's conditions that raters coded into (rater-modelled, left collapsed).

    A condition is rater-modelled when it has at least one code and an ordinal or binary
    scale; rater-coded count and continuous conditions stay collapsed.
    """
    coded = set(codes.loc[codes["value"].notna(), "condition"])
    modelled, collapsed = [], []
    for name in conditions:
        if name not in coded:
            continue
        (modelled if codebook.conditions[name].scale.kind in RATER_SCALES else collapsed).append(name)
    return modelled, collapsed


def check_overlap(codes: pd.DataFrame, conditions=None) -> pd.DataFrame:
    """Whether the raters of each condition are linked through units they coded in common.

    Parameters
    ----------
    codes : pandas.DataFrame
        Columns ``condition``, ``unit``, ``rater``, ``value`` (missing codes NaN, ignored).
    conditions : sequence of str, optional
        Conditions to check (default: every coded one).

    Returns
    -------
    pandas.DataFrame
        Indexed by condition: ``raters``, ``units``, ``codes``, ``shared_units`` (units coded
        by two or more raters), ``components`` (connected components of the bipartite
        rater-unit graph that hold a rater) and ``connected`` (one component: every
        rater's severity is compared with every other's through the data).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    observed = codes.dropna(subset=["value"])
    names = list(conditions) if conditions is not None else list(dict.fromkeys(observed["condition"]))
    rows = []
    for name in names:
        mine = observed[observed["condition"] == name]
        raters = pd.Index(pd.unique(mine["rater"]))
        units = pd.Index(pd.unique(mine["unit"]))
        n_r, n_u = len(raters), len(units)
        components = 0
        if n_r:
            r = raters.get_indexer(mine["rater"])
            u = units.get_indexer(mine["unit"]) + n_r
            graph = coo_matrix((np.ones(len(mine)), (r, u)), shape=(n_r + n_u, n_r + n_u))
            _, labels = connected_components(graph, directed=False)
            components = len(np.unique(labels[:n_r]))
        shared = int((mine.groupby("unit")["rater"].nunique() >= 2).sum())
        rows.append({"condition": name, "raters": n_r, "units": n_u, "codes": len(mine),
                     "shared_units": shared, "components": components,
                     "connected": components <= 1})
    columns = ["condition", "raters", "units", "codes", "shared_units", "components", "connected"]
    return pd.DataFrame(rows, columns=columns).set_index("condition")


def overlap_problems(overlap: pd.DataFrame) -> list[str]:
    """Plain-language lines for the conditions whose raters do not overlap."""
    lines = []
    for name, row in overlap.iterrows():
        if not row["connected"]:
            lines.append(
                f"{name!r}: its {row['raters']} raters fall into {row['components']} groups that "
                "share no coded unit, so their severities cannot be compared through the data "
                "(only through the prior): have some units coded by raters of both groups")
    return lines


@dataclass(frozen=True)
class RaterDesign:
    """The arrays of the rater model (see :func:`rater_design`).

    Attributes
    ----------
    conditions : tuple of str
        Rater-modelled conditions (the ``rater_condition`` dimension).
    collapsed : tuple of str
        Rater-coded conditions of the model left collapsed (count or continuous scale).
    raters : tuple of str
        The ``rater`` dimension.
    n_categories : tuple of int
        Categories of each rater-modelled condition.
    latent_levels : tuple of str
        Levels whose ``x_missing_<level>`` vectors are concatenated (in this order) into the
        vector that ``true`` indexes.
    true, condition, pair, category : ndarray
        Per code: position of its true score, its condition, its (condition, rater) pair
        and its category (0-based).
    pair_condition, pair_rater, pair_size : ndarray
        Per pair: condition, rater, and how many raters coded the condition.
    overlap : pandas.DataFrame
        :func:`check_overlap` of the modelled conditions.
    """

    conditions: tuple[str, ...]
    collapsed: tuple[str, ...]
    raters: tuple[str, ...]
    n_categories: tuple[int, ...]
    latent_levels: tuple[str, ...]
    true: np.ndarray
    condition: np.ndarray
    pair: np.ndarray
    category: np.ndarray
    pair_condition: np.ndarray
    pair_rater: np.ndarray
    pair_size: np.ndarray
    overlap: pd.DataFrame

    @property
    def max_cutpoints(self) -> int:
        """The most cutpoints of any rated condition (its categories less one)."""
        return max(self.n_categories) - 1

    @property
    def coded_mask(self) -> np.ndarray:
        """(condition x rater) True where the rater coded the condition."""
        mask = np.zeros((len(self.conditions), len(self.raters)), dtype=bool)
        mask[self.pair_condition, self.pair_rater] = True
        return mask

    def data(self) -> dict[str, np.ndarray]:
        """Arrays for the model's data containers (refits on new codes reuse the compilation)."""
        k = self.max_cutpoints
        n_cat = np.asarray(self.n_categories)[self.condition]
        bottom = self.category == 0
        top = self.category == n_cat - 1
        # flat positions in the (condition x cutpoint) matrix; 0 where the cutpoint is absent
        upper = np.where(top, 0, self.condition * k + np.minimum(self.category, k - 1))
        lower = np.where(bottom, 0, self.condition * k + self.category - 1)
        return {
            "rater_true": self.true.astype(np.int64),
            "rater_condition_index": self.condition.astype(np.int64),
            "rater_pair_index": self.pair.astype(np.int64),
            "rater_upper": upper.astype(np.int64),
            "rater_lower": lower.astype(np.int64),
            "rater_bottom": bottom.astype(np.int8),
            "rater_top": top.astype(np.int8),
            "rater_pair_condition": self.pair_condition.astype(np.int64),
            "rater_pair_rater": self.pair_rater.astype(np.int64),
            "rater_basis": self.severity_basis(),
        }

    def severity_basis(self) -> np.ndarray:
        """(pairs x free) map from iid N(0, 1) coordinates to sum-to-zero severities.

        Block diagonal over conditions: a condition coded by n raters gets n - 1 Helmert
        columns (orthonormal, each summing to zero), scaled by sqrt(n / (n - 1)) so that each
        severity has prior SD 1; a condition with one rater has no column (severity 0). No
        redundant direction is left for the sampler (a centred vector of n free values
        leaves one, which mixed badly: bulk ESS 6 of 800 draws).
        """
        blocks = []
        for c in range(len(self.conditions)):
            pairs = np.flatnonzero(self.pair_condition == c)
            n = len(pairs)
            for k in range(1, n):
                column = np.zeros(len(self.pair_condition))
                column[pairs[:k]] = 1.0
                column[pairs[k]] = -float(k)
                blocks.append(column / math.sqrt(k * (k + 1)) * math.sqrt(n / (n - 1)))
        if not blocks:
            return np.zeros((len(self.pair_condition), 0))
        return np.column_stack(blocks)

    @property
    def severity_labels(self) -> list[str]:
        """Labels of the free severity coordinates (``condition|k``)."""
        return [f"{self.conditions[c]}|{k}" for c in range(len(self.conditions))
                for k in range(1, int((self.pair_condition == c).sum()))]

    def cutpoint_start(self) -> np.ndarray:
        """Distinct increasing starting cutpoints (logistic quantiles of equal categories)."""
        k = self.max_cutpoints
        start = np.zeros((len(self.conditions), k))
        for i, n in enumerate(self.n_categories):
            used = np.log(np.arange(1, n) / (n - np.arange(1, n)))
            start[i, : n - 1] = used
            start[i, n - 1:] = used[-1] + np.arange(1, k - n + 2)  # unused ones above, in order
        return start


def rater_design(codes: pd.DataFrame, codebook, conditions, tables: dict, missing: dict,
                 level_conditions: dict) -> RaterDesign:
    """Build the rater model's arrays for ``conditions`` (all ordinal or binary).

    Parameters
    ----------
    codes : pandas.DataFrame
        The raters' codes (:attr:`data.coded.CodedSurvey.codes`).
    codebook : data.Codebook
    conditions : sequence of str
        The rater-modelled conditions, in model order.
    tables : dict of str to pandas.DataFrame
        Each level's table whose rows are the design matrix's rows (the individuals with an
        observed outcome, every group).
    missing : dict
        The design's ``missing`` (row, column, labels) per level, in which every unit of a
        rater-modelled condition is listed (its true score is latent).
    level_conditions : dict of str to tuple of str
        The design's conditions of each level.
    """
    conditions = tuple(conditions)
    observed = codes[codes["condition"].isin(conditions) & codes["value"].notna()]
    levels = tuple(dict.fromkeys(codebook.conditions[c].level for c in conditions))
    order = [lvl for lvl in ("individual", "network", "organisation", "alliance") if lvl in levels]
    # position of each (level, row, column) in the concatenated latent vector
    offset, position = 0, {}
    for level in order:
        rows, cols, _ = missing[level]
        for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
            position[(level, int(r), int(c))] = offset + i
        offset += len(rows)

    true, cond_index, parts = [], [], []
    for ci, name in enumerate(conditions):
        level = codebook.conditions[name].level
        col = level_conditions[level].index(name)
        mine = observed[observed["condition"] == name]
        rows = pd.Index(tables[level].index.astype(str)).get_indexer(mine["unit"].astype(str))
        # units outside the design (an individual whose outcome is missing) are left out
        mine, rows = mine[rows >= 0], rows[rows >= 0]
        true.extend(position[(level, int(r), col)] for r in rows)
        cond_index.extend([ci] * len(rows))
        parts.append(mine)
    used = pd.concat(parts) if parts else observed.iloc[:0]
    raters = tuple(dict.fromkeys(used["rater"].astype(str)))
    rater_pos = pd.Index(raters).get_indexer(used["rater"].astype(str))
    cond_index = np.asarray(cond_index, dtype=np.int64)

    scales = [codebook.conditions[c].scale for c in conditions]
    n_categories = tuple(s.n_categories if s.kind == "ordinal" else 2 for s in scales)
    low = np.array([s.bounds[0] for s in scales])
    category = (used["value"].to_numpy(float) - low[cond_index]).astype(np.int64)

    pairs = pd.MultiIndex.from_arrays([cond_index, rater_pos])
    unique_pairs = pairs.unique().sort_values()
    pair = unique_pairs.get_indexer(pairs)
    pair_condition = unique_pairs.get_level_values(0).to_numpy(np.int64)
    pair_rater = unique_pairs.get_level_values(1).to_numpy(np.int64)
    pair_size = np.bincount(pair_condition, minlength=len(conditions))[pair_condition]

    overlap = check_overlap(used.assign(condition=used["condition"].astype(str)), conditions)
    return RaterDesign(conditions=conditions, collapsed=(), raters=raters,
                       n_categories=n_categories, latent_levels=tuple(order),
                       true=np.asarray(true, dtype=np.int64), condition=cond_index,
                       pair=pair.astype(np.int64), category=category,
                       pair_condition=pair_condition, pair_rater=pair_rater,
                       pair_size=pair_size.astype(np.int64), overlap=overlap)


# -- summary ---------------------------------------------------------------------------------
def summarize_raters(tree, stats) -> dict:
    """The ``raters`` block of summary.json: severity per rater, overall and by condition.

    ``stats`` turns a DataArray of draws into ``{mean, sd, lower, upper}``. A rater's
    overall severity is the mean of its severities over the conditions it coded. With a
    discrimination per rater (``rater_slope``), each rater also gets ``discrimination``
    (the geometric mean of its slopes over its conditions) and ``discrimination_by_condition``.
    """
    severity = tree["posterior"]["rater_severity"]
    slope = tree["posterior"].get("rater_slope")
    mask = tree["constant_data"]["rater_coded"]
    out = {}
    for rater in severity["rater"].values:
        coded = np.flatnonzero(mask.sel(rater=rater).values.astype(bool))
        mine = severity.sel(rater=rater).isel(rater_condition=coded)
        out[str(rater)] = {
            "severity": stats(mine.mean("rater_condition")),
            "by_condition": {str(c): stats(mine.sel(rater_condition=c))
                             for c in mine["rater_condition"].values},
        }
        if slope is not None:
            own = slope.sel(rater=rater).isel(rater_condition=coded)
            out[str(rater)]["discrimination"] = stats(np.exp(np.log(own).mean("rater_condition")))
            out[str(rater)]["discrimination_by_condition"] = {
                str(c): stats(own.sel(rater_condition=c)) for c in own["rater_condition"].values}
    return out


def rater_draws(tree) -> xr.Dataset:
    """The measurement part of a fit per draw: severities, discriminations and agreement.

    Returns
    -------
    xarray.Dataset
        ``severity`` (chain, draw, rater_condition, rater; 0 where the rater did not code the
        condition), ``discrimination`` (chain, draw, rater_condition, rater: the slope of
        each rater's codes on the true score; one per condition, repeated over its raters,
        unless the fit has a discrimination per rater), ``agreement`` (chain, draw,
        rater_condition; see below) and, without sample dims, ``rater_coded`` (int8, 1
        where the rater coded the condition) and ``overlap_components`` (components of the
        rater-unit graph per condition, :func:`check_overlap`).

    Notes
    -----
    ``agreement`` is the model-implied intra-class correlation of two raters' latent codes
    of the same unit (absolute agreement, on the scale of the condition's cutpoints): the
    share of a code's latent variance that is the true score, disagreement coming from the
    raters' severities and from the logistic noise, as in Krippendorff's alpha. Rater r's
    latent code is ``y*_r = lambda (T - s_r) + e_r / a_r`` (``Var T = 1``, ``Var e = pi^2/3``;
    ``a_r`` its sharpness, 1 without a discrimination per rater, whose slope on the true
    score is then ``lambda a_r``), so for raters drawn from the condition's raters::

        agreement = lambda^2 / (lambda^2 (1 + var_r s_r) + pi^2/3 mean_r a_r^-2)

    (``lambda^2 / (lambda^2 (1 + var_r s_r) + pi^2/3)`` with one discrimination per
    condition). A condition with one rater gets the reliability of that rater's code.
    """
    posterior, constant = tree["posterior"], tree["constant_data"]
    coded = constant["rater_coded"].astype(bool)
    severity = posterior["rater_severity"]
    lam = posterior["rater_discrimination"]
    if "rater_slope" in posterior:  # a discrimination per rater (models.build)
        slope = posterior["rater_slope"].where(coded, 0.0)
    else:
        slope = (lam * coded).where(coded, 0.0)
    n = coded.sum("rater")
    sharpness = (slope / lam).where(coded)
    noise = (np.pi**2 / 3) * (sharpness**-2).sum("rater") / n
    s = severity.where(coded, 0.0)
    spread = (s**2).sum("rater") / n - (s.sum("rater") / n) ** 2
    agreement = lam**2 / (lam**2 * (1 + spread) + noise)
    drop = [c for c in ("condition_level", "condition_side") if c in severity.coords]
    order = ("chain", "draw", ...)
    out = xr.Dataset({"severity": severity.drop_vars(drop).transpose(*order, "rater"),
                      "discrimination": slope.drop_vars(drop, errors="ignore").transpose(*order, "rater"),
                      "agreement": agreement.drop_vars(drop, errors="ignore").transpose(*order),
                      "rater_coded": coded.astype(np.int8)})
    if "rater_overlap_components" in constant:
        out["overlap_components"] = constant["rater_overlap_components"].astype(np.int64)
    out.attrs["discrimination_per_rater"] = int("rater_slope" in posterior)
    return out


def summarize_measurement(tree, stats) -> dict:
    """The ``rater_model`` block of summary.json.

    ``conditions`` (rater-modelled), ``discrimination`` per condition, ``agreement``
    per condition (the posterior model-implied agreement of two raters, :func:`rater_draws`,
    to set beside Krippendorff's alpha), and ``overlap`` (components of the rater-unit graph
    per condition).
    """
    posterior, constant = tree["posterior"], tree["constant_data"]
    conditions = [str(c) for c in posterior["rater_condition"].values]
    out = {
        "conditions": conditions,
        "severity_scale": "true-score SDs; positive: codes lower than the other raters'",
        "discrimination": {c: stats(posterior["rater_discrimination"].sel(rater_condition=c))
                           for c in conditions},
        # ModelSpec.rater_discrimination: each rater's own (in ``raters``), around the above
        "discrimination_per_rater": "rater_slope" in posterior,
    }
    draws = rater_draws(tree)
    out["agreement"] = {c: stats(draws["agreement"].sel(rater_condition=c)) for c in conditions}
    if "rater_overlap_components" in constant:
        out["overlap"] = {str(c): {"components": int(n), "connected": bool(n <= 1)}
                          for c, n in zip(constant["rater_condition"].values,
                                          constant["rater_overlap_components"].values,
                                          strict=True)}
    return out
