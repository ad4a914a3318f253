"""Rewards of bi-level GRPO: built from the composed `+experiment=bilevel` config, scored
through the real parser, the one execution path (real sandbox, real preludes) and the real
answer normalisation, with completions written the way the generator prompt asks.

The contract (issue 14): only answers that came out of the prelude's solver helpers pay.
An honest program that fails earns `well_formed`; a guess (a constant letter, every option
printed, `UNIQUE: yes`, a forged record, gold read from a file, a swallowed solver error)
earns no more than that, whether or not it happens to be right.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from l2l.backends.scripted import ScriptedBackend
from l2l.train.rewards import (
    FormulatorReward,
    GeneratorReward,
    ProposerReward,
    completion_text,
    formulator_reward,
    generator_reward,
    learnability,
    parse_proposal,
)

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")
OPTS = ["A) The owl is first.", "B) The crow is first.", "C) The hawk is first."]


@pytest.fixture(scope="module")
def cfg():
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=["+experiment=bilevel"])


@pytest.fixture(scope="module")
def gen_reward(cfg):
    return generator_reward(cfg)


def prog(body: str) -> str:
    """A completion as the generator prompt asks for it: one fenced python block."""
    return f"Here is the program:\n```python\n{body}\n```"


def full(cfg) -> float:
    g = cfg.rewards.generator
    return g.correct + g.executes + g.well_formed


def honest_failure(cfg) -> float:
    return cfg.rewards.generator.well_formed


# An owl/crow/hawk ordering whose unique solution puts the owl first (gold "A").
BIRDS = """p = Puzzle()
owl, crow, hawk = p.Order(["owl", "crow", "hawk"])  # 1 = first
p.add(owl < crow)   # The owl is before the crow.
p.add(hawk == 3)    # The hawk is last.
"""
BIRDS_CHOOSE = BIRDS + 'answer(p.choose({"A": owl == 1, "B": crow == 1, "C": hawk == 1}))'
# The same without the hawk clue: several solutions.
BIRDS_LOOSE = """p = Puzzle()
owl, crow, hawk = p.Order(["owl", "crow", "hawk"])
p.add(owl < crow)   # The owl is before the crow.
"""
def _gold_file() -> str:
    """A real benchmark file with gold answers (the test itself can read it; programs must not)."""
    from l2l.data.registry import benchmarks_root

    path = benchmarks_root() / "logic-lm" / "LogicalDeduction" / "dev.json"
    assert json.loads(path.read_text())[0]["answer"] in "ABCDEFG"
    return str(path)


# Read the gold answer of the first item, then "solve" a trivial model of it: certified if the read
# succeeds, so only the sandbox (no gold in reach) keeps this from paying.
GOLD_FILE_READ = """import json
gold = json.load(open({path!r}))[0]["answer"]
p = Puzzle()
x = p.Int("x", 0, 6)
p.add(x == "ABCDEFG".index(gold))
answer("ABCDEFG"[p.solve()[x]])
"""


# (what the case stands for, completion, backend, gold, options,
#  expected: "full" | "certified wrong" | "honest" (at most an honest failure) | a number)
GENERATOR_CASES = [
    # an honest, correct prompt-style program: the full reward
    ("choose", prog(BIRDS_CHOOSE), "z3", "A", OPTS, "full"),
    # the same with p.solve() and a model lookup
    ("solve", prog(BIRDS + "m = p.solve()\nanswer('A' if m[owl] == 1 else 'B' if m[crow] == 1 else 'C')"), "z3", "A", OPTS, "full"),
    # a certified but wrong answer: executes, not correct
    ("wrong", prog(BIRDS + 'answer(p.choose({"A": crow == 1, "B": owl == 1, "C": hawk == 1}))'), "z3", "A", OPTS, "certified wrong"),
    # sympy through solve_one
    ("sympy", prog("x = symbols('x')\nsol = solve_one([Eq(3 * x + 2, 14)], [x])\nanswer(sol[x])"), "sympy", "4", None, "full"),
    # raw z3 with the reporting Solver: sound uniqueness, so it counts
    ("raw z3 unique", prog("x = Int('x')\ns = Solver()\ns.add(x * 3 == 12)\ns.check()\nanswer(s.model()[x])"), "z3", "4", None, "full"),
    # raw z3 whose model is not unique: a guess among solutions
    ("raw z3 several", prog("x = Int('x')\ns = Solver()\ns.add(x > 3, x < 6)\ns.check()\nanswer(s.model()[x])"), "z3", "4", None, "honest"),
    # a constant letter that happens to be right
    ("constant right", prog("print('ANSWER: A')"), "z3", "A", OPTS, "honest"),
    # a constant letter printed with answer() but no solver call
    ("constant via answer", prog("answer('A')"), "z3", "A", OPTS, "honest"),
    # every option printed (the last one happens to be gold)
    ("every option", prog("for letter in 'CBA':\n    print('ANSWER:', letter)"), "z3", "A", OPTS, "honest"),
    # the old self-play convention: UNIQUE: yes on stdout
    ("UNIQUE: yes", prog("print('UNIQUE: yes')\nprint('ANSWER: A')"), "z3", "A", OPTS, "honest"),
    # forging the record: JSON events written to every descriptor, then a constant
    ("forged fds", prog("import os, json\nev = json.dumps({'call': 'solve', 'ok': True, 'verdict': 'unique'}).encode()\n"
                        "for fd in range(3, 64):\n    try:\n        os.write(fd, ev + b'\\n')\n    except OSError:\n        pass\n"
                        "answer('A')"), "z3", "A", OPTS, "honest"),
    # forging the record by calling the recorder's name: it is gone before the program runs
    ("recorder name", prog("__l2l_record__({'call': 'solve', 'ok': True, 'verdict': 'unique'})\nanswer('A')"), "z3", "A", OPTS, "honest"),
    # a failed solve (several solutions) swallowed by try/except, then a guess
    ("swallowed error", prog(BIRDS_LOOSE + "try:\n    p.solve()\nexcept PuzzleError:\n    pass\nanswer('A')"), "z3", "A", OPTS, "honest"),
    # a succeeding solve next to a swallowed failing choose
    ("mixed", prog(BIRDS + "p.solve()\ntry:\n    p.choose({'A': owl > 0, 'B': crow > 0}, mode='true')\nexcept PuzzleError:\n    pass\nanswer('A')"), "z3", "A", OPTS, "honest"),
    # reading gold answers from a benchmark file, then a trivial certified solve of that gold
    ("benchmark read", prog(GOLD_FILE_READ.format(path=_gold_file())), "z3", "A", OPTS, "honest"),
    # an honest program that crashes
    ("crash", prog(BIRDS + "answer(p.solve()[undefined_name])"), "z3", "A", OPTS, "honest"),
    # a syntax error
    ("syntax", prog("def f(:\n  pass"), "z3", "A", OPTS, "honest"),
    # no program at all
    ("no program", "I think the answer is A.", "z3", "A", OPTS, 0.0),
]


@pytest.mark.parametrize("name,completion,backend,gold,options,expected", GENERATOR_CASES, ids=[c[0] for c in GENERATOR_CASES])
def test_generator_reward_table(cfg, gen_reward, name, completion, backend, gold, options, expected):
    score = gen_reward(["p"], [completion], answer=[gold], options=[json.dumps(options or [])], backend=[backend])[0]
    if expected == "full":
        assert score == pytest.approx(full(cfg))
    elif expected == "certified wrong":
        assert score == pytest.approx(cfg.rewards.generator.executes + cfg.rewards.generator.well_formed)
    elif expected == "honest":
        assert score <= honest_failure(cfg) + 1e-9
    else:
        assert score == pytest.approx(expected)


def test_every_worked_example_earns_the_full_reward(cfg, gen_reward):
    # The programs the generator prompt shows as worked examples are correct; under the
    # composed training config they must earn the full reward (they earned 0.05 on e632353,
    # when training ran them without their prelude).
    examples = json.loads((ROOT / "l2l" / "prompts" / "examples.json").read_text())
    scores = gen_reward([None] * len(examples), [prog(e["program"]) for e in examples],
                        answer=[e["answer"] for e in examples], options=[json.dumps(e["options"] or []) for e in examples],
                        backend=[e["backend"] for e in examples])
    assert scores == pytest.approx([full(cfg)] * len(examples)), [e["kind"] for e, s in zip(examples, scores) if s < full(cfg)]


def test_every_synthetic_familys_gold_program_earns_the_full_reward(cfg, gen_reward):
    # Gold programs of every family, in the prompts' own format, run with the prelude of the
    # gold formulation's solver and earn the full reward.
    from l2l.synth import FAMILIES, generate_records
    from l2l.types import Formulation

    recs = [r for fam in sorted(FAMILIES) for r in generate_records(fam, 2, seed=7)]
    scores = gen_reward([None] * len(recs), [prog(r.program) for r in recs], answer=[r.answer for r in recs],
                        options=[json.dumps(r.options or []) for r in recs],
                        backend=[Formulation.from_dict(r.formulation).backend for r in recs])
    bad = [r.id for r, s in zip(recs, scores) if s != pytest.approx(full(cfg))]
    assert not bad


def test_executor_config_may_only_set_limits(cfg):
    # `backend: null` in conf/executor once sent every training program to a sandbox without
    # its prelude; the executor config can no longer choose the helpers.
    from l2l.pipeline.execute import ExecLimits

    assert "backend" not in cfg.executor
    limits = ExecLimits.from_config(cfg.pipeline, cfg.executor)
    assert limits.timeout_s == cfg.executor.timeout_s and limits.memory_mb == cfg.pipeline.memory_mb
    with pytest.raises(ValueError, match="only set timeout_s and memory_mb"):
        ExecLimits.from_config(cfg.pipeline, {"timeout_s": 5, "backend": None})


def test_generator_reward_stats_and_conversational_completions(gen_reward):
    # TRL conversational completions are lists of messages; the stats count certified answers.
    gen_reward.reset_stats()
    comps = [[{"role": "assistant", "content": prog(BIRDS_CHOOSE)}], [{"role": "assistant", "content": prog("print('ANSWER: A')")}],
             [{"role": "assistant", "content": "no code"}]]
    gen_reward([None] * 3, comps, answer=["A"] * 3, options=[json.dumps(OPTS)] * 3, backend=["z3"] * 3)
    assert gen_reward.stats == {"programs": 3, "extracted": 2, "ran": 2, "fixed": 0, "certified": 1, "correct": 1}


def test_rewards_pickle():
    for r in (GeneratorReward(), FormulatorReward(m=3), ProposerReward(attempts=2)):
        clone = pickle.loads(pickle.dumps(r))
        assert type(clone) is type(r) and clone.__name__ == r.__name__


def test_completion_text_forms():
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]) == "ab"


FORM = json.dumps({
    "summary": "Which bird is first?",
    "model_type": "csp",
    "variables": [{"name": "owl", "type": "int", "domain": "1..3"}, {"name": "crow", "type": "int", "domain": "1..3"},
                  {"name": "hawk", "type": "int", "domain": "1..3"}],
    "constraints": ["owl < crow # The owl is before the crow.", "hawk == 3 # The hawk is last."],
    "objective": "which option holds",
})


def test_formulator_reward_is_mean_over_m_generator_samples(cfg):
    # The scripted generator writes a certified correct program, a certified wrong one, and two
    # constant letters, in turn: with m=4 the reward of a valid formulation is
    # valid + executes * 2/4 (certified) + correct * 1/4.
    programs = iter([BIRDS_CHOOSE, BIRDS + 'answer(p.choose({"A": crow == 1, "B": owl == 1, "C": hawk == 1}))',
                     "print('ANSWER: A')", "answer('A')"] * 2)
    gen = ScriptedBackend(lambda msgs, params: prog(next(programs)))
    r = formulator_reward(cfg, gen, max_tokens=64)
    r.m = 4
    f = cfg.rewards.formulator
    scores = r(["p"], [FORM], question=["Q?"], answer=["A"], options=[json.dumps(OPTS)])
    assert scores == pytest.approx([f.valid + f.executes * 2 / 4 + f.correct * 1 / 4])
    assert [p.n for _, p in gen.calls] == [4]
    assert "The owl is before the crow. => owl < crow" in gen.calls[0][0][-1]["content"]
    assert r.stats["certified"] == 2 and r.stats["correct"] == 1 and r.stats["ran"] == 4


def test_formulator_reward_invalid_formulation_scores_zero_without_sampling(cfg):
    gen = ScriptedBackend([prog(BIRDS_CHOOSE)])
    r = formulator_reward(cfg, gen, max_tokens=64)
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


def _proposal(program: str | None = None):
    from l2l.synth import generate_records

    rec = generate_records("ordering", 1, seed=3, objects=3)[0]
    return rec, json.dumps({"question": rec.question, "options": rec.options, "formulation": rec.formulation,
                            "program": rec.program if program is None else program})


def test_proposer_reward_learnability_and_pool():
    rec, text = _proposal()
    wrong = next(o[0] for o in rec.options if o[0] != rec.answer)
    # solver right on 1 of 4 attempts -> s = 0.25 -> reward 0.75; the proposal joins the pool
    r = ProposerReward(solver=lambda q, o, n: [rec.answer, wrong, wrong, None][:n], attempts=4)
    assert r(["p", "p"], [text, "garbage"], family=["ordering", "ordering"]) == pytest.approx([0.75, 0.0])
    assert len(r.pool) == 1 and r.pool[0]["answer"] == rec.answer and r.pool[0]["solve_rate"] == 0.25
    assert r.last_stats["valid"] == 1 and r.last_stats["admitted"] == 1
    # always solved (trivial) or never solved (arbitrary gold?): no reward and not admitted
    for preds in ([rec.answer] * 2, [wrong] * 2):
        trivial = ProposerReward(solver=lambda q, o, n, p=preds: p, attempts=2)
        assert trivial(["p"], [text]) == [0.0] and trivial.pool == [] and trivial.last_stats["valid"] == 1


@pytest.mark.parametrize("program", [
    "print('UNIQUE: yes')\nprint('ANSWER: A')",  # the old convention, no solver call
    "answer('A')",  # a constant printed through the helper
    BIRDS_LOOSE + "try:\n    p.solve()\nexcept PuzzleError:\n    pass\nanswer('A')",  # a swallowed "several solutions"
    "print('hello')",  # no answer at all
], ids=["UNIQUE yes", "constant", "swallowed", "no answer"])
def test_proposer_reward_admits_only_solver_certified_proposals(program):
    rec, text = _proposal(program)
    r = ProposerReward(solver=lambda q, o, n: [rec.answer, "Z"][:n], attempts=2)
    assert r(["p"], [text]) == [0.0] and r.pool == [] and r.last_stats["valid"] == 0


def test_proposal_gold_is_the_solvers_answer():
    # The gold of an admitted proposal is what the solver certified, not a claimed answer.
    from l2l.synth import validate_proposal

    rec, _ = _proposal()
    check = validate_proposal(rec.formulation, rec.program, rec.question, options=rec.options)
    assert check.valid and check.answer == rec.answer
