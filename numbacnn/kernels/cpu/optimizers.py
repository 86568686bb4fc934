"""Optimizer update kernels: Keras 3's update rules, elementwise and in place.

Every array is a flat (P,) view of one weight, its gradient and its slot arrays, all of one dtype;
the scalar hyper-parameters are passed already cast to that dtype, so float32 weights are updated in
float32 arithmetic as Keras does. Elements are independent: the loops are ``prange`` over P.
"""

import numpy as np
from numba import njit, prange

__all__ = ["sgd_update", "sgd_momentum_update", "adam_update", "amsgrad_update", "rmsprop_update",
           "adagrad_update", "nadam_update", "adamax_update", "lion_update", "ema_update",
           "accumulated_mean"]


@njit(parallel=True, cache=True, nogil=True)
def sgd_update(w, g, lr):
    """w (P,), g (P,): w -= lr * g."""
    for i in prange(w.size):
        w[i] -= g[i] * lr


@njit(parallel=True, cache=True, nogil=True)
def sgd_momentum_update(w, g, m, lr, momentum, nesterov):
    """w, g, m (P,): m = momentum*m - lr*g; then w += m, or w += momentum*m - lr*g when nesterov."""
    for i in prange(w.size):
        m[i] = m[i] * momentum - g[i] * lr
        if nesterov:
            w[i] += m[i] * momentum - g[i] * lr
        else:
            w[i] += m[i]


@njit(parallel=True, cache=True, nogil=True)
def adam_update(w, g, m, v, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    """w, g, m, v (P,): m += (g-m)(1-b1); v += (g^2-v)(1-b2); w -= alpha*m / (sqrt(v)+eps).

    alpha = lr * sqrt(1 - b2^t) / (1 - b1^t) with t the 1-based step.
    """
    for i in prange(w.size):
        m[i] += (g[i] - m[i]) * one_minus_beta_1
        v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2
        w[i] -= (m[i] * alpha) / (np.sqrt(v[i]) + epsilon)


@njit(parallel=True, cache=True, nogil=True)
def amsgrad_update(w, g, m, v, v_hat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon):
    """Adam with amsgrad, w, g, m, v, v_hat (P,): as adam_update with v_hat = max(v_hat, v) in v's place."""
    for i in prange(w.size):
        m[i] += (g[i] - m[i]) * one_minus_beta_1
        v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2
        v_hat[i] = max(v_hat[i], v[i])
        w[i] -= (m[i] * alpha) / (np.sqrt(v_hat[i]) + epsilon)


@njit(parallel=True, cache=True, nogil=True)
def rmsprop_update(w, g, velocity, momentum_slot, average_grad, lr, rho, one_minus_rho, momentum, epsilon,
                   centered, use_momentum):
    """w, g, velocity (P,); momentum_slot (P,) if use_momentum; average_grad (P,) if centered (else unused).

    velocity = rho*velocity + (1-rho)*g^2; centered: average_grad = rho*average_grad + (1-rho)*g and
    denom = velocity - average_grad^2 + eps, else denom = velocity + eps; increment = lr*g / sqrt(denom);
    use_momentum: momentum_slot = momentum*momentum_slot + increment, w -= momentum_slot; else w -= increment.
    """
    for i in prange(w.size):
        velocity[i] = rho * velocity[i] + one_minus_rho * (g[i] * g[i])
        if centered:
            average_grad[i] = rho * average_grad[i] + one_minus_rho * g[i]
            denominator = velocity[i] - average_grad[i] * average_grad[i] + epsilon
        else:
            denominator = velocity[i] + epsilon
        increment = (lr * g[i]) / np.sqrt(denominator)
        if use_momentum:
            momentum_slot[i] = momentum * momentum_slot[i] + increment
            w[i] -= momentum_slot[i]
        else:
            w[i] -= increment


@njit(parallel=True, cache=True, nogil=True)
def adagrad_update(w, g, accumulator, lr, epsilon):
    """w, g, accumulator (P,): accumulator += g^2; w -= lr*g / sqrt(accumulator + eps)."""
    for i in prange(w.size):
        accumulator[i] += g[i] * g[i]
        w[i] -= (lr * g[i]) / np.sqrt(accumulator[i] + epsilon)


@njit(parallel=True, cache=True, nogil=True)
def nadam_update(w, g, m, v, one_minus_beta_1, one_minus_beta_2, u_next, one_minus_product_next,
                 one_minus_u, one_minus_product, one_minus_beta_2_power, lr, epsilon):
    """Nadam, w, g, m, v (P,): m += (g-m)(1-b1); v += (g^2-v)(1-b2);
    m_hat = u_next*m / (1 - prod_next) + (1 - u)*g / (1 - prod); v_hat = v / (1 - b2^t);
    w -= m_hat*lr / (sqrt(v_hat) + eps). The scalars (Keras's u_t, u_t_1 and their running products) come
    from the optimizer, which keeps the product of the u's.
    """
    for i in prange(w.size):
        m[i] += (g[i] - m[i]) * one_minus_beta_1
        v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2
        m_hat = (u_next * m[i]) / one_minus_product_next + (one_minus_u * g[i]) / one_minus_product
        v_hat = v[i] / one_minus_beta_2_power
        w[i] -= (m_hat * lr) / (np.sqrt(v_hat) + epsilon)


@njit(parallel=True, cache=True, nogil=True)
def adamax_update(w, g, m, u, lr, one_minus_beta_1, beta_2, one_minus_beta_1_power, epsilon):
    """Adamax, w, g, m, u (P,): m += (g-m)(1-b1); u = max(b2*u, |g|); w -= lr*m / ((1-b1^t)*(u+eps))."""
    for i in prange(w.size):
        m[i] += (g[i] - m[i]) * one_minus_beta_1
        u[i] = max(beta_2 * u[i], abs(g[i]))
        w[i] -= (lr * m[i]) / (one_minus_beta_1_power * (u[i] + epsilon))


@njit(parallel=True, cache=True, nogil=True)
def lion_update(w, g, m, lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2):
    """Lion, w, g, m (P,): w -= lr*sign(m*b1 + g*(1-b1)); then m = m*b2 + g*(1-b2)."""
    for i in prange(w.size):
        c = m[i] * beta_1 + g[i] * one_minus_beta_1
        w[i] -= lr * np.sign(c)
        m[i] = m[i] * beta_2 + g[i] * one_minus_beta_2


@njit(parallel=True, cache=True, nogil=True)
def ema_update(average, w, momentum, one_minus_momentum):
    """The weights' moving average, average, w (P,): average = momentum*average + (1-momentum)*w."""
    for i in prange(w.size):
        average[i] = momentum * average[i] + one_minus_momentum * w[i]


@njit(parallel=True, cache=True, nogil=True)
def accumulated_mean(g, accumulator, steps):
    """Gradient accumulation, g, accumulator (P,) -> out (P,) = (g + accumulator) / steps."""
    out = np.empty_like(g)
    for i in prange(g.size):
        out[i] = (g[i] + accumulator[i]) / steps
    return out
