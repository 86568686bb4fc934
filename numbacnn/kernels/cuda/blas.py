"""Matrix products and column sums on the GPU, for the other CUDA kernels.

One shared-memory tiled product serves them all: a block of TILE x TILE threads computes a
(TILE*_REG) x (TILE*_REG) tile of the output, each thread a _REG x _REG tile held in registers, and the
operands pass through shared memory TILE values of k at a time. :func:`matmul` can read either operand
transposed (``a`` stored (K,M), ``b`` stored (N,K)), so that ``x.T @ g`` and ``g @ w.T`` need no
transposed copy, add the product into ``out`` instead of overwriting it, and add a bias row.
Column sums (bias gradients) are a two-pass reduction in float64: per-block partial sums, then a total.
"""

import numpy as np
from numba import cuda, float64

from . import launch
from .workspace import workspace_give, workspace_take

__all__ = ["gemm"]

_TILE = launch.TILE
_REG = 4  # outputs per thread along each axis
_BLOCK = _TILE * _REG  # output rows and columns of one block
_PADDED = _BLOCK + 1  # shared rows one longer: the k-major stores do not hit one bank
_THREADS = _TILE * _TILE
_TARGET_BLOCKS = 264  # blocks that keep every SM of an H100 (132) busy
_MIN_SPLIT_K = 256  # K per block, at least, when K is split
_SUM_ROWS = 1024  # rows summed by one block of the column-sum pass (at least)
_SUM_CHUNKS = 512  # at most this many partial sums per column


@cuda.jit(cache=True)
def _gemm(a, b, bias, has_bias, out, trans_a, trans_b, accumulate, k_chunk):
    """op(a) (M,K) @ op(b) (K,N) [+ bias (N,) when ``has_bias``] -> out (S,M,N): block z writes out[z],
    the product over k in [z*k_chunk, (z+1)*k_chunk) (S splits of K; S = 1: the whole product), added to
    it when ``accumulate``. op(a) is a.T when ``trans_a`` (a stored (K,M)), op(b) is b.T when ``trans_b``
    (b stored (N,K)). Block (x, y) computes output rows x*_BLOCK.. and columns y*_BLOCK...
    """
    m_ = out.shape[1]
    n_ = out.shape[2]
    k_ = a.shape[0] if trans_a else a.shape[1]
    split = cuda.blockIdx.z
    k_begin = split * k_chunk
    k_end = min(k_, k_begin + k_chunk)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    tid = ty * _TILE + tx
    row0 = cuda.blockIdx.x * _BLOCK
    col0 = cuda.blockIdx.y * _BLOCK
    sa = cuda.shared.array((_TILE, _PADDED), dtype=a.dtype)  # sa[kk, i] = op(a)[row0 + i, k0 + kk]
    sb = cuda.shared.array((_TILE, _PADDED), dtype=b.dtype)  # sb[kk, j] = op(b)[k0 + kk, col0 + j]
    acc = cuda.local.array((_REG, _REG), dtype=out.dtype)
    ar = cuda.local.array(_REG, dtype=a.dtype)
    br = cuda.local.array(_REG, dtype=b.dtype)
    for i in range(_REG):
        for j in range(_REG):
            acc[i, j] = 0
    for k0 in range(k_begin, k_end, _TILE):
        for step in range(_REG):  # each thread stages _REG elements of each tile
            idx = tid + step * _THREADS
            if trans_a:  # neighbouring threads read neighbouring elements of the stored rows
                i = idx % _BLOCK
                kk = idx // _BLOCK
                r = row0 + i
                c = k0 + kk
                if r < m_ and c < k_end:
                    sa[kk, i] = a[c, r]
                else:
                    sa[kk, i] = 0
            else:
                kk = idx % _TILE
                i = idx // _TILE
                r = row0 + i
                c = k0 + kk
                if r < m_ and c < k_end:
                    sa[kk, i] = a[r, c]
                else:
                    sa[kk, i] = 0
            if trans_b:
                kk = idx % _TILE
                j = idx // _TILE
                r = k0 + kk
                c = col0 + j
                if r < k_end and c < n_:
                    sb[kk, j] = b[c, r]
                else:
                    sb[kk, j] = 0
            else:
                j = idx % _BLOCK
                kk = idx // _BLOCK
                r = k0 + kk
                c = col0 + j
                if r < k_end and c < n_:
                    sb[kk, j] = b[r, c]
                else:
                    sb[kk, j] = 0
        cuda.syncthreads()
        for kk in range(_TILE):
            for i in range(_REG):
                ar[i] = sa[kk, ty + i * _TILE]
            for j in range(_REG):
                br[j] = sb[kk, tx + j * _TILE]
            for i in range(_REG):
                for j in range(_REG):
                    acc[i, j] += ar[i] * br[j]
        cuda.syncthreads()
    for i in range(_REG):
        r = row0 + ty + i * _TILE
        if r < m_:
            for j in range(_REG):
                c = col0 + tx + j * _TILE
                if c < n_:
                    v = acc[i, j]
                    if has_bias:
                        v += bias[c]
                    if accumulate:
                        out[split, r, c] += v
                    else:
                        out[split, r, c] = v


@cuda.jit(cache=True)
def _sum_splits(partial, bias, has_bias, out, accumulate):
    """partial (S,M,N) -> out (M,N) = the sum over S [+ bias (N,) when ``has_bias``], added to out when
    ``accumulate``."""
    m_ = out.shape[0]
    n_ = out.shape[1]
    i = cuda.grid(1)
    if i >= m_ * n_:
        return
    r = i // n_
    c = i % n_
    s = 0.0
    for z in range(partial.shape[0]):
        s += partial[z, r, c]
    if has_bias:
        s += bias[c]
    if accumulate:
        out[r, c] += s
    else:
        out[r, c] = s


def _splits(m, n, k):
    """(splits of K, k per split): enough blocks for the whole GPU when M x N alone gives few."""
    tiles = launch.blocks(m, _BLOCK) * launch.blocks(n, _BLOCK)
    splits = min(launch.blocks(_TARGET_BLOCKS, tiles), max(1, k // _MIN_SPLIT_K))
    if splits <= 1:
        return 1, max(k, 1)
    k_chunk = launch.blocks(launch.blocks(k, splits), _TILE) * _TILE
    return launch.blocks(k, k_chunk), k_chunk


_NO_BIAS = {}  # dtype -> a one-element device array passed where there is no bias


def _no_bias(dtype):
    """The stand-in bias (never read) for ``dtype``: kernels take arrays, not None."""
    key = np.dtype(dtype).str
    if key not in _NO_BIAS:
        _NO_BIAS[key] = launch.allocate((1,), dtype)  # kept for good: never a step's buffer
    return _NO_BIAS[key]


def matmul(a, b, out, trans_a=False, trans_b=False, accumulate=False, bias=None):
    """out (M,N) = op(a) @ op(b) [+ bias], or ``+=`` with ``accumulate``; op is a transpose when asked:
    a (M,K) or, with ``trans_a``, (K,M); b (K,N) or, with ``trans_b``, (N,K); bias (N,) or None.

    Device arrays; ``out`` is written in place and returned. When M x N makes few blocks and K is long
    (a weight gradient), K is split over more blocks and their partial products summed by a second kernel.
    """
    m, n = (int(s) for s in out.shape)
    k = int(a.shape[0] if trans_a else a.shape[1])
    splits, k_chunk = _splits(m, n, k)
    blocks = (launch.blocks(m, _BLOCK), launch.blocks(n, _BLOCK), splits)
    has_bias = bias is not None
    if not has_bias:  # a kernel argument cannot be None on a GPU (the simulator alone takes it)
        bias = _no_bias(out.dtype)
    if splits == 1:
        launch.at(_gemm, blocks, (_TILE, _TILE))(a, b, bias, has_bias, out.reshape((1, m, n)),
                                                       bool(trans_a), bool(trans_b), bool(accumulate),
                                                       k_chunk)
        return out
    partial = workspace_take((splits, m, n), out.dtype)
    launch.at(_gemm, blocks, (_TILE, _TILE))(a, b, bias, False, partial, bool(trans_a), bool(trans_b),
                                                   False, k_chunk)
    grid, threads = launch.grid(m * n)
    launch.at(_sum_splits, grid, threads)(partial, bias, has_bias, out, bool(accumulate))
    workspace_give(partial)  # the kernels queued on the stream use it before any next taker
    return out


def gemm(a, b, out=None):
    """a (M,K) @ b (K,N) -> out (M,N): float32 or float64 device arrays; a and b of any strides, ``out``
    C-contiguous (allocated in a's dtype when None)."""
    if out is None:
        out = launch.empty((a.shape[0], b.shape[1]), a.dtype)
    return matmul(a, b, out)


@cuda.jit(cache=True)
def _column_partials(g, partial):
    """g (M,N) -> partial (R,N) float64: block (x, y) sums columns x*TILE.. over the y-th of R row chunks."""
    m_ = g.shape[0]
    n_ = g.shape[1]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    col = cuda.blockIdx.x * _TILE + tx
    chunk = (m_ + cuda.gridDim.y - 1) // cuda.gridDim.y
    start = cuda.blockIdx.y * chunk
    stop = min(m_, start + chunk)
    s = 0.0
    if col < n_:
        for r in range(start + ty, stop, _TILE):
            s += g[r, col]
    tree = cuda.shared.array((_TILE, _TILE), dtype=float64)
    tree[ty, tx] = s
    cuda.syncthreads()
    half = _TILE // 2
    while half > 0:
        if ty < half:
            tree[ty, tx] += tree[ty + half, tx]
        cuda.syncthreads()
        half //= 2
    if ty == 0 and col < n_:
        partial[cuda.blockIdx.y, col] = tree[0, tx]


@cuda.jit(cache=True)
def _column_totals(partial, out, accumulate):
    """partial (R,N) -> out (N,) = the sum over R (added to out when ``accumulate``); one thread a column."""
    j = cuda.grid(1)
    if j < out.shape[0]:
        s = 0.0
        for r in range(partial.shape[0]):
            s += partial[r, j]
        if accumulate:
            out[j] += s
        else:
            out[j] = s


def column_sums(g, out, accumulate=False):
    """g (M,N) -> out (N,) = the sum over rows (``+=`` with ``accumulate``), accumulated in float64."""
    m, n = g.shape
    chunks = min(_SUM_CHUNKS, launch.blocks(m, _SUM_ROWS))
    partial = workspace_take((chunks, n), np.float64)
    launch.at(_column_partials, (launch.blocks(n, _TILE), chunks), (_TILE, _TILE))(g, partial)
    blocks, threads = launch.grid(n)
    launch.at(_column_totals, blocks, threads)(partial, out, bool(accumulate))
    workspace_give(partial)
    return out
