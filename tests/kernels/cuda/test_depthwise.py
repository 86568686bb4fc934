"""numbacnn.kernels.cuda.depthwise against its CPU twin (numbacnn.kernels.cpu.depthwise) on the same host
data: forward (bias, batch-norm affine, relu6), input gradient and weight gradient, ranks 1 and 2."""

import numpy as np
import pytest

from numbacnn.kernels.cpu import depthwise as C
from numbacnn.kernels.cpu.activations import ACT_RELU, ACT_TANH
from numbacnn.kernels.cuda import depthwise as G

# id: (input spatial, kernel, C, M, strides, dilation, pad_before, pad_after, batch)
CASES = {
    "1d-valid-m2": ((6,), (3,), 2, 2, (1,), (1,), (0,), (0,), 2),
    "1d-same-stride2": ((7,), (3,), 3, 1, (2,), (1,), (1,), (1,), 1),
    "2d-same": ((5, 4), (3, 3), 3, 1, (1, 1), (1, 1), (1, 1), (1, 1), 2),
    "2d-stride2-odd-pixel-m3": ((5, 6), (3, 2), 2, 3, (2, 2), (1, 1), (1, 0), (1, 1), 1),
    "2d-dilation": ((5, 5), (2, 2), 2, 1, (1, 1), (2, 2), (1, 1), (1, 1), 1),
}


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(C, G)


def make(case, dtype):
    spatial, ksize, c, m, strides, dilation, pb, pa, n = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *spatial, c)).astype(dtype)
    w = rng.standard_normal((*ksize, c, m)).astype(dtype)
    b = rng.standard_normal(c * m).astype(dtype)
    y = C.depthwise_forward(x, w, None, strides, dilation, pb, pa)
    g = rng.standard_normal(y.shape).astype(dtype)
    return x, w, b, g, (strides, dilation, pb, pa)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_the_cpu(case, dtype, dev):
    x, w, b, g, geometry = make(CASES[case], dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    dx_, dw_, db_, dg_ = dev(x, w, b, g)
    y = G.depthwise_forward(dx_, dw_, db_, *geometry)
    assert y.shape == g.shape and y.dtype == dtype
    np.testing.assert_allclose(y.copy_to_host(), C.depthwise_forward(x, w, b, *geometry), **tol)
    dx = G.depthwise_backward_input(dg_, dw_, x.shape, *geometry)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx.copy_to_host(), C.depthwise_backward_input(g, w, x.shape, *geometry), **tol)
    dw = G.depthwise_backward_weights(dx_, dg_, w.shape[:-2], *geometry)
    assert dw.shape == w.shape
    np.testing.assert_allclose(dw.copy_to_host(), C.depthwise_backward_weights(x, g, w.shape[:-2], *geometry),
                               **tol)


@pytest.mark.parametrize("act", [(ACT_RELU, 0.0, 6.0, 0.0), (ACT_TANH, 0.0, 0.0, 0.0)])
def test_epilogue_equals_the_cpu(act, dev):
    x, w, b, _, geometry = make(CASES["2d-same"], np.float32)
    rng = np.random.default_rng(2)
    scale, shift = rng.standard_normal((2, b.shape[0])).astype(np.float32)
    y = G.depthwise_forward(*dev(x, w, b), *geometry, scale=dev(scale), shift=dev(shift), activation=act)
    np.testing.assert_allclose(y.copy_to_host(), C.depthwise_forward(x, w, b, *geometry, scale=scale,
                                                                     shift=shift, activation=act),
                               rtol=1e-5, atol=1e-5)


def test_errors_are_the_cpu_ones(dev):
    x, w = dev(np.zeros((1, 5, 5, 3), np.float32), np.zeros((3, 3, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"depthwise_forward: input \(1, 5, 5, 3\) does not match kernel"):
        G.depthwise_forward(x, w)
    with pytest.raises(ValueError, match="depthwise_backward_weights: gradient"):
        G.depthwise_backward_weights(*dev(np.zeros((1, 3, 3, 2)), np.zeros((1, 3, 3, 3))), (1, 1))
