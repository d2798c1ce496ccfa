"""Each submission is graded in a supervised process of its own: a submission that kills its grader harms no other
submission, a grader failure is retried once and never saved, and it is reported apart from the students' errors."""

import csv
import json
import pathlib
import subprocess
import sys
import textwrap
import time

import nbformat
import psutil
import pytest

from dlcourse import cli, grading
from dlcourse.grading import reports, worker
from dlcourse.grading.runner import Limits
from grading_helpers import (ALL_IDS, CORRECT, mini_course, solution_answers, student_notebook,  # noqa: F401
                             with_answers)

KILLERS = {
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "kill_parent_group": "import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGKILL)",
}
KILLED_REASON = ("the grading process died twice (killed by signal SIGKILL); not graded. "
                 "Its own code may have killed the grader, or the machine ran out of memory: "
                 "grade it again, with the sandbox on (the default wherever bubblewrap works).")
OTHERS = ("correct", "partial", "untouched")


def write_batch(folder, mini_course, student_notebook, killers=()):
    """The correct, a partial and an untouched submission, and one per named killer, whose relu cell runs its code
    (each killer in KILLERS is a student of that name: all of them share one batch)."""
    folder.mkdir()
    notebooks = {"correct": with_answers(student_notebook, solution_answers(mini_course)),
                 "partial": with_answers(student_notebook, {"ch01.sigmoid": CORRECT["ch01.sigmoid"]}),
                 "untouched": student_notebook}
    for killer in killers:
        notebooks[killer] = with_answers(student_notebook, {"ch01.sigmoid": CORRECT["ch01.sigmoid"],
                                                             "ch01.relu": KILLERS[killer]})
    for name, notebook in notebooks.items():
        nbformat.write(notebook, str(folder / f"{name}.ipynb"))
    return folder


def grade_command(folder, out, mini_course):
    """The CLI command that grades a folder into out, without the sandbox (these tests defend the grader without it)."""
    return [sys.executable, "-m", "dlcourse", "grade", str(folder), "--out", str(out), "--workers", "2",
            "--timeout", "20", "--course", str(mini_course), "--no-sandbox"]


def read_csv(path):
    """A CSV file as a list of dicts."""
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def rows_of(out, students):
    """grades.csv rows of the given students, in file order."""
    return [row for row in read_csv(out / "grades.csv") if row["student"] in students]


@pytest.fixture(scope="module")
def batch_without_killer(mini_course, student_notebook, tmp_path_factory):
    """The reference batch: graded with the CLI, without a killer; returns its --out folder."""
    base = tmp_path_factory.mktemp("without_killer")
    folder = write_batch(base / "submissions", mini_course, student_notebook)
    run = subprocess.run(grade_command(folder, base / "out", mini_course), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return base / "out"


@pytest.fixture(scope="module")
def batch_with_killer(mini_course, student_notebook, tmp_path_factory):
    """The same batch plus one submission per killer (each kills its grader its own way); returns (out, command,
    run)."""
    base = tmp_path_factory.mktemp("with_killers")
    folder = write_batch(base / "submissions", mini_course, student_notebook, sorted(KILLERS))
    command = grade_command(folder, base / "out", mini_course)
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return base / "out", command, run


def test_a_killer_changes_no_other_grade(batch_with_killer, batch_without_killer):
    out, _, run = batch_with_killer
    assert run.returncode == 3, run.stderr[-2000:]  # a grader failure is left to retry
    assert rows_of(out, OTHERS) == rows_of(batch_without_killer, OTHERS)
    statuses = {row["student"]: row["status"] for row in rows_of(out, OTHERS) if row["exercise"] == "ch01.relu"}
    assert statuses == {"correct": "passed", "partial": "not_attempted", "untouched": "not_attempted"}


def test_a_killer_gets_a_grader_error_row_and_is_not_saved(batch_with_killer):
    out, _, run = batch_with_killer
    for killer in KILLERS:
        assert rows_of(out, [killer]) == [{"student": killer, "chapter": "", "exercise": "", "status": "grader_error",
                                           "points": "0", "max_points": "0",
                                           "message": f"{killer}.ipynb: {KILLED_REASON}"}]
    summary = {row["student"]: row for row in read_csv(out / "summary.csv")}
    assert {student: row["grader_failures"] for student, row in summary.items()} == {
        "correct": "0", **{killer: "1" for killer in KILLERS}, "partial": "0", "untouched": "0"}
    assert all(summary[killer]["problems"] == "" for killer in KILLERS)
    assert sorted(path.name.split("--")[0] for path in (out / "results").iterdir()) == sorted(OTHERS)
    assert ("Graded 3 of 5 submission(s); 2 hit a grader failure and were not saved: "
            "run the same command again to retry them.") in run.stdout
    report = (out / "report.html").read_text()
    assert "Grader failures (not the students' fault)" in report
    for killer in KILLERS:
        assert f"{killer}.ipynb" in report
        assert "because of a grader failure" in (out / "feedback" / f"{killer}.html").read_text()


def test_a_rerun_grades_the_killer_again_and_keeps_the_other_results(batch_with_killer):
    out, command, _ = batch_with_killer
    before = {path.name: path.stat().st_mtime_ns for path in (out / "results").iterdir()}
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 3, rerun.stderr[-2000:]
    assert {path.name: path.stat().st_mtime_ns for path in (out / "results").iterdir()} == before
    assert "2 hit a grader failure" in rerun.stdout
    for killer in KILLERS:
        assert [row["message"] for row in rows_of(out, [killer])] == [f"{killer}.ipynb: {KILLED_REASON}"]


def test_dlcourse_check_survives_a_notebook_that_kills_its_grader(mini_course, student_notebook, tmp_path):
    path = tmp_path / "killer.ipynb"
    nbformat.write(with_answers(student_notebook, {"ch01.relu": KILLERS["kill_parent_group"]}), str(path))
    run = subprocess.run([sys.executable, "-m", "dlcourse", "check", str(path), "--course", str(mini_course),
                          "--timeout", "20", "--no-sandbox"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 3, run.stderr[-2000:]
    assert f"{path}: could not be graded because of a grader failure: the grading process died twice" in run.stdout


def test_grade_notebook_bytes_takes_and_returns_plain_data(mini_course, student_notebook):
    data = nbformat.writes(with_answers(student_notebook, solution_answers(mini_course))).encode()
    outcome = grading.grade_notebook_bytes(data, "mine.ipynb", str(mini_course), Limits(cell_timeout_seconds=60))
    assert json.loads(json.dumps(outcome)) == outcome
    assert set(outcome) == {"chapter", "error", "grader_error", "seconds", "exercises"}
    assert (outcome["chapter"], outcome["error"], outcome["grader_error"]) == ("ch01", "", "")
    assert [(row["exercise"], row["status"], row["points"]) for row in outcome["exercises"]] == [
        (exercise_id, "passed", 1.0) for exercise_id in ALL_IDS]


def test_grade_notebook_bytes_reports_a_bad_file_as_the_files_error(mini_course):
    outcome = grading.grade_notebook_bytes(b"not json", "bad.ipynb", mini_course, Limits())
    assert "not valid JSON" in outcome["error"]
    assert (outcome["grader_error"], outcome["exercises"], outcome["chapter"]) == ("", [], "")


FAKE_WORKER = textwrap.dedent('''
    import json, os, pathlib, signal, subprocess, sys, time

    state, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
    job = sys.stdin.buffer.read()
    attempt = len(list(state.glob("attempt-*"))) + 1
    (state / f"attempt-{attempt}").write_bytes(job)
    scratch = os.environ["DLCOURSE_WORKER_SCRATCH"]
    (state / f"scratch-{attempt}").write_text(scratch)
    pathlib.Path(scratch, "left-behind.txt").write_text("a file a killed worker leaves")
    if mode == "always_dies" or (mode == "dies_first" and attempt == 1):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "raises":
        raise RuntimeError("boom")
    if mode == "garbled":
        print("hello")
        sys.exit(0)
    if mode == "hangs":
        child = subprocess.Popen(["sleep", "600"], start_new_session=True)  # like a kernel: a session of its own
        (state / f"child-{attempt}").write_text(str(child.pid))
        time.sleep(600)
    print(json.dumps({"chapter": "ch01", "error": "", "grader_error": "", "seconds": 1.5, "exercises": [
        {"exercise": "ch01.relu", "status": "passed", "points": 1.0, "max_points": 1.0, "message": "ok"}]}))
''')
GOOD_OUTCOME = {"chapter": "ch01", "error": "", "grader_error": "", "seconds": 1.5, "exercises": [
    {"exercise": "ch01.relu", "status": "passed", "points": 1.0, "max_points": 1.0, "message": "ok"}]}
JOB = worker.WorkerJob(b'{"cells": []}', "mine.ipynb", "/course",
                       Limits(cell_timeout_seconds=5, sandbox=True, hidden_paths=("/secret",)))


def fake_supervisor(tmp_path, mode, time_limit_seconds=None):
    """A Supervisor whose worker is FAKE_WORKER in the given mode, keeping its state in tmp_path/state."""
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    (tmp_path / "state").mkdir()
    return worker.Supervisor([sys.executable, str(script), str(tmp_path / "state"), mode], time_limit_seconds)


def attempts(tmp_path):
    """The jobs the fake worker received, one per attempt, in order."""
    return [worker.WorkerJob.from_json(path.read_bytes())
            for path in sorted((tmp_path / "state").glob("attempt-*"))]


def test_a_worker_that_dies_once_is_retried_in_a_fresh_process(tmp_path):
    outcome = fake_supervisor(tmp_path, "dies_first").grade(JOB)
    assert outcome == GOOD_OUTCOME
    assert attempts(tmp_path) == [JOB, JOB]


def test_each_attempt_gets_a_scratch_folder_that_is_removed_afterwards(tmp_path):
    fake_supervisor(tmp_path, "dies_first").grade(JOB)
    folders = [pathlib.Path(path.read_text()) for path in sorted((tmp_path / "state").glob("scratch-*"))]
    assert len(set(folders)) == 2
    assert [folder.exists() for folder in folders] == [False, False]


def test_a_worker_that_always_dies_gives_a_grader_error_after_two_attempts(tmp_path):
    outcome = fake_supervisor(tmp_path, "always_dies").grade(JOB)
    assert outcome["grader_error"] == KILLED_REASON
    assert (outcome["error"], outcome["exercises"]) == ("", [])
    assert len(attempts(tmp_path)) == 2


@pytest.mark.parametrize("mode,reason", [
    ("raises", "exited with code 1: RuntimeError: boom"),
    ("garbled", "it printed no readable result"),
])
def test_a_worker_without_a_result_is_a_grader_failure(tmp_path, mode, reason):
    outcome = fake_supervisor(tmp_path, mode).grade(JOB)
    assert outcome["grader_error"] == (f"the grading process failed twice ({reason}); not graded. "
                                       f"{worker.RETRY_HINT}")
    assert len(attempts(tmp_path)) == 2


def test_a_worker_past_its_time_limit_is_killed_with_its_descendants(tmp_path):
    outcome = fake_supervisor(tmp_path, "hangs", time_limit_seconds=6).grade(JOB)
    assert outcome["grader_error"].startswith(
        "the grading process failed twice (it ran past its time limit of 6 s and was killed); not graded.")
    children = [int(path.read_text()) for path in sorted((tmp_path / "state").glob("child-*"))]
    assert len(children) == 2
    assert still_running(children) == []


def still_running(pids, wait_seconds=10):
    """The processes among pids that still run (not zombies) after waiting up to wait_seconds for them to end."""
    deadline = time.monotonic() + wait_seconds
    while True:
        running = [pid for pid in pids if is_running(pid)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def is_running(pid):
    """Whether a process exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_grader_exception_in_the_worker_is_a_grader_failure_and_two_of_them_one_message():
    """What the retry loop is fed: the worker's outcome with a grader_error reads as a 'grader' failure, and two
    failures read as one 'failed twice' message (the retry itself is tested with a worker that dies once)."""
    failure = worker.Failure("grader", "the grader failed on this submission (RuntimeError: x)")
    assert worker.failure_message([failure, failure]) == (
        "the grading process failed twice (the grader failed on this submission (RuntimeError: x)); not graded. "
        f"{worker.GRADER_HINT}")
    outcome = {**GOOD_OUTCOME, "grader_error": "the grader failed on this submission (RuntimeError: x)."}
    assert worker.interpret_exit(0, json.dumps(outcome).encode(), "") == (outcome, failure)


def make_results():
    """A graded, a malformed and a grader-failed submission of the same student, and another student's grade."""
    graded = grading.SubmissionResult("ana", "/s/ana.ipynb", "a" * 64, "ch01", exercises=[
        {"exercise": "ch01.relu", "status": "passed", "points": 1.0, "max_points": 1.0, "message": "ok"}])
    malformed = grading.SubmissionResult("ana", "/s/ana_old.ipynb", "b" * 64, error="the file is empty.")
    failed = grading.SubmissionResult("ana", "/s/ana_new.ipynb", "c" * 64, grader_error="it died twice.")
    other = grading.SubmissionResult("bob", "/s/bob.ipynb", "d" * 64, "ch01", exercises=[
        {"exercise": "ch01.relu", "status": "failed", "points": 0.0, "max_points": 1.0, "message": "no"}])
    return [graded, malformed, failed, other]


def test_grades_csv_gives_a_grader_failure_its_own_status():
    rows = reports.grade_rows(make_results())
    assert [(row["student"], row["exercise"], row["status"], row["message"]) for row in rows] == [
        ("ana", "ch01.relu", "passed", "ok"),
        ("ana", "", "invalid", "ana_old.ipynb: the file is empty."),
        ("ana", "", "grader_error", "ana_new.ipynb: it died twice."),
        ("bob", "ch01.relu", "failed", "no")]


def test_summary_csv_counts_grader_failures_after_problems():
    assert reports.SUMMARY_COLUMNS[-2:] == ("problems", "grader_failures")
    rows = reports.summary_rows(make_results())
    assert [(row["student"], row["submissions"], row["points"], row["percent"], row["problems"],
             row["grader_failures"]) for row in rows] == [
        ("ana", 3, 1.0, 100.0, "ana_old.ipynb: the file is empty.", 1),
        ("bob", 1, 0.0, 0.0, "", 0)]
    text = reports.to_csv(rows, reports.SUMMARY_COLUMNS)
    assert text.splitlines()[0] == ("student,submissions,counted,raw_points,penalty,points,max_points,percent,"
                                    "weighted_points,weighted_max,weighted_percent,not_counted,problems,grader_failures")


def test_report_feedback_and_check_table_tell_grader_failures_apart():
    results = make_results()
    report = reports.class_report(results, reports.grade_rows(results))
    assert "4 submission(s): 2 graded, 1 could not be graded, 1 hit a grader failure." in report
    failures_section = report.split("Grader failures (not the students' fault)")[1]
    assert "/s/ana_new.ipynb" in failures_section and "it died twice." in failures_section
    assert "/s/ana_old.ipynb" not in failures_section
    feedback = reports.feedback_page("ana", results[:3])
    assert "could not be graded because of a grader failure; it will be graded again: it died twice." in feedback
    assert reports.format_result_table(results[2]) == (
        "/s/ana_new.ipynb: could not be graded because of a grader failure: it died twice.")


def test_cli_summary_line_counts_bad_files_and_grader_failures():
    assert cli.grading_summary(make_results()) == (
        "Graded 2 of 4 submission(s); 1 could not be graded (bad file); 1 hit a grader failure and was not saved: "
        "run the same command again to retry it.")
    assert cli.grading_summary(make_results()[:1]) == "Graded 1 of 1 submission(s)."


def test_old_saved_results_load_and_grader_failures_are_graded_again(tmp_path):
    old = make_results()[0].to_dict()
    del old["grader_error"]
    assert grading.SubmissionResult.from_dict(old) == make_results()[0]
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(old))
    assert grading.load_saved_result(path, "a" * 64) == make_results()[0]
    legacy = {**old, "exercises": [], "error": "the grading worker failed (BrokenProcessPool: gone)."}
    path.write_text(json.dumps(legacy))
    assert grading.load_saved_result(path, "a" * 64) is None
    path.write_text(json.dumps({**old, "grader_error": "it died twice."}))
    assert grading.load_saved_result(path, "a" * 64) is None


def test_sandbox_limits_hide_the_course_the_outputs_and_the_submissions(mini_course, tmp_path):
    submissions_folder = tmp_path / "subs"
    (submissions_folder / "alice").mkdir(parents=True)
    single = tmp_path / "elsewhere" / "bob.ipynb"
    single.parent.mkdir()
    single.write_text("{}")
    arguments = cli.build_parser().parse_args(["grade", str(submissions_folder), str(single), "--out",
                                               str(tmp_path / "out"), "--course", str(mini_course), "--sandbox"])
    limits = cli.limits_from(arguments, [submissions_folder / "alice" / "a.ipynb", single])
    folders = [mini_course, cli.course.repository_root(), tmp_path / "out", submissions_folder, single.parent]
    assert limits.sandbox is True
    assert limits.hidden_paths == tuple(str(folder.resolve()) for folder in folders)
    opted_out = cli.limits_from(cli.build_parser().parse_args(["grade", str(single), "--out", str(tmp_path / "out"),
                                                               "--no-sandbox"]))
    assert (opted_out.sandbox, opted_out.hidden_paths) == (False, ())


def test_the_sandbox_is_on_by_default_wherever_bubblewrap_works(monkeypatch, tmp_path):
    single = tmp_path / "bob.ipynb"
    single.write_text("{}")
    monkeypatch.setattr(cli, "sandbox_problem", lambda: "")
    arguments = cli.build_parser().parse_args(["grade", str(single), "--out", str(tmp_path / "out")])
    assert cli.resolve_sandbox(arguments) == "" and arguments.sandbox is True
    limits = cli.limits_from(arguments, [single])
    assert limits.sandbox is True and str(tmp_path.resolve()) in limits.hidden_paths


def test_without_bubblewrap_grading_goes_on_unsandboxed_with_a_loud_warning(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "sandbox_problem", lambda: "bubblewrap (bwrap) is not installed.")
    arguments = cli.build_parser().parse_args(["check", str(tmp_path / "mine.ipynb")])
    assert cli.resolve_sandbox(arguments) == "" and arguments.sandbox is False
    warning = capsys.readouterr().err
    assert warning.startswith("WARNING: grading WITHOUT the sandbox: bubblewrap (bwrap) is not installed.")
    assert "--no-sandbox" in warning and "read the course's answers" in warning
    quiet = cli.build_parser().parse_args(["check", str(tmp_path / "mine.ipynb"), "--no-sandbox"])
    assert cli.resolve_sandbox(quiet) == "" and quiet.sandbox is False and capsys.readouterr().err == ""


def test_sandbox_problems_stop_grade_and_check_before_grading(monkeypatch, tmp_path, capsys):
    notebook = tmp_path / "mine.ipynb"
    notebook.write_text("{}")
    monkeypatch.setattr(cli, "sandbox_problem", lambda: "bubblewrap (bwrap) is not installed.")
    assert cli.main(["grade", str(notebook), "--out", str(tmp_path / "out"), "--sandbox"]) == 2
    assert cli.main(["check", str(notebook), "--sandbox"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == ["dlcourse grade: --sandbox can't be used: bubblewrap (bwrap) is not installed.",
                      "dlcourse check: --sandbox can't be used: bubblewrap (bwrap) is not installed."]
    assert not (tmp_path / "out").exists()


def test_sandbox_problem_without_the_sandbox_module(monkeypatch):
    import dlcourse.grading

    monkeypatch.delattr(dlcourse.grading, "sandbox", raising=False)
    monkeypatch.setitem(sys.modules, "dlcourse.grading.sandbox", None)
    assert cli.sandbox_problem() == "sandbox support is not available in this installation."


def test_under_the_sandbox_a_killer_cannot_reach_its_grader(mini_course, student_notebook, tmp_path,
                                                            batch_without_killer):
    from dlcourse.grading import sandbox

    if sandbox.sandbox_problem():
        pytest.skip(f"the sandbox can't run here: {sandbox.sandbox_problem()}")
    folder = write_batch(tmp_path / "submissions", mini_course, student_notebook, sorted(KILLERS))
    run = subprocess.run(grade_command(folder, tmp_path / "out", mini_course)[:-1] + ["--sandbox"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert rows_of(tmp_path / "out", OTHERS) == rows_of(batch_without_killer, OTHERS)
    summary = {row["student"]: row for row in read_csv(tmp_path / "out" / "summary.csv")}
    for killer in KILLERS:
        killer_rows = {row["exercise"]: row for row in rows_of(tmp_path / "out", (killer,))}
        assert [killer_rows[exercise_id]["status"] for exercise_id in ALL_IDS] == (
            ["passed", "not_attempted" if killer == "kill_parent" else "error"] + ["not_attempted"] * 5)
        assert summary[killer]["grader_failures"] == "0" and summary[killer]["points"] == "1.0"


# ----------------------------------------------------------------- pre-warmed workers

WARM_FAKE_WORKER = textwrap.dedent('''
    import json, os, pathlib, sys, time

    state = pathlib.Path(sys.argv[1])
    name = f"{os.getpid()}"
    (state / f"started-{name}").write_text(json.dumps({"at": time.time(), "warm": os.environ.get("DLCOURSE_WORKER_WARM_LIMITS")}))
    job = sys.stdin.buffer.read()
    (state / f"job-{name}").write_text(json.dumps({"at": time.time()}))
    print(json.dumps({"chapter": "ch01", "error": "", "grader_error": "", "seconds": 1.5, "exercises": []}))
''')


def test_while_jobs_remain_a_spare_worker_is_started_before_its_job_and_none_is_left_at_the_end(tmp_path):
    script = tmp_path / "warm_worker.py"
    script.write_text(WARM_FAKE_WORKER)
    (tmp_path / "state").mkdir()
    with worker.supervised([sys.executable, str(script), str(tmp_path / "state")], jobs_expected=3) as supervisor:
        outcomes = [supervisor.grade(JOB) for _ in range(3)]
        time.sleep(0.5)
    assert [outcome["grader_error"] for outcome in outcomes] == ["", "", ""]
    started = {path.name.split("-")[1]: json.loads(path.read_text()) for path in (tmp_path / "state").glob("started-*")}
    jobs = {path.name.split("-")[1]: json.loads(path.read_text()) for path in (tmp_path / "state").glob("job-*")}
    assert len(started) == 3 and set(jobs) == set(started)  # three workers, each used: no spare wasted at the end
    order = sorted(jobs, key=lambda pid: jobs[pid]["at"])
    assert started[order[0]]["warm"] is None  # the first job starts cold
    for pid in order[1:]:  # the next ones were started (with the job's limits) while the previous job ran
        assert Limits.from_dict(json.loads(started[pid]["warm"])) == JOB.limits
    assert not supervisor._running


def test_the_spare_worker_is_stopped_when_no_job_comes(tmp_path):
    script = tmp_path / "warm_worker.py"
    script.write_text(WARM_FAKE_WORKER)
    (tmp_path / "state").mkdir()
    with worker.supervised([sys.executable, str(script), str(tmp_path / "state")], jobs_expected=5) as supervisor:
        supervisor.grade(JOB)
        spare = supervisor._spare[0]
    assert spare.poll() is not None and not supervisor._running


def test_a_warm_kernel_has_imported_the_course_libraries_and_grades_like_a_cold_one(mini_course, student_notebook):
    from dlcourse import grading
    from dlcourse.grading import runner

    limits = Limits(cell_timeout_seconds=60, memory_limit_mb=3000)
    data = nbformat.writes(with_answers(student_notebook, {"ch01.relu": CORRECT["ch01.relu"]})).encode()
    kernel = runner.start_warm_kernel(limits)
    assert kernel.run("import sys\nassert 'keras' in sys.modules", 30).status == "ok"
    warm = grading.grade_notebook_bytes(data, "warm.ipynb", mini_course, limits, kernel)
    cold = grading.grade_notebook_bytes(data, "cold.ipynb", mini_course, limits)
    assert warm["exercises"] == cold["exercises"] and not kernel.is_alive()
    assert [row["status"] for row in warm["exercises"]][:2] == ["not_attempted", "passed"]
