"""ModelCheckpoint (Keras's file naming, best-only, weights-only, batch frequency) and fit(initial_epoch=)."""

import os

import h5py
import numpy as np
import pytest
from saving_models import small_cnn

from numbacnn.callbacks import Callback, ModelCheckpoint
from numbacnn.models import load_model


def compiled():
    model = small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, data, callbacks, epochs=3, **kwargs):
    x, y = data
    return model.fit(x, y, batch_size=4, epochs=epochs, validation_data=(x[:8], y[:8]), callbacks=callbacks,
                     verbose=0, **kwargs)


def test_every_epoch_with_keras_file_names(tmp_path, data):
    model = compiled()
    history = fit(model, data, [ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.h5"))])
    names = sorted(os.listdir(tmp_path))
    expected = [f"ckpt-{e + 1:02d}-{v:.2f}.h5" for e, v in zip(history.epoch, history.history["val_loss"])]
    assert names == expected and names[0].startswith("ckpt-01-")
    last = load_model(tmp_path / names[-1])
    for a, b in zip(model.weights, last.weights):
        np.testing.assert_array_equal(a.value, b.value)
    assert last.optimizer.iterations == model.optimizer.iterations == 12


class Losses(Callback):
    def __init__(self):
        super().__init__()
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        self.values.append(logs["val_accuracy"])


def test_save_best_only_max_mode_and_messages(tmp_path, data, capsys):
    path = tmp_path / "best.weights.h5"
    saves = []
    checkpoint = ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True, save_weights_only=True,
                                 verbose=1)
    seen = Losses()
    model = compiled()
    model.save_weights = lambda p, overwrite=True, _save=model.save_weights: (saves.append(p), _save(p))
    fit(model, data, [seen, checkpoint], epochs=4)
    best = [v for i, v in enumerate(seen.values) if i == 0 or v > max(seen.values[:i])]
    assert len(saves) == len(best) and checkpoint.best == max(seen.values)
    out = capsys.readouterr().out
    assert "Epoch 1: val_accuracy improved from None to" in out
    assert out.count("saving model to") == len(best)
    with h5py.File(path, "r") as f:
        assert "layers" in f and "model_config" not in f.attrs


def test_initial_value_threshold_blocks_worse_models(tmp_path, data):
    path = tmp_path / "m.h5"
    fit(compiled(), data, [ModelCheckpoint(path, save_best_only=True, initial_value_threshold=0.0)], epochs=2)
    assert not path.exists()


def test_save_freq_in_batches(tmp_path, data):
    fit(compiled(), data, [ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.weights.h5"), save_freq=3,
                                           save_weights_only=True)], epochs=2)
    # 4 batches an epoch, counted across epochs as Keras does: the 3rd batch, then the 6th (epoch 2, batch 2)
    assert sorted(os.listdir(tmp_path)) == ["e1-b3.weights.h5", "e2-b2.weights.h5"]


def test_initial_epoch_resumes_history_and_names(tmp_path, data):
    model = compiled()
    history = fit(model, data, [ModelCheckpoint(str(tmp_path / "{epoch:02d}.h5"))], epochs=4, initial_epoch=2)
    assert history.epoch == [2, 3]
    assert sorted(os.listdir(tmp_path)) == ["03.h5", "04.h5"]


def test_resuming_from_a_checkpoint(tmp_path, data):
    model = compiled()
    fit(model, data, [ModelCheckpoint(str(tmp_path / "{epoch}.h5"))], epochs=2)
    resumed = load_model(tmp_path / "1.h5")
    history = fit(resumed, data, [ModelCheckpoint(str(tmp_path / "resumed-{epoch}.h5"))], epochs=2,
                  initial_epoch=1)
    assert history.epoch == [1] and (tmp_path / "resumed-2.h5").exists()
    assert resumed.optimizer.iterations == model.optimizer.iterations == 8


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        ModelCheckpoint("w.npz", save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `\.keras` \(Keras 3's format\) or `\.h5`"):
        ModelCheckpoint("m.ckpt")
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        ModelCheckpoint("m.h5", save_freq="batch")


def test_a_directory_path_and_a_missing_log_key(tmp_path, data):
    (tmp_path / "d.h5").mkdir()
    with pytest.raises(OSError, match="non-directory filepath"):
        fit(compiled(), data, [ModelCheckpoint(str(tmp_path / "d.h5"))], epochs=1)
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        fit(compiled(), data, [ModelCheckpoint(str(tmp_path / "{nope}.h5"))], epochs=1)
