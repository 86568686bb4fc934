"""Activation functions on the GPU: one elementwise forward and backward kernel for every ACT_* kind, and
softmax along an axis.

The twin of ``kernels.cpu.activations``: the same formulas, evaluated in float64 per element and stored
in the input's dtype. ``kind`` is a kernel argument (every thread of a launch takes the same branch, so
the branches cost no divergence). ACT_LINEAR goes through the same kernels (f(v) = v, f' = 1), which
copy exactly. Softmax sees its C-contiguous input as (P,K,Q) with K the softmax axis, one thread per
(p, q) row, so no axis is ever moved.
"""

import math

import numpy as np
from numba import cuda, float64

from ..cpu.activations import (
    _GELU_C,
    _INV_SQRT_2,
    _INV_SQRT_2PI,
    _SELU_ALPHA,
    _SELU_SCALE,
    _SQRT_2_OVER_PI,
    ACT_ELU,
    ACT_EXPONENTIAL,
    ACT_GELU,
    ACT_HARD_SIGMOID,
    ACT_HARD_SILU,
    ACT_LINEAR,
    ACT_MISH,
    ACT_RELU,
    ACT_SELU,
    ACT_SIGMOID,
    ACT_SILU,
    ACT_SOFTPLUS,
    ACT_SOFTSIGN,
    ACT_TANH,
)
from . import launch

__all__ = ["ACT_LINEAR", "ACT_RELU", "ACT_SIGMOID", "ACT_TANH", "ACT_ELU", "ACT_SELU", "ACT_SOFTPLUS",
           "ACT_SOFTSIGN", "ACT_SILU", "ACT_GELU", "ACT_HARD_SIGMOID", "ACT_HARD_SILU", "ACT_EXPONENTIAL",
           "ACT_MISH", "activation_forward", "activation_backward", "softmax_forward", "softmax_backward",
           "log_softmax_forward", "log_softmax_backward", "prelu_forward", "prelu_backward"]


@cuda.jit(device=True)
def _sigmoid(v):
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@cuda.jit(device=True)
def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


@cuda.jit(device=True)
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


@cuda.jit(device=True)
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


@cuda.jit(cache=True)
def _forward(x, y, kind, p0, p1, p2):
    """x (M,) -> y (M,) = f(x), one thread per element."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        y[i] = _act_value(float64(x[i]), kind, p0, p1, p2)


@cuda.jit(cache=True)
def _backward(g, z, a, dz, kind, p0, p1, p2):
    """g, z, a (M,) -> dz (M,) = g * f'(z), one thread per element."""
    i = cuda.grid(1)
    if i < g.shape[0]:
        dz[i] = float64(g[i]) * _act_derivative(float64(z[i]), float64(a[i]), kind, p0, p1, p2)


def _forward_in_place(x, kind, p0=0.0, p1=0.0, p2=0.0):
    """x = f(x) in place (each thread reads its element before writing it)."""
    blocks, threads = launch.grid(x.size)
    flat = x.reshape(-1)
    launch.at(_forward, blocks, threads)(flat, flat, int(kind), float(p0), float(p1), float(p2))


def activation_forward(x, kind, p0=0.0, p1=0.0, p2=0.0):
    """x (any shape) -> f(x), same shape and dtype; ``kind`` is one of the ACT_* constants."""
    y = launch.empty(x.shape, x.dtype)
    blocks, threads = launch.grid(x.size)
    launch.at(_forward, blocks, threads)(x.reshape(-1), y.reshape(-1), int(kind), float(p0), float(p1),
                                               float(p2))
    return y


def activation_backward(grad, z, a, kind, p0=0.0, p1=0.0, p2=0.0):
    """grad, z = pre-activation, a = f(z) (same shape) -> grad * f'(z), z's dtype."""
    dz = launch.empty(z.shape, z.dtype)
    blocks, threads = launch.grid(z.size)
    launch.at(_backward, blocks, threads)(grad.reshape(-1), z.reshape(-1), a.reshape(-1),
                                                dz.reshape(-1), int(kind), float(p0), float(p1), float(p2))
    return dz


@cuda.jit(cache=True)
def _softmax_rows(x, y):
    """x (P,K,Q) -> y (P,K,Q): exp(x - max) / sum along K, one thread per (p, q)."""
    p_, k_, q_ = x.shape
    t = cuda.grid(1)
    if t < p_ * q_:
        p = t // q_
        q = t % q_
        mx = float64(x[p, 0, q])
        for k in range(1, k_):
            mx = max(mx, float64(x[p, k, q]))
        s = 0.0
        for k in range(k_):
            e = math.exp(float64(x[p, k, q]) - mx)
            y[p, k, q] = e
            s += e
        inv = float64(1.0 / s)
        for k in range(k_):
            y[p, k, q] *= inv


@cuda.jit(cache=True)
def _softmax_backward_rows(g, a, dz):
    """g, a (P,K,Q) -> dz (P,K,Q) = a * (g - sum_K(g * a)), the Jacobian-vector product per (p, q)."""
    p_, k_, q_ = a.shape
    t = cuda.grid(1)
    if t < p_ * q_:
        p = t // q_
        q = t % q_
        dot = 0.0
        for k in range(k_):
            dot += float64(g[p, k, q]) * float64(a[p, k, q])
        for k in range(k_):
            dz[p, k, q] = float64(a[p, k, q]) * (float64(g[p, k, q]) - dot)


def _as_pkq(x, axis):
    """The (P,K,Q) view of C-contiguous x around ``axis`` (K = x.shape[axis])."""
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of dimension {x.ndim}")
    axis %= x.ndim
    return x.reshape(math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:]))


def softmax_forward(x, axis=-1):
    """x (any shape) -> softmax along ``axis`` (max-subtracted), same shape and dtype."""
    y = launch.empty(x.shape, x.dtype)
    x3, y3 = _as_pkq(x, axis), _as_pkq(y, axis)
    blocks, threads = launch.grid(x3.shape[0] * x3.shape[2])
    launch.at(_softmax_rows, blocks, threads)(x3, y3)
    return y


def softmax_backward(grad, a, axis=-1):
    """grad, a = softmax output (same shape) -> gradient w.r.t. the softmax input, a's dtype."""
    dz = launch.empty(a.shape, a.dtype)
    a3 = _as_pkq(a, axis)
    blocks, threads = launch.grid(a3.shape[0] * a3.shape[2])
    launch.at(_softmax_backward_rows, blocks, threads)(_as_pkq(grad, axis), a3, _as_pkq(dz, axis))
    return dz


@cuda.jit(cache=True)
def _log_softmax_rows(x, y):
    """x (P,K,Q) -> y (P,K,Q) = (x - max) - log(sum(exp(x - max))) along K, one thread per (p, q)."""
    p_, k_, q_ = x.shape
    t = cuda.grid(1)
    if t < p_ * q_:
        p = t // q_
        q = t % q_
        mx = float64(x[p, 0, q])
        for k in range(1, k_):
            mx = max(mx, float64(x[p, k, q]))
        s = 0.0
        for k in range(k_):
            s += math.exp(float64(x[p, k, q]) - mx)
        lse = math.log(s)
        for k in range(k_):
            y[p, k, q] = (float64(x[p, k, q]) - mx) - lse


@cuda.jit(cache=True)
def _log_softmax_backward_rows(g, a, dz):
    """g, a (P,K,Q) -> dz = g - exp(a) * sum_K(g), one thread per (p, q)."""
    p_, k_, q_ = a.shape
    t = cuda.grid(1)
    if t < p_ * q_:
        p = t // q_
        q = t % q_
        total = 0.0
        for k in range(k_):
            total += float64(g[p, k, q])
        for k in range(k_):
            dz[p, k, q] = float64(g[p, k, q]) - math.exp(float64(a[p, k, q])) * total


def log_softmax_forward(x, axis=-1):
    """x (any shape) -> log(softmax(x)) along ``axis`` (max-subtracted), same shape and dtype."""
    y = launch.empty(x.shape, x.dtype)
    x3, y3 = _as_pkq(x, axis), _as_pkq(y, axis)
    blocks, threads = launch.grid(x3.shape[0] * x3.shape[2])
    launch.at(_log_softmax_rows, blocks, threads)(x3, y3)
    return y


def log_softmax_backward(grad, a, axis=-1):
    """grad, a = log_softmax output (same shape) -> gradient w.r.t. the input, a's dtype."""
    dz = launch.empty(a.shape, a.dtype)
    a3 = _as_pkq(a, axis)
    blocks, threads = launch.grid(a3.shape[0] * a3.shape[2])
    launch.at(_log_softmax_backward_rows, blocks, threads)(_as_pkq(grad, axis), a3, _as_pkq(dz, axis))
    return dz


@cuda.jit(cache=True)
def _prelu(x, alpha, aidx, y):
    """x, y (N*K,) -> y = x for x > 0, alpha[aidx[k]] * x otherwise."""
    t = cuda.grid(1)
    if t < x.shape[0]:
        v = x[t]
        y[t] = v if v > 0 else alpha[aidx[t % aidx.shape[0]]] * v


@cuda.jit(cache=True)
def _prelu_input_grad(x, g, alpha, aidx, dx):
    """dx (N*K,) = g for x > 0, alpha * g for x < 0, 0 at x = 0."""
    t = cuda.grid(1)
    if t < x.shape[0]:
        v = x[t]
        if v > 0:
            dx[t] = g[t]
        elif v < 0:
            dx[t] = alpha[aidx[t % aidx.shape[0]]] * g[t]
        else:
            dx[t] = 0


@cuda.jit(cache=True)
def _prelu_alpha_grad(x, g, group_ptr, group_pos, dalpha):
    """x, g (N,K) -> dalpha[a] = sum over samples and the positions of group a of g * min(x, 0)."""
    a = cuda.grid(1)
    if a < dalpha.shape[0]:
        acc = 0.0
        for p in range(group_ptr[a], group_ptr[a + 1]):
            k = group_pos[p]
            for i in range(x.shape[0]):
                v = float64(x[i, k])
                if v < 0.0:
                    acc += float64(g[i, k]) * v
        dalpha[a] = acc


def prelu_forward(x, alpha, aidx):
    """x (N,...) with K = prod(x.shape[1:]), alpha (A,), aidx (K,) -> y = max(x, 0) + alpha * min(x, 0)."""
    y = launch.empty(x.shape, x.dtype)
    blocks, threads = launch.grid(x.size)
    launch.at(_prelu, blocks, threads)(x.reshape(-1), alpha, aidx, y.reshape(-1))
    return y


def prelu_backward(x, grad, alpha, aidx, group_ptr, group_pos):
    """x, grad (N,...), alpha (A,), aidx (K,), group_ptr (A+1,), group_pos (K,) -> dx, dalpha (A,) float64."""
    dx = launch.empty(x.shape, x.dtype)
    blocks, threads = launch.grid(x.size)
    launch.at(_prelu_input_grad, blocks, threads)(x.reshape(-1), grad.reshape(-1), alpha, aidx,
                                                        dx.reshape(-1))
    n = x.shape[0]
    dalpha = launch.empty(alpha.shape[0], np.float64)
    blocks, threads = launch.grid(alpha.shape[0])
    launch.at(_prelu_alpha_grad, blocks, threads)(x.reshape(n, -1), grad.reshape(n, -1), group_ptr,
                                                        group_pos, dalpha)
    return dx, dalpha
