"""Load time and generation speed of the offline models through the llama.cpp backend.

    python bench/bench_backends.py                       # both registry models
    python bench/bench_backends.py --models qwen2.5-coder-0.5b --tokens 128

Prints one line per model: GGUF assembly/verify time, load time, prompt and generation
tokens/s (greedy, a fixed prompt), and JSON-schema constrained generation tokens/s.
Figures depend on machine load; run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import time

PROMPT = [{"role": "user", "content": "Write a Python function that checks whether a number is prime, with a docstring."}]
SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}, "variables": {"type": "array", "items": {"type": "string"}, "maxItems": 5}},
          "required": ["summary", "variables"]}


def bench(name: str, tokens: int, threads: int | None) -> None:
    from l2l.models import ensure_gguf, load_model

    t0 = time.perf_counter()
    ensure_gguf(name, progress=False)
    t_gguf = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = load_model(name, n_threads=threads, progress=False)
    t_load = time.perf_counter() - t0
    [c] = b.chat(PROMPT, max_tokens=tokens, repeat_penalty=1.1)
    [j] = b.chat([{"role": "user", "content": "Formulate: three friends each own a different pet. Output JSON."}],
                 max_tokens=tokens, json_schema=SCHEMA, repeat_penalty=1.1)
    print(f"{name:20s} threads={b.n_threads} gguf={t_gguf:.2f}s load={t_load:.2f}s "
          f"free: {c.prompt_tokens}+{c.completion_tokens} tok in {c.elapsed_s:.2f}s ({c.completion_tokens / c.elapsed_s:.1f} tok/s overall) "
          f"json: {j.completion_tokens} tok in {j.elapsed_s:.2f}s ({j.completion_tokens / j.elapsed_s:.1f} tok/s)")
    b.close()


def main() -> None:
    from l2l.models import MODELS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.1f}")
    for m in args.models:
        bench(m, args.tokens, args.threads)


if __name__ == "__main__":
    main()
