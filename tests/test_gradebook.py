"""The instructor's gradebook (issue 25): one counted submission per student and chapter, declared points, chapter
weights, deadlines, extensions and the late policy, LMS exports, item analysis and nbgitpuller links.

These tests build saved results directly (no kernels); tests/test_gradebook_e2e.py grades a real class once.
"""

import csv
import datetime
import json

import pytest

from dlcourse import checks, cli, course
from dlcourse.grading import SubmissionResult, config, export, gradebook, links, reports

CH01 = checks.exercises("ch01")
CH02 = checks.exercises("ch02")
T0 = datetime.datetime(2026, 10, 5, 12, 0, tzinfo=datetime.timezone.utc).timestamp()  # a chosen "now"
DAY = 86400.0


def result(student, file_name, passed, mtime=T0, chapter="ch01", exercise_ids=None):
    """A saved result whose first `passed` exercises of the chapter passed and the others failed."""
    ids = exercise_ids or checks.exercises(chapter)
    rows = [{"exercise": exercise_id, "status": "passed" if index < passed else "failed",
             "points": 1.0 if index < passed else 0.0, "max_points": 1.0, "message": f"message {index}"}
            for index, exercise_id in enumerate(ids)]
    return SubmissionResult(student, f"/submissions/{file_name}", "0" * 64, chapter, exercises=rows, file_mtime=mtime)


def save_results(out, results):
    """Write results as `dlcourse grade` saves them, in out/results/."""
    (out / "results").mkdir(parents=True, exist_ok=True)
    for index, saved in enumerate(results):
        (out / "results" / f"r{index}.json").write_text(json.dumps(saved.to_dict()), encoding="utf-8")
    return out


def write_config(tmp_path, text, name="course.toml"):
    """A course config file with this TOML text."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_csv_rows(path):
    """A CSV file as a list of dicts."""
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def run_main(capsys, *arguments):
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- 1b: one counted submission, declared points, weights -----------------------------------------------------------

def test_every_declared_exercise_is_worth_one_point_by_default():
    assert {checks.get_exercise(exercise_id).points for exercise_id in checks.exercises()} == {1.0}


def test_a_resubmission_counts_once_the_latest_by_default(tmp_path):
    results = [result("ana", "ana_v1.ipynb", 7, T0), result("ana", "ana_v2.ipynb", 3, T0 + 60),
               result("bob", "bob.ipynb", 5)]
    reports.write_reports(results, tmp_path)
    summary = {row["student"]: row for row in read_csv_rows(tmp_path / "summary.csv")}
    assert (summary["ana"]["submissions"], summary["ana"]["counted"], summary["ana"]["points"],
            summary["ana"]["max_points"], summary["ana"]["percent"]) == ("2", "1", "3.0", "7.0", "42.9")
    assert summary["ana"]["not_counted"] == "ana_v1.ipynb (a later submission counts)"
    book = {row["file"]: row for row in read_csv_rows(tmp_path / "gradebook.csv")}
    assert (book["ana_v1.ipynb"]["counted"], book["ana_v2.ipynb"]["counted"]) == ("no", "yes")
    feedback = (tmp_path / "feedback" / "ana.html").read_text()
    assert "This submission does not count: a later submission counts." in feedback


def test_the_best_submission_counts_when_the_config_says_so(tmp_path):
    settings = config.load_config(write_config(tmp_path, 'counted_submission = "best"\n'))
    results = [result("ana", "ana_v1.ipynb", 7, T0), result("ana", "ana_v2.ipynb", 3, T0 + 60)]
    book = gradebook.build_gradebook(results, settings)
    assert [entry.counted for entry in book.entries] == [True, False]
    assert book.entries[1].note == "a better submission counts"
    assert book.totals("ana")["final"] == 7.0


def test_best_compares_final_points_after_the_late_penalty(tmp_path):
    settings = config.load_config(write_config(tmp_path, (
        'counted_submission = "best"\n[late_policy]\npercent_per_day = 50\n'
        '[chapters.ch01]\ndeadline = 2026-10-05T12:00:00Z\n')))
    on_time, late = result("ana", "on_time.ipynb", 5, T0 - 60), result("ana", "late.ipynb", 7, T0 + 3600)
    book = gradebook.build_gradebook([on_time, late], settings)
    assert [(entry.raw, entry.penalty, entry.final, entry.counted) for entry in book.entries] == [
        (5.0, 0.0, 5.0, True), (7.0, 3.5, 3.5, False)]


def test_declared_points_apply_without_regrading(tmp_path, monkeypatch):
    results = [result("ana", "ana.ipynb", 2)]  # sigmoid and relu passed
    monkeypatch.setattr(checks.get_exercise("ch01.relu"), "points", 3.0)
    book = gradebook.build_gradebook(results, config.CourseConfig())
    assert (book.entries[0].raw, book.entries[0].max_points) == (4.0, 9.0)
    rows = reports.grade_rows(book)
    assert [(row["exercise"], row["points"], row["max_points"]) for row in rows[:3]] == [
        ("ch01.sigmoid", 1.0, 1.0), ("ch01.relu", 3.0, 3.0), ("ch01.softmax", 0.0, 1.0)]
    assert results[0].exercises[1]["points"] == 1.0, "the saved result is not changed"


def test_chapter_weights_scale_each_chapter_in_the_weighted_total(tmp_path):
    settings = config.load_config(write_config(tmp_path, "[chapters.ch01]\nweight = 10\n[chapters.ch02]\nweight = 30\n"))
    results = [result("ana", "a1.ipynb", 7), result("ana", "a2.ipynb", len(CH02) // 2, chapter="ch02")]
    book = gradebook.build_gradebook(results, settings)
    half = len(CH02) // 2 / len(CH02)
    assert book.totals("ana") == {"raw": 7.0 + len(CH02) // 2, "penalty": 0.0, "final": 7.0 + len(CH02) // 2,
                                  "max": 7.0 + len(CH02), "weighted": round(10 + 30 * half, 4), "weighted_max": 40.0}
    reports.write_reports(results, tmp_path, settings)
    row = read_csv_rows(tmp_path / "summary.csv")[0]
    assert (row["raw_points"], row["weighted_points"], row["weighted_max"]) == (
        str(7.0 + len(CH02) // 2), str(round(10 + 30 * half, 4)), "40.0")


def test_a_chapter_without_a_weight_counts_its_own_points():
    book = gradebook.build_gradebook([result("ana", "a.ipynb", 4)], config.CourseConfig())
    assert book.weights == {"ch01": 7.0} and book.totals("ana")["weighted"] == 4.0


def test_bad_files_and_grader_failures_never_count_and_are_listed():
    results = [result("ana", "a.ipynb", 4, T0),
               SubmissionResult("ana", "/submissions/broken.ipynb", "1" * 64, "ch01", error="the file is empty.",
                                file_mtime=T0 + 60),
               SubmissionResult("ana", "/submissions/crash.ipynb", "", grader_error="died twice.")]
    rows = reports.summary_rows(gradebook.build_gradebook(results, config.CourseConfig()))
    assert (rows[0]["points"], rows[0]["counted"], rows[0]["grader_failures"]) == (4.0, 1, 1)
    assert rows[0]["problems"] == "broken.ipynb: the file is empty."
    assert rows[0]["not_counted"] == "crash.ipynb (grader failure: grade again)"


# --- 2: deadlines, extensions and the late policy -------------------------------------------------------------------

@pytest.mark.parametrize("minutes_late,percent", [
    (5, 0.0),              # within the 10-minute grace period
    (11, 10.0),            # one started day
    (60 * 24 + 1, 20.0),   # two started days
    (60 * 24 * 5, 30.0),   # capped at 30 %
    (60 * 24 * 7 + 1, 100.0),  # after the 7-day cut-off: zero
])
def test_the_late_policy_grace_per_day_cap_and_cut_off(minutes_late, percent):
    policy = config.LatePolicy(grace_minutes=10, percent_per_day=10, max_percent=30, zero_after_days=7)
    assert policy.penalty_percent(minutes_late * 60.0) == percent


def test_raw_penalty_and_final_points_side_by_side(tmp_path):
    settings = config.load_config(write_config(tmp_path, (
        '[late_policy]\npercent_per_day = 10\n[chapters.ch01]\ndeadline = "2026-10-05 14:00"\n'
        'timezone_note = 1\n'.replace("timezone_note = 1\n", "") + 'weight = 20\n')))
    late = result("ana", "ana.ipynb", 7, T0 + DAY)  # 2026-10-06 12:00 UTC: 22 h late
    reports.write_reports([late], tmp_path, settings)
    row = read_csv_rows(tmp_path / "gradebook.csv")[0]
    assert {key: row[key] for key in ("submitted_at", "deadline", "days_late", "raw_points", "penalty_percent",
                                      "penalty", "final_points", "weight", "weighted_points")} == {
        "submitted_at": "2026-10-06T12:00:00+00:00", "deadline": "2026-10-05T14:00:00+00:00", "days_late": "0.92",
        "raw_points": "7.0", "penalty_percent": "10.0", "penalty": "0.7", "final_points": "6.3", "weight": "20.0",
        "weighted_points": "18.0"}
    summary = read_csv_rows(tmp_path / "summary.csv")[0]
    assert (summary["raw_points"], summary["penalty"], summary["points"]) == ("7.0", "0.7", "6.3")
    assert "late penalty 10 % (-0.7); final points 6.3" in (tmp_path / "feedback" / "ana.html").read_text()


def test_a_deadline_without_an_offset_is_in_the_course_timezone(tmp_path):
    settings = config.load_config(write_config(tmp_path, (
        'timezone = "Europe/Berlin"\n[chapters.ch01]\ndeadline = 2026-10-05T14:00:00\n')))
    assert settings.chapters["ch01"].deadline == datetime.datetime(2026, 10, 5, 12, 0, tzinfo=datetime.timezone.utc)


def test_extensions_move_one_students_deadline(tmp_path):
    settings = config.load_config(write_config(tmp_path, (
        '[late_policy]\npercent_per_day = 10\n[chapters.ch01]\ndeadline = 2026-10-05T12:00:00Z\n'
        '[extensions]\n"zoë  o\'brien" = { ch01 = 2 }\nbob = { ch01 = "2026-10-10T12:00:00Z" }\n')))
    results = [result("Zoë O'Brien", "z.ipynb", 7, T0 + DAY), result("bob", "b.ipynb", 7, T0 + DAY),
               result("carl", "c.ipynb", 7, T0 + DAY)]
    book = gradebook.build_gradebook(results, settings)
    assert [entry.penalty_percent for entry in book.entries] == [0.0, 0.0, 10.0]
    assert book.entries[0].deadline == datetime.datetime(2026, 10, 7, 12, 0, tzinfo=datetime.timezone.utc)


def test_changing_the_policy_and_exporting_again_needs_no_regrade(tmp_path, capsys):
    out = save_results(tmp_path / "grades", [result("ana", "ana.ipynb", 7, T0 + DAY)])
    saved = {path.name: path.read_bytes() for path in (out / "results").iterdir()}
    settings = write_config(tmp_path, '[late_policy]\npercent_per_day = 10\n[chapters.ch01]\n'
                                      'deadline = 2026-10-05T12:00:00Z\n')
    assert run_main(capsys, "export", out, "--format", "wide", "--out", tmp_path / "a.csv", "--config", settings)[0] == 0
    assert read_csv_rows(tmp_path / "a.csv")[0]["ch01 final"] == "6.3"
    settings.write_text(settings.read_text() + '[extensions]\nana = { ch01 = 1 }\n', encoding="utf-8")
    assert run_main(capsys, "export", out, "--format", "wide", "--out", tmp_path / "b.csv", "--config", settings)[0] == 0
    assert read_csv_rows(tmp_path / "b.csv")[0]["ch01 final"] == "7"
    settings.write_text(settings.read_text().replace("percent_per_day = 10", "percent_per_day = 25")
                        .replace("ana = { ch01 = 1 }", "ana = { ch01 = 0.5 }"), encoding="utf-8")
    assert run_main(capsys, "export", out, "--format", "wide", "--out", tmp_path / "c.csv", "--config", settings)[0] == 0
    assert read_csv_rows(tmp_path / "c.csv")[0]["ch01 final"] == "5.25"
    assert {path.name: path.read_bytes() for path in (out / "results").iterdir()} == saved, "results are never rewritten"
    assert "penalty" not in json.dumps([json.loads(data) for data in saved.values()]), "penalties are never stored"


def test_submission_times_from_a_collected_csv(tmp_path):
    (tmp_path / "times.csv").write_text("filename,Submitted\nana.ipynb,2026-10-07T12:00:00Z\n"
                                        "sub/bob.ipynb,2026-10-05 11:00\n", encoding="utf-8")
    settings = config.load_config(write_config(tmp_path, (
        '[submission_time]\nsource = "csv"\ncsv = "times.csv"\nfile_column = "filename"\ntime_column = "Submitted"\n'
        '[late_policy]\npercent_per_day = 10\n[chapters.ch01]\ndeadline = 2026-10-05T12:00:00Z\n')))
    bob = result("bob", "bob.ipynb", 7, T0 + 9 * DAY)  # its mtime is late, but the CSV's time counts
    bob.path = str(tmp_path / "sub" / "bob.ipynb")
    book = gradebook.build_gradebook([result("ana", "ana.ipynb", 7), bob], settings)
    assert [entry.penalty_percent for entry in book.entries] == [20.0, 0.0]
    with pytest.raises(gradebook.GradebookError, match=r"no submission time for carl.ipynb in .*times.csv"):
        gradebook.build_gradebook([result("carl", "carl.ipynb", 7)], settings)


@pytest.mark.parametrize("text,message", [
    ("[chapters.ch01]\ndeadline = \"next friday\"\n", "chapters.ch01.deadline 'next friday' is not a date and time"),
    ("[chapters.ch01]\ndeadline = 2026-10-05\n", "chapters.ch01.deadline 2026-10-05 has no time of day"),
    ("[chapters.ch01]\ndeadline = \"2026-10-05\"\n", "has no time of day (write it as 2026-10-05T23:59)"),
    ("[chapters.ch42]\nweight = 1\n", "unknown chapter 'ch42'"),
    ("[chapters.ch01]\nweight = -1\n", "chapters.ch01.weight must be a number of at least 0"),
    ("[late_policy]\npercent_per_dya = 10\n", "unknown setting late_policy.percent_per_dya"),
    ("[late_policy]\nmax_percent = 150\n", "percentages must be between 0 and 100"),
    ("counted_submission = \"first\"\n", "counted_submission must be \"latest\" or \"best\""),
    ("timezone = \"Mars/Olympus\"\n", "unknown timezone 'Mars/Olympus'"),
    ("[extensions]\nana = { ch01 = \"soon\" }\n", "extensions.'ana'.ch01 'soon' is not a date and time"),
    ("[submission_time]\nsource = \"csv\"\n", "needs submission_time.csv"),
    ("[extensions]\nAna = { ch01 = 1 }\nana = { ch01 = 2 }\n", "extensions name 'Ana' and 'ana', the same student"),
    ("[chapters.ch01\n", "is not valid TOML"),
])
def test_a_bad_config_gets_a_one_line_message(tmp_path, text, message):
    with pytest.raises(config.ConfigError) as raised:
        config.load_config(write_config(tmp_path, text))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_bad_config_stops_grade_and_export_with_exit_code_2(tmp_path, capsys):
    settings = write_config(tmp_path, "[chapters.ch01]\ndeadline = \"5 Oct\"\n")
    out = save_results(tmp_path / "grades", [result("ana", "ana.ipynb", 7)])
    code, _, err = run_main(capsys, "export", out, "--format", "wide", "--out", tmp_path / "w.csv", "--config", settings)
    assert code == 2 and err.startswith("dlcourse export: ") and "'5 Oct' is not a date and time" in err
    assert "Traceback" not in err and not (tmp_path / "w.csv").exists()
    notebook = tmp_path / "ana.ipynb"
    notebook.write_text("{}")
    code, _, err = run_main(capsys, "grade", notebook, "--out", tmp_path / "g", "--config", settings, "--no-sandbox")
    assert code == 2 and "'5 Oct' is not a date and time" in err and not (tmp_path / "g" / "results").exists()


# --- 1: exports -----------------------------------------------------------------------------------------------------

ROSTER = ('student,name,id,sis_user_id,sis_login_id,section,email,id_number\n'
          '"Zoë O\'Brien, Jr.","O\'Brien, Zoë",101,S101,zobrien,Mon,zoe@uni.edu,9001\n'
          '"bob ""the builder""",Bob Builder,102,S102,bbuilder,Tue,bob@uni.edu,9002\n'
          'Chloé,Chloé Durand,103,S103,cdurand,Tue,chloe@uni.edu,9003\n')


@pytest.fixture
def class_folder(tmp_path):
    """Saved results (a resubmission, a late chapter 02), a roster and a config with deadlines and weights."""
    results = [result("Zoë O'Brien, Jr.", "zoe_1.ipynb", 2, T0 - DAY), result("Zoë O'Brien, Jr.", "zoe_2.ipynb", 7, T0),
               result('bob "the builder"', "bob.ipynb", 5),
               result('bob "the builder"', "bob_ch02.ipynb", len(CH02), T0 + DAY + 60, chapter="ch02")]
    out = save_results(tmp_path / "grades", results)
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    write_config(tmp_path, ('[late_policy]\npercent_per_day = 10\n'
                            '[chapters.ch01]\ndeadline = 2026-10-05T12:00:00Z\nweight = 10\n'
                            'lms_column = "Chapter 1: Neurons (4321)"\n'
                            '[chapters.ch02]\ndeadline = 2026-10-06T12:00:00Z\nweight = 20\n'))
    return tmp_path, out


def test_canvas_export_is_exactly_canvas_import_format(class_folder, capsys):
    folder, out = class_folder
    code, stdout, _ = run_main(capsys, "export", out, "--format", "canvas", "--roster", folder / "roster.csv",
                               "--config", folder / "course.toml", "--out", folder / "canvas.csv")
    assert code == 0
    assert (folder / "canvas.csv").read_bytes().decode("utf-8") == (
        'Student,ID,SIS User ID,SIS Login ID,Section,Chapter 1: Neurons (4321),ch02 Backpropagation\r\n'
        '    Points Possible,,,,,10,20\r\n'
        '"O\'Brien, Zoë",101,S101,zobrien,Mon,10,0\r\n'
        'Bob Builder,102,S102,bbuilder,Tue,7.14,18\r\n'
        'Chloé Durand,103,S103,cdurand,Tue,0,0\r\n')
    assert "get 0 there (--missing blank leaves the cell empty): O'Brien, Zoë (ch02); Chloé Durand (ch01, ch02)" in stdout


def test_missing_blank_leaves_cells_empty(class_folder, capsys):
    folder, out = class_folder
    code, stdout, _ = run_main(capsys, "export", out, "--format", "canvas", "--roster", folder / "roster.csv",
                               "--missing", "blank", "--out", folder / "canvas.csv")
    assert code == 0 and "get an empty cell there" in stdout
    rows = list(csv.reader((folder / "canvas.csv").open(newline="", encoding="utf-8")))
    assert rows[1] == ["    Points Possible", "", "", "", "", "7", str(len(CH02))]
    assert rows[4] == ["Chloé Durand", "103", "S103", "cdurand", "Tue", "", ""]


def test_moodle_export_with_identifier_and_feedback(class_folder, capsys):
    folder, out = class_folder
    code, _, _ = run_main(capsys, "export", out, "--format", "moodle", "--roster", folder / "roster.csv",
                          "--config", folder / "course.toml", "--moodle-identifier", "id_number", "--feedback",
                          "--out", folder / "moodle.csv")
    assert code == 0
    rows = list(csv.reader((folder / "moodle.csv").open(newline="", encoding="utf-8")))
    assert rows[0] == ["ID number", "Chapter 1: Neurons (4321)", "Chapter 1: Neurons (4321) feedback",
                       "ch02 Backpropagation", "ch02 Backpropagation feedback"]
    assert rows[2] == ["9002", "7.14", "Raw points 5 / 7; final points 5. This submission counts.", "18",
                       f"Raw points {len(CH02)} / {len(CH02)}; handed in 1 min late: late penalty 10 % "
                       f"(-{len(CH02) / 10:g}); final points {len(CH02) * 0.9:g}. This submission counts."]
    assert rows[3] == ["9003", "0", "No submission was graded.", "0", "No submission was graded."]


def test_wide_export_has_a_column_per_exercise_and_chapter(class_folder, capsys):
    folder, out = class_folder
    code, _, _ = run_main(capsys, "export", out, "--format", "wide", "--config", folder / "course.toml",
                          "--out", folder / "wide.csv")
    assert code == 0
    rows = list(csv.reader((folder / "wide.csv").open(newline="", encoding="utf-8")))
    assert rows[0] == ["student", "name", *CH01, "ch01 raw", "ch01 penalty", "ch01 final", "ch01 weighted",
                       *CH02, "ch02 raw", "ch02 penalty", "ch02 final", "ch02 weighted", "total raw",
                       "total penalty", "total final", "total weighted", "weighted max", "weighted percent"]
    assert [row[0] for row in rows[1:]] == ["Zoë O'Brien, Jr.", 'bob "the builder"']  # without a roster: sorted
    zoe = dict(zip(rows[0], rows[1]))
    assert zoe["ch01 final"] == "7" and zoe["ch02 raw"] == "0"
    assert (zoe["total weighted"], zoe["weighted max"], zoe["weighted percent"]) == ("10", "30", "33.3")
    bob = dict(zip(rows[0], rows[2]))
    assert [bob[exercise_id] for exercise_id in CH01] == ["1"] * 5 + ["0"] * 2
    assert (bob["ch02 penalty"], bob["total final"]) == (f"{len(CH02) / 10:g}", f"{5 + len(CH02) * 0.9:g}")


def test_unmatched_students_are_listed_and_nothing_is_written(class_folder, capsys):
    folder, out = class_folder
    (folder / "roster.csv").write_text(ROSTER.replace('"bob ""the builder"""', "robert"), encoding="utf-8")
    arguments = ["export", out, "--format", "canvas", "--roster", folder / "roster.csv", "--out", folder / "c.csv"]
    code, _, err = run_main(capsys, *arguments)
    assert code == 1 and not (folder / "c.csv").exists()
    assert "NOT IN THE ROSTER: 1 graded student(s) match no roster entry:" in err
    assert "  'bob \"the builder\"': bob.ipynb, bob_ch02.ipynb" in err and "--allow-unmatched" in err
    code, _, err = run_main(capsys, *arguments, "--allow-unmatched")
    assert code == 0 and "NOT IN THE ROSTER" in err
    assert [row[0] for row in csv.reader((folder / "c.csv").open(encoding="utf-8"))][2:] == [
        "O'Brien, Zoë", "Bob Builder", "Chloé Durand"]
    assert list(csv.reader((folder / "c.csv").open(encoding="utf-8")))[3][5:] == ["0", "0"]


def test_roster_names_match_across_case_spacing_and_unicode_forms(tmp_path):
    decomposed = "Chloe\u0301  DURAND"
    book = gradebook.build_gradebook([result(decomposed, "c.ipynb", 3)], config.CourseConfig())
    roster = [export.RosterEntry(2, "chloé durand", id="103")]
    assert export.match_roster(book, roster).by_student == {decomposed: roster[0]}


@pytest.mark.parametrize("text,message", [
    ("name,id\nAna,1\n", "needs a 'student' column"),
    ("student,id\nana,1\nAna,2\n", "names 'Ana' twice (lines 2 and 3)"),
    ("student,id\nana,1,extra\n", "line 2, has more fields than the header"),
    ("student,id\n,1\n", "line 2, has no student name"),
    ("student,id\n", "lists no students"),
])
def test_a_malformed_roster_gets_a_one_line_message_and_exit_code_2(class_folder, capsys, text, message):
    folder, out = class_folder
    (folder / "roster.csv").write_text(text, encoding="utf-8")
    code, _, err = run_main(capsys, "export", out, "--format", "canvas", "--roster", folder / "roster.csv",
                            "--out", folder / "c.csv")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and not (folder / "c.csv").exists()


def test_a_roster_that_is_not_utf8_is_refused(class_folder, capsys):
    folder, out = class_folder
    (folder / "roster.csv").write_bytes("student,id\nZoë,1\n".encode("latin-1"))
    code, _, err = run_main(capsys, "export", out, "--format", "wide", "--roster", folder / "roster.csv",
                            "--out", folder / "w.csv")
    assert code == 2 and "is not UTF-8 text" in err


def test_canvas_needs_an_lms_identity_for_every_roster_student(class_folder, capsys):
    folder, out = class_folder
    (folder / "roster.csv").write_text(ROSTER + "Dan,,,,,,,\n", encoding="utf-8")
    code, _, err = run_main(capsys, "export", out, "--format", "canvas", "--roster", folder / "roster.csv",
                            "--allow-unmatched", "--out", folder / "c.csv")
    assert code == 2 and "roster line 5 ('Dan') has no id, sis_user_id or sis_login_id" in err


def test_an_extension_for_a_student_not_in_the_roster_is_refused(class_folder, capsys):
    folder, out = class_folder
    settings = write_config(folder, '[chapters.ch01]\ndeadline = 2026-10-05T12:00:00Z\n[extensions]\nzoey = { ch01 = 1 }\n')
    code, _, err = run_main(capsys, "export", out, "--format", "canvas", "--roster", folder / "roster.csv",
                            "--config", settings, "--out", folder / "c.csv")
    assert code == 2 and "gives an extension to 'zoey', who is not in the roster" in err


def test_lms_formats_need_a_roster_and_results(class_folder, capsys):
    folder, out = class_folder
    assert run_main(capsys, "export", out, "--format", "moodle", "--out", folder / "m.csv")[0] == 2
    code, _, err = run_main(capsys, "export", folder / "nothing", "--format", "wide", "--out", folder / "w.csv")
    assert code == 2 and "no saved results in" in err


def test_grader_failures_of_the_last_run_block_the_export(class_folder, capsys):
    folder, out = class_folder
    (out / "grader_failures.json").write_text(json.dumps([{"student": "Chloé", "path": "/submissions/chloe.ipynb",
                                                           "grader_error": "died twice."}]))
    arguments = ["export", out, "--format", "canvas", "--roster", folder / "roster.csv", "--out", folder / "c.csv"]
    code, _, err = run_main(capsys, *arguments)
    assert code == 3 and "NOT GRADED: 1 submission(s) hit a grader failure: /submissions/chloe.ipynb" in err
    assert not (folder / "c.csv").exists()
    assert run_main(capsys, *arguments, "--allow-grader-failures")[0] == 0


def test_write_reports_records_the_grader_failures_for_export(tmp_path):
    failed = SubmissionResult("ana", "/s/ana.ipynb", "", grader_error="died twice.")
    reports.write_reports([result("bob", "bob.ipynb", 3), failed], tmp_path)
    assert json.loads((tmp_path / "grader_failures.json").read_text()) == [
        {"student": "ana", "path": "/s/ana.ipynb", "grader_error": "died twice."}]
    reports.write_reports([result("bob", "bob.ipynb", 3)], tmp_path)
    assert json.loads((tmp_path / "grader_failures.json").read_text()) == []


# --- 5: item analysis -----------------------------------------------------------------------------------------------

def test_item_analysis_pass_rate_and_discrimination_index():
    ids = ["ch01.sigmoid", "ch01.relu", "ch01.softmax"]

    def student(index, statuses):
        rows = [{"exercise": exercise_id, "status": status, "points": float(status == "passed"), "max_points": 1.0,
                 "message": ""} for exercise_id, status in zip(ids, statuses)]
        return SubmissionResult(f"s{index}", f"/s/{index}.ipynb", "0" * 64, "ch01", exercises=rows, file_mtime=T0)

    # sigmoid: everyone passes; relu: only the strong pass; softmax: only the weak pass (misleading)
    strong = [student(index, ["passed", "passed", "failed"]) for index in range(5)]
    weak = [student(index + 5, ["passed", "failed", "passed"]) for index in range(5)]
    for own in strong + weak:  # the strong students are also stronger on the rest of the chapter
        status = "passed" if own in strong else "failed"
        own.exercises += [{"exercise": exercise_id, "status": status, "points": float(status == "passed"),
                           "max_points": 1.0, "message": ""} for exercise_id in ("ch01.neuron_output",
                                                                                  "ch01.dense_forward")]
    book = gradebook.build_gradebook(strong + weak, config.CourseConfig())
    rows = {row["exercise"]: row for row in gradebook.item_analysis(book)}
    assert (rows["ch01.sigmoid"]["pass_rate"], rows["ch01.sigmoid"]["discrimination"]) == (1.0, 0.0)
    assert rows["ch01.sigmoid"]["verdict"] == "very easy"
    assert (rows["ch01.relu"]["pass_rate"], rows["ch01.relu"]["discrimination"]) == (0.5, 1.0)
    assert rows["ch01.relu"]["verdict"] == ""
    assert (rows["ch01.softmax"]["discrimination"], rows["ch01.softmax"]["students"]) == (-1.0, 10)
    assert rows["ch01.softmax"]["verdict"].startswith("misleading?")
    report = reports.class_report(book, [])
    assert "<h2>Item analysis</h2>" in report
    assert "<td><code>ch01.relu</code></td><td>10</td><td>50 %</td><td>+1.00</td>" in report


def test_tied_rest_scores_share_the_groups_whatever_the_order():
    outcomes = [(1.0, True), (1.0, True), (1.0, False), (1.0, False), (0.0, False), (2.0, True)] * 2
    assert gradebook.discrimination_index(outcomes) == gradebook.discrimination_index(outcomes[::-1]) == 0.667  # (2 + 4/8) / 3 - (0 + 4/8) / 3


def test_item_analysis_leaves_the_index_empty_for_a_tiny_class():
    book = gradebook.build_gradebook([result("ana", "a.ipynb", 3), result("bob", "b.ipynb", 5)], config.CourseConfig())
    assert {row["discrimination"] for row in gradebook.item_analysis(book)} == {None}


def test_item_analysis_uses_only_counted_submissions():
    book = gradebook.build_gradebook([result("ana", "a1.ipynb", 7, T0), result("ana", "a2.ipynb", 0, T0 + 1)],
                                     config.CourseConfig())
    assert {row["pass_rate"] for row in gradebook.item_analysis(book)} == {0.0}


# --- 6: nbgitpuller links ----------------------------------------------------------------------------------------

def test_link_prints_an_nbgitpuller_link_per_chapter(capsys):
    code, stdout, _ = run_main(capsys, "link", "--hub", "https://hub.example.edu/", "--repo",
                               "https://github.com/uni/dl-course.git", "--branch", "term/2026")
    assert code == 0
    first = stdout.splitlines()[0]
    assert first == ("ch01 Neurons and activations: https://hub.example.edu/hub/user-redirect/git-pull?"
                     "repo=https%3A%2F%2Fgithub.com%2Funi%2Fdl-course.git&branch=term%2F2026"
                     "&urlpath=lab/tree/dl-course/chapters/01_neurons_and_activations.ipynb")
    assert len(stdout.splitlines()) == sum(course.is_available(chapter) for chapter in course.CHAPTERS)


def test_link_without_branch_and_with_a_hub_path():
    url = links.chapter_link("https://uni.edu/jupyter/hub", "https://gitlab.uni.edu/t/my course", "01_x.ipynb")
    assert url == ("https://uni.edu/jupyter/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgitlab.uni.edu%2Ft%2Fmy%20course"
                   "&urlpath=lab/tree/my%20course/chapters/01_x.ipynb")


@pytest.mark.parametrize("hub,repo,message", [
    ("hub.example.edu", "https://github.com/a/b", "--hub must be an http(s) URL"),
    ("https://hub.example.edu", "git@github.com:a/b.git", "--repo must be an http(s) URL"),
    ("https://hub.example.edu?x=1", "https://github.com/a/b", "must not have a query"),
])
def test_link_rejects_bad_urls(capsys, hub, repo, message):
    code, _, err = run_main(capsys, "link", "--hub", hub, "--repo", repo)
    assert code == 2 and message in err
