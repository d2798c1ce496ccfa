"""`dlcourse doctor`: check this environment, and say in one line each what is wrong and how to fix it.

Each check is a small function returning a Finding: ok, and one line (what was found, or what is wrong and the
fix). Students' checks: Python, the pinned packages, the dataset files, a kernel that imports Keras, and
JupyterLab's settings. Instructors' checks (`--instructor`): bubblewrap for the grader's sandbox, Chromium and
Playwright for the browser test, and the web book's requirements (requirements-book.txt).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import sys
import time
from typing import Callable, NamedTuple

from dlcourse import course

MINIMUM_PYTHON = (3, 11)  # pyproject.toml's requires-python: the pinned numpy, keras, matplotlib and networkx need 3.11
KERNEL_START_SECONDS = 60
KERAS_IMPORT_SECONDS = 300
COURSE_BACKEND = "tensorflow"
CHAPTERS_URL = "/lab/tree/chapters"
NEWS_SETTINGS = "@jupyterlab/apputils-extension:notification"
BOOK_REQUIREMENTS = "requirements-book.txt"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")  # as tests/test_browser.py looks for it
INSTALL_FIX = "pip install -r requirements.txt"
KERAS_PROBE = ("import time as _doctor_time\n"
               "_doctor_start = _doctor_time.perf_counter()\n"
               "import dlcourse, keras\n"
               "print(keras.backend.backend(), _doctor_time.perf_counter() - _doctor_start)")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;]+)")


class Finding(NamedTuple):
    """One check's outcome: ok, and one line saying what was found, or what is wrong and how to fix it."""

    ok: bool
    line: str


def checks(instructor: bool = False) -> list[tuple[str, Callable[[], Finding]]]:
    """The checks to run, named: the students' ones, then with instructor=True the instructors' tools."""
    student = [("Python", python_version), ("packages", pinned_packages), ("datasets", dataset_files),
               ("kernel", kernel_imports_keras), ("JupyterLab", jupyterlab_settings)]
    tools = [("bubblewrap", bubblewrap), ("Chromium", chromium), ("browser test packages", developer_packages),
             ("book", book_packages)]
    return student + tools if instructor else student


def run_check(check: Callable[[], Finding]) -> Finding:
    """The check's finding; a check that crashes is a failed finding that says so."""
    try:
        return check()
    except Exception as error:
        return Finding(False, f"the check itself failed ({type(error).__name__}: {error}); please report it")


def format_finding(name: str, finding: Finding) -> str:
    """The finding as one console line: 'ok' or 'FAIL', the check's name and its line."""
    return f"{'ok' if finding.ok else 'FAIL':<4}  {name}: {finding.line}"


def python_version() -> Finding:
    """Whether this Python is recent enough for the course, and whether it runs in a virtual environment."""
    version = ".".join(str(part) for part in sys.version_info[:3])
    if sys.version_info[:2] < MINIMUM_PYTHON:
        minimum = ".".join(str(part) for part in MINIMUM_PYTHON)
        return Finding(False, f"Python {version} is too old (the course needs {minimum} or newer): "
                              f"make the virtual environment with a newer one, e.g. `python3.11 -m venv .venv`")
    if sys.prefix == sys.base_prefix:
        return Finding(True, f"Python {version} ({sys.executable}), not in a virtual environment: the README's "
                             "`python3.11 -m venv .venv && . .venv/bin/activate` keeps the course's pins apart")
    return Finding(True, f"Python {version} in the virtual environment {sys.prefix}")


def requirements_path() -> pathlib.Path:
    """The course's requirements.txt."""
    return course.repository_root() / "requirements.txt"


def read_pins(path: pathlib.Path) -> dict[str, str]:
    """The `name==version` pins of a requirements file; comments, options (`-e .`) and local paths are skipped."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.split("#", 1)[0].strip())
        if match:
            pins[match.group(1)] = match.group(3)
    return pins


def installed_version(name: str) -> str:
    """The installed version of a distribution, '' when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return ""


def pin_mismatches(pins: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, installed version or '', pinned version) for every pin the environment does not match."""
    found = ((name, installed_version(name), pinned) for name, pinned in pins.items())
    return [(name, installed, pinned) for name, installed, pinned in found if installed != pinned]


def pinned_packages(path: pathlib.Path | None = None, fix_file: str = "") -> Finding:
    """Whether the installed packages match a requirements file's pins (default: the course's requirements.txt)."""
    path = path or requirements_path()
    try:
        pins = read_pins(path)
    except OSError as error:
        return Finding(False, f"{path} can't be read ({error.strerror}): restore it with `git checkout -- {path.name}`")
    mismatches = pin_mismatches(pins)
    if not mismatches:
        return Finding(True, f"all {len(pins)} packages pinned in {path.name} are installed at their pinned versions")
    described = ", ".join(f"{name} {installed} installed (pinned {pinned})" if installed
                          else f"{name} not installed (pinned {pinned})" for name, installed, pinned in mismatches)
    command = "pip install " + " ".join(f"{name}=={pinned}" for name, _, pinned in mismatches)
    also = f" (or `pip install -r {fix_file}`)" if fix_file else ""
    return Finding(False, f"{len(mismatches)} of {len(pins)} packages differ from {path.name}: {described}; "
                          f"fix: `{command}`{also}")


def dataset_files() -> Finding:
    """Whether every file in the dataset manifest is there with its recorded sha256."""
    from dlcourse import datasets

    try:
        manifest = datasets._read_manifest()
    except datasets.DatasetError as error:
        return Finding(False, str(error))
    folder = datasets.data_directory()
    problems = [name for name in sorted(manifest) if dataset_problem(name)]
    if not problems:
        return Finding(True, f"all {len(manifest)} files in {folder} match their sha256 in the manifest")
    described = "; ".join(f"{name} {dataset_problem(name)}" for name in problems)
    return Finding(False, f"{described}; fix: {dataset_fix(problems)}")


def dataset_problem(name: str) -> str:
    """'' when the dataset file is present and intact, else 'is missing' or 'is corrupted (...)'."""
    from dlcourse import datasets

    try:
        datasets.verified_path(name)
    except datasets.DatasetError:
        if not (datasets.data_directory() / name).is_file():
            return "is missing"
        return "is corrupted (its sha256 differs from the manifest)"
    return ""


def dataset_fix(names: list[str]) -> str:
    """How to restore these dataset files: git checkout in the repository, or a fresh copy under DLCOURSE_DATA_DIR."""
    from dlcourse import datasets

    restore = "`git checkout -- " + " ".join(f"datasets/{name}" for name in names) + "` in the repository root"
    override = os.environ.get(datasets.DATA_DIRECTORY_ENVIRONMENT_VARIABLE)
    if override:
        restore += f", then copy them into {override} (${datasets.DATA_DIRECTORY_ENVIRONMENT_VARIABLE})"
    return restore + "; datasets/README.md says where each file comes from"


def kernel_imports_keras() -> Finding:
    """Whether a kernel of this environment starts (over ipc) and imports Keras, how long that took, and the backend."""
    started = time.perf_counter()
    try:
        output, error, start_seconds = run_in_fresh_kernel(KERAS_PROBE)
    except Exception as failure:
        return Finding(False, f"no kernel of this environment started ({type(failure).__name__}: {failure}); "
                              f"fix: `{INSTALL_FIX}` (it installs ipykernel)")
    if error:
        return Finding(False, f"a kernel started but could not import Keras ({error}); fix: {keras_import_fix()}")
    backend, import_seconds = parse_probe(output)
    total = time.perf_counter() - started
    timing = (f"a kernel started in {start_seconds:.1f} s and imported Keras in {import_seconds:.1f} s "
              f"({total:.1f} s in all)")
    if backend != COURSE_BACKEND:
        return Finding(False, f"{timing}, but Keras' backend is {backend!r}, not {COURSE_BACKEND!r}: unset "
                              f"KERAS_BACKEND (or set it to {COURSE_BACKEND}) and check `backend` in "
                              "~/.keras/keras.json")
    return Finding(True, f"{timing}; Keras backend: {backend}")


def keras_import_fix() -> str:
    """How to make Keras importable: unset a KERAS_BACKEND that asks for another backend, else reinstall the pins."""
    asked = os.environ.get("KERAS_BACKEND", "")
    if asked and asked != COURSE_BACKEND:
        return f"unset KERAS_BACKEND (it asks for {asked!r}; the course uses {COURSE_BACKEND})"
    return f"`{INSTALL_FIX}`"


def parse_probe(output: str) -> tuple[str, float]:
    """The backend name and import seconds that KERAS_PROBE printed (its last line)."""
    lines = output.strip().splitlines()
    fields = lines[-1].split() if lines else []
    if len(fields) != 2:
        return output.strip() or "(nothing printed)", 0.0
    return fields[0], float(fields[1])


def run_in_fresh_kernel(code: str) -> tuple[str, str, float]:
    """Run code in a new kernel of this environment over ipc, then shut it down: (stdout, error line or '', start
    seconds)."""
    from dlcourse import execution

    outputs: list[str] = []
    errors: list[str] = []

    def collect(message: dict) -> None:
        """Keep the stdout text and the error line of the kernel's iopub messages."""
        content = message.get("content", {})
        if message.get("msg_type") == "stream" and content.get("name") == "stdout":
            outputs.append(content.get("text", ""))
        elif message.get("msg_type") == "error":
            errors.append(f"{content.get('ename')}: {content.get('evalue')}")

    with execution.fresh_kernel_manager() as manager:
        started = time.perf_counter()
        execution.start_quiet_kernel(manager, str(course.repository_root()))
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=KERNEL_START_SECONDS)
            start_seconds = time.perf_counter() - started
            client.execute_interactive(code, timeout=KERAS_IMPORT_SECONDS, output_hook=collect)
        finally:
            client.stop_channels()
    return "".join(outputs), (errors[0] if errors else ""), start_seconds


def jupyterlab_settings() -> Finding:
    """Whether JupyterLab is installed and its settings open it on chapters/ without the news prompt."""
    version = installed_version("jupyterlab")
    if not version:
        return Finding(False, f"JupyterLab is not installed; fix: `{INSTALL_FIX}`")
    command = jupyter_lab_command()
    if not command:
        return Finding(False, f"JupyterLab {version} is installed but no `jupyter-lab` command is next to "
                              f"{sys.executable} or on PATH; fix: `pip install --force-reinstall "
                              f"jupyterlab=={version}`")
    root = course.repository_root()
    if not (root / "chapters").is_dir():
        return Finding(False, f"{root / 'chapters'} is missing; fix: `git checkout -- chapters` in {root}")
    settings_fix = f"fix: `pip install ./jupyter-config` in {root} (part of `{INSTALL_FIX}`)"
    default_url, where = configured_default_url()
    if default_url != CHAPTERS_URL:
        opens = f"on {default_url!r} (set in {where})" if default_url else "on its launcher, not on chapters/"
        return Finding(False, f"JupyterLab {version} would open {opens}; {settings_fix}")
    if not news_switched_off():
        return Finding(False, f"JupyterLab {version} would ask about Jupyter news (the course's settings "
                              f"default_setting_overrides.json are missing); {settings_fix}")
    return Finding(True, f"JupyterLab {version} opens on chapters/ with the course's settings ({where}); "
                         f"start it with `cd {root} && jupyter lab`")


def jupyter_lab_command() -> str:
    """The `jupyter-lab` executable of this environment, else one on PATH, else ''."""
    beside = pathlib.Path(sys.executable).parent / "jupyter-lab"
    if beside.is_file():
        return str(beside)
    return shutil.which("jupyter-lab") or ""


def jupyter_config_folders() -> list[str]:
    """Jupyter's configuration folders, the one that wins first."""
    from jupyter_core.paths import jupyter_config_path

    return jupyter_config_path()


def read_json(path: pathlib.Path) -> dict:
    """The JSON object in a file, {} when it is absent or unreadable."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def configured_default_url() -> tuple[str, str]:
    """LabApp.default_url as JupyterLab's JSON configuration sets it, and the file that sets it; ('', '') if none."""
    for folder in jupyter_config_folders():
        path = pathlib.Path(folder) / "jupyter_lab_config.json"
        default_url = read_json(path).get("LabApp", {}).get("default_url")
        if default_url:
            return default_url, str(path)
    return "", ""


def news_switched_off() -> bool:
    """Whether the first default_setting_overrides.json that configures JupyterLab's notifications turns news off."""
    for folder in jupyter_config_folders():
        overrides = read_json(pathlib.Path(folder) / "labconfig" / "default_setting_overrides.json")
        if NEWS_SETTINGS in overrides:
            return str(overrides[NEWS_SETTINGS].get("fetchNews")).lower() == "false"
    return False


def bubblewrap() -> Finding:
    """Whether bubblewrap can run the grader's sandbox here (the grader's own test)."""
    from dlcourse.grading import sandbox

    problem = sandbox.sandbox_problem()
    if problem:
        return Finding(False, problem)
    return Finding(True, f"bubblewrap ({shutil.which(sandbox.BUBBLEWRAP_NAME)}) can run the grader's sandbox")


def chromium_executable() -> str:
    """$DLCOURSE_CHROMIUM, else a Chromium on PATH, else '' (the browser test looks the same way)."""
    configured = os.environ.get("DLCOURSE_CHROMIUM")
    if configured:
        return configured
    return next((found for found in map(shutil.which, CHROMIUM_NAMES) if found), "")


def chromium() -> Finding:
    """Whether the browser test (tests/test_browser.py) finds a Chromium."""
    executable = chromium_executable()
    fix = ("fix: `sudo apt-get install chromium` (Debian/Ubuntu), or set DLCOURSE_CHROMIUM to a Chromium or Chrome "
           "executable")
    if not executable:
        return Finding(False, f"no Chromium found (looked for $DLCOURSE_CHROMIUM, {', '.join(CHROMIUM_NAMES)}), so "
                              f"the browser test is skipped; {fix}")
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        return Finding(False, f"DLCOURSE_CHROMIUM names {executable}, which is not an executable file; {fix}")
    return Finding(True, f"Chromium for the browser test: {executable}")


def developer_packages() -> Finding:
    """Whether requirements-dev.txt's pins (Playwright, for the browser test) are installed."""
    return pinned_packages(course.repository_root() / "requirements-dev.txt", fix_file="requirements-dev.txt")


def book_packages() -> Finding:
    """Whether the web book's requirements (requirements-book.txt: Sphinx, myst-nb, ...) are installed."""
    return pinned_packages(course.repository_root() / BOOK_REQUIREMENTS, fix_file=BOOK_REQUIREMENTS)
