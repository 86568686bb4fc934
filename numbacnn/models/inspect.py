"""What a model computes, opened up: saliency, Grad-CAM, one convolution output explained, weight history.

The visual debugger draws these; scripts and notebooks can call them too. Every function reads the
model's own weights and runs its own layers in inference mode (BatchNormalization with its moving
statistics, Dropout as the identity), on one sample:

    from numbacnn.models import inspect
    s = inspect.saliency(model, x[0])                       # d output[c] / d x, x's shape
    cam = inspect.grad_cam(model, x[0], "conv2d_1")         # {"cam": (h, w), "heatmap": (H, W), ...}
    e = inspect.explain_conv_cell(model, x[0], "conv2d", (3, 5, 7))
    e["products"].sum() + e["bias"] == e["pre_activation"]; e["output"] == feature map value
    history = inspect.WeightHistory(max_bytes=64 << 20)      # bounded weight snapshots
    history.add(trainer.snapshot(), kind="epoch")

Gradients: inference-mode gradients, as a saliency map means them. A layer whose training forward
differs from its inference forward is differentiated in its inference form: BatchNormalization is the
per-channel affine map ``x * scale + shift`` of :meth:`BatchNormalization.inference_affine` (gradient
``grad * scale``), Dropout and SpatialDropout the identity. Every other layer runs ``forward(x,
training=True)`` on the inference values and ``backward``; the weight gradients that backward adds are
put back as they were, so calling these between two training steps changes nothing the trainer reads.
"""

import numpy as np

from ..kernels.cpu.arrays import arrays_of
from ..layers.base import InputLayer
from ..layers.convolutional import BaseConv, conv_padding
from ..layers.normalization import BatchNormalization
from ..layers.regularization import Dropout

__all__ = ["saliency", "grad_cam", "explain_conv_cell", "conv_layers", "last_conv_layer", "WeightHistory",
           "model_graph"]


# ----- the graph, whichever node form the model has ---------------------------------------------------
def _inputs(node):
    inputs = getattr(node, "inputs", None)
    return list(inputs) if isinstance(inputs, (list, tuple)) else [node.input]


def _outputs(node):
    outputs = getattr(node, "outputs", None)
    return list(outputs) if isinstance(outputs, (list, tuple)) else [node.output]


def _list_input(node):
    return bool(getattr(node, "list_input", False))


def _list_output(node):
    return bool(getattr(node, "list_output", False))


def _host(a):
    return arrays_of(a).host_copy(a)


def _sample(model, x):
    """One sample ``x`` (without, or with a batch axis of 1) as the model's batch of one, placed."""
    x = np.asarray(x, dtype=np.dtype(model.dtype))
    want = tuple(model.input.shape[1:])
    if x.shape == want or (x.ndim == len(want) and x.size == int(np.prod(want))):
        x = x.reshape((1, *want))
    elif x.shape[:1] == (1,) and x[0].size == int(np.prod(want)):
        x = x.reshape((1, *want))
    else:
        raise ValueError(f'Model "{model.name}" takes one sample of shape {want}, received shape {x.shape}')
    if len(model.inputs) != 1:
        raise ValueError(f'Model "{model.name}" has {len(model.inputs)} inputs; numbacnn.models.inspect '
                         "explains models with one input")
    prepared = model._prepare_x(x)
    if hasattr(model, "_place_inputs"):
        return model._place_inputs(prepared)[0]
    return model._place_input(prepared)


def _node_of(model, layer_name):
    for node in model._nodes:
        if node.layer.name == layer_name:
            return node
    names = [n.layer.name for n in model._nodes if not isinstance(n.layer, InputLayer)]
    raise ValueError(f'Model "{model.name}" has no layer named {layer_name!r}; its layers are {names}')


class _Trace:
    """An inference pass that can be differentiated: the value of every tensor, node by node."""

    def __init__(self, model, x):
        self.model = model
        self.values = {}
        for node in model._nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                self.values[id(_outputs(node)[0])] = x
                continue
            args = [self.values[id(t)] for t in _inputs(node)]
            y = layer.forward(args if _list_input(node) else args[0], training=False)
            ys = list(y) if _list_output(node) else [y]
            for t, v in zip(_outputs(node), ys):
                self.values[id(t)] = v

    def value(self, tensor):
        return self.values[id(tensor)]

    def gradient(self, seeds, wanted):
        """d(sum of seed · tensor)/d(wanted tensor): ``seeds`` {id(tensor): gradient}; ``wanted`` a tensor.

        Runs the nodes backwards from the seeds to ``wanted``; the weight gradients are left as found.
        """
        model = self.model
        saved = [(w, _host(w.grad)) for w in model.trainable_weights if w.grad is not None]
        grads = dict(seeds)
        try:
            for node in reversed(model._nodes):
                layer = node.layer
                outs = _outputs(node)
                if isinstance(layer, InputLayer) or not any(id(t) in grads for t in outs):
                    continue
                if any(id(t) == id(wanted) for t in outs):
                    continue   # the wanted tensor: its gradient is complete once nothing after it is left
                g_outs = [grads.pop(id(t), None) for t in outs]
                g_outs = [np.zeros_like(_host(self.value(t))) if g is None else g
                          for t, g in zip(outs, g_outs)]
                ins = _inputs(node)
                g_ins = self._layer_backward(node, [self.value(t) for t in ins],
                                             g_outs if _list_output(node) else g_outs[0])
                for t, g in zip(ins, g_ins):
                    if g is None:
                        continue
                    grads[id(t)] = g if id(t) not in grads else grads[id(t)] + g
        finally:
            for w, g in saved:
                arrays_of(w.grad).copy_into(w.grad, g)
        if id(wanted) not in grads:
            raise ValueError("the class score does not depend on that tensor")
        return _host(grads[id(wanted)])

    def _layer_backward(self, node, xs, grad):
        layer = node.layer
        if isinstance(layer, Dropout):              # the identity at inference
            return [grad]
        if isinstance(layer, BatchNormalization):   # x * scale + shift per channel at inference
            scale, _ = layer.inference_affine(np.float32)
            scale = _host(scale)
            g = _host(grad)
            axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
            shape = [1] * g.ndim
            shape[axis] = scale.shape[0]
            return [g * scale.reshape(shape)]
        layer.forward(xs if _list_input(node) else xs[0], training=True)
        layer.input_grad_needed = True
        g = layer.backward(grad)
        return list(g) if _list_input(node) else [g]


def _class_seed(trace, class_index):
    out = trace.model.outputs[0] if hasattr(trace.model, "outputs") else trace.model.output
    y = _host(trace.value(out))
    c = int(np.argmax(y[0])) if class_index is None else int(class_index)
    if not 0 <= c < y.shape[-1]:
        raise ValueError(f"class_index must be in [0, {y.shape[-1]}), received {class_index}")
    seed = np.zeros_like(y)
    seed[0, ..., c] = 1.0
    return out, seed, c, y[0]


def saliency(model, x, class_index=None):
    """The gradient of the model's output for class ``class_index`` (default: the predicted class) with
    respect to the input sample ``x``: an array of ``x``'s shape (float32).

    The output is what the model's last layer gives: a probability when it applies softmax, a score
    (logit) otherwise. Inference mode throughout (see the module docstring).
    """
    shape = np.shape(x)
    trace = _Trace(model, _sample(model, x))
    out, seed, _, _ = _class_seed(trace, class_index)
    grad = trace.gradient({id(out): seed}, model.input)
    return grad.reshape(shape).astype(np.float32)


def conv_layers(model):
    """Names of the model's convolution layers (Conv1D/2D/3D), in the order they run."""
    return [n.layer.name for n in model._nodes if isinstance(n.layer, BaseConv)]


def last_conv_layer(model):
    """Name of the last 2-D convolution layer (Grad-CAM's default), or None."""
    names = [n.layer.name for n in model._nodes if isinstance(n.layer, BaseConv) and n.layer.rank == 2]
    return names[-1] if names else None


def grad_cam(model, x, layer_name=None, class_index=None):
    """Grad-CAM (Selvaraju et al. 2017) of ``x`` for class ``class_index`` (default: the predicted one) on
    the 2-D convolution ``layer_name`` (default: the last one).

    Returns ``{"layer", "class_index", "cam" (h, w): relu(sum_k alpha_k A_k) of the layer's output A,
    "weights" (K,): alpha_k, the mean over h, w of d output[c] / dA_k, "heatmap" (H, W): the cam resized
    to the input's rows and columns (nearest cell) and scaled to 0..1 (all 0 when the cam is 0)}``.
    """
    layer_name = layer_name or last_conv_layer(model)
    if layer_name is None:
        raise ValueError(f'Model "{model.name}" has no Conv2D layer, which Grad-CAM needs')
    node = _node_of(model, layer_name)
    tensor = _outputs(node)[0]
    if len(tensor.shape) != 4:
        raise ValueError(f'Grad-CAM needs a layer with (batch, rows, cols, channels) output; "{layer_name}" '
                         f"gives {tensor.shape}")
    trace = _Trace(model, _sample(model, x))
    out, seed, c, _ = _class_seed(trace, class_index)
    activation = _host(trace.value(tensor))[0].astype(np.float64)
    grad = trace.gradient({id(out): seed}, tensor)[0].astype(np.float64)
    weights = grad.mean(axis=(0, 1))
    cam = np.maximum(np.tensordot(activation, weights, axes=([2], [0])), 0.0)
    in_shape = tuple(model.input.shape[1:3])
    rows = np.minimum((np.arange(in_shape[0]) * cam.shape[0]) // in_shape[0], cam.shape[0] - 1)
    cols = np.minimum((np.arange(in_shape[1]) * cam.shape[1]) // in_shape[1], cam.shape[1] - 1)
    heat = cam[rows][:, cols]
    top = heat.max()
    heat = heat / top if top > 0 else np.zeros_like(heat)
    return {"layer": layer_name, "class_index": c, "cam": cam, "weights": weights, "heatmap": heat}


def explain_conv_cell(model, x, layer_name, index):
    """How the convolution ``layer_name`` computed one output value for the input sample ``x``.

    ``index`` is (row, col, filter) of the layer's output (2-D; (pos, filter) for Conv1D). Read from the
    layer's own kernel and bias and from the layer's real input (the previous layer's output for ``x``):

    * ``input_name``: the layer feeding it ("input" for the model's input); ``input_shape`` (h, w, c)
    * ``rows``, ``cols``: the input rows and columns the kernel taps read (-1 where they fall in padding)
    * ``patch`` (kh, kw, c): those input values (0 in padding); ``kernel`` (kh, kw, c): the filter's slice
    * ``products`` = patch * kernel; ``sum`` = products.sum() (in float64); ``bias``
    * ``pre_activation`` = sum + bias; ``activation`` (its name); ``output`` = activation(pre_activation)
      in float32, as the layer computes it; ``value``: the layer's own output at ``index``.
    """
    node = _node_of(model, layer_name)
    layer = node.layer
    if not isinstance(layer, BaseConv) or layer.rank not in (1, 2):
        raise ValueError(f'explain_conv_cell explains Conv1D and Conv2D layers; "{layer_name}" is '
                         f"{type(layer).__name__}")
    trace = _Trace(model, _sample(model, x))
    src = _inputs(node)[0]
    xin = _host(trace.value(src))[0]
    out = _host(trace.value(_outputs(node)[0]))[0]
    if layer.rank == 1:
        xin, out = xin[None], out[None]
        index = (0, *index)
    kh, kw = (1, *layer.kernel_size) if layer.rank == 1 else layer.kernel_size
    sh, sw = (1, *layer.strides) if layer.rank == 1 else layer.strides
    dh, dw = (1, *layer.dilation_rate) if layer.rank == 1 else layer.dilation_rate
    i, j, f = (int(v) for v in index)
    if not (0 <= i < out.shape[0] and 0 <= j < out.shape[1] and 0 <= f < out.shape[2]):
        raise ValueError(f'Layer "{layer_name}": index {tuple(index)} is outside its output of shape '
                         f"{out.shape if layer.rank == 2 else out.shape[1:]}")
    pad_top = 0 if layer.rank == 1 else conv_padding(xin.shape[0], kh, sh, dh, layer.padding)[1]
    pad_left = conv_padding(xin.shape[1], kw, sw, dw, layer.padding)[1]
    rows = i * sh - pad_top + dh * np.arange(kh)
    cols = j * sw - pad_left + dw * np.arange(kw)
    rows = np.where((rows >= 0) & (rows < xin.shape[0]), rows, -1)
    cols = np.where((cols >= 0) & (cols < xin.shape[1]), cols, -1)
    patch = np.zeros((kh, kw, xin.shape[2]), np.float32)
    for a, r in enumerate(rows):
        for b, c in enumerate(cols):
            if r >= 0 and c >= 0:
                patch[a, b] = xin[r, c]
    kernel = layer.kernel.numpy().reshape(kh, kw, xin.shape[2], -1)[..., f]
    products = patch * kernel
    total = float(np.sum(products, dtype=np.float64))
    bias = float(layer.bias.numpy()[f]) if layer.bias is not None else 0.0
    pre = np.float32(total + bias)
    act = _host(layer.activation.forward(np.array([[pre]], np.float32)))
    name = layer.get_config().get("activation", "linear")
    in_layer = src._node.layer if hasattr(src, "_node") else src.node.layer
    return {"layer": layer_name, "index": (i, j, f) if layer.rank == 2 else (j, f),
            "input_name": "input" if isinstance(in_layer, InputLayer) else in_layer.name,
            "input_shape": xin.shape if layer.rank == 2 else xin.shape[1:],
            "rows": rows, "cols": cols, "patch": patch, "kernel": kernel, "products": products,
            "sum": total, "bias": bias, "pre_activation": float(pre),
            "activation": name if isinstance(name, str) else str(name),
            "output": float(np.asarray(act).reshape(-1)[0]), "value": float(out[i, j, f]),
            "strides": (sh, sw), "dilation": (dh, dw), "padding": layer.padding}


def model_graph(model):
    """The model as a drawable graph, in topological order: one dict per layer call, ``{"name",
    "class_name", "output_shapes": [shape tuples], "inbound": [names of the layers feeding it]}``
    (the model's input is a node too, ``class_name`` "InputLayer"). Uses ``model.get_graph()`` where the
    model has it."""
    if hasattr(model, "get_graph"):
        return list(model.get_graph())
    graph = []
    for node in model._nodes:
        inbound = [] if isinstance(node.layer, InputLayer) else [
            (t._node.layer.name if hasattr(t, "_node") else t.node.layer.name) for t in _inputs(node)]
        graph.append({"name": node.layer.name, "class_name": type(node.layer).__name__,
                      "output_shapes": [tuple(t.shape) for t in _outputs(node)], "inbound": inbound})
    return graph


class WeightHistory:
    """Weight snapshots (``Trainer.snapshot()`` dicts) kept within ``max_bytes``.

    ``add(snapshot, kind)``: ``kind`` "epoch" (an epoch's end: always kept while the budget allows) or
    "batch" (every N batches). When the snapshots exceed ``max_bytes``, every other batch snapshot is
    dropped (oldest first, so the kept ones thin out evenly), then the oldest epoch snapshots but the first.
    ``items`` lists ``(kind, snapshot)`` in training order; ``labels()`` one line each.
    """

    def __init__(self, max_bytes=256 << 20):
        self.max_bytes = int(max_bytes)
        self.items = []

    @staticmethod
    def size_of(snapshot):
        arrays = list(snapshot["weights"].values()) + list(snapshot.get("optimizer", ()))
        return sum(np.asarray(a).nbytes for a in arrays) + np.asarray(snapshot.get("order", ())).nbytes

    @property
    def nbytes(self):
        return sum(self.size_of(s) for _, s in self.items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i][1]

    def clear(self):
        self.items = []

    def add(self, snapshot, kind="batch"):
        if kind not in ("epoch", "batch"):
            raise ValueError(f'kind must be "epoch" or "batch", received {kind!r}')
        self.items.append((kind, snapshot))
        while self.nbytes > self.max_bytes and len(self.items) > 1:
            batches = [i for i, (k, _) in enumerate(self.items[:-1]) if k == "batch"]
            if batches:
                for i in reversed(batches[::2]):
                    del self.items[i]
            else:
                del self.items[1 if len(self.items) > 2 else 0]
        return len(self.items) - 1

    def labels(self):
        out = []
        for kind, s in self.items:
            where = ("the start" if s["epoch"] == 0 and s["batch"] == 0 else
                     f"end of epoch {s['epoch']}" if kind == "epoch" and s["batch"] == 0
                     else f"epoch {s['epoch'] + 1}, batch {s['batch']}")
            out.append(f"{where} ({s['steps']} batches)" if "steps" in s else where)
        return out

