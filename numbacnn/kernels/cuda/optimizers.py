"""Optimizer update kernels on the GPU: Keras 3's update rules, elementwise and in place.

The twin of ``kernels.cpu.optimizers``: every array is a weight, its gradient or one of its slot arrays
(C-contiguous, one dtype, updated through a flat view), the scalar hyper-parameters come already cast to
that dtype (NumPy scalars), and each element is updated by one thread with the CPU's formulas in the
CPU's order, so float32 weights are updated in float32 arithmetic. Every wrapper returns None.

The floating hyper-parameters reach the kernels in one small device array ``h`` of the weights' dtype
(copied over at each call), not as scalar arguments: the learning rate, Adam's bias corrections and the
like change at every step, and a step replayed from a CUDA graph (``kernels.cuda.graph``) must read the
new values from memory, where scalar arguments would stay those of the recorded step. Flags that do not
change (nesterov, centered) stay arguments.
"""

import math

import numpy as np
from numba import cuda

from . import arrays, launch

__all__ = ["sgd_update", "sgd_momentum_update", "adam_update", "amsgrad_update", "rmsprop_update",
           "adagrad_update", "nadam_update", "adamax_update", "lion_update", "ema_update",
           "accumulated_mean"]


_last_hyper = [None, None, None]  # (values, the step they were copied in, their device array)


def _hyper(values, dtype):
    """``values`` as a device array of ``dtype``. The array of the previous call is reused when the values
    are the same (Adam's are the same for every weight of a step): one copy a step instead of one per
    weight. Nothing writes into it; under a memory plan it is the plan's buffer, so then it is reused
    within its step only."""
    host = np.array(values, dtype=dtype)
    plan = launch._plan
    step = None if plan is None else (id(plan), plan.steps)
    key = (host.dtype.str, host.tobytes())
    if _last_hyper[0] == key and _last_hyper[1] == step:
        return _last_hyper[2]
    h = launch.upload(host)
    _last_hyper[:] = (key, step, h)
    return h


def _launch(kernel, arrays, hyper, *flags):
    """Run ``kernel(*flat arrays, h, *flags)`` with one thread per element of ``arrays[0]``, ``h`` the
    device array of the ``hyper`` values in the weights' dtype."""
    h = _hyper(hyper, arrays[0].dtype)
    blocks, threads = launch.grid(arrays[0].size)
    launch.at(kernel, blocks, threads)(*(a.reshape(-1) for a in arrays), h, *flags)


@cuda.jit(cache=True)
def _sgd(w, g, h):
    i = cuda.grid(1)
    if i < w.shape[0]:
        w[i] -= g[i] * h[0]


def sgd_update(w, g, lr):
    """w (P,), g (P,): w -= lr * g."""
    _launch(_sgd, (w, g), (lr,))


@cuda.jit(cache=True)
def _sgd_momentum(w, g, m, h, nesterov):
    i = cuda.grid(1)
    if i < w.shape[0]:
        lr, momentum = h[0], h[1]
        m[i] = m[i] * momentum - g[i] * lr
        if nesterov:
            w[i] += m[i] * momentum - g[i] * lr
        else:
            w[i] += m[i]


def sgd_momentum_update(w, g, m, lr, momentum, nesterov):
    """w, g, m (P,): m = momentum*m - lr*g; then w += m, or w += momentum*m - lr*g when nesterov."""
    _launch(_sgd_momentum, (w, g, m), (lr, momentum), bool(nesterov))


@cuda.jit(cache=True)
def _adam(w, g, m, v, h):
    i = cuda.grid(1)
    if i < w.shape[0]:
        alpha, one_minus_beta_1, one_minus_beta_2, epsilon = h[0], h[1], h[2], h[3]
        m[i] += (g[i] - m[i]) * one_minus_beta_1
        v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2
        w[i] -= (m[i] * alpha) / (math.sqrt(v[i]) + epsilon)


def adam_update(w, g, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    """w, g, m, v (P,): m += (g-m)(1-b1); v += (g^2-v)(1-b2); w -= alpha*m / (sqrt(v)+eps).

    alpha = lr * sqrt(1 - b2^t) / (1 - b1^t) with t the 1-based step.
    """
    _launch(_adam, (w, g, m, v), (alpha, one_minus_beta_1, one_minus_beta_2, epsilon))


@cuda.jit(cache=True)
def _amsgrad(w, g, m, v, v_hat, h):
    i = cuda.grid(1)
    if i < w.shape[0]:
        alpha, one_minus_beta_1, one_minus_beta_2, epsilon = h[0], h[1], h[2], h[3]
        m[i] += (g[i] - m[i]) * one_minus_beta_1
        v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2
        v_hat[i] = max(v_hat[i], v[i])
        w[i] -= (m[i] * alpha) / (math.sqrt(v_hat[i]) + epsilon)


def amsgrad_update(w, g, m, v, v_hat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    """Adam with amsgrad, w, g, m, v, v_hat (P,): as adam_update with v_hat = max(v_hat, v) in v's place."""
    _launch(_amsgrad, (w, g, m, v, v_hat), (alpha, one_minus_beta_1, one_minus_beta_2, epsilon))


@cuda.jit(cache=True)
def _rmsprop(w, g, velocity, momentum_slot, average_grad, h, centered, use_momentum):
    i = cuda.grid(1)
    if i < w.shape[0]:
        lr, rho, one_minus_rho, momentum, epsilon = h[0], h[1], h[2], h[3], h[4]
        velocity[i] = rho * velocity[i] + one_minus_rho * (g[i] * g[i])
        if centered:
            average_grad[i] = rho * average_grad[i] + one_minus_rho * g[i]
            denominator = velocity[i] - average_grad[i] * average_grad[i] + epsilon
        else:
            denominator = velocity[i] + epsilon
        increment = (lr * g[i]) / math.sqrt(denominator)
        if use_momentum:
            momentum_slot[i] = momentum * momentum_slot[i] + increment
            w[i] -= momentum_slot[i]
        else:
            w[i] -= increment


def rmsprop_update(w, g, velocity, momentum_slot, average_grad, lr, rho, one_minus_rho, momentum, epsilon,
                   centered, use_momentum):
    """w, g, velocity (P,); momentum_slot (P,) if use_momentum; average_grad (P,) if centered (else unused).

    velocity = rho*velocity + (1-rho)*g^2; centered: average_grad = rho*average_grad + (1-rho)*g and
    denom = velocity - average_grad^2 + eps, else denom = velocity + eps; increment = lr*g / sqrt(denom);
    use_momentum: momentum_slot = momentum*momentum_slot + increment, w -= momentum_slot; else w -= increment.
    An unused slot may be any array (the optimizer passes an empty host one): the kernel gets ``velocity``
    in its place, which it does not touch through that name.
    """
    _launch(_rmsprop, (w, g, velocity, momentum_slot if use_momentum else velocity,
                       average_grad if centered else velocity),
            (lr, rho, one_minus_rho, momentum, epsilon), bool(centered), bool(use_momentum))


@cuda.jit(cache=True)
def _adagrad(w, g, accumulator, h):
    i = cuda.grid(1)
    if i < w.shape[0]:
        lr, epsilon = h[0], h[1]
        accumulator[i] += g[i] * g[i]
        w[i] -= (lr * g[i]) / math.sqrt(accumulator[i] + epsilon)


def adagrad_update(w, g, accumulator, lr, epsilon):
    """w, g, accumulator (P,): accumulator += g^2; w -= lr*g / sqrt(accumulator + eps)."""
    _launch(_adagrad, (w, g, accumulator), (lr, epsilon))


@cuda.jit(cache=True)
def _nadam(w, g, m, v, h):
    i = cuda.grid(1)
    if i < w.shape[0]:
        one_minus_beta_1, one_minus_beta_2, u_next, one_minus_product_next = h[0], h[1], h[2], h[3]
        one_minus_u, one_minus_product, one_minus_beta_2_power, lr, epsilon = h[4], h[5], h[6], h[7], h[8]
        m[i] += (g[i] - m[i]) * one_minus_beta_1
        v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2
        m_hat = (u_next * m[i]) / one_minus_product_next + (one_minus_u * g[i]) / one_minus_product
        v_hat = v[i] / one_minus_beta_2_power
        w[i] -= (m_hat * lr) / (math.sqrt(v_hat) + epsilon)


def nadam_update(w, g, m, v, one_minus_beta_1, one_minus_beta_2, u_next, one_minus_product_next,
                 one_minus_u, one_minus_product, one_minus_beta_2_power, lr, epsilon):
    """Nadam, w, g, m, v (P,): m += (g-m)(1-b1); v += (g^2-v)(1-b2);
    m_hat = u_next*m / (1 - prod_next) + (1 - u)*g / (1 - prod); v_hat = v / (1 - b2^t);
    w -= m_hat*lr / (sqrt(v_hat) + eps).
    """
    _launch(_nadam, (w, g, m, v), (one_minus_beta_1, one_minus_beta_2, u_next, one_minus_product_next,
                                   one_minus_u, one_minus_product, one_minus_beta_2_power, lr, epsilon))


@cuda.jit(cache=True)
def _adamax(w, g, m, u, h):
    i = cuda.grid(1)
    if i < w.shape[0]:
        lr, one_minus_beta_1, beta_2, one_minus_beta_1_power, epsilon = h[0], h[1], h[2], h[3], h[4]
        m[i] += (g[i] - m[i]) * one_minus_beta_1
        u[i] = max(beta_2 * u[i], abs(g[i]))
        w[i] -= (lr * m[i]) / (one_minus_beta_1_power * (u[i] + epsilon))


def adamax_update(w, g, m, u, lr, one_minus_beta_1, beta_2, one_minus_beta_1_power, epsilon):
    """Adamax, w, g, m, u (P,): m += (g-m)(1-b1); u = max(b2*u, |g|); w -= lr*m / ((1-b1^t)*(u+eps))."""
    _launch(_adamax, (w, g, m, u), (lr, one_minus_beta_1, beta_2, one_minus_beta_1_power, epsilon))


@cuda.jit(cache=True)
def _lion(w, g, m, h):
    i = cuda.grid(1)
    if i < w.shape[0]:
        lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2 = h[0], h[1], h[2], h[3], h[4]
        c = m[i] * beta_1 + g[i] * one_minus_beta_1
        if c > 0:
            w[i] -= lr
        elif c < 0:
            w[i] += lr
        elif c != c:
            w[i] = c
        m[i] = m[i] * beta_2 + g[i] * one_minus_beta_2


def lion_update(w, g, m, lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2):
    """Lion, w, g, m (P,): w -= lr*sign(m*b1 + g*(1-b1)); then m = m*b2 + g*(1-b2)."""
    _launch(_lion, (w, g, m), (lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2))


@cuda.jit(cache=True)
def _ema(average, w, h):
    i = cuda.grid(1)
    if i < w.shape[0]:
        momentum, one_minus_momentum = h[0], h[1]
        average[i] = momentum * average[i] + one_minus_momentum * w[i]


def ema_update(average, w, momentum, one_minus_momentum):
    """The weights' moving average, average, w (P,): average = momentum*average + (1-momentum)*w."""
    _launch(_ema, (average, w), (momentum, one_minus_momentum))


@cuda.jit(cache=True)
def _accumulated_mean(g, accumulator, out, h):
    i = cuda.grid(1)
    if i < g.shape[0]:
        out[i] = (g[i] + accumulator[i]) / h[0]


def accumulated_mean(g, accumulator, steps):
    """Gradient accumulation, g, accumulator (P,) -> out (P,) = (g + accumulator) / steps (a new array)."""
    out = arrays.empty(g.shape, g.dtype)
    _launch(_accumulated_mean, (g, accumulator, out), (steps,))
    return out
