"""Compile a model's kernels ahead of its first training step, into Numba's on-disk cache.

Numba compiles a kernel the first time it is called with new argument types, and keeps the machine code in
its cache (``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the kernel modules); a later process loads it in
milliseconds. So the first training step of a fresh install (or after an upgrade of numbacnn or Numba) waits
for every kernel it touches. This module does that wait up front, on purpose and visibly:

    python -m numbacnn warmup                         # the README's fashion_cnn
    python -m numbacnn warmup --model lenet5 cifar_cnn --jobs 2   # two compile worker processes

    from numbacnn import warmup
    warmup.warm_models(["fashion_cnn"])               # what the command line runs
    warmup.compile_for(model, progress=print)         # a built, compiled model: its kernels, with progress
    warmup.is_cold(model)                             # whether its first step would compile kernels

A model's first training step in a process (:func:`first_step`, which ``fit`` and ``train_on_batch`` go
through) does the same on its own when the cache is cold: it discovers the kernels it needs on a twin and
has them compiled in parallel by worker processes (:mod:`numbacnn.compile_pool`), one per core, while it
waits for the ones it needs first; the inference kernels go on compiling in the background.

``compile_for`` runs one training step and one prediction on a twin of the model (rebuilt from its JSON
architecture, so the model's own weights and optimizer state are left alone) with zero data of its input
shape: the same kernels, layouts and dtypes as the real first step (Numba specialises on types; the
routes some kernels choose by size are covered by a full and a partial batch, see ``WARMUP_BATCH``).
``progress(message, done, total)`` is called as each kernel is ready, e.g.
``("compiling conv kernels 3/17", 3, 17)``: a GUI can show it instead of a frozen first step.
"""

import json
import os
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np

DEFAULT_MODELS = ("fashion_cnn",)
"""What ``python -m numbacnn warmup`` warms without ``--model``: the README's model."""

WARMUP_BATCH = 32
"""The batch size of the warm-up step: the command line's default. Numba specialises on types, not sizes,
but some kernels choose their route by size (a matrix product split across threads or not), so the step
runs at a usual size, and the prediction on one and a half batches (a full one and a partial last one)."""


def kernel_family(dispatcher):
    """The kernel family of a dispatcher, by its module: 'conv' for numbacnn.kernels.cpu.conv_direct."""
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
    name = module.rsplit(".", 1)[-1]
    return name.split("_")[0] if module.startswith("numbacnn.kernels") else name


@contextmanager
def compile_events(progress=None):
    """Record Numba's compilations within the block: yields a list that fills with ``(kernel, family,
    argument types, seconds)`` as each compilation ends; ``progress(message, done)`` is called as each one
    starts ("compiling conv kernels 3", 3: the third compilation so far, of a conv kernel)."""
    from numba.core import event

    done = []
    starts = []

    class Listener(event.Listener):
        def on_start(self, ev):
            starts.append(time.perf_counter())
            if progress is not None:
                count = len(done) + len(starts)
                progress(f"compiling {kernel_family(ev.data['dispatcher'])} kernels {count}", count)

        def on_end(self, ev):
            t0 = starts.pop()
            disp = ev.data["dispatcher"]
            fn = disp.py_func
            done.append((f"{fn.__module__}.{fn.__qualname__}", kernel_family(disp),
                         ", ".join(str(a) for a in ev.data["args"]), time.perf_counter() - t0))

    with event.install_listener("numba:compile", Listener()):
        yield done


def _twin(model):
    """A fresh copy of the compiled ``model`` (same architecture, optimizer class and losses), or None when
    its architecture cannot be rebuilt from JSON (e.g. a custom layer that is not registered)."""
    from . import models, optimizers

    try:
        twin = models.model_from_json(model.to_json())
    except Exception:  # a custom, unregistered layer: warm nothing rather than fail the caller
        return None
    settings = getattr(model, "_compile_config", None)
    if settings is None or model.optimizer is None:
        return None
    optimizer = optimizers.deserialize(optimizers.serialize(model.optimizer))
    metrics = settings.get("metrics")
    if not (isinstance(metrics, (list, tuple)) and all(isinstance(m, str) for m in metrics)):
        metrics = None
    twin.compile(optimizer=optimizer, loss=settings["loss"], metrics=metrics,
                 loss_weights=settings.get("loss_weights"))
    return twin


def _zeros(shapes, batch, dtype=np.float32):
    out = [np.zeros((batch,) + tuple(s[1:]), dtype) for s in shapes]
    return out[0] if len(out) == 1 else out


def _labels(model, batch):
    """Zero labels for each output, shaped for its loss: class ids (N,) for a sparse loss, else the
    output's shape."""
    ys = []
    for out, shape in zip(model._compiled, _shapes(model.outputs)):
        fn = out.loss
        name = str(getattr(fn, "name", None) or getattr(fn, "__name__", None) or type(fn).__name__).lower()
        if "sparse" in name:
            ys.append(np.zeros((batch,), np.int64))
        else:
            ys.append(np.zeros((batch,) + tuple(shape[1:]), np.float32))
    return ys[0] if len(ys) == 1 else ys


def _shapes(tensors):
    return [tuple(t.shape) for t in (tensors if isinstance(tensors, (list, tuple)) else [tensors])]


def compile_for(model, progress=None, batch=WARMUP_BATCH, jobs=None):
    """Compile (or load from the cache) the kernels of ``model``'s training step and prediction, on a twin
    of it, in ``jobs`` worker processes (see :func:`first_step`); returns how many kernel specialisations
    were compiled (0 when everything was cached), or None when the model cannot be rebuilt from its JSON
    architecture (nothing is compiled then). ``progress(message, done, total)`` as for :func:`compiling`."""
    from . import compile_pool

    twin = _twin(model)
    if twin is None:
        return None
    x = _zeros(_shapes(twin.inputs), batch)
    y = _labels(twin, batch)
    x_predict = _zeros(_shapes(twin.inputs), batch + max(1, batch // 2))
    before = len(compile_pool.history)
    with compiling(progress, jobs), compile_events() as events:
        twin.train_on_batch(x, y)  # its first step: the workers compile what it and inference need
        compile_pool.wait_idle()
        twin.predict(x_predict, batch_size=batch, verbose=0)
    return len(events) + len(compile_pool.history) - before


_local = threading.local()


@contextmanager
def compiling(progress=None, jobs=None):
    """Within the block, on this thread, a model's first training step (:func:`first_step`) reports the
    kernels it compiles to ``progress(message, done, total)`` ("compiling conv kernels 3/17" as each
    worker's kernel is ready; ``total`` None for one compiled in this process), and uses ``jobs`` compile
    workers (None: :func:`compile_pool.default_jobs`). The visual debugger shows the messages on its status
    line instead of a frozen first step; ``python -m numbacnn warmup --jobs N`` sets the workers."""
    previous = getattr(_local, "settings", (None, None))
    _local.settings = (progress, jobs)
    try:
        yield
    finally:
        _local.settings = previous


@contextmanager
def _state_kept():
    """Restore, after the block, the random generators (numbacnn's, NumPy's legacy one and Python's) and the
    default-name counters: a run whose first step discovered its kernels on a twin continues exactly as one
    that did not (same dropout masks, same shuffles, same model names)."""
    import random

    from . import backend

    generator = backend.rng()
    state = (generator.bit_generator.state, np.random.get_state(), random.getstate(),
             dict(backend._NAME_COUNTERS))
    try:
        yield
    finally:
        backend._RNG = generator
        generator.bit_generator.state = state[0]
        np.random.set_state(state[1])
        random.setstate(state[2])
        backend._NAME_COUNTERS.clear()
        backend._NAME_COUNTERS.update(state[3])


def _settings(progress, jobs):
    from . import compile_pool

    settings = getattr(_local, "settings", (None, None))
    progress = progress if progress is not None else settings[0]
    jobs = jobs if jobs is not None else settings[1]
    return progress, compile_pool.default_jobs() if jobs is None else jobs


def _submit_cold_kernels(model, step, progress, jobs):
    """Discover on a twin of ``model`` the kernels ``step(twin, False)`` would compile, handing each to a
    pool of ``jobs`` compile workers as it is found; the pool (closing itself once they are done), or None
    when the twin cannot be built."""
    from . import compile_pool

    with _state_kept():  # the twin's initialisers and dropout draw nothing from the model's generators
        twin = _twin(model)
        if twin is None:
            return None
        twin._kernels_checked = twin._dry_run = True
        pool = compile_pool.CompilePool(jobs, progress=progress)
        with compile_pool.discover(pool):
            try:
                step(twin, False)
            except Exception:  # what was found until a failure of the dry run still counts
                pass
    pool.close(wait=False)
    return pool


def first_step(model, step, progress=None, jobs=None):
    """Run the first training step of ``model`` in this process, with its kernels compiled in parallel
    worker processes when Numba's cache lacks them (:mod:`numbacnn.compile_pool`); returns what the step
    returns.

    ``step(m, real)`` runs the step on ``m``: first on a twin of the model with ``real`` False, to discover
    the kernels it will need (and the inference ones, which ``fit``'s validation and ``predict`` need
    later), then on the model itself. The workers start only when the cache is cold for the model's layers
    (:func:`is_cold`) and ``jobs`` (default :func:`compile_pool.default_jobs`: the cores, or
    ``NUMBACNN_COMPILE_JOBS``) is above 1; they go on compiling the inference kernels in the background
    after the step. ``progress`` and ``jobs`` default to what :func:`compiling` set."""
    progress, jobs = _settings(progress, jobs)
    cold = is_cold(model)
    if cold and jobs > 1:
        _submit_cold_kernels(model, step, progress, jobs)
    if cold and progress is not None:
        def local(message, done):
            progress(message, done, None)

        with compile_events(local):
            return step(model, True)
    return step(model, True)


def compile_ahead(model, x, y, progress=None, jobs=None):
    """Start compiling, in the background, the kernels of ``model``'s training step on a batch like
    ``(x, y)`` (and of its inference), when the cache is cold; returns at once, with the number of kernels
    handed to worker processes (0 when none was needed). The first training step then waits only for what
    is not done yet: the visual debugger calls this as soon as a model is built, so that compiling
    overlaps the user's first look at the window."""
    from .compile_pool import copies

    progress, jobs = _settings(progress, jobs)
    if jobs < 2 or not is_cold(model):
        return 0
    xs, ys, sws = model._prepare_data(x, y)
    xs = model._place_inputs(xs)

    def step(m, real):
        m._train_step_body(copies(xs), copies(ys), copies(sws), None)
        m._test_step(copies(xs), copies(ys), copies(sws))

    pool = _submit_cold_kernels(model, step, progress, jobs)
    return 0 if pool is None else pool._total


def build_named(name, dataset=None):
    """One of numbacnn.applications by name (or a JSON architecture file), compiled as the command line
    trains it (Adam, sparse categorical cross-entropy, accuracy), for ``dataset``'s images when given."""
    from . import cli

    shape = cli.IMAGE_SHAPES[dataset] if dataset else None
    model = cli.build_model(name, input_shape=shape, num_classes=10 if dataset else None)
    cli.compile_model(model, np.zeros(1, np.int64), "adam")
    return model


def warm_model(name, dataset=None, jobs=None):
    """Warm one named model in this process (its kernels compiled by ``jobs`` worker processes):
    ``(name, compilations, seconds)``."""
    t0 = time.perf_counter()
    count = compile_for(build_named(name, dataset), jobs=jobs)
    return name, count or 0, time.perf_counter() - t0


def warm_models(names=DEFAULT_MODELS, jobs=None, dataset=None, out=None):
    """Warm each named model, one after the other, each model's kernels compiled in parallel by ``jobs``
    worker processes (None: the cores; 1: all in this process) into the shared on-disk cache; prints one
    line per model to ``out`` (default stdout) and returns ``[(name, compilations, seconds)]``."""
    out = sys.stdout if out is None else out
    results = []
    for n in dict.fromkeys(names):
        results.append(warm_model(n, dataset, jobs))
        _say(results[-1], out)
    return results


def _say(result, out):
    name, count, seconds = result
    what = f"compiled {count} kernel specialisations" if count else "all kernels were cached already"
    print(f"{name}: {what} ({seconds:.1f} s)", file=out, flush=True)


# ----- is the cache cold? --------------------------------------------------------------------------------
def _cached_on_disk(dispatcher):
    """Whether Numba's cache holds at least one current specialisation of ``dispatcher`` (its index file
    exists and matches the kernel's source; Numba drops an index whose source changed)."""
    cache = getattr(dispatcher, "_cache", None)
    cache_file = getattr(cache, "_cache_file", None)
    if cache_file is None:
        return False
    try:
        return bool(cache_file._load_index())
    except Exception:
        return False


def _kernel_modules(model):
    """``{module name: [dispatchers]}`` of the public CPU kernel modules ``model``'s layers use, found by the
    layer classes' names (Conv2D: conv, MaxPooling2D: pooling, BatchNormalization: normalization, ...),
    plus activations, losses and optimizers, which every training step calls."""
    from numba.core.dispatcher import Dispatcher

    from .kernels import cpu

    wanted = {"activations", "losses", "optimizers"}
    for layer in _layers(model):
        words = type(layer).__name__.lower()
        wanted.update(m for m in cpu._MODULES if m[:4] in words)
    found = {}
    for module in sorted(wanted):
        mod = sys.modules.get(f"{cpu.__name__}.{module}")
        # the module's own @njit kernels and those it imports (conv's public functions call conv_direct's)
        found[module] = [d for d in vars(mod).values() if isinstance(d, Dispatcher)] if mod else []
    return {m: ds for m, ds in found.items() if ds}


def _layers(model):
    out, stack = [], list(getattr(model, "layers", ()))
    while stack:
        layer = stack.pop()
        out.append(layer)
        stack.extend(getattr(layer, "layers", ()))
    return out


def is_cold(model):
    """Whether ``model``'s first training step will compile kernels, judged cheaply (a few small index
    files read): some kernel module its layers use (see ``_kernel_modules``) has no kernel compiled, in this
    process or in Numba's on-disk cache (a fresh install, an emptied cache, or an upgrade of numbacnn or
    Numba: Numba drops cache entries whose source changed). A model that only adds a new layer type to a
    warm cache is judged by that layer's module. On the CPU device only (CUDA kernels are not cached)."""
    from . import backend

    if backend.get_device() != "cpu":
        return False
    return any(not any(d.signatures or _cached_on_disk(d) for d in ds)
               for ds in _kernel_modules(model).values())


def cache_location():
    """Where Numba keeps its cache: ``NUMBA_CACHE_DIR``, else the kernels' ``__pycache__``."""
    from numba.core import config

    from .kernels import cpu

    return config.CACHE_DIR or os.path.join(os.path.dirname(cpu.__file__), "__pycache__")


def main_json(argv):
    """``python -m numbacnn.warmup NAME...``: warm the models, print the results as JSON (for tests)."""
    print(json.dumps(warm_models(argv, out=sys.stderr)))


if __name__ == "__main__":
    main_json(sys.argv[1:])
