"""Derived predictors: learning strategies and partner transparency.

Larsson et al. (1998) classify an organisation's learning strategy in an alliance by how
*receptive* (able and willing to absorb) and how *transparent* (open) it is towards its
partners, and propose that learning outcomes are "the interactive results of the
respective partners' type of adopted learning strategy". Two predictors follow:

- :func:`learning_strategy`: each organisation's strategy (collaboration, competition,
  compromise, accommodation, avoidance) from receptivity x transparency;
- :func:`partner_transparency`: for each organisation in each of its alliances, the mean
  transparency of the *other* organisations there, i.e. how open its partners are.

:func:`add_derived` adds both to a :class:`~data.survey.CaseSurvey` (a new object; the
input is not changed).

References
----------
.. [1] Larsson, R., Bengtsson, L., Henriksson, K. & Sparks, J. (1998). The
   interorganizational learning dilemma: collective knowledge development in strategic
   alliances. *Organization Science*, 9(3), 285-305. doi:10.1287/orsc.9.3.285
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd

from .codebook import Scale, Variable
from .survey import CaseSurvey

logger = logging.getLogger(__name__)

#: The five learning strategies of Larsson et al. (1998), as categories.
STRATEGIES = ("collaboration", "competition", "compromise", "accommodation", "avoidance")

# (receptivity band, transparency band) -> strategy, bands -1 low / 0 moderate / +1 high.
# Only the four corner cells are named by a corner strategy; every cell with a moderate
# band is a compromise (see learning_strategy's Notes).
_CORNERS = {
    (1, 1): "collaboration",
    (1, -1): "competition",
    (-1, 1): "accommodation",
    (-1, -1): "avoidance",
}


def strategy_cut_points(scale_max: int = 5) -> tuple[float, float]:
    """Default low/high cut points on a scale coded ``1..scale_max``: its thirds.

    The range ``[1, K]`` is split into three equal parts, so the cut points are
    ``1 + (K - 1) / 3`` and ``1 + 2 (K - 1) / 3``: 2.33 and 3.67 on a 5-point scale (codes
    1-2 low, 3 moderate, 4-5 high) and 3 and 5 on a 7-point scale (1-2 low, 3-5 moderate,
    6-7 high; a value on a cut point is moderate).

    Parameters
    ----------
    scale_max : int
        Number of categories K of the ordinal scale (codes ``1..K``).

    Returns
    -------
    tuple of float
        ``(low, high)``.
    """
    if scale_max < 2:
        raise ValueError(f"scale_max must be at least 2, got {scale_max}")
    width = (scale_max - 1) / 3
    return 1 + width, 1 + 2 * width


def learning_strategy(receptivity, transparency, *, scale_max: int = 5,
                      low: float | None = None, high: float | None = None):
    """Classify learning strategies from receptivity and transparency.

    Parameters
    ----------
    receptivity, transparency : array-like or pandas.Series
        Codes on a scale ``1..scale_max`` (an organisation's own codes, or means of
        several respondents' codes). NaN means missing.
    scale_max : int, default 5
        Highest code of the scale (5 for likert-5, 7 for likert-7).
    low, high : float, optional
        Cut points. A value is *low* if it is below ``low``, *high* if it is above
        ``high`` and *moderate* otherwise (cut points themselves are moderate). Default:
        the thirds of the scale, :func:`strategy_cut_points`.

    Returns
    -------
    pandas.Categorical or pandas.Series
        One strategy per element, with categories :data:`STRATEGIES` (unordered). Where
        receptivity or transparency is missing, the strategy is missing (NaN); nothing is
        dropped. When both inputs are Series, a categorical Series named
        ``learning_strategy`` on the union of their indexes (an ID in only one of them
        gets a missing strategy).

    Raises
    ------
    ValueError
        If the inputs differ in length, the cut points are not ordered inside the scale,
        or a value lies outside ``[1, scale_max]`` (all such values are listed).

    Notes
    -----
    Larsson et al. (1998) place the five strategies on the receptivity x transparency
    plane: collaboration (high R, high T), competition (high R, low T), accommodation
    (low R, high T), avoidance (low R, low T) and, in the middle, compromise (moderate R,
    moderate T). Each dimension is first put in a band (low, moderate, high) by the cut
    points; the four corner cells of the resulting 3 x 3 grid are the four corner
    strategies and the centre cell is compromise.

    The paper does not name the four *mixed* cells in which one dimension is moderate and
    the other extreme (e.g. high R, moderate T). We classify them by the nearest type on
    the banded plane: in band units such a cell is equally far (one step, in city-block
    or Chebyshev distance) from compromise and from the two corner types beside it, and
    no closer to either corner, because its moderate dimension meets neither corner
    type's definition (neither high nor low). We break that tie towards compromise, the
    intermediate strategy of partial giving and taking. So an organisation gets a corner
    strategy only when it is clearly low or high on *both* dimensions, and compromise
    otherwise::

                          T low         T moderate    T high
            R high        competition   compromise    collaboration
            R moderate    compromise    compromise    compromise
            R low         avoidance     compromise    accommodation

    References
    ----------
    .. [1] Larsson, R., Bengtsson, L., Henriksson, K. & Sparks, J. (1998). The
       interorganizational learning dilemma: collective knowledge development in
       strategic alliances. *Organization Science*, 9(3), 285-305.
       doi:10.1287/orsc.9.3.285

    Examples
    --------
    >>> list(learning_strategy([5, 5, 3, 1, 1, 5], [5, 1, 3, 5, 1, 3]))
    ['collaboration', 'competition', 'compromise', 'accommodation', 'avoidance', 'compromise']
    """
    default_low, default_high = strategy_cut_points(scale_max)
    low = default_low if low is None else float(low)
    high = default_high if high is None else float(high)
    if not 1 <= low <= high <= scale_max:
        raise ValueError(f"cut points must satisfy 1 <= low <= high <= {scale_max}, "
                         f"got low={low}, high={high}")

    index = None
    if isinstance(receptivity, pd.Series) and isinstance(transparency, pd.Series):
        both = pd.concat({"r": receptivity, "t": transparency}, axis=1, join="outer")
        index, receptivity, transparency = both.index, both["r"], both["t"]
    r = np.asarray(receptivity, dtype=float).ravel()
    t = np.asarray(transparency, dtype=float).ravel()
    if r.shape != t.shape:
        raise ValueError(f"receptivity has {r.size} values but transparency has {t.size}")

    problems = []
    for name, values in (("receptivity", r), ("transparency", t)):
        outside = np.flatnonzero((values < 1) | (values > scale_max))
        if outside.size:
            where = index[outside] if index is not None else outside
            shown = ", ".join(f"{w}: {v:g}" for w, v in zip(where, values[outside]))
            problems.append(f"{name} outside 1..{scale_max} at {shown}")
    if problems:
        raise ValueError("; ".join(problems))

    r_band, t_band = _band(r, low, high), _band(t, low, high)
    labels = np.full(r.size, "compromise", dtype=object)
    for (rb, tb), strategy in _CORNERS.items():
        labels[(r_band == rb) & (t_band == tb)] = strategy
    labels[np.isnan(r) | np.isnan(t)] = None
    strategies = pd.Categorical(labels, categories=list(STRATEGIES))
    if index is not None:
        return pd.Series(strategies, index=index, name="learning_strategy")
    return strategies


def _band(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """-1 below ``low``, +1 above ``high``, 0 in between (NaN gives 0; masked by the caller)."""
    return np.where(values < low, -1, np.where(values > high, 1, 0))


def partner_transparency(survey: CaseSurvey, column: str = "transparency") -> pd.DataFrame:
    """Mean transparency of each organisation's partners in each of its alliances.

    Parameters
    ----------
    survey : CaseSurvey
        Must have organisation and alliance IDs. The memberships (organisation,
        alliance) are those seen in the individuals table: an organisation is a member
        of an alliance when one of its respondents is.
    column : str, default "transparency"
        The transparency condition. At organisation level it is the organisation's code;
        at individual level an organisation's transparency in an alliance is the mean
        over its respondents in that alliance (missing codes skipped).

    Returns
    -------
    pandas.DataFrame
        Indexed by (``organisation``, ``alliance``), one row per membership, sorted;
        ``.to_xarray()`` gives the same on named dims. Columns:

        - ``partner_<column>``: mean transparency of the *other* organisations in the
          alliance whose transparency is known; NaN when there are none (a lone
          organisation, or partners whose transparency is all missing). An
          organisation's own missing transparency does not make its value missing.
        - ``n_partners``: number of other organisations in the alliance.
        - ``n_partners_known``: how many of them have a known transparency (the mean is
          over these; the rest are left out of the mean, not imputed).

    Raises
    ------
    ValueError
        If the survey has no organisation or alliance IDs, or ``column`` is not an
        individual- or organisation-level condition of the survey.

    Notes
    -----
    Larsson et al. (1998) propose that interorganisational learning outcomes are the
    interactive result of the partners' learning strategies: what an organisation can
    take depends on how transparent its partners are, not only on its own receptivity.

    References
    ----------
    .. [1] Larsson, R., Bengtsson, L., Henriksson, K. & Sparks, J. (1998). The
       interorganizational learning dilemma: collective knowledge development in
       strategic alliances. *Organization Science*, 9(3), 285-305.
       doi:10.1287/orsc.9.3.285
    """
    _require_levels(survey, "partner_transparency")
    if column not in survey.codebook.conditions:
        raise ValueError(f"partner_transparency: {column!r} is not a condition in the data "
                         f"(conditions: {', '.join(survey.conditions) or 'none'})")
    level = survey.codebook.conditions[column].level
    keys = ["organisation", "alliance"]
    if level == "organisation":
        members = survey.individuals[keys].drop_duplicates()
        own = members.join(survey.groups["organisation"][column], on="organisation")
        own = own.set_index(keys)[column]
    elif level == "individual":
        own = survey.individuals.groupby(keys, sort=False)[column].mean()
    else:
        raise ValueError(f"partner_transparency: {column!r} is a {level}-level condition; "
                         f"use an organisation- or individual-level one")
    own = own.astype(float).sort_index()

    # Partners' mean = (alliance total - own) / (alliance count - own), over known codes.
    by_alliance = own.groupby(level="alliance")
    total = by_alliance.transform("sum")
    n_known = by_alliance.transform("count")
    own_known = own.notna().astype(int)
    n_partners_known = n_known - own_known
    partner_sum = total - own.fillna(0.0)
    partner_mean = (partner_sum / n_partners_known).where(n_partners_known > 0)
    out = pd.DataFrame({
        f"partner_{column}": partner_mean,
        "n_partners": by_alliance.transform("size") - 1,
        "n_partners_known": n_partners_known,
    })
    n_undefined = int(partner_mean.isna().sum())
    if n_undefined:
        logger.info("partner_%s is missing for %d of %d memberships (no partner with a known %s)",
                    column, n_undefined, len(out), column)
    return out


def add_derived(survey: CaseSurvey, *, strategy: bool = True, partner: bool = True,
                receptivity: str = "receptivity", transparency: str = "transparency",
                low: float | None = None, high: float | None = None) -> CaseSurvey:
    """A copy of ``survey`` with the derived predictors added.

    Parameters
    ----------
    survey : CaseSurvey
        Not modified.
    strategy : bool, default True
        Add ``learning_strategy`` (categorical, :data:`STRATEGIES`) to the organisation
        table, from the organisation-level ``receptivity`` and ``transparency``
        (:func:`learning_strategy`, with ``scale_max`` taken from their common ordinal
        scale). It is a descriptive column, not a codebook condition (the codebook has
        no nominal scale), so models do not use it unless asked.
    partner : bool, default True
        Add the condition ``partner_<transparency>`` to the individuals table and the
        codebook (level individual, since an organisation can be in several alliances and
        only the individual belongs to one (organisation, alliance) pair; side
        interorganisational; scale continuous; expected sign +): each respondent gets the
        value of their organisation's membership of their alliance
        (:func:`partner_transparency`).
    receptivity, transparency : str
        Names of the conditions to use.
    low, high : float, optional
        Cut points for :func:`learning_strategy`.

    Returns
    -------
    CaseSurvey
        A new survey; its tables are copies.

    Raises
    ------
    ValueError
        Listing every reason why a requested predictor cannot be derived.

    References
    ----------
    .. [1] Larsson, R., Bengtsson, L., Henriksson, K. & Sparks, J. (1998). The
       interorganizational learning dilemma: collective knowledge development in
       strategic alliances. *Organization Science*, 9(3), 285-305.
       doi:10.1287/orsc.9.3.285
    """
    problems = []
    conditions = survey.codebook.conditions
    partner_name = f"partner_{transparency}"
    if strategy:
        scales = set()
        for name in (receptivity, transparency):
            variable = conditions.get(name)
            if variable is None:
                problems.append(f"learning_strategy needs the condition {name!r}, "
                                f"which is not in the data")
            elif variable.level != "organisation":
                problems.append(f"learning_strategy needs {name!r} at organisation level, "
                                f"not {variable.level}")
            elif variable.scale.kind != "ordinal":
                problems.append(f"learning_strategy needs {name!r} on an ordinal scale, "
                                f"not {variable.scale}")
            else:
                scales.add(variable.scale.n_categories)
        if len(scales) > 1:
            problems.append(f"{receptivity!r} and {transparency!r} have different scales; "
                            f"call learning_strategy with your own cut points")
        if "organisation" in survey.groups and "learning_strategy" in survey.groups["organisation"]:
            problems.append("the organisation table already has a learning_strategy column")
    if partner:
        if not {"organisation", "alliance"} <= set(survey.codebook.ids):
            problems.append("partner transparency needs organisation and alliance IDs")
        if transparency not in conditions:
            problems.append(f"partner transparency needs the condition {transparency!r}, "
                            f"which is not in the data")
        if partner_name in conditions or partner_name in survey.individuals:
            problems.append(f"the survey already has {partner_name!r}")
    if problems:
        raise ValueError("add_derived: " + "; ".join(problems))

    individuals = survey.individuals.copy()
    groups = {level: table.copy() for level, table in survey.groups.items()}
    codebook = survey.codebook
    if strategy:
        organisations = groups["organisation"]
        (scale_max,) = scales
        organisations["learning_strategy"] = learning_strategy(
            organisations[receptivity], organisations[transparency],
            scale_max=scale_max, low=low, high=high)
        n_missing = int(organisations["learning_strategy"].isna().sum())
        if n_missing:
            logger.info("learning strategy missing for %d of %d organisations "
                        "(receptivity or transparency missing)", n_missing, len(organisations))
    if partner:
        partners = partner_transparency(survey, transparency)
        individuals[partner_name] = individuals.join(
            partners[partner_name], on=["organisation", "alliance"])[partner_name]
        derived = Variable(
            name=partner_name, level="individual", side="interorganisational",
            scale=Scale("continuous"), expected_sign=1,
            label=f"Mean {transparency} of the other organisations in the alliance",
            source="Larsson et al. (1998); derived")
        codebook = dataclasses.replace(codebook, conditions={**codebook.conditions,
                                                             partner_name: derived})
    return dataclasses.replace(survey, codebook=codebook, individuals=individuals, groups=groups)


def _require_levels(survey: CaseSurvey, what: str) -> None:
    missing = [level for level in ("organisation", "alliance") if level not in survey.codebook.ids]
    if missing:
        raise ValueError(f"{what} needs {' and '.join(missing)} IDs in the codebook's [ids]")
