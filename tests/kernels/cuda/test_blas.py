"""numbacnn.kernels.cuda.blas against its CPU twin (numbacnn.kernels.cpu.blas) on the same host data."""

import itertools

import numpy as np
import pytest
from numba import cuda

from numbacnn import backend
from numbacnn.kernels.cpu import blas as cpu
from numbacnn.kernels.cuda import blas

F32 = {"rtol": 1e-5, "atol": 1e-5}
F64 = {"rtol": 1e-12, "atol": 1e-12}


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("m, k, n", [(1, 7, 1), (1, 20, 5), (6, 1, 4), (17, 33, 19), (70, 5, 3), (3, 18, 70)])
def test_gemm_matches_cpu(m, k, n):
    a, b = rand(m, k), rand(k, n, seed=1)
    out = blas.gemm(cuda.to_device(a), cuda.to_device(b))
    assert out.shape == (m, n) and out.dtype == np.float32
    np.testing.assert_allclose(out.copy_to_host(), cpu.gemm(a, b), **F32)


@pytest.mark.skipif(not backend.cuda_config().ENABLE_CUDASIM,
                    reason="the guard is the simulator's (tests/conftest.py)")
def test_a_kernel_given_none_fails_under_the_simulator_as_on_a_gpu():
    """numba-cuda cannot pass None to a kernel ("NotImplementedError: (none, None)"); the simulator
    could, so tests/conftest.py refuses it there and a bias-less product passes a stand-in array."""
    a, b = cuda.to_device(rand(2, 3)), cuda.to_device(rand(3, 2))
    out = cuda.device_array((1, 2, 2), np.float32)
    with pytest.raises(TypeError, match=r"kernel _gemm launched with None for \['bias'\]"):
        blas._gemm[(1, 1, 1), (16, 16)](a, b, None, False, out, False, False, False, 3)
    blas.matmul(a, b, out.reshape((2, 2)))  # bias None: the stand-in goes to the kernel
    np.testing.assert_allclose(out.copy_to_host()[0], cpu.gemm(rand(2, 3), rand(3, 2)), **F32)


def test_gemm_float64_into_given_out():
    a, b = rand(9, 21, dtype=np.float64), rand(21, 5, dtype=np.float64, seed=1)
    out = cuda.to_device(np.full((9, 5), np.nan))
    assert blas.gemm(cuda.to_device(a), cuda.to_device(b), out=out) is out
    np.testing.assert_allclose(out.copy_to_host(), cpu.gemm(a, b), **F64)


@pytest.mark.parametrize("trans_a, trans_b", list(itertools.product([False, True], repeat=2)))
def test_matmul_transposed_operands_accumulate_and_bias(trans_a, trans_b):
    m, k, n = 5, 19, 7
    a = rand(k, m) if trans_a else rand(m, k)
    b = rand(n, k, seed=1) if trans_b else rand(k, n, seed=1)
    bias, start = rand(n, seed=2), rand(m, n, seed=3)
    out = cuda.to_device(start)
    blas.matmul(cuda.to_device(a), cuda.to_device(b), out, trans_a, trans_b, accumulate=True,
                bias=cuda.to_device(bias))
    ref = start + cpu.gemm(a.T if trans_a else a, b.T if trans_b else b) + bias
    np.testing.assert_allclose(out.copy_to_host(), ref, **F32)


@pytest.mark.parametrize("accumulate", [False, True])
def test_matmul_split_k(monkeypatch, accumulate):
    """A long K over few output tiles is split over blocks; the partial products sum to the same result."""
    monkeypatch.setattr(blas, "_MIN_SPLIT_K", 16)
    m, k, n = 3, 40, 4
    assert blas._splits(m, n, k)[0] > 1
    a, b, bias, start = rand(k, m), rand(k, n, seed=1), rand(n, seed=2), rand(m, n, seed=3)
    out = cuda.to_device(start)
    blas.matmul(cuda.to_device(a), cuda.to_device(b), out, trans_a=True, accumulate=accumulate,
                bias=cuda.to_device(bias))
    ref = cpu.gemm(a.T, b) + bias + (start if accumulate else 0)
    np.testing.assert_allclose(out.copy_to_host(), ref, **F32)


@pytest.mark.parametrize("accumulate, rows_per_block, columns", [(False, 1024, 20), (True, 16, 5)])
def test_column_sums(monkeypatch, accumulate, rows_per_block, columns):
    """Rows summed per column in float64, over one or several row chunks (partial sums, then the total)."""
    monkeypatch.setattr(blas, "_SUM_ROWS", rows_per_block)
    g, start = rand(37, columns), rand(columns, seed=1)
    out = cuda.to_device(start)
    blas.column_sums(cuda.to_device(g), out, accumulate=accumulate)
    ref = g.astype(np.float64).sum(axis=0) + (start if accumulate else 0)
    np.testing.assert_allclose(out.copy_to_host(), ref, **F32)
