"""Inverted dropout: kept values are scaled by 1/(1 - rate) so that inference is the identity."""

import numpy as np
from numba import njit, prange

__all__ = ["dropout_forward", "dropout_backward"]


@njit(parallel=True, cache=True, nogil=True)
def _dropout_1d(x, u, keep_prob, y, mask):
    """x, u (M,) -> y, mask (M,): mask = 1/keep_prob where u < keep_prob else 0, y = x * mask."""
    scale = 1.0 / keep_prob
    for i in prange(x.shape[0]):
        m = scale if u[i] < keep_prob else 0.0
        mask[i] = m
        y[i] = x[i] * m


@njit(parallel=True, cache=True, nogil=True)
def _multiply_1d(g, mask, out):
    """out (M,) = g * mask."""
    for i in prange(g.shape[0]):
        out[i] = g[i] * mask[i]


def dropout_forward(x, uniform, rate):
    """x (any shape), uniform [0,1) draws broadcastable to x, 0 <= rate < 1 -> y, mask (x's shape and dtype).

    An element is kept when its draw is below 1 - rate (Keras's rule).
    """
    x = np.ascontiguousarray(x)
    u = np.ascontiguousarray(np.broadcast_to(uniform, x.shape), dtype=x.dtype)
    y = np.empty_like(x)
    mask = np.empty_like(x)
    _dropout_1d(x.reshape(-1), u.reshape(-1), 1.0 - float(rate), y.reshape(-1), mask.reshape(-1))
    return y, mask


def dropout_backward(grad, mask):
    """grad, mask (same shape) -> grad * mask."""
    grad = np.ascontiguousarray(grad, dtype=mask.dtype)
    out = np.empty_like(mask)
    _multiply_1d(grad.reshape(-1), mask.reshape(-1), out.reshape(-1))
    return out
