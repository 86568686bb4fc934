"""CUDA batch-normalisation kernels against their CPU twins."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import normalization as C
from numbacnn.kernels.cuda import normalization as G

EPS = 1e-3


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


def tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def inputs(m, c, dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (m, c)).astype(dtype)
    g = rng.normal(size=(m, c)).astype(dtype)
    gamma, beta = rng.uniform(0.5, 1.5, c).astype(dtype), rng.normal(size=c).astype(dtype)
    moving_mean, moving_var = rng.normal(size=c).astype(dtype), rng.uniform(0.5, 2.0, c).astype(dtype)
    return x, g, gamma, beta, moving_mean, moving_var


def close(device_arrays, host_arrays, dtype):
    for a, b in zip(device_arrays, host_arrays):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a.copy_to_host(), b, **tol(dtype))


# blocks: the reductions' row blocks; 3 makes blocks of several rows (and remainders) on tiny shapes
@pytest.mark.parametrize("m, c, blocks", [(1, 3, 512), (7, 4, 512), (13, 2, 3), (9, 5, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_mode_equals_the_cpu(m, c, blocks, dtype, dev, monkeypatch):
    monkeypatch.setattr(G, "_BLOCKS", blocks)
    x, g, gamma, beta, _, _ = inputs(m, c, dtype)
    y, mean, var, inv_std = C.batchnorm_forward_train(x, gamma, beta, EPS)
    close(G.batchnorm_forward_train(*dev(x, gamma, beta), EPS), (y, mean, var, inv_std), dtype)
    close(G.batchnorm_backward_train(*dev(x, g, mean, inv_std, gamma)),
          C.batchnorm_backward_train(x, g, mean, inv_std, gamma), dtype)


@pytest.mark.parametrize("m, c, blocks", [(1, 3, 512), (7, 4, 512), (13, 2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inference_mode_equals_the_cpu(m, c, blocks, dtype, dev, monkeypatch):
    monkeypatch.setattr(G, "_BLOCKS", blocks)
    x, g, gamma, beta, moving_mean, moving_var = inputs(m, c, dtype)
    close([G.batchnorm_forward_infer(*dev(x, gamma, beta, moving_mean, moving_var), EPS)],
          [C.batchnorm_forward_infer(x, gamma, beta, moving_mean, moving_var, EPS)], dtype)
    close(G.batchnorm_backward_infer(*dev(x, g, moving_mean, moving_var, gamma), EPS),
          C.batchnorm_backward_infer(x, g, moving_mean, moving_var, gamma, EPS), dtype)
    close(G.batchnorm_infer_affine(*dev(gamma, beta, moving_mean, moving_var), EPS, dtype),
          C.batchnorm_infer_affine(gamma, beta, moving_mean, moving_var, EPS, dtype), dtype)


def test_a_frozen_layer_gets_no_weight_gradients(dev):
    x, g, gamma, _, moving_mean, moving_var = inputs(5, 3, np.float32)
    dx, dgamma, dbeta = G.batchnorm_backward_infer(*dev(x, g, moving_mean, moving_var, gamma), EPS,
                                                   weight_grads=False)
    assert dgamma is None and dbeta is None
    close([dx], C.batchnorm_backward_infer(x, g, moving_mean, moving_var, gamma, EPS, weight_grads=False)[:1],
          np.float32)


def test_a_constant_channel_has_zero_variance_not_a_negative_one(dev):
    x = np.full((6, 2), 0.1, np.float32)
    x[:, 1] = np.arange(6)
    ones, zeros = np.ones(2, np.float32), np.zeros(2, np.float32)
    var = G.batchnorm_forward_train(*dev(x, ones, zeros), EPS)[2].copy_to_host()
    assert var[0] == 0.0 and var[1] > 0.0
    np.testing.assert_allclose(var, C.batchnorm_forward_train(x, ones, zeros, EPS)[2], rtol=1e-12)
