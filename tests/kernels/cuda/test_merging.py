"""CUDA merge kernels against their CPU twins (tiny shapes: the simulator runs a thread per element)."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import merging as C
from numbacnn.kernels.cuda import merging as G


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


def _x(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 3, 4)), ((2, 3, 2, 4), (2, 1, 1, 4)),
                                    ((2, 1, 4), (1, 3, 1))])
@pytest.mark.parametrize("kind", [C.MERGE_ADD, C.MERGE_SUBTRACT, C.MERGE_MULTIPLY, C.MERGE_MAXIMUM,
                                  C.MERGE_MINIMUM, C.MERGE_DIVIDE])
def test_merge_pair_equals_the_cpu(shapes, kind, dev):
    a, b = _x(shapes[0]), _x(shapes[1], seed=1)
    out = tuple(max(m, n) for m, n in zip(*shapes))
    np.testing.assert_array_equal(G.merge_pair(*dev(a, b), kind, out).copy_to_host(),
                                  C.merge_pair(a, b, kind, out))


@pytest.mark.parametrize("kind", [C.MERGE_MAXIMUM, C.MERGE_MINIMUM])
def test_winners_and_selected_reduce_equal_the_cpu(kind, dev):
    xs = [np.round(_x((2, 3, 4), seed=i)) for i in range(3)]  # rounded: ties included
    out = (2, 3, 4)
    win_c = np.zeros(out, np.int32)
    y_c = C.merge_pair(xs[0], xs[1], kind, out, winner=win_c, index=1)
    C.merge_pair(y_c, xs[2], kind, out, out=y_c, winner=win_c, index=2)
    win_g = dev(np.zeros(out, np.int32))
    y_g = G.merge_pair(*dev(xs[0], xs[1]), kind, out, winner=win_g, index=1)
    G.merge_pair(y_g, dev(xs[2]), kind, out, out=y_g, winner=win_g, index=2)
    np.testing.assert_array_equal(y_g.copy_to_host(), y_c)
    np.testing.assert_array_equal(win_g.copy_to_host(), win_c)
    g = _x(out, seed=5)
    for i in range(3):
        np.testing.assert_array_equal(G.merge_reduce(dev(g), (2, 1, 4), winner=win_g, index=i).copy_to_host(),
                                      C.merge_reduce(g, (2, 1, 4), winner=win_c, index=i))


def test_merge_pair_takes_a_scalar_and_writes_in_place(dev):
    a = _x((2, 3))
    y = dev(a)
    G.merge_pair(y, 3, C.MERGE_DIVIDE, (2, 3), out=y)
    np.testing.assert_array_equal(y.copy_to_host(), C.merge_pair(a, 3, C.MERGE_DIVIDE, (2, 3)))


@pytest.mark.parametrize("shape", [(2, 1, 4), (1, 3, 1), (2, 3, 4)])
def test_merge_reduce_equals_the_cpu(shape, dev):
    q = _x((2, 3, 4), np.float64)
    got = G.merge_reduce(dev(q), shape)
    np.testing.assert_allclose(got if isinstance(got, np.ndarray) else got.copy_to_host(),
                               C.merge_reduce(q, shape), rtol=1e-14)


@pytest.mark.parametrize("axis", [1, -1])
def test_concat_equals_the_cpu(axis, dev):
    sizes = [1, 2]
    xs = [_x(tuple(s if a == axis % 3 else n for a, n in enumerate((2, 3, 2))), seed=i)
          for i, s in enumerate(sizes)]
    y = G.concat_forward([dev(x) for x in xs], axis)
    np.testing.assert_array_equal(y.copy_to_host(), C.concat_forward(xs, axis))
    for part, x in zip(G.concat_backward(y, sizes, axis), xs):
        np.testing.assert_array_equal(part.copy_to_host(), x)


@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True)])
def test_batch_matmul_equals_the_cpu(trans_a, trans_b, dev):
    a = _x((2, 4, 3) if trans_a else (2, 3, 4), np.float64)
    b = _x((2, 2, 4) if trans_b else (2, 4, 2), np.float64, seed=1)
    np.testing.assert_allclose(G.batch_matmul(*dev(a, b), trans_a, trans_b).copy_to_host(),
                               C.batch_matmul(a, b, trans_a, trans_b), rtol=1e-13)


def test_l2_normalize_equals_the_cpu(dev):
    x = _x((2, 3, 2), np.float64)
    x[0, :, 1] = 0.0
    y_c, s_c = C.l2_normalize_forward(x, 1, 1e-7)
    y_g, s_g = G.l2_normalize_forward(dev(x), 1, 1e-7)
    np.testing.assert_allclose(y_g.copy_to_host(), y_c, rtol=1e-14)
    np.testing.assert_allclose(s_g.copy_to_host(), s_c, rtol=1e-14)
    g = _x(x.shape, np.float64, seed=3)
    np.testing.assert_allclose(G.l2_normalize_backward(dev(g), y_g, s_g, 1, 1e-7).copy_to_host(),
                               C.l2_normalize_backward(g, y_c, s_c, 1, 1e-7), rtol=1e-13)
