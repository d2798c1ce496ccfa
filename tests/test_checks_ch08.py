"""Every chapter 08 check accepts correct answers and names realistic mistakes."""

import os
import tempfile

import keras
import numpy as np

from check_helpers import written_by_student
from dlcourse import checks, datasets
from dlcourse.checks import ch08

# ----------------------------------------------------------------- correct answers, written differently


def attention_with_einsum(query, key, value):
    query, key, value = (np.asarray(array, dtype=float) for array in (query, key, value))
    scores = np.einsum("qd,kd->qk", query, key) / np.sqrt(query.shape[1])
    weights = np.exp(scores - np.max(scores, axis=-1, keepdims=True))
    return np.einsum("qk,kv->qv", weights / np.sum(weights, axis=-1, keepdims=True), value)


def attention_row_by_row(query, key, value):
    rows = []
    for query_row in np.asarray(query, dtype=float):
        scores = np.asarray(key, dtype=float) @ query_row / np.sqrt(len(query_row))
        weights = np.exp(scores - scores.max())
        rows.append((weights / weights.sum()) @ np.asarray(value, dtype=float))
    return np.array(rows)


def threshold_with_quantile(normal_errors, false_alarm_rate):
    return float(np.quantile(normal_errors, 1 - false_alarm_rate))


def auc_by_sorting_ranks(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    position = 0
    while position < len(scores):  # average ranks over ties
        end = position
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[position]:
            end += 1
        ranks[order[position:end + 1]] = (position + end) / 2 + 1
        position = end + 1
    num_positive, num_negative = np.sum(labels == 1), np.sum(labels == 0)
    return float((ranks[labels == 1].sum() - num_positive * (num_positive + 1) / 2) / (num_positive * num_negative))


def auc_with_loops(labels, scores):
    total, pairs = 0.0, 0
    for label_a, score_a in zip(labels, scores):
        for label_b, score_b in zip(labels, scores):
            if label_a == 1 and label_b == 0:
                pairs += 1
                total += 1.0 if score_a > score_b else 0.5 if score_a == score_b else 0.0
    return total / pairs


def fgsm_with_where(images, gradients, epsilon):
    images, gradients = np.asarray(images, dtype=float), np.asarray(gradients, dtype=float)
    step = np.where(gradients > 0, epsilon, np.where(gradients < 0, -epsilon, 0.0))
    return np.minimum(np.maximum(images + step, 0.0), 1.0)


def reload_with_keras(kernel, bias, new_inputs):
    model = keras.Sequential([keras.Input(shape=(np.shape(kernel)[0],)),
                              keras.layers.Dense(np.shape(kernel)[1], activation="softmax")])
    model.layers[0].set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "round_trip.keras")
        keras.saving.save_model(model, path)
        reloaded = keras.saving.load_model(path)
        return np.argmax(keras.ops.convert_to_numpy(reloaded(np.asarray(new_inputs, "float32"))), axis=-1)


CORRECT_ANSWERS = {
    "ch08.scaled_dot_product_attention": [ch08.reference_scaled_dot_product_attention, attention_with_einsum,
                                          attention_row_by_row],
    "ch08.anomaly_threshold": [ch08.reference_anomaly_threshold, threshold_with_quantile],
    "ch08.auc_of_scores": [ch08.reference_auc_of_scores, auc_by_sorting_ranks, auc_with_loops],
    "ch08.fgsm_perturbation": [ch08.reference_fgsm_perturbation, fgsm_with_where],
    "ch08.reload_predictions": [ch08.reference_reload_predictions, reload_with_keras],
}
CORRECT_ANSWERS = {exercise_id: [written_by_student(answers[0])] + answers[1:]
                   for exercise_id, answers in CORRECT_ANSWERS.items()}

# ----------------------------------------------------------------- realistic mistakes


def attention_unscaled(query, key, value):
    scores = np.asarray(query) @ np.asarray(key).T
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True) @ value


def attention_softmax_over_queries(query, key, value):
    scores = np.asarray(query) @ np.asarray(key).T / np.sqrt(np.shape(key)[1])
    weights = np.exp(scores - scores.max(axis=0, keepdims=True))
    return weights / weights.sum(axis=0, keepdims=True) @ value


def attention_scaled_by_d(query, key, value):
    scores = np.asarray(query) @ np.asarray(key).T / np.shape(key)[1]
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True) @ value


def attention_without_max_subtraction(query, key, value):
    weights = np.exp(np.asarray(query) @ np.asarray(key).T / np.sqrt(np.shape(key)[1]))
    return weights / weights.sum(axis=1, keepdims=True) @ value


def attention_minus_global_max(query, key, value):
    scores = np.asarray(query) @ np.asarray(key).T / np.sqrt(np.shape(key)[1])
    weights = np.exp(scores - scores.max())
    return weights / weights.sum(axis=1, keepdims=True) @ value


def attention_minus_row_min(query, key, value):
    scores = np.asarray(query) @ np.asarray(key).T / np.sqrt(np.shape(key)[1])
    weights = np.exp(scores - scores.min(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True) @ value


def auc_strict(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    return float(np.mean(scores[labels == 1][:, None] > scores[labels == 0][None, :]))


def auc_unsorted_trapezoid(labels, scores):
    labels = np.asarray(labels)
    tpr = np.cumsum(np.r_[0, labels == 1]) / np.sum(labels == 1)
    fpr = np.cumsum(np.r_[0, labels == 0]) / np.sum(labels == 0)
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))


def reload_returning_probabilities(kernel, bias, new_inputs):
    logits = np.asarray(new_inputs) @ np.asarray(kernel) + np.asarray(bias)
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


MISTAKES = {
    "ch08.scaled_dot_product_attention": [
        (attention_unscaled, "failed", ["not divided by sqrt(d)"]),
        (attention_softmax_over_queries, "failed", ["over the queries"]),
        (attention_scaled_by_d, "failed", ["divided by d instead"]),
        (lambda q, k, v: np.asarray(q) @ np.asarray(k).T / np.sqrt(np.shape(k)[1]) @ v, "failed", ["no softmax"]),
        (attention_without_max_subtraction, "failed", ["no max subtraction"]),
        (attention_minus_global_max, "failed", ["maximum of *all* the scores"]),
        (attention_minus_row_min, "failed", ["each row's minimum"]),
    ],
    "ch08.anomaly_threshold": [
        (lambda errors, rate: np.percentile(errors, 100 * rate), "failed", ["wrong tail"]),
        (lambda errors, rate: np.percentile(errors, 1 - rate), "failed", ["as a fraction"]),
        (lambda errors, rate: np.sort(errors)[min(int((1 - rate) * len(errors)), len(errors) - 1)], "failed",
         ["picked by index"]),
    ],
    "ch08.auc_of_scores": [
        (lambda labels, scores: 1 - ch08.reference_auc_of_scores(labels, scores), "failed", ["inverted"]),
        (auc_strict, "failed", ["ties are not counted"]),
        (auc_unsorted_trapezoid, "failed", ["data's order"]),
    ],
    "ch08.fgsm_perturbation": [
        (lambda images, gradients, epsilon: np.clip(images + epsilon * gradients, 0, 1), "failed", ["raw gradient"]),
        (lambda images, gradients, epsilon: np.clip(images - epsilon * np.sign(gradients), 0, 1), "failed",
         ["against the gradient"]),
        (lambda images, gradients, epsilon: images + epsilon * np.sign(gradients), "failed", ["not clipped"]),
    ],
    "ch08.reload_predictions": [
        (reload_returning_probabilities, "failed", ["returns the probabilities"]),
        (lambda kernel, bias, new_inputs: reload_returning_probabilities(kernel, bias, new_inputs).argmax(axis=0),
         "failed", ["over the inputs"]),
        (lambda kernel, bias, new_inputs: np.argmax(np.asarray(new_inputs) @ kernel, axis=1), "failed",
         ["bias is missing"]),
    ],
}

# ----------------------------------------------------------------- the TextVectorization layer


def test_text_vectorizer_written_two_ways_passes():
    for layer in (keras.layers.TextVectorization(max_tokens=2000, output_sequence_length=120),
                  keras.layers.TextVectorization(max_tokens=2000, standardize="lower_and_strip_punctuation",
                                                 split="whitespace", output_mode="int", output_sequence_length=120)):
        result = checks.check("ch08.text_vectorizer", layer, record=False)
        assert result.passed, str(result)


def test_text_vectorizer_mistakes_are_named():
    wrong = [
        (keras.layers.TextVectorization(max_tokens=2000, output_mode="multi_hot"), "bag of words"),
        (keras.layers.TextVectorization(max_tokens=2000), "output_sequence_length is None"),
        (keras.layers.TextVectorization(output_sequence_length=120), "unbounded"),
        (keras.layers.TextVectorization(max_tokens=2000, output_sequence_length=120, standardize=None), "'Great'"),
        (keras.layers.TextVectorization(max_tokens=3000, output_sequence_length=120), "2000 most frequent"),
        (keras.layers.Embedding(2000, 120), "Expected a TextVectorization object"),
    ]
    for layer, fragment in wrong:
        result = checks.check("ch08.text_vectorizer", layer, record=False)
        assert result.status == "failed" and fragment in result.message, str(result)


def test_text_vectorizer_placeholder_is_not_attempted():
    assert checks.check("ch08.text_vectorizer", ..., record=False).status == "not_attempted"

# ----------------------------------------------------------------- the recommender (a design task)


def _train_recommender(model, epochs):
    user_ids, item_ids, ratings = datasets.make_synthetic_ratings()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit([user_ids[:10000, None], item_ids[:10000, None]], ratings[:10000], epochs=epochs, batch_size=128,
              verbose=0)
    return model


def test_trained_recommender_passes_and_untrained_fails():
    keras.utils.set_random_seed(0)
    model = ch08.build_recommender_reference_model()
    untrained = checks.check("ch08.recommender_model", model, record=False)
    assert untrained.status == "failed" and "RMSE reduction" in untrained.message, str(untrained)
    trained = checks.check("ch08.recommender_model", _train_recommender(model, 15), record=False)
    assert trained.passed, str(trained)


def test_recommender_built_in_another_order_passes_the_architecture_diff():
    keras.utils.set_random_seed(0)
    item = keras.Input(shape=(1,), dtype="int32")
    user = keras.Input(shape=(1,), dtype="int32")
    users, items = keras.layers.Embedding(300, 8), keras.layers.Embedding(200, 8)
    dot = keras.layers.Dot(axes=2)([users(user), items(item)])
    model = keras.Model(inputs=[user, item], outputs=keras.layers.Dense(1)(keras.layers.Flatten()(dot)))
    result = checks.check("ch08.recommender_model", _train_recommender(model, 15), record=False)
    assert result.passed, str(result)


def recommender_with(size, extra_dense=False, user_rows=300):
    """The dot-product design with embeddings of `size` numbers (untrained)."""
    user = keras.Input(shape=(1,), dtype="int32")
    item = keras.Input(shape=(1,), dtype="int32")
    dot = keras.layers.Dot(axes=2)([keras.layers.Embedding(user_rows, size)(user), keras.layers.Embedding(200, size)(item)])
    hidden = keras.layers.Flatten()(dot)
    if extra_dense:
        hidden = keras.layers.Dense(4, activation="relu")(hidden)
    return keras.Model([user, item], keras.layers.Dense(1)(hidden))


def test_recommender_design_constraints_are_named():
    """A design task: over the budget, without an Embedding, or with one input is named; other sizes are allowed."""
    too_big = checks.check("ch08.recommender_model", recommender_with(32), record=False).message
    assert too_big.startswith("Your model has 16,002 parameters, over the task's budget of 10,000."), too_big
    user, item = keras.Input(shape=(1,)), keras.Input(shape=(1,))
    no_embedding = keras.Model([user, item], keras.layers.Dense(1)(keras.layers.Concatenate()([user, item])))
    message = checks.check("ch08.recommender_model", no_embedding, record=False).message
    assert message.startswith("The task asks for learned vectors for users and items, an Embedding layer"), message
    one_input = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    message = checks.check("ch08.recommender_model", one_input, record=False).message
    assert message.startswith("The task asks for a model with 2 inputs and one output"), message
    keras.utils.set_random_seed(0)
    other_design = checks.check("ch08.recommender_model", recommender_with(16, extra_dense=True), record=False)
    assert other_design.message.startswith("Your design meets the constraints (8,013 parameters"), other_design.message


class _LessonRatingsLookup:
    """A 'model' that memorised all 12,000 lesson ratings (the test split too) and says the mean elsewhere."""

    def __init__(self):
        user_ids, item_ids, ratings = datasets.make_synthetic_ratings()
        self.ratings = {(user, item): rating for user, item, rating in zip(user_ids.tolist(), item_ids.tolist(),
                                                                          ratings.tolist())}
        self.mean = float(ratings.mean())

    def predict(self, inputs, batch_size=None, verbose=0):
        users, items = (np.asarray(column).reshape(-1).tolist() for column in inputs)
        return np.array([[self.ratings.get(pair, self.mean)] for pair in zip(users, items)])


def test_recommender_is_scored_on_pairs_the_lesson_never_rates():
    score, problem = ch08.score_recommender_model(_LessonRatingsLookup())
    assert score == 0.0
    assert "predicts the same rating" in problem and "for every pair" in problem, problem


def test_recommender_trained_one_epoch_is_named_by_its_score():
    keras.utils.set_random_seed(0)
    result = checks.check("ch08.recommender_model",
                          _train_recommender(ch08.build_recommender_reference_model(), 1), record=False)
    assert result.status == "failed"
    assert "RMSE reduction over the global-mean baseline on held-out data" in result.message, result.message
    assert "Train longer (10-20 epochs" in result.message, result.message


def test_synthetic_ratings_are_reproducible_and_in_range():
    first, second = datasets.make_synthetic_ratings(), datasets.make_synthetic_ratings()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    user_ids, item_ids, ratings = first
    assert len(set(zip(user_ids.tolist(), item_ids.tolist()))) == len(ratings) == 12000
    assert ratings.min() == 1 and ratings.max() == 5 and user_ids.max() == 299 and item_ids.max() == 199


# ----------------------------------------------------------------- the recommender: advice only with evidence


def mean_rating_recommender(noise):
    """The recommender's architecture predicting about the training mean, plus a little noise per pair (no training)."""
    model = ch08.build_recommender_reference_model()
    user_vectors, item_vectors, kernel, bias = model.get_weights()
    generator = np.random.default_rng(0)
    model.set_weights([generator.normal(0, noise, user_vectors.shape).astype("float32"),
                       generator.normal(0, noise, item_vectors.shape).astype("float32"),
                       np.ones_like(kernel), np.array([3.0], dtype="float32")])
    return model


def test_a_recommender_that_underfits_its_training_ratings_is_told_to_train_longer():
    advice = ch08.recommender_fit_advice(mean_rating_recommender(0.1))
    assert "training ratings too" in advice and "underfits" in advice and "Train longer" in advice, advice


def test_a_lookup_of_the_training_ratings_is_named_overfitting():
    advice = ch08.recommender_fit_advice(_LessonRatingsLookup())
    assert "overfits the training ratings" in advice and "Train longer" not in advice, advice


def test_recommender_fit_advice_needs_evidence(monkeypatch):
    monkeypatch.setattr(ch08, "rmse_reduction",
                        lambda model, users, items, ratings, baseline: 0.3 if len(ratings) == 10000 else 0.12)
    assert ch08.recommender_fit_advice(mean_rating_recommender(0.1)) == ""


def test_an_untrained_recommender_is_named_and_not_told_to_train_longer():
    model = ch08.build_recommender_reference_model()
    assert "Never trained" in ch08.diagnostics.untrained_model_advice(model)
    assert ch08.recommender_fit_advice(model) == ""


# Exercises whose answers are models or other objects too costly to list in the tables above: the tests
# named here (in this module unless a module is given) show the reference and another correct answer
# passing and at least two named mistakes; test_exercise_tables checks that they exist.
TESTED_ELSEWHERE = {
    "ch08.text_vectorizer": [
        "test_text_vectorizer_written_two_ways_passes",
        "test_text_vectorizer_mistakes_are_named",
    ],
    "ch08.recommender_model": [
        "test_trained_recommender_passes_and_untrained_fails",
        "test_recommender_built_in_another_order_passes_the_architecture_diff",
        "test_recommender_design_constraints_are_named",
        "test_recommender_trained_one_epoch_is_named_by_its_score",
    ],
}
