"""``keras.utils.PyDataset``: a data set as batches by index, read by ``fit``, ``evaluate`` and ``predict``.

    class Photos(PyDataset):
        def __init__(self, paths, labels, batch_size, **kwargs):
            super().__init__(**kwargs)          # workers=1, use_multiprocessing=False, max_queue_size=10
            ...
        def __len__(self):                      # batches per epoch (or a num_batches property; None: unknown)
            return math.ceil(len(self.paths) / self.batch_size)
        def __getitem__(self, i):               # batch i: (x,), (x, y) or (x, y, sample_weight)
            ...
        def on_epoch_end(self):                 # optional, e.g. reshuffle
            ...

    model.fit(Photos(paths, labels, 32, workers=4), epochs=5)

While the model trains on batch i, ``workers`` threads (processes with ``use_multiprocessing=True``) load the
batches after it, up to ``max_queue_size`` ahead (see :mod:`numbacnn.models.data_adapters`).
"""

import itertools
import warnings


class PyDataset:
    """Base class of data sets given to ``fit`` as batches by index (Keras 3's ``keras.utils.PyDataset``,
    also called ``Sequence``)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = [name for name in ("_workers", "_use_multiprocessing", "_max_queue_size")
                   if not hasattr(self, name)]
        if missing:
            self._workers = getattr(self, "_workers", 1)
            self._use_multiprocessing = getattr(self, "_use_multiprocessing", False)
            self._max_queue_size = getattr(self, "_max_queue_size", 10)
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                          "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                          "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be "
                          "ignored.",
                          stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """Batch ``index``: a tuple ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` of numpy arrays."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    def __iter__(self):
        count = self.num_batches
        for index in (range(count) if count is not None else itertools.count()):
            try:
                yield self[index]
            except IndexError:
                if count is None:
                    return
                raise

    @property
    def num_batches(self):
        """Batches per epoch: ``len(self)``; a subclass without ``__len__`` overrides this (None: unknown,
        read until ``__getitem__`` raises IndexError or ``steps_per_epoch`` is reached)."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError("You need to implement the `num_batches` property:\n\n"
                                  "@property\ndef num_batches(self):\n  return ...")

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset
