"""The moons design task: any design within the constraints passes on held-out accuracy; each broken constraint is named."""

import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dlcourse import checks, datasets  # noqa: E402
from dlcourse.checks import ch01  # noqa: E402


def build_sequential(hidden_units=(16, 16), hidden_activation="relu", output_units=1, output_activation="sigmoid"):
    """A Dense stack for the moons: the given hidden layers, then the output layer."""
    return keras.Sequential([keras.Input(shape=(2,))]
                            + [keras.layers.Dense(units, activation=hidden_activation) for units in hidden_units]
                            + [keras.layers.Dense(output_units, activation=output_activation)])


def build_functional_with_activation_layers(hidden_units=16):
    """Two hidden ReLU layers written with the functional API and separate Activation layers."""
    inputs = keras.Input(shape=(2,))
    hidden = keras.layers.Activation("relu")(keras.layers.Dense(hidden_units)(inputs))
    hidden = keras.layers.Activation("relu")(keras.layers.Dense(hidden_units)(hidden))
    outputs = keras.layers.Dense(1, activation="sigmoid")(hidden)
    return keras.Model(inputs, outputs)


def trained(model, epochs=20):
    """The model, fitted on the lesson's moons the way the notebook does (Adam at 0.01, binary cross-entropy)."""
    features, labels = datasets.make_two_moons(num_samples=1000, noise=0.1, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    model.fit(features, labels, epochs=epochs, batch_size=32, verbose=0)
    return model


def held_out_accuracy_in(message):
    """The accuracy a design-task message reports."""
    return float(re.search(r"accuracy on held-out data is ([0-9.]+)", message).group(1))


@pytest.fixture(scope="module")
def trained_sequential():
    """The solution's design, [2, 16, 16, 1] with ReLU, trained the way the notebook does."""
    keras.utils.set_random_seed(0)
    return trained(build_sequential())


def test_the_solution_design_passes(trained_sequential):
    result = checks.check("ch01.moons_classifier", trained_sequential, record=False)
    assert result.status == "passed", str(result)
    assert result.message.startswith("Your design meets the constraints (337 parameters, within the budget of 400)")
    assert held_out_accuracy_in(result.message) >= 0.99


def test_a_different_design_within_the_budget_passes():
    keras.utils.set_random_seed(0)
    model = trained(build_sequential(hidden_units=(8, 8), hidden_activation="tanh"))      # 24 + 72 + 9 = 105
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "passed", str(result)
    assert "(105 parameters, within the budget of 400)" in result.message


def test_the_functional_api_with_activation_layers_passes(trained_sequential):
    model = build_functional_with_activation_layers()
    model.set_weights(trained_sequential.get_weights())
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "passed", str(result)


def test_over_the_budget_names_the_count():
    result = checks.check("ch01.moons_classifier", build_sequential(hidden_units=(32, 32)), record=False)
    assert result.status == "failed"
    assert result.message.startswith("Your model has 1,185 parameters, over the task's budget of 400.")
    assert "(Dense, 1,056 parameters)" in result.message


def test_a_linear_model_fails_with_its_accuracy():
    keras.utils.set_random_seed(0)
    model = trained(build_sequential(hidden_units=()))                                     # one sigmoid neuron
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "failed"
    assert result.message.startswith("Your design meets the constraints (3 parameters, within the budget of 400), "
                                     "but accuracy on held-out data is 0.8"), result.message
    assert "below the required 0.99" in result.message
    assert 0.8 <= held_out_accuracy_in(result.message) < 0.9
    assert "underfits. No layer before its output applies a non-linear activation" in result.message


def test_hidden_layers_without_activation_stay_linear_and_fail_with_their_accuracy():
    keras.utils.set_random_seed(0)
    model = trained(build_sequential(hidden_activation=None))
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "failed" and "below the required 0.99" in result.message, result.message
    assert held_out_accuracy_in(result.message) < 0.9
    assert "No layer before its output applies a non-linear activation" in result.message


def test_a_single_hidden_layer_like_section_4_falls_short_on_some_seeds():
    keras.utils.set_random_seed(1)
    model = trained(build_sequential(hidden_units=(16,), hidden_activation="tanh"))
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "failed" and "(65 parameters, within the budget of 400)" in result.message, result.message
    assert "No layer before its output applies a non-linear activation" not in result.message


def test_two_softmax_outputs_are_named_by_their_shape():
    model = build_sequential(output_units=2, output_activation="softmax")
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "failed"
    assert "Your model's output shape (per example) is (2,); the task needs (1,)." in result.message


def test_a_wrong_input_shape_is_named():
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "failed" and "start with `keras.Input(shape=(2,))`" in result.message


def test_untrained_model_fails_on_accuracy_or_constant_prediction():
    keras.utils.set_random_seed(1)
    result = checks.check("ch01.moons_classifier", build_sequential(), record=False)
    assert result.status == "failed"
    assert ("below the required 0.99" in result.message) or ("for every point" in result.message)


def test_history_instead_of_model_is_named(trained_sequential):
    history = keras.callbacks.History()
    result = checks.check("ch01.moons_classifier", history, record=False)
    assert result.status == "failed" and "pass the model itself" in result.message


def test_predicting_one_class_is_named():
    model = build_sequential()
    weights = [np.zeros_like(weight) for weight in model.get_weights()]
    weights[-1] = np.array([5.0], dtype="float32")
    model.set_weights(weights)
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "failed"
    assert "predicts class 1 for every point" in result.message


def test_the_reference_design_fits_the_budget():
    assert ch01.build_moons_reference_model().count_params() == 337 <= ch01.MOONS_MAX_PARAMETERS
