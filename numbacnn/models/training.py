"""compile / fit / evaluate / predict / train_on_batch / test_on_batch, mixed into Model.

All training goes through :class:`numbacnn.models.trainer.Trainer`: ``fit`` is a loop of
``trainer.step()`` with Ctrl-C handling around it.

Several inputs and outputs (Keras's rules): data is one array, a list in ``model.inputs`` /
``model.outputs`` order, or a dict by input/output name. ``compile(loss=...)`` takes one loss (for every
output), a list or a dict by output name (an output without a loss is not trained on), ``loss_weights``
likewise, and ``metrics`` / ``weighted_metrics`` as a list (one output), a list of lists or a dict. The
loss is the weighted sum of the outputs' losses; the logs are ``loss``, then ``<output>_loss`` and
``<output>_<metric>`` for each output (``accuracy`` etc. alone for a one-output model). Sample weights
(``sample_weight``, ``class_weight``, a third item of ``validation_data``) weigh each sample's loss
(Keras's ``sum_over_batch_size``: sum(w * loss) / batch size) and the weighted metrics.

Devices: the model computes on ``backend.get_device()``. Its weights, gradients and optimizer state move
there once (at compile, or at the first fit / evaluate / predict after the device or the graph changed)
and stay there; on CUDA only the batches cross the bus, and what the caller gets back (predictions,
losses, metrics) is copied to the host.
"""

import contextlib
import math
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
from . import interrupt
from .data_adapters import StreamAdapter, is_stream
from .trainer import NonFiniteLossError, Trainer


def _positive_batch_size(batch_size, default=32):
    batch_size = default if batch_size is None else batch_size
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or int(batch_size) <= 0:
        raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}")
    return int(batch_size)


class _Output:
    """What compile() set for one model output: its loss (or None), loss weight and metrics."""

    __slots__ = ("name", "loss", "weight", "metrics", "weighted_metrics", "tracker")

    def __init__(self, name, loss, weight, metrics, weighted_metrics):
        self.name = name
        self.loss = loss
        self.weight = float(weight)
        self.metrics = metrics
        self.weighted_metrics = weighted_metrics
        self.tracker = metrics_module.Mean(name=f"{name}_loss")


class TrainingMixin:
    def __init__(self):
        self.optimizer = None
        self._compiled = None  # [_Output] per model output, once compiled
        self._loss_tracker = None
        self.stop_training = False
        self.history = None
        self._device = None  # where the weights are: None until placed (and again after the graph changes)
        self._kernels_checked = False  # whether a first training step ran (see warmup.first_step)
        self._dry_run = False  # a twin whose kernels may be no-ops (compile_pool.discover): no loss check

    # ----- compile -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                device=None, **kwargs):
        """Choose the optimizer, the loss(es) and the metrics (names or objects, as in Keras).

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
        self._compile_config = {"optimizer": optimizer, "loss": loss, "metrics": metrics,
                                "loss_weights": loss_weights, "weighted_metrics": weighted_metrics}
        self._resolve_compile()
        self._sync_device()

    def _resolve_compile(self):
        """compile()'s losses and metrics per output (again when the graph is built or changes)."""
        settings = self._compile_config
        names = self.output_names if self.built else ["output"]
        losses = self._per_output("loss", settings["loss"], names, single_for_all=True)
        if all(v is None for v in losses):
            raise ValueError(f"compile(loss={settings['loss']!r}) names none of the outputs {names}")
        weights = self._per_output("loss_weights", settings["loss_weights"], names, single_for_all=True)
        metrics = self._per_output_metrics("metrics", settings["metrics"], names)
        weighted = self._per_output_metrics("weighted_metrics", settings["weighted_metrics"], names)
        outputs = []
        for i, name in enumerate(names):
            fn = losses_module.get(losses[i]) if losses[i] is not None else None
            outputs.append(_Output(name, fn, 1.0 if weights[i] is None else weights[i],
                                   [self._metric(m, fn, name, len(names)) for m in metrics[i]],
                                   [self._metric(m, fn, name, len(names)) for m in weighted[i]]))
        self._compiled = outputs
        self._loss_tracker = metrics_module.Mean(name="loss")

    @staticmethod
    def _metric(identifier, loss, output_name, n_outputs):
        metric = metrics_module.get(identifier, loss=loss)
        if n_outputs > 1:
            metric = _renamed(metric, f"{output_name}_{metric.name}")
        return metric

    def _per_output(self, what, value, names, single_for_all=False):
        """``value`` (one item, a list or a dict by output name) as a list aligned with the outputs."""
        n = len(names)
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"compile({what}=...): {unknown} are not outputs of model "
                                 f'"{self.name}"; its outputs are {names}')
            return [value.get(name) for name in names]
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"compile({what}=...) has {len(value)} entries; model \"{self.name}\" has "
                                 f"{n} outputs {names}")
            return list(value)
        return [value] * n if single_for_all or n == 1 else [value] + [None] * (n - 1)

    def _per_output_metrics(self, what, value, names):
        """Metrics as one list per output: a list (one output), a list of lists or a dict."""
        n = len(names)
        if value is None:
            return [[] for _ in names]
        if isinstance(value, dict):
            per = self._per_output(what, value, names)
            return [[] if v is None else (list(v) if isinstance(v, (list, tuple)) else [v]) for v in per]
        if not isinstance(value, (list, tuple)):
            value = [value]
        if n == 1:
            if len(value) == 1 and isinstance(value[0], (list, tuple)):
                value = value[0]
            return [list(value)]
        if len(value) != n or not all(v is None or isinstance(v, (list, tuple, dict)) for v in value):
            raise ValueError(f"compile({what}={value!r}): model \"{self.name}\" has {n} outputs {names}; "
                             f"give the {what} as a dict by output name or as a list of {n} lists")
        return [[] if v is None else list(v) for v in value]

    @property
    def loss_fn(self):
        """The loss of the first output that has one (the model's loss for a one-output model)."""
        if self._compiled is None:
            return None
        return next(o.loss for o in self._compiled if o.loss is not None)

    @property
    def compiled_metrics(self):
        """Every metric of every output, in log order."""
        if self._compiled is None:
            return []
        return [m for o in self._compiled for m in o.metrics + o.weighted_metrics]

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

    @contextlib.contextmanager
    def _device_step(self, kind, xs, use_graph=True):
        """``with self._device_step(kind, xs) as xs:`` one step of ``kind`` ('train', 'test', 'predict')
        on the batch ``xs``. On CUDA it runs under the memory plan of (kind, batch shapes), so that steps
        after the first create no device arrays (``kernels.cuda.memory``; off with NUMBACNN_CUDA_PLAN=0),
        and with NUMBACNN_CUDA_GRAPH=1 a training step also under its step graph
        (``kernels.cuda.graph``), the batch then copied into the step's own buffer. Elsewhere, ``xs``."""
        if self._device != "cuda":
            yield xs
            return
        from ..kernels.cuda import graph as step_graph
        from ..kernels.cuda import launch, memory

        if not memory.plans_enabled():
            yield xs
            return
        key = (kind, tuple(tuple(int(d) for d in x.shape) for x in xs))
        plans = self.__dict__.setdefault("_step_plans", {})
        if key not in plans:
            while len(plans) >= 8:  # a changing batch shape would otherwise keep every plan's buffers
                plans.pop(next(iter(plans)))
            shapes = ", ".join("x".join(map(str, shape)) for shape in key[1])
            plan = memory.StepPlan(f"{self.name} {kind} {shapes}")
            plans[key] = (plan, step_graph.StepGraph(plan.name) if kind == "train" else None)
        plan, graph = plans[key]
        with contextlib.ExitStack() as stack:
            stack.enter_context(plan.step())
            if use_graph and graph is not None and step_graph.graphs_enabled():
                stack.enter_context(graph.step())
                xs = [launch.restage(x) if launch.is_device_array(x) else x for x in xs]
            yield xs

    def _place_inputs(self, xs):
        """A batch (a list, one array per input) on the model's device: copies on the GPU, the arrays
        themselves on the CPU."""
        return [ops().to_device(x) for x in xs] if self._device == "cuda" else xs

    def _to_host(self, y):
        """An output for the caller: a host copy of a GPU array, ``y`` itself on the CPU."""
        return ops().to_host(y) if self._device == "cuda" else y

    def _outputs_to_host(self, y):
        return [self._to_host(v) for v in y] if isinstance(y, list) else self._to_host(y)

    @property
    def metrics_names(self):
        names = ["loss"]
        if self._compiled is not None and len(self._compiled) > 1:
            names += [o.tracker.name for o in self._compiled if o.loss is not None]
        return names + [m.name for m in self.compiled_metrics]

    def _require_compiled(self, what):
        if self._compiled is None:
            raise RuntimeError(f'Model "{self.name}" must be compiled before {what}(): call '
                               "model.compile(optimizer, loss, metrics) first")

    # ----- data ------------------------------------------------------------------------------
    def _prepare_x(self, x):
        """The input data as a list of arrays, one per model input (built and placed on the device)."""
        if x is None:
            raise ValueError(f'Model "{self.name}": x is None; give the input data as a numpy array')
        if not self.built:
            sample = np.asarray(x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x)
            self._ensure_built(sample.shape)
        xs = [np.asarray(v) for v in self._flatten_inputs(x)]
        xs = [v if v.dtype == np.dtype(self.dtype) else v.astype(self.dtype) for v in xs]
        self._ensure_built(self._pack_in([v.shape for v in xs]))
        n = {len(v) for v in xs}
        if len(n) > 1:
            raise ValueError(f'Model "{self.name}": the inputs have different numbers of samples '
                             f"{[len(v) for v in xs]}")
        self._sync_device()
        return xs

    def _flatten_targets(self, y, what="y"):
        """Targets (or sample weights) as a list aligned with the outputs (None where not given)."""
        names = self.output_names
        if isinstance(y, dict):
            unknown = sorted(set(y) - set(names))
            if unknown:
                raise ValueError(f'Model "{self.name}": {what} has keys {unknown} that are not outputs; the '
                                 f"outputs are {names}")
            return [None if y.get(k) is None else np.asarray(y[k]) for k in names]
        if len(names) > 1:
            if not isinstance(y, (list, tuple)) or len(y) != len(names):
                raise ValueError(f'Model "{self.name}" has {len(names)} outputs {names}; give {what} '
                                 f"as a list of {len(names)} arrays or a dict by output name")
            return [None if v is None else np.asarray(v) for v in y]
        if isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape"):
            y = y[0]
        return [np.asarray(y)]

    def _prepare_data(self, x, y, sample_weight=None, class_weight=None):
        """(xs, ys, sample weights) as lists aligned with the inputs / outputs; checked against the model."""
        xs = self._prepare_x(x)
        if y is None:
            raise ValueError(f'Model "{self.name}": y is None; training and evaluation need targets')
        ys = self._flatten_targets(y)
        n = len(xs[0])
        for name, v, out in zip(self.output_names, ys, self._compiled or [None] * len(ys)):
            if v is None:
                if out is not None and out.loss is not None:
                    raise ValueError(f'Model "{self.name}": no targets given for output "{name}", which has '
                                     "a loss")
                continue
            if len(v) != n:
                raise ValueError(f"Data cardinality is ambiguous: x has {n} samples and y"
                                 f"{'' if len(ys) == 1 else f' ({name})'} has {len(v)}; make sure both "
                                 "contain the same number of samples")
        if n == 0:
            raise ValueError(f'Model "{self.name}": no samples given (x has shape {xs[0].shape})')
        sws = self._sample_weights(sample_weight, class_weight, ys, n)
        if self._compiled is not None:
            self._check_targets(ys)
        return xs, ys, sws

    def _sample_weights(self, sample_weight, class_weight, ys, n):
        """Per-output sample weights (a list, or None when unweighted), with class_weight folded in."""
        if sample_weight is None and class_weight is None:
            return None
        if sample_weight is None:
            sws = [None] * len(ys)
        elif isinstance(sample_weight, (dict, list, tuple)) and len(ys) > 1:
            sws = self._flatten_targets(sample_weight, "sample_weight")
        else:
            sws = [np.asarray(sample_weight, dtype=np.float64)] * len(ys)
        for sw in sws:
            if sw is not None and (sw.ndim == 0 or len(sw) != n):
                raise ValueError(f'Model "{self.name}": sample_weight has shape {sw.shape}; expected one '
                                 f"weight per sample ({n},)")
        if class_weight is not None:
            if len(ys) > 1:
                raise ValueError("class_weight is supported for models with one output only (as in Keras); "
                                 "give sample_weight per output instead")
            sws[0] = _class_weights(class_weight, ys[0]) * (1.0 if sws[0] is None else sws[0])
        return sws

    def _check_targets(self, ys):
        """Raise before any arithmetic if the targets cannot be scored against an output (labels out of
        range, wrong shape): each loss is tried once on a uniform dummy prediction."""
        for tensor, out, y in zip(self._outputs, self._compiled, ys):
            if out.loss is None or y is None:
                continue
            out_shape = tuple(tensor.shape[1:])
            dummy = np.full((len(y),) + out_shape, 1.0 / max(1, out_shape[-1] if out_shape else 1),
                            dtype=self.dtype)
            try:
                out.loss.value(y, dummy)
            except ValueError as err:
                layer = tensor._keras_history[0]
                raise ValueError(f'Targets do not fit the output of layer "{layer.name}" '
                                 f"({type(layer).__name__}), output shape {format_shape(tensor.shape)}, "
                                 f"targets shape {y.shape}: {err}") from None

    # ----- one batch ---------------------------------------------------------------------------
    def _reset_metrics(self):
        self._loss_tracker.reset_state()
        for out in self._compiled:
            out.tracker.reset_state()
            for m in out.metrics + out.weighted_metrics:
                m.reset_state()

    def _metric_results(self):
        logs = {"loss": float(self._loss_tracker.result())}
        if len(self._compiled) > 1:
            for out in self._compiled:
                if out.loss is not None:
                    logs[out.tracker.name] = float(out.tracker.result())
        for m in self.compiled_metrics:
            value = m.result()  # F1Score(average=None), Precision(thresholds=[...]): an array, as in Keras
            logs[m.name] = float(value) if np.ndim(value) == 0 else np.asarray(value)
        return logs

    def _losses_and_gradients(self, ys, preds, sws):
        """The weighted total loss, each output's loss, and the gradient for each output (None where an
        output has no loss)."""
        total, per_output, grads = 0.0, [], []
        for i, (out, y, y_pred) in enumerate(zip(self._compiled, ys, preds)):
            if out.loss is None or y is None:
                per_output.append(None)
                grads.append(None)
                continue
            sw = None if sws is None else sws[i]
            value, grad = out.loss.value_and_gradient(y, y_pred, sw)
            if out.weight != 1.0:
                grad = ops().scale(grad, out.weight)
            total += out.weight * value
            per_output.append(value)
            grads.append(grad)
        return total, per_output, grads

    def _update_metrics(self, loss, per_output, ys, preds, sws):
        batch = len(next(y for y in ys if y is not None))
        self._loss_tracker.update_state(loss, sample_weight=batch)
        for i, (out, y, y_pred) in enumerate(zip(self._compiled, ys, preds)):
            if per_output[i] is not None:
                out.tracker.update_state(per_output[i], sample_weight=batch)
            if y is None:
                continue
            for m in out.metrics:
                m.update_state(y, y_pred)
            for m in out.weighted_metrics:
                m.update_state(y, y_pred, sample_weight=None if sws is None else sws[i])
        return self._metric_results()

    def _as_list(self, y_pred):
        return y_pred if isinstance(y_pred, list) else [y_pred]

    def _train_step(self, xs, ys, sws=None, sync=None):
        """Forward, loss, backward and one optimizer update on a batch (``xs`` on the model's device or on
        the host, where they are copied over inside the step; ``ys`` and ``sws`` on the host); returns the
        running logs.

        ``sync`` is the hook of data-parallel training (:mod:`numbacnn.distribution`): called as
        ``sync(trainable_weights, loss)`` after the backward pass, it replaces each rank's gradients
        (and loss) by those of the global batch, and returns that loss. The loss is checked after it, so
        every rank stops alike on a non-finite one.
        """
        if not getattr(self, "_kernels_checked", True):
            self._kernels_checked = True
            if self._device == "cpu":
                from .. import warmup

                def step(model, real):
                    if real:
                        return model._train_step_body(xs, ys, sws, sync)
                    from ..compile_pool import copies  # the dry run's no-op kernels may zero int arrays

                    model._train_step_body(copies(xs), copies(ys), copies(sws), None)
                    model._test_step(copies(xs), copies(ys), copies(sws))  # inference's kernels too

                return warmup.first_step(self, step)
        return self._train_step_body(xs, ys, sws, sync)

    def _train_step_body(self, xs, ys, sws, sync):
        trainable = self.trainable_weights
        if trainable and not self.optimizer.built:  # its slots outlive the step: not from the step's plan
            self.optimizer.build(trainable)
        # Data-parallel training reads and writes gradients outside the kernels: no step graph around it.
        with self._device_step("train", xs, use_graph=sync is None) as xs:
            return self._train_step_on(self._place_inputs(xs), ys, sws, sync, trainable)

    def _train_step_on(self, xs, ys, sws, sync, trainable):
        k = ops()
        for w in trainable:
            k.fill(w.grad, 0)
        preds = self._as_list(self.forward(xs, training=True))
        loss, per_output, grads = self._losses_and_gradients(ys, preds, sws)
        loss += self._penalties(trainable)
        if sync is None and not math.isfinite(loss) and not self._dry_run:
            self._cache = None
            raise NonFiniteLossError(str(loss))
        if self.compiled_metrics:  # now, while the GPU has nothing queued after the loss
            preds = [self._to_host(p) for p in preds]
        self.input_grad_needed = False  # nobody needs d(loss)/d(x) of the data
        try:
            self.backward(self._pack_out(grads))
        finally:
            self.input_grad_needed = True
        self._cache = None
        _add_regularizer_gradients(trainable)
        if sync is not None:
            loss = self._reduce_and_check(sync, trainable, loss)
        with interrupt.critical():  # a second Ctrl-C never leaves some weights stepped and others not
            self.optimizer.apply(trainable)
            _apply_constraints(trainable)
        return self._update_metrics(loss, per_output, ys, preds, sws)

    def _reduce_and_check(self, sync, trainable, loss):
        loss = sync(trainable, loss)
        if not math.isfinite(loss):
            raise NonFiniteLossError(str(loss))
        return loss

    def _apply_reduced_gradients(self, sync):
        """A data-parallel step for a rank whose shard of the global batch is empty: no forward pass; it
        joins the reduction with zero gradients and applies the global batch's update. Returns the
        running logs (unchanged)."""
        k = ops()
        trainable = self.trainable_weights
        for w in trainable:
            k.fill(w.grad, 0)
        self._reduce_and_check(sync, trainable, 0.0)
        with interrupt.critical():
            self.optimizer.apply(trainable)
            _apply_constraints(trainable)
        return self._metric_results()

    def _test_step(self, xs, ys, sws=None):
        with self._device_step("test", xs) as xs:
            return self._test_step_on(xs, ys, sws)

    def _test_step_on(self, xs, ys, sws):
        preds = self._as_list(self.forward(self._place_inputs(xs), training=False))
        total, per_output = 0.0, []
        for i, (out, y, y_pred) in enumerate(zip(self._compiled, ys, preds)):
            if out.loss is None or y is None:
                per_output.append(None)
                continue
            value = out.loss(y, y_pred, None if sws is None else sws[i])
            total += out.weight * value
            per_output.append(value)
        total += self._penalties(self.trainable_weights)
        if self.compiled_metrics:
            preds = [self._to_host(p) for p in preds]
        return self._update_metrics(total, per_output, ys, preds, sws)

    def _penalties(self, weights):
        """The regularizers' share of the loss: weight penalties and the last forward's activity ones."""
        total = self.activity_penalty()
        for w in weights:
            if w.regularizer is not None:
                total += w.regularizer(ops().to_host(w.value))
        return total

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        xs, ys, sws = self._prepare_data(x, y, sample_weight, class_weight)
        self._reset_metrics()
        logs = self._train_step(xs, ys, sws)  # the batch is copied over inside the step, into its plan
        return self._format_logs(logs, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        xs, ys, sws = self._prepare_data(x, y, sample_weight)
        self._reset_metrics()
        return self._format_logs(self._test_step(xs, ys, sws), return_dict)

    def predict_on_batch(self, x):
        """The outputs for ``x`` as one batch (inference mode), as Keras's ``predict_on_batch``: one
        forward pass whatever its size, no progress bar; works uncompiled, as ``predict`` does."""
        out = self._outputs_to_host(self.forward(self._place_inputs(self._prepare_x(x)), training=False))
        return self._structure_outputs(out)

    def _format_logs(self, logs, return_dict):
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
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
        if validation_freq != 1:
            raise ValueError("fit(): validation_freq is not supported by numbacnn: it validates after every "
                             "epoch (validation_freq=1)")
        verbose = 1 if verbose == "auto" else int(verbose)
        trainer = self.make_trainer(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                                    validation_data=validation_data, validation_split=validation_split,
                                    shuffle=shuffle, callbacks=callbacks, initial_epoch=initial_epoch,
                                    validation_batch_size=validation_batch_size, sample_weight=sample_weight,
                                    class_weight=class_weight, steps_per_epoch=steps_per_epoch,
                                    validation_steps=validation_steps)
        self.last_interrupt = interrupt.run(trainer)  # None, or (epoch, batch) where Ctrl-C stopped it
        if trainer.epoch > initial_epoch or trainer.batch:  # as Keras: EMA weights written back after fit
            self.optimizer.finalize_variable_values(self.trainable_weights)
        self.history = trainer.history
        return trainer.history

    # ----- evaluate / predict --------------------------------------------------------------------
    def _evaluate_arrays(self, xs, ys, sws=None, batch_size=32, callbacks=None, verbose=0):
        self._reset_metrics()
        steps = math.ceil(len(xs[0]) / batch_size)
        bar = Progbar(steps, verbose=verbose) if verbose else None
        if callbacks is not None:
            callbacks.on_test_begin()
        logs = {}
        for i in range(steps):
            if callbacks is not None:
                callbacks.on_test_batch_begin(i)
            sl = slice(i * batch_size, (i + 1) * batch_size)
            batch_sws = None if sws is None else _slice(sws, sl)
            logs = self._test_step([x[sl] for x in xs], _slice(ys, sl), batch_sws)
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
        if is_stream(x):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate(): when x is a generator or a PyDataset, its batches hold the "
                                 "targets (and sample weights); do not also pass y or sample_weight")
            stream = StreamAdapter(x, steps=steps, who="evaluate(x=...)")
            cbs = CallbackList(callbacks, model=self) if callbacks else None
            verbose = 1 if verbose == "auto" else int(verbose)
            try:
                logs = self._evaluate_stream(stream, callbacks=cbs, verbose=verbose)
            finally:
                stream.close()
            return self._format_logs(logs, return_dict)
        if steps is not None:
            raise ValueError("evaluate(steps=...) bounds the batches of a generator or a PyDataset; with "
                             "arrays, slice them")
        batch_size = _positive_batch_size(batch_size)
        xs, ys, sws = self._prepare_data(x, y, sample_weight)
        verbose = 1 if verbose == "auto" else int(verbose)
        cbs = CallbackList(callbacks, model=self) if callbacks else None
        logs = self._evaluate_arrays(xs, ys, sws, batch_size=batch_size, callbacks=cbs, verbose=verbose)
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
            logs = self._test_step(*self._prepare_data(x, y, sample_weight))
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
        """Outputs for ``x``, computed ``batch_size`` samples at a time (inference mode): one array, or a
        list (a dict) for a model with several outputs. ``x`` may be a generator or a PyDataset (of ``x``
        or ``(x, ...)`` batches; ``steps`` of them at most)."""
        if is_stream(x):
            return self._predict_stream(x, steps, 0 if verbose == "auto" else int(verbose))
        batch_size = _positive_batch_size(batch_size)
        xs = self._prepare_x(x)
        verbose = 0 if verbose == "auto" else int(verbose)
        n = len(xs[0])
        steps = math.ceil(n / batch_size)
        bar = Progbar(steps, verbose=verbose) if verbose else None
        outs = None
        for i in range(steps):
            sl = slice(i * batch_size, (i + 1) * batch_size)
            with self._device_step("predict", [v[sl] for v in xs]) as batch:
                ys = self._as_list(self._outputs_to_host(
                    self.forward(self._place_inputs(batch), training=False)))
            if outs is None:
                outs = [np.empty((n,) + y.shape[1:], dtype=y.dtype) for y in ys]
            for out, y in zip(outs, ys):
                out[sl] = y
            if bar is not None:
                bar.update(i + 1)
        if outs is None:
            outs = [np.empty((0,) + tuple(t.shape[1:]), dtype=self.dtype) for t in self._outputs]
        return self._structure_outputs(self._pack_out(outs))

    def _predict_stream(self, data, steps, verbose):
        stream = StreamAdapter(data, steps=steps, who="predict(x=...)")
        bar = Progbar(stream.num_batches, verbose=verbose) if verbose else None
        chunks = []
        try:
            for i, (x, _, _) in enumerate(stream.epoch()):
                xs = self._prepare_x(x)
                chunks.append(self._as_list(self._outputs_to_host(
                    self.forward(self._place_inputs(xs), training=False))))
                if bar is not None:
                    bar.update(i + 1, finalize=False)
        finally:
            stream.close()
        if bar is not None:
            bar.target = len(chunks)
            bar.update(len(chunks), finalize=True)
        if not chunks:
            outs = [np.empty((0,) + tuple(t.shape[1:]), dtype=self.dtype) for t in self._outputs]
        else:
            outs = [np.concatenate(parts) for parts in zip(*chunks)]
        return self._structure_outputs(self._pack_out(outs))

    def _structure_outputs(self, out):
        """Outputs as the model declared them: a dict by key for dict outputs."""
        if self._output_keys:
            return dict(zip(self._output_keys, out))
        return out

    def activations(self, x):
        """[(layer name, output)] for every layer call, inference mode, for the batch ``x`` (host arrays);
        a layer with several outputs gives one entry per output, named ``name[i]``."""
        xs = self._prepare_x(x)
        found = []

        def keep(layer, y):
            if isinstance(layer, InputLayer):
                return
            if isinstance(y, list):
                found.extend((f"{layer.name}[{i}]", self._to_host(v)) for i, v in enumerate(y))
            else:
                found.append((layer.name, self._to_host(y)))

        self.forward(self._place_inputs(xs), training=False, hook=keep)
        return found


def _renamed(metric, name):
    metric.name = name
    return metric


def _add_regularizer_gradients(weights):
    """w.grad += d(regularizer(w))/dw for the regularized weights."""
    k = ops()
    for w in weights:
        if w.regularizer is not None:
            host = k.to_host(w.value)
            k.add_into(w.grad, k.to_device(w.regularizer.gradient(host).astype(host.dtype)))


def _apply_constraints(weights):
    """Keras applies a weight's constraint right after each update."""
    for w in weights:
        if w.constraint is not None:
            w.assign(w.constraint(w.numpy()))


def _slice(arrays, sl):
    return [None if a is None else a[sl] for a in arrays]


def _class_weights(class_weight, y):
    """Per-sample weights from ``{class index: weight}``; one-hot targets are read by their argmax."""
    y = np.asarray(y)
    labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    labels = labels.astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - {int(k) for k in class_weight})
    if missing:
        raise ValueError(f"class_weight has no weight for class(es) {missing}; give one for every class in y "
                         f"(received keys {sorted(class_weight)})")
    table = np.zeros(int(max(max(class_weight), labels.max())) + 1)
    for k, v in class_weight.items():
        table[int(k)] = float(v)
    return table[labels]
