"""numbacnn.kernels.cuda.dense against its CPU twin (numbacnn.kernels.cpu.dense) on the same host data."""

import numpy as np
import pytest
from numba import cuda

from numbacnn.kernels.cpu import dense as cpu
from numbacnn.kernels.cuda import dense

F32 = {"rtol": 1e-5, "atol": 1e-5}
F64 = {"rtol": 1e-12, "atol": 1e-12}


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("use_bias", [False, True])
def test_dense_forward(use_bias):
    x, w, b = rand(5, 7), rand(7, 3, seed=1), rand(3, seed=2) if use_bias else None
    y = dense.dense_forward(cuda.to_device(x), cuda.to_device(w), None if b is None else cuda.to_device(b))
    assert y.shape == (5, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y.copy_to_host(), cpu.dense_forward(x, w, b), **F32)


@pytest.mark.parametrize("with_dw, with_db, need_dx", [(True, True, True), (True, False, False),
                                                        (False, True, True), (False, False, True)])
def test_dense_backward_accumulates(with_dw, with_db, need_dx):
    """dw and db are added into (not overwritten); a missing one stays untouched; need_dx False -> None."""
    x, w, g = rand(5, 7), rand(7, 3, seed=1), rand(5, 3, seed=2)
    dw0, db0 = rand(7, 3, seed=3), rand(3, seed=4)
    dw_ref, db_ref = dw0.copy(), db0.copy()
    dx_ref = cpu.dense_backward(x, w, g, dw_ref if with_dw else None, db_ref if with_db else None, need_dx)
    dw, db = cuda.to_device(dw0), cuda.to_device(db0)
    dx = dense.dense_backward(*(cuda.to_device(a) for a in (x, w, g)), dw if with_dw else None,
                              db if with_db else None, need_dx=need_dx)
    if need_dx:
        assert dx.shape == (5, 7)
        np.testing.assert_allclose(dx.copy_to_host(), dx_ref, **F32)
    else:
        assert dx is None
    np.testing.assert_allclose(dw.copy_to_host(), dw_ref, **F32)
    np.testing.assert_allclose(db.copy_to_host(), db_ref, **F32)
    if not with_dw:
        np.testing.assert_array_equal(dw.copy_to_host(), dw0)


def test_dense_float64():
    x, w, b, g = (rand(4, 6, dtype=np.float64), rand(6, 3, dtype=np.float64, seed=1),
                  rand(3, dtype=np.float64, seed=2), rand(4, 3, dtype=np.float64, seed=3))
    dw_ref, db_ref = np.ones((6, 3)), np.ones(3)
    y_ref = cpu.dense_forward(x, w, b)
    dx_ref = cpu.dense_backward(x, w, g, dw_ref, db_ref)
    dev = [cuda.to_device(a) for a in (x, w, b, g)]
    dw, db = cuda.to_device(np.ones((6, 3))), cuda.to_device(np.ones(3))
    y = dense.dense_forward(*dev[:3])
    dx = dense.dense_backward(dev[0], dev[1], dev[3], dw, db)
    assert y.dtype == np.float64 and dx.dtype == np.float64
    for got, ref in [(y, y_ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)]:
        np.testing.assert_allclose(got.copy_to_host(), ref, **F64)
