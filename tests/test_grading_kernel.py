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
    """A choice and a configured object are collected in the kernel as plain data, then judged in this process."""
    import json

    from dlcourse.checks import framework
    from dlcourse.grading import runner
    from test_check_framework import CURVES_EXERCISE, STEP_EXERCISE, STOPPER_EXERCISE

    assert kernel.run(runner.SETUP_CODE, timeout_seconds=60).status == "ok"
    kernel.run("import keras, numpy as np\n"
               "curve_answers = {'A': 'overfitting', 'B': 'good fit'}\n"
               "stopper = keras.callbacks.EarlyStopping(monitor='val_loss', patience=3)\n"
               "def step(p, g, lr):\n    return {k: p[k] - lr * g[k] for k in p}\n", timeout_seconds=120)
    results = {}
    for exercise, expression in [(CURVES_EXERCISE, "curve_answers"), (STOPPER_EXERCISE, "stopper"),
                                 (STEP_EXERCISE, "step")]:
        outcome = kernel.run(runner.collection_code(exercise.collection_request(), expression), timeout_seconds=60,
                             user_expressions={"result": f"{runner.KERNEL_HELPER}.last_result"})
        collected, problem = runner._parse_collected(outcome)
        assert problem == "", problem
        results[exercise.exercise_id] = framework.judge_collected(exercise, json.loads(json.dumps(collected)))
    assert results["test.curves"].message == "B: not 'good fit'."
    assert results["test.stopper"].passed and results["test.step"].passed
