"""compile / fit / evaluate / predict, the stepped Trainer, Ctrl-C, NaN, determinism."""

import os
import signal

import numpy as np
import pytest

from numbacnn import utils
from numbacnn.callbacks import Callback, EarlyStopping, LambdaCallback, TerminateOnNaN
from numbacnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from numbacnn.models import NonFiniteLossError, Sequential
from numbacnn.optimizers import SGD, Adam


def blobs(n=96, seed=0):
    """Three well separated Gaussian blobs in 4-D, labels 0..2."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centers = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    x = centers[y] + 0.3 * rng.standard_normal((n, 4)).astype(np.float32)
    return x, y


def mlp(optimizer="adam"):
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def tiny_images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.standard_normal((n, 6, 6, 1)).astype(np.float32) * 0.1
    x[y == 1, :3, :, 0] += 1.0  # class 1 is bright on top
    return x, y


def test_fit_drives_the_loss_down_and_fills_history():
    x, y = blobs()
    model = mlp(Adam(learning_rate=0.05))
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    assert history.epoch == list(range(6))
    assert history.params == {"verbose": 0, "epochs": 6, "steps": 6}
    assert set(history.history) == {"loss", "accuracy"}
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9 and loss < history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"loss": loss, "accuracy": acc}
    probs = model.predict(x, batch_size=7, verbose=0)
    assert probs.shape == (len(x), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_cnn_fit_on_images_learns():
    x, y = tiny_images()
    model = Sequential([Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)), MaxPooling2D(),
                        Flatten(), Dense(2, activation="softmax")])
    model.compile(optimizer=Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert history.history["accuracy"][-1] == 1.0


def test_validation_split_takes_the_last_samples_before_shuffling():
    x, y = blobs(100)
    model = mlp()
    history = model.fit(x, y, epochs=1, batch_size=10, validation_split=0.2, verbose=0)
    assert history.params["steps"] == 8  # 80 training samples
    val_loss, val_acc = model.evaluate(x[80:], y[80:], verbose=0)
    assert history.history["val_loss"] == [pytest.approx(val_loss, rel=1e-6)]
    assert history.history["val_accuracy"] == [pytest.approx(val_acc)]


def test_validation_data_and_bad_split():
    x, y = blobs()
    model = mlp()
    history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x[:10], y[:10]))
    assert len(history.history["val_loss"]) == 2
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 1\)"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="x has 96 samples and y has 95"):
        model.fit(x, y[:-1], verbose=0)


def test_early_stopping_restores_the_best_weights():
    x, y = blobs()
    model = mlp(SGD(learning_rate=0.5))
    seen = {}

    def remember(epoch, logs):
        seen[epoch] = (logs["val_loss"], model.get_weights())

    # validation labels are shifted, so the better the model learns, the worse val_loss gets
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0, validation_data=(x, (y + 1) % 3),
                        callbacks=[LambdaCallback(on_epoch_end=remember), stop])
    assert len(history.epoch) < 30
    assert stop.stopped_epoch == history.epoch[-1]
    best_epoch = min(seen, key=lambda e: seen[e][0])
    assert best_epoch < history.epoch[-1]
    for got, want in zip(model.get_weights(), seen[best_epoch][1]):
        np.testing.assert_array_equal(got, want)


def test_same_seed_gives_bit_identical_weights():
    def run():
        utils.set_random_seed(42)
        x, y = tiny_images()
        model = Sequential([Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)), Flatten(),
                            Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=5, verbose=0)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_weights():
    x, y = blobs(40)
    x[25] = np.nan  # sample 25 lies in the 3rd batch of 10 (no shuffling)
    model = mlp()
    before = None

    def keep(batch, logs):
        nonlocal before
        before = model.get_weights()

    with pytest.raises(NonFiniteLossError, match="at epoch 1, batch 3"):
        model.fit(x, y, batch_size=10, shuffle=False, verbose=0,
                  callbacks=[LambdaCallback(on_train_batch_end=keep)])
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_terminate_on_nan_stops_quietly():
    x, y = blobs(40)
    x[25] = np.nan
    model = mlp()
    history = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(history.epoch) == 1
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_ctrl_c_stops_after_the_current_batch_and_leaves_a_usable_model(capsys):
    x, y = blobs(100)
    model = mlp()
    batches = []
    # the handler fit() found: Python's default one, or SIG_IGN in a process started in the background
    handler_before = signal.getsignal(signal.SIGINT)

    class PressCtrlC(Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if len(batches) == 3:
                os.kill(os.getpid(), signal.SIGINT)

    history = model.fit(x, y, epochs=5, batch_size=10, verbose=0, callbacks=[PressCtrlC()])
    assert len(batches) == 3
    assert history.epoch == []  # no epoch finished
    assert "Training interrupted at epoch 1, after batch 3" in capsys.readouterr().err
    assert np.isfinite(model.predict(x[:4], verbose=0)).all()
    assert signal.getsignal(signal.SIGINT) is handler_before  # fit() put it back
    # training can continue from there
    assert len(model.fit(x, y, epochs=1, verbose=0).epoch) == 1


def test_trainer_steps_one_batch_at_a_time_and_exposes_its_state():
    x, y = tiny_images(20)
    model = Sequential([Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)), Flatten(),
                        Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    trainer = model.make_trainer(x, y, batch_size=8, epochs=2, validation_split=0.2)
    ends = []
    trainer.on_epoch_end.append(lambda tr, logs: ends.append(dict(logs)))
    logs = trainer.step()
    assert (trainer.epoch, trainer.batch) == (0, 1)
    assert set(logs) == {"loss", "accuracy"}
    grads = trainer.gradients()
    assert set(grads) == {"conv2d/kernel", "conv2d/bias", "dense/kernel", "dense/bias"}
    assert np.abs(grads["conv2d/kernel"]).sum() > 0
    acts = trainer.activations(x[:1])
    assert [name for name, _ in acts] == ["conv2d", "flatten", "dense"]
    assert acts[0][1].shape == (1, 4, 4, 2)
    trainer.step()  # 16 training samples -> 2 steps per epoch; this ends epoch 1
    assert (trainer.epoch, trainer.batch) == (1, 0)
    assert set(ends[0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    trainer.run_epoch()
    assert trainer.finished
    assert len(trainer.history.history["loss"]) == 2
    with pytest.raises(RuntimeError, match="training is finished"):
        trainer.step()


def test_train_and_test_on_batch_and_uncompiled_errors():
    x, y = blobs(16)
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    with pytest.raises(RuntimeError, match="must be compiled"):
        model.fit(x, y)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert model.test_on_batch(x, y, return_dict=True).keys() == {"loss", "accuracy"}


def test_predict_on_batch_is_one_forward_pass_and_checks_its_input(monkeypatch):
    """Keras's predict_on_batch: the whole array as one batch (40 > predict's default 32), the same
    outputs as predict, uncompiled too; a wrong shape names the layer and both shapes."""
    x, _ = blobs(40)
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: calls.append(a[0][0].shape) or forward(*a, **k))
    out = model.predict_on_batch(x)
    assert calls == [(40, 4)] and out.shape == (40, 3) and isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, model.predict(x, batch_size=40, verbose=0))
    wrong = r'layer "dense.*expected input shape \(None, 4\), received \(2, 5\)'
    with pytest.raises(ValueError, match=wrong):
        model.predict_on_batch(np.zeros((2, 5), np.float32))


def test_nb_epoch_is_accepted_with_a_warning():
    x, y = blobs(16)
    model = mlp()
    with pytest.warns(DeprecationWarning, match="nb_epoch"):
        history = model.fit(x, y, nb_epoch=2, verbose=0)
    assert history.epoch == [0, 1]


def test_labels_out_of_range_are_refused_before_training():
    x, y = blobs(16)
    y[3] = 7
    model = mlp()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r'output of layer "dense_1" \(Dense\), output shape \(None, 3\), '
                                         r"targets shape \(16,\).*labels must be in \[0, 3\).*7"):
        model.fit(x, y, verbose=0)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"output shape \(None, 3\), targets shape \(16, 4\)"):
        model.compile("sgd", "categorical_crossentropy")
        model.evaluate(x, np.zeros((16, 4)), verbose=0)


def test_verbose_progress_output(capsys):
    x, y = blobs(32)
    model = mlp()
    model.fit(x, y, epochs=2, batch_size=16, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "loss:" in out and "accuracy:" in out
