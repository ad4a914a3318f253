"""Answer normalisation, table-driven: each case says what it guards against. (<1 s)"""

from __future__ import annotations

import pytest

from l2l.data import is_correct, match_option, normalise_answer, parse_options
from l2l.data.answers import RULES, match_answer

TF = ["A) True", "B) False"]
TFU = ["A) True", "B) False", "C) Unknown"]
FOLIO = ["A) True", "B) False", "C) Uncertain"]
YN = ["(A) Yes", "(B) No"]
BOOKS = [
    "A) The red book is the second from the left.",
    "B) The blue book is the second from the left.",
    "C) The green book is the second from the left.",
]
RACE = ["(A) Ana finished third", "(B) Eve finished third", "(C) Rob finished third"]
BIRDS = ["(A) The blue jay is the leftmost", "(B) The owl is the leftmost", "(C) The blue heron is the leftmost"]
LSAT = ["A) Fred, Juan", "B) Juan, Paul", "C) Juan, Marc, Paul", "D) Juan, Marc, Trisha", "E) Juan, Nita, Trisha"]
DATES = ["(A) 12/11/1937", "(B) 12/25/1937", "(C) 01/04/1938"]
COUNTS = ["A) 2", "B) 3", "C) 12"]
KEVIN = ["A) Kevin is a knight", "B) Kevin is a knave"]
SHAPES = ["(A) circle", "(B) heptagon", "(C) hexagon", "(D) kite"]
HALVES = ["A) 0.25", "B) 0.5", "C) 5"]

# (text, options, expected)
WITH_OPTIONS = [
    ("A", TF, "A"),  # bare letter
    ("(B)", TF, "B"),  # BBH-style bracketed letter
    ("B)", TF, "B"),  # Logic-LM-style letter with closing paren
    ("B.", TF, "B"),  # letter with a period
    ("(b)", TF, "B"),  # lower-case letter in brackets is still a letter
    ("Option B", TF, "B"),  # "Option X" wording
    ("choice (a)", TF, "A"),  # "choice (x)" wording, lower case
    ("The answer is B.", TF, "B"),  # answer phrase + final period
    ("Reasoning first.\nSo the answer is (A).", TF, "A"),  # the last answer phrase of a free-text answer
    ("Answer: **B**", TF, "B"),  # markdown bold around the letter
    ("A) True", TF, "A"),  # the whole option string
    ("B) True", TF, None),  # letter and text contradict each other: ambiguous, refuse
    ("(C) Unknown", TFU, "C"),  # BBH form of the whole option
    ("D", TF, None),  # letter outside the options
    ("A, B", TFU, None),  # two letters: not one answer
    ("True", TF, "A"),  # exact option text
    ("false", TFU, "B"),  # option text, other case
    ("Unknown", FOLIO, "C"),  # Unknown is a synonym of Uncertain (program vocab vs FOLIO vocab)
    ("uncertain", TFU, "C"),  # ... and the reverse
    ("yes", TF, "A"),  # yes means True where the options have no Yes
    ("No", TFU, "B"),  # no means False where the options have no No
    ("True", YN, "A"),  # a program's Python True means Yes for a yes/no option set
    ("maybe", TFU, None),  # a word that is none of the options
    ("Eve", RACE, "B"),  # a value naming exactly one option's object
    ("the blue book", BOOKS, "B"),  # a phrase inside exactly one option, article ignored
    ("blue book is second from left", BOOKS, "B"),  # loose paraphrase naming blue
    ("The blue book is the second from the left", BOOKS, "B"),  # full option text without letter/period
    ("book", BOOKS, None),  # a word in every option: ambiguous
    ("not red", BOOKS, None),  # negated value must not select the red option
    ("blue", BIRDS, None),  # blue jay or blue heron: ambiguous
    ("blue jay", BIRDS, "A"),  # the more specific phrase resolves it
    ("Juan, Marc, Paul", LSAT, "C"),  # AR-LSAT list answers by exact text
    ("Juan", LSAT, None),  # a name in four options: ambiguous
    ("Juan, Paul", LSAT, "B"),  # exact list, not the longer list that contains it
    ("Carol is a knight, Dave is a knave, Kevin is a knave", KEVIN, "B"),  # a whole assignment: one clause is one option
    ("Juan, Marc, Paul, Trisha", LSAT, None),  # a longer list is not the option it starts like
    ("Kevin is a knight and Carol is a knave", ["A) Kevin is a knight", "B) Carol is a knave"], None),  # two options hold: ambiguous
    ("12/25/1937", DATES, "B"),  # a date printed by a program
    ("1/4/1938", DATES, "C"),  # leading zeros do not matter
    ("3.0", COUNTS, "B"),  # numbers by value
    ("2", COUNTS, "A"),  # "2" must not match "12"
    ("kite", SHAPES, "D"),  # single-word options
    ("", TF, None),  # empty answer
    ("ANSWER: B", TF, "B"),  # program's own answer line passed through unparsed
    # Extra words that contradict the option (issue 17): "red" names option A, but "rightmost"
    # is not what A says ("second from the left"), and no option says it.
    ("The red book is the rightmost", BOOKS, None),
    ("red book is leftmost", BOOKS, None),  # the same with a different position word
    ("The red book is the second from the left", BOOKS, "A"),  # ... while A's own text still maps
    ("red book is second from left", BOOKS, "A"),  # ... and so does A's text with words left out
    ("Eve is third", RACE, "B"),  # a copula is not a contradiction ("is" for "finished")
    ("Eve finished first", RACE, None),  # but a different place is, though only Eve is named
    ("1/2", HALVES, "B"),  # a fraction against decimal options, by value
    ("x = 0.25", HALVES, "A"),  # a labelled number
    ("5 cows", HALVES, "C"),  # a number with its unit
    ("15", HALVES, None),  # 15 is none of the numbers (5 is not inside 15)
    ("0.75", HALVES, None),  # a number matching no numeric option does not fall through to word rules
]


@pytest.mark.parametrize("text,options,expected", WITH_OPTIONS)
def test_normalise_with_options(text, options, expected):
    assert normalise_answer(text, options) == expected


# (text, expected) without options
WITHOUT_OPTIONS = [
    ("True", "True"),  # canonical boolean
    ("false", "False"),  # lower-case boolean
    ("YES", "Yes"),  # yes/no stay in their own family (gold "Yes" stays "Yes")
    ("no.", "No"),  # trailing period
    ("Uncertain", "Unknown"),  # uncertain and unknown are one answer
    ("valid", "Valid"),  # formal_fallacies vocabulary
    ("Invalid", "Invalid"),  # ... and its negative
    ("3", "3"),  # integer
    ("3.0", "3"),  # float that is an integer
    ("3.50", "3.5"),  # trailing zeros dropped
    ("-20", "-20"),  # negative numbers keep their sign
    ("1,000", "1000"),  # thousands separators
    ("$1,250.00", "1250"),  # currency sign
    ("The answer is 42.", "42"),  # answer phrase around a number
    ("answer: -7", "-7"),  # a negative number after "answer:" keeps its sign
    ("(A)", "A"),  # BBH gold letter
    ("(C) circle", "C"),  # letter with text, bracket form
    ("] ) >", "] ) >"),  # dyck gold stays as it is
    ("])>", "] ) >"),  # dyck without spaces
    ("apple, banana, cherry", "apple banana cherry"),  # word list with commas
    ("['apple', 'banana']", "apple banana"),  # a printed Python list of words
    ("apple   banana", "apple banana"),  # repeated spaces
    ('"hello"', "hello"),  # quotes around a word
    ("\\boxed{17}", "17"),  # LaTeX boxed answer
    ("", None),  # nothing
    ("A. Smith went home", "A. Smith went home"),  # "A." at a sentence start is not option A
]


@pytest.mark.parametrize("text,expected", WITHOUT_OPTIONS)
def test_normalise_without_options(text, expected):
    assert normalise_answer(text) == expected


# (prediction, gold, options, expected)
CORRECTNESS = [
    ("(b)", "B", TF, True),  # letter forms agree
    ("False", "B", TF, True),  # option text against the gold letter
    ("True", "B", TF, False),  # wrong option
    ("3.0", "3", None, True),  # numbers by value
    ("3.0000001", "3", None, True),  # float noise within tolerance
    ("3.1", "3", None, False),  # a different number
    ("True", "Yes", None, True),  # program prints True for a Yes gold (web_of_lies)
    ("False", "No", None, True),  # ... and False for No
    ("False", "Yes", None, False),  # cross-family only for the matching polarity
    ("Unknown", "No", None, False),  # Unknown is never No
    ("APPLE banana", "apple banana", None, True),  # word lists ignore case
    ("apple", "apple banana", None, False),  # a partial list is wrong
    (None, "A", TF, False),  # no prediction is never correct
    ("blue", "A", BIRDS, False),  # ambiguous mapping counts as wrong
    ("The red book is the rightmost", "A", BOOKS, False),  # extra words contradict option A (issue 17)
    ("5 cows", "5", None, True),  # unit word after the number
    ("x = 5", "5", None, True),  # a program printing its variable
    ("1/2", "0.5", None, True),  # a fraction against a decimal gold
    ("0.5", "1/2", None, True),  # ... and the reverse
    ("1/3", "0.333333", None, True),  # a non-terminating fraction within the float tolerance
    ("15", "5", None, False),  # 5 is not inside 15
    ("5", "15", None, False),  # ... nor the reverse
    ("15 cows", "5", None, False),  # the unit does not change which number it is
    ("x = 5, y = 3", "5", None, False),  # two values: the gold is one of them, but which was asked is unknown; not rewarded
    ("not 5", "5", None, False),  # a negated number is not the number
    ("5 or 6", "5", None, False),  # two candidate values
]


@pytest.mark.parametrize("prediction,gold,options,expected", CORRECTNESS)
def test_is_correct(prediction, gold, options, expected):
    assert is_correct(prediction, gold, options) is expected


def test_parse_options_keeps_source_letters_and_fills_missing_ones():
    assert parse_options(["(B) x", "C) y"]) == [("B", "x"), ("C", "y")]  # source letters kept
    assert parse_options(["x", "y"]) == [("A", "x"), ("B", "y")]  # positional letters


def test_match_option_is_deterministic_under_option_order():
    # Reordering options must move the answer with its option, never change which text is chosen.
    reordered = [BOOKS[2].replace("C)", "A)"), BOOKS[0].replace("A)", "B)"), BOOKS[1].replace("B)", "C)")]
    assert match_option("the blue book", reordered) == "C"


# (prediction, gold, options, correct, rule): which rule read each answer, so an evaluation can
# count how many answers each rule decided (summary.json "match_rules").
RULE_CASES = [
    ("(B)", "B", TF, True, "letter"),  # a letter
    ("A) True", "B", TF, False, "letter"),  # a wrong letter keeps its rule
    ("False", "B", TF, True, "option_text"),  # the option's whole text
    ("1/2", "B", HALVES, True, "numeric"),  # a number equal to one option's
    ("yes", "A", TF, True, "synonym"),  # yes for True
    ("Eve", "B", RACE, True, "phrase"),  # inside exactly one option
    ("Carol is a knight, Dave is a knave, Kevin is a knave", "B", KEVIN, True, "clause"),  # one clause is one option
    ("blue book second from left", "B", BOOKS, True, "keywords"),  # the option's distinguishing words, not as one phrase
    ("The red book is the rightmost", "A", BOOKS, False, "unmapped"),  # contradicting words: no option
    ("maybe", "C", TFU, False, "unmapped"),  # an answer that is none of the options
    (None, "A", TF, False, "none"),  # no answer at all
    ("3.0", "3", None, True, "exact"),  # the same canonical number
    ("3.0000001", "3", None, True, "numeric"),  # equal by value within tolerance
    ("x = 5", "5", None, True, "numeric"),  # a labelled number
    ("True", "Yes", None, True, "yes_no"),  # a Python boolean for a Yes gold
    ("apple banana", "apple banana", None, True, "exact"),  # free text
    ("4", "5", None, False, "exact"),  # a wrong number read as it was written
]


@pytest.mark.parametrize("prediction,gold,options,correct,rule", RULE_CASES)
def test_match_answer_names_the_rule(prediction, gold, options, correct, rule):
    m = match_answer(prediction, gold, options)
    assert (m.correct, m.rule) == (correct, rule)
    assert m.rule in RULES and is_correct(prediction, gold, options) is correct  # is_correct is its boolean
