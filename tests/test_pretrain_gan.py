"""The GAN pretraining script runs end to end on a tiny setting, and the shipped weights load and score."""

import keras
import numpy as np

from dlcourse import datasets, gan, pretrain_gan


def test_pretraining_script_on_a_tiny_setting(tmp_path, capsys):
    figures = pretrain_gan.main(["--gan-epochs", "1", "--classifier-epochs", "1", "--num-train", "128",
                                 "--output-dir", str(tmp_path), "--report-every", "1"])
    printed = capsys.readouterr().out
    assert "run time:" in printed and "confident share" in printed
    assert set(figures) == {"classifier_accuracy", "confident_share", "run_seconds"}
    generator = keras.models.load_model(tmp_path / pretrain_gan.GENERATOR_FILE_NAME, compile=False)
    classifier = keras.models.load_model(tmp_path / pretrain_gan.CLASSIFIER_FILE_NAME, compile=False)
    images = generator.predict(np.zeros((2, gan.LATENT_SIZE), dtype="float32"), verbose=0)
    assert images.shape == (2, 28, 28, 1) and np.all(np.abs(images) <= 1.0)
    assert classifier.predict(images, verbose=0).shape == (2, 11)


def test_shipped_generator_and_classifier_load_and_score():
    generator = keras.models.load_model(datasets.verified_path("gan_generator.keras"), compile=False)
    classifier = keras.models.load_model(datasets.verified_path("digit_classifier.keras"), compile=False)
    assert generator.count_params() == gan.build_generator().count_params()
    _, _, test_images, test_labels = datasets.load_mnist_split(num_test=1000, seed=0)
    accuracy = np.mean(classifier.predict(gan.scale_images(test_images), verbose=0).argmax(axis=1) == test_labels)
    assert accuracy >= 0.97
    latent = np.random.default_rng(4).normal(size=(500, gan.LATENT_SIZE)).astype("float32")
    rating = gan.rate_digits(classifier, generator.predict(latent, verbose=0))
    assert rating["confident_share"] >= 0.45
    noise = np.random.default_rng(5).uniform(-1, 1, size=(200, 28, 28, 1)).astype("float32")
    assert gan.rate_digits(classifier, noise)["confident_share"] < 0.05


def test_pretraining_script_can_train_the_classifier_alone(tmp_path):
    figures = pretrain_gan.main(["--gan-epochs", "0", "--classifier-epochs", "1", "--num-train", "64",
                                 "--output-dir", str(tmp_path)])
    assert set(figures) == {"classifier_accuracy", "run_seconds"}
    assert (tmp_path / pretrain_gan.CLASSIFIER_FILE_NAME).exists()
    assert not (tmp_path / pretrain_gan.GENERATOR_FILE_NAME).exists()


def test_non_digits_are_synthetic_images_in_range():
    images = gan.make_non_digits(30, seed=0)
    assert images.shape == (30, 28, 28, 1) and images.min() >= -1 and images.max() <= 1
    assert np.array_equal(images, gan.make_non_digits(30, seed=0))
