"""Sampled candidates decode in waves (l2l/pipeline/solve.py `_wave_candidates`): after the greedy
first candidate, the sampled formulations of `l2l_vote`/`--samples` are drawn in one request and their
programs in one batch when the backend decodes parallel sequences. Pipeline logic on scripted
backends here; that the draws equal the one-at-a-time path's on llama.cpp is tested on the tiny
GGUF in tests/test_llamacpp_parallel.py."""

from __future__ import annotations

from l2l.backends.base import GenerationParams
from l2l.backends.scripted import ScriptedBackend
from l2l.config import SolveConfig
from l2l.pipeline.solve import Solver
from tests.test_pipeline import FORMULATION, GOOD_PROGRAM, QUESTION

WRONG = GOOD_PROGRAM.replace('answer(f"A is', 'answer(f"X A is')


def scripted(programs: list[str], parallel: int) -> ScriptedBackend:
    """Formulator prompts get FORMULATION; generator prompts the programs in order (the last repeats)."""
    queue = list(programs)

    def reply(messages, params: GenerationParams):
        if "Python program" in messages[0]["content"]:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return FORMULATION

    b = ScriptedBackend(reply)
    b.parallel_sequences = parallel
    return b


def requests(model: ScriptedBackend, generator: bool) -> list[GenerationParams]:
    return [p for m, p in model.calls if ("Python program" in m[0]["content"]) == generator]


def repair(messages) -> bool:
    return "not a valid formulation" in messages[-1]["content"]


def _config(**kw) -> SolveConfig:
    return SolveConfig(**{"formulations": 5, "programs_per_formulation": 1, "repair_rounds": 0, "coverage_repair": False, **kw})


def test_sampled_formulations_are_one_request_and_their_programs_one_batch():
    model = scripted([GOOD_PROGRAM], parallel=4)
    result = Solver(_config(early_stop_agree=0, seed=10), model).solve(QUESTION)
    forms = requests(model, generator=False)
    # the greedy first formulation alone, then the four sampled ones in one request from seed 11
    assert [(p.n, p.temperature, p.seed) for p in forms] == [(1, 0.0, 10), (4, 0.8, 11)]
    # programs: the greedy one, then one per sampled formulation with the seed the sequential path gives it
    assert [(p.temperature, p.seed) for p in requests(model, generator=True)] == [(0.0, 10), (0.8, 11), (0.8, 12), (0.8, 13), (0.8, 14)]
    assert len(result.candidates) == 5 and result.votes == {"A is a knight, B is a knave": 5}
    assert result.usage["formulation"]["calls"] == 5 and result.usage["program"]["calls"] == 5
    assert sum(u["prompt_tokens"] for u in result.usage.values()) == result.tokens["prompt"]
    assert sum(u["completion_tokens"] for u in result.usage.values()) == result.tokens["completion"]


def test_one_sequence_backends_keep_the_one_at_a_time_path():
    model = scripted([GOOD_PROGRAM], parallel=1)
    Solver(_config(early_stop_agree=0, seed=10), model).solve(QUESTION)
    assert [(p.n, p.seed) for p in requests(model, generator=False)] == [(1, s) for s in range(10, 15)]
    assert [p.seed for p in requests(model, generator=True)] == list(range(10, 15))


def test_stopping_early_inside_a_wave_still_counts_what_the_wave_spent():
    # greedy says X, the wave's first candidate says the right answer, its second agrees with it: stop there.
    model = scripted([WRONG, GOOD_PROGRAM], parallel=4)
    result = Solver(_config(early_stop_agree=2), model).solve(QUESTION)
    assert len(result.candidates) == 3 and result.answer == "A is a knight, B is a knave"
    # all four sampled formulations and their four programs were decoded (one wave): all are counted
    assert result.usage["formulation"]["calls"] == 5 and result.usage["program"]["calls"] == 5
    assert sum(u["prompt_tokens"] for u in result.usage.values()) == result.tokens["prompt"]
    # but only the candidates taken were run: the last two programs never executed
    assert sum(c.execution is not None for c in result.candidates) == 3


def test_waves_follow_the_parallel_width_and_failed_formulations_are_candidates():
    answers = iter([FORMULATION, "not json", "not json", FORMULATION, FORMULATION, FORMULATION, FORMULATION])

    def reply(messages, params: GenerationParams):
        if "Python program" in messages[0]["content"]:
            return GOOD_PROGRAM
        return "still not json" if repair(messages) else next(answers)  # repair rounds fail too

    model = ScriptedBackend(reply)
    model.parallel_sequences = 2
    result = Solver(_config(formulations=6, early_stop_agree=0), model).solve(QUESTION)
    first_round = [p for m, p in model.calls if not repair(m) and "Python program" not in m[0]["content"]]
    assert [p.n for p in first_round] == [1, 2, 2, 1]  # greedy, then waves of 2 (the last one short)
    failed = [c for c in result.candidates if c.formulation is None]
    assert len(failed) == 2 and all(c.error.startswith("formulator:") for c in failed)
    assert len(result.candidates) == 6 and result.votes == {"A is a knight, B is a knave": 4}
