"""Where a generated program's tokens go: code, comments, blank lines; per dataset and method.

    python bench/bench_program_tokens.py                       # every stored predictions file
    python bench/bench_program_tokens.py runs/eval/qwen2.5-coder-1.5b/logiclm_prontoqa/program

Reads the programs the predictions recorded (`program` of each record: the candidate behind the
answer or the last failure) from `bench/results/eval/**/predictions.jsonl.gz` and
`runs/**/predictions.jsonl*` (or the folders given), counts Qwen2.5 tokens (the tokenizer of
the installed 0.5B GGUF, the same vocabulary as the 1.5B) and splits them by Python's own
tokenizer into comment tokens and the rest. The generator and program prompts ask for "each
[constraint] with the statement it comes from as a comment"; this prints what that costs.
No model is loaded.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing it


def _files(folders: list[str]) -> list[Path]:
    if folders:
        return [p for f in folders for p in sorted(Path(f).glob("predictions.jsonl*"))]
    return sorted((ROOT / "bench/results/eval").glob("**/predictions.jsonl.gz")) + sorted((ROOT / "runs").glob("**/predictions.jsonl*"))


def comment_text(code: str) -> list[str]:
    """The comments of a program (Python's tokenizer; a program that does not tokenize has none counted)."""
    try:
        return [t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", help="folders holding predictions.jsonl(.gz) (default: all stored)")
    a = ap.parse_args()
    from l2l.train.tiny import load_qwen_tokenizer

    tok = load_qwen_tokenizer()
    count = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    seen: set[str] = set()
    for path in _files(a.folders):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                code = r.get("program")
                if not code or code in seen:  # a cell published from a work folder is read once
                    continue
                seen.add(code)
                key = (str(r.get("dataset") or path.parent.parent.name), path.parent.name)
                rows[key][0] += 1
                rows[key][1] += count(code)
                rows[key][2] += sum(count(c) for c in comment_text(code))
    print("| dataset | method | programs | tokens per program | comment tokens | comment share |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    total = [0, 0, 0]
    for (ds, method), (n, toks, com) in sorted(rows.items()):
        total = [total[0] + n, total[1] + toks, total[2] + com]
        print(f"| {ds} | {method} | {n} | {toks / n:.0f} | {com} | {100 * com / max(toks, 1):.1f}% |")
    n, toks, com = total
    if n:
        print(f"| all | | {n} | {toks / n:.0f} | {com} | {100 * com / max(toks, 1):.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
