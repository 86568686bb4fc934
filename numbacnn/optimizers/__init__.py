"""Keras 3 optimizers: SGD, Adam, AdamW, Nadam, Adamax, Lion, RMSprop, Adagrad, with Keras's update rules,
defaults and config; learning-rate schedules in :mod:`numbacnn.optimizers.schedules`.

Applying one step (the weights are updated in place, their arrays keep their identity):

* ``optimizer.apply(weights)``: ``weights`` is a list of :class:`numbacnn.layers.base.Weight`; each is
  stepped by its own ``.grad``. This is what the training loop calls.
* ``optimizer.apply_gradients([(grad, weight), ...])``: Keras's form; ``weight`` is a Weight or a
  C-contiguous float ndarray. ``optimizer.apply(grads, weights)`` is the same, as in Keras.

The first call builds the optimizer on the weights it is given (``build(weights)`` does it explicitly);
later calls may pass any subset of them. A step clips the gradients (``clipnorm``, ``clipvalue`` or
``global_clipnorm``), applies ``weight_decay`` (``w -= w * weight_decay * lr``; ``exclude_from_weight_decay``
leaves weights out), runs the update kernel and adds one to ``iterations``, in Keras's order. With
``gradient_accumulation_steps=n`` the gradients are summed over n calls and their mean applied at every
n-th; with ``use_ema`` the weights' moving average is kept (and written into the weights every
``ema_overwrite_frequency`` steps, or by ``finalize_variable_values()``), as Keras's base optimizer does.

The learning rate: ``learning_rate`` may be a float, a :class:`schedules.LearningRateSchedule` (evaluated
at the iteration count before each step, as Keras) or a callable of no arguments. Reading
``optimizer.learning_rate`` gives the rate of the next step as a float; assigning a float changes it (as
callbacks do; refused, as in Keras, when the optimizer was made with a schedule); assigning a schedule or
a callable replaces it.

State, for saving: ``variables`` lists ``[iteration, learning_rate, *slot arrays, *extra scalars]``, one
block per slot name (Adam: every weight's momentum, then every weight's velocity; no learning_rate when it
is a schedule or a callable), with ``variable_names`` beside it; ``get_state()`` copies them and
``set_state(arrays)`` puts them back into a built optimizer. ``saving.optimizer_state`` reorders them
into Keras's order (interleaved per weight, as ``add_optimizer_variables`` creates them) for files.

Devices: the slot arrays live where the weights do (Numba device arrays on CUDA, created there or moved
by ``place``); ``variables`` and ``get_state()`` give host (numpy) arrays on both devices.
"""

import math
import re
import warnings

import numpy as np

from .._names import missing_name
from ..kernels import ops
from ..kernels.cpu import arrays as host_arrays
from ..kernels.cpu.arrays import arrays_of
from . import schedules
from .schedules import LearningRateSchedule

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Nadam", "Adamax", "Lion", "RMSprop", "Adagrad", "schedules",
           "get", "serialize", "deserialize"]

def _as_float(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"Argument `{name}` should be a float. Received instead: {name}={value!r}")
    return float(value)


class Optimizer:
    """Base class: hyper-parameters, iteration count, slot arrays per weight, clipping, weight decay, the
    weights' moving average (``use_ema``) and gradient accumulation.

    Subclasses declare ``_slot_groups()``: tuples of slot names, one per Keras ``add_optimizer_variables``
    call, in Keras's order; may override ``_slot_initial_value(slot)``; implement
    ``_update(w, g, slots, lr)`` on flat arrays of one dtype; and may keep scalars of their own in
    ``_extra_variables()`` (Nadam's running product), saved after the slots as Keras does.
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if "lr" in kwargs:
            warnings.warn("The `lr` argument is deprecated, use `learning_rate` instead.", DeprecationWarning,
                          stacklevel=3)
            learning_rate = kwargs.pop("lr")
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=3)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if loss_scale_factor is not None:
            raise ValueError(f"{type(self).__name__}: `loss_scale_factor` is not supported by numbacnn (it "
                             "computes float32 gradients without loss scaling); leave it at None, received "
                             f"loss_scale_factor={loss_scale_factor!r}")
        if gradient_accumulation_steps is not None and (
                isinstance(gradient_accumulation_steps, bool) or int(gradient_accumulation_steps) < 2
                or int(gradient_accumulation_steps) != gradient_accumulation_steps):
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. Received: "
                             f"gradient_accumulation_steps={gradient_accumulation_steps}")
        if use_ema:
            if not 0 <= ema_momentum <= 1:
                raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: "
                                 f"ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                                 f"ema_overwrite_frequency={ema_overwrite_frequency}")
        clip_args = [a for a in (clipnorm, clipvalue, global_clipnorm) if a is not None]
        if len(clip_args) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                             f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        from ..layers.base import to_snake_case

        self.name = name if name is not None else to_snake_case(type(self).__name__)
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else _as_float("weight_decay", weight_decay)
        self.clipnorm = None if clipnorm is None else _as_float("clipnorm", clipnorm)
        self.clipvalue = None if clipvalue is None else _as_float("clipvalue", clipvalue)
        self.global_clipnorm = (None if global_clipnorm is None
                                else _as_float("global_clipnorm", global_clipnorm))
        self.use_ema = bool(use_ema)
        self.ema_momentum = _as_float("ema_momentum", ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = None
        self.gradient_accumulation_steps = (None if gradient_accumulation_steps is None
                                            else int(gradient_accumulation_steps))
        self._iterations = 0
        self.built = False
        self._targets = []
        self._index = {}
        self._slots = {}
        self._exclude_from_weight_decay = set()
        self._exclude_from_weight_decay_pattern = None

    # ----- learning rate and iterations -------------------------------------------------------------
    @property
    def iterations(self):
        """Optimizer steps taken (with ``gradient_accumulation_steps``: updates made, as in Keras)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value)

    @property
    def learning_rate(self):
        """The learning rate of the next step, a float: a schedule evaluated at the iteration count (as
        Keras, the raw count of ``apply`` calls), a callable called, or the number. Assign a number to
        change it (callbacks do), or a schedule or callable to replace it."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self._iterations))
        if callable(lr):
            return float(lr())
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule) or (callable(value) and not isinstance(value, np.ndarray)):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its "
                            "`learning_rate` constructor argument, hence its learning rate is not settable. "
                            "If you need the learning rate to be settable, you should instantiate the "
                            "optimizer with a float `learning_rate` argument.")
        self._learning_rate = _as_float("learning_rate", value)

    @property
    def _has_learning_rate_variable(self):
        """Keras keeps the learning rate as a variable only when it is a number."""
        return isinstance(self._learning_rate, float)

    # ----- weight decay -----------------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Leave these weights out of ``weight_decay``: ``var_list`` (weights or arrays) and any weight whose
        name contains one of ``var_names`` (e.g. ``["bias"]``). Only before the optimizer is built."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the optimizer is "
                             "built.")
        # a Weight by itself (its array moves with the device), a bare array by its identity
        self._exclude_from_weight_decay = {id(v) for v in var_list or []}
        self._exclude_from_weight_decay_pattern = (re.compile("|".join(set(var_names))) if var_names
                                                   else None)

    def _use_weight_decay(self, var, array):
        if id(var) in self._exclude_from_weight_decay or id(array) in self._exclude_from_weight_decay:
            return False
        pattern = self._exclude_from_weight_decay_pattern
        name = getattr(var, "name", None)
        return not (pattern is not None and name is not None and re.search(pattern, name) is not None)

    # ----- building and state ----------------------------------------------------------------------
    def _slot_groups(self):
        return ()

    def _slot_names(self):
        """All slot names: the base's (``average`` with EMA, ``gradient_accumulator``), then the
        optimizer's, in Keras's order of creation."""
        names = []
        if self.use_ema:
            names.append("average")
        if self.gradient_accumulation_steps:
            names.append("gradient_accumulator")
        for group in self._slot_groups():
            names.extend(group)
        return tuple(names)

    def _keras_groups(self):
        """The slot names grouped as Keras creates them: each group's slots interleaved per weight."""
        groups = []
        if self.use_ema:
            groups.append(("average",))
        if self.gradient_accumulation_steps:
            groups.append(("gradient_accumulator",))
        return tuple(groups) + tuple(self._slot_groups())

    def _optimizer_slots(self):
        """The slot names that ``_update`` receives (the subclass's own)."""
        return tuple(s for group in self._slot_groups() for s in group)

    def _slot_initial_value(self, slot):
        return 0.0

    def _extra_variables(self):
        """[(name, numpy scalar)] kept after the slots (Keras's order); none by default."""
        return []

    def _set_extra_variables(self, values):
        """Put back ``_extra_variables``' values."""

    def _build_extra(self, arrays):
        """Subclass hook at build time (``arrays``: the weights' arrays)."""

    def build(self, var_list):
        """Create the slot arrays (zeros, or the optimizer's initial value) for these weights."""
        if self.built:
            return
        arrays = [_array_of(v) for v in var_list]
        self._targets = list(var_list)
        self._index = {id(a): i for i, a in enumerate(arrays)}
        self._slots = {slot: [arrays_of(a).full(a.shape, self._slot_initial_value(slot), a.dtype)
                              for a in arrays]
                       for slot in self._slot_names()}
        self._build_extra(arrays)
        self.built = True

    def place(self, arrays):
        """Move the slot arrays to the device whose arrays functions ``arrays`` holds (``ops()``, or a
        ``kernels.<device>.arrays`` module), after the weights they belong to have moved there."""
        self._slots = {slot: [arrays.to_device(a) for a in values] for slot, values in self._slots.items()}
        self._index = {id(_array_of(t)): i for i, t in enumerate(self._targets)}

    def _head(self):
        """The scalars before the slots: iteration, and the learning rate when it is a number."""
        head = [np.array(self._iterations, dtype=np.int64)]
        if self._has_learning_rate_variable:
            head.append(np.array(self._learning_rate, dtype=np.float64))
        return head

    @property
    def variables(self):
        """[iteration (int64), learning_rate (float64, exact; absent when it is a schedule or a callable),
        *slots, *extra scalars]: numpy arrays, the slots one block per slot name (every weight's
        ``average``, then every weight's ``momentum``, ...; ``saving.optimizer_state`` reorders them into
        Keras's interleaved order for files). On the CPU the slots are the live arrays; on CUDA they are
        host copies (``set_state`` writes back)."""
        out = self._head()
        for slot in self._slot_names():
            out.extend(arrays_of(a).to_host(a) for a in self._slots.get(slot, []))
        out.extend(np.array(value) for _, value in self._extra_variables())
        return out

    @property
    def variable_names(self):
        """Names beside ``variables``: "iteration", "learning_rate", then e.g. "conv2d_kernel_momentum"."""
        names = ["iteration", "learning_rate"][:len(self._head())]
        for slot in self._slot_names():
            names.extend(f"{_path_of(t, i).replace('/', '_')}_{slot}" for i, t in enumerate(self._targets))
        names.extend(name for name, _ in self._extra_variables())
        return names

    def get_state(self):
        """Copies of ``variables``."""
        return [np.array(v, copy=True) for v in self.variables]

    def set_state(self, values):
        """Assign arrays in the order of ``variables`` (iteration and learning rate included)."""
        if not self.built:
            raise ValueError(f"Optimizer {self.name!r} is not built yet: call optimizer.build(weights) "
                             "(or take one step) before set_state()")
        values = list(values)
        current = self.variables
        if len(values) != len(current):
            raise ValueError(f"Optimizer {self.name!r} has {len(current)} variables, received {len(values)}")
        for name, var, value in zip(self.variable_names, current, values):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(f"Optimizer variable {name!r} has shape {var.shape}, received shape "
                                 f"{value.shape}")
        n_head = len(self._head())
        self._iterations = int(values[0])
        if n_head == 2:
            self._learning_rate = float(values[1])
        slots = [a for slot in self._slot_names() for a in self._slots.get(slot, [])]
        for var, value in zip(slots, values[n_head:]):
            arrays_of(var).copy_into(var, value)
        n_extra = len(self._extra_variables())
        if n_extra:
            self._set_extra_variables(values[len(values) - n_extra:])

    # ----- applying --------------------------------------------------------------------------------
    def apply(self, weights, trainable_variables=None):
        """``apply(weights)``: each Weight steps by its ``.grad``. ``apply(grads, variables)``: as Keras."""
        if trainable_variables is None:
            pairs = [(w.grad, w) for w in weights]
        else:
            pairs = list(zip(weights, trainable_variables))
        self.apply_gradients(pairs)

    def apply_gradients(self, grads_and_vars):
        """One step for ``[(grad, weight), ...]`` (None grads are skipped); returns ``iterations``."""
        pairs = list(grads_and_vars)
        if not pairs:
            return self.iterations
        if not self.built:
            self.build([v for _, v in pairs])
        missing = [_path_of(v, i) for i, (g, v) in enumerate(pairs) if g is None]
        pairs = [(g, v) for g, v in pairs if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss.",
                          stacklevel=2)
        arrays, grads, variables = [], [], []
        for g, v in pairs:
            a = _array_of(v)
            if id(a) not in self._index:
                raise ValueError(f"Unknown variable: {_path_of(v, len(arrays))}. This optimizer can only be "
                                 "called for the variables it was originally built with. When working with a "
                                 "new set of variables, you should recreate a new optimizer instance.")
            if not hasattr(g, "shape") or not hasattr(g, "dtype"):
                g = np.asarray(g)
            if tuple(g.shape) != tuple(a.shape):
                raise ValueError(f"Gradient for {_path_of(v, len(arrays))} has shape {tuple(g.shape)}, the "
                                 f"variable has shape {tuple(a.shape)}")
            arrays.append(a)
            variables.append(v)
            grads.append(arrays_of(a).contiguous(g, a.dtype))
        steps = self.gradient_accumulation_steps
        if steps and (self._iterations + 1) % steps != 0:
            for a, g in zip(arrays, grads):
                accumulator = self._slots["gradient_accumulator"][self._index[id(a)]]
                arrays_of(a).add_into(accumulator, g)
        else:
            if steps:
                k = ops()
                accumulators = [self._slots["gradient_accumulator"][self._index[id(a)]] for a in arrays]
                grads = [k.accumulated_mean(g.reshape(-1), acc.reshape(-1), g.dtype.type(steps))
                         .reshape(g.shape) for g, acc in zip(grads, accumulators)]
            self._step(variables, arrays, grads)
            if steps:
                for acc in accumulators:
                    arrays_of(acc).fill(acc, 0)
        if self.use_ema:
            self._update_moving_average()
        self._iterations += 1
        return self.iterations

    def _step(self, variables, arrays, grads):
        """Clip, decay and update (Keras's ``_clip_gradients``, ``_apply_weight_decay``, ``update_step``)."""
        grads = self._clip(grads)
        lr = self.learning_rate
        if self.weight_decay is not None:
            for v, a in zip(variables, arrays):
                if self._use_weight_decay(v, a):
                    arrays_of(a).weight_decay_into(a, self.weight_decay, lr)
        self._before_updates(arrays)
        names = self._optimizer_slots()
        for a, g in zip(arrays, grads):
            i = self._index[id(a)]
            slots = [self._slots[s][i].reshape(-1) for s in names]
            self._update(a.reshape(-1), g.reshape(-1), slots, lr)

    def _before_updates(self, arrays):
        """Subclass hook, once per step before the weights' updates (Nadam's running product)."""

    def _update_moving_average(self):
        """EMA of every weight the optimizer was built on: the first step copies, later steps blend."""
        k = ops()
        for i, target in enumerate(self._targets):
            a = _array_of(target)
            average = self._slots["average"][i]
            t = a.dtype.type
            momentum = t(self.ema_momentum) if self.iterations != 0 else t(0)
            k.ema_update(average.reshape(-1), a.reshape(-1), momentum, t(1) - momentum)
        if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
            self._overwrite_with_average()

    def _overwrite_with_average(self):
        for i, target in enumerate(self._targets):
            a = _array_of(target)
            arrays_of(a).copy_into(a, self._slots["average"][i])

    def finalize_variable_values(self, var_list=None):
        """With ``use_ema``: set the weights to their moving averages (Keras's fit does this at the end of
        training); otherwise nothing."""
        if self.use_ema and self.built:
            self._overwrite_with_average()

    def _clip(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            out = []
            for g in grads:
                k = arrays_of(g)
                norm = math.sqrt(k.sum_squares(g))
                out.append(k.scale(g, self.clipnorm / max(norm, self.clipnorm)))
            return out
        if self.global_clipnorm and self.global_clipnorm > 0:
            norm = math.sqrt(sum(arrays_of(g).sum_squares(g) for g in grads))
            scale = self.global_clipnorm * min(1.0 / norm if norm else math.inf, 1.0 / self.global_clipnorm)
            return [arrays_of(g).scale(g, scale) for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            return [arrays_of(g).clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _update(self, w, g, slots, lr):
        raise NotImplementedError

    # ----- config ------------------------------------------------------------------------------------
    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif callable(lr):
            lr = float(lr())
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        lr = self._learning_rate
        shown = f"{lr:g}" if isinstance(lr, float) else repr(lr)
        return f"<{type(self).__name__} name={self.name} learning_rate={shown}>"


def _array_of(var):
    """The array behind a Weight (``.value``) or an array (numpy or device), which must be C-contiguous
    floats."""
    a = var.value if hasattr(var, "value") else var
    if isinstance(a, np.ndarray):
        contiguous = a.flags.c_contiguous
    else:
        contiguous = arrays_of(a) is not host_arrays and a.is_c_contiguous()
    if not contiguous or a.dtype not in (np.float32, np.float64):
        raise ValueError(f"Optimizers update C-contiguous float32/float64 arrays in place; received {var!r}")
    return a


def _path_of(var, index):
    return getattr(var, "path", None) or getattr(var, "name", None) or f"variable_{index}"


_BASE_ARGS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
              "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps")


def _base_kwargs(values):
    """The base-class keyword arguments out of a subclass's ``locals()``."""
    return {key: values[key] for key in _BASE_ARGS}


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    ``w -= lr*g``; with momentum: ``m = momentum*m - lr*g; w += m``; Nesterov: ``w += momentum*m - lr*g``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **_base_kwargs(locals()), **kwargs)
        if (isinstance(momentum, (bool, np.bool_)) or not isinstance(momentum, (int, float, np.number))
                or not 0 <= momentum <= 1):
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _slot_groups(self):
        return (("momentum",),) if self.momentum != 0 else ()

    def _update(self, w, g, slots, lr):
        t = w.dtype.type
        if slots:
            ops().sgd_momentum_update(w, g, slots[0], t(lr), t(self.momentum), self.nesterov)
        else:
            ops().sgd_update(w, g, t(lr))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam: ``alpha = lr*sqrt(1-b2^t)/(1-b1^t)`` (t the 1-based step), ``m += (g-m)(1-b1)``,
    ``v += (g^2-v)(1-b2)``, ``w -= alpha*m/(sqrt(v)+eps)``; with amsgrad, ``v_hat = max(v_hat, v)`` takes
    v's place in the step.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **_base_kwargs(locals()), **kwargs)
        self.beta_1 = _as_float("beta_1", beta_1)
        self.beta_2 = _as_float("beta_2", beta_2)
        self.epsilon = _as_float("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_groups(self):
        groups = (("momentum", "velocity"),)
        return groups + (("velocity_hat",),) if self.amsgrad else groups

    def _update(self, w, g, slots, lr):
        t = w.dtype.type
        step = t(self.iterations + 1)
        alpha = t(lr) * np.sqrt(t(1) - t(self.beta_2) ** step) / (t(1) - t(self.beta_1) ** step)
        b1, b2, eps = t(1 - self.beta_1), t(1 - self.beta_2), t(self.epsilon)
        if self.amsgrad:
            ops().amsgrad_update(w, g, slots[0], slots[1], slots[2], t(alpha), b1, b2, eps)
        else:
            ops().adam_update(w, g, slots[0], slots[1], t(alpha), b1, b2, eps)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w -= w*weight_decay*lr`` before each Adam step
    (``weight_decay`` defaults to 0.004 and must be a float, as in Keras)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, name=name, **_base_kwargs(locals()), **kwargs)
        if self.weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum, Dozat 2015), Keras's form: with ``u_t = b1*(1 - 0.5*0.96^t)`` and
    the running product ``prod_t = u_1*...*u_t`` (a variable of its own, saved after the slots),
    ``m_hat = u_{t+1}*m/(1 - prod_t*u_{t+1}) + (1-u_t)*g/(1 - prod_t)``, ``v_hat = v/(1-b2^t)``,
    ``w -= lr*m_hat/(sqrt(v_hat)+eps)``.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **_base_kwargs(locals()), **kwargs)
        self.beta_1 = _as_float("beta_1", beta_1)
        self.beta_2 = _as_float("beta_2", beta_2)
        self.epsilon = _as_float("epsilon", epsilon)
        self._u_product = None

    def _slot_groups(self):
        return (("momentum", "velocity"),)

    def _build_extra(self, arrays):
        self._u_product = (arrays[0].dtype.type if arrays else np.float32)(1.0)

    def _extra_variables(self):
        return [] if self._u_product is None else [("variable", self._u_product)]

    def _set_extra_variables(self, values):
        self._u_product = self._u_product.dtype.type(np.asarray(values[0]))

    def _before_updates(self, arrays):
        t = self._u_product.dtype.type
        step = t(self.iterations + 1)
        self._u_product = self._u_product * t(self.beta_1) * (t(1) - t(0.5) * np.power(t(0.96), step))

    def _update(self, w, g, slots, lr):
        t = w.dtype.type
        local_step, next_step = t(self.iterations + 1), t(self.iterations + 2)
        b1, b2 = t(self.beta_1), t(self.beta_2)
        u_t = b1 * (t(1) - t(0.5) * np.power(t(0.96), local_step))
        u_t_1 = b1 * (t(1) - t(0.5) * np.power(t(0.96), next_step))
        product = t(self._u_product)
        product_next = product * u_t_1
        ops().nadam_update(w, g, slots[0], slots[1], t(1) - b1, t(1) - b2, u_t_1, t(1) - product_next,
                           t(1) - u_t, t(1) - product, t(1) - np.power(b2, local_step), t(lr),
                           t(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax (Adam on the infinity norm): ``m += (g-m)(1-b1)``, ``u = max(b2*u, |g|)``,
    ``w -= lr*m / ((1-b1^t)*(u+eps))``.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **_base_kwargs(locals()), **kwargs)
        self.beta_1 = _as_float("beta_1", beta_1)
        self.beta_2 = _as_float("beta_2", beta_2)
        self.epsilon = _as_float("epsilon", epsilon)

    def _slot_groups(self):
        return (("momentum", "norm"),)

    def _update(self, w, g, slots, lr):
        t = w.dtype.type
        beta_1_power = np.power(t(self.beta_1), t(self.iterations + 1))
        ops().adamax_update(w, g, slots[0], slots[1], t(lr), t(1 - self.beta_1), t(self.beta_2),
                            t(1) - beta_1_power, t(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion (Chen et al., 2023): ``w -= lr*sign(b1*m + (1-b1)*g)``, then ``m = b2*m + (1-b2)*g``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **_base_kwargs(locals()), **kwargs)
        self.beta_1 = _as_float("beta_1", beta_1)
        self.beta_2 = _as_float("beta_2", beta_2)
        if self.beta_1 <= 0 or self.beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                             f"degenerates to SignSGD. Received: beta_1={beta_1}.")

    def _slot_groups(self):
        return (("momentum",),)

    def _update(self, w, g, slots, lr):
        t = w.dtype.type
        b1, b2 = t(self.beta_1), t(self.beta_2)
        ops().lion_update(w, g, slots[0], t(lr), b1, t(1) - b1, b2, t(1) - b2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class RMSprop(Optimizer):
    """RMSprop: ``v = rho*v + (1-rho)*g^2; w -= lr*g/sqrt(v + eps)``; centered subtracts the squared mean
    gradient inside the root; momentum > 0 accumulates the increments (``m = momentum*m + inc; w -= m``).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **_base_kwargs(locals()), **kwargs)
        self.rho = _as_float("rho", rho)
        self.momentum = _as_float("momentum", momentum)
        self.epsilon = _as_float("epsilon", epsilon)
        self.centered = bool(centered)

    def _slot_groups(self):
        groups = [("velocity",)]
        if self.momentum > 0:
            groups.append(("momentum",))
        if self.centered:
            groups.append(("average_gradient",))
        return tuple(groups)

    def _update(self, w, g, slots, lr):
        t = w.dtype.type
        unused = arrays_of(w).empty((0,), w.dtype)
        use_momentum = self.momentum > 0
        momentum_slot = slots[1] if use_momentum else unused
        average = slots[-1] if self.centered else unused
        ops().rmsprop_update(w, g, slots[0], momentum_slot, average, t(lr), t(self.rho), t(1 - self.rho),
                             t(self.momentum), t(self.epsilon), self.centered, use_momentum)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad: ``acc += g^2; w -= lr*g/sqrt(acc + eps)``, the accumulators starting at
    ``initial_accumulator_value``.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-07, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **_base_kwargs(locals()), **kwargs)
        self.initial_accumulator_value = _as_float("initial_accumulator_value", initial_accumulator_value)
        self.epsilon = _as_float("epsilon", epsilon)

    def _slot_groups(self):
        return (("accumulator",),)

    def _slot_initial_value(self, slot):
        return self.initial_accumulator_value if slot == "accumulator" else 0.0

    def _update(self, w, g, slots, lr):
        t = w.dtype.type
        ops().adagrad_update(w, g, slots[0], t(lr), t(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_CLASSES = {cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, Nadam, Adamax, Lion, RMSprop, Adagrad)}


def serialize(optimizer):
    """Keras 3's serialized form: {"module", "class_name", "config", "registered_name"}."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """An optimizer from :func:`serialize`'s dict (the class name in any case); a learning-rate schedule in
    its config is deserialized too (``custom_objects``: your own schedule classes by name)."""
    cls = _CLASSES.get(str(config.get("class_name", "")).lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {config!r}")
    return cls.from_config(dict(config.get("config") or {}), custom_objects)


def get(identifier):
    """An optimizer from a name in any case ("adam", "SGD", "adamw", "nadam", "adamax", "lion", "rmsprop",
    "Adagrad"), a serialized dict, or an
    Optimizer instance (returned as is); None gives None.
    """
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _CLASSES[identifier.lower()]()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


__getattr__ = missing_name(__name__, lambda: globals())
