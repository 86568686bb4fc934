"""Choosing the device: numbacnn.set_device, compile(device=...), weights moving with it, and the clear
error where there is no GPU (in a subprocess with the simulator off: this machine has no CUDA driver)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numbacnn
from numbacnn import backend, kernels, layers, models

NO_GPU = "no CUDA GPU found; use device='cpu' ("


def dense_model():
    backend.seed(0)
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_set_device_refuses_unknown_names():
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda', received 'gpu'"):
        numbacnn.set_device("gpu")
    with pytest.raises(ValueError, match="compile\\(device='tpu'\\): device must be 'cpu' or 'cuda'"):
        dense_model().compile(optimizer="sgd", loss="mse", device="tpu")
    assert numbacnn.get_device() == "cpu"


def test_set_device_selects_the_cuda_kernels(cuda):
    assert numbacnn.set_device is backend.set_device
    assert numbacnn.get_device() == "cuda"
    assert kernels.ops() is kernels.cuda
    numbacnn.set_device("cpu")
    assert kernels.ops() is kernels.cpu


def test_compile_on_cuda_moves_the_weights_and_they_come_back_for_the_cpu(cuda):
    backend.set_device("cpu")
    model = dense_model()
    x = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    expected = model.predict(x, verbose=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cuda")
    assert backend.get_device() == "cuda"
    assert all(not isinstance(a, np.ndarray) for w in model.weights for a in (w.value, w.grad))
    predicted = model.predict(x, verbose=0)
    assert isinstance(predicted, np.ndarray)
    np.testing.assert_allclose(predicted, expected, rtol=0, atol=1e-6)
    backend.set_device("cpu")
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)  # the weights moved back, unchanged
    assert all(isinstance(a, np.ndarray) for w in model.weights for a in (w.value, w.grad))


def test_layers_and_models_called_on_cuda(cuda):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    backend.set_device("cpu")
    expected = dense_model()(x)
    backend.set_device("cuda")
    model = dense_model()  # built while 'cuda' is the device: its weights are created there
    assert not isinstance(model.weights[0].value, np.ndarray)
    y = model(x)  # host in, host out
    assert isinstance(y, np.ndarray)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-6)
    on_device = model(kernels.ops().to_device(x))  # device in, device out
    assert not isinstance(on_device, np.ndarray)
    np.testing.assert_allclose(kernels.ops().to_host(on_device), expected, rtol=0, atol=1e-6)
    layer = layers.Dense(2, kernel_initializer="ones")
    sums = x.sum(axis=1, keepdims=True) * np.ones((1, 2))
    np.testing.assert_allclose(layer(x), sums, rtol=1e-6)
    on_device = layer(kernels.ops().to_device(x))
    assert not isinstance(on_device, np.ndarray)
    np.testing.assert_allclose(kernels.ops().to_host(on_device), sums, rtol=1e-6)


def test_no_gpu_is_a_clear_error_when_the_device_is_chosen(no_gpu):
    script = """
import numbacnn as nc
from numbacnn import applications
try:
    nc.set_device("cuda")
except RuntimeError as err:
    print("set_device:", err)
print("device:", nc.get_device())
model = applications.lenet5()
try:
    model.compile("adam", "sparse_categorical_crossentropy", device="cuda")
except RuntimeError as err:
    print("compile:", err)
print("compiled:", model.optimizer is not None, nc.get_device())
"""
    proc = no_gpu("-c", script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("set_device: " + NO_GPU) and lines[0].endswith(")")
    assert lines[1:2] == ["device: cpu"]
    assert lines[2].startswith("compile: " + NO_GPU)
    assert lines[3:] == ["compiled: False cpu"]
    assert "Traceback" not in proc.stderr


def test_cli_device_cuda_without_gpu_exits_2_with_one_line(no_gpu):
    proc = no_gpu("-m", "numbacnn", "train", "--device", "cuda")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("numbacnn train: error: no CUDA GPU found; use --device cpu (")


def test_a_kernel_compiler_that_cannot_load_is_named_before_any_kernel_runs(monkeypatch):
    """numba-cuda 0.30.4 loads its compiler only at the first kernel, and with numpy 2.5 that load fails
    (np.row_stack is gone): the device check tries the load up front and names numpy's version."""
    from numba import cuda

    monkeypatch.setattr(cuda, "is_available", lambda: True)
    monkeypatch.setattr(backend.cuda_config(), "ENABLE_CUDASIM", 0)
    monkeypatch.setitem(sys.modules, "numba.cuda.cudaimpl", None)  # its import raises ImportError
    reason = backend.cuda_unavailable_reason()
    assert reason.startswith(f"numba-cuda cannot compile kernels with numpy {np.__version__} (")
    assert "pip install 'numbacnn[cuda]'" in reason
    with pytest.raises(RuntimeError, match=r"no CUDA GPU found; use device='cpu' \(numba-cuda cannot"):
        numbacnn.set_device("cuda")
    assert numbacnn.get_device() == "cpu"


@pytest.mark.parametrize("asked, expected", [(None, "0"), ("1", "1")])
def test_numba_cudas_low_occupancy_warnings_are_off_unless_asked_for(asked, expected):
    """Small grids are deliberate (bias sums, a batch of one): numba-cuda's per-launch warning would
    interleave with fit()'s progress bar. NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS set by the user is kept."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS"}
    if asked is not None:
        env["NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS"] = asked
    code = ("import os, numbacnn.kernels.cuda.launch; from numbacnn.backend import cuda_config; "
            "print(cuda_config().CUDA_LOW_OCCUPANCY_WARNINGS, "
            "os.environ['NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == [expected, expected], out.stderr
