"""Quiet outputs: no warning or framework log line on stderr, no object repr as a cell's value (issue 22).

The nbval plugin (dlcourse/nbval_checks.py) applies the rule to every cell of every notebook that `pytest`
executes, at no extra cost; these tests pin its classifier and run it once on a small notebook.
"""

import subprocess
import sys

import nbformat

from dlcourse import nbval_checks

TENSORFLOW_START_UP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796433610.926384   30503 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.\n"
    "I0000 00:00:1796433610.927816   30503 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.\n")
USER_WARNING = ("/venv/lib/python3.11/site-packages/keras/src/models/functional.py:259: UserWarning: The structure "
                "of `inputs` doesn't match the expected structure.\nExpected: ['keras_tensor_13']\n"
                "  warnings.warn(msg)\n")
RETRACING = ("WARNING:tensorflow:5 out of the last 5 calls to <function f at 0x7f00> triggered tf.function "
             "retracing.\n")


def stream(name, text):
    return {"output_type": "stream", "name": name, "text": text}


def result(text, **more_data):
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {},
            "data": {"text/plain": text, **more_data}}


def test_tensorflow_start_up_lines_are_framework_log_lines():
    problems = nbval_checks.quiet_output_problems([stream("stderr", TENSORFLOW_START_UP)])
    assert len(problems) == 1 and "framework log line on stderr" in problems[0] and "absl" in problems[0]


def test_a_cpp_error_line_alone_is_a_framework_log_line():
    line = "E0000 00:00:1796433767.889931    5656 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT\n"
    assert nbval_checks.quiet_output_problems([stream("stderr", line)]) == [
        "a framework log line on stderr: 'E0000 00:00:1796433767.889931    5656 meta_optimizer.cc:967] remapper failed: "
        "INVALID_ARGUMENT'"]


def test_a_user_warning_is_named():
    problems = nbval_checks.quiet_output_problems([stream("stderr", USER_WARNING)])
    assert problems == ["a warning on stderr: \"/venv/lib/python3.11/site-packages/keras/src/models/functional.py:259: "
                        "UserWarning: The structure of `inputs` doesn't match the expected structure.\""]


def test_a_retracing_warning_is_a_framework_log_line_even_on_stdout():
    for name in ("stderr", "stdout"):
        problems = nbval_checks.quiet_output_problems([stream(name, RETRACING)])
        assert len(problems) == 1 and f"framework log line on {name}" in problems[0]


def test_any_other_stderr_text_is_flagged():
    assert nbval_checks.quiet_output_problems([stream("stderr", "100%|##########| 10/10\n")]) == [
        "text on stderr: '100%|##########| 10/10'"]


def test_a_history_repr_is_an_object_repr():
    problems = nbval_checks.quiet_output_problems([result("<keras.src.callbacks.history.History at 0x7f26083ac610>")])
    assert len(problems) == 1 and problems[0].startswith("an object repr as the cell's value")


def test_matplotlib_reprs_without_their_image_are_object_reprs():
    for text in ("[<matplotlib.lines.Line2D at 0x7f1>]", "Text(0.5, 1.0, 'A title')", "<Figure size 640x480 with 0 Axes>",
                 "<Sequential name=sequential, built=True>"):
        assert nbval_checks.quiet_output_problems([result(text)]), text


def test_normal_outputs_are_not_flagged():
    outputs = [stream("stdout", "test_accuracy = 0.875\nWARNING is a word a lesson may print\n"),
               stream("stderr", "\n"),
               result("\u2714 ch01.relu: passed\n  Correct on all 4 test cases (including edge cases)."),
               result("0.875"),
               result("array([1, 2, 3])"),
               {"output_type": "display_data", "metadata": {},
                "data": {"image/png": "iVBOR", "text/plain": "<Figure size 1100x420 with 2 Axes>"}},
               result("Model: sequential", **{"text/html": "<pre>Model: sequential</pre>"})]
    assert nbval_checks.quiet_output_problems(outputs) == []


def test_a_cell_that_shows_a_warning_on_purpose_says_so_in_its_metadata():
    outputs = [stream("stderr", "<stdin>:1: RuntimeWarning: overflow encountered in exp\n")]
    assert nbval_checks.quiet_output_problems(outputs, {"dlcourse": {"exercise": "ch01.sigmoid"}})
    metadata = {"dlcourse": {nbval_checks.EXPECTED_WARNING_KEY: "np.exp(1000) overflows, as the text explains"}}
    assert nbval_checks.quiet_output_problems(outputs, metadata) == []
    assert nbval_checks.quiet_output_problems([result("<object at 0x1>")], metadata), "reprs are never expected"


def test_nbval_run_fails_on_noisy_cells_and_passes_quiet_ones(tmp_path):
    """One nbval run, with a student's kernel streams: C++ text on descriptor 2 shows in the cell and fails it."""
    (tmp_path / "solutions").mkdir()
    notebook = nbformat.v4.new_notebook()
    expected = nbformat.v4.new_code_cell("import warnings\nwarnings.warn('shown on purpose')")
    expected.metadata["dlcourse"] = {nbval_checks.EXPECTED_WARNING_KEY: "the lesson shows a warning"}
    notebook.cells = [
        nbformat.v4.new_code_cell("import os, warnings\nprint('quiet')"),
        nbformat.v4.new_code_cell("os.write(2, b'I0000 00:00:1796433610.926384   30503 port.cc:153] oneDNN on\\n')"
                                  "\nNone"),
        nbformat.v4.new_code_cell("warnings.warn('not on purpose', UserWarning)"),
        nbformat.v4.new_code_cell("class History: pass\nHistory()"),
        expected,
    ]
    path = tmp_path / "solutions" / "01_example.ipynb"
    nbformat.write(notebook, str(path))
    command = [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "--nbval-lax",
               "--nbval-current-env", "-p", "dlcourse.nbval_checks", str(path)]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "3 failed, 2 passed" in run.stdout, run.stdout[-3000:]
    assert "a framework log line on stderr: 'I0000 00:00:1796433610.926384   30503 port.cc:153] oneDNN on'" in run.stdout
    assert "a warning on stderr:" in run.stdout and "UserWarning: not on purpose" in run.stdout
    assert "an object repr as the cell's value: '<__main__.History at 0x" in run.stdout


def test_importing_dlcourse_drops_tensorflows_retracing_warning_and_nothing_else():
    """A lesson that calls `predict` once on each of many new models traces a predict function per model; the
    'triggered tf.function retracing' warning this causes is dropped, while TensorFlow's other warnings still show."""
    script = (
        "import io, logging, sys\n"
        "import dlcourse\n"
        "assert 'tensorflow' not in sys.modules\n"
        "buffer = io.StringIO()\n"
        "logger = logging.getLogger('tensorflow')\n"
        "logger.addHandler(logging.StreamHandler(buffer))\n"
        "logger.warning('5 out of the last 15 calls to <function f at 0x1> triggered tf.function retracing. Tracing')\n"
        "logger.warning('a different warning')\n"
        "print(repr(buffer.getvalue()))\n")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == repr("a different warning\n")
