"""Grade the same submissions with nbgrader and with dlcourse, and print the seconds per submission of each.

    python -m dlcourse.grading.nbgrader_benchmark --chapter 1 --submissions 6
    python -m dlcourse.grading.nbgrader_benchmark --chapter 2,3,4,5,6,7,8 --submissions 3

It builds an nbgrader course from the chapter's solution notebook in a scratch folder: exercise cells become
nbgrader solution cells (the same `### BEGIN SOLUTION` markers) and each check cell becomes an autograded test cell
worth one point (`assert checks.check(...).passed`). nbgrader is installed in a scratch virtual environment that
also sees this environment's packages (Keras, TensorFlow), so that both graders run the same notebook code. The
submissions are generated: each exercise solved, left untouched or broken, at random (fixed seed). Then it times
`nbgrader autograde` (serial, as nbgrader grades) and `dlcourse grade` with --full and sliced, on 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

import nbformat

from dlcourse import course, release

NBGRADER_VERSION = "0.9.6"
ASSIGNMENT = "chapter"


def nbgrader_source_notebook(solution) -> object:
    """The solution notebook with nbgrader cell metadata: solution cells, autograded test cells, read-only text."""
    notebook = copy.deepcopy(solution)
    for index, cell in enumerate(notebook.cells):
        exercise_id = release.exercise_id_of(cell) if cell.cell_type == "code" else ""
        check = _check_call(cell.source) if cell.cell_type == "code" else None
        if exercise_id:
            cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False,
                                         "grade_id": f"answer_{index}", "schema_version": 3}
        elif check:
            cell.source = f"assert {cell.source.strip()}.passed"
            cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                         "grade_id": f"test_{index}", "schema_version": 3}
    return notebook


def _check_call(source: str) -> bool:
    """Whether a cell is a chapter's `checks.check(...)` cell."""
    from dlcourse.grading import submissions

    return submissions.check_call_of(source) is not None


def mixed_submission(solution, name: str, rng: random.Random) -> object:
    """A student notebook with each exercise solved, left untouched or broken, at random."""
    answers = {release.exercise_id_of(cell): cell.source for cell in solution.cells if release.exercise_id_of(cell)}
    student = release.release_notebook(solution, name)
    for cell in student.cells:
        exercise_id = release.exercise_id_of(cell)
        choice = rng.choice(["solved", "untouched", "broken"]) if exercise_id else ""
        if choice == "solved":
            cell.source = answers[exercise_id]
        elif choice == "broken":
            cell.source = answers[exercise_id] + "\nraise ValueError('a bug in the student cell')"
    return student


def make_nbgrader_venv(folder: pathlib.Path) -> pathlib.Path:
    """A scratch venv with nbgrader that also sees this environment's packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # addsitedir (not a plain path line) so that this environment's own .pth files, such as dlcourse's editable
    # install, are processed too
    pathlib.Path(site, "dlcourse_environment.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"nbgrader=={NBGRADER_VERSION}"], check=True)
    return python


def nbgrader_seconds(python: pathlib.Path, folder: pathlib.Path, solution, notebook_name: str,
                     submissions: dict[str, object]) -> float:
    """Build the nbgrader course in folder, autograde the submissions, and return the wall-clock seconds."""
    (folder / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nbgrader_source_notebook(solution), str(folder / "source" / ASSIGNMENT / notebook_name))
    (folder / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'dlcourse'\nc.ExecutePreprocessor.timeout = 600\n")
    nbgrader = [str(python), "-m", "nbgrader"]
    environment = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(nbgrader + ["generate_assignment", ASSIGNMENT, "--force"], cwd=folder, check=True,
                   capture_output=True, env=environment)
    for name, notebook in submissions.items():
        target = folder / "submitted" / name / ASSIGNMENT
        target.mkdir(parents=True)
        released = nbformat.read(str(folder / "release" / ASSIGNMENT / notebook_name), as_version=4)
        by_id = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in released.cells}
        for cell, submitted in zip(nbgrader_source_notebook(notebook).cells, notebook.cells):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id and grade_id in by_id and cell.metadata["nbgrader"].get("solution"):
                by_id[grade_id].source = submitted.source
        nbformat.write(released, str(target / notebook_name))
        (target / "timestamp.txt").write_text("2026-11-28 12:00:00.000000 UTC")
    started = time.monotonic()
    subprocess.run(nbgrader + ["autograde", ASSIGNMENT, "--force"], cwd=folder, check=True, capture_output=True,
                   env=environment)
    seconds = time.monotonic() - started
    for path in (folder / "autograded").glob(f"*/{ASSIGNMENT}/{notebook_name}"):
        setup = next(cell for cell in nbformat.read(str(path), as_version=4).cells if cell.cell_type == "code")
        errors = [output for output in setup.get("outputs", []) if output.get("output_type") == "error"]
        if errors:  # a benchmark of a notebook that could not even import the course would be meaningless
            raise RuntimeError(f"nbgrader's kernel could not run the setup cell: {errors[0]['ename']}: {errors[0]['evalue']}")
    return seconds


def dlcourse_seconds(folder: pathlib.Path, out: pathlib.Path, *options: str) -> float:
    """Wall-clock seconds of `dlcourse grade` on a folder of submissions."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "dlcourse", "grade", str(folder), "--out", str(out), *options],
                   check=True, capture_output=True)
    return time.monotonic() - started


def benchmark_chapter(chapter, count: int, scratch: pathlib.Path, nbgrader_python: pathlib.Path) -> dict[str, float]:
    """Seconds per submission of each grader on `count` generated submissions of one chapter."""
    root = course.repository_root()
    solution = nbformat.read(str(root / "solutions" / chapter.notebook_name), as_version=4)
    rng = random.Random(8)
    students = {f"student{number}": mixed_submission(solution, chapter.notebook_name, rng)
                for number in range(1, count + 1)}
    scratch = scratch / chapter.chapter_id
    folder = scratch / "submissions"
    folder.mkdir(parents=True)
    for name, notebook in students.items():
        nbformat.write(notebook, str(folder / f"{name}.ipynb"))
    timings = {
        "dlcourse grade --full --workers 1": dlcourse_seconds(folder, scratch / "full1", "--full", "--workers", "1"),
        "dlcourse grade --workers 1": dlcourse_seconds(folder, scratch / "sliced1", "--workers", "1"),
        "dlcourse grade --workers 2": dlcourse_seconds(folder, scratch / "sliced2", "--workers", "2"),
        "nbgrader autograde (serial)": nbgrader_seconds(nbgrader_python, scratch / "nbgrader", solution,
                                                       chapter.notebook_name, students),
    }
    return {name: seconds / count for name, seconds in timings.items()}


def chapters_of(values: list[str]) -> list:
    """The chapters named by --chapter values such as 1, ch02 or 3,4,5."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return [course.chapter_by_id(f"ch{int(name.lower().removeprefix('ch')):02d}") for name in names]


def main(argv: list[str] | None = None) -> int:
    """Build the nbgrader environment once, grade each chapter with both graders, print a table per chapter."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", action="append", default=None,
                        help="chapter number or id, or a comma-separated list; may be repeated (default: 1)")
    parser.add_argument("--submissions", type=int, default=6, help="how many generated submissions (default: 6)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and print where it is")
    arguments = parser.parse_args(argv)
    chapters = chapters_of(arguments.chapter or ["1"])
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="dlcourse-benchmark-"))
    results = {}
    try:
        python = make_nbgrader_venv(scratch / "nbgrader-venv")
        for chapter in chapters:
            results[chapter.chapter_id] = benchmark_chapter(chapter, arguments.submissions, scratch, python)
            print_table(chapter.chapter_id, arguments.submissions, results[chapter.chapter_id])
    finally:
        if arguments.keep:
            print(f"scratch folder: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({chapter: {name: round(seconds, 2) for name, seconds in timings.items()}
                      for chapter, timings in results.items()}), file=sys.stderr)
    return 0


def print_table(chapter_id: str, count: int, seconds_per_submission: dict[str, float]) -> None:
    """One chapter's Markdown table, slowest grader first, with each grader's speed-up over nbgrader."""
    nbgrader = seconds_per_submission["nbgrader autograde (serial)"]
    print(f"{chapter_id}, {count} submissions\n")
    print("| grader | seconds per submission | nbgrader's time divided by this |\n|---|---|---|")
    for name, seconds in sorted(seconds_per_submission.items(), key=lambda item: -item[1]):
        print(f"| {name} | {seconds:.1f} | {nbgrader / seconds:.1f}x |")
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
