"""Batch normalisation on the GPU over channels-last rows: x (M,C), statistics per channel (column).

The twin of ``kernels.cpu.normalization``. Per-channel sums are reduced in two deterministic steps, as
on the CPU: the rows are cut into B blocks and one thread per (block, channel) sums its block in float64
into a partial (B,2,C) (neighbouring threads read neighbouring channels, so the reads coalesce); then one
thread per channel adds the B partials and finishes the per-channel values. The variance is biased and
computed in two passes, the second corrected by the residual sum of the centred values. Array elements
are promoted with ``float64(...)`` where Numba would promote them implicitly, so that the CUDA simulator
(which follows NumPy's scalar rules) computes the same.
"""

import math

import numpy as np
from numba import cuda, float64

from . import launch

__all__ = ["batchnorm_forward_train", "batchnorm_forward_infer", "batchnorm_backward_train",
           "batchnorm_backward_infer", "batchnorm_infer_affine"]

_BLOCKS = 512  # row blocks B (at most M) of a reduction: B * C threads sum, then C threads add B partials


def _launch(kernel, n, *args):
    blocks, threads = launch.grid(n)
    kernel[blocks, threads, launch.stream()](*args)


def _channels(n):
    """A float64 (n,) device array per channel."""
    return launch.empty(n, np.float64)


@cuda.jit(cache=True)
def _block_sums(x, center, centered, size, partial):
    """x (M,C), center (C,) -> partial (B,2,C): per block of ``size`` rows, sums of d and d * d where
    d = x - center, or d = x when not ``centered`` (center is then not read)."""
    n_blocks, _, c_ = partial.shape
    t = cuda.grid(1)
    if t < n_blocks * c_:
        blk = t // c_
        c = t % c_
        s1 = 0.0
        s2 = 0.0
        for i in range(blk * size, min((blk + 1) * size, x.shape[0])):
            d = float64(x[i, c]) - center[c] if centered else float64(x[i, c])
            s1 += d
            s2 += d * d
        partial[blk, 0, c] = s1
        partial[blk, 1, c] = s2


@cuda.jit(cache=True)
def _block_grad_sums(g, x, mean, inv_std, size, partial):
    """g, x (M,C) -> partial (B,2,C): per block of ``size`` rows, sums of g and g * (x - mean) * inv_std."""
    n_blocks, _, c_ = partial.shape
    t = cuda.grid(1)
    if t < n_blocks * c_:
        blk = t // c_
        c = t % c_
        s1 = 0.0
        s2 = 0.0
        for i in range(blk * size, min((blk + 1) * size, x.shape[0])):
            gi = float64(g[i, c])
            s1 += gi
            s2 += gi * ((float64(x[i, c]) - mean[c]) * inv_std[c])
        partial[blk, 0, c] = s1
        partial[blk, 1, c] = s2


@cuda.jit(device=True)
def _sum_blocks(partial, k, c):
    """sum over blocks of partial[:, k, c]."""
    s = 0.0
    for blk in range(partial.shape[0]):
        s += partial[blk, k, c]
    return s


@cuda.jit(cache=True)
def _finish_mean(partial, m, mean):
    """partial (B,2,C) of x -> mean (C,) = sum / m."""
    c = cuda.grid(1)
    if c < mean.shape[0]:
        mean[c] = _sum_blocks(partial, 0, c) / m


@cuda.jit(cache=True)
def _finish_train(partial, m, gamma, beta, mean, epsilon, var, inv_std, scale, shift):
    """partial (B,2,C) of x - mean -> biased var, inv_std (C,) float64, scale = gamma * inv_std and
    shift = beta - mean * scale (C,) in x's dtype."""
    c = cuda.grid(1)
    if c < mean.shape[0]:
        s1 = _sum_blocks(partial, 0, c)
        s2 = _sum_blocks(partial, 1, c)
        v = (s2 - s1 * s1 / m) / m
        if v < 0.0:
            v = 0.0
        var[c] = v
        inv = 1.0 / math.sqrt(v + epsilon)
        inv_std[c] = inv
        sc = float64(gamma[c]) * inv
        scale[c] = sc
        shift[c] = float64(beta[c]) - mean[c] * sc


@cuda.jit(cache=True)
def _moving_params(gamma, moving_mean, moving_variance, epsilon, mean, inv_std, scale):
    """Moving statistics (C,) -> mean, inv_std = 1 / sqrt(variance + epsilon) (C,) float64 and
    scale = gamma * inv_std (C,) in scale's dtype."""
    c = cuda.grid(1)
    if c < mean.shape[0]:
        inv = 1.0 / math.sqrt(float64(moving_variance[c]) + epsilon)
        mean[c] = moving_mean[c]
        inv_std[c] = inv
        scale[c] = float64(gamma[c]) * inv


@cuda.jit(cache=True)
def _shift(gamma, beta, mean, inv_std, shift):
    """shift (C,) = beta - mean * (gamma * inv_std), in float64 and stored in shift's dtype."""
    c = cuda.grid(1)
    if c < shift.shape[0]:
        shift[c] = float64(beta[c]) - mean[c] * (float64(gamma[c]) * inv_std[c])


@cuda.jit(cache=True)
def _finish_grads(partial, m, gamma, inv_std, dgamma, dbeta, k, mean_g, mean_gxhat):
    """partial (B,2,C) of g and g * xhat -> dbeta, dgamma (C,) and the input-gradient factors
    k = gamma * inv_std, mean_g = dbeta / m, mean_gxhat = dgamma / m (C,), all float64."""
    c = cuda.grid(1)
    if c < dgamma.shape[0]:
        sum_g = _sum_blocks(partial, 0, c)
        sum_gxhat = _sum_blocks(partial, 1, c)
        dbeta[c] = sum_g
        dgamma[c] = sum_gxhat
        k[c] = float64(gamma[c]) * inv_std[c]
        mean_g[c] = sum_g / m
        mean_gxhat[c] = sum_gxhat / m


@cuda.jit(cache=True)
def _finish_weight_grads(partial, dgamma, dbeta):
    """partial (B,2,C) of g and g * xhat -> dbeta, dgamma (C,) float64."""
    c = cuda.grid(1)
    if c < dgamma.shape[0]:
        dbeta[c] = _sum_blocks(partial, 0, c)
        dgamma[c] = _sum_blocks(partial, 1, c)


@cuda.jit(cache=True)
def _affine(x, scale, shift, y):
    """y (M,C) = x * scale[c] + shift[c], one thread per element."""
    t = cuda.grid(1)
    c_ = x.shape[1]
    if t < x.shape[0] * c_:
        i = t // c_
        c = t % c_
        y[i, c] = x[i, c] * scale[c] + shift[c]


@cuda.jit(cache=True)
def _scale_columns(g, scale, dx):
    """dx (M,C) = g * scale[c], one thread per element."""
    t = cuda.grid(1)
    c_ = g.shape[1]
    if t < g.shape[0] * c_:
        i = t // c_
        c = t % c_
        dx[i, c] = g[i, c] * scale[c]


@cuda.jit(cache=True)
def _bn_input_grad(x, g, mean, inv_std, k, mean_g, mean_gxhat, dx):
    """dx (M,C) = k * (g - mean_g - xhat * mean_gxhat), xhat = (x - mean) * inv_std; a thread per element."""
    t = cuda.grid(1)
    c_ = x.shape[1]
    if t < x.shape[0] * c_:
        i = t // c_
        c = t % c_
        xhat = (float64(x[i, c]) - mean[c]) * inv_std[c]
        dx[i, c] = k[c] * (float64(g[i, c]) - mean_g[c] - xhat * mean_gxhat[c])


def _partial(x):
    """Rows per block and an empty float64 partial (B,2,C) for x (M,C)."""
    m, c = x.shape
    n_blocks = max(1, min(m, _BLOCKS))
    size = (m + n_blocks - 1) // n_blocks
    return size, launch.empty((n_blocks, 2, c), np.float64)


def _grad_partial(x, grad, mean, inv_std):
    """The filled (B,2,C) partial sums of grad and grad * xhat."""
    size, partial = _partial(x)
    _launch(_block_grad_sums, partial.shape[0] * x.shape[1], grad, x, mean, inv_std, size, partial)
    return partial


def batchnorm_forward_train(x, gamma, beta, epsilon):
    """x (M,C), gamma, beta (C,) -> y (M,C), batch mean, biased batch variance, inv_std (C,) float64.

    inv_std = 1 / sqrt(variance + epsilon).
    """
    m, c = x.shape
    size, partial = _partial(x)
    mean, var, inv_std = _channels(c), _channels(c), _channels(c)
    _launch(_block_sums, partial.shape[0] * c, x, mean, False, size, partial)
    _launch(_finish_mean, c, partial, m, mean)
    _launch(_block_sums, partial.shape[0] * c, x, mean, True, size, partial)
    scale, shift = launch.empty(c, x.dtype), launch.empty(c, x.dtype)
    _launch(_finish_train, c, partial, m, gamma, beta, mean, float(epsilon), var, inv_std, scale, shift)
    y = launch.empty(x.shape, x.dtype)
    _launch(_affine, x.size, x, scale, shift, y)
    return y, mean, var, inv_std


def batchnorm_infer_affine(gamma, beta, moving_mean, moving_variance, epsilon, dtype):
    """Inference batch-norm as ``y = x * scale + shift`` per channel: (scale, shift) (C,) device arrays
    of ``dtype``, computed in float64 with scale = gamma / sqrt(moving_variance + epsilon)."""
    c = gamma.shape[0]
    mean, inv_std = _channels(c), _channels(c)
    scale, shift = launch.empty(c, dtype), launch.empty(c, dtype)
    _launch(_moving_params, c, gamma, moving_mean, moving_variance, float(epsilon), mean, inv_std, scale)
    _launch(_shift, c, gamma, beta, mean, inv_std, shift)
    return scale, shift


def _affine_in_place(x, scale, shift):
    """x (M,C) = x * scale[c] + shift[c] in place."""
    _launch(_affine, x.size, x, scale, shift, x)


def batchnorm_forward_infer(x, gamma, beta, moving_mean, moving_variance, epsilon):
    """x (M,C) normalised with the moving statistics (C,) -> y (M,C)."""
    scale, shift = batchnorm_infer_affine(gamma, beta, moving_mean, moving_variance, epsilon, x.dtype)
    y = launch.empty(x.shape, x.dtype)
    _launch(_affine, x.size, x, scale, shift, y)
    return y


def batchnorm_backward_train(x, grad, mean, inv_std, gamma):
    """x, grad (M,C), batch mean and inv_std (C,) float64, gamma (C,) -> dx (M,C), dgamma, dbeta (C,) float64.

    dgamma = sum(grad * xhat) and dbeta = sum(grad) per channel.
    """
    m, c = x.shape
    partial = _grad_partial(x, grad, mean, inv_std)
    dgamma, dbeta, k, mean_g, mean_gxhat = (_channels(c) for _ in range(5))
    _launch(_finish_grads, c, partial, m, gamma, inv_std, dgamma, dbeta, k, mean_g, mean_gxhat)
    dx = launch.empty(x.shape, x.dtype)
    _launch(_bn_input_grad, x.size, x, grad, mean, inv_std, k, mean_g, mean_gxhat, dx)
    return dx, dgamma, dbeta


def batchnorm_backward_infer(x, grad, moving_mean, moving_variance, gamma, epsilon, weight_grads=True):
    """Inference mode: x, grad (M,C) -> dx = grad * gamma * inv_std, dgamma, dbeta (C,) float64.

    With weight_grads False (a frozen layer) dgamma and dbeta are not computed and returned as None.
    """
    c = x.shape[1]
    mean, inv_std = _channels(c), _channels(c)
    scale = launch.empty(c, x.dtype)
    _launch(_moving_params, c, gamma, moving_mean, moving_variance, float(epsilon), mean, inv_std, scale)
    dx = launch.empty(x.shape, x.dtype)
    _launch(_scale_columns, x.size, grad, scale, dx)
    if not weight_grads:
        return dx, None, None
    partial = _grad_partial(x, grad, mean, inv_std)
    dgamma, dbeta = _channels(c), _channels(c)
    _launch(_finish_weight_grads, c, partial, dgamma, dbeta)
    return dx, dgamma, dbeta
