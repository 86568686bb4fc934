"""Matrix products for the other kernels: one thread pool, Numba's, for the BLAS and the kernels alike.

On a CPU with AVX-512, float32 products run on ``vector_gemm`` (our register-tiled product, about twice
the speed of the AVX2 OpenBLAS this project's machines are set to use), split across Numba's threads
by rows, or along the reduction for a weight gradient; ``NUMBACNN_GEMM=blas`` or ``=vector`` overrides
the choice. Everything else (float64, older CPUs) goes to the BLAS as below.

The products go through the BLAS that Numba binds (SciPy's OpenBLAS). Left to itself, OpenBLAS runs
its own pool of threads next to Numba's OpenMP pool, and on 2 cores the two pools take turns: each
product waits for the OpenMP workers of the kernel before it to stop spinning, and each kernel waits
for OpenBLAS's. Making either pool wait passively instead costs ~50 us per kernel launch (a training
step launches dozens). So on first use this module asks that OpenBLAS to run single-threaded
(``_use_one_blas_thread``) and splits the large products into one BLAS call per Numba thread inside a
``prange``: the rows of the result, or, for a long reduction (a weight gradient), the reduction axis,
cut into :data:`REDUCTION_PARTS` parts whatever the thread count, whose partial products are then summed
in a fixed order: results do not depend on the thread count (``NUMBACNN_REDUCTION_PARTS`` changes the
number of parts, e.g. to use more than 8 threads on these products; results then depend on it).
Measured on 2 cores: 1.3-1.6x the images/s of LeNet-5 and the seed 004 model, training and inference.

Where that BLAS cannot be found or told (not Linux, or a SciPy not built on OpenBLAS), products are
single BLAS calls with the BLAS's own threads, as before.

Why not numpy's ``matmul``: numpy's OpenBLAS is a separate library whose threads numbacnn does not
control (and which keeps spinning after every product).
"""

import ctypes
import os

import numba
import numpy as np
from numba import njit, prange

from . import vector_gemm

__all__ = ["gemm"]  # single_pool is for diagnostics and for kernels that call np.dot themselves

_MIN_SPLIT_WORK = 1 << 18  # m*k*n below this: one call (the split costs more than it saves)
_MIN_SPLIT_REDUCTION = 2048  # a reduction axis at least this long may be split


def parts_setting(text):
    """The number of reduction parts from ``NUMBACNN_REDUCTION_PARTS`` (unset or empty: 8)."""
    if text is None or not text.strip():
        return 8
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"NUMBACNN_REDUCTION_PARTS must be a positive integer, received {text!r}")
    return value


REDUCTION_PARTS = parts_setting(os.environ.get("NUMBACNN_REDUCTION_PARTS"))
"""A long reduction (a weight gradient's sum over the batch) is cut into this many parts, whatever the
number of threads, and the parts are added in order: results do not depend on NUMBA_NUM_THREADS. At most
this many threads work on one such reduction; ``NUMBACNN_REDUCTION_PARTS`` sets it (8 by default)."""


def reduction_parts(length):
    """Parts a reduction of ``length`` terms is cut into: :data:`REDUCTION_PARTS`, fewer for a short one;
    a function of the problem only, never of the thread count."""
    return max(1, min(REDUCTION_PARTS, int(length)))


@njit(cache=True, nogil=True)
def _dot(a, b, out):
    np.dot(a, b, out)


@njit(parallel=True, cache=True, nogil=True)
def _dot_rows(a, b, out, parts):
    """out = a @ b with a (M,K) C-contiguous: one BLAS call per block of rows."""
    m = a.shape[0]
    for p in prange(parts):
        lo = m * p // parts
        hi = m * (p + 1) // parts
        if hi > lo:
            np.dot(a[lo:hi], b, out[lo:hi])


@njit(parallel=True, cache=True, nogil=True)
def _dot_reduction(c, b, partial, parts):
    """partial[p] = c[rows p].T @ b[rows p], c (R,M) and b (R,N) C-contiguous: c.T @ b split along R."""
    r = c.shape[0]
    for p in prange(parts):
        lo = r * p // parts
        hi = r * (p + 1) // parts
        if hi > lo:
            np.dot(c[lo:hi].T, b[lo:hi], partial[p])
        else:
            partial[p][:, :] = 0


@njit(cache=True, nogil=True)
def _sum_partials(partial, out):
    """out = partial[0] + partial[1] + ..., in that order."""
    # element by element: an array assigned to a slice (out[:, :] = partial[0]) compiles Numba's
    # shape-mismatch message, most of this kernel's cold compile time
    m, n = out.shape
    for i in range(m):
        for j in range(n):
            out[i, j] = partial[0, i, j]
    for p in range(1, partial.shape[0]):
        for i in range(m):
            for j in range(n):
                out[i, j] += partial[p, i, j]


_STATE = {"checked": False, "single": False, "vector": None}


def _scipy_openblas_setter():
    """openblas_set_num_threads of the library behind scipy.linalg.cython_blas, or None."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library Numba's np.dot calls)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return None
    for path in sorted(paths):
        if "numpy" in os.path.basename(os.path.dirname(path)):  # numpy's own copy, not the one Numba calls
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads", "openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter.argtypes = [ctypes.c_int]
                setter.restype = None
                return setter
    return None


def _use_one_blas_thread():
    """Tell SciPy's OpenBLAS to run in the calling thread (once); True when that worked."""
    if not _STATE["checked"]:
        _STATE["checked"] = True
        if os.environ.get("NUMBACNN_BLAS_THREADS", "").strip().lower() != "native":
            setter = _scipy_openblas_setter()
            if setter is not None:
                setter(1)
                _STATE["single"] = True
    return _STATE["single"]


def single_pool():
    """True when products run on Numba's threads (SciPy's OpenBLAS single-threaded), False when the
    BLAS uses its own threads (``NUMBACNN_BLAS_THREADS=native``, or a BLAS numbacnn cannot tell)."""
    return _use_one_blas_thread()


def vector_route(dtype):
    """True when products of ``dtype`` run on ``vector_gemm`` (float32 on a CPU with AVX-512, see
    ``vector_gemm.available``), False when on the BLAS."""
    if _STATE["vector"] is None:
        _STATE["vector"] = vector_gemm.available()
    return _STATE["vector"] and np.dtype(dtype) == np.float32


def gemm(a, b, out=None):
    """a (M,K) @ b (K,N) -> out (M,N), float32 or float64. ``a`` and ``b`` may be transposed views of
    contiguous arrays (``cols.T``); anything else is copied to C order first. ``out`` must be C-contiguous."""
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        a = np.ascontiguousarray(a)
    if not (b.flags.c_contiguous or b.flags.f_contiguous):
        b = np.ascontiguousarray(b)
    if b.dtype != a.dtype:
        b = b.astype(a.dtype)
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=a.dtype)
    elif out.shape != (m, n) or out.dtype != a.dtype or not out.flags.c_contiguous:
        raise ValueError(f"gemm: out must be a C-contiguous {a.dtype} array of shape {(m, n)}, received "
                         f"{out.dtype} {out.shape}{'' if out.flags.c_contiguous else ' not C-contiguous'}")
    threads = numba.get_num_threads()
    if vector_route(a.dtype):
        _vector_gemm(a, np.ascontiguousarray(b), out, m, n, k, threads)
    elif m * k * n < _MIN_SPLIT_WORK or not _use_one_blas_thread():
        _dot(a, b, out)
    elif threads >= 2 and a.flags.c_contiguous and m >= 2 * threads:
        _dot_rows(a, np.ascontiguousarray(b), out, threads)  # a row's result does not depend on its block
    elif a.flags.f_contiguous and k >= _MIN_SPLIT_REDUCTION and m * n <= k:
        parts = reduction_parts(k)  # whatever the thread count, or the sum's order would follow it
        partial = np.empty((parts, m, n), dtype=a.dtype)
        _dot_reduction(a.T, np.ascontiguousarray(b), partial, parts)
        _sum_partials(partial, out)
    else:
        _dot(a, b, out)
    return out


def _vector_gemm(a, b, out, m, n, k, threads):
    """``gemm`` on ``vector_gemm``: rows split across the threads (each element is one FMA chain, whatever
    its block); a long reduction with few rows (a weight gradient) split along the reduction instead, in
    ``reduction_parts(k)`` parts whatever the thread count."""
    base, sai, sak = (a, k, 1) if a.flags.c_contiguous else (a.T, 1, m)
    if m * k * n < _MIN_SPLIT_WORK:
        vector_gemm.product(base, 0, sai, sak, b, 0, n, out, 0, n, m, n, k, False)
    elif k >= _MIN_SPLIT_REDUCTION and m * n <= k:
        parts = reduction_parts(k)
        partial = np.empty((parts, m, n), dtype=a.dtype)
        vector_gemm.product_reduction(base, sai, sak, b, partial, m, n, k, parts)
        _sum_partials(partial, out)
    elif threads < 2:
        vector_gemm.product(base, 0, sai, sak, b, 0, n, out, 0, n, m, n, k, False)
    else:
        vector_gemm.product_rows(base, sai, sak, b, out, m, n, k, threads)
