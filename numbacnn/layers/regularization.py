"""Dropout, SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout (noise in training, the identity at
inference) and ActivityRegularization.

Masks and noise are drawn from ``numbacnn.backend.rng()`` (so ``set_random_seed`` makes runs repeatable), or
from the layer's own generator when it is given a ``seed``.
"""

import math

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


def _check_unit_interval(name, value, include_one):
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and \
        (0 <= value <= 1 if include_one else 0 <= value < 1)
    if not ok:
        raise ValueError(f"Invalid value received for argument `{name}`. Expected a float value between 0 "
                         f"and 1{'' if include_one else ' (excluded)'}. Received: {name}={value}")


class GaussianNoise(Layer):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` in training."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_unit_interval("stddev", stddev, True)
        self.stddev = float(stddev)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def forward(self, x, training=False):
        if not training or self.stddev == 0:
            return x
        gen = self._generator if self._generator is not None else backend.rng()
        k = ops()
        noise = k.to_device(gen.standard_normal(x.shape, dtype=x.dtype))
        return k.gaussian_noise_forward(x, noise, self.stddev)

    def backward(self, grad):
        return grad

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies by Gaussian noise of mean 1 and standard deviation sqrt(rate / (1 - rate)) in training."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_unit_interval("rate", rate, False)
        self.rate = float(rate)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def forward(self, x, training=False):
        self._cache = None
        if not training or self.rate == 0:
            return x
        gen = self._generator if self._generator is not None else backend.rng()
        k = ops()
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        y, self._cache = k.gaussian_dropout_forward(
            x, k.to_device(gen.standard_normal(x.shape, dtype=x.dtype)), stddev)
        return y

    def backward(self, grad):
        if self._cache is None:
            return grad
        return ops().dropout_backward(grad, self._cache)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(Layer):
    """The identity, whose input pays ``(l1 * sum|x| + l2 * sum x^2) / batch_size`` (Keras's activity
    regularizer, divided by the batch size as Keras 3 does).

    Its gradient is added in backward, so training follows Keras's; ``losses`` holds the penalty of the last
    call as a float, for a model to add to the loss it reports.
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1 = l1
        self.l2 = l2
        self._last = None

    def forward(self, x, training=False):
        self._last = x
        if training:
            self._cache = x
        return x

    @property
    def losses(self):
        """[the regularization loss of the last forward], or [] before any."""
        if self._last is None:
            return []
        x = np.asarray(ops().to_host(self._last), dtype=np.float64)
        return [float((self.l1 * np.abs(x).sum() + self.l2 * np.square(x).sum()) / max(x.shape[0], 1))]

    def backward(self, grad):
        x = self._cache
        if not self.l1 and not self.l2:
            return grad
        return ops().activity_regularization_backward(x, grad, self.l1, self.l2, x.shape[0])

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
