"""Keras 3's learning-rate schedules: ``keras.optimizers.schedules``, same names, arguments and formulas.

A schedule is called with the optimizer's iteration count and gives the learning rate of that step::

    lr = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.96)
    optimizer = numbacnn.optimizers.SGD(learning_rate=lr)   # evaluated at optimizer.iterations each step

As in Keras, the arithmetic is float32 (the dtype of ``initial_learning_rate`` converted to a tensor),
step by step in Keras's order, so a schedule gives Keras's float32 value; ``__call__`` returns it as a
Python float. Subclass :class:`LearningRateSchedule` (``__call__(step)`` and ``get_config()``) for a
schedule of your own. ``serialize`` / ``deserialize`` use Keras's dict form
(``{"module": "keras.optimizers.schedules", "class_name": ..., "config": ...}``).
"""

import math

import numpy as np

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
           "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize", "get"]

_F = np.float32


def _f(value):
    """A Python number as Keras's float32 tensor would hold it."""
    return _F(value)


def _cos(x):
    """float32 cosine, correctly rounded (computed in float64): TensorFlow's float32 cos agrees with it where
    numpy's float32 cos is off by an ulp."""
    return _F(np.cos(np.float64(x)))


def _check_steps(name, value):
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")


class LearningRateSchedule:
    """Base class: ``__call__(step) -> learning rate`` and ``get_config()``; ``from_config(c)`` is
    ``cls(**c)``."""

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override "
                                  "`__call__(self, step)`.")

    def get_config(self):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override "
                                  "`get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} {self.get_config()}>"


class _RateDecay(LearningRateSchedule):
    """The schedules of ``(initial_learning_rate, decay_steps, decay_rate, staircase)``: ``_decay(p)`` of
    ``p = step / decay_steps`` (floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = type(self).__name__ if name is None else name
        _check_steps("decay_steps", decay_steps)

    def __call__(self, step):
        p = _f(step) / _f(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return float(self._decay(p))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored when
    ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def _decay(self, p):
        return _f(self.initial_learning_rate) * np.power(_f(self.decay_rate), p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` for ``boundaries[i-1] < step <=
    boundaries[i]``, ``values[-1]`` past the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError("The length of boundaries should be 1 less than the length of values. Received: "
                             f"boundaries={boundaries} of length {len(boundaries)}, and values={values} of "
                             f"length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        bounds, values = self.boundaries, self.values
        if step <= bounds[0]:
            return float(_f(values[0]))
        if step > bounds[-1]:
            return float(_f(values[-1]))
        for low, high, value in zip(bounds[:-1], bounds[1:], values[1:-1]):
            if low < step <= high:
                return float(_f(value))
        return 0.0

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step/decay_steps) ** power + end``, the step held at ``decay_steps`` (or,
    with ``cycle``, ``decay_steps`` stretched to the next multiple past the step)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name
        _check_steps("decay_steps", decay_steps)

    def __call__(self, step):
        initial = _f(self.initial_learning_rate)
        end = _f(self.end_learning_rate)
        step_f = _f(step)
        decay_steps = _f(self.decay_steps)
        if self.cycle:
            multiplier = _F(1.0) if step_f == 0 else np.ceil(step_f / decay_steps)
            decay_steps = decay_steps * multiplier
        else:
            step_f = min(step_f, decay_steps)
        p = step_f / decay_steps
        return float((initial - end) * np.power(_F(1) - p, _f(self.power)) + end)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the ratio floored when
    ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def _decay(self, p):
        return _f(self.initial_learning_rate) / (_F(1) + _f(self.decay_rate) * p)


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` to ``alpha`` times it over ``decay_steps``; with
    ``warmup_target``, first a linear warm-up from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps``, then the cosine decay from ``warmup_target``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_steps = warmup_steps
        self.warmup_target = warmup_target
        _check_steps("decay_steps", decay_steps)

    def _decay(self, step, decay_steps, decay_from):
        fraction = step / decay_steps
        cosine = _F(0.5) * (_F(1) + _cos(_f(math.pi) * fraction))
        decayed = _f(1 - self.alpha) * cosine + _f(self.alpha)
        return decay_from * decayed

    def __call__(self, step):
        initial = _f(self.initial_learning_rate)
        decay_steps = _f(self.decay_steps)
        step_f = _f(step)
        if self.warmup_target is None:
            return float(self._decay(min(step_f, decay_steps), decay_steps, initial))
        target = _f(self.warmup_target)
        warmup_steps = _f(self.warmup_steps)
        step_f = min(step_f, decay_steps + warmup_steps)
        if step_f < warmup_steps:
            return float((target - initial) * (step_f / warmup_steps) + initial)
        return float(self._decay(step_f - warmup_steps, decay_steps, target))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods of ``first_decay_steps * t_mul**i`` steps, the i-th
    starting at ``initial_learning_rate * m_mul**i``."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self._t_mul = t_mul
        self._m_mul = m_mul
        self.alpha = alpha
        self.name = name
        _check_steps("first_decay_steps", first_decay_steps)

    def __call__(self, step):
        alpha, t_mul, m_mul = _f(self.alpha), _f(self._t_mul), _f(self._m_mul)
        fraction = _f(step) / _f(self.first_decay_steps)
        if t_mul == 1.0:
            i_restart = np.floor(fraction)
            fraction = fraction - i_restart
        else:
            i_restart = np.floor(np.log(_F(1) - fraction * (_F(1) - t_mul)) / np.log(t_mul))
            sum_r = (_F(1) - np.power(t_mul, i_restart)) / (_F(1) - t_mul)
            fraction = (fraction - sum_r) / np.power(t_mul, i_restart)
        m_fac = np.power(m_mul, i_restart)
        cosine = _F(0.5) * m_fac * (_F(1) + _cos(_f(math.pi) * fraction))
        decayed = (_F(1) - alpha) * cosine + alpha
        return float(_f(self.initial_learning_rate) * decayed)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self._t_mul, "m_mul": self._m_mul,
                "alpha": self.alpha, "name": self.name}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                          InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(learning_rate_schedule):
    """Keras 3's dict: {"module": "keras.optimizers.schedules", "class_name", "config", "registered_name"}."""
    return {"module": "keras.optimizers.schedules", "class_name": type(learning_rate_schedule).__name__,
            "config": learning_rate_schedule.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """A schedule from :func:`serialize`'s dict; ``custom_objects`` maps class names to your own
    LearningRateSchedule subclasses."""
    if not isinstance(config, dict):
        raise ValueError(f"Could not interpret learning rate schedule: {config!r} (expected a dict with "
                         "'class_name' and 'config')")
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown learning rate schedule {name!r}; numbacnn knows {sorted(_CLASSES)} "
                         "(pass your own classes as custom_objects)")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """A schedule from an instance (returned as is) or a serialized dict."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    return deserialize(identifier)
