"""``python -m numbacnn gui`` (``python -m gui`` in a checkout): the command line, the display check, the
frame loop and the headless capture.

DearPyGui aborts the whole process when there is no display, so :func:`main` checks $DISPLAY and
$WAYLAND_DISPLAY (and that $DISPLAY opens) before anything imports it.
"""

import argparse
import ctypes
import ctypes.util
import os
import sys
import time

from . import layout
from .worker import DATASETS, MODEL_H5, MODEL_JSON, MODELS, OPTIMIZERS, Config, Worker

NO_DEARPYGUI = 'the visual debugger needs DearPyGui: pip install "numbacnn[gui]"'
NO_DISPLAY = "no display: set DISPLAY or run under xvfb-run (e.g. xvfb-run -a python -m gui)"
FRAME_SECONDS = 1 / 60
"""The frame loop sleeps what is left of this after each frame, leaving the CPU to training."""


def missing_dearpygui():
    """The one line to print when DearPyGui cannot be imported, or None."""
    try:
        import dearpygui  # noqa: F401  (the package only: its extension starts nothing)
    except ImportError:
        return NO_DEARPYGUI
    return None


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m numbacnn gui",
                                description="Watch a numbacnn network learn, batch by batch.")
    p.add_argument("--dataset", choices=DATASETS, default="fashion_mnist")
    p.add_argument("--model", default="fashion_cnn", metavar="NAME",
                   help=f"one of {', '.join(MODELS[:-2])}, or 'json' / 'h5' with --model-file")
    p.add_argument("--model-file", default="", help="a JSON architecture or a saved .h5 model")
    p.add_argument("--data-dir", default=None, help="the data set's directory (load_data(data_dir=...))")
    p.add_argument("--limit", type=int, default=0, metavar="N",
                   help="train on the first N training images and validate on the first N test images")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--delay", type=float, default=0.0, metavar="MS",
                   help="pause between batches while running")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=0, metavar="N", help="train N batches at start")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="after --steps, draw the window, write it to this PNG file and exit")
    p.add_argument("--tab", choices=layout.TABS, default=layout.TABS[0], help="the tab shown first")
    p.add_argument("--select", default="", metavar="LAYER", help="select this layer in every view")
    p.add_argument("--cell", default="", metavar="LAYER,ROW,COL,FILTER",
                   help="explain this output of a convolution (the Explain tab)")
    p.add_argument("--snapshot-every", type=int, default=0, metavar="N",
                   help="keep the weights every N batches for Rewind (default: 4 times an epoch)")
    p.add_argument("--size", default=f"{layout.VIEWPORT[0]}x{layout.VIEWPORT[1]}", metavar="WxH")
    p.add_argument("--log", action="store_true", help="print every status line to stdout")
    args = p.parse_args(argv)
    aliases = {"json": MODEL_JSON, "h5": MODEL_H5}
    args.model = aliases.get(args.model, args.model)
    if args.model not in MODELS:
        p.error(f"unknown model {args.model!r}; choose one of {', '.join(MODELS[:-2])}, json or h5")
    try:
        args.size = tuple(int(v) for v in args.size.lower().split("x"))
        if len(args.size) != 2 or min(args.size) < 200:
            raise ValueError
    except ValueError:
        p.error(f"--size must be WIDTHxHEIGHT (at least 200x200), received {args.size!r}")
    if args.cell:
        parts = args.cell.split(",")
        if len(parts) != 4 or not all(v.strip().isdigit() for v in parts[1:]):
            p.error(f"--cell must be LAYER,ROW,COL,FILTER, received {args.cell!r}")
        args.cell = (parts[0].strip(), *(int(v) for v in parts[1:]))
    if args.screenshot and args.steps < 0:
        p.error("--steps must be >= 0")
    return args


def display_problem():
    """Why no window can open here (a message), or None. Opens $DISPLAY with libX11 to check it."""
    display = os.environ.get("DISPLAY")
    if not (display or os.environ.get("WAYLAND_DISPLAY")):
        return NO_DISPLAY
    library = ctypes.util.find_library("X11") if display else None
    if library is None:
        return None
    x11 = ctypes.CDLL(library)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = x11.XOpenDisplay(display.encode())
    if not connection:
        return f"cannot open display {display!r}: is its X server running? (or run under xvfb-run)"
    x11.XCloseDisplay(connection)
    return None


class App:
    """The viewport, the window and the worker, and the frame loop that ties them."""

    def __init__(self, config, size=layout.VIEWPORT, log=None):
        import dearpygui.dearpygui as dpg

        from .views import BACKGROUND, Window

        self.dpg = dpg
        sys.setswitchinterval(0.001)   # the UI thread gets the GIL back from training within a millisecond
        dpg.create_context()
        self.worker = Worker(config)
        self.window = Window(self.worker, config, log=log)
        dpg.create_viewport(title=layout.TITLE, width=size[0], height=size[1], x_pos=0, y_pos=0,
                            clear_color=BACKGROUND)
        dpg.setup_dearpygui()
        dpg.show_viewport()
        self.frame_times = []
        self._rate_shown = 0.0

    def frame(self):
        """Draw the latest snapshot and render one frame; False once the window was closed."""
        if not self.dpg.is_dearpygui_running():
            return False
        start = time.monotonic()
        self.window.update()
        if start - self._rate_shown > 0.5:
            self.window.show_rate(self.fps())
            self._rate_shown = start
        self.dpg.render_dearpygui_frame()
        self.frame_times = (self.frame_times + [time.monotonic()])[-120:]
        time.sleep(max(0.0, FRAME_SECONDS - (time.monotonic() - start)))
        return True

    def fps(self):
        """Frames per second over the last (up to) 120 frames."""
        t = self.frame_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def frames_until_idle(self, timeout=None):
        """Render frames until the worker has done everything asked and the window shows it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.frame():
            if self.worker.wait_idle(0) and self.window.version == self.worker.snapshot().version:
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
        return False

    def screenshot(self, path):
        """Write the window as it is now to the PNG ``path``; True when the file was written."""
        path = os.path.abspath(path)
        if os.path.exists(path):
            os.remove(path)
        for _ in range(3):
            self.frame()
        self.dpg.output_frame_buffer(file=path)
        for _ in range(50):
            self.frame()
            if os.path.exists(path) and os.path.getsize(path) > 0:
                return True
        return False

    def close(self):
        """Stop the worker after its current step, join it, and tear the window down."""
        self.worker.stop()
        self.dpg.destroy_context()


def config_from(args):
    return Config(dataset=args.dataset, model=args.model, model_path=args.model_file, epochs=args.epochs,
                  batch_size=args.batch_size, optimizer=args.optimizer, learning_rate=args.learning_rate,
                  limit=args.limit, data_dir=args.data_dir, seed=args.seed, delay=args.delay / 1000.0,
                  snapshot_every=args.snapshot_every)


def main(argv=None):
    args = parse_args(argv)
    problem = missing_dearpygui() or display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    log = (lambda line: print(line, flush=True)) if args.log else None
    app = App(config_from(args), size=args.size, log=log)
    try:
        app.frames_until_idle()
        app.window.show_tab(args.tab)
        if args.select:
            app.window.select_layer(args.select)
        if args.cell:
            app.worker.explain_cell(*args.cell)
        app.frames_until_idle()
        if args.steps and app.worker.snapshot().state != "error":
            app.worker.run_steps(args.steps)
        if args.screenshot:
            app.frames_until_idle()
            snap = app.worker.snapshot()
            if not app.screenshot(args.screenshot):
                print(f"could not write {args.screenshot}", file=sys.stderr)
                return 1
            if snap.state == "error":
                print(snap.status, file=sys.stderr)
                return 1
            print(f"wrote {args.screenshot} after {snap.steps} steps ({snap.status})")
            return 0
        while app.frame():
            pass
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        app.close()
