"""numbacnn/kernels/cpu/reshaping.py against np.pad and slicing."""

import numpy as np
import pytest

from numbacnn.kernels import cpu as K

PADDINGS = [((0, 0), (0, 0), (0, 0)), ((0, 0), (1, 1), (1, 1)), ((0, 0), (2, 0), (0, 3)),
            ((1, 2), (0, 1), (3, 0))]


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 1), (2, 1, 3, 4, 2), (3, 2, 2, 3, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_pad_forward_and_backward(padding, shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    y = K.zero_pad_forward(x, padding)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0),) + padding + ((0, 0),)))
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = K.zero_pad_backward(g, padding)
    (d0, _), (h0, _), (w0, _) = padding
    d, h, w = shape[1:4]
    np.testing.assert_array_equal(dx, g[:, d0:d0 + d, h0:h0 + h, w0:w0 + w, :])
    # the crop is the adjoint of the pad: <pad(x), g> == <x, crop(g)>
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * dx), rtol=1e-5)


def test_zero_pad_overwrites_garbage_and_takes_views():
    x = np.arange(24, dtype=np.float64).reshape(1, 1, 4, 6, 1)[:, :, ::2, ::2]
    y = K.zero_pad_forward(x, ((0, 0), (1, 1), (1, 1)))
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0))))
