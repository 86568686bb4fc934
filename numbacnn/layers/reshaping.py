"""Flatten, Reshape, ZeroPadding1D/2D/3D, Cropping1D/2D/3D and UpSampling1D/2D/3D (Keras 3 arguments and
configs).

The spatial layers pass their data to the kernels as 5-D views (N,D,H,W,C), a 1-D or 2-D layer's with
singleton spatial axes in front and channels-first data as (N*C,*spatial,1): cropping is the zero
padding's gradient kernel and its gradient the zero padding; upsampling is ``kernels/*/resampling.py``.
"""

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


def _per_axis_pairs(value, k, what):
    """An int p as k pairs (p, p), or k entries each an int or a (before, after) pair, non-negative."""
    if isinstance(value, (int, np.integer)):
        value = ((int(value),) * 2,) * k
    elif not hasattr(value, "__len__") or len(value) != k:
        raise ValueError(f"`{what}` should be an int or have {k} elements. Received: {what}={value}.")
    else:
        value = tuple(_pair(p, f"entry {i} of {what}") for i, p in enumerate(value))
    if any(v < 0 for pair in value for v in pair):
        raise ValueError(f"`{what}` must be non-negative. Received: {what}={value}.")
    return value


class _ZeroPadding(Layer):
    """Pads the ``_spatial`` spatial axes with zeros; the copies run in the zero_pad kernels."""

    _spatial = None

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.padding = _per_axis_pairs(padding, self._spatial, "padding")

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


class _Cropping(_ZeroPadding):
    """Removes ``cropping`` cells (before, after) from each spatial axis: the zero padding's kernels,
    swapped (``zero_pad_backward`` crops, ``zero_pad_forward`` pads the gradient back)."""

    def __init__(self, cropping, data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self.data_format = standardize_data_format(data_format)
        self.cropping = _per_axis_pairs(cropping, self._spatial, "cropping")

    def _pad3(self):
        return ((0, 0),) * (3 - self._spatial) + tuple(self.cropping)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self._spatial + 2:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expected a {self._spatial + 2}-D '
                             f"input, received input shape {format_shape(input_shape)}")
        out = list(input_shape)
        for axis, (before, after) in zip(self._spatial_axes(), self.cropping):
            if out[axis] is not None:
                if before + after >= out[axis]:
                    raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): cropping {self.cropping} '
                                     f"must leave at least one cell on every spatial axis, received input "
                                     f"shape {format_shape(input_shape)}")
                out[axis] -= before + after
        return tuple(out)

    def forward(self, x, training=False):
        if training:
            self._cache = x.shape
        y5 = ops().zero_pad_backward(self._view5(ops().contiguous(x)), self._pad3())
        return y5.reshape(self.compute_output_shape(x.shape))

    def backward(self, grad):
        shape = self._cache
        dx5 = ops().zero_pad_forward(self._view5(ops().contiguous(grad)), self._pad3())
        return dx5.reshape(shape)

    def get_config(self):
        config = Layer.get_config(self)
        return {**config, "cropping": self.cropping, "data_format": self.data_format}


class Cropping1D(_Cropping):
    """(batch, steps, channels): cropping an int or (left, right); Keras's default (1, 1)."""

    _spatial = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__((_pair(cropping, "cropping"),), **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        config["cropping"] = self.cropping[0]
        return config


class Cropping2D(_Cropping):
    """cropping: int, (symmetric_height, symmetric_width) or ((top, bottom), (left, right))."""

    _spatial = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format=data_format, **kwargs)


class Cropping3D(_Cropping):
    """cropping: int, 3 symmetric ints or 3 (before, after) pairs, for (dim1, dim2, dim3)."""

    _spatial = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format=data_format, **kwargs)


class _UpSampling(_ZeroPadding):
    """Repeats each cell ``size`` times along each spatial axis (Keras's ``ops.repeat``); UpSampling2D
    also interpolates bilinearly (``ops.image.resize``, TensorFlow's half-pixel centres)."""

    _interpolations = ("nearest",)

    def __init__(self, size, data_format=None, interpolation="nearest", **kwargs):
        Layer.__init__(self, **kwargs)
        self.data_format = standardize_data_format(data_format)
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            size = (int(size),) * self._spatial
        try:
            size = tuple(int(s) for s in size)
        except TypeError:
            size = ()
        if len(size) != self._spatial or min(size) <= 0:
            raise ValueError(f"The `size` argument must be an int or a tuple of {self._spatial} positive "
                             f"ints. Received: size={size!r}")
        self.size = size
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in self._interpolations:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): numbacnn supports interpolation '
                             f"{' or '.join(repr(i) for i in self._interpolations)}, received "
                             f"interpolation={interpolation!r}")

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self._spatial + 2:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expected a {self._spatial + 2}-D '
                             f"input, received input shape {format_shape(input_shape)}")
        out = list(input_shape)
        for axis, s in zip(self._spatial_axes(), self.size):
            if out[axis] is not None:
                out[axis] *= s
        return tuple(out)

    def forward(self, x, training=False):
        if training:
            self._cache = x.shape
        x5 = self._view5(ops().contiguous(x))
        out_shape = self.compute_output_shape(x.shape)
        if self.interpolation == "bilinear":
            x4 = x5.reshape(x5.shape[0], x5.shape[2], x5.shape[3], x5.shape[4])
            return ops().upsample_bilinear_forward(x4, (x4.shape[1] * self.size[0],
                                                        x4.shape[2] * self.size[1])).reshape(out_shape)
        size3 = (1,) * (3 - self._spatial) + self.size
        return ops().upsample_nearest_forward(x5, size3).reshape(out_shape)

    def backward(self, grad):
        shape = self._cache
        g5 = self._view5(ops().contiguous(grad))
        if self.interpolation == "bilinear":
            x5 = self._view5_shape(shape)
            g4 = g5.reshape(g5.shape[0], g5.shape[2], g5.shape[3], g5.shape[4])
            return ops().upsample_bilinear_backward(g4, (x5[0], x5[2], x5[3], x5[4])).reshape(shape)
        size3 = (1,) * (3 - self._spatial) + self.size
        return ops().upsample_nearest_backward(g5, size3).reshape(shape)

    def _view5_shape(self, shape):
        shape = tuple(shape)
        ones = (1,) * (3 - self._spatial)
        if self.data_format == "channels_first":
            return (shape[0] * shape[1],) + ones + tuple(shape[2:]) + (1,)
        return (shape[0],) + ones + tuple(shape[1:])

    def get_config(self):
        return {**Layer.get_config(self), "size": self.size, "data_format": self.data_format}


class UpSampling1D(_UpSampling):
    """(batch, steps, channels) -> (batch, steps * size, channels), each step repeated."""

    _spatial = 1

    def __init__(self, size=2, **kwargs):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        super().__init__(size, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        config["size"] = self.size[0]
        return config


class UpSampling2D(_UpSampling):
    """size: int or (rows, cols); interpolation 'nearest' (repeat) or 'bilinear' (half-pixel resize)."""

    _spatial = 2
    _interpolations = ("nearest", "bilinear")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format=data_format, interpolation=interpolation, **kwargs)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


class UpSampling3D(_UpSampling):
    """size: int or (dim1, dim2, dim3), each cell repeated."""

    _spatial = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size, data_format=data_format, **kwargs)
