"""Loss objects: Keras's documented values, NumPy references, finite-difference gradients, the fused softmax
path, label handling, reductions, get() and errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from gradcheck import numeric_grad

import numbacnn
from numbacnn import losses

EPS = 1e-7


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(z):
    return np.exp(log_softmax(z))


def np_per_sample(kind, t, p, from_logits=False):
    """Keras's per-sample formulas (numpy backend; exact log-sigmoid for binary logits)."""
    if kind in ("cce", "scce"):
        if kind == "scce":
            t = np.eye(p.shape[-1])[t]
        if from_logits:
            return -np.sum(t * log_softmax(p), -1)
        q = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
        return -np.sum(t * np.log(q), -1)
    if kind == "bce":
        if from_logits:
            p = 1 / (1 + np.exp(-p))
        p = np.clip(p, EPS, 1 - EPS)
        return np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)), -1)
    if kind == "mse":
        return np.mean((t - p) ** 2, -1)
    return np.mean(np.abs(t - p), -1)


CLASSES = {"cce": losses.CategoricalCrossentropy, "scce": losses.SparseCategoricalCrossentropy,
           "bce": losses.BinaryCrossentropy, "mse": losses.MeanSquaredError, "mae": losses.MeanAbsoluteError}


def make(kind, shape, from_logits=False, seed=0):
    """(y_true, y_pred) in float64 for a loss kind, y_pred away from the clip bounds."""
    rng = np.random.default_rng(seed)
    if from_logits or kind in ("mse", "mae"):
        p = rng.normal(0, 1.5, shape)
    else:
        p = rng.uniform(0.05, 0.95, shape)
    if kind == "scce":
        t = rng.integers(0, shape[-1], shape[:-1])
    elif kind == "cce":
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    elif kind == "bce":
        t = rng.integers(0, 2, shape).astype(np.float64)
    else:
        t = rng.normal(size=shape)
    return t, p


def build(kind, from_logits=False, **kwargs):
    if kind in ("mse", "mae"):
        return CLASSES[kind](**kwargs)
    return CLASSES[kind](from_logits=from_logits, **kwargs)


CASES = [(k, fl) for k in ("cce", "scce", "bce") for fl in (False, True)] + [("mse", False), ("mae", False)]


# ----- Keras's documented numbers ------------------------------------------------------------------
def test_keras_docstring_values():
    p = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    onehot = np.array([[0, 1, 0], [0, 0, 1]])
    for loss, y in ((losses.SparseCategoricalCrossentropy, np.array([1, 2])),
                    (losses.CategoricalCrossentropy, onehot)):
        assert loss()(y, p) == pytest.approx(1.177, abs=1e-3)
        assert loss()(y, p, sample_weight=np.array([0.3, 0.7])) == pytest.approx(0.814, abs=1e-3)
        assert loss(reduction="sum")(y, p) == pytest.approx(2.354, abs=1e-3)
        np.testing.assert_allclose(loss(reduction=None)(y, p), [0.0513, 2.303], atol=1e-3)
    z = np.array([[-18.6, 0.51], [2.94, -12.8]])
    yb = np.array([[0, 1], [0, 0]])
    bce = losses.BinaryCrossentropy(from_logits=True)
    assert bce(np.array([0, 1, 0, 0]), z.reshape(-1)) == pytest.approx(0.8654, abs=1e-4)
    assert bce(yb, z) == pytest.approx(0.8654, abs=1e-4)
    assert bce(yb, z, sample_weight=[0.8, 0.2]) == pytest.approx(0.243, abs=1e-3)
    bce_sum = losses.BinaryCrossentropy(from_logits=True, reduction="sum")
    assert bce_sum(yb, z) == pytest.approx(1.730, abs=1e-3)
    np.testing.assert_allclose(losses.BinaryCrossentropy(from_logits=True, reduction=None)(yb, z),
                               [0.235, 1.496], atol=1e-3)
    np.testing.assert_allclose(losses.binary_crossentropy(yb, np.array([[0.6, 0.4], [0.4, 0.6]])),
                               [0.916, 0.714], atol=1e-3)


# ----- values and gradients ------------------------------------------------------------------------
@pytest.mark.parametrize("kind,from_logits", CASES)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 2, 3)])
def test_value_matches_numpy_reference(kind, from_logits, shape):
    t, p = make(kind, shape, from_logits)
    loss = build(kind, from_logits)
    per = np_per_sample(kind, t, p, from_logits)
    assert loss.value(t, p) == pytest.approx(per.mean(), rel=1e-12)
    assert loss(t, p) == pytest.approx(per.mean(), rel=1e-12)
    if kind in ("mse", "mae"):
        per_fn = getattr(losses, kind)(t, p)
    else:
        per_fn = getattr(losses, loss.name)(t, p, from_logits=from_logits)
    assert per_fn.shape == shape[:-1]
    np.testing.assert_allclose(per_fn, per, rtol=1e-12)


@pytest.mark.parametrize("kind,from_logits", CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_finite_differences(kind, from_logits, weighted):
    t, p = make(kind, (3, 2, 4), from_logits, seed=1)
    sw = np.array([0.5, 2.0, 1.0]) if weighted else None
    loss = build(kind, from_logits)
    value, grad = loss.value_and_gradient(t, p, sample_weight=sw)
    assert grad.shape == p.shape and grad.dtype == np.float64
    assert value == pytest.approx(loss.value(t, p, sample_weight=sw), rel=1e-15)
    np.testing.assert_array_equal(grad, loss.gradient(t, p, sample_weight=sw))
    expected = numeric_grad(lambda: loss.value(t, p, sample_weight=sw), p)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["cce", "bce"])
def test_label_smoothing(kind):
    t, p = make(kind, (4, 3), seed=2)
    loss = build(kind, label_smoothing=0.2)
    smoothed = t * 0.8 + (0.2 / 3 if kind == "cce" else 0.1)
    assert loss(t, p) == pytest.approx(np_per_sample(kind, smoothed, p).mean(), rel=1e-12)
    np.testing.assert_allclose(loss.gradient(t, p), numeric_grad(lambda: loss(t, p), p), rtol=1e-6, atol=1e-9)


def test_float32_in_float32_out():
    t, p = make("scce", (6, 5), seed=3)
    loss = losses.SparseCategoricalCrossentropy()
    value, grad = loss.value_and_gradient(t, p.astype(np.float32))
    assert isinstance(value, float) and grad.dtype == np.float32
    assert value == pytest.approx(loss(t, p), rel=1e-6)
    np.testing.assert_allclose(grad, loss.gradient(t, p), rtol=1e-5, atol=1e-7)


def test_from_logits_equals_probabilities_of_the_softmax():
    t, z = make("cce", (5, 4), from_logits=True, seed=4)
    assert losses.CategoricalCrossentropy(from_logits=True)(t, z) == pytest.approx(
        losses.CategoricalCrossentropy()(t, softmax(z)), rel=1e-12)
    labels = np.argmax(t, -1)
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(labels, z) == pytest.approx(
        losses.CategoricalCrossentropy(from_logits=True)(t, z), rel=1e-14)


def test_categorical_probabilities_are_renormalised():
    t, p = make("cce", (3, 4), seed=5)
    loss = losses.CategoricalCrossentropy()
    assert loss(t, 3.0 * p) == pytest.approx(loss(t, p / p.sum(-1, keepdims=True)), rel=1e-13)


# ----- fused softmax -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["cce", "scce"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_softmax_gradient(kind, weighted):
    t, z = make(kind, (5, 4), from_logits=True, seed=6)
    sw = np.linspace(0.5, 1.5, 5) if weighted else None
    loss = build(kind)
    assert loss.fused_activation == "softmax"
    value, dz = loss.fused_softmax_gradient(t, z, sample_weight=sw)
    a = softmax(z)
    v_probs, g = loss.value_and_gradient(t, a, sample_weight=sw)
    chained = a * (g - np.sum(g * a, -1, keepdims=True))
    assert value == pytest.approx(v_probs, rel=1e-12)
    np.testing.assert_allclose(dz, chained, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dz, numeric_grad(lambda: loss(t, softmax(z), sample_weight=sw), z),
                               rtol=1e-6, atol=1e-9)


def test_fused_softmax_gradient_is_exact_where_probabilities_saturate():
    z = np.array([[40.0, 0.0, -40.0]])
    loss = losses.SparseCategoricalCrossentropy()
    value, dz = loss.fused_softmax_gradient(np.array([2]), z)
    assert value == pytest.approx(80.0 + np.log1p(np.exp(-40.0) + np.exp(-80.0)), rel=1e-12)
    np.testing.assert_allclose(dz, softmax(z) - [[0, 0, 1]], atol=1e-15)
    assert loss(np.array([2]), softmax(z)) == pytest.approx(-np.log(EPS), rel=1e-6)


def test_fused_activation_only_where_it_applies():
    assert losses.CategoricalCrossentropy(from_logits=True).fused_activation is None
    assert losses.SparseCategoricalCrossentropy(from_logits=True).fused_activation is None
    assert losses.BinaryCrossentropy().fused_activation is None
    assert losses.MeanSquaredError().fused_activation is None
    assert not hasattr(losses.MeanSquaredError(), "fused_softmax_gradient")


# ----- sparse labels -------------------------------------------------------------------------------
def test_sparse_label_layouts_agree():
    t, p = make("scce", (6, 3), seed=7)
    loss = losses.SparseCategoricalCrossentropy()
    expected = loss(t, p)
    for labels in (t.reshape(6, 1), t.astype(np.float32), t.astype(np.int32).reshape(6, 1), list(t)):
        assert loss(labels, p) == pytest.approx(expected, rel=1e-15)
    np.testing.assert_array_equal(loss.gradient(t.reshape(6, 1), p), loss.gradient(t, p))


def test_sparse_labels_out_of_range():
    p = np.full((3, 4), 0.25)
    loss = losses.SparseCategoricalCrossentropy()
    with pytest.raises(ValueError, match=r'"sparse_categorical_crossentropy".*\[0, 4\).*4 classes.*\[1, 4\]'):
        loss(np.array([1, 4, 2]), p)
    with pytest.raises(ValueError, match=r"received labels in \[-1, 2\]"):
        loss(np.array([-1, 0, 2]), p)
    with pytest.raises(ValueError, match=r"non-integer values such as 1\.5"):
        loss(np.array([0.0, 1.5, 2.0]), p)
    with pytest.raises(ValueError, match=r"y_true must hold one integer label per sample.*\(3,\).*\(3, 4\)"):
        loss(np.zeros((3, 4)), p)


def test_ignore_class():
    t, p = make("scce", (6, 3), seed=8)
    t[[1, 4]] = -1
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    keep = t != -1
    assert loss(t, p) == pytest.approx(np_per_sample("scce", t[keep], p[keep]).mean(), rel=1e-12)
    grad = loss.gradient(t, p)
    np.testing.assert_array_equal(grad[~keep], 0.0)
    np.testing.assert_allclose(grad, numeric_grad(lambda: loss(t, p), p), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(losses.sparse_categorical_crossentropy(t, p, ignore_class=-1)[~keep], 0.0)


# ----- shapes and reductions -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["cce", "bce", "mse", "mae"])
def test_mismatched_shapes(kind):
    with pytest.raises(ValueError, match=r"same shape.*y_true.shape=\(4, 3\).*y_pred.shape=\(4, 2\)"):
        build(kind)(np.zeros((4, 3)), np.full((4, 2), 0.5))


def test_categorical_hints_at_sparse_for_integer_labels():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(np.array([0, 1, 2]), np.full((3, 3), 1 / 3))


def test_rank_alignment_of_targets():
    p = np.array([[0.5], [1.5], [-1.0]])
    loss = losses.MeanSquaredError()
    assert loss(np.array([1.0, 1.0, 1.0]), p) == pytest.approx(np.mean((p[:, 0] - 1) ** 2))
    assert loss.gradient(np.array([1.0, 1.0, 1.0]), p).shape == (3, 1)
    assert loss(np.ones((3, 1)), p[:, 0]) == pytest.approx(np.mean((p[:, 0] - 1) ** 2))
    assert loss.gradient(np.ones((3, 1)), p[:, 0]).shape == (3,)


@pytest.mark.parametrize("reduction", ["sum", "mean", "mean_with_sample_weight", None, "none"])
def test_reductions(reduction):
    t, p = make("mse", (4, 3), seed=9)
    sw = np.array([1.0, 2.0, 0.0, 1.0])
    per = np_per_sample("mse", t, p) * sw
    expected = {"sum": per.sum(), "mean": per.sum() / 4, "mean_with_sample_weight": per.sum() / sw.sum(),
                None: per, "none": per}[reduction]
    loss = losses.MeanSquaredError(reduction=reduction)
    np.testing.assert_allclose(loss(t, p, sample_weight=sw), expected, rtol=1e-12)
    def total():
        return np.sum(loss(t, p, sample_weight=sw))

    np.testing.assert_allclose(loss.gradient(t, p, sample_weight=sw), numeric_grad(total, p),
                               rtol=1e-6, atol=1e-9)


def test_sample_weight_per_element_and_bad_shape():
    t, p = make("mse", (2, 3, 4), seed=10)
    loss = losses.MeanSquaredError()
    sw = np.arange(6.0).reshape(2, 3)
    assert loss(t, p, sample_weight=sw) == pytest.approx(np.mean(np_per_sample("mse", t, p) * sw), rel=1e-12)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\).*\(2,\) or \(2, 3\)"):
        loss(t, p, sample_weight=np.ones(3))


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match="axis must be -1|`axis` must be -1"):
        losses.CategoricalCrossentropy(axis=1)
    with pytest.warns(SyntaxWarning, match="binary_crossentropy"):
        losses.CategoricalCrossentropy()(np.ones((2, 1)), np.full((2, 1), 0.5))


# ----- get / config --------------------------------------------------------------------------------
SCCE = "sparse_categorical_crossentropy"


@pytest.mark.parametrize("identifier,cls,name", [
    (SCCE, losses.SparseCategoricalCrossentropy, SCCE),
    ("categorical_crossentropy", losses.CategoricalCrossentropy, "categorical_crossentropy"),
    ("binary_crossentropy", losses.BinaryCrossentropy, "binary_crossentropy"),
    ("mse", losses.MeanSquaredError, "mse"),
    ("mean_squared_error", losses.MeanSquaredError, "mean_squared_error"),
    ("MAE", losses.MeanAbsoluteError, "MAE"),
    ("mae", losses.MeanAbsoluteError, "mae"),
    ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy, SCCE),
    (losses.mean_absolute_error, losses.MeanAbsoluteError, "mean_absolute_error"),
    (losses.BinaryCrossentropy, losses.BinaryCrossentropy, "binary_crossentropy"),
])
def test_get(identifier, cls, name):
    loss = losses.get(identifier)
    assert type(loss) is cls and loss.name == name


def test_get_passes_objects_and_none_and_rejects_the_unknown():
    loss = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    assert losses.get(None) is None
    with pytest.raises(ValueError, match="Could not interpret loss identifier: 'poisson'"):
        losses.get("poisson")
    with pytest.raises(ValueError, match="Could not use the loss function.*Subclass numbacnn.losses.Loss"):
        losses.get(lambda y, p: 0.0)


@pytest.mark.parametrize("loss", [
    losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    losses.SparseCategoricalCrossentropy(ignore_class=255, reduction="sum", name="scce"),
    losses.BinaryCrossentropy(), losses.MeanSquaredError(), losses.MeanAbsoluteError(reduction=None)])
def test_config_round_trip(loss):
    config = loss.get_config()
    assert config["name"] == loss.name and config["reduction"] == loss.reduction
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == config


def test_keras_config_keys():
    assert losses.CategoricalCrossentropy().get_config() == {
        "name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "label_smoothing": 0.0, "axis": -1}
    assert losses.SparseCategoricalCrossentropy().get_config() == {
        "name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "ignore_class": None}
    assert losses.MeanSquaredError().get_config() == {"name": "mean_squared_error",
                                                      "reduction": "sum_over_batch_size"}


# ----- the losses of issue 21, against real Keras (tests/data/make_keras_optim_fixtures.py) ----------------
FIXTURES = np.load(Path(__file__).parent / "data" / "keras_optim_fixtures.npz")
KERAS = json.loads(str(FIXTURES["configs"]))
KERAS_CASES = sorted(k.split("/")[1] for k in KERAS if k.startswith("loss/"))


@pytest.mark.parametrize("case", KERAS_CASES)
def test_value_and_gradient_match_keras(case):
    spec, prefix = KERAS[f"loss/{case}"], f"loss/{case}"
    y_true, y_pred, sw = (FIXTURES[f"{prefix}/{k}"] for k in ("y_true", "y_pred", "sw"))
    loss = getattr(losses, spec["class_name"])(**spec["config"])
    values, grads = FIXTURES[f"{prefix}/values"], FIXTURES[f"{prefix}/grads"]
    for weights, value, grad in ((None, values[0], grads[0]), (sw, values[1], grads[1])):
        got_value, got_grad = loss.value_and_gradient(y_true, y_pred, sample_weight=weights)
        assert got_grad.dtype == np.float32 and got_grad.shape == y_pred.shape
        assert got_value == pytest.approx(float(value), rel=2e-6, abs=1e-7), case
        np.testing.assert_allclose(got_grad, grad, rtol=2e-5, atol=2e-7, err_msg=case)
        assert loss.value(y_true, y_pred, sample_weight=weights) == got_value
    per_sample = getattr(losses, spec["class_name"])(**{**spec["config"], "reduction": "none"})
    np.testing.assert_allclose(per_sample(y_true, y_pred), FIXTURES[f"{prefix}/per_sample"], rtol=2e-6,
                               atol=1e-7)
    np.testing.assert_allclose(loss.call(y_true, y_pred), FIXTURES[f"{prefix}/per_sample"], rtol=2e-6,
                               atol=1e-7)


NEW = {
    "huber": (losses.Huber, {"delta": 0.7}, "regression"),
    "log_cosh": (losses.LogCosh, {}, "regression"),
    "kld": (losses.KLDivergence, {}, "distribution"),
    "hinge": (losses.Hinge, {}, "signed"),
    "squared_hinge": (losses.SquaredHinge, {}, "signed"),
    "categorical_hinge": (losses.CategoricalHinge, {}, "one_hot_scores"),
    "cfce": (losses.CategoricalFocalCrossentropy, {"alpha": 0.4, "gamma": 1.5, "label_smoothing": 0.1},
             "distribution"),
    "cfce_logits": (losses.CategoricalFocalCrossentropy, {"from_logits": True, "gamma": 2.5}, "logits"),
    "bfce": (losses.BinaryFocalCrossentropy, {"apply_class_balancing": True, "alpha": 0.3, "gamma": 2.0},
             "binary"),
    "bfce_logits": (losses.BinaryFocalCrossentropy, {"from_logits": True, "gamma": 0.0}, "binary_logits"),
}


def new_data(kind, shape, seed):
    rng = np.random.default_rng(seed)
    if kind == "regression":
        return rng.normal(size=shape), rng.normal(0, 1.5, shape)
    if kind == "distribution":
        t = rng.uniform(0.1, 1, shape)
        p = rng.uniform(0.1, 1, shape)
        return t / t.sum(-1, keepdims=True), p / p.sum(-1, keepdims=True)
    if kind == "signed":
        return rng.choice([-1.0, 1.0], shape), rng.normal(size=shape)
    if kind == "one_hot_scores":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])], rng.normal(size=shape)
    if kind == "logits":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])], rng.normal(0, 2, shape)
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(np.float64), rng.uniform(0.05, 0.95, shape)
    return rng.integers(0, 2, shape).astype(np.float64), rng.normal(0, 2, shape)


@pytest.mark.parametrize("case", sorted(NEW))
@pytest.mark.parametrize("weighted", [False, True])
def test_new_losses_gradients_match_finite_differences(case, weighted):
    cls, config, kind = NEW[case]
    t, p = new_data(kind, (3, 2, 4), seed=5)
    sw = np.array([0.5, 2.0, 1.0]) if weighted else None
    loss = cls(**config)
    value, grad = loss.value_and_gradient(t, p, sample_weight=sw)
    assert grad.shape == p.shape and grad.dtype == np.float64
    expected = numeric_grad(lambda: loss.value(t, p, sample_weight=sw), p)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


def test_new_losses_numpy_references():
    rng = np.random.default_rng(9)
    t, p = rng.normal(size=(4, 3)), rng.normal(0, 2, (4, 3))
    e = p - t
    np.testing.assert_allclose(losses.huber(t, p, delta=0.5),
                               np.mean(np.where(np.abs(e) <= 0.5, 0.5 * e ** 2, 0.5 * np.abs(e) - 0.125), -1))
    np.testing.assert_allclose(losses.log_cosh(t, p), np.mean(np.log(np.cosh(e)), -1), rtol=1e-12)
    labels = rng.integers(0, 2, (4, 3)).astype(np.float64)  # 0/1 labels become -1/1
    np.testing.assert_allclose(losses.hinge(labels, p), np.mean(np.maximum(1 - (2 * labels - 1) * p, 0), -1))
    np.testing.assert_allclose(losses.squared_hinge(labels, p),
                               np.mean(np.maximum(1 - (2 * labels - 1) * p, 0) ** 2, -1))
    onehot = np.eye(3)[[0, 2, 1, 1]]
    np.testing.assert_allclose(losses.categorical_hinge(onehot, p),
                               np.maximum(np.max((1 - onehot) * p, -1) - np.sum(onehot * p, -1) + 1, 0))
    q, r = rng.uniform(0.1, 1, (4, 3)), rng.uniform(0.1, 1, (4, 3))
    np.testing.assert_allclose(losses.kl_divergence(q, r), np.sum(q * np.log(q / r), -1), rtol=1e-12)
    assert losses.kld is losses.kl_divergence and losses.logcosh is losses.log_cosh


def test_keras_docstring_values_of_new_losses():
    assert losses.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) == pytest.approx(0.155, abs=1e-3)
    log_cosh = losses.LogCosh()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
    assert log_cosh == pytest.approx(0.108, abs=1e-3)


@pytest.mark.parametrize("name,cls", [
    ("huber", losses.Huber), ("log_cosh", losses.LogCosh), ("logcosh", losses.LogCosh),
    ("kl_divergence", losses.KLDivergence), ("kld", losses.KLDivergence), ("KLD", losses.KLDivergence),
    ("hinge", losses.Hinge), ("squared_hinge", losses.SquaredHinge),
    ("categorical_hinge", losses.CategoricalHinge),
    ("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy),
    ("binary_focal_crossentropy", losses.BinaryFocalCrossentropy), ("Huber", losses.Huber),
    (losses.huber, losses.Huber), (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy)])
def test_get_new_losses(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is cls and again.get_config() == loss.get_config()


def test_new_losses_keras_config_and_defaults():
    assert losses.Huber().get_config() == {"name": "huber_loss", "reduction": "sum_over_batch_size"}
    assert losses.BinaryFocalCrossentropy().get_config() == {
        "name": "binary_focal_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "label_smoothing": 0.0, "axis": -1, "apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0}
    assert losses.CategoricalFocalCrossentropy().get_config() == {
        "name": "categorical_focal_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "label_smoothing": 0.0, "axis": -1, "alpha": 0.25, "gamma": 2.0}
    assert losses.KLDivergence().name == "kl_divergence" and losses.SquaredHinge().name == "squared_hinge"


@pytest.mark.parametrize("kind", ["cce", "scce", "bce", "mse", "mae"])
def test_every_loss_weighs_samples_as_keras(kind):
    """sum_over_batch_size: sum(w * loss) / N, with the gradient of that."""
    t, p = make(kind, (4, 3), seed=7)
    sw = np.array([0.0, 1.0, 2.5, 0.5])
    loss = build(kind)
    per = np_per_sample(kind, t, p)
    value, grad = loss.value_and_gradient(t, p, sample_weight=sw)
    assert value == pytest.approx(np.sum(sw * per) / 4, rel=1e-12)
    _, plain = loss.value_and_gradient(t, p)
    np.testing.assert_allclose(grad, plain * sw[:, None], rtol=1e-12, atol=1e-15)


class Cubic(losses.Loss):
    """mean |y_pred - y_true|^3: a loss of one's own, as the module docstring shows."""

    def call(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true) ** 3, axis=-1)

    def call_gradient(self, y_true, y_pred):
        d = y_pred - y_true
        return 3 * d * np.abs(d) / d.shape[-1]


def test_custom_loss_subclass_value_gradient_and_weights():
    rng = np.random.default_rng(4)
    t, p = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    sw = rng.uniform(0, 2, 5)
    loss = Cubic()
    assert loss.name == "cubic"
    value, grad = loss.value_and_gradient(t, p, sample_weight=sw)
    assert value == pytest.approx(np.sum(sw * np.mean(np.abs(p - t) ** 3, -1)) / 5, rel=1e-12)
    np.testing.assert_allclose(grad, numeric_grad(lambda: loss.value(t, p, sample_weight=sw), p),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(Cubic(reduction=None)(t, p), np.mean(np.abs(p - t) ** 3, -1))

    class NoGradient(losses.Loss):
        def call(self, y_true, y_pred):
            return np.zeros(len(y_pred))

    with pytest.raises(NotImplementedError, match="call_gradient"):
        NoGradient().value_and_gradient(t, p)

    class WrongShape(Cubic):
        def call(self, y_true, y_pred):
            return np.zeros((len(y_pred), 2))

    with pytest.raises(ValueError, match=r"one loss per sample, shape \(5,\)"):
        WrongShape()(t, p)


def test_custom_loss_subclass_trains_a_model():
    numbacnn.backend.seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")
    model = numbacnn.models.Sequential([numbacnn.layers.Input((3,)), numbacnn.layers.Dense(1)])
    model.compile(optimizer=numbacnn.optimizers.Adam(learning_rate=0.05), loss=Cubic())
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.01 * first
    with pytest.raises(ValueError, match="Subclass numbacnn.losses.Loss"):
        model.compile(optimizer="adam", loss=lambda y_true, y_pred: np.mean((y_true - y_pred) ** 2))


@pytest.mark.parametrize("case", KERAS_CASES)
def test_config_matches_keras(case):
    spec = KERAS[f"loss/{case}"]
    loss = getattr(losses, spec["class_name"])(**spec["config"])
    assert loss.get_config() == spec["keras_config"]
    assert list(loss.get_config()) == list(spec["keras_config"])
    again = losses.deserialize({"class_name": spec["class_name"], "config": spec["keras_config"]})
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
