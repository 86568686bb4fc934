"""numbacnn.applications.MobileNet against keras.applications.MobileNet: the weights file Keras saved
(tests/data/keras_mobilenet.weights.h5, alpha 0.25, 32x32x3, 10 classes, written by
tests/data/make_keras_depthwise_fixtures.py) loads, and the predictions are Keras's to 1e-4; MobileNetV2
(alpha 0.35, 32x32x3) and Xception (71x71x3) from seeded weights predict Keras's probabilities for the
same weights to 1e-4."""

import os
import re

import numpy as np
import pytest

from numbacnn.applications import MobileNet, MobileNetV2, Xception

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "data")


@pytest.fixture(scope="module")
def ref():
    with np.load(os.path.join(DATA, "keras_depthwise.npz")) as data:
        return {k: data[k] for k in data.files if k.startswith(("mobilenet/", "mobilenetv2/", "xception/"))}


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


def seeded_weights(names, shapes, gain=2.0):
    """The fixture script's ``seeded_weights``: the same draws from the same seeds."""
    out = []
    for i, (name, shape) in enumerate(zip(names, shapes)):
        rng = np.random.default_rng(1000 + i)
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance"):
            w = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("beta", "moving_mean", "bias"):
            w = rng.normal(0.0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[:-2] if "depthwise" in name else shape[:-1]))
            w = rng.uniform(-1.0, 1.0, shape) * np.sqrt(3.0 * gain / fan_in)
        out.append(w.astype(np.float32))
    return out


def check_seeded(ref, prefix, model, seed, gain=2.0):
    """Keras's weight paths, layer names and parameter count; with the seeded weights, the seeded images'
    predictions are Keras's to 1e-4 (and depend on the image)."""
    # (auto-named layers: Keras counted on from the fixtures' earlier models)
    def strip(name):
        return re.sub(r"^(global_average_pooling2d|conv2d|batch_normalization|add)(_\d+)?(/|$)", r"\1\3",
                      name)

    assert model.count_params() == ref[f"{prefix}/count_params"]
    names = [str(n) for n in ref[f"{prefix}/names"]]
    assert [strip(w.path) for w in model.weights] == [strip(n) for n in names]
    assert [strip(a.name) for a in model.layers[1:]] == [strip(str(n)) for n in ref[f"{prefix}/layers"]][1:]
    model.set_weights(seeded_weights(names, [w.shape for w in model.weights], gain))
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, (2,) + model.input.shape[1:]).astype(np.float32)
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(pred, ref[f"{prefix}/pred"], rtol=0, atol=1e-4)
    assert np.abs(pred[0] - pred[1]).max() > 0.02


def test_mobilenet_v2_predicts_what_keras_predicts(ref):
    model = MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=10)
    assert model.name == "mobilenetv2_0.35_32"
    check_seeded(ref, "mobilenetv2", model, 21)


def test_xception_predicts_what_keras_predicts(ref):
    model = Xception(input_shape=(71, 71, 3), classes=10)
    assert model.name == "xception"
    check_seeded(ref, "xception", model, 22, gain=1.0)
