"""Activation layers: Activation, ReLU, LeakyReLU, ELU, Softmax, PReLU (Keras 3 arguments and configs)."""

import math
import warnings

import numpy as np

from .. import activations, initializers
from ..kernels import ops
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


class PReLU(Layer):
    """``max(x, 0) + alpha * min(x, 0)`` with a learnt alpha per input position (shape ``input_shape[1:]``),
    shared (size 1) along ``shared_axes``."""

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self._set_weight_options(
            alpha_regularizer=alpha_regularizer,
            alpha_constraint=alpha_constraint,
        )
        self.alpha_initializer = initializers.get(alpha_initializer)
        if shared_axes is None:
            self.shared_axes = None
        elif not isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [int(shared_axes)]
        else:
            self.shared_axes = [int(a) for a in shared_axes]
        self.alpha = None
        self._index = None

    def compute_output_shape(self, input_shape):
        for a in self.shared_axes or []:
            if not 1 <= a < len(input_shape):
                raise ValueError(f'Layer "{self.name}" (PReLU): shared axis {a} is not a non-batch axis of '
                                 f"input shape {format_shape(input_shape)}")
        if any(d is None for i, d in enumerate(input_shape[1:], 1) if i not in (self.shared_axes or [])):
            raise ValueError(f'Layer "{self.name}" (PReLU) needs defined non-batch dimensions (or '
                             f"shared_axes over them), received input shape {format_shape(input_shape)}")
        return tuple(input_shape)

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            shape[a - 1] = 1
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer)

    def _positions(self, shape):
        shape = tuple(shape)
        """(aidx (K,), group_ptr (A+1,), group_pos (K,)) device arrays: each position's alpha and, per alpha,
        its positions."""
        key = (tuple(shape[1:]), ops().__name__)
        if self._index is None or self._index[0] != key:
            a_shape = self.alpha.shape
            a = self.alpha.value.size
            aidx = np.ascontiguousarray(np.broadcast_to(np.arange(a).reshape(a_shape), shape[1:]).reshape(-1))
            order = np.argsort(aidx, kind="stable").astype(np.int64)
            ptr = np.concatenate([[0], np.cumsum(np.bincount(aidx, minlength=a))]).astype(np.int64)
            k = ops()
            with k.persistent():  # kept across steps: not buffers of a step's memory plan
                self._index = (key, k.to_device(aidx.astype(np.int64)), k.to_device(ptr), k.to_device(order))
        return self._index[1:]

    def forward(self, x, training=False):
        aidx, _, _ = self._positions(x.shape)
        if training:
            self._cache = x
        return ops().prelu_forward(x, self.alpha.value.reshape(-1), aidx)

    def backward(self, grad):
        x = self._cache
        aidx, ptr, order = self._positions(x.shape)
        k = ops()
        dx, dalpha = k.prelu_backward(x, k.contiguous(grad), self.alpha.value.reshape(-1), aidx, ptr, order)
        if self.trainable:
            k.add_into(self.alpha.grad, dalpha.reshape(self.alpha.shape))
        return dx

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": None, "alpha_constraint": None, "shared_axes": self.shared_axes}
