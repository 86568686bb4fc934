"""Reused scratch buffers on the GPU for the im2col column matrices.

The twin of ``kernels.cpu.workspace``, holding device arrays: kernels ``take`` a buffer and ``give`` it
back once no longer needed; a buffer never given back is simply garbage-collected. The pool keeps at
most two buffers per shape and dtype and ``MAX_BYTES`` in all, dropping the least recently returned
first. A buffer may be given back while kernels that use it are still queued: every kernel runs on the
one compute stream, so the next taker's kernels run after them.

Device arrays have no ``.base``, so the pool remembers, by device address, the buffers it hands out:
a view of a whole buffer (a reshape) gives that buffer back; any other C-contiguous device array is
pooled as it is. (A device array's ``.T`` is no view: numba-cuda copies it with a transpose kernel, so
the kernels here read operands transposed instead of transposing them.)

While a step runs under a memory plan (``kernels.cuda.memory``), the plan hands out and takes back the
buffers instead of the pool, so that every step gets the same ones.
"""

import threading
import weakref
from collections import OrderedDict

import numpy as np

from ..cpu.workspace import MAX_BYTES
from . import launch

__all__ = ["workspace_give", "workspace_take"]

_free = OrderedDict()  # (shape, dtype) -> list of device arrays; most recently returned last
_taken = weakref.WeakValueDictionary()  # device address -> the array workspace_take handed out there
_lock = threading.Lock()



def workspace_take(shape, dtype):
    """An uninitialised C-contiguous device array of ``shape`` and ``dtype``, reused when one is free."""
    if launch._plan is not None:
        return launch.empty(shape, dtype, scratch=True)
    key = (tuple(shape), np.dtype(dtype).str)
    with _lock:
        buffers = _free.get(key)
        if buffers:
            array = buffers.pop()
            if not buffers:
                del _free[key]
            return array
    array = launch.allocate(shape, dtype)
    with _lock:
        _taken[launch.address(array)] = array
    return array


def workspace_give(array):
    """Return a buffer from ``workspace_take`` (or a view of its whole matrix) for reuse."""
    if array is None or (launch._plan is not None and launch._plan.give(array)):
        return
    address = launch.address(array)
    with _lock:
        base = _taken.get(address)
        if base is None or base.nbytes != array.nbytes:
            if not array.is_c_contiguous():
                return
            base = array
        if any(launch.address(b) == address for group in _free.values() for b in group):
            return
        key = (tuple(base.shape), base.dtype.str)
        buffers = _free.setdefault(key, [])
        if len(buffers) < 2:
            buffers.append(base)
        _free.move_to_end(key)
        total = sum(b.nbytes for group in _free.values() for b in group)
        while total > MAX_BYTES and _free:
            _, group = _free.popitem(last=False)
            total -= sum(b.nbytes for b in group)
