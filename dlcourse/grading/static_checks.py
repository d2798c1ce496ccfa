"""Read a submitted exercise cell, without running it, for use of the course's own answers."""

from __future__ import annotations

import ast
import re

CHECKS_PACKAGE = "dlcourse.checks"
PUBLIC_NAMES = frozenset({"check", "hint", "exercises", "CheckResult", "Hint"})
_SUSPICIOUS_TEXT = re.compile(r"dlcourse[./\\]checks[./\\]|^reference_\w+$|^(?:framework|diagnostics|ch\d\d)\.py$")


def course_reference_use(source: str) -> str:
    """The first piece of code that reaches into dlcourse.checks beyond check/hint/exercises, or ''."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    for node in ast.walk(tree):
        found = _reference_use_in(node, source)
        if found:
            return found
    return ""


def _reference_use_in(node: ast.AST, source: str) -> str:
    """The offending code if this one node uses the course's checks beyond the public calls."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith(CHECKS_PACKAGE + "."):
                return _segment(source, node)
    elif isinstance(node, ast.ImportFrom) and node.module:
        if node.module.startswith(CHECKS_PACKAGE + "."):
            return _segment(source, node)
        if node.module == CHECKS_PACKAGE and any(alias.name not in PUBLIC_NAMES for alias in node.names):
            return _segment(source, node)
    elif isinstance(node, ast.Attribute):
        if _names_checks(node.value) and node.attr not in PUBLIC_NAMES:
            return _segment(source, node)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        if _SUSPICIOUS_TEXT.search(node.value.strip()):
            return repr(node.value)
    return ""


def _names_checks(node: ast.AST) -> bool:
    """Whether an expression is `checks` or `<something>.checks`."""
    return (isinstance(node, ast.Name) and node.id == "checks") or (
        isinstance(node, ast.Attribute) and node.attr == "checks")


def _segment(source: str, node: ast.AST) -> str:
    """The source text of a node, on one line and cut short."""
    text = " ".join((ast.get_source_segment(source, node) or ast.dump(node)).split())
    return text if len(text) <= 120 else text[:117] + "..."


def reference_use_message(code: str) -> str:
    """The grade message for an exercise cell that uses the course's reference implementation."""
    return (f"This exercise cell uses the course's reference implementation (`{code}`), so it gets 0 points. "
            "Your answer must be your own code; `checks.check` and `checks.hint` are the only parts of "
            "`dlcourse.checks` an exercise may use.")
