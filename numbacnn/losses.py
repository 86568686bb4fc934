"""Keras 3 losses with their gradients: crossentropies (plain and focal), mean squared and mean absolute
error, Huber, log-cosh, Kullback-Leibler divergence, hinge, squared hinge and categorical hinge.

A loss object is called like Keras's, ``loss(y_true, y_pred) -> float``, and also gives what a
training loop needs:

* ``value(y_true, y_pred, sample_weight=None)``               the reduced loss, a Python float
* ``gradient(y_true, y_pred, sample_weight=None)``            dLoss/dy_pred, shaped and typed like y_pred
* ``value_and_gradient(y_true, y_pred, sample_weight=None)``  both from one kernel pass
* ``fused_softmax_gradient(y_true, logits, sample_weight=None)`` (crossentropies, when
  ``fused_activation == "softmax"``): ``(value, dLoss/dlogits)`` for ``y_pred = softmax(logits)``,
  computed from the logits directly, so the training loop can skip the softmax backward.

The loss of one sample is reduced over the last axis (classes or features), as in Keras; the
reduction over the remaining axes is Keras's ``reduction``: "sum_over_batch_size" (the default; the
mean over the batch), "mean" (the same), "sum", "mean_with_sample_weight" (divide by the summed
weights), or None / "none" (``value`` returns the per-sample losses; the gradient is that of their sum).

As in Keras, probabilities (``from_logits=False``) are clipped to [1e-7, 1 - 1e-7] and, for the
categorical crossentropies, first divided by their sum. With ``from_logits=True`` the crossentropies
use the exact log-softmax / log-sigmoid (Keras's TensorFlow, JAX and PyTorch backends do the same).
The functions (``categorical_crossentropy(y_true, y_pred)``, ...) return the per-sample losses.

A loss of your own: numbacnn differentiates no Python function, so ``compile(loss=fn)`` with a plain
function is refused; subclass :class:`Loss` and give it the per-sample loss and its gradient::

    class Cubic(numbacnn.losses.Loss):
        def call(self, y_true, y_pred):            # (N, ..., C) -> per-sample losses (N, ...)
            return np.mean(np.abs(y_pred - y_true) ** 3, axis=-1)

        def call_gradient(self, y_true, y_pred):   # d call(...)[i] / d y_pred[i, :], shape (N, ..., C)
            d = y_pred - y_true
            return 3 * d * np.abs(d) / d.shape[-1]

    model.compile(optimizer="adam", loss=Cubic())

Both get host numpy arrays (y_true and y_pred, after Keras's rank alignment, y_pred in its float dtype)
and return numpy arrays; the base class applies ``sample_weight`` and the reduction to both.
(``gradient(y_true, y_pred, sample_weight=None)`` is the public gradient of the *reduced* loss, hence
the other name.) ``call`` on a built-in loss gives its per-sample losses, as in Keras.

Devices: ``y_pred`` may be a numpy array or, on CUDA, a device array; ``y_true`` is a host array. The
kernels run on the current device (targets and row weights are copied over); the value (or the
per-sample losses) comes back to the host, the gradient stays on the device with ``y_pred``.
"""

import warnings

import numpy as np

from . import backend
from ._names import missing_name
from .kernels import ops
from .kernels.cpu import arrays as host_arrays

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
           "MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh", "KLDivergence", "Hinge",
           "SquaredHinge", "CategoricalHinge", "CategoricalFocalCrossentropy", "BinaryFocalCrossentropy",
           "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
           "mean_squared_error", "mean_absolute_error", "mse", "mae", "huber", "log_cosh", "logcosh",
           "kl_divergence", "kld", "hinge", "squared_hinge", "categorical_hinge",
           "categorical_focal_crossentropy", "binary_focal_crossentropy", "get", "serialize", "deserialize",
           "squeeze_or_expand_to_same_rank"]

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_OWN = object()  # _evaluate's default: the loss's own reduction


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: when the ranks differ by one and the longer array ends in 1, align the two.

    Axes are added and dropped by reshaping, so that device arrays align too.
    """
    s1, s2 = tuple(x1.shape), tuple(x2.shape)
    r1, r2 = len(s1), len(s2)
    if r1 == r2 + 1 and s1[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2.reshape(s2 + (1,))
        else:
            x1 = x1.reshape(s1[:-1])
    elif r2 == r1 + 1 and s2[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1.reshape(s1 + (1,))
        else:
            x2 = x2.reshape(s2[:-1])
    return x1, x2


def _as_array(a):
    """A device array as it is, anything else as a numpy array."""
    return np.asarray(a) if host_arrays.arrays_of(a) is host_arrays else a


class _Batch:
    """One prepared call: ``run(scale) -> (loss rows (R,), grad (R,C))`` and the shapes around it."""

    __slots__ = ("run", "loss_shape", "pred_shape", "dtype", "valid")

    def __init__(self, run, loss_shape, pred_shape, dtype, valid=None):
        self.run = run
        self.loss_shape = loss_shape
        self.pred_shape = pred_shape
        self.dtype = dtype
        self.valid = valid


class Loss:
    """Base class. A loss of your own implements ``call(y_true, y_pred)`` (per-sample losses) and
    ``call_gradient(y_true, y_pred)`` (each sample's gradient w.r.t. its prediction) on numpy arrays; see the
    module docstring. The built-in losses implement ``_prepare(y_true, y_pred, from_logits) -> _Batch``
    (a kernel that gives both at once).
    """

    fused_activation = None

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of {list(_REDUCTIONS)}. "
                             f"Received: reduction={reduction!r}")
        self.name = name or _default_name(type(self))
        self.reduction = reduction
        self._dtype = None if dtype is None else backend.standardize_dtype(dtype)

    @property
    def _who(self):
        return f'Loss "{self.name}"'

    # ----- public ------------------------------------------------------------------------------
    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.value(y_true, y_pred, sample_weight)

    def value(self, y_true, y_pred, sample_weight=None):
        """The reduced loss as a float (per-sample losses, an array, when reduction is None / "none")."""
        return self.value_and_gradient(y_true, y_pred, sample_weight)[0]

    def gradient(self, y_true, y_pred, sample_weight=None):
        """dLoss/dy_pred for the reduced loss, with y_pred's shape and float dtype."""
        return self.value_and_gradient(y_true, y_pred, sample_weight)[1]

    def value_and_gradient(self, y_true, y_pred, sample_weight=None):
        """(value, gradient) from one pass over the batch."""
        return self._evaluate(y_true, y_pred, sample_weight, getattr(self, "from_logits", False))

    def call(self, y_true, y_pred):
        """Per-sample losses (y_pred's shape without its last axis), unweighted and unreduced."""
        from_logits = getattr(self, "from_logits", False)
        return self._evaluate(y_true, y_pred, None, from_logits, reduction="none")[0]

    def call_gradient(self, y_true, y_pred):
        """For a loss of your own, beside ``call``: the gradient of each sample's loss w.r.t. its own
        prediction, shaped like y_pred (the built-in losses compute it in their kernels)."""
        raise NotImplementedError(f"{self._who} ({type(self).__name__}) defines call() but not "
                                  "call_gradient(y_true, y_pred): numbacnn needs the gradient of each "
                                  "sample's loss w.r.t. y_pred (same shape as y_pred) to train")

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

    # ----- a loss of your own: call() and call_gradient() -----------------------------------------
    def _prepare(self, y_true, y_pred, from_logits):
        if type(self).call is Loss.call:
            raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred) "
                                      "(per-sample losses) and call_gradient(y_true, y_pred) (their gradient "
                                      "w.r.t. y_pred)")
        k = ops()
        y_pred = _as_array(y_pred)
        pred_shape = tuple(y_pred.shape)
        dtype = self._float_dtype(y_pred)
        host_pred = k.to_host(y_pred).astype(dtype, copy=False)
        y_true, host_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), host_pred)
        losses = np.asarray(self.call(y_true, host_pred), dtype=np.float64)
        loss_shape = tuple(host_pred.shape[:-1])
        if losses.shape != loss_shape:
            raise ValueError(f"{self._who}: call() must return one loss per sample, shape {loss_shape} for "
                             f"y_pred of shape {pred_shape}; it returned shape {losses.shape}")
        grads = np.asarray(self.call_gradient(y_true, host_pred), dtype=np.float64)
        if grads.shape != tuple(host_pred.shape):
            raise ValueError(f"{self._who}: call_gradient() must return an array shaped like y_pred, "
                             f"{tuple(host_pred.shape)}; it returned shape {grads.shape}")
        cols = host_pred.shape[-1] if host_pred.ndim else 1
        rows = grads.reshape(-1, cols)
        flat = losses.reshape(-1).astype(dtype)

        def run(scale):
            scaled = (rows * k.to_host(scale).astype(np.float64)[:, None]).astype(dtype)
            return k.to_device(flat), k.to_device(scaled)
        return _Batch(run, loss_shape, pred_shape, dtype)

    # ----- shared machinery --------------------------------------------------------------------
    def _evaluate(self, y_true, y_pred, sample_weight, from_logits, reduction=_OWN):
        reduction = self.reduction if reduction is _OWN else reduction
        batch = self._prepare(y_true, y_pred, from_logits)
        weights, divisor = self._row_weights(batch, sample_weight, reduction)
        scale = (weights / divisor if divisor else np.zeros_like(weights)).astype(batch.dtype)
        k = ops()
        loss, grad = batch.run(k.to_device(scale))
        loss = k.to_host(loss)
        if batch.valid is not None:
            loss[~batch.valid] = 0
        grad = grad.reshape(batch.pred_shape)
        if reduction in (None, "none"):
            return (loss * weights.astype(batch.dtype)).reshape(batch.loss_shape), grad
        if not divisor:
            return 0.0, grad
        return float(np.dot(loss.astype(np.float64), weights) / divisor), grad

    def _row_weights(self, batch, sample_weight, reduction):
        """The weight of every loss row (R,) and the divisor of the reduction."""
        shape = batch.loss_shape
        n_rows = int(np.prod(shape))
        weighted = sample_weight is not None or batch.valid is not None
        if sample_weight is None:
            weights = np.ones(n_rows)
        else:
            weights = self._broadcast_sample_weight(sample_weight, shape)
        if batch.valid is not None:
            weights = weights * batch.valid
        if reduction in ("sum", None, "none"):
            return weights, 1.0
        if reduction == "mean_with_sample_weight" and weighted:
            return weights, float(weights.sum())
        if batch.valid is not None:
            return weights, float(batch.valid.sum())
        return weights, float(n_rows)

    def _broadcast_sample_weight(self, sample_weight, loss_shape):
        sw = np.asarray(sample_weight, dtype=np.float64)
        n_rows = int(np.prod(loss_shape))
        if sw.shape == tuple(loss_shape):
            return sw.reshape(-1)
        if loss_shape and sw.ndim in (1, 2) and sw.size == loss_shape[0] == sw.shape[0]:
            return np.repeat(sw.reshape(-1), n_rows // max(loss_shape[0], 1))
        batch = loss_shape[0] if loss_shape else None
        raise ValueError(f"{self._who}: sample_weight of shape {sw.shape} does not fit the batch: expected "
                         f"({batch},) or {tuple(loss_shape)}")

    def _float_dtype(self, y_pred):
        if self._dtype is not None:
            return self._dtype
        if y_pred.dtype in (np.float32, np.float64):
            return y_pred.dtype
        return np.dtype(backend.floatx())

    def _dense_pair(self, y_true, y_pred, hint=""):
        """y_true and y_pred as C-contiguous (R,C) rows of one float dtype, after Keras's rank alignment:
        y_pred's on its device, y_true's on the host."""
        y_pred = _as_array(y_pred)
        y_true = np.asarray(y_true)
        pred_shape = tuple(y_pred.shape)
        if not pred_shape:
            raise ValueError(f"{self._who}: y_pred must have at least one axis, received a scalar")
        t, p = squeeze_or_expand_to_same_rank(y_true, y_pred)
        shape = tuple(p.shape)
        if t.shape != shape:
            raise ValueError(f"{self._who}: y_true and y_pred must have the same shape, received "
                             f"y_true.shape={y_true.shape} and y_pred.shape={pred_shape}{hint}")
        dtype = self._float_dtype(y_pred)
        cols = shape[-1]
        p_rows = ops().contiguous(p.reshape(-1, cols), dtype)
        t_rows = np.ascontiguousarray(t.reshape(-1, cols), dtype=dtype)
        return t_rows, p_rows, shape[:-1], pred_shape, dtype


def _default_name(cls):
    from .layers.base import to_snake_case

    return to_snake_case(cls.__name__)


def _check_axis(who, axis):
    if isinstance(axis, bool) or axis != -1:
        raise ValueError(f"{who}: numbacnn computes the loss along the last axis; `axis` must be -1, "
                         f"received axis={axis!r}")
    return axis


class _SoftmaxFusable:
    """The fused softmax path shared by the two categorical crossentropies."""

    @property
    def fused_activation(self):
        """"softmax" when the loss expects probabilities, so a softmax output layer can be fused into it."""
        return None if self.from_logits else "softmax"

    def fused_softmax_gradient(self, y_true, logits, sample_weight=None):
        """(value, dLoss/dlogits) of this loss on ``y_pred = softmax(logits)`` (softmax over the last axis).

        For a model whose last layer applies softmax: the gradient is w.r.t. the softmax's input, so the
        training loop passes it straight to that layer's input and skips the softmax backward. The value
        is the exact crossentropy from the log-softmax of ``logits`` without the 1e-7 clipping (what
        Keras's TensorFlow backend does for a softmax output); it and the gradient equal
        ``value_and_gradient(y_true, softmax(logits))`` chained through the softmax wherever no
        probability is within 1e-7 of 0 or 1.
        """
        return self._evaluate(y_true, logits, sample_weight, True)


class CategoricalCrossentropy(_SoftmaxFusable, Loss):
    """Crossentropy with one-hot (or soft) targets: y_true and y_pred of shape (..., num_classes)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = _check_axis(self._who, axis)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(
            y_true, y_pred, hint=" (integer class labels need sparse_categorical_crossentropy)")
        if p.shape[1] == 1:
            warnings.warn(f"In loss {self.name}, expected y_pred.shape to be (batch_size, num_classes) with "
                          f"num_classes > 1. Received: y_pred.shape={pred_shape}. Consider using "
                          "'binary_crossentropy' if you only have 2 classes.", SyntaxWarning, stacklevel=2)
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / t.shape[-1]
            t = t.astype(dtype)
        k = ops()
        t = k.to_device(t)
        if from_logits:
            def run(scale):
                return k.softmax_cross_entropy(p, t, scale)
        else:
            def run(scale):
                return k.probs_cross_entropy(p, t, scale, backend.epsilon())
        return _Batch(run, loss_shape, pred_shape, dtype)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(_SoftmaxFusable, Loss):
    """Crossentropy with integer labels: y_true (...,) or (..., 1), y_pred (..., num_classes).

    Labels may be ints or integral floats in [0, num_classes); ``ignore_class`` labels add nothing to the
    loss and are left out of the "sum_over_batch_size" count, as in Keras.
    """

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def _prepare(self, y_true, y_pred, from_logits):
        y_pred = _as_array(y_pred)
        labels = np.asarray(y_true)
        pred_shape = tuple(y_pred.shape)
        if not pred_shape:
            raise ValueError(f"{self._who}: y_pred must have a class axis, received a scalar")
        lead, num_classes = pred_shape[:-1], pred_shape[-1]
        if labels.ndim == len(pred_shape) and labels.shape[-1:] == (1,):
            labels = labels[..., 0]
        if labels.shape != lead:
            raise ValueError(f"{self._who}: y_true must hold one integer label per sample, of shape {lead} "
                             f"or {lead + (1,)} for y_pred of shape {pred_shape}; received "
                             f"y_true.shape={np.shape(y_true)}")
        labels = self._integer_labels(labels, num_classes)
        valid = None
        if self.ignore_class is not None:
            valid = labels != self.ignore_class
            labels = np.where(valid, labels, 0)
        dtype = self._float_dtype(y_pred)
        k = ops()
        p = k.contiguous(y_pred.reshape(-1, num_classes), dtype)
        labels = k.to_device(labels)
        if from_logits:
            def run(scale):
                return k.sparse_softmax_cross_entropy(p, labels, scale)
        else:
            def run(scale):
                return k.sparse_probs_cross_entropy(p, labels, scale, backend.epsilon())
        return _Batch(run, lead, pred_shape, dtype, valid)

    def _integer_labels(self, labels, num_classes):
        """Flat int64 labels, checked: integral, and in [0, num_classes) apart from ignore_class."""
        flat = labels.reshape(-1)
        if flat.dtype.kind == "f":
            bad = flat[~np.isfinite(flat) | (flat != np.round(flat))]
            if bad.size:
                raise ValueError(f"{self._who}: y_true must hold integer class labels, received non-integer "
                                 f"values such as {float(bad[0])}")
        elif flat.dtype.kind not in "iub":
            raise ValueError(f"{self._who}: y_true must hold integer class labels, received dtype "
                             f"{flat.dtype}")
        flat = flat.astype(np.int64)
        checked = flat if self.ignore_class is None else flat[flat != self.ignore_class]
        if checked.size and (checked.min() < 0 or checked.max() >= num_classes):
            raise ValueError(f"{self._who}: labels must be in [0, {num_classes}) for y_pred with "
                             f"{num_classes} classes, received labels in [{checked.min()}, {checked.max()}]")
        return flat

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


class BinaryCrossentropy(Loss):
    """Binary crossentropy, averaged over the last axis: y_true and y_pred of one shape (0/1 targets)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = _check_axis(self._who, axis)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        if self.label_smoothing:
            t = (t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing).astype(dtype)
        k = ops()
        t = k.to_device(t)
        if from_logits:
            def run(scale):
                return k.sigmoid_binary_cross_entropy(p, t, scale)
        else:
            def run(scale):
                return k.probs_binary_cross_entropy(p, t, scale, backend.epsilon())
        return _Batch(run, loss_shape, pred_shape, dtype)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2) over the last axis, then Keras's reduction over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        k = ops()
        t = k.to_device(t)
        return _Batch(lambda scale: k.squared_error(p, t, scale), loss_shape, pred_shape, dtype)


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the last axis, then Keras's reduction over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        k = ops()
        t = k.to_device(t)
        return _Batch(lambda scale: k.absolute_error(p, t, scale), loss_shape, pred_shape, dtype)


class Huber(Loss):
    """Huber loss: 0.5 e^2 where |e| <= delta, delta (|e| - 0.5 delta) beyond, averaged over the last axis."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = float(delta)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        k = ops()
        t = k.to_device(t)
        delta = float(np.dtype(dtype).type(self.delta))
        return _Batch(lambda scale: k.huber(p, t, scale, delta), loss_shape, pred_shape, dtype)

    def get_config(self):
        return Loss.get_config(self)


class LogCosh(Loss):
    """log(cosh(y_pred - y_true)), averaged over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        k = ops()
        t = k.to_device(t)
        return _Batch(lambda scale: k.log_cosh(p, t, scale), loss_shape, pred_shape, dtype)


class KLDivergence(Loss):
    """Kullback-Leibler divergence sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to
    [epsilon, 1]."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        k = ops()
        t = k.to_device(t)
        return _Batch(lambda scale: k.kl_divergence(p, t, scale, backend.epsilon()), loss_shape, pred_shape,
                      dtype)


class _HingeBase(Loss):
    """Hinge and squared hinge: labels -1/1, or 0/1 (converted to -1/1 when the whole batch is 0/1)."""

    _squared = False

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        if np.all((t == 0) | (t == 1)):
            t = (2.0 * t - 1.0).astype(dtype)
        k = ops()
        t = k.to_device(t)
        squared = self._squared
        return _Batch(lambda scale: k.hinge(p, t, scale, squared), loss_shape, pred_shape, dtype)


class Hinge(_HingeBase):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; y_true -1/1 (0/1 labels are converted)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class SquaredHinge(_HingeBase):
    """mean(max(1 - y_true * y_pred, 0)^2) over the last axis; y_true -1/1 (0/1 labels are converted)."""

    _squared = True

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class CategoricalHinge(Loss):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) per sample (one-hot y_true)."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        k = ops()
        t = k.to_device(t)
        return _Batch(lambda scale: k.categorical_hinge(p, t, scale), loss_shape, pred_shape, dtype)


class CategoricalFocalCrossentropy(Loss):
    """Focal crossentropy over classes (Lin et al., 2018): sum_c alpha (1 - q_c)^gamma (-y_true_c log q_c)
    with q the renormalised, clipped probabilities (from a softmax of y_pred when ``from_logits``)."""

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = _check_axis(self._who, axis)
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(
            y_true, y_pred, hint=" (integer class labels: one-hot encode them first)")
        if p.shape[1] == 1:
            warnings.warn(f"In loss {self.name}, expected y_pred.shape to be (batch_size, num_classes) with "
                          f"num_classes > 1. Received: y_pred.shape={pred_shape}. Consider using "
                          "'binary_crossentropy' if you only have 2 classes.", SyntaxWarning, stacklevel=2)
        if self.label_smoothing:
            t = (t * (1.0 - self.label_smoothing) + self.label_smoothing / t.shape[-1]).astype(dtype)
        k = ops()
        t = k.to_device(t)
        cast = np.dtype(dtype).type
        alpha, gamma = float(cast(self.alpha)), float(cast(self.gamma))

        def run(scale):
            return k.categorical_focal_cross_entropy(p, t, scale, alpha, gamma, backend.epsilon(),
                                                     from_logits)
        return _Batch(run, loss_shape, pred_shape, dtype)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis, "alpha": self.alpha,
                "gamma": self.gamma}


class BinaryFocalCrossentropy(Loss):
    """Binary focal crossentropy: mean over the last axis of (1 - p_t)^gamma * binary crossentropy, with
    p_t = y_true * y + (1 - y_true)(1 - y) (y = sigmoid(y_pred) when ``from_logits``), weighted by alpha /
    1 - alpha for the positive / negative class with ``apply_class_balancing``."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = _check_axis(self._who, axis)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    def _prepare(self, y_true, y_pred, from_logits):
        t, p, loss_shape, pred_shape, dtype = self._dense_pair(y_true, y_pred)
        if self.label_smoothing:
            t = (t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing).astype(dtype)
        k = ops()
        t = k.to_device(t)
        cast = np.dtype(dtype).type
        alpha, gamma, balance = float(cast(self.alpha)), float(cast(self.gamma)), self.apply_class_balancing

        def run(scale):
            return k.binary_focal_cross_entropy(p, t, scale, alpha, gamma, balance, backend.epsilon(),
                                                from_logits)
        return _Batch(run, loss_shape, pred_shape, dtype)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis,
                "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha, "gamma": self.gamma}


# ----- functions: per-sample losses, as keras.losses.* ---------------------------------------------
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample sparse categorical crossentropy, shape y_pred.shape[:-1]."""
    _check_axis("sparse_categorical_crossentropy", axis)
    return SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore_class,
                                         reduction=None).value(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical crossentropy, shape y_pred.shape[:-1]."""
    return CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                                   reduction=None).value(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary crossentropy (mean over the last axis), shape y_pred.shape[:-1]."""
    return BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                              reduction=None).value(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error (mean over the last axis)."""
    return MeanSquaredError(reduction=None).value(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error (mean over the last axis)."""
    return MeanAbsoluteError(reduction=None).value(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss (mean over the last axis)."""
    return Huber(delta=delta, reduction=None).value(y_true, y_pred)


def log_cosh(y_true, y_pred):
    """Per-sample log-cosh (mean over the last axis)."""
    return LogCosh(reduction=None).value(y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """Per-sample Kullback-Leibler divergence (sum over the last axis)."""
    return KLDivergence(reduction=None).value(y_true, y_pred)


def hinge(y_true, y_pred):
    """Per-sample hinge loss (mean over the last axis)."""
    return Hinge(reduction=None).value(y_true, y_pred)


def squared_hinge(y_true, y_pred):
    """Per-sample squared hinge loss (mean over the last axis)."""
    return SquaredHinge(reduction=None).value(y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """Per-sample categorical hinge loss."""
    return CategoricalHinge(reduction=None).value(y_true, y_pred)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Per-sample categorical focal crossentropy."""
    return CategoricalFocalCrossentropy(alpha=alpha, gamma=gamma, from_logits=from_logits,
                                        label_smoothing=label_smoothing, axis=axis,
                                        reduction=None).value(y_true, y_pred)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary focal crossentropy (mean over the last axis)."""
    return BinaryFocalCrossentropy(apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                                   from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                                   reduction=None).value(y_true, y_pred)


mse = mean_squared_error
mae = mean_absolute_error
kld = kl_divergence
logcosh = log_cosh

_CLASSES = {cls.__name__: cls for cls in (SparseCategoricalCrossentropy, CategoricalCrossentropy,
                                          BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError, Huber,
                                          LogCosh, KLDivergence, Hinge, SquaredHinge, CategoricalHinge,
                                          CategoricalFocalCrossentropy, BinaryFocalCrossentropy)}
_FUNCTIONS = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "huber": Huber, "log_cosh": LogCosh, "logcosh": LogCosh,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
}
_FUNCTION_OBJECTS = {sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
                     categorical_crossentropy: CategoricalCrossentropy,
                     binary_crossentropy: BinaryCrossentropy,
                     mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
                     huber: Huber, log_cosh: LogCosh, kl_divergence: KLDivergence, hinge: Hinge,
                     squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
                     categorical_focal_crossentropy: CategoricalFocalCrossentropy,
                     binary_focal_crossentropy: BinaryFocalCrossentropy}


def serialize(loss):
    """Keras 3's serialized form of a loss object: {"module", "class_name", "config", "registered_name"}."""
    return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
            "registered_name": None}


def deserialize(config):
    """A loss object from :func:`serialize`'s dict (or a name)."""
    return get(config)


def get(identifier):
    """A loss object from a name ("sparse_categorical_crossentropy", "mse", "CategoricalCrossentropy", ...),
    a serialized dict, a loss function of this module, a Loss class or instance; None gives None.

    A function name gives the matching class named after it (``get("mse").name == "mse"``), as Keras's
    compile() names the wrapped function.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = _CLASSES.get(name) or _FUNCTIONS.get(name)
        if cls is not None:
            return cls.from_config(dict(identifier.get("config") or {}))
    elif isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier](name=identifier)
    elif callable(identifier) and identifier in _FUNCTION_OBJECTS:
        return _FUNCTION_OBJECTS[identifier](name=identifier.__name__)
    if callable(identifier) and not isinstance(identifier, type):
        name = getattr(identifier, "__name__", repr(identifier))
        raise ValueError(f"Could not use the loss function {name!r}: numbacnn computes gradients by hand, "
                         "not by differentiating Python code, so a loss needs its gradient too. Subclass "
                         "numbacnn.losses.Loss with call(y_true, y_pred) -> per-sample losses (shape "
                         "y_pred.shape[:-1]) and call_gradient(y_true, y_pred) -> d loss[i] / d y_pred[i] "
                         "(y_pred's shape), both on numpy arrays, and pass an instance: "
                         "compile(loss=MyLoss()). Or use a built-in loss by name: "
                         f"{sorted(set(_FUNCTIONS))}")
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}. numbacnn knows "
                     f"{sorted(set(_CLASSES) | set(_FUNCTIONS))}")


__getattr__ = missing_name(__name__, lambda: globals())
