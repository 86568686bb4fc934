"""The merge kernels against NumPy's own operations on the shapes of a ResNet / SE / Inception block.

    python benchmarks/bench_merging.py [--repeats 30]
    NUMBA_NUM_THREADS=1 python benchmarks/bench_merging.py   # one thread, as NumPy runs

On float32 (32, 16, 16, 64) activations it times Add of two same-shape inputs (a residual block),
Multiply by a (32, 1, 1, 64) scale (squeeze-and-excitation), Maximum recording its winners (training),
the scale's gradient (the sum over the broadcast axes), Concatenate of two inputs on the channels, and
Dot's batched product; it prints the best time of each in microseconds (the best is what a loaded machine
disturbs least) beside NumPy's for the same result.
"""

import argparse
import time

import numpy as np

from numbacnn.kernels.cpu import merging as K


def best_us(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return 1e6 * best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((32, 16, 16, 64)).astype(np.float32)
    b = rng.standard_normal(a.shape).astype(np.float32)
    s = rng.standard_normal((32, 1, 1, 64)).astype(np.float32)
    winner = np.zeros(a.shape, np.int32)
    q, k = a.reshape(32, 256, 64), b.reshape(32, 256, 64)
    cases = [
        ("Add (residual)", lambda: K.merge_pair(a, b, K.MERGE_ADD, a.shape), lambda: a + b),
        ("Multiply (SE scale)", lambda: K.merge_pair(a, s, K.MERGE_MULTIPLY, a.shape), lambda: a * s),
        ("Maximum + winners", lambda: K.merge_pair(a, b, K.MERGE_MAXIMUM, a.shape, winner=winner, index=1),
         lambda: (np.maximum(a, b), a < b)),
        ("SE scale's gradient", lambda: K.merge_reduce(a, s.shape),
         lambda: a.sum(axis=(1, 2), keepdims=True)),
        ("Concatenate", lambda: K.concat_forward([a, b], -1), lambda: np.concatenate([a, b], -1)),
        ("Dot (32x256x64 @ 64x256)", lambda: K.batch_matmul(q, k, trans_b=True),
         lambda: np.matmul(q, k.transpose(0, 2, 1))),
    ]
    print(f"{'operation':28s} {'numbacnn us':>12s} {'numpy us':>10s}")
    for name, ours, theirs in cases:
        print(f"{name:28s} {best_us(ours, args.repeats):12.0f} {best_us(theirs, args.repeats):10.0f}")


if __name__ == "__main__":
    main()
