"""The record type, the family interface and the z3 plumbing every puzzle family shares.

A family builds a puzzle as a list of constraint *expressions* (Python source over z3
variables, e.g. ``"owl < robin"``). The same strings are

* evaluated in-process by `Z3Model` while generating (count solutions, add clues until
  the puzzle is unique, classify answer options), and
* written into the record's gold program, which the executor runs independently,

so the text the solver checks during generation and the program shipped with the record
cannot drift apart.

Uniqueness convention for programs (gold and proposed, see `l2l.synth.validate`):
a program prints exactly one ``ANSWER: <value>`` line, and prints ``UNIQUE: yes`` only
after it has *proved* that no other answer is possible — by blocking the found answer
(or model) and re-checking to ``unsat``, or, for multiple choice, by testing every option
and finding exactly one that passes. Otherwise it prints ``UNIQUE: no`` and no answer.
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


def z3_program(
    title: str,
    decls: list[str],
    constraints: list[tuple[str, str]],
    tail: str,
) -> str:
    """Assemble a self-contained z3 program: declarations, one commented `s.add` per clue, a tail."""
    lines = [f"# {title}", "from z3 import *", "", "s = Solver()"]
    lines += decls
    lines.append("")
    for comment, expr in constraints:
        if comment:
            lines.append(f"# {comment}")
        lines.append(f"s.add({expr})")
    lines.append("")
    lines.append(tail.strip("\n"))
    return "\n".join(lines) + "\n"


def options_tail(options: dict[str, str], test: str, unique_over: list[str] | None = None) -> str:
    """Program tail for multiple choice: exactly one option passes `test` ("must", "could", "cannot").

    With `unique_over`, the program also blocks the found model on those variables and
    re-checks, so ``UNIQUE: yes`` certifies the whole arrangement, not just the answer.
    """
    body = ",\n".join(f"    {json.dumps(k)}: {v}" for k, v in options.items())
    tests = {
        "must": "    s.push(); s.add(Not(e)); r = s.check(); s.pop()\n    return r == unsat",
        "could": "    s.push(); s.add(e); r = s.check(); s.pop()\n    return r == sat",
        "cannot": "    s.push(); s.add(e); r = s.check(); s.pop()\n    return r == unsat",
    }
    what = {"must": "must be true", "could": "could be true", "cannot": "cannot be true"}[test]
    out = [
        "assert s.check() == sat, 'the constraints contradict each other'",
        "options = {",
        body,
        "}",
        "",
        f"def passes(e):  # option {what}",
        tests[test],
        "",
        "passing = [k for k, e in options.items() if passes(e)]",
    ]
    if unique_over:
        out += [
            "# Block the found model and re-check: a second model would mean a missing clue.",
            "s.check()",
            "m = s.model()",
            f"s.add(Or([v != m.eval(v, model_completion=True) for v in [{', '.join(unique_over)}]]))",
            "model_unique = s.check() == unsat",
        ]
    else:
        out.append("model_unique = True")
    out += [
        "if len(passing) == 1 and model_unique:",
        "    print('ANSWER:', passing[0])",
        "    print('UNIQUE: yes')",
        "else:",
        "    print('UNIQUE: no', passing)",
    ]
    return "\n".join(out)


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
