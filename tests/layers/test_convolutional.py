"""Conv1D / Conv2D / Conv3D and Keras 1's Convolution1D/2D/3D: shapes, gradients, config, errors."""

import warnings

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn.layers.base import Input
from numbacnn.layers.convolutional import (
    BaseConv,
    Conv1D,
    Conv2D,
    Conv3D,
    Convolution1D,
    Convolution2D,
    Convolution3D,
    conv_padding,
)


@pytest.mark.parametrize("layer,input_shape,params", [
    (lambda: Conv2D(32, (3, 3)), (None, 32, 32, 3), 896),
    (lambda: Conv2D(64, (3, 3)), (None, 15, 15, 32), 18496),
    (lambda: Conv2D(8, 5, use_bias=False), (None, 28, 28, 1), 200),
    (lambda: Conv1D(16, 5), (None, 20, 8), 656),
    (lambda: Conv3D(4, 3), (None, 6, 6, 6, 2), 220),
])
def test_param_counts(layer, input_shape, params):
    layer = layer()
    layer.maybe_build(input_shape)
    assert layer.count_params() == params
    assert [w.name for w in layer.weights] == (["kernel", "bias"] if layer.use_bias else ["kernel"])


@pytest.mark.parametrize("layer,input_shape,expected", [
    (Conv2D(32, (3, 3)), (None, 32, 32, 3), (None, 30, 30, 32)),
    (Conv2D(4, 3, strides=2, padding="same"), (None, 7, 8, 1), (None, 4, 4, 4)),
    (Conv2D(4, (3, 2), strides=(2, 3)), (None, 9, 9, 1), (None, 4, 3, 4)),
    (Conv2D(4, 3, dilation_rate=2, padding="same"), (None, 5, 6, 1), (None, 5, 6, 4)),
    (Conv2D(4, 3, dilation_rate=(2, 1)), (None, None, 6, 1), (None, None, 4, 4)),
    (Conv1D(2, 3, padding="causal", dilation_rate=2), (None, 7, 3), (None, 7, 2)),
    (Conv1D(2, 4, strides=3, padding="causal"), (None, 7, 3), (None, 3, 2)),
    (Conv3D(5, (1, 2, 3), padding="valid"), (None, 4, 4, 4, 2), (None, 4, 3, 2, 5)),
])
def test_output_shapes(layer, input_shape, expected):
    assert layer.compute_output_shape(input_shape) == expected


@pytest.mark.parametrize("size,kernel,stride,dilation,padding,expected", [
    (4, 3, 2, 1, "same", (2, 0, 1)),     # the odd pixel goes after (TensorFlow/Keras placement)
    (5, 3, 2, 1, "same", (3, 1, 1)),
    (6, 4, 1, 1, "same", (6, 1, 2)),
    (5, 3, 1, 2, "same", (5, 2, 2)),
    (7, 1, 3, 1, "same", (3, 0, 0)),
    (7, 3, 2, 1, "valid", (3, 0, 0)),
    (7, 3, 1, 3, "causal", (7, 6, 0)),
])
def test_conv_padding(size, kernel, stride, dilation, padding, expected):
    assert conv_padding(size, kernel, stride, dilation, padding) == expected


def test_same_padding_puts_the_odd_pixel_at_the_end():
    """A 3x3 sum over a 4x4 image, stride 2: rows/cols 0-2 and 2-4 where index 4 is padding."""
    layer = Conv2D(1, 3, strides=2, padding="same", use_bias=False, kernel_initializer="ones",
                   dtype="float64")
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    y = layer(x)
    img = x[0, :, :, 0]
    expected = [[img[0:3, 0:3].sum(), img[0:3, 2:4].sum()], [img[2:4, 0:3].sum(), img[2:4, 2:4].sum()]]
    np.testing.assert_allclose(y[0, :, :, 0], expected)


def test_forward_is_correlation_plus_bias_then_activation():
    layer = Conv1D(2, 2, activation="relu", dtype="float64")
    layer.maybe_build((None, 3, 1))
    layer.kernel.assign(np.array([[[1.0, -1.0]], [[2.0, -2.0]]]))
    layer.bias.assign(np.array([0.5, 0.5]))
    y = layer(np.array([[[1.0], [2.0], [3.0]]]))
    np.testing.assert_allclose(y[0], [[5.5, 0.0], [8.5, 0.0]])


@pytest.mark.parametrize("make,shape", [
    (lambda: Conv1D(3, 3, dtype="float64"), (2, 7, 2)),
    (lambda: Conv1D(2, 3, strides=2, padding="same", activation="tanh", dtype="float64"), (2, 6, 3)),
    (lambda: Conv1D(2, 2, padding="causal", dilation_rate=2, activation="sigmoid", dtype="float64"),
     (3, 5, 2)),
    (lambda: Conv2D(3, (3, 2), dtype="float64"), (2, 5, 4, 2)),
    (lambda: Conv2D(2, 3, strides=2, padding="same", activation="tanh", dtype="float64"), (2, 6, 5, 2)),
    (lambda: Conv2D(2, 2, dilation_rate=2, padding="same", use_bias=False, activation="sigmoid",
                    dtype="float64"), (2, 5, 4, 3)),
    (lambda: Conv2D(3, 3, padding="same", activation="relu", dtype="float64"), (2, 5, 4, 2)),  # z not kept
    (lambda: Conv3D(2, (2, 3, 2), dtype="float64"), (2, 3, 4, 3, 2)),
    (lambda: Conv3D(2, 2, strides=(1, 2, 2), padding="same", activation="tanh", dtype="float64"),
     (2, 3, 4, 5, 1)),
])
def test_gradients(make, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    check_layer_gradients(make(), x)


@pytest.mark.parametrize("activation", ["relu", "relu6", "leaky_relu", "tanh", "sigmoid"])
def test_training_with_its_own_relu_matches_a_separate_activation_layer(activation):
    """A relu without negative slope, or a tanh, is applied with the bias in the convolution's pass and
    its derivative read from the output (z is not kept): outputs, input and weight gradients must be
    those of the convolution followed by an Activation layer, to the bit (leaky relu and sigmoid keep
    z)."""
    from numbacnn.layers import Activation

    rng = np.random.default_rng(4)
    x = (3 * rng.standard_normal((2, 6, 5, 3))).astype(np.float32)
    fused = Conv2D(4, 3, padding="same", activation=activation)
    plain = Conv2D(4, 3, padding="same")
    fused.maybe_build(x.shape)
    plain.maybe_build(x.shape)
    plain.kernel.assign(fused.kernel.value)
    plain.bias.assign(rng.standard_normal(4).astype(np.float32))
    fused.bias.assign(plain.bias.value)
    after = Activation(activation)
    y = fused(x, training=True)
    expected = after(plain(x, training=True), training=True)
    assert np.array_equal(y, expected)
    if activation == "relu6":
        assert (y == 6.0).any() and (y == 0.0).any()  # both kinks are reached
    g = rng.standard_normal(y.shape).astype(np.float32)
    fused.input_grad_needed = plain.input_grad_needed = True
    dx = fused.backward(g)
    dx_plain = plain.backward(after.backward(g))
    assert np.array_equal(dx, dx_plain)
    assert np.array_equal(fused.kernel.grad, plain.kernel.grad)
    assert np.array_equal(fused.bias.grad, plain.bias.grad)
    kept_z = fused._cache[1] is not fused._cache[2]
    assert kept_z == (activation in ("leaky_relu", "sigmoid"))


def test_weight_gradients_accumulate():
    layer = Conv2D(2, 2, dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 3))
    y = layer(x, training=True)
    g = np.ones_like(y)
    layer.backward(g)
    first = [w.grad.copy() for w in layer.trainable_weights]
    layer.backward(g)
    for w, once in zip(layer.trainable_weights, first):
        assert np.abs(once).sum() > 0
        np.testing.assert_allclose(w.grad, 2 * once)


def test_frozen_layer_leaves_weight_gradients_alone():
    layer = Conv2D(2, 2, dtype="float64")
    x = np.random.default_rng(2).standard_normal((1, 3, 3, 1))
    layer(x, training=True)
    layer.trainable = False
    dx = layer.backward(np.ones((1, 2, 2, 2)))
    assert dx.shape == x.shape
    assert all(not w.grad.any() for w in layer.weights)


def test_float32_forward_and_backward():
    layer = Conv2D(4, 3, padding="same", activation="relu")
    x = np.random.default_rng(3).standard_normal((2, 5, 5, 3))
    y = layer(x, training=True)
    assert y.dtype == np.float32 and y.shape == (2, 5, 5, 4)
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and dx.shape == x.shape
    assert layer.kernel.grad.dtype == np.float32


def test_symbolic_call_and_names():
    x = Input(shape=(28, 28, 1))
    y = Conv2D(32, (3, 3), activation="relu")(x)
    assert y.shape == (None, 26, 26, 32)
    assert Conv1D(1, 1).name == "conv1d" and Conv3D(1, 1).name == "conv3d"
    assert isinstance(Conv2D(1, 1), BaseConv)


def test_config_round_trip():
    layer = Conv2D(8, (3, 2), strides=(2, 1), padding="same", activation="relu", use_bias=False,
                   kernel_initializer="he_normal", name="c1", input_shape=(9, 9, 3))
    config = layer.get_config()
    assert set(config) >= {"name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
                           "data_format", "dilation_rate", "groups", "activation", "use_bias",
                           "kernel_initializer", "bias_initializer", "kernel_regularizer",
                           "bias_regularizer", "activity_regularizer", "kernel_constraint",
                           "bias_constraint"}
    assert "batch_input_shape" not in config  # Keras 3 refuses it; the model writes an InputLayer instead
    assert config["kernel_size"] == (3, 2) and config["strides"] == (2, 1) and config["activation"] == "relu"
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    assert config["data_format"] == "channels_last" and layer._requested_input_shape == (9, 9, 3)
    assert Conv2D.from_config(config).get_config() == config
    assert Conv1D(2, 3).get_config()["activation"] == "linear"


def _record(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = fn()
    return layer, [str(w.message) for w in caught if w.category is DeprecationWarning]


def test_convolution2d_keras1_positional():
    layer, messages = _record(lambda: Convolution2D(32, 3, 3, input_shape=(32, 32, 3)))
    assert type(layer) is Conv2D and layer.name == "conv2d"
    assert layer.kernel_size == (3, 3) and layer.filters == 32
    assert any("Conv2D(32, (3, 3))" in m for m in messages)
    layer.maybe_build((None, 32, 32, 3))
    assert layer.count_params() == 896
    assert layer.get_config() == Conv2D(32, (3, 3), input_shape=(32, 32, 3)).get_config()


def test_convolution2d_keras2_calls_do_not_warn():
    for call, kernel, strides in [(lambda: Convolution2D(8, (3, 2)), (3, 2), (1, 1)),
                                  (lambda: Convolution2D(8, 3), (3, 3), (1, 1)),
                                  (lambda: Convolution2D(8, (3, 3), (2, 2)), (3, 3), (2, 2)),
                                  (lambda: Convolution2D(filters=8, kernel_size=5), (5, 5), (1, 1))]:
        layer, messages = _record(call)
        assert (layer.kernel_size, layer.strides, messages) == (kernel, strides, [])


def test_convolution2d_keras1_keywords():
    layer, messages = _record(lambda: Convolution2D(nb_filter=16, nb_row=5, nb_col=3, border_mode="same",
                                                    subsample=(2, 2), init="he_normal", bias=False))
    assert type(layer) is Conv2D
    assert (layer.filters, layer.kernel_size, layer.padding, layer.strides, layer.use_bias) == \
        (16, (5, 3), "same", (2, 2), False)
    assert layer.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    for new in ("padding=", "strides=", "kernel_initializer=", "use_bias=", "kernel_size="):
        assert any(new in m for m in messages), new
    assert any("'nb_filter' is Keras 1; use Conv2D(filters=...)" in m for m in messages)


def test_convolution1d_and_3d():
    layer, messages = _record(lambda: Convolution1D(4, 3, subsample_length=2, input_dim=5, input_length=9))
    assert type(layer) is Conv1D and layer.strides == (2,) and layer.kernel_size == (3,)
    assert layer._requested_input_shape == (9, 5)
    assert any("strides=" in m for m in messages)
    layer, messages = _record(lambda: Convolution3D(4, 3, 2, 1, border_mode="same"))
    assert type(layer) is Conv3D and layer.kernel_size == (3, 2, 1) and layer.padding == "same"
    assert any("Conv3D(4, (3, 2, 1))" in m for m in messages)


def test_convolution_dim_ordering_th_is_rejected():
    with pytest.raises(ValueError, match="channels_last"):
        _record(lambda: Convolution2D(4, 3, 3, dim_ordering="th"))
    with pytest.raises(TypeError, match="both 'border_mode' and its new spelling 'padding'"):
        _record(lambda: Convolution2D(4, 3, 3, border_mode="same", padding="same"))


@pytest.mark.parametrize("shape", [(None, 28, 28), (None, 4, 28, 28, 1), (None, 784)])
def test_conv2d_rejects_non_4d_input(shape):
    with pytest.raises(ValueError, match=r'Layer "conv2d" \(Conv2D\) expects a 4-D input .* received '
                                         r"input shape \(None,"):
        Conv2D(4, 3).compute_output_shape(shape)
    with pytest.raises(ValueError, match="expects a 4-D input"):
        Conv2D(4, 3)(np.zeros((1,) + shape[1:], np.float32))


def test_kernel_larger_than_valid_input():
    with pytest.raises(ValueError, match=r"kernel_size \(5, 5\).*received input shape \(None, 4, 9, 1\)"):
        Conv2D(2, 5).compute_output_shape((None, 4, 9, 1))
    with pytest.raises(ValueError, match=r"dilation_rate \(3,\) spans \(7,\)"):
        Conv1D(2, 3, dilation_rate=3)(np.zeros((1, 6, 1), np.float32))
    assert Conv2D(2, 5, padding="same").compute_output_shape((None, 4, 9, 1)) == (None, 4, 9, 2)


@pytest.mark.parametrize("filters", [0, -3, 2.5, None])
def test_bad_filters(filters):
    with pytest.raises(ValueError, match="filters must be a positive int"):
        Conv2D(filters, 3)


@pytest.mark.parametrize("kwargs,message", [
    ({"strides": 2, "dilation_rate": 2}, "strides > 1 is not supported together with dilation_rate > 1"),
    ({"groups": 3}, "filters must be divisible by groups"),
    ({"data_format": "channels_first"}, 'only data_format="channels_last"'),
    ({"padding": "causal"}, "padding must be one of"),
    ({"padding": "full"}, "padding must be one of"),
    ({"strides": (1, 0)}, "strides must be positive"),
    ({"kernel_size": (3, 3, 3)}, "kernel_size must have 2 values"),
])
def test_bad_arguments(kwargs, message):
    kwargs = {"filters": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        Conv2D(**kwargs)


def test_input_channels_must_match_after_build():
    layer = Conv2D(2, 3)
    layer(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected input shape \(None, 5, 5, 3\)"):
        layer(np.zeros((1, 5, 5, 2), np.float32))


def test_backward_before_forward():
    layer = Conv2D(2, 3)
    layer.maybe_build((None, 5, 5, 1))
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((1, 3, 3, 2), np.float32))
