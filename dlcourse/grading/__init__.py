"""The instructor grader: transplant each submission's answers into the official notebook and check them.

`dlcourse grade` and `dlcourse check` use this package. `grade_notebook_bytes` grades one notebook, plain data in
and plain data out; each submission is graded by it in a worker process of its own, started and watched by the
supervisor in worker.py. Student code only ever runs inside a fresh kernel process that the worker starts (see
runner.py); the kernel sends back plain data, which the worker judges (it imports Keras, in the background from its
start, to load submitted models in safe mode). The supervisor never imports TensorFlow, and no process writes
submissions.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import pathlib
import re
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence


def _skip_unused_iri_checker() -> None:
    """Keep jsonschema from loading its optional IRI syntax checker, which nbformat's schema never uses.

    Importing `rfc3987_syntax` compiles a grammar: a second of CPU in the supervisor and again in every worker.
    jsonschema treats the module as optional (it skips an ImportError), so marking it absent changes nothing else.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


_skip_unused_iri_checker()

from dlcourse import course  # noqa: E402  (the imports below load nbformat, then jsonschema)
from dlcourse.grading import runner, slicing, submissions  # noqa: E402
from dlcourse.grading.runner import Limits  # noqa: E402

if TYPE_CHECKING:  # worker.py is imported lazily: `python -m dlcourse.grading.worker` imports this package first
    from dlcourse.grading.worker import Supervisor


@dataclasses.dataclass
class SubmissionResult:
    """The grade of one submission: per-exercise rows, or the reason it could not be graded."""

    student: str
    path: str
    sha256: str
    chapter: str = ""
    error: str = ""  # the file can't be graded (malformed, empty, unknown chapter ...): the student's problem
    seconds: float = 0.0
    exercises: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    grader_error: str = ""  # the grader itself failed on it, even on a retry: not graded, and never saved
    file_mtime: float = 0.0  # the file's modification time (seconds since the epoch) when graded: a submission time
    check_versions: dict[str, str] = dataclasses.field(default_factory=dict)  # exercise -> versions.check_version

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
        """Rebuild a result saved by to_dict (older saved results lack grader_error; unknown keys are ignored)."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def points_for(exercise_id: str) -> float:
    """The points an exercise is worth, as its declaration says (`points`, default 1); ValueError if it is unknown."""
    from dlcourse import checks

    return float(getattr(checks.get_exercise(exercise_id), "points", 1.0))


def grade_notebook_bytes(data: bytes, file_name: str, root: str | pathlib.Path, limits: Limits,
                         kernel: runner.WatchedKernel | None = None) -> dict[str, Any]:
    """Grade one notebook given as bytes: plain data in, a JSON-ready dict out, and never an Exception.

    The dict has `chapter`, `error` (the file can't be graded: malformed, empty, unknown chapter ...),
    `grader_error` (the grader itself failed), `seconds` and `exercises` (exercise, status, points, max_points,
    message). This is the unit of work of a grading worker, and of a distributed engine. `kernel` is a warm kernel
    started by runner.start_warm_kernel with the same limits (it is stopped afterwards), or None for a fresh one. SystemExit (a worker's
    SIGTERM handler) and KeyboardInterrupt still unwind, so that the kernel is stopped.
    """
    started = time.monotonic()
    outcome: dict[str, Any] = {"chapter": "", "error": "", "grader_error": "", "seconds": 0.0, "exercises": []}
    try:
        notebook = submissions.notebook_from_bytes(data, file_name)
        chapter = submissions.chapter_of(notebook)
        outcome["chapter"] = chapter.chapter_id
        steps = submissions.transplant(submissions.official_notebook(chapter, pathlib.Path(root)), notebook)
        if limits.only_exercises:  # the other answers still run where later cells need them, but are not judged
            steps = [step if step.kind != "exercise" or step.exercise_id in limits.only_exercises
                     else dataclasses.replace(step, kind="lesson") for step in steps]
        if not limits.full:
            steps = slicing.slice_steps(steps)
        outcome["exercises"] = exercise_rows(runner.grade_steps(steps, limits, kernel))
    except submissions.SubmissionError as error:
        outcome["error"] = str(error)
    except Exception as error:  # runner.GraderFailure included: the grader's fault, not the file's
        outcome["grader_error"] = f"the grader failed on this submission ({type(error).__name__}: {error})."
    outcome["seconds"] = round(time.monotonic() - started, 1)
    return outcome


def exercise_rows(outcomes: list[runner.ExerciseOutcome]) -> list[dict[str, Any]]:
    """The JSON-ready rows of graded exercises, with their points."""
    rows = []
    for outcome in outcomes:
        maximum = points_for(outcome.exercise_id)
        rows.append({"exercise": outcome.exercise_id, "status": outcome.status,
                     "points": maximum if outcome.status == "passed" else 0.0, "max_points": maximum,
                     "message": outcome.message})
    return rows


def grade_submission(submission: submissions.Submission, root: pathlib.Path, limits: Limits,
                     worker_command: Sequence[str] | None = None) -> SubmissionResult:
    """Grade one submission in a supervised worker process; every failure becomes part of the result.

    This is what `dlcourse check` runs: a notebook that kills its grader (or the grader's process group) can't
    kill the caller. A grader failure is retried once in a fresh worker, then reported in `grader_error`.
    SIGTERM or Ctrl-C stops the worker and its kernel. worker_command replaces the worker (for tests).
    """
    from dlcourse.grading import worker

    with worker.supervised(worker_command) as supervisor:
        return grade_supervised(supervisor, submission, root, limits)


def grade_supervised(supervisor: Supervisor, submission: submissions.Submission, root: pathlib.Path,
                     limits: Limits) -> SubmissionResult:
    """Grade one submission through a worker.Supervisor; never raises an Exception."""
    from dlcourse.grading import worker

    try:
        data = submission.path.read_bytes()
    except OSError as error:
        return SubmissionResult(submission.student, str(submission.path), "",
                                error=f"could not read the file ({error}).")
    result = SubmissionResult(submission.student, str(submission.path), hashlib.sha256(data).hexdigest())
    try:
        outcome = supervisor.grade(worker.WorkerJob(data, submission.path.name, str(root), limits))
    except Exception as error:  # a supervisor bug still yields a row, and the batch goes on
        result.grader_error = f"the grading supervisor failed on this submission ({type(error).__name__}: {error})."
        return result
    return fill_result(result, outcome)


def fill_result(result: SubmissionResult, outcome: dict[str, Any]) -> SubmissionResult:
    """Copy a worker's outcome (grade_notebook_bytes's dict) into a SubmissionResult."""
    result.chapter, result.error, result.grader_error = outcome["chapter"], outcome["error"], outcome["grader_error"]
    result.seconds, result.exercises = outcome["seconds"], outcome["exercises"]
    return result


MAX_STUDENT_IN_FILE_NAME = 80  # a long name from a roster would exceed the file system's 255 bytes; the hash stays


def result_file_name(submission: submissions.Submission) -> str:
    """A stable, safe file name for a submission's saved result (the path's hash keeps two submissions apart)."""
    safe_student = re.sub(r"[^A-Za-z0-9_.-]", "_", submission.student)[:MAX_STUDENT_IN_FILE_NAME] or "student"
    path_hash = hashlib.sha256(str(submission.path).encode()).hexdigest()[:10]
    return f"{safe_student}--{path_hash}.json"


# Grader failures that older versions saved as if they were the file's fault; such a result is graded again.
LEGACY_GRADER_FAILURES = ("the grading worker failed (", "the grader failed on this submission (")


def load_saved_result(path: pathlib.Path, sha256: str) -> SubmissionResult | None:
    """A previously saved result, if it exists, is for the same submission content and is not a grader failure."""
    try:
        saved = SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if saved.sha256 != sha256 or saved.grader_error or saved.error.startswith(LEGACY_GRADER_FAILURES):
        return None
    return saved


def grade_all(found: list[submissions.Submission], results_directory: pathlib.Path, limits: Limits,
              workers: int = 1, force: bool = False, root: pathlib.Path | None = None,
              on_progress: Callable[[int, int, SubmissionResult], None] | None = None,
              scheduler: str = "", worker_root: str = "",
              regrade_diff: list[dict[str, Any]] | None = None) -> list[SubmissionResult]:
    """Grade every submission (resuming from saved results unless force), saving each result as it finishes.

    A saved result whose exercises' checks changed since (versions.check_version) is re-judged for those exercises
    only, and each change of status, points or message is appended to `regrade_diff`. At most `workers`
    submissions are graded at once, each in a worker process of its own; with `scheduler`, they are graded on that
    Dask cluster instead, against `worker_root` there ('' for the workers' own course). A result with a
    grader_error is not saved, so that running the same command again grades that submission again.
    """
    from dlcourse import progress
    from dlcourse.grading import versions

    root = root or course.repository_root()
    results_directory.mkdir(parents=True, exist_ok=True)
    results: dict[int, SubmissionResult] = {}
    partial: dict[int, tuple[SubmissionResult, list[str]]] = {}  # index -> (saved result, exercises to re-judge)
    pending = []
    for index, submission in enumerate(found):
        saved_path = results_directory / result_file_name(submission)
        saved = None if force else load_saved_result(saved_path, _sha256_or_empty(submission.path))
        if saved is not None:
            modified = _mtime_or_zero(submission.path)
            if modified != saved.file_mtime:  # the same content saved again later: its submission time moved
                saved.file_mtime = modified
                progress.write_json_atomically(saved_path, saved.to_dict())
            judged = [row["exercise"] for row in saved.exercises]
            # without recorded versions (saved by an older grader) every exercise is judged again, once
            stale = versions.stale_exercises(saved.check_versions, judged) if saved.check_versions else judged
            if stale and saved.check_versions:
                partial[index] = (saved, stale)
            if not stale:
                results[index] = saved
                continue
        pending.append(index)
    done = len(results)
    if on_progress:
        on_progress(done, len(found), None)

    def finish(index: int, result: SubmissionResult) -> None:
        nonlocal done
        result.file_mtime = _mtime_or_zero(found[index].path)
        if index in partial and not result.grader_error and not result.error:
            result = merged_regrade(*partial[index], result, regrade_diff)
        if not result.grader_error:
            result.check_versions = {**result.check_versions,
                                     **versions.current_versions([row["exercise"] for row in result.exercises])}
        results[index] = result
        if not result.grader_error:
            progress.write_json_atomically(results_directory / result_file_name(found[index]), result.to_dict())
        done += 1
        if on_progress:
            on_progress(done, len(found), result)

    def limits_for(index: int) -> Limits:
        """The limits of one pending submission: only its stale exercises are judged when it was graded before."""
        return dataclasses.replace(limits, only_exercises=tuple(partial[index][1])) if index in partial else limits

    if scheduler:
        from dlcourse.grading import cluster

        cluster.grade_on_cluster(scheduler, found, pending, worker_root, limits_for, finish)
    else:
        _grade_pending(found, pending, root, limits_for, workers, finish)
    return [results[index] for index in range(len(found))]


REGRADE_DIFF_COLUMNS = ("student", "file", "exercise", "old_status", "new_status", "old_points", "new_points",
                        "old_message", "new_message")


def merged_regrade(saved: SubmissionResult, stale: list[str], fresh: SubmissionResult,
                   regrade_diff: list[dict[str, Any]] | None) -> SubmissionResult:
    """The saved result with the re-judged exercises' rows replaced; each changed row is appended to regrade_diff."""
    new_rows = {row["exercise"]: row for row in fresh.exercises}
    rows = []
    for row in saved.exercises:
        new = new_rows.get(row["exercise"]) if row["exercise"] in stale else None
        if new is None:
            rows.append(row)
            continue
        rows.append(new)
        changed = any(row[key] != new[key] for key in ("status", "points", "message"))
        if changed and regrade_diff is not None:
            regrade_diff.append({"student": saved.student, "file": pathlib.Path(saved.path).name,
                                 "exercise": row["exercise"], "old_status": row["status"], "new_status": new["status"],
                                 "old_points": row["points"], "new_points": new["points"],
                                 "old_message": row["message"], "new_message": new["message"]})
    return dataclasses.replace(saved, exercises=rows, seconds=fresh.seconds, file_mtime=fresh.file_mtime,
                               check_versions=dict(saved.check_versions))


def _grade_pending(found: list[submissions.Submission], pending: list[int], root: pathlib.Path,
                   limits_for: Callable[[int], Limits], workers: int,
                   finish: Callable[[int, SubmissionResult], None]) -> None:
    """Grade found[index] for each pending index, `workers` at once, calling finish(index, result) as each completes."""
    from dlcourse.grading import worker

    if not pending:
        return
    with worker.supervised(jobs_expected=len(pending)) as supervisor:
        threads = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers),
                                                        thread_name_prefix="dlcourse-grade")
        try:
            futures = {threads.submit(grade_supervised, supervisor, found[index], root, limits_for(index)): index
                       for index in pending}
            for future in concurrent.futures.as_completed(futures):
                finish(futures[future], future.result())
        finally:
            threads.shutdown(wait=False, cancel_futures=True)  # when interrupted, `supervised` stops the workers


def _mtime_or_zero(path: pathlib.Path) -> float:
    """The file's modification time, or 0.0 if it can't be read."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _sha256_or_empty(path: pathlib.Path) -> str:
    """The file's sha256, or '' if it can't be read."""
    try:
        return submissions.file_sha256(path)
    except OSError:
        return ""


class ProgressBar:
    """Grading progress on stderr with tqdm (count, rate, ETA, last student): a live bar on a terminal, else one line per submission."""

    def __init__(self, stream: Any = None) -> None:
        """Report to `stream` (default: stderr)."""
        self.stream = stream or sys.stderr
        self.bar: Any = None
        self.initial = 0
        self.started = time.monotonic()

    def __call__(self, done: int, total: int, result: SubmissionResult | None) -> None:
        """Called once with result None (the results resumed from disk), then after each graded submission."""
        import tqdm

        last = f"last: {result.student}" if result is not None else ""
        if result is None:
            self.initial, self.started = done, time.monotonic()
        if not _is_terminal(self.stream):
            self.stream.write(tqdm.tqdm.format_meter(done, total, time.monotonic() - self.started, prefix="grading",
                                                     unit="submission", initial=self.initial, postfix=last,
                                                     ascii=True, ncols=100) + "\n")
            self.stream.flush()
            return
        if self.bar is None:
            self.bar = tqdm.tqdm(total=total, initial=done, desc="grading", unit="submission", file=self.stream,
                                 dynamic_ncols=True)
        if result is not None:
            self.bar.set_postfix_str(last, refresh=False)
            self.bar.update(1)
        if done >= total:
            self.bar.close()


def _is_terminal(stream: Any) -> bool:
    """True when the stream is an interactive terminal."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
