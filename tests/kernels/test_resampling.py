"""Upsampling and channel-slice kernels against slow NumPy references."""

import numpy as np
import pytest

from numbacnn.kernels import ops
from numbacnn.kernels.cpu import resampling as R


def np_bilinear_weights(in_size, out_size):
    """(out_size, in_size) float64 matrix of a half-pixel bilinear resize along one axis, from the definition:
    output o samples the input at (o + 0.5) * in / out - 0.5, clamped to the first and last cells."""
    m = np.zeros((out_size, in_size))
    for o in range(out_size):
        src = (o + 0.5) * in_size / out_size - 0.5
        f = np.floor(src)
        lo, hi = max(int(f), 0), min(int(np.ceil(src)), in_size - 1)
        m[o, lo] += 1 - (src - f)
        m[o, hi] += src - f
    return m


@pytest.mark.parametrize("shape, size", [((2, 1, 1, 4, 3), (1, 1, 2)), ((2, 1, 3, 2, 2), (1, 3, 2)),
                                         ((1, 2, 2, 3, 1), (2, 1, 3)), ((2, 2, 1, 2, 2), (2, 2, 2))])
def test_nearest_forward_and_backward_match_numpy(shape, size):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    y = R.upsample_nearest_forward(x, size)
    expected = x
    for axis, s in zip((1, 2, 3), size):
        expected = np.repeat(expected, s, axis=axis)
    np.testing.assert_array_equal(y, expected)
    g = rng.normal(size=y.shape)
    n, d, h, w, c = shape
    blocks = g.reshape(n, d, size[0], h, size[1], w, size[2], c)
    np.testing.assert_allclose(R.upsample_nearest_backward(g, size), blocks.sum(axis=(2, 4, 6)), rtol=1e-12)


@pytest.mark.parametrize("shape, out", [((2, 3, 4, 2), (6, 8)), ((1, 2, 5, 3), (6, 15)),
                                        ((2, 1, 3, 1), (4, 3)), ((1, 4, 2, 2), (4, 2))])
def test_bilinear_forward_and_backward_match_the_resize_matrix(shape, out):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    my, mx = np_bilinear_weights(shape[1], out[0]), np_bilinear_weights(shape[2], out[1])
    expected = np.einsum("oh,pw,nhwc->nopc", my, mx, x)
    np.testing.assert_allclose(R.upsample_bilinear_forward(x, out), expected, rtol=1e-12, atol=1e-12)
    g = rng.normal(size=(shape[0],) + tuple(out) + (shape[3],))
    expected_dx = np.einsum("oh,pw,nopc->nhwc", my, mx, g)
    np.testing.assert_allclose(R.upsample_bilinear_backward(g, shape), expected_dx, rtol=1e-12, atol=1e-12)


def test_bilinear_float32_keeps_its_dtype_and_tables_cover_every_input():
    x = np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2)
    y = R.upsample_bilinear_forward(x, (9, 6))
    assert y.dtype == np.float32 and y.shape == (2, 9, 6, 2)
    lo, hi, lerp, first, last = R.bilinear_table(3, 9, np.float32)
    assert lerp.dtype == np.float32 and (first < last).all()
    for i in range(3):
        readers = {o for o in range(9) if lo[o] == i or hi[o] == i}
        assert readers == set(range(first[i], last[i]))


def test_channels_take_join_and_add():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 6)).astype(np.float32)
    parts = [R.channels_take(x, 0, 2), R.channels_take(x, 2, 5), R.channels_take(x, 5, 6)]
    np.testing.assert_array_equal(parts[1], x[..., 2:5])
    np.testing.assert_array_equal(R.channels_join(parts), x)
    ints = np.arange(12, dtype=np.int32).reshape(2, 6)
    np.testing.assert_array_equal(R.channels_join([R.channels_take(ints, 3, 6), ints[:, :3]]),
                                  np.concatenate([ints[:, 3:], ints[:, :3]], axis=1))
    b = rng.normal(size=6).astype(np.float32)
    y = x.copy()
    assert R.channels_add(y, b) is y
    np.testing.assert_array_equal(y, x + b)
    with pytest.raises(ValueError, match=r"channels \[4, 7\) out of 6"):
        R.channels_take(x, 4, 7)
    with pytest.raises(ValueError, match="differ before the last axis"):
        R.channels_join([x, x[:1]])


def test_exported_through_ops():
    for name in R.__all__:
        assert getattr(ops(), name) is getattr(R, name)
