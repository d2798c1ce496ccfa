"""The committed threshold benchmark (tests/threshold_report.md, written by tests/run_threshold_benchmark.py) covers
every exercise scored by a threshold, and shows each taught recipe passing on at least 9 of 10 seeds."""

import pathlib
import re

from dlcourse import checks
from dlcourse.checks import framework

REPORT = pathlib.Path(__file__).parent / "threshold_report.md"
ROW = re.compile(r"^\| (?P<id>ch\d\d\.\w+) \| .* \| (?P<passes>\d+)/(?P<seeds>\d+) \| (?P<verdict>[^|]+) \|", re.M)


def threshold_exercise_ids():
    """Every model or scored exercise whose bar is below a perfect score (a bar a recipe can miss on some seed)."""
    scored = (framework.ModelExercise, framework.ScoredFunctionExercise)
    return [exercise_id for exercise_id in checks.exercises()
            if isinstance(checks.get_exercise(exercise_id), scored)
            and checks.get_exercise(exercise_id).minimum_score < 1.0]


def test_every_threshold_exercise_passes_on_at_least_9_of_10_seeds():
    rows = {match["id"]: match for match in ROW.finditer(REPORT.read_text(encoding="utf-8"))}
    for exercise_id in threshold_exercise_ids():
        assert exercise_id in rows, f"{exercise_id} is missing from the threshold report"
        row = rows[exercise_id]
        assert int(row["seeds"]) == 10 and int(row["passes"]) >= 9 and row["verdict"].strip() == "ok", exercise_id


def test_the_report_states_each_threshold_as_the_check_declares_it():
    text = REPORT.read_text(encoding="utf-8")
    for exercise_id in threshold_exercise_ids():
        minimum = checks.get_exercise(exercise_id).minimum_score
        assert re.search(rf"^\| {re.escape(exercise_id)} \| [^|]+ \| {minimum:g} \|", text, re.M), exercise_id
