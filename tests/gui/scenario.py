"""Drive the debugger through its buttons' own callbacks and report what it shows, as JSON.

Run in a subprocess by test_app.py (DearPyGui aborts the process it runs in when something is wrong):

    python tests/gui/scenario.py DATA_DIR OUT_DIR

Presses Step batch three times and Step epoch once, reads the curves and textures, writes a screenshot,
measures the frame rate of the idle window, presses Run, measures it again while training, and closes the
window mid-training.
"""

import json
import sys
import time
from pathlib import Path

import dearpygui.dearpygui as dpg
import numpy as np

from gui import layout
from gui.app import App
from gui.worker import Config


def press(tag):
    """Call the item's callback exactly as DearPyGui does when the button is clicked."""
    dpg.get_item_callback(tag)(tag, None, dpg.get_item_user_data(tag))


def frame_rate(app, seconds):
    """Frames per second of the app's own frame loop over ``seconds``."""
    start, frames = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        app.frame()
        frames += 1
    return frames / (time.monotonic() - start)


def series_lengths(*tags):
    return {tag: len(dpg.get_value(tag)[1]) for tag in tags}


def main(data_dir, out_dir):
    out_dir = Path(out_dir)
    config = Config(dataset="fashion_mnist", model="lenet5", data_dir=data_dir, batch_size=16, epochs=2,
                    limit=0, seed=0)
    app = App(config)
    report = {}
    assert app.frames_until_idle(120), "the model was not ready in time"
    report["ready_status"] = app.worker.snapshot().status
    report["step_batch_rect"] = dpg.get_item_rect_min("step_batch") + dpg.get_item_rect_size("step_batch")
    report["expected_pos"] = list(layout.STEP_BATCH_POS)
    textures = app.window.texture_data
    before = {key: textures[key].copy() for key in (("filters", "conv2d"), ("activation", "conv2d"), "input")}

    for _ in range(3):
        press("step_batch")
    assert app.frames_until_idle(120)
    report["after_batches"] = series_lengths("loss_batch", "acc_train", "weight_norm_y/conv2d")
    press("step_epoch")
    assert app.frames_until_idle(120)
    snap = app.worker.snapshot()
    report["after_epoch"] = series_lengths("loss_batch", "acc_running", "acc_train", "acc_val", "loss_train",
                                           "loss_val", "weight_norm_y/conv2d", "grad_norm_y/dense_2")
    report["epoch_x"] = dpg.get_value("acc_train")[0]
    report["confusion_cells"] = len(dpg.get_value("confusion")[0]) if dpg.does_item_exist("confusion") else 0
    report["confusion_total"] = int(snap.confusion.sum())
    report["status"] = snap.status
    report["table_rows"] = len(dpg.get_item_children("model_table", 1))
    report["feature_maps"] = len(dpg.get_item_children("feature_maps", 1))
    report["filter_layers"] = dpg.get_item_configuration("filter_layer")["items"]
    report["changed"] = {str(key): not np.array_equal(before[key], textures[key]) for key in before}
    report["probabilities"] = dpg.get_value("prob_bars")[0]
    report["screenshot"] = app.screenshot(out_dir / "scenario.png")

    report["idle_fps"] = frame_rate(app, 2.0)
    dpg.get_item_callback("epochs")("epochs", 1000, None)
    press("run_pause")
    app.frames_until_idle(0.5)
    steps_before = app.worker.snapshot().steps
    rates = []
    while len(rates) < 3 and (not rates or max(rates) < 30):   # the best of up to three 2-second windows
        rates.append(frame_rate(app, 2.0))
    report["fps"], report["fps_windows"] = max(rates), rates
    report["steps_while_measuring"] = app.worker.snapshot().steps - steps_before
    report["running_label"] = dpg.get_item_label("run_pause")

    dpg.stop_dearpygui()                       # what closing the window does
    report["frame_after_close"] = app.frame()
    start = time.monotonic()
    worker = app.worker
    app.close()
    report["close_seconds"] = time.monotonic() - start
    report["worker_alive"] = worker.alive
    (out_dir / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
