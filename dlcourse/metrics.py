"""Headline metrics that notebooks record, e.g. test accuracy, for the benchmark table."""

from __future__ import annotations

import json
import math
import os

METRICS_FILE_VARIABLE = "DLCOURSE_METRICS_FILE"


def record(name: str, value: float) -> float:
    """Print a headline metric and, when run by `dlcourse bench`, append it to the bench's metrics file."""
    number = float(value)
    print(f"{name} = {number:.4f}")
    path = os.environ.get(METRICS_FILE_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps({"name": str(name), "value": number if math.isfinite(number) else None}) + "\n")
    return number


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
