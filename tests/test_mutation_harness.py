"""A fast subset of the mutation harness (issue 21 §1): pinned mutant counts and verdicts on a few small exercises."""

import ast
import collections

import pytest

import mutation
from dlcourse import checks

# exercise id -> (generated, rejected, likely equivalent, survived, broken, flagged messages), as observed
PINNED_COUNTS = {
    "ch01.relu": (4, 4, 0, 0, 0, 0),
    "ch01.softmax": (14, 14, 0, 0, 0, 0),
    "ch02.mse": (6, 6, 0, 0, 0, 0),
    "ch03.huber": (11, 11, 0, 0, 0, 0),
    "ch02.dense_backward": (5, 5, 0, 0, 0, 0),
    "ch03.best_learning_rate": (4, 3, 1, 0, 0, 0),
    "ch03.minibatch_indices": (14, 14, 0, 0, 0, 0),
    "ch04.conv_output_size": (10, 10, 0, 0, 0, 0),
    "ch06.missing_modes": (1, 1, 0, 0, 0, 0),
    "ch07.trainable_flags": (5, 5, 0, 0, 0, 0),
    "ch08.scaled_dot_product_attention": (16, 16, 0, 0, 0, 0),
    "ch06.discriminator": (36, 36, 0, 0, 0, 0),
    "ch09.discounted_returns": (10, 9, 1, 0, 0, 0),
    "ch09.normalized_adjacency": (7, 7, 0, 0, 0, 0),
}
# operators whose sites the subset lacks (no recurrent layer, no `activation=` or `trainable` in the subset's
# builders): tested on small sources below
OPERATORS_TESTED_ON_SNIPPETS = {"drop_activation", "flip_return_sequences", "flip_trainable"}


@pytest.fixture(scope="module")
def subset_reports():
    """The mutation reports of the pinned subset, computed once."""
    return {exercise_id: mutation.run_exercise(checks.get_exercise(exercise_id)) for exercise_id in PINNED_COUNTS}


@pytest.mark.parametrize("exercise_id", list(PINNED_COUNTS))
def test_pinned_counts_per_exercise(subset_reports, exercise_id):
    """Each exercise of the subset has exactly the observed numbers of mutants per verdict."""
    report = subset_reports[exercise_id]
    observed = (len(report.results), report.count(mutation.REJECTED), report.count(mutation.LIKELY_EQUIVALENT),
                report.count(mutation.SURVIVED), report.count(mutation.BROKEN), len(report.flagged))
    assert observed == PINNED_COUNTS[exercise_id]


def test_every_operator_generates_a_mutant_in_the_subset(subset_reports):
    """Each operator class applies somewhere in the subset (three model operators on snippets instead)."""
    used = {result.mutant.operator.name for report in subset_reports.values() for result in report.results}
    assert used == {operator.name for operator in mutation.OPERATORS} - OPERATORS_TESTED_ON_SNIPPETS
    assert len(mutation.OPERATORS) == 20


def snippet_replacements(operator_name, source):
    """Every replacement one operator proposes anywhere in a small source, as source."""
    operator = next(operator for operator in mutation.OPERATORS if operator.name == operator_name)
    tree = ast.parse(source)
    parents = mutation.parent_map(tree)
    return [ast.unparse(replacement) for node in ast.walk(tree) for replacement in operator.replacements(node, parents)]


def test_model_operators_on_snippets():
    """The model operators propose the mistakes of issue 21 on Keras builder code."""
    assert snippet_replacements("drop_activation", "keras.layers.Dense(16, activation='relu')") == [
        "keras.layers.Dense(16)"]
    assert snippet_replacements("flip_return_sequences", "keras.layers.LSTM(8)") == [
        "keras.layers.LSTM(8, return_sequences=True)"]
    assert snippet_replacements("flip_return_sequences", "layers.GRU(8, return_sequences=True)") == [
        "layers.GRU(8, return_sequences=False)"]
    assert snippet_replacements("flip_trainable", "base.trainable = False") == ["True"]
    assert snippet_replacements("wrong_units", "keras.layers.Embedding(100, 8)") == [
        "keras.layers.Embedding(100, 16)", "keras.layers.Embedding(100, 4)"]
    assert snippet_replacements("wrong_padding", "keras.layers.Conv2D(8, 3)") == [
        "keras.layers.Conv2D(8, 3, padding='same')"]
    assert snippet_replacements("missing_layer", "keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(4), "
                                                 "keras.layers.Dense(1)])") == [
        "[keras.Input(shape=(2,)), keras.layers.Dense(1)]", "[keras.Input(shape=(2,)), keras.layers.Dense(4)]"]
    assert snippet_replacements("missing_layer", "keras.layers.Flatten()(x)") == ["x"]
    assert snippet_replacements("removed_seeding", "np.random.default_rng(seed).normal(size=3)") == [
        "np.random.default_rng()"]
    assert snippet_replacements("removed_seeding", "keras.layers.Dropout(0.3, seed=1)") == [
        "keras.layers.Dropout(0.3)"]


def test_minibatch_unseeded_generator_is_rejected(subset_reports):
    """Removing the seed from np.random.default_rng(seed) makes the batches differ from run to run: rejected."""
    results = [result for result in subset_reports["ch03.minibatch_indices"].results
               if result.mutant.operator.name == "removed_seeding"]
    assert [result.verdict for result in results] == [mutation.REJECTED]


def test_model_mutants_are_rejected_by_the_architecture_diff_without_training(subset_reports):
    """The discriminator's mutants: each rejected by the layer diff (or, for a declared input shape that the diff
    does not see, by the score's input-shape problem), none trained."""
    results = subset_reports["ch06.discriminator"].results
    by_replacement = {result.mutant.replacement: result for result in results}
    assert "different activation function" in by_replacement[
        "keras.layers.Dense(1, activation='sigmoid')"].message
    declared = sorted(result.message.split(";")[0] for result in results if "input shape is" in result.message)
    assert declared == ["Your discriminator's input shape is (None, 31, 32, 3)",
                        "Your discriminator's input shape is (None, 32, 31, 3)"]
    padding = [result for result in results if result.mutant.operator.name == "wrong_padding"]
    assert padding and all("padding" in result.message.splitlines()[-1] for result in padding)


def test_not_mutated_exercises_say_why():
    """Choice, configured-object and scored exercises without a reference get a reason instead of mutants."""
    assert "multiple-choice" in mutation.run_exercise(checks.get_exercise("ch03.curve_diagnoses")).not_mutated
    assert "configured" in mutation.run_exercise(checks.get_exercise("ch08.text_vectorizer")).not_mutated
    assert "trains a Keras model" in mutation.not_mutated_reason(checks.get_exercise("ch07.predict_digits"))
    assert "a design task" in mutation.not_mutated_reason(checks.get_exercise("ch07.fine_tune"))


def test_relu_mutants_are_exactly_the_expected_ones(subset_reports):
    """ReLU's four mutants: maximum → minimum, the wrapper dropped, and the 0 bound moved by one either way."""
    mutants = [(result.mutant.operator.name, result.mutant.original, result.mutant.replacement)
               for result in subset_reports["ch01.relu"].results]
    assert mutants == [("swap_maximum_minimum", "np.maximum(x, 0)", "np.minimum(x, 0)"),
                       ("drop_clip_wrapper", "np.maximum(x, 0)", "x"),
                       ("off_by_one", "0", "1"),
                       ("off_by_one", "0", "-1")]


def test_mutants_are_not_mistaken_for_the_reference(subset_reports):
    """Mutants compile outside dlcourse.checks, so no rejection says the answer is the course's reference."""
    messages = [result.message for report in subset_reports.values() for result in report.results]
    assert not [message for message in messages if "reference implementation" in message]


def test_softmax_min_subtraction_is_rejected_and_named(subset_reports):
    """Softmax's former gap, closed by a row 800 apart: subtracting the row minimum overflows there, and is named."""
    results = {result.mutant.replacement: result for result in subset_reports["ch01.softmax"].results}
    minimum = results["np.min(logits, axis=axis, keepdims=True)"]
    assert minimum.verdict == mutation.REJECTED
    assert "subtracted each row's minimum instead of its maximum" in minimum.message


def test_best_learning_rate_nan_only_test_is_rejected_and_inf_only_test_is_equivalent(subset_reports):
    """isfinite → ~isnan lets a run that diverged to inf win (rejected since the inf-only case); ~isinf acts the same
    (NaN never compares less)."""
    results = subset_reports["ch03.best_learning_rate"].results
    verdicts = {result.mutant.replacement: result.verdict for result in results
                if result.mutant.operator.name == "swap_nan_inf"}
    assert verdicts == {"~np.isnan(losses)": mutation.REJECTED, "~np.isinf(losses)": mutation.LIKELY_EQUIVALENT}


def test_best_learning_rate_min_to_max_mutants_no_longer_match_a_named_mistake_by_coincidence(subset_reports):
    """Picking by the highest validation loss used to be named as 'picked by the training loss' or 'compared only the
    last epoch' (they matched on every case); the noisy five-rate case separates them, so no mistake is named."""
    report = subset_reports["ch03.best_learning_rate"]
    assert report.flagged == []
    swapped = [result for result in report.results if result.mutant.operator.name == "swap_reduction"]
    assert len(swapped) == 2 and all("Likely mistake" not in result.message for result in swapped)


def test_adam_nan_from_a_negative_second_moment_is_not_blamed_on_overflow():
    """A sign flip or wrong power in Adam's v gives sqrt of a negative: the NaN message lists that cause among the
    others instead of blaming np.exp overflow (it did, before the diagnostics stopped guessing)."""
    report = mutation.run_exercise(checks.get_exercise("ch03.adam_step"))
    assert (len(report.results), len(report.flagged)) == (28, 0)
    sign_flip = next(result for result in report.results
                     if result.mutant.replacement == "beta_2 * v - (1.0 - beta_2) * gradient ** 2")
    assert "the square root or logarithm of a negative number" in sign_flip.message
    assert "usually overflow" not in sign_flip.message


def generated_mutant_counts(chapters):
    """(exercise id -> number of mutants, ids not mutated) over the chapters; every mutant must parse."""
    counts, skipped = {}, set()
    for chapter in chapters:
        for exercise_id in checks.exercises(chapter):
            exercise = checks.get_exercise(exercise_id)
            if mutation.not_mutated_reason(exercise):
                skipped.add(exercise_id)
                continue
            mutants = mutation.generate_mutants(exercise)
            for mutant in mutants:
                ast.parse(mutant.source)
            counts[exercise_id] = len(mutants)
    return counts, skipped


def test_generation_never_raises_on_chapters_01_to_08_without_05():
    """Every exercise of chapters 01–04 and 06–08 yields mutants that parse, or a reason why it has none."""
    counts, skipped = generated_mutant_counts((1, 2, 3, 4, 6, 7, 8))
    assert skipped == {"ch01.moons_classifier", "ch03.curve_diagnoses", "ch03.early_stopping", "ch03.regularised_mlp",
                       "ch04.cnn_classifier", "ch07.fine_tune", "ch07.predict_digits", "ch08.recommender_model",
                       "ch08.text_vectorizer"}
    assert len(counts) == 42
    assert counts["ch02.train_two_layer_network"] == 43  # the scored exercise's module reference
    assert sum(counts.values()) == 597
    assert min(counts.values()) >= 1


def test_generation_never_raises_on_chapter_09():
    """Every exercise of chapter 09 yields mutants that parse, or a reason why it has none (the design task and the
    scored GCN, which trains a model)."""
    counts, skipped = generated_mutant_counts((9,))
    assert skipped == {"ch09.cartpole_policy", "ch09.gcn_classifier"}
    assert counts == {"ch09.discounted_returns": 10, "ch09.epsilon_greedy_probabilities": 19,
                      "ch09.q_learning_update": 10, "ch09.reinforce_loss": 16, "ch09.normalized_adjacency": 7,
                      "ch09.graph_convolution": 5}


def test_discounted_returns_equivalent_mutant_has_its_reason(subset_reports):
    """The one equivalent mutant of ch09.discounted_returns (`rewards[0]` → `rewards[-1]` inside `np.zeros_like`) is
    equivalent for the recorded reason; every other mutant is rejected."""
    report = subset_reports["ch09.discounted_returns"]
    equivalent = [result for result in report.results if result.verdict == mutation.LIKELY_EQUIVALENT]
    assert [(result.mutant.original, result.mutant.replacement) for result in equivalent] == [("0", "-1")]
    reason = mutation.equivalence_reason(checks.get_exercise("ch09.discounted_returns"), equivalent[0])
    assert "only the shape of the zeros matters" in reason


def test_probes_keep_shapes_dtypes_and_the_unit_interval():
    """Probes have the cases' shapes and dtypes, and probabilities stay in [0, 1]."""
    exercise = checks.get_exercise("ch02.binary_cross_entropy")
    probes = mutation.probe_inputs(exercise)
    assert len(probes) == len(exercise.cases) * len(mutation.PROBE_STYLES)
    for index, (args, _) in enumerate(probes):
        case = exercise.cases[index // len(mutation.PROBE_STYLES)]
        for original, probe in zip(case.args, args):
            assert (probe.shape, probe.dtype) == (original.shape, original.dtype)
            assert probe.min() >= 0.0 and probe.max() <= 1.0


def test_markdown_report_has_its_sections(subset_reports):
    """The report has the totals table and the three sections."""
    text = mutation.markdown_report(list(subset_reports.values()), [1, 2, 3])
    for heading in ("## Per chapter", "## Per exercise", "## SURVIVED: real gaps", "## Equivalent",
                    "## Messages that may name the wrong cause"):
        assert heading in text
    assert "| **total** | 143 | 141 | 2 | 0 | 0 | 0 |" in text
    exercise_rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ch") and "." in
                     line.split(" | ")[0]]
    assert collections.Counter(exercise_rows) == collections.Counter(f"| {exercise_id}" for exercise_id in PINNED_COUNTS)
    assert "NO REASON RECORDED" not in text


def test_the_committed_report_covers_every_exercise_with_no_survivor_and_no_wrong_cause():
    """tests/mutation_report.md (the full run) lists every exercise of chapters 01-09, every non-equivalent mutant
    rejected, every equivalent one with its reason, and no message naming a cause its mutant doesn't have."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parent / "mutation_report.md").read_text(encoding="utf-8")
    for chapter in range(1, 10):
        for exercise_id in checks.exercises(chapter):
            assert f"| {exercise_id} |" in text, exercise_id
    total = re.search(r"\| \*\*total\*\* \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", text)
    generated, rejected, equivalent, survived, broken, flagged = map(int, total.groups())
    assert (survived, broken, flagged) == (0, 0, 0)
    assert rejected + equivalent == generated > 600
    assert "NO REASON RECORDED" not in text
    assert text.split("## Messages that may name the wrong cause", 1)[1].strip().endswith("None.")
