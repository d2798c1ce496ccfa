"""Grading never costs an honest student a point: added cells kept, relative paths, names that merely look like the
course's, one set of time limits; and the cheats of issue 20 score nothing for the exercise they cheat on."""

import copy

import nbformat
import pytest

from dlcourse import cell_timing, checks, release
from dlcourse.grading import runner, submissions
from grading_helpers import (CORRECT, grade_batch_with_cli, grade_real_chapter_answers, mini_course,  # noqa: F401
                             statuses, student_notebook, with_answers)

HELPER_ABOVE = "def clip_below(values, floor):\n    return np.maximum(values, floor)"
RELU_USING_HELPER = "def relu(x):\n    return clip_below(x, 0)"
LOCAL_CHECKS_LIST = ('def relu(x):\n    """Unlike dlcourse.checks.ch01.reference_relu, this one is mine."""\n'
                     "    checks = []\n    checks.append(np.shape(x))\n    return np.maximum(x, 0)\n\n"
                     "checks_done = []\nchecks_done.append('relu')")
RELATIVE_PATH = ('iris_rows = np.loadtxt("../datasets/iris.csv", delimiter=",", skiprows=1)\n\n'
                 "def relu(x):\n    return np.maximum(x, 0) + 0.0 * len(iris_rows)")
REFERENCE_BY_LOOKUP = "from dlcourse import checks\nrelu = checks.get_exercise('ch01.relu').reference"
REFERENCE_FROM_DISK = ("import importlib.util, os, dlcourse\n"
                       "path = os.path.join(os.path.dirname(dlcourse.__file__), 'chec' + 'ks', 'ch01.py')\n"
                       "spec = importlib.util.spec_from_file_location('answers', path)\n"
                       "answers = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(answers)\n"
                       "relu = answers.reference_relu")
BROKEN_ADDED_CELL = "undefined_helper_name(3)\n\n" + HELPER_ABOVE  # raises before it defines the helper


def position_of(notebook, exercise_id):
    """The index of an exercise's cell in a notebook."""
    return next(index for index, cell in enumerate(notebook.cells) if release.exercise_id_of(cell) == exercise_id)


def with_added_cell(notebook, source, where, exercise_id):
    """A copy with a new code cell (a fresh id, as JupyterLab gives) just above or just below an exercise cell."""
    copied = copy.deepcopy(notebook)
    index = position_of(copied, exercise_id) + (1 if where == "below" else 0)
    copied.cells.insert(index, nbformat.v4.new_code_cell(source))
    return copied


def without_ids(notebook):
    """A copy whose cells carry no ids (an old notebook format, or an editor that drops them)."""
    copied = copy.deepcopy(notebook)
    for cell in copied.cells:
        cell.pop("id", None)
    return copied


# ------------------------------------------------------------------ transplant: where added cells go


def test_a_helper_cell_added_above_an_exercise_runs_just_before_it(student_notebook):
    submission = with_added_cell(with_answers(student_notebook, {"ch01.relu": RELU_USING_HELPER}), HELPER_ABOVE,
                                 "above", "ch01.relu")
    steps = submissions.transplant(student_notebook, submission)
    kinds = [(step.kind, step.exercise_id) for step in steps]
    helper = kinds.index(("added", ""))
    assert steps[helper].source == HELPER_ABOVE and steps[helper].submitted
    assert kinds[helper + 1] == ("exercise", "ch01.relu")


def test_a_cell_added_below_an_exercise_runs_before_its_check(student_notebook):
    fit_below = "moons_model.fit(moons_train_x, moons_train_y, epochs=1, verbose=0)"
    submission = with_added_cell(student_notebook, fit_below, "below", "ch01.moons_classifier")
    steps = submissions.transplant(student_notebook, submission)
    moons = next(step for step in steps if step.exercise_id == "ch01.moons_classifier")
    assert moons.source.endswith("\n\n" + fit_below)
    assert [step.kind for step in steps].count("added") == 0


def test_edited_lesson_cells_are_restored_and_untouched_notebooks_add_nothing(student_notebook):
    edited = copy.deepcopy(student_notebook)
    setup = next(cell for cell in edited.cells if cell.cell_type == "code" and "from dlcourse import" in cell.source)
    setup.source += "\nprint('edited')"
    for notebook in (student_notebook, edited, without_ids(student_notebook)):
        steps = submissions.transplant(student_notebook, notebook)
        assert "added" not in [step.kind for step in steps]
        assert all("print('edited')" not in step.source for step in steps)


def test_without_cell_ids_added_cells_are_found_by_their_source(student_notebook):
    submission = without_ids(with_added_cell(with_answers(student_notebook, {"ch01.relu": RELU_USING_HELPER}),
                                             HELPER_ABOVE, "above", "ch01.relu"))
    steps = submissions.transplant(student_notebook, submission)
    assert [step.source for step in steps if step.kind == "added"] == [HELPER_ABOVE]


def test_cells_taken_as_answers_by_name_are_not_added_twice(student_notebook):
    submission = with_answers(student_notebook, {"ch01.relu": CORRECT["ch01.relu"]})
    relu_cell = submission.cells[position_of(submission, "ch01.relu")]
    relu_cell.metadata.pop("dlcourse")  # an editor stripped the exercise id
    steps = submissions.transplant(student_notebook, submission)
    assert "added" not in [step.kind for step in steps]
    assert next(step for step in steps if step.exercise_id == "ch01.relu").source == CORRECT["ch01.relu"]


# ------------------------------------------------------------------ one set of time limits


def test_an_exercise_cell_gets_its_exercises_own_time_limit_and_other_cells_the_graders():
    limits = runner.Limits(cell_timeout_seconds=45)
    moons = submissions.Step("exercise", "", "ch01.moons_classifier", "moons_model", True)
    relu = submissions.Step("exercise", "", "ch01.relu", "relu", True)
    assert runner.cell_time_limit(moons, limits) == checks.get_exercise("ch01.moons_classifier").cell_time_limit_seconds
    assert runner.cell_time_limit(moons, limits) == 300.0
    assert runner.cell_time_limit(relu, limits) == 30.0
    assert runner.cell_time_limit(submissions.Step("lesson", "x = 1"), limits) == 45
    assert runner.cell_time_limit(submissions.Step("added", "x = 1", submitted=True), limits) == 45


def test_the_grader_waits_for_an_answer_exactly_as_long_as_the_notebook_check_does():
    from dlcourse import collect

    assert collect.wall_clock_backstop_seconds(60) == 250
    assert runner.COLLECTION_MARGIN_SECONDS > 0


def test_checks_check_warns_when_the_exercise_cell_ran_longer_than_the_grader_allows():
    cell_id = cell_timing.exercise_cell_id("ch04.cnn_classifier")
    assert cell_id.startswith("ch04-cell-")
    cell_timing.record_duration(cell_id, 412.0)
    try:
        note = cell_timing.time_limit_note("ch04.cnn_classifier", 300.0, states_limit=True)
        assert note.startswith("Warning: your exercise cell took 412 s to run, but the grader stops this "
                               "exercise's cell after 300 s")
        cell_timing.record_duration(cell_id, 95.0)
        assert cell_timing.time_limit_note("ch04.cnn_classifier", 300.0, states_limit=True) == (
            "When graded, this exercise's cell may run for at most 300 s (yours took 95 s).")
        assert cell_timing.time_limit_note("ch04.cnn_classifier", 300.0, states_limit=False) == ""
    finally:
        cell_timing._durations.pop(cell_id, None)


# ------------------------------------------------------------------ the batch: exact grades, with the sandbox on


@pytest.fixture(scope="module")
def graded(mini_course, student_notebook, tmp_path_factory):
    """Grade one submission per case with the CLI (the sandbox on where bubblewrap works); {student: {id: row}}."""
    sigmoid = {"ch01.sigmoid": CORRECT["ch01.sigmoid"]}
    notebooks = {
        "local_checks_list": with_answers(student_notebook, {**sigmoid, "ch01.relu": LOCAL_CHECKS_LIST}),
        "relative_path": with_answers(student_notebook, {**sigmoid, "ch01.relu": RELATIVE_PATH}),
        "helper_cell_above": with_added_cell(with_answers(student_notebook, {**sigmoid, "ch01.relu": RELU_USING_HELPER}),
                                             HELPER_ABOVE, "above", "ch01.relu"),
        "helper_cell_no_ids": without_ids(with_added_cell(
            with_answers(student_notebook, {**sigmoid, "ch01.relu": RELU_USING_HELPER}), HELPER_ABOVE, "above",
            "ch01.relu")),
        "broken_added_cell": with_added_cell(with_answers(student_notebook, {**sigmoid, "ch01.relu": RELU_USING_HELPER}),
                                             BROKEN_ADDED_CELL, "above", "ch01.relu"),
        "reference_by_lookup": with_answers(student_notebook, {**sigmoid, "ch01.relu": REFERENCE_BY_LOOKUP}),
        "reference_from_disk": with_answers(student_notebook, {**sigmoid, "ch01.relu": REFERENCE_FROM_DISK}),
    }
    return grade_batch_with_cli(notebooks, "honest", mini_course, tmp_path_factory)


TWO_PASSED = ["passed", "passed"] + ["not_attempted"] * 5
RELU_FAILED = ["passed", "failed"] + ["not_attempted"] * 5


@pytest.mark.parametrize("student", ["local_checks_list", "relative_path", "helper_cell_above", "helper_cell_no_ids"])
def test_honest_work_gets_full_marks(graded, student):
    assert statuses(graded, student) == TWO_PASSED, graded[student]["ch01.relu"]["message"]


def test_a_failing_cell_the_student_added_is_named_in_the_message(graded):
    assert statuses(graded, "broken_added_cell") == ["passed", "error"] + ["not_attempted"] * 5
    message = graded["broken_added_cell"]["ch01.relu"]["message"]
    assert "clip_below" in message
    assert "Note: a cell you added to the notebook (`undefined_helper_name(3)`) raised NameError" in message


def test_looking_up_the_reference_scores_zero_for_that_exercise_only(graded):
    assert statuses(graded, "reference_by_lookup") == RELU_FAILED
    assert ("uses the course's reference implementation (`checks.get_exercise`)"
            in graded["reference_by_lookup"]["ch01.relu"]["message"])


def test_reading_the_check_modules_from_disk_scores_zero(graded):
    # the audit hook sees the attempt to open the file, with the sandbox (where the file isn't there) or without it
    row = graded["reference_from_disk"]["ch01.relu"]
    assert statuses(graded, "reference_from_disk") == RELU_FAILED
    assert "uses the course's reference implementation (`open(" in row["message"] and "ch01.py" in row["message"]


def test_checks_check_notes_an_answer_that_needs_a_cell_the_student_added():
    namespace = {"np": __import__("numpy")}
    exec(HELPER_ABOVE + "\n" + RELU_USING_HELPER, namespace)
    cell_id = cell_timing.exercise_cell_id("ch01.relu")
    assert cell_timing.added_cells_note("ch01.relu", namespace["relu"]) == ""  # exercise cell not seen: no guess
    cell_timing.record_source(cell_id, RELU_USING_HELPER)
    try:
        result = checks.check("ch01.relu", namespace["relu"], record=False)
        assert result.status == "passed"
        assert result.message.endswith(
            "Note: your answer uses `clip_below`, which neither this exercise cell nor any lesson cell defines. The "
            "grader runs the cells you added, in their place, so keep the cell that defines it in your notebook, "
            "above this exercise (or move it into the exercise cell).")
        cell_timing.record_source(cell_id, HELPER_ABOVE + "\n" + RELU_USING_HELPER)  # all in the exercise cell
        assert cell_timing.added_cells_note("ch01.relu", namespace["relu"]) == ""
        lesson_only = {"np": namespace["np"], "sigmoid": abs}
        exec("def relu(x):\n    return np.maximum(sigmoid(x) * 0 + x, 0)", lesson_only)  # sigmoid: a lesson name
        cell_timing.record_source(cell_id, "def relu(x):\n    return np.maximum(sigmoid(x) * 0 + x, 0)")
        assert cell_timing.added_cells_note("ch01.relu", lesson_only["relu"]) == ""
    finally:
        cell_timing._sources.pop(cell_id, None)


# ------------------------------------------------------------------ cheats on the real chapters, graded by the CLI

KERAS_FIT_TRAINING_LOOP = '''def train_two_layer_network(features, labels, num_hidden_units, learning_rate, num_steps, seed):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(num_hidden_units, activation="tanh"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    model.fit(features, labels, epochs=20, batch_size=100, verbose=0)
    (kernel_1, bias_1), (kernel_2, bias_2) = model.layers[0].get_weights(), model.layers[1].get_weights()
    return {"W1": kernel_1, "b1": bias_1, "W2": kernel_2, "b2": bias_2}'''
HOME_MADE_EARLY_STOPPING = '''class EarlyStopping:
    def __init__(self, monitor, patience, restore_best_weights):
        self.monitor, self.patience, self.restore_best_weights = monitor, patience, restore_best_weights

early_stopping = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)'''
KERAS_EARLY_STOPPING = ('early_stopping = keras.callbacks.EarlyStopping(restore_best_weights=True, patience=3,\n'
                        '                                               monitor="val_loss")')
LABEL_LOOKUP = '''from dlcourse import datasets as course_data

known_images, known_labels = course_data.load_mnist_sample()
label_of = {image.tobytes(): int(label) for image, label in zip(known_images, known_labels)}

def predict_digits(images):
    return np.array([label_of.get(np.asarray(image, dtype=np.uint8).tobytes(), 0) for image in images])'''
REAL_CHAPTER_CASES = {  # student: (chapter, exercise, answer, status, words of its message)
    "keras_fit_loop": ("ch02", "ch02.train_two_layer_network", KERAS_FIT_TRAINING_LOOP, "failed",
                       "This exercise asks for NumPy: your answer called keras"),
    "home_made_callback": ("ch03", "ch03.early_stopping", HOME_MADE_EARLY_STOPPING, "failed",
                           "Your EarlyStopping is a class of your own (defined in `__main__`)"),
    "keras_callback": ("ch03", "ch03.early_stopping", KERAS_EARLY_STOPPING, "passed", "configured right"),
    "label_lookup": ("ch07", "ch07.predict_digits", LABEL_LOOKUP, "failed",
                     "predicts the digit 0 for every image"),  # the held-out digits' labels are not in the kernel
}


def test_cheats_on_the_real_chapters_score_nothing_and_honest_answers_pass(tmp_path):
    table = grade_real_chapter_answers(REAL_CHAPTER_CASES, tmp_path)
    for student, (chapter_id, exercise_id, _, status, words) in REAL_CHAPTER_CASES.items():
        row = table[student][exercise_id]
        assert (row["status"], words in row["message"]) == (status, True), (student, row["message"])
        others = {row["status"] for exercise, row in table[student].items() if exercise != exercise_id}
        assert others == {"not_attempted"}, (student, others)


def test_a_very_long_student_name_still_gets_its_saved_result(tmp_path):
    import pathlib

    from dlcourse import grading

    long_name = "Maria " + "de la " * 60 + "Cruz"
    first = submissions.Submission(pathlib.Path("/class/a.ipynb"), long_name)
    second = submissions.Submission(pathlib.Path("/class/b.ipynb"), long_name + " Junior")
    names = {grading.result_file_name(first), grading.result_file_name(second)}
    assert len(names) == 2 and all(len(name.encode()) <= 255 for name in names)
    for name in names:
        (tmp_path / name).write_text("{}")  # the file system accepts it
