"""Local record of each exercise's latest check, and the `dlcourse progress` table."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
from typing import Any

from dlcourse import files

HOME_VARIABLE = "DLCOURSE_HOME"


def home_directory() -> pathlib.Path:
    """Where dlcourse keeps local state: $DLCOURSE_HOME, else ~/.dlcourse."""
    configured = os.environ.get(HOME_VARIABLE)
    return pathlib.Path(configured).expanduser() if configured else pathlib.Path.home() / ".dlcourse"


def progress_path() -> pathlib.Path:
    """The JSON file that holds the progress record."""
    return home_directory() / "progress.json"


def load_progress() -> dict[str, dict[str, Any]]:
    """The recorded exercises (id -> entry); empty if there is no readable record yet."""
    try:
        data = json.loads(progress_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    exercises = data.get("exercises") if isinstance(data, dict) else None
    return exercises if isinstance(exercises, dict) else {}


@contextlib.contextmanager
def progress_lock():
    """Hold an exclusive lock on the progress record (a `.lock` file beside it) for one read-modify-write, so two
    checks that finish at the same moment (two notebooks, or two kernels) cannot overwrite each other's entry.
    Without a writable folder or an OS lock call, it yields without locking (the write fails or races as before)."""
    try:
        progress_path().parent.mkdir(parents=True, exist_ok=True)
        handle = open(progress_path().with_suffix(".lock"), "a+b")
    except OSError:
        yield
        return
    with handle:
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt

            handle.seek(0)
            with contextlib.suppress(OSError):
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def record_result(result: Any) -> bool:
    """Record a check result; returns False (silently) if the record can't be written."""
    with progress_lock():
        return _record_result_unlocked(result)


def _record_result_unlocked(result: Any) -> bool:
    """record_result's read-modify-write; the caller holds the lock."""
    exercises = load_progress()
    entry = exercises.get(result.exercise_id, {"attempts": 0})
    if result.status != "not_attempted":
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
    entry["status"] = result.status
    entry["ever_passed"] = bool(entry.get("ever_passed")) or result.passed
    entry["last_checked"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    exercises[result.exercise_id] = entry
    try:
        write_json_atomically(progress_path(), {"version": 1, "exercises": exercises})
    except OSError:
        return False
    return True


def write_json_atomically(path: pathlib.Path, data: Any) -> None:
    """Write data as JSON, atomically (a reader never sees half a file)."""
    files.write_text_atomically(path, json.dumps(data, indent=1, sort_keys=True))


def progress_rows() -> list[dict[str, Any]]:
    """One row per chapter: exercises in total, passed, attempted (not passed) and not attempted."""
    from dlcourse import checks, course

    recorded = load_progress()
    rows = []
    for chapter in course.CHAPTERS:
        ids = checks.exercises(chapter.chapter_id)
        statuses = [recorded.get(exercise_id, {}).get("status", "not_attempted") for exercise_id in ids]
        passed = statuses.count("passed")
        not_attempted = statuses.count("not_attempted")
        rows.append({"chapter": chapter.chapter_id, "title": chapter.title, "exercises": len(ids),
                     "passed": passed, "attempted": len(ids) - passed - not_attempted,
                     "not_attempted": not_attempted,
                     "passed_exercises": [exercise_id for exercise_id, status in zip(ids, statuses)
                                          if status == "passed"]})
    return rows


def format_progress_table(rows: list[dict[str, Any]]) -> str:
    """The progress rows as an aligned text table, with a total line, then the passed exercises by chapter."""
    header = ("chapter", "title", "exercises", "passed", "attempted", "not attempted")
    body = [(row["chapter"], row["title"], str(row["exercises"]) if row["exercises"] else "-",
             str(row["passed"]), str(row["attempted"]), str(row["not_attempted"])) for row in rows]
    totals = ("total", "", str(sum(r["exercises"] for r in rows)), str(sum(r["passed"] for r in rows)),
              str(sum(r["attempted"] for r in rows)), str(sum(r["not_attempted"] for r in rows)))
    passed = [f"  {row['chapter']}: {', '.join(row['passed_exercises'])}"
              for row in rows if row.get("passed_exercises")]
    listing = ["", "passed exercises:" + ("" if passed else " none yet"), *passed]
    return "\n".join([format_table(header, body + [totals]), *listing])


def format_table(header: tuple, rows: list[tuple]) -> str:
    """An aligned plain-text table with a rule under the header."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths)).rstrip(),
             "  ".join("-" * width for width in widths)]
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
