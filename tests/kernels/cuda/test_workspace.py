"""The device scratch-buffer pool: the CPU pool's contract on device arrays."""

import numpy as np
from numba import cuda

from numbacnn.kernels.cpu import workspace as cpu_ws
from numbacnn.kernels.cuda import launch
from numbacnn.kernels.cuda import workspace as ws


def test_the_public_api_is_the_cpu_one(same_api):
    same_api(cpu_ws, ws)


def test_a_given_back_buffer_is_reused_and_views_return_their_base():
    a = ws.workspace_take((64, 9), np.float32)
    assert launch.is_device_array(a) and a.shape == (64, 9)
    ws.workspace_give(a.reshape(9, 64))  # a reshaped view gives its base back
    assert ws.workspace_take((64, 9), np.float32) is a
    ws.workspace_give(a.reshape(-1))
    assert ws.workspace_take((64, 9), np.float32) is a
    assert ws.workspace_take((64, 9), np.float64).dtype == np.float64  # keyed by dtype too


def test_giving_twice_does_not_hand_one_buffer_to_two_takers():
    a = ws.workspace_take((32, 5), np.float32)
    ws.workspace_give(a)
    ws.workspace_give(a)
    ws.workspace_give(a.reshape(5, 32))
    first, second = ws.workspace_take((32, 5), np.float32), ws.workspace_take((32, 5), np.float32)
    assert first is not second


def test_other_device_arrays_are_pooled_if_contiguous():
    ws.workspace_give(None)
    b = cuda.device_array((7, 3), dtype=np.float32)
    ws.workspace_give(b[:, :2])  # a strided view of a foreign array: not a buffer
    assert ws.workspace_take((7, 2), np.float32) is not b
    ws.workspace_give(b)
    assert ws.workspace_take((7, 3), np.float32) is b


def test_the_pool_stays_under_its_byte_limit(monkeypatch):
    monkeypatch.setattr(ws, "MAX_BYTES", 10_000)
    monkeypatch.setattr(ws, "_free", type(ws._free)())
    for rows in range(1, 20):  # 400 to 7600 bytes each
        ws.workspace_give(cuda.device_array((rows, 100), dtype=np.float32))
    assert 0 < sum(b.nbytes for group in ws._free.values() for b in group) <= 10_000
