"""`dlcourse grade --scheduler ADDRESS`: grade on a Dask distributed cluster whose workers have the course installed.

The unit of work is the same as on one machine: one submission's bytes in, `grade_notebook_bytes`'s plain result out.
On each Dask worker the task starts a supervised grading process of its own (see worker.py), so student code never
runs inside the Dask worker itself. Results stream back as they finish and are saved by `grade_all` as they arrive,
so resuming, reports and the exit code work as on one machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
from typing import Any, Callable

from dlcourse.grading import submissions
from dlcourse.grading.runner import Limits

CONNECT_TIMEOUT_SECONDS = 30  # DLCOURSE_SCHEDULER_TIMEOUT overrides it


class ClusterUnavailable(Exception):
    """The scheduler can't be reached; the message says which address and why."""


def distributed_problem() -> str:
    """Why --scheduler can't be used here ('' when Dask's distributed package can be imported)."""
    try:
        import distributed  # noqa: F401
    except ImportError as error:
        return f"Dask's `distributed` package is not installed ({error}); run `pip install -r requirements.txt`"
    return ""


def grade_on_worker(job_json: bytes) -> dict[str, Any]:
    """Runs on a Dask worker: grade one job in a supervised grading process there, retried once on a grader failure.

    A job without a course root is graded against the worker's own installed course. With --sandbox, the worker's
    course folder is hidden from student code too.
    """
    from dlcourse import course
    from dlcourse.grading import worker

    job = worker.WorkerJob.from_json(job_json)
    own_root = str(course.repository_root())
    if not job.root:
        job = dataclasses.replace(job, root=own_root)
    if job.limits.sandbox and own_root not in job.limits.hidden_paths:
        job = dataclasses.replace(job, limits=dataclasses.replace(
            job.limits, hidden_paths=job.limits.hidden_paths + (own_root,)))
    with worker.supervised() as supervisor:
        return supervisor.grade(job)


def grade_on_cluster(address: str, found: list[submissions.Submission], pending: list[int], root: str,
                     limits: Limits | Callable[[int], Limits], finish: Callable[[int, Any], None]) -> None:
    """Send each pending submission to the cluster at `address`; call finish(index, result) as each result arrives.

    `root` is the course folder on the workers ('' for each worker's own installed course); `limits` may be a
    function of the submission's index (a re-judging judges only some exercises).
    """
    import distributed

    from dlcourse import grading
    from dlcourse.grading import worker

    if not pending:
        return
    try:
        timeout = float(os.environ.get("DLCOURSE_SCHEDULER_TIMEOUT", CONNECT_TIMEOUT_SECONDS))
        client = distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address} ({type(error).__name__}: {error})") from None
    with client:
        futures = {}
        for index in pending:
            submission = found[index]
            try:
                data = submission.path.read_bytes()
            except OSError as error:
                finish(index, grading.SubmissionResult(submission.student, str(submission.path), "",
                                                       error=f"could not read the file ({error})."))
                continue
            job = worker.WorkerJob(data, submission.path.name, root, limits(index) if callable(limits) else limits)
            digest = hashlib.sha256(data).hexdigest()
            future = client.submit(grade_on_worker, job.to_json(), key=f"dlcourse-grade-{index}-{digest[:16]}",
                                   pure=False)
            futures[future] = (index, digest)
        for future in distributed.as_completed(futures):
            index, digest = futures[future]
            submission = found[index]
            result = grading.SubmissionResult(submission.student, str(submission.path), digest)
            try:
                outcome = future.result()
            except Exception as error:  # the cluster lost the task (a worker died, ...): retry it by running again
                result.grader_error = (f"the cluster failed on this submission ({type(error).__name__}: {error}); "
                                       "not graded: run the same command again.")
            else:
                grading.fill_result(result, outcome)
            finish(index, result)


def course_root_for_workers(course_option: pathlib.Path | None) -> str:
    """The course folder the workers use: --course as given (it must exist on every worker), else their own."""
    return str(course_option.resolve()) if course_option else ""
