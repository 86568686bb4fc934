"""How much an augmentation front end costs against a model's forward pass, on the CPU.

    python benchmarks/bench_augmentation.py [--repeats 20]

For 128x28x28x1 (fashion_cnn) and 128x32x32x3 (cifar_cnn) batches it times RandomFlip("horizontal") +
RandomRotation(0.1) + RandomZoom(0.1) in training mode (host draws and kernels) and the model's forward pass
in training mode and at inference; it prints the best and the median of each (milliseconds), each
augmentation layer's best, and the augmentation's share of augmentation + training forward (from the best
times, which a loaded machine disturbs least; the chain's and the sum of the layers').
"""

import argparse
import time

import numpy as np

import numbacnn as nc
from numbacnn import layers
from numbacnn.applications import cifar_cnn, fashion_cnn


def timings_ms(fn, repeats):
    """(best, median) of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * min(times), 1e3 * float(np.median(times))


def bench(name, make, shape, repeats):
    model = make()
    x = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    model.predict(x[:2], verbose=0)
    augment = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.1)]

    def run_augment():
        y = x
        for layer in augment:
            y = layer(y, training=True)
        return y

    aug = timings_ms(run_augment, repeats)
    train = timings_ms(lambda: model.forward(x, training=True), repeats)
    infer = timings_ms(lambda: model.forward(x, training=False), repeats)
    each = {type(la).__name__: timings_ms(lambda la=la: la(x, training=True), repeats)[0] for la in augment}
    parts = sum(each.values())
    detail = ", ".join(f"{k} {v:.2f}" for k, v in each.items())
    print(f"{name} {shape}: augmentation {aug[0]:.2f} (median {aug[1]:.2f}) ms [{detail}: sum {parts:.2f}]; "
          f"forward training {train[0]:.2f} (median {train[1]:.2f}) ms, inference {infer[0]:.2f} (median "
          f"{infer[1]:.2f}) ms; augmentation share of augmentation + training forward "
          f"{100 * aug[0] / (aug[0] + train[0]):.1f}% (layers' sum: {100 * parts / (parts + train[0]):.1f}%)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    nc.utils.set_random_seed(0)
    bench("fashion_cnn", fashion_cnn, (128, 28, 28, 1), args.repeats)
    bench("cifar_cnn", cifar_cnn, (128, 32, 32, 3), args.repeats)


if __name__ == "__main__":
    main()
