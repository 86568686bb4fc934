"""numbacnn.kernels.cpu.vector_gemm: the register-tiled float32 product against a float64 NumPy product,
over the shapes where its tiles and blocks have edges, and the properties blas.gemm relies on."""

import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

from numbacnn.kernels.cpu import blas, vector_gemm
from numbacnn.kernels.cpu.vector_gemm import product

# Tiles are 14 x 32 and 28 x 16: these sizes fall on, just short of and just past their edges; a
# reduction longer than _KC_FULL is done in blocks.
ROWS = [1, 13, 14, 15, 28, 29, 45]
COLS = [1, 6, 16, 17, 31, 32, 33, 70]
DEPTHS = [1, 3, 27, 150]


def _operands(rng, m, n, k, transposed):
    """A (m,k) as the array product() reads plus its strides, B (k,n), C (m,n)."""
    if transposed:  # A = base.T, as a weight gradient's cols.T
        base = rng.standard_normal((k, m)).astype(np.float32)
        a, sai, sak = base.T, 1, m
    else:
        base = rng.standard_normal((m, k)).astype(np.float32)
        a, sai, sak = base, k, 1
    b = rng.standard_normal((k, n)).astype(np.float32)
    return base, a, sai, sak, b


def _reference(a, b):
    return a.astype(np.float64) @ b.astype(np.float64)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("m", ROWS)
def test_product_matches_numpy_at_every_edge(m, transposed):
    rng = np.random.default_rng(m)
    for n in COLS:
        for k in DEPTHS:
            base, a, sai, sak, b = _operands(rng, m, n, k, transposed)
            c = np.full((m, n), np.nan, np.float32)
            product(base, 0, sai, sak, b, 0, n, c, 0, n, m, n, k, False)
            np.testing.assert_allclose(c, _reference(a, b), rtol=1e-5, atol=1e-5 * np.sqrt(k),
                                       err_msg=f"m={m} n={n} k={k}")


@pytest.mark.parametrize("m,n,k", [(5, 40, 3), (29, 17, 27), (300, 32, 2500)])
def test_accumulate_adds_to_c(m, n, k):
    rng = np.random.default_rng(k)
    base, a, sai, sak, b = _operands(rng, m, n, k, transposed=True)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    c = c0.copy()
    product(base, 0, sai, sak, b, 0, n, c, 0, n, m, n, k, True)
    np.testing.assert_allclose(c, c0 + _reference(a, b), rtol=1e-5, atol=1e-5 * np.sqrt(k))


def test_empty_reduction_overwrites_with_zero_or_leaves_c():
    a = np.zeros((4, 0), np.float32)
    b = np.zeros((0, 3), np.float32)
    c = np.ones((4, 3), np.float32)
    product(a, 0, 0, 1, b, 0, 3, c, 0, 3, 4, 3, 0, True)
    np.testing.assert_array_equal(c, 1)
    product(a, 0, 0, 1, b, 0, 3, c, 0, 3, 4, 3, 0, False)
    np.testing.assert_array_equal(c, 0)


def test_offsets_and_leading_dimensions_address_a_sub_block():
    """ai, bi, ci and ldc pick a block inside larger arrays; nothing outside C's block is written."""
    rng = np.random.default_rng(3)
    big_a = rng.standard_normal((40, 50)).astype(np.float32)
    big_b = rng.standard_normal((30, 48)).astype(np.float32)
    big_c = np.full((35, 60), 7.0, np.float32)
    m, n, k = 20, 33, 25  # A = big_a[5:25, 10:35], B = big_b[2:27, 4:37], C = big_c[3:23, 6:39]
    product(big_a, 5 * 50 + 10, 50, 1, big_b, 2 * 48 + 4, 48, big_c, 3 * 60 + 6, 60, m, n, k, False)
    expected = np.full((35, 60), 7.0)
    expected[3:23, 6:39] = _reference(big_a[5:25, 10:35], big_b[2:27, 4:37])
    np.testing.assert_allclose(big_c, expected, rtol=1e-5, atol=1e-5)


def test_a_row_is_the_same_bits_wherever_it_sits():
    """Each element is one chain of FMAs along k: a row computed in a full tile, in the padded last
    tile, alone, or after the reduction was split in two accumulating calls gives the same bits."""
    rng = np.random.default_rng(5)
    m, n, k = 31, 40, 1500  # 14 + 14 + 3 rows, 32 + 8 columns, a reduction past _KC_FULL
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    whole = np.empty((m, n), np.float32)
    product(a, 0, k, 1, b, 0, n, whole, 0, n, m, n, k, False)
    for i in (0, 13, 29, 30):
        alone = np.empty((1, n), np.float32)
        product(a, i * k, k, 1, b, 0, n, alone, 0, n, 1, n, k, False)
        np.testing.assert_array_equal(alone[0], whole[i])
    halves = np.empty((m, n), np.float32)
    product(a, 0, k, 1, b, 0, n, halves, 0, n, m, n, 700, False)
    product(a, 700, k, 1, b, 700 * n, n, halves, 0, n, m, n, k - 700, True)
    np.testing.assert_array_equal(halves, whole)


def test_only_float32_is_taken():
    a = np.ones((2, 2))
    with pytest.raises(TypingError):
        product(a, 0, 2, 1, a, 0, 2, a, 0, 2, 2, 2, 2, False)


@pytest.mark.parametrize("setting,expected", [("blas", False), ("vector", True), (" Vector ", True)])
def test_numbacnn_gemm_chooses_the_route(monkeypatch, setting, expected):
    monkeypatch.setenv("NUMBACNN_GEMM", setting)
    assert vector_gemm.available() is expected


def test_numbacnn_gemm_rejects_other_values(monkeypatch):
    monkeypatch.setenv("NUMBACNN_GEMM", "mkl")
    with pytest.raises(ValueError, match="NUMBACNN_GEMM must be 'blas' or 'vector', received 'mkl'"):
        vector_gemm.available()


def test_a_numba_cpu_name_without_features_means_no_avx512(monkeypatch):
    """NUMBA_CPU_NAME=generic (a portable cache) compiles without AVX-512 whatever the host has."""
    from numba.core import config

    monkeypatch.delenv("NUMBACNN_GEMM", raising=False)
    monkeypatch.setattr(config, "CPU_NAME", "generic")
    monkeypatch.setattr(config, "CPU_FEATURES", None)
    assert not vector_gemm.available()
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx512f,+avx2")
    assert vector_gemm.available()


def test_without_a_setting_it_follows_the_cpu(monkeypatch):
    monkeypatch.delenv("NUMBACNN_GEMM", raising=False)
    monkeypatch.setattr(vector_gemm, "_host_features", lambda: "+avx2,+fma,-avx512f")
    assert not vector_gemm.available()
    monkeypatch.setattr(vector_gemm, "_host_features", lambda: "+avx2,+avx512f,+fma")
    assert vector_gemm.available()


@pytest.fixture
def vector_route(monkeypatch):
    monkeypatch.setitem(blas._STATE, "vector", True)
    monkeypatch.setattr(blas, "_MIN_SPLIT_WORK", 0)
    monkeypatch.setattr(blas, "_MIN_SPLIT_REDUCTION", 8)


@pytest.mark.parametrize("m,k,n", [(3, 5, 7), (57, 27, 32), (200, 9, 16)])
def test_gemm_splits_rows_and_gives_the_same_bits_on_any_thread_count(vector_route, m, k, n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    threads = numba.get_num_threads()
    two = blas.gemm(a, b)
    np.testing.assert_allclose(two, _reference(a, b), rtol=1e-5, atol=1e-5)
    numba.set_num_threads(1)
    try:
        np.testing.assert_array_equal(blas.gemm(a, b), two)
    finally:
        numba.set_num_threads(threads)


@pytest.mark.parametrize("r,m,n", [(4099, 9, 16), (1001, 27, 32), (64, 5, 7)])
def test_gemm_splits_a_long_reduction(vector_route, r, m, n):
    """cols.T @ g: the reduction is split between the threads and the partial products summed."""
    rng = np.random.default_rng(r)
    cols = rng.standard_normal((r, m)).astype(np.float32)
    g = rng.standard_normal((r, n)).astype(np.float32)
    first = blas.gemm(cols.T, g)
    np.testing.assert_allclose(first, _reference(cols.T, g), rtol=1e-4, atol=1e-4 * np.sqrt(r))
    np.testing.assert_array_equal(blas.gemm(cols.T, g), first)


def test_gemm_refuses_an_out_it_cannot_write(vector_route):
    a = np.ones((4, 3), np.float32)
    b = np.ones((3, 5), np.float32)
    with pytest.raises(ValueError, match=r"gemm: out must be a C-contiguous float32 array of shape \(4, 5\), "
                       r"received float32 \(4, 5\) not C-contiguous"):
        blas.gemm(a, b, out=np.empty((5, 4), np.float32).T)
    with pytest.raises(ValueError, match=r"received float64 \(4, 5\)"):
        blas.gemm(a, b, out=np.empty((4, 5)))


def test_gemm_takes_float64_to_the_blas(vector_route):
    a = np.random.default_rng(0).standard_normal((30, 20))
    np.testing.assert_allclose(blas.gemm(a, a.T), a @ a.T, rtol=1e-12)
    assert not blas.vector_route(np.float64) and blas.vector_route(np.float32)
