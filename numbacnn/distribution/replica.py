"""What a :class:`~numbacnn.models.trainer.Trainer` asks of the distribution: its one hook into training.

``Replica.for_trainer(model)`` is None without a distribution of several ranks, and the Trainer then runs
as one process. Otherwise the Trainer calls, and the engine knows nothing else about ranks:

- ``callbacks(verbose, callbacks)``: the progress bar and file-writing callbacks on rank 0 only;
- ``start(model)``: once, when training starts: rank 0's weights and optimizer state everywhere;
- ``order(order)``: the epoch's sample order, rank 0's;
- ``shard(idx)`` / ``shard_arrays(arrays)``: this rank's part of a global batch;
- ``step(model, xs, ys, sws, n_global)``: one training step on the shard, the gradients summed across
  ranks weighted by each shard's share (``model._train_step(..., sync=...)``);
- ``logs(logs)`` / ``validation(val)`` / ``validation_logs(logs)``: logs averaged across ranks;
- ``guard()``: an exception on this rank ends every rank with ``rank R failed: <cause>``.
"""

from .data_parallel import distribution

__all__ = ["Replica"]

_WRITERS = ("ModelCheckpoint", "CSVLogger", "TensorBoard", "ProgbarLogger")


class _GradientSync:
    """The ``sync`` argument of ``model._train_step``: reduce the gradients of one step."""

    def __init__(self, dist, extra, share):
        self.dist, self.extra, self.share = dist, extra, share

    def __call__(self, trainable, loss):
        """Sum ``share * (gradients, moving statistics, loss)`` across ranks; returns the global loss."""
        return self.dist.reduce_gradients(trainable, self.extra, loss, self.share)


class Replica:
    """One rank's part in a Trainer's run."""

    def __init__(self, dist, model):
        self.dist = dist
        self.model = model
        self.seen = 0          # samples this rank trained on this epoch (weights the averaged logs)
        self._val_count = None
        self._extra = None

    @classmethod
    def for_trainer(cls, model):
        dist = distribution()
        if dist is None or dist.num_processes == 1:
            return None
        return cls(dist, model)

    @property
    def rank(self):
        return self.dist.rank

    def guard(self):
        from ..models.trainer import NonFiniteLossError

        return self.dist.abort_on_error(passes=(NonFiniteLossError,))

    def callbacks(self, verbose, callbacks):
        """(verbose, callbacks) for this rank: rank 0 keeps them; the others print and write nothing."""
        if self.rank == 0:
            return verbose, callbacks
        kept = [c for c in callbacks or [] if type(c).__name__ not in _WRITERS]
        return 0, kept

    def start(self, model):
        """Rank 0's model everywhere; and Ctrl-C (which mpiexec forwards to every rank, each at a batch
        of its own) ends the job at once rather than leaving ranks waiting for each other: files written
        by ModelCheckpoint are replaced atomically, so the last checkpoint stays whole."""
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            dist = self.dist

            def interrupted(signum, frame):
                from .data_parallel import _abort

                _abort(dist.comm, KeyboardInterrupt("interrupted (Ctrl-C); the last checkpoint is kept"),
                       tb=False)

            signal.signal(signal.SIGINT, interrupted)
        self.dist.broadcast_model(model)

    def begin_epoch(self):
        self.seen = 0

    def order(self, order):
        return self.dist.broadcast_order(order)

    def shard(self, idx):
        start, stop = self.dist.shard_bounds(len(idx))
        return idx[start:stop]

    def shard_arrays(self, arrays):
        """This rank's rows of a list of arrays (None entries stay None), or None for None."""
        if arrays is None:
            return None
        n = len(next(a for a in arrays if a is not None))
        start, stop = self.dist.shard_bounds(n)
        return [None if a is None else a[start:stop] for a in arrays]

    def _moving_statistics(self, model):
        """The BatchNormalization moving statistics that training updates per replica (not those of a
        frozen layer, nor SyncBatchNormalization's, which are the same on every rank)."""
        if self._extra is None:
            from ..layers.normalization import BatchNormalization
            from .sync_batchnorm import SyncBatchNormalization

            self._extra = [w for w in model.weights
                           if not w.trainable and isinstance(w.layer, BatchNormalization)
                           and not isinstance(w.layer, SyncBatchNormalization) and w.layer.trainable]
        return self._extra

    def step(self, model, xs, ys, sws, n_global):
        """Train on this rank's shard (``xs`` etc., already sliced) of a global batch of ``n_global``."""
        n = len(xs[0])
        sync = _GradientSync(self.dist, self._moving_statistics(model), n / n_global)
        from .sync_batchnorm import step_share

        with step_share(n / n_global):
            if n == 0:
                logs = model._apply_reduced_gradients(sync)
            else:
                logs = model._train_step(xs, ys, sws, sync=sync)
        self.seen += n
        return self.logs(logs)

    def logs(self, logs):
        return self.dist.average_logs(logs, self.seen)

    def validation(self, val):
        """This rank's share of the validation arrays ``(xs, ys, sws)``, when every rank gets some."""
        if val is None:
            return None
        xs, ys, sws = val
        n = len(xs[0])
        if n < self.dist.num_processes:
            self._val_count = None   # too few to share out: every rank evaluates all of them
            return val
        start, stop = self.dist.shard_bounds(n)
        self._val_count = stop - start

        def cut(arrays):
            return None if arrays is None else [None if v is None else v[start:stop] for v in arrays]

        return cut(xs), cut(ys), cut(sws)

    def validation_logs(self, logs):
        if self._val_count is None:
            return logs
        return self.dist.average_logs(logs, self._val_count)

