"""Direct convolution for few filters at stride 1: the route ``conv_forward_infer`` takes when a matrix
product would be too narrow to pay.

With F filters the im2col route multiplies a (pixels, taps*C) matrix by a (taps*C, F) one; for F = 6
(LeNet-5's first layer) the BLAS kernel runs at a tenth of its speed. Here instead the input is copied
once, channels first and zero-padded, to ``xp`` (N, C, Dp, Hp, Wp), and each output position p is
numbered on the padded grid, p = (od*Hp + oh)*Wp + ow. A kernel tap at (a, b, e) then reads the input
at p plus a constant, ``offs[tap]``, for every p at once, so one filter's output over a stretch of p is a
sum of shifted input rows times scalars: contiguous loops that LLVM vectorises, four taps per pass over
an accumulator that stays in L1. The positions with oh >= OH or ow >= OW (the last columns and rows of
the padded grid) are computed and dropped, a few percent of the work. The valid positions of a stretch
are consecutive rows of y, where the epilogue (bias, batch-norm, relu) is applied while they are in cache.

Measured on 2 cores at batch 32 against the blocked im2col route: LeNet-5's first convolution (C=1,
F=6, 5x5) 0.20 ms instead of 0.63, its second (C=6, F=16) 0.24 instead of 0.34; with 32 or more filters,
or more than 256 taps times channels, the matrix product was as fast or faster, so those stay with it.
"""

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

from .conv_epilogue import _epilogue
from .workspace import workspace_give, workspace_take

__all__ = []

_MAX_FILTERS = 16
_MAX_TAPS_CHANNELS = 256
_ACC_FLOATS = 8192  # accumulator values per thread (32 KiB of float32): one filter's stretch stays in L1


def direct_applies(c, f, ksize, strides, pb, pa):
    """Whether the direct route is the faster one for C input channels, F filters and this geometry."""
    return (strides == (1, 1, 1) and min(pb + pa) >= 0 and f <= _MAX_FILTERS
            and c * int(np.prod(ksize)) <= _MAX_TAPS_CHANNELS)


@njit(parallel=True, cache=True, nogil=True)
def _pad_planar(x, xp, pad):
    """x (N,D,H,W,C) -> xp (N,C,Dp,Hp,Wp): channels first, x at offset ``pad`` (before) and zeros around."""
    n_, d_, h_, w_, c_ = x.shape
    for n in prange(n_):
        xp[n] = 0
        for z in range(d_):
            for y in range(h_):
                for xx in range(w_):
                    for c in range(c_):
                        xp[n, c, z + pad[0], y + pad[1], xx + pad[2]] = x[n, z, y, xx, c]


@njit(cache=True, nogil=True)
def _accumulate(src, acc, m, w, offs, p0):
    """acc[p] += sum over taps t of w[t] * src[p0 + p + offs[t]], for 0 <= p < m; four taps a pass.

    The shifted rows are taken as slices, so the loop indexes with a non-negative counter only (no
    wraparound test) and vectorises."""
    t_ = offs.shape[0]
    t = 0
    while t + 4 <= t_:
        s0 = src[p0 + offs[t]:p0 + offs[t] + m]
        s1 = src[p0 + offs[t + 1]:p0 + offs[t + 1] + m]
        s2 = src[p0 + offs[t + 2]:p0 + offs[t + 2] + m]
        s3 = src[p0 + offs[t + 3]:p0 + offs[t + 3] + m]
        w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
        for p in range(m):
            acc[p] += w0 * s0[p] + w1 * s1[p] + w2 * s2[p] + w3 * s3[p]
        t += 4
    while t < t_:
        s0 = src[p0 + offs[t]:p0 + offs[t] + m]
        w0 = w[t]
        for p in range(m):
            acc[p] += w0 * s0[p]
        t += 1


@njit(parallel=True, cache=True, nogil=True)
def _conv_planar(xp, wt, offs, bias, scale, shift, act, y, acc, tile, padded, out_size):
    """y (N*OD*OH*OW, F) = epilogue(conv), from xp (N, C, Dp*Hp*Wp) and wt (F, C, taps).

    One task per sample and stretch of ``tile`` positions of the padded grid; its accumulator is this
    thread's ``acc`` (F, tile)."""
    n_, c_, _ = xp.shape
    f_ = wt.shape[0]
    od_, oh_, ow_ = out_size
    hp, wp = padded[1], padded[2]
    plane = hp * wp
    span = ((od_ - 1) * hp + oh_ - 1) * wp + ow_  # the last valid position + 1
    stretches = (span + tile - 1) // tile
    per_sample = od_ * oh_ * ow_
    for task in prange(n_ * stretches):
        n = task // stretches
        p0 = (task - n * stretches) * tile
        m = min(tile, span - p0)
        a = acc[get_thread_id()]
        for f in range(f_):
            af = a[f]
            af[:m] = 0
            for c in range(c_):
                _accumulate(xp[n, c], af, m, wt[f, c], offs, p0)
        od = p0 // plane  # the position p0 + i on the padded grid is (od, oh, ow), stepped along
        oh = (p0 - od * plane) // wp
        ow = p0 - od * plane - oh * wp
        first = -1
        last = -1
        for i in range(m):
            if oh < oh_ and ow < ow_:
                last = n * per_sample + (od * oh_ + oh) * ow_ + ow
                if first < 0:
                    first = last
                out = y[last]
                for f in range(f_):
                    out[f] = a[f, i]
            ow += 1
            if ow == wp:
                ow = 0
                oh += 1
                if oh == hp:
                    oh = 0
                    od += 1
        if first >= 0:
            _epilogue(y[first:last + 1], bias, scale, shift, act)


def forward_direct(x5, wmat, y, ksize, dilation, pb, pa, out, post):
    """y (N*OD*OH*OW, F) = the stride-1 convolution of x5 (N,D,H,W,C) with wmat (taps*C, F), the
    epilogue ``post`` = (bias, scale, shift, act) applied."""
    n, c, f = x5.shape[0], x5.shape[-1], wmat.shape[1]
    padded = tuple(int(s + b + a) for s, b, a in zip(x5.shape[1:4], pb, pa))
    taps = wmat.shape[0] // c
    wt = np.ascontiguousarray(wmat.reshape(taps, c, f).transpose(2, 1, 0))
    offs = np.array([(a * dilation[0] * padded[1] + b * dilation[1]) * padded[2] + e * dilation[2]
                     for a in range(ksize[0]) for b in range(ksize[1]) for e in range(ksize[2])],
                    dtype=np.int64)
    xp = workspace_take((n, c) + padded, x5.dtype)
    _pad_planar(x5, xp, pb)
    tile = max(1, min(2048, _ACC_FLOATS // f))
    acc = workspace_take((get_num_threads(), f, tile), x5.dtype)
    _conv_planar(xp.reshape(n, c, -1), wt, offs, *post, y, acc, tile, padded, out)
    workspace_give(acc)
    workspace_give(xp)
