"""Streaming Keras 3 metrics: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
``reset_state()``, ``name``.

The accuracies are (weighted) running means, like Keras's ``Mean`` / ``MeanMetricWrapper``: the metric
function gives one value per sample (values of further axes are averaged first), and ``result()`` is
the sum of those values over the sum of the sample weights (the number of samples when unweighted), or
0.0 before any update. ``Precision``, ``Recall`` and ``AUC`` accumulate weighted confusion counts at
their thresholds (AUC: Keras's 200 evenly spaced ones by default, ROC or PR curve, Keras's
interpolation), ``F1Score`` / ``FBetaScore`` weighted true/false positives per class, ``MeanIoU`` a
confusion matrix; their formulas and defaults are Keras's. Sums are kept in float64.

``get("accuracy", loss=...)`` picks the accuracy that fits the loss; see :func:`get`.
"""

import numpy as np

from . import backend
from . import losses as losses_module
from ._names import missing_name

__all__ = ["Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "Precision", "Recall", "AUC", "FBetaScore", "F1Score", "MeanIoU",
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


# ----- confusion counts: Precision, Recall, AUC (Keras's metrics_utils) ----------------------------------
NEG_INF = -1e10


def _evenly_distributed(thresholds):
    """Keras's test: at least 3 thresholds equal to i / (n - 1) within epsilon."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=backend.epsilon()))


def _check_thresholds(thresholds):
    values = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if values.size == 0 or np.any((values < 0) | (values > 1)):
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {thresholds}")
    return [float(v) for v in values]


def _filter_top_k(x, k):
    """x with all but the k largest entries of its last axis (the first ones on a tie) set to NEG_INF."""
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=-1)
    return np.where(mask, x, NEG_INF)


def confusion_counts(y_true, y_pred, thresholds, top_k=None, class_id=None, sample_weight=None,
                     multi_label=False, label_weights=None, evenly=False):
    """Keras's ``update_confusion_matrix_variables``: weighted (tp, fp, tn, fn) at each threshold,
    each (T,) or, with ``multi_label``, (T, labels). A prediction is positive above a threshold; with
    evenly spaced thresholds (``evenly``) Keras's bucketing, ceil(p * (T - 1)) - 1, decides instead."""
    y_pred = np.asarray(y_pred, dtype=np.float32)
    y_true = np.asarray(y_true, dtype=np.float32)
    y_pred, y_true = losses_module.squeeze_or_expand_to_same_rank(y_pred, y_true)
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=np.float32)[..., None]
        _, weights = losses_module.squeeze_or_expand_to_same_rank(y_true, weights, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape (num_samples, "
                             f"num_classes), found shape: {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    w = np.ones(y_pred.shape)
    if weights is not None:
        w = np.broadcast_to(weights, y_pred.shape).astype(np.float64)
    if label_weights is not None and not multi_label:
        w = w * np.broadcast_to(np.asarray(label_weights, dtype=np.float64), y_pred.shape)
    positive = y_true.astype(bool)
    thresholds = np.asarray(thresholds, dtype=np.float32)
    n = len(thresholds)
    if multi_label:
        pred, pos, w = y_pred.reshape(len(y_pred), -1), positive.reshape(len(y_pred), -1), \
            w.reshape(len(y_pred), -1)
    else:
        pred, pos, w = y_pred.reshape(-1, 1), positive.reshape(-1, 1), w.reshape(-1, 1)
    true_w, false_w = np.where(pos, w, 0.0), np.where(pos, 0.0, w)
    if evenly:  # Keras's segment sums over buckets, then sums from the top bucket down: O(N + T)
        with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
        bucket = np.ceil(np.clip(pred, 0.0, 1.0) * np.float32(n - 1)) - 1
        if with_epsilon:
            bucket = np.maximum(bucket, 0)
        bucket = bucket.astype(np.int64)
        valid = bucket >= 0  # a bucket of -1 (a score of 0 without the epsilon ends) counts nowhere
        labels = pred.shape[1]
        index = (bucket + n * np.arange(labels)[None, :])[valid]

        def per_threshold(values):
            sums = np.bincount(index, weights=values[valid], minlength=n * labels).reshape(labels, n).T
            return np.cumsum(sums[::-1], axis=0)[::-1]

        tp, fp = per_threshold(true_w), per_threshold(false_w)
    else:
        above = pred[None, :, :] > thresholds[:, None, None]
        tp = np.sum(np.where(above, true_w[None], 0.0), axis=1)
        fp = np.sum(np.where(above, false_w[None], 0.0), axis=1)
    fn = true_w.sum(axis=0)[None] - tp
    tn = false_w.sum(axis=0)[None] - fp
    if not multi_label:
        tp, fp, tn, fn = tp[:, 0], fp[:, 0], tn[:, 0], fn[:, 0]
    return tp, fp, tn, fn


def _divide_no_nan(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


class _ThresholdMetric(Metric):
    """Precision and Recall: counts at ``thresholds`` (0.5 by default; every score when ``top_k``)."""

    _counts = ()

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = [default] if thresholds is None else _check_thresholds(thresholds)
        self._evenly = _evenly_distributed(self.thresholds)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        tp, fp, tn, fn = confusion_counts(y_true, y_pred, self.thresholds, top_k=self.top_k,
                                          class_id=self.class_id, sample_weight=sample_weight,
                                          evenly=self._evenly)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def _finish(self, values):
        return float(values[0]) if len(self.thresholds) == 1 else values

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Precision(_ThresholdMetric):
    """tp / (tp + fp) of the predictions above ``thresholds`` (a float, or a list: one result each), among
    the ``top_k`` scores, for class ``class_id`` only."""

    def result(self):
        return self._finish(_divide_no_nan(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ThresholdMetric):
    """tp / (tp + fn) of the predictions above ``thresholds`` (a float, or a list: one result each), among
    the ``top_k`` scores, for class ``class_id`` only."""

    def result(self):
        return self._finish(_divide_no_nan(self.true_positives, self.true_positives + self.false_negatives))


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(Metric):
    """Area under the ROC or PR curve from confusion counts at ``num_thresholds`` thresholds (200, evenly
    spaced in [0, 1], the ends moved out by epsilon) or at ``thresholds``; ``summation_method``
    "interpolation" (trapezoids; for PR Davis & Goadrich's interpolation, as Keras), "minoring" or
    "majoring"; ``multi_label`` keeps one curve per label and averages them (by ``label_weights``)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None,
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        if str(curve).lower() not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are '
                             '["PR", "ROC", "PRGAIN"]')
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". Expected values are '
                             '["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            inner = sorted(_check_thresholds(thresholds))
            self._evenly = _evenly_distributed(np.array([0.0] + inner + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. Received: "
                                 f"num_thresholds={num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = np.array([0.0 - backend.epsilon()] + inner + [1.0 + backend.epsilon()])
        self.curve = _CURVES[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        super().__init__(name=name, dtype=dtype)
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self._from_logits = bool(from_logits)
        if num_labels and not self.multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self._num_labels = num_labels if self.multi_label else None
        self.reset_state()

    @property
    def thresholds(self):
        """The thresholds, the outer two included."""
        return list(self._thresholds)

    def _shape(self):
        return (self.num_thresholds,) if not self.multi_label else (self.num_thresholds, self._num_labels)

    def reset_state(self):
        if self.multi_label and not self._num_labels:
            self.true_positives = self.false_positives = self.true_negatives = self.false_negatives = None
            return
        shape = self._shape()
        self.true_positives = np.zeros(shape)
        self.false_positives = np.zeros(shape)
        self.true_negatives = np.zeros(shape)
        self.false_negatives = np.zeros(shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float32)
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ValueError("`y_pred` must have rank 2 when `multi_label=True`. Found rank "
                                 f"{y_pred.ndim}. Full shape received for `y_pred`: {y_pred.shape}")
            if self.true_positives is None:
                self._num_labels = y_pred.shape[1]
                self.reset_state()
        if self._from_logits:
            y_pred = (1.0 / (1.0 + np.exp(-y_pred.astype(np.float64)))).astype(np.float32)
        tp, fp, tn, fn = confusion_counts(y_true, y_pred, self._thresholds, sample_weight=sample_weight,
                                          multi_label=self.multi_label,
                                          label_weights=None if self.multi_label else self.label_weights,
                                          evenly=self._evenly)
        self.true_positives += tp
        self.false_positives += fp
        self.true_negatives += tn
        self.false_negatives += fn

    def _by_label(self, terms):
        if not self.multi_label:
            return float(np.sum(terms))
        by_label = np.sum(terms, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def _interpolate_pr_auc(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increment = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return self._by_label(increment)

    def result(self):
        if self.true_positives is None:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:
            scaling = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = np.maximum(np.where(tp == 0, 0.0, 1.0 - scaling * _divide_no_nan(fn, tp)), 0.0)
            precision_gain = np.where(tp == 0, 1.0, 1.0 - scaling * _divide_no_nan(fp, tp))
            x, y = recall_gain, precision_gain
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._by_label((x[:-1] - x[1:]) * heights)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


# ----- F-scores and IoU ----------------------------------------------------------------------------
class FBetaScore(Metric):
    """F-beta of (N, classes) predictions: a prediction counts as positive above ``threshold``, or, when
    that is None, where it is its row's maximum (and not ~0). ``average``: None (one score per class),
    "micro" (counts pooled over classes), "macro" (mean over classes) or "weighted" (by support)."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError("Invalid `beta` argument value. It should be a Python float. Received: "
                             f"beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python float. Received: "
                                 f"threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError("Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = None
        self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true, dtype=np.float32)
        y_pred = np.asarray(y_pred, dtype=np.float32)
        if y_pred.ndim != 2 or y_true.ndim != 2:
            raise ValueError("FBetaScore expects 2D inputs with shape (batch_size, output_dim). Received "
                             f"input shapes: y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}.")
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(np.float64)
        y_true = y_true.astype(np.float64)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[:, None]

        def weighted_sum(values):
            if weights is not None:
                values = values * weights
            return np.sum(values, axis=self.axis)

        counts = (weighted_sum(predicted * y_true), weighted_sum(predicted * (1 - y_true)),
                  weighted_sum((1 - predicted) * y_true), weighted_sum(y_true))
        if self.true_positives is None:
            (self.true_positives, self.false_positives, self.false_negatives,
             self.intermediate_weights) = counts
        else:
            self.true_positives = self.true_positives + counts[0]
            self.false_positives = self.false_positives + counts[1]
            self.false_negatives = self.false_negatives + counts[2]
            self.intermediate_weights = self.intermediate_weights + counts[3]

    def result(self):
        if self.true_positives is None:
            return 0.0
        eps = backend.epsilon()
        precision = self.true_positives / (self.true_positives + self.false_positives + eps)
        recall = self.true_positives / (self.true_positives + self.false_negatives + eps)
        beta2 = self.beta ** 2
        score = precision * recall / (beta2 * precision + recall + eps) * (1 + beta2)
        if self.average == "weighted":
            weights = self.intermediate_weights / (np.sum(self.intermediate_weights) + eps)
            return float(np.sum(score * weights))
        if self.average is not None:
            return float(np.mean(score))
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class F1Score(FBetaScore):
    """F1 (beta = 1): the harmonic mean of precision and recall; see :class:`FBetaScore`."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class MeanIoU(Metric):
    """Mean intersection-over-union over ``num_classes`` classes, from a confusion matrix of integer
    labels (``sparse_y_true`` / ``sparse_y_pred`` False: argmax over ``axis`` first). Labels out of range and
    ``ignore_class`` are left out; as in Keras the matrix holds integers, so sample weights are truncated to
    whole numbers, and classes absent from both y_true and y_pred do not count in the mean."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=None if dtype is None or "int" in str(dtype) else dtype)
        self._dtype_arg = dtype
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.reset_state()

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        y_true = y_true.astype(np.int64).reshape(-1)
        y_pred = y_pred.astype(np.int64).reshape(-1)
        weights = np.ones(len(y_true), dtype=np.int64) if sample_weight is None else \
            np.broadcast_to(np.asarray(sample_weight).astype(np.int64).reshape(-1), y_true.shape)
        keep = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            keep &= y_true != self.ignore_class
        np.add.at(self.total_cm, (y_true[keep], y_pred[keep]), weights[keep])

    def result(self):
        cm = self.total_cm.astype(np.float64)
        true_positives = np.diag(cm)
        denominator = cm.sum(axis=0) + cm.sum(axis=1) - true_positives
        valid = denominator > 1e-9
        iou = np.where(valid, true_positives / (denominator + backend.epsilon()), 0.0)
        return float(np.sum(iou) / (np.sum(valid) + backend.epsilon()))

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self._dtype_arg or "int64",
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


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
                                          SparseTopKCategoricalAccuracy, Precision, Recall, AUC, FBetaScore,
                                          F1Score)}
_NEEDS_ARGUMENTS = {"MeanIoU": MeanIoU}  # by class name in dicts; as a string it needs num_classes
_BY_SNAKE_NAME = {"precision": Precision, "recall": Recall, "auc": AUC, "f1_score": F1Score,
                  "f_beta_score": FBetaScore}
_FUNCTIONS = {fn.__name__: fn for fn in (accuracy, binary_accuracy, categorical_accuracy,
                                         sparse_categorical_accuracy, top_k_categorical_accuracy,
                                         sparse_top_k_categorical_accuracy,
                                         losses_module.sparse_categorical_crossentropy,
                                         losses_module.categorical_crossentropy,
                                         losses_module.binary_crossentropy, losses_module.mean_squared_error,
                                         losses_module.mean_absolute_error, losses_module.huber,
                                         losses_module.log_cosh, losses_module.kl_divergence,
                                         losses_module.hinge, losses_module.squared_hinge,
                                         losses_module.categorical_hinge,
                                         losses_module.categorical_focal_crossentropy,
                                         losses_module.binary_focal_crossentropy)}
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
        cls = _CLASSES.get(identifier.get("class_name")) or _NEEDS_ARGUMENTS.get(identifier.get("class_name"))
        if cls is not None:
            return cls.from_config(dict(identifier.get("config") or {}))
        if identifier.get("class_name") == "MeanMetricWrapper":
            return MeanMetricWrapper.from_config(dict(identifier.get("config") or {}))
    elif isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _accuracy_for_loss(identifier, loss)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier in _BY_SNAKE_NAME:
            return _BY_SNAKE_NAME[identifier]()
        if identifier in _NEEDS_ARGUMENTS or identifier in ("mean_io_u", "mean_iou"):
            raise ValueError(f"Metric {identifier!r} needs num_classes: pass an object, e.g. "
                             "metrics=[numbacnn.metrics.MeanIoU(num_classes=10)]")
        if identifier in _METRIC_FOR_FUNCTION:
            return _METRIC_FOR_FUNCTION[identifier](name=identifier)
        if identifier in _FUNCTIONS:
            return MeanMetricWrapper(_FUNCTIONS[identifier], name=identifier)
    elif callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}. numbacnn knows "
                     f"{sorted(set(_CLASSES) | set(_FUNCTIONS) | set(_BY_SNAKE_NAME))} and 'accuracy'")


__getattr__ = missing_name(__name__, lambda: globals())
