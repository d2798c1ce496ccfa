"""Check versions and the merge of a re-judging (issue 25 §3), without kernels; tests/test_gradebook_e2e.py grades."""

import dataclasses

from dlcourse import checks
from dlcourse.checks import framework
from dlcourse.grading import SubmissionResult, merged_regrade, reports, versions


def fresh_version(exercise_id):
    """The exercise's check version, computed afresh."""
    versions.check_version.cache_clear()
    return versions.check_version(exercise_id)


def test_a_changed_case_or_reference_changes_the_version_and_nothing_else_does(monkeypatch):
    exercise = checks.get_exercise("ch01.relu")
    before = fresh_version("ch01.relu")
    other = fresh_version("ch01.sigmoid")
    monkeypatch.setattr(exercise, "points", 5.0)
    monkeypatch.setattr(exercise, "hints", ["a new hint"])
    monkeypatch.setattr(exercise, "title", "A new title")
    assert fresh_version("ch01.relu") == before, "points, hints and titles don't judge"
    monkeypatch.setattr(exercise, "cases", [*exercise.cases, framework.Case("one more", (0.5,))])
    changed_case = fresh_version("ch01.relu")
    assert changed_case != before
    monkeypatch.setattr(exercise, "reference", lambda x: x * (x > 0))
    assert fresh_version("ch01.relu") not in (before, changed_case)
    assert fresh_version("ch01.sigmoid") == other
    monkeypatch.undo()
    assert fresh_version("ch01.relu") == before


def test_every_exercise_has_its_own_version():
    versions.check_version.cache_clear()
    found = versions.current_versions(checks.exercises())
    assert set(found) == set(checks.exercises()) and len(set(found.values())) == len(found)
    assert all(len(version) == 16 for version in found.values())


def test_stale_exercises_are_those_with_another_or_no_version():
    current = versions.current_versions(["ch01.relu", "ch01.sigmoid"])
    saved = {"ch01.relu": "0" * 16, "ch01.sigmoid": current["ch01.sigmoid"]}
    assert versions.stale_exercises(saved, ["ch01.relu", "ch01.sigmoid", "ch01.softmax"]) == ["ch01.relu",
                                                                                             "ch01.softmax"]
    assert versions.stale_exercises(saved, ["ch01.sigmoid", "ch99.gone"]) == []


def row(exercise, status, message):
    """A grades row."""
    return {"exercise": exercise, "status": status, "points": float(status == "passed"), "max_points": 1.0,
            "message": message}


def test_merging_replaces_only_the_rejudged_rows_and_records_what_changed():
    saved = SubmissionResult("ana", "/s/ana.ipynb", "a" * 64, "ch01", exercises=[
        row("ch01.sigmoid", "passed", "ok"), row("ch01.relu", "passed", "old ok"), row("ch01.softmax", "failed", "x")],
        check_versions={"ch01.sigmoid": "s", "ch01.relu": "old", "ch01.softmax": "old"})
    fresh = SubmissionResult("ana", "/s/ana.ipynb", "a" * 64, "ch01", seconds=3.0, exercises=[
        row("ch01.relu", "failed", "Likely mistake: np.abs"), row("ch01.softmax", "failed", "x")])
    diff = []
    merged = merged_regrade(saved, ["ch01.relu", "ch01.softmax"], fresh, diff)
    assert [(r["exercise"], r["status"], r["message"]) for r in merged.exercises] == [
        ("ch01.sigmoid", "passed", "ok"), ("ch01.relu", "failed", "Likely mistake: np.abs"),
        ("ch01.softmax", "failed", "x")]
    assert diff == [{"student": "ana", "file": "ana.ipynb", "exercise": "ch01.relu", "old_status": "passed",
                     "new_status": "failed", "old_points": 1.0, "new_points": 0.0, "old_message": "old ok",
                     "new_message": "Likely mistake: np.abs"}]
    assert saved.exercises[1]["status"] == "passed" and dataclasses.replace(merged).seconds == 3.0


def test_the_class_report_shows_the_regrade_diff():
    diff = [{"student": "Zoë", "file": "z.ipynb", "exercise": "ch01.relu", "old_status": "passed", "new_status": "failed",
             "old_points": 1.0, "new_points": 0.0, "old_message": "ok <old>", "new_message": "Likely mistake: np.abs"}]
    section = reports.regrade_section(diff)
    assert section.startswith("<h2>Regrades: checks that changed since the last grading</h2>")
    assert ("<tr><td>Zoë</td><td>z.ipynb</td><td><code>ch01.relu</code></td><td>passed, 1<pre>ok &lt;old&gt;</pre></td>"
            "<td>failed, 0<pre>Likely mistake: np.abs</pre></td></tr>") in section
    assert reports.regrade_section([]) == ""
    assert section in reports.class_report([SubmissionResult("Zoë", "/z.ipynb", "0" * 64, "ch01")], [],
                                           extra_sections=section)


def test_lazy_cases_are_described_by_their_builder_without_being_built():
    def build_cases():
        raise AssertionError("computing a version must not build the cases (it would load their data)")

    assert versions.describe(framework.LazyCases(build_cases), set()).startswith("LazyCases(    def build_cases():")
