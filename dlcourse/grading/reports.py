"""The grader's outputs: grades.csv, summary.csv, per-student feedback pages and the class report."""

from __future__ import annotations

import base64
import collections
import csv
import hashlib
import html
import io
import pathlib
import re
import unicodedata
from typing import Iterable

from dlcourse import files
from dlcourse.grading import SubmissionResult

GRADE_COLUMNS = ("student", "chapter", "exercise", "status", "points", "max_points", "message")
SUMMARY_COLUMNS = ("student", "submissions", "points", "max_points", "percent", "problems", "grader_failures")
_STATUS_COLOURS = {"passed": "#1e7e34", "failed": "#b02a37", "error": "#b02a37", "not_attempted": "#6c5d00",
                   "invalid": "#b02a37", "grader_error": "#6f42c1"}


def grade_rows(results: list[SubmissionResult]) -> list[dict]:
    """One row per student x exercise; one 'invalid' row per bad file, one 'grader_error' row per grader failure."""
    rows = []
    for result in results:
        if result.error or result.grader_error:
            rows.append({"student": result.student, "chapter": result.chapter, "exercise": "",
                         "status": "invalid" if result.error else "grader_error", "points": 0, "max_points": 0,
                         "message": f"{pathlib.Path(result.path).name}: {result.error or result.grader_error}"})
            continue
        for exercise in result.exercises:
            rows.append({"student": result.student, "chapter": result.chapter, **exercise})
    return rows


def summary_rows(results: list[SubmissionResult]) -> list[dict]:
    """One row per student: submissions, points, maximum, percent, ungradable files and grader failures."""
    by_student: dict[str, list[SubmissionResult]] = collections.defaultdict(list)
    for result in results:
        by_student[result.student].append(result)
    rows = []
    for student in sorted(by_student):
        own = by_student[student]
        points = sum(result.points for result in own)
        maximum = sum(result.max_points for result in own)
        problems = "; ".join(f"{pathlib.Path(r.path).name}: {r.error}" for r in own if r.error)
        rows.append({"student": student, "submissions": len(own), "points": points, "max_points": maximum,
                     "percent": round(100.0 * points / maximum, 1) if maximum else 0.0, "problems": problems,
                     "grader_failures": sum(1 for result in own if result.grader_error)})
    return rows


def to_csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    """Rows as CSV text with a header."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _page(title: str, body: str) -> str:
    """A small standalone HTML page."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;"
            "vertical-align:top;text-align:left}pre{white-space:pre-wrap;margin:0}"
            f"</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def feedback_page(student: str, results: list[SubmissionResult]) -> str:
    """The HTML feedback for one student: every exercise's status and message."""
    parts = []
    for result in results:
        name = html.escape(pathlib.Path(result.path).name)
        if result.error:
            parts.append(f"<h2>{name}</h2><p style='color:#b02a37'>This notebook could not be graded: "
                         f"{html.escape(result.error)}</p>")
            continue
        if result.grader_error:
            parts.append(f"<h2>{name}</h2><p style='color:{_STATUS_COLOURS['grader_error']}'>This notebook could not "
                         "be graded because of a grader failure; it will be graded again: "
                         f"{html.escape(result.grader_error)}</p>")
            continue
        rows = "".join(
            f"<tr><td><code>{html.escape(row['exercise'])}</code></td>"
            f"<td style='color:{_STATUS_COLOURS.get(row['status'], '#000')}'><b>{row['status'].replace('_', ' ')}</b></td>"
            f"<td>{row['points']:g} / {row['max_points']:g}</td><td><pre>{html.escape(row['message'])}</pre></td></tr>"
            for row in result.exercises)
        parts.append(f"<h2>{name} (chapter {html.escape(result.chapter)}): {result.points:g} / {result.max_points:g}</h2>"
                     f"<table><tr><th>exercise</th><th>status</th><th>points</th><th>feedback</th></tr>{rows}</table>")
    return _page(f"Feedback for {student}", "".join(parts))


def pass_rate_figure(rows: list[dict]) -> str:
    """A bar chart of the pass rate per exercise, as a base64 PNG (empty if there is nothing to plot)."""
    totals: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for row in rows:
        if row["exercise"]:
            totals[row["exercise"]][0] += row["status"] == "passed"
            totals[row["exercise"]][1] += 1
    if not totals:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(totals)
    rates = [100.0 * passed / count for passed, count in totals.values()]
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    axes.barh(names, rates, color="#1e7e34")
    axes.set_xlim(0, 100)
    axes.invert_yaxis()
    axes.set_title("Pass rate per exercise")
    axes.set_xlabel("students who passed (%)")
    axes.set_ylabel("exercise")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def summary_line(message: str) -> str:
    """The line of a check message that names the problem: the named mistake, else the first diagnosis."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    for line in lines:
        if line.startswith("Likely mistake:"):
            return line
    if lines[0].startswith("On ") and lines[0].endswith(":") and len(lines) > 1:
        return lines[1]
    return lines[0]


def class_report(results: list[SubmissionResult], rows: list[dict], top: int = 10) -> str:
    """The class report: totals, pass-rate plot, most common failure messages, ungradable files, grader failures."""
    graded = [result for result in results if not result.error and not result.grader_error]
    invalid = [result for result in results if result.error]
    grader_failed = [result for result in results if result.grader_error and not result.error]
    image = pass_rate_figure(rows)
    body = [f"<p>{len(results)} submission(s): {len(graded)} graded, {len(invalid)} could not be graded, "
            f"{len(grader_failed)} hit a grader failure.</p>"]
    if image:
        body.append(f"<img alt='Pass rate per exercise' src='data:image/png;base64,{image}'>")
    failures = collections.Counter((row["exercise"], summary_line(row["message"]))
                                   for row in rows if row["exercise"] and row["status"] in ("failed", "error"))
    if failures:
        items = "".join(f"<tr><td><code>{html.escape(exercise)}</code></td><td>{count}</td>"
                        f"<td><pre>{html.escape(message)}</pre></td></tr>"
                        for (exercise, message), count in failures.most_common(top))
        body.append("<h2>Most common failures</h2><table><tr><th>exercise</th><th>students</th>"
                    f"<th>what went wrong</th></tr>{items}</table>")
    if invalid:
        items = "".join(f"<tr><td>{html.escape(r.student)}</td><td>{html.escape(r.path)}</td>"
                        f"<td>{html.escape(r.error)}</td></tr>" for r in invalid)
        body.append("<h2>Submissions that could not be graded</h2><table><tr><th>student</th><th>file</th>"
                    f"<th>problem</th></tr>{items}</table>")
    if grader_failed:
        items = "".join(f"<tr><td>{html.escape(r.student)}</td><td>{html.escape(r.path)}</td>"
                        f"<td>{html.escape(r.grader_error)}</td></tr>" for r in grader_failed)
        body.append("<h2>Grader failures (not the students' fault)</h2><p>These submissions were not graded and "
                    "not saved: run the same command again to grade them.</p><table><tr><th>student</th>"
                    f"<th>file</th><th>what failed</th></tr>{items}</table>")
    return _page("Class report", "".join(body))


def write_reports(results: list[SubmissionResult], out: pathlib.Path) -> None:
    """Write grades.csv, summary.csv, feedback/<student>.html and report.html, each atomically."""
    rows = grade_rows(results)
    files.write_text_atomically(out / "grades.csv", to_csv(rows, GRADE_COLUMNS))
    files.write_text_atomically(out / "summary.csv", to_csv(summary_rows(results), SUMMARY_COLUMNS))
    by_student: dict[str, list[SubmissionResult]] = collections.defaultdict(list)
    for result in results:
        by_student[result.student].append(result)
    file_names = feedback_file_names(by_student)
    for student, own in by_student.items():
        files.write_text_atomically(out / "feedback" / file_names[student], feedback_page(student, own))
    files.write_text_atomically(out / "report.html", class_report(results, rows))


MAX_STEM_LENGTH = 60
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.-]+")


def readable_file_stem(student: str) -> str:
    """The student's name as a portable file-name stem: accents dropped, other unsafe characters as '_'."""
    decomposed = unicodedata.normalize("NFKD", student)
    without_accents = "".join(character for character in decomposed if not unicodedata.combining(character))
    stem = _UNSAFE_RUN.sub("_", without_accents)[:MAX_STEM_LENGTH].strip("._-")
    return stem or "student"


def name_hash(student: str, length: int) -> str:
    """The first `length` hex digits of the SHA-256 of the exact student name."""
    return hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:length]


_HASH_LENGTHS = (0, 8, 64)  # no hash, a short one, then the full one (only if short hashes ever collide)


def _feedback_file_name(student: str, level: int) -> str:
    """The feedback file name of a student with the hash length at `level` of _HASH_LENGTHS."""
    stem = readable_file_stem(student)
    length = _HASH_LENGTHS[level]
    return f"{stem}--{name_hash(student, length)}.html" if length else f"{stem}.html"


def feedback_file_names(students: Iterable[str]) -> dict[str, str]:
    """A unique, deterministic feedback file name per student: the readable name, plus a name hash where names collide.

    Names are compared case-insensitively (as on macOS and Windows file systems). A student whose readable name is
    unique keeps `<name>.html`; each of two or more students whose names collide gets `<name>--<8 hex digits>.html`,
    the digits hashing the exact student name, so the same set of students always gets the same file names.
    """
    levels = {student: 0 for student in sorted(set(students))}
    while True:
        by_name: dict[str, list[str]] = collections.defaultdict(list)
        for student, level in levels.items():
            by_name[_feedback_file_name(student, level).casefold()].append(student)
        colliding = [student for group in by_name.values() if len(group) > 1 for student in group
                     if levels[student] < len(_HASH_LENGTHS) - 1]
        if not colliding:
            return {student: _feedback_file_name(student, level) for student, level in levels.items()}
        for student in colliding:
            levels[student] += 1


def format_result_table(result: SubmissionResult) -> str:
    """A plain-text per-exercise table for `dlcourse check`."""
    from dlcourse.progress import format_table

    if result.error:
        return f"{result.path}: could not be graded: {result.error}"
    if result.grader_error:
        return f"{result.path}: could not be graded because of a grader failure: {result.grader_error}"
    rows = [(row["exercise"], row["status"].replace("_", " "), f"{row['points']:g}/{row['max_points']:g}",
             (row["message"].splitlines() or [""])[0][:90]) for row in result.exercises]
    rows.append(("total", "", f"{result.points:g}/{result.max_points:g}", ""))
    return format_table(("exercise", "status", "points", "message"), rows)
