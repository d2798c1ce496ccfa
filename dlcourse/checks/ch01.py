"""Chapter 01 exercises: neurons and activations."""

from __future__ import annotations

import numpy as np

from dlcourse.checks import diagnostics
from dlcourse.checks.framework import Case, DesignExercise, FunctionExercise, Mistake, score_classifier
from dlcourse.collect import SourceFunction

# ------------------------------------------------------------------ references


def reference_sigmoid(x):
    """Numerically careful logistic sigmoid, element-wise."""
    x = np.asarray(x, dtype=float)
    exp_of_negative_magnitude = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + exp_of_negative_magnitude),
                    exp_of_negative_magnitude / (1.0 + exp_of_negative_magnitude))


def reference_relu(x):
    """Rectified linear unit, element-wise."""
    return np.maximum(x, 0)


def reference_softmax_along_axis(logits, axis):
    """Numerically stable softmax along one axis."""
    logits = np.asarray(logits, dtype=float)
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / np.sum(exponentials, axis=axis, keepdims=True)


def reference_softmax(logits):
    """Numerically stable softmax over the last axis."""
    return reference_softmax_along_axis(logits, -1)


def reference_neuron_output(inputs, weights, bias):
    """One neuron: sigmoid of the weighted sum plus bias."""
    return reference_sigmoid(np.dot(inputs, weights) + bias)


def reference_dense_forward(inputs, kernel, bias, activation):
    """A Dense layer for a batch, in Keras' (in, out) kernel convention."""
    return activation(inputs @ kernel + bias)


def reference_count_dense_parameters(layer_sizes):
    """Trainable parameters of a stack of Dense layers: weights plus biases."""
    return int(sum(n_in * n_out + n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])))


# ------------------------------------------------------------------ test inputs

_rng = np.random.default_rng(1)
_BATCH = np.round(_rng.normal(0, 2, size=(3, 4)), 3)
_DENSE_INPUTS = np.round(_rng.normal(size=(4, 3)), 3)
_DENSE_KERNEL = np.round(_rng.normal(size=(3, 2)), 3)
_DENSE_BIAS = np.array([0.5, -1.5])
# Activations handed to dense_forward as inputs travel to grading kernels as source code.
_IDENTITY = SourceFunction("lambda x: x")
_TANH = SourceFunction("np.tanh")
_RELU = SourceFunction("lambda x: np.maximum(x, 0)")

# ------------------------------------------------------------------ exercises

sigmoid = FunctionExercise(
    exercise_id="ch01.sigmoid",
    title="The sigmoid activation",
    hints=[
        "sigmoid(x) = 1 / (1 + e^(-x)). Use NumPy so it works on whole arrays at once.",
        "`np.exp` works element-wise on arrays; `math.exp` only takes single numbers.",
        "`return 1.0 / (1.0 + np.exp(-x))` — mind the minus sign and the parentheses around the denominator.",
    ],
    reference=reference_sigmoid,
    cases=[
        Case("a mix of negative, zero and positive values", (np.array([-3.0, -1.0, 0.0, 1.0, 3.0]),)),
        Case("a single number", (0.5,)),
        Case("a 2-D batch", (_BATCH,)),
        Case("large magnitudes", (np.array([-1000.0, -50.0, 50.0, 1000.0]),)),
    ],
    mistakes=[
        Mistake("the sign of the exponent is flipped: sigmoid uses e^(-x), so large positive x gives values near 1.",
                lambda x: 1.0 / (1.0 + np.exp(x))),
        Mistake("operator precedence: `1 / 1 + np.exp(-x)` computes 1 + e^(-x); put the denominator in parentheses.",
                lambda x: 1 / 1 + np.exp(-x)),
        Mistake("that is tanh (range -1..1), not the sigmoid (range 0..1).", np.tanh),
        Mistake("`np.exp(x) / (1 + np.exp(x))` overflows to infinity/infinity = NaN for large x; "
                "use 1 / (1 + np.exp(-x)) instead.", lambda x: np.exp(x) / (1 + np.exp(x))),
    ],
)

relu = FunctionExercise(
    exercise_id="ch01.relu",
    title="The ReLU activation",
    hints=[
        "ReLU keeps positive values and replaces negative values by 0, element by element.",
        "Python's built-in `max(x, 0)` compares the whole array at once; `np.max(x, 0)` reduces along axis 0. "
        "You want the element-wise maximum.",
        "`return np.maximum(x, 0)`",
    ],
    reference=reference_relu,
    cases=[
        Case("a mix of negative, zero and positive values", (np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),)),
        Case("a 2-D batch", (_BATCH,)),
        Case("a single negative number", (-3.0,)),
        Case("large magnitudes", (np.array([-1e6, 1e6]),)),
    ],
    mistakes=[
        Mistake("`np.minimum` keeps the negative part; ReLU needs `np.maximum(x, 0)`.", lambda x: np.minimum(x, 0)),
        Mistake("`np.abs` turns negatives positive; ReLU sets them to 0.", np.abs),
    ],
)

softmax = FunctionExercise(
    exercise_id="ch01.softmax",
    title="A numerically stable softmax over the last axis",
    hints=[
        "softmax(z)_i = e^(z_i) / sum_j e^(z_j), computed separately for each row (the last axis).",
        "e^1000 overflows to infinity. Softmax doesn't change if you subtract the same number from every logit "
        "of a row, so subtract each row's maximum first.",
        "Use `np.max(logits, axis=-1, keepdims=True)` and `np.sum(..., axis=-1, keepdims=True)`; "
        "keepdims keeps the shapes broadcastable.",
    ],
    reference=reference_softmax,
    cases=[
        Case("a 1-D vector of logits", (np.array([1.0, 2.0, 3.0]),)),
        Case("a 2-D batch (one row per example)", (np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 5.0]]),)),
        Case("a batch holding a single example", (np.array([[0.5, -1.0, 2.0, 0.0]]),)),
        Case("large logits", (np.array([1000.0, 1001.0, 1002.0]),)),
        Case("a batch with very large and very negative rows",
             (np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -1001.0]]),)),
        Case("a row whose logits span more than np.exp can take (800 apart)", (np.array([[0.0, 800.0, -10.0]]),)),
    ],
    mistakes=[
        Mistake("no max subtraction: np.exp overflows for large logits (infinity/infinity = NaN). "
                "Subtract each row's maximum (`axis=-1, keepdims=True`) before np.exp.",
                lambda z: np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True)),
        Mistake("normalised over axis 0 (across the batch) instead of the last axis: "
                "each row, not each column, must sum to 1.",
                lambda z: reference_softmax_along_axis(z, 0)),
        Mistake("normalised over the whole array (np.sum without `axis`): each row must sum to 1 on its own.",
                lambda z: np.exp(z - np.max(z)) / np.sum(np.exp(z - np.max(z)))),
        Mistake("subtracted each row's minimum instead of its maximum: when a row's logits span more than about 709, "
                "np.exp of the largest shifted logit overflows. Subtract `np.max(z, axis=-1, keepdims=True)`.",
                lambda z: np.exp(z - np.min(z, axis=-1, keepdims=True))
                / np.sum(np.exp(z - np.min(z, axis=-1, keepdims=True)), axis=-1, keepdims=True)),
        Mistake("subtracted the maximum of the whole array instead of each row's maximum: a row far below the "
                "global maximum underflows to 0/0. Use `np.max(z, axis=-1, keepdims=True)`.",
                lambda z: np.exp(z - np.max(z)) / np.sum(np.exp(z - np.max(z)), axis=-1, keepdims=True)),
    ],
    reference_along_axis=reference_softmax_along_axis,
)

neuron_output = FunctionExercise(
    exercise_id="ch01.neuron_output",
    title="The output of one neuron",
    hints=[
        "A neuron computes z = w·x + b (a weighted sum plus the bias), then applies its activation.",
        "`np.dot(inputs, weights)` gives the weighted sum as one number; `inputs * weights` alone does not sum.",
        "`return sigmoid(np.dot(inputs, weights) + bias)`",
    ],
    reference=reference_neuron_output,
    cases=[
        Case("three inputs", (np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.25, 0.1]), 0.2)),
        Case("a negative bias", (np.array([0.5, -1.0]), np.array([2.0, 1.0]), -1.5)),
        Case("zero weights (only the bias counts)", (np.array([4.0, -2.0, 7.0]), np.zeros(3), 0.7)),
        Case("a large weighted sum", (np.array([10.0, 20.0]), np.array([30.0, 40.0]), 1.0)),
        Case("a slightly negative weighted sum (z = -0.3)", (np.array([1.0, 2.0]), np.array([0.4, -0.5]), 0.3)),
    ],
    mistakes=[
        Mistake("the bias is missing: add `bias` to the weighted sum before the activation.",
                lambda x, w, b: reference_sigmoid(np.dot(x, w))),
        Mistake("the activation is missing: you returned the weighted sum z, not sigmoid(z).",
                lambda x, w, b: np.dot(x, w) + b),
        Mistake("the bias is added after the activation; it belongs inside: sigmoid(w·x + b).",
                lambda x, w, b: reference_sigmoid(np.dot(x, w)) + b),
        Mistake("element-wise product without the sum: use `np.dot(inputs, weights)` (or `(inputs * weights).sum()`).",
                lambda x, w, b: reference_sigmoid(x * w + b)),
        Mistake("`np.mean` averages the weighted inputs; the neuron needs their sum: `np.dot(inputs, weights)` "
                "(or `np.sum(inputs * weights)`).",
                lambda x, w, b: reference_sigmoid(np.mean(x * w) + b)),
    ],
)

dense_forward = FunctionExercise(
    exercise_id="ch01.dense_forward",
    title="A Dense layer's forward pass for a batch",
    hints=[
        "Each row of `inputs` is one example. One matrix product computes every neuron for every example.",
        "With Keras' convention the kernel has shape (in_features, out_features), so the product is "
        "`inputs @ kernel`, of shape (batch, out_features); the bias (out_features,) broadcasts over the batch.",
        "`return activation(inputs @ kernel + bias)`",
    ],
    reference=reference_dense_forward,
    cases=[
        Case("a batch of 4 with the linear activation", (_DENSE_INPUTS, _DENSE_KERNEL, _DENSE_BIAS, _IDENTITY)),
        Case("a batch of 4 with tanh", (_DENSE_INPUTS, _DENSE_KERNEL, _DENSE_BIAS, _TANH)),
        Case("a batch of 4 with ReLU", (_DENSE_INPUTS, _DENSE_KERNEL, _DENSE_BIAS, _RELU)),
        Case("a batch holding one example", (_DENSE_INPUTS[:1], _DENSE_KERNEL, _DENSE_BIAS, _TANH)),
    ],
    mistakes=[
        Mistake("the bias is missing: add `bias` after the matrix product.",
                lambda x, k, b, f: f(x @ k)),
        Mistake("the activation is never applied: wrap the result in `activation(...)`.",
                lambda x, k, b, f: x @ k + b),
        Mistake("the activation is applied before the bias is added; it must come last: activation(inputs @ kernel + bias).",
                lambda x, k, b, f: f(x @ k) + b),
    ],
)

count_dense_parameters = FunctionExercise(
    exercise_id="ch01.count_dense_parameters",
    title="Counting the parameters of a Dense stack",
    hints=[
        "A Dense layer from n_in to n_out units has a weight for every (input, unit) pair, plus one bias per unit.",
        "The input 'layer' has no parameters; layers are the consecutive pairs (layer_sizes[i], layer_sizes[i+1]).",
        "`return sum(n_in * n_out + n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]))`",
    ],
    reference=reference_count_dense_parameters,
    cases=[
        Case("the MNIST model [784, 64, 10]", ([784, 64, 10],)),
        Case("two hidden layers of 16 units [2, 16, 16, 1]", ([2, 16, 16, 1],)),
        Case("a single neuron with three inputs [3, 1]", ([3, 1],)),
        Case("a square layer [5, 5]", ([5, 5],)),
        Case("only an input layer [10] (no Dense layers)", ([10],)),
    ],
    mistakes=[
        Mistake("the biases are missing: every unit also has one bias (n_in * n_out + n_out per layer).",
                lambda sizes: sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))),
        Mistake("you counted biases for the input layer too; only Dense layers (not the inputs) have biases.",
                lambda sizes: reference_count_dense_parameters(sizes) + sizes[0]),
        Mistake("one bias per input instead of one per unit: it is n_in * n_out + n_out.",
                lambda sizes: sum(a * b + a for a, b in zip(sizes[:-1], sizes[1:]))),
    ],
)


def build_moons_reference_model():
    """One design within the moons task's constraints (the solution's): two hidden ReLU layers, 337 parameters."""
    import keras

    return keras.Sequential([
        keras.Input(shape=(2,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


MOONS_MINIMUM_ACCURACY = 0.99  # [2, 16, 16, 1] ReLU, Adam 0.01, 20 epochs: 1.000 for seeds 0-5; [2, 16, 1] tanh: 0.88-0.99
MOONS_MAX_PARAMETERS = 400
MOONS_TRAINING_SEED, MOONS_HELDOUT_SEED = 0, 2024  # the lesson trains on seed 0; the check scores on seed 2024
MOONS_RECIPE = ("A design that reaches the bar: two hidden layers with a non-linear activation (relu or tanh) and a "
                "sigmoid output, trained with Adam at 0.01 for about 20 epochs on the training moons.")
NONLINEAR_LAYER_TYPES = ("ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax")


def has_hidden_nonlinearity(model):
    """Whether a layer before the output layer applies a non-linear activation (else the boundary is a straight line)."""
    for layer in model.layers[:-1]:
        activation = getattr(layer, "activation", None)
        if type(layer).__name__ == "Activation":
            if getattr(activation, "__name__", "") != "linear":
                return True
        elif type(layer).__name__ in NONLINEAR_LAYER_TYPES:
            return True
        elif activation is not None and getattr(activation, "__name__", "linear") != "linear":
            return True
    return False


def moons_accuracy(model, seed):
    """The model's accuracy on 1000 two-moons points (noise 0.1) drawn with a seed."""
    from dlcourse import datasets

    features, labels = datasets.make_two_moons(num_samples=1000, noise=0.1, seed=seed)
    return diagnostics.model_accuracy(model, features, labels)


def moons_fit_advice(model):
    """Underfitting or overfitting, from the accuracy on the lesson's training moons against the held-out moons."""
    if diagnostics.untrained_layers(model):
        return ""  # untrained_model_advice names that cause
    training, heldout = moons_accuracy(model, MOONS_TRAINING_SEED), moons_accuracy(model, MOONS_HELDOUT_SEED)
    return diagnostics.underfit_or_overfit_advice(
        training, heldout, MOONS_MINIMUM_ACCURACY,
        underfit_advice=(f"On the lesson's training moons your model's accuracy is only {training:.3f} too: it "
                         "underfits. " + ("No layer before its output applies a non-linear activation, so whatever its "
                                          "size it draws a straight boundary, which can't follow the moons: give the hidden "
                                          "layers one (relu or tanh)." if not has_hidden_nonlinearity(model) else
                                          "Give it more capacity (a second hidden layer) or more training (about 20 "
                                          "epochs of Adam at 0.01).")),
        overfit_advice=(f"Your model reaches {training:.3f} on the lesson's training moons but only {heldout:.3f} on "
                        "held-out moons: it overfits the training points. Train on all 1000 training moons for about "
                        "20 epochs, not many more."))


MOONS_EVIDENCE = (diagnostics.untrained_model_advice, moons_fit_advice)


def score_moons_model(model):
    """Accuracy on fresh two-moons data, and a message if the model predicts one class only (with its evidence)."""
    from dlcourse import datasets

    features, labels = datasets.make_two_moons(num_samples=1000, noise=0.1, seed=MOONS_HELDOUT_SEED)
    return score_classifier(model, features, labels, MOONS_EVIDENCE, MOONS_RECIPE)


moons_classifier = DesignExercise(
    exercise_id="ch01.moons_classifier",
    title="Design a classifier for the two moons",
    hints=[
        "Price a design before you build it: your `count_dense_parameters` (or `model.count_params()`) tells you "
        "what fits in 400 parameters. Section 4's single hidden layer of 16 tanh units (65 parameters) bends the "
        "boundary, but trained on these moons with Adam at 0.01 for 20 epochs it stays below 99% for most seeds: "
        "the budget lets you afford more.",
        "A second hidden layer lets the boundary follow both tips of the moons closely. Keep a non-linear "
        "activation (relu or tanh) in every hidden layer, end with one sigmoid unit (the probability of class 1), "
        "and train with the `\"binary_crossentropy\"` loss and `keras.optimizers.Adam(learning_rate=0.01)`.",
        "For example `[2, 16, 16, 1]`: two Dense(16, relu) hidden layers and a Dense(1, sigmoid) output, "
        "337 parameters, fitted on `moons_train_x, moons_train_y` for 20 epochs.",
    ],
    build_reference=build_moons_reference_model,
    score_model=score_moons_model,
    metric_name="accuracy",
    minimum_score=MOONS_MINIMUM_ACCURACY,
    low_score_advice=MOONS_RECIPE,
    low_score_evidence=MOONS_EVIDENCE,
    max_parameters=MOONS_MAX_PARAMETERS,
    input_shape=(2,),
    output_shape=(1,),
    required_layers=("Dense",),
    required_layers_description="fully connected layers",
)

EXERCISES = [sigmoid, relu, softmax, neuron_output, dense_forward, count_dense_parameters, moons_classifier]
