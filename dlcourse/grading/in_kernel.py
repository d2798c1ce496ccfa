"""Imported inside a grading kernel before any student code runs: private copies of every check."""

from __future__ import annotations

import copy
import json


class KernelGrader:
    """Holds deep copies of the exercises, so student code that edits `dlcourse.checks` can't change grades."""

    def __init__(self) -> None:
        """Snapshot the exercise registry and the evaluation function."""
        from dlcourse import checks
        from dlcourse.checks import framework

        self._exercises = {exercise_id: copy.deepcopy(checks.get_exercise(exercise_id))
                           for exercise_id in checks.exercises()}
        self._evaluate = framework.evaluate_answer
        self._result_class = framework.CheckResult
        self.last_result = ""

    def grade(self, exercise_id: str, get_answer) -> None:
        """Check the current value of the answer; the JSON result is left in `last_result`."""
        self.last_result = ""
        try:
            answer = get_answer()
        except NameError as error:
            result = self._result_class(exercise_id, "not_attempted",
                                        f"Not attempted: {error} (the exercise cell did not define it).")
        except BaseException as error:  # any other failure while fetching the answer
            result = self._result_class(exercise_id, "error", f"{type(error).__name__}: {error}")
        else:
            result = self._evaluate(self._exercises[exercise_id], answer)
        self.last_result = json.dumps(result.to_dict())
