"""Exit codes and messages of the command line for input it can't use: 2 and one line on stderr, nothing written;
and `grade --force` really regrades."""

import json

import nbformat

from grading_helpers import mini_course, solution_answers, student_notebook, with_answers  # noqa: F401
from test_cli import run_cli


def one_submission(tmp_path):
    """A folder holding one (empty) notebook, enough for argument checks that come before grading."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), str(folder / "ana.ipynb"))
    return folder


def test_grade_with_zero_workers_is_a_usage_error_that_writes_nothing(tmp_path):
    run = run_cli("grade", one_submission(tmp_path), "--out", tmp_path / "out", "--workers", "0")
    assert run.returncode == 2
    assert run.stderr.strip() == "dlcourse grade: --workers, --timeout and --memory-mb must be positive"
    assert not (tmp_path / "out").exists()


def test_grade_with_a_student_map_missing_its_columns_is_a_usage_error(tmp_path):
    students = tmp_path / "students.csv"
    students.write_text("name,login\nana.ipynb,ana\n")
    run = run_cli("grade", one_submission(tmp_path), "--out", tmp_path / "out", "--students", students)
    assert run.returncode == 2
    assert run.stderr.strip() == (f"dlcourse grade: cannot read the student map: {students}: the student map needs "
                                  "the columns 'file' and 'student'.")
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_grade_with_a_student_map_that_is_not_text_is_a_usage_error(tmp_path):
    students = tmp_path / "students.csv"
    students.write_bytes(b"\xff\xfe\x00\x81file,student\n")
    run = run_cli("grade", one_submission(tmp_path), "--out", tmp_path / "out", "--students", students)
    assert run.returncode == 2 and run.stderr.startswith("dlcourse grade: cannot read the student map: ")
    assert "Traceback" not in run.stderr


def test_check_on_a_missing_notebook_is_a_usage_error(tmp_path):
    run = run_cli("check", tmp_path / "nope.ipynb")
    assert run.returncode == 2 and run.stderr.strip() == f"dlcourse check: no such notebook: {tmp_path / 'nope.ipynb'}"


def test_release_of_a_broken_solution_is_an_error_naming_it_and_writes_nothing(tmp_path):
    solutions, chapters = tmp_path / "solutions", tmp_path / "chapters"
    solutions.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["dlcourse"] = {"chapter": "ch01"}
    notebook.cells = [nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1")]
    nbformat.write(notebook, str(solutions / "01_broken.ipynb"))
    run = run_cli("release", "--solutions", solutions, "--chapters", chapters)
    assert run.returncode == 2
    assert run.stderr.startswith("dlcourse release: 01_broken.ipynb, cell 1: ")
    assert not chapters.exists() or not any(chapters.iterdir())


def test_release_on_a_missing_or_empty_solutions_folder_is_an_error_not_up_to_date(tmp_path):
    (tmp_path / "empty").mkdir()
    for check in (["--check"], []):
        missing = run_cli("release", *check, "--solutions", tmp_path / "none", "--chapters", tmp_path / "chapters")
        assert missing.returncode == 2, missing.stdout
        assert missing.stderr.strip() == f"dlcourse release: no solutions folder at {tmp_path / 'none'}."
        empty = run_cli("release", *check, "--solutions", tmp_path / "empty", "--chapters", tmp_path / "chapters")
        assert empty.returncode == 2
        assert empty.stderr.strip() == (f"dlcourse release: {tmp_path / 'empty'} holds no chapter notebook "
                                        "(NN_name.ipynb).")
    assert not (tmp_path / "chapters").exists()


def test_grade_force_regrades_what_a_plain_rerun_keeps(mini_course, student_notebook, tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(with_answers(student_notebook, solution_answers(mini_course)), str(folder / "ana.ipynb"))
    command = ["grade", folder, "--out", tmp_path / "out", "--course", mini_course, "--workers", "1",
               "--no-sandbox"]
    assert run_cli(*command, timeout=600).returncode == 0
    results = tmp_path / "out" / "results"
    first = {path.name: (path.stat().st_mtime_ns, json.loads(path.read_text())["exercises"])
             for path in results.iterdir()}
    assert run_cli(*command, timeout=600).returncode == 0
    assert {path.name: path.stat().st_mtime_ns for path in results.iterdir()} == {
        name: mtime for name, (mtime, _) in first.items()}, "a plain rerun keeps saved results"
    forced = run_cli(*command, "--force", timeout=600)
    assert forced.returncode == 0, forced.stderr[-2000:]
    again = {path.name: (path.stat().st_mtime_ns, json.loads(path.read_text())["exercises"])
             for path in results.iterdir()}
    assert again.keys() == first.keys()
    assert all(again[name][0] > first[name][0] for name in first), "--force writes every result again"
    assert all(again[name][1] == first[name][1] for name in first), "with the same grades"
