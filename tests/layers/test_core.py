"""Dense, the activation layers and Dropout: shapes, configs, errors and gradients."""

import warnings

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn import backend
from numbacnn.layers.activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from numbacnn.layers.core import Dense
from numbacnn.layers.regularization import Dropout, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----- Dense -------------------------------------------------------------------------------------------
def test_dense_params_shapes_and_weight_order():
    layer = Dense(10)
    layer.maybe_build((None, 1024))
    assert layer.count_params() == 10_250
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert layer.kernel.shape == (1024, 10) and layer.bias.shape == (10,)
    assert layer.compute_output_shape((None, 1024)) == (None, 10)
    no_bias = Dense(4, use_bias=False)
    no_bias.maybe_build((None, 3))
    assert no_bias.count_params() == 12


def test_dense_forward_matches_numpy_with_activation():
    layer = Dense(3, activation="relu", bias_initializer="ones")
    x = _x((4, 5)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, np.maximum(x @ layer.kernel.value + 1.0, 0), rtol=1e-6)


@pytest.mark.parametrize("activation", [None, "tanh", "softmax", "sigmoid"])
def test_dense_gradients(activation):
    check_layer_gradients(Dense(3, activation=activation, bias_initializer="random_normal", dtype="float64"),
                          _x((4, 5)))


def test_dense_gradients_rank3_input():
    layer = Dense(2, activation="elu", dtype="float64")
    dx = check_layer_gradients(layer, _x((2, 3, 4)))
    assert dx.shape == (2, 3, 4)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 2)
    x = _x((2, 3, 4))
    np.testing.assert_allclose(layer(x), layer(x.reshape(6, 4)).reshape(2, 3, 2), rtol=1e-12)


def test_dense_gradients_accumulate_and_frozen_layer_leaves_them():
    layer = Dense(2, dtype="float64")
    x, g = _x((3, 4)), _x((3, 2), seed=1)
    layer.maybe_build(x.shape)
    layer.forward(x, training=True)
    layer.backward(g)
    once = layer.kernel.grad.copy()
    layer.forward(x, training=True)
    layer.backward(g)
    np.testing.assert_allclose(layer.kernel.grad, 2 * once, rtol=1e-13)
    layer.zero_grads()
    layer.trainable = False
    layer.forward(x, training=True)
    dx = layer.backward(g)
    np.testing.assert_allclose(dx, g @ layer.kernel.value.T, rtol=1e-13)
    assert not layer.kernel.grad.any()


def test_dense_float32_backward_matches_float64():
    x, g = _x((4, 6)), _x((4, 3), seed=1)
    grads = []
    for dtype in ("float32", "float64"):
        layer = Dense(3, activation="sigmoid", dtype=dtype)
        backend.seed(0)
        layer.maybe_build(x.shape)
        layer.forward(x.astype(dtype), training=True)
        dx = layer.backward(g.astype(dtype))
        assert dx.dtype == layer.kernel.grad.dtype == np.dtype(dtype)
        grads.append((dx, layer.kernel.grad, layer.bias.grad))
    for lo, hi in zip(*grads):
        np.testing.assert_allclose(lo, hi, rtol=1e-4, atol=1e-5)


def test_dense_errors():
    layer = Dense(3)
    layer(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r'Layer "dense" \(Dense\) expected input shape \(\.\.\., 4\), '
                                         r"received \(2, 5\)"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected an input of rank >= 2.*received \(None,\)"):
        Dense(3).compute_output_shape((None,))
    with pytest.raises(ValueError, match="invalid value for `units`.*units=0"):
        Dense(0)
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: 'l3'"):
        Dense(3, kernel_regularizer="l3")  # regularizers are supported; a wrong name says which exist


def test_dense_config_round_trip():
    layer = Dense(7, activation="swish", use_bias=False, kernel_initializer="he_normal", name="fc")
    config = layer.get_config()
    assert config["units"] == 7 and config["activation"] == "silu" and config["use_bias"] is False
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    for key in ("kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint"):
        assert config[key] is None
    clone = Dense.from_config(config)
    assert clone.get_config() == config


# ----- activation layers --------------------------------------------------------------------------------
ACTIVATION_LAYERS = [
    lambda: Activation("relu", dtype="float64"),
    lambda: Activation("softplus", dtype="float64"),
    lambda: ReLU(dtype="float64"),
    lambda: ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2, dtype="float64"),
    lambda: LeakyReLU(dtype="float64"),
    lambda: ELU(alpha=0.5, dtype="float64"),
    lambda: Softmax(dtype="float64"),
    lambda: Softmax(axis=1, dtype="float64"),
]


@pytest.mark.parametrize("make", ACTIVATION_LAYERS)
def test_activation_layer_gradients(make):
    x = _x((3, 4, 2))
    x[np.abs(x) < 0.02] = 0.5
    x[np.abs(x - 0.2) < 0.02] = 0.5
    x[np.abs(x - 1.0) < 0.02] = 0.5
    layer = make()
    check_layer_gradients(layer, x)
    assert layer.count_params() == 0


def test_activation_layer_values():
    x = np.array([-10, -5, 0.0, 5, 10], np.float32)
    np.testing.assert_allclose(ReLU(max_value=10, negative_slope=0.5)(x), [-5, -2.5, 0, 5, 10])
    np.testing.assert_allclose(LeakyReLU()(x), [-3, -1.5, 0, 5, 10])
    np.testing.assert_allclose(LeakyReLU(negative_slope=0.5)(x), [-5, -2.5, 0, 5, 10])
    np.testing.assert_allclose(ELU()(np.array([-1.0, 2.0])), [np.exp(-1) - 1, 2.0], rtol=1e-6)
    np.testing.assert_allclose(Softmax()(np.array([[1.0, 2.0, 1.0]])), [[0.21194157, 0.5761169, 0.21194157]],
                               rtol=1e-6)
    np.testing.assert_allclose(Activation("tanh")(x[:2]), np.tanh(x[:2]), rtol=1e-6)


def test_leaky_relu_accepts_keras2_alpha():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1 and caught
    np.testing.assert_allclose(layer(np.array([-1.0])), [-0.1], rtol=1e-6)


def test_activation_layer_configs_and_errors():
    assert Activation("relu").get_config()["activation"] == "relu"
    config = ReLU(6.0).get_config()
    assert (config["max_value"], config["negative_slope"], config["threshold"]) == (6.0, 0.0, 0.0)
    assert LeakyReLU().get_config()["negative_slope"] == 0.3
    assert ELU().get_config()["alpha"] == 1.0
    assert Softmax(axis=[1]).get_config()["axis"] == 1
    assert Activation.from_config(Activation("gelu").get_config()).activation.name == "gelu"
    with pytest.raises(ValueError, match="max_value of a ReLU layer cannot be a negative value"):
        ReLU(max_value=-1)
    with pytest.raises(ValueError, match="negative_slope value of a Leaky ReLU layer"):
        LeakyReLU(-0.1)
    with pytest.raises(ValueError, match=r'Layer "softmax" \(Softmax\): axis 3 is out of range.*\(2, 4\)'):
        Softmax(axis=3)(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="Unknown activation function 'nope'"):
        Activation("nope")


# ----- Dropout -------------------------------------------------------------------------------------------
def test_dropout_identity_at_inference_and_scale_in_training():
    layer = Dropout(0.25)
    x = np.ones((400, 50), np.float32)
    assert layer(x) is x
    y = layer(x, training=True)
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1 / 0.75)
    assert abs(kept.size / y.size - 0.75) < 0.02
    g = _x(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(g), g * y, rtol=1e-6)  # x is 1: y is the mask


def test_dropout_gradients_with_the_reseeded_mask():
    dx = check_layer_gradients(Dropout(0.5, dtype="float64"), _x((4, 6)))
    assert (dx == 0).any() and (dx != 0).any()
    check_layer_gradients(Dropout(0.5, noise_shape=(None, 1, 3), dtype="float64"), _x((2, 4, 3)))


def test_dropout_is_reproducible_from_the_global_seed_or_its_own_seed():
    x = np.ones((5, 8), np.float32)
    backend.seed(7)
    a = Dropout(0.5)(x, training=True)
    backend.seed(7)
    b = Dropout(0.5)(x, training=True)
    np.testing.assert_array_equal(a, b)
    own = [Dropout(0.5, seed=3)(x, training=True) for _ in range(2)]
    np.testing.assert_array_equal(own[0], own[1])


def test_dropout_noise_shape_shares_the_mask():
    y = Dropout(0.5, noise_shape=(None, 1, 4))(np.ones((3, 5, 4), np.float32), training=True)
    assert (y == y[:, :1, :]).all()


def test_dropout_errors_and_config():
    for rate in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=f"Expected a float value between 0.*rate={rate}"):
            Dropout(rate)
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 0))
    with pytest.raises(ValueError, match=r'Layer "dropout" \(Dropout\): noise_shape \(None, 3\) does not '
                                         r"broadcast to input shape \(None, 4\)"):
        Dropout(0.5, noise_shape=(None, 3)).compute_output_shape((None, 4))
    config = Dropout(0.2, noise_shape=(None, 1), seed=5).get_config()
    assert config["rate"] == 0.2 and config["noise_shape"] == (None, 1) and config["seed"] == 5
    assert Dropout(0.0)(np.ones(3, np.float32), training=True).sum() == 3


@pytest.mark.parametrize("layer_cls,shape,drop_axes", [(SpatialDropout1D, (4, 5, 6), (1,)),
                                                       (SpatialDropout2D, (4, 3, 3, 6), (1, 2)),
                                                       (SpatialDropout3D, (4, 2, 2, 2, 6), (1, 2, 3))])
def test_spatial_dropout_drops_whole_feature_maps(layer_cls, shape, drop_axes):
    layer = layer_cls(0.5, dtype="float64")
    y = layer(np.ones(shape), training=True)
    ref = y[(slice(None),) + (slice(0, 1),) * len(drop_axes)]
    assert (y == ref).all() and (y == 0).any()
    check_layer_gradients(layer_cls(0.5, dtype="float64"), _x(shape))
    with pytest.raises(ValueError, match=rf"expected a {len(shape)}-D input, received input shape \(None, 2"):
        layer_cls(0.5).compute_output_shape((None, 2))


def test_spatial_dropout2d_channels_first_and_config():
    layer = SpatialDropout2D(0.5, data_format="channels_first")
    y = layer(np.ones((3, 4, 2, 2), np.float32), training=True)
    assert (y == y[:, :, :1, :1]).all()
    assert layer.get_config() == {"rate": 0.5, "seed": None, "name": "spatial_dropout2d", "dtype": "float32",
                                  "data_format": "channels_first"}
