"""``image_dataset_from_directory``: a folder of class subfolders as batches of images, as in Keras 3.

    train = image_dataset_from_directory("photos/", validation_split=0.2, subset="training", seed=1,
                                         image_size=(96, 96), batch_size=32)
    train.class_names                        # ['cats', 'dogs']: the subfolders, in alphanumeric order
    model.fit(train, validation_data=val, epochs=5)

Same class order, file order, splits, label modes and pixel values as Keras (TensorFlow's decoders and
``tf.image.resize``; checked against fixtures recorded with Keras 3.15). The result is a
:class:`~numbacnn.utils.py_dataset.PyDataset` that keeps only the file paths: each batch is decoded
(Pillow: JPEG, PNG, BMP, GIF) and resized when it is asked for, and ``fit`` loads the next batch in the
background while the current one trains. The one difference: Keras reshuffles each epoch through a
TensorFlow shuffle buffer of ``8 * batch_size`` files; numbacnn draws a full permutation from ``seed``.
"""

import math
import os

import numpy as np

from . import image_utils
from .py_dataset import PyDataset

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_EXACT_AT_SCALE_1 = ("bilinear", "nearest", "area", "bicubic")


def _iter_valid_files(directory, follow_links, formats):
    walk = os.walk(directory, followlinks=follow_links)
    for root, _, files in sorted(walk, key=lambda entry: entry[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                yield root, fname


def index_directory(directory, labels, formats=ALLOWLIST_FORMATS, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True):
    """``(file_paths, labels, class_names)`` of the images under ``directory``, in Keras's order: classes
    are the subfolders (not starting with '.') in alphanumeric order unless ``class_names`` orders them,
    files sorted by folder then name, then (``shuffle``) permuted by ``np.random.RandomState(seed)``."""
    if not os.path.isdir(directory):
        raise ValueError(f"image folder {directory!r} does not exist or is not a directory")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError("The `class_names` passed did not match the names of the subdirectories "
                                 f"of the target directory. Expected: {subdirs} (or a subset of it), but "
                                 f"received: class_names={list(class_names)}")
            subdirs = list(class_names)
    else:
        if class_names is not None:
            raise ValueError("When `labels` is None or a list, argument `class_names` cannot be specified"
                             + ("" if labels is None else " (the class names are the sorted labels)"))
        subdirs = [""]
    class_indices = {name: i for i, name in enumerate(subdirs)}
    filenames, found = [], []
    for subdir in subdirs:
        dirpath = os.path.join(directory, subdir)
        dirname = os.path.basename(dirpath)
        for root, fname in _iter_valid_files(dirpath, follow_links, formats):
            filenames.append(os.path.join(dirname, os.path.relpath(os.path.join(root, fname), dirpath)))
            found.append(class_indices[subdir])
    if labels == "inferred":
        labels = np.asarray(found, dtype=np.int32)
        class_names = list(subdirs)
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(f"Expected the lengths of `labels` to match the number of files in the target "
                             f"directory. len(labels) is {len(labels)} while we found {len(filenames)} files "
                             f"in directory {directory}.")
        class_names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def training_or_validation_split(samples, labels, validation_split, subset, verbose=True):
    """Keras's split: the validation subset is the last ``int(validation_split * n)`` samples."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        if verbose:
            print(f"Using {len(samples) - num_val} files for training.")
        return samples[:-num_val], None if labels is None else labels[:-num_val]
    if subset == "validation":
        if verbose:
            print(f"Using {num_val} files for validation.")
        return samples[-num_val:], None if labels is None else labels[-num_val:]
    raise ValueError(f'`subset` must be either "training" or "validation", received: {subset}')


class ImageDataset(PyDataset):
    """Batches of images read from files when asked for: what :func:`image_dataset_from_directory` returns.

    ``ds[i]`` is batch ``i``: ``(images float32 (B, H, W, C), labels)`` (images alone when there are no
    labels); ``len(ds)`` batches; ``for x, y in ds`` goes through them once (reshuffled for the next pass
    when ``shuffle``). Attributes ``class_names`` and ``file_paths`` as Keras's data set has them.
    """

    def __init__(self, file_paths, labels, label_mode, class_names, image_size, color_mode="rgb",
                 batch_size=32, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, shuffle=False, seed=None, data_format="channels_last",
                 workers=1, use_multiprocessing=False, max_queue_size=10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)
        self.file_paths = list(file_paths)
        self.labels = labels
        self.label_mode = label_mode
        self.class_names = class_names
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.color_mode = color_mode
        self.batch_size = batch_size
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.data_format = data_format
        self.shuffle = shuffle
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()
        self._weights_cache = {}

    def _new_order(self):
        n = len(self.file_paths)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    @property
    def num_channels(self):
        return {"grayscale": 1, "rgb": 3, "rgba": 4}[self.color_mode]

    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def load_image(self, path):
        """One file as float32 (H, W, C) at ``image_size``, as Keras's loader (crop or pad to the aspect
        ratio first when asked)."""
        x = image_utils.read_image_array(path, self.color_mode)
        size = self.image_size
        if self.crop_to_aspect_ratio:
            x = image_utils.crop_to_aspect_ratio(x, size)
        elif self.pad_to_aspect_ratio:
            return self._resize_with_pad(x)
        if x.shape[:2] == size and self.interpolation in _EXACT_AT_SCALE_1:
            return x.astype(np.float32)      # these kernels give every pixel back unchanged at scale 1
        return image_utils.resize_image(x, size, self.interpolation, _cache=self._weights_cache)

    def _resize_with_pad(self, x):
        """tf.image.resize_with_pad: resized to fit inside ``image_size`` keeping the aspect, zero-padded."""
        h, w = x.shape[:2]
        th, tw = self.image_size
        f32 = np.float32
        ratio = max(f32(w) / f32(tw), f32(h) / f32(th))
        rh_f, rw_f = f32(h) / ratio, f32(w) / ratio
        rh, rw = int(math.floor(rh_f)), int(math.floor(rw_f))
        top = max(0, int(math.floor((f32(th) - rh_f) / f32(2))))
        left = max(0, int(math.floor((f32(tw) - rw_f) / f32(2))))
        out = np.zeros((th, tw, x.shape[2]), dtype=np.float32)
        out[top:top + rh, left:left + rw] = image_utils.resize_image(x, (rh, rw), self.interpolation,
                                                                     _cache=self._weights_cache)
        return out

    def _labels_of(self, idx):
        y = self.labels[idx]
        if self.label_mode == "binary":
            return y.astype(np.float32)[:, None]
        if self.label_mode == "categorical":
            out = np.zeros((len(idx), len(self.class_names)), dtype=np.float32)
            out[np.arange(len(idx)), y] = 1.0
            return out
        return y.astype(np.int32) if y.dtype.kind in "iu" else y

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"batch {index} out of range: the data set has {n} batches")
        if self.batch_size is None:
            idx = self._order[index:index + 1]
        else:
            idx = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x = np.stack([self.load_image(self.file_paths[i]) for i in idx])
        if self.data_format == "channels_first":
            x = x.transpose(0, 3, 1, 2)
        if self.batch_size is None:
            x = x[0]
        if self.label_mode is None:
            return x
        y = self._labels_of(idx)
        return x, (y[0] if self.batch_size is None else y)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
        self.on_epoch_end()

    def head(self, count):
        """The same data set over its first ``count`` files only (in their order)."""
        count = int(count)
        return ImageDataset(self.file_paths[:count], None if self.labels is None else self.labels[:count],
                            self.label_mode, self.class_names, self.image_size, self.color_mode,
                            self.batch_size, self.interpolation, self.crop_to_aspect_ratio,
                            self.pad_to_aspect_ratio, shuffle=self.shuffle, seed=self._seed,
                            data_format=self.data_format, workers=self._workers,
                            use_multiprocessing=self._use_multiprocessing,
                            max_queue_size=self._max_queue_size)

    def take(self, count):
        """The first ``count`` batches (as ``tf.data.Dataset.take``, for ``for x, y in ds.take(1)``)."""
        for i in range(min(int(count), len(self))):
            yield self[i]

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._new_order()

    def __repr__(self):
        return (f"<ImageDataset: {len(self.file_paths)} files, {len(self)} batches of {self.batch_size}, "
                f"image_size={self.image_size}, color_mode={self.color_mode!r}, "
                f"class_names={self.class_names}>")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True,
                                 seed=None, validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                                 data_format=None, format="numpy", verbose=True, workers=1,
                                 use_multiprocessing=False):
    """An :class:`ImageDataset` (two, for ``subset="both"``) of the images under ``directory``, with
    Keras 3's arguments and behaviour: ``labels`` "inferred" (from the subfolders), None or a list;
    ``label_mode`` "int", "categorical", "binary" or None; ``color_mode`` "grayscale", "rgb" or "rgba";
    ``validation_split`` with ``subset`` "training", "validation" or "both" (needs ``seed`` when shuffling);
    ``interpolation`` as ``tf.image.resize``. ``workers`` / ``use_multiprocessing`` load batches in
    parallel during ``fit`` (see :class:`~numbacnn.utils.py_dataset.PyDataset`)."""
    image_utils.pil()  # the Pillow check, before any work
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise ValueError("`labels` argument should be a list/tuple of integer labels, of the same size "
                             "as the number of image files in the target directory, 'inferred' or None. "
                             f"Received: labels={labels}")
        if class_names:
            raise ValueError('You can only pass `class_names` if `labels="inferred"`. '
                             f"Received: labels={labels}, and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", "binary", or None. '
                         f"Received: label_mode={label_mode}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if color_mode not in ("grayscale", "rgb", "rgba"):
        raise ValueError(f'`color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. Received: '
                         f"color_mode={color_mode}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(f"Invalid `image_size` value. Expected a tuple of 2 integers. Received: "
                         f"image_size={image_size}")
    interpolation = interpolation.lower()
    if interpolation not in image_utils.RESIZE_INTERPOLATIONS:
        raise ValueError(f"Argument `interpolation` should be one of {image_utils.RESIZE_INTERPOLATIONS}. "
                         f"Received: interpolation={interpolation}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`.")
    if data_format is None:
        data_format = "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', received {data_format!r}")
    if format not in ("numpy", "tf", "grain"):
        raise ValueError(f'`format` should be "numpy" (numbacnn gives numpy batches), received: {format}')
    if batch_size is not None and int(batch_size) <= 0:
        raise ValueError(f"batch_size must be a positive integer or None, received {batch_size}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide a `seed` "
                         "argument, to make sure that there is no overlap between the training and "
                         "validation subset.")
    if seed is None:
        seed = np.random.randint(1e6)
    directory = os.fspath(directory)
    paths, labels, class_names = index_directory(
        directory, labels, ALLOWLIST_FORMATS, class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'When passing `label_mode="binary"`, there must be exactly 2 class_names. '
                         f"Received: class_names={class_names}")

    def make(subset_paths, subset_labels, shuffled, what):
        if not subset_paths:
            raise ValueError(f"No {what}images found in directory {directory}. Allowed formats: "
                             f"{ALLOWLIST_FORMATS}")
        return ImageDataset(subset_paths, subset_labels, label_mode, class_names, image_size, color_mode,
                            batch_size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
                            shuffle=shuffled, seed=seed, data_format=data_format, workers=workers,
                            use_multiprocessing=use_multiprocessing)

    if subset == "both":
        train = training_or_validation_split(paths, labels, validation_split, "training", verbose)
        val = training_or_validation_split(paths, labels, validation_split, "validation", verbose)
        return [make(*train, shuffle, "training "), make(*val, False, "validation ")]
    paths, labels = training_or_validation_split(paths, labels, validation_split, subset, verbose)
    return make(paths, labels, shuffle, "")
