"""Callbacks driven by hand through a CallbackList, the way fit() drives them, on a fake model."""

import math
import re

import numpy as np
import pytest

from numbacnn.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)


class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate


class FakeModel:
    """What callbacks use of a model: stop_training, get/set_weights, optimizer.learning_rate."""

    def __init__(self, learning_rate=0.1):
        self.stop_training = False
        self.weights = [np.zeros(3), np.zeros((2, 2))]
        self.optimizer = FakeOptimizer(learning_rate)

    def get_weights(self):
        return list(self.weights)  # the live arrays, as a model without copies would hand them out

    def set_weights(self, weights):
        for w, new in zip(self.weights, weights, strict=True):
            w[...] = new


def fit(callbacks, epoch_logs, model=None, steps=2, verbose=0, batch_logs=None, end=True):
    """Mimic Model.fit: epoch e trains the weights (in place) to the value e; returns epochs run."""
    model = model or FakeModel()
    cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model, verbose=verbose,
        epochs=len(epoch_logs), steps=steps)
    model.stop_training = False
    cbs.on_train_begin()
    run = 0
    logs = {}
    for epoch, logs in enumerate(epoch_logs):
        cbs.on_epoch_begin(epoch)
        for batch in range(steps):
            cbs.on_train_batch_begin(batch)
            for w in model.weights:
                w[...] = epoch
            cbs.on_train_batch_end(batch, dict(batch_logs or logs))
        logs = dict(logs)
        cbs.on_epoch_end(epoch, logs)
        run += 1
        if model.stop_training:
            break
    if end:
        cbs.on_train_end(logs)
    return run


def losses(*values):
    return [{"loss": v, "val_loss": v} for v in values]


def accuracies(*values):
    return [{"loss": 1.0, "val_accuracy": v} for v in values]


# ----- Callback / CallbackList / History ----------------------------------------------------------


def test_callback_base_hooks_are_noops_and_batch_aliases_forward():
    calls = []

    class Old(Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, logs))

    cb = Old()
    assert cb.model is None and cb.params is None
    cb.on_train_batch_begin(3)
    cb.on_train_batch_end(3, {"loss": 1.0})
    for hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                 "on_predict_end"):
        assert getattr(Callback(), hook)({}) is None
    assert calls == [("begin", 3), ("end", 3, {"loss": 1.0})]


def test_callback_list_adds_history_and_progbar_once_and_sets_model_and_params():
    model = FakeModel()
    mine = History()
    cbs = CallbackList([mine], add_history=True, add_progbar=True, model=model, verbose=1, epochs=3, steps=5)
    assert [type(c) for c in cbs.callbacks] == [History, ProgbarLogger]
    assert cbs.callbacks[0] is mine and model.history is mine
    assert all(c.model is model for c in cbs.callbacks)
    assert mine.params == {"verbose": 1, "epochs": 3, "steps": 5}
    assert cbs.callbacks[1].epochs == 3 and cbs.callbacks[1].target == 5
    assert [type(c) for c in CallbackList(None, add_history=False, add_progbar=False).callbacks] == []


def test_callback_list_append_gives_model_params_and_history():
    model = FakeModel()
    cbs = CallbackList([], model=model, verbose=0, epochs=2, steps=1)
    history = History()
    cbs.append(history)
    assert history.model is model and model.history is history
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 1}


def test_callback_list_dispatches_every_hook_with_python_floats():
    seen = []

    class Recorder(Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                return lambda *args, **kwargs: seen.append((name, args, kwargs))
            return super().__getattribute__(name)

    cbs = CallbackList([Recorder()], model=FakeModel())
    cbs.on_test_begin()
    cbs.on_test_batch_begin(0)
    cbs.on_test_batch_end(0, {"loss": np.float32(0.5)})
    cbs.on_test_end({"loss": 0.5})
    cbs.on_predict_begin()
    cbs.on_predict_batch_begin(1)
    cbs.on_predict_batch_end(1, {"outputs": "y"})
    cbs.on_predict_end()
    cbs.on_train_batch_end(2, {"loss": np.float64(0.25), "accuracy": np.array(0.75)})
    assert [s[0] for s in seen] == [
        "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end", "on_predict_begin",
        "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end", "on_train_batch_end"]
    assert seen[2][1:] == ((0,), {"logs": {"loss": 0.5}})
    assert type(seen[2][2]["logs"]["loss"]) is float
    assert seen[6][1:] == ((1,), {"logs": {"outputs": "y"}})
    last = seen[-1][2]["logs"]
    assert last == {"loss": 0.25, "accuracy": 0.75} and all(type(v) is float for v in last.values())


def test_history_records_every_epoch():
    model = FakeModel()
    cbs = CallbackList(None, add_history=True, model=model, verbose=0, epochs=3, steps=2)
    fit(cbs, [{"loss": 3.0, "accuracy": 0.1}, {"loss": 2.0, "accuracy": 0.5}, {"loss": 1.0, "accuracy": 0.9}],
        model=model)
    history = model.history
    assert isinstance(history, History) and history.model is model
    assert history.epoch == [0, 1, 2]
    assert history.history == {"loss": [3.0, 2.0, 1.0], "accuracy": [0.1, 0.5, 0.9]}
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 2}


# ----- EarlyStopping ----------------------------------------------------------------------------


@pytest.mark.parametrize("patience, expected_epochs", [(0, 4), (1, 4), (2, 5), (5, 6)])
def test_early_stopping_patience(patience, expected_epochs):
    # Best at epoch 2, then worse: stops `patience` epochs after it (at least one epoch after it).
    logs = losses(1.0, 0.8, 0.5, 0.6, 0.7, 0.9)
    assert fit([EarlyStopping(patience=patience)], logs) == expected_epochs


def test_early_stopping_min_delta():
    logs = losses(1.0, 0.99, 0.98, 0.97, 0.96)
    assert fit([EarlyStopping(monitor="loss", patience=1)], logs) == 5
    assert fit([EarlyStopping(monitor="loss", patience=1, min_delta=0.05)], logs) == 2
    assert fit([EarlyStopping(monitor="loss", patience=1, min_delta=-0.05)], logs) == 2  # |min_delta|


@pytest.mark.parametrize("monitor", ["val_accuracy", "accuracy", "val_acc", "val_auc", "val_sparse_auc"])
def test_early_stopping_auto_mode_maximises_accuracy_and_auc(monitor):
    rising = [{monitor: v} for v in (0.1, 0.2, 0.3, 0.4)]
    falling = [{monitor: v} for v in (0.4, 0.3, 0.2, 0.1)]
    assert fit([EarlyStopping(monitor=monitor)], rising) == 4
    assert fit([EarlyStopping(monitor=monitor)], falling) == 2


def test_early_stopping_explicit_modes_and_unknown_mode():
    rising = accuracies(0.1, 0.2, 0.3, 0.4)
    assert fit([EarlyStopping(monitor="val_accuracy", mode="min")], rising) == 2
    assert fit([EarlyStopping(monitor="val_loss", mode="max")], losses(1.0, 2.0, 3.0)) == 3
    with pytest.warns(UserWarning, match="EarlyStopping mode sideways is unknown, fallback to auto mode"):
        stopper = EarlyStopping(monitor="val_accuracy", mode="sideways")
    assert stopper.mode == "auto"
    assert fit([stopper], rising) == 4


def test_early_stopping_baseline():
    # Improves at epoch 1, then not; 0.6 is never reached.
    logs = accuracies(0.5, 0.55, 0.54, 0.53, 0.52, 0.51)
    assert fit([EarlyStopping(monitor="val_accuracy", patience=3)], logs) == 5
    assert fit([EarlyStopping(monitor="val_accuracy", patience=3, baseline=0.6)], logs) == 3
    # Beating the baseline restarts the wait as usual.
    assert fit([EarlyStopping(monitor="val_accuracy", patience=3, baseline=0.52)], logs) == 5


def test_early_stopping_restore_best_weights_after_stopping(capsys):
    model = FakeModel()
    stopper = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    cbs = CallbackList([stopper], model=model, verbose=0, epochs=10, steps=1)
    assert fit(cbs, losses(1.0, 0.5, 0.7, 0.8, 0.9, 1.0), model=model, end=False) == 4
    assert model.stop_training and stopper.stopped_epoch == 3
    np.testing.assert_array_equal(model.weights[0], [3.0, 3.0, 3.0])  # not restored before train end
    cbs.on_train_end()
    assert stopper.best_epoch == 1 and stopper.best == 0.5
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(model.weights[1], np.ones((2, 2)))
    out = capsys.readouterr().out
    assert out == "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"


def test_early_stopping_restores_best_weights_when_training_completes():
    model = FakeModel()
    fit([EarlyStopping(patience=10, restore_best_weights=True)], losses(1.0, 0.2, 0.7, 0.8), model=model)
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0, 1.0])


def test_early_stopping_without_restore_keeps_last_weights():
    model = FakeModel()
    fit([EarlyStopping(patience=2)], losses(1.0, 0.5, 0.7, 0.8, 0.9), model=model)
    np.testing.assert_array_equal(model.weights[0], [3.0, 3.0, 3.0])


def test_early_stopping_missing_monitor_warns_and_never_restores():
    model = FakeModel()
    stopper = EarlyStopping(monitor="val_loss", restore_best_weights=True)
    with pytest.warns(UserWarning, match=re.escape(
            "Early stopping conditioned on metric `val_loss` which is not available. "
            "Available metrics are: loss,accuracy")):
        assert fit([stopper], [{"loss": 1.0, "accuracy": 0.5}] * 3, model=model) == 3
    assert stopper.best_weights is None
    np.testing.assert_array_equal(model.weights[0], [2.0, 2.0, 2.0])


def test_early_stopping_start_from_epoch():
    logs = losses(0.1, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert fit([EarlyStopping(patience=1)], logs) == 2
    # Epochs 0 and 1 are warm-up: the best is 0.6 at epoch 2, so training stops after epoch 3.
    model = FakeModel()
    stopper = EarlyStopping(patience=1, start_from_epoch=2, restore_best_weights=True)
    assert fit([stopper], logs, model=model) == 4
    assert stopper.best_epoch == 2
    np.testing.assert_array_equal(model.weights[0], [2.0, 2.0, 2.0])


def test_early_stopping_can_be_reused():
    stopper = EarlyStopping(patience=1)
    assert fit([stopper], losses(1.0, 2.0, 3.0, 4.0)) == 2
    assert fit([stopper], losses(5.0, 4.0, 3.0, 2.0)) == 4
    assert stopper.wait == 0 and stopper.best == 2.0 and stopper.stopped_epoch == 0


def test_early_stopping_nan_is_not_an_improvement():
    assert fit([EarlyStopping(monitor="loss")], losses(1.0, math.nan, 0.5)) == 2


# ----- ReduceLROnPlateau --------------------------------------------------------------------------


def lr_trace(callback, epoch_logs, learning_rate=0.1):
    """Learning rate at the end of every epoch (read back from logs["learning_rate"] of the next)."""
    model = FakeModel(learning_rate)
    rates = []
    cbs = CallbackList([callback, LambdaCallback(on_epoch_end=lambda e, logs: rates.append(
        model.optimizer.learning_rate))], model=model, verbose=0, epochs=len(epoch_logs), steps=1)
    fit(cbs, epoch_logs, model=model)
    return rates


def test_reduce_lr_after_patience():
    rates = lr_trace(ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2), losses(*[1.0] * 6))
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_reduce_lr_improvements_reset_the_wait():
    reducer = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2)
    rates = lr_trace(reducer, losses(1.0, 1.0, 0.5, 0.5, 0.2))
    np.testing.assert_allclose(rates, [0.1] * 5)


def test_reduce_lr_min_delta():
    logs = losses(1.0, 0.99, 0.98, 0.97)
    np.testing.assert_allclose(lr_trace(ReduceLROnPlateau(monitor="loss", patience=1), logs), [0.1] * 4)
    np.testing.assert_allclose(lr_trace(ReduceLROnPlateau(monitor="loss", patience=1, min_delta=0.05), logs),
                               [0.1, 0.01, 0.001, 0.0001])


def test_reduce_lr_cooldown():
    logs = losses(*[1.0] * 8)
    plain = lr_trace(ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2), logs)
    cooled = lr_trace(ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=2), logs)
    np.testing.assert_allclose(plain, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125])
    np.testing.assert_allclose(cooled, [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025])


def test_reduce_lr_respects_min_lr(capsys):
    reducer = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0, min_lr=0.005, verbose=1)
    rates = lr_trace(reducer, losses(*[1.0] * 5))
    np.testing.assert_allclose(rates, [0.1, 0.01, 0.005, 0.005, 0.005])
    assert capsys.readouterr().out.count("reducing learning rate") == 2  # none once at min_lr


def test_reduce_lr_auto_mode_for_accuracy_and_logs_learning_rate():
    model = FakeModel()
    history = History()
    cbs = CallbackList([ReduceLROnPlateau(monitor="val_accuracy", patience=1), history], model=model,
                       verbose=0, epochs=3, steps=1)
    fit(cbs, accuracies(0.1, 0.2, 0.3), model=model)
    assert history.history["learning_rate"] == [0.1, 0.1, 0.1]
    fit(cbs, accuracies(0.3, 0.2, 0.1), model=model)
    np.testing.assert_allclose(history.history["learning_rate"][3:], [0.1, 0.1, 0.01])


def test_reduce_lr_verbose_warning_and_bad_arguments(capsys):
    lr_trace(ReduceLROnPlateau(monitor="loss", patience=0, verbose=1), losses(1.0, 1.0))
    out = capsys.readouterr().out
    assert out == "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.010000000000000002.\n"
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned on metric `val_loss` which "
                                         "is not available. Available metrics are: loss,learning_rate."):
        lr_trace(ReduceLROnPlateau(), [{"loss": 1.0}])
    with pytest.raises(ValueError, match="does not support a factor >= 1.0. Received factor=2"):
        ReduceLROnPlateau(factor=2)
    with pytest.warns(UserWarning, match="Learning rate reduction mode up is unknown, fallback to auto mode"):
        assert ReduceLROnPlateau(mode="up").mode == "auto"


# ----- LearningRateScheduler ---------------------------------------------------------------------


def test_scheduler_with_epoch_only():
    rates = lr_trace(LearningRateScheduler(lambda epoch: 1.0 / (epoch + 1)), losses(1.0, 1.0, 1.0, 1.0))
    np.testing.assert_allclose(rates, [1.0, 0.5, 1 / 3, 0.25])


def test_scheduler_with_epoch_and_rate():
    def halve_after_one(epoch, lr):
        return lr if epoch < 1 else lr * 0.5

    rates = lr_trace(LearningRateScheduler(halve_after_one), losses(1.0, 1.0, 1.0), learning_rate=0.8)
    np.testing.assert_allclose(rates, [0.8, 0.4, 0.2])


def test_scheduler_logs_rate_and_prints(capsys):
    model = FakeModel()
    history = History()
    cbs = CallbackList([LearningRateScheduler(lambda epoch: 0.5 ** epoch, verbose=1), history], model=model,
                       verbose=0, epochs=2, steps=1)
    fit(cbs, losses(1.0, 1.0), model=model)
    assert history.history["learning_rate"] == [1.0, 0.5]
    assert capsys.readouterr().out == ("\nEpoch 1: LearningRateScheduler setting learning rate to 1.0.\n"
                                       "\nEpoch 2: LearningRateScheduler setting learning rate to 0.5.\n")


def test_scheduler_errors():
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a float. Got: 1"):
        lr_trace(LearningRateScheduler(lambda epoch: 1), losses(1.0))

    def broken(epoch, lr):
        raise TypeError("bug inside the schedule")

    # A TypeError raised inside a two-argument schedule is not mistaken for a one-argument schedule.
    with pytest.raises(TypeError, match="bug inside the schedule"):
        lr_trace(LearningRateScheduler(broken), losses(1.0))
    model = FakeModel()
    model.optimizer = object()
    with pytest.raises(ValueError, match='Optimizer must have a "learning_rate" attribute.'):
        fit([LearningRateScheduler(lambda epoch: 0.1)], losses(1.0), model=model)


# ----- CSVLogger ----------------------------------------------------------------------------------


def test_csv_logger_writes_header_and_rows_flushed_each_epoch(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    cbs = CallbackList([logger], model=FakeModel(), verbose=0, epochs=2, steps=1)
    cbs.on_train_begin()
    cbs.on_epoch_end(0, {"val_loss": 0.75, "loss": 0.5, "accuracy": 0.25})
    assert path.read_text() == "epoch,accuracy,loss,val_loss\n0,0.25,0.5,0.75\n"
    cbs.on_epoch_end(1, {"loss": 0.125, "accuracy": np.float32(0.5)})
    cbs.on_train_end()
    assert path.read_text() == "epoch,accuracy,loss,val_loss\n0,0.25,0.5,0.75\n1,0.5,0.125,NA\n"
    assert logger.csv_file.closed


def test_csv_logger_overwrites_or_appends(tmp_path):
    path = tmp_path / "log.csv"
    fit([CSVLogger(path)], [{"loss": 1.0}])
    fit([CSVLogger(path)], [{"loss": 2.0}, {"loss": 3.0}])
    assert path.read_text() == "epoch,loss\n0,2.0\n1,3.0\n"
    fit([CSVLogger(path, append=True)], [{"loss": 4.0}])
    assert path.read_text() == "epoch,loss\n0,2.0\n1,3.0\n0,4.0\n"
    fresh = tmp_path / "fresh.csv"
    fit([CSVLogger(fresh, append=True)], [{"loss": 5.0}])
    assert fresh.read_text() == "epoch,loss\n0,5.0\n"


def test_csv_logger_separator_and_arrays(tmp_path):
    path = tmp_path / "log.tsv"
    fit([CSVLogger(str(path), separator="\t")], [{"loss": 1.5, "per_class": np.array([1, 2])}])
    assert path.read_text() == "epoch\tloss\tper_class\n0\t1.5\t[1, 2]\n"


# ----- LambdaCallback -----------------------------------------------------------------------------


def test_lambda_callback_hooks_get_their_arguments():
    calls = []
    cb = LambdaCallback(
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch, dict(logs))),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, dict(logs))),
        on_train_begin=lambda logs: calls.append(("train_begin", dict(logs))),
        on_train_end=lambda logs: calls.append(("train_end", dict(logs))),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, dict(logs))),
        on_test_begin=lambda logs: calls.append(("test_begin",)),
    )
    fit([cb], [{"loss": 2.0}, {"loss": 1.0}], steps=2)
    CallbackList([cb]).on_test_begin()
    assert calls == [
        ("train_begin", {}),
        ("epoch_begin", 0, {}), ("batch_begin", 0), ("batch_end", 0, {"loss": 2.0}), ("batch_begin", 1),
        ("batch_end", 1, {"loss": 2.0}), ("epoch_end", 0, {"loss": 2.0}),
        ("epoch_begin", 1, {}), ("batch_begin", 0), ("batch_end", 0, {"loss": 1.0}), ("batch_begin", 1),
        ("batch_end", 1, {"loss": 1.0}), ("epoch_end", 1, {"loss": 1.0}),
        ("train_end", {"loss": 1.0}),
        ("test_begin",),
    ]


def test_lambda_callback_unset_hooks_stay_noops_and_unknown_hooks_are_refused():
    cb = LambdaCallback(on_train_end=lambda logs: None)
    assert cb.on_epoch_end(0, {}) is None
    with pytest.raises(TypeError, match=r"LambdaCallback received unknown hook\(s\) \['on_epoch_ends'\]"):
        LambdaCallback(on_epoch_ends=print)


# ----- TerminateOnNaN -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_terminate_on_nan_stops_at_the_bad_batch(capsys, bad):
    model = FakeModel()
    cbs = CallbackList([TerminateOnNaN()], model=model)
    cbs.on_train_batch_end(0, {"loss": 1.0})
    cbs.on_train_batch_end(1, {"loss": np.float32(2.0)})
    assert not model.stop_training and capsys.readouterr().out == ""
    cbs.on_train_batch_end(2, {"loss": np.float32(bad)})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"


def test_terminate_on_nan_raise_error():
    cbs = CallbackList([TerminateOnNaN(raise_error=True)], model=FakeModel())
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 4. Loss value: nan."):
        cbs.on_train_batch_end(4, {"loss": math.nan})


# ----- ProgbarLogger ------------------------------------------------------------------------------


def test_progbar_logger_verbose1_not_a_terminal(capsys):
    epochs = [{"loss": 0.5, "accuracy": 0.25, "val_loss": 0.75, "val_accuracy": 0.125},
              {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.5, "val_accuracy": 0.25}]
    fit([], epochs, steps=3, verbose=1)
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "Epoch 1/2"
    assert re.fullmatch(r"3/3 \[={30}\] - \d+s \d+(us|ms|s)/step - loss: 0\.5000 - accuracy: 0\.2500 - "
                        r"val_loss: 0\.7500 - val_accuracy: 0\.1250", lines[1])
    assert lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 \[={30}\] - \d+s \d+(us|ms|s)/step - loss: 0\.2500 - accuracy: 0\.5000 - "
                        r"val_loss: 0\.5000 - val_accuracy: 0\.2500", lines[3])
    assert lines[4:] == [""]


def test_progbar_logger_shows_running_means_as_given(capsys):
    # Batch logs are running means already: the bar must not average them a second time.
    fit([], [{"loss": 9.0}], steps=2, verbose=1, batch_logs={"loss": 1.0})
    out = capsys.readouterr().out
    assert "Epoch" not in out  # one epoch: no "Epoch 1/1" line, as in Keras
    assert out.endswith(" - loss: 9.0000\n")


def test_progbar_logger_verbose2(capsys):
    fit([], [{"loss": 0.5}, {"loss": 0.25}], steps=12, verbose=2)
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and lines[4:] == [""]
    assert re.fullmatch(r"12/12 - \d+s - \d+(us|ms|s)/step - loss: 0\.5000", lines[1])
    assert re.fullmatch(r"12/12 - \d+s - \d+(us|ms|s)/step - loss: 0\.2500", lines[3])


def test_progbar_logger_validation_inside_fit_is_silent_but_evaluate_prints(capsys):
    cbs = CallbackList(None, add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=2)
    cbs.on_test_begin()
    cbs.on_test_batch_end(0, {"loss": 1.0})
    cbs.on_test_batch_end(1, {"loss": 1.0})
    cbs.on_test_end({"loss": 1.0})
    assert re.fullmatch(r"2/2 \[={30}\] - \d+s \d+(us|ms|s)/step - loss: 1\.0000\n", capsys.readouterr().out)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_train_batch_end(0, {"loss": 2.0})
    cbs.on_test_begin()
    cbs.on_test_batch_end(0, {"loss": 3.0})
    cbs.on_test_end({"loss": 3.0})
    assert capsys.readouterr().out == ""
    cbs.on_epoch_end(0, {"loss": 2.0, "val_loss": 3.0})
    assert capsys.readouterr().out.endswith(" - loss: 2.0000 - val_loss: 3.0000\n")


def test_progbar_logger_predict_with_unknown_steps(capsys):
    cbs = CallbackList(None, add_progbar=True, model=FakeModel(), verbose=1, epochs=1, steps=None)
    cbs.on_predict_begin()
    for batch in range(4):
        cbs.on_predict_batch_end(batch, {"outputs": np.zeros(2)})
    cbs.on_predict_end()
    assert re.fullmatch(r"4/4 \[={30}\] - \d+s \d+(us|ms|s)/step\n", capsys.readouterr().out)


def test_progbar_logger_silent_when_verbose0(capsys):
    fit([ProgbarLogger()], [{"loss": 1.0}, {"loss": 0.5}], verbose=0)
    assert capsys.readouterr().out == ""
