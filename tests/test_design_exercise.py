"""The design-task kind: a student's own architecture is judged by the task's constraints, then scored."""

import keras
import numpy as np
import pytest

from dlcourse.checks import framework


def score_by_mean_output(model):
    """1.0 when the model's outputs on four fixed points are finite (stands in for a held-out accuracy)."""
    outputs = np.asarray(model.predict(np.zeros((4, 4), dtype="float32"), verbose=0))
    return (1.0 if np.all(np.isfinite(outputs)) else 0.0), ""


def design_task(**overrides):
    """A small design task: 4 features in, 3 class probabilities out, at most 60 parameters, a Dense layer."""
    settings = dict(exercise_id="test.design", title="a small classifier", hints=["any small MLP"],
                    build_reference=lambda: small_model(5), score_model=score_by_mean_output, metric_name="score",
                    minimum_score=1.0, max_parameters=60, input_shape=(4,), output_shape=(3,),
                    required_layers=("Dense",), required_layers_description="a fully connected layer")
    settings.update(overrides)
    return framework.DesignExercise(**settings)


def small_model(hidden_units, inputs=4, outputs=3):
    """4 -> hidden -> 3 softmax."""
    return keras.Sequential([keras.Input(shape=(inputs,)), keras.layers.Dense(hidden_units, activation="relu"),
                             keras.layers.Dense(outputs, activation="softmax")])


def test_two_different_designs_within_the_budget_pass():
    first = framework.evaluate_answer(design_task(), small_model(5))              # 25 + 18 = 43 parameters
    second = framework.evaluate_answer(design_task(), keras.Sequential([
        keras.Input(shape=(4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(3, activation="relu"),
        keras.layers.Dense(3, activation="softmax")]))                            # 15 + 12 + 12 = 39
    assert (first.status, second.status) == ("passed", "passed"), (first.message, second.message)
    assert first.message.startswith("Your design meets the constraints (43 parameters, within the budget of 60)")


def test_over_the_budget_names_the_count_and_the_largest_layer():
    result = framework.evaluate_answer(design_task(), small_model(12))          # 60 + 39 = 99 parameters
    assert result.status == "failed"
    assert result.message.startswith("Your model has 99 parameters, over the task's budget of 60.")
    assert "(Dense, 60 parameters)" in result.message


@pytest.mark.parametrize("model, words", [
    (small_model(5, inputs=5), "input shape (per example) is (5,); the task's data has shape (4,)"),
    (small_model(5, outputs=2), "output shape (per example) is (2,); the task needs (3,)"),
])
def test_wrong_input_or_output_shapes_are_named(model, words):
    result = framework.evaluate_answer(design_task(), model)
    assert result.status == "failed" and words in result.message, result.message


def test_a_missing_required_kind_of_layer_is_named():
    task = design_task(required_layers=("Conv1D",), required_layers_description="a convolutional layer")
    result = framework.evaluate_answer(task, small_model(5))
    assert result.status == "failed"
    assert result.message.startswith("The task asks for a convolutional layer (Conv1D); your model has none")


def test_a_low_score_states_the_design_and_the_score():
    task = design_task(score_model=lambda model: (0.5, ""), minimum_score=0.9)
    result = framework.evaluate_answer(task, small_model(5))
    assert result.status == "failed"
    assert result.message.startswith("Your design meets the constraints (43 parameters, within the budget of 60), but "
                                     "score on held-out data is 0.500, below the required 0.90.")


def test_not_a_model_and_unbuilt_models_get_the_model_messages():
    assert framework.evaluate_answer(design_task(), ...).status == "not_attempted"
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    assert "not built yet" in framework.evaluate_answer(design_task(), unbuilt).message


def two_input_model(first=(1,), second=(1,)):
    """Two inputs whose embeddings are dotted: the shape of a recommender."""
    user, item = keras.Input(shape=first, dtype="int32"), keras.Input(shape=second, dtype="int32")
    dot = keras.layers.Dot(axes=2)([keras.layers.Embedding(5, 2)(user), keras.layers.Embedding(5, 2)(item)])
    return keras.Model([user, item], keras.layers.Flatten()(dot))


def test_several_inputs_are_checked_in_order():
    task = design_task(input_shapes=((1,), (1,)), output_shape=(1,), required_layers=("Embedding",),
                       score_model=lambda model: (1.0, ""))
    assert framework.evaluate_answer(task, two_input_model()).status == "passed"
    wrong = framework.evaluate_answer(task, two_input_model(second=(2,)))
    assert "input 2 shape (per example) is (2,); the task's data has shape (1,)" in wrong.message, wrong.message
    single = framework.evaluate_answer(task, small_model(5))
    assert single.message.startswith("The task asks for a model with 2 inputs and one output; yours has 1 and 1.")
