"""Matrix products for the other kernels, through the BLAS that Numba binds (SciPy's OpenBLAS).

Why not numpy's ``matmul``: numpy's OpenBLAS is loaded when the user imports numpy, usually before
numbacnn, so it keeps OpenBLAS's default of spinning ~2^28 cycles after every product, which starves
the Numba kernel that follows (twice as slow a LeNet-5 forward on 2 cores). The library Numba calls is
loaded after ``numbacnn/__init__.py`` has set ``OPENBLAS_THREAD_TIMEOUT``.
"""

import numpy as np
from numba import njit

__all__ = ["gemm"]


@njit(cache=True, nogil=True)
def _dot(a, b, out):
    np.dot(a, b, out)


def gemm(a, b, out=None):
    """a (M,K) @ b (K,N) -> out (M,N), float32 or float64. ``a`` and ``b`` may be transposed views of
    contiguous arrays (``cols.T``); anything else is copied to C order first. ``out`` must be C-contiguous."""
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        a = np.ascontiguousarray(a)
    if not (b.flags.c_contiguous or b.flags.f_contiguous):
        b = np.ascontiguousarray(b)
    if b.dtype != a.dtype:
        b = b.astype(a.dtype)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    _dot(a, b, out)
    return out
