"""numbacnn.kernels.cpu.vector_math: the float32 tanh the activation kernel and the convolutions'
epilogue share, against float64 tanh."""

import math

import numpy as np
import pytest
from numba import njit, prange

from numbacnn.kernels.cpu import activations
from numbacnn.kernels.cpu.vector_math import copy_run, tanh_value


@njit(parallel=True, cache=True)
def _ulp_error(y, x):
    """|y - tanh(x)| in units in the last place of float32 at tanh(x), tanh in float64."""
    out = np.empty(y.shape[0], np.float64)
    for i in prange(y.shape[0]):
        ref = math.tanh(np.float64(x[i]))
        out[i] = abs(np.float64(y[i]) - ref) / np.float64(np.spacing(np.float32(abs(ref))))
    return out


@njit(cache=True, error_model="numpy")
def _scalar_loop(x, y):
    for i in range(x.shape[0]):
        y[i] = tanh_value(x[i])


@njit(cache=True)
def _copy(dst, di, src, si, n):
    copy_run(dst, di, src, si, n)


def _tanh32(x):
    return activations.activation_forward(x, activations.ACT_TANH)


def test_float32_tanh_is_within_one_and_a_half_ulp_and_mostly_correctly_rounded():
    """Every float32 from 2^-30 to 10 in steps of 61 representable values (4.6 million, both branches,
    the threshold at 0.625 and the clamp at 9.5): at most 1.5 ulp from tanh, and over 98 % correctly
    rounded (the whole range measured: 1.42 ulp, 98.96 %)."""
    lo, hi = np.float32(2.0 ** -30).view(np.int32), np.float32(10.0).view(np.int32)
    x = np.arange(lo, hi, 61, dtype=np.int32).view(np.float32)
    err = _ulp_error(_tanh32(x), x)
    assert err.max() <= 1.5, (err.max(), x[err.argmax()])
    assert np.mean(err <= 0.5 + 1e-9) > 0.98


def test_float32_tanh_edges_and_symmetry():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 0.625, np.nextafter(0.625, 0), 9.0,
                  9.5, 9.25, 20.0, -20.0, 3.4e38, -3.4e38], np.float32)
    y = _tanh32(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(np.signbit(y[:2]), [False, True])  # -0.0 keeps its sign
    np.testing.assert_array_equal(y[2:4], [1.0, -1.0])
    assert np.isnan(y[4])
    np.testing.assert_array_equal(y[5:7], x[5:7])  # tanh(x) = x for subnormals
    np.testing.assert_array_equal(y[10:], [1.0, 1.0, 1.0, -1.0, 1.0, -1.0])
    assert _ulp_error(y[7:10], x[7:10]).max() <= 0.5  # both sides of the threshold; 9.0 rounds below 1
    z = np.random.default_rng(0).standard_normal(10_000).astype(np.float32) * 4
    np.testing.assert_array_equal(_tanh32(-z), -_tanh32(z))


def test_vector_and_scalar_code_give_the_same_bits():
    """The parallel kernel (16-lane vectors) and a plain loop over odd lengths (vector body and scalar
    remainder) agree: the fused epilogue may see a value in either."""
    x = np.random.default_rng(1).standard_normal(1001).astype(np.float32) * 3
    for n in (1, 7, 17, 1001):
        y = np.empty(n, np.float32)
        _scalar_loop(x[:n], y)
        np.testing.assert_array_equal(y, _tanh32(x[:n]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_against_numpy(dtype):
    x = np.random.default_rng(2).standard_normal((3, 50, 7)).astype(dtype) * 5
    y = _tanh32(x) if dtype == np.float32 else activations.activation_forward(x, activations.ACT_TANH)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, np.tanh(x), rtol=2e-7 if dtype == np.float32 else 1e-15, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_copy_run_copies_exactly_the_run(dtype):
    """Every length from 0 to 50 (no chunk, a masked tail only, full chunks and a tail) at odd offsets:
    the run lands, nothing around it moves (the masked lanes neither read into nor write past it)."""
    src = np.arange(1, 201, dtype=dtype)
    for n in range(51):
        for di, si in ((0, 0), (3, 17), (101, 149)):
            dst = np.full(160, -1, dtype)
            _copy(dst, di, src, si, n)
            expected = np.full(160, -1, dtype)
            expected[di:di + n] = src[si:si + n]
            np.testing.assert_array_equal(dst, expected)
    end = np.zeros(16, dtype)  # a run that ends at the last element of both arrays
    _copy(end, 9, src[-7:].copy(), 0, 7)
    np.testing.assert_array_equal(end[9:], src[-7:])
