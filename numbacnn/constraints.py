"""Weight constraints, as Keras 3's (``keras.constraints``): applied to a weight after each optimizer update.

``MaxNorm(max_value=2, axis=0)``, ``NonNeg()``, ``UnitNorm(axis=0)``, ``MinMaxNorm(min_value=0.0,
max_value=1.0, rate=1.0, axis=0)``, with Keras's formulas (norms over ``axis``, ``backend.epsilon()`` in the
denominators). Layers take them as ``kernel_constraint=``, ``bias_constraint=`` (and Keras's other
``*_constraint`` arguments), by object, class, name ("max_norm", "non_neg", "unit_norm", "min_max_norm") or
Keras's serialized dict. A constraint of your own subclasses :class:`Constraint` with ``__call__(w) -> w``.
"""

import numpy as np

from . import _registry, backend
from ._names import missing_name

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "get", "serialize", "deserialize",
           "max_norm", "non_neg", "unit_norm", "min_max_norm"]


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (a numpy array of w's shape)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _norms(w, axis):
    return np.sqrt(np.square(w).sum(axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescales the slices along ``axis`` whose L2 norm exceeds ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return (w * (desired / (backend.epsilon() + norms))).astype(w.dtype)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Zeroes the negative weights."""

    def __call__(self, w):
        w = np.asarray(w)
        return (w * (w >= 0)).astype(w.dtype)


class UnitNorm(Constraint):
    """Divides the slices along ``axis`` by their L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        return (w / (backend.epsilon() + _norms(w, self.axis))).astype(w.dtype)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves the slices' norms into [min_value, max_value], by ``rate`` of the way."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return (w * (desired / (backend.epsilon() + norms))).astype(w.dtype)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_CLASSES = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm,
            "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm}


def serialize(constraint):
    """Keras 3's serialized form of a constraint (None stays None)."""
    return _registry.serialize(constraint, "keras.constraints")


def deserialize(config):
    return get(config)


def get(identifier):
    """A constraint from None, an instance, a class, a name or Keras's serialized dict."""
    found = _registry.resolve(identifier, Constraint, _CLASSES)
    if found is not _registry.NOT_FOUND:
        return found
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}. numbacnn knows "
                     f"{sorted(_CLASSES)}")


__getattr__ = missing_name(__name__, lambda: globals())
