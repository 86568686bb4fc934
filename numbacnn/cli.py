"""The command line: ``python -m numbacnn {train,evaluate,predict,summary,gui} ...`` (or ``numbacnn ...``).

The subcommands only parse arguments and call the functions of this module, which scripts can call too:

    from numbacnn import cli
    model = cli.build_model("fashion_cnn", input_shape=(28, 28, 1), num_classes=10)
    (x, y), (x_test, y_test) = cli.load_dataset("fashion_mnist", limit=1000)
    cli.compile_model(model, y, optimizer="adam")

Exit codes: 0 success, 2 bad arguments (one line on stderr), 1 a failure while running (one line, plus
what a data set error says about where to put the files); ``--debug`` shows the traceback instead.
"""

import argparse
import inspect
import math
import struct
import sys
import traceback
import zlib
from pathlib import Path

import numpy as np

from . import applications, backend, datasets, models, utils
from . import optimizers as optimizers_module
from .models.trainer import split_validation
from .utils import plotting

DATASETS = {"fashion_mnist": datasets.fashion_mnist, "mnist": datasets.mnist, "cifar10": datasets.cifar10}
"""The data sets the command line knows, by name."""

IMAGE_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
"""Each data set's image shape as models see it (a channel axis added to the 28x28 sets)."""

OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")


class UsageError(ValueError):
    """A bad argument found after parsing (unknown model, missing file, ...): exit code 2."""


# ----- data ----------------------------------------------------------------------------------------------
def to_float_images(x):
    """uint8 images (N,H,W) or (N,H,W,C) -> float32 in [0, 1] with a channel axis (N,H,W,C)."""
    x = np.asarray(x)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return x[..., None] if x.ndim == 3 else x


def load_dataset(name, data_dir=None, limit=None, download=True):
    """``((x_train, y_train), (x_test, y_test))`` of data set ``name``, images as :func:`to_float_images`.

    ``limit`` keeps the first ``limit`` training and the first ``limit`` test samples. Labels are as
    ``load_data`` gives them. Raises DatasetNotFoundError (saying where to put the files) when absent.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be a positive number of samples, received {limit}")
    (x, y), (x_test, y_test) = DATASETS[name].load_data(data_dir=data_dir, download=download)
    sl = slice(None, limit)
    return (to_float_images(x[sl]), y[sl]), (to_float_images(x_test[sl]), y_test[sl])


def class_names(dataset, num_classes):
    """The data set's class names when it has ``num_classes`` of them, else "class 0", "class 1", ..."""
    names = getattr(DATASETS.get(dataset), "CLASS_NAMES", ())
    return tuple(names) if len(names) == num_classes else tuple(f"class {i}" for i in range(num_classes))


def fit_to_input(x, input_shape, what="the data"):
    """``x`` (N, ...) reshaped to the model's input shape (None, ...) when the sizes agree (e.g. images fed
    to a flat Dense input); a ValueError naming both shapes otherwise."""
    target = tuple(input_shape[1:])
    if tuple(x.shape[1:]) == target:
        return x
    if math.prod(x.shape[1:]) == math.prod(target):
        return x.reshape((len(x),) + target)
    raise ValueError(f"{what}: shape {_shape(x.shape[1:])} does not fit the model input shape "
                     f"{_shape(input_shape)}")


def loss_for_labels(y):
    """The loss that fits the labels: sparse categorical cross-entropy for integer class ids (N,) or
    (N, 1), categorical cross-entropy for one-hot rows (N, K)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return "categorical_crossentropy"
    return "sparse_categorical_crossentropy"


def _shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# ----- models --------------------------------------------------------------------------------------------
def is_json_spec(spec):
    """Whether a ``--model`` value names a JSON file rather than one of numbacnn.applications."""
    return spec not in applications.ARCHITECTURES and (spec.endswith(".json") or Path(spec).is_file())


def build_model(spec, input_shape=None, num_classes=None):
    """A model from a name of ``numbacnn.applications.ARCHITECTURES`` or a path to a JSON architecture.

    An architecture is built for ``input_shape`` (no batch axis; a flat model gets its product as
    ``input_dim``) and ``num_classes`` when given. A JSON file (``model.to_json()``) is read with
    ``numbacnn.models.model_from_json`` and keeps its own shapes. Raises FileNotFoundError or ValueError.
    """
    if is_json_spec(spec):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {spec}")
        try:
            return models.model_from_json(path.read_text())
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{spec}: not a numbacnn/Keras model architecture ({err})") from err
    if spec not in applications.ARCHITECTURES:
        raise ValueError(f"unknown model {spec!r}; known models: {', '.join(applications.ARCHITECTURES)} "
                         "(or give the path of a .json architecture file)")
    fn = applications.get(spec)
    params = inspect.signature(fn).parameters
    kwargs = {}
    if input_shape is not None:
        if "input_shape" in params:
            kwargs["input_shape"] = tuple(input_shape)
        elif "input_dim" in params:
            kwargs["input_dim"] = math.prod(input_shape)
    if num_classes is not None and "num_classes" in params:
        kwargs["num_classes"] = num_classes
    return fn(**kwargs)


def input_shape_of(model):
    """The model's input shape with the batch axis, e.g. (None, 28, 28, 1)."""
    try:
        return tuple(model.input.shape)
    except AttributeError as err:
        raise ValueError(f'model "{model.name}" has no input shape (it is not built)') from err


def compile_model(model, y, optimizer="adam", learning_rate=None):
    """Compile ``model`` for the labels ``y`` (see :func:`loss_for_labels`) with accuracy as the metric."""
    opt = optimizers_module.get(optimizer)
    if learning_rate is not None:
        opt.learning_rate = learning_rate
    model.compile(optimizer=opt, loss=loss_for_labels(y), metrics=["accuracy"])
    return model


def select_device(name):
    """Make ``name`` ('cpu' or 'cuda') the device models compute on (``numbacnn.set_device``); a UsageError
    (exit code 2) saying why when CUDA cannot be used: "no CUDA GPU found; use --device cpu (...)"."""
    try:
        backend.set_device(name)
    except (ValueError, RuntimeError) as err:
        raise UsageError(str(err).replace("device='cpu'", "--device cpu")) from err


# ----- inputs for predict --------------------------------------------------------------------------------
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> channels after palette expansion


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(rows, bpp):
    """Undo the per-row PNG filters of ``rows`` (H, 1 + stride) uint8 -> (H, stride) uint8."""
    height, stride = rows.shape[0], rows.shape[1] - 1
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int64)
    for r in range(height):
        kind, line = rows[r, 0], rows[r, 1:].astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 1:
            cur = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:
            cur = (line + prev) % 256
        elif kind in (3, 4):
            cur, up = line.tolist(), prev.tolist()
            for i in range(stride):
                left = cur[i - bpp] if i >= bpp else 0
                if kind == 3:
                    cur[i] = (cur[i] + (left + up[i]) // 2) % 256
                else:
                    corner = up[i - bpp] if i >= bpp else 0
                    cur[i] = (cur[i] + _paeth(left, up[i], corner)) % 256
            cur = np.array(cur, np.int64)
        else:
            raise ValueError(f"unknown PNG filter type {kind} in row {r}")
        out[r] = cur
        prev = cur
    return out


def read_png(path):
    """An 8-bit, non-interlaced PNG (grayscale, RGB, palette, with or without alpha) as uint8 (H, W, C).

    C is 1 (gray), 2 (gray + alpha), 3 (RGB, also palette images) or 4 (RGBA). Anything else raises a
    ValueError naming the file.
    """
    data = Path(path).read_bytes()
    if data[:8] != _PNG_SIGNATURE:
        raise ValueError(f"{path}: not a PNG file")
    pos, header, palette, idat = 8, None, None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise ValueError(f"{path}: truncated PNG chunk {kind.decode('latin-1')!r}")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None or not idat:
        raise ValueError(f"{path}: damaged PNG (no IHDR or no image data)")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in _PNG_CHANNELS or interlace:
        raise ValueError(f"{path}: only 8-bit non-interlaced PNGs can be read (this one has bit depth "
                         f"{depth}, colour type {color}, interlace {interlace}); save it as an 8-bit "
                         "grayscale or RGB PNG")
    bpp = 1 if color == 3 else _PNG_CHANNELS[color]
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as err:
        raise ValueError(f"{path}: damaged PNG data ({err})") from err
    if len(raw) != height * (1 + width * bpp):
        raise ValueError(f"{path}: PNG data has {len(raw)} bytes, expected {height * (1 + width * bpp)}")
    pixels = _unfilter(np.frombuffer(raw, np.uint8).reshape(height, 1 + width * bpp), bpp)
    if color == 3:
        if palette is None or pixels.max() >= len(palette):
            raise ValueError(f"{path}: palette PNG without a (large enough) PLTE chunk")
        return palette[pixels]
    return pixels.reshape(height, width, bpp)


def _resize_matrix(n_out, n_in):
    """(n_out, n_in) weights along one axis: area averaging when shrinking, linear interpolation otherwise."""
    if n_out <= n_in:
        scale = n_in / n_out
        edges = np.arange(n_out + 1) * scale
        j = np.arange(n_in)[None, :]
        overlap = np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j)
        return np.clip(overlap, 0, None) / scale
    centre = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(centre).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), lo), 1 - (centre - lo))
    np.add.at(m, (np.arange(n_out), hi), centre - lo)
    return m


def resize_image(image, height, width):
    """Float image (H, W, C) resized to (height, width, C): area average when shrinking, bilinear when
    enlarging (pixel centres aligned, as PIL and OpenCV do)."""
    rows, cols = _resize_matrix(height, image.shape[0]), _resize_matrix(width, image.shape[1])
    return np.einsum("hH,HWc,wW->hwc", rows, image, cols).astype(image.dtype)


def image_to_input(image, input_shape, name="the image"):
    """uint8 image (H, W, C) -> float32 sample of the model's input shape (None, ...): alpha dropped,
    gray/RGB converted (ITU-R 601 luma), resized; a flat input takes the image when the sizes agree."""
    if image.shape[2] in (2, 4):
        image = image[..., :-1]
    image = image.astype(np.float32) / 255.0
    target = tuple(input_shape[1:])
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    if len(target) == 3 and target[2] in (1, 3):
        if target[2] == 1 and image.shape[2] == 3:
            image = (image @ luma)[..., None]
        elif target[2] == 3 and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        if image.shape[:2] != target[:2]:
            image = resize_image(image, *target[:2])
        return image
    if len(target) == 1:
        for candidate in (image, image @ luma if image.shape[2] == 3 else image):
            if candidate.size == target[0]:
                return candidate.reshape(target)
    raise ValueError(f"{name}: image of shape {_shape(image.shape)} does not fit the model input shape "
                     f"{_shape(input_shape)}")


def array_to_input(array, input_shape, name="the array"):
    """An array holding one sample or a batch -> float32 batch (N, ...) of the model's input shape.

    uint8 arrays are scaled to [0, 1]; (N, 28, 28) fits (None, 28, 28, 1). A ValueError names both shapes
    when the array fits neither as one sample nor as a batch.
    """
    array = np.asarray(array)
    x = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
    size = math.prod(input_shape[1:])
    if x.size == size:
        return x.reshape((1,) + tuple(input_shape[1:]))
    if x.ndim >= 2 and x.size and math.prod(x.shape[1:]) == size:
        return x.reshape((len(x),) + tuple(input_shape[1:]))
    raise ValueError(f"{name}: array of shape {_shape(array.shape)} does not fit the model input shape "
                     f"{_shape(input_shape)} (one sample or a batch of them)")


def load_inputs(paths, input_shape):
    """``(x, labels)``: the PNG files or the one ``.npy`` array ``paths`` as a batch for the model, and a
    label per sample (the file name; ``name[i]`` for the rows of an array)."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"input file not found: {p}")
    if any(p.suffix.lower() == ".npy" for p in paths):
        if len(paths) != 1:
            raise ValueError("give either one .npy array or PNG files, not several arrays or a mix")
        array = np.load(paths[0], allow_pickle=False)
        x = array_to_input(array, input_shape, str(paths[0]))
        labels = [f"{paths[0]}[{i}]" for i in range(len(x))] if len(x) > 1 else [str(paths[0])]
        return x, labels
    x = np.stack([image_to_input(read_png(p), input_shape, str(p)) for p in paths])
    return x.reshape((len(paths),) + tuple(input_shape[1:])), [str(p) for p in paths]


def as_probabilities(y):
    """Rows of class probabilities: ``y`` as is when it already is (softmax outputs), else its softmax."""
    y = np.asarray(y, np.float64)
    if np.all(y >= 0) and np.allclose(y.sum(axis=-1), 1.0, atol=1e-3):
        return y
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def top_k(probabilities, names, k=3):
    """``[(class name, probability), ...]``, the ``k`` most likely classes of one row, most likely first."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(names[i], float(probabilities[i])) for i in order]


# ----- subcommands ---------------------------------------------------------------------------------------
def _model_for(args, dataset=None):
    """build_model for ``--model`` (a named one sized for ``dataset``); bad values raise UsageError."""
    shape = IMAGE_SHAPES[dataset] if dataset else None
    num_classes = len(DATASETS[dataset].CLASS_NAMES) if dataset else None
    try:
        return build_model(args.model, shape, num_classes)
    except (ValueError, OSError) as err:
        if shape and args.model in applications.ARCHITECTURES:
            what = f"model {args.model} does not fit the {dataset} images {_shape(shape)}"
            raise UsageError(f"{what}: {err}") from err
        raise UsageError(str(err)) from err


def _load_weights(model, path):
    try:
        model.load_weights(str(path))
    except (ValueError, KeyError, OSError) as err:
        raise RuntimeError(f"could not load the weights {path} into the model: {err}") from err


def _check_parent(path, option):
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: the directory {parent} does not exist")


def _fitted(x, model, dataset):
    try:
        return fit_to_input(x, input_shape_of(model), f"the {dataset} images")
    except ValueError as err:
        raise UsageError(str(err)) from err


def _report_test(model, x_test, y_test, batch_size):
    loss, acc = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
    print(f"test accuracy: {acc:.4f} (loss {loss:.4f})")
    return loss, acc


def cmd_train(args):
    if args.plot:
        _check_parent(args.plot, "--plot")
        plotting.require_matplotlib()
    if args.save:
        _check_parent(args.save, "--save")
        if not args.save.endswith((".h5", ".hdf5")):
            raise UsageError(f"--save {args.save}: a weights file name ends in .h5 (Keras 2 layout) or "
                             ".weights.h5 (Keras 3 layout)")
    select_device(args.device)
    if args.seed is not None:
        utils.set_random_seed(args.seed)
    model = _model_for(args, args.dataset)
    (x, y), (x_test, y_test) = load_dataset(args.dataset, args.data_dir, args.limit, not args.no_download)
    x, x_test = _fitted(x, model, args.dataset), _fitted(x_test, model, args.dataset)
    try:
        split_validation(x, y, args.validation_split)
    except ValueError as err:
        raise UsageError(str(err)) from err
    compile_model(model, y, args.optimizer, args.learning_rate)
    if args.verbose:
        model.summary()
    history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
                        validation_split=args.validation_split)
    _report_test(model, x_test, y_test, args.batch_size)
    if args.save:
        model.save_weights(args.save)
        print(f"saved weights to {args.save}")
    if args.plot:
        if args.epochs == 0:
            print("no epochs trained: nothing to plot", file=sys.stderr)
        else:
            plotting.plot_history(history, args.plot, title=f"{model.name} on {args.dataset}")
            print(f"saved curves to {args.plot}")


def cmd_evaluate(args):
    select_device(args.device)
    model = _model_for(args, args.dataset)
    _load_weights(model, args.weights)
    (_, _), (x_test, y_test) = load_dataset(args.dataset, args.data_dir, args.limit, not args.no_download)
    x_test = _fitted(x_test, model, args.dataset)
    compile_model(model, y_test)
    _report_test(model, x_test, y_test, args.batch_size)


def cmd_predict(args):
    select_device(args.device)
    model = _model_for(args, args.dataset)
    try:
        x, labels = load_inputs(args.inputs, input_shape_of(model))
    except (ValueError, OSError) as err:
        raise UsageError(str(err)) from err
    _load_weights(model, args.weights)
    probs = as_probabilities(model.predict(x, verbose=0))
    names = class_names(args.dataset, probs.shape[-1])
    for label, row in zip(labels, probs):
        print(f"{label}: " + ", ".join(f"{n} {p:.4f}" for n, p in top_k(row, names, args.top)))


def cmd_summary(args):
    model = _model_for(args, args.dataset)
    model.summary()


def _gui_package():
    """The visual debugger's package: ``numbacnn_gui`` as installed (``pip install "numbacnn[gui]"``), or the
    ``gui/`` folder of this source checkout, loaded under that same name (so no other ``gui`` can clash)."""
    import importlib
    import importlib.util

    if "numbacnn_gui" in sys.modules or importlib.util.find_spec("numbacnn_gui") is not None:
        return importlib.import_module("numbacnn_gui")
    folder = Path(__file__).resolve().parents[1] / "gui"   # a source checkout holds gui/ beside numbacnn/
    if not (folder / "__init__.py").is_file():
        raise ModuleNotFoundError("No module named 'numbacnn_gui'", name="numbacnn_gui")
    spec = importlib.util.spec_from_file_location("numbacnn_gui", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["numbacnn_gui"] = package
    try:
        spec.loader.exec_module(package)
    except BaseException:
        del sys.modules["numbacnn_gui"]
        raise
    return package


def cmd_gui(args):
    try:
        _gui_package()
        from numbacnn_gui.app import main as gui_main
    except ImportError as err:
        hint = "; install it with: pip install \"numbacnn[gui]\"" if "dearpygui" in str(err) or err.name in (
            "numbacnn_gui", "numbacnn_gui.app", "dearpygui") else ""
        raise RuntimeError(f"the visual debugger is not available ({err}){hint}") from err
    return gui_main(list(args.extra))


# ----- argument parsing ----------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, received {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, received {value}")
        return value
    parse.__name__ = "integer"
    return parse


def _learning_rate(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, received {text}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), received {text}")
    return value


def _existing_file(text):
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"file not found: {text}")
    return text


def _existing_dir(text):
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"directory not found: {text}")
    return text


def build_parser():
    """The ``numbacnn`` argument parser with its subcommands."""
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    models_help = (f"one of {', '.join(applications.ARCHITECTURES)}, or the path of a JSON architecture file "
                   "(model.to_json())")

    parser = _Parser(prog="numbacnn", description="Train, evaluate and run Keras-style CNNs with Numba.",
                     epilog="Exit codes: 0 success, 1 failure while running, 2 bad arguments.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_options(p):
        p.add_argument("--dataset", choices=list(DATASETS), default="fashion_mnist",
                       help="the data set (default: fashion_mnist)")
        p.add_argument("--data-dir", type=_existing_dir, metavar="DIR",
                       help="directory holding the data set's files (searched first)")
        p.add_argument("--no-download", action="store_true", help="never download a missing data set")
        p.add_argument("--limit", type=_int_at_least(1), metavar="N",
                       help="use only the first N training and N test samples")
        p.add_argument("--batch-size", type=_int_at_least(1), default=32, metavar="N",
                       help="samples per batch (default: 32)")

    def device_option(p):
        p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="where to compute: cpu, or cuda (needs numbacnn[cuda] and a GPU) (default: cpu)")

    p = sub.add_parser("train", parents=[common], help="train a model on a data set",
                       description="Train a model on a data set, report the test accuracy, save the weights.")
    data_options(p)
    p.add_argument("--model", default="fashion_cnn", metavar="NAME|FILE.json",
                   help=f"the model: {models_help} (default: fashion_cnn)")
    p.add_argument("--epochs", type=_int_at_least(0), default=5, metavar="N", help="epochs (default: 5)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="the optimizer (default: adam)")
    p.add_argument("--learning-rate", type=_learning_rate, metavar="LR",
                   help="learning rate (default: the optimizer's Keras default)")
    p.add_argument("--validation-split", type=_fraction, default=0.0, metavar="F",
                   help="fraction of the training samples (the last ones) kept for validation (default: 0)")
    p.add_argument("--seed", type=_int_at_least(0), metavar="N", help="random seed, for repeatable runs")
    p.add_argument("--save", metavar="WEIGHTS.h5", help="write the trained weights to this HDF5 file")
    device_option(p)
    p.add_argument("--plot", metavar="CURVES.png",
                   help="draw the per-epoch accuracy and loss curves to this image (needs matplotlib)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="test accuracy of saved weights",
                       description="Print the loss and accuracy of saved weights on a data set's test split.")
    data_options(p)
    p.add_argument("--model", required=True, metavar="NAME|FILE.json", help=f"the model: {models_help}")
    p.add_argument("--weights", required=True, type=_existing_file, metavar="WEIGHTS.h5",
                   help="the weights file written by train --save")
    device_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", parents=[common], help="classify PNG images or a .npy array",
                       description="Print the most likely classes of each PNG image (resized and converted "
                                   "to the model's input) or of each sample of one .npy array.")
    p.add_argument("--model", required=True, metavar="NAME|FILE.json", help=f"the model: {models_help}")
    p.add_argument("--weights", required=True, type=_existing_file, metavar="WEIGHTS.h5",
                   help="the weights file written by train --save")
    p.add_argument("--dataset", choices=list(DATASETS), default="fashion_mnist",
                   help="gives the class names (and a named model's input shape) (default: fashion_mnist)")
    p.add_argument("--top", type=_int_at_least(1), default=3, metavar="K", help="classes shown (default: 3)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="PNG files (8-bit) or one .npy array")
    device_option(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("summary", parents=[common], help="print a model's summary",
                       description="Print model.summary() of a named model or a JSON architecture.")
    p.add_argument("--model", required=True, metavar="NAME|FILE.json", help=f"the model: {models_help}")
    p.add_argument("--dataset", choices=list(DATASETS),
                   help="build a named model for this data set's images (default: the model's own shape)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("gui", add_help=False, help="open the visual debugger (gui --help: its options)",
                       description="Open the visual debugger (the numbacnn_gui package: the gui extra, or "
                                   "gui/ of a source checkout) with its arguments.")
    p.set_defaults(func=cmd_gui, passes_extra_arguments=True)
    return parser


def main(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_extra_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    prog = f"numbacnn {args.command}"
    try:
        result = args.func(args)
    except UsageError as err:
        return _fail(args, prog, err, 2)
    except KeyboardInterrupt as err:
        return _fail(args, prog, err, 130, "interrupted")
    except Exception as err:
        return _fail(args, prog, err, 1)
    return result if isinstance(result, int) else 0


def _fail(args, prog, err, code, message=None):
    """Report ``err`` on stderr (its traceback first with --debug) and return the exit code."""
    if args.debug:
        traceback.print_exception(err)
    print(f"{prog}: error: {message or err or type(err).__name__}", file=sys.stderr)
    return code
