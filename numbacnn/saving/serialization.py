"""Architectures as Keras's JSON: ``model.to_json()``, ``model_from_json(text)``, ``get_config`` /
``from_config`` of models, and the compile settings beside them.

Written in Keras 3's form (``keras.saving.serialize_keras_object``)::

    {"module": "keras", "class_name": "Sequential", "registered_name": null,
     "config": {"name": "sequential", "trainable": true, "dtype": "float32", "layers": [
         {"module": "keras.layers", "class_name": "InputLayer", "config": {...}, "registered_name": null},
         {"module": "keras.layers", "class_name": "Conv2D", "config": {...}, "registered_name": null,
          "build_config": {"input_shape": [null, 28, 28, 1]}}, ...], "build_input_shape": [null, 28, 28, 1]},
     "build_config": {"input_shape": [null, 28, 28, 1]}, "compile_config": {...} (when compiled),
     "keras_version": "...", "backend": "numbacnn"}

A functional model is ``"class_name": "Functional"``; each of its layers also carries ``"name"`` and
``"inbound_nodes"`` (``[{"args": [{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [layer name, node index, tensor index]}}], "kwargs": {}}]``), and the config names
``"input_layers"`` and ``"output_layers"``. Whole-model HDF5 files hold the legacy form Keras writes there:
the same without "module", "registered_name" and "build_config".

Read: that form and Keras 2's (``{"class_name", "config"}``; a Sequential config that is a bare list of
layers; inbound nodes as ``[[["input_1", 0, 0, {}]]]``; ``batch_input_shape`` on layers; "Model" for a
functional model). Options that Keras has and numbacnn does not (``quantization_config``, ``renorm``,
``ragged``, ...) are dropped when they hold Keras's do-nothing value (None / False) and refused otherwise.

Safety: classes are looked up by name in :data:`LAYER_REGISTRY` (every layer class exported by
``numbacnn.layers``), among Sequential / Functional / Model, or in the caller's ``custom_objects``; nothing
named in a config is imported or evaluated.
"""

import inspect
import json
import warnings

import numpy as np

from .. import initializers
from .. import layers as layers_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..layers.base import _ALLOWED_BASE_KWARGS, InputLayer, Layer
from .hdf5 import BACKEND, KERAS_VERSION, keras_class_name

__all__ = ["LAYER_REGISTRY", "serialize_layer", "deserialize_layer", "model_config", "serialize_model",
           "model_to_json", "model_from_config", "model_from_json", "compile_config", "compile_from_config",
           "json_dumps"]

_MODEL_CLASS_NAMES = ("Sequential", "Functional", "Model")
_CODE_CLASS_NAMES = ("Lambda", "TFOpLambda", "__lambda__")  # configs that carry Python code
# Options that only mean something together with an option numbacnn refuses anyway.
_IGNORED_OPTIONS = frozenset({"renorm_momentum", "jit_compile", "is_legacy_optimizer"})


def _build_registry():
    registry = {}
    for name in layers_module.__all__:
        obj = getattr(layers_module, name)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj not in (
                Layer, layers_module.BaseConv, layers_module.Lambda):
            registry[name] = obj
    return registry


LAYER_REGISTRY = _build_registry()
"""{class name: class} of the layers a config may name (aliases such as MaxPool2D included)."""


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable: {value!r}")


def json_dumps(obj, **kwargs):
    """json.dumps that also writes numpy scalars and arrays."""
    return json.dumps(obj, default=_json_default, **kwargs)


# ----- writing --------------------------------------------------------------------------------------------
def _is_model(layer):
    from ..models import Model

    return isinstance(layer, Model)


def _shape(shape):
    return None if shape is None else [None if d is None else int(d) for d in shape]


def _history(tensor, node_index):
    layer, _, tensor_index = tensor._keras_history
    return [layer.name, node_index[id(tensor.node)], tensor_index]


def _tensor_entry(tensor, node_index):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": _shape(tensor.shape), "dtype": tensor.dtype,
                       "keras_history": _history(tensor, node_index)}}


def _io_entry(model, tensors, keys, node_index):
    """Keras's input_layers / output_layers: one triple, a list of them, or a dict by key."""
    triples = [_history(t, node_index) for t in tensors]
    if keys is False:
        return triples[0]
    return dict(zip(keys, triples)) if keys else triples


def _functional_config(model, legacy):
    nodes_of = {}
    for layer in model.layers:  # a layer's node index counts its calls within this model, as Keras's
        nodes_of[id(layer)] = [n for n in layer._inbound_nodes if any(n is m for m in model._nodes)]
    node_index = {id(n): i for nodes in nodes_of.values() for i, n in enumerate(nodes)}
    entries = []
    for layer in model.layers:
        entry = serialize_layer(layer, legacy=legacy)
        entry["name"] = layer.name
        inbound = []
        for n in nodes_of.get(id(layer), []):
            if n.is_input:
                continue
            args = [_tensor_entry(t, node_index) for t in n.inputs]
            inbound.append({"args": [args] if n.list_input else args, "kwargs": {}})
        entry["inbound_nodes"] = inbound
        entries.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": entries,
            "input_layers": _io_entry(model, model.inputs, model._input_keys, node_index),
            "output_layers": _io_entry(model, model.outputs, model._output_keys, node_index)}


def model_config(model, legacy=False):
    """The "config" part of a model's serialized form (what ``model.get_config()`` returns)."""
    if keras_class_name(model) != "Sequential":
        return _functional_config(model, legacy)
    entries = []
    if model.built:
        entries.append(serialize_layer(model.inputs[0].node.layer, legacy=legacy))
    entries.extend(serialize_layer(layer, legacy=legacy) for layer in model.layers)
    config = {"name": model.name, "trainable": model.trainable, "dtype": model.dtype, "layers": entries}
    if model.built:
        config["build_input_shape"] = _shape(model.inputs[0].shape)
    return config


def serialize_layer(layer, legacy=False):
    """A layer (or a nested model) as Keras serializes it; ``legacy`` gives whole-model files' form."""
    class_name = keras_class_name(layer)
    if _is_model(layer):
        config = model_config(layer, legacy=legacy)
        sequential = class_name == "Sequential"
        module, registered = ("keras", None) if sequential else ("keras.src.models.functional", "Functional")
        build = {"input_shape": _shape(layer.inputs[0].shape) if sequential and layer.built else None}
    else:
        config = {**layer.get_config(), **layer._weight_option_config()}
        module, registered = "keras.layers", None
        build = ({"input_shape": _shape(layer.input_shape)}
                 if layer.built and layer.weights and not isinstance(layer, InputLayer) else None)
    if legacy:
        return {"class_name": class_name, "config": config}
    out = {"module": module, "class_name": class_name, "config": config, "registered_name": registered}
    if build is not None:
        out["build_config"] = build
    return out


def serialize_model(model, legacy=False):
    """A model's whole serialized form: to_json's dict (``legacy``: a whole-model file's model_config)."""
    out = serialize_layer(model, legacy=legacy)
    if not legacy:
        compiled = compile_config(model)
        if compiled is not None:
            out["compile_config"] = compiled
        out["keras_version"] = KERAS_VERSION
        out["backend"] = BACKEND
    return out


def model_to_json(model, **kwargs):
    """``model.to_json()``: Keras 3's JSON of the architecture (``kwargs`` go to json.dumps)."""
    return json_dumps(serialize_model(model), **kwargs)


def _serialize_item(item, module, legacy):
    if item is None or isinstance(item, str):
        return item
    if isinstance(item, (list, tuple)):
        return [_serialize_item(i, module, legacy) for i in item]
    if isinstance(item, dict):  # per output name
        return {k: _serialize_item(v, module, legacy) for k, v in item.items()}
    if hasattr(item, "get_config"):
        out = module.serialize(item)
        return {"class_name": out["class_name"], "config": out["config"]} if legacy else out
    return getattr(item, "__name__", str(item))


def compile_config(model, legacy=False):
    """Keras 3's ``compile_config`` of a compiled model (``legacy``: Keras 2's ``training_config``, as in
    whole-model files); None when the model is not compiled."""
    settings = getattr(model, "_compile_config", None)
    optimizer = getattr(model, "optimizer", None)
    if settings is None or optimizer is None:
        return None
    loss = _serialize_item(settings["loss"], losses_module, legacy)
    metrics = _serialize_item(settings["metrics"], metrics_module, legacy)
    weighted = _serialize_item(settings.get("weighted_metrics"), metrics_module, legacy)
    loss_weights = settings.get("loss_weights")
    if legacy:
        return {"loss": loss, "metrics": metrics, "weighted_metrics": weighted, "loss_weights": loss_weights,
                "optimizer_config": {"class_name": type(optimizer).__name__,
                                     "config": optimizer.get_config()}}
    return {"optimizer": optimizers_module.serialize(optimizer), "loss": loss, "loss_weights": loss_weights,
            "metrics": metrics, "weighted_metrics": weighted, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


# ----- reading --------------------------------------------------------------------------------------------
def _constructor_keywords(cls, base_keywords=()):
    """Every keyword ``cls(...)`` accepts, following ``**kwargs`` up the class hierarchy."""
    names = set(base_keywords)
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())
        names.update(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if klass is Layer or not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    names.discard("self")
    return names


def _clean(cls, config, what, base_keywords=()):
    """``config`` without the options ``cls`` lacks that hold a do-nothing value; others are refused."""
    accepted = _constructor_keywords(cls, base_keywords)
    out = {}
    for key, value in config.items():
        if key in accepted:
            out[key] = value
        elif not (value is None or value is False or key in _IGNORED_OPTIONS):
            raise ValueError(f"{what}: numbacnn's {cls.__name__} has no option {key!r} "
                             f"(the config sets {key}={value!r})")
    return out


def _dtype_name(value):
    """A dtype from a config: a name, or Keras 3's DTypePolicy dict."""
    if isinstance(value, dict):
        return (value.get("config") or {}).get("name")
    return value


def _clean_initializer(value, what):
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    cls = type(initializers.get(value["class_name"]))
    return {"class_name": value["class_name"],
            "config": _clean(cls, dict(value.get("config") or {}), f"{what} initializer")}


def _lookup(class_name, registered_name, custom_objects):
    for key in (registered_name, class_name):
        if key is not None and key in custom_objects:
            return custom_objects[key]
    if class_name in LAYER_REGISTRY:
        return LAYER_REGISTRY[class_name]
    raise ValueError(f"Unknown layer class {class_name!r} in the model config; numbacnn knows "
                     f"{sorted(LAYER_REGISTRY)}; pass custom_objects={{{class_name!r}: YourLayerClass}} "
                     "for a layer of your own")


def deserialize_layer(entry, custom_objects=None):
    """A layer (or nested model) from its serialized dict, Keras 3's or Keras 2's form."""
    custom_objects = custom_objects or {}
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"A layer config must be a dict with a 'class_name', received {entry!r}")
    class_name = entry["class_name"]
    if class_name in _CODE_CLASS_NAMES and class_name not in custom_objects:
        raise ValueError(f"The model config has a {class_name} layer, whose Python code is stored in the "
                         "file; numbacnn never runs code from a file. Rebuild that part with numbacnn "
                         f"layers, or pass custom_objects={{{class_name!r}: YourLayerClass}} with a Layer "
                         "subclass")
    if class_name in _MODEL_CLASS_NAMES and class_name not in custom_objects:
        return model_from_config(entry, custom_objects)
    cls = _lookup(class_name, entry.get("registered_name"), custom_objects)
    config = dict(entry.get("config") or {})
    what = f'Layer "{config.get("name", "?")}" ({class_name})'
    if "dtype" in config:
        config["dtype"] = _dtype_name(config["dtype"])
    for key, value in config.items():
        if key.endswith("_initializer"):
            config[key] = _clean_initializer(value, what)
    return cls.from_config(_clean(cls, config, what, _ALLOWED_BASE_KWARGS))


def _sequential_from_config(config, entry, custom_objects):
    from ..models import Sequential

    if isinstance(config, list):  # Keras 2.0-2.2: the config is the list of layers
        config = {"layers": config}
    model = Sequential(name=config.get("name"), trainable=config.get("trainable", True),
                       dtype=_dtype_name(config.get("dtype")))
    for layer_entry in config.get("layers", []):
        model.add(deserialize_layer(layer_entry, custom_objects))
    shape = config.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
    if not model.built and shape is not None and model.layers:
        model.build(tuple(shape))
    return model


def _node_sources(node):
    """([(layer name, node index, tensor index)], called on a list) of a node, Keras 3's or Keras 2's form."""
    if isinstance(node, dict):
        args = node.get("args") or []
        as_list = len(args) == 1 and isinstance(args[0], list)
        sources = args[0] if as_list else args
        triples = [tuple(s["config"]["keras_history"][:3]) for s in sources]
    else:
        triples = [tuple(list(s)[:3]) for s in node]
        as_list = len(triples) > 1
    return [(name, int(i), int(j)) for name, i, j in triples], as_list


def _io_specs(spec):
    """input_layers / output_layers as ([(name, node, tensor)], keys): one triple, a list, or a dict."""
    if isinstance(spec, dict):
        keys = sorted(spec)
        return [tuple(spec[k][:3]) for k in keys], keys
    if spec and isinstance(spec[0], (list, tuple)):
        return [tuple(s[:3]) for s in spec], None
    return [tuple(spec[:3])], False


def _functional_from_config(config, custom_objects):
    from ..models import Model

    pending, outputs_of, made = [], {}, {}
    for entry in config.get("layers", []):
        layer = deserialize_layer(entry, custom_objects)
        name = entry.get("name") or layer.name
        calls = [_node_sources(node) for node in entry.get("inbound_nodes") or []]
        pending.append((name, layer, calls))
        made[name] = 0
        if isinstance(layer, InputLayer):
            outputs_of[(name, 0)] = [layer.output]
            made[name] = 1

    def tensor(source):
        name, node_index, tensor_index = source
        outs = outputs_of.get((name, node_index))
        if outs is None:
            return None
        if tensor_index >= len(outs):
            raise ValueError(f'The model config reads output {tensor_index} of layer "{name}", which gives '
                             f"{len(outs)}")
        return outs[tensor_index]

    progress = True
    while progress:
        progress = False
        for name, layer, calls in pending:
            while calls and all(tensor(s) is not None for s in calls[0][0]):
                sources, as_list = calls.pop(0)
                args = [tensor(s) for s in sources]
                out = layer(args if as_list else args[0])
                outputs_of[(name, made[name])] = out if isinstance(out, list) else [out]
                made[name] += 1
                progress = True
    waiting = [(name, calls[0][0]) for name, _, calls in pending if calls]
    if waiting:
        name, sources = waiting[0]
        missing = [s for s in sources if tensor(s) is None][0]
        raise ValueError(f'The model config cannot be connected: layer "{name}" takes node {missing[1]} of '
                         f'layer "{missing[0]}", which no layer of the config makes')
    io = []
    for key in ("input_layers", "output_layers"):
        specs, keys = _io_specs(config[key])
        tensors = [tensor((n, int(i), int(j))) for n, i, j in specs]
        if any(t is None for t in tensors):
            raise ValueError(f"The model config's {key} names a tensor that none of its layers makes")
        io.append(tensors[0] if keys is False else (dict(zip(keys, tensors)) if keys else tensors))
    return Model(inputs=io[0], outputs=io[1], name=config.get("name"),
                 trainable=config.get("trainable", True))


def model_from_config(entry, custom_objects=None):
    """A model from ``{"class_name": "Sequential" | "Functional" | "Model", "config": ...}`` (either form);
    compiled when the entry holds a ``compile_config``."""
    custom_objects = custom_objects or {}
    if not isinstance(entry, dict) or entry.get("class_name") not in _MODEL_CLASS_NAMES:
        found = entry.get("class_name") if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"Expected a Sequential or functional model config, received {found!r}")
    config = entry.get("config")
    if entry["class_name"] == "Sequential":
        model = _sequential_from_config(config, entry, custom_objects)
    else:
        model = _functional_from_config(config, custom_objects)
    if entry.get("compile_config"):
        try:
            compile_from_config(model, entry["compile_config"])
        except (ValueError, TypeError) as err:
            warnings.warn(f'Model "{model.name}" was rebuilt but not compiled: {err}', stacklevel=2)
    return model


def model_from_json(json_string, custom_objects=None):
    """A model from ``model.to_json()``'s text, or from JSON written by Keras 3 or Keras 2."""
    try:
        entry = json.loads(json_string)
    except json.JSONDecodeError as err:
        raise ValueError(f"model_from_json: the text is not valid JSON ({err})") from err
    try:
        return model_from_config(entry, custom_objects)
    except (KeyError, IndexError) as err:
        raise ValueError("model_from_json: the JSON is not a complete model architecture "
                         f"({type(err).__name__}: {err})") from err


def _from_registry(item, module, kind, base_keywords=()):
    """A loss / metric / optimizer from a string or a serialized dict, its config cleaned first."""
    if not isinstance(item, dict):
        return item
    class_name = item.get("class_name")
    if class_name == "MeanMetricWrapper":
        return module.get(item)
    cls = type(module.get(class_name))
    config = _clean(cls, dict(item.get("config") or {}), f"{kind} {class_name}", base_keywords)
    if config.get("decay") == 0:
        del config["decay"]
    return module.get({"class_name": class_name, "config": config})


def _single_output(value):
    """The entry of a one-output model from Keras 2's per-output list or {output name: value} dict."""
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], str):
        return value[0]
    if isinstance(value, dict) and "class_name" not in value and len(value) == 1:
        return next(iter(value.values()))
    return value


def _per_output_items(value, module, kind):
    """A loss or metrics entry of a several-output model: lists and dicts kept, each item rebuilt."""
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _per_output_items(v, module, kind) for k, v in value.items()}
    if isinstance(value, list):
        return [_per_output_items(v, module, kind) for v in value]
    return _from_registry(value, module, kind)


def compile_from_config(model, config):
    """``model.compile(...)`` from a compile_config (Keras 3) or training_config (Keras 2)."""
    optimizer = config.get("optimizer", config.get("optimizer_config")) or "rmsprop"
    optimizer = _from_registry(optimizer, optimizers_module, "optimizer", ("lr", "decay"))
    if model.built and len(model.outputs) > 1:
        model.compile(optimizer=optimizer,
                      loss=_per_output_items(config.get("loss"), losses_module, "loss"),
                      loss_weights=config.get("loss_weights"),
                      metrics=_per_output_items(config.get("metrics"), metrics_module, "metric"),
                      weighted_metrics=_per_output_items(config.get("weighted_metrics"), metrics_module,
                                                         "metric"))
        return
    loss = _single_output(config.get("loss"))
    if isinstance(loss, list) and len(loss) == 1:
        loss = loss[0]
    metrics = _single_output(config.get("metrics"))
    if isinstance(metrics, list) and metrics and all(isinstance(m, list) for m in metrics):
        metrics = [m for group in metrics for m in group]
    weighted = _single_output(config.get("weighted_metrics"))
    if isinstance(weighted, list) and weighted and all(isinstance(m, list) for m in weighted):
        weighted = [m for group in weighted for m in group]
    loss_weights = _single_output(config.get("loss_weights"))
    model.compile(optimizer=optimizer, loss=_from_registry(loss, losses_module, "loss"),
                  metrics=[_from_registry(m, metrics_module, "metric") for m in metrics or []] or None,
                  weighted_metrics=[_from_registry(m, metrics_module, "metric")
                                    for m in weighted or []] or None,
                  loss_weights=loss_weights if isinstance(loss_weights, (int, float)) else None)
