"""CUDA zero padding against its CPU twin."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import reshaping as C
from numbacnn.kernels.cuda import reshaping as G


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


@pytest.mark.parametrize("shape, padding", [((2, 1, 1, 5, 3), ((0, 0), (0, 0), (2, 1))),
                                            ((2, 1, 4, 3, 2), ((0, 0), (1, 2), (0, 3))),
                                            ((1, 2, 3, 2, 2), ((1, 1), (0, 2), (2, 0))),
                                            ((3, 1, 2, 2, 1), ((0, 0), (0, 0), (0, 0)))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_pad_forward_and_backward_equal_the_cpu(shape, padding, dtype, dev):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(dtype)
    y_cpu = C.zero_pad_forward(x, padding)
    g = rng.normal(size=y_cpu.shape).astype(dtype)
    y = G.zero_pad_forward(dev(x), padding).copy_to_host()
    dx = G.zero_pad_backward(dev(g), padding).copy_to_host()
    assert y.dtype == dtype and dx.shape == shape
    np.testing.assert_array_equal(y, y_cpu)
    np.testing.assert_array_equal(dx, C.zero_pad_backward(g, padding))
