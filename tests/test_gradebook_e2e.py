"""The gradebook end to end, with real grading: `dlcourse grade --config` on a class with a resubmission and a late
submission, then `dlcourse export --format canvas`, then a changed extension exported again without regrading."""

import csv
import datetime
import hashlib
import os
import subprocess
import sys

import nbformat

from grading_helpers import CORRECT, mini_course, student_notebook, with_answers  # noqa: F401

DEADLINE = datetime.datetime(2026, 10, 5, 23, 59, tzinfo=datetime.timezone.utc)
HOUR = 3600.0


def dlcourse(*arguments):
    """Run `python -m dlcourse ...`."""
    return subprocess.run([sys.executable, "-m", "dlcourse", *map(str, arguments)], capture_output=True, text=True,
                          timeout=900)


def test_grade_with_a_config_then_export_to_canvas(mini_course, student_notebook, tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    two = {key: CORRECT[key] for key in ("ch01.sigmoid", "ch01.relu")}
    submissions = {  # file: (answers, hours after the deadline)
        "ana_first.ipynb": (two, -48.0),
        "ana_second.ipynb": ({**two, "ch01.softmax": CORRECT["ch01.softmax"]}, 30.0),  # counts: the latest
        "bob.ipynb": ({"ch01.relu": CORRECT["ch01.relu"]}, 0.1),  # 6 minutes late: within the grace period
    }
    for name, (answers, hours) in submissions.items():
        path = folder / name
        nbformat.write(with_answers(student_notebook, answers), str(path))
        moment = DEADLINE.timestamp() + hours * HOUR
        os.utime(path, (moment, moment))
    (tmp_path / "students.csv").write_text("file,student\nana_first.ipynb,Ana Núñez\nana_second.ipynb,Ana Núñez\n"
                                           "bob.ipynb,\"Bob, Jr.\"\n", encoding="utf-8")
    (tmp_path / "roster.csv").write_text('student,name,id,sis_user_id,sis_login_id,section\n'
                                         'Ana Núñez,"Núñez, Ana",11,,,A\n"Bob, Jr.","Jr., Bob",12,,,A\n'
                                         'Carl,"Carl ""CJ"" Jones",13,,,B\n', encoding="utf-8")
    config = tmp_path / "course.toml"
    config.write_text('[late_policy]\ngrace_minutes = 10\npercent_per_day = 20\n'
                      '[chapters.ch01]\ndeadline = 2026-10-05T23:59:00Z\nweight = 100\n'
                      'lms_column = "Neurons (101)"\n', encoding="utf-8")
    hashes = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir()}
    out = tmp_path / "grades"
    run = dlcourse("grade", folder, "--out", out, "--workers", "2", "--course", mini_course,
                   "--students", tmp_path / "students.csv", "--config", config)
    assert run.returncode == 0, run.stderr[-3000:]

    summary = {row["student"]: row for row in csv.DictReader((out / "summary.csv").open(encoding="utf-8"))}
    ana = summary["Ana Núñez"]
    assert (ana["submissions"], ana["counted"], ana["raw_points"], ana["penalty"], ana["points"]) == (
        "2", "1", "3.0", "1.2", "1.8")  # 30 h late: two started days, 40 %
    assert ana["not_counted"] == "ana_first.ipynb (a later submission counts)"
    assert (summary["Bob, Jr."]["points"], summary["Bob, Jr."]["penalty"]) == ("1.0", "0.0")

    canvas = tmp_path / "canvas.csv"
    run = dlcourse("export", out, "--format", "canvas", "--roster", tmp_path / "roster.csv", "--config", config,
                   "--out", canvas)
    assert run.returncode == 0, run.stderr
    assert canvas.read_text(encoding="utf-8") == (
        "Student,ID,SIS User ID,SIS Login ID,Section,Neurons (101)\n"
        "    Points Possible,,,,,100\n"
        '"Núñez, Ana",11,,,A,25.71\n'      # 1.8 of 7 points, weighted to 100
        '"Jr., Bob",12,,,A,14.29\n'
        '"Carl ""CJ"" Jones",13,,,B,0\n')
    assert "Carl \"CJ\" Jones (ch01)" in run.stdout

    saved = {path.name: path.read_bytes() for path in (out / "results").iterdir()}
    config.write_text(config.read_text(encoding="utf-8") + '[extensions]\n"Ana Núñez" = { ch01 = 2 }\n',
                      encoding="utf-8")
    run = dlcourse("export", out, "--format", "canvas", "--roster", tmp_path / "roster.csv", "--config", config,
                   "--out", canvas)
    assert run.returncode == 0, run.stderr
    assert canvas.read_text(encoding="utf-8").splitlines()[2] == '"Núñez, Ana",11,,,A,42.86'  # 3 of 7, no penalty
    assert {path.name: path.read_bytes() for path in (out / "results").iterdir()} == saved
    assert {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir()} == hashes


def test_a_changed_check_is_rejudged_alone_and_the_diff_is_shown(mini_course, student_notebook, tmp_path):
    """A saved result recorded with another version of ch01.relu's check (as after a fix to that check): the next
    `dlcourse grade` judges that exercise again and nothing else, and writes the diff."""
    import json

    from grading_helpers import WRONG_RELU, grades_by_student

    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(with_answers(student_notebook, {"ch01.sigmoid": CORRECT["ch01.sigmoid"], "ch01.relu": WRONG_RELU}),
                   str(folder / "ana.ipynb"))
    nbformat.write(with_answers(student_notebook, {"ch01.relu": CORRECT["ch01.relu"]}), str(folder / "bob.ipynb"))
    out = tmp_path / "grades"
    command = ["grade", folder, "--out", out, "--workers", "2", "--course", mini_course]
    assert dlcourse(*command).returncode == 0
    saved_ana = next((out / "results").glob("ana--*.json"))
    saved_bob = next((out / "results").glob("bob--*.json"))
    data = json.loads(saved_ana.read_text())
    assert set(data["check_versions"]) == {row["exercise"] for row in data["exercises"]}
    rows = {row["exercise"]: row for row in data["exercises"]}
    rows["ch01.relu"].update(status="passed", points=1.0, message="Correct (the old, buggy check).")
    rows["ch01.sigmoid"]["message"] = "Not judged again: this check did not change."
    data["check_versions"]["ch01.relu"] = "0123456789abcdef"  # what the old check's version was
    saved_ana.write_text(json.dumps(data))
    bob_before = saved_bob.read_bytes(), saved_bob.stat().st_mtime_ns

    run = dlcourse(*command)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 exercise grade(s) changed on re-judging" in run.stdout
    with (out / "regrade_diff.csv").open(newline="", encoding="utf-8") as stream:
        diff = list(csv.DictReader(stream))
    assert [(row["student"], row["file"], row["exercise"], row["old_status"], row["new_status"], row["old_points"],
             row["new_points"], row["old_message"]) for row in diff] == [
        ("ana", "ana.ipynb", "ch01.relu", "passed", "failed", "1.0", "0.0", "Correct (the old, buggy check).")]
    assert "np.abs" in diff[0]["new_message"]
    table = grades_by_student(out)
    assert table["ana"]["ch01.sigmoid"]["message"] == "Not judged again: this check did not change."
    assert (table["ana"]["ch01.relu"]["status"], table["ana"]["ch01.sigmoid"]["status"]) == ("failed", "passed")
    assert (saved_bob.read_bytes(), saved_bob.stat().st_mtime_ns) == bob_before, "bob's checks did not change"
    assert json.loads(saved_ana.read_text())["check_versions"]["ch01.relu"] != "0123456789abcdef"
    report = (out / "report.html").read_text()
    assert "Regrades: checks that changed since the last grading" in report and "the old, buggy check" in report

    rerun = dlcourse(*command)  # nothing changed since: nothing is judged again
    assert rerun.returncode == 0 and "re-judging" not in rerun.stdout
