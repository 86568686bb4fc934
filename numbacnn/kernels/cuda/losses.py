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
           "squared_error", "absolute_error", "huber", "log_cosh", "kl_divergence", "hinge",
           "categorical_hinge", "categorical_focal_cross_entropy", "binary_focal_cross_entropy"]


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
    launch.at(kernel, blocks, threads)(pred, *args, loss, grad)
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


@cuda.jit(cache=True)
def _huber(y_pred, y_true, scale, delta, loss, grad):
    """y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C); see huber."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        c_ = y_pred.shape[1]
        total = 0.0
        for c in range(c_):
            e = float64(y_pred[r, c]) - float64(y_true[r, c])
            if abs(e) <= delta:
                total += 0.5 * e * e
                d = e
            else:
                total += delta * abs(e) - 0.5 * delta * delta
                d = delta if e > 0 else (-delta if e < 0 else 0.0)
            grad[r, c] = float64(scale[r]) * d / c_
        loss[r] = total / c_


def huber(y_pred, y_true, scale, delta):
    """Huber loss: y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C). With e = y_pred - y_true,
    loss[r] = mean_c (0.5 e^2 if |e| <= delta else delta |e| - 0.5 delta^2);
    grad = scale * (e if |e| <= delta else delta sign(e)) / C.
    """
    return _per_row(_huber, y_pred, y_true, scale, float(delta))


@cuda.jit(device=True)
def _softplus(x):
    """log(1 + exp(x)), without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@cuda.jit(cache=True)
def _log_cosh(y_pred, y_true, scale, loss, grad):
    """y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C); see log_cosh."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        c_ = y_pred.shape[1]
        log2 = math.log(2.0)
        total = 0.0
        for c in range(c_):
            x = float64(y_pred[r, c]) - float64(y_true[r, c])
            total += x + _softplus(-2.0 * x) - log2
            grad[r, c] = float64(scale[r]) * math.tanh(x) / c_
        loss[r] = total / c_


def log_cosh(y_pred, y_true, scale):
    """Log-cosh: y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C). With x = y_pred - y_true,
    loss[r] = mean_c (x + softplus(-2x) - log 2) (= log cosh x, without overflow);
    grad = scale * tanh(x) / C.
    """
    return _per_row(_log_cosh, y_pred, y_true, scale)


@cuda.jit(cache=True)
def _kl_divergence(y_pred, y_true, scale, eps, loss, grad):
    """y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C); see kl_divergence."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        total = 0.0
        for c in range(y_pred.shape[1]):
            p = float64(y_pred[r, c])
            pc = _clip(p, eps, 1.0)
            t = _clip(float64(y_true[r, c]), eps, 1.0)
            total += t * math.log(t / pc)
            grad[r, c] = float64(scale[r]) * (-t / pc) if eps <= p <= 1.0 else 0.0
        loss[r] = total


def kl_divergence(y_pred, y_true, scale, eps):
    """Kullback-Leibler divergence: y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C).

    Both clipped to [eps, 1]; loss[r] = sum_c t log(t / p); grad = scale * (-t / p) where y_pred is
    inside [eps, 1], else 0.
    """
    return _per_row(_kl_divergence, y_pred, y_true, scale, float(eps))


@cuda.jit(cache=True)
def _hinge(y_pred, y_true, scale, squared, loss, grad):
    """y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C); see hinge."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        c_ = y_pred.shape[1]
        total = 0.0
        for c in range(c_):
            t = float64(y_true[r, c])
            m = 1.0 - t * float64(y_pred[r, c])
            h = max(m, 0.0)
            if squared:
                total += h * h
                d = -2.0 * h * t if m >= 0.0 else 0.0
            else:
                total += h
                d = -t if m >= 0.0 else 0.0
            grad[r, c] = float64(scale[r]) * d / c_
        loss[r] = total / c_


def hinge(y_pred, y_true, scale, squared):
    """Hinge and squared hinge: y_pred, y_true (R,C) (labels -1/1), scale (R,) -> loss (R,), grad (R,C).

    h = max(1 - t*p, 0); loss[r] = mean_c h (or h^2 when squared); grad = scale * (-t) / C where
    1 - t*p >= 0 (TensorFlow's maximum passes its gradient to the first argument on a tie), times 2h when
    squared, else 0.
    """
    return _per_row(_hinge, y_pred, y_true, scale, bool(squared))


@cuda.jit(cache=True)
def _categorical_hinge(y_pred, y_true, scale, loss, grad):
    """y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C); see categorical_hinge."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        c_ = y_pred.shape[1]
        pos = 0.0
        neg = -math.inf
        for c in range(c_):
            t = float64(y_true[r, c])
            p = float64(y_pred[r, c])
            pos += t * p
            neg = max(neg, (1.0 - t) * p)
        ties = 0
        for c in range(c_):
            if (1.0 - float64(y_true[r, c])) * float64(y_pred[r, c]) == neg:
                ties += 1
        m = neg - pos + 1.0
        loss[r] = max(m, 0.0)
        for c in range(c_):
            t = float64(y_true[r, c])
            if m >= 0.0:
                at_max = 1.0 / ties if (1.0 - t) * float64(y_pred[r, c]) == neg else 0.0
                grad[r, c] = float64(scale[r]) * ((1.0 - t) * at_max - t)
            else:
                grad[r, c] = 0.0


def categorical_hinge(y_pred, y_true, scale):
    """Categorical hinge: y_pred, y_true (R,C), scale (R,) -> loss (R,), grad (R,C).

    pos = sum_c t*p, neg = max_c (1-t)*p; loss[r] = max(neg - pos + 1, 0); grad = scale * ((1-t) * [c is
    an argmax of neg] / (number of argmaxes) - t) where neg - pos + 1 >= 0, else 0 (ties share the max's
    gradient, as TensorFlow's reduce_max).
    """
    return _per_row(_categorical_hinge, y_pred, y_true, scale)


@cuda.jit(device=True)
def _prob(y_pred, r, c, lse, from_logits):
    """y_pred[r, c], or softmax(y_pred[r])[c] (lse its log-sum-exp) when from_logits."""
    if from_logits:
        return math.exp(float64(y_pred[r, c]) - lse)
    return float64(y_pred[r, c])


@cuda.jit(cache=True)
def _categorical_focal(y_pred, targets, scale, alpha, gamma, eps, from_logits, loss, grad):
    """y_pred, targets (R,C), scale (R,) -> loss (R,), grad (R,C); see categorical_focal_cross_entropy.
    grad[r] holds d loss / d q while the row is computed."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        c_ = y_pred.shape[1]
        hi = 1.0 - eps
        lse = _log_sum_exp(y_pred, r) if from_logits else 0.0
        s = 0.0
        for c in range(c_):
            s += _prob(y_pred, r, c, lse, from_logits)
        total = 0.0
        dot = 0.0
        for c in range(c_):
            q = _prob(y_pred, r, c, lse, from_logits) / s
            qc = _clip(q, eps, hi)
            t = float64(targets[r, c])
            cce = -t * math.log(qc)
            modulating = (1.0 - qc) ** gamma
            total += alpha * modulating * cce
            if eps <= q <= hi:
                d_mod = -gamma * (1.0 - qc) ** (gamma - 1.0) if gamma != 0.0 else 0.0
                dq = alpha * (d_mod * cce + modulating * (-t / qc))
            else:
                dq = 0.0
            dot += dq * q
            grad[r, c] = dq
        loss[r] = total
        inner = 0.0
        if from_logits:
            for c in range(c_):
                inner += (float64(grad[r, c]) - dot) / s * _prob(y_pred, r, c, lse, from_logits)
        for c in range(c_):
            dy = (float64(grad[r, c]) - dot) / s
            if from_logits:
                grad[r, c] = float64(scale[r]) * _prob(y_pred, r, c, lse, from_logits) * (dy - inner)
            else:
                grad[r, c] = float64(scale[r]) * dy


def categorical_focal_cross_entropy(y_pred, targets, scale, alpha, gamma, eps, from_logits):
    """Keras's categorical focal crossentropy: y_pred (R,C) probabilities (or logits when from_logits, first
    put through a softmax), targets (R,C), scale (R,) -> loss (R,), grad (R,C) w.r.t. y_pred.

    q = y / sum(y) clipped to [eps, 1-eps]; loss[r] = sum_c alpha (1-q)^gamma (-t log q); the gradient goes
    back through the clip (zero where clipped), the renormalisation and, with logits, the softmax.
    """
    return _per_row(_categorical_focal, y_pred, targets, scale, float(alpha), float(gamma), float(eps),
                    bool(from_logits))


@cuda.jit(cache=True)
def _binary_focal(y_pred, targets, scale, alpha, gamma, apply_class_balancing, eps, from_logits, loss, grad):
    """y_pred, targets (R,C), scale (R,) -> loss (R,), grad (R,C); see binary_focal_cross_entropy."""
    r = cuda.grid(1)
    if r < y_pred.shape[0]:
        c_ = y_pred.shape[1]
        hi = 1.0 - eps
        total = 0.0
        for c in range(c_):
            z = float64(y_pred[r, c])
            if from_logits:
                e = math.exp(-abs(z))
                y = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
            else:
                y = z
            t = float64(targets[r, c])
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
            grad[r, c] = float64(scale[r]) * d / c_
        loss[r] = total / c_


def binary_focal_cross_entropy(y_pred, targets, scale, alpha, gamma, apply_class_balancing, eps, from_logits):
    """Keras's binary focal crossentropy: y_pred (R,C) probabilities (or logits when from_logits, first put
    through a sigmoid), targets (R,C), scale (R,) -> loss (R,), grad (R,C) w.r.t. y_pred.

    bce = -(t log pc + (1-t) log(1-pc)) with pc = y clipped to [eps, 1-eps]; p_t = t y + (1-t)(1-y);
    loss[r] = mean_c w (1-p_t)^gamma bce, w = t alpha + (1-t)(1-alpha) with apply_class_balancing, else 1.
    """
    return _per_row(_binary_focal, y_pred, targets, scale, float(alpha), float(gamma),
                    bool(apply_class_balancing), float(eps), bool(from_logits))
