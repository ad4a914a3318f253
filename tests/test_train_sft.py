"""Cold-start data: rejection sampling with voting (scripted policies, real parser/executor)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from hydra import compose, initialize_config_dir

from l2l.backends.scripted import ScriptedBackend
from l2l.train.sft_coldstart import rejection_sample, sft_datasets

CONF = str(Path(__file__).resolve().parents[1] / "conf")
OPTS = ["A) The owl is first.", "B) The crow is first."]
FORM = {"summary": "which bird is first", "model_type": "csp", "variables": [{"name": "owl"}], "constraints": ["c"], "objective": None}


def fake_run(formulator: ScriptedBackend, generator: ScriptedBackend):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=sft_coldstart"])
    backends = {"formulator": formulator, "generator": generator}
    return SimpleNamespace(cfg=cfg, policies=SimpleNamespace(backend=lambda role: backends[role]))


def bird_program(first: str) -> str:
    """A prompt-style program whose solver-certified answer is A (owl first) or B (crow first)."""
    order = "owl < crow" if first == "A" else "crow < owl"
    return ("```python\np = Puzzle()\nowl, crow = p.Order(['owl', 'crow'])\n"
            f"p.add({order})\nanswer(p.choose({{'A': owl == 1, 'B': crow == 1}}))\n```")


def test_rejection_sampling_keeps_correct_majority_certified_triples():
    # q0: A, A, B (majority A = gold); q1: B, B, A (majority B != gold A); q2: two constant letters
    # 'A' printed without a solver (right by luck, never kept) and one certified B.
    programs = iter([bird_program(a) for a in "AABBBA"] + ["```python\nprint('ANSWER: A')\n```"] * 2 + [bird_program("B")])
    gen = ScriptedBackend(lambda m, p: next(programs))
    form = ScriptedBackend([json.dumps(FORM)])
    rows = [{"id": str(i), "question": f"Q{i}?", "options": OPTS, "answer": "A"} for i in range(3)]
    kept, stats = rejection_sample(fake_run(form, gen), rows, k=3)
    # q0: the two A programs agree with the vote and are correct; q1: the lone correct A loses the vote
    assert [t["id"] for t in kept] == ["0", "0"]
    assert stats == {"sampled_formulations": 9, "parsed": 9, "certified": 7, "kept": 2}
    assert json.loads(kept[0]["formulation"])["summary"] == "which bird is first"
    assert "p.choose" in kept[0]["program"]


def test_unparseable_formulations_yield_nothing():
    gen = ScriptedBackend([bird_program("A")])
    kept, stats = rejection_sample(fake_run(ScriptedBackend(["not json"]), gen), [{"id": "0", "question": "Q", "options": OPTS, "answer": "A"}], k=2)
    assert kept == [] and stats["parsed"] == 0 and gen.calls == []


def test_sft_rows_are_the_inference_prompts_with_the_gold_as_completion():
    from l2l.prompts import formulator_messages, generator_messages
    from l2l.synth import generate_records
    from l2l.types import Formulation

    rec = generate_records("ordering", 1, seed=1, objects=3)[0]
    triple = {"question": rec.question, "options": rec.options, "answer": rec.answer, "formulation": json.dumps(rec.formulation), "program": rec.program}
    data = sft_datasets([triple])
    f_row, g_row = data["formulator"][0], data["generator"][0]
    # prompt/completion rows: TRL puts the loss on the completion only
    assert f_row["prompt"] == formulator_messages(rec.question, rec.options)  # exactly what inference sends
    assert g_row["prompt"] == generator_messages(rec.question, Formulation.from_dict(rec.formulation), rec.options)
    [f_done], [g_done] = f_row["completion"], g_row["completion"]
    assert f_done["role"] == "assistant" and json.loads(f_done["content"])["summary"] == rec.formulation["summary"]
    # the completion is written as the prompt's worked example is (statement => formula) and reads
    # back, through the parser inference uses, to the gold constraints
    from l2l.parsing import parse_formulation

    assert all(" => " in c and " # " not in c for c in json.loads(f_done["content"])["constraints"])
    assert parse_formulation(f_done["content"]).constraints == rec.formulation["constraints"]
    assert g_done["role"] == "assistant" and rec.program.strip() in g_done["content"]
