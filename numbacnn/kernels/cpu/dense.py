"""Fully connected layer: BLAS products (``blas.gemm``) with Numba kernels for the bias and its gradient.

Inputs of any rank are seen as 2-D: x (M,IN) where M is the product of all leading axes.
The bias kernels are serial on purpose: their O(M*U) work (a batch of rows) is small next to the
O(M*IN*U) product and to the cost of starting a parallel region.
"""

import numpy as np
from numba import njit

from .blas import gemm

__all__ = ["dense_forward", "dense_backward"]


@njit(cache=True, nogil=True)
def _add_bias_rows(y, b):
    """y (M,U) += b (U,) in place."""
    m_, u_ = y.shape
    for i in range(m_):
        for j in range(u_):
            y[i, j] += b[j]


@njit(cache=True, nogil=True)
def _accumulate_column_sums(g, out):
    """out (U,) += sum over rows of g (M,U), accumulated in float64 row by row."""
    m_, u_ = g.shape
    acc = np.zeros(u_, dtype=np.float64)
    for i in range(m_):
        for j in range(u_):
            acc[j] += g[i, j]
    for j in range(u_):
        out[j] += acc[j]


def dense_forward(x, w, b=None):
    """x (M,IN), w (IN,U), b (U,) or None -> y (M,U) = x @ w + b."""
    y = gemm(x, w)
    if b is not None:
        _add_bias_rows(y, b)
    return y


def dense_backward(x, w, grad, dw=None, db=None, need_dx=True):
    """x (M,IN), w (IN,U), grad (M,U) -> dx (M,IN); adds x.T @ grad into dw (IN,U) and the row sum into db.

    dw or db None: that gradient is not computed (no bias, or frozen weights); need_dx False: dx is
    not computed either and None is returned.
    """
    grad = np.ascontiguousarray(grad, dtype=w.dtype)
    if dw is not None:
        dw += gemm(x.T, grad)
    if db is not None:
        _accumulate_column_sums(grad, db)
    return gemm(grad, w.T) if need_dx else None
