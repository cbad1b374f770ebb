"""Fitting: sample the posterior and collect everything later steps need in one DataTree.

:func:`fit` samples with nutpie by default (compiled once per model structure and reused
with new data, see :func:`compiled_model`) or with PyMC's NUTS, then adds the prior and
posterior predictive draws and the log-prior (vectorised over
the draws, :mod:`models.predictive`), the observed data and the design
(``constant_data``), all with named coordinates.

What a run keeps (DESIGN.md §3, §6): the posterior and its log prior at every draw (each
prior term summed over its elements: what the prior sensitivity uses); the
posterior predictive draws only at :data:`~models.predictive.PREDICTIVE_DRAWS` (1,000)
draws evenly spaced over the chains (:func:`~models.predictive.thinning`), which is what
the posterior predictive checks use, and the prior predictive at that many draws; above
200,000 respondents fewer, so that each predictive group holds at most 200 million values
(:func:`~models.predictive.predictive_draws_for`: 200 draws at 1,000,000 respondents). The
pointwise log-likelihood (as large as the data times the draws: 6 GB of float32 for
190,000 respondents x 8,000 draws) is neither kept nor saved: the checks recompute it from
the posterior one chunk of individuals at a time (:func:`log_likelihood_chunks`), and
:func:`with_log_likelihood` adds it whole (float32) where a small fit needs it as a group.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections import OrderedDict
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pymc as pm
import pytensor
import xarray as xr

from . import sufficient
from .build import initial_values, model_from_design, start_data
from .compiled import compile_model
from .design import ModelDesign, make_design
from .extend import DEFAULT_BUDGET, Attempt, Budget, sample_until_trusted, with_record
from .garbage import free_dropped
from .predictive import (
    PREDICTIVE_DRAWS,
    log_likelihood,
    log_likelihood_by_individuals,
    log_prior,
    posterior_predictive,
    predictive_draws_for,
    prior_predictive,
    thinning,
)
from .scales import sampler_draws, stored_names
from .spec import FitOptions, ModelSpec, SpecError

logger = logging.getLogger(__name__)

# 2: summary.json's interval blocks are lower/upper of data.intervals' interval (were a 94%
# HDI's hdi_3%/hdi_97%), and a saved run holds no log-likelihood (recomputed on demand)
SCHEMA_VERSION = 2
# the pointwise log-likelihood's type: float32 halves it and changes elpd by far less than
# its Monte Carlo error (tests/analysis/test_storage.py)
LOG_LIKELIHOOD_DTYPE = "float32"
# root attr of a fit whose saved run leaves the log-likelihood out
LOG_LIKELIHOOD_ATTR = "log_likelihood"
LOG_LIKELIHOOD_ON_DEMAND = "not saved; recomputed from the posterior when a check needs it"
_CACHE_SIZE = 8
_COMPILED: OrderedDict = OrderedDict()


def exact_floats():
    """Compile without numba's fastmath, so that the same seed gives the same draws.

    With fastmath, a model compiled on an empty cache (the first fit on a machine) and the
    same model loaded from PyTensor's numba cache round differently, and the chains drift
    apart: on the example data, 2 chains x 200 draws, seed 5, ``b`` differed by up to
    0.69 between the first and the second run. Without it both runs gave identical draws.
    """
    return pytensor.config.change_flags(numba__fastmath=False)


def _with_exact_floats(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with exact_floats():
            return function(*args, **kwargs)
    return wrapper


def require_jax() -> None:
    """Raise a clear error when ``--backend jax`` is asked and jax is not installed."""
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        raise SpecError("options", ["sampling.backend (--backend) 'jax' needs the jax package, which is "
                                    "not installed: pip install 'alliance-learning[jax]' (or jax[cuda12] "
                                    "for a GPU), or leave the backend at numba (the default)"])


def compiled_model(model: pm.Model, design: ModelDesign, backend: str = "numba"):
    """Return nutpie's compiled model for ``model``, compiled once per structure.

    A model with the same spec and the same array shapes as one compiled before (for
    instance a simulated dataset of the same design, or a refit after a data fix) reuses
    that compilation with the new data (``CompiledPyMCModel.with_data``); the first
    compilation of a large model takes about a minute.

    The starting point of a compiled model is computed from the data containers of the
    PyMC model it was compiled from (the cutpoints start at the observed proportions, a
    gaussian intercept at the outcome's mean). On reuse those containers get the new data
    too, so the sampler starts, and draws, exactly as after a fresh compilation: the same
    seed gives the same draws whatever was fitted before in the session.

    A gaussian model without varying slopes, imputed conditions or raters is compiled as
    :func:`models.sufficient.sampling_model` (``model`` is then not used): the same free
    variables and posterior, its likelihood from sufficient statistics, so a gradient
    costs O(groups) rather than O(respondents).

    ``backend="jax"`` compiles with nutpie's own JAX backend (log-density and gradient in
    JAX, on a GPU where jax has one) instead of the disk-cached numba path, every time:
    nutpie freezes the data into a JAX model as constants, so it cannot take new data.
    """
    if backend == "jax":
        import nutpie

        logger.info("compiling the model with nutpie's JAX backend")
        return nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax",
                                         initial_points=initial_values(design, model),
                                         var_names=stored_names(model))
    key, data = design.structure_key(), design.data()
    from_statistics = sufficient.eligible(design)
    if from_statistics:  # gaussian: sample the same posterior from sufficient statistics
        key, data = ("sufficient", key), {**data, **sufficient.statistics(design)}
    if key in _COMPILED:
        _COMPILED.move_to_end(key)
        logger.info("reusing the compiled model with new data")
        first_model, compiled = _COMPILED[key]
        pm.set_data({**data, **start_data(design)}, model=first_model)
        used = {var.name for var in compiled.shared_var_keys}  # the sampling model's need no y, idx
        return compiled.with_data(**{name: value for name, value in data.items() if name in used})
    if from_statistics:
        model = sufficient.sampling_model(design, {k: v for k, v in data.items() if k.startswith(sufficient.PREFIX)})
    logger.info("compiling the model with nutpie (once per model structure)")
    with exact_floats():  # nutpie's model, its entry points cached on disk (models.compiled)
        compiled = compile_model(model, initial_points=initial_values(design, model),
                                 var_names=stored_names(model))  # not u = sd * z (models.scales)
    _COMPILED[key] = (model, compiled)
    while len(_COMPILED) > _CACHE_SIZE:
        _COMPILED.popitem(last=False)
    return compiled


@_with_exact_floats
def fit(spec: ModelSpec, survey, *, chains: int = 4, draws: int = 2000, tune: int = 1000,
        seed: int = 0, sampler: str = "nutpie", target_accept: float = 0.8,
        progressbar: bool = True, predictive: bool = True, active_conditions=None,
        cores: int | None = None, predictive_draws: int | None = PREDICTIVE_DRAWS,
        extension: Budget | None = DEFAULT_BUDGET,
        design: ModelDesign | None = None, backend: str = "numba") -> xr.DataTree:
    """Fit the model of ``spec`` to ``survey``.

    Parameters
    ----------
    spec : ModelSpec
    survey : data.CaseSurvey
    chains, draws, tune : int
        Chains, kept draws per chain, tuning steps per chain.
    seed : int
        The one seed of the run: the sampler, the prior and the posterior predictive draws
        take independent streams derived from it (the same seed gives identical draws,
        on the first run on a machine as on later ones: see :func:`exact_floats`).
    sampler : {"nutpie", "pymc"}
        nutpie (default, compiled and fast) or PyMC's own NUTS.
    target_accept : float
        Target acceptance rate of NUTS's step-size adaptation.
    progressbar : bool
        Show the sampler's progress.
    predictive : bool
        Also draw the prior and posterior predictive and compute the pointwise log-prior
        (turn off inside large simulation studies); the log-likelihood is computed on
        demand (:func:`log_likelihood_chunks`, :func:`with_log_likelihood`).
    active_conditions : sequence of str, optional
        Fit the sub-model in which only these of the spec's conditions enter the linear
        predictor (an empty sequence: group effects only). It is the spec's graph with the
        others masked (:meth:`ModelDesign.with_active_conditions`), so it reuses the
        spec's compilation. The left-out conditions' ``b`` is stored as 0 in the
        ``posterior`` and ``prior`` groups (their effect on eta); ``constant_data`` holds
        ``condition_active``. None: all conditions.
    cores : int, optional
        Chains sampled at once (default: as many as chains, at most the CPU count).
    predictive_draws : int or None, default 1000
        About how many posterior predictive (and prior predictive) draws to keep: every
        ``ceil(chains * draws / predictive_draws)``-th draw of each chain
        (:func:`models.predictive.thinning`), fewer where draws x respondents would pass
        200 million values (:func:`models.predictive.predictive_draws_for`: 200 draws at
        1,000,000 respondents). None: every draw. The root attrs record
        ``predictive_draws`` (kept) and ``predictive_thinning`` (the step).
    extension : models.extend.Budget or None
        When the diagnostic gates are missed narrowly, sample again, longer, within this
        budget (:mod:`models.extend`); the draws kept are the last run's. None: sample once
        as asked. The root attr ``sampling`` (JSON) records every run and why.
    design : ModelDesign, optional
        A design already made from ``spec`` and ``survey`` (default: :func:`make_design`);
        for instance an alliance-level outcome's observed-means design
        (:func:`models.macro.macro_design`), which validation studies compare.
    backend : {"numba", "jax"}
        How nutpie compiles the model: numba (default, CPU) or nutpie's JAX backend (for
        large surveys on a GPU; needs jax, the optional extra ``jax``). Same posterior
        within Monte Carlo error (tests/models/test_jax.py); the root attr ``backend``.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``
        and, with ``predictive``, ``prior``, ``prior_predictive``,
        ``posterior_predictive``, ``log_prior`` (no ``log_likelihood``: see
        :func:`with_log_likelihood`). The outcome ``y`` is in
        the codebook's codes (ordinal categories 1..K). ``b`` carries the coordinates
        ``condition_level`` and ``condition_side``; the root's attrs hold the spec, the
        seed and the data's hash.
    """
    options = FitOptions(chains=chains, draws=draws, tune=tune, seed=seed, sampler=sampler,
                         target_accept=target_accept, backend=backend)
    problems = options.problems()
    if problems:
        raise SpecError("fit", problems)
    if backend == "jax":
        require_jax()
    design = make_design(spec, survey) if design is None else design
    if active_conditions is not None:
        design = design.with_active_conditions(active_conditions)
    model = model_from_design(design)
    cores = min(chains, os.cpu_count() or 1) if cores is None else max(1, int(cores))
    sample_seed, prior_seed, posterior_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(3))

    compiled = compiled_model(model, design, backend) if sampler == "nutpie" else None

    def sample(attempt: Attempt) -> xr.DataTree:  # one run of the sampler (models.extend may ask again)
        if compiled is not None:
            import nutpie

            trace = nutpie.sample(compiled, draws=attempt.draws, tune=attempt.tune, chains=chains,
                                  cores=cores, seed=attempt.seed,
                                  progress_bar=progressbar, save_warmup=False,
                                  target_accept=attempt.target_accept)
        else:
            trace = pm.sample(draws=attempt.draws, tune=attempt.tune, chains=chains, random_seed=attempt.seed,
                              nuts_sampler="pymc", progressbar=progressbar, model=model,
                              target_accept=attempt.target_accept, compute_convergence_checks=False,
                              cores=cores, initvals=initial_values(design) or None)
        # signed group SDs back to (|sd|, sign(sd) z), in the trace's own arrays, and the
        # group effects u = sd * z the trace does not store: the same draws (models.scales)
        sampled = xr.DataTree.from_dict({
            "posterior": sampler_draws(trace["posterior"].to_dataset(), in_place=True),
            "sample_stats": _clean_stats(trace["sample_stats"].to_dataset())})
        size = trace.nbytes
        del trace  # its tuning draws and statistics are not kept (models.garbage)
        free_dropped(size)
        return sampled

    sampled, sampling = sample_until_trusted(sample, Attempt(draws, tune, target_accept, sample_seed),
                                             chains=chains, budget=extension, seed=seed)
    draws = sampling["attempts"][-1]["draws"]  # the kept run's (more where it was extended)
    posterior = sampled["posterior"].to_dataset()
    groups = {"posterior": _with_labels(posterior, design),
              "sample_stats": sampled["sample_stats"].to_dataset()}
    # the draws the predictive groups keep: PREDICTIVE_DRAWS, fewer for very large surveys
    predictive_draws = predictive_draws_for(design.n, predictive_draws)
    step = thinning(chains, draws, predictive_draws)
    if predictive:
        prior_draws = draws if predictive_draws is None else min(draws, predictive_draws)
        # a continuous outcome's draws in float32 as they come (as _single_precision keeps them)
        prior = prior_predictive(model, draws=prior_draws, seed=prior_seed,
                                 dtype=None if design.family.discrete else np.float32)
        groups["prior"] = _with_labels(prior["prior"].to_dataset(), design)
        groups["prior_predictive"] = _outcome_codes(prior["prior_predictive"].to_dataset(), design)
        kept = posterior.isel(draw=slice(None, None, step))
        # a continuous outcome's draws in float32 as they come (as _single_precision keeps them)
        groups["posterior_predictive"] = _outcome_codes(
            posterior_predictive(model, kept, seed=posterior_seed,
                                 dtype=None if design.family.discrete else np.float32), design)
        for name in ("prior_predictive", "posterior_predictive"):
            groups[name] = _single_precision(groups[name])
        groups["log_prior"] = log_prior(model, posterior, per_draw=True)  # all power-scaling uses
    if design.condition_mask is not None:
        for name in ("posterior", "prior"):
            if name in groups and "b" in groups[name]:
                groups[name] = _zero_left_out(groups[name], design)
    groups["observed_data"] = _outcome_codes(xr.Dataset({"y": (("individual",), design.y)}), design)
    groups["constant_data"] = design_dataset(design)
    result = xr.DataTree.from_dict(groups)
    result.attrs.update(run_attrs(design, survey, seed=seed, sampler=sampler), backend=backend)
    with_record(result, sampling)
    if predictive:
        result.attrs.update(predictive_draws=int(result["posterior_predictive"].sizes["chain"]
                                                 * result["posterior_predictive"].sizes["draw"]),
                            predictive_thinning=step,
                            **{LOG_LIKELIHOOD_ATTR: LOG_LIKELIHOOD_ON_DEMAND})
    return result


# -- storage ------------------------------------------------------------------------------
def for_storage(tree: xr.DataTree) -> xr.DataTree:
    """The part of a fit a run directory saves: all but a recomputable log-likelihood
    (one added by :func:`with_log_likelihood`).
    """
    if tree.attrs.get(LOG_LIKELIHOOD_ATTR) == LOG_LIKELIHOOD_ON_DEMAND and "log_likelihood" in tree.children:
        return tree.drop_nodes("log_likelihood")
    return tree


def netcdf_encoding(tree: xr.DataTree, *, complevel: int = 4) -> dict:
    """Per-variable NetCDF encoding of ``tree``: zlib with byte shuffling for numeric arrays,
    except float64 draws.

    For :meth:`xarray.DataTree.to_netcdf` (keys are the groups' paths). Shuffling the
    bytes first lets zlib compress the (nearly constant) high bytes of floats and small
    integers. Float64 draws (a ``draw`` dimension: posterior, prior, log-prior, sampler
    statistics) are written uncompressed: their random low bytes left zlib about 10%
    (2,002 respondents, 4 x 2000 draws: ``posterior.nc`` 83.3 MB compressed, 92.3 MB
    without) for 1.1 s of CPU per write, two thirds of `fit`'s saving time
    (tests/benchmarks/README.md, "Fixed costs of the fit command"). Predictive draws
    (small integers, or float32) stay compressed.
    """
    encoding = {}
    for node in tree.subtree:
        variables = {name: {"zlib": True, "complevel": complevel, "shuffle": True}
                     for name, var in node.dataset.variables.items()
                     if var.ndim > 0 and var.dtype.kind in "biuf"
                     and not (var.dtype == np.float64 and "draw" in var.dims)}
        if variables:
            encoding[node.path] = variables
    return encoding


def with_log_likelihood(tree: xr.DataTree, spec: ModelSpec, survey) -> xr.DataTree:
    """``tree`` with its ``log_likelihood`` group, recomputed where the run did not save it.

    The model is rebuilt from ``spec`` and ``survey`` (a loaded run's) and the pointwise
    log-likelihood computed at every posterior draw, chunk by chunk, in float32, as
    :func:`fit` does. A tree that has the group (or was fitted without the predictive
    step) is returned as it is.

    Raises
    ------
    ValueError
        When ``survey`` is not the data the tree was fitted to.
    """
    if "log_likelihood" in tree.children or tree.attrs.get(LOG_LIKELIHOOD_ATTR) != LOG_LIKELIHOOD_ON_DEMAND:
        return tree
    model, design = _model_of(tree, spec, survey)
    posterior = tree["posterior"].to_dataset()
    values = _relabel(log_likelihood(model, posterior, dtype=LOG_LIKELIHOOD_DTYPE), design)
    out = tree.copy()
    out["log_likelihood"] = xr.DataTree(values)
    return out


def log_likelihood_chunks(tree: xr.DataTree, spec: ModelSpec, survey, *, values: int | None = None,
                          cdf_draws=None):
    """The pointwise log-likelihood of a fit at every draw, one chunk of individuals at a time.

    Yields ``(start, stop, dataset)`` (:func:`models.predictive.log_likelihood_by_individuals`:
    float64, dims chain, draw, individual; about ``values`` numbers per chunk, default
    2^22): what PSIS-LOO, LOO-PIT and the likelihood's power-scaling need, without ever
    holding draws x individuals. The model is rebuilt from ``spec`` and ``survey`` (with the
    fit's active conditions, for a sub-model) as in :func:`with_log_likelihood`.
    ``cdf_draws``: also the log CDF at the observed values at those draws (positions along
    ``draw``; see :func:`models.predictive.log_likelihood_by_individuals`).

    Raises
    ------
    ValueError
        When ``survey`` is not the data the tree was fitted to.
    """
    model, design = _model_of(tree, spec, survey)
    if design.macro is not None:
        # one value per alliance, and every latent alliance mean comes from all alliances'
        # members: one chunk (draws x alliances is small)
        yield 0, design.n, log_likelihood(model, tree["posterior"].to_dataset())
        return
    options = {} if values is None else {"values": values}
    yield from log_likelihood_by_individuals(model, tree["posterior"].to_dataset(), cdf_draws=cdf_draws,
                                             **options)


def _model_of(tree: xr.DataTree, spec: ModelSpec, survey):
    """The PyMC model (and design) a fit came from: its spec, its data, its active conditions."""
    fitted = tree.attrs.get("data_fingerprint")
    if fitted and hasattr(survey, "fingerprint") and survey.fingerprint() != fitted:
        raise ValueError("cannot recompute the log-likelihood: the survey is not the data the "
                         f"run was fitted to (fingerprint {survey.fingerprint()}, run {fitted})")
    design = make_design(spec, survey)
    active = json.loads(tree.attrs.get("active_conditions", "null"))
    if active is not None and list(active) != list(design.active_conditions):
        design = design.with_active_conditions(active)
    return model_from_design(design), design


def design_dataset(design: ModelDesign) -> xr.Dataset:
    """Return the design as a Dataset (the fit's ``constant_data``).

    It holds the standardised conditions per level (NaN where missing), the group
    positions, the standardisation and the level and side of each condition.
    """
    data = {}
    for level, matrix in design.X.items():
        values = matrix.copy()
        rows, cols, _ = design.missing[level]
        values[rows, cols] = np.nan
        row_dim = "individual" if design.macro is not None else level  # macro: rows are the units
        data[f"X_{level}"] = ((row_dim, f"{level}_condition"), values)
    for level, idx in design.index.items():
        data[f"idx_{level}"] = (("individual",), idx)
    conditions = list(design.conditions)
    data["condition_center"] = (("condition",), [design.center[c] for c in conditions])
    data["condition_scale"] = (("condition",), [design.scale[c] for c in conditions])
    if design.trials is not None:
        data["trials"] = (("individual",), design.trials)
    data["condition_active"] = (("condition",), design.mask.astype(bool))
    if design.macro is not None:  # its X rows are alliance means, not the level's units
        data["condition_raw_sd"] = (("condition",), [design.raw_sd[c] for c in conditions])
    if design.raters is not None:  # which rater coded which condition; rater overlap
        data["rater_coded"] = (("rater_condition", "rater"), design.raters.coded_mask)
        data["rater_overlap_components"] = (
            ("rater_condition",),
            design.raters.overlap["components"].reindex(list(design.raters.conditions)).to_numpy(np.int64))
    coords = {dim: labels for dim, labels in design.coords.items()
              if not dim.endswith("_missing") and dim not in ("cutpoint", "slope_condition")}
    ds = xr.Dataset(data, coords=coords)
    return ds.assign_coords(condition_level=("condition", [design.condition_level[c] for c in conditions]),
                            condition_side=("condition", [design.condition_side[c] for c in conditions]))


def run_attrs(design: ModelDesign, survey, *, seed: int, sampler: str) -> dict:
    """Attributes stored on the result's root: spec, family, seed, data hash, versions."""
    return {
        "schema_version": SCHEMA_VERSION,
        "spec": json.dumps(design.spec.to_dict(), sort_keys=True),
        "outcome": design.spec.outcome,
        "family": design.family.name,
        "n_categories": design.n_categories or 0,
        "outcome_location": design.outcome_location,
        "outcome_scale": design.outcome_scale,
        "n_missing_outcome": design.n_missing_outcome,
        "seed": seed,
        "sampler": sampler,
        "data_source": str(getattr(survey, "source", "")),
        "data_sha256": str(getattr(survey, "sha256", "")),
        "data_fingerprint": survey.fingerprint() if hasattr(survey, "fingerprint") else "",
        "active_conditions": json.dumps(list(design.active_conditions)),
        # "raters" (the rater model), the rule that collapsed a coding sheet, or "observed"
        "measurement": "raters" if design.raters is not None else getattr(survey, "measurement", "observed"),
        # an alliance-level outcome's member-level conditions: latent or observed alliance means
        **({"aggregation": design.macro.aggregation} if design.macro is not None else {}),
        "versions": json.dumps(package_versions(), sort_keys=True),
    }


def package_versions() -> dict[str, str]:
    """Versions of the packages a run depends on."""
    out = {}
    for name in ("alliance-learning", "pymc", "pytensor", "pymc-extras", "nutpie", "arviz",
                 "arviz-base", "arviz-stats", "numpy", "pandas", "xarray"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# -- tidying the groups ------------------------------------------------------------------
def _relabel(ds: xr.Dataset, design: ModelDesign) -> xr.Dataset:
    """Put the design's labels on every dim (a reused compiled model keeps its old ones)."""
    coords = {dim: labels for dim, labels in design.coords.items() if dim in ds.dims}
    return ds.assign_coords(coords)


def _with_labels(ds: xr.Dataset, design: ModelDesign) -> xr.Dataset:
    ds = _relabel(ds, design)
    if "condition" in ds.dims:
        conditions = list(ds["condition"].values)
        ds = ds.assign_coords(
            condition_level=("condition", [design.condition_level[c] for c in conditions]),
            condition_side=("condition", [design.condition_side[c] for c in conditions]))
    return ds


def _zero_left_out(ds: xr.Dataset, design: ModelDesign) -> xr.Dataset:
    """``b`` of the conditions a sub-model leaves out set to 0 (their effect on eta)."""
    active = xr.DataArray(design.mask > 0, dims="condition", coords={"condition": list(design.conditions)})
    b = ds["b"].where(active, 0.0)
    b.attrs["left_out"] = ", ".join(c for c in design.conditions if c not in design.active_conditions)
    return ds.assign(b=b)


def _outcome_codes(ds: xr.Dataset, design: ModelDesign) -> xr.Dataset:
    """Outcomes back in the codebook's codes (the family's ``y_offset``: PyMC counts ordinal
    categories from 0), as small integers for a discrete family.
    """
    ds = _relabel(ds, design)
    offset = design.family.y_offset
    if offset:
        ds["y"] = ds["y"] + offset
        if design.n_categories:
            ds["y"].attrs["coding"] = f"codebook categories {offset}..{design.n_categories + offset - 1}"
    if design.family.discrete:
        # counts need few bits: int8/int16 keep predictive draws of large surveys small
        # (signed, so that differences such as y - 1 cannot wrap around)
        largest = int(design.trials.max()) if design.trials is not None else (design.n_categories or 1)
        dtype = next(t for t in (np.int8, np.int16, np.int32, np.int64) if largest <= np.iinfo(t).max)
        ds["y"] = ds["y"].astype(dtype, keep_attrs=True)
    ds["y"].attrs["family"] = design.family.name  # reports draw the family's check
    return ds


def _single_precision(ds: xr.Dataset) -> xr.Dataset:
    """Continuous predictive draws in float32: half the size, 7 significant digits are
    far finer than the Monte Carlo error of any check computed from them.
    """
    return ds.assign({name: var.astype(np.float32, keep_attrs=True)
                      for name, var in ds.data_vars.items() if var.dtype == np.float64})


def _clean_stats(ds: xr.Dataset) -> xr.Dataset:
    """Sampler statistics that NetCDF can store (drops free-text and object columns)."""
    keep = [name for name, var in ds.data_vars.items() if var.dtype != object]
    ds = ds[keep]
    if "diverging" not in ds and "divergences" in ds:
        ds = ds.rename(divergences="diverging")
    return ds
