"""Reading a fit's posterior back: contributions, linear predictor, variances, priors.

This module is the one place outside the model's construction that knows the names of
the posterior's variables (``b``, ``intercept``, ``u_<level>``, ``sd_<level>``,
``x_missing_<level>``, ``slope``, ``sigma``, ``cutpoints``) and of the design stored in
``constant_data``; ``analysis`` asks these functions instead.

The variance decomposition and dominance checks (DESIGN.md §4) need
``c_k = x_k * b_k`` for every individual and draw, with the imputed values of missing
codes taking their draw's value. Storing them during sampling would cost
draws x individuals x conditions numbers, so they are rebuilt here from the posterior
(``b``, ``x_missing_<level>``) and the design stored in ``constant_data``. They are the
costly part (draws x individuals x levels): compute them once and pass them on
(``fixed=`` of :func:`linear_predictor` and :func:`fixed_predictor`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from data.codebook import GROUP_LEVELS, LEVELS
from data.constants import SAMPLE_DIMS

UNIT_DIM = "individual"
# Log-prior terms that are part of the model's structure (non-centred offsets, centred group
# effects, imputed codes, the horseshoe's standard-normal part), not priors a user chose:
# power-scaling leaves them alone, as brms' `lprior` does.
_STRUCTURAL_PRIOR_PREFIXES = ("z_", "u_", "x_missing_", "hs_z")
_STRUCTURAL_PRIORS = ("slope",)


def contributions(tree: xr.DataTree, *, by: str = "condition", group: str = "posterior") -> xr.DataArray:
    """Contributions of the conditions to the linear predictor of each individual.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (:func:`models.fit`) or ``run.tree`` of a loaded run.
    by : {"condition", "level"}
        One contribution per condition (``x_k b_k``), or summed within each level
        (``c_L = X_L b_L``), which needs less memory.
    group : {"posterior", "prior"}
        Draws to use.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, individual, condition) with coordinates ``condition_level``
        and ``condition_side``, or (chain, draw, individual, level). Group intercepts and
        varying slopes are not included.
    """
    if by not in ("condition", "level"):
        raise ValueError(f"by must be 'condition' or 'level', got {by!r}")
    draws = tree[group]
    constant = tree["constant_data"]
    b = draws["b"]
    parts = []
    levels = []
    for level in _levels(constant):
        X = constant[f"X_{level}"]
        cond_dim = f"{level}_condition"
        names = [str(c) for c in X[cond_dim].values]
        values = X.values
        missing = np.isnan(values)
        full = xr.DataArray(np.where(missing, 0.0, values), dims=X.dims, coords=X.coords)
        if missing.any():
            # Missing codes were listed row by row (np.nonzero order) when the model was built.
            latent = draws[f"x_missing_{level}"]
            rows, cols = np.nonzero(missing)
            flat = np.zeros((latent.sizes["chain"], latent.sizes["draw"], *values.shape))
            flat[:, :, rows, cols] = latent.transpose(*SAMPLE_DIMS, ...).values
            full = full + xr.DataArray(flat, dims=(*SAMPLE_DIMS, *X.dims),
                                       coords={**{d: draws[d] for d in SAMPLE_DIMS}, **X.coords})
        effect = b.sel(condition=names).rename(condition=cond_dim).assign_coords({cond_dim: names})
        effect = effect.drop_vars([c for c in ("condition_level", "condition_side") if c in effect.coords])
        part = full * effect
        if level in X.dims and level != "individual":  # (a macro fit's rows are already its units)
            idx = constant[f"idx_{level}"]
            part = part.isel({level: xr.DataArray(idx.values, dims="individual")})
            part = part.drop_vars(level, errors="ignore").assign_coords(individual=constant["individual"].values)
        part = part.rename({cond_dim: "condition"})
        if by == "level":
            part = part.sum("condition")
            levels.append(level)
        parts.append(part)
    if by == "level":
        out = xr.concat(parts, dim="level").assign_coords(level=levels)
        return out.transpose(*SAMPLE_DIMS, "individual", "level")
    out = xr.concat(parts, dim="condition").transpose(*SAMPLE_DIMS, "individual", "condition")
    out = out.reindex(condition=[str(c) for c in b["condition"].values])
    labels = {name: ("condition", constant[name].sel(condition=out["condition"]).values)
              for name in ("condition_level", "condition_side")}
    return out.assign_coords(labels)


def condition_covariance(tree: xr.DataTree) -> xr.DataArray | None:
    """The covariance over individuals (ddof=1) of the conditions' values as the model saw them.

    Every variance and covariance of the contributions over individuals is then a quadratic
    form in the effects (``Var(sum_k x_k b_k) = b' S b``): the decomposition needs no pass
    over draws x individuals (:func:`analysis.decomposition.decomposition_from_covariance`).
    None where codes were imputed (their values change from draw to draw) or the fit has no
    conditions.

    Returns
    -------
    xarray.DataArray or None
        Dims (condition, condition_other), in the posterior's order of conditions.
    """
    if not has_conditions(tree):
        return None
    constant = tree["constant_data"]
    columns, names = [], []
    for level in _levels(constant):
        X = constant[f"X_{level}"]
        values = X.values
        if np.isnan(values).any():
            return None
        if level in X.dims and level != "individual":  # one row per individual, as contributions()
            values = values[constant[f"idx_{level}"].values]
        columns.append(values)
        names += [str(c) for c in X[f"{level}_condition"].values]
    covariance = np.atleast_2d(np.cov(np.concatenate(columns, axis=1), rowvar=False, ddof=1))
    order = [str(c) for c in tree["posterior"]["condition"].values]
    return xr.DataArray(covariance, dims=("condition", "condition_other"),
                        coords={"condition": names, "condition_other": names}
                        ).sel(condition=order, condition_other=order)


def _levels(constant) -> list[str]:
    return [level for level in LEVELS
            if f"X_{level}" in constant]


def has_conditions(tree: xr.DataTree) -> bool:
    """Tell whether the fit has condition effects ``b`` (a group-effects-only fit has none)."""
    posterior = tree["posterior"]
    return "b" in posterior and bool(posterior.sizes.get("condition", 0))


def condition_values(tree: xr.DataTree, condition: str) -> xr.DataArray:
    """Return one condition's standardised value per individual and draw (imputed codes drawn).

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, individual).
    """
    constant = tree["constant_data"]
    posterior = tree["posterior"]
    level = str(constant["condition_level"].sel(condition=condition).values)
    X = constant[f"X_{level}"]
    cond_dim = f"{level}_condition"
    values = X.values
    j = [str(c) for c in X[cond_dim].values].index(condition)
    column = np.where(np.isnan(values[:, j]), 0.0, values[:, j])
    full = np.broadcast_to(column, (posterior.sizes["chain"], posterior.sizes["draw"], len(column))).copy()
    rows, cols = np.nonzero(np.isnan(values))  # the model's order of the missing codes
    if len(rows):
        latent = posterior[f"x_missing_{level}"].transpose(*SAMPLE_DIMS, ...).values
        full[:, :, rows[cols == j]] = latent[:, :, cols == j]
    if level in X.dims and level != "individual":
        full = full[:, :, constant[f"idx_{level}"].values]
    return xr.DataArray(full, dims=(*SAMPLE_DIMS, UNIT_DIM),
                        coords={d: posterior[d].values for d in SAMPLE_DIMS}
                        | {UNIT_DIM: constant[UNIT_DIM].values})


def fixed_predictor(tree: xr.DataTree, parts: xr.DataArray | None = None,
                    *, group: str = "posterior") -> xr.DataArray:
    """Return the fixed part of the linear predictor, ``eta_fixed = sum_L X_L b_L``, per draw.

    Parameters
    ----------
    tree : xarray.DataTree
    parts : xarray.DataArray, optional
        :func:`contributions` of this tree (by level or by condition), when already
        computed: they are summed, not rebuilt. Summed within levels first, so both forms
        give the same numbers.
    group : {"posterior", "prior"}

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, individual); zeros when the fit has no conditions.
    """
    if not has_conditions(tree):
        draws = tree[group]
        constant = tree["constant_data"]
        shape = (draws.sizes["chain"], draws.sizes["draw"], constant.sizes[UNIT_DIM])
        return xr.DataArray(np.zeros(shape), dims=(*SAMPLE_DIMS, UNIT_DIM),
                            coords={d: draws[d].values for d in SAMPLE_DIMS}
                            | {UNIT_DIM: constant[UNIT_DIM].values})
    if parts is None:
        parts = contributions(tree, by="level", group=group)
    if "condition" in parts.dims:
        parts = parts.groupby("condition_level").sum("condition").rename(condition_level="level")
    return parts.sum("level")


def linear_predictor(tree: xr.DataTree, *, group_effects: bool = True,
                     fixed: xr.DataArray | None = None) -> xr.DataArray:
    """Return the linear predictor of each individual per draw, at the observed data.

    ``eta = intercept + sum_L X_L b_L (+ group intercepts + varying slopes)``; cutpoints are
    not in it (they are the ordinal family's thresholds on eta).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit or a run's tree.
    group_effects : bool
        Add the group intercepts and the varying slopes (default); False gives the fixed
        part of the conditions only (plus the intercept).
    fixed : xarray.DataArray, optional
        :func:`fixed_predictor` of this tree, when already computed.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, individual).
    """
    posterior = tree["posterior"]
    constant = tree["constant_data"]
    eta = fixed_predictor(tree) if fixed is None else fixed
    if "intercept" in posterior:
        eta = eta + posterior["intercept"]
    if not group_effects:
        return eta.rename("eta")
    for level in GROUP_LEVELS:
        if f"u_{level}" in posterior:
            idx = xr.DataArray(constant[f"idx_{level}"].values, dims=UNIT_DIM)
            u = posterior[f"u_{level}"].isel({level: idx}).drop_vars(level, errors="ignore")
            eta = eta + u.assign_coords({UNIT_DIM: constant[UNIT_DIM].values})
    if "slope" in posterior:
        idx = xr.DataArray(constant["idx_alliance"].values, dims=UNIT_DIM)
        active = constant["condition_active"] if "condition_active" in constant else None
        for name in posterior["slope_condition"].values:
            if active is not None and not bool(active.sel(condition=name)):
                continue
            slope = posterior["slope"].sel(slope_condition=name).isel(alliance=idx)
            slope = slope.drop_vars(["alliance", "slope_condition"], errors="ignore")
            eta = eta + condition_values(tree, str(name)) * slope.assign_coords(
                {UNIT_DIM: constant[UNIT_DIM].values})
    return eta.transpose(*SAMPLE_DIMS, UNIT_DIM).rename("eta")


def effects(tree: xr.DataTree) -> xr.DataArray:
    """Return the condition effects ``b`` per draw (per model unit), without level/side labels."""
    return tree["posterior"]["b"].drop_vars(["condition_level", "condition_side"], errors="ignore")


def condition_labels(tree: xr.DataTree) -> tuple[dict[str, str], dict[str, str]]:
    """Return the side and level of each condition of the fit (the codebook's, at fitting time)."""
    posterior = tree["posterior"]
    conditions = [str(c) for c in posterior["condition"].values]
    sides = dict(zip(conditions, map(str, posterior["condition_side"].values), strict=True))
    levels = dict(zip(conditions, map(str, posterior["condition_level"].values), strict=True))
    return sides, levels


def group_variances(tree: xr.DataTree, *, group: str = "posterior") -> dict[str, xr.DataArray]:
    """Return the variance (SD^2) of each level's group intercepts per draw, by level."""
    draws = tree[group]
    return {level: draws[f"sd_{level}"] ** 2 for level in GROUP_LEVELS if f"sd_{level}" in draws}


def cutpoints(tree: xr.DataTree, *, group: str = "posterior") -> xr.DataArray | None:
    """Return the ordinal cutpoints per draw, or None for a family without them."""
    draws = tree[group]
    return draws["cutpoints"] if "cutpoints" in draws else None


def user_prior_terms(tree: xr.DataTree) -> list[str] | None:
    """Return the log-prior terms a user chooses (effects, group SDs, cutpoints, sigma...).

    None when the fit has no ``log_prior`` group or no such term.
    """
    if "log_prior" not in tree.children:
        return None
    names = [str(n) for n in tree["log_prior"].data_vars]
    return [n for n in names if not n.startswith(_STRUCTURAL_PRIOR_PREFIXES)
            and n not in _STRUCTURAL_PRIORS] or None
