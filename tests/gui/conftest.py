"""Fixtures of the visual debugger's tests: a private Xvfb server and a tiny IDX data set."""

import importlib.util
import os
import select
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from numbacnn.datasets import mnist

REPO = Path(__file__).resolve().parents[2]
TRAIN, TEST = 64, 32
"""Samples in the tiny data set: 4 batches of 16 per epoch, 32 for validation."""


def _idx(array, path):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    Path(path).write_bytes(header + array.astype(np.uint8).tobytes())


def tiny_images(n, rng):
    """``n`` 28x28 images whose class (0..9) is a bright bar at a class-dependent place, plus noise."""
    y = np.arange(n) % 10
    x = rng.integers(0, 60, size=(n, 28, 28))
    for i, c in enumerate(y):
        row = 2 + 2 * c
        x[i, row:row + 3, 4:24] = 230
    return x.astype(np.uint8), y.astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A directory holding a Fashion-MNIST-shaped IDX data set: 64 training and 32 test images."""
    root = tmp_path_factory.mktemp("tiny_idx")
    rng = np.random.default_rng(0)
    arrays = (*tiny_images(TRAIN, rng), *tiny_images(TEST, rng))
    for stem, array in zip(mnist.IDX_FILES, arrays):
        _idx(array, root / stem)
    return root


@pytest.fixture(scope="session")
def xvfb():
    """DISPLAY of a private Xvfb server (1280x800x24) on a free display that Xvfb picks (-displayfd)."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb xauth xdotool libgl1-mesa-dri)")
    if importlib.util.find_spec("dearpygui") is None:
        pytest.skip('DearPyGui is not installed: pip install -e ".[gui]"')
    read_end, write_end = os.pipe()
    command = [exe, "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"]
    proc = subprocess.Popen(command, pass_fds=(write_end,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 20)
        number = os.read(read_end, 32).decode().strip() if ready else ""
        if not number.isdigit():
            raise RuntimeError("Xvfb did not report its display number within 20 s")
        yield f":{number}"
    finally:
        os.close(read_end)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def gui_env(xvfb):
    """Environment for a GUI subprocess: this test's Xvfb display, the repository importable."""
    env = dict(os.environ, DISPLAY=xvfb, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                                                 os.environ.get("PYTHONPATH")])))
    env.pop("WAYLAND_DISPLAY", None)
    return env
