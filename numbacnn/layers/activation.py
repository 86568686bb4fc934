"""Activation layers: Activation, ReLU, LeakyReLU, ELU, Softmax (Keras 3 arguments and configs)."""

import math
import warnings

from .. import activations
from .base import Layer, format_shape


class _ActivationLayer(Layer):
    """Applies ``self._fn`` (an activations object) elementwise; no weights, shape unchanged."""

    _fn = None

    def forward(self, x, training=False):
        a = self._fn.forward(x)
        if training:
            self._cache = (x, a)
        return a

    def backward(self, grad):
        z, a = self._cache
        return self._fn.backward(grad, z, a)


class Activation(_ActivationLayer):
    """Applies an activation function by name or function: ``Activation("relu")``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._fn = activations.get(activation)
        self.activation = self._fn

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self._fn)}


class ReLU(_ActivationLayer):
    """max_value if x >= max_value, x if threshold <= x < max_value, negative_slope * (x - threshold) else."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. "
                             f"Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be None or a negative value. "
                             f"Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be None or a negative value. "
                             f"Received: threshold={threshold}")
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold
        cap = math.inf if max_value is None else max_value
        self._fn = activations.ActivationFunction(
            "relu", activations.get("relu").kind, (negative_slope, cap, threshold))

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(_ActivationLayer):
    """x for x >= 0, negative_slope * x otherwise (Keras 3 default 0.3; Keras 2's ``alpha=`` accepted)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or negative "
                             f"value. Expected a float. Received: negative_slope={negative_slope}")
        self.negative_slope = negative_slope
        self._fn = activations.ActivationFunction(
            "leaky_relu", activations.get("leaky_relu").kind, (negative_slope, math.inf, 0.0))

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_ActivationLayer):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self._fn = activations.ActivationFunction("elu", activations.get("elu").kind, (alpha,))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_ActivationLayer):
    """Softmax along ``axis`` (an int, or a list of one int)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f'Layer "{self.name}" (Softmax): only a single axis is supported, '
                                 f"received axis={axis}")
            axis = axis[0]
        self.axis = int(axis)
        self._fn = activations.SoftmaxFunction(self.axis)

    def compute_output_shape(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ValueError(f'Layer "{self.name}" (Softmax): axis {self.axis} is out of range for '
                             f"input shape {format_shape(input_shape)}")
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
