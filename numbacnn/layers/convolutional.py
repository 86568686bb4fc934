"""Convolution layers: Conv1D, Conv2D, Conv3D over one shared N-d base, and Keras 1's Convolution1D/2D/3D.

All ranks call the same kernels (``ops().conv_forward`` ...), which take explicit padding before and
after each spatial axis; this module turns Keras's 'valid' / 'same' / 'causal' into those numbers.
"""

import warnings

import numpy as np

from .. import activations, initializers
from ..kernels import ops
from .base import Layer, format_shape, normalize_tuple

__all__ = ["BaseConv", "Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D",
           "conv_padding"]

_LAYOUTS = {1: "(batch, steps, channels)", 2: "(batch, rows, cols, channels)",
            3: "(batch, dim1, dim2, dim3, channels)"}


def conv_padding(size, kernel, stride, dilation, padding):
    """(output length, padding before, padding after) along one axis, as Keras/TensorFlow place them.

    valid: floor((size - (kernel-1)*dilation - 1) / stride) + 1, no padding. same: ceil(size / stride),
    total max((out-1)*stride + (kernel-1)*dilation + 1 - size, 0), the odd cell at the end.
    causal: (kernel-1)*dilation cells before, none after.
    """
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (size - span) // stride + 1, 0, 0
    if padding == "causal":
        return (size - 1) // stride + 1, span - 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


class BaseConv(Layer):
    """Shared N-d convolution: y = activation(conv(x, kernel) + bias), kernel (*kernel_size, in, filters)."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.rank = int(rank)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{self._label()}: filters must be a positive int, received filters={filters!r}")
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", self.name)
        self.strides = normalize_tuple(strides, self.rank, "strides", self.name)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", self.name)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{self._label()}: strides > 1 is not supported together with "
                             f"dilation_rate > 1, received strides={self.strides}"
                             f" and dilation_rate={self.dilation_rate}")
        allowed = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        self.padding = str(padding).lower()
        if self.padding not in allowed:
            raise ValueError(f"{self._label()}: padding must be one of {allowed}, "
                             f"received padding={padding!r}")
        fmt = "channels_last" if data_format is None else str(data_format).lower()
        if fmt != "channels_last":
            raise ValueError(f'{self._label()}: numbacnn supports only data_format="channels_last" (inputs '
                             f"{_LAYOUTS[self.rank]}), received data_format={data_format!r}")
        self.data_format = fmt
        if groups != 1:
            raise ValueError(f"{self._label()}: numbacnn supports only groups=1, received groups={groups!r}")
        self.groups = 1
        for arg, value in (("kernel_regularizer", kernel_regularizer), ("bias_regularizer", bias_regularizer),
                           ("activity_regularizer", activity_regularizer),
                           ("kernel_constraint", kernel_constraint), ("bias_constraint", bias_constraint)):
            if value is not None:
                raise ValueError(f"{self._label()}: numbacnn does not support {arg} yet, "
                                 f"received {arg}={value!r}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = None
        self.bias = None

    def _label(self):
        return f'Layer "{self.name}" ({type(self).__name__})'

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{self._label()} expects a {self.rank + 2}-D input {_LAYOUTS[self.rank]}, "
                             f"received input shape {format_shape(input_shape)}")
        spatial = input_shape[1:-1]
        if any(s is not None and s <= 0 for s in input_shape[1:]):
            raise ValueError(f"{self._label()}: expected positive dimensions, received input shape "
                             f"{format_shape(input_shape)}")
        out = []
        for s, k, st, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            if s is None:
                out.append(None)
                continue
            size = conv_padding(s, k, st, d, self.padding)[0]
            if size <= 0:
                span = tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
                raise ValueError(f"{self._label()}: kernel_size {self.kernel_size} with dilation_rate "
                                 f"{self.dilation_rate} spans {span}, larger than the input with "
                                 f"padding={self.padding!r}; expected spatial dimensions >= {span}, received "
                                 f"input shape {format_shape(input_shape)}")
            out.append(size)
        return (input_shape[0], *out, self.filters)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self._label()}: the channel dimension of the input must be known, received "
                             f"input shape {format_shape(input_shape)}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.filters),
                                      self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def _pads(self, shape):
        """(pad_before, pad_after) per spatial axis for an input of ``shape`` (batch, *spatial, channels)."""
        geometry = [conv_padding(s, k, st, d, self.padding)
                    for s, k, st, d in zip(shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)]
        return tuple(g[1] for g in geometry), tuple(g[2] for g in geometry)

    def forward(self, x, training=False):
        pad_before, pad_after = self._pads(x.shape)
        bias = None if self.bias is None else self.bias.value
        geometry = (self.strides, self.dilation_rate, pad_before, pad_after)
        fused = activations.fused_form(self.activation)
        if not training:
            if fused is not None:
                return self.forward_fused(x, activation=fused)
            return self.activation.forward(ops().conv_forward(x, self.kernel.value, bias, *geometry))
        # training keeps the im2col columns for the weight gradient
        if self.relu_fused_in_training() or (fused is not None and fused[0] == ops().ACT_TANH):
            # a relu without negative slope, threshold >= 0, or a tanh: its derivative reads from a alone
            # (the same for a relu from a as from z), so z is not kept, and the activation is applied
            # with the bias in the same pass
            a, cols = ops().conv_forward(x, self.kernel.value, bias, *geometry, return_cols=True,
                                         activation=fused)
            self._cache = [x, a, a, cols, False]
            return a
        z, cols = ops().conv_forward(x, self.kernel.value, bias, *geometry, return_cols=True)
        a = self.activation.forward(z)
        self._cache = [x, z, a, cols, False]  # a list: backward hands cols back and clears its slot
        return a

    def forward_pooled(self, x, pool):
        """Training: this convolution, its own relu (``relu_fused_in_training``) and the max pooling
        ``pool`` (a window per axis, its own strides, no padding) after it, in one kernel
        (``ops().conv_forward_pooled``): ``(pooled output, argmax)``, the convolution's own output never
        written. ``Model.forward`` calls it (``models.fusion.training_plan``) and hands both to the
        pooling layer's ``keep_fused``, whose backward applies the relu's derivative; so this layer's
        backward then skips it (the last slot of the cache)."""
        pad_before, pad_after = self._pads(x.shape)
        bias = None if self.bias is None else self.bias.value
        y, argmax, cols = ops().conv_forward_pooled(x, self.kernel.value, bias, self.strides,
                                                    self.dilation_rate, pad_before, pad_after,
                                                    activation=activations.fused_form(self.activation),
                                                    pool=pool)
        self._cache = [x, None, None, cols, True]
        return y, argmax

    def relu_fused_in_training(self):
        """Whether this layer's own activation is a relu that training applies with the bias: no negative
        slope and a threshold >= 0, so its derivative reads the same from the output as from the input."""
        fused = activations.fused_form(self.activation)
        return fused is not None and fused[0] == ops().ACT_RELU and fused[1] == 0.0 and fused[3] >= 0.0

    def forward_fused(self, x, scale=None, shift=None, activation=None, pool=None, pool_average=False):
        """Inference: ``pool(activation((conv(x) + bias) * scale + shift))`` in one pass over the
        output (``ops().conv_forward_infer``), as the separate layers compute it. ``scale``/``shift`` are
        an inference batch-norm's (``BatchNormalization.inference_affine``); ``activation`` a
        ``fused_form()``; ``pool`` a max pooling's window (an average pooling's with ``pool_average``;
        its strides, no padding). Model.forward uses it for Conv -> BatchNormalization -> relu or tanh
        -> pooling chains (``models.fusion``)."""
        pad_before, pad_after = self._pads(x.shape)
        bias = None if self.bias is None else self.bias.value
        return ops().conv_forward_infer(x, self.kernel.value, bias, self.strides, self.dilation_rate,
                                        pad_before, pad_after, scale=scale, shift=shift,
                                        activation=activation, pool=pool, pool_average=pool_average)

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError(f"{self._label()}: backward needs a forward(x, training=True) first")
        x, z, a, cols, activated = self._cache
        grad = ops().contiguous(grad, self.dtype)
        if not activated:  # (after forward_pooled the pooling's backward applied the relu's derivative)
            grad = self.activation.backward(grad, z, a)
        pad_before, pad_after = self._pads(x.shape)
        k = ops()
        geometry = (self.strides, self.dilation_rate, pad_before, pad_after)
        if self.trainable:
            dw = k.conv_backward_weights(x, grad, self.kernel_size, *geometry, cols=cols)
            k.add_into(self.kernel.grad, dw)
            if self.bias is not None:
                k.add_into(self.bias.grad, k.conv_backward_bias(grad))
        if cols is not None:  # the columns' buffer goes back to the workspace pool for the next batch
            self._cache[3] = None
            k.workspace_give(cols)
        if not self.input_grad_needed:
            return None
        return k.conv_backward_input(grad, self.kernel.value, x.shape, *geometry)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "data_format": self.data_format, "dilation_rate": self.dilation_rate,
            "groups": self.groups, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None,
        })
        return config


class Conv1D(BaseConv):
    """1-D convolution over (batch, steps, channels); kernel (kernel_size, channels, filters)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv2D(BaseConv):
    """2-D convolution over (batch, rows, cols, channels); kernel (rows, cols, channels, filters)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv3D(BaseConv):
    """3-D convolution over (batch, dim1, dim2, dim3, channels); kernel (*kernel_size, channels, filters)."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


# Keras 1 argument names -> Keras 2/3 names (the kernel-size ones are gathered separately).
_KERAS1_KWARGS = {
    "nb_filter": "filters", "border_mode": "padding", "subsample": "strides",
    "subsample_length": "strides", "init": "kernel_initializer", "bias": "use_bias",
    "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
    "atrous_rate": "dilation_rate", "dim_ordering": "data_format",
}
_KERAS1_KERNEL = {1: ("filter_length",), 2: ("nb_row", "nb_col"),
                  3: ("kernel_dim1", "kernel_dim2", "kernel_dim3")}
_DIM_ORDERING = {"tf": "channels_last", "th": "channels_first", "default": None}


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _keras1(cls, args, kwargs):
    """A ``cls`` from a Keras 1 or a Keras 2/3 style call, with a DeprecationWarning per Keras 1 spelling."""
    rank = {Conv1D: 1, Conv2D: 2, Conv3D: 3}[cls]
    old, new = f"Convolution{rank}D", cls.__name__

    def warn(message):
        warnings.warn(f"{old}: {message}", DeprecationWarning, stacklevel=4)

    args = list(args)
    if rank == 1 and "input_dim" in kwargs:
        warn("input_dim/input_length are Keras 1; use input_shape=(steps, channels)")
        kwargs["input_shape"] = (kwargs.pop("input_length", None), kwargs.pop("input_dim"))
    for name, target in _KERAS1_KWARGS.items():
        if name in kwargs:
            if target in kwargs:
                raise TypeError(f"{old}: received both {name!r} and its new spelling {target!r}")
            warn(f"{name!r} is Keras 1; use {new}({target}=...)")
            value = kwargs.pop(name)
            kwargs[target] = _DIM_ORDERING.get(value, value) if name == "dim_ordering" else value
    if "filters" in kwargs and not args:
        args.append(kwargs.pop("filters"))
    names = [k for k in _KERAS1_KERNEL[rank] if k in kwargs]
    if names:
        warn(f"{', '.join(names)} is Keras 1; use {new}(filters, kernel_size=...)")
        n_pos = rank - len(names)
        kernel = tuple(args[1:1 + n_pos]) + tuple(kwargs.pop(k) for k in names)
        args = [*args[:1], kernel, *args[1 + n_pos:]]
    elif rank > 1 and len(args) > rank and all(_is_int(a) for a in args[1:rank + 1]):
        kernel = tuple(int(a) for a in args[1:rank + 1])
        warn(f"positional kernel sizes are Keras 1; use {new}({args[0]}, {kernel})")
        args = [args[0], kernel, *args[rank + 1:]]
    return cls(*args, **kwargs)


def Convolution1D(*args, **kwargs):
    """Keras 1's ``Convolution1D(nb_filter, filter_length)``, or Conv1D's own arguments: a Conv1D."""
    return _keras1(Conv1D, args, kwargs)


def Convolution2D(*args, **kwargs):
    """Keras 1's ``Convolution2D(nb_filter, nb_row, nb_col)``, or Conv2D's own arguments: a Conv2D."""
    return _keras1(Conv2D, args, kwargs)


def Convolution3D(*args, **kwargs):
    """Keras 1's ``Convolution3D(nb_filter, dim1, dim2, dim3)``, or Conv3D's own arguments: a Conv3D."""
    return _keras1(Conv3D, args, kwargs)
