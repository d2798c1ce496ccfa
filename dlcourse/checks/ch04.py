"""Chapter 04 exercises: convolutional neural networks."""

from __future__ import annotations

import math

import numpy as np

from dlcourse.checks import diagnostics
from dlcourse.checks.framework import (Case, DesignExercise, FunctionExercise, Mistake, ScoredFunctionExercise,
                                       score_classifier)

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


def reference_pool2d(feature_map, size, stride, mode):
    """Max ("max") or mean ("average") of size x size windows moving by `stride`; windows that don't fit are dropped."""
    feature_map = np.asarray(feature_map, dtype=float)
    reduce = np.max if mode == "max" else np.mean
    rows = (feature_map.shape[0] - size) // stride + 1
    cols = (feature_map.shape[1] - size) // stride + 1
    output = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            output[i, j] = reduce(feature_map[i * stride:i * stride + size, j * stride:j * stride + size])
    return output


def reference_conv2d_multichannel(image, kernels, bias, stride, padding):
    """Keras' Conv2D forward pass: image (H, W, C_in), kernels (k_h, k_w, C_in, C_out), bias (C_out,), `padding`
    rows and columns of zeros on every side, a stride; returns (H', W', C_out)."""
    image, kernels, bias = (np.asarray(value, dtype=float) for value in (image, kernels, bias))
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    kernel_rows, kernel_cols = kernels.shape[0], kernels.shape[1]
    out_rows = (padded.shape[0] - kernel_rows) // stride + 1
    out_cols = (padded.shape[1] - kernel_cols) // stride + 1
    output = np.zeros((out_rows, out_cols, kernels.shape[3]))
    for i in range(out_rows):
        for j in range(out_cols):
            window = padded[i * stride:i * stride + kernel_rows, j * stride:j * stride + kernel_cols, :]
            output[i, j, :] = np.tensordot(window, kernels, axes=3) + bias
    return output


def reference_conv_parameter_count(kernel_size, input_channels, filters):
    """Weights of a Conv2D layer with a square kernel: one k x k x channels kernel and one bias per filter."""
    return kernel_size * kernel_size * input_channels * filters + filters


def reference_vertical_edge_kernel():
    """The Prewitt kernel for vertical edges: it responds where brightness changes from left to right."""
    return np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])


LESSON_SOBEL_VERTICAL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # printed in the lesson


# ------------------------------------------------------------------ exercise: conv2d

_rng = np.random.default_rng(404)
_IMAGE_5x5 = np.arange(25, dtype=float).reshape(5, 5)
_IMAGE_7x6 = np.round(_rng.normal(size=(7, 6)), 2)
_IMAGE_8x8 = np.round(_rng.uniform(0, 1, size=(8, 8)), 2)
_ASYMMETRIC = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0], [-2.0, 0.5, 1.0]])
_EDGE = LESSON_SOBEL_VERTICAL
_WIDE = np.array([[1.0, -1.0, 2.0, 0.5]])


def _true_convolution(image, kernel, stride):
    return reference_conv2d(image, np.flip(np.asarray(kernel, dtype=float)), stride)


def _conv_ignoring_stride(image, kernel, stride):
    return reference_conv2d(image, kernel, 1)


def _conv_stride_subsampled_wrong(image, kernel, stride):
    """(n - k) // s positions: the '+ 1' forgotten."""
    full = reference_conv2d(image, kernel, stride)
    return full[:max(full.shape[0] - 1, 0), :max(full.shape[1] - 1, 0)]


def _conv_square_kernel(side_axis, crop_kernel):
    """The square-kernel assumption: the kernel's rows (side_axis 0) or columns (1) used as both of its sides, the
    window multiplied by the kernel as it is (NumPy pairs them up) or by `kernel[:k, :k]`."""
    def convolve(image, kernel, stride):
        image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
        size = kernel.shape[side_axis]
        used = kernel[:size, :size] if crop_kernel else kernel
        out_rows, out_cols = (image.shape[0] - size) // stride + 1, (image.shape[1] - size) // stride + 1
        return np.array([[np.sum(image[i * stride:i * stride + size, j * stride:j * stride + size] * used)
                          for j in range(out_cols)] for i in range(out_rows)])
    return convolve


_SQUARE_KERNEL_MESSAGE = ("the kernel is taken to be square: one of its sides (e.g. `kernel.shape[0]` or "
                          "`len(kernel)`) is used for both. Use `kernel_rows, kernel_cols = kernel.shape`: a 1x4 kernel "
                          "has a 1x4 window.")

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
        Mistake(_SQUARE_KERNEL_MESSAGE, _conv_square_kernel(0, crop_kernel=False)),
        Mistake(_SQUARE_KERNEL_MESSAGE, _conv_square_kernel(0, crop_kernel=True)),
        Mistake(_SQUARE_KERNEL_MESSAGE, _conv_square_kernel(1, crop_kernel=False)),
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

# ------------------------------------------------------------------ exercise: pooling

_FEATURES_4x4 = np.array([[1.0, 3.0, 2.0, 0.0], [4.0, -1.0, 5.0, 1.0], [0.0, 2.0, -3.0, 6.0], [7.0, 1.0, 2.0, 2.0]])
_FEATURES_5x7 = np.round(_rng.normal(size=(5, 7)), 2)
_FEATURES_6x6 = np.round(_rng.uniform(-1, 1, size=(6, 6)), 2)
_FEATURES_9x6 = np.round(_rng.normal(size=(9, 6)), 2)
_FEATURES_7x7 = np.round(_rng.normal(size=(7, 7)), 2)


def _pool_overlapping(feature_map, size, stride, mode):
    """Mistake: the windows move by 1 pixel, whatever the stride."""
    return reference_pool2d(feature_map, size, 1, mode)


def _pool_stride_is_size(feature_map, size, stride, mode):
    """Mistake: the windows move by `size` (they tile the map), whatever the stride."""
    return reference_pool2d(feature_map, size, size, mode)


def _pool_keeping_remainder(feature_map, size, stride, mode):
    """Mistake: windows that run past the edge are kept, cut short."""
    feature_map = np.asarray(feature_map, dtype=float)
    reduce = np.max if mode == "max" else np.mean
    rows = math.ceil((feature_map.shape[0] - size) / stride) + 1
    cols = math.ceil((feature_map.shape[1] - size) / stride) + 1
    return np.array([[reduce(feature_map[i * stride:i * stride + size, j * stride:j * stride + size])
                      for j in range(cols)] for i in range(rows)])


def _pool_off_by_one(feature_map, size, stride, mode):
    """Mistake: `(rows - size) // stride` windows, the first one not counted."""
    full = reference_pool2d(feature_map, size, stride, mode)
    return full[:full.shape[0] - 1, :full.shape[1] - 1]


pool2d = FunctionExercise(
    exercise_id="ch04.pool2d",
    title="Max or average pooling with any window size and stride",
    hints=[
        "Pooling slides a size x size window exactly like `conv2d` slides its kernel (the top-left corner at "
        "(i * stride, j * stride)), but instead of multiplying by a kernel it keeps one number per window: the "
        "largest for mode \"max\", the mean for mode \"average\". Windows that don't fit are dropped ('valid').",
        "There are `(rows - size) // stride + 1` output rows (and the same for columns). Pick the reduction once: "
        "`reduce = np.max if mode == \"max\" else np.mean`, then two loops: "
        "`output[i, j] = reduce(feature_map[i*stride:i*stride+size, j*stride:j*stride+size])`.",
    ],
    reference=reference_pool2d,
    cases=[
        Case("a 4x4 feature map, 2x2 windows, stride 2, max", (_FEATURES_4x4, 2, 2, "max")),
        Case("a 4x4 feature map, 2x2 windows, stride 2, average", (_FEATURES_4x4, 2, 2, "average")),
        Case("a 5x7 feature map, 2x2 windows, stride 2, max (the last row and column are dropped)",
             (_FEATURES_5x7, 2, 2, "max")),
        Case("a 6x6 feature map, 3x3 windows, stride 3, average", (_FEATURES_6x6, 3, 3, "average")),
        Case("a 7x7 feature map, 3x3 windows, stride 2, max (overlapping windows)", (_FEATURES_7x7, 3, 2, "max")),
        Case("a 9x6 feature map, 2x2 windows, stride 1, average (overlapping windows)",
             (_FEATURES_9x6, 2, 1, "average")),
        Case("a 9x6 feature map, 2x2 windows, stride 3, max (gaps between windows)", (_FEATURES_9x6, 2, 3, "max")),
        Case("a 5x7 feature map, 3x3 windows, stride 2, average", (_FEATURES_5x7, 3, 2, "average")),
    ],
    mistakes=[
        Mistake("max and average are swapped: mode \"max\" keeps each window's largest value, \"average\" its mean.",
                lambda x, size, stride, mode: reference_pool2d(x, size, stride, "average" if mode == "max" else "max")),
        Mistake("the mode is ignored: every window gives its largest value, also for mode \"average\" (which wants the "
                "window's mean).", lambda x, size, stride, mode: reference_pool2d(x, size, stride, "max")),
        Mistake("the mode is ignored: every window gives its mean, also for mode \"max\" (which wants the window's "
                "largest value).", lambda x, size, stride, mode: reference_pool2d(x, size, stride, "average")),
        Mistake("the stride is ignored (the windows move by 1 pixel): the top-left corner of window (i, j) is at "
                "(i * stride, j * stride).", _pool_overlapping),
        Mistake("the windows move by `size`, not by `stride`: they only tile the map when the two are equal. The "
                "top-left corner of window (i, j) is at (i * stride, j * stride).", _pool_stride_is_size),
        Mistake("windows that run past the edge are kept, cut short; Keras' 'valid' pooling drops them, so there are "
                "`(rows - size) // stride + 1` output rows.", _pool_keeping_remainder),
        Mistake("the output is one row and one column too small (off by one): there are "
                "`(rows - size) // stride + 1` windows per column; the `+ 1` counts the first one.", _pool_off_by_one),
    ],
)

# ------------------------------------------------------------------ exercise: multi-channel convolution with padding

_MULTI_IMAGE_6x5x3 = np.round(_rng.normal(size=(6, 5, 3)), 2)
_MULTI_IMAGE_7x7x2 = np.round(_rng.uniform(0, 1, size=(7, 7, 2)), 2)
_MULTI_IMAGE_6x8x3 = np.round(_rng.normal(size=(6, 8, 3)), 2)
_MULTI_IMAGE_5x6x2 = np.round(_rng.normal(size=(5, 6, 2)), 2)
_MULTI_IMAGE_4x4x3 = np.round(_rng.normal(size=(4, 4, 3)), 2)


def _multi_kernels(rows, cols, channels, filters):
    """Random kernels with asymmetric weights (a flip changes them)."""
    return np.round(_rng.normal(size=(rows, cols, channels, filters)), 2)


def _multi_bias(filters):
    return np.round(_rng.uniform(0.5, 1.5, size=filters) * np.where(np.arange(filters) % 2, -1, 1), 2)


_MULTI_CASES = [
    Case("a 5x5 grey image (1 channel), one 3x3 filter, stride 1, no padding",
         (_IMAGE_5x5[..., None], _ASYMMETRIC[..., None, None], np.array([0.5]), 1, 0)),
    Case("a 6x5 image with 3 channels, two 3x3 filters, stride 1, padding 1 (output 6x5x2)",
         (_MULTI_IMAGE_6x5x3, _multi_kernels(3, 3, 3, 2), _multi_bias(2), 1, 1)),
    Case("a 7x7 image with 2 channels, four 3x3 filters, stride 2, padding 1 (output 4x4x4)",
         (_MULTI_IMAGE_7x7x2, _multi_kernels(3, 3, 2, 4), _multi_bias(4), 2, 1)),
    Case("a 6x8 image with 3 channels, two 2x3 filters (not square), stride 2, no padding (output 3x3x2)",
         (_MULTI_IMAGE_6x8x3, _multi_kernels(2, 3, 3, 2), _multi_bias(2), 2, 0)),
    Case("a 5x6 image with 2 channels, three 5x5 filters, stride 1, padding 2 (output 5x6x3)",
         (_MULTI_IMAGE_5x6x2, _multi_kernels(5, 5, 2, 3), _multi_bias(3), 1, 2)),
    Case("a 4x4 image with 3 channels, five 1x1 filters, stride 1, no padding (a 1x1 convolution)",
         (_MULTI_IMAGE_4x4x3, _multi_kernels(1, 1, 3, 5), _multi_bias(5), 1, 0)),
]


def _multi_no_padding(image, kernels, bias, stride, padding):
    """Mistake: the padding is ignored."""
    return reference_conv2d_multichannel(image, kernels, bias, stride, 0)


def _multi_no_bias(image, kernels, bias, stride, padding):
    """Mistake: the bias is never added."""
    return reference_conv2d_multichannel(image, kernels, np.zeros_like(np.asarray(bias, dtype=float)), stride, padding)


def _multi_flipped(image, kernels, bias, stride, padding):
    """Mistake: each kernel flipped along its rows and columns (the mathematical convolution)."""
    return reference_conv2d_multichannel(image, np.asarray(kernels, dtype=float)[::-1, ::-1], bias, stride, padding)


def _multi_first_channel_only(image, kernels, bias, stride, padding):
    """Mistake: only the first input channel is used."""
    image, kernels = np.asarray(image, dtype=float), np.asarray(kernels, dtype=float)
    return reference_conv2d_multichannel(image[:, :, :1], kernels[:, :, :1, :], bias, stride, padding)


def _multi_channel_mean(image, kernels, bias, stride, padding):
    """Mistake: the products are averaged over the input channels instead of summed."""
    image, kernels = np.asarray(image, dtype=float), np.asarray(kernels, dtype=float)
    channels = image.shape[2]
    with_bias = reference_conv2d_multichannel(image, kernels / channels, np.zeros(kernels.shape[3]), stride, padding)
    return with_bias + np.asarray(bias, dtype=float)


def _multi_no_stride(image, kernels, bias, stride, padding):
    """Mistake: the stride is ignored."""
    return reference_conv2d_multichannel(image, kernels, bias, 1, padding)


conv2d_multichannel = FunctionExercise(
    exercise_id="ch04.conv2d_multichannel",
    title="The forward pass of keras.layers.Conv2D: several channels and filters, a bias, a stride and zero padding",
    hints=[
        "First pad: `np.pad(image, ((padding, padding), (padding, padding), (0, 0)))` adds `padding` rows and "
        "columns of zeros on every side and none along the channel axis. Then slide the window as in `conv2d`: "
        "the window at (i, j) is `padded[i*stride:i*stride+kr, j*stride:j*stride+kc, :]`, with all its channels.",
        "Output (i, j, f) is the sum over the window's rows, columns *and channels* of `window * kernels[:, :, :, f]`, "
        "plus `bias[f]`. There are `(padded_rows - kr) // stride + 1` output rows; the kernel is not flipped.",
        "Two loops over (i, j) and one over f: `output[i, j, f] = np.sum(window * kernels[:, :, :, f]) + bias[f]` "
        "(or all filters at once: `np.tensordot(window, kernels, axes=3) + bias`).",
    ],
    reference=reference_conv2d_multichannel,
    cases=_MULTI_CASES,
    mistakes=[
        Mistake("the padding is ignored: first add `padding` rows and columns of zeros on every side "
                "(`np.pad(image, ((p, p), (p, p), (0, 0)))`), then slide the kernel over the padded image.",
                _multi_no_padding),
        Mistake("the bias is missing: every filter adds its own `bias[f]` to each of its outputs.", _multi_no_bias),
        Mistake("the kernel is flipped: that is the mathematical convolution. Keras' Conv2D (and this exercise) "
                "multiplies each window by the kernel as it is (cross-correlation).", _multi_flipped),
        Mistake("the input channels are not all summed: output (i, j, f) is the sum over the window's rows, columns "
                "*and every input channel* of `window * kernels[:, :, :, f]` (here only the first channel counts).",
                _multi_first_channel_only),
        Mistake("the input channels are averaged, not summed: output (i, j, f) is the *sum* over the window's rows, "
                "columns and every input channel of `window * kernels[:, :, :, f]`.", _multi_channel_mean),
        Mistake("the stride is ignored: the window moves by `stride` pixels, so its top-left corner (in the padded "
                "image) is at (i * stride, j * stride).", _multi_no_stride),
    ],
    time_limit_seconds=20.0,
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


def is_multiple_of_lesson_sobel(kernel):
    """Whether a 3x3 kernel is c * the lesson's Sobel kernel for some c != 0 (negated and scaled copies included)."""
    scale = float(np.sum(kernel * LESSON_SOBEL_VERTICAL) / np.sum(LESSON_SOBEL_VERTICAL ** 2))
    return scale != 0.0 and bool(np.allclose(kernel, scale * LESSON_SOBEL_VERTICAL, rtol=1e-6, atol=1e-9 * abs(scale)))


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
    if is_multiple_of_lesson_sobel(kernel):
        return 0.0, ("that is the lesson's Sobel kernel `sobel_vertical` (or a multiple of it), printed just above the "
                     "exercise. The exercise asks for a kernel of your own: keep the idea (right column minus left "
                     "column, weights summing to 0) and choose different weights.")
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
        "Weights that sum to 0 ignore constant brightness; the centre column can be 0. The lesson's Sobel kernel "
        "(and any multiple of it) is not accepted: change its weights.",
        "The Prewitt kernel weighs the three rows equally: rows `[-1, 0, 1]`, `[-1, 0, 1]`, `[-1, 0, 1]`.",
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
    """One design within the task's constraints (the solution's, 12,954 parameters): used only by the tests."""
    from dlcourse import architectures

    return architectures.small_cnn(10)


def cnn_scoring_digits():
    """The 1000 held-out MNIST test digits the CNN is scored on, scaled to [0, 1] with a channel axis, and labels."""
    from dlcourse.checks import heldout

    test_images, test_labels = heldout.load_model_scoring_digits()
    return (test_images.astype("float32") / 255.0)[..., None], test_labels


def cnn_unscaled_pixels_advice(model):
    """Advice naming unscaled training images, only when the CNN scores clearly higher on 0-255 pixels."""
    return diagnostics.unscaled_pixels_advice(model, *cnn_scoring_digits())


CNN_EVIDENCE = (diagnostics.untrained_model_advice, cnn_unscaled_pixels_advice)
CNN_RECIPE = ("Train for 20 epochs in batches of 64 with Adam on the warm-up + cosine schedule (hint 2), on pixels "
              "scaled to [0, 1].")


def score_cnn_model(model):
    """Accuracy on 1000 held-out MNIST test digits that no lesson cell loads, and a message if it predicts one class
    (with the causes the check found evidence for)."""
    images, test_labels = cnn_scoring_digits()
    return score_classifier(model, images, test_labels, CNN_EVIDENCE, CNN_RECIPE, item="image",
                            class_phrase="the digit {}")


CNN_PARAMETER_BUDGET = 20_000

cnn_classifier = DesignExercise(
    exercise_id="ch04.cnn_classifier",
    title="Design a small CNN for the MNIST digits: at most 20,000 parameters, at least 0.97 on unseen digits",
    hints=[
        "Spend the budget on convolutions, not on one big Dense layer: two blocks of Conv2D (3x3) -> "
        "BatchNormalization -> ReLU -> MaxPooling2D(2), with 16 and then 32 filters, shrink 28x28 to 5x5x32 = 800 "
        "numbers, and Dense(10, softmax) on them costs only 8,010 parameters. Count as you go with `summary()`.",
        "Train on `train_x` (pixels already scaled to [0, 1], with a channel axis) with "
        "`loss=\"sparse_categorical_crossentropy\"`, 20 epochs in batches of 64, and Adam on the lesson's warm-up + "
        "cosine schedule: `keras.optimizers.Adam(make_schedule(20, 64, len(train_x)))` (1260 steps: 126 of "
        "warm-up from 1e-3 to 3e-3, then 1134 of cosine decay).",
        "With only 4000 training digits, regularise: `RandomTranslation(0.1, 0.1, fill_mode=\"constant\")` as the "
        "first layer (shifts by up to 3 pixels, only during `fit`), `use_bias=False` in each Conv2D followed by "
        "BatchNormalization, and `Dropout(0.3)` after `Flatten()`. That is the lesson's CNN, 12,954 parameters; "
        "plain `Adam()` at 1e-3 for 15 epochs lands around 0.96-0.97, too close to the bar.",
    ],
    build_reference=build_cnn_reference_model,
    score_model=score_cnn_model,
    metric_name="accuracy",
    minimum_score=0.97,
    max_parameters=CNN_PARAMETER_BUDGET,
    input_shape=(28, 28, 1),
    output_shape=(10,),
    required_layers=("Conv2D",),
    required_layers_description="at least one convolutional layer",
    low_score_advice=CNN_RECIPE,
    low_score_evidence=CNN_EVIDENCE,
    time_limit_seconds=90.0,
)

EXERCISES = [conv2d, conv_output_size, vertical_edge_kernel, pool2d, conv2d_multichannel, conv_parameter_count,
             cnn_classifier]
