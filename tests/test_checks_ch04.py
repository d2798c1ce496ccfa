"""Every chapter 04 check accepts correct answers and names realistic mistakes."""

import math

import keras
import numpy as np
import pytest

from check_helpers import written_by_student
from dlcourse import checks, datasets
from dlcourse.checks import ch04

# ----------------------------------------------------------------- correct answers, written differently


def conv2d_with_sliding_windows(image, kernel, stride):
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(image, dtype=float), np.shape(kernel))
    return np.einsum("ijkl,kl->ij", windows[::stride, ::stride], kernel)


def conv2d_with_lists(image, kernel, stride):
    rows, cols = len(image), len(image[0])
    kr, kc = len(kernel), len(kernel[0])
    return np.array([[sum(image[i + a][j + b] * kernel[a][b] for a in range(kr) for b in range(kc))
                      for j in range(0, cols - kc + 1, stride)] for i in range(0, rows - kr + 1, stride)])


def conv_output_size_by_padding(input_size, kernel_size, stride, padding):
    if padding == "valid":
        return int(math.floor((input_size - kernel_size) / stride)) + 1
    return -(-input_size // stride)


def pool_with_sliding_windows(feature_map, size, stride, mode):
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(feature_map, dtype=float), (size, size))
    windows = windows[::stride, ::stride]
    return windows.max(axis=(2, 3)) if mode == "max" else windows.mean(axis=(2, 3))


def pool_with_lists(feature_map, size, stride, mode):
    rows, cols = len(feature_map), len(feature_map[0])
    output = []
    for top in range(0, rows - size + 1, stride):
        row = []
        for left in range(0, cols - size + 1, stride):
            values = [feature_map[top + a][left + b] for a in range(size) for b in range(size)]
            row.append(max(values) if mode == "max" else sum(values) / len(values))
        output.append(row)
    return np.array(output)


def conv2d_multichannel_with_einsum(image, kernels, bias, stride, padding):
    padded = np.pad(np.asarray(image, dtype=float), [(padding, padding), (padding, padding), (0, 0)])
    kernel_rows, kernel_cols = np.shape(kernels)[:2]
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel_rows, kernel_cols), axis=(0, 1))
    return np.einsum("ijckl,klcf->ijf", windows[::stride, ::stride], kernels) + bias


def conv2d_multichannel_with_loops(image, kernels, bias, stride, padding):
    rows, cols, channels = image.shape
    padded = np.zeros((rows + 2 * padding, cols + 2 * padding, channels))
    padded[padding:padding + rows, padding:padding + cols] = image
    kr, kc, _, filters = kernels.shape
    out_rows, out_cols = (rows + 2 * padding - kr) // stride + 1, (cols + 2 * padding - kc) // stride + 1
    output = np.zeros((out_rows, out_cols, filters))
    for i in range(out_rows):
        for j in range(out_cols):
            for f in range(filters):
                window = padded[i * stride:i * stride + kr, j * stride:j * stride + kc, :]
                output[i, j, f] = np.sum(window * kernels[:, :, :, f]) + bias[f]
    return output


def conv_parameter_count_factored(kernel_size, input_channels, filters):
    return filters * (kernel_size ** 2 * input_channels + 1)


def middle_row_difference_kernel():
    return np.array([[0, 0, 0], [1, 0, -1], [0, 0, 0]])


CORRECT_ANSWERS = {
    "ch04.conv2d": [ch04.reference_conv2d, conv2d_with_sliding_windows, conv2d_with_lists],
    "ch04.conv_output_size": [ch04.reference_conv_output_size, conv_output_size_by_padding],
    "ch04.pool2d": [ch04.reference_pool2d, pool_with_sliding_windows, pool_with_lists],
    "ch04.conv2d_multichannel": [ch04.reference_conv2d_multichannel, conv2d_multichannel_with_einsum,
                                 conv2d_multichannel_with_loops],
    "ch04.conv_parameter_count": [ch04.reference_conv_parameter_count, conv_parameter_count_factored],
    "ch04.vertical_edge_kernel": [ch04.reference_vertical_edge_kernel, middle_row_difference_kernel],
}
CORRECT_ANSWERS = {exercise_id: [written_by_student(answers[0])] + answers[1:]
                   for exercise_id, answers in CORRECT_ANSWERS.items()}

# ----------------------------------------------------------------- realistic mistakes


def conv2d_flipped(image, kernel, stride):
    return conv2d_with_sliding_windows(image, np.asarray(kernel)[::-1, ::-1], stride)


def conv2d_square_kernel(image, kernel, stride):
    """Mistake: the kernel's row count used for both of its sides (a 1x4 kernel makes 1x1 windows)."""
    size = len(kernel)
    rows, cols = (image.shape[0] - size) // stride + 1, (image.shape[1] - size) // stride + 1
    return np.array([[np.sum(image[i * stride:i * stride + size, j * stride:j * stride + size] * kernel)
                      for j in range(cols)] for i in range(rows)])


def conv2d_square_cropped_kernel(image, kernel, stride):
    """Mistake: `kernel[:k, :k]` with k the kernel's row count."""
    size = kernel.shape[0]
    rows, cols = (image.shape[0] - size) // stride + 1, (image.shape[1] - size) // stride + 1
    return np.array([[np.sum(image[i * stride:i * stride + size, j * stride:j * stride + size] * kernel[:size, :size])
                      for j in range(cols)] for i in range(rows)])


def conv2d_no_stride(image, kernel, stride):
    return conv2d_with_sliding_windows(image, kernel, 1)


def conv2d_off_by_one(image, kernel, stride):
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    kr, kc = kernel.shape
    rows, cols = (image.shape[0] - kr) // stride, (image.shape[1] - kc) // stride
    return np.array([[np.sum(image[i * stride:i * stride + kr, j * stride:j * stride + kc] * kernel)
                      for j in range(cols)] for i in range(rows)]).reshape(rows, cols)


def output_size_no_plus_one(input_size, kernel_size, stride, padding):
    return math.ceil(input_size / stride) if padding == "same" else (input_size - kernel_size) // stride


def output_size_no_stride(input_size, kernel_size, stride, padding):
    return input_size if padding == "same" else input_size - kernel_size + 1


def pool_always_max(feature_map, size, stride, mode):
    return pool_with_sliding_windows(feature_map, size, stride, "max")


def pool_swapped_modes(feature_map, size, stride, mode):
    return pool_with_sliding_windows(feature_map, size, stride, "average" if mode == "max" else "max")


def pool_stride_is_size(feature_map, size, stride, mode):
    """Mistake: the lesson's reshape into non-overlapping blocks, so the windows move by `size`."""
    rows, cols = feature_map.shape[0] // size, feature_map.shape[1] // size
    blocks = feature_map[:rows * size, :cols * size].reshape(rows, size, cols, size)
    return blocks.max(axis=(1, 3)) if mode == "max" else blocks.mean(axis=(1, 3))


def pool_stride_one(feature_map, size, stride, mode):
    return pool_with_sliding_windows(feature_map, size, 1, mode)


def multichannel_without_padding(image, kernels, bias, stride, padding):
    return conv2d_multichannel_with_loops(image, kernels, bias, stride, 0)


def multichannel_without_bias(image, kernels, bias, stride, padding):
    return conv2d_multichannel_with_einsum(image, kernels, 0.0, stride, padding)


def multichannel_flipped(image, kernels, bias, stride, padding):
    return conv2d_multichannel_with_einsum(image, np.flip(kernels, axis=(0, 1)), bias, stride, padding)


def multichannel_first_channel_only(image, kernels, bias, stride, padding):
    return conv2d_multichannel_with_loops(image[:, :, :1], kernels[:, :, :1, :], bias, stride, padding)


MISTAKES = {
    "ch04.conv2d": [
        (conv2d_flipped, "failed", ["kernel is flipped"]),
        (conv2d_no_stride, "failed", ["stride is ignored"]),
        (conv2d_off_by_one, "failed", ["off by one"]),
        (conv2d_square_kernel, "failed", ["kernel is taken to be square"]),
        (conv2d_square_cropped_kernel, "failed", ["kernel is taken to be square"]),
    ],
    "ch04.conv_output_size": [
        (output_size_no_plus_one, "failed", ["'+ 1' is missing"]),
        (output_size_no_stride, "failed", ["stride is ignored"]),
    ],
    "ch04.pool2d": [
        (pool_always_max, "failed", ["mode is ignored", "largest value"]),
        (pool_swapped_modes, "failed", ["max and average are swapped"]),
        (pool_stride_is_size, "failed", ["windows move by `size`, not by `stride`"]),
        (pool_stride_one, "failed", ["stride is ignored"]),
    ],
    "ch04.conv2d_multichannel": [
        (multichannel_without_padding, "failed", ["padding is ignored"]),
        (multichannel_without_bias, "failed", ["bias is missing"]),
        (multichannel_flipped, "failed", ["kernel is flipped"]),
        (multichannel_first_channel_only, "failed", ["channels are not all summed"]),
    ],
    "ch04.conv_parameter_count": [
        (lambda k, c, f: k * k * c * f, "failed", ["biases are missing"]),
        (lambda k, c, f: k * k * f + f, "failed", ["input channels are missing"]),
    ],
    "ch04.vertical_edge_kernel": [
        (lambda: np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]), "failed", ["*horizontal* edges"]),
        (lambda: np.full((3, 3), 1 / 9), "failed", ["blur"]),
        (lambda: np.array([[-1, 0, 2], [-2, 1, 3], [-1, 0, 2]]), "failed", ["sum to", "flat regions"]),
        (lambda: np.array([-1, 0, 1]), "failed", ["3x3"]),
        (lambda: np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), "failed", ["lesson's Sobel kernel"]),
    ],
}

# ----------------------------------------------------------------- the scored kernel, directly


def test_reference_kernel_scores_perfectly_and_horizontal_scores_zero():
    case = ch04.vertical_edge_kernel.cases[0]
    assert ch04.score_vertical_edge_kernel(case, ch04.reference_vertical_edge_kernel())[0] == 1.0
    assert ch04.score_vertical_edge_kernel(case, ch04.reference_vertical_edge_kernel().T)[0] < 0.5


def test_scaled_and_negated_kernels_of_ones_own_pass():
    for kernel in (0.25 * ch04.reference_vertical_edge_kernel(), -ch04.reference_vertical_edge_kernel(),
                   np.array([[-1, 0, 1], [-3, 0, 3], [-1, 0, 1]])):
        assert checks.check("ch04.vertical_edge_kernel", lambda kernel=kernel: kernel, record=False).passed


def test_the_lessons_sobel_kernel_is_refused_in_any_multiple():
    for kernel in (ch04.LESSON_SOBEL_VERTICAL, -0.5 * ch04.LESSON_SOBEL_VERTICAL, 3 * ch04.LESSON_SOBEL_VERTICAL):
        result = checks.check("ch04.vertical_edge_kernel", lambda kernel=kernel: kernel, record=False)
        assert result.status == "failed" and "lesson's Sobel kernel" in result.message, result.message


def test_the_multichannel_reference_matches_keras_conv2d():
    for case in ch04.conv2d_multichannel.cases:
        image, kernels, bias, stride, padding = case.args
        layer = keras.layers.Conv2D(kernels.shape[3], kernels.shape[:2], strides=stride, padding="valid")
        padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))[None].astype("float32")
        layer.build(padded.shape)
        layer.set_weights([kernels.astype("float32"), bias.astype("float32")])
        expected = keras.ops.convert_to_numpy(layer(padded))[0]
        np.testing.assert_allclose(ch04.reference_conv2d_multichannel(*case.args), expected, atol=1e-4)


# ----------------------------------------------------------------- the CNN (a design task)


def test_reference_design_untrained_fails_on_accuracy():
    keras.utils.set_random_seed(0)
    result = checks.check("ch04.cnn_classifier", ch04.build_cnn_reference_model(), record=False)
    assert result.status == "failed"
    assert "Your design meets the constraints (12,954 parameters, within the budget of 20,000)" in result.message \
        or "for every image" in result.message, result.message


def test_a_different_untrained_cnn_within_the_budget_fails_on_accuracy():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(8, 5, strides=2, activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.status == "failed"
    assert "within the budget of 20,000" in result.message or "for every image" in result.message, result.message


def test_a_cnn_over_the_budget_is_rejected_naming_its_count():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])  # 320 + 13 * 13 * 32 * 10 + 10 = 54,410 parameters
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.status == "failed"
    assert result.message.startswith("Your model has 54,410 parameters, over the task's budget of 20,000."), \
        result.message
    assert "(Dense, 54,090 parameters)" in result.message, result.message


def test_an_mlp_without_convolutions_is_rejected_naming_the_missing_layer():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])  # 12,730 parameters: within the budget
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.status == "failed"
    assert "asks for at least one convolutional layer (Conv2D); your model has none" in result.message, result.message


def test_a_wrong_output_shape_is_rejected():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.status == "failed"
    assert "output shape (per example) is (1,); the task needs (10,)" in result.message, result.message


def test_a_flat_input_is_rejected():
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Reshape((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.status == "failed"
    assert "input shape (per example) is (784,)" in result.message, result.message


# ----------------------------------------------------------------- the CNN, scored on held-out digits


def _trained_cnn_from_the_pretrained_digit_classifier(functional=False):
    """A trained chapter 04 CNN without training: datasets/digit_classifier.keras (the same layers, 11 classes,
    trained on pixels in [-1, 1]) moved to pixels in [0, 1] and to the 10 digit classes.

    For x in [0, 1] the classifier sees 2x - 1, so each unbiased 'valid' convolution gives 2 conv(x) - sum(kernel);
    the first BatchNormalization absorbs that exactly with mean' = (mean + sum(kernel)) / 2 and std' = std / 2.
    """
    classifier = keras.models.load_model(datasets.verified_path("digit_classifier.keras"), compile=False)
    if functional:
        inputs = keras.Input(shape=(28, 28, 1))
        layer_output = inputs
        for layer in ch04.build_cnn_reference_model().layers:
            layer_output = layer(layer_output)
        model = keras.Model(inputs, layer_output)
    else:
        model = ch04.build_cnn_reference_model()
    weights = classifier.get_weights()
    kernel, gamma, beta, mean, variance = weights[:5]
    epsilon = classifier.layers[2].epsilon
    standard_deviation = np.sqrt(variance + epsilon) / 2.0
    weights[3] = (mean + kernel.sum(axis=(0, 1, 2))) / 2.0
    weights[4] = standard_deviation ** 2 - epsilon
    weights[-2], weights[-1] = weights[-2][:, :10], weights[-1][:10]
    model.set_weights(weights)
    return model


class _LessonLookupModel:
    """A 'model' that memorised every digit a kernel can load (training on the test data), and says 0 otherwise."""

    def __init__(self):
        images, labels = datasets.load_mnist_sample()
        self.labels = {image.tobytes(): int(label) for image, label in zip(images, labels)}

    def predict(self, images, batch_size=None, verbose=0):
        pixels = np.round(np.asarray(images)[..., 0] * 255.0).astype(np.uint8)
        return np.eye(10)[[self.labels.get(image.tobytes(), 0) for image in pixels]]


def test_trained_cnn_passes_on_the_heldout_digits():
    result = checks.check("ch04.cnn_classifier", _trained_cnn_from_the_pretrained_digit_classifier(), record=False)
    assert result.passed, str(result)
    assert "Your design meets the constraints (12,954 parameters, within the budget of 20,000)" in result.message
    assert "on held-out data is 0.9" in result.message, result.message


def test_trained_cnn_built_with_the_functional_api_passes():
    model = _trained_cnn_from_the_pretrained_digit_classifier(functional=True)
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.passed, str(result)


def test_cnn_scoring_never_uses_digits_the_kernel_can_load():
    score, problem = ch04.score_cnn_model(_LessonLookupModel())
    assert score == pytest.approx(0.1)
    assert "the digit 0" in problem, problem


def test_square_kernel_is_named_only_for_that_mistake():
    for answer in (conv2d_flipped, conv2d_no_stride, conv2d_off_by_one):
        assert "taken to be square" not in checks.check("ch04.conv2d", answer, record=False).message


# ----------------------------------------------------------------- the CNN: advice only with evidence


def nearest_centroid_cnn_stand_in(pixel_scale):
    """A linear stand-in for the CNN: nearest digit centroid of the lesson's training digits, with pixels in
    [0, pixel_scale] (255: as if trained on unscaled images)."""
    train_images, train_labels, _, _ = datasets.load_mnist_split(num_test=1000, seed=0)
    pixels = train_images.reshape(len(train_images), -1).astype("float32") / 255.0 * pixel_scale
    centroids = np.stack([pixels[train_labels == digit].mean(axis=0) for digit in range(10)])
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    scores_scale = 10.0 / pixel_scale ** 2  # keeps the softmax from saturating
    model.set_weights([centroids.T * scores_scale, -0.5 * np.sum(centroids ** 2, axis=1) * scores_scale])
    return model


def test_cnn_trained_on_unscaled_pixels_is_named():
    advice = ch04.cnn_unscaled_pixels_advice(nearest_centroid_cnn_stand_in(255.0))
    assert "more accurate on unscaled pixels" in advice, advice


def test_cnn_trained_on_scaled_pixels_is_not_told_to_scale():
    assert ch04.cnn_unscaled_pixels_advice(nearest_centroid_cnn_stand_in(1.0)) == ""


def test_cnn_predicting_one_digit_gets_evidence_not_questions():
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    kernel, bias = model.get_weights()
    model.set_weights([np.zeros_like(kernel), np.eye(10, dtype="float32")[3]])
    score, problem = ch04.score_cnn_model(model)
    assert "predicts the digit 3 for every image" in problem, problem
    assert "Has it been trained" not in problem and "Are the pixels scaled" not in problem
    assert "The check found no specific cause" in problem  # trained-looking biases, no gain from unscaled pixels


# Exercises whose answers are models or other objects too costly to list in the tables above: the tests
# named here (in this module unless a module is given) show the reference and another correct answer
# passing and at least two named mistakes; test_exercise_tables checks that they exist.
TESTED_ELSEWHERE = {
    "ch04.cnn_classifier": [
        "test_trained_cnn_passes_on_the_heldout_digits",
        "test_trained_cnn_built_with_the_functional_api_passes",
        "test_a_cnn_over_the_budget_is_rejected_naming_its_count",
        "test_a_different_untrained_cnn_within_the_budget_fails_on_accuracy",
        "test_cnn_trained_on_unscaled_pixels_is_named",
    ],
}
