"""The held-out data of the checks: files match their manifest, loaders verify them, and no example is one the kernel can load."""

import hashlib
import re

import numpy as np
import pytest

from dlcourse import datasets
from dlcourse.checks import heldout
from dlcourse.grading import sandbox

README_ROW = re.compile(r"^\| `(?P<name>[^`]+)` \|.*\| (?P<size>\d+) \| `(?P<sha256>[0-9a-f]{64})` \|$")


def _manifest_rows():
    """{file name: (size, sha256)} from the table of dlcourse/checks/heldout/README.md."""
    rows = {}
    for line in (heldout.FOLDER / "README.md").read_text().splitlines():
        match = README_ROW.match(line)
        if match:
            rows[match["name"]] = (int(match["size"]), match["sha256"])
    return rows


def _pixel_hashes(images):
    """The sha256 of each uint8 image's pixels."""
    return {hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest() for image in images}


def test_every_file_matches_its_manifest_row_and_the_loader_hashes():
    rows = _manifest_rows()
    assert set(rows) == set(heldout.SHA256) == {heldout.MNIST_FILE_NAME, heldout.RATINGS_FILE_NAME,
                                                heldout.SUNSPOTS_FILE_NAME}
    for name, (size, sha256) in rows.items():
        path = heldout.FOLDER / name
        assert path.stat().st_size == size, name
        assert heldout.file_sha256(path) == sha256 == heldout.SHA256[name], name


def test_a_corrupted_or_missing_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(heldout.SHA256, heldout.MNIST_FILE_NAME, "0" * 64)
    with pytest.raises(heldout.HeldoutDataError, match="mnist_test_digits.npz is corrupted"):
        heldout.verified_path(heldout.MNIST_FILE_NAME)
    monkeypatch.setattr(heldout, "FOLDER", tmp_path)
    with pytest.raises(heldout.HeldoutDataError, match="mnist_test_digits.npz is missing"):
        heldout.verified_path(heldout.MNIST_FILE_NAME)


def test_heldout_digits_are_balanced_in_both_parts():
    scoring_images, scoring_labels = heldout.load_model_scoring_digits()
    input_images, input_labels = heldout.load_input_digits()
    assert scoring_images.shape == (1000, 28, 28) and scoring_images.dtype == np.uint8
    assert input_images.shape == (500, 28, 28) and input_images.dtype == np.uint8
    assert np.bincount(scoring_labels).tolist() == [100] * 10
    assert np.bincount(input_labels).tolist() == [50] * 10
    assert len(_pixel_hashes(np.concatenate([scoring_images, input_images]))) == 1500


def test_no_heldout_digit_is_among_the_digits_the_kernel_can_load():
    course_images, _ = datasets.load_mnist_sample()
    heldout_images, _ = heldout.load_mnist_digits()
    assert not _pixel_hashes(heldout_images) & _pixel_hashes(course_images)


def test_no_heldout_digit_is_a_near_copy_of_a_course_digit():
    course = datasets.load_mnist_sample()[0].reshape(5000, -1).astype(np.float32) / 255.0
    held = heldout.load_mnist_digits()[0].reshape(1500, -1).astype(np.float32) / 255.0
    squared_distances = (held ** 2).sum(1)[:, None] + (course ** 2).sum(1)[None, :] - 2.0 * held @ course.T
    # the closest pairs are plain strokes of a "1" differing in about 70 pixels (squared distance 1.37), as close as
    # the two closest distinct digits of mnist_5k itself (1.38); a copy, even re-encoded, would be near 0
    assert float(squared_distances.min()) > 1.0, "a held-out digit is nearly identical to one of mnist_5k's"


def test_heldout_ratings_rate_no_pair_the_lesson_rates():
    lesson_users, lesson_items, _ = datasets.make_synthetic_ratings()
    user_ids, item_ids, ratings = heldout.load_ratings()
    lesson_pairs = set(zip(lesson_users.tolist(), lesson_items.tolist()))
    heldout_pairs = set(zip(user_ids.tolist(), item_ids.tolist()))
    assert len(heldout_pairs) == len(ratings) == 2000
    assert not heldout_pairs & lesson_pairs
    assert user_ids.min() >= 0 and user_ids.max() <= 299 and item_ids.min() >= 0 and item_ids.max() <= 199
    assert set(np.unique(ratings).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_the_sandbox_hides_the_heldout_folder_from_the_kernel():
    hidden = sandbox._checks_folders()
    assert any(str(heldout.FOLDER).startswith(folder.rstrip("/") + "/") for folder in hidden), hidden


def test_heldout_sunspots_continue_the_lessons_series_past_1969():
    """The held-out file is the whole statsmodels series; the course's file is exactly its first 270 lines of data."""
    from dlcourse import datasets

    course_years, course_counts = datasets.load_sunspots()
    all_years, all_counts = heldout.load_sunspots()
    np.testing.assert_array_equal(all_years, np.arange(1700, 2009))
    np.testing.assert_array_equal(all_years[:270], course_years)
    np.testing.assert_array_equal(all_counts[:270], course_counts)
    course_bytes = datasets.verified_path(datasets.SUNSPOTS_FILE_NAME).read_bytes()
    assert heldout.verified_path(heldout.SUNSPOTS_FILE_NAME).read_bytes().startswith(course_bytes)
    assert course_years[-1] == 1969 and all_counts[all_years == 2008] == pytest.approx(2.9)


def test_forecaster_is_scored_only_on_years_the_course_data_lacks():
    """ch05's scoring windows all have target years 1970-2008, none of which datasets/ holds."""
    from dlcourse import datasets
    from dlcourse.checks import ch05

    _, targets, _, target_years = ch05.sunspot_test_windows()
    np.testing.assert_array_equal(target_years, np.arange(1970, 2009))
    assert not set(target_years.tolist()) & set(datasets.load_sunspots()[0].tolist())
    assert len(targets) == 39
