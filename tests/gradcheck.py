"""Finite-difference gradient checks shared by the kernel and layer tests (float64)."""

import numpy as np

from numbacnn import backend


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar function f() w.r.t. every element of x (changed in place)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return grad


def check_layer_gradients(layer, x, training=True, seed=0, atol=1e-6, rtol=1e-5):
    """Compare layer.backward with finite differences for the input and every trainable weight.

    The scalar is sum(forward(x) * g) for a fixed random g. The global generator is reseeded before
    every forward so that random layers (Dropout) draw the same mask each time.
    """
    x = np.array(x, dtype=np.float64)
    layer.maybe_build(x.shape)
    gen = np.random.default_rng(1234)

    def run():
        backend.seed(seed)
        return layer.forward(x, training=training)

    y = run()
    g = gen.standard_normal(y.shape)
    layer.zero_grads()
    y = run()
    dx = layer.backward(g.copy())

    def loss():
        return float(np.sum(run() * g))

    np.testing.assert_allclose(dx, numeric_grad(loss, x), atol=atol, rtol=rtol,
                               err_msg=f"input gradient of {layer.name}")
    for w in layer.trainable_weights:
        analytic = w.grad.copy()
        np.testing.assert_allclose(analytic, numeric_grad(loss, w.value), atol=atol, rtol=rtol,
                                   err_msg=f"gradient of {w.path}")
    return dx
