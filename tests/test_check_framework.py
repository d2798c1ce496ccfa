"""The check contract: statuses, never raising, placeholders, time limits, hints, rendering, progress."""

import json
import threading

import numpy as np
import pytest

from dlcourse import checks, collect, progress
from dlcourse.checks import diagnostics, framework


def test_result_contract_fields():
    result = checks.check("ch01.relu", lambda x: np.maximum(x, 0))
    assert result.status == "passed" and result.passed is True and isinstance(result.message, str)
    assert str(result).startswith("\u2714 ch01.relu: passed")
    assert "ch01.relu: passed" in result._repr_html_() and "#1e7e34" in result._repr_html_()


def test_failed_result_renders_red_with_escaped_message():
    result = checks.check("ch01.relu", lambda x: "<b>")
    assert result.status == "failed"
    html = result._repr_html_()
    assert "#b02a37" in html and "&lt;b&gt;" in html and "<b>'" not in html


@pytest.mark.parametrize("answer", [None, ..., 3, "relu", [1, 2], {"a": 1}, np.array([np.nan]), object()])
def test_check_never_raises_for_odd_answers(answer):
    result = checks.check("ch01.relu", answer)
    assert result.status in framework.STATUSES
    assert not result.passed


@pytest.mark.parametrize("answer", [None, 3, "model", np.zeros(3)])
def test_model_check_never_raises_for_non_models(answer):
    result = checks.check("ch01.moons_classifier", answer)
    assert result.status == "failed"
    assert "Expected a Keras model" in result.message or "None" in result.message


def test_ellipsis_is_not_attempted():
    assert checks.check("ch01.sigmoid", ...).status == "not_attempted"
    assert checks.check("ch01.moons_classifier", ...).status == "not_attempted"


def test_placeholder_function_bodies_are_not_attempted():
    def with_return_ellipsis(x):
        """Docstring kept by the student version."""
        # YOUR CODE HERE
        return ...

    def with_pass(x):
        pass

    def with_not_implemented(x):
        raise NotImplementedError()

    def with_bare_ellipsis(x):
        ...

    for placeholder in (with_return_ellipsis, with_pass, with_not_implemented, with_bare_ellipsis):
        result = checks.check("ch01.relu", placeholder)
        assert result.status == "not_attempted", placeholder.__name__
        assert "YOUR CODE HERE" in result.message


def test_function_returning_none_is_named():
    def forgot_return(x):
        np.maximum(x, 0)

    result = checks.check("ch01.relu", forgot_return)
    assert result.status == "failed"
    assert "returned None" in result.message and "`return`" in result.message


def test_passing_the_result_instead_of_the_function_is_named():
    result = checks.check("ch01.relu", np.maximum(np.array([1.0, -1.0]), 0))
    assert result.status == "failed"
    assert "Expected a function" in result.message and "not the result of calling it" in result.message


def test_student_exception_is_reported_with_the_student_line():
    def broken(x):
        return x + undefined_name  # noqa: F821

    result = checks.check("ch01.relu", broken)
    assert result.status == "error"
    assert "NameError" in result.message and "undefined_name" in result.message
    assert "The error happened in your line: `return x + undefined_name" in result.message


def test_sys_exit_in_student_code_is_reported():
    import sys

    result = checks.check("ch01.relu", lambda x: sys.exit(3))
    assert result.status == "error"
    assert "sys.exit()" in result.message


def test_infinite_loop_times_out(monkeypatch):
    monkeypatch.setattr(checks.get_exercise("ch01.relu"), "time_limit_seconds", 0.5)

    def spins(x):
        while True:
            pass

    result = checks.check("ch01.relu", spins)
    assert result.status == "error"
    assert "Timed out" in result.message and "0.5 seconds" in result.message


def test_time_limit_cannot_be_swallowed_by_except_exception(monkeypatch):
    monkeypatch.setattr(checks.get_exercise("ch01.relu"), "time_limit_seconds", 0.5)

    def stubborn(x):
        while True:
            try:
                while True:
                    pass
            except Exception:
                pass

    result = checks.check("ch01.relu", stubborn, record=False)
    assert result.status == "error"
    assert result.message.startswith("Timed out: your code did not finish within 0.5 seconds."), result.message


def test_time_limit_outside_the_main_thread(monkeypatch):
    monkeypatch.setattr(checks.get_exercise("ch01.relu"), "time_limit_seconds", 0.5)
    results = []

    def spins(x):
        import time

        time.sleep(5)

    worker = threading.Thread(target=lambda: results.append(checks.check("ch01.relu", spins)))
    worker.start()
    worker.join(10)
    assert results and results[0].status == "error" and "Timed out" in results[0].message


def test_unknown_exercise_raises_value_error_with_close_matches():
    with pytest.raises(ValueError, match=r"Unknown exercise id 'ch01\.sigmod'.*'ch01\.sigmoid'"):
        checks.check("ch01.sigmod", None)


def test_exercises_lists_ids_in_course_order():
    ids = checks.exercises()
    assert ids[:3] == ["ch01.sigmoid", "ch01.relu", "ch01.softmax"]
    assert checks.exercises(1) == checks.exercises("ch01") == checks.exercises("01")
    assert len(checks.exercises("ch01")) >= 6
    chapters = [exercise_id.split(".")[0] for exercise_id in ids]
    assert chapters == sorted(chapters)
    assert all(exercise_id.startswith("ch08.") for exercise_id in checks.exercises("ch08"))
    with pytest.raises(ValueError):
        checks.exercises("neurons")


def test_every_exercise_has_one_to_three_hints_and_a_title():
    for exercise_id in checks.exercises():
        exercise = checks.get_exercise(exercise_id)
        assert 1 <= len(exercise.hints) <= 3, exercise_id
        assert exercise.title


def test_hint_levels_are_clamped_and_render():
    first = checks.hint("ch01.softmax")
    assert first.level == 1 and first.num_levels == 3
    assert str(first).startswith("Hint 1 of 3 for ch01.softmax:")
    assert checks.hint("ch01.softmax", level=9).level == 3
    assert "Hint 3 of 3" in checks.hint("ch01.softmax", 3)._repr_html_()


def test_checks_record_progress(dlcourse_home):
    checks.check("ch01.relu", ...)
    checks.check("ch01.relu", np.abs)
    checks.check("ch01.relu", lambda x: np.maximum(x, 0))
    checks.check("ch01.sigmoid", np.tanh)
    record = json.loads((dlcourse_home / "progress.json").read_text())["exercises"]
    assert record["ch01.relu"]["status"] == "passed" and record["ch01.relu"]["attempts"] == 2
    assert record["ch01.sigmoid"]["status"] == "failed" and record["ch01.sigmoid"]["ever_passed"] is False
    chapter_one = progress.progress_rows()[0]
    assert chapter_one["passed"] == 1 and chapter_one["attempted"] == 1
    assert chapter_one["not_attempted"] == len(checks.exercises("ch01")) - 2


def test_concurrent_checks_lose_no_progress_entry(dlcourse_home):
    """Six processes (two notebooks' kernels, say) each record 30 results at once: all 180 entries survive."""
    import os
    import subprocess
    import sys

    script = ("import sys\n"
              "from dlcourse import progress\n"
              "from dlcourse.checks.framework import CheckResult\n"
              "for index in range(30):\n"
              "    progress.record_result(CheckResult(f'ch0{sys.argv[1]}.exercise_{index}', 'passed', 'ok'))\n")
    environment = {**os.environ, "DLCOURSE_HOME": str(dlcourse_home)}
    writers = [subprocess.Popen([sys.executable, "-c", script, str(worker)], env=environment) for worker in range(6)]
    assert [writer.wait(timeout=120) for writer in writers] == [0] * 6
    recorded = progress.load_progress()
    assert len(recorded) == 180 and all(entry["status"] == "passed" for entry in recorded.values())


def test_unwritable_progress_home_does_not_break_checks(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DLCOURSE_HOME", str(blocker / "home"))
    assert checks.check("ch01.relu", lambda x: np.maximum(x, 0)).passed


def test_corrupt_progress_file_is_replaced_not_fatal(dlcourse_home):
    dlcourse_home.mkdir(parents=True)
    (dlcourse_home / "progress.json").write_text("{not json")
    assert checks.check("ch01.relu", lambda x: np.maximum(x, 0)).passed
    assert progress.load_progress()["ch01.relu"]["status"] == "passed"


# ----------------------------------------------------------------- shared diagnostics


def test_diagnose_transposed_shape():
    message = diagnostics.compare_values(np.zeros((2, 3)), np.zeros((3, 2)))
    assert "Wrong shape: expected (2, 3), got (3, 2)" in message and "transposed" in message


def test_diagnose_off_by_constant():
    message = diagnostics.compare_values(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 3.5]))
    assert "off by the same constant +0.5" in message


def test_diagnose_constant_factor():
    message = diagnostics.compare_values(np.array([1.0, 2.0, 0.0]), np.array([2.0, 4.0, 0.0]))
    assert "2 times the correct one" in message


def test_diagnose_integer_dtype():
    message = diagnostics.compare_values(np.array([0.5, 1.0]), np.array([0, 1]))
    assert "Wrong dtype" in message and "int" in message


def test_diagnose_nan():
    message = diagnostics.compare_values(np.array([0.5, 1.0]), np.array([0.5, np.nan]))
    assert "NaN at index (1,)" in message


def test_diagnose_wrong_axis():
    logits = np.array([[1.0, 2.0], [3.0, 5.0]])
    from dlcourse.checks import ch01

    got = ch01.reference_softmax_along_axis(logits, 0)
    assert diagnostics.describe_wrong_axis(ch01.reference_softmax_along_axis, (logits,), got, -1) == (
        "You computed along axis 0, but the exercise asks for axis -1.")


def test_matching_values_give_no_message():
    assert diagnostics.compare_values(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-9]) == ""
    assert diagnostics.compare_values(50890, 50890.0) == ""


# ----------------------------------------------------------------- structured answers and scored functions


def _step(parameters, gradients, learning_rate):
    """Reference for the structured-answer tests: one gradient-descent step over a dict of arrays."""
    return {name: parameters[name] - learning_rate * gradients[name] for name in parameters}


STEP_EXERCISE = framework.FunctionExercise(
    exercise_id="test.step", title="A step", hints=["-"], reference=_step,
    cases=[framework.Case("two parameters", ({"W": np.ones((2, 2)), "b": np.zeros(2)},
                                             {"W": np.full((2, 2), 0.5), "b": np.ones(2)}, 0.1))],
    mistakes=[framework.Mistake("gradient ascent: the step must go against the gradient.",
                                lambda p, g, lr: {name: p[name] + lr * g[name] for name in p})])


def judged_through_plain_data(exercise, answer):
    """Judge an answer the way the grader does: collect, send as JSON, judge."""
    collected = json.loads(json.dumps(collect.collect(exercise.collection_request(), answer)))
    return framework.judge_collected(exercise, collected)


def test_dict_answers_are_compared_key_by_key():
    correct = lambda p, g, lr: {key: value - lr * g[key] for key, value in p.items()}  # noqa: E731
    assert judged_through_plain_data(STEP_EXERCISE, correct).passed
    missing = judged_through_plain_data(STEP_EXERCISE, lambda p, g, lr: {"W": p["W"] - lr * g["W"]})
    assert missing.status == "failed" and "missing the key(s) 'b'" in missing.message
    ascent = judged_through_plain_data(STEP_EXERCISE, lambda p, g, lr: {k: p[k] + lr * g[k] for k in p})
    assert "In `W`: Every value is off by the same constant" in ascent.message
    assert "Likely mistake: gradient ascent" in ascent.message


def test_an_answer_that_changes_a_dict_of_arrays_in_place_is_named():
    def in_place(parameters, gradients, learning_rate):
        for name in parameters:
            parameters[name] -= learning_rate * gradients[name]
        return parameters

    result = judged_through_plain_data(STEP_EXERCISE, in_place)
    assert result.status == "failed" and "changed its input (argument 1) in place" in result.message


def test_tuple_answers_are_compared_item_by_item():
    exercise = framework.FunctionExercise(
        exercise_id="test.pair", title="A pair", hints=["-"], reference=lambda x: (x.sum(axis=0), x * 2),
        cases=[framework.Case("a matrix", (np.arange(6.0).reshape(2, 3),))])
    assert judged_through_plain_data(exercise, lambda x: (np.sum(x, 0), 2 * x)).passed
    wrong = judged_through_plain_data(exercise, lambda x: (x.sum(axis=1), 2 * x))
    assert "In result 1 of 2: Wrong shape: expected (3,), got (2,)" in wrong.message
    single = judged_through_plain_data(exercise, lambda x: 2 * x)
    assert "Expected 2 results (return them as a tuple" in single.message


SCORED_EXERCISE = framework.ScoredFunctionExercise(
    exercise_id="test.fit", title="Fit a threshold", hints=["-"],
    cases=[framework.Case("points on a line", (np.linspace(-1, 1, 21),))],
    score_output=lambda case, threshold: (float(np.mean((case.args[0] > threshold) == (case.args[0] > 0.2))), ""),
    minimum_score=0.95, metric_name="held-out accuracy", low_score_advice="Look at where the classes change.")


def test_a_scored_function_passes_on_its_score_and_fails_below_the_minimum():
    passed = judged_through_plain_data(SCORED_EXERCISE, lambda points: 0.2)
    assert passed.passed and passed.message == "held-out accuracy 1.000 (at least 0.95 needed)."
    low = judged_through_plain_data(SCORED_EXERCISE, lambda points: -0.5)
    assert low.status == "failed" and "held-out accuracy is 0.714, below the required 0.95" in low.message
    unusable = judged_through_plain_data(SCORED_EXERCISE, lambda points: "threshold")
    assert unusable.status == "failed" and "could not be used" in unusable.message


# ----------------------------------------------------------------- choices and configured objects

CURVES_EXERCISE = framework.ChoiceExercise(
    exercise_id="test.curves", title="Read the curves", hints=["-"],
    answers={"A": "overfitting", "B": "underfitting"}, choices=("underfitting", "overfitting", "good fit"),
    explanations={"A:good fit": "Validation loss rises while training loss falls.",
                  "underfitting": "Underfitting means both losses stay high."})


def test_choice_answers_are_normalised_and_each_wrong_choice_is_explained():
    assert judged_through_plain_data(CURVES_EXERCISE, {"A": " Overfitting", "B": "underfitting"}).passed
    wrong = judged_through_plain_data(CURVES_EXERCISE, {"A": "good fit", "B": "underfitting"})
    assert wrong.status == "failed" and wrong.message == "A: not 'good fit'. Validation loss rises while training loss falls."
    both = judged_through_plain_data(CURVES_EXERCISE, {"A": "underfitting", "B": "overfitting"})
    assert "A: not 'underfitting'. Underfitting means both losses stay high." in both.message
    assert "B: not 'overfitting'." in both.message


def test_choice_answers_of_the_wrong_form_are_explained():
    assert "one choice per question" in judged_through_plain_data(CURVES_EXERCISE, "overfitting").message
    assert "No answer for 'B'" in judged_through_plain_data(CURVES_EXERCISE, {"A": "overfitting"}).message
    assert "is not one of the choices" in judged_through_plain_data(
        CURVES_EXERCISE, {"A": "overfit", "B": "underfitting"}).message
    assert judged_through_plain_data(CURVES_EXERCISE, ...).status == "not_attempted"
    single = framework.ChoiceExercise(exercise_id="test.one", title="One", hints=["-"], answers={"": "b"},
                                      choices=("a", "b"), explanations={"a": "A is the slow one."})
    assert judged_through_plain_data(single, "B").passed
    assert judged_through_plain_data(single, "a").message == "not 'a'. A is the slow one."


def _judge_stopper(attributes):
    """Test judge: patience 3 on val_loss."""
    if attributes["monitor"] != "val_loss":
        return "Monitor the validation loss."
    return "" if attributes["patience"] == 3 else f"patience is {attributes['patience']}, not 3."


STOPPER_EXERCISE = framework.ConfiguredObjectExercise(
    exercise_id="test.stopper", title="Stop early", hints=["-"], expected_type="EarlyStopping",
    attributes=("monitor", "patience", "restore_best_weights"), judge_attributes=_judge_stopper)


def test_a_configured_object_travels_as_its_class_name_and_attributes():
    import keras

    assert judged_through_plain_data(STOPPER_EXERCISE, keras.callbacks.EarlyStopping(patience=3)).passed
    assert judged_through_plain_data(
        STOPPER_EXERCISE, keras.callbacks.EarlyStopping(monitor="loss", patience=3)).message == (
        "Monitor the validation loss.")
    wrong_type = judged_through_plain_data(STOPPER_EXERCISE, keras.callbacks.ModelCheckpoint("m.keras"))
    assert wrong_type.message == "Expected an EarlyStopping object, but got a ModelCheckpoint."
    assert "is None" in judged_through_plain_data(STOPPER_EXERCISE, None).message
    assert judged_through_plain_data(STOPPER_EXERCISE, ...).status == "not_attempted"


# ----------------------------------------------------------------- held-out accuracy of a classifier


def test_classification_accuracy_of_binary_probabilities():
    accuracy, problem = diagnostics.classification_accuracy([0.9, 0.2, 0.7, 0.4], [1, 0, 0, 0])
    assert (accuracy, problem) == (0.75, "")


def test_classification_accuracy_takes_the_argmax_of_rows():
    accuracy, problem = diagnostics.classification_accuracy([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], [1, 0, 0])
    assert accuracy == pytest.approx(2 / 3) and problem == ""


def test_classification_accuracy_names_nan_outputs_as_divergence():
    accuracy, problem = diagnostics.classification_accuracy([0.9, float("nan")], [1, 0], subject="network",
                                                            diverged_advice="Lower the learning rate.")
    assert (accuracy, problem) == (0.0, "Your network outputs NaN: training diverged. Lower the learning rate.")


def test_classification_accuracy_names_a_single_predicted_class():
    accuracy, problem = diagnostics.classification_accuracy(
        [[0.0, 0.0, 1.0]] * 4, [2, 0, 1, 2], item="image", class_phrase="the digit {}", one_class_advice="Train it.")
    assert accuracy == 0.5
    assert problem == "Your model predicts the digit 2 for every image (accuracy 0.50). Train it."
