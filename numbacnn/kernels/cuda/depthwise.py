"""Depthwise convolution (channels-last) on the GPU for ranks 1 and 2, forward and backward.

The twin of ``kernels.cpu.depthwise``: the same 4-D views x (N,H,W,C), w (KH,KW,C,M), y (N,OH,OW,C*M),
explicit padding and argument checks (imported from it), and the same order of the sums:

* forward: one thread per output element, summing its taps in kernel order from 0, plus the bias; a
  batch-norm affine and the activation follow in place (one elementwise kernel each).
* input gradient: one thread per input element gathers, tap by tap, sum_m g * w of the output its tap
  reaches.
* weight gradient: one thread per (share, weight) sums its share of the N*OH output rows (the CPU's
  ``_PARTS`` shares), then one thread per weight adds the shares in order, in float64.
"""

from numba import cuda, float64

from ..cpu.conv_epilogue import _epilogue_activation
from ..cpu.depthwise import _PARTS, _out, _views
from . import launch
from .activations import ACT_LINEAR, _forward_in_place
from .normalization import _affine_in_place

__all__ = ["depthwise_backward_input", "depthwise_backward_weights", "depthwise_forward"]


@cuda.jit(cache=True)
def _forward(x, w, bias, use_bias, y, strides, dilation, pad):
    """y (N,OH,OW,C*M) = depthwise(x (N,H,W,C), w (KH,KW,C,M)) + bias: one thread per element of y."""
    n_, h_, w_, c_ = x.shape
    kh_, kw_, _, m_ = w.shape
    _, oh_, ow_, f_ = y.shape
    i = cuda.grid(1)
    if i >= n_ * oh_ * ow_ * f_:
        return
    f = i % f_
    q = i // f_
    ow = q % ow_
    q //= ow_
    oh = q % oh_
    n = q // oh_
    c = f // m_
    m = f % m_
    s = cuda.local.array(1, dtype=y.dtype)
    s[0] = 0
    for a in range(kh_):
        ih = oh * strides[0] - pad[0] + a * dilation[0]
        if ih < 0 or ih >= h_:
            continue
        for b in range(kw_):
            iw = ow * strides[1] - pad[1] + b * dilation[1]
            if 0 <= iw < w_:
                s[0] += x[n, ih, iw, c] * w[a, b, c, m]
    if use_bias:
        s[0] += bias[f]
    y[n, oh, ow, f] = s[0]


@cuda.jit(cache=True)
def _backward_input(g, w, dx, strides, dilation, pad):
    """dx (N,H,W,C) from g (N,OH,OW,C*M), w (KH,KW,C,M): one thread per element of dx gathers its taps."""
    n_, h_, w_, c_ = dx.shape
    kh_, kw_, _, m_ = w.shape
    _, oh_, ow_, _ = g.shape
    i = cuda.grid(1)
    if i >= n_ * h_ * w_ * c_:
        return
    c = i % c_
    q = i // c_
    iw = q % w_
    q //= w_
    ih = q % h_
    n = q // h_
    s = cuda.local.array(1, dtype=dx.dtype)
    t = cuda.local.array(1, dtype=dx.dtype)
    s[0] = 0
    for a in range(kh_):
        th = ih + pad[0] - a * dilation[0]
        if th < 0 or th % strides[0] != 0 or th // strides[0] >= oh_:
            continue
        oh = th // strides[0]
        for b in range(kw_):
            tw = iw + pad[1] - b * dilation[1]
            if tw < 0 or tw % strides[1] != 0 or tw // strides[1] >= ow_:
                continue
            ow = tw // strides[1]
            t[0] = g[n, oh, ow, c * m_] * w[a, b, c, 0]
            for m in range(1, m_):
                t[0] += g[n, oh, ow, c * m_ + m] * w[a, b, c, m]
            s[0] += t[0]
    dx[n, ih, iw, c] = s[0]


@cuda.jit(cache=True)
def _backward_weights(x, g, partial, strides, dilation, pad):
    """partial[p] (KH,KW,C,M) = the weight gradient over share p of the N*OH output rows of g: one thread
    per element of partial, the rows of its share in order."""
    n_, h_, w_, c_ = x.shape
    parts, kh_, kw_, _, m_ = partial.shape
    _, oh_, ow_, _ = g.shape
    i = cuda.grid(1)
    if i >= parts * kh_ * kw_ * c_ * m_:
        return
    m = i % m_
    q = i // m_
    c = q % c_
    q //= c_
    b = q % kw_
    q //= kw_
    a = q % kh_
    p = q // kh_
    rows = n_ * oh_
    s = cuda.local.array(1, dtype=partial.dtype)
    s[0] = 0
    for r in range(rows * p // parts, rows * (p + 1) // parts):
        n = r // oh_
        oh = r % oh_
        ih = oh * strides[0] - pad[0] + a * dilation[0]
        if ih < 0 or ih >= h_:
            continue
        for ow in range(ow_):
            iw = ow * strides[1] - pad[1] + b * dilation[1]
            if 0 <= iw < w_:
                s[0] += x[n, ih, iw, c] * g[n, oh, ow, c * m_ + m]
    partial[p, a, b, c, m] = s[0]


@cuda.jit(cache=True)
def _sum_parts(partial, out):
    """out (size,) = the sum of partial (P, size) over P, in float64, part after part."""
    i = cuda.grid(1)
    if i >= out.shape[0]:
        return
    s = float64(0.0)
    for p in range(partial.shape[0]):
        s += partial[p, i]
    out[i] = s


def _shape(a):
    return tuple(int(s) for s in a.shape)


def _as4d(a, rank):
    shape = _shape(a)
    return a.reshape((shape[0],) + (1,) * (2 - rank) + shape[1:])


def depthwise_forward(x, w, b=None, strides=None, dilation=None, pad_before=None, pad_after=None,
                      scale=None, shift=None, activation=None):
    """x (N,*S,C), w (*K,C,M), b (C*M,) or None -> y (N,*O,C*M); the CPU kernel's arguments and results
    on device arrays."""
    kind, *params = _epilogue_activation(scale, shift, activation)
    rank = w.ndim - 2
    wshape, xshape = _shape(w), _shape(x)
    ksize, strides, dilation, pb, pa = _views(rank, wshape[:rank], strides, dilation, pad_before, pad_after,
                                              "depthwise_forward")
    if len(xshape) != rank + 2 or xshape[-1] != wshape[-2]:
        raise ValueError(f"depthwise_forward: input {xshape} does not match kernel {wshape} (expected "
                         f"(N, *spatial, {wshape[-2]}) with {rank} spatial axes)")
    x4 = _as4d(x, rank)
    w4 = w.reshape(ksize + wshape[-2:])
    out = _out(_shape(x4)[1:3], ksize, strides, dilation, pb, pa, "depthwise_forward")
    f = wshape[-2] * wshape[-1]
    for name, a in (("bias", b), ("scale", scale), ("shift", shift)):
        if a is not None and _shape(a) != (f,):
            raise ValueError(f"depthwise_forward: {name} has {_shape(a)[0]} values for {f} output channels")
    y = launch.empty((xshape[0],) + out + (f,), x4.dtype)
    blocks, threads = launch.grid(y.size)
    launch.at(_forward, blocks, threads)(x4, w4, y if b is None else b, b is not None, y, strides,
                                               dilation, pb)
    if scale is not None:
        _affine_in_place(y.reshape((int(y.size) // f, f)), scale, shift)
    if kind != ACT_LINEAR:
        _forward_in_place(y, kind, *params)
    return y.reshape((xshape[0],) + out[2 - rank:] + (f,))


def depthwise_backward_input(grad, w, input_shape, strides=None, dilation=None, pad_before=None,
                             pad_after=None):
    """grad (N,*O,C*M), w (*K,C,M) -> dx (N,*S,C) with input_shape = (N,*S,C); device arrays."""
    rank = w.ndim - 2
    wshape = _shape(w)
    ksize, strides, dilation, pb, pa = _views(rank, wshape[:rank], strides, dilation, pad_before, pad_after,
                                              "depthwise_backward_input")
    input_shape = tuple(int(s) for s in input_shape)
    dx = launch.empty((input_shape[0],) + (1,) * (2 - rank) + input_shape[1:], grad.dtype)
    out = _out(_shape(dx)[1:3], ksize, strides, dilation, pb, pa, "depthwise_backward_input")
    c, m = wshape[-2], wshape[-1]
    if _shape(grad) != (input_shape[0],) + out[2 - rank:] + (c * m,) or input_shape[-1] != c:
        raise ValueError(f"depthwise_backward_input: gradient {_shape(grad)} does not match input "
                         f"{input_shape} and kernel {wshape}")
    blocks, threads = launch.grid(dx.size)
    launch.at(_backward_input, blocks, threads)(_as4d(grad, rank), w.reshape(ksize + (c, m)), dx,
                                                      strides, dilation, pb)
    return dx.reshape(input_shape)


def depthwise_backward_weights(x, grad, kernel_size, strides=None, dilation=None, pad_before=None,
                               pad_after=None):
    """x (N,*S,C), grad (N,*O,C*M) -> dw (*K,C,M) with kernel_size = K; device arrays."""
    rank = x.ndim - 2
    ksize, strides, dilation, pb, pa = _views(rank, kernel_size, strides, dilation, pad_before, pad_after,
                                              "depthwise_backward_weights")
    x4 = _as4d(x, rank)
    out = _out(_shape(x4)[1:3], ksize, strides, dilation, pb, pa, "depthwise_backward_weights")
    n, c = _shape(x4)[0], _shape(x4)[-1]
    f = _shape(grad)[-1]
    if f % c != 0 or _shape(grad) != (n,) + out[2 - rank:] + (f,):
        raise ValueError(f"depthwise_backward_weights: gradient {_shape(grad)} does not match input "
                         f"{_shape(x)} and kernel size {tuple(kernel_size)} (expected (N, *out, C * "
                         f"depth_multiplier) = {(n,) + out[2 - rank:]} + (a multiple of {c},))")
    m = f // c
    parts = max(1, min(_PARTS, n * out[0]))
    partial = launch.empty((parts,) + ksize + (c, m), x4.dtype)
    blocks, threads = launch.grid(partial.size)
    launch.at(_backward_weights, blocks, threads)(x4, _as4d(grad, rank), partial, strides, dilation, pb)
    dw = launch.empty(ksize + (c, m), x4.dtype)
    size = int(dw.size)
    blocks, threads = launch.grid(size)
    launch.at(_sum_parts, blocks, threads)(partial.reshape((parts, size)), dw.reshape(size))
    return dw.reshape(tuple(int(k) for k in kernel_size) + (c, m))
