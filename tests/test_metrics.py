"""metrics.record prints significant digits, integers as integers, and returns nothing for Jupyter to echo."""

import json

import numpy as np
import pytest

from dlcourse import metrics


@pytest.mark.parametrize("value, printed", [
    (0.0, "0"),
    (2.9e-11, "2.9e-11"),
    (13, "13"),
    (np.int64(7), "7"),
    (13.0, "13"),
    (0.08695652173913043, "0.08696"),
    (0.875, "0.875"),
    (np.float32(0.1), "0.1"),
    (0.000123456, "0.0001235"),
    (-0.5, "-0.5"),
    (3.14159, "3.142"),
    (999.96, "1000"),
    (1234.5, "1234"),
    (12345.6, "12346"),
    (float("nan"), "nan"),
    (float("inf"), "inf"),
])
def test_format_value(value, printed):
    assert metrics.format_value(value) == printed


def test_record_prints_one_line_and_returns_none(capsys, monkeypatch):
    monkeypatch.delenv(metrics.METRICS_FILE_VARIABLE, raising=False)
    assert metrics.record("best_epoch", np.int64(13)) is None
    assert metrics.record("gradient_difference", 2.9e-11) is None
    assert capsys.readouterr().out == "best_epoch = 13\ngradient_difference = 2.9e-11\n"


def test_record_appends_the_full_value_to_the_bench_metrics_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv(metrics.METRICS_FILE_VARIABLE, str(path))
    metrics.record("test_accuracy", 0.08695652173913043)
    metrics.record("diverged_loss", float("nan"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [{"name": "test_accuracy", "value": 0.08695652173913043}, {"name": "diverged_loss", "value": None}]
    assert metrics.read_metrics(str(path)) == {"test_accuracy": 0.08695652173913043, "diverged_loss": None}
    assert capsys.readouterr().out == "test_accuracy = 0.08696\ndiverged_loss = nan\n"
