"""The `dlcourse` command: bench, progress, exercises, and a light import."""

import csv
import json
import subprocess
import sys

import nbformat

from dlcourse import bench, cli, course


def run_cli(*arguments, **options):
    """Run `python -m dlcourse ...` and capture its output."""
    return subprocess.run([sys.executable, "-m", "dlcourse", *arguments], capture_output=True, text=True, **options)


def write_notebook(path, *sources):
    """A notebook with these code cells."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, str(path))
    return path


def test_import_dlcourse_does_not_import_tensorflow_or_keras():
    """The one test of the contract that importing the package (CLI, checks, datasets, plots, metrics, bench, doctor)
    stays cheap: no TensorFlow, Keras or other heavy framework until a notebook imports Keras itself."""
    code = ("import sys, dlcourse, dlcourse.cli, dlcourse.checks, dlcourse.release, dlcourse.progress, "
            "dlcourse.datasets, dlcourse.bench, dlcourse.plots, dlcourse.metrics, dlcourse.doctor\n"
            "dlcourse.checks.exercises()\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'sklearn', 'torch', 'jax'})\n"
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_bench_reports_time_status_and_metrics(tmp_path):
    good = write_notebook(tmp_path / "good.ipynb", "from dlcourse import metrics",
                          "metrics.record('test_accuracy', 0.875)", "metrics.record('epochs', 13)")
    bad = write_notebook(tmp_path / "bad.ipynb", "raise ValueError('broken on purpose')")
    output = tmp_path / "table.csv"
    result = run_cli("bench", str(good), str(bad), "--output", str(output))
    assert result.returncode == 1, result.stdout + result.stderr
    rows = list(csv.DictReader(output.open()))
    assert [row["status"] for row in rows] == ["pass", "fail"]
    assert rows[0]["metrics"] == "test_accuracy=0.875, epochs=13"
    assert "ValueError: broken on purpose" in rows[1]["metrics"]
    assert float(rows[0]["seconds"]) > 0
    assert "good.ipynb" in result.stdout and "total:" in result.stdout
    assert nbformat.read(str(good), as_version=4).cells[1].outputs == [], "bench must not modify notebooks"


def test_bench_marks_notebooks_over_budget(tmp_path):
    slow = write_notebook(tmp_path / "slow.ipynb", "import time; time.sleep(1.2)")
    output = tmp_path / "table.md"
    result = run_cli("bench", str(slow), "--budget", "0.5", "--output", str(output))
    assert result.returncode == 1
    text = output.read_text()
    assert text.startswith("| notebook | seconds | status | metrics |") and "over budget" in text


def test_bench_rejects_a_missing_notebook(tmp_path):
    result = run_cli("bench", str(tmp_path / "nope.ipynb"), "--output", str(tmp_path / "t.csv"))
    assert result.returncode == 2 and "no such notebook" in result.stderr


def test_default_bench_notebooks_cover_both_versions():
    names = [path.parent.name + "/" + path.name for path in bench.default_notebooks(course.repository_root())]
    assert "solutions/01_neurons_and_activations.ipynb" in names
    assert "chapters/01_neurons_and_activations.ipynb" in names


def test_progress_command_prints_a_table_per_chapter(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "progress.json").write_text(json.dumps({"exercises": {"ch01.relu": {"status": "passed"},
                                                                  "ch01.softmax": {"status": "failed"}}}))
    result = run_cli("progress", env={**__import__("os").environ, "DLCOURSE_HOME": str(home)})
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["chapter", "title", "exercises", "passed", "attempted", "not", "attempted"]
    chapter_one = next(line for line in lines if line.startswith("ch01"))
    total = len(__import__("dlcourse.checks", fromlist=["exercises"]).exercises("ch01"))
    assert chapter_one.split()[-4:] == [str(total), "1", "1", str(total - 2)]
    assert sum(line.startswith("ch0") for line in lines) == len(__import__("dlcourse.course").course.CHAPTERS) == 9
    assert lines[lines.index("passed exercises:") + 1] == "  ch01: ch01.relu"


def test_exercises_command_lists_ids_and_titles():
    result = run_cli("exercises", "--chapter", "1")
    assert result.returncode == 0 and result.stdout.startswith("ch01.sigmoid")
    assert run_cli("exercises", "--chapter", "x").returncode == 2


def test_unknown_command_is_a_usage_error():
    assert run_cli("frobnicate").returncode == 2


def test_parser_has_every_command():
    parser = cli.build_parser()
    for command in ("release", "bench", "progress", "exercises", "doctor"):
        assert parser.parse_args([command]).command == command
    for arguments in (["grade", "submissions", "--out", "grades"], ["check", "my.ipynb"]):
        assert parser.parse_args(arguments).command == arguments[0]
    assert set(parser._subparsers._group_actions[0].choices) == {
        "release", "bench", "progress", "exercises", "doctor", "grade", "check", "export", "similarity", "link",
        "book"}
    for arguments in (["export", "grades", "--format", "wide", "--out", "w.csv"], ["similarity", "grades"],
                      ["book", "--clean", "--jobs", "2", "--output", "site"],
                      ["link", "--hub", "https://hub.example.edu", "--repo", "https://github.com/a/b"]):
        assert parser.parse_args(arguments).command == arguments[0]


def test_jupyter_lab_opens_on_the_chapters():
    """requirements.txt installs a JupyterLab setting whose default page is chapters/."""
    import pathlib

    config = pathlib.Path(sys.prefix) / "etc" / "jupyter" / "jupyter_lab_config.json"
    assert json.loads(config.read_text())["LabApp"]["default_url"] == "/lab/tree/chapters"


def test_jupyter_lab_never_asks_about_news():
    """requirements.txt also installs JupyterLab settings defaults that switch news (and its first-run prompt) off."""
    import pathlib

    overrides = pathlib.Path(sys.prefix) / "etc" / "jupyter" / "labconfig" / "default_setting_overrides.json"
    notification = json.loads(overrides.read_text())["@jupyterlab/apputils-extension:notification"]
    assert notification["fetchNews"] == "false" and notification["checkForUpdates"] is False
