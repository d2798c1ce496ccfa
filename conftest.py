"""Test-wide settings: progress records go to a temporary DLCOURSE_HOME, TensorFlow stays quiet."""

import os
import tempfile

import pytest


def pytest_configure(config):
    """Point DLCOURSE_HOME at a scratch folder for this run, also for nbval's notebook kernels."""
    if "DLCOURSE_TEST_HOME_SET" not in os.environ:
        os.environ["DLCOURSE_HOME"] = tempfile.mkdtemp(prefix="dlcourse-test-home-")
        os.environ["DLCOURSE_TEST_HOME_SET"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def dlcourse_home(tmp_path, monkeypatch):
    """A fresh, empty DLCOURSE_HOME for one test."""
    monkeypatch.setenv("DLCOURSE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"

