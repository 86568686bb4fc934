"""Keras-compatible training callbacks.

``fit()`` wraps the user's callbacks in a :class:`CallbackList` (adding :class:`History` and, when
``verbose`` is not 0, :class:`ProgbarLogger`) and calls, in order: ``on_train_begin``; per epoch
``on_epoch_begin``, ``on_train_batch_begin`` / ``on_train_batch_end`` per batch (logs: running means
such as ``{"loss": .., "accuracy": ..}``), ``on_epoch_end`` (logs also hold ``val_*`` entries when
there is validation data); ``on_train_end``. ``evaluate()`` calls the ``on_test_*`` hooks and
``predict()`` the ``on_predict_*`` hooks. A callback sees the model as ``self.model`` and the run's
parameters (``verbose``, ``epochs``, ``steps``) as ``self.params``.
"""

import csv
import inspect
import math
import os
import time
import warnings

import numpy as np

from ._names import missing_name
from .utils.progbar import Progbar

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "EarlyStopping",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "LambdaCallback",
    "TerminateOnNaN",
    "ModelCheckpoint",
    "TensorBoard",
]


def _print(message):
    print(message, flush=True)


def _maximizes(monitor):
    """The 'auto' mode rule: accuracies and AUCs improve upwards, everything else downwards."""
    return "acc" in monitor or "auc" in monitor


class Callback:
    """Base class of callbacks: every hook is a no-op; override the ones you need.

    Attributes:
        model: the model being trained (set by ``set_model``).
        params: dict of the run's parameters (``verbose``, ``epochs``, ``steps``), set by ``set_params``.
    """

    def __init__(self):
        self.params = None
        self.model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def on_batch_begin(self, batch, logs=None):
        """Backwards-compatible alias of ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Backwards-compatible alias of ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (0-based) of ``fit``."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch with the epoch's metrics (and ``val_*`` ones)."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch; calls ``on_batch_begin``."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch with the running metrics; calls ``on_batch_end``."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each batch of ``evaluate`` (and of validation inside ``fit``)."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each batch of ``evaluate`` (and of validation inside ``fit``)."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each batch of ``predict``."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each batch of ``predict``."""

    def on_train_begin(self, logs=None):
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs=None):
        """Called once at the end of ``fit`` with the last epoch's logs."""

    def on_test_begin(self, logs=None):
        """Called at the start of ``evaluate`` or of a validation pass."""

    def on_test_end(self, logs=None):
        """Called at the end of ``evaluate`` or of a validation pass."""

    def on_predict_begin(self, logs=None):
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """Called at the end of ``predict``."""


def _pythonify(logs):
    """Logs with numpy scalars and 0-d arrays turned into Python floats."""
    out = {}
    for key, value in logs.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        out[key] = value
    return out


class CallbackList(Callback):
    """Calls a list of callbacks together; what ``fit``, ``evaluate`` and ``predict`` drive.

    Args:
        callbacks: list of ``Callback`` instances (or None).
        add_history: append a ``History`` unless the list already holds one.
        add_progbar: append a ``ProgbarLogger`` unless the list already holds one.
        model: the model, handed to every callback (and given the ``History`` as ``model.history``).
        **params: the run's parameters (``verbose``, ``epochs``, ``steps``), handed to every callback.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = list(callbacks) if callbacks else []
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self.append(History())
        if self._progbar is None and add_progbar:
            self.append(ProgbarLogger())
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        """Add one callback, giving it the list's model and parameters."""
        self.callbacks.append(callback)
        if isinstance(callback, History) and self._history is None:
            self._history = callback
        if isinstance(callback, ProgbarLogger) and self._progbar is None:
            self._progbar = callback
        if self.model is not None:
            callback.set_model(self.model)
            if callback is self._history:
                self.model.history = callback
        if self.params:
            callback.set_params(self.params)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _call(self, hook, *args, **kwargs):
        for callback in self.callbacks:
            getattr(callback, hook)(*args, **kwargs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs=logs or {})

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs=_pythonify(logs or {}))

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, {} if logs is None else logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs or {})

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=_pythonify(logs or {}))

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs or {})

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=_pythonify(logs or {}))

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs or {})

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs or {})

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs or {})

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs or {})

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs or {})

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs or {})

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs or {})

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs or {})


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]`` is the list of epoch losses.

    ``fit`` returns this object; ``history.epoch`` lists the epochs run.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar per epoch (or per ``evaluate`` / ``predict`` call).

    Validation inside ``fit`` is silent; its ``val_*`` results appear on the epoch's line.
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        verbose = params["verbose"]
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._new_progbar()

    def on_predict_begin(self, logs=None):
        self._new_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._new_progbar()
        if self.verbose and self.epochs > 1:
            _print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_end(self, logs=None):
        self._finalize(logs)

    def _new_progbar(self):
        self.seen = 0
        self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _update(self, batch, logs):
        logs = logs or {}
        if self.progbar is None:
            self._new_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            # fit's logs are already running means: show them as they are.
            self.progbar.stateful_metrics.update(logs)
            self.progbar.update(self.seen, list(logs.items()), finalize=False)

    def _finalize(self, logs):
        logs = logs or {}
        if self.progbar is None:
            self._new_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.seen
        self.progbar.stateful_metrics.update(logs)
        self.progbar.update(self.target, list(logs.items()), finalize=True)


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving.

    Args:
        monitor: name of the quantity in the epoch logs, e.g. "val_loss" or "val_accuracy".
        min_delta: changes smaller than this (in absolute value) do not count as improvements.
        patience: number of epochs without improvement after which training stops.
        verbose: 1 prints a message when stopping and when restoring weights.
        mode: "min", "max" or "auto" ("max" for names containing "acc" or "auc", else "min").
        baseline: stop unless the quantity beats this value within ``patience`` epochs.
        restore_best_weights: at the end of training, restore the weights of the best monitored epoch.
        start_from_epoch: number of warm-up epochs that are not monitored.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"EarlyStopping mode {mode} is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.mode = mode
        self._greater = mode == "max" or (mode == "auto" and _maximizes(monitor))
        self.min_delta = abs(min_delta) if self._greater else -abs(min_delta)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -math.inf if self._greater else math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._copy_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._copy_weights()
            # The wait restarts only when the baseline is beaten too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        """The monitored value from ``logs``, or None (with a warning) when it is missing."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=2)
        return value

    def _copy_weights(self):
        return [np.array(w, copy=True) for w in self.model.get_weights()]

    def _is_improvement(self, value, reference):
        if self._greater:
            return value - self.min_delta > reference
        return value - self.min_delta < reference


def _takes_learning_rate(schedule):
    """Whether ``schedule`` accepts ``(epoch, lr)``; otherwise it is called as ``schedule(epoch)``."""
    try:
        inspect.signature(schedule).bind(0, 0.0)
    except TypeError:
        return False
    except ValueError:  # no signature available (some builtins): use the two-argument form
        return True
    return True


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of every epoch.

    Args:
        schedule: ``schedule(epoch, lr) -> new lr`` or ``schedule(epoch) -> new lr`` (epoch is 0-based).
        verbose: 1 prints the rate set at each epoch.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        if _takes_learning_rate(self.schedule):
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.floating)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when a monitored quantity has stopped improving.

    Args:
        monitor: name of the quantity in the epoch logs.
        factor: ``new_lr = lr * factor``; must be below 1.
        patience: number of epochs without improvement after which the rate is reduced.
        verbose: 1 prints a message at each reduction.
        mode: "min", "max" or "auto" ("max" for names containing "acc" or "auc", else "min").
        min_delta: an improvement must beat the best value by more than this.
        cooldown: number of epochs after a reduction during which no new reduction is considered.
        min_lr: lower bound of the learning rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"Learning rate reduction mode {mode} is unknown, fallback to auto mode.",
                          stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.mode = mode
        self._greater = mode == "max" or (mode == "auto" and _maximizes(monitor))
        self._reset()

    def _reset(self):
        self.cooldown_counter = 0
        self.wait = 0
        self.best = -math.inf if self._greater else math.inf

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_improvement(self, value):
        if self._greater:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                # Compared in float32, so that a rate already at min_lr is not "reduced" again.
                if np.float32(old_lr) > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Streams each epoch's logs to a CSV file: a header ``epoch,<sorted keys>`` then one row per epoch.

    Args:
        filename: path of the CSV file.
        separator: field separator.
        append: append to an existing file (no second header) instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        self.append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self.append_header = not f.readline()
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         delimiter=self.sep, lineterminator="\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    """Strings and scalars as they are; 1-D iterables as '[a, b, c]'."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f"[{', '.join(map(str, value))}]"


_HOOKS = frozenset(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """A callback made of plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    The functions take the hooks' arguments: ``(epoch, logs)`` for epoch hooks, ``(logs)`` for
    begin/end hooks, ``(batch, logs)`` for batch hooks (``logs`` passed by keyword). Any other hook
    (``on_test_begin``, ``on_predict_batch_end``, ...) may be given as a keyword argument.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - _HOOKS)
        if unknown:
            raise TypeError(f"LambdaCallback received unknown hook(s) {unknown}; "
                            f"hooks are {sorted(_HOOKS)}")
        kwargs.update(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                      on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                      on_train_batch_end=on_train_batch_end)
        for name, fn in kwargs.items():
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stops training when a batch's loss is NaN or infinite.

    Args:
        raise_error: raise a RuntimeError at once instead of setting ``model.stop_training``.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   "Terminating training immediately.")
            _print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ModelCheckpoint(Callback):
    """Save the model (or its weights) during training, every epoch or every ``save_freq`` batches.

    Args:
        filepath: where to save; may hold ``str.format`` fields filled with ``epoch`` (1-based, as Keras
            names files), ``batch`` (1-based, with an integer ``save_freq``) and the logs, e.g.
            ``"ckpt-{epoch:02d}-{val_loss:.2f}.weights.h5"``. Whole models need a name ending in ``.keras`` or
            ``.h5``; weights ``.weights.h5`` (Keras 3 layout) or ``.h5`` / ``.hdf5`` (Keras 2 layout).
        monitor: the logged quantity that decides what "best" is (``save_best_only``).
        verbose: 1 prints a message at each save (and each non-improvement).
        save_best_only: save only when ``monitor`` improves on the best value so far.
        save_weights_only: ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: "min", "max" or "auto" ("max" for names containing "acc" or "auc", else "min").
        save_freq: "epoch", or save after every that many training batches.
        initial_value_threshold: the best value to beat before the first save (``save_best_only``).

    Every save replaces its file atomically, so an interrupted run leaves the previous checkpoint whole.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq <= 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or "
                             "positive integer values")
        if save_weights_only:
            if not self.filepath.endswith((".weights.h5", ".h5", ".hdf5")):
                raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                                 "provided must end in `.weights.h5` (Keras 3 layout) or `.h5` (Keras 2 "
                                 f"layout). Received: filepath={self.filepath}")
        elif not self.filepath.endswith((".keras", ".h5", ".hdf5")):
            raise ValueError("The filepath provided must end in `.keras` (Keras 3's format) or `.h5` "
                             f"(Keras 2's HDF5 format). Received: filepath={self.filepath}")
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.mode = mode
        self._greater = mode == "max" or (mode == "auto" and _maximizes(monitor))
        self.best = initial_value_threshold
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs or {})

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1  # a new epoch: batches are 0-based
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _is_improvement(self, value):
        if self.best is None:
            return True
        return value > self.best if self._greater else value < self.best

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current):
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                       f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as err:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {err}") from None

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an "
                          f"existing directory: {filepath}")
        if not self._should_save(epoch, logs, filepath):
            return
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)


class TensorBoard(Callback):
    """Write logs that TensorBoard shows (``tensorboard --logdir logs``), as Keras's ``TensorBoard``.

    Args:
        log_dir: the run's folder; the training logs go to ``log_dir/train``, the validation logs to
            ``log_dir/validation`` (one ``events.out.tfevents.*`` file each, per run).
        histogram_freq: every that many epochs (0: never), a histogram of every weight, tagged
            ``<weight path>/histogram`` ("conv2d/kernel/histogram").
        write_graph: accepted for Keras's signature; numbacnn has no TensorFlow graph to write.
        write_images: with histograms, every weight as an image ``<weight path>/image``: a convolution's
            filters side by side (one tile per filter; colour when it reads 3 channels), a dense kernel or
            a bias as a grey strip; each image scaled from its weights' minimum (black) to maximum (white).
        write_steps_per_second: also log ``epoch_steps_per_second`` and ``batch_steps_per_second``.
        update_freq: "epoch" (scalars ``epoch_loss``, ``epoch_accuracy``, ``epoch_learning_rate`` per
            epoch, step = epoch), "batch" or an integer N (also ``batch_loss``... every N training batches,
            step = batches so far). After each validation, ``evaluation_<metric>_vs_iterations`` with the
            optimizer's iteration count as step, in the validation log.

    The event files are written by TensorBoard's own writer (``tensorboard.summary.writer``) and its
    protocol buffers, so ``pip install tensorboard`` (or ``numbacnn[tensorboard]``) is needed.
    ``profile_batch``, ``embeddings_freq`` and ``embeddings_metadata`` need TensorFlow's profiler and
    checkpoints; numbacnn accepts their off values (0, 0, None) only.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        if profile_batch or embeddings_freq or embeddings_metadata is not None:
            raise ValueError("TensorBoard: profile_batch, embeddings_freq and embeddings_metadata need "
                             "TensorFlow's profiler and checkpoints; numbacnn writes scalars, histograms and "
                             "images (leave them at 0, 0 and None)")
        if update_freq != "epoch" and update_freq != "batch" and (
                isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq <= 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer, "
                             f"received {update_freq!r}")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an integer >= 0, received "
                             f"{histogram_freq!r}")
        _tensorboard_modules()  # the missing-package message now, not at the first epoch
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers = {}
        self._global_train_batch = 0
        self._epoch_start = None
        self._epoch_first_batch = 0
        self._batch_start = None

    # ----- writers --------------------------------------------------------------------------------
    def _writer(self, which):
        if which not in self._writers:
            writer_cls, _, _ = _tensorboard_modules()
            self._writers[which] = writer_cls(os.path.join(self.log_dir, which))
        return self._writers[which]

    def _write(self, which, step, values):
        """One event holding ``values``: summary_pb2.Summary.Value objects."""
        _, summary_pb2, event_pb2 = _tensorboard_modules()
        event = event_pb2.Event(wall_time=time.time(), step=int(step),
                                summary=summary_pb2.Summary(value=list(values)))
        self._writer(which).add_event(event)

    def _scalars(self, which, step, logs, prefix, suffix=""):
        _, summary_pb2, _ = _tensorboard_modules()
        values = []
        for name, value in logs.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            values.append(summary_pb2.Summary.Value(tag=f"{prefix}{name}{suffix}", simple_value=value))
        if values:
            self._write(which, step, values)

    def _close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ----- hooks ----------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        self._close()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_first_batch = self._global_train_batch

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        logs = dict(logs or {})
        if self.write_steps_per_second and self._batch_start is not None:
            logs = {"steps_per_second": 1.0 / max(time.perf_counter() - self._batch_start, 1e-9), **logs}
        self._scalars("train", self._global_train_batch, logs, "batch_")

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if logs and optimizer is not None and hasattr(optimizer, "iterations"):
            self._scalars("validation", int(optimizer.iterations), logs, "evaluation_", "_vs_iterations")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second and self._epoch_start is not None:
            steps = self._global_train_batch - self._epoch_first_batch
            train["steps_per_second"] = steps / max(time.perf_counter() - self._epoch_start, 1e-9)
        self._scalars("train", epoch, train, "epoch_")
        if val:
            self._scalars("validation", epoch, val, "epoch_")
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    # ----- weights --------------------------------------------------------------------------------
    def _log_weights(self, epoch):
        _, summary_pb2, _ = _tensorboard_modules()
        values = []
        for weight in self.model.weights:
            w = np.asarray(weight.numpy(), dtype=np.float64)
            name = weight.path.replace(":", "_")
            histo = _histogram(summary_pb2, w)
            values.append(summary_pb2.Summary.Value(tag=f"{name}/histogram", histo=histo))
            if self.write_images:
                image = _weight_image(w)
                if image is not None:
                    values.append(summary_pb2.Summary.Value(tag=f"{name}/image",
                                                            image=_png_summary(summary_pb2, image)))
        if values:
            self._write("train", epoch, values)


def _tensorboard_modules():
    """(EventFileWriter, summary_pb2, event_pb2) from the ``tensorboard`` package, or an ImportError that
    says how to install it."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as err:
        raise ImportError("the TensorBoard callback writes its event files with the tensorboard package: "
                          'pip install tensorboard (or pip install "numbacnn[tensorboard]")') from err
    return EventFileWriter, summary_pb2, event_pb2


def _histogram(summary_pb2, w, bins=30):
    """A HistogramProto of ``w``: ``bins`` equal buckets between its minimum and maximum."""
    flat = w.ravel()
    if flat.size == 0:
        return summary_pb2.HistogramProto()
    lo, hi = float(flat.min()), float(flat.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(flat, bins=bins, range=(lo, hi))
    return summary_pb2.HistogramProto(min=float(flat.min()), max=float(flat.max()), num=float(flat.size),
                                      sum=float(flat.sum()), sum_squares=float(np.dot(flat, flat)),
                                      bucket_limit=[float(e) for e in edges[1:]],
                                      bucket=[float(c) for c in counts])


def _weight_image(w):
    """A weight as a picture, uint8 (H, W, 1 or 3), or None when it is not a picture: a conv kernel
    (kh, kw, in, out) -> its ``out`` filters side by side with a 1-pixel gap (in = 3: RGB, otherwise the
    first input channel); a matrix or vector -> a grey strip. Scaled from min (0) to max (255)."""
    w = np.squeeze(w)
    if w.ndim == 1:
        img = w[None, :, None]
    elif w.ndim == 2:
        img = (w.T if w.shape[0] > w.shape[1] else w)[:, :, None]
    elif w.ndim in (3, 4):
        if w.ndim == 3:                      # (kh, kw, out): one input channel squeezed away
            w = w[:, :, None, :]
        kh, kw, cin, cout = w.shape
        chans = 3 if cin == 3 else 1
        img = np.full((kh, cout * (kw + 1) - 1, chans), np.nan)
        for f in range(cout):
            img[:, f * (kw + 1):f * (kw + 1) + kw] = w[:, :, :chans, f]
    else:
        return None
    finite = img[np.isfinite(img)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scaled = np.where(np.isfinite(img), (img - lo) / (hi - lo if hi > lo else 1.0) * 255.0, 0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _png_summary(summary_pb2, image):
    """Summary.Image of uint8 (H, W, C), PNG-encoded by Pillow."""
    import io

    from .utils.image_utils import pil

    Image = pil()
    buf = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(buf, format="PNG")
    return summary_pb2.Summary.Image(height=image.shape[0], width=image.shape[1], colorspace=image.shape[2],
                                     encoded_image_string=buf.getvalue())


__getattr__ = missing_name(__name__, lambda: globals())
