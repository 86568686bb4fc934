"""A training step recorded once and replayed: CUDA graphs of the step where the driver can capture them.

``with graph.step():`` runs one step. The first step runs as usual and records, between the points where
the host reads device memory back (``launch.before_read``: the loss, the metrics' predictions), each
*segment* of the step: its kernel launches (kernel, grid, block and arguments: device arrays by address,
shape and strides, scalars by value) and its host-to-device copies. A step needs at least two segments
as the trainer runs it today (forward and loss, read back for the non-finite check; then backward and
the optimizer update), so "the step's graph" is one CUDA graph per segment.

Later steps run the same Python code, but the launches and copies of a segment are held back until its
end (the next read, or the end of the step), and compared with the record:

* the same: the segment is replayed. Where the driver has stream capture (numba-cuda with
  ``cuda.bindings.driver``: cuStreamBeginCapture, cuStreamEndCapture, cuGraphInstantiate,
  cuGraphLaunch) the segment's launches are captured once into a graph on the compute stream, and each
  replay copies the segment's host data into its device buffers, then launches the graph. Elsewhere (the
  CUDA simulator, a driver without those entry points, a capture that failed) the recorded launches run
  one by one, in order; :class:`StepGraph` says so once per process (a ``RuntimeWarning``).
* different (a scalar argument that changed, an array at another address): the segment runs as it was
  called, launch by launch, and becomes the new record (``mismatches`` counts these), so a replay is
  never of a stale step.

A replayed graph reads what changes between steps from device memory: the batch (copied into the
step's buffer), the dropout draws, the optimizer's learning rate and bias corrections
(``kernels.cuda.optimizers`` reads them from a small device array). That works because the step's
memory plan (``kernels.cuda.memory``) gives every step the same buffers: use a StepGraph inside a plan's
step. The graph path has not been run on a GPU yet: it is off unless asked for (``NUMBACNN_CUDA_GRAPH=1``,
or ``StepGraph(capture=True)``).
"""

import contextlib
import logging
import os
import warnings

import numpy as np

from ... import backend
from . import launch

__all__ = ["StepGraph", "capture_unavailable_reason", "graphs_enabled"]

_log = logging.getLogger("numbacnn")
_fallback_said = False


def graphs_enabled():
    """True when the trainer should run its steps through a StepGraph (``NUMBACNN_CUDA_GRAPH=1``)."""
    return os.environ.get("NUMBACNN_CUDA_GRAPH", "").strip().lower() in ("1", "true", "yes", "on")


def _driver():
    """numba-cuda's driver bindings (``cuda.bindings.driver``) with stream capture, or None."""
    if backend.cuda_config().ENABLE_CUDASIM:
        return None
    try:
        from cuda.bindings import driver
    except ImportError:
        return None
    needed = ("cuStreamBeginCapture", "cuStreamEndCapture", "cuGraphLaunch", "cuGraphExecDestroy",
              "cuGraphDestroy")
    if not all(hasattr(driver, name) for name in needed):
        return None
    if not (hasattr(driver, "cuGraphInstantiateWithFlags") or hasattr(driver, "cuGraphInstantiate")):
        return None
    return driver


def capture_unavailable_reason():
    """Why steps cannot be captured into CUDA graphs here (None when they can be)."""
    if backend.cuda_config().ENABLE_CUDASIM:
        return "Numba's CUDA simulator has no CUDA graphs"
    if _driver() is None:
        return "numba-cuda's driver bindings (cuda.bindings.driver) lack stream capture"
    return None


def _say_fallback(reason):
    global _fallback_said
    if not _fallback_said:
        _fallback_said = True
        warnings.warn(f"CUDA graphs are not used ({reason}): the recorded step's kernels are launched one by "
                      "one instead", RuntimeWarning, stacklevel=4)



def _key(value):
    """What a replayed launch must find unchanged in an argument."""
    if launch.is_device_array(value):
        return ("array", launch.address(value), tuple(value.shape), tuple(value.strides), value.dtype.str)
    if isinstance(value, (tuple, list)):
        return tuple(_key(v) for v in value)
    if isinstance(value, np.ndarray):  # a host array as a kernel argument is copied at each launch
        return ("host", value.shape, value.dtype.str, value.tobytes())
    return (type(value).__name__, repr(value))


def _check(result):
    """The CUresult of a cuda.bindings call (first item of its tuple): raise unless CUDA_SUCCESS."""
    items = result if isinstance(result, tuple) else (result,)
    if int(items[0]) != 0:
        raise RuntimeError(f"CUDA driver call failed: {items[0]!r}")
    return items[1] if len(items) > 1 else None


class _Segment:
    """The record of one segment: its signature and, once captured, its executable graph."""

    __slots__ = ("signature", "graph", "graph_exec")

    def __init__(self, signature):
        self.signature = signature
        self.graph = self.graph_exec = None


class StepGraph:
    """Record a step once, then replay it (as CUDA graphs where the driver can capture them).

    ``capture``: None (capture where the driver can), False (never: replay launch by launch). Counters:
    ``steps``, ``replayed`` (segments replayed), ``captured`` (segments captured into graphs),
    ``mismatches`` (segments that differed from the record and ran as called).
    """

    def __init__(self, name="step", capture=None):
        self.name = name
        self.capture = capture
        self.steps = self.replayed = self.captured = self.mismatches = 0
        self._segments = []
        self._ops = []  # this segment's ops: ("launch", kernel, blocks, threads, args) / ("copy", dst, src)
        self._index = 0  # this segment's number within the step
        self._replaying = False
        self._active = False

    @property
    def segments(self):
        return len(self._segments)

    @contextlib.contextmanager
    def step(self):
        """Run one step under the graph (inside the memory plan's step)."""
        if self._active or launch._recorder is not None:
            raise RuntimeError(f"step graph {self.name!r}: a step is already being recorded")
        self._active = True
        self._replaying = self.steps > 0
        self._index = 0
        self._ops = []
        launch._recorder = self
        try:
            yield self
            self.flush()
        finally:
            launch._recorder = None
            self._active = False
            ops, self._ops = self._ops, []
            if ops and self._replaying:  # an exception inside the step: run what it held back
                self._run(ops)
            self.steps += 1

    # ----- what launch.py hands over -----------------------------------------------------------
    def intercept_launch(self, kernel, blocks, threads, args):
        self._ops.append(("launch", kernel, blocks, threads, args))
        return self._replaying

    def intercept_copy(self, dst, src):
        if self._replaying:
            src = src if launch.is_device_array(src) else np.array(src, copy=True)
        self._ops.append(("copy", dst, src))
        return self._replaying

    def flush(self):
        """The end of a segment: the host is about to read device memory (or the step ends)."""
        ops, self._ops = self._ops, []
        if not ops:
            return
        signature = self._signature(ops)
        index, self._index = self._index, self._index + 1
        if not self._replaying:  # the first step ran its ops as they came: record them
            self._record(index, signature)
            return
        segment = self._segments[index] if index < len(self._segments) else None
        if segment is None or segment.signature != signature:
            self.mismatches += 1
            _log.info("step graph %r: segment %d differs from the record (step %d); run as called and "
                      "recorded again", self.name, index, self.steps)
            self._run(ops)
            self._record(index, signature)
            return
        self.replayed += 1
        self._replay(segment, ops)

    # ----- internals ---------------------------------------------------------------------------
    @staticmethod
    def _signature(ops):
        out = []
        for op in ops:
            if op[0] == "launch":
                _, kernel, blocks, threads, args = op
                out.append(("launch", id(kernel), _key(blocks), _key(threads), _key(args)))
            else:
                src = op[2]
                out.append(("copy", _key(op[1]), "device" if launch.is_device_array(src) else "host"))
        return tuple(out)

    def _record(self, index, signature):
        old = self._segments[index] if index < len(self._segments) else None
        if old is not None:
            self._destroy(old)
            self._segments[index] = _Segment(signature)
        else:
            self._segments.append(_Segment(signature))

    @staticmethod
    def _run(ops):
        """The ops in their order, as the wrappers would have run them."""
        stream = launch.stream()
        for op in ops:
            if op[0] == "launch":
                _, kernel, blocks, threads, args = op
                kernel[blocks, threads, stream](*args)
            else:
                launch.copy(op[1], op[2])

    def _copies_first(self, ops):
        """True when moving the segment's copies before its launches changes nothing: no launch before a
        copy touches the copy's destination (the memory plan's fresh buffers never are)."""
        seen = set()
        for op in ops:
            if op[0] == "launch":
                seen.update(_addresses(op[4]))
            elif launch.address(op[1]) in seen:
                return False
        return True

    def _replay(self, segment, ops):
        driver = None
        if self.capture is not False:
            driver = _driver()
            reason = capture_unavailable_reason() if driver is None else None
        else:
            reason = "capture turned off"
        if driver is not None and not self._copies_first(ops):
            driver, reason = None, "a segment copies into an array that its kernels read before"
        if driver is None:
            _say_fallback(reason)
            self._run(ops)
            return
        stream = launch.stream()
        for op in ops:  # the refreshing copies, then the graph that reads them
            if op[0] == "copy":
                launch.copy(op[1], op[2])
        try:
            if segment.graph_exec is None:
                self._capture(driver, segment, [op for op in ops if op[0] == "launch"])
            _check(driver.cuGraphLaunch(segment.graph_exec, _stream_handle(driver, stream)))
        except Exception as err:  # noqa: BLE001 - any failure: never capture again, run the launches
            self.capture = False
            _say_fallback(f"capture failed: {err}")
            self._run([op for op in ops if op[0] == "launch"])

    def _capture(self, driver, segment, launches):
        stream = launch.stream()
        handle = _stream_handle(driver, stream)
        mode = driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED
        _check(driver.cuStreamBeginCapture(handle, mode))
        try:
            self._run(launches)
        finally:
            graph = _check(driver.cuStreamEndCapture(handle))
        instantiate = getattr(driver, "cuGraphInstantiateWithFlags", None) or driver.cuGraphInstantiate
        segment.graph = graph
        segment.graph_exec = _check(instantiate(graph, 0))
        self.captured += 1

    @staticmethod
    def _destroy(segment):
        driver = _driver()
        if driver is None:
            return
        if segment.graph_exec is not None:
            driver.cuGraphExecDestroy(segment.graph_exec)
        if segment.graph is not None:
            driver.cuGraphDestroy(segment.graph)
        segment.graph = segment.graph_exec = None

    def close(self):
        """Destroy the captured graphs."""
        for segment in self._segments:
            self._destroy(segment)
        self._segments = []

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit the driver may be gone
            pass

    def __repr__(self):
        return (f"StepGraph({self.name!r}, steps={self.steps}, segments={self.segments}, "
                f"replayed={self.replayed}, captured={self.captured}, mismatches={self.mismatches})")


def _addresses(args):
    for a in args:
        if launch.is_device_array(a):
            yield launch.address(a)
        elif isinstance(a, (tuple, list)):
            yield from _addresses(a)


def _stream_handle(driver, stream):
    """The compute stream as the bindings' CUstream (numba-cuda's handle is one with its NVIDIA binding,
    a ctypes pointer with the old one)."""
    handle = stream.handle
    if isinstance(handle, driver.CUstream):
        return handle
    return driver.CUstream(int(getattr(handle, "value", handle) or 0))
