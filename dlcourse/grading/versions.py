"""Check versions: a hash of what judges each exercise, so that `dlcourse grade` re-judges only changed checks.

An exercise's version hashes its declaration in `dlcourse/checks/chNN.py`: its kind and every field that judges
(cases, the reference, known mistakes, scorers, thresholds, limits), with the source code of every function it
names and of the course functions those call, followed through the checks modules. Its title, hints and points
don't judge, so changing them re-judges nothing (points are applied when reports are written). A change to the
shared framework or diagnostics is not followed: regrade with `--force` after one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import re
import types
from typing import Any

NOT_JUDGING_FIELDS = {"title", "hints", "points"}
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@functools.lru_cache(maxsize=None)
def check_version(exercise_id: str) -> str:
    """The current version of the exercise's check: 16 hex digits."""
    from dlcourse import checks

    exercise = checks.get_exercise(exercise_id)
    described = describe(exercise, set())
    return hashlib.sha256(described.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def current_versions(exercise_ids: list[str]) -> dict[str, str]:
    """exercise id -> its check version, for the declared ones among exercise_ids."""
    versions = {}
    for exercise_id in exercise_ids:
        try:
            versions[exercise_id] = check_version(exercise_id)
        except ValueError:  # no longer declared
            continue
    return versions


def describe(value: Any, seen: set[int]) -> str:
    """A deterministic text of what a value judges with (no memory addresses, arrays by content)."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return repr(value)
    if id(value) in seen:
        return "<seen>"
    seen.add(id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f"{field.name}={describe(getattr(value, field.name), seen)}" for field in dataclasses.fields(value)
                  if field.name not in NOT_JUDGING_FIELDS]
        return f"{type(value).__qualname__}({', '.join(fields)})"
    if callable(getattr(value, "_build", None)) and type(value).__name__ == "LazyCases":  # cases built on first use:
        return f"LazyCases({describe(value._build, seen)})"  # their builder's code, without loading their data
    if isinstance(value, dict):
        return "{" + ", ".join(f"{describe(key, seen)}: {describe(item, seen)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(describe(item, seen) for item in value) if isinstance(value, (set, frozenset)) else [
            describe(item, seen) for item in value]
        return f"{type(value).__name__}[{', '.join(items)}]"
    if isinstance(value, functools.partial):
        return f"partial({describe(value.func, seen)}, {describe(value.args, seen)}, {describe(value.keywords, seen)})"
    if isinstance(value, (types.FunctionType, types.MethodType)):
        return describe_function(value, seen)
    if callable(value) and isinstance(getattr(value, "__wrapped__", None), types.FunctionType):  # lru_cache ...
        return describe_function(value.__wrapped__, seen)
    if type(value).__module__ == "numpy" and hasattr(value, "tobytes"):
        digest = hashlib.sha256(value.tobytes()).hexdigest()[:16]
        return f"array({getattr(value, 'dtype', '')}, {getattr(value, 'shape', '')}, {digest})"
    return _ADDRESS.sub("", repr(value))


def describe_function(function: Any, seen: set[int]) -> str:
    """A function's source, with the course functions and values it reads by global name (followed recursively)."""
    function = getattr(function, "__func__", function)
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}"
    parts = [source]
    module = getattr(function, "__module__", "") or ""
    if module.startswith("dlcourse.checks"):
        names = set(_global_names(function.__code__))
        for name in sorted(names):
            target = function.__globals__.get(name)
            if target is None or isinstance(target, types.ModuleType):
                continue
            if (callable(target) or isinstance(target, type)) and getattr(target, "__module__", "") != module:
                continue  # the framework, NumPy, Keras ...: not followed
            parts.append(f"{name} = {describe(target, seen)}")
    return "\n".join(parts)


def _global_names(code: types.CodeType) -> list[str]:
    """The global names a code object (and the code objects nested in it) reads."""
    names = list(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names += _global_names(constant)
    return names


def stale_exercises(saved_versions: dict[str, str], exercise_ids: list[str]) -> list[str]:
    """The exercises whose check changed since they were judged (or that have no recorded version)."""
    current = current_versions(exercise_ids)
    return [exercise_id for exercise_id in exercise_ids
            if exercise_id in current and saved_versions.get(exercise_id) != current[exercise_id]]
