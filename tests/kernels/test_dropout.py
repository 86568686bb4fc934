"""numbacnn/kernels/cpu/dropout.py against NumPy."""

import numpy as np
import pytest

from numbacnn.kernels import cpu as K


@pytest.mark.parametrize("shape,noise", [((5,), (5,)), ((3, 4), (3, 4)), ((2, 3, 4), (2, 1, 4)),
                                         ((2, 2, 2, 3), (2, 1, 1, 3))])
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_forward_and_backward(shape, noise, rate, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    u = rng.random(noise).astype(dtype)
    y, mask = K.dropout_forward(x, u, rate)
    assert y.dtype == dtype and mask.shape == shape
    keep = np.broadcast_to(u < 1 - rate, shape)
    expected_mask = np.where(keep, 1.0 / (1.0 - rate), 0.0)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(mask, expected_mask, rtol=tol)
    np.testing.assert_allclose(y, x * expected_mask, rtol=tol)
    g = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_allclose(K.dropout_backward(g, mask), g * expected_mask, rtol=tol)


def test_dropout_keeps_about_one_minus_rate_and_the_expected_sum():
    x = np.ones(200_000)
    u = np.random.default_rng(1).random(x.shape)
    y, _ = K.dropout_forward(x, u, 0.25)
    assert abs(np.mean(y > 0) - 0.75) < 0.01
    assert abs(y.mean() - 1.0) < 0.01
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75])
