"""Vector code for inside kernels: ``tanh_value``, an elementary function written so that LLVM
vectorises the loops that call it, and ``copy_run``, a short copy in masked 16-lane moves.

Why: Numba compiles ``math.tanh`` to a call of the C library's scalar ``tanhf``, one value at a time,
and numpy's SIMD tanh cannot be called from inside a compiled kernel. A convolution that applies its
tanh while its output is still in cache (``conv_epilogue``) needs a tanh that is branch-free
arithmetic: then a loop over a row of values becomes 16-lane vector code.

How, for float32 (a = |x|, the sign put back at the end):

- a < 0.625: tanh(a) = a + a * s * Q(s), s = a*a, with Q of degree 5 fitted here (a Chebyshev
  interpolant of (tanh(a)/a - 1)/s on [0, 0.625^2], in float64, then rounded to float32); its own
  error is 0.01 ulp.
- a >= 0.625: tanh(a) = 1 - 2e / (1 + e) with e = exp(-2a) <= 0.287, so the subtraction loses
  nothing; exp through 2^k * exp(r), k = round(-2a / ln 2), r = -2a - k ln 2 in two parts (Cody and
  Waite), exp(r) by its Taylor series to r^7 (|r| <= ln 2 / 2: 5e-9 relative), 2^k built from its
  exponent bits.
- a is clamped to 9.5 first (tanh(9.5) rounds to 1 in float32), so inf gives +-1 and k stays small;
  NaN gives NaN; -0.0 gives -0.0.

Both branches are computed and one is selected, so the loop has no branch. Checked against float64
tanh on every float32 in [2^-30, 10] (``tests/kernels/test_vector_math.py`` samples them): at most
1.48 ulp, 98.9 % correctly rounded (numpy's float32 tanh: at most 1.37 ulp, 89 %). The loops that
call it must be compiled with ``error_model="numpy"``: Numba's default Python error model checks
every division for zero, and that check keeps the loop scalar.

float64 values go to ``math.tanh`` (the C library's, scalar).

``copy_run`` copies n consecutive float32 values in 16-lane loads and stores, the last one masked to
what is left (``llvm.masked.load``/``store``): the im2col runs of kw*C values (30 for LeNet-5's second
convolution, 9 for a 3x3 kernel over RGB) are too short for a vectorised loop, which spends its time
in the scalar remainder. im2col of LeNet-5's second convolution (b128, one thread) 0.66 -> 0.34 ms, of
CIFAR's first 1.54 -> 0.92 ms, with 32 and 64 channels 0.59-1.62 -> 0.42-1.30 ms.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["copy_run", "tanh_value"]

_F = np.float32
# Q(s) for tanh(a) = a + a*s*Q(s), a < 0.625 (see the module's docstring for how they were fitted)
_Q0, _Q1, _Q2 = _F(-0.3333333317815969), _F(0.13333304291846487), _F(-0.05395940764843033)
_Q3, _Q4, _Q5 = _F(0.02176996954979562), _F(-0.008346998627221741), _F(0.0022958544501026842)
_SMALL = _F(0.625)
_CLAMP = _F(9.5)
_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693145751953125)  # 11 significant bits: k * _LN2_HI is exact for the k used here
_LN2_LO = _F(0.6931471805599453 - 0.693145751953125)
_ONE, _TWO, _HALF, _MINUS_TWO = _F(1.0), _F(2.0), _F(0.5), _F(-2.0)
# 1/n! for exp(r)'s Taylor series, n = 2..7
_E2, _E3, _E4, _E5, _E6, _E7 = _F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120), _F(1 / 720), _F(1 / 5040)


@intrinsic
def _pow2(typingctx, k):
    """2.0f ** k for a float32 k that holds an integer in [-126, 127]: the exponent bits (k + 127) << 23
    reinterpreted as a float32 (an LLVM bitcast, which vectorises)."""
    if k != types.float32:
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        exponent = builder.add(builder.fptosi(args[0], i32), ir.Constant(i32, 127))
        return builder.bitcast(builder.shl(exponent, ir.Constant(i32, 23)), ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's ``llvm.fma.f32``: one vector FMA instruction per 16 lanes)."""
    if not (a == b == c == types.float32):
        return None

    def codegen(context, builder, sig, args):
        f32 = ir.FloatType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(f32, [f32] * 3), "llvm.fma.f32")
        return builder.call(fn, args)

    return types.float32(types.float32, types.float32, types.float32), codegen


def _tanh32(x):
    a = abs(x)
    a = a if a < _CLAMP else _CLAMP
    s = a * a
    q = _fma(_fma(_fma(_fma(_fma(_Q5, s, _Q4), s, _Q3), s, _Q2), s, _Q1), s, _Q0)
    small = _fma(a * s, q, a)
    y = a * _MINUS_TWO
    k = np.floor(_fma(y, _LOG2E, _HALF))
    r = _fma(k, -_LN2_LO, _fma(k, -_LN2_HI, y))
    p = _fma(_fma(_fma(_fma(_fma(_fma(_E7, r, _E6), r, _E5), r, _E4), r, _E3), r, _E2), r, _ONE)
    e = _fma(p, r, _ONE) * _pow2(k)
    large = _ONE - _TWO * e / (_ONE + e)
    t = math.copysign(small if a < _SMALL else large, x)
    return t if x == x else x


def tanh_value(x):
    """tanh of one float32 or float64 value, inside compiled code (see the module's docstring)."""
    return math.tanh(x)


@overload(tanh_value, inline="always")
def _tanh_value(x):
    if x == types.float32:
        return _tanh32
    if isinstance(x, types.Float):
        return lambda x: math.tanh(x)
    return None


@intrinsic
def _copy16(typingctx, dst, di, src, si, n):
    """dst[di:di + n] = src[si:si + n] for 0 <= n <= 16 (1-D C-contiguous float32): one 16-lane load and
    store, masked to the first n lanes; n = 16, a constant where it is inlined, folds to plain moves."""
    if not all(isinstance(t, types.Array) and t.dtype == types.float32 and t.layout == "C" and t.ndim == 1
               for t in (dst, src)):
        return None
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        dst_, di_, src_, si_, n_ = args
        f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
        vec, lanes64 = ir.VectorType(f32, 16), ir.VectorType(i64, 16)
        mask_type = ir.VectorType(ir.IntType(1), 16)
        data = [cgutils.create_struct_proxy(signature.args[k])(context, builder, value=v).data
                for k, v in ((0, dst_), (2, src_))]
        pd, ps = builder.gep(data[0], [di_]), builder.gep(data[1], [si_])
        undef = ir.Constant(lanes64, ir.Undefined)
        count = builder.shuffle_vector(builder.insert_element(undef, n_, ir.Constant(i32, 0)), undef,
                                       ir.Constant(ir.VectorType(i32, 16), [0] * 16))
        mask = builder.icmp_signed("<", ir.Constant(lanes64, list(range(16))), count)
        load = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [ps.type, i32, mask_type, vec]),
            "llvm.masked.load.v16f32.p0")
        store = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [vec, pd.type, i32, mask_type]),
            "llvm.masked.store.v16f32.p0")
        values = builder.call(load, [ps, ir.Constant(i32, 4), mask, ir.Constant(vec, ir.Undefined)])
        builder.call(store, [values, pd, ir.Constant(i32, 4), mask])
        return context.get_dummy_value()

    return sig, codegen


def copy_run(dst, di, src, si, n):
    """dst[di:di + n] = src[si:si + n] inside compiled code (1-D arrays of one dtype; the caller keeps
    both ranges inside their arrays): for float32, C-contiguous, in 16-lane moves, the last masked."""
    dst[di:di + n] = src[si:si + n]


@overload(copy_run, inline="always")
def _copy_run(dst, di, src, si, n):
    if all(isinstance(t, types.Array) and t.dtype == types.float32 and t.layout == "C" and t.ndim == 1
           for t in (dst, src)):
        def vector(dst, di, src, si, n):
            j = 0
            while j + 16 <= n:
                _copy16(dst, di + j, src, si + j, 16)
                j += 16
            if j < n:
                _copy16(dst, di + j, src, si + j, n - j)
        return vector

    def scalar(dst, di, src, si, n):
        for j in range(n):
            dst[di + j] = src[si + j]
    return scalar
