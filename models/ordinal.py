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
call; where a graph needs both (a sampler), the rewrite :func:`_logp_from_grad` leaves only
that call. On the benchmark's model one log-density and gradient (numba, as nutpie
compiles it) took 0.62 ms, against 1.33 ms for the same model written with PyTensor
operations (same machine, same session). Session 12's kernel (the vectorised exp and log
below) and data layout (no vector filled or cast at each call: ``idx_table``, one offset
value, one weight) took 0.26-0.30 ms against 0.44-0.60 ms for session 11's row-by-row
loop, measured alternately on a busy machine.

The log-probability of category k (0-based; cutpoints c[0] < ... < c[K-2]) is

    log sigmoid(c[k] - eta) + log sigmoid(eta - c[k-1]) + log(1 - exp(c[k-1] - c[k]))

(the first term absent for the top category, the other two for the bottom one). It
equals PyMC's ``OrderedLogistic`` (logit P(y <= k) = c[k] - eta) and stays finite far in
the tails, where ``OrderedLogistic`` gives -inf (eta = -40, middle categories). With
``x = exp(eta - c[k])`` and ``v = exp(c[k-1] - eta)`` the first two terms are
``-log((1 + x)(1 + v))``: one exp and one log per individual. That form is used while it
cannot overflow (|eta| <= 300 and every cutpoint within +-50), in three loops over the
individuals: eta and the gathers, then the exp, log and sigmoids (no gather and no branch,
with exp and log written as arithmetic, so LLVM runs it on several individuals at a time),
then the scatter-adds of the gradient. Otherwise the rows are computed in the
overflow-safe softplus form. The kernels are numba functions, called by
nutpie's numba backend directly and by PyTensor's other backends through ``perform``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numba
import numpy as np
import pytensor.tensor as pt
from numba.core import types
from numba.extending import intrinsic
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.graph.traversal import ancestors
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.tensor.basic import Alloc
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
# error_model="numpy": no zero-division checks, which would keep LLVM from vectorising.
_njit = numba.njit(cache=True, fastmath=False, boundscheck=False, error_model="numpy")
_inline = numba.njit(cache=True, fastmath=False, boundscheck=False, error_model="numpy", inline="always")


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float64 as an int64 (a reinterpretation, not a conversion)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))
    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """The float64 whose bits are the int64 ``bits``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return types.float64(types.int64), codegen


# exp and log as plain arithmetic on a float's bits, so that LLVM vectorises the loop that
# calls them (libm's exp and log are calls it cannot): 4-5x faster per row, within 1 ulp of
# numpy's (tests/models/test_build.py). exp: Cody-Waite reduction to |r| <= ln2 / 2 and a
# degree-13 Taylor polynomial (truncation error < 1e-17); log: fdlibm's __ieee754_log.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01)
_SQRT2 = 1.4142135623730951


@_inline
def _exp(x):
    """exp(x) for finite |x| <= 700."""
    n = np.floor(x * _LOG2E + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!, then Horner down to 1
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _bits_float((np.int64(n) + 1023) << 52)  # times 2**n


@_inline
def _log(q):
    """log(q) for a finite, positive, normal q."""
    bits = _float_bits(q)
    m = _bits_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # q = m 2**e, 1 <= m < 2
    above = m > _SQRT2  # then m / 2 and e + 1, so that m is within [sqrt(2) / 2, sqrt(2)]
    m = m * 0.5 if above else m
    k = float((bits >> 52) - 1023 + (1 if above else 0))
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6]))) + w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    half_f2 = 0.5 * f * f
    return k * _LN2_HI - ((half_f2 - (s * (half_f2 + r) + k * _LN2_LO)) - f)


@_inline
def _step(values):
    """0 where one value stands for every row (``offset``, ``weights`` of length 1), else 1."""
    return 0 if values.shape[0] == 1 else 1


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
def _rows(y, X, b, table, idx, offset, cutpoints):
    """Return each row's eta and its category's exp(-c[k]) and exp(c[k-1]) (0 where absent).

    These are the gathers, done here so that :func:`_fast_rows` has none; also returns
    whether every |eta| is within the shared-exp form's range (False for NaN).
    """
    n = y.shape[0]
    last = cutpoints.shape[0]
    upper = np.zeros(last + 1)
    lower = np.zeros(last + 1)
    for k in range(last):
        upper[k] = np.exp(-cutpoints[k])
        lower[k + 1] = np.exp(cutpoints[k])
    eta, row_upper, row_lower = np.empty(n), np.empty(n), np.empty(n)
    step = _step(offset)
    small = True
    for i in range(n):
        k = y[i]
        e = offset[i * step]
        for j in range(X.shape[1]):
            e += X[i, j] * b[j]
        for level in range(idx.shape[1]):
            e += table[idx[i, level]]
        eta[i] = e
        small = small and abs(e) <= _FAST_ETA
        row_upper[i] = upper[k]
        row_lower[i] = lower[k]
    return eta, row_upper, row_lower, small


@_njit
def _fast_rows(eta, row_upper, row_lower):
    """Return log p without the gap term, sigmoid(eta - c[k]) and sigmoid(c[k-1] - eta) per row.

    With x = exp(eta - c[k]) and v = exp(c[k-1] - eta) (0 where the cutpoint is absent),
    log p = -log((1 + x)(1 + v)) + gap: one exp and one log, no branch on the category, no
    gather: LLVM vectorises the loop.
    """
    n = eta.shape[0]
    log_p, s_up, s_lo = np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        e = _exp(eta[i])
        x = e * row_upper[i]
        v = row_lower[i] / e
        log_p[i] = -_log((1.0 + x) * (1.0 + v))
        s_up[i] = x / (1.0 + x)
        s_lo[i] = v / (1.0 + v)
    return log_p, s_up, s_lo


@_njit
def _safe_rows(y, eta, cutpoints):
    """As :func:`_fast_rows` in the overflow-safe softplus form, for values far out."""
    n = y.shape[0]
    last = cutpoints.shape[0]
    log_p, s_up, s_lo = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        k = y[i]
        if k < last:
            t = eta[i] - cutpoints[k]
            s_up[i] = _sigmoid(t)
            log_p[i] -= _softplus(t)
        if k > 0:
            t = cutpoints[k - 1] - eta[i]
            s_lo[i] = _sigmoid(t)
            log_p[i] -= _softplus(t)
    return log_p, s_up, s_lo


@_njit
def _log_probabilities(y, X, b, table, idx, offset, cutpoints):
    """Return log p of each row's category, sigmoid(eta - c[k]) and sigmoid(c[k-1] - eta).

    In the shared-exp form while it cannot overflow (every cutpoint within
    +-_FAST_CUTPOINT, every |eta| <= _FAST_ETA), else in the softplus form.
    """
    eta, row_upper, row_lower, small = _rows(y, X, b, table, idx, offset, cutpoints)
    near = True  # NaN is not
    for k in range(cutpoints.shape[0]):
        near = near and abs(cutpoints[k]) <= _FAST_CUTPOINT
    if small and near:
        log_p, s_up, s_lo = _fast_rows(eta, row_upper, row_lower)
    else:
        log_p, s_up, s_lo = _safe_rows(y, eta, cutpoints)
    gaps = _log_gaps(cutpoints)
    for i in range(y.shape[0]):
        log_p[i] += gaps[y[i]]
    return log_p, s_up, s_lo


@_njit
def _column_sums(X, d):
    """Return X.T @ d, with four partial sums per column (the additions need not wait)."""
    n = X.shape[0]
    out = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        a0, a1, a2, a3 = 0.0, 0.0, 0.0, 0.0
        i = 0
        while i + 4 <= n:
            a0 += X[i, j] * d[i]
            a1 += X[i + 1, j] * d[i + 1]
            a2 += X[i + 2, j] * d[i + 2]
            a3 += X[i + 3, j] * d[i + 3]
            i += 4
        while i < n:
            a0 += X[i, j] * d[i]
            i += 1
        out[j] = (a0 + a1) + (a2 + a3)
    return out


@_njit
def logp_kernel(y, X, b, table, idx, offset, cutpoints):
    """Log-probability of each row's observed category."""
    return _log_probabilities(y, X, b, table, idx, offset, cutpoints)[0]


@_njit
def grad_kernel(y, X, b, table, idx, offset, cutpoints, weights):
    """Log-probabilities and the gradient of ``sum_i weights[i] * logp[i]``.

    Returns (logp, d eta, d b, d table, d cutpoints); d eta (per row) also gives the
    gradient with respect to ``offset`` (equal) and ``X`` (``outer(d_eta, b)``).
    """
    log_p, s_up, s_lo = _log_probabilities(y, X, b, table, idx, offset, cutpoints)
    n = y.shape[0]
    last = cutpoints.shape[0]
    d_eta = np.empty(n)
    step = _step(weights)
    for i in range(n):
        d_eta[i] = weights[i * step] * (s_lo[i] - s_up[i])
    d_table = np.zeros(table.shape[0])
    for i in range(n):
        for level in range(idx.shape[1]):
            d_table[idx[i, level]] += d_eta[i]
    # per category: sums over its rows of w sigmoid(eta - c[k]), w sigmoid(c[k-1] - eta), w
    sum_up, sum_lo, weight = np.zeros(last + 1), np.zeros(last + 1), np.zeros(last + 1)
    for i in range(n):
        k, w = y[i], weights[i * step]
        sum_up[k] += w * s_up[i]
        sum_lo[k] += w * s_lo[i]
        weight[k] += w
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
    return log_p, d_eta, _column_sums(X, d_eta), d_table, d_cut


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
    int positions in ``table``), ``offset`` (n, or static shape (1,): one value for every
    row), ``cutpoints`` (K - 1, increasing).
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
        b, offset = inputs[2], inputs[5]
        _, d_eta, d_b, d_table, d_cut = cumulative_logit_grad_op(*inputs, cotangents[0])
        d_offset = d_eta.sum(keepdims=True) if offset.type.shape == (1,) else d_eta
        disconnected = DisconnectedType()
        return [disconnected(), pt.outer(d_eta, b), d_b, d_table, disconnected(), d_offset, d_cut]


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


@register_specialize
@node_rewriter([CumulativeLogitGrad])
def _one_weight(fgraph, node):
    """Pass weights that are one value repeated (a sampler's: the gradient of a sum, all
    ones) as that value, so that the graph does not fill a vector of them at every call.
    """
    weights = node.inputs[-1]
    if weights.type.shape == (1,) or weights.owner is None or not isinstance(weights.owner.op, Alloc):
        return None
    value = weights.owner.inputs[0]
    if any(size != 1 for size in value.type.shape):
        return None
    return cumulative_logit_grad_op(*node.inputs[:-1], pt.alloc(value.flatten(), 1))


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
