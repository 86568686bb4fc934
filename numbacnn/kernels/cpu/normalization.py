"""Batch normalisation over channels-last rows: x (M,C), statistics per channel (column).

Per-channel sums are reduced in a fixed number of row blocks (parallel over blocks, each keeping its
own float64 accumulators and writing its own partial row); the partials are then added, so results do
not depend on the thread count. The inner loops run along the contiguous channel axis. The variance is
biased (divided by the count, as Keras's ``ops.moments``) and computed in two passes, the second
corrected by the residual sum of the centred values. The two sums the backward pass needs share a pass.
"""

import numpy as np
from numba import njit, prange

__all__ = ["batchnorm_forward_train", "batchnorm_forward_infer", "batchnorm_backward_train",
           "batchnorm_backward_infer", "batchnorm_infer_affine"]

_BLOCKS = 64


@njit(parallel=True, cache=True, nogil=True)
def _block_sums(x, center, n_blocks):
    """x (M,C), center (C,) -> partial (n_blocks,2,C): per row block, sums of (x - center) and its square."""
    m_, c_ = x.shape
    size = (m_ + n_blocks - 1) // n_blocks
    partial = np.zeros((n_blocks, 2, c_), dtype=np.float64)
    for blk in prange(n_blocks):
        s1 = np.zeros(c_, dtype=np.float64)
        s2 = np.zeros(c_, dtype=np.float64)
        for i in range(blk * size, min((blk + 1) * size, m_)):
            for c in range(c_):
                d = x[i, c] - center[c]
                s1[c] += d
                s2[c] += d * d
        partial[blk, 0] = s1
        partial[blk, 1] = s2
    return partial


@njit(parallel=True, cache=True, nogil=True)
def _block_grad_sums(g, x, mean, inv_std, n_blocks):
    """g, x (M,C) -> partial (n_blocks,2,C): per row block, sums of g and of g * (x - mean) * inv_std."""
    m_, c_ = x.shape
    size = (m_ + n_blocks - 1) // n_blocks
    partial = np.zeros((n_blocks, 2, c_), dtype=np.float64)
    for blk in prange(n_blocks):
        s1 = np.zeros(c_, dtype=np.float64)
        s2 = np.zeros(c_, dtype=np.float64)
        for i in range(blk * size, min((blk + 1) * size, m_)):
            for c in range(c_):
                s1[c] += g[i, c]
                s2[c] += g[i, c] * ((x[i, c] - mean[c]) * inv_std[c])
        partial[blk, 0] = s1
        partial[blk, 1] = s2
    return partial


@njit(parallel=True, cache=True, nogil=True)
def _affine(x, scale, shift, y):
    """y (M,C) = x * scale[c] + shift[c]."""
    m_, c_ = x.shape
    for i in prange(m_):
        for c in range(c_):
            y[i, c] = x[i, c] * scale[c] + shift[c]


@njit(parallel=True, cache=True, nogil=True)
def _bn_input_grad(x, g, mean, inv_std, k, mean_g, mean_gxhat, dx):
    """dx (M,C) = k * (g - mean_g - xhat * mean_gxhat), xhat = (x - mean) * inv_std, k = gamma * inv_std."""
    m_, c_ = x.shape
    for i in prange(m_):
        for c in range(c_):
            xhat = (x[i, c] - mean[c]) * inv_std[c]
            dx[i, c] = k[c] * (g[i, c] - mean_g[c] - xhat * mean_gxhat[c])


def _n_blocks(x):
    return max(1, min(_BLOCKS, x.shape[0]))


def _moments(x):
    """Per-channel mean and biased variance (float64) of x (M,C)."""
    m = x.shape[0]
    mean = _block_sums(x, np.zeros(x.shape[1]), _n_blocks(x))[:, 0].sum(axis=0) / m
    s1, s2 = _block_sums(x, mean, _n_blocks(x)).sum(axis=0)
    return mean, np.maximum((s2 - s1 * s1 / m) / m, 0.0)


def _grad_sums(g, x, mean, inv_std):
    """Per-channel sum of g and of g * xhat (float64) for g, x (M,C)."""
    sum_g, sum_gxhat = _block_grad_sums(g, x, mean, inv_std, _n_blocks(x)).sum(axis=0)
    return sum_g, sum_gxhat


def _scale_shift(gamma, beta, mean, inv_std, dtype):
    scale = gamma * inv_std
    return scale.astype(dtype), (beta - mean * scale).astype(dtype)


def batchnorm_forward_train(x, gamma, beta, epsilon):
    """x (M,C), gamma, beta (C,) -> y (M,C), batch mean, biased batch variance, inv_std (C,) float64.

    inv_std = 1 / sqrt(variance + epsilon).
    """
    mean, var = _moments(x)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    y = np.empty_like(x)
    _affine(x, *_scale_shift(gamma, beta, mean, inv_std, x.dtype), y)
    return y, mean, var, inv_std


def batchnorm_infer_affine(gamma, beta, moving_mean, moving_variance, epsilon, dtype):
    """Inference batch-norm as ``y = x * scale + shift`` per channel: (scale, shift) (C,) of ``dtype``,
    computed in float64 with scale = gamma / sqrt(moving_variance + epsilon)."""
    inv_std = 1.0 / np.sqrt(moving_variance.astype(np.float64) + epsilon)
    return _scale_shift(gamma, beta, moving_mean, inv_std, dtype)


def batchnorm_forward_infer(x, gamma, beta, moving_mean, moving_variance, epsilon):
    """x (M,C) normalised with the moving statistics (C,) -> y (M,C)."""
    y = np.empty_like(x)
    _affine(x, *batchnorm_infer_affine(gamma, beta, moving_mean, moving_variance, epsilon, x.dtype), y)
    return y


def batchnorm_backward_train(x, grad, mean, inv_std, gamma):
    """x, grad (M,C), batch mean and inv_std (C,) float64, gamma (C,) -> dx (M,C), dgamma, dbeta (C,) float64.

    dgamma = sum(grad * xhat) and dbeta = sum(grad) per channel.
    """
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    dbeta, dgamma = _grad_sums(grad, x, mean, inv_std)
    m = x.shape[0]
    dx = np.empty_like(x)
    _bn_input_grad(x, grad, mean, inv_std, gamma * inv_std, dbeta / m, dgamma / m, dx)
    return dx, dgamma, dbeta


def batchnorm_backward_infer(x, grad, moving_mean, moving_variance, gamma, epsilon, weight_grads=True):
    """Inference mode: x, grad (M,C) -> dx = grad * gamma * inv_std, dgamma, dbeta (C,) float64.

    With weight_grads False (a frozen layer) dgamma and dbeta are not computed and returned as None.
    """
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    mean = moving_mean.astype(np.float64)
    inv_std = 1.0 / np.sqrt(moving_variance.astype(np.float64) + epsilon)
    dx = np.empty_like(x)
    _affine(grad, (gamma * inv_std).astype(x.dtype), np.zeros(x.shape[1], dtype=x.dtype), dx)
    if not weight_grads:
        return dx, None, None
    dbeta, dgamma = _grad_sums(grad, x, mean, inv_std)
    return dx, dgamma, dbeta
