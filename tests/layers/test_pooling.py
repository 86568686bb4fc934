"""Pooling layers: Keras shapes, names and configs, TensorFlow values, gradients, and clear errors."""

import math

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn.layers import pooling as P
from numbacnn.layers.base import Input

POOLING = {1: (P.MaxPooling1D, P.AveragePooling1D), 2: (P.MaxPooling2D, P.AveragePooling2D),
           3: (P.MaxPooling3D, P.AveragePooling3D)}
GLOBAL = {1: (P.GlobalMaxPooling1D, P.GlobalAveragePooling1D),
          2: (P.GlobalMaxPooling2D, P.GlobalAveragePooling2D),
          3: (P.GlobalMaxPooling3D, P.GlobalAveragePooling3D)}
SHAPES = {1: (2, 7, 2), 2: (2, 5, 4, 2), 3: (1, 3, 4, 5, 2)}


def distinct(shape, seed=0):
    """Values without ties (a random permutation, scaled) so finite differences hold for max."""
    return np.random.default_rng(seed).permutation(math.prod(shape)).reshape(shape) * 0.1 - 1.0


@pytest.mark.parametrize("layer, in_shape, out_shape", [
    (P.MaxPooling2D((2, 2)), (None, 30, 30, 32), (None, 15, 15, 32)),
    (P.MaxPooling2D((2, 2)), (None, 13, 13, 64), (None, 6, 6, 64)),
    (P.MaxPooling2D(pool_size=3, strides=2), (None, 55, 55, 96), (None, 27, 27, 96)),
    (P.MaxPooling2D(), (None, 28, 28, 1), (None, 14, 14, 1)),
    (P.AveragePooling2D(3, strides=2, padding="same"), (None, 55, 55, 96), (None, 28, 28, 96)),
    (P.MaxPooling1D(3, strides=1, padding="same"), (None, 10, 4), (None, 10, 4)),
    (P.AveragePooling1D(), (None, 9, 4), (None, 4, 4)),
    (P.MaxPooling3D(padding="same"), (None, 5, 4, 3, 2), (None, 3, 2, 2, 2)),
    (P.AveragePooling3D((3, 1, 2), strides=(1, 2, 3)), (None, 5, 4, 7, 2), (None, 3, 2, 2, 2)),
    (P.MaxPooling2D((2, 2)), (None, None, 9, 3), (None, None, 4, 3)),
    (P.GlobalAveragePooling2D(), (None, 7, 7, 512), (None, 512)),
    (P.GlobalMaxPooling1D(keepdims=True), (None, 9, 4), (None, 1, 4)),
    (P.GlobalAveragePooling3D(keepdims=True), (None, 2, 3, 4, 5), (None, 1, 1, 1, 5)),
])
def test_output_shapes(layer, in_shape, out_shape):
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer(Input(shape=in_shape[1:])).shape == out_shape


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool, strides", [(2, None), (3, 2), (2, 3)])
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("kind", [0, 1])
def test_pooling_gradients(kind, rank, pool, strides, padding):
    layer = POOLING[rank][kind](pool, strides=strides, padding=padding, dtype="float64")
    x = distinct(SHAPES[rank], seed=rank)
    y = layer(x)
    assert y.shape == (x.shape[0], *layer.compute_output_shape((None,) + x.shape[1:])[1:])
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("kind", [0, 1])
def test_global_pooling_gradients(kind, rank, keepdims):
    layer = GLOBAL[rank][kind](keepdims=keepdims, dtype="float64")
    check_layer_gradients(layer, distinct(SHAPES[rank], seed=rank))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_valid_pooling_matches_blocks(rank):
    x = distinct((2, *(6,) * rank, 3)).astype(np.float32)
    blocks = x.reshape((2, *sum(((3, 2),) * rank, ()), 3))
    axes = tuple(range(2, 2 + 2 * rank, 2))
    np.testing.assert_array_equal(POOLING[rank][0]()(x), blocks.max(axis=axes))
    np.testing.assert_allclose(POOLING[rank][1]()(x), blocks.mean(axis=axes), rtol=1e-6)
    np.testing.assert_array_equal(GLOBAL[rank][0]()(x), x.max(axis=tuple(range(1, rank + 1))))
    np.testing.assert_allclose(GLOBAL[rank][1]()(x), x.mean(axis=tuple(range(1, rank + 1))), rtol=1e-6)


def test_same_padding_matches_tensorflow_1d():
    # size 5, pool 4, stride 1: padding 1 before, 2 after; the average counts real cells only
    x = np.arange(1.0, 6.0, dtype=np.float32).reshape(1, 5, 1)
    np.testing.assert_allclose(P.MaxPooling1D(4, 1, "same")(x).ravel(), [3, 4, 5, 5, 5])
    np.testing.assert_allclose(P.AveragePooling1D(4, 1, "same")(x).ravel(), [2, 2.5, 3.5, 4, 4.5])


def test_max_backward_routes_to_the_first_maximum():
    layer = P.MaxPooling2D((2, 2))
    x = np.array([[1, 3], [3, 0]], dtype=np.float32).reshape(1, 2, 2, 1)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.full_like(y, 5.0))
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx.reshape(2, 2), [[0, 5], [0, 0]])


def test_batch_size_may_change_between_calls():
    layer = P.AveragePooling2D()
    layer.forward(np.ones((4, 4, 4, 1), np.float32), training=True)
    dx = layer.backward(np.ones((4, 2, 2, 1), np.float32))
    assert dx.shape == (4, 4, 4, 1)
    layer.forward(np.ones((1, 4, 4, 1), np.float32), training=True)
    np.testing.assert_allclose(layer.backward(np.ones((1, 2, 2, 1), np.float32)), np.full((1, 4, 4, 1), 0.25))


def test_names_aliases_and_config():
    assert P.MaxPool2D is P.MaxPooling2D and P.AvgPool1D is P.AveragePooling1D
    assert P.GlobalAvgPool2D is P.GlobalAveragePooling2D and P.GlobalMaxPool3D is P.GlobalMaxPooling3D
    assert P.MaxPool2D().name == "max_pooling2d"
    assert P.AvgPool3D().name == "average_pooling3d"
    assert P.GlobalAvgPool2D().name == "global_average_pooling2d"
    layer = P.MaxPooling2D(pool_size=3, strides=2, padding="SAME", name="pool")
    config = layer.get_config()
    assert config == {"name": "pool", "trainable": True, "dtype": "float32", "pool_size": (3, 3),
                      "padding": "same", "strides": (2, 2), "data_format": "channels_last"}
    assert P.MaxPooling2D.from_config(config).get_config() == config
    assert P.AveragePooling1D(3).get_config()["strides"] == (3,)
    gconfig = P.GlobalMaxPooling1D(keepdims=True).get_config()
    assert gconfig["keepdims"] is True and gconfig["data_format"] == "channels_last"
    assert P.GlobalMaxPooling1D.from_config(gconfig).get_config() == gconfig
    assert P.MaxPooling2D(name="p").count_params() == 0


def test_wrong_rank_is_rejected():
    with pytest.raises(ValueError, match=r'"max_pooling2d" \(MaxPooling2D\) expects a 4-D input '
                                         r"\(batch, rows, cols, channels\), received input shape "
                                         r"\(None, 28, 28\)"):
        P.MaxPooling2D()(Input(shape=(28, 28)))
    with pytest.raises(ValueError, match=r"AveragePooling1D\) expects a 3-D input.*\(2, 4, 4, 1\)"):
        P.AveragePooling1D()(np.ones((2, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"GlobalAveragePooling2D\) expects a 4-D input.*\(None, 8\)"):
        P.GlobalAveragePooling2D().compute_output_shape((None, 8))


def test_pool_larger_than_valid_input_is_rejected():
    with pytest.raises(ValueError, match=r"MaxPooling2D\): pool_size \(3, 3\) does not fit.*"
                                         r"received input shape \(None, 2, 5, 1\)"):
        P.MaxPooling2D(3).compute_output_shape((None, 2, 5, 1))
    assert P.MaxPooling2D(3, padding="same").compute_output_shape((None, 2, 5, 1)) == (None, 1, 2, 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"pool_size": 0}, "pool_size must be positive"),
    ({"pool_size": (2, -1)}, "pool_size must be positive"),
    ({"strides": 0}, "strides must be positive"),
    ({"pool_size": (2, 2, 2)}, "pool_size must have 2 values"),
    ({"padding": "full"}, 'padding must be "valid" or "same"'),
    ({"data_format": "channels_first"}, 'only data_format="channels_last"'),
])
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        P.MaxPooling2D(**kwargs)


def test_global_channels_first_is_rejected():
    with pytest.raises(ValueError, match=r"GlobalMaxPooling2D\): numbacnn supports only"):
        P.GlobalMaxPooling2D(data_format="channels_first")


def test_backward_needs_a_training_forward():
    with pytest.raises(RuntimeError, match="forward"):
        P.MaxPooling1D().backward(np.ones((1, 1, 1), np.float32))
