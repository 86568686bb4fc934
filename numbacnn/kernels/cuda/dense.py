"""Fully connected layer on the GPU: the tiled products of ``blas`` (bias added in their epilogue).

The twin of ``kernels.cpu.dense``; inputs of any rank are seen as 2-D: x (M,IN), M the product of the
leading axes.
"""

from . import launch
from .blas import column_sums, matmul

__all__ = ["dense_forward", "dense_backward"]


def dense_forward(x, w, b=None):
    """x (M,IN), w (IN,U), b (U,) or None -> y (M,U) = x @ w + b; device arrays."""
    return matmul(x, w, launch.empty((x.shape[0], w.shape[1]), x.dtype), bias=b)


def dense_backward(x, w, grad, dw=None, db=None, need_dx=True):
    """x (M,IN), w (IN,U), grad (M,U) -> dx (M,IN); adds x.T @ grad into dw (IN,U) and the row sum into db.

    dw or db None: that gradient is not computed (no bias, or frozen weights); need_dx False: dx is
    not computed either and None is returned. Device arrays; dw and db are updated in place.
    """
    if dw is not None:
        matmul(x, grad, dw, trans_a=True, accumulate=True)
    if db is not None:
        column_sums(grad, db, accumulate=True)
    if not need_dx:
        return None
    return matmul(grad, w, launch.empty((grad.shape[0], w.shape[0]), w.dtype), trans_b=True)
