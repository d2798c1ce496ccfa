"""A pytest plugin for nbval runs: solution notebooks must pass every check, student notebooks must
show "not attempted" for every check. (nbval's lax mode alone only requires that cells don't raise,
and a check never raises.) Every notebook's outputs must also be quiet: no warning or framework log
line on stderr, no object repr as a cell's value, unless the cell's metadata says the warning is on
purpose. Enabled in pyproject.toml with `-p dlcourse.nbval_checks`."""

from __future__ import annotations

import os
import pathlib
import re
import tempfile

import pytest


CHECK_LINE = re.compile(r"^(?:\u2714|\u2718|\u2026) (ch\d\d\.\w+): (passed|failed|error|not attempted)\b", re.MULTILINE)
EXPECTED_STATUS = {"solutions": "passed", "chapters": "not attempted"}


# A cell whose warning is part of the lesson says so: "dlcourse": {"expected_warning": "why it is shown"}.
EXPECTED_WARNING_KEY = "expected_warning"
PYTHON_WARNING = re.compile(r"\b[A-Z]\w*Warning\b:")
FRAMEWORK_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] "               # C++ (absl) log lines of TensorFlow, XLA
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "                        # TensorFlow's older C++ log lines
    r"|WARNING: All log messages before absl::InitializeLog"
    r"|To enable the following instructions: "
    r"|(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):(?:tensorflow|absl|keras|h5py|matplotlib|root):)",  # Python logging
    re.MULTILINE)
OBJECT_REPR = re.compile(r"<[^<>\n]* at 0x[0-9a-fA-F]+>"                         # <keras...History at 0x7f...>
                         r"|\A\s*\[?<[A-Za-z_][\w.]*[ :].*>\]?\s*\Z"              # <Figure size ...>, [<matplotlib...>]
                         r"|\A\s*(?:Text|Line2D|Rectangle)\(.*\)\s*\Z", re.DOTALL)   # Text(0.5, 1.0, 'title')
RICH_MEDIA = ("image/", "text/html", "text/markdown", "text/latex", "application/")
# nbval's kernels start under pytest, where ipykernel leaves file descriptors 1 and 2 alone (a student's kernel
# shows what C++ libraries write there in the cell). This IPython kernel configuration, loaded before the kernel
# sets up its streams, makes nbval's kernels show it too.
STUDENT_KERNEL_CONFIG = ("import os\n"
                         "os.environ.pop('PYTEST_CURRENT_TEST', None)  # ipykernel then captures descriptors 1 and 2\n")


def _text(value):
    """A notebook output's text, which nbformat may store as a list of lines."""
    return value if isinstance(value, str) else "".join(value or [])


def quiet_output_problems(outputs, cell_metadata=None):
    """What in a cell's outputs breaks the quiet-output rule: stderr text, framework log lines, object reprs."""
    warning_expected = bool((cell_metadata or {}).get("dlcourse", {}).get(EXPECTED_WARNING_KEY))
    problems = []
    for output in outputs or []:
        kind = output.get("output_type")
        if kind == "stream":
            text = _text(output.get("text"))
            first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
            log_line = FRAMEWORK_LOG_LINE.search(text)
            if log_line and not warning_expected:
                line = text[log_line.start():].splitlines()[0]
                problems.append(f"a framework log line on {output.get('name')}: {line[:200]!r}")
            elif output.get("name") == "stderr" and first_line and not warning_expected:
                warning_line = next((line.strip() for line in text.splitlines() if PYTHON_WARNING.search(line)), None)
                if warning_line:
                    problems.append(f"a warning on stderr: {warning_line[:200]!r}")
                else:
                    problems.append(f"text on stderr: {first_line[:200]!r}")
        elif kind in ("execute_result", "display_data"):
            data = output.get("data") or {}
            if any(mime.startswith(RICH_MEDIA) for mime in data):
                continue
            plain = _text(data.get("text/plain"))
            if OBJECT_REPR.search(plain):
                shown = "the cell's value" if kind == "execute_result" else "a displayed value"
                problems.append(f"an object repr as {shown}: {plain.strip()[:200]!r} "
                                "(assign it, or end the line with ';')")
    return problems


def student_ipython_directory(config):
    """An IPython directory, made once per run, whose kernel configuration gives nbval's kernels a student's streams."""
    directory = getattr(config, "_dlcourse_ipython_directory", None)
    if directory is None:
        directory = pathlib.Path(tempfile.mkdtemp(prefix="dlcourse-nbval-ipython-"))
        (directory / "profile_default").mkdir()
        (directory / "profile_default" / "ipython_kernel_config.py").write_text(STUDENT_KERNEL_CONFIG, encoding="utf-8")
        config._dlcourse_ipython_directory = directory
    return directory


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Start each notebook's kernel (nbval does, in its first cell's setup) with the IPython directory above."""
    starts_kernel = hasattr(item, "cell") and getattr(item.parent, "kernel", None) is None
    if not starts_kernel:
        yield
        return
    previous = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(student_ipython_directory(item.config))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("IPYTHONDIR", None)
        else:
            os.environ["IPYTHONDIR"] = previous


def check_statuses_in(outputs):
    """(exercise id, status) for every check result shown in a cell's outputs."""
    found = []
    for output in outputs or []:
        text = output.get("data", {}).get("text/plain", "") if output.get("data") else output.get("text", "")
        found.extend(CHECK_LINE.findall(text if isinstance(text, str) else "".join(text)))
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In solutions/ every check must pass; in chapters/ every check must say 'not attempted'."""
    outcome = yield
    report = outcome.get_result()
    outputs = getattr(item, "test_outputs", None)
    if call.when != "call" or report.failed or outputs is None:
        return
    problems = quiet_output_problems(outputs, getattr(getattr(item, "cell", None), "metadata", None))
    if problems:
        report.outcome = "failed"
        report.longrepr = ("Notebook outputs must be quiet (no warnings, framework log lines or object reprs; a cell "
                           f"that shows a warning on purpose sets \"dlcourse\": {{\"{EXPECTED_WARNING_KEY}\": ...}} in "
                           "its metadata), but this cell shows:\n  " + "\n  ".join(problems))
        return
    folder = pathlib.Path(str(item.fspath)).parent.name
    expected = EXPECTED_STATUS.get(folder)
    if expected is None:
        return
    wrong = [(exercise_id, status) for exercise_id, status in check_statuses_in(outputs) if status != expected]
    if wrong:
        report.outcome = "failed"
        report.longrepr = (f"{folder}/ notebooks must show '{expected}' for every check, but this cell shows: "
                           + ", ".join(f"{exercise_id}: {status}" for exercise_id, status in wrong))
