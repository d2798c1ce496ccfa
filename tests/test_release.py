"""`dlcourse release`: solutions -> chapters, placeholders, validation, drift detection."""

import pathlib
import subprocess
import sys

import nbformat
import pytest

from dlcourse import course, release

ROOT = course.repository_root()


def make_solution_notebook(cells, chapter="ch01"):
    """A solution notebook from (kind, source, exercise_id) triples."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["dlcourse"] = {"chapter": chapter}
    for kind, source, exercise_id in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if exercise_id:
            cell.metadata["dlcourse"] = {"exercise": exercise_id}
        notebook.cells.append(cell)
    return notebook


FUNCTION_CELL = '''def relu(x):
    """Element-wise ReLU."""
    ### BEGIN SOLUTION
    return np.maximum(x, 0)
    ### END SOLUTION'''

MODEL_CELL = '''keras.utils.set_random_seed(0)
### BEGIN SOLUTION
moons_model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
moons_model.compile(loss="mse")
moons_history = moons_model.fit(x, y, verbose=0)
### END SOLUTION'''


def all_ch01_cells():
    """One stand-in cell per declared chapter 01 exercise."""
    from dlcourse import checks

    cells = [("markdown", "# Chapter 1", None)]
    for exercise_id in checks.exercises("ch01"):
        source = MODEL_CELL if exercise_id == "ch01.moons_classifier" else FUNCTION_CELL
        cells.append(("code", source, exercise_id))
        cells.append(("code", f"checks.check({exercise_id!r}, answer)", None))
    return cells


def test_function_region_becomes_your_code_here_and_return_ellipsis():
    assert release.replace_solution_regions(FUNCTION_CELL, "test") == (
        'def relu(x):\n    """Element-wise ReLU."""\n    # YOUR CODE HERE\n    return ...')


def test_top_level_region_assigns_ellipsis_to_every_name_it_defined():
    assert release.replace_solution_regions(MODEL_CELL, "test") == (
        "keras.utils.set_random_seed(0)\n# YOUR CODE HERE\nmoons_model = ...\nmoons_history = ...")


def test_explicit_placeholder_from_metadata_wins():
    assert release.replace_solution_regions(MODEL_CELL, "test", "answer = None") == (
        "keras.utils.set_random_seed(0)\n# YOUR CODE HERE\nanswer = None")


@pytest.mark.parametrize("source,fragment", [
    ("### BEGIN SOLUTION\nx = 1", "no matching `### END SOLUTION`"),
    ("x = 1\n### END SOLUTION", "no matching `### BEGIN SOLUTION`"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "no matching `### END SOLUTION`"),
    ("x = 1", "must contain a `### BEGIN SOLUTION`"),
])
def test_malformed_markers_name_the_problem(source, fragment):
    with pytest.raises(release.ReleaseError, match=fragment.replace("(", r"\(").replace("`", "`")):
        release.replace_solution_regions(source, "01_x.ipynb, cell 2")


def test_release_notebook_clears_outputs_and_records_metadata():
    solution = make_solution_notebook(all_ch01_cells())
    solution.cells[1].outputs = [nbformat.v4.new_output("stream", text="secret")]
    solution.cells[1].execution_count = 7
    student = release.release_notebook(solution, "01_test.ipynb")
    assert student.metadata["dlcourse"]["chapter"] == "ch01"
    assert student.metadata["dlcourse"]["exercises"][0] == "ch01.sigmoid"
    assert all(cell.get("outputs", []) == [] for cell in student.cells)
    assert student.cells[1].execution_count is None
    assert "np.maximum" not in student.cells[1].source
    assert solution.cells[1].outputs, "the solution notebook itself must not be modified"


def test_release_rejects_a_region_without_exercise_id():
    cells = all_ch01_cells() + [("code", FUNCTION_CELL, None)]
    with pytest.raises(release.ReleaseError, match="no exercise id in its metadata"):
        release.release_notebook(make_solution_notebook(cells), "01_test.ipynb")


def test_release_rejects_unknown_and_missing_exercises():
    cells = all_ch01_cells() + [("code", FUNCTION_CELL, "ch01.leaky_relu")]
    with pytest.raises(release.ReleaseError, match="ch01.leaky_relu are not declared"):
        release.release_notebook(make_solution_notebook(cells), "01_test.ipynb")
    with pytest.raises(release.ReleaseError, match="have no exercise cell"):
        release.release_notebook(make_solution_notebook(all_ch01_cells()[:3]), "01_test.ipynb")


def test_release_rejects_an_exercise_on_a_markdown_cell():
    cells = all_ch01_cells()
    cells[1] = ("markdown", "The answer is ReLU.", cells[1][2])
    with pytest.raises(release.ReleaseError, match="01_test.ipynb, cell 2: exercise ch01.sigmoid is on a markdown "
                                                   "cell, not a code cell"):
        release.release_notebook(make_solution_notebook(cells), "01_test.ipynb")


def test_release_rejects_an_exercise_of_another_chapter():
    cells = all_ch01_cells() + [("code", FUNCTION_CELL, "ch02.activation_derivatives")]
    with pytest.raises(release.ReleaseError, match="exercise ch02.activation_derivatives does not belong to "
                                                   "chapter ch01"):
        release.release_notebook(make_solution_notebook(cells), "01_test.ipynb")


def test_release_rejects_an_exercise_id_used_twice():
    cells = all_ch01_cells() + [("code", FUNCTION_CELL, "ch01.relu")]
    with pytest.raises(release.ReleaseError, match="exercise ch01.relu appears in more than one cell"):
        release.release_notebook(make_solution_notebook(cells), "01_test.ipynb")


def test_release_rejects_a_file_name_that_disagrees_with_the_chapter_metadata():
    with pytest.raises(release.ReleaseError, match="metadata says chapter ch01, but the file name starts with 02"):
        release.release_notebook(make_solution_notebook(all_ch01_cells()), "02_test.ipynb")


def test_release_rejects_a_solution_region_that_does_not_parse():
    cells = all_ch01_cells()
    cells[1] = ("code", "### BEGIN SOLUTION\ndef relu(x:\n    return x\n### END SOLUTION", cells[1][2])
    with pytest.raises(release.ReleaseError) as raised:
        release.release_notebook(make_solution_notebook(cells), "01_test.ipynb")
    assert str(raised.value) == ("01_test.ipynb, cell 2: the solution region does not parse: '(' was never closed "
                                 "(the region starting on line 1).")


def test_release_rejects_missing_chapter_metadata():
    notebook = make_solution_notebook(all_ch01_cells())
    del notebook.metadata["dlcourse"]
    with pytest.raises(release.ReleaseError, match="chapter"):
        release.release_notebook(notebook, "01_test.ipynb")


def test_release_all_then_check_detects_drift(tmp_path):
    solutions, chapters = tmp_path / "solutions", tmp_path / "chapters"
    solutions.mkdir()
    nbformat.write(make_solution_notebook(all_ch01_cells()), str(solutions / "01_test.ipynb"))
    assert [d.problem for d in release.find_differences(solutions, chapters)] == ["missing from chapters/"]
    assert release.release_all(solutions, chapters) == ["01_test.ipynb"]
    assert release.find_differences(solutions, chapters) == []
    assert release.release_all(solutions, chapters) == []
    edited = chapters / "01_test.ipynb"
    edited.write_text(edited.read_text().replace("# Chapter 1", "# Chapter one"))
    (chapters / "99_orphan.ipynb").write_text("{}")
    problems = {d.notebook_name: d for d in release.find_differences(solutions, chapters)}
    assert problems["01_test.ipynb"].problem == "out of date"
    assert "# Chapter one" in problems["01_test.ipynb"].details
    assert "has no source" in problems["99_orphan.ipynb"].problem


def test_repository_chapters_are_up_to_date_with_solutions():
    result = subprocess.run([sys.executable, "-m", "dlcourse", "release", "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_every_available_chapter_has_both_versions():
    for chapter in course.CHAPTERS:
        solution = ROOT / "solutions" / chapter.notebook_name
        student = ROOT / "chapters" / chapter.notebook_name
        assert solution.exists() == student.exists(), chapter.notebook_name


def test_committed_notebooks_carry_no_outputs():
    paths = sorted(ROOT.glob("solutions/*.ipynb")) + sorted(ROOT.glob("chapters/*.ipynb"))
    assert paths, "expected at least one notebook"
    for path in paths:
        notebook = nbformat.read(str(path), as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: {cell.source[:40]}"


def test_student_code_cells_compile_and_hide_solutions():
    for path in sorted(ROOT.glob("chapters/*.ipynb")):
        notebook = nbformat.read(str(path), as_version=4)
        assert notebook.metadata["dlcourse"]["chapter"] == "ch" + path.name[:2]
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            assert "### BEGIN SOLUTION" not in cell.source
            compile(cell.source, f"{path.name}", "exec")
            if cell.metadata.get("dlcourse", {}).get("exercise"):
                assert "# YOUR CODE HERE" in cell.source


def test_release_check_exits_nonzero_on_drift(tmp_path):
    solutions, chapters = tmp_path / "solutions", tmp_path / "chapters"
    solutions.mkdir()
    nbformat.write(make_solution_notebook(all_ch01_cells()), str(solutions / "01_test.ipynb"))
    command = [sys.executable, "-m", "dlcourse", "release", "--check", "--solutions", str(solutions),
               "--chapters", str(chapters)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1 and "chapters/01_test.ipynb: missing from chapters/" in result.stdout
    subprocess.run(command[:4] + command[5:], check=True, capture_output=True)
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0
