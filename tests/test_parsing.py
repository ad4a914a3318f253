"""Extraction of formulations, programs and final answers from raw model text."""

import json

import pytest

from l2l.parsing import extract_final_answer, extract_json, extract_program, parse_formulation
from l2l.types import FormulationError

FORM = '{"summary": "s", "model_type": "sat", "variables": ["a"], "constraints": ["a"], "objective": "a"}'


@pytest.mark.parametrize(
    "text",
    [
        FORM,  # bare JSON
        f"Here is the model:\n```json\n{FORM}\n```\nDone.",  # fenced, with chatter around it
        f"```\n{FORM}\n```",  # unlabelled fence
        FORM.replace('"a"]', '"a",]'),  # trailing comma, a common small-model slip
        'Note {not json} then ' + FORM,  # a non-JSON brace group before the real object
    ],
)
def test_formulation_found_in_varied_replies(text):
    assert parse_formulation(text).model_type == "sat"


@pytest.mark.parametrize("text, message", [("", "empty"), ("I cannot do that.", "no JSON"), ('{"summary": "x", }}', "does not parse|missing")])
def test_no_json_is_a_clear_error(text, message):
    with pytest.raises(FormulationError, match=message):
        parse_formulation(text)


def test_json_strings_with_braces_do_not_confuse_the_scanner():
    assert extract_json('{"a": "x } y", "b": {"c": 1}}') == {"a": "x } y", "b": {"c": 1}}


def test_program_prefers_the_longest_python_block():
    text = "```python\nx = 1\n```\nand the full one:\n```python\np = Puzzle()\nanswer(1)\n```"
    assert extract_program(text) == "p = Puzzle()\nanswer(1)"


def test_unterminated_block_still_yields_code():
    # A completion cut at the token limit has no closing fence.
    assert extract_program("```python\np = Puzzle()\nanswer(2)").startswith("p = Puzzle()")


def test_bare_code_is_accepted_but_prose_is_not():
    assert extract_program("p = Puzzle()\nanswer(3)") == "p = Puzzle()\nanswer(3)"
    with pytest.raises(ValueError, match="no Python program"):
        extract_program("The answer is obviously B.")
    with pytest.raises(ValueError, match="empty"):
        extract_program("   ")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Step 1...\nStep 2...\nAnswer: B", "B"),
        ("so the final answer is: (C).", "(C)"),
        ("Answer: A\nWait, no.\nAnswer: **True**", "True"),  # the last answer line wins
        ("no marker here\n42", "42"),  # falls back to a short last line
        # no "Answer:" line: the last LaTeX box is the answer (how Qwen ends a long cot)
        ("So n = 16.\n\nTherefore, the number of notebooks is \\(\\boxed{16}\\).", "16"),
        ("\\boxed{3} is wrong; recount: \\boxed{\\frac{1}{2}} is it, so we are done here.", "\\frac{1}{2}"),
        ("Answer: B\nbecause \\boxed{C} was a typo", "B"),  # an explicit answer line still wins
        ("Let me think about who sits where and why it matters", None),  # reasoning cut off: no answer
        ("", None),
    ],
)
def test_final_answer_line(text, expected):
    assert extract_final_answer(text) == expected


# The formulator writes each constraint statement first ("statement => formula"); every later
# stage reads "formula # statement". Cases: (written, held).
@pytest.mark.parametrize("written, held", [
    ("Kim lies. => not kim", "not kim # Kim lies."),                                # the written order
    ("Ann says: 'Ben is a knave.' => ann == (not ben)", "ann == (not ben) # Ann says: 'Ben is a knave.'"),
    ("Every lorpus is a gimpus. => lorpus(x) -> gimpus(x)", "lorpus(x) -> gimpus(x) # Every lorpus is a gimpus."),
    ("not kim # Kim lies.", "not kim # Kim lies."),                                # the old order is kept
    ("x == 1 => y == 2", "x == 1 => y == 2"),              # an implication written with =>, not a statement
    ("Kim lies. => ", "Kim lies. =>"),                                              # no formula: kept, not emptied
    ("a(x) => b(x) # Every a is a b.", "a(x) => b(x) # Every a is a b."),           # old order with => in the formula
])
def test_statement_first_constraints_are_read_formula_first(written, held):
    from l2l.parsing import parse_formulation

    text = json.dumps({"summary": "s", "model_type": "sat", "variables": [{"name": "kim", "type": "bool", "domain": "b"}],
                       "constraints": [written], "objective": "o"})
    assert parse_formulation(text).constraints == [held]


def test_the_formulator_writes_what_it_is_shown_and_trained_on():
    from l2l.prompts import formulator_messages
    from l2l.types import Formulation

    msgs = formulator_messages("Kim lies. Bo says Kim lies. Does Bo tell the truth?")
    shown = json.loads(msgs[2]["content"])["constraints"]  # the worked example's answer
    assert all(" => " in c and " # " not in c for c in shown), shown
    f = Formulation.from_dict(json.loads(msgs[2]["content"]))
    assert all(" # " in c for c in f.constraints)
    assert json.loads(f.as_written())["constraints"] == shown  # SFT targets: the same order as the prompt
