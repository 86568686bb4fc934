"""BatchNormalization: weights, both modes, moving statistics, frozen behaviour, gradients, errors."""

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn.layers.normalization import BatchNormalization


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * 2 + 1


def test_params_and_weight_order():
    layer = BatchNormalization()
    layer.maybe_build((None, 28, 28, 64))
    assert layer.count_params() == 256
    assert sum(w.value.size for w in layer.non_trainable_weights) == 128
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    bare = BatchNormalization(center=False, scale=False)
    bare.maybe_build((None, 5))
    assert [w.name for w in bare.weights] == ["moving_mean", "moving_variance"]


def test_training_normalises_with_batch_statistics():
    x = _x((6, 3, 3, 4)).astype(np.float32)
    y = BatchNormalization()(x, training=True)
    assert y.dtype == np.float32
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)


def test_moving_statistics_follow_keras_formula_for_two_steps():
    layer = BatchNormalization(momentum=0.9, dtype="float64")
    x1, x2 = _x((5, 3), seed=1), _x((5, 3), seed=2) * 3
    mm, mv = np.zeros(3), np.ones(3)
    for x in (x1, x2):
        layer(x, training=True)
        mm = mm * 0.9 + x.mean(axis=0) * 0.1
        mv = mv * 0.9 + x.var(axis=0) * 0.1  # biased variance, as Keras 3
        np.testing.assert_allclose(layer.moving_mean.value, mm, rtol=1e-13)
        np.testing.assert_allclose(layer.moving_variance.value, mv, rtol=1e-13)


def test_inference_uses_moving_statistics_and_leaves_them():
    layer = BatchNormalization(dtype="float64", gamma_initializer="random_normal",
                               beta_initializer="random_normal")
    layer.maybe_build((None, 2, 3))
    layer.moving_mean.assign([0.5, -1.0, 2.0])
    layer.moving_variance.assign([4.0, 1.0, 0.25])
    x = _x((4, 2, 3))
    y = layer(x)
    g, b = layer.gamma.value, layer.beta.value
    np.testing.assert_allclose(y, g * (x - [0.5, -1.0, 2.0]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-3) + b,
                               rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.value, [0.5, -1.0, 2.0])


def test_frozen_layer_runs_in_inference_mode_even_when_training():
    layer = BatchNormalization(dtype="float64")
    layer.maybe_build((None, 3))
    layer.moving_mean.assign([1.0, 2.0, 3.0])
    layer.trainable = False
    x = _x((4, 3))
    np.testing.assert_allclose(layer(x, training=True), layer(x, training=False), rtol=1e-14)
    np.testing.assert_array_equal(layer.moving_mean.value, [1.0, 2.0, 3.0])
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


@pytest.mark.parametrize("axis,shape", [(-1, (4, 3)), (-1, (3, 2, 2, 3)), (1, (3, 2, 2, 2)), (2, (2, 3, 4))])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_gradients_training_mode(axis, shape, center, scale):
    layer = BatchNormalization(axis=axis, center=center, scale=scale, dtype="float64",
                               gamma_initializer="random_uniform", beta_initializer="random_normal")
    check_layer_gradients(layer, _x(shape))


@pytest.mark.parametrize("axis,shape", [(-1, (4, 3)), (-1, (3, 2, 2, 3)), (1, (3, 2, 2, 2))])
def test_gradients_inference_mode(axis, shape):
    layer = BatchNormalization(axis=axis, dtype="float64", gamma_initializer="random_uniform")
    layer.maybe_build(shape)
    channels = shape[axis]
    layer.moving_mean.assign(np.linspace(-1, 1, channels))
    layer.moving_variance.assign(np.linspace(0.5, 2, channels))
    layer.trainable = False
    check_layer_gradients(layer, _x(shape))
    assert not layer.gamma.grad.any()  # frozen: no weight gradients
    np.testing.assert_allclose(layer.moving_mean.value, np.linspace(-1, 1, channels))


def test_float32_training_step_matches_float64():
    x = _x((8, 3, 3, 5))
    g = np.random.default_rng(9).standard_normal(x.shape)
    results = []
    for dtype in ("float32", "float64"):
        layer = BatchNormalization(dtype=dtype)
        y = layer(x.astype(dtype), training=True)
        dx = layer.backward(g.astype(dtype))
        assert y.dtype == dx.dtype == layer.gamma.grad.dtype == np.dtype(dtype)
        results.append((y, dx, layer.gamma.grad, layer.beta.grad, layer.moving_variance.value))
    for lo, hi in zip(*results):
        np.testing.assert_allclose(lo, hi, rtol=1e-4, atol=1e-4)


def test_errors():
    with pytest.raises(ValueError, match=r'Layer "bn" \(BatchNormalization\): axis 0 is not a feature '
                                         r"axis of input shape \(None, 4\)"):
        BatchNormalization(axis=0, name="bn").compute_output_shape((None, 4))
    with pytest.raises(ValueError, match=r"axis 3 is not a feature axis of input shape \(None, 4\)"):
        BatchNormalization(axis=3).compute_output_shape((None, 4))
    layer = BatchNormalization()
    layer(np.zeros((2, 3, 3, 4), np.float32))
    layer(np.zeros((2, 5, 5, 4), np.float32))  # other axes may change, like Keras
    with pytest.raises(ValueError, match=r"expected input shape \(2, 5, 5, 4\), received \(2, 5, 5, 3\)"):
        layer(np.zeros((2, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected input shape \(None, 3, 3, 4\), received \(2, 4\)"):
        layer(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="synchronized=True"):
        BatchNormalization(synchronized=True)
    regularized = BatchNormalization(gamma_regularizer="l2")  # numbacnn.regularizers, on the weight
    regularized.maybe_build((None, 3))
    assert regularized.gamma.regularizer is not None and regularized.beta.regularizer is None


def test_config_round_trip():
    layer = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False, name="bn")
    config = layer.get_config()
    assert (config["axis"], config["momentum"], config["epsilon"], config["center"], config["scale"]) == \
        (1, 0.9, 1e-5, False, True)
    assert config["moving_variance_initializer"]["class_name"] == "Ones"
    assert config["synchronized"] is False
    assert BatchNormalization.from_config(config).get_config() == config


# ----- LayerNormalization and GroupNormalization -------------------------------------------------------
import json  # noqa: E402
import os  # noqa: E402

import numbacnn  # noqa: E402
from numbacnn import layers  # noqa: E402

FIX = np.load(os.path.join(os.path.dirname(__file__), "..", "data", "keras_layers21.npz"))
FIX_CONFIGS = json.loads(str(FIX["configs"]))
FIX_PARAMS = json.loads(str(FIX["params"]))

NORM_CASES = {
    "layer_norm": lambda: layers.LayerNormalization(),
    "layer_norm_axes": lambda: layers.LayerNormalization(axis=[1, 3], epsilon=1e-5),
    "layer_norm_plain": lambda: layers.LayerNormalization(center=False, scale=False),
    "layer_norm_rms": lambda: layers.LayerNormalization(rms_scaling=True),
    "group_norm": lambda: layers.GroupNormalization(groups=3),
    "group_norm_instance": lambda: layers.GroupNormalization(groups=-1, epsilon=1e-4),
    "group_norm_axis1": lambda: layers.GroupNormalization(groups=2, axis=1),
}


def _np_group_norm(x, groups, axis, gamma, beta, eps):
    """Keras's GroupNormalization formula, in float64."""
    x = np.moveaxis(x, axis, -1)
    n, c = x.shape[0], x.shape[-1]
    xg = x.reshape(n, -1, groups, c // groups)
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = xg.var(axis=(1, 3), keepdims=True)
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape) * gamma + beta
    return np.moveaxis(y, -1, axis)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
def test_layer_and_group_norm_match_keras():
    """Forward, input and weight gradients of sum(y * g) against Keras 3 (TensorFlow backend)."""
    x = FIX["xnorm"]
    for case, make in NORM_CASES.items():
        layer = make()
        layer.maybe_build(x.shape)
        layer.set_weights([FIX[f"{case}/w{i}"] for i in range(len(layer.weights))])
        y = layer.forward(x, training=True)
        np.testing.assert_allclose(y, FIX[f"{case}/y"], rtol=1e-5, atol=2e-5, err_msg=case)
        g = np.random.default_rng(99).normal(size=y.shape).astype(np.float32)
        layer.zero_grads()
        np.testing.assert_allclose(layer.backward(g), FIX[f"{case}/dx"], rtol=1e-4, atol=2e-5, err_msg=case)
        for i, w in enumerate(layer.trainable_weights):
            np.testing.assert_allclose(w.grad, FIX[f"{case}/dw{i}"], rtol=1e-4, atol=1e-4, err_msg=case)
        assert layer.count_params() == FIX_PARAMS[case]
        ours, theirs = layer.get_config(), FIX_CONFIGS[case]
        assert set(ours) == set(theirs), case
        for key in set(theirs) - {"name", "dtype"}:
            assert json.loads(json.dumps(ours[key])) == json.loads(json.dumps(theirs[key])), (case, key)


@pytest.mark.parametrize("groups, axis, shape", [(2, -1, (3, 4, 6)), (1, -1, (2, 5)), (3, 1, (2, 6, 2, 2)),
                                                 (-1, -1, (2, 3, 3, 4))])
def test_group_norm_against_numpy(groups, axis, shape):
    x = _x(shape, seed=3)
    layer = layers.GroupNormalization(groups=groups, axis=axis, dtype="float64")
    layer.maybe_build(x.shape)
    c = x.shape[axis]
    gamma, beta = np.linspace(0.5, 1.5, c), np.linspace(-1, 1, c)
    layer.set_weights([gamma, beta])
    bshape = [1] * x.ndim
    bshape[axis] = c
    ref = _np_group_norm(x, c if groups == -1 else groups, axis, np.moveaxis(gamma.reshape(bshape), axis, -1),
                         np.moveaxis(beta.reshape(bshape), axis, -1), 1e-3)
    np.testing.assert_allclose(layer(x), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("make", [
    lambda: layers.LayerNormalization(),
    lambda: layers.LayerNormalization(axis=[1, 2]),
    lambda: layers.LayerNormalization(axis=1, center=False),
    lambda: layers.LayerNormalization(rms_scaling=True),
    lambda: layers.GroupNormalization(groups=2),
    lambda: layers.GroupNormalization(groups=3, axis=1, scale=False),
], ids=["last", "axes", "axis1_no_center", "rms", "groups", "groups_axis1"])
@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
def test_layer_and_group_norm_gradients(make):
    numbacnn.backend.set_floatx("float64")
    layer = make()
    x = _x((2, 3, 2, 4), seed=4)
    layer.maybe_build(x.shape)
    rng = np.random.default_rng(5)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.weights])
    check_layer_gradients(layer, x)


def test_layer_and_group_norm_errors_and_weights():
    with pytest.warns(UserWarning, match="rms_scaling=True`, which is deprecated"):
        layers.LayerNormalization(rms_scaling=True)
    layer = layers.LayerNormalization(axis=[1, 3])
    layer.maybe_build((None, 4, 5, 6))
    assert [w.shape for w in layer.weights] == [(4, 6), (4, 6)] and layer.axis == [1, 3]
    with pytest.raises(ValueError, match="must be a multiple of the number of channels"):
        layers.GroupNormalization(groups=4).maybe_build((None, 6))
    with pytest.raises(ValueError, match="cannot be more than the number of channels"):
        layers.GroupNormalization(groups=8).maybe_build((None, 6))
    with pytest.raises(ValueError, match="invalid value for argument `groups`"):
        layers.GroupNormalization(groups=0)
    with pytest.raises(ValueError, match=r"axis 3 is out of bounds"):
        layers.LayerNormalization(axis=3).maybe_build((None, 4, 5))
    regularized = layers.LayerNormalization(gamma_regularizer="l2", beta_constraint="non_neg")
    regularized.maybe_build((None, 3))
    assert regularized.gamma.regularizer is not None and regularized.beta.constraint is not None
