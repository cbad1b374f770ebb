"""Figures of the report, each a function of plain xarray objects returning a matplotlib Figure.

Figures are built with the object-oriented API on an Agg canvas set inside each function
(never ``pyplot``, never a backend switch at import), so making a report changes no global
matplotlib state and needs no display. :func:`figure_to_base64` turns a figure into the PNG
text that the HTML report embeds.

User strings (condition names and labels) reach the figures as tick labels; ``$`` is
escaped so that a label such as ``cost $ and $ savings`` is drawn as text, not as mathtext.
"""

from __future__ import annotations

import base64
import io
import logging
import textwrap
from collections.abc import Mapping

import numpy as np
import xarray as xr

from analysis.figures import new_figure
from data.constants import SAMPLE_DIMS

logger = logging.getLogger(__name__)

# Colour per side (colour-blind safe pair from the Okabe-Ito palette); grey when unknown.
SIDE_COLOURS = {"interpersonal": "#0072B2", "interorganisational": "#D55E00"}
OTHER_COLOUR = "#555555"
# At most this many posterior draws are used for the predictive check figure.
MAX_PPC_DRAWS = 200
# An outcome with at most this many distinct integer values is drawn as categories.
MAX_CATEGORIES = 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _text(value) -> str:
    """Escape ``$`` in a user string: matplotlib would start mathtext there."""
    return str(value).replace("$", r"\$")


def figure_to_base64(fig, *, dpi: int = 110) -> str:
    """Encode a figure as base64 PNG text for an ``<img src="data:image/png;base64,...">``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default 110

    Returns
    -------
    str
        ASCII base64 of the PNG bytes.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def png_to_base64(png: bytes) -> str:
    """Encode the bytes of a PNG file (e.g. a figure saved with the checks) like :func:`figure_to_base64`.

    Raises
    ------
    ValueError
        When the bytes are not a PNG file.
    """
    if png[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    return base64.b64encode(png).decode("ascii")


def _interval(draws: xr.DataArray, dim: str, prob: float):
    """Mean, lower and upper equal-tailed bounds along ``dim`` (after pooling chains)."""
    stacked = draws.stack(sample=SAMPLE_DIMS).transpose(dim, "sample").values
    tail = (1 - prob) / 2
    lower, upper = np.quantile(stacked, [tail, 1 - tail], axis=1)
    return stacked.mean(axis=1), lower, upper


def forest_plot(
    effects: Mapping[str, xr.DataArray],
    *,
    labels: Mapping[str, str] | None = None,
    sides: Mapping[str, str] | None = None,
    prob: float = 0.89,
):
    """Posterior mean and interval of every condition's effect, one panel per scale.

    Parameters
    ----------
    effects : mapping of str to xarray.DataArray
        Panel title -> draws with dims (chain, draw, condition), e.g. per raw unit and
        per SD. Every panel lists the conditions of the first one.
    labels : mapping, optional
        Condition -> readable label shown beside the name.
    sides : mapping, optional
        Condition -> side, which sets the colour.
    prob : float, default 0.89
        Probability of the equal-tailed interval.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import MaxNLocator

    labels = labels or {}
    sides = sides or {}
    titles = list(effects)
    conditions = [str(c) for c in next(iter(effects.values()))["condition"].values]
    # the readable label, wrapped, above the name: long one-line labels shrank the figure
    # (and its fonts) when it was scaled to the page's width
    names = [f"{textwrap.shorten(labels[c], 40)}\n({c})" if labels.get(c) else c
             for c in conditions]
    fig = new_figure(2.6 + 2.4 * len(titles), 1.2 + 0.42 * len(conditions))
    axes = fig.subplots(1, len(titles), sharey=True, squeeze=False)[0]
    positions = np.arange(len(conditions))[::-1]
    for ax, title in zip(axes, titles):
        draws = effects[title].sel(condition=conditions)
        mean, lower, upper = _interval(draws, "condition", prob)
        colours = [SIDE_COLOURS.get(sides.get(c), OTHER_COLOUR) for c in conditions]
        ax.hlines(positions, lower, upper, colors=colours, linewidth=2.5)
        ax.scatter(mean, positions, c=colours, s=28, zorder=3)
        ax.axvline(0, color="#999999", linewidth=0.8, linestyle="--")
        # long titles (a readable effect's quantity) wrap within their panel
        ax.set_title(_text(textwrap.fill(title, 38)), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # tick labels that do not touch
    axes[0].set_yticks(positions, [_text(n) for n in names], fontsize=7.5)
    present = [s for s in SIDE_COLOURS if s in sides.values()]
    if present:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=SIDE_COLOURS[s], marker="o", linewidth=2.5) for s in present]
        fig.legend(handles, present, loc="outside lower center", ncols=len(present), fontsize=8)
    fig.suptitle(f"Effects: posterior mean and {prob:.0%} interval", fontsize=10)
    return fig


def share_plot(decomposition: xr.Dataset, *, level_sides: Mapping[str, str] | None = None,
               prob: float = 0.89):
    """Variance shares per level and per side with their intervals.

    Parameters
    ----------
    decomposition : xarray.Dataset
        From :func:`analysis.variance_decomposition`: ``share`` (dim level) and
        ``side_share`` (dim side), Pratt shares of the fixed part; ``side_share_of_total``
        (dim side), when present, is drawn in a third panel.
    level_sides : mapping, optional
        Level -> side, which sets the colour of the level shares.
    prob : float, default 0.89

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = [
        ("share", "level", "Share of the explained variance, by level"),
        ("side_share", "side", "Share of the explained variance, by side"),
        ("side_share_of_total", "side", "Share of the total latent variance, by side"),
    ]
    panels = [p for p in panels if p[0] in decomposition]
    level_sides = level_sides or {}
    fig = new_figure(3.6 * len(panels), 2.5)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, dim, title) in zip(axes, panels):
        draws = decomposition[name]
        names = [str(v) for v in draws[dim].values]
        mean, lower, upper = _interval(draws, dim, prob)
        positions = np.arange(len(names))[::-1]
        colours = [SIDE_COLOURS.get(level_sides.get(n, n), OTHER_COLOUR) for n in names]
        ax.hlines(positions, lower, upper, colors=colours, linewidth=3)
        ax.scatter(mean, positions, c=colours, s=30, zorder=3)
        ax.axvline(0, color="#999999", linewidth=0.8, linestyle="--")
        ax.set_yticks(positions, [_text(n) for n in names], fontsize=8)
        ax.set_title(title, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Variance shares: posterior mean and {prob:.0%} interval", fontsize=10)
    return fig


def difference_plot(difference: xr.DataArray, *, rope: float):
    """Posterior of the share difference with the region of practical equivalence shaded.

    Parameters
    ----------
    difference : xarray.DataArray
        Interpersonal minus interorganisational share per draw (``DominanceVerdict.difference``).
    rope : float
        Half-width of the region of practical equivalence.

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = np.ravel(difference.values)
    fig = new_figure(6.0, 2.4)
    ax = fig.subplots()
    ax.axvspan(-rope, rope, color="#dddddd", label=f"practical equivalence (±{rope:g})")
    # a constant difference (conditions on one side only: 1 in every draw, up to rounding)
    # has no spread to cut into 60 bins
    spread = float(np.ptp(values)) if np.size(values) else 0.0
    constant = spread <= 1e-9 * max(1.0, float(np.max(np.abs(values), initial=0.0)))
    if constant and np.size(values):
        ax.axvline(float(values[0]), color="#4d4d4d", linewidth=3, label="every draw")
    else:
        ax.hist(values, bins=60, color="#4d4d4d", alpha=0.85, density=True)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("interpersonal share − interorganisational share")
    ax.set_yticks([])
    fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    return fig


def _is_categorical(observed: np.ndarray) -> bool:
    finite = observed[np.isfinite(observed)]
    return bool(finite.size) and np.all(finite == np.round(finite)) and (
        np.unique(finite).size <= MAX_CATEGORIES
    )


def _family(observed: xr.DataArray):
    """The outcome's family (``models.Family``) from the ``family`` attribute a fit puts on
    ``y``; None for fits written before it did.
    """
    from models.families import FAMILIES

    return FAMILIES.get(str(observed.attrs.get("family")))


def _takes_categories(observed: xr.DataArray, values: np.ndarray) -> bool:
    """Whether the outcome is drawn as category bars: its family says (``models.Family``,
    from the ``family`` attribute a fit puts on ``y``), else its values (few integers).

    A category family always is; a continuous (``density``) one never; a discrete family
    with another check (binomial counts) is when its counts take few values.
    """
    family = _family(observed)
    if family is None:  # fits written before y carried its family
        return _is_categorical(values)
    if family.ppc == "categories":
        return True
    return family.discrete and _is_categorical(values)


def _ecdf_overlay(ax, obs: np.ndarray, pred: np.ndarray, *, prob: float, name: str) -> None:
    """Observed ECDF over the pointwise ``prob`` interval of the predictive draws' ECDFs."""
    # the grid from the observed and at most ~30 draws (a million respondents x 200 draws
    # would be a 1.6 GB copy); each draw's ECDF by sorting it (pred <= grid at once was
    # draws x respondents x grid booleans: 0.8 GB at 20,000 respondents)
    some = pred[:: max(1, len(pred) // 30)]
    grid = np.quantile(np.concatenate([obs, some.ravel()]), np.linspace(0.001, 0.999, 200))
    ecdfs = np.stack([np.searchsorted(np.sort(row), grid, side="right") / row.size
                      for row in pred])  # draws x grid
    tail = (1 - prob) / 2
    low, high = np.quantile(ecdfs, [tail, 1 - tail], axis=0)
    ax.fill_between(grid, low, high, color="#0072B2", alpha=0.3, step="post", linewidth=0)
    ax.step(grid, (obs[:, None] <= grid).mean(axis=0), where="post", color="black", linewidth=1.5)
    ax.set_xlabel(name)
    ax.set_ylabel("ECDF")
    ax.set_title(f"ECDF, predictive {prob:.0%} band", fontsize=9)


def ppc_plot(observed: xr.DataArray, predicted: xr.DataArray, *, prob: float = 0.89,
             trials: xr.DataArray | None = None):
    """Observed outcome distribution against the posterior predictive distribution.

    A categorical outcome (its family's check is ``categories``) is drawn as observed
    proportions per category with the predicted median and interval; a continuous one
    (``density``) as two overlays: the observed histogram over the histograms of evenly
    spaced predictive draws, and the observed ECDF over the predictive ECDFs' pointwise
    ``prob`` interval. A binomial outcome (check ``proportion``) with its ``trials`` is
    drawn as the proportion of successes ``y / trials``, as the per-group checks do
    (counts out of different numbers of trials are not comparable): as category bars when
    every individual has the same trials, else as the two overlays.

    Parameters
    ----------
    observed : xarray.DataArray
        Observed outcome (missing values are left out); its ``family`` attribute (set by
        ``models.fit``) chooses the kind of figure.
    predicted : xarray.DataArray
        Posterior predictive draws with dims (chain, draw, ...) matching ``observed``.
    prob : float, default 0.89
    trials : xarray.DataArray, optional
        Trials per individual (the fit's ``constant_data``) of a binomial outcome; without
        them its counts are drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    name = _text(observed.name or "outcome")
    family = _family(observed)
    one_n = None  # a proportion: whether every individual has the same trials
    if trials is not None and family is not None and family.ppc == "proportion":
        name = f"{name} / trials"
        observed, predicted = observed / trials, predicted / trials
        one_n = np.unique(trials.values).size == 1
    obs = np.asarray(observed.values, dtype=float).ravel()
    stacked = predicted.stack(sample=SAMPLE_DIMS).transpose("sample", ...)
    # Evenly spaced draws: deterministic, no seed needed.
    keep = np.unique(np.linspace(0, stacked.sizes["sample"] - 1, MAX_PPC_DRAWS).astype(int))
    # in the draws' own type (float32 for a continuous outcome): no float64 copy of them all
    pred = np.asarray(stacked.isel(sample=keep).values).reshape(len(keep), -1)
    seen = np.isfinite(obs)
    if not seen.all():
        obs, pred = obs[seen], pred[:, seen]
    if one_n is None:
        categorical = _takes_categories(observed, obs)
    else:  # k / n for one n takes few values; for several n, many
        categorical = one_n and np.unique(obs).size <= MAX_CATEGORIES
    fig = new_figure(6.0 if categorical else 9.0, 2.8)
    ax = fig.subplots() if categorical else fig.subplots(1, 2)[0]
    if categorical:
        categories = np.union1d(np.unique(obs), np.unique(pred))
        if categories.size > MAX_CATEGORIES:
            categories = np.unique(obs)
        observed_share = np.array([(obs == c).mean() for c in categories])
        predicted_share = np.stack([(pred == c).mean(axis=1) for c in categories], axis=1)
        tail = (1 - prob) / 2
        low, mid, high = np.quantile(predicted_share, [tail, 0.5, 1 - tail], axis=0)
        x = np.arange(categories.size)
        ax.bar(x, observed_share, color="#bbbbbb", label="observed")
        ax.errorbar(x, mid, yerr=[mid - low, high - mid], fmt="o", color="#0072B2",
                    capsize=3, label=f"predicted (median and {prob:.0%} interval)")
        ax.set_xticks(x, [f"{c:g}" for c in categories])
        ax.set_ylabel("share of respondents")
    else:
        bins = np.histogram_bin_edges(np.concatenate([obs, pred[: min(len(pred), 30)].ravel()]), 30)
        for row in pred[:: max(1, len(pred) // 30)]:
            ax.hist(row, bins=bins, density=True, histtype="step", color="#0072B2", alpha=0.15)
        ax.hist(obs, bins=bins, density=True, histtype="step", color="black", linewidth=1.8,
                label="observed")
        ax.plot([], [], color="#0072B2", alpha=0.5, label="predictive draws")
        ax.set_yticks([])
        ax.set_ylabel("density")
        _ecdf_overlay(fig.axes[1], obs, pred, prob=prob, name=name)
    ax.set_xlabel(name)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    ax.set_title(f"Posterior predictive check: {name}", fontsize=10)
    return fig
