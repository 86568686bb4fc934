"""Keras's activation functions, by name, with the derivatives the layers need.

``get("relu")`` returns an :class:`ActivationFunction` with ``forward(z)``, ``backward(grad_a, z, a)``
and ``name``; the module-level functions (``relu(x)``, ``softmax(x, axis=-1)``, ...) apply one to a
numpy array like ``keras.activations.relu``. The arithmetic is in ``numbacnn.kernels``.
"""

import math

import numpy as np

from ._names import missing_name
from .kernels import ops


class ActivationFunction:
    """A pointwise activation: ``kind`` is one of the kernels' ACT_* codes, ``params`` up to 3 floats."""

    def __init__(self, name, kind, params=()):
        self.name = name
        self.kind = kind
        self.params = tuple(float(p) for p in params) + (0.0,) * (3 - len(params))

    def forward(self, z):
        """a = f(z)."""
        if self.kind == ops().ACT_LINEAR:
            return z
        return ops().activation_forward(z, self.kind, *self.params)

    def backward(self, grad_a, z, a):
        """dL/dz from dL/da, the input z and the output a = f(z)."""
        if self.kind == ops().ACT_LINEAR:
            return grad_a
        return ops().activation_backward(grad_a, z, a, self.kind, *self.params)

    def fused_form(self):
        """``(kind, p0, p1, p2)`` when a kernel can apply this activation inside its own loop
        (``ops().FUSABLE_ACTIVATIONS``: linear and relu), else None."""
        return (self.kind, *self.params) if self.kind in ops().FUSABLE_ACTIVATIONS else None

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"<activation {self.name}>"


class SoftmaxFunction:
    """Softmax along ``axis``; backward is the Jacobian-vector product."""

    def __init__(self, axis=-1, name="softmax"):
        self.axis = axis
        self.name = name

    def forward(self, z):
        return ops().softmax_forward(z, self.axis)

    def backward(self, grad_a, z, a):
        return ops().softmax_backward(grad_a, a, self.axis)

    def fused_form(self):
        """Softmax is never applied inside another kernel."""
        return None

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"<activation {self.name}>"


class LogSoftmaxFunction(SoftmaxFunction):
    """log(softmax(x)) along ``axis``; backward is g - softmax * sum(g)."""

    def __init__(self, axis=-1, name="log_softmax"):
        super().__init__(axis, name)

    def forward(self, z):
        return ops().log_softmax_forward(z, self.axis)

    def backward(self, grad_a, z, a):
        return ops().log_softmax_backward(grad_a, a, self.axis)


def _pointwise(name, kind_name, params=()):
    return ActivationFunction(name, getattr(ops(), kind_name), params)


def _apply(act, x):
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return act.forward(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0), with Keras's optional negative slope, saturation value and threshold."""
    cap = math.inf if max_value is None else max_value
    return _apply(_pointwise("relu", "ACT_RELU", (negative_slope, cap, threshold)), x)


def leaky_relu(x, negative_slope=0.2):
    """x for x >= 0, negative_slope * x otherwise."""
    return _apply(_pointwise("leaky_relu", "ACT_RELU", (negative_slope, math.inf, 0.0)), x)


def relu6(x):
    """min(max(x, 0), 6)."""
    return _apply(_pointwise("relu6", "ACT_RELU", (0.0, 6.0, 0.0)), x)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return _apply(_pointwise("sigmoid", "ACT_SIGMOID"), x)


def tanh(x):
    """Hyperbolic tangent."""
    return _apply(_pointwise("tanh", "ACT_TANH"), x)


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return _apply(_pointwise("elu", "ACT_ELU", (alpha,)), x)


def selu(x):
    """Scaled ELU with Keras's constants (alpha 1.67326324, scale 1.05070098)."""
    return _apply(_pointwise("selu", "ACT_SELU"), x)


def softplus(x):
    """log(exp(x) + 1)."""
    return _apply(_pointwise("softplus", "ACT_SOFTPLUS"), x)


def softsign(x):
    """x / (|x| + 1)."""
    return _apply(_pointwise("softsign", "ACT_SOFTSIGN"), x)


def silu(x):
    """x * sigmoid(x) (also called swish)."""
    return _apply(_pointwise("silu", "ACT_SILU"), x)


swish = silu


def gelu(x, approximate=False):
    """0.5 * x * (1 + erf(x / sqrt(2))), or the tanh approximation."""
    return _apply(_pointwise("gelu", "ACT_GELU", (1.0 if approximate else 0.0,)), x)


def hard_sigmoid(x):
    """relu6(x + 3) / 6."""
    return _apply(_pointwise("hard_sigmoid", "ACT_HARD_SIGMOID"), x)


def hard_silu(x):
    """x * relu6(x + 3) / 6 (also called hard_swish)."""
    return _apply(_pointwise("hard_silu", "ACT_HARD_SILU"), x)


hard_swish = hard_silu


def exponential(x):
    """exp(x)."""
    return _apply(_pointwise("exponential", "ACT_EXPONENTIAL"), x)


def mish(x):
    """x * tanh(softplus(x))."""
    return _apply(_pointwise("mish", "ACT_MISH"), x)


def log_softmax(x, axis=-1):
    """x - log(sum(exp(x))) along ``axis`` (max-subtracted)."""
    return _apply(LogSoftmaxFunction(axis), x)


def linear(x):
    """The identity."""
    return np.asarray(x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``."""
    return _apply(SoftmaxFunction(axis), x)


_KINDS = {
    "linear": ("ACT_LINEAR", ()),
    "relu": ("ACT_RELU", (0.0, math.inf, 0.0)),
    "leaky_relu": ("ACT_RELU", (0.2, math.inf, 0.0)),
    "relu6": ("ACT_RELU", (0.0, 6.0, 0.0)),
    "sigmoid": ("ACT_SIGMOID", ()),
    "tanh": ("ACT_TANH", ()),
    "elu": ("ACT_ELU", (1.0,)),
    "selu": ("ACT_SELU", ()),
    "softplus": ("ACT_SOFTPLUS", ()),
    "softsign": ("ACT_SOFTSIGN", ()),
    "silu": ("ACT_SILU", ()),
    "gelu": ("ACT_GELU", (0.0,)),
    "hard_sigmoid": ("ACT_HARD_SIGMOID", ()),
    "hard_silu": ("ACT_HARD_SILU", ()),
    "exponential": ("ACT_EXPONENTIAL", ()),
    "mish": ("ACT_MISH", ()),
}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
_FUNCTIONS = {fn: fn.__name__ for fn in (relu, leaky_relu, relu6, sigmoid, tanh, elu, selu, softplus,
                                         softsign, silu, gelu, hard_sigmoid, hard_silu, exponential,
                                         mish, linear, softmax, log_softmax)}


def _by_name(name):
    name = _ALIASES.get(name, name)
    if name == "softmax":
        return SoftmaxFunction()
    if name == "log_softmax":
        return LogSoftmaxFunction()
    if name not in _KINDS:
        known = sorted(set(_KINDS) | set(_ALIASES) | {"softmax", "log_softmax"})
        raise ValueError(f"Unknown activation function {name!r}; known: {known}")
    kind_name, params = _KINDS[name]
    return _pointwise(name, kind_name, params)


def get(identifier):
    """An activation object from None (linear), a name, a module-level function, or such an object."""
    if identifier is None:
        return _by_name("linear")
    if isinstance(identifier, str):
        return _by_name(identifier)
    if isinstance(identifier, dict) and isinstance(identifier.get("config"), str):
        return _by_name(identifier["config"])
    if isinstance(identifier, (ActivationFunction, SoftmaxFunction)):  # LogSoftmaxFunction too
        return identifier
    if callable(identifier) and getattr(identifier, "__hash__", None) and identifier in _FUNCTIONS:
        return _by_name(_FUNCTIONS[identifier])
    if hasattr(identifier, "forward") and hasattr(identifier, "backward") and hasattr(identifier, "name"):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r} "
                     "(numbacnn needs a Keras activation name or a numbacnn.activations function)")


def fused_form(activation):
    """``activation.fused_form()``, or None for an object without one (a user's own activation)."""
    method = getattr(activation, "fused_form", None)
    return method() if method is not None else None


def serialize(activation):
    """The activation's name, as Keras writes it in a layer's get_config."""
    return get(activation).name


__getattr__ = missing_name(__name__, lambda: globals())
