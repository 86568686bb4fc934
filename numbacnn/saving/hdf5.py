"""Model weights in HDF5, in Keras's two layouts, so that files move both ways between numbacnn and Keras.

Keras 3 (``*.weights.h5``), as ``keras/src/saving/saving_lib.py`` (``H5IOStore``) writes it::

    /vars                          attrs name=<model name>; empty (a model owns no variables itself)
    /layers/<key>/vars/0, 1, ...   one group per entry of model.layers; <key> is the Keras class name in
                                   snake_case, made unique in order (conv2d, conv2d_1, dense, ...);
                                   attrs name=<layer name>; the weights in layer.weights order
    /layers/<key>/layers/...       a nested model: the same structure again
    /optimizer/vars/0, 1, ...      when compiled: iteration, learning_rate, the slots in Keras's order
                                   (loaded into a compiled model, its optimizer built on the trainable
                                   weights first if it has not stepped yet; a misfit only warns)

Keras 2 (any other ``*.h5`` / ``*.hdf5``), as tf.keras's ``save_weights_to_hdf5_group`` writes it::

    attrs layer_names=[every layer name, model order], backend, keras_version
    /<layer name>                  attrs weight_names=["conv2d/kernel:0", "conv2d/bias:0"]
    /<layer name>/conv2d/kernel:0  one dataset per weight name (a nested model holds all of its weights)

A whole-model file (``model.save``) keeps the Keras 2 layout under ``/model_weights``.

Loading reads either layout, whatever the file name. Keras 3 files are matched as Keras 3 matches them,
by the keys above (i.e. by the order of the layers of each class); Keras 2 files by the order of the
layers that have weights, or by layer name with ``by_name=True`` (then layers missing from the file keep
their weights). ``skip_mismatch=True`` skips, with a warning, the layers whose weights do not fit (and,
as Keras 3 does, those a Keras 3 file lacks; a Keras 2 file with another number of layers still raises).
Every shape is checked before anything is assigned, so a failed load changes nothing.
"""

import contextlib
import errno
import os
import warnings

import h5py
import numpy as np

from ..layers.base import to_snake_case
from .atomic import atomic_path, prepare_target
from .optimizer_state import expected_shapes, keras_state, set_keras_state

__all__ = ["SaveFileError", "BACKEND", "KERAS_VERSION", "open_h5", "save_weights", "load_weights",
           "write_keras2_weights", "load_keras2_weights", "write_string_list", "read_string_list"]

BACKEND = "numbacnn"
# The Keras release whose files these layouts were checked against (tests/data/make_keras_saving_fixtures.py).
KERAS_VERSION = "3.15.1"
_HDF5_OBJECT_HEADER_LIMIT = 64512
_NUMERIC_KINDS = "fiu"  # what a weight can be read from: floats, signed and unsigned integers


class SaveFileError(ValueError):
    """A saved file that cannot be read (not HDF5, truncated, corrupted, not a Keras layout) or whose
    content does not fit the model (layer count, weight count, shapes). The message starts with the file."""


# ----- files ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def open_h5(filepath):
    """Open an HDF5 file for reading; low-level read errors become SaveFileError naming the file.

    A missing file raises FileNotFoundError.
    """
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "No such file", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory, not a saved file", path)
    if not h5py.is_hdf5(path):
        with open(path, "rb") as fh:
            zipped = fh.read(4) == b"PK\x03\x04"
        hint = (" (it is a zip archive such as Keras's .keras format, which numbacnn does not read: save "
                "from Keras with model.save('model.h5') or model.save_weights('model.weights.h5'))"
                if zipped else "")
        raise SaveFileError(f"{path}: not an HDF5 file{hint}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise SaveFileError(f"{path}: cannot open the HDF5 file, it is truncated or corrupted "
                            f"({err})") from err
    try:
        check_links(path, f)
        yield f
    except (OSError, RuntimeError) as err:
        raise SaveFileError(f"{path}: cannot read the file, it is truncated or corrupted ({err})") from err
    finally:
        f.close()


def check_links(path, f):
    """Refuse a file holding soft, external or user-defined links anywhere (a weights file needs none, and
    an external link would make loading read another file)."""
    found = []

    def visit(name, link):
        if not isinstance(link, h5py.HardLink):
            found.append((name, link))
            return True  # stops the walk
        return None

    f.visititems_links(visit)
    if found:
        name, link = found[0]
        target = getattr(link, "filename", None) or getattr(link, "path", None)
        arrow = f" -> {target!r}" if target else ""
        raise SaveFileError(f"{path}: {type(link).__name__} {name!r}{arrow}: numbacnn loads weights only "
                            "from datasets stored in the file itself")


def dataset_problem(dataset, what, shape=None, dtype=None):
    """Why ``dataset`` cannot be loaded, found without reading a byte of its data, or None: it is not
    stored in the file itself (external storage, a virtual dataset), it is not numbers, it has another
    ``shape`` than expected, or it declares more data than the file holds. ``what`` names it (the layer
    and weight); ``dtype`` is what the model expects, for the message."""
    if not isinstance(dataset, h5py.Dataset):
        return f"{what} is a {type(dataset).__name__}, not a dataset (the file is corrupted)"
    if dataset.is_virtual:
        return (f"{what} is a virtual dataset (its data lives in other files); numbacnn loads weights only "
                "from datasets stored in the file itself")
    if dataset.external:
        files = ", ".join(repr(entry[0]) for entry in dataset.external)
        return (f"{what} has external storage in {files}; numbacnn loads weights only from datasets stored "
                "in the file itself")
    if dataset.dtype.kind not in _NUMERIC_KINDS:
        expected = np.dtype(dtype).name if dtype is not None else "numbers"
        return f"{what} has type {dataset.dtype} in the file, the model expects {expected} (float or integer)"
    if shape is not None and tuple(dataset.shape) != tuple(shape):
        return f"{what} has shape {tuple(dataset.shape)} in the file, the model expects {tuple(shape)}"
    offset = dataset.id.get_offset()  # None unless stored contiguously (and allocated)
    if offset is not None and offset + dataset.nbytes > os.path.getsize(dataset.file.filename):
        return (f"{what} of shape {tuple(dataset.shape)} declares {dataset.nbytes} bytes at offset {offset}, "
                "past the end of the file (it is truncated)")
    return None


def check_dataset(path, dataset, what, shape=None, dtype=None):
    """Raise SaveFileError naming the file when :func:`dataset_problem` finds one."""
    problem = dataset_problem(dataset, what, shape, dtype)
    if problem is not None:
        raise SaveFileError(f"{path}: {problem}")


def _read(path, dataset, what, dtype=None):
    """The dataset's values (as ``dtype``); a read error becomes a SaveFileError naming ``what``."""
    try:
        array = np.asarray(dataset[()])
    except (OSError, RuntimeError, ValueError, TypeError) as err:
        raise SaveFileError(f"{path}: cannot read {what} ({err}); the file is truncated or "
                            "corrupted") from err
    return array if dtype is None else array.astype(dtype, copy=False)


def write_string_list(group, name, values):
    """A list of strings as an attribute (bytes, as Keras writes them), split into ``name0``, ``name1``...
    when larger than an HDF5 object header allows."""
    data = [v.encode("utf8") for v in values]
    array = np.asarray(data)
    chunks = 1
    while array.size and max(c.nbytes for c in np.array_split(array, chunks)) > _HDF5_OBJECT_HEADER_LIMIT:
        chunks += 1
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, chunk in enumerate(np.array_split(array, chunks)):
            group.attrs[f"{name}{i}"] = chunk


def read_string_list(group, name):
    """The attribute written by :func:`write_string_list` (whole or in chunks); [] when absent."""
    if name in group.attrs:
        raw = list(group.attrs[name])
    else:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw.extend(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in raw]


def _has_string_list(group, name):
    return name in group.attrs or f"{name}0" in group.attrs


# ----- models, as Keras sees them ---------------------------------------------------------------------------
def _is_model(layer):
    from ..models import Model

    return isinstance(layer, Model)


def keras_class_name(layer):
    """The Keras class a layer is saved as: "Sequential", "Functional" for a functional Model, or the
    layer's class name."""
    from ..models import Model, Sequential

    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Model):
        return "Functional"
    return type(layer).__name__


def _keras3_keys(layers):
    """Keras 3's container keys: snake_case class names, the n-th repeat suffixed _n."""
    used, keys = {}, []
    for layer in layers:
        base = to_snake_case(keras_class_name(layer))
        if base in used:
            used[base] += 1
            keys.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            keys.append(base)
    return keys


def _legacy_weights(layer):
    """Keras 2's order: trainable weights, then the others (Keras's ``_legacy_weights``)."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _label(layer):
    return f'layer "{layer.name}" ({type(layer).__name__})'


# ----- writing ----------------------------------------------------------------------------------------
def _write_keras3_container(group, model):
    for layer, key in zip(model.layers, _keras3_keys(model.layers)):
        layer_group = group.create_group(f"layers/{key}")
        variables = layer_group.create_group("vars")
        variables.attrs["name"] = layer.name
        if _is_model(layer):
            _write_keras3_container(layer_group, layer)
        else:
            for i, w in enumerate(layer.weights):
                variables.create_dataset(str(i), data=w.numpy())


def write_keras3_weights(f, model):
    """The Keras 3 layout of ``model`` (and of its optimizer, when compiled) into the open file ``f``."""
    f.create_group("vars").attrs["name"] = model.name
    _write_keras3_container(f, model)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables = f.create_group("optimizer/vars")
        variables.attrs["name"] = optimizer.name
        for i, array in enumerate(keras_state(optimizer)[1]):
            variables.create_dataset(str(i), data=array)


def write_keras2_weights(group, model):
    """The Keras 2 layout of ``model``'s weights into ``group`` (a file or /model_weights)."""
    write_string_list(group, "layer_names", [layer.name for layer in model.layers])
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for layer in sorted(model.layers, key=lambda la: la.name):
        layer_group = group.create_group(layer.name)
        weights = _legacy_weights(layer)
        names = [f"{w.layer.name}/{w.name}:0" for w in weights]
        write_string_list(layer_group, "weight_names", names)
        for name, w in zip(names, weights):
            layer_group.create_dataset(name, data=w.numpy())


def _weights_layout(filepath):
    path = os.fspath(filepath)
    if path.endswith(".weights.h5"):
        return "keras3"
    if path.endswith((".h5", ".hdf5")):
        return "keras2"
    raise ValueError(f"save_weights: the file name must end in .weights.h5 (Keras 3 layout) or .h5 / .hdf5 "
                     f"(Keras 2 layout), received {path!r}")


def save_weights(model, filepath, overwrite=True):
    """Write ``model``'s weights to ``filepath`` (layout from the name), atomically."""
    layout = _weights_layout(filepath)
    if not model.built:
        raise ValueError(f'Model "{model.name}" is not built yet, so it has no weights to save: give the '
                         "first layer an input_shape, start with an Input, or call the model on data first")
    path = prepare_target(filepath, overwrite)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        if layout == "keras3":
            write_keras3_weights(f, model)
        else:
            write_keras2_weights(f, model)


# ----- matching a file to a model ----------------------------------------------------------------------
class _Match:
    """The datasets of the file for one layer's weights (not read yet)."""

    __slots__ = ("layer", "weights", "arrays")

    def __init__(self, layer, weights, arrays):
        self.layer, self.weights, self.arrays = layer, weights, arrays


def _what(w):
    return f"{_label(w.layer)}: weight {w.name!r}"


def _problem(match):
    """Why a match does not fit the model (the weight count or a shape), or None. Problems of the file
    itself (storage, type, size) are raised whatever ``skip_mismatch`` says, by ``_check_storage``."""
    if len(match.arrays) != len(match.weights):
        return (f"{_label(match.layer)} has {len(match.weights)} weights, the file holds "
                f"{len(match.arrays)} for it")
    for w, dataset in zip(match.weights, match.arrays):
        if tuple(dataset.shape) != tuple(w.shape):
            return (f"{_what(w)} has shape {tuple(dataset.shape)} in the file, the model expects "
                    f"{tuple(w.shape)}")
    return None


def _check_storage(path, matches):
    for match in matches:
        for w, dataset in zip(match.weights, match.arrays):
            check_dataset(path, dataset, _what(w), dtype=w.value.dtype)


def _assign(path, matches, skip_mismatch):
    """Check every dataset (storage, type, shape), then read all that fit, then assign them: a file that
    does not fit, or that cannot be read, raises before any weight changes (a shape mismatch is skipped
    with a warning instead under ``skip_mismatch``)."""
    _check_storage(path, matches)
    keep = []
    for match in matches:
        problem = _problem(match)
        if problem is None:
            keep.append(match)
        elif skip_mismatch:
            warnings.warn(f"{path}: skipping the weights of {_label(match.layer)}: {problem}", stacklevel=5)
        else:
            raise SaveFileError(f"{path}: {problem}")
    values = [[_read(path, d, _what(w), w.value.dtype) for w, d in zip(m.weights, m.arrays)] for m in keep]
    for match, arrays in zip(keep, values):
        for w, array in zip(match.weights, arrays):
            w.assign(array)


def _count_error(path, saved, layers):
    return SaveFileError(
        f"{path}: layer count mismatch: the file holds weights for {len(saved)} layers ({', '.join(saved)}), "
        f"the model has {len(layers)} layers with weights ({', '.join(la.name for la in layers)})")


def _keras2_root(f):
    if _has_string_list(f, "layer_names"):
        return f
    if "model_weights" in f and isinstance(f["model_weights"], h5py.Group):
        return f["model_weights"]
    return None


def _keras2_entries(path, root):
    """[(layer name, [arrays])] of the layers with weights, in file order."""
    entries = []
    for name in read_string_list(root, "layer_names"):
        if name not in root:
            raise SaveFileError(f"{path}: layer {name!r} is listed in layer_names but has no group "
                                "(the file is corrupted)")
        group = _subgroup(root, name)
        if group is None:
            raise SaveFileError(f"{path}: {name!r} is listed in layer_names but is not a group (the file is "
                                "corrupted)")
        arrays = []
        for weight_name in read_string_list(group, "weight_names"):
            if weight_name not in group:
                raise SaveFileError(f"{path}: weight {weight_name!r} of layer {name!r} is missing "
                                    "(the file is corrupted)")
            arrays.append(group[weight_name])
        if arrays:
            entries.append((name, arrays))
    return entries


def load_keras2_weights(path, root, model, skip_mismatch=False, by_name=False):
    """Load the Keras 2 layout under ``root`` into ``model`` (by order, or by name)."""
    entries = _keras2_entries(path, root)
    layers = [layer for layer in model.layers if _legacy_weights(layer)]
    if by_name:
        saved = dict(entries)
        matches = [_Match(la, _legacy_weights(la), saved[la.name]) for la in layers if la.name in saved]
    else:
        if len(entries) != len(layers):
            raise _count_error(path, [name for name, _ in entries], layers)
        matches = [_Match(la, _legacy_weights(la), arrays) for la, (_, arrays) in zip(layers, entries)]
    _assign(path, matches, skip_mismatch)


def _subgroup(group, name):
    """``group[name]`` when it is a group, else None: a dataset where the layout has a group is never
    iterated (that would read its data)."""
    if not isinstance(group, h5py.Group):
        return None
    child = group.get(name)
    return child if isinstance(child, h5py.Group) else None


def _keras3_container(group):
    for name in ("layers", "_layer_checkpoint_dependencies"):  # the second: files of Keras 2.13
        container = _subgroup(group, name)
        if container is not None:
            return container
    return None


def _vars_arrays(group):
    variables = _subgroup(group, "vars") if group is not None else None
    if variables is None:
        return []
    return [variables[key] for key in sorted((k for k in variables if k.isdigit()), key=int)]


def _attr_text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _weighted_leaves(group):
    """Names of the groups with stored variables under ``group``'s layers (nested models walked)."""
    container = _keras3_container(group)
    if container is None:
        return []
    found = []
    for key in container:
        variables = _subgroup(container[key], "vars")
        if variables is not None and len(variables):
            found.append(_attr_text(variables.attrs.get("name", key)))
        found.extend(_weighted_leaves(container[key]))
    return found


def _keras3_matches(group, model, matches):
    """Append a match for every layer with weights of ``model`` (nested models walked)."""
    container = _keras3_container(group)
    for layer, key in zip(model.layers, _keras3_keys(model.layers)):
        child = _subgroup(container, key) if container is not None else None
        if _is_model(layer):
            if child is not None:
                _keras3_matches(child, layer, matches)
            else:
                matches.extend(_Match(leaf, leaf.weights, []) for leaf in _weighted_layers(layer))
        elif layer.weights:
            matches.append(_Match(layer, layer.weights, _vars_arrays(child)))


def _weighted_layers(model):
    out = []
    for layer in model.layers:
        if _is_model(layer):
            out.extend(_weighted_layers(layer))
        elif layer.weights:
            out.append(layer)
    return out


def _keras3_names(path, f):
    """{layer name: group} of the top-level layers, from the names Keras 3 records beside the variables."""
    container = _keras3_container(f)
    named = {}
    for key in container if container is not None else []:
        child = container[key]
        variables = _subgroup(child, "vars")
        name = variables.attrs.get("name") if variables is not None else None
        if name is None:
            raise SaveFileError(f"{path}: this Keras 3 weights file does not record layer names, so it "
                                "cannot be loaded by_name; load it by structure (by_name=False)")
        named[_attr_text(name)] = child
    return named


def load_keras3_weights(path, f, model, skip_mismatch=False, by_name=False):
    """Load the Keras 3 layout of the open file ``f`` into ``model`` (and its optimizer's state)."""
    matches = []
    if by_name:
        named = _keras3_names(path, f)
        for layer in model.layers:
            child = named.get(layer.name)
            if child is None:
                continue
            if _is_model(layer):
                _keras3_matches(child, layer, matches)
            elif layer.weights:
                matches.append(_Match(layer, layer.weights, _vars_arrays(child)))
    else:
        saved = _weighted_leaves(f)
        layers = _weighted_layers(model)
        _keras3_matches(f, model, matches)
        missing = [m.layer for m in matches if not m.arrays]
        if not skip_mismatch and (len(saved) != len(layers) or missing):
            error = _count_error(path, saved, layers)
            if missing:
                error = SaveFileError(f"{error}; the file has no weights for "
                                      f"{', '.join(_label(la) for la in missing)}")
            raise error
    _assign(path, matches, skip_mismatch)
    _load_optimizer_vars(path, f, model)


def _load_optimizer_vars(path, f, model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or "optimizer" not in f:
        return
    datasets = _vars_arrays(f["optimizer"])
    if len(datasets) > len(optimizer._head()) and not optimizer.built:  # compiled, never stepped: build it
        optimizer.build(model.trainable_weights)
    problem, arrays = read_optimizer_state(path, optimizer, datasets, [f"optimizer variable {i}"
                                                                       for i in range(len(datasets))])
    if problem is None:
        problem = set_keras_state(optimizer, arrays)
    if problem is not None:
        warnings.warn(f"{path}: the optimizer state was not loaded: {problem}", stacklevel=5)


def read_optimizer_state(path, optimizer, datasets, names):
    """``(problem, arrays)``: the optimizer's saved variables, each dataset checked as weights are (storage,
    type, and its shape against the optimizer's before it is read); ``problem`` says why they do not fit
    (then nothing is read). A file that is not safe to read raises SaveFileError."""
    shapes = expected_shapes(optimizer, len(datasets))
    for name, dataset in zip(names, datasets):
        check_dataset(path, dataset, name)
    if isinstance(shapes, str):
        return shapes, None
    for name, dataset, shape in zip(names, datasets, shapes):
        fits = dataset.size == 1 if shape is None else tuple(dataset.shape) == tuple(shape)
        if not fits:
            return (f"{name} has shape {tuple(dataset.shape)} in the file, the optimizer expects "
                    f"{'one value' if shape is None else tuple(shape)}"), None
    return None, [_read(path, d, name) for name, d in zip(names, datasets)]


def load_weights(model, filepath, skip_mismatch=False, by_name=False):
    """Load weights saved by numbacnn or Keras (either layout, or a whole-model file) into ``model``."""
    if not model.built:
        raise ValueError(f'Model "{model.name}" is not built yet: build it (input_shape on the first layer, '
                         "an Input, or a call on data) before loading weights into it")
    path = os.fspath(filepath)
    with open_h5(path) as f:
        root = _keras2_root(f)
        if root is not None:
            load_keras2_weights(path, root, model, skip_mismatch=skip_mismatch, by_name=by_name)
        elif _keras3_container(f) is not None or "vars" in f:
            load_keras3_weights(path, f, model, skip_mismatch=skip_mismatch, by_name=by_name)
        else:
            raise SaveFileError(f"{path}: an HDF5 file without Keras weights (neither the Keras 3 layout "
                                "with /layers nor the Keras 2 one with a layer_names attribute)")
