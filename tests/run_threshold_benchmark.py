"""Do the taught recipes reach their checks' thresholds? (issue 21 §4). A benchmark script, not a timed test.

For every exercise scored by a threshold, it runs the solution notebook's cells up to the exercise once, then the
exercise's solution cell (the hinted recipe) under 10 seeds, and scores each result the way the check does
(`score_model` for models, `score_output` on every case for scored functions, the lowest case counting). A recipe
must pass on at least 9 seeds of 10. Each exercise runs in its own process, with its notebook's cells executed as
plain Python (matplotlib without a display).

    python tests/run_threshold_benchmark.py                       # every exercise, 10 seeds, writes the report
    python tests/run_threshold_benchmark.py --exercises ch04.cnn_classifier   # rerun one; the report keeps the rest

The results of the last run of each exercise are kept in tests/threshold_results.json, and the report is written
from all of them, so rerunning the exercises whose recipe changed is enough.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import inspect
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPORT_PATH = ROOT / "tests" / "threshold_report.md"
RESULTS_PATH = ROOT / "tests" / "threshold_results.json"  # every exercise's last run; a partial run updates its own
REQUIRED_PASSES = 9
DEFAULT_SEEDS = 10
SEED_CALL = re.compile(r"keras\.utils\.set_random_seed\(\s*\d+\s*\)")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One exercise to benchmark: its id, the answer's name, and earlier exercise cells a seed must rerun too."""

    exercise_id: str
    answer_name: str
    rerun_exercises: tuple[str, ...] = ()


RECIPES = [
    Recipe("ch01.moons_classifier", "moons_model"),
    Recipe("ch02.train_two_layer_network", "train_two_layer_network"),
    Recipe("ch03.regularised_mlp", "regularised_mlp"),
    Recipe("ch04.vertical_edge_kernel", "vertical_edge_kernel"),
    Recipe("ch04.cnn_classifier", "cnn_model"),
    Recipe("ch05.forecaster", "forecaster_model"),
    Recipe("ch05.sample_with_temperature", "sample_with_temperature"),
    Recipe("ch07.transfer_model", "transfer_model"),
    Recipe("ch07.predict_digits", "predict_digits", rerun_exercises=("ch07.transfer_model",)),
    Recipe("ch07.fine_tune", "fine_tuned_model"),
    Recipe("ch08.recommender_model", "recommender_model"),
    Recipe("ch09.cartpole_policy", "cartpole_policy"),
    Recipe("ch09.gcn_classifier", "gcn_classifier"),
]


def solution_notebook(exercise_id: str) -> pathlib.Path:
    """The solution notebook of an exercise's chapter."""
    chapter = exercise_id.split(".")[0].removeprefix("ch")
    return next((ROOT / "solutions").glob(f"{chapter}_*.ipynb"))


def code_cells(path: pathlib.Path) -> list[tuple[str | None, str]]:
    """(exercise id or None, source) of every code cell of a notebook, in order."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            cells.append((cell.get("metadata", {}).get("dlcourse", {}).get("exercise"), source))
    return cells


def seeded_source(source: str, seed: int) -> str:
    """A cell's source with every `keras.utils.set_random_seed(n)` made `(seed)`, and one such call first."""
    return f"keras.utils.set_random_seed({seed})\n" + SEED_CALL.sub(f"keras.utils.set_random_seed({seed})", source)


def with_seed_argument(answer, case, seed: int):
    """The case with its `seed` argument (if the answer has one) replaced by `seed`."""
    parameters = list(inspect.signature(answer).parameters)
    if "seed" not in parameters:
        return case
    arguments = list(case.args)
    position = parameters.index("seed")
    if position < len(arguments):
        arguments[position] = seed
    return dataclasses.replace(case, args=tuple(arguments))


def score_answer(exercise, answer, seed: int) -> tuple[float, str]:
    """The check's score of an answer (the lowest over cases for scored functions) and its problem, if any."""
    from dlcourse.checks import framework

    if isinstance(exercise, framework.ModelExercise):
        score, problem = exercise.score_model(answer)
        return float(score), problem
    scores, problems = [], []
    for case in exercise.cases:
        case = with_seed_argument(answer, case, seed)
        output = answer(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        score, problem = exercise.score_output(case, output)
        scores.append(float(score))
        problems.append(problem)
    return min(scores), "; ".join(filter(None, problems))


def run_worker(exercise_id: str, num_seeds: int) -> dict:
    """Run the notebook up to the exercise, then its recipe under each seed; the scores and seconds per seed."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.chdir(ROOT / "solutions")
    recipe = next(recipe for recipe in RECIPES if recipe.exercise_id == exercise_id)
    cells = code_cells(solution_notebook(exercise_id))
    position = next(index for index, (cell_id, _) in enumerate(cells) if cell_id == exercise_id)
    namespace: dict = {"__name__": "__main__"}
    started = time.perf_counter()
    for index, (_, source) in enumerate(cells[:position]):
        exec(compile(source, f"<{exercise_id} notebook cell {index}>", "exec"), namespace)
    prefix_seconds = time.perf_counter() - started
    from dlcourse import checks

    exercise = checks.get_exercise(exercise_id)
    rerun = [source for cell_id, source in cells if cell_id in recipe.rerun_exercises] + [cells[position][1]]
    trials = []
    for seed in range(num_seeds):
        started = time.perf_counter()
        for source in rerun:
            exec(compile(seeded_source(source, seed), f"<{exercise_id} seed {seed}>", "exec"), namespace)
        score, problem = score_answer(exercise, namespace[recipe.answer_name], seed)
        trials.append({"seed": seed, "score": score, "problem": problem, "seconds": time.perf_counter() - started})
    return {"exercise_id": exercise_id, "minimum_score": float(exercise.minimum_score),
            "metric_name": exercise.metric_name, "time_limit_seconds": float(exercise.time_limit_seconds),
            "prefix_seconds": prefix_seconds, "trials": trials}


def run_in_subprocess(exercise_id: str, num_seeds: int) -> dict:
    """run_worker in a fresh Python process (a clean Keras state per exercise)."""
    command = [sys.executable, __file__, "--worker", exercise_id, "--seeds", str(num_seeds)]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if finished.returncode != 0:
        return {"exercise_id": exercise_id, "error": finished.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(finished.stdout.strip().splitlines()[-1])


def report_row(result: dict) -> str:
    """One Markdown table row for an exercise's trials."""
    if "error" in result:
        return f"| {result['exercise_id']} | ERROR: {result['error'][0]} | | | | | | |"
    scores = [trial["score"] for trial in result["trials"]]
    passes = sum(trial["score"] >= result["minimum_score"] and not trial["problem"] for trial in result["trials"])
    seconds = max(trial["seconds"] for trial in result["trials"])
    verdict = "ok" if passes >= REQUIRED_PASSES * len(scores) / DEFAULT_SEEDS else "**TOO STRICT**"
    return (f"| {result['exercise_id']} | {result['metric_name']} | {result['minimum_score']:g} | "
            f"{min(scores):.3f} / {statistics.median(scores):.3f} / {max(scores):.3f} | {passes}/{len(scores)} | "
            f"{verdict} | {seconds:.1f} | {result['time_limit_seconds']:g} |")


def write_report(results: list[dict], path: pathlib.Path) -> None:
    """The Markdown report: a table, then every seed's score."""
    lines = ["# Threshold benchmark: do the taught recipes reach their checks' thresholds?", "",
             "Generated by `python tests/run_threshold_benchmark.py` (issue 21 §4): each exercise's solution cell (the",
             f"hinted recipe) under {DEFAULT_SEEDS} seeds, scored as its check scores it; a recipe must pass on at least "
             f"{REQUIRED_PASSES} of {DEFAULT_SEEDS}.",
             "Seconds are the slowest seed's training and scoring on the machine that wrote the report (2 cores).", "",
             "| exercise | metric | threshold | min / median / max | passes | verdict | slowest seed (s) | time limit (s) |",
             "|---|---|---:|---|---:|---|---:|---:|"]
    lines += [report_row(result) for result in results]
    lines += ["", "## Every seed", ""]
    for result in results:
        if "error" not in result:
            scores = ", ".join(f"{trial['score']:.3f}" for trial in result["trials"])
            lines.append(f"- **{result['exercise_id']}**: {scores}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    """Benchmark the chosen exercises (default: all) and write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exercises", default=",".join(recipe.exercise_id for recipe in RECIPES))
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--output", type=pathlib.Path, default=REPORT_PATH)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        print(json.dumps(run_worker(arguments.worker, arguments.seeds)))
        return
    stored = json.loads(RESULTS_PATH.read_text(encoding="utf-8")) if RESULTS_PATH.exists() else {}
    for exercise_id in arguments.exercises.split(","):
        result = run_in_subprocess(exercise_id.strip(), arguments.seeds)
        print(report_row(result), flush=True)
        if "error" not in result:
            stored[result["exercise_id"]] = result
    if arguments.output == REPORT_PATH:
        RESULTS_PATH.write_text(json.dumps(stored, indent=1) + "\n", encoding="utf-8")
    order = [recipe.exercise_id for recipe in RECIPES]
    write_report(sorted(stored.values(), key=lambda result: order.index(result["exercise_id"])
                        if result["exercise_id"] in order else len(order)), arguments.output)


if __name__ == "__main__":
    main()
