"""The scratch-buffer pool behind the im2col matrices."""

import numpy as np

from numbacnn.kernels.cpu import workspace as ws


def test_a_given_back_buffer_is_reused_and_views_return_their_base():
    a = ws.workspace_take((64, 9), np.float32)
    ws.workspace_give(a.T)  # a transposed view gives its base back
    b = ws.workspace_take((64, 9), np.float32)
    assert b is a
    assert ws.workspace_take((64, 9), np.float64).dtype == np.float64  # keyed by dtype too


def test_giving_twice_does_not_hand_one_buffer_to_two_takers():
    a = ws.workspace_take((32, 5), np.float32)
    ws.workspace_give(a)
    ws.workspace_give(a)
    first, second = ws.workspace_take((32, 5), np.float32), ws.workspace_take((32, 5), np.float32)
    assert first is not second


def test_the_pool_stays_under_its_byte_limit(monkeypatch):
    monkeypatch.setattr(ws, "MAX_BYTES", 10_000)
    monkeypatch.setattr(ws, "_free", type(ws._free)())
    for rows in range(1, 30):
        ws.workspace_give(np.empty((rows, 100), np.float32))
    assert sum(b.nbytes for group in ws._free.values() for b in group) <= 10_000


def test_a_conv_layer_gives_its_columns_back_after_backward():
    from numbacnn.layers import Conv2D

    layer = Conv2D(2, 3)
    x = np.random.default_rng(0).random((2, 6, 6, 3), dtype=np.float32)
    y = layer(x, training=True)
    cols = layer._cache[3]
    assert cols is not None
    layer.backward(np.ones_like(y))
    assert layer._cache[3] is None
    layer(x, training=True)
    assert layer._cache[3] is cols  # the same buffer served the next batch
