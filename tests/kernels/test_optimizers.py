"""Optimizer update kernels against NumPy transcriptions of Keras 3's update_step, several steps, in place."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import optimizers as K

DTYPES = [np.float32, np.float64]
P = 37
STEPS = 4


def tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-15}


def series(dtype, seed=0):
    """A starting weight vector and STEPS gradients."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=P).astype(dtype), [rng.normal(size=P).astype(dtype) for _ in range(STEPS)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update(dtype):
    w0, grads = series(dtype)
    w, ref = w0.copy(), w0.astype(np.float64)
    for g in grads:
        K.sgd_update(w, g, dtype(0.1))
        ref = ref - 0.1 * g
    np.testing.assert_allclose(w, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_update(dtype, nesterov):
    w0, grads = series(dtype, 1)
    w, m = w0.copy(), np.zeros(P, dtype)
    ref, ref_m = w0.astype(np.float64), np.zeros(P)
    lr, mom = 0.05, 0.9
    for g in grads:
        K.sgd_momentum_update(w, g, m, dtype(lr), dtype(mom), nesterov)
        ref_m = mom * ref_m - lr * g
        ref = ref + (mom * ref_m - lr * g if nesterov else ref_m)
    np.testing.assert_allclose(m, ref_m, **tol(dtype))
    np.testing.assert_allclose(w, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_update(dtype, amsgrad):
    w0, grads = series(dtype, 2)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v, vh = w0.copy(), np.zeros(P, dtype), np.zeros(P, dtype), np.zeros(P, dtype)
    ref, rm, rv, rvh = w0.astype(np.float64), np.zeros(P), np.zeros(P), np.zeros(P)
    for step, g in enumerate(grads, start=1):
        alpha = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        if amsgrad:
            K.amsgrad_update(w, g, m, v, vh, dtype(alpha), dtype(1 - b1), dtype(1 - b2), dtype(eps))
        else:
            K.adam_update(w, g, m, v, dtype(alpha), dtype(1 - b1), dtype(1 - b2), dtype(eps))
        rm = rm + (g - rm) * (1 - b1)
        rv = rv + (g * g - rv) * (1 - b2)
        rvh = np.maximum(rvh, rv)
        ref = ref - rm * alpha / (np.sqrt(rvh if amsgrad else rv) + eps)
    np.testing.assert_allclose(m, rm, **tol(dtype))
    np.testing.assert_allclose(v, rv, **tol(dtype))
    np.testing.assert_allclose(w, ref, **tol(dtype))
    if amsgrad:
        np.testing.assert_allclose(vh, rvh, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop_update(dtype, centered, momentum):
    w0, grads = series(dtype, 3)
    lr, rho, eps = 0.01, 0.9, 1e-7
    w, vel = w0.copy(), np.zeros(P, dtype)
    mom = np.zeros(P if momentum else 0, dtype)
    avg = np.zeros(P if centered else 0, dtype)
    ref, rvel, rmom, ravg = w0.astype(np.float64), np.zeros(P), np.zeros(P), np.zeros(P)
    for g in grads:
        K.rmsprop_update(w, g, vel, mom, avg, dtype(lr), dtype(rho), dtype(1 - rho), dtype(momentum),
                         dtype(eps), centered, momentum > 0)
        rvel = rho * rvel + (1 - rho) * g * g
        if centered:
            ravg = rho * ravg + (1 - rho) * g
            denominator = rvel - ravg**2 + eps
        else:
            denominator = rvel + eps
        increment = lr * g / np.sqrt(denominator)
        if momentum:
            rmom = momentum * rmom + increment
            ref = ref - rmom
        else:
            ref = ref - increment
    np.testing.assert_allclose(vel, rvel, **tol(dtype))
    np.testing.assert_allclose(w, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adagrad_update(dtype):
    w0, grads = series(dtype, 4)
    lr, eps = 0.1, 1e-7
    w, acc = w0.copy(), np.full(P, 0.1, dtype)
    ref, racc = w0.astype(np.float64), np.full(P, 0.1)
    for g in grads:
        K.adagrad_update(w, g, acc, dtype(lr), dtype(eps))
        racc = racc + g * g
        ref = ref - lr * g / np.sqrt(racc + eps)
    np.testing.assert_allclose(acc, racc, **tol(dtype))
    np.testing.assert_allclose(w, ref, **tol(dtype))


def test_updates_are_in_place_on_views():
    w = np.ones((3, 4))
    flat = w.reshape(-1)
    K.sgd_update(flat, np.ones(12), 0.5)
    np.testing.assert_array_equal(w, np.full((3, 4), 0.5))
