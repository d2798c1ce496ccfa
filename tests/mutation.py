"""A mutation harness for the references of the exercises (issue 21 §1).

Each mutant is one ML-aware operator applied at one location of an exercise's reference function (or of a
helper function of the same module that the reference calls by name, or of a course module it imports, such as
`architectures.small_cnn`). Function exercises: the mutant is compiled in the reference's module globals and run
through `checks.check`; a mutant the check passes is a gap, unless it behaves like the reference on seeded random
probe inputs derived from the cases (then it is likely equivalent, and EQUIVALENCE_REASONS says why). Scored
exercises: a mutant whose output reaches the bar is a valid answer. Model exercises: the mutant builds an untrained
model whose layer summary is diffed with the reference's, as `ModelExercise.judge` does before it scores (no
training). Choice and configured-object exercises have no reference code: they are listed as not mutated.
A rejected mutant is flagged when its message may name the wrong cause (see `wrong_cause_topics`,
`misnamed_mistake_probe` and `model_wrong_cause_topics`).
`python tests/run_mutation_report.py --chapters 1,2,3,4,6,7,8` writes the Markdown report.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
import inspect
import json
import linecache
import re
import sys
import textwrap
import time
import types
import unittest.mock
import warnings
from typing import Any, Callable, Iterator

import numpy as np

from dlcourse import checks
from dlcourse.checks import diagnostics
from dlcourse.checks.framework import (ChoiceExercise, ConfiguredObjectExercise, Exercise, FunctionExercise,
                                       DesignExercise, ModelExercise, ScoredFunctionExercise)

EQUIVALENCE_TOLERANCE = 1e-9
# Mutants reasoned to be equivalent: (exercise id, mutated function, original, replacement) -> why.
EQUIVALENCE_REASONS = {
    ("ch03.best_learning_rate", "reference_best_learning_rate", "np.isfinite(losses)", "~np.isinf(losses)"):
        "a run with NaN (and no inf) is no longer skipped, but its `losses.min()` is NaN and `NaN < best_loss` is "
        "False, so it is never picked: the same rate wins",
    ("ch06.gan_training_step", "_tiny_step", "-1.0", "1.0"):
        "the mutated tuple is `(1.0, -1.0) if swap_labels else ...`, the branch of the swapped-labels mistake; the "
        "reference never sets swap_labels",
    ("ch06.gan_training_step", "_tiny_step", "-_sigmoid(fake_logits) / len(fake)", "-_sigmoid(fake_logits) // len(fake)"):
        "the `generator_loss == 'minimax'` branch, which only the minimax mistake takes; the reference never does",
    ("ch06.gan_training_step", "_tiny_step", "-_sigmoid(fake_logits)", "_sigmoid(fake_logits)"):
        "the `generator_loss == 'minimax'` branch, which only the minimax mistake takes; the reference never does",
    ("ch06.gan_training_step", "_tiny_step", "_sigmoid(fake_logits) / len(fake)", "_sigmoid(fake_logits) // len(fake)"):
        "the `else` branch of `generator_loss` (the mistake of descending D's loss); the reference never takes it",
    ("ch06.tile_images", "reference_tile_images", "4", "5"):
        "`images.ndim == 5` leaves a 4-D batch (N, H, W, 1) unsqueezed, but `images.shape[1:3]` is still (H, W) and "
        "the reshape to (rows, cols, H, W) takes the size-1 channel axis along: the same grid",
    ("ch06.tile_images", "reference_tile_images", "0", "-1"):
        "`images[..., -1]` and `images[..., 0]` are the same slice of a channel axis of size 1 (the only 4-D input "
        "the exercise has: one grey channel)",
    ("ch06.tile_images", "reference_tile_images", "3", "4"):
        "`images.shape[1:4]` of the 3-D batch (N, H, W) is `images.shape[1:3]`: a slice past the end stops there",
    ("ch04.cnn_classifier", "small_cnn", "keras.layers.MaxPooling2D(2)", "keras.layers.MaxPooling2D(2, padding='same')"):
        "the first pooling gets 26x26 maps (28 - 3 + 1): 26 is even, so 'same' and 'valid' 2x2 pooling take the "
        "same 13x13 windows (the second pooling, of 11x11 maps, differs and is rejected)",
    ("ch09.discounted_returns", "reference_discounted_returns", "0", "-1"):
        "`np.zeros_like(rewards[-1])` is `np.zeros_like(rewards[0])`: every time step's row has the same shape, and "
        "only the shape of the zeros matters",
    ("ch06.generator", "build_generator_reference_model", "32", "33"):
        "`dcgan_generator(16, 33, 3)` starts from `33 // 4 = 8`, as 32 does: the same layers",
}
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


SEEDED_CALLS = ("default_rng", "RandomState", "seed", "set_random_seed", "PCG64", "SeedSequence")


class RemoveSeeding(Operator):
    """`np.random.default_rng(seed)` → `np.random.default_rng()` (and the like); a `seed=` keyword dropped."""

    name = "removed_seeding"
    cause = "a random generator that is not seeded, so the result does not reproduce"

    def replacements(self, node, parents):
        """The call without its seed."""
        if not isinstance(node, ast.Call):
            return []
        results = []
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if called in SEEDED_CALLS and (node.args or node.keywords):
            unseeded = copy.deepcopy(node)
            unseeded.args, unseeded.keywords = [], []
            results.append(unseeded)
        for position, keyword in enumerate(node.keywords):
            if keyword.arg == "seed" and called not in SEEDED_CALLS:
                dropped = copy.deepcopy(node)
                del dropped.keywords[position]
                results.append(dropped)
        return results


# ------------------------------------------------------------------ model operators (Keras model builders)

ACTIVATION_SWAPS = {"relu": "sigmoid", "sigmoid": "softmax", "softmax": "sigmoid", "tanh": "sigmoid",
                    "linear": "relu", "gelu": "relu", "elu": "relu"}
UNIT_ARGUMENTS = {"Dense": (0, "units"), "Conv1D": (0, "filters"), "Conv2D": (0, "filters"),
                  "Conv2DTranspose": (0, "filters"), "SimpleRNN": (0, "units"), "LSTM": (0, "units"),
                  "GRU": (0, "units"), "Embedding": (1, "output_dim")}
PADDED_LAYERS = ("Conv1D", "Conv2D", "Conv2DTranspose", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
                 "AveragePooling2D")
RECURRENT_LAYERS = ("SimpleRNN", "LSTM", "GRU")
LAYER_SETTING_NAMES = frozenset(getattr(diagnostics, "LAYER_SETTINGS", {}))  # settings the model diff compares
ALL_MODEL_FIELDS = frozenset({"type", "output_shape", "activation", "params", "trainable_params", "missing",
                              "extra"}) | LAYER_SETTING_NAMES


def keras_layer_name(node: ast.AST) -> str:
    """The class name X of a call `keras.layers.X(...)` or `layers.X(...)`, else ''."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        owner = node.func.value
        if (isinstance(owner, ast.Attribute) and owner.attr == "layers") or (
                isinstance(owner, ast.Name) and owner.id == "layers"):
            return node.func.attr
    return ""


def keyword_position(call: ast.Call, name: str) -> int | None:
    """The index of a keyword argument in a call, or None."""
    return next((position for position, keyword in enumerate(call.keywords) if keyword.arg == name), None)


def with_keyword(call: ast.Call, name: str, value: Any) -> ast.Call:
    """A copy of a call with the keyword `name` set to the constant `value` (added or replaced)."""
    changed = copy.deepcopy(call)
    position = keyword_position(changed, name)
    if position is None:
        changed.keywords.append(ast.keyword(arg=name, value=ast.Constant(value)))
    else:
        changed.keywords[position].value = ast.Constant(value)
    return changed


def scaled_integer(node: ast.AST, factor: float) -> ast.AST | None:
    """An integer argument doubled or halved: a constant where it is one (None when halving gives 0), else `(x) * 2`
    or `(x) // 2`."""
    value = integer_value(node)
    if value is not None:
        scaled = int(value * 2) if factor > 1 else value // 2
        return ast.Constant(scaled) if scaled > 0 and scaled != value else None
    operator = ast.Mult() if factor > 1 else ast.FloorDiv()
    return ast.BinOp(left=copy.deepcopy(node), op=operator, right=ast.Constant(2))


class ModelOperator(Operator):
    """An operator on Keras model builders; `model_fields` are the layer-summary fields it can honestly change."""

    model_fields = ALL_MODEL_FIELDS


class ChangeActivation(ModelOperator):
    """`activation="relu"` → another activation (`Activation("relu")` too); LeakyReLU → ReLU; a sigmoid added to a
    Dense layer that has no activation (a logit output)."""

    name = "change_activation"
    cause = "a changed activation function (or one added to a layer that must stay linear)"
    model_fields = frozenset({"activation", "type"})

    def replacements(self, node, parents):
        """The layer with another activation."""
        layer = keras_layer_name(node)
        if not layer:
            return []
        position = keyword_position(node, "activation")
        if position is not None:
            value = node.keywords[position].value
            if isinstance(value, ast.Constant) and value.value in ACTIVATION_SWAPS:
                return [with_keyword(node, "activation", ACTIVATION_SWAPS[value.value])]
            return []
        if layer == "Activation" and node.args and isinstance(node.args[0], ast.Constant) \
                and node.args[0].value in ACTIVATION_SWAPS:
            changed = copy.deepcopy(node)
            changed.args[0] = ast.Constant(ACTIVATION_SWAPS[node.args[0].value])
            return [changed]
        if layer == "LeakyReLU":
            changed = copy.deepcopy(node)
            changed.func.attr, changed.args, changed.keywords = "ReLU", [], []
            return [changed]
        if layer == "Dense":
            return [with_keyword(node, "activation", "sigmoid")]
        return []


class DropActivation(ModelOperator):
    """A layer's `activation=` keyword dropped (it becomes linear)."""

    name = "drop_activation"
    cause = "a missing activation (the layer stays linear)"
    model_fields = frozenset({"activation"})

    def replacements(self, node, parents):
        """The layer without its activation keyword."""
        position = keyword_position(node, "activation") if keras_layer_name(node) else None
        if position is None:
            return []
        value = node.keywords[position].value
        if isinstance(value, ast.Constant) and value.value in (None, "linear"):
            return []
        dropped = copy.deepcopy(node)
        del dropped.keywords[position]
        return [dropped]


class WrongUnits(ModelOperator):
    """The units (filters, embedding size) of a layer doubled and halved."""

    name = "wrong_units"
    cause = "a wrong number of units (or filters)"
    model_fields = frozenset({"output_shape", "params", "units", "filters", "output_dim"})

    def replacements(self, node, parents):
        """The layer with twice and half the units."""
        layer = keras_layer_name(node)
        if layer not in UNIT_ARGUMENTS:
            return []
        index, keyword_name = UNIT_ARGUMENTS[layer]
        position = keyword_position(node, keyword_name)
        original = node.keywords[position].value if position is not None else (
            node.args[index] if len(node.args) > index else None)
        if original is None:
            return []
        results = []
        for factor in (2.0, 0.5):
            scaled = scaled_integer(original, factor)
            if scaled is None:
                continue
            changed = copy.deepcopy(node)
            if position is not None:
                changed.keywords[position].value = scaled
            else:
                changed.args[index] = scaled
            results.append(changed)
        return results


class MissingLayer(ModelOperator):
    """A layer left out: an element of `keras.Sequential([...])`, or `Layer(...)(x)` → `x` in the functional API."""

    name = "missing_layer"
    cause = "a missing layer"

    def replacements(self, node, parents):
        """The layer list without each layer, or the layer's input instead of its output."""
        parent = parents.get(node)
        if isinstance(node, ast.List) and isinstance(parent, ast.Call) and node in parent.args \
                and getattr(parent.func, "attr", getattr(parent.func, "id", "")) == "Sequential":
            results = []
            for position, element in enumerate(node.elts):
                if keras_layer_name(element):
                    shorter = copy.deepcopy(node)
                    del shorter.elts[position]
                    results.append(shorter)
            return results
        if isinstance(node, ast.Call) and keras_layer_name(node.func) and len(node.args) == 1 \
                and not isinstance(node.args[0], (ast.List, ast.Tuple)):
            return [copy.deepcopy(node.args[0])]
        return []


class WrongPadding(ModelOperator):
    """`padding="same"` ↔ `"valid"` on convolutions and pooling; `padding="same"` added where it is left out."""

    name = "wrong_padding"
    cause = "the wrong padding ('same' instead of 'valid' or the reverse)"
    model_fields = frozenset({"output_shape", "params", "padding"})

    def replacements(self, node, parents):
        """The layer with the other padding."""
        if keras_layer_name(node) not in PADDED_LAYERS:
            return []
        position = keyword_position(node, "padding")
        if position is None:
            return [with_keyword(node, "padding", "same")]
        value = node.keywords[position].value
        if isinstance(value, ast.Constant) and value.value in ("same", "valid"):
            return [with_keyword(node, "padding", "valid" if value.value == "same" else "same")]
        return []


class FlipReturnSequences(ModelOperator):
    """`return_sequences=True` ↔ False on recurrent layers (True added where it is left out)."""

    name = "flip_return_sequences"
    cause = "return_sequences flipped (a whole sequence where the last step was meant, or the reverse)"
    model_fields = frozenset({"output_shape", "params", "type", "return_sequences"})

    def replacements(self, node, parents):
        """The recurrent layer with return_sequences flipped."""
        if keras_layer_name(node) not in RECURRENT_LAYERS:
            return []
        position = keyword_position(node, "return_sequences")
        value = node.keywords[position].value if position is not None else ast.Constant(False)
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            return [with_keyword(node, "return_sequences", not value.value)]
        return []


class FlipTrainable(ModelOperator):
    """`model.trainable = False` ↔ True, and a `trainable=` keyword flipped."""

    name = "flip_trainable"
    cause = "a layer frozen that should train, or trainable that should be frozen"
    model_fields = frozenset({"trainable_params"})

    def replacements(self, node, parents):
        """The flag flipped."""
        if not (isinstance(node, ast.Constant) and isinstance(node.value, bool)):
            return []
        parent = parents.get(node)
        assigned = isinstance(parent, ast.Assign) and any(
            isinstance(target, ast.Attribute) and target.attr == "trainable" for target in parent.targets)
        keyword = isinstance(parent, ast.keyword) and parent.arg == "trainable"
        return [ast.Constant(not node.value)] if assigned or keyword else []


OPERATORS: list[Operator] = [SwapReduction(), ChangeAxis(), DropKeepdims(), DropTranspose(), OffByOne(), SignFlip(),
                             DropAdditiveTerm(), SwapDivision(), ChangeConstant(), SwapNanInf(),
                             SwapMaximumMinimum(), DropClipWrapper(), RemoveSeeding(), ChangeActivation(),
                             DropActivation(), WrongUnits(), MissingLayer(), WrongPadding(), FlipReturnSequences(),
                             FlipTrainable()]
MODEL_OPERATOR_NAMES = frozenset(operator.name for operator in OPERATORS if isinstance(operator, ModelOperator))


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
    module_name: str = ""  # the module of the mutated function (another module than the reference's: patched in)

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
    module_name: str = ""


def target_functions(reference: Callable) -> list[TargetFunction]:
    """The reference and the functions of its own module that it calls by name (one level), and the functions of a
    course module that it imports inside its body and calls as `module.function` (e.g. `architectures.small_cnn`)."""
    functions = [reference]
    module_name = reference.__module__
    imported_modules = locally_imported_course_modules(reference)
    for node in ast.walk(parse_function(reference)[1]):
        helper = None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            helper = reference.__globals__.get(node.id)
            if not (isinstance(helper, types.FunctionType) and helper.__module__ == module_name):
                helper = None
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported_modules:
            helper = getattr(imported_modules[node.value.id], node.attr, None)
            if not isinstance(helper, types.FunctionType):
                helper = None
        if helper is not None and helper not in functions:
            functions.append(helper)
    targets = []
    for function in functions:
        source, tree = parse_function(function)
        targets.append(TargetFunction(function.__name__, source, tree, inspect.getsourcelines(function)[1],
                                      function.__module__))
    return targets


def locally_imported_course_modules(function: Callable) -> dict[str, types.ModuleType]:
    """The course modules (under `dlcourse`, outside `dlcourse.checks`) a function imports in its body, by local name."""
    import importlib

    modules = {}
    for node in ast.walk(parse_function(function)[1]):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dlcourse") and not node.level:
            for alias in node.names:
                full_name = f"{node.module}.{alias.name}"
                if not full_name.startswith("dlcourse.checks"):
                    try:
                        modules[alias.asname or alias.name] = importlib.import_module(full_name)
                    except ImportError:
                        continue
    return modules


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


def mutation_reference(exercise: Exercise) -> Callable | None:
    """The function whose mutants are checked: a model exercise's `build_reference`, a function exercise's
    reference, or for a scored exercise without one the `reference_<name>` function of its chapter's module."""
    if isinstance(exercise, ModelExercise):
        return exercise.build_reference
    reference = getattr(exercise, "reference", None)
    if reference is None and isinstance(exercise, ScoredFunctionExercise):
        chapter, name = exercise.exercise_id.split(".", 1)
        reference = getattr(importlib.import_module(f"dlcourse.checks.{chapter}"), f"reference_{name}", None)
    return reference


def generate_mutants(exercise: Exercise) -> list[Mutant]:
    """Every mutant of an exercise's reference: each operator at each location, without duplicates or no-ops."""
    mutants, seen_sources = [], set()
    reference = mutation_reference(exercise)
    if reference is None:  # nothing to mutate
        return mutants
    for target in target_functions(reference):
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
    shape_names = names_in_shape_positions(nodes, parents)
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
                             short_source(replacement), ast.unparse(mutated_tree),
                             in_shape_position(node, parents, shape_names), target.module_name)


SHAPE_CALLS = ("range", "reshape", "zeros", "ones", "empty", "full", "ndindex", "permutation", "arange")


def in_shape_position(node: ast.AST, parents: dict[ast.AST, ast.AST], shape_names: frozenset[str] = frozenset()) -> bool:
    """Whether a node lies in a subscript's index or slice, or in an argument of a shape-making call (range…), or in
    the value of an assignment to a name that is used in such a position (`rows = ...; np.zeros((rows, cols))`)."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Slice) or (isinstance(parent, ast.Subscript) and child is parent.slice):
            return True
        if isinstance(parent, ast.Call) and child is not parent.func:
            called = parent.func.attr if isinstance(parent.func, ast.Attribute) else getattr(parent.func, "id", "")
            if called in SHAPE_CALLS:
                return True
        if isinstance(parent, ast.Assign) and child is parent.value and shape_names & assigned_names(parent):
            return True
        child, parent = parent, parents.get(parent)
    return False


def assigned_names(assignment: ast.Assign) -> frozenset[str]:
    """The plain names an assignment binds (tuple targets included)."""
    return frozenset(node.id for target in assignment.targets for node in ast.walk(target) if isinstance(node, ast.Name))


def names_in_shape_positions(nodes: list[ast.AST], parents: dict[ast.AST, ast.AST]) -> frozenset[str]:
    """The names read in an index, slice or shape-making call somewhere in the function."""
    return frozenset(node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                     and in_shape_position(node, parents))


def is_docstring(node: ast.AST, tree: ast.Module) -> bool:
    """Whether a node is the function's docstring constant (or its expression statement)."""
    function = tree.body[0]
    first = function.body[0] if function.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and node in (first, first.value)


# ------------------------------------------------------------------ compiling and running mutants


class BrokenMutant(Exception):
    """The mutated source does not compile (or defining it fails)."""


def compile_mutant(exercise: Exercise, mutant: Mutant) -> Callable:
    """The exercise's entry function with the mutant in place, compiled in a copy of the reference's module globals
    (a mutated function of another course module is compiled in a copy of that module's and patched in for a call)."""
    reference = mutation_reference(exercise)
    if mutant.module_name and mutant.module_name != reference.__module__:
        return patched_entry(reference, mutant)
    namespace = dict(reference.__globals__)
    namespace["__name__"] = MUTANT_MODULE_PREFIX + reference.__module__.rsplit(".", 1)[-1]
    define_function(namespace, mutant.source, f"<mutant {mutant.exercise_id} {mutant.function_name}:{mutant.line}>")
    if mutant.function_name != reference.__name__:
        entry_source, _ = parse_function(reference)
        define_function(namespace, entry_source, f"<mutant entry {mutant.exercise_id}>")
    return namespace[reference.__name__]


def patched_entry(reference: Callable, mutant: Mutant) -> Callable:
    """The reference, calling the mutated function of another module in place of that module's own while it runs."""
    module = sys.modules[mutant.module_name]
    namespace = dict(vars(module))
    namespace["__name__"] = MUTANT_MODULE_PREFIX + mutant.module_name.rsplit(".", 1)[-1]
    define_function(namespace, mutant.source, f"<mutant {mutant.exercise_id} {mutant.function_name}:{mutant.line}>")
    mutated = namespace[mutant.function_name]

    def entry(*args, **kwargs):
        """The reference with the module's function patched."""
        with unittest.mock.patch.object(module, mutant.function_name, mutated):
            return reference(*args, **kwargs)

    return entry


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
    # no operator turns `@` into `*`, so a message saying so always names a cause the mutant doesn't have
    "`*` for `@`": re.compile(r"where the matrix product `@`", re.IGNORECASE),
}
# The words of a model diff's last sentence that name a layer field or setting, and the field each names.
MODEL_PROBLEM_FIELDS = {
    **{explanation: field for field, explanation in getattr(diagnostics, "_FIELD_EXPLANATIONS", {}).items()},
    **{explanation: name for name, explanation in getattr(diagnostics, "LAYER_SETTINGS", {}).items()},
    "is missing": "missing", "is extra": "extra",
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
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and value[0] == "exception":
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
    """Compile the mutant, check it, and sort it into rejected, likely equivalent, survived or broken.

    A scored exercise has no single right output: a mutant that reaches the bar is a valid answer (equivalent for
    what the check asks), and its score is the reason given."""
    try:
        mutated = compile_mutant(exercise, mutant)
    except BrokenMutant as problem:
        return MutantResult(mutant, BROKEN, message=str(problem))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = checks.check(exercise.exercise_id, mutated, record=False)
    if isinstance(exercise, ScoredFunctionExercise):
        verdict = LIKELY_EQUIVALENT if result.status == "passed" else REJECTED
        topics = () if result.status == "passed" else wrong_cause_topics(mutant, result.message)
        return MutantResult(mutant, verdict, result.status, result.message, None, topics)
    if result.status != "passed":
        topics = wrong_cause_topics(mutant, result.message)
        misnamed = misnamed_mistake_probe(exercise, mutated, result.message, probes)
        if misnamed is not None:
            topics += ("named mistake",)
        return MutantResult(mutant, REJECTED, result.status, result.message, misnamed, topics)
    difference = first_difference(exercise, mutated, probes)
    verdict = SURVIVED if difference is not None else LIKELY_EQUIVALENT
    return MutantResult(mutant, verdict, result.status, result.message, difference)


def model_wrong_cause_topics(mutant: Mutant, difference: str) -> tuple[str, ...]:
    """The layer field that a model diff names as the first difference, when the mutant's operator can't change it."""
    last_sentence = difference.splitlines()[-1]
    named = {field for words, field in MODEL_PROBLEM_FIELDS.items() if words.split(" (")[0] in last_sentence}
    allowed = getattr(mutant.operator, "model_fields", ALL_MODEL_FIELDS - {"activation", "trainable_params"})
    return tuple(sorted(named - allowed))


def strip_layer_names(value: Any) -> Any:
    """A JSON-like config without the names Keras numbers per build (`dense_3`), so two builds compare equal."""
    if isinstance(value, dict):
        return {key: strip_layer_names(item) for key, item in value.items() if key not in ("name", "inbound_nodes")}
    if isinstance(value, (list, tuple)):
        return [strip_layer_names(item) for item in value]
    return value


def model_signature(model: Any) -> list[tuple[str, str]]:
    """Each layer's class and config (names left out), nested models' layers included: equal for equal models."""
    rows = [("inputs", str([tuple(tensor.shape) for tensor in model.inputs]))] if hasattr(model, "inputs") else []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            rows += [(f"{type(layer).__name__} containing", "")] + model_signature(layer)
        config = json.dumps(strip_layer_names(layer.get_config()), sort_keys=True, default=str)
        rows.append((type(layer).__name__, f"{config} trainable={layer.trainable}"))
    return rows


def built_model(build: Callable) -> Any:
    """The model a (possibly mutated) builder returns, with Keras' warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build()


def untrained_score_problem(exercise: ModelExercise, model: Any) -> tuple[str, str]:
    """What `score_model` says about an untrained model: (the problem it names or the exception, '' if none; the
    score below the bar, '' if it reaches it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score, problem = exercise.score_model(model)
    except Exception as exception:
        return "Evaluating your model raised an error.\n" + diagnostics.explain_exception(exception), ""
    low = "" if score >= exercise.minimum_score else f"{exercise.metric_name} {score:.3f} below {exercise.minimum_score}"
    return problem, low


@dataclasses.dataclass
class ModelBaseline:
    """The reference model's layer rows and signature, and whether its untrained model passes `score_model`."""

    rows: list[dict[str, Any]]
    signature: list[tuple[str, str]]
    untrained_problem: str
    untrained_passes_score: bool


def model_baseline(exercise: ModelExercise) -> ModelBaseline:
    """Build the reference once: its rows, signature, and whether scoring accepts it untrained (then scoring, which
    needs no training for such an exercise, also judges the mutants that pass the architecture comparison)."""
    model = built_model(exercise.build_reference)
    problem, low = untrained_score_problem(exercise, model)
    return ModelBaseline(diagnostics.summarise_model(model), model_signature(model), problem, not (problem or low))


def classify_model(exercise: ModelExercise, mutant: Mutant, baseline: ModelBaseline) -> MutantResult:
    """Build the mutant's model (untrained) and compare its layer summary with the reference's, as
    ModelExercise.judge does before it scores a model: a difference rejects it. A model that passes and differs from
    the reference in some layer config is scored untrained: a problem the untrained reference doesn't have (or, where
    the untrained reference passes scoring, a score below the bar) rejects it; it is equivalent when its configs are
    equal or a reason is recorded, else it survived."""
    reference_rows, reference_signature = baseline.rows, baseline.signature
    try:
        build = compile_mutant(exercise, mutant)
    except BrokenMutant as problem:
        return MutantResult(mutant, BROKEN, message=str(problem))
    try:
        model = built_model(build)
        rows = diagnostics.summarise_model(model)
    except Exception as exception:  # the student's cell would raise before any model exists
        message = f"Building the model raised {type(exception).__name__}: {diagnostics.short_text(exception, 200)}"
        return MutantResult(mutant, REJECTED, "error", message)
    difference = diagnostics.diff_models(reference_rows, rows)
    if difference:
        return MutantResult(mutant, REJECTED, "failed", difference, None, model_wrong_cause_topics(mutant, difference))
    signature = model_signature(model)
    if signature == reference_signature:
        return MutantResult(mutant, LIKELY_EQUIVALENT, "passed", "the architecture comparison passes")
    problem, low = untrained_score_problem(exercise, model)
    if problem and not baseline.untrained_problem:
        return MutantResult(mutant, REJECTED, "failed", problem)
    if low and baseline.untrained_passes_score:
        return MutantResult(mutant, REJECTED, "failed", low)
    if (mutant.exercise_id, mutant.function_name, mutant.original, mutant.replacement) in EQUIVALENCE_REASONS:
        return MutantResult(mutant, LIKELY_EQUIVALENT, "passed", "the architecture comparison passes")
    first = next((index for index, (expected, got) in enumerate(zip(reference_signature, signature))
                  if expected != got), min(len(signature), len(reference_signature)))
    expected = reference_signature[first] if first < len(reference_signature) else None
    got = signature[first] if first < len(signature) else None
    return MutantResult(mutant, SURVIVED, "passed", "the architecture comparison passes",
                        ((f"layer {first + 1}",), {}, expected, got))


@dataclasses.dataclass
class ExerciseReport:
    """The results of all mutants of one exercise, with the time taken (or why it is not mutated)."""

    exercise_id: str
    results: list[MutantResult]
    seconds: float
    not_mutated: str = ""  # why the exercise has no mutants, if it has none by design

    def count(self, verdict: str) -> int:
        """How many mutants got this verdict."""
        return sum(result.verdict == verdict for result in self.results)

    @property
    def flagged(self) -> list[MutantResult]:
        """Rejected mutants whose message may name the wrong cause."""
        return [result for result in self.results if result.wrong_cause_topics]


def not_mutated_reason(exercise: Exercise) -> str:
    """Why an exercise has nothing to mutate ('' when it has a reference to mutate)."""
    if isinstance(exercise, ChoiceExercise):
        return "a multiple-choice answer: there is no reference code to mutate (each wrong choice has its explanation)"
    if isinstance(exercise, ConfiguredObjectExercise):
        return (f"a configured `{exercise.expected_class or exercise.expected_type}`: the answer is an object whose "
                "attributes are judged, there is no reference code to mutate")
    if isinstance(exercise, DesignExercise):
        return ("a design task: any architecture within the stated constraints is a valid answer, so a mutant of the "
                "example design is not wrong as such; the constraint checks are unit-tested")
    if isinstance(exercise, ScoredFunctionExercise) and mutation_reference(exercise) is None:
        return ("a scored exercise without a reference function: the answer trains a Keras model (too slow for the "
                "harness) and only its predictions are scored")
    if mutation_reference(exercise) is None:
        return "no reference function"
    return ""


def run_exercise(exercise: Exercise) -> ExerciseReport:
    """Generate, compile, check and classify every mutant of one exercise (models: compare architectures, untrained)."""
    started = time.monotonic()
    reason = not_mutated_reason(exercise)
    if reason:
        return ExerciseReport(exercise.exercise_id, [], 0.0, reason)
    mutants = generate_mutants(exercise)
    if isinstance(exercise, ModelExercise):
        baseline = model_baseline(exercise)
        results = [classify_model(exercise, mutant, baseline) for mutant in mutants]
    else:
        probes = [] if isinstance(exercise, ScoredFunctionExercise) else probe_inputs(exercise)
        results = [classify(exercise, mutant, probes) for mutant in mutants]
    return ExerciseReport(exercise.exercise_id, results, time.monotonic() - started)


def covered_exercises(chapters: list[int]) -> list[Exercise]:
    """Every exercise of these chapters, in course order."""
    return [checks.get_exercise(exercise_id) for chapter in chapters for exercise_id in checks.exercises(chapter)]


def function_exercises(chapters: list[int]) -> list[FunctionExercise]:
    """The plain function exercises of these chapters (not scored ones)."""
    return [exercise for exercise in covered_exercises(chapters)
            if isinstance(exercise, FunctionExercise) and not isinstance(exercise, ScoredFunctionExercise)]


# ------------------------------------------------------------------ the Markdown report


def short_repr(value: Any, limit: int = 160) -> str:
    """A one-line repr, shortened to `limit` characters."""
    with np.printoptions(precision=4, threshold=12, linewidth=10_000):
        text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


VERDICT_COLUMNS = (REJECTED, LIKELY_EQUIVALENT, SURVIVED, BROKEN)
TABLE_HEADER = ["| exercise | generated | rejected | equivalent | SURVIVED | broken | flagged messages | seconds |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]


def table_row(label: str, reports: list[ExerciseReport]) -> str:
    """One row of counts over some exercise reports."""
    counts = " | ".join(str(sum(report.count(verdict) for report in reports)) for verdict in VERDICT_COLUMNS)
    return (f"| {label} | {sum(len(report.results) for report in reports)} | {counts} | "
            f"{sum(len(report.flagged) for report in reports)} | {sum(report.seconds for report in reports):.1f} |")


def equivalence_reason(exercise: Exercise, result: MutantResult) -> str:
    """Why a mutant that the check passes is equivalent: the recorded reason, a scored exercise's score, or a
    model's equal configs; 'NO REASON RECORDED' flags a probe-equal mutant nobody has reasoned about yet."""
    mutant = result.mutant
    recorded = EQUIVALENCE_REASONS.get((mutant.exercise_id, mutant.function_name, mutant.original, mutant.replacement))
    if recorded:
        return recorded
    if isinstance(exercise, ScoredFunctionExercise):
        return f"a scored exercise, and the mutant's output still reaches the bar ({result.message.strip()})"
    if isinstance(exercise, ModelExercise):
        return "the mutant builds a model whose every layer config equals the reference's"
    return (f"equal to the reference within {EQUIVALENCE_TOLERANCE:g} on all {len(PROBE_STYLES)} probes per case; "
            "NO REASON RECORDED")


def markdown_report(reports: list[ExerciseReport], chapters: list[int]) -> str:
    """The whole report: totals per exercise and chapter, real gaps, equivalent mutants and suspicious messages."""
    lines = [f"# Mutation report: chapters {', '.join(f'{chapter:02d}' for chapter in chapters)}", "",
             f"Generated by `python tests/run_mutation_report.py --chapters {','.join(map(str, chapters))}` "
             "(issue 21 §1). Operators: " + ", ".join(f"`{operator.name}`" for operator in OPERATORS) + ".", "",
             "Function exercises: each mutant runs through `checks.check`; one the check passes is equivalent when it "
             "equals the reference on seeded probe inputs (with the reason below), else SURVIVED. Scored exercises: "
             "a mutant whose output reaches the bar is a valid answer. Model exercises: the mutant's model is built "
             "untrained and compared with the reference layer by layer (`diagnostics.summarise_model` and "
             "`diff_models`, what `ModelExercise.judge` does before it scores); one that passes is equivalent when "
             "every layer config equals the reference's.", "", "## Per chapter", ""] + TABLE_HEADER
    for chapter in chapters:
        prefix = f"ch{chapter:02d}."
        lines.append(table_row(f"ch{chapter:02d}", [report for report in reports
                                                      if report.exercise_id.startswith(prefix)]))
    lines.append(table_row("**total**", reports))
    lines += ["", "## Per exercise", ""] + TABLE_HEADER
    for report in reports:
        if report.not_mutated:
            lines.append(f"| {report.exercise_id} | not mutated: {report.not_mutated} | | | | | | |")
        else:
            lines.append(table_row(report.exercise_id, [report]))
    lines.append(table_row("**total**", reports))
    lines += ["", "## SURVIVED: real gaps (the check passes a mutant that differs on a probe input)", ""]
    lines += gap_lines(reports) or ["None."]
    lines += ["", "## Equivalent (the check passes, and the mutant is a right answer), with the reason", ""]
    lines += [f"- {result.mutant.exercise_id}, `{result.mutant.operator.name}`, {result.mutant.location}: "
              f"{equivalence_reason(checks.get_exercise(report.exercise_id), result)}"
              for report in reports for result in report.results if result.verdict == LIKELY_EQUIVALENT] or ["None."]
    lines += ["", "## Messages that may name the wrong cause", "",
              "Heuristics: the message names a topic (overflow, shape/broadcasting, dtype, axis, `*` for `@`) that the "
              "mutant's operator cannot cause at that site; or its \"Likely mistake:\" line names a declared mistake "
              "whose function differs from the mutant on a probe input (it matched on the cases only by coincidence); "
              "or a model diff names as first difference a layer field the operator cannot change.", ""]
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
    """Command line: `--chapters 1,2,3,4,6,7,8 --out tests/mutation_report.md`."""
    import argparse

    parser = argparse.ArgumentParser(description="Mutation report for the references of the exercises.")
    parser.add_argument("--chapters", default="1,2,3,4,6,7,8", help="comma-separated chapter numbers")
    parser.add_argument("--out", default="tests/mutation_report.md", help="where to write the Markdown report")
    options = parser.parse_args(argv)
    chapters = [int(text) for text in options.chapters.split(",") if text.strip()]
    reports = []
    for exercise in covered_exercises(chapters):
        report = run_exercise(exercise)
        if report.not_mutated:
            print(f"{report.exercise_id}: not mutated ({report.not_mutated})", flush=True)
            reports.append(report)
            continue
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
