"""Building blocks for chapter 06 (GANs): toy data, the DCGAN used in the chapter, and the tiny GAN of an exercise.

The notebook explains each piece; this module holds the same code so that the pretraining script
(`python -m dlcourse.pretrain_gan`) and the checks can use it. Importing it imports Keras and TensorFlow.
"""

from __future__ import annotations

import numpy as np

LATENT_SIZE = 32
IMAGE_SHAPE = (28, 28, 1)
TINY_LATENT_SIZE = 2
TINY_HIDDEN_UNITS = 4


# ------------------------------------------------------------------ data


def make_ring_of_gaussians(num_samples: int = 2000, num_modes: int = 8, radius: float = 2.0,
                           standard_deviation: float = 0.05, seed: int = 0) -> np.ndarray:
    """SYNTHETIC 2-D points from `num_modes` Gaussians evenly spaced on a circle (float32 (N, 2)); not real data."""
    generator = np.random.default_rng(seed)
    modes = generator.integers(0, num_modes, size=num_samples)
    angles = 2.0 * np.pi * modes / num_modes
    centres = radius * np.column_stack([np.cos(angles), np.sin(angles)])
    return (centres + generator.normal(scale=standard_deviation, size=centres.shape)).astype(np.float32)


def ring_mode_centres(num_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The centres of the ring's Gaussians, (num_modes, 2)."""
    angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
    return radius * np.column_stack([np.cos(angles), np.sin(angles)])


def modes_covered(points: np.ndarray, num_modes: int = 8, radius: float = 2.0, tolerance: float = 0.3,
                  minimum_share: float = 0.02) -> int:
    """How many ring modes receive at least `minimum_share` of the points lying within `tolerance` of a centre."""
    centres = ring_mode_centres(num_modes, radius)
    distances = np.linalg.norm(np.asarray(points)[:, None, :] - centres[None, :, :], axis=-1)
    nearest, close = distances.argmin(axis=1), distances.min(axis=1) < tolerance
    counts = np.bincount(nearest[close], minlength=num_modes)
    return int(np.sum(counts >= minimum_share * len(points)))


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) to float32 (N, 28, 28, 1) in [-1, 1], the range of a tanh generator."""
    return (np.asarray(images, dtype=np.float32) / 127.5 - 1.0)[..., None]


# ------------------------------------------------------------------ the DCGAN of the chapter


def build_generator(latent_size: int = LATENT_SIZE):
    """The chapter's DCGAN generator: Dense to 7x7x64, then two stride-2 transposed convolutions up to 28x28x1."""
    from dlcourse import architectures

    return architectures.dcgan_generator(latent_size, IMAGE_SHAPE[0], IMAGE_SHAPE[2], name="generator")


def build_discriminator():
    """The chapter's DCGAN discriminator: two stride-2 convolutions, then one logit (no sigmoid)."""
    import keras

    return keras.Sequential([
        keras.Input(shape=IMAGE_SHAPE),
        keras.layers.Conv2D(32, 4, strides=2, padding="same"),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2D(64, 4, strides=2, padding="same"),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1),
    ], name="discriminator")


NOT_A_DIGIT = 10  # the digit classifier's 11th class


def make_non_digits(num_images: int, seed: int = 0) -> np.ndarray:
    """SYNTHETIC "not a digit" images (N, 28, 28, 1) in [-1, 1]: uniform noise, Gaussian noise, and smooth blobs."""
    generator = np.random.default_rng(seed)
    kinds = generator.integers(0, 3, size=num_images)
    images = np.empty((num_images, 28, 28), dtype=np.float32)
    for index, kind in enumerate(kinds):
        if kind == 0:
            images[index] = generator.uniform(-1, 1, size=(28, 28))
        elif kind == 1:
            images[index] = np.clip(generator.normal(generator.uniform(-1, 0.5), 0.5, size=(28, 28)), -1, 1)
        else:
            coarse = generator.normal(size=(7, 7))
            images[index] = np.tanh(2.0 * np.kron(coarse, np.ones((4, 4))) - 1.0)
    return images[..., None]


def build_digit_classifier():
    """Chapter 04's small CNN with an 11th class, "not a digit" (softmax over 11), used to rate generated digits."""
    from dlcourse import architectures

    return architectures.small_cnn(NOT_A_DIGIT + 1, fill_value=-1.0, name="digit_classifier")


def make_gan_class():
    """The GAN model class (a keras.Model whose train_step alternates D and G updates), built on first use."""
    import keras
    import tensorflow as tf

    class GAN(keras.Model):
        """A generator and a discriminator trained in alternation by `fit` (TensorFlow backend)."""

        def __init__(self, generator, discriminator, latent_size, seed=0):
            super().__init__()
            self.generator, self.discriminator, self.latent_size = generator, discriminator, latent_size
            self.seed_generator = keras.random.SeedGenerator(seed)
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer):
            """Keep one optimizer per network."""
            super().compile()
            self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

        @property
        def metrics(self):
            """The two running loss means, reset at each epoch."""
            return [self.d_loss_tracker, self.g_loss_tracker]

        def train_step(self, real_images):
            """One D step with G fixed, then one G step with D fixed."""
            batch_size = tf.shape(real_images)[0]
            latent = keras.random.normal((batch_size, self.latent_size), seed=self.seed_generator)
            fake_images = self.generator(latent, training=True)
            with tf.GradientTape() as tape:
                real_logits = self.discriminator(real_images, training=True)
                fake_logits = self.discriminator(fake_images, training=True)
                d_loss = (keras.ops.mean(keras.ops.softplus(-real_logits))
                          + keras.ops.mean(keras.ops.softplus(fake_logits)))
            d_gradients = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(d_gradients, self.discriminator.trainable_weights))
            latent = keras.random.normal((batch_size, self.latent_size), seed=self.seed_generator)
            with tf.GradientTape() as tape:
                fake_logits = self.discriminator(self.generator(latent, training=True), training=True)
                g_loss = keras.ops.mean(keras.ops.softplus(-fake_logits))
            g_gradients = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(g_gradients, self.generator.trainable_weights))
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

        def build(self, input_shape=None):
            """The two networks are already built."""
            self.built = True

    return GAN


# ------------------------------------------------------------------ confidence of a digit classifier


def rate_digits(classifier, images: np.ndarray, confidence: float = 0.9) -> dict:
    """Share of images given one digit with probability >= confidence, the histogram of those digits, and more."""
    probabilities = np.asarray(classifier.predict(images, batch_size=500, verbose=0))
    predicted = probabilities.argmax(axis=1)
    confident = (probabilities.max(axis=1) >= confidence) & (predicted != NOT_A_DIGIT)
    return {"confident_share": float(confident.mean()),
            "class_counts": np.bincount(predicted[confident], minlength=10)[:10],
            "not_a_digit_share": float(np.mean(predicted == NOT_A_DIGIT)),
            "predicted": predicted}


# ------------------------------------------------------------------ the tiny GAN of the training-step exercise


def tiny_weight_shapes():
    """Shapes of the tiny generator's and discriminator's weight lists (kernel, bias, kernel, bias)."""
    generator = [(TINY_LATENT_SIZE, TINY_HIDDEN_UNITS), (TINY_HIDDEN_UNITS,), (TINY_HIDDEN_UNITS, 2), (2,)]
    discriminator = [(2, TINY_HIDDEN_UNITS), (TINY_HIDDEN_UNITS,), (TINY_HIDDEN_UNITS, 1), (1,)]
    return generator, discriminator


def build_tiny_generator(weights=None):
    """The tiny generator: latent (2) -> Dense(4, tanh) -> Dense(2); float64; weights set from a list if given."""
    import keras

    model = keras.Sequential([keras.Input(shape=(TINY_LATENT_SIZE,), dtype="float64"),
                              keras.layers.Dense(TINY_HIDDEN_UNITS, activation="tanh", dtype="float64"),
                              keras.layers.Dense(2, dtype="float64")], name="tiny_generator")
    if weights is not None:
        model.set_weights([np.asarray(weight, dtype=np.float64) for weight in weights])
    return model


def build_tiny_discriminator(weights=None):
    """The tiny discriminator: point (2) -> Dense(4, tanh) -> Dense(1) logit; float64; weights from a list if given."""
    import keras

    model = keras.Sequential([keras.Input(shape=(2,), dtype="float64"),
                              keras.layers.Dense(TINY_HIDDEN_UNITS, activation="tanh", dtype="float64"),
                              keras.layers.Dense(1, dtype="float64")], name="tiny_discriminator")
    if weights is not None:
        model.set_weights([np.asarray(weight, dtype=np.float64) for weight in weights])
    return model


def random_tiny_weights(seed: int):
    """Random weight lists (generator, discriminator) for the tiny GAN, rounded to 2 decimals."""
    generator = np.random.default_rng(seed)
    generator_shapes, discriminator_shapes = tiny_weight_shapes()
    make = lambda shapes: [np.round(generator.normal(scale=0.8, size=shape), 2) for shape in shapes]  # noqa: E731
    return make(generator_shapes), make(discriminator_shapes)
