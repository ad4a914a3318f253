"""What a formulation leaves out of the problem, and what a program leaves out of the formulation.

The formulator writes one constraint per statement, each with the statement it comes from
(held as "formula # statement", `l2l.types.formula_first`). Measured on LogicalDeduction (1.5B
model, tune split): the commonest formulation error is a statement with no constraint, which
leaves several solutions and cannot be repaired at the program stage, because the program
follows the formulation. A statement is "covered" when some constraint's comment shares most of
its words; statements that mention none of the formulation's variables (context, the question
itself) or that list them all (the declaration "there are five birds: ...") need no constraint.
"""

from __future__ import annotations

import re

from l2l.types import Formulation

_STOP = frozenset("a an the is are was were of to in on and or it its that this there be by as at for with than".split())
_SENTENCE_END = re.compile(r"(?<=[.!])\s+|(?<=[.!]['\"\u2019\u201d])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def _stem(word: str) -> str:
    """Crude singular: apples/apple -> appl, mangoes/mango -> mango, buses/bus -> bus."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _names(formulation: Formulation) -> list[tuple[str, ...]]:
    """Each variable name as a tuple of stemmed words ("blue_jay" -> ("blue", "jay"))."""
    out = []
    for v in formulation.variables:
        for name in v.name.split(","):
            words = tuple(_stem(w) for w in _WORD.findall(name.lower().replace("_", " ")))
            if words:
                out.append(words)
    return out


def _mentions(sentence_words: list[str], name: tuple[str, ...]) -> bool:
    n = len(name)
    return any(tuple(sentence_words[i : i + n]) == name for i in range(len(sentence_words) - n + 1))


def statements(question: str) -> list[str]:
    """The sentences of the question that state something (questions left out)."""
    out = []
    for s in _SENTENCE_END.split(question):
        s = s.strip()
        if s and "?" not in s:
            out.append(s)
    return out


def uncovered_statements(question: str, formulation: Formulation, threshold: float = 0.6) -> list[str]:
    """Statements of `question` about the formulation's variables that no constraint quotes."""
    comments = [c.split("#", 1)[1] for c in formulation.constraints if "#" in c]
    if not comments:
        return []  # nothing to compare against: the check cannot tell
    names = _names(formulation)
    comment_words = [set(map(_stem, _words(c))) for c in comments]
    missing = []
    for s in statements(question):
        words = [_stem(w) for w in _WORD.findall(s.lower())]
        mentioned = [n for n in names if _mentions(words, n)]
        if not mentioned or (len(names) >= 3 and len(mentioned) == len(names)):
            continue
        content = set(map(_stem, _words(s)))
        if not content:
            continue
        best = max(len(content & cw) / len(content) for cw in comment_words)
        if best < threshold:
            missing.append(s)
    return missing


def _code_words(code: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code)}


def unused_variables(code: str, formulation: Formulation) -> list[str]:
    """Variables of the formulation that the program never mentions, as code names or inside
    strings. Measured: the 1.5B model sometimes declares the worked example's objects (red,
    green, ...) instead of the problem's, then fails on the first constraint."""
    words = _code_words(code)
    lowered = code.lower()
    return [n for n in variable_names(formulation) if n not in words and n.replace("_", " ") not in lowered]


def variable_names(formulation: Formulation) -> list[str]:
    """Every variable name of the formulation as a lower-case Python name ("blue jay" -> blue_jay);
    a variable entry may list several names separated by commas."""
    out = []
    for v in formulation.variables:
        for name in v.name.split(","):
            snake = re.sub(r"\W+", "_", name.strip().lower()).strip("_")
            if snake:
                out.append(snake)
    return out


def unused_variables_message(code: str, formulation: Formulation) -> str | None:
    """An instruction naming the model's variables the program ignores (None if it uses all)."""
    missing = unused_variables(code, formulation)
    if not missing:
        return None
    return (f"The program never uses these variables of the formal model: {', '.join(missing)}. "
            "Declare exactly the model's variables, with the model's names, and write every constraint over them.")


def copied_example_names(code: str, formulation: Formulation, question: str, example_formulation: Formulation) -> list[str]:
    """Variables of the prompt's worked example that the program uses although neither the
    question nor the formulation has them. Measured on LogicalDeduction (1.5B): programs that
    declared the example's books (red, green, dark_blue, white) next to the problem's objects."""
    words = _code_words(code)
    own = set(variable_names(formulation)) | {w.lower() for w in _WORD.findall(question.lower())}
    return [n for n in variable_names(example_formulation) if n in words and n not in own and n.replace("_", " ") not in question.lower()]
