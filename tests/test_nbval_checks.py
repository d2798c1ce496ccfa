"""The nbval plugin: solution notebooks fail on any non-passing check, student notebooks on any attempt."""

import subprocess
import sys

import nbformat

from dlcourse import nbval_checks


def test_check_lines_are_found_in_outputs():
    outputs = [{"output_type": "execute_result", "data": {"text/plain": "\u2714 ch01.relu: passed\n  Correct."}},
               {"output_type": "stream", "text": "\u2026 ch01.softmax: not attempted\n"},
               {"output_type": "stream", "text": "unrelated: passed"}]
    assert nbval_checks.check_statuses_in(outputs) == [("ch01.relu", "passed"), ("ch01.softmax", "not attempted")]


def run_nbval(tmp_path, folder, answer):
    """Run pytest with nbval and the plugin on a one-check notebook in tmp_path/folder."""
    (tmp_path / folder).mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom dlcourse import checks"),
                      nbformat.v4.new_code_cell(f'checks.check("ch01.relu", {answer})')]
    path = tmp_path / folder / "01_example.ipynb"
    nbformat.write(notebook, str(path))
    command = [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "--nbval-lax",
               "--nbval-current-env", "-p", "dlcourse.nbval_checks", str(path)]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_failing_check_in_a_solution_notebook_fails_the_run(tmp_path):
    result = run_nbval(tmp_path, "solutions", "np.abs")
    assert result.returncode == 1
    assert "solutions/ notebooks must show 'passed' for every check" in result.stdout
    assert "ch01.relu: failed" in result.stdout


def test_not_attempted_check_in_a_student_notebook_passes(tmp_path):
    """'Not attempted' passes in chapters/; the same cell fails in solutions/, so the plugin judged it (a run
    without the plugin would pass both)."""
    result = run_nbval(tmp_path, "chapters", "...")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "passed" in result.stdout and "ch01.relu" not in result.stdout
    same_cell_in_solutions = run_nbval(tmp_path, "solutions", "...")
    assert same_cell_in_solutions.returncode == 1
    assert "must show 'passed' for every check, but this cell shows: ch01.relu: not attempted" in \
        same_cell_in_solutions.stdout


def test_solved_check_in_a_student_notebook_fails_the_run(tmp_path):
    result = run_nbval(tmp_path, "chapters", "lambda x: np.maximum(x, 0)")
    assert result.returncode == 1
    assert "must show 'not attempted'" in result.stdout
