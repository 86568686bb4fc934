"""``model.summary()`` in the classic Keras layout that the seed programs print.

Columns widen to fit long names instead of cutting them ("max_pooling2d_1 (MaxPooling2D)").
"""

from ..layers.base import InputLayer, format_shape


def _is_chain(model):
    nodes = model._nodes
    return all(nodes[i].input is nodes[i - 1].output for i in range(1, len(nodes)))


def _fmt_row(fields, widths):
    line = ""
    for text, width in zip(fields, widths):
        line += str(text).ljust(width)
    return line.rstrip().ljust(sum(widths))


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    print_fn = print_fn or print
    sequential_like = _is_chain(model)
    nodes = [n for n in model._nodes if model._summary_shows_input or not isinstance(n.layer, InputLayer)]
    rows = []
    for node in nodes:
        layer = node.layer
        name = f"{layer.name} ({type(layer).__name__})"
        row = [name, format_shape(node.output.shape), f"{layer.count_params():,}"]
        if not sequential_like:
            row.append("" if node.input is None else f"{node.input._node.layer.name}[0][0]")
        if show_trainable:
            row.append("Y" if layer.trainable else "N")
        rows.append(row)

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
    for row in rows + [header]:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text) + 2)
    width = sum(widths) if line_length is None else max(line_length, sum(widths))

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * width)
    print_fn(_fmt_row(header, widths))
    print_fn("=" * width)
    for i, row in enumerate(rows):
        print_fn(_fmt_row(row, widths))
        print_fn("=" * width if i == len(rows) - 1 else "_" * width)
    trainable = sum(w.value.size for w in model.trainable_weights)
    non_trainable = sum(w.value.size for w in model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * width)
