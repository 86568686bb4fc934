"""CUDA loss kernels against their CPU twins: per-row loss and scaled gradient, clipping and NaN included."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import losses as C
from numbacnn.kernels.cuda import losses as G

EPS = 1e-7
SHAPES = [(6, 4), (3, 1), (1, 7)]
DTYPES = [np.float32, np.float64]


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


def tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def inputs(shape, dtype, kind):
    """Prediction, dense targets, int64 labels and row scales; probabilities include a 0 and a 1 (clipped)."""
    rng = np.random.default_rng(0)
    if kind == "logits":
        pred = rng.normal(0.0, 3.0, shape)
    else:
        pred = rng.uniform(0.05, 1.0, shape)
        pred[0, 0] = 1.0
        pred[-1, -1] = 0.0 if shape[1] > 1 else 0.5  # a row of one zero would be 0 / 0
    targets = rng.uniform(0.0, 1.0, shape)
    labels = rng.integers(0, shape[1], shape[0]).astype(np.int64)
    scale = rng.uniform(0.1, 1.0, shape[0])
    return pred.astype(dtype), targets.astype(dtype), labels, scale.astype(dtype)


def check(name, args, dtype, dev):
    """Run the CPU and the CUDA kernel ``name`` on the same host ``args``; compare loss and grad."""
    loss_cpu, grad_cpu = getattr(C, name)(*args)
    loss, grad = getattr(G, name)(*(dev(a) if isinstance(a, np.ndarray) else a for a in args))
    assert loss.dtype == dtype and grad.dtype == dtype and loss.shape == loss_cpu.shape
    np.testing.assert_allclose(loss.copy_to_host(), loss_cpu, **tol(dtype))
    np.testing.assert_allclose(grad.copy_to_host(), grad_cpu, **tol(dtype))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kind, sparse, eps", [
    ("softmax_cross_entropy", "logits", False, None),
    ("sparse_softmax_cross_entropy", "logits", True, None),
    ("probs_cross_entropy", "probs", False, EPS),
    ("sparse_probs_cross_entropy", "probs", True, EPS),
    ("sigmoid_binary_cross_entropy", "logits", False, None),
    ("probs_binary_cross_entropy", "probs", False, EPS),
    ("squared_error", "logits", False, None),
    ("absolute_error", "logits", False, None),
])
def test_loss_equals_the_cpu(name, kind, sparse, eps, shape, dtype, dev):
    pred, targets, labels, scale = inputs(shape, dtype, kind)
    args = (pred, labels if sparse else targets, scale) + ((eps,) if eps is not None else ())
    check(name, args, dtype, dev)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator computes with NumPy scalars, which warn
@pytest.mark.parametrize("name, sparse", [("probs_cross_entropy", False),
                                          ("sparse_probs_cross_entropy", True),
                                          ("probs_binary_cross_entropy", False)])
def test_a_nan_probability_gives_a_nan_loss_like_the_cpu(name, sparse, dev):
    pred, targets, labels, scale = inputs((3, 4), np.float64, "probs")
    pred[1, :] = np.nan
    second = labels if sparse else targets
    check(name, (pred, second, scale, EPS), np.float64, dev)
    assert np.isnan(getattr(G, name)(*dev(pred, second, scale), EPS)[0].copy_to_host()[1])


def test_absolute_error_has_a_zero_gradient_where_prediction_equals_target(dev):
    pred, targets, _, scale = inputs((2, 3), np.float32, "logits")
    targets[0, 1] = pred[0, 1]
    check("absolute_error", (pred, targets, scale), np.float32, dev)
    assert G.absolute_error(*dev(pred, targets, scale))[1].copy_to_host()[0, 1] == 0.0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kind, extra", [
    ("huber", "logits", (0.7,)),
    ("log_cosh", "logits", ()),
    ("kl_divergence", "probs", (EPS,)),
    ("hinge", "logits", (False,)),
    ("hinge", "logits", (True,)),
    ("categorical_hinge", "logits", ()),
    ("categorical_focal_cross_entropy", "probs", (0.25, 2.0, EPS, False)),
    ("categorical_focal_cross_entropy", "logits", (0.4, 1.5, EPS, True)),
    ("binary_focal_cross_entropy", "probs", (0.25, 2.0, True, EPS, False)),
    ("binary_focal_cross_entropy", "logits", (0.3, 0.0, False, EPS, True)),
])
def test_issue_21_losses_equal_the_cpu(name, kind, extra, dtype, dev):
    pred, targets, _, scale = inputs((6, 4), dtype, kind)
    if name == "hinge":
        targets = np.where(targets > 0.5, 1.0, -1.0).astype(dtype)
    if name in ("categorical_hinge", "categorical_focal_cross_entropy"):
        targets = np.eye(4, dtype=dtype)[np.arange(6) % 4]
    if name == "binary_focal_cross_entropy":
        targets = (targets > 0.5).astype(dtype)
    check(name, (pred, targets, scale) + extra, dtype, dev)
