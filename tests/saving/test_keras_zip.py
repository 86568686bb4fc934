"""``.keras`` files (Keras 3's zip): numbacnn's own round trip, and what reading refuses."""

import json
import zipfile

import numpy as np
import pytest

import numbacnn as keras
from numbacnn import layers
from numbacnn.saving import SaveFileError


def small_model():
    keras.utils.set_random_seed(0)
    a, b = keras.Input((6, 6, 1), name="img"), keras.Input((3,), name="vec")
    h = layers.Flatten()(layers.Conv2D(2, 3, activation="relu")(a))
    model = keras.Model([a, b], [layers.Dense(2, activation="softmax", name="cls")(h),
                                 layers.Dense(1, name="reg")(b)])
    model.compile("adam", loss=["sparse_categorical_crossentropy", "mse"], metrics={"cls": "accuracy"})
    return model


def test_keras_file_round_trip_keeps_graph_weights_compile_and_optimizer(tmp_path):
    model = small_model()
    rng = np.random.default_rng(0)
    x = [rng.random((4, 6, 6, 1), dtype=np.float32), rng.random((4, 3), dtype=np.float32)]
    y = [np.array([0, 1, 1, 0]), rng.random((4, 1), dtype=np.float32)]
    model.train_on_batch(x, y)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(z.read("config.json"))
        assert config["class_name"] == "Functional" and "compile_config" in config
    copy = keras.models.load_model(path)
    assert copy.output_names == ["cls", "reg"] and copy.metrics_names == model.metrics_names
    for a, b in zip(model.predict(x), copy.predict(x)):
        np.testing.assert_array_equal(a, b)
    assert copy.optimizer.iterations == model.optimizer.iterations
    np.testing.assert_array_equal(model.train_on_batch(x, y), copy.train_on_batch(x, y))


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_lambda_and_oversized_members_are_refused(tmp_path):
    lam = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 2]}},
        {"class_name": "Lambda", "config": {"name": "l", "function": "gAN9cQAu"}}]}}
    path = tmp_path / "lambda.keras"
    _zip(path, {"metadata.json": "{}", "config.json": json.dumps(lam), "model.weights.h5": b""})
    with pytest.raises(SaveFileError, match="Lambda.*never runs code"):
        keras.models.load_model(path)
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", b" " * (65 * 2 ** 20))
    with pytest.raises(SaveFileError, match="declares .* bytes"):
        keras.models.load_model(bomb)


def test_a_missing_keras_name_names_the_nearest():
    with pytest.raises(AttributeError, match="nearest it has: Sequential"):
        keras.Sequental  # noqa: B018
    with pytest.raises(AttributeError, match="numbacnn.optimizers has no 'Adamm'.*Adam"):
        keras.optimizers.Adamm  # noqa: B018
    assert keras.backend.image_data_format() == "channels_last" and keras.config.floatx() == "float32"
    assert keras.Sequential is keras.models.Sequential and keras.Input is layers.Input
