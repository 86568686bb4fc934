"""What every CUDA kernel wrapper shares: the compute stream, launch geometry and device allocation.

All kernels of a training step are launched on one stream, :func:`stream`, so they run in order
without host synchronisation; the trainer copies the next batch on a second stream meanwhile.
"""

import os

from numba import cuda

from ... import backend

# numba-cuda warns at every launch of fewer than 128 blocks ("Grid size 1 will likely result in GPU
# under-utilization"). Small grids are deliberate here (a bias sum, a small layer, a batch of one), and
# the warnings would interleave with fit()'s progress bar, so they are off unless the user set
# NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS. The variable is set too: numba-cuda re-reads its settings from the
# environment whenever a NUMBA_ variable changes.
if "NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS" not in os.environ:
    os.environ["NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS"] = "0"
    backend.cuda_config().CUDA_LOW_OCCUPANCY_WARNINGS = 0

THREADS = 256  # threads per block of a 1-D launch
TILE = 16  # side of the shared-memory tiles of the matrix product (TILE x TILE threads per block)

_STREAM = None


def stream():
    """The compute stream (created on first use)."""
    global _STREAM
    if _STREAM is None:
        _STREAM = cuda.stream()
    return _STREAM


def blocks(n, threads=THREADS):
    """Blocks of ``threads`` threads that cover ``n`` independent items (at least one)."""
    return max(1, (int(n) + threads - 1) // threads)


def grid(n):
    """``(blocks, threads)`` of a 1-D launch over ``n`` items: whole warps, at most THREADS a block.

    Small launches get one small block (this also keeps the CUDA simulator, which runs every thread
    of a block as a Python thread, fast on the tiny shapes of the tests).
    """
    threads = min(THREADS, max(32, (int(n) + 31) // 32 * 32))
    return blocks(n, threads), threads


def empty(shape, dtype):
    """An uninitialised device array on the compute stream."""
    return cuda.device_array(shape, dtype=dtype, stream=stream())


def is_device_array(a):
    """True for a Numba CUDA device array (or the simulator's stand-in, which has no ``is_cuda_array``)."""
    return hasattr(a, "__cuda_array_interface__") or cuda.devicearray.is_cuda_ndarray(a)
