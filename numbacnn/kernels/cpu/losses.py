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
           "squared_error", "absolute_error", "huber", "log_cosh", "kl_divergence", "hinge",
           "categorical_hinge", "categorical_focal_cross_entropy", "binary_focal_cross_entropy"]


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


@njit(parallel=True, cache=True, nogil=True)
def huber(y_pred, y_true, scale, delta):
    """Huber loss: y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C). With e = y_pred - y_true,
    loss[r] = mean_c (0.5 e^2 if |e| <= delta else delta |e| - 0.5 delta^2);
    grad = scale * (e if |e| <= delta else delta sign(e)) / C.
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            e = np.float64(y_pred[r, c]) - np.float64(y_true[r, c])
            if abs(e) <= delta:
                total += 0.5 * e * e
                d = e
            else:
                total += delta * abs(e) - 0.5 * delta * delta
                d = delta * np.sign(e)
            grad[r, c] = scale[r] * d / c_
        loss[r] = total / c_
    return loss, grad


@njit(cache=True, nogil=True)
def _softplus(x):
    """log(1 + exp(x)), without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(parallel=True, cache=True, nogil=True)
def log_cosh(y_pred, y_true, scale):
    """Log-cosh: y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C). With x = y_pred - y_true,
    loss[r] = mean_c (x + softplus(-2x) - log 2) (= log cosh x, without overflow);
    grad = scale * tanh(x) / C.
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    log2 = math.log(2.0)
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            x = np.float64(y_pred[r, c]) - np.float64(y_true[r, c])
            total += x + _softplus(-2.0 * x) - log2
            grad[r, c] = scale[r] * math.tanh(x) / c_
        loss[r] = total / c_
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def kl_divergence(y_pred, y_true, scale, eps):
    """Kullback-Leibler divergence: y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C).

    Both clipped to [eps, 1]; loss[r] = sum_c t log(t / p); grad = scale * (-t / p) where y_pred is
    inside [eps, 1], else 0.
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            p = np.float64(y_pred[r, c])
            pc = _clip(p, eps, 1.0)
            t = _clip(np.float64(y_true[r, c]), eps, 1.0)
            total += t * math.log(t / pc)
            grad[r, c] = scale[r] * (-t / pc) if eps <= p <= 1.0 else 0.0
        loss[r] = total
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def hinge(y_pred, y_true, scale, squared):
    """Hinge and squared hinge: y_pred, y_true (R,C) (labels -1/1), scale (R,) -> loss (R,), grad (R,C).

    h = max(1 - t*p, 0); loss[r] = mean_c h (or h^2 when squared); grad = scale * (-t) / C where
    1 - t*p >= 0 (TensorFlow's maximum passes its gradient to the first argument on a tie), times 2h when
    squared, else 0.
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            t = np.float64(y_true[r, c])
            m = 1.0 - t * np.float64(y_pred[r, c])
            h = max(m, 0.0)
            if squared:
                total += h * h
                d = -2.0 * h * t if m >= 0.0 else 0.0
            else:
                total += h
                d = -t if m >= 0.0 else 0.0
            grad[r, c] = scale[r] * d / c_
        loss[r] = total / c_
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def categorical_hinge(y_pred, y_true, scale):
    """Categorical hinge: y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C).

    pos = sum_c t*p, neg = max_c (1-t)*p; loss[r] = max(neg - pos + 1, 0); grad = scale * ((1-t) * [c is
    an argmax of neg] / (number of argmaxes) - t) where neg - pos + 1 >= 0, else 0 (ties share the max's
    gradient, as TensorFlow's reduce_max).
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    for r in prange(r_):
        pos = 0.0
        neg = -np.inf
        for c in range(c_):
            t = np.float64(y_true[r, c])
            p = np.float64(y_pred[r, c])
            pos += t * p
            neg = max(neg, (1.0 - t) * p)
        ties = 0
        for c in range(c_):
            if (1.0 - np.float64(y_true[r, c])) * np.float64(y_pred[r, c]) == neg:
                ties += 1
        m = neg - pos + 1.0
        loss[r] = max(m, 0.0)
        for c in range(c_):
            t = np.float64(y_true[r, c])
            if m >= 0.0:
                at_max = 1.0 / ties if (1.0 - t) * np.float64(y_pred[r, c]) == neg else 0.0
                grad[r, c] = scale[r] * ((1.0 - t) * at_max - t)
            else:
                grad[r, c] = 0.0
    return loss, grad


@njit(cache=True, nogil=True)
def _softmax_row(z, r, out):
    """out (C,) = softmax(z[r]) in float64."""
    lse = _log_sum_exp(z, r)
    for c in range(z.shape[1]):
        out[c] = math.exp(np.float64(z[r, c]) - lse)


@njit(parallel=True, cache=True, nogil=True)
def categorical_focal_cross_entropy(y_pred, targets, scale, alpha, gamma, eps, from_logits):
    """Keras's categorical focal crossentropy: y_pred (R,C) probabilities (or logits when from_logits, first
    put through a softmax), targets (R,C), scale (R,) -> loss (R,), grad (R,C) w.r.t. y_pred.

    q = y / sum(y) clipped to [eps, 1-eps]; loss[r] = sum_c alpha (1-q)^gamma (-t log q); the gradient goes
    back through the clip (zero where clipped), the renormalisation and, with logits, the softmax.
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    hi = 1.0 - eps
    for r in prange(r_):
        y = np.empty(c_)
        dy = np.empty(c_)
        if from_logits:
            _softmax_row(y_pred, r, y)
        else:
            for c in range(c_):
                y[c] = y_pred[r, c]
        s = 0.0
        for c in range(c_):
            s += y[c]
        total = 0.0
        dot = 0.0
        for c in range(c_):
            q = y[c] / s
            qc = _clip(q, eps, hi)
            t = np.float64(targets[r, c])
            cce = -t * math.log(qc)
            modulating = (1.0 - qc) ** gamma
            total += alpha * modulating * cce
            if eps <= q <= hi:
                d_mod = -gamma * (1.0 - qc) ** (gamma - 1.0) if gamma != 0.0 else 0.0
                dq = alpha * (d_mod * cce + modulating * (-t / qc))
            else:
                dq = 0.0
            dot += dq * q
            dy[c] = dq
        loss[r] = total
        for c in range(c_):
            dy[c] = (dy[c] - dot) / s
        if from_logits:
            inner = 0.0
            for c in range(c_):
                inner += dy[c] * y[c]
            for c in range(c_):
                grad[r, c] = scale[r] * y[c] * (dy[c] - inner)
        else:
            for c in range(c_):
                grad[r, c] = scale[r] * dy[c]
    return loss, grad


@njit(parallel=True, cache=True, nogil=True)
def binary_focal_cross_entropy(y_pred, targets, scale, alpha, gamma, apply_class_balancing, eps, from_logits):
    """Keras's binary focal crossentropy: y_pred (R,C) probabilities (or logits when from_logits, first put
    through a sigmoid), targets (R,C), scale (R,) -> loss (R,), grad (R,C) w.r.t. y_pred.

    bce = -(t log pc + (1-t) log(1-pc)) with pc = y clipped to [eps, 1-eps]; p_t = t y + (1-t)(1-y);
    loss[r] = mean_c w (1-p_t)^gamma bce, w = t alpha + (1-t)(1-alpha) with apply_class_balancing, else 1.
    """
    r_, c_ = y_pred.shape
    loss = np.empty(r_, dtype=y_pred.dtype)
    grad = np.empty_like(y_pred)
    hi = 1.0 - eps
    for r in prange(r_):
        total = 0.0
        for c in range(c_):
            z = np.float64(y_pred[r, c])
            if from_logits:
                e = math.exp(-abs(z))
                y = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
            else:
                y = z
            t = np.float64(targets[r, c])
            pc = _clip(y, eps, hi)
            bce = -(t * math.log(pc) + (1.0 - t) * math.log(1.0 - pc))
            one_minus_pt = 1.0 - (t * y + (1.0 - t) * (1.0 - y))
            focal = one_minus_pt ** gamma
            weight = t * alpha + (1.0 - t) * (1.0 - alpha) if apply_class_balancing else 1.0
            total += weight * focal * bce
            d_bce = (-t / pc + (1.0 - t) / (1.0 - pc)) if eps <= y <= hi else 0.0
            d_focal = -gamma * one_minus_pt ** (gamma - 1.0) * (2.0 * t - 1.0) if gamma != 0.0 else 0.0
            d = weight * (d_focal * bce + focal * d_bce)
            if from_logits:
                d *= y * (1.0 - y)
            grad[r, c] = scale[r] * d / c_
        loss[r] = total / c_
    return loss, grad
