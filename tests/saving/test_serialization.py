"""to_json / model_from_json / get_config / from_config: Keras 3's form written, Keras 3's and 2's read."""

import json

import numpy as np
import pytest
from saving_models import LAYER_CASES, cnn_2d, nested_functional, one_layer_model

from numbacnn import layers as L
from numbacnn.models import Model, Sequential, model_from_json


def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


BUILDERS = [cnn_2d, nested_functional] + [lambda c=c: one_layer_model(c) for c in LAYER_CASES]


@pytest.mark.parametrize("build", BUILDERS, ids=["cnn_2d", "nested_functional"] + [c[0] for c in LAYER_CASES])
def test_round_trip_rebuilds_the_same_architecture(build):
    model = build()
    text = model.to_json()
    copy = model_from_json(text)
    assert type(copy) is type(model)
    assert summary_text(copy) == summary_text(model)
    assert copy.count_params() == model.count_params()
    assert copy.to_json() == text
    assert [type(la) for la in copy.layers] == [type(la) for la in model.layers]


def test_keras3_form_of_a_sequential():
    model = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.Flatten(), L.Dense(2)], name="seq")
    doc = json.loads(model.to_json())
    assert {k: doc[k] for k in ("module", "class_name", "registered_name", "backend")} == {
        "module": "keras", "class_name": "Sequential", "registered_name": None, "backend": "numbacnn"}
    assert doc["build_config"] == {"input_shape": [None, 5, 5, 1]}
    assert "compile_config" not in doc and isinstance(doc["keras_version"], str)
    config = doc["config"]
    assert config["name"] == "seq" and config["build_input_shape"] == [None, 5, 5, 1]
    first, conv, flatten = config["layers"][:3]
    assert first == {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                     "config": {"batch_shape": [None, 5, 5, 1], "dtype": "float32", "sparse": False,
                                "name": "input_layer"}}
    assert conv["build_config"] == {"input_shape": [None, 5, 5, 1]} and conv["config"]["filters"] == 2
    assert conv["config"]["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert "build_config" not in flatten


def test_keras3_form_of_a_functional_model_with_a_shared_layer():
    doc = json.loads(nested_functional().to_json())
    assert (doc["module"], doc["class_name"], doc["registered_name"]) == (
        "keras.src.models.functional", "Functional", "Functional")
    config = doc["config"]
    assert config["input_layers"] == ["features", 0, 0]
    assert config["output_layers"] == ["dense_1", 0, 0]
    by_name = {entry["name"]: entry for entry in config["layers"]}
    assert by_name["features"]["inbound_nodes"] == []
    shared = by_name["shared"]["inbound_nodes"]
    histories = [node["args"][0]["config"]["keras_history"] for node in shared]
    assert histories == [["dense", 0, 0], ["shared", 0, 0]]
    inner = by_name["inner"]
    assert inner["class_name"] == "Sequential" and inner["inbound_nodes"][0]["args"][0]["config"] == {
        "shape": [None, 4], "dtype": "float32", "keras_history": ["shared", 1, 0]}
    assert [la["class_name"] for la in inner["config"]["layers"]] == ["InputLayer", "Dense",
                                                                      "BatchNormalization"]


def test_rebuilt_functional_model_computes_the_same():
    model = nested_functional()
    copy = model_from_json(model.to_json())
    copy.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    np.testing.assert_array_equal(copy.predict(x), model.predict(x))
    assert copy.get_layer("shared") is copy.layers[2]
    assert len([n for n in copy._nodes if n.layer is copy.get_layer("shared")]) == 2


def test_get_config_and_from_config():
    model = cnn_2d()
    config = model.get_config()
    assert [e["class_name"] for e in config["layers"]][:3] == ["InputLayer", "ZeroPadding2D", "Conv2D"]
    copy = Sequential.from_config(config)
    assert summary_text(copy) == summary_text(model)
    functional = nested_functional()
    assert summary_text(Model.from_config(functional.get_config())) == summary_text(functional)


def test_compiled_model_json_carries_compile_config_and_is_compiled_again():
    model = Sequential([L.Dense(3, input_shape=(4,))])
    model.compile(optimizer=nc_adam(), loss="mse", metrics=["mae"])
    doc = json.loads(model.to_json())
    assert doc["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert doc["compile_config"]["loss"] == "mse" and doc["compile_config"]["metrics"] == ["mae"]
    copy = model_from_json(model.to_json())
    assert type(copy.optimizer).__name__ == "Adam" and copy.optimizer.learning_rate == 0.02
    assert copy.metrics_names == ["loss", "mae"]


def nc_adam():
    from numbacnn.optimizers import Adam

    return Adam(learning_rate=0.02)


KERAS2_JSON = json.dumps({
    "class_name": "Sequential",
    "config": {"name": "sequential_1", "layers": [
        {"class_name": "Conv2D", "config": {
            "name": "conv2d_1", "trainable": True, "batch_input_shape": [None, 8, 8, 1], "dtype": "float32",
            "filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
            "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "relu", "use_bias": True,
            "kernel_initializer": {"class_name": "VarianceScaling",
                                   "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform",
                                              "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
            "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None}},
        {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d_1", "trainable": True,
                                                  "pool_size": [2, 2], "padding": "valid", "strides": [2, 2],
                                                  "data_format": "channels_last"}},
        {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "rate": 0.25,
                                             "noise_shape": None, "seed": None}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True,
                                             "data_format": "channels_last"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "trainable": False, "units": 10,
                                           "activation": "softmax", "use_bias": True,
                                           "kernel_initializer": {"class_name": "GlorotUniform",
                                                                  "config": {"seed": None}},
                                           "bias_initializer": {"class_name": "Zeros", "config": {}}}},
    ]},
    "keras_version": "2.2.4", "backend": "tensorflow"})


def test_reads_keras2_json():
    model = model_from_json(KERAS2_JSON)
    assert model.name == "sequential_1"
    assert [la.name for la in model.layers] == ["conv2d_1", "max_pooling2d_1", "dropout_1", "flatten_1",
                                                "dense_1"]
    assert model.output_shape == (None, 10)
    assert model.count_params() == 40 + 36 * 10 + 10
    assert model.layers[-1].trainable is False


def test_reads_keras2_functional_json_and_bare_layer_lists():
    doc = {"class_name": "Model", "config": {
        "name": "model_1",
        "layers": [
            {"name": "input_1", "class_name": "InputLayer",
             "config": {"batch_input_shape": [None, 3], "dtype": "float32", "sparse": False,
                        "name": "input_1"},
             "inbound_nodes": []},
            {"name": "dense_1", "class_name": "Dense", "config": {"name": "dense_1", "units": 2},
             "inbound_nodes": [[["input_1", 0, 0, {}]]]},
            {"name": "dense_2", "class_name": "Dense", "config": {"name": "dense_2", "units": 2},
             "inbound_nodes": [[["dense_1", 0, 0, {}]], [["dense_2", 0, 0, {}]]]},
        ],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["dense_2", 1, 0]]}}
    model = model_from_json(json.dumps(doc))
    assert [la.name for la in model.layers] == ["input_1", "dense_1", "dense_2"]
    assert model.count_params() == 8 + 6
    bare = {"class_name": "Sequential", "config": [
        {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [None, 4]}}]}
    assert model_from_json(json.dumps(bare)).output_shape == (None, 2)


def test_unknown_class_names_the_way_out():
    doc = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {}}]}}
    with pytest.raises(ValueError, match=r"Lambda layer.*never runs code.*custom_objects=\{'Lambda'"):
        model_from_json(json.dumps(doc))


def test_custom_objects():
    class Scaled(L.Dense):
        pass

    doc = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3]}},
        {"class_name": "MyScaled", "config": {"name": "s", "units": 2}}]}}
    model = model_from_json(json.dumps(doc), custom_objects={"MyScaled": Scaled})
    assert isinstance(model.layers[0], Scaled)


def test_keras_only_options_dropped_when_inert_refused_otherwise():
    entry = {"class_name": "BatchNormalization",
             "config": {"name": "bn", "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
                        "synchronized": False}}
    doc = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer",
         "config": {"batch_shape": [None, 3], "ragged": False, "optional": False}},
        entry]}}
    assert model_from_json(json.dumps(doc)).count_params() == 12
    entry["config"]["renorm"] = True
    with pytest.raises(ValueError, match=r'Layer "bn" \(BatchNormalization\): numbacnn\'s BatchNormalization '
                                         r"has no option 'renorm' \(the config sets renorm=True\)"):
        model_from_json(json.dumps(doc))


def test_incomplete_functional_config():
    doc = json.loads(nested_functional().to_json())
    del doc["config"]["input_layers"]
    with pytest.raises(ValueError, match="not a complete model architecture .KeyError: 'input_layers'"):
        model_from_json(json.dumps(doc))


def test_not_json_and_not_a_model():
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_json("{nope")
    with pytest.raises(ValueError, match="Expected a Sequential or functional model config, received 'Dense"):
        model_from_json(json.dumps({"class_name": "Dense", "config": {"units": 2}}))
