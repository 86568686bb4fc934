"""numbacnn.numba_codegen: a parallel kernel's loop body and wrappers are linked into the kernel and optimized
and assembled there only, with the same results as plain Numba, and Numba's own parallel ufuncs still work."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import guvectorize, njit, prange, vectorize

from numbacnn import numba_codegen

pytestmark = pytest.mark.skipif(not numba_codegen.installed(), reason="NUMBACNN_PLAIN_NUMBA is set")

# One parallel kernel with a callee and two parallel loops (a prange and an array expression), compiled
# without the cache: the same source runs here and in a plain-Numba subprocess.
KERNEL = textwrap.dedent("""
    import numpy as np
    from numba import njit, prange

    @njit
    def scaled_dot(a, b, s):
        acc = np.float32(0)
        for i in range(a.shape[0]):
            acc += a[i] * b[i] * s
        return acc

    @njit(parallel=True)
    def kernel(x, w, s):
        out = np.empty((x.shape[0], w.shape[0]), dtype=np.float32)
        for r in prange(x.shape[0]):
            for f in range(w.shape[0]):
                out[r, f] = np.tanh(scaled_dot(x[r], w[f], s))
        out += np.float32(0.5)
        return out

    def data():
        rng = np.random.default_rng(3)
        return (rng.standard_normal((37, 19)).astype(np.float32),
                rng.standard_normal((11, 19)).astype(np.float32), np.float32(0.75))
""")


def _namespace():
    space = {}
    exec(compile(KERNEL, "<numba_codegen kernel>", "exec"), space)
    return space


def test_same_bits_as_plain_numba():
    space = _namespace()
    x, w, s = space["data"]()
    here = space["kernel"](x, w, s)
    reference = np.tanh((x @ w.T * s).astype(np.float64)).astype(np.float32) + np.float32(0.5)
    np.testing.assert_allclose(here, reference, rtol=1e-5, atol=1e-6)

    script = KERNEL + textwrap.dedent("""
        import json, sys
        from numbacnn import numba_codegen
        assert not numba_codegen.installed()
        print(json.dumps(kernel(*data()).tolist()))
    """)
    env = dict(os.environ, NUMBACNN_PLAIN_NUMBA="1")
    out = subprocess.run([sys.executable, "-c", "import numbacnn\n" + script], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    plain = np.array(json.loads(out.stdout.strip().splitlines()[-1]), dtype=np.float32)
    assert np.array_equal(here.view(np.uint32), plain.view(np.uint32))


def _libraries(library, seen=None):
    seen = set() if seen is None else seen
    if id(library) not in seen:
        seen.add(id(library))
        yield library
        for linked in library._linking_libraries:
            yield from _libraries(linked, seen)


def test_loop_bodies_and_wrappers_are_not_assembled():
    space = _namespace()
    kernel = space["kernel"]
    kernel(*space["data"]())
    (overload,) = kernel.overloads.values()
    libraries = list(_libraries(overload.library))
    inner = [lib for lib in libraries if numba_codegen._deferred(lib)]
    assert len(inner) >= 3  # per parallel loop (Numba may fuse the two): a loop body and two wrappers
    assert all(lib._numbacnn_pending_code for lib in inner)
    assert not getattr(overload.library, "_numbacnn_pending_code", False)


def test_parallel_reductions():
    # a prange reduction passes its partial sums out of the loop body through the wrappers
    @njit(parallel=True)
    def sums(x):
        total = 0.0
        largest = -np.inf
        for i in prange(x.shape[0]):
            total += x[i]
            largest = max(largest, x[i])
        return total, largest

    x = np.random.default_rng(1).random(1000)
    total, largest = sums(x)
    assert total == pytest.approx(x.sum(), rel=1e-12)
    assert largest == x.max()


def test_numba_parallel_ufuncs_still_work():
    # @vectorize and @guvectorize with target="parallel" build the same wrapper libraries and ask them for
    # machine code: those are optimized and assembled when asked
    @vectorize(["float64(float64, float64)"], target="parallel")
    def hypot(a, b):
        return np.sqrt(a * a + b * b)

    @guvectorize(["void(float64[:], float64[:])"], "(n)->()", target="parallel")
    def total(a, out):
        out[0] = 0.0
        for v in a:
            out[0] += v

    a = np.linspace(0, 3, 50)
    np.testing.assert_allclose(hypot(a, a[::-1]), np.hypot(a, a[::-1]))
    m = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(total(m), m.sum(axis=1))


def test_loop_body_entry_says_what_it_is():
    entry = numba_codegen._loop_body_entry("__numba_parfor_gufunc_0x1")
    with pytest.raises(RuntimeError, match="loop body of a parallel kernel"):
        entry(1, 2)
