"""Image preprocessing and augmentation on the GPU: the twin of ``kernels.cpu.image``.

One thread per output pixel (affine warps, loops over channels) or per output element (the rest); per
(image, channel) for contrast, whose thread sums its channel first. The projective transform computes
coordinates and bilinear weights in float32, as TensorFlow does, with explicit ``float32(...)`` where Numba
would otherwise promote (so the CUDA simulator, which follows NumPy's scalar rules, computes the same).
The host parameter arrays (transforms, taps, flags, factors) arrive as device arrays.
"""

import math

import numpy as np
from numba import cuda, float32, float64

from ..cpu.image import (
    FILL_CONSTANT,
    FILL_NEAREST,
    FILL_REFLECT,
    FILL_WRAP,
    INTERP_BILINEAR,
    INTERP_NEAREST,
    MAP_ADD_MULTIPLY,
    MAP_SCALE_SHIFT,
    MAP_SUBTRACT_DIVIDE,
)
from . import launch

__all__ = ["FILL_REFLECT", "FILL_WRAP", "FILL_CONSTANT", "FILL_NEAREST", "INTERP_NEAREST", "INTERP_BILINEAR",
           "MAP_SCALE_SHIFT", "MAP_SUBTRACT_DIVIDE", "MAP_ADD_MULTIPLY", "affine_transform", "resample",
           "flip_images", "channel_map", "adjust_contrast", "adjust_brightness"]


def _launch(kernel, n, *args):
    blocks, threads = launch.grid(n)
    launch.at(kernel, blocks, threads)(*args)


@cuda.jit(device=True)
def _map_coord(c, n, mode):
    """The CPU twin's _map_coord: float32 coordinate c on an axis of n pixels, folded by the fill mode."""
    if mode == FILL_CONSTANT:
        return c
    if mode == FILL_REFLECT:
        if c < float32(0.0):
            if n <= 1:
                c = float32(0.0)
            else:
                sz2 = 2 * n
                c = float32(sz2 * int(-c / float32(sz2))) + c
                if c < float32(-n):
                    c = c + float32(sz2)
                else:
                    c = -c - float32(1.0)
        elif c > float32(n - 1):
            if n <= 1:
                c = float32(0.0)
            else:
                sz2 = 2 * n
                c -= float32(sz2 * int(c / float32(sz2)))
                if c >= float32(n):
                    c = float32(sz2) - c - float32(1.0)
    elif mode == FILL_WRAP:
        if c < float32(0.0):
            if n <= 1:
                c = float32(0.0)
            else:
                c += float32(n * (int(-c / float32(n - 1)) + 1))
        elif c > float32(n - 1):
            if n <= 1:
                c = float32(0.0)
            else:
                c -= float32(n * int(c / float32(n - 1)))
    return min(max(c, float32(0.0)), float32(n - 1))


@cuda.jit(device=True)
def _round_half_away(v):
    r = math.floor(v)
    if v - r >= 0.5:
        r += 1.0
    return int(r)


@cuda.jit(device=True)
def _read(x, b, r, s, ch, fill_value):
    if 0 <= r < x.shape[1] and 0 <= s < x.shape[2]:
        return x[b, r, s, ch]
    return fill_value


@cuda.jit(cache=True)
def _affine(x, t, interp, fill_mode, fill_value, y):
    """x (N,H,W,C), t (N,8) float32 -> y (N,H,W,C); one thread per output pixel."""
    n_, h_, w_, c_ = x.shape
    p = cuda.grid(1)
    if p >= n_ * h_ * w_:
        return
    b = p // (h_ * w_)
    i = (p // w_) % h_
    j = p % w_
    fi = float32(i)
    fj = float32(j)
    proj = t[b, 6] * fj + t[b, 7] * fi + float32(1.0)
    if proj == float32(0.0):
        for ch in range(c_):
            y[b, i, j, ch] = fill_value
        return
    xs = _map_coord(float32((t[b, 0] * fj + t[b, 1] * fi + t[b, 2]) / proj), w_, fill_mode)
    ys = _map_coord(float32((t[b, 3] * fj + t[b, 4] * fi + t[b, 5]) / proj), h_, fill_mode)
    if interp == INTERP_NEAREST:
        yi = _round_half_away(ys)
        xi = _round_half_away(xs)
        for ch in range(c_):
            y[b, i, j, ch] = _read(x, b, yi, xi, ch, fill_value)
    else:
        yf = float32(math.floor(ys))
        xf = float32(math.floor(xs))
        y0 = int(yf)
        x0 = int(xf)
        wy0 = float32((yf + float32(1.0)) - ys)
        wy1 = float32(ys - yf)
        wx0 = float32((xf + float32(1.0)) - xs)
        wx1 = float32(xs - xf)
        for ch in range(c_):
            top = wx0 * _read(x, b, y0, x0, ch, fill_value) + wx1 * _read(x, b, y0, x0 + 1, ch, fill_value)
            bottom = (wx0 * _read(x, b, y0 + 1, x0, ch, fill_value)
                      + wx1 * _read(x, b, y0 + 1, x0 + 1, ch, fill_value))
            y[b, i, j, ch] = wy0 * top + wy1 * bottom


def affine_transform(x, transforms, interpolation, fill_mode, fill_value):
    """x (N,H,W,C), transforms (N,8) [a0 a1 a2 b0 b1 b2 c0 c1] float32 -> y (N,H,W,C), x's dtype.

    ``interpolation`` an INTERP_* code, ``fill_mode`` a FILL_* code; ``fill_value`` is read outside the image.
    """
    n, h, w, _ = x.shape
    y = launch.empty(x.shape, x.dtype)
    _launch(_affine, n * h * w, x, transforms, int(interpolation), int(fill_mode),
            np.dtype(x.dtype).type(fill_value), y)
    return y


@cuda.jit(cache=True)
def _resample(x, hidx, hwt, widx, wwt, fill_value, y):
    """x (N,H,W,C), taps (OH,KH), (OW,KW) -> y (N,OH,OW,C); one thread per output element."""
    n_, oh_, ow_, c_ = y.shape
    t = cuda.grid(1)
    if t >= y.size:
        return
    ch = t % c_
    j = (t // c_) % ow_
    i = (t // (c_ * ow_)) % oh_
    b = t // (c_ * ow_ * oh_)
    acc = 0.0
    for p in range(hidx.shape[1]):
        wh = float64(hwt[i, p])
        if wh == 0.0:
            continue
        r = hidx[i, p]
        part = 0.0
        for q in range(widx.shape[1]):
            ww = float64(wwt[j, q])
            if ww == 0.0:
                continue
            s = widx[j, q]
            if r >= 0 and s >= 0:
                part += ww * float64(x[b, r, s, ch])
            else:
                part += ww * fill_value
        acc += wh * part
    y[b, i, j, ch] = acc


def resample(x, hidx, hwt, widx, wwt, fill_value):
    """x (N,H,W,C), hidx/hwt (OH,KH), widx/wwt (OW,KW) -> y (N,OH,OW,C), x's dtype (see the CPU twin)."""
    y = launch.empty((x.shape[0], hidx.shape[0], widx.shape[0], x.shape[3]), x.dtype)
    _launch(_resample, y.size, x, hidx, hwt, widx, wwt, float(fill_value), y)
    return y


@cuda.jit(cache=True)
def _flip(x, flips, horizontal, vertical, y):
    """x (N,H,W,C), flips (N,) -> y; one thread per element."""
    n_, h_, w_, c_ = x.shape
    t = cuda.grid(1)
    if t >= x.size:
        return
    ch = t % c_
    j = (t // c_) % w_
    i = (t // (c_ * w_)) % h_
    b = t // (c_ * w_ * h_)
    on = flips[b] != 0
    si = h_ - 1 - i if on and vertical else i
    sj = w_ - 1 - j if on and horizontal else j
    y[b, i, j, ch] = x[b, si, sj, ch]


def flip_images(x, flips, horizontal, vertical):
    """x (N,H,W,C), flips (N,) 0/1 -> y (N,H,W,C): the flagged samples flipped along the chosen axes."""
    y = launch.empty(x.shape, x.dtype)
    _launch(_flip, x.size, x, flips, bool(horizontal), bool(vertical), y)
    return y


@cuda.jit(cache=True)
def _channel_map(x, a, b, mode, y):
    """x, y (M*K,), a, b (K,) -> y by the MAP_* formula ``mode``, in x's dtype."""
    t = cuda.grid(1)
    if t < x.shape[0]:
        k = t % a.shape[0]
        if mode == MAP_SCALE_SHIFT:
            y[t] = x[t] * a[k] + b[k]
        elif mode == MAP_SUBTRACT_DIVIDE:
            y[t] = (x[t] - a[k]) / b[k]
        else:
            y[t] = a[k] + x[t] * b[k]


def channel_map(x, a, b, mode):
    """x (any shape, last dims of size K), a, b (K,) of x's dtype -> y (x's shape) (see the CPU twin)."""
    y = launch.empty(x.shape, x.dtype)
    _launch(_channel_map, x.size, x.reshape(-1), a, b, int(mode), y.reshape(-1))
    return y


@cuda.jit(cache=True)
def _contrast(x, factors, lo, hi, y):
    """x (N,P,C) -> y; one thread per (image, channel): its mean, then its P outputs."""
    n_, p_, c_ = x.shape
    t = cuda.grid(1)
    if t >= n_ * c_:
        return
    b = t // c_
    ch = t % c_
    s = 0.0
    for p in range(p_):
        s += float64(x[b, p, ch])
    mean = s / p_
    f = float64(factors[b])
    for p in range(p_):
        v = (float64(x[b, p, ch]) - mean) * f + mean
        y[b, p, ch] = min(max(v, lo), hi)


def adjust_contrast(x, factors, lo, hi):
    """x (N,H,W,C), factors (N,) -> y (N,H,W,C) = clip((x - m) * factor + m, lo, hi) (see the CPU twin)."""
    n, h, w, c = x.shape
    y = launch.empty(x.shape, x.dtype)
    _launch(_contrast, n * c, x.reshape(n, h * w, c), factors, float(lo), float(hi), y.reshape(n, h * w, c))
    return y


@cuda.jit(cache=True)
def _brightness(x, deltas, per_image, lo, hi, y):
    """x, y (N*P,) -> y = clip(x + deltas[n], lo, hi)."""
    t = cuda.grid(1)
    if t < x.shape[0]:
        y[t] = min(max(x[t] + deltas[t // per_image], lo), hi)


def adjust_brightness(x, deltas, lo, hi):
    """x (N,...), deltas (N,) -> y (x's shape) = clip(x + delta of its sample, lo, hi)."""
    y = launch.empty(x.shape, x.dtype)
    dtype = np.dtype(x.dtype).type
    _launch(_brightness, x.size, x.reshape(-1), deltas, x.size // x.shape[0], dtype(lo), dtype(hi),
            y.reshape(-1))
    return y
