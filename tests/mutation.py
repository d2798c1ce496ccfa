"""A mutation harness for the references of function exercises (issue 21 §1).

Each mutant is one ML-aware operator applied at one location of an exercise's reference function (or of a
helper function of the same module that the reference calls by name). The mutant is compiled in the
reference's module globals and run through `checks.check`; a mutant the check passes is a gap, unless it
behaves like the reference on seeded random probe inputs derived from the cases (then it is likely equivalent).
A rejected mutant is flagged when its message may name the wrong cause (see `wrong_cause_topics` and
`misnamed_mistake_probe`). `python tests/run_mutation_report.py --chapters 1,2,3` writes the Markdown report.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import linecache
import re
import sys
import textwrap
import time
import types
from typing import Any, Callable, Iterator

import numpy as np

from dlcourse import checks
from dlcourse.checks.framework import FunctionExercise, ScoredFunctionExercise

EQUIVALENCE_TOLERANCE = 1e-9
# One probe per style and case: (noise scale, what non-finite values become: None keeps them, else inf or NaN).
PROBE_STYLES = ((0.1, None), (0.3, None), (1.0, None), (0.5, float("inf")), (2.0, float("nan")))
MISTAKE_TOLERANCE = 1e-6  # a mutant "behaves like" a named mistake on a probe within this tolerance
SMALL_EPSILON_LIMIT = 1e-4
MUTANT_MODULE_PREFIX = "dlcourse_mutants."  # not under dlcourse.checks, so the check does not see the reference
REDUCTION_SWAPS = {"sum": "mean", "mean": "sum", "max": "min", "min": "max", "amax": "amin", "amin": "amax"}
NAN_INF_SWAPS = {"isnan": "isinf", "isinf": "isnan"}
MAXIMUM_MINIMUM_SWAPS = {"maximum": "minimum", "minimum": "maximum"}


# ------------------------------------------------------------------ small AST helpers


def is_numpy_call(node: ast.AST, names: Any) -> bool:
    """Whether a node is a call `np.<name>(...)` (or `numpy.<name>(...)`) for one of the names."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
            and isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy"))


def is_method_call(node: ast.AST, names: Any) -> bool:
    """Whether a node is a method call `value.<name>(...)` on something other than the NumPy module."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy")))


def is_builtin_call(node: ast.AST, names: Any) -> bool:
    """Whether a node is a call of a plain name such as `max(...)` or `range(...)`."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names


def with_function_attribute(call: ast.Call, attribute: str) -> ast.Call:
    """A copy of a call `x.a(...)` whose function attribute is renamed to `x.<attribute>(...)`."""
    renamed = copy.deepcopy(call)
    renamed.func.attr = attribute
    return renamed


def integer_value(node: ast.AST) -> int | None:
    """The integer a node spells (`3`, `-1`), or None."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and type(node.operand.value) is int:
        return -node.operand.value
    return None


def plus_constant(node: ast.AST, amount: int) -> ast.BinOp:
    """`(node) + amount` or `(node) - amount`."""
    operator = ast.Add() if amount > 0 else ast.Sub()
    return ast.BinOp(left=copy.deepcopy(node), op=operator, right=ast.Constant(abs(amount)))


def short_source(node: ast.AST, limit: int = 70) -> str:
    """The node as source, shortened to `limit` characters."""
    text = ast.unparse(node)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ------------------------------------------------------------------ operators


class Operator:
    """One kind of mutation: finds its sites in a tree and proposes replacements for a node."""

    name = ""
    cause = ""
    changes_shapes = False  # whether the mutation can change an output's shape (or break broadcasting)
    numeric_stability = False  # whether the mutation can make exp/log overflow or divide by zero
    changes_dtype = False  # whether the mutation can change an output's dtype

    def replacements(self, node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.AST]:
        """The replacement nodes this operator proposes for one node (empty when it does not apply)."""
        raise NotImplementedError


class SwapReduction(Operator):
    """np.sum ↔ np.mean, max ↔ min, as NumPy functions, methods or built-ins."""

    name = "swap_reduction"
    cause = "the wrong reduction (sum instead of mean, max instead of min, or the reverse)"
    numeric_stability = True  # max ↔ min breaks softmax's max subtraction

    def replacements(self, node, parents):
        """The call with the swapped reduction."""
        if is_numpy_call(node, REDUCTION_SWAPS) or is_method_call(node, REDUCTION_SWAPS):
            return [with_function_attribute(node, REDUCTION_SWAPS[node.func.attr])]
        if is_builtin_call(node, ("max", "min")):
            swapped = copy.deepcopy(node)
            swapped.func.id = REDUCTION_SWAPS[node.func.id]
            return [swapped]
        return []


class ChangeAxis(Operator):
    """Drop an `axis=` keyword, or change it (to 0, or to -1 when it is 0)."""

    name = "change_axis"
    cause = "a reduction over the wrong axis (or over the whole array)"
    changes_shapes = True

    def replacements(self, node, parents):
        """The call without its axis keyword, and with another axis."""
        if not isinstance(node, ast.Call):
            return []
        results = []
        for position, keyword in enumerate(node.keywords):
            if keyword.arg != "axis":
                continue
            dropped = copy.deepcopy(node)
            del dropped.keywords[position]
            results.append(dropped)
            changed = copy.deepcopy(node)
            changed.keywords[position].value = ast.Constant(-1 if integer_value(keyword.value) == 0 else 0)
            results.append(changed)
        return results


class DropKeepdims(Operator):
    """Drop `keepdims=True`."""

    name = "drop_keepdims"
    cause = "a missing keepdims=True, so the reduced array no longer broadcasts against the original"
    changes_shapes = True

    def replacements(self, node, parents):
        """The call without keepdims=True."""
        if not isinstance(node, ast.Call):
            return []
        positions = [position for position, keyword in enumerate(node.keywords)
                     if keyword.arg == "keepdims" and isinstance(keyword.value, ast.Constant)
                     and keyword.value.value is True]
        results = []
        for position in positions:
            dropped = copy.deepcopy(node)
            del dropped.keywords[position]
            results.append(dropped)
        return results


class DropTranspose(Operator):
    """Drop a `.T` or an `np.transpose(x)`."""

    name = "drop_transpose"
    cause = "a missing transpose"
    changes_shapes = True

    def replacements(self, node, parents):
        """The untransposed operand."""
        if isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
            return [copy.deepcopy(node.value)]
        if is_numpy_call(node, ("transpose",)) and len(node.args) == 1:
            return [copy.deepcopy(node.args[0])]
        return []


class OffByOne(Operator):
    """±1 on an integer constant, a slice bound or a non-constant `range` argument."""

    name = "off_by_one"
    cause = "an off-by-one error in an index, bound or integer constant"
    changes_shapes = True
    changes_dtype = True

    def replacements(self, node, parents):
        """The node plus one and minus one, where it is an integer constant, slice bound or range argument."""
        parent = parents.get(node)
        if isinstance(parent, ast.keyword) and parent.arg == "axis":
            return []  # ChangeAxis covers axis values
        if isinstance(parent, ast.UnaryOp) and integer_value(parent) is not None:
            return []  # `-1` is mutated as a whole
        value = integer_value(node)
        if value is not None:
            return [ast.Constant(value + 1) if value + 1 >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-(value + 1))),
                    ast.Constant(value - 1) if value - 1 >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-(value - 1)))]
        if isinstance(parent, ast.Slice) and node in (parent.lower, parent.upper):
            return [plus_constant(node, 1), plus_constant(node, -1)]
        if is_builtin_call(parent, ("range",)) and node in parent.args:
            return [plus_constant(node, 1), plus_constant(node, -1)]
        return []


class SignFlip(Operator):
    """Drop a unary minus, or turn `a - b` into `a + b` and back."""

    name = "sign_flip"
    cause = "a sign error"

    def replacements(self, node, parents):
        """The node with its sign flipped."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and integer_value(node) is None:
            return [copy.deepcopy(node.operand)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            flipped = copy.deepcopy(node)
            flipped.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            return [flipped]
        return []


class DropAdditiveTerm(Operator):
    """`a + b` → `a` and `b`; `a - b` → `a` and `-b`."""

    name = "drop_additive_term"
    cause = "a missing term of a sum or difference"
    changes_shapes = True  # the dropped term may be the one that broadcasts to the full shape
    numeric_stability = True  # dropping softmax's max subtraction or an added epsilon
    changes_dtype = True

    def replacements(self, node, parents):
        """The node without its right term, and without its left term."""
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub))):
            return []
        right = copy.deepcopy(node.right)
        return [copy.deepcopy(node.left), right if isinstance(node.op, ast.Add) else ast.UnaryOp(ast.USub(), right)]


class SwapDivision(Operator):
    """`/` ↔ `//`."""

    name = "swap_division"
    cause = "floor division instead of true division (or the reverse)"
    changes_dtype = True
    numeric_stability = True

    def replacements(self, node, parents):
        """The division with the other operator."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv)):
            swapped = copy.deepcopy(node)
            swapped.op = ast.FloorDiv() if isinstance(node.op, ast.Div) else ast.Div()
            return [swapped]
        return []


class ChangeConstant(Operator):
    """Float constants: 2.0 → 1.0, 0.5 → 1.0, a small epsilon (below 1e-4) → 0.0."""

    name = "change_constant"
    cause = "a wrong constant factor, or a missing epsilon"
    numeric_stability = True
    changes_dtype = True

    def replacements(self, node, parents):
        """The node with the changed constant."""
        if not (isinstance(node, ast.Constant) and type(node.value) is float):
            return []
        if node.value in (2.0, 0.5):
            return [ast.Constant(1.0)]
        if 0 < abs(node.value) < SMALL_EPSILON_LIMIT:
            return [ast.Constant(0.0)]
        return []


class SwapNanInf(Operator):
    """np.isnan ↔ np.isinf; np.isfinite(x) → ~np.isnan(x) and ~np.isinf(x)."""

    name = "swap_nan_inf"
    cause = "a test for NaN where infinities matter too (or the reverse)"

    def replacements(self, node, parents):
        """The call testing for the other kind of non-finite value."""
        if is_numpy_call(node, NAN_INF_SWAPS):
            return [with_function_attribute(node, NAN_INF_SWAPS[node.func.attr])]
        if is_numpy_call(node, ("isfinite",)):
            return [ast.UnaryOp(ast.Invert(), with_function_attribute(node, test)) for test in ("isnan", "isinf")]
        return []


class SwapMaximumMinimum(Operator):
    """np.maximum ↔ np.minimum."""

    name = "swap_maximum_minimum"
    cause = "the element-wise minimum instead of the maximum (or the reverse)"

    def replacements(self, node, parents):
        """The call with the other element-wise extreme."""
        if is_numpy_call(node, MAXIMUM_MINIMUM_SWAPS):
            return [with_function_attribute(node, MAXIMUM_MINIMUM_SWAPS[node.func.attr])]
        return []


class DropClipWrapper(Operator):
    """`np.clip(x, ...)`, `np.maximum(x, c)`, `np.minimum(x, c)` → `x`."""

    name = "drop_clip_wrapper"
    cause = "a missing clip (or maximum/minimum bound), so values outside the safe range get through"
    numeric_stability = True

    def replacements(self, node, parents):
        """The call's first argument."""
        if is_numpy_call(node, ("clip", "maximum", "minimum")) and node.args:
            return [copy.deepcopy(node.args[0])]
        return []


OPERATORS: list[Operator] = [SwapReduction(), ChangeAxis(), DropKeepdims(), DropTranspose(), OffByOne(), SignFlip(),
                             DropAdditiveTerm(), SwapDivision(), ChangeConstant(), SwapNanInf(),
                             SwapMaximumMinimum(), DropClipWrapper()]


# ------------------------------------------------------------------ generating mutants


@dataclasses.dataclass
class Mutant:
    """One operator applied at one location of one function that an exercise's reference runs."""

    exercise_id: str
    operator: Operator
    function_name: str
    line: int  # in the reference's source file
    original: str  # the mutated node, as source
    replacement: str  # what it became, as source
    source: str  # the whole mutated function
    in_shape_position: bool = False  # the site lies in an index, slice, range or shape argument

    @property
    def location(self) -> str:
        """`function_name line N: original → replacement`."""
        return f"{self.function_name} line {self.line}: `{self.original}` → `{self.replacement}`"


@dataclasses.dataclass
class TargetFunction:
    """A function whose body is mutated: its name, dedented source, parsed tree and first line in its file."""

    name: str
    source: str
    tree: ast.Module
    first_line: int


def target_functions(reference: Callable) -> list[TargetFunction]:
    """The reference and the functions of its own module that it calls by name (one level)."""
    functions = [reference]
    module_name = reference.__module__
    for node in ast.walk(parse_function(reference)[1]):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            helper = reference.__globals__.get(node.id)
            if isinstance(helper, types.FunctionType) and helper.__module__ == module_name and helper not in functions:
                functions.append(helper)
    targets = []
    for function in functions:
        source, tree = parse_function(function)
        targets.append(TargetFunction(function.__name__, source, tree, inspect.getsourcelines(function)[1]))
    return targets


def parse_function(function: Callable) -> tuple[str, ast.Module]:
    """A function's dedented source and its parsed tree."""
    source = textwrap.dedent(inspect.getsource(function))
    return source, ast.parse(source)


def parent_map(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    """Each node's parent (keywords included)."""
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def replace_node(tree: ast.AST, target: ast.AST, replacement: ast.AST) -> None:
    """Put `replacement` where `target` is in `tree` (in place)."""
    parent = parent_map(tree)[target]
    for field, value in ast.iter_fields(parent):
        if value is target:
            setattr(parent, field, replacement)
            return
        if isinstance(value, list) and any(item is target for item in value):
            value[[index for index, item in enumerate(value) if item is target][0]] = replacement
            return
    raise ValueError("node not found under its parent")


def generate_mutants(exercise: FunctionExercise) -> list[Mutant]:
    """Every mutant of an exercise's reference: each operator at each location, without duplicates or no-ops."""
    mutants, seen_sources = [], set()
    if exercise.reference is None:  # a scored exercise without a reference: nothing to mutate
        return mutants
    for target in target_functions(exercise.reference):
        seen_sources.add(ast.unparse(target.tree))
        for mutant in target_mutants(exercise.exercise_id, target):
            if mutant.source not in seen_sources:
                seen_sources.add(mutant.source)
                mutants.append(mutant)
    return mutants


def target_mutants(exercise_id: str, target: TargetFunction) -> Iterator[Mutant]:
    """The mutants of one function, in (node, operator, replacement) order; the docstring is left alone."""
    nodes = [node for node in ast.walk(target.tree) if not is_docstring(node, target.tree)]
    parents = parent_map(target.tree)
    for node_index, node in enumerate(nodes):
        for operator in OPERATORS:
            for replacement_index, replacement in enumerate(operator.replacements(node, parents)):
                mutated_tree = copy.deepcopy(target.tree)
                mutated_nodes = [each for each in ast.walk(mutated_tree) if not is_docstring(each, mutated_tree)]
                copied_node = mutated_nodes[node_index]
                copied_replacement = operator.replacements(copied_node, parent_map(mutated_tree))[replacement_index]
                replace_node(mutated_tree, copied_node, copied_replacement)
                ast.fix_missing_locations(mutated_tree)
                line = target.first_line + getattr(node, "lineno", 1) - 1
                yield Mutant(exercise_id, operator, target.name, line, short_source(node),
                             short_source(replacement), ast.unparse(mutated_tree), in_shape_position(node, parents))


SHAPE_CALLS = ("range", "reshape", "zeros", "ones", "empty", "full", "ndindex", "permutation", "arange")


def in_shape_position(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether a node lies in a subscript's index or slice, or in an argument of a shape-making call (range…)."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Slice) or (isinstance(parent, ast.Subscript) and child is parent.slice):
            return True
        if isinstance(parent, ast.Call) and child is not parent.func:
            called = parent.func.attr if isinstance(parent.func, ast.Attribute) else getattr(parent.func, "id", "")
            if called in SHAPE_CALLS:
                return True
        child, parent = parent, parents.get(parent)
    return False


def is_docstring(node: ast.AST, tree: ast.Module) -> bool:
    """Whether a node is the function's docstring constant (or its expression statement)."""
    function = tree.body[0]
    first = function.body[0] if function.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and node in (first, first.value)


# ------------------------------------------------------------------ compiling and running mutants


class BrokenMutant(Exception):
    """The mutated source does not compile (or defining it fails)."""


def compile_mutant(exercise: FunctionExercise, mutant: Mutant) -> Callable:
    """The exercise's entry function with the mutant in place, compiled in a copy of the reference's module globals."""
    reference = exercise.reference
    namespace = dict(reference.__globals__)
    namespace["__name__"] = MUTANT_MODULE_PREFIX + reference.__module__.rsplit(".", 1)[-1]
    define_function(namespace, mutant.source, f"<mutant {mutant.exercise_id} {mutant.function_name}:{mutant.line}>")
    if mutant.function_name != reference.__name__:
        entry_source, _ = parse_function(reference)
        define_function(namespace, entry_source, f"<mutant entry {mutant.exercise_id}>")
    return namespace[reference.__name__]


def define_function(namespace: dict[str, Any], source: str, filename: str) -> None:
    """Execute a function definition in a namespace, registering its source so that `inspect.getsource` finds it."""
    try:
        code = compile(source, filename, "exec")
        exec(code, namespace)
    except Exception as exception:  # a syntax or definition-time error
        raise BrokenMutant(f"{type(exception).__name__}: {exception}") from exception
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)


# ------------------------------------------------------------------ probes and equivalence


def perturbed(value: Any, rng: np.random.Generator, style: tuple[float, float | None]) -> Any:
    """A value of the same structure, shape and dtype, with floats perturbed (kept in their range) and ints nudged up.

    `style` is (noise scale, None or the value that replaces every NaN and infinity): probes swap NaN and infinity
    so that a test for only one kind of non-finite value shows.
    """
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, str) or callable(value):
        return value
    if isinstance(value, dict):
        return {key: perturbed(item, rng, style) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and not all(isinstance(item, (int, float)) for item in value):
        return type(value)(perturbed(item, rng, style) for item in value)
    if isinstance(value, int):
        return value + int(rng.integers(0, 3))
    if isinstance(value, float):
        return float(perturbed_floats(np.array(value), rng, style))
    array = np.asarray(value)
    if array.dtype.kind == "f":
        result = perturbed_floats(array, rng, style)
    elif array.dtype.kind in "iu":
        result = array + rng.integers(0, 3, size=array.shape).astype(array.dtype)
    else:
        return value
    return type(value)(result.tolist()) if isinstance(value, (list, tuple)) else result


def perturbed_floats(array: np.ndarray, rng: np.random.Generator, style: tuple[float, float | None]) -> np.ndarray:
    """Floats scaled and shifted at random, clipped to [0, 1] when the original lies there, else to its finite range."""
    noise_scale, non_finite_value = style
    finite = array[np.isfinite(array)]
    non_finite = array if non_finite_value is None else np.full_like(array, non_finite_value)
    if finite.size == 0:
        return np.where(np.isfinite(array), array, non_finite)
    noise = rng.normal(size=array.shape)
    scale = max(float(np.std(finite)), float(np.mean(np.abs(finite))), 1e-3)
    result = array * (1.0 + 0.2 * rng.normal(size=array.shape)) + noise_scale * scale * noise
    if np.min(finite) >= 0.0 and np.max(finite) <= 1.0:
        result = np.clip(result, 0.0, 1.0)  # probabilities, labels and rates stay in [0, 1]
    elif np.min(finite) < np.max(finite):
        result = np.clip(result, np.min(finite), np.max(finite))
    return np.where(np.isfinite(array), result, non_finite).astype(array.dtype)


def probe_inputs(exercise: FunctionExercise, seed: int = 0) -> list[tuple[tuple, dict]]:
    """Seeded random inputs derived from the cases: one perturbation of each case's arguments per probe style."""
    rng = np.random.default_rng(seed)
    probes = []
    for case in exercise.cases:
        for style in PROBE_STYLES:
            probes.append((perturbed(copy.deepcopy(case.args), rng, style),
                           perturbed(copy.deepcopy(case.kwargs), rng, style)))
    return probes


def outcome(function: Callable, args: tuple, kwargs: dict) -> Any:
    """The function's output on deep copies of the arguments, or an ('exception', type name) marker."""
    try:
        with np.errstate(all="ignore"):
            return function(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    except Exception as exception:
        return ("exception", type(exception).__name__)


def values_equal(expected: Any, got: Any, tolerance: float = EQUIVALENCE_TOLERANCE) -> bool:
    """Whether two outputs are equal within a tolerance, structure by structure (NaN equals NaN)."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and expected.keys() == got.keys() and all(
            values_equal(expected[key], got[key], tolerance) for key in expected)
    if isinstance(expected, (list, tuple)) and not isinstance(got, np.ndarray):
        return isinstance(got, (list, tuple)) and len(expected) == len(got) and all(
            values_equal(item, other, tolerance) for item, other in zip(expected, got))
    try:
        expected_array, got_array = np.asarray(expected), np.asarray(got)
        if expected_array.shape != got_array.shape:
            return False
        if expected_array.dtype.kind in "fciub" and got_array.dtype.kind in "fciub":
            return bool(np.allclose(expected_array, got_array, rtol=tolerance, atol=tolerance,
                                    equal_nan=True))
        return bool(np.array_equal(expected_array, got_array))
    except Exception:
        return expected == got


def first_difference(exercise: FunctionExercise, mutated: Callable,
                     probes: list[tuple[tuple, dict]]) -> tuple[tuple, dict, Any, Any] | None:
    """The first probe on which the mutant's output differs from the reference's: (args, kwargs, expected, got)."""
    for args, kwargs in probes:
        expected, got = outcome(exercise.reference, args, kwargs), outcome(mutated, args, kwargs)
        if not values_equal(expected, got):
            return args, kwargs, expected, got
    return None


# ------------------------------------------------------------------ classifying


REJECTED, LIKELY_EQUIVALENT, SURVIVED, BROKEN = "rejected", "likely equivalent", "survived", "broken"

# Topics a failure message may name, each with the words that name it.
MESSAGE_TOPICS = {
    "overflow": re.compile(r"overflow", re.IGNORECASE),
    "shape": re.compile(r"wrong shape|broadcast|shapes don't line up", re.IGNORECASE),
    "dtype": re.compile(r"wrong dtype|integer arithmetic", re.IGNORECASE),
    "axis": re.compile(r"along axis|axis \d|wrong axis|without `axis`|across the batch", re.IGNORECASE),
}
STABILITY_WORDS = re.compile(r"exp|log|max|clip|epsilon|eps\b|sqrt", re.IGNORECASE)


@dataclasses.dataclass
class MutantResult:
    """What happened to one mutant."""

    mutant: Mutant
    verdict: str
    status: str = ""
    message: str = ""
    difference: tuple | None = None  # survived: (args, kwargs, reference's, mutant's) on the first differing probe;
    # rejected with a misnamed mistake: (args, kwargs, the named mistake's, mutant's) on the first differing probe
    wrong_cause_topics: tuple[str, ...] = ()


def plausible_topics(mutant: Mutant) -> set[str]:
    """The message topics that this mutant could honestly cause."""
    operator = mutant.operator
    topics = set()
    if operator.changes_shapes or mutant.in_shape_position:
        topics |= {"shape", "axis"}
    if operator.changes_dtype:
        topics.add("dtype")
    if operator.numeric_stability and STABILITY_WORDS.search(mutant.source):
        topics.add("overflow")
    if STABILITY_WORDS.search(mutant.original):
        topics.add("overflow")
    return topics


def wrong_cause_topics(mutant: Mutant, message: str) -> tuple[str, ...]:
    """The topics the message names that the mutant cannot have caused (a heuristic)."""
    named = {topic for topic, pattern in MESSAGE_TOPICS.items() if pattern.search(message)}
    return tuple(sorted(named - plausible_topics(mutant)))


def named_mistake(exercise: FunctionExercise, message: str):
    """The declared mistake that a failure message names on its "Likely mistake:" line, or None."""
    for mistake in exercise.mistakes:
        if f"Likely mistake: {mistake.description}" in message:
            return mistake
    return None


def is_finite_output(value: Any) -> bool:
    """Whether an output is a value (not an exception marker) whose numbers are all finite."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "exception":
        return False
    if isinstance(value, dict):
        return all(is_finite_output(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return all(is_finite_output(item) for item in value)
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return True
    return bool(np.all(np.isfinite(array)))


def misnamed_mistake_probe(exercise: FunctionExercise, mutated: Callable, message: str,
                           probes: list[tuple[tuple, dict]]) -> tuple | None:
    """A probe on which the mistake that the message names differs from the mutant (both finite), else None."""
    mistake = named_mistake(exercise, message)
    if mistake is None:
        return None
    for args, kwargs in probes:
        if not is_finite_output(outcome(exercise.reference, args, kwargs)):
            continue  # a probe outside the function's domain says nothing about the named mistake
        mistaken, got = outcome(mistake.function, args, kwargs), outcome(mutated, args, kwargs)
        if is_finite_output(mistaken) and is_finite_output(got) and not values_equal(mistaken, got, MISTAKE_TOLERANCE):
            return args, kwargs, mistaken, got
    return None


def classify(exercise: FunctionExercise, mutant: Mutant, probes: list[tuple[tuple, dict]]) -> MutantResult:
    """Compile the mutant, check it, and sort it into rejected, likely equivalent, survived or broken."""
    try:
        mutated = compile_mutant(exercise, mutant)
    except BrokenMutant as problem:
        return MutantResult(mutant, BROKEN, message=str(problem))
    with np.errstate(all="ignore"):
        result = checks.check(exercise.exercise_id, mutated, record=False)
    if result.status != "passed":
        topics = wrong_cause_topics(mutant, result.message)
        misnamed = misnamed_mistake_probe(exercise, mutated, result.message, probes)
        if misnamed is not None:
            topics += ("named mistake",)
        return MutantResult(mutant, REJECTED, result.status, result.message, misnamed, topics)
    difference = first_difference(exercise, mutated, probes)
    verdict = SURVIVED if difference is not None else LIKELY_EQUIVALENT
    return MutantResult(mutant, verdict, result.status, result.message, difference)


@dataclasses.dataclass
class ExerciseReport:
    """The results of all mutants of one exercise, with the time taken."""

    exercise_id: str
    results: list[MutantResult]
    seconds: float

    def count(self, verdict: str) -> int:
        """How many mutants got this verdict."""
        return sum(result.verdict == verdict for result in self.results)

    @property
    def flagged(self) -> list[MutantResult]:
        """Rejected mutants whose message may name the wrong cause."""
        return [result for result in self.results if result.wrong_cause_topics]


def run_exercise(exercise: FunctionExercise) -> ExerciseReport:
    """Generate, compile, check and classify every mutant of one exercise."""
    started = time.monotonic()
    probes = probe_inputs(exercise)
    results = [classify(exercise, mutant, probes) for mutant in generate_mutants(exercise)]
    return ExerciseReport(exercise.exercise_id, results, time.monotonic() - started)


def function_exercises(chapters: list[int]) -> list[FunctionExercise]:
    """The plain function exercises of these chapters (scored ones, which train, are left out)."""
    selected = []
    for chapter in chapters:
        for exercise_id in checks.exercises(chapter):
            exercise = checks.get_exercise(exercise_id)
            if isinstance(exercise, FunctionExercise) and not isinstance(exercise, ScoredFunctionExercise):
                selected.append(exercise)
    return selected


# ------------------------------------------------------------------ the Markdown report


def short_repr(value: Any, limit: int = 160) -> str:
    """A one-line repr, shortened to `limit` characters."""
    with np.printoptions(precision=4, threshold=12, linewidth=10_000):
        text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def markdown_report(reports: list[ExerciseReport], chapters: list[int]) -> str:
    """The whole report: totals per exercise, real gaps, likely equivalent mutants and suspicious messages."""
    lines = [f"# Mutation report: chapters {', '.join(f'{chapter:02d}' for chapter in chapters)}", "",
             "Generated by `python tests/run_mutation_report.py` (issue 21 §1). Operators: "
             + ", ".join(f"`{operator.name}`" for operator in OPERATORS) + ".", "",
             "| exercise | generated | rejected | likely equivalent | SURVIVED | broken | flagged messages | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for report in reports:
        lines.append(f"| {report.exercise_id} | {len(report.results)} | {report.count(REJECTED)} | "
                     f"{report.count(LIKELY_EQUIVALENT)} | {report.count(SURVIVED)} | {report.count(BROKEN)} | "
                     f"{len(report.flagged)} | {report.seconds:.1f} |")
    lines.append(f"| **total** | {sum(len(report.results) for report in reports)} | "
                 + " | ".join(str(sum(report.count(verdict) for report in reports))
                              for verdict in (REJECTED, LIKELY_EQUIVALENT, SURVIVED, BROKEN))
                 + f" | {sum(len(report.flagged) for report in reports)} | "
                   f"{sum(report.seconds for report in reports):.1f} |")
    lines += ["", "## SURVIVED: real gaps (the check passes a mutant that differs on a probe input)", ""]
    lines += gap_lines(reports) or ["None."]
    lines += ["", "## Likely equivalent (the check passes; the outputs equal the reference's on every probe)", ""]
    lines += [f"- {result.mutant.exercise_id}, `{result.mutant.operator.name}`, {result.mutant.location}: "
              f"equal to the reference within {EQUIVALENCE_TOLERANCE:g} on all {len(PROBE_STYLES)} probes per case"
              for report in reports for result in report.results if result.verdict == LIKELY_EQUIVALENT] or ["None."]
    lines += ["", "## Messages that may name the wrong cause", "",
              "Heuristics: the message names a topic (overflow, shape/broadcasting, dtype, axis) that the mutant's "
              "operator cannot cause at that site; or its \"Likely mistake:\" line names a declared mistake whose "
              "function differs from the mutant on a probe input (it matched on the cases only by coincidence).", ""]
    lines += flagged_lines(reports) or ["None."]
    broken = [result for report in reports for result in report.results if result.verdict == BROKEN]
    if broken:
        lines += ["", "## Broken mutants (do not compile)", ""]
        lines += [f"- {result.mutant.exercise_id}, {result.mutant.location}: {result.message}" for result in broken]
    return "\n".join(lines) + "\n"


def gap_lines(reports: list[ExerciseReport]) -> list[str]:
    """One bullet per surviving mutant: operator, location, cause and the probe on which it differs."""
    lines = []
    for report in reports:
        for result in report.results:
            if result.verdict != SURVIVED:
                continue
            args, kwargs, expected, got = result.difference
            lines.append(f"- **{result.mutant.exercise_id}**, `{result.mutant.operator.name}` "
                         f"({result.mutant.operator.cause}), {result.mutant.location}")
            keywords = f", kwargs={short_repr(kwargs)}" if kwargs else ""
            lines.append(f"  - probe input: args={short_repr(args)}{keywords}")
            lines.append(f"  - reference: {short_repr(expected)}; mutant: {short_repr(got)}")
    return lines


def flagged_lines(reports: list[ExerciseReport]) -> list[str]:
    """One bullet per rejected mutant whose message may name a cause that is not the mutant's."""
    lines = []
    for report in reports:
        for result in report.flagged:
            message = " ".join(result.message.split())
            lines.append(f"- **{result.mutant.exercise_id}**, `{result.mutant.operator.name}`, "
                         f"{result.mutant.location}; "
                         f"names {', '.join(result.wrong_cause_topics)}: \"{message[:400]}\"")
            if result.difference is not None:
                args, kwargs, mistaken, got = result.difference
                lines.append(f"  - probe where the named mistake differs: args={short_repr(args)}; "
                             f"the mistake gives {short_repr(mistaken)}, the mutant {short_repr(got)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line: `--chapters 1,2,3 --out tests/mutation_report.md`."""
    import argparse

    parser = argparse.ArgumentParser(description="Mutation report for the references of function exercises.")
    parser.add_argument("--chapters", default="1,2,3", help="comma-separated chapter numbers")
    parser.add_argument("--out", default="tests/mutation_report.md", help="where to write the Markdown report")
    options = parser.parse_args(argv)
    chapters = [int(text) for text in options.chapters.split(",") if text.strip()]
    reports = []
    for exercise in function_exercises(chapters):
        report = run_exercise(exercise)
        print(f"{report.exercise_id}: {len(report.results)} mutants, {report.count(REJECTED)} rejected, "
              f"{report.count(LIKELY_EQUIVALENT)} likely equivalent, {report.count(SURVIVED)} survived, "
              f"{report.count(BROKEN)} broken, {len(report.flagged)} flagged ({report.seconds:.1f} s)", flush=True)
        reports.append(report)
    with open(options.out, "w", encoding="utf-8") as output:
        output.write(markdown_report(reports, chapters))
    print(f"wrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
