"""The course map: every chapter, planned or available, in one place."""

from __future__ import annotations

import dataclasses
import pathlib


@dataclasses.dataclass(frozen=True)
class Chapter:
    """One chapter of the course."""

    chapter_id: str
    title: str
    notebook_name: str
    topics: str

    @property
    def number(self) -> int:
        """The chapter number, e.g. 1 for ch01."""
        return int(self.chapter_id[2:])


CHAPTERS = (
    Chapter("ch01", "Neurons and activations", "01_neurons_and_activations.ipynb",
            "the artificial neuron, activation functions, why non-linearity matters, Dense layers, a first Keras model on MNIST"),
    Chapter("ch02", "Backpropagation", "02_backpropagation.ipynb",
            "the chain rule, backpropagation in NumPy from scratch, gradient checking"),
    Chapter("ch03", "SGD and hyperparameters", "03_sgd_and_hyperparameters.ipynb",
            "mini-batch SGD, momentum, Adam, learning-rate schedules, batch size, regularisation"),
    Chapter("ch04", "Convolutional networks", "04_cnns.ipynb",
            "convolution and pooling, a CNN for images, feature maps"),
    Chapter("ch05", "RNNs and LSTMs", "05_rnns_and_lstms.ipynb",
            "recurrent layers and LSTMs on a real time series and character-level text"),
    Chapter("ch06", "GANs", "06_gans.ipynb",
            "generator and discriminator, a custom training step, mode collapse"),
    Chapter("ch07", "Transfer learning", "07_transfer_learning.ipynb",
            "reusing a base pretrained by a script in this repo and a real third-party Keras model"),
    Chapter("ch08", "Applications", "08_applications.ipynb",
            "sentiment, autoencoder anomaly detection, a recommender, adversarial examples, saliency, shipping a model"),
    Chapter("ch09", "Reinforcement learning and graph neural networks", "09_reinforcement_learning_and_gnns.ipynb",
            "Q-learning on a gridworld, a REINFORCE policy network on CartPole, message passing and a GCN on the "
            "karate club"),
)


def repository_root() -> pathlib.Path:
    """The folder that holds solutions/, chapters/ and datasets/ (the package is installed editable)."""
    return pathlib.Path(__file__).resolve().parent.parent


def chapter_by_id(chapter_id: str) -> Chapter:
    """The Chapter with this id, e.g. "ch01"; KeyError if there is none."""
    for chapter in CHAPTERS:
        if chapter.chapter_id == chapter_id:
            return chapter
    raise KeyError(f"unknown chapter {chapter_id!r}; known chapters: {', '.join(c.chapter_id for c in CHAPTERS)}")


def is_available(chapter: Chapter, root: pathlib.Path | None = None) -> bool:
    """Whether the chapter's solution notebook exists yet."""
    return ((root or repository_root()) / "solutions" / chapter.notebook_name).exists()
