"""A pytest plugin for nbval runs: solution notebooks must pass every check, student notebooks must
show "not attempted" for every check. (nbval's lax mode alone only requires that cells don't raise,
and a check never raises.) Enabled in pyproject.toml with `-p dlcourse.nbval_checks`."""

from __future__ import annotations

import pathlib
import re

import pytest


CHECK_LINE = re.compile(r"^(?:\u2714|\u2718|\u2026) (ch\d\d\.\w+): (passed|failed|error|not attempted)\b", re.MULTILINE)
EXPECTED_STATUS = {"solutions": "passed", "chapters": "not attempted"}


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
    folder = pathlib.Path(str(item.fspath)).parent.name
    expected = EXPECTED_STATUS.get(folder)
    if expected is None:
        return
    wrong = [(exercise_id, status) for exercise_id, status in check_statuses_in(outputs) if status != expected]
    if wrong:
        report.outcome = "failed"
        report.longrepr = (f"{folder}/ notebooks must show '{expected}' for every check, but this cell shows: "
                           + ", ".join(f"{exercise_id}: {status}" for exercise_id, status in wrong))
