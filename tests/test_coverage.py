"""The check for problem statements a formulation leaves out, and the formulator round it triggers."""

import json

import pytest

from l2l.config import SolveConfig
from l2l.pipeline.coverage import statements, uncovered_statements
from l2l.pipeline.solve import Solver
from l2l.types import Formulation

BIRDS = (
    "On a branch, there are three birds: a blue jay, a crow and an owl. "
    "The crow is to the right of the blue jay. The owl is the leftmost. Which bird is in the middle?"
)


def form(constraints, names="blue_jay, crow, owl"):
    return Formulation.from_dict({
        "summary": "order birds", "model_type": "csp",
        "variables": [{"name": names, "type": "int", "domain": "1..3 (1 = leftmost)"}],
        "constraints": constraints, "objective": "the middle bird",
    })


def test_statements_split_sentences_and_drop_questions():
    assert statements("A says: 'B lies.' B says: 'A lies.' Who lies?") == ["A says: 'B lies.'", "B says: 'A lies.'"]


def test_complete_formulation_has_nothing_missing():
    f = form(["crow > blue_jay # The crow is to the right of the blue jay.", "owl == 1 # The owl is the leftmost."])
    assert uncovered_statements(BIRDS, f) == []


def test_left_out_statement_is_found_with_multi_word_names_and_plurals():
    f = form(["owl == 1 # The owl is the leftmost."])
    assert uncovered_statements(BIRDS, f) == ["The crow is to the right of the blue jay."]
    fruit = "A stand sells apples, kiwis and mangoes. The kiwis are cheaper than the apples. The mangoes are the cheapest."
    f = form(["kiwi < apple # The kiwis are cheaper than the apples."], names="apple, kiwi, mango")
    assert uncovered_statements(fruit, f) == ["The mangoes are the cheapest."]


def test_without_comments_the_check_does_not_guess():
    assert uncovered_statements(BIRDS, form(["owl == 1"])) == []


def _scripted(formulations, program):
    from l2l.backends.scripted import ScriptedBackend

    queue = list(formulations)

    def reply(messages, params):
        if "Python program" in messages[0]["content"]:
            return program
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return ScriptedBackend(reply)


PROGRAM = """```python
p = Puzzle()
places = p.Order(["blue_jay", "crow", "owl"])
blue_jay, crow, owl = places
p.add(crow > blue_jay, owl == 1)
answer(p.solve().at(places, 2))
```"""


def _json(constraints):
    return json.dumps(form(constraints).to_dict())


@pytest.mark.parametrize("enabled", [True, False])
def test_formulator_is_asked_for_left_out_statements(enabled):
    partial = _json(["owl == 1 # The owl is the leftmost."])
    full = _json(["crow > blue_jay # The crow is to the right of the blue jay.", "owl == 1 # The owl is the leftmost."])
    model = _scripted([partial, full], PROGRAM)
    result = Solver(SolveConfig(coverage_repair=enabled), model).solve(BIRDS)
    assert result.answer == "blue_jay"
    formulator_calls = [m for m, _ in model.calls if "Python program" not in m[0]["content"]]
    if enabled:
        assert len(formulator_calls) == 2
        assert "The crow is to the right of the blue jay." in formulator_calls[1][-1]["content"]
        assert len(result.formulation.constraints) == 2
    else:
        assert len(formulator_calls) == 1 and len(result.formulation.constraints) == 1


def test_a_worse_second_formulation_is_not_taken():
    partial = _json(["owl == 1 # The owl is the leftmost."])
    model = _scripted([partial, _json(["owl == 2 # something else"])], PROGRAM)
    result = Solver(SolveConfig(), model).solve(BIRDS)
    assert result.formulation.constraints == ["owl == 1 # The owl is the leftmost."]


def test_unused_variables_sees_code_names_and_strings():
    from l2l.pipeline.coverage import unused_variables, variable_names

    f = form([], names="blue jay, crow, owl")
    assert variable_names(f) == ["blue_jay", "crow", "owl"]
    assert unused_variables('pos = p.Order(["blue jay", "crow"])\np.add(owl == 1)', f) == []
    assert unused_variables("red, green = p.Order(['red', 'green'])\np.add(crow == 1)", f) == ["blue_jay", "owl"]


@pytest.mark.parametrize("broken, expected", [
    # the worked example's objects instead of the model's variables: sent back before running
    ('red, green, dark_blue = p.Order(["red", "green", "dark_blue"])\np.add(red < green)',
     "never uses these variables of the formal model: blue_jay, crow, owl"),
    # the model's variables used but not declared: NameError, and the feedback lists them
    ('red, green, owl = p.Order(["red", "green", "owl"])\np.add(crow > blue_jay)',
     "The formal model's variables are: blue_jay, crow, owl"),
    # names from the worked example the prompt showed (BIRDS gets the race with Ann, Bob, Cy)
    ('ann, bob, owl = p.Order(["ann", "bob", "owl"])\np.add(crow > blue_jay)',
     "uses ann, bob from the worked example"),
])
def test_programs_off_the_model_get_precise_feedback(broken, expected):
    from l2l.backends.scripted import ScriptedBackend

    full = _json(["crow > blue_jay # The crow is to the right of the blue jay.", "owl == 1 # The owl is the leftmost."])
    programs = [f"```python\np = Puzzle()\n{broken}\n```", PROGRAM]
    model = ScriptedBackend(lambda m, p: programs.pop(0) if "Python program" in m[0]["content"] else full)
    result = Solver(SolveConfig(repair_rounds=1), model).solve(BIRDS)
    assert result.answer == "blue_jay" and result.best.repairs == 1
    assert expected in model.calls[-1][0][-1]["content"]


def test_worked_example_names_in_the_program_are_caught():
    from l2l.pipeline.coverage import copied_example_names

    example = form([], names="red, green, dark_blue, white")
    mine = form([], names="kiwis, plums, pears")
    question = "A stand sells kiwis, plums and pears. The kiwis are cheaper than the plums."
    copied = 'red, green, dark_blue, pears = p.Order(["red", "green", "dark_blue", "pears"])\np.add(kiwis < plums)'
    assert copied_example_names(copied, mine, question, example) == ["red", "green", "dark_blue"]
    clean = 'kiwis, plums, pears = p.Order(["kiwis", "plums", "pears"])\np.add(kiwis < plums)'
    assert copied_example_names(clean, mine, question, example) == []
    # a name of the example that the question itself uses is not a copy
    assert copied_example_names("p.add(red == 1)", mine, "The red kiwi is first.", example) == []


