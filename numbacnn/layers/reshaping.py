"""Flatten, Reshape and ZeroPadding1D/2D/3D (Keras 3 arguments and configs)."""

import math

import numpy as np

from ..kernels import ops
from .base import Layer, format_shape
from .regularization import standardize_data_format


class Flatten(Layer):
    """(batch, ...) -> (batch, prod(...)) in channels-last order (channels-first inputs are moved first)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 1:
            raise ValueError(f'Layer "{self.name}" (Flatten) expected an input with a batch axis, '
                             f"received input shape {format_shape(input_shape)}")
        rest = input_shape[1:]
        flat = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], flat)

    def _channels_first(self, x):
        return self.data_format == "channels_first" and x.ndim > 2

    def forward(self, x, training=False):
        if training:
            self._cache = x.shape
        if self._channels_first(x):
            x = ops().moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        shape = self._cache
        if self.data_format == "channels_first" and len(shape) > 2:
            moved = (shape[0],) + shape[2:] + (shape[1],)
            return ops().moveaxis(grad.reshape(moved), -1, 1)
        return grad.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape); one entry of target_shape may be -1 (inferred)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(int(d) for d in target_shape)
        if target_shape.count(-1) > 1:
            raise ValueError("The `target_shape` argument must not contain more than one `-1` value. "
                             f"Received: target_shape={target_shape}")
        if any(d <= 0 and d != -1 for d in target_shape):
            raise ValueError("The `target_shape` argument must contain positive sizes or one -1. "
                             f"Received: target_shape={target_shape}")
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        size = math.prod(rest)
        known = math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or (-1 not in self.target_shape and size != known):
            raise ValueError(f'Layer "{self.name}" (Reshape) cannot reshape input shape '
                             f"{format_shape(input_shape)} into target shape "
                             f"{format_shape(self.target_shape)}: the total size must be unchanged "
                             f"({size} elements per sample)")
        return (input_shape[0],) + tuple(size // known if d == -1 else d for d in self.target_shape)

    def _check_input_shape(self, input_shape):
        # Like Keras, a Reshape takes any input whose size fits its target shape.
        self.compute_output_shape(input_shape)

    def forward(self, x, training=False):
        if training:
            self._cache = x.shape
        out = self.compute_output_shape((None,) + x.shape[1:])
        return x.reshape((x.shape[0],) + out[1:])

    def backward(self, grad):
        return grad.reshape(self._cache)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


def _pair(value, what):
    """An int p as (p, p), or a pair of non-negative ints."""
    if isinstance(value, (int, np.integer)):
        value = (value, value)
    try:
        pair = tuple(int(v) for v in value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or any(v < 0 for v in pair):
        raise ValueError(f"The `{what}` argument must be an int or a tuple of 2 non-negative ints. "
                         f"Received: {what}={value!r}")
    return pair


class _ZeroPadding(Layer):
    """Pads the ``_spatial`` spatial axes with zeros; the copies run in the zero_pad kernels."""

    _spatial = None

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        k = self._spatial
        if isinstance(padding, (int, np.integer)):
            padding = ((int(padding),) * 2,) * k
        elif not hasattr(padding, "__len__") or len(padding) != k:
            raise ValueError(f"`padding` should be an int or have {k} elements. Received: padding={padding}.")
        else:
            padding = tuple(_pair(p, f"entry {i} of padding") for i, p in enumerate(padding))
        if any(v < 0 for pair in padding for v in pair):
            raise ValueError(f"`padding` must be non-negative. Received: padding={padding}.")
        self.padding = padding

    def _spatial_axes(self):
        first = 2 if self.data_format == "channels_first" else 1
        return range(first, first + self._spatial)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self._spatial + 2:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expected a {self._spatial + 2}-D '
                             f"input, received input shape {format_shape(input_shape)}")
        out = list(input_shape)
        for axis, (before, after) in zip(self._spatial_axes(), self.padding):
            if out[axis] is not None:
                out[axis] += before + after
        return tuple(out)

    def _view5(self, x):
        """x as the kernels' (N,D,H,W,C) view."""
        ones = (1,) * (3 - self._spatial)
        if self.data_format == "channels_first":
            return x.reshape((x.shape[0] * x.shape[1],) + ones + x.shape[2:] + (1,))
        return x.reshape((x.shape[0],) + ones + x.shape[1:])

    def _pad3(self):
        return ((0, 0),) * (3 - self._spatial) + tuple(self.padding)

    def forward(self, x, training=False):
        if training:
            self._cache = x.shape
        y5 = ops().zero_pad_forward(self._view5(ops().contiguous(x)), self._pad3())
        return y5.reshape(self.compute_output_shape(x.shape))

    def backward(self, grad):
        shape = self._cache
        dx5 = ops().zero_pad_backward(self._view5(ops().contiguous(grad)), self._pad3())
        return dx5.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding1D(_ZeroPadding):
    """(batch, steps, channels): padding an int or (left, right)."""

    _spatial = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__((_pair(padding, "padding"),), **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        config["padding"] = self.padding[0]
        return config


class ZeroPadding2D(_ZeroPadding):
    """padding: int, (symmetric_height, symmetric_width) or ((top, bottom), (left, right))."""

    _spatial = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format=data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """padding: int, 3 symmetric ints or 3 (before, after) pairs, for (dim1, dim2, dim3)."""

    _spatial = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format=data_format, **kwargs)
