"""Deterministic program fixes (l2l/pipeline/program_fixes.py), through the real sandbox and
the one execution path (`run_programs`): programs written the way the prompts ask
(l2l/prompts/examples.json, the ProntoQA example), with the slips the models really make."""

from __future__ import annotations

import pytest

from l2l.config import SolveConfig
from l2l.pipeline.execute import ExecLimits, certified, run_programs
from l2l.pipeline.program_fixes import fix_program
from l2l.types import Program
from solvers.result import ExecutionResult

ON = ExecLimits(timeout_s=30, fix_programs=True)
OFF = ExecLimits(timeout_s=30, fix_programs=False)

# The worked example's program (examples.json), with the slip under test put in.
HEAD = '''p = Puzzle()
people = ["sam"]
lorpus = p.Pred("lorpus", people)
gimpus = p.Pred("gimpus", people)
tumpus = p.Pred("tumpus", people)
'''


def run(code: str, limits: ExecLimits = ON) -> ExecutionResult:
    return run_programs([Program("z3", code)], limits)[0]


def test_undeclared_predicate_is_declared_like_its_siblings():
    code = HEAD + '''for x in people:
    p.add(Implies(lorpus(x), gimpus(x)))  # Every lorpus is a gimpus.
    p.add(Implies(gimpus(x), Not(bright(x))))  # Gimpuses are not bright.
    p.add(Implies(Not(bright(x)), cold(x)))  # Everything that is not bright is cold.
p.add(lorpus("sam"))  # Sam is a lorpus.
answer(p.truth(cold("sam")))  # Sam is cold.
'''
    before = run(code, OFF)
    assert before.status == "runtime_error" and "NameError: name 'bright'" in before.error
    r = run(code)
    assert r.status == "ok", r.error
    assert r.answer == "True"
    assert r.fixes == ["declare_predicate:bright", "declare_predicate:cold"]
    assert 'bright = p.Pred("bright", people)' in r.fixed_code
    assert "# Gimpuses are not bright." in r.fixed_code  # the model's text and comments are kept
    # the answer is the solver's, but the model's own text does not run: not training material
    assert not certified(r) and certified(run(r.fixed_code))


def test_plural_of_a_declared_predicate_is_an_alias_not_a_new_predicate():
    # A fresh `gimpuses` predicate would cut the chain and truth() would say Unknown.
    code = HEAD + '''for x in people:
    p.add(Implies(lorpus(x), gimpus(x)))  # Every lorpus is a gimpus.
    p.add(Implies(gimpuses(x), tumpus(x)))  # Gimpuses are tumpuses.
p.add(lorpus("sam"))  # Sam is a lorpus.
answer(p.truth(tumpus("sam")))  # Sam is a tumpus.
'''
    assert run(code, OFF).status == "runtime_error"
    r = run(code)
    assert (r.status, r.answer) == ("ok", "True"), r.error
    assert r.fixes == ["predicate_alias:gimpuses=gimpus"]


def test_not_prefixed_predicate_becomes_not():
    code = HEAD + '''for x in people:
    p.add(Implies(lorpus(x), gimpus(x)))  # Every lorpus is a gimpus.
    p.add(Implies(gimpus(x), tumpus(x)))  # Each gimpus is a tumpus.
p.add(lorpus("sam"))  # Sam is a lorpus.
answer(p.truth(not_tumpus("sam")))  # Sam is not a tumpus.
'''
    r = run(code)
    assert (r.status, r.answer) == ("ok", "False"), r.error
    assert r.fixes == ["not_prefix:not_tumpus"]
    assert 'answer(p.truth(Not(tumpus("sam"))))  # Sam is not a tumpus.' in r.fixed_code


def test_a_real_prontoqa_failure_of_the_1_5b_model_now_answers():
    # ProntoQA_110 (runs/eval/qwen2.5-coder-1.5b/logiclm_prontoqa/program), after its repair
    # round, as the model wrote it; gold: B) False.
    code = '''p = Puzzle()
people = ["sally"]
tumpuses = p.Pred("tumpuses", people)
zumpuses = p.Pred("zumpuses", people)
jompuses = p.Pred("jompuses", people)
rompus = p.Pred("rompus", people)
yumpus = p.Pred("yumpus", people)
wumpus = p.Pred("wumpus", people)
for x in people:
    p.add(Implies(tumpuses(x), temperate(x)))  # Tumpuses are temperate.
    p.add(Implies(zumpuses(x), large(x)))  # Zumpuses are large.
    p.add(Implies(zumpuses(x), jompuses(x)))  # Zumpuses are jompuses.
    p.add(Implies(jompuses(x), Not(blue(x))))  # Jompuses are not blue.
    p.add(Implies(jompuses(x), rompus(x)))  # Every jompus is a rompus.
    p.add(Implies(rompus(x), earthy(x)))  # Each rompus is earthy.
    p.add(Implies(vumpuses(x), Not(opaque(x))))  # Vumpuses are not opaque.
    p.add(Implies(rompus(x), yumpus(x)))  # Yumpuses are rompus.
    p.add(Implies(yumpuses(x), happy(x)))  # Yumpuses are happy.
    p.add(Implies(yumpuses(x), wumpus(x)))  # Each wumpus is a yumpus.
    p.add(Implies(wumpuses(x), opaque(x)))  # Each wumpus is a numpus.
p.add(zumpuses("sally"))  # Sally is a zumpus.
answer(p.truth(not(opaque("sally"))))  # Sally is not opaque.
'''
    assert "NameError: name 'temperate'" in run(code, OFF).error
    r = run(code)
    assert (r.status, r.answer) == ("ok", "False"), r.error
    assert "predicate_alias:wumpuses=wumpus" in r.fixes


def test_statements_left_open_by_the_generator_are_closed_and_then_answer():
    # As the 1.5B writes ProntoQA programs (tune split, 2026-12-01): each formulation constraint
    # `Implies(a(x), b(x))` copied into `p.add(...)` without the last `)`, and an undeclared
    # predicate the syntax error kept the run from reaching.
    code = HEAD + '''for x in people:
    p.add(Implies(lorpus(x), gimpus(x)))  # Every lorpus is a gimpus.
    p.add(Implies(gimpus(x), Not(bright(x))) # Gimpuses are not bright.
    p.add(Implies(Not(bright(x)), tumpus(x)) # Everything that is not bright is a tumpus.
p.add(lorpus("sam"))  # Sam is a lorpus.
answer(p.truth(tumpus("sam")))  # Sam is a tumpus.
'''
    before = run(code, OFF)
    assert before.status == "syntax_error"
    r = run(code)
    assert (r.status, r.answer) == ("ok", "True"), r.error
    assert r.fixes == ["close_parens", "declare_predicate:bright"]
    # the comments stay where the model put them; the model's own text is kept apart
    assert "p.add(Implies(gimpus(x), Not(bright(x)))) # Gimpuses are not bright." in r.fixed_code
    assert not certified(r)  # an answer that needed a fix is never paid in training


# As the 1.5B wrote a ProofWriter report program (ProofWriter_AttNeg-OWA-D5-1233_Q11, 2026-12-02,
# shortened): the rules prelude's text block opened with three quotes, the first rules bare, then the
# list form halfway ('"...",' lines) and `])` at the end.
DRIFTED_BLOCK = '''p = Puzzle()
p.add("""
Anne is smart. => smart(anne)
Gary is kind. => kind(gary)
If someone is smart then they are furry. => smart(x) -> furry(x)",
"If someone is furry then they are quiet. => furry(x) -> quiet(x)",
  "All quiet people are young. => quiet(x) -> young(x)"
])
# Anne is young.
answer(p.truth("young(anne)"))
'''


def test_a_text_block_that_drifted_into_a_list_is_one_text_block_again():
    before = run(DRIFTED_BLOCK, OFF)
    assert before.status == "syntax_error" and "unterminated triple-quoted" in before.error
    r = run(DRIFTED_BLOCK)
    assert (r.status, r.answer) == ("ok", "True"), r.error
    assert r.fixes == ["close_text_block"]
    assert 'If someone is furry then they are quiet. => furry(x) -> quiet(x)\n' in r.fixed_code
    assert r.fixed_code.rstrip().endswith('""")\n# Anne is young.\nanswer(p.truth("young(anne)"))')


# The 1.5B's temporal_sequences_22 program (report split): the last sighting is a statement comment
# with no code under it, so the visit may fall from 5pm to 6pm and no option must hold.
LAST_SIGHTING_LEFT_IN_A_COMMENT = '''p = Puzzle()
visit = p.Int("visit", hour("8am"), hour("6pm") - 1)  # hour the visit began: up at 8am, closed after 6pm
# Steven saw David playing tennis at the tennis court from 10am to 11am.
p.add(Not(between(visit, "10am", "11am")))
# James saw David stretching at a yoga studio from 11am to 4pm. => not between(visit, "11am", "4pm")
p.add(Not(between(visit, "11am", "4pm")))
# Nancy saw David working out at the gym from 4pm to 5pm. => not between(visit, "4pm", "5pm")
p.add(Not(between(visit, "4pm", "5pm")))
# Richard saw David buying lunch at the deli from 5pm to 6pm. => not between(visit, "5pm", "6pm")
options = {
    # 8am to 10am
    "A": between(visit, "8am", "10am"),
    # 11am to 4pm
    "B": between(visit, "11am", "4pm"),
    # 10am to 11am
    "C": between(visit, "10am", "11am"),
    # 5pm to 6pm
    "D": between(visit, "5pm", "6pm"),
}
answer(p.choose(options, mode="must"))
'''


def test_a_statement_left_in_a_comment_is_added_from_its_formula():
    before = run(LAST_SIGHTING_LEFT_IN_A_COMMENT, OFF)
    assert before.status == "runtime_error" and "no option fits" in before.error
    r = run(LAST_SIGHTING_LEFT_IN_A_COMMENT)
    assert (r.status, r.answer) == ("ok", "A"), r.error
    assert r.fixes == ["add_commented_constraint:9"]  # the line of the comment
    # only the comment without code got a line; the ones with code under them did not
    assert r.fixed_code.count("p.add(") == LAST_SIGHTING_LEFT_IN_A_COMMENT.count("p.add(") + 1
    assert '=> not between(visit, "5pm", "6pm")\np.add(not between(visit, "5pm", "6pm"))' in r.fixed_code


@pytest.mark.parametrize("code", [
    # the formula names something the program never defines: adding it would only raise NameError
    LAST_SIGHTING_LEFT_IN_A_COMMENT.replace('not between(visit, "5pm", "6pm")\n', 'not lunch(visit)\n'),
    # the formula is not Python
    LAST_SIGHTING_LEFT_IN_A_COMMENT.replace('not between(visit, "5pm", "6pm")\n', 'visit notin [5pm, 6pm)\n'),
    # the comment has its code under it (the failure has another cause): nothing is added
    LAST_SIGHTING_LEFT_IN_A_COMMENT.replace('"5pm", "6pm")\noptions', '"5pm", "6pm")\np.add(visit < 8)\noptions'),
])
def test_a_commented_formula_is_added_only_when_it_is_missing_and_can_run(code):
    before = run(code, OFF)
    assert before.status == "runtime_error", before.error
    assert fix_program(code, "z3", before) is None


@pytest.mark.parametrize("code", [
    # a text block never closed at all: nothing says where it was meant to end
    'p = Puzzle()\np.add("""\nAnne is smart. => smart(anne)\nanswer(p.truth("smart(anne)"))\n',
    # text after the opening quotes (a docstring-like line): not the shape this fix knows
    'p = Puzzle()\np.add("""Anne is smart. => smart(anne)",\n"Bob is kind. => kind(bob)"\n])\n',
])
def test_other_unterminated_strings_are_left_to_the_model(code):
    before = run(code, OFF)
    assert before.status == "syntax_error"
    assert fix_program(code, "z3", before) is None


@pytest.mark.parametrize("code", [
    # a multi-line call the model meant: its continuation is indented deeper
    'x = max(\n    1,\n    2)\nanswer(x\n',
    # parentheses inside strings and comments are not code
    'answer("(")  # (\nprint("ok"\n',
])
def test_closing_parens_never_closes_a_continuation_or_counts_strings(code):
    from l2l.pipeline.program_fixes import _close_parens

    fixed = _close_parens(code)
    assert fixed is not None and fixed.count("\n") == code.count("\n")
    assert fixed.splitlines()[0] == code.splitlines()[0]  # only the last statement was open
    assert fixed.splitlines()[-1].endswith(")")


def test_a_syntax_error_parentheses_do_not_explain_is_left_to_the_model():
    code = HEAD + 'p.add(lorpus("sam")\nanswer(p.truth(lorpus("sam")) if else)\n'
    before = run(code, OFF)
    assert before.status == "syntax_error"
    assert fix_program(code, "z3", before) is None
    assert run(code).fixes == []


def test_programs_that_run_are_unchanged():
    import json
    from pathlib import Path

    examples = json.loads((Path(__file__).resolve().parents[1] / "l2l/prompts/examples.json").read_text())
    programs = [Program(ex["backend"], ex["program"]) for ex in examples]
    on, off = run_programs(programs, ON), run_programs(programs, OFF)
    for a, b in zip(on, off):
        assert a.ok and b.ok
        assert (a.answer, a.fixes, a.fixed_code) == (b.answer, [], None)
        assert certified(a)


def test_an_unfixable_name_error_fails_with_its_own_error():
    # `cond_a` is not called like a predicate: nothing says what it should be.
    code = HEAD + 'p.add(lorpus("sam"))\nanswer(p.choose({"A": cond_a, "B": gimpus("sam")}))\n'
    r, plain = run(code), run(code, OFF)
    assert r.status == "runtime_error" and r.error == plain.error == "line 7: NameError: name 'cond_a' is not defined"
    assert r.fixes == [] and r.fixed_code is None


def test_a_fixed_program_that_still_fails_keeps_the_original_error():
    # The declaration is added, but the premises contradict each other: the author is told
    # about the line they wrote, not about a text they never saw.
    code = HEAD + 'p.add(lorpus("sam"), Not(lorpus("sam")), bright("sam"))\nanswer(p.truth(bright("sam")))\n'
    assert fix_program(code, "z3", run(code, OFF)) is not None
    r = run(code)
    assert r.status == "runtime_error" and r.error == "line 6: NameError: name 'bright' is not defined"
    assert r.fixes == []


def test_prelude_helpers_and_other_backends_are_never_redeclared():
    failed = ExecutionResult("runtime_error", error="line 4: NameError: name 'red' is not defined")
    code = HEAD + 'p.add(Not(red("sam")), hour("8am") == 8)\n'
    fix = fix_program(code, "z3", failed)
    assert fix is not None and fix.fixes == ("declare_predicate:red",)  # not Not, not hour
    assert fix_program(code, "sympy", failed) is None
    assert fix_program(code, "z3", ExecutionResult("ok", answer="1")) is None
    # siblings over different domains: no rule says which one a new predicate gets
    two = 'p = Puzzle()\na = p.Pred("a", ["x"])\nb = p.Pred("b", ["y"])\np.add(c("x"))\n'
    assert fix_program(two, "z3", ExecutionResult("runtime_error", error="NameError: name 'c' is not defined")) is None


def test_the_setting_comes_from_the_configs_and_the_result_keeps_it():
    assert ExecLimits.from_config(SolveConfig()).fix_programs is False  # off by default (see SolveConfig)
    assert ExecLimits.from_config(SolveConfig(fix_programs=True)).fix_programs is True
    assert ExecLimits.from_config({"fix_programs": False}, {"timeout_s": 5}).fix_programs is False
    r = ExecutionResult("ok", answer="True", fixes=["declare_predicate:bright"], fixed_code="x")
    assert ExecutionResult.from_dict(r.to_dict()) == r
    assert ExecutionResult.from_dict({"status": "ok"}).fixes == []  # records written before the field


@pytest.mark.parametrize("limits", [ON, OFF])
def test_none_programs_stay_aligned(limits):
    out = run_programs([None, Program("z3", HEAD + "answer(p.truth(bright('sam')))\n"), None], limits)
    assert out[0] is None and out[2] is None
    assert out[1].ok is (limits is ON)


def test_training_reward_with_fixes_on_pays_a_fixed_program_no_more_than_an_honest_failure():
    """Through the composed training config (`+experiment=bilevel pipeline.fix_programs=true`), the
    real reward and the real sandbox: a completion written as the generator prompt asks, whose program
    runs to the gold answer only after a fix, earns no more than a program that fails; the same program
    with the declaration written out earns the full reward."""
    import json
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from l2l.train.rewards import generator_reward

    conf = str(Path(__file__).resolve().parents[1] / "conf")
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=bilevel", "pipeline.fix_programs=true"])
    reward = generator_reward(cfg)
    assert reward.limits.fix_programs
    body = HEAD + '''for x in people:
    p.add(Implies(lorpus(x), gimpus(x)))  # Every lorpus is a gimpus.
    p.add(Implies(gimpus(x), bright(x)))  # Gimpuses are bright.
p.add(lorpus("sam"))  # Sam is a lorpus.
answer(p.truth(bright("sam")))  # Sam is bright.
'''
    declared = body.replace('tumpus = p.Pred("tumpus", people)\n',
                            'tumpus = p.Pred("tumpus", people)\nbright = p.Pred("bright", people)\n')
    ran = run_programs([Program("z3", body), Program("z3", declared)], reward.limits)
    assert ran[0].fixes == ["declare_predicate:bright"] and ran[0].answer == ran[1].answer == "True"
    opts = json.dumps(["A) True", "B) False", "C) Unknown"])
    as_asked = lambda code: f"```python\n{code}```"  # noqa: E731 -- one fenced block, as the prompt asks
    fixed_score, declared_score = reward(["p", "p"], [as_asked(body), as_asked(declared)], answer=["A", "A"],
                                         options=[opts, opts], backend=["z3", "z3"])
    g = cfg.rewards.generator
    assert fixed_score <= g.well_formed + 1e-9
    assert declared_score == pytest.approx(g.correct + g.executes + g.well_formed)
    # the execution rate training logs counts the model's own runs: the fixed one is counted apart
    assert (reward.stats["ran"], reward.stats["fixed"], reward.stats["certified"]) == (1, 1, 1)
