"""Data-parallel training on one machine: 1 rank x T threads against R ranks x T/R threads, same global batch.

    python benchmarks/bench_distributed.py                       # the seeds' CIFAR CNN, LeNet-5, seed 004's
    python benchmarks/bench_distributed.py --rows lenet5:128 --steps 20 --threads 2 --ranks 2

For each model and global batch it starts ``mpiexec -n R`` (and one plain process) on synthetic data,
trains ``--warmup`` steps, then times ``--steps`` steps of ``fit`` and prints images/s, the seconds per
step spent in the gradients' Allreduce (rank 0's, packing included) and the gradient bytes per step.
Needs ``pip install "numbacnn[mpi]"``. The cost model for many machines is in ``benchmarks/README.md``.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"cifar_cnn": ((32, 32, 3), "adam"), "lenet5": ((28, 28, 1), "adam"),
         "conv_model_pooling": ((28, 28, 1), "sgd")}
ROWS = [("cifar_cnn", 128), ("lenet5", 128), ("conv_model_pooling", 128)]


def worker(name, batch, warmup, steps):
    """One rank (or the one process): train and report rank 0's figures as a JSON line."""
    import numbacnn as keras
    from numbacnn import applications, distribution

    if distribution.launched_world_size() > 1:
        distribution.set_distribution(distribution.DataParallel())
    dist = distribution.distribution()
    shape, optimizer = SPECS[name]
    keras.utils.set_random_seed(0)
    model = applications.get(name)()
    loss = "categorical_crossentropy" if name == "conv_model_pooling" else "sparse_categorical_crossentropy"
    model.compile(optimizer, loss)
    n = batch * (warmup + steps)
    x = np.random.default_rng(0).random((n,) + shape, dtype=np.float32)
    labels = np.random.default_rng(1).integers(0, 10, n)
    y = np.eye(10, dtype=np.float32)[labels] if name == "conv_model_pooling" else labels
    marks = {}

    def on_batch_end(b, logs):
        if b + 1 == warmup:
            marks["start"] = time.perf_counter()
            marks["reduce"] = dist.allreduce_seconds if dist else 0.0

    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False,
              callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=on_batch_end)])
    seconds = time.perf_counter() - marks["start"]
    grad_bytes = sum(w.value.nbytes for w in model.trainable_weights)
    alone = allreduce_alone(dist, grad_bytes) if dist else 0.0
    if dist is None or dist.rank == 0:
        reduce = ((dist.allreduce_seconds - marks["reduce"]) / steps) if dist else 0.0
        print(json.dumps({"images_per_s": batch * steps / seconds, "step_ms": 1e3 * seconds / steps,
                          "allreduce_ms": 1e3 * reduce, "allreduce_alone_ms": 1e3 * alone,
                          "gradient_bytes": grad_bytes}), flush=True)


def allreduce_alone(dist, nbytes, repeats=50):
    """Seconds of one Allreduce of ``nbytes`` of float32 with every rank ready (after a Barrier): the
    wire and memory cost, without the wait for the slowest rank that a training step's figure holds."""
    from mpi4py import MPI

    buf = np.ones(nbytes // 4, np.float32)
    best = float("inf")
    for _ in range(repeats):
        dist.comm.Barrier()
        start = time.perf_counter()
        dist.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        best = min(best, time.perf_counter() - start)
    return best


def run(name, batch, ranks, threads, args):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, __file__, "--worker", f"{name}:{batch}", "--warmup", str(args.warmup),
               "--steps", str(args.steps)]
    if ranks > 1:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        command = [str(mpiexec) if mpiexec.is_file() else "mpiexec", "-n", str(ranks), *command]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", help="model:batch ... (default: %(default)s)",
                        default=[f"{m}:{b}" for m, b in ROWS])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="threads in all (split among the ranks)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, batch = args.worker.split(":")
        return worker(name, int(batch), args.warmup, args.steps)
    per_rank = max(1, args.threads // args.ranks)
    print(f"| model | global batch | 1 rank x {args.threads} threads img/s | 1 rank x 1 thread img/s | "
          f"{args.ranks} ranks x {per_rank} thread(s) img/s | ratio to 1 x {args.threads} | "
          "allreduce ms/step (in training) | allreduce ms (alone) | step ms | gradient MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in args.rows:
        name, batch = row.split(":")
        one = run(name, int(batch), 1, args.threads, args)
        single = run(name, int(batch), 1, 1, args)
        many = run(name, int(batch), args.ranks, per_rank, args)
        print(f"| {name} | {batch} | {one['images_per_s']:.0f} | {single['images_per_s']:.0f} | "
              f"{many['images_per_s']:.0f} | {many['images_per_s'] / one['images_per_s']:.2f} | "
              f"{many['allreduce_ms']:.2f} | {many['allreduce_alone_ms']:.3f} | {many['step_ms']:.1f} | "
              f"{many['gradient_bytes'] / 1e6:.2f} |", flush=True)


if __name__ == "__main__":
    main()
