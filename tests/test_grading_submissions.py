"""Finding submissions: Jupyter's checkpoint copies skipped, a file named twice graded once, empty files named."""

import os
import pathlib

import pytest

from dlcourse.grading import submissions


def touch(path: pathlib.Path, text: str = "{}") -> pathlib.Path:
    """Create a file (and its folders) with some text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_checkpoint_copies_inside_a_class_folder_are_skipped(tmp_path):
    touch(tmp_path / "class" / "ana.ipynb")
    touch(tmp_path / "class" / ".ipynb_checkpoints" / "ana-checkpoint.ipynb")
    touch(tmp_path / "class" / "bob" / ".ipynb_checkpoints" / "01_neurons_and_activations-checkpoint.ipynb")
    found = submissions.find_submissions([tmp_path / "class"])
    assert [(submission.path.name, submission.student) for submission in found] == [("ana.ipynb", "ana")]


def test_a_class_folder_that_itself_lies_under_a_checkpoint_folder_is_still_searched(tmp_path):
    """Only checkpoint folders *inside* the folder given are skipped, not one somewhere above it."""
    folder = tmp_path / ".ipynb_checkpoints" / "class"
    touch(folder / "ana.ipynb")
    assert [submission.student for submission in submissions.find_submissions([folder])] == ["ana"]


def test_a_file_named_twice_is_one_submission(tmp_path, monkeypatch):
    notebook = touch(tmp_path / "class" / "ana.ipynb")
    monkeypatch.chdir(tmp_path)
    found = submissions.find_submissions([tmp_path / "class", notebook, pathlib.Path("class/ana.ipynb"),
                                          pathlib.Path("class/../class/ana.ipynb")])
    assert [submission.path for submission in found] == [notebook.resolve()]


def test_a_symbolic_link_to_a_submission_already_found_is_not_graded_again(tmp_path):
    notebook = touch(tmp_path / "class" / "ana.ipynb")
    os.symlink(notebook, tmp_path / "class" / "ana_link.ipynb")
    assert [submission.path for submission in submissions.find_submissions([tmp_path / "class"])] == [
        notebook.resolve()]


@pytest.mark.parametrize("raw", [b"", b"   \n\t", b"\n"])
def test_a_zero_byte_or_blank_file_is_named_empty(tmp_path, raw):
    empty = tmp_path / "ana.ipynb"
    empty.write_bytes(raw)
    with pytest.raises(submissions.SubmissionError, match=r"^the file is empty\.$"):
        submissions.read_submission_notebook(empty)
    assert empty.read_bytes() == raw, "reading a submission never changes it"
