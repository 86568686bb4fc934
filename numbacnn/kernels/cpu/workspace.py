"""Reused scratch buffers for the im2col column matrices.

A column matrix can be tens of MB (seed 004's second convolution at batch 128: 58 MB). glibc serves
blocks above 32 MB with a fresh mmap each time, so allocating one per batch paid ~500 page faults a step
(about a quarter of the step). Kernels ``take`` a buffer and ``give`` it back once it is no longer
needed (a convolution layer gives its forward's columns back after its backward); a buffer that is
never given back is simply garbage-collected. The pool keeps at most two buffers per shape and
``MAX_BYTES`` in all, dropping the least recently returned first.
"""

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["workspace_give", "workspace_take"]

MAX_BYTES = 512 * 2**20
_free = OrderedDict()  # (shape, dtype) -> list of arrays; most recently returned last
_lock = threading.Lock()


def workspace_take(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, reused when one is free."""
    key = (tuple(shape), np.dtype(dtype).str)
    with _lock:
        buffers = _free.get(key)
        if buffers:
            array = buffers.pop()
            if not buffers:
                del _free[key]
            return array
    return np.empty(shape, dtype=dtype)


def workspace_give(array):
    """Return a buffer from ``workspace_take`` (or a view of its whole matrix) for reuse."""
    if array is None:
        return
    base = array if array.base is None else array.base
    if not isinstance(base, np.ndarray) or not base.flags.c_contiguous:
        return
    key = (base.shape, base.dtype.str)
    with _lock:
        buffers = _free.setdefault(key, [])
        if len(buffers) < 2 and all(b is not base for b in buffers):
            buffers.append(base)
        _free.move_to_end(key)
        total = sum(b.nbytes for group in _free.values() for b in group)
        while total > MAX_BYTES and _free:
            _, group = _free.popitem(last=False)
            total -= sum(b.nbytes for b in group)
