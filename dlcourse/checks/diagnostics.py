"""Shared diagnostics that turn a wrong answer into a message naming the mistake.

Every chapter's checks use these: wrong shape, dtype, NaN, off by a constant or a factor,
wrong axis, exceptions from student code, inputs changed in place, placeholders, and a
layer-by-layer diff of Keras models. Nothing here imports Keras at module level.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import re
import warnings
from typing import Any, Callable, Iterator

import numpy as np

from dlcourse.collect import (is_keras_model, is_placeholder_function, safe_repr,  # noqa: F401  (re-exported)
                              short_text, student_line_of, type_name)


def article(noun: str) -> str:
    """'an int', 'a list': the noun with its indefinite article."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


MAX_ARGUMENTS_TEXT = 240  # a case's inputs in a message: shapes and a few values, never a dump
MAX_VALUE_TEXT = 100


def describe_arguments(args: tuple) -> str:
    """The inputs of a case, summarised (shapes and a few values), e.g. `array([-2., 0., 3.]), 0.5`, for messages."""
    text = ", ".join(summarise_value(argument) for argument in args)
    return short_text(text, MAX_ARGUMENTS_TEXT)


def summarise_value(value: Any, limit: int = MAX_VALUE_TEXT) -> str:
    """A value in a few characters: small arrays in full, larger ones as their shape and first values, objects by type."""
    array = _as_array(value) if isinstance(value, (np.ndarray, np.generic, int, float, bool, list, tuple)) else None
    if isinstance(value, (list, tuple)) and (array is None or array.dtype == object):
        return _summarise_sequence(value, limit)
    if array is not None and not isinstance(value, (list, tuple)):
        return _summarise_array(array, limit)
    if array is not None:
        text = safe_repr(value, limit)
        return text if len(text) < limit else f"{type(value).__name__} of shape {array.shape}: {_first_values(array)}"
    if isinstance(value, dict):
        return short_text(f"dict with keys {', '.join(map(repr, value))}", limit)
    if value is None or isinstance(value, (str, bytes)) or type(value).__name__ == "SourceFunction":
        return safe_repr(value, limit)
    return article(type_name(value))


def _summarise_array(array: np.ndarray, limit: int) -> str:
    """An array in full when it is short, else its shape and first few values."""
    text = safe_repr(array, limit)
    if array.ndim == 0 or (array.size <= 6 and len(text) < limit):
        return text
    return f"array of shape {array.shape}: {_first_values(array)}"


def _first_values(array: np.ndarray, count: int = 3) -> str:
    """The first `count` values of an array, flattened, e.g. `[0.35, 0.7, 0.02, ...]`."""
    values = [f"{value:.4g}" if isinstance(value, float) else str(value) for value in array.reshape(-1)[:count].tolist()]
    return "[" + ", ".join(values) + (", ...]" if array.size > count else "]")


def _summarise_sequence(items: list | tuple, limit: int) -> str:
    """A list or tuple that is not one numeric array: short ones in full, else its length and each item summarised."""
    text = safe_repr(items, limit)
    if len(text) < limit and "0x" not in text:
        return text
    kind = type(items).__name__
    inner = ", ".join(summarise_value(item, 40) for item in items[:2]) + (", ..." if len(items) > 2 else "")
    return short_text(f"{kind} of {len(items)}: [{inner}]", limit)


_CASE_INPUTS: contextvars.ContextVar[tuple] = contextvars.ContextVar("dlcourse_case_inputs", default=())


@contextlib.contextmanager
def case_inputs(args: tuple, kwargs: dict | None = None) -> Iterator[None]:
    """While the `with` block runs, the diagnostics see this case's inputs: their evidence (exp range, shapes, indices)."""
    token = _CASE_INPUTS.set(tuple(args) + tuple((kwargs or {}).values()))
    try:
        yield
    finally:
        _CASE_INPUTS.reset(token)


def current_case_inputs() -> tuple:
    """The inputs of the case being judged (empty outside `case_inputs`)."""
    return _CASE_INPUTS.get()


def numeric_inputs(inputs: tuple) -> list[tuple[int, np.ndarray]]:
    """(position, array) for each input that is numeric data (arrays, numbers, nested lists of numbers)."""
    found = []
    for position, value in enumerate(inputs):
        array = _as_array(value)
        if array is not None and array.dtype != object:
            found.append((position, array))
    return found


def describe_not_callable(answer: Any) -> str:
    """Message for an answer that should have been a function but is not."""
    from dlcourse.collect import describe_answer

    return describe_not_callable_record(describe_answer(answer))


def describe_not_callable_record(answer: dict[str, Any]) -> str:
    """Message for an answer (described by collect.describe_answer) that should have been a function."""
    if answer.get("is_none"):
        return "Your answer is None, but this exercise expects a function. Pass the function itself, e.g. `relu`."
    return (f"Expected a function, but got {article(answer['type'])} ({answer['repr']}). "
            "Pass the function itself (e.g. `sigmoid`), not the result of calling it (`sigmoid(x)`).")


_EXCEPTION_EXPLANATIONS = (
    ("truth value of an array with more than one element is ambiguous",
     "You used Python's built-in `max`, `min`, `if`, `and` or `or` on a whole array. These need a single "
     "True/False, but comparing an array gives one per element. Use element-wise NumPy functions instead, "
     "e.g. `np.maximum(x, 0)` rather than `max(x, 0)`."),
    ("only length-1 arrays can be converted to python scalars",
     "You used a function from the `math` module (such as `math.exp`) on an array. `math` works on single "
     "numbers only; use the NumPy version (`np.exp`), which works element-wise."),
    ("only 0-dimensional arrays can be converted to python scalars",
     "You used a function from the `math` module (such as `math.exp`) on an array. `math` works on single "
     "numbers only; use the NumPy version (`np.exp`), which works element-wise."),
    ("mismatch in its core dimension",
     "The shapes don't line up for the matrix product. For `a @ b`, the last axis of `a` must match the first "
     "axis of `b`: in Keras' convention it is `inputs (batch, in) @ kernel (in, out)`."),
    ("not aligned",
     "The shapes don't line up for the matrix product. For `np.dot(a, b)`, the last axis of `a` must match the "
     "first axis of `b`: in Keras' convention it is `inputs (batch, in) @ kernel (in, out)`."),
)


def array_shapes(values: Any) -> tuple:
    """The shapes of the NumPy arrays among some values (a case's arguments), in order."""
    return tuple(tuple(value.shape) for value in values if isinstance(value, np.ndarray))


def explain_exception(exception: BaseException) -> str:
    """Explain an exception raised by student code, naming the likely mistake and the student's line."""
    from dlcourse.collect import exception_record

    return explain_exception_record(exception_record(exception))


_BROADCAST_SHAPES = re.compile(r"shapes \(([\d, ]*)\)\s*\(([\d, ]*)\)")


def _fits_inside(small: tuple, large: tuple) -> bool:
    """Whether an array of shape `small` could be a slice of one of shape `large` (same rank, no axis longer)."""
    return len(small) == len(large) and small != large and all(a <= b for a, b in zip(small, large))


def describe_elementwise_product(message: str, input_shapes: tuple = ()) -> str:
    """Explain a broadcasting error from the operands' shapes, naming a cause only when the case's inputs show it.

    `*` for `@` is named when both operands have the shapes of case inputs and would fit a matrix product; a
    slice with the wrong bounds when one operand has an input's shape and the other fits inside another input.
    Without that evidence (or without the case's inputs) it only says what the shapes are.
    """
    found = _BROADCAST_SHAPES.search(message)
    if not found:
        return ""
    left, right = [tuple(int(size) for size in group.replace(" ", "").split(",") if size) for group in found.groups()]
    shapes = [tuple(shape) for shape in input_shapes]
    if (left in shapes and right in shapes and len(left) >= 1 and len(right) == 2 and left[-1] == right[0]
            and left != right):
        return (f"An array of shape {left} and one of shape {right} (the shapes of two of the inputs) fit a matrix "
                "product but not an element-wise one: you probably used `*` (element-wise) where the matrix product "
                "`@` (or `np.dot`) was meant.")
    for whole, part in ((left, right), (right, left)):
        if whole in shapes and any(_fits_inside(part, shape) for shape in shapes):
            axes = [axis for axis, (a, b) in enumerate(zip(part, whole)) if a != b]
            return (f"Your code combined an array of shape {part} with one of shape {whole} (an input's shape) element "
                    f"by element; they differ along axis {axes[0] if len(axes) == 1 else axes}. If the first is a "
                    "slice or window of a larger input, check its bounds: a slice that runs past the end of an array "
                    "is silently cut short.")
    return (f"Your code combined arrays of shapes {left} and {right} element by element, which NumPy can't "
            "broadcast. Print the shapes of the arrays on that line to see which one is not what you meant.")


def explain_exception_record(record: dict[str, Any], input_shapes: tuple = ()) -> str:
    """Explain an exception from student code (as recorded by collect.exception_record), naming the likely mistake
    only with evidence; `input_shapes` are the shapes of the case's array inputs, when known."""
    if record.get("system_exit"):
        return "Your code called `sys.exit()` (or `exit()`); remove that call."
    text = f"Your code raised {record['type']}: {record['message']}"
    lowered = str(record["message"]).lower()
    explanation = describe_elementwise_product(lowered, input_shapes) if "could not be broadcast" in lowered else ""
    if not explanation:
        explanation = next((explanation for fragment, explanation in _EXCEPTION_EXPLANATIONS if fragment in lowered), "")
    if not explanation and record["type"] == "NameError":
        explanation = "A name is not defined: did you run the cell that defines or imports it (e.g. `import numpy as np`)?"
    elif not explanation and record["type"] == "RecursionError":
        explanation = "Your function calls itself without end; check that it doesn't call itself by mistake."
    if explanation:
        text += "\n" + explanation
    if record.get("line"):
        text += "\n" + record["line"]
    return text


def describe_mutated_argument(position: int, argument: Any = None) -> str:
    """The message for a function that changed its input (0-based position) in place."""
    what = "input array" if isinstance(argument, np.ndarray) else "input"
    return (f"your function changed its {what} (argument {position + 1}) in place. "
            "Work on a copy or build a new array (e.g. `np.maximum(x, 0)`), "
            "because callers still need their original data.")


def matches_mistake(mistake: Callable, case: Any, got: Any) -> bool:
    """Whether `got` equals what a known mistaken implementation returns on this case."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            mistaken = mistake(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        if _is_structure(mistaken):
            return compare_values(mistaken, got, rtol=1e-5, atol=1e-7) == ""
        mistaken_array = np.asarray(mistaken, dtype=float)
        got_array = np.asarray(got, dtype=float)
    except Exception:
        return False
    return mistaken_array.shape == got_array.shape and bool(
        np.allclose(mistaken_array, got_array, rtol=1e-5, atol=1e-7, equal_nan=True))


def _as_array(value: Any) -> np.ndarray | None:
    """A NumPy view of a number, list, array or tensor; None when it can't be converted."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(value)
    except Exception:
        return None
    if array.dtype.kind not in "biufc":
        return None
    return array


def _is_structure(value: Any) -> bool:
    """Whether a value is compared item by item: a dict, a tuple, or a list that is not one numeric array."""
    return isinstance(value, (dict, tuple)) or (isinstance(value, list) and _as_array(value) is None)


def compare_values(expected: Any, got: Any, rtol: float = 1e-5, atol: float = 1e-7) -> str:
    """'' when got matches expected, else a message naming the first problem found."""
    if got is None:
        return "Your function returned None. Did you forget the `return` statement?"
    if got is Ellipsis:
        return "Your function returned `...` (the placeholder). Replace `return ...` with your computation."
    if isinstance(expected, dict):
        return compare_dicts(expected, got, rtol, atol)
    if _is_structure(expected):
        return compare_sequences(expected, got, rtol, atol)
    expected_array = np.asarray(expected)
    got_array = _as_array(got)
    if got_array is None:
        return f"Expected {describe_kind(expected_array)}, but your function returned {describe_returned_object(got)}."
    inputs = current_case_inputs()
    return (describe_shape_problem(expected_array, got_array, inputs)
            or describe_dtype_problem(expected_array, got_array, inputs)
            or describe_non_finite_problem(expected_array, got_array, inputs)
            or describe_value_problem(expected_array, got_array, rtol, atol))


def describe_returned_object(value: Any) -> str:
    """A returned value that is not numeric data, named by its type: `a generator`, or `a str: 'abc'` for plain values."""
    if value is None or isinstance(value, (str, bool)):
        return f"{article(type_name(value))}: {safe_repr(value, 60)}"
    if isinstance(value, (list, tuple, dict)):
        return f"{article(type_name(value))}: {summarise_value(value, 80)}"
    return article(type_name(value))


def compare_dicts(expected: dict, got: Any, rtol: float, atol: float) -> str:
    """'' when a dict result has the expected keys and values, else what differs, naming the key."""
    if not isinstance(got, dict):
        return (f"Expected a dict with the keys {', '.join(map(repr, expected))}, but your function returned "
                f"{describe_returned_object(got)}.")
    missing = [key for key in expected if key not in got]
    if missing:
        return f"Your result is missing the key(s) {', '.join(map(repr, missing))}: every entry must be returned."
    extra = [key for key in got if key not in expected]
    if extra:
        return f"Your result has unexpected key(s) {', '.join(map(repr, extra))}."
    for key in expected:
        problem = compare_values(expected[key], got[key], rtol, atol)
        if problem:
            return f"In `{key}`: {problem}"
    return ""


def compare_sequences(expected: list | tuple, got: Any, rtol: float, atol: float) -> str:
    """'' when a tuple (or list) of results matches item by item, else what differs, naming the item."""
    count = len(expected)
    is_list = isinstance(expected, list)
    if not isinstance(got, (list, tuple)):
        wanted = (f"a list of {count} items" if is_list
                  else f"{count} results (return them as a tuple, e.g. `return first, second`)")
        return f"Expected {wanted}, but your function returned {describe_returned_object(got)}."
    if len(got) != count:
        if is_list:
            return f"Expected a list of {count} items, but yours has {len(got)}."
        return f"Expected {count} results, but your function returned {len(got)}."
    for index, (expected_item, got_item) in enumerate(zip(expected, got)):
        problem = compare_values(expected_item, got_item, rtol, atol)
        if problem:
            where = f"In item {index + 1} of {count}" if is_list else f"In result {index + 1} of {count}"
            return f"{where}: {problem}"
    return ""


def describe_kind(array: np.ndarray) -> str:
    """'a number' or 'an array of shape (…)', for messages."""
    return "a single number" if array.ndim == 0 else f"an array of shape {array.shape}"


def describe_shape_problem(expected: np.ndarray, got: np.ndarray, inputs: tuple = ()) -> str:
    """A message when the shapes differ: what differs, and a cause only where the values or shapes show it."""
    if expected.shape == got.shape:
        return ""
    message = f"Wrong shape: expected {expected.shape}, got {got.shape}."
    evidence = (describe_transposed(expected, got) or describe_reshaped(expected, got)
                or describe_reduced(expected, got, inputs) or describe_broadcast(expected, got, inputs)
                or describe_differing_axes(expected, got))
    return f"{message} {evidence}".rstrip()


def _close(first: Any, second: Any) -> bool:
    """Whether two numeric arrays have the same shape and values (NaN equal to NaN), never raising."""
    try:
        with np.errstate(all="ignore"):
            first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
            return first.shape == second.shape and bool(np.allclose(first, second, rtol=1e-5, atol=1e-7, equal_nan=True))
    except (TypeError, ValueError):
        return False


def describe_transposed(expected: np.ndarray, got: np.ndarray) -> str:
    """'' unless `got` holds the transpose of the correct 2-D result."""
    if expected.ndim == 2 and got.shape == expected.shape[::-1] and _close(got, expected.T):
        return ("Your result is transposed (it holds the transpose of the correct one): check the order of the matrix product "
                "(inputs @ kernel) or a `.T`.")
    return ""


def describe_reshaped(expected: np.ndarray, got: np.ndarray) -> str:
    """'' unless `got` holds the correct values in another shape: an extra or missing axis of length 1, or flattened."""
    if got.size != expected.size or not _close(got.reshape(expected.shape), expected):
        return ""
    expected_axes = [size for size in expected.shape if size != 1]
    got_axes = [size for size in got.shape if size != 1]
    if expected_axes == got_axes and got.ndim > expected.ndim:
        return (f"The values are right, but your result has an extra axis of length 1 "
                f"(axis {_first_difference_axis(got.shape, expected.shape)}): don't add it, or remove it "
                "(`np.squeeze` or `reshape`).")
    if expected_axes == got_axes:
        return (f"The values are right, but the axis of length 1 at position "
                f"{_first_difference_axis(expected.shape, got.shape)} is missing: keep it (a reduction keeps it "
                "with `keepdims=True`; or `reshape`).")
    if got.ndim == 1:
        return f"The values are right, but flattened into one axis: keep the shape {expected.shape}."
    return f"The values are right, but in the shape {got.shape}: the exercise asks for {expected.shape}."


def _first_difference_axis(longer: tuple, shorter: tuple) -> int:
    """The first axis of `longer` (a shape with an extra length-1 axis) that `shorter` doesn't have."""
    for axis, size in enumerate(longer):
        if axis >= len(shorter) or shorter[axis] != size:
            return axis
    return len(longer) - 1


_REDUCTIONS = (("sum", np.sum), ("mean", np.mean), ("maximum", np.max), ("minimum", np.min))


def _matching_reduction(values: np.ndarray, target: np.ndarray, axis: int | None) -> str:
    """The name of the reduction (sum, mean, maximum, minimum) of `values` along `axis` that equals `target`, or ''."""
    for name, reduction in _REDUCTIONS:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if values.size and _close(reduction(values.astype(float), axis=axis), target):
                return name
    return ""


def describe_reduced(expected: np.ndarray, got: np.ndarray, inputs: tuple = ()) -> str:
    """'' unless `got` has fewer axes than expected (or more, for a single expected number); then what is missing,
    and a reduction named only where the values show it."""
    if got.ndim == 0 and expected.ndim > 0:
        return _describe_single_number(expected, got)
    if expected.ndim == 0 and got.ndim > 0:
        return _describe_partial_reduction(expected, got, inputs)
    if got.ndim != expected.ndim - 1:
        return ""
    for axis in range(expected.ndim):
        if got.shape == expected.shape[:axis] + expected.shape[axis + 1:]:
            name = _matching_reduction(expected, got, axis)
            if name:
                return (f"Your values equal the {name} of the correct result along axis {axis}: something reduced "
                        f"along that axis where the exercise keeps it.")
            return f"Axis {axis} (of length {expected.shape[axis]}) is missing."
    return ""


def _describe_single_number(expected: np.ndarray, got: np.ndarray) -> str:
    """What a single number returned for an array says: which reduction of the correct values it equals, if any."""
    name = _matching_reduction(expected, got, None)
    if not name:
        return f"You returned a single number ({safe_repr(got)}) where {describe_kind(expected)} was expected."
    text = (f"Your single number is the {name} of the correct values, where the exercise asks for one value per "
            "element.")
    if name in ("maximum", "minimum"):
        text += f" (`np.{name}(x, 0)` is element-wise; `np.{name[:3]}(x, 0)` is a reduction.)"
    return text


def _describe_partial_reduction(expected: np.ndarray, got: np.ndarray, inputs: tuple) -> str:
    """What an array returned for a single number says: whether it reduces to the answer, and along which input axis."""
    name = _matching_reduction(got, expected, None)
    along = ""
    for position, array in numeric_inputs(inputs):
        axes = [axis for axis in range(array.ndim) if array.shape[:axis] + array.shape[axis + 1:] == got.shape]
        if axes:
            along = f" along axis {axes[-1]} of argument {position + 1} (shape {array.shape}) only"
            break
    if name:
        return (f"The {name} of your {got.size} values is the correct number: you reduced{along or ' along one axis only'}; "
                f"reduce over all elements (without `axis`).")
    if along:
        return f"Your shape is what a reduction{along} gives; the exercise asks for one number over all elements."
    return f"Expected a single number, got {got.size} values."


def describe_broadcast(expected: np.ndarray, got: np.ndarray, inputs: tuple = ()) -> str:
    """'' unless `got`'s shape is what broadcasting two of the case's shapes (inputs, the result, with a trailing
    axis of length 1) together gives, and neither alone."""
    shapes = {expected.shape} | {array.shape for _, array in numeric_inputs(inputs) if array.ndim}
    shapes |= {shape + (1,) for shape in shapes if shape}
    shapes.discard(got.shape)
    for first in sorted(shapes):
        for second in sorted(shapes):
            if first == second or not first or not second:
                continue
            try:
                combined = np.broadcast_shapes(first, second)
            except ValueError:
                continue
            if combined == got.shape:
                return (f"That is the shape broadcasting gives when an array of shape {first} meets one of shape "
                        f"{second} element-wise: make their shapes match before combining them.")
    return ""


def describe_differing_axes(expected: np.ndarray, got: np.ndarray) -> str:
    """Which axes differ in length (same number of axes), or how many axes each has."""
    if got.ndim != expected.ndim:
        return f"Your result has {got.ndim} axes; the exercise asks for {expected.ndim}."
    if got.ndim >= 2 and got.shape == expected.shape[::-1]:
        return "Your shape is the expected one with its axes reversed, as a transpose would give."
    differing = [f"axis {axis} has length {got.shape[axis]}, expected {expected.shape[axis]}"
                 for axis in range(got.ndim) if got.shape[axis] != expected.shape[axis]]
    return "In your result " + " and ".join(differing) + "."


def describe_dtype_problem(expected: np.ndarray, got: np.ndarray, inputs: tuple = ()) -> str:
    """A message when a floating-point result was expected but integers or booleans came back; a cause only with evidence."""
    if expected.dtype.kind == "f" and got.dtype.kind in "iub":
        message = f"Wrong dtype: expected floating-point numbers, got {got.dtype}."
        evidence = (describe_truncation(expected, got) or describe_index_for_value(expected, got, inputs)
                    or _describe_integer_values(expected, got))
        return f"{message} {evidence}"
    if expected.dtype.kind in "iu" and got.dtype.kind == "f" and not np.all(np.isfinite(got)):
        return f"Expected a whole number, got {safe_repr(got)}."
    return ""


def describe_truncation(expected: np.ndarray, got: np.ndarray) -> str:
    """'' unless the integers are the correct values with their fractions cut off (and some fraction was there)."""
    with np.errstate(all="ignore"):
        expected_float = expected.astype(float)
        has_fractions = bool(np.any(np.isfinite(expected_float) & (expected_float != np.round(expected_float))))
        cut = _close(got, np.trunc(expected_float)) or _close(got, np.floor(expected_float))
    if has_fractions and cut:
        return ("Your values are the correct ones with their fractions cut off: integer arithmetic truncates "
                "(`//`, `int(...)`, or `astype(int)`); keep floats (e.g. `/`, and `1.0` instead of `1`).")
    return ""


def describe_index_for_value(expected: np.ndarray, got: np.ndarray, inputs: tuple = ()) -> str:
    """'' unless a single integer returned is the position of the correct value in one of the case's inputs."""
    if got.ndim != 0 or expected.ndim != 0 or got.dtype.kind not in "iu":
        return ""
    index = int(got)
    for position, array in numeric_inputs(inputs):
        if array.ndim == 1 and 0 <= index < array.size and _close(array[index], expected):
            return (f"You returned {index}, the position of the correct value {safe_repr(expected)} in argument "
                    f"{position + 1}: return the value at that position, not the position.")
    return ""


def _describe_integer_values(expected: np.ndarray, got: np.ndarray) -> str:
    """What the integers are against the expected values: right (only the dtype differs) or wrong."""
    if _close(got, expected):
        return "The values are right: return them as floats (e.g. `.astype(float)`)."
    return f"Expected {summarise_value(expected)}, got {summarise_value(got)}."


# What makes NaN or infinity; a message names overflow only where an input lies beyond `np.exp`'s range (issue 21).
NAN_CAUSES = "0/0, infinity − infinity, infinity/infinity, or the square root or logarithm of a negative number"
INFINITY_CAUSES = "a division by zero, or the logarithm of 0"
EXP_LIMITS = {"float16": 11.0, "float32": 88.7}  # beyond these (float64: 709.7) `np.exp` overflows to infinity
EXP_LIMIT = 709.7


def describe_non_finite_problem(expected: np.ndarray, got: np.ndarray, inputs: tuple = ()) -> str:
    """A message when the result has NaN or infinity where the reference is finite: where, and what makes it."""
    if got.dtype.kind not in "fc":
        return ""
    finite_expected = np.isfinite(expected)
    bad = ~np.isfinite(got) & finite_expected
    if not np.any(bad):
        return ""
    kind = "NaN" if np.any(np.isnan(got) & finite_expected) else "infinity"
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if got.ndim else ()
    where = f" at index {first}" if first else ""
    overflow = describe_exp_overflow(inputs)
    causes = NAN_CAUSES if kind == "NaN" else INFINITY_CAUSES
    correct = expected[first] if first else expected
    shown = f"{float(correct):.6g}" if np.ndim(correct) == 0 and np.isrealobj(correct) else safe_repr(correct)
    return (f"Your result contains {kind}{where}, where the correct value is {shown}. "
            + (overflow or f"Find the operation in your formula that makes {kind} on this input: {causes}."))


def describe_exp_overflow(inputs: tuple) -> str:
    """'' unless an input lies beyond `np.exp`'s range for its dtype; then that input and what overflow does."""
    for position, array in numeric_inputs(inputs):
        if array.dtype.kind != "f" or not array.size:
            continue
        limit = EXP_LIMITS.get(array.dtype.name, EXP_LIMIT)
        with np.errstate(all="ignore"):
            magnitudes = np.abs(array.astype(float))
        finite = magnitudes[np.isfinite(magnitudes)]
        if finite.size and float(finite.max()) > limit:
            largest = array.reshape(-1)[int(np.argmax(np.where(np.isfinite(magnitudes), magnitudes, 0).reshape(-1)))]
            return (f"Argument {position + 1} holds {float(largest):g}, beyond the range of `np.exp` "
                    f"(about ±{limit:g} for {array.dtype.name}): `np.exp` of such a number overflows to infinity, "
                    "and infinity − infinity or infinity/infinity is NaN. Rearrange the formula so that `np.exp` "
                    "never sees a large positive number.")
    return ""


def describe_value_problem(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> str:
    """A message when values differ: off by a constant, by a factor, sign flipped, or just wrong."""
    expected_float = expected.astype(float)
    got_float = got.astype(float)
    if np.allclose(got_float, expected_float, rtol=rtol, atol=atol, equal_nan=True):
        return ""
    difference = got_float - expected_float
    if got.size > 1 or expected.ndim == 0:
        constant = float(difference.flat[0])
        if np.allclose(difference, constant, rtol=1e-6, atol=1e-9) and got.size > 1:
            return (f"Every value is off by the same constant {constant:+.6g}. "
                    "Check for a missing or extra term (e.g. the bias) or a wrong constant.")
    with np.errstate(all="ignore"):
        ratio = got_float / expected_float
    nonzero = np.abs(expected_float) > 1e-12
    if got.size > 1 and np.any(nonzero):
        factor = float(ratio[nonzero].flat[0])
        if np.allclose(ratio[nonzero], factor, rtol=1e-6) and np.allclose(got_float[~nonzero], 0, atol=atol):
            return f"Every value is {factor:.6g} times the correct one: check for a wrong constant factor or scaling."
    if not difference.ndim:
        return f"Wrong value: expected {safe_repr(expected)}, got {safe_repr(got)}."
    with np.errstate(all="ignore"):
        size = np.where(np.isnan(difference), np.inf, np.abs(difference))
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(size)), difference.shape))
    wrong = int(np.sum(~np.isclose(got_float, expected_float, rtol=rtol, atol=atol, equal_nan=True)))
    summary = (f"expected {safe_repr(expected)}, got {safe_repr(got)}" if expected.size <= 6
               else f"{wrong} of {expected.size} values differ")
    return (f"Wrong values: {summary}.\nThe largest difference is at index {index}: expected "
            f"{float(expected_float[index]):.6g}, got {float(got_float[index]):.6g}.")


def describe_wrong_axis(reference_with_axis: Callable, args: tuple, got: Any, expected_axis: int) -> str:
    """If `got` equals the reference computed along another axis, name that axis."""
    got_array = _as_array(got)
    data = np.asarray(args[0])
    if got_array is None or got_array.shape != data.shape:
        return ""
    for axis in range(data.ndim):
        if axis == expected_axis % data.ndim:
            continue
        other = np.asarray(reference_with_axis(data, axis))
        if np.allclose(other, got_array, equal_nan=True):
            return f"You computed along axis {axis}, but the exercise asks for axis {expected_axis}."
    return ""


# ---------------------------------------------------------------- Keras models


def describe_not_model(answer: Any) -> str:
    """Message for an answer that should have been a Keras model but is not."""
    from dlcourse.collect import describe_answer

    return describe_not_model_record(describe_answer(answer))


def describe_not_model_record(answer: dict[str, Any]) -> str:
    """Message for an answer (described by collect.describe_answer) that should have been a Keras model."""
    if answer.get("is_none"):
        return "Your answer is None, but this exercise expects a trained Keras model."
    hint = " (`fit` returns a History; pass the model itself)" if answer["type"] == "History" else ""
    return f"Expected a Keras model, but got {article(answer['type'])}{hint}."


def activation_name(layer: Any) -> str:
    """The name of a layer's activation function, or '' if it has none."""
    activation = getattr(layer, "activation", None)
    if activation is None:
        return ""
    return getattr(activation, "__name__", type(activation).__name__)


def summarise_model(model: Any) -> list[dict[str, Any]]:
    """One row per layer (type, output shape, activation, params); Activation layers fold into the layer before."""
    rows: list[dict[str, Any]] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        activation = activation_name(layer)
        if kind == "Activation" and rows and rows[-1]["activation"] in ("linear", ""):
            rows[-1]["activation"] = activation
            continue
        output_shape = _output_shape(layer)
        rows.append({"type": kind, "output_shape": output_shape, "activation": activation,
                     "params": int(layer.count_params()) if layer.built else 0,
                     "trainable_params": _trainable_parameter_count(layer), "settings": layer_settings(layer)})
    return rows


# Layer settings a model diff names one by one (issue 21): each with the words that explain a difference in it.
LAYER_SETTINGS = {
    "units": "a different number of units",
    "filters": "a different number of filters",
    "kernel_size": "a different kernel size",
    "strides": "different strides",
    "padding": "a different padding",
    "pool_size": "a different pool size",
    "return_sequences": "a different return_sequences",
    "rate": "a different rate",
    "use_bias": "a different use_bias",
    "input_dim": "a different input_dim (vocabulary size)",
    "output_dim": "a different output_dim (vector size)",
    "axes": "different axes",
    "target_shape": "a different target shape",
}
SETTING_NOTES = {"return_sequences": "True returns the output of every step, False only the last one",
                 "padding": "'valid' shrinks the output by the kernel size minus 1, 'same' keeps its size"}
COMPARED_FIELDS = ("type", "output_shape", "activation", "params", "trainable_params")


def layer_settings(layer: Any) -> dict[str, Any]:
    """The settings of a layer that LAYER_SETTINGS names, from its config (lists as tuples)."""
    try:
        config = layer.get_config()
    except Exception:
        return {}
    return {name: tuple(value) if isinstance(value, list) else value
            for name, value in config.items() if name in LAYER_SETTINGS}


def _trainable_parameter_count(layer: Any) -> int:
    """How many of a layer's parameters training updates (0 for a frozen layer or an unbuilt one)."""
    if not layer.built:
        return 0
    return int(sum(int(np.prod(weight.shape)) for weight in layer.trainable_weights))


def _output_shape(layer: Any) -> Any:
    """A layer's output shape, e.g. (None, 16), or '?' when it is not known."""
    try:
        return tuple(layer.output.shape)
    except Exception:
        units = getattr(layer, "units", None)
        return (None, units) if units is not None else "?"


_FIELD_EXPLANATIONS = {
    "type": "a different kind of layer",
    "output_shape": "a different output shape",
    "activation": "a different activation function",
    "params": "a different number of parameters",
    "trainable_params": "a different number of trainable parameters (a layer frozen that should train, or the reverse)",
}


def format_layer_row(row: dict[str, Any] | None) -> str:
    """One layer summary row as text."""
    if row is None:
        return "(no layer)"
    activation = f", {row['activation']}" if row["activation"] else ""
    trainable = row.get("trainable_params", row["params"])
    frozen = f" ({trainable} trainable)" if trainable != row["params"] else ""
    return f"{row['type']}{activation}, output {row['output_shape']}, {row['params']} params{frozen}"


def _compared(row: dict[str, Any]) -> tuple:
    """The fields of a layer row that decide whether two architectures agree."""
    return tuple(row.get(field) for field in COMPARED_FIELDS)


def diff_models(expected_rows: list[dict[str, Any]], got_rows: list[dict[str, Any]]) -> str:
    """'' if the layer summaries agree, else a layer-by-layer diff naming the first mismatch attribute by attribute."""
    if [_compared(row) for row in expected_rows] == [_compared(row) for row in got_rows]:
        return ""
    lines = ["Your model's architecture differs from the one asked for (layer by layer):"]
    first_problem = describe_extra_or_missing_layer(expected_rows, got_rows)
    for index in range(max(len(expected_rows), len(got_rows))):
        expected = expected_rows[index] if index < len(expected_rows) else None
        got = got_rows[index] if index < len(got_rows) else None
        same = expected is not None and got is not None and _compared(expected) == _compared(got)
        lines.append(f"{'  ' if same else chr(0x2192) + ' '}layer {index + 1}: expected {format_layer_row(expected)}")
        lines.append(f"  {' ' * len(f'layer {index + 1}: ')}yours    {format_layer_row(got)}")
        if not same and not first_problem:
            first_problem = _describe_first_layer_problem(index, expected, got, got_rows)
    expected_total = sum(row["params"] for row in expected_rows)
    got_total = sum(row["params"] for row in got_rows)
    lines.append(f"Total parameters: expected {expected_total}, yours {got_total}.")
    expected_trainable = sum(row.get("trainable_params", row["params"]) for row in expected_rows)
    got_trainable = sum(row.get("trainable_params", row["params"]) for row in got_rows)
    if expected_trainable != got_trainable:
        lines.append(f"Trainable parameters: expected {expected_trainable}, yours {got_trainable}.")
    lines.append(first_problem)
    return "\n".join(lines)


def describe_extra_or_missing_layer(expected_rows: list[dict[str, Any]], got_rows: list[dict[str, Any]]) -> str:
    """'' unless one layer more (or fewer) than asked for explains the difference in the layers' kinds."""
    expected_types = [row["type"] for row in expected_rows]
    got_types = [row["type"] for row in got_rows]
    if len(got_types) == len(expected_types) + 1:
        index = _best_removal(got_rows, expected_rows)
        if index is not None:
            return (f"Your layer {index + 1} ({format_layer_row(got_rows[index])}) is extra: without it, your "
                    "layers are the kinds asked for.")
    if len(expected_types) == len(got_types) + 1:
        index = _best_removal(expected_rows, got_rows)
        if index is not None:
            return (f"Layer {index + 1} ({format_layer_row(expected_rows[index])}) is missing from your model: "
                    "the others are the kinds asked for.")
    return ""


def _best_removal(longer: list[dict[str, Any]], shorter: list[dict[str, Any]]) -> int | None:
    """The row of `longer` whose removal leaves the kinds of `shorter` and the most identical rows, or None."""
    best, best_matches = None, -1
    for index in range(len(longer)):
        rest = longer[:index] + longer[index + 1:]
        if [row["type"] for row in rest] != [row["type"] for row in shorter]:
            continue
        matches = sum(_compared(mine) == _compared(wanted) for mine, wanted in zip(rest, shorter))
        if matches >= best_matches:
            best, best_matches = index, matches
    return best


def _describe_first_layer_problem(index: int, expected: dict | None, got: dict | None,
                                  got_rows: list[dict[str, Any]] | None = None) -> str:
    """A sentence about the first layer that differs: each differing attribute, yours against the one asked for."""
    if got is None:
        return f"Layer {index + 1} is missing: your model has too few layers."
    if expected is None:
        return f"Layer {index + 1} is extra: your model has too many layers."
    differences = describe_layer_differences(expected, got)
    sentence = f"First difference at layer {index + 1}: {', '.join(explanation for explanation, _ in differences)}."
    sentence += "".join(f" {detail}." for _, detail in differences if detail)
    if expected.get("activation") != got.get("activation") and got.get("activation") in ("linear", ""):
        is_last = got_rows is not None and index == len(got_rows) - 1
        followed_by_dense = got_rows is not None and not is_last and got_rows[index + 1]["type"] == "Dense"
        if got["type"] == "Dense" and followed_by_dense:
            sentence += (" Without a non-linear activation, this Dense layer and the next collapse into a single "
                         "linear map, so the model can only draw straight decision boundaries.")
        elif is_last and expected.get("activation") in ("softmax", "sigmoid"):
            sentence += (f" This is the output layer: without `{expected['activation']}` it outputs raw scores "
                         "(logits), not probabilities.")
    return sentence


def describe_layer_differences(expected: dict[str, Any], got: dict[str, Any]) -> list[tuple[str, str]]:
    """Each attribute in which two layer rows differ, as (explanation, 'attribute: yours X, expected Y'); output shape
    and parameters only where no setting explains them."""
    if expected["type"] != got["type"]:
        return [(_FIELD_EXPLANATIONS["type"], _attribute_detail("type", got["type"], expected["type"]))]
    expected_settings, got_settings = expected.get("settings", {}), got.get("settings", {})
    differences = [(LAYER_SETTINGS[name], _attribute_detail(name, got_settings.get(name), expected_settings.get(name)))
                   for name in LAYER_SETTINGS
                   if name in expected_settings and expected_settings.get(name) != got_settings.get(name)]
    if expected.get("activation") != got.get("activation"):
        differences.append((_FIELD_EXPLANATIONS["activation"],
                            _attribute_detail("activation", got.get("activation"), expected.get("activation"))))
    if differences:
        return differences
    if expected.get("output_shape") != got.get("output_shape"):
        differences.append((_FIELD_EXPLANATIONS["output_shape"],
                            _attribute_detail("output shape", got.get("output_shape"), expected.get("output_shape"))
                            + "; its settings are the ones asked for, so its input differs: look at the layers before it"))
    for field in ("params", "trainable_params"):
        if expected.get(field) != got.get(field) and not differences:
            differences.append((_FIELD_EXPLANATIONS[field], ""))
    return differences


def _attribute_detail(name: str, mine: Any, wanted: Any) -> str:
    """'padding: yours 'valid', expected 'same'' with a note on what the setting does, where there is one."""
    def shown(value: Any) -> str:
        return "none" if value in ("", None) else repr(value) if isinstance(value, str) else str(value)

    note = f" ({SETTING_NOTES[name]})" if name in SETTING_NOTES else ""
    return f"{name}: yours {shown(mine)}, expected {shown(wanted)}{note}"


def classification_accuracy(probabilities: Any, labels: Any, subject: str = "model", item: str = "point",
                            class_phrase: str = "class {}", diverged_advice: str = "", one_class_advice: str = "") -> tuple[float, str]:
    """A classifier's held-out accuracy, with the problem ('' if none): NaN outputs, or one class predicted for all.

    `probabilities` holds one probability per example (binary, threshold 0.5) or one row per example (argmax).
    """
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels).reshape(-1)
    if not np.all(np.isfinite(probabilities)):
        return 0.0, f"Your {subject} outputs NaN: training diverged. {diverged_advice}".rstrip()
    if probabilities.ndim == 2 and probabilities.shape[1] > 1:
        predictions = probabilities.argmax(axis=-1)
    else:
        predictions = (probabilities.reshape(-1) > 0.5).astype(int)
    accuracy = float(np.mean(predictions == labels))
    if np.all(predictions == predictions[0]):
        return accuracy, (f"Your {subject} predicts {class_phrase.format(predictions[0])} for every {item} "
                          f"(accuracy {accuracy:.2f}). {one_class_advice}").rstrip()
    return accuracy, ""


# ------------------------------------------------------------------ evidence for low-score advice (models)


def predicted_classes(probabilities: Any) -> np.ndarray:
    """The class each example is predicted: the argmax of a row of probabilities, or one probability above 0.5."""
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim == 2 and probabilities.shape[1] > 1:
        return probabilities.argmax(axis=-1)
    return (probabilities.reshape(-1) > 0.5).astype(int)


def model_accuracy(model: Any, inputs: Any, labels: Any, batch_size: int = 500) -> float:
    """A classifier's accuracy on some inputs; 0.0 when it outputs NaN or infinity."""
    probabilities = np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), dtype=float)
    if not np.all(np.isfinite(probabilities)):
        return 0.0
    return float(np.mean(predicted_classes(probabilities) == np.asarray(labels).reshape(-1)))


UNSCALED_PIXELS_MARGIN = 0.1  # how much more accurate on 0-255 pixels a model must be to name unscaled training images


def unscaled_pixels_advice(model: Any, scaled_images: Any, labels: Any, margin: float = UNSCALED_PIXELS_MARGIN) -> str:
    """Advice naming unscaled training images, only when the model is clearly more accurate on 0-255 pixels than on
    the [0, 1] pixels the check gives it; else ''."""
    scaled_images = np.asarray(scaled_images, dtype="float32")
    scaled_accuracy = model_accuracy(model, scaled_images, labels)
    unscaled_accuracy = model_accuracy(model, scaled_images * np.float32(255.0), labels)
    if unscaled_accuracy < scaled_accuracy + margin:
        return ""
    return (f"Your model is more accurate on unscaled pixels, 0-255 (accuracy {unscaled_accuracy:.3f}), than on pixels "
            f"scaled to [0, 1] ({scaled_accuracy:.3f}), which is what the check gives it: it was trained on unscaled "
            "images. Scale the training images with `/ 255.0`.")


def _leaf_layers(model: Any) -> Iterator[Any]:
    """Every layer of a model, the layers of nested models in place of the nested model."""
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _weights_by_name(layer: Any) -> dict[str, np.ndarray]:
    """A layer's weights by their short name ('bias', 'moving_mean', ...)."""
    return {variable.name.split("/")[-1]: np.asarray(variable.numpy()) for variable in layer.weights}


def untrained_layers(model: Any) -> list[str]:
    """Each layer that still holds Keras' initial values, described, e.g. '`dense` (biases all exactly 0)': biases all
    0, or BatchNormalization's moving mean and variance still exactly 0 and 1 (any training step changes them)."""
    found = []
    for layer in _leaf_layers(model):
        weights = _weights_by_name(layer)
        if "moving_mean" in weights and "moving_variance" in weights:
            if not np.any(weights["moving_mean"]) and np.all(weights["moving_variance"] == 1.0):
                found.append(f"`{layer.name}` (moving mean and variance exactly 0 and 1)")
        elif "bias" in weights and weights["bias"].size and not np.any(weights["bias"]):
            found.append(f"`{layer.name}` (biases all exactly 0)")
    return found


def untrained_model_advice(model: Any) -> str:
    """Advice naming the layers that were never trained, only when some still hold their initial values; else ''."""
    found = untrained_layers(model)
    if not found:
        return ""
    return (f"Never trained: {', '.join(found)} still {'holds' if len(found) == 1 else 'hold'} Keras' initial values, "
            "which any training step changes. Train the model with `fit` (after `compile`) before checking it.")


OVERFIT_GAP = 0.05  # how much better on its training data than on held-out data a model must be to name overfitting


def underfit_or_overfit_advice(training_score: float, heldout_score: float, minimum_score: float,
                               underfit_advice: str, overfit_advice: str, gap: float = OVERFIT_GAP) -> str:
    """`underfit_advice` when the score on the training data is below the bar too; `overfit_advice` when it reaches
    the bar and exceeds the held-out score by `gap` or more; else ''."""
    if training_score < minimum_score:
        return underfit_advice
    if training_score - heldout_score >= gap:
        return overfit_advice
    return ""
