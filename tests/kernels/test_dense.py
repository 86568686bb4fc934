"""numbacnn/kernels/cpu/dense.py against pure-NumPy loops."""

import numpy as np
import pytest

from numbacnn.kernels import cpu as K


def _np_dense(x, w, b):
    m, u = x.shape[0], w.shape[1]
    y = np.zeros((m, u))
    for i in range(m):
        for j in range(u):
            y[i, j] = sum(x[i, k] * w[k, j] for k in range(x.shape[1])) + (0.0 if b is None else b[j])
    return y


@pytest.mark.parametrize("m,n_in,units", [(1, 1, 1), (3, 4, 5), (7, 2, 130)])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_forward_and_backward(m, n_in, units, use_bias, dtype):
    rng = np.random.default_rng(m * 100 + units)
    x = rng.standard_normal((m, n_in)).astype(dtype)
    w = rng.standard_normal((n_in, units)).astype(dtype)
    b = rng.standard_normal(units).astype(dtype) if use_bias else None
    y = K.dense_forward(x, w, b)
    assert y.shape == (m, units) and y.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, _np_dense(x, w, b), rtol=tol, atol=tol)

    g = rng.standard_normal((m, units)).astype(dtype)
    dw0 = rng.standard_normal((n_in, units)).astype(dtype)
    db0 = rng.standard_normal(units).astype(dtype)
    dw, db = dw0.copy(), db0.copy() if use_bias else None
    dx = K.dense_backward(x, w, g, dw, db)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, _np_dense(g, w.T, None), rtol=tol, atol=tol)
    np.testing.assert_allclose(dw, dw0 + _np_dense(x.T, g, None), rtol=tol, atol=tol)  # accumulated
    if use_bias:
        np.testing.assert_allclose(db, db0 + g.astype(np.float64).sum(axis=0), rtol=tol, atol=tol)


def test_dense_backward_without_weight_gradients():
    rng = np.random.default_rng(0)
    x, w, g = rng.standard_normal((3, 2)), rng.standard_normal((2, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(K.dense_backward(x, w, g), g @ w.T, rtol=1e-13)


def test_dense_backward_accepts_non_contiguous_grad():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    g = rng.standard_normal((4, 3)).T
    db = np.zeros(4)
    K.dense_backward(x, w, g, None, db)
    np.testing.assert_allclose(db, g.sum(axis=0), rtol=1e-13)
