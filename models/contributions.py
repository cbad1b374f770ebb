"""Each condition's contribution to the linear predictor, per posterior draw.

The variance decomposition and dominance checks (DESIGN.md §4) need
``c_k = x_k * b_k`` for every individual and draw, with the imputed values of missing
codes taking their draw's value. Storing them during sampling would cost
draws x individuals x conditions numbers, so they are rebuilt here from the posterior
(``b``, ``x_missing_<level>``) and the design stored in ``constant_data``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from data.codebook import LEVELS
from data.constants import SAMPLE_DIMS



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
            flat[:, :, rows, cols] = latent.transpose("chain", "draw", ...).values
            full = full + xr.DataArray(flat, dims=("chain", "draw", *X.dims),
                                       coords={**{d: draws[d] for d in SAMPLE_DIMS}, **X.coords})
        effect = b.sel(condition=names).rename(condition=cond_dim).assign_coords({cond_dim: names})
        effect = effect.drop_vars([c for c in ("condition_level", "condition_side") if c in effect.coords])
        part = full * effect
        if level != "individual":
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
        return out.transpose("chain", "draw", "individual", "level")
    out = xr.concat(parts, dim="condition").transpose("chain", "draw", "individual", "condition")
    out = out.reindex(condition=[str(c) for c in b["condition"].values])
    labels = {name: ("condition", constant[name].sel(condition=out["condition"]).values)
              for name in ("condition_level", "condition_side")}
    return out.assign_coords(labels)


def _levels(constant) -> list[str]:
    return [level for level in LEVELS
            if f"X_{level}" in constant]
