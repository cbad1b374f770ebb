"""Sample a gaussian model from sufficient statistics: the same posterior, O(cells) per gradient.

For a gaussian outcome with intercept-only group effects, eta_i = alpha + X_i b + t_c(i),
where X are the individual-level conditions (and the conditions of any group level
without group effects, at the respondent's group: they are linear in ``b``),
``t_c = sum_l table_l[g_l(i)]`` the values of the levels with group effects (their
conditions' part plus the group intercepts; see :class:`models.build.LinearPredictor`) and
c(i) the respondent's *cell*: the combination of such groups it belongs to (one per
distinct combination that occurs: one per network in nested designs, one per (network,
organisation) pair where both have group effects and cross). With y centred at its mean
ybar (no cancellation in float64) and ``s_c = alpha - ybar + t_c``::

    SS = sum_i (y_i - ybar - X_i b - s_c(i))^2
       = yy - 2 b'X'y - 2 sum_c s_c Y_c + b'X'X b + 2 sum_c s_c (S_c b) + sum_c n_c s_c^2

with ``yy = sum (y_i - ybar)^2``, ``X'y = sum X_i (y_i - ybar)``, per cell the count
``n_c``, the sum ``Y_c`` of ``y - ybar`` and the sum ``S_c`` of the rows of X. The log-likelihood
``-N log sigma - N/2 log(2 pi) - SS / (2 sigma^2)`` is exactly the full model's
(``pm.Normal("y", eta, sigma, observed=y)``), so a potential of it, in the graph that
:func:`models.build.model_from_design` builds with its own free variables, priors and
transforms, has the same posterior; a gradient costs O(cells x conditions) instead of
O(respondents x conditions).

Only the sampler uses this model (:func:`models.fit.compiled_model`); everything else
(predictive draws, pointwise log-likelihood, log-prior) uses the full model. The statistics
sit in data containers (``sufficient_*``), so a compiled sampling model refits new data of
the same structure (sub-models' ``condition_mask``, simulated datasets) with ``with_data``.

Not eligible (the full model is sampled): other families, varying slopes (slopes times
individual conditions), missing conditions (imputed values are parameters), the rater
measurement model and alliance-level outcomes (:mod:`models.macro`, which has its own
sufficient statistics).
"""

from __future__ import annotations

import functools

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .design import ModelDesign

PREFIX = "sufficient_"


def eligible(design: ModelDesign) -> bool:
    """Whether the gaussian likelihood of ``design`` can be sampled from sufficient statistics."""
    return (design.family.name == "gaussian" and design.macro is None and design.raters is None
            and not design.spec.varying_slopes
            and not any(len(rows) for rows, _, _ in design.missing.values()))


def table_levels(design: ModelDesign) -> list[tuple[str, int]]:
    """The group levels in :class:`~models.build.LinearPredictor`'s table, in its order,
    with their sizes (as :func:`models.build._linear_predictor` stacks them).
    """
    return [(level, len(design.coords[level])) for level in design.table_levels]


def column_levels(design: ModelDesign) -> list[str]:
    """The levels whose conditions enter as columns of X: the individual level, and every
    group level without group effects (its table values are its conditions' part only,
    linear in ``b``, so each respondent's row of them is one more column; such a level
    then does not split the cells).
    """
    groups = [level for level, _ in table_levels(design) if level not in design.spec.group_effects]
    return [level for level in ("individual", *groups) if level in design.level_conditions]


def statistics(design: ModelDesign) -> dict[str, np.ndarray]:
    """The sufficient statistics of ``design``'s gaussian likelihood, by data container name."""
    y = np.asarray(design.y, dtype=float)
    n = len(y)
    y_mean = y.mean()
    yc = y - y_mean
    levels = [(level, size) for level, size in table_levels(design) if level in design.spec.group_effects]
    # each respondent's cell: its positions in the table, coded as one mixed-radix integer
    # (one sort of n integers; rows of an n x levels array where the product overflows)
    groups = np.stack([np.asarray(design.index[level], dtype=np.int64) for level, _ in levels]
                      + [np.zeros(n, dtype=np.int64)], axis=1)
    sizes = [size for _, size in levels]
    if np.prod(np.array(sizes, dtype=float)) < 2.0**62:
        code = np.zeros(n, dtype=np.int64)
        for j, size in enumerate(sizes):
            code = code * size + groups[:, j]
        _, first, cell = np.unique(code, return_index=True, return_inverse=True)
    else:
        _, first, cell = np.unique(groups, axis=0, return_index=True, return_inverse=True)
    cell = cell.reshape(-1)
    start = dict(zip([level for level, _ in table_levels(design)],
                     np.cumsum([0] + [size for _, size in table_levels(design)])[:-1], strict=True))
    positions = [groups[first, j] + start[level] for j, (level, _) in enumerate(levels)]
    n_cells = len(first)
    out = {
        "n": np.asarray(float(n)),
        "y_mean": np.asarray(y_mean),
        "yy": np.asarray(yc @ yc),
        # one row per cell, its table positions (a row of nothing where there are no groups)
        "cell_position": np.ascontiguousarray(np.stack(positions, axis=1) if positions
                                              else np.zeros((n_cells, 0), dtype=np.int64)),
        "cell_n": np.bincount(cell, minlength=n_cells).astype(float),
        "cell_y": np.bincount(cell, weights=yc, minlength=n_cells),
    }
    columns = column_levels(design)
    if columns:
        X = np.concatenate([_respondent_rows(design, level) for level in columns], axis=1)
        out["XtX"] = X.T @ X
        out["Xty"] = X.T @ yc
        out["cell_X"] = np.ascontiguousarray(np.stack(
            [np.bincount(cell, weights=X[:, j], minlength=n_cells) for j in range(X.shape[1])], axis=1))
    return {PREFIX + name: value for name, value in out.items()}


def _respondent_rows(design: ModelDesign, level: str) -> np.ndarray:
    """Each respondent's row of ``level``'s conditions."""
    X = np.asarray(design.X[level], dtype=float)
    return X if level == "individual" else X[np.asarray(design.index[level])]


def gaussian_potential(design, data, predictor, spec, scale, *, values=None):
    """The gaussian log-likelihood from sufficient statistics, as the potential ``y_sufficient``.

    A likelihood term for :func:`models.build.model_from_design` (in place of its
    ``pm.Normal("y", ...)``); ``values``: :func:`statistics` of ``design``, if already made.
    """
    from .build import _sigma

    values = statistics(design) if values is None else values
    ss = {name[len(PREFIX):]: pm.Data(name, value) for name, value in values.items()}
    sigma = _sigma(spec, scale)
    model = pm.modelcontext(None)
    intercept = model["intercept"] if "intercept" in model.named_vars else 0.0
    position = ss["cell_position"]
    # one gather per level (as models.ordinal.linear_predictor), not a 2-d fancy index
    shift = intercept - ss["y_mean"] + pt.zeros(position.shape[0])
    for level in range(len([name for name, _ in table_levels(design) if name in spec.group_effects])):
        shift = shift + predictor.table[position[:, level]]
    residual_ss = ss["yy"] - 2.0 * pt.dot(shift, ss["cell_y"]) + pt.sum(ss["cell_n"] * shift**2)
    if "XtX" in ss:
        b = _column_effects(design, data, predictor)
        residual_ss = (residual_ss - 2.0 * pt.dot(b, ss["Xty"]) + pt.dot(b, pt.dot(ss["XtX"], b))
                       + 2.0 * pt.dot(shift, pt.dot(ss["cell_X"], b)))
    n = ss["n"]
    logp = -n * pt.log(sigma) - 0.5 * n * np.log(2 * np.pi) - residual_ss / (2.0 * sigma**2)
    pm.Potential("y_sufficient", logp)


def _column_effects(design, data, predictor):
    """The effects of :func:`column_levels`' conditions, in the order of the columns of X
    (masked as in :func:`models.build._linear_predictor`: 0 for a condition left out).
    """
    columns = column_levels(design)
    if columns == ["individual"]:
        return predictor.b
    b = pm.modelcontext(None)["b"] * data["condition_mask"]
    order = [design.conditions.index(c) for level in columns for c in design.level_conditions[level]]
    return b[np.array(order)]


def sampling_model(design: ModelDesign, values: dict | None = None) -> pm.Model:
    """The model nutpie samples for an eligible ``design``: :func:`models.build.model_from_design`'s
    free variables and priors, the likelihood from :func:`statistics`.
    """
    from .build import model_from_design

    return model_from_design(design, likelihood=functools.partial(gaussian_potential, values=values))
