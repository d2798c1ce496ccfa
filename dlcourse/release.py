"""`dlcourse release`: generate the student notebooks in chapters/ from solutions/."""

from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import pathlib
import re
import textwrap
from typing import Any

import nbformat

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
STUDENT_MARKER = "# YOUR CODE HERE"
_CELL_METADATA_DROPPED = ("execution", "collapsed", "scrolled", "ExecuteTime")


class ReleaseError(Exception):
    """A solution notebook is malformed; the message names the notebook and cell."""


@dataclasses.dataclass
class Difference:
    """One way in which chapters/ differs from what release would write."""

    notebook_name: str
    problem: str
    details: str = ""


def solution_notebook_paths(solutions_directory: pathlib.Path) -> list[pathlib.Path]:
    """The chapter notebooks in solutions/, sorted by name; ReleaseError when there is no such folder or notebook
    (a mistyped --solutions must not read as "up to date")."""
    if not solutions_directory.is_dir():
        raise ReleaseError(f"no solutions folder at {solutions_directory}.")
    paths = sorted(path for path in solutions_directory.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ReleaseError(f"{solutions_directory} holds no chapter notebook (NN_name.ipynb).")
    return paths


def chapter_id_of(notebook: Any, name: str) -> str:
    """The chapter id recorded in a notebook's metadata (ReleaseError if missing)."""
    chapter_id = notebook.metadata.get("dlcourse", {}).get("chapter")
    if not isinstance(chapter_id, str) or not re.fullmatch(r"ch\d\d", chapter_id):
        raise ReleaseError(f"{name}: notebook metadata must contain \"dlcourse\": {{\"chapter\": \"chNN\"}}.")
    if not name.startswith(chapter_id[2:] + "_"):
        raise ReleaseError(f"{name}: metadata says chapter {chapter_id}, but the file name starts with {name[:2]}.")
    return chapter_id


def exercise_id_of(cell: Any) -> str | None:
    """The exercise id in a cell's metadata, or None."""
    return cell.get("metadata", {}).get("dlcourse", {}).get("exercise")


def replace_solution_regions(source: str, where: str, placeholder: str | None = None) -> str:
    """Replace every BEGIN/END SOLUTION region of a cell's source by `# YOUR CODE HERE` and a placeholder."""
    lines = source.split("\n")
    output: list[str] = []
    index = 0
    found = False
    while index < len(lines):
        line = lines[index]
        if line.strip() == END_MARKER:
            raise ReleaseError(f"{where}: `{END_MARKER}` on line {index + 1} has no matching `{BEGIN_MARKER}`.")
        if line.strip() != BEGIN_MARKER:
            output.append(line)
            index += 1
            continue
        found = True
        indent = line[: len(line) - len(line.lstrip())]
        end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() in (END_MARKER, BEGIN_MARKER)), None)
        if end is None or lines[end].strip() != END_MARKER:
            raise ReleaseError(f"{where}: `{BEGIN_MARKER}` on line {index + 1} has no matching `{END_MARKER}`.")
        region = lines[index + 1: end]
        output.append(indent + STUDENT_MARKER)
        try:
            output.extend(indent + text for text in placeholder_lines(region, indent, placeholder))
        except ReleaseError as error:
            raise ReleaseError(f"{where}: {error} (the region starting on line {index + 1}).") from None
        index = end + 1
    if not found:
        raise ReleaseError(f"{where}: an exercise cell must contain a `{BEGIN_MARKER}` ... `{END_MARKER}` region.")
    return "\n".join(output)


def placeholder_lines(region: list[str], indent: str, placeholder: str | None) -> list[str]:
    """The placeholder that keeps the cell valid Python: `return ...` in a function, `name = ...` at top level."""
    if placeholder is not None:
        return placeholder.split("\n")
    if indent:
        return ["return ..."]
    code = textwrap.dedent("\n".join(region))
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        raise ReleaseError(f"the solution region does not parse: {error.msg}") from None
    return [f"{name} = ..." for name in top_level_names(tree, include_definitions=False)]


def top_level_names(tree: ast.Module, include_definitions: bool = True) -> list[str]:
    """Names a module binds at top level, in order: assignment targets, and optionally def/class names."""
    names: list[str] = []
    for statement in tree.body:
        if include_definitions and isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(statement.name)
        targets = statement.targets if isinstance(statement, ast.Assign) else (
            [statement.target] if isinstance(statement, (ast.AnnAssign, ast.AugAssign)) else [])
        names.extend(node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name))
    return list(dict.fromkeys(names))


def release_notebook(solution: Any, name: str) -> Any:
    """The student version of one solution notebook (the input is not modified)."""
    student = copy.deepcopy(solution)
    chapter_id = chapter_id_of(student, name)
    exercise_ids: list[str] = []
    for position, cell in enumerate(student.cells):
        where = f"{name}, cell {position + 1}"
        exercise_id = exercise_id_of(cell)
        has_marker = cell.cell_type == "code" and BEGIN_MARKER in cell.source
        if exercise_id is not None:
            if cell.cell_type != "code":
                raise ReleaseError(f"{where}: exercise {exercise_id} is on a {cell.cell_type} cell, not a code cell.")
            if not str(exercise_id).startswith(chapter_id + "."):
                raise ReleaseError(f"{where}: exercise {exercise_id} does not belong to chapter {chapter_id}.")
            if exercise_id in exercise_ids:
                raise ReleaseError(f"{where}: exercise {exercise_id} appears in more than one cell.")
            exercise_ids.append(exercise_id)
            placeholder = cell.metadata.get("dlcourse", {}).get("placeholder")
            cell.source = replace_solution_regions(cell.source, where, placeholder)
        elif has_marker:
            raise ReleaseError(f"{where}: has a solution region but no exercise id in its metadata "
                               "(add \"dlcourse\": {\"exercise\": \"chNN.name\"}).")
        clear_cell(cell)
    check_exercises_declared(chapter_id, exercise_ids, name)
    student.metadata["dlcourse"] = {"chapter": chapter_id, "exercises": exercise_ids,
                                    "generated_from": f"solutions/{name}"}
    return student


def check_exercises_declared(chapter_id: str, exercise_ids: list[str], name: str) -> None:
    """Every exercise cell must be declared in dlcourse/checks, and every declared exercise must have a cell."""
    from dlcourse import checks

    declared = checks.exercises(chapter_id)
    unknown = [exercise_id for exercise_id in exercise_ids if exercise_id not in declared]
    if unknown:
        raise ReleaseError(f"{name}: exercise cell(s) {', '.join(unknown)} are not declared in "
                           f"dlcourse/checks/{chapter_id}.py.")
    without_cell = [exercise_id for exercise_id in declared if exercise_id not in exercise_ids]
    if without_cell:
        raise ReleaseError(f"{name}: declared exercise(s) {', '.join(without_cell)} have no exercise cell.")


def clear_cell(cell: Any) -> None:
    """Remove outputs, execution counts and volatile metadata from a cell, in place."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    for key in _CELL_METADATA_DROPPED:
        cell.metadata.pop(key, None)


def notebook_text(notebook: Any) -> str:
    """The canonical text of a notebook as committed."""
    return nbformat.writes(notebook) + "\n"


def read_notebook(path: pathlib.Path) -> Any:
    """Read a notebook, turning unreadable JSON into a ReleaseError that names the file."""
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as error:
        raise ReleaseError(f"{path.name}: not a readable notebook ({type(error).__name__}: {error}).") from None


def expected_chapters(solutions_directory: pathlib.Path) -> dict[str, str]:
    """File name -> text of every student notebook that release would write."""
    return {path.name: notebook_text(release_notebook(read_notebook(path), path.name))
            for path in solution_notebook_paths(solutions_directory)}


def find_differences(solutions_directory: pathlib.Path, chapters_directory: pathlib.Path) -> list[Difference]:
    """How chapters/ differs from a fresh release; empty when up to date."""
    expected = expected_chapters(solutions_directory)
    existing = {path.name for path in chapters_directory.glob("*.ipynb")} if chapters_directory.exists() else set()
    differences = []
    for name, text in expected.items():
        path = chapters_directory / name
        if name not in existing:
            differences.append(Difference(name, "missing from chapters/"))
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(),
                                        f"chapters/{name} (committed)", f"chapters/{name} (from solutions/)",
                                        n=1, lineterm="")
            differences.append(Difference(name, "out of date", "\n".join(list(diff)[:40])))
    for name in sorted(existing - set(expected)):
        differences.append(Difference(name, "has no source in solutions/ (delete it or add its solution)"))
    return differences


def release_all(solutions_directory: pathlib.Path, chapters_directory: pathlib.Path) -> list[str]:
    """Write every student notebook; returns the names of the files that changed. Every notebook is released
    before anything is written, so a broken solution leaves chapters/ as it was."""
    expected = expected_chapters(solutions_directory)
    chapters_directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in expected.items():
        path = chapters_directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed
