"""Keras 3's ``.keras`` files: ``model.save("m.keras")`` and ``load_model("m.keras")``, both ways with Keras.

A ``.keras`` file is a zip archive of three members (``keras/src/saving/saving_lib.py``)::

    metadata.json      {"keras_version": "3.15.1", "date_saved": "2026-12-02@07:16:48"}
    config.json        the model as serialize_keras_object writes it, with its compile_config
    model.weights.h5   the Keras 3 weights layout (layers/<key>/vars/<i>, optimizer/vars/<i>), as in
                       ``.weights.h5`` files (numbacnn.saving.hdf5)

Reading is safe: the configuration is JSON read with ``json.loads`` and classes come from numbacnn's
registry or ``custom_objects``; a ``Lambda`` layer (Python bytecode in the file) is refused, and nothing in
the archive is unpickled or executed. Members are read only when the archive declares sizes within limits,
so a zip bomb is refused before it is inflated. The write goes to a temporary file renamed into place.
"""

import datetime
import io
import json
import os
import shutil
import tempfile
import zipfile

import h5py

from .atomic import atomic_path, prepare_target
from .hdf5 import KERAS_VERSION, SaveFileError, check_links, load_keras3_weights, write_keras3_weights
from .serialization import json_dumps, model_from_config, serialize_model

__all__ = ["save_keras", "load_keras", "is_keras_file"]

_CONFIG_LIMIT = 64 * 2 ** 20  # config.json and metadata.json: far above any real architecture's JSON
_WEIGHTS = "model.weights.h5"
_DEFLATE_MAX_RATIO = 1100  # deflate expands a byte into at most 1032


def _weights_limit(model):
    """The most bytes ``model``'s weights file can honestly hold: its weights and an optimizer's slots
    (at most three per weight) with room to spare, plus HDF5's bookkeeping."""
    return 8 * sum(int(w.value.nbytes) for w in model.weights) + 64 * 2 ** 20


def is_keras_file(path):
    """True for a zip archive (a ``.keras`` file), whatever its name."""
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def save_keras(model, filepath, overwrite=True, include_optimizer=True):
    """``model`` (architecture, compile settings, weights, optimizer state) as a Keras 3 ``.keras`` file."""
    path = os.fspath(filepath)
    if not model.built:
        raise ValueError(f'Model "{model.name}" is not built yet: give the first layer an input_shape, start '
                         "with an Input, or call the model on data before saving it")
    config = serialize_model(model)
    for key in ("keras_version", "backend"):  # Keras keeps these in metadata.json, not in config.json
        config.pop(key, None)
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        if include_optimizer:
            write_keras3_weights(f, model)
        else:
            optimizer, model.optimizer = model.optimizer, None
            try:
                write_keras3_weights(f, model)
            finally:
                model.optimizer = optimizer
    path = prepare_target(path, overwrite)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr("metadata.json", json_dumps(metadata))
        archive.writestr("config.json", json_dumps(config))
        archive.writestr(_WEIGHTS, weights.getvalue(), compress_type=zipfile.ZIP_STORED)


def _member(path, archive, name, limit):
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise SaveFileError(f"{path}: the .keras archive has no {name} "
                            f"(members: {archive.namelist()})") from None
    if limit is not None and info.file_size > limit:
        raise SaveFileError(f"{path}: {name} declares {info.file_size:,} bytes, over the {limit:,} a .keras "
                            "member may have here; refusing to inflate it")
    return info


def _json_member(path, archive, name):
    info = _member(path, archive, name, _CONFIG_LIMIT)
    try:
        return json.loads(archive.read(info).decode("utf8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise SaveFileError(f"{path}: {name} is not valid JSON ({err})") from err


def _refuse_code(path, entry):
    """Walk a config and refuse what would need code from the file (Lambda's bytecode, functions)."""
    if isinstance(entry, dict):
        if entry.get("class_name") in ("Lambda", "__lambda__", "TFOpLambda"):
            raise SaveFileError(f"{path}: the model has a {entry.get('class_name')} layer, whose code is "
                                "stored in the file; numbacnn never runs code from a file. Rebuild that part "
                                "with numbacnn layers, or a Layer subclass passed in custom_objects")
        for value in entry.values():
            _refuse_code(path, value)
    elif isinstance(entry, list):
        for value in entry:
            _refuse_code(path, value)


def load_keras(filepath, custom_objects=None, compile=True):
    """The model of a ``.keras`` file written by numbacnn or Keras 3, compiled when it was (and
    ``compile``), with its weights and optimizer state."""
    path = os.fspath(filepath)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise SaveFileError(f"{path}: not a readable .keras (zip) file ({err})") from err
    with archive:
        _json_member(path, archive, "metadata.json")
        config = _json_member(path, archive, "config.json")
        _refuse_code(path, config)
        if not compile:
            config = {k: v for k, v in config.items() if k != "compile_config"}
        try:
            model = model_from_config(config, custom_objects)
        except (ValueError, TypeError, KeyError) as err:
            if isinstance(err, SaveFileError):
                raise
            raise SaveFileError(f"{path}: the model in config.json cannot be rebuilt: {err}") from err
        info = _member(path, archive, _WEIGHTS, _weights_limit(model))
        deflated = info.compress_type != zipfile.ZIP_STORED
        if deflated and info.file_size > _DEFLATE_MAX_RATIO * info.compress_size:
            raise SaveFileError(f"{path}: {_WEIGHTS} declares {info.file_size:,} bytes in "
                                f"{info.compress_size:,} compressed ones, more than deflate can give")
        with tempfile.TemporaryDirectory() as tmpdir:
            extracted = os.path.join(tmpdir, _WEIGHTS)
            with archive.open(info) as src, open(extracted, "wb") as dst:
                shutil.copyfileobj(src, dst, 2 ** 20)
            try:
                f = h5py.File(extracted, "r")
            except OSError as err:
                raise SaveFileError(f"{path}: {_WEIGHTS} inside it is not a readable HDF5 file "
                                    f"({err})") from err
            with f:
                check_links(f"{path} ({_WEIGHTS})", f)  # no soft or external links: nothing read elsewhere
                load_keras3_weights(f"{path} ({_WEIGHTS})", f, model)
    return model
