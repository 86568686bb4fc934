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
           "batchnorm_backward_infer", "batchnorm_infer_affine", "group_norm_forward", "group_norm_backward"]

_BLOCKS = 512  # row blocks B (at most M) of a reduction: B * C threads sum, then C threads add B partials


def _launch(kernel, n, *args):
    blocks, threads = launch.grid(n)
    launch.at(kernel, blocks, threads)(*args)


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


# ----- group (and layer) normalisation: statistics per (sample, group) ------------------------------------
@cuda.jit(cache=True)
def _group_stats(x, epsilon, mean, inv_std):
    """x (N,S,G,Cg) -> mean, inv_std (N,G) float64: two passes per (n, g), one thread each."""
    n_, s_, g_, cg_ = x.shape
    t = cuda.grid(1)
    if t < n_ * g_:
        b = t // g_
        gi = t % g_
        count = s_ * cg_
        s1 = 0.0
        for s in range(s_):
            for c in range(cg_):
                s1 += float64(x[b, s, gi, c])
        m = s1 / count
        s2 = 0.0
        for s in range(s_):
            for c in range(cg_):
                d = float64(x[b, s, gi, c]) - m
                s2 += d * d
        mean[b, gi] = m
        inv_std[b, gi] = 1.0 / math.sqrt(s2 / count + epsilon)


@cuda.jit(cache=True)
def _group_apply(x, gamma, beta, mean, inv_std, rms, y):
    """y (N,S,G,Cg) = x * k + (beta - mean * k), k = gamma * inv_std (x * k with rms); per element."""
    n_, s_, g_, cg_ = x.shape
    t = cuda.grid(1)
    if t < x.size:
        c = t % cg_
        gi = (t // cg_) % g_
        s = (t // (cg_ * g_)) % s_
        b = t // (cg_ * g_ * s_)
        ch = gi * cg_ + c
        k = float64(gamma[ch]) * inv_std[b, gi]
        if rms:
            y[b, s, gi, c] = float64(x[b, s, gi, c]) * k
        else:
            y[b, s, gi, c] = float64(x[b, s, gi, c]) * k + (float64(beta[ch]) - mean[b, gi] * k)


@cuda.jit(cache=True)
def _group_grad_sums(x, g, gamma, mean, inv_std, rms, sums):
    """sums (N,G,2): per (n, g), sum of gh = g * gamma and of gh * xhat (gh * x with rms)."""
    n_, s_, g_, cg_ = x.shape
    t = cuda.grid(1)
    if t < n_ * g_:
        b = t // g_
        gi = t % g_
        m = mean[b, gi]
        iv = inv_std[b, gi]
        s1 = 0.0
        s2 = 0.0
        for s in range(s_):
            for c in range(cg_):
                gh = float64(g[b, s, gi, c]) * float64(gamma[gi * cg_ + c])
                s1 += gh
                if rms:
                    s2 += gh * float64(x[b, s, gi, c])
                else:
                    s2 += gh * (float64(x[b, s, gi, c]) - m) * iv
        sums[b, gi, 0] = s1
        sums[b, gi, 1] = s2


@cuda.jit(cache=True)
def _group_input_grad(x, g, gamma, mean, inv_std, sums, rms, dx):
    """dx (N,S,G,Cg) from the per-group sums; one thread per element."""
    n_, s_, g_, cg_ = x.shape
    t = cuda.grid(1)
    if t < x.size:
        c = t % cg_
        gi = (t // cg_) % g_
        s = (t // (cg_ * g_)) % s_
        b = t // (cg_ * g_ * s_)
        count = s_ * cg_
        m = mean[b, gi]
        iv = inv_std[b, gi]
        gh = float64(g[b, s, gi, c]) * float64(gamma[gi * cg_ + c])
        if rms:
            dx[b, s, gi, c] = iv * gh - iv * iv * iv * (float64(x[b, s, gi, c]) - m) / count * sums[b, gi, 1]
        else:
            xhat = (float64(x[b, s, gi, c]) - m) * iv
            dx[b, s, gi, c] = iv * (gh - sums[b, gi, 0] / count - xhat * sums[b, gi, 1] / count)


@cuda.jit(cache=True)
def _group_weight_grads(x, g, mean, inv_std, rms, dgamma, dbeta):
    """dgamma, dbeta (G*Cg,): per channel, sums over (n, s) of g * xhat and of g; one thread per channel."""
    n_, s_, g_, cg_ = x.shape
    ch = cuda.grid(1)
    if ch < g_ * cg_:
        gi = ch // cg_
        c = ch % cg_
        sg = 0.0
        sgx = 0.0
        for b in range(n_):
            m = 0.0 if rms else mean[b, gi]
            iv = inv_std[b, gi]
            for s in range(s_):
                gv = float64(g[b, s, gi, c])
                sg += gv
                sgx += gv * (float64(x[b, s, gi, c]) - m) * iv
        dgamma[ch] = sgx
        dbeta[ch] = sg


def group_norm_forward(x, gamma, beta, epsilon, rms=False):
    """x (N,S,G,Cg), gamma, beta (G*Cg,) -> y (N,S,G,Cg), mean, inv_std (N,G) float64 (see the CPU twin)."""
    n, _, g, _ = x.shape
    mean = launch.empty((n, g), np.float64)
    inv_std = launch.empty((n, g), np.float64)
    _launch(_group_stats, n * g, x, float(epsilon), mean, inv_std)
    y = launch.empty(x.shape, x.dtype)
    _launch(_group_apply, x.size, x, gamma, beta, mean, inv_std, bool(rms), y)
    return y, mean, inv_std


def group_norm_backward(x, grad, gamma, mean, inv_std, rms=False):
    """x, grad (N,S,G,Cg), gamma (G*Cg,), the forward's mean, inv_std -> dx, dgamma, dbeta (G*Cg,) float64."""
    n, _, g, cg = x.shape
    sums = launch.empty((n, g, 2), np.float64)
    _launch(_group_grad_sums, n * g, x, grad, gamma, mean, inv_std, bool(rms), sums)
    dx = launch.empty(x.shape, x.dtype)
    _launch(_group_input_grad, x.size, x, grad, gamma, mean, inv_std, sums, bool(rms), dx)
    dgamma = launch.empty(g * cg, np.float64)
    dbeta = launch.empty(g * cg, np.float64)
    _launch(_group_weight_grads, g * cg, x, grad, mean, inv_std, bool(rms), dgamma, dbeta)
    return dx, dgamma, dbeta
