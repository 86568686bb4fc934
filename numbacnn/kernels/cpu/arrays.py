"""The few array operations that layers, models and optimizers do outside the kernels, on host arrays.

The twin of ``kernels.cuda.arrays`` (same names and signatures, there on device arrays), so that code
above the kernels moves data and accumulates gradients the same way on both devices:
``k = ops(); k.add_into(w.grad, dw)``. On the CPU each is a line of numpy, exactly what the code
did inline before.
"""

import contextlib
import sys

import numpy as np

__all__ = ["BatchStager", "add", "add_into", "arrays_of", "blend_into", "clip", "contiguous", "copy_into",
           "empty", "fill", "full", "host_copy", "moveaxis", "persistent", "scale", "sum_squares",
           "to_device", "to_host", "weight_decay_into", "zeros", "zeros_like"]


def arrays_of(a):
    """The arrays module of the device that holds ``a``: ``kernels.cuda.arrays`` for a Numba device array,
    this one for anything else (numpy arrays, lists, numbers)."""
    if not _on_device(a):
        return sys.modules[__name__]
    from ..cuda import arrays

    return arrays


def _on_device(a):
    return not isinstance(a, np.ndarray) and hasattr(a, "copy_to_host")


def to_device(a):
    """``a`` as a C-contiguous host array (a device array is copied back to the host)."""
    if _on_device(a):
        return a.copy_to_host()
    return np.require(a, requirements="C")  # keeps 0-d arrays 0-d (ascontiguousarray makes them 1-d)


def to_host(a):
    """``a`` as a numpy array: itself when it already is one, else a host copy."""
    if isinstance(a, np.ndarray):
        return a
    if _on_device(a):
        return a.copy_to_host()
    return np.asarray(a)


def host_copy(a):
    """A new numpy array with the values of ``a`` (a host or a device array)."""
    if _on_device(a):
        return a.copy_to_host()
    return np.array(a, copy=True)


def persistent():
    """``with persistent():`` marks arrays that outlive a training step (nothing to do on the CPU; on CUDA
    they are kept out of the step's memory plan)."""
    return contextlib.nullcontext()


def empty(shape, dtype):
    """An uninitialised array."""
    return np.empty(shape, dtype=dtype)


def zeros(shape, dtype):
    """An array of zeros."""
    return np.zeros(shape, dtype=dtype)


def full(shape, value, dtype):
    """An array filled with ``value``."""
    return np.full(shape, value, dtype=dtype)


def zeros_like(a):
    """Zeros of ``a``'s shape and dtype."""
    return np.zeros_like(a)


def contiguous(x, dtype=None):
    """``x`` as a C-contiguous array of ``dtype`` (x's own when None); ``x`` itself when it already is."""
    return np.require(x, dtype=dtype, requirements="C")


def fill(a, value):
    """a[...] = value, in place."""
    a.fill(value)


def copy_into(dst, src):
    """dst[...] = src (same shape), in place; ``src`` may be any array-like."""
    dst[...] = src


def add_into(dst, src):
    """dst += src (same shape; src may be of a wider float type), in place."""
    dst += src


def add(a, b):
    """A new array a + b."""
    return a + b


def blend_into(dst, src, a, b):
    """dst = dst * a + src * b (src may be float64), in place: moving averages."""
    dst[...] = dst * a + src * b


def moveaxis(x, source, destination):
    """A C-contiguous copy of ``x`` with axis ``source`` moved to ``destination`` (numpy's rule)."""
    return np.ascontiguousarray(np.moveaxis(x, source, destination))


def sum_squares(a):
    """sum(a**2) accumulated in float64, as a Python float."""
    return float(np.sum(np.square(a, dtype=np.float64)))


def scale(a, factor):
    """A new array a * factor, computed in a's dtype."""
    return a * a.dtype.type(factor)


def clip(a, lo, hi):
    """A new array with a's values clipped to [lo, hi]."""
    return np.clip(a, lo, hi)


def weight_decay_into(w, decay, lr):
    """w -= w * decay * lr in w's dtype, in place (decoupled weight decay)."""
    t = w.dtype.type
    np.subtract(w, w * t(decay) * t(lr), out=w)


class BatchStager:
    """Mini-batches ``x[idx]`` of the training data, for the training loop.

    On the CPU a batch is a plain gather and there is nothing to prefetch; the CUDA twin copies the
    next batch to the GPU while the current one computes.
    """

    def __init__(self, x, batch_size):
        self.x = x

    def prefetch(self, key, idx):
        """Announce the batch ``x[idx]`` that ``take(key, idx)`` will ask for next."""

    def take(self, key, idx):
        """The batch ``x[idx]``."""
        return self.x[idx]
