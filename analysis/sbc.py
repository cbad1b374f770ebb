"""Simulation-based calibration (SBC) of the toolkit's model (DESIGN.md §5).

SBC (Talts et al. 2018) checks that the model's posterior is calibrated *given its prior*:
draw parameters from the prior, simulate data from them, fit, and rank each drawn value
among the posterior draws. When the model and the sampler are right, each rank is
uniform on ``0..L`` (``L`` kept posterior draws); a posterior that is too narrow piles
the ranks at both ends, a biased one at one end, a too wide one in the middle.

Here the truth comes from exactly the fitted model's prior: the PyMC model that
:mod:`models.build` builds on a survey's design, forward-sampled
(:func:`models.predictive.prior_predictive`), gives the parameters and the outcome ``y``;
each fit is the same compiled model refitted on that ``y`` (the conditions, the groups and,
for the gaussian family, the outcome location and scale that set its default priors stay
those of the design, so every simulation has the same prior). The ranked quantities are
each condition's effect ``b[<condition>]``, each group level's SD ``sd_<level>`` and the
interpersonal share ``share_interpersonal`` (the Pratt side share of the fixed part,
the verdict's quantity) and ``share_of_total_interpersonal`` (the side's share of the
total latent variance), both computed per prior draw and per posterior draw with the
toolkit's own decomposition (:func:`analysis.checks.decompose`).

Uniformity is tested per quantity with arviz-stats' ``uniformity_test`` (``pot_c``:
pointwise order-statistic tests with a Cauchy combination, Tesso et al. 2026) on the
ranks made continuous (``(rank + U) / (L + 1)``, ``U`` uniform with a fixed seed, which is
exactly uniform under calibration), and with a chi-square test on the binned ranks. Rank
plots are arviz-plots' ECDF-difference plots (:func:`plot_ranks`).

Fits are pure jobs (:func:`sbc_fit`: a :class:`SBCJob` in, ranks out) that run on any
:class:`concurrent.futures.Executor`; each worker process compiles the model once
(:func:`models.fit.compiled_model`) and refits new ``y`` without recompiling.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018). Validating
Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.

Modrák, M., Moon, A. H., Kim, S., Bürkner, P., Huurre, N., Faltejsková, K., Gelman, A. &
Vehtari, A. (2023). Simulation-based calibration checking for Bayesian computation: the
choice of test quantities shapes sensitivity. *Bayesian Analysis*. doi:10.1214/23-BA1404
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr

from data.codebook import GROUP_LEVELS
from data.constants import SAMPLE_DIMS

logger = logging.getLogger(__name__)

INTERPERSONAL = "interpersonal"
SHARE = "share_interpersonal"
SHARE_OF_TOTAL = "share_of_total_interpersonal"
#: Significance level of the "rejected?" columns.
LEVEL = 0.01


@dataclass(frozen=True)
class SBCJob:
    """One SBC simulation: refit the design's model on a simulated outcome and rank the truth.

    Attributes
    ----------
    design : models.ModelDesign
        The design of the fitted model (its ``y`` is replaced by ``y``).
    y : numpy.ndarray
        The simulated outcome, coded as the model sees it (``design.y``'s coding).
    truth : dict of str to float
        The prior draw's value of each ranked quantity.
    chains, draws, tune : int
        Sampling (nutpie).
    kept : int
        Posterior draws the ranks are taken among (``L``), evenly spaced over the chains.
    seed : int
    cores : int or None
        Chains sampled at once in this fit; None: what the worker has
        (:func:`models.jobs.worker_cores`, 1 outside a pool).
    """

    design: object
    y: np.ndarray
    truth: dict
    chains: int = 2
    draws: int = 200
    tune: int = 200
    kept: int = 99
    seed: int = 0
    cores: int | None = None


@dataclass(frozen=True)
class SBCFit:
    """The result of one :class:`SBCJob`: ranks (None when the fit failed) and diagnostics."""

    ranks: dict | None
    diagnostics: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


# -- quantities ----------------------------------------------------------------------------
def quantities(tree: xr.DataTree) -> dict[str, np.ndarray]:
    """The ranked quantities of every draw of ``tree["posterior"]``, flattened (chain-major).

    ``b[<condition>]``, ``sd_<level>``, and where the model has an interpersonal condition,
    :data:`SHARE` and :data:`SHARE_OF_TOTAL` from the toolkit's decomposition.
    """
    from .checks import decompose

    posterior = tree["posterior"]
    out: dict[str, np.ndarray] = {}
    if "b" in posterior:
        for condition in posterior["condition"].values:
            out[f"b[{condition}]"] = _flat(posterior["b"].sel(condition=condition))
    for level in GROUP_LEVELS:
        if f"sd_{level}" in posterior:
            out[f"sd_{level}"] = _flat(posterior[f"sd_{level}"])
    if "b" in posterior and INTERPERSONAL in posterior["condition_side"].values:
        parts = decompose(tree)
        out[SHARE] = _flat(parts["side_share"].sel(side=INTERPERSONAL))
        out[SHARE_OF_TOTAL] = _flat(parts["side_share_of_total"].sel(side=INTERPERSONAL))
    return out


def _flat(da: xr.DataArray) -> np.ndarray:
    return da.transpose(*SAMPLE_DIMS).values.reshape(-1).astype(float)


def _labelled(ds: xr.Dataset, design) -> xr.Dataset:
    """Draws with the design's labels, and each condition's level and side (as a fit has)."""
    ds = ds.assign_coords({dim: labels for dim, labels in design.coords.items() if dim in ds.dims})
    if "condition" in ds.dims:
        names = [str(c) for c in ds["condition"].values]
        ds = ds.assign_coords(condition_level=("condition", [design.condition_level[c] for c in names]),
                              condition_side=("condition", [design.condition_side[c] for c in names]))
    return ds


def fit_tree(draws: xr.Dataset, design, sample_stats: xr.Dataset | None = None) -> xr.DataTree:
    """A fit-shaped tree of ``draws`` (as ``posterior``) that the decomposition reads."""
    from models.fit import design_dataset

    groups = {"posterior": _labelled(draws, design), "constant_data": design_dataset(design)}
    if sample_stats is not None:
        groups["sample_stats"] = sample_stats
    tree = xr.DataTree.from_dict(groups)
    tree.attrs["family"] = design.family.name
    return tree


# -- prior draws -----------------------------------------------------------------------------
def prior_jobs(design, n: int, *, seed: int = 0, generating_design=None, chains: int = 2,
               draws: int = 200, tune: int = 200, kept: int = 99,
               cores: int | None = None) -> list[SBCJob]:
    """Draw ``n`` parameter sets and outcomes from the model's prior: one job each.

    Parameters
    ----------
    design : models.ModelDesign
        The design of the model to check (``models.make_design(spec, survey)``); its
        conditions, groups and trials stay fixed, only ``y`` is simulated.
    n : int
        Simulations.
    seed : int
        Seeds the prior draws and, one derived seed per job, the fits.
    generating_design : models.ModelDesign, optional
        Draw the truth from this design's model instead (same data, another spec, e.g.
        other priors): the fits then use a prior that is not the generating one, a
        deliberately miscalibrated case that SBC must detect.
    chains, draws, tune, kept, cores
        Sampling of each fit (:class:`SBCJob`).
    """
    from models.build import model_from_design
    from models.predictive import prior_predictive

    if design.raters is not None:
        raise ValueError("SBC of the rater model is not supported (its codes would need simulating too)")
    if kept > chains * draws:
        raise ValueError(f"kept ({kept}) cannot exceed chains x draws ({chains * draws})")
    source = design if generating_design is None else generating_design
    prior_seed, fit_seed = np.random.SeedSequence(seed).generate_state(2)
    prior = prior_predictive(model_from_design(source), draws=n, seed=int(prior_seed))
    truth = quantities(fit_tree(prior["prior"].to_dataset(), source))
    y = prior["prior_predictive"]["y"].transpose(*SAMPLE_DIMS, ...).values.reshape(n, -1)
    seeds = np.random.SeedSequence(int(fit_seed)).generate_state(n)
    return [SBCJob(design=design, y=y[i].astype(design.y.dtype), truth={k: float(v[i]) for k, v in truth.items()},
                   chains=chains, draws=draws, tune=tune, kept=kept, seed=int(seeds[i]), cores=cores)
            for i in range(n)]


# -- one fit -----------------------------------------------------------------------------------
_MODELS: dict = {}  # per process: the PyMC model of each design structure (built once)


def sbc_fit(job: SBCJob) -> SBCFit:
    """Fit the job's simulated outcome and rank its truth among the kept posterior draws.

    A pure function of the job: the same job gives the same ranks in any process. A
    failed fit is returned with its error (and no ranks), not raised, so one failure does
    not end a study.
    """
    import nutpie

    from models.build import model_from_design
    from models.fit import compiled_model, exact_floats
    from models.jobs import worker_cores
    from models.scales import sampler_draws

    from .verdict import sampling_diagnostics

    start = time.perf_counter()
    try:
        design = replace(job.design, y=job.y)
        key = design.structure_key()
        if key not in _MODELS:
            _MODELS[key] = model_from_design(design)
        with exact_floats():
            compiled = compiled_model(_MODELS[key], design)
            trace = nutpie.sample(compiled, draws=job.draws, tune=job.tune, chains=job.chains,
                                  cores=job.cores or worker_cores() or 1, seed=job.seed,
                                  progress_bar=False, save_warmup=False)
        posterior = sampler_draws(trace["posterior"].to_dataset(), in_place=True)  # signed group SDs
        stats = trace["sample_stats"].to_dataset()
        if "diverging" not in stats and "divergences" in stats:
            stats = stats.rename(divergences="diverging")
        tree = fit_tree(posterior, design, stats[["diverging"]] if "diverging" in stats else None)
        names = [n for n in ("b", *(f"sd_{lvl}" for lvl in GROUP_LEVELS)) if n in posterior]
        diagnostics = sampling_diagnostics(tree, var_names=names)
        stacked = posterior.stack(sample=SAMPLE_DIMS)
        picks = np.linspace(0, stacked.sizes["sample"] - 1, job.kept).round().astype(int)
        kept = fit_tree(stacked.isel(sample=picks).drop_vars(["sample", *SAMPLE_DIMS])
                     .rename(sample="draw").expand_dims(chain=1)
                     .assign_coords(chain=[0], draw=np.arange(job.kept)),
                     design)
        draws = quantities(kept)
        ranks = {name: int(np.sum(draws[name] < value)) for name, value in job.truth.items()}
        return SBCFit(ranks=ranks, diagnostics=diagnostics, seconds=time.perf_counter() - start)
    except Exception as err:  # a study reports failed fits; it does not stop at the first
        logger.warning("SBC fit failed: %s", err)
        return SBCFit(ranks=None, seconds=time.perf_counter() - start, error=f"{type(err).__name__}: {err}")


# -- a study -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SBCResult:
    """Ranks of one SBC study and their uniformity tests.

    Attributes
    ----------
    ranks : pandas.DataFrame
        One row per successful simulation, one column per quantity; ranks in ``0..max_rank``.
    max_rank : int
        ``L``, the number of posterior draws each truth is ranked among.
    diagnostics : pandas.DataFrame
        :func:`analysis.sampling_diagnostics` of each successful fit.
    errors : list of str
        The errors of failed fits (left out of the ranks).
    seconds : float
        Total fitting time (summed over the fits).
    truth : pandas.DataFrame or None
        The prior draw of each successful simulation (rows as in ``ranks``), e.g. to see
        where sampling problems (``diagnostics``) occur.
    """

    ranks: pd.DataFrame
    max_rank: int
    diagnostics: pd.DataFrame
    errors: list
    seconds: float = 0.0
    truth: pd.DataFrame | None = None

    def uniformity(self, *, bins: int | None = None, seed: int = 0) -> pd.DataFrame:
        """Uniformity tests per quantity (see :func:`uniformity`)."""
        return uniformity(self.ranks, self.max_rank, bins=bins, seed=seed)

    def family_p_value(self, **kwargs) -> float:
        """Bonferroni p-value over the quantities: ``min(1, m * min p)`` of the ECDF test."""
        table = self.uniformity(**kwargs)
        return float(min(1.0, len(table) * table["p_ecdf"].min()))


def run_sbc(design, n: int, *, executor: Executor | None = None, seed: int = 0,
            generating_design=None, progress=None, **sampling) -> SBCResult:
    """Run an SBC study of ``design``'s model: ``n`` prior draws, one fit each.

    Parameters
    ----------
    design : models.ModelDesign
    n : int
    executor : concurrent.futures.Executor, optional
        Runs the fits (e.g. :func:`models.jobs.open_executor`'s local pool or Dask
        executor); None fits one after the other in this process. The result does not
        depend on the executor.
    seed : int
    generating_design : models.ModelDesign, optional
        See :func:`prior_jobs` (a deliberately miscalibrated study).
    progress : callable, optional
        Called with the number of finished fits after each one.
    **sampling
        ``chains``, ``draws``, ``tune``, ``kept``, ``cores`` of each fit.
    """
    jobs = prior_jobs(design, n, seed=seed, generating_design=generating_design, **sampling)
    if executor is None:
        results = []
        for job in jobs:
            results.append(sbc_fit(job))
            if progress:
                progress(len(results))
    else:
        futures = [executor.submit(sbc_fit, job) for job in jobs]
        results = []
        for future in futures:  # in submission order: the table does not depend on timing
            results.append(future.result())
            if progress:
                progress(len(results))
    done = [(job, r) for job, r in zip(jobs, results, strict=True) if r.ranks is not None]
    errors = [r.error for r in results if r.ranks is None]
    if errors:
        logger.warning("%d of %d SBC fits failed (left out): %s", len(errors), n, errors[0])
    return SBCResult(ranks=pd.DataFrame([r.ranks for _, r in done]),
                     max_rank=jobs[0].kept if jobs else 0,
                     diagnostics=pd.DataFrame([r.diagnostics for _, r in done]),
                     errors=errors, seconds=float(sum(r.seconds for r in results)),
                     truth=pd.DataFrame([job.truth for job, _ in done]))


# -- uniformity ------------------------------------------------------------------------------
def normalised_ranks(ranks: pd.DataFrame, max_rank: int, *, seed: int = 0) -> pd.DataFrame:
    """Ranks made continuous in (0, 1): ``(rank + U) / (max_rank + 1)``, U uniform (fixed seed).

    Under calibration a rank is uniform on ``0..max_rank``, so these are exactly
    Uniform(0, 1), which the continuous tests and plots of arviz assume.
    """
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(size=ranks.shape)
    return (ranks.astype(float) + jitter) / (max_rank + 1)


def uniformity(ranks: pd.DataFrame, max_rank: int, *, bins: int | None = None,
               seed: int = 0) -> pd.DataFrame:
    """Test each quantity's ranks for uniformity on ``0..max_rank``.

    Returns a table indexed by quantity with ``sims``, ``p_ecdf`` (arviz-stats'
    ``uniformity_test``, method ``pot_c``, on :func:`normalised_ranks`), ``p_chi2``
    (chi-square on ``bins`` equal bins of the integer ranks; default: the largest divisor of
    ``max_rank + 1`` that leaves at least 5 expected ranks per bin, at most 20 bins) and
    ``rejected`` (``p_ecdf`` < :data:`LEVEL`).
    """
    import arviz_stats  # noqa: F401  (registers the .azstats accessor)
    from scipy import stats

    n = len(ranks)
    if n == 0:
        raise ValueError("no ranks to test")
    if ((ranks < 0) | (ranks > max_rank)).to_numpy().any():
        raise ValueError(f"ranks must be in 0..{max_rank}")
    if bins is None:
        bins = _bins(max_rank + 1, n)
    if (max_rank + 1) % bins:
        raise ValueError(f"bins ({bins}) must divide max_rank + 1 ({max_rank + 1})")
    u = normalised_ranks(ranks, max_rank, seed=seed)
    ds = xr.Dataset({name: (("chain", "draw"), u[name].to_numpy()[None, :]) for name in u.columns})
    p_ecdf, _, _ = ds.azstats.uniformity_test(dim=list(SAMPLE_DIMS), method="pot_c")
    rows = []
    for name in ranks.columns:
        counts = np.bincount(ranks[name].to_numpy() * bins // (max_rank + 1), minlength=bins)
        p_chi2 = float(stats.chisquare(counts).pvalue) if bins > 1 else float("nan")
        p = float(p_ecdf[name])
        rows.append({"quantity": name, "sims": n, "p_ecdf": p, "p_chi2": p_chi2, "bins": bins,
                     "rejected": bool(p < LEVEL)})
    return pd.DataFrame(rows).set_index("quantity")


def _bins(values: int, n: int) -> int:
    divisors = [b for b in range(1, min(20, values) + 1) if values % b == 0 and n / b >= 5]
    return max(divisors) if divisors else 1


def plot_ranks(ranks: pd.DataFrame, max_rank: int, path=None, *, title: str | None = None,
               seed: int = 0):
    """ECDF-difference rank plots, one panel per quantity (arviz-plots' ``plot_ecdf_pit``).

    Each panel shows the ECDF of the normalised ranks minus the uniform CDF, with the
    ``pot_c`` test's p-value and its most suspicious points highlighted. Saved to ``path``
    when given; returns the arviz-plots PlotCollection.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from arviz_plots import plot_ecdf_pit

    u = normalised_ranks(ranks, max_rank, seed=seed)
    ds = xr.Dataset({name: (("chain", "draw"), u[name].to_numpy()[None, :]) for name in u.columns})
    columns = min(4, max(1, len(u.columns)))
    rows = -(-len(u.columns) // columns)
    collection = plot_ecdf_pit(xr.DataTree.from_dict({"prior_sbc": ds}), backend="matplotlib",
                               col_wrap=columns,
                               figure_kwargs={"figsize": (3.6 * columns, 2.6 * rows + 0.6), "sharey": False,
                                              "layout": "constrained"})
    figure = collection.viz["figure"].item() if hasattr(collection.viz["figure"], "item") else None
    if title and figure is not None:
        figure.suptitle(title)
    if path is not None:
        collection.savefig(path)
    return collection


def coverage(ranks: pd.DataFrame, max_rank: int, prob: float = 0.9) -> pd.Series:
    """Share of simulations whose truth lies in the central ``prob`` interval of the kept draws.

    Under calibration it is about ``prob`` (up to the rank grid: exactly the fraction of
    ranks in the central ``round(prob * (max_rank + 1))`` values).
    """
    width = round(prob * (max_rank + 1))
    low = (max_rank + 1 - width) // 2
    inside = (ranks >= low) & (ranks < low + width)
    return inside.mean()

