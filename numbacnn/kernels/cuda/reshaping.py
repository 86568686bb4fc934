"""Zero padding and its gradient (cropping) on the GPU, as copy kernels over 5-D views.

The twin of ``kernels.cpu.reshaping``: x (N,D,H,W,C); a 1-D or 2-D layer passes its data with singleton
spatial axes in front, channels-first data (N,C,*spatial) as (N*C,*spatial,1). One thread per element
of the result, which gathers its value (or writes a zero).
"""

from numba import cuda

from . import launch
from .pooling import _cell

__all__ = ["zero_pad_forward", "zero_pad_backward"]


@cuda.jit(cache=True)
def _pad5(x, y, d0, h0, w0):
    """x (N,D,H,W,C) -> y (N,OD,OH,OW,C) with x at offset (d0,h0,w0) and zeros elsewhere."""
    t = cuda.grid(1)
    if t < y.size:
        n, od, oh, ow, c = _cell(t, y.shape)
        d = od - d0
        h = oh - h0
        w = ow - w0
        if 0 <= d < x.shape[1] and 0 <= h < x.shape[2] and 0 <= w < x.shape[3]:
            y[n, od, oh, ow, c] = x[n, d, h, w, c]
        else:
            y[n, od, oh, ow, c] = 0


@cuda.jit(cache=True)
def _crop5(g, dx, d0, h0, w0):
    """g (N,OD,OH,OW,C) -> dx (N,D,H,W,C) = g[:, d0:d0+D, h0:h0+H, w0:w0+W, :]."""
    t = cuda.grid(1)
    if t < dx.size:
        n, d, h, w, c = _cell(t, dx.shape)
        dx[n, d, h, w, c] = g[n, d + d0, h + h0, w + w0, c]


def zero_pad_forward(x, padding):
    """x (N,D,H,W,C), padding ((d0,d1),(h0,h1),(w0,w1)) -> y (N,D+d0+d1,H+h0+h1,W+w0+w1,C)."""
    (d0, d1), (h0, h1), (w0, w1) = padding
    n, d, h, w, c = x.shape
    y = launch.empty((n, d + d0 + d1, h + h0 + h1, w + w0 + w1, c), x.dtype)
    blocks, threads = launch.grid(y.size)
    launch.at(_pad5, blocks, threads)(x, y, int(d0), int(h0), int(w0))
    return y


def zero_pad_backward(grad, padding):
    """grad (N,OD,OH,OW,C), the forward's padding -> dx (N,D,H,W,C): the unpadded part of grad."""
    (d0, d1), (h0, h1), (w0, w1) = padding
    n, od, oh, ow, c = grad.shape
    dx = launch.empty((n, od - d0 - d1, oh - h0 - h1, ow - w0 - w1, c), grad.dtype)
    blocks, threads = launch.grid(dx.size)
    launch.at(_crop5, blocks, threads)(grad, dx, int(d0), int(h0), int(w0))
    return dx
