"""How long each notebook cell took to run, so that `checks.check` can say when an exercise cell would be stopped by
the grader's time limit for it.

`install()` registers two IPython event callbacks (before and after each cell); outside IPython it does nothing.
Cells are known by the ids that `dlcourse release` writes into every notebook and JupyterLab keeps.
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import time
import types

_durations: dict[str, float] = {}  # cell id -> seconds its last run took
_sources: dict[str, str] = {}  # cell id -> the source of its last run
_running: dict[str, object] = {}
_installed = False


def install() -> None:
    """Start timing the cells of the running IPython kernel (once); nothing happens outside IPython."""
    global _installed
    if _installed:
        return
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        return
    if shell is None or not hasattr(shell, "events"):
        return
    shell.events.register("pre_run_cell", _before_cell)
    shell.events.register("post_run_cell", _after_cell)
    _installed = True


def _before_cell(info) -> None:
    """Note which cell starts, and when."""
    _running["cell_id"] = getattr(info, "cell_id", None)
    _running["started"] = time.monotonic()
    if isinstance(_running["cell_id"], str) and isinstance(getattr(info, "raw_cell", None), str):
        _sources[_running["cell_id"]] = info.raw_cell


def _after_cell(result) -> None:
    """Record how long the cell that just ended took."""
    cell_id = _running.get("cell_id")
    started = _running.get("started")
    if isinstance(cell_id, str) and isinstance(started, float):
        _durations[cell_id] = time.monotonic() - started


def record_duration(cell_id: str, seconds: float) -> None:
    """Record a cell's duration by hand (for tests, and for front ends that run cells without IPython's events)."""
    _durations[cell_id] = float(seconds)


def last_duration(cell_id: str) -> float | None:
    """How long the cell with this id took the last time it ran, or None if it has not run (or is not known)."""
    return _durations.get(cell_id)


def record_source(cell_id: str, source: str) -> None:
    """Record the source a cell last ran (for tests, like record_duration)."""
    _sources[cell_id] = source


def last_source(cell_id: str) -> str | None:
    """The source the cell with this id ran last, or None."""
    return _sources.get(cell_id)


def exercise_cell_id(exercise_id: str) -> str:
    """The id of the exercise's cell in its chapter's student notebook, or '' when it can't be found."""
    return _exercise_cell_ids(exercise_id.split(".")[0]).get(exercise_id, "")


@functools.cache
def _chapter_notebook(chapter_id: str) -> dict:
    """The chapter's student notebook in chapters/, as JSON (empty when it can't be read)."""
    from dlcourse import course

    try:
        chapter = course.chapter_by_id(chapter_id)
        path = course.repository_root() / "chapters" / chapter.notebook_name
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (KeyError, OSError, ValueError):
        return {}
    return notebook if isinstance(notebook, dict) else {}


@functools.cache
def _exercise_cell_ids(chapter_id: str) -> dict[str, str]:
    """Exercise id -> cell id, read from the chapter's notebook in chapters/ (empty when it can't be read)."""
    found = {}
    for cell in _chapter_notebook(chapter_id).get("cells", []):
        metadata = cell.get("metadata", {}).get("dlcourse", {})
        if isinstance(metadata, dict) and isinstance(metadata.get("exercise"), str) and cell.get("id"):
            found.setdefault(metadata["exercise"], cell["id"])
    return found


def time_limit_note(exercise_id: str, cell_limit_seconds: float, states_limit: bool) -> str:
    """A warning when the exercise cell's last run took longer than the grader allows it; with states_limit, a
    sentence stating the limit otherwise. '' when there is nothing to say."""
    seconds = last_duration(exercise_cell_id(exercise_id)) if _durations else None
    if seconds is not None and seconds > cell_limit_seconds:
        return (f"Warning: your exercise cell took {seconds:.0f} s to run, but the grader stops this exercise's cell "
                f"after {cell_limit_seconds:g} s, and the exercise would then get 0 points. Make it faster before "
                "you hand it in (fewer epochs, a smaller model or less data).")
    if states_limit:
        took = f" (yours took {seconds:.0f} s)" if seconds is not None else ""
        return f"When graded, this exercise's cell may run for at most {cell_limit_seconds:g} s{took}."
    return ""


# ---------------------------------------------------------------- names an answer needs from cells of the student's


def _names_bound_by(source: str) -> set[str]:
    """Every name a cell binds anywhere at its top level: assignments, definitions, imports, loop targets."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return bound


@functools.cache
def _lesson_names(chapter_id: str) -> frozenset[str]:
    """The names that the chapter's official cells bind (lesson and exercise cells alike)."""
    names: set[str] = set()
    for cell in _chapter_notebook(chapter_id).get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            names |= _names_bound_by("".join(source) if isinstance(source, list) else str(source))
    return frozenset(names)


def _global_names_used(function) -> set[str]:
    """The global names a function's code (nested functions included) reads."""
    code = getattr(function, "__code__", None)
    found: set[str] = set()
    stack = [code] if code is not None else []
    while stack:
        current = stack.pop()
        found |= set(current.co_names)
        stack.extend(constant for constant in current.co_consts if hasattr(constant, "co_names"))
    return found


def names_from_added_cells(exercise_id: str, answer) -> list[str]:
    """The notebook names the answer reads that neither its exercise cell nor any lesson cell defines (so a cell the
    student added, or deleted, or ran from elsewhere defines them). Empty when that can't be known: not a notebook
    function, or the exercise cell's source was not seen."""
    exercise_source = last_source(exercise_cell_id(exercise_id))
    namespace = getattr(answer, "__globals__", None)
    if exercise_source is None or not isinstance(namespace, dict) or not callable(answer):
        return []
    known = _lesson_names(exercise_id.split(".")[0]) | _names_bound_by(exercise_source) | set(dir(builtins))
    return sorted(name for name in _global_names_used(answer) if name in namespace and name not in known
                  and not isinstance(namespace[name], types.ModuleType))


def added_cells_note(exercise_id: str, answer) -> str:
    """A note when the answer depends on names that only the student's own cells define, or ''."""
    names = names_from_added_cells(exercise_id, answer)
    if not names:
        return ""
    listed = ", ".join(f"`{name}`" for name in names)
    return (f"Note: your answer uses {listed}, which neither this exercise cell nor any lesson cell defines. The "
            "grader runs the cells you added, in their place, so keep the cell that defines "
            f"{'it' if len(names) == 1 else 'them'} in your notebook, above this exercise (or move "
            f"{'it' if len(names) == 1 else 'them'} into the exercise cell).")
