"""The course config: deadlines, extensions, the late policy, chapter weights and which submission counts.

A small TOML file, read with the standard library's `tomllib`. Every setting is optional; a file without any gives
the defaults (the latest submission counts, no deadlines, no penalties, each chapter weighs its points). Nothing in
it is stored with the grades: penalties and weights are applied whenever reports and exports are written, so
editing the file and exporting again gives the new numbers without regrading. Example:

    counted_submission = "latest"          # or "best"
    timezone = "Europe/Berlin"             # for times written without an offset (default: UTC)

    [submission_time]
    source = "mtime"                       # or "csv": a column of a collected CSV, as LMS downloads provide
    # csv = "submission_times.csv"         # relative to this file; columns `file` and `submitted_at`

    [late_policy]
    grace_minutes = 15                     # this late still counts as on time
    percent_per_day = 10                   # of the raw points, per started day late
    max_percent = 50                       # the cap
    zero_after_days = 7                    # later than this: 0 points

    [chapters.ch01]
    deadline = 2026-10-05T23:59:00+02:00   # a TOML date-time, or the same as a string
    weight = 10                            # the chapter counts for 10 points in the weighted total
    lms_column = "Chapter 1 (4321)"        # its column in Canvas and Moodle exports

    [extensions]
    "Zoë O'Brien" = { ch01 = 2026-10-07T23:59:00+02:00 }   # a new deadline
    alice = { ch01 = 3 }                                     # or extra days
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import pathlib
import tomllib
import unicodedata
import zoneinfo
from typing import Any

from dlcourse import course

COUNTED_CHOICES = ("latest", "best")
TIME_SOURCES = ("mtime", "csv")
TOP_LEVEL_KEYS = {"counted_submission", "timezone", "submission_time", "late_policy", "chapters", "extensions"}
LATE_POLICY_KEYS = {"grace_minutes", "percent_per_day", "max_percent", "zero_after_days"}
CHAPTER_KEYS = {"deadline", "weight", "lms_column"}
SUBMISSION_TIME_KEYS = {"source", "csv", "file_column", "time_column"}
SECONDS_PER_DAY = 86400.0


class ConfigError(Exception):
    """The course config can't be used; the message says where and why, in one line."""


@dataclasses.dataclass(frozen=True)
class LatePolicy:
    """How lateness costs points: a grace period, a percentage per started day, a cap, and a cut-off."""

    grace_minutes: float = 0.0
    percent_per_day: float = 0.0
    max_percent: float = 100.0
    zero_after_days: float | None = None

    def penalty_percent(self, seconds_late: float) -> float:
        """The percentage of the raw points taken for a submission this many seconds after its deadline."""
        if seconds_late <= self.grace_minutes * 60.0:
            return 0.0
        if self.zero_after_days is not None and seconds_late > self.zero_after_days * SECONDS_PER_DAY:
            return 100.0
        days_started = math.ceil(seconds_late / SECONDS_PER_DAY)
        return min(self.max_percent, self.percent_per_day * days_started, 100.0)


@dataclasses.dataclass(frozen=True)
class ChapterSettings:
    """One chapter's deadline, weight and LMS column name (each optional)."""

    deadline: datetime.datetime | None = None
    weight: float | None = None
    lms_column: str = ""


@dataclasses.dataclass(frozen=True)
class CourseConfig:
    """Everything the gradebook needs beyond the saved results."""

    counted_submission: str = "latest"
    timezone: str = "UTC"
    time_source: str = "mtime"
    times_csv: pathlib.Path | None = None
    file_column: str = "file"
    time_column: str = "submitted_at"
    late_policy: LatePolicy = LatePolicy()
    chapters: dict[str, ChapterSettings] = dataclasses.field(default_factory=dict)
    extensions: dict[str, dict[str, datetime.datetime | float]] = dataclasses.field(default_factory=dict)
    source: str = ""  # the file it was read from, for messages

    def extension_for(self, student: str, chapter_id: str) -> datetime.datetime | float | None:
        """The student's extension for the chapter (names compared as normalise_name does), or None."""
        key = normalise_name(student)
        for name, chapters in self.extensions.items():
            if normalise_name(name) == key and chapter_id in chapters:
                return chapters[chapter_id]
        return None

    def deadline_for(self, student: str, chapter_id: str) -> datetime.datetime | None:
        """The student's deadline for the chapter, with any extension applied (None: no deadline)."""
        extension = self.extension_for(student, chapter_id)
        if isinstance(extension, datetime.datetime):
            return extension
        deadline = self.chapters.get(chapter_id, ChapterSettings()).deadline
        if deadline is None or extension is None:
            return deadline
        return deadline + datetime.timedelta(days=extension)

    def weight_for(self, chapter_id: str, chapter_max_points: float) -> float:
        """The points the chapter is worth in the weighted total (default: its own points)."""
        weight = self.chapters.get(chapter_id, ChapterSettings()).weight
        return chapter_max_points if weight is None else weight

    def lms_column(self, chapter_id: str) -> str:
        """The chapter's column name in LMS exports (default: its id and title)."""
        settings = self.chapters.get(chapter_id, ChapterSettings())
        if settings.lms_column:
            return settings.lms_column
        try:
            return f"{chapter_id} {course.chapter_by_id(chapter_id).title}"
        except KeyError:
            return chapter_id

    def zone(self) -> datetime.tzinfo:
        """The course's time zone, for times written without an offset."""
        return datetime.timezone.utc if self.timezone.upper() == "UTC" else zoneinfo.ZoneInfo(self.timezone)


def normalise_name(name: str) -> str:
    """A name compared as people mean it: Unicode NFC, case-folded, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def load_config(path: pathlib.Path | None) -> CourseConfig:
    """Read and check a course config file (None: the defaults); ConfigError with a one-line message if it is bad."""
    if path is None:
        return CourseConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the course config {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the course config {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"the course config {path} is not valid TOML: {error}") from None
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: pathlib.Path) -> CourseConfig:
    """A CourseConfig from parsed TOML; ConfigError naming the first bad setting."""
    where = str(path)
    _reject_unknown(data, TOP_LEVEL_KEYS, where, "")
    counted = data.get("counted_submission", "latest")
    if counted not in COUNTED_CHOICES:
        raise ConfigError(f"{where}: counted_submission must be \"latest\" or \"best\", not {counted!r}")
    timezone = data.get("timezone", "UTC")
    if not isinstance(timezone, str):
        raise ConfigError(f"{where}: timezone must be a name such as \"Europe/Berlin\", not {timezone!r}")
    zone = _zone(timezone, where)
    times = _table(data, "submission_time", where)
    _reject_unknown(times, SUBMISSION_TIME_KEYS, where, "submission_time.")
    source = times.get("source", "mtime")
    if source not in TIME_SOURCES:
        raise ConfigError(f"{where}: submission_time.source must be \"mtime\" or \"csv\", not {source!r}")
    times_csv = None
    if source == "csv":
        if not isinstance(times.get("csv"), str) or not times["csv"]:
            raise ConfigError(f"{where}: submission_time.source = \"csv\" needs submission_time.csv, the CSV's path")
        times_csv = (path.parent / times["csv"]).resolve()
    columns = {key: times.get(key, default) for key, default in (("file_column", "file"), ("time_column", "submitted_at"))}
    for key, value in columns.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: submission_time.{key} must be a column name, not {value!r}")
    return CourseConfig(counted_submission=counted, timezone=timezone, time_source=source, times_csv=times_csv,
                        file_column=columns["file_column"], time_column=columns["time_column"],
                        late_policy=_late_policy(_table(data, "late_policy", where), where),
                        chapters=_chapters(_table(data, "chapters", where), zone, where),
                        extensions=_extensions(_table(data, "extensions", where), zone, where), source=where)


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """A sub-table (empty if absent); ConfigError if the key holds something else."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _reject_unknown(table: dict[str, Any], known: set[str], where: str, prefix: str) -> None:
    """ConfigError naming the first key that is not a known setting (a typo would otherwise be ignored)."""
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {prefix}{key} (known: {', '.join(sorted(known))})")


def _zone(name: str, where: str) -> datetime.tzinfo:
    """The time zone of this name; ConfigError if there is none."""
    if name.upper() == "UTC":
        return datetime.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown timezone {name!r} (use a name such as \"Europe/Berlin\" or \"UTC\")") from None


def _number(value: Any, setting: str, where: str, minimum: float = 0.0) -> float:
    """A number at least `minimum`; ConfigError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{where}: {setting} must be a number of at least {minimum:g}, not {value!r}")
    return float(value)


def _late_policy(table: dict[str, Any], where: str) -> LatePolicy:
    """The late policy from [late_policy]."""
    _reject_unknown(table, LATE_POLICY_KEYS, where, "late_policy.")
    values = {key: _number(table[key], f"late_policy.{key}", where) for key in LATE_POLICY_KEYS if key in table}
    if values.get("max_percent", 100.0) > 100.0 or values.get("percent_per_day", 0.0) > 100.0:
        raise ConfigError(f"{where}: late_policy percentages must be between 0 and 100")
    return LatePolicy(**values)


def parse_time(value: Any, zone: datetime.tzinfo, what: str) -> datetime.datetime:
    """An aware datetime from a TOML date-time or an ISO 8601 string (no offset: the course's zone); ValueError otherwise."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(f"{what} {text!r} is not a date and time (write it as 2026-10-05T23:59 or "
                             "2026-10-05 23:59:00+02:00)") from None
        if len(text) <= 10:
            raise ValueError(f"{what} {text!r} has no time of day (write it as {text}T23:59)")
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, datetime.date):
        raise ValueError(f"{what} {value.isoformat()} has no time of day (write it as {value.isoformat()}T23:59)")
    raise ValueError(f"{what} {value!r} is not a date and time (write it as 2026-10-05T23:59)")


def _chapter_id(key: str, where: str, setting: str) -> str:
    """A known chapter id such as ch01; ConfigError naming the bad key."""
    try:
        return course.chapter_by_id(key).chapter_id
    except KeyError:
        known = ", ".join(chapter.chapter_id for chapter in course.CHAPTERS)
        raise ConfigError(f"{where}: {setting}: unknown chapter {key!r} (known: {known})") from None


def _chapters(table: dict[str, Any], zone: datetime.tzinfo, where: str) -> dict[str, ChapterSettings]:
    """Each chapter's settings from [chapters.chNN]."""
    chapters = {}
    for key, settings in table.items():
        chapter_id = _chapter_id(key, where, f"[chapters.{key}]")
        if not isinstance(settings, dict):
            raise ConfigError(f"{where}: [chapters.{key}] must be a table")
        _reject_unknown(settings, CHAPTER_KEYS, where, f"chapters.{key}.")
        deadline = None
        if "deadline" in settings:
            try:
                deadline = parse_time(settings["deadline"], zone, f"chapters.{key}.deadline")
            except ValueError as error:
                raise ConfigError(f"{where}: {error}") from None
        weight = _number(settings["weight"], f"chapters.{key}.weight", where) if "weight" in settings else None
        column = settings.get("lms_column", "")
        if not isinstance(column, str):
            raise ConfigError(f"{where}: chapters.{key}.lms_column must be text, not {column!r}")
        chapters[chapter_id] = ChapterSettings(deadline, weight, column)
    return chapters


def _extensions(table: dict[str, Any], zone: datetime.tzinfo,
                where: str) -> dict[str, dict[str, datetime.datetime | float]]:
    """Per student and chapter: a new deadline or a number of extra days."""
    extensions: dict[str, dict[str, datetime.datetime | float]] = {}
    seen: dict[str, str] = {}
    for student, chapters in table.items():
        if normalise_name(student) in seen:
            raise ConfigError(f"{where}: extensions name {seen[normalise_name(student)]!r} and {student!r}, "
                              "the same student: give them once")
        seen[normalise_name(student)] = student
        if not isinstance(chapters, dict):
            raise ConfigError(f"{where}: extensions.{student!r} must map chapters to a deadline or days, "
                              f"e.g. {{ ch01 = 3 }}")
        own = {}
        for key, value in chapters.items():
            setting = f"extensions.{student!r}.{key}"
            chapter_id = _chapter_id(key, where, setting)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                own[chapter_id] = _number(value, setting, where)
                continue
            try:
                own[chapter_id] = parse_time(value, zone, setting)
            except ValueError as error:
                raise ConfigError(f"{where}: {error} (or give a number of extra days)") from None
        extensions[student] = own
    return extensions
