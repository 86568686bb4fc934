"""Frame rate of the visual debugger's window, idle and while training (goal: >= 30 frames/s training).

    python benchmarks/bench_gui.py          # needs the gui extra, Xvfb (xvfb-run) and the repo checkout

Runs tests/gui/scenario.py (the tests' own drive of the window through its buttons) under a fresh Xvfb
on the shipped Fashion-MNIST sample (data/fashion-mnist-sample) with LeNet-5, and prints the frames per
second of the window's own frame loop: idle, then while the worker thread trains (the best of up to three
2-second windows). Speed figures live here, not in the tests: the machines are shared and noisy.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    if shutil.which("xvfb-run") is None:
        sys.exit("xvfb-run is needed: apt-get install -y xvfb xauth")
    with tempfile.TemporaryDirectory() as out:
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable,
               str(ROOT / "tests" / "gui" / "scenario.py"), str(ROOT / "data" / "fashion-mnist-sample"), out]
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path)
        subprocess.run(cmd, check=True, cwd=ROOT, env=env)
        report = json.loads((Path(out) / "report.json").read_text())
    windows = ", ".join(f"{r:.1f}" for r in report["fps_windows"])
    print(f"visual debugger (LeNet-5, batch 16, Xvfb + Mesa software OpenGL): idle {report['idle_fps']:.1f} "
          f"frames/s; while training {report['fps']:.1f} frames/s (2-s windows: {windows}); "
          f"{report['steps_while_measuring']} batches trained meanwhile; goal >= 30")


if __name__ == "__main__":
    main()
