"""`dlcourse grade --scheduler`: the same grades from a Dask cluster (a LocalCluster here) as from one machine."""

import csv
import subprocess
import sys

import nbformat
import pytest

from grading_helpers import CORRECT, mini_course, solution_answers, student_notebook, with_answers  # noqa: F401

distributed = pytest.importorskip("distributed")


def grade(folder, out, mini_course, *extra):
    command = [sys.executable, "-m", "dlcourse", "grade", str(folder), "--out", str(out), "--timeout", "60",
               "--course", str(mini_course), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def rows(out):
    with (out / "grades.csv").open(newline="") as stream:
        return sorted(tuple(row.values()) for row in csv.DictReader(stream))


@pytest.fixture(scope="module")
def batch(mini_course, student_notebook, tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    notebooks = {"correct": with_answers(student_notebook, solution_answers(mini_course)),
                 "partial": with_answers(student_notebook, {"ch01.relu": CORRECT["ch01.relu"]}),
                 "untouched": student_notebook}
    for name, notebook in notebooks.items():
        nbformat.write(notebook, str(folder / f"{name}.ipynb"))
    (folder / "broken.ipynb").write_text('{"cells": [')
    return folder


def test_a_local_cluster_gives_the_same_grades_saves_them_and_resumes(batch, mini_course, tmp_path):
    local = grade(batch, tmp_path / "local", mini_course, "--workers", "2")
    assert local.returncode == 0, local.stderr[-2000:]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        first = grade(batch, tmp_path / "cluster", mini_course, "--scheduler", cluster.scheduler_address)
        assert first.returncode == 0, first.stderr[-3000:]
        before = {path.name: path.stat().st_mtime_ns for path in (tmp_path / "cluster" / "results").iterdir()}
        again = grade(batch, tmp_path / "cluster", mini_course, "--scheduler", cluster.scheduler_address)
    assert rows(tmp_path / "cluster") == rows(tmp_path / "local")
    assert "Graded 3 of 4 submission(s); 1 could not be graded (bad file)." in first.stdout
    assert len(before) == 4
    assert again.returncode == 0 and {path.name: path.stat().st_mtime_ns
                                      for path in (tmp_path / "cluster" / "results").iterdir()} == before


def test_an_unreachable_scheduler_is_a_clear_usage_error(batch, mini_course, tmp_path, monkeypatch):
    monkeypatch.setenv("DLCOURSE_SCHEDULER_TIMEOUT", "2")
    run = grade(batch, tmp_path / "out", mini_course, "--scheduler", "tcp://127.0.0.1:9")
    assert run.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in run.stderr
