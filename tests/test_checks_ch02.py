"""Every chapter 02 check accepts correct answers and names realistic mistakes."""

import numpy as np

from check_helpers import written_by_student
from dlcourse import checks
from dlcourse.checks import ch02


# ----------------------------------------------------------------- correct answers, written differently


def sigmoid_derivative_from_exp(x):
    """e^(-x) / (1 + e^(-x))^2, the textbook form (overflow only warns)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        exponential = np.exp(-x)
        value = exponential / (1.0 + exponential) ** 2
    return np.nan_to_num(value, nan=0.0)


def tanh_derivative_from_cosh(x):
    """1 / cosh(x)^2."""
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(np.asarray(x, dtype=float)) ** 2


def relu_derivative_by_where(x):
    return np.where(np.asarray(x) > 0, 1.0, 0.0)


def mse_by_loop(targets, predictions):
    differences = (np.asarray(predictions, dtype=float) - np.asarray(targets, dtype=float)).ravel()
    return sum(d * d for d in differences) / len(differences)


def mse_gradient_by_mean_shape(targets, predictions):
    difference = predictions - targets
    return 2 * difference / np.prod(difference.shape)


def bce_with_where(labels, probabilities, epsilon=1e-7):
    p = np.minimum(np.maximum(probabilities, epsilon), 1 - epsilon)
    return -np.mean(np.where(labels == 1, np.log(p), np.log(1 - p)))


def bce_gradient_two_terms(labels, probabilities, epsilon=1e-7):
    p = np.clip(probabilities, epsilon, 1 - epsilon)
    return (-labels / p + (1 - labels) / (1 - p)) / labels.size


def dense_backward_einsum(inputs, kernel, upstream_gradient):
    d_kernel = np.einsum("bi,bo->io", inputs, upstream_gradient)
    d_bias = np.einsum("bo->o", upstream_gradient)
    d_inputs = np.einsum("bo,io->bi", upstream_gradient, kernel)
    return [d_kernel, d_bias, d_inputs]


def numerical_gradient_flat(function, point, epsilon=1e-5):
    """Perturbs a flat copy with basis vectors."""
    point = np.asarray(point, dtype=float)
    flat = point.ravel()
    gradient = np.empty(flat.size)
    for i in range(flat.size):
        step = np.zeros(flat.size)
        step[i] = epsilon
        gradient[i] = (function((flat + step).reshape(point.shape))
                       - function((flat - step).reshape(point.shape))) / (2 * epsilon)
    return gradient.reshape(point.shape)


def gradient_descent_step_by_loop(parameters, gradients, learning_rate):
    updated = {}
    for name in parameters:
        updated[name] = parameters[name].copy()
        updated[name] -= learning_rate * gradients[name]
    return updated


def train_with_relu_and_loop(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """A differently written training loop: explicit parameters, labels kept as a column."""
    rng = np.random.default_rng(seed)
    x = np.asarray(features, dtype=float)
    y = np.asarray(labels, dtype=float)[:, None]
    w1 = rng.standard_normal((2, num_hidden_units)) * 0.5
    b1 = np.zeros(num_hidden_units)
    w2 = rng.standard_normal((num_hidden_units, 1)) * 0.5
    b2 = np.zeros(1)
    for _ in range(num_steps):
        h = np.tanh(x @ w1 + b1)
        p = 1 / (1 + np.exp(-(h @ w2 + b2)))
        g = (p - y) / len(x)
        gh = (g @ w2.T) * (1 - h * h)
        w2, b2 = w2 - learning_rate * h.T @ g, b2 - learning_rate * g.sum(0)
        w1, b1 = w1 - learning_rate * x.T @ gh, b1 - learning_rate * gh.sum(0)
    return {"W1": w1, "b1": b1, "W2": w2, "b2": b2}


CORRECT_ANSWERS = {
    "ch02.sigmoid_derivative": [ch02.reference_sigmoid_derivative, sigmoid_derivative_from_exp],
    "ch02.tanh_derivative": [ch02.reference_tanh_derivative, tanh_derivative_from_cosh],
    "ch02.relu_derivative": [ch02.reference_relu_derivative, relu_derivative_by_where],
    "ch02.mse": [ch02.reference_mse, mse_by_loop],
    "ch02.mse_gradient": [ch02.reference_mse_gradient, mse_gradient_by_mean_shape],
    "ch02.binary_cross_entropy": [ch02.reference_binary_cross_entropy, bce_with_where],
    "ch02.bce_gradient": [ch02.reference_bce_gradient, bce_gradient_two_terms],
    "ch02.dense_backward": [ch02.reference_dense_backward, dense_backward_einsum],
    "ch02.numerical_gradient": [ch02.reference_numerical_gradient, numerical_gradient_flat],
    "ch02.gradient_descent_step": [ch02.reference_gradient_descent_step, gradient_descent_step_by_loop],
    "ch02.train_two_layer_network": [ch02.reference_train_two_layer_network, train_with_relu_and_loop],
}
CORRECT_ANSWERS = {exercise_id: [written_by_student(answers[0])] + answers[1:]
                   for exercise_id, answers in CORRECT_ANSWERS.items()}

# ----------------------------------------------------------------- realistic mistakes


def sigmoid_derivative_of_x(x):
    return x * (1 - x)


def sigmoid_derivative_is_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def tanh_derivative_of_x(x):
    return 1 - x ** 2


def tanh_derivative_no_square(x):
    return 1 - np.tanh(x)


def relu_derivative_one_at_zero(x):
    return (np.asarray(x) >= 0).astype(float)


def relu_derivative_sign(x):
    return np.sign(x)


def mse_sum(targets, predictions):
    return np.sum((predictions - targets) ** 2)


def mse_rmse(targets, predictions):
    return np.sqrt(np.mean((predictions - targets) ** 2))


def mse_gradient_no_two(targets, predictions):
    return (predictions - targets) / predictions.size


def mse_gradient_no_mean(targets, predictions):
    return 2 * (predictions - targets)


def mse_gradient_flipped(targets, predictions):
    return 2 * (targets - predictions) / predictions.size


def bce_unclipped(labels, probabilities, epsilon=1e-7):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.mean(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities))


def bce_no_minus(labels, probabilities, epsilon=1e-7):
    p = np.clip(probabilities, epsilon, 1 - epsilon)
    return np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))


def bce_sum(labels, probabilities, epsilon=1e-7):
    p = np.clip(probabilities, epsilon, 1 - epsilon)
    return -np.sum(labels * np.log(p) + (1 - labels) * np.log(1 - p))


def bce_gradient_wrt_logits(labels, probabilities, epsilon=1e-7):
    return (probabilities - labels) / len(labels)


def bce_gradient_no_mean(labels, probabilities, epsilon=1e-7):
    p = np.clip(probabilities, epsilon, 1 - epsilon)
    return (p - labels) / (p * (1 - p))


def dense_backward_transposed_kernel(inputs, kernel, upstream_gradient):
    return upstream_gradient.T @ inputs, upstream_gradient.sum(axis=0), upstream_gradient @ kernel.T


def dense_backward_bias_not_summed(inputs, kernel, upstream_gradient):
    return inputs.T @ upstream_gradient, upstream_gradient, upstream_gradient @ kernel.T


def dense_backward_bias_mean(inputs, kernel, upstream_gradient):
    return inputs.T @ upstream_gradient, upstream_gradient.mean(axis=0), upstream_gradient @ kernel.T


def numerical_gradient_forward(function, point, epsilon=1e-5):
    point = np.array(point, dtype=float)
    gradient = np.zeros_like(point)
    base = function(point)
    for index in np.ndindex(point.shape):
        nudged = point.copy()
        nudged[index] += epsilon
        gradient[index] = (function(nudged) - base) / epsilon
    return gradient


def numerical_gradient_half(function, point, epsilon=1e-5):
    point = np.array(point, dtype=float)
    gradient = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        plus, minus = point.copy(), point.copy()
        plus[index] += epsilon
        minus[index] -= epsilon
        gradient[index] = (function(plus) - function(minus)) / epsilon
    return gradient


def numerical_gradient_not_restored(function, point, epsilon=1e-5):
    """Nudges the caller's array and never puts it back."""
    gradient = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        point[index] += epsilon
        plus = function(point)
        point[index] -= 2 * epsilon
        gradient[index] = (plus - function(point)) / (2 * epsilon)
    return gradient


def gradient_ascent(parameters, gradients, learning_rate):
    return {name: value + learning_rate * gradients[name] for name, value in parameters.items()}


def update_only_weights(parameters, gradients, learning_rate):
    return {name: (value - learning_rate * gradients[name] if name.startswith("W") else value)
            for name, value in parameters.items()}


def update_in_place(parameters, gradients, learning_rate):
    for name in parameters:
        parameters[name] -= learning_rate * gradients[name]
    return parameters


def train_with_ascent(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """Mistake: the update adds the gradients."""
    return ch02.reference_train_two_layer_network(features, labels, num_hidden_units, -learning_rate, num_steps, seed)


def train_never_updating(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """Mistake: returns the initial (zero) parameters."""
    return {"W1": np.zeros((2, num_hidden_units)), "b1": np.zeros(num_hidden_units),
            "W2": np.zeros((num_hidden_units, 1)), "b2": np.zeros(1)}


def train_with_transposed_kernel(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """Mistake: returns W1 in the (out, in) convention."""
    parameters = ch02.reference_train_two_layer_network(features, labels, num_hidden_units, learning_rate, 5, seed)
    parameters["W1"] = parameters["W1"].T
    return parameters


# (answer, expected status, fragments that the message must contain)
MISTAKES = {
    "ch02.sigmoid_derivative": [
        (sigmoid_derivative_of_x, "failed", ["to x itself"]),
        (sigmoid_derivative_is_sigmoid, "failed", ["sigmoid itself"]),
    ],
    "ch02.tanh_derivative": [
        (tanh_derivative_of_x, "failed", ["1 - x**2"]),
        (tanh_derivative_no_square, "failed", ["square is missing"]),
    ],
    "ch02.relu_derivative": [
        (relu_derivative_one_at_zero, "failed", ["at x = 0", "x > 0"]),
        (relu_derivative_sign, "failed", ["np.sign"]),
        (np.abs, "failed", ["Wrong values"]),  # no known mistake matches: only the values are shown
    ],
    "ch02.mse": [
        (mse_sum, "failed", ["summed instead of averaging"]),
        (mse_rmse, "failed", ["root mean squared error"]),
    ],
    "ch02.mse_gradient": [
        (mse_gradient_no_two, "failed", ["factor 2"]),
        (mse_gradient_no_mean, "failed", ["1/n"]),
        (mse_gradient_flipped, "failed", ["sign is flipped"]),
    ],
    "ch02.binary_cross_entropy": [
        (bce_unclipped, "failed", ["not clipped", "inf"]),
        (bce_no_minus, "failed", ["minus sign"]),
        (bce_sum, "failed", ["summed instead of averaging"]),
    ],
    "ch02.bce_gradient": [
        (bce_gradient_wrt_logits, "failed", ["*logit*"]),
        (bce_gradient_no_mean, "failed", ["1/n"]),
    ],
    "ch02.dense_backward": [
        (dense_backward_transposed_kernel, "failed", ["d_kernel is transposed", "Wrong shape"]),
        (dense_backward_bias_not_summed, "failed", ["d_bias is not summed"]),
        (dense_backward_bias_mean, "failed", ["d_bias is averaged"]),
    ],
    "ch02.numerical_gradient": [
        (numerical_gradient_forward, "failed", ["forward difference"]),
        (numerical_gradient_half, "failed", ["instead of 2 * epsilon"]),
        (numerical_gradient_not_restored, "failed", ["changed its input", "in place"]),
    ],
    "ch02.gradient_descent_step": [
        (gradient_ascent, "failed", ["gradient *ascent*"]),
        (update_only_weights, "failed", ["biases must take a step"]),
        (update_in_place, "failed", ["changed its input", "in place"]),
    ],
    "ch02.train_two_layer_network": [
        (train_with_ascent, "failed", ["accuracy is", "below the required 0.95"]),
        (train_never_updating, "failed", ["for every point"]),
        (train_with_transposed_kernel, "failed", ["`W1` has shape (16, 2)"]),
    ],
}


def test_every_exercise_has_two_correct_answers_and_two_mistakes():
    for exercise_id in checks.exercises("ch02"):
        assert len(CORRECT_ANSWERS[exercise_id]) >= 2, exercise_id
        assert len(MISTAKES[exercise_id]) >= 2, exercise_id


def test_relu_derivative_at_zero_is_zero():
    assert ch02.reference_relu_derivative(np.array([0.0]))[0] == 0.0


def test_reference_numerical_gradient_agrees_with_the_analytic_one():
    point = np.array([1.0, -2.0, 0.5])
    gradient = ch02.reference_numerical_gradient(lambda x: np.sum(x ** 3), point)
    np.testing.assert_allclose(gradient, 3 * point ** 2, rtol=1e-8)


def test_reference_training_reaches_the_required_accuracy():
    case = ch02.train_two_layer_network.cases[0]
    parameters = ch02.reference_train_two_layer_network(*case.args)
    score, problem = ch02.score_two_layer_network(case, parameters)
    assert problem == "" and score >= 0.97
