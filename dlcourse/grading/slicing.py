"""Dependency slicing: run only the lesson cells that a notebook's exercise cells need.

A chapter's lesson cells draw figures, train models for the text and print tables; most exercises need none
of that. `slice_steps` keeps every exercise step, the setup cell, every cell that seeds a random generator, and
the lesson cells that define (or change) a name that a kept step uses, followed back through the notebook. The
analysis is conservative: a cell it cannot read (a syntax error, an IPython magic, a star import, `exec`,
`globals()`) is kept, and so are cells that change an object in place (`model.fit(...)`, `x[0] = 1`) when a later
kept step uses that object. Skipped cells do not consume random numbers, so a chapter re-seeds before an exercise
whose result depends on them (see the instructor guide in the README).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import symtable

from dlcourse.grading.submissions import Step

SEEDING_FUNCTIONS = frozenset({"set_random_seed", "seed", "set_seed", "manual_seed"})
DYNAMIC_NAMES = frozenset({"globals", "locals", "vars", "exec", "eval", "get_ipython", "__import__"})
BUILTIN_NAMES = frozenset(dir(builtins))
SEEDS = "it seeds a random generator"


@dataclasses.dataclass
class CellNames:
    """What one cell does to the notebook's global names."""

    defines: set[str] = dataclasses.field(default_factory=set)
    uses: set[str] = dataclasses.field(default_factory=set)
    mutates: set[str] = dataclasses.field(default_factory=set)
    calls: set[str] = dataclasses.field(default_factory=set)
    function_mutations: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    always_keep: str = ""  # why the cell is always run ('' when it is kept only if needed)
    imports_only: bool = False


def slice_steps(steps: list[Step]) -> list[Step]:
    """The steps that the exercises need, in notebook order; all of them if an exercise step can't be analysed."""
    module_names = set()
    for step in steps:
        module_names |= imported_names(step.source)
    analyses = []
    function_mutations: dict[str, set[str]] = {}
    for step in steps:
        source = step.source if step.kind == "lesson" else f"{step.source}\n{step.answer_expression}"
        names = analyse_cell(source, module_names)
        if step.kind == "exercise" and names.always_keep and names.always_keep != SEEDS:
            return list(steps)  # what it needs can't be known
        for called in names.calls:  # a call of a notebook function changes what that function changes
            names.mutates |= function_mutations.get(called, set())
        function_mutations.update(names.function_mutations)
        analyses.append(names)
    kept: list[Step | None] = [None] * len(steps)
    needed: set[str] = set()
    first_code_step = 0
    for index in range(len(steps) - 1, -1, -1):
        step, names = steps[index], analyses[index]
        if (step.kind == "exercise" or index == first_code_step or (names.always_keep and names.always_keep != SEEDS)
                or names.imports_only or (names.defines | names.mutates) & needed):
            kept[index] = step
            needed |= names.uses | names.mutates
        elif names.always_keep == SEEDS:  # needed only for its seeding: run just that, not the training after it
            kept[index] = Step("lesson", seeding_statements(step.source))
    return [step for step in kept if step is not None]


def seeding_statements(source: str) -> str:
    """The top-level statements of a cell that call a seeding function, e.g. `keras.utils.set_random_seed(0)`."""
    tree = ast.parse(source)
    return "\n".join(ast.get_source_segment(source, statement) for statement in tree.body
                     if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
                     and _called_name(statement.value.func) in SEEDING_FUNCTIONS)


def imported_names(source: str) -> set[str]:
    """Names that import statements bind in a cell (modules and imported objects), or none if it can't be parsed."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names if alias.name != "*"}
    return names


def analyse_cell(source: str, module_names: set[str] | frozenset[str] = frozenset()) -> CellNames:
    """The global names a cell defines, uses and changes in place; always_keep says why it must run regardless."""
    try:
        tree = ast.parse(source)
        table = symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return CellNames(always_keep="it can't be parsed as Python (a syntax error or an IPython magic)")
    names = CellNames()
    for symbol in table.get_symbols():
        if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace():
            names.defines.add(symbol.get_name())
        if symbol.is_referenced():
            names.uses.add(symbol.get_name())
    for child in table.get_children():
        names.uses |= _global_references(child)
        names.defines |= _global_assignments(child)
    names.uses |= _augmented_names(_top_level_nodes(tree))  # symtable doesn't count `total += 1` as reading total
    names.uses -= BUILTIN_NAMES
    names.uses -= _assigned_before_read(tree)
    names.always_keep = _always_keep_reason(tree)
    names.imports_only = bool(tree.body) and all(_is_import_or_docstring(statement) for statement in tree.body)
    for node in _top_level_nodes(tree):
        root = _mutated_root(node)
        if root and root not in module_names:
            names.mutates.add(root)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.calls.add(node.func.id)
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.function_mutations[statement.name] = _function_mutations(statement, table, module_names)
    return names


def _assigned_before_read(tree: ast.Module) -> set[str]:
    """Names the cell itself sets before it reads them, so it never reads an earlier cell's value (`start` in
    `start = time.perf_counter()` ... `time.perf_counter() - start`).

    Only plain, unconditional top-level assignments count (`x = ...`, `a, b = ...`); a read anywhere earlier in
    the cell, even inside a function or lambda defined earlier, keeps the name among the cell's uses.
    """
    assigned: set[str] = set()
    read_first: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and all(_is_plain_target(target) for target in statement.targets):
            read_first |= _read_names(statement.value) - assigned
            assigned |= {node.id for target in statement.targets for node in ast.walk(target)
                         if isinstance(node, ast.Name)}
        else:
            read_first |= _read_names(statement) - assigned
    return assigned - read_first


def _is_plain_target(target: ast.expr) -> bool:
    """A name, or a tuple or list of names: `x`, `a, b`, `[a, (b, c)]`."""
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, (ast.Tuple, ast.List)) and all(_is_plain_target(item) for item in target.elts)


def _read_names(node: ast.AST) -> set[str]:
    """Every name read anywhere in a node, function and lambda bodies included (`x += 1` reads x)."""
    read = {child.id for child in ast.walk(node) if isinstance(child, ast.Name) and not isinstance(child.ctx, ast.Store)}
    return read | _augmented_names(ast.walk(node))


def _augmented_names(nodes) -> set[str]:
    """The names that augmented assignments among the nodes read and set: `total` in `total += 1`."""
    return {node.target.id for node in nodes if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)}


def _global_references(table: symtable.SymbolTable) -> set[str]:
    """Global names that a function, class or lambda (and everything nested in it) reads."""
    found = {symbol.get_name() for symbol in table.get_symbols() if symbol.is_global() and symbol.is_referenced()}
    for child in table.get_children():
        found |= _global_references(child)
    return found


def _global_assignments(table: symtable.SymbolTable) -> set[str]:
    """Global names that a function assigns through a `global` statement (and nested functions too)."""
    found = {symbol.get_name() for symbol in table.get_symbols()
             if symbol.is_declared_global() and symbol.is_assigned()}
    for child in table.get_children():
        found |= _global_assignments(child)
    return found


def _always_keep_reason(tree: ast.Module) -> str:
    """Why a cell must always run (it seeds a random generator, or uses names dynamically), or ''."""
    for node in _top_level_nodes(tree):
        if isinstance(node, ast.Call):
            name = _called_name(node.func)
            if name in SEEDING_FUNCTIONS:
                return SEEDS
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return "it has a star import"
        if isinstance(node, ast.Name) and node.id in DYNAMIC_NAMES:
            return f"it uses {node.id}"
    return ""


def _is_import_or_docstring(statement: ast.stmt) -> bool:
    """True for an import statement or a bare string."""
    return isinstance(statement, (ast.Import, ast.ImportFrom)) or (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))


def _top_level_nodes(tree: ast.AST):
    """Every node that runs when the cell runs: function and lambda bodies are left out (they run when called)."""
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            stack.extend(node.args.defaults)
            stack.extend(default for default in node.args.kw_defaults if default is not None)
            continue
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _called_name(function: ast.expr) -> str:
    """The last name of a called function: `set_random_seed` for `keras.utils.set_random_seed`."""
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return ""


def _root_name(expression: ast.expr) -> str:
    """The variable at the root of `a.b[0].c(...)`: 'a', or '' when it is not a plain name."""
    while isinstance(expression, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        expression = expression.func if isinstance(expression, ast.Call) else expression.value
    return expression.id if isinstance(expression, ast.Name) else ""


def _mutated_root(node: ast.AST) -> str:
    """The variable a node may change in place: `x` in `x.fit()`, `x[0] = 1`, `x.a += 1`, `del x[0]`; else ''."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _root_name(node.func.value)
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    for target in targets:
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            return _root_name(target)
    return ""


def _function_mutations(function: ast.FunctionDef | ast.AsyncFunctionDef, cell_table: symtable.SymbolTable,
                        module_names: set[str] | frozenset[str]) -> set[str]:
    """The global names a top-level function changes in place or assigns with `global` when it is called."""
    tables = [child for child in cell_table.get_children() if child.get_name() == function.name]
    global_names = set()
    for table in tables:
        global_names |= {symbol.get_name() for symbol in table.get_symbols() if symbol.is_global()}
        global_names |= _global_references(table) | _global_assignments(table)
    changed = set()
    for node in ast.walk(function):
        if node is function:
            continue
        root = _mutated_root(node)
        if root and root in global_names and root not in module_names:
            changed.add(root)
    for table in tables:
        changed |= _global_assignments(table)
    return changed
