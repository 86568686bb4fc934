"""The few array operations that layers, models and optimizers do outside the kernels, on device arrays.

The twin of ``kernels.cpu.arrays``: same names and signatures, here small elementwise ``@cuda.jit``
kernels on the compute stream (``launch.stream()``). Nothing crosses the bus except where a name says
so: ``to_device`` / ``copy_into`` from host arrays, ``to_host`` / ``host_copy``, and the one float that
``sum_squares`` returns. :class:`BatchStager` brings training batches over through pinned host memory
on a copy stream of its own, one batch ahead.
"""

import numpy as np
from numba import cuda, float64

from ..cpu.arrays import arrays_of
from . import launch

__all__ = ["BatchStager", "add", "add_into", "arrays_of", "blend_into", "clip", "contiguous", "copy_into",
           "empty", "fill", "full", "host_copy", "moveaxis", "persistent", "scale", "sum_squares",
           "to_device", "to_host", "weight_decay_into", "zeros", "zeros_like"]

_RANK = 6  # moveaxis: shapes padded with leading 1s to this rank
_REDUCE_THREADS = 256  # threads of a sum_squares block (its shared-memory tree)


# ----- kernels (1-D: callers pass flat views of C-contiguous arrays) ------------------------------------
@cuda.jit(cache=True)
def _fill(a, value):
    """a (M,) = value."""
    i = cuda.grid(1)
    if i < a.shape[0]:
        a[i] = value


@cuda.jit(cache=True)
def _cast(src, dst):
    """dst (M,) = src (M,) converted to dst's dtype."""
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] = src[i]


@cuda.jit(cache=True)
def _add_into(dst, src):
    """dst (M,) += src (M,)."""
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] += src[i]


@cuda.jit(cache=True)
def _add(a, b, out):
    """out (M,) = a + b."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = a[i] + b[i]


@cuda.jit(cache=True)
def _blend_into(dst, src, a, b):
    """dst (M,) = dst * a + src * b, in float64."""
    i = cuda.grid(1)
    if i < dst.shape[0]:
        dst[i] = float64(dst[i]) * a + float64(src[i]) * b


@cuda.jit(cache=True)
def _scale(src, factor, out):
    """out (M,) = src * factor (factor of src's dtype)."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = src[i] * factor


@cuda.jit(cache=True)
def _clip(src, lo, hi, out):
    """out (M,) = src clipped to [lo, hi]; NaN stays NaN."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        v = src[i]
        if v < lo:
            v = lo
        elif v > hi:
            v = hi
        out[i] = v


@cuda.jit(cache=True)
def _weight_decay(w, h):
    """w (M,) -= w * decay * lr, h (2,) = (decay, lr) of w's dtype (in memory: lr changes at every step of
    a schedule, and a replayed step graph reads it from there)."""
    i = cuda.grid(1)
    if i < w.shape[0]:
        w[i] = w[i] - w[i] * h[0] * h[1]


@cuda.jit(cache=True)
def _sum_squares(a, out):
    """out[0] += sum(a**2) in float64: grid-stride partial sums, a shared-memory tree per block (of a power
    of two threads, at most _REDUCE_THREADS), one atomic add per block."""
    partial = cuda.shared.array(_REDUCE_THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    acc = float64(0.0)
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        v = float64(a[i])
        acc += v * v
    partial[tid] = acc
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if tid < step:
            partial[tid] += partial[tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        cuda.atomic.add(out, 0, partial[0])


@cuda.jit(cache=True)
def _permute(src, dst, out_dims, src_strides):
    """dst (M,) = the elements of src (M,) in the order of a transposed C-contiguous array: element i of dst
    sits at coordinates unravel(i, out_dims) and reads src at sum_a coord_a * src_strides[a]."""
    i = cuda.grid(1)
    if i < dst.shape[0]:
        rest = i
        offset = 0
        for a in range(len(out_dims) - 1, -1, -1):
            offset += (rest % out_dims[a]) * src_strides[a]
            rest //= out_dims[a]
        dst[i] = src[offset]


# ----- helpers -------------------------------------------------------------------------------------------
def _flat(a):
    return a.reshape(a.size)


def _launch(kernel, n, *args):
    if n:
        blocks, threads = launch.grid(n)
        launch.at(kernel, blocks, threads)(*args)


def _is_device(a):
    return launch.is_device_array(a)


def _host_c(a, dtype=None):
    """A host array as a C-contiguous numpy array with C strides (numpy calls an array with a stride 0 on a
    length-1 axis contiguous, but Numba's copies drop such an axis)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return np.array(a, copy=True) if 0 in a.strides and a.size else a


# ----- moving data ---------------------------------------------------------------------------------------
def to_device(a):
    """``a`` on the GPU: a device array as is, a host array copied over (C-contiguous)."""
    if _is_device(a):
        return a
    return launch.upload(_host_c(a))


def to_host(a):
    """``a`` as a numpy array: itself when it is one, else copied back once the compute stream has
    finished what it queued."""
    if isinstance(a, np.ndarray):
        return a
    if not _is_device(a):
        return np.asarray(a)
    launch.before_read()
    stream = launch.stream()
    host = a.copy_to_host(stream=stream)
    stream.synchronize()
    return host


def host_copy(a):
    """A new numpy array with the values of ``a`` (a host or a device array)."""
    if _is_device(a):
        return to_host(a)
    return np.array(a, copy=True)


# ----- allocating ----------------------------------------------------------------------------------------
def persistent():
    """``with persistent():`` the arrays made inside outlive the step (a layer's cached constants), so
    they are new device arrays, never buffers of the step's memory plan (``kernels.cuda.memory``)."""
    return launch.unplanned()


def empty(shape, dtype):
    """An uninitialised device array."""
    return launch.empty(shape, np.dtype(dtype))


def full(shape, value, dtype):
    """A device array filled with ``value``."""
    a = empty(shape, dtype)
    fill(a, value)
    return a


def zeros(shape, dtype):
    """A device array of zeros."""
    return full(shape, 0, dtype)


def zeros_like(a):
    """Zeros of ``a``'s shape and dtype, on the device."""
    return zeros(a.shape, a.dtype)


def contiguous(x, dtype=None):
    """``x`` as a C-contiguous device array of ``dtype`` (x's own when None): x itself when it already is
    one, a converted copy when its dtype differs; host arrays are copied over."""
    dtype = np.dtype(x.dtype if dtype is None else dtype)
    if not _is_device(x):
        return launch.upload(_host_c(x, dtype))
    if not x.is_c_contiguous():
        raise ValueError(f"contiguous: the device array of shape {tuple(x.shape)} is not C-contiguous")
    if x.dtype == dtype:
        return x
    out = empty(x.shape, dtype)
    _launch(_cast, x.size, _flat(x), _flat(out))
    return out


# ----- in place ------------------------------------------------------------------------------------------
def fill(a, value):
    """a[...] = value, in place."""
    _launch(_fill, a.size, _flat(a), a.dtype.type(value))


def copy_into(dst, src):
    """dst[...] = src (same shape), in place; ``src`` a host array (copied over) or a device array."""
    if not _is_device(src):
        host = np.empty(tuple(dst.shape), dtype=dst.dtype)
        host[...] = src
        launch.copy_from_host(dst, host)
        launch.stream().synchronize()  # host is a temporary: it must not go before the copy is done
        return
    _check_same_size("copy_into", dst, src)
    _launch(_cast, dst.size, _flat(src), _flat(dst))


def add_into(dst, src):
    """dst += src (same shape; src may be of a wider float type, or a host array), in place."""
    src = to_device(src)
    _check_same_size("add_into", dst, src)
    _launch(_add_into, dst.size, _flat(dst), _flat(src))


def add(a, b):
    """A new device array a + b (a's shape and dtype)."""
    _check_same_size("add", a, b)
    out = empty(a.shape, a.dtype)
    _launch(_add, a.size, _flat(a), _flat(to_device(b)), _flat(out))
    return out


def blend_into(dst, src, a, b):
    """dst = dst * a + src * b (src may be float64), in place: moving averages."""
    src = to_device(src)
    _check_same_size("blend_into", dst, src)
    _launch(_blend_into, dst.size, _flat(dst), _flat(src), float(a), float(b))


def weight_decay_into(w, decay, lr):
    """w -= w * decay * lr in w's dtype, in place (decoupled weight decay)."""
    _launch(_weight_decay, w.size, _flat(w), launch.upload(np.array([decay, lr], dtype=w.dtype)))


# ----- new arrays ----------------------------------------------------------------------------------------
def moveaxis(x, source, destination):
    """A C-contiguous copy of ``x`` with axis ``source`` moved to ``destination`` (numpy's rule)."""
    ndim = len(x.shape)
    if ndim > _RANK:
        raise ValueError(f"moveaxis: at most {_RANK} axes on the GPU, received shape {tuple(x.shape)}")
    order = [a for a in range(ndim) if a != source % ndim]
    order.insert(destination % ndim, source % ndim)
    strides = [1] * ndim
    for a in range(ndim - 2, -1, -1):
        strides[a] = strides[a + 1] * x.shape[a + 1]
    out_shape = tuple(x.shape[a] for a in order)
    out = empty(out_shape, x.dtype)
    pad = _RANK - ndim
    _launch(_permute, x.size, _flat(contiguous(x)), _flat(out), (1,) * pad + out_shape,
            (0,) * pad + tuple(strides[a] for a in order))
    return out


def scale(a, factor):
    """A new device array a * factor, computed in a's dtype."""
    out = empty(a.shape, a.dtype)
    _launch(_scale, a.size, _flat(a), a.dtype.type(factor), _flat(out))
    return out


def clip(a, lo, hi):
    """A new device array with a's values clipped to [lo, hi]."""
    out = empty(a.shape, a.dtype)
    t = a.dtype.type
    _launch(_clip, a.size, _flat(a), t(lo), t(hi), _flat(out))
    return out


def sum_squares(a):
    """sum(a**2) accumulated in float64, as a Python float (one value copied back)."""
    total = zeros((1,), np.float64)
    if a.size:
        threads = min(_REDUCE_THREADS, max(32, 1 << (int(a.size) - 1).bit_length()))
        blocks = min(launch.blocks(a.size, threads), 1024)
        launch.at(_sum_squares, blocks, threads)(_flat(a), total)
    return float(to_host(total)[0])


def _check_same_size(what, a, b):
    if a.size != b.size:
        raise ValueError(f"{what}: arrays of shapes {tuple(a.shape)} and {tuple(b.shape)} differ in size")


# ----- training batches ----------------------------------------------------------------------------------
class BatchStager:
    """Mini-batches ``x[idx]`` of the host array ``x`` on the GPU, each copied while the previous computes.

    Two slots, each a pinned host buffer and a device buffer of ``batch_size`` samples, used in turn.
    ``prefetch(key, idx)`` gathers ``x[idx]`` into a slot's pinned buffer and queues its copy on the
    stager's own copy stream, recording an event; ``take(key, idx)`` makes the compute stream wait for
    that event and returns the device batch (staging it on the spot when it was not prefetched). A slot
    is refilled only after the compute stream has passed the end of the step that used it.
    """

    def __init__(self, x, batch_size):
        self.x = x
        shape = (min(int(batch_size), len(x)),) + tuple(x.shape[1:])
        self._pinned = [cuda.pinned_array(shape, dtype=x.dtype) for _ in range(2)]
        self._device = [launch.allocate(shape, x.dtype) for _ in range(2)]
        self._copied = [cuda.event() for _ in range(2)]
        self._released = [cuda.event() for _ in range(2)]
        self._stream = cuda.stream()
        self._next_slot = 0
        self._in_use = None
        self._pending = None

    def _stage(self, idx):
        slot = self._next_slot
        self._next_slot = 1 - slot
        n = len(idx)
        pinned, device = self._pinned[slot][:n], self._device[slot][:n]
        self._copied[slot].synchronize()  # the previous copy out of this pinned buffer is done
        np.take(self.x, idx, axis=0, out=pinned, mode="clip")  # "clip": written straight into out
        self._released[slot].wait(self._stream)  # the compute stream is done with this device buffer
        device.copy_to_device(pinned, stream=self._stream)
        self._copied[slot].record(self._stream)
        return slot, device

    def prefetch(self, key, idx):
        """Start bringing ``x[idx]`` over for the step that will call ``take(key, idx)``."""
        self._pending = (key, *self._stage(idx))

    def take(self, key, idx):
        """The device batch ``x[idx]``, ready for kernels on the compute stream."""
        compute = launch.stream()
        if self._in_use is not None:  # everything the last step queued comes before this point
            self._released[self._in_use].record(compute)
        if self._pending is not None and self._pending[0] == key:
            _, slot, batch = self._pending
        else:
            slot, batch = self._stage(idx)
        self._pending = None
        self._copied[slot].wait(compute)
        self._in_use = slot
        return batch
