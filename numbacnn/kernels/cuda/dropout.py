"""Inverted dropout on the GPU: kept values are scaled by 1/(1 - rate) so that inference is the identity.

The twin of ``kernels.cpu.dropout``. The uniform draws come from the host generator (the layer draws
them and hands them over as a device array), so a seed gives the same mask on both devices. Draws of a
``noise_shape`` smaller than x are broadcast inside the kernel: element i of x reads the draw at
sum_a coord_a(i) * ustride_a, where ustride_a is 0 along the broadcast axes.
"""

from numba import cuda, float64

from . import launch

__all__ = ["dropout_forward", "dropout_backward", "gaussian_noise_forward", "gaussian_dropout_forward",
           "activity_regularization_backward"]

_RANK = 8  # shapes are padded with leading 1s to this rank, so that one compiled kernel serves them all


@cuda.jit(cache=True)
def _dropout(x, u, x_strides, x_dims, u_strides, keep_prob, y, mask):
    """x, y, mask (M,), u (U,) -> mask = 1/keep_prob where the draw < keep_prob else 0, y = x * mask.

    With U < M the draw of element i is u[sum_a ((i // x_strides[a]) % x_dims[a]) * u_strides[a]].
    """
    i = cuda.grid(1)
    if i < x.shape[0]:
        j = i
        if u.shape[0] != x.shape[0]:
            j = 0
            for a in range(len(x_dims)):
                j += (i // x_strides[a]) % x_dims[a] * u_strides[a]
        m = float64(1.0 / keep_prob) if u[j] < keep_prob else float64(0.0)
        mask[i] = m
        y[i] = float64(x[i]) * m


@cuda.jit(cache=True)
def _multiply(g, mask, out):
    """out (M,) = g * mask."""
    i = cuda.grid(1)
    if i < g.shape[0]:
        out[i] = g[i] * mask[i]


def _c_strides(shape):
    """Element strides of a C-contiguous array of ``shape``."""
    strides = [1] * len(shape)
    for a in range(len(shape) - 2, -1, -1):
        strides[a] = strides[a + 1] * shape[a + 1]
    return strides


def dropout_forward(x, uniform, rate):
    """x (any shape), uniform [0,1) draws broadcastable to x, 0 <= rate < 1 -> y, mask (x's shape and dtype).

    An element is kept when its draw is below 1 - rate (Keras's rule).
    """
    shape = tuple(x.shape)
    u_shape = (1,) * (len(shape) - uniform.ndim) + tuple(uniform.shape)
    if len(u_shape) != len(shape) or any(d not in (1, s) for d, s in zip(u_shape, shape)):
        raise ValueError(f"dropout_forward: draws of shape {tuple(uniform.shape)} do not broadcast to x of "
                         f"shape {shape}")
    pad = max(0, _RANK - len(shape))
    u_strides = [s if d != 1 else 0 for s, d in zip(_c_strides(u_shape), u_shape)]
    y = launch.empty(shape, x.dtype)
    mask = launch.empty(shape, x.dtype)
    blocks, threads = launch.grid(x.size)
    launch.at(_dropout, blocks, threads)(
        x.reshape(-1), uniform.reshape(-1), tuple([1] * pad + _c_strides(shape)), (1,) * pad + shape,
        tuple([0] * pad + u_strides), 1.0 - float(rate), y.reshape(-1), mask.reshape(-1))
    return y, mask


def dropout_backward(grad, mask):
    """grad, mask (same shape) -> grad * mask, mask's dtype."""
    out = launch.empty(mask.shape, mask.dtype)
    blocks, threads = launch.grid(mask.size)
    launch.at(_multiply, blocks, threads)(grad.reshape(-1), mask.reshape(-1), out.reshape(-1))
    return out


@cuda.jit(cache=True)
def _add_noise(x, z, stddev, y):
    """x, z (M,) -> y = x + stddev * z."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        y[i] = x[i] + stddev * z[i]


@cuda.jit(cache=True)
def _multiply_noise(x, z, stddev, y, mask):
    """x, z (M,) -> mask = 1 + stddev * z, y = x * mask."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        mask[i] = 1.0 + stddev * z[i]
        y[i] = x[i] * mask[i]


@cuda.jit(cache=True)
def _activity_grad(x, g, l1, l2, dx):
    """dx (M,) = g + l1 * sign(x) + 2 * l2 * x."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        v = float64(x[i])
        s = 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)
        dx[i] = float64(g[i]) + (l1 * s + 2.0 * l2 * v)


def gaussian_noise_forward(x, normal, stddev):
    """x, standard normal draws (same shape) -> y = x + stddev * normal."""
    y = launch.empty(x.shape, x.dtype)
    blocks, threads = launch.grid(x.size)
    launch.at(_add_noise, blocks, threads)(x.reshape(-1), normal.reshape(-1), x.dtype.type(stddev),
                                                 y.reshape(-1))
    return y


def gaussian_dropout_forward(x, normal, stddev):
    """x, standard normal draws (same shape) -> y = x * mask, mask = 1 + stddev * normal."""
    y = launch.empty(x.shape, x.dtype)
    mask = launch.empty(x.shape, x.dtype)
    blocks, threads = launch.grid(x.size)
    launch.at(_multiply_noise, blocks, threads)(x.reshape(-1), normal.reshape(-1), x.dtype.type(stddev),
                                                      y.reshape(-1), mask.reshape(-1))
    return y, mask


def activity_regularization_backward(x, grad, l1, l2, batch):
    """x, grad (same shape) -> grad + d/dx of (l1 * sum|x| + l2 * sum x^2) / batch, x's dtype."""
    dx = launch.empty(x.shape, x.dtype)
    blocks, threads = launch.grid(x.size)
    launch.at(_activity_grad, blocks, threads)(x.reshape(-1), grad.reshape(-1), float(l1) / batch,
                                                     float(l2) / batch, dx.reshape(-1))
    return dx
