"""The functional Model: a graph of layer calls from ``Input`` tensors to an output tensor.

``Model`` is a Layer, so a model can be used inside another model. Forward runs the
nodes in topological order; backward runs them in reverse, summing gradients where a
tensor feeds several nodes, and puts each node's cache back on its layer first (which
is what makes a layer called twice, with shared weights, differentiate correctly).
"""

import itertools

from ..kernels import ops
from ..kernels.cpu import arrays as host_arrays
from ..layers.base import InputLayer, KerasTensor, Layer, format_shape
from ..saving import SavingMixin
from . import fusion
from .summary import print_summary
from .training import TrainingMixin

_MODEL_COUNTERS = {}


def _unique_model_name(base):
    count = _MODEL_COUNTERS.get(base, 0)
    _MODEL_COUNTERS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def assign_layer_names(layers, taken=()):
    """Keras's auto-names counted per model: conv2d, conv2d_1, ... for the layers without a name.

    ``taken`` are layers already in the model; their names stay and are not reused.
    """
    names = {layer.name for layer in taken}
    for layer in layers:
        if layer.has_name:
            if layer.name in names:
                raise ValueError(f"The name {layer.name!r} is used by more than one layer of the model; "
                                 "layer names must be unique")
            names.add(layer.name)
    for layer in layers:
        if not layer.has_name:
            base = layer._default_name()
            for i in itertools.count():
                candidate = base if i == 0 else f"{base}_{i}"
                if candidate not in names:
                    break
            layer.name = candidate
            names.add(candidate)


def _as_single_tensor(value, what):
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"numbacnn models take exactly one {what} tensor, received {len(value)}")
        value = value[0]
    if not isinstance(value, KerasTensor):
        raise ValueError(f"Model {what} must be a tensor made by Input() or by calling a layer, "
                         f"received {type(value).__name__}")
    return value


class Model(TrainingMixin, SavingMixin, Layer):
    """``Model(inputs=Input(...), outputs=y)``: a functional model (one input, one output)."""

    _default_model_name = "functional"
    _summary_shows_input = True

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name or _unique_model_name(self._default_model_name),
                       trainable=trainable, **kwargs)
        TrainingMixin.__init__(self)
        self._nodes = []
        self._layers = []
        self._input_tensor = None
        self._output_tensor = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model needs both inputs= and outputs=")
            self._set_graph(_as_single_tensor(inputs, "input"), _as_single_tensor(outputs, "output"))

    # ----- graph -------------------------------------------------------------------------
    def _set_graph(self, inputs, outputs):
        nodes, seen = [], set()

        def visit(tensor):
            node = tensor._node
            if node is None:
                raise ValueError(f"{tensor} was not made by Input() or a layer call")
            if id(node) in seen:
                return
            if isinstance(node.layer, InputLayer):
                if tensor is not inputs:
                    raise ValueError(f"Graph disconnected: the output depends on input "
                                     f'"{node.layer.name}", which is not the model\'s input')
            else:
                visit(node.input)
            seen.add(id(node))
            nodes.append(node)

        visit(outputs)
        self._nodes = nodes
        layers = []
        for node in nodes:
            if node.layer not in layers:
                layers.append(node.layer)
        assign_layer_names(layers)
        self._layers = layers
        self._input_tensor = inputs
        self._output_tensor = outputs
        self._build_input_shape = inputs.shape
        self.built = True
        self._device = None  # new layers may hold weights elsewhere: place them all again before computing

    @property
    def layers(self):
        return list(self._layers)

    @property
    def input(self):
        if self._input_tensor is None:
            raise AttributeError(f'Model "{self.name}" has no input yet (it is not built)')
        return self._input_tensor

    @property
    def output(self):
        if self._output_tensor is None:
            raise AttributeError(f'Model "{self.name}" has no output yet (it is not built)')
        return self._output_tensor

    @property
    def inputs(self):
        return [self.input]

    @property
    def outputs(self):
        return [self.output]

    def get_layer(self, name=None, index=None):
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Model {self.name!r} has {len(self.layers)} layers; "
                                 f"index {index} is out of range")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: {[la.name for la in self.layers]}")

    # ----- weights -----------------------------------------------------------------------
    def _unique_weights(self, pick):
        out, seen = [], set()
        for layer in self.layers:
            for w in pick(layer):
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def weights(self):
        return self._unique_weights(lambda layer: layer.weights)

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self._unique_weights(lambda layer: layer.trainable_weights)

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._unique_weights(lambda layer: layer.non_trainable_weights)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = value

    # ----- shapes ------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        return self.output.shape

    def build(self, input_shape):
        if not self.built:
            raise ValueError(f'Model "{self.name}" cannot be built without its graph')

    def _check_input_shape(self, input_shape):
        if self._input_tensor is None:
            return
        expected, got = self._input_tensor.shape, tuple(input_shape)
        if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected[1:], got[1:])):
            first = next((n.layer for n in self._nodes if not isinstance(n.layer, InputLayer)), self)
            raise ValueError(f'Input of model "{self.name}": layer "{first.name}" ({type(first).__name__}) '
                             f"expected input shape {format_shape(expected)}, received {format_shape(got)}")

    # ----- computing ---------------------------------------------------------------------
    def forward(self, x, training=False, hook=None):
        """Run the graph on a batch. ``hook(layer, output)`` (optional) sees every layer's output.

        Without a hook, Conv -> BatchNormalization -> relu (-> MaxPooling) chains run as one kernel pass
        at inference, and Conv(relu) -> MaxPooling in training (``models.fusion``).
        """
        self._check_input_shape(x.shape)
        values = {}
        caches = [] if training else None
        pending = {}  # pooling node -> its cache from the fused training call, kept for its own place
        groups, absorbed = self._fusion_plan(training) if hook is None else ({}, ())
        for node in self._nodes:
            layer = node.layer
            if id(node) in absorbed:
                if training:
                    caches.append(pending.pop(id(node)))
                continue
            if isinstance(layer, InputLayer):
                y = x
            elif id(node) in groups and training:
                pool = groups[id(node)]
                values[id(pool.output)] = fusion.run_training(node, pool, values[id(node.input)])
                caches.append(layer._cache)
                pending[id(pool)] = pool.layer._cache
                continue
            elif id(node) in groups:
                group = groups[id(node)]
                values[id(group.last.output)] = fusion.run(group, values[id(node.input)])
                continue
            else:
                y = layer.forward(values[id(node.input)], training=training)
                if training:
                    caches.append(layer._cache)
            values[id(node.output)] = y
            if hook is not None:
                hook(layer, y)
        self._cache = caches
        return values[id(self._output_tensor)]

    def _fusion_plan(self, training):
        """``fusion.plan`` (inference) or ``fusion.training_plan`` of this graph, made once per graph
        (``_set_graph`` replaces ``_nodes``)."""
        cached = getattr(self, "_fusion_cache", None)
        if cached is None or cached[0] is not self._nodes:
            cached = self._fusion_cache = (self._nodes, fusion.plan(self._nodes, self._output_tensor),
                                           fusion.training_plan(self._nodes, self._output_tensor))
        return cached[2] if training else cached[1]

    def backward(self, grad):
        """Gradient w.r.t. the model input of the last forward(training=True); fills weight grads.

        Only what some trainable weight needs is computed: a node with nothing trainable at or
        upstream of it is skipped, and a layer whose input leads to nothing trainable is told so
        (``input_grad_needed`` False). With ``self.input_grad_needed`` False (a top-level model in
        training) the gradient w.r.t. the data itself is not computed either, and None is returned.
        """
        caches = self._cache
        if caches is None:
            raise RuntimeError(f'Model "{self.name}": backward() needs a forward(training=True) first')
        compute_nodes = [n for n in self._nodes if not isinstance(n.layer, InputLayer)]
        wanted = {id(self._input_tensor): self.input_grad_needed}  # tensor -> is d(loss)/d(tensor) needed
        for node in compute_nodes:
            wanted[id(node.output)] = wanted[id(node.input)] or bool(node.layer.trainable_weights)
        grads = {id(self._output_tensor): grad}
        for node, cache in zip(reversed(compute_nodes), reversed(caches)):
            g = grads.pop(id(node.output), None)
            if g is None or not wanted[id(node.output)]:
                continue
            layer = node.layer
            layer._cache = cache
            layer.input_grad_needed = wanted[id(node.input)]
            try:
                gx = layer.backward(g)
            finally:
                layer.input_grad_needed = True
            if gx is None or not wanted[id(node.input)]:
                continue
            key = id(node.input)
            grads[key] = gx if key not in grads else ops().add(grads[key], gx)
        return grads.get(id(self._input_tensor))

    def __call__(self, inputs, training=False):
        if isinstance(inputs, KerasTensor):
            return self._call_symbolic(inputs)
        if host_arrays.arrays_of(inputs) is not host_arrays:  # a device array: the output stays there too
            self._ensure_built(inputs.shape)
            self._sync_device()
            return self.forward(ops().contiguous(inputs, self.dtype), training=training)
        x = self._prepare_x(inputs)
        return self._to_host(self.forward(self._place_input(x), training=training))

    def _all_weights(self):
        return self.weights

    def _ensure_built(self, input_shape):
        """Functional models are built at construction; Sequential overrides this."""
        self._check_input_shape(input_shape)

    # ----- reporting ---------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras's table: Layer (type), Output Shape, Param #, then the totals."""
        if not self.built:
            raise ValueError(f'Model "{self.name}" has not yet been built. Build it by giving the first '
                             "layer an input_shape, by starting with an Input, or by calling it on data.")
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      show_trainable=show_trainable)
