"""`dlcourse doctor`: a clean environment passes; each problem is named, with its fix, and fails the command."""

import shutil

import pytest

from dlcourse import cli, course, doctor
from dlcourse.grading import sandbox

FAST_CHECKS = ("Python", "packages", "datasets", "JupyterLab")


def fast_finding(name):
    """The finding of one of the student checks that start no kernel."""
    return doctor.run_check(dict(doctor.checks())[name])


@pytest.fixture
def no_kernel_check(monkeypatch):
    """Replace the slow kernel check by a passing one (the real one runs once, in its own test)."""
    monkeypatch.setattr(doctor, "kernel_imports_keras", lambda: doctor.Finding(True, "kernel check skipped"))


@pytest.fixture
def corrupted_data(tmp_path, monkeypatch):
    """A copy of datasets/ with one file altered, that DLCOURSE_DATA_DIR points at."""
    copy = tmp_path / "datasets"
    shutil.copytree(course.repository_root() / "datasets", copy)
    with (copy / "iris.csv").open("a") as stream:
        stream.write("9.9,9.9,9.9,9.9,0\n")
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(copy))
    return copy


@pytest.fixture
def fresh_sandbox_probe():
    """Forget bubblewrap's cached verdict before and after the test."""
    sandbox.sandbox_problem.cache_clear()
    yield
    sandbox.sandbox_problem.cache_clear()


@pytest.mark.parametrize("name", FAST_CHECKS)
def test_a_clean_environment_passes_each_fast_check(name):
    finding = fast_finding(name)
    assert finding.ok, finding.line
    assert "\n" not in finding.line


def test_the_kernel_check_starts_a_kernel_that_imports_keras():
    finding = doctor.kernel_imports_keras()
    assert finding.ok, finding.line
    assert "imported Keras in" in finding.line and finding.line.endswith("Keras backend: tensorflow")


def test_doctor_exits_0_in_a_clean_environment(no_kernel_check, capsys):
    assert cli.main(["doctor"]) == 0
    output = capsys.readouterr().out
    assert all(f"ok    {name}:" in output for name in (*FAST_CHECKS, "kernel")) and "All checks passed." in output


def test_a_corrupted_dataset_file_is_named_with_its_fix(corrupted_data, no_kernel_check, capsys):
    finding = doctor.dataset_files()
    assert not finding.ok
    assert "iris.csv is corrupted" in finding.line and "`git checkout -- datasets/iris.csv`" in finding.line
    assert "mnist" not in finding.line
    assert cli.main(["doctor"]) == 1
    assert "FAIL  datasets: iris.csv is corrupted" in capsys.readouterr().out


def test_a_missing_dataset_file_is_named(corrupted_data):
    (corrupted_data / "sunspots_1700_1969.csv").unlink()
    line = doctor.dataset_files().line
    assert "sunspots_1700_1969.csv is missing" in line and "datasets/iris.csv datasets/sunspots_1700_1969.csv" in line


def test_a_wrong_pin_is_named_with_the_pip_command_that_fixes_it(tmp_path, monkeypatch, no_kernel_check, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# a comment\nnumpy==0.0.1  # too old\npsutil==7.2.2\nno-such-package-dlcourse==1.0\n"
                            "-e .\n./jupyter-config\n")
    finding = doctor.pinned_packages(requirements)
    assert not finding.ok
    assert "2 of 3 packages differ" in finding.line
    assert "no-such-package-dlcourse not installed (pinned 1.0)" in finding.line
    assert "pinned 0.0.1" in finding.line and "`pip install numpy==0.0.1 no-such-package-dlcourse==1.0`" in finding.line
    monkeypatch.setattr(doctor, "requirements_path", lambda: requirements)
    assert cli.main(["doctor"]) == 1
    assert "FAIL  packages: 2 of 3" in capsys.readouterr().out


def test_read_pins_skips_comments_options_and_paths(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pins\nkeras==3.15.1\njupyter_client==8.10.0  # note\n-e .\n./jupyter-config\n"
                            "extra[dask] == 1.2 ; python_version >= '3.10'\n")
    assert doctor.read_pins(requirements) == {"keras": "3.15.1", "jupyter_client": "8.10.0", "extra": "1.2"}


def test_missing_instructor_tools_are_named_with_their_fix(tmp_path, monkeypatch, no_kernel_check, fresh_sandbox_probe,
                                                           capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DLCOURSE_CHROMIUM", raising=False)
    chromium = doctor.chromium()
    assert not chromium.ok and "no Chromium found" in chromium.line and "apt-get install chromium" in chromium.line
    bubblewrap = doctor.bubblewrap()
    assert not bubblewrap.ok and "apt-get install bubblewrap" in bubblewrap.line
    assert cli.main(["doctor"]) == 0, "the instructors' tools are only checked with --instructor"
    assert cli.main(["doctor", "--instructor"]) == 1
    output = capsys.readouterr().out
    assert "FAIL  Chromium: no Chromium found" in output and "FAIL  bubblewrap:" in output


def test_a_wrong_chromium_setting_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_CHROMIUM", str(tmp_path / "no-such-browser"))
    finding = doctor.chromium()
    assert not finding.ok and "not an executable file" in finding.line


def test_jupyterlab_settings_that_open_elsewhere_are_named(tmp_path, monkeypatch):
    (tmp_path / "jupyter_lab_config.json").write_text('{"LabApp": {"default_url": "/lab/tree/elsewhere"}}')
    monkeypatch.setattr(doctor, "jupyter_config_folders", lambda: [str(tmp_path)])
    finding = doctor.jupyterlab_settings()
    assert not finding.ok and "'/lab/tree/elsewhere'" in finding.line and "pip install ./jupyter-config" in finding.line


def test_a_crashing_check_is_reported_not_raised():
    def broken():
        raise OSError("disk on fire")

    finding = doctor.run_check(broken)
    assert not finding.ok and "disk on fire" in finding.line


def test_a_keras_backend_that_the_course_does_not_use_is_named(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert doctor.keras_import_fix().startswith("unset KERAS_BACKEND (it asks for 'jax'")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert doctor.keras_import_fix() == "`pip install -r requirements.txt`"


def test_the_book_requirements_are_checked_against_requirements_book_txt(tmp_path, monkeypatch):
    (tmp_path / "requirements-book.txt").write_text("# the book\nSphinx==0.0.1\n")
    monkeypatch.setattr(doctor.course, "repository_root", lambda: tmp_path)
    finding = doctor.book_packages()
    assert not finding.ok
    assert "Sphinx" in finding.line and "pinned 0.0.1" in finding.line
    assert "`pip install -r requirements-book.txt`" in finding.line


def test_the_repository_pins_the_book_requirements_that_doctor_checks():
    assert dict(doctor.checks(instructor=True))["book"] is doctor.book_packages
    pins = doctor.read_pins(doctor.course.repository_root() / doctor.BOOK_REQUIREMENTS)
    assert {"Sphinx", "myst-nb", "sphinx-book-theme", "jupyter-cache", "django-static-mathjax"} <= set(pins)
