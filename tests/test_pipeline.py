"""The solve pipeline driven by scripted completions, with the real sandbox and real solvers."""

import json

import pytest

from l2l.backends.base import GenerationParams
from l2l.backends.scripted import ScriptedBackend
from l2l.config import SolveConfig
from l2l.errors import InputError
from l2l.pipeline.solve import Solver, validate_question
from l2l.pipeline.vote import vote

QUESTION = "Knights always tell the truth and knaves always lie. A says: 'B is a knave.' B says: 'A and I are both knights.' Who is a knight and who is a knave?"
FORMULATION = json.dumps(
    {
        "summary": "Decide who is a knight.",
        "model_type": "sat",
        "variables": [{"name": "a", "type": "bool", "domain": "knight/knave"}, {"name": "b", "type": "bool", "domain": "knight/knave"}],
        "constraints": ["a == not b # A says B is a knave", "b == (a and b) # B says both are knights"],
        "objective": "who is a knight",
    }
)
GOOD_PROGRAM = """```python
p = Puzzle()
a, b = p.Bools("a b")
p.add(a == Not(b))        # A says: B is a knave.
p.add(b == And(a, b))     # B says: A and I are both knights.
m = p.solve()
role = {True: "a knight", False: "a knave"}
answer(f"A is {role[m[a]]}, B is {role[m[b]]}")
```"""
# Leaves out B's statement: two solutions, which the helper reports instead of guessing.
UNDER_CONSTRAINED = GOOD_PROGRAM.replace("p.add(b == And(a, b))     # B says: A and I are both knights.\n", "")


def by_stage(formulations, programs):
    """A scripted model that answers formulator prompts and generator prompts from two queues."""
    f_queue, p_queue = list(formulations), list(programs)

    def reply(messages, params: GenerationParams):
        is_generator = "Python program" in messages[0]["content"]
        queue = p_queue if is_generator else f_queue
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return ScriptedBackend(reply)


def test_end_to_end_with_a_correct_program():
    model = by_stage([FORMULATION], [GOOD_PROGRAM])
    result = Solver(SolveConfig(), model).solve(QUESTION)
    assert result.status == "solved"
    assert result.answer == "A is a knight, B is a knave"
    assert result.formulation.model_type == "sat"
    assert result.program.backend == "z3" and "p.solve()" in result.program.code
    assert result.best.execution.status == "ok"
    assert set(result.timings) >= {"formulation", "generation", "execution", "total"}


def test_repair_round_sends_the_solver_error_back_and_uses_the_fix():
    model = by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM])
    result = Solver(SolveConfig(repair_rounds=1), model).solve(QUESTION)
    assert result.answer == "A is a knight, B is a knave"
    assert result.best.repairs == 1
    repair_prompt = model.calls[-1][0][-1]["content"]
    assert "several solutions" in repair_prompt  # the helper's message reached the model


@pytest.mark.parametrize("keep", [True, False])
def test_repair_keeps_or_drops_the_worked_example(keep):
    model = by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM])
    result = Solver(SolveConfig(repair_rounds=1, repair_with_example=keep), model).solve(QUESTION)
    assert result.answer == "A is a knight, B is a knave"
    first, repair = [msgs for msgs, _ in model.calls if "Python program" in msgs[0]["content"]]
    assert len(first) == 4  # system, example question, example program, this problem
    assert len(repair) == (6 if keep else 4)
    assert repair[1]["content"] == (first[1]["content"] if keep else first[3]["content"])
    assert "several solutions" in repair[-1]["content"] and UNDER_CONSTRAINED.split("```python")[1][:40] in repair[-2]["content"]


def test_without_repair_the_non_unique_model_is_reported_not_guessed():
    model = by_stage([FORMULATION], [UNDER_CONSTRAINED])
    result = Solver(SolveConfig(repair_rounds=0), model).solve(QUESTION)
    assert result.answer is None and result.status == "no_answer"
    assert "several solutions" in result.error


def test_formulation_repair_round_then_clear_error_when_no_json():
    model = by_stage(["I think A is a knight.", "still no json"], [GOOD_PROGRAM])
    result = Solver(SolveConfig(), model).solve(QUESTION)
    assert result.status == "no_answer"
    assert "formulator" in result.error and "no JSON" in result.error
    assert len(model.calls) == 2  # one attempt, one repair round, no program written


def test_reformulation_runs_only_when_nothing_answered_and_stops_at_the_first_answer():
    # The first (greedy) formulation leads to a program with several solutions; repair is off,
    # so only a fresh formulation can help.
    model = by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM])
    result = Solver(SolveConfig(repair_rounds=0, reformulations=3), model).solve(QUESTION)
    assert result.answer == "A is a knight, B is a knave" and result.status == "solved"
    assert len(result.candidates) == 2  # stopped after the first answer, 2 of 3 retries unused
    assert "several solutions" in result.candidates[0].error
    formulator_temps = [params.temperature for msgs, params in model.calls if "Python program" not in msgs[0]["content"]]
    assert formulator_temps[0] == 0.0 and formulator_temps[-1] > 0  # the retry is sampled, not greedy again


def test_reformulation_costs_nothing_when_the_first_candidate_answers():
    model = by_stage([FORMULATION], [GOOD_PROGRAM])
    result = Solver(SolveConfig(reformulations=2), model).solve(QUESTION)
    assert result.status == "solved" and len(result.candidates) == 1
    assert len(model.calls) == 2  # one formulation, one program


def test_without_reformulation_the_failure_is_reported():
    model = by_stage([FORMULATION], [UNDER_CONSTRAINED, GOOD_PROGRAM])
    result = Solver(SolveConfig(repair_rounds=0, reformulations=0), model).solve(QUESTION)
    assert result.status == "no_answer" and len(result.candidates) == 1


def test_program_that_never_prints_an_answer():
    silent = "```python\na = b = 1  # uses the model's names, so it runs, but prints no ANSWER line\nprint(a + b)\n```"
    model = by_stage([FORMULATION], [silent])
    result = Solver(SolveConfig(repair_rounds=0), model).solve(QUESTION)
    assert result.status == "no_answer" and result.error.startswith("no_answer")


def test_program_that_loops_forever_times_out():
    looping = "```python\nwhile True:\n    pass\n```"
    model = by_stage([FORMULATION], [looping])
    result = Solver(SolveConfig(repair_rounds=0, timeout_s=1.0), model).solve(QUESTION)
    assert result.status == "no_answer" and result.error.startswith("timeout")


def test_voting_over_samples_reports_disagreement_and_stops_early():
    wrong = GOOD_PROGRAM.replace('answer(f"A is', 'answer(f"X A is')
    model = by_stage([FORMULATION], [wrong, GOOD_PROGRAM, GOOD_PROGRAM, GOOD_PROGRAM])
    cfg = SolveConfig(formulations=5, programs_per_formulation=1, early_stop_agree=2, repair_rounds=0)
    result = Solver(cfg, model).solve(QUESTION)
    assert result.answer == "A is a knight, B is a knave"
    assert result.status == "disagreement" and result.votes == {"X A is a knight, B is a knave": 1, "A is a knight, B is a knave": 2}
    assert len(result.candidates) == 3  # stopped once two candidates agreed
    temps = [params.temperature for _, params in model.calls]
    assert temps[0] == 0.0 and max(temps) > 0  # first sample greedy, later ones sampled


def test_answers_are_mapped_onto_options():
    q = "Three books: red, green, blue. Red is left of green. Blue is rightmost. Which is leftmost?"
    opts = ["A) The red book is the leftmost.", "B) The green book is the leftmost.", "C) The blue book is the leftmost."]
    prog = """```python
p = Puzzle()
pos = p.Order(["red", "green", "blue"])
p.add(pos["red"] < pos["green"])
p.add(pos["blue"] == 3)
answer(p.choose({"A": pos["red"] == 1, "B": pos["green"] == 1, "C": pos["blue"] == 1}))
```"""
    result = Solver(SolveConfig(), by_stage([FORMULATION], [prog])).solve(q, opts)
    assert result.answer == "A"


@pytest.mark.parametrize("bad, message", [("", "empty"), ("   \n\t", "empty"), ("x" * 20_001, "limit"), (None, "text"), ("a\x00b", "NUL")])
def test_bad_questions_are_refused_before_any_model_call(bad, message):
    model = ScriptedBackend(["unused"])
    with pytest.raises(InputError, match=message):
        Solver(SolveConfig(), model).solve(bad)
    assert model.calls == []
    with pytest.raises(InputError):
        validate_question(bad, 20_000)


def test_vote_ties_go_to_the_first_answer():
    v = vote(["B", "A", None, "A", "B"])
    assert v.answer == "B" and v.counts == {"B": 2, "A": 2} and v.status == "disagreement"
    assert vote([None, None]).status == "no_answer"
    assert vote(["C", "C"]).status == "solved"


def _ordering_fix(names, constraint):
    return f"""```python
p = Puzzle()
places = p.Order({names!r})
{", ".join(names)} = places
p.add({constraint})
answer(p.solve().at(places, 1))
```"""


@pytest.mark.parametrize("broken, fixed, answer, expected_in_prompt", [
    # an undeclared name: NameError, with a hint to declare it
    ("```python\np = Puzzle()\np.add(red < green)\n```", _ordering_fix(["red", "green", "blue"], "red < green, blue == 3"),
     "red", ["NameError", "`red` is used but never declared"]),
    # a multi-word name written with a space: SyntaxError, with the snake_case hint
    ('```python\np = Puzzle()\nstation wagon, bus = p.Order(["station wagon", "bus"])\n```', _ordering_fix(["station_wagon", "bus"], "bus > station_wagon"),
     "station_wagon", ["SyntaxError", "snake_case"]),
])
def test_common_mistakes_get_a_concrete_hint_in_the_repair_prompt(broken, fixed, answer, expected_in_prompt):
    model = by_stage([FORMULATION], [broken, fixed])
    result = Solver(SolveConfig(repair_rounds=1), model).solve("Three things in a row. Which is first?")
    assert result.answer == answer
    repair_prompt = model.calls[-1][0][-1]["content"]
    assert all(text in repair_prompt for text in expected_in_prompt), repair_prompt


@pytest.mark.parametrize("error", [
    "  File \"<program>\", line 2\n    x = 3 if a and b else 4 +\n                           ^\nSyntaxError: invalid syntax",
    "  File \"<program>\", line 2\n    p.add(pos[\"blue jay\"] == 2))\n                                 ^\nSyntaxError: unmatched ')'",
    "ZeroDivisionError: division by zero",
])
def test_no_hint_for_errors_it_does_not_recognise(error):
    from l2l.pipeline.solve import _hint

    assert _hint(error) is None


def test_formulation_grammar_requires_at_least_one_variable_and_one_constraint():
    # The schema reaches llama.cpp as a GBNF grammar; an empty list must not be derivable
    # there, or the 1.5B model can close both lists at once and leave nothing to translate.
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from l2l.pipeline.formulator import FORMULATION_SCHEMA

    rules = dict(line.split(" ::= ", 1) for line in json_schema_to_gbnf(json.dumps(FORMULATION_SCHEMA)).splitlines() if " ::= " in line)
    assert rules["variables"].startswith('"[" space variables-item ')
    assert rules["constraints"].startswith('"[" space string ')
