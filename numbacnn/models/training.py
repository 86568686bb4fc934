"""compile / fit / evaluate / predict / train_on_batch / test_on_batch, mixed into Model.

All training goes through :class:`numbacnn.models.trainer.Trainer`: ``fit`` is a loop of
``trainer.step()`` with Ctrl-C handling around it.

Devices: the model computes on ``backend.get_device()``. Its weights, gradients and optimizer state move
there once (at compile, or at the first fit / evaluate / predict after the device or the graph changed)
and stay there; on CUDA only the batches cross the bus, and what the caller gets back (predictions,
losses, metrics) is copied to the host.
"""

import math
import signal
import sys
import threading
import warnings

import numpy as np

from .. import backend
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..callbacks import CallbackList
from ..kernels import ops
from ..layers.base import InputLayer, format_shape
from ..utils.progbar import Progbar
from .data_adapters import StreamAdapter, is_stream
from .trainer import NonFiniteLossError, Trainer


class TrainingMixin:
    def __init__(self):
        self.optimizer = None
        self.loss_fn = None
        self.compiled_metrics = []
        self._loss_tracker = None
        self.stop_training = False
        self.history = None
        self._device = None  # where the weights are: None until placed (and again after the graph changes)

    # ----- compile -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                device=None, **kwargs):
        """Choose the optimizer, the loss and the metrics (names or objects, as in Keras).

        ``device`` ('cpu' or 'cuda'; None keeps the current one) calls ``numbacnn.set_device(device)``:
        process-wide, and a RuntimeError ("no CUDA GPU found; use device='cpu'") when CUDA cannot be used.
        The weights move to the device here, and the optimizer's state at its first step.
        """
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {sorted(kwargs)}")
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        if device not in (None, "cpu", "cuda"):
            raise ValueError(f"compile(device={device!r}): device must be 'cpu' or 'cuda'")
        if device is not None:
            backend.set_device(device)
        self.optimizer = optimizers_module.get(optimizer)
        self.loss_fn = losses_module.get(loss)
        self.compiled_metrics = [metrics_module.get(m, loss=self.loss_fn) for m in (metrics or [])]
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._compile_config = {"optimizer": optimizer, "loss": loss, "metrics": metrics}
        self._sync_device()

    # ----- device --------------------------------------------------------------------------------
    def _sync_device(self):
        """Move the weights, their gradients and the optimizer's state to the current device; a no-op while
        they are there."""
        device = backend.get_device()
        if self._device == device:
            return
        k = ops()
        for w in self._all_weights():
            w.place(k)
        if self.optimizer is not None:
            self.optimizer.place(k)
        self._device = device

    def _place_input(self, x):
        """A batch on the model's device: a copy on the GPU, ``x`` itself on the CPU."""
        return ops().to_device(x) if self._device == "cuda" else x

    def _to_host(self, y):
        """An output for the caller: a host copy of a GPU array, ``y`` itself on the CPU."""
        return ops().to_host(y) if self._device == "cuda" else y

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.compiled_metrics]

    def _require_compiled(self, what):
        if self.loss_fn is None:
            raise RuntimeError(f'Model "{self.name}" must be compiled before {what}(): call '
                               "model.compile(optimizer, loss, metrics) first")

    # ----- data ------------------------------------------------------------------------------
    def _prepare_x(self, x):
        if x is None:
            raise ValueError(f'Model "{self.name}": x is None; give the input data as a numpy array')
        x = np.asarray(x)
        if x.dtype != np.dtype(self.dtype):
            x = x.astype(self.dtype)
        self._ensure_built(x.shape)
        self._sync_device()
        return x

    def _prepare_xy(self, x, y):
        x = self._prepare_x(x)
        if y is None:
            raise ValueError(f'Model "{self.name}": y is None; training and evaluation need targets')
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"Data cardinality is ambiguous: x has {len(x)} samples and y has {len(y)}; "
                             "make sure both contain the same number of samples")
        if len(x) == 0:
            raise ValueError(f'Model "{self.name}": no samples given (x has shape {x.shape})')
        if self.loss_fn is not None:
            self._check_targets(y)
        return x, y

    def _check_targets(self, y):
        """Raise before any arithmetic if the targets cannot be scored against the model's output
        (labels out of range, wrong shape): the loss is tried once on a uniform dummy prediction."""
        out_shape = tuple(self.output.shape[1:])
        dummy = np.full((len(y),) + out_shape, 1.0 / max(1, out_shape[-1] if out_shape else 1),
                        dtype=self.dtype)
        try:
            self.loss_fn.value(y, dummy)
        except ValueError as err:
            layer = self._output_tensor._node.layer
            raise ValueError(f'Targets do not fit the output of layer "{layer.name}" '
                             f"({type(layer).__name__}), output shape {format_shape(self.output.shape)}, "
                             f"targets shape {y.shape}: {err}") from None

    # ----- one batch ---------------------------------------------------------------------------
    def _reset_metrics(self):
        self._loss_tracker.reset_state()
        for m in self.compiled_metrics:
            m.reset_state()

    def _metric_results(self):
        logs = {"loss": float(self._loss_tracker.result())}
        for m in self.compiled_metrics:
            logs[m.name] = float(m.result())
        return logs

    def _update_metrics(self, loss, y, y_pred, sample_weight=None):
        self._loss_tracker.update_state(loss, sample_weight=len(y))
        for m in self.compiled_metrics:
            m.update_state(y, y_pred, sample_weight=sample_weight)
        return self._metric_results()

    def _train_step(self, x, y, sample_weight=None):
        """Forward, loss, backward and one optimizer update on a batch (``x`` on the model's device, ``y`` and
        the optional per-sample weights on the host); returns the running logs."""
        k = ops()
        trainable = self.trainable_weights
        for w in trainable:
            k.fill(w.grad, 0)
        y_pred = self.forward(x, training=True)
        loss, grad = self.loss_fn.value_and_gradient(y, y_pred, sample_weight)
        if not math.isfinite(loss):
            self._cache = None
            raise NonFiniteLossError(str(loss))
        if self.compiled_metrics:  # now, while the GPU has nothing queued after the loss
            y_pred = self._to_host(y_pred)
        self.input_grad_needed = False  # nobody needs d(loss)/d(x) of the data
        try:
            self.backward(grad)
        finally:
            self.input_grad_needed = True
        self._cache = None
        self.optimizer.apply(trainable)
        return self._update_metrics(loss, y, y_pred, sample_weight)

    def _test_step(self, x, y, sample_weight=None):
        y_pred = self.forward(self._place_input(x), training=False)
        loss = self.loss_fn(y, y_pred, sample_weight)
        return self._update_metrics(loss, y, self._to_host(y_pred) if self.compiled_metrics else y_pred,
                                    sample_weight)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        if sample_weight is not None or class_weight is not None:
            raise ValueError("train_on_batch: sample_weight and class_weight are not supported")
        x, y = self._prepare_xy(x, y)
        self._reset_metrics()
        logs = self._train_step(self._place_input(x), y)
        return self._format_logs(logs, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        x, y = self._prepare_xy(x, y)
        self._reset_metrics()
        return self._format_logs(self._test_step(x, y), return_dict)

    def predict_on_batch(self, x):
        """The outputs for ``x`` as one batch (inference mode), as Keras's ``predict_on_batch``: one
        forward pass whatever its size, no progress bar; works uncompiled, as ``predict`` does."""
        return self._to_host(self.forward(self._place_input(self._prepare_x(x)), training=False))

    def _format_logs(self, logs, return_dict):
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[m.name] for m in self.compiled_metrics]
        return values[0] if len(values) == 1 else values

    # ----- fit -----------------------------------------------------------------------------------
    def make_trainer(self, x, y=None, **kwargs):
        """A :class:`Trainer` over (x, y) with fit()'s keyword arguments, for stepping by hand."""
        self._require_compiled("make_trainer")
        return Trainer(self, x, y, **kwargs)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, nb_epoch=None):
        """Train for ``epochs`` epochs; returns a History. Ctrl-C stops after the current batch."""
        self._require_compiled("fit")
        if nb_epoch is not None:
            warnings.warn("fit(nb_epoch=...) is the Keras 1 spelling; use epochs=", DeprecationWarning,
                          stacklevel=2)
            epochs = nb_epoch
        unsupported = {"class_weight": class_weight, "sample_weight": sample_weight}
        given = [k for k, v in unsupported.items() if v is not None]
        if given or validation_freq != 1:
            raise ValueError(f"fit(): {', '.join(given) or 'validation_freq'} is not supported by numbacnn")
        verbose = 1 if verbose == "auto" else int(verbose)
        trainer = self.make_trainer(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                                    validation_data=validation_data, validation_split=validation_split,
                                    shuffle=shuffle, callbacks=callbacks, initial_epoch=initial_epoch,
                                    validation_batch_size=validation_batch_size,
                                    steps_per_epoch=steps_per_epoch, validation_steps=validation_steps)
        interrupted = _InterruptFlag()
        with interrupted:
            try:
                while not trainer.finished:
                    trainer.step()
                    if interrupted.raised:
                        print(f"\nTraining interrupted at epoch {trainer.epoch + 1}, after batch "
                              f"{trainer.batch}: the model keeps the weights of the last finished batch.",
                              file=sys.stderr)
                        break
            finally:
                trainer.close()
        self.history = trainer.history
        return trainer.history

    # ----- evaluate / predict --------------------------------------------------------------------
    def _evaluate_arrays(self, x, y, batch_size=32, callbacks=None, verbose=0):
        self._reset_metrics()
        steps = math.ceil(len(x) / batch_size)
        bar = Progbar(steps, verbose=verbose) if verbose else None
        if callbacks is not None:
            callbacks.on_test_begin()
        logs = {}
        for i in range(steps):
            if callbacks is not None:
                callbacks.on_test_batch_begin(i)
            sl = slice(i * batch_size, (i + 1) * batch_size)
            logs = self._test_step(x[sl], y[sl])
            if callbacks is not None:
                callbacks.on_test_batch_end(i, dict(logs))
            if bar is not None:
                bar.update(i + 1, list(logs.items()))
        if callbacks is not None:
            callbacks.on_test_end(dict(logs))
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on (x, y): ``[loss, accuracy]`` (or the loss alone, or a dict)."""
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        cbs = CallbackList(callbacks, model=self) if callbacks else None
        if is_stream(x):
            if y is not None:
                raise ValueError("evaluate(): when x is a generator or a PyDataset, its batches hold the "
                                 "targets; do not also pass y")
            stream = StreamAdapter(x, steps=steps, who="evaluate(x=...)")
            try:
                logs = self._evaluate_stream(stream, callbacks=cbs, verbose=verbose)
            finally:
                stream.close()
            return self._format_logs(logs, return_dict)
        if sample_weight is not None or steps is not None:
            raise ValueError("evaluate(): sample_weight and steps are not supported by numbacnn with arrays "
                             "(a generator or a PyDataset may give (x, y, sample_weight) batches and steps)")
        x, y = self._prepare_xy(x, y)
        logs = self._evaluate_arrays(x, y, batch_size=batch_size or 32, callbacks=cbs, verbose=verbose)
        return self._format_logs(logs, return_dict)

    def _evaluate_stream(self, stream, callbacks=None, verbose=0):
        """evaluate() over one epoch of a :class:`StreamAdapter` (batches loaded in the background)."""
        self._reset_metrics()
        bar = Progbar(stream.num_batches, verbose=verbose) if verbose else None
        if callbacks is not None:
            callbacks.on_test_begin()
        logs = {}
        i = -1
        for i, (x, y, sample_weight) in enumerate(stream.epoch()):
            if y is None:
                raise ValueError(f"{stream.who}: batch {i + 1} has no targets; evaluation batches are (x, y) "
                                 "or (x, y, sample_weight)")
            if callbacks is not None:
                callbacks.on_test_batch_begin(i)
            x, y = self._prepare_xy(x, y) if i == 0 else (np.asarray(x, dtype=self.dtype), np.asarray(y))
            logs = self._test_step(x, y, sample_weight)
            if callbacks is not None:
                callbacks.on_test_batch_end(i, dict(logs))
            if bar is not None:
                bar.update(i + 1, list(logs.items()), finalize=False)
        if i < 0:
            raise ValueError(f"{stream.who}: the data gave no batches to evaluate")
        if bar is not None:
            bar.target = i + 1
            bar.update(i + 1, list(logs.items()), finalize=True)
        if callbacks is not None:
            callbacks.on_test_end(dict(logs))
        return logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x``, computed ``batch_size`` samples at a time (inference mode); ``x`` may be a
        generator or a PyDataset (of ``x`` or ``(x, ...)`` batches; ``steps`` of them at most)."""
        if is_stream(x):
            return self._predict_stream(x, steps, 0 if verbose == "auto" else int(verbose))
        x = self._prepare_x(x)
        batch_size = int(batch_size or 32)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, received {batch_size}")
        verbose = 0 if verbose == "auto" else int(verbose)
        steps = math.ceil(len(x) / batch_size)
        bar = Progbar(steps, verbose=verbose) if verbose else None
        out = None
        for i in range(steps):
            sl = slice(i * batch_size, (i + 1) * batch_size)
            y = self._to_host(self.forward(self._place_input(x[sl]), training=False))
            if out is None:
                out = np.empty((len(x),) + y.shape[1:], dtype=y.dtype)
            out[sl] = y
            if bar is not None:
                bar.update(i + 1)
        if out is None:
            out = np.empty((0,) + tuple(self.output.shape[1:]), dtype=self.dtype)
        return out

    def _predict_stream(self, data, steps, verbose):
        stream = StreamAdapter(data, steps=steps, who="predict(x=...)")
        bar = Progbar(stream.num_batches, verbose=verbose) if verbose else None
        outputs = []
        try:
            for i, (x, _, _) in enumerate(stream.epoch()):
                x = self._prepare_x(x)
                outputs.append(self._to_host(self.forward(self._place_input(x), training=False)))
                if bar is not None:
                    bar.update(i + 1, finalize=False)
        finally:
            stream.close()
        if bar is not None:
            bar.target = len(outputs)
            bar.update(len(outputs), finalize=True)
        if not outputs:
            return np.empty((0,) + tuple(self.output.shape[1:]), dtype=self.dtype)
        return np.concatenate(outputs)

    def activations(self, x):
        """[(layer name, output)] for every layer, inference mode, for the batch ``x`` (host arrays)."""
        x = self._prepare_x(x)
        found = []

        def keep(layer, y):
            if not isinstance(layer, InputLayer):
                found.append((layer.name, self._to_host(y)))

        self.forward(self._place_input(x), training=False, hook=keep)
        return found


class _InterruptFlag:
    """Within the block, the first Ctrl-C only sets ``raised`` (fit stops after the batch); a second one
    interrupts at once. Only the main thread can own signal handlers; elsewhere this does nothing."""

    def __init__(self):
        self.raised = False
        self._old = None

    def _handler(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False
