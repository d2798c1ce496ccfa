"""Shared material for the grader tests: a fast mini chapter 01 course and fixture-answer helpers."""

import copy
import csv
import subprocess
import sys
import warnings

import nbformat
import pytest

from dlcourse import course, release
from dlcourse.grading import submissions

ROOT = course.repository_root()
NOTEBOOK_NAME = "01_neurons_and_activations.ipynb"

CORRECT = {
    "ch01.sigmoid": "def sigmoid(x):\n    return 1.0 / (1.0 + np.exp(-x))",
    "ch01.relu": "def relu(x):\n    return np.maximum(x, 0)",
    "ch01.softmax": ("def softmax(logits):\n    shifted = logits - logits.max(axis=-1, keepdims=True)\n"
                     "    return np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)"),
    "ch01.neuron_output": "def neuron_output(inputs, weights, bias):\n    return sigmoid(np.dot(inputs, weights) + bias)",
    "ch01.dense_forward": "def dense_forward(inputs, kernel, bias, activation):\n    return activation(inputs @ kernel + bias)",
    "ch01.count_dense_parameters": ("def count_dense_parameters(layer_sizes):\n"
                                    "    return sum(a * b + b for a, b in zip(layer_sizes, layer_sizes[1:]))"),
}
WRONG_RELU = "def relu(x):\n    return np.abs(x)"
ALL_IDS = ["ch01.sigmoid", "ch01.relu", "ch01.softmax", "ch01.neuron_output", "ch01.dense_forward",
           "ch01.count_dense_parameters", "ch01.moons_classifier"]


def keep_for_mini_course(cell):
    """The setup cell, exercise cells, check cells and the moons data cell: enough to grade, fast."""
    if cell.cell_type != "code":
        return False
    return bool(release.exercise_id_of(cell) or submissions.check_call_of(cell.source)
                or "from dlcourse import" in cell.source or "moons_train_x, moons_train_y =" in cell.source)


@pytest.fixture(scope="session")
def mini_course(tmp_path_factory):
    """A copy of the course whose chapter 01 keeps only what grading needs (no MNIST training)."""
    root = tmp_path_factory.mktemp("mini_course")
    solution = nbformat.read(str(ROOT / "solutions" / NOTEBOOK_NAME), as_version=4)
    solution.cells = [cell for cell in solution.cells if keep_for_mini_course(cell)]
    (root / "solutions").mkdir()
    nbformat.write(solution, str(root / "solutions" / NOTEBOOK_NAME))
    return root


@pytest.fixture(scope="session")
def student_notebook(mini_course):
    """The student version of the mini chapter."""
    solution = nbformat.read(str(mini_course / "solutions" / NOTEBOOK_NAME), as_version=4)
    return release.release_notebook(solution, NOTEBOOK_NAME)


def with_answers(notebook, answers, check_cells=None):
    """A copy of the student notebook with some exercise cells (and optionally check cells) replaced."""
    submission = copy.deepcopy(notebook)
    for cell in submission.cells:
        exercise_id = release.exercise_id_of(cell)
        if exercise_id in answers:
            cell.source = answers[exercise_id]
        found = submissions.check_call_of(cell.source) if cell.cell_type == "code" else None
        if found and check_cells and found[0] in check_cells:
            cell.source = check_cells[found[0]]
    return submission


def solution_answers(mini_course):
    """The solution notebook's exercise cells, markers included (a correct, differently written answer set)."""
    solution = nbformat.read(str(mini_course / "solutions" / NOTEBOOK_NAME), as_version=4)
    return {release.exercise_id_of(cell): cell.source for cell in solution.cells if release.exercise_id_of(cell)}


def grades_by_student(out):
    """grades.csv as {student: {exercise: row}}."""
    table = {}
    with (out / "grades.csv").open(newline="") as stream:
        for row in csv.DictReader(stream):
            table.setdefault(row["student"], {})[row["exercise"]] = row
    return table


def statuses(table, student):
    """The status of each chapter 01 exercise for one student, in course order."""
    return [table[student][exercise_id]["status"] for exercise_id in ALL_IDS]


def grade_real_chapter_answers(cases, tmp_path):
    """Grade, with `dlcourse grade` on the real course, one submission per student: the chapter's student notebook
    with one exercise answered. `cases` maps student -> (chapter id, exercise id, answer, ...); returns grades.csv
    as {student: {exercise: row}}."""
    from dlcourse import course

    folder = tmp_path / "submissions"
    folder.mkdir()
    for student, (chapter_id, exercise_id, answer, *_) in cases.items():
        chapter = course.chapter_by_id(chapter_id)
        official = nbformat.read(str(course.repository_root() / "chapters" / chapter.notebook_name), as_version=4)
        nbformat.write(with_answers(official, {exercise_id: answer}), str(folder / f"{student}.ipynb"))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "dlcourse", "grade", str(folder), "--out", str(out), "--workers", "2"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return grades_by_student(out)


def grade_batch_with_cli(notebooks, name, mini_course, tmp_path_factory):
    """Write {student: notebook} to a fresh folder, grade it with `dlcourse grade` against the mini course (the
    sandbox on where bubblewrap works) and return grades.csv as {student: {exercise: row}}."""
    folder = tmp_path_factory.mktemp(f"{name}_submissions")
    for student, notebook in notebooks.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat warns about cells without ids, which some tests make on purpose
            nbformat.write(notebook, str(folder / f"{student}.ipynb"))
    out = tmp_path_factory.mktemp(f"{name}_out")
    run = subprocess.run([sys.executable, "-m", "dlcourse", "grade", str(folder), "--out", str(out), "--workers", "2",
                          "--timeout", "60", "--course", str(mini_course)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return grades_by_student(out)
