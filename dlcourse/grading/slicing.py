"""Dependency slicing: run only the lesson cells that a notebook's exercise cells need.

A chapter's lesson cells draw figures, train models for the text and print tables; most exercises need none
of that. `slice_steps` keeps every exercise step, the setup cell, every cell that seeds a random generator, and
the lesson cells that define (or change) a name that a kept step uses, followed back through the notebook. The
analysis is conservative (when in doubt, a cell is kept):

- a cell it cannot read (a syntax error, an IPython magic, a star import, `exec`, `globals()`) is kept;
- a cell that changes an object in place is kept when a later kept step uses that object. A cell changes `x` in
  place with a method call (`x.fit(...)`), an item or attribute assignment or deletion (`x[0] = 1`, `x.a += 1`),
  an in-place function of `IN_PLACE_FUNCTIONS` (`np.random.shuffle(x)`, `setattr(x, ...)`), an `out=x` argument,
  or a call of a notebook function that changes `x` (a global it changes, or the argument it changes);
- a change through an alias is a change of the aliased object. `name = x`, `name = x.layers[0]`,
  `name = x.get_layer("d")`, `name[key] = x`, `for name in x.layers` and `for i, name in enumerate(x)` make `name`
  a possible alias of `x` (transitively), from that cell on, until a cell rebinds `name` with a plain top-level
  assignment; arithmetic (`y = x + 1`) and calls of other functions (`y = f(x)`) make no alias. Notebook functions
  are read the same way: `for layer in base.layers: layer.trainable = False` in a function changes the global
  `base` when the function is called.

Skipped cells do not consume random numbers, so a chapter re-seeds before an exercise whose result depends on
them (see docs/grading.md, "For chapter authors").
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
# Functions (by their last name: np.random.shuffle, rng.shuffle, random.shuffle) that change their first argument.
IN_PLACE_FUNCTIONS = frozenset({"shuffle", "copyto", "fill_diagonal", "put", "place", "putmask", "put_along_axis",
                                "setattr", "delattr"})
# Functions whose result holds the objects of their arguments: `for i, layer in enumerate(model.layers)`.
PASS_THROUGH_FUNCTIONS = frozenset({"enumerate", "zip", "reversed", "sorted", "list", "tuple", "iter", "filter"})


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
    aliases: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # name -> names it may be an alias of
    rebinds: set[str] = dataclasses.field(default_factory=set)  # names surely bound anew (their old aliases end)
    fresh: set[str] = dataclasses.field(default_factory=set)  # names bound anew before any read (old aliases unused)
    call_arguments: list[FunctionCall] = dataclasses.field(default_factory=list)
    changed_parameters: dict[str, ChangedParameters] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class FunctionCall:
    """A call of a notebook function by name, with the root names of its positional and keyword arguments."""

    function: str
    positional: list[set[str]]
    keywords: dict[str, set[str]]
    spread: set[str] = dataclasses.field(default_factory=set)  # roots of *args and **kwargs arguments


@dataclasses.dataclass
class ChangedParameters:
    """Which parameters of a notebook function it changes in place (so a call changes those arguments)."""

    parameters: list[str]  # the positional parameters, in order
    changed: set[str]
    changes_extra_arguments: bool = False  # it changes *args or **kwargs


def slice_steps(steps: list[Step]) -> list[Step]:
    """The steps that the exercises need, in notebook order; all of them if an exercise step can't be analysed."""
    module_names = set()
    for step in steps:
        module_names |= imported_names(step.source)
    analyses = []
    function_mutations: dict[str, set[str]] = {}
    changed_parameters: dict[str, ChangedParameters] = {}
    aliases: dict[str, set[str]] = {}
    for step in steps:
        source = step.source if step.kind == "lesson" else f"{step.source}\n{step.answer_expression}"
        names = analyse_cell(source, module_names)
        if step.kind == "exercise" and names.always_keep and names.always_keep != SEEDS:
            return list(steps)  # what it needs can't be known
        changed_by_calls = changes_of_calls(names, function_mutations, changed_parameters)
        function_mutations.update(names.function_mutations)
        changed_parameters.update(names.changed_parameters)
        changed_by_calls |= changes_of_calls(names, function_mutations, changed_parameters)  # of its own functions
        # A name the cell sets before reading it is no longer an earlier cell's alias, except inside functions.
        earlier = {name: targets for name, targets in aliases.items() if name not in names.fresh}
        names.mutates = (possible_targets(names.mutates, merged_aliases(earlier, names.aliases))
                         | possible_targets(changed_by_calls, merged_aliases(aliases, names.aliases))) - module_names
        aliases = merged_aliases({name: targets for name, targets in aliases.items() if name not in names.rebinds},
                                 names.aliases)
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


def merged_aliases(first: dict[str, set[str]], second: dict[str, set[str]]) -> dict[str, set[str]]:
    """The alias facts of both, as a new dictionary: name -> every name it may be an alias of."""
    merged = {name: set(targets) for name, targets in first.items()}
    for name, targets in second.items():
        merged.setdefault(name, set()).update(targets)
    return merged


def possible_targets(changed: set[str], aliases: dict[str, set[str]]) -> set[str]:
    """The changed names and every name they may be aliases of, transitively (an alias of an alias)."""
    found = set(changed)
    pending = list(changed)
    while pending:
        for target in aliases.get(pending.pop(), set()) - found:
            found.add(target)
            pending.append(target)
    return found


def changes_of_calls(names: CellNames, function_mutations: dict[str, set[str]],
                     changed_parameters: dict[str, ChangedParameters]) -> set[str]:
    """What a cell's calls of notebook functions change in place: the globals and the arguments they change."""
    changed = set()
    for called in names.calls:
        changed |= function_mutations.get(called, set())
    return changed | changed_arguments(names.call_arguments, changed_parameters)


def changed_arguments(calls: list[FunctionCall], changed_parameters: dict[str, ChangedParameters]) -> set[str]:
    """The root names of the arguments that calls of notebook functions change in place."""
    changed = set()
    for call in calls:
        function = changed_parameters.get(call.function)
        if function is None:
            continue
        for position, roots in enumerate(call.positional):
            if (function.parameters[position] in function.changed if position < len(function.parameters)
                    else function.changes_extra_arguments):
                changed |= roots
        for keyword, roots in call.keywords.items():
            extra = keyword not in function.parameters and function.changes_extra_arguments
            if keyword in function.changed or extra:
                changed |= roots
        if function.changed or function.changes_extra_arguments:
            changed |= call.spread
    return changed


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
    names.fresh = _assigned_before_read(tree)
    names.uses -= names.fresh
    names.always_keep = _always_keep_reason(tree)
    names.imports_only = bool(tree.body) and all(_is_import_or_docstring(statement) for statement in tree.body)
    for node in _top_level_nodes(tree):
        names.mutates |= _mutated_roots(node) - module_names
        names.aliases = merged_aliases(names.aliases, _alias_facts(node, module_names))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.calls.add(node.func.id)
            names.call_arguments.append(_function_call(node))
    names.rebinds = _surely_rebound(tree)
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.function_mutations[statement.name] = _function_mutations(statement, table, module_names)
            names.changed_parameters[statement.name] = _changed_parameters(statement, module_names)
    return names


def _surely_rebound(tree: ast.Module) -> set[str]:
    """Names that plain, unconditional top-level assignments bind anew (`layer = ...`, `a, b = ...`)."""
    return {node.id for statement in tree.body
            if isinstance(statement, ast.Assign) and all(_is_plain_target(target) for target in statement.targets)
            for target in statement.targets for node in ast.walk(target) if isinstance(node, ast.Name)}


def _function_call(call: ast.Call) -> FunctionCall:
    """A call of a function by name, with the names its arguments may be aliases of (unknown spots in spread)."""
    found = FunctionCall(_called_name(call.func), [], {})
    for argument in call.args:
        if isinstance(argument, ast.Starred) or found.spread:  # after *args the positions are unknown
            found.spread |= _alias_roots(argument)
        else:
            found.positional.append(_alias_roots(argument))
    for keyword in call.keywords:
        if keyword.arg is None:
            found.spread |= _alias_roots(keyword.value)
        else:
            found.keywords[keyword.arg] = _alias_roots(keyword.value)
    return found


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


def _alias_roots(expression: ast.expr) -> set[str]:
    """The names whose objects an expression may be or hold: `model` for `model`, `model.layers[0]`,
    `model.get_layer("d")`, `enumerate(model.layers)`, `[model, other]` and `model or other`; none for `x + 1`
    or `f(x)`."""
    if isinstance(expression, ast.Name):
        return {expression.id}
    if isinstance(expression, (ast.Attribute, ast.Subscript, ast.Starred, ast.NamedExpr)):
        return _alias_roots(expression.value)
    if isinstance(expression, ast.Call):
        if isinstance(expression.func, ast.Attribute):  # a method call on an object may return a part of it
            return _alias_roots(expression.func.value)
        if _called_name(expression.func) in PASS_THROUGH_FUNCTIONS:
            return set().union(*(_alias_roots(argument) for argument in expression.args))
        return set()
    if isinstance(expression, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_alias_roots(item) for item in expression.elts))
    if isinstance(expression, ast.BoolOp):
        return set().union(*(_alias_roots(value) for value in expression.values))
    if isinstance(expression, ast.IfExp):
        return _alias_roots(expression.body) | _alias_roots(expression.orelse)
    return set()


def _target_names(target: ast.expr) -> set[str]:
    """The names an assignment target binds or stores into: `a`, `b` in `a, *b = ...`; `table` in `table[k] = ...`."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(item) for item in target.elts))
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Attribute, ast.Subscript)):
        return {_root_name(target)} - {""}
    return set()


def _alias_facts(node: ast.AST, module_names: set[str] | frozenset[str] = frozenset()) -> dict[str, set[str]]:
    """The aliases a node may make: {name: names} for `name = x.a`, `for name in x.b`, `table[k] = x`, `(name := x)`."""
    pairs: list[tuple[ast.expr, ast.expr]] = []
    if isinstance(node, ast.Assign):
        pairs = [(target, node.value) for target in node.targets]
    elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
        pairs = [(node.target, node.value)]
    elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        pairs = [(node.target, node.iter)]
    facts: dict[str, set[str]] = {}
    for target, value in [pair for target, value in pairs for pair in _item_pairs(target, value)]:
        roots = _alias_roots(value) - module_names
        for name in _target_names(target) if roots else ():
            facts.setdefault(name, set()).update(roots)
    return facts


def _item_pairs(target: ast.expr, value: ast.expr) -> list[tuple[ast.expr, ast.expr]]:
    """An assignment's (target, value) pairs, item by item where it unpacks a tuple: `a` of `x` in `a, b = x, y`."""
    if _unpacks_item_by_item(target, value):
        return [pair for item, item_value in zip(target.elts, value.elts) for pair in _item_pairs(item, item_value)]
    return [(target, value)]


def _unpacks_item_by_item(target: ast.expr, value: ast.expr) -> bool:
    """True for `a, b = x, y`: a tuple or list target and value of the same length, without starred items."""
    return (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
            and not any(isinstance(item, ast.Starred) for item in target.elts + value.elts))


def _mutated_roots(node: ast.AST) -> set[str]:
    """The variables a node may change in place: `x` in `x.fit()`, `x[0] = 1`, `x.a += 1`, `del x[0]`,
    `np.random.shuffle(x)`, `np.add(a, b, out=x)`."""
    roots = set()
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            roots.add(_root_name(node.func.value))
        if _called_name(node.func) in IN_PLACE_FUNCTIONS and node.args:
            roots |= _alias_roots(node.args[0])
        for keyword in node.keywords:
            if keyword.arg == "out":
                roots |= _alias_roots(keyword.value)
    targets: list[ast.expr] = []
    if isinstance(node, (ast.Assign, ast.Delete)):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    for target in targets:
        roots |= {_root_name(part) for part in _target_parts(target)
                  if isinstance(part, (ast.Attribute, ast.Subscript))}
    return roots - {""}


def _target_parts(target: ast.expr) -> list[ast.expr]:
    """The single targets in a possibly unpacking one: `a.x` and `b[0]` in `a.x, (b[0], c) = ...`."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [part for item in target.elts for part in _target_parts(item)]
    if isinstance(target, ast.Starred):
        return _target_parts(target.value)
    return [target]


def _changed_in_body(function: ast.FunctionDef | ast.AsyncFunctionDef,
                     module_names: set[str] | frozenset[str]) -> set[str]:
    """The names a function's body may change in place, directly or through its own aliases (loop variables too)."""
    changed: set[str] = set()
    aliases: dict[str, set[str]] = {}
    for node in ast.walk(function):
        if node is not function:
            changed |= _mutated_roots(node)
            aliases = merged_aliases(aliases, _alias_facts(node, module_names))
    return possible_targets(changed, aliases) - module_names


def _function_mutations(function: ast.FunctionDef | ast.AsyncFunctionDef, cell_table: symtable.SymbolTable,
                        module_names: set[str] | frozenset[str]) -> set[str]:
    """The global names a top-level function changes in place or assigns with `global` when it is called."""
    tables = [child for child in cell_table.get_children() if child.get_name() == function.name]
    global_names = set()
    for table in tables:
        global_names |= {symbol.get_name() for symbol in table.get_symbols() if symbol.is_global()}
        global_names |= _global_references(table) | _global_assignments(table)
    changed = _changed_in_body(function, module_names) & global_names
    for table in tables:
        changed |= _global_assignments(table)
    return changed


def _changed_parameters(function: ast.FunctionDef | ast.AsyncFunctionDef,
                        module_names: set[str] | frozenset[str]) -> ChangedParameters:
    """Which of a top-level function's parameters its body changes in place (so a call changes those arguments)."""
    arguments = function.args
    positional = [argument.arg for argument in arguments.posonlyargs + arguments.args]
    keyword_only = [argument.arg for argument in arguments.kwonlyargs]
    extra = {argument.arg for argument in (arguments.vararg, arguments.kwarg) if argument is not None}
    changed = _changed_in_body(function, module_names)
    return ChangedParameters(positional, changed & set(positional + keyword_only), bool(changed & extra))
