"""nutpie's compiled model, with its C entry points cached on disk across processes.

``nutpie.compile_pymc_model`` compiles the log-density and its gradient with PyTensor's
numba backend (cached on disk by PyTensor, under ``base_compiledir``), then wraps them in
two ``numba.cfunc`` entry points that the sampler calls. nutpie's wrappers cannot be
cached (they hold the data arrays as constants and name them by random keys), so every
process compiles them again: on a warm cache that was most of a `fit` command's compile
time (9 of 10 s of CPU on a 2,000-respondent survey; tests/benchmarks/speed.py).

:func:`compile_model` builds the same compiled model with wrappers written as source
code that reads the data through pointers and shapes in a flat ``int64`` array (the
``user_data`` nutpie passes to them), so that they depend only on the model's structure.
They are compiled with ``cache=True`` under a key made of PyTensor's key of the
log-density function, the layout of the data and the versions of nutpie, numba and this
module: a later process with the same model structure loads them from the cache. The
sampler, its settings and its draws are nutpie's own; :meth:`CachedCompiledModel.with_data`
refits on new data of the same structure as nutpie's ``with_data`` does.

This uses nutpie's internals (``_make_functions``, ``CompiledPyMCModel``) of nutpie 0.16;
where they are missing, or PyTensor has no cache key for the function, it falls back to
``nutpie.compile_pymc_model``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from importlib.metadata import version

import numpy as np

logger = logging.getLogger(__name__)

# bump when the generated wrappers change (part of the cache key)
_WRAPPER_VERSION = 1

_LOGP_SRC = '''
def logp_wrapper(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        meta = numba.carray(user_data_, ({meta_len},), np.int64)
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_dim},))
        logp = numba.carray(logp_, ())
{unpack}
        logp_val, grad = inner(x{args})
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:  # noqa: BLE001
        return 1
    return 0
'''

_EXPAND_SRC = '''
def expand_wrapper(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        meta = numba.carray(user_data_, ({meta_len},), np.int64)
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_expanded},))
{unpack}
        (values,) = inner(x{args})
        out[...] = values
    except Exception:  # noqa: BLE001
        return -2
    return 0
'''


def _layout(arrays: list[np.ndarray]) -> list[tuple[str, int]]:
    """(dtype name, ndim) of each data array: what the wrapper's source depends on."""
    return [(np.dtype(a.dtype).name, a.ndim) for a in arrays]


def _meta_offsets(layout) -> list[int]:
    """Where each array's entry (pointer, then its shape) starts in the metadata array."""
    offsets, at = [], 0
    for _, ndim in layout:
        offsets.append(at)
        at += 1 + ndim
    return offsets + [at]


def _unpack_lines(layout, which: list[int]) -> tuple[str, str]:
    """Source lines that view the arrays ``which`` (positions in ``layout``) through their
    pointer and shape, and the call's arguments.
    """
    offsets = _meta_offsets(layout)
    lines, args = [], []
    for i in which:
        dtype, ndim = layout[i]
        at = offsets[i]
        shape = "(" + "".join(f"meta[{at + 1 + d}], " for d in range(ndim)) + ")"
        lines.append(f"        s{i} = numba.carray(as_pointer(meta[{at}]), {shape}, np.{dtype})")
        args.append(f", s{i}")
    return "\n".join(lines), "".join(args)


def _metadata(arrays: list[np.ndarray]) -> np.ndarray:
    """The flat int64 array the wrappers read: each array's address, then its shape."""
    out = []
    for a in arrays:
        out.append(a.ctypes.data)
        out.extend(a.shape)
    return np.array(out or [0], dtype=np.int64)


def _cfunc(src: str, name: str, inner, signature, key: str):
    """Compile ``src``'s function ``name`` as a cached ``numba.cfunc`` calling ``inner``."""
    import numba
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import compile_numba_function_src

    function = compile_numba_function_src(
        src, name, global_env={"__name__": __name__, "numba": numba, "np": np, "inner": inner,
                               "as_pointer": address_as_void_pointer},
        cache_key=key)
    return numba.cfunc(signature, cache=True)(function)


def _cache_key(*parts) -> str:
    text = "|".join(str(p) for p in (_WRAPPER_VERSION, version("nutpie"), version("numba"), *parts))
    return hashlib.sha256(text.encode()).hexdigest()


def compile_model(model, *, initial_points=None, var_names=None):
    """Return nutpie's compiled model of ``model`` (numba backend), entry points cached.

    Same arguments and result as ``nutpie.compile_pymc_model(model,
    initial_points=initial_points, var_names=var_names)`` with its defaults
    (``var_names``: the variables the trace keeps besides the free ones; None: all).
    """
    import nutpie

    try:
        return _compile_cached(model, initial_points, var_names)
    except _NotCacheable as why:
        logger.info("nutpie's entry points are compiled uncached: %s", why)
        return nutpie.compile_pymc_model(model, initial_points=initial_points, var_names=var_names)


class _NotCacheable(Exception):
    pass


def _compile_cached(model, initial_points, var_names=None):
    import numba
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    try:
        from nutpie import compile_pymc as ncp
        from pymc.initial_point import make_initial_point_fn
    except ImportError as err:  # pragma: no cover - other nutpie versions
        raise _NotCacheable(str(err)) from None
    needed = ("_make_functions", "_prepare_dims_and_coords", "_wrap_with_lock", "CompiledPyMCModel")
    missing = [name for name in needed if not hasattr(ncp, name)]
    if missing:
        raise _NotCacheable(f"nutpie {version('nutpie')} lacks {', '.join(missing)}")

    # as nutpie.compile_pymc_model does with its defaults
    initial_point_fn = ncp._wrap_with_lock(make_initial_point_fn(
        model=model, overrides=initial_points, default_strategy="support_point",
        jitter_rvs=set(model.free_RVs), return_transformed=True))
    (n_dim, n_expanded, logp_fn_pt, expand_fn_pt, initial_point_fn, shape_info,
     reparameterized_names) = ncp._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=initial_point_fn, var_names=var_names)
    logp_fn, expand_fn = logp_fn_pt.vm.jit_fn, expand_fn_pt.vm.jit_fn
    keys = [CACHED_SRC_FUNCTIONS.get(getattr(f, "py_func", None)) for f in (logp_fn, expand_fn)]
    if None in keys:
        raise _NotCacheable("PyTensor gave no cache key for the log-density function")

    logp_shared, expand_shared = list(logp_fn_pt.get_shared()), list(expand_fn_pt.get_shared())
    values = {var: np.array(var.get_value(), order="C", copy=True)
              for var in dict.fromkeys(logp_shared + expand_shared)}
    for value in values.values():
        value.flags.writeable = False
    names = [var.name for var in values]
    if None in names or len(set(names)) < len(names):
        raise _NotCacheable("the model's data containers are not uniquely named")

    # one metadata array for both entry points (nutpie passes both the same pointer)
    order = list(values)
    layout = _layout([values[v] for v in order])
    meta_len = max(1, _meta_offsets(layout)[-1])
    entries = {}
    for kind, src, inner, shared, key, signature in (
        ("logp", _LOGP_SRC, logp_fn, logp_shared, keys[0], numba.types.int64(
            numba.types.uint64, numba.types.CPointer(numba.types.double),
            numba.types.CPointer(numba.types.double), numba.types.CPointer(numba.types.double),
            numba.types.voidptr)),
        ("expand", _EXPAND_SRC, expand_fn, expand_shared, keys[1], numba.types.int64(
            numba.types.uint64, numba.types.uint64, numba.types.CPointer(numba.types.double),
            numba.types.CPointer(numba.types.double), numba.types.voidptr)),
    ):
        unpack, args = _unpack_lines(layout, [order.index(v) for v in shared])
        text = src.format(n_dim=n_dim, n_expanded=n_expanded, meta_len=meta_len, unpack=unpack, args=args)
        entries[kind] = _cfunc(text, f"{kind}_wrapper", inner, signature, _cache_key(kind, key, text))

    dims, coords = ncp._prepare_dims_and_coords(model, shape_info, reparameterized_names)
    return _compiled_model_class()(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=entries["logp"], compiled_expand_func=entries["expand"],
        initial_point_func=initial_point_fn,
        shared_data={var.name: value for var, value in values.items()},
        shared_var_keys={var: var.name for var in values},
        user_data=np.zeros(1, dtype=np.int64),  # set by _with_metadata
        n_expanded=n_expanded, shape_info=shape_info, logp_func=logp_fn_pt, expand_func=expand_fn_pt,
        reparameterized_names=reparameterized_names, order=tuple(v.name for v in order),
    )._with_metadata()


@functools.cache
def _compiled_model_class():
    from nutpie.compile_pymc import CompiledPyMCModel

    @dataclasses.dataclass(frozen=True)
    class CachedCompiledModel(CompiledPyMCModel):
        """nutpie's compiled PyMC model whose entry points read :func:`_metadata`.

        ``shared_data`` is keyed by the data containers' names; ``order`` is the order of
        their entries in the metadata array (``user_data``).
        """

        order: tuple = ()

        def _with_metadata(self):
            return dataclasses.replace(
                self, user_data=_metadata([self.shared_data[name] for name in self.order]))

        def with_data(self, **updates):
            shared = dict(self.shared_data)
            for name, new in updates.items():
                if name not in shared:
                    raise KeyError(f"Unknown shared variable: {name}")
                old = shared[name]
                new = np.array(new, dtype=old.dtype, order="C", copy=True)
                if new.ndim != old.ndim:
                    raise ValueError(f"Shared variable {name} must have rank {old.ndim}")
                new.flags.writeable = False
                shared[name] = new
            return dataclasses.replace(self, shared_data=shared)._with_metadata()

    return CachedCompiledModel
