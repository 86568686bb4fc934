"""Zero padding and its gradient (cropping) as parallel copy kernels over 5-D views.

x (N,D,H,W,C): a 1-D or 2-D layer passes its data with singleton spatial axes in front; channels-first
data (N,C,*spatial) is passed as (N*C,*spatial,1).
"""

import numpy as np
from numba import njit, prange

__all__ = ["zero_pad_forward", "zero_pad_backward"]


@njit(parallel=True, cache=True, nogil=True)
def _pad5(x, y, d0, h0, w0):
    """x (N,D,H,W,C) -> y (N,OD,OH,OW,C) with x at offset (d0,h0,w0) and zeros elsewhere; gathers."""
    n_, d_, h_, w_, c_ = x.shape
    od_, oh_, ow_ = y.shape[1], y.shape[2], y.shape[3]
    for p in prange(n_ * od_):
        n = p // od_
        od = p % od_
        d = od - d0
        for oh in range(oh_):
            h = oh - h0
            for ow in range(ow_):
                w = ow - w0
                if 0 <= d < d_ and 0 <= h < h_ and 0 <= w < w_:
                    for c in range(c_):
                        y[n, od, oh, ow, c] = x[n, d, h, w, c]
                else:
                    for c in range(c_):
                        y[n, od, oh, ow, c] = 0


@njit(parallel=True, cache=True, nogil=True)
def _crop5(g, dx, d0, h0, w0):
    """g (N,OD,OH,OW,C) -> dx (N,D,H,W,C) = g[:, d0:d0+D, h0:h0+H, w0:w0+W, :]."""
    n_, d_, h_, w_, c_ = dx.shape
    for p in prange(n_ * d_):
        n = p // d_
        d = p % d_
        for h in range(h_):
            for w in range(w_):
                for c in range(c_):
                    dx[n, d, h, w, c] = g[n, d + d0, h + h0, w + w0, c]


def zero_pad_forward(x, padding):
    """x (N,D,H,W,C), padding ((d0,d1),(h0,h1),(w0,w1)) -> y (N,D+d0+d1,H+h0+h1,W+w0+w1,C)."""
    x = np.ascontiguousarray(x)
    (d0, d1), (h0, h1), (w0, w1) = padding
    n, d, h, w, c = x.shape
    y = np.empty((n, d + d0 + d1, h + h0 + h1, w + w0 + w1, c), dtype=x.dtype)
    _pad5(x, y, d0, h0, w0)
    return y


def zero_pad_backward(grad, padding):
    """grad (N,OD,OH,OW,C), the forward's padding -> dx (N,D,H,W,C): the unpadded part of grad."""
    grad = np.ascontiguousarray(grad)
    (d0, d1), (h0, h1), (w0, w1) = padding
    n, od, oh, ow, c = grad.shape
    dx = np.empty((n, od - d0 - d1, oh - h0 - h1, ow - w0 - w1, c), dtype=grad.dtype)
    _crop5(grad, dx, d0, h0, w0)
    return dx
