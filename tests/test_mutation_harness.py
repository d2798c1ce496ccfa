"""A fast subset of the mutation harness (issue 21 §1): pinned mutant counts and verdicts on a few small exercises."""

import ast
import collections

import pytest

import mutation
from dlcourse import checks
from dlcourse.checks.framework import FunctionExercise

# exercise id -> (generated, rejected, likely equivalent, survived, broken, flagged messages), as observed
PINNED_COUNTS = {
    "ch01.relu": (4, 4, 0, 0, 0, 0),
    "ch01.softmax": (14, 14, 0, 0, 0, 0),
    "ch02.mse": (6, 6, 0, 0, 0, 0),
    "ch03.huber": (11, 11, 0, 0, 0, 0),
    "ch02.dense_backward": (5, 5, 0, 0, 0, 0),
    "ch03.best_learning_rate": (4, 3, 1, 0, 0, 2),
}


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
    """Each operator class applies somewhere in the subset."""
    used = {result.mutant.operator.name for report in subset_reports.values() for result in report.results}
    assert used == {operator.name for operator in mutation.OPERATORS}
    assert len(mutation.OPERATORS) == 12


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


def test_best_learning_rate_messages_name_a_mistake_that_differs_on_probes(subset_reports):
    """Picking by the highest validation loss is named as another mistake that only matches on the cases."""
    flagged = subset_reports["ch03.best_learning_rate"].flagged
    assert [(result.mutant.operator.name, result.wrong_cause_topics) for result in flagged] == [
        ("swap_reduction", ("named mistake",)), ("swap_reduction", ("named mistake",))]
    assert all(result.difference is not None for result in flagged)


def test_adam_nan_from_a_negative_second_moment_is_not_blamed_on_overflow():
    """A sign flip or wrong power in Adam's v gives sqrt of a negative: the NaN message lists that cause among the
    others instead of blaming np.exp overflow (it did, before the diagnostics stopped guessing)."""
    report = mutation.run_exercise(checks.get_exercise("ch03.adam_step"))
    assert (len(report.results), len(report.flagged)) == (28, 0)
    sign_flip = next(result for result in report.results
                     if result.mutant.replacement == "beta_2 * v - (1.0 - beta_2) * gradient ** 2")
    assert "the square root or logarithm of a negative number" in sign_flip.message
    assert "usually overflow" not in sign_flip.message


def test_generation_never_raises_on_chapters_01_to_03():
    """Every function exercise of chapters 01–03 yields mutants that parse (the scored one, without reference, none)."""
    counts = {}
    for chapter in (1, 2, 3):
        for exercise_id in checks.exercises(chapter):
            exercise = checks.get_exercise(exercise_id)
            if isinstance(exercise, FunctionExercise):
                mutants = mutation.generate_mutants(exercise)
                for mutant in mutants:
                    ast.parse(mutant.source)
                counts[exercise_id] = len(mutants)
    assert len(counts) == 22
    assert counts["ch02.train_two_layer_network"] == 0
    assert sum(counts.values()) == 185
    assert min(count for exercise_id, count in counts.items() if exercise_id != "ch02.train_two_layer_network") >= 2


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
    for heading in ("## SURVIVED: real gaps", "## Likely equivalent", "## Messages that may name the wrong cause"):
        assert heading in text
    assert "| **total** | 44 | 43 | 1 | 0 | 0 | 2 |" in text
    assert collections.Counter(line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ch")) == \
        collections.Counter(f"| {exercise_id}" for exercise_id in PINNED_COUNTS)
