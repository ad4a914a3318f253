"""Typed records passed between the pipeline's stages.

question -> Formulation -> Program -> ExecutionResult -> SolveResult

Every record round-trips through plain JSON (`to_dict` / `from_dict`), so the same
objects are written to eval predictions, training logs and `l2l solve --json`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from solvers.result import ExecutionResult

__all__ = [
    "MODEL_TYPES",
    "Variable",
    "Formulation",
    "FormulationError",
    "Program",
    "Completion",
    "Candidate",
    "SolveResult",
    "ExecutionResult",
    "STAGES",
    "usage_of",
    "add_usage",
]

# The kinds of model the formulator may choose. Lower-case canonical names; the
# parser maps common spellings ("constraint satisfaction", "smt", "linear program") onto these.
MODEL_TYPES: tuple[str, ...] = ("sat", "csp", "smt", "lp", "milp", "symbolic", "arithmetic", "logic", "matching")

# Which solver backend writes programs for which model type.
BACKEND_FOR_MODEL_TYPE: dict[str, str] = {
    "sat": "z3",
    "csp": "z3",
    "smt": "z3",
    "lp": "z3",
    "milp": "z3",
    "logic": "z3",
    "symbolic": "sympy",
    "arithmetic": "sympy",
    # zebra-style matching of several attributes, one house/position each: python-constraint
    # enumerates every assignment, and its solve_unique reports none or several
    "matching": "constraint",
}

_MODEL_TYPE_ALIASES: dict[str, str] = {
    "constraint satisfaction": "csp",
    "constraint satisfaction problem": "csp",
    "constraint": "csp",
    "boolean satisfiability": "sat",
    "satisfiability": "sat",
    "propositional": "sat",
    "propositional logic": "sat",
    "first-order logic": "logic",
    "first order logic": "logic",
    "fol": "logic",
    "smt": "smt",
    "linear programming": "lp",
    "linear program": "lp",
    "integer programming": "milp",
    "integer linear programming": "milp",
    "ilp": "milp",
    "mip": "milp",
    "optimization": "milp",
    "optimisation": "milp",
    "symbolic math": "symbolic",
    "symbolic mathematics": "symbolic",
    "algebra": "symbolic",
    "math": "symbolic",
    "equation": "symbolic",
    "equations": "symbolic",
    "arithmetic": "arithmetic",
    "zebra": "matching",
    "logic grid": "matching",
    "grid puzzle": "matching",
}


class FormulationError(ValueError):
    """A formulation that does not validate; the message names the offending field."""


def normalise_model_type(value: Any) -> str:
    """Map a model-type spelling onto one of MODEL_TYPES.

    >>> normalise_model_type("Constraint Satisfaction")
    'csp'
    """
    if not isinstance(value, str) or not value.strip():
        raise FormulationError(f"model_type must be a non-empty string, got {value!r}")
    key = value.strip().lower().replace("_", " ")
    if key in MODEL_TYPES:
        return key
    if key in _MODEL_TYPE_ALIASES:
        return _MODEL_TYPE_ALIASES[key]
    for alias, canon in _MODEL_TYPE_ALIASES.items():
        if alias in key:
            return canon
    raise FormulationError(f"model_type {value!r} is not one of {', '.join(MODEL_TYPES)}")


@dataclass
class Variable:
    """One decision variable: a name, a type (int, bool, real, enum, ...) and its domain as text."""

    name: str
    type: str = "int"
    domain: str = ""
    description: str = ""

    @classmethod
    def from_any(cls, obj: Any, where: str) -> "Variable":
        if isinstance(obj, str):
            if not obj.strip():
                raise FormulationError(f"{where}: empty variable")
            return cls(name=obj.strip())
        if not isinstance(obj, dict):
            raise FormulationError(f"{where}: expected an object with 'name', got {type(obj).__name__}")
        name = obj.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FormulationError(f"{where}.name: must be a non-empty string, got {name!r}")
        domain = obj.get("domain", "")
        if isinstance(domain, (list, tuple)):
            domain = ", ".join(str(d) for d in domain)
        elif isinstance(domain, dict):
            domain = json.dumps(domain)
        return cls(
            name=name.strip(),
            type=str(obj.get("type", "int") or "int"),
            domain=str(domain if domain is not None else ""),
            description=str(obj.get("description", "") or ""),
        )


STATEMENT_ARROW = " => "


def statement_first(constraint: str) -> str:
    """'x > 1 # Ann is older.' -> 'Ann is older. => x > 1', the order the formulator writes.

    Measured (BBH web_of_lies report cell, 1.5B, formula first): the model copied the worked
    example's formula for the line at the same place (`not kim # Kim lies.` became
    `not kandi # Kandi tells the truth.`); 41 of 50 formulations had a line contradicting its own
    statement. Statement first, 11 of 11 such fact lines came out right on tune items."""
    formula, sep, statement = constraint.partition(" # ")
    return f"{statement.strip()}{STATEMENT_ARROW}{formula.strip()}" if sep and statement.strip() else constraint


def formula_first(constraint: str) -> str:
    """'Ann is older. => x > 1' -> 'x > 1 # Ann is older.', the order every later stage reads
    (generator prompt, coverage, program comments); other constraints are kept as written."""
    statement, sep, formula = constraint.partition(STATEMENT_ARROW)
    prose = statement.strip().endswith((".", "!", "?", "'", '"')) or not re.search(r"[=<>]", statement)
    if not sep or not formula.strip() or not statement.strip() or " # " in constraint or not prose:
        return constraint  # not "statement => formula": the old order, or an implication written with =>
    return f"{formula.strip()} # {statement.strip()}"


def as_written(formulation: dict[str, Any]) -> dict[str, Any]:
    """A formulation dict as the formulator writes it: the same fields, constraints statement first."""
    return {**formulation, "constraints": [statement_first(c) for c in formulation["constraints"]]}


@dataclass
class Formulation:
    """The formulator's structured reading of a problem (the five fields of the method).
    `constraints` are held as "formula # statement"; the formulator writes them statement
    first ("statement => formula", `statement_first`) and `from_dict` reads both."""

    summary: str
    model_type: str
    variables: list[Variable] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    objective: str | None = None

    FIELDS = ("summary", "model_type", "variables", "constraints", "objective")

    @property
    def backend(self) -> str:
        """Solver backend that should implement this formulation."""
        return BACKEND_FOR_MODEL_TYPE.get(self.model_type, "z3")

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "model_type": self.model_type,
            "variables": [asdict(v) for v in self.variables],
            "constraints": list(self.constraints),
            "objective": self.objective,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def as_written(self, indent: int | None = 1) -> str:
        """The JSON the formulator writes for this formulation (constraints statement first)."""
        return json.dumps(as_written(self.to_dict()), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Any) -> "Formulation":
        """Validate and build a Formulation; raises FormulationError naming the bad field.

        >>> Formulation.from_dict({"summary": "s", "model_type": "CSP", "variables": ["x"],
        ...                        "constraints": ["x > 1"], "objective": None}).model_type
        'csp'
        """
        if not isinstance(d, dict):
            raise FormulationError(f"formulation must be a JSON object, got {type(d).__name__}")
        missing = [k for k in ("summary", "model_type", "variables", "constraints") if k not in d]
        if missing:
            raise FormulationError(f"formulation is missing field(s): {', '.join(missing)}")
        summary = d["summary"]
        if not isinstance(summary, str) or not summary.strip():
            raise FormulationError("summary: must be a non-empty string")
        model_type = normalise_model_type(d["model_type"])
        raw_vars = d["variables"]
        if isinstance(raw_vars, dict):  # {"name": "domain"} is a common model shorthand
            raw_vars = [{"name": k, "domain": v} for k, v in raw_vars.items()]
        if not isinstance(raw_vars, list):
            raise FormulationError(f"variables: must be a list, got {type(raw_vars).__name__}")
        variables = [Variable.from_any(v, f"variables[{i}]") for i, v in enumerate(raw_vars)]
        raw_cons = d["constraints"]
        if isinstance(raw_cons, str):
            raw_cons = [raw_cons]
        if not isinstance(raw_cons, list):
            raise FormulationError(f"constraints: must be a list of strings, got {type(raw_cons).__name__}")
        constraints = []
        for i, c in enumerate(raw_cons):
            if isinstance(c, dict):  # {"description": ..., "expression": ...}
                c = " : ".join(str(v) for v in c.values())
            if not isinstance(c, (str, int, float)) or not str(c).strip():
                raise FormulationError(f"constraints[{i}]: must be a non-empty string")
            constraints.append(formula_first(str(c).strip()))
        objective = d.get("objective")
        if objective is not None and not isinstance(objective, str):
            objective = json.dumps(objective)
        if isinstance(objective, str) and objective.strip().lower() in ("", "none", "null", "n/a"):
            objective = None
        return cls(summary.strip(), model_type, variables, constraints, objective)

    @classmethod
    def from_json(cls, text: str) -> "Formulation":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormulationError(f"formulation is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        return cls.from_dict(data)


@dataclass
class Program:
    """A generated solver program: which backend's prelude it expects, and its source."""

    backend: str
    code: str

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "code": self.code}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Program":
        return cls(backend=str(d["backend"]), code=str(d["code"]))


@dataclass
class Completion:
    """One model completion with the accounting the benchmarks need."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    finish_reason: str | None = None  # "stop", "length", or "time_budget" (cut at the solve's deadline)
    stage: str | None = None  # which pipeline stage asked for it (one of STAGES), set by that stage


# Where a solve's tokens go. Every model call belongs to one stage: "formulation" (the first
# reading of the problem), "formulation_repair" (the parse error sent back), "coverage" (the
# round asking for left-out statements), "program", "repair" (a failed program sent back with
# its error). At the level of a whole solve, everything spent by reformulation rounds (their
# formulations, coverage rounds, programs and repairs) is counted under "reformulation", so
# the stages of `SolveResult.usage` are disjoint and add up to the solve's totals.
STAGES: tuple[str, ...] = ("formulation", "formulation_repair", "coverage", "program", "repair", "reformulation")


def usage_of(completions: list["Completion"], stage: str | None = None) -> dict[str, dict[str, Any]]:
    """Calls, prompt and generated tokens and model seconds per stage (a completion's own
    `stage`, or `stage` for all of them).

    >>> usage_of([Completion("x", prompt_tokens=10, completion_tokens=3, elapsed_s=0.5, stage="program")])
    {'program': {'calls': 1, 'prompt_tokens': 10, 'completion_tokens': 3, 'seconds': 0.5}}
    """
    out: dict[str, dict[str, Any]] = {}
    for c in completions:
        add_usage(out, {stage or c.stage or "other": {"calls": 1, "prompt_tokens": c.prompt_tokens,
                                                        "completion_tokens": c.completion_tokens, "seconds": c.elapsed_s}})
    return out


def add_usage(acc: dict[str, dict[str, Any]], more: dict[str, dict[str, Any]], as_stage: str | None = None) -> dict[str, dict[str, Any]]:
    """Add per-stage usage `more` into `acc` (all of it under `as_stage` if given); returns `acc`."""
    for stage, u in more.items():
        slot = acc.setdefault(as_stage or stage, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0})
        for k, v in u.items():
            slot[k] = slot.get(k, 0) + v
        slot["seconds"] = round(slot["seconds"], 4)
    return acc


@dataclass
class Candidate:
    """One formulation -> program -> execution attempt inside a solve."""

    formulation: Formulation | None
    program: Program | None
    execution: ExecutionResult | None
    answer: str | None = None  # the normalised answer this candidate votes for
    repairs: int = 0
    error: str | None = None
    # Model calls made for this candidate, by stage (see STAGES). A formulation shared by m
    # program candidates is counted once, on the first of them, so candidates add up to the solve.
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    phase: str = "initial"  # "reformulation" for candidates of a reformulation round

    def to_dict(self) -> dict[str, Any]:
        return {
            "formulation": self.formulation.to_dict() if self.formulation else None,
            "program": self.program.to_dict() if self.program else None,
            "execution": self.execution.to_dict() if self.execution else None,
            "answer": self.answer,
            "repairs": self.repairs,
            "error": self.error,
            "phase": self.phase,
            "usage": self.usage,
        }


# Final statuses of a whole solve.
SOLVE_STATUSES = ("solved", "disagreement", "no_answer", "error")


@dataclass
class SolveResult:
    """Everything `l2l.reason` knows about one question.

    status: "solved" (an answer, and the voters agreed), "disagreement" (an answer by
    plurality, but candidates disagreed), "no_answer" (no candidate produced an answer),
    "error" (bad input or a failure before any candidate ran).
    """

    question: str
    answer: str | None
    status: str
    candidates: list[Candidate] = field(default_factory=list)
    votes: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    # Per-stage calls, tokens and model seconds (STAGES); the stages add up to `tokens`.
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Why sampling stopped before the configured candidates ran: "time_budget", or None.
    stopped_by: str | None = None

    @property
    def best(self) -> Candidate | None:
        """The first candidate that voted for the final answer (else the first one)."""
        for c in self.candidates:
            if self.answer is not None and c.answer == self.answer:
                return c
        return self.candidates[0] if self.candidates else None

    @property
    def formulation(self) -> Formulation | None:
        c = self.best
        return c.formulation if c else None

    @property
    def program(self) -> Program | None:
        c = self.best
        return c.program if c else None

    def to_dict(self) -> dict[str, Any]:
        f, p = self.formulation, self.program
        return {
            "question": self.question,
            "answer": self.answer,
            "status": self.status,
            "error": self.error,
            "formulation": f.to_dict() if f else None,
            "program": p.code if p else None,
            "backend": p.backend if p else None,
            "votes": dict(self.votes),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "tokens": dict(self.tokens),
            "usage": self.usage,
            "stopped_by": self.stopped_by,
            "candidates": [c.to_dict() for c in self.candidates],
        }
