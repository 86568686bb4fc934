"""gui.worker: the training thread, its commands and its snapshots (no display needed)."""

import threading
import time

import numpy as np
import pytest

import numbacnn as nc
from gui.worker import FILTER_BOX, MODEL_H5, MODEL_JSON, Config, Worker

TIMEOUT = 1800
"""A guard against a hung thread only: a cold Numba cache on a busy machine takes minutes (wait on events)."""


@pytest.fixture
def make_worker(tiny_data):
    """``make_worker(**config)``: a Worker on the tiny data set (lenet5, batches of 16), stopped after."""
    workers = []

    def make(**kwargs):
        settings = dict(dataset="fashion_mnist", model="lenet5", data_dir=str(tiny_data), batch_size=16,
                        epochs=2)
        worker = Worker(Config(**{**settings, **kwargs}))
        workers.append(worker)
        assert worker.wait_idle(TIMEOUT)
        return worker

    yield make
    for worker in workers:
        assert worker.stop(TIMEOUT)


def test_steps_and_an_epoch_fill_every_view(make_worker):
    worker = make_worker()
    snap = worker.snapshot()
    assert snap.state == "idle" and snap.status.startswith("Ready: lenet5 on 64 fashion_mnist images (32 ")
    assert [row[0] for row in snap.table][:3] == ["conv2d", "average_pooling2d", "conv2d_1"]
    assert snap.table[0] == ("conv2d", "Conv2D", "(None, 28, 28, 6)", 156, True)
    assert snap.weighted_layers == ("conv2d", "conv2d_1", "dense", "dense_1", "dense_2")
    for _ in range(3):
        worker.step_batch()
    worker.step_epoch()
    assert worker.wait_idle(TIMEOUT)
    snap = worker.snapshot()
    assert snap.batch_steps.tolist() == [1, 2, 3, 4] and snap.steps == 4
    assert snap.epoch_numbers.tolist() == [1] and snap.epoch == 1 and snap.batch == 0
    assert set(snap.epoch_logs) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    # the per-batch losses are recovered from the running mean: their mean is the epoch's loss
    assert snap.batch_loss.mean() == pytest.approx(snap.epoch_logs["loss"][0], rel=1e-9)
    assert snap.running_loss[-1] == pytest.approx(snap.epoch_logs["loss"][0])
    assert snap.confusion.shape == (10, 10) and snap.confusion.sum() == 32 and snap.confusion_epoch == 1
    assert set(snap.filters) == {"conv2d", "conv2d_1"}
    shape, picture = snap.filters["conv2d"]
    assert shape == (5, 5, 1, 6) and picture.width <= FILTER_BOX[0] and picture.height <= FILTER_BOX[1]
    assert picture.data.shape == (picture.width * picture.height * 4,)
    assert [name for name, _, _ in snap.activations] == [row[0] for row in snap.table]
    assert snap.probabilities.sum() == pytest.approx(1.0) and snap.input_label == 0
    assert all(len(v) == 4 for v in (*snap.weight_norms.values(), *snap.grad_norms.values()))
    assert snap.weight_histogram[1].sum() == 156 and snap.grad_histogram[1].sum() == 156


def test_every_numbacnn_call_runs_on_the_worker_thread(make_worker, monkeypatch):
    threads = set()

    def spy(cls, name):
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            threads.add(threading.current_thread().name)
            return original(self, *args, **kwargs)
        monkeypatch.setattr(cls, name, wrapper)

    for cls, name in ((nc.models.Trainer, "step"), (nc.models.Trainer, "activations"),
                      (nc.models.Model, "predict"), (nc.models.Model, "make_trainer")):
        spy(cls, name)
    worker = make_worker()
    worker.run_steps(5)
    worker.next_misclassified()
    worker.show_input(3)
    assert worker.wait_idle(TIMEOUT)
    assert threads == {"numbacnn-trainer"}


def test_run_pause_and_stop_mid_training(make_worker):
    worker = make_worker(epochs=1000)
    worker.run()
    deadline = time.monotonic() + TIMEOUT
    while worker.snapshot().steps < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert worker.snapshot().running
    worker.pause()
    assert worker.wait_idle(TIMEOUT)
    paused = worker.snapshot()
    assert not paused.running and paused.status.startswith("Paused at epoch")
    time.sleep(0.3)
    assert worker.snapshot().steps == paused.steps
    worker.run()
    time.sleep(0.2)
    start = time.monotonic()
    assert worker.stop(TIMEOUT) and not worker.alive
    assert time.monotonic() - start < 60          # the current step, not the 1000 epochs (a loaded machine)


def test_finished_training_goes_on_when_epochs_are_raised(make_worker):
    worker = make_worker(epochs=1)
    worker.step_epoch()
    assert worker.wait_idle(TIMEOUT)
    assert worker.snapshot().state == "finished"
    worker.step_batch()
    assert worker.wait_idle(TIMEOUT)
    assert "Training finished after 1 epochs" in worker.snapshot().status
    worker.set_epochs(2)
    worker.step_batch()
    assert worker.wait_idle(TIMEOUT)
    snap = worker.snapshot()
    assert snap.status.startswith("Epoch 2/2, batch 1/4") and snap.steps == 5


def test_delay_and_learning_rate_apply_at_once(make_worker):
    worker = make_worker(epochs=1000)
    worker.set_learning_rate(0.01)
    assert worker.wait_idle(TIMEOUT)
    assert worker.snapshot().learning_rate == pytest.approx(0.01)
    worker.set_delay(0.2)
    worker.run()
    start = time.monotonic()
    while worker.snapshot().steps < 2:                # an event: two batches trained, however busy the CPU
        time.sleep(0.01)
    worker.pause()
    elapsed = time.monotonic() - start
    assert worker.wait_idle(TIMEOUT)
    assert elapsed >= 0.2                             # the second batch waited for the delay
    assert worker.snapshot().steps <= 2 + elapsed / 0.2   # never more than one batch per 0.2 s


def test_next_misclassified_finds_a_wrong_prediction(make_worker):
    worker = make_worker()
    worker.next_misclassified()
    assert worker.wait_idle(TIMEOUT)
    snap = worker.snapshot()
    assert snap.status == f"Validation image {snap.input_index} is misclassified"
    assert int(np.argmax(snap.probabilities)) != snap.input_label


def test_errors_go_to_the_status_line(make_worker, tmp_path):
    worker = make_worker(model=MODEL_JSON, model_path=str(tmp_path / "nope.json"))
    snap = worker.snapshot()
    assert snap.state == "error" and "nope.json" in snap.status
    worker.step_batch()
    assert worker.wait_idle(TIMEOUT)
    assert worker.snapshot().status.startswith("RuntimeError: No model")
    worker.reset(Config(dataset="fashion_mnist", model="alexnet", data_dir=worker.config.data_dir))
    assert worker.wait_idle(TIMEOUT)
    snap = worker.snapshot()
    assert snap.state == "error" and snap.status.startswith("ValueError: ") and "max_pooling2d" in snap.status


@pytest.mark.parametrize("kind", [MODEL_JSON, MODEL_H5])
def test_models_from_files(make_worker, tmp_path, kind):
    model = nc.applications.lenet5()
    if kind == MODEL_JSON:
        if not hasattr(model, "to_json"):
            pytest.skip("numbacnn has no Model.to_json yet")
        path = tmp_path / "lenet5.json"
        path.write_text(model.to_json())
    else:
        if not hasattr(model, "save"):
            pytest.skip("numbacnn has no Model.save yet")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        path = tmp_path / "lenet5.h5"
        model.save(str(path))
    worker = make_worker(model=kind, model_path=str(path))
    assert worker.snapshot().status.startswith("Ready: ")
    worker.step_batch()
    assert worker.wait_idle(TIMEOUT)
    assert worker.snapshot().steps == 1


def test_save_and_load_weights(make_worker, tmp_path):
    worker = make_worker()
    if not hasattr(nc.models.Model, "save_weights"):
        worker.save_weights(str(tmp_path / "w.weights.h5"))
        assert worker.wait_idle(TIMEOUT)
        assert "is not available" in worker.snapshot().status
        return
    path = str(tmp_path / "w.weights.h5")
    worker.run_steps(2)
    assert worker.wait_idle(TIMEOUT)
    worker.save_weights(path)
    assert worker.wait_idle(TIMEOUT)
    saved = worker.snapshot()
    assert saved.status == f"Saved weights to {path}"
    worker.run_steps(2)
    assert worker.wait_idle(TIMEOUT)
    assert not np.array_equal(worker.snapshot().filters["conv2d"][1].data, saved.filters["conv2d"][1].data)
    worker.load_weights(path)
    assert worker.wait_idle(TIMEOUT)
    assert worker.snapshot().status == f"Loaded weights from {path}"
    np.testing.assert_array_equal(worker.snapshot().filters["conv2d"][1].data,
                                  saved.filters["conv2d"][1].data)


def test_colour_images_give_colour_filters(tmp_path, make_worker):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = np.arange(8, dtype=np.uint8)[:, None] % 10
        pixels = rng.integers(0, 256, size=(8, 3 * 32 * 32), dtype=np.uint8)
        (tmp_path / name).write_bytes(np.hstack([labels, pixels]).tobytes())
    worker = make_worker(dataset="cifar10", model="cifar_cnn", data_dir=str(tmp_path), batch_size=8)
    worker.step_batch()
    assert worker.wait_idle(TIMEOUT)
    snap = worker.snapshot()
    assert snap.class_names[0] == "airplane" and snap.steps == 1
    shape, picture = snap.filters["conv2d"]
    rgba = picture.data.reshape(picture.height, picture.width, 4)
    assert shape == (3, 3, 3, 32) and np.abs(rgba[..., 0] - rgba[..., 1]).max() > 0.1   # not grey
    assert snap.input_picture.width == snap.input_picture.height == 128                  # 32 x 4


def test_depthwise_kernels_show_as_one_channel_filters(make_worker, tmp_path):
    """A DepthwiseConv2D's kernel (KH, KW, C, M), and a SeparableConv2D's depthwise kernel, show as C*M
    one-channel filters."""
    model = nc.models.Sequential([
        nc.layers.Input((28, 28, 1)),
        nc.layers.DepthwiseConv2D(3, depth_multiplier=4),
        nc.layers.SeparableConv2D(4, 3, depth_multiplier=2),
        nc.layers.GlobalAveragePooling2D(),
        nc.layers.Dense(10, activation="softmax"),
    ])
    path = tmp_path / "depthwise.json"
    path.write_text(model.to_json())
    worker = make_worker(model=MODEL_JSON, model_path=str(path))
    worker.step_batch()
    assert worker.wait_idle(TIMEOUT)
    filters = worker.snapshot().filters
    assert {name: shape for name, (shape, _) in filters.items()} == {
        "depthwise_conv2d": (3, 3, 1, 4), "separable_conv2d": (3, 3, 1, 8)}


def test_the_status_line_shows_compile_progress_during_a_first_step(make_worker, monkeypatch):
    """A cold first step reports its kernels through warmup.compiling: the status line says which while
    the step waits (the report is simulated here; a cold cache would take long), and a compile pool's last
    report (done == total) or the end of the step clears it."""
    from numbacnn import warmup
    from numbacnn.models.trainer import Trainer

    worker = make_worker()
    seen = []
    step = Trainer.step

    def step_reporting(self, *args, **kwargs):
        report = warmup._local.settings[0]  # what warmup.first_step would call as kernels get ready
        report("compiling conv kernels 3/17", 3, 17)
        seen.append(worker.snapshot().status)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "step", step_reporting)
    worker.step_batch()
    assert worker.wait_idle(TIMEOUT)
    assert seen == ["compiling conv kernels 3/17 (first run only)..."]
    ready = worker.snapshot().status
    assert "compiling" not in ready  # the step's own status once it is done
    worker._compile_progress("compiling conv kernels 16/17", 16, 17)  # a pool's report from its thread
    assert worker.snapshot().status == "compiling conv kernels 16/17 (first run only)..."
    worker._compile_progress("compiling conv kernels 17/17", 17, 17)
    assert worker.snapshot().status == ready


def test_reset_compiles_ahead_when_the_cache_is_cold(tiny_data, monkeypatch):
    """Reset hands the first step's kernels to compile workers at once (warmup.compile_ahead), with the
    first batch, when the cache is cold."""
    from numbacnn import warmup

    calls = []
    monkeypatch.setattr(warmup, "compile_ahead", lambda model, x, y, progress=None: calls.append(
        (model.name, x.shape, y.shape, progress)) or 0)
    worker = Worker(Config(dataset="fashion_mnist", model="lenet5", data_dir=str(tiny_data), batch_size=16))
    try:
        assert worker.wait_idle(TIMEOUT)
        assert [(name, xs, ys) for name, xs, ys, _ in calls] == [("lenet5", (16, 28, 28, 1), (16,))]
        assert calls[0][3] == worker._compile_progress
    finally:
        assert worker.stop(TIMEOUT)
