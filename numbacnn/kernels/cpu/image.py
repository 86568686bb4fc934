"""Image preprocessing and augmentation: affine warps, separable resampling, flips, per-channel affine maps,
contrast and brightness.

Images are channels-last ``(N,H,W,C)``. Random parameters are drawn on the host, one small array per batch
(a transform per sample, a flip flag per sample, ...); the kernels do the pixel work, ``prange`` over
output rows. Geometry follows TensorFlow's ``ImageProjectiveTransformV3`` (which Keras 3's
``ops.image.affine_transform`` calls): output pixel (x, y) reads input point
``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y + 1``, the point is mapped into the
image by the fill mode, then sampled nearest (rounding half away from zero) or bilinearly, reading
``fill_value`` outside the image.

Resizing and cropping are one separable gather, :func:`resample`: output row i reads input rows
``hidx[i, :]`` with weights ``hwt[i, :]`` (index -1 reads ``fill_value``), and likewise along columns. Its
input gradient is the same gather with the transposed taps (built on the host), so no scatter-add races.
"""

import math

import numpy as np
from numba import njit, prange

__all__ = ["FILL_REFLECT", "FILL_WRAP", "FILL_CONSTANT", "FILL_NEAREST", "INTERP_NEAREST", "INTERP_BILINEAR",
           "MAP_SCALE_SHIFT", "MAP_SUBTRACT_DIVIDE", "MAP_ADD_MULTIPLY", "affine_transform", "resample",
           "flip_images", "channel_map", "adjust_contrast", "adjust_brightness"]

FILL_REFLECT = 0
FILL_WRAP = 1
FILL_CONSTANT = 2
FILL_NEAREST = 3
INTERP_NEAREST = 0
INTERP_BILINEAR = 1
MAP_SCALE_SHIFT = 0       # y = x * a + b
MAP_SUBTRACT_DIVIDE = 1   # y = (x - a) / b
MAP_ADD_MULTIPLY = 2      # y = a + x * b


@njit(cache=True, inline="always")
def _map_coord(c, n, mode):
    """An input coordinate ``c`` (float32) along an axis of ``n`` pixels, mapped into [0, n-1] by the fill
    mode, in float32 with TensorFlow's integer truncations (its MapCoordinate); constant mode leaves it."""
    if mode == FILL_CONSTANT:
        return c
    f32 = np.float32
    if mode == FILL_REFLECT:
        if c < 0:
            if n <= 1:
                c = f32(0.0)
            else:
                sz2 = 2 * n
                c = f32(sz2 * int(-c / f32(sz2))) + c
                c = c + f32(sz2) if c < f32(-n) else -c - f32(1.0)
        elif c > f32(n - 1):
            if n <= 1:
                c = f32(0.0)
            else:
                sz2 = 2 * n
                c -= f32(sz2 * int(c / f32(sz2)))
                if c >= f32(n):
                    c = f32(sz2) - c - f32(1.0)
    elif mode == FILL_WRAP:
        if c < 0:
            if n <= 1:
                c = f32(0.0)
            else:
                c += f32(n * (int(-c / f32(n - 1)) + 1))
        elif c > f32(n - 1):
            if n <= 1:
                c = f32(0.0)
            else:
                c -= f32(n * int(c / f32(n - 1)))
    return min(max(c, f32(0.0)), f32(n - 1))


@njit(cache=True, inline="always")
def _round_half_away(v):
    """std::round of a float32: halves away from zero."""
    r = math.floor(v)
    if v - r >= 0.5:
        r += 1.0
    return int(r)


@njit(cache=True, inline="always")
def _read(x, b, r, s, ch, fill_value):
    if 0 <= r < x.shape[1] and 0 <= s < x.shape[2]:
        return x[b, r, s, ch]
    return fill_value


@njit(parallel=True, cache=True, nogil=True)
def _affine(x, t, interp, fill_mode, fill_value, y):
    """x (N,H,W,C), t (N,8) float32 -> y (N,H,W,C): TensorFlow's projective transform of every sample,
    coordinates and interpolation weights in float32 as TensorFlow computes them."""
    n_, h_, w_, c_ = x.shape
    f32 = np.float32
    for row in prange(n_ * h_):
        b = row // h_
        i = row % h_
        fi = f32(i)
        for j in range(w_):
            fj = f32(j)
            proj = t[b, 6] * fj + t[b, 7] * fi + f32(1.0)
            if proj == 0:
                for ch in range(c_):
                    y[b, i, j, ch] = fill_value
                continue
            xs = _map_coord((t[b, 0] * fj + t[b, 1] * fi + t[b, 2]) / proj, w_, fill_mode)
            ys = _map_coord((t[b, 3] * fj + t[b, 4] * fi + t[b, 5]) / proj, h_, fill_mode)
            if interp == INTERP_NEAREST:
                yi = _round_half_away(ys)
                xi = _round_half_away(xs)
                for ch in range(c_):
                    y[b, i, j, ch] = _read(x, b, yi, xi, ch, fill_value)
            else:
                yf = f32(math.floor(ys))
                xf = f32(math.floor(xs))
                y0, x0 = int(yf), int(xf)
                wy0, wy1 = (yf + f32(1.0)) - ys, ys - yf
                wx0, wx1 = (xf + f32(1.0)) - xs, xs - xf
                for ch in range(c_):
                    top = (wx0 * _read(x, b, y0, x0, ch, fill_value)
                           + wx1 * _read(x, b, y0, x0 + 1, ch, fill_value))
                    bottom = (wx0 * _read(x, b, y0 + 1, x0, ch, fill_value)
                              + wx1 * _read(x, b, y0 + 1, x0 + 1, ch, fill_value))
                    y[b, i, j, ch] = wy0 * top + wy1 * bottom


def affine_transform(x, transforms, interpolation, fill_mode, fill_value):
    """x (N,H,W,C), transforms (N,8) [a0 a1 a2 b0 b1 b2 c0 c1] -> y (N,H,W,C), x's dtype.

    ``interpolation`` an INTERP_* code, ``fill_mode`` a FILL_* code; ``fill_value`` is read outside the image.
    """
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _affine(x, np.ascontiguousarray(transforms, dtype=np.float32), int(interpolation), int(fill_mode),
            x.dtype.type(fill_value), y)
    return y


@njit(parallel=True, cache=True, nogil=True)
def _resample(x, hidx, hwt, widx, wwt, fill_value, y):
    """x (N,H,W,C), taps (OH,KH), (OW,KW) -> y (N,OH,OW,C) = sum of hwt * wwt * x over the taps."""
    n_, oh_, ow_, c_ = y.shape
    kh_, kw_ = hidx.shape[1], widx.shape[1]
    for row in prange(n_ * oh_):
        b = row // oh_
        i = row % oh_
        for j in range(ow_):
            for ch in range(c_):
                acc = 0.0
                for p in range(kh_):
                    wh = np.float64(hwt[i, p])
                    if wh == 0.0:
                        continue
                    r = hidx[i, p]
                    part = 0.0
                    for q in range(kw_):
                        ww = np.float64(wwt[j, q])
                        if ww == 0.0:
                            continue
                        s = widx[j, q]
                        part += ww * (x[b, r, s, ch] if r >= 0 and s >= 0 else fill_value)
                    acc += wh * part
                y[b, i, j, ch] = acc


def resample(x, hidx, hwt, widx, wwt, fill_value):
    """x (N,H,W,C), hidx/hwt (OH,KH), widx/wwt (OW,KW) -> y (N,OH,OW,C), x's dtype.

    y[n,i,j,c] = sum_p sum_q hwt[i,p] * wwt[j,q] * x[n, hidx[i,p], widx[j,q], c], a tap index of -1 reading
    ``fill_value``; taps of weight 0 are skipped.
    """
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], hidx.shape[0], widx.shape[0], x.shape[3]), dtype=x.dtype)
    _resample(x, np.ascontiguousarray(hidx, dtype=np.int64), np.ascontiguousarray(hwt, dtype=np.float64),
              np.ascontiguousarray(widx, dtype=np.int64), np.ascontiguousarray(wwt, dtype=np.float64),
              float(fill_value), y)
    return y


@njit(parallel=True, cache=True, nogil=True)
def _flip(x, flips, horizontal, vertical, y):
    """x (N,H,W,C), flips (N,) -> y: sample n mirrored left-right and/or upside down where flips[n]."""
    n_, h_, w_, c_ = x.shape
    for row in prange(n_ * h_):
        b = row // h_
        i = row % h_
        on = flips[b] != 0
        si = h_ - 1 - i if on and vertical else i
        for j in range(w_):
            sj = w_ - 1 - j if on and horizontal else j
            for ch in range(c_):
                y[b, i, j, ch] = x[b, si, sj, ch]


def flip_images(x, flips, horizontal, vertical):
    """x (N,H,W,C), flips (N,) 0/1 -> y (N,H,W,C): the flagged samples flipped along the chosen axes.

    A flip is its own inverse, so the input gradient is ``flip_images(grad, flips, ...)``.
    """
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _flip(x, np.ascontiguousarray(flips, dtype=np.int64), bool(horizontal), bool(vertical), y)
    return y


@njit(parallel=True, cache=True, nogil=True)
def _channel_map(x, a, b, mode, y):
    """x (M,K), a, b (K,) -> y (M,K) by the MAP_* formula ``mode``."""
    m_, k_ = x.shape
    for i in prange(m_):
        for k in range(k_):
            if mode == MAP_SCALE_SHIFT:
                y[i, k] = x[i, k] * a[k] + b[k]
            elif mode == MAP_SUBTRACT_DIVIDE:
                y[i, k] = (x[i, k] - a[k]) / b[k]
            else:
                y[i, k] = a[k] + x[i, k] * b[k]


def channel_map(x, a, b, mode):
    """x (any shape, last dims of size K), a, b (K,) of x's dtype -> y (x's shape).

    Viewing x as (M,K): MAP_SCALE_SHIFT y = x * a + b (Rescaling), MAP_SUBTRACT_DIVIDE y = (x - a) / b
    (Normalization), MAP_ADD_MULTIPLY y = a + x * b (Normalization with invert=True), in x's dtype.
    """
    x = np.ascontiguousarray(x)
    k = a.shape[0]
    y = np.empty_like(x)
    _channel_map(x.reshape(-1, k), np.ascontiguousarray(a, dtype=x.dtype),
                 np.ascontiguousarray(b, dtype=x.dtype), int(mode), y.reshape(-1, k))
    return y


@njit(parallel=True, cache=True, nogil=True)
def _contrast(x, factors, lo, hi, y):
    """x (N,P,C) -> y: per sample and channel, (x - mean over P) * factor[n] + mean, clipped to [lo, hi]."""
    n_, p_, c_ = x.shape
    for t in prange(n_ * c_):
        b = t // c_
        ch = t % c_
        s = 0.0
        for p in range(p_):
            s += x[b, p, ch]
        mean = s / p_
        f = factors[b]
        for p in range(p_):
            v = (x[b, p, ch] - mean) * f + mean
            y[b, p, ch] = min(max(v, lo), hi)


def adjust_contrast(x, factors, lo, hi):
    """x (N,H,W,C), factors (N,) -> y (N,H,W,C) = clip((x - m) * factor + m, lo, hi), m each image's
    channel mean over H and W (Keras's RandomContrast)."""
    x = np.ascontiguousarray(x)
    n, h, w, c = x.shape
    y = np.empty_like(x)
    _contrast(x.reshape(n, h * w, c), np.ascontiguousarray(factors, dtype=x.dtype), float(lo), float(hi),
              y.reshape(n, h * w, c))
    return y


@njit(parallel=True, cache=True, nogil=True)
def _brightness(x, deltas, lo, hi, y):
    """x (N,P) -> y = clip(x + deltas[n], lo, hi)."""
    n_, p_ = x.shape
    for b in prange(n_):
        d = deltas[b]
        for p in range(p_):
            y[b, p] = min(max(x[b, p] + d, lo), hi)


def adjust_brightness(x, deltas, lo, hi):
    """x (N,...), deltas (N,) -> y (x's shape) = clip(x + delta of its sample, lo, hi) (RandomBrightness)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    n = x.shape[0]
    _brightness(x.reshape(n, -1), np.ascontiguousarray(deltas, dtype=x.dtype), float(lo), float(hi),
                y.reshape(n, -1))
    return y
