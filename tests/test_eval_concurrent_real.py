"""`l2l eval --method l2l --batch-size 2` for real: two questions solved at once on the 0.5B GGUF
through llama.cpp, their formulations decoded together as parallel sequences of one context
(l2l/backends/gather.py -> LlamaCppBackend.chat_batch), programs run in the real sandbox.
Checks the path on real output, not accuracy. About a minute on 2 idle cores."""

from __future__ import annotations

import json

from l2l.config import SolveConfig
from l2l.data import load_dataset
from l2l.eval import EvalRun, run_eval

DATASET = "bbh_logical_deduction_three_objects"
CONFIG = SolveConfig(model="qwen2.5-coder-0.5b", formulation_max_tokens=160, program_max_tokens=160, repair_rounds=0,
                     coverage_repair=False, timeout_s=10)


class Recording:
    """Passes calls to the real backend and records how many conversations each chat_batch carried."""

    def __init__(self, backend):
        self.backend, self.sizes = backend, []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def chat(self, messages, params=None, **kw):
        self.sizes.append(1)
        return self.backend.chat(messages, params, **kw)

    def chat_batch(self, conversations, params=None, **kw):
        self.sizes.append(len(conversations))
        return self.backend.chat_batch(conversations, params, **kw)


def test_two_questions_at_once_share_decoding_and_both_are_recorded(llama_05b, tmp_path):
    ids = sorted(e.id for e in load_dataset(DATASET, limit=2, seed=0))
    model = Recording(llama_05b)
    run = EvalRun(DATASET, "l2l", tmp_path / "l2l", limit=2, seed=0, model=CONFIG.model, config=CONFIG, batch_size=2)
    summary = run_eval(run, backend=model, progress=False)
    records = [json.loads(x) for x in (tmp_path / "l2l" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in records) == ids and summary["n"] == 2
    assert all(r["status"] != "error" for r in records), [r["error"] for r in records]
    # the two greedy, schema-constrained first formulations went to llama.cpp as one call
    assert 2 in model.sizes
    for r in records:  # each question's own formulation call was counted on its own record
        assert r["usage"]["formulation"]["calls"] >= 1 and r["usage"]["formulation"]["completion_tokens"] > 0
