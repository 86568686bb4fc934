"""Whole models in one HDF5 file: ``model.save("model.h5")`` and ``load_model("model.h5")``.

The layout is Keras 2's whole-model file (what tf.keras's ``save_model_to_hdf5`` and Keras 3's
``legacy_h5_format`` write)::

    attrs backend, keras_version
    attrs model_config      JSON {"class_name": "Sequential" | "Functional", "config": {...}} (legacy form)
    attrs training_config   JSON {"loss", "metrics", "weighted_metrics", "loss_weights",
                                  "optimizer_config": {"class_name", "config"}}   (when compiled)
    /model_weights          the Keras 2 weights layout (numbacnn.saving.hdf5)
    /optimizer_weights      attrs weight_names=["adam/iteration", "adam/learning_rate",
                            "adam/conv2d_kernel_momentum", ...]; one dataset per name, in Keras's order
                            (when the optimizer has taken a step)

A loaded model has the same architecture, weights, compile settings and optimizer state (iteration count,
learning rate, slots): training goes on exactly where the saved model stopped.
"""

import json
import os
import warnings

import h5py

from .atomic import atomic_path, prepare_target
from .hdf5 import (
    BACKEND,
    KERAS_VERSION,
    SaveFileError,
    load_keras2_weights,
    open_h5,
    read_optimizer_state,
    read_string_list,
    write_keras2_weights,
    write_string_list,
)
from .keras_file import is_keras_file, load_keras, save_keras
from .optimizer_state import keras_state, set_keras_state
from .serialization import compile_config, compile_from_config, json_dumps, model_from_config, serialize_model

__all__ = ["save_model", "load_model"]


def _check_name(path):
    if not path.endswith((".h5", ".hdf5")):
        raise ValueError(f"model.save: the file name must end in .keras (Keras 3's format) or .h5 / .hdf5 "
                         f"(Keras 2's HDF5 format), received {path!r}")


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Architecture, weights, compile settings and optimizer state of ``model`` in one file: a Keras 3
    ``.keras`` archive, or Keras 2's whole-model HDF5 for ``.h5`` / ``.hdf5``."""
    path = os.fspath(filepath)
    if path.endswith(".keras"):
        save_keras(model, path, overwrite=overwrite, include_optimizer=include_optimizer)
        return
    _check_name(path)
    if not model.built:
        raise ValueError(f'Model "{model.name}" is not built yet: give the first layer an input_shape, start '
                         "with an Input, or call the model on data before saving it")
    path = prepare_target(path, overwrite)
    training = compile_config(model, legacy=True)
    optimizer = getattr(model, "optimizer", None)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["backend"] = BACKEND.encode("utf8")
        f.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
        f.attrs["model_config"] = json_dumps(serialize_model(model, legacy=True)).encode("utf8")
        if training is not None:
            f.attrs["training_config"] = json_dumps(training).encode("utf8")
        write_keras2_weights(f.create_group("model_weights"), model)
        if include_optimizer and optimizer is not None and optimizer.built:
            names, arrays = keras_state(optimizer)
            group = f.create_group("optimizer_weights")
            write_string_list(group, "weight_names", names)
            for name, array in zip(names, arrays):
                group.create_dataset(name, data=array)


def _json_attr(path, f, name):
    raw = f.attrs[name]
    text = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SaveFileError(f"{path}: the {name} attribute is not valid JSON ({err}); the file is "
                            "corrupted") from err


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model saved by ``model.save`` (or by Keras, as .keras or .h5), compiled when it was.

    Nothing in the file is executed: the architecture is JSON read with json.loads, the layer classes come
    from numbacnn's registry or ``custom_objects`` (``safe_mode`` is accepted for Keras compatibility;
    numbacnn is always safe).
    """
    path = os.fspath(filepath)
    if is_keras_file(path):
        return load_keras(path, custom_objects=custom_objects, compile=compile)
    with open_h5(path) as f:
        if "model_config" not in f.attrs:
            raise SaveFileError(f"{path}: no model_config attribute, so it is not a whole-model file (a "
                                "weights file? build the model and call model.load_weights)")
        try:
            model = model_from_config(_json_attr(path, f, "model_config"), custom_objects)
        except (ValueError, TypeError, KeyError) as err:
            if isinstance(err, SaveFileError):
                raise
            raise SaveFileError(f"{path}: the model_config cannot be rebuilt: {err}") from err
        if "model_weights" not in f:
            raise SaveFileError(f"{path}: the model_weights group is missing (the file is corrupted)")
        load_keras2_weights(path, f["model_weights"], model)
        if compile and "training_config" in f.attrs:
            try:
                compile_from_config(model, _json_attr(path, f, "training_config"))
            except (ValueError, TypeError) as err:
                if isinstance(err, SaveFileError):
                    raise
                warnings.warn(f"{path}: the model was loaded but not compiled: {err}", stacklevel=2)
                return model
            if "optimizer_weights" in f:
                _load_optimizer(path, f["optimizer_weights"], model)
    return model


def _load_optimizer(path, group, model):
    optimizer = model.optimizer
    names = read_string_list(group, "weight_names")
    missing = [name for name in names if name not in group]
    if missing:
        raise SaveFileError(f"{path}: optimizer weight {missing[0]!r} is listed but missing (the file is "
                            "corrupted)")
    optimizer.build(model.trainable_weights)
    problem, arrays = read_optimizer_state(path, optimizer, [group[name] for name in names],
                                           [f"optimizer weight {name!r}" for name in names])
    if problem is None:
        problem = set_keras_state(optimizer, arrays)
    if problem is not None:
        warnings.warn(f"{path}: the optimizer starts afresh, its saved state does not fit: {problem}",
                      stacklevel=3)
