"""Deterministic, model-free repairs of mechanical slips in generated programs.

    >>> from solvers.result import ExecutionResult
    >>> code = ('p = Puzzle()\\npeople = ["fae"]\\nimpus = p.Pred("impus", people)\\n'
    ...         'p.add(Implies(impus("fae"), Not(nervous("fae"))))\\nanswer(p.truth(nervous("fae")))\\n')
    >>> failed = ExecutionResult("runtime_error", error="line 4: NameError: name 'nervous' is not defined")
    >>> fix_program(code, "z3", failed).fixes
    ('declare_predicate:nervous',)

Why: a program that does not run costs a model repair round (30-150 s on a 2-core CPU) and
the small models often repeat the slip. Measured on the stored predictions
(`bench/bench_program_fixes.py`, bench/results/program_fixes.md): most failed ProntoQA
programs of the 1.5B model (`program` method; 7 of the first 9 report-split items) failed
because rule-and-fact programs call predicates they never declared (`nervous(x)` next to `impus = p.Pred("impus", people)`),
call a plural of a declared one (`yumpuses(x)` for `yumpus`), or write a negation into the
name (`not_shy("sam")`). Python `not`/`and`/`or` on z3 expressions need no fix here: the
z3 prelude rewrites them before every run (`__program_transform__`).

The contract, enforced by `l2l.pipeline.execute.run_programs`, the one caller: a fix is
computed only for a program that failed, the fixed text is run once more through the same
sandbox, and its result replaces the failure only if it ran to an answer; the result then
names the fixes (`ExecutionResult.fixes`) and the text that ran (`fixed_code`), while the
`Program` keeps the model's own text. So a program that runs is never changed, and one the
fixes cannot save fails with its own error. Fixes are AST-driven: the tree finds what to
change, and the edit is made at the tree's positions in the original text, so comments and
line layout stay as the model wrote them.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["ProgramFix", "fix_program", "FIX_KINDS", "UNDEFINED_NAME"]

# Every fix this module can apply (the part before ":" in `ProgramFix.fixes`).
FIX_KINDS = ("close_parens", "close_text_block", "declare_predicate", "predicate_alias", "not_prefix",
             "add_commented_constraint")

# The sandbox's report of an undeclared name (also read by the solver's repair hints, `solve._hint`).
UNDEFINED_NAME = re.compile(r"NameError: name '(\w+)' is not defined")


@dataclass(frozen=True)
class ProgramFix:
    """A fixed program text and the fixes applied, each "kind:name" (kind in FIX_KINDS)."""

    code: str
    fixes: tuple[str, ...]


def fix_program(code: str, backend: str, result: Any) -> ProgramFix | None:
    """The fixed program for a failed run, or None when no fix applies. Only failures whose
    cause a fix addresses are touched: a SyntaxError from statements left with too few closing
    parentheses (any backend), and a NameError in a z3 program that declares predicates with
    `p.Pred` (the only prelude with predicates), also when the closed program would raise it."""
    if result is None or getattr(result, "ok", False):
        return None
    report = f"{getattr(result, 'error', None) or ''}\n{getattr(result, 'stderr', None) or ''}"
    try:
        if "SyntaxError" in report:
            if "unterminated triple-quoted string" in report:
                block = _close_text_block(code)
                return ProgramFix(block, ("close_text_block",)) if block is not None else None
            closed = _close_parens(code)
            if closed is None:
                return None
            if backend == "z3":
                # The closed text would next fail on the undeclared predicates the run could not
                # reach yet: fix those too, or the one rerun `run_programs` allows is spent on it.
                more = _fix_undeclared_predicates(closed, None, _prelude_names(backend))
                if more is not None:
                    return ProgramFix(more.code, ("close_parens",) + more.fixes)
            return ProgramFix(closed, ("close_parens",))
        if backend == "z3" and "PuzzleError" in report:
            return _add_commented_constraints(code)
        m = UNDEFINED_NAME.search(report)
        if m is None or backend != "z3":
            return None
        return _fix_undeclared_predicates(code, m.group(1), _prelude_names(backend))
    except (ValueError, RecursionError, MemoryError):
        return None  # a program too odd to parse (NUL bytes, deep nesting) is left to the model


def _close_parens(code: str) -> str | None:
    """The program with the closing parentheses its one-line statements lack, or None if that does
    not make it parse. Why: in the 1.5B's ProntoQA programs the generator copies each formulation
    constraint `Implies(a(x), b(x))` into `p.add(...)` and drops the last `)` from the second line on;
    6 of the 8 stored ProntoQA programs that failed on a SyntaxError parse once such lines are closed
    (bench/results/program_fixes.md); unclosed, the whole program fails before its first rule. Only a line that opens a statement
    (the lines before it balance) and whose next code line is not indented deeper (so not a
    continuation the model meant) is closed, before its comment."""
    lines = code.splitlines(keepends=True)
    changed = False
    depth = 0  # parentheses open before line i (after the lines already closed)
    for i, line in enumerate(lines):
        open_count, cut = _scan(line)
        before, depth = depth, depth + open_count
        if open_count <= 0 or before > 0:  # nothing to close, or inside a statement
            continue
        nxt = next((j for j in range(i + 1, len(lines)) if lines[j].strip() and not lines[j].lstrip().startswith("#")), None)
        if nxt is not None and _indent(lines[nxt]) > _indent(lines[i]):
            continue
        body = lines[i][:cut].rstrip()
        lines[i] = body + ")" * open_count + lines[i][len(body):]
        depth = before
        changed = True
    if not changed:
        return None
    fixed = "".join(lines)
    return fixed if _parses(fixed) else None


def _parses(code: str) -> bool:
    """Whether a fixed text is Python: every fix keeps its result only then."""
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


# A line that ends the list the generator drifted into: `])`, ` ])` (a `]` and a `)` with nothing else).
_LIST_END = re.compile(r"^\s*\]\s*\)\s*$")
# One item of that list: an optional opening quote, the text, a closing quote and an optional comma.
_LIST_ITEM = re.compile(r'^(\s*)"?(.*?)"?\s*,?\s*$')


def _close_text_block(code: str) -> str | None:
    """The program with a text block the generator opened as `p.add(\"\"\"` and closed as a list
    (`"...",` lines, then `])`) made one text block again, or None when the program is not of that
    shape or the result does not parse. Why: 7 of the 1.5B's 36 ProofWriter programs (report split,
    bench/results/rule_readings.md) open the rules prelude's text block, write the first rules
    bare, drift into the list form halfway and end with `])`: an unterminated string, so nothing ran.
    The quotes and commas are dropped from the lines between, which makes each one rule line again."""
    lines = code.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.count('"""') == 1), None)
    if start is None or lines[start].split('"""', 1)[1].strip():
        return None  # no opened block, or text after the quotes on the opening line
    end = next((j for j in range(start + 1, len(lines)) if _LIST_END.match(lines[j])), None)
    if end is None or any('"""' in ln for ln in lines[start + 1:end]):
        return None
    body = []
    for ln in lines[start + 1:end]:
        m = _LIST_ITEM.match(ln.rstrip("\r\n"))
        body.append(f"{m.group(1)}{m.group(2)}\n" if m else ln)
    fixed = "".join(lines[:start + 1] + body + ['""")\n'] + lines[end + 1:])
    return fixed if _parses(fixed) else None


def _scan(line: str) -> tuple[int, int]:
    """(opening minus closing parentheses outside strings, index where the comment starts) of one line."""
    depth, quote, k = 0, None, 0
    while k < len(line):
        ch = line[k]
        if quote:
            if ch == "\\":
                k += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return (depth, k)
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        k += 1
    return (depth, len(line.rstrip("\r\n")))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _fix_undeclared_predicates(code: str, missing: str | None, prelude: frozenset[str]) -> ProgramFix | None:
    """Undeclared names called like predicates, in a program that declares its predicates as
    `name = p.Pred("name", domain)` at top level with one domain: each becomes a sibling
    declaration over that domain (inserted after the last sibling), an alias of the declared
    predicate it is the singular/plural of, and `not_X(a)` becomes `Not(X(a))`.
    `missing` (the name the run reported) must be among them, so the fix answers the failure;
    None: any of them (a program whose run stopped before reaching them, e.g. on a SyntaxError)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    decls = _pred_declarations(code, tree)
    if not decls:
        return None
    domains = {(puzzle, domain) for _, puzzle, domain in decls.values()}
    if len(domains) != 1:
        return None  # siblings disagree on the domain: nothing says which one a new predicate gets
    (puzzle, domain), = domains
    own = _bound_names(tree)
    bound = own | prelude | set(dir(builtins))
    calls = _predicate_like_calls(tree, bound)
    if missing is not None and missing not in calls:
        return None
    if "Not" in own and any(n.startswith("not_") for n in calls):
        return None  # the program shadows z3's Not: `not_X(a)` cannot be rewritten safely

    fixes: list[str] = []
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) offsets into `code`
    lines = code.splitlines(keepends=True)
    wanted: list[str] = []  # names that need a declaration or an alias, in first-use order
    for name, nodes in calls.items():
        base = name[4:] if name.startswith("not_") and len(name) > 4 else None
        if base is not None and (base in decls or base not in bound):
            # Why: "Jompuses are not bitter" written `not_bitter(x)`; a fresh predicate of that
            # name would leave it unrelated to `bitter`, and truth() would answer Unknown.
            for call in nodes:
                func = call.func
                edits.append((_offset(lines, func.lineno, func.col_offset), _offset(lines, func.end_lineno, func.end_col_offset), f"Not({base}"))
                end = _offset(lines, call.end_lineno, call.end_col_offset)
                edits.append((end, end, ")"))
            fixes.append(f"not_prefix:{name}")
            if base not in decls and base not in wanted:
                wanted.append(base)
        elif name not in wanted:
            wanted.append(name)
    new_lines: list[str] = []
    for name in wanted:
        if name in decls:
            continue
        twins = [d for d in _number_variants(name) if d in decls]
        if len(twins) == 1:
            # Why: "Yumpuses are happy" after `yumpus = p.Pred(...)`; a second predicate would
            # cut the chain of rules in two.
            new_lines.append(f"{name} = {twins[0]}")
            fixes.append(f"predicate_alias:{name}={twins[0]}")
        else:
            new_lines.append(f'{name} = {puzzle}.Pred("{name}", {domain})')
            fixes.append(f"declare_predicate:{name}")
    if new_lines:
        last = max(stmt.end_lineno for stmt, _, _ in decls.values())
        at = sum(len(line) for line in lines[:last])
        prefix = "" if not lines or lines[last - 1].endswith("\n") else "\n"
        edits.append((at, at, prefix + "".join(f"{line}  # added by l2l: undeclared predicate\n" for line in new_lines)))
    if not fixes:
        return None
    fixed = code
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        fixed = fixed[:start] + text + fixed[end:]
    return ProgramFix(fixed, tuple(fixes)) if _parses(fixed) else None


# A statement comment carrying the formulation's formula: `# Richard saw David ... => not between(visit, "5pm", "6pm")`.
_STATEMENT_COMMENT = re.compile(r"^(\s*)#\s*(\S.*?)\s*=>\s*(\S.*?)\s*$")
# Lines that show a statement comment above them got no code: the options or the answer come next.
_AFTER_THE_CONSTRAINTS = re.compile(r"(options\s*=|answer\s*\()")


def _add_commented_constraints(code: str) -> ProgramFix | None:
    """The z3 program with `p.add(<formula>)` under each statement comment `# <statement> => <formula>`
    that has no code under it (one fix per comment, named by its 1-based line); None when there is none
    or the result does not parse. Why: 17 of the 1.5B's 22 failed temporal_sequences programs (report split,
    50 items) copy the formulation's last sighting as such a comment and then go straight to the
    options, so the visit may fall in that slot and `p.choose(..., mode="must")` finds no option; the
    formula is the formulation's own, in the Python the z3 prelude reads (`not`/`and`/`or` on z3
    expressions are rewritten before every run). Only a formula that parses as one expression over
    names the program or its prelude defines is added, and only where the next code line is not its
    code: another comment, `options = ...` or `answer(...)` follows."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    puzzles = [st.targets[0].id for st in tree.body
               if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)
               and isinstance(st.value, ast.Call) and isinstance(st.value.func, ast.Name) and st.value.func.id == "Puzzle"]
    if len(puzzles) != 1:
        return None
    known = _bound_names(tree) | _prelude_names("z3") | set(dir(builtins))
    lines = code.splitlines(keepends=True)
    added: list[int] = []
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        m = _STATEMENT_COMMENT.match(line.rstrip("\r\n"))
        if m is None or m.group(1):  # top-level comments only: an indented one belongs to a block
            continue
        nxt = next((ln.strip() for ln in lines[i + 1:] if ln.strip()), "")
        if not (nxt.startswith("#") or _AFTER_THE_CONSTRAINTS.match(nxt)):
            continue
        formula = m.group(3)
        try:
            expr = ast.parse(formula, mode="eval")
        except SyntaxError:
            continue
        if not all(n.id in known for n in ast.walk(expr) if isinstance(n, ast.Name)):
            continue
        out.append(f"{puzzles[0]}.add({formula})  # added: the statement above had no code\n")
        added.append(i + 1)
    fixed = "".join(out)
    return ProgramFix(fixed, tuple(f"add_commented_constraint:{n}" for n in added)) if added and _parses(fixed) else None


def _pred_declarations(code: str, tree: ast.Module) -> dict[str, tuple[ast.stmt, str, str]]:
    """Top-level `name = puzzle.Pred("...", domain)`: {name: (statement, puzzle, domain source)}."""
    out: dict[str, tuple[ast.stmt, str, str]] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            continue
        call = stmt.value
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "Pred"
                and isinstance(call.func.value, ast.Name) and len(call.args) == 2 and not call.keywords):
            continue
        domain = ast.get_source_segment(code, call.args[1])
        if domain is None or "\n" in domain:
            continue
        out[stmt.targets[0].id] = (stmt, call.func.value.id, domain)
    return out


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the program itself binds anywhere (assignment, loop, import, def, argument)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _predicate_like_calls(tree: ast.AST, bound: set[str]) -> dict[str, list[ast.Call]]:
    """Unbound names whose every use is a call with one positional argument, `name(x)`
    (a name also used another way, `name.add(...)` or `name`, is not a predicate slip)."""
    calls: dict[str, list[ast.Call]] = {}
    as_func: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in bound:
            if len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred):
                calls.setdefault(node.func.id, []).append(node)
                as_func.add(id(node.func))
    other = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in calls and id(n) not in as_func}
    kept = {name: sorted(nodes, key=lambda c: (c.lineno, c.col_offset)) for name, nodes in calls.items() if name not in other}
    return dict(sorted(kept.items(), key=lambda kv: (kv[1][0].lineno, kv[1][0].col_offset)))  # first use first


def _number_variants(name: str) -> list[str]:
    """Singular/plural spellings of a predicate name: yumpuses <-> yumpus, impuse <-> impuses."""
    out = [name + "s", name + "es"]
    if name.endswith("es") and len(name) > 3:
        out.append(name[:-2])
    if name.endswith("s") and len(name) > 2:
        out.append(name[:-1])
    return out


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """Character offset of an AST position (1-based line, UTF-8 byte column)."""
    line = lines[lineno - 1]
    return sum(len(x) for x in lines[:lineno - 1]) + len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))


@functools.lru_cache(maxsize=None)
def _prelude_names(backend: str) -> frozenset[str]:
    """Names a program of `backend` gets from its prelude (its own definitions and its
    `from module import *`), so that a fix never redeclares a helper such as `Not` or `hour`."""
    import importlib

    from solvers.registry import SOLVER_BACKENDS

    tree = ast.parse(SOLVER_BACKENDS[backend].prelude_source())
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names) and stmt.module:
            module = importlib.import_module(stmt.module)
            names.update(getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")])
        elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.Import, ast.ImportFrom)):
            # top-level bindings only: the helpers' own locals are no names a program gets
            names |= _bound_names(ast.Module(body=[stmt], type_ignores=[]))
    return frozenset(names)
