"""Pooling kernels: max and average over windows, global pooling, and their input gradients.

One core serves every rank: the layout is (N,D,H,W,C), and 1-D / 2-D inputs come as (N,1,1,W,C) and
(N,1,H,W,C) views. ``pool``, ``strides``, ``pads`` (padding before each axis) and the sizes are 3-tuples of
ints over (D,H,W). Windows follow TensorFlow: padded cells are ignored, so max pooling treats them as -inf
and average pooling divides by the number of real cells in the window. Input gradients: where windows
do not overlap (strides >= pool, the usual case) each window writes its own cells; where they overlap,
each input cell gathers over the windows that contain it. Either way no two threads write one cell.
"""

import numpy as np
from numba import get_num_threads, njit, prange

__all__ = [
    "global_pool_avg_backward",
    "global_pool_avg_forward",
    "global_pool_max_backward",
    "global_pool_max_forward",
    "pool_avg_backward",
    "pool_avg_forward",
    "pool_max_backward",
    "pool_max_forward",
]


@njit(cache=True, nogil=True)
def _window(o, stride, pad, pool, size):
    """Real input indices [start, stop) of window ``o`` along one axis."""
    start = o * stride - pad
    return max(start, 0), min(start + pool, size)


@njit(cache=True, nogil=True)
def _windows_containing(i, stride, pad, pool, n_out):
    """Windows [first, stop) along one axis that contain input index ``i``."""
    a = i + pad - pool + 1
    first = 0 if a <= 0 else (a + stride - 1) // stride
    return first, min((i + pad) // stride + 1, n_out)


@njit(parallel=True, cache=True, nogil=True)
def pool_max_forward(x, pool, strides, pads, out_dims):
    """x (N,D,H,W,C) -> y (N,OD,OH,OW,C), argmax (N,OD,OH,OW,C) int32.

    argmax holds the flat input index d*H*W + h*W + w of each window's first maximum (row-major order
    inside the window); a NaN wins over numbers, so it propagates.
    """
    n_batch, D, H, W, C = x.shape
    OD, OH, OW = out_dims
    y = np.empty((n_batch, OD, OH, OW, C), dtype=x.dtype)
    argmax = np.empty((n_batch, OD, OH, OW, C), dtype=np.int32)
    for row in prange(n_batch * OD * OH):
        n = row // (OD * OH)
        od = (row // OH) % OD
        oh = row % OH
        d0, d1 = _window(od, strides[0], pads[0], pool[0], D)
        h0, h1 = _window(oh, strides[1], pads[1], pool[1], H)
        for ow in range(OW):
            w0, w1 = _window(ow, strides[2], pads[2], pool[2], W)
            first = (d0 * H + h0) * W + w0
            for c in range(C):
                y[n, od, oh, ow, c] = x[n, d0, h0, w0, c]
                argmax[n, od, oh, ow, c] = first
            for d in range(d0, d1):
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        idx = (d * H + h) * W + w
                        for c in range(C):
                            v = x[n, d, h, w, c]
                            m = y[n, od, oh, ow, c]
                            if v > m or (np.isnan(v) and not np.isnan(m)):
                                y[n, od, oh, ow, c] = v
                                argmax[n, od, oh, ow, c] = idx
    return y, argmax


def _disjoint(pool, strides):
    """Whether no input cell lies in two windows (strides >= pool along every axis)."""
    return all(int(s) >= int(p) for p, s in zip(pool, strides))


def pool_max_backward(grad, argmax, in_dims, pool, strides, pads):
    """grad (N,OD,OH,OW,C), argmax (N,OD,OH,OW,C) -> dx (N,D,H,W,C), in_dims = (D,H,W).

    Each input cell gets the gradient of the window that chose it as its maximum (summed over the
    windows that contain it, where windows overlap).
    """
    if _disjoint(pool, strides):
        dx = np.empty((grad.shape[0], *in_dims, grad.shape[-1]), dtype=grad.dtype)
        _max_backward_disjoint(grad, argmax, dx, pool, strides, pads)
        return dx
    return _max_backward_gather(grad, argmax, in_dims, pool, strides, pads)


@njit(cache=True, nogil=True)
def _own_window(i, stride, pad, pool, n_out):
    """The one window that contains input index ``i`` when windows do not overlap, or -1 (none: the cell
    is in a gap between windows or after the last one)."""
    o = (i + pad) // stride
    return o if i + pad - o * stride < pool and o < n_out else -1


@njit(parallel=True, cache=True, nogil=True)
def _max_backward_disjoint(grad, argmax, dx, pool, strides, pads):
    """Windows that do not overlap: every cell of dx is written once, its window's gradient where that
    window chose it (``argmax``), else 0; 0 outside every window. One task per input row; along W the
    window index is stepped."""
    n_batch, OD, OH, OW, C = grad.shape
    _, D, H, W, _ = dx.shape
    for row in prange(n_batch * D * H):
        n = row // (D * H)
        d = (row // H) % D
        h = row % H
        out = dx[n, d, h]
        od = _own_window(d, strides[0], pads[0], pool[0], OD)
        oh = _own_window(h, strides[1], pads[1], pool[1], OH)
        if od < 0 or oh < 0:
            out[:, :] = 0
            continue
        ow = pads[2] // strides[2]
        e = pads[2] - ow * strides[2]  # position of w inside window ow
        for w in range(W):
            cell = out[w]
            if e < pool[2] and ow < OW:
                g = grad[n, od, oh, ow]
                idx = (d * H + h) * W + w
                chosen = argmax[n, od, oh, ow]
                for c in range(C):
                    cell[c] = g[c] if chosen[c] == idx else 0
            else:
                cell[:] = 0
            e += 1
            if e == strides[2]:
                e = 0
                ow += 1


@njit(parallel=True, cache=True, nogil=True)
def _max_backward_gather(grad, argmax, in_dims, pool, strides, pads):
    """Overlapping windows: each input cell gathers the gradients of the windows that contain it and
    chose it as their maximum."""
    n_batch, OD, OH, OW, C = grad.shape
    D, H, W = in_dims
    dx = np.zeros((n_batch, D, H, W, C), dtype=grad.dtype)
    for row in prange(n_batch * D * H):
        n = row // (D * H)
        d = (row // H) % D
        h = row % H
        od0, od1 = _windows_containing(d, strides[0], pads[0], pool[0], OD)
        oh0, oh1 = _windows_containing(h, strides[1], pads[1], pool[1], OH)
        for w in range(W):
            ow0, ow1 = _windows_containing(w, strides[2], pads[2], pool[2], OW)
            idx = (d * H + h) * W + w
            for od in range(od0, od1):
                for oh in range(oh0, oh1):
                    for ow in range(ow0, ow1):
                        for c in range(C):
                            if argmax[n, od, oh, ow, c] == idx:
                                dx[n, d, h, w, c] += grad[n, od, oh, ow, c]
    return dx


@njit(parallel=True, cache=True, nogil=True)
def pool_avg_forward(x, pool, strides, pads, out_dims):
    """x (N,D,H,W,C) -> y (N,OD,OH,OW,C), each window's mean over its real (non-padded) cells."""
    n_batch, D, H, W, C = x.shape
    OD, OH, OW = out_dims
    y = np.zeros((n_batch, OD, OH, OW, C), dtype=x.dtype)
    for row in prange(n_batch * OD * OH):
        n = row // (OD * OH)
        od = (row // OH) % OD
        oh = row % OH
        d0, d1 = _window(od, strides[0], pads[0], pool[0], D)
        h0, h1 = _window(oh, strides[1], pads[1], pool[1], H)
        for ow in range(OW):
            w0, w1 = _window(ow, strides[2], pads[2], pool[2], W)
            for d in range(d0, d1):
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        for c in range(C):
                            y[n, od, oh, ow, c] += x[n, d, h, w, c]
            count = (d1 - d0) * (h1 - h0) * (w1 - w0)
            for c in range(C):
                y[n, od, oh, ow, c] /= count
    return y


def _parts(rows):
    """Row tasks of a pooling kernel: a few per thread (each allocates one row of scratch)."""
    return max(1, min(rows, 4 * get_num_threads()))


@njit(cache=True, nogil=True)
def _row_range(rows, parts, part):
    """Rows [begin, end) of ``part`` when ``rows`` rows are cut into ``parts`` near-equal parts."""
    return part * rows // parts, (part + 1) * rows // parts


def pool_avg_backward(grad, in_dims, pool, strides, pads):
    """grad (N,OD,OH,OW,C) -> dx (N,D,H,W,C), in_dims = (D,H,W).

    Each input cell gets grad / (real cells of the window), summed over the windows that contain it.
    """
    if _disjoint(pool, strides):
        n, od, oh, ow, c = grad.shape
        g = np.ascontiguousarray(grad).reshape(n, od, oh, ow * c)
        dx = _avg_backward_rows(g, in_dims, pool, strides, pads, c, _parts(n * od * oh))
        return dx.reshape(n, *in_dims, c)
    return _avg_backward_gather(grad, in_dims, pool, strides, pads)


@njit(cache=True, nogil=True)
def _owned_rows(o, stride, pad, n_out, size):
    """Input indices [begin, end) that output index ``o`` answers for when windows do not overlap: from
    its window's start to the next window's (the first from 0, the last to the end): every index has
    exactly one owner, which writes its gradient (0 where the index is in no window)."""
    begin = 0 if o == 0 else min(max(o * stride - pad, 0), size)
    end = size if o == n_out - 1 else min(max((o + 1) * stride - pad, 0), size)
    return begin, end


@njit(parallel=True, cache=True, nogil=True)
def _avg_backward_rows(grad, in_dims, pool, strides, pads, C, parts):
    """Windows that do not overlap: grad (N,OD,OH,OW*C) -> dx (N,D,H,W*C), every cell written once. Per
    output row, the input row its window gives (grad / the window's real cells, 0 between windows) is
    built once and copied whole to each input row of the window; the rows it owns outside the window
    are zeroed."""
    n_batch, OD, OH, OWC = grad.shape
    D, H, W = in_dims
    OW = OWC // C
    dx = np.empty((n_batch, D, H, W * C), dtype=grad.dtype)
    rows = n_batch * OD * OH
    for part in prange(parts):
        spread = np.empty(W * C, dtype=grad.dtype)
        begin, end = _row_range(rows, parts, np.int64(part))  # the parallel index is uint64 in one typing
        for row in range(begin, end):
            n = row // (OD * OH)
            od = (row // OH) % OD
            oh = row % OH
            d0, d1 = _window(od, strides[0], pads[0], pool[0], D)
            h0, h1 = _window(oh, strides[1], pads[1], pool[1], H)
            g = grad[n, od, oh]
            for w in range(W):
                ow = _own_window(w, strides[2], pads[2], pool[2], OW)
                if ow < 0:
                    for c in range(C):
                        spread[w * C + c] = 0
                else:
                    w0, w1 = _window(ow, strides[2], pads[2], pool[2], W)
                    count = (d1 - d0) * (h1 - h0) * (w1 - w0)
                    for c in range(C):
                        spread[w * C + c] = g[ow * C + c] / count
            db, de = _owned_rows(od, strides[0], pads[0], OD, D)
            hb, he = _owned_rows(oh, strides[1], pads[1], OH, H)
            for d in range(db, de):
                for h in range(hb, he):
                    out = dx[n, d, h]
                    if d0 <= d < d1 and h0 <= h < h1:
                        for j in range(out.shape[0]):  # not out[:] = spread: see blas._sum_partials
                            out[j] = spread[j]
                    else:
                        out[:] = 0
    return dx


@njit(parallel=True, cache=True, nogil=True)
def _avg_backward_gather(grad, in_dims, pool, strides, pads):
    """Overlapping windows: each input cell gathers grad / (real cells of the window) over the windows
    that contain it."""
    n_batch, OD, OH, OW, C = grad.shape
    D, H, W = in_dims
    dx = np.zeros((n_batch, D, H, W, C), dtype=grad.dtype)
    for row in prange(n_batch * D * H):
        n = row // (D * H)
        d = (row // H) % D
        h = row % H
        od0, od1 = _windows_containing(d, strides[0], pads[0], pool[0], OD)
        oh0, oh1 = _windows_containing(h, strides[1], pads[1], pool[1], OH)
        for w in range(W):
            ow0, ow1 = _windows_containing(w, strides[2], pads[2], pool[2], OW)
            for od in range(od0, od1):
                d0, d1 = _window(od, strides[0], pads[0], pool[0], D)
                for oh in range(oh0, oh1):
                    h0, h1 = _window(oh, strides[1], pads[1], pool[1], H)
                    for ow in range(ow0, ow1):
                        w0, w1 = _window(ow, strides[2], pads[2], pool[2], W)
                        count = (d1 - d0) * (h1 - h0) * (w1 - w0)
                        for c in range(C):
                            dx[n, d, h, w, c] += grad[n, od, oh, ow, c] / count
    return dx


@njit(parallel=True, cache=True, nogil=True)
def global_pool_max_forward(x):
    """x (N,S,C) -> y (N,C), argmax (N,C) int32: the max over S and the index of its first occurrence."""
    n_batch, S, C = x.shape
    y = np.empty((n_batch, C), dtype=x.dtype)
    argmax = np.zeros((n_batch, C), dtype=np.int32)
    for n in prange(n_batch):
        for c in range(C):
            y[n, c] = x[n, 0, c]
        for s in range(1, S):
            for c in range(C):
                v = x[n, s, c]
                m = y[n, c]
                if v > m or (np.isnan(v) and not np.isnan(m)):
                    y[n, c] = v
                    argmax[n, c] = s
    return y, argmax


@njit(parallel=True, cache=True, nogil=True)
def global_pool_max_backward(grad, argmax, S):
    """grad (N,C), argmax (N,C) -> dx (N,S,C): the gradient lands on each channel's arg-max."""
    n_batch, C = grad.shape
    dx = np.zeros((n_batch, S, C), dtype=grad.dtype)
    for row in prange(n_batch * S):
        n = row // S
        s = row % S
        for c in range(C):
            if argmax[n, c] == s:
                dx[n, s, c] = grad[n, c]
    return dx


@njit(parallel=True, cache=True, nogil=True)
def global_pool_avg_forward(x):
    """x (N,S,C) -> y (N,C), the mean over S."""
    n_batch, S, C = x.shape
    y = np.zeros((n_batch, C), dtype=x.dtype)
    for n in prange(n_batch):
        for s in range(S):
            for c in range(C):
                y[n, c] += x[n, s, c]
        for c in range(C):
            y[n, c] /= S
    return y


@njit(parallel=True, cache=True, nogil=True)
def global_pool_avg_backward(grad, S):
    """grad (N,C) -> dx (N,S,C) = grad / S at every position."""
    n_batch, C = grad.shape
    dx = np.empty((n_batch, S, C), dtype=grad.dtype)
    for row in prange(n_batch * S):
        n = row // S
        s = row % S
        for c in range(C):
            dx[n, s, c] = grad[n, c] / S
    return dx
