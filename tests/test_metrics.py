"""Streaming metrics on hand-made batches (Keras's documented examples among them), and metrics.get."""

import json
from pathlib import Path

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
    with pytest.raises(ValueError, match="Could not interpret metric identifier: 'f2'"):
        metrics.get("f2")


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


# ----- against real Keras 3 (tests/data/make_keras_optim_fixtures.py) --------------------------------------
FIXTURES = np.load(Path(__file__).parent / "data" / "keras_optim_fixtures.npz")
KERAS = json.loads(str(FIXTURES["configs"]))
KERAS_CASES = sorted(k.split("/")[1] for k in KERAS if k.startswith("metric/"))


@pytest.mark.parametrize("case", KERAS_CASES)
def test_results_over_three_batches_match_keras(case):
    spec, prefix = KERAS[f"metric/{case}"], f"metric/{case}"
    y_true, y_pred, sw = (FIXTURES[f"{prefix}/{k}"] for k in ("y_true", "y_pred", "sw"))
    plain = getattr(metrics, spec["class_name"])(**spec["config"])
    weighted = getattr(metrics, spec["class_name"])(**spec["config"])
    for t, p, w in zip(y_true, y_pred, sw):
        plain.update_state(t, p)
        weighted.update_state(t, p, sample_weight=w)
    np.testing.assert_allclose(plain.result(), FIXTURES[f"{prefix}/result"], rtol=1e-5, atol=1e-6,
                               err_msg=case)
    np.testing.assert_allclose(weighted.result(), FIXTURES[f"{prefix}/result_sw"], rtol=1e-5, atol=1e-6,
                               err_msg=case)
    plain.reset_state()
    plain.update_state(y_true[0], y_pred[0])
    again = getattr(metrics, spec["class_name"])(**spec["config"])
    again.update_state(y_true[0], y_pred[0])
    np.testing.assert_array_equal(plain.result(), again.result())


def test_precision_recall_by_hand():
    y_true, y_pred = [0, 1, 1, 1], [1, 0, 1, 1]
    p, r = metrics.Precision(), metrics.Recall()
    p.update_state(y_true, y_pred)
    r.update_state(y_true, y_pred)
    assert p.result() == pytest.approx(2 / 3) and r.result() == pytest.approx(2 / 3)
    p.reset_state()
    p.update_state(y_true, y_pred, sample_weight=[0, 0, 1, 0])
    assert p.result() == 1.0
    top = metrics.Precision(top_k=2)
    top.update_state([0, 0, 1, 1], [1, 1, 1, 1])  # the first two scores win a tie, as in TensorFlow
    assert top.result() == 0.0
    many = metrics.Recall(thresholds=[0.1, 0.9])
    many.update_state([1, 1], [0.5, 0.95])
    np.testing.assert_allclose(many.result(), [1.0, 0.5])
    assert metrics.Precision().result() == 0.0


def test_auc_perfect_and_reversed_and_numpy_roc():
    perfect = metrics.AUC()
    perfect.update_state([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9])
    assert perfect.result() == pytest.approx(1.0)
    reversed_ = metrics.AUC()
    reversed_.update_state([1, 1, 0, 0], [0.1, 0.4, 0.6, 0.9])
    assert reversed_.result() == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    s = np.clip(rng.normal(0.5 + 0.2 * (2 * y - 1), 0.25), 0, 1)
    auc = metrics.AUC(num_thresholds=2000)
    auc.update_state(y, s)
    pos, neg = s[y == 1], s[y == 0]
    mann_whitney = np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :])
    assert auc.result() == pytest.approx(mann_whitney, abs=2e-3)
    assert len(metrics.AUC().thresholds) == 200 and metrics.AUC().thresholds[0] < 0


def test_f1_and_fbeta_by_hand():
    y_true = np.array([[1, 0], [0, 1], [1, 0], [1, 0]])
    y_pred = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    f1 = metrics.F1Score()
    f1.update_state(y_true, y_pred)
    # class 0: tp 2 fp 0 fn 1 -> 0.8; class 1: tp 1 fp 1 fn 0 -> 2/3
    np.testing.assert_allclose(f1.result(), [0.8, 2 / 3], rtol=1e-6)
    macro = metrics.F1Score(average="macro")
    macro.update_state(y_true, y_pred)
    assert macro.result() == pytest.approx((0.8 + 2 / 3) / 2, rel=1e-6)
    f2 = metrics.FBetaScore(beta=2.0, average="micro")
    f2.update_state(y_true, y_pred)
    precision = recall = 3 / 4
    assert f2.result() == pytest.approx(5 * precision * recall / (4 * precision + recall), rel=1e-6)
    with pytest.raises(ValueError, match="beta.*Python float"):
        metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="2D inputs"):
        metrics.F1Score().update_state(np.zeros(3), np.zeros(3))


def test_mean_iou_by_hand():
    m = metrics.MeanIoU(num_classes=2)
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    assert m.result() == pytest.approx(1 / 3, rel=1e-6)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])  # truncated to 0, as Keras
    assert m.result() == 0.0
    assert m.name == "mean_io_u" and m.get_config()["dtype"] == "int64"


@pytest.mark.parametrize("name,cls", [("precision", metrics.Precision), ("recall", metrics.Recall),
                                      ("auc", metrics.AUC), ("AUC", metrics.AUC),
                                      ("f1_score", metrics.F1Score),
                                      ("F1Score", metrics.F1Score), ("f_beta_score", metrics.FBetaScore),
                                      ("Precision", metrics.Precision)])
def test_get_new_metrics_by_name(name, cls):
    m = metrics.get(name)
    assert type(m) is cls
    again = metrics.deserialize(metrics.serialize(m))
    assert type(again) is cls and again.get_config() == m.get_config()


def test_new_metrics_keras_configs():
    assert metrics.Precision().get_config() == {"name": "precision", "dtype": "float32", "thresholds": None,
                                                "top_k": None, "class_id": None}
    assert metrics.AUC().get_config() == {
        "name": "auc", "dtype": "float32", "num_thresholds": 200, "curve": "ROC",
        "summation_method": "interpolation", "multi_label": False, "num_labels": None, "label_weights": None,
        "from_logits": False}
    assert metrics.F1Score().get_config() == {"name": "f1_score", "dtype": "float32", "average": None,
                                              "threshold": None}
    assert metrics.FBetaScore().name == "fbeta_score"
    iou = metrics.MeanIoU(num_classes=3)
    again = metrics.deserialize(metrics.serialize(iou))
    assert type(again) is metrics.MeanIoU and again.get_config() == iou.get_config()
    with pytest.raises(ValueError, match="needs num_classes"):
        metrics.get("mean_io_u")


@pytest.mark.parametrize("multi_label", [False, True])
def test_bucketed_counts_equal_threshold_comparisons(multi_label):
    """Keras counts evenly spaced thresholds by bucketing; away from the thresholds themselves that is
    ``score > threshold``, which the general path computes."""
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 2, (50, 3)), rng.uniform(0, 1, (50, 3))
    weights = rng.uniform(0, 2, 50)
    thresholds = [i / 10 for i in range(11)]
    fast = metrics.confusion_counts(y_true, y_pred, thresholds, sample_weight=weights,
                                    multi_label=multi_label, evenly=True)
    slow = metrics.confusion_counts(y_true, y_pred, thresholds, sample_weight=weights,
                                    multi_label=multi_label, evenly=False)
    for a, b in zip(fast, slow):
        assert a.shape == ((11, 3) if multi_label else (11,))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["huber", "log_cosh", "kl_divergence", "hinge", "squared_hinge",
                                  "categorical_hinge", "categorical_focal_crossentropy",
                                  "binary_focal_crossentropy"])
def test_new_loss_functions_as_metrics(name):
    rng = np.random.default_rng(1)
    t = np.eye(3)[rng.integers(0, 3, 6)]
    p = rng.uniform(0.05, 0.9, (6, 3))
    m = metrics.get(name)
    assert isinstance(m, metrics.MeanMetricWrapper) and m.name == name
    m.update_state(t[:4], p[:4])
    m.update_state(t[4:], p[4:])
    assert m.result() == pytest.approx(float(np.mean(getattr(losses, name)(t, p))), rel=1e-12)


@pytest.mark.parametrize("case", KERAS_CASES)
def test_config_matches_keras(case):
    spec = KERAS[f"metric/{case}"]
    keras_config = spec["keras_config"]
    config = getattr(metrics, spec["class_name"])(**spec["config"]).get_config()
    assert list(config) == list(keras_config)
    for key, value in keras_config.items():
        if key == "name":  # Keras numbers the second instance of a class: "precision_2"
            assert config["name"] in (value, value.rsplit("_", 1)[0])
        elif key == "label_weights" and value is not None:
            np.testing.assert_allclose(config[key], value, rtol=1e-7)
        else:
            assert config[key] == value, key
    again = metrics.deserialize({"class_name": spec["class_name"], "config": keras_config})
    assert type(again).__name__ == spec["class_name"]
