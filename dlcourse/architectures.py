"""Model builders that several places of the course share: one definition, parameterised by what differs.

Keras is imported inside each function, so that `import dlcourse.architectures` stays light.
"""


def small_cnn(num_classes: int, fill_value: float = 0.0, name: str | None = None):
    """Chapter 04's small CNN for 28x28x1 digits: random shifts, two conv/batch-norm/ReLU/pool blocks, a softmax.

    `fill_value` is what the random shifts pad with (the background: 0 for images in [0, 1], -1 for [-1, 1]).
    """
    import keras

    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", fill_value=fill_value),
        keras.layers.Conv2D(16, 3, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name=name)


def dcgan_generator(latent_size: int, image_side: int, channels: int, name: str | None = None):
    """A DCGAN generator: Dense to (side/4)x(side/4)x64, then two stride-2 transposed convolutions up to
    image_side x image_side x channels, with tanh outputs in [-1, 1]."""
    import keras

    start_side = image_side // 4
    return keras.Sequential([
        keras.Input(shape=(latent_size,)),
        keras.layers.Dense(start_side * start_side * 64, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Reshape((start_side, start_side, 64)),
        keras.layers.Conv2DTranspose(32, 4, strides=2, padding="same", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh"),
    ], name=name)
