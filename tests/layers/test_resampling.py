"""Cropping1D/2D/3D and UpSampling1D/2D/3D: Keras's argument forms, shapes, NumPy references, gradients."""

import numpy as np
import pytest
from gradcheck import check_layer_gradients

from numbacnn.layers import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
)
from numbacnn.models import Sequential, model_from_json


@pytest.mark.parametrize("layer, shape, index", [
    (Cropping1D(), (2, 5, 3), np.s_[:, 1:4, :]),
    (Cropping1D(2), (2, 5, 3), np.s_[:, 2:3, :]),
    (Cropping1D((0, 3)), (2, 5, 3), np.s_[:, 0:2, :]),
    (Cropping2D(1), (2, 4, 5, 2), np.s_[:, 1:3, 1:4, :]),
    (Cropping2D((1, 0)), (2, 4, 5, 2), np.s_[:, 1:3, :, :]),
    (Cropping2D(((0, 2), (3, 1))), (2, 4, 5, 2), np.s_[:, 0:2, 3:4, :]),
    (Cropping2D(((1, 0), (0, 2)), data_format="channels_first"), (2, 3, 4, 5), np.s_[:, :, 1:, 0:3]),
    (Cropping3D(), (1, 3, 4, 3, 2), np.s_[:, 1:2, 1:3, 1:2, :]),
    (Cropping3D((0, (1, 2), 1)), (1, 3, 4, 3, 2), np.s_[:, :, 1:2, 1:2, :]),
    (Cropping3D(1, data_format="channels_first"), (1, 2, 3, 4, 3), np.s_[:, :, 1:2, 1:3, 1:2]),
])
def test_cropping_matches_slicing_and_its_gradient_pads(layer, shape, index):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    layer.dtype = "float64"
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x[index])
    assert y.shape == layer.compute_output_shape(shape)
    g = rng.normal(size=y.shape)
    expected = np.zeros(shape)
    expected[index] = g
    np.testing.assert_array_equal(layer.backward(g), expected)


def _repeat(x, size, axes):
    for axis, s in zip(axes, size):
        x = np.repeat(x, s, axis=axis)
    return x


@pytest.mark.parametrize("layer, shape, axes", [
    (UpSampling1D(), (2, 3, 2), (1,)),
    (UpSampling1D(3), (2, 3, 2), (1,)),
    (UpSampling2D(), (2, 2, 3, 2), (1, 2)),
    (UpSampling2D((1, 3)), (2, 2, 3, 2), (1, 2)),
    (UpSampling2D((3, 2), data_format="channels_first"), (2, 2, 3, 2), (2, 3)),
    (UpSampling3D(), (1, 2, 1, 2, 2), (1, 2, 3)),
    (UpSampling3D((1, 2, 3), data_format="channels_first"), (1, 2, 2, 1, 2), (2, 3, 4)),
])
def test_nearest_upsampling_matches_repeat_and_gradients(layer, shape, axes):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    layer.dtype = "float64"
    y = layer(x)
    np.testing.assert_array_equal(y, _repeat(x, layer.size, axes))
    assert y.shape == layer.compute_output_shape(shape)
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("size, data_format", [((2, 2), "channels_last"), ((3, 2), "channels_last"),
                                               ((2, 3), "channels_first")])
def test_bilinear_upsampling_gradients_and_channels_first(size, data_format):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 2, 2))
    layer = UpSampling2D(size, data_format=data_format, interpolation="bilinear", dtype="float64")
    check_layer_gradients(layer, x)
    y = layer(x)
    last = UpSampling2D(size, interpolation="bilinear", dtype="float64")
    if data_format == "channels_first":
        np.testing.assert_allclose(y, np.moveaxis(last(np.moveaxis(x, 1, -1)), -1, 1), rtol=1e-12)
    # a constant image stays constant
    ones = UpSampling2D(size, interpolation="bilinear", dtype="float64")
    np.testing.assert_allclose(ones(np.ones((1, 3, 2, 1))), 1.0, rtol=1e-12)


def test_keras_argument_forms_configs_and_errors():
    assert Cropping1D(2).cropping == ((2, 2),) and Cropping1D(2).get_config()["cropping"] == (2, 2)
    assert Cropping2D((1, 2)).get_config()["cropping"] == ((1, 1), (2, 2))
    assert Cropping3D().cropping == ((1, 1), (1, 1), (1, 1))
    assert UpSampling1D().get_config()["size"] == 2 and "data_format" not in UpSampling1D().get_config()
    config = UpSampling2D(3, interpolation="Bilinear").get_config()
    assert config["size"] == (3, 3) and config["interpolation"] == "bilinear"
    assert config["data_format"] == "channels_last"
    assert UpSampling3D().size == (2, 2, 2)
    with pytest.raises(ValueError, match="numbacnn supports interpolation 'nearest' or 'bilinear'"):
        UpSampling2D(interpolation="bicubic")
    with pytest.raises(TypeError, match="Expected an integer value for `size`"):
        UpSampling1D((2,))
    with pytest.raises(ValueError, match="`cropping` should be an int or have 2 elements"):
        Cropping2D((1, 2, 3))
    with pytest.raises(ValueError, match="must leave at least one cell"):
        Cropping2D(((2, 2), (0, 0))).compute_output_shape((None, 4, 4, 1))
    model = Sequential([UpSampling2D((2, 1), interpolation="bilinear", input_shape=(3, 4, 2)),
                        Cropping2D(((1, 0), (1, 1))), Cropping2D(0)])
    assert model.output_shape == (None, 5, 2, 2)
    again = model_from_json(model.to_json())
    assert [layer.get_config() for layer in again.layers] == [layer.get_config() for layer in model.layers]
