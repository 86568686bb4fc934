"""CUDA dropout kernels against their CPU twins on the same host draws."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import dropout as C
from numbacnn.kernels.cuda import dropout as G


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


@pytest.mark.parametrize("shape, noise_shape", [((4, 5, 3), (4, 5, 3)), ((4, 5, 3), (4, 1, 3)),
                                                ((4, 5, 3), (3,)), ((2, 3, 2, 4), (1, 3, 1, 4)),
                                                ((7,), (7,)), ((2, 2, 2, 2, 2, 2, 2, 2, 2), (2, 1, 2))])
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_equals_the_cpu(shape, noise_shape, rate, dtype, dev):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(dtype)
    u = rng.random(noise_shape, dtype=dtype)
    g = rng.normal(size=shape).astype(dtype)
    y_cpu, mask_cpu = C.dropout_forward(x, u, rate)
    y, mask = G.dropout_forward(*dev(x, u), rate)
    dx = G.dropout_backward(*dev(g, mask_cpu))
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    assert y.dtype == dtype and mask.dtype == dtype and mask.shape == shape
    np.testing.assert_allclose(y.copy_to_host(), y_cpu, **tol)
    np.testing.assert_array_equal(mask.copy_to_host(), mask_cpu)
    np.testing.assert_allclose(dx.copy_to_host(), C.dropout_backward(g, mask_cpu), **tol)


def test_draws_that_do_not_broadcast_are_rejected(dev):
    x, u = dev(np.zeros((3, 4, 5), np.float32), np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 5\) do not broadcast to x of shape \(3, 4, 5\)"):
        G.dropout_forward(x, u, 0.5)
