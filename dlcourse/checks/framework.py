"""The exercise-check framework: how exercises are declared, judged and reported.

A check has two halves. `dlcourse.collect` runs the answer on the case inputs and returns plain data;
`judge_collected` here compares that data with the reference and names the mistake. A student's
`checks.check` runs both in the notebook; the instructor grader runs the first in the student's
kernel and the second in its own process, where student code never runs.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import html
import json
import os
import tempfile
import warnings
import zipfile
from typing import Any, Callable

from dlcourse import collect
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


CheckTimeout = collect.CheckTimeout
NO_OUTPUT = object()  # a case on which the answer raised instead of returning
NUMPY_ONLY_MESSAGE = ("This exercise asks for NumPy: your answer called {package} ({calls}). "
                      "Write it with NumPy arrays and operations only.")
REFERENCE_MESSAGE = ("Your answer uses the course's reference implementation ({name}) instead of your own code. "
                     "Write the function yourself; the checks compare it with the reference.")


@dataclasses.dataclass(frozen=True)
class Case:
    """One input on which the student's function is compared with the reference."""

    description: str
    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)


class LazyCases(list):
    """A list of Cases built on first use, so importing the checks never loads a dataset."""

    def __init__(self, build: Callable[[], list]):
        super().__init__()
        self._build = build
        self._built = False

    def _ensure(self) -> None:
        """Build the cases, once."""
        if not self._built:
            self._built = True
            self.extend(self._build())

    def __iter__(self):
        self._ensure()
        return super().__iter__()

    def __len__(self):
        self._ensure()
        return super().__len__()

    def __getitem__(self, index):
        self._ensure()
        return super().__getitem__(index)


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A realistic wrong implementation; when the answer behaves like it on every case, the message names it."""

    description: str
    function: Callable


@dataclasses.dataclass
class Exercise:
    """Base class of all exercises: an id, a title, hints and a time limit."""

    exercise_id: str
    title: str
    hints: list[str]
    time_limit_seconds: float = 10.0  # running the answer on the cases: CPU time, here and in the grader alike
    cell_time_limit_seconds: float = 30.0  # the exercise cell itself, when graded (`checks.check` warns beyond it)
    points: float = 1.0  # what passing it is worth in the grader's reports and exports

    kind = ""

    def collection_request(self) -> dict[str, Any]:
        """What `collect.collect` needs to run an answer (plain data, no expected values)."""
        return {"exercise": self.exercise_id, "kind": self.kind, "time_limit_seconds": self.time_limit_seconds}

    def judge(self, collected: dict[str, Any]) -> str:
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
    numpy_only: bool = False  # the exercise asks for NumPy: an answer that calls Keras or TensorFlow fails

    kind = "function"

    def collection_request(self) -> dict[str, Any]:
        """The case inputs, as plain data, with the time limit (and whether calls into Keras are to be recorded)."""
        request = super().collection_request()
        request["cases"] = collect.encode_case_inputs([(case.args, case.kwargs) for case in self.cases])
        request["numpy_only"] = self.numpy_only
        return request

    def judge(self, collected: dict[str, Any]) -> str:
        """Compare the answer's output on every case with the reference, in case order."""
        answer = collected["answer"]
        if not answer["callable"]:
            raise CheckFailed(diagnostics.describe_not_callable_record(answer))
        if answer.get("placeholder"):
            raise NotAttempted()
        if answer.get("module", "").startswith("dlcourse.checks"):
            raise CheckFailed(REFERENCE_MESSAGE.format(name=f"{answer['module']}.{answer.get('name') or answer['repr']}"))
        if self.numpy_only and collected.get("framework_calls"):
            raise CheckFailed(numpy_only_message(collected["framework_calls"]))
        records = collected.get("cases", [])
        if len(records) != len(self.cases):
            raise ValueError(f"{len(records)} case results for {len(self.cases)} cases")
        outputs = self._decoded_outputs(records)
        for index, (case, record) in enumerate(zip(self.cases, records)):
            if "exception" in record:
                raise self._exception_problem(index, case, record["exception"])
            got = outputs[index]
            if got is Ellipsis and index == 0:
                raise NotAttempted()
            if "mutated_argument" in record:
                position = int(record["mutated_argument"])
                argument = case.args[position] if 0 <= position < len(case.args) else None
                raise CheckFailed(f"On {case.description}: " + diagnostics.describe_mutated_argument(position, argument))
            self._judge_output(case, got, outputs)
        return self._success_message()

    def _judge_output(self, case: Case, got: Any, outputs: list[Any]) -> None:
        """Raise CheckFailed when the output on this case differs from the reference's."""
        expected = self.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        with diagnostics.case_inputs(case.args, case.kwargs):
            problem = self.compare(expected, got)
        if problem:
            raise CheckFailed(self._failure_message(case, problem, got, outputs))

    def _success_message(self) -> str:
        """What a passed check says."""
        return f"Correct on all {len(self.cases)} test cases (including edge cases)."

    @staticmethod
    def _decoded_outputs(records: list[dict[str, Any]]) -> list[Any]:
        """Each case's output as a value (NO_OUTPUT where the answer raised instead)."""
        return [collect.decode_value(record["output"]) if "output" in record else NO_OUTPUT for record in records]

    @staticmethod
    def _exception_problem(index: int, case: Case, record: dict[str, Any]) -> Exception:
        """The exception to raise for a case on which the student's function raised."""
        if record.get("not_implemented"):
            if index == 0:
                return NotAttempted()
            return StudentCodeError(f"On {case.description}: your function raised NotImplementedError.")
        input_shapes = diagnostics.array_shapes(tuple(case.args) + tuple(case.kwargs.values()))
        return StudentCodeError(f"On {case.description} ({diagnostics.describe_arguments(case.args)}):\n"
                                + diagnostics.explain_exception_record(record, input_shapes))

    def _failure_message(self, case: Case, problem: str, got: Any, outputs: list[Any]) -> str:
        """A failure message: the input, what is wrong, and the named mistake if it matches on every case."""
        lines = [f"On {case.description} ({diagnostics.describe_arguments(case.args)}):", problem]
        evaluated = [(each_case, output) for each_case, output in zip(self.cases, outputs) if output is not NO_OUTPUT]
        for mistake in self.mistakes:
            if all(diagnostics.matches_mistake(mistake.function, each_case, output) for each_case, output in evaluated):
                lines.append(f"Likely mistake: {mistake.description}")
                break
        else:
            if self.reference_along_axis is not None:
                wrong_axis = diagnostics.describe_wrong_axis(self.reference_along_axis, case.args, got, self.expected_axis)
                if wrong_axis:
                    lines.append(wrong_axis)
        return "\n".join(lines)


def short_error(exception: BaseException, limit: int = 300) -> str:
    """`Type: diagnosis` of an exception, without TensorFlow's quoted frames and wrappers, cut to `limit` characters."""
    type_name = type(exception).__name__
    return f"{type_name}: {collect.trim_error_message(collect.text_of(exception), type_name, limit)}"


NO_EVIDENCE_PREFIX = "The check found no specific cause. What the exercise asks for, to compare with what you did: "


def gather_evidence(tests: tuple, *observed: Any) -> list[str]:
    """The advice of each evidence test that found its cause in what was observed (a test that raises found none)."""
    found = []
    for test in tests:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                advice = test(*observed)
        except Exception:
            advice = ""
        if advice:
            found.append(str(advice))
    return found


def low_score_message(score_line: str, evidence: list[str], advice: str) -> str:
    """A low score: the score, then the causes the check observed; only without any, the exercise's own recipe,
    offered as a checklist rather than as a diagnosis."""
    if evidence:
        return "\n".join([score_line, *evidence])
    if advice:
        return f"{score_line}\n{NO_EVIDENCE_PREFIX}{advice}"
    return score_line


DIVERGED_MODEL_ADVICE = "Lower the learning rate and rebuild the model."


def score_classifier(model: Any, inputs: Any, labels: Any, evidence: tuple, recipe: str,
                     **accuracy_options: Any) -> tuple[float, str]:
    """A model's accuracy on held-out data, and its problem (NaN outputs, one class for everything); a finite model's
    problem comes with the causes `evidence` finds, else with `recipe` as a checklist."""
    import numpy as np

    probabilities = np.asarray(model.predict(inputs, batch_size=500, verbose=0))
    if probabilities.ndim == 2 and probabilities.shape[1] == 1:
        probabilities = probabilities.reshape(-1)  # one sigmoid probability per example
    accuracy, problem = diagnostics.classification_accuracy(probabilities, labels, diverged_advice=DIVERGED_MODEL_ADVICE,
                                                            **accuracy_options)
    if problem and np.all(np.isfinite(probabilities)):
        problem = low_score_message(problem, gather_evidence(evidence, model), recipe)
    return accuracy, problem


def numpy_only_message(calls: list[dict[str, str]]) -> str:
    """What a NumPy exercise says to an answer that called Keras or TensorFlow: the package and its first call."""
    first = calls[0]
    package = str(first.get("module", "")).split(".")[0] or "keras"
    return NUMPY_ONLY_MESSAGE.format(package=package, calls="e.g. " + describe_framework_call(first))


def describe_framework_call(call: dict[str, str]) -> str:
    """One recorded call into Keras or TensorFlow: the function (unless it is a decorator's wrapper) and the line."""
    function, line = str(call.get("function", "")), str(call.get("line", ""))
    named = f"`{call.get('module', '')}.{function}`" if function and "<locals>" not in function else ""
    where = f"in your line `{line}`" if line else ""
    return ", ".join(part for part in (named, where) if part) or f"`{call.get('module', '?')}`"


@dataclasses.dataclass
class ScoredFunctionExercise(FunctionExercise):
    """A function whose output is scored rather than compared, e.g. a training loop's parameters on held-out data.

    `score_output(case, output)` returns (score, problem): a problem message ('' if none) fails the check
    at once; otherwise every case must score at least `minimum_score`.
    """

    score_output: Callable = None
    minimum_score: float = 0.0
    metric_name: str = "score"
    low_score_advice: str = ""
    low_score_evidence: tuple = ()  # functions (case, output) -> advice, or '' when they find no evidence for it
    time_limit_seconds: float = 30.0

    def __post_init__(self) -> None:
        """Start with no scores."""
        self._scores: list[float] = []

    def judge(self, collected: dict[str, Any]) -> str:
        """Score the output on every case, in case order."""
        self._scores = []
        return super().judge(collected)

    def _judge_output(self, case: Case, got: Any, outputs: list[Any]) -> None:
        """Raise CheckFailed when the output on this case can't be scored or scores too low."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score, problem = self.score_output(case, got)
        except Exception as exception:
            raise CheckFailed(f"On {case.description}: your result could not be used "
                              f"({short_error(exception, 200)}).") from None
        if problem:
            raise CheckFailed(f"On {case.description}: {problem}")
        if not score >= self.minimum_score:
            evidence = gather_evidence(self.low_score_evidence, case, got)
            raise CheckFailed(low_score_message(f"On {case.description}: {self.metric_name} is {score:.3f}, below the "
                                                f"required {self.minimum_score:.2f}.", evidence, self.low_score_advice))
        self._scores.append(float(score))

    def _success_message(self) -> str:
        """The scores reached."""
        reached = ", ".join(f"{score:.3f}" for score in self._scores)
        return f"{self.metric_name} {reached} (at least {self.minimum_score:.2f} needed)."


@dataclasses.dataclass
class ChoiceExercise(Exercise):
    """Questions answered by picking one of a few choices: one string, or a dict giving a choice per question.

    `answers` maps each question key to its right choice (the key "" for a single question). `explanations`
    says why a wrong choice is wrong, by "key:choice" or by choice alone.
    """

    answers: dict[str, str] = dataclasses.field(default_factory=dict)
    choices: tuple[str, ...] = ()
    explanations: dict[str, str] = dataclasses.field(default_factory=dict)

    kind = "value"

    def judge(self, collected: dict[str, Any]) -> str:
        """Compare each chosen answer with the right one, explaining every wrong choice."""
        given = self._given_answers(collect.decode_value(collected["value"]))
        choices = [option.lower() for option in self.choices]
        wrong = []
        for key, right in self.answers.items():
            choice = given[key]
            label = f"{key}: " if key else ""
            if choice not in choices:
                raise CheckFailed(f"{label}{choice!r} is not one of the choices: "
                                  f"{', '.join(repr(option) for option in self.choices)}.")
            if choice != right.lower():
                explanations = {name.lower(): text for name, text in self.explanations.items()}
                why = explanations.get(f"{key.lower()}:{choice}") or explanations.get(choice, "")
                wrong.append(f"{label}not {choice!r}. {why}".strip())
        if wrong:
            raise CheckFailed("\n".join(wrong))
        return "Right." if list(self.answers) == [""] else f"All {len(self.answers)} answers are right."

    def _given_answers(self, answer: Any) -> dict[str, str]:
        """The answer as {question key: normalised choice}; CheckFailed when it has the wrong form."""
        if list(self.answers) == [""]:
            answer = {"": answer}
        elif not isinstance(answer, dict):
            example = ", ".join(f"{key!r}: ..." for key in self.answers)
            raise CheckFailed(f"Answer with a dict that gives one choice per question, like {{{example}}}; "
                              f"got {diagnostics.article(collect.type_name(answer))}.")
        missing = [key for key in self.answers if key not in answer]
        if missing:
            raise CheckFailed(f"No answer for {', '.join(map(repr, missing))}: give one choice for each.")
        given = {}
        for key in self.answers:
            if not isinstance(answer[key], str):
                label = f"{key}: " if key else ""
                raise CheckFailed(f"{label}answer with one of the choices as a string "
                                  f"({', '.join(repr(option) for option in self.choices)}).")
            given[key] = answer[key].strip().lower()
        return given


@dataclasses.dataclass
class ConfiguredObjectExercise(Exercise):
    """A configured object (e.g. a Keras callback): its class is checked, then its attributes are judged.

    Only the class (name, module, qualified name) and the named attributes travel. The class must be Keras' own
    `expected_class` (its module is `keras` or under it): a class of the student's own with the same name fails, and
    so does a subclass of the Keras class, whose code could behave differently from the attributes judged.
    `judge_attributes(attributes)` returns '' or the problem, and may rebuild the object from them and try it out.
    """

    expected_type: str = ""
    expected_class: str = ""  # the public name of the Keras class, e.g. "keras.callbacks.EarlyStopping", for messages
    attributes: tuple[str, ...] = ()
    judge_attributes: Callable = None
    time_limit_seconds: float = 30.0

    kind = "object"

    def collection_request(self) -> dict[str, Any]:
        """The attributes to read from the answer."""
        request = super().collection_request()
        request["attributes"] = list(self.attributes)
        return request

    def judge(self, collected: dict[str, Any]) -> str:
        """Check the class, then the attributes."""
        answer, record = collected["answer"], collected["object"]
        if answer.get("is_none"):
            raise CheckFailed(f"Your answer is None, but this exercise expects {diagnostics.article(self.expected_type)} object.")
        if record["type"] != self.expected_type:
            raise CheckFailed(f"Expected {diagnostics.article(self.expected_type)} object, "
                              f"but got {diagnostics.article(record['type'])}.")
        problem = self._class_problem(record)
        if problem:
            raise CheckFailed(problem)
        if record["missing"]:
            raise CheckFailed(f"Your {self.expected_type} has no {', '.join(record['missing'])}.")
        attributes = {name: collect.decode_value(value) for name, value in record["attributes"].items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem = self.judge_attributes(attributes)
        if problem:
            raise CheckFailed(problem)
        return f"Your {self.expected_type} is configured right."

    def _class_problem(self, record: dict[str, Any]) -> str:
        """'' when the object's class is Keras' own class of the expected name, else what it is instead."""
        module, qualified_name = str(record.get("module", "")), str(record.get("qualname", self.expected_type))
        keras_class = f"`{self.expected_class}`" if self.expected_class else f"Keras' {self.expected_type}"
        if not (module == "keras" or module.startswith("keras.")) or record.get("importable") is False:
            return (f"Your {self.expected_type} is a class of your own (defined in `{module or '?'}`), not {keras_class}. "
                    f"Create the object from {keras_class} itself (not a class of your own or a subclass).")
        if qualified_name != self.expected_type:
            return f"Your object is Keras' `{module}.{qualified_name}`, not {keras_class}."
        return ""


CUSTOM_CODE_MESSAGE = ("Your model uses custom Python code ({detail}), which the grader can't load safely. "
                       "Build it from Keras' built-in layers and activations (no Lambda layers or custom classes).")
MAX_MODEL_PARAMETERS = 20_000_000  # far above every course model (the largest, gan_generator.keras, has 146,305)
MAX_MODEL_WEIGHT_BYTES = 100 * 2**20  # the same cap in bytes, for weights wider than float32
MODEL_SIZE_MESSAGE = ("Your model declares {parameters:,} parameters ({megabytes:.1f} MB), more than the grader's cap of "
                      "{cap:,} parameters ({cap_megabytes:.0f} MB){needed}.")
BROKEN_CONFIG_MESSAGE = ("The saved model's architecture (its config.json) could not be read ({detail}). "
                         "Save the model with `model.save(...)` from Keras' built-in layers, without editing the file.")
MODEL_LOAD_MESSAGE = ("Your saved model could not be loaded ({detail}). "
                      "Save the model with `model.save(...)` from Keras' built-in layers, without editing the file.")


class BrokenModelConfig(Exception):
    """A model file's architecture can't be read or rebuilt; the message says why."""


def load_model_safely(encoded: str, expected_parameters: int | None = None, parameter_budget: int | None = None) -> Any:
    """A Keras model from base64 `.keras` bytes, loaded with safe_mode=True after its declared size is checked.

    StudentCodeError if it needs custom code, declares more than the cap, or has an unreadable architecture;
    `expected_parameters`, when given, is named in the size message.
    """
    import keras

    with tempfile.TemporaryDirectory(prefix="dlcourse-judge-") as folder:
        path = os.path.join(folder, "answer.keras")
        with open(path, "wb") as stream:
            stream.write(base64.b64decode(encoded, validate=True))
        try:
            config = read_model_config(path)
        except BrokenModelConfig as problem:
            raise StudentCodeError(BROKEN_CONFIG_MESSAGE.format(detail=str(problem))) from None
        detail = custom_code_in_config(config)
        if detail:
            raise StudentCodeError(CUSTOM_CODE_MESSAGE.format(detail=detail))
        check_declared_model_size(config, expected_parameters, parameter_budget)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exception:
            raise StudentCodeError(MODEL_LOAD_MESSAGE.format(
                detail=collect.trim_error_text(type(exception).__name__, collect.text_of(exception)))) from None


def check_declared_model_size(config: dict[str, Any], expected_parameters: int | None = None,
                              parameter_budget: int | None = None) -> tuple[int, int]:
    """A model config's declared (parameters, bytes); StudentCodeError when it is over the cap or can't be rebuilt."""
    try:
        parameters, size_bytes = declared_model_size(config)
    except BrokenModelConfig as problem:
        raise StudentCodeError(BROKEN_CONFIG_MESSAGE.format(detail=str(problem))) from None
    if parameters > MAX_MODEL_PARAMETERS or size_bytes > MAX_MODEL_WEIGHT_BYTES:
        needed = (f"; the task's budget is {parameter_budget:,} parameters" if parameter_budget else
                  f"; the exercise's model needs about {expected_parameters:,}. Build the architecture the exercise "
                  "asks for" if expected_parameters else "")
        raise StudentCodeError(MODEL_SIZE_MESSAGE.format(
            parameters=parameters, megabytes=size_bytes / 2**20, cap=MAX_MODEL_PARAMETERS,
            cap_megabytes=MAX_MODEL_WEIGHT_BYTES / 2**20, needed=needed))
    return parameters, size_bytes


def read_model_config(path: str) -> dict[str, Any]:
    """The architecture in a `.keras` file's config.json (without its compile config); BrokenModelConfig if unreadable."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise BrokenModelConfig(f"{type(error).__name__}: {diagnostics.short_text(error, 120)}") from None
    if not isinstance(config, dict):
        raise BrokenModelConfig(f"it holds {diagnostics.article(type(config).__name__)}, not a model's config")
    return {key: value for key, value in config.items() if key != "compile_config"}


def declared_model_size(config: dict[str, Any]) -> tuple[int, int]:
    """The (parameters, bytes) a model config declares, found without allocating its weights.

    The model is rebuilt inside a Keras StatelessScope that never initialises variables: each weight then has
    its shape and dtype but no value. The deferred variables are dropped afterwards, so that no later scope
    initialises them. BrokenModelConfig when Keras can't rebuild the config.
    """
    import keras
    from keras.src.backend.common import global_state
    from keras.src.backend.common.stateless_scope import StatelessScope

    deferred = global_state.get_global_attribute("uninitialized_variables")
    deferred = None if deferred is None else list(deferred)  # a copy: the scope appends to the list it finds
    try:
        with warnings.catch_warnings(), StatelessScope(initialize_variables=False):
            warnings.simplefilter("ignore")
            model = keras.saving.deserialize_keras_object(config, safe_mode=True)
            weights = list(getattr(model, "weights", None) or [])
        parameters = sum(_element_count(weight.shape) for weight in weights)
        size_bytes = sum(_element_count(weight.shape) * _item_bytes(weight.dtype) for weight in weights)
    except Exception as error:
        raise BrokenModelConfig(f"{type(error).__name__}: {diagnostics.short_text(error, 160)}") from None
    finally:
        global_state.set_global_attribute("uninitialized_variables", deferred)
    return parameters, size_bytes


def _element_count(shape: Any) -> int:
    """The number of elements of a weight's shape (every dimension is known once a layer is built)."""
    count = 1
    for dimension in shape:
        count *= int(dimension)
    return count


def _item_bytes(dtype: Any) -> int:
    """Bytes per element of a weight's dtype (4 where NumPy doesn't know the name, e.g. bfloat16 counts 4)."""
    import numpy

    try:
        return numpy.dtype(str(dtype)).itemsize
    except TypeError:
        return 4


def custom_code_in_model_file(path: str) -> str:
    """'' when a `.keras` file's architecture uses only Keras' own classes, else what it uses instead."""
    try:
        return custom_code_in_config(read_model_config(path))
    except BrokenModelConfig as problem:
        return f"the saved model is not a readable .keras file ({problem})"


def custom_code_in_config(architecture: Any) -> str:
    """'' when a model's architecture (its config, without the compile config) uses only Keras' own classes, else
    what it uses instead."""
    for node in _json_nodes(architecture):
        module = node.get("module")
        if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
            return f"{module}.{node.get('class_name', '?')}"
        if module is None and node.get("registered_name") and "class_name" in node:
            return f"a custom class, `{node['class_name']}`"
        if node.get("class_name") in ("Lambda", "__lambda__") and module is not None:
            layer_config = node.get("config") if isinstance(node.get("config"), dict) else {}
            return f"a Lambda layer, `{layer_config.get('name', '?')}`"
    return ""


def _json_nodes(value: Any):
    """Every dict inside a JSON value."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _json_nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_nodes(item)


@dataclasses.dataclass
class ModelExercise(Exercise):
    """An exercise whose answer is a trained Keras model: its architecture is diffed, then it is scored."""

    build_reference: Callable = None
    score_model: Callable = None
    metric_name: str = "accuracy"
    minimum_score: float = 0.0
    low_score_advice: str = ""
    low_score_evidence: tuple = ()  # functions (model) -> advice, or '' when they find no evidence for it
    time_limit_seconds: float = 60.0
    cell_time_limit_seconds: float = 300.0  # the exercise cell trains the model

    kind = "model"

    def judge(self, collected: dict[str, Any]) -> str:
        """Load the saved model safely, check its structure (vetted_model), then score it on held-out data."""
        answer, record = collected["answer"], collected.get("model") or {}
        if not record.get("is_model"):
            raise CheckFailed(diagnostics.describe_not_model_record(answer))
        if not record.get("built"):
            raise CheckFailed("Your model is not built yet: start it with `keras.Input(shape=...)` and train it with `fit`.")
        if record.get("save_error"):
            raise CheckFailed(f"Your model could not be saved for checking ({record['save_error']}). "
                              "Build it from Keras' built-in layers.")
        model, problem = self.vetted_model(record["keras_file"])
        if problem:
            raise CheckFailed(problem)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score, problem = self.score_model(model)
        except Exception as exception:
            raise StudentCodeError("Evaluating your model raised an error.\n" + diagnostics.explain_exception(exception)) from None
        if problem:
            raise CheckFailed(problem)
        if not score >= self.minimum_score:
            evidence = gather_evidence(self.low_score_evidence, model)
            raise CheckFailed(low_score_message(f"{self.structure_verdict(model, passed=False)}, but {self.metric_name} "
                                                f"on held-out data is {score:.3f}, below the required "
                                                f"{self.minimum_score:.2f}.", evidence, self.low_score_advice))
        return (f"{self.structure_verdict(model, passed=True)}, and {self.metric_name} on held-out data is {score:.3f} "
                f"(at least {self.minimum_score:.2f} needed).")

    def vetted_model(self, keras_file: str) -> tuple[Any, str]:
        """The loaded model and what differs from the reference architecture layer by layer ('' if nothing)."""
        reference = self.build_reference()
        model = load_model_safely(keras_file, expected_parameters=_parameter_count(reference))
        return model, diagnostics.diff_models(diagnostics.summarise_model(reference), diagnostics.summarise_model(model))

    def structure_verdict(self, model: Any, passed: bool) -> str:
        """How a score's message opens once the structure is right."""
        return "Architecture matches" if passed else "The architecture is right"


@dataclasses.dataclass
class DesignExercise(ModelExercise):
    """A design task: the student's own trained model, judged by stated constraints (input and output shape, a
    parameter budget, the kind of layer asked for), then scored on held-out data. No architecture is imposed:
    `build_reference` is one example design within the constraints (the solution's), used only for tests."""

    max_parameters: int = 0
    input_shape: tuple = ()            # per example, e.g. (28, 28, 1)
    input_shapes: tuple = ()           # several inputs, in order, e.g. ((1,), (1,)); overrides input_shape
    output_shape: tuple = ()           # per example, e.g. (10,)
    required_layers: tuple = ()        # Keras layer class names; at least one must appear, e.g. ("Conv2D",)
    required_layers_description: str = ""  # how the task names them, e.g. "a convolutional layer"

    def vetted_model(self, keras_file: str) -> tuple[Any, str]:
        """The loaded model (refused beyond the budget by its declared size) and what breaks the task's constraints."""
        model = load_model_safely(keras_file, parameter_budget=self.max_parameters)
        return model, self.constraint_problem(model)

    def structure_verdict(self, model: Any, passed: bool) -> str:
        """How a score's message opens once the constraints are met: the design's size against the budget."""
        return (f"Your design meets the constraints ({_parameter_count(model):,} parameters, within the budget of "
                f"{self.max_parameters:,})")

    def constraint_problem(self, model: Any) -> str:
        """What breaks the task's constraints ('' if nothing): input or output shape, parameter budget, layer kind."""
        inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
        expected_inputs = [tuple(shape) for shape in self.input_shapes] or [tuple(self.input_shape)]
        if len(inputs) != len(expected_inputs) or len(outputs) != 1:
            wanted = "one input" if len(expected_inputs) == 1 else f"{len(expected_inputs)} inputs"
            return (f"The task asks for a model with {wanted} and one output; yours has {len(inputs)} and "
                    f"{len(outputs)}.")
        for position, (model_input, expected) in enumerate(zip(inputs, expected_inputs)):
            input_shape = tuple(model_input.shape[1:])
            if input_shape != expected:
                which = "input" if len(expected_inputs) == 1 else f"input {position + 1}"
                return (f"Your model's {which} shape (per example) is {input_shape}; the task's data has shape "
                        f"{expected}: start with `keras.Input(shape={expected})`.")
        output_shape = tuple(outputs[0].shape[1:])
        if output_shape != tuple(self.output_shape):
            return (f"Your model's output shape (per example) is {output_shape}; the task needs "
                    f"{tuple(self.output_shape)}.")
        count = _parameter_count(model)
        if count is None or count > self.max_parameters:
            largest = max(model.layers, key=lambda layer: layer.count_params(), default=None)
            where = (f" Its largest layer is `{largest.name}` ({type(largest).__name__}, "
                     f"{largest.count_params():,} parameters).") if largest is not None else ""
            return f"Your model has {count:,} parameters, over the task's budget of {self.max_parameters:,}.{where}"
        if self.required_layers:
            names = {type(layer).__name__ for layer in _all_layers(model)}
            if not names & set(self.required_layers):
                wanted = self.required_layers_description or " or ".join(self.required_layers)
                return (f"The task asks for {wanted} ({', '.join(self.required_layers)}); your model has none "
                        f"(its layers: {', '.join(sorted(names))}).")
        return ""


def _all_layers(model: Any) -> list[Any]:
    """Every layer of a model, nested models' layers included."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found


def _parameter_count(model: Any) -> int | None:
    """A built model's parameter count, or None when it can't be counted."""
    try:
        return int(model.count_params())
    except Exception:
        return None


def evaluate_answer(exercise: Exercise, answer: Any) -> CheckResult:
    """Collect what the answer does and judge it; never raises (except KeyboardInterrupt)."""
    try:
        collected = collect.collect(exercise.collection_request(), answer)
    except KeyboardInterrupt:
        raise
    except BaseException as exception:  # an internal problem must still not surface as a traceback
        return _internal_problem(exercise.exercise_id, exception)
    return judge_collected(exercise, collected)


def judge_collected(exercise: Exercise, collected: dict[str, Any]) -> CheckResult:
    """Judge what `collect.collect` gathered (here or in a grading kernel); never raises (except KeyboardInterrupt)."""
    exercise_id = exercise.exercise_id
    try:
        if "undefined" in collected:
            return CheckResult(exercise_id, "not_attempted",
                               f"Not attempted: {collected['undefined']} (the exercise cell did not define it).")
        if "fetch_error" in collected:
            return CheckResult(exercise_id, "error", "Reading your answer raised an error.\n"
                               + diagnostics.explain_exception_record(collected["fetch_error"]))
        if collected["answer"].get("is_ellipsis"):
            return CheckResult(exercise_id, "not_attempted",
                               "Not attempted yet: replace the `...` placeholder with your answer.")
        if "timeout" in collected:
            return CheckResult(exercise_id, "error",
                               f"Timed out: your code did not finish within {float(collected['timeout']):g} seconds. "
                               "Look for an infinite loop (a `while` whose condition never becomes false) "
                               "or for far more work than the task needs.")
        message = exercise.judge(collected)
        return CheckResult(exercise_id, "passed", message or "Correct.")
    except NotAttempted:
        return CheckResult(exercise_id, "not_attempted",
                           "Not attempted yet: write your code where it says `# YOUR CODE HERE`.")
    except CheckFailed as failure:
        return CheckResult(exercise_id, "failed", str(failure))
    except StudentCodeError as failure:
        return CheckResult(exercise_id, "error", str(failure))
    except KeyboardInterrupt:
        raise
    except BaseException as exception:  # an internal problem must still not surface as a traceback
        return _internal_problem(exercise_id, exception)


def _internal_problem(exercise_id: str, exception: BaseException) -> CheckResult:
    """The result when the check itself could not evaluate the answer."""
    return CheckResult(exercise_id, "error",
                       "The check could not evaluate this answer "
                       f"({short_error(exception)}).\n"
                       "Make sure the answer has the type the exercise asks for.")
