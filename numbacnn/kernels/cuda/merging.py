"""Merge layers' arithmetic on the GPU: the twin of ``kernels.cpu.merging`` (same names, signatures and
broadcast plans), one thread per output element.

``merge_pair`` applies one elementwise op to two broadcast inputs (the n-ary merges apply it
pairwise); ``merge_reduce`` sums a gradient over an input's broadcast axes, one thread per input
element gathering its broadcast set (no atomics); concatenation is a strided copy; Dot's batched product
gives each output element its own thread, accumulated in float64; L2 normalisation sees the array as
(P,K,Q) around the axis, one thread per (p, q).
"""

import math

import numpy as np
from numba import cuda, float64

from ..cpu.merging import (
    MERGE_ADD,
    MERGE_DIVIDE,
    MERGE_MAXIMUM,
    MERGE_MINIMUM,
    MERGE_MULTIPLY,
    MERGE_SUBTRACT,
    RANK,
    as_pkq,
    broadcast_plan,
    reduce_plan,
)
from . import launch
from .arrays import contiguous, full, to_device

__all__ = ["MERGE_ADD", "MERGE_SUBTRACT", "MERGE_MULTIPLY", "MERGE_MAXIMUM", "MERGE_MINIMUM", "MERGE_DIVIDE",
           "merge_pair", "merge_reduce", "concat_forward", "concat_backward", "batch_matmul",
           "l2_normalize_forward", "l2_normalize_backward"]


@cuda.jit(device=True)
def _op(u, v, kind):
    """u op v in the arrays' dtype; Maximum/Minimum keep a NaN of either side."""
    if kind == MERGE_ADD:
        return u + v
    if kind == MERGE_SUBTRACT:
        return u - v
    if kind == MERGE_MULTIPLY:
        return u * v
    if kind == MERGE_MAXIMUM:
        if u != u:
            return u
        return u if u >= v else v
    if kind == MERGE_MINIMUM:
        if u != u:
            return u
        return u if u <= v else v
    return u / v


@cuda.jit(cache=True)
def _pair(a, b, y, winner, index, kind, shape, sa, sb):
    """a, b (flat, broadcast by strides sa, sb over shape (RANK,)) -> y (prod(shape),) = a op b; with a
    non-empty ``winner`` also winner[e] = index where b wins (a tie stays with a). One thread per e."""
    e = cuda.grid(1)
    if e < y.shape[0]:
        r = e
        oa = 0
        ob = 0
        for d in range(RANK - 1, -1, -1):
            c = r % shape[d]
            r //= shape[d]
            oa += c * sa[d]
            ob += c * sb[d]
        u = a[oa]
        v = b[ob]
        y[e] = _op(u, v, kind)
        if winner.shape[0] > 0:
            wins = u >= v if kind == MERGE_MAXIMUM else u <= v
            if not wins:
                winner[e] = index


@cuda.jit(cache=True)
def _reduce(q, winner, index, offsets, dst, kept, q_strides):
    """q (prod(shape),) -> dst (prod(kept),): dst[e] = sum of q over ``offsets`` from e's place in q (only
    where winner == index when index >= 0), in float64. One thread per e."""
    e = cuda.grid(1)
    if e < dst.shape[0]:
        r = e
        off = 0
        for d in range(RANK - 1, -1, -1):
            off += (r % kept[d]) * q_strides[d]
            r //= kept[d]
        acc = float64(0.0)
        for t in range(offsets.shape[0]):
            o = off + offsets[t]
            if index < 0 or winner[o] == index:
                acc += float64(q[o])
        dst[e] = acc


def _no_winner():
    return launch.empty((0,), np.int32)


def _launch(kernel, n, *args):
    if n:
        blocks, threads = launch.grid(n)
        launch.at(kernel, blocks, threads)(*args)


def merge_pair(a, b, kind, out_shape, out=None, winner=None, index=0):
    """a, b (out_shape's rank, each axis out_shape's or 1; b may be a Python number) -> y (out_shape) =
    a op b, ``kind`` one of the MERGE_* constants, in a's dtype. ``out`` (C-contiguous, out_shape) may be
    ``a`` itself. ``winner`` (int32, out_shape; Maximum/Minimum only) gets ``index`` where b wins."""
    a = contiguous(a)
    if np.isscalar(b):
        b = full((1,) * len(out_shape), b, a.dtype)
    b = contiguous(b, a.dtype)
    shape, (sa, sb) = broadcast_plan(out_shape, tuple(a.shape), tuple(b.shape))
    y = launch.empty(tuple(out_shape), a.dtype) if out is None else out
    w = _no_winner() if winner is None else winner.reshape(winner.size)
    _launch(_pair, y.size, a.reshape(a.size), b.reshape(b.size), y.reshape(y.size), w, np.int32(index),
            int(kind), shape, sa, sb)
    return y


def merge_reduce(q, shape, winner=None, index=-1):
    """q (out shape) -> its sum over the axes where ``shape`` (same rank) is 1, of ``shape`` and q's dtype;
    with ``winner`` and index >= 0, only the elements whose winner is ``index``. Returns q itself when
    nothing is summed or selected."""
    shape = tuple(int(n) for n in shape)
    if shape == tuple(q.shape) and (winner is None or index < 0):
        return q
    kept, q_strides, offsets = reduce_plan(tuple(q.shape), shape)
    dst = launch.empty(shape, q.dtype)
    w = _no_winner() if winner is None else winner.reshape(winner.size)
    _launch(_reduce, dst.size, q.reshape(q.size), w, np.int32(index), to_device(offsets),
            dst.reshape(dst.size), kept, q_strides)
    return dst


@cuda.jit(cache=True)
def _copy_rows(src, src_row, src_off, dst, dst_row, dst_off, rows, width):
    """dst[p*dst_row + dst_off + j] = src[p*src_row + src_off + j] for p < rows, j < width; one thread per
    (p, j)."""
    t = cuda.grid(1)
    if t < rows * width:
        p = t // width
        j = t % width
        dst[p * dst_row + dst_off + j] = src[p * src_row + src_off + j]


def concat_forward(xs, axis):
    """xs [(..., K_i, ...)] (same shapes but along ``axis``) -> y (..., sum K_i, ...), xs[0]'s dtype."""
    xs = [contiguous(x) for x in xs]
    shape = list(xs[0].shape)
    axis %= len(shape)
    shape[axis] = sum(int(x.shape[axis]) for x in xs)
    y = launch.empty(tuple(shape), xs[0].dtype)
    p, k, q = as_pkq(tuple(y.shape), axis)
    offset = 0
    for x in xs:
        width = int(x.shape[axis]) * q
        x = contiguous(x, y.dtype)
        _launch(_copy_rows, p * width, x.reshape(x.size), width, 0, y.reshape(y.size), k * q, offset * q, p,
                width)
        offset += int(x.shape[axis])
    return y


def concat_backward(grad, sizes, axis):
    """grad (..., sum(sizes), ...) -> [grad's slice of size sizes[i] along ``axis``], each C-contiguous."""
    shape = tuple(grad.shape)
    p, k, q = as_pkq(shape, axis)
    axis %= len(shape)
    out, offset = [], 0
    for size in sizes:
        dx = launch.empty(shape[:axis] + (int(size),) + shape[axis + 1:], grad.dtype)
        width = int(size) * q
        _launch(_copy_rows, p * width, grad.reshape(grad.size), k * q, offset * q, dx.reshape(dx.size), width,
                0, p, width)
        out.append(dx)
        offset += int(size)
    return out


@cuda.jit(cache=True)
def _batched(a, b, out, trans_a, trans_b):
    """out[i] = op(a[i]) @ op(b[i]) (op a transpose where asked), one thread per output element, float64
    sums."""
    nb, m_, n_ = out.shape
    t = cuda.grid(1)
    if t < nb * m_ * n_:
        j = t % n_
        r = t // n_
        m = r % m_
        i = r // m_
        k_ = a.shape[1] if trans_a else a.shape[2]
        acc = float64(0.0)
        for k in range(k_):
            u = a[i, k, m] if trans_a else a[i, m, k]
            v = b[i, j, k] if trans_b else b[i, k, j]
            acc += float64(u) * float64(v)
        out[i, m, j] = acc


def batch_matmul(a, b, trans_a=False, trans_b=False):
    """a (B,M,K) (or (B,K,M) with trans_a), b (B,K,N) (or (B,N,K) with trans_b) -> out (B,M,N), a's dtype."""
    a = contiguous(a)
    b = contiguous(b, a.dtype)
    m = a.shape[2] if trans_a else a.shape[1]
    n = b.shape[1] if trans_b else b.shape[2]
    out = launch.empty((int(a.shape[0]), int(m), int(n)), a.dtype)
    _launch(_batched, out.size, a, b, out, bool(trans_a), bool(trans_b))
    return out


@cuda.jit(cache=True)
def _l2_rows(x, y, s, inv_eps):
    """x (P,K,Q) -> y = x * min(1/sqrt(sum_K x^2), 1/eps), s (P,Q) = sum_K x^2; one thread per (p, q)."""
    p_, k_, q_ = x.shape
    t = cuda.grid(1)
    if t < p_ * q_:
        p = t // q_
        q = t % q_
        acc = float64(0.0)
        for k in range(k_):
            v = float64(x[p, k, q])
            acc += v * v
        s[p, q] = acc
        inv = inv_eps
        if acc > 0.0:
            inv = min(1.0 / math.sqrt(acc), inv_eps)
        for k in range(k_):
            y[p, k, q] = float64(x[p, k, q]) * inv


@cuda.jit(cache=True)
def _l2_backward_rows(g, y, s, dx, inv_eps):
    """g, y (P,K,Q), s (P,Q) -> dx = inv * (g - y * sum_K(g * y)), or g * inv where the norm was clamped."""
    p_, k_, q_ = g.shape
    t = cuda.grid(1)
    if t < p_ * q_:
        p = t // q_
        q = t % q_
        acc = s[p, q]
        clamped = True
        inv = inv_eps
        if acc > 0.0 and 1.0 / math.sqrt(acc) <= inv_eps:
            clamped = False
            inv = 1.0 / math.sqrt(acc)
        dot = float64(0.0)
        if not clamped:
            for k in range(k_):
                dot += float64(g[p, k, q]) * float64(y[p, k, q])
        for k in range(k_):
            dx[p, k, q] = inv * (float64(g[p, k, q]) - float64(y[p, k, q]) * dot)


def l2_normalize_forward(x, axis, epsilon):
    """x (any shape) -> (y, s): y = x * min(rsqrt(sum(x^2 along axis)), 1/epsilon), x's dtype; s the sums
    of squares (float64, (P,Q)) for the backward."""
    x = contiguous(x)
    p, k, q = as_pkq(tuple(x.shape), axis)
    y = launch.empty(tuple(x.shape), x.dtype)
    s = launch.empty((p, q), np.float64)
    _launch(_l2_rows, p * q, x.reshape((p, k, q)), y.reshape((p, k, q)), s, 1.0 / float(epsilon))
    return y, s


def l2_normalize_backward(grad, y, s, axis, epsilon):
    """grad, y = l2_normalize_forward's output (same shape), s its sums -> the gradient w.r.t. its input."""
    y = contiguous(y)
    grad = contiguous(grad, y.dtype)
    p, k, q = as_pkq(tuple(y.shape), axis)
    dx = launch.empty(tuple(y.shape), y.dtype)
    _launch(_l2_backward_rows, p * q, grad.reshape((p, k, q)), y.reshape((p, k, q)), s, dx.reshape((p, k, q)),
            1.0 / float(epsilon))
    return dx
