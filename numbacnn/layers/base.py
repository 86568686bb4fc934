"""The Layer contract, weights, and the symbolic tensors the functional API builds on.

A layer is thin: it knows shapes and keeps its weights; the arithmetic lives in
``numbacnn.kernels``. A subclass implements

* ``build(input_shape)``            create weights with ``add_weight`` (shapes include the batch dim, None)
* ``compute_output_shape(shape)``   e.g. (None, 28, 28, 1) -> (None, 26, 26, 32)
* ``forward(x, training=False)``    an array in, an array out (numpy on the CPU, Numba device arrays on
                                    CUDA); when ``training``, keep what backward needs in ``self._cache``
* ``backward(grad)``                gradient w.r.t. the input of the last forward(training=True); *adds* the
                                    weight gradients into ``weight.grad`` (a trainer zeroes them first);
                                    may return None when ``self.input_grad_needed`` is False
* ``get_config()``                  Keras's constructor arguments, for ``to_json``

A layer called on several tensors (shared weights) works because the model keeps
one ``_cache`` per call (node) and puts it back before calling ``backward``.

Array work outside the kernels goes through ``ops()``'s arrays functions (``k.add_into(w.grad, dw)``,
``k.contiguous(x, dtype)``, ...), so that the same layer code runs on both devices.
"""

import re

import numpy as np

from .. import backend
from ..kernels import ops
from ..kernels.cpu import arrays as host_arrays
from ..kernels.cpu.arrays import arrays_of

_ALLOWED_BASE_KWARGS = {"name", "trainable", "dtype", "input_shape", "batch_input_shape",
                        "batch_size", "input_dim"}


def to_snake_case(name):
    """Keras's auto-name rule: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def format_shape(shape):
    """(None, 28, 28, 1) as Keras prints it."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def normalize_tuple(value, n, arg_name, layer_name="layer"):
    """An int or an n-sequence of positive ints as an n-tuple (Keras's kernel_size/strides rule)."""
    if isinstance(value, (int, np.integer)):
        value = (int(value),) * n
    try:
        value = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError(f'Layer "{layer_name}": {arg_name} must be an int or a tuple of {n} ints, '
                         f"received {value!r}") from None
    if len(value) != n:
        raise ValueError(f'Layer "{layer_name}": {arg_name} must have {n} values, received {value!r}')
    if any(v <= 0 for v in value):
        raise ValueError(f'Layer "{layer_name}": {arg_name} must be positive, received {value!r}')
    return value


class Weight:
    """One weight array of a layer, with its gradient and trainable flag.

    ``value`` is updated in place by optimizers so references to it stay valid. ``value`` and ``grad`` live
    on the model's device (numpy arrays on the CPU, Numba device arrays on CUDA; :meth:`place` moves them);
    ``numpy()`` is always a host copy and ``assign`` takes host or device arrays.
    """

    __slots__ = ("name", "value", "grad", "trainable", "layer")

    def __init__(self, name, value, trainable, layer):
        self.name = name
        self.value = value
        self.grad = arrays_of(value).zeros_like(value) if trainable else None
        self.trainable = trainable
        self.layer = layer

    @property
    def shape(self):
        return self.value.shape

    @property
    def path(self):
        return f"{self.layer.name}/{self.name}"

    def numpy(self):
        """A host (numpy) copy of the value."""
        return arrays_of(self.value).host_copy(self.value)

    def assign(self, array):
        if not hasattr(array, "shape") or not hasattr(array, "dtype"):
            array = np.asarray(array)
        if tuple(array.shape) != tuple(self.value.shape):
            raise ValueError(f'Layer "{self.layer.name}": weight {self.name!r} expects shape '
                             f"{tuple(self.value.shape)}, received {tuple(array.shape)}")
        arrays_of(self.value).copy_into(self.value, array)

    def place(self, arrays):
        """Move value and grad to the device whose arrays functions ``arrays`` holds (``ops()``, or a
        ``kernels.<device>.arrays`` module); a no-op where they already are."""
        self.value = arrays.to_device(self.value)
        if self.grad is not None:
            self.grad = arrays.to_device(self.grad)

    def __repr__(self):
        return f"<Weight {self.path} shape={self.value.shape} trainable={self.trainable}>"


class Layer:
    """Base class of every layer (and of models, which are layers too)."""

    def __init__(self, name=None, trainable=True, dtype=None, **kwargs):
        unknown = set(kwargs) - _ALLOWED_BASE_KWARGS
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(unknown)}")
        self._name = name
        self._trainable = bool(trainable)
        self.dtype = backend.standardize_dtype(dtype).name
        self.built = False
        self._weights = []
        self._cache = None
        # False while the model differentiates a layer that reads the model's own input: backward may
        # then skip the input gradient and return None.
        self.input_grad_needed = True
        self._inbound_nodes = []
        self._build_input_shape = None
        self._requested_input_shape = None
        if kwargs.get("batch_input_shape") is not None:
            self._requested_input_shape = tuple(kwargs["batch_input_shape"])[1:]
        elif kwargs.get("input_shape") is not None:
            self._requested_input_shape = tuple(kwargs["input_shape"])
        elif kwargs.get("input_dim") is not None:
            self._requested_input_shape = (int(kwargs["input_dim"]),)

    # ----- naming ------------------------------------------------------------------
    @classmethod
    def _default_name(cls):
        return to_snake_case(cls.__name__)

    @property
    def name(self):
        return self._name if self._name is not None else self._default_name()

    @name.setter
    def name(self, value):
        self._name = value

    @property
    def has_name(self):
        return self._name is not None

    # ----- weights -----------------------------------------------------------------
    def add_weight(self, name, shape, initializer="zeros", trainable=True):
        from .. import initializers

        init = initializers.get(initializer)
        value = np.ascontiguousarray(init(tuple(shape), self.dtype), dtype=self.dtype)
        w = Weight(name, ops().to_device(value), trainable, self)  # drawn on the host, then moved
        self._weights.append(w)
        return w

    @property
    def weights(self):
        """Weights created trainable first, then the others (Keras's order; freezing does not reorder)."""
        return [w for w in self._weights if w.trainable] + [w for w in self._weights if not w.trainable]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    def get_weights(self):
        """Host (numpy) copies of the weights."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f'Layer "{self.name}" expects {len(own)} weight arrays, '
                             f"received {len(weights)}")
        for w, v in zip(own, weights):
            w.assign(v)

    def count_params(self):
        return int(sum(w.value.size for w in self.weights))

    def zero_grads(self):
        for w in self.weights:
            if w.grad is not None:
                arrays_of(w.grad).fill(w.grad, 0)

    # ----- shapes and building -------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch dim included)."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _check_input_shape(self, input_shape):
        """Raise if ``input_shape`` (batch included) cannot feed this built layer."""
        expected = self._build_input_shape
        if expected is None:
            return
        got = tuple(input_shape)
        if len(got) != len(expected) or any(e is not None and g is not None and e != g
                                            for e, g in zip(expected[1:], got[1:])):
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expected input shape '
                             f"{format_shape(expected)}, received {format_shape(got)}")

    def maybe_build(self, input_shape):
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
        if self.built:
            self._check_input_shape(input_shape)
            return
        if any(d is not None and d <= 0 for d in input_shape):
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): every input dimension must be '
                             f"positive, received input shape {format_shape(input_shape)}")
        self.compute_output_shape(input_shape)  # validates before any weight exists
        self.build(input_shape)
        self._build_input_shape = (None,) + input_shape[1:]
        self.built = True

    # ----- computing -----------------------------------------------------------------
    def forward(self, x, training=False):
        return x

    def backward(self, grad):
        return grad

    def __call__(self, inputs, training=False):
        if isinstance(inputs, KerasTensor):
            return self._call_symbolic(inputs)
        if backend.get_device() != "cpu":
            return self._call_on_device(inputs, training)
        x = np.asarray(inputs)
        if x.dtype != np.dtype(self.dtype):
            x = x.astype(self.dtype)
        self.maybe_build(x.shape)
        return self.forward(x, training=training)

    def _call_on_device(self, inputs, training):
        """__call__ on the GPU: host inputs give host outputs, device inputs device outputs."""
        k = ops()
        on_host = arrays_of(inputs) is host_arrays
        x = k.contiguous(np.asarray(inputs) if on_host else inputs, self.dtype)
        self.maybe_build(x.shape)
        for w in self._all_weights():
            w.place(k)
        y = self.forward(x, training=training)
        return k.to_host(y) if on_host else y

    def _all_weights(self):
        """Every weight of this layer (and of the layers inside it)."""
        return list(self._weights)

    def _call_symbolic(self, tensor):
        self.maybe_build(tensor.shape)
        out_shape = tuple(self.compute_output_shape(tensor.shape))
        out = KerasTensor(out_shape, self.dtype)
        node = Node(self, tensor, out)
        out._node = node
        self._inbound_nodes.append(node)
        return out

    # ----- graph bookkeeping (Keras's layer.input / layer.output) ------------------------
    @property
    def input(self):
        if not self._inbound_nodes:
            raise AttributeError(f'Layer "{self.name}" has never been called and has no input')
        return self._inbound_nodes[0].input

    @property
    def output(self):
        if not self._inbound_nodes:
            raise AttributeError(f'Layer "{self.name}" has never been called and has no output')
        return self._inbound_nodes[0].output

    @property
    def input_shape(self):
        return self._build_input_shape

    @property
    def output_shape(self):
        if self._build_input_shape is None:
            raise AttributeError(f'Layer "{self.name}" is not built yet and has no output shape')
        return tuple(self.compute_output_shape(self._build_input_shape))

    # ----- config ------------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._requested_input_shape is not None:
            config["batch_input_shape"] = (None,) + tuple(self._requested_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class KerasTensor:
    """A symbolic tensor: a shape (batch dim None) and the node that made it."""

    def __init__(self, shape, dtype="float32", node=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self._node = node

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={format_shape(self.shape)}>"


class Node:
    """One call of a layer on a tensor."""

    __slots__ = ("layer", "input", "output", "cache")

    def __init__(self, layer, input_tensor, output_tensor):
        self.layer = layer
        self.input = input_tensor
        self.output = output_tensor
        self.cache = None


class InputLayer(Layer):
    """The layer behind ``Input(shape=...)``: it holds the input shape and passes data through."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None,
                 batch_shape=None, batch_input_shape=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is None:
            batch_shape = batch_input_shape
        if batch_shape is not None:
            shape = tuple(batch_shape)[1:]
        elif shape is None:
            shape = input_shape
        if shape is None:
            raise ValueError("Input needs a shape, e.g. Input(shape=(28, 28, 1))")
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        shape = tuple(None if d is None else int(d) for d in shape)
        if any(d is not None and d <= 0 for d in shape):
            raise ValueError(f"Input shape dimensions must be positive, received {shape}")
        self.batch_shape = (None,) + shape
        self.built = True
        self._build_input_shape = self.batch_shape
        tensor = KerasTensor(self.batch_shape, self.dtype)
        node = Node(self, None, tensor)
        tensor._node = node
        self._inbound_nodes.append(node)

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False,
                "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic input tensor, like ``keras.Input``: ``x = Input(shape=(28, 28, 1))``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return layer.output
