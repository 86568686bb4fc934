"""Streaming Keras 3 metrics: ``update_state(y_true, y_pred)``, ``result()``, ``reset_state()``, ``name``.

Every metric here is a (weighted) running mean, like Keras's ``Mean`` / ``MeanMetricWrapper``: the
metric function gives one value per sample (values of further axes are averaged first), and
``result()`` is the sum of those values over the sum of the sample weights (the number of samples
when unweighted), or 0.0 before any update. Sums are kept in float64.

``get("accuracy", loss=...)`` picks the accuracy that fits the loss; see :func:`get`.
"""

import numpy as np

from . import backend
from . import losses as losses_module
from ._names import missing_name

__all__ = ["Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "accuracy_for_shapes", "get",
           "serialize", "deserialize"]


# ----- per-sample metric functions (as keras.metrics.*) --------------------------------------------
def _sparse_labels(y_true, y_pred):
    """Integer labels with Keras's (N, 1) -> (N,) squeeze when y_true has y_pred's rank."""
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
        y_true = y_true[..., 0]
    return y_true


def accuracy(y_true, y_pred):
    """Per-sample fraction of elements where y_pred equals y_true (mean over the last axis)."""
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true).astype(y_pred.dtype)
    y_true, y_pred = losses_module.squeeze_or_expand_to_same_rank(y_true, y_pred)
    return np.mean(y_true == y_pred, axis=-1)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-sample fraction of elements where (y_pred > threshold) equals y_true (mean over the last axis)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    y_true, y_pred = losses_module.squeeze_or_expand_to_same_rank(y_true, y_pred)
    return np.mean(y_true == (y_pred > threshold).astype(y_true.dtype), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals argmax(y_true) (one-hot targets), per sample."""
    y_pred = np.asarray(y_pred)
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals the integer label, per sample; y_true (N,) or (N, 1)."""
    y_pred = np.asarray(y_pred)
    y_true = _sparse_labels(y_true, y_pred)
    return (y_true == np.argmax(y_pred, axis=-1)).astype(np.float64)


def _in_top_k(labels, y_pred, k):
    """Keras's in_top_k: the label's score is beaten by fewer than k scores (ties count as in)."""
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    at_label = scores[np.arange(scores.shape[0]), labels]
    at_label = np.where(np.isnan(at_label), -np.inf, at_label)
    rank = 1 + np.sum(scores > at_label[:, None], axis=-1)
    return (rank <= k).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot target's class is among the k highest scores, per sample."""
    y_pred = np.asarray(y_pred)
    labels = np.argmax(y_true, axis=-1)
    return _in_top_k(labels, y_pred, k).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the k highest scores, per sample."""
    y_pred = np.asarray(y_pred)
    labels = np.asarray(y_true)
    return _in_top_k(labels, y_pred, k).reshape(labels.shape)


# ----- streaming metrics ---------------------------------------------------------------------------
class Metric:
    """Base class: a name, running state, ``update_state`` / ``result`` / ``reset_state``."""

    def __init__(self, name=None, dtype=None):
        from .layers.base import to_snake_case

        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = backend.standardize_dtype(dtype).name

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the new result, as Keras's Metric.__call__."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} result={self.result():.6g}>"


class Mean(Metric):
    """The (weighted) mean of the values given: ``update_state(values, sample_weight=None)``.

    Values of shape (N, ...) count as N samples (their further axes are averaged first); a scalar
    counts as one, or as ``sample_weight`` samples when that is a number (the batch size, for a loss).
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=np.float64)
            values, weight = losses_module.squeeze_or_expand_to_same_rank(values, weight)
            if values.ndim > weight.ndim:
                values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
            weight = np.broadcast_to(weight, values.shape)
            values = values * weight
            if weight.ndim > 1:
                weight = weight.mean(axis=tuple(range(1, weight.ndim)))
            count = float(weight.sum())
        else:
            count = float(values.shape[0]) if values.ndim >= 1 else 1.0
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(values.sum())
        self.count += count

    def result(self):
        return self.total / self.count if self.count else 0.0

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred, **kwargs)`` (per-sample values) over the batches seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or fn.__name__, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "fn": self._fn.__name__, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        if "fn" not in config:
            return cls(**config)
        config = dict(config)
        name = config.pop("fn")
        if name not in _FUNCTIONS:
            raise ValueError(f"MeanMetricWrapper: unknown metric function {name!r}")
        return cls(_FUNCTIONS[name], **config)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)

    def get_config(self):
        return Metric.get_config(self)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) matches binary labels."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is not None and (threshold <= 0 or threshold >= 1):
            raise ValueError("Invalid value for argument `threshold`. Expected a value in interval (0, 1). "
                             f"Received: threshold={threshold}")
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {**Metric.get_config(self), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches one-hot targets."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return Metric.get_config(self)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches integer labels."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return Metric.get_config(self)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the top ``k`` predictions."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {**Metric.get_config(self), "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the top ``k`` predictions."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {**Metric.get_config(self), "k": self.k}


class _AccuracyByShape(Metric):
    """Keras 3's "accuracy" when the loss does not decide it: the kind is chosen from the shapes of the
    first batch (y_pred's last axis 1: binary; y_true of lower rank or last axis 1: sparse; else categorical).
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.resolved = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.resolved is None:
            self.resolved = accuracy_for_shapes(np.shape(y_true), np.shape(y_pred), name=self.name)
        self.resolved.update_state(y_true, y_pred, sample_weight=sample_weight)

    def result(self):
        return 0.0 if self.resolved is None else self.resolved.result()

    def reset_state(self):
        if self.resolved is not None:
            self.resolved.reset_state()


def accuracy_for_shapes(y_true_shape, y_pred_shape, name="accuracy"):
    """Keras 3 compile()'s choice for "accuracy" from the target and prediction shapes."""
    is_binary = y_pred_shape[-1] == 1
    is_sparse = len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
    if is_binary:
        return BinaryAccuracy(name=name)
    if is_sparse:
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


_CLASSES = {cls.__name__: cls for cls in (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy,
                                          SparseCategoricalAccuracy, TopKCategoricalAccuracy,
                                          SparseTopKCategoricalAccuracy)}
_FUNCTIONS = {fn.__name__: fn for fn in (accuracy, binary_accuracy, categorical_accuracy,
                                         sparse_categorical_accuracy, top_k_categorical_accuracy,
                                         sparse_top_k_categorical_accuracy,
                                         losses_module.sparse_categorical_crossentropy,
                                         losses_module.categorical_crossentropy,
                                         losses_module.binary_crossentropy, losses_module.mean_squared_error,
                                         losses_module.mean_absolute_error)}
_FUNCTIONS.update(mse=losses_module.mean_squared_error, mae=losses_module.mean_absolute_error)
_METRIC_FOR_FUNCTION = {"binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
                        "sparse_categorical_accuracy": SparseCategoricalAccuracy,
                        "top_k_categorical_accuracy": TopKCategoricalAccuracy,
                        "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy}


def _accuracy_for_loss(name, loss):
    loss = losses_module.get(loss) if isinstance(loss, (str, dict)) else loss
    if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy(name=name)
    if isinstance(loss, losses_module.CategoricalCrossentropy):
        return CategoricalAccuracy(name=name)
    if isinstance(loss, losses_module.BinaryCrossentropy):
        return BinaryAccuracy(name=name)
    return _AccuracyByShape(name=name)


def serialize(metric):
    """Keras 3's serialized form of a metric: {"module", "class_name", "config", "registered_name"}."""
    return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
            "registered_name": None}


def deserialize(config):
    """A metric from :func:`serialize`'s dict."""
    return get(config)


def get(identifier, loss=None):
    """A metric object from a name, a serialized dict, a metric function, a Metric class or instance.

    "accuracy" / "acc" (any case) resolve as compile() does, the metric keeping the name given
    (History keys "accuracy", "val_accuracy"): sparse categorical crossentropy -> sparse categorical
    accuracy, categorical crossentropy -> categorical accuracy, binary crossentropy -> binary accuracy;
    with any other loss (or none) the kind is chosen from the shapes of the first batch, by Keras 3's
    rule (see :func:`accuracy_for_shapes`). Function names ("top_k_categorical_accuracy", "mse", ...)
    give a running mean of that function named as given.
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is not None:
            return cls.from_config(dict(identifier.get("config") or {}))
        if identifier.get("class_name") == "MeanMetricWrapper":
            return MeanMetricWrapper.from_config(dict(identifier.get("config") or {}))
    elif isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _accuracy_for_loss(identifier, loss)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier in _METRIC_FOR_FUNCTION:
            return _METRIC_FOR_FUNCTION[identifier](name=identifier)
        if identifier in _FUNCTIONS:
            return MeanMetricWrapper(_FUNCTIONS[identifier], name=identifier)
    elif callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}. numbacnn knows "
                     f"{sorted(set(_CLASSES) | set(_FUNCTIONS))} and 'accuracy'")


__getattr__ = missing_name(__name__, lambda: globals())
