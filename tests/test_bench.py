"""`dlcourse bench`: one kernel at a time, each shut down when its notebook ends, and a quiet console."""

import io
import json
import os
import subprocess
import sys

import psutil

from dlcourse import bench
from test_cli import write_notebook

CONNECTION_REPORT = ("import json, os, pathlib\n"
                     "from ipykernel import get_connection_info\n"
                     "kernel = {{'pid': os.getpid(), 'transport': get_connection_info(unpack=True)['transport']}}\n"
                     "pathlib.Path({report!r}).write_text(json.dumps(kernel))")


def kernel_processes():
    """This process's descendants that run an ipykernel, zombies included."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if any("ipykernel" in part for part in process.cmdline()) or process.status() == psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def test_each_kernel_is_shut_down_when_its_notebook_ends(tmp_path, monkeypatch):
    report = tmp_path / "kernel.json"
    passing = write_notebook(tmp_path / "passing.ipynb", CONNECTION_REPORT.format(report=str(report)))
    failing = write_notebook(tmp_path / "failing.ipynb", "raise ValueError('broken on purpose')")
    left_after_each = []
    bench_one = bench.bench_notebook

    def bench_and_look(path, budget_seconds):
        """Bench one notebook, then note which kernel processes are left."""
        row = bench_one(path, budget_seconds)
        left_after_each.append([process.pid for process in kernel_processes()])
        return row

    monkeypatch.setattr(bench, "bench_notebook", bench_and_look)
    console = io.StringIO()
    rows = bench.bench_notebooks([passing, failing], stream=console)
    assert [row.status for row in rows] == ["pass", "fail"]
    assert left_after_each == [[], []], "a kernel process outlived its notebook"
    kernel = json.loads(report.read_text())
    assert kernel["transport"] == "ipc"
    assert not psutil.pid_exists(kernel["pid"])
    lines = console.getvalue().splitlines()
    assert any(f"running {passing}" in line and "0/2" in line for line in lines)
    assert any(f"running {failing}" in line and "1/2" in line for line in lines)
    assert f"FAILED {failing}: cell 1: ValueError: broken on purpose" in lines


def test_bench_console_shows_no_kernel_output(tmp_path):
    loud = write_notebook(tmp_path / "loud.ipynb", "import os\nos.write(2, b'C++ START-UP LINE\\n')\n"
                                                   "os.write(1, b'LOW-LEVEL STDOUT\\n')")
    result = subprocess.run([sys.executable, "-m", "dlcourse", "bench", str(loud), "--output", str(tmp_path / "t.md")],
                            capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    console = result.stdout + result.stderr
    for noise in ("C++ START-UP LINE", "LOW-LEVEL STDOUT", "without encryption"):
        assert noise not in console
    assert "loud.ipynb" in result.stdout and "total:" in result.stdout
    assert "running loud.ipynb" in result.stderr
