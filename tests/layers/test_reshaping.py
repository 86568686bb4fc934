"""Flatten, Reshape, ZeroPadding1D/2D/3D: shapes, values, gradients, errors, configs."""

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn.layers.reshaping import Flatten, Reshape, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_flatten_channels_last_and_first():
    x = _x((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(Flatten()(x), x.reshape(2, 60))
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x),
                                  np.transpose(x, (0, 2, 3, 1)).reshape(2, 60))
    assert Flatten().compute_output_shape((None, 10, 64)) == (None, 640)
    assert Flatten().compute_output_shape((None,)) == (None, 1)
    assert Flatten().compute_output_shape((None, None, 3)) == (None, None)
    assert Flatten()(np.zeros(4)).shape == (4, 1)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten_gradients(data_format):
    check_layer_gradients(Flatten(data_format=data_format, dtype="float64"), _x((2, 3, 2, 2)))


def test_reshape_shapes_and_values():
    x = _x((2, 12)).astype(np.float32)
    np.testing.assert_array_equal(Reshape((3, 4))(x), x.reshape(2, 3, 4))
    assert Reshape((-1, 2, 2)).compute_output_shape((None, 12)) == (None, 3, 2, 2)
    assert Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)
    check_layer_gradients(Reshape((2, -1), dtype="float64"), _x((3, 2, 3)))


def test_reshape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r'Layer "reshape" \(Reshape\) cannot reshape input shape '
                                         r"\(None, 12\) into target shape \(5, 3\)"):
        Reshape((5, 3)).compute_output_shape((None, 12))
    with pytest.raises(ValueError, match=r"cannot reshape input shape \(2, 12\) into target shape \(-1, 5\)"):
        Reshape((-1, 5))(np.zeros((2, 12), np.float32))
    with pytest.raises(ValueError, match="more than one `-1`"):
        Reshape((-1, -1))
    with pytest.raises(ValueError, match="positive sizes"):
        Reshape((0, 3))
    assert Reshape((3, 4)).get_config()["target_shape"] == (3, 4)


@pytest.mark.parametrize("padding,expected", [(2, (2, 2)), ((1, 3), (1, 3)), ((0, 0), (0, 0))])
def test_zero_padding1d(padding, expected):
    layer = ZeroPadding1D(padding, dtype="float64")
    x = _x((2, 3, 4))
    np.testing.assert_array_equal(layer(x), np.pad(x, ((0, 0), expected, (0, 0))))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3 + sum(expected), 4)
    assert layer.get_config()["padding"] == expected and "data_format" not in layer.get_config()
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("padding,expected", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                              (((1, 0), (2, 3)), ((1, 0), (2, 3)))])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_zero_padding2d(padding, expected, data_format):
    layer = ZeroPadding2D(padding, data_format=data_format, dtype="float64")
    x = _x((2, 3, 2, 2))
    pads = ((0, 0), *expected, (0, 0)) if data_format == "channels_last" else ((0, 0), (0, 0), *expected)
    np.testing.assert_array_equal(layer(x), np.pad(x, pads))
    assert layer.get_config()["padding"] == expected
    assert layer.get_config()["data_format"] == data_format
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_zero_padding3d(data_format):
    layer = ZeroPadding3D(((1, 0), 2, (0, 1)), data_format=data_format, dtype="float64")
    expected = ((1, 0), (2, 2), (0, 1))
    x = _x((1, 2, 2, 2, 2))
    pads = ((0, 0), *expected, (0, 0)) if data_format == "channels_last" else ((0, 0), (0, 0), *expected)
    np.testing.assert_array_equal(layer(x), np.pad(x, pads))
    assert ZeroPadding3D().get_config()["padding"] == ((1, 1), (1, 1), (1, 1))
    check_layer_gradients(layer, x)


def test_zero_padding_shapes_and_errors():
    assert ZeroPadding2D(((1, 2), (3, 4))).compute_output_shape((None, 5, None, 3)) == (None, 8, None, 3)
    first = ZeroPadding2D(1, data_format="channels_first")
    assert first.compute_output_shape((None, 3, 5, 5)) == (None, 3, 7, 7)
    with pytest.raises(ValueError, match=r'Layer "zero_padding2d" \(ZeroPadding2D\) expected a 4-D input, '
                                         r"received input shape \(None, 5, 3\)"):
        ZeroPadding2D().compute_output_shape((None, 5, 3))
    with pytest.raises(ValueError, match="`padding` should be an int or have 2 elements"):
        ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="non-negative"):
        ZeroPadding1D(-1)
    with pytest.raises(ValueError, match="non-negative"):
        ZeroPadding2D(((1, -1), (0, 0)))
    with pytest.raises(ValueError, match="data_format"):
        ZeroPadding2D(1, data_format="nhwc")
