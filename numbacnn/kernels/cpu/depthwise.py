"""Depthwise convolution (channels-last) for ranks 1 and 2, forward and backward, by direct loops.

Every input channel c is convolved with its own M = depth_multiplier filters: output channel c*M + m
(TensorFlow's and Keras's order) is sum over taps of x[..., c] * w[tap, c, m]. There is no reuse across
channels, so an im2col product would be a matrix of width taps*C for a product of one column's worth of
work per channel: the kernels here are direct loops instead, on 4-D views x (N,H,W,C), w (KH,KW,C,M),
y (N,OH,OW,C*M) (a 1-D call has H = 1), vectorised over the channels (the innermost, contiguous axis):

* forward: one task per output row (n, oh); each kernel tap adds x's input row times the tap's C*M
  weights into the row of y (OW*C*M values, in L1), then the epilogue (bias, an inference batch-norm's
  affine, relu or tanh: ``conv_epilogue._epilogue``, the convolution's arithmetic) while it is in cache.
* input gradient: a gather, one task per input row (n, ih): each pixel sums, over the taps whose output
  position exists, the output gradient times the tap's weights (summed over m first).
* weight gradient: the N*OH output rows cut into ``_PARTS`` fixed shares, one partial gradient per share
  (any thread may run it; its sum is in a fixed order), the partials added in float64 in share order: the
  result does not depend on the number of threads.

A tap is added in kernel order (row, column) into an accumulator that starts at 0; taps that fall in the
padding are skipped. Padding is explicit (``pad_before``/``pad_after`` per spatial axis), as for ``conv``.
The bias gradient is ``conv.conv_backward_bias``.
"""

import numpy as np
from numba import njit, prange

from .activations import ACT_LINEAR
from .conv import _geometry, conv_output_shape
from .conv_epilogue import _epilogue, _epilogue_args

__all__ = ["depthwise_backward_input", "depthwise_backward_weights", "depthwise_forward"]

# Fewer channels than this go by flat runs of pixels at stride 1 (C = 16: 1.4-1.7x the speed pixel by
# pixel); more have a vector loop long enough per pixel already.
_FLAT_BELOW = 64
_PARTS = 32  # shares of the weight gradient's rows: a fixed number, so its sums do not depend on threads


@njit(cache=True, nogil=True, inline="always")
def _span(o_len, stride, off, size):
    """[lo, hi): the outputs o with 0 <= o*stride + off < size (an empty range when none)."""
    lo = 0 if off >= 0 else (-off + stride - 1) // stride
    hi = 0 if off >= size else (size - 1 - off) // stride + 1
    lo = min(lo, o_len)
    hi = max(lo, min(hi, o_len))
    return lo, hi


@njit(cache=True, nogil=True, inline="always")
def _axpy_tiled(out, o0, src, s0, n, tiled):
    """out[o0 + j] += src[s0 + j] * tiled[j % L] for 0 <= j < n, L = len(tiled), in runs of L: a run of
    pixels' channels as one flat loop (``tiled`` is a tap's C weights repeated to L >= 64 values)."""
    period = tiled.shape[0]
    for j0 in range(0, n, period):
        o = out[o0 + j0:]
        s = src[s0 + j0:]
        for j in range(min(period, n - j0)):
            o[j] += s[j] * tiled[j]


@njit(cache=True, nogil=True, inline="always")
def _dot_tiled(acc, a0, b, b0, n, into):
    """into[j % L] += acc[a0 + j] * b[b0 + j] for 0 <= j < n, L = len(into), in runs of L."""
    period = into.shape[0]
    for j0 in range(0, n, period):
        x = acc[a0 + j0:]
        y = b[b0 + j0:]
        for j in range(min(period, n - j0)):
            into[j] += x[j] * y[j]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _forward(x, w, tiled, y, bias, scale, shift, act, strides, dilation, pad):
    """y (N,OH,OW,C*M) = epilogue(depthwise(x (N,H,W,C), w (KH,KW,C,M))); one task per output row.
    With stride 1 along W, M = 1 and C < ``_FLAT_BELOW``, a tap's run of output pixels is one flat loop
    over their channels with ``tiled`` (KH,KW,L), the tap's weights repeated (``_tile``); else pixel by
    pixel."""
    n_, h_, w_, c_ = x.shape
    kh_, kw_, _, m_ = w.shape
    oh_, ow_, f_ = y.shape[1], y.shape[2], y.shape[3]
    sh, sw = strides
    dh, dw = dilation
    ph, pw = pad
    post = bias.shape[0] > 0 or scale.shape[0] > 0 or act[0] != ACT_LINEAR
    flat = sw == 1 and m_ == 1 and c_ < _FLAT_BELOW
    for r in prange(n_ * oh_):
        n = r // oh_
        oh = r % oh_
        out = y[n, oh]
        out[:, :] = 0
        out_flat = out.reshape(ow_ * f_)
        for a in range(kh_):
            ih = oh * sh - ph + a * dh
            if ih < 0 or ih >= h_:
                continue
            src = x[n, ih]
            for b in range(kw_):
                off = b * dw - pw
                lo, hi = _span(ow_, sw, off, w_)
                taps = w[a, b].reshape(f_)
                if flat:
                    _axpy_tiled(out_flat, lo * c_, src.reshape(w_ * c_), (lo + off) * c_, (hi - lo) * c_,
                                tiled[a, b])
                elif m_ == 1:
                    for ow in range(lo, hi):
                        s = src[ow * sw + off]
                        o = out[ow]
                        for c in range(c_):
                            o[c] += s[c] * taps[c]
                else:
                    for ow in range(lo, hi):
                        s = src[ow * sw + off]
                        o = out[ow]
                        for c in range(c_):
                            v = s[c]
                            for m in range(m_):
                                o[c * m_ + m] += v * taps[c * m_ + m]
        if post:
            _epilogue(out, bias, scale, shift, act)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _backward_input(g, w, tiled, dx, strides, dilation, pad):
    """dx (N,H,W,C) from g (N,OH,OW,C*M), w (KH,KW,C,M) as a gather: one task per input row (n, ih); a
    pixel adds, tap by tap, sum_m g[.., c*M + m] * w[tap, c, m] of the output its tap reaches (with
    stride 1 along W and M = 1, a tap's run of pixels as one flat loop, as in ``_forward``)."""
    n_, h_, w_, c_ = dx.shape
    kh_, kw_, _, m_ = w.shape
    oh_, ow_, f_ = g.shape[1], g.shape[2], g.shape[3]
    sh, sw = strides
    dh, dw = dilation
    ph, pw = pad
    flat = sw == 1 and m_ == 1 and c_ < _FLAT_BELOW
    for r in prange(n_ * h_):
        n = r // h_
        ih = r % h_
        row = dx[n, ih]
        row[:, :] = 0
        row_flat = row.reshape(w_ * c_)
        for a in range(kh_):
            t = ih + ph - a * dh
            if t < 0 or t % sh != 0 or t // sh >= oh_:
                continue
            grow = g[n, t // sh]
            for b in range(kw_):
                off = pw - b * dw  # pixel iw is reached by output (iw + off) / sw
                if flat:  # the pixels iw with 0 <= iw + off < OW
                    lo, hi = _span(w_, 1, off, ow_)
                    _axpy_tiled(row_flat, lo * c_, grow.reshape(ow_ * f_), (lo + off) * c_, (hi - lo) * c_,
                                tiled[a, b])
                    continue
                first = -off if off < 0 else (-off) % sw
                ow = (first + off) // sw
                taps = w[a, b].reshape(f_)
                for iw in range(first, w_, sw):
                    if ow >= ow_:
                        break
                    s = grow[ow]
                    d = row[iw]
                    if m_ == 1:
                        for c in range(c_):
                            d[c] += s[c] * taps[c]
                    else:
                        for c in range(c_):
                            acc = s[c * m_] * taps[c * m_]
                            for m in range(1, m_):
                                acc += s[c * m_ + m] * taps[c * m_ + m]
                            d[c] += acc
                    ow += 1


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _backward_weights(x, g, partial, tiled, strides, dilation, pad):
    """partial[p] (KH,KW,C,M) = the weight gradient over share p of the N*OH output rows of g
    (N,OH,OW,C*M), x (N,H,W,C); the shares are len(partial) equal runs of rows. With stride 1 along W
    and M = 1, a tap's run of pixels is one flat loop into tiled[p] (KH,KW,L), L a multiple of C, whose
    L/C copies are added into partial[p] at the end of the share."""
    n_, h_, w_, c_ = x.shape
    parts, kh_, kw_, _, m_ = partial.shape
    oh_, ow_ = g.shape[1], g.shape[2]
    sh, sw = strides
    dh, dw = dilation
    ph, pw = pad
    rows = n_ * oh_
    flat = sw == 1 and m_ == 1 and c_ < _FLAT_BELOW
    for p in prange(parts):
        acc = partial[p]
        acc[:] = 0
        acc_tiled = tiled[p]
        acc_tiled[:] = 0
        for r in range(rows * p // parts, rows * (p + 1) // parts):
            n = r // oh_
            oh = r % oh_
            grow = g[n, oh]
            for a in range(kh_):
                ih = oh * sh - ph + a * dh
                if ih < 0 or ih >= h_:
                    continue
                src = x[n, ih]
                for b in range(kw_):
                    off = b * dw - pw
                    lo, hi = _span(ow_, sw, off, w_)
                    t = acc[a, b]
                    if flat:
                        _dot_tiled(src.reshape(w_ * c_), (lo + off) * c_, grow.reshape(ow_ * c_), lo * c_,
                                   (hi - lo) * c_, acc_tiled[a, b])
                    elif m_ == 1:
                        tv = t.reshape(c_)
                        for ow in range(lo, hi):
                            s = src[ow * sw + off]
                            gg = grow[ow]
                            for c in range(c_):
                                tv[c] += s[c] * gg[c]
                    else:
                        for ow in range(lo, hi):
                            s = src[ow * sw + off]
                            gg = grow[ow]
                            for c in range(c_):
                                v = s[c]
                                for m in range(m_):
                                    t[c, m] += v * gg[c * m_ + m]
        if flat:
            period = acc_tiled.shape[2]
            for a in range(kh_):
                for b in range(kw_):
                    t = acc[a, b].reshape(c_)
                    src_t = acc_tiled[a, b]
                    for q in range(0, period, c_):
                        for c in range(c_):
                            t[c] += src_t[q + c]


@njit(cache=True, nogil=True)
def _sum_parts(partial, out):
    """out = the sum of partial over its first axis, in float64, part after part."""
    flat = partial.reshape(partial.shape[0], -1)
    o = out.reshape(-1)
    for i in range(flat.shape[1]):
        s = 0.0
        for p in range(flat.shape[0]):
            s += flat[p, i]
        o[i] = s


def _period(c):
    """The length of a tiled weight run: a multiple of C of at least 64 values."""
    return c * -(-64 // c)


def _tile(w4):
    """w4 (KH,KW,C,1) -> (KH,KW,L): each tap's C weights repeated to L = ``_period(C)`` values."""
    c = w4.shape[2]
    return np.ascontiguousarray(np.tile(w4[..., 0], (1, 1, _period(c) // c)))


def _views(rank, kernel_size, strides, dilation, pad_before, pad_after, caller):
    """The per-axis arguments as 2-tuples (H, W; a 1-D call has H trivial)."""
    if rank not in (1, 2):
        raise ValueError(f"{caller}: depthwise convolution has rank 1 or 2, received a kernel of rank {rank}")
    ksize, strides, dilation, pb, pa = _geometry(rank, kernel_size, strides, dilation, pad_before, pad_after)
    return ksize[1:], strides[1:], dilation[1:], pb[1:], pa[1:]


def _as4d(a, rank):
    a = np.ascontiguousarray(a)
    return a.reshape((a.shape[0],) + (1,) * (2 - rank) + a.shape[1:])


def _out(spatial, ksize, strides, dilation, pb, pa, caller):
    out = conv_output_shape(spatial, ksize, strides, dilation, pb, pa)
    if min(out) <= 0:
        raise ValueError(f"{caller}: input spatial shape {tuple(spatial)} is smaller than the dilated kernel "
                         f"{ksize} (dilation {dilation}, padding {pb}/{pa})")
    return out


def depthwise_forward(x, w, b=None, strides=None, dilation=None, pad_before=None, pad_after=None,
                      scale=None, shift=None, activation=None):
    """x (N,*S,C), w (*K,C,M), b (C*M,) or None -> y (N,*O,C*M); S, K, O of rank 1 or 2.

    Output channel c*M + m is input channel c convolved with w[..., c, m]. strides, dilation,
    pad_before, pad_after: one int per spatial axis (defaults 1, 1, 0, pad_before). ``scale``/``shift``
    (C*M,): an inference batch-norm's affine applied after the bias; ``activation`` a ``(kind, p0, p1,
    p2)`` of ``FUSABLE_ACTIVATIONS`` applied last; each skipped when None (``conv_forward_infer``'s
    epilogue: the same bits as the separate kernels after it).
    """
    rank = w.ndim - 2
    ksize, strides, dilation, pb, pa = _views(rank, w.shape[:rank], strides, dilation, pad_before, pad_after,
                                              "depthwise_forward")
    if x.ndim != rank + 2 or x.shape[-1] != w.shape[-2]:
        raise ValueError(f"depthwise_forward: input {x.shape} does not match kernel {w.shape} (expected "
                         f"(N, *spatial, {w.shape[-2]}) with {rank} spatial axes)")
    x4 = _as4d(x, rank)
    w4 = np.ascontiguousarray(w, dtype=x4.dtype).reshape(ksize + w.shape[-2:])
    out = _out(x4.shape[1:3], ksize, strides, dilation, pb, pa, "depthwise_forward")
    f = w.shape[-2] * w.shape[-1]
    post = _epilogue_args(x4.dtype, b, scale, shift, activation)
    for name, a in zip(("bias", "scale", "shift"), post[:3]):
        if a.shape[0] not in (0, f):
            raise ValueError(f"depthwise_forward: {name} has {a.shape[0]} values for {f} output channels")
    y = np.empty((x4.shape[0],) + out + (f,), dtype=x4.dtype)
    _forward(x4, w4, _tile(w4), y, *post, strides, dilation, pb)
    return y.reshape((x.shape[0],) + out[2 - rank:] + (f,))


def depthwise_backward_input(grad, w, input_shape, strides=None, dilation=None, pad_before=None,
                             pad_after=None):
    """grad (N,*O,C*M), w (*K,C,M) -> dx (N,*S,C) with input_shape = (N,*S,C)."""
    rank = w.ndim - 2
    ksize, strides, dilation, pb, pa = _views(rank, w.shape[:rank], strides, dilation, pad_before, pad_after,
                                              "depthwise_backward_input")
    input_shape = tuple(int(s) for s in input_shape)
    dx = np.empty((input_shape[0],) + (1,) * (2 - rank) + input_shape[1:], dtype=grad.dtype)
    out = _out(dx.shape[1:3], ksize, strides, dilation, pb, pa, "depthwise_backward_input")
    c, m = w.shape[-2], w.shape[-1]
    if grad.shape != (input_shape[0],) + out[2 - rank:] + (c * m,) or input_shape[-1] != c:
        raise ValueError(f"depthwise_backward_input: gradient {grad.shape} does not match input "
                         f"{input_shape} and kernel {w.shape}")
    g4 = _as4d(grad, rank)
    w4 = np.ascontiguousarray(w, dtype=g4.dtype).reshape(ksize + (c, m))
    _backward_input(g4, w4, _tile(w4), dx, strides, dilation, pb)
    return dx.reshape(input_shape)


def depthwise_backward_weights(x, grad, kernel_size, strides=None, dilation=None, pad_before=None,
                               pad_after=None):
    """x (N,*S,C), grad (N,*O,C*M) -> dw (*K,C,M) with kernel_size = K; M = grad's channels / C."""
    rank = x.ndim - 2
    ksize, strides, dilation, pb, pa = _views(rank, kernel_size, strides, dilation, pad_before, pad_after,
                                              "depthwise_backward_weights")
    x4 = _as4d(x, rank)
    out = _out(x4.shape[1:3], ksize, strides, dilation, pb, pa, "depthwise_backward_weights")
    n, c = x4.shape[0], x4.shape[-1]
    f = grad.shape[-1]
    if f % c != 0 or grad.shape != (n,) + out[2 - rank:] + (f,):
        raise ValueError(f"depthwise_backward_weights: gradient {grad.shape} does not match input {x.shape} "
                         f"and kernel size {tuple(kernel_size)} (expected (N, *out, C * depth_multiplier) = "
                         f"{(n,) + out[2 - rank:]} + (a multiple of {c},))")
    m = f // c
    g4 = np.ascontiguousarray(_as4d(grad, rank), dtype=x4.dtype)
    parts = max(1, min(_PARTS, n * out[0]))
    partial = np.empty((parts,) + ksize + (c, m), dtype=x4.dtype)
    tiled = np.empty((parts,) + ksize + (_period(c) if m == 1 and c < _FLAT_BELOW else 0,), dtype=x4.dtype)
    _backward_weights(x4, g4, partial, tiled, strides, dilation, pb)
    dw = np.empty(ksize + (c, m), dtype=x4.dtype)
    _sum_parts(partial, dw)
    return dw.reshape(tuple(int(k) for k in kernel_size) + (c, m))
