"""Power-scaling prior sensitivity of derived quantities and of the verdict (DESIGN.md §4.6).

Power-scaling (Kallioinen et al. 2024) raises the prior (or the likelihood) to a power
``alpha`` near 1 and measures how much the posterior of a quantity moves, without refitting:
the draws are reweighted by Pareto-smoothed importance weights proportional to
``p(theta)^(alpha - 1)``. ``arviz_stats.psense`` reports, per quantity, the cumulative
Jensen-Shannon (CJS) distance between the reweighted and the original posterior per unit
of ``log2(alpha)`` (a finite-difference derivative at ``alpha = 1``); 0.05 is the usual
threshold. ``arviz_stats.psense_summary`` diagnoses each quantity:

- prior and likelihood sensitivity both >= threshold: *potential prior-data conflict*;
- prior sensitivity > threshold > likelihood sensitivity: *potential strong prior / weak
  likelihood*;
- otherwise ``✓``.

The quantities here are functions of the parameters (variance shares, the share
difference of the verdict): computed per draw, they are put in a posterior group of a new
DataTree beside the fit's ``log_prior`` and ``log_likelihood``, and psense runs on them.

The verdict's probabilities are also recomputed under a finite prior scaling,
``alpha`` in {0.8, 1.25} by default (a prior 25 % weaker or stronger on the log scale), with
PSIS weights. Each reweighting reports its Pareto k; above 0.7 the reweighted estimate is
unreliable (refit with the scaled prior instead).

The fit must hold ``log_prior`` (the joint log prior density of the free parameters per
draw) and ``log_likelihood``. By default every log-prior term is scaled. In a hierarchical
model it is usually the top-level priors that matter (effects, group SDs, cutpoints), not the
standard-normal priors of non-centred group offsets, which are part of the model's
structure; as brms' ``lprior`` does, pass ``prior_var_names`` to scale only those.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from data.jsonable import json_scalar

from .decomposition import SAMPLE_DIMS
from .loo import KHAT_THRESHOLD
from .ppc import figure_of
from .verdict import DominanceVerdict

if TYPE_CHECKING:  # matplotlib is imported only when a figure is drawn
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

SENSITIVITY_THRESHOLD = 0.05
# The ± 1 % perturbation of psense's derivative (arviz_stats' default).
DERIVATIVE_ALPHAS = (0.99, 1.01)
# The finite prior scalings under which the verdict is recomputed.
SCALING_ALPHAS = (0.8, 1.25)
COMPONENTS = ("prior", "likelihood")
_OK = "✓"
# The diagnosis of a quantity whose sensitivity came out NaN (never read as a pass).
NOT_COMPUTED = "not computed (NaN)"


@dataclass(frozen=True)
class PriorSensitivity:
    """Power-scaling sensitivity of derived quantities (and of the verdict).

    Attributes
    ----------
    sensitivity : xarray.Dataset
        One variable per quantity, with its own dims plus ``component`` (prior,
        likelihood): ``arviz_stats.psense``'s value.
    table : pandas.DataFrame
        ``arviz_stats.psense_summary``: one row per scalar quantity (``name[coord]``),
        columns ``prior``, ``likelihood``, ``diagnosis``.
    threshold : float
    alphas : tuple of float
        The perturbation of the derivative.
    verdict : xarray.Dataset or None
        :func:`verdict_under_power_scaling` when a verdict was given.
    prior_var_names : tuple of str or None
        The log-prior terms that were scaled (None: all).
    """

    sensitivity: xr.Dataset
    table: pd.DataFrame
    threshold: float
    alphas: tuple[float, float]
    verdict: xr.Dataset | None = None
    prior_var_names: tuple[str, ...] | None = None

    @property
    def flagged(self) -> dict[str, str]:
        """The quantities with a diagnosis other than ``✓``, with the diagnosis."""
        rows = self.table[self.table["diagnosis"] != _OK]
        return {str(k): str(v) for k, v in rows["diagnosis"].items()}

    @property
    def verdict_stable(self) -> bool | None:
        """Whether every reliable scaling gives the unscaled verdict (None without one)."""
        if self.verdict is None:
            return None
        return _stable(self.verdict)

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``checks.json``)."""
        out = {
            "threshold": self.threshold,
            "alphas": list(self.alphas),
            "scaled_prior_terms": "all" if self.prior_var_names is None
            else list(self.prior_var_names),
            "quantities": {
                str(label): {
                    "prior": json_scalar(float(row["prior"])),
                    "likelihood": json_scalar(float(row["likelihood"])),
                    "diagnosis": str(row["diagnosis"]),
                    "flagged": row["diagnosis"] != _OK,
                }
                for label, row in self.table.iterrows()
            },
            "verdict": None,
        }
        if self.verdict is not None:
            v = self.verdict
            out["verdict"] = {
                "component": v.attrs["component"],
                "rope": v.attrs["rope"],
                "prob_threshold": v.attrs["prob_threshold"],
                "stable": self.verdict_stable,
                "scalings": [
                    {
                        "alpha": float(a),
                        **{
                            name: json_scalar(v[name].sel(alpha=a).item())
                            for name in v.data_vars
                        },
                    }
                    for a in v["alpha"].values
                ],
            }
        return out

    def __str__(self) -> str:
        """Readable table of sensitivities and, if given, the verdict under scaling."""
        terms = "all" if self.prior_var_names is None else ", ".join(self.prior_var_names)
        lines = [
            f"Power-scaling sensitivity (CJS distance per log2(alpha), threshold "
            f"{self.threshold:g}, alpha {self.alphas[0]:g}..{self.alphas[1]:g}; prior terms "
            f"scaled: {terms})",
            f"  {'quantity':<40} {'prior':>7} {'likelihood':>10}  diagnosis",
        ]
        for label, row in self.table.iterrows():
            lines.append(
                f"  {str(label):<40} {row['prior']:7.3f} {row['likelihood']:10.3f}  "
                f"{row['diagnosis']}"
            )
        if self.verdict is not None:
            lines.append(_verdict_text(self.verdict))
        return "\n".join(lines)


def _stable(ds: xr.Dataset) -> bool:
    base = ds["verdict"].sel(alpha=1.0).item()
    reliable = ds["reliable"].values
    return bool(all(v == base for v, ok in zip(ds["verdict"].values, reliable) if ok))


def _verdict_text(ds: xr.Dataset) -> str:
    lines = [
        f"Verdict under {ds.attrs['component']} scaling (rope {ds.attrs['rope']:g}, "
        f"needs {ds.attrs['prob_threshold']:g}):",
        f"  {'alpha':>6} {'P(d>0)':>7} {'P(d>rope)':>9} {'P(|d|<=rope)':>12} {'P(d<-rope)':>10} "
        f"{'k':>6} {'ESS':>7}  verdict",
    ]
    for a in ds["alpha"].values:
        row = ds.sel(alpha=a)
        k = float(row["pareto_k"])
        k_text = "-" if not np.isfinite(k) else f"{k:.2f}"
        note = "" if bool(row["reliable"]) else "  (k too high: unreliable)"
        lines.append(
            f"  {a:6.2f} {float(row['p_interpersonal_greater']):7.3f} "
            f"{float(row['p_interpersonal_dominates']):9.3f} {float(row['p_equivalent']):12.3f} "
            f"{float(row['p_interorganisational_dominates']):10.3f} {k_text:>6} "
            f"{float(row['ess']):7.0f}  {row['verdict'].item()}{note}"
        )
    lines.append("  stable" if _stable(ds) else "  the verdict CHANGES under prior scaling")
    return "\n".join(lines)


# -- weights -----------------------------------------------------------------------------
def _log_density(data: xr.DataTree, component: str, var_names=None) -> xr.DataArray:
    """Sum of the log prior or log likelihood over variables and elements, per draw."""
    if component not in COMPONENTS:
        raise ValueError(f"component must be one of {COMPONENTS}, got {component!r}")
    group = "log_prior" if component == "prior" else "log_likelihood"
    if group not in data.children:
        raise ValueError(f"power-scaling the {component} needs a {group} group")
    ds = data[group].to_dataset()
    if var_names is not None:
        ds = ds[list(var_names)]
    return sum(
        da.sum([d for d in da.dims if d not in SAMPLE_DIMS]) for da in ds.data_vars.values()
    )


def power_scaling_weights(
    data: xr.DataTree, alpha: float, *, component: str = "prior", var_names=None
) -> tuple[xr.DataArray, float]:
    """PSIS weights that turn the posterior into the one with ``component^alpha``.

    The importance ratio of a draw is ``p(theta)^(alpha - 1)`` for the prior (or the
    likelihood); the ratios are Pareto-smoothed (``azstats.psislw``, as in PSIS-LOO).

    Parameters
    ----------
    data : xarray.DataTree
        With a ``log_prior`` (or ``log_likelihood``) group.
    alpha : float
        The power; 1 gives equal weights.
    component : {"prior", "likelihood"}, default "prior"
    var_names : list of str, optional
        Only these variables of the group (default all, summed).

    Returns
    -------
    weights : xarray.DataArray
        Dims (chain, draw), summing to one.
    pareto_k : float
        Pareto k of the ratios (NaN when all ratios are equal, e.g. alpha = 1); above 0.7
        the reweighted estimates are unreliable.

    References
    ----------
    .. [1] Kallioinen, N., Paananen, T., Bürkner, P.-C., & Vehtari, A. (2024). Detecting
       and diagnosing prior and likelihood sensitivity with power-scaling. *Statistics and
       Computing*, 34, 57. https://doi.org/10.1007/s11222-023-10366-5
    .. [2] Vehtari, A., Simpson, D., Gelman, A., Yao, Y., & Gabry, J. (2024). Pareto
       smoothed importance sampling. *Journal of Machine Learning Research*, 25(72), 1-58.
       https://jmlr.org/papers/v25/19-556.html
    """
    log_ratio = (alpha - 1.0) * _log_density(data, component, var_names)
    if float(log_ratio.max() - log_ratio.min()) == 0.0:
        return xr.full_like(log_ratio, 1.0 / log_ratio.size, dtype=float), float("nan")
    r_eff = float(azs.ess(log_ratio, method="tail", relative=True))
    # psislw takes minus the log ratio (its input is a log-likelihood, ratios = 1/lik).
    log_weights, pareto_k = (-log_ratio).azstats.psislw(r_eff=r_eff, dim=list(SAMPLE_DIMS))
    return np.exp(log_weights), float(pareto_k)


def verdict_under_power_scaling(
    data: xr.DataTree,
    verdict: DominanceVerdict,
    *,
    alphas=SCALING_ALPHAS,
    component: str = "prior",
    var_names=None,
    khat_threshold: float = KHAT_THRESHOLD,
) -> xr.Dataset:
    """Recompute the verdict's probabilities with the prior raised to each ``alpha``.

    Applies the verdict's own rule (``rope`` and ``prob_threshold`` from ``verdict``)
    to the reweighted draws of the share difference ``d``; the diagnostic gates are
    not re-checked (they concern the sampler, not the prior).

    Parameters
    ----------
    data : xarray.DataTree
        The fit the verdict came from, with ``log_prior`` (and ``log_likelihood`` for
        ``component="likelihood"``).
    verdict : DominanceVerdict
        From :func:`analysis.dominance_verdict`; its ``difference`` holds ``d`` per draw.
    alphas : sequence of float, default (0.8, 1.25)
        Scalings; 1 (the fit itself) is always added.
    component : {"prior", "likelihood"}, default "prior"
    var_names : list of str, optional
        Only these log-prior (log-likelihood) variables are scaled; default all.
    khat_threshold : float, default 0.7

    Returns
    -------
    xarray.Dataset
        Dim ``alpha``: ``p_interpersonal_greater`` P(d > 0), ``p_interpersonal_dominates``
        P(d > rope), ``p_equivalent``, ``p_interorganisational_dominates``, ``verdict``,
        ``pareto_k``, ``ess`` (1 / sum of squared weights) and ``reliable``
        (k <= ``khat_threshold``; alpha = 1 is always reliable).
    """
    d = verdict.difference
    rope, threshold = verdict.rope, verdict.prob_threshold
    rows = []
    for alpha in sorted({1.0, *map(float, alphas)}):
        weights, k = power_scaling_weights(data, alpha, component=component,
                                           var_names=var_names)
        weights = _aligned(weights, d)

        def prob(event, weights=weights):
            return float((weights * event).sum())

        p_up, p_down = prob(d > rope), prob(d < -rope)
        if p_up >= threshold:
            label = "interpersonal dominates"
        elif p_down >= threshold:
            label = "interorganisational dominates"
        else:
            label = "inconclusive"
        rows.append({
            "p_interpersonal_greater": prob(d > 0),
            "p_interpersonal_dominates": p_up,
            "p_equivalent": prob(abs(d) <= rope),
            "p_interorganisational_dominates": p_down,
            "verdict": label,
            "pareto_k": k,
            "ess": float(1.0 / (weights**2).sum()),
            "reliable": bool(alpha == 1.0 or k <= khat_threshold),
        })
    alphas_all = sorted({1.0, *map(float, alphas)})
    ds = xr.Dataset(
        {name: ("alpha", [r[name] for r in rows]) for name in rows[0]},
        coords={"alpha": alphas_all},
    )
    ds.attrs = {"component": component, "rope": rope, "prob_threshold": threshold,
                "khat_threshold": khat_threshold,
                "scaled_terms": "all" if var_names is None else ", ".join(var_names)}
    return ds


def _aligned(weights: xr.DataArray, d: xr.DataArray) -> xr.DataArray:
    """Weights on d's chain/draw labels (a derived quantity may have lost the coords)."""
    if weights.sizes["chain"] != d.sizes["chain"] or weights.sizes["draw"] != d.sizes["draw"]:
        raise ValueError(
            f"the quantity has {d.sizes['chain']} chains x {d.sizes['draw']} draws, the "
            f"fit's log densities {weights.sizes['chain']} x {weights.sizes['draw']}"
        )
    labels = {dim: (d if dim in d.coords else weights)[dim].values for dim in SAMPLE_DIMS}
    return weights.assign_coords(labels)


# -- quantities ----------------------------------------------------------------------------
def _quantity_tree(data: xr.DataTree, quantities) -> xr.DataTree:
    """Build a DataTree: the quantities as posterior, the fit's log densities beside."""
    problems = [f"the fit has no {g} group" for g in ("log_prior", "log_likelihood")
                if g not in data.children]
    if isinstance(quantities, xr.DataArray):
        quantities = {quantities.name or "quantity": quantities}
    if isinstance(quantities, Mapping):
        quantities = xr.Dataset(dict(quantities))
    if not isinstance(quantities, xr.Dataset) or not quantities.data_vars:
        problems.append("quantities must be a non-empty Dataset or mapping of DataArrays")
        raise ValueError("cannot run power-scaling sensitivity:\n  " + "\n  ".join(problems))
    reference = data["log_prior"] if "log_prior" in data.children else None
    for name, da in quantities.data_vars.items():
        missing = [d for d in SAMPLE_DIMS if d not in da.dims]
        if missing:
            problems.append(f"quantity {name!r} lacks dim(s) {missing}")
        elif reference is not None and any(da.sizes[d] != reference.sizes[d] for d in SAMPLE_DIMS):
            problems.append(
                f"quantity {name!r} has {da.sizes['chain']} chains x {da.sizes['draw']} draws, "
                f"the fit {reference.sizes['chain']} x {reference.sizes['draw']}"
            )
        if int(da.isnull().sum()):
            problems.append(f"quantity {name!r} holds missing values")
    if problems:
        raise ValueError("cannot run power-scaling sensitivity:\n  " + "\n  ".join(problems))
    # Same chain/draw labels as the log densities, so the weights line up.
    quantities = quantities.assign_coords(
        {d: reference[d].values for d in SAMPLE_DIMS}
    )
    return xr.DataTree.from_dict({
        "posterior": quantities,
        "log_prior": data["log_prior"].to_dataset(),
        "log_likelihood": data["log_likelihood"].to_dataset(),
    })


def prior_sensitivity(
    data: xr.DataTree,
    quantities,
    *,
    verdict: DominanceVerdict | None = None,
    threshold: float = SENSITIVITY_THRESHOLD,
    alphas: tuple[float, float] = DERIVATIVE_ALPHAS,
    scaling_alphas=SCALING_ALPHAS,
    prior_var_names=None,
    likelihood_var_names=None,
) -> PriorSensitivity:
    """Power-scaling sensitivity of derived quantities, and of the verdict.

    Parameters
    ----------
    data : xarray.DataTree
        The fit, with ``log_prior`` and ``log_likelihood`` groups.
    quantities : xarray.Dataset, mapping of str to DataArray, or DataArray
        Derived quantities per draw (dims chain, draw, and any others), e.g. the variance
        shares from :func:`analysis.variance_decomposition`. The caller's objects are
        not changed.
    verdict : DominanceVerdict, optional
        Adds its share difference (``share_difference``) to the quantities and the verdict
        under prior scaling (:func:`verdict_under_power_scaling`).
    threshold : float, default 0.05
        Sensitivity above which psense_summary diagnoses a problem.
    alphas : (float, float), default (0.99, 1.01)
        Perturbation of psense's derivative.
    scaling_alphas : sequence of float, default (0.8, 1.25)
        Finite prior scalings for the verdict.
    prior_var_names, likelihood_var_names : list of str, optional
        Which log-prior / log-likelihood variables to scale (default all).

    Returns
    -------
    PriorSensitivity
        Its ``str`` is a readable table; ``to_dict()`` is plain JSON.

    References
    ----------
    .. [1] Kallioinen, N., Paananen, T., Bürkner, P.-C., & Vehtari, A. (2024). Detecting
       and diagnosing prior and likelihood sensitivity with power-scaling. *Statistics and
       Computing*, 34, 57. https://doi.org/10.1007/s11222-023-10366-5
    """
    if isinstance(quantities, xr.DataArray):
        quantities = {quantities.name or "quantity": quantities}
    quantities = dict(quantities.data_vars if isinstance(quantities, xr.Dataset) else quantities)
    if verdict is not None and "share_difference" not in quantities:
        quantities["share_difference"] = verdict.difference
    tree = _quantity_tree(data, quantities)
    names = list(tree["posterior"].data_vars)
    parts = [
        azs.psense(tree, var_names=names, group=component, alphas=alphas,
                   group_var_names=var_names)
        for component, var_names in zip(COMPONENTS, (prior_var_names, likelihood_var_names))
    ]
    sensitivity = xr.concat(parts, dim="component").assign_coords(component=list(COMPONENTS))
    table = azs.psense_summary(
        tree, var_names=names, threshold=threshold, alphas=alphas,
        prior_var_names=prior_var_names, likelihood_var_names=likelihood_var_names, round_to=4,
    )
    # psense_summary diagnoses a NaN sensitivity as fine (NaN > threshold is False): say it
    not_computed = ~np.isfinite(table[["prior", "likelihood"]].to_numpy(float)).all(axis=1)
    table.loc[not_computed, "diagnosis"] = NOT_COMPUTED
    for label, diagnosis in table["diagnosis"].items():
        if diagnosis != _OK:
            logger.warning("prior sensitivity: %s: %s", label, diagnosis)
    scaled = None
    if verdict is not None:
        scaled = verdict_under_power_scaling(data, verdict, alphas=scaling_alphas,
                                             var_names=prior_var_names)
    return PriorSensitivity(
        sensitivity=sensitivity, table=table, threshold=threshold, alphas=tuple(alphas),
        verdict=scaled,
        prior_var_names=None if prior_var_names is None else tuple(prior_var_names),
    )


def plot_sensitivity(data: xr.DataTree, quantities, *, alphas=SCALING_ALPHAS) -> Figure:
    """Posterior of each quantity with the prior and the likelihood power-scaled.

    ``arviz_plots.plot_psense_dist`` on the quantities (as in :func:`prior_sensitivity`),
    drawn at the scalings ``alphas``.

    Parameters
    ----------
    data : xarray.DataTree
        The fit, with ``log_prior`` and ``log_likelihood`` groups.
    quantities : xarray.Dataset or mapping of str to DataArray
    alphas : (float, float), default (0.8, 1.25)

    Returns
    -------
    matplotlib.figure.Figure
    """
    from arviz_plots import plot_psense_dist

    if isinstance(quantities, xr.DataArray):
        quantities = {quantities.name or "quantity": quantities}
    tree = _quantity_tree(data, quantities)
    names = list(tree["posterior"].data_vars)
    if len(names) == 1:
        # arviz_plots 1.3 fails on a one-variable posterior (its resampling returns a
        # DataArray, not a Dataset); a hidden copy keeps it a Dataset, var_names hides it.
        posterior = tree["posterior"].to_dataset()
        tree["posterior"] = posterior.assign(_copy=posterior[names[0]])
    pc = plot_psense_dist(tree, var_names=names, alphas=tuple(alphas), backend="matplotlib")
    return figure_of(pc)
