"""Direct convolution for few filters at stride 1: the route the forward and the weight gradient take
when a matrix product would be too narrow to pay.

With F filters the im2col route multiplies a (pixels, taps*C) matrix by a (taps*C, F) one; for F = 6
(LeNet-5's first layer) the BLAS kernel runs at a tenth of its speed. Here instead the input is copied
once, channels first and zero-padded, to ``xp`` (N, C, Dp, Hp, Wp), and each output position p is
numbered on the padded grid, p = (od*Hp + oh)*Wp + ow. A kernel tap at (a, b, e) then reads the input
at p plus a constant, ``offs[tap]``, for every p at once, so one filter's output over a stretch of p is a
sum of shifted input rows times scalars: contiguous loops that LLVM vectorises, four taps per pass over
an accumulator that stays in L1. The positions with oh >= OH or ow >= OW (the last columns and rows of
the padded grid) are computed and dropped, a few percent of the work. The epilogue (bias, batch-norm,
relu or tanh) is applied to the accumulator along the positions, in vector lanes, before the valid
positions are written out to y. At inference a pooling whose windows are its strides can follow in the
same task (``_conv_planar_pooled``): the stretch is then whole rows of pooling windows, and only the
windows' maxima or means are written.

Measured on 2 cores against the blocked im2col route (which copies runs of kw*C values when C > 1),
at inference, b32 / b128: LeNet-5's first convolution (C=1, F=6, 5x5) 2.5x / 3.0x, C=3 F=8 3x3 1.5x /
1.6x, C=4 F=12 5x5 1.5x / 1.8x, C=8 F=8 3x3 1.2x / 1.3x; with 16 filters 0.72-1.38x by shape (LeNet-5's
second convolution, C=6, 0.72x / 0.83x), with 32 or more, or more than 256 taps times channels, the
matrix product was as fast or faster. So the direct route takes up to 12 filters.

Training keeps the padded planar input instead of a column matrix, and the weight gradient is a dot
product per (tap, channel, filter) and sample: the filter's gradient laid on the same padded grid
(zeros where no output is) against the input plane shifted by the tap's offset. Those are long
contiguous loops; compiled with ``reassoc`` their sums run in vector lanes. Forward and weight
gradient together, against im2col and a product (b128 / b32): LeNet-5's first layer 2.1x / 2.0x,
F=12 C=3 3x3 1.4x / 1.3x, F=8 1.0-2.1x; with 16 filters 0.6-1.2x.
"""

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

from .blas import reduction_parts
from .conv_epilogue import _epilogue_planar
from .workspace import workspace_give, workspace_take

__all__ = []

_MAX_FILTERS = 12  # with 16 either route won by shape, in training and at inference (below)
_MAX_TAPS_CHANNELS = 256
_ACC_FLOATS = 8192  # accumulator values per thread (32 KiB of float32): one filter's stretch stays in L1


def direct_applies(c, f, ksize, strides, pb, pa):
    """Whether the direct route is the faster one for C input channels, F filters and this geometry (the
    same rule for the forward alone, at inference, and for forward and weight gradient, in training)."""
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


@njit(cache=True, nogil=True, error_model="numpy")
def _stretch(xs, wt, offs, p0, m, a, bias, scale, shift, act):
    """a[f, :m] = the epilogue of filter f's output at the padded-grid positions p0 ... p0 + m - 1 of one
    sample, xs (C, Dp*Hp*Wp): its channels' shifted rows accumulated, then ``_epilogue_planar``."""
    for f in range(wt.shape[0]):
        af = a[f]
        af[:m] = 0
        for c in range(xs.shape[0]):
            _accumulate(xs[c], af, m, wt[f, c], offs, p0)
    _epilogue_planar(a, m, bias, scale, shift, act)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _conv_planar(xp, wt, offs, bias, scale, shift, act, y, acc, tile, padded, out_size):
    """y (N*OD*OH*OW, F) = epilogue(conv), from xp (N, C, Dp*Hp*Wp) and wt (F, C, taps).

    One task per sample and stretch of ``tile`` positions of the padded grid; its accumulator is this
    thread's ``acc`` (F, tile), where the epilogue is applied along the positions (in vector lanes,
    the tanh too) before the valid ones are written out."""
    n_, f_ = xp.shape[0], wt.shape[0]
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
        _stretch(xp[n], wt, offs, p0, m, a, bias, scale, shift, act)
        od = p0 // plane  # the position p0 + i on the padded grid is (od, oh, ow), stepped along
        oh = (p0 - od * plane) // wp
        ow = p0 - od * plane - oh * wp
        for i in range(m):
            if oh < oh_ and ow < ow_:
                out = y[n * per_sample + (od * oh_ + oh) * ow_ + ow]
                for f in range(f_):
                    out[f] = a[f, i]
            ow += 1
            if ow == wp:
                ow = 0
                oh += 1
                if oh == hp:
                    oh = 0
                    od += 1


@njit(cache=True, nogil=True, inline="always")
def _pool_2x2(af, base, wp, out, f, average):
    """out[q, f] = the max, or mean, of the 2x2 window q of the planar row af from ``base`` (row pitch
    wp): the cells in row-major order, with the general loop's arithmetic, unrolled."""
    for q in range(out.shape[0]):
        c = base + 2 * q
        v0, v1, v2, v3 = af[c], af[c + 1], af[c + wp], af[c + wp + 1]
        if average:
            out[q, f] = ((((af.dtype.type(0) + v0) + v1) + v2) + v3) / 4
        else:
            best = v0
            for v in (v1, v2, v3):
                if v > best or (np.isnan(v) and not np.isnan(best)):
                    best = v
            out[q, f] = best


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _conv_planar_pooled(xp, wt, offs, bias, scale, shift, act, y, acc, rows_per_task, padded, out_size, pool,
                        pooled_size, average):
    """``_conv_planar`` followed by a pooling whose windows are its strides and one plane deep
    (pool[0] == 1): y (N*OD*PH*PW, F) the windows' maxima, or means with ``average``.

    A task takes ``rows_per_task`` pooled rows of one sample and plane: it accumulates their pool[1]
    conv rows each on the padded grid (up to the last valid position), applies the epilogue along the
    positions (``_epilogue_planar``, in vector lanes) and writes only the pooled values, each window
    visited in row-major order with ``pool_max_forward``'s comparison or ``pool_avg_forward``'s sum
    and division, so the result is theirs to the bit. The conv output is never written."""
    n_, f_ = xp.shape[0], wt.shape[0]
    od_, _, ow_ = out_size
    _, ph_, pw_ = pooled_size
    hp, wp = padded[1], padded[2]
    count = pool[1] * pool[2]
    groups = (ph_ + rows_per_task - 1) // rows_per_task
    for task in prange(n_ * od_ * groups):
        g = task % groups
        od = (task // groups) % od_
        n = task // (groups * od_)
        r0 = g * rows_per_task
        r1 = min(ph_, r0 + rows_per_task)
        p0 = (od * hp + r0 * pool[1]) * wp
        m = ((r1 - r0) * pool[1] - 1) * wp + ow_  # up to the last valid position of the last conv row
        a = acc[get_thread_id()]
        _stretch(xp[n], wt, offs, p0, m, a, bias, scale, shift, act)
        for ph in range(r0, r1):
            base = (ph - r0) * pool[1] * wp
            out = y[((n * od_ + od) * ph_ + ph) * pw_:((n * od_ + od) * ph_ + ph + 1) * pw_]
            for f in range(f_):
                af = a[f]
                if pool[1] == 2 and pool[2] == 2:  # LeNet's and most CNNs' window, unrolled
                    _pool_2x2(af, base, wp, out, f, average)
                    continue
                for q in range(pw_):
                    first = base + q * pool[2]
                    if average:
                        total = af.dtype.type(0)
                        for dh in range(pool[1]):
                            for e in range(pool[2]):
                                total += af[first + dh * wp + e]
                        out[q, f] = total / count
                    else:
                        best = af[first]
                        for dh in range(pool[1]):
                            for e in range(pool[2]):
                                v = af[first + dh * wp + e]
                                if v > best or (np.isnan(v) and not np.isnan(best)):
                                    best = v
                        out[q, f] = best


def _tile(f):
    """Positions per accumulator block for F filters: F * tile values stay within ``_ACC_FLOATS``."""
    return max(1, min(2048, _ACC_FLOATS // f))


def padded_size(x5, pb, pa):
    """(Dp, Hp, Wp): x5's (N,D,H,W,C) spatial size with its padding."""
    return tuple(int(s + b + a) for s, b, a in zip(x5.shape[1:4], pb, pa))


def _offsets(ksize, dilation, padded):
    """The offset on the padded grid of each kernel tap, in the kernel's (a, b, e) order."""
    return np.array([(a * dilation[0] * padded[1] + b * dilation[1]) * padded[2] + e * dilation[2]
                     for a in range(ksize[0]) for b in range(ksize[1]) for e in range(ksize[2])],
                    dtype=np.int64)


def forward_direct(x5, wmat, y, ksize, dilation, pb, pa, out, post, keep=False):
    """y (N*OD*OH*OW, F) = the stride-1 convolution of x5 (N,D,H,W,C) with wmat (taps*C, F), the
    epilogue ``post`` = (bias, scale, shift, act) applied. With ``keep`` it returns the padded planar
    input (N, C, Dp, Hp, Wp), a workspace buffer, for ``weights_direct``; otherwise None."""
    n, c, f = x5.shape[0], x5.shape[-1], wmat.shape[1]
    padded = padded_size(x5, pb, pa)
    taps = wmat.shape[0] // c
    wt = np.ascontiguousarray(wmat.reshape(taps, c, f).transpose(2, 1, 0))
    xp = pad_planar(x5, pb, pa)
    tile = _tile(f)
    acc = workspace_take((get_num_threads(), f, tile), x5.dtype)
    _conv_planar(xp.reshape(n, c, -1), wt, _offsets(ksize, dilation, padded), *post, y, acc, tile, padded,
                 out)
    workspace_give(acc)
    if keep:
        return xp
    workspace_give(xp)
    return None


def _pooled_rows_per_task(n, out, pool, pooled, padded, f):
    """Pooled rows per task of ``_conv_planar_pooled``: as many as fit the accumulator, and enough tasks
    for every thread; 0 when one pooled row's conv rows do not fit (or the window is deeper than one
    plane), and the pooling is then a pass of its own."""
    tile = _tile(f)
    wp = padded[2]
    fit = ((tile - out[2]) // wp + 1) // pool[1]
    if pool[0] != 1 or fit < 1:
        return 0
    tasks_wanted = 2 * get_num_threads()
    return max(1, min(fit, -(-(n * out[0] * pooled[1]) // tasks_wanted)))


def forward_direct_pooled(x5, wmat, y, ksize, dilation, pb, pa, out, post, pool, pooled, average):
    """y (N*PD*PH*PW, F) = the stride-1 convolution of x5 with the epilogue ``post``, pooled by windows
    ``pool`` (3 values, their own strides, no padding; the pooled size ``pooled``): maxima, or means
    with ``average``. False, with y untouched, where ``_pooled_rows_per_task`` finds it does not fit."""
    n, c, f = x5.shape[0], x5.shape[-1], wmat.shape[1]
    padded = padded_size(x5, pb, pa)
    rows = _pooled_rows_per_task(n, out, pool, pooled, padded, f)
    if rows == 0:
        return False
    taps = wmat.shape[0] // c
    wt = np.ascontiguousarray(wmat.reshape(taps, c, f).transpose(2, 1, 0))
    xp = pad_planar(x5, pb, pa)
    tile = _tile(f)
    acc = workspace_take((get_num_threads(), f, tile), x5.dtype)
    _conv_planar_pooled(xp.reshape(n, c, -1), wt, _offsets(ksize, dilation, padded), *post, y, acc, rows,
                        padded, out, pool, pooled, average)
    workspace_give(acc)
    workspace_give(xp)
    return True


def pad_planar(x5, pb, pa):
    """x5 (N,D,H,W,C) channels first and zero-padded: a workspace buffer (N, C, Dp, Hp, Wp)."""
    xp = workspace_take((x5.shape[0], x5.shape[-1]) + padded_size(x5, pb, pa), x5.dtype)
    _pad_planar(x5, xp, pb)
    return xp


@njit(parallel=True, cache=True, nogil=True)
def _grad_planar(g, gp, out_size, padded):
    """g (N, OD*OH*OW, F) -> gp (N, F, span): each filter's gradient on the padded grid's numbering of
    ``_conv_planar``, zero at the positions that are no output."""
    n_, _, f_ = g.shape
    od_, oh_, ow_ = out_size
    hp, wp = padded[1], padded[2]
    for n in prange(n_):
        gp[n] = 0
        q = 0
        for od in range(od_):
            for oh in range(oh_):
                p = (od * hp + oh) * wp
                for ow in range(ow_):
                    src = g[n, q]
                    for f in range(f_):
                        gp[n, f, p + ow] = src[f]
                    q += 1


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _dots4(g0, g1, g2, g3, s):
    """(g0.s, g1.s, g2.s, g3.s): one pass over s for four filters. ``reassoc`` lets LLVM keep the sums
    in vector lanes (a fixed order, so still deterministic); without it a float sum stays scalar."""
    a0 = a1 = a2 = a3 = s.dtype.type(0)
    for i in range(s.shape[0]):
        v = s[i]
        a0 += g0[i] * v
        a1 += g1[i] * v
        a2 += g2[i] * v
        a3 += g3[i] * v
    return a0, a1, a2, a3


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _dot(g, s):
    a = s.dtype.type(0)
    for i in range(s.shape[0]):
        a += g[i] * s[i]
    return a


@njit(parallel=True, cache=True, nogil=True)
def _weights_planar(xp, gp, offs, partial):
    """partial[p] (taps, C, F), float64 = the weight gradient over part p of len(partial) equal parts
    of the samples: for each tap t, channel c and filter f the dot product of gp[n, f] with the input
    plane xp[n, c] shifted by offs[t], a sample's sum in float32 lanes, added in float64."""
    n_, c_, _ = xp.shape
    f_, span = gp.shape[1], gp.shape[2]
    parts = partial.shape[0]
    for part in prange(parts):
        acc = partial[part]
        acc[:] = 0
        for n in range(n_ * part // parts, n_ * (part + 1) // parts):
            g = gp[n]
            for c in range(c_):
                plane = xp[n, c]
                for t in range(offs.shape[0]):
                    s = plane[offs[t]:offs[t] + span]
                    out = acc[t, c]
                    f = 0
                    while f + 4 <= f_:
                        d0, d1, d2, d3 = _dots4(g[f], g[f + 1], g[f + 2], g[f + 3], s)
                        out[f] += d0
                        out[f + 1] += d1
                        out[f + 2] += d2
                        out[f + 3] += d3
                        f += 4
                    while f < f_:
                        out[f] += _dot(g[f], s)
                        f += 1


def weights_direct(xp, grad, ksize, dilation, out):
    """dw (taps*C, F) of the stride-1 convolution whose padded planar input ``pad_planar`` made (xp) and
    whose output gradient is grad (N*OD*OH*OW, F): no column matrix, one vectorised dot product of
    contiguous rows per (tap, channel, filter) and sample."""
    n, c = xp.shape[0], xp.shape[1]
    padded = xp.shape[2:]
    f = grad.shape[-1]
    hp, wp = padded[1], padded[2]
    span = ((out[0] - 1) * hp + out[1] - 1) * wp + out[2]
    gp = workspace_take((n, f, span), grad.dtype)
    _grad_planar(grad.reshape(n, -1, f), gp, out, padded)
    offs = _offsets(ksize, dilation, padded)
    partial = np.empty((reduction_parts(n), offs.shape[0], c, f), dtype=np.float64)  # not per thread
    _weights_planar(xp.reshape(n, c, -1), gp, offs, partial)
    workspace_give(gp)
    dw = partial[0]
    for p in range(1, partial.shape[0]):
        dw = dw + partial[p]
    return dw.reshape(-1, f).astype(grad.dtype)
