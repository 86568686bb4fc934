"""The command line: ``python -m numbacnn {train,evaluate,predict,summary,warmup,gui} ...``
(or ``numbacnn ...``).

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
import json
import math
import os
import sys
import traceback
from pathlib import Path

import numpy as np

from . import applications, backend, datasets, models, utils, warmup
from . import optimizers as optimizers_module
from .models import interrupt
from .models.trainer import split_validation
from .utils import image_dataset, image_utils, plotting

DATASETS = {"fashion_mnist": datasets.fashion_mnist, "mnist": datasets.mnist, "cifar10": datasets.cifar10}
"""The data sets the command line knows, by name."""

IMAGE_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
"""Each data set's image shape as models see it (a channel axis added to the 28x28 sets)."""

OPTIMIZERS = ("sgd", "adam", "adamw", "nadam", "adamax", "lion", "rmsprop", "adagrad")


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


# ----- image folders -------------------------------------------------------------------------------------
def is_image_folder(path):
    """Whether ``path`` holds class subfolders of images (JPEG, PNG, BMP, GIF), as
    ``image_dataset_from_directory`` reads them, rather than a data set's files."""
    path = Path(path)
    if not path.is_dir():
        return False
    for sub in sorted(path.iterdir()):
        if sub.is_dir() and not sub.name.startswith("."):
            for _, _, files in os.walk(sub):
                if any(f.lower().endswith(image_dataset.ALLOWLIST_FORMATS) for f in files):
                    return True
    return False


class ScaledBatches(utils.PyDataset):
    """The batches of ``dataset`` (an :class:`~numbacnn.utils.image_dataset.ImageDataset`) with the pixels
    times ``scale`` (1/255: [0, 1], as the command line feeds the built-in data sets), shaped for the
    model's ``input_shape``."""

    def __init__(self, dataset, scale, input_shape):
        super().__init__(workers=dataset.workers, use_multiprocessing=dataset.use_multiprocessing,
                         max_queue_size=dataset.max_queue_size)
        self.dataset, self.scale, self.input_shape = dataset, np.float32(scale), tuple(input_shape)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        x, y = self.dataset[index]
        return fit_to_input(x * self.scale, self.input_shape, "the folder's images"), y

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


def first_image(directory):
    """``((height, width), color_mode)`` of the first image of an image folder (in Keras's file order), read
    from its header: "grayscale" for a gray image, else "rgb"."""
    paths, _, _ = image_dataset.index_directory(str(directory), "inferred", shuffle=False, verbose=False)
    if not paths:
        raise ValueError(f"no images (JPEG, PNG, BMP, GIF) in the class subfolders of {directory}")
    with image_utils.pil().open(paths[0]) as img:
        width, height = img.size
        gray = img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
    return (height, width), "grayscale" if gray else "rgb"


def first_image_size(directory):
    """(height, width) of the first image of an image folder."""
    return first_image(directory)[0]


def load_image_folder(directory, image_size=None, color_mode=None, validation_split=0.0, seed=None,
                      batch_size=32, limit=None, workers=1, verbose=True):
    """``(train, validation or None, class_names, image_size)`` of an image folder, as the command line
    trains on it: ``image_dataset_from_directory`` with a seeded shuffle (``seed``, default 0) and the
    last ``validation_split`` of the files kept for validation; ``image_size`` (height, width) and
    ``color_mode`` default to the first image's; ``limit`` keeps the first N files of each part. Images
    stay 0..255 here."""
    if image_size is None or color_mode is None:
        first_size, first_mode = first_image(directory)
        image_size, color_mode = image_size or first_size, color_mode or first_mode
    seed = 0 if seed is None else seed
    kwargs = dict(image_size=tuple(image_size), color_mode=color_mode, batch_size=batch_size, seed=seed,
                  verbose=verbose, workers=workers)
    if validation_split:
        train, val = utils.image_dataset_from_directory(str(directory), validation_split=validation_split,
                                                        subset="both", **kwargs)
    else:
        train, val = utils.image_dataset_from_directory(str(directory), **kwargs), None
    if limit is not None:
        train = train.head(limit)
        val = None if val is None else val.head(limit)
    return train, val, list(train.class_names), tuple(image_size)


def image_statistics(x):
    """``{"mean", "border_mean"}`` of images in [0, 1] (N, H, W, C): the pixels' mean and the mean of the
    one-pixel frame (the background: dark for MNIST-like data, light for photos of things on paper)."""
    x = np.asarray(x, np.float64)
    if x.ndim == 3:
        x = x[..., None]
    frame = np.concatenate([x[:, 0].reshape(len(x), -1), x[:, -1].reshape(len(x), -1),
                            x[:, :, 0].reshape(len(x), -1), x[:, :, -1].reshape(len(x), -1)], axis=1)
    return {"mean": float(x.mean()), "border_mean": float(frame.mean())}


# ----- what train --save writes beside the weights -------------------------------------------------------
def sidecar_path(weights):
    """Where ``train --save W.h5`` writes what ``evaluate`` and ``predict`` need besides the weights:
    ``W.h5.json``."""
    return Path(str(weights) + ".json")


def write_sidecar(weights, model, class_names_, source, image_size, color_mode, stats):
    """Write :func:`sidecar_path`: the architecture (``model.to_json()``), the class names, the input
    (size, colour mode, scale 1/255) and the training images' statistics (for predict's warnings)."""
    info = {"format": "numbacnn train --save, version 1", "architecture": json.loads(model.to_json()),
            "class_names": list(class_names_), "source": source,
            "input": {"image_size": list(image_size), "color_mode": color_mode, "scale": 1 / 255},
            "training_images": stats}
    path = sidecar_path(weights)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, path)
    return path


def read_sidecar(weights):
    """The dict of :func:`write_sidecar` beside ``weights``, or None when there is none."""
    path = sidecar_path(weights)
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not the file train --save writes ({err})") from err
    if not isinstance(info, dict) or "architecture" not in info:
        raise ValueError(f"{path}: not the file train --save writes (no architecture)")
    return info


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
def read_image(path):
    """Any image Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, ...) as uint8 (H, W, C), C being the file's
    own: 1 (gray), 2 (gray + alpha), 3 (RGB; palette and other colour modes too) or 4 (RGBA). 16-bit gray
    is scaled to 8 bits. Images over ``numbacnn.utils.image_utils.MAX_IMAGE_PIXELS`` pixels, decompression
    bombs and unreadable files raise a ValueError naming the file, before anything large is decoded."""
    img = image_utils.open_image(path)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image_utils.read_image_array(path, "grayscale")
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "PA":
        img = img.convert("RGBA")
    elif img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGB")
    a = np.asarray(img)
    return a[:, :, None] if a.ndim == 2 else a


read_png = read_image
"""The former name of :func:`read_image` (which read PNG files only)."""


def resize_image(image, height, width, interpolation=None):
    """Float image (H, W, C) resized to (height, width, C) by ``tf.image.resize``'s rules
    (:mod:`numbacnn.utils.image_utils`); by default area averaging when shrinking, bilinear when enlarging
    (pixel centres aligned, as PIL and OpenCV do)."""
    if interpolation is None:
        shrinking = height <= image.shape[0] and width <= image.shape[1]
        interpolation = "area" if shrinking else "bilinear"
    out = image_utils.resize_image(image, (height, width), interpolation)
    return out.astype(image.dtype) if np.issubdtype(image.dtype, np.floating) else out


def image_to_input(image, input_shape, name="the image", interpolation=None):
    """uint8 image (H, W, C) -> float32 sample of the model's input shape (None, ...): alpha dropped,
    gray/RGB converted (ITU-R 601 luma), resized (``interpolation``: see :func:`resize_image`); a flat
    input takes the image when the sizes agree."""
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
            image = resize_image(image, *target[:2], interpolation=interpolation)
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


def load_inputs(paths, input_shape, interpolation=None):
    """``(x, labels)``: the image files (any format Pillow reads) or the one ``.npy`` array ``paths`` as a
    batch for the model, and a label per sample (the file name; ``name[i]`` for the rows of an array)."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"input file not found: {p}")
    if any(p.suffix.lower() == ".npy" for p in paths):
        if len(paths) != 1:
            raise ValueError("give either one .npy array or image files, not several arrays or a mix")
        array = np.load(paths[0], allow_pickle=False)
        x = array_to_input(array, input_shape, str(paths[0]))
        labels = [f"{paths[0]}[{i}]" for i in range(len(x))] if len(x) > 1 else [str(paths[0])]
        return x, labels
    x = np.stack([image_to_input(read_image(p), input_shape, str(p), interpolation) for p in paths])
    return x.reshape((len(paths),) + tuple(input_shape[1:])), [str(p) for p in paths]


TRAINING_BACKGROUNDS = {"fashion_mnist": 0.0, "mnist": 0.0}
"""The built-in data sets' mean border pixel in [0, 1] (things drawn light on a dark background), for
predict's polarity note when the weights have no ``train --save`` file beside them; CIFAR-10's photos
have no one background."""


def input_notes(paths, x, image_size, background):
    """Notes for predict (lines for stderr) on images unlike the training images: a background of the
    other polarity (``background``: the training images' mean border pixel, or None), or a size or aspect
    ratio far from ``image_size`` (height, width) of the training images."""
    notes = []
    if x.ndim != 4:
        return notes
    height, width = image_size
    for path, sample in zip(paths, x):
        border = image_statistics(sample[None])["border_mean"]
        if background is not None and abs(border - background) > 0.5:
            mine, theirs = ("light", "dark") if border > background else ("dark", "light")
            notes.append(f"note: {path}: its background is {mine} (mean border {border:.2f}) where the "
                         f"training images' is {theirs} ({background:.2f}); the model has not seen such "
                         "images: invert it first (255 - pixels) if the object is dark on light")
        try:
            with image_utils.pil().open(path) as img:
                w, h = img.size
        except (OSError, ValueError):
            continue
        ratio = max(h / height, height / h, w / width, width / w)
        if ratio > 4:
            notes.append(f"note: {path}: {w}x{h} pixels, resized to {width}x{height} as the training images "
                         "were; much detail is lost or invented")
        if abs(math.log((w / h) / (width / height))) > math.log(1.5):
            notes.append(f"note: {path}: its aspect ratio ({w}x{h}) is far from the training images' "
                         f"({width}x{height}); it is stretched to fit")
    return notes


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
def _model_for(args, dataset=None, shape=None, num_classes=None, what=None):
    """build_model for ``--model`` (a named one sized for ``dataset``, or for ``shape`` and ``num_classes``
    of an image folder ``what``); bad values raise UsageError."""
    if dataset:
        shape, num_classes, what = IMAGE_SHAPES[dataset], len(DATASETS[dataset].CLASS_NAMES), dataset
    try:
        return build_model(args.model, shape, num_classes)
    except (ValueError, OSError) as err:
        if shape and args.model in applications.ARCHITECTURES:
            what = f"model {args.model} does not fit the {what} images {_shape(shape)}"
            raise UsageError(f"{what}: {err}") from err
        raise UsageError(str(err)) from err


def _saved_model(args, dataset=None, shape=None, num_classes=None, what=None):
    """The model of ``evaluate`` / ``predict``: ``--model`` when given, else the architecture that
    ``train --save`` wrote beside ``--weights``, else fashion_cnn (train's default); and that file's dict
    (or None)."""
    try:
        info = read_sidecar(args.weights)
    except ValueError as err:
        raise UsageError(str(err)) from err
    if args.model is None and info is not None:
        return models.model_from_json(json.dumps(info["architecture"])), info
    if args.model is None:
        args.model = "fashion_cnn"
    return _model_for(args, dataset, shape, num_classes, what), info


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


def _folder_batches(args, image_size, color_mode, validation_split=0.0, shuffle=True):
    """The image folder ``--data-dir`` as (train, validation or None, class names, image size); errors
    name the folder (UsageError)."""
    try:
        if not shuffle:
            ds = utils.image_dataset_from_directory(args.data_dir, image_size=image_size,
                                                    color_mode=color_mode, batch_size=args.batch_size,
                                                    shuffle=False, verbose=False, workers=args.workers)
            ds = ds if args.limit is None else ds.head(args.limit)
            return ds, None, list(ds.class_names), tuple(image_size)
        return load_image_folder(args.data_dir, image_size, color_mode, validation_split, args.seed,
                                 args.batch_size, args.limit, args.workers, verbose=bool(args.verbose))
    except ValueError as err:
        raise UsageError(f"--data-dir {args.data_dir}: {err}") from err


def _train_on_folder(args):
    """train on an image folder: (model, history, class names, image size, colour mode, image stats, and
    None or where a Ctrl-C stopped it)."""
    train, val, names, size = _folder_batches(args, args.image_size, args.color_mode, args.validation_split)
    color_mode = train.color_mode
    model = _model_for(args, shape=size + (train.num_channels,), num_classes=len(names),
                       what=f"{args.data_dir} (resized to {size[0]}x{size[1]})")
    shape = input_shape_of(model)
    train_batches = ScaledBatches(train, 1 / 255, shape)
    val_batches = None if val is None else ScaledBatches(val, 1 / 255, shape)
    compile_model(model, np.zeros(1, np.int64), args.optimizer, args.learning_rate)
    if args.verbose:
        model.summary()
    trainer = model.make_trainer(train_batches, epochs=args.epochs, verbose=args.verbose,
                                 validation_data=val_batches)
    compile_notice(model, args.verbose)
    stopped = interrupt.run(trainer)  # fit's loop, telling an interrupted run from a finished one
    history = trainer.history
    if stopped is not None:
        return model, history, names, size, color_mode, None, stopped
    if val_batches is not None:
        loss, acc = model.evaluate(val_batches, verbose=0)
        print(f"validation accuracy: {acc:.4f} (loss {loss:.4f})")
    sample = np.concatenate([train[i][0] for i in range(min(len(train), 4))]) / 255.0
    return model, history, names, size, color_mode, image_statistics(sample), None


def launch_processes(argv, processes, mpiexec=None):
    """Run ``python -m numbacnn <argv>`` on ``processes`` MPI ranks through ``mpiexec`` (the one beside
    this Python, as the mpich wheel installs it, else the one on PATH); returns its exit code. Each rank
    gets an equal share of the CPU's threads unless NUMBA_NUM_THREADS is set; Open MPI's run-as-root
    consent is given (MPICH needs none)."""
    import shutil
    import subprocess

    if mpiexec is None:
        beside = Path(sys.executable).parent / "mpiexec"
        mpiexec = str(beside) if beside.is_file() else shutil.which("mpiexec")
    if mpiexec is None:
        raise UsageError("--processes needs mpiexec and mpi4py: pip install \"numbacnn[mpi]\" (or put a "
                         "system MPI's mpiexec on PATH)")
    env = dict(os.environ)
    env.setdefault("NUMBA_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    command = [mpiexec, "-n", str(processes), sys.executable, "-m", "numbacnn", *argv]
    return subprocess.run(command, env=env).returncode


def _without_processes(argv):
    """``argv`` without its --processes option (the ranks run the same command on one process each)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--processes":
            skip = True
        elif not item.startswith("--processes="):
            out.append(item)
    return out


def _distributed():
    """Under an MPI launcher of several processes (mpiexec, srun): the DataParallel distribution."""
    from . import distribution

    if distribution.launched_world_size() <= 1:
        return None
    if distribution.distribution() is None:
        distribution.set_distribution(distribution.DataParallel())
    return distribution.distribution()


def cmd_train(args):
    """train; with --processes N, on N MPI ranks through mpiexec; under mpiexec / srun, data-parallel."""
    from .distribution import launched_world_size

    if args.processes > 1:
        if launched_world_size() > 1:
            raise UsageError("--processes starts the MPI ranks itself; under mpiexec or srun leave it out")
        return launch_processes(_without_processes(args.argv), args.processes)
    dist = _distributed()
    if dist is None:
        return _train(args)
    import contextlib

    with dist.abort_on_error(passes=(UsageError,)), open(os.devnull, "w") as quiet:
        # rank 0 prints (summary, progress, test accuracy); the others print only errors
        with contextlib.redirect_stdout(quiet) if dist.rank else contextlib.nullcontext():
            return _train(args)


def _train(args):
    if args.plot:
        _check_parent(args.plot, "--plot")
        plotting.require_matplotlib()
    if args.save:
        _check_parent(args.save, "--save")
        if not args.save.endswith((".h5", ".hdf5")):
            raise UsageError(f"--save {args.save}: a weights file name ends in .h5 (Keras 2 layout) or "
                             ".weights.h5 (Keras 3 layout)")
    folder = args.data_dir is not None and is_image_folder(args.data_dir)
    if not folder and (args.image_size or args.color_mode):
        raise UsageError("--image-size and --color-mode apply to a folder of images (--data-dir with one "
                         "subfolder of images per class)")
    select_device(args.device)
    if args.seed is not None:
        utils.set_random_seed(args.seed)
    if folder:
        model, history, names, size, color_mode, stats, stopped = _train_on_folder(args)
        if stopped is not None:
            return _interrupted(model, args.save, stopped)
        source = str(args.data_dir)
    else:
        model = _model_for(args, args.dataset)
        (x, y), (x_test, y_test) = load_dataset(args.dataset, args.data_dir, args.limit, not args.no_download)
        stats = image_statistics(x[:1000])
        x, x_test = _fitted(x, model, args.dataset), _fitted(x_test, model, args.dataset)
        try:
            split_validation(x, y, args.validation_split)
        except ValueError as err:
            raise UsageError(str(err)) from err
        compile_model(model, y, args.optimizer, args.learning_rate)
        if args.verbose:
            model.summary()
        trainer = model.make_trainer(x, y, batch_size=args.batch_size, epochs=args.epochs,
                                     verbose=args.verbose, validation_split=args.validation_split)
        compile_notice(model, args.verbose)
        stopped = interrupt.run(trainer)  # fit's loop, telling an interrupted run from a finished one
        history = trainer.history
        if stopped is not None:
            return _interrupted(model, args.save, stopped)
        _report_test(model, x_test, y_test, args.batch_size)
        names = class_names(args.dataset, model.output.shape[-1])
        size, source = IMAGE_SHAPES[args.dataset][:2], args.dataset
        color_mode = "grayscale" if IMAGE_SHAPES[args.dataset][2] == 1 else "rgb"
    if args.save and _writer():
        model.save_weights(args.save)
        print(f"saved weights to {args.save}")
        sidecar = write_sidecar(args.save, model, names, source, size, color_mode, stats)
        print(f"saved the architecture and class names to {sidecar}")
    if args.plot and _writer():
        plotting.plot_history(history, args.plot, title=f"{model.name} on {source}")
        print(f"saved curves to {args.plot}")


def compile_notice(model, verbose=1):
    """Print one line before a first training step that will compile kernels (Numba's cache is cold for
    them): "compiling kernels for fashion_cnn (first run only)..." (nothing with ``verbose`` 0)."""
    if verbose and warmup.is_cold(model):
        print(f"compiling kernels for {model.name} (first run only)...", flush=True)


def cmd_warmup(args):
    select_device("cpu")
    print(f"filling the Numba cache ({warmup.cache_location()}) for {', '.join(args.model)}...", flush=True)
    try:
        warmup.warm_models(args.model, jobs=args.jobs, dataset=args.dataset)
    except ValueError as err:
        raise UsageError(str(err)) from err


def _writer():
    from .distribution import is_writer

    return is_writer()


def interrupted_path(path):
    """Where an interrupted run's weights go beside ``path``: ``w.h5`` -> ``w.interrupted.h5``,
    ``w.weights.h5`` -> ``w.interrupted.weights.h5`` (the same layout)."""
    for suffix in (".weights.h5", ".h5", ".hdf5"):
        if path.endswith(suffix):
            return path[:-len(suffix)] + ".interrupted" + suffix
    return path + ".interrupted.h5"


def _interrupted(model, save, stopped):
    """After a Ctrl-C stopped training: never replace ``save``; write the interrupted model beside it
    (the weights of its last finished batch) and say what was kept. Exit code 130."""
    where = f"training interrupted at epoch {stopped[0]}, after batch {stopped[1]}"
    if not save:
        print(f"numbacnn train: {where}; nothing was saved", file=sys.stderr)
        return 130
    beside = interrupted_path(save)
    model.save_weights(beside)
    kept = f"{save} was not replaced" if Path(save).exists() else f"{save} was not written"
    print(f"numbacnn train: {where}; {kept}; the interrupted model's weights are in {beside}",
          file=sys.stderr)
    return 130


def cmd_evaluate(args):
    select_device(args.device)
    if args.data_dir is not None and is_image_folder(args.data_dir):
        info = read_sidecar(args.weights) if sidecar_path(args.weights).is_file() else None
        size, color_mode = ((tuple(info["input"]["image_size"]), info["input"]["color_mode"]) if info
                            else first_image(args.data_dir))
        ds, _, names, size = _folder_batches(args, size, color_mode, shuffle=False)
        model, _ = _saved_model(args, shape=size + (ds.num_channels,), num_classes=len(names),
                                what=str(args.data_dir))
        _load_weights(model, args.weights)
        compile_model(model, np.zeros(1, np.int64))
        loss, acc = model.evaluate(ScaledBatches(ds, 1 / 255, input_shape_of(model)), verbose=0)
        print(f"test accuracy: {acc:.4f} (loss {loss:.4f})")
        return
    model, _ = _saved_model(args, args.dataset)
    _load_weights(model, args.weights)
    (_, _), (x_test, y_test) = load_dataset(args.dataset, args.data_dir, args.limit, not args.no_download)
    x_test = _fitted(x_test, model, args.dataset)
    compile_model(model, y_test)
    _report_test(model, x_test, y_test, args.batch_size)


def cmd_predict(args):
    select_device(args.device)
    dataset = args.dataset or "fashion_mnist"
    model, info = _saved_model(args, dataset)
    interpolation = "bilinear" if info and info.get("source") not in DATASETS else None
    try:
        x, labels = load_inputs(args.inputs, input_shape_of(model), interpolation)
    except (ValueError, OSError) as err:
        raise UsageError(str(err)) from err
    _load_weights(model, args.weights)
    probs = as_probabilities(model.predict(x, verbose=0))
    if args.dataset is None and info and len(info.get("class_names", ())) == probs.shape[-1]:
        names = tuple(info["class_names"])
    else:
        names = class_names(dataset, probs.shape[-1])
    if not any(str(p).lower().endswith(".npy") for p in args.inputs):
        if info:
            size = tuple(info["input"]["image_size"])
            background = info.get("training_images", {}).get("border_mean")
        else:
            size, background = IMAGE_SHAPES[dataset][:2], TRAINING_BACKGROUNDS.get(dataset)
        for note in input_notes(args.inputs, x, size, background):
            print(note, file=sys.stderr)
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
                       help="directory holding the data set's files (searched first), or a folder of "
                            "images with one subfolder per class (photos/cats/, photos/dogs/: JPEG, PNG, "
                            "BMP, GIF), which is then the data")
        p.add_argument("--no-download", action="store_true", help="never download a missing data set")
        p.add_argument("--limit", type=_int_at_least(1), metavar="N",
                       help="use only the first N training and N test samples")
        p.add_argument("--batch-size", type=_int_at_least(1), default=32, metavar="N",
                       help="samples per batch (default: 32)")

    def folder_options(p):
        p.add_argument("--workers", type=_int_at_least(1), default=1, metavar="N",
                       help="with a folder of images: threads that load the next batches while one trains "
                            "(default: 1)")

    def device_option(p):
        p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="where to compute: cpu, or cuda (needs numbacnn[cuda] and a GPU) (default: cpu)")

    p = sub.add_parser("train", parents=[common], help="train a model on a data set",
                       description="Train a model on a data set, report the test accuracy, save the weights.")
    data_options(p)
    p.add_argument("--model", default="fashion_cnn", metavar="NAME|FILE.json",
                   help=f"the model: {models_help} (default: fashion_cnn)")
    p.add_argument("--epochs", type=_int_at_least(1), default=5, metavar="N", help="epochs (default: 5)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="the optimizer (default: adam)")
    p.add_argument("--learning-rate", type=_learning_rate, metavar="LR",
                   help="learning rate (default: the optimizer's Keras default)")
    p.add_argument("--validation-split", type=_fraction, default=0.0, metavar="F",
                   help="fraction of the training samples (the last ones) kept for validation (default: 0)")
    p.add_argument("--seed", type=_int_at_least(0), metavar="N", help="random seed, for repeatable runs")
    p.add_argument("--save", metavar="WEIGHTS.h5",
                   help="write the trained weights to this HDF5 file, and beside it WEIGHTS.h5.json (the "
                        "architecture and class names, so that evaluate and predict need no --model)")
    device_option(p)
    p.add_argument("--plot", metavar="CURVES.png",
                   help="draw the per-epoch accuracy and loss curves to this image (needs matplotlib)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")
    folder_options(p)
    p.add_argument("--image-size", type=_int_at_least(1), nargs=2, metavar=("HEIGHT", "WIDTH"),
                   help="with a folder of images: the size they are resized to (default: the first image's)")
    p.add_argument("--color-mode", choices=("grayscale", "rgb", "rgba"),
                   help="with a folder of images: the channels they are read with (default: grayscale "
                        "when the first image is gray, else rgb)")
    p.add_argument("--processes", type=_int_at_least(1), default=1, metavar="N",
                   help="data-parallel training on N processes (MPI ranks, started through mpiexec; "
                        "needs numbacnn[mpi]); --batch-size is the global batch (default: 1)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="test accuracy of saved weights",
                       description="Print the loss and accuracy of saved weights on a data set's test split.")
    data_options(p)
    p.add_argument("--model", metavar="NAME|FILE.json",
                   help=f"the model: {models_help} (default: the one train --save recorded beside the "
                        "weights, else fashion_cnn)")
    p.add_argument("--weights", required=True, type=_existing_file, metavar="WEIGHTS.h5",
                   help="the weights file written by train --save")
    folder_options(p)
    device_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", parents=[common], help="classify images or a .npy array",
                       description="Print the most likely classes of each image (any format Pillow reads: "
                                   "PNG, JPEG, BMP, GIF, TIFF, WebP, ...; resized and converted to the "
                                   "model's input) or of each sample of one .npy array.")
    p.add_argument("--model", metavar="NAME|FILE.json",
                   help=f"the model: {models_help} (default: the one train --save recorded beside the "
                        "weights, else fashion_cnn)")
    p.add_argument("--weights", required=True, type=_existing_file, metavar="WEIGHTS.h5",
                   help="the weights file written by train --save")
    p.add_argument("--dataset", choices=list(DATASETS),
                   help="gives the class names (and a named model's input shape) (default: the class names "
                        "train --save recorded beside the weights, else fashion_mnist)")
    p.add_argument("--top", type=_int_at_least(1), default=3, metavar="K", help="classes shown (default: 3)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or one .npy array")
    device_option(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("summary", parents=[common], help="print a model's summary",
                       description="Print model.summary() of a named model or a JSON architecture.")
    p.add_argument("--model", required=True, metavar="NAME|FILE.json", help=f"the model: {models_help}")
    p.add_argument("--dataset", choices=list(DATASETS),
                   help="build a named model for this data set's images (default: the model's own shape)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("warmup", parents=[common], help="compile the kernels of models ahead of use",
                       description="Fill Numba's on-disk cache with the CPU kernels a model's training and "
                                   "prediction use (one small training step and a prediction each), so "
                                   "that its first training step starts at once. Run once after installing "
                                   "or upgrading numbacnn or Numba.")
    p.add_argument("--model", nargs="+", default=list(warmup.DEFAULT_MODELS), metavar="NAME|FILE.json",
                   help=f"the models: {models_help} (default: fashion_cnn)")
    p.add_argument("--dataset", choices=list(DATASETS),
                   help="build named models for this data set's images (default: each model's own shape)")
    p.add_argument("--jobs", type=_int_at_least(1), default=None, metavar="N",
                   help="worker processes compiling a model's kernels in parallel (default: one per core; "
                        "1: all in this process)")
    p.set_defaults(func=cmd_warmup)

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
    args.argv = list(sys.argv[1:] if argv is None else argv)
    prog = f"numbacnn {args.command}"
    try:
        result = args.func(args)
    except UsageError as err:
        return _fail(args, prog, err, 2)
    except KeyboardInterrupt as err:
        return _fail(args, prog, err, 130, "interrupted; nothing was saved")
    except Exception as err:
        return _fail(args, prog, err, 1)
    return result if isinstance(result, int) else 0


def _fail(args, prog, err, code, message=None):
    """Report ``err`` on stderr (its traceback first with --debug) and return the exit code."""
    if args.debug:
        traceback.print_exception(err)
    print(f"{prog}: error: {message or err or type(err).__name__}", file=sys.stderr)
    return code
