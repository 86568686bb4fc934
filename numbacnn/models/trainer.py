"""One training loop, one batch per ``step()``: what ``fit()`` runs and what the visual debugger drives.

    trainer = model.make_trainer(x, y, batch_size=32, epochs=5, validation_split=0.1)
    while not trainer.finished:
        logs = trainer.step()                    # one batch; ends the epoch (validation, callbacks) when due
        trainer.epoch, trainer.batch             # where training stands (0-based epoch, batches done in it)
        trainer.logs                             # running means of this epoch: {"loss": .., "accuracy": ..}
        trainer.gradients()                      # {"conv2d/kernel": array, ...} of the last step
        trainer.activations(x[:1])               # [(layer name, output array), ...] for one input
    trainer.close()                              # on_train_end; fit() does it for you

What the debugger reads (gradients, weights, activations) is numpy on both devices. On CUDA the batches
go through ``ops().BatchStager``: batch n+1 is copied to the GPU (pinned memory, its own stream) while
batch n's backward pass and update run.

Hooks: ``trainer.on_step`` and ``trainer.on_epoch_end`` are lists of callables, called as
``fn(trainer, logs)`` after each step / epoch, from the thread that calls ``step()``.

``x`` may also be a Python generator, an iterable of batches or a ``PyDataset`` (batches ``(x, y)`` or
``(x, y, sample_weight)``; see :mod:`numbacnn.models.data_adapters`): the next batch loads in the background
while the current one trains, ``steps_per_epoch`` bounds an epoch (else the data's end does), and
``steps_per_epoch`` is None until the first epoch has counted them when the length is not known.
"""

import math
import warnings

import numpy as np

from .. import backend
from ..callbacks import CallbackList, TerminateOnNaN
from ..kernels import ops
from ..kernels.cpu.arrays import arrays_of
from .data_adapters import StreamAdapter, is_stream


def _replica_for(model):
    """The distribution's part of a Trainer (None unless data-parallel training over several ranks)."""
    from ..distribution.replica import Replica

    return Replica.for_trainer(model)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the weights are those from before the bad batch."""


def split_validation(x, y, validation_split):
    """Keras's rule: the validation set is the *last* fraction of the samples, taken before shuffling.

    ``x`` and ``y`` are arrays, or lists of arrays (several inputs / outputs; None entries stay None).
    """
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), received {validation_split}")
    if validation_split == 0.0:
        return (x, y), None
    n = len(x[0]) if isinstance(x, list) else len(x)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"validation_split={validation_split} leaves no training or no validation samples "
                         f"out of {n}")

    def cut(a, sl):
        if isinstance(a, list):
            return [None if v is None else v[sl] for v in a]
        return None if a is None else a[sl]

    head, tail = slice(None, split_at), slice(split_at, None)
    return (cut(x, head), cut(y, head)), (cut(x, tail), cut(y, tail))


def _take(arrays, idx):
    return [None if a is None else a[idx] for a in arrays]


def _split(xs, ys, sws, validation_split):
    """split_validation over inputs, targets and sample weights (lists) together."""
    (xs_t, ys_t), val = split_validation(xs, ys, validation_split)
    if val is None:
        return (xs_t, ys_t, sws), None
    n = len(xs_t[0])
    if sws is None:
        return (xs_t, ys_t, None), (val[0], val[1], None)
    return (xs_t, ys_t, [None if w is None else w[:n] for w in sws]), (
        val[0], val[1], [None if w is None else w[n:] for w in sws])


class Trainer:
    """Steps through ``epochs`` epochs of mini-batches of (x, y) on a compiled model."""

    def __init__(self, model, x, y=None, batch_size=32, epochs=1, verbose=0, validation_data=None,
                 validation_split=0.0, shuffle=True, callbacks=None, initial_epoch=0,
                 validation_batch_size=None, sample_weight=None, class_weight=None, steps_per_epoch=None,
                 validation_steps=None):
        if model.optimizer is None or model.loss_fn is None:
            raise RuntimeError(f'Model "{model.name}" must be compiled before training: call '
                               "model.compile(optimizer, loss, metrics) first")
        if batch_size is None:
            batch_size = 32
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be a positive integer, received {batch_size}")
        if int(epochs) < 0 or int(initial_epoch) < 0:
            raise ValueError(f"epochs and initial_epoch must be >= 0, received {epochs} and {initial_epoch}")
        self._stream = self._val_stream = None
        # Data-parallel training's one hook (numbacnn.distribution): None in one process. It shards each
        # global batch, sums the gradients across ranks, averages the logs and keeps rank 0 the writer.
        self._replica = _replica_for(model)
        if self._replica is not None:
            verbose, callbacks = self._replica.callbacks(verbose, callbacks)
        if is_stream(x):
            extra = {"y": y, "sample_weight": sample_weight, "class_weight": class_weight}
            given = [k for k, v in extra.items() if v is not None]
            if given:
                raise ValueError("fit(): when x is a generator or a PyDataset, its batches hold the targets "
                                 f"(and sample weights); do not also pass {', '.join(given)}")
            if validation_split:
                raise ValueError("fit(): validation_split needs arrays (it keeps their last samples); with a "
                                 "generator or a PyDataset give validation_data instead")
            self._stream = StreamAdapter(x, steps=steps_per_epoch, shuffle=shuffle, who="fit(x=...)")
            xs = ys = sws = val = None
        else:
            if steps_per_epoch is not None:
                raise ValueError("fit(steps_per_epoch=...) bounds the epochs of a generator or a PyDataset; "
                                 "with arrays every epoch goes through all of them (slice the arrays "
                                 "instead)")
            xs, ys, sws = model._prepare_data(x, y, sample_weight, class_weight)
            (xs, ys, sws), val = _split(xs, ys, sws, validation_split)
        if is_stream(validation_data):
            self._val_stream = StreamAdapter(validation_data, steps=validation_steps,
                                             who="fit(validation_data=...)")
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 "val_sample_weight)")
            val = model._prepare_data(*validation_data)
        self.model = model
        self.xs, self.ys, self.sample_weights = xs, ys, sws
        self.val = val if self._replica is None else self._replica.validation(val)
        self.batch_size = int(batch_size)
        self.validation_batch_size = validation_batch_size or self.batch_size
        self.epochs = int(epochs)
        self.shuffle = shuffle
        if self._stream is not None:
            self.steps_per_epoch = self._stream.num_batches      # None until counted
        else:
            self.steps_per_epoch = max(1, math.ceil(len(xs[0]) / self.batch_size))
        self._epoch_batches = None     # a stream's iterator over this epoch's batches
        self._pending = None           # a stream's next batch, already loaded
        self.epoch = self._first_epoch = int(initial_epoch)
        self.batch = 0
        self.logs = {}
        self.epoch_logs = {}
        self.on_step = []
        self.on_epoch_end = []
        self._order = None
        self._started = False
        self.finished = self.epoch >= self.epochs
        self._tolerate_nan = any(isinstance(c, TerminateOnNaN) for c in callbacks or [])
        self.callbacks = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                      model=model, verbose=verbose, epochs=self.epochs,
                                      steps=self.steps_per_epoch)
        self.history = model.history
        self._batches = [] if xs is None else [ops().BatchStager(x, self.batch_size) for x in xs]

    @property
    def x(self):
        """The training inputs (one array, or a list for several inputs; the generator or PyDataset)."""
        return self._stream.data if self._stream is not None else self.model._pack_in(self.xs)

    @property
    def y(self):
        """The training targets (one array, or a list for several outputs; None for a stream)."""
        return None if self._stream is not None else self.model._pack_out(self.ys)

    # ----- stepping ----------------------------------------------------------------------------
    def _begin_epoch(self):
        if not self._started:
            self._started = True
            self.model.stop_training = False
            if self._replica is not None:
                self._replica.start(self.model)
            self.callbacks.on_train_begin()
        if self._stream is not None:
            self._epoch_batches = self._stream.epoch()
            self._pending = next(self._epoch_batches, None)
        else:
            n = len(self.xs[0])
            self._order = backend.rng().permutation(n) if self.shuffle else np.arange(n)
            if self._replica is not None and self.shuffle:
                self._order = self._replica.order(self._order)
        if self._replica is not None:
            self._replica.begin_epoch()
        self.model._reset_metrics()
        self.batch = 0
        self.logs = {}
        self.callbacks.on_epoch_begin(self.epoch)

    def step(self):
        """Train on one batch; at the last batch of an epoch also validate and end the epoch."""
        if self._replica is None:
            return self._step()
        with self._replica.guard():   # a rank that raises ends every rank, naming itself and the cause
            return self._step()

    def _step(self):
        if self.finished:
            raise RuntimeError("training is finished; make a new Trainer (or call fit) to train more")
        if self.batch == 0:
            self._begin_epoch()
            if self._stream is not None and self._pending is None:
                return self._ran_out()
        self.callbacks.on_train_batch_begin(self.batch)
        try:
            if self._stream is not None:
                self.logs = self._stream_step()
            else:
                idx = self._batch_indices(self.batch)
                key = (self.epoch, self.batch)
                xs = [stager.take(key, idx) for stager in self._batches]
                sws = None if self.sample_weights is None else _take(self.sample_weights, idx)
                if self._replica is None:
                    self.logs = self.model._train_step(xs, _take(self.ys, idx), sws)
                else:
                    self.logs = self._replica.step(self.model, xs, _take(self.ys, idx), sws, self._n_global)
                if self.batch + 1 < self.steps_per_epoch:  # copied while this batch's kernels run
                    nxt = self._batch_indices(self.batch + 1)
                    for stager in self._batches:
                        stager.prefetch((self.epoch, self.batch + 1), nxt)
        except NonFiniteLossError as err:
            if not self._tolerate_nan:
                raise NonFiniteLossError(
                    f"Loss became {err} at epoch {self.epoch + 1}, batch {self.batch + 1}; training stopped "
                    "and the weights are those from before this batch. Try a lower learning rate or check "
                    "the data for NaN.") from None
            self.logs = dict(self.model._metric_results(), loss=float("nan"))
        self.callbacks.on_train_batch_end(self.batch, dict(self.logs))
        self.batch += 1
        for fn in self.on_step:
            fn(self, self.logs)
        if self._stream is not None and self._pending is None:
            if self.steps_per_epoch is None:
                self.steps_per_epoch = self.batch                  # the first epoch counted them
            elif self.batch < self.steps_per_epoch:
                self._ran_out(close=False)
        if (self.steps_per_epoch is not None and self.batch >= self.steps_per_epoch
                or self.model.stop_training):
            self._end_epoch()
        return self.logs

    def _stream_step(self):
        """Train on the batch loaded ahead; then take the next one (loaded meanwhile in the background)."""
        x, y, sample_weight = self._pending
        self._pending = None
        if y is None:
            raise ValueError(f"fit(x=...): batch {self.batch + 1} of epoch {self.epoch + 1} has no targets; "
                             "training batches are (x, y) or (x, y, sample_weight)")
        xs, ys, sws = self.model._prepare_data(x, y, sample_weight)
        if self._replica is None:
            logs = self.model._train_step(xs, ys, sws)  # copied to the device inside the step
        else:
            n_global = len(xs[0])
            xs, ys, sws = (self._replica.shard_arrays(a) for a in (xs, ys, sws))
            logs = self._replica.step(self.model, self.model._place_inputs(xs), ys, sws, n_global)
        if self.steps_per_epoch is None or self.batch + 1 < self.steps_per_epoch:
            self._pending = next(self._epoch_batches, None)
        return logs

    def _ran_out(self, close=True):
        """A stream with nothing left before the epoch's end: warn and stop, as Keras does."""
        warnings.warn("Your input ran out of data; interrupting training. Make sure that your dataset or "
                      "generator can generate at least `steps_per_epoch * epochs` batches.", stacklevel=3)
        self.model.stop_training = True
        if close:
            self.close()
        return self.logs

    def _batch_indices(self, batch):
        """The samples of ``batch``: this rank's shard of them under data-parallel training (the global
        batch's size is then kept in ``_n_global``)."""
        idx = self._order[batch * self.batch_size:(batch + 1) * self.batch_size]
        if self._replica is None:
            return idx
        self._n_global = len(idx)
        return self._replica.shard(idx)

    def _end_epoch(self):
        logs = dict(self.logs)
        if self.val is not None and self.batch >= self.steps_per_epoch:
            val_logs = self.model._evaluate_arrays(*self.val, batch_size=self.validation_batch_size,
                                                   callbacks=self.callbacks)
            if self._replica is not None:
                val_logs = self._replica.validation_logs(val_logs)
            logs.update({"val_" + k: v for k, v in val_logs.items()})
        elif self._val_stream is not None and self.batch >= self.steps_per_epoch:
            val_logs = self.model._evaluate_stream(self._val_stream, callbacks=self.callbacks)
            logs.update({"val_" + k: v for k, v in val_logs.items()})
        self.epoch_logs = logs
        self.callbacks.on_epoch_end(self.epoch, logs)
        for fn in self.on_epoch_end:
            fn(self, logs)
        self.epoch += 1
        self.batch = 0
        if self.epoch >= self.epochs or self.model.stop_training:
            self.close()

    def run_epoch(self):
        """Step until the current epoch ends; returns the epoch's logs."""
        start = self.epoch
        while not self.finished and self.epoch == start:
            self.step()
        return self.epoch_logs

    def close(self):
        """End training (on_train_end) if it started; further steps are refused."""
        self.finished = True
        for stream in (self._stream, self._val_stream):
            if stream is not None:
                stream.close()
        if self._started:
            self._started = False
            self.callbacks.on_train_end(dict(self.epoch_logs))

    # ----- what the debugger reads -------------------------------------------------------------
    def gradients(self):
        """Gradients of the last step, by weight path ("conv2d/kernel"): numpy copies."""
        return {w.path: arrays_of(w.grad).host_copy(w.grad) for w in self.model.trainable_weights}

    def weights(self):
        """Current weights, by weight path: numpy copies."""
        return {w.path: w.numpy() for w in self.model.weights}

    def activations(self, x):
        """Every layer's output (inference mode) for the inputs ``x`` (a batch, e.g. ``x[:1]``): numpy."""
        return self.model.activations(x)

    # ----- snapshots (the debugger's rewind) ----------------------------------------------------
    def snapshot(self):
        """Where training stands, as copies: ``{"epoch", "batch", "weights": {path: array} (every weight,
        the non-trainable ones such as BatchNormalization's moving statistics too), "optimizer": the
        optimizer's ``get_state()`` (empty before its first step), "order": this epoch's sample order (None
        at an epoch's start), "rng": the state of ``backend.rng()`` (shuffles, Dropout masks), "finished"}``.
        :meth:`restore` puts it back, so training on from a snapshot repeats what followed it."""
        optimizer = self.model.optimizer
        return {"epoch": self.epoch, "batch": self.batch, "weights": self.weights(),
                "optimizer": optimizer.get_state() if optimizer.built else [],
                "order": None if self._order is None or self.batch == 0 else self._order.copy(),
                "rng": backend.rng().bit_generator.state, "finished": self.finished}

    def restore(self, snapshot):
        """Put the weights, the optimizer's state and the position (epoch, batch, sample order) of a
        :meth:`snapshot` back, so that ``step()`` trains on from there. The running metrics restart
        with the next batch; training that had finished can go on again when ``epochs`` is larger than
        the snapshot's epoch."""
        by_path = {w.path: w for w in self.model.weights}
        missing = set(snapshot["weights"]) ^ set(by_path)
        if missing:
            raise ValueError(f'The snapshot does not match model "{self.model.name}": weights '
                             f"{sorted(missing)} are in one but not the other")
        for path, value in snapshot["weights"].items():
            by_path[path].assign(value)
        optimizer = self.model.optimizer
        state = list(snapshot["optimizer"])
        if optimizer.built:
            current = optimizer.variables
            if not state:   # taken before the first step: the slots as the optimizer builds them
                state = [np.array(0, np.int64), current[1]]
                for slot in optimizer._slot_names():
                    start = optimizer._slot_initial_value(slot)
                    state += [np.full(v.shape, start, v.dtype) for v in optimizer._slots.get(slot, [])]
            optimizer.set_state(state)
        elif state:
            optimizer.build(self.model.trainable_weights)
            optimizer.set_state(state)
        if snapshot.get("rng") is not None:
            backend.rng().bit_generator.state = snapshot["rng"]
        self.epoch, self.batch = int(snapshot["epoch"]), int(snapshot["batch"])
        self.finished = self.epoch >= self.epochs
        if self.batch > 0 and snapshot.get("order") is not None:
            self._order = np.array(snapshot["order"], copy=True)
            self.model._reset_metrics()
            self.logs = {}
            if not self._started:
                self._started = True
                self.model.stop_training = False
                self.callbacks.on_train_begin()
        else:
            self.batch = 0
