"""The whole pipeline on the real 0.5B GGUF through llama.cpp, real sandbox, real solvers.

The 0.5B model is not reliably right on these puzzles, so most checks are about the run:
it completes, the formulation is well-formed (schema-constrained decoding), a program was
written and executed, and the account is consistent. Correctness is asserted only where
the model was measured to be reliably right (see the closing comment of each test).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from l2l.config import SolveConfig
from l2l.pipeline.solve import Solver
from l2l.types import Formulation

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "data/examples").glob("*.txt"))

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_readme_examples_run_end_to_end(llama_05b, path):
    question = path.read_text()
    result = Solver(SolveConfig(repair_rounds=1, program_max_tokens=700), llama_05b).solve(question)
    assert result.status in ("solved", "disagreement", "no_answer")
    cand = result.candidates[0]
    # JSON-schema decoding makes the formulation well-formed; it must validate and round-trip.
    assert cand.formulation is not None, cand.error
    assert Formulation.from_json(cand.formulation.to_json()) == cand.formulation
    assert cand.program is not None and cand.program.code.strip(), cand.error
    assert cand.execution is not None and cand.execution.status in ("ok", "syntax_error", "runtime_error", "timeout", "memory", "no_answer", "blocked")
    if result.answer is not None:
        assert cand.execution.status == "ok" and result.votes[result.answer] >= 1
    else:
        assert result.error  # a failure always says why
    assert result.timings["llm"] > 0 and result.tokens["completion"] > 0
    # The real backend's token counts reach the per-stage usage, and the stages add up.
    assert result.usage["formulation"]["completion_tokens"] > 0 and result.usage["program"]["completion_tokens"] > 0
    assert sum(u["completion_tokens"] for u in result.usage.values()) == result.tokens["completion"]
    assert sum(u["prompt_tokens"] for u in result.usage.values()) == result.tokens["prompt"]


def test_cli_json_with_the_real_model():
    r = subprocess.run(
        [sys.executable, "-m", "l2l", "solve", "--model", "qwen2.5-coder-0.5b", "--json", "--quiet", "--file", str(ROOT / "data/examples/word_problem.txt")],
        capture_output=True, text=True, timeout=900,
    )
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert {"answer", "status", "formulation", "program", "timings"} <= set(out)
    assert set(out["formulation"]) == set(Formulation.FIELDS)
    assert out["program"] and out["timings"]["model_load"] > 0
    assert (r.returncode == 0) == (out["answer"] is not None)
