"""Depthwise and separable convolutions: DepthwiseConv1D/2D and SeparableConv1D/2D (Keras 3's arguments,
defaults, weight names, shapes and order).

A depthwise convolution convolves every input channel with its own ``depth_multiplier`` filters
(``ops().depthwise_forward``: direct loops, no im2col); output channel c*M + m comes from input channel c.
A separable convolution is a depthwise one (no bias, no activation) followed by a pointwise 1x1
convolution with the bias and the activation, the latter on the convolution's own kernels (a 1x1
convolution is a matrix product). Padding follows Keras ('valid', or 'same' with the odd cell after).
"""

import numbers

from .. import activations, initializers
from ..kernels import ops
from .base import Layer, format_shape
from .convolutional import _LAYOUTS, conv_label, conv_padding, set_window

__all__ = ["BaseDepthwiseConv", "BaseSeparableConv", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
           "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D"]


def _keeps_output_only(fused):
    """Whether an activation's derivative reads the same from its output alone (a relu without negative
    slope and a threshold >= 0, or a tanh), so that training applies it with the bias and keeps only a."""
    k = ops()
    return fused is not None and ((fused[0] == k.ACT_RELU and fused[1] == 0.0 and fused[3] >= 0.0)
                                  or fused[0] == k.ACT_TANH)


class BaseDepthwiseConv(Layer):
    """N-d depthwise convolution (N = 1 or 2): y = activation(depthwise(x, kernel) + bias),
    kernel (*kernel_size, in, depth_multiplier), bias (in * depth_multiplier,)."""

    _weight_option_prefix = {"kernel": "depthwise"}  # Keras: depthwise_regularizer= for "kernel"

    def __init__(self, rank, depth_multiplier, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.rank = int(rank)
        if (isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, numbers.Integral)
                or depth_multiplier <= 0):
            raise ValueError(f"{self._label()}: depth_multiplier must be a positive int, received "
                             f"depth_multiplier={depth_multiplier!r}")
        self.depth_multiplier = int(depth_multiplier)
        set_window(self, kernel_size, strides, dilation_rate, padding, data_format)
        self._set_weight_options(
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
        )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = None
        self.bias = None

    _label = conv_label

    def _out_channels(self, channels):
        return None if channels is None else channels * self.depth_multiplier

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{self._label()} expects a {self.rank + 2}-D input {_LAYOUTS[self.rank]}, "
                             f"received input shape {format_shape(input_shape)}")
        out = []
        for s, k, st, d in zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate):
            size = None if s is None else conv_padding(s, k, st, d, self.padding)[0]
            if size is not None and size <= 0:
                span = tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
                raise ValueError(f"{self._label()}: kernel_size {self.kernel_size} with dilation_rate "
                                 f"{self.dilation_rate} spans {span}, larger than the input with "
                                 f"padding={self.padding!r}; expected spatial dimensions >= {span}, received "
                                 f"input shape {format_shape(input_shape)}")
            out.append(size)
        return (input_shape[0], *out, self._out_channels(input_shape[-1]))

    def _channels(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self._label()}: the channel dimension of the input must be known, received "
                             f"input shape {format_shape(input_shape)}")
        return channels

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer)

    def _geometry(self, shape):
        """(strides, dilation, pad_before, pad_after) for inputs of ``shape`` (batch, *spatial, channels)."""
        pads = [conv_padding(s, k, st, d, self.padding)
                for s, k, st, d in zip(shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]
        return self.strides, self.dilation_rate, tuple(p[1] for p in pads), tuple(p[2] for p in pads)

    def _bias(self):
        return None if self.bias is None else self.bias.value

    def forward(self, x, training=False):
        k = ops()
        geometry = self._geometry(x.shape)
        fused = activations.fused_form(self.activation)
        if not training or _keeps_output_only(fused):
            a = k.depthwise_forward(x, self.kernel.value, self._bias(), *geometry, activation=fused)
            if fused is None:
                a = self.activation.forward(a)
            if training:
                self._cache = (x, a, a)
            return a
        z = k.depthwise_forward(x, self.kernel.value, self._bias(), *geometry)
        a = self.activation.forward(z)
        self._cache = (x, z, a)
        return a

    def forward_fused(self, x, scale=None, shift=None, activation=None):
        """Inference: ``activation((depthwise(x) + bias) * scale + shift)`` in one pass over the output,
        bit-identical to the separate layers; ``scale``/``shift`` are an inference batch-norm's
        (``BatchNormalization.inference_affine``), ``activation`` a ``fused_form()``. Model.forward uses it
        for DepthwiseConv -> BatchNormalization -> relu or tanh chains (``models.fusion``)."""
        return ops().depthwise_forward(x, self.kernel.value, self._bias(), *self._geometry(x.shape),
                                       scale=scale, shift=shift, activation=activation)

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError(f"{self._label()}: backward needs a forward(x, training=True) first")
        k = ops()
        x, z, a = self._cache
        grad = self.activation.backward(k.contiguous(grad, self.dtype), z, a)
        geometry = self._geometry(x.shape)
        if self.trainable:
            k.add_into(self.kernel.grad, k.depthwise_backward_weights(x, grad, self.kernel_size, *geometry))
            if self.bias is not None:
                k.add_into(self.bias.grad, k.conv_backward_bias(grad))
        if not self.input_grad_needed:
            return None
        return k.depthwise_backward_input(grad, self.kernel.value, x.shape, *geometry)

    def get_config(self):
        config = super().get_config()
        config.update({
            "depth_multiplier": self.depth_multiplier, "kernel_size": self.kernel_size,
            "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "depthwise_constraint": None, "bias_constraint": None,
        })
        return config


class BaseSeparableConv(BaseDepthwiseConv):
    """N-d separable convolution (N = 1 or 2): a depthwise convolution, then a pointwise (1x1) one with the
    bias and the activation. Weights, in Keras's order: depthwise_kernel (*kernel_size, in,
    depth_multiplier), pointwise_kernel (1,...,1, in * depth_multiplier, filters), bias (filters,)."""

    def __init__(self, rank, depth_multiplier, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank, depth_multiplier, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                         bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint,
                         **kwargs)
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters <= 0:
            raise ValueError(f"{self._label()}: filters must be a positive int, received filters={filters!r}")
        self.filters = int(filters)
        self._set_weight_options(
            pointwise_regularizer=pointwise_regularizer,
            pointwise_constraint=pointwise_constraint,
        )
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_kernel = None
        self.pointwise_kernel = None

    def _out_channels(self, channels):
        return self.filters

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier),
            self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def forward(self, x, training=False):
        k = ops()
        geometry = self._geometry(x.shape)
        mid = k.depthwise_forward(x, self.depthwise_kernel.value, None, *geometry)
        fused = activations.fused_form(self.activation)
        if not training or _keeps_output_only(fused):
            a = k.conv_forward(mid, self.pointwise_kernel.value, self._bias(), activation=fused)
            if fused is None:
                a = self.activation.forward(a)
            if training:
                self._cache = (x, mid, a, a)
            return a
        z = k.conv_forward(mid, self.pointwise_kernel.value, self._bias())
        a = self.activation.forward(z)
        self._cache = (x, mid, z, a)
        return a

    def forward_fused(self, x, scale=None, shift=None, activation=None):
        """Inference: the depthwise convolution, then the pointwise one with the bias, a batch-norm's
        ``scale``/``shift`` and the ``activation`` applied in its blocks (``conv_forward_infer``)."""
        mid = ops().depthwise_forward(x, self.depthwise_kernel.value, None, *self._geometry(x.shape))
        return ops().conv_forward_infer(mid, self.pointwise_kernel.value, self._bias(), scale=scale,
                                        shift=shift, activation=activation)

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError(f"{self._label()}: backward needs a forward(x, training=True) first")
        k = ops()
        x, mid, z, a = self._cache
        grad = self.activation.backward(k.contiguous(grad, self.dtype), z, a)
        if not (self.trainable or self.input_grad_needed):
            return None
        geometry = self._geometry(x.shape)
        grad_mid = k.conv_backward_input(grad, self.pointwise_kernel.value, mid.shape)
        if self.trainable:
            k.add_into(self.depthwise_kernel.grad,
                       k.depthwise_backward_weights(x, grad_mid, self.kernel_size, *geometry))
            k.add_into(self.pointwise_kernel.grad, k.conv_backward_weights(mid, grad, (1,) * self.rank))
            if self.bias is not None:
                k.add_into(self.bias.grad, k.conv_backward_bias(grad))
        if not self.input_grad_needed:
            return None
        return k.depthwise_backward_input(grad_mid, self.depthwise_kernel.value, x.shape, *geometry)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "pointwise_regularizer": None, "pointwise_constraint": None,
        })
        return config


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1-D convolution over (batch, steps, channels); kernel (kernel_size, channels,
    depth_multiplier)."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, depth_multiplier, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                         bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint,
                         **kwargs)


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2-D convolution over (batch, rows, cols, channels); kernel (rows, cols, channels,
    depth_multiplier)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, depth_multiplier, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                         bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint,
                         **kwargs)


class SeparableConv1D(BaseSeparableConv):
    """Depthwise-separable 1-D convolution over (batch, steps, channels)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, depth_multiplier, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer, pointwise_initializer,
                         bias_initializer, depthwise_regularizer, pointwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, pointwise_constraint, bias_constraint,
                         **kwargs)


class SeparableConv2D(BaseSeparableConv):
    """Depthwise-separable 2-D convolution over (batch, rows, cols, channels)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(2, depth_multiplier, filters, kernel_size, strides, padding, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer, pointwise_initializer,
                         bias_initializer, depthwise_regularizer, pointwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, pointwise_constraint, bias_constraint,
                         **kwargs)


SeparableConvolution1D = SeparableConv1D  # Keras's aliases
SeparableConvolution2D = SeparableConv2D
