"""The training worker: one thread that owns the data, the model and its Trainer.

Every numbacnn call (and so every Numba kernel) runs on this thread. The UI talks to it only through
commands (methods that put a message on a queue) and reads what it shows from :meth:`Worker.snapshot`:
an immutable :class:`Snapshot` of copied arrays and ready-made pictures, swapped in under a lock.

    worker = Worker(Config(dataset="mnist", model="lenet5"))   # starts the thread, builds the model
    worker.step_batch(); worker.step_epoch(); worker.run(); worker.pause()
    snap = worker.snapshot()                                    # what the views draw
    worker.stop()                                               # finishes the current step, joins
"""

import collections
import dataclasses
import inspect
import math
import os
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np

import numbacnn as nc
from numbacnn import cli as nc_cli
from numbacnn.models import inspect as model_inspect

from . import images

DATASETS = ("fashion_mnist", "mnist", "cifar10")
MODEL_JSON = "JSON architecture (.json)"
MODEL_H5 = "saved model (.h5)"
MODELS = (*nc.applications.ARCHITECTURES, MODEL_JSON, MODEL_H5)
OPTIMIZERS = {"adam": nc.optimizers.Adam, "sgd": nc.optimizers.SGD, "rmsprop": nc.optimizers.RMSprop,
              "adagrad": nc.optimizers.Adagrad, "adamw": nc.optimizers.AdamW, "nadam": nc.optimizers.Nadam,
              "adamax": nc.optimizers.Adamax, "lion": nc.optimizers.Lion}
PLOT_POINTS = 2000
"""Per-batch curves longer than this are thinned (every k-th point, and the last) in snapshots."""
PUBLISH_INTERVAL = 0.25
"""Seconds between snapshots while running (the data of every step is recorded and in the next one)."""
NICENESS = 10
"""How much lower than the window's the training thread's CPU priority is (Linux), so that drawing wins."""

FILTER_BOX = (420, 420)
ACTIVATION_ROW = 240
"""Height in pixels of one layer's feature maps in the feature-map column (its width is the UI's)."""
INPUT_BOX = (140, 140)
EXPLAIN_BOX = (300, 300)
"""Size of the pictures of the Explain tab: the input, its saliency and Grad-CAM, the chosen map."""
HISTOGRAM_BINS = 40
PREDICT_CHUNK = 256


@dataclasses.dataclass(frozen=True)
class Config:
    """What Reset builds: the data, the model and how it is trained."""

    dataset: str = "fashion_mnist"
    model: str = "fashion_cnn"
    model_path: str = ""
    epochs: int = 5
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    limit: int = 0
    data_dir: str | None = None
    seed: int | None = 0
    delay: float = 0.0
    snapshot_every: int = 0
    """Keep the weights every this many batches (0: four times an epoch), and at every epoch's end."""
    history_mb: int = 256
    """Memory the kept weights may take; the oldest in-epoch snapshots thin out beyond it."""


class Picture:
    """A float32 RGBA picture for a raw texture: ``width``, ``height``, the flat ``data``, and the size to
    show it at (``shown``: the texture's own, or shrunk to fit ``box`` when given and too small)."""

    __slots__ = ("width", "height", "data", "shown")

    def __init__(self, rgb, box=None):
        self.height, self.width = rgb.shape[:2]
        self.data = images.rgba(rgb)
        shrink = 1.0 if box is None else min(1.0, box[0] / self.width, box[1] / self.height)
        self.shown = (max(1, int(self.width * shrink)), max(1, int(self.height * shrink)))


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything the views show, published by the worker; never changed after publishing."""

    version: int = 0
    generation: int = 0
    state: str = "idle"                      # loading | idle | running | finished | error
    status: str = "Starting..."
    running: bool = False
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    steps_per_epoch: int = 0
    steps: int = 0
    steps_per_second: float = 0.0
    learning_rate: float = 0.0
    model_name: str = ""
    class_names: tuple = ()
    table: tuple = ()                         # (name, type, output shape, params, trainable) per layer
    weighted_layers: tuple = ()               # layers with trainable weights (norms, histograms)
    batch_steps: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    batch_loss: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    running_loss: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    running_accuracy: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    epoch_numbers: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    epoch_logs: dict = dataclasses.field(default_factory=dict)   # "loss", "val_accuracy", ... -> array
    weight_norms: dict = dataclasses.field(default_factory=dict)  # layer -> array over batch_steps
    grad_norms: dict = dataclasses.field(default_factory=dict)
    filters: dict = dataclasses.field(default_factory=dict)       # conv layer -> (kernel shape, Picture)
    input_index: int = 0
    input_label: int = -1
    input_picture: Picture | None = None
    probabilities: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    activations: tuple = ()                   # (layer, shape text, Picture) per layer
    histogram_layer: str = ""
    weight_histogram: tuple = ()              # (bin centres, counts)
    grad_histogram: tuple = ()
    confusion: np.ndarray | None = None
    confusion_epoch: int = -1
    graph: tuple = ()                         # inspect.model_graph: dicts of name, class, shapes, inbound
    conv_layers: tuple = ()                   # names of the convolution layers
    activation_ranges: dict = dataclasses.field(default_factory=dict)   # layer -> (min, max) colour scale
    filter_range: dict = dataclasses.field(default_factory=dict)        # conv layer -> max |w|
    selected: str = ""                        # the layer chosen in any view
    history: tuple = ()                       # labels of the kept weight snapshots
    history_steps: tuple = ()                 # batches trained at each snapshot
    viewing: int = -1                         # the snapshot the views show, -1: the live weights
    saliency: Picture | None = None           # |d output[c] / d input|, max over channels
    grad_cam: Picture | None = None           # Grad-CAM heat over the input
    grad_cam_layer: str = ""
    explained_class: int = -1
    cell_map: Picture | None = None           # the chosen conv layer's map (filter) to click on
    cell_map_info: tuple = ()                 # (layer, filter, rows, cols, filters, lo, hi)
    explanation: dict | None = None           # inspect.explain_conv_cell of the clicked cell
    field_picture: Picture | None = None      # the layer's input channel with the receptive field


def prepare_data(name, data_dir=None, limit=0):
    """``(x, y), (x_val, y_val), class names`` of a data set: float32 NHWC images in 0..1, int labels.

    ``limit`` > 0 keeps the first ``limit`` training and the first ``limit`` test samples. A ``data_dir``
    holding class subfolders of images (JPEG, PNG, BMP, GIF) is the data itself, whatever ``name`` says:
    see :func:`prepare_folder`.
    """
    if data_dir and nc_cli.is_image_folder(data_dir):
        return prepare_folder(data_dir, limit)
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    module = getattr(nc.datasets, name)
    (x, y), (x_val, y_val) = module.load_data(data_dir=data_dir)
    if limit and limit > 0:
        x, y, x_val, y_val = x[:limit], y[:limit], x_val[:limit], y_val[:limit]

    def images_of(a):
        a = a.astype(np.float32) / 255.0
        return a[..., None] if a.ndim == 3 else a

    return ((images_of(x), y.reshape(-1).astype(np.int64)),
            (images_of(x_val), y_val.reshape(-1).astype(np.int64)), tuple(module.CLASS_NAMES))


def prepare_folder(data_dir, limit=0):
    """An image folder as :func:`prepare_data`'s arrays, read as the command line reads it
    (``numbacnn.cli.load_image_folder``): the classes are the subfolders, the images keep the first
    image's size and colour mode, and the last 20% of the files (in the order seed 0 shuffles them) are
    the validation images. The debugger holds them in memory: ``limit`` > 0 keeps the first ``limit``
    of each part."""
    train, val, names, _ = nc_cli.load_image_folder(data_dir, validation_split=0.2, seed=0, batch_size=256,
                                                    limit=limit or None, verbose=False)

    def arrays(ds):
        batches = [ds[i] for i in range(len(ds))]
        x = np.concatenate([b[0] for b in batches]).astype(np.float32) / 255.0
        return x, np.concatenate([b[1] for b in batches]).astype(np.int64)

    return arrays(train), arrays(val), tuple(names)


def _missing(name):
    return RuntimeError(f"{name} is not available in this numbacnn build (numbacnn.saving is missing)")


def build_model(config, input_shape, num_classes):
    """The model ``config`` names, for inputs of ``input_shape`` (no batch dimension)."""
    if config.model in nc.applications.ARCHITECTURES:
        fn = nc.applications.get(config.model)
        params = inspect.signature(fn).parameters
        if "input_shape" in params:
            return fn(input_shape=tuple(input_shape), num_classes=num_classes)
        return fn(input_dim=int(np.prod(input_shape)), num_classes=num_classes)
    loaders = {MODEL_JSON: "model_from_json", MODEL_H5: "load_model"}
    if config.model not in loaders:
        raise ValueError(f"Unknown model {config.model!r}; choose one of {', '.join(MODELS)}")
    if not hasattr(nc.models, loaders[config.model]):
        raise _missing(f"numbacnn.models.{loaders[config.model]}")
    path = Path(config.model_path).expanduser()
    if not config.model_path or not path.is_file():
        raise FileNotFoundError(f"Model file {config.model_path!r} not found: type its path in the "
                                "Model file box")
    if config.model == MODEL_JSON:
        return nc.models.model_from_json(path.read_text())
    return nc.models.load_model(str(path))


def _fit_inputs(model, x):
    """``x`` reshaped to the model's input: images flattened for a model that takes vectors."""
    want = tuple(model.input.shape[1:])
    if tuple(x.shape[1:]) == want:
        return x
    if len(want) == 1 and int(np.prod(x.shape[1:])) == want[0]:
        return x.reshape(len(x), -1)
    raise ValueError(f'Model "{model.name}" expects inputs of shape {(None, *want)}, '
                     f"but the data set's images have shape {(None, *x.shape[1:])}")


def _ends_in_softmax(model):
    last = model.layers[-1]
    return type(last).__name__ == "Softmax" or last.get_config().get("activation") == "softmax"


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _histogram(values):
    if values.size == 0:
        return (np.zeros(0), np.zeros(0))
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    return ((edges[:-1] + edges[1:]) / 2, counts.astype(np.float64))


def _thinned(values):
    """``values`` as a float64 array of at most about PLOT_POINTS points: every k-th one and the last."""
    a = np.asarray(values, dtype=np.float64)
    if len(a) <= PLOT_POINTS:
        return a
    step = -(-len(a) // PLOT_POINTS)
    return np.append(a[:-1:step], a[-1])


def _layer_of(path):
    return path.rsplit("/", 1)[0]


def _values_of(layer, arrays, trainable):
    """All values of ``layer``'s trainable arrays among ``arrays`` (by weight path), as one vector."""
    parts = [a.ravel() for p, a in arrays.items() if _layer_of(p) == layer and p in trainable]
    return np.concatenate(parts) if parts else np.zeros(0)


class Worker:
    """The training thread and its command queue; see the module docstring."""

    def __init__(self, config=None):
        self._queue = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0
        self._busy = False
        self._jobs = collections.deque()   # work in order: ["steps", n], ["epoch"], ["run"]
        self._stop = threading.Event()
        self._snapshot = Snapshot()
        self._data_cache = {}
        self._config = config or Config()
        self._delay = float(self._config.delay)
        self._clear()
        self._thread = threading.Thread(target=self._loop, name="numbacnn-trainer", daemon=True)
        self._thread.start()
        self.reset(self._config)

    # ----- commands (any thread) ----------------------------------------------------------------
    def _send(self, name, arg=None):
        with self._idle:
            self._pending += 1
        self._queue.put((name, arg))

    def reset(self, config):
        """Load the data and build, compile and prepare the model ``config`` describes (fresh weights)."""
        self._send("reset", config)

    def step_batch(self):
        """Train one more batch."""
        self._send("steps", 1)

    def run_steps(self, n):
        """Train ``n`` more batches."""
        self._send("steps", int(n))

    def step_epoch(self):
        """Train to the end of the current epoch (validation and confusion matrix included)."""
        self._send("epoch")

    def run(self):
        """Train until the last epoch, ``delay`` seconds between batches, until paused."""
        self._send("run")

    def pause(self):
        """Stop after the current batch."""
        self._send("pause")

    def set_delay(self, seconds):
        self._send("delay", max(0.0, float(seconds)))

    def set_learning_rate(self, value):
        self._send("learning_rate", float(value))

    def set_epochs(self, value):
        self._send("epochs", int(value))

    def show_input(self, index):
        """Show activations and probabilities for validation sample ``index``."""
        self._send("input", int(index))

    def next_misclassified(self):
        """Show the next validation sample (after the current one) that the model gets wrong."""
        self._send("misclassified")

    def show_histograms(self, layer):
        self._send("histograms", layer)

    def select_layer(self, name):
        """Choose a layer in every view (filters, feature maps, histograms, Explain)."""
        self._send("select", str(name))

    def view_snapshot(self, index):
        """Show kept weight snapshot ``index`` in every view (-1: the live weights)."""
        self._send("view", int(index))

    def resume_from_snapshot(self):
        """Put the weights of the snapshot on view back and train on from there (later ones are dropped)."""
        self._send("resume")

    def explain_cell(self, layer, row, col, filt):
        """Explain output (row, col, filt) of convolution ``layer`` for the chosen input."""
        self._send("explain", (str(layer), int(row), int(col), int(filt)))

    def set_view_width(self, pixels):
        """Width in pixels the feature-map column has, so that its pictures fit it."""
        self._send("view_width", int(pixels))

    def set_details(self, on):
        """Compute the Explain tab's pictures (saliency, Grad-CAM, the chosen cell) at every publish."""
        self._send("details", bool(on))

    def call(self, fn, timeout=None):
        """Run ``fn(model)`` on the training thread between two steps and return what it returns (for
        scripts and tests that read the model the window shows); raises what ``fn`` raised."""
        done = threading.Event()
        box = {}

        def job(model):
            try:
                box["value"] = fn(model)
            except BaseException as err:  # handed to the caller
                box["error"] = err
            finally:
                done.set()

        self._send("call", job)
        if not done.wait(timeout):
            raise TimeoutError(f"the training thread did not run the call within {timeout} s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def save_weights(self, path):
        self._send("save", path)

    def load_weights(self, path):
        self._send("load", path)

    def snapshot(self):
        """The latest published :class:`Snapshot` (its status the compile progress while kernels compile
        for the model: see ``_compile_progress``)."""
        with self._lock:
            snap = self._snapshot
        compiling = self._compiling
        return snap if compiling is None else dataclasses.replace(snap, status=compiling)

    def wait_idle(self, timeout=None):
        """Wait until every command sent so far is done and training is paused; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not (self._pending or self._busy or self._jobs), timeout)

    def stop(self, timeout=None):
        """Stop after the current step and join the thread; True when it has ended."""
        self._stop.set()
        self._send("stop")
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def config(self):
        """The Config of the last Reset (with the epochs and learning rate set since)."""
        return self._config

    @property
    def alive(self):
        return self._thread.is_alive()

    # ----- the thread --------------------------------------------------------------------------
    def _clear(self):
        """Forget the model and everything recorded about it."""
        self._model = self._trainer = None
        self._jobs.clear()
        self._steps = 0
        self._batch_steps, self._batch_loss, self._running_loss, self._running_accuracy = [], [], [], []
        self._prev_mean = 0.0
        self._epoch_numbers, self._epoch_logs = [], {}
        self._weight_norms, self._grad_norms = {}, {}
        self._weights, self._grads = {}, {}
        self._confusion, self._confusion_epoch = None, -1
        self._history = model_inspect.WeightHistory(int(self._config.history_mb) << 20)
        self._viewing = -1
        self._selected = ""
        self._cell = None
        self._view_width = 760
        self._graph, self._conv_layers = (), ()
        self._softmax_output = True
        self._input_index = 0
        self._histogram_layer = ""
        self._table, self._weighted_layers, self._class_names = (), (), ()
        self._step_times = []
        self._compiling = None  # compile progress, shown as the status while kernels compile
        self._next_step_at = 0.0
        self._last_publish = 0.0

    _details = False

    def _loop(self):
        if sys.platform.startswith("linux"):   # per-thread nice; Numba's pool, started from here, inherits it
            nice = os.getpriority(os.PRIO_PROCESS, 0) + NICENESS
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        while not self._stop.is_set():
            timeout = max(0.0, self._next_step_at - time.monotonic()) if self._jobs else None
            try:
                name, arg = self._queue.get(timeout=timeout)
            except queue.Empty:
                name, arg = "advance", None
            self._set_busy(True)
            try:
                if name == "advance":
                    self._advance()
                elif name != "stop":
                    self._handle(name, arg)
            finally:
                self._set_busy(False, done=name != "advance")
        if self._trainer is not None:
            self._trainer.close()
        self._jobs.clear()

    def _set_busy(self, busy, done=False):
        with self._idle:
            self._busy = busy
            self._pending -= 1 if done else 0
            self._idle.notify_all()

    def _handle(self, name, arg):
        try:
            getattr(self, "_do_" + name)(arg)
        except Exception as err:  # any failure goes to the status line, the thread carries on
            self._jobs.clear()
            state = "error" if self._trainer is None else None
            self._publish(status=f"{type(err).__name__}: {err}", state=state)

    def _advance(self):
        """One step of the first job; a job ends after its batches, at its epoch's end or at the end."""
        try:
            self._step_once()
        except Exception as err:  # e.g. NonFiniteLossError: the status line says it, training pauses
            self._jobs.clear()
            self._publish(status=f"{type(err).__name__}: {err}")
            return
        epoch_done = self._trainer.batch == 0
        self._keep_snapshot(epoch_done)
        job = self._jobs[0]
        if job[0] == "steps":
            job[1] -= 1
        if (job[0] == "steps" and job[1] <= 0) or (job[0] == "epoch" and epoch_done):
            self._jobs.popleft()
        if self._trainer.finished:
            self._jobs.clear()
        paced = self._jobs and self._jobs[0][0] in ("run", "epoch")
        self._next_step_at = time.monotonic() + (self._delay if paced else 0.0)
        if not self._jobs or time.monotonic() - self._last_publish >= PUBLISH_INTERVAL:
            self._publish()

    def _keep_snapshot(self, epoch_done):
        every = self._config.snapshot_every or max(1, self._trainer.steps_per_epoch // 4)
        if epoch_done or self._steps % every == 0:
            snap = self._trainer.snapshot()
            snap["steps"] = self._steps
            self._history.add(snap, "epoch" if epoch_done else "batch")

    def _require_trainer(self):
        if self._trainer is None:
            raise RuntimeError("No model: choose a data set and a model, then press Reset")
        if self._trainer.finished:
            if self._config.epochs > self._trainer.epoch:
                self._trainer = self._make_trainer(initial_epoch=self._trainer.epoch)
            else:
                raise RuntimeError(f"Training finished after {self._trainer.epoch} epochs: raise Epochs to "
                                   "train on, or press Reset")

    def _step_once(self):
        self._require_trainer()
        start = time.monotonic()
        try:
            # a first step with a cold Numba cache compiles kernels for seconds: the status line says which
            # ("compiling conv kernels 3/17") instead of a frozen window
            with nc.warmup.compiling(self._compile_progress):
                self._trainer.step()
        finally:
            self._compiling = None
        self._step_times = (self._step_times + [time.monotonic() - start])[-20:]

    def _compile_progress(self, message, done, total):
        """Called as kernels compile, on this thread or on a compile pool's: only a string is set here
        (``snapshot`` shows it as the status), never a snapshot built, which would read the model while
        the training thread uses it. The last kernel of a pool (``done == total``) clears it."""
        self._compiling = None if total and done >= total else f"{message} (first run only)..."

    # ----- command handlers --------------------------------------------------------------------
    def _do_reset(self, config):
        if self._trainer is not None:
            self._trainer.close()
        self._clear()
        self._config = config
        self._delay = float(config.delay)
        self._publish(status=f"Loading {config.dataset}...", state="loading", new_model=True)
        key = (config.dataset, config.data_dir, config.limit)
        if key not in self._data_cache:
            self._data_cache = {key: prepare_data(config.dataset, config.data_dir, config.limit)}
        (x, y), (x_val, y_val), self._class_names = self._data_cache[key]
        if config.seed is not None:
            nc.utils.set_random_seed(int(config.seed))
        model = build_model(config, x.shape[1:], len(self._class_names))
        self._val_images = x_val                      # as images, for the input picture
        x, x_val = _fit_inputs(model, x), _fit_inputs(model, x_val)
        if config.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {config.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        loss = "sparse_categorical_crossentropy"
        if not _ends_in_softmax(model):
            loss = nc.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate), loss=loss,
                      metrics=["accuracy"])
        self._softmax_output = _ends_in_softmax(model)
        self._model = model
        self._data = (x, y, x_val, y_val)
        self._trainer = self._make_trainer()
        # with a cold Numba cache, compile the first step's kernels now, in worker processes, while the
        # user looks at the window: Step then waits only for what is not done yet
        nc.warmup.compile_ahead(model, x[:config.batch_size], y[:config.batch_size],
                                progress=self._compile_progress)
        self._table = tuple((layer.name, type(layer).__name__, str(layer.output_shape),
                             int(layer.count_params()), bool(layer.trainable)) for layer in model.layers)
        self._weights = self._trainer.weights()
        self._grads = self._trainer.gradients()
        self._weighted_layers = tuple(dict.fromkeys(_layer_of(p) for p in self._grads))
        self._histogram_layer = self._weighted_layers[0] if self._weighted_layers else ""
        self._graph = tuple(model_inspect.model_graph(model))
        self._conv_layers = tuple(model_inspect.conv_layers(model))
        self._selected = self._conv_layers[0] if self._conv_layers else model.layers[0].name
        first = self._trainer.snapshot()
        first["steps"] = 0
        self._history.add(first, "epoch")
        self._record_confusion(0)
        self._publish(status=f"Ready: {model.name} on {len(x)} {config.dataset} images "
                             f"({len(x_val)} for validation); press Step batch or Run", new_model=True)

    def _make_trainer(self, initial_epoch=0):
        x, y, x_val, y_val = self._data
        trainer = self._model.make_trainer(
            x, y, batch_size=self._config.batch_size, epochs=self._config.epochs, initial_epoch=initial_epoch,
            validation_data=(x_val, y_val) if len(x_val) else None)
        trainer.on_step.append(self._record_step)
        trainer.on_epoch_end.append(self._record_epoch)
        return trainer

    def _do_steps(self, n):
        self._require_trainer()
        if self._jobs and self._jobs[-1][0] == "steps":
            self._jobs[-1][1] += n
        else:
            self._queue_job(["steps", n])

    def _do_epoch(self, _):
        self._require_trainer()
        self._queue_job(["epoch"])

    def _queue_job(self, job):
        if not self._jobs:
            self._next_step_at = 0.0
        self._jobs.append(job)

    def _do_run(self, _):
        self._require_trainer()
        self._jobs.clear()
        self._queue_job(["run"])
        self._publish(status="Running")

    def _do_pause(self, _):
        if self._jobs:
            self._jobs.clear()
            t = self._trainer
            where = f"epoch {t.epoch + 1}/{t.epochs}, batch {t.batch}/{t.steps_per_epoch}"
            self._publish(status=f"Paused at {where}")

    def _do_delay(self, seconds):
        self._delay = seconds
        self._next_step_at = min(self._next_step_at, time.monotonic() + seconds)

    def _do_learning_rate(self, value):
        self._config = dataclasses.replace(self._config, learning_rate=value)
        if self._model is not None:
            self._model.optimizer.learning_rate = value
            self._publish(status=f"Learning rate set to {value:g}")

    def _do_epochs(self, value):
        if value < 1:
            raise ValueError(f"Epochs must be at least 1, received {value}")
        self._config = dataclasses.replace(self._config, epochs=value)
        if self._trainer is not None and not self._trainer.finished:
            self._trainer.epochs = value
        self._publish(status=f"Epochs set to {value}")

    def _do_input(self, index):
        self._input_index = index
        self._publish()

    def _do_histograms(self, layer):
        self._histogram_layer = layer
        self._publish()

    def _do_select(self, name):
        if self._model is None:
            return
        known = [layer.name for layer in self._model.layers]
        if name not in known:
            raise ValueError(f"No layer {name!r} in {self._model.name}; its layers are {known}")
        self._selected = name
        if name in self._weighted_layers:
            self._histogram_layer = name
        if self._cell is not None and self._cell[0] != name:
            self._cell = None
        self._publish()

    def _do_view(self, index):
        if not -1 <= index < len(self._history):
            raise ValueError(f"No weight snapshot {index}: {len(self._history)} are kept")
        self._viewing = index
        self._publish(status="Showing the live weights" if index < 0 else
                      f"Showing the weights at {self._history.labels()[index]}: Resume from here trains on "
                      "from them")

    def _do_resume(self, _):
        if self._viewing < 0:
            raise RuntimeError("Choose an earlier snapshot with the Rewind slider first")
        self._jobs.clear()
        snap = self._history[self._viewing]
        if self._trainer.finished or self._trainer.epochs <= snap["epoch"]:
            self._trainer = self._make_trainer(initial_epoch=snap["epoch"])
        self._trainer.restore(snap)
        steps = snap["steps"]
        keep = sum(1 for s in self._batch_steps if s <= steps)
        for values in (self._batch_steps, self._batch_loss, self._running_loss, self._running_accuracy):
            del values[keep:]
        for norms in (self._weight_norms, self._grad_norms):
            for values in norms.values():
                del values[keep:]
        epochs = sum(1 for e in self._epoch_numbers if e <= snap["epoch"])
        del self._epoch_numbers[epochs:]
        for values in self._epoch_logs.values():
            del values[epochs:]
        self._steps = steps
        self._prev_mean = 0.0
        self._history.items = self._history.items[:self._viewing + 1]
        self._viewing = -1
        self._weights = self._trainer.weights()
        self._publish(status=f"Resumed from {self._history.labels()[-1]}: press Step or Run to train on")

    def _do_explain(self, request):
        layer, row, col, filt = request
        if layer not in self._conv_layers:
            raise ValueError(f"{layer!r} is not a convolution layer; choose one of {list(self._conv_layers)}")
        self._selected = layer
        self._cell = request
        self._publish()

    def _do_view_width(self, pixels):
        self._view_width = max(200, pixels)
        if self._model is not None:
            self._publish(status=self.snapshot().status)   # the pictures change, not what the status says

    def _do_details(self, on):
        self._details = on
        if self._model is not None:
            self._publish(status=self.snapshot().status)

    def _do_call(self, job):
        job(self._model)

    def _do_misclassified(self, _):
        if self._model is None:
            raise RuntimeError("No model: press Reset first")
        _, _, x_val, y_val = self._data
        n = len(x_val)
        for start in range(0, n, PREDICT_CHUNK):
            order = (self._input_index + 1 + np.arange(start, min(n, start + PREDICT_CHUNK))) % n
            wrong = np.flatnonzero(self._model.predict(x_val[order], verbose=0).argmax(-1) != y_val[order])
            if wrong.size:
                self._input_index = int(order[wrong[0]])
                self._publish(status=f"Validation image {self._input_index} is misclassified")
                return
        self._publish(status="The model classifies every validation image correctly")

    def _do_save(self, path):
        if self._model is None:
            raise RuntimeError("No model: press Reset first")
        if not hasattr(self._model, "save_weights"):
            raise _missing("Model.save_weights")
        self._model.save_weights(path)
        self._publish(status=f"Saved weights to {path}")

    def _do_load(self, path):
        if self._model is None:
            raise RuntimeError("No model: press Reset first")
        if not hasattr(self._model, "load_weights"):
            raise _missing("Model.load_weights")
        self._model.load_weights(path)
        self._weights = self._trainer.weights()
        self._publish(status=f"Loaded weights from {path}")

    # ----- hooks (called by Trainer.step on this thread) ---------------------------------------
    def _record_step(self, trainer, logs):
        self._steps += 1
        done = trainer.batch                                  # batches finished in this epoch
        seen_before = (done - 1) * trainer.batch_size
        size = min(trainer.batch_size, len(trainer.x) - seen_before)
        mean = float(logs.get("loss", math.nan))
        previous = self._prev_mean if done > 1 else 0.0
        self._batch_steps.append(self._steps)
        self._batch_loss.append((mean * (seen_before + size) - previous * seen_before) / size)
        self._running_loss.append(mean)
        self._running_accuracy.append(float(logs.get("accuracy", math.nan)))
        self._prev_mean = mean
        self._weights, self._grads = trainer.weights(), trainer.gradients()
        for norms, arrays in ((self._weight_norms, {p: self._weights[p] for p in self._grads}),
                              (self._grad_norms, self._grads)):
            sums = {}
            for path, a in arrays.items():
                sums[_layer_of(path)] = sums.get(_layer_of(path), 0.0) + float(np.vdot(a, a))
            for layer, s in sums.items():
                norms.setdefault(layer, []).append(math.sqrt(s))

    def _record_epoch(self, trainer, logs):
        self._epoch_numbers.append(trainer.epoch + 1)
        for key in [*logs, *(k for k in self._epoch_logs if k not in logs)]:
            self._epoch_logs.setdefault(key, [math.nan] * (len(self._epoch_numbers) - 1))
            self._epoch_logs[key].append(float(logs.get(key, math.nan)))
        self._record_confusion(trainer.epoch + 1)

    def _record_confusion(self, epoch):
        _, _, x_val, y_val = self._data
        if len(x_val):
            k = len(self._class_names)
            predicted = self._model.predict(x_val, batch_size=PREDICT_CHUNK, verbose=0).argmax(-1)
            self._confusion = np.bincount(y_val * k + predicted, minlength=k * k).reshape(k, k)
            self._confusion_epoch = epoch

    # ----- publishing --------------------------------------------------------------------------
    def _pictures(self):
        """Filters, the chosen input's activations and probabilities, the histograms and the Explain tab,
        for the live weights or for the snapshot on view (put on the model for the time it takes)."""
        if self._viewing < 0:
            return self._pictures_of(self._weights)
        snap = self._history[self._viewing]
        live = {w.path: w.numpy() for w in self._model.weights}
        by_path = {w.path: w for w in self._model.weights}
        try:
            for path, value in snap["weights"].items():
                by_path[path].assign(value)
            return self._pictures_of(snap["weights"])
        finally:
            for path, value in live.items():
                by_path[path].assign(value)

    def _pictures_of(self, weights):
        out = {"filters": {}, "filter_range": {}}
        depthwise = {w.path for w in self._model.weights
                     if isinstance(w.layer, (nc.layers.DepthwiseConv2D, nc.layers.SeparableConv2D))
                     and w.name in ("kernel", "depthwise_kernel")}
        for path, w in weights.items():
            if path in depthwise and w.ndim == 4:
                # (KH, KW, C, M): every (channel, multiplier) is a one-channel filter of its own
                w = w.reshape(w.shape[:2] + (1, -1))
            elif not (path.endswith("/kernel") and w.ndim == 4):
                continue
            layer = _layer_of(path)
            out["filters"][layer] = (w.shape, Picture(images.filter_grid(w, FILTER_BOX)))
            out["filter_range"][layer] = float(np.abs(w).max()) if w.size else 0.0
        _, _, x_val, y_val = self._data
        if len(x_val):
            i = self._input_index = min(max(0, self._input_index), len(x_val) - 1)
            acts = self._trainer.activations(x_val[i:i + 1])
            out["input_index"], out["input_label"] = i, int(y_val[i])
            sample = images.sample_image(self._val_images[i])
            out["input_picture"] = Picture(images.fit(sample, INPUT_BOX), INPUT_BOX)
            width = self._view_width
            pictures, ranges = [], {}
            for name, a in acts:
                lo, hi = ranges[name] = images.layer_range(a[0])
                box = (width, ACTIVATION_ROW if a.ndim > 2 else 48)
                pictures.append((name, str((None, *a.shape[1:])),
                                 Picture(images.feature_grid(a[0], box, scale_range=(lo, hi)), box)))
            out["activations"], out["activation_ranges"] = tuple(pictures), ranges
            last = np.asarray(acts[-1][1][0], dtype=np.float64).reshape(-1)
            out["probabilities"] = last if self._softmax_output else _softmax(last)
            if self._details:
                out.update(self._explain_pictures(x_val[i], sample, dict(acts), int(np.argmax(last))))
        layer = self._histogram_layer
        if layer:
            out["weight_histogram"] = _histogram(_values_of(layer, weights, self._grads))
            out["grad_histogram"] = _histogram(_values_of(layer, self._grads, self._grads))
        out["histogram_layer"] = layer
        return out

    def _explain_pictures(self, x, sample, acts, predicted):
        """Saliency and Grad-CAM of input ``x`` for its predicted class, the chosen conv layer's map and
        the explained cell (numbacnn.models.inspect; the same numbers the layers compute)."""
        out = {"explained_class": predicted}
        model = self._model
        grad = model_inspect.saliency(model, x, predicted)
        if grad.ndim == 3:
            magnitude = np.abs(grad).max(axis=-1)
        else:
            magnitude = np.abs(images.sample_image(grad)[..., 0])
        top = float(magnitude.max())
        heat = magnitude / top if top > 0 else magnitude
        out["saliency"] = Picture(images.fit(images.colormap(heat, "hot"), EXPLAIN_BOX), EXPLAIN_BOX)
        cam_layer = model_inspect.last_conv_layer(model)
        if cam_layer is not None and sample.shape[:2] == tuple(model.input.shape[1:3]):
            cam = model_inspect.grad_cam(model, x, cam_layer, predicted)
            out["grad_cam"] = Picture(images.fit(images.heat_overlay(sample, cam["heatmap"]), EXPLAIN_BOX),
                                      EXPLAIN_BOX)
            out["grad_cam_layer"] = cam_layer
        layer = self._selected if self._selected in self._conv_layers else (
            self._conv_layers[0] if self._conv_layers else "")
        if not layer or acts.get(layer) is None or acts[layer].ndim != 4:
            return out
        fmap = acts[layer][0]
        cell = self._cell if self._cell is not None and self._cell[0] == layer else None
        filt = cell[3] if cell is not None else 0
        filt = min(filt, fmap.shape[-1] - 1)
        lo, hi = images.layer_range(fmap[..., filt])
        picture = images.feature_grid(fmap[..., filt:filt + 1], EXPLAIN_BOX, scale_range=(lo, hi))
        out["cell_map"] = Picture(picture, EXPLAIN_BOX)
        out["cell_map_info"] = (layer, filt, fmap.shape[0], fmap.shape[1], fmap.shape[2], lo, hi)
        if cell is not None:
            e = model_inspect.explain_conv_cell(model, x, layer, cell[1:])
            out["explanation"] = e
            if e["input_name"] == "input":
                src = sample
            else:
                src_act = acts[e["input_name"]][0]
                channel = int(np.argmax(np.abs(e["products"]).sum(axis=(0, 1))))
                e["shown_channel"] = channel
                src = images.colormap(images.normalize(src_act[..., channel]))
            out["field_picture"] = Picture(images.fit(np.asarray(src, np.float32), EXPLAIN_BOX), EXPLAIN_BOX)
        return out

    def _publish(self, status=None, state=None, new_model=False):
        """Build a new Snapshot from what is recorded (copies) and swap it in."""
        previous = self.snapshot()
        trainer = self._trainer
        fields = {
            "version": previous.version + 1,
            "generation": previous.generation + (1 if new_model else 0),
            "status": status if status is not None else self._progress_text(),
            "running": bool(self._jobs),
            "steps": self._steps,
            "class_names": self._class_names,
            "table": self._table,
            "weighted_layers": self._weighted_layers,
            "batch_steps": _thinned(self._batch_steps),
            "batch_loss": _thinned(self._batch_loss),
            "running_loss": _thinned(self._running_loss),
            "running_accuracy": _thinned(self._running_accuracy),
            "epoch_numbers": np.array(self._epoch_numbers, dtype=np.float64),
            "epoch_logs": {k: np.array(v, dtype=np.float64) for k, v in self._epoch_logs.items()},
            "weight_norms": {k: _thinned(v) for k, v in self._weight_norms.items()},
            "grad_norms": {k: _thinned(v) for k, v in self._grad_norms.items()},
            "confusion": None if self._confusion is None else self._confusion.copy(),
            "confusion_epoch": self._confusion_epoch,
            "graph": self._graph,
            "conv_layers": self._conv_layers,
            "selected": self._selected,
            "history": tuple(self._history.labels()),
            "history_steps": tuple(s["steps"] for _, s in self._history.items),
            "viewing": self._viewing,
        }
        if trainer is not None:
            fields.update(epoch=trainer.epoch, epochs=trainer.epochs, batch=trainer.batch,
                          steps_per_epoch=trainer.steps_per_epoch, model_name=self._model.name,
                          learning_rate=float(self._model.optimizer.learning_rate),
                          state=state or ("finished" if trainer.finished else
                                          "running" if fields["running"] else "idle"))
            if self._step_times:
                fields["steps_per_second"] = 1.0 / max(float(np.median(self._step_times)), 1e-9)
            try:
                fields.update(self._pictures())
            except Exception as err:  # a view that cannot be drawn must not stop training
                fields["status"] = f"Could not draw the pictures: {type(err).__name__}: {err}"
        else:
            fields["state"] = state or "error"
        snap = Snapshot(**fields)
        with self._lock:
            self._snapshot = snap
        self._last_publish = time.monotonic()

    def _progress_text(self):
        t = self._trainer
        if t is None:
            return "No model"
        logs = ", ".join(f"{k} {v:.4f}" for k, v in t.logs.items())
        if t.finished:
            return f"Finished {t.epoch} epochs ({self._steps} batches)" + (f"; {logs}" if logs else "")
        if t.batch == 0 and self._epoch_numbers:
            last = ", ".join(f"{k} {v[-1]:.4f}" for k, v in self._epoch_logs.items())
            return f"Epoch {t.epoch}/{t.epochs} done: {last}"
        where = f"Epoch {t.epoch + 1}/{t.epochs}, batch {t.batch}/{t.steps_per_epoch}"
        return where + (f": {logs}" if logs else "")
