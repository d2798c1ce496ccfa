"""Every chapter 03 check accepts correct answers and names realistic mistakes."""

import math

import keras
import numpy as np
import pytest

from check_helpers import written_by_student
from dlcourse import checks
from dlcourse.checks import ch03

# ----------------------------------------------------------------- correct answers, written differently


def minibatch_indices_by_split(num_examples, batch_size, seed):
    order = np.random.default_rng(seed).permutation(num_examples)
    return np.split(order, np.arange(batch_size, num_examples, batch_size))


def minibatch_indices_by_loop(num_examples, batch_size, seed):
    order = list(np.random.default_rng(seed).permutation(num_examples))
    batches = []
    while order:
        batches.append(np.array(order[:batch_size]))
        order = order[batch_size:]
    return batches


def momentum_step_in_two_lines(weights, gradient, velocity, learning_rate, momentum):
    velocity = velocity * momentum + (-learning_rate) * gradient
    return (weights + velocity, velocity)


def adam_step_paper_form(weights, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    """The paper's form: bias-corrected m_hat and v_hat, epsilon added to sqrt(v_hat)."""
    m = beta_1 * m + (1 - beta_1) * gradient
    v = beta_2 * v + (1 - beta_2) * np.square(gradient)
    m_hat, v_hat = m / (1 - beta_1 ** step), v / (1 - beta_2 ** step)
    return weights - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon), m, v


def adam_step_keras_form_inplace_copies(weights, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    m, v = m.copy(), v.copy()
    m += (gradient - m) * (1 - beta_1)
    v += (gradient ** 2 - v) * (1 - beta_2)
    alpha = learning_rate * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
    return weights - alpha * m / (np.sqrt(v) + epsilon), m, v


def huber_by_minimum(targets, predictions, delta=1.0):
    """The 'quadratic part plus linear rest' form: q = min(|e|, delta); 0.5 q^2 + delta (|e| - q)."""
    error = np.abs(np.asarray(predictions) - np.asarray(targets))
    quadratic = np.minimum(error, delta)
    return np.mean(0.5 * quadratic ** 2 + delta * (error - quadratic))


def best_learning_rate_sorted(learning_rates, training_losses, validation_losses):
    finite = [(min(losses), rate) for rate, losses in zip(learning_rates, validation_losses)
              if all(math.isfinite(loss) for loss in losses)]
    return sorted(finite)[0][1]


CORRECT_ANSWERS = {
    "ch03.minibatch_indices": [ch03.reference_minibatch_indices, minibatch_indices_by_split, minibatch_indices_by_loop],
    "ch03.momentum_step": [ch03.reference_momentum_step, momentum_step_in_two_lines],
    "ch03.adam_step": [ch03.reference_adam_step, adam_step_paper_form, adam_step_keras_form_inplace_copies],
    "ch03.huber": [ch03.reference_huber, huber_by_minimum],
    "ch03.best_learning_rate": [ch03.reference_best_learning_rate, best_learning_rate_sorted],
}
CORRECT_ANSWERS = {exercise_id: [written_by_student(answers[0])] + answers[1:]
                   for exercise_id, answers in CORRECT_ANSWERS.items()}

# ----------------------------------------------------------------- realistic mistakes


def minibatch_drops_last(num_examples, batch_size, seed):
    order = np.random.default_rng(seed).permutation(num_examples)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(num_examples // batch_size)]


def minibatch_unshuffled(num_examples, batch_size, seed):
    return [np.arange(start, min(start + batch_size, num_examples)) for start in range(0, num_examples, batch_size)]


def minibatch_legacy_generator(num_examples, batch_size, seed):
    np.random.seed(seed)
    order = np.random.permutation(num_examples)
    return [order[start:start + batch_size] for start in range(0, num_examples, batch_size)]


def minibatch_array_split(num_examples, batch_size, seed):
    order = np.random.default_rng(seed).permutation(num_examples)
    return np.array_split(order, int(np.ceil(num_examples / batch_size)))


def momentum_pytorch_convention(weights, gradient, velocity, learning_rate, momentum):
    velocity = momentum * velocity + gradient
    return weights - learning_rate * velocity, velocity


def momentum_old_velocity(weights, gradient, velocity, learning_rate, momentum):
    return weights + velocity, momentum * velocity - learning_rate * gradient


def adam_no_bias_correction(weights, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * gradient
    v = beta_2 * v + (1 - beta_2) * gradient ** 2
    return weights - learning_rate * m / (np.sqrt(v) + epsilon), m, v


def adam_epsilon_in_sqrt(weights, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1 - beta_1) * gradient
    v = beta_2 * v + (1 - beta_2) * gradient ** 2
    m_hat, v_hat = m / (1 - beta_1 ** step), v / (1 - beta_2 ** step)
    return weights - learning_rate * m_hat / np.sqrt(v_hat + epsilon), m, v


def adam_betas_swapped(weights, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    m = beta_2 * m + (1 - beta_2) * gradient
    v = beta_1 * v + (1 - beta_1) * gradient ** 2
    m_hat, v_hat = m / (1 - beta_2 ** step), v / (1 - beta_1 ** step)
    return weights - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon), m, v


def huber_no_half(targets, predictions, delta=1.0):
    error = np.abs(predictions - targets)
    return float(np.mean(np.where(error <= delta, error ** 2, delta * (error - 0.5 * delta))))


def huber_unshifted_linear(targets, predictions, delta=1.0):
    error = np.abs(predictions - targets)
    return float(np.mean(np.where(error <= delta, 0.5 * error ** 2, delta * error)))


def huber_swapped(targets, predictions, delta=1.0):
    error = np.abs(predictions - targets)
    return float(np.mean(np.where(error > delta, 0.5 * error ** 2, delta * (error - 0.5 * delta))))


def best_rate_by_training_loss(learning_rates, training_losses, validation_losses):
    return best_learning_rate_sorted(learning_rates, validation_losses, training_losses)


def best_rate_with_nan(learning_rates, training_losses, validation_losses):
    """np.argmin over per-run minima: a run with NaN gives a NaN minimum, and argmin picks the NaN."""
    return float(learning_rates[int(np.argmin([np.min(losses) for losses in validation_losses]))])


def best_rate_nanmin(learning_rates, training_losses, validation_losses):
    """np.nanmin hides the divergence: a run that was good at epoch 1 and then blew up still competes."""
    return float(learning_rates[int(np.argmin([np.nanmin(losses) for losses in validation_losses]))])


def best_rate_last_epoch(learning_rates, training_losses, validation_losses):
    finals = [losses[-1] if np.all(np.isfinite(losses)) else np.inf for losses in validation_losses]
    return float(learning_rates[int(np.argmin(finals))])


# (answer, expected status, fragments that the message must contain)
MISTAKES = {
    "ch03.minibatch_indices": [
        (minibatch_drops_last, "failed", ["last, smaller batch is missing"]),
        (minibatch_unshuffled, "failed", ["not shuffled"]),
        (minibatch_legacy_generator, "failed", ["legacy generator"]),
        (minibatch_array_split, "failed", ["np.array_split"]),
    ],
    "ch03.momentum_step": [
        (momentum_pytorch_convention, "failed", ["other common convention", "PyTorch"]),
        (momentum_old_velocity, "failed", ["*old* velocity"]),
    ],
    "ch03.adam_step": [
        (adam_no_bias_correction, "failed", ["bias correction is missing"]),
        (adam_epsilon_in_sqrt, "failed", ["epsilon is inside the square root"]),
        (adam_betas_swapped, "failed", ["beta_1 and beta_2 are swapped"]),
    ],
    "ch03.huber": [
        (huber_no_half, "failed", ["0.5 in the quadratic part is missing"]),
        (huber_unshifted_linear, "failed", ["missing the shift"]),
        (huber_swapped, "failed", ["two pieces are swapped"]),
    ],
    "ch03.best_learning_rate": [
        (best_rate_by_training_loss, "failed", ["*training* loss"]),
        (best_rate_with_nan, "failed", ["run that diverged", "NaN"]),
        (best_rate_nanmin, "failed", ["run that diverged"]),
        (best_rate_last_epoch, "failed", ["only the last epoch"]),
    ],
}


# ----------------------------------------------------------------- early stopping (a configured object)

EARLY_STOPPING_CORRECT = [
    lambda: keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
    lambda: keras.callbacks.EarlyStopping("val_loss", 0, 3, 0, "min", None, True),
]

EARLY_STOPPING_MISTAKES = [
    (lambda: keras.callbacks.EarlyStopping(monitor="loss", patience=3, restore_best_weights=True),
     ["monitor='loss'", "*training* loss"]),
    (lambda: keras.callbacks.EarlyStopping(monitor="val_loss", patience=3),
     ["restore_best_weights is False", "*last* epoch"]),
    (lambda: keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True),
     ["patience=1 is too small"]),
    (lambda: keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True, mode="max"),
     ["should stop after epoch 8", "mode"]),
    (lambda: keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True, min_delta=0.05),
     ["should stop after epoch 8", "min_delta"]),
]


@pytest.mark.parametrize("make_callback", EARLY_STOPPING_CORRECT)
def test_early_stopping_correct_configurations_pass(make_callback):
    result = checks.check("ch03.early_stopping", make_callback(), record=False)
    assert result.status == "passed", str(result)


@pytest.mark.parametrize("make_callback,fragments", EARLY_STOPPING_MISTAKES)
def test_early_stopping_mistakes_are_explained(make_callback, fragments):
    result = checks.check("ch03.early_stopping", make_callback(), record=False)
    assert result.status == "failed", str(result)
    for fragment in fragments:
        assert fragment in result.message, result.message


def test_early_stopping_wrong_object_and_placeholder():
    assert checks.check("ch03.early_stopping", ..., record=False).status == "not_attempted"
    wrong = checks.check("ch03.early_stopping", keras.callbacks.ReduceLROnPlateau(), record=False)
    assert wrong.status == "failed"
    assert wrong.message == "Expected an EarlyStopping object, but got a ReduceLROnPlateau."


def test_the_scripted_run_stops_after_patience_epochs_and_restores_the_best():
    stopped, restored = ch03.run_early_stopping_script(
        {"monitor": "val_loss", "patience": 3, "restore_best_weights": True})
    assert (stopped, restored) == (ch03._BEST_EPOCH + ch03._PATIENCE, ch03._BEST_EPOCH)
    stopped, restored = ch03.run_early_stopping_script({"monitor": "val_loss", "patience": 3})
    assert restored == stopped  # without restoring, the last epoch's weights stay


# ----------------------------------------------------------------- reading curves (multiple choice)


def test_curve_diagnoses_correct_answers_pass():
    for answer in ({"A": "overfitting", "B": "underfitting", "C": "good fit"},
                   {"C": " Good Fit ", "B": "UNDERFITTING", "A": "overfitting"}):
        result = checks.check("ch03.curve_diagnoses", answer, record=False)
        assert result.status == "passed", str(result)


@pytest.mark.parametrize("answer,fragments", [
    ({"A": "good fit", "B": "underfitting", "C": "overfitting"},
     ["A: not 'good fit'", "gap that opens", "C: not 'overfitting'", "has not turned up"]),
    ({"A": "overfitting", "B": "good fit", "C": "underfitting"},
     ["B: not 'good fit'", "too small", "C: not 'underfitting'", "lowest validation loss of the three"]),
    ({"A": "underfitting", "B": "overfitting", "C": "good fit"},
     ["A: not 'underfitting'", "capacity to spare", "B: not 'overfitting'", "both stay high"]),
])
def test_curve_diagnoses_mistakes_are_explained(answer, fragments):
    result = checks.check("ch03.curve_diagnoses", answer, record=False)
    assert result.status == "failed", str(result)
    for fragment in fragments:
        assert fragment in result.message, result.message


def test_curve_diagnoses_needs_a_dict_of_known_choices():
    assert "one choice per question" in checks.check("ch03.curve_diagnoses", "overfitting", record=False).message
    assert "is not one of the choices" in checks.check(
        "ch03.curve_diagnoses", {"A": "overfit", "B": "underfitting", "C": "good fit"}, record=False).message


# ----------------------------------------------------------------- a regularised MLP (design task)


def digit_subset():
    """The lesson's 800 training images of model A, flattened and scaled."""
    from dlcourse import datasets

    images, labels, _, _ = datasets.load_mnist_split(num_test=1000, seed=0)
    return images[:800].reshape(800, -1).astype("float32") / 255.0, labels[:800]


def trained(model, epochs=15, learning_rate=1e-3):
    """The model, trained on the 800 images like the lesson's model A."""
    x, y = digit_subset()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def mlp(hidden_units, l2=0.0, dropout=0.0, softmax=True, seed=0):
    """784 -> hidden layers (optionally L2 and dropout) -> 10."""
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((784,))]
    for units in hidden_units:
        layers.append(keras.layers.Dense(units, activation="relu",
                                         kernel_regularizer=keras.regularizers.L2(l2) if l2 else None))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax" if softmax else None))
    return keras.Sequential(layers)


def functional_l2_mlp_with_dropout():
    """A differently written design: the functional API, L1L2 with an L2 part on one layer, dropout."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(784,))
    hidden = keras.layers.Dense(200, activation="relu", kernel_regularizer=keras.regularizers.L1L2(l2=2e-3))(inputs)
    hidden = keras.layers.Dropout(0.3)(hidden)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))


@pytest.fixture(scope="module")
def regularised_answers():
    """Trained answers to the design task: two correct designs and three named mistakes."""
    return {"reference": trained(ch03.build_regularised_reference_model()),
            "functional": trained(functional_l2_mlp_with_dropout()),
            "no penalty": trained(mlp((256, 256)), learning_rate=3e-3),
            "dropout only": trained(mlp((256, 256), dropout=0.5)),
            "untrained": mlp((64,), l2=1e-3),
            "logits": trained(mlp((64,), l2=1e-3, softmax=False), epochs=2)}


@pytest.mark.parametrize("name", ["reference", "functional"])
def test_regularised_mlp_correct_designs_pass(regularised_answers, name):
    result = checks.check("ch03.regularised_mlp", regularised_answers[name], record=False)
    assert result.status == "passed", str(result)
    assert "exp(-cross-entropy), on held-out data is" in result.message


@pytest.mark.parametrize("name,fragments", [
    ("no penalty", ["asks for L2 weight decay", "kernel_regularizer=keras.regularizers.L2(3e-3)"]),
    ("dropout only", ["asks for L2 weight decay", "dropout alone"]),
    ("untrained", ["below the required 0.60", "Train on `fit_x[:800]`"]),
    ("logits", ["not probabilities", "softmax"]),
])
def test_regularised_mlp_mistakes_are_named(regularised_answers, name, fragments):
    result = checks.check("ch03.regularised_mlp", regularised_answers[name], record=False)
    assert result.status == "failed", str(result)
    for fragment in fragments:
        assert fragment in result.message, result.message


def test_regularised_mlp_over_the_budget_and_wrong_input_are_named():
    too_big = checks.check("ch03.regularised_mlp", mlp((512, 256), l2=1e-3), record=False)
    assert too_big.status == "failed" and "over the task's budget of 300,000" in too_big.message, str(too_big)
    images = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                               keras.layers.Dense(10, activation="softmax", kernel_regularizer="l2")])
    wrong_input = checks.check("ch03.regularised_mlp", images, record=False)
    assert "keras.Input(shape=(784,))" in wrong_input.message, str(wrong_input)


def test_l2_factor_reads_l2_and_l1l2_but_not_l1():
    assert ch03.l2_factor(keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.01))) == pytest.approx(0.01)
    assert ch03.l2_factor(keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L1L2(l1=0.1, l2=0.2))) == \
        pytest.approx(0.2)
    assert ch03.l2_factor(keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L1(0.1))) == 0.0
    assert ch03.l2_factor(keras.layers.Dense(3)) == 0.0


# ----------------------------------------------------------------- the references themselves


def test_reference_optimizer_steps_match_keras():
    """The momentum and Adam references agree with keras.optimizers over several steps (float32 tolerance)."""
    start = np.array([1.0, -2.0, 0.5])
    gradients = [np.array([0.3, -0.1, 2.0]), np.array([0.5, 0.2, -1.0]), np.array([-0.4, 0.3, 0.7])]
    for optimizer, step in [
        (keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), "momentum"),
        (keras.optimizers.Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7), "adam"),
    ]:
        variable = keras.Variable(start.astype("float32"))
        weights, velocity, m, v = start.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
        for t, gradient in enumerate(gradients, start=1):
            optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient.astype("float32")), variable)])
            if step == "momentum":
                weights, velocity = ch03.reference_momentum_step(weights, gradient, velocity, 0.1, 0.9)
            else:
                weights, m, v = ch03.reference_adam_step(weights, gradient, m, v, t, 0.01, 0.9, 0.999, 1e-7)
            np.testing.assert_allclose(variable.numpy(), weights, atol=1e-6)


def test_reference_huber_matches_keras():
    targets, predictions = ch03._HUBER_TARGETS, ch03._HUBER_PREDICTIONS
    for delta in (1.0, 2.5):
        expected = float(keras.losses.Huber(delta=delta)(targets[None, :], predictions[None, :]))
        assert ch03.reference_huber(targets, predictions, delta) == pytest.approx(expected, rel=1e-6)


def test_the_exercises_are_registered_in_chapter_order():
    assert [exercise.exercise_id for exercise in ch03.EXERCISES] == checks.exercises("ch03")


# Exercises whose answers are models or other objects too costly to list in the tables above: the tests
# named here (in this module unless a module is given) show the reference and another correct answer
# passing and at least two named mistakes; test_exercise_tables checks that they exist.
TESTED_ELSEWHERE = {
    "ch03.curve_diagnoses": [
        "test_curve_diagnoses_correct_answers_pass",
        "test_curve_diagnoses_mistakes_are_explained",
    ],
    "ch03.regularised_mlp": [
        "test_regularised_mlp_correct_designs_pass",
        "test_regularised_mlp_mistakes_are_named",
        "test_regularised_mlp_over_the_budget_and_wrong_input_are_named",
    ],
    "ch03.early_stopping": [
        "test_early_stopping_correct_configurations_pass",
        "test_early_stopping_mistakes_are_explained",
    ],
}
