"""PReLU, GaussianNoise, GaussianDropout, ActivityRegularization and the Lambda refusal: Keras 3 fixtures,
NumPy references, gradients, inference behaviour and seeds."""

import json
import os

import numpy as np
import pytest
from gradcheck import check_layer_gradients

import numbacnn
from numbacnn import layers

FIX = np.load(os.path.join(os.path.dirname(__file__), "..", "data", "keras_layers21.npz"))
CONFIGS = json.loads(str(FIX["configs"]))
PARAMS = json.loads(str(FIX["params"]))


def _check_config(case, layer):
    ours, theirs = layer.get_config(), CONFIGS[case]
    assert set(ours) == set(theirs), case
    for key in set(theirs) - {"name", "dtype", "seed"}:
        assert json.loads(json.dumps(ours[key])) == json.loads(json.dumps(theirs[key])), (case, key)
    assert layer.count_params() == PARAMS[case]


@pytest.mark.parametrize("case, make", [("prelu", lambda: layers.PReLU()),
                                        ("prelu_shared", lambda: layers.PReLU(shared_axes=[1, 2]))])
def test_prelu_matches_keras(case, make):
    x = FIX["xnorm"]
    layer = make()
    layer.maybe_build(x.shape)
    layer.set_weights([FIX[f"{case}/w0"]])
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, FIX[f"{case}/y"], rtol=1e-6, atol=1e-6)
    g = np.random.default_rng(99).normal(size=y.shape).astype(np.float32)
    layer.zero_grads()
    np.testing.assert_allclose(layer.backward(g), FIX[f"{case}/dx"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.alpha.grad, FIX[f"{case}/dw0"], rtol=1e-5, atol=1e-5)
    _check_config(case, layer)


@pytest.mark.parametrize("shared", [None, [1], [1, 2], 3])
def test_prelu_gradients(shared):
    numbacnn.backend.set_floatx("float64")
    layer = layers.PReLU(alpha_initializer="ones", shared_axes=shared)
    x = np.random.default_rng(1).normal(size=(3, 2, 4, 3))
    x[np.abs(x) < 0.05] = 0.3
    layer.maybe_build(x.shape)
    layer.set_weights([np.random.default_rng(2).uniform(-0.5, 0.5, layer.alpha.shape)])
    check_layer_gradients(layer, x)


def test_noise_layers_are_identity_at_inference_and_keras_configs():
    x = FIX["xnorm"]
    for case, make in [("gaussian_noise", lambda: layers.GaussianNoise(0.3, seed=1)),
                       ("gaussian_dropout", lambda: layers.GaussianDropout(0.4, seed=1)),
                       ("activity_regularization", lambda: layers.ActivityRegularization(l1=0.01, l2=0.02))]:
        layer = make()
        np.testing.assert_array_equal(layer(x), FIX[f"{case}/y"])
        _check_config(case, layer)


def test_gaussian_noise_and_dropout_statistics_and_seeds():
    x = np.full((200, 50), 2.0, np.float32)
    noisy = layers.GaussianNoise(0.3, seed=3)(x, training=True)
    assert abs(float((noisy - x).std()) - 0.3) < 0.01 and abs(float((noisy - x).mean())) < 0.01
    dropped = layers.GaussianDropout(0.4, seed=3)(x, training=True)
    assert abs(float((dropped / x).std()) - np.sqrt(0.4 / 0.6)) < 0.02
    np.testing.assert_array_equal(layers.GaussianNoise(0.3, seed=3)(x, training=True), noisy)
    numbacnn.utils.set_random_seed(7)
    a = layers.GaussianDropout(0.2)(x, training=True)
    numbacnn.utils.set_random_seed(7)
    np.testing.assert_array_equal(layers.GaussianDropout(0.2)(x, training=True), a)


@pytest.mark.parametrize("make", [lambda: layers.GaussianNoise(0.5), lambda: layers.GaussianDropout(0.3),
                                  lambda: layers.ActivityRegularization(l1=0.1, l2=0.3)])
def test_noise_and_regularization_gradients(make):
    numbacnn.backend.set_floatx("float64")
    x = np.random.default_rng(3).normal(size=(4, 5))
    x[np.abs(x) < 0.05] = 0.2
    layer = make()
    if isinstance(layer, layers.ActivityRegularization):
        # the layer's loss is (l1 sum|x| + l2 sum x^2) / batch: its gradient rides on the incoming one
        layer.maybe_build(x.shape)
        g = np.random.default_rng(4).normal(size=x.shape)
        layer.forward(x, training=True)
        dx = layer.backward(g)
        np.testing.assert_allclose(dx, g + (0.1 * np.sign(x) + 2 * 0.3 * x) / 4, rtol=1e-12)
        assert layer.losses == [pytest.approx((0.1 * np.abs(x).sum() + 0.3 * (x ** 2).sum()) / 4)]
    else:
        check_layer_gradients(layer, x)


def test_errors():
    with pytest.raises(ValueError, match="stddev"):
        layers.GaussianNoise(1.5)
    with pytest.raises(ValueError, match="rate"):
        layers.GaussianDropout(1.0)
    with pytest.raises(NotImplementedError, match='write a Layer subclass|Write a Layer subclass'):
        layers.Lambda(lambda t: t * 2)
    with pytest.raises(NotImplementedError, match='"Custom layers"'):
        layers.Lambda(np.square)
    regularized = layers.PReLU(alpha_regularizer="l2")
    regularized.maybe_build((None, 3))
    assert regularized.alpha.regularizer is not None
