"""Data-parallel training over MPI, with Keras 3's ``keras.distribution`` names.

    import numbacnn as keras
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model.fit(x, y, batch_size=256)           # mpiexec -n 4 python train.py  (or srun, or
                                              # python -m numbacnn train ... --processes 4)

or ``with keras.distribution.DataParallel().scope(): model.fit(...)``. See
:mod:`numbacnn.distribution.data_parallel` for what it does; ``SyncBatchNormalization`` normalises with the
global batch's statistics.
"""

from .data_parallel import (
    DataParallel,
    distribution,
    initialize,
    is_writer,
    launched_world_size,
    list_devices,
    set_distribution,
)
from .sync_batchnorm import SyncBatchNormalization

__all__ = ["DataParallel", "SyncBatchNormalization", "distribution", "initialize", "is_writer",
           "launched_world_size", "list_devices", "set_distribution"]
