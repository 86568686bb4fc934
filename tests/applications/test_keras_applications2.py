"""Keras's EfficientNet and MobileNetV3 applications, saved by Keras 3 itself
(``tests/data/make_keras_application2_fixtures.py``: distinct patterned weights), load into numbacnn three
ways (``load_model`` of the .keras file, ``model_from_json`` + ``load_weights``, and the numbacnn application
with ``weights=path``) and predict what Keras predicted, probabilities and logits, to 1e-4."""

import json
import os
import tarfile

import numpy as np
import pytest

import numbacnn as nc

ARCHIVE = os.path.join(os.path.dirname(__file__), "..", "data", "applications", "keras_applications2.tar.xz")
# tag: (application, keyword arguments), as the fixture script builds them
MODELS = {
    "EfficientNetB0": ("EfficientNetB0", {}),
    "MobileNetV3Small": ("MobileNetV3Small", {}),
    "MobileNetV3Large": ("MobileNetV3Large", {}),
    "MobileNetV3Small_minimalistic_075": ("MobileNetV3Small", {"minimalistic": True, "alpha": 0.75}),
}
# Keras 3.15.1's count_params() and len(model.weights) at 32x32x3 with 10 classes
KERAS_COUNTS = {
    ("EfficientNetB0", False): (4_062_381, 314), ("EfficientNetB1", False): (6_588_049, 442),
    ("EfficientNetB2", False): (7_782_659, 442), ("EfficientNetB3", False): (10_798_905, 499),
    ("MobileNetV3Small", False): (1_540_218, 210), ("MobileNetV3Small", True): (1_042_098, 174),
    ("MobileNetV3Large", False): (4_239_242, 266), ("MobileNetV3Large", True): (2_680_498, 234),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras_applications2")
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(folder, filter="data")
    return folder, np.load(folder / "reference.npz")


def _weighted_names(model):
    return [la.name for la in model.layers if la.weights]


@pytest.mark.parametrize("tag", MODELS)
def test_keras_saved_application_loads_and_predicts_as_keras(files, tag):
    folder, ref = files
    application, kwargs = MODELS[tag]
    x, expected = ref["x"], ref[f"{tag}_pred"]
    assert np.ptp(ref[f"{tag}_logits"], axis=0).max() > 1e-3  # the two images give different outputs
    loaded = nc.models.load_model(folder / f"{tag}.keras")
    assert loaded.count_params() == int(ref[f"{tag}_count_params"])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-4, rtol=0)

    with open(folder / f"{tag}.json") as f:
        text = f.read()
    rebuilt = nc.models.model_from_json(text)
    rebuilt.load_weights(folder / f"{tag}.weights.h5")
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), expected, atol=1e-4, rtol=0)

    build = getattr(nc.applications, application)
    ours = build(weights=folder / f"{tag}.weights.h5", input_shape=(32, 32, 3), classes=10, **kwargs)
    keras_layers = json.loads(text)["config"]["layers"]
    keras_weighted = [e["name"] for e in keras_layers if e["name"] in set(_weighted_names(rebuilt))]
    assert _weighted_names(ours) == keras_weighted  # Keras's names, in Keras's order
    assert [w.shape for w in ours.weights] == [w.shape for w in rebuilt.weights]
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=1e-4, rtol=0)

    logits = build(weights=folder / f"{tag}.weights.h5", input_shape=(32, 32, 3), classes=10,
                   classifier_activation=None, **kwargs)
    np.testing.assert_allclose(logits.predict(x, verbose=0), ref[f"{tag}_logits"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("application", ["EfficientNetB1", "EfficientNetB2", "EfficientNetB3"])
def test_efficientnet_b1_to_b3_have_keras_layers(files, application):
    """Keras's architectures (stored as JSON only): the same layers with weights, in the same order, with the
    same weight shapes (depth and width scaling rounded as Keras rounds them)."""
    folder, ref = files
    with open(folder / f"{application}.json") as f:
        keras_model = nc.models.model_from_json(f.read())
    ours = getattr(nc.applications, application)(input_shape=(32, 32, 3), classes=10)
    assert _weighted_names(ours) == _weighted_names(keras_model)
    assert [w.shape for w in ours.weights] == [w.shape for w in keras_model.weights]
    assert ours.count_params() == keras_model.count_params() == int(ref[f"{application}_count_params"])


@pytest.mark.parametrize("application, minimalistic", sorted(KERAS_COUNTS))
def test_parameter_counts_are_keras(application, minimalistic):
    kwargs = {"minimalistic": True} if minimalistic else {}
    model = getattr(nc.applications, application)(input_shape=(32, 32, 3), classes=10, **kwargs)
    assert (model.count_params(), len(model.weights)) == KERAS_COUNTS[(application, minimalistic)]


def test_arguments_and_refusals():
    b0 = nc.applications.EfficientNetB0(include_top=False, pooling="max", input_shape=(32, 32, 3))
    assert b0.output.shape == (None, 1280)
    assert [w.name for w in b0.get_layer("normalization").weights] == ["mean", "variance", "count"]
    assert b0.get_layer("block2b_drop").noise_shape == (None, 1, 1, 1)
    assert nc.applications.EfficientNetB0(input_shape=(64, 48, 3), include_top=False).output.shape == (
        None, 2, 2, 1280)
    small = nc.applications.MobileNetV3Small(include_top=False, pooling="avg", input_shape=(32, 32, 3),
                                             include_preprocessing=False)
    assert small.output.shape == (None, 576)
    assert not any(type(la).__name__ == "Rescaling" and la.offset == -1.0 for la in small.layers)
    for build in (nc.applications.EfficientNetB1, nc.applications.MobileNetV3Large):
        with pytest.raises(ValueError, match="does not download"):
            build(weights="imagenet")
        with pytest.raises(ValueError, match="at least 32x32"):
            build(input_shape=(16, 16, 3))
        with pytest.raises(ValueError, match="pooling"):
            build(include_top=False, pooling="sum", input_shape=(32, 32, 3))


def test_keras_constant_operations_are_rescaling_layers():
    """Keras 3 writes ``x + 3.0`` and ``x * (1 / 6)`` as operation nodes; numbacnn reads them as Rescaling."""
    inputs = {"module": "keras.layers", "class_name": "InputLayer", "name": "input_layer",
              "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "input_layer"},
              "inbound_nodes": []}

    def tensor(name):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": [None, 4], "dtype": "float32", "keras_history": [name, 0, 0]}}

    def op(class_name, name, args):
        return {"module": "keras.src.ops.numpy", "class_name": class_name, "config": {"name": name},
                "registered_name": class_name, "name": name, "inbound_nodes": [{"args": args, "kwargs": {}}]}

    layers = [inputs, op("Add", "add", [tensor("input_layer"), 3.0]),
              op("Subtract", "subtract", [1.0, tensor("add")]),
              op("Multiply", "multiply", [tensor("subtract"), 0.5])]
    config = {"class_name": "Functional", "config": {"name": "f", "layers": layers,
                                                      "input_layers": ["input_layer", 0, 0],
                                                      "output_layers": ["multiply", 0, 0]}}
    model = nc.models.model_from_json(json.dumps(config))
    x = np.array([[0.0, 1.0, -2.0, 4.5]], np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), (1.0 - (x + 3.0)) * 0.5)
    layers[1] = op("Power", "add", [tensor("input_layer"), 2.0])
    with pytest.raises(ValueError, match="Power"):
        nc.models.model_from_json(json.dumps(config))
