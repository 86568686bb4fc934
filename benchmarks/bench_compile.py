"""Where a cold start goes: Numba's compile time per kernel and per specialisation in the first training step.

    python benchmarks/bench_compile.py                        # every benchmark model, batch 32
    python benchmarks/bench_compile.py fashion_cnn lenet5     # some of them
    python benchmarks/bench_compile.py --top 15 --json out.json

Each model runs in fresh processes of its own with an empty ``NUMBA_CACHE_DIR`` (a temporary directory):
the process builds the model, compiles it (Keras's ``compile``) and runs its first ``train_on_batch`` on
random data, while Numba's ``numba:compile`` events are recorded. That runs twice cold: once as a user's
first step runs by default, its kernels compiled by ``--jobs`` worker processes (``numbacnn.compile_pool``;
the CPU time of the process and of its workers reported apart), and once compiling everything in the
process itself (``NUMBACNN_COMPILE_JOBS=1``), which gives the table per kernel. Every event is one
specialisation (one kernel compiled for one tuple of argument types); its *own* time excludes the
kernels it compiled inside it (callees), so the own times add up to the compile total. A last process
runs the same step with the cache filled (warm). Reported per model: the seconds from spawn to the end of
the first step, cold (with and without workers) and warm, the compile total, the number of
specialisations, and the kernels sorted by own compile time (with their number of specialisations and
argument types).

The machines are shared: compile time is CPU time, so on a loaded machine every wall-clock figure grows with
the load; the process's CPU seconds (all its threads, from spawn) and the shares (which kernel costs what)
hold better than the absolute seconds.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

MODELS = ("fashion_cnn", "cifar_cnn", "lenet5", "conv_model_pooling", "mobilenet", "resnet20",
          "conv_autoencoder")
"""The README's model (the command line's default) and bench_cpu.py's models."""

THREADS = 2


def build(name):
    """A compiled model ``name`` (as bench_cpu.py builds it) and one batch of random data for it."""
    from numbacnn import applications

    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import bench_cpu

    if name in bench_cpu.SPECS:
        shape, optimizer, loss = bench_cpu.SPECS[name]
    else:  # fashion_cnn, as the command line trains it
        shape, optimizer, loss = (28, 28, 1), "adam", "sparse"
    model = bench_cpu.numbacnn_model(name) if name in bench_cpu.SPECS else applications.get(name)()
    model.compile(optimizer=optimizer, loss={"sparse": "sparse_categorical_crossentropy",
                                             "categorical": "categorical_crossentropy", "mse": "mse"}[loss])
    rng = np.random.default_rng(0)
    x = rng.random((32,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, size=32)
    if loss == "categorical":
        y = np.eye(10, dtype=np.float32)[y]
    elif loss == "mse":  # the autoencoder's target is its input
        y = x
    return model, x, y


def kernel_name(dispatcher):
    fn = dispatcher.py_func
    return f"{fn.__module__.replace('numbacnn.kernels.', '')}.{fn.__qualname__}"


def specialisations(buffer):
    """``[(kernel, argument types, inclusive s, own s, caller)]`` from a recorder's ``(time, event)``
    buffer: an event's own time is its time less that of the compilations nested in it (its callees);
    the caller is the kernel whose compilation asked for it ("" for a call from Python)."""
    out, stack = [], []
    for t, event in buffer:
        if event.is_start:
            stack.append([t, 0.0, kernel_name(event.data["dispatcher"])])
            continue
        start, nested, _ = stack.pop()
        inclusive = t - start
        if stack:
            stack[-1][1] += inclusive
        data = event.data
        out.append((kernel_name(data["dispatcher"]), ", ".join(str(a) for a in data["args"]), inclusive,
                    inclusive - nested, stack[-1][2] if stack else ""))
    return out


def worker(name):
    """Run in a child process: time the first training step, recording compile events (cold only)."""
    spawned = float(os.environ["BENCH_SPAWN_TIME"])
    from numba.core import event

    import numbacnn  # noqa: F401  (the import is part of the start-up)
    from numbacnn import compile_pool

    imported = time.time() - spawned
    model, x, y = build(name)
    with event.install_recorder("numba:compile") as rec:
        t0 = time.time()
        model.train_on_batch(x, y)
        step = time.time() - t0
    first_step = time.time() - spawned
    cpu = time.process_time()
    compile_pool.wait_idle()  # the workers' CPU time counts only once they have ended
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"model": name, "imported": imported, "first_step": first_step, "step": step, "cpu": cpu,
            "workers_cpu": children.ru_utime + children.ru_stime, "idle": time.time() - spawned,
            "worker_jobs": compile_pool.history,
            "specialisations": specialisations(rec.buffer)}


def run_worker(name, cache, jobs=1):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS=str(THREADS),
               OMP_NUM_THREADS=str(THREADS), NUMBACNN_COMPILE_JOBS=str(jobs),
               BENCH_SPAWN_TIME=repr(time.time()))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", name], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{name}: the worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def by_kernel(specs):
    """``[(kernel, own s, inclusive s of its outermost compilations, count, [argument types])]``, most
    expensive first."""
    acc = defaultdict(lambda: [0.0, 0, []])
    for kernel, args, _, own, caller in specs:
        a = acc[kernel]
        a[0] += own
        a[1] += 1
        a[2].append(f"{args}" + (f" from {caller}" if caller else ""))
    return sorted(((k, own, n, args) for k, (own, n, args) in acc.items()), key=lambda r: -r[1])


def report(cold, pooled, warm, top):
    specs = cold["specialisations"]
    total = sum(s[3] for s in specs)
    kernels = by_kernel(specs)
    lines = [f"### {cold['model']}: cold {cold['first_step']:.1f} s from spawn to the end of the first step "
             f"compiling in one process (CPU {cold['cpu']:.1f} s; imports {cold['imported']:.1f} s, "
             f"first step {cold['step']:.1f} s)"]
    if pooled is not None:
        lines.append(f"cold with {pooled['jobs']} compile workers: {pooled['first_step']:.1f} s (CPU "
                     f"{pooled['cpu']:.1f} s here + {pooled['workers_cpu']:.1f} s in the workers; "
                     f"{len(pooled['specialisations'])} compilations here; the background compilation of the "
                     f"inference kernels done at {pooled['idle']:.1f} s); the longest jobs: "
                     + ", ".join(f"`{k.replace('numbacnn.kernels.', '')}` {t:.1f} s"
                                 for k, t in sorted(pooled["worker_jobs"], key=lambda j: -j[1])[:4]))
    lines += [f"warm {warm['first_step']:.1f} s (CPU {warm['cpu']:.1f} s; first step {warm['step']:.2f} s, "
              f"{len(warm['specialisations'])} compilations)",
              f"{len(specs)} specialisations of {len(kernels)} kernels, {total:.1f} s of compilation in one "
              f"process ({100 * total / max(cold['step'], 1e-9):.0f} % of the cold step)", "",
              "| kernel | specialisations | own compile s | share |", "|---|---:|---:|---:|"]
    for kernel, own, n, _ in kernels[:top]:
        lines.append(f"| `{kernel}` | {n} | {own:.2f} | {100 * own / max(total, 1e-9):.0f} % |")
    rest = kernels[top:]
    if rest:
        own = sum(r[1] for r in rest)
        lines.append(f"| {len(rest)} others | {sum(r[2] for r in rest)} | {own:.2f} | "
                     f"{100 * own / max(total, 1e-9):.0f} % |")
    multi = [(k, args) for k, _, n, args in kernels if n > 1 and k.startswith("cpu.")]
    if multi:
        lines += ["", "numbacnn kernels compiled for more than one argument-type tuple:"]
        for k, args in multi:
            lines.append(f"- `{k}`: " + "; ".join(f"({a})" for a in args))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(MODELS), help=f"default: {' '.join(MODELS)}")
    parser.add_argument("--top", type=int, default=12, help="kernels listed per model (default 12)")
    parser.add_argument("--jobs", type=int, default=THREADS,
                        help=f"compile workers of the pooled cold run (default {THREADS}; 1: no pooled run)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    results = []
    for name in args.models:
        pooled = None
        if args.jobs > 1:
            with tempfile.TemporaryDirectory() as cache:
                pooled = dict(run_worker(name, cache, args.jobs), jobs=args.jobs)
        with tempfile.TemporaryDirectory() as cache:
            cold = run_worker(name, cache)
            warm = run_worker(name, cache)
        results.append({"cold": cold, "pooled": pooled, "warm": warm})
        print(report(cold, pooled, warm, args.top) + "\n", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
