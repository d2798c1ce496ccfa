"""Chapter 02 exercises: backpropagation."""

from __future__ import annotations

import numpy as np

from dlcourse import datasets
from dlcourse.checks.ch01 import reference_sigmoid
from dlcourse.checks import diagnostics
from dlcourse.checks.framework import (Case, FunctionExercise, Mistake, ScoredFunctionExercise, gather_evidence,
                                       low_score_message)
from dlcourse.collect import SourceFunction

# ------------------------------------------------------------------ references


def reference_sigmoid_derivative(x):
    """sigmoid'(x) = sigmoid(x) * (1 - sigmoid(x)), element-wise."""
    s = reference_sigmoid(x)
    return s * (1.0 - s)


def reference_tanh_derivative(x):
    """tanh'(x) = 1 - tanh(x)^2, element-wise."""
    return 1.0 - np.tanh(np.asarray(x, dtype=float)) ** 2


def reference_relu_derivative(x):
    """relu'(x) = 1 where x > 0, else 0 (0 at x = 0 by convention), as floats."""
    return (np.asarray(x, dtype=float) > 0).astype(float)


def reference_activation_derivatives(x):
    """The derivatives of sigmoid, tanh and ReLU at x, element-wise, in a dict keyed by the activation's name."""
    return {"sigmoid": reference_sigmoid_derivative(x), "tanh": reference_tanh_derivative(x),
            "relu": reference_relu_derivative(x)}


def reference_softmax(logits):
    """Softmax over the last axis, computed from logits shifted by their maximum (never overflows)."""
    logits = np.asarray(logits, dtype=float)
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def one_hot(labels, num_classes):
    """Rows of zeros with a 1 at each integer label, shape (batch, num_classes)."""
    return np.eye(num_classes)[np.asarray(labels, dtype=int)]


def reference_softmax_cross_entropy_gradient(labels, logits):
    """d mean sparse categorical cross-entropy / d logits = (softmax(logits) - one_hot(labels)) / batch."""
    probabilities = reference_softmax(logits)
    return (probabilities - one_hot(labels, probabilities.shape[-1])) / len(probabilities)


def reference_mse(targets, predictions):
    """Mean squared error over all elements, a float."""
    difference = np.asarray(predictions, dtype=float) - np.asarray(targets, dtype=float)
    return float(np.mean(difference ** 2))


def reference_mse_gradient(targets, predictions):
    """d MSE / d predictions = 2 (predictions - targets) / n, n = number of elements."""
    predictions = np.asarray(predictions, dtype=float)
    return 2.0 * (predictions - np.asarray(targets, dtype=float)) / predictions.size


def reference_binary_cross_entropy(labels, probabilities, epsilon=1e-7):
    """Mean binary cross-entropy, with probabilities clipped to [epsilon, 1 - epsilon] (as Keras does)."""
    labels = np.asarray(labels, dtype=float)
    clipped = np.clip(np.asarray(probabilities, dtype=float), epsilon, 1.0 - epsilon)
    return float(-np.mean(labels * np.log(clipped) + (1.0 - labels) * np.log(1.0 - clipped)))


def reference_bce_gradient(labels, probabilities, epsilon=1e-7):
    """d mean-BCE / d probabilities, evaluated at the clipped probabilities: (p - y) / (p (1 - p)) / n."""
    labels = np.asarray(labels, dtype=float)
    clipped = np.clip(np.asarray(probabilities, dtype=float), epsilon, 1.0 - epsilon)
    return (clipped - labels) / (clipped * (1.0 - clipped)) / clipped.size


def reference_dense_backward(inputs, kernel, upstream_gradient):
    """Gradients of a Dense layer's pre-activation z = inputs @ kernel + bias, for a batch."""
    d_kernel = inputs.T @ upstream_gradient
    d_bias = upstream_gradient.sum(axis=0)
    d_inputs = upstream_gradient @ kernel.T
    return d_kernel, d_bias, d_inputs


def reference_numerical_gradient(function, point, epsilon=1e-5):
    """Central-difference gradient of a scalar function at `point` (any shape); `point` is left unchanged."""
    point = np.array(point, dtype=float)
    gradient = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        original = point[index]
        point[index] = original + epsilon
        value_plus = float(function(point))
        point[index] = original - epsilon
        value_minus = float(function(point))
        point[index] = original
        gradient[index] = (value_plus - value_minus) / (2.0 * epsilon)
    return gradient


def reference_gradient_descent_step(parameters, gradients, learning_rate):
    """A new dict: every parameter minus learning_rate times its gradient; the inputs are left unchanged."""
    return {name: value - learning_rate * gradients[name] for name, value in parameters.items()}


def two_layer_probabilities(parameters, features):
    """P(class 1) of the exercise's network: sigmoid(relu(X @ W1 + b1) @ W2 + b2), shape (n,)."""
    hidden = np.maximum(np.asarray(features, dtype=float) @ parameters["W1"] + parameters["b1"], 0.0)
    return reference_sigmoid(hidden @ parameters["W2"] + parameters["b2"]).reshape(-1)


def reference_train_two_layer_network(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """Full-batch gradient descent on a 2-H-1 ReLU/sigmoid network with the BCE loss, He-initialised."""
    rng = np.random.default_rng(seed)
    features = np.asarray(features, dtype=float)
    targets = np.asarray(labels, dtype=float).reshape(-1, 1)
    num_inputs, count = features.shape[1], len(features)
    parameters = {
        "W1": rng.normal(0.0, np.sqrt(2.0 / num_inputs), size=(num_inputs, num_hidden_units)),
        "b1": np.zeros(num_hidden_units),
        "W2": rng.normal(0.0, np.sqrt(2.0 / num_hidden_units), size=(num_hidden_units, 1)),
        "b2": np.zeros(1),
    }
    for _ in range(num_steps):
        pre_activation = features @ parameters["W1"] + parameters["b1"]
        hidden = np.maximum(pre_activation, 0.0)
        probabilities = reference_sigmoid(hidden @ parameters["W2"] + parameters["b2"])
        d_logits = (probabilities - targets) / count
        d_hidden = d_logits @ parameters["W2"].T * (pre_activation > 0)
        gradients = {"W1": features.T @ d_hidden, "b1": d_hidden.sum(axis=0),
                     "W2": hidden.T @ d_logits, "b2": d_logits.sum(axis=0)}
        parameters = reference_gradient_descent_step(parameters, gradients, learning_rate)
    return parameters


# ------------------------------------------------------------------ test inputs

_rng = np.random.default_rng(2)
_VALUES = np.array([-4.0, -1.0, 0.0, 0.5, 2.0])
_BATCH = np.round(_rng.normal(0, 2, size=(3, 4)), 3)
_LARGE = np.array([-800.0, -30.0, 30.0, 800.0])
_TARGETS = np.array([1.0, 0.0, 2.5, -1.0])
_PREDICTIONS = np.array([0.8, 0.3, 2.0, -0.5])
_TARGETS_2D = np.round(_rng.normal(size=(3, 2)), 3)
_PREDICTIONS_2D = np.round(_rng.normal(size=(3, 2)), 3)
_LABELS = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
_PROBABILITIES = np.array([0.9, 0.2, 0.6, 0.45, 0.99])
_CERTAIN_LABELS = np.array([1.0, 0.0, 1.0, 0.0])
_CERTAIN_PROBABILITIES = np.array([1.0, 0.0, 0.0, 1.0])  # two certain and right, two certain and wrong
_DENSE_INPUTS = np.round(_rng.normal(size=(4, 3)), 3)
_DENSE_KERNEL = np.round(_rng.normal(size=(3, 2)), 3)
_DENSE_UPSTREAM = np.round(_rng.normal(size=(4, 2)), 3)
_SQUARE_KERNEL = np.round(_rng.normal(size=(3, 3)), 3)
_SQUARE_UPSTREAM = np.round(_rng.normal(size=(4, 3)), 3)
_POINT = np.array([1.0, -2.0, 0.5])
_MATRIX_POINT = np.round(_rng.normal(size=(3, 2)), 3)
_CUBES = SourceFunction("lambda x: np.sum(x ** 3)")
_MIXED = SourceFunction("lambda x: np.sum(np.sin(x)) + np.prod(x)")
_TANH_LAYER = SourceFunction("lambda w: np.sum(np.tanh(w @ np.array([1.0, -2.0])))")
_CLASS_LABELS = np.array([0, 2, 1, 2])
_CLASS_LOGITS = np.round(_rng.normal(0, 2, size=(4, 3)), 3)
_WIDE_LABELS = np.array([3, 0, 4])
_WIDE_LOGITS = np.round(_rng.normal(0, 1, size=(3, 5)), 3)
_LARGE_LOGITS = np.array([[1000.0, 0.0, -1000.0], [-800.0, 800.0, 790.0]])

# ------------------------------------------------------------------ exercises: derivatives

def _with_derivative(name, derivative):
    """The reference dict with one activation's derivative replaced: a mistake made in one of the three."""
    def mistaken(x):
        derivatives = reference_activation_derivatives(x)
        with np.errstate(all="ignore"):
            derivatives[name] = derivative(np.asarray(x, dtype=float))
        return derivatives
    return mistaken


activation_derivatives = FunctionExercise(
    exercise_id="ch02.activation_derivatives",
    title="The derivatives of sigmoid, tanh and ReLU",
    numpy_only=True,
    hints=[
        "Each derivative can be written with the activation's own value: the sigmoid's with sigma(x), tanh's with "
        "tanh(x). Differentiate tanh = (e^x - e^-x) / (e^x + e^-x) with the quotient rule and simplify. ReLU's "
        "slope is 1 where x > 0 and 0 elsewhere (0 at exactly 0, by this course's convention).",
        "Compute sigma(x) without overflow (as in Chapter 01: `np.exp(-np.abs(x))`) and turn ReLU's comparison "
        "into floats with `.astype(float)`. Return a dict with the keys 'sigmoid', 'tanh' and 'relu'.",
        "`s = sigmoid(x)`; `{'sigmoid': s * (1 - s), 'tanh': 1 - np.tanh(x) ** 2, 'relu': (x > 0).astype(float)}`",
    ],
    reference=reference_activation_derivatives,
    cases=[
        Case("a mix of negative, zero and positive values", (_VALUES,)),
        Case("a single number", (0.3,)),
        Case("a 2-D batch", (_BATCH,)),
        Case("large magnitudes", (_LARGE,)),
        Case("exactly zero, and tiny values around it", (np.array([0.0, -0.0, 1e-9, -1e-9]),)),
    ],
    mistakes=[
        Mistake("'sigmoid': you applied s * (1 - s) to x itself; the formula needs s = sigmoid(x) first.",
                _with_derivative("sigmoid", lambda x: x * (1.0 - x))),
        Mistake("'sigmoid': that is the sigmoid itself, not its derivative: multiply sigmoid(x) by (1 - sigmoid(x)).",
                _with_derivative("sigmoid", reference_sigmoid)),
        Mistake("'tanh': you computed 1 - x**2; the formula is 1 - tanh(x)**2 (apply tanh first).",
                _with_derivative("tanh", lambda x: 1.0 - x ** 2)),
        Mistake("'tanh': the square is missing: tanh'(x) = 1 - tanh(x)**2, not 1 - tanh(x).",
                _with_derivative("tanh", lambda x: 1.0 - np.tanh(x))),
        Mistake("'tanh': that is the sigmoid's formula s (1 - s) with tanh in place of s; tanh's derivative is "
                "1 - tanh(x)**2.",
                _with_derivative("tanh", lambda x: np.tanh(x) * (1.0 - np.tanh(x)))),
        Mistake("'relu': at x = 0 your derivative is 1; this course takes ReLU's slope at 0 to be 0 "
                "(use `x > 0`, not `x >= 0`).",
                _with_derivative("relu", lambda x: (x >= 0).astype(float))),
        Mistake("'relu': that is ReLU itself, not its derivative: the slope is 1 for x > 0 and 0 otherwise.",
                _with_derivative("relu", lambda x: np.maximum(x, 0.0))),
        Mistake("'relu': `np.sign(x)` gives -1 for negative inputs, but ReLU is flat there: its slope is 0.",
                _with_derivative("relu", np.sign)),
    ],
)

# ------------------------------------------------------------------ exercises: losses

mse = FunctionExercise(
    exercise_id="ch02.mse",
    title="Mean squared error",
    numpy_only=True,
    hints=[
        "MSE is the mean, over every element, of the squared difference between prediction and target.",
        "`np.mean` averages over all elements of an array of any shape.",
        "`return float(np.mean((predictions - targets) ** 2))`",
    ],
    reference=reference_mse,
    cases=[
        Case("four targets and predictions", (_TARGETS, _PREDICTIONS)),
        Case("a batch of 3 examples with 2 outputs each", (_TARGETS_2D, _PREDICTIONS_2D)),
        Case("perfect predictions", (_TARGETS, _TARGETS.copy())),
        Case("a single example", (np.array([3.0]), np.array([1.0]))),
    ],
    mistakes=[
        Mistake("the square is missing: the errors must be squared before averaging (otherwise + and - cancel).",
                lambda t, p: float(np.mean(p - t))),
        Mistake("you summed instead of averaging: divide by the number of elements (use `np.mean`).",
                lambda t, p: float(np.sum((p - t) ** 2))),
        Mistake("that is the root mean squared error (RMSE); MSE has no square root.",
                lambda t, p: float(np.sqrt(np.mean((p - t) ** 2)))),
        Mistake("you averaged absolute errors (that is MAE); MSE squares them.",
                lambda t, p: float(np.mean(np.abs(p - t)))),
    ],
)

mse_gradient = FunctionExercise(
    exercise_id="ch02.mse_gradient",
    title="The gradient of the MSE with respect to the predictions",
    numpy_only=True,
    hints=[
        "MSE = (1/n) sum_i (p_i - t_i)^2 with n the number of elements. Differentiate one term with respect to p_i.",
        "d/dp_i of (p_i - t_i)^2 is 2 (p_i - t_i); the 1/n stays. The result has the shape of `predictions`.",
        "`return 2.0 * (predictions - targets) / predictions.size`",
    ],
    reference=reference_mse_gradient,
    cases=[
        Case("four targets and predictions", (_TARGETS, _PREDICTIONS)),
        Case("a batch of 3 examples with 2 outputs each", (_TARGETS_2D, _PREDICTIONS_2D)),
        Case("a single example", (np.array([3.0]), np.array([1.0]))),
    ],
    mistakes=[
        Mistake("the factor 2 from differentiating the square is missing: d/dp (p - t)^2 = 2 (p - t).",
                lambda t, p: (p - t) / p.size),
        Mistake("the 1/n of the mean is missing: divide by the number of elements (`predictions.size`).",
                lambda t, p: 2.0 * (p - t)),
        Mistake("the sign is flipped: the gradient is 2 (predictions - targets) / n, positive where the prediction is too large.",
                lambda t, p: 2.0 * (t - p) / p.size),
        Mistake("you divided by the number of rows (len), but the mean is over every element (`predictions.size`).",
                lambda t, p: 2.0 * (p - t) / len(p)),
    ],
)

binary_cross_entropy = FunctionExercise(
    exercise_id="ch02.binary_cross_entropy",
    title="Binary cross-entropy, safe for probabilities of exactly 0 and 1",
    numpy_only=True,
    hints=[
        "BCE = -mean(y log p + (1 - y) log(1 - p)). log(0) is -inf, so clip p into [epsilon, 1 - epsilon] first.",
        "`np.clip(probabilities, epsilon, 1 - epsilon)` keeps every log finite; average with `np.mean` and mind the minus sign.",
        "`p = np.clip(probabilities, epsilon, 1 - epsilon); return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))`",
    ],
    reference=reference_binary_cross_entropy,
    cases=[
        Case("five labels and probabilities", (_LABELS, _PROBABILITIES)),
        Case("a single confident, correct prediction", (np.array([1.0]), np.array([0.99]))),
        Case("probabilities of exactly 0 and 1, two of them wrong", (_CERTAIN_LABELS, _CERTAIN_PROBABILITIES)),
        Case("a batch of shape (4, 1)", (_CERTAIN_LABELS.reshape(4, 1), np.array([[0.7], [0.1], [0.4], [0.8]]))),
    ],
    mistakes=[
        Mistake("the probabilities are not clipped: log(0) = -inf, so certain wrong predictions give inf or NaN. "
                "Clip them with `np.clip(probabilities, epsilon, 1 - epsilon)` first.",
                lambda y, p, epsilon=1e-7: float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))),
        Mistake("the minus sign is missing: log p is negative, so the loss must be -mean(...), a positive number.",
                lambda y, p, epsilon=1e-7: -reference_binary_cross_entropy(y, p, epsilon)),
        Mistake("you summed instead of averaging over the examples (use `np.mean`).",
                lambda y, p, epsilon=1e-7: reference_binary_cross_entropy(y, p, epsilon) * np.size(p)),
        Mistake("the (1 - y) log(1 - p) term for the examples of class 0 is missing.",
                lambda y, p, epsilon=1e-7: float(-np.mean(y * np.log(np.clip(p, epsilon, 1 - epsilon))))),
    ],
)

bce_gradient = FunctionExercise(
    exercise_id="ch02.bce_gradient",
    title="The gradient of binary cross-entropy with respect to the probabilities",
    numpy_only=True,
    hints=[
        "For one example, d/dp of -(y log p + (1 - y) log(1 - p)) is -y/p + (1 - y)/(1 - p) = (p - y) / (p (1 - p)).",
        "Clip p into [epsilon, 1 - epsilon] first (as in the loss), and divide by n for the mean.",
        "`p = np.clip(probabilities, epsilon, 1 - epsilon); return (p - labels) / (p * (1 - p)) / p.size`",
    ],
    reference=reference_bce_gradient,
    cases=[
        Case("five labels and probabilities", (_LABELS, _PROBABILITIES)),
        Case("a single example", (np.array([0.0]), np.array([0.25]))),
        Case("probabilities of exactly 0 and 1", (_CERTAIN_LABELS, _CERTAIN_PROBABILITIES)),
    ],
    mistakes=[
        Mistake("that is (p - y) / n, the gradient with respect to the *logit* z (where p = sigmoid(z)); "
                "with respect to p it is (p - y) / (p (1 - p)) / n.",
                lambda y, p, epsilon=1e-7: (np.clip(p, epsilon, 1 - epsilon) - y) / np.size(p)),
        Mistake("the 1/n of the mean is missing: divide by the number of examples.",
                lambda y, p, epsilon=1e-7: reference_bce_gradient(y, p, epsilon) * np.size(p)),
        Mistake("the sign is flipped: the gradient is (p - y) / (p (1 - p)) / n.",
                lambda y, p, epsilon=1e-7: -reference_bce_gradient(y, p, epsilon)),
        Mistake("the probabilities are not clipped, so p = 0 or p = 1 divides by zero: clip them first.",
                lambda y, p, epsilon=1e-7: (p - y) / (p * (1 - p)) / np.size(p)),
    ],
)

# ------------------------------------------------------------------ exercises: backpropagation

dense_backward = FunctionExercise(
    exercise_id="ch02.dense_backward",
    title="The backward pass of a Dense layer for a batch",
    numpy_only=True,
    hints=[
        "z = inputs @ kernel + bias. Each gradient has the shape of what it is the gradient of: "
        "d_kernel like kernel (in, out), d_bias like bias (out,), d_inputs like inputs (batch, in).",
        "The bias is added to every example, so its gradient adds up the upstream gradient over the batch (axis 0). "
        "Arrange the matrix products so that the shapes come out right.",
        "`return inputs.T @ upstream_gradient, upstream_gradient.sum(axis=0), upstream_gradient @ kernel.T`",
    ],
    reference=reference_dense_backward,
    cases=[
        Case("a batch of 4, 3 inputs, 2 units", (_DENSE_INPUTS, _DENSE_KERNEL, _DENSE_UPSTREAM)),
        Case("a batch holding one example", (_DENSE_INPUTS[:1], _DENSE_KERNEL, _DENSE_UPSTREAM[:1])),
        Case("a square kernel (3 inputs, 3 units)", (_DENSE_INPUTS, _SQUARE_KERNEL, _SQUARE_UPSTREAM)),
    ],
    mistakes=[
        Mistake("d_kernel is transposed: it is `inputs.T @ upstream_gradient`, of shape (in, out) like the kernel.",
                lambda x, w, g: (g.T @ x, g.sum(axis=0), g @ w.T)),
        Mistake("d_bias is not summed over the batch: the bias is shared by every example, so add up their "
                "gradients with `upstream_gradient.sum(axis=0)`.",
                lambda x, w, g: (x.T @ g, g, g @ w.T)),
        Mistake("d_bias is averaged over the batch; it must be summed (`.sum(axis=0)`): any averaging "
                "already happened in the loss.",
                lambda x, w, g: (x.T @ g, g.mean(axis=0), g @ w.T)),
        Mistake("d_inputs uses the kernel without transposing it: it is `upstream_gradient @ kernel.T`.",
                lambda x, w, g: (x.T @ g, g.sum(axis=0), g @ w)),
    ],
)

numerical_gradient = FunctionExercise(
    exercise_id="ch02.numerical_gradient",
    title="Numerical gradient by central differences",
    numpy_only=True,
    hints=[
        "For each element i of `point`, nudge only that element by +epsilon and by -epsilon, evaluate the "
        "function both times and take (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).",
        "Work on a float copy (`point = np.array(point, dtype=float)`), loop over every index with "
        "`np.ndindex(point.shape)` (this also works for matrices), and put each element back after nudging it.",
        "Central differences divide by 2 * epsilon, and the result has the shape of `point`.",
    ],
    reference=reference_numerical_gradient,
    cases=[
        Case("sum(x**3) at a vector, epsilon 1e-3", (_CUBES, _POINT, 1e-3)),
        Case("sum(sin(x)) + prod(x) at a vector, default epsilon", (_MIXED, _POINT)),
        Case("a tanh layer's output as a function of a (3, 2) weight matrix, epsilon 1e-4",
             (_TANH_LAYER, _MATRIX_POINT, 1e-4)),
        Case("sum(x**3) at a (3, 2) matrix, epsilon 1e-2", (_CUBES, _MATRIX_POINT, 1e-2)),
    ],
    mistakes=[
        Mistake("that is a forward difference (f(x + eps) - f(x)) / eps; central differences use "
                "(f(x + eps) - f(x - eps)) / (2 eps), which is far more accurate.",
                lambda f, x, epsilon=1e-5: _one_sided_difference(f, x, epsilon, +1)),
        Mistake("that is a backward difference (f(x) - f(x - eps)) / eps; use central differences "
                "(f(x + eps) - f(x - eps)) / (2 eps).",
                lambda f, x, epsilon=1e-5: _one_sided_difference(f, x, epsilon, -1)),
        Mistake("you divided by epsilon instead of 2 * epsilon: the two nudged points are 2 * epsilon apart.",
                lambda f, x, epsilon=1e-5: 2.0 * reference_numerical_gradient(f, x, epsilon)),
    ],
)


def _one_sided_difference(function, point, epsilon, direction):
    """Forward (direction +1) or backward (-1) differences: the mistakes numerical_gradient names."""
    point = np.array(point, dtype=float)
    gradient = np.zeros_like(point)
    base = float(function(point))
    for index in np.ndindex(point.shape):
        original = point[index]
        point[index] = original + direction * epsilon
        gradient[index] = direction * (float(function(point)) - base) / epsilon
        point[index] = original
    return gradient


def _naive_softmax_gradient(labels, logits):
    """The softmax without the shift by the maximum: exp overflows for logits above about 709."""
    logits = np.asarray(logits, dtype=float)
    with np.errstate(all="ignore"):
        exponentials = np.exp(logits)
        probabilities = exponentials / exponentials.sum(axis=-1, keepdims=True)
    return (probabilities - one_hot(labels, logits.shape[-1])) / len(logits)


softmax_cross_entropy_gradient = FunctionExercise(
    exercise_id="ch02.softmax_cross_entropy_gradient",
    title="The gradient of softmax + sparse categorical cross-entropy with respect to the logits",
    numpy_only=True,
    hints=[
        "For one example, L = -log q_y with q = softmax(z), and log q_y = z_y - log sum_j e^(z_j). "
        "Differentiate with respect to every z_k: the first term gives 1 only for k = y, the second gives q_k.",
        "So one example's gradient is q minus a row that is 1 at the label and 0 elsewhere (a one-hot row), like "
        "p - y for sigmoid + BCE. The loss is the *mean* over the batch, so divide by the number of examples. "
        "Shift each row of logits by its maximum before `np.exp`, so that large logits do not overflow.",
        "`shifted = logits - logits.max(axis=1, keepdims=True); q = np.exp(shifted) / np.exp(shifted).sum(axis=1, "
        "keepdims=True); q[np.arange(len(labels)), labels] -= 1; return q / len(labels)`",
    ],
    reference=reference_softmax_cross_entropy_gradient,
    cases=[
        Case("4 examples, 3 classes", (_CLASS_LABELS, _CLASS_LOGITS)),
        Case("3 examples, 5 classes", (_WIDE_LABELS, _WIDE_LOGITS)),
        Case("large logits (up to 1000: a plain np.exp overflows)", (np.array([0, 1]), _LARGE_LOGITS)),
        Case("two rows whose largest logits are 2000 apart (shift each row by its own maximum)",
             (np.array([0, 2]), np.array([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -999.0]]))),
        Case("one example, equal logits", (np.array([1]), np.zeros((1, 4)))),
    ],
    mistakes=[
        Mistake("the 1/batch of the mean is missing (that is the gradient of the *summed* loss): divide by the "
                "number of examples.",
                lambda y, z: reference_softmax_cross_entropy_gradient(y, z) * len(z)),
        Mistake("that is softmax(logits) / batch: the one-hot labels are not subtracted. The gradient is "
                "(softmax - one_hot) / batch, negative at each example's label.",
                lambda y, z: reference_softmax(z) / len(z)),
        Mistake("the sign is flipped: the gradient is (softmax - one_hot) / batch, not (one_hot - softmax) / batch.",
                lambda y, z: -reference_softmax_cross_entropy_gradient(y, z)),
        Mistake("you divided by the number of elements (batch x classes); the loss is a mean over the examples "
                "only, so divide by the batch size.",
                lambda y, z: reference_softmax_cross_entropy_gradient(y, z) * len(z) / np.size(z)),
        Mistake("the softmax overflows on large logits (np.exp(1000) is inf, inf / inf is NaN): subtract each "
                "row's maximum from the logits before `np.exp`; the softmax does not change.",
                _naive_softmax_gradient),
    ],
)

# ------------------------------------------------------------------ exercise: the training loop

_MOONS = datasets.make_two_moons(num_samples=1000, noise=0.1, seed=0)
_REQUIRED_SHAPES = {"W1": (2, None), "b1": (None,), "W2": (None, 1), "b2": (1,)}


def score_two_layer_network(case, parameters):
    """Accuracy of the returned parameters on fresh two-moons data; (0, why) when they can't be used."""
    num_hidden_units = int(case.args[2])
    if not isinstance(parameters, dict):
        return 0.0, (f"Return a dict with the keys 'W1', 'b1', 'W2', 'b2'; your function returned "
                     f"{type(parameters).__name__}.")
    missing = [name for name in _REQUIRED_SHAPES if name not in parameters]
    if missing:
        return 0.0, f"Your dict is missing the key(s) {', '.join(map(repr, missing))}."
    for name, shape in _REQUIRED_SHAPES.items():
        expected = tuple(num_hidden_units if size is None else size for size in shape)
        got = np.shape(parameters[name])
        if got != expected:
            return 0.0, f"`{name}` has shape {got}; with {num_hidden_units} hidden units it must have shape {expected}."
    features, labels = datasets.make_two_moons(num_samples=1000, noise=0.1, seed=2024)
    with np.errstate(all="ignore"):
        probabilities = two_layer_probabilities({k: np.asarray(v, dtype=float) for k, v in parameters.items()}, features)
    accuracy, problem = diagnostics.classification_accuracy(probabilities, labels, subject="network")
    if problem:
        problem = low_score_message(problem, gather_evidence(TRAINING_LOOP_EVIDENCE, case, parameters),
                                    TRAINING_LOOP_RECIPE)
    return accuracy, problem


def prescribed_initial_parameters(case):
    """The starting parameters the exercise prescribes for a case: seeded normal weights, zero biases."""
    features, _, num_hidden_units, _, _, seed = case.args
    return reference_train_two_layer_network(features, np.zeros(len(features)), num_hidden_units, 0.0, 0, seed)


def describe_unchanged_parameter(name, value, initial):
    """'`b1` (all zeros)' when a returned parameter still equals its start or is all zeros, else ''."""
    value = np.asarray(value, dtype=float)
    if not np.any(value):
        return f"`{name}` (all zeros)"
    if value.shape == initial.shape and np.allclose(value, initial, rtol=0.0, atol=1e-12):
        return f"`{name}` (still the seeded random start)"
    return ""


def unchanged_parameters_advice(case, parameters):
    """Advice naming the parameters that training left at their start, only when some did; else ''."""
    initial = prescribed_initial_parameters(case)
    unchanged = [text for name in _REQUIRED_SHAPES
                 if (text := describe_unchanged_parameter(name, parameters[name], initial[name]))]
    if not unchanged:
        return ""
    zero_weights = any(text.startswith("`W") and "zeros" in text for text in unchanged)
    return (f"Training left these parameters at their start: {', '.join(unchanged)}. Every step must update all four "
            "parameters with their gradients." + (" Weights that start at zero get no gradient through the hidden "
                                                   "layer: start them from small random numbers." if zero_weights else ""))


def training_loss(parameters, features, labels):
    """The binary cross-entropy of the two-layer network's parameters on the training points."""
    probabilities = np.clip(two_layer_probabilities(parameters, features), 1e-12, 1.0 - 1e-12)
    labels = np.asarray(labels, dtype=float)
    return float(-np.mean(labels * np.log(probabilities) + (1.0 - labels) * np.log(1.0 - probabilities)))


RISING_LOSS_MARGIN = 0.1  # above the loss at the prescribed start: more than another random start could explain


UPHILL_COSINE = 0.3  # the parameters moved this much along the loss's gradient at the start (descent gives < 0)


def initial_gradient(case):
    """The gradient of the exercise's loss at the prescribed start, flattened (one reference step of size 1)."""
    features, labels, num_hidden_units, _, _, seed = case.args
    start = prescribed_initial_parameters(case)
    after_one_step = reference_train_two_layer_network(features, labels, num_hidden_units, 1.0, 1, seed)
    return np.concatenate([(start[name] - after_one_step[name]).ravel() for name in sorted(start)])


def moved_uphill(case, parameters):
    """Whether the returned parameters moved from the start along the loss's initial gradient (cosine > 0.3)."""
    start = prescribed_initial_parameters(case)
    moved = np.concatenate([(np.asarray(parameters[name], dtype=float) - start[name]).ravel() for name in sorted(start)])
    gradient = initial_gradient(case)
    norms = np.linalg.norm(moved) * np.linalg.norm(gradient)
    return bool(np.isfinite(norms) and norms > 0 and moved @ gradient / norms > UPHILL_COSINE)


def rising_loss_advice(case, parameters):
    """Advice naming steps that climb the loss, only when the training loss ends above its value at the start and
    the parameters moved along the loss's gradient there (a network trained downhill with another activation doesn't)."""
    features, labels = case.args[0], case.args[1]
    with np.errstate(all="ignore"):
        start = training_loss(prescribed_initial_parameters(case), features, labels)
        end = training_loss({name: np.asarray(value, dtype=float) for name, value in parameters.items()}, features, labels)
        if not end > start + RISING_LOSS_MARGIN or not moved_uphill(case, parameters):
            return ""
    return (f"The loss on the training points went up, from {start:.3f} at the prescribed start to {end:.3f} after "
            "training: the steps climb the loss. Subtract `learning_rate * gradient`, and compare your gradients "
            "with your numerical_gradient.")


TRAINING_LOOP_EVIDENCE = (unchanged_parameters_advice, rising_loss_advice)
TRAINING_LOOP_RECIPE = ("Check the backward pass with your numerical_gradient, and that every parameter is updated in "
                        "every step.")


train_two_layer_network = ScoredFunctionExercise(
    exercise_id="ch02.train_two_layer_network",
    title="Training a two-layer ReLU network with gradient descent",
    numpy_only=True,
    hints=[
        "Start from the lesson's `initialise_parameters`, `forward` and `backward` and the loop that trains them: "
        "each step is a forward pass, a backward pass from d_logits = (p - y) / n, and a step "
        "`value - learning_rate * gradient` on all four parameters.",
        "Two things change with ReLU: the forward pass keeps the pre-activation Z1 = X @ W1 + b1 (the backward pass "
        "needs it), and the He initialisation draws each kernel from a normal with standard deviation "
        "sqrt(2 / fan_in) (`np.random.default_rng(seed)`). Reshape the labels to a column (n, 1).",
        "The backward pass through ReLU multiplies by its derivative at Z1, `(Z1 > 0)`, where tanh's multiplied "
        "by (1 - hidden**2); the rest of `backward` is unchanged.",
    ],
    cases=[
        Case("1000 training moons (noise 0.1, seed 0), 32 hidden units, learning rate 1.0, 500 steps, seed 0",
             (*_MOONS, 32, 1.0, 500, 0)),
    ],
    score_output=score_two_layer_network,
    minimum_score=0.95,
    metric_name="accuracy",
    low_score_advice=TRAINING_LOOP_RECIPE,
    low_score_evidence=TRAINING_LOOP_EVIDENCE,
    time_limit_seconds=30.0,
)


EXERCISES = [mse, mse_gradient, binary_cross_entropy, bce_gradient, activation_derivatives, dense_backward,
             numerical_gradient, softmax_cross_entropy_gradient, train_two_layer_network]
