"""Upsampling (nearest and bilinear) and channel slices, forward and backward, as parallel gathers.

Nearest upsampling works on 5-D views x (N,D,H,W,C): a 1-D or 2-D layer passes its data with singleton
spatial axes in front (channels-first data as (N*C,*spatial,1)); y[n, d, h, w] = x[n, d // sd, h // sh,
w // sw], Keras's ``ops.repeat`` along each axis. Its gradient sums each block of sd*sh*sw cells, the
last axis innermost (the order of TensorFlow's gradient of the repeats).

Bilinear upsampling (N,H,W,C) -> (N,OH,OW,C) is TensorFlow's ``resize_bilinear`` with half-pixel
centres, as Keras 3's ``ops.image.resize`` calls it: output index o reads the input at
``(o + 0.5) * (in / out) - 0.5`` (in the data's precision), between ``max(floor, 0)`` and
``min(ceil, in - 1)`` with weight ``in - floor(in)``. Per axis these are tables (``bilinear_table``)
computed once per call on the host. The gradient is a gather: every input cell sums, in the order of
TensorFlow's scatter (output rows, then columns, then the four corners), the outputs that read it.

Channel slices serve grouped convolutions: ``channels_take`` copies channels [start, stop) of the last
axis, ``channels_join`` concatenates arrays along it; ``channels_add`` adds a per-channel vector (a
transposed convolution's bias).

Cropping needs no kernel of its own: it is the zero padding's gradient (``reshaping.zero_pad_backward``)
and its gradient the zero padding.
"""

import numpy as np
from numba import njit, prange

__all__ = ["channels_add", "channels_join", "channels_take", "upsample_bilinear_backward",
           "upsample_bilinear_forward", "upsample_nearest_backward", "upsample_nearest_forward"]


@njit(parallel=True, cache=True, nogil=True)
def _nearest5(x, y, sd, sh, sw):
    """x (N,D,H,W,C) -> y (N,D*sd,H*sh,W*sw,C), y[n,d,h,w] = x[n, d//sd, h//sh, w//sw]; one task per
    output row (n, od, oh)."""
    w_, c_ = x.shape[3], x.shape[4]
    od_, oh_ = y.shape[1], y.shape[2]
    for p in prange(y.shape[0] * od_ * oh_):
        oh = p % oh_
        q = p // oh_
        od = q % od_
        n = q // od_
        src = x[n, od // sd, oh // sh]
        dst = y[n, od, oh]
        for w in range(w_):
            for k in range(sw):
                for c in range(c_):
                    dst[w * sw + k, c] = src[w, c]


@njit(parallel=True, cache=True, nogil=True)
def _nearest5_grad(g, dx, sd, sh, sw):
    """g (N,D*sd,H*sh,W*sw,C) -> dx (N,D,H,W,C): the sum of each sd x sh x sw block, nested as
    TensorFlow's gradient of the three repeats adds it: over W first, those sums over H, then over D.
    One task per input row (n, d, h), its partial sums over H in a row of its own."""
    n_, d_, h_, w_, c_ = dx.shape
    for p in prange(n_ * d_ * h_):
        h = p % h_
        q = p // h_
        d = q % d_
        n = q // d_
        out = dx[n, d, h]
        rows = np.empty((w_, c_), dtype=dx.dtype)  # the sums over W and H of one D slice
        for i in range(sd):
            for j in range(sh):
                row = g[n, d * sd + i, h * sh + j]
                for w in range(w_):
                    for c in range(c_):
                        acc = row[w * sw, c]
                        for k in range(1, sw):
                            acc += row[w * sw + k, c]
                        rows[w, c] = acc if j == 0 else rows[w, c] + acc
            for w in range(w_):
                for c in range(c_):
                    out[w, c] = rows[w, c] if i == 0 else out[w, c] + rows[w, c]


def upsample_nearest_forward(x, size):
    """x (N,D,H,W,C), size (sd,sh,sw) -> y (N,D*sd,H*sh,W*sw,C), each cell repeated."""
    x = np.ascontiguousarray(x)
    sd, sh, sw = (int(s) for s in size)
    n, d, h, w, c = x.shape
    y = np.empty((n, d * sd, h * sh, w * sw, c), dtype=x.dtype)
    _nearest5(x, y, sd, sh, sw)
    return y


def upsample_nearest_backward(grad, size):
    """grad (N,D*sd,H*sh,W*sw,C), size (sd,sh,sw) -> dx (N,D,H,W,C): each block's sum."""
    grad = np.ascontiguousarray(grad)
    sd, sh, sw = (int(s) for s in size)
    n, od, oh, ow, c = grad.shape
    if od % sd or oh % sh or ow % sw:
        raise ValueError(f"upsample_nearest_backward: gradient {grad.shape} is not a multiple of size {size}")
    dx = np.empty((n, od // sd, oh // sh, ow // sw, c), dtype=grad.dtype)
    _nearest5_grad(grad, dx, sd, sh, sw)
    return dx


def bilinear_table(in_size, out_size, dtype):
    """(lo, hi, lerp, first, last) for one axis of a half-pixel bilinear resize from in_size to out_size.

    Output o reads inputs lo[o] and hi[o] with weights 1 - lerp[o] and lerp[o]; input i is read by
    outputs first[i] <= o < last[i] (the gradient's gather). The arithmetic is TensorFlow's in
    ``dtype``: scale = in / out, src = (o + 0.5) * scale - 0.5.
    """
    t = np.dtype(dtype).type
    scale = t(in_size) / t(out_size)
    o = np.arange(out_size).astype(dtype)
    src = (o + t(0.5)) * scale - t(0.5)
    floor = np.floor(src)
    lo = np.maximum(floor, 0).astype(np.int64)
    hi = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
    lerp = (src - floor).astype(dtype)
    first = np.full(in_size, out_size, dtype=np.int64)
    last = np.zeros(in_size, dtype=np.int64)
    for idx in (lo, hi):
        for out_index, i in enumerate(idx):
            first[i] = min(first[i], out_index)
            last[i] = max(last[i], out_index + 1)
    last = np.maximum(last, first)
    return lo, hi, lerp, first, last


@njit(parallel=True, cache=True, nogil=True)
def _bilinear(x, y, ylo, yhi, ylerp, xlo, xhi, xlerp):
    """x (N,H,W,C) -> y (N,OH,OW,C): top = tl + (tr - tl) * xl, bottom likewise, top + (bottom - top) * yl."""
    n_ = x.shape[0]
    oh_, ow_, c_ = y.shape[1], y.shape[2], y.shape[3]
    for p in prange(n_ * oh_):
        n = p // oh_
        oh = p % oh_
        top_row = x[n, ylo[oh]]
        bottom_row = x[n, yhi[oh]]
        yl = ylerp[oh]
        for ow in range(ow_):
            left = xlo[ow]
            right = xhi[ow]
            xl = xlerp[ow]
            out = y[n, oh, ow]
            for c in range(c_):
                tl = top_row[left, c]
                bl = bottom_row[left, c]
                top = tl + (top_row[right, c] - tl) * xl
                bottom = bl + (bottom_row[right, c] - bl) * xl
                out[c] = top + (bottom - top) * yl


@njit(parallel=True, cache=True, nogil=True)
def _bilinear_grad(g, dx, ylo, yhi, ylerp, yfirst, ylast, xlo, xhi, xlerp, xfirst, xlast, one):
    """g (N,OH,OW,C) -> dx (N,H,W,C): each input cell gathers g * wy * wx of the outputs that read it,
    in TensorFlow's scatter order (output row, output column, then top-left, top-right, bottom-left,
    bottom-right)."""
    n_, h_, w_, c_ = dx.shape
    for p in prange(n_ * h_):
        n = p // h_
        i = p % h_
        for j in range(w_):
            out = dx[n, i, j]
            out[:] = 0
            for oh in range(yfirst[i], ylast[i]):
                yl = ylerp[oh]
                is_top = ylo[oh] == i
                is_bottom = yhi[oh] == i
                for ow in range(xfirst[j], xlast[j]):
                    xl = xlerp[ow]
                    is_left = xlo[ow] == j
                    is_right = xhi[ow] == j
                    src = g[n, oh, ow]
                    if is_top:
                        if is_left:
                            for c in range(c_):
                                out[c] += src[c] * (one - yl) * (one - xl)
                        if is_right:
                            for c in range(c_):
                                out[c] += src[c] * (one - yl) * xl
                    if is_bottom:
                        if is_left:
                            for c in range(c_):
                                out[c] += src[c] * yl * (one - xl)
                        if is_right:
                            for c in range(c_):
                                out[c] += src[c] * yl * xl


def upsample_bilinear_forward(x, out_size):
    """x (N,H,W,C), out_size (OH,OW) -> y (N,OH,OW,C), half-pixel bilinear (TensorFlow's resize)."""
    x = np.ascontiguousarray(x)
    n, h, w, c = x.shape
    oh, ow = (int(s) for s in out_size)
    ylo, yhi, ylerp, _, _ = bilinear_table(h, oh, x.dtype)
    xlo, xhi, xlerp, _, _ = bilinear_table(w, ow, x.dtype)
    y = np.empty((n, oh, ow, c), dtype=x.dtype)
    _bilinear(x, y, ylo, yhi, ylerp, xlo, xhi, xlerp)
    return y


def upsample_bilinear_backward(grad, input_shape):
    """grad (N,OH,OW,C), input_shape (N,H,W,C) -> dx (N,H,W,C), the gradient of the forward above."""
    grad = np.ascontiguousarray(grad)
    n, h, w, c = (int(s) for s in input_shape)
    if grad.shape[0] != n or grad.shape[3] != c:
        raise ValueError(f"upsample_bilinear_backward: gradient {grad.shape} does not match input "
                         f"{tuple(input_shape)}")
    oh, ow = grad.shape[1], grad.shape[2]
    ytab = bilinear_table(h, oh, grad.dtype)
    xtab = bilinear_table(w, ow, grad.dtype)
    dx = np.empty((n, h, w, c), dtype=grad.dtype)
    _bilinear_grad(grad, dx, *ytab, *xtab, dx.dtype.type(1))
    return dx


@njit(parallel=True, cache=True, nogil=True)
def _take(x2, y2, start):
    """x2 (M,C) -> y2 (M,K) = x2[:, start:start+K]."""
    k_ = y2.shape[1]
    for m in prange(x2.shape[0]):
        for k in range(k_):
            y2[m, k] = x2[m, start + k]


@njit(parallel=True, cache=True, nogil=True)
def _put(src2, dst2, start):
    """dst2[:, start:start+K] = src2 (M,K)."""
    k_ = src2.shape[1]
    for m in prange(src2.shape[0]):
        for k in range(k_):
            dst2[m, start + k] = src2[m, k]


def channels_take(x, start, stop):
    """x (...,C) -> y (...,stop-start) = x[..., start:stop], contiguous."""
    x = np.ascontiguousarray(x)
    c = x.shape[-1]
    if not 0 <= start < stop <= c:
        raise ValueError(f"channels_take: channels [{start}, {stop}) out of {c}")
    y = np.empty(x.shape[:-1] + (stop - start,), dtype=x.dtype)
    _take(x.reshape(-1, c), y.reshape(-1, stop - start), int(start))
    return y


def channels_join(parts):
    """[(...,C0), (...,C1), ...] -> (...,C0+C1+...): the arrays side by side along the last axis."""
    parts = [np.ascontiguousarray(p) for p in parts]
    lead = parts[0].shape[:-1]
    if any(p.shape[:-1] != lead for p in parts):
        raise ValueError(f"channels_join: shapes {[p.shape for p in parts]} differ before the last axis")
    total = sum(p.shape[-1] for p in parts)
    y = np.empty(lead + (total,), dtype=parts[0].dtype)
    start = 0
    for p in parts:
        _put(p.reshape(-1, p.shape[-1]), y.reshape(-1, total), start)
        start += p.shape[-1]
    return y


@njit(parallel=True, cache=True, nogil=True)
def _add_rows(y2, b):
    """y2 (M,C) += b (C,) row by row."""
    c_ = y2.shape[1]
    for m in prange(y2.shape[0]):
        for c in range(c_):
            y2[m, c] += b[c]


def channels_add(y, b):
    """y (...,C) += b (C,) in place (y C-contiguous); returns y."""
    c = y.shape[-1]
    if b.shape != (c,):
        raise ValueError(f"channels_add: {b.shape[0]} values for {c} channels")
    _add_rows(y.reshape(-1, c), b)
    return y
