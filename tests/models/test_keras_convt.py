"""Transposed and grouped convolutions, cropping and upsampling against real Keras 3 on TensorFlow.

The fixture (``tests/data/keras_convt.npz``, written by ``tests/data/make_keras_convt_fixtures.py``) holds a
tiny Sequential's weights, batch, prediction, loss and weights after one SGD step, and forward-only cases
of the other ranks and options; each model is rebuilt here from Keras's own JSON (``model_from_json``),
so the argument names, defaults and weight shapes and order are Keras's too.
"""

import json
import os

import numpy as np
import pytest

from numbacnn.models import model_from_json

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, "data", "keras_convt.npz")
# float32: the products run in another order than TensorFlow's (and XLA's, for the grouped convolution)
RTOL, ATOL = 2e-5, 2e-6


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _weights(ref, case, kind="w"):
    out, i = [], 0
    while f"{case}/{kind}{i}" in ref:
        out.append(ref[f"{case}/{kind}{i}"])
        i += 1
    return out


def _model(ref, case):
    model = model_from_json(str(ref[f"{case}/config"]))
    model.set_weights(_weights(ref, case))
    return model


def _close(actual, expected, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol,
                               atol=atol, err_msg=what)


def test_fixture_is_keras_on_tensorflow(ref):
    assert str(ref["backend"]) == "tensorflow"
    assert str(ref["keras_version"]).startswith("3.")


def test_train_predict_and_one_sgd_step(ref):
    from numbacnn import optimizers

    model = _model(ref, "train")
    _close(model.predict(ref["train/x"], verbose=0), ref["train/pred"], "prediction before training")
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    loss = model.train_on_batch(ref["train/x"], ref["train/y"])
    _close(np.atleast_1d(loss)[0], ref["train/loss"], "loss")
    for w, expected, name in zip(model.get_weights(), _weights(ref, "train", "new_w"),
                                 [w.path for w in model.weights]):
        _close(w, expected, f"{name} after one SGD step")


def test_summary_params_and_config_keys(ref):
    model = _model(ref, "train")
    assert [layer.count_params() for layer in model.layers] == list(ref["train/params"])
    keras_layers = json.loads(str(ref["train/config"]))["config"]["layers"][1:]
    for layer, keras_layer in zip(model.layers, keras_layers):
        assert type(layer).__name__ == keras_layer["class_name"]
        config = layer.get_config()
        assert set(config) - {"batch_input_shape"} == set(keras_layer["config"]), layer.name
        for key in ("filters", "kernel_size", "strides", "padding", "output_padding", "dilation_rate",
                    "groups", "size", "interpolation", "cropping", "data_format"):
            if key in config:
                expected = keras_layer["config"][key]
                got = json.loads(json.dumps(config[key]))
                assert got == expected, (layer.name, key)
    again = model_from_json(model.to_json())
    assert [type(a).__name__ for a in again.layers] == [type(a).__name__ for a in model.layers]
    assert [a.get_config() for a in again.layers] == [a.get_config() for a in model.layers]


@pytest.mark.parametrize("case", ["conv1dt", "conv1dt_valid", "conv3dt", "conv2dt_dilated",
                                  "conv2dt_dilated_valid", "conv1d_groups", "conv3d_groups", "bilinear_odd",
                                  "resample_1d", "resample_3d"])
def test_forward_cases(ref, case):
    model = _model(ref, f"fwd_{case}")
    _close(model.predict(ref[f"fwd_{case}/x"], verbose=0), ref[f"fwd_{case}/pred"], case)


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_weights_files_round_trip(ref, tmp_path, suffix):
    model = _model(ref, "train")
    path = str(tmp_path / f"convt{suffix}")
    model.save_weights(path)
    again = model_from_json(str(ref["train/config"]))
    again.load_weights(path)
    for a, b in zip(again.get_weights(), _weights(ref, "train")):
        np.testing.assert_array_equal(a, b)
