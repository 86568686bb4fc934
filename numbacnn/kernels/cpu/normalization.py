"""Batch normalisation over channels-last rows: x (M,C), statistics per channel (column).

Per-channel sums are reduced in a fixed number of row blocks (parallel over blocks, each keeping its
own float64 accumulators and writing its own partial row); the partials are then added, so results do
not depend on the thread count. The inner loops run along the contiguous channel axis. The variance is
biased (divided by the count, as Keras's ``ops.moments``) and computed in two passes, the second
corrected by the residual sum of the centred values. The two sums the backward pass needs share a pass.
"""

import math

import numpy as np
from numba import njit, prange

__all__ = ["batchnorm_forward_train", "batchnorm_forward_infer", "batchnorm_backward_train",
           "batchnorm_backward_infer", "batchnorm_infer_affine", "group_norm_forward", "group_norm_backward"]

_BLOCKS = 64


@njit(cache=True, nogil=True)
def _zeroed_pair(c_):
    """Two float64 accumulators of length c_, zeroed by a loop: in a parallel kernel ``np.zeros`` is a
    parallel loop of its own (its own compiled loop body), and the block sums had three."""
    s1 = np.empty(c_, dtype=np.float64)
    s2 = np.empty(c_, dtype=np.float64)
    for c in range(c_):
        s1[c] = 0.0
        s2[c] = 0.0
    return s1, s2


@njit(cache=True, nogil=True)
def _store_pair(dst, s1, s2):
    """dst (2,C) = s1, s2, element by element (an array assigned to a slice compiles Numba's
    shape-mismatch message)."""
    for c in range(s1.shape[0]):
        dst[0, c] = s1[c]
        dst[1, c] = s2[c]


@njit(parallel=True, cache=True, nogil=True)
def _block_sums(x, center, n_blocks):
    """x (M,C), center (C,) -> partial (n_blocks,2,C): per row block, sums of (x - center) and its square."""
    m_, c_ = x.shape
    size = (m_ + n_blocks - 1) // n_blocks
    partial = np.empty((n_blocks, 2, c_), dtype=np.float64)
    for blk in prange(n_blocks):
        s1, s2 = _zeroed_pair(c_)
        for i in range(blk * size, min((blk + 1) * size, m_)):
            for c in range(c_):
                d = x[i, c] - center[c]
                s1[c] += d
                s2[c] += d * d
        _store_pair(partial[blk], s1, s2)
    return partial


@njit(parallel=True, cache=True, nogil=True)
def _block_grad_sums(g, x, mean, inv_std, n_blocks):
    """g, x (M,C) -> partial (n_blocks,2,C): per row block, sums of g and of g * (x - mean) * inv_std."""
    m_, c_ = x.shape
    size = (m_ + n_blocks - 1) // n_blocks
    partial = np.empty((n_blocks, 2, c_), dtype=np.float64)
    for blk in prange(n_blocks):
        s1, s2 = _zeroed_pair(c_)
        for i in range(blk * size, min((blk + 1) * size, m_)):
            for c in range(c_):
                s1[c] += g[i, c]
                s2[c] += g[i, c] * ((x[i, c] - mean[c]) * inv_std[c])
        _store_pair(partial[blk], s1, s2)
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


# ----- group (and layer) normalisation: statistics per (sample, group) ------------------------------------
@njit(parallel=True, cache=True, nogil=True)
def _group_norm(x, gamma, beta, epsilon, rms, y, mean, inv_std):
    """x (N,S,G,Cg), gamma, beta (G*Cg,) -> y (N,S,G,Cg), mean, inv_std (N,G) float64.

    Statistics over (S, Cg) per (n, g), two passes in float64; y = x * k + (beta - mean * k) with
    k = gamma * inv_std (Keras's order), or with ``rms`` (LayerNormalization(rms_scaling=True)) y = x * k.
    """
    n_, s_, g_, cg_ = x.shape
    count = s_ * cg_
    for t in prange(n_ * g_):
        b = t // g_
        gi = t % g_
        s1 = 0.0
        for s in range(s_):
            for c in range(cg_):
                s1 += x[b, s, gi, c]
        m = s1 / count
        s2 = 0.0
        for s in range(s_):
            for c in range(cg_):
                d = x[b, s, gi, c] - m
                s2 += d * d
        iv = 1.0 / math.sqrt(s2 / count + epsilon)
        mean[b, gi] = m
        inv_std[b, gi] = iv
        for s in range(s_):
            for c in range(cg_):
                ch = gi * cg_ + c
                k = np.float64(gamma[ch]) * iv
                if rms:
                    y[b, s, gi, c] = x[b, s, gi, c] * k
                else:
                    y[b, s, gi, c] = x[b, s, gi, c] * k + (beta[ch] - m * k)


@njit(parallel=True, cache=True, nogil=True)
def _group_norm_input_grad(x, g, gamma, mean, inv_std, rms, dx):
    """dx (N,S,G,Cg) of y = group_norm(x); a gather per (n, g)."""
    n_, s_, g_, cg_ = x.shape
    count = s_ * cg_
    for t in prange(n_ * g_):
        b = t // g_
        gi = t % g_
        m = mean[b, gi]
        iv = inv_std[b, gi]
        sum_gh = 0.0
        sum_ghx = 0.0
        for s in range(s_):
            for c in range(cg_):
                gh = np.float64(g[b, s, gi, c]) * gamma[gi * cg_ + c]
                sum_gh += gh
                sum_ghx += gh * (x[b, s, gi, c] if rms else (x[b, s, gi, c] - m) * iv)
        for s in range(s_):
            for c in range(cg_):
                gh = np.float64(g[b, s, gi, c]) * gamma[gi * cg_ + c]
                if rms:  # y = x * iv: dx = iv * gh - iv^3 (x - m) / count * sum(gh * x)
                    dx[b, s, gi, c] = iv * gh - iv * iv * iv * (x[b, s, gi, c] - m) / count * sum_ghx
                else:
                    xhat = (x[b, s, gi, c] - m) * iv
                    dx[b, s, gi, c] = iv * (gh - sum_gh / count - xhat * sum_ghx / count)


@njit(parallel=True, cache=True, nogil=True)
def _group_norm_weight_grads(x, g, mean, inv_std, rms, dgamma, dbeta):
    """dgamma (G*Cg,) = sum over (n, s) of g * xhat (g * x * inv_std with rms), dbeta = sum of g; a gather per
    channel."""
    n_, s_, g_, cg_ = x.shape
    for ch in prange(g_ * cg_):
        gi = ch // cg_
        c = ch % cg_
        sg = 0.0
        sgx = 0.0
        for b in range(n_):
            m = 0.0 if rms else mean[b, gi]
            iv = inv_std[b, gi]
            for s in range(s_):
                gv = np.float64(g[b, s, gi, c])
                sg += gv
                sgx += gv * (x[b, s, gi, c] - m) * iv
        dgamma[ch] = sgx
        dbeta[ch] = sg


def group_norm_forward(x, gamma, beta, epsilon, rms=False):
    """x (N,S,G,Cg), gamma, beta (G*Cg,) -> y (N,S,G,Cg), mean, inv_std (N,G) float64.

    Normalises each (sample, group) over its S * Cg values: GroupNormalization with the channels split
    into G groups of Cg, LayerNormalization as G = 1 with the normalised values in S * Cg.
    """
    x = np.ascontiguousarray(x)
    n, _, g, _ = x.shape
    y = np.empty_like(x)
    mean = np.empty((n, g), np.float64)
    inv_std = np.empty((n, g), np.float64)
    _group_norm(x, np.ascontiguousarray(gamma), np.ascontiguousarray(beta), float(epsilon), bool(rms), y,
                mean, inv_std)
    return y, mean, inv_std


def group_norm_backward(x, grad, gamma, mean, inv_std, rms=False):
    """x, grad (N,S,G,Cg), gamma (G*Cg,), the forward's mean and inv_std -> dx (x's shape and dtype),
    dgamma, dbeta (G*Cg,) float64."""
    x = np.ascontiguousarray(x)
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    dx = np.empty_like(x)
    gamma = np.ascontiguousarray(gamma)
    _group_norm_input_grad(x, grad, gamma, mean, inv_std, bool(rms), dx)
    channels = x.shape[2] * x.shape[3]
    dgamma = np.empty(channels, np.float64)
    dbeta = np.empty(channels, np.float64)
    _group_norm_weight_grads(x, grad, mean, inv_std, bool(rms), dgamma, dbeta)
    return dx, dgamma, dbeta
