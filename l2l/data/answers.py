"""Answer normalisation: one canonical string per answer, and free answers mapped onto options.

Every scorer in the project (eval accuracy, training rewards, the pipeline's vote) compares
answers through these functions, so "(B)", "B) False" and "the answer is B" count as one vote.

Canonical forms:

| kind | canonical | examples accepted |
|---|---|---|
| option (question has options) | the letter, `"B"` | `B`, `(B)`, `B)`, `B) False`, `Option B`, `the answer is B`, `False` (option text), `Eve` (a value naming one option) |
| boolean-like words | `True` `False` `Yes` `No` `Unknown` `Valid` `Invalid` | any case, `uncertain` -> `Unknown` |
| numbers | shortest decimal: `"3"`, `"0.5"`, `"-20"`, `"1000"` | `3.0`, `+3`, `1,000`, `$1,000`, `3.50`, `1/2`, `5 cows`, `x = 5` |
| bracket sequences (BBH dyck) | characters joined by one space: `"] ) >"` | `])>`, `] ) >` |
| word lists (BBH word_sorting) | words joined by one space | `a, b, c`, `['a', 'b']`, `a b  c` |
| anything else | the text with surrounding quotes/markdown/final period removed, spaces collapsed | |

Mapping a value onto options is deterministic and conservative: the most specific match
wins (letter, then exact option text, then a number equal to one option's, then boolean
synonyms, then the value as a phrase inside exactly one option, then the one option whose
distinguishing words the value names and which says everything the value says); anything
ambiguous returns None rather than a guess.

`match_answer` says which of these rules read the answer (`Match.rule`, one of `RULES`), so an
evaluation can count how many answers each rule decided; `is_correct` is its boolean.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = [
    "RULES",
    "Match",
    "normalise_answer",
    "match_option",
    "match_answer",
    "is_correct",
    "parse_options",
    "option_letter",
    "strip_answer_phrase",
]

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# How an answer was read (Match.rule), most literal first. Onto options: `letter` (A, (B),
# "B) False"), `option_text` (the option's whole text), `numeric` (a number equal to one option's,
# also for free answers: "5 cows", "x = 5", "1/2", 3.0000001), `synonym` (yes for True, uncertain
# for Unknown), `phrase` (inside exactly one option), `clause` (one clause of the answer is one
# option), `keywords` (names one option's distinguishing words). Free answers: `exact` (the same
# canonical text), `yes_no` (a program's True for gold Yes). `unmapped`: there was an answer but
# it maps onto no option or ambiguously; `none`: no answer at all.
RULES: tuple[str, ...] = ("letter", "option_text", "numeric", "synonym", "phrase", "clause", "keywords",
                          "exact", "yes_no", "unmapped", "none")


@dataclass(frozen=True)
class Match:
    """Whether an answer is right, and which rule read it (see `RULES`)."""

    correct: bool
    rule: str
    prediction: str | None = None  # the answer's canonical form (option letter, number, word, ...)

# Words whose meaning is the whole answer; the value is the canonical spelling.
_CANON_WORDS: dict[str, str] = {
    "true": "True",
    "false": "False",
    "yes": "Yes",
    "no": "No",
    "unknown": "Unknown",
    "uncertain": "Unknown",
    "undetermined": "Unknown",
    "cannot be determined": "Unknown",
    "can't be determined": "Unknown",
    "not enough information": "Unknown",
    "valid": "Valid",
    "invalid": "Invalid",
}

# Cross-family equivalences used only when the exact family is not available: a program that
# prints True for "Does Elanor tell the truth?" (gold "Yes") means Yes. Unknown/Valid have no
# cross-family partner on purpose: "Unknown" is not "No".
_BOOL_EQUIV: dict[str, str] = {"True": "Yes", "Yes": "True", "False": "No", "No": "False"}

# Phrases that introduce a final answer in free text ("So the answer is (B).").
_ANSWER_PHRASE = re.compile(
    r"(?:final\s+answer|correct\s+(?:answer|option|choice)|the\s+answer|answer)\s*(?:is\b|:|=)\s*:?\s*",
    re.IGNORECASE,
)
# The whole text is one option letter: "A", "(A)", "A)", "A.", "A:", "[A]".
_BARE_LETTER = re.compile(r"^[(\[]?([A-Z])[)\]]?[.:]?$")
# "(a)" / "[a]" with a lower-case letter: the brackets make it a letter, not the article "a".
_BRACKETED_LOWER = re.compile(r"^[(\[]([a-z])[)\]]$")
# "Option B", "choice (c)".
_OPTION_WORD = re.compile(r"^(?:option|choice)\s*[(\[]?([A-Za-z])[)\]]?[.:]?$", re.IGNORECASE)
# A letter followed by option text: "B) False", "(B) False", "B. False", "B: False".
_LETTER_WITH_TEXT = re.compile(r"^(?:\(([A-Z])\)|([A-Z])[).:])\s+(.+)$", re.DOTALL)
# Without options only the bracket forms count: "A. Smith" is more likely a sentence than option A.
_LETTER_PAREN_TEXT = re.compile(r"^(?:\(([A-Z])\)|([A-Z])\))\s+(.+)$", re.DOTALL)
# Several letters: "A, C", "A and B" -- an answer that names more than one option.
_MANY_LETTERS = re.compile(r"^[(\[]?[A-Z][)\]]?(?:\s*(?:,|/|and|or|&)\s*[(\[]?[A-Z][)\]]?)+$")
# Source option strings: "A) True", "(A) circle", "A. text".
_OPTION_SOURCE = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])[).:])\s*(.*)$", re.DOTALL)

_NUMBER = re.compile(r"^[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[-+]?\$?\.\d+$")
_FRACTION = re.compile(r"^([-+]?\d+)\s*/\s*(\d+)$")
# A number named with a label and/or unit words: "x = 5", "cows: 5", "5 cows", "x = 1/2 cup".
# One number only: "x = 5, y = 3" names two values, and which one the question asked for is
# unknown, so it reads as text and matches no single number (a program that prints its whole
# model is not rewarded for containing the gold value).
_LABELLED_NUMBER = re.compile(
    r"^(?:(?P<label>[A-Za-z_][\w ]{0,40}?)\s*[=:]\s*)?"
    r"(?P<num>[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\d+\s*/\s*\d+)"
    r"(?P<units>(?:\s+[A-Za-z][A-Za-z'-]*){0,3})$"
)
# Words after a number that change its value or make it a bound, not a unit: "5 or more",
# "5 thousand", "5 percent", "5 out of 6".
_QUALIFIERS = frozenset({
    "or", "and", "to", "than", "more", "less", "fewer", "over", "under", "about", "approximately", "around",
    "least", "most", "not", "no", "percent", "hundred", "thousand", "million", "billion", "trillion", "dozen",
    "dozens", "half", "times", "plus", "minus", "per", "of", "out", "each",
})
_BRACKETS_ONLY = re.compile(r"^[\s()\[\]{}<>]+$")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?")
_ARTICLES = frozenset({"the", "a", "an"})
_NEGATIONS = frozenset({"not", "no", "never", "none", "neither", "nor", "isn't", "doesn't", "cannot"})


def strip_answer_phrase(text: str) -> str:
    """Reduce a free-text answer to its answer part.

    Takes the text after the last "answer is"/"Answer:" phrase (else the last non-empty line),
    unwraps `\\boxed{}`, markdown and quotes, and drops a final period.

    >>> strip_answer_phrase("Reasoning...\\nSo the answer is **(B)**.")
    '(B)'
    """
    s = text.strip()
    matches = list(_ANSWER_PHRASE.finditer(s))
    if matches:
        s = s[matches[-1].end():]
        s = s.strip().split("\n", 1)[0]
    else:
        lines = [ln for ln in s.splitlines() if ln.strip()]
        s = lines[-1] if lines else ""
    boxed = re.search(r"\\boxed\{([^{}]*)\}", s)
    if boxed:
        s = boxed.group(1)
    s = s.strip()
    # Markdown emphasis/code and quotes around the answer; a sentence-final period or comma.
    for _ in range(3):
        s = s.strip().strip("*`\"'“”‘’").strip()
        s = re.sub(r"[.!;,]+$", "", s).strip()
    s = s.strip("$").strip()
    return re.sub(r"\s+", " ", s)


def parse_options(options: list[str]) -> list[tuple[str, str]]:
    """Split source option strings into (letter, text); unlettered options get A, B, ... by position.

    >>> parse_options(["A) True", "(B) circle", "Unknown"])
    [('A', 'True'), ('B', 'circle'), ('C', 'Unknown')]
    """
    out: list[tuple[str, str]] = []
    for i, opt in enumerate(options):
        m = _OPTION_SOURCE.match(str(opt))
        if m:
            out.append((m.group(1) or m.group(2), m.group(3).strip()))
        else:
            out.append((_LETTERS[i] if i < len(_LETTERS) else str(i), str(opt).strip()))
    return out


def option_letter(text: str) -> str | None:
    """The option letter a short answer names, if it is written as one: "A", "(a)", "Option C".

    >>> option_letter("(b)"), option_letter("Option C"), option_letter("a")
    ('B', 'C', None)
    """
    s = text.strip()
    for pat in (_BARE_LETTER, _BRACKETED_LOWER, _OPTION_WORD):
        m = pat.match(s)
        if m:
            return m.group(1).upper()
    return None


def _canon_number(s: str) -> str | None:
    if not _NUMBER.match(s):
        return None
    try:
        d = Decimal(s.replace(",", "").replace("$", ""))
    except InvalidOperation:
        return None
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _canon_fraction(s: str) -> str | None:
    """ "1/2" -> "0.5" (a decimal when it terminates, so it meets gold "0.5"), "2/6" -> "1/3"."""
    m = _FRACTION.match(s)
    if not m or int(m.group(2)) == 0:
        return None
    f = Fraction(int(m.group(1)), int(m.group(2)))
    rest = f.denominator
    for p in (2, 5):
        while rest % p == 0:
            rest //= p
    if rest != 1:
        return f"{f.numerator}/{f.denominator}"
    return _canon_number(str(Decimal(f.numerator) / Decimal(f.denominator)))


def _labelled_number(s: str) -> str | None:
    """The one number of "5 cows", "x = 5", "total: 1/2", canonical; None for anything else."""
    m = _LABELLED_NUMBER.match(s)
    if not m:
        return None
    words = m.group("units").lower().split() + (m.group("label") or "").lower().split()
    if set(words) & (_QUALIFIERS | _NEGATIONS):
        return None
    num = re.sub(r"\s+", "", m.group("num"))
    return _canon_number(num) or _canon_fraction(num)


def _value(s: str) -> Fraction | None:
    """The exact value of a canonical number ("0.5", "-3", "1/3"), else None."""
    if _canon_number(s) is not None:
        return Fraction(Decimal(_canon_number(s)))
    m = _FRACTION.match(s)
    if m and int(m.group(2)) != 0:
        return Fraction(int(m.group(1)), int(m.group(2)))
    return None


def _same_number(a: Fraction, b: Fraction) -> bool:
    # Programs print floats: 0.30000000000000004 is 0.3.
    return abs(a - b) <= Fraction(1, 10**6) * max(1, abs(b))


def _canon_word(s: str) -> str | None:
    return _CANON_WORDS.get(re.sub(r"\s+", " ", s.strip().lower()))


def _tokens(s: str) -> list[str]:
    out = []
    for t in _TOKEN.findall(s.lower()):
        if t in _ARTICLES:
            continue
        if t[0].isdigit():
            t = _canon_number(t) or t
        out.append(t)
    return out


def _contains(hay: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(hay[i:i + n] == needle for i in range(len(hay) - n + 1))


def match_option(answer: str | None, options: list[str]) -> str | None:
    """Map an answer (letter, option text, or a value such as a program prints) onto an option letter.

    Returns None when nothing matches or when the match is ambiguous.

    >>> opts = ["A) The red book is the second from the left.", "B) The blue book is the second from the left."]
    >>> match_option("B", opts), match_option("the blue book", opts), match_option("book", opts)
    ('B', 'B', None)
    """
    return _read_option(answer, options)[0]


def _read_option(answer: str | None, options: list[str]) -> tuple[str | None, str]:
    """(option letter or None, the rule that read it; see RULES)."""
    if answer is None or not options:
        return None, "none"
    parsed = parse_options(options)
    letters = [L for L, _ in parsed]
    s = strip_answer_phrase(str(answer))
    if not s:
        return None, "none"

    # 1. The answer is written as a letter.
    letter = option_letter(s)
    if letter is not None:
        return (letter, "letter") if letter in letters else (None, "unmapped")
    m = _LETTER_WITH_TEXT.match(s)
    if m:
        letter = m.group(1) or m.group(2)
        if letter not in letters:
            return None, "unmapped"
        # "B) False" is B unless its text is exactly a *different* option's text.
        by_text, _ = _match_value(m.group(3), parsed, exact_only=True)
        return (letter, "letter") if by_text in (None, letter) else (None, "unmapped")
    if _MANY_LETTERS.match(s):
        return None, "unmapped"
    return _match_value(s, parsed)


# Words an answer may add to the option it names without saying anything the option does not:
# "Eve is third" for "Eve finished third".
_FILLER = frozenset({"is", "are", "was", "were", "be"})


def _match_value(value: str, parsed: list[tuple[str, str]], exact_only: bool = False) -> tuple[str | None, str]:
    unmapped: tuple[None, str] = (None, "unmapped")
    vt = _tokens(value)
    if not vt:
        return unmapped
    opt_tokens = [(L, _tokens(t)) for L, t in parsed]

    # 2. Exact option text (ignoring case, articles, punctuation; 3.0 == 3).
    exact = [L for L, ot in opt_tokens if ot == vt]
    if len(exact) == 1:
        return exact[0], "option_text"
    if exact or exact_only:
        return unmapped

    # 2b. A number against numeric options, by value: "1/2" is "0.5", "x = 5" is "5".
    number = _number_of(value)
    if number is not None:
        values = [(L, _number_of(t)) for L, t in parsed]
        equal = [L for L, v in values if v is not None and _same_number(v, number)]
        if len(equal) == 1:
            return equal[0], "numeric"
        if equal or any(v is not None for _, v in values):
            return unmapped  # a number that is none (or several) of the numeric options

    # 3. Boolean-like synonyms: "yes" for a True/False question, "uncertain" for Unknown.
    vw = _canon_word(" ".join(vt))
    if vw is not None:
        words = [(L, _canon_word(" ".join(ot))) for L, ot in opt_tokens]
        same = [L for L, w in words if w == vw]
        if len(same) == 1:
            return same[0], "synonym"
        cross = [L for L, w in words if w is not None and w == _BOOL_EQUIV.get(vw)]
        if not same and len(cross) == 1 and not any(w == vw for _, w in words):
            return cross[0], "synonym"
        if any(w is not None for _, w in words):
            return unmapped  # a yes/no-like value against yes/no-like options that did not match

    # 4. The value as a phrase inside exactly one option ("Eve" in "Eve finished last").
    inside = [L for L, ot in opt_tokens if _contains(ot, vt)]
    if len(inside) == 1:
        return (inside[0], "phrase") if _negation_ok(vt, dict(opt_tokens)[inside[0]]) else unmapped

    # 4b. A clause of the value is exactly one option: a program printed the whole assignment
    #     ("Carol is a knight, Dave is a knave, Kevin is a knave") for "which is true about Kevin?"
    #     (measured on synthetic knights-and-knaves). Clauses, not substrings: the list "Juan, Marc,
    #     Paul, Trisha" must not select the option "Juan, Marc, Paul".
    clauses = [_tokens(c) for c in re.split(r"[,;]|\band\b", value)]
    whole = [L for L, ot in opt_tokens if any(ot == c for c in clauses)]
    if len(clauses) > 1 and len(whole) == 1:
        return whole[0], "clause"
    if len(whole) > 1:
        return unmapped

    # 5. The option whose distinguishing words (those not shared by every option) the value names;
    #    the most specific such option wins, a tie is ambiguous.
    common = set.intersection(*(set(ot) for _, ot in opt_tokens)) if opt_tokens else set()
    vset = set(vt)
    covered = []
    for L, ot in opt_tokens:
        dist = set(ot) - common
        if dist and dist <= vset:
            covered.append((len(dist), L, ot))
    if not covered:
        return unmapped
    covered.sort(key=lambda c: -c[0])
    if len(covered) > 1 and covered[0][0] == covered[1][0]:
        return unmapped
    best = covered[0]
    # The more specific option must contain every less specific one, else the value names two things.
    if any(not (set(c[2]) - common) <= (set(best[2]) - common) for c in covered[1:]):
        return unmapped
    # The value may say less than the option, never more: "The red book is the rightmost" names
    # red, but "rightmost" contradicts "second from the left", and no option says it.
    if vset - set(best[2]) - _FILLER:
        return unmapped
    return (best[1], "keywords") if _negation_ok(vt, best[2]) else unmapped


def _number_of(text: str) -> Fraction | None:
    """The value of a text that is one number (plain, a fraction, or labelled: "x = 5", "5 cows")."""
    s = strip_answer_phrase(text)
    canon = _canon_number(s) or _canon_fraction(s) or _labelled_number(s)
    return _value(canon) if canon is not None else None


def _negation_ok(value_tokens: list[str], option_tokens: list[str]) -> bool:
    """"not Eve" must not select the option about Eve."""
    return not (set(value_tokens) & _NEGATIONS) - set(option_tokens)


def normalise_answer(text: str | None, options: list[str] | None = None) -> str | None:
    """Canonical form of an answer; with `options`, the option letter (None if it maps onto none).

    >>> normalise_answer("the answer is (B).", ["A) True", "B) False"])
    'B'
    >>> normalise_answer("1,000.0"), normalise_answer("uncertain"), normalise_answer(") ] >")
    ('1000', 'Unknown', ') ] >')
    >>> normalise_answer("x = 5"), normalise_answer("5 cows"), normalise_answer("1/2")
    ('5', '5', '0.5')
    """
    if text is None:
        return None
    if options:
        return match_option(str(text), options)
    return _read_free(str(text))[0]


def _read_free(text: str) -> tuple[str | None, str]:
    """(canonical form, rule) of an answer to a question without options."""
    s = strip_answer_phrase(text)
    if not s:
        return None, "none"
    letter = option_letter(s)
    if letter is not None:
        return letter, "exact"
    m = _LETTER_PAREN_TEXT.match(s)
    if m:
        return m.group(1) or m.group(2), "exact"
    word = _canon_word(s)
    if word is not None:
        return word, "exact"
    num = _canon_number(s)
    if num is not None:
        return num, "exact"
    num = _canon_fraction(s) or _labelled_number(s)
    if num is not None:
        return num, "numeric"
    if _BRACKETS_ONLY.match(s):
        return " ".join(ch for ch in s if not ch.isspace()), "exact"
    words = _word_list(s)
    if words is not None:
        return " ".join(words), "exact"
    return s, "exact"


def _word_list(s: str) -> list[str] | None:
    """A printed list of words: "['a', 'b']" or "a, b, c"; None if `s` is not one."""
    if s.startswith("[") and s.endswith("]"):
        try:
            value = ast.literal_eval(s)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
            return [str(v).strip() for v in value]
    if "," in s:
        parts = [p.strip() for p in s.split(",")]
        if all(p and " " not in p for p in parts):
            return parts
    return None


def match_answer(prediction: str | None, gold: str | None, options: list[str] | None = None) -> Match:
    """Whether `prediction` answers `gold`, and which rule read the prediction (see `RULES`).

    The one scorer of the project: eval accuracy and the training rewards both come through it
    (`is_correct` is its boolean). Comparison is case-insensitive; numbers compare by value; a
    True/False answer counts for a Yes/No gold (and the reverse) because programs print Python
    booleans. A wrong answer keeps the rule that read it (e.g. "letter" for a wrong letter).

    >>> match_answer("(b)", "B", ["A) True", "B) False"])
    Match(correct=True, rule='letter', prediction='B')
    >>> match_answer("x = 5", "5").rule, match_answer("True", "Yes").rule, match_answer(None, "5").rule
    ('numeric', 'yes_no', 'none')
    """
    if prediction is None:
        return Match(False, "none")
    if options:
        letter, rule = _read_option(str(prediction), options)
        if letter is None:
            return Match(False, rule)
        return Match(gold is not None and letter == normalise_answer(gold, options), rule, letter)
    p, rule = _read_free(str(prediction))
    g = normalise_answer(gold) if gold is not None else None
    if p is None or g is None:
        return Match(False, rule, p)
    if p.casefold() == g.casefold():
        return Match(True, rule, p)
    pv, gv = _value(p), _value(g)
    if pv is not None and gv is not None and _same_number(pv, gv):
        return Match(True, "numeric", p)
    if _BOOL_EQUIV.get(p) == g:
        return Match(True, "yes_no", p)
    return Match(False, rule, p)


def is_correct(prediction: str | None, gold: str | None, options: list[str] | None = None) -> bool:
    """Whether `prediction` answers `gold` (`match_answer(...).correct`).

    >>> is_correct("(b)", "B", ["A) True", "B) False"]), is_correct("3.0", "3"), is_correct("yes", "True")
    (True, True, True)
    """
    return match_answer(prediction, gold, options).correct
