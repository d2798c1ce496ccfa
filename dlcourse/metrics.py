"""Headline metrics that notebooks record, e.g. test accuracy, for the benchmark table."""

from __future__ import annotations

import json
import math
import os

METRICS_FILE_VARIABLE = "DLCOURSE_METRICS_FILE"
SIGNIFICANT_DIGITS = 4


def format_value(value: float) -> str:
    """A metric as it prints: integral values as integers, others with 4 significant digits ("2.9e-11", "0.875", "1234")."""
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if 10 ** (SIGNIFICANT_DIGITS - 1) <= abs(number) < 1e15:
        return f"{number:.0f}"
    return f"{number:.{SIGNIFICANT_DIGITS}g}"


def record(name: str, value: float) -> None:
    """Print a headline metric and, when run by `dlcourse bench`, append it to the bench's metrics file."""
    number = float(value)
    print(f"{name} = {format_value(value)}")
    path = os.environ.get(METRICS_FILE_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps({"name": str(name), "value": number if math.isfinite(number) else None}) + "\n")


def read_metrics(path: str) -> dict[str, float]:
    """The metrics recorded in a metrics file, the last value of each name winning."""
    metrics: dict[str, float] = {}
    if not os.path.exists(path):
        return metrics
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            line = line.strip()
            if line:
                entry = json.loads(line)
                metrics[entry["name"]] = entry["value"]
    return metrics
