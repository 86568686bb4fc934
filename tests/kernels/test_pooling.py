"""Pooling kernels against a slow pure-NumPy reference (TensorFlow's window rules), forward and backward."""

import itertools
import math

import numpy as np
import pytest

from numbacnn.kernels.cpu import pooling as K

SHAPES = {1: (2, 7, 3), 2: (2, 7, 5, 3), 3: (2, 5, 4, 7, 2)}


def tf_geometry(size, pool, stride, padding):
    """Output length and padding before, straight from TensorFlow's documented formulas."""
    if padding == "valid":
        return math.floor((size - pool) / stride) + 1, 0
    out = math.ceil(size / stride)
    return out, max((out - 1) * stride + pool - size, 0) // 2


def windows(spatial, pool, strides, padding):
    """(output index, tuple of slices over the real input cells) for every window."""
    geo = [tf_geometry(*args, padding) for args in zip(spatial, pool, strides)]
    for o in itertools.product(*(range(out) for out, _ in geo)):
        yield o, tuple(slice(max(oi * s - b, 0), min(oi * s - b + p, size))
                       for oi, s, p, size, (_, b) in zip(o, strides, pool, spatial, geo))


def out_dims(spatial, pool, strides, padding):
    return tuple(tf_geometry(*args, padding)[0] for args in zip(spatial, pool, strides))


def np_pool(x, g, pool, strides, padding, mode):
    """Reference forward y and input gradient dx (a scatter over windows) of x (N, *spatial, C)."""
    n, c = x.shape[0], x.shape[-1]
    spatial = x.shape[1:-1]
    y = np.zeros((n, *out_dims(spatial, pool, strides, padding), c), dtype=np.float64)
    dx = np.zeros(x.shape, dtype=np.float64)
    for o, sl in windows(spatial, pool, strides, padding):
        full = (slice(None), *sl, slice(None))
        win = x[full].reshape(n, -1, c)
        local = np.zeros(win.shape)
        go = g[(slice(None), *o, slice(None))]
        if mode == "max":
            k = win.argmax(axis=1)  # first maximum in row-major window order
            y[(slice(None), *o, slice(None))] = win.max(axis=1)
            np.put_along_axis(local, k[:, None, :], go[:, None, :], axis=1)
        else:
            y[(slice(None), *o, slice(None))] = win.mean(axis=1)
            local[:] = go[:, None, :] / win.shape[1]
        dx[full] += local.reshape(x[full].shape)
    return y, dx


def kernel_args(shape, pool, strides, padding):
    """The 5-D view and 3-tuples the kernels take, for an input of rank-k ``shape``."""
    ones = (1,) * (5 - len(shape))
    spatial = shape[1:-1]
    pads = tuple(tf_geometry(*args, padding)[1] for args in zip(spatial, pool, strides))
    return ((shape[0], *ones, *spatial, shape[-1]), ones + pool, ones + strides, (0,) * len(ones) + pads,
            ones + out_dims(spatial, pool, strides, padding))


def run_kernels(x, g, pool, strides, padding, mode):
    shape5, pool5, strides5, pads5, out5 = kernel_args(x.shape, pool, strides, padding)
    x5 = x.reshape(shape5)
    g5 = g.reshape((x.shape[0], *out5, x.shape[-1]))
    if mode == "max":
        y, argmax = K.pool_max_forward(x5, pool5, strides5, pads5, out5)
        chosen = np.take_along_axis(x5.reshape(x.shape[0], -1, x.shape[-1]),
                                    argmax.reshape(x.shape[0], -1, x.shape[-1]).astype(np.int64), axis=1)
        np.testing.assert_array_equal(chosen.reshape(y.shape), y)
        dx = K.pool_max_backward(g5, argmax, shape5[1:-1], pool5, strides5, pads5)
    else:
        y = K.pool_avg_forward(x5, pool5, strides5, pads5, out5)
        dx = K.pool_avg_backward(g5, shape5[1:-1], pool5, strides5, pads5)
    return y.reshape(g.shape), dx.reshape(x.shape)


def distinct(shape, seed=0):
    """Values without ties: a random permutation, scaled."""
    return np.random.default_rng(seed).permutation(math.prod(shape)).reshape(shape) * 0.25 - 3.0


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("pool", [2, 3])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pool_matches_reference(rank, pool, stride, padding, mode):
    shape = SHAPES[rank]
    x = distinct(shape, seed=rank * 100 + pool * 10 + stride)
    pool_t, strides_t = (pool,) * rank, (stride,) * rank
    out = (shape[0], *out_dims(shape[1:-1], pool_t, strides_t, padding), shape[-1])
    g = np.random.default_rng(1).standard_normal(out)
    y_ref, dx_ref = np_pool(x, g, pool_t, strides_t, padding, mode)
    y, dx = run_kernels(x, g, pool_t, strides_t, padding, mode)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool, strides, padding", [
    ((3, 2), (1, 2), "same"), ((2, 3), (3, 1), "valid"), ((4, 1), (2, 2), "same"), ((1, 1), (1, 1), "same"),
])
def test_pool_anisotropic_float32(pool, strides, padding, mode):
    x = distinct((3, 6, 7, 4)).astype(np.float32)
    out = (3, *out_dims((6, 7), pool, strides, padding), 4)
    g = np.random.default_rng(2).standard_normal(out).astype(np.float32)
    y_ref, dx_ref = np_pool(x.astype(np.float64), g.astype(np.float64), pool, strides, padding, mode)
    y, dx = run_kernels(x, g, pool, strides, padding, mode)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pool, strides, padding", [
    ((2, 2), (2, 2), "valid"), ((3, 3), (3, 3), "same"), ((2, 3), (3, 4), "valid"), ((3, 2), (4, 2), "same"),
    ((1, 3), (2, 3), "same"),
])
def test_avg_backward_without_overlap_is_exact_in_float32(pool, strides, padding):
    """Windows that do not overlap (the row-copying kernel): every cell is float32(g / real cells) to
    the bit, 0 in the gaps between windows and after the last; a transposed (non-contiguous) gradient
    gives the same."""
    x = np.zeros((2, 11, 10, 3), dtype=np.float32)
    out = (2, *out_dims((11, 10), pool, strides, padding), 3)
    g = np.random.default_rng(5).standard_normal(out).astype(np.float32)
    _, dx_ref = np_pool(x.astype(np.float64), g.astype(np.float64), pool, strides, padding, "avg")
    _, dx = run_kernels(x, g, pool, strides, padding, "avg")
    np.testing.assert_array_equal(dx, dx_ref.astype(np.float32))
    shape5, pool5, strides5, pads5, out5 = kernel_args(x.shape, pool, strides, padding)
    g_t = np.ascontiguousarray(g.reshape(2, *out5, 3).transpose(4, 1, 2, 3, 0)).transpose(4, 1, 2, 3, 0)
    assert not g_t.flags.c_contiguous
    dx_t = K.pool_avg_backward(g_t, shape5[1:-1], pool5, strides5, pads5)
    np.testing.assert_array_equal(dx_t.reshape(x.shape), dx)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2])
def test_max_ties_go_to_first_maximum(stride, padding):
    x = np.random.default_rng(3).integers(0, 3, size=(2, 6, 5, 3)).astype(np.float64)
    out = (2, *out_dims((6, 5), (3, 3), (stride, stride), padding), 3)
    g = np.random.default_rng(4).standard_normal(out)
    y_ref, dx_ref = np_pool(x, g, (3, 3), (stride, stride), padding, "max")
    y, dx = run_kernels(x, g, (3, 3), (stride, stride), padding, "max")
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)


def test_same_padding_puts_the_odd_cell_at_the_end():
    # size 5, pool 4, stride 1: 5 outputs, TensorFlow pads 1 before and 2 after
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    g = np.ones((1, 5, 1))
    y_max, _ = run_kernels(x, g, (4,), (1,), "same", "max")
    y_avg, dx_avg = run_kernels(x, g, (4,), (1,), "same", "avg")
    np.testing.assert_allclose(y_max.ravel(), [3, 4, 5, 5, 5])
    np.testing.assert_allclose(y_avg.ravel(), [2, 2.5, 3.5, 4, 4.5])
    np.testing.assert_allclose(dx_avg.ravel(), [1 / 3 + 1 / 4, 1 / 3 + 1 / 2, 2 / 3 + 1 / 2,
                                                1 / 2 + 1 / 3 + 1 / 2, 1 / 4 + 1 / 3 + 1 / 2])


def test_avg_same_divides_by_real_cells():
    # TensorFlow: avg_pool2d(1..9 as 3x3, 2, 2, 'SAME') = [[3, 4.5], [7.5, 9]]
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y, _ = run_kernels(x, np.ones((1, 2, 2, 1)), (2, 2), (2, 2), "same", "avg")
    np.testing.assert_allclose(y[0, :, :, 0], [[3, 4.5], [7.5, 9]])


def test_max_negative_inputs_ignore_padding():
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y, _ = run_kernels(x, np.ones((1, 2, 2, 1)), (2, 2), (2, 2), "same", "max")
    np.testing.assert_allclose(y[0, :, :, 0], [[-1, -3], [-7, -9]])


def test_max_propagates_nan():
    x = np.array([1.0, np.nan, 3.0, 0.0]).reshape(1, 1, 1, 4, 1)
    y, argmax = K.pool_max_forward(x, (1, 1, 2), (1, 1, 2), (0, 0, 0), (1, 1, 2))
    assert np.isnan(y[0, 0, 0, 0, 0]) and y[0, 0, 0, 1, 0] == 3.0
    assert argmax.ravel().tolist() == [1, 2]


def np_global(x, g, mode):
    n, c = x.shape[0], x.shape[-1]
    flat = x.reshape(n, -1, c)
    if mode == "max":
        y = flat.max(axis=1)
        dx = np.zeros_like(flat)
        np.put_along_axis(dx, flat.argmax(axis=1)[:, None, :], g[:, None, :], axis=1)
    else:
        y = flat.mean(axis=1)
        dx = np.broadcast_to(g[:, None, :] / flat.shape[1], flat.shape)
    return y, dx.reshape(x.shape)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 7, 2), (2, 5, 3, 4), (2, 3, 2, 4, 3)])
@pytest.mark.parametrize("ties", [False, True])
def test_global_pool_matches_reference(shape, mode, ties):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=shape).astype(np.float64) if ties else distinct(shape)
    g = rng.standard_normal((shape[0], shape[-1]))
    y_ref, dx_ref = np_global(x, g, mode)
    x3 = x.reshape(shape[0], -1, shape[-1])
    steps = x3.shape[1]
    if mode == "max":
        y, argmax = K.global_pool_max_forward(x3)
        dx = K.global_pool_max_backward(g, argmax, steps)
    else:
        y = K.global_pool_avg_forward(x3)
        dx = K.global_pool_avg_backward(g, steps)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx.reshape(shape), dx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_global_pool_float32(mode):
    x = distinct((2, 9, 3)).astype(np.float32)
    g = np.random.default_rng(6).standard_normal((2, 3)).astype(np.float32)
    y_ref, dx_ref = np_global(x.astype(np.float64), g.astype(np.float64), mode)
    if mode == "max":
        y, argmax = K.global_pool_max_forward(x)
        dx = K.global_pool_max_backward(g, argmax, 9)
    else:
        y = K.global_pool_avg_forward(x)
        dx = K.global_pool_avg_backward(g, 9)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=1e-7)
