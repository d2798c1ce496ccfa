"""Chapter 03 exercises: SGD, optimizers and hyperparameters."""

from __future__ import annotations

import math

import numpy as np

from dlcourse.checks.framework import (Case, ChoiceExercise, ConfiguredObjectExercise, DesignExercise, FunctionExercise,
                                       Mistake)

# ------------------------------------------------------------------ references


def reference_minibatch_indices(num_examples, batch_size, seed):
    """Shuffle 0..num_examples-1 with np.random.default_rng(seed).permutation, then cut into consecutive batches.

    Every batch has `batch_size` indices except possibly the last, which holds the rest.
    """
    order = np.random.default_rng(seed).permutation(num_examples)
    return [order[start:start + batch_size] for start in range(0, num_examples, batch_size)]


def reference_momentum_step(weights, gradient, velocity, learning_rate, momentum):
    """One SGD-with-momentum step in Keras' convention: v <- momentum v - lr g; w <- w + v."""
    new_velocity = momentum * velocity - learning_rate * gradient
    return weights + new_velocity, new_velocity


def reference_adam_step(weights, gradient, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    """One Adam step (step = 1 for the first update), in the form keras.optimizers.Adam uses."""
    new_m = beta_1 * m + (1.0 - beta_1) * gradient
    new_v = beta_2 * v + (1.0 - beta_2) * gradient ** 2
    alpha = learning_rate * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
    return weights - alpha * new_m / (np.sqrt(new_v) + epsilon), new_m, new_v


def reference_huber(targets, predictions, delta=1.0):
    """Mean Huber loss: 0.5 e^2 where |e| <= delta, delta (|e| - delta / 2) elsewhere, as a float."""
    error = np.abs(np.asarray(predictions, dtype=float) - np.asarray(targets, dtype=float))
    return float(np.mean(np.where(error <= delta, 0.5 * error ** 2, delta * (error - 0.5 * delta))))


def reference_best_learning_rate(learning_rates, training_losses, validation_losses):
    """The learning rate whose run reached the lowest validation loss in any epoch, ignoring diverged runs.

    A run has diverged when any of its validation losses is NaN or infinite.
    """
    best_rate, best_loss = None, math.inf
    for rate, losses in zip(learning_rates, validation_losses):
        losses = np.asarray(losses, dtype=float)
        if not np.all(np.isfinite(losses)):
            continue
        if losses.min() < best_loss:
            best_rate, best_loss = float(rate), float(losses.min())
    return best_rate


# ------------------------------------------------------------------ exercise: mini-batches

minibatch_indices = FunctionExercise(
    exercise_id="ch03.minibatch_indices",
    title="Shuffled mini-batches of indices, the last one possibly smaller",
    hints=[
        "First shuffle all the indices 0, 1, ..., num_examples - 1 with `np.random.default_rng(seed).permutation(num_examples)`, "
        "then cut that shuffled order into consecutive pieces of `batch_size`.",
        "`range(0, num_examples, batch_size)` gives each batch's start; slicing `order[start:start + batch_size]` "
        "stops at the end of the array by itself, so the last, smaller batch comes for free.",
    ],
    reference=reference_minibatch_indices,
    cases=[
        Case("10 examples in batches of 4 (the last batch holds 2)", (10, 4, 0)),
        Case("12 examples in batches of 3 (no partial batch)", (12, 3, 1)),
        Case("7 examples in batches of 10 (one batch, smaller than batch_size)", (7, 10, 2)),
        Case("1 example in batches of 1", (1, 1, 3)),
        Case("50 examples in batches of 16, seed 42", (50, 16, 42)),
    ],
    mistakes=[
        Mistake("the last, smaller batch is missing: keep the examples left over at the end as a final batch, "
                "or they are never trained on.",
                lambda n, b, seed: [batch for batch in reference_minibatch_indices(n, b, seed) if len(batch) == b]),
        Mistake("the indices are not shuffled: shuffle them first with `np.random.default_rng(seed).permutation(num_examples)`.",
                lambda n, b, seed: [np.arange(n)[s:s + b] for s in range(0, n, b)]),
        Mistake("you shuffled with the legacy generator (`np.random.seed` / `np.random.permutation`); use "
                "`np.random.default_rng(seed).permutation(num_examples)` as the exercise says.",
                lambda n, b, seed: [np.random.RandomState(seed).permutation(n)[s:s + b] for s in range(0, n, b)]),
        Mistake("`np.array_split` spreads the examples over batches of nearly equal size; the batches must hold exactly "
                "`batch_size` indices, all but the last.",
                lambda n, b, seed: np.array_split(np.random.default_rng(seed).permutation(n), math.ceil(n / b))),
    ],
)

# ------------------------------------------------------------------ exercise: momentum

_W = np.array([1.0, -2.0, 0.5])
_G = np.array([0.3, -0.1, 2.0])
_V = np.array([0.05, 0.2, -0.1])
_W2D = np.array([[0.5, -1.5], [2.0, 0.25]])
_G2D = np.array([[1.0, 0.5], [-0.75, 0.1]])
_V2D = np.array([[0.0, 0.1], [-0.2, 0.3]])

momentum_step = FunctionExercise(
    exercise_id="ch03.momentum_step",
    title="One step of SGD with momentum, in Keras' convention",
    numpy_only=True,
    hints=[
        "The velocity remembers past steps: it keeps `momentum` times its old value and adds the new step "
        "`- learning_rate * gradient`. The weights then move by the new velocity.",
        "`new_velocity = momentum * velocity - learning_rate * gradient`, then `new_weights = weights + new_velocity`; "
        "return both, weights first.",
    ],
    reference=reference_momentum_step,
    cases=[
        Case("the first step (velocity 0), learning rate 0.1, momentum 0.9", (_W, _G, np.zeros(3), 0.1, 0.9)),
        Case("a later step with a non-zero velocity, learning rate 0.1, momentum 0.9", (_W, _G, _V, 0.1, 0.9)),
        Case("a 2x2 kernel, learning rate 0.05, momentum 0.5", (_W2D, _G2D, _V2D, 0.05, 0.5)),
        Case("momentum 0 (plain SGD)", (_W, _G, _V, 0.2, 0.0)),
    ],
    mistakes=[
        Mistake("that is the other common convention (v <- momentum v + g; w <- w - lr v, as in PyTorch). Keras keeps the "
                "learning rate inside the velocity: v <- momentum v - lr g; w <- w + v.",
                lambda w, g, v, lr, mu: (w - lr * (mu * v + g), mu * v + g)),
        Mistake("the new velocity has the wrong sign: it is `momentum * velocity - learning_rate * gradient` (it points "
                "downhill), and the weights *add* it.",
                lambda w, g, v, lr, mu: (w - (mu * v + lr * g), mu * v + lr * g)),
        Mistake("the weights moved by the *old* velocity; update the velocity first, then add the new one to the weights.",
                lambda w, g, v, lr, mu: (w + v, mu * v - lr * g)),
        Mistake("the velocity is an exponential average with (1 - momentum) * gradient; Keras' momentum adds "
                "the full `- learning_rate * gradient` each step.",
                lambda w, g, v, lr, mu: (w + mu * v - (1 - mu) * lr * g, mu * v - (1 - mu) * lr * g)),
    ],
)

# ------------------------------------------------------------------ exercise: Adam

_M = np.array([0.02, -0.05, 0.3])
_VV = np.array([0.01, 0.02, 0.5])


def _adam_no_bias_correction(w, g, m, v, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    return w - lr * m / (np.sqrt(v) + eps), m, v


def _adam_epsilon_inside(w, g, m, v, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    return w - lr * (m / (1 - b1 ** t)) / np.sqrt(v / (1 - b2 ** t) + eps), m, v


def _adam_betas_swapped(w, g, m, v, t, lr, b1, b2, eps):
    return reference_adam_step(w, g, m, v, t, lr, b2, b1, eps)


def _adam_paper_form(w, g, m, v, t, lr, b1, b2, eps):
    """Adam as in the paper (epsilon added to sqrt(v_hat)); correct, but it differs from Keras' form in epsilon."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    return w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), m, v


def _adam_betas_swapped_paper_form(w, g, m, v, t, lr, b1, b2, eps):
    return _adam_paper_form(w, g, m, v, t, lr, b2, b1, eps)


def _adam_without_square(w, g, m, v, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g
    with np.errstate(invalid="ignore"):
        return w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), m, v


adam_step = FunctionExercise(
    exercise_id="ch03.adam_step",
    title="One Adam step with bias correction",
    numpy_only=True,
    hints=[
        "Two running averages: m of the gradients (beta_1) and v of the *squared* gradients (beta_2): "
        "m <- beta_1 m + (1 - beta_1) g, v <- beta_2 v + (1 - beta_2) g^2.",
        "Both start at 0, so early on they are too small: divide them by (1 - beta_1**step) and (1 - beta_2**step) "
        "(bias correction). `step` is 1 for the first update.",
        "Then `new_weights = weights - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)`; epsilon goes *outside* the square root.",
    ],
    reference=reference_adam_step,
    cases=[
        Case("the first step (m = v = 0), Keras' defaults except learning rate 0.01",
             (_W, _G, np.zeros(3), np.zeros(3), 1, 0.01, 0.9, 0.999, 1e-7)),
        Case("step 5 with non-zero m and v", (_W, _G, _M, _VV, 5, 0.001, 0.9, 0.999, 1e-7)),
        Case("a 2x2 kernel at step 3", (_W2D, _G2D, np.full((2, 2), 0.1), np.full((2, 2), 0.04), 3, 0.01, 0.9, 0.999, 1e-7)),
        Case("step 20 with beta_1 0.8, beta_2 0.6 and a large epsilon 0.1",
             (_W, _G, _M, _VV, 20, 0.05, 0.8, 0.6, 0.1)),
    ],
    mistakes=[
        Mistake("the bias correction is missing: divide m by (1 - beta_1**step) and v by (1 - beta_2**step); without it "
                "the first steps are far too small (m and v start at 0).",
                _adam_no_bias_correction),
        Mistake("epsilon is inside the square root: it is sqrt(v_hat) + epsilon, not sqrt(v_hat + epsilon).",
                _adam_epsilon_inside),
        Mistake("beta_1 and beta_2 are swapped: beta_1 averages the gradients (m), beta_2 the squared gradients (v).",
                _adam_betas_swapped),
        Mistake("beta_1 and beta_2 are swapped: beta_1 averages the gradients (m), beta_2 the squared gradients (v).",
                _adam_betas_swapped_paper_form),
        Mistake("v must average the *squared* gradients, g**2.", _adam_without_square),
    ],
)

# ------------------------------------------------------------------ exercise: Huber

_HUBER_TARGETS = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
_HUBER_PREDICTIONS = np.array([1.2, 1.5, 5.0, 4.0, -1.0])

huber = FunctionExercise(
    exercise_id="ch03.huber",
    title="The Huber loss",
    hints=[
        "With e = predictions - targets: 0.5 e^2 where |e| <= delta (like MSE), and delta (|e| - delta / 2) where "
        "|e| > delta (like MAE, shifted so the two pieces meet). Average over all elements.",
        "`np.where(np.abs(e) <= delta, 0.5 * e**2, delta * (np.abs(e) - 0.5 * delta))`, then `float(np.mean(...))`.",
    ],
    reference=reference_huber,
    cases=[
        Case("small and large errors, delta 1", (_HUBER_TARGETS, _HUBER_PREDICTIONS)),
        Case("the same errors, delta 2.5", (_HUBER_TARGETS, _HUBER_PREDICTIONS, 2.5)),
        Case("only small errors (pure quadratic part)", (_HUBER_TARGETS, _HUBER_TARGETS + 0.3)),
        Case("a batch of shape (2, 3), delta 0.5", (np.zeros((2, 3)), np.array([[0.1, -0.4, 2.0], [-3.0, 0.5, 0.0]]), 0.5)),
    ],
    mistakes=[
        Mistake("the 0.5 in the quadratic part is missing: small errors cost 0.5 e^2 (then the two pieces meet at |e| = delta).",
                lambda t, p, delta=1.0: float(np.mean(np.where(np.abs(p - t) <= delta, (p - t) ** 2,
                                                                 delta * (np.abs(p - t) - 0.5 * delta))))),
        Mistake("the linear part is missing the shift: it is delta (|e| - delta / 2), not delta |e|.",
                lambda t, p, delta=1.0: float(np.mean(np.where(np.abs(p - t) <= delta, 0.5 * (p - t) ** 2,
                                                                 delta * np.abs(p - t))))),
        Mistake("the two pieces are swapped: the quadratic piece is for the *small* errors (|e| <= delta).",
                lambda t, p, delta=1.0: float(np.mean(np.where(np.abs(p - t) > delta, 0.5 * (p - t) ** 2,
                                                                 delta * (np.abs(p - t) - 0.5 * delta))))),
        Mistake("you summed instead of averaging (use `np.mean`).",
                lambda t, p, delta=1.0: reference_huber(t, p, delta) * np.size(p)),
    ],
)

# ------------------------------------------------------------------ exercise: the best learning rate

_NAN = float("nan")
_SWEEP_RATES = [1.0, 0.1, 0.01, 0.001, 0.0001]
_SWEEP_TRAINING = [[3.0, _NAN, _NAN], [0.40, 0.20, 0.10], [0.60, 0.40, 0.35], [1.30, 1.00, 0.80], [2.20, 2.00, 1.90]]
_SWEEP_VALIDATION = [[2.5, _NAN, _NAN], [0.45, 0.40, 0.52], [0.60, 0.45, 0.42], [1.20, 0.90, 0.70], [2.10, 1.90, 1.80]]
_OVERFIT_RATES = [0.3, 0.1, 0.03]
_OVERFIT_TRAINING = [[0.30, 0.10, 0.02], [0.50, 0.30, 0.20], [0.90, 0.70, 0.60]]
_OVERFIT_VALIDATION = [[0.50, 0.55, 0.70], [0.55, 0.40, 0.38], [0.95, 0.80, 0.75]]
_EARLY_DIVERGED_RATES = [0.5, 0.05, 0.005]
_EARLY_DIVERGED_TRAINING = [[0.20, float("inf"), _NAN], [0.50, 0.35, 0.30], [0.90, 0.80, 0.70]]
_EARLY_DIVERGED_VALIDATION = [[0.25, float("inf"), _NAN], [0.55, 0.40, 0.36], [0.95, 0.85, 0.75]]
_INFINITE_RATES = [0.5, 0.05, 0.005]  # diverged to infinity without a NaN: `~np.isnan` doesn't notice it
_INFINITE_TRAINING = [[0.20, float("inf"), float("inf")], [0.50, 0.35, 0.30], [0.90, 0.80, 0.70]]
_INFINITE_VALIDATION = [[0.18, float("inf"), float("inf")], [0.55, 0.40, 0.36], [0.95, 0.85, 0.75]]


def _best_rate_by(losses_of, ignore_diverged=True, nan_aware=True):
    """A learning-rate picker with one of the named mistakes."""
    def pick(learning_rates, training_losses, validation_losses):
        scores = []
        for training, validation in zip(training_losses, validation_losses):
            losses = np.asarray(losses_of(training, validation), dtype=float)
            if ignore_diverged and not np.all(np.isfinite(np.asarray(validation, dtype=float))):
                scores.append(math.inf)
            else:
                scores.append(np.nanmin(losses) if nan_aware else np.min(losses))
        return float(learning_rates[int(np.argmin(scores))])
    return pick


best_learning_rate = FunctionExercise(
    exercise_id="ch03.best_learning_rate",
    title="Picking the best learning rate from a sweep",
    hints=[
        "Judge each run by its *validation* losses (the training loss rewards memorising), and by the lowest one it "
        "reached in any epoch: early stopping would keep that epoch's weights.",
        "Skip a run whose validation losses contain NaN or inf (`np.all(np.isfinite(losses))` is False): it diverged. "
        "Careful: `np.argmin` and `min` treat NaN in surprising ways.",
        "Loop over `zip(learning_rates, validation_losses)`, keep the rate with the smallest `np.min(losses)` among the "
        "finite runs, and return it as a float.",
    ],
    reference=reference_best_learning_rate,
    cases=[
        Case("a sweep from 1.0 to 0.0001 where 1.0 diverged", (_SWEEP_RATES, _SWEEP_TRAINING, _SWEEP_VALIDATION)),
        Case("a sweep where the largest rate overfits (lowest training loss, rising validation loss)",
             (_OVERFIT_RATES, _OVERFIT_TRAINING, _OVERFIT_VALIDATION)),
        Case("a sweep whose largest rate looked best after epoch 1 and then diverged",
             (_EARLY_DIVERGED_RATES, _EARLY_DIVERGED_TRAINING, _EARLY_DIVERGED_VALIDATION)),
        Case("a sweep whose largest rate diverged to infinity (inf, no NaN)",
             (_INFINITE_RATES, _INFINITE_TRAINING, _INFINITE_VALIDATION)),
        Case("a single learning rate", ([0.01], [[0.5, 0.4]], [[0.6, 0.5]])),
        Case("a noisy sweep of five rates where the best epoch, the last epoch and the training loss each pick another "
             "rate", ([0.3, 0.1, 0.03, 0.01, 0.003],
                      [[0.3, 0.93, 0.5], [0.21, 0.61, 0.38], [0.2, 0.59, 0.64], [0.9, 0.11, 0.86], [0.69, 0.35, 0.43]],
                      [[0.43, 0.99, 0.52], [0.38, 0.64, 0.48], [0.29, 0.77, 0.75], [0.98, 0.31, 0.93],
                       [0.84, 0.4, 0.58]])),
    ],
    mistakes=[
        Mistake("you picked by the *training* loss; the best learning rate is the one with the lowest *validation* loss "
                "(a low training loss can just mean memorising).",
                _best_rate_by(lambda training, validation: training)),
        Mistake("you picked a run that diverged (its losses contain NaN or inf): skip runs whose validation losses are "
                "not all finite.",
                _best_rate_by(lambda training, validation: validation, ignore_diverged=False)),
        Mistake("you picked a run that diverged: `min` or `np.argmin` over values with NaN can choose the NaN run. "
                "Skip runs whose validation losses are not all finite.",
                _best_rate_by(lambda training, validation: validation, ignore_diverged=False, nan_aware=False)),
        Mistake("you compared only the last epoch's validation loss; use the lowest validation loss a run reached in any "
                "epoch (with early stopping, that is the model you keep).",
                _best_rate_by(lambda training, validation: validation[-1:])),
    ],
)

# ------------------------------------------------------------------ exercise: a regularised MLP (design task)

REGULARISED_MAX_PARAMETERS = 300_000
REGULARISED_MINIMUM_PROBABILITY = 0.60   # exp(-cross-entropy); model A of the lesson gets about 0.55 on validation
REGULARISED_ADVICE = ("Train on `fit_x[:800]` with L2 on every hidden Dense layer, e.g. "
                      "`kernel_regularizer=keras.regularizers.L2(3e-3)`, Adam at 1e-3, about 15 epochs of batches of 32, "
                      "and a softmax output. Too weak an L2 (1e-5) leaves the overfitting in place; a much stronger one "
                      "(1e-1) flattens the model into underfitting.")


def build_regularised_reference_model():
    """One design within the task's constraints: 784 -> 256 -> 256 -> 10, L2(3e-3) on both hidden layers."""
    import keras

    penalty = keras.regularizers.L2(3e-3)
    return keras.Sequential([keras.Input((784,)),
                             keras.layers.Dense(256, activation="relu", kernel_regularizer=penalty),
                             keras.layers.Dense(256, activation="relu", kernel_regularizer=penalty),
                             keras.layers.Dense(10, activation="softmax")])


def l2_factor(layer):
    """The L2 factor of a layer's kernel regulariser (0.0 when it has none, or only L1)."""
    regulariser = getattr(layer, "kernel_regularizer", None)
    if regulariser is None:
        return 0.0
    return float(regulariser.get_config().get("l2", 0.0) or 0.0)


def score_regularised_model(model):
    """(exp(-mean cross-entropy) on the held-out digits, problem): the geometric mean of p(right digit)."""
    import keras

    from dlcourse.checks import heldout

    if not any(l2_factor(layer) > 0 for layer in model.layers):
        return 0.0, ("The task asks for L2 weight decay, and no layer of your model has one: give a hidden Dense "
                     "layer `kernel_regularizer=keras.regularizers.L2(3e-3)` (dropout alone is not what this task "
                     "measures).")
    images, labels = heldout.load_model_scoring_digits()
    inputs = images.reshape(len(images), -1).astype("float32") / 255.0
    probabilities = np.asarray(keras.ops.convert_to_numpy(model(inputs)), dtype=float)
    if np.any(probabilities < 0) or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        return 0.0, ("Your model's outputs are not probabilities (they must be >= 0 and sum to 1 per image): end it "
                     "with `keras.layers.Dense(10, activation=\"softmax\")`.")
    right = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float(np.exp(np.mean(np.log(right)))), ""


regularised_mlp = DesignExercise(
    exercise_id="ch03.regularised_mlp",
    title="Taming an overfitting MLP with L2 weight decay",
    hints=[
        "Start from model A (two hidden layers of 256) and add `kernel_regularizer=keras.regularizers.L2(...)` to "
        "the hidden Dense layers; train on `fit_x[:800]`, `fit_y[:800]` only.",
        "Try a few factors on a log scale (1e-4, 1e-3, 1e-2) and judge them by the validation cross-entropy you "
        "compute yourself: Keras' `val_loss` includes the penalty.",
        REGULARISED_ADVICE,
    ],
    build_reference=build_regularised_reference_model,
    score_model=score_regularised_model,
    metric_name="the geometric mean of the probability given to the right digit, exp(-cross-entropy),",
    minimum_score=REGULARISED_MINIMUM_PROBABILITY,
    low_score_advice=REGULARISED_ADVICE,
    max_parameters=REGULARISED_MAX_PARAMETERS,
    input_shape=(784,),
    output_shape=(10,),
    required_layers=("Dense",),
    required_layers_description="a fully connected layer",
)


# ------------------------------------------------------------------ exercise: early stopping

_SCRIPTED_VAL_LOSS = [1.00, 0.80, 0.70, 0.72, 0.69, 0.71, 0.73, 0.74, 0.75, 0.76, 0.77, 0.78]
_SCRIPTED_LOSS = [1.00, 0.70, 0.55, 0.45, 0.38, 0.32, 0.27, 0.23, 0.20, 0.17, 0.15, 0.13]
_BEST_EPOCH = 4          # 0-based epoch of the lowest val_loss (0.69)
_PATIENCE = 3


def run_early_stopping_script(attributes):
    """Rebuild an EarlyStopping from its attributes and drive it with a scripted val_loss sequence.

    The weights of a one-weight model are set to the epoch number before each epoch ends, so the weights
    after training tell which epoch was restored. Returns (epoch at which training stopped or None, restored epoch).
    """
    import keras

    callback = keras.callbacks.EarlyStopping(**attributes)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    stopped = None
    for epoch, (loss, val_loss) in enumerate(zip(_SCRIPTED_LOSS, _SCRIPTED_VAL_LOSS)):
        model.set_weights([np.full((1, 1), float(epoch), dtype="float32")])
        callback.on_epoch_end(epoch, {"loss": loss, "val_loss": val_loss})
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end()
    return stopped, int(round(float(model.get_weights()[0][0, 0])))


def judge_early_stopping(attributes):
    """'' when the callback watches val_loss with patience 3 and restores the best weights, else the problem."""
    monitor = attributes.get("monitor")
    if monitor in ("loss", "accuracy"):
        return (f"monitor={monitor!r} watches the *training* {monitor}, which keeps improving while the model overfits; "
                "watch the validation loss, monitor='val_loss'.")
    if monitor != "val_loss":
        return f"monitor={monitor!r}: this exercise watches the validation loss, monitor='val_loss'."
    if not attributes.get("restore_best_weights"):
        return ("restore_best_weights is False: after stopping, the model keeps the weights of the *last* epoch, "
                "`patience` epochs past the best one. Set restore_best_weights=True.")
    patience = attributes.get("patience")
    if patience != _PATIENCE:
        if isinstance(patience, (int, float)) and patience < _PATIENCE:
            return (f"patience={patience} is too small: training stops after {patience} epoch(s) without improvement, "
                    f"but one noisy epoch is common. Use patience={_PATIENCE} as asked.")
        return f"patience={patience!r}: the exercise asks for patience={_PATIENCE}."
    try:
        stopped, restored = run_early_stopping_script(attributes)
    except Exception as exception:  # an attribute Keras rejects
        return f"Keras could not use this configuration ({type(exception).__name__}: {exception})."
    expected_stop = _BEST_EPOCH + _PATIENCE
    if stopped != expected_stop or restored != _BEST_EPOCH:
        return (f"On the validation losses {_SCRIPTED_VAL_LOSS}, training should stop after epoch {expected_stop + 1} "
                f"and keep the weights of epoch {_BEST_EPOCH + 1}; yours stopped "
                f"{'never' if stopped is None else f'after epoch {stopped + 1}'} and kept epoch {restored + 1}. "
                f"Check min_delta (0), mode ('min' or 'auto'), baseline (None) and start_from_epoch (0).")
    return ""


early_stopping = ConfiguredObjectExercise(
    exercise_id="ch03.early_stopping",
    title="Configuring early stopping",
    hints=[
        "Which number tells you the model stopped generalising: the training loss or the validation loss?",
        "`keras.callbacks.EarlyStopping(monitor=..., patience=..., restore_best_weights=...)`; leave the other "
        "arguments at their defaults.",
    ],
    expected_type="EarlyStopping",
    expected_class="keras.callbacks.EarlyStopping",
    attributes=("monitor", "patience", "min_delta", "mode", "restore_best_weights", "baseline", "start_from_epoch"),
    judge_attributes=judge_early_stopping,
)

# ------------------------------------------------------------------ exercise: reading curves

curve_diagnoses = ChoiceExercise(
    exercise_id="ch03.curve_diagnoses",
    title="Reading training and validation curves",
    hints=[
        "Look at two things: how low the *training* loss gets, and the gap between training and validation loss.",
        "Underfitting: both losses stay high and close together. Overfitting: the training loss keeps falling while "
        "the validation loss stops falling or rises, so a gap opens.",
    ],
    answers={"A": "overfitting", "B": "underfitting", "C": "good fit"},
    choices=("underfitting", "overfitting", "good fit"),
    explanations={
        "A:good fit": "A's training loss falls to almost 0 while its validation loss reaches its lowest point in the "
                      "first half and then rises: the gap that opens is overfitting.",
        "A:underfitting": "A's training loss falls to almost 0 (below 0.05), so the model has capacity to spare; its "
                          "validation loss rising after an early minimum says overfitting.",
        "B:overfitting": "B's training and validation losses stay within 0.1 of each other in every epoch: no gap "
                         "opens, but both stay high (above 1.5), so the model is too small: underfitting.",
        "B:good fit": "B's validation loss never gets below 1.5, several times A's or C's lowest: the model is too "
                      "small to fit even its training images, underfitting.",
        "C:overfitting": "C's validation loss is still at or near its lowest in the last epochs: it has not turned up, "
                         "so no overfitting yet; a good fit.",
        "C:underfitting": "C reaches the lowest validation loss of the three models: that is a good fit, not "
                          "underfitting.",
    },
)


EXERCISES = [minibatch_indices, momentum_step, adam_step, best_learning_rate, curve_diagnoses, regularised_mlp,
             early_stopping, huber]
