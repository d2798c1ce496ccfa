"""Held-out data for scoring model exercises, read only in the process that judges answers.

The grader's sandbox hides the whole `dlcourse/checks` folder from the student's kernel, so no kernel can
load these files: a model is scored here on examples it has never been given, and the labels of images
sent to a kernel as inputs stay here. `README.md` beside this file records each file's source, licence,
size and sha256; every loader checks the sha256 before reading.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent
MNIST_FILE_NAME = "mnist_test_digits.npz"
RATINGS_FILE_NAME = "synthetic_ratings_heldout.npz"
SUNSPOTS_FILE_NAME = "sunspots.csv"
SHA256 = {
    MNIST_FILE_NAME: "3c0d17f543ef1fe7862dd1baff556c315b7b28ac71733e813f6e8f6526b1b327",
    RATINGS_FILE_NAME: "38ce0672d4f019499e52f867070c38c63682370e62dedd75410831822fd5b8ad",
    SUNSPOTS_FILE_NAME: "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b",
}
NUM_MODEL_SCORING_DIGITS = 1000  # the first 1000 digits: scored here, never sent anywhere
NUM_INPUT_DIGITS = 500           # the last 500: sent to a kernel as unlabelled inputs; their labels stay here
SUNSPOT_YEARS = (1700, 2008)     # the whole statsmodels file; datasets/ holds only 1700-1969


class HeldoutDataError(RuntimeError):
    """A held-out file is missing or does not match its recorded sha256."""


def file_sha256(path: Path) -> str:
    """The sha256 of a file, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_path(file_name: str) -> Path:
    """The path of a held-out file after checking its sha256; HeldoutDataError names what is wrong."""
    path = FOLDER / file_name
    if not path.is_file():
        raise HeldoutDataError(f"The held-out file {path} is missing: restore it with `git checkout -- {path.name}` "
                               "in dlcourse/checks/heldout (README.md there says how it was made).")
    actual = file_sha256(path)
    if actual != SHA256[file_name]:
        raise HeldoutDataError(f"The held-out file {path} is corrupted: sha256 {actual}, expected {SHA256[file_name]}.")
    return path


@functools.lru_cache(maxsize=None)
def _load_arrays(file_name: str) -> dict[str, np.ndarray]:
    """Every array of a verified held-out .npz file (read without pickle, once)."""
    with np.load(verified_path(file_name), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def load_mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1500 held-out MNIST test digits: uint8 images (1500, 28, 28) and labels (1500,), 150 per class."""
    arrays = _load_arrays(MNIST_FILE_NAME)
    return arrays["images"].copy(), arrays["labels"].astype(np.int64)


def load_model_scoring_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1000 held-out digits on which submitted models are scored (100 per class)."""
    images, labels = load_mnist_digits()
    return images[:NUM_MODEL_SCORING_DIGITS], labels[:NUM_MODEL_SCORING_DIGITS]


def load_input_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 500 held-out digits sent to a student's function as unlabelled inputs (50 per class), with their labels."""
    images, labels = load_mnist_digits()
    return images[NUM_MODEL_SCORING_DIGITS:], labels[NUM_MODEL_SCORING_DIGITS:]


def load_ratings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2000 SYNTHETIC held-out ratings (user_ids, item_ids, ratings) on pairs the lesson's ratings never rate."""
    arrays = _load_arrays(RATINGS_FILE_NAME)
    return arrays["user_ids"].copy(), arrays["item_ids"].copy(), arrays["ratings"].copy()


@functools.lru_cache(maxsize=None)
def _load_sunspot_table() -> np.ndarray:
    """The verified sunspot file as a (309, 2) float table of (year, count), read once."""
    path = verified_path(SUNSPOTS_FILE_NAME)
    with path.open("r", encoding="ascii") as stream:
        header = stream.readline().strip()
        table = np.loadtxt(stream, delimiter=",", dtype=np.float64, ndmin=2)
    first_year, last_year = SUNSPOT_YEARS
    if header != '"YEAR","SUNACTIVITY"' or not np.array_equal(table[:, 0], np.arange(first_year, last_year + 1)):
        raise HeldoutDataError(f"The held-out file {path} does not hold the years {first_year}-{last_year}.")
    return table


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """The yearly mean sunspot numbers 1700-2008 (years int64, counts float64); the lesson's data stops at 1969."""
    table = _load_sunspot_table()
    return table[:, 0].astype(np.int64), table[:, 1].copy()
