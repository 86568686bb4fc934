"""CUDA optimizer updates against their CPU twins: two in-place steps on the same weights and slots."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import optimizers as C
from numbacnn.kernels.cuda import optimizers as G

SHAPE = (3, 5)  # the CUDA wrappers take whole weights; the CPU kernels their flat views


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


def arrays(count, dtype, seed=0):
    """``count`` arrays: weights, gradient, then slots in [0.25, 0.5), so that centered RMSprop's
    velocity - average_grad^2 stays positive as in training."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=SHAPE).astype(dtype) if i < 2 else rng.uniform(0.25, 0.5, SHAPE).astype(dtype)
            for i in range(count)]


def run_both(name, count, scalars, dtype, dev, unused=()):
    """Two steps of the CPU and of the CUDA kernel ``name``; every array, updated in place, must agree.

    ``unused`` positions get an empty host array, as the optimizer passes for slots it does not have.
    """
    host = arrays(count, dtype)
    device = [dev(a) for a in host]
    t = np.dtype(dtype).type
    scalars = tuple(t(s) if isinstance(s, float) else s for s in scalars)
    for step in range(2):
        grad = np.random.default_rng(step + 1).normal(size=SHAPE).astype(dtype)
        host[1], device[1] = grad, dev(grad)
        flat = [np.empty(0, dtype) if i in unused else a.reshape(-1) for i, a in enumerate(host)]
        on_device = [np.empty(0, dtype) if i in unused else a for i, a in enumerate(device)]
        assert getattr(C, name)(*flat, *scalars) is None
        assert getattr(G, name)(*on_device, *scalars) is None
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    for i, (h, d) in enumerate(zip(host, device)):
        if i != 1 and i not in unused:
            np.testing.assert_allclose(d.copy_to_host(), h, **tol, err_msg=f"array {i}")


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd(dtype, dev):
    run_both("sgd_update", 2, (0.1,), dtype, dev)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_momentum(nesterov, dtype, dev):
    run_both("sgd_momentum_update", 3, (0.1, 0.9, nesterov), dtype, dev)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam(dtype, dev):
    run_both("adam_update", 4, (0.01, 0.1, 0.001, 1e-7), dtype, dev)


@pytest.mark.parametrize("dtype", DTYPES)
def test_amsgrad(dtype, dev):
    run_both("amsgrad_update", 5, (0.01, 0.1, 0.001, 1e-7), dtype, dev)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("use_momentum", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop(centered, use_momentum, dtype, dev):
    unused = {3} if not use_momentum else set()
    unused |= {4} if not centered else set()
    run_both("rmsprop_update", 5, (0.01, 0.9, 0.1, 0.5, 1e-7, centered, use_momentum), dtype, dev, unused)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adagrad(dtype, dev):
    run_both("adagrad_update", 3, (0.1, 1e-7), dtype, dev)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nadam(dtype, dev):
    run_both("nadam_update", 4, (0.1, 0.001, 0.45, 0.6, 0.55, 0.5, 0.002, 0.01, 1e-7), dtype, dev)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamax(dtype, dev):
    run_both("adamax_update", 4, (0.01, 0.1, 0.999, 0.1, 1e-7), dtype, dev)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lion(dtype, dev):
    run_both("lion_update", 3, (0.01, 0.9, 0.1, 0.99, 0.01), dtype, dev)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ema(dtype, dev):
    run_both("ema_update", 2, (0.9, 0.1), dtype, dev)


def test_accumulated_mean(dev):
    g, acc = arrays(2, np.float32)
    expected = C.accumulated_mean(g.reshape(-1), acc.reshape(-1), np.float32(3))
    np.testing.assert_array_equal(expected, (g.reshape(-1) + acc.reshape(-1)) / np.float32(3))
    got = G.accumulated_mean(*dev(g.reshape(-1), acc.reshape(-1)), np.float32(3))
    np.testing.assert_allclose(got.copy_to_host(), expected, rtol=1e-7)
