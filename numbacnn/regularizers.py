"""Weight regularizers, as Keras 3's (``keras.regularizers``): a penalty added to the loss, and its gradient.

``L1(l1)``: ``l1 * sum|w|``; ``L2(l2)``: ``l2 * sum w^2``; ``L1L2(l1, l2)``: both;
``OrthogonalRegularizer(factor, mode)``: ``factor * 0.5 * sum_{i != j} |<n_i, n_j>| / num_pairs`` over the
L2-normalised rows (or columns) n_i of a rank-2 kernel. Layers take them as ``kernel_regularizer=``,
``bias_regularizer=``, ``activity_regularizer=`` (``depthwise_``/``pointwise_``/``gamma_``/``beta_``/
``alpha_regularizer=`` where Keras has them), by object, class name, string ("l1", "l2",
"orthogonal_regularizer"; as in Keras, "l1_l2" is not one) or Keras's serialized dict. The penalty
joins the reported loss as Keras adds it, and its gradient joins the weight's (``numbacnn.models.training``).

numbacnn differentiates by hand, so a regularizer of your own subclasses :class:`Regularizer` and gives both
``__call__(x) -> float`` and ``gradient(x) -> array`` (numpy, float64 is fine); a plain function is refused.
"""

import numpy as np

from . import _registry
from ._names import missing_name

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "get", "serialize", "deserialize",
           "l1", "l2", "l1_l2", "orthogonal_regularizer"]


def _factor(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
            np.isfinite(value) and value >= 0):
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. Received: "
                         f"{name}={value!r}")
    return float(value)


class Regularizer:
    """Base class: ``__call__(x)`` the penalty (a float), ``gradient(x)`` d penalty / d x (x's shape)."""

    def __call__(self, x):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(x)")

    def gradient(self, x):
        raise NotImplementedError(f"{type(self).__name__} must define gradient(x): numbacnn differentiates "
                                  "by hand")

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum|x| + l2 * sum x^2`` (Keras's defaults here are 0.0 and 0.0)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        out = 0.0
        if self.l1:
            out += self.l1 * float(np.abs(x).sum())
        if self.l2:
            out += self.l2 * float(np.square(x).sum())
        return out

    def gradient(self, x):
        x = np.asarray(x)
        return (self.l1 * np.sign(x) + 2.0 * self.l2 * x).astype(x.dtype)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum|x|`` (default 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1, l2=0.0)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum x^2`` (default 0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(l1=0.0, l2=0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns of a rank-2 kernel towards orthogonality."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError(f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. '
                             f"Received: mode={mode}")
        self.mode = mode

    def _vectors(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: "
                             f"inputs.shape={x.shape}")
        return x if self.mode == "rows" else x.T

    def _parts(self, v):
        norms = np.sqrt(np.maximum(np.square(v).sum(axis=1, keepdims=True), 1e-12))
        n = v / norms
        size = v.shape[0]
        return n, norms, n @ n.T, size * (size - 1.0) / 2.0

    def __call__(self, x):
        v = self._vectors(x)
        if v.shape[0] < 2:
            return 0.0
        _, _, product, pairs = self._parts(v)
        np.fill_diagonal(product, 0.0)
        return float(self.factor * 0.5 * np.abs(product).sum() / pairs)

    def gradient(self, x):
        dtype = np.asarray(x).dtype
        v = self._vectors(x)
        if v.shape[0] < 2:
            return np.zeros(np.shape(x), dtype)
        n, norms, product, pairs = self._parts(v)
        g = np.sign(product) * (self.factor * 0.5 / pairs)  # d penalty / d product
        np.fill_diagonal(g, 0.0)
        dn = (g + g.T) @ n
        dv = (dn - n * (n * dn).sum(axis=1, keepdims=True)) / norms
        clipped = np.square(v).sum(axis=1, keepdims=True) < 1e-12  # the norm is the constant epsilon there
        dv = np.where(clipped, dn / norms, dv)
        return (dv if self.mode == "rows" else dv.T).astype(dtype)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer,
            "l1": L1, "l2": L2, "orthogonal_regularizer": OrthogonalRegularizer}  # Keras refuses "l1_l2"


def serialize(regularizer):
    """Keras 3's serialized form of a regularizer (None stays None)."""
    return _registry.serialize(regularizer, "keras.regularizers")


def deserialize(config):
    return get(config)


def get(identifier):
    """A regularizer from None, an instance, a class, a name or Keras's serialized dict."""
    found = _registry.resolve(identifier, Regularizer, _CLASSES)
    if found is not _registry.NOT_FOUND:
        return found
    if callable(identifier):
        raise ValueError(f"Could not use the regularizer {identifier!r}: numbacnn needs its gradient too; "
                         "subclass numbacnn.regularizers.Regularizer with __call__(x) and gradient(x)")
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}. numbacnn knows "
                     f"{sorted(_CLASSES)}")


__getattr__ = missing_name(__name__, lambda: globals())
