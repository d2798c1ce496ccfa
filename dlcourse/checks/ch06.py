"""Chapter 06 exercises: generative adversarial networks."""

from __future__ import annotations

import numpy as np

from dlcourse.checks import diagnostics
from dlcourse.checks.framework import Case, FunctionExercise, Mistake, ModelExercise

# ------------------------------------------------------------------ references


def _softplus(values):
    """log(1 + exp(x)), computed without overflow."""
    return np.logaddexp(0.0, np.asarray(values, dtype=float))


def reference_discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy from logits: real images labelled 1, fakes labelled 0; the sum of the two means."""
    return float(np.mean(_softplus(-np.asarray(real_logits, dtype=float))) + np.mean(_softplus(fake_logits)))


def reference_generator_loss(fake_logits):
    """The non-saturating generator loss: -log D(G(z)) = softplus(-logit), averaged over the batch."""
    return float(np.mean(_softplus(-np.asarray(fake_logits, dtype=float))))


def reference_tile_images(images, num_rows, num_cols):
    """The first num_rows * num_cols images (N, H, W[, 1]) in [-1, 1] as one (num_rows*H, num_cols*W) grid in [0, 1]."""
    images = np.asarray(images, dtype=float)
    if images.ndim == 4:
        images = images[..., 0]
    height, width = images.shape[1:3]
    grid = images[:num_rows * num_cols].reshape(num_rows, num_cols, height, width)
    return (grid.transpose(0, 2, 1, 3).reshape(num_rows * height, num_cols * width) + 1.0) / 2.0


def reference_missing_modes(predicted_labels, num_classes, minimum_share):
    """The classes (sorted list of ints) that receive less than `minimum_share` of the predictions."""
    counts = np.bincount(np.asarray(predicted_labels, dtype=int), minlength=num_classes)
    shares = counts / len(predicted_labels)
    return [int(label) for label in np.flatnonzero(shares < minimum_share)]


# ------------------------------------------------------------------ the tiny GAN's step, in NumPy


def _generator_forward(weights, latent):
    kernel_1, bias_1, kernel_2, bias_2 = weights
    hidden = np.tanh(latent @ kernel_1 + bias_1)
    return hidden @ kernel_2 + bias_2, (latent, hidden)


def _generator_gradients(weights, cache, output_gradient):
    latent, hidden = cache
    kernel_2 = weights[2]
    hidden_gradient = (output_gradient @ kernel_2.T) * (1.0 - hidden ** 2)
    return [latent.T @ hidden_gradient, hidden_gradient.sum(axis=0), hidden.T @ output_gradient,
            output_gradient.sum(axis=0)]


def _discriminator_forward(weights, points):
    kernel_1, bias_1, kernel_2, bias_2 = weights
    hidden = np.tanh(points @ kernel_1 + bias_1)
    return hidden @ kernel_2 + bias_2, (points, hidden)


def _discriminator_gradients(weights, cache, logit_gradient):
    """(gradients of the weights, gradient of the input points)."""
    points, hidden = cache
    kernel_1, kernel_2 = weights[0], weights[2]
    hidden_gradient = (logit_gradient @ kernel_2.T) * (1.0 - hidden ** 2)
    weight_gradients = [points.T @ hidden_gradient, hidden_gradient.sum(axis=0), hidden.T @ logit_gradient,
                        logit_gradient.sum(axis=0)]
    return weight_gradients, hidden_gradient @ kernel_1.T


def _sigmoid(values):
    return 0.5 * (1.0 + np.tanh(0.5 * values))


def _sgd(weights, gradients, learning_rate):
    return [weight - learning_rate * gradient for weight, gradient in zip(weights, gradients)]


def _tiny_step(generator_weights, discriminator_weights, real_batch, latent_batch, learning_rate, *,
               generator_loss="non-saturating", swap_labels=False, d_step_updates_generator=False,
               simultaneous=False, g_step_updates_discriminator=False, generator_first=False):
    """One alternating SGD step of the tiny GAN, with switches for the realistic mistakes."""
    generator_weights = [np.asarray(weight, dtype=float) for weight in generator_weights]
    discriminator_weights = [np.asarray(weight, dtype=float) for weight in discriminator_weights]
    real, latent = np.asarray(real_batch, dtype=float), np.asarray(latent_batch, dtype=float)

    def discriminator_step(generator_weights, discriminator_weights):
        fake, generator_cache = _generator_forward(generator_weights, latent)
        real_logits, real_cache = _discriminator_forward(discriminator_weights, real)
        fake_logits, fake_cache = _discriminator_forward(discriminator_weights, fake)
        real_sign, fake_sign = (1.0, -1.0) if swap_labels else (-1.0, 1.0)
        # d/dl softplus(sign * l) = sign * sigmoid(sign * l)
        real_gradient = real_sign * _sigmoid(real_sign * real_logits) / len(real)
        fake_gradient = fake_sign * _sigmoid(fake_sign * fake_logits) / len(fake)
        real_weight_gradients, _ = _discriminator_gradients(discriminator_weights, real_cache, real_gradient)
        fake_weight_gradients, fake_point_gradient = _discriminator_gradients(discriminator_weights, fake_cache,
                                                                              fake_gradient)
        gradients = [a + b for a, b in zip(real_weight_gradients, fake_weight_gradients)]
        new_discriminator = _sgd(discriminator_weights, gradients, learning_rate)
        new_generator = generator_weights
        if d_step_updates_generator:
            new_generator = _sgd(generator_weights, _generator_gradients(generator_weights, generator_cache,
                                                                          fake_point_gradient), learning_rate)
        return new_generator, new_discriminator

    def generator_step(generator_weights, discriminator_weights):
        fake, generator_cache = _generator_forward(generator_weights, latent)
        fake_logits, fake_cache = _discriminator_forward(discriminator_weights, fake)
        if generator_loss == "non-saturating":      # mean softplus(-l)
            logit_gradient = -_sigmoid(-fake_logits) / len(fake)
        elif generator_loss == "minimax":           # mean log(1 - D) = mean -softplus(l)
            logit_gradient = -_sigmoid(fake_logits) / len(fake)
        else:                                       # "discriminator": descend D's fake term, mean softplus(l)
            logit_gradient = _sigmoid(fake_logits) / len(fake)
        discriminator_gradients, point_gradient = _discriminator_gradients(discriminator_weights, fake_cache,
                                                                           logit_gradient)
        new_generator = _sgd(generator_weights, _generator_gradients(generator_weights, generator_cache,
                                                                     point_gradient), learning_rate)
        new_discriminator = discriminator_weights
        if g_step_updates_discriminator:
            new_discriminator = _sgd(discriminator_weights, discriminator_gradients, learning_rate)
        return new_generator, new_discriminator

    if generator_first:
        generator_weights, discriminator_weights = generator_step(generator_weights, discriminator_weights)
        generator_weights, discriminator_weights = discriminator_step(generator_weights, discriminator_weights)
    elif simultaneous:
        _, new_discriminator = discriminator_step(generator_weights, discriminator_weights)
        generator_weights, _ = generator_step(generator_weights, discriminator_weights)
        discriminator_weights = new_discriminator
    else:
        generator_weights, discriminator_weights = discriminator_step(generator_weights, discriminator_weights)
        generator_weights, discriminator_weights = generator_step(generator_weights, discriminator_weights)
    return generator_weights, discriminator_weights


def reference_gan_training_step(generator_weights, discriminator_weights, real_batch, latent_batch, learning_rate):
    """One SGD step on D (G fixed, loss = BCE from logits), then one on G (the updated D fixed, non-saturating loss)."""
    return _tiny_step(generator_weights, discriminator_weights, real_batch, latent_batch, learning_rate)


# ------------------------------------------------------------------ exercise: discriminator loss

_rng = np.random.default_rng(606)
_REAL_4 = np.array([2.0, 0.5, -0.3, 1.2])
_FAKE_4 = np.array([-1.5, 0.2, -2.0, 0.7])
_REAL_6 = np.round(_rng.normal(1.0, 1.5, size=6), 2)
_FAKE_3 = np.round(_rng.normal(-1.0, 1.5, size=3), 2)
_CONFIDENT_REAL = np.array([45.0, 30.0, 2.0])
_CONFIDENT_FAKE = np.array([-38.0, 40.0, -3.0, 50.0])


def _naive_discriminator_loss(real_logits, fake_logits):
    real_probability = 1.0 / (1.0 + np.exp(-np.asarray(real_logits, dtype=float)))
    fake_probability = 1.0 / (1.0 + np.exp(-np.asarray(fake_logits, dtype=float)))
    return float(-np.mean(np.log(real_probability)) - np.mean(np.log(1.0 - fake_probability)))


discriminator_loss = FunctionExercise(
    exercise_id="ch06.discriminator_loss",
    title="The discriminator's loss, from logits",
    hints=[
        "The discriminator is a binary classifier: real images have label 1, generated ones label 0. Its loss is "
        "the binary cross-entropy on the real batch plus the binary cross-entropy on the fake batch (two means, added).",
        "From a logit l, -log(sigmoid(l)) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l). Compute softplus "
        "stably with `np.logaddexp(0, x)`: `np.log(1 + np.exp(x))` overflows for large x.",
        "`np.mean(np.logaddexp(0, -real_logits)) + np.mean(np.logaddexp(0, fake_logits))`.",
    ],
    reference=reference_discriminator_loss,
    cases=[
        Case("4 real and 4 fake logits", (_REAL_4, _FAKE_4)),
        Case("6 real and 3 fake logits (batches of different sizes)", (_REAL_6, _FAKE_3)),
        Case("logits of 0 (D cannot tell: the loss is 2 log 2)", (np.zeros(2), np.zeros(2))),
        Case("a very confident discriminator, logits up to 50 (where sigmoid rounds to exactly 1)",
             (_CONFIDENT_REAL, _CONFIDENT_FAKE)),
    ],
    mistakes=[
        Mistake("the labels are swapped: real images must have label 1 (loss softplus(-l)) and generated ones "
                "label 0 (loss softplus(l)).",
                lambda real, fake: float(np.mean(_softplus(real)) + np.mean(_softplus(-np.asarray(fake, dtype=float))))),
        Mistake("the real and fake losses are averaged over one concatenated batch; this exercise (like the "
                "chapter's train_step) adds the mean over the real batch and the mean over the fake batch.",
                lambda real, fake: float(np.mean(np.concatenate([_softplus(-np.asarray(real, dtype=float)),
                                                                 _softplus(fake)])))),
        Mistake("the loss is halved: add the two means, do not average them.",
                lambda real, fake: 0.5 * reference_discriminator_loss(real, fake)),
        Mistake("only the real images' term is there: add the mean of softplus(fake_logits) for the generated ones.",
                lambda real, fake: float(np.mean(_softplus(-np.asarray(real, dtype=float))))),
        Mistake("the sigmoid is applied first and then the log: for a confident discriminator sigmoid(l) rounds to "
                "exactly 1 and log(1 - 1) is -inf. Work from the logits: -log(sigmoid(l)) = softplus(-l) "
                "= `np.logaddexp(0, -l)`.", _naive_discriminator_loss),
        Mistake("the sign is flipped: that is the log-likelihood; the loss is its negative (always >= 0).",
                lambda real, fake: -reference_discriminator_loss(real, fake)),
    ],
)

# ------------------------------------------------------------------ exercise: generator loss

generator_loss = FunctionExercise(
    exercise_id="ch06.generator_loss",
    title="The non-saturating generator loss, from the discriminator's logits on generated images",
    hints=[
        "The generator wants D to call its images real: it minimises the cross-entropy of the fake logits "
        "against the label 1, that is -log D(G(z)) averaged over the batch.",
        "-log(sigmoid(l)) = softplus(-l) = `np.logaddexp(0, -l)`.",
        "`np.mean(np.logaddexp(0, -fake_logits))`.",
    ],
    reference=reference_generator_loss,
    cases=[
        Case("4 fake logits", (_FAKE_4,)),
        Case("3 fake logits", (_FAKE_3,)),
        Case("logits of 0 (the loss is log 2)", (np.zeros(3),)),
        Case("a discriminator that confidently rejects the fakes (logits down to -45, where minimax saturates)",
             (np.array([-45.0, -2.0, -30.0, 1.0]),)),
    ],
    mistakes=[
        Mistake("that is the minimax (saturating) loss, mean log(1 - D(G(z))) = -mean softplus(l). It is minimised "
                "by the same generator, but its gradient vanishes exactly when D rejects the fakes confidently. "
                "Use the non-saturating loss -log D(G(z)) = softplus(-l).",
                lambda fake: float(-np.mean(_softplus(fake)))),
        Mistake("that is the discriminator's loss on the fakes (label 0): the generator wants the label 1, so "
                "use softplus(-l), not softplus(l).",
                lambda fake: float(np.mean(_softplus(fake)))),
        Mistake("the loss is summed over the batch; average it (np.mean), so it does not grow with the batch size.",
                lambda fake: float(np.sum(_softplus(-np.asarray(fake, dtype=float))))),
    ],
)

# ------------------------------------------------------------------ exercise: one alternating training step


def _tiny_case(seed, batch_size, learning_rate, real_centre):
    from_seed = np.random.default_rng(seed)
    weights = [np.round(from_seed.normal(scale=0.8, size=shape), 2)
               for shape in [(2, 4), (4,), (4, 2), (2,), (2, 4), (4,), (4, 1), (1,)]]
    real = np.round(np.asarray(real_centre) + from_seed.normal(scale=0.3, size=(batch_size, 2)), 2)
    latent = np.round(from_seed.normal(size=(batch_size, 2)), 2)
    return weights[:4], weights[4:], real, latent, learning_rate


def _compare_weights(expected, got):
    """Float32 students pass too: a looser tolerance than the default."""
    return diagnostics.compare_values(expected, got, rtol=1e-4, atol=1e-5)


gan_training_step = FunctionExercise(
    exercise_id="ch06.gan_training_step",
    title="One alternating GAN training step (D with G fixed, then G with D fixed), with plain SGD",
    hints=[
        "Build the two tiny networks from the weight lists with `gan.build_tiny_generator(generator_weights)` and "
        "`gan.build_tiny_discriminator(discriminator_weights)`. Step 1: under a `tf.GradientTape`, compute the "
        "discriminator loss on `real_batch` and on `generator(latent_batch)`; take the gradient with respect to "
        "the discriminator's weights only, and subtract learning_rate times it.",
        "Step 2: with the *updated* discriminator, compute the non-saturating generator loss "
        "mean(softplus(-D(G(latent_batch)))) under a new tape; take the gradient with respect to the generator's "
        "weights only, and update them the same way. `variable.assign_sub(learning_rate * gradient)` is plain SGD.",
        "Return `([w.numpy() for w in generator.weights], [w.numpy() for w in discriminator.weights])`.",
    ],
    reference=reference_gan_training_step,
    cases=[
        Case("batches of 4, learning rate 0.5", _tiny_case(1, 4, 0.5, (2.0, 0.0))),
        Case("batches of 6, learning rate 0.2", _tiny_case(2, 6, 0.2, (0.0, 2.0))),
        Case("batches of 3, learning rate 1.0", _tiny_case(3, 3, 1.0, (-1.5, -1.5))),
    ],
    mistakes=[
        Mistake("the generator step uses the minimax (saturating) loss mean(log(1 - D(G(z)))); use the "
                "non-saturating loss mean(softplus(-D(G(z)))).",
                lambda *args: _tiny_step(*args, generator_loss="minimax")),
        Mistake("the generator descends the discriminator's loss (it makes its images look *more* fake): its "
                "loss is the cross-entropy against the label 1, mean(softplus(-logits)).",
                lambda *args: _tiny_step(*args, generator_loss="discriminator")),
        Mistake("the real and fake labels are swapped in the discriminator's loss: real images are 1 "
                "(softplus(-l)), generated ones 0 (softplus(l)).",
                lambda *args: _tiny_step(*args, swap_labels=True)),
        Mistake("the discriminator step also changed the generator (its loss was differentiated with respect to "
                "both networks' weights). In step 1 take the gradient with respect to the discriminator's weights only.",
                lambda *args: _tiny_step(*args, d_step_updates_generator=True)),
        Mistake("the generator step also changed the discriminator. In step 2 take the gradient with respect to "
                "the generator's weights only (the discriminator is held fixed).",
                lambda *args: _tiny_step(*args, g_step_updates_discriminator=True)),
        Mistake("the generator step used the discriminator from *before* its update (both steps computed from "
                "the old weights). Alternate: update D first, then compute the generator's loss with the new D.",
                lambda *args: _tiny_step(*args, simultaneous=True)),
        Mistake("the generator was updated first and the discriminator second; this exercise (like the chapter's "
                "train_step) updates the discriminator first.",
                lambda *args: _tiny_step(*args, generator_first=True)),
    ],
    compare=_compare_weights,
    time_limit_seconds=60.0,
)

# ------------------------------------------------------------------ exercise: tile a batch into one grid

_IMAGES_6x3x2 = np.round(_rng.uniform(-1, 1, size=(6, 3, 2)), 2)
_IMAGES_8x4x4x1 = np.round(_rng.uniform(-1, 1, size=(8, 4, 4, 1)), 2)
_IMAGES_5x2x3 = np.round(_rng.uniform(-1, 1, size=(5, 2, 3)), 2)
_IMAGES_12x28x28 = np.round(np.tanh(_rng.normal(size=(12, 28, 28))), 3)


def _tile_column_major(images, num_rows, num_cols):
    images = np.asarray(images, dtype=float)
    if images.ndim == 4:
        images = images[..., 0]
    order = [col * num_rows + row for row in range(num_rows) for col in range(num_cols)]
    return reference_tile_images(images[order], num_rows, num_cols)


def _tile_without_transpose(images, num_rows, num_cols):
    images = np.asarray(images, dtype=float)
    if images.ndim == 4:
        images = images[..., 0]
    height, width = images.shape[1:3]
    return (images[:num_rows * num_cols].reshape(num_rows * height, num_cols * width) + 1.0) / 2.0


tile_images = FunctionExercise(
    exercise_id="ch06.tile_images",
    title="Tile a batch of generated images into one image grid",
    hints=[
        "Image number `row * num_cols + col` goes to grid cell (row, col); the grid has num_rows*H rows and "
        "num_cols*W columns of pixels. A tanh generator's pixels lie in [-1, 1]: map them to [0, 1] with (x + 1) / 2. "
        "Drop a trailing channel axis of size 1 first, and use only the first num_rows * num_cols images.",
        "Reshape to (num_rows, num_cols, H, W), move the axes to (num_rows, H, num_cols, W) with "
        "`.transpose(0, 2, 1, 3)`, then reshape to (num_rows * H, num_cols * W). Or: two loops that copy each image "
        "into its block.",
    ],
    reference=reference_tile_images,
    cases=[
        Case("6 images of 3x2 pixels in a 2x3 grid", (_IMAGES_6x3x2, 2, 3)),
        Case("8 images of shape (4, 4, 1) in a 2x4 grid", (_IMAGES_8x4x4x1, 2, 4)),
        Case("5 images of 2x3 pixels, the first 4 in a 4x1 grid", (_IMAGES_5x2x3, 4, 1)),
        Case("12 images of 28x28 in a 3x4 grid", (_IMAGES_12x28x28, 3, 4)),
    ],
    mistakes=[
        Mistake("the pixels are still in [-1, 1]: map them to [0, 1] with (images + 1) / 2.",
                lambda images, rows, cols: reference_tile_images(images, rows, cols) * 2.0 - 1.0),
        Mistake("the pixels were clipped to [0, 1] instead of rescaled: map [-1, 1] to [0, 1] with (images + 1) / 2.",
                lambda images, rows, cols: np.clip(reference_tile_images(images, rows, cols) * 2.0 - 1.0, 0.0, 1.0)),
        Mistake("the images fill the grid column by column; fill it row by row: image `row * num_cols + col` goes "
                "to cell (row, col).", _tile_column_major),
        Mistake("the batch was reshaped straight to (num_rows*H, num_cols*W), which cuts the images into strips. "
                "Reshape to (num_rows, num_cols, H, W) and `.transpose(0, 2, 1, 3)` before the final reshape.",
                _tile_without_transpose),
    ],
)

# ------------------------------------------------------------------ exercise: detect mode collapse

_COLLAPSED = np.repeat([1, 7, 1, 7, 9, 4], [40, 35, 20, 25, 3, 1])
_HEALTHY = np.repeat(np.arange(10), [20, 22, 18, 21, 19, 20, 20, 23, 17, 20])
_AT_THRESHOLD = np.repeat(np.arange(5), [10, 30, 20, 30, 10])
_SMALL = np.array([0, 2, 2, 0, 2, 0, 0, 2])
_UNSORTED = np.random.default_rng(7).permutation(np.repeat([8, 3, 5, 0, 6, 2, 9], [50, 45, 40, 30, 2, 1, 32]))


def _missing_modes_among_predicted(labels, num_classes, minimum_share):
    values, counts = np.unique(np.asarray(labels, dtype=int), return_counts=True)
    return [int(value) for value, count in zip(values, counts) if count / len(labels) < minimum_share]


def _compare_class_lists(expected, got):
    """'' when the answer lists the expected classes; else which classes are listed wrongly (a list of classes has
    no fixed shape, so a different length is not a shape problem)."""
    try:
        listed = [int(label) for label in np.asarray(got).reshape(-1)] if np.ndim(got) <= 1 else None
    except (TypeError, ValueError):
        listed = None
    if listed is None or sorted(listed) == sorted(expected):
        return diagnostics.compare_values(expected, got)
    extra = sorted(set(listed) - set(expected))
    absent = sorted(set(expected) - set(listed))
    details = []
    if extra:
        details.append(f"listed but not missing: {extra}")
    if absent:
        details.append(f"missing but not listed: {absent}")
    return f"Wrong classes: expected {expected}, got {listed} ({'; '.join(details) or 'a class listed twice'})."


missing_modes = FunctionExercise(
    exercise_id="ch06.missing_modes",
    title="Detect mode collapse: the classes a generator (almost) never produces",
    hints=[
        "Count the predictions of each class 0..num_classes-1, divide by the number of predictions, and return the "
        "classes whose share is below `minimum_share`, as a sorted list of ints.",
        "Classes that were never predicted have count 0, and they are the most important ones to report: "
        "`np.bincount(labels, minlength=num_classes)` counts them; `np.unique` does not list them.",
        "`shares = np.bincount(labels, minlength=num_classes) / len(labels)`; "
        "`[int(c) for c in np.flatnonzero(shares < minimum_share)]`.",
    ],
    reference=reference_missing_modes,
    cases=[
        Case("a collapsed generator: 124 predictions, mostly 1 and 7", (_COLLAPSED, 10, 0.02)),
        Case("a healthy generator: about 20 of each of the 10 classes", (_HEALTHY, 10, 0.02)),
        Case("5 classes, two of them exactly at the 10 % threshold (not missing)", (_AT_THRESHOLD, 5, 0.1)),
        Case("3 classes, the middle one never predicted", (_SMALL, 3, 0.05)),
        Case("200 shuffled predictions, 3 classes never predicted and 2 rare ones", (_UNSORTED, 10, 0.05)),
    ],
    mistakes=[
        Mistake("classes that were never predicted are missing from your answer (np.unique only lists the classes "
                "that occur). Count with `np.bincount(labels, minlength=num_classes)` so that absent classes have "
                "count 0.", _missing_modes_among_predicted),
        Mistake("the counts are compared with `minimum_share`, a fraction: divide the counts by the number of "
                "predictions first.",
                lambda labels, num_classes, share: [int(c) for c in np.flatnonzero(
                    np.bincount(np.asarray(labels, dtype=int), minlength=num_classes) < share)]),
        Mistake("a class exactly at `minimum_share` is counted as missing: use `<`, not `<=`.",
                lambda labels, num_classes, share: [int(c) for c in np.flatnonzero(
                    np.bincount(np.asarray(labels, dtype=int), minlength=num_classes) / len(labels) <= share)]),
        Mistake("those are the classes the generator *does* produce; return the ones below `minimum_share`.",
                lambda labels, num_classes, share: [int(c) for c in np.flatnonzero(
                    np.bincount(np.asarray(labels, dtype=int), minlength=num_classes) / len(labels) >= share)]),
    ],
    compare=_compare_class_lists,
)

# ------------------------------------------------------------------ exercises: a generator and a discriminator


def build_generator_reference_model():
    """The generator the exercise asks for: latent 16 -> 32x32x3 images in [-1, 1]."""
    from dlcourse import architectures

    return architectures.dcgan_generator(16, 32, 3)


def build_discriminator_reference_model():
    """The discriminator the exercise asks for: 32x32x3 images -> one logit."""
    import keras

    return keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        keras.layers.Conv2D(32, 4, strides=2, padding="same"),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2D(64, 4, strides=2, padding="same"),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1),
    ])


def score_generator_model(model):
    """1.0 when 8 random latent vectors give 8 different finite 32x32x3 images in [-1, 1]."""
    latent = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    images = np.asarray(model.predict(latent, verbose=0))
    if images.shape != (8, 32, 32, 3):
        return 0.0, f"8 latent vectors gave an output of shape {images.shape}; expected (8, 32, 32, 3)."
    if not np.all(np.isfinite(images)):
        return 0.0, "Your generator outputs NaN or inf."
    if images.min() < -1.0 or images.max() > 1.0:
        return 0.0, "Pixels must lie in [-1, 1]: end with a tanh activation."
    if np.allclose(images, images[:1]):
        return 0.0, "Every latent vector gives the same image: the output must depend on the input."
    return 1.0, ""


def score_discriminator_model(model):
    """1.0 when 8 random images give 8 finite logits of shape (8, 1)."""
    input_shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else model.input_shape
    if input_shape != (None, 32, 32, 3):
        return 0.0, (f"Your discriminator's input shape is {input_shape}; the images are 32x32 with 3 colour "
                     "channels, (None, 32, 32, 3): start from `keras.Input(shape=(32, 32, 3))`.")
    images = np.random.default_rng(0).uniform(-1, 1, size=(8, 32, 32, 3)).astype("float32")
    logits = np.asarray(model.predict(images, verbose=0))
    if logits.shape != (8, 1):
        return 0.0, f"8 images gave an output of shape {logits.shape}; expected (8, 1), one logit per image."
    if not np.all(np.isfinite(logits)):
        return 0.0, "Your discriminator outputs NaN or inf."
    return 1.0, ""


generator = ModelExercise(
    exercise_id="ch06.generator",
    title="A DCGAN generator for latent size 16 and 32x32 colour images",
    hints=[
        "Work backwards from the image. With padding=\"same\", a transposed convolution multiplies the side by its "
        "stride. Block 3 takes the side from 16 to 32, so its stride is 2; both transposed convolutions use the same "
        "stride, so block 2 doubles too. What side must block 1's map have, and how many numbers is that with 64 "
        "channels? That is the number of units of the Dense layer.",
        "Block 1: Dense(8 * 8 * 64, use_bias=False), BatchNormalization, LeakyReLU(0.2), Reshape((8, 8, 64)). "
        "Block 2: Conv2DTranspose(32, 4, strides=2, padding=\"same\", use_bias=False), BatchNormalization, "
        "LeakyReLU(0.2). Block 3: Conv2DTranspose(3, 4, strides=2, padding=\"same\", activation=\"tanh\"): "
        "3 channels for colour, tanh for pixels in [-1, 1].",
    ],
    build_reference=build_generator_reference_model,
    score_model=score_generator_model,
    metric_name="share of output checks passed",
    minimum_score=1.0,
    time_limit_seconds=60.0,
)

discriminator = ModelExercise(
    exercise_id="ch06.discriminator",
    title="A DCGAN discriminator for 32x32 colour images, returning a logit",
    hints=[
        "With padding=\"same\", a convolution divides the side by its stride (rounding up), and its number of "
        "filters is the number of channels it outputs. Read both off the table: 32 -> 16 -> 8, then 32 and 64 "
        "channels. The logit block ends with one unit and no activation: the losses take logits.",
        "Conv2D(32, 4, strides=2, padding=\"same\"), LeakyReLU(0.2), Conv2D(64, 4, strides=2, padding=\"same\"), "
        "LeakyReLU(0.2), Flatten, Dropout(0.3), Dense(1) with no activation.",
    ],
    build_reference=build_discriminator_reference_model,
    score_model=score_discriminator_model,
    metric_name="share of output checks passed",
    minimum_score=1.0,
    time_limit_seconds=60.0,
)

EXERCISES = [discriminator_loss, generator_loss, generator, discriminator, gan_training_step, tile_images,
             missing_modes]
