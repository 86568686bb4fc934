"""numbacnn.kernels.cpu.conv against a slow pure-NumPy convolution and its own gradients."""

import itertools

import numpy as np
import pytest
from gradcheck import numeric_grad
from numpy.lib.stride_tricks import as_strided

from numbacnn.kernels import ops
from numbacnn.kernels.cpu import blas, conv, conv_direct
from numbacnn.kernels.cpu.pooling import pool_max_forward


def np_pad(x, pad_before, pad_after):
    return np.pad(x, [(0, 0), *zip(pad_before, pad_after), (0, 0)])


def np_conv(x, w, b, strides, dilation, pad_before, pad_after):
    """x (N,*S,C), w (*K,C,F): the windows of the padded input as a strided view, contracted with w."""
    rank = w.ndim - 2
    xp = np_pad(x, pad_before, pad_after)
    ksize = w.shape[:rank]
    out = tuple((p - (k - 1) * d - 1) // s + 1
                for p, k, d, s in zip(xp.shape[1:-1], ksize, dilation, strides))
    st = xp.strides
    windows = as_strided(xp, (xp.shape[0], *out, *ksize, xp.shape[-1]),
                         (st[0], *(st[1 + i] * strides[i] for i in range(rank)),
                          *(st[1 + i] * dilation[i] for i in range(rank)), st[-1]), writeable=False)
    y = np.tensordot(windows, w, axes=rank + 1)
    return y if b is None else y + b


def np_conv_grads(x, w, g, strides, dilation, pad_before, pad_after):
    """(dx, dw) of sum(np_conv(x, w) * g): one strided slice of the padded input per kernel tap."""
    rank = w.ndim - 2
    xp = np_pad(x, pad_before, pad_after)
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    out = g.shape[1:-1]
    axes = list(range(rank + 1))
    for tap in np.ndindex(*w.shape[:rank]):
        sl = (slice(None), *(slice(k * d, k * d + (o - 1) * s + 1, s)
                             for k, d, o, s in zip(tap, dilation, out, strides)), slice(None))
        dxp[sl] += g @ w[tap].T
        dw[tap] = np.tensordot(xp[sl], g, axes=(axes, axes))
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


def run_all(x, w, b, g, strides, dilation, pad_before, pad_after):
    y = conv.conv_forward(x, w, b, strides, dilation, pad_before, pad_after)
    dx = conv.conv_backward_input(g, w, x.shape, strides, dilation, pad_before, pad_after)
    dw = conv.conv_backward_weights(x, g, w.shape[:-2], strides, dilation, pad_before, pad_after)
    return y, dx, dw, conv.conv_backward_bias(g)


def check_against_reference(x, w, b, strides, dilation, pad_before, pad_after, rtol=1e-10, atol=1e-10):
    ref = np_conv(x, w, b, strides, dilation, pad_before, pad_after)
    g = np.random.default_rng(7).standard_normal(ref.shape).astype(x.dtype)
    y, dx, dw, db = run_all(x, w, b, g, strides, dilation, pad_before, pad_after)
    ref_dx, ref_dw = np_conv_grads(x, w, g, strides, dilation, pad_before, pad_after)
    assert y.shape == ref.shape and y.dtype == x.dtype
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (w.shape[-1],)
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dx, ref_dx, rtol=rtol, atol=atol)
    np.testing.assert_allclose(dw, ref_dw, rtol=rtol, atol=atol)
    np.testing.assert_allclose(db, g.reshape(-1, g.shape[-1]).sum(0), rtol=rtol, atol=atol)


SHAPES = {  # rank: (kernel, odd input, even input, in channels, filters)
    1: ((3,), (9,), (10,), 3, 4),
    2: ((3, 2), (7, 5), (6, 8), 3, 4),
    3: ((2, 3, 2), (5, 5, 5), (6, 6, 4), 2, 3),
}


GRID = list(itertools.product((1, 2, 3), (1, 2), (1, 2), ("valid", "same"), ("odd", "even")))


@pytest.mark.parametrize("rank,stride,dilation,padding,parity", GRID)
def test_matches_numpy_reference(rank, stride, dilation, padding, parity):
    ksize, odd, even, c, f = SHAPES[rank]
    spatial = odd if parity == "odd" else even
    rng = np.random.default_rng(rank * 100 + stride * 10 + dilation)
    x = rng.standard_normal((2, *spatial, c))
    w = rng.standard_normal((*ksize, c, f))
    b = rng.standard_normal(f)
    strides, dil = (stride,) * rank, (dilation,) * rank
    if padding == "same":
        pad_before, pad_after = keras_same(spatial, ksize, strides, dil)
    else:
        pad_before = pad_after = (0,) * rank
    check_against_reference(x, w, b, strides, dil, pad_before, pad_after)


@pytest.mark.parametrize("strides,dilation,pad_before,pad_after", [
    ((1, 2), (2, 1), (3, 0), (0, 2)),    # uneven padding wider than the kernel, strides with dilation
    ((3, 2), (1, 1), (1, 2), (2, 1)),    # stride larger than the kernel
    ((2, 2), (1, 1), (0, 0), (1, 1)),    # padding only at the end, the Keras 'same' stride-2 case
])
def test_explicit_uneven_padding(strides, dilation, pad_before, pad_after):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 7, 2))
    w = rng.standard_normal((2, 3, 2, 5))
    check_against_reference(x, w, None, strides, dilation, pad_before, pad_after)


@pytest.mark.parametrize("strides,pad", [((1, 1), (0, 0)), ((2, 1), (0, 0)), ((1, 1), (1, 0))])
def test_one_by_one_kernels(strides, pad):
    """The 1x1 stride-1 unpadded case skips im2col; the others go through it."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 4, 3))
    w = rng.standard_normal((1, 1, 3, 6))
    check_against_reference(x, w, rng.standard_normal(6), strides, (1, 1), pad, pad)


@pytest.mark.parametrize("vector", [True, False])
def test_blocked_training_route_gives_the_same_result(vector, monkeypatch):
    """Columns too large to keep: the training forward and the weight gradient build them in blocks
    (one sample per block with a tiny block budget) instead of keeping the whole matrix."""
    monkeypatch.setitem(blas._STATE, "vector", vector)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 6, 6, 2))
    w = rng.standard_normal((3, 3, 2, 13))  # 13 filters: past the direct route
    b = rng.standard_normal(13)
    geometry = ((2, 2), (1, 1), (1, 1), (1, 1))

    def train(x, w, b):
        y, cols = conv.conv_forward(x, w, b, *geometry, return_cols=True)
        g = np.cos(y)
        dw = conv.conv_backward_weights(x, g, w.shape[:-2], *geometry, cols=cols)
        return y, cols, dw

    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        args = [a.astype(dtype) for a in (x, w, b)]
        monkeypatch.setattr(conv, "_KEEP_COLS_BYTES", 1 << 30)
        y, cols, dw = train(*args)
        assert cols is not None
        monkeypatch.setattr(conv, "_KEEP_COLS_BYTES", 64)
        monkeypatch.setattr(conv, "_BLOCK_FLOATS", 1)
        y_blocked, no_cols, dw_blocked = train(*args)
        assert no_cols is None
        np.testing.assert_allclose(y_blocked, y, rtol=tol, atol=tol)
        np.testing.assert_allclose(dw_blocked, dw, rtol=tol, atol=tol)
    check_against_reference(x, w, b, *geometry)


@pytest.mark.parametrize("vector", [True, False])  # float32 products on vector_gemm, or on the BLAS
@pytest.mark.parametrize("filters", [None, 20])  # 20: past the direct route, and 16 + 4 columns
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_float32_close_to_float64(rank, filters, vector, monkeypatch):
    monkeypatch.setitem(blas._STATE, "vector", vector)
    ksize, spatial, _, c, f = SHAPES[rank]
    f = filters or f
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, *spatial, c))
    w = rng.standard_normal((*ksize, c, f))
    g = rng.standard_normal(np_conv(x, w, None, (1,) * rank, (1,) * rank, (1,) * rank, (1,) * rank).shape)
    geometry = ((1,) * rank, (1,) * rank, (1,) * rank, (1,) * rank)
    exact = run_all(x, w, None, g, *geometry)
    single = run_all(x.astype(np.float32), w.astype(np.float32), None, g.astype(np.float32), *geometry)
    for a, b in zip(exact, single):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [2, 1])  # 1: the direct weight gradient and col2im by runs
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_gradients_match_finite_differences(rank, stride):
    """Checks the kernels (and so the reference's gradients) against central differences."""
    ksize, spatial, _, c, f = SHAPES[rank]
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, *(s - 1 for s in spatial), c))
    w = rng.standard_normal((*ksize, c, f))
    b = rng.standard_normal(f)
    geometry = ((stride,) * rank, (1,) * rank, (1,) * rank, (0,) * rank)
    assert conv_direct.direct_applies(c, f, (1,) * (3 - rank) + ksize, (1,) * (3 - rank) + geometry[0],
                                      (0,) * (3 - rank) + geometry[2],
                                      (0,) * (3 - rank) + geometry[3]) is (stride == 1)
    g = rng.standard_normal(conv.conv_forward(x, w, b, *geometry).shape)

    def loss():
        return float(np.sum(conv.conv_forward(x, w, b, *geometry) * g))

    _, dx, dw, db = run_all(x, w, b, g, *geometry)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numeric_grad(loss, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, numeric_grad(loss, b), rtol=1e-6, atol=1e-7)


def test_output_shape_formula():
    assert conv.conv_output_shape((28, 28), (3, 3), (1, 1), (1, 1), (0, 0), (0, 0)) == (26, 26)
    assert conv.conv_output_shape((7,), (3,), (2,), (2,), (1,), (2,)) == (3,)


def test_kernel_larger_than_input_raises():
    x = np.zeros((1, 2, 5, 1))
    w = np.zeros((3, 3, 1, 1))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        conv.conv_forward(x, w, None, (1, 1), (1, 1), (0, 0), (0, 0))
    with pytest.raises(ValueError, match="does not match kernel"):
        conv.conv_forward(np.zeros((1, 5, 5, 2)), w, None, (1, 1), (1, 1), (0, 0), (0, 0))


def test_exported_through_ops():
    for name in conv.__all__:
        assert getattr(ops(), name) is getattr(conv, name)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("pads", [("valid", 0, 0), ("same-odd", 1, 1), ("same-even", 0, 1)])
def test_input_gradient_routes_agree(rank, dilation, pads):
    """Stride 1 with fewer filters than channels takes the flipped-kernel forward route; it must equal
    the col2im route (taken with the filters and channels the other way round, then compared to the
    NumPy reference)."""
    from numbacnn.kernels.cpu import conv as kc

    rng = np.random.default_rng(rank * 10 + dilation)
    k = 2 if pads[0] == "same-even" else 3
    shape = (2,) + (7,) * rank + (5,)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((k,) * rank + (5, 3))  # F=3 < C=5: the forward route
    before, after = (pads[1] * dilation,) * rank, (pads[2] * dilation,) * rank
    y = kc.conv_forward(x, w, None, None, (dilation,) * rank, before, after)
    g = rng.standard_normal(y.shape)
    dx = kc.conv_backward_input(g, w, x.shape, None, (dilation,) * rank, before, after)
    eps = 1e-6
    num = np.zeros_like(x)
    flat = x.reshape(-1)
    for i in range(0, flat.size, max(1, flat.size // 40)):
        old = flat[i]
        flat[i] = old + eps
        fp = np.sum(kc.conv_forward(x, w, None, None, (dilation,) * rank, before, after) * g)
        flat[i] = old - eps
        fm = np.sum(kc.conv_forward(x, w, None, None, (dilation,) * rank, before, after) * g)
        flat[i] = old
        num.reshape(-1)[i] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(dx.reshape(-1)[i], num.reshape(-1)[i], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("channels", [1, 3, 17])  # 17: a tap is a slice copy
@pytest.mark.parametrize("rank,stride,dilation,padding,parity", GRID)
def test_blocked_inference_route_matches_training_route(rank, stride, dilation, padding, parity, channels,
                                                        monkeypatch):
    """Inference builds its columns block by block (``_conv_blocked``, bias added in the blocks); it
    must equal the NumPy reference and the training route (one column matrix), also with
    blocks of a single output row and of more rows than the batch has."""
    ksize, odd, even, _, f = SHAPES[rank]
    spatial = odd if parity == "odd" else even
    rng = np.random.default_rng(rank * 100 + stride * 10 + dilation + channels)
    x = rng.standard_normal((3, *spatial, channels))
    w = rng.standard_normal((*ksize, channels, f))
    b = rng.standard_normal(f)
    strides, dil = (stride,) * rank, (dilation,) * rank
    if padding == "same":
        pad_before, pad_after = keras_same(spatial, ksize, strides, dil)
    else:
        pad_before = pad_after = (0,) * rank
    check_against_reference(x, w, b, strides, dil, pad_before, pad_after)
    trained, cols = conv.conv_forward(x, w, b, strides, dil, pad_before, pad_after, return_cols=True)
    assert cols is not None  # the training route keeps its column matrix
    for block in (1, 10 ** 9):
        monkeypatch.setattr(conv, "_BLOCK_FLOATS", block)
        np.testing.assert_allclose(conv.conv_forward(x, w, b, strides, dil, pad_before, pad_after),
                                   trained, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stretch", [1, 5, 10 ** 6])  # positions per task: one, part of a row, all
@pytest.mark.parametrize("rank,stride,dilation,padding,parity", [g for g in GRID if g[1] == 1])
def test_direct_route_matches_reference_and_blocked_route(rank, stride, dilation, padding, parity, stretch,
                                                          monkeypatch):
    """Stride 1 with few filters goes by direct loops over the padded grid (``conv_direct``): it must
    equal the NumPy reference and the blocked route, whatever the stretch of positions a task takes
    (stretches that end mid-row and mid-plane, on the dropped columns or on valid ones)."""
    ksize, odd, even, c, f = SHAPES[rank]
    spatial = odd if parity == "odd" else even
    rng = np.random.default_rng(rank * 100 + dilation + stretch)
    x = rng.standard_normal((3, *spatial, c))
    w = rng.standard_normal((*ksize, c, f))
    b = rng.standard_normal(f)
    dil = (dilation,) * rank
    pads = keras_same(spatial, ksize, (1,) * rank, dil) if padding == "same" else ((0,) * rank,) * 2
    geometry = conv._geometry(rank, ksize, None, dil, *pads)
    assert conv_direct.direct_applies(c, f, geometry[0], geometry[1], *geometry[3:])
    monkeypatch.setattr(conv_direct, "_ACC_FLOATS", stretch * f)
    direct = conv.conv_forward_infer(x, w, b, None, dil, *pads)
    np.testing.assert_allclose(direct, np_conv(x, w, b, (1,) * rank, dil, *pads), rtol=1e-10, atol=1e-10)
    monkeypatch.setattr(conv_direct, "_MAX_FILTERS", 0)
    np.testing.assert_allclose(direct, conv.conv_forward_infer(x, w, b, None, dil, *pads), rtol=1e-12,
                               atol=1e-12)


def test_direct_route_with_uneven_padding_and_float32(monkeypatch):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 6, 7, 2)).astype(np.float32)
    w = rng.standard_normal((2, 3, 2, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    geometry = ((1, 1), (2, 1), (3, 0), (0, 2))
    monkeypatch.setattr(conv_direct, "_ACC_FLOATS", 7 * 5)
    y = conv.conv_forward_infer(x, w, b, *geometry)
    assert y.dtype == np.float32
    ref = np_conv(x.astype(np.float64), w.astype(np.float64), b, *geometry)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rank,stride,dilation,padding,parity", [g for g in GRID if g[1] == 1])
def test_direct_training_route_keeps_the_padded_input_and_matches_reference(rank, stride, dilation, padding,
                                                                           parity, monkeypatch):
    """In training, few filters at stride 1 go direct both ways: the forward keeps the padded planar
    input instead of columns, and the weight gradient is dot products over it (``weights_direct``).
    Both must equal the NumPy reference and the im2col route; the gradient is the same with the kept
    input as without it."""
    ksize, odd, even, c, f = SHAPES[rank]
    spatial = odd if parity == "odd" else even
    rng = np.random.default_rng(rank * 10 + dilation)
    x = rng.standard_normal((3, *spatial, c))
    w = rng.standard_normal((*ksize, c, f))
    b = rng.standard_normal(f)
    dil = (dilation,) * rank
    pads = keras_same(spatial, ksize, (1,) * rank, dil) if padding == "same" else ((0,) * rank,) * 2
    y, kept = conv.conv_forward(x, w, b, None, dil, *pads, return_cols=True)
    padded = tuple(s + p + q for s, p, q in zip(spatial, *pads))
    assert kept.shape == (3, c) + (1,) * (3 - rank) + padded
    assert np.array_equal(y, conv.conv_forward_infer(x, w, b, None, dil, *pads))
    np.testing.assert_allclose(y, np_conv(x, w, b, (1,) * rank, dil, *pads), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(y.shape)
    dw = conv.conv_backward_weights(x, g, ksize, None, dil, *pads, cols=kept)
    np.testing.assert_allclose(dw, np_conv_grads(x, w, g, (1,) * rank, dil, *pads)[1], rtol=1e-10, atol=1e-10)
    assert np.array_equal(dw, conv.conv_backward_weights(x, g, ksize, None, dil, *pads))
    monkeypatch.setattr(conv_direct, "_MAX_FILTERS", 0)
    y2, cols = conv.conv_forward(x, w, b, None, dil, *pads, return_cols=True)
    assert cols.shape == (g[..., 0].size, w[..., 0].size)
    np.testing.assert_allclose(conv.conv_backward_weights(x, g, ksize, None, dil, *pads, cols=cols), dw,
                               rtol=1e-12, atol=1e-12)


def test_direct_weight_gradient_float32_lenet_shape():
    """LeNet-5's first layer in float32: the sample sums run in float32 vector lanes, the samples are
    added in float64, so the gradient stays within float32 rounding of the float64 reference."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 28, 28, 1)).astype(np.float32)
    w = rng.standard_normal((5, 5, 1, 6)).astype(np.float32)
    pads = ((2, 2), (2, 2))
    y, kept = conv.conv_forward(x, w, None, None, None, *pads, return_cols=True)
    assert kept.ndim == 5
    g = rng.standard_normal(y.shape).astype(np.float32)
    dw = conv.conv_backward_weights(x, g, (5, 5), None, None, *pads, cols=kept)
    assert dw.dtype == np.float32
    ref = np_conv_grads(x.astype(np.float64), w.astype(np.float64), g.astype(np.float64), (1, 1), (1, 1),
                        *pads)[1]
    np.testing.assert_allclose(dw, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_direct_weight_gradient_rejects_a_foreign_kept_input():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 6, 6, 1))
    g = rng.standard_normal((2, 6, 6, 4))
    with pytest.raises(ValueError, match=r"cols \(2, 1, 1, 7, 7\) are not the padded planar input"):
        conv.conv_backward_weights(x, g, (3, 3), None, None, (1, 1), (1, 1), cols=np.zeros((2, 1, 1, 7, 7)))


@pytest.mark.parametrize("c", [1, 6, 15])
@pytest.mark.parametrize("spatial,ksize,strides,pad", [
    ((1, 14, 14), (1, 5, 5), (1, 1, 1), (0, 0, 0)),   # LeNet-5's second layer
    ((1, 9, 8), (1, 3, 3), (1, 1, 1), (0, 1, 1)),     # 'same': border windows on both sides
    ((1, 11, 12), (1, 5, 4), (1, 2, 3), (0, 2, 1)),   # strided, windows that skip pixels
    ((5, 6, 7), (2, 3, 3), (2, 1, 2), (1, 1, 2)),     # 3-D
    ((1, 3, 4), (1, 3, 5), (1, 1, 1), (0, 1, 2)),     # a kernel wider than the row: no inner window
])
def test_col2im_runs_is_col2im_to_the_bit(spatial, ksize, strides, pad, c):
    """Few channels: the input gradient adds each window's kw*C run at once, walking the output
    columns backwards so that every pixel sums its taps in the kernel's order, as ``_col2im_row`` does."""
    out = tuple((s + 2 * p - k) // st + 1 for s, k, st, p in zip(spatial, ksize, strides, pad))
    rng = np.random.default_rng(c + sum(spatial))
    cols = rng.standard_normal((2 * int(np.prod(out)), int(np.prod(ksize)) * c)).astype(np.float32)
    expected = np.full((2, *spatial, c), np.nan, dtype=np.float32)
    got = expected.copy()
    rows = 2 * spatial[0] * spatial[1]
    conv._col2im_rows(cols, expected, 0, rows, False, ksize, strides, (1, 1, 1), pad, out)
    conv._col2im_rows(cols, got, 0, rows, True, ksize, strides, (1, 1, 1), pad, out)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("shape", [(128, 28, 28, 6), (5, 3), (3, 6), (1, 1), (0, 4), (7, 33), (4, 5, 16)])
def test_bias_gradient_sums_whole_runs_and_the_tail(shape):
    """conv_backward_bias adds runs of lcm(F, 8) values lane by lane and the rows after the last run
    separately: the result is the float64 column sum, whatever is left over."""
    g = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    expected = g.reshape(-1, shape[-1]).astype(np.float64).sum(axis=0).astype(np.float32)
    np.testing.assert_allclose(conv.conv_backward_bias(g), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("c,f,ksize,strides,pads,expected", [
    (1, 6, (1, 5, 5), (1, 1, 1), (0, 2, 2), True),     # LeNet-5's first convolution
    (3, 12, (1, 3, 3), (1, 1, 1), (0, 1, 1), True),
    (6, 16, (1, 5, 5), (1, 1, 1), (0, 0, 0), False),   # its second: 16 filters, the product won
    (32, 8, (1, 3, 3), (1, 1, 1), (0, 1, 1), False),   # 288 taps x channels
    (1, 32, (1, 3, 3), (1, 1, 1), (0, 1, 1), False),   # 32 filters: the matrix product is faster
    (32, 16, (1, 3, 3), (1, 1, 1), (0, 1, 1), False),  # 288 taps x channels
    (3, 8, (1, 3, 3), (1, 2, 2), (0, 0, 0), False),    # strided
])
def test_direct_route_is_chosen_for_few_filters_and_channels(c, f, ksize, strides, pads, expected):
    assert conv_direct.direct_applies(c, f, ksize, strides, pads, pads) is expected


RELUS = {  # the fused activations, as (kind, p0, p1, p2): relu, leaky, capped with a threshold, tanh
    "linear": (ops().ACT_LINEAR, 0.0, 0.0, 0.0),
    "relu": (ops().ACT_RELU, 0.0, np.inf, 0.0),
    "leaky": (ops().ACT_RELU, 0.2, np.inf, 0.0),
    "capped": (ops().ACT_RELU, 0.0, 1.5, 0.25),
    "tanh": (ops().ACT_TANH, 0.0, 0.0, 0.0),
}


@pytest.mark.parametrize("act", sorted(RELUS))
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("case", ["1d-same-stride2", "2d-valid", "2d-same-dilated", "2d-pointwise",
                                  "3d-same", "2d-many-channels"])
def test_fused_inference_is_bit_identical_to_the_separate_kernels(case, affine, act, monkeypatch):
    """conv_forward_infer = conv_forward, then inference batch-norm, then the activation, to the bit
    (float32), whatever the block size."""
    spatial, ksize, c, f, strides, dil, same = {
        "1d-same-stride2": ((9,), (3,), 3, 4, (2,), (1,), True),
        "2d-valid": ((7, 6), (3, 3), 1, 5, (1, 1), (1, 1), False),
        "2d-same-dilated": ((7, 6), (3, 2), 3, 4, (1, 1), (2, 1), True),
        "2d-pointwise": ((4, 5), (1, 1), 3, 6, (1, 1), (1, 1), False),
        "3d-same": ((4, 5, 3), (2, 3, 2), 2, 3, (1, 1, 1), (1, 1, 1), True),
        "2d-many-channels": ((6, 6), (3, 3), 17, 8, (1, 1), (1, 1), True),
    }[case]
    rng = np.random.default_rng(len(case) + c)
    x = rng.standard_normal((3, *spatial, c)).astype(np.float32)
    w = rng.standard_normal((*ksize, c, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    pads = keras_same(spatial, ksize, strides, dil) if same else ((0,) * len(spatial),) * 2
    k = ops()
    scale = shift = None
    if affine:
        gamma, beta = rng.random(f).astype(np.float32) + 0.5, rng.standard_normal(f).astype(np.float32)
        mean, var = rng.standard_normal(f).astype(np.float32), rng.random(f).astype(np.float32) + 0.1
        scale, shift = k.batchnorm_infer_affine(gamma, beta, mean, var, 1e-3, np.float32)
    for block in (1, 10 ** 9):  # the product's blocking changes its summation order: both routes share it
        monkeypatch.setattr(conv, "_BLOCK_FLOATS", block)
        expected = conv.conv_forward(x, w, b, strides, dil, *pads)
        if affine:
            rows = expected.reshape(-1, f)
            expected = k.batchnorm_forward_infer(rows, gamma, beta, mean, var, 1e-3).reshape(expected.shape)
        expected = k.activation_forward(expected, *RELUS[act])
        fused = conv.conv_forward_infer(x, w, b, strides, dil, *pads, scale=scale, shift=shift,
                                        activation=RELUS[act])
        assert fused.dtype == np.float32 and fused.shape == expected.shape
        assert np.array_equal(fused, expected), np.abs(fused - expected).max()


@pytest.mark.parametrize("act", sorted(RELUS))
@pytest.mark.parametrize("case", ["2d-same-stride2", "2d-pointwise", "3d-valid"])
def test_training_forward_applies_bias_and_relu_in_one_pass(case, act):
    """conv_forward(return_cols=True, activation=...) = conv_forward then activation_forward, to the bit,
    and the columns are the same."""
    spatial, ksize, c, f, strides, same = {
        "2d-same-stride2": ((7, 6), (3, 3), 3, 20, (2, 1), True),
        "2d-pointwise": ((4, 5), (1, 1), 3, 6, (1, 1), False),
        "3d-valid": ((4, 5, 3), (2, 3, 2), 2, 17, (1, 1, 1), False),
    }[case]
    rng = np.random.default_rng(len(case))
    x = rng.standard_normal((3, *spatial, c)).astype(np.float32)
    w = rng.standard_normal((*ksize, c, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    dil = (1,) * len(spatial)
    pads = keras_same(spatial, ksize, strides, dil) if same else ((0,) * len(spatial),) * 2
    z, cols = conv.conv_forward(x, w, b, strides, dil, *pads, return_cols=True)
    expected = ops().activation_forward(z, *RELUS[act])
    fused, fused_cols = conv.conv_forward(x, w, b, strides, dil, *pads, return_cols=True,
                                          activation=RELUS[act])
    assert np.array_equal(fused, expected)
    assert (cols is None and fused_cols is None) or np.array_equal(cols, fused_cols)
    assert np.array_equal(conv.conv_forward(x, w, b, strides, dil, *pads, activation=RELUS[act]),
                          conv.conv_forward_infer(x, w, b, strides, dil, *pads, activation=RELUS[act]))


def np_max_pool(y, pool):
    """Max over windows that are their own strides, no padding (the trailing cells no window covers
    are dropped); NaN wins."""
    rank = len(pool)
    out = tuple(o // p for o, p in zip(y.shape[1:-1], pool))
    y = y[(slice(None), *(slice(0, o * p) for o, p in zip(out, pool)))]
    split = (y.shape[0], *(v for o, p in zip(out, pool) for v in (o, p)), y.shape[-1])
    return y.reshape(split).max(axis=tuple(2 + 2 * i for i in range(rank)))


POOLED = {  # spatial, kernel, C, F, strides, same padding, pool: the convolution's output has odd sizes
    "1d-blocked": ((11,), (3,), 3, 20, (1,), True, (2,)),
    "2d-blocked": ((9, 8), (3, 3), 3, 20, (1, 1), False, (2, 3)),
    "2d-blocked-strided": ((11, 9), (3, 2), 2, 18, (2, 1), True, (2, 2)),
    "3d-blocked": ((5, 6, 5), (2, 3, 2), 2, 20, (1, 1, 1), True, (2, 2, 2)),
    "2d-direct": ((9, 7), (3, 3), 2, 5, (1, 1), True, (2, 2)),
    "2d-pointwise": ((5, 7), (1, 1), 3, 20, (1, 1), False, (2, 2)),
}


@pytest.mark.parametrize("block", [1, 10 ** 9])
@pytest.mark.parametrize("case", sorted(POOLED))
def test_max_pooling_in_the_epilogue_matches_the_separate_pooling(case, block, monkeypatch):
    """``conv_forward_infer(pool=...)`` = the convolution, relu and max pooling one after the other: on
    the blocked route the convolution's output is pooled in cache, on the others after. The blocks of
    the product differ from the unpooled call's, so in float32 a product's last bit may differ."""
    spatial, ksize, c, f, strides, same, pool = POOLED[case]
    monkeypatch.setattr(conv, "_BLOCK_FLOATS", block)
    rng = np.random.default_rng(len(case))
    x = rng.standard_normal((3, *spatial, c))
    w = rng.standard_normal((*ksize, c, f))
    b = rng.standard_normal(f)
    x[1, (0,) * len(spatial)] = np.nan  # one NaN input: every window whose taps reach it is NaN
    dil = (1,) * len(spatial)
    pads = keras_same(spatial, ksize, strides, dil) if same else ((0,) * len(spatial),) * 2
    relu = RELUS["relu"]
    pooled = conv.conv_forward_infer(x, w, b, strides, dil, *pads, activation=relu, pool=pool)
    full = conv.conv_forward_infer(x, w, b, strides, dil, *pads, activation=relu)
    expected = np_max_pool(full, pool)
    assert pooled.shape == expected.shape and pooled.dtype == x.dtype
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(np.isnan(pooled), np.isnan(expected))
    np.testing.assert_allclose(pooled, expected, rtol=1e-12, atol=1e-12)
    x32, w32, b32 = (a.astype(np.float32) for a in (x, w, b))
    pooled32 = conv.conv_forward_infer(x32, w32, b32, strides, dil, *pads, activation=relu, pool=pool)
    assert pooled32.dtype == np.float32
    np.testing.assert_allclose(pooled32, expected, rtol=2e-5, atol=2e-5)
    monkeypatch.setitem(blas._STATE, "vector", True)  # a row's product is the same bits in any block
    full32 = conv.conv_forward_infer(x32, w32, b32, strides, dil, *pads, activation=relu)
    pooled32 = conv.conv_forward_infer(x32, w32, b32, strides, dil, *pads, activation=relu, pool=pool)
    np.testing.assert_array_equal(pooled32, np_max_pool(full32, pool))


def np_avg_pool(y, pool):
    """Mean over windows that are their own strides, no padding (trailing cells dropped), in float64."""
    rank = len(pool)
    out = tuple(o // p for o, p in zip(y.shape[1:-1], pool))
    y = y[(slice(None), *(slice(0, o * p) for o, p in zip(out, pool)))].astype(np.float64)
    split = (y.shape[0], *(v for o, p in zip(out, pool) for v in (o, p)), y.shape[-1])
    return y.reshape(split).mean(axis=tuple(2 + 2 * i for i in range(rank)))


AVERAGED = dict(POOLED, **{  # the direct route also with windows other than 2 x 2, in 1-D, and too wide
    "2d-direct-2x3": ((9, 8), (3, 3), 2, 5, (1, 1), True, (2, 3)),
    "1d-direct": ((13,), (3,), 3, 6, (1,), True, (3,)),
    "2d-direct-lenet": ((28, 28), (5, 5), 1, 6, (1, 1), True, (2, 2)),
    "2d-direct-wide": ((3, 700), (3, 3), 1, 12, (1, 1), True, (2, 2)),  # one window row exceeds the block
})


@pytest.mark.parametrize("act", ["linear", "tanh", "relu"])
@pytest.mark.parametrize("case", sorted(AVERAGED))
def test_average_pooling_in_the_epilogue_matches_the_separate_pooling(case, act, monkeypatch):
    """``conv_forward_infer(pool=..., pool_average=True)`` = the convolution, its activation and
    ``pool_avg_forward`` one after the other: to the bit in float32 on vector_gemm (the direct route
    pools in its accumulator, the blocked one in its product's block), NaN spreading to its windows;
    in float64 within rounding."""
    spatial, ksize, c, f, strides, same, pool = AVERAGED[case]
    monkeypatch.setitem(blas._STATE, "vector", True)
    rng = np.random.default_rng(len(case))
    x = rng.standard_normal((2, *spatial, c)).astype(np.float32)
    w = rng.standard_normal((*ksize, c, f)).astype(np.float32) * 0.3
    b = rng.standard_normal(f).astype(np.float32)
    x[1, (0,) * len(spatial)] = np.nan
    dil = (1,) * len(spatial)
    pads = keras_same(spatial, ksize, strides, dil) if same else ((0,) * len(spatial),) * 2
    full = conv.conv_forward_infer(x, w, b, strides, dil, *pads, activation=RELUS[act])
    rank = len(spatial)
    out = (1,) * (3 - rank) + full.shape[1:-1]
    window = (1,) * (3 - rank) + pool
    pooled_size = tuple(o // p for o, p in zip(out, window))
    expected = ops().pool_avg_forward(full.reshape((2,) + out + (f,)), window, window, (0, 0, 0),
                                      pooled_size).reshape((2,) + pooled_size[3 - rank:] + (f,))
    pooled = conv.conv_forward_infer(x, w, b, strides, dil, *pads, activation=RELUS[act], pool=pool,
                                     pool_average=True)
    assert pooled.dtype == np.float32 and pooled.shape == expected.shape
    assert np.isnan(expected).any() and not np.isnan(expected).all()
    assert np.array_equal(pooled, expected, equal_nan=True), np.nanmax(np.abs(pooled - expected))
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    full64 = conv.conv_forward_infer(x64, w64, b64, strides, dil, *pads, activation=RELUS[act])
    pooled64 = conv.conv_forward_infer(x64, w64, b64, strides, dil, *pads, activation=RELUS[act], pool=pool,
                                       pool_average=True)
    np.testing.assert_allclose(pooled64, np_avg_pool(full64, pool), rtol=1e-12, atol=1e-12)


def test_direct_route_pools_in_its_accumulator(monkeypatch):
    """LeNet-5's first convolution with its pooling takes the direct route's pooled kernel, which does
    not write the convolution's output; a window row too wide for the accumulator falls back."""
    calls = []
    original = conv_direct._conv_planar_pooled
    monkeypatch.setattr(conv_direct, "_conv_planar_pooled", lambda *a: calls.append(a) or original(*a))
    tanh = RELUS["tanh"]
    x = np.zeros((2, 28, 28, 1), np.float32)
    conv.conv_forward_infer(x, np.ones((5, 5, 1, 6), np.float32), None, None, None, (2, 2), (2, 2),
                            activation=tanh, pool=(2, 2), pool_average=True)
    assert len(calls) == 1
    conv.conv_forward_infer(np.zeros((1, 3, 700, 1), np.float32), np.ones((3, 3, 1, 12), np.float32),
                            None, None, None, (1, 1), (1, 1), activation=tanh, pool=(2, 2))
    assert len(calls) == 1


@pytest.mark.parametrize("cell", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_max_pooling_in_the_epilogue_lets_nan_win_from_any_cell(cell):
    """A 1x1 kernel at stride (1, 2) (the blocked route): input (r, 2c) is output (r, c) only, so a NaN
    placed there is one cell of one window, first or not."""
    x = np.random.default_rng(1).random((2, 6, 8, 3)).astype(np.float32)
    x[1, 2 + cell[0], 2 * (2 + cell[1])] = np.nan
    w = np.ones((1, 1, 3, 20), np.float32)
    y = conv.conv_forward_infer(x, w, None, (1, 2), None, (0, 0), (0, 0), pool=(2, 2))
    nan = np.zeros(y.shape, bool)
    nan[1, 1, 1] = True
    np.testing.assert_array_equal(np.isnan(y), nan)


def test_max_pooling_in_the_epilogue_refuses_bad_windows():
    x = np.ones((1, 5, 5, 2), np.float32)
    w = np.ones((3, 3, 2, 20), np.float32)
    with pytest.raises(ValueError, match=r"pool \(4, 1\) is larger than the convolution's output \(3, 3\)"):
        conv.conv_forward_infer(x, w, pool=(4, 1))
    with pytest.raises(ValueError, match="pool must be 2 sizes >= 1"):
        conv.conv_forward_infer(x, w, pool=(2,))


def test_fused_inference_refuses_what_it_cannot_apply():
    x = np.ones((1, 4, 4, 2), np.float32)
    w = np.ones((3, 3, 2, 3), np.float32)
    with pytest.raises(ValueError, match="activation kind .* not one"):
        conv.conv_forward_infer(x, w, activation=(ops().ACT_SIGMOID, 0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="scale and shift go together"):
        conv.conv_forward_infer(x, w, scale=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="bias has 2 values for 3 filters"):
        conv.conv_forward_infer(x, w, np.ones(2, np.float32))
    with pytest.raises(ValueError, match="scale has 4 values for 3 filters"):
        conv.conv_forward_infer(x, w, scale=np.ones(4, np.float32), shift=np.ones(4, np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,pool,pads", [
    ((3, 9, 11, 3), (3, 3, 3, 20), (2, 2), ((0, 0), (0, 0))),    # blocked route, odd rows left out
    ((2, 8, 8, 5), (3, 3, 5, 17), (2, 3), ((1, 1), (1, 1))),     # 'same', windows 2 x 3
    ((2, 7, 7, 7, 2), (2, 2, 2, 2, 16), (2, 2, 2), ((0,) * 3, (0,) * 3)),  # 3-D
    ((2, 13, 4), (3, 4, 16), (3,), ((1,), (1,))),                # 1-D
    ((2, 8, 8, 2), (3, 3, 2, 4), (2, 2), ((0, 0), (0, 0))),      # 4 filters: the direct route
])
def test_training_forward_pooled_is_forward_then_max_pooling(dtype, xs, ws, pool, pads):
    """conv_forward_pooled = conv_forward with the relu, then pool_max_forward: the same values, the
    same argmax, NaN winning its windows; the blocked route keeps no columns."""
    rng = np.random.default_rng(len(xs))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[-1]).astype(dtype)
    x.flat[5] = np.nan
    relu = RELUS["relu"]
    y, argmax, cols = conv.conv_forward_pooled(x, w, b, None, None, *pads, activation=relu, pool=pool)
    full, kept = conv.conv_forward(x, w, b, None, None, *pads, return_cols=True, activation=relu)
    rank, f = w.ndim - 2, ws[-1]
    out = (1,) * (3 - rank) + full.shape[1:-1]
    window = (1,) * (3 - rank) + pool
    pooled = tuple(o // p for o, p in zip(out, window))
    expected, expected_arg = pool_max_forward(full.reshape((xs[0],) + out + (f,)), window, window, (0, 0, 0),
                                              pooled)
    assert np.isnan(expected).any()
    np.testing.assert_array_equal(y.reshape(expected.shape), expected)
    np.testing.assert_array_equal(argmax, expected_arg)
    assert (cols is None) == (f > 12)


def test_training_forward_pooled_refuses_bad_windows():
    x = np.ones((1, 5, 5, 1), np.float32)
    w = np.ones((3, 3, 1, 13), np.float32)
    with pytest.raises(ValueError, match=r"conv_forward_pooled: pool \(4, 4\) is larger than the "
                                         r"convolution's output \(3, 3\)"):
        conv.conv_forward_pooled(x, w, pool=(4, 4))
    with pytest.raises(ValueError, match=r"conv_forward_pooled: pool must be 2 sizes >= 1, received \(2,\)"):
        conv.conv_forward_pooled(x, w, pool=(2,))
