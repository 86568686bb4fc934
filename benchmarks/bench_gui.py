"""Frame rate of the visual debugger's window, idle and while training (goal: >= 30 frames/s training).

    python benchmarks/bench_gui.py [--cores 2]   # needs the gui extra, Xvfb (xvfb-run) and the checkout

``--cores N`` (default 2) pins the window and its training thread to the first N CPUs, as on a 2-core
laptop; the scenario also drives the graph, Explain and Rewind views before it measures.

Runs tests/gui/scenario.py (the tests' own drive of the window through its buttons) under a fresh Xvfb
on the shipped Fashion-MNIST sample (data/fashion-mnist-sample) with LeNet-5, and prints the frames per
second of the window's own frame loop: idle, then while the worker thread trains (the best of up to three
2-second windows). Speed figures live here, not in the tests: the machines are shared and noisy.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="CPUs the window and training may use")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))[:max(1, args.cores)]
    if shutil.which("xvfb-run") is None:
        sys.exit("xvfb-run is needed: apt-get install -y xvfb xauth")
    with tempfile.TemporaryDirectory() as out:
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable,
               str(ROOT / "tests" / "gui" / "scenario.py"), str(ROOT / "data" / "fashion-mnist-sample"), out]
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path)
        env["NUMBA_NUM_THREADS"] = str(len(cpus))
        subprocess.run(cmd, check=True, cwd=ROOT, env=env, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        report = json.loads((Path(out) / "report.json").read_text())
    windows = ", ".join(f"{r:.1f}" for r in report["fps_windows"])
    print(f"visual debugger (LeNet-5, batch 16, {len(cpus)} cores, Xvfb + Mesa software OpenGL): "
          f"idle {report['idle_fps']:.1f} "
          f"frames/s; while training {report['fps']:.1f} frames/s (2-s windows: {windows}); "
          f"{report['steps_while_measuring']} batches trained meanwhile; goal >= 30")


if __name__ == "__main__":
    main()
