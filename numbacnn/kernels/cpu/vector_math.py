"""Elementary functions written so that LLVM vectorises the loops that call them: ``tanh_value``.

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
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["tanh_value"]

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
