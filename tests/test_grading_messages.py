"""Feedback file names that never collide, and short error messages from TensorFlow and Keras errors.

The raw messages below were recorded from real errors (Keras 3.15, TensorFlow on CPU) raised in a Jupyter kernel;
the graph errors quoted 23 frames each (ipykernel, asyncio, IPython, Keras), of which a few of each kind are kept.
"""

from __future__ import annotations

import html
import linecache
import re

import pytest

from dlcourse import collect
from dlcourse.checks import diagnostics
from dlcourse.grading import SubmissionResult, reports

# ---------------------------------------------------------------- recorded messages

# A Dense(8) model built for 4 features, fit on data with 3: `model.fit(np.zeros((32, 3)), np.zeros((32, 1)))`.
KERAS_INPUT_SHAPE_ERROR = (
    "Exception encountered when calling Sequential.call().\n\n"
    "\x1b[1mInput 0 with name 'None' of layer 'dense' is incompatible with the layer: expected axis -1 of input shape "
    "to have value 4, but received input with shape (32, 3)\x1b[0m\n\n"
    "Arguments received by Sequential.call():\n"
    "  • inputs=tf.Tensor(shape=(32, 3), dtype=float32)\n"
    "  • training=True\n"
    "  • mask=None\n"
    "  • kwargs=<class 'inspect._empty'>")
KERAS_INPUT_SHAPE_DIAGNOSIS = ("Input 0 with name 'None' of layer 'dense' is incompatible with the layer: expected "
                               "axis -1 of input shape to have value 4, but received input with shape (32, 3)")

# `tf.matmul(a, b)` of shapes (32, 3) and (4, 8) inside a @tf.function: found while tracing.
TRACED_MATMUL_ERROR = (
    "in user code:\n\n"
    '    File "/tmp/ipykernel_5845/2471797121.py", line 3, in product  *\n'
    "        return tf.matmul(a, b)\n\n"
    "    ValueError: Dimensions must be equal, but are 3 and 4 for '{{node MatMul}} = MatMul[T=DT_FLOAT, "
    "grad_a=false, grad_b=false, transpose_a=false, transpose_b=false](a, b)' with input shapes: [32,3], [4,8].\n")

# The same product in a @tf.function whose input_signature leaves the shapes open: found while running the graph.
GRAPH_MATMUL_ERROR = (
    "Graph execution error:\n\n"
    "Detected at node MatMul defined at (most recent call last):\n"
    '  File "<frozen runpy>", line 198, in _run_module_as_main\n\n'
    '  File "/work/venv/lib/python3.11/site-packages/ipykernel_launcher.py", line 18, in <module>\n\n'
    '  File "/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/base_events.py", line 607, in run_forever\n\n'
    '  File "/work/venv/lib/python3.11/site-packages/IPython/core/interactiveshell.py", line 3823, in run_code\n\n'
    '  File "/tmp/ipykernel_5845/395752347.py", line 5, in <module>\n\n'
    '  File "/tmp/ipykernel_5845/2471797121.py", line 3, in product\n\n'
    "Matrix size-incompatible: In[0]: [32,3], In[1]: [4,8]\n"
    "\t [[{{node MatMul}}]] [Op:__inference_product_142]")

# A custom train step in tf.GradientTape, predictions (32, 8) against targets (32, 5), input_signature open.
TAPE_STEP_CELL = "cell-3371498724.py"
TAPE_STEP_SOURCE = (
    "weights = tf.Variable(tf.zeros((4, 8)))\n\n"
    "@tf.function(input_signature=[spec, spec])\n"
    "def train_step(x, y):\n"
    "    with tf.GradientTape() as tape:\n"
    "        prediction = tf.matmul(x, weights)\n"
    "        loss = tf.reduce_mean((prediction - y) ** 2)\n"
    "    gradients = tape.gradient(loss, [weights])\n"
    "    weights.assign_sub(0.1 * gradients[0])\n"
    "    return loss\n\n"
    "train_step(tf.zeros((32, 4)), tf.zeros((32, 5)))\n")
GRAPH_TAPE_ERROR = (
    "Graph execution error:\n\n"
    "Detected at node gradient_tape/sub/BroadcastGradientArgs defined at (most recent call last):\n"
    '  File "<frozen runpy>", line 198, in _run_module_as_main\n\n'
    '  File "/work/venv/lib/python3.11/site-packages/ipykernel_launcher.py", line 18, in <module>\n\n'
    '  File "/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/base_events.py", line 607, in run_forever\n\n'
    '  File "/work/venv/lib/python3.11/site-packages/IPython/core/interactiveshell.py", line 3823, in run_code\n\n'
    f'  File "/tmp/ipykernel_5845/{TAPE_STEP_CELL}", line 12, in <module>\n\n'
    f'  File "/tmp/ipykernel_5845/{TAPE_STEP_CELL}", line 8, in train_step\n\n'
    "Incompatible shapes: [32,8] vs. [32,5]\n"
    "\t [[{{node gradient_tape/sub/BroadcastGradientArgs}}]] [Op:__inference_train_step_195]")

# A Keras Model subclass whose train_step compares 3 outputs with 5 targets; Keras itself shortened the message.
KERAS_TRAIN_STEP_ERROR = ("Dimensions must be equal, but are 3 and 5 for '{{node sub}} = Sub[T=DT_FLOAT]"
                          "(custom_1/dense_2_1/BiasAdd, data_1)' with input shapes: [32,3], [32,5].")

# `tf.matmul` of shapes (32, 3) and (4, 8), run eagerly.
EAGER_MATMUL_ERROR = ("{{function_node __wrapped____MklMatMul_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
                      "Matrix size-incompatible: In[0]: [32,3], In[1]: [4,8] [Op:MatMul] name: ")

# Sparse labels 5 for a 3-class model: the message lists every label of the batch after the frames.
GRAPH_LABEL_ERROR = (
    "Graph execution error:\n\n"
    "Detected at node compile_loss/sparse_categorical_crossentropy/SparseSoftmaxCrossEntropyWithLogits/"
    "SparseSoftmaxCrossEntropyWithLogits defined at (most recent call last):\n"
    '  File "<frozen runpy>", line 198, in _run_module_as_main\n\n'
    '  File "/tmp/ipykernel_5845/1933889260.py", line 3, in <module>\n\n'
    '  File "/work/venv/lib/python3.11/site-packages/keras/src/backend/tensorflow/trainer.py", line 399, in fit\n\n'
    '  File "/work/venv/lib/python3.11/site-packages/keras/src/backend/tensorflow/nn.py", line 1438, in '
    "sparse_categorical_crossentropy\n\n"
    "Received a label value of 5 which is outside the valid range of [0, 3).  Label values: " + "5 " * 200 + "\n"
    "\t [[{{node compile_loss/sparse_categorical_crossentropy/SparseSoftmaxCrossEntropyWithLogits/"
    "SparseSoftmaxCrossEntropyWithLogits}}]] [Op:__inference_multi_step_on_iterator_823]")

ALL_RECORDED = [("ValueError", KERAS_INPUT_SHAPE_ERROR), ("ValueError", TRACED_MATMUL_ERROR),
                ("InvalidArgumentError", GRAPH_MATMUL_ERROR), ("InvalidArgumentError", GRAPH_TAPE_ERROR),
                ("ValueError", KERAS_TRAIN_STEP_ERROR), ("InvalidArgumentError", EAGER_MATMUL_ERROR),
                ("InvalidArgumentError", GRAPH_LABEL_ERROR)]


# ---------------------------------------------------------------- trim_error_text


def test_keras_layer_error_keeps_only_the_diagnosis():
    trimmed = collect.trim_error_text("ValueError", KERAS_INPUT_SHAPE_ERROR)
    assert trimmed == f"ValueError: {KERAS_INPUT_SHAPE_DIAGNOSIS}"


def test_keras_2_call_arguments_tail_is_dropped():
    message = ('Exception encountered when calling layer "dense" (type Dense).\n\n'
               'Input 0 of layer "dense" is incompatible with the layer: expected axis -1 of input shape to have '
               "value 4, but received input with shape (None, 3)\n\n"
               'Call arguments received by layer "dense" (type Dense):\n  • inputs=tf.Tensor(shape=(None, 3))')
    assert collect.trim_error_text("ValueError", message) == (
        'ValueError: Input 0 of layer "dense" is incompatible with the layer: expected axis -1 of input shape to '
        "have value 4, but received input with shape (None, 3)")


def test_traced_matmul_error_shows_the_diagnosis_and_the_quoted_student_line():
    assert collect.trim_error_text("ValueError", TRACED_MATMUL_ERROR) == (
        "ValueError: Dimensions must be equal, but are 3 and 4 for 'MatMul' with input shapes: [32,3], [4,8].\n"
        "The error happened in your line: `return tf.matmul(a, b)`")


def test_graph_matmul_error_keeps_the_last_lines_after_the_frames():
    assert collect.trim_error_text("InvalidArgumentError", GRAPH_MATMUL_ERROR) == (
        "InvalidArgumentError: Matrix size-incompatible: In[0]: [32,3], In[1]: [4,8]")


def test_graph_gradient_tape_error_keeps_the_last_lines_after_the_frames():
    assert collect.trim_error_text("InvalidArgumentError", GRAPH_TAPE_ERROR) == (
        "InvalidArgumentError: Incompatible shapes: [32,8] vs. [32,5]")


def test_keras_train_step_error_names_the_node_without_its_attributes():
    assert collect.trim_error_text("ValueError", KERAS_TRAIN_STEP_ERROR) == (
        "ValueError: Dimensions must be equal, but are 3 and 5 for 'sub' with input shapes: [32,3], [32,5].")


def test_eager_error_loses_its_function_node_and_op_markers():
    assert collect.trim_error_text("InvalidArgumentError", EAGER_MATMUL_ERROR) == (
        "InvalidArgumentError: Matrix size-incompatible: In[0]: [32,3], In[1]: [4,8]")


def test_long_graph_error_is_cut_after_the_diagnosis():
    trimmed = collect.trim_error_text("InvalidArgumentError", GRAPH_LABEL_ERROR)
    assert trimmed.startswith("InvalidArgumentError: Received a label value of 5 which is outside the valid range "
                              "of [0, 3). Label values: 5 5 5")
    assert trimmed.endswith("...")
    assert len(trimmed) == len("InvalidArgumentError: ") + collect.MAX_ERROR_MESSAGE


@pytest.mark.parametrize("type_name,message", ALL_RECORDED)
def test_no_recorded_message_keeps_frames_paths_or_markers(type_name, message):
    trimmed = collect.trim_error_text(type_name, message)
    for fragment in ('File "', "/site-packages/", "ipykernel", "<frozen", "most recent call last", "Graph execution",
                     "[[{{node", "[Op:", "\x1b[", "Arguments received"):
        assert fragment not in trimmed
    assert trimmed.startswith(f"{type_name}: ") and not trimmed.startswith(f"{type_name}: {type_name}")
    line_length = len("\nThe error happened in your line: ``") + collect.MAX_STUDENT_LINE
    assert len(trimmed) <= len(f"{type_name}: ") + collect.MAX_ERROR_MESSAGE + line_length


@pytest.mark.parametrize("type_name,message", ALL_RECORDED)
def test_trimming_twice_changes_nothing(type_name, message):
    once = collect.trim_error_message(message, type_name)
    assert collect.trim_error_message(once, type_name) == once


def test_plain_python_messages_are_kept():
    message = "operands could not be broadcast together with shapes (3,) (4,) "
    assert collect.trim_error_text("ValueError", message) == (
        "ValueError: operands could not be broadcast together with shapes (3,) (4,)")
    assert collect.trim_error_text("KeyError", "'weights'") == "KeyError: 'weights'"
    assert collect.trim_error_text("RuntimeError", "") == "RuntimeError"


def test_trim_error_text_reads_no_files(tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("password = 'hunter2'\n")
    message = f'Detected at node x defined at (most recent call last):\n  File "{secret}", line 1, in f\n\nBad.'
    assert collect.trim_error_text("InvalidArgumentError", message) == "InvalidArgumentError: Bad."


# ---------------------------------------------------------------- the student's line and exception records


@pytest.fixture
def tape_step_cell(monkeypatch):
    """The train-step cell registered in linecache, as IPython registers the cells it runs."""
    lines = TAPE_STEP_SOURCE.splitlines(keepends=True)
    file_name = f"/tmp/ipykernel_5845/{TAPE_STEP_CELL}"
    monkeypatch.setitem(linecache.cache, file_name, (len(TAPE_STEP_SOURCE), None, lines, file_name))
    return file_name


def test_student_line_comes_from_the_last_student_frame_of_a_graph_error(tape_step_cell):
    assert collect.student_line_of(ValueError(GRAPH_TAPE_ERROR)) == (
        "The error happened in your line: `gradients = tape.gradient(loss, [weights])`")


def test_exception_record_of_a_graph_error_is_short_and_names_the_line(tape_step_cell):
    record = collect.exception_record(ValueError(GRAPH_TAPE_ERROR))
    assert record["type"] == "ValueError"
    assert record["message"] == "Incompatible shapes: [32,8] vs. [32,5]"
    assert record["line"] == "The error happened in your line: `gradients = tape.gradient(loss, [weights])`"
    assert diagnostics.explain_exception_record(record) == (
        "Your code raised ValueError: Incompatible shapes: [32,8] vs. [32,5]\n"
        "The error happened in your line: `gradients = tape.gradient(loss, [weights])`")


def test_student_line_skips_tensorflow_generated_code():
    file_name = "/tmp/__autograph_generated_filexyz123.py"
    source = "def tf__product(a, b):\n    raise\n"
    linecache.cache[file_name] = (len(source), None, source.splitlines(keepends=True), file_name)
    namespace: dict = {}
    exec(compile("def tf__product():\n    raise ValueError('in user code:')\n", file_name, "exec"), namespace)
    try:
        namespace["tf__product"]()
    except ValueError as error:
        line = collect.student_line_of(error)
    finally:
        del linecache.cache[file_name]
    assert line == "The error happened in your line: `namespace[\"tf__product\"]()`"


def test_live_keras_fit_on_wrong_shape_gives_a_short_record():
    import numpy as np
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError) as caught:
        model.fit(np.zeros((8, 3)), np.zeros((8, 2)), epochs=1, verbose=0)
    record = collect.exception_record(caught.value)
    assert record["type"] == "ValueError"
    assert re.fullmatch(r"Input 0 with name 'None' of layer 'dense(_\d+)?' is incompatible with the layer: expected "
                        r"axis -1 of input shape to have value 4, but received input with shape \((None|8), 3\)",
                        record["message"])
    assert record["line"] == ("The error happened in your line: "
                              "`model.fit(np.zeros((8, 3)), np.zeros((8, 2)), epochs=1, verbose=0)`")


# ---------------------------------------------------------------- feedback file names

COLLIDING_STUDENTS = ["a b", "a_b", "a.b", "Ann", "ann", "ANN", "José", "Jos_", "Jose", "Zoë", "Zoe", "李雷", "王芳",
                      ""]


def test_feedback_file_names_are_unique_case_insensitively():
    names = reports.feedback_file_names(COLLIDING_STUDENTS)
    assert sorted(names) == sorted(COLLIDING_STUDENTS)
    assert len({name.casefold() for name in names.values()}) == len(COLLIDING_STUDENTS)


def test_feedback_file_names_are_readable_and_hash_only_colliding_names():
    names = reports.feedback_file_names(COLLIDING_STUDENTS + ["partial", "a.b.c"])
    assert names["partial"] == "partial.html"
    assert names["a.b.c"] == "a.b.c.html"
    assert names["a b"] == f"a_b--{reports.name_hash('a b', 8)}.html"
    assert names["a_b"] == f"a_b--{reports.name_hash('a_b', 8)}.html"
    assert names["José"] == f"Jose--{reports.name_hash('José', 8)}.html"
    assert names["Jos_"] == "Jos.html"  # 'Jos_' loses its trailing '_', and no other name gives 'Jos'
    assert names["李雷"] == f"student--{reports.name_hash('李雷', 8)}.html"


def test_feedback_file_names_do_not_depend_on_order_or_run():
    first = reports.feedback_file_names(COLLIDING_STUDENTS)
    assert reports.feedback_file_names(list(reversed(COLLIDING_STUDENTS))) == first
    assert first["a b"] == "a_b--c8687a08.html"  # sha256 of the UTF-8 name: the same on every run and machine
    assert first["José"] == "Jose--24c2ab65.html"


def test_a_name_that_looks_like_a_hashed_name_still_gets_its_own_file():
    lookalike = f"a_b--{reports.name_hash('a b', 8)}"
    names = reports.feedback_file_names(["a b", "a_b", lookalike])
    assert len({name.casefold() for name in names.values()}) == 3
    assert names["a_b"] == f"a_b--{reports.name_hash('a_b', 8)}.html"


@pytest.mark.parametrize("student,stem", [("../../etc/passwd", "etc_passwd"), (".hidden", "hidden"),
                                          ("Zoë Müller-Lüdenscheidt", "Zoe_Muller-Ludenscheidt"),
                                          ("x" * 300, "x" * reports.MAX_STEM_LENGTH), ("???", "student")])
def test_readable_file_stem_is_safe_and_short(student, stem):
    assert reports.readable_file_stem(student) == stem


def test_every_student_gets_a_feedback_page_naming_them(tmp_path):
    results = [SubmissionResult(student, f"/submissions/{index}.ipynb", "0" * 64, chapter="ch01",
                                exercises=[{"exercise": "ch01.relu", "status": "passed", "points": 1.0,
                                            "max_points": 1.0, "message": f"Correct, {student}."}])
               for index, student in enumerate(COLLIDING_STUDENTS)]
    reports.write_reports(results, tmp_path)
    pages = sorted((tmp_path / "feedback").glob("*.html"))
    assert len(pages) == len(COLLIDING_STUDENTS)
    names = reports.feedback_file_names(COLLIDING_STUDENTS)
    for student in COLLIDING_STUDENTS:
        page = (tmp_path / "feedback" / names[student]).read_text(encoding="utf-8")
        assert f"<title>Feedback for {html.escape(student)}</title>" in page
        assert f"Correct, {html.escape(student)}." in page


def test_a_python_traceback_quoted_in_a_message_is_dropped_with_its_carets():
    message = ("Traceback (most recent call last):\n"
               '  File "/work/venv/lib/python3.11/site-packages/multiprocess/pool.py", line 125, in worker\n'
               "    result = (True, func(*args, **kwds))\n"
               "              ^^^^^^^^^^^^^^^^^^^\n"
               "ZeroDivisionError: division by zero")
    assert collect.trim_error_text("RemoteError", message) == "RemoteError: ZeroDivisionError: division by zero"
