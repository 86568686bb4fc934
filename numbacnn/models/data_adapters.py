"""Batches from Python generators, iterables and ``PyDataset`` objects, for ``fit``, ``evaluate`` and
``predict``, loaded in the background while the model computes.

    adapter = StreamAdapter(data, steps=None, shuffle=False)
    adapter.num_batches                   # batches per epoch: len(PyDataset), steps, or None (unknown)
    for x, y, sample_weight in adapter.epoch():   # one epoch; batch i+1 loads while batch i trains
        ...
    adapter.close()

- A ``PyDataset`` is read by index: ``dataset[i]`` for i in 0..num_batches-1 (shuffled in ``fit`` when
  ``shuffle``), ``workers`` threads (processes with ``use_multiprocessing``, a fresh pool each epoch so that
  ``on_epoch_end``'s changes reach them) keeping up to ``max_queue_size`` batches ready. Keras runs
  ``workers=1`` without a thread; numbacnn always loads at least one batch ahead, in one thread.
  ``on_epoch_begin`` / ``on_epoch_end`` are called around every epoch.
- A generator or iterator is read once, by one background thread, one batch ahead; an iterable that is not
  an iterator (a class with ``__iter__``) is iterated afresh each epoch.
- With ``steps`` (``steps_per_epoch``), an epoch is that many batches and the next epoch carries on where it
  stopped (a finite ``PyDataset`` starts over at its end), as Keras 3 does. Without it, an epoch ends when
  the data does (StopIteration, or IndexError from an unsized ``PyDataset``).

Each batch is ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a bare array is ``(x,)``; each part may be
a list or dict of arrays for a model with several inputs or outputs), given back as a 3-tuple with None for
what is missing. Loading overlaps the step because numbacnn's kernels release the GIL
(``nogil=True``), and so do Pillow's decoders and numpy's large copies.
"""

import concurrent.futures
import multiprocessing
import queue
import threading

import numpy as np

from .. import backend
from ..utils.py_dataset import PyDataset

_END = object()


def is_stream(x):
    """Whether ``x`` is data to stream (a PyDataset, generator, iterator or iterable) rather than arrays."""
    if isinstance(x, PyDataset):
        return True
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(x, "__array__"):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__")


def standardize_batch(batch, who="the data"):
    """``(x, y, sample_weight)`` (None where missing) from what a generator or PyDataset gave."""
    if isinstance(batch, np.ndarray) or hasattr(batch, "__array__") and not isinstance(batch, (list, tuple)):
        return (batch, None, None)
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
        raise ValueError(f"{who} must give batches as a tuple (x,), (x, y) or (x, y, sample_weight) of numpy "
                         f"arrays; received {str(batch)[:100]}... of type {type(batch).__name__}")
    return tuple(batch) + (None,) * (3 - len(batch))


class _ThreadPrefetcher:
    """Pulls items from ``source`` (an iterator) in one background thread, up to ``depth`` ahead.
    ``get()`` returns the next item, or ``_END`` when the source is exhausted; the source's exception is
    raised there."""

    def __init__(self, source, depth=1):
        self._source = source
        self._queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="numbacnn-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self):
        try:
            for item in self._source:
                if not self._put(("item", item)):
                    return
            self._put(("end", None))
        except BaseException as err:  # handed to the consumer, raised in its thread
            self._put(("error", err))

    def get(self):
        kind, item = self._queue.get()
        if kind == "item":
            return item
        if kind == "error":
            self._stop.set()
            raise item
        self._stop.set()
        return _END

    def close(self):
        self._stop.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=5)


_SHARED = {}


def _process_init(dataset):
    _SHARED["dataset"] = dataset


def _process_get(index):
    return _SHARED["dataset"][index]


class StreamAdapter:
    """One epoch at a time of batches from a PyDataset, a generator/iterator or an iterable (see the module
    docstring). ``who`` names the data in errors ("fit(x=...)")."""

    def __init__(self, data, steps=None, shuffle=False, who="the data"):
        if not is_stream(data):
            raise TypeError(f"{who}: expected a PyDataset, a generator or an iterable of batches, received "
                            f"{type(data).__name__}")
        if steps is not None and int(steps) <= 0:
            raise ValueError(f"{who}: steps must be a positive integer or None, received {steps}")
        self.data = data
        self.who = who
        self.steps = None if steps is None else int(steps)
        self.shuffle = bool(shuffle)
        self.is_py_dataset = isinstance(data, PyDataset)
        self._dataset_batches = None
        if self.is_py_dataset:
            self._dataset_batches = data.num_batches
            if self._dataset_batches is not None:
                self._dataset_batches = int(self._dataset_batches)
                if self._dataset_batches == 0:
                    raise ValueError(f"{who}: the PyDataset has no batches (num_batches is 0)")
        self._one_shot = not self.is_py_dataset and hasattr(data, "__next__")  # an iterator, read once
        self._position = 0           # next index of an unsized or stepped PyDataset
        self._order = None
        self._iterator = None        # a generator's (or iterable's) continuing iterator
        self._prefetcher = None
        self._exhausted = False

    @property
    def num_batches(self):
        """Batches per epoch, or None while unknown (a generator without ``steps``)."""
        if self.steps is not None:
            return self.steps
        return self._dataset_batches

    # ----- PyDataset ----------------------------------------------------------------------------
    def _dataset_indices(self):
        """The indices of one epoch (a list, or a count() for an unsized data set)."""
        n = self._dataset_batches
        if n is None:
            start = self._position if self.steps else 0
            return (start + i for i in range(self.steps)) if self.steps else _count_from(start)
        if self.steps is None:
            order = np.arange(n)
            if self.shuffle:
                order = backend.rng().permutation(n)
            return [int(i) for i in order]
        indices = []
        for _ in range(self.steps):
            if self._position % n == 0:
                self._order = backend.rng().permutation(n) if self.shuffle else np.arange(n)
            indices.append(int(self._order[self._position % n]))
            self._position += 1
        return indices

    def _dataset_epoch(self):
        ds = self.data
        workers = max(1, int(ds.workers or 1))
        ahead = max(1, int(ds.max_queue_size or 1))
        if ds.use_multiprocessing:
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_process_init, initargs=(ds,))
            load = _process_get
        else:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                         thread_name_prefix="numbacnn-pydataset")
            load = ds.__getitem__
        unsized = self._dataset_batches is None
        pending = []
        indices = iter(self._dataset_indices())
        try:
            ds.on_epoch_begin()
            done = False
            while True:
                while not done and len(pending) < ahead:
                    i = next(indices, None)
                    if i is None:
                        done = True
                        break
                    pending.append((i, pool.submit(load, i)))
                if not pending:
                    return
                i, future = pending.pop(0)
                try:
                    batch = future.result()
                except IndexError:
                    if unsized:
                        self._exhausted = True
                        return
                    raise
                if unsized:
                    self._position = i + 1
                yield standardize_batch(batch, f"{self.who} ({type(ds).__name__}[{i}])")
        finally:
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    # ----- generators and iterables ------------------------------------------------------------
    def _stream_epoch(self):
        one_shot = self._one_shot
        if self._prefetcher is None or (not one_shot and self.steps is None):
            if one_shot and self._exhausted:
                return
            self.close()
            self._prefetcher = _ThreadPrefetcher(iter(self.data), depth=1)
        taken = fresh = 0
        while self.steps is None or taken < self.steps:
            batch = self._prefetcher.get()
            if batch is _END:
                self.close()
                if one_shot or self.steps is None or fresh == 0:
                    self._exhausted = True
                    return
                self._prefetcher = _ThreadPrefetcher(iter(self.data), depth=1)  # an iterable starts over
                fresh = 0
                continue
            taken += 1
            fresh += 1
            yield standardize_batch(batch, self.who)

    # ----- public ------------------------------------------------------------------------------
    def epoch(self):
        """An iterator over one epoch's batches ``(x, y, sample_weight)``; the next ones load meanwhile."""
        source = self._dataset_epoch() if self.is_py_dataset else self._stream_epoch()
        try:
            yield from source
        finally:
            source.close()
            if self.is_py_dataset:
                self.data.on_epoch_end()

    def close(self):
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None


def _count_from(start):
    i = start
    while True:
        yield i
        i += 1
