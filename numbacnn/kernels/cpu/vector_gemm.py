"""A float32 matrix product of our own, held in vector registers: what ``blas.gemm`` and the blocked
convolutions use on CPUs with AVX-512.

Why: the BLAS Numba binds is SciPy's OpenBLAS, and where ``OPENBLAS_CORETYPE`` names an older core
(this project's machines set ``Haswell``) it runs its AVX2 kernels on CPUs that have AVX-512, at about
half the FMA width the core has. numbacnn leaves that setting alone and brings its own inner kernel.

How: ``_tile_*`` are Numba intrinsics that emit LLVM vector IR directly: an MR x NR tile of C held in
MR * NR / 16 registers of 16 floats, and for each step k of the reduction one broadcast of A[i, k]
per row and a fused multiply-add with B's row k (BLIS's micro-kernel, written once in IR rather than
in assembly; LLVM picks the instructions for the host). Two tile shapes: 14 x 32 (28 accumulators of
the 32 zmm registers), and 28 x 16 for products at most 16 columns wide. ``product`` is the
single-threaded driver around them: the reduction in blocks that stay in L2, full tiles straight from
and to the operands, the edges through small padded copies. ``blas.gemm`` splits the work across
Numba's threads as it does for OpenBLAS.

A is read through two strides (a row-major matrix, or the transpose of one, as in ``cols.T @ g``), B
must have unit column stride, C is row-major. Each element of C is one chain of FMAs along k in order,
the same wherever its row and column sit in a tile or a thread's share, so results do not depend on
the blocking (OpenBLAS's can differ in the last bit with a row's place in its blocks).
"""

import os

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = []  # internal: blas.py and conv.py call available, product, product_rows, product_reduction,
#               product_into and product_t_add

LANES = 16  # floats per vector register (512 bits)
_MR_WIDE, _NV_WIDE = 14, 2  # rows x vectors of a tile 32 columns wide
_MR_NARROW, _NV_NARROW = 28, 1  # 16 columns wide
_L2_FLOATS = 96 * 1024  # a block of the reduction: A's rows and B's columns over it, about 384 KiB
_KC_FULL = 1024  # reductions up to this long are never blocked


def _host_features():
    """The CPU features Numba compiles for: ``NUMBA_CPU_FEATURES`` if set; none known when only
    ``NUMBA_CPU_NAME`` is (a portable cache, e.g. ``generic``); else the host's."""
    from llvmlite import binding
    from numba.core import config

    if config.CPU_FEATURES:
        return config.CPU_FEATURES
    if config.CPU_NAME:
        return ""
    return binding.get_host_cpu_features().flatten()


def available():
    """True when ``blas.gemm`` should use this product for float32: the CPU has AVX-512 (``avx512f``),
    unless ``NUMBACNN_GEMM=blas``; ``NUMBACNN_GEMM=vector`` forces it on any CPU (correct everywhere,
    fast only with 32 vector registers of 512 bits)."""
    choice = os.environ.get("NUMBACNN_GEMM", "").strip().lower()
    if choice in ("blas", "vector"):
        return choice == "vector"
    if choice:
        raise ValueError(f"NUMBACNN_GEMM must be 'blas' or 'vector', received {choice!r}")
    return "+avx512f" in _host_features().split(",")


def _tile_intrinsic(mr, nv, accumulate):
    """An intrinsic ``tile(a, ai, sai, sak, b, bi, sbk, c, ci, ldc, kc)``:
    C[i, j] (+)= sum over k < kc of A[i, k] * B[k, j] for i < mr, j < nv * LANES, where
    A[i, k] = a.flat[ai + i*sai + k*sak], B[k, j] = b.flat[bi + k*sbk + j], C[i, j] = c.flat[ci + i*ldc + j].
    ``accumulate`` starts from C's values (the same chain of FMAs as one longer reduction), else from 0.
    kc must be at least 1; every address must be inside its array (the driver sees to it)."""

    @intrinsic
    def tile(typingctx, a, ai, sai, sak, b, bi, sbk, c, ci, ldc, kc):
        if not all(isinstance(t, types.Array) and t.dtype == types.float32 and t.layout == "C"
                   for t in (a, b, c)):
            return None  # addresses are offsets into the data in memory order: C-contiguous float32 only
        sig = types.void(a, types.intp, types.intp, types.intp, b, types.intp, types.intp, c, types.intp,
                         types.intp, types.intp)

        def codegen(context, builder, signature, args):
            a_, ai_, sai_, sak_, b_, bi_, sbk_, c_, ci_, ldc_, kc_ = args
            f32, i64 = ir.FloatType(), ir.IntType(64)
            vec = ir.VectorType(f32, LANES)
            data = [cgutils.create_struct_proxy(signature.args[n])(context, builder, value=v).data
                    for n, v in ((0, a_), (4, b_), (7, c_))]
            pa, pb, pc = (builder.gep(p, [off]) for p, off in zip(data, (ai_, bi_, ci_)))
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                                 f"llvm.fma.v{LANES}f32")

            def at(base, index):
                return builder.bitcast(builder.gep(base, [index]), vec.as_pointer())

            def c_at(i, v):
                row = builder.mul(ir.Constant(i64, i), ldc_)
                return at(pc, builder.add(row, ir.Constant(i64, v * LANES)))

            entry = builder.block
            start = [builder.load(c_at(i, v), align=4) if accumulate else ir.Constant(vec, [0.0] * LANES)
                     for i in range(mr) for v in range(nv)]
            loop = builder.append_basic_block("tile.k")
            done = builder.append_basic_block("tile.done")
            builder.branch(loop)
            builder.position_at_end(loop)
            k = builder.phi(i64)
            k.add_incoming(ir.Constant(i64, 0), entry)
            acc = []
            for s in start:
                phi = builder.phi(vec)
                phi.add_incoming(s, entry)
                acc.append(phi)
            b_row = builder.mul(k, sbk_)
            b_vec = [builder.load(at(pb, builder.add(b_row, ir.Constant(i64, v * LANES))), align=4)
                     for v in range(nv)]
            a_col = builder.gep(pa, [builder.mul(k, sak_)])
            undef = ir.Constant(vec, ir.Undefined)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
            new = []
            for i in range(mr):
                scalar = builder.load(builder.gep(a_col, [builder.mul(ir.Constant(i64, i), sai_)]))
                lane0 = builder.insert_element(undef, scalar, ir.Constant(ir.IntType(32), 0))
                bcast = builder.shuffle_vector(lane0, undef, splat)
                new.extend(builder.call(fma, [bcast, b_vec[v], acc[i * nv + v]]) for v in range(nv))
            k_next = builder.add(k, ir.Constant(i64, 1))
            k.add_incoming(k_next, builder.block)
            for phi, value in zip(acc, new):
                phi.add_incoming(value, builder.block)
            builder.cbranch(builder.icmp_signed("<", k_next, kc_), loop, done)
            builder.position_at_end(done)
            for i in range(mr):
                for v in range(nv):
                    builder.store(new[i * nv + v], c_at(i, v), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile_wide = _tile_intrinsic(_MR_WIDE, _NV_WIDE, False)
_tile_wide_acc = _tile_intrinsic(_MR_WIDE, _NV_WIDE, True)
_tile_narrow = _tile_intrinsic(_MR_NARROW, _NV_NARROW, False)
_tile_narrow_acc = _tile_intrinsic(_MR_NARROW, _NV_NARROW, True)


@njit(cache=True, nogil=True, inline="always")
def _tile(narrow, acc, a, ai, sai, sak, b, bi, sbk, c, ci, ldc, kc):
    if narrow:
        if acc:
            _tile_narrow_acc(a, ai, sai, sak, b, bi, sbk, c, ci, ldc, kc)
        else:
            _tile_narrow(a, ai, sai, sak, b, bi, sbk, c, ci, ldc, kc)
    elif acc:
        _tile_wide_acc(a, ai, sai, sak, b, bi, sbk, c, ci, ldc, kc)
    else:
        _tile_wide(a, ai, sai, sak, b, bi, sbk, c, ci, ldc, kc)


@njit(cache=True, nogil=True)
def _k_block(m, n, k):
    """How many steps of the reduction one pass over the tiles takes: all of them up to ``_KC_FULL``,
    else as many as keep A's m rows and B's n columns over the block within ``_L2_FLOATS``."""
    if k <= _KC_FULL:
        return k
    return max(64, min(k, _L2_FLOATS // (m + n)))


@njit(cache=True, nogil=True)
def product(a, ai, sai, sak, b, bi, sbk, c, ci, ldc, m, n, k, accumulate):
    """C (+)= A @ B for float32 A (m,k), B (k,n), C (m,n) addressed as in ``_tile_intrinsic``, in one
    thread. Without ``accumulate`` C is overwritten (and set to 0 when k is 0)."""
    # callers pass int64 and bool, never literal constants (np.int64(0), np.bool_(False)): Numba compiles
    # a separate specialisation per tuple of literal values, and this one inlines four tiles (~6 s each)
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        if not accumulate:
            for i in range(m):
                for j in range(n):
                    c.flat[ci + i * ldc + j] = 0
        return
    narrow = n <= LANES
    mr = _MR_NARROW if narrow else _MR_WIDE
    nr = LANES * (_NV_NARROW if narrow else _NV_WIDE)
    kc = _k_block(m, n, k)
    full_m = m - m % mr
    full_n = n - n % nr
    # the last rows of A padded with zero rows, the last columns of B with zero columns; only where
    # there are such edges (this runs once per block of the blocked kernels, and B's can be kc x 32)
    edge_a = np.zeros((mr, kc) if full_m < m else (0, 0), dtype=np.float32)
    edge_b = np.zeros((kc, nr) if full_n < n else (0, 0), dtype=np.float32)
    edge_c = np.zeros((mr, nr), dtype=np.float32)
    for k0 in range(0, k, kc):
        kk = min(kc, k - k0)
        acc = accumulate or k0 > 0
        if full_n < n:
            for p in range(kk):
                for j in range(n - full_n):
                    edge_b[p, j] = b.flat[bi + (k0 + p) * sbk + full_n + j]
        if full_m < m:
            for i in range(m - full_m):
                for p in range(kk):
                    edge_a[i, p] = a.flat[ai + (full_m + i) * sai + (k0 + p) * sak]
        for i0 in range(0, m, mr):
            rows = min(mr, m - i0)
            if rows == mr:
                src, src_i, src_si, src_sk = a, ai + i0 * sai + k0 * sak, sai, sak
            else:
                src, src_i, src_si, src_sk = edge_a, 0, kc, 1
            for j0 in range(0, n, nr):
                cols = min(nr, n - j0)
                if cols == nr:
                    panel, panel_i, panel_s = b, bi + k0 * sbk + j0, sbk
                else:
                    panel, panel_i, panel_s = edge_b, 0, nr
                whole = rows == mr and cols == nr
                if whole:  # one call site below: each one inlines four tiles, and compile time is real
                    dst, dst_i, dst_ld = c, ci + i0 * ldc + j0, ldc
                else:
                    dst, dst_i, dst_ld = edge_c, 0, nr
                    if acc:
                        for i in range(rows):
                            for j in range(cols):
                                edge_c[i, j] = c.flat[ci + (i0 + i) * ldc + j0 + j]
                _tile(narrow, acc, src, src_i, src_si, src_sk, panel, panel_i, panel_s, dst, dst_i, dst_ld,
                      kk)
                if not whole:
                    for i in range(rows):
                        for j in range(cols):
                            c.flat[ci + (i0 + i) * ldc + j0 + j] = edge_c[i, j]


@njit(parallel=True, cache=True, nogil=True)
def product_rows(a, sai, sak, b, c, m, n, k, parts):
    """c (m,n) = A @ b, A (m,k) read as ``a.flat[i*sai + k*sak]``, b (k,n) and c C-contiguous: one
    share of C's rows per task, each the whole reduction (so every element is the same whatever the
    thread count)."""
    mr = _MR_NARROW if n <= LANES else _MR_WIDE  # shares start on a tile's first row
    tiles = (m + mr - 1) // mr
    for p in prange(parts):
        lo = min(m, tiles * p // parts * mr)
        hi = min(m, tiles * (p + 1) // parts * mr)
        if hi > lo:
            product(a, lo * sai, sai, sak, b, np.int64(0), n, c, lo * n, n, hi - lo, n, k, np.bool_(False))


@njit(parallel=True, cache=True, nogil=True)
def product_reduction(a, sai, sak, b, partial, m, n, k, parts):
    """partial[p] = A[:, share p] @ b[share p], the reduction split in ``parts`` shares (summed by the
    caller in a fixed order); A as in ``product_rows``."""
    for p in prange(parts):
        lo = k * p // parts
        hi = k * (p + 1) // parts
        product(a, lo * sak, sai, sak, b, lo * n, n, partial[p], np.int64(0), n, m, n, hi - lo,
                np.bool_(False))


def product_into(a, b, c, vector):
    """c = a @ b for 2-D C-contiguous arrays, inside a kernel: ``product`` when ``vector`` and float32,
    else the BLAS (``np.dot``)."""
    np.dot(a, b, c)


@overload(product_into, jit_options={"cache": True, "nogil": True})
def _product_into(a, b, c, vector):
    if isinstance(a, types.Array) and a.dtype == types.float32:
        def impl(a, b, c, vector):
            if vector:
                zero, one = np.int64(0), np.int64(1)
                product(a, zero, a.shape[1], one, b, zero, b.shape[1], c, zero, c.shape[1], a.shape[0],
                        b.shape[1], a.shape[1], np.bool_(False))
            else:
                np.dot(a, b, c)
        return impl

    def impl_blas(a, b, c, vector):
        np.dot(a, b, c)
    return impl_blas


def product_t_add(a, b, c, vector):
    """c += a.T @ b for 2-D C-contiguous arrays a (r,m), b (r,n), c (m,n), inside a kernel: ``product``
    (a read transposed in place) when ``vector`` and float32, else the BLAS into a temporary."""
    c += np.dot(a.T, b)


@overload(product_t_add, jit_options={"cache": True, "nogil": True})
def _product_t_add(a, b, c, vector):
    if isinstance(a, types.Array) and a.dtype == types.float32:
        def impl(a, b, c, vector):
            if vector:
                zero, one = np.int64(0), np.int64(1)
                product(a, zero, one, a.shape[1], b, zero, b.shape[1], c, zero, c.shape[1], a.shape[1],
                        b.shape[1], a.shape[0], np.bool_(True))
            else:
                c += np.dot(a.T, b)
        return impl

    def impl_blas(a, b, c, vector):
        c += np.dot(a.T, b)
    return impl_blas
