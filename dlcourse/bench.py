"""`dlcourse bench`: run notebooks as nbval does and report wall time, pass/fail and headline metrics."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import pathlib
import tempfile

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


def display_name(path: pathlib.Path) -> str:
    """The notebook path relative to the current folder when possible."""
    try:
        return str(path.resolve().relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def format_metrics(recorded: dict[str, float]) -> str:
    """Metrics as `name=value` pairs."""
    return ", ".join(f"{name}={value:.4f}" if value is not None else f"{name}=nan" for name, value in recorded.items())


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
