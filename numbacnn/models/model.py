"""The functional Model: a graph of layer calls (nodes) from ``Input`` tensors to output tensors.

As in Keras (``keras/src/models/functional.py``, ``keras/src/ops/node.py``), a **node** is one call of a
layer on a list of input tensors, giving a list of output tensors: most layers take and give one, a merge
layer takes several, a model used as a layer gives as many as it has outputs. A tensor may feed many
nodes. ``Model`` is a Layer, so a model can be used inside another model.

* ``forward`` walks the nodes in topological order keeping each tensor's value (and, in training, one
  cache per node); fused Conv -> BatchNorm -> activation -> pooling chains (``models.fusion``, a plan made
  once per graph) run as one kernel call.
* ``backward`` walks them in reverse, summing the gradients of a tensor that feeds several nodes, and puts
  each node's cache back on its layer first (which is what makes a layer called twice, with shared
  weights, differentiate correctly). Only what a trainable weight needs is differentiated.
* Inputs and outputs are one tensor, a list or a dict (Keras's structures); data follows the same
  structure (a dict of data is matched by input name).
* A ``Model`` subclass that defines ``call()`` (Keras's subclassing API) is traced once, when the input
  shape is first known, into this same graph.
"""

import inspect
import itertools

from .. import backend
from ..kernels import ops
from ..kernels.cpu import arrays as host_arrays
from ..layers.base import Input, KerasTensor, Layer, format_shape, format_shapes, is_shape_list
from ..saving import SavingMixin
from . import fusion
from .summary import print_summary
from .training import TrainingMixin


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


# ----- structures: one tensor, a list, or a dict ----------------------------------------------------------
def flatten_structure(value, what):
    """``(tensors, keys)``: the tensors of one tensor, a list or a dict (sorted by key, as Keras's
    ``tree.flatten``), and the dict's keys (None for a list, False for one tensor)."""
    if isinstance(value, dict):
        keys = sorted(value)
        tensors = [value[k] for k in keys]
    elif isinstance(value, (list, tuple)):
        keys, tensors = None, list(value)
    else:
        keys, tensors = False, [value]
    if not tensors:
        raise ValueError(f"A model needs at least one {what} tensor")
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise ValueError(f"Model {what}s must be tensors made by Input() or by calling a layer, "
                             f"received {type(t).__name__}")
    return tensors, keys


def _ordered_nodes(inputs, outputs, model_name):
    """The graph's nodes in Keras's order: depth-first from the outputs (parents first), then by
    decreasing depth, ties in that first order. Also the layers in Keras's ``model.layers`` order."""
    topo, seen = [], set()
    input_ids = {id(t) for t in inputs}

    def visit(tensor):
        node = tensor.node
        if node is None:
            raise ValueError(f"{tensor} was not made by Input() or a layer call")
        if id(node) in seen:
            return
        if node.is_input and id(tensor) not in input_ids:
            raise ValueError(f'Graph disconnected in model "{model_name}": an output depends on input '
                             f'"{node.layer.name}" {format_shape(tensor.shape)}, which is not among the '
                             "model's inputs")
        for parent in node.inputs:
            visit(parent)
        seen.add(id(node))
        topo.append(node)

    for t in outputs:
        visit(t)
    topo = [t.node for t in inputs if id(t.node) not in seen] + topo  # inputs that no output reads
    index = {id(n): i for i, n in enumerate(topo)}
    node_depth, layer_depth = {}, {}
    for node in reversed(topo):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(node_depth.get(id(parent), 0), depth + 1)
    nodes = sorted(topo, key=lambda n: (-node_depth[id(n)], index[id(n)]))
    layers, first = [], {}
    for node in topo:
        if id(node.layer) not in first:
            first[id(node.layer)] = len(first)
            layers.append(node.layer)
    layers.sort(key=lambda la: (-layer_depth[id(la)], first[id(la)]))
    return nodes, layers


def trace_call(owner, input_shape):
    """Run ``owner.call`` (a Keras-style ``call()``) once on symbolic inputs of ``input_shape`` (one shape
    or a list); returns ``(inputs, outputs)``, or raises saying what numbacnn needs instead."""
    shapes = input_shape if is_shape_list(input_shape) else [input_shape]
    inputs = [Input(batch_shape=(None,) + tuple(s[1:])) for s in shapes]
    args = inputs if is_shape_list(input_shape) else inputs[0]
    kwargs = {}
    try:
        if "training" in inspect.signature(owner.call).parameters:
            kwargs["training"] = None
    except (TypeError, ValueError):
        pass
    what = f'{type(owner).__name__} "{owner.name}"'
    try:
        outputs = owner.call(args, **kwargs)
    except Exception as err:
        raise TypeError(f"{what}: numbacnn runs call() once on symbolic tensors to record the layers it "
                        f"uses, and it failed: {type(err).__name__}: {err}. call() may only compose numbacnn "
                        "layers (and +, -, * of their outputs); for other arithmetic write forward(x, "
                        "training) and backward(grad) instead (README, 'Custom layers')") from err
    tensors = outputs if isinstance(outputs, (list, tuple)) else (
        [outputs[k] for k in sorted(outputs)] if isinstance(outputs, dict) else [outputs])
    if not all(isinstance(t, KerasTensor) for t in tensors):
        found = [type(t).__name__ for t in tensors]
        raise TypeError(f"{what}: call() must return the output of numbacnn layers, returned {found}; for "
                        "other arithmetic write forward(x, training) and backward(grad) instead (README, "
                        "'Custom layers')")
    if any(t in inputs for t in tensors):
        raise TypeError(f"{what}: call() returns its input unchanged; numbacnn needs call() to apply "
                        "at least one layer")
    return args, outputs


class Model(TrainingMixin, SavingMixin, Layer):
    """``Model(inputs, outputs)``: a functional model. ``inputs``/``outputs`` are one tensor, a list or a
    dict of tensors. Subclass it and define ``call()`` for Keras's subclassing API."""

    _default_model_name = "functional"
    _summary_shows_input = True

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name or backend.unique_model_name(self._default_model_name),
                       trainable=trainable, **kwargs)
        TrainingMixin.__init__(self)
        self._nodes = []
        self._layers = []
        self._inputs = []
        self._outputs = []
        self._input_keys = False
        self._output_keys = False
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model needs both inputs= and outputs=")
            self._set_graph(inputs, outputs)
        # else an empty model: Sequential fills it, or a subclass's call() is traced at build time

    def _is_subclassed(self):
        return callable(getattr(type(self), "call", None))

    # ----- graph -------------------------------------------------------------------------
    def _set_graph(self, inputs, outputs):
        self._inputs, self._input_keys = flatten_structure(inputs, "input")
        self._outputs, self._output_keys = flatten_structure(outputs, "output")
        for t in self._inputs:
            if not t.node.is_input:
                raise ValueError(f'Model "{self.name}": inputs must be Input() tensors; {t} is the output '
                                 f'of layer "{t.node.layer.name}"')
        self._nodes, layers = _ordered_nodes(self._inputs, self._outputs, self.name)
        assign_layer_names(layers)
        self._layers = layers
        self._build_input_shape = self._pack_in([t.shape for t in self._inputs])
        self.built = True
        self._device = None  # new layers may hold weights elsewhere: place them all again before computing
        self._fusion_cache = None
        compiled = getattr(self, "_compiled", None)
        if compiled is not None and [o.name for o in compiled] != (
                self.output_names if len(self._outputs) > 1 else [compiled[0].name]):
            self._resolve_compile()

    def _pack_in(self, values):
        """One value for a one-input model, the list otherwise."""
        return values[0] if self._input_keys is False else list(values)

    def _pack_out(self, values):
        return values[0] if self._output_keys is False else list(values)

    @property
    def layers(self):
        return list(self._layers)

    def _io(self, what):
        if not self.built:
            raise AttributeError(f'Model "{self.name}" has no {what} yet (it is not built)')
        tensors, keys = (self._inputs, self._input_keys) if what == "input" else (self._outputs,
                                                                                    self._output_keys)
        if keys is False:
            return tensors[0]
        return dict(zip(keys, tensors)) if keys is not None else list(tensors)

    @property
    def input(self):
        return self._io("input")

    @property
    def output(self):
        return self._io("output")

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input_names(self):
        return [t.node.layer.name for t in self._inputs]

    @property
    def output_names(self):
        """Keras's output names: the dict's keys, else the names of the layers that make the outputs."""
        if self._output_keys:
            return list(self._output_keys)
        return [t._keras_history[0].name for t in self._outputs]

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

    def get_graph(self):
        """The graph for drawing it: one dict per node, in topological order, ``{"name", "class_name",
        "output_shapes", "inbound"}`` (inbound: the names of the layers whose outputs it reads)."""
        return [{"name": n.layer.name, "class_name": type(n.layer).__name__,
                 "output_shapes": [t.shape for t in n.outputs],
                 "inbound": [t._keras_history[0].name for t in n.inputs]} for n in self._nodes]

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
        self._ensure_built(input_shape)
        return self._pack_out([t.shape for t in self._outputs])

    def build(self, input_shape=None):
        """Build a subclassed model for inputs of ``input_shape`` (a shape or a list), by tracing call()."""
        if self.built:
            return
        if not self._is_subclassed():
            raise ValueError(f'Model "{self.name}" cannot be built without its graph')
        if input_shape is None:
            raise ValueError(f'Model "{self.name}": call build() with the input shape, e.g. '
                             "build((None, 28, 28, 1)), or call the model on data")
        inputs, outputs = trace_call(self, input_shape)
        self._set_graph(inputs, outputs)

    def _ensure_built(self, input_shape):
        """Build a subclassed model on first use; check the shapes of a built one."""
        if not self.built and self._is_subclassed():
            self.build(input_shape)
        self._check_input_shape(input_shape)

    def _check_input_shape(self, input_shape):
        if not self._inputs:
            return
        shapes = input_shape if is_shape_list(input_shape) else [input_shape]
        if len(shapes) != len(self._inputs):
            raise ValueError(f'Model "{self.name}" takes {len(self._inputs)} inputs '
                             f"({format_shapes([t.shape for t in self._inputs])}), received {len(shapes)}")
        for tensor, got in zip(self._inputs, shapes):
            expected, got = tensor.shape, tuple(got)
            if len(got) != len(expected) or any(e is not None and g is not None and e != g
                                                for e, g in zip(expected[1:], got[1:])):
                first = self._first_reader(tensor)
                raise ValueError(f'Input "{tensor.node.layer.name}" of model "{self.name}": layer '
                                 f'"{first.name}" ({type(first).__name__}) expected input shape '
                                 f"{format_shape(expected)}, received {format_shape(got)}")

    def _first_reader(self, tensor):
        for node in self._nodes:
            if any(t is tensor for t in node.inputs):
                return node.layer
        return self

    # ----- computing ---------------------------------------------------------------------
    def _flatten_inputs(self, x):
        """The data for each model input, in ``self.inputs``' order, from one array, a list or a dict."""
        n = len(self._inputs)
        if isinstance(x, dict):
            names = self._input_keys or self.input_names
            missing = [k for k in names if k not in x]
            if missing:
                raise ValueError(f'Model "{self.name}" expects inputs named {names}; the data has keys '
                                 f"{sorted(x)} (missing {missing})")
            return [x[k] for k in names]
        if isinstance(x, (list, tuple)) and (n > 1 or len(x) == 1):
            if len(x) != n:
                raise ValueError(f'Model "{self.name}" takes {n} inputs '
                                 f"({format_shapes([t.shape for t in self._inputs])}), received {len(x)}")
            return list(x)
        if n != 1:
            raise ValueError(f'Model "{self.name}" takes {n} inputs '
                             f"({format_shapes([t.shape for t in self._inputs])}); give a list or a dict")
        return [x]

    def forward(self, x, training=False, hook=None):
        """Run the graph on a batch (one array, or a list/dict for several inputs); returns one array, or
        a list for several outputs. ``hook(layer, output)`` (optional) sees every node's output.

        Without a hook, Conv -> BatchNormalization -> relu (-> MaxPooling) chains run as one kernel pass
        at inference, and Conv(relu) -> MaxPooling in training (``models.fusion``).
        """
        xs = self._flatten_inputs(x)
        self._check_input_shape([tuple(v.shape) for v in xs])
        values = {id(t): v for t, v in zip(self._inputs, xs)}
        caches = {} if training else None
        self._activity = {}  # node id -> output, for the layers with an activity_regularizer
        groups, absorbed = self._fusion_plan(training) if hook is None else ({}, ())
        for node in self._nodes:
            if node.is_input:
                if hook is not None:
                    hook(node.layer, values[id(node.outputs[0])])
                continue
            if id(node) in absorbed:
                continue
            layer = node.layer
            group = groups.get(id(node))
            if group is not None and training:
                pool = group
                values[id(pool.outputs[0])] = fusion.run_training(node, pool, values[id(node.inputs[0])])
                caches[id(node)] = layer._cache
                caches[id(pool)] = pool.layer._cache
                continue
            if group is not None:
                values[id(group.last.outputs[0])] = fusion.run(group, values[id(node.inputs[0])])
                continue
            args = [values[id(t)] for t in node.inputs]
            y = layer.forward(args if node.list_input else args[0], training=training)
            for t, v in zip(node.outputs, y if node.list_output else [y]):
                values[id(t)] = v
            if layer.activity_regularizer is not None and not node.list_output:
                self._activity[id(node)] = (layer.activity_regularizer, y)
            if training:
                caches[id(node)] = layer._cache
            if hook is not None:
                hook(layer, y)
        self._cache = caches
        return self._pack_out([values[id(t)] for t in self._outputs])

    def activity_penalty(self):
        """The activity regularizers' penalty of the last forward (nested models included): for each
        regularized output y, ``regularizer(y) / batch size``, as Keras 3 adds it to the loss."""
        total = 0.0
        for regularizer, y in getattr(self, "_activity", {}).values():
            host = ops().to_host(y)
            total += regularizer(host) / max(host.shape[0], 1)
        for layer in self._layers:
            if isinstance(layer, Model):
                total += layer.activity_penalty()
            else:
                total += sum(getattr(layer, "losses", ()))  # ActivityRegularization's own penalty
        return total

    def _fusion_plan(self, training):
        """``fusion.plan`` (inference) or ``fusion.training_plan`` of this graph, made once per graph
        (``_set_graph`` drops it)."""
        cached = getattr(self, "_fusion_cache", None)
        if cached is None or cached[0] is not self._nodes:
            cached = self._fusion_cache = (self._nodes, fusion.plan(self._nodes, self._outputs),
                                           fusion.training_plan(self._nodes, self._outputs))
        return cached[2] if training else cached[1]

    def backward(self, grad):
        """Gradients w.r.t. the model's inputs of the last forward(training=True) (one array, or a list
        for several inputs), given the gradient of each output (one array, or a list; None for an output
        that no loss reads); fills the weights' gradients.

        Only what some trainable weight needs is computed: a node with nothing trainable at or upstream of
        it is skipped, and a layer whose inputs lead to nothing trainable is told so (``input_grad_needed``
        False). With ``self.input_grad_needed`` False (a top-level model in training) the gradient w.r.t.
        the data itself is not computed either, and None is returned for it.
        """
        caches = self._cache
        if caches is None:
            raise RuntimeError(f'Model "{self.name}": backward() needs a forward(training=True) first')
        out_grads = list(grad) if self._output_keys is not False else [grad]
        if len(out_grads) != len(self._outputs):
            raise ValueError(f'Model "{self.name}" has {len(self._outputs)} outputs; backward() received '
                             f"{len(out_grads)} gradients")
        wanted = {id(t): self.input_grad_needed for t in self._inputs}  # is d(loss)/d(tensor) needed
        for node in self._nodes:
            if not node.is_input:
                need = any(wanted[id(t)] for t in node.inputs) or bool(node.layer.trainable_weights)
                for t in node.outputs:
                    wanted[id(t)] = need
        grads = {}
        for t, g in zip(self._outputs, out_grads):
            if g is not None:
                _accumulate(grads, t, g)
        for node in reversed(self._nodes):
            if node.is_input or not wanted[id(node.outputs[0])]:
                continue
            gs = [grads.pop(id(t), None) for t in node.outputs]
            if all(g is None for g in gs):
                continue
            if node.list_output:
                gs = _fill_missing(gs, node.outputs)
            elif id(node) in self._activity:
                gs = [_add_activity_gradient(gs[0], *self._activity[id(node)])]
            layer = node.layer
            layer._cache = caches[id(node)]
            layer.input_grad_needed = any(wanted[id(t)] for t in node.inputs)
            try:
                gx = layer.backward(gs if node.list_output else gs[0])
            finally:
                layer.input_grad_needed = True
            for t, g in zip(node.inputs, gx if node.list_input else [gx]):
                if g is not None and wanted[id(t)]:
                    _accumulate(grads, t, g)
        return self._pack_in([grads.get(id(t)) for t in self._inputs])

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, dict) and inputs and all(isinstance(v, KerasTensor) for v in inputs.values()):
            inputs = self._flatten_inputs(inputs)
        if isinstance(inputs, KerasTensor) or (
                isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], KerasTensor)):
            if not self.built and self._is_subclassed():
                shapes = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
                self.build(shapes)
            return Layer.__call__(self, inputs, **kwargs)
        if kwargs:
            raise TypeError(f'Model "{self.name}": unexpected call argument(s) {sorted(kwargs)}')
        training = bool(training)
        first = self._flatten_inputs(inputs)[0] if self.built else inputs
        if hasattr(first, "shape") and host_arrays.arrays_of(first) is not host_arrays:
            # device arrays: the outputs stay on the device too
            xs = [ops().contiguous(v, self.dtype) for v in self._flatten_inputs(inputs)]
            self._ensure_built(self._pack_in([v.shape for v in xs]))
            self._sync_device()
            return self.forward(xs, training=training)
        xs = self._prepare_x(inputs)
        return self._outputs_to_host(self.forward(self._place_inputs(xs), training=training))

    def maybe_build(self, input_shape):
        self._ensure_built(input_shape)

    def _all_weights(self):
        return self.weights

    # ----- reporting ---------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras's table: Layer (type), Output Shape, Param # (and Connected to for a graph that is
        not a chain), then the totals."""
        if not self.built:
            raise ValueError(f'Model "{self.name}" has not yet been built. Build it by giving the first '
                             "layer an input_shape, by starting with an Input, or by calling it on data.")
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      show_trainable=show_trainable)


def _accumulate(grads, tensor, g):
    key = id(tensor)
    grads[key] = g if key not in grads else ops().add(grads[key], g)


def _add_activity_gradient(grad, regularizer, y):
    """``grad`` plus d(regularizer(y) / batch size)/dy."""
    k = ops()
    host = k.to_host(y)
    extra = regularizer.gradient(host) / max(host.shape[0], 1)
    return k.add(grad, k.to_device(extra.astype(host.dtype)))


def _fill_missing(gs, tensors):
    """Zeros for the outputs of a multi-output node that no loss reads (the layer's backward takes all)."""
    batch = next(g for g in gs if g is not None).shape[0]
    k = ops()
    return [g if g is not None else k.zeros((batch,) + tuple(t.shape[1:]), t.dtype)
            for g, t in zip(gs, tensors)]
