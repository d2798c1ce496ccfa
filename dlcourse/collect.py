"""Run an answer on an exercise's case inputs and turn what it did into plain data.

This is the half of a check that touches student code. It knows the case inputs and nothing else:
no references, no expected values, no mistakes. The other half, the judgement, lives in
`dlcourse.checks` and only ever sees the plain data made here (JSON-ready dicts, arrays as `.npy`
bytes without pickle, Keras models as `.keras` bytes). A student's `checks.check` runs both halves
in one process; the instructor grader runs this half in the student's kernel and judges in its own.
This module must never import `dlcourse.checks`.
"""

from __future__ import annotations

import ast
import base64
import copy
import inspect
import io
import linecache
import os
import signal
import tempfile
import textwrap
import threading
import time
import traceback
import warnings
from typing import Any, Callable

import numpy as np

_PACKAGE_DIRECTORY = os.path.dirname(os.path.abspath(__file__))
MAX_ARRAY_ELEMENTS = 5_000_000
MAX_MODEL_BYTES = 50 * 2**20
MAX_NESTING = 8
MAX_CONTAINER_ITEMS = 1000


class CheckTimeout(BaseException):
    """The student's code ran past the time limit (a BaseException, so `except Exception` can't swallow it)."""


class SourceFunction:
    """A function given as a case input, written as source so that it can travel to a grading kernel."""

    def __init__(self, source: str) -> None:
        """Compile `source`, an expression such as `np.tanh` or `lambda x: np.maximum(x, 0)`."""
        self.source = source
        self._function = eval(compile(source, "<case input>", "eval"), {"np": np})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function."""
        return self._function(*args, **kwargs)

    def __repr__(self) -> str:
        """The source, for messages."""
        return self.source

    def __deepcopy__(self, memo: dict) -> "SourceFunction":
        """Functions are immutable: a copy is the same object."""
        return self


class ForeignObject:
    """Stands for a returned value that is not numeric data: only its type name and repr travel."""

    def __init__(self, type_name: str, text: str) -> None:
        """Remember the type name and the repr."""
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        """The repr made where the value lived."""
        return self.text


def type_name(value: Any) -> str:
    """The type name of a value, or of the value a ForeignObject stands for."""
    return value.type_name if isinstance(value, ForeignObject) else type(value).__name__


# ---------------------------------------------------------------- text helpers


def short_text(value: Any, limit: int = 300) -> str:
    """str(value), never raising and cut to `limit` characters."""
    try:
        text = str(value)
    except Exception:  # a student's object whose __str__ raises
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def safe_repr(value: Any, limit: int = 200) -> str:
    """A short, never-raising repr; arrays are printed compactly with their shape, scalars as numbers."""
    try:
        if isinstance(value, np.ndarray) and value.ndim == 0:
            text = repr(value.item())
        elif isinstance(value, np.ndarray):
            with np.printoptions(precision=4, suppress=True, threshold=12, edgeitems=2, linewidth=100):
                body = np.array2string(value, separator=", ")
            text = f"array({body})" if value.ndim <= 1 else f"array of shape {value.shape}: {body}"
        elif isinstance(value, np.generic):
            text = repr(value.item())
        else:
            text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def student_line_of(exception: BaseException) -> str:
    """The last line of the traceback that is in the student's code (not in NumPy or dlcourse), if any."""
    frames = traceback.extract_tb(exception.__traceback__)
    for frame in reversed(frames):
        file_name = os.path.abspath(frame.filename) if frame.filename else ""
        if file_name.startswith(_PACKAGE_DIRECTORY) or "site-packages" in file_name or "/lib/python" in file_name:
            continue
        line = (frame.line or linecache.getline(frame.filename, frame.lineno) or "").strip()
        if line:
            return f"The error happened in your line: `{line}`"
    return ""


def exception_record(exception: BaseException) -> dict[str, Any]:
    """An exception from student code as plain data: type, message, the student's line."""
    return {"type": type(exception).__name__, "message": short_text(exception),
            "system_exit": isinstance(exception, SystemExit),
            "not_implemented": isinstance(exception, NotImplementedError),
            "line": student_line_of(exception)}


# ---------------------------------------------------------------- placeholders


def is_placeholder_function(function: Callable) -> bool:
    """True when the function body is only a docstring and `...`, `pass`, `return ...` or `raise NotImplementedError`."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return False
    definitions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(definitions) != 1:
        return False
    return all(_is_placeholder_statement(statement) for statement in definitions[0].body)


def _is_placeholder_statement(statement: ast.stmt) -> bool:
    """Whether one statement is a docstring, `...`, `pass`, `return ...` or `raise NotImplementedError`."""
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return statement.value.value is Ellipsis or isinstance(statement.value.value, str)
    if isinstance(statement, ast.Return):
        return isinstance(statement.value, ast.Constant) and statement.value.value is Ellipsis
    if isinstance(statement, ast.Raise) and statement.exc is not None:
        raised = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
    return False


# ---------------------------------------------------------------- encoding plain data


def array_to_text(array: np.ndarray) -> str:
    """An array as base64 `.npy` bytes (never pickled)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def array_from_text(text: str) -> np.ndarray:
    """The array saved by array_to_text; refuses pickled (object) arrays."""
    return np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)


def encode_value(value: Any, depth: int = 0) -> Any:
    """A case input or an output as JSON-ready data; anything that is not plain data keeps only its type and repr."""
    if value is None or isinstance(value, (bool, str)):
        return {"plain": value}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, SourceFunction):
        return {"function": value.source}
    if isinstance(value, (int, float)) and type(value) in (int, float):
        return {"number": array_to_text(np.asarray(value)), "python_type": type(value).__name__}
    container = _encode_container(value, depth)
    if container is not None:
        return container
    array = _numeric_array(value)
    if array is not None:
        return {"array": array_to_text(array), "python_type": type(value).__name__}
    return {"object": type(value).__name__, "repr": safe_repr(value, 100)}


def _encode_container(value: Any, depth: int) -> dict[str, Any] | None:
    """A dict with string keys, a tuple, or a list that is not plain numeric data, encoded item by item; else None."""
    if depth >= MAX_NESTING or type(value) not in (dict, list, tuple) or len(value) > MAX_CONTAINER_ITEMS:
        return None
    if type(value) is dict:
        if not all(isinstance(key, str) for key in value):
            return None
        return {"dict": [[key, encode_value(item, depth + 1)] for key, item in value.items()]}
    if type(value) is list and not _holds_plain_numbers(value) and _numeric_array(value) is not None:
        return None  # nested lists of numbers travel as one array
    return {"list" if type(value) is list else "tuple": [encode_value(item, depth + 1) for item in value]}


def _holds_plain_numbers(items: list | tuple) -> bool:
    """Whether a list or tuple holds only Python numbers (so that it keeps its Python type when it travels)."""
    return all(type(item) in (int, float, bool) for item in items)


def _numeric_array(value: Any) -> np.ndarray | None:
    """A NumPy copy of numeric data (numbers, arrays, tensors, nested lists); None for anything else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.array(value, copy=True)
    except BaseException:  # a student's object whose __array__ raises
        return None
    if array.dtype.kind not in "biufc" or array.size > MAX_ARRAY_ELEMENTS:
        return None
    return array


def decode_value(data: Any) -> Any:
    """The value encode_value described: numbers and arrays as NumPy, other objects as a ForeignObject."""
    if not isinstance(data, dict):
        raise ValueError(f"not an encoded value: {safe_repr(data, 80)}")
    if "plain" in data:
        value = data["plain"]
        if value is not None and not isinstance(value, (bool, str)):
            raise ValueError("a plain value must be None, a bool or a string")
        return value
    if "ellipsis" in data:
        return Ellipsis
    if "function" in data:
        return SourceFunction(str(data["function"]))
    if "number" in data:
        number = array_from_text(data["number"])
        return number.item() if data.get("python_type") in ("int", "float") and number.ndim == 0 else number
    if "list" in data:
        return [decode_value(item) for item in data["list"]]
    if "tuple" in data:
        return tuple(decode_value(item) for item in data["tuple"])
    if "dict" in data:
        return {str(key): decode_value(item) for key, item in data["dict"]}
    if "array" in data:
        return array_from_text(data["array"])
    if "object" in data:
        return ForeignObject(str(data["object"]), str(data.get("repr", "")))
    raise ValueError(f"unknown encoded value with keys {sorted(data)}")


def encode_case_inputs(cases: list[tuple[tuple, dict]]) -> list[dict[str, Any]]:
    """Each case's positional and keyword inputs as plain data."""
    return [{"args": [encode_value(argument) for argument in args],
             "kwargs": {name: encode_value(value) for name, value in kwargs.items()}} for args, kwargs in cases]


def decode_case_inputs(encoded: list[dict[str, Any]]) -> list[tuple[tuple, dict]]:
    """The (args, kwargs) of each case, from encode_case_inputs."""
    return [(tuple(decode_value(argument) for argument in case["args"]),
             {name: decode_value(value) for name, value in case.get("kwargs", {}).items()}) for case in encoded]


# ---------------------------------------------------------------- time limits


def run_with_time_limit(function: Callable[[], Any], seconds: float) -> Any:
    """Run function(), raising CheckTimeout once it has used `seconds` of its own thread's CPU time.

    The limit counts the CPU time of the thread that runs the answer, so a background thread left
    busy by earlier code can't use it up; a wall-clock backstop of four times the limit (plus 10 s)
    still stops code that sleeps or waits.
    """
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_kill"):
        return _run_with_watchdog(function, seconds)
    return _run_in_thread(function, seconds)


def _thread_cpu_seconds_reader(thread_id: int) -> Callable[[], float]:
    """A function returning the CPU seconds used so far by one thread (wall time where that can't be read)."""
    try:
        clock = time.pthread_getcpuclockid(thread_id)
        time.clock_gettime(clock)
        return lambda: time.clock_gettime(clock)
    except (AttributeError, OSError):
        return time.monotonic


def _run_with_watchdog(function: Callable[[], Any], seconds: float) -> Any:
    """Time limit in the main thread: a watchdog thread sends SIGALRM when the CPU or wall budget is spent."""
    main_id = threading.main_thread().ident
    cpu_seconds = _thread_cpu_seconds_reader(main_id)
    cpu_deadline = cpu_seconds() + seconds
    wall_deadline = time.monotonic() + 4 * seconds + 10
    finished = threading.Event()
    fired = threading.Event()

    def on_alarm(signal_number, frame):
        if fired.is_set() and not finished.is_set():
            raise CheckTimeout()

    def watch():
        while not finished.wait(0.02):
            if cpu_seconds() > cpu_deadline or time.monotonic() > wall_deadline:
                fired.set()
                while not finished.is_set():
                    signal.pthread_kill(main_id, signal.SIGALRM)
                    finished.wait(0.2)
                return

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    watchdog = threading.Thread(target=watch, name="dlcourse-check-watchdog", daemon=True)
    watchdog.start()
    try:
        return function()
    finally:
        finished.set()
        watchdog.join()
        signal.signal(signal.SIGALRM, previous_handler)


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


# ---------------------------------------------------------------- collecting what an answer does


def describe_answer(answer: Any) -> dict[str, Any]:
    """What kind of thing the answer is, as plain data (never runs the answer)."""
    description = {"type": type(answer).__name__, "repr": safe_repr(answer, 80), "is_none": answer is None,
                   "is_ellipsis": answer is Ellipsis, "callable": callable(answer),
                   "module": _text_attribute(answer, "__module__"), "name": _text_attribute(answer, "__qualname__")}
    if callable(answer):
        description["placeholder"] = is_placeholder_function(answer)
    return description


def _text_attribute(value: Any, name: str) -> str:
    """A string attribute such as __module__, or '' when it is missing or not a string."""
    try:
        attribute = getattr(value, name, "")
    except Exception:
        return ""
    return attribute if isinstance(attribute, str) else ""


def collect(request: dict[str, Any], answer: Any) -> dict[str, Any]:
    """Run the answer as the request says (`kind`: function or model) and return what it did as plain data."""
    started = time.monotonic()
    collected: dict[str, Any] = {"exercise": request.get("exercise", ""), "kind": request["kind"],
                                 "answer": describe_answer(answer)}
    limit = float(request.get("time_limit_seconds", 10.0))
    try:
        if request["kind"] == "function":
            collected["cases"] = []
            if callable(answer) and answer is not Ellipsis and not collected["answer"]["placeholder"]:
                run_with_time_limit(lambda: _call_on_cases(answer, request["cases"], collected["cases"]), limit)
        elif request["kind"] == "model":
            collected["model"] = run_with_time_limit(lambda: describe_model(answer), limit)
        elif request["kind"] == "value":
            collected["value"] = run_with_time_limit(lambda: encode_value(answer), limit)
        elif request["kind"] == "object":
            collected["object"] = run_with_time_limit(lambda: describe_object(answer, request["attributes"]), limit)
        else:
            raise ValueError(f"unknown exercise kind {request['kind']!r}")
    except CheckTimeout:
        collected["timeout"] = limit
    collected["seconds"] = round(time.monotonic() - started, 3)
    return collected


def _call_on_cases(answer: Callable, encoded_cases: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    """Call the answer on a fresh copy of every case's inputs, appending one plain-data record per case."""
    for originals, keyword_originals in decode_case_inputs(encoded_cases):
        args, kwargs = copy.deepcopy(originals), copy.deepcopy(keyword_originals)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                output = answer(*args, **kwargs)
        except CheckTimeout:
            raise
        except BaseException as exception:  # SystemExit and KeyboardInterrupt from student code included
            if isinstance(exception, KeyboardInterrupt):
                raise
            results.append({"exception": exception_record(exception)})
            continue
        record = {"output": encode_value(output)}
        changed = _mutated_argument(originals, args)
        if changed is not None:
            record["mutated_argument"] = changed
        results.append(record)


def _mutated_argument(originals: tuple, after_call: tuple) -> int | None:
    """The position of the first input (an array, or a container of arrays) the call changed in place, or None."""
    for position, (original, after) in enumerate(zip(originals, after_call)):
        if not _unchanged(original, after):
            return position
    return None


def _unchanged(original: Any, after: Any) -> bool:
    """Whether arrays, and arrays inside dicts, lists and tuples, still hold what they held before the call."""
    if isinstance(original, np.ndarray):
        return (isinstance(after, np.ndarray) and original.shape == after.shape
                and np.array_equal(original, after, equal_nan=True))
    if isinstance(original, dict):
        return (isinstance(after, dict) and original.keys() == after.keys()
                and all(_unchanged(original[key], after[key]) for key in original))
    if isinstance(original, (list, tuple)) and any(isinstance(item, (np.ndarray, dict, list, tuple)) for item in original):
        return (isinstance(after, (list, tuple)) and len(original) == len(after)
                and all(_unchanged(item, other) for item, other in zip(original, after)))
    return True


def describe_object(answer: Any, attributes: list[str]) -> dict[str, Any]:
    """A configured object as plain data: its class name and the values of the named attributes."""
    values, missing = {}, []
    for name in attributes:
        try:
            values[name] = encode_value(getattr(answer, name))
        except Exception:  # a missing attribute, or a property of the student's that raises
            missing.append(name)
    return {"type": type(answer).__name__, "module": type(answer).__module__ or "", "attributes": values,
            "missing": missing}


def is_keras_model(value: Any) -> bool:
    """Whether value is a Keras model, without importing Keras for values that obviously aren't."""
    module = type(value).__module__ or ""
    if not module.startswith(("keras", "tensorflow", "tf_keras")) and not hasattr(value, "layers"):
        return False
    import keras  # deferred: only models need Keras

    return isinstance(value, keras.Model)


def describe_model(answer: Any) -> dict[str, Any]:
    """A Keras model as `.keras` bytes (base64), or why it can't be sent."""
    if not is_keras_model(answer):
        return {"is_model": False}
    if not answer.built:
        return {"is_model": True, "built": False}
    with tempfile.TemporaryDirectory(prefix="dlcourse-model-") as folder:
        path = os.path.join(folder, "answer.keras")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                answer.save(path)
        except Exception as exception:
            return {"is_model": True, "built": True, "save_error": f"{type(exception).__name__}: {short_text(exception)}"}
        with open(path, "rb") as stream:
            data = stream.read(MAX_MODEL_BYTES + 1)
    if len(data) > MAX_MODEL_BYTES:
        return {"is_model": True, "built": True, "save_error": f"the saved model is larger than {MAX_MODEL_BYTES // 2**20} MB"}
    return {"is_model": True, "built": True, "keras_file": base64.b64encode(data).decode("ascii")}
