"""numbacnn vs PyTorch on the CPU, side by side in one run: training and inference images/s.

    pip install -e ".[bench]"          # torch==2.13.0, CPU build
    python benchmarks/bench_cpu.py     # every row; --quick for a short run, --rows cifar_cnn:32 for one

Both run the same architecture on the same random data with the same batch size and
optimizer, each with 2 threads, timed in steady state after a warm-up. Every measurement runs in
a fresh process of its own (two frameworks' thread pools in one process slow each other down),
the two frameworks alternating row by row. The ratio is numbacnn / PyTorch (above 1: numbacnn is
faster). Cold start is the first training step of a new process with an empty Numba cache
(compilation included); warm start is a new process with the cache filled. Both are measured from
interpreter start.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

THREADS = 2
ROWS = [("cifar_cnn", 32), ("cifar_cnn", 128), ("lenet5", 32), ("lenet5", 128),
        ("conv_model_pooling", 32), ("conv_model_pooling", 128)]
SPECS = {  # model: (input shape, optimizer, loss)
    "cifar_cnn": ((32, 32, 3), "adam", "sparse"),
    "lenet5": ((28, 28, 1), "adam", "sparse"),
    "conv_model_pooling": ((28, 28, 1), "sgd", "categorical"),
}


def _data(name, batch, seed=0):
    shape, _, loss = SPECS[name]
    rng = np.random.default_rng(seed)
    x = rng.random((batch,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, size=batch)
    if loss == "categorical":
        y = np.eye(10, dtype=np.float32)[y]
    return x, y


def _rate(step, batch, min_seconds, warmup=3):
    for _ in range(warmup):
        step()
    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and n >= 3:
            return n * batch / elapsed


def numbacnn_rates(name, batch, min_seconds):
    from numbacnn import applications

    _, optimizer, loss = SPECS[name]
    model = applications.get(name)()
    model.compile(optimizer=optimizer, loss=f"{loss}_categorical_crossentropy"
                  if loss == "sparse" else "categorical_crossentropy")
    x, y = _data(name, batch)
    train = _rate(lambda: model.train_on_batch(x, y), batch, min_seconds)
    infer = _rate(lambda: model.predict(x, batch_size=batch, verbose=0), batch, min_seconds)
    return train, infer


def torch_model(name):
    import torch.nn as nn

    if name == "cifar_cnn":
        return nn.Sequential(
            nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 10))
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
            nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
            nn.Linear(84, 10))
    if name == "conv_model_pooling":
        def bn(c, d2=True):
            return (nn.BatchNorm2d if d2 else nn.BatchNorm1d)(c, eps=1e-3, momentum=0.01)
        return nn.Sequential(
            nn.Conv2d(1, 64, 3, padding=1), bn(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 32, 3, padding=1), bn(32), nn.ReLU(), nn.Flatten(),
            nn.Linear(14 * 14 * 32, 32), bn(32, False), nn.ReLU(), nn.Linear(32, 10))
    raise ValueError(name)


def torch_rates(name, batch, min_seconds):
    import torch

    torch.set_num_threads(THREADS)
    _, optimizer, loss = SPECS[name]
    model = torch_model(name).to(memory_format=torch.channels_last)
    opt = (torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=0.01))
    x, y = _data(name, batch)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    yt = torch.from_numpy(np.argmax(y, axis=1) if y.ndim == 2 else y).long()
    ce = torch.nn.CrossEntropyLoss()

    def train():
        opt.zero_grad(set_to_none=True)
        ce(model(xt), yt).backward()
        opt.step()

    model.train()
    train_rate = _rate(train, batch, min_seconds)
    model.eval()
    with torch.inference_mode():
        infer_rate = _rate(lambda: torch.softmax(model(xt), 1), batch, min_seconds)
    return train_rate, infer_rate


_START_PROBE = """
import time, numpy as np
from numbacnn import applications
t0 = time.perf_counter()
m = applications.cifar_cnn(); m.compile('adam', 'sparse_categorical_crossentropy')
x = np.random.default_rng(0).random((32, 32, 32, 3), dtype=np.float32); y = np.arange(32) % 10
m.train_on_batch(x, y)
print(time.perf_counter() - t0)
"""


def start_times():
    """(cold, warm) seconds from interpreter start to the end of the first training step."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS=str(THREADS))
        times = []
        for _ in range(2):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", _START_PROBE], check=True, env=env, capture_output=True)
            times.append(time.perf_counter() - start)
        return tuple(times)


def _measure(framework, name, batch, seconds):
    """Train and inference images/s of one framework on one row, in a new process."""
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), NUMBA_NUM_THREADS=str(THREADS))
    out = subprocess.run([sys.executable, __file__, "--worker", framework, "--rows", f"{name}:{batch}",
                          "--seconds", str(seconds)], check=True, env=env, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.5 s per measurement instead of 3 s")
    parser.add_argument("--rows", nargs="*", help="rows as model:batch, e.g. cifar_cnn:32")
    parser.add_argument("--no-start", action="store_true", help="skip the cold/warm start measurement")
    parser.add_argument("--seconds", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=["numbacnn", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = [(r.split(":")[0], int(r.split(":")[1])) for r in args.rows] if args.rows else ROWS
    seconds = args.seconds or (0.5 if args.quick else 3.0)
    if args.worker:
        name, batch = rows[0]
        rates = (numbacnn_rates if args.worker == "numbacnn" else torch_rates)(name, batch, seconds)
        print(json.dumps(rates))
        return
    try:
        import torch
    except ImportError:
        sys.exit("PyTorch is needed for the side-by-side run: pip install -e '.[bench]' (torch==2.13.0, CPU)")
    print(f"numbacnn vs PyTorch {torch.__version__} (CPU, {THREADS} threads, channels-last), images/s, "
          "steady state, random data, each measurement in its own process")
    header = (f"| {'model':<20} | {'batch':>5} | {'train numbacnn':>14} | {'train torch':>11} | {'ratio':>5} "
              f"| {'infer numbacnn':>14} | {'infer torch':>11} | {'ratio':>5} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, batch in rows:
        nt, ni = _measure("numbacnn", name, batch, seconds)
        tt, ti = _measure("torch", name, batch, seconds)
        print(f"| {name:<20} | {batch:>5} | {nt:>14,.0f} | {tt:>11,.0f} | {nt / tt:>5.2f} "
              f"| {ni:>14,.0f} | {ti:>11,.0f} | {ni / ti:>5.2f} |", flush=True)
    if not args.no_start:
        cold, warm = start_times()
        print("\nstart-up to the end of the first training step (cifar_cnn, batch 32), from interpreter "
              f"start: cold (empty Numba cache) {cold:.1f} s, warm (cache filled) {warm:.1f} s")


if __name__ == "__main__":
    main()
