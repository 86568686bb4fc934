"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, the global poolings, and Keras's aliases.

Every rank runs on one 3-D kernel core: a (N,W,C) or (N,H,W,C) input is viewed as (N,1,1,W,C) or
(N,1,H,W,C). Sizes and 'same' padding follow TensorFlow exactly (see :func:`pooling_geometry`).
"""

import numpy as np

from ..kernels import ops
from .base import Layer, format_shape, normalize_tuple

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "pooling_geometry",
]

_LAYOUTS = {1: "(batch, steps, channels)", 2: "(batch, rows, cols, channels)",
            3: "(batch, dim1, dim2, dim3, channels)"}


def pooling_geometry(size, pool, stride, padding):
    """(output length, padding before) along one axis, as TensorFlow computes them.

    valid: floor((size - pool) / stride) + 1, no padding. same: ceil(size / stride), padding total
    max((out - 1) * stride + pool - size, 0), split with the odd cell at the end.
    """
    if padding == "valid":
        return (size - pool) // stride + 1, 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + pool - size, 0) // 2


def _label(layer):
    return f'Layer "{layer.name}" ({type(layer).__name__})'


def _channels_last(layer, data_format):
    fmt = "channels_last" if data_format is None else str(data_format).lower()
    if fmt != "channels_last":
        raise ValueError(f'{_label(layer)}: numbacnn supports only data_format="channels_last" '
                         f"(inputs {_LAYOUTS[layer._rank]}), received data_format={data_format!r}")
    return fmt


def _check_rank(layer, input_shape):
    if len(input_shape) != layer._rank + 2:
        raise ValueError(f"{_label(layer)} expects a {layer._rank + 2}-D input {_LAYOUTS[layer._rank]}, "
                         f"received input shape {format_shape(input_shape)}")


class _Pooling(Layer):
    """Shared N-d base of the max and average pooling layers."""

    _rank = None
    _max = None

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = normalize_tuple(pool_size, self._rank, "pool_size", self.name)
        self.strides = normalize_tuple(self.pool_size if strides is None else strides, self._rank,
                                       "strides", self.name)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f'{_label(self)}: padding must be "valid" or "same", received {padding!r}')
        self.data_format = _channels_last(self, data_format)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        _check_rank(self, input_shape)
        out = []
        for size, pool, stride in zip(input_shape[1:-1], self.pool_size, self.strides):
            if size is None:
                out.append(None)
                continue
            if size <= 0 or (self.padding == "valid" and size < pool):
                raise ValueError(f"{_label(self)}: pool_size {self.pool_size} does not fit the input with "
                                 f"padding={self.padding!r}; expected spatial dimensions >= "
                                 f"{self.pool_size}, received input shape {format_shape(input_shape)}")
            out.append(pooling_geometry(size, pool, stride, self.padding)[0])
        return (input_shape[0], *out, input_shape[-1])

    def _kernel_args(self, shape):
        """The 3-D view of an input of ``shape``: (5-D shape, pool, strides, pads, out_dims)."""
        ones = (1,) * (3 - self._rank)
        geometry = [pooling_geometry(size, pool, stride, self.padding)
                    for size, pool, stride in zip(shape[1:-1], self.pool_size, self.strides)]
        return ((shape[0], *ones, *shape[1:-1], shape[-1]), ones + self.pool_size, ones + self.strides,
                (0,) * len(ones) + tuple(pad for _, pad in geometry),
                ones + tuple(out for out, _ in geometry))

    def forward(self, x, training=False):
        shape = tuple(x.shape)
        out_shape = self.compute_output_shape(shape)
        shape5, pool, strides, pads, out_dims = self._kernel_args(shape)
        x5 = ops().contiguous(x).reshape(shape5)
        if self._max:
            y, argmax = ops().pool_max_forward(x5, pool, strides, pads, out_dims)
        else:
            y, argmax = ops().pool_avg_forward(x5, pool, strides, pads, out_dims), None
        if training:
            self._cache = (shape, argmax, None)
        return y.reshape(out_shape)

    def keep_fused(self, input_shape, y, argmax, activation):
        """Training through ``BaseConv.forward_pooled``: keep what backward needs for an input of
        ``input_shape`` that was never written, the output y and its argmax; ``activation`` (kind, p0,
        p1, p2) is the convolution's relu, whose derivative backward applies to the gradient at each
        window's winner (whose value is the window's output) before routing it there."""
        self._cache = (tuple(input_shape), argmax, (y, activation))

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError(f"{_label(self)}: backward needs a forward(x, training=True) first")
        shape, argmax, fused = self._cache
        shape5, pool, strides, pads, out_dims = self._kernel_args(shape)
        g5 = ops().contiguous(grad, self.dtype).reshape((shape[0], *out_dims, shape[-1]))
        if fused is not None:
            y, activation = fused
            y5 = y.reshape(g5.shape)
            g5 = ops().activation_backward(g5, y5, y5, *activation)
        if self._max:
            dx = ops().pool_max_backward(g5, argmax, shape5[1:-1], pool, strides, pads)
        else:
            dx = ops().pool_avg_backward(g5, shape5[1:-1], pool, strides, pads)
        return dx.reshape(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "padding": self.padding, "strides": self.strides,
                       "data_format": self.data_format})
        return config


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps: (batch, steps, channels)."""

    _rank, _max = 1, True

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows: (batch, rows, cols, channels)."""

    _rank, _max = 2, True

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class MaxPooling3D(_Pooling):
    """Max over ``pool_size`` windows: (batch, dim1, dim2, dim3, channels)."""

    _rank, _max = 3, True

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps (real cells only under 'same'): (batch, steps, channels)."""

    _rank, _max = 1, False

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows (real cells only under 'same'): (batch, rows, cols, channels)."""

    _rank, _max = 2, False

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class AveragePooling3D(_Pooling):
    """Mean over ``pool_size`` windows (real cells only under 'same'): (batch, dim1, dim2, dim3, channels)."""

    _rank, _max = 3, False

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


class _GlobalPooling(Layer):
    """Shared base of the global poolings: (batch, *spatial, channels) -> (batch, channels)."""

    _rank = None
    _max = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _channels_last(self, data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        _check_rank(self, input_shape)
        if any(d is not None and d <= 0 for d in input_shape[1:]):
            raise ValueError(f"{_label(self)}: expected positive dimensions, received input shape "
                             f"{format_shape(input_shape)}")
        if self.keepdims:
            return (input_shape[0],) + (1,) * self._rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def forward(self, x, training=False):
        shape = tuple(x.shape)
        out_shape = self.compute_output_shape(shape)
        x3 = ops().contiguous(x).reshape(shape[0], -1, shape[-1])
        if self._max:
            y, argmax = ops().global_pool_max_forward(x3)
        else:
            y, argmax = ops().global_pool_avg_forward(x3), None
        if training:
            self._cache = (shape, argmax)
        return y.reshape(out_shape)

    def backward(self, grad):
        if self._cache is None:
            raise RuntimeError(f"{_label(self)}: backward needs a forward(x, training=True) first")
        shape, argmax = self._cache
        g2 = ops().contiguous(grad, self.dtype).reshape(shape[0], shape[-1])
        steps = int(np.prod(shape[1:-1]))
        if self._max:
            dx = ops().global_pool_max_backward(g2, argmax, steps)
        else:
            dx = ops().global_pool_avg_backward(g2, steps)
        return dx.reshape(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps: (batch, steps, channels) -> (batch, channels)."""

    _rank, _max = 1, True


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over rows and cols: (batch, rows, cols, channels) -> (batch, channels)."""

    _rank, _max = 2, True


class GlobalMaxPooling3D(_GlobalPooling):
    """Max over the three spatial axes: (batch, dim1, dim2, dim3, channels) -> (batch, channels)."""

    _rank, _max = 3, True


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps: (batch, steps, channels) -> (batch, channels)."""

    _rank, _max = 1, False


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over rows and cols: (batch, rows, cols, channels) -> (batch, channels)."""

    _rank, _max = 2, False


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over the three spatial axes: (batch, dim1, dim2, dim3, channels) -> (batch, channels)."""

    _rank, _max = 3, False


MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)
