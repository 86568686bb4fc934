"""CUDA group/layer normalisation, PReLU, log-softmax, Gaussian noise and activity-regularization kernels
against their CPU twins (the public APIs are compared in the modules' own test files)."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import activations as CA
from numbacnn.kernels.cpu import dropout as CD
from numbacnn.kernels.cpu import normalization as CN
from numbacnn.kernels.cuda import activations as GA
from numbacnn.kernels.cuda import dropout as GD
from numbacnn.kernels.cuda import normalization as GN


def tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@pytest.mark.parametrize("shape", [(2, 3, 2, 2), (3, 1, 1, 5)])
@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_norm_equals_the_cpu(shape, rms, dtype, dev):
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, shape).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    c = shape[2] * shape[3]
    gamma, beta = rng.uniform(0.5, 1.5, c).astype(dtype), rng.normal(size=c).astype(dtype)
    y_c, mean_c, inv_c = CN.group_norm_forward(x, gamma, beta, 1e-3, rms)
    y, mean, inv = GN.group_norm_forward(*dev(x, gamma, beta), 1e-3, rms)
    np.testing.assert_allclose(y.copy_to_host(), y_c, **tol(dtype))
    np.testing.assert_allclose(inv.copy_to_host(), inv_c, rtol=1e-12)
    dx_c, dg_c, db_c = CN.group_norm_backward(x, g, gamma, mean_c, inv_c, rms)
    dx, dg, db = GN.group_norm_backward(*dev(x, g, gamma), mean, inv, rms)
    np.testing.assert_allclose(dx.copy_to_host(), dx_c, **tol(dtype))
    np.testing.assert_allclose(dg.copy_to_host(), dg_c, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db.copy_to_host(), db_c, rtol=1e-10, atol=1e-10)


def test_prelu_equals_the_cpu(dev):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, 4)).astype(np.float32)
    x[0, 0, 0] = 0.0
    g = rng.normal(size=x.shape).astype(np.float32)
    alpha = rng.normal(size=4).astype(np.float32)  # shared over axis 1
    aidx = np.tile(np.arange(4), 2).astype(np.int64)
    order = np.argsort(aidx, kind="stable").astype(np.int64)
    ptr = np.array([0, 2, 4, 6, 8], np.int64)
    np.testing.assert_array_equal(GA.prelu_forward(*dev(x, alpha, aidx)).copy_to_host(),
                                  CA.prelu_forward(x, alpha, aidx))
    dx_c, da_c = CA.prelu_backward(x, g, alpha, aidx, ptr, order)
    dx, da = GA.prelu_backward(*dev(x, g, alpha, aidx, ptr, order))
    np.testing.assert_array_equal(dx.copy_to_host(), dx_c)
    np.testing.assert_allclose(da.copy_to_host(), da_c, rtol=1e-12)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_log_softmax_equals_the_cpu(axis, dev):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 3, (3, 4, 5)).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    a_c = CA.log_softmax_forward(x, axis)
    np.testing.assert_allclose(GA.log_softmax_forward(dev(x), axis).copy_to_host(), a_c, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(GA.log_softmax_backward(*dev(g, a_c), axis).copy_to_host(),
                               CA.log_softmax_backward(g, a_c, axis), rtol=1e-6, atol=1e-6)


def test_noise_and_activity_regularization_equal_the_cpu(dev):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    z = rng.normal(size=x.shape).astype(np.float32)
    np.testing.assert_array_equal(GD.gaussian_noise_forward(*dev(x, z), 0.3).copy_to_host(),
                                  CD.gaussian_noise_forward(x, z, 0.3))
    y_c, m_c = CD.gaussian_dropout_forward(x, z, 0.5)
    y, m = GD.gaussian_dropout_forward(*dev(x, z), 0.5)
    np.testing.assert_array_equal(y.copy_to_host(), y_c)
    np.testing.assert_array_equal(m.copy_to_host(), m_c)
    np.testing.assert_allclose(GD.activity_regularization_backward(*dev(x, z), 0.1, 0.2, 4).copy_to_host(),
                               CD.activity_regularization_backward(x, z, 0.1, 0.2, 4), rtol=1e-6)
