"""What the distribution tests run, under ``mpiexec -n 2`` or as one plain process.

    python mpi_worker.py train OUT      # the equality runs; under mpiexec with DataParallel set
    python mpi_worker.py resume OUT     # one process: resume the 2-rank checkpoint, and the reference
    python mpi_worker.py fail OUT raise|kill   # rank 1 raises / is killed at its third batch
    python mpi_worker.py cuda OUT       # case 2 (SyncBatchNormalization) on the 'cuda' device

Each rank writes ``OUT/<case>-rank<R>.npz`` (the weights after training, and the History's loss), and
``OUT/pid-<R>`` (its process id, for the test to check that no rank outlives the job).
"""

import os
import signal
import sys
import time

import numpy as np

import numbacnn as keras
from numbacnn import layers
from numbacnn.distribution import DataParallel, SyncBatchNormalization, launched_world_size, set_distribution


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = (x[:, 2:6, 2:6, 0].mean(axis=(1, 2)) > 0).astype("int64") + (x[:, 0, 0, 0] > 1).astype("int64")
    return x, y


def model(norm=None):
    keras.utils.set_random_seed(7)
    stack = [keras.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu")]
    if norm is not None:
        stack.append(norm())
    stack += [layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3, activation="softmax")]
    return keras.Sequential(stack)


def save(out, case, m, history):
    rank = keras.distribution.distribution().rank if keras.distribution.distribution() else 0
    arrays = {f"w{i}": w for i, w in enumerate(m.get_weights())}
    np.savez(os.path.join(out, f"{case}-rank{rank}.npz"), loss=np.array(history.history["loss"]),
             acc=np.array(history.history["accuracy"]), **arrays)


def train(out):
    x, y = data()
    # 1. equality: SGD with momentum on a model without BatchNormalization, shuffled with a fixed seed
    m = model()
    m.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"])
    keras.utils.set_random_seed(3)
    save(out, "plain", m, m.fit(x, y, batch_size=16, epochs=1, verbose=0))
    # 2. SyncBatchNormalization: the global batch's statistics (one process: BatchNormalization's)
    syncbn(out)
    # 3. BatchNormalization per replica: the ranks must still hold one model (moving statistics averaged)
    m = model(layers.BatchNormalization)
    m.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", ["accuracy"])
    save(out, "bn", m, m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False))
    # 4. a checkpoint after one epoch (Adam, its state included); an uneven last batch (60 = 3 x 16 + 12)
    m = model()
    m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    ckpt = keras.callbacks.ModelCheckpoint(os.path.join(out, "epoch1.keras"), monitor="loss")
    save(out, "epoch1", m, m.fit(x[:60], y[:60], batch_size=16, epochs=1, verbose=0, shuffle=False,
                                 callbacks=[ckpt]))


def syncbn(out, device=None, case="syncbn"):
    x, y = data()
    m = model(SyncBatchNormalization)
    m.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", ["accuracy"], device=device)
    save(out, case, m, m.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False))


def resume(out):
    """One process: epoch 2 from the 2-rank checkpoint, and both epochs in one go for reference."""
    x, y = data()
    m = keras.models.load_model(os.path.join(out, "epoch1.keras"))
    save(out, "resumed", m, m.fit(x[:60], y[:60], batch_size=16, epochs=2, initial_epoch=1, verbose=0,
                                  shuffle=False))
    m = model()
    m.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    save(out, "twoepochs", m, m.fit(x[:60], y[:60], batch_size=16, epochs=2, verbose=0, shuffle=False))


def fail(out, how):
    dist = keras.distribution.distribution()
    x, y = data(256)
    m = model()
    m.compile("sgd", "sparse_categorical_crossentropy")

    def on_batch(batch, logs):
        if dist.rank == 1 and batch == 2:
            with open(os.path.join(out, "failing-at"), "w") as f:
                f.write(repr(time.time()))
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("the test's rank 1 gives up")

    m.fit(x, y, batch_size=8, epochs=1000, verbose=0,
          callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=on_batch)])


def main():
    what, out = sys.argv[1], sys.argv[2]
    if launched_world_size() > 1:
        set_distribution(DataParallel())
        rank = keras.distribution.distribution().rank
    else:
        rank = 0
    with open(os.path.join(out, f"pid-{rank}"), "w") as f:
        f.write(str(os.getpid()))
    if what == "train":
        train(out)
    elif what == "resume":
        resume(out)
    elif what == "cuda":       # each rank on its GPU (the simulator's one), gradients through the host
        syncbn(out, device="cuda", case="cuda")
    else:
        fail(out, sys.argv[3])


if __name__ == "__main__":
    main()
