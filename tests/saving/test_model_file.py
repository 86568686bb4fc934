"""model.save / load_model: one HDF5 file with architecture, weights, compile settings, optimizer state."""

import json

import h5py
import numpy as np
import pytest
from saving_models import nested_functional, small_cnn

from numbacnn import backend, optimizers
from numbacnn.models import load_model
from numbacnn.saving import SaveFileError


def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def trained(data, optimizer="adam", dropout=0.0, steps=3):
    x, y = data
    model = small_cnn(dropout=dropout)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for i in range(steps):
        model.train_on_batch(x[4 * i:4 * i + 4], y[4 * i:4 * i + 4])
    return model


def test_everything_comes_back(tmp_path, data):
    model = trained(data)
    model.save(tmp_path / "m.h5")
    copy = load_model(tmp_path / "m.h5")
    assert summary_text(copy) == summary_text(model)
    for a, b in zip(model.weights, copy.weights):
        np.testing.assert_array_equal(a.value, b.value)
    assert type(copy.optimizer) is optimizers.Adam
    assert copy.optimizer.get_config() == model.optimizer.get_config()
    assert type(copy.loss_fn) is type(model.loss_fn) and copy.metrics_names == ["loss", "accuracy"]
    assert copy.optimizer.iterations == 3
    for a, b in zip(model.optimizer.variables, copy.optimizer.variables):
        np.testing.assert_array_equal(a, b)


OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.05),
    "sgd_nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(0.01),
    "adam_amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "rmsprop_centered": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.05),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_next_batch_after_loading_equals_going_on(tmp_path, data, name):
    """Same next-batch loss and the same weights after it: the optimizer state is complete."""
    x, y = data
    model = trained(data, OPTIMIZERS[name]())
    model.save(tmp_path / "m.h5")
    copy = load_model(tmp_path / "m.h5")
    assert copy.train_on_batch(x[12:], y[12:]) == model.train_on_batch(x[12:], y[12:])
    for a, b in zip(model.weights, copy.weights):
        np.testing.assert_array_equal(a.value, b.value)
    assert copy.optimizer.iterations == model.optimizer.iterations == 4


def test_resume_after_load_equals_uninterrupted_fit(tmp_path, data):
    """fit 1 epoch, save, fit 2 more == load, fit the 2 epochs (same seed state and data order)."""
    x, y = data
    backend.seed(7)
    model = small_cnn(dropout=0.25)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "epoch1.h5")
    state = backend.rng().bit_generator.state
    straight = model.fit(x, y, batch_size=4, epochs=3, initial_epoch=1, verbose=0)

    resumed_model = load_model(tmp_path / "epoch1.h5")  # (building it draws initial weights)
    backend.rng().bit_generator.state = state
    resumed = resumed_model.fit(x, y, batch_size=4, epochs=3, initial_epoch=1, verbose=0)
    assert resumed.epoch == straight.epoch == [1, 2]
    assert resumed.history == straight.history
    for a, b in zip(model.weights, resumed_model.weights):
        np.testing.assert_array_equal(a.value, b.value)


def test_whole_model_layout(tmp_path, data):
    model = trained(data)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert sorted(f) == ["model_weights", "optimizer_weights"]
        assert f.attrs["backend"] == "numbacnn"
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Sequential" and set(config) == {"class_name", "config"}
        assert set(config["config"]["layers"][1]) == {"class_name", "config"}
        training = json.loads(f.attrs["training_config"])
        assert training["loss"] == "sparse_categorical_crossentropy" and training["metrics"] == ["accuracy"]
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert training["optimizer_config"]["config"]["learning_rate"] == 0.001
        weights = f["model_weights"]
        assert list(weights.attrs["layer_names"]) == [la.name for la in model.layers]
        assert list(weights["conv2d"].attrs["weight_names"]) == ["conv2d/kernel:0", "conv2d/bias:0"]
        assert weights["conv2d/conv2d/kernel:0"].shape == (3, 3, 1, 4)
        names = list(f["optimizer_weights"].attrs["weight_names"])
        assert names[:4] == ["adam/iteration", "adam/learning_rate", "adam/conv2d_kernel_momentum",
                             "adam/conv2d_kernel_velocity"]
        assert len(names) == 2 + 2 * len(model.trainable_weights)
        assert f["optimizer_weights/adam/iteration"][()] == 3


def test_uncompiled_and_functional_models(tmp_path):
    model = nested_functional()
    model.save(tmp_path / "f.h5")
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    copy = load_model(tmp_path / "f.h5")
    assert copy.optimizer is None and summary_text(copy) == summary_text(model)
    x = np.ones((2, 5), "float32")
    np.testing.assert_array_equal(copy.predict(x), model.predict(x))


def test_compile_false_and_include_optimizer_false(tmp_path, data):
    model = trained(data)
    model.save(tmp_path / "m.h5", include_optimizer=False)
    copy = load_model(tmp_path / "m.h5")
    assert copy.optimizer is not None and not copy.optimizer.built and copy.optimizer.iterations == 0
    assert load_model(tmp_path / "m.h5", compile=False).optimizer is None


def test_errors_name_the_file(tmp_path, data):
    model = trained(data)
    model.save_weights(tmp_path / "w.h5")
    with pytest.raises(SaveFileError, match=rf"^{tmp_path / 'w.h5'}: no model_config attribute"):
        load_model(tmp_path / "w.h5")
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        f.attrs["model_config"] = b'{"class_name": "Sequential", "config": '
    with pytest.raises(SaveFileError, match=rf"^{tmp_path / 'm.h5'}: the model_config attribute is not"):
        load_model(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"must end in \.keras \(Keras 3's format\) or \.h5"):
        model.save(tmp_path / "m.model")


def test_a_config_naming_unknown_code_is_refused_not_run(tmp_path, data):
    model = trained(data)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][1] = {"class_name": "Lambda", "module": "os",
                                         "config": {"function": "os.system('echo hacked')"}}
        f.attrs["model_config"] = json.dumps(config).encode()
    with pytest.raises(SaveFileError, match="cannot be rebuilt: .*Lambda layer.*never runs code"):
        load_model(tmp_path / "m.h5")


def test_optimizer_state_that_does_not_fit_warns_and_starts_afresh(tmp_path, data):
    model = trained(data)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        config = json.loads(f.attrs["model_config"])
        for entry in config["config"]["layers"]:
            if entry["class_name"] == "Conv2D":
                entry["config"]["trainable"] = False
        f.attrs["model_config"] = json.dumps(config).encode()
    with pytest.warns(UserWarning, match="the optimizer starts afresh, its saved state does not fit: the "
                                         "file holds 18 optimizer variables, optimizer 'adam' has 14"):
        copy = load_model(tmp_path / "m.h5")
    assert copy.optimizer.iterations == 0
