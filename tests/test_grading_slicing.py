"""Dependency slicing: the grader runs only the cells the exercises need, and the grades stay the same."""

import csv
import hashlib
import json
import os
import pathlib
import random
import subprocess
import sys

import nbformat
import pytest

from dlcourse import course
from dlcourse.grading import nbgrader_benchmark, slicing, submissions
from dlcourse.grading.submissions import Step

ROOT = course.repository_root()


def lesson(source):
    return Step("lesson", source)


def exercise(source, answer="answer", exercise_id="ch01.x"):
    return Step("exercise", source, exercise_id, answer, True)


def kept_sources(steps):
    return [step.source for step in slicing.slice_steps(steps)]


# ----------------------------------------------------------------- what one cell defines, uses and changes


def test_a_cell_defines_what_it_assigns_imports_and_declares():
    names = slicing.analyse_cell("import numpy as np\nfrom a import b\nx, y = 1, 2\ndef f():\n    pass\nclass C:\n    pass\n"
                                 "for i in range(3):\n    pass\nwith open('f') as stream:\n    pass")
    assert names.defines == {"np", "b", "x", "y", "f", "C", "i", "stream"}


def test_a_cell_uses_globals_read_inside_its_functions_but_not_their_locals():
    names = slicing.analyse_cell("def f(a):\n    local = a + offset\n    return helper(local)\nresult = f(scale)")
    assert names.uses == {"offset", "helper", "f", "scale"}


def test_a_name_the_cell_sets_before_reading_it_is_not_a_use():
    timed = slicing.analyse_cell("start = time.perf_counter()\nmodel.fit(x)\nprint(time.perf_counter() - start)")
    assert "start" not in timed.uses and "start" in timed.defines
    for source in ("print(start)\nstart = 1", "def f():\n    return start\nstart = 1\nf()",
                   "if ready:\n    start = 1\nprint(start)", "start = start + 1", "start += 1\nstart = 0"):
        assert "start" in slicing.analyse_cell(source).uses, source


def test_an_augmented_assignment_reads_its_name():
    assert slicing.analyse_cell("total += 1").uses == {"total"}
    assert slicing.analyse_cell("total = 0\ntotal += 1").uses == set()


def test_method_calls_and_item_assignments_change_an_object_in_place():
    names = slicing.analyse_cell("model.fit(x, y)\nhistory = other.evaluate(x)\ntable['a'] = 1\nobj.attr += 2\n"
                                 "np.mean(x)", module_names={"np"})
    assert names.mutates == {"model", "other", "table", "obj"}


def test_a_function_that_trains_a_global_model_changes_it_when_called():
    steps = [lesson("model = make()"), lesson("def train():\n    model.fit(data)"), lesson("train()"),
             lesson("unrelated = 1"), exercise("answer = 2", "model")]
    assert kept_sources(steps) == ["model = make()", "def train():\n    model.fit(data)", "train()", "answer = 2"]


@pytest.mark.parametrize("source,reason", [
    ("%matplotlib inline", "can't be parsed"),
    ("from numpy import *", "star import"),
    ("globals()['x'] = 1", "globals"),
    ("keras.utils.set_random_seed(0)", "seeds"),
    ("np.random.seed(3)", "seeds"),
])
def test_cells_that_must_always_run(source, reason):
    assert reason in slicing.analyse_cell(source).always_keep


# ----------------------------------------------------------------- which steps are kept


def test_only_the_cells_an_exercise_needs_are_kept_followed_back_transitively():
    steps = [lesson("import numpy as np"), lesson("data = np.arange(10)"), lesson("scaled = data / 10"),
             lesson("figure = plot(data)"), lesson("big_model = train(data)"), lesson("print(big_model)"),
             exercise("def f(x):\n    return x * scaled.max()", "f")]
    assert kept_sources(steps) == ["import numpy as np", "data = np.arange(10)", "scaled = data / 10",
                                   "def f(x):\n    return x * scaled.max()"]


def test_the_setup_cell_seeding_cells_and_import_cells_are_always_kept():
    steps = [lesson("rng_state = 5"), lesson("import math"), lesson("x = 1"), lesson("keras.utils.set_random_seed(1)"),
             exercise("answer = 3")]
    assert kept_sources(steps) == ["rng_state = 5", "import math", "keras.utils.set_random_seed(1)", "answer = 3"]


def test_of_a_cell_needed_only_for_its_seeding_just_the_seeding_runs():
    steps = [lesson("import keras"), lesson("keras.utils.set_random_seed(0)\nbig = train_for_a_minute()\nplot(big)"),
             lesson("np.random.seed(1)\nseeded_data = draw()"), exercise("answer = seeded_data")]
    assert kept_sources(steps) == ["import keras", "keras.utils.set_random_seed(0)",
                                   "np.random.seed(1)\nseeded_data = draw()", "answer = seeded_data"]


def test_a_later_redefinition_is_kept_and_earlier_unused_cells_are_not():
    steps = [lesson("import x"), lesson("value = 1"), lesson("value = 2"), exercise("y = value")]
    assert kept_sources(steps) == ["import x", "value = 1", "value = 2", "y = value"]


def test_the_answer_expression_counts_as_used_by_the_exercise():
    steps = [lesson("import x"), lesson("trained = fit()"), lesson("other = 1"), exercise("pass", "trained")]
    assert kept_sources(steps) == ["import x", "trained = fit()", "pass"]


def test_a_cell_after_the_last_exercise_is_never_needed():
    steps = [lesson("import x"), exercise("answer = 1"), lesson("answer.plot()")]
    assert kept_sources(steps) == ["import x", "answer = 1"]


def test_an_exercise_cell_that_cannot_be_parsed_keeps_everything():
    steps = [lesson("import x"), lesson("a = 1"), exercise("def broken(:\n")]
    assert slicing.slice_steps(steps) == steps


# ----------------------------------------------------------------- changes through aliases, loops and in-place functions


def kept_with_change(change, before=(), between=("figure = plot(1)",)):
    """The kept sources of: an import, base and data defined, the cells before, the change, the cells between, and
    an exercise that uses base and data."""
    steps = ([lesson("import numpy as np\nimport random"), lesson("base = load()\ndata = read()")]
             + [lesson(source) for source in before] + [lesson(change)] + [lesson(source) for source in between]
             + [exercise("answer = score(base, data)")])
    return kept_sources(steps)


@pytest.mark.parametrize("loop", [
    "for layer in base.layers:\n    layer.trainable = False",
    "for index, layer in enumerate(base.layers):\n    layer.trainable = index > 2",
    "for layer, flag in zip(base.layers, [True, False]):\n    layer.trainable = flag",
    "for layer in reversed(base.layers[1:]):\n    layer.set_weights(zeros)",
    "[setattr(layer, 'trainable', False) for layer in base.layers]",
    "[layer.set_weights(zeros) for layer in base.layers]",
])
def test_a_loop_that_changes_its_loop_variable_changes_what_it_iterates(loop):
    assert kept_with_change(loop) == ["import numpy as np\nimport random", "base = load()\ndata = read()", loop,
                                      "answer = score(base, data)"]


@pytest.mark.parametrize("change", [
    "layer = base.layers[0]\nlayer.trainable = False",
    "dense = base.get_layer('dense')\ndense.trainable = False",
    "same = base\nsame.fit(data)",
    "weights = base.layers[0].kernel\nweights.assign(zeros)",
    "models = {}\nmodels['a'] = base\nmodels['a'].trainable = False",
    "first, second = base.layers[:2]\nsecond.trainable = False",
    "if (layer := base.layers[0]):\n    layer.trainable = False",
])
def test_a_change_through_an_alias_made_in_the_same_cell_changes_the_object(change):
    assert kept_with_change(change) == ["import numpy as np\nimport random", "base = load()\ndata = read()", change,
                                        "answer = score(base, data)"]


def test_a_change_through_an_alias_made_in_an_earlier_cell_changes_the_object():
    kept = kept_with_change("layer.trainable = False", before=["layer = base.get_layer('dense')", "unrelated = 2"])
    assert kept == ["import numpy as np\nimport random", "base = load()\ndata = read()",
                    "layer = base.get_layer('dense')", "layer.trainable = False", "answer = score(base, data)"]


def test_a_change_through_an_alias_of_an_alias_changes_the_original():
    kept = kept_with_change("first.trainable = False", before=["block = base.layers", "first = block[0]"])
    assert kept == ["import numpy as np\nimport random", "base = load()\ndata = read()", "block = base.layers",
                    "first = block[0]", "first.trainable = False", "answer = score(base, data)"]


def test_a_loop_variable_stays_an_alias_in_later_cells():
    loop = "for layer in base.layers:\n    print(layer.name)"
    kept = kept_with_change("layer.trainable = True", before=[loop])
    assert kept == ["import numpy as np\nimport random", "base = load()\ndata = read()", loop,
                    "layer.trainable = True", "answer = score(base, data)"]


def test_a_plain_assignment_ends_an_alias_but_a_conditional_one_does_not():
    ended = kept_with_change("layer.trainable = False", before=["layer = base.layers[0]", "layer = make_layer()"])
    assert ended == ["import numpy as np\nimport random", "base = load()\ndata = read()",
                     "answer = score(base, data)"]
    conditional = kept_with_change("layer.trainable = False",
                                   before=["layer = base.layers[0]", "if fresh:\n    layer = make_layer()"])
    assert conditional == ["import numpy as np\nimport random", "base = load()\ndata = read()",
                           "layer = base.layers[0]", "if fresh:\n    layer = make_layer()",
                           "layer.trainable = False", "answer = score(base, data)"]


def test_arithmetic_and_function_results_are_not_aliases():
    for change in ("scaled = data * 2\nscaled[0] = 1", "copy = clone(base)\ncopy.fit(data)"):
        assert kept_with_change(change) == ["import numpy as np\nimport random", "base = load()\ndata = read()",
                                            "answer = score(base, data)"], change


@pytest.mark.parametrize("source,changed", [
    ("np.random.shuffle(data)", {"data"}),
    ("rng.shuffle(data)", {"rng", "data"}),
    ("random.shuffle(data)", {"data"}),
    ("shuffle(data)", {"data"}),
    ("np.copyto(data, other)", {"data"}),
    ("np.fill_diagonal(data[0], 0)", {"data"}),
    ("np.put(data, [0, 2], other)", {"data"}),
    ("np.place(data, mask, 0)", {"data"}),
    ("np.putmask(data, mask, other)", {"data"}),
    ("setattr(data, 'name', other)", {"data"}),
    ("np.add(other, 1, out=data)", {"data"}),
    ("np.matmul(other, mask, out=data[:2])", {"data"}),
    ("np.add(other, 1, out=None)", set()),
    ("np.mean(data)\nnp.random.permutation(data)", set()),
])
def test_in_place_functions_and_out_arguments_change_their_argument(source, changed):
    assert slicing.analyse_cell(source, module_names={"np", "random"}).mutates == changed


def test_an_in_place_function_on_an_alias_changes_the_object():
    change = "column = data[:, 0]\nnp.random.shuffle(column)"
    assert kept_with_change(change) == ["import numpy as np\nimport random", "base = load()\ndata = read()", change,
                                        "answer = score(base, data)"]


@pytest.mark.parametrize("function,changed", [
    ("def freeze():\n    for layer in base.layers:\n        layer.trainable = False", {"base"}),
    ("def freeze():\n    for index, layer in enumerate(base.layers):\n        layer.trainable = index > 1", {"base"}),
    ("def freeze():\n    layer = base.get_layer('d')\n    layer.trainable = False", {"base"}),
    ("def freeze():\n    np.random.shuffle(data)", {"data"}),
    ("def freeze():\n    np.add(data, 1, out=result)", {"result"}),
    ("def freeze():\n    print(base.layers[0])\n    plt.plot(data)", set()),
    ("def freeze(base):\n    for layer in base.layers:\n        layer.trainable = False", set()),
])
def test_a_function_that_changes_a_global_through_an_alias_or_in_place_function_changes_it(function, changed):
    assert slicing.analyse_cell(function, module_names={"np", "plt"}).function_mutations == {"freeze": changed}


def test_calling_a_function_that_freezes_a_global_through_a_loop_keeps_the_call():
    definition = "def freeze():\n    for layer in base.layers:\n        layer.trainable = False"
    assert kept_with_change("freeze()", before=[definition]) == [
        "import numpy as np\nimport random", "base = load()\ndata = read()", definition, "freeze()",
        "answer = score(base, data)"]


def test_calling_a_function_that_changes_a_global_alias_changes_the_aliased_object():
    definition = "def freeze():\n    layer.trainable = False"
    kept = kept_with_change("freeze()", before=["layer = base.layers[0]", definition])
    assert kept == ["import numpy as np\nimport random", "base = load()\ndata = read()", "layer = base.layers[0]",
                    definition, "freeze()", "answer = score(base, data)"]


def test_a_function_defined_and_called_in_the_same_cell_changes_what_it_changes():
    change = "def freeze():\n    for layer in base.layers:\n        layer.trainable = False\n\n\nfreeze()"
    assert kept_with_change(change) == ["import numpy as np\nimport random", "base = load()\ndata = read()", change,
                                        "answer = score(base, data)"]


def test_a_function_called_before_the_cell_rebinds_its_global_alias_still_changes_the_aliased_object():
    definition = "def freeze():\n    layer.trainable = False"
    change = "freeze()\nlayer = make_layer()"
    kept = kept_with_change(change, before=["layer = base.layers[0]", definition])
    assert kept == ["import numpy as np\nimport random", "base = load()\ndata = read()", "layer = base.layers[0]",
                    definition, change, "answer = score(base, data)"]


@pytest.mark.parametrize("call", ["freeze(base)", "freeze(other, base)", "freeze(model=base)",
                                  "freeze(base.layers[0])", "freeze(*[base])"])
def test_calling_a_function_that_changes_its_argument_changes_what_is_passed(call):
    definition = ("def freeze(other, model=None):\n    for layer in (model or other).layers:\n"
                  "        layer.trainable = False")
    assert kept_with_change(call, before=[definition]) == [
        "import numpy as np\nimport random", "base = load()\ndata = read()", definition, call,
        "answer = score(base, data)"]


def test_calling_a_function_changes_only_the_arguments_it_changes():
    definition = "def train(model, inputs):\n    model.fit(inputs * 2)"
    kept = kept_with_change("train(net, data)", before=["net = build()", definition])
    assert kept == ["import numpy as np\nimport random", "base = load()\ndata = read()", "answer = score(base, data)"]


def test_plain_reads_of_an_object_do_not_keep_a_cell():
    steps = [lesson("import matplotlib.pyplot as plt"), lesson("model = build()\nx = load()"),
             lesson("print(model.layers[0])"), lesson("plt.plot(x)"),
             lesson("first = model.layers[0]\nprint(first.name)"),
             lesson("for layer in model.layers:\n    print(layer.name, len(layer.weights))"),
             lesson("plt.hist([value for value in x])"), exercise("answer = (model, x)")]
    assert kept_sources(steps) == ["import matplotlib.pyplot as plt", "model = build()\nx = load()",
                                   "answer = (model, x)"]


# ----------------------------------------------------------------- the real chapters


def chapter_steps():
    """(chapter id, transplanted steps of its solution notebook) for every available chapter."""
    found = []
    for chapter in course.CHAPTERS:
        if course.is_available(chapter, ROOT):
            official = submissions.official_notebook(chapter, ROOT)
            found.append((chapter.chapter_id, submissions.transplant(official, official)))
    return found


@pytest.mark.parametrize("chapter_id,steps", chapter_steps())
def test_in_every_chapter_each_kept_step_finds_its_names_defined_by_kept_steps(chapter_id, steps):
    kept = {id(step) for step in slicing.slice_steps(steps)}
    module_names = set().union(*(slicing.imported_names(step.source) for step in steps))
    defined_by_any, defined_by_kept = set(), set()
    for step in steps:
        source = step.source if step.kind == "lesson" else f"{step.source}\n{step.answer_expression}"
        names = slicing.analyse_cell(source, module_names)
        if id(step) in kept:
            missing = (names.uses & defined_by_any) - defined_by_kept
            assert not missing, f"{chapter_id}: a kept step uses {sorted(missing)}, defined only in skipped steps"
            defined_by_kept |= names.defines
        defined_by_any |= names.defines
    assert all(id(step) in kept for step in steps if step.kind == "exercise")
    assert len(kept) < len(steps), f"{chapter_id}: slicing skipped nothing"


def mixed_submission(chapter, rng):
    """A student notebook of the chapter with each exercise solved, left untouched or broken, at random."""
    solution = nbformat.read(str(ROOT / "solutions" / chapter.notebook_name), as_version=4)
    return nbgrader_benchmark.mixed_submission(solution, chapter.notebook_name, rng)


def read_grades(out):
    with (out / "grades.csv").open(newline="") as stream:
        return sorted((row["student"], row["exercise"], row["status"], row["points"], row["message"])
                      for row in csv.DictReader(stream))


EXPECTED_GRADES = pathlib.Path(__file__).with_name("mixed_batch_expected_grades.json")
REFRESH_VARIABLE = "DLCOURSE_REFRESH_EXPECTED_GRADES"


def grading_inputs_hash():
    """sha256 over everything a full grading of the generated batch depends on: the solution notebooks (which
    the batch is made from), the checks, the grader and its collection code, and this test's generator."""
    paths = sorted([*(ROOT / "solutions").glob("*.ipynb"), *(ROOT / "dlcourse" / "checks").rglob("*.py"),
                    *(ROOT / "dlcourse" / "grading").glob("*.py"), ROOT / "dlcourse" / "collect.py",
                    ROOT / "dlcourse" / "course.py", pathlib.Path(__file__)])
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def stored_full_grades():
    """The --full grades stored for the current grading inputs, or None when they changed since (or none stored)."""
    try:
        stored = json.loads(EXPECTED_GRADES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stored.get("inputs_sha256") != grading_inputs_hash():
        return None
    return sorted(tuple(row) for row in stored["grades"])


def grade_batch(folder, out, full):
    """`dlcourse grade` on the folder, sliced or --full; the sorted grade rows."""
    command = [sys.executable, "-m", "dlcourse", "grade", str(folder), "--out", str(out), "--workers", "2"]
    run = subprocess.run(command + (["--full"] if full else []), capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    return read_grades(out)


@pytest.fixture(scope="module")
def mixed_batch(tmp_path_factory):
    """One generated mixed submission per available chapter, graded sliced, and the grades of --full: stored ones
    when the grading inputs are unchanged since they were stored, else a --full run (a third execution of every
    chapter, about 2.6 minutes), stored again when $DLCOURSE_REFRESH_EXPECTED_GRADES is set."""
    folder = tmp_path_factory.mktemp("mixed")
    rng = random.Random(15)
    for chapter in course.CHAPTERS:
        if course.is_available(chapter, ROOT):
            nbformat.write(mixed_submission(chapter, rng), str(folder / f"mixed_{chapter.chapter_id}.ipynb"))
    sliced = grade_batch(folder, tmp_path_factory.mktemp("sliced"), full=False)
    full = stored_full_grades()
    if full is None:
        full = grade_batch(folder, tmp_path_factory.mktemp("full"), full=True)
        if os.environ.get(REFRESH_VARIABLE):
            EXPECTED_GRADES.write_text(json.dumps({"inputs_sha256": grading_inputs_hash(), "grades": full},
                                                  indent=1) + "\n", encoding="utf-8")
    return {"sliced": sliced, "full": full}


def test_sliced_grades_equal_full_grades_on_a_mixed_batch_of_every_chapter(mixed_batch):
    sliced, full = mixed_batch["sliced"], mixed_batch["full"]
    assert {row[2] for row in full} >= {"passed", "not_attempted"}
    assert sliced == full


def test_the_stored_full_grades_are_found_only_for_unchanged_grading_inputs(tmp_path, monkeypatch):
    """A stored --full run counts only while its hash matches; any change to a solution or a check voids it."""
    rows = [["ana", "ch01.relu", "passed", "1.0", "Correct."]]
    stored = tmp_path / "expected.json"
    monkeypatch.setattr(sys.modules[__name__], "EXPECTED_GRADES", stored)
    stored.write_text(json.dumps({"inputs_sha256": grading_inputs_hash(), "grades": rows}))
    assert stored_full_grades() == [("ana", "ch01.relu", "passed", "1.0", "Correct.")]
    stored.write_text(json.dumps({"inputs_sha256": "0" * 64, "grades": rows}))
    assert stored_full_grades() is None
    stored.write_text("{not json")
    assert stored_full_grades() is None


def test_an_exercise_cell_that_seeds_is_still_sliced():
    steps = [lesson("import x"), lesson("unused = 1"), exercise("keras.utils.set_random_seed(1)\nanswer = 2")]
    assert kept_sources(steps) == ["import x", "keras.utils.set_random_seed(1)\nanswer = 2"]
