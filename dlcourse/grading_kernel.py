"""The grader's helper inside a grading kernel: no answers, only a stand-in for checks and the collector.

The grader imports this module in every grading kernel before any student code runs, and calls it
again before each exercise, so a kernel that was restarted gets it back. It must never import
`dlcourse.checks` (references, mistakes, hints) or anything that does: `install()` replaces that
package by a stand-in that holds no answers, and blocks its submodules. The grader compares the
outputs collected here with the expected ones in its own process.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import json
import os
import re
import sys
import threading
import types
from typing import Any, Callable

import dlcourse
from dlcourse import collect

BLOCKED_PACKAGE = "dlcourse.checks"
ALLOWED_PUBLIC_NAMES = ("check", "hint", "exercises")
# The attributes of the real dlcourse.checks that lead to the course's answers: the exercise declarations and the
# chapter modules. Probing for anything else (IPython's `_repr_html_`, a stack reader's guesses) only finds nothing.
ANSWER_ATTRIBUTES = re.compile(r"get_exercise|_load_registry|_registry|ch\d\d")
CHECKS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(dlcourse.__file__)), "checks")
# Audit events that name a file or a command: opening a file of the checks folder, or a command that names it.
FILE_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "shutil.copyfile", "shutil.copytree"})
COMMAND_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"})
last_result = ""
blocked_imports: list[str] = []  # what student code reached of the course's answers since the last check, exactly
_audit_hook_installed = False
_threads_before_cell: set[int] = set()


class StandInResult:
    """What `checks.check` shows while grading: the grader checks the answer itself."""

    def __init__(self, exercise_id: str) -> None:
        """Remember the exercise id."""
        self.exercise_id = exercise_id

    def __repr__(self) -> str:
        """A neutral line."""
        return f"{self.exercise_id}: checked by the instructor's grader"


def record_reference_use(what: str) -> None:
    """Note one use of the course's answers by student code (an import, an attribute, a file read)."""
    if what not in blocked_imports:
        blocked_imports.append(what)


def _names_checks_folder(value: Any) -> bool:
    """Whether a path or a command (a string, bytes, a path object or a list of them) names the checks folder."""
    if isinstance(value, (list, tuple)):
        return any(_names_checks_folder(item) for item in value)
    try:
        text = os.fsdecode(value) if isinstance(value, (str, bytes, os.PathLike)) else ""
    except (TypeError, ValueError):
        return False
    if not text:
        return False
    if CHECKS_FOLDER in text:
        return True
    try:
        return os.path.realpath(text).startswith(CHECKS_FOLDER + os.sep) or os.path.realpath(text) == CHECKS_FOLDER
    except (OSError, ValueError):
        return False


def _audit(event: str, arguments: tuple) -> None:
    """Audit hook: record student code that opens, lists or copies the checks' files, or names them in a command."""
    try:
        if event in FILE_EVENTS and arguments and _names_checks_folder(arguments[0]):
            record_reference_use(f"{event}({os.fsdecode(arguments[0])!r})")
        elif event in COMMAND_EVENTS and any(_names_checks_folder(argument) for argument in arguments[:2]):
            record_reference_use(f"{event}(... {CHECKS_FOLDER} ...)")
    except Exception:  # an audit hook must never break the code it watches
        pass


class _ChecksBlocker(importlib.abc.MetaPathFinder):
    """Refuses every `dlcourse.checks.*` module: they hold the course's answers."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        """Raise ImportError for the course's check modules; let everything else through."""
        if name.startswith(BLOCKED_PACKAGE + "."):
            record_reference_use(f"import {name}")
            raise ImportError(f"{name} is not available while grading (it holds the course's reference answers).")
        return None


def _stand_in_checks() -> types.ModuleType:
    """A `dlcourse.checks` without answers: check, hint and exercises do nothing harmful."""
    module = types.ModuleType(BLOCKED_PACKAGE, "Stand-in for dlcourse.checks while grading: it holds no answers.")
    module.__path__ = []  # a package with no submodules
    module.check = lambda exercise_id, answer=None, record=True: StandInResult(str(exercise_id))
    module.hint = lambda exercise_id, level=1: f"No hints while grading ({exercise_id})."
    module.exercises = lambda chapter=None: []
    module.dlcourse_grading_stand_in = True
    module.__getattr__ = _missing_checks_attribute
    return module


def _missing_checks_attribute(name: str) -> Any:
    """`checks.<name>` beyond check, hint and exercises: recorded as a use of the course's answers, then refused."""
    if ANSWER_ATTRIBUTES.fullmatch(name):  # what holds answers in the real package; other names are just absent
        record_reference_use(f"checks.{name}")
    raise AttributeError(f"module '{BLOCKED_PACKAGE}' has no attribute '{name}' while grading")


def install() -> None:
    """Put the stand-in for dlcourse.checks in place and block its submodules; safe to call again."""
    current = sys.modules.get(BLOCKED_PACKAGE)
    if current is None or not getattr(current, "dlcourse_grading_stand_in", False):
        for name in [name for name in sys.modules if name == BLOCKED_PACKAGE or name.startswith(BLOCKED_PACKAGE + ".")]:
            del sys.modules[name]
        sys.modules[BLOCKED_PACKAGE] = _stand_in_checks()
    dlcourse.checks = sys.modules[BLOCKED_PACKAGE]
    if not any(isinstance(finder, _ChecksBlocker) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ChecksBlocker())
    global _audit_hook_installed
    if not _audit_hook_installed:
        sys.addaudithook(_audit)  # (audit hooks can't be removed: one per kernel process)
        _audit_hook_installed = True


def remember_threads() -> None:
    """Note the threads alive before an exercise cell runs (uses of the answers since the last check are kept: a
    cell the student added above the exercise counts for it)."""
    global _threads_before_cell
    _threads_before_cell = {thread.ident for thread in threading.enumerate()}


def stop_threads_started_by_the_cell() -> int:
    """Ask every thread the last exercise cell started, and left running, to exit; returns how many."""
    stopped = 0
    for thread in threading.enumerate():
        if thread.ident in _threads_before_cell or thread is threading.current_thread() or not thread.is_alive():
            continue
        if not _runs_student_code(thread):
            continue
        if ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(SystemExit)) == 1:
            stopped += 1
    return stopped


def _runs_student_code(thread: threading.Thread) -> bool:
    """Whether the thread's entry function was written in the notebook (not in a library or in Python itself)."""
    function = getattr(thread, "_target", None) or getattr(type(thread), "run", None)
    while hasattr(function, "func"):  # functools.partial
        function = function.func
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    file_name = getattr(code, "co_filename", "") or ""
    library = ("site-packages" in file_name or "/lib/python" in file_name
               or file_name.startswith(os.path.dirname(os.path.abspath(dlcourse.__file__))))
    return bool(file_name) and not library


def collect_json(request_json: str, get_answer: Callable[[], Any]) -> None:
    """Collect what the answer does on the request's cases; the JSON result is left in `last_result`."""
    global last_result
    last_result = ""
    install()
    request = json.loads(request_json)
    stopped = stop_threads_started_by_the_cell()
    try:
        answer = get_answer()
    except NameError as error:
        result = {"exercise": request.get("exercise", ""), "kind": request["kind"], "undefined": collect.short_text(error)}
    except BaseException as error:  # any other failure while fetching the answer
        result = {"exercise": request.get("exercise", ""), "kind": request["kind"],
                  "fetch_error": collect.exception_record(error)}
    else:
        result = collect.collect(request, answer)
    result["stopped_threads"] = stopped
    result["blocked_imports"] = sorted(set(blocked_imports))
    blocked_imports.clear()
    last_result = json.dumps(result)
