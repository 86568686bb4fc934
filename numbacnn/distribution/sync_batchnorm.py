"""``SyncBatchNormalization``: batch normalization with the statistics of the global batch.

In training under a :class:`~numbacnn.distribution.DataParallel` of several ranks, the mean and the
(biased) variance of each channel are those of the whole global batch (two ``Allreduce`` of (C,) sums
in the forward pass: the sum, then the sum of squared deviations from the global mean), and the backward
pass reduces the two per-channel sums its input gradient needs, so N ranks compute what one process
computes on the global batch. Everywhere else (one process, inference, a frozen layer) it is
``BatchNormalization``. The per-rank arithmetic is float64 on the host: (C,) sums cross the network, and
the layer's rows cross the bus on CUDA.
"""

import contextlib

import numpy as np

from ..kernels import ops
from ..layers.normalization import BatchNormalization
from .data_parallel import _mpi, distribution

__all__ = ["SyncBatchNormalization", "step_share"]

_SHARE = {"value": None}


@contextlib.contextmanager
def step_share(share):
    """Within the block this rank's shard is ``share`` of the global batch (the training step's weight
    of its gradients), which SyncBatchNormalization's backward pass needs."""
    previous = _SHARE["value"]
    _SHARE["value"] = float(share)
    try:
        yield
    finally:
        _SHARE["value"] = previous


def _active():
    dist = distribution()
    return dist if dist is not None and dist.num_processes > 1 else None


class SyncBatchNormalization(BatchNormalization):
    """BatchNormalization whose training statistics are those of the global batch across MPI ranks
    (tf.keras's ``SyncBatchNormalization``; Keras 3's ``BatchNormalization(synchronized=True)``).
    Same arguments and weights as ``BatchNormalization``."""

    def forward(self, x, training=False):
        dist = _active()
        if not (training and self.trainable and dist is not None):
            return super().forward(x, training=training)
        MPI, k = _mpi(), ops()
        rows = self._rows(x)
        host = k.to_host(rows).astype(np.float64)
        sums = np.concatenate([host.sum(axis=0), [host.shape[0]]])
        dist.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        count = sums[-1]
        mean = sums[:-1] / count
        centered = host - mean
        var = (centered * centered).sum(axis=0)
        dist.comm.Allreduce(MPI.IN_PLACE, var, op=MPI.SUM)
        var /= count
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        xhat = centered * inv_std
        gamma, beta = self._gamma_beta(rows.shape[1], rows.dtype)
        y = xhat * k.to_host(gamma) + k.to_host(beta)
        dtype = rows.dtype
        m = self.momentum
        k.blend_into(self.moving_mean.value, k.to_device(mean.astype(dtype)), m, 1.0 - m)
        k.blend_into(self.moving_variance.value, k.to_device(var.astype(dtype)), m, 1.0 - m)
        self._cache = ("sync", xhat, inv_std, count, x.shape)
        return self._unrows(k.to_device(y.astype(dtype)), x.shape)

    def backward(self, grad):
        if not self._cache or self._cache[0] != "sync":
            return super().backward(grad)
        MPI, k, dist = _mpi(), ops(), _active()
        _, xhat, inv_std, count, shape = self._cache
        g_rows = self._rows(grad)
        dtype = g_rows.dtype
        g = k.to_host(g_rows).astype(np.float64)
        share = _SHARE["value"]
        if share is None or share <= 0:
            raise RuntimeError(f'Layer "{self.name}" (SyncBatchNormalization): backward outside a '
                               "distributed training step (its share of the global batch is unknown)")
        dbeta = g.sum(axis=0)
        dgamma = (g * xhat).sum(axis=0)
        sums = np.concatenate([dbeta, dgamma]) * share
        dist.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        c = dbeta.shape[0]
        gamma, _ = self._gamma_beta(c, dtype)
        gamma = k.to_host(gamma).astype(np.float64)
        dx = gamma * inv_std / count * (count * g - (sums[:c] + xhat * sums[c:]) / share)
        if self.trainable:
            if self.scale:
                k.add_into(self.gamma.grad, k.to_device(dgamma.astype(dtype)))
            if self.center:
                k.add_into(self.beta.grad, k.to_device(dbeta.astype(dtype)))
        return self._unrows(k.to_device(dx.astype(dtype)), shape)
