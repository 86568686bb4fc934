"""Keras 3 optimizers: SGD, Adam, RMSprop, Adagrad, with Keras's update rules, defaults and config.

Applying one step (the weights are updated in place, their arrays keep their identity):

* ``optimizer.apply(weights)``: ``weights`` is a list of :class:`numbacnn.layers.base.Weight`; each is
  stepped by its own ``.grad``. This is what the training loop calls.
* ``optimizer.apply_gradients([(grad, weight), ...])``: Keras's form; ``weight`` is a Weight or a
  C-contiguous float ndarray. ``optimizer.apply(grads, weights)`` is the same, as in Keras.

The first call builds the optimizer on the weights it is given (``build(weights)`` does it explicitly);
later calls may pass any subset of them. A step clips the gradients (``clipnorm``, ``clipvalue`` or
``global_clipnorm``), applies ``weight_decay`` (``w -= w * weight_decay * lr``), runs the update kernel
and adds one to ``iterations``, in Keras's order.

State, for saving: ``variables`` lists ``[iteration, learning_rate, *slot arrays]`` in Keras's order
(e.g. Adam: every weight's momentum, then every weight's velocity), with ``variable_names`` beside it;
``get_state()`` copies them and ``set_state(arrays)`` puts them back into a built optimizer.

Devices: the slot arrays live where the weights do (Numba device arrays on CUDA, created there or moved
by ``place``); ``variables`` and ``get_state()`` give host (numpy) arrays on both devices.
"""

import math
import warnings

import numpy as np

from ._names import missing_name
from .kernels import ops
from .kernels.cpu import arrays as host_arrays
from .kernels.cpu.arrays import arrays_of

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "get", "serialize", "deserialize"]

_UNSUPPORTED_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                         "loss_scale_factor": None, "gradient_accumulation_steps": None}


def _as_float(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"Argument `{name}` should be a float. Received instead: {name}={value!r}")
    return float(value)


class Optimizer:
    """Base class: hyper-parameters, iteration count, slot arrays per weight, clipping and weight decay.

    Subclasses declare ``_slot_names()`` (in Keras's order), may override ``_slot_initial_value(slot)``,
    and implement ``_update(w, g, slots, lr)`` on flat arrays of one dtype.
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
        given = {"use_ema": use_ema, "ema_momentum": ema_momentum,
                 "ema_overwrite_frequency": ema_overwrite_frequency, "loss_scale_factor": loss_scale_factor,
                 "gradient_accumulation_steps": gradient_accumulation_steps}
        for key, default in _UNSUPPORTED_DEFAULTS.items():
            if given[key] != default:
                raise ValueError(f"{type(self).__name__}: `{key}` is not supported by numbacnn; leave it at "
                                 f"its default {default!r}, received {key}={given[key]!r}")
        clip_args = [a for a in (clipnorm, clipvalue, global_clipnorm) if a is not None]
        if len(clip_args) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                             f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        from .layers.base import to_snake_case

        self.name = name if name is not None else to_snake_case(type(self).__name__)
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else _as_float("weight_decay", weight_decay)
        self.clipnorm = None if clipnorm is None else _as_float("clipnorm", clipnorm)
        self.clipvalue = None if clipvalue is None else _as_float("clipvalue", clipvalue)
        self.global_clipnorm = (None if global_clipnorm is None
                                else _as_float("global_clipnorm", global_clipnorm))
        self.iterations = 0
        self.built = False
        self._targets = []
        self._index = {}
        self._slots = {}

    # ----- learning rate -------------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning rate, a float; assign a number to change it (callbacks do)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = _as_float("learning_rate", value)

    # ----- building and state ----------------------------------------------------------------------
    def _slot_names(self):
        return ()

    def _slot_initial_value(self, slot):
        return 0.0

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
        self.built = True

    def place(self, arrays):
        """Move the slot arrays to the device whose arrays functions ``arrays`` holds (``ops()``, or a
        ``kernels.<device>.arrays`` module), after the weights they belong to have moved there."""
        self._slots = {slot: [arrays.to_device(a) for a in values] for slot, values in self._slots.items()}
        self._index = {id(_array_of(t)): i for i, t in enumerate(self._targets)}

    @property
    def variables(self):
        """[iteration (int64), learning_rate (float64, exact), *slots]: Keras's order, numpy arrays. On the
        CPU the slots are the live arrays; on CUDA they are host copies (``set_state`` writes back)."""
        out = [np.array(self.iterations, dtype=np.int64), np.array(self.learning_rate, dtype=np.float64)]
        for slot in self._slot_names():
            out.extend(arrays_of(a).to_host(a) for a in self._slots.get(slot, []))
        return out

    @property
    def variable_names(self):
        """Names beside ``variables``: "iteration", "learning_rate", then e.g. "conv2d_kernel_momentum"."""
        names = ["iteration", "learning_rate"]
        for slot in self._slot_names():
            names.extend(f"{_path_of(t, i).replace('/', '_')}_{slot}" for i, t in enumerate(self._targets))
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
        self.iterations = int(values[0])
        self.learning_rate = float(values[1])
        slots = [a for slot in self._slot_names() for a in self._slots.get(slot, [])]
        for var, value in zip(slots, values[2:]):
            arrays_of(var).copy_into(var, value)

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
        arrays, grads = [], []
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
            grads.append(arrays_of(a).contiguous(g, a.dtype))
        grads = self._clip(grads)
        lr = self.learning_rate
        for a, g in zip(arrays, grads):
            if self.weight_decay is not None:
                arrays_of(a).weight_decay_into(a, self.weight_decay, lr)
            i = self._index[id(a)]
            slots = [self._slots[s][i].reshape(-1) for s in self._slot_names()]
            self._update(a.reshape(-1), g.reshape(-1), slots, lr)
        self.iterations += 1
        return self.iterations

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
        return {"name": self.name, "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, **_UNSUPPORTED_DEFAULTS}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} learning_rate={self.learning_rate:g}>"


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


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    ``w -= lr*g``; with momentum: ``m = momentum*m - lr*g; w += m``; Nesterov: ``w += momentum*m - lr*g``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency, **kwargs)
        if (isinstance(momentum, (bool, np.bool_)) or not isinstance(momentum, (int, float, np.number))
                or not 0 <= momentum <= 1):
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _slot_names(self):
        return ("momentum",) if self.momentum != 0 else ()

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
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.beta_1 = _as_float("beta_1", beta_1)
        self.beta_2 = _as_float("beta_2", beta_2)
        self.epsilon = _as_float("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_names(self):
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

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


class RMSprop(Optimizer):
    """RMSprop: ``v = rho*v + (1-rho)*g^2; w -= lr*g/sqrt(v + eps)``; centered subtracts the squared mean
    gradient inside the root; momentum > 0 accumulates the increments (``m = momentum*m + inc; w -= m``).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-07, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.rho = _as_float("rho", rho)
        self.momentum = _as_float("momentum", momentum)
        self.epsilon = _as_float("epsilon", epsilon)
        self.centered = bool(centered)

    def _slot_names(self):
        names = ["velocity"]
        if self.momentum > 0:
            names.append("momentum")
        if self.centered:
            names.append("average_gradient")
        return tuple(names)

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
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        self.initial_accumulator_value = _as_float("initial_accumulator_value", initial_accumulator_value)
        self.epsilon = _as_float("epsilon", epsilon)

    def _slot_names(self):
        return ("accumulator",)

    def _slot_initial_value(self, slot):
        return self.initial_accumulator_value

    def _update(self, w, g, slots, lr):
        t = w.dtype.type
        ops().adagrad_update(w, g, slots[0], t(lr), t(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_CLASSES = {cls.__name__.lower(): cls for cls in (SGD, Adam, RMSprop, Adagrad)}


def serialize(optimizer):
    """Keras 3's serialized form: {"module", "class_name", "config", "registered_name"}."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config):
    """An optimizer from :func:`serialize`'s dict (the class name in any case)."""
    cls = _CLASSES.get(str(config.get("class_name", "")).lower())
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {config!r}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """An optimizer from a name in any case ("adam", "SGD", "rmsprop", "Adagrad"), a serialized dict, or an
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
