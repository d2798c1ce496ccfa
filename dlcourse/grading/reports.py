"""The grader's outputs: grades.csv, summary.csv, per-student feedback pages and the class report."""

from __future__ import annotations

import base64
import collections
import csv
import hashlib
import html
import io
import json
import pathlib
import re
import unicodedata
from typing import Iterable

from dlcourse import files
from dlcourse.grading import SubmissionResult, gradebook
from dlcourse.grading.config import CourseConfig

GRADE_COLUMNS = ("student", "chapter", "exercise", "status", "points", "max_points", "message")
SUMMARY_COLUMNS = ("student", "submissions", "counted", "raw_points", "penalty", "points", "max_points", "percent",
                   "weighted_points", "weighted_max", "weighted_percent", "not_counted", "problems", "grader_failures")
GRADEBOOK_COLUMNS = ("student", "chapter", "file", "submitted_at", "deadline", "days_late", "counted", "note",
                     "raw_points", "max_points", "penalty_percent", "penalty", "final_points", "weight",
                     "weighted_points")
_STATUS_COLOURS = {"passed": "#1e7e34", "failed": "#b02a37", "error": "#b02a37", "not_attempted": "#6c5d00",
                   "invalid": "#b02a37", "grader_error": "#6f42c1"}


def as_gradebook(book_or_results: gradebook.Gradebook | list[SubmissionResult]) -> gradebook.Gradebook:
    """The gradebook itself, or one built from results with the default config."""
    if isinstance(book_or_results, gradebook.Gradebook):
        return book_or_results
    return gradebook.build_gradebook(book_or_results, CourseConfig())


def grade_rows(book_or_results: gradebook.Gradebook | list[SubmissionResult]) -> list[dict]:
    """One row per submission x exercise; one 'invalid' row per bad file, one 'grader_error' row per grader failure.

    Every submission is listed; each row also has `file` and `counted` (whether its submission is the one that counts
    for its student and chapter), which gradebook.csv shows per submission and grades.csv leaves out.
    """
    book = as_gradebook(book_or_results)
    rows = []
    for entry in book.entries:
        result = entry.result
        common = {"file": pathlib.Path(result.path).name, "counted": "yes" if entry.counted else "no"}
        if result.error or result.grader_error:
            rows.append({"student": result.student, "chapter": result.chapter, "exercise": "",
                         "status": "invalid" if result.error else "grader_error", "points": 0, "max_points": 0,
                         "message": f"{pathlib.Path(result.path).name}: {result.error or result.grader_error}",
                         **common})
            continue
        for exercise in result.exercises:
            rows.append({"student": result.student, "chapter": result.chapter, **exercise, **common})
    return rows


def summary_rows(book_or_results: gradebook.Gradebook | list[SubmissionResult]) -> list[dict]:
    """One row per student: counted submissions' raw points, penalty, final and weighted totals, and the problems.

    Only one submission per student and chapter counts; `not_counted` names the others, which are never summed.
    """
    book = as_gradebook(book_or_results)
    by_student: dict[str, list[gradebook.Entry]] = collections.defaultdict(list)
    for entry in book.entries:
        by_student[entry.result.student].append(entry)
    rows = []
    for student in book.students:
        own = by_student[student]
        totals = book.totals(student)
        problems = "; ".join(f"{pathlib.Path(entry.result.path).name}: {entry.result.error}"
                             for entry in own if entry.result.error)
        not_counted = "; ".join(f"{pathlib.Path(entry.result.path).name} ({entry.note})"
                                for entry in own if not entry.counted and not entry.result.error)
        rows.append({"student": student, "submissions": len(own), "counted": sum(entry.counted for entry in own),
                     "raw_points": totals["raw"], "penalty": totals["penalty"], "points": totals["final"],
                     "max_points": totals["max"], "percent": _percent(totals["final"], totals["max"]),
                     "weighted_points": totals["weighted"], "weighted_max": totals["weighted_max"],
                     "weighted_percent": _percent(totals["weighted"], totals["weighted_max"]), "problems": problems,
                     "grader_failures": sum(1 for entry in own if entry.result.grader_error),
                     "not_counted": not_counted})
    return rows


def gradebook_rows(book: gradebook.Gradebook) -> list[dict]:
    """One row per submission: time, deadline, lateness, raw points, penalty and final points side by side."""
    rows = []
    def order(entry: gradebook.Entry) -> tuple:
        """Student, chapter, then submission time (unknown first) and file."""
        moment = entry.submitted.timestamp() if entry.submitted else float("-inf")
        return entry.result.student, entry.result.chapter, moment, entry.result.path

    for entry in sorted(book.entries, key=order):
        chapter_id = entry.result.chapter
        rows.append({"student": entry.result.student, "chapter": chapter_id,
                     "file": pathlib.Path(entry.result.path).name,
                     "submitted_at": entry.submitted.isoformat(timespec="seconds") if entry.submitted else "",
                     "deadline": entry.deadline.isoformat(timespec="seconds") if entry.deadline else "",
                     "days_late": round(entry.seconds_late / 86400.0, 2), "counted": "yes" if entry.counted else "no",
                     "note": entry.note, "raw_points": entry.raw, "max_points": entry.max_points,
                     "penalty_percent": entry.penalty_percent, "penalty": entry.penalty, "final_points": entry.final,
                     "weight": book.weights.get(chapter_id, ""),
                     "weighted_points": book.weighted(entry, chapter_id) if entry.counted else ""})
    return rows


def _percent(points: float, maximum: float) -> float:
    """Points as a percentage of the maximum, one decimal (0 when there is no maximum)."""
    return round(100.0 * points / maximum, 1) if maximum else 0.0


def to_csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    """Rows as CSV text with a header."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def html_page(title: str, body: str) -> str:
    """A small standalone HTML page."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;"
            "vertical-align:top;text-align:left}pre{white-space:pre-wrap;margin:0}"
            f"</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def feedback_page(student: str, entries: list[gradebook.Entry] | list[SubmissionResult]) -> str:
    """The HTML feedback for one student: every submission's exercises, points, any late penalty, and which counts."""
    if entries and isinstance(entries[0], SubmissionResult):
        entries = gradebook.build_gradebook(entries, CourseConfig()).entries
    parts = []
    for entry in entries:
        result = entry.result
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
                     f"<p>{html.escape(entry_summary(entry))}</p>"
                     f"<table><tr><th>exercise</th><th>status</th><th>points</th><th>feedback</th></tr>{rows}</table>")
    return html_page(f"Feedback for {student}", "".join(parts))


def entry_summary(entry: gradebook.Entry) -> str:
    """One sentence: raw points, any late penalty, the final points, and whether this submission counts."""
    points = gradebook.format_points
    text = f"Raw points {points(entry.raw)} / {points(entry.max_points)}"
    if entry.penalty_percent:
        text += (f"; handed in {entry.late_text}: late penalty {points(entry.penalty_percent)} % "
                 f"(-{points(entry.penalty)})")
    elif entry.seconds_late > 0:
        text += f"; handed in {entry.late_text}, within the grace period: no penalty"
    text += f"; final points {points(entry.final)}."
    return text + (" This submission counts." if entry.counted else f" This submission does not count: {entry.note}.")


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


def class_report(book_or_results: gradebook.Gradebook | list[SubmissionResult], rows: list[dict], top: int = 10,
                 extra_sections: str = "") -> str:
    """The class report: totals, pass-rate plot, item analysis, most common failures, ungradable files, grader failures.

    The plot, the item analysis and the failures use the counted submission of each student and chapter only.
    """
    book = as_gradebook(book_or_results)
    results = [entry.result for entry in book.entries]
    graded = [result for result in results if not result.error and not result.grader_error]
    invalid = [result for result in results if result.error]
    grader_failed = [result for result in results if result.grader_error and not result.error]
    counted_rows = [row for row in rows if row["counted"] == "yes"]
    image = pass_rate_figure(counted_rows)
    not_counted = sum(1 for entry in book.entries if entry.gradable and not entry.counted)
    body = [f"<p>{len(results)} submission(s): {len(graded)} graded, {len(invalid)} could not be graded, "
            f"{len(grader_failed)} hit a grader failure. {not_counted} graded submission(s) are not counted "
            f"(one counts per student and chapter: the {book.config.counted_submission}).</p>"]
    if image:
        body.append(f"<img alt='Pass rate per exercise' src='data:image/png;base64,{image}'>")
    body.append(item_analysis_section(book))
    failures = collections.Counter((row["exercise"], summary_line(row["message"]))
                                   for row in counted_rows if row["exercise"] and row["status"] in ("failed", "error"))
    if failures:
        items = "".join(f"<tr><td><code>{html.escape(exercise)}</code></td><td>{count}</td>"
                        f"<td><pre>{html.escape(message)}</pre></td></tr>"
                        for (exercise, message), count in failures.most_common(top))
        body.append("<h2>Most common failures</h2><table><tr><th>exercise</th><th>students</th>"
                    f"<th>what went wrong</th></tr>{items}</table>")
    body.append(extra_sections)
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
    return html_page("Class report", "".join(body))


def item_analysis_section(book: gradebook.Gradebook) -> str:
    """The item-analysis table: per exercise, students, pass rate, discrimination index and a verdict."""
    rows = gradebook.item_analysis(book)
    if not rows:
        return ""
    items = "".join(
        f"<tr><td><code>{html.escape(row['exercise'])}</code></td><td>{row['students']}</td>"
        f"<td>{100 * row['pass_rate']:.0f} %</td>"
        f"<td>{'' if row['discrimination'] is None else format(row['discrimination'], '+.2f')}</td>"
        f"<td>{html.escape(row['verdict'])}</td></tr>" for row in rows)
    return ("<h2>Item analysis</h2><p>Over each student's counted submission. The discrimination index is the pass "
            "rate of the strongest 27 % of students (by their points on the rest of the chapter) minus that of the "
            "weakest 27 %: near +1 the exercise separates them well, near 0 it doesn't, below 0 weaker students pass "
            "it more often (a misleading exercise or check). It is left empty below 5 students.</p>"
            "<table><tr><th>exercise</th><th>students</th><th>pass rate</th><th>discrimination</th><th>note</th></tr>"
            f"{items}</table>")


def regrade_section(diff: list[dict]) -> str:
    """The class report's section on this run's regrades: each changed exercise grade, old and new side by side."""
    if not diff:
        return ""
    def grade(row: dict, when: str) -> str:
        """One side of the diff: status, points and message."""
        return (f"<td>{html.escape(row[f'{when}_status'].replace('_', ' '))}, {row[f'{when}_points']:g}"
                f"<pre>{html.escape(row[f'{when}_message'])}</pre></td>")

    items = "".join(f"<tr><td>{html.escape(row['student'])}</td><td>{html.escape(row['file'])}</td>"
                    f"<td><code>{html.escape(row['exercise'])}</code></td>{grade(row, 'old')}{grade(row, 'new')}</tr>"
                    for row in diff)
    return ("<h2>Regrades: checks that changed since the last grading</h2><p>Only the exercises whose check changed "
            f"were judged again; {len(diff)} grade(s) changed (also in regrade_diff.csv).</p><table><tr><th>student</th>"
            f"<th>file</th><th>exercise</th><th>before</th><th>now</th></tr>{items}</table>")


def write_reports(results: list[SubmissionResult], out: pathlib.Path, config: CourseConfig | None = None,
                  extra_sections: str = "") -> gradebook.Gradebook:
    """Write grades.csv, summary.csv, gradebook.csv, feedback/<student>.html and report.html, each atomically.

    The penalties and the counted submissions follow `config` (default: the latest counts, no deadlines). A
    GradebookError (e.g. a submission time that can't be found) is raised before anything is written.
    """
    book = gradebook.build_gradebook(results, config or CourseConfig())
    rows = grade_rows(book)
    files.write_text_atomically(out / "grades.csv", to_csv(rows, GRADE_COLUMNS))
    files.write_text_atomically(out / "summary.csv", to_csv(summary_rows(book), SUMMARY_COLUMNS))
    files.write_text_atomically(out / "gradebook.csv", to_csv(gradebook_rows(book), GRADEBOOK_COLUMNS))
    by_student: dict[str, list[gradebook.Entry]] = collections.defaultdict(list)
    for entry in book.entries:
        by_student[entry.result.student].append(entry)
    file_names = feedback_file_names(by_student)
    for student, own in by_student.items():
        files.write_text_atomically(out / "feedback" / file_names[student], feedback_page(student, own))
    files.write_text_atomically(out / "report.html", class_report(book, rows, extra_sections=extra_sections))
    pending = [{"student": entry.result.student, "path": entry.result.path, "grader_error": entry.result.grader_error}
               for entry in book.entries if entry.result.grader_error and not entry.result.error]
    files.write_text_atomically(out / GRADER_FAILURES_FILE, json.dumps(pending, indent=1) + "\n")
    return book


GRADER_FAILURES_FILE = "grader_failures.json"  # the last run's grader failures, never saved in results/: for export


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
