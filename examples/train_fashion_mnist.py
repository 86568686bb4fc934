"""Train the 2-conv + pooling CNN on the full Fashion-MNIST set and report test accuracy.

    python examples/train_fashion_mnist.py --epochs 10

Reads the data from the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist),
$NUMBACNN_DATA, or a directory given with --data-dir. Written the way a Keras user writes it.
"""

import argparse
import time

from numbacnn import applications, utils
from numbacnn.callbacks import Callback
from numbacnn.datasets import fashion_mnist


class EpochTimer(Callback):
    """Wall-clock seconds of each epoch (training and validation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(data_dir=args.data_dir)
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0

    model = applications.fashion_cnn()
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(x_test, y_test), callbacks=[timer], verbose=2)
    test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
    per_epoch = timer.seconds
    print(f"\nepochs: {len(per_epoch)}, seconds per epoch: {sum(per_epoch) / len(per_epoch):.1f} "
          f"(first {per_epoch[0]:.1f}), test loss {test_loss:.4f}, test accuracy {test_acc:.4f}")


if __name__ == "__main__":
    main()
