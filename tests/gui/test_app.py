"""The debugger's window under a private Xvfb: buttons drive training, views follow, capture, clean close.

Every GUI runs in a subprocess: DearPyGui aborts the process it runs in when it cannot start.
"""

import ctypes
import ctypes.util
import json
import os
import queue
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from gui import layout

REPO = Path(__file__).resolve().parents[2]
TEST = 32
"""Validation images in the tiny data set (see conftest.tiny_data)."""

TINY = ["--dataset", "fashion_mnist", "--model", "lenet5", "--batch-size", "16"]


def run_python(args, env, timeout=1800):
    """``python args...`` in the repository; the CompletedProcess (text)."""
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def read_png(path):
    """Decode an 8-bit RGB or RGBA PNG into a (H, W, C) uint8 array (enough for DearPyGui's screenshots)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG layout {header}"
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for r in range(height):
        kind, line = raw[r * (stride + 1)], raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)]
        row = bytearray(line)
        if kind == 2:
            row = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind in (1, 3, 4):
            for i in range(stride):
                left = row[i - channels] if i >= channels else 0
                up_left = prev[i - channels] if i >= channels else 0
                if kind == 1:
                    pred = left
                elif kind == 3:
                    pred = (left + prev[i]) >> 1
                else:
                    p = left + prev[i] - up_left
                    pa, pb, pc = abs(p - left), abs(p - prev[i]), abs(p - up_left)
                    pred = left if pa <= pb and pa <= pc else prev[i] if pb <= pc else up_left
                row[i] = (line[i] + pred) & 255
        out[r * stride:(r + 1) * stride] = row
        prev = row
    return np.frombuffer(bytes(out), np.uint8).reshape(height, width, channels)


def test_without_a_display_it_says_so_and_exits_1():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = run_python(["-m", "gui"], env, timeout=60)
    assert result.returncode == 1
    assert "no display: set DISPLAY or run under xvfb-run" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_display_that_does_not_open_is_reported_too():
    if ctypes.util.find_library("X11") is None:
        pytest.skip("libX11 is not installed, so the display cannot be checked before DearPyGui starts")
    number = next(n for n in range(500, 600) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    env = dict(os.environ, DISPLAY=f":{number}")
    result = run_python(["-m", "gui"], env, timeout=60)
    assert result.returncode == 1
    assert f"cannot open display ':{number}'" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def scenario(tiny_data, gui_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    result = run_python([str(REPO / "tests" / "gui" / "scenario.py"), str(tiny_data), str(out)], gui_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return json.loads((out / "report.json").read_text()), out


def test_buttons_step_and_every_view_follows(scenario):
    report, out = scenario
    assert report["ready_status"].startswith("Ready: lenet5 on 64 fashion_mnist images")
    assert report["after_batches"] == {"loss_batch": 3, "acc_train": 0, "weight_norm_y/conv2d": 3}
    # Step epoch finished epoch 1 (4 batches of 16) with validation and the confusion matrix
    assert report["after_epoch"] == {"loss_batch": 4, "acc_running": 4, "acc_train": 1, "acc_val": 1,
                                     "loss_train": 1, "loss_val": 1, "weight_norm_y/conv2d": 4,
                                     "grad_norm_y/dense_2": 4}
    assert report["epoch_x"] == [1.0]
    assert report["confusion_cells"] == 100 and report["confusion_total"] == TEST
    assert report["status"].startswith("Epoch 1/2 done")
    assert report["table_rows"] == 8 and report["feature_maps"] == 2 * 8   # a title and maps per layer
    assert report["filter_layers"] == ["conv2d", "conv2d_1"]
    assert report["changed"] == {"('filters', 'conv2d')": True, "('activation', 'conv2d')": True,
                                 "input": False}
    assert sum(report["probabilities"]) == pytest.approx(1.0, abs=1e-5)


def test_a_click_in_the_graph_selects_the_layer_in_every_view(scenario):
    report, _ = scenario
    assert report["clicked"] == "conv2d_1" and report["graph_boxes"] == 9      # 8 layers and the input
    selected = report["selected"]
    assert selected["snapshot"] == selected["histograms"] == selected["explain"] == "conv2d_1"
    assert selected["table"] is True and selected["filters"].startswith("Selected: conv2d_1 (Conv2D)")


def test_explain_shows_the_dot_product_the_layer_computed(scenario):
    report, _ = scenario
    e = report["explained"]
    assert report["cell"] == [2, 3] and e["layer"] == "conv2d_1" and e["index"][:2] == [2, 3]
    assert e["value"] == e["feature_map"]                                   # the layer's own output there
    assert e["output"] == pytest.approx(e["feature_map"], rel=1e-6, abs=1e-6)  # float32 precision
    assert e["pre_activation"] == pytest.approx(e["sum_plus_bias"], rel=1e-6, abs=1e-7)
    assert "conv2d_1[2, 3, filter 0] reads rows 2-6, cols 3-7 of average_pooling2d (14x14x6)" in e["text"]
    assert report["saliency_shape"] and report["grad_cam_layer"] == "conv2d_1"


def test_rewind_shows_and_resumes_the_weights_of_that_epoch(scenario):
    report, _ = scenario
    assert any(h.startswith("end of epoch 1") for h in report["history"])
    assert report["viewing"] and report["rewind_label"].startswith("showing end of epoch 1")
    assert report["rewound_filters_equal_saved"] and report["rewound_filters_differ_from_live"]
    assert report["resumed_max_difference"] == 0.0 and report["resumed_steps"] == 4
    assert report["after_resume_status"].startswith("Epoch 2/2, batch 1/4")


def test_screenshot_is_a_picture_of_the_window(scenario):
    report, out = scenario
    assert report["screenshot"]
    pixels = read_png(out / "scenario.png")
    assert pixels.shape[:2] == (layout.VIEWPORT[1], layout.VIEWPORT[0])
    assert pixels[..., :3].var() > 100
    assert len(set(map(tuple, pixels[::8, ::8, :3].reshape(-1, 3)))) > 50   # many colours: plots, images


def test_step_batch_button_sits_where_the_layout_says(scenario):
    report, _ = scenario
    x, y, w, h = report["step_batch_rect"]
    assert (x, y) == tuple(report["expected_pos"]) and (w, h) == layout.BUTTON


def test_window_stays_responsive_while_training_and_closes_cleanly(scenario):
    report, _ = scenario
    assert report["running_label"] == "Pause" and report["steps_while_measuring"] > 0
    # The window keeps drawing while the worker trains (a blocked UI thread would draw nothing in those
    # seconds). The frame rate itself is a speed figure, measured by benchmarks/bench_gui.py, not asserted.
    assert report["fps"] > 1.0, f"{report['fps_windows']} frames/s while training"
    assert report["frame_after_close"] is False
    assert report["worker_alive"] is False and report["close_seconds"] < 10


def test_capture_option_writes_a_png_and_exits_0(tiny_data, gui_env, tmp_path):
    shot = tmp_path / "out.png"
    result = run_python(["-m", "gui", *TINY, "--data-dir", str(tiny_data), "--limit", "32", "--steps", "3",
                         "--screenshot", str(shot)], gui_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {shot} after 3 steps" in result.stdout
    pixels = read_png(shot)
    assert pixels.shape[:2] == (layout.VIEWPORT[1], layout.VIEWPORT[0]) and pixels[..., :3].var() > 100


def test_capture_reports_a_bad_model_file_and_exits_1(tiny_data, gui_env, tmp_path):
    result = run_python(["-m", "gui", "--model", "json", "--model-file", str(tmp_path / "missing.json"),
                         "--data-dir", str(tiny_data), "--screenshot", str(tmp_path / "out.png")], gui_env)
    assert result.returncode == 1
    assert "missing.json" in result.stderr and "Traceback" not in result.stderr


def _lines(stream):
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _wait_for(lines, pattern, timeout):
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got {seen}")


def _close_window(display, window):
    """Send the window WM_DELETE_WINDOW, as a window manager's close button does."""
    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                    ("message_type", ctypes.c_ulong), ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class Event(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    assert dpy, f"cannot open display {display}"
    event = Event()
    event.xclient.type, event.xclient.window, event.xclient.format = 33, window, 32   # ClientMessage
    event.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    event.xclient.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(dpy, window, 0, 0, ctypes.byref(event))
    x11.XFlush(dpy)
    x11.XCloseDisplay(dpy)


def test_real_clicks_train_and_closing_mid_training_is_clean(tiny_data, gui_env, xvfb):
    if shutil.which("xdotool") is None or ctypes.util.find_library("X11") is None:
        pytest.skip("xdotool and libX11 are needed to click and close (Debian: apt-get install xdotool)")
    command = [sys.executable, "-m", "gui", *TINY, "--data-dir", str(tiny_data), "--epochs", "500", "--log"]
    proc = subprocess.Popen(command, cwd=REPO, env=gui_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        lines = _lines(proc.stdout)
        _wait_for(lines, r"^Ready: lenet5", 900)
        found = subprocess.run(["xdotool", "search", "--sync", "--name", layout.TITLE], env=gui_env,
                               capture_output=True, text=True, timeout=30)
        window = int(found.stdout.split()[0])
        w, h = layout.BUTTON
        x, y = layout.STEP_BATCH_POS

        def click(cx, cy):
            subprocess.run(["xdotool", "mousemove", "--window", str(window), str(cx), str(cy)], env=gui_env,
                           check=True, timeout=10)
            time.sleep(0.3)
            subprocess.run(["xdotool", "click", "1"], env=gui_env, check=True, timeout=10)

        click(x + w // 2, y + h // 2)                                   # Step batch
        _wait_for(lines, r"^Epoch 1/500, batch 1/4", 60)
        click(x + 2 * (w + 8) + w // 2, y + h // 2)                     # Run (third button of the row)
        _wait_for(lines, r"^Running", 30)
        _wait_for(lines, r"^Epoch \d+/500, batch", 30)
        _close_window(xvfb, window)
        proc.wait(60)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
