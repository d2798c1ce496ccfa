"""The `dlcourse` command: release, bench, progress and exercises."""

from __future__ import annotations

import argparse
import pathlib
import sys

from dlcourse import course


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

    listing = commands.add_parser("exercises", help="list the graded exercises")
    listing.add_argument("--chapter", default=None, help="only this chapter, e.g. 1 or ch01")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = build_parser().parse_args(argv)
    handlers = {"release": run_release, "bench": run_bench, "progress": run_progress, "exercises": run_exercises}
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
    rows = []
    for path in notebooks:
        print(f"running {path} ...", flush=True)
        rows.append(bench.bench_notebook(path, arguments.budget))
    from dlcourse import progress

    print()
    print(progress.format_table(bench.HEADER, bench.table_rows(rows)))
    print(f"total: {sum(row.seconds for row in rows):.1f} s for {len(rows)} notebook(s); budget {arguments.budget:g} s each")
    bench.write_table(rows, arguments.output)
    print(f"table written to {arguments.output}")
    return 0 if all(row.status == "pass" for row in rows) else 1


def run_progress(arguments: argparse.Namespace) -> int:
    """Print the per-chapter progress table."""
    from dlcourse import progress

    print(progress.format_progress_table(progress.progress_rows()))
    print(f"\n(recorded in {progress.progress_path()})")
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
