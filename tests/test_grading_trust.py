"""Grading you can trust: each attack or fault found against the grader, with the exact grade it now gets.

The answers are judged outside the student's kernel, the kernel holds none of the course's answers,
a background thread can't cost later exercises their grade, and a named mistake must fit every case.
"""

import base64
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from dlcourse import checks, collect
from dlcourse.checks import framework
from grading_helpers import (ALL_IDS, CORRECT, grade_batch_with_cli, mini_course, solution_answers,  # noqa: F401
                             statuses, student_notebook, with_answers)

STACK_READER = '''import inspect

def relu(x):
    """Return whatever the checker expects, found on the call stack (or in any object holding a reference)."""
    import gc
    frame = inspect.currentframe().f_back
    while frame is not None:
        for name, value in frame.f_locals.items():
            if name in ("expected", "expected_array"):
                return value
            if hasattr(value, "reference") and callable(getattr(value, "reference")):
                return value.reference(x)
        frame = frame.f_back
    for candidate in gc.get_objects():
        try:
            if getattr(candidate, "exercise_id", None) == "ch01.relu" and hasattr(candidate, "reference"):
                return candidate.reference(x)
        except Exception:
            continue
    return x
'''
FRAMEWORK_PATCHER = '''import sys
for module in list(sys.modules.values()):
    for name in ("run_with_time_limit", "evaluate_answer", "judge_collected"):
        if hasattr(module, name):
            setattr(module, name, lambda *args, **kwargs: "Correct.")

def sigmoid(x):
    """The logistic sigmoid 1 / (1 + exp(-x)), element-wise."""
    # YOUR CODE HERE
    return ...
'''
PACKAGED_REFERENCE = "from dlcourse.checks.ch01 import reference_relu as relu"
HIDDEN_REFERENCE = ('relu = getattr(__import__("dlcourse.che" + "cks.ch01", fromlist=["x"]), "reference_" + "relu")')
CPU_BURNER = '''import threading

def burn():
    while True:
        pass

threading.Thread(target=burn, daemon=True).start()

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))
'''
MEAN_NEURON = "def neuron_output(inputs, weights, bias):\n    return sigmoid(np.mean(inputs * weights) + bias)"
CHECK_LEFT_IN_CELL = CORRECT["ch01.relu"] + "\n\nfrom dlcourse import checks\nprint(checks.check('ch01.relu', relu))\nchecks.hint('ch01.relu')"


@pytest.fixture(scope="module")
def graded(mini_course, student_notebook, tmp_path_factory):
    """Grade one submission per finding with the CLI and return {student: {exercise: row}}."""
    correct = solution_answers(mini_course)
    notebooks = {
        "stack_reader": with_answers(student_notebook, {"ch01.relu": STACK_READER}),
        "framework_patcher": with_answers(student_notebook, {"ch01.sigmoid": FRAMEWORK_PATCHER}),
        "packaged_reference": with_answers(student_notebook, {"ch01.relu": PACKAGED_REFERENCE,
                                                              "ch01.sigmoid": CORRECT["ch01.sigmoid"]}),
        "hidden_reference": with_answers(student_notebook, {"ch01.relu": HIDDEN_REFERENCE}),
        "check_left_in_cell": with_answers(student_notebook, {"ch01.relu": CHECK_LEFT_IN_CELL}),
        "cpu_burner": with_answers(student_notebook, {**correct, "ch01.sigmoid": CPU_BURNER}),
        "mean_neuron": with_answers(student_notebook, {"ch01.sigmoid": CORRECT["ch01.sigmoid"],
                                                       "ch01.neuron_output": MEAN_NEURON}),
    }
    return grade_batch_with_cli(notebooks, "trust", mini_course, tmp_path_factory)


def points(table, student):
    """The student's total points."""
    return sum(float(row["points"]) for row in table[student].values())


def test_reading_the_expected_value_off_the_stack_finds_nothing(graded):
    assert statuses(graded, "stack_reader") == ["not_attempted", "failed"] + ["not_attempted"] * 5
    assert "Wrong values" in graded["stack_reader"]["ch01.relu"]["message"]


def test_patching_the_check_framework_gains_nothing(graded):
    assert statuses(graded, "framework_patcher") == ["not_attempted"] * 7
    assert points(graded, "framework_patcher") == 0


def test_the_packaged_reference_scores_zero_with_a_clear_message(graded):
    assert statuses(graded, "packaged_reference") == ["passed", "failed"] + ["not_attempted"] * 5
    message = graded["packaged_reference"]["ch01.relu"]["message"]
    assert "uses the course's reference implementation (`import dlcourse.checks.ch01`)" in message


def test_a_disguised_import_of_the_reference_is_refused_in_the_kernel(graded):
    assert statuses(graded, "hidden_reference") == ["not_attempted", "failed"] + ["not_attempted"] * 5
    assert "uses the course's reference implementation" in graded["hidden_reference"]["ch01.relu"]["message"]


def test_a_check_call_left_in_an_exercise_cell_is_harmless(graded):
    assert statuses(graded, "check_left_in_cell") == ["not_attempted", "passed"] + ["not_attempted"] * 5


def test_a_cpu_burning_thread_costs_no_later_exercise_its_grade(graded):
    assert statuses(graded, "cpu_burner") == ["passed"] * 7


def test_mean_instead_of_sum_is_not_called_a_missing_bias(graded):
    assert statuses(graded, "mean_neuron") == ["passed", "not_attempted", "not_attempted", "failed"] + ["not_attempted"] * 3
    message = graded["mean_neuron"]["ch01.neuron_output"]["message"]
    assert "bias is missing" not in message and "np.mean" in message


# ------------------------------------------------------------------ diagnoses that don't mislead


def test_a_mistake_is_named_only_when_it_fits_every_case():
    def mean_neuron(inputs, weights, bias):
        return 1.0 / (1.0 + np.exp(-(np.mean(inputs * weights) + bias)))

    def no_bias_on_first_case_only(inputs, weights, bias):
        if bias == 0.2:  # agrees with the "bias is missing" mistake on the first case only
            return 1.0 / (1.0 + np.exp(-np.dot(inputs, weights)))
        return 0.0

    message = checks.check("ch01.neuron_output", mean_neuron, record=False).message
    assert "Likely mistake: `np.mean` averages the weighted inputs" in message
    message = checks.check("ch01.neuron_output", no_bias_on_first_case_only, record=False).message
    assert message.startswith("On three inputs") and "Likely mistake" not in message


def test_scalars_print_as_numbers():
    result = checks.check("ch01.count_dense_parameters", lambda sizes: 1, record=False)
    assert "expected 50890, got 1" in result.message
    assert "array(" not in result.message


def test_an_elementwise_product_for_a_matrix_product_is_named():
    result = checks.check("ch01.dense_forward", lambda inputs, kernel, bias, activation: activation(inputs * kernel + bias),
                          record=False)
    assert result.status == "error"
    assert "you probably used `*` (element-wise) where the matrix product `@`" in result.message
    assert "keepdims" not in result.message


# ------------------------------------------------------------------ plain data only, never pickle


class RunsCodeWhenUnpickled:
    """An object whose unpickling would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled_object_array(marker):
    """`.npy` bytes (base64) of an object array that runs code when loaded with pickle allowed."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([RunsCodeWhenUnpickled(str(marker))], dtype=object), allow_pickle=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_a_pickle_payload_in_collected_outputs_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    exercise = checks.get_exercise("ch01.relu")
    collected = collect.collect(exercise.collection_request(), lambda x: np.maximum(x, 0))
    for record in collected["cases"]:
        record["output"] = {"array": pickled_object_array(marker)}
    result = framework.judge_collected(exercise, json.loads(json.dumps(collected)))
    assert result.status == "error" and not result.passed
    assert not marker.exists()


def test_an_answer_returning_a_pickling_object_travels_as_its_repr_only(tmp_path):
    marker = tmp_path / "pwned"
    exercise = checks.get_exercise("ch01.relu")
    collected = collect.collect(exercise.collection_request(), lambda x: RunsCodeWhenUnpickled(str(marker)))
    assert collected["cases"][0]["output"] == {
        "object": "RunsCodeWhenUnpickled", "repr": collected["cases"][0]["output"]["repr"]}
    result = framework.judge_collected(exercise, json.loads(json.dumps(collected)))
    assert result.status == "failed" and "RunsCodeWhenUnpickled" in result.message
    assert not marker.exists()


def test_a_model_with_custom_python_code_gets_a_clear_error():
    import keras

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(1, activation="sigmoid")])
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "error"
    assert "custom Python code (a Lambda layer" in result.message and "can't load safely" in result.message

    class Twice(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(16, activation="relu"), Twice(),
                              keras.layers.Dense(1, activation="sigmoid")])
    result = checks.check("ch01.moons_classifier", model, record=False)
    assert result.status == "error" and "custom Python code" in result.message and "Twice" in result.message


# ------------------------------------------------------------------ reference use is detected at run time, exactly


def uses_recorded_in_a_grading_kernel(source: str) -> list[str]:
    """Run code in a fresh interpreter prepared like a grading kernel; what it reached of the course's answers."""
    code = ("import dlcourse.grading_kernel as g\n"
            "g.install()\n"
            "from dlcourse import checks\n"
            f"try:\n    exec({source!r}, {{'checks': checks}})\nexcept Exception as error:\n    pass\n"
            "print(g.blocked_imports)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return eval(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("source", "recorded"), [
    ("from dlcourse.checks.ch01 import reference_relu as relu", "import dlcourse.checks.ch01"),
    ("import dlcourse.checks.ch01 as answers\nrelu = answers.reference_relu", "import dlcourse.checks.ch01"),
    ("from dlcourse.checks import ch01", "import dlcourse.checks.ch01"),
    ("relu = checks.get_exercise('ch01.relu').reference", "checks.get_exercise"),
    ("import importlib\nrelu = importlib.import_module('dlcourse.checks.ch01').reference_relu",
     "import dlcourse.checks.ch01"),
    ("import importlib.util, os, dlcourse\n"
     "path = os.path.join(os.path.dirname(dlcourse.__file__), 'chec' + 'ks', 'ch01.py')\n"
     "spec = importlib.util.spec_from_file_location('answers', path)\n"
     "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)", "open("),
    ("import os, dlcourse\nprint(os.listdir(os.path.join(os.path.dirname(dlcourse.__file__), 'checks')))",
     "os.listdir("),
])
def test_the_grading_kernel_records_every_use_of_the_course_answers(source, recorded):
    uses = uses_recorded_in_a_grading_kernel(source)
    assert any(use.startswith(recorded) for use in uses), uses


@pytest.mark.parametrize("source", [
    "def relu(x):\n    return np.maximum(x, 0)",
    "checks.check('ch01.relu', None)\nchecks.hint('ch01.relu', 2)\nchecks.exercises('ch01')",
    "import dlcourse.checks\ndlcourse.checks.check('ch01.relu', None)",
    # a local list named `checks`, and text that merely looks like the course's: honest, never recorded
    "checks = []\nchecks.append(1)\nchecks.extend([2, 3])",
    "def relu(x):\n    'Like dlcourse.checks.ch01.reference_relu, but mine.'\n    return x",
    "reference_relu = 3\nnote = 'see framework.py and diagnostics.py'",
    "repr(checks)\ngetattr(checks, '_repr_html_', None)",
    "getattr(checks, 'exercise_id', None)\nhasattr(checks, 'evaluate_answer')",  # nothing there holds an answer
])
def test_the_grading_kernel_leaves_honest_code_alone(source):
    assert uses_recorded_in_a_grading_kernel(source) == []


# ------------------------------------------------------------------ the kernel side holds no answers


def test_the_grading_kernel_stand_in_holds_no_answers():
    code = ("import sys, dlcourse.grading_kernel as g\n"
            "g.install()\n"
            "from dlcourse import checks\n"
            "print(checks.check('ch01.relu', None))\n"
            "try:\n    import dlcourse.checks.ch01\nexcept ImportError as error:\n    print('blocked:', error)\n"
            "print(sorted(name for name in sys.modules if name.startswith('dlcourse.checks')))\n"
            "print(hasattr(checks, 'get_exercise'))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "ch01.relu: checked by the instructor's grader"
    assert lines[1].startswith("blocked: dlcourse.checks.ch01 is not available while grading")
    assert lines[2:] == ["['dlcourse.checks']", "False"]


def test_collection_time_limit_counts_the_answers_own_cpu_time():
    import threading
    import time

    stop = threading.Event()

    def burn():
        while not stop.is_set():
            pass

    burner = threading.Thread(target=burn, daemon=True)
    burner.start()
    try:
        started = time.monotonic()

        def busy_half_second():
            until = time.thread_time() + 0.5
            while time.thread_time() < until:
                pass
            return "done"

        assert collect.run_with_time_limit(busy_half_second, 0.8) == "done"
        assert time.monotonic() - started >= 0.5
        with pytest.raises(collect.CheckTimeout):
            collect.run_with_time_limit(lambda: busy_half_second() and busy_half_second(), 0.6)
    finally:
        stop.set()
        burner.join()


# ------------------------------------------------------------------ the optional sandbox


def test_a_sandboxed_kernel_cannot_see_the_grader_the_network_or_the_solutions(mini_course, student_notebook):
    import os
    import socket

    from dlcourse.grading import runner, sandbox, submissions

    if sandbox.sandbox_problem():
        pytest.skip(f"the sandbox can't run here: {sandbox.sandbox_problem()}")
    server = socket.create_server(("127.0.0.1", 0))
    solution_file = mini_course / "solutions" / "01_neurons_and_activations.ipynb"
    spy = (f"import os, signal, socket\nleaks = []\n"
           f"try:\n    os.kill({os.getpid()}, 0)\n    leaks.append('grader')\nexcept ProcessLookupError:\n    pass\n"
           f"try:\n    socket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=2)\n"
           f"    leaks.append('network')\nexcept OSError:\n    pass\n"
           f"try:\n    open({str(solution_file)!r}).read()\n    leaks.append('solutions')\nexcept OSError:\n    pass\n"
           "os.kill(os.getppid(), signal.SIGKILL)  # the sandbox's init: nothing happens\n"
           "def relu(x):\n    return np.maximum(x, 0) if not leaks else leaks\n")
    submission = with_answers(student_notebook, {"ch01.relu": spy, "ch01.sigmoid": CORRECT["ch01.sigmoid"]})
    steps = submissions.transplant(student_notebook, submission)
    limits = runner.Limits(cell_timeout_seconds=60, sandbox=True, hidden_paths=(str(mini_course),))
    try:
        outcomes = runner.grade_steps(steps, limits)
    finally:
        server.close()
    by_id = {outcome.exercise_id: outcome for outcome in outcomes}
    assert [by_id[exercise_id].status for exercise_id in ALL_IDS] == (
        ["passed", "passed"] + ["not_attempted"] * 5), by_id["ch01.relu"].message
