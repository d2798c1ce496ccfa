"""The exercise-check framework: how exercises are declared, run safely and reported."""

from __future__ import annotations

import copy
import dataclasses
import html
import signal
import threading
import warnings
from typing import Any, Callable

import numpy as np

from dlcourse.checks import diagnostics

STATUSES = ("passed", "failed", "not_attempted", "error")
_STATUS_STYLE = {
    "passed": ("\u2714", "#1e7e34", "#e6f4ea", "passed"),
    "failed": ("\u2718", "#b02a37", "#fbe9eb", "failed"),
    "error": ("\u2718", "#b02a37", "#fbe9eb", "error"),
    "not_attempted": ("\u2026", "#6c5d00", "#fff8db", "not attempted"),
}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: status, a bool and a message that names what is wrong."""

    exercise_id: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        """True only when the answer passed every test case."""
        return self.status == "passed"

    def __bool__(self) -> bool:
        """A result is truthy exactly when it passed."""
        return self.passed

    def __str__(self) -> str:
        """Plain-text rendering: a status line, then the message indented."""
        symbol, _, _, label = _STATUS_STYLE[self.status]
        lines = [f"{symbol} {self.exercise_id}: {label}"]
        lines += ["  " + line for line in self.message.splitlines()]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """Rendering for Jupyter: a coloured box with the message."""
        symbol, colour, background, label = _STATUS_STYLE[self.status]
        return (
            f'<div style="border-left:6px solid {colour};background:{background};padding:6px 10px;margin:4px 0">'
            f'<b style="color:{colour}">{symbol} {html.escape(self.exercise_id)}: {label}</b>'
            f'<pre style="white-space:pre-wrap;margin:4px 0 0 0;background:transparent">{html.escape(self.message)}</pre>'
            "</div>"
        )

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return {"exercise": self.exercise_id, "status": self.status, "passed": self.passed, "message": self.message}


@dataclasses.dataclass(frozen=True)
class Hint:
    """One hint of an exercise, displayable in Jupyter."""

    exercise_id: str
    level: int
    num_levels: int
    text: str

    def __str__(self) -> str:
        """Plain-text rendering of the hint."""
        return f"Hint {self.level} of {self.num_levels} for {self.exercise_id}: {self.text}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """Rendering for Jupyter."""
        return (
            '<div style="border-left:6px solid #0b5ed7;background:#e7f1ff;padding:6px 10px;margin:4px 0">'
            f"<b>Hint {self.level} of {self.num_levels}</b> for <code>{html.escape(self.exercise_id)}</code>: "
            f"{html.escape(self.text)}</div>"
        )


class CheckFailed(Exception):
    """The answer ran but is wrong; the message tells the student what is wrong."""


class StudentCodeError(Exception):
    """The student's code raised or exited; the message explains the exception."""


class NotAttempted(Exception):
    """The answer is still the untouched placeholder."""


class CheckTimeout(BaseException):
    """The student's code ran past the time limit (a BaseException, so `except Exception` can't swallow it)."""


@dataclasses.dataclass(frozen=True)
class Case:
    """One input on which the student's function is compared with the reference."""

    description: str
    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A realistic wrong implementation; when the answer behaves like it, the message names the mistake."""

    description: str
    function: Callable


@dataclasses.dataclass
class Exercise:
    """Base class of all exercises: an id, a title, hints and a time limit."""

    exercise_id: str
    title: str
    hints: list[str]
    time_limit_seconds: float = 10.0

    def evaluate(self, answer: Any) -> str:
        """Raise CheckFailed, StudentCodeError or NotAttempted, or return a success message."""
        raise NotImplementedError


@dataclasses.dataclass
class FunctionExercise(Exercise):
    """An exercise whose answer is a function, compared with a reference on several cases."""

    reference: Callable = None
    cases: list[Case] = dataclasses.field(default_factory=list)
    mistakes: list[Mistake] = dataclasses.field(default_factory=list)
    compare: Callable = diagnostics.compare_values
    reference_along_axis: Callable | None = None
    expected_axis: int = -1

    def evaluate(self, answer: Any) -> str:
        """Call the answer on every case and compare with the reference."""
        if not callable(answer):
            raise CheckFailed(diagnostics.describe_not_callable(answer))
        if diagnostics.is_placeholder_function(answer):
            raise NotAttempted()
        for index, case in enumerate(self.cases):
            expected = self.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
            got = self._call_student(answer, case, is_first=index == 0)
            problem = self.compare(expected, got)
            if problem:
                raise CheckFailed(self._failure_message(case, problem, got))
        return f"Correct on all {len(self.cases)} test cases (including edge cases)."

    def _call_student(self, answer: Callable, case: Case, is_first: bool) -> Any:
        """Run the student's function on a copy of the case's inputs, reporting exceptions and mutation."""
        args = copy.deepcopy(case.args)
        kwargs = copy.deepcopy(case.kwargs)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                got = answer(*args, **kwargs)
        except NotImplementedError:
            if is_first:
                raise NotAttempted() from None
            raise StudentCodeError(f"On {case.description}: your function raised NotImplementedError.") from None
        except (Exception, SystemExit) as exception:
            raise StudentCodeError(
                f"On {case.description} ({diagnostics.describe_arguments(case.args)}):\n"
                + diagnostics.explain_exception(exception)
            ) from None
        if got is Ellipsis and is_first:
            raise NotAttempted()
        changed = diagnostics.describe_mutated_arguments(case.args, args)
        if changed:
            raise CheckFailed(f"On {case.description}: {changed}")
        return got

    def _failure_message(self, case: Case, problem: str, got: Any) -> str:
        """A failure message: the input, what is wrong, and the named mistake if one matches."""
        lines = [f"On {case.description} ({diagnostics.describe_arguments(case.args)}):", problem]
        for mistake in self.mistakes:
            if diagnostics.matches_mistake(mistake.function, case, got):
                lines.append(f"Likely mistake: {mistake.description}")
                break
        else:
            if self.reference_along_axis is not None:
                wrong_axis = diagnostics.describe_wrong_axis(self.reference_along_axis, case.args, got, self.expected_axis)
                if wrong_axis:
                    lines.append(wrong_axis)
        return "\n".join(lines)


@dataclasses.dataclass
class ModelExercise(Exercise):
    """An exercise whose answer is a trained Keras model: its architecture is diffed, then it is scored."""

    build_reference: Callable = None
    score_model: Callable = None
    metric_name: str = "accuracy"
    minimum_score: float = 0.0
    low_score_advice: str = ""
    time_limit_seconds: float = 60.0

    def evaluate(self, answer: Any) -> str:
        """Diff the architecture layer by layer, then score the model on held-out data."""
        if not diagnostics.is_keras_model(answer):
            raise CheckFailed(diagnostics.describe_not_model(answer))
        if not answer.built:
            raise CheckFailed("Your model is not built yet: start it with `keras.Input(shape=...)` and train it with `fit`.")
        expected_rows = diagnostics.summarise_model(self.build_reference())
        difference = diagnostics.diff_models(expected_rows, diagnostics.summarise_model(answer))
        if difference:
            raise CheckFailed(difference)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score, problem = self.score_model(answer)
        except Exception as exception:
            raise StudentCodeError("Evaluating your model raised an error.\n" + diagnostics.explain_exception(exception)) from None
        if problem:
            raise CheckFailed(problem)
        if not score >= self.minimum_score:
            raise CheckFailed(f"The architecture is right, but {self.metric_name} on held-out data is {score:.3f}, "
                              f"below the required {self.minimum_score:.2f}. {self.low_score_advice}")
        return f"Architecture matches, and {self.metric_name} on held-out data is {score:.3f} (at least {self.minimum_score:.2f} needed)."


def run_with_time_limit(function: Callable[[], Any], seconds: float) -> Any:
    """Run function(), raising CheckTimeout if it runs longer than `seconds`."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _run_with_alarm(function, seconds)
    return _run_in_thread(function, seconds)


def _run_with_alarm(function: Callable[[], Any], seconds: float) -> Any:
    """Time limit by SIGALRM: interrupts pure-Python loops in the main thread."""

    def on_alarm(signal_number, frame):
        raise CheckTimeout()

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_timer[0] > 0:
            signal.setitimer(signal.ITIMER_REAL, *previous_timer)


def _run_in_thread(function: Callable[[], Any], seconds: float) -> Any:
    """Time limit by a daemon thread, for callers outside the main thread; a runaway thread is abandoned."""
    outcome: dict[str, Any] = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as exception:  # handed back to the caller below
            outcome["exception"] = exception

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CheckTimeout()
    if "exception" in outcome:
        raise outcome["exception"]
    return outcome.get("value")


def evaluate_answer(exercise: Exercise, answer: Any) -> CheckResult:
    """Evaluate an answer against an exercise; never raises (except KeyboardInterrupt)."""
    exercise_id = exercise.exercise_id
    if answer is Ellipsis:
        return CheckResult(exercise_id, "not_attempted", "Not attempted yet: replace the `...` placeholder with your answer.")
    try:
        message = run_with_time_limit(lambda: exercise.evaluate(answer), exercise.time_limit_seconds)
        return CheckResult(exercise_id, "passed", message or "Correct.")
    except NotAttempted:
        return CheckResult(exercise_id, "not_attempted",
                           "Not attempted yet: write your code where it says `# YOUR CODE HERE`.")
    except CheckTimeout:
        return CheckResult(exercise_id, "error",
                           f"Timed out: your code did not finish within {exercise.time_limit_seconds:g} seconds. "
                           "Look for an infinite loop (a `while` whose condition never becomes false) "
                           "or for far more work than the task needs.")
    except CheckFailed as failure:
        return CheckResult(exercise_id, "failed", str(failure))
    except StudentCodeError as failure:
        return CheckResult(exercise_id, "error", str(failure))
    except KeyboardInterrupt:
        raise
    except BaseException as exception:  # an internal problem must still not surface as a traceback
        return CheckResult(exercise_id, "error",
                           "The check could not evaluate this answer "
                           f"({type(exception).__name__}: {diagnostics.short_text(exception)}).\n"
                           "Make sure the answer has the type the exercise asks for.")
