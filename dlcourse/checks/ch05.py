"""Chapter 05 exercises: recurrent networks, LSTMs and GRUs, forecasting and character-level text."""

from __future__ import annotations

import numpy as np

from dlcourse.checks import diagnostics
from dlcourse.checks.framework import (Case, ChoiceExercise, DesignExercise, FunctionExercise, Mistake, ModelExercise,
                                       ScoredFunctionExercise, gather_evidence, low_score_message)

# The forecasting setup the chapter's text states, shared by the notebook and the forecaster check.
WINDOW_LENGTH = 12
TRAIN_END_YEAR = 1930        # windows whose target year is before 1930 train the model
VALIDATION_END_YEAR = 1950   # 1930-1949 validate; the lesson tests on 1950-1969, the last years its data holds
HELDOUT_START_YEAR = 1970    # 1970-2008: only in dlcourse/checks/heldout/sunspots.csv; the forecaster is scored on them

# ------------------------------------------------------------------ references


def reference_rnn_step(x_t, h_previous, kernel, recurrent_kernel, bias):
    """One step of a simple RNN cell: h_t = tanh(x_t W_x + h_{t-1} W_h + b)."""
    return np.tanh(np.asarray(x_t, dtype=float) @ kernel + np.asarray(h_previous, dtype=float) @ recurrent_kernel + bias)


def reference_rnn_forward(inputs, h_initial, kernel, recurrent_kernel, bias):
    """Every hidden state h_1 ... h_T of a simple RNN run over inputs of shape (time, features), as (time, units)."""
    state = np.asarray(h_initial, dtype=float)
    states = []
    for x_t in np.asarray(inputs, dtype=float):
        state = np.tanh(x_t @ kernel + state @ recurrent_kernel + bias)
        states.append(state)
    return np.array(states)


def reference_clip_by_norm(gradient, max_norm):
    """The gradient rescaled so that its L2 norm is at most max_norm (unchanged when it already is)."""
    gradient = np.asarray(gradient, dtype=float)
    norm = np.sqrt(np.sum(gradient ** 2))
    if norm <= max_norm:
        return gradient.copy()
    return gradient * (max_norm / norm)


def reference_recurrent_parameter_counts(input_dim, units):
    """Parameters of Keras' SimpleRNN, LSTM and GRU (reset_after=True: two bias vectors) layers."""
    one_block = units * input_dim + units * units
    return {"simple_rnn": one_block + units,
            "lstm": 4 * (one_block + units),
            "gru": 3 * (one_block + 2 * units)}


def reference_make_windows(series, window_length, horizon):
    """(X, y): every window of `window_length` consecutive values, and the value `horizon` steps after its end."""
    series = np.asarray(series, dtype=float)
    num_windows = len(series) - window_length - horizon + 1
    inputs = np.array([series[i:i + window_length] for i in range(num_windows)]).reshape(num_windows, window_length)
    targets = np.array([series[i + window_length + horizon - 1] for i in range(num_windows)])
    return inputs, targets


def reference_persistence_mae(series, horizon):
    """Mean absolute error of the forecast 'the value `horizon` steps ahead equals today's value'."""
    series = np.asarray(series, dtype=float)
    return float(np.mean(np.abs(series[horizon:] - series[:-horizon])))


def reference_sample_with_temperature(probabilities, temperature, num_samples, seed):
    """num_samples indices drawn from p ** (1 / T), renormalised, computed stably in log space."""
    reweighted = _reweighted(probabilities, temperature)
    return np.random.default_rng(seed).choice(len(reweighted), size=num_samples, p=reweighted)


def _reweighted(probabilities, temperature):
    """The distribution p ** (1 / T), renormalised: exp(log(p) / T - max) keeps small temperatures finite."""
    with np.errstate(divide="ignore"):
        logits = np.log(np.asarray(probabilities, dtype=float)) / temperature
    weights = np.exp(logits - np.max(logits))
    return weights / weights.sum()


# ------------------------------------------------------------------ exercise: rnn_step

_rng = np.random.default_rng(505)


def _weights(input_dim, units):
    """Rounded random (kernel, recurrent_kernel, bias) for a simple RNN cell."""
    return (np.round(_rng.normal(0, 0.5, (input_dim, units)), 2), np.round(_rng.normal(0, 0.5, (units, units)), 2),
            np.round(_rng.normal(0, 0.3, units), 2))


_KERNEL_3x4, _RECURRENT_4x4, _BIAS_4 = _weights(3, 4)
_KERNEL_1x2, _RECURRENT_2x2, _BIAS_2 = _weights(1, 2)
_KERNEL_5x3, _RECURRENT_3x3, _BIAS_3 = _weights(5, 3)

rnn_step = FunctionExercise(
    exercise_id="ch05.rnn_step",
    title="One step of a simple RNN cell",
    hints=[
        "The new state mixes the current input and the previous state: multiply each by its own weight matrix, "
        "add the bias, then squash with tanh.",
        "`np.tanh(x_t @ kernel + h_previous @ recurrent_kernel + bias)`: inputs on the left of the matrix product, "
        "as Keras does, so the same code works for one example or a batch.",
    ],
    reference=reference_rnn_step,
    cases=[
        Case("one input of 3 features and a state of 4 units",
             (np.array([0.5, -1.0, 2.0]), np.array([0.1, -0.2, 0.3, 0.0]), _KERNEL_3x4, _RECURRENT_4x4, _BIAS_4)),
        Case("the first step, from a zero state",
             (np.array([1.0, 0.0, -0.5]), np.zeros(4), _KERNEL_3x4, _RECURRENT_4x4, _BIAS_4)),
        Case("a batch of 2 inputs of 5 features and a state of 3 units",
             (np.round(_rng.normal(size=(2, 5)), 2), np.round(_rng.uniform(-1, 1, (2, 3)), 2),
              _KERNEL_5x3, _RECURRENT_3x3, _BIAS_3)),
        Case("one feature (a time series value) and 2 units",
             (np.array([1.5]), np.array([0.9, -0.9]), _KERNEL_1x2, _RECURRENT_2x2, _BIAS_2)),
    ],
    mistakes=[
        Mistake("the tanh is missing: the cell squashes `x_t @ kernel + h_previous @ recurrent_kernel + bias` "
                "with `np.tanh`, which keeps the state between -1 and 1.",
                lambda x, h, k, r, b: np.asarray(x) @ k + np.asarray(h) @ r + b),
        Mistake("the bias is missing: add `bias` before the tanh.",
                lambda x, h, k, r, b: np.tanh(np.asarray(x) @ k + np.asarray(h) @ r)),
        Mistake("the previous state is ignored: the recurrence is the term `h_previous @ recurrent_kernel`, "
                "which carries memory from one step to the next.",
                lambda x, h, k, r, b: np.tanh(np.asarray(x) @ k + b)),
        Mistake("that is a sigmoid; a SimpleRNN cell uses tanh, whose outputs lie between -1 and 1.",
                lambda x, h, k, r, b: 1 / (1 + np.exp(-(np.asarray(x) @ k + np.asarray(h) @ r + b)))),
    ],
)

# ------------------------------------------------------------------ exercise: rnn_forward

_SEQUENCE_6x3 = np.round(_rng.normal(size=(6, 3)), 2)
_SEQUENCE_8x1 = np.round(np.sin(np.arange(8) / 2.0)[:, None], 3)
_SEQUENCE_4x5 = np.round(_rng.normal(size=(4, 5)), 2)


def _forward_state_never_updated(inputs, h_initial, kernel, recurrent_kernel, bias):
    return np.array([np.tanh(x_t @ kernel + np.asarray(h_initial) @ recurrent_kernel + bias) for x_t in inputs])


def _forward_with_initial_state(inputs, h_initial, kernel, recurrent_kernel, bias):
    states = reference_rnn_forward(inputs, h_initial, kernel, recurrent_kernel, bias)
    return np.vstack([np.asarray(h_initial, dtype=float)[None, :], states])


def _forward_stored_before_update(inputs, h_initial, kernel, recurrent_kernel, bias):
    states = reference_rnn_forward(inputs, h_initial, kernel, recurrent_kernel, bias)
    return np.vstack([np.asarray(h_initial, dtype=float)[None, :], states[:-1]])


def _forward_last_only(inputs, h_initial, kernel, recurrent_kernel, bias):
    return reference_rnn_forward(inputs, h_initial, kernel, recurrent_kernel, bias)[-1]


rnn_forward = FunctionExercise(
    exercise_id="ch05.rnn_forward",
    title="A simple RNN unrolled over a whole sequence, returning every hidden state",
    hints=[
        "Start from `h_initial` and loop over the time steps: each step feeds the *new* state into the next one. "
        "Keep every state you compute.",
        "`state = h_initial`; for each `x_t` in `inputs`: `state = np.tanh(x_t @ kernel + state @ recurrent_kernel "
        "+ bias)` and append it; return `np.array(states)`, shape (time, units), without `h_initial`.",
    ],
    reference=reference_rnn_forward,
    cases=[
        Case("6 steps of 3 features, 4 units, a non-zero initial state",
             (_SEQUENCE_6x3, np.array([0.2, -0.1, 0.0, 0.4]), _KERNEL_3x4, _RECURRENT_4x4, _BIAS_4)),
        Case("8 steps of a sine wave (1 feature), 2 units, a zero initial state",
             (_SEQUENCE_8x1, np.zeros(2), _KERNEL_1x2, _RECURRENT_2x2, _BIAS_2)),
        Case("4 steps of 5 features, 3 units", (_SEQUENCE_4x5, np.array([0.5, 0.5, -0.5]), _KERNEL_5x3,
                                                _RECURRENT_3x3, _BIAS_3)),
        Case("a single step (the same as rnn_step)",
             (_SEQUENCE_6x3[:1], np.array([0.2, -0.1, 0.0, 0.4]), _KERNEL_3x4, _RECURRENT_4x4, _BIAS_4)),
    ],
    mistakes=[
        Mistake("every step starts from `h_initial`: the state is never carried forward. Overwrite `state` with the "
                "new state at each step, so step t sees h_{t-1}.", _forward_state_never_updated),
        Mistake("the result starts with `h_initial`: return only the states the cell computed, h_1 ... h_T "
                "(one row per input step, as Keras' `return_sequences=True` does).", _forward_with_initial_state),
        Mistake("each state is stored before it is updated, so the rows are h_0 ... h_{T-1}, shifted by one step: "
                "compute the new state first, then append it.", _forward_stored_before_update),
        Mistake("only the last state is returned: keep every state (shape (time, units)), as "
                "`return_sequences=True` does.", _forward_last_only),
    ],
)

# ------------------------------------------------------------------ exercise: clip_by_norm


def _clip_elementwise(gradient, max_norm):
    return np.clip(np.asarray(gradient, dtype=float), -max_norm, max_norm)


def _clip_always_rescale(gradient, max_norm):
    gradient = np.asarray(gradient, dtype=float)
    with np.errstate(all="ignore"):
        return gradient * (max_norm / np.sqrt(np.sum(gradient ** 2)))


def _clip_unit_norm(gradient, max_norm):
    gradient = np.asarray(gradient, dtype=float)
    norm = np.sqrt(np.sum(gradient ** 2))
    return gradient / norm if norm > max_norm else gradient.copy()


def _clip_each_row(gradient, max_norm):
    gradient = np.asarray(gradient, dtype=float)
    if gradient.ndim < 2:
        return reference_clip_by_norm(gradient, max_norm)
    return np.array([reference_clip_by_norm(row, max_norm) for row in gradient])


clip_by_norm = FunctionExercise(
    exercise_id="ch05.clip_by_norm",
    title="Gradient clipping by norm, as an optimizer's clipnorm does it",
    hints=[
        "Measure the gradient's length: the square root of the sum of the squares of *all* its entries. If it is "
        "at most `max_norm`, return the gradient unchanged; otherwise shrink it, keeping its direction.",
        "`norm = np.sqrt(np.sum(gradient ** 2))`; if `norm > max_norm`, return `gradient * (max_norm / norm)`, "
        "else a copy of `gradient`. A zero gradient must stay zero (no division by 0).",
    ],
    reference=reference_clip_by_norm,
    cases=[
        Case("a gradient of norm 5 (3, 4) clipped to 1", (np.array([3.0, 4.0]), 1.0)),
        Case("a gradient of norm 0.5, already below the limit 1", (np.array([0.3, -0.4]), 1.0)),
        Case("a 2x3 gradient of norm 13 clipped to 2.5",
             (np.array([[12.0, 0.0, -3.0], [0.0, 4.0, 0.0]]), 2.5)),
        Case("an exploding gradient of norm about 600 clipped to 1",
             (np.array([[400.0, -300.0], [0.5, 331.0]]), 1.0)),
        Case("a zero gradient (must stay zero)", (np.zeros(3), 1.0)),
        Case("a gradient of norm 2 with the limit 4 (unchanged)", (np.array([[0.0, 2.0], [0.0, 0.0]]), 4.0)),
    ],
    mistakes=[
        Mistake("each entry is clipped on its own (`np.clip`): that is clipvalue, and it changes the gradient's "
                "direction. Clipping by norm rescales the whole gradient by one factor, max_norm / norm.",
                _clip_elementwise),
        Mistake("the gradient is rescaled even when it is already short enough: clip only when the norm exceeds "
                "`max_norm`, otherwise return it unchanged.", _clip_always_rescale),
        Mistake("the long gradient is scaled to norm 1 instead of `max_norm`: multiply by `max_norm / norm`.",
                _clip_unit_norm),
        Mistake("each row is clipped separately: the norm is over *all* entries of the gradient, "
                "`np.sqrt(np.sum(gradient ** 2))`, and one factor scales the whole array.", _clip_each_row),
    ],
)

# ------------------------------------------------------------------ exercise: parameter counts


def _counts_without_gates(input_dim, units):
    simple = units * input_dim + units * units + units
    return {"simple_rnn": simple, "lstm": simple, "gru": simple}


def _counts_without_recurrent(input_dim, units):
    return {"simple_rnn": units * input_dim + units, "lstm": 4 * (units * input_dim + units),
            "gru": 3 * (units * input_dim + 2 * units)}


def _counts_gru_one_bias(input_dim, units):
    counts = reference_recurrent_parameter_counts(input_dim, units)
    counts["gru"] = 3 * (units * input_dim + units * units + units)
    return counts


def _counts_without_bias(input_dim, units):
    block = units * input_dim + units * units
    return {"simple_rnn": block, "lstm": 4 * block, "gru": 3 * block}


def _counts_swapped(input_dim, units):
    counts = reference_recurrent_parameter_counts(input_dim, units)
    simple = counts["simple_rnn"]
    return {"simple_rnn": simple, "lstm": 3 * simple, "gru": 4 * simple}


recurrent_parameter_counts = FunctionExercise(
    exercise_id="ch05.recurrent_parameter_counts",
    title="The parameter counts of SimpleRNN, LSTM and GRU layers",
    hints=[
        "A SimpleRNN layer has one kernel (input_dim x units), one recurrent kernel (units x units) and one bias. "
        "An LSTM has four such blocks (input, forget, cell candidate, output); a GRU three (update, reset, candidate).",
        "Keras' GRU uses `reset_after=True` by default, so each of its three blocks has *two* bias vectors "
        "(one for the input part, one for the recurrent part).",
        "With `block = units * input_dim + units * units`: SimpleRNN `block + units`, LSTM `4 * (block + units)`, "
        "GRU `3 * (block + 2 * units)`.",
    ],
    reference=reference_recurrent_parameter_counts,
    cases=[
        Case("1 input feature (a time series) and 32 units", (1, 32)),
        Case("16 features (an embedding) and 64 units", (16, 64)),
        Case("3 features and 1 unit", (3, 1)),
        Case("100 features and 10 units", (100, 10)),
    ],
    mistakes=[
        Mistake("the LSTM and GRU are counted like a SimpleRNN: an LSTM has 4 blocks of weights (one per gate and "
                "one for the candidate) and a GRU 3, each as large as a SimpleRNN's.", _counts_without_gates),
        Mistake("the recurrent weights are missing: every block also has a units x units recurrent kernel "
                "that multiplies the previous state.", _counts_without_recurrent),
        Mistake("the GRU has one bias per block; Keras' GRU (reset_after=True, the default) has two: "
                "`3 * (units * input_dim + units * units + 2 * units)`.", _counts_gru_one_bias),
        Mistake("the biases are missing: each block has a bias vector of `units` numbers (two for Keras' GRU).",
                _counts_without_bias),
        Mistake("LSTM and GRU are swapped: the LSTM has 4 blocks (input, forget and output gates, candidate), "
                "the GRU 3 (update and reset gates, candidate).", _counts_swapped),
    ],
)

# ------------------------------------------------------------------ exercise: gate roles

GATE_ROLES = {
    "keep_or_erase_memory": "forget",
    "write_new_information": "input",
    "expose_memory_as_output": "output",
    "gru_blend_old_and_new_state": "update",
    "gru_how_much_past_the_candidate_sees": "reset",
}

gate_roles = ChoiceExercise(
    exercise_id="ch05.gate_roles",
    title="What each gate of an LSTM and a GRU does",
    hints=[
        "Each gate is a sigmoid between 0 and 1 that multiplies something. Ask *what* it multiplies: the old cell "
        "state, the new candidate, the cell on its way out, or (in a GRU) the old state.",
        "LSTM: c_t = f * c_{t-1} + i * g and h_t = o * tanh(c_t). GRU: h_t = z * h_{t-1} + (1 - z) * candidate, "
        "and the reset gate r scales the old state inside the candidate.",
    ],
    answers=GATE_ROLES,
    choices=("forget", "input", "output", "update", "reset"),
    explanations={
        "keep_or_erase_memory:input": "the input gate scales the *new* candidate; the old cell state c_{t-1} is "
                                      "multiplied by the forget gate.",
        "keep_or_erase_memory:output": "the output gate acts after the cell update; what survives from c_{t-1} "
                                       "is decided by the forget gate.",
        "write_new_information:forget": "the forget gate scales the *old* cell state; the candidate g is scaled "
                                        "by the input gate.",
        "write_new_information:output": "the output gate only decides what is shown; writing is the input gate's job.",
        "expose_memory_as_output:forget": "the forget gate acts inside the cell; h_t = o * tanh(c_t) uses the "
                                          "output gate.",
        "expose_memory_as_output:input": "h_t = o * tanh(c_t): the output gate decides what the cell shows.",
        "gru_blend_old_and_new_state:reset": "the reset gate acts inside the candidate; the blend "
                                             "h_t = z * h_{t-1} + (1 - z) * candidate uses the update gate z.",
        "gru_how_much_past_the_candidate_sees:update": "the update gate blends old and new states; the reset gate "
                                                       "decides how much of h_{t-1} enters the candidate.",
        "forget": "that is an LSTM gate: a GRU has only the update and reset gates.",
        "input": "the input gate writes the candidate into an LSTM's cell.",
        "output": "the output gate decides how much of an LSTM's cell is shown as its hidden state.",
        "update": "the update gate belongs to the GRU, which has no separate cell state.",
        "reset": "the reset gate belongs to the GRU: it scales the old state inside the candidate.",
    },
)

# ------------------------------------------------------------------ exercise: make_windows


def _windows_target_one_late(series, window_length, horizon):
    series = np.asarray(series, dtype=float)
    count = len(series) - window_length - horizon
    return (np.array([series[i:i + window_length] for i in range(count)]).reshape(count, window_length),
            np.array([series[i + window_length + horizon] for i in range(count)]))


def _windows_ignoring_horizon(series, window_length, horizon):
    return reference_make_windows(series, window_length, 1)


def _windows_last_dropped(series, window_length, horizon):
    inputs, targets = reference_make_windows(series, window_length, horizon)
    return inputs[:-1], targets[:-1]


def _windows_target_inside(series, window_length, horizon):
    series = np.asarray(series, dtype=float)
    count = len(series) - window_length - horizon + 1
    return (np.array([series[i:i + window_length] for i in range(count)]).reshape(count, window_length),
            np.array([series[i + window_length - 1] for i in range(count)]))


_NOISY_SERIES = np.round(np.sin(np.arange(15) / 1.7) * 50 + 60 + _rng.normal(0, 5, 15), 1)

make_windows = FunctionExercise(
    exercise_id="ch05.make_windows",
    title="Cut a time series into (window, target) pairs for a window length and horizon",
    hints=[
        "Window i holds `series[i : i + window_length]`; its target is the value `horizon` steps after the "
        "window's last value. Slide i from 0 as long as that target exists.",
        "There are `len(series) - window_length - horizon + 1` windows; the target of window i is "
        "`series[i + window_length + horizon - 1]`. Return `(X, y)` with X of shape (windows, window_length).",
    ],
    reference=reference_make_windows,
    cases=[
        Case("0..9, windows of 3, the next value (horizon 1)", (np.arange(10.0), 3, 1)),
        Case("0..9, windows of 4, 3 steps ahead", (np.arange(10.0), 4, 3)),
        Case("a noisy cycle of 15 values, windows of 5, 2 steps ahead", (_NOISY_SERIES, 5, 2)),
        Case("windows of a single value, horizon 1", (np.array([5.0, 11.0, 16.0, 23.0]), 1, 1)),
        Case("a series just long enough for one window", (np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 3, 2)),
    ],
    mistakes=[
        Mistake("every target is one step too late (and the last window is lost): with horizon h the target of "
                "window i is `series[i + window_length + h - 1]`; horizon 1 is the value right after the window.",
                _windows_target_one_late),
        Mistake("the horizon is ignored: the target must be `horizon` steps after the window's last value, "
                "not always the next one.", _windows_ignoring_horizon),
        Mistake("the last window is missing: there are `len(series) - window_length - horizon + 1` windows "
                "(the `+ 1` counts the first one).", _windows_last_dropped),
        Mistake("the target is the window's own last value: it must lie `horizon` steps *after* the window, "
                "or the model is shown the answer.", _windows_target_inside),
    ],
)

# ------------------------------------------------------------------ exercise: persistence_mae

persistence_mae = FunctionExercise(
    exercise_id="ch05.persistence_mae",
    title="The error of the naive persistence forecast",
    hints=[
        "The persistence forecast says: in `horizon` steps the series will have the value it has now. Compare "
        "each value with the one `horizon` steps later.",
        "`np.mean(np.abs(series[horizon:] - series[:-horizon]))`.",
    ],
    reference=reference_persistence_mae,
    cases=[
        Case("a short series, 1 step ahead", (np.array([5.0, 11.0, 16.0, 23.0, 36.0, 58.0]), 1)),
        Case("a short series, 2 steps ahead", (np.array([5.0, 11.0, 16.0, 23.0, 36.0, 58.0]), 2)),
        Case("a rising and falling series, 1 step ahead", (np.array([10.0, 30.0, 20.0, 50.0, 40.0, 10.0]), 1)),
        Case("a noisy cycle of 15 values, 3 steps ahead", (_NOISY_SERIES, 3)),
    ],
    mistakes=[
        Mistake("the horizon is ignored: compare each value with the one `horizon` steps later, "
                "`series[horizon:] - series[:-horizon]`.",
                lambda series, horizon: reference_persistence_mae(series, 1)),
        Mistake("that is the mean *squared* error; the exercise asks for the mean absolute error "
                "(`np.abs`, no square).",
                lambda series, horizon: float(np.mean((np.asarray(series)[horizon:] - np.asarray(series)[:-horizon]) ** 2))),
        Mistake("that is the root mean squared error; the exercise asks for the mean absolute error.",
                lambda series, horizon: float(np.sqrt(np.mean((np.asarray(series)[horizon:]
                                                               - np.asarray(series)[:-horizon]) ** 2)))),
        Mistake("the absolute value is missing: rises and falls cancel out. Take `np.abs` of the errors before "
                "averaging.",
                lambda series, horizon: float(np.mean(np.asarray(series)[horizon:] - np.asarray(series)[:-horizon]))),
    ],
)

# ------------------------------------------------------------------ exercise: the forecaster


def sunspot_scaling():
    """(mean, std) of the yearly sunspot counts of the training years (before TRAIN_END_YEAR)."""
    from dlcourse.checks import heldout

    years, counts = heldout.load_sunspots()
    training = counts[years < TRAIN_END_YEAR]
    return float(training.mean()), float(training.std())


def sunspot_test_windows():
    """The held-out years' (scaled windows (n, WINDOW_LENGTH, 1), target counts, last input counts, target years)."""
    from dlcourse.checks import heldout

    years, counts = heldout.load_sunspots()
    mean, std = sunspot_scaling()
    inputs, targets = reference_make_windows(counts, WINDOW_LENGTH, 1)
    target_years = years[WINDOW_LENGTH:]
    test = target_years >= HELDOUT_START_YEAR
    scaled = ((inputs[test] - mean) / std).astype("float32")[..., None]
    return scaled, targets[test], inputs[test][:, -1], target_years[test]


def build_forecaster_reference_model():
    """The architecture the forecaster exercise asks for."""
    import keras

    return keras.Sequential([
        keras.Input(shape=(WINDOW_LENGTH, 1)),
        keras.layers.GRU(32),
        keras.layers.Dense(1),
    ])


FORECASTER_MINIMUM_RATIO = 1.55  # the GRU recipe: 1.75-1.93 over 10 seeds; least squares on the window: 1.52


FORECASTER_RECIPE = ("A design that reaches the bar: one recurrent layer of about 32 units (GRU or LSTM) and a Dense(1) "
                     "output without activation, trained with Adam at 0.01 and the mean squared error for about 20 "
                     "epochs of batches of 32 on the scaled training windows (inputs and targets scaled alike).")
FORECASTER_MAX_PARAMETERS = 10_000
RECURRENT_LAYERS = ("SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional")
CLEARLY_BETTER_MAE = 0.8  # another reading of the model must cut its MAE by a fifth or more to be named


def forecaster_mae(model, inputs, targets, scaled_inputs=True, scaled_outputs=True):
    """The model's MAE in sunspots, its inputs given scaled (or as counts) and its outputs read as scaled (or counts)."""
    mean, std = sunspot_scaling()
    given = inputs if scaled_inputs else (inputs * std + mean).astype("float32")
    predictions = np.asarray(model.predict(given, batch_size=64, verbose=0), dtype=float).reshape(-1)
    forecasts = predictions * std + mean if scaled_outputs else predictions
    return float(np.mean(np.abs(forecasts - targets)))


_UNSCALED_READINGS = (
    (False, False, "Given unscaled windows and read as counts, your model's MAE is {mae:.1f} sunspots, against "
     "{checked:.1f} the way the check uses it: it was trained on unscaled counts. Scale the training windows and "
     "their targets with the training years' mean and standard deviation, `(counts - train_mean) / train_std`."),
    (True, False, "Read directly as counts, your model's outputs have an MAE of {mae:.1f} sunspots, against {checked:.1f} "
     "after `prediction * train_std + train_mean`: its targets were not scaled. Scale the targets like the inputs."),
    (False, True, "Given unscaled windows, your model's MAE is {mae:.1f} sunspots, against {checked:.1f} on scaled ones: "
     "its training inputs were not scaled. Scale the windows like the targets, `(counts - train_mean) / train_std`."),
)


def unscaled_counts_advice(model):
    """Advice naming unscaled training windows or targets, only when reading the model that way cuts its MAE clearly."""
    inputs, targets, _, _ = sunspot_test_windows()
    with np.errstate(all="ignore"):
        checked = forecaster_mae(model, inputs, targets)
        readings = [(forecaster_mae(model, inputs, targets, scaled_in, scaled_out), text)
                    for scaled_in, scaled_out, text in _UNSCALED_READINGS]
    mae, text = min(readings, key=lambda reading: reading[0] if np.isfinite(reading[0]) else np.inf)
    if not (np.isfinite(mae) and mae <= CLEARLY_BETTER_MAE * checked):
        return ""
    return text.format(mae=mae, checked=checked)


FORECASTER_EVIDENCE = (diagnostics.untrained_model_advice, unscaled_counts_advice)


def linear_baseline_ratio():
    """persistence MAE / MAE of a least-squares linear model on the window (fitted on the training years), 1970-2008."""
    from dlcourse.checks import heldout

    years, counts = heldout.load_sunspots()
    mean, std = sunspot_scaling()
    windows, window_targets = reference_make_windows((counts - mean) / std, WINDOW_LENGTH, 1)
    with_bias = np.c_[windows, np.ones(len(windows))]
    train = years[WINDOW_LENGTH:] < TRAIN_END_YEAR
    weights, *_ = np.linalg.lstsq(with_bias[train], window_targets[train], rcond=None)
    inputs, targets, last_values, _ = sunspot_test_windows()
    linear_forecasts = np.c_[inputs[:, :, 0], np.ones(len(inputs))] @ weights * std + mean
    return float(np.mean(np.abs(last_values - targets)) / np.mean(np.abs(linear_forecasts - targets)))


def score_forecaster(model):
    """persistence MAE / model MAE on the held-out years 1970-2008 (no lesson cell loads them); below the bar, what
    differs and the causes the check found evidence for."""
    inputs, targets, last_values, _ = sunspot_test_windows()
    mean, std = sunspot_scaling()
    predictions = np.asarray(model.predict(inputs, batch_size=64, verbose=0), dtype=float).reshape(-1)
    if not np.all(np.isfinite(predictions)):
        return 0.0, "Your model outputs NaN or infinity: training diverged. Lower the learning rate and rebuild the model."
    forecasts = predictions * std + mean
    model_mae = float(np.mean(np.abs(forecasts - targets)))
    baseline_mae = float(np.mean(np.abs(last_values - targets)))
    ratio = baseline_mae / model_mae if model_mae > 0 else float("inf")
    if ratio >= FORECASTER_MINIMUM_RATIO:
        return ratio, ""
    observations = [f"On the held-out years {HELDOUT_START_YEAR}-2008 your model's MAE is {model_mae:.1f} sunspots, "
                    f"the persistence baseline's {baseline_mae:.1f}: the ratio {ratio:.2f} must be at least "
                    f"{FORECASTER_MINIMUM_RATIO:.2f} (an MAE below {baseline_mae / FORECASTER_MINIMUM_RATIO:.1f}); "
                    f"the section's least-squares linear model reaches {linear_baseline_ratio():.2f} there."]
    bias = float(np.mean(forecasts - targets))
    if np.std(predictions) < 0.05:
        observations.append(f"Your model predicts almost the same value (about {float(np.mean(forecasts)):.0f} "
                            "sunspots) for every window.")
    elif abs(bias) > 0.5 * model_mae:
        observations.append(f"Its forecasts are off by {bias:+.1f} sunspots on average.")
    return ratio, low_score_message(" ".join(observations), gather_evidence(FORECASTER_EVIDENCE, model),
                                    FORECASTER_RECIPE)


forecaster = DesignExercise(
    exercise_id="ch05.forecaster",
    title="Design a recurrent forecaster that beats persistence on sunspot years no notebook loads",
    hints=[
        "Any recurrent layer reads the (12, 1) windows: SimpleRNN, LSTM or GRU. Count the parameters before you "
        "train (`model.count_params()`): the budget is 10,000, and the Section 5 LSTM has 4,513. A GRU of the same "
        "size has a quarter fewer. The output is one scaled count: a Dense(1) without activation.",
        "Train on `x_train`, `y_train` (scaled inputs and targets, windows whose target year is before 1930), watching "
        "`x_validation`; Adam at 0.01, mean squared error, about 20 epochs of batches of 32.",
        "For example `keras.Input(shape=(12, 1))`, `keras.layers.GRU(32)`, `keras.layers.Dense(1)` (3,393 parameters), "
        "trained as in hint 2. The check scales the 1970-2008 windows with the training years' mean and standard "
        "deviation and turns your predictions back into counts with `prediction * train_std + train_mean`.",
    ],
    build_reference=build_forecaster_reference_model,
    score_model=score_forecaster,
    metric_name="persistence MAE / your MAE",
    minimum_score=FORECASTER_MINIMUM_RATIO,
    low_score_advice=FORECASTER_RECIPE,
    time_limit_seconds=60.0,
    max_parameters=FORECASTER_MAX_PARAMETERS,
    input_shape=(WINDOW_LENGTH, 1),
    output_shape=(1,),
    required_layers=RECURRENT_LAYERS,
    required_layers_description="a recurrent layer",
)

# ------------------------------------------------------------------ exercise: sample_with_temperature


def _softmax(values):
    values = np.asarray(values, dtype=float)
    weights = np.exp(values - np.max(values))
    return weights / weights.sum()


def _total_variation(first, second):
    return 0.5 * float(np.sum(np.abs(np.asarray(first) - np.asarray(second))))


_SAMPLING_MISTAKES = (
    ("the temperature has no effect: your samples follow p itself. Dividing p by T changes nothing once the result "
     "is normalised again; reweight with `p ** (1 / T)`, best computed as `exp(log(p) / T)` in log space.",
     lambda p, t: np.asarray(p, dtype=float) / np.sum(p)),
    ("your samples follow softmax(p / T): the probabilities were exponentiated instead of their logarithms. "
     "Use `exp(log(p) / T)`, normalised.", lambda p, t: _softmax(np.asarray(p, dtype=float) / t)),
    ("the temperature works backwards: your samples follow p ** T. A low temperature must *sharpen* the "
     "distribution, so raise p to the power 1 / T.", lambda p, t: _reweighted(p, 1.0 / t)),
    ("you always pick the most likely index (greedy decoding): that is only the limit T -> 0. At other "
     "temperatures draw at random from the reweighted distribution.",
     lambda p, t: np.eye(len(p))[int(np.argmax(p))]),
)


def score_sampling(case, output):
    """1 - total variation distance between the samples' frequencies and p ** (1 / T), naming known mistakes."""
    probabilities, temperature, num_samples, _ = case.args
    samples = np.asarray(output)
    if samples.shape != (num_samples,):
        return 0.0, (f"return a 1-D array of {num_samples} sampled indices (one per sample); "
                     f"yours has shape {samples.shape}.")
    if samples.dtype.kind not in "iu" and not (samples.dtype.kind == "f" and np.all(np.isfinite(samples))
                                               and np.all(samples == np.round(samples))):
        return 0.0, f"return integer indices (e.g. from `rng.choice`); yours has dtype {samples.dtype}."
    if samples.min() < 0 or samples.max() >= len(probabilities):
        return 0.0, (f"the indices must lie between 0 and {len(probabilities) - 1}; yours range from "
                     f"{int(samples.min())} to {int(samples.max())}.")
    frequencies = np.bincount(samples.astype(int), minlength=len(probabilities)) / num_samples
    expected = _reweighted(probabilities, temperature)
    distance = _total_variation(frequencies, expected)
    if np.any(frequencies[np.asarray(probabilities) == 0] > 0):
        return 1.0 - distance, "you sampled an index whose probability is 0: it must never be drawn, at any temperature."
    if distance <= 0.03:
        return 1.0 - distance, ""
    # name a mistake only when the samples follow it closely and no other candidate comes close
    distances = sorted((_total_variation(frequencies, mistaken(probabilities, temperature)), description)
                       for description, mistaken in _SAMPLING_MISTAKES)
    if distances[0][0] <= 0.015 and distances[1][0] > 0.03:
        return 1.0 - distance, distances[0][1]
    return 1.0 - distance, ("the frequencies of your samples are far from p ** (1 / T) renormalised: expected about "
                            f"{np.round(expected, 3).tolist()}, got {np.round(frequencies, 3).tolist()}.")


_LETTERS = np.array([0.35, 0.25, 0.2, 0.12, 0.08])
_PEAKED = np.array([0.6, 0.2, 0.1, 0.06, 0.04])

sample_with_temperature = ScoredFunctionExercise(
    exercise_id="ch05.sample_with_temperature",
    title="Sampling an index from a probability vector at a temperature",
    hints=[
        "Reweight the distribution to p ** (1 / T) and normalise it, then draw `num_samples` indices from it with "
        "`np.random.default_rng(seed).choice(len(p), size=num_samples, p=reweighted)`.",
        "For small T, p ** (1 / T) underflows to 0 for every entry. Work with logarithms: `logits = np.log(p) / T`, "
        "subtract `logits.max()` before `np.exp`, then normalise. (np.log(0) = -inf is fine: exp(-inf) = 0.)",
    ],
    cases=[
        Case("5 probabilities at temperature 0.5 (sharper)", (_PEAKED, 0.5, 20000, 0)),
        Case("5 probabilities at temperature 2 (flatter)", (_PEAKED, 2.0, 20000, 1)),
        Case("5 probabilities at temperature 1 (unchanged)", (_LETTERS, 1.0, 20000, 2)),
        Case("probabilities with a zero entry, temperature 0.7", (np.array([0.0, 0.5, 0.3, 0.2]), 0.7, 20000, 3)),
        Case("temperature 0.001, near 0: every sample must be the most likely index (p ** 1000 underflows to 0 "
             "unless you work with logarithms and subtract the largest)", (_LETTERS, 0.001, 2000, 4)),
    ],
    score_output=score_sampling,
    minimum_score=0.97,
    metric_name="1 - distance to p^(1/T)",
    low_score_advice="Draw from p ** (1 / T), renormalised.",
    time_limit_seconds=20.0,
)

EXERCISES = [rnn_step, rnn_forward, clip_by_norm, recurrent_parameter_counts, gate_roles, make_windows,
             persistence_mae, forecaster, sample_with_temperature]
