"""numbacnn vs PyTorch on one CUDA GPU, side by side: training images/s of the seeds' CNNs.

    pip install -e ".[cuda,bench]"                # numba-cuda 0.30.4; PyTorch with CUDA on the GPU machine
    python benchmarks/bench_cuda.py               # cifar_cnn and lenet5 at batch 128 and 512
    python benchmarks/bench_cuda.py --rows lenet5:512 --seconds 10
    python benchmarks/bench_cuda.py --simulate    # smoke run: tiny shapes, one step, Numba's CUDA simulator
    python benchmarks/bench_cuda.py --json out.json   # the table's rows also as JSON
    python benchmarks/bench_cuda.py --no-plan     # without the step memory plan (NUMBACNN_CUDA_PLAN=0)
    python benchmarks/bench_cuda.py --graph       # with the step graph (NUMBACNN_CUDA_GRAPH=1)

Both frameworks train the same architecture (PyTorch's is ``bench_cpu.torch_model``) with Adam and the
sparse categorical crossentropy on the same random data (an epoch of 8 batches, repeated), and in both
every batch crosses from host memory to the GPU as in a real epoch: numbacnn through ``fit``'s training
loop (``Trainer.step``: pinned staging, the next batch copied while the current one computes, the loss
and metrics back on the host each step), PyTorch from pinned host tensors with non-blocking copies. Each
is timed in steady state after a warm-up, the GPU synchronised before the clock is read. The ratio is
numbacnn / PyTorch (above 1: numbacnn is faster).

Beside the rates, numbacnn's kernel launches, device-array allocations and copies into device memory
per training step are counted (``kernels.cuda.launch.counting``): those of the first step, then those of
one step in steady state, after the timing. With the memory plan (on unless ``--no-plan``) a steady step
allocates nothing.

Without a GPU (or without numba-cuda) it exits with status 2 and numbacnn's "no CUDA GPU found" message.
``--simulate`` runs the same code under Numba's CUDA simulator (set before Numba is imported) on tiny
input shapes, one timed step per row, and leaves PyTorch out: a check that the benchmark runs, not a
measurement.
"""

import argparse
import json
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
    """numbacnn's training images/s on 'cuda', through the training loop that fit() runs, and the counts
    ``{"first": {...}, "steady": {...}}`` of launches, allocations and copies of its first step and of a
    step in steady state."""
    from numbacnn import applications
    from numbacnn.kernels.cuda import launch

    model = applications.get(name)(input_shape=shape)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  device="cuda")
    x, y = _data(shape, batch)
    trainer = model.make_trainer(x, y, batch_size=batch, epochs=1 << 30)
    with launch.counting() as first:
        trainer.step()
    rate = _rate(trainer.step, launch.stream().synchronize, batch, seconds, warmup, min_steps)
    with launch.counting() as steady:
        trainer.step()
    launch.stream().synchronize()
    trainer.close()
    counts = {"first": first.as_dict(), "steady": steady.as_dict()}
    for plan, graph in getattr(model, "_step_plans", {}).values():  # the training step's plan and graph
        counts["plan"] = {"steps": plan.steps, "arrays": plan.allocated, "bytes": plan.nbytes,
                          "replans": plan.replans}
        if graph is not None and graph.steps:
            counts["graph"] = {"steps": graph.steps, "segments": graph.segments, "replayed": graph.replayed,
                               "captured": graph.captured, "mismatches": graph.mismatches}
    return rate, counts


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
              f"| {'ratio':>5} | {'launches/step':>13} | {'allocs/step':>11} | {'allocs step 1':>13} "
              f"| {'copies/step':>11} |")
    lines = [header, "|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|"]
    for name, batch, ours, theirs, counts in results:
        peer = _images(theirs) if theirs else "-"
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        steady, first = counts["steady"], counts["first"]
        lines.append(f"| {name:<10} | {batch:>5} | {_images(ours):>14} | {peer:>13} | {ratio:>5} "
                     f"| {steady['launches']:>13} | {steady['allocations']:>11} | {first['allocations']:>13} "
                     f"| {steady['copies']:>11} |")
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
    parser.add_argument("--json", metavar="PATH",
                        help="also write the rows (and the settings) to PATH as JSON")
    parser.add_argument("--no-plan", action="store_true",
                        help="train without the step memory plan (NUMBACNN_CUDA_PLAN=0): the 'before' counts")
    parser.add_argument("--graph", action="store_true",
                        help="train through the step graph (NUMBACNN_CUDA_GRAPH=1; CUDA graphs where the "
                             "driver can capture them)")
    args = parser.parse_args(argv)
    if args.simulate:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # read when Numba is first imported, just below
    if args.no_plan:
        os.environ["NUMBACNN_CUDA_PLAN"] = "0"
    if args.graph:
        os.environ["NUMBACNN_CUDA_GRAPH"] = "1"
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
        ours, counts = numbacnn_rate(name, batch, shapes[name], *timing)
        theirs = torch_rate(name, batch, shapes[name], *timing) if torch is not None else None
        results.append((name, batch, ours, theirs, counts))
    print(_table(results), flush=True)
    if args.json:
        _write_json(args, results, torch)
    return 0


def _write_json(args, results, torch):
    from numba import cuda

    from numbacnn.kernels.cuda import graph

    device = "Numba's CUDA simulator" if args.simulate else (
        torch.cuda.get_device_name() if torch is not None else str(cuda.get_current_device().name))
    report = {
        "device": device, "simulated": bool(args.simulate), "seconds": args.seconds,
        "memory_plan": not args.no_plan, "step_graph": bool(args.graph),
        "graph_capture": graph.capture_unavailable_reason() or "available",
        "torch": getattr(torch, "__version__", None),
        "rows": [{"model": name, "batch": batch, "numbacnn_images_per_s": ours, "torch_images_per_s": theirs,
                  "ratio": ours / theirs if theirs else None,
                  **{f"{when}_step": counts[when] for when in ("first", "steady")},
                  "plan": counts.get("plan"), "graph": counts.get("graph")}
                 for name, batch, ours, theirs, counts in results],
    }
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
