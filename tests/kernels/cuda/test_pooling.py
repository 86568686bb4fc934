"""CUDA pooling kernels against their CPU twins, forward (with argmax) and backward, on 5-D views."""

import math

import numpy as np
import pytest

from numbacnn.kernels.cpu import pooling as C
from numbacnn.kernels.cuda import pooling as G


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


def geometry(spatial, pool, strides, padding):
    """Output sizes and padding before each axis, TensorFlow's rules."""
    if padding == "valid":
        return tuple((s - p) // st + 1 for s, p, st in zip(spatial, pool, strides)), (0, 0, 0)
    out = tuple(math.ceil(s / st) for s, st in zip(spatial, strides))
    pads = tuple(max((o - 1) * st + p - s, 0) // 2 for o, st, p, s in zip(out, strides, pool, spatial))
    return out, pads


# (N,D,H,W,C), pool, strides: 1-D, 2-D and 3-D views, overlapping and disjoint windows
CASES = [((2, 1, 1, 7, 3), (1, 1, 3), (1, 1, 2)),
         ((2, 1, 5, 4, 2), (1, 2, 2), (1, 2, 2)),
         ((1, 1, 5, 5, 2), (1, 3, 3), (1, 1, 2)),
         ((1, 3, 4, 3, 2), (2, 2, 2), (1, 2, 1))]


@pytest.mark.parametrize("shape, pool, strides", CASES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_equals_the_cpu(shape, pool, strides, padding, mode, dtype, dev):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(dtype)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, -1, 0]  # a tie: the first maximum wins
    out_dims, pads = geometry(shape[1:4], pool, strides, padding)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    if mode == "max":
        y_cpu, argmax_cpu = C.pool_max_forward(x, pool, strides, pads, out_dims)
        y, argmax = G.pool_max_forward(dev(x), pool, strides, pads, out_dims)
        np.testing.assert_array_equal(argmax.copy_to_host(), argmax_cpu)
        assert argmax.dtype == np.int32
    else:
        y_cpu = C.pool_avg_forward(x, pool, strides, pads, out_dims)
        y = G.pool_avg_forward(dev(x), pool, strides, pads, out_dims)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.copy_to_host(), y_cpu, **tol)
    g = rng.normal(size=y_cpu.shape).astype(dtype)
    if mode == "max":
        dx_cpu = C.pool_max_backward(g, argmax_cpu, shape[1:4], pool, strides, pads)
        dx = G.pool_max_backward(*dev(g, argmax_cpu), shape[1:4], pool, strides, pads)
    else:
        dx_cpu = C.pool_avg_backward(g, shape[1:4], pool, strides, pads)
        dx = G.pool_avg_backward(dev(g), shape[1:4], pool, strides, pads)
    assert dx.shape == shape
    np.testing.assert_allclose(dx.copy_to_host(), dx_cpu, **tol)


def test_max_pooling_propagates_a_nan_like_the_cpu(dev):
    x = np.arange(2 * 4 * 2, dtype=np.float32).reshape(1, 1, 2, 4, 2)
    x[0, 0, 1, 0, 1] = np.nan
    args = ((1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 1, 2))
    y_cpu, argmax_cpu = C.pool_max_forward(x, *args)
    y, argmax = G.pool_max_forward(dev(x), *args)
    assert np.isnan(y.copy_to_host()[0, 0, 0, 0, 1])
    np.testing.assert_array_equal(y.copy_to_host(), y_cpu)
    np.testing.assert_array_equal(argmax.copy_to_host(), argmax_cpu)


@pytest.mark.parametrize("shape", [(2, 5, 3), (1, 1, 4), (3, 7, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_pooling_equals_the_cpu(shape, dtype, dev):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype(dtype)
    x[0, -1, 0] = x[0, 0, 0] + 1.0  # the maximum in the last position
    g = rng.normal(size=(shape[0], shape[2])).astype(dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    y_cpu, argmax_cpu = C.global_pool_max_forward(x)
    y, argmax = G.global_pool_max_forward(dev(x))
    np.testing.assert_array_equal(y.copy_to_host(), y_cpu)
    np.testing.assert_array_equal(argmax.copy_to_host(), argmax_cpu)
    np.testing.assert_array_equal(G.global_pool_max_backward(*dev(g, argmax_cpu), shape[1]).copy_to_host(),
                                  C.global_pool_max_backward(g, argmax_cpu, shape[1]))
    np.testing.assert_allclose(G.global_pool_avg_forward(dev(x)).copy_to_host(), C.global_pool_avg_forward(x),
                               **tol)
    np.testing.assert_allclose(G.global_pool_avg_backward(dev(g), shape[1]).copy_to_host(),
                               C.global_pool_avg_backward(g, shape[1]), **tol)
