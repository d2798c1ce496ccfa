"""`dlcourse similarity`: an advisory report of answers that look alike, per exercise and per chapter.

The comparison is copydetect's (https://github.com/blingenf/copydetect): each answer is tokenised with Pygments,
names become placeholders (variables `V`, functions `F`, classes `O`, strings `S`), comments and spacing drop out,
and winnowed k-gram fingerprints are compared. The official starter code of each exercise cell is the boilerplate:
its fingerprints are removed first, so a class that kept the starter code raises no alarm. Answers whose code
(after that) is too short to fingerprint are left out: a one-line answer that everyone writes alike is not evidence.
The report never changes a grade. Submissions are only read.
"""

from __future__ import annotations

import dataclasses
import html
import io
import itertools
import logging
import pathlib
from typing import Any

from dlcourse.grading import gradebook, submissions

NOISE_CHARACTERS = 12  # k: fingerprints are k characters of the normalised code (copydetect's default is 25)
GUARANTEE_CHARACTERS = 16  # a shared run this long is always found (sets the winnowing window)
MINIMUM_COVERAGE = 24  # normalised characters an answer must keep after the starter code is removed


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two students' answers (to one exercise, or a whole chapter) and how much of each the other covers."""

    scope: str  # an exercise id, or a chapter id for the chapter as a whole
    first: str
    second: str
    similarity: float  # the smaller of the two shares: each answer is at least this much the other's
    first_code: str
    second_code: str


def _detector() -> Any:
    """copydetect's detector module (it imports matplotlib: use the non-interactive backend)."""
    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("copydetect").setLevel(logging.ERROR)
    from copydetect import detector

    return detector


def fingerprint(code: str, starter: str = "") -> Any | None:
    """copydetect's fingerprint of the code without the starter code's, or None if too little is left to compare."""
    detector = _detector()
    window = GUARANTEE_CHARACTERS - NOISE_CHARACTERS + 1
    boilerplate: list[int] = []
    if starter.strip():
        boilerplate = list(detector.CodeFingerprint("starter.py", NOISE_CHARACTERS, window,
                                                    fp=io.StringIO(starter), language="python").hashes)
    printed = detector.CodeFingerprint("answer.py", NOISE_CHARACTERS, window, boilerplate=boilerplate,
                                       fp=io.StringIO(code), language="python")
    return printed if printed.token_coverage >= MINIMUM_COVERAGE else None


def similar_pairs(scope: str, answers: dict[str, str], starter: str, threshold: float) -> list[Pair]:
    """Pairs of students whose answers each share at least `threshold` of their code with the other's."""
    detector = _detector()
    prints = {student: fingerprint(code, starter) for student, code in answers.items()}
    pairs = []
    for first, second in itertools.combinations(sorted(prints), 2):
        if prints[first] is None or prints[second] is None:
            continue
        _, shares, _ = detector.compare_files(prints[first], prints[second])
        similarity = float(min(shares))
        if similarity >= threshold:
            pairs.append(Pair(scope, first, second, round(similarity, 3), answers[first], answers[second]))
    return sorted(pairs, key=lambda pair: (-pair.similarity, pair.first, pair.second))


def counted_answers(book: gradebook.Gradebook, root: pathlib.Path) -> tuple[dict[str, dict[str, dict[str, str]]],
                                                                             dict[str, dict[str, str]], list[str]]:
    """From each counted submission: chapter -> exercise -> student -> answer code; the starter code per exercise;
    and the files that could not be read."""
    from dlcourse import course, release

    answers: dict[str, dict[str, dict[str, str]]] = {}
    starters: dict[str, dict[str, str]] = {}
    unreadable = []
    for entry in book.entries:
        if not entry.counted:
            continue
        chapter_id = entry.result.chapter
        if chapter_id not in starters:
            try:
                official = submissions.official_notebook(course.chapter_by_id(chapter_id), root)
            except (submissions.SubmissionError, KeyError) as error:
                unreadable.append(f"{entry.result.path}: {str(error).strip(chr(34) + chr(39))}")
                continue
            starters[chapter_id] = {release.exercise_id_of(cell): cell.source for cell in official.cells
                                    if cell.cell_type == "code" and release.exercise_id_of(cell)}
        try:
            notebook = submissions.read_submission_notebook(pathlib.Path(entry.result.path))
        except submissions.SubmissionError as error:
            unreadable.append(f"{entry.result.path}: {error}")
            continue
        own = submissions.submitted_answers(notebook, starters[chapter_id])
        for exercise_id, code in own.items():
            answers.setdefault(chapter_id, {}).setdefault(exercise_id, {})[entry.result.student] = code
    return answers, starters, unreadable


def find_pairs(book: gradebook.Gradebook, root: pathlib.Path, threshold: float) -> tuple[list[Pair], list[str]]:
    """Similar pairs per exercise, then per chapter (every answer of a student joined), and the unreadable files."""
    answers, starters, unreadable = counted_answers(book, root)
    pairs = []
    for chapter_id in sorted(answers):
        by_exercise = answers[chapter_id]
        order = list(starters[chapter_id])
        for exercise_id in order:
            if exercise_id in by_exercise:
                pairs += similar_pairs(exercise_id, by_exercise[exercise_id], starters[chapter_id][exercise_id],
                                       threshold)
        students = sorted({student for own in by_exercise.values() for student in own})
        joined = {student: "\n\n".join(by_exercise[exercise_id][student] for exercise_id in order
                                       if student in by_exercise.get(exercise_id, {})) for student in students}
        pairs += similar_pairs(chapter_id, joined, "\n\n".join(starters[chapter_id].values()), threshold)
    return pairs, unreadable


def report_page(pairs: list[Pair], unreadable: list[str], threshold: float) -> str:
    """The HTML report: each pair above the threshold, the two answers side by side."""
    from dlcourse.grading import reports

    body = [f"<p>Advisory only: this report never changes a grade. Pairs of counted submissions whose answers share "
            f"at least {100 * threshold:.0f} % of their code with each other after names are normalised and the "
            "starter code is removed (compared with copydetect). Alike answers are a reason to look, not proof: short "
            "answers that everyone writes alike are left out, but a standard idiom can still match.</p>"]
    if not pairs:
        body.append("<p><b>No pair above the threshold.</b></p>")
    for pair in pairs:
        kind = "chapter" if "." not in pair.scope else "exercise"
        body.append(f"<h2>{kind} <code>{html.escape(pair.scope)}</code>: {html.escape(pair.first)} and "
                    f"{html.escape(pair.second)} ({100 * pair.similarity:.0f} %)</h2>"
                    f"<table><tr><th>{html.escape(pair.first)}</th><th>{html.escape(pair.second)}</th></tr>"
                    f"<tr><td><pre>{html.escape(pair.first_code)}</pre></td>"
                    f"<td><pre>{html.escape(pair.second_code)}</pre></td></tr></table>")
    if unreadable:
        items = "".join(f"<li>{html.escape(problem)}</li>" for problem in unreadable)
        body.append(f"<h2>Submissions that could not be read</h2><ul>{items}</ul>")
    return reports.html_page("Similarity report", "".join(body))
