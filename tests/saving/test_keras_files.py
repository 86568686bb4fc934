"""Files written by real Keras 3 load in numbacnn, numbacnn writes Keras's structure, and real Keras read
numbacnn's files (recorded by tests/data/make_keras_saving_fixtures.py in keras_reads_numbacnn.json)."""

import json
import os

import h5py
import numpy as np
import pytest

from numbacnn.models import load_model, model_from_json

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "keras_saving")
REF = np.load(os.path.join(HERE, "reference.npz"))
CASES = ["a", "b", "c", "d", "e", "f", "g", "h"]


def take(key):
    """An array of the reference, or the list stored as key/0, key/1, ... (several inputs or outputs)."""
    if key in REF:
        return REF[key]
    return [REF[f"{key}/{i}"] for i in range(sum(k.startswith(key + "/") for k in REF.files))]


def assert_predicts(model, case, **tol):
    pred, expected = model.predict(take(f"{case}/x")), take(f"{case}/pred")
    for p, e in (zip(pred, expected) if isinstance(expected, list) else [(pred, expected)]):
        np.testing.assert_allclose(p, e, **(tol or {"atol": 2e-6, "rtol": 1e-5}))


def keras_file(name):
    return os.path.join(HERE, name)


def from_keras_json(case):
    with open(keras_file(f"{case}.json")) as f:
        return model_from_json(f.read())


@pytest.mark.parametrize("case", CASES)
def test_keras_json_and_weights_h5(case):
    model = from_keras_json(case)
    assert model.count_params() == REF[f"{case}/count_params"]
    model.load_weights(keras_file(f"{case}.weights.h5"))
    assert_predicts(model, case)


@pytest.mark.parametrize("case", CASES)
def test_keras_dot_keras_files(case):
    model = load_model(keras_file(f"{case}.keras"))
    assert model.count_params() == REF[f"{case}/count_params"]
    assert_predicts(model, case)


@pytest.mark.parametrize("case", ["a", "e"])
def test_keras_whole_model_h5(case):
    model = load_model(keras_file(f"{case}.h5"))
    assert_predicts(model, case)
    again = from_keras_json(case)
    again.load_weights(keras_file(f"{case}.h5"))  # the Keras 2 weights layout under /model_weights
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(a.value, b.value)


def test_keras_optimizer_state_goes_on_training_like_keras():
    """e.h5 was saved by Keras after two Adam steps; Keras's own next step is the reference."""
    model = load_model(keras_file("e.h5"))
    assert type(model.optimizer).__name__ == "Adam" and model.metrics_names == ["loss", "accuracy"]
    assert model.optimizer.iterations == REF["e/iterations"] == 2
    loss = model.train_on_batch(REF["e/x_next"], REF["e/y_next"])[0]
    np.testing.assert_allclose(loss, REF["e/loss_next"], rtol=1e-5)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, REF[f"e/new_w{i}"], atol=1e-5)


def test_keras_weights_h5_optimizer_state():
    model = from_keras_json("e")  # Keras's JSON carries its compile_config: compiled here too
    assert not model.optimizer.built
    model.load_weights(keras_file("e.weights.h5"))
    assert model.optimizer.iterations == 2
    loss = model.train_on_batch(REF["e/x_next"], REF["e/y_next"])[0]
    np.testing.assert_allclose(loss, REF["e/loss_next"], rtol=1e-5)


def structure(path, with_optimizer=True):
    """{path: shape or attrs} of a Keras 3 weights file, dtypes aside."""
    found = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if not with_optimizer and name.startswith("optimizer"):
                return
            found[name] = obj.shape if isinstance(obj, h5py.Dataset) else dict(obj.attrs)
        f.visititems(visit)
    return found


@pytest.mark.parametrize("case", CASES)
def test_numbacnn_writes_the_structure_keras_writes(tmp_path, case):
    model = from_keras_json(case)
    if case == "e":
        model.optimizer.build(model.trainable_weights)
    model.save_weights(tmp_path / "w.weights.h5")
    assert structure(tmp_path / "w.weights.h5") == structure(keras_file(f"{case}.weights.h5"))


def layer_shapes(group):
    """{layer name: [weight shapes]} of a Keras 2 weights layout, whatever the weight names."""
    out = {}
    for name in group.attrs["layer_names"]:
        out[name] = [group[name][w].shape for w in group[name].attrs["weight_names"]]
    return out


def test_numbacnn_whole_model_file_matches_keras(tmp_path):
    model = load_model(keras_file("e.h5"))
    model.save(tmp_path / "e.h5")
    with h5py.File(tmp_path / "e.h5", "r") as ours, h5py.File(keras_file("e.h5"), "r") as theirs:
        assert set(ours.attrs) == set(theirs.attrs) == {"backend", "keras_version", "model_config",
                                                         "training_config"}
        assert layer_shapes(ours["model_weights"]) == layer_shapes(theirs["model_weights"])
        shapes = [[f["optimizer_weights"][n].shape for n in f["optimizer_weights"].attrs["weight_names"]]
                  for f in (ours, theirs)]
        assert shapes[0] == shapes[1]
        ours_config, theirs_config = (json.loads(f.attrs["model_config"]) for f in (ours, theirs))
        assert [la["class_name"] for la in ours_config["config"]["layers"]] == [
            la["class_name"] for la in theirs_config["config"]["layers"]]


def test_keras_read_numbacnn_files():
    with open(keras_file("keras_reads_numbacnn.json")) as f:
        record = json.load(f)
    files = record["files"]
    assert len(files) == 4 * len(CASES) + 1
    for name, result in files.items():
        assert result["loaded"], f"Keras {record['keras_version']} could not load {name}: {result['error']}"
        if result["max_abs_diff"] is not None:
            assert result["max_abs_diff"] < 1e-5, name
    state = files["e.weights.h5 optimizer state"]
    assert state["iterations"] == state["numbacnn_iterations"] and state["next_loss_abs_diff"] < 1e-5
