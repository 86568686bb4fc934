"""Loss kernels against NumPy transcriptions of Keras's formulas and against finite differences."""

import numpy as np
import pytest
from gradcheck import numeric_grad

from numbacnn.kernels.cpu import losses as K

EPS = 1e-7
SHAPES = [(1, 2), (4, 3), (6, 10)]
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-12}


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_cce(t, p, from_logits):
    """Keras's categorical crossentropy per row (numpy backend formula)."""
    if from_logits:
        log_prob = log_softmax(p)
    else:
        q = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
        log_prob = np.log(q)
    return -np.sum(t * log_prob, axis=-1)


def np_bce(t, p, from_logits):
    if from_logits:
        sig = 1 / (1 + np.exp(-p))
        per = -(t * np.log(sig) + (1 - t) * np.log(1 - sig))
    else:
        pc = np.clip(p, EPS, 1 - EPS)
        per = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
    return per.mean(axis=-1)


def data(shape, dtype, seed=0, kind="probs"):
    rng = np.random.default_rng(seed)
    if kind == "probs":
        x = rng.uniform(0.05, 1.0, shape)
    else:
        x = rng.normal(0, 2.0, shape)
    return x.astype(dtype)


def soft_targets(shape, seed=1):
    t = np.random.default_rng(seed).uniform(0, 1, shape)
    return t / t.sum(axis=-1, keepdims=True)


def scales(rows, seed=2):
    return np.random.default_rng(seed).uniform(0.1, 1.0, rows)


def fd_rows(ref, t, x, scale):
    """Finite-difference gradient of sum(scale * ref(t, x)) w.r.t. x (float64)."""
    x = x.astype(np.float64).copy()
    return numeric_grad(lambda: float(np.sum(scale * ref(t, x))), x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy(shape, dtype):
    z, t = data(shape, dtype, kind="logits"), soft_targets(shape).astype(dtype)
    s = scales(shape[0]).astype(dtype)
    loss, grad = K.softmax_cross_entropy(z, t, s)
    assert loss.dtype == dtype and grad.dtype == dtype
    zz, tt = z.astype(np.float64), t.astype(np.float64)
    np.testing.assert_allclose(loss, np_cce(tt, zz, True), **tol(dtype))
    sm = np.exp(log_softmax(zz))
    expected = s[:, None] * (sm * tt.sum(-1, keepdims=True) - tt)
    np.testing.assert_allclose(grad, expected, **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_allclose(grad, fd_rows(lambda a, b: np_cce(a, b, True), tt, zz, s),
                                   rtol=1e-6, atol=1e-8)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0]])
    t = np.eye(3)[[2, 1]]
    loss, grad = K.softmax_cross_entropy(z, t, np.ones(2))
    np.testing.assert_allclose(loss, [2000.0, 0.0])
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[1, 0, -1], [0, 0, 0]], atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_softmax_cross_entropy(shape, dtype):
    z, s = data(shape, dtype, kind="logits"), scales(shape[0]).astype(dtype)
    labels = np.random.default_rng(3).integers(0, shape[1], shape[0]).astype(np.int64)
    loss, grad = K.sparse_softmax_cross_entropy(z, labels, s)
    onehot = np.eye(shape[1])[labels]
    zz = z.astype(np.float64)
    np.testing.assert_allclose(loss, np_cce(onehot, zz, True), **tol(dtype))
    np.testing.assert_allclose(grad, s[:, None] * (np.exp(log_softmax(zz)) - onehot), **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_allclose(grad, fd_rows(lambda a, b: np_cce(a, b, True), onehot, zz, s),
                                   rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_probs_cross_entropy(shape, dtype):
    p, t, s = data(shape, dtype), soft_targets(shape).astype(dtype), scales(shape[0]).astype(dtype)
    loss, grad = K.probs_cross_entropy(p, t, s, EPS)
    pp, tt = p.astype(np.float64), t.astype(np.float64)
    np.testing.assert_allclose(loss, np_cce(tt, pp, False), **tol(dtype))
    ssum = pp.sum(-1, keepdims=True)
    q = pp / ssum
    dq = -tt / q
    expected = s[:, None] * (dq - np.sum(dq * q, -1, keepdims=True)) / ssum
    np.testing.assert_allclose(grad, expected, **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_allclose(grad, fd_rows(lambda a, b: np_cce(a, b, False), tt, pp, s),
                                   rtol=1e-6, atol=1e-8)


def test_probs_cross_entropy_clips_and_stops_the_gradient_there():
    p = np.array([[1.0, 0.0, 0.0]])
    t = np.array([[0.0, 1.0, 0.0]])
    loss, grad = K.probs_cross_entropy(p, t, np.ones(1), EPS)
    np.testing.assert_allclose(loss, [-np.log(EPS)])
    np.testing.assert_array_equal(grad, np.zeros((1, 3)))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_probs_cross_entropy(shape, dtype):
    p, s = data(shape, dtype), scales(shape[0]).astype(dtype)
    labels = np.random.default_rng(4).integers(0, shape[1], shape[0]).astype(np.int64)
    loss, grad = K.sparse_probs_cross_entropy(p, labels, s, EPS)
    onehot = np.eye(shape[1])[labels]
    pp = p.astype(np.float64)
    np.testing.assert_allclose(loss, np_cce(onehot, pp, False), **tol(dtype))
    ref_loss, ref_grad = K.probs_cross_entropy(pp, onehot, s.astype(np.float64), EPS)
    np.testing.assert_allclose(grad, ref_grad, **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_allclose(grad, fd_rows(lambda a, b: np_cce(a, b, False), onehot, pp, s),
                                   rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape", SHAPES + [(5, 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_binary_cross_entropy(shape, dtype):
    z, s = data(shape, dtype, kind="logits"), scales(shape[0]).astype(dtype)
    t = np.random.default_rng(5).integers(0, 2, shape).astype(dtype)
    loss, grad = K.sigmoid_binary_cross_entropy(z, t, s)
    zz, tt = z.astype(np.float64), t.astype(np.float64)
    np.testing.assert_allclose(loss, np_bce(tt, zz, True), **tol(dtype))
    np.testing.assert_allclose(grad, s[:, None] * (1 / (1 + np.exp(-zz)) - tt) / shape[1], **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_allclose(grad, fd_rows(lambda a, b: np_bce(a, b, True), tt, zz, s),
                                   rtol=1e-6, atol=1e-8)


def test_sigmoid_binary_cross_entropy_is_stable_for_huge_logits():
    z, t = np.array([[800.0, -800.0]]), np.array([[0.0, 0.0]])
    loss, grad = K.sigmoid_binary_cross_entropy(z, t, np.ones(1))
    np.testing.assert_allclose(loss, [400.0])
    np.testing.assert_allclose(grad, [[0.5, 0.0]])


@pytest.mark.parametrize("shape", SHAPES + [(5, 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_probs_binary_cross_entropy(shape, dtype):
    rng = np.random.default_rng(6)
    p = rng.uniform(0.02, 0.98, shape).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    s = scales(shape[0]).astype(dtype)
    loss, grad = K.probs_binary_cross_entropy(p, t, s, EPS)
    pp, tt = p.astype(np.float64), t.astype(np.float64)
    np.testing.assert_allclose(loss, np_bce(tt, pp, False), **tol(dtype))
    np.testing.assert_allclose(grad, s[:, None] * (-tt / pp + (1 - tt) / (1 - pp)) / shape[1], **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_allclose(grad, fd_rows(lambda a, b: np_bce(a, b, False), tt, pp, s),
                                   rtol=1e-6, atol=1e-8)


def test_probs_binary_cross_entropy_clips():
    loss, grad = K.probs_binary_cross_entropy(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]), np.ones(1), EPS)
    np.testing.assert_allclose(loss, [-(np.log(EPS) + np.log(1 - EPS)) / 2])
    np.testing.assert_array_equal(grad, [[0.0, 0.0]])


@pytest.mark.parametrize("shape", SHAPES + [(5, 1)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["squared", "absolute"])
def test_regression_errors(shape, dtype, kind):
    rng = np.random.default_rng(7)
    p = rng.normal(size=shape).astype(dtype)
    t = rng.normal(size=shape).astype(dtype)
    s = scales(shape[0]).astype(dtype)
    kernel = K.squared_error if kind == "squared" else K.absolute_error
    loss, grad = kernel(p, t, s)
    pp, tt = p.astype(np.float64), t.astype(np.float64)
    if kind == "squared":
        def ref(a, b):
            return np.mean((a - b) ** 2, axis=-1)
        expected = s[:, None] * 2 * (pp - tt) / shape[1]
    else:
        def ref(a, b):
            return np.mean(np.abs(a - b), axis=-1)
        expected = s[:, None] * np.sign(pp - tt) / shape[1]
    np.testing.assert_allclose(loss, ref(tt, pp), **tol(dtype))
    np.testing.assert_allclose(grad, expected, **tol(dtype))
    if dtype == np.float64:
        np.testing.assert_allclose(grad, fd_rows(ref, tt, pp, s), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kernel", ["probs_cross_entropy", "probs_binary_cross_entropy"])
def test_nan_predictions_give_a_nan_loss(kernel):
    from numbacnn.kernels.cpu import losses as kl

    probs = np.array([[0.2, np.nan, 0.8]], dtype=np.float32)
    targets = np.array([[0.0, 1.0, 0.0]], dtype=np.float32)
    loss, _ = getattr(kl, kernel)(probs, targets, np.ones(1, np.float32), 1e-7)
    assert np.isnan(loss[0])


def test_nan_prediction_gives_a_nan_sparse_loss():
    from numbacnn.kernels.cpu import losses as kl

    probs = np.array([[0.2, np.nan, 0.8]], dtype=np.float32)
    loss, _ = kl.sparse_probs_cross_entropy(probs, np.array([0]), np.ones(1, np.float32), 1e-7)
    assert np.isnan(loss[0])
