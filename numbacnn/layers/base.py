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

    __slots__ = ("name", "value", "grad", "trainable", "layer", "regularizer", "constraint")

    def __init__(self, name, value, trainable, layer, regularizer=None, constraint=None):
        self.name = name
        self.value = value
        self.grad = arrays_of(value).zeros_like(value) if trainable else None
        self.trainable = trainable
        self.layer = layer
        self.regularizer = regularizer  # numbacnn.regularizers: its penalty joins the loss
        self.constraint = constraint  # numbacnn.constraints: applied after each optimizer update

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
        self._inner = None  # the traced graph of a layer written with Keras's call() (see _trace)
        self.__dict__.setdefault("_weight_options", {})  # kernel_regularizer=..., set by _set_weight_options
        self.__dict__.setdefault("activity_regularizer", None)
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
    def add_weight(self, name, shape, initializer="zeros", trainable=True, regularizer=None, constraint=None):
        """A new weight drawn by ``initializer``. Its regularizer and constraint default to the layer's
        ``<name>_regularizer`` / ``<name>_constraint`` arguments (``kernel_regularizer=`` for "kernel"; for
        "depthwise_kernel" ``depthwise_regularizer=``; ``_weight_option_prefix`` renames)."""
        from .. import constraints, initializers, regularizers

        init = initializers.get(initializer)
        value = np.require(init(tuple(shape), self.dtype), dtype=self.dtype, requirements="C")  # 0-d stays
        default = name[:-len("_kernel")] if name.endswith("_kernel") else name
        prefix = self._weight_option_prefix.get(name, default)
        options = self.__dict__.get("_weight_options", {})
        regularizer = regularizers.get(regularizer) or options.get(f"{prefix}_regularizer")
        constraint = constraints.get(constraint) or options.get(f"{prefix}_constraint")
        w = Weight(name, ops().to_device(value), trainable, self,  # drawn on the host, then moved
                   regularizer=regularizer, constraint=constraint)
        self._weights.append(w)
        return w

    _weight_option_prefix = {}
    """{weight name: the prefix of its ``*_regularizer``/``*_constraint`` arguments} where it is not the name
    itself (DepthwiseConv2D's "kernel" takes ``depthwise_regularizer=``)."""

    def _set_weight_options(self, **options):
        """Keep the ``*_regularizer`` and ``*_constraint`` arguments (resolved by name, class, object or
        Keras's dict) for ``add_weight``; ``activity_regularizer`` applies to the layer's output."""
        from .. import constraints, regularizers

        kept = self.__dict__.setdefault("_weight_options", {})
        for key, value in options.items():
            if key.endswith("_regularizer"):
                value = regularizers.get(value)
            elif key.endswith("_constraint"):
                value = constraints.get(value)
            else:
                raise TypeError(f"_set_weight_options takes *_regularizer and *_constraint arguments, "
                                f"received {key}")
            kept[key] = value
            if key == "activity_regularizer":
                self.activity_regularizer = value

    def _weight_option_config(self):
        """Keras's config entries of the regularizers and constraints given (serialized)."""
        from .. import constraints, regularizers

        out = {}
        for key, value in self.__dict__.get("_weight_options", {}).items():
            if value is not None:
                module = regularizers if key.endswith("_regularizer") else constraints
                out[key] = module.serialize(value)
        return out

    @property
    def weights(self):
        """Weights created trainable first, then the others (Keras's order; freezing does not reorder)."""
        own = self._own_weights()
        return [w for w in own if w.trainable] + [w for w in own if not w.trainable]

    def _own_weights(self):
        """The layer's weights, with those of the layers its traced call() uses."""
        if self._inner is None:
            return list(self._weights)
        return list(self._weights) + [w for w in self._inner.weights if w not in self._weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w in self._own_weights() if w.trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self._own_weights()
        return [w for w in self._own_weights() if not w.trainable]

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
        """Create the weights for inputs of ``input_shape`` (batch dim included; a list of shapes for a
        layer called on a list)."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _check_input_shape(self, input_shape):
        """Raise if ``input_shape`` (batch included; a list for a list call) cannot feed this built layer."""
        expected = self._build_input_shape
        if expected is None:
            return
        if not _shape_fits(expected, input_shape):
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expected input shape '
                             f"{format_shapes(expected)}, received {format_shapes(input_shape)}")

    def maybe_build(self, input_shape):
        input_shape = normalize_shapes(input_shape)
        if self.built:
            self._check_input_shape(input_shape)
            return
        for shape in (input_shape if is_shape_list(input_shape) else [input_shape]):
            if any(d is not None and d <= 0 for d in shape):
                raise ValueError(f'Layer "{self.name}" ({type(self).__name__}): every input dimension must '
                                 f"be positive, received input shape {format_shapes(input_shape)}")
        if self._traces_call():
            self._trace(input_shape)
        else:
            self.compute_output_shape(input_shape)  # validates before any weight exists
            self.build(input_shape)
        self._build_input_shape = _without_batch(input_shape)
        self.built = True

    # ----- computing -----------------------------------------------------------------
    def forward(self, x, training=False):
        """The layer's output for ``x`` (one array; a list of arrays for a layer called on a list)."""
        if self._inner is not None:
            y = self._inner.forward(x, training=training)
            self._cache = self._inner._cache
            return y
        raise NotImplementedError(_forward_missing(self))

    def backward(self, grad):
        """The gradient w.r.t. the input (a list for a list call) of the last forward(training=True)."""
        if self._inner is not None:
            self._inner._cache = self._cache
            self._inner.input_grad_needed = self.input_grad_needed
            try:
                return self._inner.backward(grad)
            finally:
                self._inner.input_grad_needed = True
        raise NotImplementedError(f'Layer "{self.name}" ({type(self).__name__}) defines forward() but no '
                                  "backward(grad); numbacnn needs both to train it (README, 'Custom layers')")

    def __call__(self, inputs, training=None, **kwargs):
        if kwargs:
            raise TypeError(f'Layer "{self.name}" ({type(self).__name__}): unexpected call argument(s) '
                            f"{sorted(kwargs)}; numbacnn layers take the inputs and training=")
        if _is_symbolic(inputs):
            return self._call_symbolic(inputs)
        training = bool(training)
        if backend.get_device() != "cpu":
            return self._call_on_device(inputs, training)
        x = _map_inputs(inputs, lambda v: _host_array(v, self.dtype))
        self.maybe_build(_shapes_of(x))
        return self.forward(x, training=training)

    def _call_on_device(self, inputs, training):
        """__call__ on the GPU: host inputs give host outputs, device inputs device outputs."""
        k = ops()
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        on_host = arrays_of(first) is host_arrays
        x = _map_inputs(inputs, lambda v: k.contiguous(np.asarray(v) if on_host else v, self.dtype))
        self.maybe_build(_shapes_of(x))
        for w in self._all_weights():
            w.place(k)
        y = self.forward(x, training=training)
        if not on_host:
            return y
        return [k.to_host(v) for v in y] if isinstance(y, list) else k.to_host(y)

    def _all_weights(self):
        """Every weight of this layer (and of the layers inside it)."""
        return self.weights

    def _call_symbolic(self, inputs):
        """Call on KerasTensors: build, make the output tensor(s) and record the call as a Node."""
        list_input = isinstance(inputs, (list, tuple))
        tensors = list(inputs) if list_input else [inputs]
        shapes = [t.shape for t in tensors] if list_input else tensors[0].shape
        self.maybe_build(shapes)
        if self._inner is not None:
            out_shapes = self._inner.compute_output_shape(shapes)
        else:
            out_shapes = self.compute_output_shape(shapes)
        list_output = is_shape_list(out_shapes)
        out_shapes = normalize_shapes(out_shapes)
        node_index = len(self._inbound_nodes)
        outputs = [KerasTensor(s, self.dtype, (self, node_index, i))
                   for i, s in enumerate(out_shapes if list_output else [out_shapes])]
        self._inbound_nodes.append(Node(self, tensors, outputs, list_input, list_output))
        return outputs if list_output else outputs[0]

    # ----- layers written as Keras's call() --------------------------------------------------
    def _traces_call(self):
        """A subclass that defines Keras's ``call()`` and no ``forward()``: its call is traced once into a
        graph of numbacnn layers (which knows its gradients)."""
        cls = type(self)
        return callable(getattr(cls, "call", None)) and cls.forward is Layer.forward

    def _trace(self, input_shape):
        """Run ``call()`` on symbolic inputs of ``input_shape`` and keep the graph it builds."""
        from ..models.model import Model, trace_call

        inputs, outputs = trace_call(self, input_shape)
        self._inner = Model(inputs=inputs, outputs=outputs, name=f"{self.name}_graph")

    @property
    def _inner_layers(self):
        return self._inner.layers if self._inner is not None else []

    # ----- graph bookkeeping (Keras's layer.input / layer.output) ------------------------
    def _first_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(f'Layer "{self.name}" has never been called and has no {what}')
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The input tensor of the layer's first call (a list when it was called on a list)."""
        node = self._first_node("input")
        return list(node.inputs) if node.list_input else node.inputs[0]

    @property
    def output(self):
        """The output tensor of the layer's first call (a list for several outputs)."""
        node = self._first_node("output")
        return list(node.outputs) if node.list_output else node.outputs[0]

    @property
    def input_shape(self):
        return self._build_input_shape

    @property
    def output_shape(self):
        if self._build_input_shape is None:
            raise AttributeError(f'Layer "{self.name}" is not built yet and has no output shape')
        owner = self._inner if self._inner is not None else self
        return owner.compute_output_shape(self._build_input_shape)

    # ----- config ------------------------------------------------------------------------
    def get_config(self):
        """Keras 3's base config. A layer given ``input_shape=`` does not write it (Keras 3 refuses
        ``batch_input_shape`` in a layer's config): its model writes an InputLayer before it instead."""
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class KerasTensor:
    """A symbolic tensor: a shape (batch dim None), a dtype, and ``_keras_history``: Keras's triple
    (layer, node index, tensor index) of the call that made it.

    ``a + b``, ``a - b`` and ``a * b`` of two tensors are the merge layers ``Add``, ``Subtract`` and
    ``Multiply``; any other arithmetic on a symbolic tensor is refused with what to use instead.
    """

    def __init__(self, shape, dtype="float32", keras_history=None, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self._keras_history = keras_history
        self.name = name

    @property
    def node(self):
        """The Node (layer call) that made this tensor."""
        if self._keras_history is None:
            return None
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        made_by = "" if self._keras_history is None else f", made by {self._keras_history[0].name!r}"
        return f"<KerasTensor shape={format_shape(self.shape)}{made_by}>"

    # ----- arithmetic as layers ------------------------------------------------------------------
    def _merge(self, other, op, swap=False):
        if not isinstance(other, KerasTensor):
            raise TypeError(f"{op} of a symbolic tensor and {type(other).__name__}: numbacnn's symbolic "
                            "tensors combine only with each other (layers.Add/Subtract/Multiply); scale or "
                            "shift by a constant with layers.Rescaling(scale, offset)")
        from . import merging

        layer = {"+": merging.Add, "-": merging.Subtract, "*": merging.Multiply}[op]()
        return layer([other, self] if swap else [self, other])

    def __add__(self, other):
        return self._merge(other, "+")

    def __radd__(self, other):
        return self._merge(other, "+", swap=True)

    def __sub__(self, other):
        return self._merge(other, "-")

    def __rsub__(self, other):
        return self._merge(other, "-", swap=True)

    def __mul__(self, other):
        return self._merge(other, "*")

    def __rmul__(self, other):
        return self._merge(other, "*", swap=True)

    def _refuse(self, what):
        raise TypeError(f"{what} on a symbolic tensor {format_shape(self.shape)}: numbacnn builds models "
                        "from layers, whose gradients it knows; use a layer (e.g. layers.Activation, "
                        "layers.Reshape, layers.Cropping2D, layers.Rescaling) or write a Layer subclass with "
                        "forward()/backward() (README, 'Custom layers')")

    def __array__(self, dtype=None, copy=None):
        self._refuse("A NumPy conversion")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        self._refuse(f"numpy.{ufunc.__name__}")

    def __getitem__(self, key):
        self._refuse("Indexing")

    def __truediv__(self, other):
        self._refuse("Division")

    __rtruediv__ = __truediv__

    def __pow__(self, other):
        self._refuse("A power")

    def __neg__(self):
        self._refuse("Negation")

    def __bool__(self):
        self._refuse("A truth test (if/while)")


class Node:
    """One call of a layer, as in Keras: the input tensors it read and the output tensors it made.

    ``list_input`` is True when the layer was called on a list (a merge layer, a multi-input model), so
    ``forward`` gets a list; ``list_output`` when it gives several outputs (a multi-output model).
    """

    __slots__ = ("layer", "inputs", "outputs", "list_input", "list_output")

    def __init__(self, layer, inputs, outputs, list_input=False, list_output=False):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.list_input = list_input
        self.list_output = list_output

    @property
    def is_input(self):
        """The node of an Input (no inputs; it holds the model's data)."""
        return not self.inputs

    @property
    def parent_nodes(self):
        """The nodes that made this node's inputs."""
        return [t.node for t in self.inputs]

    def __repr__(self):
        return f"<Node {self.layer.name}: {len(self.inputs)} in, {len(self.outputs)} out>"


# ----- shape helpers ------------------------------------------------------------------------------------
def is_shape_list(value):
    """True for a list of shapes (a list call's input shapes, or a multi-output layer's output shapes)."""
    return isinstance(value, list) and len(value) > 0 and all(
        isinstance(s, (tuple, list)) for s in value)


def normalize_shapes(value):
    """A shape as a tuple of int/None, or a list of such tuples."""
    if is_shape_list(value):
        return [tuple(None if d is None else int(d) for d in s) for s in value]
    return tuple(None if d is None else int(d) for d in value)


def format_shapes(value):
    """A shape, or several as "(None, 8), (None, 4)"."""
    if is_shape_list(value):
        return ", ".join(format_shape(s) for s in value)
    return format_shape(value)


def _without_batch(value):
    if is_shape_list(value):
        return [(None,) + tuple(s[1:]) for s in value]
    return (None,) + tuple(value[1:])


def _shape_fits(expected, got):
    if is_shape_list(expected) != is_shape_list(got):
        return False
    pairs = zip(expected, got) if is_shape_list(expected) else [(expected, got)]
    if is_shape_list(expected) and len(expected) != len(got):
        return False
    for e, g in pairs:
        if len(e) != len(g) or any(a is not None and b is not None and a != b for a, b in zip(e[1:], g[1:])):
            return False
    return True


def _is_symbolic(inputs):
    if isinstance(inputs, KerasTensor):
        return True
    if isinstance(inputs, (list, tuple)) and inputs and any(isinstance(t, KerasTensor) for t in inputs):
        if not all(isinstance(t, KerasTensor) for t in inputs):
            raise TypeError("A layer called on a list takes symbolic tensors only or arrays only, received "
                            f"{[type(t).__name__ for t in inputs]}")
        return True
    return False


def _host_array(value, dtype):
    x = np.asarray(value)
    return x if x.dtype == np.dtype(dtype) else x.astype(dtype)


def _map_inputs(inputs, fn):
    """``fn`` on one input, or on each of a list of inputs (a list call of a merge layer)."""
    if isinstance(inputs, (list, tuple)) and inputs and all(hasattr(v, "shape") for v in inputs):
        return [fn(v) for v in inputs]
    return fn(inputs)


def _shapes_of(x):
    return [tuple(v.shape) for v in x] if isinstance(x, list) else tuple(x.shape)


def _forward_missing(layer):
    cls = type(layer).__name__
    return (f'Layer "{layer.name}" ({cls}) defines neither forward() nor call(): numbacnn runs a layer '
            "through forward(x, training) and backward(grad), or traces a Keras-style call() made of "
            "numbacnn layers (README, 'Custom layers')")


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
        tensor = KerasTensor(self.batch_shape, self.dtype, (self, 0, 0))
        self._inbound_nodes.append(Node(self, [], [tensor]))

    def forward(self, x, training=False):
        return x

    def backward(self, grad):
        return grad

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False,
                "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic input tensor, like ``keras.Input``: ``x = Input(shape=(28, 28, 1))``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return layer.output
