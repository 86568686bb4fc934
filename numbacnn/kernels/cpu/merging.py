"""Merge layers' arithmetic: elementwise ops of two broadcast arrays, the broadcast-sum of a gradient,
concatenation as a strided copy, batched matrix products (Dot) and L2 normalisation along an axis.

Elementwise merges (Add, Subtract, Multiply, Average, Maximum, Minimum) of n inputs are one kernel,
``merge_pair``, applied pairwise as Keras does (``((x0 op x1) op x2) ...``), so each step rounds as
Keras's does. Broadcasting: the caller gives both inputs the output's rank (size-1 axes where they
broadcast); :func:`broadcast_plan` folds the shapes into at most ``RANK`` axes (dropping size-1 output
axes and merging neighbours that broadcast alike) and gives each input its element strides there, 0 on
the axes it broadcasts along. The gradient of a broadcast input is ``merge_reduce``: one output
element per input element, summing the gradient over the broadcast axes (a gather, in float64), never
racing adds. Maximum and Minimum record the winning input per element (``winner``), TF's rule: on a tie
the earlier input wins (``tf.maximum``'s gradient goes to x where x >= y), so the first input holding
the extreme value gets the whole gradient.
"""

import math

import numpy as np
from numba import njit, prange

from .blas import single_pool

__all__ = ["MERGE_ADD", "MERGE_SUBTRACT", "MERGE_MULTIPLY", "MERGE_MAXIMUM", "MERGE_MINIMUM", "MERGE_DIVIDE",
           "merge_pair", "merge_reduce", "concat_forward", "concat_backward", "batch_matmul",
           "l2_normalize_forward", "l2_normalize_backward"]

MERGE_ADD = 0
MERGE_SUBTRACT = 1
MERGE_MULTIPLY = 2
MERGE_MAXIMUM = 3
MERGE_MINIMUM = 4
MERGE_DIVIDE = 5

RANK = 6  # broadcast plans are padded with leading size-1 axes to this rank
_BLOCK = 4096  # elements per parallel work item of the elementwise and copy kernels


# ----- shapes (plain Python, shared with the CUDA twins) ---------------------------------------------------
def _contiguous_strides(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return strides[::-1]


def broadcast_plan(out_shape, *shapes):
    """(shape, [strides per input]) of at most RANK axes that walk ``out_shape`` in C order.

    Every input shape has out_shape's rank, each axis equal to the output's or 1 (broadcast); an input's
    strides are its C-contiguous element strides, 0 on the axes it broadcasts along.
    """
    out_shape = tuple(int(n) for n in out_shape)
    for shape in shapes:
        if len(shape) != len(out_shape) or any(s not in (1, n) for s, n in zip(shape, out_shape)):
            raise ValueError(f"broadcast_plan: shape {tuple(shape)} does not broadcast to {out_shape}")
    own = [_contiguous_strides(shape) for shape in shapes]
    dims = []  # (size, [stride per input]) with size > 1
    for axis, n in enumerate(out_shape):
        if n == 1:
            continue
        strides = [own[i][axis] if shape[axis] == n else 0 for i, shape in enumerate(shapes)]
        if dims and all((s == 0) == (p == 0) for s, p in zip(strides, dims[-1][1])):
            size, previous = dims[-1]
            dims[-1] = (size * n, strides)  # merged: the inner axis's strides serve both
        else:
            dims.append((n, strides))
    if len(dims) > RANK:
        raise ValueError(f"broadcasting {[tuple(s) for s in shapes]} to {out_shape} needs {len(dims)} "
                         f"axes after merging; numbacnn's merge kernels take at most {RANK}")
    dims = [(1, [0] * len(shapes))] * (RANK - len(dims)) + dims
    shape = tuple(n for n, _ in dims)
    return shape, [tuple(d[1][i] for d in dims) for i in range(len(shapes))]


def reduce_plan(out_shape, shape):
    """For summing an ``out_shape`` array over the axes where ``shape`` (same rank) is 1:
    (kept shape, q strides over it, offsets in q of every broadcast combination), each of RANK axes."""
    plan, (strides,) = broadcast_plan(out_shape, shape)
    q_strides = _contiguous_strides(plan)
    kept = tuple(n if s else 1 for n, s in zip(plan, strides))
    offsets = np.zeros(1, dtype=np.int64)
    for n, s, qs in zip(plan, strides, q_strides):
        if n > 1 and s == 0:
            offsets = (offsets[:, None] + np.arange(n, dtype=np.int64)[None, :] * qs).reshape(-1)
    return kept, tuple(q_strides), offsets


def as_pkq(shape, axis):
    """(P, K, Q) of a C-contiguous array of ``shape`` seen around ``axis`` (K = shape[axis])."""
    axis %= len(shape)
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


# ----- elementwise ---------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
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


@njit(cache=True, nogil=True)
def _offset(row, shape, strides):
    """Element offset of ``row`` (an index over shape[:-1] in C order) in an array of ``strides``."""
    r = np.int64(row)
    off = 0
    for d in range(len(shape) - 2, -1, -1):
        off += (r % shape[d]) * strides[d]
        r //= shape[d]
    return off


@njit(cache=True, nogil=True)
def _place(index, shape, strides):
    """Element offset of ``index`` (over all of shape, in C order) in an array of ``strides``."""
    r = np.int64(index)
    off = 0
    for d in range(len(shape) - 1, -1, -1):
        off += (r % shape[d]) * strides[d]
        r //= shape[d]
    return off


@njit(cache=True, inline="always")
def _segment(a, oa, la, b, ob, lb, y, yo, n, kind):
    """y[yo:yo+n] = a[oa::la] op b[ob::lb] (n elements). Unit and zero strides go through slices, whose
    indexes LLVM knows to be in range, so the loops vectorise; ``kind`` is a constant where inlined."""
    yv = y[yo:yo + n]
    if la == 1 and lb == 1:
        av = a[oa:oa + n]
        bv = b[ob:ob + n]
        for j in range(n):
            yv[j] = _op(av[j], bv[j], kind)
    elif la == 1 and lb == 0:
        av = a[oa:oa + n]
        v = b[ob]
        for j in range(n):
            yv[j] = _op(av[j], v, kind)
    else:
        for j in range(n):
            yv[j] = _op(a[oa + j * la], b[ob + j * lb], kind)


@njit(cache=True, nogil=True)
def _offsets(row, shape, sa, sb):
    """(offset in a, offset in b) of ``row``, an index over shape[:-1] in C order."""
    r = np.int64(row)
    oa = 0
    ob = 0
    for d in range(RANK - 2, -1, -1):
        c = r % shape[d]
        r //= shape[d]
        oa += c * sa[d]
        ob += c * sb[d]
    return oa, ob


@njit(cache=True, nogil=True)
def _pair_items(n, shape):
    """How many work items of about _BLOCK elements _pair_item cuts an output of n elements into: blocks
    of one long row, or runs of short rows."""
    inner = shape[RANK - 1]
    rows = n // inner
    if inner >= _BLOCK:
        return rows * ((inner + _BLOCK - 1) // _BLOCK)
    per = _BLOCK // inner
    return (rows + per - 1) // per


@njit(cache=True, inline="always")
def _pair_item(a, b, y, shape, sa, sb, item, kind):
    """Work item ``item`` of y = a op b (a, b flat, broadcast by strides sa, sb over shape (RANK,); y in C
    order of shape): columns lo..lo+n of rows first..last-1, a block of one long row or a run of whole
    short rows; the rows' offsets advance like an odometer (no division per row)."""
    inner = shape[RANK - 1]
    rows = y.shape[0] // inner
    la, lb = sa[RANK - 1], sb[RANK - 1]
    if inner >= _BLOCK:
        nblk = (inner + _BLOCK - 1) // _BLOCK
        first = item // nblk
        last = first + 1
        lo = (item % nblk) * _BLOCK
        n = min(_BLOCK, inner - lo)
    else:
        per = _BLOCK // inner
        first = item * per
        last = min(rows, first + per)
        lo = 0
        n = inner
    digits = np.empty(RANK - 1, dtype=np.int64)
    rest = np.int64(first)
    oa = lo * la
    ob = lo * lb
    for d in range(RANK - 2, -1, -1):
        c = rest % shape[d]
        rest //= shape[d]
        digits[d] = c
        oa += c * sa[d]
        ob += c * sb[d]
    for r in range(first, last):
        _segment(a, oa, la, b, ob, lb, y, r * inner + lo, n, kind)
        d = RANK - 2
        while d >= 0:
            digits[d] += 1
            oa += sa[d]
            ob += sb[d]
            if digits[d] < shape[d]:
                break
            oa -= sa[d] * shape[d]
            ob -= sb[d] * shape[d]
            digits[d] = 0
            d -= 1


@njit(parallel=True, cache=True, nogil=True)
def _pair_add(a, b, y, shape, sa, sb):
    """y = a + b (see _pair_item)."""
    for item in prange(_pair_items(y.shape[0], shape)):
        _pair_item(a, b, y, shape, sa, sb, item, MERGE_ADD)


@njit(parallel=True, cache=True, nogil=True)
def _pair_subtract(a, b, y, shape, sa, sb):
    """y = a - b (see _pair_item)."""
    for item in prange(_pair_items(y.shape[0], shape)):
        _pair_item(a, b, y, shape, sa, sb, item, MERGE_SUBTRACT)


@njit(parallel=True, cache=True, nogil=True)
def _pair_multiply(a, b, y, shape, sa, sb):
    """y = a * b (see _pair_item)."""
    for item in prange(_pair_items(y.shape[0], shape)):
        _pair_item(a, b, y, shape, sa, sb, item, MERGE_MULTIPLY)


@njit(parallel=True, cache=True, nogil=True)
def _pair_maximum(a, b, y, shape, sa, sb):
    """y = maximum(a, b) (see _pair_item)."""
    for item in prange(_pair_items(y.shape[0], shape)):
        _pair_item(a, b, y, shape, sa, sb, item, MERGE_MAXIMUM)


@njit(parallel=True, cache=True, nogil=True)
def _pair_minimum(a, b, y, shape, sa, sb):
    """y = minimum(a, b) (see _pair_item)."""
    for item in prange(_pair_items(y.shape[0], shape)):
        _pair_item(a, b, y, shape, sa, sb, item, MERGE_MINIMUM)


@njit(parallel=True, cache=True, nogil=True)
def _pair_divide(a, b, y, shape, sa, sb):
    """y = a / b (see _pair_item)."""
    for item in prange(_pair_items(y.shape[0], shape)):
        _pair_item(a, b, y, shape, sa, sb, item, MERGE_DIVIDE)


_PAIR = {MERGE_ADD: _pair_add, MERGE_SUBTRACT: _pair_subtract, MERGE_MULTIPLY: _pair_multiply,
         MERGE_MAXIMUM: _pair_maximum, MERGE_MINIMUM: _pair_minimum, MERGE_DIVIDE: _pair_divide}


@njit(parallel=True, cache=True, nogil=True)
def _pair_winner(a, b, y, winner, index, maximum, shape, sa, sb):
    """Maximum (``maximum``) or Minimum of a and b as _pair_item, one row per item, and winner[e] = index
    where b wins: not a >= b (resp. a <= b), so a tie stays with a (TF's gradient rule)."""
    inner = shape[len(shape) - 1]
    rows = y.shape[0] // inner
    la, lb = sa[len(sa) - 1], sb[len(sb) - 1]
    for r in prange(rows):
        oa, ob = _offsets(r, shape, sa, sb)
        yv = y[r * inner:(r + 1) * inner]
        wv = winner[r * inner:(r + 1) * inner]
        unit = la == 1 and lb == 1
        av = a[oa:oa + inner] if unit else a[oa:oa + 1]
        bv = b[ob:ob + inner] if unit else b[ob:ob + 1]
        for j in range(inner):
            u = av[j] if unit else a[oa + j * la]
            v = bv[j] if unit else b[ob + j * lb]
            if maximum:
                yv[j] = _op(u, v, MERGE_MAXIMUM)
                wins = u >= v
            else:
                yv[j] = _op(u, v, MERGE_MINIMUM)
                wins = u <= v
            if not wins:
                wv[j] = index


@njit(parallel=True, cache=True, nogil=True)
def _reduce(q, winner, index, offsets, dst, kept, q_strides):
    """q (prod(shape),) -> dst (prod(kept),): dst[e] = sum of q over the offsets of the broadcast axes
    from e's place in q (only where winner == index when index >= 0), accumulated in float64.

    When the last axis is kept (q's contiguous run, e.g. the channels of a squeeze-and-excitation scale),
    each thread sums whole runs, so the loads are contiguous and the adds vectorise; otherwise each dst
    element gathers its own values."""
    width = kept[len(kept) - 1]
    if width > 1:
        rows = dst.shape[0] // width
        for r in prange(rows):
            off = _offset(r, kept, q_strides)
            acc = np.zeros(width, dtype=np.float64)
            for t in range(offsets.shape[0]):
                base = off + offsets[t]
                qv = q[base:base + width]
                if index < 0:
                    for c in range(width):
                        acc[c] += qv[c]
                else:
                    wv = winner[base:base + width]
                    for c in range(width):
                        if wv[c] == index:
                            acc[c] += qv[c]
            dv = dst[r * width:(r + 1) * width]
            for c in range(width):
                dv[c] = acc[c]
        return
    for e in prange(dst.shape[0]):
        off = _place(e, kept, q_strides)
        acc = 0.0
        for t in range(offsets.shape[0]):
            o = off + offsets[t]
            if index < 0 or winner[o] == index:
                acc += q[o]
        dst[e] = acc


def _no_winner():
    return np.zeros(0, dtype=np.int32)


def merge_pair(a, b, kind, out_shape, out=None, winner=None, index=0):
    """a, b (out_shape's rank, each axis out_shape's or 1; b may be a Python number) -> y (out_shape) =
    a op b, ``kind`` one of the MERGE_* constants, in a's dtype. ``out`` (C-contiguous, out_shape) may be
    ``a`` itself. ``winner`` (int32, out_shape; Maximum/Minimum only) gets ``index`` where b wins."""
    a = np.ascontiguousarray(a)
    if np.isscalar(b):
        b = np.full((1,) * len(out_shape), b, dtype=a.dtype)
    b = np.ascontiguousarray(b, dtype=a.dtype)
    shape, (sa, sb) = broadcast_plan(out_shape, a.shape, b.shape)
    y = np.empty(tuple(out_shape), dtype=a.dtype) if out is None else out
    if not y.size:
        return y
    if winner is None:
        _PAIR[int(kind)](a.reshape(-1), b.reshape(-1), y.reshape(-1), shape, sa, sb)
    elif kind in (MERGE_MAXIMUM, MERGE_MINIMUM):
        _pair_winner(a.reshape(-1), b.reshape(-1), y.reshape(-1), winner.reshape(-1), np.int32(index),
                     kind == MERGE_MAXIMUM, shape, sa, sb)
    else:
        raise ValueError(f"merge_pair: only MERGE_MAXIMUM and MERGE_MINIMUM record winners, received {kind}")
    return y


def merge_reduce(q, shape, winner=None, index=-1):
    """q (out shape) -> its sum over the axes where ``shape`` (same rank) is 1, of ``shape`` and q's dtype;
    with ``winner`` and index >= 0, only the elements whose winner is ``index``. Returns q itself when
    nothing is summed or selected."""
    shape = tuple(int(n) for n in shape)
    if shape == tuple(q.shape) and (winner is None or index < 0):
        return q
    kept, q_strides, offsets = reduce_plan(q.shape, shape)
    dst = np.empty(shape, dtype=q.dtype)
    if dst.size:
        w = _no_winner() if winner is None else winner.reshape(-1)
        _reduce(np.ascontiguousarray(q).reshape(-1), w, np.int32(index), offsets, dst.reshape(-1), kept,
                q_strides)
    return dst


# ----- concatenation -------------------------------------------------------------------------------------
@njit(parallel=True, cache=True, nogil=True)
def _copy_rows(src, src_row, src_off, dst, dst_row, dst_off, rows, width):
    """dst[p*dst_row + dst_off + j] = src[p*src_row + src_off + j] for p < rows, j < width (flat arrays)."""
    nblk = (width + _BLOCK - 1) // _BLOCK
    for t in prange(rows * nblk):
        p = t // nblk
        lo = (t % nblk) * _BLOCK
        hi = min(lo + _BLOCK, width)
        s = p * src_row + src_off
        d = p * dst_row + dst_off
        for j in range(lo, hi):  # not a slice copy: that compiles Numba's shape-mismatch message
            dst[d + j] = src[s + j]


def concat_forward(xs, axis):
    """xs [(..., K_i, ...)] (same shapes but along ``axis``) -> y (..., sum K_i, ...), xs[0]'s dtype."""
    xs = [np.ascontiguousarray(x) for x in xs]
    shape = list(xs[0].shape)
    axis %= len(shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    y = np.empty(tuple(shape), dtype=xs[0].dtype)
    p, k, q = as_pkq(y.shape, axis)
    offset = 0
    for x in xs:
        width = x.shape[axis] * q
        if p and width:
            _copy_rows(x.astype(y.dtype, copy=False).reshape(-1), width, 0, y.reshape(-1), k * q,
                       offset * q, p, width)
        offset += x.shape[axis]
    return y


def concat_backward(grad, sizes, axis):
    """grad (..., sum(sizes), ...) -> [grad's slice of size sizes[i] along ``axis``], each C-contiguous."""
    grad = np.ascontiguousarray(grad)
    p, k, q = as_pkq(grad.shape, axis)
    axis %= grad.ndim
    out, offset = [], 0
    for size in sizes:
        shape = grad.shape[:axis] + (int(size),) + grad.shape[axis + 1:]
        dx = np.empty(shape, dtype=grad.dtype)
        width = int(size) * q
        if p and width:
            _copy_rows(grad.reshape(-1), k * q, offset * q, dx.reshape(-1), width, 0, p, width)
        out.append(dx)
        offset += int(size)
    return out


# ----- Dot -----------------------------------------------------------------------------------------------
@njit(parallel=True, cache=True, nogil=True)
def _batched_dot(a, b, out, trans_a, trans_b):
    """out[i] = op(a[i]) @ op(b[i]) for every i (one BLAS product each), op a transpose where asked."""
    for i in prange(out.shape[0]):
        if trans_a and trans_b:
            np.dot(a[i].T, b[i].T, out[i])
        elif trans_a:
            np.dot(a[i].T, b[i], out[i])
        elif trans_b:
            np.dot(a[i], b[i].T, out[i])
        else:
            np.dot(a[i], b[i], out[i])


def batch_matmul(a, b, trans_a=False, trans_b=False):
    """a (B,M,K) (or (B,K,M) with trans_a), b (B,K,N) (or (B,N,K) with trans_b) -> out (B,M,N), a's dtype:
    one BLAS product per batch entry."""
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b, dtype=a.dtype)
    m = a.shape[2] if trans_a else a.shape[1]
    n = b.shape[1] if trans_b else b.shape[2]
    out = np.empty((a.shape[0], m, n), dtype=a.dtype)
    k = a.shape[1] if trans_a else a.shape[2]
    if out.size == 0:
        return out
    if k == 0:
        out[...] = 0
        return out
    single_pool()  # the products run on Numba's threads, SciPy's OpenBLAS in the calling thread
    _batched_dot(a, b, out, bool(trans_a), bool(trans_b))
    return out


@njit(parallel=True, cache=True, nogil=True)
def _l2_rows(x, y, s, inv_eps):
    """x (P,K,Q) -> y (P,K,Q) = x * min(1/sqrt(sum_K x^2), 1/eps), s (P,Q) = sum_K x^2 (float64)."""
    p_, k_, q_ = x.shape
    for t in prange(p_ * q_):
        p = t // q_
        q = t % q_
        acc = 0.0
        for k in range(k_):
            v = np.float64(x[p, k, q])
            acc += v * v
        s[p, q] = acc
        inv = min(1.0 / math.sqrt(acc), inv_eps) if acc > 0.0 else inv_eps
        for k in range(k_):
            y[p, k, q] = np.float64(x[p, k, q]) * inv


@njit(parallel=True, cache=True, nogil=True)
def _l2_backward_rows(g, y, s, dx, inv_eps):
    """g, y (P,K,Q), s (P,Q) -> dx (P,K,Q): inv * (g - y * sum_K(g * y)), or g * inv where the norm was
    clamped to 1/eps (TF's minimum: the gradient goes to 1/sqrt(s) on a tie)."""
    p_, k_, q_ = g.shape
    for t in prange(p_ * q_):
        p = t // q_
        q = t % q_
        acc = s[p, q]
        clamped = not (acc > 0.0 and 1.0 / math.sqrt(acc) <= inv_eps)
        inv = inv_eps if clamped else 1.0 / math.sqrt(acc)
        dot = 0.0
        if not clamped:
            for k in range(k_):
                dot += np.float64(g[p, k, q]) * np.float64(y[p, k, q])
        for k in range(k_):
            dx[p, k, q] = inv * (np.float64(g[p, k, q]) - np.float64(y[p, k, q]) * dot)


def l2_normalize_forward(x, axis, epsilon):
    """x (any shape) -> (y, s): y = x * min(rsqrt(sum(x^2 along axis)), 1/epsilon) (Keras's
    ``ops.normalize``), x's dtype; s the sums of squares (float64, x's shape without ``axis``), for the
    backward."""
    x = np.ascontiguousarray(x)
    p, k, q = as_pkq(x.shape, axis)
    y = np.empty_like(x)
    s = np.empty((p, q), dtype=np.float64)
    if y.size:
        _l2_rows(x.reshape(p, k, q), y.reshape(p, k, q), s, 1.0 / float(epsilon))
    return y, s


def l2_normalize_backward(grad, y, s, axis, epsilon):
    """grad, y = l2_normalize_forward's output (same shape), s its sums -> the gradient w.r.t. its input."""
    y = np.ascontiguousarray(y)
    grad = np.ascontiguousarray(grad, dtype=y.dtype)
    p, k, q = as_pkq(y.shape, axis)
    dx = np.empty_like(y)
    if dx.size:
        _l2_backward_rows(grad.reshape(p, k, q), y.reshape(p, k, q), s, dx.reshape(p, k, q),
                          1.0 / float(epsilon))
    return dx
