"""numbacnn/kernels/cpu/normalization.py against NumPy references and finite differences."""

import numpy as np
import pytest
from gradcheck import numeric_grad

from numbacnn.kernels import cpu as K

EPS = 1e-3
SHAPES = [(1, 1), (5, 3), (64, 2), (130, 4), (200, 7)]  # (M, C); M > 64 puts several rows in a block


def _np_moments(x):
    """Per-channel mean and biased variance of x (M,C), from explicit loops."""
    m, c = x.shape
    mean = np.array([sum(x[i, k] for i in range(m)) / m for k in range(c)])
    var = np.array([sum((x[i, k] - mean[k]) ** 2 for i in range(m)) / m for k in range(c)])
    return mean, var


def _np_normalize(x, gamma, beta, mean, var):
    return gamma * (x - mean) / np.sqrt(var + EPS) + beta


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    return x, gamma, beta


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_train(shape, dtype):
    x, gamma, beta = _inputs(shape, dtype)
    y, mean, var, inv_std = K.batchnorm_forward_train(x, gamma, beta, EPS)
    x64 = x.astype(np.float64)
    ref_mean, ref_var = _np_moments(x64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(ref_var + EPS), rtol=1e-10)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, _np_normalize(x64, gamma.astype(np.float64), beta.astype(np.float64),
                                                ref_mean, ref_var), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_train_matches_finite_differences(shape):
    x, gamma, beta = _inputs(shape, np.float64, seed=1)
    g = np.random.default_rng(2).standard_normal(shape)
    _, mean, _, inv_std = K.batchnorm_forward_train(x, gamma, beta, EPS)
    dx, dgamma, dbeta = K.batchnorm_backward_train(x, g, mean, inv_std, gamma)

    def loss():
        m, v = x.mean(axis=0), x.var(axis=0)
        return float(np.sum(_np_normalize(x, gamma, beta, m, v) * g))

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dgamma, numeric_grad(loss, gamma), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dbeta, numeric_grad(loss, beta), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_infer(shape, dtype):
    x, gamma, beta = _inputs(shape, dtype, seed=3)
    rng = np.random.default_rng(4)
    mm = rng.standard_normal(shape[-1]).astype(dtype)
    mv = rng.uniform(0.5, 2.0, shape[-1]).astype(dtype)
    y = K.batchnorm_forward_infer(x, gamma, beta, mm, mv, EPS)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    f64 = [a.astype(np.float64) for a in (x, gamma, beta, mm, mv)]
    np.testing.assert_allclose(y, _np_normalize(*f64), rtol=tol, atol=tol)

    g = rng.standard_normal(shape).astype(dtype)
    dx, dgamma, dbeta = K.batchnorm_backward_infer(x, g, mm, mv, gamma, EPS)
    x64, gamma64, _, mm64, mv64 = f64
    inv = 1 / np.sqrt(mv64 + EPS)
    np.testing.assert_allclose(dx, g * gamma64 * inv, rtol=tol, atol=tol)
    np.testing.assert_allclose(dgamma, (g * (x64 - mm64) * inv).sum(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dbeta, g.astype(np.float64).sum(axis=0), rtol=1e-6, atol=1e-6)
    dx_only, none_g, none_b = K.batchnorm_backward_infer(x, g, mm, mv, gamma, EPS, weight_grads=False)
    np.testing.assert_array_equal(dx_only, dx)
    assert none_g is None and none_b is None


def test_float32_statistics_are_accurate_for_offset_data():
    """Float64 accumulation and the two-pass variance keep a large mean from swamping the variance."""
    rng = np.random.default_rng(5)
    x = (1000.0 + rng.standard_normal((4000, 2)) * 0.01).astype(np.float32)
    _, mean, var, _ = K.batchnorm_forward_train(x, np.ones(2, np.float32), np.zeros(2, np.float32), EPS)
    ref_mean, ref_var = _np_moments(x.astype(np.float64))
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-9)
