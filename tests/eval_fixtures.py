"""Shared pieces of the eval tests: a tiny JSONL dataset and a scripted model that answers
each example by its tag, per stage (direct, cot, program, formulator, generator, repair)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from l2l.backends.base import GenerationParams
from l2l.backends.scripted import ScriptedBackend

ROWS = [
    {"id": "q1", "question": "[q1] Is the statement true?", "options": ["A) True", "B) False"], "answer": "A"},
    {"id": "q2", "question": "[q2] Is the other statement true?", "options": ["A) True", "B) False"], "answer": "B"},
    {"id": "q3", "question": "[q3] How many apples are left?", "answer": "5"},
    {"id": "q4", "question": "[q4] Does Elanor tell the truth?", "answer": "Yes"},
]

FORMULATION = json.dumps(
    {"summary": "s", "model_type": "sat", "variables": [{"name": "x", "type": "bool", "domain": "t/f"}],
     "constraints": ["x"], "objective": None}
)


def code(body: str) -> str:
    return f"```python\n{body}\n```"


# What the scripted model replies, by stage and example tag.
REPLIES = {
    "direct": {"q1": "Answer: B", "q2": "Answer: B", "q3": "Answer: 4", "q4": "Answer: Yes"},
    "cot": {"q1": "It holds.\nAnswer: A", "q2": "Answer: A", "q3": "2 + 3 = 5\nAnswer: 5.0", "q4": "Hmm."},
    # q1 right by option text, q2 wrong, q3 crashes then is repaired, q4 never writes code.
    "program": {"q1": code('answer("True")'), "q2": code('answer("True")'), "q3": code("raise ValueError('boom')"), "q4": "I cannot."},
    "repair": {"q3": code("answer(5)")},
    "formulator": {"q1": FORMULATION, "q2": FORMULATION, "q3": FORMULATION, "q4": "no json at all"},
}


def stage(messages) -> str:
    system = messages[0]["content"]
    last = messages[-1]["content"]
    if last.startswith("Running your program failed"):
        return "repair"
    if system.startswith("You turn a reasoning problem"):
        return "formulator"
    if "Python program" in system:
        return "program"  # one-stage program and l2l generator share the replies
    if "step by step" in system:
        return "cot"
    return "direct"


def tag(messages) -> str:
    found = re.findall(r"\[(q\d+)\]", messages[-1]["content"]) or re.findall(r"\[(q\d+)\]", " ".join(m["content"] for m in messages))
    return found[-1]


def scripted_model(replies: dict | None = None) -> ScriptedBackend:
    """A model whose reply depends on the stage and the example; `.calls` records every request."""
    table = replies or REPLIES

    def reply(messages, params: GenerationParams) -> str:
        return table[stage(messages)].get(tag(messages), "")

    return ScriptedBackend(reply)


def tiny_dataset(folder: Path) -> Path:
    path = folder / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return path


def called_tags(model: ScriptedBackend) -> list[str]:
    return [tag(messages) for messages, _ in model.calls]
