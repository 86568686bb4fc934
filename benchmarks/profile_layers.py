"""Where a training step's time goes: forward and backward per layer, and the rest (loss, optimizer, Python).

    python benchmarks/profile_layers.py cifar_cnn --batch 128
    python benchmarks/profile_layers.py lenet5 --batch 128 --steps 30
    python benchmarks/profile_layers.py conv_autoencoder --batch 32     # bench_cpu.py's autoencoder (MSE)
    python benchmarks/profile_layers.py mobilenet --batch 32     # bench_cpu.py's MobileNet (alpha 0.5, 96x96)

Wraps every layer's forward/backward with a timer (a few microseconds each), runs warm-up steps, then
averages over ``--steps`` steps of ``train_on_batch`` on random data, and prints a Markdown table.
"""

import argparse
import importlib.util
import os
import time
from collections import defaultdict

import numpy as np

from numbacnn import applications

OPTIMIZER = {"conv_model_pooling": "sgd", "normal_model": "sgd", "conv_model": "sgd"}
EXTRA = {"mobilenet": lambda: applications.MobileNet(input_shape=(96, 96, 3), alpha=0.5, classes=10),
         "conv_autoencoder": lambda: _bench_cpu().numbacnn_model("conv_autoencoder")}
MSE = {"conv_autoencoder"}  # trained to reproduce its input


def _bench_cpu():
    """benchmarks/bench_cpu.py as a module (its models that are not in numbacnn.applications)."""
    spec = importlib.util.spec_from_file_location("bench_cpu", os.path.join(os.path.dirname(__file__),
                                                                            "bench_cpu.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def profile(name, batch, steps):
    model = EXTRA[name]() if name in EXTRA else applications.get(name)()
    if name in MSE:
        loss = "mse"
    else:
        loss = "categorical_crossentropy" if name in OPTIMIZER else "sparse_categorical_crossentropy"
    model.compile(OPTIMIZER.get(name, "adam"), loss)
    rng = np.random.default_rng(0)
    x = rng.random((batch,) + model.input.shape[1:], dtype=np.float32)
    y = rng.integers(0, 10, size=batch)
    if loss == "categorical_crossentropy":
        y = np.eye(10, dtype=np.float32)[y]
    elif loss == "mse":
        y = x
    for _ in range(3):
        model.train_on_batch(x, y)
    forward, backward = defaultdict(float), defaultdict(float)
    for layer in model.layers:
        def timed_forward(x, training=False, _f=layer.forward, _n=layer.name):
            start = time.perf_counter()
            out = _f(x, training=training)
            forward[_n] += time.perf_counter() - start
            return out

        def timed_backward(grad, _b=layer.backward, _n=layer.name):
            start = time.perf_counter()
            out = _b(grad)
            backward[_n] += time.perf_counter() - start
            return out

        layer.forward, layer.backward = timed_forward, timed_backward
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    total = (time.perf_counter() - start) / steps * 1e3
    rows = [(la.name, type(la).__name__, forward[la.name] / steps * 1e3, backward[la.name] / steps * 1e3)
            for la in model.layers]
    return total, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted([*applications.ARCHITECTURES, *EXTRA]))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    total, rows = profile(args.model, args.batch, args.steps)
    print(f"{args.model}, batch {args.batch}: {total:.1f} ms per training step "
          f"({args.batch / total * 1e3:,.0f} images/s)\n")
    print("| layer | type | forward ms | backward ms | share |")
    print("|---|---|---:|---:|---:|")
    for name, kind, fwd, bwd in rows:
        if fwd + bwd >= 0.005:
            print(f"| {name} | {kind} | {fwd:.2f} | {bwd:.2f} | {100 * (fwd + bwd) / total:.0f} % |")
    rest = total - sum(f + b for _, _, f, b in rows)
    print(f"| (loss, optimizer, Python between kernels) | | | | {100 * rest / total:.0f} % ({rest:.2f} ms) |")


if __name__ == "__main__":
    main()
