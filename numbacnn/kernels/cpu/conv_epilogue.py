"""The per-channel epilogue that both convolution routes of ``conv_forward_infer`` apply to their
output while it is still in cache: bias, an inference batch-norm's affine, then relu.

Each step is the float32 arithmetic of the separate kernels (a float32 bias add, batch-norm's
``_affine``, the relu kernel), so a fused result is bit-identical to the passes it replaces. Training's
convolution applies its bias and relu with it too (``conv_forward(..., activation=...)``).
"""

import numpy as np
from numba import njit, prange

from .activations import ACT_LINEAR, ACT_RELU, _act_value

__all__ = ["FUSABLE_ACTIVATIONS"]

# The activations ``conv_forward_infer`` applies in its blocks: cheap per element, and the same scalar
# code as their own kernel. Others (tanh, sigmoid) stay a separate pass over numpy's SIMD functions.
FUSABLE_ACTIVATIONS = (ACT_LINEAR, ACT_RELU)


@njit(cache=True, nogil=True)
def _epilogue(out, bias, scale, shift, act):
    """out (M,F) = f(out + bias) with f: ``* scale + shift`` (when given), then relu (``act[0]``
    ACT_RELU, parameters ``act[1:]``) or nothing (ACT_LINEAR); arrays of length 0 are absent. Each step
    is the float32 arithmetic of the separate kernels (``y += b``, batch-norm's ``_affine``, the relu
    kernel), so the fused result is bit-identical to the three passes."""
    m_, f_ = out.shape
    has_bias = bias.shape[0] == f_
    has_affine = scale.shape[0] == f_
    relu = act[0] == ACT_RELU
    for i in range(m_):
        for j in range(f_):
            v = out[i, j]
            if has_bias:
                v += bias[j]
            if has_affine:
                v = v * scale[j] + shift[j]
            if relu:
                out[i, j] = _act_value(np.float64(v), ACT_RELU, act[1], act[2], act[3])
            else:
                out[i, j] = v


@njit(parallel=True, cache=True, nogil=True)
def _epilogue_parallel(y, bias, scale, shift, act, rows_per_task):
    """``_epilogue`` over y (M,F) in blocks of rows, in parallel (after a pointwise product)."""
    m_ = y.shape[0]
    for t in prange((m_ + rows_per_task - 1) // rows_per_task):
        _epilogue(y[t * rows_per_task:min(m_, (t + 1) * rows_per_task)], bias, scale, shift, act)


def _epilogue_activation(scale, shift, activation):
    """``conv_forward_infer``'s argument checks (both devices): the activation as ``(kind, p0, p1, p2)``,
    linear when None; a ValueError for scale without shift or a kind it cannot apply."""
    if (scale is None) != (shift is None):
        raise ValueError("conv_forward_infer: scale and shift go together")
    kind, *params = activation if activation is not None else (ACT_LINEAR,)
    if kind not in FUSABLE_ACTIVATIONS:
        raise ValueError(f"conv_forward_infer: activation kind {kind} is not one it applies in its "
                         f"blocks (only {FUSABLE_ACTIVATIONS})")
    return (int(kind),) + tuple(float(p) for p in params) + (0.0,) * (3 - len(params))


def _epilogue_args(dtype, bias=None, scale=None, shift=None, activation=None):
    """The epilogue's (bias, scale, shift, act): arrays of ``dtype`` (length 0 when absent) and
    ``act = (kind, p0, p1, p2)``."""
    def vector(a):
        return np.zeros(0, dtype=dtype) if a is None else np.ascontiguousarray(a, dtype=dtype)

    kind, *params = _epilogue_activation(scale, shift, activation)
    return vector(bias), vector(scale), vector(shift), (np.int64(kind), *params)
