"""Prompt builders. The texts live in template files beside this module (package data);
this module only picks the right template and example and fills them in.

Every builder returns chat messages (`[{"role": ..., "content": ...}]`), the format all
backends and TRL's conversational datasets accept.

Static parts (system prompt, worked example) come first and the question last, so a
backend that reuses its KV cache across calls (llama.cpp does) only re-reads the question.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from string import Template
from typing import Any

from l2l.types import Formulation, as_written

Message = dict[str, str]

SOLVER_NAMES = {"z3": "the Z3 solver", "sympy": "sympy", "constraint": "python-constraint"}

# What the final answer must look like, by answer kind (see `answer_kind`).
ANSWER_RULES = {
    "choice": ' The answer is the letter of the correct option: give each option its condition and call answer(p.choose(options, mode=...)).',
    "truth": ' The answer is "True", "False" or "Unknown": call answer(p.truth(claim)).',
    "value": " The answer is the value that is asked for.",
}
# The rules above name z3's helpers (p.choose, p.truth); a program for another backend is told
# how to reach the same answer with its own helper.
BACKEND_ANSWER_RULES = {
    "constraint": {
        "choice": " The answer is the letter of the correct option: find the solution with solve_unique(problem) and call answer() with the letter of the option that holds in it.",
        "truth": ' The answer is "True" or "False": find the solution with solve_unique(problem) and call answer() with whether the claim holds in it.',
    },
    "sympy": {
        "choice": " The answer is the letter of the correct option: solve with solve_one and call answer() with the letter of the option that matches the solution.",
        "truth": ' The answer is "True" or "False": solve with solve_one and call answer() with whether the claim holds for the solution.',
    },
}
COT_ANSWER_RULES = {
    "choice": ", where <answer> is the letter of the correct option",
    "truth": ", where <answer> is True, False or Unknown",
    "value": "",
}

_TRUTH_WORDS = {"true", "false", "unknown", "uncertain", "yes", "no"}
_OPTION_RE = re.compile(r"^\s*\(?([A-Z])[\)\.:]\s*(.*)$")
# A question whose last sentence is a yes/no question ("Does Elanor tell the truth?").
_YES_NO_RE = re.compile(
    r"(?:^|[.?!:]\s+)(?:does|do|did|is|are|was|were|can|could|will|would|has|have|had|should|must)\b[^.?!]*\?\s*$",
    re.IGNORECASE)


@lru_cache(maxsize=None)
def template(name: str) -> str:
    """Text of a template file shipped in this package."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def examples() -> list[dict[str, Any]]:
    """The worked examples (question, options, gold formulation, gold program)."""
    return json.loads(template("examples.json"))


def render(name: str, **values: Any) -> str:
    """Fill a `$name` template file; unknown placeholders raise KeyError (a bug, not input)."""
    return Template(template(name)).substitute(**values)


def option_text(option: str) -> str:
    """'A) True' -> 'True'."""
    m = _OPTION_RE.match(option)
    return m.group(2).strip() if m else option.strip()


def answer_kind(question: str, options: list[str] | None) -> str:
    """'truth' when the options are truth values or, without options, the question ends
    in a yes/no question; 'choice' for other options; else 'value'.

    >>> answer_kind("q", ["A) True", "B) False", "C) Unknown"]), answer_kind("Ann lies. Does Ann lie?", None)
    ('truth', 'truth')
    """
    if options:
        texts = {option_text(o).strip(". ").lower() for o in options}
        return "truth" if texts <= _TRUTH_WORDS else "choice"
    return "truth" if _YES_NO_RE.search(question.strip()) else "value"


def format_problem(question: str, options: list[str] | None) -> str:
    text = f"Problem:\n{question.strip()}"
    if options:
        text += "\n\nOptions:\n" + "\n".join(o.strip() for o in options)
    return text


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9,]+", " ", text.lower()).strip() + " "


def _cue_hits(question: str, cues: list[str]) -> int:
    text = _words(question)
    return sum(1 for cue in cues if _words(cue) in text)  # cues normalised alike: "truth-teller"


def pick_example(question: str, options: list[str] | None, backend: str | None = None) -> dict[str, Any]:
    """The worked example most like the question: the same answer kind (choice / truth /
    value) first, then most of its cue words in the question (orderings, knights and
    knaves, rules, arithmetic, ...). An example marked `any_kind` (its cue words are
    specific: knights, liars) beats the answer kind when two or more of them occur, so a
    liar chain asked as a multiple choice still gets a liar example (with the rules
    example that the answer kind alone picked, no program ran on 5 held-out knights_knaves
    items). With `backend`, only examples written for that solver. One close example helps
    a small model more than several loose ones (measured: with a knights example, the 1.5B
    model modelled a shelf ordering as booleans)."""
    kind = answer_kind(question, options)
    pool = [ex for ex in examples() if backend is None or ex["backend"] == backend] or list(examples())

    def score(ex: dict[str, Any]) -> tuple[bool, bool, int]:
        hits = _cue_hits(question, ex.get("cues", []))
        specific = bool(ex.get("any_kind")) and hits >= 2
        return (specific, answer_kind(ex["question"], ex["options"]) == kind, hits)

    return max(pool, key=score)  # max keeps the first of equals: file order breaks ties


def formulator_messages(question: str, options: list[str] | None = None) -> list[Message]:
    """Question -> chat asking for a JSON formulation (one worked example as a prior turn)."""
    ex = pick_example(question, options)
    return [
        {"role": "system", "content": template("formulator_system.txt").strip()},
        {"role": "user", "content": format_problem(ex["question"], ex["options"])},
        {"role": "assistant", "content": json.dumps(as_written(ex["formulation"]), indent=1, ensure_ascii=False)},
        {"role": "user", "content": format_problem(question, options)},
    ]


def _solver_system(template_name: str, backend: str, kind: str) -> str:
    return render(
        template_name,
        solver_name=SOLVER_NAMES.get(backend, backend),
        api=template(f"api_{backend}.md").strip(),
        answer_rule=BACKEND_ANSWER_RULES.get(backend, {}).get(kind, ANSWER_RULES[kind]),
    ).strip()


def _code_block(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def generator_messages(question: str, formulation: Formulation, options: list[str] | None = None, backend: str | None = None) -> list[Message]:
    """Question + formulation -> chat asking for a solver program for `backend`
    (default: the backend the formulation's model type calls for)."""
    backend = backend or formulation.backend
    kind = answer_kind(question, options)
    ex = pick_example(question, options, backend)
    ex_form = Formulation.from_dict(ex["formulation"])
    return [
        {"role": "system", "content": _solver_system("generator_system.txt", backend, kind)},
        {"role": "user", "content": format_problem(ex["question"], ex["options"]) + "\n\nFormal model:\n" + ex_form.as_written(indent=1)},
        {"role": "assistant", "content": _code_block(ex["program"])},
        {"role": "user", "content": format_problem(question, options) + "\n\nFormal model:\n" + formulation.as_written(indent=1)},
    ]


def program_messages(question: str, options: list[str] | None = None, backend: str = "z3") -> list[Message]:
    """One-stage baseline (Logic-LM / PAL style): question -> solver program, same helpers."""
    kind = answer_kind(question, options)
    ex = pick_example(question, options, backend)
    return [
        {"role": "system", "content": _solver_system("program_system.txt", backend, kind)},
        {"role": "user", "content": format_problem(ex["question"], ex["options"])},
        {"role": "assistant", "content": _code_block(ex["program"])},
        {"role": "user", "content": format_problem(question, options)},
    ]


def repair_messages(messages: list[Message], program_code: str, error: str) -> list[Message]:
    """Continue a generator conversation with the failed program and the solver's error."""
    return [
        *messages,
        {"role": "assistant", "content": _code_block(program_code)},
        {"role": "user", "content": render("repair_user.txt", error=error.strip()[:2000]).strip()},
    ]


def cot_messages(question: str, options: list[str] | None = None) -> list[Message]:
    kind = answer_kind(question, options)
    return [
        {"role": "system", "content": render("cot_system.txt", cot_answer_rule=COT_ANSWER_RULES[kind]).strip()},
        {"role": "user", "content": format_problem(question, options)},
    ]


def direct_messages(question: str, options: list[str] | None = None) -> list[Message]:
    kind = answer_kind(question, options)
    return [
        {"role": "system", "content": render("direct_system.txt", cot_answer_rule=COT_ANSWER_RULES[kind]).strip()},
        {"role": "user", "content": format_problem(question, options)},
    ]


__all__ = [
    "answer_kind",
    "cot_messages",
    "direct_messages",
    "examples",
    "format_problem",
    "formulator_messages",
    "generator_messages",
    "option_text",
    "program_messages",
    "repair_messages",
    "render",
    "template",
]
