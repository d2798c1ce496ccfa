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
import re
import signal
import sys
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


def text_of(value: Any) -> str:
    """str(value), never raising (a student's object whose __str__ raises gives `<Type object>`)."""
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} object>"


# A traceback frame quoted inside a TensorFlow message: `  File "/tmp/ipykernel_1/2.py", line 3, in product  *`.
_QUOTED_FRAME = re.compile(r'^(?P<indent>\s*)File "(?P<file>[^"]*)", line (?P<number>\d+)(?:, in .*)?$')
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_WRAPPER_LINES = re.compile(r"(Graph execution error:|Detected at node .*|in user code:|"
                            r"Exception encountered when calling .*|\d+ root error\(s\) found\.|"
                            r"\d+ successful operations\.|\d+ derived errors ignored\.|"
                            r"Traceback \(most recent call last\):|[\^~]+)")
_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*")
_NODE_MARKER = re.compile(r"\s*\[\[\{\{node [^}]*\}\}\]\]")
_OP_MARKER = re.compile(r"\s*\[Op:[^\]]*\](?:\s*name:.*)?")
_NODE_DEFINITION = re.compile(r"'\{\{node ([^}]*)\}\} = [^']*'")
MAX_ERROR_MESSAGE = 300
MAX_STUDENT_LINE = 200


def is_library_file(file_name: str) -> bool:
    """Whether a frame's file belongs to Python, an installed package, dlcourse or TensorFlow's generated code."""
    path = os.path.abspath(file_name) if file_name else ""
    return (path.startswith(_PACKAGE_DIRECTORY) or "site-packages" in path or "dist-packages" in path
            or "/lib/python" in path or "__autograph_generated_file" in path)


def _quoted_frames(message: str) -> list[tuple[str, int, str]]:
    """The (file, line number, quoted source or '') of each traceback frame that a message quotes."""
    lines = message.splitlines()
    frames = []
    for index, line in enumerate(lines):
        found = _QUOTED_FRAME.match(line.rstrip(" *"))
        if not found:
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        following_indent = len(following) - len(following.lstrip())
        quoted = following.strip() if following.strip() and following_indent > len(found["indent"]) else ""
        frames.append((found["file"], int(found["number"]), quoted))
    return frames


def student_line_in_message(message: str, look_up_source: bool = False) -> str:
    """'The error happened in your line: `...`' for the last student frame a TensorFlow message quotes, else ''.

    Only source the message itself quotes is used, unless look_up_source (then linecache fills in the rest: in a
    notebook kernel it knows the cells).
    """
    for file_name, number, quoted in reversed(_quoted_frames(_ANSI_ESCAPE.sub("", message))):
        if is_library_file(file_name):
            continue
        line = quoted or (linecache.getline(file_name, number).strip() if look_up_source else "")
        if line:
            return f"The error happened in your line: `{short_text(line, MAX_STUDENT_LINE)}`"
    return ""


def _without_frames_and_wrappers(lines: list[str]) -> list[str]:
    """The lines of a message less quoted frames (and their source), wrapper headers and Keras' argument lists."""
    kept = []
    frame_indent = None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if frame_indent is not None and line.strip() and indent > frame_indent:
            frame_indent = None
            continue  # the source line quoted under a frame
        found = _QUOTED_FRAME.match(line.rstrip(" *"))
        frame_indent = len(found["indent"]) if found else None
        if found or _WRAPPER_LINES.fullmatch(line.strip()):
            continue
        if line.strip().startswith(("Arguments received by ", "Call arguments received by ")):
            break  # Keras lists the call's arguments last
        kept.append(line)
    return kept


def trim_error_message(message: str, type_name: str = "", limit: int = MAX_ERROR_MESSAGE) -> str:
    """The diagnosis in an error message, without TensorFlow's quoted frames and wrappers, cut to `limit` characters.

    Drops terminal colour codes, `File "...", line N` frames with their source, the headers of TensorFlow's graph
    errors ("Graph execution error:", "Detected at node ... defined at", "in user code:"), Keras' "Exception
    encountered when calling ..." and "Arguments received by ..." parts, `[[{{node ...}}]]` and `[Op:...]` markers,
    and a leading "`type_name`: " that repeats the exception's type. Plain messages only lose repeated spaces.
    """
    text = _ANSI_ESCAPE.sub("", message)
    kept = _without_frames_and_wrappers(text.splitlines())
    lines = [" ".join(_clean_tensorflow_markers(line).split()) for line in kept]
    lines = [line for line in lines if line]
    if not lines:  # nothing but frames and wrappers: keep the last line there is
        lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()][-1:]
    if type_name and lines and lines[0].startswith(f"{type_name}: "):
        lines[0] = lines[0][len(type_name) + 2:]
    return short_text("\n".join(lines), limit)


def _clean_tensorflow_markers(line: str) -> str:
    """One line less TensorFlow's node and op markers; a node definition `'{{node X}} = Op[...](...)'` becomes `'X'`."""
    line = _FUNCTION_NODE.sub("", line)
    line = _NODE_MARKER.sub("", line)
    line = _OP_MARKER.sub("", line)
    return _NODE_DEFINITION.sub(r"'\1'", line)


def trim_error_text(type_name: str, message: str) -> str:
    """`Type: diagnosis` for an error reported as text (a kernel's ename and evalue), plus the student's line if quoted.

    A pure function: it reads no files, so only a student line that the message itself quotes (TensorFlow's
    "in user code:" block) is added, on a line of its own.
    """
    diagnosis = trim_error_message(message, type_name)
    text = f"{type_name}: {diagnosis}" if diagnosis else type_name
    line = student_line_in_message(message)
    return f"{text}\n{line}" if line else text


def student_line_of(exception: BaseException) -> str:
    """The last line of student code (not Python's, a library's or dlcourse's) where the error happened, if any.

    TensorFlow quotes the frames where a graph operation was defined in its message; the last student frame there
    is nearer the mistake than the student's call in the traceback, so it comes first.
    """
    in_message = student_line_in_message(text_of(exception), look_up_source=True)
    if in_message:
        return in_message
    for frame in reversed(traceback.extract_tb(exception.__traceback__)):
        if is_library_file(frame.filename):
            continue
        line = (frame.line or linecache.getline(frame.filename, frame.lineno) or "").strip()
        if line:
            return f"The error happened in your line: `{short_text(line, MAX_STUDENT_LINE)}`"
    return ""


def exception_record(exception: BaseException) -> dict[str, Any]:
    """An exception from student code as plain data: type, trimmed message (trim_error_message), the student's line."""
    type_name = type(exception).__name__
    return {"type": type_name, "message": trim_error_message(text_of(exception), type_name),
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
    if type(value) is list and _is_nested_number_list(value) and _numeric_array(value) is not None:
        return None  # nested lists of numbers travel as one array (a list of arrays stays a list)
    return {"list" if type(value) is list else "tuple": [encode_value(item, depth + 1) for item in value]}


def _is_nested_number_list(items: Any, depth: int = 0) -> bool:
    """Whether a list holds only numbers or lists of numbers (at any depth), not arrays or other objects; a flat list
    of Python numbers is not one (it travels item by item, keeping each number's type)."""
    if type(items) is not list or depth >= MAX_NESTING or (depth == 0 and _holds_plain_numbers(items)):
        return False
    if items and all(type(item) is list for item in items):
        return all(_is_nested_number_list(item, depth + 1) for item in items)
    return all(isinstance(item, (int, float, bool, np.number, np.bool_)) for item in items)


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
        array = array_from_text(data["array"])
        return array.tolist() if data.get("python_type") == "list" else array  # nested lists of numbers stay lists
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


def wall_clock_backstop_seconds(seconds: float) -> float:
    """The wall-clock time after which an answer with a CPU-time limit of `seconds` is stopped anyway (it may wait,
    sleep, or work in other threads); the grader allows exactly this too, so both stop an answer at the same point."""
    return 4 * seconds + 10


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
    wall_deadline = time.monotonic() + wall_clock_backstop_seconds(seconds)
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
    watch = FrameworkCallWatch(enabled=bool(request.get("numpy_only")))
    try:
        if request["kind"] == "function":
            collected["cases"] = []
            if callable(answer) and answer is not Ellipsis and not collected["answer"]["placeholder"]:
                run_with_time_limit(lambda: _call_on_cases(answer, request["cases"], collected["cases"], watch), limit)
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
    if watch.calls:
        collected["framework_calls"] = watch.calls
    collected["seconds"] = round(time.monotonic() - started, 3)
    return collected


def _call_on_cases(answer: Callable, encoded_cases: list[dict[str, Any]], results: list[dict[str, Any]],
                   watch: "FrameworkCallWatch | None" = None) -> None:
    """Call the answer on a fresh copy of every case's inputs, appending one plain-data record per case.

    `watch`, when enabled, records the answer's calls into Keras or TensorFlow (only during the calls themselves).
    """
    watch = watch or FrameworkCallWatch(enabled=False)
    for originals, keyword_originals in decode_case_inputs(encoded_cases):
        args, kwargs = copy.deepcopy(originals), copy.deepcopy(keyword_originals)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"), watch:
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


FRAMEWORK_FOLDERS = ("/keras/", "/tensorflow/", "/tf_keras/")  # a call into a file under one of these is a framework call
MAX_FRAMEWORK_CALLS = 5


def is_framework_file(file_name: str) -> bool:
    """Whether a code object's file belongs to Keras or TensorFlow."""
    return any(folder in file_name for folder in FRAMEWORK_FOLDERS)


class FrameworkCallWatch:
    """While its `with` block runs, records the calls that other code makes into Keras or TensorFlow, on this thread.

    A profile function (`sys.setprofile`) sees every Python call; it records a call whose code lies in Keras or
    TensorFlow and whose caller does not (the answer's entry points into the framework, not their inner calls),
    as plain data: {"module": ..., "function": ..., "line": the calling line of code}, at most MAX_FRAMEWORK_CALLS
    distinct ones, in order. A finaliser (`__del__`) that the garbage collector happens to run meanwhile is not the
    answer's call. Threads the answer starts are not watched. Disabled, it does nothing.
    """

    def __init__(self, enabled: bool = True) -> None:
        """Start with no calls recorded."""
        self.enabled = enabled
        self.calls: list[dict[str, str]] = []
        self._framework_code: dict[Any, bool] = {}  # code object -> whether it is the framework's (a cache)
        self._previous: Any = None

    def __enter__(self) -> "FrameworkCallWatch":
        """Install the profile function (keeping any that was there, to restore it)."""
        if self.enabled:
            self._previous = sys.getprofile()
            sys.setprofile(self._on_event)
        return self

    def __exit__(self, *exception: Any) -> None:
        """Put back the profile function that was there before."""
        if self.enabled:
            sys.setprofile(self._previous)

    def _is_framework_code(self, code: Any) -> bool:
        """Whether a code object is Keras' or TensorFlow's (cached per code object)."""
        known = self._framework_code.get(code)
        if known is None:
            known = self._framework_code[code] = is_framework_file(code.co_filename)
        return known

    def _on_event(self, frame: Any, event: str, argument: Any) -> None:
        """The profile function: record a Python call from outside the framework into it."""
        if event != "call" or len(self.calls) >= MAX_FRAMEWORK_CALLS or not self._is_framework_code(frame.f_code):
            return
        caller = frame.f_back
        if (caller is not None and self._is_framework_code(caller.f_code)) or frame.f_code.co_name == "__del__":
            return
        line = linecache.getline(caller.f_code.co_filename, caller.f_lineno).strip() if caller is not None else ""
        call = {"module": str(frame.f_globals.get("__name__", "")),
                "function": str(getattr(frame.f_code, "co_qualname", frame.f_code.co_name)),
                "line": short_text(line, 120)}
        if call not in self.calls:
            self.calls.append(call)


def describe_object(answer: Any, attributes: list[str]) -> dict[str, Any]:
    """A configured object as plain data: its class (name, module, qualified name) and the named attributes."""
    values, missing = {}, []
    for name in attributes:
        try:
            values[name] = encode_value(getattr(answer, name))
        except Exception:  # a missing attribute, or a property of the student's that raises
            missing.append(name)
    return {"type": type(answer).__name__, "module": _text_attribute(type(answer), "__module__"),
            "qualname": _text_attribute(type(answer), "__qualname__"), "importable": _class_is_importable(type(answer)),
            "attributes": values, "missing": missing}


def _class_is_importable(cls: type) -> bool:
    """Whether a class is the very object its module and qualified name lead to (a class that claims another
    module, or one defined inside a function, is not)."""
    target: Any = sys.modules.get(_text_attribute(cls, "__module__"))
    for part in _text_attribute(cls, "__qualname__").split("."):
        try:
            target = getattr(target, part)
        except Exception:  # a missing module or attribute, or a student's __getattr__ that raises
            return False
    return target is cls


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
