"""`dlcourse bench`: run notebooks as nbval does and report wall time, pass/fail and headline metrics.

Each notebook gets a fresh kernel (over ipc sockets, its output discarded) that is shut down when the notebook
ends, so only one kernel's memory is ever in use. Progress shows on stderr with tqdm: a live bar on a terminal,
else one line as each notebook starts.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import pathlib
import sys
import tempfile
import threading
import time
from typing import Any, Sequence

from dlcourse import execution, metrics

BUDGET_SECONDS = 120.0


@dataclasses.dataclass
class BenchRow:
    """One notebook's benchmark result."""

    notebook: str
    seconds: float
    status: str
    metrics: dict[str, float]
    error: str = ""


def default_notebooks(root: pathlib.Path) -> list[pathlib.Path]:
    """Every chapter notebook in solutions/ and chapters/."""
    return sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb")) + sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb"))


def bench_notebook(path: pathlib.Path, budget_seconds: float = BUDGET_SECONDS) -> BenchRow:
    """Execute one notebook, timing it and collecting the metrics it records."""
    with tempfile.TemporaryDirectory(prefix="dlcourse-bench-") as scratch:
        metrics_file = os.path.join(scratch, "metrics.jsonl")
        previous = os.environ.get(metrics.METRICS_FILE_VARIABLE)
        os.environ[metrics.METRICS_FILE_VARIABLE] = metrics_file
        try:
            outcome = execution.execute_notebook(path)
        except Exception as error:  # the kernel did not start or answer: this notebook fails, the others still run
            outcome = execution.ExecutionOutcome(0.0, f"the kernel failed: {type(error).__name__}: {error}")
        finally:
            if previous is None:
                os.environ.pop(metrics.METRICS_FILE_VARIABLE, None)
            else:
                os.environ[metrics.METRICS_FILE_VARIABLE] = previous
        recorded = metrics.read_metrics(metrics_file)
    if not outcome.succeeded:
        status = "fail"
    elif outcome.seconds > budget_seconds:
        status = "over budget"
    else:
        status = "pass"
    return BenchRow(display_name(path), round(outcome.seconds, 1), status, recorded, outcome.error)


def bench_notebooks(paths: Sequence[pathlib.Path], budget_seconds: float = BUDGET_SECONDS,
                    stream: Any = None) -> list[BenchRow]:
    """Bench the notebooks one after the other, showing progress and a line per failure on stream (default: stderr)."""
    rows = []
    with BenchProgress(len(paths), stream) as progress:
        for path in paths:
            progress.start(display_name(path))
            row = bench_notebook(path, budget_seconds)
            rows.append(row)
            progress.finish(failure_line(row, budget_seconds))
    return rows


def failure_line(row: BenchRow, budget_seconds: float) -> str:
    """One line saying why a notebook did not pass; '' when it passed."""
    if row.status == "fail":
        return f"FAILED {row.notebook}: {row.error}"
    if row.status == "over budget":
        return f"OVER BUDGET {row.notebook}: {row.seconds:.1f} s (budget {budget_seconds:g} s)"
    return ""


class BenchProgress:
    """Progress over the notebooks with tqdm (notebook, count, elapsed, ETA): a live bar refreshed every second on a
    terminal, else one line as each notebook starts."""

    REFRESH_SECONDS = 1.0

    def __init__(self, total: int, stream: Any = None) -> None:
        """Report the progress of `total` notebooks to `stream` (default: stderr)."""
        self.total = total
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self.bar: Any = None
        self.stopped = threading.Event()
        self.refresher: threading.Thread | None = None

    def __enter__(self) -> BenchProgress:
        """Open the live bar where the stream is a terminal."""
        import tqdm

        if is_terminal(self.stream):
            self.bar = tqdm.tqdm(total=self.total, desc="bench", unit="notebook", file=self.stream, dynamic_ncols=True)
            self.refresher = threading.Thread(target=self.refresh_until_stopped, daemon=True)
            self.refresher.start()
        return self

    def __exit__(self, *exception: object) -> None:
        """Stop refreshing and close the bar."""
        self.stopped.set()
        if self.refresher is not None:
            self.refresher.join()
        if self.bar is not None:
            self.bar.set_postfix_str("", refresh=False)
            self.bar.close()

    def refresh_until_stopped(self) -> None:
        """Redraw the bar every second, so that its elapsed time moves while a notebook runs."""
        while not self.stopped.wait(self.REFRESH_SECONDS):
            self.bar.refresh()

    def start(self, notebook: str) -> None:
        """Show that this notebook is now running."""
        import tqdm

        if self.bar is not None:
            self.bar.set_postfix_str(notebook)
            return
        meter = tqdm.tqdm.format_meter(self.done, self.total, time.monotonic() - self.started, prefix="bench",
                                       unit="notebook", postfix=f"running {notebook}", ascii=True)
        self.write(meter)

    def finish(self, failure: str) -> None:
        """Count the notebook that just ended, and print its failure line if any."""
        self.done += 1
        if failure:
            self.write(failure)
        if self.bar is not None:
            self.bar.update(1)

    def write(self, line: str) -> None:
        """A line on the stream, above the live bar if there is one."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            return
        self.stream.write(line + "\n")
        self.stream.flush()


def is_terminal(stream: Any) -> bool:
    """True when the stream is an interactive terminal."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def display_name(path: pathlib.Path) -> str:
    """The notebook path relative to the current folder when possible."""
    try:
        return str(path.resolve().relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def format_metrics(recorded: dict[str, float]) -> str:
    """Metrics as `name=value` pairs, printed as `metrics.record` prints them (integers as integers, 4 significant
    digits otherwise)."""
    return ", ".join(f"{name}={metrics.format_value(value)}" if value is not None else f"{name}=nan"
                     for name, value in recorded.items())


def table_rows(rows: list[BenchRow]) -> list[tuple[str, str, str, str]]:
    """Rows of text cells: notebook, seconds, status, metrics (or the error)."""
    return [(row.notebook, f"{row.seconds:.1f}", row.status, row.error or format_metrics(row.metrics)) for row in rows]


HEADER = ("notebook", "seconds", "status", "metrics")


def to_markdown(rows: list[BenchRow]) -> str:
    """The bench table in Markdown."""
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---:|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table_rows(rows)]
    total = sum(row.seconds for row in rows)
    lines.append(f"| **total** | {total:.1f} | | |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[BenchRow]) -> str:
    """The bench table as CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(table_rows(rows))
    return buffer.getvalue()


def write_table(rows: list[BenchRow], output: pathlib.Path) -> None:
    """Write the table as Markdown (.md) or CSV (anything else)."""
    text = to_markdown(rows) if output.suffix.lower() in (".md", ".markdown") else to_csv(rows)
    output.write_text(text, encoding="utf-8")
