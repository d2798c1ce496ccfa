"""The `dlcourse` command: release, bench, doctor, progress, exercises, grade and check (the instructor grader),
the gradebook: export (LMS files), similarity (an advisory report) and link (nbgitpuller links), and book (the web
book)."""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from typing import TYPE_CHECKING

from dlcourse import course

if TYPE_CHECKING:
    from dlcourse.grading import SubmissionResult


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="dlcourse", description="Tools for the dlcourse deep-learning course.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    release = commands.add_parser("release", help="regenerate the student notebooks in chapters/ from solutions/")
    release.add_argument("--check", action="store_true",
                         help="write nothing; exit 1 and list the differences if chapters/ is out of date")
    release.add_argument("--solutions", type=pathlib.Path, default=None, help="solutions folder (default: the repo's)")
    release.add_argument("--chapters", type=pathlib.Path, default=None, help="chapters folder (default: the repo's)")

    bench = commands.add_parser("bench", help="execute notebooks as nbval does and time them")
    bench.add_argument("notebooks", nargs="*", type=pathlib.Path,
                       help="notebooks to run (default: every notebook in solutions/ and chapters/)")
    bench.add_argument("--output", type=pathlib.Path, default=pathlib.Path("bench-results.md"),
                       help="where to write the table: .md for Markdown, .csv for CSV (default: bench-results.md)")
    bench.add_argument("--budget", type=float, default=120.0, help="seconds allowed per notebook (default: 120)")

    commands.add_parser("progress", help="show which exercises you have passed, per chapter")

    doctor = commands.add_parser("doctor", help="check this environment; say what is wrong and how to fix it")
    doctor.add_argument("--instructor", action="store_true",
                        help="also check the instructors' tools: bubblewrap, Chromium, the browser test's packages")

    grade = commands.add_parser("grade", help="grade students' notebooks (files or folders) into --out")
    grade.add_argument("submissions", nargs="+", type=pathlib.Path, metavar="SUBMISSION_OR_DIR",
                       help="student notebooks, or folders searched recursively for .ipynb files")
    grade.add_argument("--out", type=pathlib.Path, required=True, help="output folder for grades and reports")
    add_limit_arguments(grade)
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="submissions graded at once (default: the number of cores)")
    grade.add_argument("--force", action="store_true", help="regrade submissions that already have a result")
    grade.add_argument("--students", type=pathlib.Path, default=None,
                       help="CSV with columns file,student mapping file names (or paths) to student ids")
    grade.add_argument("--scheduler", default="", metavar="ADDRESS",
                       help="grade on this Dask distributed scheduler (e.g. tcp://10.0.0.5:8786), whose workers "
                            "have the course installed, instead of on this machine")

    grade.add_argument("--config", type=pathlib.Path, default=None, metavar="COURSE_TOML",
                       help="course config: deadlines, extensions, late policy, chapter weights, which submission "
                            "counts (applied to the reports, never stored with the grades)")

    export = commands.add_parser("export", help="write the gradebook as a Canvas, Moodle or wide CSV import file")
    export.add_argument("grades", type=pathlib.Path, metavar="GRADES_DIR",
                        help="the --out folder of `dlcourse grade` (its saved results are read; nothing is regraded)")
    export.add_argument("--format", required=True, choices=("canvas", "moodle", "wide"), dest="export_format",
                        help="canvas: Canvas' gradebook import; moodle: Moodle's grade import; wide: one row per "
                             "student, one column per exercise and chapter")
    export.add_argument("--out", type=pathlib.Path, required=True, help="the CSV file to write")
    export.add_argument("--roster", type=pathlib.Path, default=None,
                        help="CSV with a `student` column (the names the grader found) and the LMS identities: "
                             "name, id, sis_user_id, sis_login_id, section, email, id_number (required for canvas "
                             "and moodle)")
    export.add_argument("--config", type=pathlib.Path, default=None, metavar="COURSE_TOML",
                        help="course config (deadlines, extensions, late policy, weights), applied now")
    export.add_argument("--missing", choices=("zero", "blank"), default="zero",
                        help="what a roster student without a graded submission of a chapter gets (default: zero)")
    export.add_argument("--allow-unmatched", action="store_true",
                        help="write the file even if some graded students are not in the roster (they are listed)")
    export.add_argument("--allow-grader-failures", action="store_true",
                        help="write the file even if some submissions hit a grader failure and are not graded yet")
    export.add_argument("--moodle-identifier", choices=("email", "id_number"), default="email",
                        help="the roster column Moodle matches students on (default: email)")
    export.add_argument("--feedback", action="store_true",
                        help="moodle: add a feedback column per chapter (raw points, late penalty, final points)")

    similar = commands.add_parser("similarity", help="an advisory report of answers that look alike (copydetect)")
    similar.add_argument("grades", type=pathlib.Path, metavar="GRADES_DIR",
                         help="the --out folder of `dlcourse grade` (the counted submissions are read, never changed)")
    similar.add_argument("--threshold", type=float, default=0.8,
                         help="report pairs whose answers each share at least this share of their code (default 0.8)")
    similar.add_argument("--config", type=pathlib.Path, default=None, metavar="COURSE_TOML",
                         help="course config (it decides which submission of each student counts)")
    similar.add_argument("--course", type=pathlib.Path, default=None,
                         help="course folder whose solutions/ give the starter code (default: this one)")
    similar.add_argument("--out", type=pathlib.Path, default=None,
                         help="where to write the HTML report (default: GRADES_DIR/similarity.html)")

    link = commands.add_parser("link", help="print an nbgitpuller link per chapter for a JupyterHub")
    link.add_argument("--hub", required=True, help="the JupyterHub's URL, e.g. https://hub.example.edu")
    link.add_argument("--repo", required=True, help="the course repository's git URL that the hub clones")
    link.add_argument("--branch", default="", help="the branch to pull (default: the repository's default branch)")

    book = commands.add_parser("book", help="build the course as a static web site from the student notebooks")
    book.add_argument("--output", type=pathlib.Path, default=None,
                      help="build folder (default: build/book); the site goes to its html/ subfolder")
    book.add_argument("--clean", action="store_true",
                      help="start from nothing: drop the executed-notebook cache and the previous build")
    book.add_argument("--jobs", type=int, default=1,
                      help="Sphinx processes for reading and writing pages (default: 1; "
                           "notebooks execute one at a time)")

    check = commands.add_parser("check", help="grade your own notebook with the instructor's grader")
    check.add_argument("notebook", type=pathlib.Path)
    add_limit_arguments(check)

    listing = commands.add_parser("exercises", help="list the graded exercises")
    listing.add_argument("--chapter", default=None, help="only this chapter, e.g. 1 or ch01")
    return parser


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by grade and check: time and memory limits, the course folder and the sandbox."""
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds allowed for each lesson cell and each cell a student added (default: 120); "
                             "an exercise cell gets its exercise's own limit, the one `checks.check` states")
    parser.add_argument("--notebook-timeout", type=float, default=900.0,
                        help="seconds allowed for a whole notebook (default: 900)")
    parser.add_argument("--memory-mb", type=float, default=4096.0,
                        help="memory cap of a grading kernel in MB (default: 4096)")
    parser.add_argument("--course", type=pathlib.Path, default=None,
                        help="course folder whose solutions/ define the official notebooks (default: this one)")
    parser.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=None,
                        help="run student code in a bubblewrap sandbox that can't see the course, the outputs "
                             "or the submissions (default: on wherever bubblewrap works, with a warning where it "
                             "doesn't); --sandbox requires it, --no-sandbox turns it off")
    parser.add_argument("--full", action="store_true",
                        help="run every cell of the notebook, not only the cells the exercises need")


def limits_from(arguments: argparse.Namespace, submission_paths: list[pathlib.Path] | None = None):
    """The grading Limits given on the command line (with the sandbox, the folders student code must not see)."""
    from dlcourse.grading.runner import Limits

    if arguments.sandbox is None:  # not settled by resolve_sandbox: on wherever bubblewrap works
        arguments.sandbox = not sandbox_problem()
    hidden_paths = hidden_paths_for(arguments, submission_paths or []) if arguments.sandbox else ()
    return Limits(cell_timeout_seconds=arguments.timeout, notebook_timeout_seconds=arguments.notebook_timeout,
                  memory_limit_mb=arguments.memory_mb, sandbox=arguments.sandbox, hidden_paths=hidden_paths,
                  full=arguments.full)


def hidden_paths_for(arguments: argparse.Namespace, submission_paths: list[pathlib.Path]) -> tuple[str, ...]:
    """Folders a sandboxed kernel must not see: the course, this repository, --out and the submissions' folders.

    The submissions' folders are the folders given on the command line, the folders of the files given, and the
    folders of the submissions found (a linked file may lie elsewhere); a folder inside another one is left out.
    """
    inputs = arguments.submissions if arguments.command == "grade" else [arguments.notebook]
    folders = [arguments.course or course.repository_root(), course.repository_root()]
    if arguments.command == "grade":
        folders.append(arguments.out)
    folders.extend(path if path.is_dir() else path.parent for path in inputs)
    folders.extend(path.parent for path in submission_paths)
    resolved = list(dict.fromkeys(folder.resolve() for folder in folders))
    return tuple(str(folder) for folder in resolved
                 if not any(other != folder and other in folder.parents for other in resolved))


SANDBOX_OFF_WARNING = """\
WARNING: grading WITHOUT the sandbox: {problem}
  Student code will run as your user, with your files, your network and your other processes within its reach,
  and it can read the course's answers from disk. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)
  and allow unprivileged user namespaces, or pass --no-sandbox to say that you mean it."""


def resolve_sandbox(arguments: argparse.Namespace) -> str:
    """Settle arguments.sandbox (None: on wherever bubblewrap works); the usage problem when --sandbox can't be had.

    Off by default only where bubblewrap can't run, and then with a loud warning on stderr.
    """
    if arguments.sandbox is False:
        return ""
    problem = sandbox_problem()
    if arguments.sandbox and problem:
        return f"--sandbox can't be used: {problem}"
    if problem:
        print(SANDBOX_OFF_WARNING.format(problem=problem), file=sys.stderr, flush=True)
    arguments.sandbox = not problem
    return ""


def sandbox_problem() -> str:
    """Why --sandbox can't be used on this machine, or ''."""
    try:
        from dlcourse.grading import sandbox
    except ImportError:
        return "sandbox support is not available in this installation."
    return sandbox.sandbox_problem()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = build_parser().parse_args(argv)
    handlers = {"release": run_release, "bench": run_bench, "doctor": run_doctor, "progress": run_progress,
                "exercises": run_exercises, "grade": run_grade, "check": run_check, "export": run_export,
                "link": run_link, "similarity": run_similarity, "book": run_book}
    return handlers[arguments.command](arguments)


def run_release(arguments: argparse.Namespace) -> int:
    """Regenerate chapters/ (or with --check, verify it is up to date)."""
    from dlcourse import release

    root = course.repository_root()
    solutions = arguments.solutions or root / "solutions"
    chapters = arguments.chapters or root / "chapters"
    try:
        if arguments.check:
            differences = release.find_differences(solutions, chapters)
            for difference in differences:
                print(f"chapters/{difference.notebook_name}: {difference.problem}")
                if difference.details:
                    print(difference.details)
            if differences:
                print(f"\n{len(differences)} notebook(s) out of date: run `dlcourse release` and commit chapters/.")
                return 1
            print("chapters/ is up to date with solutions/.")
            return 0
        changed = release.release_all(solutions, chapters)
    except release.ReleaseError as error:
        print(f"dlcourse release: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {len(changed)} notebook(s): {', '.join(changed)}" if changed else "chapters/ was already up to date.")
    return 0


def run_bench(arguments: argparse.Namespace) -> int:
    """Execute notebooks, print the timing table and write it to a file."""
    from dlcourse import bench

    notebooks = arguments.notebooks or bench.default_notebooks(course.repository_root())
    missing = [str(path) for path in notebooks if not path.is_file()]
    if missing:
        print(f"dlcourse bench: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = bench.bench_notebooks(notebooks, arguments.budget)
    from dlcourse import progress

    print(progress.format_table(bench.HEADER, bench.table_rows(rows)))
    print(f"total: {sum(row.seconds for row in rows):.1f} s for {len(rows)} notebook(s); budget {arguments.budget:g} s each")
    bench.write_table(rows, arguments.output)
    print(f"table written to {arguments.output}")
    return 0 if all(row.status == "pass" for row in rows) else 1


def run_book(arguments: argparse.Namespace) -> int:
    """Build the web book; print what was executed, the warnings and where the site is."""
    from dlcourse import book

    if arguments.jobs < 1:
        print("dlcourse book: --jobs must be at least 1", file=sys.stderr)
        return 2
    paths = book.BookPaths(arguments.output.resolve()) if arguments.output else book.default_paths()
    print(f"Building the web book in {paths.root} (the first build executes every chapter: several minutes) ...",
          flush=True)
    try:
        result = book.build_book(paths, clean=arguments.clean, jobs=arguments.jobs)
    except book.BookError as error:
        print(f"dlcourse book: {error}", file=sys.stderr)
        return 2
    for page, seconds in sorted(result.executed.items()):
        print(f"  executed {page} in {seconds:.1f} s")
    if not result.executed:
        print("  no notebook executed: every chapter's outputs came from the cache")
    for warning in result.warnings:
        print(f"  warning: {warning.replace(str(paths.source) + '/', '')}")
    print(f"Built in {result.seconds:.1f} s with {len(result.warnings)} warning(s). "
          f"Open {result.html / 'index.html'}, or publish the folder {result.html} as it is.")
    return 0


def run_doctor(arguments: argparse.Namespace) -> int:
    """Run the environment checks, one line each; exit 1 if any failed."""
    from dlcourse import doctor

    failures = 0
    for name, check in doctor.checks(arguments.instructor):
        finding = doctor.run_check(check)
        print(doctor.format_finding(name, finding), flush=True)
        failures += not finding.ok
    if failures:
        print(f"\n{failures} problem(s): fix them as said above, then run `dlcourse doctor` again.")
        return 1
    print("\nAll checks passed.")
    return 0


def run_progress(arguments: argparse.Namespace) -> int:
    """Print the per-chapter progress table."""
    from dlcourse import progress

    print(progress.format_progress_table(progress.progress_rows()))
    print(f"\n(recorded in {progress.progress_path()})")
    return 0


GRADER_FAILURE_EXIT_CODE = 3  # some submissions hit a grader failure and were not saved: run again to retry them


def run_grade(arguments: argparse.Namespace) -> int:
    """Grade every submission into --out; exit 0 whatever the students scored, 3 if a grader failure is left to retry."""
    from dlcourse import grading
    from dlcourse.grading import reports, submissions

    problem = usage_problem(arguments)
    if problem:
        print(f"dlcourse grade: {problem}", file=sys.stderr)
        return 2
    from dlcourse.grading import config as course_config, gradebook

    try:
        settings = course_config.load_config(arguments.config)
    except course_config.ConfigError as error:
        print(f"dlcourse grade: {error}", file=sys.stderr)
        return 2
    student_map = None
    if arguments.students:
        try:
            student_map = submissions.read_student_map(arguments.students)
        except (OSError, ValueError, KeyError) as error:
            print(f"dlcourse grade: cannot read the student map: {error}", file=sys.stderr)
            return 2
    found = submissions.find_submissions(arguments.submissions, student_map)
    root = (arguments.course or course.repository_root()).resolve()
    limits = limits_from(arguments, [submission.path for submission in found])
    from dlcourse.grading import cluster

    regrade_diff: list[dict] = []
    try:
        results = grading.grade_all(found, arguments.out / "results", limits, arguments.workers,
                                    arguments.force, root, grading.ProgressBar(), arguments.scheduler,
                                    cluster.course_root_for_workers(arguments.course), regrade_diff)
    except cluster.ClusterUnavailable as error:
        print(f"dlcourse grade: {error}", file=sys.stderr)
        return 2
    if regrade_diff:
        from dlcourse import files

        files.write_text_atomically(arguments.out / "regrade_diff.csv",
                                    reports.to_csv(regrade_diff, grading.REGRADE_DIFF_COLUMNS))
        print(f"Checks changed since the last grading: {len(regrade_diff)} exercise grade(s) changed on re-judging "
              f"(only the changed checks were re-judged). See {arguments.out / 'regrade_diff.csv'}.")
    try:
        book = reports.write_reports(results, arguments.out, settings, reports.regrade_section(regrade_diff))
    except gradebook.GradebookError as error:
        print(f"dlcourse grade: {grading_summary(results)} The grades are saved in {arguments.out / 'results'}, but "
              f"the reports were not written: {error}", file=sys.stderr)
        return 2
    for warning in book.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{grading_summary(results)} See {arguments.out / 'summary.csv'} and {arguments.out / 'report.html'}.")
    return GRADER_FAILURE_EXIT_CODE if any(result.grader_error and not result.error for result in results) else 0


def grading_summary(results: list[SubmissionResult]) -> str:
    """One sentence: how many submissions were graded, how many were bad files, how many hit a grader failure."""
    graded = sum(1 for result in results if not result.error and not result.grader_error)
    bad_files = sum(1 for result in results if result.error)
    grader_failures = sum(1 for result in results if result.grader_error and not result.error)
    sentence = f"Graded {graded} of {len(results)} submission(s)"
    if bad_files:
        sentence += f"; {bad_files} could not be graded (bad file)"
    if grader_failures:
        one = grader_failures == 1
        sentence += (f"; {grader_failures} hit a grader failure and {'was' if one else 'were'} not saved: "
                     f"run the same command again to retry {'it' if one else 'them'}")
    return sentence + "."


def usage_problem(arguments: argparse.Namespace) -> str:
    """Why the grade arguments can't be used, or ''."""
    missing = [str(path) for path in arguments.submissions if not path.exists()]
    if missing:
        return f"no such file or folder: {', '.join(missing)}"
    if arguments.workers < 1 or arguments.timeout <= 0 or arguments.memory_mb <= 0:
        return "--workers, --timeout and --memory-mb must be positive"
    if arguments.course is not None and not (arguments.course / "solutions").is_dir():
        return f"--course {arguments.course} has no solutions/ folder"
    problem = resolve_sandbox(arguments)
    if problem:
        return problem
    if getattr(arguments, "scheduler", ""):
        from dlcourse.grading import cluster

        problem = cluster.distributed_problem()
        if problem:
            return f"--scheduler can't be used: {problem}"
    try:
        arguments.out.mkdir(parents=True, exist_ok=True)
        probe = arguments.out / ".dlcourse-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        return f"cannot write to the output folder {arguments.out}: {error.strerror or error}"
    return ""


def run_check(arguments: argparse.Namespace) -> int:
    """Grade one notebook with the instructor's engine and print the per-exercise table."""
    from dlcourse import grading
    from dlcourse.grading import reports, submissions

    if not arguments.notebook.is_file():
        print(f"dlcourse check: no such notebook: {arguments.notebook}", file=sys.stderr)
        return 2
    problem = resolve_sandbox(arguments)
    if problem:
        print(f"dlcourse check: {problem}", file=sys.stderr)
        return 2
    submission = submissions.Submission(arguments.notebook.resolve(), submissions.student_id_for(arguments.notebook))
    root = (arguments.course or course.repository_root()).resolve()
    cells = "every cell" if arguments.full else "the cells the exercises need"
    print(f"checking {arguments.notebook} (this runs {cells}; it can take a minute) ...", flush=True)
    result = grading.grade_submission(submission, root, limits_from(arguments))
    print(reports.format_result_table(result))
    return GRADER_FAILURE_EXIT_CODE if result.grader_error and not result.error else 0


UNMATCHED_EXIT_CODE = 1  # some graded students are not in the roster: nothing written


def run_export(arguments: argparse.Namespace) -> int:
    """Write the gradebook in an LMS import format; exit 1 (nothing written) if graded students are not in the roster."""
    from dlcourse.grading import config as course_config, export, gradebook

    def fail(message: str, code: int = 2) -> int:
        """Print the problem on stderr and return the exit code."""
        print(f"dlcourse export: {message}", file=sys.stderr)
        return code

    if arguments.export_format in ("canvas", "moodle") and arguments.roster is None:
        return fail(f"--format {arguments.export_format} needs --roster, the CSV that gives each student's LMS identity")
    try:
        settings = course_config.load_config(arguments.config)
        roster = export.read_roster(arguments.roster) if arguments.roster else None
        book = gradebook.build_gradebook(gradebook.load_results(arguments.grades), settings)
    except (course_config.ConfigError, export.ExportError, gradebook.GradebookError) as error:
        return fail(str(error))
    matching = export.match_roster(book, roster) if roster else None
    if roster:
        unknown = export.unknown_extension_students(book, roster)
        if unknown:
            return fail(f"the course config gives an extension to {', '.join(map(repr, unknown))}, who "
                        f"{'is' if len(unknown) == 1 else 'are'} not in the roster {arguments.roster}")
    if matching and matching.unmatched:
        print(f"\nNOT IN THE ROSTER: {len(matching.unmatched)} graded student(s) match no roster entry:",
              file=sys.stderr)
        for student in matching.unmatched:
            files = sorted({pathlib.Path(entry.result.path).name for entry in book.entries
                            if entry.result.student == student})
            print(f"  {student!r}: {', '.join(files)}", file=sys.stderr)
        if not arguments.allow_unmatched:
            return fail("nothing written: add them to the roster (or fix their names), or pass --allow-unmatched to "
                        "leave them out", UNMATCHED_EXIT_CODE)
    pending = [entry.result.path for entry in book.entries if entry.result.grader_error and not entry.result.error]
    if pending:
        print(f"\nNOT GRADED: {len(pending)} submission(s) hit a grader failure: {', '.join(pending)}", file=sys.stderr)
        if not arguments.allow_grader_failures:
            return fail("nothing written: run `dlcourse grade` again to grade them, or pass --allow-grader-failures",
                        GRADER_FAILURE_EXIT_CODE)
    rows = export.students_of(book, roster, matching)
    missing = "0" if arguments.missing == "zero" else ""
    try:
        if arguments.export_format == "canvas":
            table = export.canvas_table(book, rows, missing)
        elif arguments.export_format == "moodle":
            table = export.moodle_table(book, rows, missing, arguments.moodle_identifier, arguments.feedback)
        else:
            table = export.wide_table(book, rows, missing)
    except export.ExportError as error:
        return fail(str(error))
    from dlcourse import files

    try:
        files.write_text_atomically(arguments.out, export.to_csv_text(table))
    except OSError as error:
        return fail(f"cannot write {arguments.out}: {error.strerror or error}")
    policy = (f"the {settings.counted_submission} submission per student and chapter counts, late penalties applied"
              + (f" ({settings.source})" if settings.source else " (no course config: no deadlines)"))
    print(f"Wrote {arguments.out}: {len(rows)} student(s), {len(book.chapters)} chapter(s) "
          f"({', '.join(book.chapters)}); {policy}.")
    absent = export.missing_students(book, rows)
    if absent:
        given = "0" if arguments.missing == "zero" else "an empty cell"
        other = "--missing blank leaves the cell empty" if arguments.missing == "zero" else "--missing zero gives 0"
        print(f"{len(absent)} student(s) have no graded submission for some chapter and get {given} there ({other}): "
              f"{'; '.join(absent)}")
    for warning in book.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def run_similarity(arguments: argparse.Namespace) -> int:
    """Write the advisory similarity report of the counted submissions; it never changes a grade."""
    from dlcourse import files
    from dlcourse.grading import config as course_config, gradebook, similarity

    if not 0.0 < arguments.threshold <= 1.0:
        print("dlcourse similarity: --threshold must be between 0 (exclusive) and 1", file=sys.stderr)
        return 2
    root = (arguments.course or course.repository_root()).resolve()
    out = arguments.out or arguments.grades / "similarity.html"
    try:
        book = gradebook.build_gradebook(gradebook.load_results(arguments.grades),
                                         course_config.load_config(arguments.config))
        pairs, unreadable = similarity.find_pairs(book, root, arguments.threshold)
        files.write_text_atomically(out, similarity.report_page(pairs, unreadable, arguments.threshold))
    except (course_config.ConfigError, gradebook.GradebookError) as error:
        print(f"dlcourse similarity: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"dlcourse similarity: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return 2
    for pair in pairs:
        print(f"{pair.scope}: {pair.first} and {pair.second} ({100 * pair.similarity:.0f} %)")
    for problem in unreadable:
        print(f"could not read {problem}", file=sys.stderr)
    print(f"{len(pairs)} pair(s) above {100 * arguments.threshold:.0f} % (advisory; no grade changed). See {out}.")
    return 0


def run_link(arguments: argparse.Namespace) -> int:
    """Print an nbgitpuller link per available chapter."""
    from dlcourse.grading import links

    try:
        found = links.chapter_links(arguments.hub, arguments.repo, arguments.branch)
    except links.LinkError as error:
        print(f"dlcourse link: {error}", file=sys.stderr)
        return 2
    for chapter, url in found:
        print(f"{chapter.chapter_id} {chapter.title}: {url}")
    return 0


def run_exercises(arguments: argparse.Namespace) -> int:
    """Print the exercise ids with their titles."""
    from dlcourse import checks

    try:
        ids = checks.exercises(arguments.chapter)
    except ValueError as error:
        print(f"dlcourse exercises: {error}", file=sys.stderr)
        return 2
    for exercise_id in ids:
        print(f"{exercise_id:34} {checks.get_exercise(exercise_id).title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
