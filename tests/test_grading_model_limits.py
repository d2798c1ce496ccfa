"""A submitted model's declared size is checked before it is built, and a grading process is memory-capped.

A crafted `.keras` file can declare a model far larger than its bytes (the weights file need not match the config):
the grader must reject it from its config, without allocating its weights. Each grading process (worker) is also
watched: past its own memory cap it is killed and reported, not retried.
"""

import base64
import glob
import io
import json
import os
import sys
import tempfile
import textwrap
import time
import zipfile

import keras
import psutil
import pytest

from dlcourse import checks
from dlcourse.checks import framework
from dlcourse.grading import worker
from dlcourse.grading.runner import Limits

DATASETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets")
CRAFTED_UNITS = 8000
CRAFTED_PARAMETERS = CRAFTED_UNITS * CRAFTED_UNITS + CRAFTED_UNITS
CRAFTED_MESSAGE = ("Your model declares 64,008,000 parameters (244.2 MB), more than the grader's cap of 20,000,000 "
                   "parameters (100 MB); the exercise's model needs about 337. "
                   "Build the architecture the exercise asks for.")


def small_model_bytes():
    """The `.keras` bytes of a tiny Dense model on 4 inputs (real, matching weights)."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "small.keras")
        model.save(path)
        with open(path, "rb") as stream:
            return stream.read()


def with_config(data, edit):
    """The `.keras` bytes `data` with its config.json replaced by edit(config) (a dict, or bytes as they are)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in source.namelist():
            content = source.read(name)
            if name == "config.json":
                edited = edit(json.loads(content))
                content = edited if isinstance(edited, bytes) else json.dumps(edited).encode()
            archive.writestr(name, content)
    return buffer.getvalue()


def declare_dense_8000(config):
    """The tiny model's config edited to declare Dense(8000) on 8000 inputs (the weights file stays tiny)."""
    input_layer, dense = config["config"]["layers"]
    input_layer["config"]["batch_shape"] = [None, CRAFTED_UNITS]
    dense["config"]["units"] = CRAFTED_UNITS
    dense["build_config"]["input_shape"] = [None, CRAFTED_UNITS]
    config["build_config"]["input_shape"] = [None, CRAFTED_UNITS]
    return config


@pytest.fixture(scope="module")
def small_model():
    """The tiny model's `.keras` bytes."""
    return small_model_bytes()


@pytest.fixture(scope="module")
def crafted_model(small_model):
    """A small file (tiny real weights) whose config declares Dense(8000) on 8000 inputs."""
    return with_config(small_model, declare_dense_8000)


def encoded(data):
    """`.keras` bytes as they travel from a kernel: base64 text."""
    return base64.b64encode(data).decode("ascii")


def test_a_normal_small_model_still_loads(small_model):
    model = framework.load_model_safely(encoded(small_model))
    assert model.count_params() == 4 * 3 + 3


def test_the_crafted_file_is_small_and_declares_64_million_parameters(crafted_model):
    assert len(crafted_model) < 20_000
    with zipfile.ZipFile(io.BytesIO(crafted_model)) as archive:
        config = {key: value for key, value in json.loads(archive.read("config.json")).items() if key != "compile_config"}
    assert framework.declared_model_size(config) == (CRAFTED_PARAMETERS, CRAFTED_PARAMETERS * 4)


def test_the_crafted_file_is_rejected_by_its_size_quickly_and_without_allocating_it(small_model, crafted_model):
    framework.load_model_safely(encoded(small_model))  # Keras' loading code is imported and warm
    process = psutil.Process()
    resident_before = process.memory_info().rss
    started = time.perf_counter()
    with pytest.raises(framework.StudentCodeError) as raised:
        framework.load_model_safely(encoded(crafted_model), expected_parameters=337)
    seconds = time.perf_counter() - started
    growth_mb = (process.memory_info().rss - resident_before) / 2**20
    assert str(raised.value) == CRAFTED_MESSAGE
    assert seconds < 2.0
    assert growth_mb < 100


@pytest.mark.parametrize("earlier", [None, []], ids=["no list yet", "a list left by earlier code"])
def test_no_deferred_weight_of_the_crafted_model_is_left_to_initialise_later(crafted_model, earlier):
    """Whether or not earlier Keras code left Keras' list of deferred variables behind, the crafted model's 256 MB of
    deferred weights are not added to it (the scope appends to the list it finds, so the check restores a copy)."""
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("uninitialized_variables", earlier)
    with pytest.raises(framework.StudentCodeError):
        framework.load_model_safely(encoded(crafted_model))
    assert not global_state.get_global_attribute("uninitialized_variables")
    process = psutil.Process()
    resident_before = process.memory_info().rss
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])  # a scope that would initialise deferred weights
    assert (process.memory_info().rss - resident_before) / 2**20 < 100


def test_a_model_exercise_reports_the_crafted_file_as_too_large_not_as_custom_code(crafted_model):
    collected = {"exercise": "ch06.discriminator", "kind": "model", "answer": {"is_ellipsis": False},
                 "model": {"is_model": True, "built": True, "keras_file": encoded(crafted_model)}}
    result = framework.judge_collected(checks.get_exercise("ch06.discriminator"), collected)
    assert (result.status, result.message) == ("error", CRAFTED_MESSAGE.replace("337", "38,497"))


def test_a_design_task_reports_the_crafted_file_by_the_task_budget(crafted_model):
    collected = {"exercise": "ch01.moons_classifier", "kind": "model", "answer": {"is_ellipsis": False},
                 "model": {"is_model": True, "built": True, "keras_file": encoded(crafted_model)}}
    result = framework.judge_collected(checks.get_exercise("ch01.moons_classifier"), collected)
    assert (result.status, result.message) == (
        "error", "Your model declares 64,008,000 parameters (244.2 MB), more than the grader's cap of 20,000,000 "
                 "parameters (100 MB); the task's budget is 400 parameters.")


@pytest.mark.parametrize("edit,detail", [
    (lambda config: b"{not json", "JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 "
                                  "(char 1)"),
    (lambda config: [1, 2], "it holds a list, not a model's config"),
])
def test_an_unreadable_config_gets_its_own_message(small_model, edit, detail):
    with pytest.raises(framework.StudentCodeError) as raised:
        framework.load_model_safely(encoded(with_config(small_model, edit)))
    assert str(raised.value) == framework.BROKEN_CONFIG_MESSAGE.format(detail=detail)


def test_a_config_keras_cannot_rebuild_gets_the_broken_config_message(small_model):
    def negative_units(config):
        config["config"]["layers"][1]["config"]["units"] = -5
        return config

    with pytest.raises(framework.StudentCodeError) as raised:
        framework.load_model_safely(encoded(with_config(small_model, negative_units)))
    message = str(raised.value)
    assert message.startswith("The saved model's architecture (its config.json) could not be read (")
    assert "custom Python code" not in message


def test_a_file_that_is_not_a_zip_gets_the_broken_config_message():
    with pytest.raises(framework.StudentCodeError) as raised:
        framework.load_model_safely(encoded(b"not a zip file"))
    assert str(raised.value) == framework.BROKEN_CONFIG_MESSAGE.format(detail="BadZipFile: File is not a zip file")


def test_a_lambda_layer_still_gets_the_custom_code_message(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2, name="double")])
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(framework.StudentCodeError) as raised:
        framework.load_model_safely(encoded((tmp_path / "lambda.keras").read_bytes()))
    assert str(raised.value) == framework.CUSTOM_CODE_MESSAGE.format(detail="a Lambda layer, `double`")


def model_exercises():
    """Every ModelExercise of the course."""
    return [exercise for exercise in map(checks.get_exercise, checks.exercises())
            if isinstance(exercise, framework.ModelExercise)]


@pytest.mark.parametrize("exercise", model_exercises(), ids=lambda exercise: exercise.exercise_id)
def test_every_reference_model_passes_the_size_check_with_its_true_size(exercise, tmp_path):
    reference = exercise.build_reference()
    reference.save(tmp_path / "reference.keras")
    config = framework.read_model_config(str(tmp_path / "reference.keras"))
    parameters, size_bytes = framework.check_declared_model_size(config)
    assert parameters == reference.count_params()
    assert parameters * 10 < framework.MAX_MODEL_PARAMETERS
    assert size_bytes == 4 * parameters


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(DATASETS, "*.keras"))), ids=os.path.basename)
def test_every_shipped_keras_file_passes_the_size_check(path):
    parameters, _ = framework.check_declared_model_size(framework.read_model_config(path))
    assert parameters == keras.saving.load_model(path, compile=False).count_params()


# ---------------------------------------------------------------- the grading process's own memory cap

MEMORY_WORKER = textwrap.dedent('''
    import json, pathlib, subprocess, sys, time

    state, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
    sys.stdin.buffer.read()
    attempt = len(list(state.glob("attempt-*"))) + 1
    (state / f"attempt-{attempt}").write_text("")
    if mode == "grows":
        child = subprocess.Popen(["sleep", "600"], start_new_session=True)  # like a kernel: a session of its own
        (state / f"child-{attempt}").write_text(str(child.pid))
        ballast = b"x" * (400 * 2**20)
        time.sleep(60)
    if mode == "kernel_grows":
        subprocess.run([sys.executable, "-c", "import time; ballast = b'x' * (400 * 2**20); time.sleep(1.5)"])
    print(json.dumps({"chapter": "ch01", "error": "", "grader_error": "", "seconds": 1.5, "exercises": []}))
''')
JOB = worker.WorkerJob(b'{"cells": []}', "mine.ipynb", "/course", Limits(memory_limit_mb=1000))


def memory_supervisor(tmp_path, mode, memory_limit_mb):
    """A Supervisor whose worker is MEMORY_WORKER in the given mode, with the given worker memory cap."""
    script = tmp_path / "memory_worker.py"
    script.write_text(MEMORY_WORKER)
    (tmp_path / "state").mkdir()
    return worker.Supervisor([sys.executable, str(script), str(tmp_path / "state"), mode],
                             memory_limit_mb=memory_limit_mb)


def test_a_worker_past_its_memory_cap_is_killed_with_its_descendants_and_not_retried(tmp_path):
    started = time.monotonic()
    outcome = memory_supervisor(tmp_path, "grows", memory_limit_mb=200).grade(JOB)
    assert time.monotonic() - started < 30
    assert outcome["grader_error"].startswith("the grading process failed once (it used ")
    assert outcome["grader_error"].endswith(
        " MB, more than its cap of 200 MB, and was killed: the grader ran out of memory on this submission's "
        f"outputs); not graded. {worker.MEMORY_HINT}")
    assert (outcome["error"], outcome["exercises"]) == ("", [])
    assert len(list((tmp_path / "state").glob("attempt-*"))) == 1
    child = int((tmp_path / "state" / "child-1").read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the worker's descendant still runs"
        time.sleep(0.1)


def test_the_memory_of_a_workers_kernel_does_not_count_against_the_worker(tmp_path):
    outcome = memory_supervisor(tmp_path, "kernel_grows", memory_limit_mb=200).grade(JOB)
    assert outcome == {"chapter": "ch01", "error": "", "grader_error": "", "seconds": 1.5, "exercises": []}


def test_a_workers_memory_cap_is_the_kernels_cap_plus_headroom_for_keras():
    assert worker.memory_limit_for(Limits(memory_limit_mb=4096)) == 4096 + worker.WORKER_MEMORY_HEADROOM_MB
    assert worker.WORKER_MEMORY_HEADROOM_MB == 3072
