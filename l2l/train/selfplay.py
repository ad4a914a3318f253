"""Self-play: the formulator proposes new puzzles and is rewarded for learnable ones.

Absolute-Zero style. Each round's `proposer_phase`:
  1. prompts: a family description (`l2l.synth.FAMILIES[f].description`) and a few past examples
     (accepted proposals of that family, else gold synthetic records) asking for one new problem
     as JSON {question, options, formulation, program};
  2. GRPO on the formulator adapter with `ProposerReward`: the proposal is validated by
     `l2l.synth.validate_proposal` (the sandboxed solver, through the prelude, certifies a unique
     answer, deterministic over runs; that answer is the gold); the current solver pipeline
     (formulator -> generator -> executor, sampled) tries it `attempts` times and the reward is
     1 - s when 0 < s < 1, else 0 (uncertified proposals earn 0);
  3. certified proposals with 0 < s < 1 join the run's pool, which later generator/formulator
     phases train on.
Logged: proposals, valid count, solve-rate spread, mean solve rate.
"""

from __future__ import annotations

import json
import random
import statistics
from typing import Any

PROPOSER_SYSTEM = (
    "You invent new logic puzzles with exactly one correct answer. Reply with one JSON object with keys "
    '"question" (the puzzle in plain English), "options" (list like ["A) ...", "B) ..."] or null), '
    '"formulation" (summary, model_type, variables, constraints, objective) and "program" (a Python '
    "program written with the solver helpers: p = Puzzle(), p.Int/p.Bool/p.Order/p.Assign/p.Pred, p.add(...), then "
    "p.solve(), p.choose({...}), p.truth(claim) or p.maximize(expr), and answer(...) to print the answer). "
    "Only a problem whose answer the solver certifies as unique is accepted; its gold answer is the solver's."
)


def proposer_messages(family: str, description: str, examples: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Chat asking for one new puzzle of `family`, with past examples as prior turns."""
    msgs = [{"role": "system", "content": PROPOSER_SYSTEM}]
    for ex in examples:
        msgs.append({"role": "user", "content": f"Family: {family}. {description}\nPropose a new puzzle."})
        form = ex["formulation"] if isinstance(ex["formulation"], dict) else json.loads(ex["formulation"])
        msgs.append(
            {
                "role": "assistant",
                "content": json.dumps(
                    {"question": ex["question"], "options": ex.get("options"), "formulation": form, "program": ex["program"]}
                ),
            }
        )
    msgs.append({"role": "user", "content": f"Family: {family}. {description}\nPropose a new puzzle, different from the ones above."})
    return msgs


def make_solver(run: Any, max_tokens_form: int, max_tokens_prog: int, temperature: float = 0.8):
    """solver(question, options, n) -> n answers from the current formulator -> generator -> executor."""

    def solve(question: str, options: list[str] | None, n: int) -> list[str | None]:
        from l2l.backends.base import GenerationParams
        from l2l.parsing import parse_formulation
        from l2l.prompts import formulator_messages, generator_messages
        from l2l.pipeline.execute import ExecLimits, certified, run_programs
        from l2l.train.rewards import _programs

        forms = run.policies.backend("formulator").chat(
            formulator_messages(question, options), GenerationParams(max_tokens=max_tokens_form, temperature=temperature, n=n)
        )
        parsed = []
        for c in forms:
            try:
                parsed.append(parse_formulation(c.text))
            except ValueError:
                parsed.append(None)
        forms = [f for f in parsed if f is not None]
        convs = [generator_messages(question, f, options) for f in forms]
        progs = run.policies.backend("generator").chat_batch(convs, GenerationParams(max_tokens=max_tokens_prog, temperature=temperature, n=1))
        programs = _programs([g[0].text for g in progs], [f.backend for f in forms])
        results = run_programs(programs, ExecLimits.from_config(run.cfg.pipeline, run.cfg.get("executor")))
        answers: list[str | None] = [r.answer if certified(r) else None for r in results]
        return answers + [None] * (n - len(answers))

    return solve


def _seed_examples(run: Any, family: str, k: int, rng: random.Random) -> list[dict[str, Any]]:
    pool = [p for p in run.pool if p.get("family") == family]
    gold = [r for r in run.train_rows if r.get("family") == family and r.get("formulation") and r.get("program")]
    if not gold:
        from l2l.synth import generate_records

        gold = [
            {"question": r.question, "options": r.options, "formulation": r.formulation, "program": r.program}
            for r in generate_records(family, k, seed=int(run.cfg.seed) + 1000)
        ]
    src = pool if len(pool) >= k else pool + gold
    return rng.sample(src, min(k, len(src)))


def proposer_phase(run: Any, round_index: int) -> dict[str, Any]:
    """One self-play proposer phase of `run` (a BilevelRun); returns the round's self-play metrics."""
    from l2l.synth import FAMILIES, get_family
    from l2l.train.grpo_config import phase_settings
    from l2l.train.rewards import ProposerReward

    cfg = run.cfg
    sp = cfg.selfplay
    families = list(sp.families) if sp.get("families") else list(FAMILIES)
    rng = random.Random(int(cfg.seed) + round_index)
    rows = []
    for i in range(int(sp.prompts_per_round)):
        fam = families[i % len(families)]
        msgs = proposer_messages(fam, get_family(fam).description, _seed_examples(run, fam, int(sp.examples_per_prompt), rng))
        rows.append({"prompt": msgs, "family": fam})
    fs, gs = phase_settings(cfg, "formulator"), phase_settings(cfg, "generator")
    reward = ProposerReward(
        solver=make_solver(run, int(fs["max_completion_length"]), int(gs["max_completion_length"])),
        attempts=int(cfg.rewards.proposer.attempts),
    )
    # Proposal stats accumulate over every reward call of the phase.
    seen = {"proposals": 0, "valid": 0, "rates": []}
    inner = reward.__call__

    def counted(prompts, completions, **kw):
        out = inner(prompts, completions, **kw)
        seen["proposals"] += reward.last_stats["proposals"]
        seen["valid"] += reward.last_stats["valid"]
        seen["rates"].extend(reward.last_stats["solve_rates"])
        return out

    counted.__name__ = "proposer_reward"
    before = len(reward.pool)
    out = run.grpo_phase("formulator", rows, [counted], round_index, settings_role="proposer")
    added = reward.pool[before:]
    for p in added:
        p["id"] = f"selfplay-r{round_index}-{len(run.pool)}"
        p["round"] = round_index
        run.pool.append(p)
    rates = seen["rates"]
    out.update(
        {
            "selfplay/proposals": seen["proposals"],
            "selfplay/valid": seen["valid"],
            "selfplay/pool_size": len(run.pool),
            "selfplay/solve_rate_mean": statistics.fmean(rates) if rates else 0.0,
            "selfplay/solve_rate_std": statistics.pstdev(rates) if len(rates) > 1 else 0.0,
            "selfplay/learnable": sum(1 for s in rates if 0 < s < 1),
        }
    )
    return out
