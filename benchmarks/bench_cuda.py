"""numbacnn vs PyTorch on one CUDA GPU, side by side: training images/s of the seeds' CNNs.

    pip install -e ".[cuda,bench]"                # numba-cuda 0.30.4; PyTorch with CUDA on the GPU machine
    python benchmarks/bench_cuda.py               # cifar_cnn and lenet5 at batch 128 and 512
    python benchmarks/bench_cuda.py --rows lenet5:512 --seconds 10
    python benchmarks/bench_cuda.py --simulate    # smoke run: tiny shapes, one step, Numba's CUDA simulator

Both frameworks train the same architecture (PyTorch's is ``bench_cpu.torch_model``) with Adam and the
sparse categorical crossentropy on the same random data (an epoch of 8 batches, repeated), and in both
every batch crosses from host memory to the GPU as in a real epoch: numbacnn through ``fit``'s training
loop (``Trainer.step``: pinned staging, the next batch copied while the current one computes, the loss
and metrics back on the host each step), PyTorch from pinned host tensors with non-blocking copies. Each
is timed in steady state after a warm-up, the GPU synchronised before the clock is read. The ratio is
numbacnn / PyTorch (above 1: numbacnn is faster).

Without a GPU (or without numba-cuda) it exits with status 2 and numbacnn's "no CUDA GPU found" message.
``--simulate`` runs the same code under Numba's CUDA simulator (set before Numba is imported) on tiny
input shapes, one timed step per row, and leaves PyTorch out: a check that the benchmark runs, not a
measurement.
"""

import argparse
import os
import sys
import time

import numpy as np

ROWS = [("cifar_cnn", 128), ("cifar_cnn", 512), ("lenet5", 128), ("lenet5", 512)]
SHAPES = {"cifar_cnn": (32, 32, 3), "lenet5": (28, 28, 1)}
SIMULATED_ROWS = [("cifar_cnn", 1), ("lenet5", 1)]
SIMULATED_SHAPES = {"cifar_cnn": (18, 18, 3), "lenet5": (12, 12, 1)}  # the smallest inputs they take
BATCHES_PER_EPOCH = 8


def _data(shape, batch, seed=0):
    rng = np.random.default_rng(seed)
    n = batch * BATCHES_PER_EPOCH
    return rng.random((n,) + shape, dtype=np.float32), rng.integers(0, 10, size=n)


def _rate(step, synchronize, batch, seconds, warmup, min_steps):
    """Images/s of ``step`` in steady state: ``warmup`` steps, then at least ``min_steps`` and ``seconds``."""
    for _ in range(warmup):
        step()
    synchronize()
    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        if n >= min_steps:
            synchronize()
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return n * batch / elapsed


def numbacnn_rate(name, batch, shape, seconds, warmup, min_steps):
    """numbacnn's training images/s on 'cuda', through the training loop that fit() runs."""
    from numbacnn import applications
    from numbacnn.kernels.cuda import launch

    model = applications.get(name)(input_shape=shape)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  device="cuda")
    x, y = _data(shape, batch)
    trainer = model.make_trainer(x, y, batch_size=batch, epochs=1 << 30)
    rate = _rate(trainer.step, launch.stream().synchronize, batch, seconds, warmup, min_steps)
    trainer.close()
    return rate


def torch_rate(name, batch, shape, seconds, warmup, min_steps):
    """PyTorch's training images/s on the GPU: channels-last model, batches from pinned host memory."""
    import torch
    from bench_cpu import torch_model

    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    model = torch_model(name).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    ce = torch.nn.CrossEntropyLoss()
    x, y = _data(shape, batch)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last).pin_memory()
    yt = torch.from_numpy(y).long().pin_memory()
    position = [0]

    def step():
        start = position[0] * batch
        position[0] = (position[0] + 1) % BATCHES_PER_EPOCH
        xb = xt[start:start + batch].to(device, non_blocking=True)
        yb = yt[start:start + batch].to(device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        loss = ce(model(xb), yb)
        loss.backward()
        opt.step()
        loss.item()  # numbacnn reads each step's loss on the host too

    model.train()
    return _rate(step, torch.cuda.synchronize, batch, seconds, warmup, min_steps)


def _table(results):
    header = (f"| {'model':<10} | {'batch':>5} | {'numbacnn img/s':>14} | {'PyTorch img/s':>13} "
              f"| {'ratio':>5} |")
    lines = [header, "|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|"]
    for name, batch, ours, theirs in results:
        peer = _images(theirs) if theirs else "-"
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        lines.append(f"| {name:<10} | {batch:>5} | {_images(ours):>14} | {peer:>13} | {ratio:>5} |")
    return "\n".join(lines)


def _images(rate):
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", help="rows as model:batch, e.g. lenet5:512 (default: all four)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="timed seconds per measurement (default 3)")
    parser.add_argument("--simulate", action="store_true",
                        help="run under Numba's CUDA simulator: tiny shapes, one step, no PyTorch")
    args = parser.parse_args(argv)
    if args.simulate:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # read when Numba is first imported, just below
    import numbacnn

    try:
        numbacnn.set_device("cuda")
    except RuntimeError as err:
        print(f"bench_cuda: {err}", file=sys.stderr)
        return 2
    shapes = SIMULATED_SHAPES if args.simulate else SHAPES
    rows = ([(r.split(":")[0], int(r.split(":")[1])) for r in args.rows] if args.rows
            else SIMULATED_ROWS if args.simulate else ROWS)
    unknown = sorted({name for name, _ in rows} - set(shapes))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(shapes)}")
    timing = (0.0, 0, 1) if args.simulate else (args.seconds, 5, 10)  # seconds, warm-up steps, least steps
    if args.simulate:
        torch = None
        print("numbacnn under Numba's CUDA simulator (a smoke run, not a measurement): training images/s")
    else:
        try:
            import torch
        except ImportError:
            print("bench_cuda: PyTorch is needed for the side-by-side run: pip install -e '.[bench]'",
                  file=sys.stderr)
            return 2
        if not torch.cuda.is_available():
            print(f"bench_cuda: PyTorch {torch.__version__} sees no CUDA GPU (a CPU-only build?)",
                  file=sys.stderr)
            return 2
        print(f"numbacnn (numba-cuda) vs PyTorch {torch.__version__} on {torch.cuda.get_device_name()}: "
              "training images/s, steady state, Adam, batches from host memory")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench_cpu, for PyTorch's models
    results = []
    for name, batch in rows:
        ours = numbacnn_rate(name, batch, shapes[name], *timing)
        theirs = torch_rate(name, batch, shapes[name], *timing) if torch is not None else None
        results.append((name, batch, ours, theirs))
    print(_table(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
