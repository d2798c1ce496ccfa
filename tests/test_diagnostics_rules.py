"""Issue 21 §2-3: each shared diagnostic names a cause only with evidence, and messages stay short and readable.

One test (or a few) per rule. Where a rule came from a wrong cause seen in review, the test reproduces that answer
against the real exercise and asserts that the wrong cause is gone and what differs is said instead.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlcourse import checks, collect
from dlcourse.checks import diagnostics, framework

OVERFLOW_WORDS = ("overflow", "np.exp")


def check(exercise_id, function):
    """The result of checking `function` without recording progress."""
    return checks.check(exercise_id, function, record=False)


# ---------------------------------------------------------------- overflow only where an input exceeds exp's range


def adam_with_zero_power(w, g, m, v, t, lr, b1, b2, eps):
    """Adam whose bias correction uses 1 - beta**(t - 1): 1 - beta**0 = 0 on the first step (0/0, not overflow)."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    return w - lr * (m / (1 - b1 ** (t - 1))) / (np.sqrt(v / (1 - b2 ** (t - 1))) + eps), m, v


def clip_dividing_by_the_norm(gradient, max_norm):
    """Clip by norm through g / |g|, which is 0/0 for a zero gradient."""
    gradient = np.asarray(gradient, dtype=float)
    norm = np.sqrt(np.sum(gradient ** 2))
    return gradient / norm * min(norm, max_norm)


@pytest.mark.parametrize("exercise_id, answer", [("ch03.adam_step", adam_with_zero_power),
                                                 ("ch05.clip_by_norm", clip_dividing_by_the_norm)])
def test_nan_from_zero_over_zero_never_names_overflow(exercise_id, answer):
    result = check(exercise_id, answer)
    assert result.status == "failed" and "NaN" in result.message, result.message
    assert not any(word in result.message for word in OVERFLOW_WORDS), result.message
    assert "0/0" in result.message


def test_overflow_is_named_when_an_input_exceeds_the_exp_range():
    with diagnostics.case_inputs((np.array([1.0, 800.0]),)):
        message = diagnostics.compare_values(np.array([0.0, 1.0]), np.array([0.0, np.nan]))
    assert "Argument 1 holds 800" in message and "overflows" in message


def test_float32_inputs_use_their_own_exp_range():
    assert "overflows" in diagnostics.describe_exp_overflow((np.array([100.0], dtype="float32"),))
    assert diagnostics.describe_exp_overflow((np.array([100.0]),)) == ""


def test_large_integer_inputs_are_no_evidence_of_overflow():
    assert diagnostics.describe_exp_overflow((20000, np.arange(1000))) == ""


def test_nan_where_the_reference_is_nan_too_is_not_a_non_finite_problem():
    assert diagnostics.describe_non_finite_problem(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) == ""


# ---------------------------------------------------------------- broadcasting only where the shapes show it


def huber_mean_per_row(targets, predictions, delta=1.0):
    """Huber loss averaged along the last axis only (one mean per row)."""
    error = np.abs(np.asarray(predictions, dtype=float) - np.asarray(targets, dtype=float))
    return np.mean(np.where(error <= delta, 0.5 * error ** 2, delta * (error - 0.5 * delta)), axis=-1)


def conv2d_assuming_a_square_kernel(image, kernel, stride):
    """Cross-correlation that takes the kernel's height for its width too."""
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    size = kernel.shape[0]
    rows, cols = (image.shape[0] - size) // stride + 1, (image.shape[1] - size) // stride + 1
    output = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            output[i, j] = np.sum(image[i * stride:i * stride + size, j * stride:j * stride + size] * kernel[:, :size])
    return output


def windows_with_a_feature_axis(series, window_length, horizon):
    """Windows shaped (windows, length, 1), as a Keras RNN wants them, where the exercise asks for (windows, length)."""
    series = np.asarray(series, dtype=float)
    count = len(series) - window_length - horizon + 1
    inputs = np.array([series[i:i + window_length] for i in range(count)])[..., None]
    return inputs, np.array([series[i + window_length + horizon - 1] for i in range(count)])


@pytest.mark.parametrize("exercise_id, answer, what", [
    ("ch03.huber", huber_mean_per_row, "The mean of your 2 values is the correct number"),
    ("ch04.conv2d", conv2d_assuming_a_square_kernel, "axis 1 has length 4, expected 3"),
    ("ch05.make_windows", windows_with_a_feature_axis, "extra axis of length 1 (axis 2)"),
])
def test_shape_problems_without_broadcasting_never_name_it(exercise_id, answer, what):
    result = check(exercise_id, answer)
    assert result.status == "failed", result.message
    assert "broadcast" not in result.message, result.message
    assert what in result.message, result.message


def test_a_mean_per_row_names_the_input_axis_it_kept():
    result = check("ch03.huber", huber_mean_per_row)
    assert "along axis 1 of argument 1 (shape (2, 3)) only" in result.message, result.message


def test_broadcasting_is_named_when_the_shape_is_two_input_shapes_broadcast():
    targets, predictions = np.zeros(4), np.ones((4, 1))
    with diagnostics.case_inputs((targets, predictions)):
        message = diagnostics.compare_values(np.ones(4), np.ones((4, 4)))
    assert "broadcasting gives" in message and "(4,)" in message and "(4, 1)" in message


def test_an_unrelated_larger_shape_is_only_described():
    with diagnostics.case_inputs((np.zeros((8, 8)), np.zeros((1, 4)))):
        message = diagnostics.compare_values(np.zeros((4, 3)), np.ones((4, 5)))
    assert "broadcast" not in message and "axis 1 has length 5, expected 3" in message


# ---------------------------------------------------------------- a reduction or keepdims only where the values show it


def test_a_flattened_result_is_not_called_a_reduction():
    message = diagnostics.compare_values(np.arange(6.0).reshape(2, 3), np.arange(6.0))
    assert "flattened" in message
    assert "reduced" not in message and "keepdims" not in message


def test_a_missing_axis_of_length_one_with_the_right_values_suggests_keepdims():
    message = diagnostics.compare_values(np.arange(3.0).reshape(3, 1), np.arange(3.0))
    assert "The values are right" in message and "keepdims=True" in message


def test_a_missing_axis_names_a_reduction_only_when_the_values_are_one():
    expected = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert "sum of the correct result along axis 0" in diagnostics.compare_values(expected, expected.sum(axis=0))
    other = diagnostics.compare_values(expected, np.array([9.0, -1.0, 0.5]))
    assert "Axis 0 (of length 2) is missing." in other and "reduced" not in other


def numerical_gradient_nudging_everything(function, point, epsilon=1e-5):
    """A central difference that nudges every element at once: one number, the sum of the gradient."""
    point = np.asarray(point, dtype=float)
    return (function(point + epsilon) - function(point - epsilon)) / (2 * epsilon)


def test_a_single_number_names_np_maximum_only_when_it_is_the_maximum():
    result = check("ch02.numerical_gradient", numerical_gradient_nudging_everything)
    assert result.status == "failed", result.message
    assert "np.maximum" not in result.message, result.message
    expected = np.array([0.0, 0.5, 2.0])
    assert "np.maximum(x, 0)" in diagnostics.compare_values(expected, np.float64(2.0))
    assert "sum of the correct values" in diagnostics.compare_values(expected, np.float64(2.5))
    unrelated = diagnostics.compare_values(expected, np.float64(7.0))
    assert "single number (7.0)" in unrelated and "reduced" not in unrelated


# ---------------------------------------------------------------- integer truncation only where values are truncated


def best_learning_rate_index(learning_rates, training_losses, validation_losses):
    """The position of the best learning rate instead of the rate itself."""
    best, best_loss = None, math.inf
    for index, losses in enumerate(validation_losses):
        losses = np.asarray(losses, dtype=float)
        if np.all(np.isfinite(losses)) and losses.min() < best_loss:
            best, best_loss = index, losses.min()
    return best


def test_an_index_returned_for_a_value_is_named_not_truncation():
    result = check("ch03.best_learning_rate", best_learning_rate_index)
    assert result.status == "failed", result.message
    assert "truncat" not in result.message.lower(), result.message
    assert "the position of the correct value 0.1 in argument 1" in result.message


def test_truncation_is_named_when_the_integers_are_the_values_cut():
    message = diagnostics.compare_values(np.array([0.5, 1.7]), np.array([0, 1]))
    assert "Wrong dtype" in message and "fractions cut off" in message


def test_other_integers_only_say_what_differs():
    message = diagnostics.compare_values(np.array([0.5, 1.7]), np.array([3, 4]))
    assert "truncat" not in message.lower() and "Expected array([0.5, 1.7]), got array([3, 4])" in message


# ---------------------------------------------------------------- model diffs: the first differing layer, attribute by attribute


keras = pytest.importorskip("keras")


def layer_rows(*layers, shape=(2,)):
    """The diagnostics' summary rows of a Sequential model on inputs of `shape`."""
    return diagnostics.summarise_model(keras.Sequential([keras.Input(shape=shape), *layers]))


def test_a_missing_output_softmax_is_not_called_a_collapse():
    layers = keras.layers
    expected = layer_rows(layers.Dense(16, activation="relu"), layers.Dense(10, activation="softmax"))
    message = diagnostics.diff_models(expected, layer_rows(layers.Dense(16, activation="relu"), layers.Dense(10)))
    assert "collapse" not in message
    assert "layer 2: a different activation function. activation: yours 'linear', expected 'softmax'." in message
    assert "output layer" in message


def test_a_linear_hidden_dense_layer_before_another_dense_layer_collapses():
    layers = keras.layers
    expected = layer_rows(layers.Dense(16, activation="relu"), layers.Dense(1))
    message = diagnostics.diff_models(expected, layer_rows(layers.Dense(16), layers.Dense(1)))
    assert "collapse into a single linear map" in message


@pytest.mark.parametrize("expected_layer, got_layer, shape, named", [
    (lambda: keras.layers.Conv2D(4, 3, padding="same"), lambda: keras.layers.Conv2D(4, 3, padding="valid"), (8, 8, 1),
     "a different padding. padding: yours 'valid', expected 'same'"),
    (lambda: keras.layers.GRU(8), lambda: keras.layers.GRU(8, return_sequences=True), (12, 1),
     "a different return_sequences. return_sequences: yours True, expected False"),
    (lambda: keras.layers.Dense(16), lambda: keras.layers.Dense(8), (2,), "a different number of units. units: yours 8, expected 16."),
])
def test_a_layer_setting_is_named_by_its_attribute(expected_layer, got_layer, shape, named):
    message = diagnostics.diff_models(layer_rows(expected_layer(), keras.layers.Flatten(), shape=shape),
                                      layer_rows(got_layer(), keras.layers.Flatten(), shape=shape))
    assert "First difference at layer 1: " + named in message
    if "units" not in named:
        assert "number of units" not in message


def test_an_extra_layer_is_named_not_a_different_number_of_units():
    layers = keras.layers
    expected = layer_rows(layers.Dense(16, activation="relu"), layers.Dense(1))
    got = layer_rows(layers.Dense(16, activation="relu"), layers.Dense(16, activation="relu"), layers.Dense(1))
    message = diagnostics.diff_models(expected, got)
    assert "Your layer 2 (Dense, relu, output (None, 16), 272 params) is extra" in message
    assert "number of units" not in message


def test_a_missing_layer_is_named():
    layers = keras.layers
    expected = layer_rows(layers.Dense(16, activation="relu"), layers.Dropout(0.3), layers.Dense(1))
    message = diagnostics.diff_models(expected, layer_rows(layers.Dense(16, activation="relu"), layers.Dense(1)))
    assert "Layer 2 (Dropout, output (None, 16), 0 params) is missing from your model" in message


def test_layer_settings_alone_do_not_fail_an_architecture():
    layers = keras.layers
    expected = layer_rows(layers.Dense(4), layers.Dropout(0.3))
    assert diagnostics.diff_models(expected, layer_rows(layers.Dense(4), layers.Dropout(0.5))) == ""


# ---------------------------------------------------------------- accuracy advice only with evidence


def scored_exercise(evidence=()):
    """A scored exercise whose threshold answer scores by how close it is to 0.2, with a recipe and evidence tests."""
    return framework.ScoredFunctionExercise(
        exercise_id="test.threshold", title="Pick a threshold", hints=["-"],
        cases=[framework.Case("points on a line", (np.linspace(-1, 1, 21),))],
        score_output=lambda case, threshold: (float(np.mean((case.args[0] > threshold) == (case.args[0] > 0.2))), ""),
        minimum_score=0.95, metric_name="accuracy", low_score_advice="Scale the inputs.",
        low_score_evidence=evidence)


def test_low_score_advice_without_evidence_is_a_checklist_not_a_diagnosis():
    result = framework.evaluate_answer(scored_exercise(), lambda points: -0.5)
    assert result.status == "failed"
    assert "accuracy is 0.714, below the required 0.95" in result.message
    assert framework.NO_EVIDENCE_PREFIX + "Scale the inputs." in result.message


def test_low_score_advice_with_evidence_replaces_the_checklist():
    def negative_threshold(case, threshold):
        return "Your threshold is negative, but every class change lies above 0." if threshold < 0 else ""

    def never(case, threshold):
        return ""

    result = framework.evaluate_answer(scored_exercise((never, negative_threshold)), lambda points: -0.5)
    assert "Your threshold is negative" in result.message
    assert "Scale the inputs." not in result.message


def test_an_evidence_test_that_raises_found_nothing():
    def broken(case, threshold):
        raise RuntimeError("no data")

    result = framework.evaluate_answer(scored_exercise((broken,)), lambda points: -0.5)
    assert result.status == "failed" and framework.NO_EVIDENCE_PREFIX in result.message


# ---------------------------------------------------------------- §3: readable messages


GRAPH_ERROR = (
    "Graph execution error:\n\nDetected at node MatMul defined at (most recent call last):\n"
    '  File "/work/venv/lib/python3.11/site-packages/ipykernel_launcher.py", line 18, in <module>\n\n'
    '  File "/work/venv/lib/python3.11/site-packages/keras/src/trainers/trainer.py", line 60, in fit\n\n'
    "Matrix size-incompatible: In[0]: [32,3], In[1]: [4,8]\n\t [[{{node MatMul}}]] [Op:__inference_train_142]")


def test_a_framework_exception_in_a_score_is_trimmed_to_its_final_error_line():
    def score_raising(case, output):
        raise ValueError(GRAPH_ERROR)

    exercise = framework.ScoredFunctionExercise(
        exercise_id="test.fit", title="-", hints=["-"], cases=[framework.Case("one case", (1.0,))],
        score_output=score_raising, minimum_score=0.5)
    result = framework.evaluate_answer(exercise, lambda x: x)
    assert "Matrix size-incompatible: In[0]: [32,3], In[1]: [4,8]" in result.message
    assert "File " not in result.message and "Graph execution error" not in result.message
    assert len(result.message) < 200


def test_short_error_drops_frames_and_markers():
    text = framework.short_error(ValueError(GRAPH_ERROR))
    assert text == "ValueError: Matrix size-incompatible: In[0]: [32,3], In[1]: [4,8]"


def rnn_forward_from_the_initial_state(inputs, h_initial, kernel, recurrent_kernel, bias):
    """Every step starts from h_initial: long inputs and outputs, for the length of the message."""
    return np.array([np.tanh(x_t @ kernel + h_initial @ recurrent_kernel + bias) for x_t in np.asarray(inputs, float)])


def test_long_argument_dumps_are_summarised():
    result = check("ch05.rnn_forward", rnn_forward_from_the_initial_state)
    assert result.status == "failed"
    first_line = result.message.splitlines()[0]
    assert len(first_line) <= 300, first_line
    assert "array of shape (6, 3)" in first_line
    assert len(result.message) < 700, result.message
    assert "values differ" in result.message and "The largest difference is at index" in result.message


def test_describe_arguments_shows_shapes_and_a_few_values():
    text = diagnostics.describe_arguments((np.arange(100.0).reshape(10, 10), [np.zeros(3)] * 5, 0.5, "same"))
    assert text == "array of shape (10, 10): [0, 1, 2, ...], list of shape (5, 3): [0, 0, 0, ...], 0.5, 'same'"
    ragged = diagnostics.describe_arguments(([np.zeros(20), np.zeros(30), np.zeros(2), np.zeros(1)],))
    assert ragged == "list of 4: [array of shape (20,): [0, 0, 0, ...], array of shape (30,): [0, 0, 0, ...], ...]"
    assert len(diagnostics.describe_arguments(tuple(np.arange(50.0).reshape(2, 25) for _ in range(20)))) <= 240


def minibatches_as_a_generator(num_examples, batch_size, seed):
    """Batches yielded lazily instead of returned as a list."""
    order = np.random.default_rng(seed).permutation(num_examples)
    return (order[start:start + batch_size] for start in range(0, num_examples, batch_size))


def test_a_returned_generator_is_named_by_its_type():
    result = check("ch03.minibatch_indices", minibatches_as_a_generator)
    assert "returned a generator." in result.message, result.message
    assert "0x" not in result.message and "<generator" not in result.message


def minibatches_without_the_last(num_examples, batch_size, seed):
    """Only the full batches: equal sizes, so NumPy could stack them into one array."""
    order = np.random.default_rng(seed).permutation(num_examples)
    return [order[start:start + batch_size] for start in range(0, num_examples - num_examples % batch_size, batch_size)]


def test_a_list_of_equal_size_arrays_stays_a_list():
    result = check("ch03.minibatch_indices", minibatches_without_the_last)
    assert "ndarray" not in result.message, result.message
    assert "Expected a list of 3 items, but yours has 2." in result.message


def test_the_grader_path_keeps_a_list_of_equal_size_arrays_a_list():
    """What a grading kernel does: collect, send as JSON, judge in another process."""
    import json

    exercise = checks.get_exercise("ch03.minibatch_indices")
    collected = json.loads(json.dumps(collect.collect(exercise.collection_request(), minibatches_without_the_last)))
    result = framework.judge_collected(exercise, collected)
    assert result.status == "failed" and "ndarray" not in result.message, result.message


@pytest.mark.parametrize("value", [[np.arange(3), np.arange(3)], [[1, 2], [3, 4]], [[0.5, 1.0]], []])
def test_collected_lists_keep_their_type(value):
    decoded = collect.decode_value(collect.encode_value(value))
    assert type(decoded) is list and len(decoded) == len(value)
    assert all(np.array_equal(item, original) for item, original in zip(decoded, value))


# ------------------------------------------------------------------ broadcasting errors: `*` for `@` only with evidence


BROADCAST_ERROR = "operands could not be broadcast together with shapes (2,3) (3,3) "


def test_a_cut_short_window_is_described_as_a_slice_not_as_star_for_matmul():
    """(2, 3) * (3, 3) in conv2d: the kernel is an input, the window fits inside the (5, 5) image: a slice's bounds."""
    message = diagnostics.describe_elementwise_product(BROADCAST_ERROR, ((5, 5), (3, 3)))
    assert "slice or window" in message and "axis 0" in message
    assert "`@`" not in message


def test_star_for_matmul_is_named_only_when_both_operands_are_inputs():
    """inputs (2, 3) * kernel (3, 3), both case inputs: the matrix product was meant."""
    message = diagnostics.describe_elementwise_product(BROADCAST_ERROR, ((2, 3), (3, 3), (3,)))
    assert "where the matrix product `@`" in message


def test_without_the_case_inputs_a_broadcasting_error_only_states_the_shapes():
    """No inputs known: no cause, only what the shapes are."""
    message = diagnostics.describe_elementwise_product(BROADCAST_ERROR)
    assert message.startswith("Your code combined arrays of shapes (2, 3) and (3, 3)")
    assert "`@`" not in message and "keepdims" not in message and "slice" not in message


def test_conv2d_with_a_window_cut_short_gets_the_slice_explanation():
    """A real answer: windows taken one row too few, checked against ch04.conv2d."""
    def conv2d_short_window(image, kernel, stride=1):
        rows, columns = kernel.shape
        out_rows, out_columns = (image.shape[0] - rows) // stride + 1, (image.shape[1] - columns) // stride + 1
        output = np.zeros((out_rows, out_columns))
        for i in range(out_rows):
            for j in range(out_columns):
                window = image[i * stride + 1:i * stride + rows, j * stride:j * stride + columns]
                output[i, j] = np.sum(window * kernel)
        return output

    message = checks.check("ch04.conv2d", conv2d_short_window, record=False).message
    assert "slice or window" in message and "`@`" not in message


# ---------------------------------------------------------------- shared evidence tests for low model scores


def one_pixel_classifier(scale):
    """A softmax model on 1x1 images that predicts class 1 where the pixel exceeds half of `scale`."""
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input(shape=(1, 1, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    model.set_weights([np.array([[0.0, 1.0]], dtype="float32"), np.array([0.0, -0.5 * scale], dtype="float32")])
    return model


def one_pixel_images():
    """200 scaled 1x1 images with pixels in [0, 1], labelled 1 where the pixel exceeds 0.5."""
    pixels = np.random.default_rng(0).uniform(0.0, 1.0, size=200).astype("float32")
    return pixels.reshape(-1, 1, 1, 1), (pixels > 0.5).astype(int)


def test_unscaled_pixels_are_named_when_the_model_scores_higher_on_them():
    images, labels = one_pixel_images()
    advice = diagnostics.unscaled_pixels_advice(one_pixel_classifier(255.0), images, labels)
    assert "more accurate on unscaled pixels" in advice and "`/ 255.0`" in advice, advice


def test_unscaled_pixels_are_not_named_for_a_model_trained_on_scaled_pixels():
    images, labels = one_pixel_images()
    assert diagnostics.unscaled_pixels_advice(one_pixel_classifier(1.0), images, labels) == ""


def test_a_model_with_its_initial_biases_is_named_untrained():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4), keras.layers.BatchNormalization(),
                              keras.layers.Dense(1)])
    advice = diagnostics.untrained_model_advice(model)
    assert advice.startswith("Never trained:") and "(biases all exactly 0)" in advice, advice
    assert "(moving mean and variance exactly 0 and 1)" in advice


def test_a_model_whose_biases_and_statistics_moved_is_not_named_untrained():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4), keras.layers.BatchNormalization(),
                              keras.layers.Dense(1)])
    model.set_weights([weight + 0.01 for weight in model.get_weights()])
    assert diagnostics.untrained_model_advice(model) == ""


@pytest.mark.parametrize("training,heldout,expected", [
    (0.80, 0.78, "underfits"),   # below the bar on its training data too
    (0.99, 0.90, "overfits"),    # good on its training data, clearly worse on held-out data
    (0.96, 0.94, ""),            # neither: no evidence, so no advice
])
def test_underfit_or_overfit_advice_follows_the_training_score(training, heldout, expected):
    advice = diagnostics.underfit_or_overfit_advice(training, heldout, 0.95, "underfits", "overfits")
    assert advice == expected
