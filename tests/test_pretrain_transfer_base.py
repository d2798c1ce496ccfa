"""The chapter 07 pretraining script, on a tiny setting: subset from IDX files, pretraining, the saved base."""

import gzip
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from dlcourse import datasets, pretrain_transfer_base

keras = pytest.importorskip("keras")
REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parent.parent


def write_idx(path, array, offset):
    """A gzip IDX file: `offset` header bytes, then the uint8 payload."""
    with gzip.open(path, "wb") as stream:
        stream.write(bytes(offset) + np.asarray(array, dtype=np.uint8).tobytes())


def test_make_subset_is_balanced_and_seeded(tmp_path, monkeypatch):
    generator = np.random.default_rng(0)
    for prefix, count in (("train", 60), ("t10k", 30)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", generator.integers(0, 256, (count, 28, 28)), 16)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 10, 8)
    monkeypatch.setattr(pretrain_transfer_base, "NUM_TRAIN_PER_CLASS", 4)
    monkeypatch.setattr(pretrain_transfer_base, "NUM_TEST_PER_CLASS", 2)
    outputs = []
    for name in ("a.npz", "b.npz"):
        pretrain_transfer_base.main(["--subset-only", "--source-folder", str(tmp_path), "--subset", str(tmp_path / name)])
        with np.load(tmp_path / name) as data:
            outputs.append({key: data[key] for key in data.files})
    first, second = outputs
    assert first["train_images"].shape == (40, 28, 28) and first["test_images"].shape == (20, 28, 28)
    assert np.bincount(first["train_labels"]).tolist() == [4] * 10
    for key in first:
        assert np.array_equal(first[key], second[key]), f"{key} differs between two runs with the same seed"


def test_tiny_pretraining_writes_a_loadable_base(tmp_path):
    """`python -m dlcourse.pretrain_transfer_base` on 64 images for 1 epoch (in a subprocess: it turns on
    TensorFlow's op determinism, which must not leak into other tests)."""
    output = tmp_path / "base.keras"
    result = subprocess.run(
        [sys.executable, "-m", "dlcourse.pretrain_transfer_base", "--subset",
         str(datasets.verified_path("fashion_mnist_subset.npz")), "--output", str(output),
         "--num-train", "64", "--epochs", "1"],
        capture_output=True, text=True, cwd=REPOSITORY_ROOT, timeout=300, check=True)
    assert "run time:" in result.stdout and "test accuracy" in result.stdout and "23632 params" in result.stdout
    base = keras.models.load_model(output)
    assert base.output_shape == (None, 576)
    assert [layer.name for layer in base.layers] == [layer.name for layer in pretrain_transfer_base.build_base().layers]


def test_committed_base_has_the_script_architecture():
    committed = keras.models.load_model(datasets.transfer_base_path())
    built = pretrain_transfer_base.build_base()
    assert [type(layer).__name__ for layer in committed.layers] == [type(layer).__name__ for layer in built.layers]
    assert [layer.name for layer in committed.layers] == [layer.name for layer in built.layers]
    assert committed.count_params() == built.count_params() == 23632
