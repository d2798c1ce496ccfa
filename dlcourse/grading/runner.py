"""Run one submission's transplanted steps in a fresh, watched kernel: time limits, memory cap, crashes.

Student code runs only in the kernel. After each exercise cell, the kernel runs the answer on the
exercise's case inputs (`dlcourse.grading_kernel`, which holds no answers) and sends back plain data;
this process judges that data with the exercise's declaration and never runs student code.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import queue
import shutil
import subprocess
import tempfile
import time
from typing import Any

from dlcourse import collect, execution
from dlcourse.grading.submissions import Step

POLL_SECONDS = 0.05
KERNEL_START_SECONDS = 60
KERNEL_HELPER = '__import__("dlcourse.grading_kernel").grading_kernel'
SETUP_CODE = f"{KERNEL_HELPER}.install()"
REMEMBER_THREADS_CODE = f"{KERNEL_HELPER}.remember_threads()"
WARM_UP_CODE = "import numpy, matplotlib.pyplot, keras"  # what the chapters' setup cells import first: slow to load
MAX_RESULT_CHARACTERS = 80 * 2**20
COLLECTION_MARGIN_SECONDS = 30  # beyond the answer's own limits (collect.py), for encoding and sending its outputs
CHAPTERS_FOLDER = "chapters"  # the kernel runs in <working folder>/chapters, beside a `datasets` link, as students do
DATASETS_LINK = "datasets"


class GraderFailure(Exception):
    """The grader itself failed on this submission (not the student's code): retry it, don't save it."""


@dataclasses.dataclass
class Limits:
    """Resource limits and isolation for grading one submission (JSON-ready through dataclasses.asdict)."""

    cell_timeout_seconds: float = 120.0
    notebook_timeout_seconds: float = 900.0
    memory_limit_mb: float = 4096.0
    sandbox: bool = False  # run the kernel under bubblewrap (see sandbox.py)
    hidden_paths: tuple[str, ...] = ()  # folders a sandboxed kernel must not see, e.g. --out and the course root
    full: bool = False  # run every cell of the official notebook, not only those the exercises need (slicing.py)
    only_exercises: tuple[str, ...] = ()  # judge only these (their checks changed); () judges every exercise

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Limits":
        """Rebuild Limits saved with dataclasses.asdict."""
        return cls(**{**data, "hidden_paths": tuple(data.get("hidden_paths", ())),
                      "only_exercises": tuple(data.get("only_exercises", ()))})


@dataclasses.dataclass
class RunOutcome:
    """What one execute request did: ok, error, timeout, memory, or dead (kernel gone)."""

    status: str
    error: str = ""
    user_expressions: dict[str, Any] = dataclasses.field(default_factory=dict)


class WatchedKernel:
    """A kernel of the current environment, in its own folder, whose memory and time are watched."""

    def __init__(self, working_directory: str, limits: Limits, setup_code: str = "") -> None:
        """Remember the folder, the limits and the code that prepares every fresh kernel; `start` launches it.

        The kernel runs in the folder's `chapters/` subfolder when there is one (see make_working_folder).
        """
        self.working_directory = working_directory
        chapters_folder = os.path.join(working_directory, CHAPTERS_FOLDER)
        self.current_folder = chapters_folder if os.path.isdir(chapters_folder) else working_directory
        self.limits = limits
        self.setup_code = setup_code
        self.manager = None
        self.client = None

    def start(self) -> None:
        """Launch a fresh kernel, wait until it answers and run the setup code (GraderFailure if that fails)."""
        if self.limits.sandbox:
            from dlcourse.grading import sandbox

            self.manager = sandbox.sandboxed_kernel_manager(self.working_directory, self.limits.hidden_paths,
                                                            self.current_folder)
        else:
            self.manager = execution.current_environment_kernel_manager()
        environment = {key: value for key, value in os.environ.items() if not key.startswith("DLCOURSE_METRICS")}
        environment["MPLBACKEND"] = "Agg"
        try:
            self.manager.start_kernel(cwd=self.current_folder, env=environment,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.client = self.manager.client()
            self.client.start_channels()
            self.client.wait_for_ready(timeout=KERNEL_START_SECONDS)
        except Exception as error:
            self.stop()
            raise GraderFailure(f"the grading kernel did not start ({type(error).__name__}: {error}).") from None
        if self.setup_code:
            outcome = self.run(self.setup_code, KERNEL_START_SECONDS)
            if outcome.status != "ok":
                self.stop()
                raise GraderFailure(f"the grading kernel could not be prepared ({outcome.status}: {outcome.error}).")

    def stop(self) -> None:
        """Shut the kernel down, forcefully; safe to call twice."""
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.manager is not None:
            try:
                self.manager.shutdown_kernel(now=True)
            except Exception:
                pass
            self.manager = None

    def restart(self) -> None:
        """Replace the kernel by a fresh one."""
        self.stop()
        self.start()

    def memory_mb(self) -> float:
        """Resident memory of the kernel process and its children, in MB."""
        import psutil

        try:
            process = psutil.Process(self.manager.provisioner.process.pid)
            processes = [process] + process.children(recursive=True)
            return sum(item.memory_info().rss for item in processes) / 2**20
        except (psutil.Error, AttributeError):
            return 0.0

    def is_alive(self) -> bool:
        """Whether the kernel process still runs."""
        return self.manager is not None and self.manager.is_alive()

    def run(self, code: str, timeout_seconds: float, user_expressions: dict[str, str] | None = None) -> RunOutcome:
        """Execute code and wait for its reply, killing the kernel on memory overuse or a hang."""
        message_id = self._send(code, user_expressions)
        deadline = time.monotonic() + timeout_seconds
        retried = False
        while True:
            self._drain_iopub()
            try:
                reply = self.client.get_shell_msg(timeout=POLL_SECONDS)
            except queue.Empty:
                reply = None
            if reply is not None and reply.get("parent_header", {}).get("msg_id") == message_id:
                if reply["content"].get("status") == "aborted" and not retried:
                    retried = True  # aborted by the kernel after an earlier interrupt: send it once more
                    message_id = self._send(code, user_expressions)
                    continue
                return _outcome_of(reply["content"])
            if not self.is_alive():
                return RunOutcome("dead", "the kernel died (the code crashed Python or called os._exit).")
            used = self.memory_mb()
            if used > self.limits.memory_limit_mb:
                self.stop()
                return RunOutcome("memory", f"killed: used {used:.0f} MB, over the memory limit of "
                                            f"{self.limits.memory_limit_mb:.0f} MB.")
            if time.monotonic() > deadline:
                return self._interrupt_after_timeout(message_id, timeout_seconds)

    def _send(self, code: str, user_expressions: dict[str, str] | None) -> str:
        """Send an execute request; stop_on_error=False, so an error or interrupt doesn't abort the next ones."""
        return self.client.execute(code, silent=False, store_history=False, allow_stdin=False,
                                   user_expressions=user_expressions or {}, stop_on_error=False)

    def _interrupt_after_timeout(self, message_id: str, timeout_seconds: float) -> RunOutcome:
        """Interrupt a cell that ran too long; kill the kernel if it doesn't stop."""
        outcome = RunOutcome("timeout", f"stopped after the time limit of {timeout_seconds:g} s "
                                        "(an infinite loop, or far too much work).")
        try:
            self.manager.interrupt_kernel()
            stop_by = time.monotonic() + 10
            while time.monotonic() < stop_by:
                try:
                    reply = self.client.get_shell_msg(timeout=0.2)
                except queue.Empty:
                    continue
                if reply.get("parent_header", {}).get("msg_id") == message_id:
                    return outcome
        except Exception:
            pass
        self.stop()
        return outcome

    def _drain_iopub(self) -> None:
        """Discard published output so that it doesn't pile up (results travel by user_expressions)."""
        try:
            while True:
                self.client.get_iopub_msg(timeout=0)
        except queue.Empty:
            return


def _outcome_of(content: dict[str, Any]) -> RunOutcome:
    """A RunOutcome from an execute_reply's content."""
    expressions = content.get("user_expressions") or {}
    if content.get("status") == "ok":
        return RunOutcome("ok", "", expressions)
    if content.get("status") == "aborted":
        return RunOutcome("error", "the kernel aborted this cell (after an earlier interrupt).", expressions)
    error = collect.trim_error_text(str(content.get("ename", "Error")), str(content.get("evalue", "")))
    return RunOutcome("error", error, expressions)


@dataclasses.dataclass
class ExerciseOutcome:
    """A graded exercise: status and message from the check, plus how the cell itself ran."""

    exercise_id: str
    status: str
    message: str


def make_working_folder() -> str:
    """A fresh temporary folder laid out like the course: the kernel's `chapters/` beside `datasets` (a link to the
    course's data), so that a notebook's relative paths such as "../datasets/iris.csv" work as they did for the
    student."""
    from dlcourse import datasets

    folder = tempfile.mkdtemp(prefix="dlg-")
    os.mkdir(os.path.join(folder, CHAPTERS_FOLDER))
    try:
        os.symlink(os.path.realpath(datasets.data_directory()), os.path.join(folder, DATASETS_LINK),
                   target_is_directory=True)
    except OSError:
        pass  # no link: only notebooks that read "../datasets/..." by path are affected, and they say so
    return folder


def start_warm_kernel(limits: Limits) -> WatchedKernel:
    """A fresh grading kernel in a temporary folder, started and prepared, that has imported the course's libraries."""
    kernel = WatchedKernel(make_working_folder(), limits, SETUP_CODE)
    try:
        kernel.start()
        kernel.run(WARM_UP_CODE, KERNEL_START_SECONDS)  # a failed import only loses the head start
    except BaseException:
        kernel.stop()
        shutil.rmtree(kernel.working_directory, ignore_errors=True)
        raise
    return kernel


def grade_steps(steps: list[Step], limits: Limits, kernel: WatchedKernel | None = None) -> list[ExerciseOutcome]:
    """Run the steps in a fresh kernel in a temporary folder (or in a warm one given, unused so far); check each
    exercise right after its cell."""
    if kernel is None:
        kernel = WatchedKernel(make_working_folder(), limits, SETUP_CODE)
    working_directory = kernel.working_directory
    outcomes: list[ExerciseOutcome] = []
    replayable: list[tuple[str, float]] = []  # (source, its time limit) of every cell that ran, for a replay
    added_cell_notes: list[str] = []  # cells the student added that failed, named when a later exercise fails
    started = time.monotonic()
    try:
        if kernel.client is None:
            kernel.start()
        for step in steps:
            remaining = limits.notebook_timeout_seconds - (time.monotonic() - started)
            if remaining <= 0:
                if step.kind == "exercise":
                    outcomes.append(ExerciseOutcome(step.exercise_id, "error",
                                                    f"Not graded: the notebook time limit of "
                                                    f"{limits.notebook_timeout_seconds:g} s was reached earlier."))
                continue
            if not kernel.is_alive():
                _replay(kernel, replayable)
            if step.kind == "exercise":
                kernel.run(REMEMBER_THREADS_CODE, KERNEL_START_SECONDS)
            time_limit = cell_time_limit(step, limits)
            run = kernel.run(step.source, min(time_limit, remaining))
            if run.status in ("ok", "error"):
                replayable.append((step.source, time_limit))
            if step.kind == "added" and run.status != "ok":
                added_cell_notes.append(added_cell_note(step.source, run))
            if step.kind == "exercise":
                outcomes.append(with_notes(_check_exercise(kernel, step, run, replayable), added_cell_notes))
    finally:
        kernel.stop()
        shutil.rmtree(working_directory, ignore_errors=True)
    return outcomes


def cell_time_limit(step: Step, limits: Limits) -> float:
    """The time limit of a cell: an exercise cell has its exercise's own (the one `checks.check` states in the
    notebook), every other cell the grader's --timeout. An exercise cell run without its check (a re-judging of other
    exercises) keeps its exercise's limit."""
    if not step.exercise_id:
        return limits.cell_timeout_seconds
    from dlcourse import checks

    return float(checks.get_exercise(step.exercise_id).cell_time_limit_seconds)


def added_cell_note(source: str, run: RunOutcome) -> str:
    """One sentence on a cell the student added that did not run cleanly while grading."""
    first_line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    first_line = first_line if len(first_line) <= 60 else first_line[:57] + "..."
    what = {"error": f"raised {run.error}", "timeout": f"was {run.error}", "memory": f"was {run.error}",
            "dead": f"crashed: {run.error}"}.get(run.status, run.error)
    return f"Note: a cell you added to the notebook (`{first_line}`) {what}"


def with_notes(outcome: ExerciseOutcome, notes: list[str]) -> ExerciseOutcome:
    """The outcome, with the notes on failed added cells appended when the exercise did not pass."""
    if outcome.status == "passed" or not notes:
        return outcome
    return dataclasses.replace(outcome, message=outcome.message + "\n" + "\n".join(notes[-2:]))


def _check_exercise(kernel: WatchedKernel, step: Step, run: RunOutcome,
                    replayable: list[tuple[str, float]]) -> ExerciseOutcome:
    """Collect the answer's outputs in the kernel right after its cell ran, and judge them here."""
    if run.status in ("timeout", "memory", "dead"):
        what = f"crashed: {run.error}" if run.status == "dead" else f"was {run.error}"
        return ExerciseOutcome(step.exercise_id, "error", f"Your exercise cell {what}")
    from dlcourse import checks
    from dlcourse.checks import framework

    exercise = checks.get_exercise(step.exercise_id)
    collected = _collect(kernel, step, exercise, replayable)
    if isinstance(collected, ExerciseOutcome):
        return collected
    if collected.get("blocked_imports"):
        return ExerciseOutcome(step.exercise_id, "failed", reference_use_message(collected["blocked_imports"][0]))
    result = framework.judge_collected(exercise, collected)
    status, message = result.status, result.message
    if run.status != "error" or status == "passed":
        return ExerciseOutcome(step.exercise_id, status, message)
    if run.error.startswith("NotImplementedError"):
        return ExerciseOutcome(step.exercise_id, "not_attempted",
                               "Not attempted: the exercise cell still raises NotImplementedError.")
    prefix = f"Your exercise cell raised {run.error}"
    if status == "not_attempted" and step.submitted:
        return ExerciseOutcome(step.exercise_id, "error", prefix)
    return ExerciseOutcome(step.exercise_id, status, f"{prefix}\n{message}")


HELDOUT_FOLDER_NAME = "heldout"  # dlcourse/checks/heldout: the data model answers are scored on


def reference_use_message(code: str) -> str:
    """The grade message for an answer whose code reached the course's reference answers while it ran."""
    if HELDOUT_FOLDER_NAME in code:
        return (f"This exercise's code reads the checks' held-out data (`{code}`), which exists only to score "
                "answers, so it gets 0 points. Train and test on the lesson's data; the grader scores your answer "
                "on the held-out data itself.")
    return (f"This exercise's code uses the course's reference implementation (`{code}`), so it gets 0 points. "
            "Your answer must be your own code; `checks.check` and `checks.hint` are the only parts of "
            "`dlcourse.checks` an exercise may use.")


def collection_code(request: dict[str, Any], answer_expression: str) -> str:
    """The code that makes the kernel run the answer on the request's cases (no expected values in it)."""
    return f"{KERNEL_HELPER}.collect_json({json.dumps(request)!r}, lambda: ({answer_expression}))"


def _collect(kernel: WatchedKernel, step: Step, exercise: Any,
             replayable: list[tuple[str, float]]) -> dict[str, Any] | ExerciseOutcome:
    """The answer's collected outputs, an ExerciseOutcome when running it failed, or GraderFailure."""
    request = exercise.collection_request()
    code = collection_code(request, step.answer_expression)
    timeout = collect.wall_clock_backstop_seconds(exercise.time_limit_seconds) + COLLECTION_MARGIN_SECONDS
    problem = ""
    for attempt in range(2):
        run = kernel.run(code, timeout, {"result": f"{KERNEL_HELPER}.last_result"})
        if run.status in ("timeout", "memory", "dead"):
            what = "crashed the kernel" if run.status == "dead" else f"was {run.error}"
            return ExerciseOutcome(step.exercise_id, "error", f"Running your answer on the test cases {what}")
        collected, problem = _parse_collected(run)
        if collected is not None:
            return collected
        _replay(kernel, replayable)  # restores the grader's state and the notebook's, then tries again
    raise GraderFailure(f"the grader could not collect the outputs of {step.exercise_id} ({problem}).")


def _parse_collected(run: RunOutcome) -> tuple[dict[str, Any] | None, str]:
    """The collected outputs from a collect request's reply, or (None, why not)."""
    if run.status != "ok":
        return None, run.error or run.status
    expression = run.user_expressions.get("result", {})
    if expression.get("status") != "ok":
        return None, f"{expression.get('ename', 'no result')}: {expression.get('evalue', '')}"
    text = expression.get("data", {}).get("text/plain", "")
    if len(text) > MAX_RESULT_CHARACTERS:
        return None, "the outputs are too large"
    try:
        collected = json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
        return None, f"unreadable outputs ({type(error).__name__})"
    if not isinstance(collected, dict) or "answer" not in collected and "undefined" not in collected and "fetch_error" not in collected:
        return None, "the outputs have the wrong form"
    return collected, ""


def _replay(kernel: WatchedKernel, replayable: list[tuple[str, float]]) -> None:
    """Start a fresh kernel (its setup restores the grader's state) and rerun everything that ran before, without checks."""
    kernel.restart()
    for source, time_limit in replayable:
        outcome = kernel.run(source, time_limit)
        if outcome.status not in ("ok", "error"):
            kernel.restart()
