"""The gradebook: which submission counts per student and chapter, lateness, penalties and weighted totals.

Built from saved results and the course config each time reports or exports are written; nothing here is stored in
the results, so a changed policy, extension or weight gives new numbers without regrading. Points come from the
exercises' current declarations (`points` on each exercise), so changing an exercise's points needs no regrade
either.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
import json
import math
import pathlib
from typing import Iterable

from dlcourse.grading import SubmissionResult, points_for
from dlcourse.grading.config import CourseConfig, normalise_name, parse_time


class GradebookError(Exception):
    """The gradebook can't be built from these results and this config; the message says why, in one line."""


@dataclasses.dataclass
class Entry:
    """One submission in the gradebook: its time, lateness, raw points, penalty, final points and whether it counts."""

    result: SubmissionResult
    submitted: datetime.datetime | None = None
    deadline: datetime.datetime | None = None
    seconds_late: float = 0.0
    penalty_percent: float = 0.0
    raw: float = 0.0
    max_points: float = 0.0
    counted: bool = False
    note: str = ""  # why it does not count, or '' when it does

    @property
    def penalty(self) -> float:
        """The points taken for lateness."""
        return round(self.raw * self.penalty_percent / 100.0, 4)

    @property
    def final(self) -> float:
        """Raw points minus the penalty."""
        return round(self.raw - self.penalty, 4)

    @property
    def gradable(self) -> bool:
        """Whether the file was graded (it is neither a bad file nor a grader failure)."""
        return not self.result.error and not self.result.grader_error

    @property
    def late_text(self) -> str:
        """How late, in words ('' when on time or without a deadline)."""
        if self.seconds_late <= 0:
            return ""
        if self.seconds_late < 3600:
            return f"{math.ceil(self.seconds_late / 60)} min late"
        if self.seconds_late < 86400:
            return f"{self.seconds_late / 3600:.1f} h late"
        return f"{self.seconds_late / 86400.0:.2f} days late"


@dataclasses.dataclass
class Gradebook:
    """Every submission as an Entry, the counted one per (student, chapter), the chapters, their maxima and weights."""

    entries: list[Entry]
    chapters: list[str]
    chapter_max: dict[str, float]
    weights: dict[str, float]
    config: CourseConfig
    warnings: list[str] = dataclasses.field(default_factory=list)
    _counted: dict[tuple[str, str], Entry] | None = dataclasses.field(default=None, repr=False)

    @property
    def students(self) -> list[str]:
        """Every student with a submission, sorted."""
        return sorted({entry.result.student for entry in self.entries})

    def counted(self, student: str, chapter_id: str) -> Entry | None:
        """The entry that counts for this student and chapter, or None."""
        if self._counted is None:
            self._counted = {(entry.result.student, entry.result.chapter): entry for entry in self.entries
                             if entry.counted}
        return self._counted.get((student, chapter_id))

    def weighted(self, entry: Entry | None, chapter_id: str) -> float:
        """The chapter's final points scaled to its weight (0 without a counted entry)."""
        maximum = self.chapter_max.get(chapter_id, 0.0)
        if entry is None or not maximum:
            return 0.0
        return round(entry.final / maximum * self.weights[chapter_id], 4)

    def totals(self, student: str) -> dict[str, float]:
        """The student's raw, penalty, final and weighted totals over every chapter, with the maxima."""
        counted = [(chapter_id, self.counted(student, chapter_id)) for chapter_id in self.chapters]
        return {"raw": round(sum(entry.raw for _, entry in counted if entry), 4),
                "penalty": round(sum(entry.penalty for _, entry in counted if entry), 4),
                "final": round(sum(entry.final for _, entry in counted if entry), 4),
                "max": round(sum(self.chapter_max[chapter_id] for chapter_id in self.chapters), 4),
                "weighted": round(sum(self.weighted(entry, chapter_id) for chapter_id, entry in counted), 4),
                "weighted_max": round(sum(self.weights[chapter_id] for chapter_id in self.chapters), 4)}


def format_points(value: float) -> str:
    """Points as people write them: at most two decimals, no trailing zeros (7, 7.5, 6.67)."""
    return f"{round(value, 2) + 0.0:g}"


def rescored(result: SubmissionResult) -> SubmissionResult:
    """A copy of the result whose rows carry each exercise's currently declared points (unknown exercises keep theirs)."""
    rows = []
    for row in result.exercises:
        try:
            maximum = points_for(row["exercise"])
        except ValueError:  # an exercise no longer declared: keep what was saved
            rows.append(dict(row))
            continue
        rows.append({**row, "points": maximum if row["status"] == "passed" else 0.0, "max_points": maximum})
    return dataclasses.replace(result, exercises=rows)


def declared_chapter_max(chapter_id: str) -> float | None:
    """The sum of the declared points of the chapter's exercises, or None if it declares none."""
    from dlcourse import checks

    try:
        ids = checks.exercises(chapter_id)
    except ValueError:
        return None
    return round(sum(points_for(exercise_id) for exercise_id in ids), 4) if ids else None


def load_results(folder: pathlib.Path) -> list[SubmissionResult]:
    """Every result saved by `dlcourse grade` in folder (the --out folder, or its results/ subfolder)."""
    results_folder = folder / "results" if (folder / "results").is_dir() else folder
    if not results_folder.is_dir():
        raise GradebookError(f"no saved results in {folder}: give the --out folder of `dlcourse grade`")
    results = []
    for path in sorted(results_folder.glob("*.json")):
        try:
            results.append(SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError) as error:
            raise GradebookError(f"{path} is not a saved result ({error}); remove it or grade again") from None
    if not results:
        raise GradebookError(f"no saved results in {results_folder}: run `dlcourse grade` first")
    return results + pending_grader_failures(results_folder.parent)


def pending_grader_failures(out: pathlib.Path) -> list[SubmissionResult]:
    """The grader failures of the last `dlcourse grade` run into out (never saved in results/), as results."""
    path = out / "grader_failures.json"
    if not path.is_file():
        return []
    try:
        return [SubmissionResult(item["student"], item["path"], "", grader_error=item["grader_error"])
                for item in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise GradebookError(f"{path} is not the grader's list of grader failures ({error}); grade again") from None


def read_submission_times(config: CourseConfig) -> dict[str, datetime.datetime]:
    """From the config's CSV: file name or resolved path -> submission time."""
    path = config.times_csv
    assert path is not None
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            columns = reader.fieldnames or []
            missing = [column for column in (config.file_column, config.time_column) if column not in columns]
            if missing:
                raise GradebookError(f"{path}: the submission-time CSV has no column {', '.join(map(repr, missing))} "
                                     f"(its columns: {', '.join(columns) or 'none'})")
            times = {}
            for line, row in enumerate(reader, start=2):
                file_name = (row[config.file_column] or "").strip()
                if not file_name:
                    continue
                try:
                    moment = parse_time(row[config.time_column] or "", config.zone(), f"line {line}: time")
                except ValueError as error:
                    raise GradebookError(f"{path}: {error}") from None
                key = str((path.parent / file_name).resolve()) if "/" in file_name else file_name
                times[key] = moment
            return times
    except OSError as error:
        raise GradebookError(f"cannot read the submission-time CSV {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise GradebookError(f"the submission-time CSV {path} is not UTF-8 text") from None


def submission_time(result: SubmissionResult, config: CourseConfig,
                    times: dict[str, datetime.datetime] | None) -> datetime.datetime | None:
    """When the submission was handed in, from the source the config chooses (None: unknown)."""
    if times is not None:
        path = pathlib.Path(result.path)
        return times.get(str(path), times.get(path.name))
    if result.file_mtime:
        return datetime.datetime.fromtimestamp(result.file_mtime, tz=datetime.timezone.utc)
    return None


def build_gradebook(results: Iterable[SubmissionResult], config: CourseConfig) -> Gradebook:
    """Entries for every result, the counted one per student and chapter chosen, lateness and penalties applied."""
    times = read_submission_times(config) if config.time_source == "csv" else None
    entries = []
    for result in results:
        entry = Entry(rescored(result))
        entry.raw, entry.max_points = entry.result.points, entry.result.max_points
        entry.submitted = submission_time(result, config, times)
        if entry.result.chapter:
            entry.deadline = config.deadline_for(result.student, result.chapter)
        entries.append(entry)
    unknown_times = [entry for entry in entries if entry.gradable and entry.deadline and entry.submitted is None]
    if unknown_times:
        raise GradebookError(_unknown_time_message(unknown_times, config))
    for entry in entries:
        if entry.gradable and entry.deadline and entry.submitted:
            entry.seconds_late = max(0.0, (entry.submitted - entry.deadline).total_seconds())
            entry.penalty_percent = config.late_policy.penalty_percent(entry.seconds_late)
    choose_counted(entries, config)
    chapters = sorted({entry.result.chapter for entry in entries if entry.counted} | set(config.chapters))
    chapter_max = {}
    for chapter_id in chapters:  # what the chapter was graded out of; its declarations for a chapter nobody handed in
        seen = [entry.max_points for entry in entries if entry.counted and entry.result.chapter == chapter_id]
        chapter_max[chapter_id] = max(seen) if seen else declared_chapter_max(chapter_id) or 0.0
    weights = {chapter_id: config.weight_for(chapter_id, chapter_max[chapter_id]) for chapter_id in chapters}
    students = {normalise_name(entry.result.student) for entry in entries}
    warnings = [f"the course config gives an extension to {student!r}, who has no submission"
                for student in config.extensions if normalise_name(student) not in students]
    return Gradebook(entries, chapters, chapter_max, weights, config, warnings)


def _unknown_time_message(entries: list[Entry], config: CourseConfig) -> str:
    """Why lateness can't be computed: which files have no submission time."""
    names = ", ".join(pathlib.Path(entry.result.path).name for entry in entries[:5])
    more = f" and {len(entries) - 5} more" if len(entries) > 5 else ""
    if config.time_source == "csv":
        return (f"no submission time for {names}{more} in {config.times_csv} (column {config.file_column!r}): "
                "add them, or remove their chapter's deadline")
    return (f"no submission time for {names}{more}: their saved results predate recorded file times; "
            "grade them again with `dlcourse grade --force`")


def choose_counted(entries: list[Entry], config: CourseConfig) -> None:
    """Mark one entry per (student, chapter) as counted (the latest, or the best); say why each other one is not."""
    groups: dict[tuple[str, str], list[Entry]] = collections.defaultdict(list)
    for entry in entries:
        if not entry.result.chapter and entry.gradable:
            entry.note = "no chapter"
        elif entry.result.error:
            entry.note = "could not be graded"
        elif entry.result.grader_error:
            entry.note = "grader failure: grade again"
        else:
            groups[(entry.result.student, entry.result.chapter)].append(entry)
    for (student, chapter_id), group in groups.items():
        if len(group) > 1 and any(entry.submitted is None for entry in group) and config.counted_submission == "latest":
            names = ", ".join(pathlib.Path(entry.result.path).name for entry in group)
            raise GradebookError(f"{student!r} handed in {len(group)} files for {chapter_id} ({names}) and not all "
                                 "have a submission time, so the latest can't be told")
        oldest = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)

        def when(entry: Entry) -> datetime.datetime:
            """The submission time, the oldest possible when unknown."""
            return entry.submitted or oldest

        if config.counted_submission == "best":
            chosen = max(group, key=lambda entry: (entry.final, when(entry), entry.result.path))
        else:
            chosen = max(group, key=lambda entry: (when(entry), entry.result.path))
        for entry in group:
            entry.counted = entry is chosen
            if entry is not chosen:
                entry.note = "a later submission counts" if config.counted_submission == "latest" else (
                    "a better submission counts")


def item_analysis(gradebook: Gradebook, minimum_students: int = 5) -> list[dict]:
    """Per exercise over the counted submissions: students, pass rate, discrimination index and a verdict.

    The discrimination index is the upper-lower index: the pass rate among the 27 % of students with the highest
    rest score (the chapter's raw points without this exercise) minus the pass rate among the 27 % with the lowest.
    It is left empty below `minimum_students` students.
    """
    by_chapter: dict[str, list[Entry]] = collections.defaultdict(list)
    for entry in gradebook.entries:
        if entry.counted:
            by_chapter[entry.result.chapter].append(entry)
    rows = []
    for chapter_id in sorted(by_chapter):
        entries = sorted(by_chapter[chapter_id], key=lambda entry: entry.result.student)
        exercise_ids = list(dict.fromkeys(row["exercise"] for entry in entries for row in entry.result.exercises))
        for exercise_id in exercise_ids:
            outcomes = []
            for entry in entries:
                row = next((row for row in entry.result.exercises if row["exercise"] == exercise_id), None)
                passed = bool(row and row["status"] == "passed")
                outcomes.append((entry.raw - (row["points"] if row else 0.0), passed))
            pass_rate = sum(passed for _, passed in outcomes) / len(outcomes)
            index = discrimination_index(outcomes) if len(outcomes) >= minimum_students else None
            rows.append({"chapter": chapter_id, "exercise": exercise_id, "students": len(outcomes),
                         "pass_rate": round(pass_rate, 3), "discrimination": index,
                         "verdict": item_verdict(pass_rate, index)})
    return rows


def discrimination_index(outcomes: list[tuple[float, bool]]) -> float:
    """Pass rate of the top 27 % by rest score minus that of the bottom 27 %.

    Students tied on the group's boundary share its remaining places: each counts for the same fraction, so the
    index doesn't depend on the order they were listed in.
    """
    size = max(1, round(0.27 * len(outcomes)))
    return round(_group_pass_rate(outcomes, size, highest=True) - _group_pass_rate(outcomes, size, highest=False), 3)


def _group_pass_rate(outcomes: list[tuple[float, bool]], size: int, highest: bool) -> float:
    """The pass rate of the `size` students with the highest (or lowest) rest scores, ties shared fractionally."""
    by_score: dict[float, list[bool]] = collections.defaultdict(list)
    for score, passed in outcomes:
        by_score[score].append(passed)
    places, passes = float(size), 0.0
    for score in sorted(by_score, reverse=highest):
        block = by_score[score]
        share = min(1.0, places / len(block))
        passes += share * sum(block)
        places -= share * len(block)
        if places <= 0:
            break
    return passes / size


def item_verdict(pass_rate: float, index: float | None) -> str:
    """What the numbers suggest about the exercise, in a few words ('' when nothing stands out)."""
    notes = []
    if pass_rate >= 0.95:
        notes.append("very easy")
    elif pass_rate <= 0.2:
        notes.append("very hard")
    if index is not None and index < 0:
        notes.append("misleading? weaker students pass it more often than stronger ones")
    elif index is not None and index < 0.2 and 0.2 < pass_rate < 0.95:
        notes.append("separates strong from weak students poorly")
    return "; ".join(notes)
