"""An optimizer's state in the order Keras 3 keeps its variables, for files Keras can read back.

numbacnn's ``optimizer.variables`` is ``[iteration, learning_rate, *slot blocks, *extra scalars]`` with one
block per slot name (every weight's momentum, then every weight's velocity); the learning rate is left out
when it is a schedule or a callable, as Keras does. Keras creates each call of
``add_optimizer_variables(var_list, names)`` interleaved per weight, so Adam's state is
``[iteration, learning_rate, m(w0), v(w0), m(w1), v(w1), ...]`` (then ``velocity_hat`` per weight with
amsgrad); with ``use_ema`` every weight's ``average`` comes first, then with ``gradient_accumulation_steps``
every ``gradient_accumulator``; Nadam's running product ends the list. The optimizer's
``_keras_groups()`` names the calls.
"""

import numpy as np

__all__ = ["expected_shapes", "keras_state", "set_keras_state"]


def _keras_order(optimizer):
    """Indices into ``optimizer.variables``, in Keras 3's order."""
    count = len(optimizer.variables)
    n_head = len(optimizer._head())
    n_extra = len(optimizer._extra_variables())
    slots = list(optimizer._slot_names()) if optimizer.built else []
    n = (count - n_head - n_extra) // len(slots) if slots else 0
    order = list(range(n_head))
    for group in (optimizer._keras_groups() if slots else ()):
        order.extend(n_head + slots.index(s) * n + i for i in range(n) for s in group)
    order.extend(range(count - n_extra, count))
    if len(order) != count or sorted(order) != list(range(count)):
        raise ValueError(f"Optimizer {optimizer.name!r}: {count} variables do not split into "
                         f"{len(slots)} slots of the same number of weights")
    return order


def keras_state(optimizer):
    """(names, arrays) of the optimizer's variables in Keras's order; names like "adam/iteration"."""
    order = _keras_order(optimizer)
    names, values = optimizer.variable_names, optimizer.get_state()
    return [f"{optimizer.name}/{names[i]}" for i in order], [values[i] for i in order]


def expected_shapes(optimizer, count):
    """The shapes ``count`` saved variables must have to fit ``optimizer``, in Keras's order (None for the
    iteration and a numeric learning rate: one value each), or a string saying why ``count`` does not fit.
    Lets a loader check a file's declared shapes before reading its data."""
    n_head = len(optimizer._head())
    if count == n_head and not optimizer.built:
        return [None] * n_head
    order = _keras_order(optimizer)
    if count != len(order):
        hint = "" if optimizer.built else " (it is not built yet: it gets its variables at its first step)"
        return (f"the file holds {count} optimizer variables, optimizer {optimizer.name!r} has "
                f"{len(order)}{hint}")
    current = optimizer.variables
    return [None if index < n_head else tuple(current[index].shape) for index in order]


def set_keras_state(optimizer, arrays):
    """Put back arrays in Keras's order; returns None, or why they do not fit (nothing is changed then).

    The scalars alone (iteration and a numeric learning rate, what an optimizer that never stepped saves)
    fit an unbuilt optimizer; more fit an optimizer built on weights of the same shapes.
    """
    arrays = [np.asarray(a) for a in arrays]
    n_head = len(optimizer._head())
    if len(arrays) == n_head and not optimizer.built:
        optimizer.iterations = int(arrays[0])
        if n_head == 2:
            optimizer.learning_rate = float(arrays[1])
        return None
    order = _keras_order(optimizer)
    if len(arrays) != len(order):
        hint = "" if optimizer.built else " (it is not built yet: it gets its variables at its first step)"
        return (f"the file holds {len(arrays)} optimizer variables, optimizer {optimizer.name!r} has "
                f"{len(order)}{hint}")
    current = optimizer.variables
    values = [None] * len(order)
    for array, index in zip(arrays, order):
        if index >= n_head and array.shape != current[index].shape:
            return (f"optimizer variable {optimizer.variable_names[index]!r} has shape {array.shape} in the "
                    f"file and {current[index].shape} in the optimizer")
        values[index] = array
    optimizer.set_state([np.reshape(v, ()) if i < n_head else v for i, v in enumerate(values)])
    return None
