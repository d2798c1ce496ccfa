"""Chapter 08 exercises: applications (text, attention, anomalies, recommendation, attacks) and shipping a model."""

from __future__ import annotations

import numpy as np

from dlcourse.checks import diagnostics
from dlcourse.checks.framework import (Case, ConfiguredObjectExercise, DesignExercise, FunctionExercise, Mistake,
                                       ModelExercise, gather_evidence, low_score_message)

# ------------------------------------------------------------------ references


def reference_scaled_dot_product_attention(query, key, value):
    """softmax(query key^T / sqrt(d)) value, the softmax over the keys (along each row of the scores)."""
    query, key, value = (np.asarray(array, dtype=float) for array in (query, key, value))
    scores = query @ key.T / np.sqrt(key.shape[-1])
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)) @ value


def reference_anomaly_threshold(normal_errors, false_alarm_rate):
    """The 100 (1 - rate)-th percentile of the normal errors (linear interpolation, as np.percentile)."""
    return float(np.percentile(np.asarray(normal_errors, dtype=float), 100.0 * (1.0 - false_alarm_rate)))


def reference_auc_of_scores(labels, scores):
    """P(score of a random positive > score of a random negative), a tie counting one half."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    higher = np.sum(positives[:, None] > negatives[None, :])
    ties = np.sum(positives[:, None] == negatives[None, :])
    return float((higher + 0.5 * ties) / (len(positives) * len(negatives)))


def reference_fgsm_perturbation(images, gradients, epsilon):
    """FGSM: each pixel moved by epsilon along the sign of its gradient, then clipped to [0, 1]."""
    return np.clip(np.asarray(images, dtype=float) + epsilon * np.sign(np.asarray(gradients, dtype=float)), 0.0, 1.0)


def reference_reload_predictions(kernel, bias, new_inputs):
    """What the reloaded softmax layer must predict: argmax over classes of inputs @ kernel + bias."""
    logits = np.asarray(new_inputs, dtype=float) @ np.asarray(kernel, dtype=float) + np.asarray(bias, dtype=float)
    return np.argmax(logits, axis=1)


# ------------------------------------------------------------------ exercise: text_vectorizer

_MAX_TOKENS, _SEQUENCE_LENGTH = 2000, 120
_BAG_MODES = ("multi_hot", "count", "tf_idf", "one_hot")


def judge_text_vectorizer(attributes):
    """'' when the layer keeps 2000 tokens, standardises, splits on whitespace and returns 120 integer ids."""
    mode = attributes.get("_output_mode")
    if mode in _BAG_MODES:
        return (f"output_mode={mode!r} makes a bag of words: one number per vocabulary word, and the word order is "
                "lost. This exercise wants the sequence of word ids, output_mode='int' (the default).")
    if mode != "int":
        return f"output_mode={mode!r}: this exercise wants integer word ids, output_mode='int'."
    length = attributes.get("_output_sequence_length")
    if length is None:
        return ("output_sequence_length is None, so every text keeps its own length and a batch of reviews can't be "
                f"stacked into one array for an Embedding layer: pad or cut to {_SEQUENCE_LENGTH} with "
                f"output_sequence_length={_SEQUENCE_LENGTH}.")
    if length != _SEQUENCE_LENGTH:
        return f"output_sequence_length={length!r}: the exercise asks for {_SEQUENCE_LENGTH} tokens."
    max_tokens = attributes.get("_max_tokens")
    if max_tokens is None:
        return ("max_tokens is None, so the vocabulary is unbounded: every word seen by `adapt`, down to typos seen "
                f"once, gets an id (and an embedding to learn). Keep the {_MAX_TOKENS} most frequent with "
                f"max_tokens={_MAX_TOKENS}.")
    if max_tokens != _MAX_TOKENS:
        return f"max_tokens={max_tokens!r}: the exercise asks for the {_MAX_TOKENS} most frequent tokens."
    standardize = attributes.get("_standardize")
    if standardize is None:
        return ("standardize=None keeps the text as it is, so 'Great', 'great' and 'great!' become three different "
                "tokens. Use standardize='lower_and_strip_punctuation' (the default).")
    if standardize != "lower_and_strip_punctuation":
        return f"standardize={standardize!r}: the exercise asks for 'lower_and_strip_punctuation'."
    split = attributes.get("_split")
    if split != "whitespace":
        return f"split={split!r}: the exercise splits the text into words at whitespace, split='whitespace'."
    if attributes.get("_ngrams") is not None:
        return f"ngrams={attributes.get('_ngrams')!r}: leave ngrams at None (single words) for integer ids."
    return ""


text_vectorizer = ConfiguredObjectExercise(
    exercise_id="ch08.text_vectorizer",
    title="A TextVectorization layer for integer word ids",
    hints=[
        "A bag of words loses word order; an Embedding or Transformer model needs the *sequence* of word ids, "
        "all of the same length.",
        "`keras.layers.TextVectorization(max_tokens=..., standardize=..., split=..., output_mode=..., "
        "output_sequence_length=...)`.",
        "`keras.layers.TextVectorization(max_tokens=2000, output_mode=\"int\", output_sequence_length=120)` (the "
        "default standardize and split are the ones asked for).",
    ],
    expected_type="TextVectorization",
    expected_class="keras.layers.TextVectorization",
    attributes=("_output_mode", "_output_sequence_length", "_max_tokens", "_standardize", "_split", "_ngrams"),
    judge_attributes=judge_text_vectorizer,
)

# ------------------------------------------------------------------ exercise: scaled_dot_product_attention

_attention_rng = np.random.default_rng(808)
_Q_2x4 = np.round(_attention_rng.normal(size=(2, 4)), 2)
_K_3x4 = np.round(_attention_rng.normal(size=(3, 4)), 2)
_V_3x2 = np.round(_attention_rng.normal(size=(3, 2)), 2)
_X_4x3 = np.round(_attention_rng.normal(size=(4, 3)), 2)
_Q_1x8 = np.round(_attention_rng.normal(size=(1, 8)), 2)
_K_5x8 = np.round(_attention_rng.normal(size=(5, 8)), 2)
_V_5x1 = np.round(_attention_rng.normal(size=(5, 1)), 2)
_V_5x3 = np.round(_attention_rng.normal(size=(5, 3)), 2)


# Scores of +-800: row 1 spans 1600 (np.exp overflows without a shift, or shifted by the row minimum), row 2 lies
# 1600 below row 1's maximum (shifted by the maximum of all the scores, it underflows to 0 / 0).
_Q_HUGE = np.array([[40.0, 0.0, -40.0, 0.0], [-40.0, -40.0, -40.0, 0.0]])
_K_HUGE = 40.0 * np.eye(3, 4)


def _softmax_rows(scores, axis=1):
    weights = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return weights / weights.sum(axis=axis, keepdims=True)


def _attention_with(query, key, value, scale, axis=1):
    query, key, value = (np.asarray(array, dtype=float) for array in (query, key, value))
    return _softmax_rows(query @ key.T / scale(key.shape[-1]), axis) @ value


def _attention_shifted_by(query, key, value, shift):
    """Attention whose softmax subtracts `shift(scores)` instead of each row's maximum."""
    query, key, value = (np.asarray(array, dtype=float) for array in (query, key, value))
    scores = query @ key.T / np.sqrt(key.shape[-1])
    weights = np.exp(scores - shift(scores))
    return (weights / weights.sum(axis=1, keepdims=True)) @ value


scaled_dot_product_attention = FunctionExercise(
    exercise_id="ch08.scaled_dot_product_attention",
    title="Scaled dot-product attention in NumPy",
    hints=[
        "Three steps: the (T_q, T_k) scores `query @ key.T`, divided by sqrt(d) where d is the key size; a softmax "
        "over each row (each query's weights over the keys sum to 1); then the weighted sum of the values.",
        "Softmax along axis 1: `np.exp(s - s.max(axis=1, keepdims=True))`, divided by its sum along axis 1 "
        "(subtracting the row maximum prevents overflow).",
        "`weights @ value` gives the (T_q, d_v) output.",
    ],
    reference=reference_scaled_dot_product_attention,
    cases=[
        Case("2 queries, 3 keys of size 4, values of size 2", (_Q_2x4, _K_3x4, _V_3x2)),
        Case("self-attention: 4 tokens of size 3 as query, key and value", (_X_4x3, _X_4x3, _X_4x3)),
        Case("1 query, 5 keys of size 8, values of size 1", (_Q_1x8, _K_5x8, _V_5x1)),
        Case("3 queries, 5 keys of size 8 (two rows of the queries equal), values of size 3",
             (np.vstack([_Q_1x8, _Q_1x8, -_Q_1x8]), _K_5x8, _V_5x3)),
        Case("large scores (inputs times 12): the softmax must not overflow", (12 * _Q_2x4, 12 * _K_3x4, _V_3x2)),
        Case("scores of +-800: one row spans 1600, the other lies 1600 below the first row's maximum",
             (_Q_HUGE, _K_HUGE, _V_3x2)),
    ],
    mistakes=[
        Mistake("the scores are not divided by sqrt(d): with d = key.shape[-1], use `query @ key.T / np.sqrt(d)`, "
                "which keeps the softmax from saturating as d grows.",
                lambda q, k, v: _attention_with(q, k, v, lambda d: 1.0)),
        Mistake("the scores are divided by d instead of sqrt(d).",
                lambda q, k, v: _attention_with(q, k, v, lambda d: float(d))),
        Mistake("the softmax runs over the queries (axis 0): each *query's* weights over the keys must sum to 1, "
                "so normalise along axis 1 (each row of the (T_q, T_k) scores).",
                lambda q, k, v: _attention_with(q, k, v, np.sqrt, axis=0)),
        Mistake("there is no softmax: the scaled scores must become weights that are positive and sum to 1 over "
                "the keys before they multiply the values.",
                lambda q, k, v: (np.asarray(q, float) @ np.asarray(k, float).T / np.sqrt(np.shape(k)[-1]))
                @ np.asarray(v, float)),
        Mistake("no max subtraction in the softmax: np.exp of a score above about 709 overflows to infinity "
                "(infinity / infinity = NaN). Subtract each row's maximum, `scores.max(axis=1, keepdims=True)`, "
                "before np.exp.",
                lambda q, k, v: _attention_shifted_by(q, k, v, lambda scores: 0.0)),
        Mistake("the softmax subtracts the maximum of *all* the scores, not each row's: a row far below the "
                "largest score underflows to 0 / 0 = NaN. Use `scores.max(axis=1, keepdims=True)`.",
                lambda q, k, v: _attention_shifted_by(q, k, v, lambda scores: scores.max())),
        Mistake("the softmax subtracts each row's minimum instead of its maximum: when a row's scores span more "
                "than about 709, np.exp of the largest shifted score overflows. Use `scores.max(axis=1, keepdims=True)`.",
                lambda q, k, v: _attention_shifted_by(q, k, v, lambda scores: scores.min(axis=1, keepdims=True))),
    ],
)

# ------------------------------------------------------------------ exercise: anomaly_threshold

_threshold_rng = np.random.default_rng(8080)
_EXPONENTIAL_ERRORS = np.round(_threshold_rng.exponential(0.02, size=200), 5)

anomaly_threshold = FunctionExercise(
    exercise_id="ch08.anomaly_threshold",
    title="An anomaly threshold from a false-alarm rate",
    hints=[
        "A false-alarm rate of 5 % means that 5 % of the *normal* errors lie above the threshold, so the "
        "threshold is a high percentile of them.",
        "`np.percentile` takes a percentage between 0 and 100: the threshold is "
        "`np.percentile(normal_errors, 100 * (1 - false_alarm_rate))`.",
    ],
    reference=reference_anomaly_threshold,
    cases=[
        Case("errors 0.01, 0.02, ..., 1.00 and a 5 % false-alarm rate", (np.arange(1, 101) / 100, 0.05)),
        Case("200 exponential errors and a 1 % false-alarm rate", (_EXPONENTIAL_ERRORS, 0.01)),
        Case("7 unsorted errors and a 10 % rate (the percentile falls between two errors)",
             ([0.3, 0.1, 0.7, 0.2, 0.05, 0.9, 0.4], 0.1)),
        Case("10 errors and a 20 % rate", (np.array([5.0, 1.0, 3.0, 8.0, 2.0, 9.0, 4.0, 7.0, 6.0, 10.0]), 0.2)),
        Case("a 0 % false-alarm rate (the largest normal error)", ([0.2, 0.5, 0.1], 0.0)),
    ],
    mistakes=[
        Mistake("the threshold is taken from the wrong tail: `np.percentile(errors, 100 * rate)` leaves 95 % of the "
                "normal cases *above* it. A rate of 5 % needs the 95th percentile, `100 * (1 - rate)`.",
                lambda errors, rate: float(np.percentile(np.asarray(errors, float), 100 * rate))),
        Mistake("the percentile is given as a fraction: `np.percentile` expects a percentage between 0 and 100, "
                "so the 95th percentile is `np.percentile(errors, 95)`, not `np.percentile(errors, 0.95)` "
                "(`np.quantile` is the one that takes fractions).",
                lambda errors, rate: float(np.percentile(np.asarray(errors, float), 1 - rate))),
        Mistake("the threshold is a sorted error picked by index, without the interpolation np.percentile does: "
                "use `np.percentile(errors, 100 * (1 - rate))` (or `np.quantile(errors, 1 - rate)`).",
                lambda errors, rate: float(np.sort(np.asarray(errors, float))[
                    min(int((1 - rate) * len(errors)), len(errors) - 1)])),
    ],
)

# ------------------------------------------------------------------ exercise: auc_of_scores

_auc_rng = np.random.default_rng(8088)
_RANDOM_LABELS = (_auc_rng.uniform(size=40) < 0.4).astype(int)
_RANDOM_SCORES = np.round(_auc_rng.normal(size=40) + 0.8 * _RANDOM_LABELS, 3)
_TIED_LABELS = [0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]
_TIED_SCORES = [1, 3, 2, 2, 3, 1, 3, 2, 2, 1, 1, 2]


def _auc_counting_ties_as(labels, scores, tie_value):
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    pairs = np.sum(positives[:, None] > negatives[None, :]) + tie_value * np.sum(positives[:, None] == negatives[None, :])
    return float(pairs / (len(positives) * len(negatives)))


def _auc_trapezoid_unsorted(labels, scores):
    """True- and false-positive rates accumulated in the data's order, not by descending score."""
    labels = np.asarray(labels)
    true_positive_rate = np.concatenate([[0], np.cumsum(labels == 1)]) / np.sum(labels == 1)
    false_positive_rate = np.concatenate([[0], np.cumsum(labels == 0)]) / np.sum(labels == 0)
    return float(np.trapezoid(true_positive_rate, false_positive_rate))


auc_of_scores = FunctionExercise(
    exercise_id="ch08.auc_of_scores",
    title="The area under the ROC curve of given scores",
    hints=[
        "The AUC is the probability that a random positive (label 1) gets a higher score than a random negative: "
        "compare every positive's score with every negative's.",
        "With `positives = scores[labels == 1]` and `negatives = scores[labels == 0]`, "
        "`positives[:, None] > negatives[None, :]` compares all pairs at once; add half of the pairs where they are equal.",
        "`(higher + 0.5 * ties) / (len(positives) * len(negatives))`.",
    ],
    reference=reference_auc_of_scores,
    cases=[
        Case("40 random scores, positives a little higher", (_RANDOM_LABELS, _RANDOM_SCORES)),
        Case("12 whole-number scores with many ties", (_TIED_LABELS, _TIED_SCORES)),
        Case("every positive above every negative", ([0, 0, 1, 1, 0, 1], [0.1, 0.2, 0.9, 0.8, 0.3, 0.7])),
        Case("lists, 3 positives among 5, unsorted", ([1, 0, 1, 0, 1], [0.4, 0.5, 0.9, 0.1, 0.45])),
        Case("all scores equal (a useless detector: AUC 0.5)", ([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3])),
    ],
    mistakes=[
        Mistake("the scores are inverted: your value is 1 - AUC. The AUC counts pairs where the *positive* (label 1) "
                "scores higher than the negative.",
                lambda labels, scores: 1.0 - reference_auc_of_scores(labels, scores)),
        Mistake("ties are not counted: a pair whose two scores are equal counts one half (it is a coin toss which "
                "one a threshold flags first).",
                lambda labels, scores: _auc_counting_ties_as(labels, scores, 0.0)),
        Mistake("ties count as wins (`>=`): a pair whose two scores are equal counts one half, not 1.",
                lambda labels, scores: _auc_counting_ties_as(labels, scores, 1.0)),
        Mistake("the ROC points are accumulated in the data's order: sort by descending score first, then "
                "accumulate the true- and false-positive rates (or compare all positive-negative pairs).",
                _auc_trapezoid_unsorted),
    ],
)

# ------------------------------------------------------------------ exercise: recommender_model

_NUM_TRAIN_RATINGS = 10000


def _synthetic_ratings():
    from dlcourse import datasets

    return datasets.make_synthetic_ratings()


def build_recommender_reference_model():
    """The architecture the recommender exercise asks for."""
    import keras

    user_ids, item_ids, _ = _synthetic_ratings()
    num_users, num_items = int(user_ids.max()) + 1, int(item_ids.max()) + 1
    user_input = keras.Input(shape=(1,), dtype="int32")
    item_input = keras.Input(shape=(1,), dtype="int32")
    user_embedding = keras.layers.Embedding(num_users, 8)(user_input)
    item_embedding = keras.layers.Embedding(num_items, 8)(item_input)
    match = keras.layers.Flatten()(keras.layers.Dot(axes=2)([user_embedding, item_embedding]))
    return keras.Model([user_input, item_input], keras.layers.Dense(1)(match))


RECOMMENDER_MINIMUM_REDUCTION = 0.15
RECOMMENDER_OVERFIT_GAP = 0.3  # the lesson's model cuts the RMSE by about 0.62 on its training ratings, 0.40 held out
RECOMMENDER_RECIPE = "Train longer (10-20 epochs, Adam with learning rate about 1e-2), on the training ratings only."


def predicted_ratings(model, users, items):
    """The model's predicted rating of each (user, item) pair."""
    return np.asarray(model.predict([users[:, None], items[:, None]], batch_size=1000, verbose=0), dtype=float).reshape(-1)


def rmse_reduction(model, users, items, ratings, baseline_rating):
    """1 - the model's RMSE on some ratings / the RMSE of always predicting `baseline_rating`."""
    baseline_rmse = float(np.sqrt(np.mean((ratings - baseline_rating) ** 2)))
    rmse = float(np.sqrt(np.mean((ratings - predicted_ratings(model, users, items)) ** 2)))
    return 1.0 - rmse / baseline_rmse


def recommender_fit_advice(model):
    """Underfitting or overfitting, from the RMSE reduction on the lesson's training ratings against the held-out ones."""
    from dlcourse.checks import heldout

    if diagnostics.untrained_layers(model):
        return ""  # untrained_model_advice names that cause
    user_ids, item_ids, ratings = _synthetic_ratings()
    train_users, train_items = user_ids[:_NUM_TRAIN_RATINGS], item_ids[:_NUM_TRAIN_RATINGS]
    train_ratings = ratings[:_NUM_TRAIN_RATINGS]
    with np.errstate(all="ignore"):
        training = rmse_reduction(model, train_users, train_items, train_ratings, train_ratings.mean())
        heldout_reduction = rmse_reduction(model, *heldout.load_ratings(), train_ratings.mean())
    return diagnostics.underfit_or_overfit_advice(
        training, heldout_reduction, RECOMMENDER_MINIMUM_REDUCTION,
        underfit_advice=(f"On the lesson's {_NUM_TRAIN_RATINGS} training ratings too, your model cuts the global-mean "
                         f"baseline's RMSE by only {training:.1%}: it underfits. Train longer (10-20 epochs) or with a "
                         "larger learning rate (Adam at about 1e-2)."),
        overfit_advice=(f"Your model cuts the baseline's RMSE by {training:.1%} on the lesson's training ratings but "
                        f"by only {heldout_reduction:.1%} on held-out pairs: it overfits the training ratings. Train "
                        "for fewer epochs (10-20), on the training ratings only."),
        gap=RECOMMENDER_OVERFIT_GAP)


RECOMMENDER_EVIDENCE = (diagnostics.untrained_model_advice, recommender_fit_advice)


def score_recommender_model(model):
    """How much the model's RMSE on held-out pairs undercuts the global-mean baseline's (a fraction), and a problem or ''.

    The held-out ratings (dlcourse/checks/heldout) rate pairs that none of the lesson's 12,000 ratings rate, so
    no kernel holds them; the baseline predicts the mean of the lesson's training ratings.
    """
    from dlcourse.checks import heldout

    _, _, ratings = _synthetic_ratings()
    train_ratings = ratings[:_NUM_TRAIN_RATINGS]
    test_users, test_items, test_ratings = heldout.load_ratings()
    predictions = predicted_ratings(model, test_users, test_items)
    if not np.all(np.isfinite(predictions)):
        return 0.0, "Your model predicts NaN or infinity: lower the learning rate and rebuild the model."
    if np.std(predictions) < 1e-3:
        return 0.0, low_score_message(f"Your model predicts the same rating ({predictions.mean():.2f}) for every pair.",
                                      gather_evidence(RECOMMENDER_EVIDENCE, model), RECOMMENDER_RECIPE)
    baseline_rmse = float(np.sqrt(np.mean((test_ratings - train_ratings.mean()) ** 2)))
    rmse = float(np.sqrt(np.mean((test_ratings - predictions) ** 2)))
    return 1.0 - rmse / baseline_rmse, ""


RECOMMENDER_MAX_PARAMETERS = 10_000  # the dot-product design with 8 numbers per user and item has 4,002

recommender_model = DesignExercise(
    exercise_id="ch08.recommender_model",
    title="Design an embedding recommender for the synthetic ratings",
    hints=[
        "Start from the idea in the text: an `Embedding` per input gives each user and each item a learned vector; "
        "`keras.layers.Dot(axes=2)([user_vectors, item_vectors])` takes their dot product along the last axis of two "
        "(batch, 1, 8) tensors; `Flatten()` and a `Dense(1)` then compute a x + b. Count the parameters against "
        "the budget: NUM_USERS x 8 + NUM_ITEMS x 8 + 2.",
        "Compile with `loss=\"mse\"` and Adam (learning rate about 1e-2), and fit on "
        "`[train_users[:, None], train_items[:, None]]` and `train_ratings` for 10-20 epochs.",
        "Two `keras.Input(shape=(1,), dtype=\"int32\")`, one Embedding each (users: NUM_USERS rows, items: "
        "NUM_ITEMS rows, 8 numbers), `keras.layers.Dot(axes=2)([user_vectors, item_vectors])`, `Flatten()`, "
        "`Dense(1)`; then `keras.Model([user_input, item_input], output)`.",
    ],
    build_reference=build_recommender_reference_model,
    score_model=score_recommender_model,
    metric_name="RMSE reduction over the global-mean baseline",
    minimum_score=RECOMMENDER_MINIMUM_REDUCTION,
    low_score_advice=RECOMMENDER_RECIPE,
    low_score_evidence=RECOMMENDER_EVIDENCE,
    time_limit_seconds=60.0,
    max_parameters=RECOMMENDER_MAX_PARAMETERS,
    input_shapes=((1,), (1,)),
    output_shape=(1,),
    required_layers=("Embedding",),
    required_layers_description="learned vectors for users and items, an Embedding layer",
)

# ------------------------------------------------------------------ exercise: fgsm_perturbation

_fgsm_rng = np.random.default_rng(8008)
_IMAGE_2x3 = np.array([[0.0, 0.5, 1.0], [0.95, 0.02, 0.3]])
_GRADIENT_2x3 = np.array([[0.3, -0.2, 0.5], [0.04, -0.7, 0.0]])
_IMAGES_2x4x4 = np.round(_fgsm_rng.uniform(size=(2, 4, 4)), 3)
_GRADIENTS_2x4x4 = np.round(_fgsm_rng.normal(scale=1e-3, size=(2, 4, 4)), 6)
_IMAGES_DIGITLIKE = np.round(np.clip(_fgsm_rng.normal(0.5, 0.5, size=(3, 5, 5)), 0, 1), 3)
_GRADIENTS_DIGITLIKE = np.round(_fgsm_rng.normal(scale=2.0, size=(3, 5, 5)), 3)

fgsm_perturbation = FunctionExercise(
    exercise_id="ch08.fgsm_perturbation",
    title="The fast gradient sign method (FGSM)",
    hints=[
        "The attack *raises* the loss, so it moves each pixel in the direction of its gradient, by exactly epsilon: "
        "only the gradient's sign matters.",
        "`np.clip(images + epsilon * np.sign(gradients), 0, 1)`.",
    ],
    reference=reference_fgsm_perturbation,
    cases=[
        Case("a 2x3 image with pixels at 0 and 1, epsilon 0.1", (_IMAGE_2x3, _GRADIENT_2x3, 0.1)),
        Case("two 4x4 images with tiny gradients (about 0.001), epsilon 0.05", (_IMAGES_2x4x4, _GRADIENTS_2x4x4, 0.05)),
        Case("three 5x5 images, many pixels at 0 or 1, large gradients, epsilon 0.25",
             (_IMAGES_DIGITLIKE, _GRADIENTS_DIGITLIKE, 0.25)),
        Case("epsilon 0 (the images must come back unchanged)", (_IMAGE_2x3, _GRADIENT_2x3, 0.0)),
    ],
    mistakes=[
        Mistake("the raw gradient is added: FGSM uses only its *sign*, `epsilon * np.sign(gradients)`, so every "
                "pixel moves by exactly epsilon however small its gradient.",
                lambda images, gradients, epsilon: np.clip(np.asarray(images, float) + epsilon * np.asarray(gradients, float), 0, 1)),
        Mistake("the step goes against the gradient (`images - ...`): that *lowers* the loss, like training does. "
                "An attack adds `epsilon * np.sign(gradients)` to raise it.",
                lambda images, gradients, epsilon: np.clip(np.asarray(images, float) - epsilon * np.sign(gradients), 0, 1)),
        Mistake("the result is not clipped: pixels must stay in [0, 1], so finish with `np.clip(..., 0, 1)`.",
                lambda images, gradients, epsilon: np.asarray(images, float) + epsilon * np.sign(gradients)),
    ],
)

# ------------------------------------------------------------------ exercise: reload_predictions

_reload_rng = np.random.default_rng(8118)
_KERNEL_4x3 = np.round(_reload_rng.normal(size=(4, 3)), 3)
_BIAS_3 = np.array([2.0, -1.5, 0.0])
_INPUTS_6x4 = np.round(_reload_rng.normal(size=(6, 4)), 3)
_KERNEL_2x5 = np.round(_reload_rng.normal(size=(2, 5)), 3)
_BIAS_5 = np.array([0.0, 1.5, -2.0, 0.5, 1.0])
_INPUTS_7x2 = np.round(_reload_rng.normal(size=(7, 2)), 3)


def _softmax_probabilities(kernel, bias, new_inputs):
    logits = np.asarray(new_inputs, dtype=float) @ np.asarray(kernel, dtype=float) + np.asarray(bias, dtype=float)
    return _softmax_rows(logits)


reload_predictions = FunctionExercise(
    exercise_id="ch08.reload_predictions",
    title="A save-and-reload round trip through a .keras file",
    hints=[
        "Build the model, `model.set_weights([kernel, bias])`, `model.save(path)` with a path ending in `.keras`, "
        "then `keras.saving.load_model(path)`.",
        "`path = os.path.join(tempfile.mkdtemp(), \"model.keras\")`; call the reloaded model directly (a `predict` "
        "call per new model retraces and warns): "
        "`keras.ops.convert_to_numpy(reloaded(np.asarray(new_inputs, dtype=\"float32\"))).argmax(axis=1)`.",
    ],
    reference=reference_reload_predictions,
    cases=[
        Case("4 features, 3 classes, 6 new inputs", (_KERNEL_4x3, _BIAS_3, _INPUTS_6x4)),
        Case("2 features, 5 classes, 7 new inputs", (_KERNEL_2x5, _BIAS_5, _INPUTS_7x2)),
        Case("4 features, 3 classes, a single new input", (_KERNEL_4x3, _BIAS_3, _INPUTS_6x4[2:3])),
    ],
    mistakes=[
        Mistake("your function returns the probabilities: return the predicted *classes*, "
                "`probabilities.argmax(axis=1)`.",
                _softmax_probabilities),
        Mistake("the argmax runs over the inputs (axis 0): the class of each input is the largest entry of its "
                "*row*, `argmax(axis=1)`.",
                lambda kernel, bias, new_inputs: np.argmax(_softmax_probabilities(kernel, bias, new_inputs), axis=0)),
        Mistake("the bias is missing: set both weights, `model.set_weights([kernel, bias])`.",
                lambda kernel, bias, new_inputs: reference_reload_predictions(kernel, np.zeros(np.shape(bias)), new_inputs)),
    ],
    time_limit_seconds=60.0,
)

EXERCISES = [text_vectorizer, scaled_dot_product_attention, anomaly_threshold, auc_of_scores, recommender_model,
             fgsm_perturbation, reload_predictions]
