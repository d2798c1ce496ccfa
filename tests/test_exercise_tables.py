"""The contract every chapter's exercise tests share, run over each chapter's tables of answers.

Each tests/test_checks_chNN.py declares CORRECT_ANSWERS (exercise id -> answers that must pass: the
reference as a student would write it, and differently written ones) and MISTAKES (exercise id ->
(answer, status, fragments the message must contain)). The packaged reference itself must be refused.
Exercises whose answers are trained models or configured objects are listed in TESTED_ELSEWHERE instead,
with the tests that cover them. Every exercise of every chapter is in one or the other: this is the one
place that checks "two correct answers and two named mistakes" for the whole course.
"""

import importlib

import pytest

from dlcourse import checks

CHAPTERS = ("ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "ch09")
TABLES = {chapter: importlib.import_module(f"test_checks_{chapter}") for chapter in CHAPTERS}


def cases(table_name):
    """(chapter, exercise id, entry) for every entry of one kind of table in every chapter."""
    return [(chapter, exercise_id, entry) for chapter, module in TABLES.items()
            for exercise_id, entries in getattr(module, table_name).items() for entry in entries]


@pytest.mark.parametrize("chapter,exercise_id", [(chapter, exercise_id) for chapter, module in TABLES.items()
                                                 for exercise_id in module.CORRECT_ANSWERS])
def test_the_packaged_reference_itself_is_flagged(chapter, exercise_id):
    module = importlib.import_module(f"dlcourse.checks.{chapter}")
    reference = getattr(module, "reference_" + exercise_id.split(".", 1)[1])
    result = checks.check(exercise_id, reference, record=False)
    assert result.status == "failed"
    assert "uses the course's reference implementation" in result.message and reference.__name__ in result.message


@pytest.mark.parametrize("chapter,exercise_id,answer", cases("CORRECT_ANSWERS"))
def test_correct_answers_pass(chapter, exercise_id, answer):
    result = checks.check(exercise_id, answer, record=False)
    assert result.status == "passed" and result.passed, str(result)


@pytest.mark.parametrize("chapter,exercise_id,mistake", cases("MISTAKES"))
def test_mistakes_are_rejected_and_named(chapter, exercise_id, mistake):
    answer, status, fragments = mistake
    result = checks.check(exercise_id, answer, record=False)
    assert result.status == status and not result.passed, str(result)
    for fragment in fragments:
        assert fragment in result.message, f"{fragment!r} not in:\n{result.message}"


@pytest.mark.parametrize("chapter,exercise_id,mistake", cases("MISTAKES"))
def test_mistakes_read_the_same_through_the_graders_plain_data_path(chapter, exercise_id, mistake):
    """The grader collects an answer in the student's kernel, sends it as JSON and judges it outside: every mistake
    gets the same status and message that way as from `checks.check` in the notebook."""
    from test_check_framework import judged_through_plain_data

    from dlcourse.checks import framework

    exercise = checks.get_exercise(exercise_id)
    in_the_notebook = framework.evaluate_answer(exercise, mistake[0])
    through_json = judged_through_plain_data(exercise, mistake[0])
    assert (through_json.status, through_json.message) == (in_the_notebook.status, in_the_notebook.message)


@pytest.mark.parametrize("exercise_id", checks.exercises())
def test_every_exercise_has_two_correct_answers_and_two_named_mistakes(exercise_id):
    """In the tables: at least two answers that pass and two mistakes, each naming itself by at least one fragment.
    Listed in TESTED_ELSEWHERE: the tests that cover its correct answers and its mistakes (two at least), which exist."""
    module = TABLES[exercise_id.split(".")[0]]
    elsewhere = getattr(module, "TESTED_ELSEWHERE", {})
    if exercise_id in elsewhere:
        assert exercise_id not in module.CORRECT_ANSWERS and exercise_id not in module.MISTAKES, "listed twice"
        module_name, test_names = (elsewhere[exercise_id] if isinstance(elsewhere[exercise_id], tuple)
                                   else (module.__name__, elsewhere[exercise_id]))
        covering = importlib.import_module(module_name)
        assert len(test_names) >= 2 and all(callable(getattr(covering, name, None)) for name in test_names), (
            [name for name in test_names if not callable(getattr(covering, name, None))])
        return
    assert len(module.CORRECT_ANSWERS.get(exercise_id, [])) >= 2, "fewer than two correct answers"
    mistakes = module.MISTAKES.get(exercise_id, [])
    assert len(mistakes) >= 2 and all(fragments for _, _, fragments in mistakes), "fewer than two named mistakes"


def test_every_chapter_with_exercises_has_tables():
    chapters = sorted({exercise_id.split(".")[0] for exercise_id in checks.exercises()})
    assert chapters == sorted(CHAPTERS)
