"""The per-channel epilogue that both convolution routes of ``conv_forward_infer`` apply to their
output while it is still in cache: bias, an inference batch-norm's affine, then relu or tanh.

Each step is the arithmetic of the separate kernels (a float32 bias add, batch-norm's ``_affine``, the
relu kernel, the tanh kernel's ``tanh_value``), so a fused result is bit-identical to the passes it
replaces. Training's convolution applies its bias and relu or tanh with it too (``conv_forward(...,
activation=...)``).
"""

import numpy as np
from numba import njit, prange

from .activations import ACT_LINEAR, ACT_RELU, ACT_TANH, _act_value
from .vector_math import tanh_value

__all__ = ["FUSABLE_ACTIVATIONS"]

# The activations ``conv_forward_infer`` applies in its blocks: the same scalar code as their own
# kernel, and cheap in vector lanes. Others (sigmoid, elu, ...) stay a separate pass.
FUSABLE_ACTIVATIONS = (ACT_LINEAR, ACT_RELU, ACT_TANH)


@njit(cache=True, nogil=True, inline="always")
def _activate(v, act):
    """The epilogue's activation of one value: relu (``act[0]`` ACT_RELU, parameters ``act[1:]``, the
    relu kernel's float64 arithmetic), tanh (ACT_TANH, ``tanh_value`` in v's type) or v itself."""
    if act[0] == ACT_RELU:
        return _act_value(np.float64(v), ACT_RELU, act[1], act[2], act[3])
    if act[0] == ACT_TANH:
        return tanh_value(v)
    return v


@njit(cache=True, nogil=True, error_model="numpy")
def _epilogue(out, bias, scale, shift, act):
    """out (M,F) = f(out + bias) with f: ``* scale + shift`` (when given), then relu (``act[0]``
    ACT_RELU, parameters ``act[1:]``), tanh (ACT_TANH) or nothing (ACT_LINEAR); arrays of length 0 are
    absent. Each step is the arithmetic of the separate kernels (``y += b``, batch-norm's ``_affine``,
    the relu kernel, the tanh kernel's ``tanh_value``), so the fused result is bit-identical to the
    passes it replaces."""
    m_, f_ = out.shape
    has_bias = bias.shape[0] == f_
    has_affine = scale.shape[0] == f_
    for i in range(m_):
        for j in range(f_):
            v = out[i, j]
            if has_bias:
                v += bias[j]
            if has_affine:
                v = v * scale[j] + shift[j]
            out[i, j] = _activate(v, act)


@njit(cache=True, nogil=True, error_model="numpy")
def _epilogue_planar(acc, m, bias, scale, shift, act):
    """``_epilogue`` on a planar block acc (F, >= m): filter f's first m values, along the positions
    (contiguous, so the tanh runs in vector lanes); the same arithmetic per value."""
    f_ = acc.shape[0]
    has_bias = bias.shape[0] == f_
    has_affine = scale.shape[0] == f_
    for f in range(f_):
        row = acc[f]
        b = bias[f] if has_bias else row.dtype.type(0)
        sc = scale[f] if has_affine else row.dtype.type(1)
        sh = shift[f] if has_affine else row.dtype.type(0)
        for i in range(m):
            v = row[i]
            if has_bias:
                v += b
            if has_affine:
                v = v * sc + sh
            row[i] = _activate(v, act)


@njit(parallel=True, cache=True, nogil=True)
def _epilogue_parallel(y, bias, scale, shift, act, rows_per_task):
    """``_epilogue`` over y (M,F) in blocks of rows, in parallel (after a pointwise product)."""
    m_ = y.shape[0]
    for t in prange((m_ + rows_per_task - 1) // rows_per_task):
        _epilogue(y[t * rows_per_task:min(m_, (t + 1) * rows_per_task)], bias, scale, shift, act)


def _epilogue_activation(scale, shift, activation, fusable=FUSABLE_ACTIVATIONS):
    """``conv_forward_infer``'s argument checks (both devices, each with its ``fusable`` kinds): the
    activation as ``(kind, p0, p1, p2)``, linear when None; a ValueError for scale without shift or a
    kind it cannot apply."""
    if (scale is None) != (shift is None):
        raise ValueError("conv_forward_infer: scale and shift go together")
    kind, *params = activation if activation is not None else (ACT_LINEAR,)
    if kind not in fusable:
        raise ValueError(f"conv_forward_infer: activation kind {kind} is not one it applies in its "
                         f"blocks (only {fusable})")
    return (int(kind),) + tuple(float(p) for p in params) + (0.0,) * (3 - len(params))


def _epilogue_args(dtype, bias=None, scale=None, shift=None, activation=None):
    """The epilogue's (bias, scale, shift, act): arrays of ``dtype`` (length 0 when absent) and
    ``act = (kind, p0, p1, p2)``."""
    def vector(a):
        return np.zeros(0, dtype=dtype) if a is None else np.ascontiguousarray(a, dtype=dtype)

    kind, *params = _epilogue_activation(scale, shift, activation)
    return vector(bias), vector(scale), vector(shift), (np.int64(kind), *params)
