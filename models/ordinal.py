"""The cumulative-logit likelihood of the ordinal family, fused into PyTensor Ops.

Written as PyTensor operations on a linear predictor ``eta``, a log-density gradient of
the model spends most of its time outside the likelihood: gathering each individual's
group values, scattering the gradient back, and several elementwise passes over the
individuals (PyTensor's profile of the speed benchmark's model, 19,037 respondents:
likelihood elementwise 39%, scatter-adds 17%, gathers 12%, gemv 9%).
:class:`CumulativeLogitLogp` takes the parts of the linear predictor instead::

    eta_i = offset_i + X_i . b + sum_l table[idx[i, l]]

(``X``: individual-level conditions; ``table``: every group level's values, one level after
the other; ``idx``: each individual's positions in ``table``), and its gradient Op
:class:`CumulativeLogitGrad` computes eta, the log-probabilities and every gradient in one
pass over the individuals; where a graph needs both (a sampler), the rewrite
:func:`_logp_from_grad` leaves only that pass. On the benchmark's model one log-density
and gradient (numba, as nutpie compiles it) took 0.62 ms, against 1.33 ms for the same
model written with PyTensor operations (same machine, same session).

The log-probability of category k (0-based; cutpoints c[0] < ... < c[K-2]) is

    log sigmoid(c[k] - eta) + log sigmoid(eta - c[k-1]) + log(1 - exp(c[k-1] - c[k]))

(the first term absent for the top category, the other two for the bottom one). It
equals PyMC's ``OrderedLogistic`` (logit P(y <= k) = c[k] - eta) and stays finite far in
the tails, where ``OrderedLogistic`` gives -inf (eta = -40, middle categories). With
``x = exp(eta - c[k])`` and ``v = exp(c[k-1] - eta)`` the first two terms are
``-log((1 + x)(1 + v))``: one exp and one log per individual. That form is used while it
cannot overflow (|eta| <= 300 and every cutpoint within +-50); otherwise the pass is
redone in the overflow-safe softplus form. The kernels are numba functions, called by
nutpie's numba backend directly and by PyTensor's other backends through ``perform``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.graph.traversal import ancestors
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.tensor.rewriting.basic import register_specialize

# The shared-exp form is used while exp(|eta| + |c|) and the product of two such factors
# stay far from overflow (exp(709) is the largest double).
_FAST_ETA = 300.0
_FAST_CUTPOINT = 50.0


def linear_predictor(X, b, table, idx, offset):
    """Return eta as a plain PyTensor expression (for draws and the other families)."""
    eta = offset + pt.dot(X, b)
    idx, table = pt.as_tensor_variable(idx), pt.as_tensor_variable(table)
    levels = idx.type.shape[-1]
    if levels is None:
        return eta + table[idx].sum(axis=-1)
    # one gather per level rather than a sum over the short last axis, which numpy does
    # slowly on the many draws of the vectorised predictive step (models.predictive)
    for level in range(levels):
        eta = eta + table[idx[:, level]]
    return eta


# -- kernels -------------------------------------------------------------------------------
# Scalar loops rather than numpy array expressions inside the kernels: numba compiles
# them in half the time (logp kernel on an empty cache 2.3 s instead of 5.6 s, measured),
# which a first fit on a machine pays twice (the sampler's graph and the log-likelihood).
_njit = numba.njit(cache=True, fastmath=False, boundscheck=False)
_inline = numba.njit(cache=True, fastmath=False, boundscheck=False, inline="always")


@_inline
def _eta(i, X, b, table, idx, offset):
    eta = offset[i]
    for j in range(X.shape[1]):
        eta += X[i, j] * b[j]
    for level in range(idx.shape[1]):
        eta += table[idx[i, level]]
    return eta


@_inline
def _softplus(t):
    if t > 0.0:
        return t + np.log1p(np.exp(-t))
    return np.log1p(np.exp(t))


@_inline
def _sigmoid(t):
    if t >= 0.0:
        return 1.0 / (1.0 + np.exp(-t))
    e = np.exp(t)
    return e / (1.0 + e)


@_inline
def _factors(cutpoints):
    """exp(-c[k]) (0 for the top category) and exp(c[k-1]) (0 for the bottom one), per category."""
    last = cutpoints.shape[0]
    upper = np.zeros(last + 1)
    lower = np.zeros(last + 1)
    for k in range(last):
        upper[k] = np.exp(-cutpoints[k])
        lower[k + 1] = np.exp(cutpoints[k])
    return upper, lower


@_inline
def _row_fast(eta, k, cutpoints, upper, lower):
    """One row: (log p without the gap term, sigmoid(eta - c[k]), sigmoid(c[k-1] - eta)).

    With x = exp(eta - c[k]) and v = exp(c[k-1] - eta) (0 where the cutpoint is absent),
    log p = -log((1 + x)(1 + v)) + gap: one exp and one log, no branch on the category.
    """
    e = np.exp(eta)
    x = e * upper[k]
    v = lower[k] / e
    return -np.log((1.0 + x) * (1.0 + v)), x / (1.0 + x), v / (1.0 + v)


@_inline
def _row_safe(eta, k, cutpoints, upper, lower):
    """As :func:`_row_fast` in the overflow-safe softplus form, for values far out."""
    log_p, s_up, s_lo = 0.0, 0.0, 0.0
    if k < cutpoints.shape[0]:
        t = eta - cutpoints[k]
        s_up = _sigmoid(t)
        log_p -= _softplus(t)
    if k > 0:
        t = cutpoints[k - 1] - eta
        s_lo = _sigmoid(t)
        log_p -= _softplus(t)
    return log_p, s_up, s_lo


@_njit
def _log_gaps(cutpoints):
    """log(1 - exp(c[k-1] - c[k])) per category (0 for the two end categories)."""
    last = cutpoints.shape[0]
    gaps = np.zeros(last + 1)
    for k in range(1, last):
        delta = cutpoints[k - 1] - cutpoints[k]
        # log1mexp, accurate on both sides of -log 2
        gaps[k] = np.log(-np.expm1(delta)) if delta > -0.6931471805599453 else np.log1p(-np.exp(delta))
    return gaps


@_njit
def _pass(y, X, b, table, idx, offset, cutpoints, weights, safe):
    """One pass over the rows: log p per row and, unless ``weights`` is None, the gradient
    of ``sum_i weights[i] * logp[i]``. ``safe`` is None (shared-exp form) or True
    (softplus form); both None checks are resolved when numba compiles, so each variant is
    its own loop without those branches. Also returns the largest ``|eta|``.
    """
    last = cutpoints.shape[0]
    upper, lower = _factors(cutpoints)
    gaps = _log_gaps(cutpoints)
    log_p = np.empty(y.shape[0])
    d_eta = np.empty(y.shape[0] if weights is not None else 0)
    d_b = np.zeros(b.shape[0])
    d_table = np.zeros(table.shape[0])
    # per category: sums over its rows of w sigmoid(eta - c[k]), w sigmoid(c[k-1] - eta), w
    sum_up = np.zeros(last + 1)
    sum_lo = np.zeros(last + 1)
    weight = np.zeros(last + 1)
    largest = 0.0
    for i in range(y.shape[0]):
        k = y[i]
        eta = _eta(i, X, b, table, idx, offset)
        largest = max(largest, abs(eta))
        if safe is None:
            row_log_p, s_up, s_lo = _row_fast(eta, k, cutpoints, upper, lower)
        else:
            row_log_p, s_up, s_lo = _row_safe(eta, k, cutpoints, upper, lower)
        log_p[i] = row_log_p + gaps[k]
        if weights is not None:
            w = weights[i]
            d = w * (s_lo - s_up)
            d_eta[i] = d
            sum_up[k] += w * s_up
            sum_lo[k] += w * s_lo
            weight[k] += w
            for j in range(X.shape[1]):
                d_b[j] += X[i, j] * d
            for level in range(idx.shape[1]):
                d_table[idx[i, level]] += d
    # d log p / d c[k] = sigmoid(eta - c[k]) for category k, -sigmoid(c[k] - eta) for
    # category k + 1; the gap term log(1 - exp(c[k-1] - c[k])) adds 1 / expm1(c[k] - c[k-1])
    # to c[k] and takes it from c[k-1]
    d_cut = np.empty(last)
    for k in range(last):
        d_cut[k] = sum_up[k] - sum_lo[k + 1]
    for k in range(1, last):
        r = weight[k] / np.expm1(cutpoints[k] - cutpoints[k - 1])
        d_cut[k] += r
        d_cut[k - 1] -= r
    return log_p, d_eta, d_b, d_table, d_cut, largest


@_njit
def _fast_then_safe(y, X, b, table, idx, offset, cutpoints, weights):
    near = True  # every cutpoint within +-_FAST_CUTPOINT (NaN is not)
    for k in range(cutpoints.shape[0]):
        near = near and abs(cutpoints[k]) <= _FAST_CUTPOINT
    if near:
        result = _pass(y, X, b, table, idx, offset, cutpoints, weights, None)
        if result[5] <= _FAST_ETA:
            return result
    return _pass(y, X, b, table, idx, offset, cutpoints, weights, True)


@_njit
def logp_kernel(y, X, b, table, idx, offset, cutpoints):
    """Log-probability of each row's observed category."""
    return _fast_then_safe(y, X, b, table, idx, offset, cutpoints, None)[0]


@_njit
def grad_kernel(y, X, b, table, idx, offset, cutpoints, weights):
    """Log-probabilities and the gradient of ``sum_i weights[i] * logp[i]``.

    Returns (logp, d eta, d b, d table, d cutpoints); d eta (per row) also gives the
    gradient with respect to ``offset`` (equal) and ``X`` (``outer(d_eta, b)``).
    """
    log_p, d_eta, d_b, d_table, d_cut, _ = _fast_then_safe(y, X, b, table, idx, offset, cutpoints, weights)
    return log_p, d_eta, d_b, d_table, d_cut


# -- Ops -------------------------------------------------------------------------------------
def _inputs(y, X, b, table, idx, offset, cutpoints):
    floats = [pt.as_tensor_variable(v).astype("float64") for v in (X, b, table, offset, cutpoints)]
    X, b, table, offset, cutpoints = floats
    y, idx = pt.as_tensor_variable(y), pt.as_tensor_variable(idx)
    if not (y.dtype.startswith(("int", "uint")) and idx.dtype.startswith(("int", "uint"))):
        raise TypeError("the categories y and the positions idx must be integer arrays")
    return [y, X, b, table, idx, offset, cutpoints]


def _read_only(arrays):
    """Read-only views of ``arrays`` for the kernels' Python entry (the Ops' ``perform``).

    Numba compiles a kernel once per combination of its arguments' writeable flags, and
    PyTensor passes some inputs writeable or not depending on the graph (a Blockwise over
    draws broadcasts the data read-only): one flag for all, one compilation.
    """
    views = [np.asarray(array).view() for array in arrays]
    for view in views:
        view.flags.writeable = False
    return views


class CumulativeLogitLogp(Op):
    """``logp[i]`` of category ``y[i]`` (0-based) with eta from the linear predictor's parts.

    Inputs: ``y`` (n, int), ``X`` (n, p), ``b`` (p), ``table`` (g), ``idx`` (n, levels;
    int positions in ``table``), ``offset`` (n), ``cutpoints`` (K - 1, increasing).
    """

    __props__ = ()

    def make_node(self, y, X, b, table, idx, offset, cutpoints):
        inputs = _inputs(y, X, b, table, idx, offset, cutpoints)
        return Apply(self, inputs, [pt.dvector()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = logp_kernel(*_read_only(inputs))

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def connection_pattern(self, node):
        return [[False], [True], [True], [True], [False], [True], [True]]

    def pullback(self, inputs, outputs, cotangents):
        b = inputs[2]
        _, d_eta, d_b, d_table, d_cut = cumulative_logit_grad_op(*inputs, cotangents[0])
        disconnected = DisconnectedType()
        return [disconnected(), pt.outer(d_eta, b), d_b, d_table, disconnected(), d_eta, d_cut]


class CumulativeLogitGrad(Op):
    """``logp`` and the gradient of ``sum_i weights[i] * logp[i]`` (see :func:`grad_kernel`).

    It computes ``logp`` too, so that where a graph needs both (a sampler's log-density
    and gradient) :func:`_logp_from_grad` drops the separate pass of
    :class:`CumulativeLogitLogp`.
    """

    __props__ = ()

    def make_node(self, y, X, b, table, idx, offset, cutpoints, weights):
        inputs = _inputs(y, X, b, table, idx, offset, cutpoints)
        inputs.append(pt.as_tensor_variable(weights).astype("float64"))
        return Apply(self, inputs, [pt.dvector() for _ in range(5)])

    def infer_shape(self, node, shapes):
        y, _, b, table, _, _, cutpoints, _ = shapes
        return [y, y, b, table, cutpoints]

    def perform(self, node, inputs, outputs):
        for storage, value in zip(outputs, grad_kernel(*_read_only(inputs))):
            storage[0] = value


cumulative_logit_logp_op = CumulativeLogitLogp()
cumulative_logit_grad_op = CumulativeLogitGrad()


@register_specialize
@node_rewriter([CumulativeLogitLogp])
def _logp_from_grad(fgraph, node):
    """Take logp from the gradient Op of the same inputs, where the graph has one."""
    for client, _ in fgraph.clients[node.inputs[1]]:
        if (isinstance(client.op, CumulativeLogitGrad)
                and all(a is b for a, b in zip(client.inputs[:-1], node.inputs, strict=True))
                and node.outputs[0] not in ancestors([client.inputs[-1]])):
            return [client.outputs[0]]
    return None


# PyTensor caches the numba code of a graph under these keys: the source's hash, so that a
# changed kernel is never served from an older cache
_CACHE_KEY = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@numba_basic.register_funcify_and_cache_key(CumulativeLogitLogp)
def _numba_logp(op, node, **kwargs):
    @numba_basic.numba_njit
    def logp(y, X, b, table, idx, offset, cutpoints):
        return logp_kernel(y, X, b, table, idx, offset, cutpoints)

    return logp, f"CumulativeLogitLogp-{_CACHE_KEY}"


@numba_basic.register_funcify_and_cache_key(CumulativeLogitGrad)
def _numba_grad(op, node, **kwargs):
    @numba_basic.numba_njit
    def grad(y, X, b, table, idx, offset, cutpoints, weights):
        return grad_kernel(y, X, b, table, idx, offset, cutpoints, weights)

    return grad, f"CumulativeLogitGrad-{_CACHE_KEY}"
