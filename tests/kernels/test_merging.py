"""numbacnn/kernels/cpu/merging.py against NumPy: broadcast elementwise ops, the broadcast-sum, the winners of
Maximum/Minimum, concatenation, batched products and L2 normalisation."""

import numpy as np
import pytest
from gradcheck import numeric_grad

from numbacnn.kernels.cpu import merging as K

_NUMPY = {K.MERGE_ADD: np.add, K.MERGE_SUBTRACT: np.subtract, K.MERGE_MULTIPLY: np.multiply,
          K.MERGE_MAXIMUM: np.maximum, K.MERGE_MINIMUM: np.minimum, K.MERGE_DIVIDE: np.divide}

# (a's shape, b's shape): same rank, each axis the output's or 1
BROADCASTS = [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (2, 1, 1, 5)), ((2, 1, 1, 5), (2, 3, 4, 5)),
              ((2, 3, 4, 5), (1, 1, 1, 5)), ((2, 3, 1, 5), (2, 1, 4, 1)), ((3, 1, 2, 1, 2, 1),
                                                                          (3, 2, 1, 2, 1, 2)),
              ((1, 1), (1, 1)), ((4, 1), (4, 9000))]


def _x(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _out(a, b):
    return tuple(max(m, n) for m, n in zip(a, b))


@pytest.mark.parametrize("shapes", BROADCASTS)
@pytest.mark.parametrize("kind", sorted(_NUMPY))
def test_merge_pair_is_numpys_broadcast_op(shapes, kind):
    a, b = _x(shapes[0]), _x(shapes[1], seed=1)
    out = _out(*shapes)
    y = K.merge_pair(a, b, kind, out)
    assert y.dtype == np.float32 and y.shape == out
    np.testing.assert_array_equal(y, _NUMPY[kind](a, b))  # the same float32 operation, bit for bit


def test_merge_pair_in_place_scalars_and_float64():
    a, b = _x((2, 3, 4), np.float64), _x((2, 1, 4), np.float64, seed=1)
    y = K.merge_pair(a, b, K.MERGE_ADD, a.shape)
    K.merge_pair(y, b, K.MERGE_MULTIPLY, a.shape, out=y)
    np.testing.assert_array_equal(y, (a + b) * b)
    np.testing.assert_array_equal(K.merge_pair(y, 3, K.MERGE_DIVIDE, y.shape), y / 3.0)
    with pytest.raises(ValueError, match=r"does not broadcast to \(2, 3, 4\)"):
        K.merge_pair(a, _x((2, 2, 4)), K.MERGE_ADD, a.shape)


def test_the_plan_merges_axes_that_broadcast_alike():
    shape, (sa, sb) = K.broadcast_plan((8, 4, 4, 16), (8, 4, 4, 16), (8, 1, 1, 16))
    assert shape == (1, 1, 1, 8, 16, 16)
    assert sa == (0, 0, 0, 256, 16, 1) and sb == (0, 0, 0, 16, 0, 1)
    assert K.broadcast_plan((5, 7), (5, 7), (5, 7))[0] == (1, 1, 1, 1, 1, 35)
    with pytest.raises(ValueError, match="at most 6"):
        K.broadcast_plan((2,) * 7, (2, 1) * 3 + (2,), (1, 2) * 3 + (1,))


@pytest.mark.parametrize("kind", [K.MERGE_MAXIMUM, K.MERGE_MINIMUM])
def test_winners_follow_tfs_tie_rule(kind):
    # TF's gradient of maximum(x, y) goes to x where x >= y: the earlier input wins a tie
    xs = [np.array([[1, 2, 3, 3, 0]], np.float32), np.array([[1, 1, 3, 4, 0]], np.float32),
          np.array([[1, 2, 3, 4, -0.0]], np.float32)]
    win = np.zeros((1, 5), np.int32)
    y = K.merge_pair(xs[0], xs[1], kind, (1, 5), winner=win, index=1)
    K.merge_pair(y, xs[2], kind, (1, 5), out=y, winner=win, index=2)
    np.testing.assert_array_equal(y, _NUMPY[kind](_NUMPY[kind](xs[0], xs[1]), xs[2]))
    expected = [[0, 0, 0, 1, 0]] if kind == K.MERGE_MAXIMUM else [[0, 1, 0, 0, 0]]
    np.testing.assert_array_equal(win, expected)
    g = _x((1, 5))
    for i in range(3):
        np.testing.assert_array_equal(K.merge_reduce(g, (1, 5), winner=win, index=i),
                                      np.where(win == i, g, 0))


def test_maximum_and_minimum_keep_nans():
    a = np.array([np.nan, 1, 2], np.float32)
    b = np.array([1, np.nan, 1], np.float32)
    for kind in (K.MERGE_MAXIMUM, K.MERGE_MINIMUM):
        y = K.merge_pair(a, b, kind, (3,))
        assert np.isnan(y[:2]).all() and not np.isnan(y[2])


@pytest.mark.parametrize("shapes", BROADCASTS)
def test_merge_reduce_sums_the_broadcast_axes(shapes):
    out = _out(*shapes)
    q = _x(out, np.float64)
    for shape in shapes:
        axes = tuple(i for i, (s, n) in enumerate(zip(shape, out)) if s == 1 and n != 1)
        expected = q.sum(axis=axes, keepdims=True).reshape(shape)
        np.testing.assert_allclose(K.merge_reduce(q, shape), expected, rtol=1e-12, atol=1e-12)
    assert K.merge_reduce(q, out) is q


def test_merge_reduce_selects_and_accumulates_in_float64():
    q = np.full((1, 3, 1000), 0.1, np.float32)
    dst = K.merge_reduce(q, (1, 1, 1))
    assert dst.dtype == np.float32 and dst[0, 0, 0] == np.float32(3000 * np.float64(np.float32(0.1)))
    win = np.random.default_rng(0).integers(0, 3, size=(2, 4, 5)).astype(np.int32)
    g = _x((2, 4, 5))
    for i in range(3):
        np.testing.assert_allclose(K.merge_reduce(g, (2, 1, 5), winner=win, index=i),
                                   np.where(win == i, g, 0).sum(axis=1, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_concat_forward_and_backward(axis):
    sizes = [1, 3, 2]
    xs = [_x(tuple(s if a == axis % 4 else n for a, n in enumerate((2, 3, 4, 2))), seed=i)
          for i, s in enumerate(sizes)]
    y = K.concat_forward(xs, axis)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=axis))
    parts = K.concat_backward(y, sizes, axis)
    for part, x in zip(parts, xs):
        assert part.flags.c_contiguous
        np.testing.assert_array_equal(part, x)


def test_concat_long_rows_split_into_blocks():
    xs = [_x((2, 5000)), _x((2, 7000), seed=1)]
    np.testing.assert_array_equal(K.concat_forward(xs, 1), np.concatenate(xs, axis=1))


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_batch_matmul(trans_a, trans_b):
    a, b = _x((3, 4, 5), np.float64), _x((3, 5, 2), np.float64, seed=1)
    aa = np.ascontiguousarray(a.transpose(0, 2, 1)) if trans_a else a
    bb = np.ascontiguousarray(b.transpose(0, 2, 1)) if trans_b else b
    np.testing.assert_allclose(K.batch_matmul(aa, bb, trans_a, trans_b), a @ b, rtol=1e-12)
    np.testing.assert_allclose(K.batch_matmul(a.astype(np.float32), b.astype(np.float32)), a @ b, rtol=1e-5)


def test_l2_normalize_forward_is_keras_formula_and_backward_its_derivative():
    x = _x((2, 4, 3), np.float64)
    x[1, :, 2] = 0.0  # a zero vector: the norm is clamped to epsilon, y = 0
    y, s = K.l2_normalize_forward(x, 1, 1e-7)
    with np.errstate(divide="ignore"):
        inv = np.minimum(1 / np.sqrt(np.sum(x * x, axis=1, keepdims=True)), 1e7)
    np.testing.assert_allclose(y, x * inv, rtol=1e-14)
    g = _x(y.shape, np.float64, seed=2)
    dx = K.l2_normalize_backward(g, y, s, 1, 1e-7)

    def loss():
        return float(np.sum(K.l2_normalize_forward(x, 1, 1e-7)[0] * g))

    expected = numeric_grad(loss, x)
    mask = np.ones(x.shape, bool)
    mask[1, :, 2] = False  # the clamp's gradient, g / eps, is too steep for finite differences at 0
    np.testing.assert_allclose(dx[mask], expected[mask], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dx[1, :, 2], g[1, :, 2] * 1e7)
