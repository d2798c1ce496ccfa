"""Shared diagnostics that turn a wrong answer into a message naming the mistake.

Every chapter's checks use these: wrong shape, dtype, NaN, off by a constant or a factor,
wrong axis, exceptions from student code, inputs changed in place, placeholders, and a
layer-by-layer diff of Keras models. Nothing here imports Keras at module level.
"""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any, Callable

import numpy as np

from dlcourse.collect import (is_keras_model, is_placeholder_function, safe_repr,  # noqa: F401  (re-exported)
                              short_text, student_line_of, type_name)


def article(noun: str) -> str:
    """'an int', 'a list': the noun with its indefinite article."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def describe_arguments(args: tuple) -> str:
    """The inputs of a case, e.g. `x = array([-2., 0., 3.])`, for messages."""
    return ", ".join(safe_repr(argument, limit=120) for argument in args)


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
    ("operands could not be broadcast together",
     "Two arrays have shapes that can't be combined element-wise (broadcast). Print the shapes of your "
     "intermediate arrays; a sum or max probably needs `keepdims=True`, or an axis is wrong."),
)


def explain_exception(exception: BaseException) -> str:
    """Explain an exception raised by student code, naming the likely mistake and the student's line."""
    from dlcourse.collect import exception_record

    return explain_exception_record(exception_record(exception))


_BROADCAST_SHAPES = re.compile(r"shapes \(([\d, ]*)\)\s*\(([\d, ]*)\)")


def describe_elementwise_product(message: str) -> str:
    """If a broadcasting error involves two matrices that a matrix product would accept, say `*` was used for `@`."""
    found = _BROADCAST_SHAPES.search(message)
    if not found:
        return ""
    shapes = [tuple(int(size) for size in group.replace(" ", "").split(",") if size) for group in found.groups()]
    left, right = shapes
    if len(left) >= 1 and len(right) == 2 and left[-1] == right[0]:
        return (f"An array of shape {left} and one of shape {right} fit a matrix product but not an element-wise "
                "one: you probably used `*` (element-wise) where the matrix product `@` (or `np.dot`) was meant.")
    return ""


def explain_exception_record(record: dict[str, Any]) -> str:
    """Explain an exception from student code (as recorded by collect.exception_record), naming the likely mistake."""
    if record.get("system_exit"):
        return "Your code called `sys.exit()` (or `exit()`); remove that call."
    text = f"Your code raised {record['type']}: {record['message']}"
    lowered = str(record["message"]).lower()
    explanation = describe_elementwise_product(lowered) if "could not be broadcast" in lowered else ""
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
        return f"Expected {describe_kind(expected_array)}, but your function returned {article(type_name(got))}: {safe_repr(got, 100)}."
    return (describe_shape_problem(expected_array, got_array)
            or describe_dtype_problem(expected_array, got_array)
            or describe_non_finite_problem(expected_array, got_array)
            or describe_value_problem(expected_array, got_array, rtol, atol))


def compare_dicts(expected: dict, got: Any, rtol: float, atol: float) -> str:
    """'' when a dict result has the expected keys and values, else what differs, naming the key."""
    if not isinstance(got, dict):
        return (f"Expected a dict with the keys {', '.join(map(repr, expected))}, but your function returned "
                f"{article(type_name(got))}: {safe_repr(got, 100)}.")
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
    if not isinstance(got, (list, tuple)):
        return (f"Expected {count} results (return them as a tuple, e.g. `return first, second`), but your function "
                f"returned {article(type_name(got))}: {safe_repr(got, 100)}.")
    if len(got) != count:
        return f"Expected {count} results, but your function returned {len(got)}."
    for index, (expected_item, got_item) in enumerate(zip(expected, got)):
        problem = compare_values(expected_item, got_item, rtol, atol)
        if problem:
            return f"In result {index + 1} of {count}: {problem}"
    return ""


def describe_kind(array: np.ndarray) -> str:
    """'a number' or 'an array of shape (…)', for messages."""
    return "a single number" if array.ndim == 0 else f"an array of shape {array.shape}"


def describe_shape_problem(expected: np.ndarray, got: np.ndarray) -> str:
    """A message when the shapes differ, guessing transposition or a reduction."""
    if expected.shape == got.shape:
        return ""
    message = f"Wrong shape: expected {expected.shape}, got {got.shape}."
    if got.ndim == 0 and expected.ndim > 0:
        message += (" You returned a single number: something reduced the whole array "
                    "(e.g. `np.max`/`np.sum` without `axis`, or built-in `max`) where an element-wise "
                    "operation (e.g. `np.maximum`) was needed.")
    elif expected.ndim >= 2 and got.shape == expected.shape[::-1]:
        message += " It looks transposed: check the order of the matrix product (inputs @ kernel) or a `.T`."
    elif got.ndim == expected.ndim - 1:
        message += (" One axis is missing: you reduced along an axis (e.g. `np.max(x, 0)` is a reduction; "
                    "`np.maximum(x, 0)` is element-wise), or forgot `keepdims=True`.")
    elif got.ndim > expected.ndim or got.size > expected.size:
        message += " There are extra dimensions or elements: check for broadcasting between arrays of different shapes."
    return message


def describe_dtype_problem(expected: np.ndarray, got: np.ndarray) -> str:
    """A message when a floating-point result was expected but integers or booleans came back."""
    if expected.dtype.kind == "f" and got.dtype.kind in "iub":
        return (f"Wrong dtype: expected floating-point numbers, got {got.dtype}. Integer arithmetic truncates "
                "results; make sure your computation keeps floats (e.g. use `1.0` instead of `1`).")
    if expected.dtype.kind in "iu" and got.dtype.kind == "f" and not np.all(np.isfinite(got)):
        return f"Expected a whole number, got {safe_repr(got)}."
    return ""


# What makes NaN or infinity; the message lists them all rather than guess one without evidence (issue 21).
NAN_CAUSES = ("0/0, infinity − infinity or infinity/infinity (`np.exp` of a number above about 709 is infinity), "
              "or the square root or logarithm of a negative number")
INFINITY_CAUSES = "a division by zero, or an overflow (`np.exp` of a number above about 709)"


def describe_non_finite_problem(expected: np.ndarray, got: np.ndarray) -> str:
    """A message when the result has NaN or infinity where the reference is finite."""
    if got.dtype.kind not in "fc":
        return ""
    finite_expected = np.isfinite(expected)
    bad = ~np.isfinite(got) & finite_expected
    if not np.any(bad):
        return ""
    kind = "NaN" if np.any(np.isnan(got) & finite_expected) else "infinity"
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if got.ndim else ()
    where = f" at index {first}" if first else ""
    causes = NAN_CAUSES if kind == "NaN" else INFINITY_CAUSES
    return (f"Your result contains {kind}{where}, where the correct value is "
            f"{safe_repr(expected[first] if first else expected)}. Find the operation in your formula that makes "
            f"{kind} on this input: {causes}.")


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
    index = np.unravel_index(int(np.argmax(np.abs(difference))), difference.shape) if difference.ndim else ()
    return (f"Wrong values: expected {safe_repr(expected)}, got {safe_repr(got)}."
            + (f"\nThe largest difference is at index {tuple(int(i) for i in index)}: expected "
               f"{float(expected_float[index]):.6g}, got {float(got_float[index]):.6g}." if difference.ndim else ""))


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
                     "trainable_params": _trainable_parameter_count(layer)})
    return rows


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
    "output_shape": "a different number of units (output shape)",
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


def diff_models(expected_rows: list[dict[str, Any]], got_rows: list[dict[str, Any]]) -> str:
    """'' if the layer summaries agree, else a layer-by-layer diff naming the first mismatch."""
    if expected_rows == got_rows:
        return ""
    lines = ["Your model's architecture differs from the one asked for (layer by layer):"]
    first_problem = ""
    for index in range(max(len(expected_rows), len(got_rows))):
        expected = expected_rows[index] if index < len(expected_rows) else None
        got = got_rows[index] if index < len(got_rows) else None
        marker = "  " if expected == got else "\u2192 "
        lines.append(f"{marker}layer {index + 1}: expected {format_layer_row(expected)}")
        lines.append(f"  {' ' * len(f'layer {index + 1}: ')}yours    {format_layer_row(got)}")
        if expected != got and not first_problem:
            first_problem = _describe_first_layer_problem(index, expected, got)
    expected_total = sum(row["params"] for row in expected_rows)
    got_total = sum(row["params"] for row in got_rows)
    lines.append(f"Total parameters: expected {expected_total}, yours {got_total}.")
    expected_trainable = sum(row.get("trainable_params", row["params"]) for row in expected_rows)
    got_trainable = sum(row.get("trainable_params", row["params"]) for row in got_rows)
    if expected_trainable != got_trainable:
        lines.append(f"Trainable parameters: expected {expected_trainable}, yours {got_trainable}.")
    lines.append(first_problem)
    return "\n".join(lines)


def _describe_first_layer_problem(index: int, expected: dict | None, got: dict | None) -> str:
    """A sentence about the first layer that differs."""
    if got is None:
        return f"Layer {index + 1} is missing: your model has too few layers."
    if expected is None:
        return f"Layer {index + 1} is extra: your model has too many layers."
    fields = [field for field in ("type", "output_shape", "activation", "params", "trainable_params")
              if expected.get(field) != got.get(field)]
    explanation = _FIELD_EXPLANATIONS[fields[0]]
    sentence = f"First difference at layer {index + 1}: {explanation}."
    if "activation" in fields and got["activation"] == "linear" and expected["activation"] != "linear":
        sentence += (" Without a non-linear activation, stacked Dense layers collapse into a single linear map, "
                     "so the model can only draw straight decision boundaries.")
    return sentence


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
