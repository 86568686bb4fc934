"""numbacnn/kernels/cpu/activations.py against pure-NumPy references."""

import math

import numpy as np
import pytest
from scipy.special import erf

from numbacnn.kernels import cpu as K

SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(x, 0.0)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


# name: (kind, params, reference f, reference f')
CASES = {
    "linear": (K.ACT_LINEAR, (), lambda x: x, lambda x: np.ones_like(x)),
    "relu": (K.ACT_RELU, (0.0, np.inf, 0.0), lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "leaky": (K.ACT_RELU, (0.2, np.inf, 0.0), lambda x: np.where(x >= 0, x, 0.2 * x),
              lambda x: np.where(x > 0, 1.0, 0.2)),
    "relu_capped_thresholded": (
        K.ACT_RELU, (0.5, 2.0, 0.5),
        lambda x: np.where(x > 0.5, np.minimum(x, 2.0), 0.5 * (x - 0.5)),
        lambda x: np.where(x > 0.5, (x < 2.0) * 1.0, 0.5)),
    "sigmoid": (K.ACT_SIGMOID, (), _sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x))),
    "tanh": (K.ACT_TANH, (), np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "elu": (K.ACT_ELU, (0.7,), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1)),
            lambda x: np.where(x > 0, 1.0, 0.7 * np.exp(x))),
    "selu": (K.ACT_SELU, (), lambda x: SELU_S * np.where(x > 0, x, SELU_A * (np.exp(x) - 1)),
             lambda x: SELU_S * np.where(x > 0, 1.0, SELU_A * np.exp(x))),
    "softplus": (K.ACT_SOFTPLUS, (), _softplus, _sigmoid),
    "softsign": (K.ACT_SOFTSIGN, (), lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "silu": (K.ACT_SILU, (), lambda x: x * _sigmoid(x), None),
    "gelu": (K.ACT_GELU, (0.0,), lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))), None),
    "gelu_tanh": (K.ACT_GELU, (1.0,), _gelu_tanh, None),
    "hard_sigmoid": (K.ACT_HARD_SIGMOID, (), lambda x: np.clip(x + 3, 0, 6) / 6,
                     lambda x: ((x > -3) & (x < 3)) / 6.0),
    "hard_silu": (K.ACT_HARD_SILU, (), lambda x: x * np.clip(x + 3, 0, 6) / 6, None),
    "exponential": (K.ACT_EXPONENTIAL, (), np.exp, np.exp),
    "mish": (K.ACT_MISH, (), lambda x: x * np.tanh(_softplus(x)), None),
}


def _points(shape, dtype, seed=0):
    """Random values in [-5, 5], kept away from the kinks at -3, 0, 0.5, 2 and 3."""
    x = np.random.default_rng(seed).uniform(-5, 5, size=shape)
    for kink in (-3.0, 0.0, 0.5, 2.0, 3.0):
        near = np.abs(x - kink) < 1e-3
        x[near] += 2e-3
    return x.astype(dtype)


def _numeric_derivative(f, x, eps=1e-6):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_forward_and_backward(name, shape, dtype):
    kind, params, f, df = CASES[name]
    x = _points(shape, dtype)
    y = K.activation_forward(x, kind, *params)
    assert y.shape == x.shape and y.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, f(x64), rtol=tol, atol=tol)
    g = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    dz = K.activation_backward(g, x, y, kind, *params)
    assert dz.shape == x.shape and dz.dtype == dtype
    deriv = df(x64) if df is not None else _numeric_derivative(f, x64)
    tol = 1e-4 if dtype == np.float32 else (1e-12 if df is not None else 1e-7)
    np.testing.assert_allclose(dz, g * deriv, rtol=tol, atol=tol)


def test_relu_gives_positive_zero_and_keras_examples():
    x = np.array([-10, -5, 0.0, 5, 10])
    relu = K.activation_forward(x, K.ACT_RELU, 0.0, np.inf, 0.0)
    assert not np.signbit(relu).any()
    np.testing.assert_array_equal(K.activation_forward(x, K.ACT_RELU, 0.5, 10.0, 0.0), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(K.activation_forward(x, K.ACT_RELU, 0.0, 5.0, 0.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(K.activation_forward(x, K.ACT_RELU, 0.0, np.inf, 5.0), [0, 0, 0, 0, 10])


def test_stable_for_large_inputs():
    x = np.array([-1000.0, -50.0, 50.0, 1000.0])
    for kind in (K.ACT_SIGMOID, K.ACT_SOFTPLUS, K.ACT_SILU, K.ACT_MISH, K.ACT_ELU, K.ACT_TANH):
        assert np.isfinite(K.activation_forward(x, kind, 1.0)).all()
    np.testing.assert_allclose(K.activation_forward(x, K.ACT_SIGMOID), [0, 0, 1, 1], atol=1e-20)


@pytest.mark.parametrize("name", sorted(CASES))
def test_nan_propagates_through_every_kernel(name):
    kind, params, _, _ = CASES[name]
    assert np.isnan(K.activation_forward(np.array([np.nan, 1.0]), kind, *params)[0])


def test_non_contiguous_input():
    x = _points((6, 8), np.float64)[:, ::2]
    np.testing.assert_allclose(K.activation_forward(x, K.ACT_TANH), np.tanh(x), rtol=1e-14)


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_softmax_backward(g, x, axis):
    """Explicit Jacobian per softmax vector: J = diag(a) - a a^T, dz = J^T g."""
    a = np.moveaxis(_np_softmax(x, axis), axis, -1)
    gm = np.moveaxis(g, axis, -1)
    out = np.empty_like(a)
    for idx in np.ndindex(a.shape[:-1]):
        v = a[idx]
        out[idx] = (np.diag(v) - np.outer(v, v)).T @ gm[idx]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("shape,axis", [((4, 5), -1), ((1, 1), -1), ((2, 3, 4), 1), ((2, 3, 4), 0),
                                        ((3, 2, 2, 6), -1), ((5,), 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_forward_and_backward(shape, axis, dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    a = K.softmax_forward(x, axis)
    assert a.shape == x.shape and a.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(a, _np_softmax(x.astype(np.float64), axis), rtol=tol, atol=tol)
    np.testing.assert_allclose(a.sum(axis=axis), 1.0, rtol=tol)
    g = rng.standard_normal(shape).astype(dtype)
    dz = K.softmax_backward(g, a, axis)
    assert dz.dtype == dtype
    np.testing.assert_allclose(dz, _np_softmax_backward(g.astype(np.float64), x.astype(np.float64), axis),
                               rtol=10 * tol, atol=10 * tol)


def test_softmax_is_max_subtracted():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]])
    a = K.softmax_forward(x)
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a[0], _np_softmax(np.array([0.0, 1.0, 2.0]), -1), rtol=1e-14)
    np.testing.assert_allclose(a[1], 1 / 3, rtol=1e-14)


@pytest.mark.parametrize("name", ["relu", "elu", "leaky_relu", "sigmoid", "tanh", "softmax"])
def test_nan_propagates(name):
    from numbacnn import activations

    x = np.array([[1.0, np.nan, -1.0]], dtype=np.float32)
    out = activations.get(name).forward(x)
    assert np.isnan(out[0, 1])
