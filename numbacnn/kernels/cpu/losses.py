"""Loss kernels: per-row loss values and the scaled gradient w.r.t. the prediction, in one pass.

Every kernel sees the prediction as rows (R,C): C is the last axis (classes or features) and R the
product of all leading axes. ``scale`` (R,) is the weight of each row in the reduced loss (e.g. 1/R
for Keras's "sum_over_batch_size"), so the reduced loss is ``sum(scale * loss)`` and ``grad`` is its
gradient. Sums are accumulated in float64; outputs have the prediction's dtype.
"""

import math

import numpy as np
from numba import njit, prange

__all__ = ["softmax_cross_entropy", "sparse_softmax_cross_entropy", "probs_cross_entropy",
           "sparse_probs_cross_entropy", "sigmoid_binary_cross_entropy", "probs_binary_cross_entropy",
           "squared_error", "absolute_error"]


@njit(cache=True, nogil=True)
def _clip(v, lo, hi):
    """v clipped to [lo, hi]; NaN stays NaN (so a NaN prediction gives a NaN loss, as in Keras)."""
    if v != v:
        return v
    return min(max(v, lo), hi)


@njit(cache=True, nogil=True)
def _log_sum_exp(z, r):
    """log(sum(exp(z[r]))) of row r of z (R,C), max-subtracted."""
    c_ = z.shape[1]
    m = np.float64(z[r, 0])
    for c in range(1, c_):
        m = max(m, np.float64(z[r, c]))
    s = 0.0
    for c in range(c_):
        s += math.exp(np.float64(z[r, c]) - m)
    return m + math.log(s)


@njit(parallel=True, cache=True, nogil=True)
def softmax_cross_entropy(logits, targets, scale):
    """Fused softmax + crossentropy: logits (R,C), targets (R,C), scale (R,) -> loss (R,), grad (R,C).

    loss[r] = -sum_c targets[r,c] * log_softmax(logits[r])[c] (exact, no clipping);
    grad[r] = scale[r] * (softmax(logits[r]) * sum(targets[r]) - targets[r]), the gradient w.r.t. the logits.
    """
    r_, c_ = logits.shape
    loss = np.empty(r_, dtype=logits.dtype)
    grad = np.empty_like(logits)
    for r in prange(r_):
        lse = _log_sum_exp(logits, r)
        total = 0.0
        tsum = 0.0
        for c in range(c_):
            t = np.float64(targets[r, c])
            tsum += t
            total += t * (lse - logits[r, c])
        loss[r] = total
        for c in range(c_):
            grad[r, c] = scale[r] * (math.exp(np.float64(logits[r, c]) - lse) * tsum - targets[r, c])
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def sparse_softmax_cross_entropy(logits, labels, scale):
    """Fused softmax + crossentropy with integer labels: logits (R,C), labels (R,) int64 in [0,C), scale (R,)
    -> loss (R,) = logsumexp(logits[r]) - logits[r, labels[r]], grad (R,C) = scale * (softmax - one_hot).
    """
    r_, c_ = logits.shape
    loss = np.empty(r_, dtype=logits.dtype)
    grad = np.empty_like(logits)
    for r in prange(r_):
        lse = _log_sum_exp(logits, r)
        k = labels[r]
        loss[r] = lse - logits[r, k]
        for c in range(c_):
            p = math.exp(np.float64(logits[r, c]) - lse)
            grad[r, c] = scale[r] * (p - 1.0 if c == k else p)
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def probs_cross_entropy(probs, targets, scale, eps):
    """Keras's categorical crossentropy: probs (R,C), targets (R,C), scale (R,) -> loss (R,), grad (R,C).

    q = probs / sum(probs) per row, clipped to [eps, 1-eps]; loss[r] = -sum targets * log(q).
    grad[r] = scale[r] * d loss[r] / d probs[r] through the renormalisation and the clip (zero where clipped).
    """
    r_, c_ = probs.shape
    loss = np.empty(r_, dtype=probs.dtype)
    grad = np.empty_like(probs)
    hi = 1.0 - eps
    for r in prange(r_):
        s = 0.0
        for c in range(c_):
            s += probs[r, c]
        total = 0.0
        dot = 0.0
        for c in range(c_):
            q = probs[r, c] / s
            qc = _clip(q, eps, hi)
            t = np.float64(targets[r, c])
            total -= t * math.log(qc)
            dq = -t / qc if eps <= q <= hi else 0.0
            dot += dq * q
            grad[r, c] = dq
        loss[r] = total
        for c in range(c_):
            grad[r, c] = scale[r] * (grad[r, c] - dot) / s
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def sparse_probs_cross_entropy(probs, labels, scale, eps):
    """Keras's sparse categorical crossentropy on probabilities: probs (R,C), labels (R,) int64, scale (R,)
    -> loss (R,) = -log(clip(probs[r,k] / sum(probs[r]), eps, 1-eps)), grad (R,C) w.r.t. probs (scaled).
    """
    r_, c_ = probs.shape
    loss = np.empty(r_, dtype=probs.dtype)
    grad = np.empty_like(probs)
    hi = 1.0 - eps
    for r in prange(r_):
        s = 0.0
        for c in range(c_):
            s += probs[r, c]
        k = labels[r]
        q = probs[r, k] / s
        qc = _clip(q, eps, hi)
        loss[r] = -math.log(qc)
        dq = -1.0 / qc if eps <= q <= hi else 0.0
        dot = dq * q
        for c in range(c_):
            grad[r, c] = scale[r] * ((dq if c == k else 0.0) - dot) / s
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def sigmoid_binary_cross_entropy(logits, targets, scale):
    """Binary crossentropy on logits: logits (R,C), targets (R,C), scale (R,) -> loss (R,), grad (R,C).

    loss[r] = mean_c (max(z,0) - z*t + log1p(exp(-|z|))) (exact); grad = scale * (sigmoid(z) - t) / C.
    """
    r_, c_ = logits.shape
    loss = np.empty(r_, dtype=logits.dtype)
    grad = np.empty_like(logits)
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            z = np.float64(logits[r, c])
            t = np.float64(targets[r, c])
            e = math.exp(-abs(z))
            total += max(z, 0.0) - z * t + math.log1p(e)
            sig = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
            grad[r, c] = scale[r] * (sig - t) / c_
        loss[r] = total / c_
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def probs_binary_cross_entropy(probs, targets, scale, eps):
    """Keras's binary crossentropy on probabilities: probs (R,C), targets (R,C), scale (R,) -> loss, grad.

    p clipped to [eps, 1-eps]; loss[r] = mean_c -(t*log(p) + (1-t)*log(1-p));
    grad = scale * (-t/p + (1-t)/(1-p)) / C where p is inside the clip range, else 0.
    """
    r_, c_ = probs.shape
    loss = np.empty(r_, dtype=probs.dtype)
    grad = np.empty_like(probs)
    hi = 1.0 - eps
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            p = np.float64(probs[r, c])
            pc = _clip(p, eps, hi)
            t = np.float64(targets[r, c])
            total -= t * math.log(pc) + (1.0 - t) * math.log(1.0 - pc)
            d = (-t / pc + (1.0 - t) / (1.0 - pc)) if eps <= p <= hi else 0.0
            grad[r, c] = scale[r] * d / c_
        loss[r] = total / c_
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def squared_error(y_pred, y_true, scale):
    """Mean squared error: y_pred (R,C), y_true (R,C), scale (R,) -> loss (R,) = mean_c (y_true - y_pred)^2,
    grad (R,C) = scale * 2 (y_pred - y_true) / C.
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            d = np.float64(y_pred[r, c]) - np.float64(y_true[r, c])
            total += d * d
            grad[r, c] = scale[r] * 2.0 * d / c_
        loss[r] = total / c_
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def absolute_error(y_pred, y_true, scale):
    """Mean absolute error: y_pred (R,C), y_true (R,C), scale (R,) -> loss (R,) = mean_c |y_true - y_pred|,
    grad (R,C) = scale * sign(y_pred - y_true) / C (0 where equal).
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            d = np.float64(y_pred[r, c]) - np.float64(y_true[r, c])
            total += abs(d)
            grad[r, c] = scale[r] * np.sign(d) / c_
        loss[r] = total / c_
    return loss, grad
