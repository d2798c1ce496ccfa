"""Pretrain chapter 07's base: a small CNN trained on a Fashion-MNIST subset, saved into datasets/.

Run it from the repository root:

    python -m dlcourse.pretrain_transfer_base                 # pretrain, write datasets/fashion_base.keras
    python -m dlcourse.pretrain_transfer_base --make-subset   # first rebuild datasets/fashion_mnist_subset.npz
                                                              # from Debian's dataset-fashion-mnist

Seeds are fixed (and TensorFlow's ops made deterministic), so a run on the same machine and versions gives
the same weights. The script prints its run time, the test accuracy and the file's sha256, to be copied
into datasets/manifest.json and datasets/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import pathlib
import time

import numpy as np

FASHION_DEBIAN_FOLDER = "/usr/share/datasets/fashion-mnist"
FASHION_CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SUBSET_FILE_NAME = "fashion_mnist_subset.npz"
BASE_FILE_NAME = "fashion_base.keras"
NUM_TRAIN_PER_CLASS = 1000
NUM_TEST_PER_CLASS = 100
SEED = 7


def read_idx(path: str, offset: int) -> np.ndarray:
    """The uint8 payload of a gzip IDX file (images: offset 16, labels: offset 8)."""
    with gzip.open(path, "rb") as stream:
        return np.frombuffer(stream.read(), dtype=np.uint8, offset=offset)


def balanced_indices(labels: np.ndarray, per_class: int, generator: np.random.Generator) -> np.ndarray:
    """`per_class` seeded random indices of every class, shuffled together."""
    chosen = [generator.choice(np.flatnonzero(labels == label), per_class, replace=False)
              for label in range(int(labels.max()) + 1)]
    return generator.permutation(np.concatenate(chosen))


def make_subset(source_folder: str, output_path: pathlib.Path) -> None:
    """Write a balanced Fashion-MNIST subset (uint8 images, uint8 labels) as a compressed .npz."""
    generator = np.random.default_rng(SEED)
    arrays = {}
    for split, prefix, per_class in (("train", "train", NUM_TRAIN_PER_CLASS), ("test", "t10k", NUM_TEST_PER_CLASS)):
        images = read_idx(f"{source_folder}/{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        labels = read_idx(f"{source_folder}/{prefix}-labels-idx1-ubyte.gz", 8)
        indices = balanced_indices(labels, per_class, generator)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images[indices], labels[indices]
    np.savez_compressed(output_path, **arrays)
    print(f"wrote {output_path} ({output_path.stat().st_size} bytes, sha256 {file_sha256(output_path)})")


def build_base(input_shape=(28, 28, 1), name: str = "fashion_base", batch_norm_momentum: float = 0.99):
    """The base: three blocks Conv2D (no bias) -> BatchNormalization -> ReLU -> MaxPooling2D, then Flatten.

    The 3 x 3 x 64 feature map is flattened (576 features) rather than averaged, so the features keep
    *where* a pattern is, which digits need. A lower `batch_norm_momentum` lets the moving statistics
    settle within the few steps of a short training run (the pretraining uses Keras' default, 0.99).
    """
    import keras

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for block, filters in enumerate((16, 32, 64), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv")(x)
        x = keras.layers.BatchNormalization(momentum=batch_norm_momentum, name=f"block{block}_bn")(x)
        x = keras.layers.Activation("relu", name=f"block{block}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    outputs = keras.layers.Flatten(name="features")(x)
    return keras.Model(inputs, outputs, name=name)


def build_classifier(base, num_classes: int = 10):
    """The base with a softmax head, as used for pretraining."""
    import keras

    inputs = keras.Input(shape=base.input_shape[1:])
    features = base(inputs)
    features = keras.layers.Dropout(0.3)(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="source_head")(features)
    return keras.Model(inputs, outputs)


def file_sha256(path: pathlib.Path) -> str:
    """The sha256 hex digest of a file."""
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def pretrain(subset_path: pathlib.Path, output_path: pathlib.Path, num_train: int | None, num_epochs: int) -> dict:
    """Train the base on the subset's training images, save it (without its head) and return a summary."""
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    with np.load(subset_path) as data:
        train_images, train_labels = data["train_images"], data["train_labels"]
        test_images, test_labels = data["test_images"], data["test_labels"]
    if num_train is not None:
        train_images, train_labels = train_images[:num_train], train_labels[:num_train]
    scale = lambda images: (images.astype("float32") / 255.0)[..., None]  # noqa: E731
    base = build_base()
    classifier = build_classifier(base)
    classifier.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    augment = keras.Sequential([keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=SEED)])
    dataset = (tf.data.Dataset.from_tensor_slices((scale(train_images), train_labels.astype("int64")))
               .shuffle(len(train_labels), seed=SEED).batch(64)
               .map(lambda x, y: (augment(x, training=True), y)))
    classifier.fit(dataset, epochs=num_epochs, verbose=2)
    _, test_accuracy = classifier.evaluate(scale(test_images), test_labels.astype("int64"), verbose=0)
    clean = build_base()  # an uncompiled copy, so the file holds no optimizer state
    clean.set_weights(base.get_weights())
    clean.save(output_path)
    seconds = time.perf_counter() - start
    summary = {"train_images": len(train_labels), "epochs": num_epochs, "test_accuracy": float(test_accuracy),
               "seconds": seconds, "bytes": output_path.stat().st_size, "sha256": file_sha256(output_path),
               "params": int(clean.count_params())}
    print(f"pretrained on {len(train_labels)} Fashion-MNIST images for {num_epochs} epochs; "
          f"test accuracy {test_accuracy:.4f} on {len(test_labels)} held-out images")
    print(f"wrote {output_path} ({summary['bytes']} bytes, {summary['params']} params, sha256 {summary['sha256']})")
    print(f"run time: {seconds:.1f} s")
    return summary


def main(argv=None) -> dict | None:
    """Command-line entry point."""
    datasets_folder = pathlib.Path(__file__).resolve().parent.parent / "datasets"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-subset", action="store_true", help="rebuild the subset from the Debian package first")
    parser.add_argument("--source-folder", default=FASHION_DEBIAN_FOLDER)
    parser.add_argument("--subset", type=pathlib.Path, default=datasets_folder / SUBSET_FILE_NAME)
    parser.add_argument("--output", type=pathlib.Path, default=datasets_folder / BASE_FILE_NAME)
    parser.add_argument("--num-train", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--subset-only", action="store_true", help="only rebuild the subset")
    arguments = parser.parse_args(argv)
    if arguments.make_subset or arguments.subset_only:
        make_subset(arguments.source_folder, arguments.subset)
    if arguments.subset_only:
        return None
    return pretrain(arguments.subset, arguments.output, arguments.num_train, arguments.epochs)


if __name__ == "__main__":
    main()
