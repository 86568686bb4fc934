"""Drive the debugger through its buttons' own callbacks and report what it shows, as JSON.

Run in a subprocess by test_app.py (DearPyGui aborts the process it runs in when something is wrong):

    python tests/gui/scenario.py DATA_DIR OUT_DIR

Presses Step batch three times and Step epoch once, reads the curves and textures, writes a screenshot;
then drives the new views through their callbacks: clicks a layer in the graph (selected everywhere),
opens Explain and clicks a cell of a feature map (the explained dot product against the layer's own
output), rewinds to the end of epoch 1 after two more batches and resumes from there (the weights against
those read at that epoch's end); measures the frame rate of the idle window, presses Run, measures it
again while training, and closes the window mid-training.
"""

import json
import sys
import time
from pathlib import Path

import dearpygui.dearpygui as dpg
import numpy as np

from gui import images, layout
from gui.app import App
from gui.worker import Config


def weights_of(model):
    return {w.path: w.numpy() for w in model.weights}


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


def m_input(model, index):
    """Validation image ``index`` of the data the worker trains on, as the model's batch of one."""
    from gui.worker import prepare_data
    (_, _), (x_val, _), _ = prepare_data("fashion_mnist", DATA_DIR[0])
    return x_val[index:index + 1]


DATA_DIR = [None]


def main(data_dir, out_dir):
    DATA_DIR[0] = data_dir
    out_dir = Path(out_dir)
    config = Config(dataset="fashion_mnist", model="lenet5", data_dir=data_dir, batch_size=16, epochs=2,
                    limit=0, seed=0)
    app = App(config)
    report = {}
    assert app.frames_until_idle(), "the model was not ready in time"
    report["ready_status"] = app.worker.snapshot().status
    report["step_batch_rect"] = dpg.get_item_rect_min("step_batch") + dpg.get_item_rect_size("step_batch")
    report["expected_pos"] = list(layout.STEP_BATCH_POS)
    textures = app.window.texture_data
    before = {key: textures[key].copy() for key in (("filters", "conv2d"), ("activation", "conv2d"), "input")}

    for _ in range(3):
        press("step_batch")
    assert app.frames_until_idle()
    report["after_batches"] = series_lengths("loss_batch", "acc_train", "weight_norm_y/conv2d")
    press("step_epoch")
    assert app.frames_until_idle()
    snap = app.worker.snapshot()
    report["after_epoch"] = series_lengths("loss_batch", "acc_running", "acc_train", "acc_val", "loss_train",
                                           "loss_val", "weight_norm_y/conv2d", "grad_norm_y/dense_2")
    report["epoch_x"] = dpg.get_value("acc_train")[0]
    report["confusion_cells"] = len(dpg.get_value("confusion")[0]) if dpg.does_item_exist("confusion") else 0
    report["confusion_total"] = int(snap.confusion.sum())
    report["status"] = snap.status
    report["table_rows"] = len(dpg.get_item_children("model_table", 1))
    report["feature_maps"] = len(dpg.get_item_children("feature_maps", 1))
    report["filter_layers"] = sorted(snap.filters)
    report["changed"] = {str(key): not np.array_equal(before[key], textures[key]) for key in before}
    report["probabilities"] = dpg.get_value("prob_bars")[0]
    report["screenshot"] = app.screenshot(out_dir / "scenario.png")
    saved = app.worker.call(weights_of)

    # the graph: a click on conv2d_1's box selects it in every view
    app.window.show_tab("Network")
    x, y, w, h = app.window.graph_boxes["conv2d_1"]
    report["clicked"] = app.window.on_graph_click((x + w / 2, y + h / 2))
    assert app.frames_until_idle()
    report["selected"] = {"snapshot": app.worker.snapshot().selected,
                          "histograms": dpg.get_value("histogram_layer"),
                          "explain": dpg.get_value("explain_layer"), "table": dpg.get_value("row/conv2d_1"),
                          "filters": dpg.get_value("layer_info")}
    report["graph_boxes"] = len(app.window.graph_boxes)

    # Explain: saliency and Grad-CAM pictures, then a click on a cell of conv2d_1's map
    app.window.show_tab("Explain")
    assert app.frames_until_idle()
    snap = app.worker.snapshot()
    report["saliency_shape"] = [snap.saliency.height, snap.saliency.width] if snap.saliency else None
    report["grad_cam_layer"] = snap.grad_cam_layer
    layer, filt, rows, cols, (w, h) = app.window.cell_geometry
    report["cell"] = app.window.on_cell_click(((3 + 0.5) * w / cols, (2 + 0.5) * h / rows))
    assert app.frames_until_idle()
    e = app.worker.snapshot().explanation
    index = snap.input_index
    feature_map = app.worker.call(
        lambda m: dict(m.activations(m_input(m, index)))["conv2d_1"][0])
    report["explained"] = {"layer": e["layer"], "index": list(e["index"]), "output": e["output"],
                           "value": e["value"], "feature_map": float(feature_map[tuple(e["index"])]),
                           "sum_plus_bias": float(e["products"].sum(dtype=np.float64) + e["bias"]),
                           "pre_activation": e["pre_activation"], "text": dpg.get_value("explain_text")}

    # Rewind: two more batches, back to the end of epoch 1, resume from there
    press("step_batch")
    press("step_batch")
    app.window.select_layer("conv2d")              # the Network tab shows the selected layer's filters
    assert app.frames_until_idle()
    snap = app.worker.snapshot()
    report["history"] = list(snap.history)
    end_of_1 = snap.history.index(next(h for h in snap.history if h.startswith("end of epoch 1")))
    live_filters = textures[("filters", "conv2d")].copy()
    dpg.get_item_callback("rewind")("rewind", end_of_1, None)
    assert app.frames_until_idle()
    snap = app.worker.snapshot()
    report["viewing"] = snap.viewing == end_of_1
    report["rewind_label"] = dpg.get_value("rewind_label")
    expected = images.rgba(images.filter_grid(saved["conv2d/kernel"], (420, 420)))
    report["rewound_filters_equal_saved"] = bool(np.array_equal(textures[("filters", "conv2d")], expected))
    report["rewound_filters_differ_from_live"] = not np.array_equal(live_filters, expected)
    press("resume")
    assert app.frames_until_idle()
    now = app.worker.call(weights_of)
    report["resumed_max_difference"] = max(float(np.abs(now[p] - saved[p]).max()) for p in saved)
    report["resumed_steps"] = app.worker.snapshot().steps
    press("step_batch")
    assert app.frames_until_idle()
    report["after_resume_status"] = app.worker.snapshot().status

    report["idle_fps"] = frame_rate(app, 2.0)
    dpg.get_item_callback("epochs")("epochs", 1000, None)
    press("run_pause")
    while not app.worker.snapshot().running:      # the Run command reached the (niced) training thread
        app.frame()
    steps_before = app.worker.snapshot().steps
    rates = []
    while len(rates) < 3 and (not rates or max(rates) < 30):   # the best of up to three 2-second windows
        rates.append(frame_rate(app, 2.0))
    report["fps"], report["fps_windows"] = max(rates), rates
    while app.worker.snapshot().steps == steps_before:   # an event: a batch trained while frames were drawn
        app.frame()
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
