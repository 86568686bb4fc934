"""Loss kernels on the GPU: per-row loss values and the scaled gradient w.r.t. the prediction, in one pass.

The twin of ``kernels.cpu.losses``: the prediction is seen as rows (R,C), ``scale`` (R,) weighs each row
in the reduced loss (the reduced loss is ``sum(scale * loss)`` and ``grad`` its gradient), one thread
per row, sums accumulated in float64 and outputs in the prediction's dtype, with the same formulas and
clipping. Array elements are promoted with ``float64(...)`` where Numba would promote them implicitly,
so that the CUDA simulator (which follows NumPy's scalar rules) computes the same.
"""

import math

from numba import cuda, float64

from . import launch

__all__ = ["softmax_cross_entropy", "sparse_softmax_cross_entropy", "probs_cross_entropy",
           "sparse_probs_cross_entropy", "sigmoid_binary_cross_entropy", "probs_binary_cross_entropy",
           "squared_error", "absolute_error"]


@cuda.jit(device=True)
def _clip(v, lo, hi):
    """v clipped to [lo, hi]; NaN stays NaN (so a NaN prediction gives a NaN loss, as in Keras)."""
    if v != v:
        return v
    return min(max(v, lo), hi)


@cuda.jit(device=True)
def _log_sum_exp(z, r):
    """log(sum(exp(z[r]))) of row r of z (R,C), max-subtracted."""
    c_ = z.shape[1]
    m = float64(z[r, 0])
    for c in range(1, c_):
        m = max(m, float64(z[r, c]))
    s = 0.0
    for c in range(c_):
        s += math.exp(float64(z[r, c]) - m)
    return m + math.log(s)


def _per_row(kernel, pred, *args):
    """Launch ``kernel(pred, *args, loss, grad)``, a thread per row of pred (R,C) -> loss (R,), grad (R,C)."""
    loss = launch.empty(pred.shape[0], pred.dtype)
    grad = launch.empty(pred.shape, pred.dtype)
    blocks, threads = launch.grid(pred.shape[0])
    kernel[blocks, threads, launch.stream()](pred, *args, loss, grad)
    return loss, grad


@cuda.jit(cache=True)
def _softmax_cross_entropy(logits, targets, scale, loss, grad):
    """logits, targets (R,C), scale (R,) -> loss (R,), grad (R,C); see softmax_cross_entropy."""
    r = cuda.grid(1)
    if r < logits.shape[0]:
        lse = _log_sum_exp(logits, r)
        total = 0.0
        tsum = 0.0
        for c in range(logits.shape[1]):
            t = float64(targets[r, c])
            tsum += t
            total += t * (lse - float64(logits[r, c]))
        loss[r] = total
        for c in range(logits.shape[1]):
            p = math.exp(float64(logits[r, c]) - lse)
            grad[r, c] = float64(scale[r]) * (p * tsum - float64(targets[r, c]))


def softmax_cross_entropy(logits, targets, scale):
    """Fused softmax + crossentropy: logits (R,C), targets (R,C), scale (R,) -> loss (R,), grad (R,C).

    loss[r] = -sum_c targets[r,c] * log_softmax(logits[r])[c] (exact, no clipping);
    grad[r] = scale[r] * (softmax(logits[r]) * sum(targets[r]) - targets[r]), the gradient w.r.t. the logits.
    """
    return _per_row(_softmax_cross_entropy, logits, targets, scale)


@cuda.jit(cache=True)
def _sparse_softmax_cross_entropy(logits, labels, scale, loss, grad):
    """logits (R,C), labels (R,), scale (R,) -> loss (R,), grad (R,C); see sparse_softmax_cross_entropy."""
    r = cuda.grid(1)
    if r < logits.shape[0]:
        lse = _log_sum_exp(logits, r)
        k = labels[r]
        loss[r] = lse - float64(logits[r, k])
        for c in range(logits.shape[1]):
            p = math.exp(float64(logits[r, c]) - lse)
            grad[r, c] = float64(scale[r]) * (p - 1.0 if c == k else p)


def sparse_softmax_cross_entropy(logits, labels, scale):
    """Fused softmax + crossentropy with integer labels: logits (R,C), labels (R,) int64 in [0,C), scale (R,)
    -> loss (R,) = logsumexp(logits[r]) - logits[r, labels[r]], grad (R,C) = scale * (softmax - one_hot).
    """
    return _per_row(_sparse_softmax_cross_entropy, logits, labels, scale)


@cuda.jit(cache=True)
def _probs_cross_entropy(probs, targets, scale, eps, loss, grad):
    """probs, targets (R,C), scale (R,) -> loss (R,), grad (R,C); see probs_cross_entropy."""
    r = cuda.grid(1)
    if r < probs.shape[0]:
        c_ = probs.shape[1]
        hi = 1.0 - eps
        s = 0.0
        for c in range(c_):
            s += float64(probs[r, c])
        total = 0.0
        dot = 0.0
        for c in range(c_):
            q = float64(probs[r, c]) / s
            qc = _clip(q, eps, hi)
            t = float64(targets[r, c])
            total -= t * math.log(qc)
            dq = -t / qc if eps <= q <= hi else 0.0
            dot += dq * q
            grad[r, c] = dq
        loss[r] = total
        for c in range(c_):
            grad[r, c] = float64(scale[r]) * (float64(grad[r, c]) - dot) / s


def probs_cross_entropy(probs, targets, scale, eps):
    """Keras's categorical crossentropy: probs (R,C), targets (R,C), scale (R,) -> loss (R,), grad (R,C).

    q = probs / sum(probs) per row, clipped to [eps, 1-eps]; loss[r] = -sum targets * log(q).
    grad[r] = scale[r] * d loss[r] / d probs[r] through the renormalisation and the clip (zero where clipped).
    """
    return _per_row(_probs_cross_entropy, probs, targets, scale, float(eps))


@cuda.jit(cache=True)
def _sparse_probs_cross_entropy(probs, labels, scale, eps, loss, grad):
    """probs (R,C), labels (R,), scale (R,) -> loss (R,), grad (R,C); see sparse_probs_cross_entropy."""
    r = cuda.grid(1)
    if r < probs.shape[0]:
        hi = 1.0 - eps
        s = 0.0
        for c in range(probs.shape[1]):
            s += float64(probs[r, c])
        k = labels[r]
        q = float64(probs[r, k]) / s
        qc = _clip(q, eps, hi)
        loss[r] = -math.log(qc)
        dq = -1.0 / qc if eps <= q <= hi else 0.0
        dot = dq * q
        for c in range(probs.shape[1]):
            grad[r, c] = float64(scale[r]) * ((dq if c == k else 0.0) - dot) / s


def sparse_probs_cross_entropy(probs, labels, scale, eps):
    """Keras's sparse categorical crossentropy on probabilities: probs (R,C), labels (R,) int64, scale (R,)
    -> loss (R,) = -log(clip(probs[r,k] / sum(probs[r]), eps, 1-eps)), grad (R,C) w.r.t. probs (scaled).
    """
    return _per_row(_sparse_probs_cross_entropy, probs, labels, scale, float(eps))


@cuda.jit(cache=True)
def _sigmoid_binary_cross_entropy(logits, targets, scale, loss, grad):
    """logits, targets (R,C), scale (R,) -> loss (R,), grad (R,C); see sigmoid_binary_cross_entropy."""
    r = cuda.grid(1)
    if r < logits.shape[0]:
        c_ = logits.shape[1]
        total = 0.0
        for c in range(c_):
            z = float64(logits[r, c])
            t = float64(targets[r, c])
            e = math.exp(-abs(z))
            total += max(z, 0.0) - z * t + math.log1p(e)
            sig = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
            grad[r, c] = float64(scale[r]) * (sig - t) / c_
        loss[r] = total / c_


def sigmoid_binary_cross_entropy(logits, targets, scale):
    """Binary crossentropy on logits: logits (R,C), targets (R,C), scale (R,) -> loss (R,), grad (R,C).

    loss[r] = mean_c (max(z,0) - z*t + log1p(exp(-|z|))) (exact); grad = scale * (sigmoid(z) - t) / C.
    """
    return _per_row(_sigmoid_binary_cross_entropy, logits, targets, scale)


@cuda.jit(cache=True)
def _probs_binary_cross_entropy(probs, targets, scale, eps, loss, grad):
    """probs, targets (R,C), scale (R,) -> loss (R,), grad (R,C); see probs_binary_cross_entropy."""
    r = cuda.grid(1)
    if r < probs.shape[0]:
        c_ = probs.shape[1]
        hi = 1.0 - eps
        total = 0.0
        for c in range(c_):
            p = float64(probs[r, c])
            pc = _clip(p, eps, hi)
            t = float64(targets[r, c])
            total -= t * math.log(pc) + (1.0 - t) * math.log(1.0 - pc)
            d = (-t / pc + (1.0 - t) / (1.0 - pc)) if eps <= p <= hi else 0.0
            grad[r, c] = float64(scale[r]) * d / c_
        loss[r] = total / c_


def probs_binary_cross_entropy(probs, targets, scale, eps):
    """Keras's binary crossentropy on probabilities: probs (R,C), targets (R,C), scale (R,) -> loss, grad.

    p clipped to [eps, 1-eps]; loss[r] = mean_c -(t*log(p) + (1-t)*log(1-p));
    grad = scale * (-t/p + (1-t)/(1-p)) / C where p is inside the clip range, else 0.
    """
    return _per_row(_probs_binary_cross_entropy, probs, targets, scale, float(eps))


@cuda.jit(cache=True)
def _squared_error(y_pred, y_true, scale, loss, grad):
    """y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C); see squared_error."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        c_ = y_pred.shape[1]
        total = 0.0
        for c in range(c_):
            d = float64(y_pred[r, c]) - float64(y_true[r, c])
            total += d * d
            grad[r, c] = float64(scale[r]) * 2.0 * d / c_
        loss[r] = total / c_


def squared_error(y_pred, y_true, scale):
    """Mean squared error: y_pred (R,C), y_true (R,C), scale (R,) -> loss (R,) = mean_c (y_true - y_pred)^2,
    grad (R,C) = scale * 2 (y_pred - y_true) / C.
    """
    return _per_row(_squared_error, y_pred, y_true, scale)


@cuda.jit(cache=True)
def _absolute_error(y_pred, y_true, scale, loss, grad):
    """y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C); see absolute_error."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        c_ = y_pred.shape[1]
        total = 0.0
        for c in range(c_):
            d = float64(y_pred[r, c]) - float64(y_true[r, c])
            total += abs(d)
            sign = 1.0 if d > 0.0 else (-1.0 if d < 0.0 else d)  # np.sign: 0 stays 0, NaN stays NaN
            grad[r, c] = float64(scale[r]) * sign / c_
        loss[r] = total / c_


def absolute_error(y_pred, y_true, scale):
    """Mean absolute error: y_pred (R,C), y_true (R,C), scale (R,) -> loss (R,) = mean_c |y_true - y_pred|,
    grad (R,C) = scale * sign(y_pred - y_true) / C (0 where equal).
    """
    return _per_row(_absolute_error, y_pred, y_true, scale)
