"""Numba's code generation for parallel kernels, without optimizing and assembling the same code four times.

Numba lowers each ``prange`` loop of a ``parallel=True`` kernel into a chain of four LLVM libraries, each
linked into the next: the loop body (a "parfor gufunc", with its callees linked in), the body's gufunc
wrapper, the thread pool's launcher (``parallelgufuncwrapper``) and the kernel itself. Finalizing a library
runs LLVM's whole O3 module pipeline over everything linked into it and emits machine code for all of it,
so the loop body, and every callee inlined into it (the matrix product's vector tiles, the im2col gather),
was finalized four times (each time two O3 runs and a full assembly). Only the kernel's own library is
ever called or cached; the others exist to be linked into it. Without that repeated work fashion_cnn's
cold first training step compiles in 16-19 CPU-seconds instead of 30-38 (``benchmarks/README.md``,
"Cold start, third round").

:func:`install` changes two things in Numba's CPU code libraries, for those intermediate libraries only:

- **The two wrappers** (a parfor's gufunc wrapper and the launcher) are neither optimized nor assembled
  when finalized: linked into the kernel, they are optimized and assembled as part of it. If anything asks
  one of them for a function pointer or its object code (Numba's own ``@vectorize(target="parallel")``
  and ``@guvectorize`` use the same classes and do), it is optimized and assembled then, as before.
- **The loop body** is neither optimized nor assembled on its own either: the kernel's O3 run optimizes
  it, once, with the rest. Numba builds a Python entry point for every function it compiles, which needs
  machine code; for a loop body, which only its kernel calls, the entry point is a stand-in that says so
  if called (:func:`_loop_body_entry`), and nothing is assembled.

What runs is the same: every function reaches the kernel's library as the same IR and goes through the
same O3 pipeline there (the repeated runs at the inner levels were optimizing code already optimized).
Without fast-math flags LLVM may not reorder floating-point arithmetic, and numbacnn's only fast-math
functions (two dot products in ``conv_direct``, not parallel) are compiled in libraries of their own, as
before. ``tests/test_numba_codegen.py`` compares bits against plain Numba; the suite compares kernels
against NumPy references and pooled training against one-process runs bit for bit.
``NUMBACNN_PLAIN_NUMBA=1`` leaves Numba as it is (for comparisons); a Numba whose code library lacks the
methods patched here is left as it is too.
"""

import os
import threading

__all__ = ["install", "installed"]

_WRAPPERS = ("parallelgufuncwrapper", "<numba.np.ufunc.wrappers._GufuncWrapper")
"""Library names of a parfor's two wrappers (Numba names a gufunc wrapper's library after the wrapper)."""
_LOOP_BODY = "__numba_parfor_gufunc_"
"""Library name prefix of a parfor's loop body."""

_lock = threading.Lock()
_installed = False


def installed():
    """True when :func:`install` patched Numba in this process."""
    return _installed


def _wanted():
    return os.environ.get("NUMBACNN_PLAIN_NUMBA", "").strip() not in ("1", "true", "yes")


def install():
    """Patch Numba's CPU code libraries as the module docstring says (once per process; idempotent)."""
    global _installed
    with _lock:
        if _installed or not _wanted():
            return
        try:
            from numba.core import codegen, cpu
        except ImportError:  # pragma: no cover - numba is a dependency
            return
        library = getattr(codegen, "CPUCodeLibrary", None)
        jit_library = getattr(codegen, "JITCodeLibrary", None)
        context = getattr(cpu, "CPUContext", None)
        needed = ((library, "_optimize_final_module"), (library, "_finalize_final_module"),
                  (library, "_get_compiled_object"), (library, "_ensure_finalized"),
                  (jit_library, "get_pointer_to_function"), (context, "get_executable"))
        if any(cls is None or not callable(getattr(cls, name, None)) for cls, name in needed):
            return  # a Numba whose code library is built differently: leave it alone
        _patch(library, jit_library, context)
        _installed = True


def _deferred(library):
    """Whether ``library`` is a parfor's loop body or one of its wrappers (linked into its kernel only)."""
    return library.name.startswith(_WRAPPERS) or library.name.startswith(_LOOP_BODY)


def _loop_body_entry(qualname):
    """The Python entry point Numba gets for a parfor's loop body instead of one built from machine code:
    a loop body runs inside its kernel (linked into it), never from Python."""

    def entry(*args, **kwargs):
        raise RuntimeError(f"{qualname} is the loop body of a parallel kernel: it runs only inside that "
                           "kernel (numbacnn.numba_codegen assembles no entry point for it)")

    return entry


def _patch(library, jit_library, context):
    optimize = library._optimize_final_module
    finalize_module = library._finalize_final_module
    compiled_object = library._get_compiled_object
    pointer = jit_library.get_pointer_to_function
    executable = context.get_executable

    def _optimize_final_module(self):
        if _deferred(self):
            self._numbacnn_pending_opt = True  # optimized as part of the kernel, or when asked for code
            return
        optimize(self)

    def _finalize_final_module(self):
        if getattr(self, "_numbacnn_pending_opt", False):
            self._numbacnn_pending_code = True
            self._finalized = True  # its IR is final: it can be linked; machine code comes when asked for
            return
        finalize_module(self)

    def _assemble(self):
        """Optimize and assemble a deferred library, for a caller that wants its code."""
        self._ensure_finalized()
        if getattr(self, "_numbacnn_pending_code", False):
            self._numbacnn_pending_code = False
            if getattr(self, "_numbacnn_pending_opt", False):
                self._numbacnn_pending_opt = False
                optimize(self)
            finalize_module(self)

    def get_pointer_to_function(self, name):
        _assemble(self)
        return pointer(self, name)

    def _get_compiled_object(self):
        _assemble(self)
        return compiled_object(self)

    def get_executable(self, library, fndesc, env):
        if library.name.startswith(_LOOP_BODY):
            library._ensure_finalized()
            if getattr(library, "_numbacnn_pending_code", False):
                return _loop_body_entry(fndesc.qualname)  # no machine code, no environment to set
        return executable(self, library, fndesc, env)

    context.get_executable = get_executable
    library._optimize_final_module = _optimize_final_module
    library._finalize_final_module = _finalize_final_module
    library._get_compiled_object = _get_compiled_object
    jit_library.get_pointer_to_function = get_pointer_to_function
