"""Predictive comparison of the sub-models by PSIS-LOO (DESIGN.md §4.4).

The four standard models (:data:`STANDARD_MODELS`) are the interpersonal-only, the
interorganisational-only, the full ("both") and the intercept-only ("null") model, fitted to
the same individuals. Each fit's pointwise log-likelihood gives a PSIS-LOO estimate of its
expected log predictive density (``arviz_stats.loo``); ``arviz_stats.compare`` ranks them,
gives each model's elpd difference from the best with the standard error of the difference
(``dse``, computed from the paired pointwise differences) and the stacking weights.

PSIS is unreliable for an observation whose Pareto k exceeds 0.7 (Vehtari et al. 2024):
its elpd contribution may be biased, and the differences then favour the model with more
such observations (``arviz_stats.compare``'s ``diag_elpd`` column says how many). The
number of such observations per model is returned, with the labels of the individuals, and
every warning ArviZ raised is kept in the result (not only logged), so ``checks.json`` can
show it.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from data.constants import SAMPLE_DIMS
from data.jsonable import json_scalar

from .ppc import figure_of
from .psis import psis_loo

if TYPE_CHECKING:  # matplotlib is imported only when a figure is drawn
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

STANDARD_MODELS = ("interpersonal", "interorganisational", "both", "null")
# Pareto k above which PSIS-LOO is unreliable for that observation (Vehtari et al. 2024).
KHAT_THRESHOLD = 0.7
# How many flagged individuals per model to list in ``to_dict`` and ``str``.
_SHOWN_FLAGGED = 10


@dataclass(frozen=True)
class PredictiveComparison:
    """PSIS-LOO comparison of several fits.

    Attributes
    ----------
    table : pandas.DataFrame
        ``arviz_stats.compare``'s table, unrounded, one row per model (index ``model``),
        best first: ``rank``, ``elpd_diff``, ``dse``, ``p_worse`` (or ``p_better`` with a
        reference), ``diag_diff``, ``diag_elpd``, ``p``, ``elpd``, ``se``, ``weight``.
    pareto_k : pandas.DataFrame
        Per model: ``n`` observations, ``good_k`` (ArviZ's sample-size-dependent
        threshold, min(1 - 1/log10(S), 0.7)), ``max_k``, ``n_k_over_good``,
        ``n_k_over_threshold`` (k > ``khat_threshold``), ``n_k_over_1``.
    flagged : dict of str to list
        Per model, the labels of the observations with k > ``khat_threshold``.
    warnings : tuple of str
        Every warning raised while computing, as ``"<model>: <message>"`` (``"compare:
        ..."`` for the comparison itself).
    method : str
        Weighting method given to ``arviz_stats.compare``.
    khat_threshold : float
    var_name : str
        The log-likelihood variable compared.
    elpd : dict of str to ELPDData
        The per-model ``arviz_stats.loo`` results (pointwise).
    """

    table: pd.DataFrame
    pareto_k: pd.DataFrame
    flagged: dict[str, list]
    warnings: tuple[str, ...]
    method: str
    khat_threshold: float
    var_name: str
    elpd: dict = field(repr=False, compare=False)

    @property
    def best(self) -> str:
        """Name of the model with the highest elpd_loo."""
        return str(self.table.index[0])

    @property
    def weights(self) -> pd.Series:
        """Model weights (stacking by default), in rank order."""
        return self.table["weight"]

    @property
    def reliable(self) -> bool:
        """Whether no model has an observation with k above ``khat_threshold``."""
        return int(self.pareto_k["n_k_over_threshold"].sum()) == 0

    def to_xarray(self) -> xr.Dataset:
        """Return the comparison table as a Dataset with dim ``model``."""
        return self.table.rename_axis("model").to_xarray()

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``checks.json``); NaN becomes None."""
        models = []
        for name, row in self.table.iterrows():
            entry = {"model": str(name)}
            entry.update({col: json_scalar(row[col]) for col in self.table.columns})
            # .at keeps each column's dtype (a row Series would turn the counts into floats)
            entry["pareto_k"] = {
                col: json_scalar(self.pareto_k.at[name, col]) for col in self.pareto_k.columns
            }
            entry["pareto_k"]["flagged"] = [str(x) for x in self.flagged[name][:_SHOWN_FLAGGED]]
            models.append(entry)
        return {
            "method": self.method,
            "var_name": self.var_name,
            "khat_threshold": self.khat_threshold,
            "best": self.best,
            "reliable": self.reliable,
            "models": models,
            "warnings": list(self.warnings),
        }

    def __str__(self) -> str:
        """Readable table: elpd, differences with their SE, weights, Pareto k counts."""
        prob_col = "p_better" if "p_better" in self.table.columns else "p_worse"
        header = (
            f"{'model':<20} {'elpd_loo':>9} {'se':>6} {'elpd_diff':>9} {'dse':>6} "
            f"{prob_col:>8} {'weight':>6} {'k>' + format(self.khat_threshold, 'g'):>6}"
        )
        lines = [f"PSIS-LOO comparison of {self.var_name!r} ({self.method} weights)", header]
        for name, row in self.table.iterrows():
            prob = "" if pd.isna(row[prob_col]) else f"{row[prob_col]:.3f}"
            lines.append(
                f"{str(name):<20} {row['elpd']:9.1f} {row['se']:6.1f} {row['elpd_diff']:9.1f} "
                f"{row['dse']:6.1f} {prob:>8} {row['weight']:6.2f} "
                f"{int(self.pareto_k.loc[name, 'n_k_over_threshold']):6d}"
            )
        ref = self.table.index[self.table["elpd_diff"] == 0][0]
        for name, row in self.table.iterrows():
            if name == ref:
                continue
            ratio = abs(row["elpd_diff"]) / row["dse"] if row["dse"] > 0 else math.inf
            lines.append(
                f"  {name} vs {ref}: {row['elpd_diff']:+.1f} elpd ({ratio:.1f} dse)"
                + (f"; {row['diag_diff']}" if row["diag_diff"] else "")
            )
        for name, labels in self.flagged.items():
            if labels:
                shown = ", ".join(str(x) for x in labels[:_SHOWN_FLAGGED])
                extra = len(labels) - _SHOWN_FLAGGED
                more = f" and {extra} more" if extra > 0 else ""
                lines.append(f"  {name}: k > {self.khat_threshold:g} for {shown}{more}")
        if not self.reliable:
            lines.append(
                "  High Pareto k: elpd_loo is unreliable for those observations; "
                "refit without them (arviz_stats.reloo) or use k-fold CV."
            )
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  {w}" for w in self.warnings)
        return "\n".join(lines)


def _record(caught, name: str) -> list[str]:
    messages = [f"{name}: {w.message}" for w in caught]
    for message in messages:
        logger.warning(message)
    return messages


def _problems(fits: Mapping[str, xr.DataTree], var_name: str) -> list[str]:
    problems = []
    if not isinstance(fits, Mapping) or len(fits) < 2:
        return ["fits must be a mapping of at least two model names to DataTrees "
                "(or PSIS-LOO results)"]
    reference = None
    for name, tree in fits.items():
        if isinstance(tree, azs.ELPDData):
            if tree.elpd_i is None or tree.pareto_k is None:
                problems.append(f"model {name!r}: its PSIS-LOO result is not pointwise")
                continue
            obs = tree.elpd_i
        elif not isinstance(tree, xr.DataTree):
            problems.append(f"model {name!r}: not a DataTree ({type(tree).__name__}) "
                            "nor a PSIS-LOO result")
            continue
        elif "log_likelihood" not in tree.children:
            problems.append(f"model {name!r}: no log_likelihood group")
            continue
        else:
            log_lik = tree["log_likelihood"].to_dataset()
            if var_name not in log_lik:
                problems.append(
                    f"model {name!r}: log_likelihood has no {var_name!r} "
                    f"(it has {', '.join(map(str, log_lik.data_vars)) or 'nothing'})"
                )
                continue
            obs = log_lik[var_name]
        obs = obs.drop_vars(list(SAMPLE_DIMS), errors="ignore")
        obs_coords = {d: obs[d].values for d in obs.dims if d not in SAMPLE_DIMS}
        if reference is None:
            reference = (name, obs_coords)
            continue
        ref_name, ref_coords = reference
        same = obs_coords.keys() == ref_coords.keys() and all(
            np.array_equal(obs_coords[d], ref_coords[d]) for d in obs_coords
        )
        if not same:
            sizes = ", ".join(f"{d}: {len(v)}" for d, v in obs_coords.items())
            problems.append(
                f"model {name!r}: its observations ({sizes}) differ from model "
                f"{ref_name!r}'s; all models must be fitted to the same data"
            )
    return problems


def predictive_comparison(
    fits: Mapping[str, xr.DataTree],
    *,
    var_name: str = "y",
    method: str = "stacking",
    reference: str | None = None,
    khat_threshold: float = KHAT_THRESHOLD,
) -> PredictiveComparison:
    """Compare fits by PSIS-LOO: elpd, differences with SE, weights, Pareto k.

    Parameters
    ----------
    fits : mapping of str to xarray.DataTree or arviz_stats.ELPDData
        Model name to fit, each with a ``log_likelihood`` group holding ``var_name`` over
        the same observations, or to its pointwise PSIS-LOO result computed already
        (:func:`summarise_log_likelihood`, which never holds draws x observations). The
        standard names are :data:`STANDARD_MODELS`.
    var_name : str, default "y"
        The pointwise log-likelihood variable.
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}, default "stacking"
        Weights, as in ``arviz_stats.compare``.
    reference : str, optional
        Model the differences are taken from (e.g. ``"null"``); default the best one.
    khat_threshold : float, default 0.7
        Pareto k above which an observation is flagged.

    Returns
    -------
    PredictiveComparison
        Its ``str`` is a readable table; ``to_dict()`` is plain JSON.

    Raises
    ------
    ValueError
        Listing every problem with the inputs (fewer than two fits, a missing
        log-likelihood, different observations).

    References
    ----------
    .. [1] Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation
       using leave-one-out cross-validation and WAIC. *Statistics and Computing*, 27(5),
       1413-1432. https://doi.org/10.1007/s11222-016-9696-4
    .. [2] Vehtari, A., Simpson, D., Gelman, A., Yao, Y., & Gabry, J. (2024). Pareto
       smoothed importance sampling. *Journal of Machine Learning Research*, 25(72), 1-58.
       https://jmlr.org/papers/v25/19-556.html
    .. [3] Yao, Y., Vehtari, A., Simpson, D., & Gelman, A. (2018). Using stacking to average
       Bayesian predictive distributions. *Bayesian Analysis*, 13(3), 917-1007.
       https://doi.org/10.1214/17-BA1091
    """
    problems = _problems(fits, var_name)
    if reference is not None and isinstance(fits, Mapping) and reference not in fits:
        problems.append(f"reference model {reference!r} is not among {list(fits)}")
    if problems:
        raise ValueError("cannot compare the fits:\n  " + "\n  ".join(problems))

    messages: list[str] = []
    elpd = {}
    k_rows = {}
    flagged = {}
    for name, tree in fits.items():
        if isinstance(tree, azs.ELPDData):  # computed already (summarise_log_likelihood)
            result = tree
            if result.warning:  # ArviZ's warning, raised where the result was computed
                note = (f"{name}: Estimated shape parameter of Pareto distribution is greater "
                        f"than {result.good_k:.2f} for one or more samples")
                logger.warning(note)
                messages.append(note)
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = azs.loo(tree, pointwise=True, var_name=var_name)
            messages += _record(caught, name)
            # the smoothed log weights are draws x observations in float64 (452 MB for 7,000
            # respondents x 8,000 draws); the comparison needs only the pointwise elpd and k
            result.log_weights = None
        elpd[name] = result
        k = result.pareto_k
        k_rows[name] = {
            "n": int(k.size),
            "good_k": float(result.good_k),
            "max_k": float(k.max()),
            "n_k_over_good": int((k > result.good_k).sum()),
            "n_k_over_threshold": int((k > khat_threshold).sum()),
            "n_k_over_1": int((k > 1).sum()),
        }
        flagged[name] = _labels_where(k, k.values > khat_threshold)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = azs.compare(elpd, method=method, reference=reference, round_to="none")
    messages += _record(caught, "compare")
    table = table.rename_axis("model")
    pareto_k = pd.DataFrame.from_dict(k_rows, orient="index").rename_axis("model")
    return PredictiveComparison(
        table=table,
        pareto_k=pareto_k.loc[table.index],
        flagged=flagged,
        warnings=tuple(messages),
        method=method,
        khat_threshold=khat_threshold,
        var_name=var_name,
        elpd=elpd,
    )


# -- PSIS-LOO one chunk of observations at a time ---------------------------------------------
def relative_ess(posterior: xr.Dataset) -> float:
    """Relative efficiency of the draws for PSIS (``arviz_stats.loo``'s default ``reff``).

    The mean ESS (``method="mean"``) over every posterior value, divided by the number of
    draws; 1 for one chain. Constant values (a sub-model's left-out effects, stored as 0)
    have no ESS and are skipped.
    """
    chains, draws = (posterior.sizes[d] for d in SAMPLE_DIMS)
    if chains == 1:
        return 1.0
    ess = azs.ess(posterior, method="mean")
    values = np.hstack([np.ravel(ess[name].values) for name in ess.data_vars])
    return float(np.nanmean(values) / (chains * draws))


@dataclass(frozen=True)
class LogLikelihoodSummary:
    """What the checks need of the pointwise log-likelihood, gathered chunk by chunk.

    Attributes
    ----------
    loo : arviz_stats.ELPDDataLOO
        PSIS-LOO with pointwise ``elpd_i`` and ``pareto_k`` (no smoothed weights).
    total : xarray.DataArray or None
        The log-likelihood summed over the observations, per draw (chain, draw): all that
        power-scaling the likelihood uses (``arviz_stats.psense`` sums it so).
    kept : xarray.Dataset or None
        The log-likelihood (float32) at the draws asked for (those the posterior predictive
        kept, for LOO-PIT).
    """

    loo: object
    total: xr.DataArray | None = None
    kept: xr.Dataset | None = None


def summarise_log_likelihood(chunks, *, reff: float, var_name: str = "y", totals: bool = False,
                             keep: Mapping | None = None, on_kept=None) -> LogLikelihoodSummary:
    """PSIS-LOO (and, if asked, per-draw totals and some draws) from chunks of observations.

    Parameters
    ----------
    chunks : iterable
        ``(start, stop, dataset)`` or datasets, each holding ``var_name`` over every draw
        (chain, draw) and a chunk of the observations
        (:func:`models.log_likelihood_chunks`); they are read one at a time.
    reff : float
        Relative efficiency of the draws (:func:`relative_ess` of the posterior).
    totals : bool
        Also sum the log-likelihood over the observations per draw.
    keep : mapping, optional
        ``{"chain": labels, "draw": labels}``: also keep the log-likelihood at those draws.
    on_kept : callable, optional
        With ``keep``: receives each chunk's log-likelihood at those draws (a DataArray,
        float64) and its log CDF at the observed values there (``<var_name>_log_cdf``,
        None where the chunks lack it), in the order of the chunks, instead of keeping it (e.g.
        :meth:`analysis.ppc.LooPitByChunks.add`: LOO-PIT in the same pass, never holding
        draws x observations); ``kept`` is then None.

    PSIS smooths each observation's importance ratios on their own, so the pointwise
    ``elpd_i`` and ``pareto_k`` are those of ``arviz_stats.loo`` on the whole array (test:
    tests/analysis/test_loo.py; :func:`analysis.psis.psis_loo` smooths a chunk's
    observations at once); elpd, its SE and p_loo are summed from them as ArviZ does
    (``loo_summary``). A Pareto k above ArviZ's sample-size-dependent threshold raises
    ArviZ's warning once.
    """
    elpds, ks, ps, kept = [], [], [], []
    total = None
    obs_dim = None
    messages: dict[str, type] = {}
    n_samples = 0
    for chunk in chunks:
        ds = chunk[-1] if isinstance(chunk, tuple) else chunk
        da = ds[var_name]
        obs = [d for d in da.dims if d not in SAMPLE_DIMS]
        if len(obs) != 1:
            raise ValueError(f"the log-likelihood {var_name!r} must have one observation dim "
                             f"besides chain and draw, it has {obs}")
        obs_dim = obs[0]
        n_samples = da.sizes["chain"] * da.sizes["draw"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            elpd_i, k, p_i = psis_loo(da, reff)
        for w in caught:
            messages.setdefault(str(w.message), w.category)
        elpds.append(elpd_i)
        ks.append(k)
        ps.append(p_i)
        if totals:
            part = da.sum(obs_dim, dtype=np.float64)
            total = part if total is None else total + part
        if keep is not None and on_kept is not None:
            cdf = f"{var_name}_log_cdf"  # at the kept draws, where the chunks hold it
            on_kept(da.sel(keep), ds[cdf].rename(cdf_draw="draw") if cdf in ds else None)
        elif keep is not None:
            kept.append(ds[[var_name]].sel(keep).astype(np.float32))
    if obs_dim is None:
        raise ValueError("no log-likelihood to summarise (no chunks)")
    for message, category in messages.items():  # once, not once per chunk
        warnings.warn(message, category, stacklevel=2)
    elpd_i = xr.concat(elpds, dim=obs_dim).rename("elpd_i")
    pareto_k = xr.concat(ks, dim=obs_dim).rename("pareto_k")
    p_loo_i = xr.concat(ps, dim=obs_dim)
    elpd, se, p, _ = elpd_i.azstats.loo_summary(p_loo_i)
    # ArviZ's threshold (arviz_stats.loo): min(1 - 1 / log10(S), 0.7)
    good_k = min(1 - 1 / np.log10(n_samples), 0.7) if n_samples > 1 else 0.7
    warning = bool((pareto_k > good_k).any())
    if warning:
        warnings.warn(f"Estimated shape parameter of Pareto distribution is greater than "
                      f"{good_k:.2f} for {int((pareto_k > good_k).sum())} observation(s): "
                      "PSIS-LOO is unreliable for them", UserWarning, stacklevel=2)
    result = azs.ELPDDataLOO(elpd=float(elpd), se=float(se), p=float(p), n_samples=n_samples,
                             n_data_points=int(elpd_i.size), scale="log", warning=warning,
                             good_k=good_k, elpd_i=elpd_i, pareto_k=pareto_k)
    return LogLikelihoodSummary(
        loo=result, total=None if total is None else total.rename(var_name),
        kept=xr.concat(kept, dim=obs_dim) if keep is not None and on_kept is None else None)


def plot_comparison(result: PredictiveComparison) -> Figure:
    """Elpd differences with their SE, best model on top (``arviz_plots.plot_compare``)."""
    from arviz_plots import plot_compare

    return figure_of(plot_compare(result.table, backend="matplotlib"))


def _labels_where(da: xr.DataArray, mask: np.ndarray) -> list:
    """Coordinate labels of the elements where ``mask`` holds (a tuple for several dims)."""
    labels = []
    for position in np.argwhere(mask):
        label = tuple(da[dim].values[i].item() for dim, i in zip(da.dims, position))
        labels.append(label[0] if len(label) == 1 else label)
    return labels
