"""Compile a cold first step's kernels in parallel worker processes, into Numba's shared on-disk cache.

Numba compiles one kernel at a time, under a process-wide lock, so a cold first training step keeps one
core busy for tens of seconds while the others idle. Its kernels are independent, though: each top-level
kernel call from Python is one (kernel, argument types) pair that any process can compile into the cache,
where the others then load it in milliseconds. So the first step runs in three moves:

1. **Discover** (:func:`discover`): the step runs once on a twin of the model with every kernel that is
   neither compiled in this process nor in the cache replaced by a no-op, while the argument types of each
   such call are recorded. Nothing is computed (the twin's arrays hold garbage); the point is the list of
   what the real step will ask Numba for, which takes a fraction of a second.
2. **Compile** (:class:`CompilePool`): that list goes to worker processes (``python -m
   numbacnn.compile_pool``, one per core), each compiling its share with ``Dispatcher.compile`` and Numba
   saving the result in the cache (``cache=True``), largest kernels first.
3. **Run**: the real step runs in this process; a kernel a worker is compiling waits for
   it and then loads it from the cache, and a kernel discovery missed (a route the garbage took
   differently) is compiled here, as without the pool.

The result is the same machine code as a sequential compilation (the same Numba, the same source, the same
argument types), so numerics do not change, only where and when the compiling happens. Only numbacnn's own
kernels go to workers (a kernel of the user's ``__main__`` script could not be imported there); workers
are plain subprocesses rather than ``multiprocessing`` ones, so a user's script without an ``if __name__
== "__main__"`` guard is never re-run in them. When a worker cannot start or fails, its kernels compile
here: the pool can only save time, never lose a result.
"""

import ast
import importlib
import inspect
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from concurrent.futures import Future
from contextlib import contextmanager

import numpy as np

__all__ = ["CompilePool", "default_jobs", "discover", "wait_idle"]

_PATCH_LOCK = threading.Lock()


def default_jobs():
    """Worker processes for a cold start: ``NUMBACNN_COMPILE_JOBS`` if set (0 or 1: no pool, compile in
    this process), else the cores this process may use."""
    value = os.environ.get("NUMBACNN_COMPILE_JOBS", "").strip()
    if value:
        try:
            return max(0, int(value))
        except ValueError:
            raise ValueError(f"NUMBACNN_COMPILE_JOBS must be a whole number, received {value!r}") from None
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _dispatcher_class():
    from numba.core.registry import CPUDispatcher

    return CPUDispatcher


def _location(dispatcher):
    """``(module, qualname)`` by which a worker can import ``dispatcher``, or None (not numbacnn's, or
    not reachable by name: a closure, a kernel made at run time)."""
    fn = getattr(dispatcher, "py_func", None)
    module = getattr(fn, "__module__", "") or ""
    qualname = getattr(fn, "__qualname__", "") or ""
    if not module.startswith("numbacnn.") or "<" in qualname:
        return None
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return (module, qualname) if obj is dispatcher else None


def _normalize(sig):
    from numba.core import sigutils

    args, _ = sigutils.normalize_signature(sig)
    return tuple(args)


def _noop(*args, **kwargs):
    """What runs instead of a kernel during :func:`discover`: nothing, except that the integer arrays it
    was given are zeroed (they may be its outputs: argmax indices that a kernel that does run would
    otherwise read as garbage, out of bounds; the dry run's inputs are copies)."""
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype.kind in "iu" and a.flags.writeable:
            a.fill(0)
    return 0.0


_ORIGINAL_COMPILE = None
_local = threading.local()  # .found: the list discover() fills on this thread, else absent
_pending = {}  # (id(dispatcher), argument types) -> Future of the worker compiling it
_closing = []  # threads of pools closing in the background
history = []  # (kernel, seconds) of every job a worker finished, in order (for bench_compile.py)


def _install():
    """Route every CPU dispatcher's ``compile(sig)`` through :func:`_compile` (once per process; when
    nothing is being discovered or compiled by a worker it is one dictionary lookup per compilation)."""
    global _ORIGINAL_COMPILE
    with _PATCH_LOCK:
        if _ORIGINAL_COMPILE is None:
            cls = _dispatcher_class()
            _ORIGINAL_COMPILE = cls.compile
            cls.compile = _compile


def _compile(self, sig):
    args = _normalize(sig)
    found = getattr(_local, "found", None)
    if found is not None and not getattr(_local, "compiling", False):  # discovering, not inside a compile
        return _discovered(self, sig, args, found)
    _wait(_pending.get((id(self), args)))
    return _ORIGINAL_COMPILE(self, sig)


WAIT_SECONDS = 600
"""How long a compilation waits for the worker compiling the same kernel before doing it itself (a
worker that hangs must not hang the step; a failed one has already answered)."""


def _wait(future):
    if future is not None:
        try:
            future.exception(timeout=WAIT_SECONDS)
        except TimeoutError:
            pass


def _discovered(dispatcher, sig, args, found):
    """A kernel called during :func:`discover`: loaded from the cache when it is there; else recorded (and
    handed to the pool at once) and replaced by a no-op, unless it returns a value the dry run needs
    further on (a kernel that allocates and returns its output): that one is compiled first, by a worker
    ahead of the queue, then loaded and run."""
    entry = _load_cached(dispatcher, args)
    if entry is not None:
        return entry
    key = (id(dispatcher), args)
    if all(d is not dispatcher or a != args for d, a in found):
        found.append((dispatcher, args))
    pool = getattr(_local, "pool", None)
    if not _returns_value(dispatcher):
        if pool is not None:
            pool.submit([(dispatcher, args)])
        return _noop
    if pool is not None:
        pool.submit([(dispatcher, args)], first=True)
        _wait(_pending.get(key))
    _local.compiling = True
    try:
        return _ORIGINAL_COMPILE(dispatcher, sig)  # loads what the worker compiled, or compiles it here
    finally:
        _local.compiling = False


_RETURNS = {}  # id(dispatcher) -> whether its Python source returns a value


def _returns_value(dispatcher):
    """Whether a kernel's source has a ``return`` with a value (outside functions nested in it); True when
    the source cannot be read (the safe answer: it is then compiled and run, not replaced)."""
    known = _RETURNS.get(id(dispatcher))
    if known is None:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(dispatcher.py_func)))
            known = _has_value_return(tree.body[0])
        except (OSError, TypeError, SyntaxError, IndexError, AttributeError):
            known = True
        _RETURNS[id(dispatcher)] = known
    return known


def _has_value_return(function):
    stack = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _load_cached(dispatcher, args):
    """Load ``dispatcher``'s specialisation for ``args`` from Numba's cache into this process, as
    ``Dispatcher.compile`` does first; its entry point, or None when the cache does not have it."""
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock:
        existing = dispatcher.overloads.get(args)
        if existing is not None:
            return existing.entry_point
        cres = dispatcher._cache.load_overload(args, dispatcher.targetctx)
        if cres is None:
            return None
        dispatcher._cache_hits[args] += 1
        if not cres.objectmode:
            dispatcher.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
        dispatcher.add_overload(cres)
        return cres.entry_point


@contextmanager
def discover(pool=None):
    """Within the block, on this thread, a call of a kernel that would have to be compiled runs nothing
    (and returns 0.0) instead; yields the list that fills with ``(dispatcher, argument types)`` of those
    calls, in order, each once, each handed to ``pool`` (a :class:`CompilePool`) as it is found. Kernels
    compiled already or in the cache run as usual; so does a kernel that returns a value (compiled
    first). For a dry run on a twin model, with copies of the data: the no-ops leave garbage in float
    outputs and zeros in integer ones (see ``_noop``)."""
    _install()
    _local.found = found = []
    _local.pool = pool
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            yield found
    finally:
        del _local.found
        _local.pool = None


def copies(arrays):
    """Copies of a list of arrays (None kept): the data a dry run may write into."""
    return None if arrays is None else [None if a is None else np.array(a, copy=True) for a in arrays]


# ----- the worker processes ------------------------------------------------------------------------------
def _send(stream, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the compile worker closed its pipe")
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def _sort_key(item):
    """Largest first: parallel kernels (each a parfor and its gufunc) take several times longer."""
    dispatcher, _ = item
    return 0 if dispatcher.targetoptions.get("parallel") else 1


class CompilePool:
    """``jobs`` worker processes that compile (kernel, argument types) pairs into Numba's cache.

    ``submit(items)`` hands them out, largest first, and returns ``{(dispatcher, args): Future}`` of those
    that went to workers (a future's result is the worker's seconds, or its error); until a worker
    has finished one, this process's compilation of that kernel waits for it and then loads it from the
    cache. A kernel that cannot go to a worker (not numbacnn's, or no worker running) and one whose worker
    failed are compiled in this process when called, as without the pool. ``progress(message, done,
    total)`` is called as each one finishes. ``close()`` lets the workers finish what was submitted (in the
    background with ``wait=False``) and ends them."""

    def __init__(self, jobs=None, progress=None):
        self.jobs = default_jobs() if jobs is None else int(jobs)
        self.progress = progress
        self._procs = []
        self._queue = []
        self._lock = threading.Condition()
        self._threads = []
        self._closed = False
        self._done = 0
        self._total = 0
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        for _ in range(max(0, self.jobs)):
            try:
                proc = subprocess.Popen([sys.executable, "-m", "numbacnn.compile_pool"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=env)
            except OSError:
                break
            self._procs.append(proc)
            thread = threading.Thread(target=self._serve, args=(proc,), daemon=True,
                                      name="numbacnn-compile-worker")
            thread.start()
            self._threads.append(thread)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def workers(self):
        return len(self._procs)

    def submit(self, items, first=False):
        _install()
        jobs = []
        for dispatcher, args in sorted(items, key=_sort_key):
            where = _location(dispatcher)
            key = (id(dispatcher), args)
            if where is None or key in _pending:
                continue
            future = Future()
            _pending[key] = future
            future.add_done_callback(lambda _, key=key: _pending.pop(key, None))
            jobs.append((where, args, future, dispatcher))
        with self._lock:
            if not self._procs:
                for *_, future, _ in jobs:
                    future.set_exception(RuntimeError("no compile worker running"))
            else:
                self._total += len(jobs)
                if first:
                    self._queue[:0] = jobs
                else:
                    self._queue.extend(jobs)
                self._lock.notify_all()
        return {(dispatcher, args): future for _, args, future, dispatcher in jobs}

    def _serve(self, proc):
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if not self._queue:
                    return
                (module, qualname), args, future, dispatcher = self._queue.pop(0)
            try:
                _send(proc.stdin, (module, qualname, args))
                ok, value = _receive(proc.stdout)
            except BaseException as exc:  # the worker died: this job and, if it was the last, the rest fail
                future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
                self._retire(proc)
                return
            if ok:
                history.append((f"{module}.{qualname}", value))
                future.set_result(value)
            else:
                future.set_exception(RuntimeError(value))
            with self._lock:
                self._done += 1
                done, total = self._done, self._total
            if self.progress is not None:
                from .warmup import kernel_family

                try:
                    self.progress(f"compiling {kernel_family(dispatcher)} kernels {done}/{total}", done,
                                  total)
                except Exception:  # a failing report must not stop the worker serving the others
                    pass

    def _retire(self, proc):
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)
            if self._procs:
                return
            rest, self._queue = self._queue, []
        for *_, future, _ in rest:
            future.set_exception(RuntimeError("no compile worker left"))

    def close(self, wait=True):
        """Let the workers finish the submitted kernels, then end them; with ``wait=False`` this happens
        on a background thread (the kernels this process calls meanwhile still wait for theirs)."""
        if not wait:
            thread = threading.Thread(target=self.close, daemon=True, name="numbacnn-compile-pool-close")
            _closing.append(thread)
            thread.start()
            return
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join()
        for proc in list(self._procs):
            try:
                proc.stdin.close()
                proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
        self._procs = []


def wait_idle():
    """Wait until every pool closed with ``wait=False`` has ended its workers (benchmarks read the workers'
    CPU time then; tests wait for the background compilation to finish)."""
    while _closing:
        _closing.pop().join()


def _worker_main():
    """A worker: read (module, qualname, argument types) jobs from stdin, compile each into the cache,
    answer ``(True, seconds)`` or ``(False, error text)`` on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed while compiling must not corrupt the pipe
    while True:
        try:
            module, qualname, args = _receive(stdin)
        except EOFError:
            return
        t0 = time.perf_counter()
        try:
            obj = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            obj.compile(args)
            answer = (True, time.perf_counter() - t0)
        except Exception as exc:
            answer = (False, f"{type(exc).__name__}: {exc}")
        _send(stdout, answer)


if __name__ == "__main__":
    _worker_main()
