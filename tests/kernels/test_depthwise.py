"""numbacnn.kernels.cpu.depthwise against a slow NumPy depthwise convolution, its gradients, and finite
differences."""

import itertools

import numpy as np
import pytest
from gradcheck import numeric_grad

from numbacnn.kernels.cpu import conv, depthwise
from numbacnn.kernels.cpu.activations import ACT_RELU, activation_forward


def np_pad(x, pad_before, pad_after):
    return np.pad(x, [(0, 0), *zip(pad_before, pad_after), (0, 0)])


def tap_slices(tap, dilation, out, strides):
    """The slice of the padded input that kernel tap ``tap`` reads for every output position."""
    return (slice(None), *(slice(k * d, k * d + (o - 1) * s + 1, s)
                           for k, d, o, s in zip(tap, dilation, out, strides)), slice(None))


def np_depthwise(x, w, b, strides, dilation, pad_before, pad_after):
    """x (N,*S,C), w (*K,C,M) -> y (N,*O,C*M): y[..., c*M + m] = sum over taps of x[..., c] * w[tap, c, m]."""
    rank = w.ndim - 2
    xp = np_pad(x, pad_before, pad_after)
    out = tuple((p - (k - 1) * d - 1) // s + 1
                for p, k, d, s in zip(xp.shape[1:-1], w.shape[:rank], dilation, strides))
    c, m = w.shape[-2:]
    y = np.zeros((x.shape[0], *out, c, m), dtype=np.float64)
    for tap in np.ndindex(*w.shape[:rank]):
        y += xp[tap_slices(tap, dilation, out, strides)][..., None] * w[tap]
    y = y.reshape(y.shape[:-2] + (c * m,))
    return y if b is None else y + b


def np_depthwise_grads(x, w, g, strides, dilation, pad_before, pad_after):
    """(dx, dw) of sum(np_depthwise(x, w) * g), tap by tap."""
    rank = w.ndim - 2
    xp = np_pad(x, pad_before, pad_after)
    out = g.shape[1:-1]
    c, m = w.shape[-2:]
    g = g.reshape(g.shape[:-1] + (c, m))
    dxp, dw = np.zeros(xp.shape), np.zeros(w.shape)
    axes = tuple(range(rank + 1))
    for tap in np.ndindex(*w.shape[:rank]):
        sl = tap_slices(tap, dilation, out, strides)
        dxp[sl] += (g * w[tap]).sum(axis=-1)
        dw[tap] = (xp[sl][..., None] * g).sum(axis=axes)
    crop = (slice(None), *(slice(p, p + n) for p, n in zip(pad_before, x.shape[1:-1])), slice(None))
    return dxp[crop], dw


def keras_same(spatial, ksize, strides, dilation):
    """Keras's 'same' padding: out = ceil(in / s), the odd cell after."""
    before, after = [], []
    for n, k, s, d in zip(spatial, ksize, strides, dilation):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return tuple(before), tuple(after)


def grid():
    """(spatial, kernel, C, M, strides, dilation, padding) over ranks 1 and 2."""
    cases = []
    for (spatial, ksize), c, m, (strides, dilation), padding in itertools.product(
            [((7,), (3,)), ((5,), (2,)), ((6, 7), (3, 3)), ((5, 6), (2, 3)), ((4, 4), (1, 1))],
            [1, 5], [1, 3], [(1, 1), (2, 1), (1, 2)], ["valid", "same"]):
        rank = len(spatial)
        cases.append((spatial, ksize, c, m, (strides,) * rank, (dilation,) * rank, padding))
    return cases


CASES = [case for case in grid()
         if all(s >= (k - 1) * d + 1 for s, k, d in zip(case[0], case[1], case[5])) or case[6] == "same"]


def make(case, dtype, seed=0, n=2):
    spatial, ksize, c, m, strides, dilation, padding = case
    if padding == "same":
        pb, pa = keras_same(spatial, ksize, strides, dilation)
    else:
        pb = pa = (0,) * len(spatial)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *spatial, c)).astype(dtype)
    w = rng.standard_normal((*ksize, c, m)).astype(dtype)
    b = rng.standard_normal(c * m).astype(dtype)
    out = conv.conv_output_shape(spatial, ksize, strides, dilation, pb, pa)
    g = rng.standard_normal((n, *out, c * m)).astype(dtype)
    return x, w, b, g, (strides, dilation, pb, pa)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_against_numpy(case):
    x, w, b, g, geometry = make(case, np.float64)
    y = depthwise.depthwise_forward(x, w, b, *geometry)
    np.testing.assert_allclose(y, np_depthwise(x, w, b, *geometry), rtol=1e-12, atol=1e-12)
    dx_ref, dw_ref = np_depthwise_grads(x, w, g, *geometry)
    dx = depthwise.depthwise_backward_input(g, w, x.shape, *geometry)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    dw = depthwise.depthwise_backward_weights(x, g, w.shape[:-2], *geometry)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-12, atol=1e-12)


WIDE = [((3, 9), (3, 3), 20, 1, (1, 1), (1, 1), "same"),  # flat runs of pixels: 80-value periods
        ((3, 5), (2, 3), 70, 1, (1, 1), (1, 2), "same")]  # pixel by pixel: C >= _FLAT_BELOW


@pytest.mark.parametrize("case", WIDE, ids=str)
def test_many_channels_against_numpy(case):
    x, w, b, g, geometry = make(case, np.float64)
    np.testing.assert_allclose(depthwise.depthwise_forward(x, w, b, *geometry),
                               np_depthwise(x, w, b, *geometry), rtol=1e-12, atol=1e-12)
    dx_ref, dw_ref = np_depthwise_grads(x, w, g, *geometry)
    np.testing.assert_allclose(depthwise.depthwise_backward_input(g, w, x.shape, *geometry), dx_ref,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(depthwise.depthwise_backward_weights(x, g, w.shape[:-2], *geometry), dw_ref,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [CASES[0], CASES[-1], CASES[len(CASES) // 2], WIDE[0]], ids=str)
def test_float32_matches_float64(case):
    x, w, b, g, geometry = make(case, np.float32)
    y = depthwise.depthwise_forward(x, w, b, *geometry)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, np_depthwise(x.astype(np.float64), w, b, *geometry), rtol=1e-5, atol=1e-5)
    dx_ref, dw_ref = np_depthwise_grads(x.astype(np.float64), w.astype(np.float64), g, *geometry)
    dx = depthwise.depthwise_backward_input(g, w, x.shape, *geometry)
    dw = depthwise.depthwise_backward_weights(x, g, w.shape[:-2], *geometry)
    assert dx.dtype == dw.dtype == np.float32
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-5, atol=1e-4)


def test_gradients_against_finite_differences():
    spatial, ksize, c, m = (5, 4), (3, 2), 2, 2
    strides, dilation = (2, 1), (1, 1)
    pb, pa = keras_same(spatial, ksize, strides, dilation)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, *spatial, c))
    w = rng.standard_normal((*ksize, c, m))
    y = depthwise.depthwise_forward(x, w, None, strides, dilation, pb, pa)
    g = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(depthwise.depthwise_forward(x, w, None, strides, dilation, pb, pa) * g))

    np.testing.assert_allclose(depthwise.depthwise_backward_input(g, w, x.shape, strides, dilation, pb, pa),
                               numeric_grad(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(depthwise.depthwise_backward_weights(x, g, ksize, strides, dilation, pb, pa),
                               numeric_grad(loss, w), rtol=1e-6, atol=1e-7)


def test_epilogue_is_the_separate_kernels():
    """bias, a batch-norm affine and relu6 in the forward: the same bits as the passes after it."""
    x, w, b, _, geometry = make(CASES[-1], np.float32)
    f = b.shape[0]
    rng = np.random.default_rng(1)
    scale, shift = rng.standard_normal(f).astype(np.float32), rng.standard_normal(f).astype(np.float32)
    act = (ACT_RELU, 0.0, 6.0, 0.0)
    fused = depthwise.depthwise_forward(x, w, b, *geometry, scale=scale, shift=shift, activation=act)
    plain = depthwise.depthwise_forward(x, w, None, *geometry)
    plain += b
    plain = plain * scale + shift
    np.testing.assert_array_equal(fused, activation_forward(plain, *act))


def test_weight_gradient_does_not_depend_on_threads():
    from numba import get_num_threads, set_num_threads

    x, w, _, g, geometry = make(CASES[-2], np.float32, n=5)
    first = depthwise.depthwise_backward_weights(x, g, w.shape[:-2], *geometry)
    threads = get_num_threads()
    try:
        set_num_threads(1)
        np.testing.assert_array_equal(depthwise.depthwise_backward_weights(x, g, w.shape[:-2], *geometry),
                                      first)
    finally:
        set_num_threads(threads)


def test_errors_name_the_kernel_and_shapes():
    x = np.zeros((1, 5, 5, 3), np.float32)
    w = np.zeros((3, 3, 2, 1), np.float32)
    with pytest.raises(ValueError, match=r"depthwise_forward: input \(1, 5, 5, 3\) does not match kernel"):
        depthwise.depthwise_forward(x, w)
    with pytest.raises(ValueError, match="rank 1 or 2"):
        depthwise.depthwise_forward(np.zeros((1, 3, 3, 3, 1)), np.zeros((1, 1, 1, 1, 1)))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        depthwise.depthwise_forward(np.zeros((1, 2, 2, 2)), np.zeros((3, 3, 2, 1)))
    with pytest.raises(ValueError, match="bias has 3 values for 2 output channels"):
        depthwise.depthwise_forward(np.zeros((1, 3, 3, 2)), np.zeros((1, 1, 2, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="depthwise_backward_weights: gradient"):
        depthwise.depthwise_backward_weights(np.zeros((1, 3, 3, 2)), np.zeros((1, 3, 3, 3)), (1, 1))
    with pytest.raises(ValueError, match="depthwise_backward_input: gradient"):
        depthwise.depthwise_backward_input(np.zeros((1, 3, 3, 3)), np.zeros((1, 1, 2, 1)), (1, 3, 3, 2))
