"""Dense: output = activation(input @ kernel + bias), on the last axis of inputs of any rank >= 2."""

import numpy as np

from .. import activations, initializers
from ..kernels import ops
from .base import Layer, format_shape


class Dense(Layer):
    """Densely connected layer; kernel (input_dim, units), bias (units,)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError("Received an invalid value for `units`, expected a positive integer. "
                             f"Received: units={units}")
        super().__init__(**kwargs)
        self._set_weight_options(
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = None
        self.bias = None

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f'Layer "{self.name}" (Dense) expected an input of rank >= 2 with a defined '
                             f"last axis, e.g. (None, features), received {format_shape(input_shape)}")
        if self.kernel is not None and input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(f'Layer "{self.name}" (Dense) expected input shape '
                             f"(..., {self.kernel.shape[0]}), received {format_shape(input_shape)}")
        return input_shape[:-1] + (self.units,)

    def _check_input_shape(self, input_shape):
        # Like Keras, a built Dense accepts any rank >= 2 whose last axis matches its kernel.
        self.compute_output_shape(input_shape)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer)

    def forward(self, x, training=False):
        shape = tuple(x.shape)
        lead = shape[:-1]
        x2 = x.reshape(-1, shape[-1])
        z = ops().dense_forward(x2, self.kernel.value, self.bias.value if self.use_bias else None)
        a = self.activation.forward(z)
        if training:
            self._cache = (x2, z, a, lead)
        return a.reshape(lead + (self.units,))

    def backward(self, grad):
        x2, z, a, lead = self._cache
        gz = self.activation.backward(grad.reshape(z.shape), z, a)
        learn = self.trainable
        dx = ops().dense_backward(x2, self.kernel.value, gz, self.kernel.grad if learn else None,
                                  self.bias.grad if learn and self.use_bias else None,
                                  need_dx=self.input_grad_needed)
        return None if dx is None else dx.reshape(lead + (x2.shape[1],))

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": None, "bias_regularizer": None,
                "kernel_constraint": None, "bias_constraint": None}


class Lambda(Layer):
    """Refused: numbacnn has no automatic differentiation, so it cannot train through any function."""

    def __init__(self, function=None, output_shape=None, mask=None, arguments=None, **kwargs):
        name = getattr(function, "__name__", repr(function))
        raise NotImplementedError(
            f"Lambda({name}) is not available in numbacnn: it has no automatic differentiation, so a layer "
            "needs its own backward. Write a Layer subclass with forward(x, training) and backward(grad) "
            "instead (see the README section \"Custom layers\").")
