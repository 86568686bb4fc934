"""CUDA activation kernels against their CPU twins on the same host data."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import activations as C
from numbacnn.kernels.cuda import activations as G

F32 = {"rtol": 1e-5, "atol": 1e-5}
F64 = {"rtol": 1e-12, "atol": 1e-12}

# (kind, p0, p1, p2): every ACT_* kind, ReLU with a slope, a cap and a threshold, GELU in both forms
CASES = [(C.ACT_LINEAR, 0.0, 0.0, 0.0), (C.ACT_RELU, 0.0, np.inf, 0.0), (C.ACT_RELU, 0.1, 6.0, 0.5),
         (C.ACT_SIGMOID, 0.0, 0.0, 0.0), (C.ACT_TANH, 0.0, 0.0, 0.0), (C.ACT_ELU, 1.3, 0.0, 0.0),
         (C.ACT_SELU, 0.0, 0.0, 0.0), (C.ACT_SOFTPLUS, 0.0, 0.0, 0.0), (C.ACT_SOFTSIGN, 0.0, 0.0, 0.0),
         (C.ACT_SILU, 0.0, 0.0, 0.0), (C.ACT_GELU, 1.0, 0.0, 0.0), (C.ACT_GELU, 0.0, 0.0, 0.0),
         (C.ACT_HARD_SIGMOID, 0.0, 0.0, 0.0), (C.ACT_HARD_SILU, 0.0, 0.0, 0.0),
         (C.ACT_EXPONENTIAL, 0.0, 0.0, 0.0), (C.ACT_MISH, 0.0, 0.0, 0.0)]


def data(shape, dtype, seed=0):
    """Values over the interesting range (the kinks at 0 and +-3 included), and one NaN."""
    x = np.random.default_rng(seed).normal(0.0, 3.0, shape)
    x.reshape(-1)[:5] = [0.0, 3.0, -3.0, 0.5, np.nan]
    return x.astype(dtype)


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"kind{c[0]}-p{c[1]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_forward_and_backward_equal_the_cpu(case, dtype, dev):
    x = data((3, 4, 5), dtype)
    g = np.random.default_rng(1).normal(size=x.shape).astype(dtype)
    y_cpu = C.activation_forward(x, *case)
    dz_cpu = C.activation_backward(g, x, y_cpu, *case)
    y = G.activation_forward(dev(x), *case).copy_to_host()
    dz = G.activation_backward(*dev(g, x, y_cpu), *case).copy_to_host()
    tol = F32 if dtype == np.float32 else F64
    assert y.dtype == dtype and dz.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, y_cpu, **tol)
    np.testing.assert_allclose(dz, dz_cpu, **tol)
    assert np.isnan(y.reshape(-1)[4])  # a NaN input shows


@pytest.mark.parametrize("shape, axis", [((2, 3, 4), -1), ((2, 3, 4), 1), ((2, 3, 4), 0), ((5,), 0),
                                         ((3, 1, 2), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_equals_the_cpu(shape, axis, dtype, dev):
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 4.0, shape).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    a_cpu = C.softmax_forward(x, axis)
    a = G.softmax_forward(dev(x), axis).copy_to_host()
    dz = G.softmax_backward(*dev(g, a_cpu), axis).copy_to_host()
    tol = F32 if dtype == np.float32 else F64
    assert a.dtype == dtype
    np.testing.assert_allclose(a, a_cpu, **tol)
    np.testing.assert_allclose(dz, C.softmax_backward(g, a_cpu, axis), **tol)
    np.testing.assert_allclose(a.sum(axis=axis), 1.0, rtol=1e-5)


def test_softmax_rejects_an_axis_out_of_range(dev):
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        G.softmax_forward(dev(np.zeros((2, 3), np.float32)), 2)
