"""The memory plan of a step on the GPU: the same device arrays, in the same order, at every step.

A training (or evaluation, or prediction) step makes the same requests for device memory at every
batch: the same shapes and dtypes in the same order. A :class:`StepPlan` is made once per model, kind of
step and batch shape. While a step runs inside ``with plan.step():``, every device array the kernel
wrappers ask for (``launch.empty``: outputs, ``arrays.to_device`` copies of host arrays, the im2col
workspace) comes from the plan. The first step records the requests and allocates; later steps are handed
the very same arrays in the same order, so that no device array is created after the first step (and
the kernels of every step read and write the same addresses, which a CUDA graph of the step needs).

The plan checks every request against its record. When one differs (a different batch size, a last
short batch, a graph changed between steps) it says so (the ``numbacnn`` logger, at INFO level, and
``replans``) and records again from that request on: the buffers handed out before it stay, the
requests after it get new arrays. A wrong buffer is never handed out.

What must outlive the step never comes from a plan: weights, their gradients and the optimizer's slots
are created before the step or outside any plan (``arrays.persistent()``, ``launch.unplanned()``), and
what the caller gets back is a host copy. A buffer of the plan is valid until the next step under the
same plan starts.

Workspace buffers (``workspace_take`` / ``workspace_give``) are reused within the step as the pool does
without a plan: a buffer given back serves the next request of its shape and dtype. The gives are part
of the record, so that the reuse is the same at every step.
"""

import contextlib
import logging
import os

import numpy as np

from . import launch

__all__ = ["StepPlan", "plans_enabled"]

_log = logging.getLogger("numbacnn")


def plans_enabled():
    """True unless ``NUMBACNN_CUDA_PLAN=0``: the training, evaluation and prediction steps on CUDA run
    under memory plans."""
    return os.environ.get("NUMBACNN_CUDA_PLAN", "1").strip().lower() not in ("0", "false", "no", "off")



class StepPlan:
    """The device arrays of one kind of step, recorded at its first run and handed out again after.

    ``name`` labels the plan in its messages. ``steps``: steps run under it; ``replans``: steps whose
    requests differed from the record; ``allocated``: the arrays it holds; ``nbytes``: their size.
    """

    def __init__(self, name="step"):
        self.name = name
        self.steps = 0
        self.replans = 0
        self._events = []  # the record: ("take", shape, dtype, scratch) or ("give", request index)
        self._arrays = []  # per event: the array a take handed out (None for a give)
        self._cursor = 0
        self._recording = True
        self._free = {}  # while recording: (shape, dtype) -> scratch arrays given back in this step
        self._index_of = {}  # address of a scratch array -> the index of the take that first made it
        self._active = False

    @property
    def allocated(self):
        return len({id(a) for a in self._arrays if a is not None})

    @property
    def nbytes(self):
        return sum({id(a): a.nbytes for a in self._arrays if a is not None}.values())

    @contextlib.contextmanager
    def step(self):
        """Run one step under the plan (not re-entrant; an enclosing plan is set aside meanwhile)."""
        if self._active:
            raise RuntimeError(f"memory plan {self.name!r}: a step is already running under it")
        outer = launch._plan
        launch._plan = self
        self._active = True
        self._cursor = 0
        self._free = {}
        try:
            yield self
        finally:
            launch._plan = outer
            self._active = False
            self.steps += 1
            if self._cursor < len(self._events):  # fewer requests than recorded: the tail is stale
                self._differs(f"the step made {self._cursor} of its {len(self._events)} recorded requests")
            self._recording = False

    def _differs(self, what):
        self.replans += 1
        _log.info("memory plan %r: %s; recording again from request %d (step %d)", self.name, what,
                  self._cursor, self.steps)
        del self._events[self._cursor:]
        del self._arrays[self._cursor:]
        self._index_of = {a: i for a, i in self._index_of.items() if i < self._cursor}
        self._recording = True
        # Scratch arrays given back earlier in this step and not taken since are free again.
        self._free = {}
        taken = {}
        for event, arr in zip(self._events, self._arrays):
            if event[0] == "take" and event[3]:
                taken[id(arr)] = arr
            elif event[0] == "give":
                arr = self._arrays[event[1]]
                if taken.pop(id(arr), None) is not None:
                    self._free.setdefault((arr.shape, arr.dtype.str), []).append(arr)

    def _next(self, event):
        """True when ``event`` is the next one of the record (and moves past it)."""
        if not self._recording:
            if self._cursor < len(self._events) and self._events[self._cursor] == event:
                self._cursor += 1
                return True
            expected = self._events[self._cursor] if self._cursor < len(self._events) else "nothing"
            self._differs(f"request {self._cursor} is {event}, the record has {expected}")
        return False

    def take(self, shape, dtype, scratch=False):
        """The device array for this request (``scratch``: a workspace buffer)."""
        shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        dtype = np.dtype(dtype)
        event = ("take", shape, dtype.str, bool(scratch))
        if self._next(event):
            launch._count("planned")
            return self._arrays[self._cursor - 1]
        array = None
        if scratch:
            reuse = self._free.get((shape, dtype.str))
            if reuse:
                array = reuse.pop()
        if array is None:
            array = launch.allocate(shape, dtype)
            if scratch:
                self._index_of[launch.address(array)] = len(self._events)
        self._events.append(event)
        self._arrays.append(array)
        self._cursor += 1
        return array

    def give(self, array):
        """A workspace buffer (or a reshape of it) back for reuse later in this step: True when it is one
        of the plan's, False when the caller should treat it as any other array."""
        index = self._index_of.get(launch.address(array))
        if index is None or index >= len(self._arrays) or self._arrays[index].nbytes != array.nbytes:
            return False
        event = ("give", index)
        if self._next(event):
            return True
        base = self._arrays[index]
        self._events.append(event)
        self._arrays.append(None)
        self._cursor += 1
        group = self._free.setdefault((base.shape, base.dtype.str), [])
        if all(b is not base for b in group):
            group.append(base)
        return True

    def __repr__(self):
        return (f"StepPlan({self.name!r}, steps={self.steps}, arrays={self.allocated}, "
                f"bytes={self.nbytes}, replans={self.replans})")
