"""The watched grading kernel on its own: interrupts, errors, memory and crashes (no TensorFlow)."""

import pytest

from dlcourse.grading.runner import Limits, WatchedKernel


@pytest.fixture
def kernel(tmp_path):
    """A started kernel in a scratch folder, stopped afterwards."""
    watched = WatchedKernel(str(tmp_path), Limits(memory_limit_mb=800))
    watched.start()
    yield watched
    watched.stop()


def test_requests_after_an_interrupted_cell_still_run(kernel):
    for attempt in range(3):
        assert kernel.run("while True:\n    pass", timeout_seconds=1).status == "timeout"
        outcome = kernel.run("value = 40 + 2", timeout_seconds=30, user_expressions={"v": "value"})
        assert outcome.status == "ok", (attempt, outcome)
        assert outcome.user_expressions["v"]["data"]["text/plain"] == "42"


def test_requests_after_an_error_still_run(kernel):
    assert kernel.run("raise ValueError('x')", timeout_seconds=30).error == "ValueError: x"
    assert kernel.run("1 + 1", timeout_seconds=30).status == "ok"


def test_memory_cap_kills_the_kernel(kernel):
    outcome = kernel.run("hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))", timeout_seconds=60)
    assert outcome.status == "memory" and "memory limit of 800 MB" in outcome.error
    assert not kernel.is_alive()


def test_os_exit_is_reported_as_dead(kernel):
    assert kernel.run("import os\nos._exit(1)", timeout_seconds=30).status == "dead"


def test_every_exercise_kind_collects_in_a_grading_kernel_and_is_judged_here(kernel):
    """Each of the framework's six exercise kinds is collected in the kernel as plain data (a JSON round trip),
    then judged in this process: a function, a scored function, a choice, a configured object, a model and a
    design task."""
    import json

    from dlcourse import checks
    from dlcourse.checks import framework
    from dlcourse.grading import runner
    from test_check_framework import CURVES_EXERCISE, SCORED_EXERCISE, STEP_EXERCISE, STOPPER_EXERCISE

    model_exercise, design_exercise = checks.get_exercise("ch06.discriminator"), checks.get_exercise(
        "ch01.moons_classifier")
    kinds = {type(exercise) for exercise in (STEP_EXERCISE, SCORED_EXERCISE, CURVES_EXERCISE, STOPPER_EXERCISE,
                                             model_exercise, design_exercise)}
    assert kinds == {framework.FunctionExercise, framework.ScoredFunctionExercise, framework.ChoiceExercise,
                     framework.ConfiguredObjectExercise, framework.ModelExercise, framework.DesignExercise}
    assert kernel.run(runner.SETUP_CODE, timeout_seconds=60).status == "ok"
    kernel.run("import keras, numpy as np\n"
               "curve_answers = {'A': 'overfitting', 'B': 'good fit'}\n"
               "stopper = keras.callbacks.EarlyStopping(monitor='val_loss', patience=3)\n"
               "def step(p, g, lr):\n    return {k: p[k] - lr * g[k] for k in p}\n"
               "def threshold(points):\n    return 0.2\n"
               "colour_discriminator = keras.Sequential([keras.Input(shape=(32, 32, 3)),\n"
               "    keras.layers.Conv2D(32, 4, strides=2, padding='same'), keras.layers.LeakyReLU(0.2),\n"
               "    keras.layers.Conv2D(64, 4, strides=2, padding='same'), keras.layers.LeakyReLU(0.2),\n"
               "    keras.layers.Flatten(), keras.layers.Dropout(0.3), keras.layers.Dense(1)])\n"
               "untrained_moons = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(8, activation='tanh'),\n"
               "    keras.layers.Dense(1, activation='sigmoid')])\n", timeout_seconds=120)
    results = {}
    for exercise, expression in [(CURVES_EXERCISE, "curve_answers"), (STOPPER_EXERCISE, "stopper"),
                                 (STEP_EXERCISE, "step"), (SCORED_EXERCISE, "threshold"),
                                 (model_exercise, "colour_discriminator"), (design_exercise, "untrained_moons")]:
        outcome = kernel.run(runner.collection_code(exercise.collection_request(), expression), timeout_seconds=120,
                             user_expressions={"result": f"{runner.KERNEL_HELPER}.last_result"})
        collected, problem = runner._parse_collected(outcome)
        assert problem == "", problem
        results[exercise.exercise_id] = framework.judge_collected(exercise, json.loads(json.dumps(collected)))
    assert results["test.curves"].message == "B: not 'good fit'."
    assert results["test.stopper"].passed and results["test.step"].passed
    assert results["test.fit"].passed and results["test.fit"].message == "held-out accuracy 1.000 (at least 0.95 needed)."
    assert results["ch06.discriminator"].passed, results["ch06.discriminator"].message
    moons = results["ch01.moons_classifier"]
    assert moons.status == "failed" and "meets the constraints (33 parameters" in moons.message
    assert "Never trained: `dense_1` (biases all exactly 0)" in moons.message
