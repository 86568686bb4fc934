"""Transfer learning as seeds 000/003 describe it, on Fashion-MNIST: reuse a trained convolutional base.

    python examples/transfer_learning.py --epochs 2

1. Train a CNN on classes 0-4 (T-shirt, trouser, pullover, dress, coat) and save it (``model.save``).
2. Load it, freeze its convolutional base (``layer.trainable = False``), put a new dense head on top and
   train only the head on classes 5-9 (sandal, shirt, sneaker, bag, ankle boot).
3. Train the same architecture from scratch on classes 5-9 for as many epochs.

Prints the test accuracy of each and the training time the frozen base saves. Reads the data from the Debian
package dataset-fashion-mnist, $NUMBACNN_DATA, or --data-dir.
"""

import argparse
import os
import tempfile
import time

from numbacnn import utils
from numbacnn.datasets import fashion_mnist
from numbacnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from numbacnn.models import Sequential, load_model


def cnn(num_classes):
    """The seeds' CNN at Fashion-MNIST's size: two conv + pooling blocks, then a dense head."""
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(num_classes, activation="softmax"),
    ])


def classes(x, y, first, limit):
    """The samples of classes first..first+4, labels shifted to 0..4, at most ``limit`` of them."""
    keep = (y >= first) & (y < first + 5)
    x, y = x[keep][:limit], y[keep][:limit] - first
    return x.reshape(-1, 28, 28, 1).astype("float32") / 255.0, y.astype("int64")


def frozen_head(pretrained):
    """The pretrained convolutional base (conv, pool, conv, pool, flatten), frozen, under a new dense head."""
    for layer in pretrained.layers[:5]:
        layer.trainable = False
    head = [Dense(128, activation="relu"), Dense(5, activation="softmax")]
    return Sequential(pretrained.layers[:5] + head, name="transfer")


def warm_up(x, y):
    """One batch of both kinds of training, so that no timing below includes Numba loading kernels."""
    for model in (cnn(5), frozen_head(cnn(5))):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x[:64], y[:64], batch_size=64, verbose=0)


def timed_fit(model, x, y, args):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="at most this many training samples per task")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(data_dir=args.data_dir)
    xa, ya = classes(x_train, y_train, 0, args.limit)
    xa_test, ya_test = classes(x_test, y_test, 0, None)
    xb, yb = classes(x_train, y_train, 5, args.limit)
    xb_test, yb_test = classes(x_test, y_test, 5, None)
    print(f"task A (classes 0-4): {len(xa)} training images; task B (classes 5-9): {len(xb)}; "
          f"{args.epochs} epochs each, batch size {args.batch_size}")

    warm_up(xa, ya)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "base_classes_0_4.h5")
        base = cnn(5)
        seconds_a = timed_fit(base, xa, ya, args)
        print(f"1. base CNN on A: test accuracy {base.evaluate(xa_test, ya_test, verbose=0)[1]:.4f} "
              f"({seconds_a:.1f} s); saved to {os.path.basename(path)}")
        base.save(path)

        transfer = frozen_head(load_model(path))
    transfer.summary()
    seconds_transfer = timed_fit(transfer, xb, yb, args)
    accuracy_transfer = transfer.evaluate(xb_test, yb_test, verbose=0)[1]

    scratch = cnn(5)
    seconds_scratch = timed_fit(scratch, xb, yb, args)
    accuracy_scratch = scratch.evaluate(xb_test, yb_test, verbose=0)[1]

    print(f"2. frozen base + new head on B: test accuracy {accuracy_transfer:.4f}, "
          f"training {seconds_transfer:.1f} s")
    print(f"3. same CNN from scratch on B:  test accuracy {accuracy_scratch:.4f}, "
          f"training {seconds_scratch:.1f} s")
    print(f"training time saved by the frozen base: {seconds_scratch - seconds_transfer:.1f} s "
          f"({1 - seconds_transfer / seconds_scratch:.0%}); accuracy difference "
          f"{accuracy_transfer - accuracy_scratch:+.4f}")


if __name__ == "__main__":
    main()
