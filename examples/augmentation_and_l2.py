"""Fashion-MNIST with and without augmentation + L2: the same model, epochs and seed, test accuracy of both.

    python examples/augmentation_and_l2.py --epochs 10 --seed 1

The model is ``fashion_cnn`` (two conv + pooling blocks, dense 128, dropout); the second run puts
RandomFlip("horizontal") and RandomTranslation(0.1, 0.1) in front of it (active in training only) and an
L2(1e-4) penalty on every kernel. Prints one line per run: test accuracy, test loss, seconds per epoch.
"""

import argparse
import time

import numbacnn as keras
from numbacnn import layers, regularizers


def build(augment, seed):
    keras.utils.set_random_seed(seed)
    reg = regularizers.L2(1e-4) if augment else None
    front = [layers.RandomFlip("horizontal"), layers.RandomTranslation(0.1, 0.1)] if augment else []
    return keras.Sequential([
        keras.Input((28, 28, 1)), *front,
        layers.Conv2D(32, 3, padding="same", activation="relu", kernel_regularizer=reg),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu", kernel_regularizer=reg),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(128, activation="relu", kernel_regularizer=reg),
        layers.Dropout(0.3),
        layers.Dense(10, activation="softmax", kernel_regularizer=reg),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    (x, y), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x, x_test = x.reshape(-1, 28, 28, 1) / 255.0, x_test.reshape(-1, 28, 28, 1) / 255.0
    for augment in (False, True):
        model = build(augment, args.seed)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        per_epoch = (time.perf_counter() - start) / args.epochs
        loss, acc = model.evaluate(x_test, y_test, verbose=0)
        label = "augmentation + L2" if augment else "plain            "
        print(f"{label}: test accuracy {acc:.4f} (loss {loss:.4f}), {per_epoch:.1f} s per epoch", flush=True)


if __name__ == "__main__":
    main()
