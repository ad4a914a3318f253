"""Every regex over LLM output lives here: JSON formulations, code blocks, final-answer lines."""

from __future__ import annotations

import json
import re

from l2l.types import Formulation, FormulationError

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)
_BOXED_RE = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_ANSWER_LINE_RE = re.compile(r"(?:final answer|answer)\s*(?:is)?\s*[:：]\s*(.+)", re.I)
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")


def _balanced_objects(text: str) -> list[str]:
    """Every top-level {...} span in `text`, respecting strings, in order."""
    spans, depth, start, in_str, esc = [], 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def extract_json(text: str) -> dict:
    """The first JSON object in a completion (fenced or bare), with one cheap repair
    (trailing commas). Raises FormulationError saying what was wrong."""
    if not text or not text.strip():
        raise FormulationError("the model returned an empty reply (no JSON object)")
    candidates = [body for lang, body in _FENCE_RE.findall(text) if lang.lower() in ("", "json")]
    candidates.append(text)
    last_error = None
    for chunk in candidates:
        for span in _balanced_objects(chunk):
            for attempt in (span, _TRAILING_COMMA_RE.sub(r"\1", span)):
                try:
                    obj = json.loads(attempt)
                except json.JSONDecodeError as e:
                    last_error = e
                    continue
                if isinstance(obj, dict):
                    return obj
    if last_error is not None:
        raise FormulationError(f"the model's JSON does not parse: {last_error.msg} at column {last_error.colno}")
    raise FormulationError("the model's reply contains no JSON object")


def parse_formulation(text: str) -> Formulation:
    """Completion text -> validated Formulation (FormulationError names what is wrong)."""
    return Formulation.from_dict(extract_json(text))


def extract_program(text: str) -> str:
    """The Python program in a completion: the longest ```python block (or unlabelled
    block), else the whole reply if it looks like code. Raises ValueError when there is none."""
    if not text or not text.strip():
        raise ValueError("the model returned an empty reply (no program)")
    blocks = [body for lang, body in _FENCE_RE.findall(text) if lang.lower() in ("python", "py", "python3", "")]
    blocks = [b.strip() for b in blocks if b.strip()]
    if blocks:
        return max(blocks, key=len)
    stripped = text.strip()
    if re.search(r"^\s*(from|import|def|class|p\s*=|print\(|answer\()", stripped, re.M):
        return stripped
    raise ValueError("the model's reply contains no Python program")


def extract_final_answer(text: str) -> str | None:
    """The value of the last 'Answer: ...' line of a chain of thought; else the last
    `\\boxed{...}`; else the last non-empty line if it is short enough to be an answer (a bare
    "B" or "True"); else None."""
    if not text or not text.strip():
        return None
    found = None
    for line in text.splitlines():
        m = _ANSWER_LINE_RE.search(line)
        if m:
            found = m.group(1).strip()
    if found is None:
        # Small instruct models often end a chain of thought with LaTeX's boxed answer instead of
        # the requested "Answer:" line; reading it keeps `cot` from being scored on format alone.
        boxed = _BOXED_RE.findall(text)
        if boxed:
            found = boxed[-1]
    if found is None:
        last = [ln for ln in text.splitlines() if ln.strip()][-1].strip()
        # A long last line is reasoning that ran out, not an answer: count it as no answer.
        if len(last.split()) > 6:
            return None
        found = last
    return found.strip().strip("*").strip().rstrip(".") or None


__all__ = ["extract_final_answer", "extract_json", "extract_program", "parse_formulation"]
