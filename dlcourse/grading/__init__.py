"""The instructor grader: transplant each submission's answers into the official notebook and check them.

`dlcourse grade` and `dlcourse check` use this package. Student code only ever runs inside a fresh
kernel process (see runner.py); this process never imports TensorFlow and never writes submissions.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import re
import signal
import sys
import time
from typing import Any, Callable

from dlcourse import course
from dlcourse.grading import runner, submissions
from dlcourse.grading.runner import Limits


@dataclasses.dataclass
class SubmissionResult:
    """The grade of one submission: per-exercise rows, or the reason it could not be graded."""

    student: str
    path: str
    sha256: str
    chapter: str = ""
    error: str = ""
    seconds: float = 0.0
    exercises: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def points(self) -> float:
        """Points earned."""
        return sum(row["points"] for row in self.exercises)

    @property
    def max_points(self) -> float:
        """Points available."""
        return sum(row["max_points"] for row in self.exercises)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SubmissionResult":
        """Rebuild a result saved by to_dict."""
        return cls(**data)


def points_for(exercise_id: str) -> float:
    """The points an exercise is worth."""
    from dlcourse import checks

    return float(getattr(checks.get_exercise(exercise_id), "points", 1.0))


def grade_submission(submission: submissions.Submission, root: pathlib.Path, limits: Limits) -> SubmissionResult:
    """Grade one submission; every failure becomes part of the result, never an exception."""
    started = time.monotonic()
    try:
        sha256 = submissions.file_sha256(submission.path)
    except OSError as error:
        return SubmissionResult(submission.student, str(submission.path), "", error=f"could not read the file ({error}).")
    result = SubmissionResult(submission.student, str(submission.path), sha256)
    try:
        notebook = submissions.read_submission_notebook(submission.path)
        chapter = submissions.chapter_of(notebook)
        result.chapter = chapter.chapter_id
        steps = submissions.transplant(submissions.official_notebook(chapter, root), notebook)
        outcomes = runner.grade_steps(steps, limits)
    except submissions.SubmissionError as error:
        result.error = str(error)
    except Exception as error:  # a grader-side failure still yields a row, and the batch goes on
        result.error = f"the grader failed on this submission ({type(error).__name__}: {error})."
    else:
        for outcome in outcomes:
            maximum = points_for(outcome.exercise_id)
            result.exercises.append({"exercise": outcome.exercise_id, "status": outcome.status,
                                     "points": maximum if outcome.status == "passed" else 0.0,
                                     "max_points": maximum, "message": outcome.message})
    result.seconds = round(time.monotonic() - started, 1)
    return result


def result_file_name(submission: submissions.Submission) -> str:
    """A stable, safe file name for a submission's saved result."""
    safe_student = re.sub(r"[^A-Za-z0-9_.-]", "_", submission.student) or "student"
    path_hash = hashlib.sha256(str(submission.path).encode()).hexdigest()[:10]
    return f"{safe_student}--{path_hash}.json"


def load_saved_result(path: pathlib.Path, sha256: str) -> SubmissionResult | None:
    """A previously saved result, if it exists and is for the same submission content."""
    try:
        saved = SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return saved if saved.sha256 == sha256 else None


def _grade_in_worker(submission: submissions.Submission, root: str, limits: Limits) -> dict[str, Any]:
    """Process-pool entry point; a terminated worker exits at once (its kernel is already stopped)."""
    try:
        return grade_submission(submission, pathlib.Path(root), limits).to_dict()
    except SystemExit:
        os._exit(143)  # the pool would otherwise catch SystemExit and start on the next submission


def grade_all(found: list[submissions.Submission], results_directory: pathlib.Path, limits: Limits,
              workers: int = 1, force: bool = False, root: pathlib.Path | None = None,
              on_progress: Callable[[int, int, SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade every submission (resuming from saved results unless force), saving each result as it finishes."""
    from dlcourse import progress

    root = root or course.repository_root()
    results_directory.mkdir(parents=True, exist_ok=True)
    results: dict[int, SubmissionResult] = {}
    pending = []
    for index, submission in enumerate(found):
        saved_path = results_directory / result_file_name(submission)
        saved = None if force else load_saved_result(saved_path, _sha256_or_empty(submission.path))
        if saved is not None:
            results[index] = saved
        else:
            pending.append(index)
    done = len(results)
    if on_progress:
        on_progress(done, len(found), None)

    def finish(index: int, result: SubmissionResult) -> None:
        nonlocal done
        results[index] = result
        progress.write_json_atomically(results_directory / result_file_name(found[index]), result.to_dict())
        done += 1
        if on_progress:
            on_progress(done, len(found), result)

    previous_handler = signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        if workers <= 1 or len(pending) <= 1:
            for index in pending:
                finish(index, grade_submission(found[index], root, limits))
        else:
            _grade_in_pool([found[index] for index in pending], pending, root, limits, workers, finish)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    return [results[index] for index in range(len(found))]


def _grade_in_pool(chosen: list[submissions.Submission], indexes: list[int], root: pathlib.Path, limits: Limits,
                   workers: int, finish: Callable[[int, SubmissionResult], None]) -> None:
    """Grade submissions in worker processes, calling finish(index, result) as each completes."""
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_exit_cleanly_on_sigterm)
    try:
        futures = {pool.submit(_grade_in_worker, submission, str(root), limits): (index, submission)
                   for index, submission in zip(indexes, chosen)}
        for future in concurrent.futures.as_completed(futures):
            index, submission = futures[future]
            try:
                result = SubmissionResult.from_dict(future.result())
            except Exception as error:  # a worker process that died
                result = SubmissionResult(submission.student, str(submission.path), _sha256_or_empty(submission.path),
                                          error=f"the grading worker failed ({type(error).__name__}: {error}).")
            finish(index, result)
    except BaseException:
        _stop_pool(pool)  # interrupted: stop workers (and, through them, their kernels) now
        raise
    pool.shutdown()


def _raise_system_exit(signal_number, frame):
    """SIGTERM handler: unwind normally, so that `finally` blocks stop kernels."""
    raise SystemExit(128 + signal_number)


def _exit_cleanly_on_sigterm() -> None:
    """Worker initializer: a terminated worker still shuts its kernel down."""
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates workers


def _stop_pool(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Cancel queued work and terminate the worker processes."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=20)
        if process.is_alive():
            process.kill()


def _sha256_or_empty(path: pathlib.Path) -> str:
    """The file's sha256, or '' if it can't be read."""
    try:
        return submissions.file_sha256(path)
    except OSError:
        return ""


def progress_bar(done: int, total: int, result: SubmissionResult | None) -> None:
    """A one-line progress bar on stderr."""
    width = 30
    filled = int(width * done / total) if total else width
    last = f"  last: {result.student}" if result is not None else ""
    sys.stderr.write(f"\rgrading [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{last[:40]:<40}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
