"""Keras's merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate and Dot, and their
function forms (``add([a, b])``, ``concatenate([a, b, c], axis=-1)``, ...).

A merge layer is called on a list of tensors: ``build`` and ``compute_output_shape`` take a list of
shapes, ``forward`` a list of arrays, and ``backward`` returns a list of gradients in the inputs' order.
Shapes follow Keras 3 (``keras/src/layers/merging``): the elementwise merges broadcast the axes after
the batch axis NumPy's way, right-aligned (an input of lower rank gets size-1 axes after its batch axis,
so (N, C) meets (N, H, W, C) as (N, 1, 1, C)), and the batch sizes must agree; the gradient of a
broadcast input is the sum over its broadcast axes. Maximum and Minimum send each element's gradient to
the input that holds the result, the earliest one on a tie (TensorFlow's rule for ``tf.maximum`` applied
pairwise, as Keras applies it). The arithmetic is in ``kernels/*/merging.py``.
"""

import numpy as np

from ..kernels import ops
from .base import Layer, format_shape

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Merge", "Minimum", "Multiply", "Subtract",
           "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract"]


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, int) or hasattr(d, "__index__")
                                                    for d in value)


class Merge(Layer):
    """Base of the merge layers: a list of inputs in, one output; no weights."""

    _min_inputs = 1
    _max_inputs = None

    # ----- shapes -------------------------------------------------------------------------------------
    def _describe(self):
        return f'Layer "{self.name}" ({type(self).__name__})'

    def _input_shapes(self, input_shape):
        """The list of input shapes (ints or None), after checking that it is a list of the right length."""
        if (not isinstance(input_shape, (tuple, list)) or not input_shape
                or not all(_is_shape(s) for s in input_shape)):
            raise ValueError(f"{self._describe()} should be called on a list of inputs, received input shape "
                             f"{input_shape!r}")
        shapes = [tuple(None if d is None else int(d) for d in s) for s in input_shape]
        n = len(shapes)
        if n < self._min_inputs or (self._max_inputs is not None and n > self._max_inputs):
            wanted = (f"exactly {self._min_inputs}" if self._min_inputs == self._max_inputs
                      else f"at least {self._min_inputs}")
            raise ValueError(f"{self._describe()} should be called on {wanted} inputs, received {n}: "
                             f"{self._received(shapes)}")
        return shapes

    @staticmethod
    def _received(shapes):
        return ", ".join(format_shape(s) for s in shapes)

    def _batch_size(self, shapes):
        sizes = {s[0] for s in shapes if s} - {None}
        if len(sizes) > 1:
            raise ValueError(f"{self._describe()}: inputs must have the same batch size, received "
                             f"{self._received(shapes)}")
        return sizes.pop() if sizes else None

    def compute_output_shape(self, input_shape):
        shapes = self._input_shapes(input_shape)
        batch = self._batch_size(shapes)
        rank = max(len(s) for s in shapes)
        rest = []
        for axis in range(1, rank):
            dims = [s[len(s) - rank + axis] for s in shapes if len(s) - rank + axis >= 1]
            if any(d is None for d in dims):
                rest.append(None)
                continue
            sizes = set(dims) - {1}
            if len(sizes) > 1:
                raise ValueError(f"{self._describe()}: inputs must have compatible shapes, received "
                                 f"{self._received(shapes)}")
            rest.append(sizes.pop() if sizes else 1)
        return (batch,) + tuple(rest)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def _check_input_shape(self, input_shape):
        # No weights to match: a built merge layer takes any shapes it can merge (Keras has no input spec
        # on them either).
        self.compute_output_shape(input_shape)

    def _inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self._describe()} should be called on a list of inputs, received "
                             f"{type(inputs).__name__}")
        shapes = self._input_shapes([tuple(x.shape) for x in inputs])
        return list(inputs), shapes

    def _wanted(self, n):
        """Which input gradients to compute: ``input_grad_needed`` (one flag, or one per input)."""
        need = self.input_grad_needed
        if isinstance(need, (list, tuple)):
            return [bool(v) for v in need]
        return [bool(need)] * n


class _Elementwise(Merge):
    """Add, Subtract, Multiply, Average, Maximum, Minimum: ``merge_pair`` applied pairwise."""

    _kind = None  # the name of a MERGE_* constant of the kernels

    def _aligned(self, xs, shapes):
        """xs reshaped to one rank (size-1 axes inserted after the batch axis), and the output shape."""
        out = self.compute_output_shape(shapes)
        rank = len(out)
        aligned = []
        for x, s in zip(xs, shapes):
            if len(s) < rank:
                x = x.reshape((s[0],) + (1,) * (rank - len(s)) + s[1:])
            aligned.append(x)
        out_shape = (shapes[0][0],) + tuple(
            max((x.shape[a] for x in aligned), default=1) if all(x.shape[a] != 0 for x in aligned) else 0
            for a in range(1, rank))
        return aligned, out_shape

    def forward(self, inputs, training=False):
        xs, shapes = self._inputs(inputs)
        xs, out_shape = self._aligned(xs, shapes)
        k = ops()
        kind = getattr(k, self._kind)
        if len(xs) == 1:
            y = k.merge_pair(xs[0], 1, k.MERGE_MULTIPLY, out_shape)  # a copy
            if training:
                self._cache = {"shapes": shapes, "aligned": [tuple(xs[0].shape)], "out": out_shape}
            return y
        state = self._forward(k, kind, xs, out_shape, training)
        if training:
            self._cache = {"shapes": shapes, "aligned": [tuple(x.shape) for x in xs], "out": out_shape,
                           **state[1]}
        return state[0]

    def _forward(self, k, kind, xs, out_shape, training):
        """(y, what backward needs) for two or more aligned inputs."""
        y = k.merge_pair(xs[0], xs[1], kind, out_shape)
        for x in xs[2:]:
            k.merge_pair(y, x, kind, out_shape, out=y)
        return y, {}

    def backward(self, grad):
        cache = self._cache
        shapes, out_shape = cache["shapes"], cache["out"]
        k = ops()
        grad = k.contiguous(grad, self.dtype).reshape(out_shape)
        wanted = self._wanted(len(shapes))
        grads = self._backward(k, grad, cache, wanted) if len(shapes) > 1 else [grad]
        # Several inputs may get the same array (Add's unbroadcast inputs get ``grad`` itself): gradients
        # are read-only by contract, and the model sums a tensor's gradients into new arrays.
        return [None if not want or dx is None else dx.reshape(shape)
                for dx, shape, want in zip(grads, shapes, wanted)]

    def _backward(self, k, grad, cache, wanted):
        """The input gradients (aligned shapes, or None where not wanted) of Add; others override."""
        return [k.merge_reduce(grad, shape) if want else None
                for shape, want in zip(cache["aligned"], wanted)]


class Add(_Elementwise):
    """Elementwise sum of the inputs: ``Add()([x1, x2])``."""

    _kind = "MERGE_ADD"


class Subtract(_Elementwise):
    """``inputs[0] - inputs[1]``: exactly two inputs."""

    _kind = "MERGE_SUBTRACT"
    _min_inputs = 2
    _max_inputs = 2

    def _backward(self, k, grad, cache, wanted):
        first, second = cache["aligned"]
        dx0 = k.merge_reduce(grad, first) if wanted[0] else None
        dx1 = None
        if wanted[1]:
            dx1 = k.merge_reduce(grad, second)
            dx1 = k.merge_pair(dx1, -1, k.MERGE_MULTIPLY, tuple(dx1.shape))
        return [dx0, dx1]


class Average(_Elementwise):
    """Elementwise mean: the sum, then divided by the number of inputs (Keras's order of rounding)."""

    _kind = "MERGE_ADD"

    def _forward(self, k, kind, xs, out_shape, training):
        y, state = super()._forward(k, kind, xs, out_shape, training)
        k.merge_pair(y, len(xs), k.MERGE_DIVIDE, out_shape, out=y)
        return y, state

    def _backward(self, k, grad, cache, wanted):
        g = k.merge_pair(grad, len(cache["aligned"]), k.MERGE_DIVIDE, tuple(grad.shape))
        return super()._backward(k, g, cache, wanted)


class Multiply(_Elementwise):
    """Elementwise product; e.g. (N, H, W, C) times (N, 1, 1, C) scales channels (squeeze-and-excitation).

    Backward follows the pairwise products: y = p_{n-1} with p_k = p_{k-1} * x_k, so
    dx_k = sum over x_k's broadcast axes of (G_k * p_{k-1}), with G_{n-1} = grad and G_{k-1} = G_k * x_k.
    """

    _kind = "MERGE_MULTIPLY"

    def _forward(self, k, kind, xs, out_shape, training):
        prefixes = [xs[0]]
        y = k.merge_pair(xs[0], xs[1], kind, out_shape)
        for x in xs[2:]:
            if training:
                prefixes.append(y)
                y = k.merge_pair(y, x, kind, out_shape)
            else:
                k.merge_pair(y, x, kind, out_shape, out=y)
        return y, ({"inputs": xs, "prefixes": prefixes} if training else {})

    def _backward(self, k, grad, cache, wanted):
        xs, prefixes, shapes = cache["inputs"], cache["prefixes"], cache["aligned"]
        out_shape = tuple(grad.shape)
        grads = [None] * len(xs)
        g = grad
        for i in range(len(xs) - 1, 0, -1):
            if wanted[i]:
                grads[i] = k.merge_reduce(k.merge_pair(g, prefixes[i - 1], k.MERGE_MULTIPLY, out_shape),
                                          shapes[i])
            if not any(wanted[:i]):
                break
            g = k.merge_pair(g, xs[i], k.MERGE_MULTIPLY, out_shape)
        if wanted[0]:
            grads[0] = k.merge_reduce(g, shapes[0])
        return grads


class _Extreme(_Elementwise):
    """Maximum / Minimum: training records, per element, the input that won."""

    def _forward(self, k, kind, xs, out_shape, training):
        if not training:
            return super()._forward(k, kind, xs, out_shape, training)
        winner = k.zeros(out_shape, np.int32)
        y = k.merge_pair(xs[0], xs[1], kind, out_shape, winner=winner, index=1)
        for i, x in enumerate(xs[2:], start=2):
            k.merge_pair(y, x, kind, out_shape, out=y, winner=winner, index=i)
        return y, {"winner": winner}

    def _backward(self, k, grad, cache, wanted):
        winner = cache["winner"]
        return [k.merge_reduce(grad, shape, winner=winner, index=i) if want else None
                for i, (shape, want) in enumerate(zip(cache["aligned"], wanted))]


class Maximum(_Extreme):
    """Elementwise maximum; the gradient goes to the (first) input holding it."""

    _kind = "MERGE_MAXIMUM"


class Minimum(_Extreme):
    """Elementwise minimum; the gradient goes to the (first) input holding it."""

    _kind = "MERGE_MINIMUM"


class Concatenate(Merge):
    """Joins the inputs along ``axis`` (default -1, the channels); the other axes must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _axis(self, shapes):
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes) or not -rank <= self.axis < rank:
            raise ValueError(f"{self._describe()}: inputs must have one rank and axis={self.axis} must be "
                             f"one of its axes, received {self._received(shapes)}")
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"{self._describe()}: numbacnn concatenates along the axes after the batch "
                             f"axis, received axis={self.axis} for inputs {self._received(shapes)}")
        return axis

    def compute_output_shape(self, input_shape):
        shapes = self._input_shapes(input_shape)
        batch = self._batch_size(shapes)
        axis = self._axis(shapes)
        out = [batch]
        for a in range(1, len(shapes[0])):
            dims = [s[a] for s in shapes]
            if a == axis:
                out.append(None if None in dims else sum(dims))
                continue
            known = set(dims) - {None}
            if len(known) > 1:
                raise ValueError(f"{self._describe()}: inputs must have matching shapes except along the "
                                 f"concatenation axis {self.axis}, received {self._received(shapes)}")
            out.append(shapes[0][a])  # Keras keeps the first input's size
        return tuple(out)

    def forward(self, inputs, training=False):
        xs, shapes = self._inputs(inputs)
        axis = self._axis(shapes)
        if training:
            self._cache = [s[axis] for s in shapes]
        return ops().concat_forward(xs, axis)

    def backward(self, grad):
        sizes = self._cache
        wanted = self._wanted(len(sizes))
        grads = ops().concat_backward(ops().contiguous(grad, self.dtype), sizes, self.axis)
        return [g if want else None for g, want in zip(grads, wanted)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """The dot product of two inputs along ``axes`` (an int, or one axis per input; never the batch axis),
    per sample: Keras's ``batch_dot``. (N, 3, 5) and (N, 10, 3) with axes=(1, 2) give (N, 5, 10).
    ``normalize=True`` L2-normalises both along their axes first (the cosine proximity)."""

    _min_inputs = 2
    _max_inputs = 2
    epsilon = 1e-7  # Keras's backend.epsilon(), the floor of the norm in ops.normalize

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, bool) or not isinstance(axes, (int, list, tuple)):
            raise TypeError(f"Invalid type for argument `axes`: it should be a list or an int. "
                            f"Received: axes={axes}")
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(f"Invalid format for argument `axes`: it should contain two elements. "
                                 f"Received: axes={axes}")
            if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
                raise ValueError(f"Invalid format for argument `axes`: list elements should be integers. "
                                 f"Received: axes={axes}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes(self, shapes):
        first, second = shapes
        if len(first) < 2 or len(second) < 2:
            raise ValueError(f"{self._describe()}: inputs must have a batch axis and at least one more, "
                             f"received {self._received(shapes)}")
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        out = []
        for a, s in zip(axes, shapes):
            if not -len(s) <= a < len(s):
                raise ValueError(f"{self._describe()}: axes={self.axes} is out of range for inputs "
                                 f"{self._received(shapes)}")
            out.append(a % len(s))
        if 0 in out:
            raise ValueError(f"{self._describe()}: cannot take the dot product along the batch axis "
                             f"(axes={self.axes}), received {self._received(shapes)}")
        return tuple(out)

    def compute_output_shape(self, input_shape):
        shapes = self._input_shapes(input_shape)
        batch = self._batch_size(shapes)
        a0, a1 = self._axes(shapes)
        d0, d1 = shapes[0][a0], shapes[1][a1]
        if d0 is not None and d1 is not None and d0 != d1:
            raise ValueError(f"{self._describe()}: inputs must have the same size along axes "
                             f"({a0}, {a1}) ({d0} != {d1}), received {self._received(shapes)}")
        first = [d for i, d in enumerate(shapes[0]) if i not in (0, a0)]
        second = [d for i, d in enumerate(shapes[1]) if i not in (0, a1)]
        out = (batch,) + tuple(first) + tuple(second)
        return out if len(out) > 1 else out + (1,)

    def forward(self, inputs, training=False):
        (x1, x2), shapes = self._inputs(inputs)
        a0, a1 = self._axes(shapes)
        out_shape = self.compute_output_shape(shapes)
        k = ops()
        norms = None
        if self.normalize:
            x1, s1 = k.l2_normalize_forward(x1, a0, self.epsilon)
            x2, s2 = k.l2_normalize_forward(x2, a1, self.epsilon)
            norms = (x1, s1, x2, s2)
        a = k.moveaxis(x1, a0, -1) if a0 != len(shapes[0]) - 1 else k.contiguous(x1)
        b = k.moveaxis(x2, a1, 1) if a1 != 1 else k.contiguous(x2)
        batch, depth = shapes[0][0], shapes[0][a0]
        a = a.reshape((batch, -1, depth))
        b = b.reshape((batch, depth, -1))
        y = k.batch_matmul(a, b)
        if training:
            self._cache = {"shapes": shapes, "axes": (a0, a1), "a": a, "b": b, "norms": norms}
        return y.reshape((batch,) + tuple(out_shape[1:]))

    def backward(self, grad):
        cache = self._cache
        (s0, s1), (a0, a1), a, b = cache["shapes"], cache["axes"], cache["a"], cache["b"]
        k = ops()
        wanted = self._wanted(2)
        g = k.contiguous(grad, self.dtype).reshape((a.shape[0], a.shape[1], b.shape[2]))
        dx1 = dx2 = None
        if wanted[0]:
            da = k.batch_matmul(g, b, trans_b=True)  # (B, M, K)
            moved = tuple(d for i, d in enumerate(s0) if i != a0) + (s0[a0],)
            dx1 = da.reshape(moved)
            if a0 != len(s0) - 1:
                dx1 = k.moveaxis(dx1, -1, a0)
        if wanted[1]:
            db = k.batch_matmul(a, g, trans_a=True)  # (B, K, N)
            moved = (s1[0], s1[a1]) + tuple(d for i, d in enumerate(s1) if i not in (0, a1))
            dx2 = db.reshape(moved)
            if a1 != 1:
                dx2 = k.moveaxis(dx2, 1, a1)
        if cache["norms"] is not None:
            y1, n1, y2, n2 = cache["norms"]
            if dx1 is not None:
                dx1 = k.l2_normalize_backward(dx1, y1, n1, a0, self.epsilon)
            if dx2 is not None:
                dx2 = k.l2_normalize_backward(dx2, y2, n2, a1, self.epsilon)
        return [dx1, dx2]

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


# ----- the function forms (Keras's keras.layers.add, ...) --------------------------------------------------
def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: a KerasTensor for KerasTensors, the sum for arrays."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``: inputs[0] - inputs[1]."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the elementwise product."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``: the elementwise mean."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the elementwise maximum."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the elementwise minimum."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``Dot(axes=axes, normalize=normalize, **kwargs)(inputs)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
