"""`dlcourse export`: the gradebook as a Canvas, Moodle or wide CSV import file, matched to a roster.

Every roster student gets a row (a chapter without a counted submission gets 0 or a blank, as asked), and every
student found in the results must match a roster entry: the command lists those that don't and writes nothing
unless told to go on without them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import pathlib

from dlcourse.grading import gradebook
from dlcourse.grading.config import normalise_name

ROSTER_COLUMNS = ("student", "name", "id", "sis_user_id", "sis_login_id", "section", "email", "id_number")
CANVAS_FIXED_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_POSSIBLE = "    Points Possible"  # as Canvas writes it in its own exports
MOODLE_IDENTIFIERS = {"email": "Email address", "id_number": "ID number"}
FORMATS = ("canvas", "moodle", "wide")


class ExportError(Exception):
    """The export can't be made; the message says why, in one line."""


@dataclasses.dataclass(frozen=True)
class RosterEntry:
    """One roster row: the name the grader knows (`student`) and the student's LMS identities."""

    line: int
    student: str
    name: str = ""
    id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""
    id_number: str = ""

    @property
    def display_name(self) -> str:
        """The name to show: the roster's `name`, else the grader's."""
        return self.name or self.student


def read_roster(path: pathlib.Path) -> list[RosterEntry]:
    """The roster CSV (column `student`, optional name, id, sis_user_id, sis_login_id, section, email, id_number)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ExportError(f"cannot read the roster {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ExportError(f"the roster {path} is not UTF-8 text (save it as CSV UTF-8)") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        columns = [column.strip() for column in reader.fieldnames or []]
        if "student" not in columns:
            raise ExportError(f"the roster {path} needs a 'student' column with the names the grader found "
                              f"(its columns: {', '.join(columns) or 'none'})")
        entries: list[RosterEntry] = []
        seen: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            if None in row:
                raise ExportError(f"the roster {path}, line {line}, has more fields than the header")
            values = {column.strip(): (value or "").strip() for column, value in row.items()}
            if not any(values.values()):
                continue
            if not values.get("student"):
                raise ExportError(f"the roster {path}, line {line}, has no student name")
            key = normalise_name(values["student"])
            if key in seen:
                raise ExportError(f"the roster {path} names {values['student']!r} twice (lines {seen[key]} and {line})")
            seen[key] = line
            entries.append(RosterEntry(line, **{column: values.get(column, "") for column in ROSTER_COLUMNS}))
    except csv.Error as error:
        raise ExportError(f"the roster {path} is not a readable CSV ({error})") from None
    if not entries:
        raise ExportError(f"the roster {path} lists no students")
    return entries


@dataclasses.dataclass
class Matching:
    """Which roster entry each student of the results is, and who is left over on either side."""

    by_student: dict[str, RosterEntry]
    unmatched: list[str]  # students in the results that no roster entry names


def match_roster(book: gradebook.Gradebook, roster: list[RosterEntry]) -> Matching:
    """Match the results' students to roster entries by name (compared with normalise_name)."""
    by_name = {normalise_name(entry.student): entry for entry in roster}
    by_student, unmatched = {}, []
    for student in book.students:
        entry = by_name.get(normalise_name(student))
        if entry is None:
            unmatched.append(student)
        else:
            by_student[student] = entry
    return Matching(by_student, unmatched)


def unknown_extension_students(book: gradebook.Gradebook, roster: list[RosterEntry]) -> list[str]:
    """Students the course config gives an extension to who are not in the roster."""
    names = {normalise_name(entry.student) for entry in roster}
    return [student for student in book.config.extensions if normalise_name(student) not in names]


def students_of(book: gradebook.Gradebook, roster: list[RosterEntry] | None,
                matching: Matching | None) -> list[tuple[RosterEntry, list[str]]]:
    """Each row's roster entry and the results' students it stands for (roster order; without a roster, one per student)."""
    if roster is None or matching is None:
        return [(RosterEntry(0, student), [student]) for student in book.students]
    rows = []
    for entry in roster:
        rows.append((entry, [student for student, matched in matching.by_student.items() if matched is entry]))
    return rows


def counted_entry(book: gradebook.Gradebook, students: list[str], chapter_id: str) -> gradebook.Entry | None:
    """The counted entry for the chapter among the results' students of one roster row."""
    entries = [entry for entry in (book.counted(student, chapter_id) for student in students) if entry]
    return max(entries, key=lambda entry: entry.final) if entries else None


def chapter_cell(book: gradebook.Gradebook, entry: gradebook.Entry | None, chapter_id: str, missing: str) -> str:
    """A chapter's weighted points as exported (missing: '0' or '' when nothing counts)."""
    if entry is None:
        return missing
    return gradebook.format_points(book.weighted(entry, chapter_id))


def canvas_table(book: gradebook.Gradebook, rows: list[tuple[RosterEntry, list[str]]], missing: str) -> list[list[str]]:
    """Canvas' gradebook import: the five fixed columns first, one column per chapter, a Points Possible row."""
    header = [*CANVAS_FIXED_COLUMNS, *(book.config.lms_column(chapter_id) for chapter_id in book.chapters)]
    possible = [CANVAS_POINTS_POSSIBLE, "", "", "", "",
                *(gradebook.format_points(book.weights[chapter_id]) for chapter_id in book.chapters)]
    table = [header, possible]
    for entry, students in rows:
        if not (entry.id or entry.sis_user_id or entry.sis_login_id):
            raise ExportError(f"roster line {entry.line} ({entry.student!r}) has no id, sis_user_id or sis_login_id: "
                              "Canvas needs one of them to find the student")
        table.append([entry.display_name, entry.id, entry.sis_user_id, entry.sis_login_id, entry.section,
                      *(chapter_cell(book, counted_entry(book, students, chapter_id), chapter_id, missing)
                        for chapter_id in book.chapters)])
    return table


def moodle_table(book: gradebook.Gradebook, rows: list[tuple[RosterEntry, list[str]]], missing: str,
                 identifier: str, feedback: bool) -> list[list[str]]:
    """Moodle's grade import: an identifier column (email or ID number), a column per chapter, optional feedback."""
    header = [MOODLE_IDENTIFIERS[identifier]]
    for chapter_id in book.chapters:
        header.append(book.config.lms_column(chapter_id))
        if feedback:
            header.append(f"{book.config.lms_column(chapter_id)} feedback")
    table = [header]
    for entry, students in rows:
        value = getattr(entry, identifier)
        if not value:
            raise ExportError(f"roster line {entry.line} ({entry.student!r}) has no {identifier}: Moodle needs it to "
                              "find the student")
        row = [value]
        for chapter_id in book.chapters:
            counted = counted_entry(book, students, chapter_id)
            row.append(chapter_cell(book, counted, chapter_id, missing))
            if feedback:
                from dlcourse.grading import reports

                row.append(reports.entry_summary(counted) if counted else "No submission was graded.")
        table.append(row)
    return table


def exercise_columns(book: gradebook.Gradebook, chapter_id: str) -> list[str]:
    """The chapter's exercise ids: declared order, then any others found in the counted results."""
    from dlcourse import checks

    try:
        declared = checks.exercises(chapter_id)
    except ValueError:
        declared = []
    seen = [row["exercise"] for entry in book.entries if entry.counted and entry.result.chapter == chapter_id
            for row in entry.result.exercises]
    return list(dict.fromkeys([*declared, *seen]))


def wide_table(book: gradebook.Gradebook, rows: list[tuple[RosterEntry, list[str]]], missing: str) -> list[list[str]]:
    """One row per student: each exercise's points, each chapter's raw, penalty, final and weighted points, totals."""
    points = gradebook.format_points
    columns = {chapter_id: exercise_columns(book, chapter_id) for chapter_id in book.chapters}
    header = ["student", "name"]
    for chapter_id in book.chapters:
        header += [*columns[chapter_id], *(f"{chapter_id} {part}" for part in ("raw", "penalty", "final", "weighted"))]
    header += ["total raw", "total penalty", "total final", "total weighted", "weighted max", "weighted percent"]
    table = [header]
    weighted_max = sum(book.weights[chapter_id] for chapter_id in book.chapters)
    for entry, students in rows:
        row = [entry.student, entry.name]
        totals = [0.0, 0.0, 0.0, 0.0]
        for chapter_id in book.chapters:
            counted = counted_entry(book, students, chapter_id)
            if counted is None:
                row += [missing] * (len(columns[chapter_id]) + 4)
                continue
            earned = {exercise["exercise"]: exercise["points"] for exercise in counted.result.exercises}
            row += [points(earned[exercise_id]) if exercise_id in earned else missing
                    for exercise_id in columns[chapter_id]]
            values = [counted.raw, counted.penalty, counted.final, book.weighted(counted, chapter_id)]
            row += [points(value) for value in values]
            totals = [total + value for total, value in zip(totals, values)]
        percent = round(100.0 * totals[3] / weighted_max, 1) if weighted_max else 0.0
        row += [*(points(total) for total in totals), points(weighted_max), f"{percent:g}"]
        table.append(row)
    return table


def to_csv_text(table: list[list[str]]) -> str:
    """The table as CSV (RFC 4180: quoted where needed, CRLF line ends)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(table)
    return buffer.getvalue()


def missing_students(book: gradebook.Gradebook, rows: list[tuple[RosterEntry, list[str]]]) -> list[str]:
    """'name (ch01, ch02)' for each row without a counted submission for some chapter."""
    found = []
    for entry, students in rows:
        chapters = [chapter_id for chapter_id in book.chapters if counted_entry(book, students, chapter_id) is None]
        if chapters:
            found.append(f"{entry.display_name} ({', '.join(chapters)})")
    return found
