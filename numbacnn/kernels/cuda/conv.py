"""N-d convolution (cross-correlation, channels-last) on the GPU for ranks 1, 2 and 3, forward and backward.

The twin of ``kernels.cpu.conv``: the same 5-D views x (N,D,H,W,C), kernel (KD,KH,KW,C,F), explicit
padding and argument checks (imported from it). Forward and weight gradient are an im2col kernel (one
thread per row (n, od, oh) and column of the matrix, looping over OW) followed by the tiled matrix product
of ``blas``; the input gradient is a product into column space followed by col2im as a gather, one
thread per input element summing the kernel taps whose output position exists. The bias is added in
the product's epilogue; its gradient is ``blas.column_sums``.
"""

import numpy as np
from numba import cuda

from ..cpu.conv import _geometry, _is_pointwise, _out_size, conv_output_shape, pool_geometry
from ..cpu.conv_epilogue import FUSABLE_ACTIVATIONS, _epilogue_activation
from . import launch
from .activations import ACT_LINEAR, _forward_in_place
from .blas import column_sums, matmul
from .normalization import _affine_in_place
from .pooling import pool_avg_forward, pool_max_forward
from .workspace import workspace_give, workspace_take

__all__ = ["FUSABLE_ACTIVATIONS", "conv_backward_bias", "conv_backward_input", "conv_backward_weights",
           "conv_forward", "conv_forward_infer", "conv_forward_pooled", "conv_output_shape"]

_WORKSPACE_BYTES = 64 * 2 ** 20  # the largest column matrix on the device: the batch goes in chunks past it
_MAX_BLOCKS_Y = 65535  # the grid's y limit; the im2col kernel loops over rows beyond it


def _chunk(n, rows_per_sample, width, itemsize):
    """How many samples fit in the im2col workspace at once (at least one)."""
    return max(1, min(n, _WORKSPACE_BYTES // max(1, rows_per_sample * width * itemsize)))


@cuda.jit(cache=True)
def _im2col(x, cols, ksize, strides, dilation, pad, out_size):
    """x (N,D,H,W,C) -> cols (N*OD*OH*OW, KD*KH*KW*C); taps that fall in the padding are 0.

    Thread (y, x) of the grid: matrix column x (neighbouring threads write neighbouring columns) for the
    output rows (n, od, oh) y, y + grid height, ..., each a loop over the OW outputs of that row.
    """
    n_, d_, h_, w_, c_ = x.shape
    kd_, kh_, kw_ = ksize
    od_, oh_, ow_ = out_size
    col = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if col >= cols.shape[1]:
        return
    c = col % c_
    q = col // c_
    e = q % kw_
    q //= kw_
    b = q % kh_
    a = q // kh_
    x_off = e * dilation[2] - pad[2]
    rows = n_ * od_ * oh_
    for r in range(cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y, rows,
                   cuda.gridDim.y * cuda.blockDim.y):
        oh = r % oh_
        q = r // oh_
        od = q % od_
        n = q // od_
        z = od * strides[0] - pad[0] + a * dilation[0]
        y = oh * strides[1] - pad[1] + b * dilation[1]
        inside = 0 <= z < d_ and 0 <= y < h_
        for ow in range(ow_):
            xx = ow * strides[2] + x_off
            if inside and 0 <= xx < w_:
                cols[r * ow_ + ow, col] = x[n, z, y, xx, c]
            else:
                cols[r * ow_ + ow, col] = 0


@cuda.jit(cache=True)
def _col2im(cols, dx, ksize, strides, dilation, pad, out_size):
    """cols (N*OD*OH*OW, KD*KH*KW*C) -> dx (N,D,H,W,C): one thread per input element gathers its taps."""
    n_, d_, h_, w_, c_ = dx.shape
    kd_, kh_, kw_ = ksize
    od_, oh_, ow_ = out_size
    i = cuda.grid(1)
    if i >= n_ * d_ * h_ * w_ * c_:
        return
    c = i % c_
    q = i // c_
    xx = q % w_
    q //= w_
    y = q % h_
    q //= h_
    z = q % d_
    n = q // d_
    s = cuda.local.array(1, dtype=dx.dtype)  # the sum, in dx's dtype
    s[0] = 0
    for a in range(kd_):
        td = z + pad[0] - a * dilation[0]
        if td < 0 or td % strides[0] != 0 or td // strides[0] >= od_:
            continue
        for b in range(kh_):
            th = y + pad[1] - b * dilation[1]
            if th < 0 or th % strides[1] != 0 or th // strides[1] >= oh_:
                continue
            base = ((n * od_ + td // strides[0]) * oh_ + th // strides[1]) * ow_
            for e in range(kw_):
                tw = xx + pad[2] - e * dilation[2]
                if tw < 0 or tw % strides[2] != 0 or tw // strides[2] >= ow_:
                    continue
                s[0] += cols[base + tw // strides[2], ((a * kh_ + b) * kw_ + e) * c_ + c]
    dx[n, z, y, xx, c] = s[0]


def _pow2_at_least(n, cap):
    """The smallest power of two >= n, at most ``cap``."""
    p = 1
    while p < min(n, cap):
        p *= 2
    return p


def _launch_im2col(x5, cols, ksize, strides, dilation, pad, out):
    width = cols.shape[1]
    rows = x5.shape[0] * out[0] * out[1]
    tx = _pow2_at_least(width, 32)
    ty = _pow2_at_least(rows, launch.THREADS // tx)
    blocks = (launch.blocks(width, tx), min(_MAX_BLOCKS_Y, launch.blocks(rows, ty)))
    launch.at(_im2col, blocks, (tx, ty))(x5, cols, ksize, strides, dilation, pad, out)


def _launch_col2im(cols, dx5, ksize, strides, dilation, pad, out):
    blocks, threads = launch.grid(dx5.size)
    launch.at(_col2im, blocks, threads)(cols, dx5, ksize, strides, dilation, pad, out)


def _shape(a):
    """A device array's shape as a plain tuple of ints (the simulator's shape refuses negative indices)."""
    return tuple(int(s) for s in a.shape)


def _as5d(a, rank):
    """(N, *spatial, C) device array -> (N, D, H, W, C) view."""
    shape = _shape(a)
    return a.reshape((shape[0],) + (1,) * (3 - rank) + shape[1:])


def _flat(a, columns):
    """A contiguous device array as a (size / columns, columns) matrix view."""
    return a.reshape((int(a.size) // columns, columns))


def conv_forward(x, w, b=None, strides=None, dilation=None, pad_before=None, pad_after=None,
                 return_cols=False, activation=None):
    """x (N,*S,C), w (*K,C,F), b (F,) or None -> y (N,*O,F); S, K, O of rank 1, 2 or 3; device arrays.

    strides, dilation, pad_before, pad_after: one int per spatial axis (defaults 1, 1, 0, pad_before).
    With ``return_cols`` it returns ``(y, cols)``: the im2col device matrix (N*prod(O), prod(K)*C) that
    ``conv_backward_weights`` can reuse, or None when the batch did not fit one workspace (or the
    kernel is pointwise); it comes from ``workspace_take``, and the caller may ``workspace_give`` it back.
    ``activation``: a ``(kind, p0, p1, p2)`` of ``FUSABLE_ACTIVATIONS``, applied in place after the bias.
    """
    kind, *params = _epilogue_activation(None, None, activation)
    rank = w.ndim - 2
    if x.ndim != rank + 2 or _shape(x)[-1] != _shape(w)[-2]:
        raise ValueError(f"conv_forward: input {_shape(x)} does not match kernel {_shape(w)}")
    ksize, strides, dilation, pb, pa = _geometry(rank, w.shape[:rank], strides, dilation, pad_before,
                                                 pad_after)
    x5 = _as5d(x, rank)
    out = _out_size(x5, ksize, strides, dilation, pb, pa)
    n, c, f = x5.shape[0], x5.shape[4], _shape(w)[-1]
    wmat = _flat(w, f)
    width = wmat.shape[0]
    per_sample = int(np.prod(out))
    y = launch.empty((n * per_sample, f), x5.dtype)
    cols = None
    if _is_pointwise(ksize, strides, pb, pa):
        matmul(_flat(x5, c), wmat, y, bias=b)
    else:
        step = _chunk(n, per_sample, width, x5.dtype.itemsize)
        cols = workspace_take((step * per_sample, width), x5.dtype)
        for start in range(0, n, step):
            stop = min(n, start + step)
            rows = (stop - start) * per_sample
            _launch_im2col(x5[start:stop], cols[:rows], ksize, strides, dilation, pb, out)
            matmul(cols[:rows], wmat, y[start * per_sample:stop * per_sample], bias=b)
        if step < n:
            workspace_give(cols)
            cols = None  # only the last chunk is left in it
    y = y.reshape((n,) + out[3 - rank:] + (f,))
    if kind != ACT_LINEAR:
        _forward_in_place(y, kind, *params)
    if return_cols:
        return y, cols
    workspace_give(cols)
    return y


def conv_forward_pooled(x, w, b=None, strides=None, dilation=None, pad_before=None, pad_after=None,
                        activation=None, pool=None):
    """The CPU kernel's ``conv_forward_pooled`` on device arrays: ``(y, argmax, cols)``, here
    ``conv_forward(..., return_cols=True)`` followed by ``pool_max_forward``."""
    rank = w.ndim - 2
    y, cols = conv_forward(x, w, b, strides, dilation, pad_before, pad_after, return_cols=True,
                           activation=activation)
    shape = tuple(y.shape)  # (the simulator's shapes take no negative index)
    out = (1,) * (3 - rank) + shape[1:-1]
    pool, pooled = pool_geometry(rank, pool, out, "conv_forward_pooled")
    n, f = shape[0], shape[-1]
    y, argmax = pool_max_forward(y.reshape((n,) + out + (f,)), pool, pool, (0, 0, 0), pooled)
    return y.reshape((n,) + pooled[3 - rank:] + (f,)), argmax, cols


def conv_forward_infer(x, w, b=None, strides=None, dilation=None, pad_before=None, pad_after=None,
                       scale=None, shift=None, activation=None, pool=None, pool_average=False):
    """pool(act((conv(x, w) + b) * scale + shift)), the CPU kernel's twin in arguments and results:
    here ``conv_forward`` (bias in the product's epilogue), then the affine and the activation in place,
    one elementwise kernel each, so no second output array is allocated, then ``pool_max_forward`` (or
    ``pool_avg_forward`` with ``pool_average``)."""
    kind, *params = _epilogue_activation(scale, shift, activation)
    y = conv_forward(x, w, b, strides, dilation, pad_before, pad_after)
    shape = _shape(y)
    f = shape[-1]
    if scale is not None:
        _affine_in_place(_flat(y, f), scale, shift)
    if kind != ACT_LINEAR:
        _forward_in_place(y, kind, *params)
    if pool is None:
        return y
    rank = len(shape) - 2
    out = (1,) * (3 - rank) + shape[1:-1]
    pool, pooled = pool_geometry(rank, pool, out)
    y5 = y.reshape((shape[0],) + out + (f,))
    if pool_average:
        y = pool_avg_forward(y5, pool, pool, (0, 0, 0), pooled)
    else:
        y = pool_max_forward(y5, pool, pool, (0, 0, 0), pooled)[0]
    return y.reshape((shape[0],) + pooled[3 - rank:] + (f,))


def conv_backward_input(grad, w, input_shape, strides=None, dilation=None, pad_before=None,
                        pad_after=None):
    """grad (N,*O,F), w (*K,C,F) -> dx (N,*S,C) with input_shape = (N,*S,C); device arrays."""
    rank = w.ndim - 2
    ksize, strides, dilation, pb, pa = _geometry(rank, w.shape[:rank], strides, dilation, pad_before,
                                                 pad_after)
    input_shape = tuple(int(s) for s in input_shape)
    dx5 = launch.empty((input_shape[0],) + (1,) * (3 - rank) + input_shape[1:], grad.dtype)
    out = _out_size(dx5, ksize, strides, dilation, pb, pa)
    n, c, f = input_shape[0], input_shape[-1], _shape(w)[-1]
    if _shape(grad) != (n,) + out[3 - rank:] + (f,):
        raise ValueError(f"conv_backward_input: gradient {_shape(grad)} does not match input "
                         f"{input_shape} and kernel {_shape(w)}")
    g = _flat(grad, f)
    wmat = _flat(w, f)
    if _is_pointwise(ksize, strides, pb, pa):
        matmul(g, wmat, _flat(dx5, c), trans_b=True)
        return dx5.reshape(input_shape)
    per_sample = int(np.prod(out))
    width = wmat.shape[0]
    step = _chunk(n, per_sample, width, g.dtype.itemsize)
    cols = workspace_take((step * per_sample, width), g.dtype)
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows = (stop - start) * per_sample
        matmul(g[start * per_sample:stop * per_sample], wmat, cols[:rows], trans_b=True)
        _launch_col2im(cols[:rows], dx5[start:stop], ksize, strides, dilation, pb, out)
    workspace_give(cols)
    return dx5.reshape(input_shape)


def conv_backward_weights(x, grad, kernel_size, strides=None, dilation=None, pad_before=None,
                          pad_after=None, cols=None):
    """x (N,*S,C), grad (N,*O,F) -> dw (*K,C,F) with kernel_size = K; device arrays.

    ``cols``: the im2col matrix of x that ``conv_forward(..., return_cols=True)`` gave, if any.
    """
    rank = x.ndim - 2
    ksize, strides, dilation, pb, pa = _geometry(rank, kernel_size, strides, dilation, pad_before,
                                                 pad_after)
    x5 = _as5d(x, rank)
    out = _out_size(x5, ksize, strides, dilation, pb, pa)
    n, c, f = x5.shape[0], x5.shape[4], _shape(grad)[-1]
    if _shape(grad) != (n,) + out[3 - rank:] + (f,):
        raise ValueError(f"conv_backward_weights: gradient {_shape(grad)} does not match input "
                         f"{_shape(x)}")
    g = _flat(grad, f)
    width = int(np.prod(ksize)) * c
    dw = launch.empty((width, f), x5.dtype)
    if _is_pointwise(ksize, strides, pb, pa):
        matmul(_flat(x5, c), g, dw, trans_a=True)
    elif cols is not None:
        if _shape(cols) != (g.shape[0], width):
            raise ValueError(f"conv_backward_weights: cols {_shape(cols)} do not match "
                             f"({g.shape[0]}, {width})")
        matmul(cols, g, dw, trans_a=True)
    else:
        per_sample = int(np.prod(out))
        step = _chunk(n, per_sample, width, x5.dtype.itemsize)
        cols = workspace_take((step * per_sample, width), x5.dtype)
        for start in range(0, n, step):
            stop = min(n, start + step)
            rows = (stop - start) * per_sample
            _launch_im2col(x5[start:stop], cols[:rows], ksize, strides, dilation, pb, out)
            matmul(cols[:rows], g[start * per_sample:stop * per_sample], dw, trans_a=True,
                   accumulate=start > 0)
        workspace_give(cols)
    return dw.reshape(tuple(int(k) for k in kernel_size) + (c, f))


def conv_backward_bias(grad):
    """grad (N,*O,F) -> db (F,): the sum over every axis but the last (accumulated in float64)."""
    f = _shape(grad)[-1]
    return column_sums(_flat(grad, f), launch.empty((f,), grad.dtype))
