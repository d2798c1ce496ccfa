"""Every chapter 06 check accepts correct answers and names realistic mistakes."""

import keras
import numpy as np
import tensorflow as tf

from check_helpers import written_by_student
from dlcourse import checks, gan
from dlcourse.checks import ch06

# ----------------------------------------------------------------- correct answers, written differently


def discriminator_loss_with_keras(real_logits, fake_logits):
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    real_logits, fake_logits = np.asarray(real_logits, dtype="float64"), np.asarray(fake_logits, dtype="float64")
    return float(loss(np.ones_like(real_logits), real_logits) + loss(np.zeros_like(fake_logits), fake_logits))


def discriminator_loss_stable_by_hand(real_logits, fake_logits):
    def softplus(x):
        x = np.asarray(x, dtype=float)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return np.mean(softplus(-np.asarray(real_logits))) + np.mean(softplus(fake_logits))


def generator_loss_with_keras(fake_logits):
    fake_logits = np.asarray(fake_logits, dtype="float64")
    return float(keras.losses.BinaryCrossentropy(from_logits=True)(np.ones_like(fake_logits), fake_logits))


def generator_loss_with_ops(fake_logits):
    return float(keras.ops.convert_to_numpy(keras.ops.mean(keras.ops.softplus(-np.asarray(fake_logits, "float64")))))


def gan_training_step_with_tape(generator_weights, discriminator_weights, real_batch, latent_batch, learning_rate):
    generator = gan.build_tiny_generator(generator_weights)
    discriminator = gan.build_tiny_discriminator(discriminator_weights)
    real, latent = tf.constant(real_batch, dtype="float64"), tf.constant(latent_batch, dtype="float64")
    with tf.GradientTape() as tape:
        d_loss = (keras.ops.mean(keras.ops.softplus(-discriminator(real)))
                  + keras.ops.mean(keras.ops.softplus(discriminator(generator(latent)))))
    for weight, gradient in zip(discriminator.trainable_weights, tape.gradient(d_loss, discriminator.trainable_weights)):
        weight.assign_sub(learning_rate * gradient)
    with tf.GradientTape() as tape:
        g_loss = keras.ops.mean(keras.ops.softplus(-discriminator(generator(latent))))
    for weight, gradient in zip(generator.trainable_weights, tape.gradient(g_loss, generator.trainable_weights)):
        weight.assign_sub(learning_rate * gradient)
    return [w.numpy() for w in generator.weights], [w.numpy() for w in discriminator.weights]


def gan_training_step_with_sgd_and_keras_loss(generator_weights, discriminator_weights, real_batch, latent_batch,
                                              learning_rate):
    generator = gan.build_tiny_generator(generator_weights)
    discriminator = gan.build_tiny_discriminator(discriminator_weights)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    d_optimizer, g_optimizer = keras.optimizers.SGD(learning_rate), keras.optimizers.SGD(learning_rate)
    real, latent = np.asarray(real_batch, dtype="float64"), np.asarray(latent_batch, dtype="float64")
    fake = generator(latent)
    with tf.GradientTape() as tape:
        real_logits, fake_logits = discriminator(real), discriminator(fake)
        d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
    d_optimizer.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_weights),
                                    discriminator.trainable_weights))
    with tf.GradientTape() as tape:
        fake_logits = discriminator(generator(latent))
        g_loss = bce(tf.ones_like(fake_logits), fake_logits)
    g_optimizer.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights))
    return generator.get_weights(), discriminator.get_weights()


def tile_images_with_loops(images, num_rows, num_cols):
    images = np.squeeze(np.asarray(images, dtype=float), axis=-1) if np.ndim(images) == 4 else np.asarray(images)
    height, width = images.shape[1:3]
    grid = np.zeros((num_rows * height, num_cols * width))
    for index in range(num_rows * num_cols):
        row, col = divmod(index, num_cols)
        grid[row * height:(row + 1) * height, col * width:(col + 1) * width] = (images[index] + 1) / 2
    return grid


def tile_images_with_blocks(images, num_rows, num_cols):
    images = np.asarray(images, dtype=float).reshape(len(images), *np.shape(images)[1:3])
    rows = [np.hstack(list(images[row * num_cols:(row + 1) * num_cols])) for row in range(num_rows)]
    return (np.vstack(rows) + 1) * 0.5


def missing_modes_with_a_loop(predicted_labels, num_classes, minimum_share):
    labels = list(predicted_labels)
    return [c for c in range(num_classes) if labels.count(c) / len(labels) < minimum_share]


CORRECT_ANSWERS = {
    "ch06.discriminator_loss": [ch06.reference_discriminator_loss, discriminator_loss_with_keras,
                                discriminator_loss_stable_by_hand],
    "ch06.generator_loss": [ch06.reference_generator_loss, generator_loss_with_keras, generator_loss_with_ops],
    "ch06.gan_training_step": [ch06.reference_gan_training_step, gan_training_step_with_tape,
                               gan_training_step_with_sgd_and_keras_loss],
    "ch06.tile_images": [ch06.reference_tile_images, tile_images_with_loops, tile_images_with_blocks],
    "ch06.missing_modes": [ch06.reference_missing_modes, missing_modes_with_a_loop],
}
CORRECT_ANSWERS = {exercise_id: [written_by_student(answers[0])] + answers[1:]
                   for exercise_id, answers in CORRECT_ANSWERS.items()}

# ----------------------------------------------------------------- realistic mistakes


def discriminator_loss_swapped(real_logits, fake_logits):
    return discriminator_loss_stable_by_hand(fake_logits, real_logits) if len(real_logits) == len(fake_logits) else (
        np.mean(np.logaddexp(0, real_logits)) + np.mean(np.logaddexp(0, -np.asarray(fake_logits))))


def discriminator_loss_concatenated(real_logits, fake_logits):
    logits = np.concatenate([real_logits, fake_logits])
    labels = np.concatenate([np.ones(len(real_logits)), np.zeros(len(fake_logits))])
    return float(keras.losses.BinaryCrossentropy(from_logits=True)(labels, logits))


def discriminator_loss_naive(real_logits, fake_logits):
    sigmoid = lambda x: 1 / (1 + np.exp(-np.asarray(x, dtype=float)))  # noqa: E731
    return -np.mean(np.log(sigmoid(real_logits))) - np.mean(np.log(1 - sigmoid(fake_logits)))


def generator_loss_minimax(fake_logits):
    sigmoid = 1 / (1 + np.exp(-np.asarray(fake_logits, dtype=float)))
    return np.mean(np.log(1 - sigmoid))


def step_with(**switches):
    def step(*args):
        generator_weights, discriminator_weights = ch06._tiny_step(*args, **switches)
        return [np.float32(w) for w in generator_weights], [np.float32(w) for w in discriminator_weights]
    return step


def tile_without_rescale(images, num_rows, num_cols):
    return tile_images_with_loops(images, num_rows, num_cols) * 2 - 1


def tile_column_major(images, num_rows, num_cols):
    images = np.squeeze(np.asarray(images, dtype=float), axis=-1) if np.ndim(images) == 4 else np.asarray(images)
    height, width = images.shape[1:3]
    grid = np.zeros((num_rows * height, num_cols * width))
    for index in range(num_rows * num_cols):
        col, row = divmod(index, num_rows)
        grid[row * height:(row + 1) * height, col * width:(col + 1) * width] = (images[index] + 1) / 2
    return grid


def tile_straight_reshape(images, num_rows, num_cols):
    images = np.asarray(images, dtype=float)
    height, width = images.shape[1:3]
    return (images[:num_rows * num_cols].reshape(num_rows * height, num_cols * width) + 1) / 2


def missing_modes_with_unique(predicted_labels, num_classes, minimum_share):
    values, counts = np.unique(predicted_labels, return_counts=True)
    return sorted(int(v) for v, c in zip(values, counts) if c / len(predicted_labels) < minimum_share)


def missing_modes_with_counts(predicted_labels, num_classes, minimum_share):
    counts = np.bincount(predicted_labels, minlength=num_classes)
    return [c for c in range(num_classes) if counts[c] < minimum_share]


MISTAKES = {
    "ch06.discriminator_loss": [
        (discriminator_loss_swapped, "failed", ["labels are swapped"]),
        (discriminator_loss_concatenated, "failed", ["concatenated batch"]),
        (discriminator_loss_naive, "failed", ["sigmoid is applied first"]),
        (lambda real, fake: float(np.mean(np.logaddexp(0, -np.asarray(real)))), "failed", ["only the real"]),
    ],
    "ch06.generator_loss": [
        (generator_loss_minimax, "failed", ["minimax (saturating)"]),
        (lambda fake: np.mean(np.logaddexp(0, fake)), "failed", ["discriminator's loss on the fakes"]),
        (lambda fake: np.sum(np.logaddexp(0, -np.asarray(fake))), "failed", ["summed"]),
    ],
    "ch06.gan_training_step": [
        (step_with(generator_loss="minimax"), "failed", ["minimax (saturating)"]),
        (step_with(generator_loss="discriminator"), "failed", ["descends the discriminator's loss"]),
        (step_with(swap_labels=True), "failed", ["labels are swapped"]),
        (step_with(d_step_updates_generator=True), "failed", ["discriminator step also changed the generator"]),
        (step_with(g_step_updates_discriminator=True), "failed", ["generator step also changed the discriminator"]),
        (step_with(simultaneous=True), "failed", ["from *before* its update"]),
        (step_with(generator_first=True), "failed", ["updated first"]),
    ],
    "ch06.tile_images": [
        (tile_without_rescale, "failed", ["still in [-1, 1]"]),
        (tile_column_major, "failed", ["column by column"]),
        (tile_straight_reshape, "failed", ["strips"]),
    ],
    "ch06.missing_modes": [
        (missing_modes_with_unique, "failed", ["never predicted"]),
        (missing_modes_with_counts, "failed", ["divide the counts"]),
    ],
}

# ----------------------------------------------------------------- the training step in TensorFlow, directly


def test_numpy_reference_step_agrees_with_gradient_tape():
    for case in ch06.gan_training_step.cases:
        expected = ch06.reference_gan_training_step(*case.args)
        got = gan_training_step_with_tape(*case.args)
        assert ch06.gan_training_step.compare(expected, got) == ""


def test_unchanged_weights_are_rejected():
    result = checks.check("ch06.gan_training_step", lambda g, d, real, latent, rate: (g, d), record=False)
    assert result.status == "failed"


# ----------------------------------------------------------------- the generator and discriminator (model exercises)


def test_reference_generator_and_discriminator_pass():
    keras.utils.set_random_seed(0)
    assert checks.check("ch06.generator", ch06.build_generator_reference_model(), record=False).passed
    assert checks.check("ch06.discriminator", ch06.build_discriminator_reference_model(), record=False).passed


def test_generator_for_grey_images_is_rejected_with_a_layer_diff():
    """Chapter 06's MNIST generator (7x7 start, one grey channel) against the 32x32 colour task: the diff names the
    first layer that differs and what differs there (the Dense layer's 7 * 7 * 64 units instead of 8 * 8 * 64)."""
    result = checks.check("ch06.generator", gan.build_generator(16), record=False)
    assert result.status == "failed"
    assert "First difference at layer 1: a different number of units. units: yours 3136, expected 4096." in \
        result.message, result.message


def test_generator_without_tanh_is_rejected():
    reference = ch06.build_generator_reference_model()
    rebuilt = keras.Sequential([keras.Input(shape=(16,))] + [
        type(layer).from_config(layer.get_config()) for layer in reference.layers[:-1]] + [
        keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same")])
    result = checks.check("ch06.generator", rebuilt, record=False)
    assert result.status == "failed" and "activation" in result.message, result.message


def test_discriminator_with_sigmoid_is_rejected():
    reference = ch06.build_discriminator_reference_model()
    model = keras.Sequential([keras.Input(shape=(32, 32, 3))] + [
        type(layer).from_config(layer.get_config()) for layer in reference.layers[:-1]] + [
        keras.layers.Dense(1, activation="sigmoid")])
    result = checks.check("ch06.discriminator", model, record=False)
    assert result.status == "failed" and "sigmoid" in result.message, result.message


def test_discriminator_declaring_31_rows_is_named():
    """'same' stride-2 convolutions give 16x16 maps from 31 rows too, so the layer diff passes: the score names it."""
    reference = ch06.build_discriminator_reference_model()
    model = keras.Sequential([keras.Input(shape=(31, 32, 3))] + [
        type(layer).from_config(layer.get_config()) for layer in reference.layers])
    result = checks.check("ch06.discriminator", model, record=False)
    assert result.status == "failed" and "input shape is (None, 31, 32, 3)" in result.message, result.message


def test_missing_modes_names_the_wrong_classes_not_a_shape():
    """A list of classes has no fixed shape: a wrong list names the classes listed wrongly."""
    result = checks.check("ch06.missing_modes", lambda labels, num_classes, share: list(range(num_classes)),
                          record=False)
    assert result.status == "failed"
    assert "Wrong classes" in result.message and "listed but not missing: [1, 7, 9]" in result.message, \
        result.message
    assert "Wrong shape" not in result.message and "broadcast" not in result.message, result.message


# ----------------------------------------------------------------- the course helpers used by the chapter


def test_ring_of_gaussians_and_mode_count():
    points = gan.make_ring_of_gaussians(800, seed=0, standard_deviation=0.02)
    assert points.shape == (800, 2) and points.dtype == np.float32
    assert gan.modes_covered(points) == 8
    assert gan.modes_covered(np.tile(gan.ring_mode_centres()[:3], (100, 1))) == 3


def colour_generator_functional():
    """The generator of exercise 4, written with the functional API and the derived sizes spelled out."""
    latent = keras.Input(shape=(16,))
    x = keras.layers.Dense(4096, use_bias=False)(latent)
    x = keras.layers.LeakyReLU(negative_slope=0.2)(keras.layers.BatchNormalization()(x))
    x = keras.layers.Reshape((8, 8, 64))(x)
    x = keras.layers.Conv2DTranspose(32, (4, 4), strides=(2, 2), padding="same", use_bias=False)(x)
    x = keras.layers.LeakyReLU(negative_slope=0.2)(keras.layers.BatchNormalization()(x))
    images = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh")(x)
    return keras.Model(latent, images)


def test_generator_written_differently_passes():
    keras.utils.set_random_seed(0)
    result = checks.check("ch06.generator", colour_generator_functional(), record=False)
    assert result.passed, result.message


def test_generator_from_a_16x16_map_is_rejected_at_the_dense_layer():
    """A student who starts from 16x16 and lets block 2 keep the side (stride 1) gets the same final shape:
    the diff names the Dense layer's units, the first layer that differs."""
    model = keras.Sequential([
        keras.Input(shape=(16,)), keras.layers.Dense(16 * 16 * 64, use_bias=False), keras.layers.BatchNormalization(),
        keras.layers.LeakyReLU(0.2), keras.layers.Reshape((16, 16, 64)),
        keras.layers.Conv2DTranspose(32, 4, strides=1, padding="same", use_bias=False),
        keras.layers.BatchNormalization(), keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh")])
    result = checks.check("ch06.generator", model, record=False)
    assert result.status == "failed" and "First difference at layer 1" in result.message, result.message
    assert "units" in result.message, result.message


def test_discriminator_with_a_stride_1_convolution_is_rejected():
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3)), keras.layers.Conv2D(32, 4, padding="same"), keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2D(64, 4, strides=4, padding="same"), keras.layers.LeakyReLU(0.2),
        keras.layers.Flatten(), keras.layers.Dropout(0.3), keras.layers.Dense(1)])
    result = checks.check("ch06.discriminator", model, record=False)
    assert result.status == "failed" and "strides" in result.message, result.message


def test_show_tiled_images_draws_one_picture_without_axes():
    import matplotlib.pyplot as plt

    from dlcourse import plots

    figure, axes = plt.subplots()
    images = np.random.default_rng(0).uniform(-1, 1, size=(6, 4, 5, 1))
    plots.show_tiled_images(axes, images, 4, "six tiles")
    picture = axes.get_images()[0].get_array()
    assert picture.shape == (2 * 4 + 2, 4 * 5 + 3 * 2)       # 2 rows and 4 columns of tiles, 2-pixel gaps
    assert np.allclose(picture[:4, :5], (images[0, :, :, 0] + 1) / 2)
    assert np.allclose(picture[6:10, 7:12], (images[5, :, :, 0] + 1) / 2)
    assert not axes.axison and axes.get_title() == "six tiles"
    plt.close(figure)


# Exercises whose answers are models or other objects too costly to list in the tables above: the tests
# named here (in this module unless a module is given) show the reference and another correct answer
# passing and at least two named mistakes; test_exercise_tables checks that they exist.
TESTED_ELSEWHERE = {
    "ch06.generator": [
        "test_reference_generator_and_discriminator_pass",
        "test_generator_written_differently_passes",
        "test_generator_for_grey_images_is_rejected_with_a_layer_diff",
        "test_generator_without_tanh_is_rejected",
    ],
    "ch06.discriminator": [
        "test_reference_generator_and_discriminator_pass",
        "test_discriminator_with_sigmoid_is_rejected",
        "test_discriminator_declaring_31_rows_is_named",
        "test_discriminator_with_a_stride_1_convolution_is_rejected",
    ],
}
