"""Chapter 04 exercises: convolutional neural networks."""

from __future__ import annotations

import math

import numpy as np

from dlcourse.checks import diagnostics
from dlcourse.checks.framework import Case, FunctionExercise, Mistake, ModelExercise, ScoredFunctionExercise

# ------------------------------------------------------------------ references


def reference_conv2d(image, kernel, stride):
    """Single-channel 'valid' cross-correlation (what keras.layers.Conv2D computes), with a stride."""
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    kernel_rows, kernel_cols = kernel.shape
    out_rows = (image.shape[0] - kernel_rows) // stride + 1
    out_cols = (image.shape[1] - kernel_cols) // stride + 1
    output = np.zeros((out_rows, out_cols))
    for i in range(out_rows):
        for j in range(out_cols):
            window = image[i * stride:i * stride + kernel_rows, j * stride:j * stride + kernel_cols]
            output[i, j] = np.sum(window * kernel)
    return output


def reference_conv_output_size(input_size, kernel_size, stride, padding):
    """Keras' output length along one axis: 'valid': floor((n - k) / s) + 1; 'same': ceil(n / s)."""
    if padding == "same":
        return math.ceil(input_size / stride)
    return (input_size - kernel_size) // stride + 1


def reference_max_pool2d(feature_map, pool_size):
    """Max over non-overlapping pool_size x pool_size windows; rows and columns left over are dropped."""
    feature_map = np.asarray(feature_map, dtype=float)
    rows, cols = feature_map.shape[0] // pool_size, feature_map.shape[1] // pool_size
    blocks = feature_map[:rows * pool_size, :cols * pool_size].reshape(rows, pool_size, cols, pool_size)
    return blocks.max(axis=(1, 3))


def reference_average_pool2d(feature_map, pool_size):
    """Mean over non-overlapping pool_size x pool_size windows; rows and columns left over are dropped."""
    feature_map = np.asarray(feature_map, dtype=float)
    rows, cols = feature_map.shape[0] // pool_size, feature_map.shape[1] // pool_size
    blocks = feature_map[:rows * pool_size, :cols * pool_size].reshape(rows, pool_size, cols, pool_size)
    return blocks.mean(axis=(1, 3))


def reference_conv_parameter_count(kernel_size, input_channels, filters):
    """Weights of a Conv2D layer with a square kernel: one k x k x channels kernel and one bias per filter."""
    return kernel_size * kernel_size * input_channels * filters + filters


def reference_vertical_edge_kernel():
    """The Sobel kernel for vertical edges: it responds where brightness changes from left to right."""
    return np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


# ------------------------------------------------------------------ exercise: conv2d

_rng = np.random.default_rng(404)
_IMAGE_5x5 = np.arange(25, dtype=float).reshape(5, 5)
_IMAGE_7x6 = np.round(_rng.normal(size=(7, 6)), 2)
_IMAGE_8x8 = np.round(_rng.uniform(0, 1, size=(8, 8)), 2)
_ASYMMETRIC = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0], [-2.0, 0.5, 1.0]])
_EDGE = reference_vertical_edge_kernel()
_WIDE = np.array([[1.0, -1.0, 2.0, 0.5]])


def _true_convolution(image, kernel, stride):
    return reference_conv2d(image, np.flip(np.asarray(kernel, dtype=float)), stride)


def _conv_ignoring_stride(image, kernel, stride):
    return reference_conv2d(image, kernel, 1)


def _conv_stride_subsampled_wrong(image, kernel, stride):
    """(n - k) // s positions: the '+ 1' forgotten."""
    full = reference_conv2d(image, kernel, stride)
    return full[:max(full.shape[0] - 1, 0), :max(full.shape[1] - 1, 0)]


conv2d = FunctionExercise(
    exercise_id="ch04.conv2d",
    title="A single-channel 'valid' convolution with a stride, as keras.layers.Conv2D computes it",
    hints=[
        "Slide the kernel over the image: the output at (i, j) is the sum of `kernel * window`, where the window "
        "is the kernel-sized patch whose top-left corner is at (i * stride, j * stride). Keras does *not* flip "
        "the kernel (this is cross-correlation).",
        "With 'valid' padding the output has `(rows - kernel_rows) // stride + 1` rows (and the same for columns): "
        "the `+ 1` counts the first position.",
        "Two loops over the output positions: `window = image[i*stride:i*stride+kr, j*stride:j*stride+kc]`, "
        "`output[i, j] = np.sum(window * kernel)`.",
    ],
    reference=reference_conv2d,
    cases=[
        Case("a 5x5 image of 0..24 and an asymmetric 3x3 kernel, stride 1", (_IMAGE_5x5, _ASYMMETRIC, 1)),
        Case("a 7x6 random image and an asymmetric 3x3 kernel, stride 2", (_IMAGE_7x6, _ASYMMETRIC, 2)),
        Case("an 8x8 image and the Sobel vertical-edge kernel, stride 1", (_IMAGE_8x8, _EDGE, 1)),
        Case("an 8x8 image and a 1x4 kernel, stride 2", (_IMAGE_8x8, _WIDE, 2)),
        Case("a 5x5 image and a 3x3 kernel, stride 3 (one position left over)", (_IMAGE_5x5, _ASYMMETRIC, 3)),
    ],
    mistakes=[
        Mistake("the kernel is flipped: that is the mathematical convolution. Keras' Conv2D (and this exercise) "
                "multiplies the window by the kernel as it is (cross-correlation), without `np.flip`.",
                _true_convolution),
        Mistake("the stride is ignored: the window moves by `stride` pixels, so its top-left corner is at "
                "(i * stride, j * stride) and there are `(rows - kernel_rows) // stride + 1` output rows.",
                _conv_ignoring_stride),
        Mistake("the output is one row and one column too small (off by one): with 'valid' padding there are "
                "`(rows - kernel_rows) // stride + 1` positions; the `+ 1` counts the first one.",
                _conv_stride_subsampled_wrong),
    ],
)

# ------------------------------------------------------------------ exercise: conv_output_size

conv_output_size = FunctionExercise(
    exercise_id="ch04.conv_output_size",
    title="The output size of a convolution or pooling layer, with 'valid' or 'same' padding",
    hints=[
        "'valid' means no padding: the kernel must fit inside the input, so count the positions of its first "
        "pixel, every `stride` pixels. 'same' pads just enough that every `stride`-th input position gets an output.",
        "'valid': `(input_size - kernel_size) // stride + 1`; 'same': `math.ceil(input_size / stride)` "
        "(the kernel size does not matter for 'same').",
    ],
    reference=reference_conv_output_size,
    cases=[
        Case("28 pixels, kernel 3, stride 1, 'valid'", (28, 3, 1, "valid")),
        Case("28 pixels, kernel 3, stride 1, 'same'", (28, 3, 1, "same")),
        Case("28 pixels, kernel 5, stride 2, 'valid'", (28, 5, 2, "valid")),
        Case("28 pixels, kernel 3, stride 2, 'same'", (28, 3, 2, "same")),
        Case("7 pixels, kernel 2, stride 2, 'valid' (one pixel left over)", (7, 2, 2, "valid")),
        Case("7 pixels, kernel 3, stride 3, 'same'", (7, 3, 3, "same")),
        Case("5 pixels, kernel 5, stride 1, 'valid' (the kernel fits once)", (5, 5, 1, "valid")),
        Case("32 pixels, kernel 3, stride 1, 'same'", (32, 3, 1, "same")),
    ],
    mistakes=[
        Mistake("the '+ 1' is missing for 'valid' padding: a kernel as large as the input still fits once, so "
                "the count is `(input_size - kernel_size) // stride + 1`.",
                lambda n, k, s, p: math.ceil(n / s) if p == "same" else (n - k) // s),
        Mistake("the stride is ignored: each step moves the kernel by `stride` pixels, so divide by it "
                "('valid': `(n - k) // stride + 1`; 'same': `ceil(n / stride)`).",
                lambda n, k, s, p: n if p == "same" else n - k + 1),
        Mistake("'same' padding uses floor division; Keras rounds up: `math.ceil(input_size / stride)`, so a "
                "leftover pixel still gets an output.",
                lambda n, k, s, p: n // s if p == "same" else (n - k) // s + 1),
        Mistake("'same' padding ignores the kernel size: its output is `ceil(input_size / stride)`, whatever the kernel.",
                lambda n, k, s, p: (n - k) // s + 1),
    ],
)

# ------------------------------------------------------------------ exercises: pooling

_FEATURES_4x4 = np.array([[1.0, 3.0, 2.0, 0.0], [4.0, -1.0, 5.0, 1.0], [0.0, 2.0, -3.0, 6.0], [7.0, 1.0, 2.0, 2.0]])
_FEATURES_5x7 = np.round(_rng.normal(size=(5, 7)), 2)
_FEATURES_6x6 = np.round(_rng.uniform(-1, 1, size=(6, 6)), 2)
_FEATURES_9x6 = np.round(_rng.normal(size=(9, 6)), 2)

_POOL_CASES = [
    Case("a 4x4 feature map, 2x2 windows", (_FEATURES_4x4, 2)),
    Case("a 5x7 feature map, 2x2 windows (the last row and column are dropped)", (_FEATURES_5x7, 2)),
    Case("a 6x6 feature map, 3x3 windows", (_FEATURES_6x6, 3)),
    Case("a 9x6 feature map, 2x2 windows (the last row is dropped)", (_FEATURES_9x6, 2)),
    Case("a 4x4 feature map, 1x1 windows (nothing changes)", (_FEATURES_4x4, 1)),
]


def _pool_overlapping(reduce):
    def pool(feature_map, pool_size):
        feature_map = np.asarray(feature_map, dtype=float)
        rows, cols = feature_map.shape[0] - pool_size + 1, feature_map.shape[1] - pool_size + 1
        return np.array([[reduce(feature_map[i:i + pool_size, j:j + pool_size]) for j in range(cols)]
                         for i in range(rows)])
    return pool


def _pool_wrong_reshape(reduce_name):
    def pool(feature_map, pool_size):
        feature_map = np.asarray(feature_map, dtype=float)
        rows, cols = feature_map.shape[0] // pool_size, feature_map.shape[1] // pool_size
        blocks = feature_map[:rows * pool_size, :cols * pool_size].reshape(rows, cols, pool_size, pool_size)
        return getattr(blocks, reduce_name)(axis=(2, 3))
    return pool


def _pool_keeping_remainder(reduce):
    def pool(feature_map, pool_size):
        feature_map = np.asarray(feature_map, dtype=float)
        rows, cols = math.ceil(feature_map.shape[0] / pool_size), math.ceil(feature_map.shape[1] / pool_size)
        return np.array([[reduce(feature_map[i * pool_size:(i + 1) * pool_size, j * pool_size:(j + 1) * pool_size])
                          for j in range(cols)] for i in range(rows)])
    return pool


_OVERLAP_MESSAGE = ("the windows overlap (they move by 1 pixel): pooling windows move by `pool_size`, so they tile the "
                    "feature map and the output is `pool_size` times smaller along each axis.")
_RESHAPE_MESSAGE = ("the windows are not pool_size x pool_size blocks of the map: reshape to "
                    "(rows // p, p, cols // p, p) and reduce over axes 1 and 3 (reshaping to (rows // p, cols // p, p, p) "
                    "mixes rows and columns).")
_REMAINDER_MESSAGE = ("the rows or columns left over are kept as smaller windows; Keras' 'valid' pooling drops them, "
                      "so the output has `rows // pool_size` rows and `cols // pool_size` columns.")

max_pool2d = FunctionExercise(
    exercise_id="ch04.max_pool2d",
    title="Max pooling with non-overlapping windows",
    hints=[
        "Cut the feature map into pool_size x pool_size blocks that do not overlap (the window moves by pool_size) "
        "and keep each block's largest value. Rows or columns left over at the end are dropped.",
        "Crop to `rows * p` by `cols * p` (rows = height // p), then `.reshape(rows, p, cols, p).max(axis=(1, 3))`; "
        "or two loops over the output positions.",
    ],
    reference=reference_max_pool2d,
    cases=_POOL_CASES,
    mistakes=[
        Mistake("that is the mean of each window (average pooling); max pooling keeps each window's largest value.",
                reference_average_pool2d),
        Mistake(_OVERLAP_MESSAGE, _pool_overlapping(np.max)),
        Mistake(_RESHAPE_MESSAGE, _pool_wrong_reshape("max")),
        Mistake(_REMAINDER_MESSAGE, _pool_keeping_remainder(np.max)),
    ],
)

average_pool2d = FunctionExercise(
    exercise_id="ch04.average_pool2d",
    title="Average pooling with non-overlapping windows",
    hints=[
        "The same windows as max pooling, but keep each window's mean.",
        "Crop to `rows * p` by `cols * p`, then `.reshape(rows, p, cols, p).mean(axis=(1, 3))`.",
    ],
    reference=reference_average_pool2d,
    cases=_POOL_CASES,
    mistakes=[
        Mistake("that is the largest value of each window (max pooling); average pooling keeps each window's mean.",
                reference_max_pool2d),
        Mistake(_OVERLAP_MESSAGE, _pool_overlapping(np.mean)),
        Mistake(_RESHAPE_MESSAGE, _pool_wrong_reshape("mean")),
        Mistake(_REMAINDER_MESSAGE, _pool_keeping_remainder(np.mean)),
    ],
)

# ------------------------------------------------------------------ exercise: parameter count

conv_parameter_count = FunctionExercise(
    exercise_id="ch04.conv_parameter_count",
    title="The number of parameters of a Conv2D layer",
    hints=[
        "Each filter has one weight for every pixel of its kernel *in every input channel*, plus one bias.",
        "`kernel_size * kernel_size * input_channels * filters + filters`.",
    ],
    reference=reference_conv_parameter_count,
    cases=[
        Case("3x3 kernels on 1 channel (a grey image), 16 filters", (3, 1, 16)),
        Case("3x3 kernels on 16 channels, 32 filters", (3, 16, 32)),
        Case("5x5 kernels on 3 channels (RGB), 8 filters", (5, 3, 8)),
        Case("1x1 kernels on 64 channels, 10 filters", (1, 64, 10)),
        Case("7x7 kernels on 3 channels, 64 filters", (7, 3, 64)),
    ],
    mistakes=[
        Mistake("the biases are missing: each filter also has one bias, so add `filters`.",
                lambda k, c, f: k * k * c * f),
        Mistake("the input channels are missing: a filter's kernel covers every input channel, so it has "
                "`kernel_size * kernel_size * input_channels` weights.",
                lambda k, c, f: k * k * f + f),
        Mistake("the kernel size is counted once, not squared: a kernel of size k is k x k.",
                lambda k, c, f: k * c * f + f),
    ],
)

# ------------------------------------------------------------------ exercise: a vertical-edge kernel


def _edge_test_images():
    """Held-out 12x12 test images: vertical edges, horizontal edges and flat regions, with a little noise."""
    rng = np.random.default_rng(2024)
    vertical, others = [], []
    for column, low, high in [(6, 0.0, 0.5), (4, 0.2, 0.9), (8, 0.1, 0.4), (5, 0.0, 1.0), (7, 0.3, 0.8)]:
        image = np.full((12, 12), low)
        image[:, column:] = high
        vertical.append(image)
        vertical.append(image[:, ::-1].copy())  # dark on the right
    for row, low, high in [(6, 0.0, 0.5), (4, 0.2, 0.9), (8, 0.1, 0.4), (5, 0.0, 1.0)]:
        image = np.full((12, 12), low)
        image[row:, :] = high
        others.append(image)
        others.append(image[::-1, :].copy())
    for brightness in (0.0, 0.3, 0.6, 1.0):
        others.append(np.full((12, 12), brightness))
    vertical = [image + rng.normal(0, 0.01, image.shape) for image in vertical]
    others = [image + rng.normal(0, 0.01, image.shape) for image in others]
    return vertical, others[:8], others[8:]


def _edge_strength(image, kernel):
    return float(np.max(np.abs(reference_conv2d(image, kernel, 1))))


def score_vertical_edge_kernel(case, kernel):
    """Fraction of (vertical edge, other image) pairs where the vertical edge responds over twice as strongly."""
    try:
        kernel = np.asarray(kernel, dtype=float)
    except (TypeError, ValueError):
        return 0.0, f"Return a 3x3 NumPy array of numbers; your function returned {type(kernel).__name__}."
    if kernel.shape != (3, 3):
        return 0.0, f"Return a 3x3 array; yours has shape {kernel.shape}."
    if not np.all(np.isfinite(kernel)) or not np.any(kernel):
        return 0.0, "Your kernel is all zeros or holds NaN/inf: it responds to nothing."
    vertical, horizontal, flat = _edge_test_images()
    strong = [_edge_strength(image, kernel) for image in vertical]
    weak_horizontal = [_edge_strength(image, kernel) for image in horizontal]
    weak_flat = [_edge_strength(image, kernel) for image in flat]
    pairs = [s > 2.0 * w for s in strong for w in weak_horizontal + weak_flat]
    score = float(np.mean(pairs))
    if score >= 0.9:
        return score, ""
    total, magnitude = float(kernel.sum()), float(np.abs(kernel).sum())
    if np.mean(weak_horizontal) > np.mean(strong):
        return score, ("your kernel responds to *horizontal* edges (brightness changing from top to bottom) more "
                       "than to vertical ones. A vertical edge changes brightness from left to right, so the weights "
                       "must change along each row: negative in the left column, positive in the right one.")
    if np.all(kernel >= 0):
        return score, ("all your weights are positive: that is a blur (an average), which responds to brightness "
                       "everywhere, not to edges. An edge detector compares neighbours, so it needs negative weights "
                       "and weights that sum to 0.")
    if abs(total) > 0.1 * magnitude:
        return score, (f"your kernel's weights sum to {total:g}, not 0, so it also responds to flat regions of "
                       "constant brightness. Make the positive and negative weights balance.")
    return score, ""


vertical_edge_kernel = ScoredFunctionExercise(
    exercise_id="ch04.vertical_edge_kernel",
    title="A 3x3 kernel that detects vertical edges",
    hints=[
        "A vertical edge is where brightness changes from *left to right*. A kernel that subtracts the left "
        "column of the window from the right column responds there, and gives 0 where the image is flat.",
        "Weights that sum to 0 ignore constant brightness; the centre column can be 0.",
        "The Sobel kernel: rows `[-1, 0, 1]`, `[-2, 0, 2]`, `[-1, 0, 1]`.",
    ],
    cases=[Case("the held-out test images (vertical edges, horizontal edges, flat regions)", ())],
    score_output=score_vertical_edge_kernel,
    minimum_score=0.9,
    metric_name="edge separation",
    low_score_advice="Vertical edges must respond over twice as strongly as horizontal edges and flat regions.",
    time_limit_seconds=30.0,
)

# ------------------------------------------------------------------ exercise: a CNN for MNIST


def build_cnn_reference_model():
    """The architecture the CNN exercise asks for."""
    from dlcourse import architectures

    return architectures.small_cnn(10)


def score_cnn_model(model):
    """Accuracy on 1000 held-out MNIST test digits that no lesson cell loads, and a message if it predicts one class."""
    from dlcourse.checks import heldout

    test_images, test_labels = heldout.load_model_scoring_digits()
    images = (test_images.astype("float32") / 255.0)[..., None]
    probabilities = np.asarray(model.predict(images, batch_size=500, verbose=0))
    return diagnostics.classification_accuracy(
        probabilities, test_labels, item="image", class_phrase="the digit {}",
        diverged_advice="Lower the learning rate and rebuild the model.",
        one_class_advice="Has it been trained with `fit`? Are the pixels scaled to [0, 1]?")


cnn_classifier = ModelExercise(
    exercise_id="ch04.cnn_classifier",
    title="A small CNN for the MNIST digits",
    hints=[
        "Follow the architecture in the exercise text layer by layer: RandomTranslation(0.1, 0.1, "
        "fill_mode=\"constant\"), then twice Conv2D (no bias) -> BatchNormalization -> Activation(\"relu\") -> "
        "MaxPooling2D(2), with 16 and then 32 filters of size 3, then Flatten, Dropout(0.3), Dense(10, softmax).",
        "Train on `train_x` (pixels already scaled to [0, 1], with a channel axis) with "
        "`loss=\"sparse_categorical_crossentropy\"`, 20 epochs in batches of 64, and Adam on the lesson's warm-up + "
        "cosine schedule: `keras.optimizers.Adam(make_schedule(20, 64, len(train_x)))` (1260 steps: 126 of "
        "warm-up from 1e-3 to 3e-3, then 1134 of cosine decay).",
        "If accuracy is low: train all 20 epochs (a few epochs leave BatchNormalization's moving statistics and the "
        "weights far from done), keep the schedule (plain `Adam()` at a constant 1e-3 for 15 epochs lands around "
        "0.96-0.97, too close to the bar), and scale your training images exactly as `train_x` is, `/ 255.0`.",
    ],
    build_reference=build_cnn_reference_model,
    score_model=score_cnn_model,
    metric_name="accuracy",
    minimum_score=0.97,
    low_score_advice="Train for 20 epochs in batches of 64 with Adam on the warm-up + cosine schedule (hint 2), on "
                     "pixels scaled to [0, 1].",
    time_limit_seconds=90.0,
)

EXERCISES = [conv2d, conv_output_size, max_pool2d, average_pool2d, conv_parameter_count, vertical_edge_kernel,
             cnn_classifier]
