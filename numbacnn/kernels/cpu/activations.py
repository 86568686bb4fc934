"""Activation functions: a forward and a backward elementwise kernel per activation, and row-wise softmax.

A pointwise activation is named by an integer ``kind`` (the ``ACT_*`` constants) and up to three float
parameters. Its value and derivative are written once (``_act_value`` / ``_act_derivative``) and
inlined, with ``kind`` a constant, into one small forward and one backward kernel per activation, so
each loop is branch-free and only the activations a model uses get compiled. The wrappers flatten
any-shape arrays to 1-D; the kernels ``prange`` over elements. Softmax works on rows of a 2-D view
whose last axis is the softmax axis.
"""

import math

import numpy as np
from numba import njit, prange

from .vector_math import tanh_value

__all__ = ["ACT_LINEAR", "ACT_RELU", "ACT_SIGMOID", "ACT_TANH", "ACT_ELU", "ACT_SELU", "ACT_SOFTPLUS",
           "ACT_SOFTSIGN", "ACT_SILU", "ACT_GELU", "ACT_HARD_SIGMOID", "ACT_HARD_SILU", "ACT_EXPONENTIAL",
           "ACT_MISH", "activation_forward", "activation_backward", "softmax_forward", "softmax_backward",
           "log_softmax_forward", "log_softmax_backward", "prelu_forward", "prelu_backward"]

ACT_LINEAR = 0
ACT_RELU = 1          # p0 negative_slope, p1 max_value (inf for none), p2 threshold
ACT_SIGMOID = 2
ACT_TANH = 3
ACT_ELU = 4           # p0 alpha
ACT_SELU = 5
ACT_SOFTPLUS = 6
ACT_SOFTSIGN = 7
ACT_SILU = 8
ACT_GELU = 9          # p0 = 1.0 for the tanh approximation, 0.0 for the exact erf form
ACT_HARD_SIGMOID = 10
ACT_HARD_SILU = 11
ACT_EXPONENTIAL = 12
ACT_MISH = 13

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = 0.7978845608028654
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_GELU_C = 0.044715


@njit(cache=True, nogil=True)
def _sigmoid(v):
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(cache=True, nogil=True)
def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


@njit(cache=True, inline="always")
def _act_value(v, kind, p0, p1, p2):
    """f(v) for one float64 value; NaN stays NaN, so a NaN input shows in the loss."""
    if v != v:
        return v
    if kind == ACT_RELU:
        if v > p2:
            return min(max(v, 0.0), p1)
        return p0 * (v - p2) if p0 != 0.0 else 0.0
    if kind == ACT_SIGMOID:
        return _sigmoid(v)
    if kind == ACT_TANH:
        return math.tanh(v)
    if kind == ACT_ELU:
        return v if v > 0.0 else p0 * math.expm1(v)
    if kind == ACT_SELU:
        return _SELU_SCALE * (v if v > 0.0 else _SELU_ALPHA * math.expm1(v))
    if kind == ACT_SOFTPLUS:
        return _softplus(v)
    if kind == ACT_SOFTSIGN:
        return v / (1.0 + abs(v))
    if kind == ACT_SILU:
        return v * _sigmoid(v)
    if kind == ACT_GELU:
        if p0 != 0.0:
            return 0.5 * v * (1.0 + math.tanh(_SQRT_2_OVER_PI * (v + _GELU_C * v * v * v)))
        return 0.5 * v * (1.0 + math.erf(v * _INV_SQRT_2))
    if kind == ACT_HARD_SIGMOID:
        return min(max(v + 3.0, 0.0), 6.0) / 6.0
    if kind == ACT_HARD_SILU:
        return v * min(max(v + 3.0, 0.0), 6.0) / 6.0
    if kind == ACT_EXPONENTIAL:
        return math.exp(v)
    if kind == ACT_MISH:
        return v * math.tanh(_softplus(v))
    return v


@njit(cache=True, inline="always")
def _act_derivative(v, a, kind, p0, p1, p2):
    """f'(v) for one value v with a = f(v)."""
    if kind == ACT_RELU:
        if v > p2:
            return 1.0 if 0.0 <= v < p1 else 0.0
        return p0
    if kind == ACT_SIGMOID:
        return a * (1.0 - a)
    if kind == ACT_TANH:
        return 1.0 - a * a
    if kind == ACT_ELU:
        return 1.0 if v > 0.0 else a + p0
    if kind == ACT_SELU:
        return _SELU_SCALE if v >= 0.0 else a + _SELU_SCALE * _SELU_ALPHA  # at 0 as TensorFlow: scale
    if kind == ACT_SOFTPLUS:
        return _sigmoid(v)
    if kind == ACT_SOFTSIGN:
        d = 1.0 + abs(v)
        return 1.0 / (d * d)
    if kind == ACT_SILU:
        s = _sigmoid(v)
        return s * (1.0 + v * (1.0 - s))
    if kind == ACT_GELU:
        if p0 != 0.0:
            t = math.tanh(_SQRT_2_OVER_PI * (v + _GELU_C * v * v * v))
            return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * v * v)
        return 0.5 * (1.0 + math.erf(v * _INV_SQRT_2)) + v * _INV_SQRT_2PI * math.exp(-0.5 * v * v)
    if kind == ACT_HARD_SIGMOID:
        return 1.0 / 6.0 if -3.0 < v < 3.0 else 0.0
    if kind == ACT_HARD_SILU:
        if v <= -3.0:
            return 0.0
        if v >= 3.0:
            return 1.0
        return (2.0 * v + 3.0) / 6.0
    if kind == ACT_EXPONENTIAL:
        return a
    if kind == ACT_MISH:
        t = math.tanh(_softplus(v))
        return t + v * (1.0 - t * t) * _sigmoid(v)
    return 1.0


@njit(parallel=True, cache=True, nogil=True)
def _forward_relu(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = relu(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_RELU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_relu(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * relu'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_RELU, p0, p1, p2)


def _forward_sigmoid(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = sigmoid(x), through numpy's SIMD exp (Numba calls the scalar libm one, ~20x
    slower): e = exp(-|x|), then 1/(1+e) for x >= 0 and e/(1+e) below, exact in both tails."""
    np.abs(x, out=y)
    np.negative(y, out=y)
    np.exp(y, out=y)
    e = y.copy()
    y += 1.0
    np.divide(np.where(x >= 0, 1.0, e).astype(y.dtype, copy=False), y, out=y)


@njit(parallel=True, cache=True, nogil=True)
def _backward_sigmoid(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * sigmoid'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_SIGMOID, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _forward_tanh(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = tanh(x): ``tanh_value``, the same function the convolutions' epilogue applies
    (float32 in 16-lane vectors; numpy's SIMD tanh cannot be called from compiled kernels)."""
    for i in prange(x.shape[0]):
        y[i] = tanh_value(x[i])


@njit(parallel=True, cache=True, nogil=True)
def _backward_tanh(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * tanh'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_TANH, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_elu(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = elu(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_ELU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_elu(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * elu'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_ELU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_selu(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = selu(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_SELU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_selu(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * selu'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_SELU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_softplus(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = softplus(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_SOFTPLUS, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_softplus(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * softplus'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_SOFTPLUS, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_softsign(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = softsign(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_SOFTSIGN, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_softsign(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * softsign'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_SOFTSIGN, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_silu(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = silu(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_SILU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_silu(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * silu'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_SILU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_gelu(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = gelu(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_GELU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_gelu(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * gelu'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_GELU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_hard_sigmoid(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = hard_sigmoid(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_HARD_SIGMOID, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_hard_sigmoid(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * hard_sigmoid'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_HARD_SIGMOID, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_hard_silu(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = hard_silu(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_HARD_SILU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_hard_silu(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * hard_silu'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_HARD_SILU, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_exponential(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = exponential(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_EXPONENTIAL, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_exponential(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * exponential'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_EXPONENTIAL, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _forward_mish(x, y, p0, p1, p2):
    """x (M,) -> y (M,) = mish(x)."""
    for i in prange(x.shape[0]):
        y[i] = _act_value(np.float64(x[i]), ACT_MISH, p0, p1, p2)


@njit(parallel=True, cache=True, nogil=True)
def _backward_mish(g, z, a, dz, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * mish'(z)."""
    for i in prange(g.shape[0]):
        dz[i] = g[i] * _act_derivative(np.float64(z[i]), np.float64(a[i]), ACT_MISH, p0, p1, p2)


# kind -> kernel: x (M,) -> y (M,) = f(x), and g, z, a (M,) -> dz (M,) = g * f'(z)
_FORWARD = {
    ACT_RELU: _forward_relu,
    ACT_SIGMOID: _forward_sigmoid,
    ACT_TANH: _forward_tanh,
    ACT_ELU: _forward_elu,
    ACT_SELU: _forward_selu,
    ACT_SOFTPLUS: _forward_softplus,
    ACT_SOFTSIGN: _forward_softsign,
    ACT_SILU: _forward_silu,
    ACT_GELU: _forward_gelu,
    ACT_HARD_SIGMOID: _forward_hard_sigmoid,
    ACT_HARD_SILU: _forward_hard_silu,
    ACT_EXPONENTIAL: _forward_exponential,
    ACT_MISH: _forward_mish,
}
_BACKWARD = {
    ACT_RELU: _backward_relu,
    ACT_SIGMOID: _backward_sigmoid,
    ACT_TANH: _backward_tanh,
    ACT_ELU: _backward_elu,
    ACT_SELU: _backward_selu,
    ACT_SOFTPLUS: _backward_softplus,
    ACT_SOFTSIGN: _backward_softsign,
    ACT_SILU: _backward_silu,
    ACT_GELU: _backward_gelu,
    ACT_HARD_SIGMOID: _backward_hard_sigmoid,
    ACT_HARD_SILU: _backward_hard_silu,
    ACT_EXPONENTIAL: _backward_exponential,
    ACT_MISH: _backward_mish,
}


def activation_forward(x, kind, p0=0.0, p1=0.0, p2=0.0):
    """x (any shape) -> f(x), same shape and dtype; ``kind`` is one of the ACT_* constants."""
    x = np.ascontiguousarray(x)
    if kind == ACT_LINEAR:
        return x.copy()
    y = np.empty_like(x)
    _FORWARD[kind](x.reshape(-1), y.reshape(-1), float(p0), float(p1), float(p2))
    return y


def activation_backward(grad, z, a, kind, p0=0.0, p1=0.0, p2=0.0):
    """grad, z = pre-activation, a = f(z) (same shape) -> grad * f'(z)."""
    grad = np.ascontiguousarray(grad, dtype=z.dtype)
    if kind == ACT_LINEAR:
        return grad.copy()
    z = np.ascontiguousarray(z)
    a = np.ascontiguousarray(a, dtype=z.dtype)
    dz = np.empty_like(z)
    _BACKWARD[kind](grad.reshape(-1), z.reshape(-1), a.reshape(-1), dz.reshape(-1), float(p0), float(p1),
                    float(p2))
    return dz


@njit(parallel=True, cache=True, nogil=True)
def _softmax_rows(x, y):
    """x (M,K) -> y (M,K): exp(x - max) / sum, per row."""
    m_, k_ = x.shape
    for i in prange(m_):
        mx = np.float64(x[i, 0])
        for k in range(1, k_):
            mx = max(mx, np.float64(x[i, k]))
        s = 0.0
        for k in range(k_):
            e = math.exp(np.float64(x[i, k]) - mx)
            y[i, k] = e
            s += e
        inv = 1.0 / s
        for k in range(k_):
            y[i, k] *= inv


@njit(parallel=True, cache=True, nogil=True)
def _softmax_backward_rows(g, a, dz):
    """g, a (M,K) -> dz (M,K) = a * (g - sum(g * a)), the Jacobian-vector product per row."""
    m_, k_ = g.shape
    for i in prange(m_):
        dot = 0.0
        for k in range(k_):
            dot += np.float64(g[i, k]) * np.float64(a[i, k])
        for k in range(k_):
            dz[i, k] = a[i, k] * (g[i, k] - dot)


def _rows(x, axis):
    """x with ``axis`` moved last, as a C-contiguous (M,K) array, and the moved shape."""
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    return moved.reshape(-1, moved.shape[-1]), moved.shape


def softmax_forward(x, axis=-1):
    """x (any shape) -> softmax along ``axis`` (max-subtracted), same shape and dtype."""
    rows, moved_shape = _rows(np.asarray(x), axis)
    y = np.empty_like(rows)
    _softmax_rows(rows, y)
    return np.ascontiguousarray(np.moveaxis(y.reshape(moved_shape), -1, axis))


def softmax_backward(grad, a, axis=-1):
    """grad, a = softmax output (same shape) -> gradient w.r.t. the softmax input."""
    a = np.asarray(a)
    g_rows, moved_shape = _rows(np.asarray(grad, dtype=a.dtype), axis)
    a_rows, _ = _rows(a, axis)
    dz = np.empty_like(a_rows)
    _softmax_backward_rows(g_rows, a_rows, dz)
    return np.ascontiguousarray(np.moveaxis(dz.reshape(moved_shape), -1, axis))


@njit(parallel=True, cache=True, nogil=True)
def _log_softmax_rows(x, y):
    """x (M,K) -> y (M,K) = (x - max) - log(sum(exp(x - max))), per row."""
    m_, k_ = x.shape
    for i in prange(m_):
        mx = np.float64(x[i, 0])
        for k in range(1, k_):
            mx = max(mx, np.float64(x[i, k]))
        s = 0.0
        for k in range(k_):
            s += math.exp(np.float64(x[i, k]) - mx)
        lse = math.log(s)
        for k in range(k_):
            y[i, k] = (np.float64(x[i, k]) - mx) - lse


@njit(parallel=True, cache=True, nogil=True)
def _log_softmax_backward_rows(g, a, dz):
    """g, a (M,K) -> dz (M,K) = g - exp(a) * sum(g), per row (a = log_softmax output)."""
    m_, k_ = g.shape
    for i in prange(m_):
        total = 0.0
        for k in range(k_):
            total += np.float64(g[i, k])
        for k in range(k_):
            dz[i, k] = np.float64(g[i, k]) - math.exp(np.float64(a[i, k])) * total


def log_softmax_forward(x, axis=-1):
    """x (any shape) -> log(softmax(x)) along ``axis`` (max-subtracted), same shape and dtype."""
    rows, moved_shape = _rows(np.asarray(x), axis)
    y = np.empty_like(rows)
    _log_softmax_rows(rows, y)
    return np.ascontiguousarray(np.moveaxis(y.reshape(moved_shape), -1, axis))


def log_softmax_backward(grad, a, axis=-1):
    """grad, a = log_softmax output (same shape) -> gradient w.r.t. the input: g - softmax * sum(g)."""
    a = np.asarray(a)
    g_rows, moved_shape = _rows(np.asarray(grad, dtype=a.dtype), axis)
    a_rows, _ = _rows(a, axis)
    dz = np.empty_like(a_rows)
    _log_softmax_backward_rows(g_rows, a_rows, dz)
    return np.ascontiguousarray(np.moveaxis(dz.reshape(moved_shape), -1, axis))


@njit(parallel=True, cache=True, nogil=True)
def _prelu(x, alpha, aidx, y):
    """x (N,K), alpha (A,), aidx (K,) -> y (N,K) = x for x > 0, alpha[aidx[k]] * x otherwise."""
    n_, k_ = x.shape
    for i in prange(n_):
        for k in range(k_):
            v = x[i, k]
            y[i, k] = v if v > 0 else alpha[aidx[k]] * v


@njit(parallel=True, cache=True, nogil=True)
def _prelu_input_grad(x, g, alpha, aidx, dx):
    """dx (N,K) = g for x > 0, alpha * g for x < 0, 0 at x = 0 (relu's derivative at 0 is 0)."""
    n_, k_ = x.shape
    for i in prange(n_):
        for k in range(k_):
            v = x[i, k]
            if v > 0:
                dx[i, k] = g[i, k]
            elif v < 0:
                dx[i, k] = alpha[aidx[k]] * g[i, k]
            else:
                dx[i, k] = 0.0


@njit(parallel=True, cache=True, nogil=True)
def _prelu_alpha_grad(x, g, group_ptr, group_pos, dalpha):
    """dalpha[a] = sum over the samples and the positions k of group a of g * min(x, 0); a gather per a."""
    n_ = x.shape[0]
    for a in prange(dalpha.shape[0]):
        acc = 0.0
        for p in range(group_ptr[a], group_ptr[a + 1]):
            k = group_pos[p]
            for i in range(n_):
                v = np.float64(x[i, k])
                if v < 0.0:
                    acc += np.float64(g[i, k]) * v
        dalpha[a] = acc


def prelu_forward(x, alpha, aidx):
    """x (N,...) with K = prod(x.shape[1:]), alpha (A,) flat, aidx (K,) int64 (each position's alpha) ->
    y (x's shape) = max(x, 0) + alpha * min(x, 0)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    n = x.shape[0]
    _prelu(x.reshape(n, -1), np.ascontiguousarray(alpha, dtype=x.dtype), aidx, y.reshape(n, -1))
    return y


def prelu_backward(x, grad, alpha, aidx, group_ptr, group_pos):
    """x, grad (N,...), alpha (A,), aidx (K,), the positions of each alpha (group_ptr (A+1,), group_pos (K,),
    CSR) -> dx (x's shape), dalpha (A,) float64."""
    x = np.ascontiguousarray(x)
    n = x.shape[0]
    x2 = x.reshape(n, -1)
    g2 = np.ascontiguousarray(grad, dtype=x.dtype).reshape(n, -1)
    dx = np.empty_like(x)
    _prelu_input_grad(x2, g2, np.ascontiguousarray(alpha, dtype=x.dtype), aidx, dx.reshape(n, -1))
    dalpha = np.empty(alpha.shape[0], np.float64)
    _prelu_alpha_grad(x2, g2, group_ptr, group_pos, dalpha)
    return dx, dalpha
