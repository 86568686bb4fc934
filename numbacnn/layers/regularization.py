"""Dropout and SpatialDropout1D/2D/3D: inverted dropout in training, the identity at inference.

Masks are drawn from ``numbacnn.backend.rng()`` (so ``set_random_seed`` makes runs repeatable), or from
the layer's own generator when it is given a ``seed``.
"""

import numpy as np

from .. import backend
from ..kernels import ops
from .base import Layer, format_shape


def standardize_data_format(data_format):
    """None -> 'channels_last'; otherwise 'channels_last' or 'channels_first'."""
    value = "channels_last" if data_format is None else str(data_format).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")
    return value


class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to 0 in training and scales the rest by 1/(1 - rate)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 <= rate < 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float value between 0 "
                             f"(included) and 1 (excluded). Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.noise_shape = self._validate_noise_shape(noise_shape)
        self._generator = None if seed is None else np.random.default_rng(seed)

    @staticmethod
    def _validate_noise_shape(noise_shape):
        if noise_shape is None:
            return None
        if isinstance(noise_shape, str):
            raise ValueError("Invalid value received for argument `noise_shape`. Expected a tuple or list of "
                             f"integers. Received: noise_shape={noise_shape}")
        noise_shape = tuple(noise_shape)
        for i, dim in enumerate(noise_shape):
            if dim is not None and (not isinstance(dim, (int, np.integer)) or dim <= 0):
                raise ValueError("Invalid value received for argument `noise_shape`. Expected all dimensions "
                                 f"to be positive integers or None. Received {dim!r} at index {i}")
        return tuple(None if d is None else int(d) for d in noise_shape)

    def _noise_shape(self, input_shape):
        """The mask's shape for an input shape: None entries of noise_shape take the input's size."""
        if self.noise_shape is None:
            return tuple(input_shape)
        return tuple(d if n is None else n for n, d in zip(self.noise_shape, input_shape))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.noise_shape is not None:
            noise = self._noise_shape(input_shape)
            clash = any(n not in (1, d) for n, d in zip(noise, input_shape) if d is not None)
            if len(self.noise_shape) != len(input_shape) or clash:
                raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): noise_shape '
                                 f"{format_shape(self.noise_shape)} does not broadcast to input shape "
                                 f"{format_shape(input_shape)}")
        return input_shape

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._cache = None
            return x
        gen = self._generator if self._generator is not None else backend.rng()
        uniform = gen.random(self._noise_shape(x.shape), dtype=x.dtype)  # drawn on the host on every device
        k = ops()
        y, mask = k.dropout_forward(x, k.to_device(uniform), self.rate)
        self._cache = mask
        return y

    def backward(self, grad):
        if self._cache is None:
            return grad
        return ops().dropout_backward(grad, self._cache)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


class _SpatialDropout(Dropout):
    """Drops whole feature maps: one draw per (sample, channel)."""

    _rank = None

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = standardize_data_format(data_format)

    def _noise_shape(self, input_shape):
        ones = (1,) * (self._rank - 2)
        if self.data_format == "channels_first":
            return (input_shape[0], input_shape[1]) + ones
        return (input_shape[0],) + ones + (input_shape[-1],)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self._rank:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expected a {self._rank}-D input, '
                             f"received input shape {format_shape(input_shape)}")
        return input_shape

    def get_config(self):
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype,
                "data_format": self.data_format}


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole 1-D feature maps of (batch, steps, channels) inputs."""

    _rank = 3

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["data_format"]
        return config


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole 2-D feature maps of (batch, rows, cols, channels) inputs."""

    _rank = 4


class SpatialDropout3D(_SpatialDropout):
    """Dropout of whole 3-D feature maps of (batch, d1, d2, d3, channels) inputs."""

    _rank = 5
