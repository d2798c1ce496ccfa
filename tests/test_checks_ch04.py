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


def max_pool_with_loops(feature_map, pool_size):
    rows, cols = np.shape(feature_map)[0] // pool_size, np.shape(feature_map)[1] // pool_size
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = np.max(feature_map[i * pool_size:(i + 1) * pool_size, j * pool_size:(j + 1) * pool_size])
    return out


def average_pool_with_loops(feature_map, pool_size):
    rows, cols = np.shape(feature_map)[0] // pool_size, np.shape(feature_map)[1] // pool_size
    return np.array([[feature_map[i * pool_size:(i + 1) * pool_size, j * pool_size:(j + 1) * pool_size].mean()
                      for j in range(cols)] for i in range(rows)])


def conv_parameter_count_factored(kernel_size, input_channels, filters):
    return filters * (kernel_size ** 2 * input_channels + 1)


def prewitt_kernel():
    return np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])


CORRECT_ANSWERS = {
    "ch04.conv2d": [ch04.reference_conv2d, conv2d_with_sliding_windows, conv2d_with_lists],
    "ch04.conv_output_size": [ch04.reference_conv_output_size, conv_output_size_by_padding],
    "ch04.max_pool2d": [ch04.reference_max_pool2d, max_pool_with_loops],
    "ch04.average_pool2d": [ch04.reference_average_pool2d, average_pool_with_loops],
    "ch04.conv_parameter_count": [ch04.reference_conv_parameter_count, conv_parameter_count_factored],
    "ch04.vertical_edge_kernel": [ch04.reference_vertical_edge_kernel, prewitt_kernel],
}
CORRECT_ANSWERS = {exercise_id: [written_by_student(answers[0])] + answers[1:]
                   for exercise_id, answers in CORRECT_ANSWERS.items()}

# ----------------------------------------------------------------- realistic mistakes


def conv2d_flipped(image, kernel, stride):
    return conv2d_with_sliding_windows(image, np.asarray(kernel)[::-1, ::-1], stride)


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


def max_pool_is_mean(feature_map, pool_size):
    return average_pool_with_loops(feature_map, pool_size)


def max_pool_overlapping(feature_map, pool_size):
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(feature_map, dtype=float), (pool_size, pool_size))
    return windows.max(axis=(2, 3))


def max_pool_wrong_reshape(feature_map, pool_size):
    rows, cols = feature_map.shape[0] // pool_size, feature_map.shape[1] // pool_size
    return feature_map[:rows * pool_size, :cols * pool_size].reshape(rows, cols, pool_size, pool_size).max(axis=(2, 3))


def average_pool_is_max(feature_map, pool_size):
    return max_pool_with_loops(feature_map, pool_size)


def average_pool_overlapping(feature_map, pool_size):
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(feature_map, dtype=float), (pool_size, pool_size))
    return windows.mean(axis=(2, 3))


MISTAKES = {
    "ch04.conv2d": [
        (conv2d_flipped, "failed", ["kernel is flipped"]),
        (conv2d_no_stride, "failed", ["stride is ignored"]),
        (conv2d_off_by_one, "failed", ["off by one"]),
    ],
    "ch04.conv_output_size": [
        (output_size_no_plus_one, "failed", ["'+ 1' is missing"]),
        (output_size_no_stride, "failed", ["stride is ignored"]),
    ],
    "ch04.max_pool2d": [
        (max_pool_is_mean, "failed", ["average pooling"]),
        (max_pool_overlapping, "failed", ["windows overlap"]),
        (max_pool_wrong_reshape, "failed", ["mixes rows and columns"]),
    ],
    "ch04.average_pool2d": [
        (average_pool_is_max, "failed", ["max pooling"]),
        (average_pool_overlapping, "failed", ["windows overlap"]),
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
    ],
}

# ----------------------------------------------------------------- the scored kernel, directly


def test_reference_kernel_scores_perfectly_and_horizontal_scores_zero():
    case = ch04.vertical_edge_kernel.cases[0]
    assert ch04.score_vertical_edge_kernel(case, ch04.reference_vertical_edge_kernel())[0] == 1.0
    assert ch04.score_vertical_edge_kernel(case, ch04.reference_vertical_edge_kernel().T)[0] < 0.5


def test_scaled_and_negated_sobel_pass():
    for kernel in (0.25 * ch04.reference_vertical_edge_kernel(), -ch04.reference_vertical_edge_kernel()):
        assert checks.check("ch04.vertical_edge_kernel", lambda kernel=kernel: kernel, record=False).passed


# ----------------------------------------------------------------- the CNN (a model exercise)


def test_reference_architecture_untrained_fails_on_accuracy():
    keras.utils.set_random_seed(0)
    result = checks.check("ch04.cnn_classifier", ch04.build_cnn_reference_model(), record=False)
    assert result.status == "failed"
    assert "architecture is right" in result.message or "for every image" in result.message, result.message


def test_wrong_architecture_is_rejected_with_a_layer_diff():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.status == "failed"
    assert "RandomTranslation" in result.message or "layer" in result.message.lower(), result.message


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
    assert "on held-out data is 0.9" in result.message, result.message


def test_trained_cnn_built_with_the_functional_api_passes():
    model = _trained_cnn_from_the_pretrained_digit_classifier(functional=True)
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.passed, str(result)


def test_cnn_without_hidden_activations_is_rejected_with_a_layer_diff():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
        keras.layers.Conv2D(16, 3, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax"),
    ])
    result = checks.check("ch04.cnn_classifier", model, record=False)
    assert result.status == "failed"
    assert "First difference at layer 3: a different activation function." in result.message, result.message
    assert "expected BatchNormalization, relu" in result.message, result.message


def test_cnn_scoring_never_uses_digits_the_kernel_can_load():
    score, problem = ch04.score_cnn_model(_LessonLookupModel())
    assert score == pytest.approx(0.1)
    assert "the digit 0" in problem, problem
