"""numbacnn.applications.MobileNet against keras.applications.MobileNet: the weights file Keras saved
(tests/data/keras_mobilenet.weights.h5, alpha 0.25, 32x32x3, 10 classes, written by
tests/data/make_keras_depthwise_fixtures.py) loads, and the predictions are Keras's to 1e-4."""

import os
import re

import numpy as np
import pytest

from numbacnn.applications import MobileNet

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data")


@pytest.fixture(scope="module")
def ref():
    with np.load(os.path.join(DATA, "keras_depthwise.npz")) as data:
        return {k: data[k] for k in data.files if k.startswith("mobilenet/")}


def test_keras_weights_load_and_predict_the_same(ref):
    weights = os.path.join(DATA, "keras_mobilenet.weights.h5")
    model = MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=weights, classes=10)
    assert model.name == "mobilenet_0.25_32"
    assert model.count_params() == ref["mobilenet/count_params"]
    # (the input and the pooling are auto-named; Keras numbered its pooling after the fixtures' others)
    keras_names = [re.sub(r"^global_average_pooling2d_\d+$", "global_average_pooling2d", str(n))
                   for n in ref["mobilenet/layers"]]
    assert [layer.name for layer in model.layers[1:]] == keras_names[1:]
    assert [w.path for w in model.weights] == [str(n) for n in ref["mobilenet/names"]]
    pred = model.predict(ref["mobilenet/x"], verbose=0)
    np.testing.assert_allclose(pred, ref["mobilenet/pred"], rtol=0, atol=1e-4)
    assert np.abs(pred[0] - pred[1]).max() > 0.05  # the predictions depend on the image


def test_without_top_and_pooling():
    model = MobileNet(input_shape=(32, 32, 3), alpha=0.25, depth_multiplier=2, include_top=False,
                      pooling="avg")
    assert model.output_shape == (None, 256)
    assert model.get_layer("conv_dw_1").kernel.shape == (3, 3, 8, 2)
    assert model.get_layer("conv_pw_1").kernel.shape == (1, 1, 16, 16)
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    assert model.predict(x, verbose=0).shape == (1, 256)


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": "imagenet"}, "does not download ImageNet weights"),
    ({"input_shape": (16, 16, 3)}, "at least 32"),
    ({"input_shape": (32, 32)}, "rows, cols, channels"),
    ({"include_top": False, "pooling": "sum"}, "pooling must be"),
])
def test_refusals(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MobileNet(**{"alpha": 0.25, "input_shape": (32, 32, 3), **kwargs})
