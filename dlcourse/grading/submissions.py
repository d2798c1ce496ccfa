"""Finding submissions, naming their students, reading them safely and transplanting their answers."""

from __future__ import annotations

import ast
import csv
import dataclasses
import hashlib
import json
import pathlib
import warnings
from typing import Any

from dlcourse import course, release


class SubmissionError(Exception):
    """A submission can't be graded; the message says why in words a person understands."""


@dataclasses.dataclass(frozen=True)
class Submission:
    """One student's notebook of one chapter, as found on disk."""

    path: pathlib.Path
    student: str


@dataclasses.dataclass(frozen=True)
class Step:
    """One thing the grader runs: a lesson cell, or an exercise's answer followed by its check."""

    kind: str  # "lesson", "exercise", or "added" (a code cell the student added to the notebook)
    source: str
    exercise_id: str = ""
    answer_expression: str = ""
    submitted: bool = False


def find_submissions(inputs: list[pathlib.Path], student_map: dict[str, str] | None = None) -> list[Submission]:
    """Every .ipynb named or inside the given folders (recursively), each with its student id."""
    paths: list[pathlib.Path] = []
    for item in inputs:
        if item.is_dir():
            paths.extend(path for path in sorted(item.rglob("*.ipynb"))
                         if ".ipynb_checkpoints" not in path.relative_to(item).parts)  # Jupyter's autosaves
        else:
            paths.append(item)
    unique = list(dict.fromkeys(path.resolve() for path in paths))
    return [Submission(path, student_id_for(path, student_map)) for path in unique]


def student_id_for(path: pathlib.Path, student_map: dict[str, str] | None = None) -> str:
    """The student id: from the CSV mapping if given, else the folder for an unrenamed notebook, else the file stem."""
    if student_map:
        for key in (str(path), path.name):
            if key in student_map:
                return student_map[key]
    chapter_stems = {pathlib.Path(chapter.notebook_name).stem for chapter in course.CHAPTERS}
    if path.stem in chapter_stems:
        return path.parent.name
    return path.stem


def read_student_map(path: pathlib.Path) -> dict[str, str]:
    """A CSV with columns `file` and `student` (file: a name or a path) as a dict."""
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        if not reader.fieldnames or not {"file", "student"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: the student map needs the columns 'file' and 'student'.")
        mapping = {}
        for row in reader:
            file_name = (row["file"] or "").strip()
            if file_name:
                mapping[str((path.parent / file_name).resolve()) if "/" in file_name else file_name] = row["student"].strip()
        return mapping


def file_sha256(path: pathlib.Path) -> str:
    """The sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_submission_notebook(path: pathlib.Path) -> Any:
    """Parse a submission (read only), upgrading old nbformat versions; SubmissionError if it isn't a notebook."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SubmissionError(f"could not read the file ({error.strerror}).") from None
    return notebook_from_bytes(raw, path.name)


def notebook_from_bytes(raw: bytes, file_name: str) -> Any:
    """Parse a submission from its bytes, upgrading old nbformat; SubmissionError if it isn't a notebook.

    `file_name` is the submission's name; the messages leave it out, as callers put it in front of them.
    """
    import nbformat

    if not raw.strip():
        raise SubmissionError("the file is empty.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SubmissionError(f"not a notebook: the file is not valid JSON ({error}).") from None
    if not isinstance(data, dict) or ("cells" not in data and "worksheets" not in data):
        raise SubmissionError("not a notebook: the JSON has no cells.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. duplicate cell ids, which nbformat repairs in memory
            notebook = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as error:
        raise SubmissionError(f"not a readable notebook ({type(error).__name__}: {error}).") from None
    if not notebook.cells:
        raise SubmissionError("the notebook is empty (it has no cells).")
    return notebook


def chapter_of(notebook: Any) -> course.Chapter:
    """The chapter recorded in the notebook metadata by `dlcourse release`; SubmissionError if absent or unknown."""
    chapter_id = notebook.metadata.get("dlcourse", {}).get("chapter") if isinstance(
        notebook.metadata.get("dlcourse"), dict) else None
    if not chapter_id:
        raise SubmissionError("the notebook metadata has no chapter id (\"dlcourse\": {\"chapter\": ...}); "
                              "was it made from a course notebook?")
    try:
        return course.chapter_by_id(str(chapter_id))
    except KeyError:
        raise SubmissionError(f"unknown chapter {chapter_id!r} in the notebook metadata.") from None


def official_notebook(chapter: course.Chapter, root: pathlib.Path) -> Any:
    """The student version of the chapter as generated from solutions/ (not the committed copy)."""
    solution_path = root / "solutions" / chapter.notebook_name
    if not solution_path.exists():
        raise SubmissionError(f"chapter {chapter.chapter_id} has no notebook in this course yet.")
    return release.release_notebook(release.read_notebook(solution_path), chapter.notebook_name)


def submitted_answers(notebook: Any, official_sources: dict[str, str]) -> dict[str, str]:
    """Exercise id -> the student's code: every cell with that id, in order, untouched placeholders dropped."""
    answers: dict[str, list[str]] = {}
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata", {}).get("dlcourse", {})
        exercise_id = metadata.get("exercise") if isinstance(metadata, dict) else None
        if not isinstance(exercise_id, str) or exercise_id not in official_sources:
            continue
        source = cell_source(cell)
        if source.strip() == official_sources[exercise_id].strip():
            continue
        answers.setdefault(exercise_id, []).append(source)
    return {exercise_id: "\n\n".join(sources) for exercise_id, sources in answers.items()}


def defined_names(source: str) -> set[str]:
    """Names a cell defines at top level: functions, classes and assignment targets."""
    try:
        return set(release.top_level_names(ast.parse(source)))
    except SyntaxError:
        return set()


def answers_matched_by_name(notebook: Any, official_sources: dict[str, str], answer_expressions: dict[str, str],
                            official: Any, used_cells: set[int] | None = None) -> dict[str, str]:
    """For exercises whose id appears in no cell (an editor stripped the metadata), the cells that define the answer.

    The positions (in notebook.cells) of the cells taken are added to used_cells.
    """
    tagged = {release.exercise_id_of(cell) for cell in notebook.cells if cell.get("cell_type") == "code"}
    official_texts = {cell.source.strip() for cell in official.cells if cell.cell_type == "code"}
    found: dict[str, str] = {}
    for exercise_id, expression in answer_expressions.items():
        if exercise_id in tagged or exercise_id not in official_sources or not expression.isidentifier():
            continue
        sources = []
        for position, cell in enumerate(notebook.cells):
            if cell.get("cell_type") != "code" or release.exercise_id_of(cell):
                continue
            source = cell_source(cell)
            if source.strip() not in official_texts and expression in defined_names(source):
                sources.append(source)
                if used_cells is not None:
                    used_cells.add(position)
        if sources:
            found[exercise_id] = "\n\n".join(sources)
    return found


def cell_source(cell: Any) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def added_cells(official: Any, submission: Any, used_cells: set[int]) -> dict[int, list[str]]:
    """The code cells the student added, each under the position (in official.cells) of the official cell above it
    (-1: above every official cell), in notebook order.

    A cell is the student's own when it is not one of the official notebook's cells: matched by the cell ids that
    `dlcourse release` writes (JupyterLab keeps them, and gives new cells new ids), or by identical source when the
    submission has no official ids at all (an old format, or an editor that renumbered them). Exercise cells, the
    cells in used_cells (already taken as answers) and empty cells are not added cells; lesson cells the student
    edited are restored from the official notebook, as before.
    """
    official_ids = {cell.get("id"): position for position, cell in enumerate(official.cells) if cell.get("id")}
    exercise_positions = {release.exercise_id_of(cell): position for position, cell in enumerate(official.cells)
                          if cell.cell_type == "code" and release.exercise_id_of(cell)}
    official_sources: dict[str, int] = {}
    for position, cell in enumerate(official.cells):
        if cell.cell_type == "code":
            official_sources.setdefault(cell.source.strip(), position)
    by_id = any(cell.get("id") in official_ids for cell in submission.cells)
    found: dict[int, list[str]] = {}
    anchor = -1
    for position, cell in enumerate(submission.cells):
        exercise_id = release.exercise_id_of(cell) if isinstance(cell.get("metadata"), dict) else None
        source = cell_source(cell)
        if by_id and cell.get("id") in official_ids:
            anchor = official_ids[cell.get("id")]
        elif isinstance(exercise_id, str) and exercise_id in exercise_positions:
            anchor = exercise_positions[exercise_id]
        elif cell.get("cell_type") != "code" or position in used_cells or not source.strip():
            continue
        elif not by_id and source.strip() in official_sources:
            anchor = official_sources[source.strip()]
        else:
            found.setdefault(anchor, []).append(source)
    return found


def check_call_of(source: str) -> tuple[str, str] | None:
    """(exercise id, answer expression) if the cell is an official `checks.check("id", answer)` cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check"
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            return node.args[0].value, ast.get_source_segment(source, node.args[1])
    return None


def transplant(official: Any, submission: Any) -> list[Step]:
    """The official notebook's cells with the submission's exercise code put in; check cells become grader checks."""
    exercise_sources = {release.exercise_id_of(cell): cell.source for cell in official.cells
                        if cell.cell_type == "code" and release.exercise_id_of(cell)}
    answer_expressions = {}
    for cell in official.cells:
        found = check_call_of(cell.source) if cell.cell_type == "code" else None
        if found:
            answer_expressions[found[0]] = found[1]
    missing = [exercise_id for exercise_id in exercise_sources if exercise_id not in answer_expressions]
    if missing:
        raise SubmissionError(f"the official notebook has no check cell for {', '.join(missing)} (a course bug).")
    answers = submitted_answers(submission, exercise_sources)
    used_cells: set[int] = set()
    answers.update(answers_matched_by_name(submission, exercise_sources, answer_expressions, official, used_cells))
    added = added_cells(official, submission, used_cells)
    steps = [Step("added", source, submitted=True) for source in added.get(-1, [])]
    for position, cell in enumerate(official.cells):
        exercise_id = release.exercise_id_of(cell) if cell.cell_type == "code" else None
        if cell.cell_type != "code" or check_call_of(cell.source):
            pass
        elif exercise_id:
            # cells added right below an exercise cell (above its check) ran before the student's check: run them
            # with the answer, before the grader's check (a `fit` below the model it trains, say)
            source = "\n\n".join([answers.get(exercise_id, cell.source), *added.pop(position, [])])
            steps.append(Step("exercise", source, exercise_id, answer_expressions[exercise_id], exercise_id in answers))
        else:
            steps.append(Step("lesson", cell.source))
        steps.extend(Step("added", source, submitted=True) for source in added.get(position, []))
    return steps
