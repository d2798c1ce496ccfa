"""The instructor grader end to end: exact grades for correct, partial, wrong, malformed, tampered,
hanging, memory-hungry and crashing submissions, with every input left byte-identical."""

import copy
import csv
import hashlib
import json
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest

from dlcourse import course, release
from dlcourse.grading import submissions
from grading_helpers import (ALL_IDS, CORRECT, WRONG_RELU, grades_by_student,  # noqa: F401
                             mini_course, solution_answers, statuses, student_notebook, with_answers)

ROOT = course.repository_root()


@pytest.fixture(scope="module")
def graded(mini_course, student_notebook, tmp_path_factory):
    """Write the fixture submissions, grade them all with the CLI, and return (out, hashes, run)."""
    folder = tmp_path_factory.mktemp("submissions")
    notebooks = {
        "correct": with_answers(student_notebook, solution_answers(mini_course)),
        # nbgrader-style placeholder in the moons cell: still "not attempted"
        "partial": with_answers(student_notebook, {"ch01.sigmoid": CORRECT["ch01.sigmoid"], "ch01.relu": WRONG_RELU,
                                                   "ch01.moons_classifier": "# YOUR CODE HERE\nraise NotImplementedError()"}),
        "wrong": with_answers(student_notebook, {
            "ch01.sigmoid": "def sigmoid(x):\n    return 1.0 / (1.0 + np.exp(x))",
            "ch01.relu": "def relu(x):\n    return max(x, 0)",
            "ch01.softmax": "def softmax(logits):\n    return np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)"}),
        "untouched": student_notebook,
        "tampered_checks": with_answers(student_notebook, {"ch01.relu": WRONG_RELU},
                                        check_cells={"ch01.relu": "print('\u2714 ch01.relu: passed')"}),
        "redefined_check": with_answers(student_notebook, {"ch01.relu": (
            "import dlcourse.checks\n"
            "from dlcourse.checks import framework\n"
            "dlcourse.checks.check = lambda *args, **kwargs: framework.CheckResult('ch01.relu', 'passed', 'ok')\n"
            "dlcourse.checks.get_exercise('ch01.relu').cases.clear()\n"
            "def check(*args, **kwargs):\n    return 'passed'\n"
            "open('grades.csv', 'w').write('student,points\\nredefined_check,100\\n')\n"
            "print('\u2714 ch01.relu: passed')\n" + WRONG_RELU)}),
        "infinite_loop": with_answers(student_notebook, {
            "ch01.sigmoid": CORRECT["ch01.sigmoid"],
            "ch01.relu": "while True:\n    pass",
            "ch01.softmax": CORRECT["ch01.softmax"]}),
        "memory_hog": with_answers(student_notebook, {
            "ch01.relu": "hog = []\nwhile True:\n    hog.append(np.ones(10**7))",
            "ch01.softmax": CORRECT["ch01.softmax"]}),
        "kernel_exit": with_answers(student_notebook, {
            "ch01.sigmoid": CORRECT["ch01.sigmoid"],
            "ch01.relu": "import os\nos._exit(3)",
            "ch01.softmax": CORRECT["ch01.softmax"],
            "ch01.neuron_output": "import sys\nsys.exit('bye')"}),
    }
    # Fake outputs saved in the notebook must not count either.
    fake = notebooks["tampered_checks"]
    for cell in fake.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="\u2714 passed\n")]
    for name, notebook in notebooks.items():
        nbformat.write(notebook, str(folder / f"{name}.ipynb"))
    old = nbformat.v4.downgrade(copy.deepcopy(notebooks["partial"]))
    (folder / "old_format.ipynb").write_text(nbformat.writes(old, version=3))
    (folder / "malformed.ipynb").write_text('{"cells": [')
    (folder / "not_a_notebook.ipynb").write_text('["just", "a", "list"]')
    (folder / "empty.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    unknown = copy.deepcopy(student_notebook)
    unknown.metadata["dlcourse"]["chapter"] = "ch42"
    nbformat.write(unknown, str(folder / "unknown_chapter.ipynb"))
    hashes = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir()}
    out = tmp_path_factory.mktemp("out")
    command = [sys.executable, "-m", "dlcourse", "grade", str(folder), "--out", str(out), "--workers", "2",
               "--timeout", "20", "--memory-mb", "1500", "--course", str(mini_course)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    return out, folder, hashes, run, command


def test_grading_completes_with_exit_code_zero(graded):
    out, _, _, run, _ = graded
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Graded 10 of 14 submission(s); 4 could not be graded (bad file). See " in run.stdout


def test_submissions_are_byte_identical_afterwards(graded):
    _, folder, hashes, _, _ = graded
    assert {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir()} == hashes


def test_correct_submission_gets_full_marks(graded):
    table = grades_by_student(graded[0])
    assert statuses(table, "correct") == ["passed"] * 7


def test_partial_and_old_format_submissions(graded):
    table = grades_by_student(graded[0])
    expected = ["passed", "failed"] + ["not_attempted"] * 5
    assert statuses(table, "partial") == expected
    assert statuses(table, "old_format") == expected
    assert "np.abs" in table["partial"]["ch01.relu"]["message"]


def test_wrong_submission_gets_named_mistakes(graded):
    table = grades_by_student(graded[0])
    assert statuses(table, "wrong") == ["failed", "error", "failed"] + ["not_attempted"] * 4
    assert "sign of the exponent" in table["wrong"]["ch01.sigmoid"]["message"]
    assert "np.maximum" in table["wrong"]["ch01.relu"]["message"]
    assert "no max subtraction" in table["wrong"]["ch01.softmax"]["message"]


def test_untouched_notebook_is_not_attempted(graded):
    assert statuses(grades_by_student(graded[0]), "untouched") == ["not_attempted"] * 7


def test_tampering_does_not_change_the_grade(graded):
    out = graded[0]
    table = grades_by_student(out)
    for student in ("tampered_checks", "redefined_check"):
        assert table[student]["ch01.relu"]["status"] == "failed", student
        assert table[student]["ch01.relu"]["points"] == "0.0"
    summary = {row["student"]: row for row in csv.DictReader((out / "summary.csv").open())}
    assert summary["redefined_check"]["points"] == "0.0"


def test_infinite_loop_scores_zero_and_later_exercises_are_graded(graded):
    table = grades_by_student(graded[0])
    assert statuses(table, "infinite_loop")[:3] == ["passed", "error", "passed"]
    assert "time limit of 30 s" in table["infinite_loop"]["ch01.relu"]["message"]  # relu's own, not --timeout's


def test_memory_hog_is_killed_and_reported(graded):
    table = grades_by_student(graded[0])
    assert statuses(table, "memory_hog")[:3] == ["not_attempted", "error", "passed"]
    assert "memory limit of 1500 MB" in table["memory_hog"]["ch01.relu"]["message"]


def test_kernel_exit_is_reported_and_batch_continues(graded):
    table = grades_by_student(graded[0])
    assert statuses(table, "kernel_exit")[:4] == ["passed", "error", "passed", "error"]
    assert "crashed" in table["kernel_exit"]["ch01.relu"]["message"]
    assert "SystemExit" in table["kernel_exit"]["ch01.neuron_output"]["message"]


@pytest.mark.parametrize("student,fragment", [
    ("malformed", "not valid JSON"),
    ("not_a_notebook", "no cells"),
    ("empty", "empty"),
    ("unknown_chapter", "unknown chapter 'ch42'"),
])
def test_bad_files_get_a_clear_row(graded, student, fragment):
    row = grades_by_student(graded[0])[student][""]
    assert row["status"] == "invalid" and fragment in row["message"]


def test_summary_feedback_and_report_are_written(graded):
    out = graded[0]
    summary = {row["student"]: row for row in csv.DictReader((out / "summary.csv").open())}
    assert summary["correct"]["points"] == "7.0" and summary["correct"]["percent"] == "100.0"
    assert summary["partial"]["percent"] == "14.3"
    assert "not valid JSON" in summary["malformed"]["problems"]
    assert {row["grader_failures"] for row in summary.values()} == {"0"}, "crashes and hangs are the students' errors"
    feedback = (out / "feedback" / "partial.html").read_text()
    assert "ch01.relu" in feedback and "failed" in feedback
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report and "Most common failures" in report
    assert "Likely mistake: `np.abs` turns negatives positive" in report
    assert "could not be graded" in report


def test_gradebook_csv_lists_every_submission_and_which_counts(graded):
    out = graded[0]
    rows = {row["file"]: row for row in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    assert len(rows) == 14
    assert (rows["correct.ipynb"]["counted"], rows["correct.ipynb"]["raw_points"], rows["correct.ipynb"]["penalty"],
            rows["correct.ipynb"]["final_points"]) == ("yes", "7.0", "0.0", "7.0")
    assert (rows["malformed.ipynb"]["counted"], rows["malformed.ipynb"]["note"]) == ("no", "could not be graded")
    assert float(rows["correct.ipynb"]["submitted_at"][:4]) >= 2000  # the file's time, recorded when graded
    saved = [json.loads(path.read_text()) for path in (out / "results").iterdir()]
    assert all(result["file_mtime"] > 0 for result in saved)
    graded_ones = [result for result in saved if result["exercises"]]
    assert all(set(result["check_versions"]) == set(ALL_IDS) for result in graded_ones)


def test_rerun_skips_graded_submissions(graded):
    """A plain rerun keeps every saved result (test_cli_exit_codes shows --force rewriting them)."""
    out, _, _, _, command = graded
    before = {path.name: path.stat().st_mtime_ns for path in (out / "results").iterdir()}
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0
    after = {path.name: path.stat().st_mtime_ns for path in (out / "results").iterdir()}
    assert before == after
    assert grades_by_student(out)["correct"]["ch01.relu"]["status"] == "passed"


def test_unwritable_output_folder_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = subprocess.run([sys.executable, "-m", "dlcourse", "grade", str(blocker), "--out", str(blocker / "out")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "cannot write to the output folder" in run.stderr


def test_missing_input_is_a_usage_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "dlcourse", "grade", str(tmp_path / "nope"), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "no such file or folder" in run.stderr


def test_student_ids_follow_the_documented_rule(tmp_path):
    assert submissions.student_id_for(pathlib.Path("/x/alice.ipynb")) == "alice"
    assert submissions.student_id_for(pathlib.Path("/x/bob/01_neurons_and_activations.ipynb")) == "bob"
    mapping = tmp_path / "map.csv"
    mapping.write_text("file,student\nsub1.ipynb,carol\n")
    assert submissions.student_id_for(pathlib.Path("/y/sub1.ipynb"), submissions.read_student_map(mapping)) == "carol"


def test_split_and_duplicated_exercise_cells_are_joined(student_notebook):
    submission = copy.deepcopy(student_notebook)
    index = next(i for i, cell in enumerate(submission.cells) if release.exercise_id_of(cell) == "ch01.relu")
    first = copy.deepcopy(submission.cells[index])
    first.source = "def helper(x):\n    return np.maximum(x, 0)"
    submission.cells[index].source = "def relu(x):\n    return helper(x)"
    submission.cells.insert(index, first)
    submission.cells.append(copy.deepcopy(student_notebook.cells[index]))  # an untouched duplicate, moved
    steps = submissions.transplant(student_notebook, submission)
    relu_step = next(step for step in steps if step.exercise_id == "ch01.relu")
    assert relu_step.source == "def helper(x):\n    return np.maximum(x, 0)\n\ndef relu(x):\n    return helper(x)"
    assert relu_step.submitted and relu_step.answer_expression == "relu"
    assert not any("checks.check" in step.source for step in steps)


def test_dlcourse_check_prints_a_table(mini_course, student_notebook, tmp_path):
    path = tmp_path / "mine.ipynb"
    nbformat.write(with_answers(student_notebook, {"ch01.relu": CORRECT["ch01.relu"]}), str(path))
    run = subprocess.run([sys.executable, "-m", "dlcourse", "check", str(path), "--course", str(mini_course)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert any(line.startswith("ch01.relu") and "passed" in line for line in lines)
    assert any(line.startswith("total") and "1/7" in line for line in lines)


def test_reading_repairs_duplicate_cell_ids_in_memory_only(student_notebook, tmp_path):
    data = json.loads(nbformat.writes(student_notebook))
    data["cells"].append(copy.deepcopy(data["cells"][1]))
    path = tmp_path / "dup.ipynb"
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    notebook = submissions.read_submission_notebook(path)
    assert len(notebook.cells) == len(student_notebook.cells) + 1
    assert len({cell.id for cell in notebook.cells}) == len(notebook.cells)
    assert path.read_bytes() == before


def kernels_started_by(pid):
    """The ipykernel processes among a process's descendants."""
    import psutil

    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return set()
    kernels = set()
    for process in descendants:
        try:
            if "ipykernel_launcher" in " ".join(process.cmdline()):
                kernels.add(process.pid)
        except psutil.Error:
            continue
    return kernels


def test_terminating_the_grader_stops_its_workers_and_kernels(mini_course, student_notebook, tmp_path):
    import signal
    import time

    import psutil

    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("a", "b", "c"):
        nbformat.write(with_answers(student_notebook, {"ch01.sigmoid": "while True:\n    pass"}), str(folder / f"{name}.ipynb"))
    process = subprocess.Popen([sys.executable, "-m", "dlcourse", "grade", str(folder), "--out", str(tmp_path / "out"),
                                "--workers", "2", "--timeout", "600", "--course", str(mini_course)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    kernels = set()
    while len(kernels) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        kernels = kernels_started_by(process.pid)
    assert len(kernels) >= 2, "the grader never started its kernels"
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(pid) for pid in kernels) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [pid for pid in kernels if psutil.pid_exists(pid)] == []


def test_deleted_exercise_cell_is_not_attempted(student_notebook):
    submission = copy.deepcopy(student_notebook)
    submission.cells = [cell for cell in submission.cells if release.exercise_id_of(cell) != "ch01.relu"]
    steps = {step.exercise_id: step for step in submissions.transplant(student_notebook, submission)
             if step.kind == "exercise"}
    assert list(steps) == ALL_IDS
    assert not steps["ch01.relu"].submitted
    assert "# YOUR CODE HERE" in steps["ch01.relu"].source


def test_notebook_time_limit_stops_grading_but_reports_every_exercise(mini_course, student_notebook, tmp_path):
    from dlcourse import grading
    from dlcourse.grading.runner import Limits

    path = tmp_path / "slow.ipynb"
    nbformat.write(with_answers(student_notebook, {"ch01.sigmoid": "while True:\n    pass"}), str(path))
    result = grading.grade_submission(submissions.Submission(path, "slow"), mini_course,
                                      Limits(cell_timeout_seconds=12, notebook_timeout_seconds=14))
    assert [row["exercise"] for row in result.exercises] == ALL_IDS
    assert result.exercises[0]["status"] == "error" and "time limit of" in result.exercises[0]["message"]
    later = result.exercises[1:]
    assert all(row["status"] == "error" and "notebook time limit of 14 s" in row["message"] for row in later)


def test_answers_are_found_by_name_when_cell_metadata_was_stripped(student_notebook):
    submission = with_answers(student_notebook, {"ch01.relu": CORRECT["ch01.relu"]})
    for cell in submission.cells:
        cell.metadata.pop("dlcourse", None)
    steps = {step.exercise_id: step for step in submissions.transplant(student_notebook, submission)
             if step.kind == "exercise"}
    assert steps["ch01.relu"].submitted and steps["ch01.relu"].source == CORRECT["ch01.relu"]
    assert not steps["ch01.sigmoid"].submitted, "an untouched placeholder is still not attempted"
    assert "# YOUR CODE HERE" in steps["ch01.sigmoid"].source


def test_report_summarises_a_message_by_its_named_mistake():
    from dlcourse.grading import reports

    message = "On a mix of values (array([1.])):\nWrong values: expected 1, got 2.\nLikely mistake: forgot the bias."
    assert reports.summary_line(message) == "Likely mistake: forgot the bias."
    assert reports.summary_line("On a mix of values (x):\nWrong shape: expected (3,), got ().") == (
        "Wrong shape: expected (3,), got ().")
    assert reports.summary_line("Timed out: too slow.") == "Timed out: too slow."


def test_sliced_grades_equal_full_grades_on_every_fixture(graded, tmp_path):
    out, _, _, _, command = graded
    full_command = [str(tmp_path / "full") if part == str(out) else part for part in command] + ["--full"]
    run = subprocess.run(full_command, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert rows_of_grades(tmp_path / "full") == rows_of_grades(out)


def rows_of_grades(out):
    """grades.csv's rows, sorted: student, exercise, status, points and message (a memory reading made neutral)."""
    with (out / "grades.csv").open(newline="") as stream:
        return sorted((row["student"], row["exercise"], row["status"], row["points"],
                       re.sub(r"used \d+ MB", "used N MB", row["message"])) for row in csv.DictReader(stream))


def test_progress_is_one_line_per_submission_with_rate_eta_and_last_student_when_not_a_terminal():
    import io

    from dlcourse import grading

    stream = io.StringIO()
    bar = grading.ProgressBar(stream)
    bar(1, 3, None)
    for student in ("ana", "bo"):
        bar.started -= 2.0  # as if each submission took two seconds
        bar(bar.initial + 1 + (student == "bo"), 3, grading.SubmissionResult(student, f"{student}.ipynb", "0" * 64))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert "2/3" in lines[1] and "last: ana" in lines[1] and "3/3" in lines[2] and "last: bo" in lines[2]
    assert "s/submission" in lines[1] and "<00:0" in lines[1]  # the rate and the estimated time left
