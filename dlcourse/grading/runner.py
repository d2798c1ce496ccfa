"""Run one submission's transplanted steps in a fresh, watched kernel: time limits, memory cap, crashes."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import queue
import secrets
import shutil
import subprocess
import tempfile
import time
from typing import Any

from dlcourse import execution
from dlcourse.grading.submissions import Step

POLL_SECONDS = 0.05
KERNEL_START_SECONDS = 60


@dataclasses.dataclass
class Limits:
    """Resource limits and isolation for grading one submission (JSON-ready through dataclasses.asdict)."""

    cell_timeout_seconds: float = 120.0
    notebook_timeout_seconds: float = 900.0
    memory_limit_mb: float = 4096.0
    sandbox: bool = False  # run the kernel under bubblewrap (see sandbox.py)
    hidden_paths: tuple[str, ...] = ()  # folders a sandboxed kernel must not see, e.g. --out and the course root

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Limits":
        """Rebuild Limits saved with dataclasses.asdict."""
        return cls(**{**data, "hidden_paths": tuple(data.get("hidden_paths", ()))})


@dataclasses.dataclass
class RunOutcome:
    """What one execute request did: ok, error, timeout, memory, or dead (kernel gone)."""

    status: str
    error: str = ""
    user_expressions: dict[str, Any] = dataclasses.field(default_factory=dict)


class WatchedKernel:
    """A kernel of the current environment, in its own folder, whose memory and time are watched."""

    def __init__(self, working_directory: str, limits: Limits) -> None:
        """Remember the folder and the limits; `start` launches the kernel."""
        self.working_directory = working_directory
        self.limits = limits
        self.manager = None
        self.client = None

    def start(self) -> None:
        """Launch a fresh kernel and wait until it answers."""
        self.manager = execution.current_environment_kernel_manager()
        environment = {key: value for key, value in os.environ.items() if not key.startswith("DLCOURSE_METRICS")}
        environment["MPLBACKEND"] = "Agg"
        self.manager.start_kernel(cwd=self.working_directory, env=environment,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=KERNEL_START_SECONDS)

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
    error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".strip()
    return RunOutcome("error", error, expressions)


@dataclasses.dataclass
class ExerciseOutcome:
    """A graded exercise: status and message from the check, plus how the cell itself ran."""

    exercise_id: str
    status: str
    message: str


def grade_steps(steps: list[Step], limits: Limits) -> list[ExerciseOutcome]:
    """Run the steps in a fresh kernel in a temporary folder; check each exercise right after its cell."""
    working_directory = tempfile.mkdtemp(prefix="dlcourse-grade-")
    grader_name = f"_dlcourse_grader_{secrets.token_hex(8)}"
    setup = f"import dlcourse.grading.in_kernel as _m\n{grader_name} = _m.KernelGrader()\ndel _m"
    kernel = WatchedKernel(working_directory, limits)
    outcomes: list[ExerciseOutcome] = []
    replayable: list[str] = [setup]
    started = time.monotonic()
    try:
        kernel.start()
        setup_outcome = kernel.run(setup, KERNEL_START_SECONDS)
        if setup_outcome.status != "ok":
            raise RuntimeError(f"the grading kernel could not start the checks ({setup_outcome.error}).")
        for step in steps:
            remaining = limits.notebook_timeout_seconds - (time.monotonic() - started)
            if remaining <= 0:
                if step.kind == "exercise":
                    outcomes.append(ExerciseOutcome(step.exercise_id, "error",
                                                    f"Not graded: the notebook time limit of "
                                                    f"{limits.notebook_timeout_seconds:g} s was reached earlier."))
                continue
            if not kernel.is_alive():
                _replay(kernel, replayable, limits)
            cell_timeout = min(limits.cell_timeout_seconds, remaining)
            run = kernel.run(step.source, cell_timeout)
            if run.status in ("ok", "error"):
                replayable.append(step.source)
            if step.kind == "exercise":
                outcomes.append(_check_exercise(kernel, step, run, grader_name, limits))
    finally:
        kernel.stop()
        shutil.rmtree(working_directory, ignore_errors=True)
    return outcomes


def _check_exercise(kernel: WatchedKernel, step: Step, run: RunOutcome, grader_name: str,
                    limits: Limits) -> ExerciseOutcome:
    """Check the exercise's answer as it is right now, after its cell ran (a dead kernel is replayed by the caller)."""
    if run.status in ("timeout", "memory", "dead"):
        what = f"crashed: {run.error}" if run.status == "dead" else f"was {run.error}"
        return ExerciseOutcome(step.exercise_id, "error", f"Your exercise cell {what}")
    check_code = f"{grader_name}.grade({step.exercise_id!r}, lambda: ({step.answer_expression}))"
    check = kernel.run(check_code, limits.cell_timeout_seconds + 30, {"result": f"{grader_name}.last_result"})
    if check.status != "ok":
        return ExerciseOutcome(step.exercise_id, "error", f"The check could not run: {check.error}")
    result = _parse_result(check.user_expressions.get("result", {}))
    if result is None:
        return ExerciseOutcome(step.exercise_id, "error", "The check produced no result.")
    status, message = result["status"], result["message"]
    if run.status != "error" or status == "passed":
        return ExerciseOutcome(step.exercise_id, status, message)
    if run.error.startswith("NotImplementedError"):
        return ExerciseOutcome(step.exercise_id, "not_attempted",
                               "Not attempted: the exercise cell still raises NotImplementedError.")
    prefix = f"Your exercise cell raised {run.error}"
    if status == "not_attempted" and step.submitted:
        return ExerciseOutcome(step.exercise_id, "error", prefix)
    return ExerciseOutcome(step.exercise_id, status, f"{prefix}\n{message}")


def _parse_result(expression: dict[str, Any]) -> dict[str, Any] | None:
    """The check's result dict from a user_expressions entry."""
    if expression.get("status") != "ok":
        return None
    text = expression.get("data", {}).get("text/plain", "")
    try:
        return json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return None


def _replay(kernel: WatchedKernel, replayable: list[str], limits: Limits) -> None:
    """Start a fresh kernel and rerun everything that ran cleanly before, without checks."""
    kernel.restart()
    for source in replayable:
        outcome = kernel.run(source, limits.cell_timeout_seconds)
        if outcome.status not in ("ok", "error"):
            kernel.restart()
