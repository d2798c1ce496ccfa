"""Pretrain chapter 06's DCGAN generator (and the digit classifier that rates its samples) on the MNIST sample.

Run from the repository root:

    python -m dlcourse.pretrain_gan

It trains, with fixed seeds, on the 4,000 training digits of `datasets.load_mnist_split(num_test=1000, seed=0)`:
- the digit classifier (chapter 04's CNN, on pixels scaled to [-1, 1]) -> `datasets/digit_classifier.keras`;
- the DCGAN (generator and discriminator of `dlcourse.gan`, the same as in the notebook, trained for longer)
  -> `datasets/gan_generator.keras` (the generator only).
It prints the run time and the quality figures. Afterwards, update the sha256 and bytes of both files in
`datasets/manifest.json` and the provenance section of `datasets/README.md`.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

GENERATOR_FILE_NAME = "gan_generator.keras"
CLASSIFIER_FILE_NAME = "digit_classifier.keras"


def parse_arguments(argv=None) -> argparse.Namespace:
    """Command-line options; the defaults are the settings that made the shipped files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gan-epochs", type=int, default=150,
                        help="epochs of the DCGAN over the training digits (0: train and save the classifier only)")
    parser.add_argument("--classifier-epochs", type=int, default=15, help="epochs of the digit classifier")
    parser.add_argument("--num-train", type=int, default=0, help="use only this many training digits (0: all 4,000)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--output-dir", default=str(pathlib.Path(__file__).resolve().parent.parent / "datasets"))
    parser.add_argument("--report-every", type=int, default=25, help="print quality figures every N epochs")
    return parser.parse_args(argv)


def train_classifier(train_images, train_labels, test_images, test_labels, epochs: int, seed: int):
    """Chapter 04's CNN with a "not a digit" class, trained on [-1, 1] pixels; returns (model, test accuracy).

    A tenth of the training images are synthetic non-digits (noise, blobs) with label 10, so that the classifier
    does not call random noise a confident 8, as a plain 10-class classifier does.
    """
    import keras
    import numpy as np

    from dlcourse import gan

    keras.utils.set_random_seed(seed)
    non_digits = gan.make_non_digits(len(train_images) // 10, seed=seed)
    images = np.concatenate([train_images, non_digits])
    labels = np.concatenate([train_labels, np.full(len(non_digits), gan.NOT_A_DIGIT)])
    order = np.random.default_rng(seed).permutation(len(labels))
    classifier = gan.build_digit_classifier()
    classifier.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
    classifier.fit(images[order], labels[order], epochs=epochs, batch_size=64, verbose=0)
    _, accuracy = classifier.evaluate(test_images, test_labels, batch_size=500, verbose=0)
    return classifier, float(accuracy)


def sample_quality(generator, classifier, latent_size: int, seed: int, num_samples: int = 1000) -> dict:
    """The classifier's verdict on `num_samples` generated digits (fixed latent vectors)."""
    import numpy as np

    from dlcourse import gan

    latent = np.random.default_rng(seed).normal(size=(num_samples, latent_size)).astype("float32")
    images = np.asarray(generator.predict(latent, batch_size=500, verbose=0))
    return gan.rate_digits(classifier, images)


def main(argv=None) -> dict:
    """Train both networks, save them, print the figures; returns the figures."""
    arguments = parse_arguments(argv)
    start = time.perf_counter()
    import keras
    import numpy as np

    from dlcourse import datasets, gan

    train_images, train_labels, test_images, test_labels = datasets.load_mnist_split(num_test=1000, seed=0)
    if arguments.num_train:
        train_images, train_labels = train_images[:arguments.num_train], train_labels[:arguments.num_train]
    train_images, test_images = gan.scale_images(train_images), gan.scale_images(test_images)
    output_dir = pathlib.Path(arguments.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    classifier, accuracy = train_classifier(train_images, train_labels, test_images, test_labels,
                                            arguments.classifier_epochs, arguments.seed)
    classifier.save(output_dir / CLASSIFIER_FILE_NAME)
    print(f"classifier: test accuracy {accuracy:.4f} after {arguments.classifier_epochs} epochs "
          f"({time.perf_counter() - start:.0f} s)", flush=True)

    if arguments.gan_epochs == 0:
        print(f"--gan-epochs 0: the generator was not trained. run time: {time.perf_counter() - start:.0f} s")
        return {"classifier_accuracy": accuracy, "run_seconds": time.perf_counter() - start}
    keras.utils.set_random_seed(arguments.seed)
    generator, discriminator = gan.build_generator(gan.LATENT_SIZE), gan.build_discriminator()
    model = gan.make_gan_class()(generator, discriminator, gan.LATENT_SIZE, seed=arguments.seed)
    model.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                  g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % arguments.report_every == 0 or epoch + 1 == arguments.gan_epochs:
                quality = sample_quality(generator, classifier, gan.LATENT_SIZE, seed=1)
                print(f"epoch {epoch + 1}: d_loss {logs['d_loss']:.3f} g_loss {logs['g_loss']:.3f} "
                      f"confident share {quality['confident_share']:.3f} "
                      f"classes {quality['class_counts'].tolist()} ({time.perf_counter() - start:.0f} s)", flush=True)

    dataset_order = np.random.default_rng(arguments.seed).permutation(len(train_images))
    model.fit(train_images[dataset_order], epochs=arguments.gan_epochs, batch_size=arguments.batch_size,
              shuffle=True, verbose=0, callbacks=[Report()])
    generator.save(output_dir / GENERATOR_FILE_NAME)
    quality = sample_quality(generator, classifier, gan.LATENT_SIZE, seed=1)
    run_seconds = time.perf_counter() - start
    print(f"generator: confident share {quality['confident_share']:.3f}, classes {quality['class_counts'].tolist()}")
    print(f"wrote {output_dir / CLASSIFIER_FILE_NAME} and {output_dir / GENERATOR_FILE_NAME}")
    print(f"run time: {run_seconds:.0f} s")
    return {"classifier_accuracy": accuracy, "confident_share": quality["confident_share"], "run_seconds": run_seconds}


if __name__ == "__main__":
    main()
