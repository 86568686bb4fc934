"""Synchronous data parallelism over MPI (mpi4py), with Keras 3's ``keras.distribution`` names.

    import numbacnn as keras
    keras.distribution.set_distribution(keras.distribution.DataParallel())   # the one added line
    model.fit(x, y, batch_size=256, epochs=5)     # run as: mpiexec -n 4 python train.py

Every rank runs the same script on the same data. ``fit`` then works on global batches as one process
would: each rank trains on its contiguous shard of every global batch (``batch_size`` is the global
batch), the weight gradients are weighted by the shard's share of the batch and summed across ranks with
``Allreduce`` (several gradients packed into one buffer, in buckets of ``bucket_bytes``, each bucket's
reduction started as soon as it is packed), and every rank applies the same update. So N ranks on a
global batch B compute what one process computes on B, up to the order of float32 sums.

- The weights (and a built optimizer's state) are broadcast from rank 0 when training starts, and the
  shuffled order of each epoch is rank 0's.
- The logs (loss, metrics, validation) are averaged across ranks, weighted by the samples each rank saw,
  before callbacks and History see them: a mean metric is then the one process's value.
- Only rank 0 prints the progress bar and writes files: on the other ranks ``ModelCheckpoint``,
  ``CSVLogger`` and ``TensorBoard`` are left out of ``fit``'s callbacks and ``model.save`` /
  ``save_weights`` do nothing.
- BatchNormalization normalises with each replica's own batch statistics (Keras's default); its moving
  statistics are averaged across ranks after each step (as tf.distribute's MEAN aggregation), so every
  rank holds the same model. ``SyncBatchNormalization`` normalises with the global batch's statistics.
- A rank that raises stops the job: it prints ``rank R failed: <cause>`` and calls ``MPI_Abort``, which
  ends every rank; a rank killed by a signal makes ``mpiexec`` end the others.
- CUDA: each rank computes on the GPU of its ``local_rank`` (its index among the ranks of its machine);
  gradients cross through host memory.

MPI comes from ``mpi4py`` (``pip install "numbacnn[mpi]"`` brings it and MPICH's wheel); a system MPI
(Open MPI, MPICH, Intel MPI) works when mpi4py is built against it.
"""

import contextlib
import os
import sys
import traceback

import numpy as np

__all__ = ["DataParallel", "distribution", "set_distribution", "list_devices", "initialize",
           "launched_world_size"]

DEFAULT_BUCKET_BYTES = 25 * 2 ** 20
"""Gradients are reduced in buffers of at most this many bytes (PyTorch DDP's default bucket size)."""

_STATE = {"distribution": None}

_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS",
                            "SLURM_STEP_NUM_TASKS")


def _mpi():
    """mpi4py's MPI module, or an ImportError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError("numbacnn.distribution needs mpi4py and an MPI library: pip install "
                          f'"numbacnn[mpi]" (mpi4py and MPICH\'s wheel) ({err})') from err
    return MPI


def launched_world_size():
    """How many processes the launcher (``mpiexec``, ``srun``) started, from its environment; 1 when the
    process was not started by one."""
    for name in _LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Start MPI (Keras's ``keras.distribution.initialize``). With MPI the launcher gives the addresses,
    the number of processes and each one's id, so ``job_addresses`` is not used; ``num_processes`` and
    ``process_id``, when given, are checked against what MPI says. Returns ``MPI.COMM_WORLD``."""
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    launched = launched_world_size()
    if launched > 1 and size == 1:
        raise RuntimeError(f"the launcher started {launched} processes but MPI sees only this one: mpiexec "
                           f"and the MPI library mpi4py loaded ({MPI.Get_library_version().splitlines()[0]}) "
                           "do not belong together; run the mpiexec of that library")
    if num_processes is not None and int(num_processes) != size:
        raise ValueError(f"initialize(num_processes={num_processes}): MPI started {size} processes")
    if process_id is not None and int(process_id) != rank:
        raise ValueError(f"initialize(process_id={process_id}): this process is MPI rank {rank}")
    if size > 1:
        _install_excepthook(comm)
    return comm


def _install_excepthook(comm):
    """An exception nobody caught on one rank ends the whole job (else the others wait for it forever)."""
    previous = sys.excepthook
    if getattr(previous, "_numbacnn_aborts", False):
        return

    def hook(kind, value, tb):
        previous(kind, value, tb)
        _abort(comm, value, tb=False)

    hook._numbacnn_aborts = True
    sys.excepthook = hook


def _abort(comm, err, tb=True):
    """Say which rank failed and why (first, then the traceback, then again), and end every rank of
    ``comm`` (MPI_Abort). The launcher forwards output through pipes that the abort tears down, so the
    message goes first and the abort waits a moment for the pipe to drain."""
    import time

    cause = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    message = f"rank {comm.Get_rank()} failed: {cause}\n"
    try:
        sys.stdout.flush()
        sys.stderr.write(message)
        if tb:
            traceback.print_exception(err)
            sys.stderr.write(message)
        sys.stderr.flush()
    except Exception:  # a closed stream must not keep the job alive
        pass
    time.sleep(0.5)
    comm.Abort(1)


def list_devices(device_type=None):
    """The devices of the job, one per rank: ``["cpu:0", "cpu:1", ...]`` (``"cuda:R"`` for
    ``device_type="cuda"``, or when numbacnn computes on CUDA). Keras's ``list_devices``."""
    from .. import backend

    kind = (device_type or backend.get_device()).lower()
    if kind == "gpu":
        kind = "cuda"
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"list_devices(device_type={device_type!r}): numbacnn has 'cpu' and 'cuda' devices")
    size = _mpi().COMM_WORLD.Get_size() if launched_world_size() > 1 or "mpi4py.MPI" in sys.modules else 1
    return [f"{kind}:{i}" for i in range(size)]


def set_distribution(value):
    """Make ``value`` (a :class:`DataParallel`, or None for one process) the distribution ``fit`` uses."""
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution() takes a numbacnn.distribution.DataParallel or None, received "
                        f"{type(value).__name__}")
    _STATE["distribution"] = value


def distribution():
    """The current distribution (a :class:`DataParallel`), or None."""
    return _STATE["distribution"]


def is_writer():
    """Whether this process writes files: rank 0, or any process without a multi-rank distribution."""
    current = _STATE["distribution"]
    return current is None or current.rank == 0


class DataParallel:
    """Synchronous data parallelism over the ranks of ``comm`` (default ``MPI.COMM_WORLD``).

    Args:
        devices: Keras's argument; when given, one device per rank (e.g. ``list_devices()``).
        device_mesh: not used by data parallelism over MPI; must be None.
        comm: the MPI communicator (an ``mpi4py.MPI.Comm``) whose ranks train together.
        bucket_bytes: the most bytes of gradients reduced by one ``Allreduce``.

    Attributes: ``rank``, ``num_processes``, ``local_rank`` (the rank among those of this machine, which
    picks its GPU), ``comm``, and ``allreduce_seconds`` (time spent reducing gradients, summed).
    """

    def __init__(self, devices=None, device_mesh=None, comm=None, bucket_bytes=DEFAULT_BUCKET_BYTES,
                 auto_shard_dataset=True):
        MPI = _mpi()
        if device_mesh is not None:
            raise ValueError("DataParallel(device_mesh=...): numbacnn's data parallelism runs one replica "
                             "per MPI rank; give devices=list_devices() or nothing")
        if not auto_shard_dataset:
            raise ValueError("DataParallel(auto_shard_dataset=False): numbacnn always shards each global "
                             "batch across the ranks")
        self.comm = initialize() if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.num_processes = self.comm.Get_size()
        if devices is not None and len(devices) != self.num_processes:
            raise ValueError(f"DataParallel(devices={list(devices)}): MPI runs {self.num_processes} ranks; "
                             "numbacnn places one replica per rank, so give one device per rank")
        self.devices = list(devices) if devices is not None else list_devices()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = local.Get_rank()
        local.Free()
        self.bucket_bytes = int(bucket_bytes)
        if self.bucket_bytes <= 0:
            raise ValueError(f"DataParallel(bucket_bytes={bucket_bytes}): must be a positive number of bytes")
        self.allreduce_seconds = 0.0
        self.allreduce_calls = 0
        self._checked_names = None
        self._select_gpu()

    def __repr__(self):
        return f"<DataParallel rank {self.rank} of {self.num_processes} (local rank {self.local_rank})>"

    @property
    def batch_dim_name(self):
        return "batch"

    def _select_gpu(self):
        """On CUDA, compute on the GPU ``local_rank`` (modulo the GPUs of this machine)."""
        from .. import backend

        if backend.get_device() != "cuda":
            return
        from numba import cuda

        gpus = len(cuda.gpus)
        if gpus > 1:
            cuda.select_device(self.local_rank % gpus)

    @contextlib.contextmanager
    def scope(self):
        """``with strategy.scope():`` this distribution is the current one inside the block."""
        previous = _STATE["distribution"]
        _STATE["distribution"] = self
        try:
            yield self
        finally:
            _STATE["distribution"] = previous

    # ----- failures -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def abort_on_error(self, passes=()):
        """Within the block, an exception (other than those of ``passes``, which every rank raises alike)
        prints ``rank R failed: <cause>`` and ends every rank: the others would otherwise wait forever in
        the next collective."""
        try:
            yield
        except passes:
            raise
        except BaseException as err:
            if isinstance(err, SystemExit) and err.code in (0, None):
                raise
            if self.num_processes == 1:
                raise
            _abort(self.comm, err)
            raise

    # ----- collectives ----------------------------------------------------------------------------------
    def shard_bounds(self, n):
        """This rank's share ``[start, stop)`` of ``n`` samples: contiguous, sizes differing by at most 1."""
        return self.rank * n // self.num_processes, (self.rank + 1) * n // self.num_processes

    def broadcast_order(self, order):
        """Rank 0's copy of ``order`` (an int64 permutation), on every rank."""
        order = np.ascontiguousarray(order, dtype=np.int64)
        self.comm.Bcast(order, root=0)
        return order

    def broadcast_model(self, model):
        """Rank 0's weights (every weight, moving statistics too) and built optimizer state, everywhere."""
        weights = model.weights
        for dtype, group in _by_dtype(weights, lambda w: w.numpy()).items():
            flat = np.concatenate([v.ravel() for _, v in group]) if self.rank == 0 else np.empty(
                sum(v.size for _, v in group), dtype)
            self.comm.Bcast(flat, root=0)
            offset = 0
            for w, v in group:
                w.assign(flat[offset:offset + v.size].reshape(v.shape))
                offset += v.size
        optimizer = model.optimizer
        built = self.comm.allgather(bool(optimizer is not None and optimizer.built))
        if any(built):
            if not all(built):
                raise RuntimeError(f"model {model.name!r}: the optimizer has a state on ranks "
                                   f"{[i for i, b in enumerate(built) if b]} only; load the same checkpoint "
                                   "on every rank")
            state = self.comm.bcast(optimizer.get_state() if self.rank == 0 else None, root=0)
            optimizer.set_state(state)

    def reduce_gradients(self, weights, extra, loss, share):
        """Sum ``share * gradient`` of every trainable weight (``weights``) and ``share * value`` of the
        ``extra`` weights (moving statistics) across ranks, in place; returns the summed ``share * loss``.

        ``share`` is this rank's fraction of the global batch, so the sums are the global batch's mean
        gradient and loss. The arrays go into float buffers of at most ``bucket_bytes``, last layers
        first (the order in which the backward pass finishes them); each bucket's ``Iallreduce`` starts
        once it is packed, so packing the next one overlaps it.
        """
        import time

        MPI = _mpi()
        start = time.perf_counter()
        arrays = [w.grad for w in reversed(weights)] + [w.value for w in extra]
        requests, pending = [], []
        loss_buf = np.array([float(loss) * share])
        requests.append(self.comm.Iallreduce(MPI.IN_PLACE, loss_buf, op=MPI.SUM))
        for dtype, group in _by_dtype(arrays, lambda a: a).items():
            for bucket in _buckets([a for a, _ in group], self.bucket_bytes // dtype.itemsize):
                flat = np.empty(sum(_size(a) for a in bucket), dtype)
                offset = 0
                for a in bucket:
                    flat[offset:offset + _size(a)] = _host(a).ravel()
                    offset += _size(a)
                flat *= dtype.type(share)
                requests.append(self.comm.Iallreduce(MPI.IN_PLACE, flat, op=MPI.SUM))
                pending.append((flat, bucket))
        MPI.Request.Waitall(requests)
        for flat, bucket in pending:
            offset = 0
            for a in bucket:
                _write(a, flat[offset:offset + _size(a)].reshape(a.shape))
                offset += _size(a)
        self.allreduce_seconds += time.perf_counter() - start
        self.allreduce_calls += 1
        return float(loss_buf[0])

    def average_logs(self, logs, count):
        """``logs`` (name -> number, or array for a metric such as ``F1Score(average=None)``) averaged
        across ranks, rank r weighted by ``count`` (its samples)."""
        names = sorted(logs)
        values = [np.asarray(logs[n], dtype=np.float64) for n in names]
        layout = [(n, v.shape) for n, v in zip(names, values)]
        if layout != self._checked_names:   # once per layout: every rank must log the same names
            everywhere = self.comm.allgather(layout)
            if any(other != layout for other in everywhere):
                raise RuntimeError(f"the ranks log different names or shapes: {everywhere}")
            self._checked_names = layout
        flat = np.concatenate([[float(count)]] + [float(count) * v.ravel() for v in values])
        self.comm.Allreduce(_mpi().IN_PLACE, flat, op=_mpi().SUM)
        if flat[0] == 0:
            return dict(logs)
        out, offset = {}, 1
        for (name, shape), v in zip(layout, values):
            mean = flat[offset:offset + v.size] / flat[0]
            out[name] = float(mean[0]) if v.ndim == 0 else mean.reshape(shape)
            offset += v.size
        return out

    def all_true(self, flag):
        """Whether ``flag`` holds on every rank."""
        return bool(self.comm.allreduce(int(bool(flag)), op=_mpi().MIN))


# ----- helpers ------------------------------------------------------------------------------------------
def _size(a):
    return int(np.prod(a.shape)) if a.shape else 1


def _host(a):
    """A numpy view (CPU) or host copy (a CUDA device array) of ``a``."""
    return a if isinstance(a, np.ndarray) else a.copy_to_host()


def _write(dst, host):
    if isinstance(dst, np.ndarray):
        dst[...] = host
    else:
        dst.copy_to_device(np.ascontiguousarray(host))


def _by_dtype(items, array_of):
    """``items`` grouped by the dtype of ``array_of(item)``, in order: {dtype: [(item, array)]}."""
    groups = {}
    for item in items:
        a = array_of(item)
        groups.setdefault(np.dtype(a.dtype), []).append((item, a))
    return groups


def _buckets(group, max_elements):
    """Consecutive runs of ``group`` of at most ``max_elements`` elements (one array may exceed it alone)."""
    bucket, size = [], 0
    for entry in group:
        n = _size(entry)
        if bucket and size + n > max_elements:
            yield bucket
            bucket, size = [], 0
        bucket.append(entry)
        size += n
    if bucket:
        yield bucket
