"""CUDA upsampling and channel slices against their CPU twins."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import resampling as C
from numbacnn.kernels.cuda import resampling as G


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


@pytest.mark.parametrize("shape, size", [((2, 1, 1, 4, 3), (1, 1, 2)), ((1, 2, 2, 3, 1), (2, 1, 3))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nearest_equals_the_cpu(shape, size, dtype, dev):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(dtype)
    y_cpu = C.upsample_nearest_forward(x, size)
    g = rng.normal(size=y_cpu.shape).astype(dtype)
    np.testing.assert_array_equal(G.upsample_nearest_forward(dev(x), size).copy_to_host(), y_cpu)
    np.testing.assert_array_equal(G.upsample_nearest_backward(dev(g), size).copy_to_host(),
                                  C.upsample_nearest_backward(g, size))


@pytest.mark.parametrize("shape, out", [((2, 3, 4, 2), (6, 8)), ((1, 2, 5, 1), (6, 15))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bilinear_equals_the_cpu(shape, out, dtype, dev):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype(dtype)
    g = rng.normal(size=(shape[0],) + out + (shape[3],)).astype(dtype)
    np.testing.assert_allclose(G.upsample_bilinear_forward(dev(x), out).copy_to_host(),
                               C.upsample_bilinear_forward(x, out), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(G.upsample_bilinear_backward(dev(g), shape).copy_to_host(),
                               C.upsample_bilinear_backward(g, shape), rtol=1e-6, atol=1e-6)


def test_channels_take_join_and_add_equal_the_cpu(dev):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 6)).astype(np.float32)
    parts = [G.channels_take(dev(x), 0, 2), G.channels_take(dev(x), 2, 6)]
    np.testing.assert_array_equal(parts[1].copy_to_host(), C.channels_take(x, 2, 6))
    np.testing.assert_array_equal(G.channels_join(parts).copy_to_host(), x)
    b = rng.normal(size=6).astype(np.float32)
    y = dev(x)
    G.channels_add(y, dev(b))
    np.testing.assert_array_equal(y.copy_to_host(), C.channels_add(x.copy(), b))
