"""BatchNormalization with Keras 3's arguments, weight order and moving-statistics update."""

from .. import initializers
from ..kernels import ops
from .base import Layer, format_shape
from .core import check_unsupported


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
        check_unsupported(self.name, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                          beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
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
