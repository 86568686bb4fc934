"""Streaming metrics on hand-made batches (Keras's documented examples among them), and metrics.get."""

import numpy as np
import pytest

from numbacnn import losses, metrics


def test_mean():
    m = metrics.Mean()
    assert m.name == "mean" and m.result() == 0.0
    m.update_state([1, 3, 5, 7])
    assert m.result() == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == 2.0
    m.reset_state()
    m.update_state(np.array([[1.0, 3.0], [5.0, 7.0]]))
    assert (m.total, m.count) == (8.0, 2.0)


def test_mean_of_batch_losses_weighted_by_batch_size():
    m = metrics.Mean(name="loss")
    m.update_state(0.5, sample_weight=32)
    m.update_state(2.0, sample_weight=8)
    assert m.result() == pytest.approx((0.5 * 32 + 2.0 * 8) / 40)
    m.update_state(1.0)
    assert m.count == 41


def test_sparse_categorical_accuracy():
    m = metrics.SparseCategoricalAccuracy()
    assert m.name == "sparse_categorical_accuracy"
    y_pred = np.array([[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    m.update_state([[2], [1]], y_pred)
    assert m.result() == 0.5
    m.reset_state()
    m.update_state([[2], [1]], y_pred, sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    m.reset_state()
    m.update_state(np.array([2.0, 1.0]), y_pred)
    m.update_state(np.array([1, 1, 0]), np.array([[0, 1, 0], [1, 0, 0], [0.9, 0.1, 0]]))
    assert m.result() == pytest.approx(3 / 5)


def test_categorical_accuracy():
    m = metrics.CategoricalAccuracy()
    y_true, y_pred = [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]
    m.update_state(y_true, y_pred)
    assert m.result() == 0.5
    m.reset_state()
    m.update_state(y_true, y_pred, sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)


def test_binary_accuracy():
    m = metrics.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == 0.75
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == 0.5
    m = metrics.BinaryAccuracy(threshold=0.9)
    m.update_state([1, 1, 0], [[0.95], [0.85], [0.5]])
    assert m.result() == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"threshold.*\(0, 1\).*threshold=1.5"):
        metrics.BinaryAccuracy(threshold=1.5)


def test_accuracy_exact_equality():
    m = metrics.Accuracy()
    assert m.name == "accuracy"
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert m.result() == 0.75
    m.reset_state()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]], sample_weight=[1, 1, 0, 0])
    assert m.result() == 0.5


def test_top_k_categorical_accuracy():
    m = metrics.TopKCategoricalAccuracy(k=1)
    assert m.name == "top_k_categorical_accuracy"
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == 0.5
    m = metrics.TopKCategoricalAccuracy(k=2)
    m.update_state([[0, 0, 1], [0, 0, 1]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == 0.5
    assert metrics.TopKCategoricalAccuracy().k == 5


def test_sparse_top_k_and_ties():
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == 0.5
    m.reset_state()
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    tied = metrics.SparseTopKCategoricalAccuracy(k=1)
    tied.update_state([0, 1], [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    assert tied.result() == 1.0


def test_metrics_are_streaming():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(10, 4))
    labels = rng.integers(0, 4, 10)
    m = metrics.SparseCategoricalAccuracy()
    for lo in range(0, 10, 3):
        m.update_state(labels[lo:lo + 3], scores[lo:lo + 3])
    assert m.result() == pytest.approx(np.mean(np.argmax(scores, -1) == labels))
    assert m(labels[:2], scores[:2]) == m.result()


@pytest.mark.parametrize("loss,cls", [
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", metrics.CategoricalAccuracy),
    (losses.CategoricalCrossentropy(), metrics.CategoricalAccuracy),
    ("binary_crossentropy", metrics.BinaryAccuracy),
    (losses.BinaryCrossentropy(from_logits=True), metrics.BinaryAccuracy),
])
@pytest.mark.parametrize("identifier", ["accuracy", "acc", "Accuracy"])
def test_get_accuracy_from_the_loss(loss, cls, identifier):
    m = metrics.get(identifier, loss=loss)
    assert type(m) is cls and m.name == identifier


@pytest.mark.parametrize("y_true,y_pred,expected", [
    (np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.2, 0.8], [0.3, 0.7]]), 0.5),   # one-hot: categorical
    (np.array([1, 0]), np.array([[0.2, 0.8], [0.3, 0.7]]), 0.5),                    # labels: sparse
    (np.array([[1.0], [0.0]]), np.array([[0.7], [0.8]]), 0.5),                      # one column: binary
])
def test_get_accuracy_for_other_losses_follows_keras3_shapes(y_true, y_pred, expected):
    m = metrics.get("accuracy", loss="mse")
    assert m.name == "accuracy" and m.result() == 0.0
    m.update_state(y_true, y_pred)
    m.update_state(y_true, y_pred)
    assert m.result() == expected
    m.reset_state()
    assert m.result() == 0.0


def test_get_other_identifiers():
    m = metrics.get("top_k_categorical_accuracy")
    assert isinstance(m, metrics.TopKCategoricalAccuracy) and m.name == "top_k_categorical_accuracy"
    assert isinstance(metrics.get("SparseCategoricalAccuracy"), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.get(metrics.BinaryAccuracy), metrics.BinaryAccuracy)
    acc = metrics.CategoricalAccuracy(name="acc1")
    assert metrics.get(acc) is acc and metrics.get(None) is None
    mse = metrics.get("mse")
    assert mse.name == "mse"
    mse.update_state(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))
    assert mse.result() == 2.5
    custom = metrics.get(metrics.categorical_accuracy)
    assert isinstance(custom, metrics.MeanMetricWrapper) and custom.name == "categorical_accuracy"
    with pytest.raises(ValueError, match="Could not interpret metric identifier: 'f1'"):
        metrics.get("f1")


@pytest.mark.parametrize("metric", [metrics.SparseTopKCategoricalAccuracy(k=3),
                                    metrics.BinaryAccuracy(threshold=0.7), metrics.Accuracy(name="acc"),
                                    metrics.Mean(name="loss"),
                                    metrics.MeanMetricWrapper(losses.mean_squared_error, name="mse")])
def test_config_round_trip(metric):
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()
    assert again.name == metric.name


def test_keras_config_keys():
    assert metrics.TopKCategoricalAccuracy().get_config() == {"name": "top_k_categorical_accuracy",
                                                             "dtype": "float32", "k": 5}
    assert metrics.BinaryAccuracy().get_config() == {"name": "binary_accuracy", "dtype": "float32",
                                                     "threshold": 0.5}
