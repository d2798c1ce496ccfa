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


def activation_derivatives_other_forms(x):
    """e^-x / (1 + e^-x)^2, 1 / cosh^2 and np.where, in a dict built key by key."""
    derivatives = {}
    derivatives["relu"] = relu_derivative_by_where(x)
    derivatives["tanh"] = tanh_derivative_from_cosh(x)
    derivatives["sigmoid"] = sigmoid_derivative_from_exp(x)
    return derivatives


def softmax_gradient_by_loop(labels, logits):
    """Example by example, with the log-sum-exp written out and the one-hot row built by hand."""
    gradient = np.empty(np.shape(logits))
    for row, (label, scores) in enumerate(zip(labels, logits)):
        log_total = scores.max() + np.log(np.sum(np.exp(scores - scores.max())))
        target = np.zeros(len(scores))
        target[label] = 1.0
        gradient[row] = (np.exp(scores - log_total) - target) / len(labels)
    return gradient


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


def train_with_relu_and_loop(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """A differently written training loop: explicit parameters, a scale of 0.5, the derivative from h > 0."""
    rng = np.random.default_rng(seed)
    x = np.asarray(features, dtype=float)
    y = np.asarray(labels, dtype=float)[:, None]
    w1 = rng.standard_normal((2, num_hidden_units)) * 0.5
    b1 = np.zeros(num_hidden_units)
    w2 = rng.standard_normal((num_hidden_units, 1)) * 0.5
    b2 = np.zeros(1)
    for _ in range(num_steps):
        h = np.maximum(x @ w1 + b1, 0)
        p = 1 / (1 + np.exp(-(h @ w2 + b2)))
        g = (p - y) / len(x)
        gh = (g @ w2.T) * (h > 0)
        w2, b2 = w2 - learning_rate * h.T @ g, b2 - learning_rate * g.sum(0)
        w1, b1 = w1 - learning_rate * x.T @ gh, b1 - learning_rate * gh.sum(0)
    return {"W1": w1, "b1": b1, "W2": w2, "b2": b2}


CORRECT_ANSWERS = {
    "ch02.activation_derivatives": [ch02.reference_activation_derivatives, activation_derivatives_other_forms],
    "ch02.mse": [ch02.reference_mse, mse_by_loop],
    "ch02.mse_gradient": [ch02.reference_mse_gradient, mse_gradient_by_mean_shape],
    "ch02.binary_cross_entropy": [ch02.reference_binary_cross_entropy, bce_with_where],
    "ch02.bce_gradient": [ch02.reference_bce_gradient, bce_gradient_two_terms],
    "ch02.dense_backward": [ch02.reference_dense_backward, dense_backward_einsum],
    "ch02.numerical_gradient": [ch02.reference_numerical_gradient, numerical_gradient_flat],
    "ch02.softmax_cross_entropy_gradient": [ch02.reference_softmax_cross_entropy_gradient, softmax_gradient_by_loop],
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


def derivatives_with(**wrong):
    """A student's dict of derivatives, right except for the named ones."""
    def answer(x):
        derivatives = {"sigmoid": sigmoid_derivative_from_exp(x), "tanh": tanh_derivative_from_cosh(x),
                       "relu": relu_derivative_by_where(x)}
        with np.errstate(all="ignore"):
            derivatives.update({name: function(np.asarray(x, dtype=float)) for name, function in wrong.items()})
        return derivatives
    return answer


def softmax_gradient_of_sum(labels, logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    q = shifted / shifted.sum(axis=1, keepdims=True)
    q[np.arange(len(labels)), labels] -= 1
    return q


def softmax_gradient_without_one_hot(labels, logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True) / len(labels)


def softmax_gradient_one_hot_minus_softmax(labels, logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    one_hot = np.eye(logits.shape[1])[labels]
    return (one_hot - shifted / shifted.sum(axis=1, keepdims=True)) / len(labels)


def softmax_gradient_over_size(labels, logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    one_hot = np.eye(logits.shape[1])[labels]
    return (shifted / shifted.sum(axis=1, keepdims=True) - one_hot) / logits.size


def softmax_gradient_unshifted(labels, logits):
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return (q - np.eye(logits.shape[1])[labels]) / len(labels)


def train_keeping_the_tanh_derivative(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """Mistake: a ReLU forward pass, but the backward pass still multiplies by tanh's (1 - h**2)."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(features, dtype=float), np.asarray(labels, dtype=float).reshape(-1, 1)
    w1, b1 = rng.normal(0.0, 1.0, (2, num_hidden_units)), np.zeros(num_hidden_units)
    w2, b2 = rng.normal(0.0, np.sqrt(2.0 / num_hidden_units), (num_hidden_units, 1)), np.zeros(1)
    with np.errstate(all="ignore"):
        for _ in range(num_steps):
            h = np.maximum(x @ w1 + b1, 0.0)
            p = 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))
            g = (p - y) / len(x)
            gh = g @ w2.T * (1.0 - h ** 2)
            w2, b2 = w2 - learning_rate * h.T @ g, b2 - learning_rate * g.sum(axis=0)
            w1, b1 = w1 - learning_rate * x.T @ gh, b1 - learning_rate * gh.sum(axis=0)
    return {"W1": w1, "b1": b1, "W2": w2, "b2": b2}


def train_a_tanh_network(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """Mistake: the lesson's tanh network, not adapted to ReLU (the check scores with a ReLU hidden layer)."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(features, dtype=float), np.asarray(labels, dtype=float).reshape(-1, 1)
    w1, b1 = rng.normal(0.0, 1.0, (2, num_hidden_units)), np.zeros(num_hidden_units)
    w2, b2 = rng.normal(0.0, np.sqrt(1.0 / num_hidden_units), (num_hidden_units, 1)), np.zeros(1)
    for _ in range(num_steps):
        h = np.tanh(x @ w1 + b1)
        p = 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))
        g = (p - y) / len(x)
        gh = g @ w2.T * (1.0 - h ** 2)
        w2, b2 = w2 - learning_rate * h.T @ g, b2 - learning_rate * g.sum(axis=0)
        w1, b1 = w1 - learning_rate * x.T @ gh, b1 - learning_rate * gh.sum(axis=0)
    return {"W1": w1, "b1": b1, "W2": w2, "b2": b2}


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
    "ch02.activation_derivatives": [
        (derivatives_with(sigmoid=sigmoid_derivative_of_x), "failed", ["'sigmoid'", "to x itself"]),
        (derivatives_with(sigmoid=sigmoid_derivative_is_sigmoid), "failed", ["'sigmoid'", "sigmoid itself"]),
        (derivatives_with(tanh=tanh_derivative_of_x), "failed", ["'tanh'", "1 - x**2"]),
        (derivatives_with(tanh=tanh_derivative_no_square), "failed", ["'tanh'", "square is missing"]),
        (derivatives_with(relu=relu_derivative_one_at_zero), "failed", ["'relu'", "at x = 0", "x > 0"]),
        (derivatives_with(relu=relu_derivative_sign), "failed", ["'relu'", "np.sign"]),
        # two wrong at once match no single known mistake: only the first wrong key and its values are shown
        (derivatives_with(tanh=tanh_derivative_no_square, relu=np.abs), "failed", ["Wrong values"]),
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
    "ch02.softmax_cross_entropy_gradient": [
        (softmax_gradient_of_sum, "failed", ["1/batch of the mean is missing", "*summed* loss"]),
        (softmax_gradient_without_one_hot, "failed", ["one-hot labels are not subtracted"]),
        (softmax_gradient_one_hot_minus_softmax, "failed", ["sign is flipped"]),
        (softmax_gradient_over_size, "failed", ["number of elements"]),
        (softmax_gradient_unshifted, "failed", ["overflows on large logits"]),
    ],
    "ch02.train_two_layer_network": [
        (train_with_ascent, "failed", ["for every point (accuracy 0.50)", "the steps climb the loss"]),
        (train_never_updating, "failed", ["for every point", "Training left these parameters at their start"]),
        (train_with_transposed_kernel, "failed", ["`W1` has shape (32, 2)"]),
        (train_keeping_the_tanh_derivative, "failed", ["outputs NaN: training diverged"]),
        (train_a_tanh_network, "failed", ["below the required 0.95"]),
    ],
}


def test_relu_derivative_at_zero_is_zero():
    assert ch02.reference_activation_derivatives(np.array([0.0]))["relu"][0] == 0.0


def test_reference_softmax_gradient_agrees_with_central_differences():
    labels, logits = np.array([2, 0, 1]), np.array([[0.5, -1.0, 2.0], [3.0, 0.0, 0.2], [1.0, 1.0, -2.0]])

    def mean_cross_entropy(z):
        shifted = z - z.max(axis=1, keepdims=True)
        return -np.mean((shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(3), labels])

    numerical = ch02.reference_numerical_gradient(mean_cross_entropy, logits)
    np.testing.assert_allclose(ch02.reference_softmax_cross_entropy_gradient(labels, logits), numerical, atol=1e-9)


def test_the_hinted_relu_recipe_passes_on_nine_of_ten_seeds():
    features, labels, num_hidden_units, learning_rate, num_steps, _ = ch02.train_two_layer_network.cases[0].args
    case = ch02.train_two_layer_network.cases[0]
    scores = [ch02.score_two_layer_network(case, ch02.reference_train_two_layer_network(
        features, labels, num_hidden_units, learning_rate, num_steps, seed))[0] for seed in range(10)]
    assert sum(score >= 0.95 for score in scores) >= 9, scores


def test_reference_numerical_gradient_agrees_with_the_analytic_one():
    point = np.array([1.0, -2.0, 0.5])
    gradient = ch02.reference_numerical_gradient(lambda x: np.sum(x ** 3), point)
    np.testing.assert_allclose(gradient, 3 * point ** 2, rtol=1e-8)


def test_reference_training_reaches_the_required_accuracy():
    case = ch02.train_two_layer_network.cases[0]
    parameters = ch02.reference_train_two_layer_network(*case.args)
    score, problem = ch02.score_two_layer_network(case, parameters)
    assert problem == "" and score >= 0.97


# ----------------------------------------------------------------- the training loop: advice only with evidence

TRAINING_CASE = ch02.train_two_layer_network.cases[0]


def test_a_parameter_left_at_its_start_is_named():
    parameters = ch02.reference_train_two_layer_network(*TRAINING_CASE.args)
    parameters["W2"] = ch02.prescribed_initial_parameters(TRAINING_CASE)["W2"]
    parameters["b1"] = np.zeros_like(parameters["b1"])
    advice = ch02.unchanged_parameters_advice(TRAINING_CASE, parameters)
    assert "`b1` (all zeros)" in advice and "`W2` (still the seeded random start)" in advice, advice
    assert "`W1`" not in advice and "`b2`" not in advice


def test_trained_parameters_are_not_named_unchanged():
    parameters = ch02.reference_train_two_layer_network(*TRAINING_CASE.args)
    assert ch02.unchanged_parameters_advice(TRAINING_CASE, parameters) == ""


def test_a_rising_training_loss_is_named():
    assert "climb the loss" in ch02.rising_loss_advice(TRAINING_CASE, train_with_ascent(*TRAINING_CASE.args))


def test_a_falling_training_loss_is_not_named():
    parameters = ch02.reference_train_two_layer_network(*TRAINING_CASE.args)
    assert ch02.rising_loss_advice(TRAINING_CASE, parameters) == ""
    assert ch02.rising_loss_advice(TRAINING_CASE, train_never_updating(*TRAINING_CASE.args)) == ""  # 0.69: a start


def test_a_tanh_network_trained_downhill_is_not_told_its_steps_climb_the_loss():
    """Scored with the exercise's ReLU forward pass, a tanh network's loss can end above the start, but its
    parameters moved against the gradient: no evidence of ascent, so no such claim."""
    parameters = train_a_tanh_network(*TRAINING_CASE.args)
    assert not ch02.moved_uphill(TRAINING_CASE, parameters)
    assert ch02.rising_loss_advice(TRAINING_CASE, parameters) == ""
    assert ch02.moved_uphill(TRAINING_CASE, train_with_ascent(*TRAINING_CASE.args))


def test_a_low_score_without_evidence_shows_the_recipe_as_a_checklist():
    def train_too_briefly(features, labels, num_hidden_units, learning_rate, num_steps, seed):
        return ch02.reference_train_two_layer_network(features, labels, num_hidden_units, learning_rate, 20, seed)

    result = checks.check("ch02.train_two_layer_network", written_by_student(train_too_briefly), record=False)
    assert result.status == "failed" and "below the required 0.95" in result.message, result.message
    assert "The check found no specific cause" in result.message and "numerical_gradient" in result.message
