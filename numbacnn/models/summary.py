"""``model.summary()`` in the classic Keras layout that the seed programs print.

Columns widen to fit long names instead of cutting them ("max_pooling2d_1 (MaxPooling2D)").
"""

from ..layers.base import InputLayer, format_shape


def _is_chain(model):
    """A Sequential-like graph: each node reads the one tensor the node before it made."""
    nodes = model._nodes
    return len(model.inputs) == 1 and len(model.outputs) == 1 and all(
        len(n.inputs) == 1 and len(n.outputs) == 1 and n.inputs[0] is nodes[i - 1].outputs[0]
        for i, n in enumerate(nodes) if i > 0)


def _fmt_row(fields, widths):
    line = ""
    for text, width in zip(fields, widths):
        line += str(text).ljust(width)
    return line.rstrip().ljust(sum(widths))


def _connections(node):
    """Keras's "Connected to" entries of a node: ``layer[node index][tensor index]`` per input."""
    out = []
    for t in node.inputs:
        layer, node_index, tensor_index = t._keras_history
        out.append(f"{layer.name}[{node_index}][{tensor_index}]")
    return out or ["-"]


def _rows(model, sequential_like, show_trainable):
    """One row per layer in ``model.layers``' order (a shared layer: one per call), then its further
    inbound tensors on lines of their own."""
    nodes_of = {}
    for node in model._nodes:
        nodes_of.setdefault(id(node.layer), []).append(node)
    layers = [la for la in model.layers if model._summary_shows_input or not isinstance(la, InputLayer)]
    rows = []
    for layer in layers:
        for node in nodes_of.get(id(layer), []):
            shapes = [format_shape(t.shape) for t in node.outputs]
            row = [f"{layer.name} ({type(layer).__name__})", shapes[0], f"{layer.count_params():,}"]
            links = _connections(node)
            if not sequential_like:
                row.append(links[0] + ("," if len(links) > 1 else ""))
            if show_trainable:
                row.append("Y" if layer.trainable else "N")
            extra = []
            for i in range(1, max(len(shapes), 1 if sequential_like else len(links))):
                line = ["", shapes[i] if i < len(shapes) else "", ""]
                if not sequential_like:
                    line.append(links[i] + ("," if i < len(links) - 1 else "") if i < len(links) else "")
                if show_trainable:
                    line.append("")
                extra.append(line)
            rows.append([row] + extra)
    return rows


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    print_fn = print_fn or print
    sequential_like = _is_chain(model)
    rows = _rows(model, sequential_like, show_trainable)

    header = ["Layer (type)", "Output Shape", "Param #"]
    widths = [33, 26, 12] if sequential_like else [33, 26, 12, 27]
    if not sequential_like:
        header.append("Connected to")
    if show_trainable:
        header.append("Trainable")
        widths.append(10)
    if positions is not None and line_length is not None:
        cuts = [int(p * line_length) if p <= 1 else int(p) for p in positions]
        widths = [b - a for a, b in zip([0] + cuts[:-1], cuts)]
    for row in [line for group in rows for line in group] + [header]:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text) + 2)
    width = sum(widths) if line_length is None else max(line_length, sum(widths))

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * width)
    print_fn(_fmt_row(header, widths))
    print_fn("=" * width)
    for i, group in enumerate(rows):
        for line in group:
            print_fn(_fmt_row(line, widths))
        print_fn("=" * width if i == len(rows) - 1 else "_" * width)
    trainable = sum(w.value.size for w in model.trainable_weights)
    non_trainable = sum(w.value.size for w in model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * width)
