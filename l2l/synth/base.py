"""The record type, the family interface and the plumbing every puzzle family shares.

Every record carries gold written the way the prompts ask (`l2l/prompts/`):

* a formulation with one constraint per statement, held as ``formula # statement`` (the
  formulator writes it statement first, ``Formulation.as_written``);
* a program for the formulation's backend (`Formulation.backend`) that uses the prelude
  helpers the generator prompt documents (z3: ``p = Puzzle()``, ``p.add``, ``p.choose`` /
  ``p.truth`` / ``p.solve`` / ``p.maximize``; sympy: ``solve_one``; python-constraint:
  ``solve_unique``) and prints its result only through ``answer(...)``.

The prelude's solver helpers raise on a contradiction or on several solutions, so the gold
program's answer comes out of a solver call that decided it. Independently of that, every
family verifies at generation time, with `Z3Model`, that the answer is unique.

For z3 gold, `Z3Model.from_program` runs the gold program's own declaration and constraint
lines in-process with the z3 prelude, so the model the generator checks is built from the
same text the record ships and the two cannot drift apart; families whose gold uses another
backend check the same formulas in a z3 model of their own (the tests run every gold
program through `l2l.pipeline.execute.run_programs` and compare its answer with the record).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from l2l.errors import L2LError

LETTERS = "ABCDEFGHIJ"


class GenerationError(L2LError):
    """A family could not build a valid puzzle with the requested difficulty."""


@dataclass
class PuzzleRecord:
    """One generated puzzle: the question, its verified answer and the gold formulation/program.

    `answer` is an option letter ("A") when `options` exist, else the value as a string.
    `meta` holds generation bookkeeping (which paraphrase templates were used); consumers
    may ignore it.
    """

    id: str
    family: str
    question: str
    options: list[str] | None
    answer: str
    formulation: dict[str, Any]
    program: str
    difficulty: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PuzzleRecord":
        return cls(
            id=str(d["id"]),
            family=str(d["family"]),
            question=str(d["question"]),
            options=list(d["options"]) if d.get("options") is not None else None,
            answer=str(d["answer"]),
            formulation=dict(d["formulation"]),
            program=str(d["program"]),
            difficulty=dict(d.get("difficulty") or {}),
            meta=dict(d.get("meta") or {}),
        )


class Family:
    """A puzzle family. Subclasses set the three attributes and implement `build`.

    `difficulty_knobs` maps a knob name to a tuple: two ints mean an inclusive range
    (``(3, 7)``); anything else is the tuple of allowed values (``("closed", "open")``).
    Knobs that the caller leaves out are sampled from their range with the record's rng.
    """

    name: str = ""
    description: str = ""
    difficulty_knobs: dict[str, tuple] = {}

    def generate(self, rng: random.Random, **difficulty: Any) -> PuzzleRecord:
        """Sample one solver-verified puzzle; deterministic given the rng state."""
        knobs = resolve_difficulty(self, rng, difficulty)
        last: Exception | None = None
        for _ in range(200):  # resample rather than ship a puzzle that failed a check
            try:
                rec = self.build(rng, **knobs)
            except _Reject as e:
                last = e
                continue
            rec.difficulty = {**knobs, **rec.difficulty}
            return rec
        raise GenerationError(f"{self.name}: could not build a unique puzzle with {knobs} ({last})")

    def build(self, rng: random.Random, **knobs: Any) -> PuzzleRecord:  # pragma: no cover
        raise NotImplementedError


class _Reject(Exception):
    """Raised inside `build` to throw away a sampled puzzle and try again."""


def reject(why: str) -> None:
    raise _Reject(why)


def minimal_unique_clues(draw: Callable[[], tuple], count: Callable[[list], int], min_clues: int, max_clues: int) -> list:
    """Clues (`draw()` gives `(formula, data)`) drawn until at least `min_clues` distinct ones leave
    exactly one solution (`count(clues) == 1`), the record rejected past `max_clues`; then each clue
    whose removal keeps the solution unique is dropped, so every remaining clue carries information."""
    clues: list = []
    seen: set[str] = set()
    while True:
        c = draw()
        if c[0] in seen:
            continue
        seen.add(c[0])
        clues.append(c)
        if len(clues) >= min_clues and count(clues) == 1:
            break
        if len(clues) > max_clues:
            reject("too many clues")
    for c in list(clues):
        trial = [x for x in clues if x is not c]
        if count(trial) == 1:
            clues = trial
    return clues


def _is_range(spec: tuple) -> bool:
    return len(spec) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in spec)


def resolve_difficulty(family: Family, rng: random.Random, given: dict[str, Any]) -> dict[str, Any]:
    """Validate user-supplied knobs (strings from the CLI are converted) and sample the rest."""
    from l2l.errors import InputError

    unknown = sorted(set(given) - set(family.difficulty_knobs))
    if unknown:
        valid = ", ".join(f"{k}={describe_knob(v)}" for k, v in family.difficulty_knobs.items())
        raise InputError(f"unknown difficulty knob(s) for {family.name}: {', '.join(unknown)}; valid: {valid}")
    out: dict[str, Any] = {}
    for knob, spec in family.difficulty_knobs.items():
        if knob not in given or given[knob] is None:
            out[knob] = rng.randint(*spec) if _is_range(spec) else rng.choice(spec)
            continue
        value = given[knob]
        if _is_range(spec):
            try:
                value = int(str(value).strip())
            except ValueError:
                raise InputError(f"{family.name}: difficulty {knob} must be an integer in {spec[0]}..{spec[1]}, got {given[knob]!r}") from None
            if not spec[0] <= value <= spec[1]:
                raise InputError(f"{family.name}: difficulty {knob}={value} is outside {spec[0]}..{spec[1]}")
        else:
            match = [v for v in spec if str(v) == str(value).strip()]
            if not match:
                raise InputError(f"{family.name}: difficulty {knob} must be one of {', '.join(map(str, spec))}, got {value!r}")
            value = match[0]
        out[knob] = value
    return out


def describe_knob(spec: tuple) -> str:
    return f"{spec[0]}..{spec[1]}" if _is_range(spec) else "|".join(map(str, spec))


def ident(text: str) -> str:
    """A Python identifier for a name or object ("blue book" -> "blue_book")."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", text.strip().lower()).strip("_")
    if not s or s[0].isdigit():
        s = "v_" + s
    return s


def option_lines(texts: list[str]) -> list[str]:
    return [f"{LETTERS[i]}) {t}" for i, t in enumerate(texts)]


# --------------------------------------------------------------------------- z3 model


class Z3Model:
    """In-process z3 model built from declaration and constraint source strings.

    >>> m = Z3Model({"x": "Int", "y": "Int"})
    >>> m.add("And(x >= 1, x <= 2, y == 3 - x)")
    >>> m.count(["x", "y"])
    2
    """

    def __init__(self, decls: dict[str, str]):
        import z3

        self.z3 = z3
        self.decls = dict(decls)
        self.env: dict[str, Any] = {k: getattr(z3, k) for k in dir(z3) if not k.startswith("_")}
        for name, sort in decls.items():
            self.env[name] = getattr(z3, sort)(name)
        self.solver = z3.Solver()
        self.exprs: list[str] = []

    @classmethod
    def from_program(cls, lines: list[str]) -> "Z3Model":
        """A model built by running `lines` (a z3 gold program without its final `answer(...)`)
        in-process, in a namespace prepared by the z3 prelude, as the sandbox does. Its solver
        is the program's `p.solver`; `add`, `sat`, `count`, ... evaluate further source in
        the program's namespace (so `p.size(red)` or `cold("max")` work as in the program).

        >>> m = Z3Model.from_program(["p = Puzzle()", "a, b = p.Order(['a', 'b'])", "p.add(a < b)"])
        >>> m.count(["a", "b"]), m.entails("a == 1")
        (1, True)
        """
        import z3

        self = cls.__new__(cls)
        self.z3 = z3
        self.decls = {}
        self.env = {"__name__": "l2l_synth_gold"}
        exec(_z3_prelude(), self.env)  # the project's own prelude source, never user input
        source = "\n".join(lines)
        transform = self.env.get("__program_transform__")  # as the sandbox compiles programs
        exec(compile(transform(source) if transform else source, "<gold>", "exec"), self.env)  # our own generated source
        self.solver = self.env["p"].solver
        self.exprs = []
        return self

    def exec_decls(self, lines: list[str]) -> None:
        """Run declaration lines (the same ones the gold program starts with) into the model's namespace."""
        exec("\n".join(lines), self.env)  # our own generated source, never user input

    def expr(self, src: str):
        return eval(src, self.env)  # our own generated source, never user input

    def add(self, src: str) -> None:
        self.exprs.append(src)
        self.solver.add(self.expr(src))

    def push(self) -> None:
        self.solver.push()

    def pop(self) -> None:
        self.solver.pop()

    def sat(self, *extra: str) -> bool:
        self.solver.push()
        for e in extra:
            self.solver.add(self.expr(e))
        r = self.solver.check()
        self.solver.pop()
        return r == self.z3.sat

    def entails(self, src: str) -> bool:
        return not self.sat(f"Not({src})")

    def count(self, over: list[str], limit: int = 2) -> int:
        """Number of distinct assignments of `over` (capped at `limit`)."""
        z3 = self.z3
        s = self.solver
        s.push()
        n = 0
        try:
            while n < limit and s.check() == z3.sat:
                m = s.model()
                n += 1
                terms = [self.expr(v) for v in over]
                s.add(z3.Or([t != m.eval(t, model_completion=True) for t in terms]))
        finally:
            s.pop()
        return n

    def optimize(self, objective: str, maximise: bool) -> int | None:
        """Optimal integer value of `objective` under the constraints (None if unbounded/infeasible)."""
        z3 = self.z3
        opt = z3.Optimize()
        opt.add(self.solver.assertions())
        obj = self.expr(objective)
        h = opt.maximize(obj) if maximise else opt.minimize(obj)
        if opt.check() != z3.sat:
            return None
        val = opt.upper(h) if maximise else opt.lower(h)
        if not z3.is_int_value(val):  # +/- infinity
            return None
        return val.as_long()

    def model(self) -> dict[str, Any]:
        """One model as python values (ints/bools)."""
        z3 = self.z3
        assert self.solver.check() == z3.sat
        m = self.solver.model()
        out = {}
        for v in self.decls:
            val = m.eval(self.env[v], model_completion=True)
            out[v] = z3.is_true(val) if z3.is_bool(val) else val.as_long()
        return out


# --------------------------------------------------------------------------- program text


_PRELUDE_CODE: Any = None


def _z3_prelude() -> Any:
    """The z3 prelude, compiled once per process (the same file the sandbox loads)."""
    global _PRELUDE_CODE
    if _PRELUDE_CODE is None:
        from solvers.registry import SOLVER_BACKENDS

        backend = SOLVER_BACKENDS["z3"]
        _PRELUDE_CODE = compile(backend.prelude_source(), str(backend.prelude), "exec")
    return _PRELUDE_CODE


def commented(code: str, comment: str | None, indent: str = "") -> str:
    """One program line after a comment line quoting the statement it comes from (the order the
    generator prompt asks for, statement first); the two lines come as one string."""
    return f"{indent}# {comment}\n{indent}{code}" if comment else f"{indent}{code}"


def add_lines(constraints: list[tuple[str, str]], indent: str = "") -> list[str]:
    """`# statement` then `p.add(expr)` for each (statement, expr)."""
    return [commented(f"p.add({e})", t, indent) for t, e in constraints]


def constraint(formula: str, statement: str) -> str:
    """A formulation constraint as the stages after the formulator read it: ``formula # statement``."""
    return f"{formula} # {statement}"


def options_block(options: dict[str, tuple[str, str]], name: str = "options") -> list[str]:
    """`options = {"A": cond,  # option text ...}` from {letter: (cond, text)}."""
    return [f"{name} = {{"] + [commented(f"{json.dumps(k)}: {cond},", text, "    ") for k, (cond, text) in options.items()] + ["}"]


def option_texts(options: list[str]) -> list[str]:
    """'A) Ann is a knight' -> 'Ann is a knight'."""
    return [o.split(") ", 1)[1] if ") " in o else o for o in options]


def program_text(*blocks: list[str]) -> str:
    """Join blocks of program lines into one program (a newline at the end)."""
    return "\n".join(line for block in blocks for line in block) + "\n"


def names_text(names: list[str]) -> str:
    """A Python list literal of names, as the programs write them: ["ann", "bob"]."""
    return "[" + ", ".join(json.dumps(n) for n in names) + "]"


def pick(rng: random.Random, templates: dict[str, list[str]] | list[str], used: list[str] | None = None, key: str = "", **kw: Any) -> str:
    """Choose one paraphrase template and fill it; records the template id in `used`."""
    choices = templates if isinstance(templates, list) else templates[key]
    i = rng.randrange(len(choices))
    if used is not None:
        used.append(f"{key}#{i}")
    text = choices[i].format(**kw)
    return text[0].upper() + text[1:] if text else text


def join_names(names: list[str], conj: str = "and") -> str:
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} {conj} {names[1]}"
    return ", ".join(names[:-1]) + f", {conj} {names[-1]}"


def formulation(summary: str, model_type: str, variables: list[dict[str, str]], constraints: list[str], objective: str | None) -> dict[str, Any]:
    """Build the five-field formulation dict and validate it with `l2l.types.Formulation`."""
    from l2l.types import Formulation

    d = {"summary": summary, "model_type": model_type, "variables": variables, "constraints": constraints, "objective": objective}
    return Formulation.from_dict(d).to_dict()


def make_rng(family: str, seed: int, index: int) -> random.Random:
    """Per-record rng: record i depends only on (family, seed, i), so n=10 is a prefix of n=100."""
    return random.Random(f"l2l-synth/{family}/{seed}/{index}")


RecordHook = Callable[[PuzzleRecord], None]


# --------------------------------------------------------------------------- generation-time checks


def fitting_options(model: Z3Model, options: dict[str, str], mode: str) -> list[str]:
    """Letters of the options that fit `mode`, decided as the prelude's `p.choose` decides them:
    "true" and "must" hold in every solution (for "true" the caller has checked that there is
    only one), "could" in some, "cannot" in none."""
    if mode in ("true", "must"):
        return [k for k, e in options.items() if model.entails(e)]
    if mode == "could":
        return [k for k, e in options.items() if model.sat(e)]
    if mode == "cannot":
        return [k for k, e in options.items() if not model.sat(e)]
    raise ValueError(f"unknown mode {mode!r}")


def truth_value(model: Z3Model, claim: str) -> str:
    """"True" if the constraints entail `claim`, "False" if they refute it, else "Unknown"
    (the prelude's `p.truth`)."""
    if model.entails(claim):
        return "True"
    if model.entails(f"Not({claim})"):
        return "False"
    return "Unknown"
