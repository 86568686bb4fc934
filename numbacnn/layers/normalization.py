"""BatchNormalization, LayerNormalization and GroupNormalization with Keras 3's arguments, weight order and
formulas."""

import math
import warnings

import numpy as np

from .. import initializers
from ..kernels import ops
from .base import Layer, format_shape


class BatchNormalization(Layer):
    """Normalises each channel (``axis``) with batch statistics in training, moving statistics otherwise.

    Weights, in order: gamma (if scale), beta (if center), moving_mean, moving_variance (non-trainable).
    Training updates ``moving = moving * momentum + batch_stat * (1 - momentum)`` with the biased batch
    variance, as Keras 3 does. A frozen layer (``trainable = False``) always runs in inference mode.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        self._set_weight_options(
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
        )
        if synchronized:
            raise ValueError("Argument synchronized=True is only supported with the TensorFlow backend.")
        if epsilon <= 0:
            raise ValueError(f'Layer "{self.name}" (BatchNormalization): epsilon must be positive, '
                             f"received {epsilon}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = False
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _channel_axis(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f'Layer "{self.name}" (BatchNormalization): axis {self.axis} is not a feature '
                             f"axis of input shape {format_shape(input_shape)}")
        return self.axis % rank

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        ax = self._channel_axis(input_shape)
        if input_shape[ax] is None:
            raise ValueError(f'Layer "{self.name}" (BatchNormalization) expected a defined size on axis '
                             f"{self.axis}, received input shape {format_shape(input_shape)}")
        if self.moving_mean is not None and input_shape[ax] != self.moving_mean.shape[0]:
            expected = list(input_shape)
            expected[ax] = self.moving_mean.shape[0]
            raise ValueError(f'Layer "{self.name}" (BatchNormalization) expected input shape '
                             f"{format_shape(expected)}, received {format_shape(input_shape)}")
        return input_shape

    def _check_input_shape(self, input_shape):
        # Like Keras's InputSpec(ndim, axes={axis: channels}): other sizes may change after build.
        if len(input_shape) != len(self._build_input_shape):
            raise ValueError(f'Layer "{self.name}" (BatchNormalization) expected input shape '
                             f"{format_shape(self._build_input_shape)}, received {format_shape(input_shape)}")
        self.compute_output_shape(input_shape)

    def build(self, input_shape):
        shape = (input_shape[self._channel_axis(input_shape)],)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)

    def _rows(self, x):
        """x as the kernels' channels-last (M, C) rows (the channel axis moved last when it is not)."""
        k = ops()
        shape = tuple(x.shape)
        ax = self._channel_axis(shape)
        if ax != len(shape) - 1:
            x = k.moveaxis(x, ax, -1)
        return k.contiguous(x).reshape(-1, shape[ax])

    def _unrows(self, rows, shape):
        """The inverse of _rows for an input of ``shape``."""
        ax = self._channel_axis(shape)
        if ax == len(shape) - 1:
            return rows.reshape(shape)
        moved = shape[:ax] + shape[ax + 1:] + (shape[ax],)
        return ops().moveaxis(rows.reshape(moved), -1, ax)

    def _gamma_beta(self, channels, dtype):
        k = ops()
        gamma = self.gamma.value if self.scale else k.full((channels,), 1, dtype)
        beta = self.beta.value if self.center else k.zeros((channels,), dtype)
        return gamma, beta

    def inference_affine(self, dtype):
        """Inference mode as ``y = x * scale + shift`` per channel: (scale, shift) (C,) of ``dtype``,
        the same values ``forward(training=False)`` applies."""
        gamma, beta = self._gamma_beta(self.moving_mean.value.shape[0], dtype)
        return ops().batchnorm_infer_affine(gamma, beta, self.moving_mean.value, self.moving_variance.value,
                                            self.epsilon, dtype)

    def forward(self, x, training=False):
        rows = self._rows(x)
        gamma, beta = self._gamma_beta(rows.shape[1], rows.dtype)
        if training and self.trainable:
            y, mean, var, inv_std = ops().batchnorm_forward_train(rows, gamma, beta, self.epsilon)
            m, k = self.momentum, ops()
            k.blend_into(self.moving_mean.value, mean, m, 1.0 - m)
            k.blend_into(self.moving_variance.value, var, m, 1.0 - m)
            self._cache = ("batch", rows, mean, inv_std, x.shape)
        else:
            y = ops().batchnorm_forward_infer(rows, gamma, beta, self.moving_mean.value,
                                              self.moving_variance.value, self.epsilon)
            if training:
                self._cache = ("moving", rows, None, None, x.shape)
        return self._unrows(y, x.shape)

    def backward(self, grad):
        mode, rows, mean, inv_std, shape = self._cache
        gamma, _ = self._gamma_beta(rows.shape[1], rows.dtype)
        g = self._rows(grad)
        if mode == "batch":
            dx, dgamma, dbeta = ops().batchnorm_backward_train(rows, g, mean, inv_std, gamma)
        else:
            dx, dgamma, dbeta = ops().batchnorm_backward_infer(
                rows, g, self.moving_mean.value, self.moving_variance.value, gamma, self.epsilon,
                weight_grads=self.trainable)
        if self.trainable:
            k = ops()
            if self.scale:
                k.add_into(self.gamma.grad, dgamma)
            if self.center:
                k.add_into(self.beta.grad, dbeta)
        return self._unrows(dx, shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
                "gamma_constraint": None, "synchronized": self.synchronized}


def _norm_weights_config(layer):
    return {"beta_initializer": initializers.serialize(layer.beta_initializer),
            "gamma_initializer": initializers.serialize(layer.gamma_initializer),
            "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
            "gamma_constraint": None}


class _GroupedNormalization(Layer):
    """Shared by LayerNormalization and GroupNormalization: the input is viewed as (N, S, G, Cg) and each
    (sample, group) is normalised over its S * Cg values by ``kernels.group_norm_forward``."""

    _rms = False

    def _init_weights_args(self, epsilon, center, scale, beta_initializer, gamma_initializer,
                           beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
        self._set_weight_options(
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
        )
        self.epsilon = epsilon
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.gamma = self.beta = None
        self._constants = None

    def _gamma_beta(self, size, dtype):
        k = ops()
        if self._constants is None or self._constants[0] != (size, dtype, k.__name__):
            with k.persistent():  # kept across steps: not buffers of a step's memory plan
                self._constants = ((size, dtype, k.__name__), k.full((size,), 1, dtype),
                                   k.zeros((size,), dtype))
        _, ones, zeros = self._constants
        gamma = self.gamma.value.reshape(-1) if self.gamma is not None else ones
        beta = self.beta.value.reshape(-1) if self.beta is not None else zeros
        return gamma, beta

    def _moves(self, ndim):
        """The axes moved to the end, one at a time (each source index given after the previous moves)."""
        raise NotImplementedError

    def _grouped(self, x):
        """x (any layout) -> the (N,S,G,Cg) C-contiguous view the kernel reads."""
        k = ops()
        for src in self._moves(x.ndim):
            x = k.moveaxis(x, src, -1)
        x = k.contiguous(x)
        return x.reshape(self._group_shape(tuple(x.shape)))

    def _ungrouped(self, y, shape):
        k = ops()
        moves = self._moves(len(shape))
        moved = list(shape)
        for src in moves:
            moved.append(moved.pop(src))
        y = y.reshape(tuple(moved))
        for src in reversed(moves):
            y = k.moveaxis(y, -1, src)
        return y

    def forward(self, x, training=False):
        g4 = self._grouped(x)
        gamma, beta = self._gamma_beta(g4.shape[2] * g4.shape[3], g4.dtype)
        y, mean, inv_std = ops().group_norm_forward(g4, gamma, beta, self.epsilon, self._rms)
        if training:
            self._cache = (g4, mean, inv_std, tuple(x.shape))
        return self._ungrouped(y, tuple(x.shape))

    def backward(self, grad):
        g4, mean, inv_std, shape = self._cache
        k = ops()
        gamma, _ = self._gamma_beta(g4.shape[2] * g4.shape[3], g4.dtype)
        dx, dgamma, dbeta = k.group_norm_backward(g4, self._grouped(grad), gamma, mean, inv_std, self._rms)
        if self.trainable:
            if self.gamma is not None:
                k.add_into(self.gamma.grad, dgamma.reshape(self.gamma.shape))
            if self.beta is not None:
                k.add_into(self.beta.grad, dbeta.reshape(self.beta.shape))
        return self._ungrouped(dx, shape)


class LayerNormalization(_GroupedNormalization):
    """Normalises each sample over ``axis`` (an int or a list): ``x * k + (beta - mean * k)`` with
    ``k = gamma / sqrt(variance + epsilon)``, gamma and beta shaped as the normalised axes. The deprecated
    ``rms_scaling=True`` computes ``x * gamma / sqrt(variance + epsilon)`` (no centring, no beta)."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        rms_scaling = kwargs.pop("rms_scaling", False)
        if rms_scaling:
            warnings.warn("You passed `rms_scaling=True`, which is deprecated. This argument incorrectly "
                          "scales the input by the variance, not the root mean square.", stacklevel=2)
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, (int, np.integer)):
            self.axis = int(axis)
        else:
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', but received: "
                            f"{axis!r}")
        self.rms_scaling = bool(rms_scaling)
        self._rms = self.rms_scaling
        self._init_weights_args(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                                gamma_regularizer, beta_constraint, gamma_constraint)

    def _axes(self, ndim):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        return sorted(a % ndim for a in axes)

    def compute_output_shape(self, input_shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if a >= len(input_shape) or a < -len(input_shape):
                raise ValueError(f'Layer "{self.name}" (LayerNormalization): axis {a} is out of bounds for '
                                 f"input shape {format_shape(input_shape)}. Received: axis={self.axis}")
        for a in self._axes(len(input_shape)):
            if a == 0 or input_shape[a] is None:
                raise ValueError(f'Layer "{self.name}" (LayerNormalization): numbacnn normalises over '
                                 f"defined feature axes, received axis={self.axis} for input shape "
                                 f"{format_shape(input_shape)}")
        return tuple(input_shape)

    def build(self, input_shape):
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if isinstance(self.axis, list):
            self.axis = sorted(self.axis)
        else:
            self.axis = [self.axis]
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer)

    def _moves(self, ndim):
        axes = self._axes(ndim)
        if axes == list(range(ndim - len(axes), ndim)):
            return []
        return [a - i for i, a in enumerate(axes)]

    def _group_shape(self, moved_shape):
        k = math.prod(moved_shape[len(moved_shape) - len(self._axes(len(moved_shape))):])
        return (math.prod(moved_shape) // k, 1, 1, k)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling, **_norm_weights_config(self)}


class GroupNormalization(_GroupedNormalization):
    """Splits the channels (``axis``) into ``groups`` and normalises each sample's group over its channels
    and every other non-batch axis; ``groups=-1`` is instance normalisation. gamma, beta: per channel."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or (groups <= 0
                                                                                   and groups != -1):
            raise ValueError("Received an invalid value for argument `groups`, expected a positive integer "
                             f"(or `-1` for instance normalization). Received: groups={groups}")
        super().__init__(**kwargs)
        self.groups = int(groups)
        self.axis = int(axis)
        self._init_weights_args(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                                gamma_regularizer, beta_constraint, gamma_constraint)

    def compute_output_shape(self, input_shape):
        ndim = len(input_shape)
        if self.axis >= ndim or self.axis < -ndim or self.axis % ndim == 0:
            raise ValueError(f'Layer "{self.name}" (GroupNormalization): axis {self.axis} is not a feature '
                             f"axis of input shape {format_shape(input_shape)}")
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension but the "
                             f"layer received an input with shape {format_shape(input_shape)}.")
        groups = dim if self.groups == -1 else self.groups
        if dim < groups:
            raise ValueError(f"Number of groups ({groups}) cannot be more than the number of channels "
                             f"({dim}).")
        if dim % groups != 0:
            raise ValueError(f"Number of groups ({groups}) must be a multiple of the number of channels "
                             f"({dim}).")
        if self.gamma_beta_size not in (None, dim):
            raise ValueError(f'Layer "{self.name}" (GroupNormalization) expected {self.gamma_beta_size} '
                             f"channels on axis {self.axis}, received input shape "
                             f"{format_shape(input_shape)}")
        return tuple(input_shape)

    @property
    def gamma_beta_size(self):
        w = self.gamma if self.gamma is not None else self.beta
        return None if w is None else w.shape[0]

    def _check_input_shape(self, input_shape):
        if len(input_shape) != len(self._build_input_shape):
            raise ValueError(f'Layer "{self.name}" (GroupNormalization) expected input shape '
                             f"{format_shape(self._build_input_shape)}, received {format_shape(input_shape)}")
        self.compute_output_shape(input_shape)

    def build(self, input_shape):
        dim = input_shape[self.axis]
        if self.groups == -1:
            self.groups = dim
        if self.scale:
            self.gamma = self.add_weight("gamma", (dim,), self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", (dim,), self.beta_initializer)
        self._channels = dim

    def _moves(self, ndim):
        a = self.axis % ndim
        return [] if a == ndim - 1 else [a]

    def _group_shape(self, moved_shape):
        c = moved_shape[-1]
        groups = c if self.groups == -1 else self.groups
        return (moved_shape[0], math.prod(moved_shape[1:-1]), groups, c // groups)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **_norm_weights_config(self)}
