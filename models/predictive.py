"""Predictive draws and pointwise log densities of a fitted model, many draws per call.

PyMC's ``sample_posterior_predictive``, ``compute_log_likelihood`` and
``compute_log_prior`` call a function once per draw, compiled with PyTensor's C backend.
Here each graph is rewritten once over a leading dimension of draws (PyTensor's
``vectorize_graph``) and evaluated on chunks of draws with PyTensor's Python linker
(:data:`NUMPY_MODE`): numpy does the work and nothing is compiled. The prior predictive
takes the prior draws from PyMC's ``sample_prior_predictive``, under the same mode, and
draws the outcome given them as the posterior predictive does. On the speed benchmark's
model (19,037 respondents, 4 x 1000 draws; tests/benchmarks/README.md) the whole
predictive step took 11.3 s on a first run (empty compile caches) and 8.4 s on a later
one, against 27.7 s and 8.9 s with PyMC's functions.

The results are PyMC's: the log densities equal ``compute_log_likelihood`` and
``compute_log_prior`` to rounding, and the posterior predictive draws equal
``sample_posterior_predictive``'s under the same mode and seed (one random stream,
consumed draw after draw in the same order), as tests/models/test_predictive.py checks
for every family.
"""

from __future__ import annotations

import weakref

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pymc.model.transform.conditioning import remove_value_transforms
from pymc.pytensorf import reseed_rngs
from pytensor.compile.builders import OpFromGraph
from pytensor.compile.mode import Mode
from pytensor.compile.rewriting import inline_ofg_node
from pytensor.graph.replace import vectorize_graph
from pytensor.tensor.type_other import NoneTypeT

from data.constants import SAMPLE_DIMS

from .scales import fold_signed_scales

# Python linker (no compilation) without elementwise fusion: a fused Composite op has no
# numpy implementation and would run element by element in Python.
NUMPY_MODE = Mode(linker="py", optimizer="fast_run").excluding("fusion")
# values per output array and call: bounds the memory of a call (32 MB of float64)
_CHUNK_VALUES = 2**22
# draws per chunk of over_draw_chunks where one draw nears _CHUNK_VALUES, within this many values
_MIN_CHUNK_DRAWS = 8
_MAX_CHUNK_VALUES = 2**25
# values per chunk of individuals of the log-likelihood at every draw (32 MB of float64;
# PSIS holds a few arrays of that size while it smooths the chunk)
_INDIVIDUAL_CHUNK_VALUES = 2**22
# posterior predictive draws a fit keeps for the checks (see :func:`thinning`) ...
PREDICTIVE_DRAWS = 1000
# ... at most this many values (draws x respondents) per predictive group, but never fewer
# than PREDICTIVE_DRAWS_FLOOR draws (see :func:`predictive_draws_for`)
PREDICTIVE_VALUES = 200_000_000
PREDICTIVE_DRAWS_FLOOR = 200


def predictive_draws_for(individuals: int, kept: int | None = PREDICTIVE_DRAWS, *,
                         values: int | None = None, floor: int | None = None) -> int | None:
    """Predictive draws a fit of ``individuals`` respondents keeps: ``kept`` (1,000), fewer
    where draws x respondents would pass ``values`` (200 million), never under ``floor`` (200).

    ``min(kept, max(floor, values // individuals))``: every survey up to 200,000 respondents
    keeps 1,000 draws (the 190,000 of the large benchmark too); 500,000 keep 400 and
    1,000,000 keep 200, so each predictive group stays near 0.8 GB of float32 in memory and
    on disk instead of 4 GB. ``kept=None`` (every draw) is returned as it is.

    Why fewer draws stay sound at large N: a posterior predictive p-value is a proportion
    over the draws, its Monte Carlo SE ``sqrt(p (1 - p) / S)`` depends on the draws S, not on
    N (0.011 at the 0.025 flag edge with 200 draws, 0.005 with 1,000), while a real misfit's
    p-value moves towards 0 or 1 as N grows (the replicated statistics concentrate as
    1/sqrt(N)). Each LOO-PIT value is a weighted share of S draws; its uniformity test pools
    the N values, whose Monte Carlo errors are independent across respondents and average
    out. tests/models/test_predictive.py checks the rule, tests/analysis/test_storage.py that
    the checks agree within Monte Carlo error at fewer draws.
    """
    if kept is None:
        return None
    values = PREDICTIVE_VALUES if values is None else values
    floor = PREDICTIVE_DRAWS_FLOOR if floor is None else floor
    return min(kept, max(floor, values // max(1, individuals)))


def thinning(chains: int, draws: int, kept: int | None = PREDICTIVE_DRAWS) -> int:
    """Step between the kept draws of each chain, so that about ``kept`` draws remain.

    Every ``step``-th draw of every chain is kept (draws 0, step, 2 step, ...), with
    ``step = ceil(chains * draws / kept)``: evenly spaced over the chains and the same for
    every seed. 4 x 2000 draws keep 4 x 250 = 1000; 4 x 1500 keep 4 x 250 (step 6); fits
    with ``kept`` draws or fewer (or ``kept=None``) keep every draw (step 1).
    """
    if kept is None or chains * draws <= kept:
        return 1
    return -(-chains * draws // kept)


def over_draw_chunks(tree: xr.DataTree, compute, *, values_per_draw: int, group: str = "posterior"):
    """``compute(tree)`` evaluated on consecutive chunks of draws, joined along ``draw``.

    For a per-draw computation whose intermediate arrays hold ``values_per_draw`` numbers
    per chain and draw (e.g. individuals x terms): each call sees ``tree`` with ``group``
    cut to a chunk of draws, sized so that an array of the chunk holds about 2^22 numbers
    (32 MB of float64), not chains x draws x individuals x terms at once. Where one draw
    alone nears that (large surveys) a chunk still takes up to 8 draws while its arrays
    stay under 2^25 numbers (256 MB): each chunk costs ~0.1-0.2 s of fixed xarray work,
    which at one draw per chunk took more time than the arithmetic (tests/benchmarks/README.md,
    memory section). ``compute`` must treat draws independently; its results (DataArray or
    Dataset) are joined along ``draw`` (variables without it are taken from the first chunk).
    """
    draws = tree[group].sizes["draw"]
    step = chunk_draws(tree[group].sizes["chain"] * values_per_draw)
    if step >= draws:
        return compute(tree)
    data = tree[group].to_dataset()
    parts = []
    for start in range(0, draws, step):
        chunk = tree.copy()
        chunk[group] = xr.DataTree(data.isel(draw=slice(start, start + step)))
        parts.append(compute(chunk))
    return _join_draws(parts)


def chunk_draws(values_per_draw: int) -> int:
    """Draws per chunk of :func:`over_draw_chunks`, for arrays of ``values_per_draw`` per draw."""
    per_draw = max(1, values_per_draw)
    return max(1, _CHUNK_VALUES // per_draw, min(_MIN_CHUNK_DRAWS, _MAX_CHUNK_VALUES // per_draw))


def _join_draws(parts):
    """Concatenate the chunks' results along ``draw``, one ``np.concatenate`` per variable
    (``xr.concat`` aligns every part: seconds for the thousands of chunks of a large fit).
    """
    if isinstance(parts[0], xr.DataArray):
        name = parts[0].name
        joined = _join_draws([part.to_dataset(name="__joined__") for part in parts])
        return joined["__joined__"].rename(name)
    first = parts[0]
    variables = {}
    for name, variable in first.variables.items():
        if "draw" in variable.dims:
            axis = variable.dims.index("draw")
            data = np.concatenate([part.variables[name].transpose(*variable.dims).values
                                   for part in parts], axis=axis)
            variable = xr.Variable(variable.dims, data, variable.attrs)
        variables[name] = variable
    coords = {name: variables[name] for name in first.coords}
    return xr.Dataset({name: variables[name] for name in first.data_vars}, coords=coords,
                      attrs=first.attrs)


def prior_predictive(model: pm.Model, *, draws: int, seed: int, dtype=None) -> xr.DataTree:
    """Prior draws and the observed variables drawn given each (groups ``prior`` and
    ``prior_predictive``).

    The free and deterministic variables come from PyMC's ``sample_prior_predictive`` (not
    compiled); the observed ones are then drawn given each prior draw by
    :func:`posterior_predictive`, chunk by chunk and in ``dtype`` where given (e.g.
    ``"float32"``): PyMC would draw every draw of the outcome at once in float64 (8 GB for
    1,000 draws of a million respondents). Same distribution as PyMC's prior predictive,
    other random numbers; the result does not depend on the chunking.
    """
    free = [variable.name for variable in (*model.free_RVs, *model.deterministics)]
    observed = tuple(variable.name for variable in model.observed_RVs)
    prior_seed, outcome_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    prior = pm.sample_prior_predictive(draws=draws, random_seed=prior_seed, model=model,
                                       var_names=free, compile_kwargs={"mode": NUMPY_MODE})
    prior = fold_signed_scales(prior["prior"].to_dataset())  # signed group SDs (models.scales)
    outcome = posterior_predictive(model, prior, seed=outcome_seed, var_names=observed, dtype=dtype)
    return xr.DataTree.from_dict({"prior": prior, "prior_predictive": outcome})


def posterior_predictive(model: pm.Model, posterior: xr.Dataset, *, seed: int,
                         var_names=("y",), dtype=None) -> xr.Dataset:
    """Draws of the observed variables given each posterior draw of the free variables.

    ``dtype`` (e.g. ``"float32"`` for a continuous outcome) stores the draws in that type,
    chunk by chunk: the float64 array of every draw is never held (8 GB for 1,000 draws
    of a million respondents).
    """
    inputs, function, rngs = _outcome_function(model, tuple(var_names))
    reseed_rngs(rngs, seed)  # as compiling with random_seed=seed does: the same draws
    return _dataset(model, var_names, _evaluate(function, posterior, inputs, dtype=dtype), posterior)


# a fit draws the outcome twice with the same graph (given the prior draws, then the
# posterior's): compiled once per model and reseeded (~0.15 s of CPU at 2,000 respondents)
_OUTCOME_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _outcome_function(model: pm.Model, var_names: tuple):
    """The compiled function drawing ``var_names`` given a chunk of draws of the free
    variables, its inputs and its random generators (to reseed before each use).
    """
    cached = _OUTCOME_FUNCTIONS.setdefault(model, {})
    if var_names not in cached:
        inputs, batched = _batched(model.free_RVs)
        outputs = [_drawn_per_draw(model[name], dict(zip(inputs, batched))) for name in var_names]
        function, updates = _compile(batched, outputs, random_seed=False, return_updates=True)
        cached[var_names] = (inputs, function, list(updates))
    return cached[var_names]


def log_likelihood(model: pm.Model, posterior: xr.Dataset, *, dtype=None) -> xr.Dataset:
    """Pointwise log-likelihood of the observed variables at each posterior draw.

    ``dtype`` (e.g. ``"float32"``) stores the result in that type, chunk by chunk: the
    full array is never held in float64.
    """
    return _log_density(model, posterior, "observed_RVs", dtype=dtype)


def log_likelihood_by_individuals(model: pm.Model, posterior: xr.Dataset, *,
                                  values: int = _INDIVIDUAL_CHUNK_VALUES, dim: str = "individual",
                                  cdf_draws=None):
    """Pointwise log-likelihood at every posterior draw, one chunk of individuals at a time.

    Yields ``(start, stop, dataset)`` for consecutive chunks of the ``dim`` axis, each
    dataset (float64, dims chain, draw, ``dim``) holding about ``values`` numbers (2^22,
    32 MB): draws x all individuals is never held, so PSIS-LOO of a million respondents
    needs the memory of one chunk. The graph is built and compiled once; each chunk sets
    the per-individual data containers (outcome, trials, group positions,
    individual-level conditions and the positions of their missing codes) to its rows,
    and takes the posterior's latent individual-level codes of those rows. The values equal
    :func:`log_likelihood`'s (tests/models/test_predictive.py).

    ``cdf_draws`` (positions along ``draw``, e.g. the draws the posterior predictive kept):
    each dataset also holds ``<name>_log_cdf``, the log CDF of each observed variable at its
    observed value at those draws of every chain (dims chain, ``cdf_draw``, ``dim``), which
    a continuous outcome's LOO-PIT averages (:class:`analysis.ppc.LooPitByChunks`). A
    variable without a log CDF in PyMC gets none.
    """
    untransformed = remove_value_transforms(model)
    variables = untransformed.observed_RVs
    inputs, batched = _batched(untransformed.value_vars)
    outputs = vectorize_graph(untransformed.logp(vars=variables, sum=False),
                              replace=dict(zip(inputs, batched)))
    names = [variable.name for variable in variables]
    function = _compile(batched, outputs)
    cdf_function, cdf_names = None, []
    if cdf_draws is not None:
        cdf_draws = np.asarray(cdf_draws, dtype=int)
        graphs = []
        for variable in variables:
            try:
                graphs.append(pm.logcdf(variable, untransformed.rvs_to_values[variable]))
                cdf_names.append(f"{variable.name}_log_cdf")
            except NotImplementedError:  # e.g. a CustomDist's outcome
                continue
        if graphs:  # in terms of the value variables, as logp is
            graphs = untransformed.replace_rvs_by_values(graphs)
            cdf_function = _compile(batched, vectorize_graph(graphs, replace=dict(zip(inputs, batched))))
    rows = _ChunkOfRows(untransformed, inputs, dim)
    values_of = _input_values(posterior, inputs)
    chains, draws = (posterior.sizes[d] for d in SAMPLE_DIMS)
    n = rows.n
    step = max(1, values // max(1, chains * draws))
    for start in range(0, n, step):
        stop = min(n, start + step)
        chunk_values = rows.select(start, stop, values_of)
        arrays = _evaluate_values(function, chunk_values, chains, draws)
        dataset = _dataset(model, names, arrays, posterior, rows={dim: slice(start, stop)})
        if cdf_function is not None:
            at = [value[:, cdf_draws] for value in chunk_values]
            cdfs = _evaluate_values(cdf_function, at, chains, len(cdf_draws))
            labels = posterior["draw"].values[cdf_draws]
            dataset = dataset.assign({
                name: (("chain", "cdf_draw", *dataset[name[:-len("_log_cdf")]].dims[2:]), array)
                for name, array in zip(cdf_names, cdfs)}).assign_coords(cdf_draw=labels)
        yield start, stop, dataset


class _ChunkOfRows:
    """Sets a model's data to one chunk of individuals and the groups they belong to.

    Works on the copies of the data containers in an untransformed model (changed here
    only). At each group level (one with an ``idx_<level>`` container) a chunk keeps only
    its individuals' groups: the level's conditions (``X_<level>``), the posterior's draws
    along the level (``z_<level>``, ``slope``, ...; by their dims), its length (the model's
    dim length) and its missing codes (``missing_row/col_<level>``, the latent
    ``x_missing_<level>``) are cut to those groups, and ``idx_<level>`` is renumbered (and
    ``idx_table``, the likelihood's positions of every level in one table, rebuilt from them).
    Computing every group's contribution for every chunk made a pass cost individuals x
    groups (29,939 simulated respondents in 6,277 groups: 23 s a pass, 4.6 s with this; at
    190,032 the run's pass had not finished after 24 minutes; tests/benchmarks/README.md).
    A level with any other container along its dim keeps all its groups.
    """

    def __init__(self, model: pm.Model, inputs, dim: str):
        self.dims = dims = model.named_vars_to_dims
        self.containers = {name: var for name, var in model.named_vars.items()
                           if hasattr(var, "set_value") and dims.get(name)}
        self.whole = {name: var.get_value() for name, var in self.containers.items()}
        self.dim = dim
        self.n = next(len(self.whole[name]) for name in self.containers if dims[name][0] == dim)
        self.levels = [name[len("idx_"):] for name in self.containers
                       if name.startswith("idx_") and tuple(dims[name]) == (dim,)]
        self.levels = [level for level in self.levels
                       if all(level not in dims[name] or name == f"X_{level}" for name in self.containers)]
        # each level's missing cells, ordered by row (a chunk finds its rows' cells by bisection)
        self.cells = {}
        for level in (dim, *self.levels):
            if f"missing_row_{level}" in self.whole:
                order = np.argsort(self.whole[f"missing_row_{level}"], kind="stable")
                self.cells[level] = (order, self.whole[f"missing_row_{level}"][order])
        names = [variable.name for variable in inputs]
        # the posterior's variables along a level: input position -> (level, its axis in the draws)
        self.axes = {position: (level, 2 + dims[name].index(level))
                     for position, name in enumerate(names) for level in self.levels
                     if level in (dims.get(name) or ())}
        self.latent = {level: names.index(f"x_missing_{level}") for level in self.cells
                       if f"x_missing_{level}" in names}
        # idx_table (models.build): the table levels' positions, one level after the other
        self.table_levels = list(model.coords.get("table_level", ())) if "idx_table" in self.whole else []
        self.group_counts = {level: len(model.coords[level]) for level in self.table_levels}
        # the levels' lengths (the graph checks each level's arrays against its own)
        self.lengths = {level: model.dim_lengths[level] for level in self.levels
                        if hasattr(model.dim_lengths.get(level), "set_value")}

    def _table_positions(self, start: int, stop: int, keep: dict) -> np.ndarray:
        """idx_table of individuals ``start:stop``, in the table of their levels' kept groups."""
        columns, first = [], 0
        for level in self.table_levels:
            idx = self.whole[f"idx_{level}"][start:stop]
            if level in keep:
                columns.append(np.searchsorted(keep[level], idx) + first)
                first += len(keep[level])
            else:  # a level that keeps all its groups
                columns.append(idx + first)
                first += self.group_counts[level]
        return np.stack(columns, axis=1).astype(self.whole["idx_table"].dtype)

    def select(self, start: int, stop: int, values_of: list[np.ndarray]) -> list[np.ndarray]:
        """Set the containers to individuals ``start:stop``; return the inputs' draws for them."""
        keep = {self.dim: np.arange(start, stop)}
        for level in self.levels:
            keep[level] = np.unique(self.whole[f"idx_{level}"][start:stop])
            if level in self.lengths:
                length = self.lengths[level]
                length.set_value(np.asarray(len(keep[level]), dtype=length.get_value().dtype))
        for name, shared in self.containers.items():
            head = self.dims[name][0]
            if name == "idx_table":
                shared.set_value(self._table_positions(start, stop, keep))
            elif name.startswith("idx_") and name[len("idx_"):] in keep:
                position = np.searchsorted(keep[name[len("idx_"):]], self.whole[name][start:stop])
                shared.set_value(position.astype(self.whole[name].dtype))
            elif head in keep:
                shared.set_value(self.whole[name][keep[head]])
        chunk_values = list(values_of)
        for position, (level, axis) in self.axes.items():
            chunk_values[position] = np.take(values_of[position], keep[level], axis=axis)
        for level, (order, sorted_rows) in self.cells.items():
            inside = order[_ranges(np.searchsorted(sorted_rows, keep[level], "left"),
                                   np.searchsorted(sorted_rows, keep[level], "right"))]
            rows = self.whole[f"missing_row_{level}"][inside]
            self.containers[f"missing_row_{level}"].set_value(
                np.searchsorted(keep[level], rows).astype(rows.dtype))
            self.containers[f"missing_col_{level}"].set_value(self.whole[f"missing_col_{level}"][inside])
            if level in self.latent:
                position = self.latent[level]
                chunk_values[position] = values_of[position][..., inside]
        return chunk_values


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The positions ``lo[0]:hi[0]``, ``lo[1]:hi[1]``, ... in one array."""
    lengths = hi - lo
    return np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())


def log_prior(model: pm.Model, posterior: xr.Dataset, *, per_draw: bool = False) -> xr.Dataset:
    """Pointwise log prior density of the free variables at each posterior draw.

    ``per_draw``: each variable's terms summed over its elements as they are computed (dims
    chain, draw): the pointwise terms of a group level are groups x draws, 1.3 GB of
    float64 for the 20,833 alliances of a million respondents at 8,000 draws.
    """
    return _log_density(model, posterior, "free_RVs", per_draw=per_draw)


def _log_density(model: pm.Model, posterior: xr.Dataset, which: str, *, dtype=None,
                 per_draw: bool = False) -> xr.Dataset:
    # the posterior holds the variables' own values, so the densities are taken without
    # the sampler's transforms (as PyMC's compute_log_likelihood does)
    untransformed = remove_value_transforms(model)
    variables = getattr(untransformed, which)
    inputs, batched = _batched(untransformed.value_vars)
    outputs = vectorize_graph(untransformed.logp(vars=variables, sum=False),
                              replace=dict(zip(inputs, batched)))
    if per_draw:  # the leading dim is the draws
        outputs = [out.sum(axis=tuple(range(1, out.ndim))) if out.ndim > 1 else out for out in outputs]
    names = [variable.name for variable in variables]
    arrays = _evaluate(_compile(batched, outputs), posterior, inputs, dtype=dtype)
    if per_draw:
        return xr.Dataset({name: (SAMPLE_DIMS, array) for name, array in zip(names, arrays)},
                          coords={dim: posterior[dim].values for dim in SAMPLE_DIMS})
    return _dataset(model, names, arrays, posterior)


def _batched(inputs):
    """``inputs`` and a stand-in for each with a leading dimension of draws."""
    return inputs, [pt.tensor(name=variable.name, shape=(None, *variable.type.shape),
                              dtype=variable.type.dtype) for variable in inputs]


def _drawn_per_draw(variable, replace: dict):
    """The graph drawing ``variable`` once per draw of the batched inputs in ``replace``."""
    node = variable.owner
    if isinstance(node.op, OpFromGraph):  # a CustomDist: its inlined inner graph vectorises
        return vectorize_graph(inline_ofg_node(node)[node.outputs.index(variable)], replace=replace)
    # a RandomVariable, rebuilt with the draws in front of its size (PyTensor's own
    # vectorisation looks for them in the first parameter only, which for a binomial
    # outcome is the unbatched number of trials)
    op = node.op
    size = op.size_param(node)
    if not isinstance(size.type, NoneTypeT):
        draws = next(iter(replace.values())).shape[:1]
        size = pt.concatenate([draws, size])
    parameters = vectorize_graph(op.dist_params(node), replace=replace)
    return op.make_node(op.rng_param(node), size, *parameters).outputs[1]


def _compile(inputs, outputs, **kwargs):
    return pm.pytensorf.compile(inputs, list(outputs), mode=NUMPY_MODE,
                                on_unused_input="ignore", **kwargs)


def _input_values(posterior: xr.Dataset, inputs) -> list[np.ndarray]:
    """The posterior's draws of each input, (chain, draw, ...), in the input's dtype (not
    copied where they are already: a million respondents' alliance offsets are 1.3 GB).
    """
    return [posterior[variable.name].transpose(*SAMPLE_DIMS, ...).values.astype(variable.type.dtype, copy=False)
            for variable in inputs]


def _evaluate(function, posterior: xr.Dataset, inputs, *, dtype=None) -> list[np.ndarray]:
    """Call ``function`` on every draw of ``posterior``, chain by chain, chunk by chunk.

    Returns one array (chain, draw, ...) per output, of ``dtype`` where given (each
    chunk is converted as it comes). The first call takes one draw and
    sizes the chunks; draws are taken in order, so random draws do not depend on the
    chunking.
    """
    chains, draws = (posterior.sizes[dim] for dim in SAMPLE_DIMS)
    return _evaluate_values(function, _input_values(posterior, inputs), chains, draws, dtype=dtype)


def _evaluate_values(function, values, chains: int, draws: int, *, dtype=None) -> list[np.ndarray]:
    """:func:`_evaluate` on the inputs' draws already taken out of the posterior."""
    results, step = None, 1
    for chain in range(chains):
        start = 0
        while start < draws:
            stop = min(draws, start + step)
            outputs = function(*[value[chain, start:stop] for value in values])
            if results is None:
                results = [np.empty((chains, draws, *out.shape[1:]), dtype or out.dtype)
                           for out in outputs]
                step = max(1, _CHUNK_VALUES // max([1, *(out[0].size for out in outputs)]))
            for result, out in zip(results, outputs):
                result[chain, start:stop] = out
            start = stop
    return results


def _dataset(model: pm.Model, names, arrays, posterior: xr.Dataset, rows=None) -> xr.Dataset:
    """Name the arrays' dims after the model's (``<name>_dim_<i>`` where it has none).

    ``rows``: dim to the slice of the model's labels the arrays hold (a chunk of individuals).
    """
    variables = {}
    for name, array in zip(names, arrays):
        dims = model.named_vars_to_dims.get(name) or tuple(
            f"{name}_dim_{i}" for i in range(array.ndim - len(SAMPLE_DIMS)))
        variables[name] = ((*SAMPLE_DIMS, *dims), array)
    dataset = xr.Dataset(variables, coords={dim: posterior[dim].values for dim in SAMPLE_DIMS})
    coords = {dim: list(labels)[(rows or {}).get(dim, slice(None))]
              for dim, labels in model.coords.items() if dim in dataset.dims and labels is not None}
    return dataset.assign_coords(coords)
