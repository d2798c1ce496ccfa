"""The checks verify the method, not only the result: a NumPy exercise rejects an answer that calls Keras or
TensorFlow, and a configured-object exercise requires Keras' own class, not a home-made class of the same name."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from check_helpers import written_by_student
from dlcourse import checks, collect
from dlcourse.checks import ch02, ch03, framework

NUMPY_ONLY_IDS = ["ch02.mse", "ch02.mse_gradient", "ch02.binary_cross_entropy", "ch02.bce_gradient",
                  "ch02.activation_derivatives", "ch02.dense_backward", "ch02.numerical_gradient",
                  "ch02.softmax_cross_entropy_gradient", "ch02.train_two_layer_network",
                  "ch03.momentum_step", "ch03.adam_step"]


def numpy_message(package, call, line):
    """The failure message of a NumPy exercise whose answer first called `call` (None: a wrapper) in the line `line`."""
    named = f"`{call}`, " if call else ""
    return (f"This exercise asks for NumPy: your answer called {package} (e.g. {named}in your line `{line}`). "
            "Write it with NumPy arrays and operations only.")


# ----------------------------------------------------------------- the training loop of chapter 02


def train_with_explicit_sigmoid(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """A NumPy-only loop written differently: helper functions, the sigmoid as 0.5 (1 + tanh(z / 2))."""
    def forward(x, w1, b1, w2, b2):
        hidden = np.maximum(x @ w1 + b1, 0.0)
        return hidden, 0.5 * (1.0 + np.tanh(0.5 * (hidden @ w2 + b2)))

    rng = np.random.default_rng(seed)
    x, y = np.asarray(features, dtype=float), np.asarray(labels, dtype=float).reshape(-1, 1)
    w1, b1 = rng.normal(0.0, 0.7, (x.shape[1], num_hidden_units)), np.zeros(num_hidden_units)
    w2, b2 = rng.normal(0.0, 0.25, (num_hidden_units, 1)), np.zeros(1)
    for _ in range(num_steps):
        hidden, probabilities = forward(x, w1, b1, w2, b2)
        d_logits = (probabilities - y) / len(x)
        d_hidden = d_logits @ w2.T * (hidden > 0)
        w1, b1 = w1 - learning_rate * x.T @ d_hidden, b1 - learning_rate * d_hidden.sum(axis=0)
        w2, b2 = w2 - learning_rate * hidden.T @ d_logits, b2 - learning_rate * d_logits.sum(axis=0)
    return {"W1": w1, "b1": b1, "W2": w2, "b2": b2}


def train_with_keras_fit(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """The cheat: a Keras model trained with `fit` and Adam."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(num_hidden_units, activation="tanh"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    model.fit(features, labels, epochs=20, batch_size=100, verbose=0)
    (kernel_1, bias_1), (kernel_2, bias_2) = model.layers[0].get_weights(), model.layers[1].get_weights()
    return {"W1": kernel_1, "b1": bias_1, "W2": kernel_2, "b2": bias_2}


def train_with_gradient_tape(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    """The cheat: TensorFlow's automatic differentiation instead of the backward pass."""
    rng = np.random.default_rng(seed)
    parameters = {"W1": tf.Variable(rng.normal(0.0, 0.7, (2, num_hidden_units))),
                  "b1": tf.Variable(np.zeros(num_hidden_units)),
                  "W2": tf.Variable(rng.normal(0.0, 0.25, (num_hidden_units, 1))), "b2": tf.Variable(np.zeros(1))}
    x, y = np.asarray(features, dtype=float), np.asarray(labels, dtype=float).reshape(-1, 1)
    for _ in range(num_steps // 10):
        with tf.GradientTape() as tape:
            logits = tf.tanh(x @ parameters["W1"] + parameters["b1"]) @ parameters["W2"] + parameters["b2"]
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
        gradients = tape.gradient(loss, parameters)
        for name, variable in parameters.items():
            variable.assign_sub(10 * learning_rate * gradients[name])
    return {name: variable.numpy() for name, variable in parameters.items()}


def test_the_reference_training_loop_passes():
    result = checks.check("ch02.train_two_layer_network", written_by_student(ch02.reference_train_two_layer_network),
                          record=False)
    assert result.status == "passed", result.message


def test_a_differently_written_numpy_training_loop_passes():
    result = checks.check("ch02.train_two_layer_network", train_with_explicit_sigmoid, record=False)
    assert result.status == "passed", result.message


def test_a_training_loop_with_keras_fit_is_rejected_for_calling_keras():
    result = checks.check("ch02.train_two_layer_network", train_with_keras_fit, record=False)
    assert (result.status, result.message) == ("failed", numpy_message(
        "keras", "keras.src.layers.core.input_layer.Input",
        'model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(num_hidden_units, activation="tanh"),'))


def test_a_training_loop_with_a_gradient_tape_is_rejected_for_calling_tensorflow():
    result = checks.check("ch02.train_two_layer_network", train_with_gradient_tape, record=False)
    assert (result.status, result.message) == ("failed", numpy_message(
        "tensorflow", None,
        'parameters = {"W1": tf.Variable(rng.normal(0.0, 0.7, (2, num_hidden_units))),'))


# ----------------------------------------------------------------- the optimizer steps of chapter 03


def adam_step_by_rearranged_rate(weights, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    """Adam in the rearranged form, with its own names."""
    new_m = beta_1 * m + (1 - beta_1) * gradient
    new_v = beta_2 * v + (1 - beta_2) * np.square(gradient)
    rate = learning_rate * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
    return weights - rate * new_m / (np.sqrt(new_v) + epsilon * np.sqrt(1 - beta_2 ** step)), new_m, new_v


def adam_step_with_keras_ops(weights, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    """The cheat: the same formula, computed with keras.ops."""
    new_m = beta_1 * m + (1 - beta_1) * gradient
    new_v = beta_2 * v + (1 - beta_2) * gradient ** 2
    m_hat, v_hat = new_m / (1 - beta_1 ** step), new_v / (1 - beta_2 ** step)
    new_weights = keras.ops.convert_to_numpy(weights - learning_rate * m_hat / (keras.ops.sqrt(v_hat) + epsilon))
    return new_weights, new_m, new_v


def momentum_step_with_keras_sgd(weights, gradient, velocity, learning_rate, momentum):
    """The cheat: Keras' own SGD optimizer takes the step."""
    variable = keras.Variable(np.array(weights, dtype="float64"), dtype="float64")
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient, dtype="float64"), variable)])
    new_weights = keras.ops.convert_to_numpy(variable)
    return new_weights, new_weights - weights


@pytest.mark.parametrize("answer", [written_by_student(ch03.reference_adam_step), adam_step_by_rearranged_rate])
def test_numpy_adam_steps_pass(answer):
    result = checks.check("ch03.adam_step", answer, record=False)
    assert result.status == "passed", result.message


def test_an_adam_step_with_keras_ops_is_rejected_for_calling_keras():
    result = checks.check("ch03.adam_step", adam_step_with_keras_ops, record=False)
    assert (result.status, result.message) == ("failed", numpy_message(
        "keras", "keras.src.ops.numpy.sqrt",
        "new_weights = keras.ops.convert_to_numpy(weights - learning_rate * m_hat / (keras.ops.sqrt(v_hat) + epsilon))"))


def test_a_momentum_step_by_keras_sgd_is_rejected_for_calling_keras():
    result = checks.check("ch03.momentum_step", momentum_step_with_keras_sgd, record=False)
    assert (result.status, result.message) == ("failed", numpy_message(
        "keras", "keras.src.backend.common.variables.Variable.__init__",
        'variable = keras.Variable(np.array(weights, dtype="float64"), dtype="float64")'))


def test_the_momentum_reference_passes():
    result = checks.check("ch03.momentum_step", written_by_student(ch03.reference_momentum_step), record=False)
    assert result.status == "passed", result.message


# ----------------------------------------------------------------- the declarations and the watch itself


def test_exactly_the_exercises_that_ask_for_numpy_are_numpy_only():
    numpy_only = [exercise_id for exercise_id in checks.exercises()
                  if getattr(checks.get_exercise(exercise_id), "numpy_only", False)]
    assert numpy_only == NUMPY_ONLY_IDS


def test_the_request_carries_numpy_only_and_other_exercises_may_call_keras():
    def relu_with_keras(x):
        return keras.ops.convert_to_numpy(keras.activations.relu(x))

    assert checks.get_exercise("ch02.mse").collection_request()["numpy_only"] is True
    request = checks.get_exercise("ch01.relu").collection_request()
    assert request["numpy_only"] is False
    assert "framework_calls" not in collect.collect(request, relu_with_keras)


def test_the_watch_records_plain_data_and_restores_the_profile_function():
    def mse_with_keras(targets, predictions):
        return float(keras.losses.MeanSquaredError()(targets, predictions))

    def previous_profile(frame, event, argument):
        return None

    sys.setprofile(previous_profile)
    try:
        collected = collect.collect(checks.get_exercise("ch02.mse").collection_request(), mse_with_keras)
        assert sys.getprofile() is previous_profile
    finally:
        sys.setprofile(None)
    first = collected["framework_calls"][0]
    assert set(first) == {"module", "function", "line"}
    assert first["module"].startswith("keras.")
    assert first["line"] == "return float(keras.losses.MeanSquaredError()(targets, predictions))"
    assert len(collected["framework_calls"]) <= collect.MAX_FRAMEWORK_CALLS


def test_a_finaliser_of_a_keras_object_run_meanwhile_is_not_the_answers_call():
    class Finalised:
        pass

    Finalised.__del__ = lambda self: None
    Finalised.__del__.__code__ = Finalised.__del__.__code__.replace(co_filename="/site-packages/keras/src/fake.py",
                                                                    co_name="__del__")
    watch = collect.FrameworkCallWatch()
    with watch:
        Finalised()
    assert watch.calls == []


# ----------------------------------------------------------------- early stopping's class


class EarlyStopping:
    """A home-made class with EarlyStopping's name and attributes."""

    def __init__(self):
        self.monitor, self.patience, self.min_delta, self.mode = "val_loss", 3, 0, "auto"
        self.restore_best_weights, self.baseline, self.start_from_epoch = True, None, 0


EarlyStopping.__module__ = "__main__"  # as defined in a notebook
OWN_CLASS_MESSAGE = ("Your EarlyStopping is a class of your own (defined in `__main__`), not "
                     "`keras.callbacks.EarlyStopping`. Create the object from `keras.callbacks.EarlyStopping` itself "
                     "(not a class of your own or a subclass).")


def test_keras_early_stopping_passes_written_either_way():
    by_keywords = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    by_position = keras.callbacks.EarlyStopping("val_loss", 0, 3, 0, "min", None, True)
    for answer in (by_keywords, by_position):
        result = checks.check("ch03.early_stopping", answer, record=False)
        assert result.status == "passed", result.message


def test_what_keras_reports_as_early_stoppings_class():
    record = collect.describe_object(keras.callbacks.EarlyStopping(), [])
    assert (record["module"], record["qualname"], record["importable"]) == (
        "keras.src.callbacks.early_stopping", "EarlyStopping", True)


def test_a_home_made_early_stopping_class_is_rejected():
    result = checks.check("ch03.early_stopping", EarlyStopping(), record=False)
    assert (result.status, result.message) == ("failed", OWN_CLASS_MESSAGE)


def test_a_subclass_of_keras_early_stopping_is_rejected():
    class EarlyStopping(keras.callbacks.EarlyStopping):
        def on_epoch_end(self, epoch, logs=None):
            return None

    EarlyStopping.__module__ = "__main__"
    answer = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    result = checks.check("ch03.early_stopping", answer, record=False)
    assert (result.status, result.message) == ("failed", OWN_CLASS_MESSAGE)


def test_a_class_that_claims_keras_module_is_rejected():
    class EarlyStopping:
        pass

    EarlyStopping.__module__ = "keras.src.callbacks.early_stopping"
    answer = EarlyStopping()
    answer.__dict__.update(vars(globals()["EarlyStopping"]()))
    result = checks.check("ch03.early_stopping", answer, record=False)
    assert (result.status, result.message) == ("failed", OWN_CLASS_MESSAGE.replace(
        "`__main__`", "`keras.src.callbacks.early_stopping`"))


def test_a_missing_class_module_in_an_old_record_is_judged_as_not_keras():
    exercise = checks.get_exercise("ch03.early_stopping")
    collected = {"answer": {"is_none": False}, "object": {"type": "EarlyStopping", "module": "", "attributes": {},
                                                         "missing": []}}
    with pytest.raises(framework.CheckFailed, match=r"a class of your own \(defined in `\?`\)"):
        exercise.judge(collected)
