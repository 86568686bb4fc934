"""N-d convolution (cross-correlation, channels-last) for ranks 1, 2 and 3, forward and backward.

One core works on 5-D views: x (N,D,H,W,C), kernel (KD,KH,KW,C,F); a 1-D or 2-D call is the same
arrays with singleton spatial axes put in front. Forward and weight gradient are im2col (a parallel
gather into a workspace) followed by a matrix product (``blas.gemm``); at inference the columns are
instead built and multiplied block by block in cache, bias included (``_conv_blocked``). The input
gradient is a product into column space followed by col2im written as a gather (every input pixel sums
the kernel taps whose output position exists, so no two threads write the same element), a few samples
at a time in cache (``_backward_input_blocked``). With stride 1 and fewer filters than channels it is
instead a forward convolution with the flipped kernel. Stride 1
with few filters and channels goes by direct loops instead (``conv_direct``), forward and weight
gradient, and at inference both forward routes apply bias, batch-norm and relu in cache
(``conv_epilogue``).

Padding is explicit: ``pad_before`` and ``pad_after`` per spatial axis (zeros outside the input).
Training keeps the im2col matrix for the weight gradient only up to ``_KEEP_COLS_BYTES``; past that,
the forward and the weight gradient each build it again in cache-sized blocks.
"""

import math

import numpy as np
from numba import get_num_threads, get_thread_id, njit, prange

from .blas import _sum_partials, gemm, reduction_parts, single_pool, vector_route
from .conv_direct import (
    direct_applies,
    forward_direct,
    forward_direct_pooled,
    pad_planar,
    padded_size,
    weights_direct,
)
from .conv_epilogue import FUSABLE_ACTIVATIONS, _epilogue, _epilogue_args, _epilogue_parallel
from .pooling import pool_avg_forward, pool_max_forward
from .vector_gemm import product_into, product_t_add
from .vector_math import copy_run
from .workspace import workspace_give, workspace_take

__all__ = ["FUSABLE_ACTIVATIONS", "conv_backward_bias", "conv_backward_input", "conv_backward_weights",
           "conv_forward", "conv_forward_infer", "conv_forward_pooled", "conv_output_shape"]

# Inference builds its columns block by block in cache (``_conv_blocked``) instead of one large matrix:
# in a whole model on 2 cores, 1.1-1.3x the images/s of the large matrix, most where it exceeds L2.
# Training keeps the large matrix for the weight gradient (the blocked route, which rebuilds the blocks
# there, measured 0.85-1.1x).
# Training keeps the im2col matrix for the weight gradient up to this size; a larger one (past what the
# L3 holds) is built twice in cache-sized blocks instead, in the forward and the weight gradient, which
# costs less than writing it to memory and reading it back (CIFAR CNN's second layer at b128, 25 MB:
# forward + weight gradient 6.1 -> 5.0 ms; its first, 12 MB, 3.3 -> 3.5 ms).
_KEEP_COLS_BYTES = 16 * 2 ** 20
_BLOCK_FLOATS = 2 ** 17  # ~512 KiB of float32 columns per thread: within a 1-2 MiB L2


@njit(cache=True, nogil=True)
def _fill_taps(src, row_in, block, base, col, o0, o1, kw_, c_, sw, dw, pw, w_):
    """The kw_ taps of one kernel row, tap by tap, for output columns o0 <= ow < o1: block[base + ow,
    col + e*C : col + (e+1)*C] = input column ow*sw + e*dw - pw of ``src`` (W, C), or zeros outside
    the image (or everywhere when not ``row_in``). Per tap the columns inside the image are one range
    [lo, hi) computed up front, so the copy loop has no bounds test; a tap is a slice copy when C is
    large enough to pay for it."""
    for e in range(kw_):
        off = e * dw - pw  # output column ow reads input column ow*sw + off
        lo = o0
        hi = o0
        if row_in and off <= w_ - 1:
            lo = max(o0, min(o1, (sw - 1 - off) // sw if off < 0 else 0))
            hi = max(lo, min(o1, (w_ - 1 - off) // sw + 1))
        k = col + e * c_
        if c_ == 1:  # scalar stores: a one-element slice assignment costs a call
            for ow in range(o0, lo):
                block[base + ow, k] = 0
            for ow in range(lo, hi):
                block[base + ow, k] = src[ow * sw + off, 0]
            for ow in range(hi, o1):
                block[base + ow, k] = 0
        else:
            for ow in range(o0, lo):
                block[base + ow, k:k + c_] = 0
            # element by element, not a slice copy (block[.., k:k + c_] = src[..]): an array-to-slice
            # assignment compiles Numba's shape-mismatch message, about 1.3 s of a cold start
            for ow in range(lo, hi):
                xx = ow * sw + off
                for c in range(c_):
                    block[base + ow, k + c] = src[xx, c]
            for ow in range(hi, o1):
                block[base + ow, k:k + c_] = 0


@njit(cache=True, nogil=True)
def _fill_rows(x, block, r0, r1, ksize, strides, dilation, pad, out_size):
    """block[(r - r0)*OW + ow, :] = the taps of output pixel (r, ow), for output rows r0 <= r < r1.

    An output row r is (n, od, oh). Without dilation along W, a kernel row's taps of an output column
    whose window lies inside the image are kw*C consecutive input values, copied as one run in 16-lane
    moves (``copy_run``); the columns at the borders (and dilated kernels) go tap by tap
    (``_fill_taps``), zeros for the padding. x and block must be C-contiguous.
    """
    n_, d_, h_, w_, c_ = x.shape
    kd_, kh_, kw_ = ksize
    od_, oh_, ow_ = out_size
    sw, pw = strides[2], pad[2]
    run = kw_ * c_
    width = block.shape[1]
    x_flat = x.reshape(-1)
    block_flat = block.reshape(-1)
    # _fill_taps is a call, not inlined (three inlined copies were ~1 s of every conv model's cold start);
    # int64 arguments, not literals, so that all three calls share one specialisation
    zero, one = np.int64(0), np.int64(1)
    for r in range(r0, r1):
        oh = r % oh_
        q = r // oh_
        od = q % od_
        n = q // od_
        base = (r - r0) * ow_
        col = np.int64(0)  # not a literal 0: _fill_taps would be specialised for Literal[int](0) too
        for a in range(kd_):
            z = od * strides[0] - pad[0] + a * dilation[0]
            for b in range(kh_):
                y = oh * strides[1] - pad[1] + b * dilation[1]
                row_in = 0 <= z < d_ and 0 <= y < h_
                src = x[n, z, y] if row_in else x[n, 0, 0]
                if row_in and dilation[2] == 1:
                    # the output columns whose window ow*sw - pw ... + kw - 1 lies inside [0, W)
                    i0 = min(ow_, (pw + sw - 1) // sw)
                    i1 = max(i0, min(ow_, (w_ - kw_ + pw) // sw + 1))
                    row_start = ((n * d_ + z) * h_ + y) * w_ * c_
                    for ow in range(i0, i1):
                        copy_run(block_flat, (base + ow) * width + col, x_flat,
                                 row_start + (ow * sw - pw) * c_, run)
                    _fill_taps(src, row_in, block, base, col, zero, i0, kw_, c_, sw, one, pw, w_)
                    _fill_taps(src, row_in, block, base, col, i1, ow_, kw_, c_, sw, one, pw, w_)
                else:
                    _fill_taps(src, row_in, block, base, col, zero, ow_, kw_, c_, sw, dilation[2], pw, w_)
                col += run


@njit(parallel=True, cache=True, nogil=True)
def _im2col(x, cols, ksize, strides, dilation, pad, out_size):
    """x (N,D,H,W,C) -> cols (N*OD*OH*OW, KD*KH*KW*C); taps that fall in the padding are 0.
    One task per output row (n, od, oh)."""
    n_rows = x.shape[0] * out_size[0] * out_size[1]
    ow_ = out_size[2]
    for t in prange(n_rows):
        r = np.int64(t)  # the parallel loop's index is uint64 there: one _fill_rows specialisation, not two
        _fill_rows(x, cols[r * ow_:(r + 1) * ow_], r, r + 1, ksize, strides, dilation, pad, out_size)


@njit(parallel=True, cache=True, nogil=True)
def _conv_blocked(x, wmat, bias, scale, shift, act, y, scratch, rows_per_task, ksize, strides, dilation,
                  pad, out_size, vector):
    """y (N*OD*OH*OW, F) = epilogue(im2col(x) @ wmat), one block of output rows per task: its columns
    are built in this thread's slice of ``scratch`` (small enough to stay in cache), multiplied into
    its rows of y, and the bias, batch-norm affine and relu (``_epilogue``) applied while they are
    still in cache. Nothing of the size of the whole column matrix is written."""
    od_, oh_, ow_ = out_size
    n_rows = x.shape[0] * od_ * oh_
    for t in prange((n_rows + rows_per_task - 1) // rows_per_task):
        r0 = t * rows_per_task
        r1 = min(n_rows, r0 + rows_per_task)
        block = scratch[get_thread_id()][:(r1 - r0) * ow_]
        _fill_rows(x, block, r0, r1, ksize, strides, dilation, pad, out_size)
        out = y[r0 * ow_:r1 * ow_]
        product_into(block, wmat, out, vector)
        _epilogue(out, bias, scale, shift, act)


@njit(cache=True, nogil=True)
def _max_pool_rows(z, y, argmax, base, oh_, pool, ow_):
    """y (PW, F) = the max over each window of z, whose rows are the pool[0]*pool[1] conv output rows
    of one pooled row ([dz][dh][ow] order, OW pixels each): a window is pool[0]*pool[1]*pool[2] pixels,
    visited in row-major order with ``pool_max_forward``'s comparison, so the same value wins. Where
    ``argmax`` has rows (PW, F), it gets the winner's flat index in the conv output (OD, OH, OW), as
    ``pool_max_forward`` gives it; ``base`` is the index of the window row's first cell."""
    pw_, f_ = y.shape
    record = argmax.shape[0] > 0
    for q in range(pw_):
        first = z[q * pool[2]]
        out = y[q]
        for f in range(f_):
            out[f] = first[f]
        if record:
            arg = argmax[q]
            for f in range(f_):
                arg[f] = base + q * pool[2]
        for dz in range(pool[0]):
            for dh in range(pool[1]):
                j = dz * pool[1] + dh
                cell = base + (dz * oh_ + dh) * ow_ + q * pool[2]
                for e in range(pool[2]):
                    v = z[j * ow_ + q * pool[2] + e]
                    for f in range(f_):
                        m = out[f]
                        if v[f] > m or (np.isnan(v[f]) and not np.isnan(m)):
                            out[f] = v[f]
                            if record:
                                argmax[q, f] = cell + e


@njit(cache=True, nogil=True)
def _avg_pool_rows(z, y, pool, ow_):
    """y (PW, F) = the mean over each window of z, laid out as for ``_max_pool_rows``: the window's
    cells summed in row-major order from 0 and divided by their count, ``pool_avg_forward``'s
    arithmetic (its windows here have no padding, so every cell is real)."""
    pw_, f_ = y.shape
    count = pool[0] * pool[1] * pool[2]
    for q in range(pw_):
        out = y[q]
        out[:] = 0
        for dz in range(pool[0]):
            for dh in range(pool[1]):
                j = dz * pool[1] + dh
                for e in range(pool[2]):
                    v = z[j * ow_ + q * pool[2] + e]
                    for f in range(f_):
                        out[f] += v[f]
        for f in range(f_):
            out[f] /= count


@njit(parallel=True, cache=True, nogil=True)
def _conv_blocked_pooled(x, wmat, bias, scale, shift, act, y, argmax, scratch, conv_out, windows_per_task,
                         pool, ksize, strides, dilation, pad, out_size, pooled_size, vector, average):
    """``_conv_blocked`` followed by max pooling (average pooling with ``average``) with windows
    ``pool`` = strides: y (N*PD*PH*PW, F).

    A task takes whole pooled rows (n, pd, ph): it builds the columns of their pool[0]*pool[1] conv
    output rows, multiplies them into this thread's ``conv_out`` rows, applies the epilogue and writes
    only the windows' maxima (or means). Conv rows that no window covers (the last ones when
    OH % pool != 0) are not computed."""
    od_, oh_, ow_ = out_size
    pd_, ph_, pw_ = pooled_size
    n_windows = x.shape[0] * pd_ * ph_
    rows = pool[0] * pool[1]
    for t in prange((n_windows + windows_per_task - 1) // windows_per_task):
        g0 = t * windows_per_task
        g1 = min(n_windows, g0 + windows_per_task)
        tid = get_thread_id()
        block = scratch[tid][:(g1 - g0) * rows * ow_]
        # conv rows [run_start, run_end) go to block from row k_start; int64 from the start, not a literal 0,
        # which Numba's type inference passes to _fill_rows first (an extra specialisation, ~11 s cold)
        run_start = run_end = k_start = np.int64(0)
        for g in range(g0, g1):
            ph = g % ph_
            q = g // ph_
            pd = q % pd_
            n = q // pd_
            for dz in range(pool[0]):
                r = (n * od_ + pd * pool[0] + dz) * oh_ + ph * pool[1]
                k = (g - g0) * rows + dz * pool[1]
                if r != run_end or k != k_start + run_end - run_start:  # not adjacent: fill the run so far
                    _fill_rows(x, block[k_start * ow_:(k_start + run_end - run_start) * ow_], run_start,
                               run_end, ksize, strides, dilation, pad, out_size)
                    run_start, run_end, k_start = r, r, k
                run_end += pool[1]
        _fill_rows(x, block[k_start * ow_:(k_start + run_end - run_start) * ow_], run_start, run_end, ksize,
                   strides, dilation, pad, out_size)
        z = conv_out[tid][:block.shape[0]]
        product_into(block, wmat, z, vector)
        _epilogue(z, bias, scale, shift, act)
        for g in range(g0, g1):
            k = (g - g0) * rows * ow_
            ph = g % ph_
            pd = (g // ph_) % pd_
            base = (pd * pool[0] * oh_ + ph * pool[1]) * ow_
            if average:
                _avg_pool_rows(z[k:k + rows * ow_], y[g * pw_:(g + 1) * pw_], pool, ow_)
                continue
            arg = argmax[g * pw_:(g + 1) * pw_] if argmax.shape[0] > 0 else argmax
            _max_pool_rows(z[k:k + rows * ow_], y[g * pw_:(g + 1) * pw_], arg, base, oh_, pool, ow_)


@njit(cache=True, nogil=True, inline="always")
def _zeroed_row(dx, r):
    """(n, z, y, dx[n, z, y] set to 0) for input row r of dx (N,D,H,W,C): a col2im task's row."""
    _, d_, h_, _, _ = dx.shape
    y = r % h_
    q = r // h_
    z = q % d_
    n = q // d_
    row = dx[n, z, y]
    row[:, :] = 0
    return n, z, y, row


@njit(cache=True, nogil=True, inline="always")
def _reached(t, stride, n_out):
    """The output index t / stride along an axis, or -1 where t is negative, not a multiple of the
    stride, or past the last output."""
    if t < 0 or t % stride != 0 or t // stride >= n_out:
        return -1
    return t // stride


@njit(cache=True, nogil=True)
def _col2im_row(cols, dx, r, ksize, strides, dilation, pad, out_size):
    """Input row r (n, z, y) of dx (N,D,H,W,C) from cols (N*OD*OH*OW, KD*KH*KW*C): each pixel gathers
    its taps. Along W, the pixels a tap reaches are every stride-th one from the first whose output
    position exists, so no modulo in the loop."""
    _, _, _, w_, c_ = dx.shape
    kd_, kh_, kw_ = ksize
    od_, oh_, ow_ = out_size
    sw = strides[2]
    n, z, y, row = _zeroed_row(dx, r)
    for a in range(kd_):
        od = _reached(z + pad[0] - a * dilation[0], strides[0], od_)
        if od < 0:
            continue
        for b in range(kh_):
            oh = _reached(y + pad[1] - b * dilation[1], strides[1], oh_)
            if oh < 0:
                continue
            base = ((n * od_ + od) * oh_ + oh) * ow_
            for e in range(kw_):
                col = ((a * kh_ + b) * kw_ + e) * c_
                off = pad[2] - e * dilation[2]  # the output column of pixel xx is (xx + off) / sw
                first = -off if off < 0 else (-off) % sw
                ow = (first + off) // sw
                for xx in range(first, w_, sw):
                    if ow >= ow_:
                        break
                    src = cols[base + ow, col:col + c_]
                    dst = row[xx]
                    for c in range(c_):
                        dst[c] += src[c]
                    ow += 1


@njit(cache=True, nogil=True)
def _col2im_runs_row(cols, dx, r, ksize, strides, pad, out_size):
    """``_col2im_row`` for fewer than 16 channels (a tap's C values are too short a loop), no dilation.

    An output column's window inside the image is one run of kw*C consecutive values of the input row,
    added from its columns at once (the mirror of ``_fill_rows``'s copy); the border windows go tap by
    tap. The output columns go from the last to the first, so each pixel adds its taps in the kernel's
    order: the same sums as ``_col2im_row``, to the bit. (Backwards was slower with 32-64 channels, and
    this loop's branch cost ``_col2im_row`` a few percent, hence two functions.)"""
    _, _, _, w_, c_ = dx.shape
    kd_, kh_, kw_ = ksize
    od_, oh_, ow_ = out_size
    sw, pw = strides[2], pad[2]
    run = kw_ * c_
    i0 = min(ow_, (pw + sw - 1) // sw)  # the output columns whose window lies inside [0, W)
    i1 = max(i0, min(ow_, (w_ - kw_ + pw) // sw + 1))
    n, z, y, row = _zeroed_row(dx, r)
    flat = row.reshape(w_ * c_)
    for a in range(kd_):
        od = _reached(z + pad[0] - a, strides[0], od_)
        if od < 0:
            continue
        for b in range(kh_):
            oh = _reached(y + pad[1] - b, strides[1], oh_)
            if oh < 0:
                continue
            base = ((n * od_ + od) * oh_ + oh) * ow_
            col = (a * kh_ + b) * run
            for ow in range(ow_ - 1, -1, -1):
                taps = cols[base + ow, col:col + run]
                start = ow * sw - pw
                if i0 <= ow < i1:
                    dst = flat[start * c_:start * c_ + run]
                    for i in range(run):
                        dst[i] += taps[i]
                else:
                    for e in range(kw_):
                        xx = start + e
                        if 0 <= xx < w_:
                            dst = row[xx]
                            for c in range(c_):
                                dst[c] += taps[e * c_ + c]


@njit(cache=True, nogil=True, inline="always")
def _col2im_rows(cols, dx, r0, r1, runs, ksize, strides, dilation, pad, out_size):
    """Input rows r0..r1 of dx, by ``_col2im_runs_row`` where ``runs`` (no dilation), else ``_col2im_row``."""
    for r in range(r0, r1):
        if runs:
            _col2im_runs_row(cols, dx, r, ksize, strides, pad, out_size)
        else:
            _col2im_row(cols, dx, r, ksize, strides, dilation, pad, out_size)


@njit(parallel=True, cache=True, nogil=True)
def _weights_blocked(x, g, partial, scratch, samples_per_block, ksize, strides, dilation, pad, out_size,
                     vector):
    """partial[p] (taps*C, F) = im2col(x)[share p].T @ g[share p]: x (N,D,H,W,C), g (N*OD*OH*OW, F),
    the batch cut into len(partial) shares of whole samples (a number fixed by the problem, so that the
    sums do not depend on the thread count). A share's columns are built a few samples at a time in its
    thread's slice of ``scratch`` (small enough to stay in cache) and multiplied from there, so
    they are never written to memory; the caller adds the partials in a fixed order."""
    n_ = x.shape[0]
    rows_per_sample = out_size[0] * out_size[1]
    per_sample = rows_per_sample * out_size[2]
    parts = partial.shape[0]
    for p in prange(parts):
        acc = partial[p]
        acc[:, :] = 0
        block_all = scratch[get_thread_id()]
        for s0 in range(n_ * p // parts, n_ * (p + 1) // parts, samples_per_block):
            s1 = min(n_ * (p + 1) // parts, s0 + samples_per_block)
            block = block_all[:(s1 - s0) * per_sample]
            _fill_rows(x, block, s0 * rows_per_sample, s1 * rows_per_sample, ksize, strides, dilation, pad,
                       out_size)
            product_t_add(block, g[s0 * per_sample:s1 * per_sample], acc, vector)


@njit(parallel=True, cache=True, nogil=True)
def _backward_input_blocked(g, wmat_t, dx, scratch, samples_per_task, runs, ksize, strides, dilation, pad,
                            out_size, vector):
    """dx (N,D,H,W,C) = col2im(g @ wmat_t), g (N*OD*OH*OW, F), wmat_t (F, KD*KH*KW*C), C-contiguous,
    a few samples per task: their columns are multiplied into this thread's slice of ``scratch``
    (small enough to stay in cache) and gathered into their rows of dx from there, so the column
    matrix of the whole batch is never written to memory and read back."""
    n_, d_, h_ = dx.shape[0], dx.shape[1], dx.shape[2]
    per_sample = out_size[0] * out_size[1] * out_size[2]
    for t in prange((n_ + samples_per_task - 1) // samples_per_task):
        s0 = t * samples_per_task
        s1 = min(n_, s0 + samples_per_task)
        block = scratch[get_thread_id()][:(s1 - s0) * per_sample]
        product_into(g[s0 * per_sample:s1 * per_sample], wmat_t, block, vector)
        _col2im_rows(block, dx[s0:s1], 0, (s1 - s0) * d_ * h_, runs, ksize, strides, dilation, pad, out_size)


def conv_output_shape(input_spatial, kernel_size, strides, dilation, pad_before, pad_after):
    """Spatial output size: floor((in + pads - (k-1)*dilation - 1) / stride) + 1 per axis."""
    return tuple((i + pb + pa - (k - 1) * d - 1) // s + 1 for i, k, s, d, pb, pa
                 in zip(input_spatial, kernel_size, strides, dilation, pad_before, pad_after))


def _geometry(rank, kernel_size, strides, dilation, pad_before, pad_after):
    """Every per-axis argument as a 3-tuple of ints (leading axes trivial); None means 1, 1, 0, pad_before."""
    def fill(values, default):
        values = tuple(int(v) for v in values)
        if len(values) != rank:
            raise ValueError(f"conv: expected {rank} values per spatial axis, received {values}")
        return (default,) * (3 - rank) + values

    strides = (1,) * rank if strides is None else strides
    dilation = (1,) * rank if dilation is None else dilation
    pad_before = (0,) * rank if pad_before is None else pad_before
    pad_after = pad_before if pad_after is None else pad_after
    return (fill(kernel_size, 1), fill(strides, 1), fill(dilation, 1), fill(pad_before, 0),
            fill(pad_after, 0))


def _as5d(a, rank):
    """(N, *spatial, C) -> (N, D, H, W, C) view, C-contiguous."""
    a = np.ascontiguousarray(a)
    return a.reshape((a.shape[0],) + (1,) * (3 - rank) + a.shape[1:])


def _block_rows(rows_total, threads, width, row_pixels):
    """Output rows per block: about ``_BLOCK_FLOATS`` column values, and at least one block per thread."""
    return max(1, min(-(-rows_total // threads), _BLOCK_FLOATS // (width * row_pixels)))


def _forward_blocked(x5, wmat, y, ksize, strides, dilation, pb, out, post):
    """``_conv_blocked`` with a scratch block per thread of about ``_BLOCK_FLOATS`` values; ``post`` is
    the epilogue's (bias, scale, shift, act)."""
    single_pool()  # a task's BLAS product must run in its own thread, as gemm's do, from the first call
    threads = get_num_threads()
    rows = _block_rows(x5.shape[0] * out[0] * out[1], threads, wmat.shape[0], out[2])
    scratch = workspace_take((threads, rows * out[2], wmat.shape[0]), x5.dtype)
    _conv_blocked(x5, wmat, *post, y, scratch, rows, ksize, strides, dilation, pb, out,
                  vector_route(x5.dtype))
    workspace_give(scratch)


def _forward_blocked_pooled(x5, wmat, y, ksize, strides, dilation, pb, out, post, pool, pooled, argmax=None,
                            average=False):
    """``_conv_blocked_pooled``: a task's blocks hold about ``_BLOCK_FLOATS`` column values; ``argmax``
    (rows of y, F) int32 gets the windows' winners when given; ``average`` pools by the mean."""
    if argmax is None:
        argmax = np.empty((0, wmat.shape[1]), dtype=np.int32)
    single_pool()
    threads = get_num_threads()
    window_pixels = pool[0] * pool[1] * out[2]
    per_task = _block_rows(x5.shape[0] * pooled[0] * pooled[1], threads, wmat.shape[0], window_pixels)
    scratch = workspace_take((threads, per_task * window_pixels, wmat.shape[0]), x5.dtype)
    conv_out = workspace_take((threads, per_task * window_pixels, wmat.shape[1]), x5.dtype)
    _conv_blocked_pooled(x5, wmat, *post, y, argmax, scratch, conv_out, per_task, pool, ksize, strides,
                         dilation, pb, out, pooled, vector_route(x5.dtype), average)
    workspace_give(conv_out)
    workspace_give(scratch)


def pool_geometry(rank, pool, out, caller="conv_forward_infer"):
    """A pooling after a convolution with output ``out`` (3 values): ``pool`` (rank values, windows
    that are their own strides, no padding) as 3 values, and the pooled size floor(out / pool); errors
    name ``caller``."""
    pool = tuple(int(p) for p in pool)
    if len(pool) != rank or min(pool) < 1:
        raise ValueError(f"{caller}: pool must be {rank} sizes >= 1, received {pool}")
    pool = (1,) * (3 - rank) + pool
    pooled = tuple(o // p for o, p in zip(out, pool))
    if min(pooled) < 1:
        raise ValueError(f"{caller}: pool {pool[3 - rank:]} is larger than the convolution's "
                         f"output {out[3 - rank:]}")
    return pool, pooled


def _is_pointwise(ksize, strides, pb, pa):
    return ksize == (1, 1, 1) and strides == (1, 1, 1) and pb == (0, 0, 0) and pa == (0, 0, 0)


def _out_size(x5, ksize, strides, dilation, pb, pa):
    out = conv_output_shape(x5.shape[1:4], ksize, strides, dilation, pb, pa)
    if min(out) <= 0:
        raise ValueError(f"conv: input spatial shape {x5.shape[1:4]} is smaller than the dilated kernel "
                         f"{ksize} (dilation {dilation}, padding {pb}/{pa})")
    return out


def conv_forward(x, w, b=None, strides=None, dilation=None, pad_before=None, pad_after=None,
                 return_cols=False, activation=None):
    """x (N,*S,C), w (*K,C,F), b (F,) or None -> y (N,*O,F); S, K, O of rank 1, 2 or 3.

    strides, dilation, pad_before, pad_after: one int per spatial axis (defaults 1, 1, 0, pad_before).
    With ``return_cols`` it returns ``(y, cols)``: what ``conv_backward_weights`` can reuse, from
    ``workspace_take`` (the caller may ``workspace_give`` it back when done with it): the im2col matrix
    (N*prod(O), prod(K)*C), or None when it is larger than ``_KEEP_COLS_BYTES``; on the direct route
    (``direct_applies``) the padded planar input (N, C, Dp, Hp, Wp) instead.
    ``activation``: a ``(kind, p0, p1, p2)`` of ``FUSABLE_ACTIVATIONS`` applied with the bias in one
    pass over y, bit-identical to ``activation_forward`` after it (None: none).
    """
    if not return_cols:
        return conv_forward_infer(x, w, b, strides, dilation, pad_before, pad_after, activation=activation)
    rank, x5, wmat, geometry, out = _prepare(x, w, strides, dilation, pad_before, pad_after)
    ksize, strides, dilation, pb, pa = geometry
    n, c, f = x5.shape[0], x5.shape[-1], wmat.shape[1]
    per_sample = int(np.prod(out))
    y = np.empty((n * per_sample, f), dtype=x5.dtype)
    cols = None
    if _is_pointwise(ksize, strides, pb, pa):
        gemm(x5.reshape(-1, c), wmat, out=y)
    elif direct_applies(c, f, ksize, strides, pb, pa):
        post = _epilogue_args(y.dtype, b, None, None, activation)
        cols = forward_direct(x5, wmat, y, ksize, dilation, pb, pa, out, post, keep=True)
        return y.reshape((n,) + out[3 - rank:] + (f,)), cols
    elif n * per_sample * wmat.shape[0] * x5.itemsize > _KEEP_COLS_BYTES:
        post = _epilogue_args(y.dtype, b, None, None, activation)
        _forward_blocked(x5, wmat, y, ksize, strides, dilation, pb, out, post)
        return y.reshape((n,) + out[3 - rank:] + (f,)), None
    else:
        cols = workspace_take((n * per_sample, wmat.shape[0]), x5.dtype)
        _im2col(x5, cols, ksize, strides, dilation, pb, out)
        gemm(cols, wmat, out=y)
    if b is not None or activation is not None:
        post = _epilogue_args(y.dtype, b, None, None, activation)
        _epilogue_parallel(y, *post, _block_rows(y.shape[0], get_num_threads(), f, 1))
    return y.reshape((n,) + out[3 - rank:] + (f,)), cols


def conv_forward_infer(x, w, b=None, strides=None, dilation=None, pad_before=None, pad_after=None,
                       scale=None, shift=None, activation=None, pool=None, pool_average=False):
    """pool(act((conv(x, w) + b) * scale + shift)) in one pass over cache-sized blocks (no columns kept).

    Arguments as ``conv_forward``; ``scale`` and ``shift`` (F,) are an inference batch-norm's
    per-channel affine (``batchnorm_infer_affine``), ``activation`` a ``(kind, p0, p1, p2)`` with
    kind in ``FUSABLE_ACTIVATIONS``, ``pool`` the window of a max pooling (an average pooling with
    ``pool_average``) whose strides are its window and which has no padding (one size per spatial axis;
    the output is floor(O / pool)); each is skipped when None. The same as ``conv_forward`` followed by
    ``batchnorm_forward_infer``, ``activation_forward`` and ``pool_max_forward`` (or
    ``pool_avg_forward``), in one pass over y instead of four: to the bit without ``pool``; with it the
    convolution's output is pooled in cache and never written whole, and on the blocked route its
    product runs on other blocks of rows than without a pool: to the bit on ``vector_gemm`` too, while
    the BLAS may round a row differently in the last bit.
    """
    rank, x5, wmat, geometry, out = _prepare(x, w, strides, dilation, pad_before, pad_after)
    ksize, strides, dilation, pb, pa = geometry
    n, c, f = x5.shape[0], x5.shape[-1], wmat.shape[1]
    post = _epilogue_args(x5.dtype, b, scale, shift, activation)
    for name, a in zip(("bias", "scale", "shift"), post[:3]):
        if a.shape[0] not in (0, f):
            raise ValueError(f"conv_forward_infer: {name} has {a.shape[0]} values for {f} filters")
    pointwise = _is_pointwise(ksize, strides, pb, pa)
    direct = not pointwise and direct_applies(c, f, ksize, strides, pb, pa)
    if pool is not None:
        pool, pooled = pool_geometry(rank, pool, out)
        y = np.empty((n * int(np.prod(pooled)), f), dtype=x5.dtype)
        if direct:
            done = forward_direct_pooled(x5, wmat, y, ksize, dilation, pb, pa, out, post, pool, pooled,
                                         pool_average)
        elif not pointwise:
            _forward_blocked_pooled(x5, wmat, y, ksize, strides, dilation, pb, out, post, pool, pooled,
                                    average=pool_average)
            done = True
        else:
            done = False
        if done:
            return y.reshape((n,) + pooled[3 - rank:] + (f,))
    y = np.empty((n * int(np.prod(out)), f), dtype=x5.dtype)
    if pointwise:
        gemm(x5.reshape(-1, c), wmat, out=y)
        _epilogue_parallel(y, *post, _block_rows(y.shape[0], get_num_threads(), f, 1))
    elif direct:
        forward_direct(x5, wmat, y, ksize, dilation, pb, pa, out, post)
    else:
        _forward_blocked(x5, wmat, y, ksize, strides, dilation, pb, out, post)
    if pool is not None:
        y5 = y.reshape((n,) + out + (f,))
        if pool_average:
            y = pool_avg_forward(y5, pool, pool, (0, 0, 0), pooled)
        else:
            y = pool_max_forward(y5, pool, pool, (0, 0, 0), pooled)[0]
        out = pooled
    return y.reshape((n,) + out[3 - rank:] + (f,))


def conv_forward_pooled(x, w, b=None, strides=None, dilation=None, pad_before=None, pad_after=None,
                        activation=None, pool=None):
    """Training's convolution, activation and max pooling: ``(y, argmax, cols)`` with y (N,*P,F) the
    pooling of ``act(conv(x, w) + b)`` over windows ``pool`` (their own strides, no padding, as
    ``conv_forward_infer`` takes them), argmax (N,PD,PH,PW,F) int32 as ``pool_max_forward`` gives it for
    that convolution output, and ``cols`` as ``conv_forward(..., return_cols=True)`` gives them.

    On the blocked route the convolution's output is pooled in cache and never written (cols None: the
    weight gradient builds the columns again); elsewhere it is ``conv_forward`` then
    ``pool_max_forward``. The same values, argmax and NaN rule as those two calls.
    """
    rank, x5, wmat, geometry, out = _prepare(x, w, strides, dilation, pad_before, pad_after)
    ksize, strides5, dilation5, pb, pa = geometry
    pool, pooled = pool_geometry(rank, pool, out, "conv_forward_pooled")
    n, c, f = x5.shape[0], x5.shape[-1], wmat.shape[1]
    if not (_is_pointwise(ksize, strides5, pb, pa) or direct_applies(c, f, ksize, strides5, pb, pa)):
        post = _epilogue_args(x5.dtype, b, None, None, activation)
        y = np.empty((n * int(np.prod(pooled)), f), dtype=x5.dtype)
        argmax = np.empty(y.shape, dtype=np.int32)
        _forward_blocked_pooled(x5, wmat, y, ksize, strides5, dilation5, pb, out, post, pool, pooled, argmax)
        return y.reshape((n,) + pooled[3 - rank:] + (f,)), argmax.reshape((n,) + pooled + (f,)), None
    y, cols = conv_forward(x, w, b, strides, dilation, pad_before, pad_after, return_cols=True,
                           activation=activation)
    y, argmax = pool_max_forward(y.reshape((n,) + out + (f,)), pool, pool, (0, 0, 0), pooled)
    return y.reshape((n,) + pooled[3 - rank:] + (f,)), argmax, cols


def _prepare(x, w, strides, dilation, pad_before, pad_after):
    """Checks and the common views: (rank, x as 5-D, kernel as a (taps*C, F) matrix, geometry, out)."""
    rank = w.ndim - 2
    if x.ndim != rank + 2 or x.shape[-1] != w.shape[-2]:
        raise ValueError(f"conv_forward: input {x.shape} does not match kernel {w.shape}")
    geometry = _geometry(rank, w.shape[:rank], strides, dilation, pad_before, pad_after)
    x5 = _as5d(x, rank)
    out = _out_size(x5, *geometry)
    wmat = np.ascontiguousarray(w, dtype=x5.dtype).reshape(-1, w.shape[-1])
    return rank, x5, wmat, geometry, out


def conv_backward_input(grad, w, input_shape, strides=None, dilation=None, pad_before=None,
                        pad_after=None):
    """grad (N,*O,F), w (*K,C,F) -> dx (N,*S,C) with input_shape = (N,*S,C)."""
    rank = w.ndim - 2
    ksize, strides, dilation, pb, pa = _geometry(rank, w.shape[:rank], strides, dilation, pad_before,
                                                 pad_after)
    input_shape = tuple(int(s) for s in input_shape)
    dx5 = np.empty((input_shape[0],) + (1,) * (3 - rank) + input_shape[1:], dtype=grad.dtype)
    out = _out_size(dx5, ksize, strides, dilation, pb, pa)
    n, c, f = input_shape[0], input_shape[-1], w.shape[-1]
    if grad.shape != (n,) + out[3 - rank:] + (f,):
        raise ValueError(f"conv_backward_input: gradient {grad.shape} does not match input {input_shape} "
                         f"and kernel {w.shape}")
    if strides == (1, 1, 1) and f < c:
        return _backward_input_as_forward(grad, w, rank, dilation, pb, pa)
    g = np.ascontiguousarray(grad).reshape(-1, f)
    wmat_t = np.ascontiguousarray(np.ascontiguousarray(w, dtype=g.dtype).reshape(-1, f).T)
    if _is_pointwise(ksize, strides, pb, pa):
        gemm(g, wmat_t, out=dx5.reshape(-1, c))
        return dx5.reshape(input_shape)
    per_sample = int(np.prod(out))
    runs = dilation == (1, 1, 1) and c < 16
    threads = get_num_threads()
    per_task = _block_rows(n, threads, wmat_t.shape[1], per_sample)  # samples per task
    single_pool()
    scratch = workspace_take((threads, per_task * per_sample, wmat_t.shape[1]), g.dtype)
    _backward_input_blocked(g, wmat_t, dx5, scratch, per_task, runs, ksize, strides, dilation, pb, out,
                            vector_route(g.dtype))
    workspace_give(scratch)
    return dx5.reshape(input_shape)


def _backward_input_as_forward(grad, w, rank, dilation, pb, pa):
    """Stride-1 input gradient as a forward convolution: dx = conv(grad, flipped w with C and F swapped),
    padded by (k-1)*dilation - pad on each side. Its columns are K*F wide instead of K*C, so it is the
    cheaper route when F < C, and it needs no col2im."""
    ksize = w.shape[:rank]
    dil = dilation[3 - rank:]
    flipped = np.ascontiguousarray(np.swapaxes(w[(slice(None, None, -1),) * rank], -1, -2))
    before = tuple((k - 1) * d - p for k, d, p in zip(ksize, dil, pb[3 - rank:]))
    after = tuple((k - 1) * d - p for k, d, p in zip(ksize, dil, pa[3 - rank:]))
    return conv_forward(np.ascontiguousarray(grad), flipped, None, None, dil, before, after)


def conv_backward_weights(x, grad, kernel_size, strides=None, dilation=None, pad_before=None,
                          pad_after=None, cols=None):
    """x (N,*S,C), grad (N,*O,F) -> dw (*K,C,F) with kernel_size = K.

    ``cols``: what ``conv_forward(..., return_cols=True)`` gave for x, if any. Where ``direct_applies``
    (stride 1, few filters), the gradient is direct dot products over the padded planar input
    (``conv_direct.weights_direct``) instead of a product with the im2col matrix.
    """
    rank = x.ndim - 2
    ksize, strides, dilation, pb, pa = _geometry(rank, kernel_size, strides, dilation, pad_before,
                                                 pad_after)
    x5 = _as5d(x, rank)
    out = _out_size(x5, ksize, strides, dilation, pb, pa)
    n, c, f = x5.shape[0], x5.shape[-1], grad.shape[-1]
    if grad.shape != (n,) + out[3 - rank:] + (f,):
        raise ValueError(f"conv_backward_weights: gradient {grad.shape} does not match input {x.shape}")
    g = np.ascontiguousarray(grad, dtype=x5.dtype).reshape(-1, f)
    width = int(np.prod(ksize)) * c
    dw = np.zeros((width, f), dtype=x5.dtype)
    if _is_pointwise(ksize, strides, pb, pa):
        gemm(x5.reshape(-1, c).T, g, out=dw)
    elif direct_applies(c, f, ksize, strides, pb, pa):
        if cols is None:
            xp = pad_planar(x5, pb, pa)
        elif cols.shape != (n, c) + padded_size(x5, pb, pa):
            raise ValueError(f"conv_backward_weights: cols {cols.shape} are not the padded planar input of "
                             f"{x.shape}")
        else:
            xp = cols
        dw = weights_direct(xp, g, ksize, dilation, out)
        if cols is None:
            workspace_give(xp)
    elif cols is not None:
        if cols.shape != (g.shape[0], width):
            raise ValueError(f"conv_backward_weights: cols {cols.shape} do not match ({g.shape[0]}, {width})")
        gemm(cols.T, g, out=dw)
    else:
        per_sample = int(np.prod(out))
        parts = reduction_parts(n)  # shares of the batch: fixed by the problem, not by the thread count
        per_block = _block_rows(n, parts, width, per_sample)  # samples per block
        single_pool()
        scratch = workspace_take((get_num_threads(), per_block * per_sample, width), x5.dtype)
        partial = workspace_take((parts, width, f), x5.dtype)
        _weights_blocked(x5, g, partial, scratch, per_block, ksize, strides, dilation, pb, out,
                         vector_route(x5.dtype))
        _sum_partials(partial, dw)
        workspace_give(partial)
        workspace_give(scratch)
    return dw.reshape(tuple(int(k) for k in kernel_size) + (c, f))


@njit(parallel=True, cache=True, nogil=True)
def _column_sums(flat, partial):
    """partial[p] (float64, L = a multiple of F) = the sums of ``flat`` (the M*F values of an (M,F) matrix,
    row after row) by position mod L, over part p of len(partial) equal parts of its M*F/L runs of L;
    column j's sum is then the sum of partial[:, j::F]. A run of L values is added lane by lane, a loop
    LLVM vectorises, where a row of F (6 for LeNet-5) was too short to."""
    parts, width = partial.shape
    runs = flat.shape[0] // width
    for p in prange(parts):
        acc = partial[p]
        acc[:] = 0
        for r in range(runs * p // parts, runs * (p + 1) // parts):
            run = flat[r * width:(r + 1) * width]
            for i in range(width):
                acc[i] += run[i]
        if p == parts - 1:  # the rows after the last whole run
            tail = flat[runs * width:]
            for i in range(tail.shape[0]):
                acc[i] += tail[i]


def conv_backward_bias(grad):
    """grad (N,*O,F) -> db (F,): the sum over every axis but the last, in float64, the rows cut into
    ``reduction_parts`` parts (whatever the thread count), the parts and lanes added in a fixed order
    (numpy's column sum ran on one core in float32)."""
    f = grad.shape[-1]
    flat = np.ascontiguousarray(grad).reshape(-1)
    width = f * (8 // math.gcd(f, 8))  # lcm(F, 8): whole rows, whole vectors
    parts = reduction_parts(flat.shape[0] // width)  # not the thread count: the sum's order is fixed
    partial = np.empty((parts, width), dtype=np.float64)
    _column_sums(flat, partial)
    return partial.sum(axis=0).reshape(-1, f).sum(axis=0).astype(grad.dtype)
