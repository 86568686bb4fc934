"""Pooling kernels on the GPU: max and average over windows, global pooling, and their input gradients.

The twin of ``kernels.cpu.pooling``: the layout is (N,D,H,W,C) (1-D / 2-D inputs come as (N,1,1,W,C) and
(N,1,H,W,C) views); ``pool``, ``strides``, ``pads`` and the sizes are 3-tuples of ints over (D,H,W), and
windows follow TensorFlow (padded cells are ignored). One thread per output element (channels fastest,
so neighbouring threads read neighbouring memory); input gradients are gathers, one thread per input
element summing over the windows that contain it. Sums are accumulated in float64 (the CPU adds in the
array's dtype), so float32 results may differ from the CPU's in the last bit.
"""

import numpy as np
from numba import cuda, float64

from . import launch

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


def _launch(kernel, n, *args):
    blocks, threads = launch.grid(n)
    launch.at(kernel, blocks, threads)(*args)


def _ints(values):
    return tuple(int(v) for v in values)


@cuda.jit(device=True)
def _cell(t, shape):
    """(n, d, h, w, c) of flat index t of a C-contiguous (N,D,H,W,C) array."""
    c = t % shape[4]
    t //= shape[4]
    w = t % shape[3]
    t //= shape[3]
    h = t % shape[2]
    t //= shape[2]
    return t // shape[1], t % shape[1], h, w, c


@cuda.jit(device=True)
def _window(o, stride, pad, pool, size):
    """Real input indices [start, stop) of window ``o`` along one axis."""
    start = o * stride - pad
    return max(start, 0), min(start + pool, size)


@cuda.jit(device=True)
def _windows_containing(i, stride, pad, pool, n_out):
    """Windows [first, stop) along one axis that contain input index ``i``."""
    a = i + pad - pool + 1
    first = 0 if a <= 0 else (a + stride - 1) // stride
    return first, min((i + pad) // stride + 1, n_out)


@cuda.jit(cache=True)
def _max_forward(x, pool, strides, pads, y, argmax):
    """x (N,D,H,W,C) -> y, argmax (N,OD,OH,OW,C), one thread per output element."""
    t = cuda.grid(1)
    if t < y.size:
        n, od, oh, ow, c = _cell(t, y.shape)
        _, D, H, W, _ = x.shape
        d0, d1 = _window(od, strides[0], pads[0], pool[0], D)
        h0, h1 = _window(oh, strides[1], pads[1], pool[1], H)
        w0, w1 = _window(ow, strides[2], pads[2], pool[2], W)
        m = x[n, d0, h0, w0, c]
        best = (d0 * H + h0) * W + w0
        for d in range(d0, d1):
            for h in range(h0, h1):
                for w in range(w0, w1):
                    v = x[n, d, h, w, c]
                    if v > m or (v != v and m == m):
                        m = v
                        best = (d * H + h) * W + w
        y[n, od, oh, ow, c] = m
        argmax[n, od, oh, ow, c] = best


def pool_max_forward(x, pool, strides, pads, out_dims):
    """x (N,D,H,W,C) -> y (N,OD,OH,OW,C), argmax (N,OD,OH,OW,C) int32.

    argmax holds the flat input index d*H*W + h*W + w of each window's first maximum (row-major order
    inside the window); a NaN wins over numbers, so it propagates.
    """
    shape = (x.shape[0], *_ints(out_dims), x.shape[4])
    y = launch.empty(shape, x.dtype)
    argmax = launch.empty(shape, np.int32)
    _launch(_max_forward, y.size, x, _ints(pool), _ints(strides), _ints(pads), y, argmax)
    return y, argmax


@cuda.jit(cache=True)
def _max_backward(grad, argmax, pool, strides, pads, dx):
    """grad, argmax (N,OD,OH,OW,C) -> dx (N,D,H,W,C), one thread per input element."""
    t = cuda.grid(1)
    if t < dx.size:
        n, d, h, w, c = _cell(t, dx.shape)
        _, OD, OH, OW, _ = grad.shape
        _, _, H, W, _ = dx.shape
        od0, od1 = _windows_containing(d, strides[0], pads[0], pool[0], OD)
        oh0, oh1 = _windows_containing(h, strides[1], pads[1], pool[1], OH)
        ow0, ow1 = _windows_containing(w, strides[2], pads[2], pool[2], OW)
        idx = (d * H + h) * W + w
        acc = 0.0
        for od in range(od0, od1):
            for oh in range(oh0, oh1):
                for ow in range(ow0, ow1):
                    if argmax[n, od, oh, ow, c] == idx:
                        acc += float64(grad[n, od, oh, ow, c])
        dx[n, d, h, w, c] = acc


def pool_max_backward(grad, argmax, in_dims, pool, strides, pads):
    """grad (N,OD,OH,OW,C), argmax (N,OD,OH,OW,C) -> dx (N,D,H,W,C), in_dims = (D,H,W).

    Each input cell gathers the gradients of the windows that contain it and chose it as their maximum.
    """
    dx = launch.empty((grad.shape[0], *_ints(in_dims), grad.shape[4]), grad.dtype)
    _launch(_max_backward, dx.size, grad, argmax, _ints(pool), _ints(strides), _ints(pads), dx)
    return dx


@cuda.jit(cache=True)
def _avg_forward(x, pool, strides, pads, y):
    """x (N,D,H,W,C) -> y (N,OD,OH,OW,C), one thread per output element."""
    t = cuda.grid(1)
    if t < y.size:
        n, od, oh, ow, c = _cell(t, y.shape)
        _, D, H, W, _ = x.shape
        d0, d1 = _window(od, strides[0], pads[0], pool[0], D)
        h0, h1 = _window(oh, strides[1], pads[1], pool[1], H)
        w0, w1 = _window(ow, strides[2], pads[2], pool[2], W)
        acc = 0.0
        for d in range(d0, d1):
            for h in range(h0, h1):
                for w in range(w0, w1):
                    acc += float64(x[n, d, h, w, c])
        y[n, od, oh, ow, c] = acc / ((d1 - d0) * (h1 - h0) * (w1 - w0))


def pool_avg_forward(x, pool, strides, pads, out_dims):
    """x (N,D,H,W,C) -> y (N,OD,OH,OW,C), each window's mean over its real (non-padded) cells."""
    y = launch.empty((x.shape[0], *_ints(out_dims), x.shape[4]), x.dtype)
    _launch(_avg_forward, y.size, x, _ints(pool), _ints(strides), _ints(pads), y)
    return y


@cuda.jit(cache=True)
def _avg_backward(grad, pool, strides, pads, dx):
    """grad (N,OD,OH,OW,C) -> dx (N,D,H,W,C), one thread per input element."""
    t = cuda.grid(1)
    if t < dx.size:
        n, d, h, w, c = _cell(t, dx.shape)
        _, OD, OH, OW, _ = grad.shape
        _, D, H, W, _ = dx.shape
        od0, od1 = _windows_containing(d, strides[0], pads[0], pool[0], OD)
        oh0, oh1 = _windows_containing(h, strides[1], pads[1], pool[1], OH)
        ow0, ow1 = _windows_containing(w, strides[2], pads[2], pool[2], OW)
        acc = 0.0
        for od in range(od0, od1):
            d0, d1 = _window(od, strides[0], pads[0], pool[0], D)
            for oh in range(oh0, oh1):
                h0, h1 = _window(oh, strides[1], pads[1], pool[1], H)
                for ow in range(ow0, ow1):
                    w0, w1 = _window(ow, strides[2], pads[2], pool[2], W)
                    acc += float64(grad[n, od, oh, ow, c]) / ((d1 - d0) * (h1 - h0) * (w1 - w0))
        dx[n, d, h, w, c] = acc


def pool_avg_backward(grad, in_dims, pool, strides, pads):
    """grad (N,OD,OH,OW,C) -> dx (N,D,H,W,C), in_dims = (D,H,W).

    Each input cell gathers grad / (real cells of the window) over the windows that contain it.
    """
    dx = launch.empty((grad.shape[0], *_ints(in_dims), grad.shape[4]), grad.dtype)
    _launch(_avg_backward, dx.size, grad, _ints(pool), _ints(strides), _ints(pads), dx)
    return dx


@cuda.jit(cache=True)
def _global_max_forward(x, y, argmax):
    """x (N,S,C) -> y, argmax (N,C), one thread per (n, c)."""
    t = cuda.grid(1)
    _, S, C = x.shape
    if t < y.size:
        n = t // C
        c = t % C
        m = x[n, 0, c]
        best = 0
        for s in range(1, S):
            v = x[n, s, c]
            if v > m or (v != v and m == m):
                m = v
                best = s
        y[n, c] = m
        argmax[n, c] = best


def global_pool_max_forward(x):
    """x (N,S,C) -> y (N,C), argmax (N,C) int32: the max over S and the index of its first occurrence."""
    y = launch.empty((x.shape[0], x.shape[2]), x.dtype)
    argmax = launch.empty((x.shape[0], x.shape[2]), np.int32)
    _launch(_global_max_forward, y.size, x, y, argmax)
    return y, argmax


@cuda.jit(cache=True)
def _global_max_backward(grad, argmax, dx):
    """grad, argmax (N,C) -> dx (N,S,C), one thread per element of dx."""
    t = cuda.grid(1)
    _, S, C = dx.shape
    if t < dx.size:
        n = t // (S * C)
        s = (t // C) % S
        c = t % C
        dx[n, s, c] = grad[n, c] if argmax[n, c] == s else 0


def global_pool_max_backward(grad, argmax, S):
    """grad (N,C), argmax (N,C) -> dx (N,S,C): the gradient lands on each channel's arg-max."""
    dx = launch.empty((grad.shape[0], int(S), grad.shape[1]), grad.dtype)
    _launch(_global_max_backward, dx.size, grad, argmax, dx)
    return dx


@cuda.jit(cache=True)
def _global_avg_forward(x, y):
    """x (N,S,C) -> y (N,C) = mean over S, one thread per (n, c)."""
    t = cuda.grid(1)
    _, S, C = x.shape
    if t < y.size:
        n = t // C
        c = t % C
        acc = 0.0
        for s in range(S):
            acc += float64(x[n, s, c])
        y[n, c] = acc / S


def global_pool_avg_forward(x):
    """x (N,S,C) -> y (N,C), the mean over S."""
    y = launch.empty((x.shape[0], x.shape[2]), x.dtype)
    _launch(_global_avg_forward, y.size, x, y)
    return y


@cuda.jit(cache=True)
def _global_avg_backward(grad, dx):
    """grad (N,C) -> dx (N,S,C) = grad / S, one thread per element of dx."""
    t = cuda.grid(1)
    _, S, C = dx.shape
    if t < dx.size:
        n = t // (S * C)
        c = t % C
        dx[n, (t // C) % S, c] = float64(grad[n, c]) / S


def global_pool_avg_backward(grad, S):
    """grad (N,C) -> dx (N,S,C) = grad / S at every position."""
    dx = launch.empty((grad.shape[0], int(S), grad.shape[1]), grad.dtype)
    _launch(_global_avg_backward, dx.size, grad, dx)
    return dx
