"""The moons-classifier check: architecture diff layer by layer, then accuracy on held-out data."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dlcourse import checks, datasets  # noqa: E402


def build_sequential(hidden_activation="relu", hidden_units=16):
    """The requested architecture, written with keras.Sequential."""
    return keras.Sequential([
        keras.Input(shape=(2,)),
        keras.layers.Dense(hidden_units, activation=hidden_activation),
        keras.layers.Dense(hidden_units, activation=hidden_activation),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def build_functional_with_activation_layers():
    """The same architecture, written with the functional API and separate Activation layers."""
    inputs = keras.Input(shape=(2,))
    hidden = keras.layers.Activation("relu")(keras.layers.Dense(16)(inputs))
    hidden = keras.layers.Activation("relu")(keras.layers.Dense(16)(hidden))
    outputs = keras.layers.Dense(1, activation="sigmoid")(hidden)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def trained_sequential():
    """The reference model, trained the way the notebook does."""
    keras.utils.set_random_seed(0)
    features, labels = datasets.make_two_moons(num_samples=1000, noise=0.1, seed=0)
    model = build_sequential()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    model.fit(features, labels, epochs=40, batch_size=32, verbose=0)
    return model


def test_trained_reference_passes(trained_sequential):
    result = checks.check("ch01.moons_classifier", trained_sequential)
    assert result.status == "passed", str(result)
    assert "accuracy on held-out data is" in result.message


def test_functional_model_with_activation_layers_passes(trained_sequential):
    model = build_functional_with_activation_layers()
    model.set_weights(trained_sequential.get_weights())
    result = checks.check("ch01.moons_classifier", model)
    assert result.status == "passed", str(result)


def test_linear_hidden_layers_are_named():
    result = checks.check("ch01.moons_classifier", build_sequential(hidden_activation=None))
    assert result.status == "failed"
    assert "layer 1: expected Dense, relu, output (None, 16), 48 params" in result.message
    assert "yours    Dense, linear, output (None, 16), 48 params" in result.message
    assert "First difference at layer 1: a different activation function" in result.message
    assert "collapse into a single linear map" in result.message


def test_wrong_width_is_named_with_parameter_totals():
    result = checks.check("ch01.moons_classifier", build_sequential(hidden_units=8))
    assert result.status == "failed"
    assert "a different number of units" in result.message
    assert "Total parameters: expected 337, yours 105." in result.message


def test_missing_hidden_layer_is_named():
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1, activation="sigmoid")])
    result = checks.check("ch01.moons_classifier", model)
    assert result.status == "failed"
    assert "too few layers" in result.message or "different" in result.message


def test_untrained_model_fails_on_accuracy_or_constant_prediction():
    keras.utils.set_random_seed(1)
    result = checks.check("ch01.moons_classifier", build_sequential())
    assert result.status == "failed"
    assert ("below the required 0.95" in result.message) or ("for every point" in result.message)


def test_history_instead_of_model_is_named(trained_sequential):
    history = keras.callbacks.History()
    result = checks.check("ch01.moons_classifier", history)
    assert result.status == "failed" and "pass the model itself" in result.message


def test_predicting_one_class_is_named():
    model = build_sequential()
    weights = [np.zeros_like(weight) for weight in model.get_weights()]
    weights[-1] = np.array([5.0], dtype="float32")
    model.set_weights(weights)
    result = checks.check("ch01.moons_classifier", model)
    assert result.status == "failed"
    assert "predicts class 1 for every point" in result.message
