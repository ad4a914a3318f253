"""Rewards of bi-level GRPO, against the real parser, executor and answer normalisation."""

from __future__ import annotations

import json
import pickle

import pytest

from l2l.backends.scripted import ScriptedBackend
from l2l.train.rewards import (
    FormulatorReward,
    GeneratorReward,
    ProposerReward,
    completion_text,
    learnability,
    parse_proposal,
)

OPTS = ["A) The owl is first.", "B) The crow is first."]


def prog(body: str) -> str:
    return f"Here is the program:\n```python\n{body}\n```"


W = dict(correct=1.0, executes=0.1, well_formed=0.05)

# (completion, gold, options, expected reward)
GENERATOR_CASES = [
    (prog("print('ANSWER: 4')"), "4", None, 1.15),                   # correct
    (prog("print('ANSWER:', 2 + 2)"), "4", None, 1.15),              # computed, correct
    (prog("print('ANSWER: 5')"), "4", None, 0.15),                   # runs, wrong answer
    (prog("print('ANSWER: A')"), "A", OPTS, 1.15),                   # option letter
    (prog("print('ANSWER: B')"), "A", OPTS, 0.15),                   # wrong option
    (prog("x = 1\nprint(x)"), "1", None, 0.05),                      # runs, no ANSWER line
    (prog("raise RuntimeError('boom')"), "4", None, 0.05),           # crashes
    (prog("def f(:\n  pass"), "4", None, 0.05),                      # syntax error
    ("I think the answer is 4.", "4", None, 0.0),                    # no program at all
    ("", "4", None, 0.0),                                            # empty
]


@pytest.mark.parametrize("completion,gold,options,expected", GENERATOR_CASES)
def test_generator_reward_table(completion, gold, options, expected):
    r = GeneratorReward(**W, timeout_s=10)
    assert r(["p"], [completion], answer=[gold], options=[options]) == pytest.approx([expected])


def test_generator_reward_batch_conversational_and_json_options():
    # TRL conversational completions are lists of messages; options may arrive as a JSON string column.
    r = GeneratorReward(**W)
    comps = [
        [{"role": "assistant", "content": prog("print('ANSWER: A')")}],
        [{"role": "assistant", "content": prog("print('ANSWER: B')")}],
        [{"role": "assistant", "content": "no code"}],
    ]
    scores = r([None] * 3, comps, answer=["A", "A", "A"], options=[json.dumps(OPTS)] * 3)
    assert scores == pytest.approx([1.15, 0.15, 0.0])
    assert r.stats == {"programs": 3, "extracted": 2, "ran": 2, "correct": 1}


def test_generator_reward_weights_come_from_config():
    r = GeneratorReward(correct=2.0, executes=0.0, well_formed=0.0)
    assert r(["p"], [prog("print('ANSWER: 4')")], answer=["4"]) == [2.0]


def test_rewards_pickle():
    for r in (GeneratorReward(), FormulatorReward(m=3), ProposerReward(attempts=2)):
        clone = pickle.loads(pickle.dumps(r))
        assert type(clone) is type(r) and clone.__name__ == r.__name__


def test_completion_text_forms():
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]) == "ab"


FORM = json.dumps(
    {
        "summary": "which bird is first",
        "model_type": "csp",
        "variables": [{"name": "owl", "type": "int", "domain": "1..2"}],
        "constraints": ["owl is first"],
        "objective": None,
    }
)


def test_formulator_reward_is_mean_over_m_generator_samples():
    # The scripted generator answers A, B, A, A for successive samples: with m=4 the bi-level
    # reward of a valid formulation is valid + mean correctness = 0.1 + 3/4.
    answers = iter(["A", "B", "A", "A", "B", "B", "B", "B"])
    gen = ScriptedBackend(lambda msgs, params: prog(f"print('ANSWER: {next(answers)}')"))
    r = FormulatorReward(generator=gen, m=4, correct=1.0, valid=0.1)
    scores = r(["p", "p"], [FORM, FORM], question=["Q?", "Q?"], answer=["A", "A"], options=[OPTS, OPTS])
    assert scores == pytest.approx([0.1 + 0.75, 0.1 + 0.0])
    # m programs requested per formulation, and the generator saw the formulation in its prompt
    assert [p.n for _, p in gen.calls] == [4, 4]
    assert "owl is first" in gen.calls[0][0][-1]["content"]
    assert r.stats["valid"] == 2 and r.stats["programs"] == 8 and r.stats["correct"] == 3


def test_formulator_reward_invalid_formulation_scores_zero_without_sampling():
    gen = ScriptedBackend([prog("print('ANSWER: A')")])
    r = FormulatorReward(generator=gen, m=2)
    scores = r(["p", "p"], ["not json at all", '{"summary": "x"}'], question=["Q"] * 2, answer=["A"] * 2, options=[OPTS] * 2)
    assert scores == [0.0, 0.0]
    assert gen.calls == []


def test_formulator_reward_needs_a_generator():
    with pytest.raises(RuntimeError, match="generator"):
        FormulatorReward()(["p"], [FORM], question=["q"], answer=["A"])


@pytest.mark.parametrize("s,expected", [(0.0, 0.0), (1.0, 0.0), (0.25, 0.75), (0.5, 0.5), (0.9, pytest.approx(0.1))])
def test_learnability(s, expected):
    assert learnability(s) == expected


def test_parse_proposal_errors():
    with pytest.raises(ValueError, match="no JSON"):
        parse_proposal("nothing")
    with pytest.raises(ValueError, match="question"):
        parse_proposal('{"formulation": {}, "program": "x"}')
    p = parse_proposal('Sure: {"question": "Q", "formulation": {"a": 1}, "program": "print(1)", "options": ["A) x"]}')
    assert p.question == "Q" and p.options == ["A) x"]


def _gold_proposal():
    from l2l.synth import generate_records

    rec = generate_records("ordering", 1, seed=3, objects=3)[0]
    return rec, json.dumps({"question": rec.question, "options": rec.options, "formulation": rec.formulation, "program": rec.program})


def test_proposer_reward_learnability_and_pool():
    rec, text = _gold_proposal()
    wrong = next(o[0] for o in rec.options if o[0] != rec.answer)
    # solver right on 1 of 4 attempts -> s = 0.25 -> reward 0.75; the proposal joins the pool
    r = ProposerReward(solver=lambda q, o, n: [rec.answer, wrong, wrong, None][:n], attempts=4)
    assert r(["p", "p"], [text, "garbage"], family=["ordering", "ordering"]) == pytest.approx([0.75, 0.0])
    assert len(r.pool) == 1 and r.pool[0]["answer"] == rec.answer and r.pool[0]["solve_rate"] == 0.25
    assert r.last_stats["valid"] == 1
    # always solved (trivial) or never solved (impossible): no reward, still a valid proposal
    assert ProposerReward(solver=lambda q, o, n: [rec.answer] * n, attempts=2)(["p"], [text]) == [0.0]
    assert ProposerReward(solver=lambda q, o, n: [wrong] * n, attempts=2)(["p"], [text]) == [0.0]


def test_proposer_reward_rejects_program_with_wrong_claim():
    rec, _ = _gold_proposal()
    bad = json.dumps({"question": rec.question, "options": rec.options, "formulation": rec.formulation, "program": "print('hello')"})
    r = ProposerReward(solver=lambda q, o, n: ["A"] * n, attempts=2)
    assert r(["p"], [bad]) == [0.0] and r.pool == []
