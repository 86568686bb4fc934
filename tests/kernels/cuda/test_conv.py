"""numbacnn.kernels.cuda.conv against its CPU twin (numbacnn.kernels.cpu.conv) on the same host data.

Shapes are those the layers pass: x (N,*S,C), kernel (*K,C,F) of rank 1, 2 or 3, explicit pads.
"""

import numpy as np
import pytest
from numba import cuda

from numbacnn.kernels.cpu import conv as cpu
from numbacnn.kernels.cpu.activations import ACT_RELU, ACT_SIGMOID, ACT_TANH
from numbacnn.kernels.cuda import conv

F32 = {"rtol": 1e-5, "atol": 1e-5}
F64 = {"rtol": 1e-12, "atol": 1e-12}

# id: (input spatial, kernel, C, F, strides, dilation, pad_before, pad_after, batch)
CASES = {
    "1d-valid": ((5,), (3,), 3, 1, (1,), (1,), (0,), (0,), 2),
    "1d-same-stride2": ((6,), (3,), 1, 3, (2,), (1,), (0,), (1,), 2),
    "1d-dilation2-asym": ((6,), (2,), 3, 3, (1,), (2,), (2,), (1,), 1),
    "2d-valid": ((4, 5), (3, 3), 1, 3, (1, 1), (1, 1), (0, 0), (0, 0), 2),
    "2d-same-stride2": ((6, 6), (3, 3), 3, 1, (2, 2), (1, 1), (0, 0), (1, 1), 1),
    "2d-dilation-asym": ((5, 6), (2, 3), 3, 3, (1, 2), (2, 1), (1, 0), (1, 1), 2),
    "2d-kernel-over-input": ((2, 2), (3, 3), 1, 1, (1, 1), (1, 1), (1, 1), (1, 1), 1),
    "2d-1x1-stride2": ((5, 5), (1, 1), 3, 3, (2, 2), (1, 1), (0, 0), (0, 0), 1),
    "2d-pointwise": ((3, 4), (1, 1), 3, 3, (1, 1), (1, 1), (0, 0), (0, 0), 2),
    "3d-valid": ((3, 4, 4), (2, 2, 2), 1, 3, (1, 1, 1), (1, 1, 1), (0, 0, 0), (0, 0, 0), 1),
    "3d-same-stride2": ((4, 4, 4), (3, 3, 3), 1, 3, (2, 2, 2), (1, 1, 1), (0, 0, 0), (1, 1, 1), 2),
    "3d-dilation-asym": ((5, 4, 4), (2, 2, 2), 3, 1, (1, 2, 1), (2, 1, 2), (1, 0, 0), (0, 1, 1), 1),
}


def make(case, dtype=np.float32, seed=0):
    """Host x, w, b, grad and the geometry (strides, dilation, pad_before, pad_after) of a case."""
    spatial, ksize, c, f, strides, dilation, pb, pa, n = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *spatial, c)).astype(dtype)
    w = rng.standard_normal((*ksize, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out = cpu.conv_output_shape(spatial, ksize, strides, dilation, pb, pa)
    g = rng.standard_normal((n, *out, f)).astype(dtype)
    return x, w, b, g, (strides, dilation, pb, pa)


def dev(*arrays):
    return [cuda.to_device(a) for a in arrays]


def check_all(x, w, b, g, geometry, tol):
    """Forward (with its columns), input gradient and weight gradient from those columns, vs the CPU."""
    dx_, dw_, db_, dg_ = dev(x, w, b, g)
    y, cols = conv.conv_forward(dx_, dw_, db_, *geometry, return_cols=True)
    assert y.shape == g.shape and y.dtype == x.dtype
    np.testing.assert_allclose(y.copy_to_host(), cpu.conv_forward(x, w, b, *geometry), **tol)
    dx = conv.conv_backward_input(dg_, dw_, x.shape, *geometry)
    assert dx.shape == x.shape and dx.dtype == x.dtype
    np.testing.assert_allclose(dx.copy_to_host(), cpu.conv_backward_input(g, w, x.shape, *geometry), **tol)
    dw = conv.conv_backward_weights(dx_, dg_, w.shape[:-2], *geometry, cols=cols)
    assert dw.shape == w.shape and dw.dtype == x.dtype
    np.testing.assert_allclose(dw.copy_to_host(), cpu.conv_backward_weights(x, g, w.shape[:-2], *geometry),
                               **tol)
    return cols


@pytest.mark.parametrize("name", list(CASES))
def test_conv_matches_cpu(name):
    x, w, b, g, geometry = make(CASES[name])
    cols = check_all(x, w, b, g, geometry, F32)
    if name == "2d-pointwise":
        assert cols is None  # the product reads x itself
    else:
        assert cols.shape == (g.size // g.shape[-1], w.size // w.shape[-1])


@pytest.mark.parametrize("name", ["1d-dilation2-asym", "2d-dilation-asym", "3d-dilation-asym"])
def test_conv_backward_weights_without_cols(name):
    x, w, _, g, geometry = make(CASES[name], seed=1)
    dw = conv.conv_backward_weights(*dev(x, g), w.shape[:-2], *geometry)
    np.testing.assert_allclose(dw.copy_to_host(), cpu.conv_backward_weights(x, g, w.shape[:-2], *geometry),
                               **F32)


def test_conv_float64():
    case = ((5, 6), (3, 2), 3, 3, (2, 1), (1, 2), (1, 0), (1, 1), 2)
    x, w, b, g, geometry = make(case, dtype=np.float64, seed=2)
    check_all(x, w, b, g, geometry, F64)


def test_conv_batch_in_chunks(monkeypatch):
    """A workspace too small for the batch: one sample at a time, no columns returned, dw accumulated."""
    monkeypatch.setattr(conv, "_WORKSPACE_BYTES", 1)
    x, w, b, g, geometry = make(CASES["2d-dilation-asym"], seed=3)
    assert check_all(x, w, b, g, geometry, F32) is None
    dw = conv.conv_backward_weights(*dev(x, g), w.shape[:-2], *geometry)
    np.testing.assert_allclose(dw.copy_to_host(), cpu.conv_backward_weights(x, g, w.shape[:-2], *geometry),
                               **F32)


@pytest.mark.parametrize("shape", [(2, 3, 3), (1, 2, 2, 3, 20)])
def test_conv_backward_bias(shape):
    g = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    db = conv.conv_backward_bias(cuda.to_device(g))
    assert db.shape == (shape[-1],) and db.dtype == np.float32
    np.testing.assert_allclose(db.copy_to_host(), cpu.conv_backward_bias(g), **F32)


def test_conv_bad_arguments():
    x, w, _, g, geometry = make(CASES["2d-valid"])
    with pytest.raises(ValueError, match=r"input \(2, 4, 5, 1\) does not match kernel \(3, 3, 2, 3\)"):
        conv.conv_forward(cuda.to_device(x), cuda.to_device(np.zeros((3, 3, 2, 3), np.float32)))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        conv.conv_forward(cuda.to_device(x), cuda.to_device(np.zeros((5, 5, 1, 3), np.float32)))
    with pytest.raises(ValueError, match=r"gradient \(2, 2, 2, 3\) does not match"):
        conv.conv_backward_input(*dev(np.ascontiguousarray(g[:, :, :2]), w), x.shape, *geometry)
    with pytest.raises(ValueError, match=r"cols \(3, 9\) do not match \(12, 9\)"):
        conv.conv_backward_weights(*dev(x, g), (3, 3), *geometry, cols=cuda.to_device(np.zeros((3, 9))))


@pytest.mark.parametrize("name", ["1d-same-stride2", "2d-dilation-asym", "2d-pointwise", "3d-valid"])
@pytest.mark.parametrize("affine", [False, True])
def test_conv_forward_infer_matches_cpu(name, affine):
    """Convolution, inference batch-norm affine and a capped leaky relu in one call, vs the CPU's fused
    kernel."""
    x, w, b, _, geometry = make(CASES[name], seed=5)
    f = w.shape[-1]
    rng = np.random.default_rng(6)
    scale = shift = None
    if affine:
        scale, shift = rng.random(f).astype(np.float32) + 0.5, rng.standard_normal(f).astype(np.float32)
    act = (ACT_RELU, 0.1, 1.0, 0.0)
    expected = cpu.conv_forward_infer(x, w, b, *geometry, scale=scale, shift=shift, activation=act)
    extra = dev(scale, shift) if affine else (None, None)
    y = conv.conv_forward_infer(*dev(x, w, b), *geometry, scale=extra[0], shift=extra[1], activation=act)
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y.copy_to_host(), expected, **F32)


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("name,pool", [("1d-valid", (2,)), ("2d-dilation-asym", (2, 2)),
                                       ("3d-valid", (1, 2, 3))])
def test_conv_forward_infer_pools_as_the_cpu_does(name, pool, average):
    """The max (or average, after a tanh) pooling of ``conv_forward_infer(pool=...)``: the CPU's pooled
    result (odd sizes dropped)."""
    x, w, b, _, geometry = make(CASES[name], seed=7)
    act = (ACT_TANH, 0.0, 0.0, 0.0) if average else (ACT_RELU, 0.0, np.inf, 0.0)
    expected = cpu.conv_forward_infer(x, w, b, *geometry, activation=act, pool=pool, pool_average=average)
    y = conv.conv_forward_infer(*dev(x, w, b), *geometry, activation=act, pool=pool, pool_average=average)
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y.copy_to_host(), expected, **F32)
    with pytest.raises(ValueError, match="is larger than the convolution's output"):
        conv.conv_forward_infer(*dev(x, w, b), *geometry, pool=(9,) * len(pool))


@pytest.mark.parametrize("name", ["2d-dilation-asym", "2d-pointwise"])
def test_conv_forward_applies_the_activation_after_the_bias(name):
    x, w, b, _, geometry = make(CASES[name], seed=8)
    act = (ACT_RELU, 0.0, 1.0, 0.25)
    expected, _ = cpu.conv_forward(x, w, b, *geometry, return_cols=True, activation=act)
    y, _ = conv.conv_forward(*dev(x, w, b), *geometry, return_cols=True, activation=act)
    np.testing.assert_allclose(y.copy_to_host(), expected, **F32)


def test_conv_forward_infer_refuses_what_the_cpu_refuses():
    x, w, b, _, geometry = make(CASES["2d-valid"])
    with pytest.raises(ValueError, match="activation kind .* not one"):
        conv.conv_forward_infer(*dev(x, w, b), *geometry, activation=(ACT_SIGMOID, 0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="scale and shift go together"):
        conv.conv_forward_infer(*dev(x, w, b), *geometry, scale=cuda.to_device(np.ones(3, np.float32)))
