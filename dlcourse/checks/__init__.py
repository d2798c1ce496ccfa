"""Graded exercise checks: `check(exercise_id, answer)`, `hint(exercise_id)` and `exercises()`.

Each exercise is declared once, in `dlcourse/checks/chNN.py` (a module-level EXERCISES list).
Students call `checks.check("ch01.relu", relu)` in their notebook; the instructor grader calls
the very same function.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from typing import Any

from dlcourse import cell_timing
from dlcourse.checks.framework import CheckResult, Exercise, Hint, evaluate_answer

__all__ = ["CheckResult", "Hint", "check", "hint", "exercises", "get_exercise"]

_CHAPTER_MODULE_PATTERN = re.compile(r"^ch\d\d$")
DEFAULT_CELL_TIME_LIMIT_SECONDS = Exercise.cell_time_limit_seconds  # exercises that train state their own, longer
cell_timing.install()  # time the notebook's cells from here on (the setup cell imports this module)
_registry: dict[str, Exercise] | None = None


def _load_registry() -> dict[str, Exercise]:
    """All exercises of all chapter modules, by id, in declaration order."""
    global _registry
    if _registry is None:
        registry: dict[str, Exercise] = {}
        names = sorted(info.name for info in pkgutil.iter_modules(__path__) if _CHAPTER_MODULE_PATTERN.match(info.name))
        for name in names:
            module = importlib.import_module(f"{__name__}.{name}")
            for exercise in module.EXERCISES:
                if not exercise.exercise_id.startswith(name + "."):
                    raise RuntimeError(f"exercise {exercise.exercise_id} is declared in {name}.py")
                if exercise.exercise_id in registry:
                    raise RuntimeError(f"exercise {exercise.exercise_id} is declared twice")
                registry[exercise.exercise_id] = exercise
        _registry = registry
    return _registry


def get_exercise(exercise_id: str) -> Exercise:
    """The declared exercise with this id; ValueError naming close matches if there is none."""
    registry = _load_registry()
    if isinstance(exercise_id, str) and exercise_id in registry:
        return registry[exercise_id]
    close = difflib.get_close_matches(str(exercise_id), list(registry), n=3, cutoff=0.5)
    suggestion = f" Did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
    raise ValueError(f"Unknown exercise id {exercise_id!r}.{suggestion} "
                     "`checks.exercises()` lists every exercise id.")


def check(exercise_id: str, answer: Any, record: bool = True) -> CheckResult:
    """Check an answer; returns a CheckResult and never raises, except ValueError for an unknown id."""
    exercise = get_exercise(exercise_id)
    result = evaluate_answer(exercise, answer)
    notes = [cell_timing.time_limit_note(exercise.exercise_id, exercise.cell_time_limit_seconds,
                                         states_limit=exercise.cell_time_limit_seconds > DEFAULT_CELL_TIME_LIMIT_SECONDS),
             cell_timing.added_cells_note(exercise.exercise_id, answer)]
    for note in filter(None, notes):
        result = CheckResult(result.exercise_id, result.status, f"{result.message}\n{note}".strip())
    if record:
        from dlcourse import progress

        progress.record_result(result)
    return result


def hint(exercise_id: str, level: int = 1) -> Hint:
    """Hint number `level` (1 = gentlest) of an exercise."""
    exercise = get_exercise(exercise_id)
    num_levels = len(exercise.hints)
    chosen = min(max(int(level), 1), num_levels)
    return Hint(exercise_id, chosen, num_levels, exercise.hints[chosen - 1])


def normalise_chapter(chapter: Any) -> str:
    """'ch01' for 1, '1', '01', 'ch01' or 'CH01'."""
    text = str(chapter).lower().removeprefix("ch")
    if not text.isdigit():
        raise ValueError(f"Unknown chapter {chapter!r}: use a number such as 1 or an id such as 'ch01'.")
    return f"ch{int(text):02d}"


def exercises(chapter: Any = None) -> list[str]:
    """Every exercise id in course order, or only those of one chapter (e.g. 1 or 'ch01')."""
    ids = list(_load_registry())
    if chapter is None:
        return ids
    prefix = normalise_chapter(chapter) + "."
    return [exercise_id for exercise_id in ids if exercise_id.startswith(prefix)]
