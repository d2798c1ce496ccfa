"""Every chapter 05 check accepts correct answers and names realistic mistakes."""

import keras
import numpy as np
import pytest

from check_helpers import written_by_student
from dlcourse import checks
from dlcourse.checks import ch05

# ----------------------------------------------------------------- correct answers, written differently


def rnn_step_with_concatenation(x_t, h_previous, kernel, recurrent_kernel, bias):
    x_t, h_previous = np.asarray(x_t, dtype=float), np.asarray(h_previous, dtype=float)
    stacked_inputs = np.concatenate([x_t, h_previous], axis=-1)
    stacked_weights = np.concatenate([kernel, recurrent_kernel], axis=0)
    return np.tanh(stacked_inputs @ stacked_weights + bias)


def rnn_step_with_einsum(x_t, h_previous, kernel, recurrent_kernel, bias):
    pre_activation = np.einsum("...i,ij->...j", x_t, kernel) + np.einsum("...i,ij->...j", h_previous, recurrent_kernel)
    return (np.exp(2 * (pre_activation + bias)) - 1) / (np.exp(2 * (pre_activation + bias)) + 1)


def rnn_forward_preallocated(inputs, h_initial, kernel, recurrent_kernel, bias):
    states = np.zeros((len(inputs), np.shape(recurrent_kernel)[0]))
    previous = np.asarray(h_initial, dtype=float)
    for t in range(len(inputs)):
        states[t] = np.tanh(inputs[t] @ kernel + previous @ recurrent_kernel + bias)
        previous = states[t]
    return states


def rnn_forward_with_lists(inputs, h_initial, kernel, recurrent_kernel, bias):
    states = [np.asarray(h_initial, dtype=float)]
    for x_t in inputs:
        states.append(np.tanh(np.dot(x_t, kernel) + np.dot(states[-1], recurrent_kernel) + bias))
    return np.array(states[1:])


def clip_by_norm_with_linalg(gradient, max_norm):
    gradient = np.asarray(gradient, dtype=float)
    norm = np.linalg.norm(gradient)
    return gradient * (max_norm / max(norm, max_norm))


def clip_by_norm_with_branch(gradient, max_norm):
    norm = float(np.sqrt((np.asarray(gradient) ** 2).sum()))
    if norm > max_norm:
        return np.asarray(gradient) / norm * max_norm
    return np.array(gradient, dtype=float)


def parameter_counts_by_blocks(input_dim, units):
    def block(biases=1):
        return input_dim * units + units * units + biases * units
    return {"simple_rnn": block(), "lstm": 4 * block(), "gru": 3 * block(biases=2)}


def make_windows_with_stride_tricks(series, window_length, horizon):
    series = np.asarray(series, dtype=float)
    windows = np.lib.stride_tricks.sliding_window_view(series, window_length)
    count = len(series) - window_length - horizon + 1
    return windows[:count].copy(), series[window_length + horizon - 1:]


def persistence_mae_with_loop(series, horizon):
    errors = [abs(series[t + horizon] - series[t]) for t in range(len(series) - horizon)]
    return sum(errors) / len(errors)


def sample_with_special_case_for_small_temperatures(probabilities, temperature, num_samples, seed):
    probabilities = np.asarray(probabilities, dtype=float)
    if temperature < 0.01:
        return np.full(num_samples, int(np.argmax(probabilities)))
    weights = probabilities ** (1.0 / temperature)
    return np.random.default_rng(seed).choice(len(weights), size=num_samples, p=weights / weights.sum())


def sample_with_inverse_cdf(probabilities, temperature, num_samples, seed):
    probabilities = np.asarray(probabilities, dtype=float)
    logits = np.where(probabilities > 0, np.log(np.where(probabilities > 0, probabilities, 1.0)), -np.inf) / temperature
    weights = np.exp(logits - logits.max())
    cumulative = np.cumsum(weights / weights.sum())
    draws = np.random.default_rng(seed).random(num_samples)
    return np.minimum(np.searchsorted(cumulative, draws, side="right"), len(weights) - 1)


CORRECT_ANSWERS = {
    "ch05.rnn_step": [ch05.reference_rnn_step, rnn_step_with_concatenation, rnn_step_with_einsum],
    "ch05.rnn_forward": [ch05.reference_rnn_forward, rnn_forward_preallocated, rnn_forward_with_lists],
    "ch05.clip_by_norm": [ch05.reference_clip_by_norm, clip_by_norm_with_linalg, clip_by_norm_with_branch],
    "ch05.recurrent_parameter_counts": [ch05.reference_recurrent_parameter_counts, parameter_counts_by_blocks],
    "ch05.make_windows": [ch05.reference_make_windows, make_windows_with_stride_tricks],
    "ch05.persistence_mae": [ch05.reference_persistence_mae, persistence_mae_with_loop],
    "ch05.sample_with_temperature": [ch05.reference_sample_with_temperature,
                                     sample_with_special_case_for_small_temperatures, sample_with_inverse_cdf],
}
CORRECT_ANSWERS = {exercise_id: [written_by_student(answers[0])] + answers[1:]
                   for exercise_id, answers in CORRECT_ANSWERS.items()}

# ----------------------------------------------------------------- realistic mistakes


def rnn_step_without_tanh(x_t, h_previous, kernel, recurrent_kernel, bias):
    return np.dot(x_t, kernel) + np.dot(h_previous, recurrent_kernel) + bias


def rnn_step_without_bias(x_t, h_previous, kernel, recurrent_kernel, bias):
    return np.tanh(np.dot(x_t, kernel) + np.dot(h_previous, recurrent_kernel))


def rnn_step_without_memory(x_t, h_previous, kernel, recurrent_kernel, bias):
    return np.tanh(np.dot(x_t, kernel) + bias)


def rnn_forward_never_updating(inputs, h_initial, kernel, recurrent_kernel, bias):
    return np.array([np.tanh(x_t @ kernel + h_initial @ recurrent_kernel + bias) for x_t in inputs])


def rnn_forward_keeping_initial_state(inputs, h_initial, kernel, recurrent_kernel, bias):
    return np.vstack([h_initial, rnn_forward_with_lists(inputs, h_initial, kernel, recurrent_kernel, bias)])


def rnn_forward_appending_before_update(inputs, h_initial, kernel, recurrent_kernel, bias):
    states, state = [], np.asarray(h_initial, dtype=float)
    for x_t in inputs:
        states.append(state)
        state = np.tanh(x_t @ kernel + state @ recurrent_kernel + bias)
    return np.array(states)


def rnn_forward_last_state(inputs, h_initial, kernel, recurrent_kernel, bias):
    return rnn_forward_with_lists(inputs, h_initial, kernel, recurrent_kernel, bias)[-1]


def clip_each_entry(gradient, max_norm):
    return np.clip(gradient, -max_norm, max_norm)


def clip_always(gradient, max_norm):
    return np.asarray(gradient) * max_norm / np.linalg.norm(gradient)


def clip_to_unit_norm(gradient, max_norm):
    norm = np.linalg.norm(gradient)
    return np.asarray(gradient) / norm if norm > max_norm else np.asarray(gradient, dtype=float)


def counts_one_block(input_dim, units):
    count = units * (input_dim + units) + units
    return {"simple_rnn": count, "lstm": count, "gru": count}


def counts_without_recurrent_weights(input_dim, units):
    return {"simple_rnn": units * input_dim + units, "lstm": 4 * (units * input_dim + units),
            "gru": 3 * (units * input_dim + 2 * units)}


def counts_gru_single_bias(input_dim, units):
    count = units * (input_dim + units) + units
    return {"simple_rnn": count, "lstm": 4 * count, "gru": 3 * count}


def windows_one_step_late(series, window_length, horizon):
    series = np.asarray(series, dtype=float)
    starts = range(len(series) - window_length - horizon)
    return (np.array([series[s:s + window_length] for s in starts]).reshape(-1, window_length),
            np.array([series[s + window_length + horizon] for s in starts]))


def windows_next_value_only(series, window_length, horizon):
    series = np.asarray(series, dtype=float)
    starts = range(len(series) - window_length)
    return np.array([series[s:s + window_length] for s in starts]), np.array([series[s + window_length] for s in starts])


def windows_missing_last(series, window_length, horizon):
    series = np.asarray(series, dtype=float)
    starts = range(len(series) - window_length - horizon)
    return (np.array([series[s:s + window_length] for s in starts]).reshape(-1, window_length),
            np.array([series[s + window_length + horizon - 1] for s in starts]))


def sample_dividing_probabilities(probabilities, temperature, num_samples, seed):
    weights = np.asarray(probabilities) / temperature
    return np.random.default_rng(seed).choice(len(weights), size=num_samples, p=weights / weights.sum())


def sample_softmax_of_probabilities(probabilities, temperature, num_samples, seed):
    weights = np.exp(np.asarray(probabilities) / temperature)
    return np.random.default_rng(seed).choice(len(weights), size=num_samples, p=weights / weights.sum())


def sample_power_of_temperature(probabilities, temperature, num_samples, seed):
    weights = np.asarray(probabilities) ** temperature
    return np.random.default_rng(seed).choice(len(weights), size=num_samples, p=weights / weights.sum())


def sample_greedy(probabilities, temperature, num_samples, seed):
    return np.full(num_samples, int(np.argmax(probabilities)))


def sample_naive_power(probabilities, temperature, num_samples, seed):
    weights = np.asarray(probabilities) ** (1.0 / temperature)
    return np.random.default_rng(seed).choice(len(weights), size=num_samples, p=weights / weights.sum())


def sample_smoothed(probabilities, temperature, num_samples, seed):
    return ch05.reference_sample_with_temperature(np.asarray(probabilities) + 0.01, temperature, num_samples, seed)


def sample_once(probabilities, temperature, num_samples, seed):
    return ch05.reference_sample_with_temperature(probabilities, temperature, 1, seed)[0]


MISTAKES = {
    "ch05.rnn_step": [
        (rnn_step_without_tanh, "failed", ["tanh is missing"]),
        (rnn_step_without_bias, "failed", ["bias is missing"]),
        (rnn_step_without_memory, "failed", ["previous state is ignored"]),
    ],
    "ch05.rnn_forward": [
        (rnn_forward_never_updating, "failed", ["never carried forward"]),
        (rnn_forward_keeping_initial_state, "failed", ["starts with `h_initial`"]),
        (rnn_forward_appending_before_update, "failed", ["stored before it is updated"]),
        (rnn_forward_last_state, "failed", ["only the last state"]),
    ],
    "ch05.clip_by_norm": [
        (clip_each_entry, "failed", ["clipvalue"]),
        (clip_always, "failed", ["already short enough"]),
        (clip_to_unit_norm, "failed", ["norm 1 instead of `max_norm`"]),
    ],
    "ch05.recurrent_parameter_counts": [
        (counts_one_block, "failed", ["counted like a SimpleRNN"]),
        (counts_without_recurrent_weights, "failed", ["recurrent weights are missing"]),
        (counts_gru_single_bias, "failed", ["reset_after=True"]),
    ],
    "ch05.make_windows": [
        (windows_one_step_late, "failed", ["one step too late"]),
        (windows_next_value_only, "failed", ["horizon is ignored"]),
        (windows_missing_last, "failed", ["last window is missing"]),
    ],
    "ch05.persistence_mae": [
        (lambda series, horizon: float(np.mean(np.abs(np.diff(series)))), "failed", ["horizon is ignored"]),
        (lambda series, horizon: float(np.mean((series[horizon:] - series[:-horizon]) ** 2)), "failed",
         ["mean *squared* error"]),
        (lambda series, horizon: float(np.mean(series[horizon:] - series[:-horizon])), "failed",
         ["absolute value is missing"]),
    ],
    "ch05.sample_with_temperature": [
        (sample_dividing_probabilities, "failed", ["temperature has no effect"]),
        (sample_softmax_of_probabilities, "failed", ["softmax(p / T)"]),
        (sample_power_of_temperature, "failed", ["works backwards"]),
        (sample_greedy, "failed", ["most likely index"]),
        (sample_naive_power, "error", ["temperature 0.001", "NaN"]),
        (sample_smoothed, "failed", ["probability is 0"]),
        (sample_once, "failed", ["1-D array of 20000"]),
    ],
}

# ----------------------------------------------------------------- the references agree with Keras


def test_reference_rnn_forward_matches_keras_simple_rnn():
    keras.utils.set_random_seed(0)
    layer = keras.layers.SimpleRNN(4, return_sequences=True)
    inputs = np.random.default_rng(0).normal(size=(7, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(layer(inputs[None]))[0]
    kernel, recurrent_kernel, bias = layer.get_weights()
    states = ch05.reference_rnn_forward(inputs, np.zeros(4), kernel, recurrent_kernel, bias)
    np.testing.assert_allclose(states, expected, atol=1e-5)
    np.testing.assert_allclose(ch05.reference_rnn_step(inputs[0], np.zeros(4), kernel, recurrent_kernel, bias),
                               expected[0], atol=1e-5)


@pytest.mark.parametrize("input_dim,units", [(1, 32), (16, 64), (3, 1), (100, 10)])
def test_reference_parameter_counts_match_keras(input_dim, units):
    counts = ch05.reference_recurrent_parameter_counts(input_dim, units)
    for key, layer in [("simple_rnn", keras.layers.SimpleRNN(units)), ("lstm", keras.layers.LSTM(units)),
                       ("gru", keras.layers.GRU(units))]:
        layer.build((None, None, input_dim))
        assert counts[key] == layer.count_params(), key


def test_reference_clip_matches_keras_clipnorm():
    gradient = np.array([[12.0, 0.0, -3.0], [0.0, 4.0, 0.0]], dtype="float32")
    weight = keras.Variable(np.zeros((2, 3), dtype="float32"))
    keras.optimizers.SGD(learning_rate=1.0, clipnorm=2.5).apply([gradient], [weight])
    np.testing.assert_allclose(-keras.ops.convert_to_numpy(weight), ch05.reference_clip_by_norm(gradient, 2.5), rtol=1e-5)


def test_reference_sampler_is_greedy_near_zero_without_warnings():
    with np.errstate(over="raise", invalid="raise"):
        samples = ch05.reference_sample_with_temperature(np.array([0.0, 0.3, 0.36, 0.34]), 1e-6, 100, 0)
    assert np.all(samples == 2)


# ----------------------------------------------------------------- the gate question (a choice exercise)


def test_gate_roles_right_answers_pass_in_any_case():
    answer = {key: value.upper() for key, value in ch05.GATE_ROLES.items()}
    assert checks.check("ch05.gate_roles", answer, record=False).passed


@pytest.mark.parametrize("key,wrong,fragment", [
    ("keep_or_erase_memory", "input", "scales the *new* candidate"),
    ("write_new_information", "forget", "scales the *old* cell state"),
    ("gru_blend_old_and_new_state", "reset", "uses the update gate z"),
])
def test_gate_roles_wrong_choices_are_explained(key, wrong, fragment):
    answer = dict(ch05.GATE_ROLES, **{key: wrong})
    result = checks.check("ch05.gate_roles", answer, record=False)
    assert result.status == "failed" and fragment in result.message, result.message


def test_gate_roles_needs_a_dict_of_known_gates():
    assert "one choice per question" in checks.check("ch05.gate_roles", "forget", record=False).message
    answer = dict(ch05.GATE_ROLES, keep_or_erase_memory="memory")
    assert "not one of the choices" in checks.check("ch05.gate_roles", answer, record=False).message


# ----------------------------------------------------------------- the forecaster (a model exercise)


def test_untrained_forecaster_fails_with_the_numbers():
    keras.utils.set_random_seed(0)
    result = checks.check("ch05.forecaster", ch05.build_forecaster_reference_model(), record=False)
    assert result.status == "failed"
    assert "persistence baseline's 23.3" in result.message, result.message


def test_forecaster_design_constraints_are_named():
    """A design task: no recurrent layer, over the budget, or a wrong output shape is named; an LSTM is allowed."""
    dense_only = keras.Sequential([keras.Input(shape=(12, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    message = checks.check("ch05.forecaster", dense_only, record=False).message
    assert message.startswith("The task asks for a recurrent layer (SimpleRNN, LSTM, GRU"), message
    too_big = keras.Sequential([keras.Input(shape=(12, 1)), keras.layers.LSTM(64), keras.layers.Dense(1)])
    message = checks.check("ch05.forecaster", too_big, record=False).message
    assert message.startswith("Your model has 16,961 parameters, over the task's budget of 10,000."), message
    two_outputs = keras.Sequential([keras.Input(shape=(12, 1)), keras.layers.GRU(8), keras.layers.Dense(2)])
    assert "output shape (per example) is (2,); the task needs (1,)" in checks.check(
        "ch05.forecaster", two_outputs, record=False).message
    keras.utils.set_random_seed(0)
    untrained_lstm = keras.Sequential([keras.Input(shape=(12, 1)), keras.layers.LSTM(32), keras.layers.Dense(1)])
    message = checks.check("ch05.forecaster", untrained_lstm, record=False).message
    assert message.startswith("On the held-out years 1970-2008 your model's MAE is"), message  # constraints met
    assert "least-squares linear model reaches 1.52 there" in message


def test_constant_forecaster_is_told_it_predicts_one_value():
    model = ch05.build_forecaster_reference_model()
    model.set_weights([np.zeros_like(weight) for weight in model.get_weights()])
    score, problem = ch05.score_forecaster(model)
    assert score < ch05.FORECASTER_MINIMUM_RATIO and "almost the same value" in problem
    assert "Never trained" in problem and "has it been trained" not in problem, problem  # its biases are all 0


def test_trained_gru_forecaster_passes():
    from dlcourse import datasets

    years, counts = datasets.load_sunspots()
    mean, std = ch05.sunspot_scaling()
    inputs, targets = ch05.reference_make_windows((counts - mean) / std, ch05.WINDOW_LENGTH, 1)
    train = years[ch05.WINDOW_LENGTH:] < ch05.TRAIN_END_YEAR
    keras.utils.set_random_seed(1)
    model = ch05.build_forecaster_reference_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    model.fit(inputs[train][..., None].astype("float32"), targets[train].astype("float32"), epochs=20,
              batch_size=32, verbose=0)
    result = checks.check("ch05.forecaster", model, record=False)
    assert result.passed, result.message


# ----------------------------------------------------------------- the forecaster: advice only with evidence


def last_value_forecaster(scale, offset):
    """A stand-in forecaster: scale * the window's last value + offset (nonzero, so it does not look untrained)."""
    model = keras.Sequential([keras.Input(shape=(ch05.WINDOW_LENGTH, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    kernel = np.zeros((ch05.WINDOW_LENGTH, 1), dtype="float32")
    kernel[-1, 0] = scale
    model.set_weights([kernel, np.array([offset], dtype="float32")])
    return model


def test_forecaster_trained_on_unscaled_counts_is_named():
    model = last_value_forecaster(0.8, 20.0)  # in counts: 0.8 * last count + 20 sunspots
    advice = ch05.unscaled_counts_advice(model)
    assert "it was trained on unscaled counts" in advice, advice
    score, problem = ch05.score_forecaster(model)
    assert "it was trained on unscaled counts" in problem and "Train longer" not in problem, problem


def test_weak_forecaster_on_scaled_counts_gets_the_numbers_and_the_recipe_only():
    model = last_value_forecaster(0.8, 0.3)  # in scaled units: a weak but correctly scaled forecaster
    assert ch05.unscaled_counts_advice(model) == ""
    score, problem = ch05.score_forecaster(model)
    assert score < ch05.FORECASTER_MINIMUM_RATIO and "the persistence baseline's 23.3" in problem, problem
    assert "The check found no specific cause" in problem and "unscaled" not in problem, problem


# ----------------------------------------------------------------- sampling: a mistake is named only when followed


def test_samples_that_follow_no_known_mistake_get_the_frequencies_only():
    def sample_uniformly(probabilities, temperature, num_samples, seed):
        return np.random.default_rng(seed).integers(0, len(probabilities), size=num_samples)

    result = checks.check("ch05.sample_with_temperature", sample_uniformly, record=False)
    assert result.status == "failed" and "far from p ** (1 / T)" in result.message, result.message
    assert not any(description[:30] in result.message for description, _ in ch05._SAMPLING_MISTAKES)


def test_samples_following_p_to_the_power_t_are_named_and_not_the_others():
    case = ch05.sample_with_temperature.cases[0]
    score, problem = ch05.score_sampling(case, sample_power_of_temperature(*case.args))
    assert "works backwards" in problem and "has no effect" not in problem, problem


# Exercises whose answers are models or other objects too costly to list in the tables above: the tests
# named here (in this module unless a module is given) show the reference and another correct answer
# passing and at least two named mistakes; test_exercise_tables checks that they exist.
TESTED_ELSEWHERE = {
    "ch05.gate_roles": [
        "test_gate_roles_right_answers_pass_in_any_case",
        "test_gate_roles_wrong_choices_are_explained",
    ],
    "ch05.forecaster": [
        "test_trained_gru_forecaster_passes",
        "test_forecaster_design_constraints_are_named",
        "test_untrained_forecaster_fails_with_the_numbers",
        "test_forecaster_trained_on_unscaled_counts_is_named",
    ],
}
