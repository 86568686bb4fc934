"""Convolution layers: Conv1D, Conv2D, Conv3D over one shared N-d base, Keras 1's Convolution1D/2D/3D, and
Conv1DTranspose, Conv2DTranspose, Conv3DTranspose over a second base that calls the same kernels.

All ranks call the same kernels (``ops().conv_forward`` ...), which take explicit padding before and
after each spatial axis; this module turns Keras's 'valid' / 'same' / 'causal' into those numbers.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from .. import activations, initializers
from ..kernels import ops
from .base import Layer, format_shape, normalize_tuple

__all__ = ["BaseConv", "BaseConvTranspose", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose",
           "Conv3D", "Conv3DTranspose", "Convolution1D", "Convolution2D", "Convolution3D", "conv_padding",
           "conv_transpose_length"]

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


def set_window(layer, kernel_size, strides, dilation_rate, padding, data_format,
               paddings=("valid", "same")):
    """Check and keep a convolution-like layer's window (``layer.rank`` set): ``kernel_size``, ``strides``,
    ``dilation_rate``, ``padding`` (one of ``paddings``) and ``data_format`` (channels-last only), with
    Keras's error for strides and dilation both above 1. Shared by the convolution, transposed-convolution
    and depthwise bases."""
    rank, label = layer.rank, conv_label(layer)
    layer.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size", layer.name)
    layer.strides = normalize_tuple(strides, rank, "strides", layer.name)
    layer.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate", layer.name)
    if max(layer.strides) > 1 and max(layer.dilation_rate) > 1:
        raise ValueError(f"{label}: strides > 1 is not supported together with dilation_rate > 1, received "
                         f"strides={layer.strides} and dilation_rate={layer.dilation_rate}")
    layer.padding = str(padding).lower()
    if layer.padding not in paddings:
        raise ValueError(f"{label}: padding must be one of {paddings}, received padding={padding!r}")
    fmt = "channels_last" if data_format is None else str(data_format).lower()
    if fmt != "channels_last":
        raise ValueError(f'{label}: numbacnn supports only data_format="channels_last" (inputs '
                         f"{_LAYOUTS[rank]}), received data_format={data_format!r}")
    layer.data_format = fmt


def conv_label(layer):
    """'Layer "conv2d" (Conv2D)', how the convolution layers' errors name themselves."""
    return f'Layer "{layer.name}" ({type(layer).__name__})'


class BaseConv(Layer):
    """Shared N-d convolution: y = activation(conv(x, kernel) + bias), kernel (*kernel_size, in, filters).

    With ``groups`` > 1 (Keras's rule: filters and input channels divisible by it) the kernel is
    (*kernel_size, in // groups, filters), and group g's filters see only its slice of the input
    channels: every kernel call runs once per group on the slices (``_per_group``), the results side by
    side along the channels.
    """

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
        allowed = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        set_window(self, kernel_size, strides, dilation_rate, padding, data_format, allowed)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"{self._label()}: groups must be a positive int, received groups={groups!r}")
        if self.filters % groups:
            raise ValueError(f"{self._label()}: filters must be divisible by groups, received "
                             f"filters={self.filters} and groups={groups}")
        self.groups = int(groups)
        self._set_weight_options(
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = None
        self.bias = None

    _label = conv_label

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
        if channels % self.groups:
            raise ValueError(f"{self._label()}: the input channels must be divisible by groups, received "
                             f"groups={self.groups} and input shape {format_shape(input_shape)}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels // self.groups, self.filters),
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
            return self.activation.forward(self._per_group(
                lambda xg, w, b: ops().conv_forward(xg, w, b, *geometry), x, bias))
        # training keeps the im2col columns for the weight gradient
        if self.relu_fused_in_training() or (fused is not None and fused[0] == ops().ACT_TANH):
            # a relu without negative slope, threshold >= 0, or a tanh: its derivative reads from a alone
            # (the same for a relu from a as from z), so z is not kept, and the activation is applied
            # with the bias in the same pass
            a, cols = self._per_group(lambda xg, w, b: ops().conv_forward(
                xg, w, b, *geometry, return_cols=True, activation=fused), x, bias)
            self._cache = [x, a, a, cols, False]
            return a
        z, cols = self._per_group(lambda xg, w, b: ops().conv_forward(xg, w, b, *geometry, return_cols=True),
                                  x, bias)
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
        y, argmax, cols = self._per_group(lambda xg, w, b: ops().conv_forward_pooled(
            xg, w, b, self.strides, self.dilation_rate, pad_before, pad_after,
            activation=activations.fused_form(self.activation), pool=pool), x, bias)
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
        return self._per_group(lambda xg, w, b, sc, sh: ops().conv_forward_infer(
            xg, w, b, self.strides, self.dilation_rate, pad_before, pad_after, scale=sc, shift=sh,
            activation=activation, pool=pool, pool_average=pool_average), x, bias, scale, shift)

    def _per_group(self, call, x, *per_filter):
        """``call(x, kernel, *per_filter)``: with groups > 1, once per group on its input channels, its
        filters' kernel and its slice of each (F,) array of ``per_filter`` (None stays None). A single
        result is joined along the channels; of a tuple result, every array but the last is, and the
        last (the column matrices) becomes the list of the groups'. Everything the pointwise epilogue,
        the batch-norm affine, the activations and the pooling compute is per channel, so each group's
        share is the whole layer's arithmetic on its channels."""
        if self.groups == 1:
            return call(x, self.kernel.value, *per_filter)
        k = ops()
        results = []
        for g, (xg, wg) in enumerate(self._group_slices(x)):
            fg = self.filters // self.groups
            args = [None if a is None else k.channels_take(a, g * fg, (g + 1) * fg) for a in per_filter]
            results.append(call(xg, wg, *args))
        if not isinstance(results[0], tuple):
            return k.channels_join(results)
        last = len(results[0]) - 1
        return tuple([r[i] for r in results] if i == last else k.channels_join([r[i] for r in results])
                     for i in range(last + 1))

    def _group_slices(self, x):
        """[(x's input channels of group g, group g's kernel (*K, in // groups, filters // groups))]."""
        k = ops()
        cg = tuple(self.kernel.shape)[-2]  # (the simulator's shapes take no negative index)
        fg = self.filters // self.groups
        w = self.kernel.value
        return [(k.channels_take(x, g * cg, (g + 1) * cg), k.channels_take(w, g * fg, (g + 1) * fg))
                for g in range(self.groups)]

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
        if self.groups > 1:
            return self._backward_groups(x, grad, cols, geometry)
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

    def _backward_groups(self, x, grad, cols, geometry):
        """backward with groups > 1: each group's weight and input gradients from its slices of x, grad
        and the kernel (and its own columns), joined along the channels."""
        k = ops()
        self._cache[3] = None
        fg = self.filters // self.groups
        dws, dxs = [], []
        for g, (xg, wg) in enumerate(self._group_slices(x)):
            gg = k.channels_take(grad, g * fg, (g + 1) * fg)
            if self.trainable:
                dws.append(k.conv_backward_weights(xg, gg, self.kernel_size, *geometry, cols=cols[g]))
            if cols[g] is not None:
                k.workspace_give(cols[g])
            if self.input_grad_needed:
                dxs.append(k.conv_backward_input(gg, wg, xg.shape, *geometry))
        if self.trainable:
            k.add_into(self.kernel.grad, k.channels_join(dws))
            if self.bias is not None:
                k.add_into(self.bias.grad, k.conv_backward_bias(grad))
        return k.channels_join(dxs) if self.input_grad_needed else None

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



def conv_transpose_length(size, kernel, stride, dilation, padding, output_padding=None):
    """The output length of a transposed convolution along one axis, Keras's
    ``compute_conv_transpose_output_shape`` (TensorFlow's placement): with span = (kernel-1)*dilation + 1,
    valid: (size-1)*stride + span + output_padding (default max(span, stride) - span); same: size*stride,
    or with an output_padding (size-1)*stride + span % 2 + output_padding."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (size - 1) * stride + span + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + span % 2 + output_padding


@dataclass
class _TransposeState:
    """What a transposed convolution's backward needs from its forward: the input, the output before and
    after the activation."""

    x: object
    z: object
    a: object


class BaseConvTranspose(Layer):
    """Shared N-d transposed convolution: y = activation(conv_transpose(x, kernel) + bias), kernel
    (*kernel_size, filters, in) as in Keras.

    A transposed convolution is the input gradient of the convolution that maps its output shape to its
    input shape, with the same kernel read as (*K, C=filters, F=in): so the forward is
    ``ops().conv_backward_input``, the input gradient ``ops().conv_forward`` of the output gradient, and
    the weight gradient ``ops().conv_backward_weights`` with the roles of input and output gradient
    swapped (reusing the columns the input gradient built). The padding of that convolution is
    TensorFlow's 'valid' or 'same' rule over the output length (``conv_padding``).
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.rank = int(rank)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{self._label()}: filters must be a positive int, received filters={filters!r}")
        self.filters = int(filters)
        set_window(self, kernel_size, strides, dilation_rate, padding, data_format)
        if output_padding is None:
            self.output_padding = None
        else:
            if isinstance(output_padding, (int, np.integer)):
                output_padding = (int(output_padding),) * self.rank
            self.output_padding = tuple(int(p) for p in output_padding)
            if len(self.output_padding) != self.rank or min(self.output_padding) < 0:
                raise ValueError(f"{self._label()}: output_padding must be an int or {self.rank} "
                                 f"non-negative ints, received output_padding={output_padding!r}")
            if any(p >= st for p, st in zip(self.output_padding, self.strides)):
                raise ValueError(f"{self._label()}: output_padding must be strictly less than strides, "
                                 f"received output_padding={self.output_padding} and strides={self.strides}")
        self._set_weight_options(
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel = None
        self.bias = None

    _label = conv_label

    def _geometry(self, input_shape):
        """(output spatial sizes, pad_before, pad_after) of the convolution this layer transposes, for an
        input of ``input_shape`` (batch, *spatial, channels); raises where Keras (TensorFlow) does."""
        out, before, after = [], [], []
        paddings = self.output_padding or (None,) * self.rank
        for s, k, st, d, p in zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate,
                                  paddings):
            length = conv_transpose_length(s, k, st, d, self.padding, p)
            back, pb, pa = conv_padding(length, k, st, d, self.padding)
            if length <= 0 or back != s:
                raise ValueError(f"{self._label()}: kernel_size {self.kernel_size}, strides {self.strides}, "
                                 f"padding={self.padding!r} and output_padding={self.output_padding} give an "
                                 f"output of length {length} on an axis of length {s}, which a convolution "
                                 f"maps back to length {back}, not {s}; received input shape "
                                 f"{format_shape(input_shape)} (an even kernel with padding='same' needs "
                                 f"output_padding >= 1)")
            out.append(length)
            before.append(pb)
            after.append(pa)
        return tuple(out), tuple(before), tuple(after)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{self._label()} expects a {self.rank + 2}-D input {_LAYOUTS[self.rank]}, "
                             f"received input shape {format_shape(input_shape)}")
        if any(s is not None and s <= 0 for s in input_shape[1:]):
            raise ValueError(f"{self._label()}: expected positive dimensions, received input shape "
                             f"{format_shape(input_shape)}")
        if any(s is None for s in input_shape[1:-1]):
            return (input_shape[0],) + tuple(
                None if s is None else conv_transpose_length(s, k, st, d, self.padding, p)
                for s, k, st, d, p in zip(input_shape[1:-1], self.kernel_size, self.strides,
                                          self.dilation_rate, self.output_padding or (None,) * self.rank)
            ) + (self.filters,)
        return (input_shape[0], *self._geometry(input_shape)[0], self.filters)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self._label()}: the channel dimension of the input must be known, received "
                             f"input shape {format_shape(input_shape)}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels),
                                      self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def forward(self, x, training=False):
        k = ops()
        out, pad_before, pad_after = self._geometry(tuple(x.shape))
        z = k.conv_backward_input(x, self.kernel.value, (x.shape[0], *out, self.filters), self.strides,
                                  self.dilation_rate, pad_before, pad_after)
        if self.bias is not None:
            k.channels_add(z, self.bias.value)
        a = self.activation.forward(z)
        if training:
            self._cache = _TransposeState(x, z, a)
        return a

    def backward(self, grad):
        state = self._cache
        if state is None:
            raise RuntimeError(f"{self._label()}: backward needs a forward(x, training=True) first")
        k = ops()
        grad = self.activation.backward(k.contiguous(grad, self.dtype), state.z, state.a)
        _, pad_before, pad_after = self._geometry(tuple(state.x.shape))
        geometry = (self.strides, self.dilation_rate, pad_before, pad_after)
        dx = cols = None
        if self.input_grad_needed and self.trainable:  # the input gradient's columns serve the weights' too
            dx, cols = k.conv_forward(grad, self.kernel.value, None, *geometry, return_cols=True)
        elif self.input_grad_needed:
            dx = k.conv_forward(grad, self.kernel.value, None, *geometry)
        if self.trainable:
            k.add_into(self.kernel.grad, k.conv_backward_weights(grad, state.x, self.kernel_size, *geometry,
                                                                 cols=cols))
            if self.bias is not None:
                k.add_into(self.bias.grad, k.conv_backward_bias(grad))
        if cols is not None:
            k.workspace_give(cols)
        self._cache = None
        return dx

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "output_padding": self.output_padding, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None,
        })
        return config


class Conv1DTranspose(BaseConvTranspose):
    """1-D transposed convolution over (batch, steps, channels); kernel (kernel_size, filters, channels)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                         bias_constraint, **kwargs)


class Conv2DTranspose(BaseConvTranspose):
    """2-D transposed convolution over (batch, rows, cols, channels); kernel (rows, cols, filters, in)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                         bias_constraint, **kwargs)


class Conv3DTranspose(BaseConvTranspose):
    """3-D transposed convolution over (batch, dim1, dim2, dim3, channels); kernel (*kernel_size, filters,
    channels). As in Keras, data_format comes before output_padding among the positional arguments."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 output_padding=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                         bias_constraint, **kwargs)

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
