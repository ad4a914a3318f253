"""Prompt builders: the right template, example and solver API for each kind of question."""

import json

import pytest

from l2l.prompts import answer_kind, cot_messages, examples, formulator_messages, generator_messages, program_messages, repair_messages
from l2l.types import Formulation
from solvers import execute


def test_answer_kind():
    assert answer_kind("q", ["A) True", "B) False", "C) Uncertain"]) == "truth"
    assert answer_kind("q", ["A) The owl is first.", "B) The crow is first."]) == "choice"
    assert answer_kind("q", None) == "value"
    assert answer_kind("Question: Ann lies. Bo says Ann lies. Does Bo tell the truth?", None) == "truth"
    assert answer_kind("Is it raining? Ann went out. Who went out?", None) == "value"


def test_formulator_prompt_ends_with_the_question_and_shows_a_valid_example():
    msgs = formulator_messages("Is Bob red?", ["A) True", "B) False"])
    assert msgs[0]["role"] == "system" and msgs[-1]["role"] == "user"
    assert msgs[-1]["content"].startswith("Problem:\nIs Bob red?") and "B) False" in msgs[-1]["content"]
    Formulation.from_dict(json.loads(msgs[2]["content"]))  # the worked example is itself valid


def test_generator_prompt_uses_the_backend_of_the_model_type():
    f = Formulation("find x", "symbolic", [], ["x + 1 == 3"], "x")
    msgs = generator_messages("What is x if x + 1 = 3?", f)
    assert "solve_one" in msgs[0]["content"] and "Puzzle()" not in msgs[0]["content"]
    f2 = Formulation("order", "csp", [], ["a < b"], "which option")
    msgs2 = generator_messages("Which is first?", f2, ["A) a", "B) b"])
    assert "p.choose" in msgs2[0]["content"] and '"model_type": "csp"' in msgs2[-1]["content"]


def test_repair_prompt_carries_the_error_and_the_failed_program():
    base = program_messages("q", None)
    msgs = repair_messages(base, "answer(x)", "NameError: name 'x' is not defined")
    assert msgs[-2]["content"].startswith("```python\nanswer(x)")
    assert "NameError" in msgs[-1]["content"]


def test_cot_prompt_asks_for_a_letter_when_there_are_options():
    assert "letter" in cot_messages("q", ["A) x", "B) y"])[0]["content"]


def test_worked_examples_run_to_their_stated_answers():
    # The examples teach the model the helper API: each must actually work in the sandbox, through
    # the one execution path with the prelude its formulation's model type routes to, and its
    # answer must come out of a solver helper (what the rewards pay for).
    from l2l.data import is_correct
    from l2l.pipeline.execute import ExecLimits, certified, run_programs
    from l2l.types import Program

    exs = examples()
    for ex in exs:
        assert Formulation.from_dict(ex["formulation"]).backend == ex["backend"], ex["kind"]
    results = run_programs([Program(ex["backend"], ex["program"]) for ex in exs], ExecLimits(timeout_s=30))
    for ex, r in zip(exs, results):
        assert r.status == "ok", (ex["kind"], r.error, r.stderr)
        assert is_correct(r.answer, ex["answer"], ex["options"]), (ex["kind"], r.answer, ex["answer"])
        assert certified(r), (ex["kind"], r.solver_events)
        assert "UNIQUE:" not in ex["program"] and "print(" not in ex["program"]
        for c in ex["formulation"]["constraints"]:
            assert " # " in c, (ex["kind"], c)  # formula # statement, as the formulator prompt asks
    # every solver backend the prompts offer has a worked example
    assert {ex["backend"] for ex in exs} == {"z3", "sympy", "constraint"}
    direct = execute(exs[0]["program"], backend=exs[0]["backend"], timeout_s=30)  # the plain executor agrees
    assert direct.answer == exs[0]["answer"]


@pytest.mark.parametrize("question, options, kind", [
    ("On a shelf there are three books. The red book is left of the blue book. Which book is in the middle?", None, "order"),
    ("Knights always tell the truth and knaves always lie. A says: 'B is a knave.' Who is a knight?", None, "value"),
    ("A farm has 20 heads and 56 legs among hens and pigs. How many pigs are there?", None, "number"),
    # integer optimisation: without its own example the 1.5B model copied the arithmetic example's names
    ("A shop sells pens at $2 profit and pads at $3. There are 40 hours; at most 10 pads can be sold. "
     "What is the largest profit?", None, "optimum"),
    ("They need no fewer than 18 units of vitamins. How many dollars must be spent at least?", None, "optimum"),
    ("In a race, Ann finished before Bob. Which is true?", ["A) Ann finished first.", "B) Bob finished first."], "choice"),
    # free time slot (BBH temporal_sequences): with the shelf example the 1.5B model copied its book names
    ("Today, Tom went to the zoo. Between what times could they have gone? Tom woke up at 5am. "
     "Ann saw Tom at the gym from 5am to 7am.", ["A) 5am to 7am", "B) 7am to 9am"], "schedule"),
    ("All cats are animals. Tom is a cat. Is Tom an animal?", ["A) True", "B) False", "C) Unknown"], "truth"),
    # Liar chains get a liar example whatever the answer form (the cue words are specific).
    ("Question: Ann lies. Bo says Ann tells the truth. Does Bo tell the truth?", None, "speakers"),
    ("Ann is a truth-teller. Bo says Ann lies. Which is true?", ["A) Bo is honest", "B) Bo is a liar"], "value|speakers"),
    ("Ann lies. Bo claims Ann is honest. Does Bo tell the truth?", ["A) Yes", "B) No"], "speakers"),
    # zebra-style matching (python-constraint route): "left of" must not pull in the ordering example
    ("Four houses stand in a row. Each person keeps a different pet. The dog owner lives directly to the left of Ann's house. "
     "Who keeps the fish?", None, "matching"),
    ("Three houses in a row are painted red, green and blue. The tea drinker lives in the red house. What does Bo drink?", None, "matching"),
])
def test_pick_example_matches_structure_and_answer_kind(question, options, kind):
    from l2l.prompts import pick_example

    assert pick_example(question, options)["kind"] in kind.split("|")


@pytest.mark.parametrize("question, options, helper", [
    # grouping (AR-LSAT style): people share groups, so an ordering example would teach Distinct positions
    ("Six members must each be placed on one of three committees. Pia and Nita cannot be in the same group. "
     "Which one of the following must be true?", ["A) Pia serves on the budget committee", "B) Nita serves on it"], "p.Assign("),
    ("Four students are each assigned to exactly one of two teams. Which one could be true?", ["A) x", "B) y"], "p.Assign("),
    # ordering with options keeps the shelf example
    ("On a shelf, the red book is left of the blue book. Which is leftmost?", ["A) red", "B) blue"], "p.Order("),
])
def test_pick_example_tells_grouping_from_ordering(question, options, helper):
    from l2l.prompts import pick_example

    assert helper in pick_example(question, options)["program"]


def test_pick_example_respects_the_backend():
    from l2l.prompts import pick_example

    ex = pick_example("On a shelf, the red book is left of the blue book. Which is leftmost?", None, backend="sympy")
    assert ex["backend"] == "sympy"


def test_pick_example_gives_z3_optimisation_questions_the_maximize_example():
    from l2l.prompts import pick_example

    ex = pick_example("How many dollars of profit can be earned at most?", None, backend="z3")
    assert "p.maximize(" in ex["program"]


def test_matching_formulations_get_the_python_constraint_prompt():
    # The "matching" model type routes to python-constraint: its API, its worked example, and an
    # answer rule that names its own helper rather than z3's p.choose / p.truth.
    f = Formulation("who keeps the fish", "matching", [], ["ann == 1 # Ann lives in the first house."], "the fish's owner")
    assert f.backend == "constraint"
    msgs = generator_messages("Three houses in a row. Ann lives in the first house. Who keeps the fish?", f)
    assert "solve_unique" in msgs[0]["content"] and "Puzzle()" not in msgs[0]["content"]
    assert "AllDifferentConstraint()" in msgs[2]["content"]
    choice = generator_messages("Who keeps the fish?", f, ["A) Ann", "B) Bo"])[0]["content"]
    assert "p.choose" not in choice and "solve_unique" in choice
    assert "p.truth" not in generator_messages("Does Ann keep the fish?", f, ["A) True", "B) False"])[0]["content"]


def test_the_generator_reads_the_formulation_statement_first():
    # Both stages see each constraint after its statement (l2l.types.statement_first): formula
    # first, the 1.5B wrote the worked example's formula for the line at the same place.
    f = Formulation("who lies", "sat", [], ["lies(kim) # Kim lies.", "bo == lies(kim) # Bo says Kim lies."], "bo")
    msgs = generator_messages("Kim lies. Bo says Kim lies. Does Bo tell the truth?", f)
    assert '"Kim lies. => lies(kim)"' in msgs[-1]["content"] and '"Bo says Kim lies. => bo == lies(kim)"' in msgs[-1]["content"]
    assert " # " not in json.loads(msgs[1]["content"].split("Formal model:\n", 1)[1])["constraints"][0]
