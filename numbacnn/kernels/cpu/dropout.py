"""Inverted dropout (kept values scaled by 1/(1 - rate), so that inference is the identity), Gaussian noise
and dropout, and the gradient of an activity regularization."""

import numpy as np
from numba import njit, prange

__all__ = ["dropout_forward", "dropout_backward", "gaussian_noise_forward", "gaussian_dropout_forward",
           "activity_regularization_backward"]


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


@njit(parallel=True, cache=True, nogil=True)
def _add_noise(x, z, stddev, y):
    """x, z (M,) -> y (M,) = x + stddev * z."""
    for i in prange(x.shape[0]):
        y[i] = x[i] + stddev * z[i]


@njit(parallel=True, cache=True, nogil=True)
def _multiply_noise(x, z, stddev, y, mask):
    """x, z (M,) -> mask = 1 + stddev * z, y = x * mask."""
    for i in prange(x.shape[0]):
        m = 1.0 + stddev * z[i]
        mask[i] = m
        y[i] = x[i] * mask[i]


def gaussian_noise_forward(x, normal, stddev):
    """x, standard normal draws (same shape) -> y = x + stddev * normal (GaussianNoise); the gradient is
    the identity."""
    x = np.ascontiguousarray(x)
    z = np.ascontiguousarray(normal, dtype=x.dtype)
    y = np.empty_like(x)
    _add_noise(x.reshape(-1), z.reshape(-1), x.dtype.type(stddev), y.reshape(-1))
    return y


def gaussian_dropout_forward(x, normal, stddev):
    """x, standard normal draws (same shape) -> y = x * mask, mask = 1 + stddev * normal (GaussianDropout);
    the input gradient is ``dropout_backward(grad, mask)``."""
    x = np.ascontiguousarray(x)
    z = np.ascontiguousarray(normal, dtype=x.dtype)
    y = np.empty_like(x)
    mask = np.empty_like(x)
    _multiply_noise(x.reshape(-1), z.reshape(-1), x.dtype.type(stddev), y.reshape(-1), mask.reshape(-1))
    return y, mask


@njit(parallel=True, cache=True, nogil=True)
def _activity_grad(x, g, l1, l2, dx):
    """dx (M,) = g + l1 * sign(x) + 2 * l2 * x (l1, l2 already divided by the batch size)."""
    for i in prange(x.shape[0]):
        v = x[i]
        s = 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)
        dx[i] = g[i] + (l1 * s + 2.0 * l2 * v)


def activity_regularization_backward(x, grad, l1, l2, batch):
    """x, grad (same shape) -> grad + d/dx of (l1 * sum|x| + l2 * sum x^2) / batch, x's dtype (Keras divides
    an activity regularizer's loss by the batch size)."""
    x = np.ascontiguousarray(x)
    g = np.ascontiguousarray(grad, dtype=x.dtype)
    dx = np.empty_like(x)
    _activity_grad(x.reshape(-1), g.reshape(-1), float(l1) / batch, float(l2) / batch, dx.reshape(-1))
    return dx
