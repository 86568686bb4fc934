"""Upsampling (nearest and bilinear) and channel slices on the GPU: the twin of ``kernels.cpu.resampling``.

Same names, arguments and arithmetic; one thread per element of the result, which gathers its value.
The bilinear tables are computed on the host by the CPU module's ``bilinear_table`` and copied over.
"""

import numpy as np
from numba import cuda

from ..cpu.resampling import bilinear_table
from . import launch
from .pooling import _cell

__all__ = ["channels_add", "channels_join", "channels_take", "upsample_bilinear_backward",
           "upsample_bilinear_forward", "upsample_nearest_backward", "upsample_nearest_forward"]


def _shape(a):
    return tuple(int(s) for s in a.shape)


@cuda.jit(cache=True)
def _nearest5(x, y, sd, sh, sw):
    """x (N,D,H,W,C) -> y (N,D*sd,H*sh,W*sw,C), y[n,d,h,w] = x[n, d//sd, h//sh, w//sw]."""
    t = cuda.grid(1)
    if t < y.size:
        n, d, h, w, c = _cell(t, y.shape)
        y[n, d, h, w, c] = x[n, d // sd, h // sh, w // sw, c]


@cuda.jit(cache=True)
def _nearest5_grad(g, dx, sd, sh, sw, zero):
    """g (N,D*sd,H*sh,W*sw,C) -> dx (N,D,H,W,C): the sum of each block, W innermost."""
    t = cuda.grid(1)
    if t < dx.size:
        n, d, h, w, c = _cell(t, dx.shape)
        acc_d = zero
        for i in range(sd):
            acc_h = zero
            for j in range(sh):
                acc_w = zero
                for k in range(sw):
                    acc_w += g[n, d * sd + i, h * sh + j, w * sw + k, c]
                acc_h += acc_w
            acc_d += acc_h
        dx[n, d, h, w, c] = acc_d


def upsample_nearest_forward(x, size):
    """x (N,D,H,W,C), size (sd,sh,sw) -> y (N,D*sd,H*sh,W*sw,C), each cell repeated."""
    sd, sh, sw = (int(s) for s in size)
    n, d, h, w, c = _shape(x)
    y = launch.empty((n, d * sd, h * sh, w * sw, c), x.dtype)
    blocks, threads = launch.grid(y.size)
    launch.at(_nearest5, blocks, threads)(x, y, sd, sh, sw)
    return y


def upsample_nearest_backward(grad, size):
    """grad (N,D*sd,H*sh,W*sw,C), size (sd,sh,sw) -> dx (N,D,H,W,C): each block's sum."""
    sd, sh, sw = (int(s) for s in size)
    n, od, oh, ow, c = _shape(grad)
    if od % sd or oh % sh or ow % sw:
        raise ValueError(f"upsample_nearest_backward: gradient {(n, od, oh, ow, c)} is not a multiple of "
                         f"size {size}")
    dx = launch.empty((n, od // sd, oh // sh, ow // sw, c), grad.dtype)
    blocks, threads = launch.grid(dx.size)
    launch.at(_nearest5_grad, blocks, threads)(grad, dx, sd, sh, sw, dx.dtype.type(0))
    return dx


@cuda.jit(cache=True)
def _bilinear(x, y, ylo, yhi, ylerp, xlo, xhi, xlerp):
    """x (N,H,W,C) -> y (N,OH,OW,C), the CPU kernel's formula."""
    t = cuda.grid(1)
    if t < y.size:
        c = t % y.shape[3]
        q = t // y.shape[3]
        ow = q % y.shape[2]
        q //= y.shape[2]
        oh = q % y.shape[1]
        n = q // y.shape[1]
        top, bottom, left, right = ylo[oh], yhi[oh], xlo[ow], xhi[ow]
        xl = xlerp[ow]
        tl = x[n, top, left, c]
        bl = x[n, bottom, left, c]
        upper = tl + (x[n, top, right, c] - tl) * xl
        lower = bl + (x[n, bottom, right, c] - bl) * xl
        y[n, oh, ow, c] = upper + (lower - upper) * ylerp[oh]


@cuda.jit(cache=True)
def _bilinear_grad(g, dx, ylo, yhi, ylerp, yfirst, ylast, xlo, xhi, xlerp, xfirst, xlast, zero, one):
    """g (N,OH,OW,C) -> dx (N,H,W,C): the CPU kernel's gather, in the same order."""
    t = cuda.grid(1)
    if t < dx.size:
        c = t % dx.shape[3]
        q = t // dx.shape[3]
        j = q % dx.shape[2]
        q //= dx.shape[2]
        i = q % dx.shape[1]
        n = q // dx.shape[1]
        acc = zero
        for oh in range(yfirst[i], ylast[i]):
            yl = ylerp[oh]
            for ow in range(xfirst[j], xlast[j]):
                xl = xlerp[ow]
                v = g[n, oh, ow, c]
                if ylo[oh] == i:
                    if xlo[ow] == j:
                        acc += v * (one - yl) * (one - xl)
                    if xhi[ow] == j:
                        acc += v * (one - yl) * xl
                if yhi[oh] == i:
                    if xlo[ow] == j:
                        acc += v * yl * (one - xl)
                    if xhi[ow] == j:
                        acc += v * yl * xl
        dx[n, i, j, c] = acc


def _tables(in_size, out_size, dtype):
    return tuple(launch.upload(np.ascontiguousarray(a)) for a in bilinear_table(in_size, out_size, dtype))


def upsample_bilinear_forward(x, out_size):
    """x (N,H,W,C), out_size (OH,OW) -> y (N,OH,OW,C), half-pixel bilinear (TensorFlow's resize)."""
    n, h, w, c = _shape(x)
    oh, ow = (int(s) for s in out_size)
    dtype = np.dtype(x.dtype)
    ylo, yhi, ylerp, _, _ = _tables(h, oh, dtype)
    xlo, xhi, xlerp, _, _ = _tables(w, ow, dtype)
    y = launch.empty((n, oh, ow, c), dtype)
    blocks, threads = launch.grid(y.size)
    launch.at(_bilinear, blocks, threads)(x, y, ylo, yhi, ylerp, xlo, xhi, xlerp)
    return y


def upsample_bilinear_backward(grad, input_shape):
    """grad (N,OH,OW,C), input_shape (N,H,W,C) -> dx (N,H,W,C), the gradient of the forward above."""
    n, h, w, c = (int(s) for s in input_shape)
    gshape = _shape(grad)
    if gshape[0] != n or gshape[3] != c:
        raise ValueError(f"upsample_bilinear_backward: gradient {gshape} does not match input "
                         f"{tuple(input_shape)}")
    dtype = np.dtype(grad.dtype)
    ytab = _tables(h, gshape[1], dtype)
    xtab = _tables(w, gshape[2], dtype)
    dx = launch.empty((n, h, w, c), dtype)
    blocks, threads = launch.grid(dx.size)
    launch.at(_bilinear_grad, blocks, threads)(grad, dx, *ytab, *xtab, dtype.type(0), dtype.type(1))
    return dx


@cuda.jit(cache=True)
def _take(x2, y2, start):
    """x2 (M,C) -> y2 (M,K) = x2[:, start:start+K]."""
    t = cuda.grid(1)
    if t < y2.size:
        m = t // y2.shape[1]
        k = t % y2.shape[1]
        y2[m, k] = x2[m, start + k]


@cuda.jit(cache=True)
def _put(src2, dst2, start):
    """dst2[:, start:start+K] = src2 (M,K)."""
    t = cuda.grid(1)
    if t < src2.size:
        m = t // src2.shape[1]
        k = t % src2.shape[1]
        dst2[m, start + k] = src2[m, k]


def channels_take(x, start, stop):
    """x (...,C) -> y (...,stop-start) = x[..., start:stop], contiguous."""
    shape = _shape(x)
    c = shape[-1]
    if not 0 <= start < stop <= c:
        raise ValueError(f"channels_take: channels [{start}, {stop}) out of {c}")
    k = stop - start
    y = launch.empty(shape[:-1] + (k,), x.dtype)
    blocks, threads = launch.grid(y.size)
    launch.at(_take, blocks, threads)(x.reshape((int(x.size) // c, c)),
                                            y.reshape((int(y.size) // k, k)), int(start))
    return y


def channels_join(parts):
    """[(...,C0), (...,C1), ...] -> (...,C0+C1+...): the arrays side by side along the last axis."""
    shapes = [_shape(p) for p in parts]
    lead = shapes[0][:-1]
    if any(s[:-1] != lead for s in shapes):
        raise ValueError(f"channels_join: shapes {shapes} differ before the last axis")
    total = sum(s[-1] for s in shapes)
    y = launch.empty(lead + (total,), parts[0].dtype)
    y2 = y.reshape((int(y.size) // total, total))
    start = 0
    for p, s in zip(parts, shapes):
        blocks, threads = launch.grid(p.size)
        launch.at(_put, blocks, threads)(p.reshape((int(p.size) // s[-1], s[-1])), y2, start)
        start += s[-1]
    return y


@cuda.jit(cache=True)
def _add_rows(y2, b):
    """y2 (M,C) += b (C,)."""
    t = cuda.grid(1)
    if t < y2.size:
        y2[t // y2.shape[1], t % y2.shape[1]] += b[t % y2.shape[1]]


def channels_add(y, b):
    """y (...,C) += b (C,) in place (y C-contiguous); returns y."""
    c = _shape(y)[-1]
    if _shape(b) != (c,):
        raise ValueError(f"channels_add: {_shape(b)[0]} values for {c} channels")
    blocks, threads = launch.grid(y.size)
    launch.at(_add_rows, blocks, threads)(y.reshape((int(y.size) // c, c)), b)
    return y
