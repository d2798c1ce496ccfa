"""`dlcourse similarity` (issue 25 §4): answers shared with renamed variables are flagged, starter code is not, and
nothing is changed. Results are written directly; no notebook is graded."""

import hashlib
import json

import nbformat

from dlcourse import cli
from dlcourse.grading import SubmissionResult, similarity
from grading_helpers import CORRECT, mini_course, student_notebook, with_answers  # noqa: F401

SOFTMAX = ("def softmax(logits):\n    shifted = logits - logits.max(axis=-1, keepdims=True)\n"
           "    exps = np.exp(shifted)\n    return exps / exps.sum(axis=-1, keepdims=True)")
SOFTMAX_RENAMED = ("def softmax(logits):\n    # my own, promise\n    moved = logits - logits.max(axis=-1, keepdims=True)\n"
                   "    e = np.exp(moved)\n\n    return e / e.sum(axis = -1, keepdims = True)")
SOFTMAX_OTHER = ("def softmax(logits):\n    result = []\n    for row in np.atleast_2d(logits):\n"
                 "        z = np.exp(row - np.max(row))\n        result.append(z / np.sum(z))\n"
                 "    return np.array(result).reshape(np.shape(logits))")
PARAMETERS = ("def count_dense_parameters(layer_sizes):\n    total = 0\n    for fan_in, fan_out in zip(layer_sizes, "
              "layer_sizes[1:]):\n        total += fan_in * fan_out + fan_out\n    return total")
PARAMETERS_OTHER = ("def count_dense_parameters(layer_sizes):\n    sizes = list(layer_sizes)\n"
                    "    return int(sum((sizes[i] + 1) * sizes[i + 1] for i in range(len(sizes) - 1)))")


def write_class(tmp_path, notebooks):
    """Write each student's notebook and a saved result for it (as `dlcourse grade` would); return the out folder."""
    folder, out = tmp_path / "submissions", tmp_path / "grades"
    folder.mkdir()
    (out / "results").mkdir(parents=True)
    for student, notebook in notebooks.items():
        path = folder / f"{student}.ipynb"
        nbformat.write(notebook, str(path))
        saved = SubmissionResult(student, str(path), "0" * 64, "ch01", file_mtime=1.0, exercises=[
            {"exercise": "ch01.relu", "status": "passed", "points": 1.0, "max_points": 1.0, "message": "ok"}])
        (out / "results" / f"{student}.json").write_text(json.dumps(saved.to_dict()))
    return folder, out


def fingerprints_of(folder):
    """sha256 of every file in a folder."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def test_a_shared_answer_with_renamed_variables_is_flagged(mini_course, student_notebook, tmp_path, capsys):
    folder, out = write_class(tmp_path, {
        "ana": with_answers(student_notebook, {"ch01.softmax": SOFTMAX, "ch01.count_dense_parameters": PARAMETERS}),
        "bob": with_answers(student_notebook, {"ch01.softmax": SOFTMAX_RENAMED,
                                               "ch01.count_dense_parameters": PARAMETERS_OTHER}),
        "carl": with_answers(student_notebook, {"ch01.softmax": SOFTMAX_OTHER,
                                                "ch01.count_dense_parameters": PARAMETERS_OTHER.replace("sizes", "s")}),
        "dan": student_notebook,
        "eve": with_answers(student_notebook, {  # ana's whole chapter, renamed
            "ch01.softmax": SOFTMAX.replace("shifted", "centred").replace("exps", "powers"),
            "ch01.count_dense_parameters": PARAMETERS.replace("total", "count").replace("fan_", "n_")}),
    })
    before = fingerprints_of(tmp_path)
    code = cli.main(["similarity", str(out), "--course", str(mini_course)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.splitlines() == [
        "ch01.softmax: ana and bob (100 %)",
        "ch01.softmax: ana and eve (100 %)",
        "ch01.softmax: bob and eve (100 %)",
        "ch01.count_dense_parameters: ana and eve (100 %)",
        "ch01.count_dense_parameters: bob and carl (100 %)",
        "ch01: ana and eve (100 %)",  # the chapter as a whole: only ana and eve share all of it
        f"6 pair(s) above 80 % (advisory; no grade changed). See {out / 'similarity.html'}."]
    page = (out / "similarity.html").read_text()
    assert "exercise <code>ch01.softmax</code>: ana and bob (100 %)" in page
    assert "e = np.exp(moved)" in page and "exps = np.exp(shifted)" in page  # the two answers side by side
    after = fingerprints_of(tmp_path)
    assert after.pop("grades/similarity.html") and after == before, "submissions and results are never changed"


def test_a_class_that_kept_the_starter_code_raises_no_alarm(mini_course, student_notebook, tmp_path, capsys):
    edited = {exercise_id: source.replace("# YOUR CODE HERE", "# I'll do this later")
              for exercise_id, source in {cell.metadata["dlcourse"]["exercise"]: cell.source
                                          for cell in student_notebook.cells
                                          if cell.cell_type == "code" and "exercise" in cell.metadata.get("dlcourse", {})}.items()}
    _, out = write_class(tmp_path, {"ana": student_notebook, "bob": student_notebook,
                                    "carl": with_answers(student_notebook, edited),
                                    "dan": with_answers(student_notebook, edited)})
    assert cli.main(["similarity", str(out), "--course", str(mini_course), "--threshold", "0.3"]) == 0
    assert capsys.readouterr().out.startswith("0 pair(s) above 30 %")
    assert "No pair above the threshold." in (out / "similarity.html").read_text()


def test_short_answers_everyone_writes_alike_are_not_evidence():
    relu = CORRECT["ch01.relu"]
    assert similarity.similar_pairs("ch01.relu", {"ana": relu, "bob": relu}, "def relu(x):\n    return ...", 0.5) == []


def test_similarity_rejects_a_bad_threshold_and_a_missing_folder(tmp_path, capsys):
    assert cli.main(["similarity", str(tmp_path), "--threshold", "1.5"]) == 2
    assert cli.main(["similarity", str(tmp_path / "none")]) == 2
    assert "no saved results" in capsys.readouterr().err
