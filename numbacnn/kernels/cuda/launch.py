"""What every CUDA kernel wrapper shares: the compute stream, launch geometry and device allocation.

All kernels of a training step are launched on one stream, :func:`stream`, so they run in order
without host synchronisation; the trainer copies the next batch on a second stream meanwhile.

Every launch, device allocation and host-to-device copy of the kernel wrappers passes through here:
``at(kernel, blocks, threads)(*args)`` launches, :func:`empty` allocates, :func:`upload` /
:func:`copy_from_host` copy host arrays over, and :func:`before_read` is called before the host reads a
device array back. That is where the step's memory plan (``kernels.cuda.memory``) hands out its buffers,
where the step graph (``kernels.cuda.graph``) records the step, and where :func:`counting` counts.
"""

import contextlib
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


class Counts:
    """What the kernel wrappers did while :func:`counting` was open: kernel ``launches``, device
    ``allocations`` (new device arrays), ``copies`` into device memory (from the host, or a batch into a
    step's buffer) and ``planned`` (device arrays handed out again by a memory plan instead of being
    allocated)."""

    __slots__ = ("launches", "allocations", "copies", "planned")

    def __init__(self):
        self.launches = self.allocations = self.copies = self.planned = 0

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self):
        return "Counts(" + ", ".join(f"{k}={v}" for k, v in self.as_dict().items()) + ")"


_counters = []  # the open Counts
_plan = None  # the memory plan of the step that runs (kernels.cuda.memory.StepPlan), or None
_recorder = None  # the step graph recording or replaying the step (kernels.cuda.graph.StepGraph), or None


@contextlib.contextmanager
def counting():
    """``with counting() as c:`` counts the launches, allocations and copies made inside into ``c``."""
    counts = Counts()
    _counters.append(counts)
    try:
        yield counts
    finally:
        _counters.remove(counts)


def _count(field):
    for c in _counters:
        setattr(c, field, getattr(c, field) + 1)


def at(kernel, blocks, threads):
    """``at(kernel, blocks, threads)(*args)``: launch ``kernel`` on the compute stream (the one place the
    wrappers launch, so that launches can be counted and a step recorded)."""
    def run(*args):
        _count("launches")
        if _recorder is not None and _recorder.intercept_launch(kernel, blocks, threads, args):
            return
        kernel[blocks, threads, stream()](*args)
    return run


def allocate(shape, dtype):
    """A new uninitialised device array (the one place the wrappers create device arrays)."""
    _count("allocations")
    return cuda.device_array(shape, dtype=dtype, stream=stream())


def empty(shape, dtype, scratch=False):
    """An uninitialised device array on the compute stream: the memory plan's buffer for this request
    when a step runs under one (``scratch``: a workspace buffer, which the plan may reuse within the step
    once given back), else a new one."""
    if _plan is not None:
        return _plan.take(shape, dtype, scratch)
    return allocate(shape, dtype)


def copy_from_host(dst, src):
    """dst[...] = src, queued on the compute stream: ``src`` a C-contiguous numpy array of dst's shape and
    dtype, or a device array of them."""
    _count("copies")
    if _recorder is not None and _recorder.intercept_copy(dst, src):
        return
    copy(dst, src)


@cuda.jit
def _copy_kernel(src, dst):
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] = src[i]


def copy(dst, src):
    """dst[...] = src on the compute stream, uncounted and unrecorded: a memcpy (from the host, or device to
    device). Under the CUDA simulator a device-to-device copy is a kernel: its copy reads the source as a
    numpy array, which tests/cuda/conftest.py forbids."""
    if is_device_array(src) and backend.cuda_config().ENABLE_CUDASIM:
        n = dst.size
        _copy_kernel[blocks(n), THREADS, stream()](src.reshape(n), dst.reshape(n))
        return
    dst.copy_to_device(src, stream=stream())


def upload(host):
    """A device copy of the C-contiguous numpy array ``host`` (into a planned buffer under a plan)."""
    dst = empty(host.shape, host.dtype)
    copy_from_host(dst, host)
    return dst


def restage(x):
    """A copy of the device array ``x`` in a buffer of the running step (its memory plan's, the same at
    every step), for a step graph: the batch stager alternates between two buffers."""
    dst = empty(x.shape, x.dtype)
    copy_from_host(dst, x)
    return dst


def before_read():
    """Called before the host reads device memory back: what a step graph holds back is run first."""
    if _recorder is not None:
        _recorder.flush()


@contextlib.contextmanager
def unplanned():
    """Allocations inside are new arrays that outlive the step (caches of a layer, optimizer slots), not
    buffers of the running step's memory plan."""
    global _plan
    plan, _plan = _plan, None
    try:
        yield
    finally:
        _plan = plan


def is_device_array(a):
    """True for a Numba CUDA device array (or the simulator's stand-in, which has no ``is_cuda_array``)."""
    return hasattr(a, "__cuda_array_interface__") or cuda.devicearray.is_cuda_ndarray(a)


def address(array):
    """The device address of an array's first element (the simulator's arrays wrap a host array): what the
    workspace pool, the step plan and the step graph know a buffer by."""
    interface = getattr(array, "__cuda_array_interface__", None)
    return interface["data"][0] if interface is not None else array.ctypes.data
