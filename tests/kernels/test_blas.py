"""numbacnn.kernels.cpu.blas: the products split across Numba's threads equal numpy's product."""

import numba
import numpy as np
import pytest

from numbacnn.kernels.cpu import blas


@pytest.fixture
def split_everything(monkeypatch):
    """Split even tiny products, so that the small shapes below take the split routes, on the BLAS for
    float32 too (test_vector_gemm.py tests the other route)."""
    if not blas.single_pool():
        pytest.skip("SciPy's BLAS is not an OpenBLAS numbacnn can make single-threaded here")
    monkeypatch.setitem(blas._STATE, "vector", False)
    monkeypatch.setattr(blas, "_MIN_SPLIT_WORK", 0)
    monkeypatch.setattr(blas, "_MIN_SPLIT_REDUCTION", 8)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("m,k,n", [(2, 3, 4), (37, 27, 6), (129, 5, 64)])
def test_row_split_matches_numpy(split_everything, dtype, tol, m, k, n):
    rng = np.random.default_rng(m)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    np.testing.assert_allclose(blas.gemm(a, b), a @ b, rtol=tol, atol=tol)
    np.testing.assert_allclose(blas.gemm(a, b.T.copy().T), a @ b, rtol=tol, atol=tol)  # b F-ordered
    out = np.full((m, n), np.nan, dtype=dtype)
    assert blas.gemm(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float64, 1e-11)])
@pytest.mark.parametrize("r,m,n", [(8, 3, 2), (1001, 27, 32), (64, 5, 7)])
def test_reduction_split_matches_numpy(split_everything, dtype, tol, r, m, n):
    """cols.T @ g (a weight gradient) is split along the long axis r and the partial products summed."""
    rng = np.random.default_rng(r)
    cols = rng.standard_normal((r, m)).astype(dtype)
    g = rng.standard_normal((r, n)).astype(dtype)
    np.testing.assert_allclose(blas.gemm(cols.T, g), cols.T @ g, rtol=tol, atol=tol * r)


def test_more_threads_than_rows(split_everything):
    """Fewer rows or reduction steps than threads: the empty parts contribute nothing."""
    threads = numba.get_num_threads()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2 * threads, 3))
    b = rng.standard_normal((3, 2))
    np.testing.assert_allclose(blas.gemm(a, b), a @ b, rtol=1e-12)
    cols = rng.standard_normal((8, 3))
    np.testing.assert_allclose(blas.gemm(cols.T, cols), cols.T @ cols, rtol=1e-12)
    numba.set_num_threads(1)
    try:
        np.testing.assert_allclose(blas.gemm(a, b), a @ b, rtol=1e-12)
    finally:
        numba.set_num_threads(threads)


def test_split_is_deterministic(split_everything):
    rng = np.random.default_rng(1)
    cols = rng.standard_normal((4099, 9)).astype(np.float32)
    g = rng.standard_normal((4099, 16)).astype(np.float32)
    first = blas.gemm(cols.T, g)
    for _ in range(3):
        np.testing.assert_array_equal(blas.gemm(cols.T, g), first)


def test_openblas_made_single_threaded_on_linux():
    """On Linux with SciPy's bundled OpenBLAS (what pip installs), the products share Numba's threads."""
    import sys

    import scipy

    if not sys.platform.startswith("linux") or "openblas" not in str(scipy.show_config(mode="dicts")).lower():
        pytest.skip("not Linux with SciPy's OpenBLAS")
    assert blas.single_pool()


def test_blocked_convolution_puts_the_blas_in_one_thread_before_its_first_product(monkeypatch):
    """The blocked inference convolution calls np.dot inside Numba's threads: a first predict() in a
    process, before any gemm, must already run those products single-threaded (it once ran them on
    OpenBLAS's own threads, oversubscribed, and its results differed from every later call's)."""
    from numbacnn.kernels.cpu import conv

    monkeypatch.setitem(blas._STATE, "checked", False)
    monkeypatch.setitem(blas._STATE, "single", False)
    x = np.ones((2, 6, 6, 3), np.float32)
    conv.conv_forward_infer(x, np.ones((3, 3, 3, 32), np.float32))  # 32 filters: the blocked route
    assert blas._STATE["checked"]
