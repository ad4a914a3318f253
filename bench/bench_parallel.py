"""Decode speed of 1, 2, 4 and 8 parallel sequences in one llama.cpp context (issue 16: the data
behind `parallel_sequences`, l2l/config.py).

    flock /tmp/l2l-model.lock python bench/bench_parallel.py                       # qwen2.5-coder-0.5b
    flock /tmp/l2l-model.lock python bench/bench_parallel.py --model qwen2.5-coder-1.5b --tokens 128
    python bench/bench_parallel.py --gguf tiny.gguf --threads 1 --tokens 32       # any GGUF (a tiny test model)
    flock /tmp/l2l-model.lock python bench/bench_parallel.py --grammar            # + schema-constrained formulations

The prompt is the formulator's for the README's knights-and-knaves example (the long system text
and worked example the pipeline really sends). For each number of sequences k the prompt is read
once from an empty KV cache (prompt eval), then k sequences of exactly N tokens are drawn in
parallel (end-of-generation ignored, so every row decodes the same amount), as the inference path
draws them (llama-cpp-python's sampler chain at `--temperature`, repeat penalty 1.1). Printed per k:
prompt-eval seconds, decode seconds, aggregate tokens/s (k x N / decode s), per-sequence tokens/s
(N / decode s), the aggregate's gain over k=1, and the share of decode time spent in llama.cpp
(the rest is numpy sampling in Python). The row "1 (sequential)" is the sequential path
(`create_chat_completion`, llama.cpp's own sampler; it stops at end-of-generation, so its token
count may be lower). `--grammar` adds a table of completions under the formulation's JSON schema,
sequential and k in parallel through the inference path with its per-sequence grammars (prompt
eval included; sequences end when their JSON closes, so lengths may differ).

Best of `--repeats` runs per row. Figures depend on machine load: run it alone (the lock).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _messages() -> list[dict]:
    from l2l.prompts import formulator_messages

    question = (ROOT / "data/examples/knights_knaves.txt").read_text().strip()
    return formulator_messages(question, None)


def _load(args: argparse.Namespace, n_ctx: int):
    kw = dict(n_threads=args.threads, n_ctx=n_ctx, parallel_sequences=max(args.sequences), prompt_cache="off", progress=False)
    if args.gguf:
        from l2l.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(args.gguf, **kw)
    from l2l.models import load_model

    return load_model(args.model, **kw)


def _row(cells: list) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def bench_fixed_length(backend, prompt: list[int], args: argparse.Namespace) -> list[list]:
    """Rows of the main table: k sequences of exactly N tokens each, best of the repeats."""
    import numpy as np

    from l2l.backends.base import GenerationParams
    from l2l.backends.llamacpp_parallel import sampling_settings
    from l2l.train.llamacpp_sampler import DecodeStats

    engine = backend.parallel_engine()  # a 1-sequence context's warm-up call makes none
    settings = sampling_settings(GenerationParams(temperature=args.temperature, repeat_penalty=1.1), args.tokens,
                                 backend.llm.last_n_tokens_size)
    rows, base = [], None
    for k in args.sequences:
        best = None
        for rep in range(args.repeats):
            engine.stats, llama_before = DecodeStats(), engine.decode_s
            backend.llm.reset()
            t = time.perf_counter()
            samples = engine.sample(prompt, k, settings, set(), np.random.default_rng(rep))
            wall = time.perf_counter() - t
            backend.llm.reset()  # sample() cleared the KV cache the backend's bookkeeping describes
            tokens = sum(len(s.completion_ids) for s in samples)
            prompt_s = engine.stats.prompt_s
            decode = wall - prompt_s
            llama_s = engine.decode_s - llama_before - prompt_s
            if best is None or decode < best[1]:
                best = (prompt_s, decode, tokens, llama_s)
        prompt_s, decode, tokens, llama_s = best
        agg = tokens / decode
        base = base or agg
        rows.append([k, len(prompt), f"{prompt_s:.2f}", tokens, f"{decode:.2f}", f"{agg:.1f}", f"{agg / k:.1f}",
                     f"{agg / base:.2f}x", f"{100 * llama_s / decode:.0f}%"])
    return rows


def bench_sequential(backend, messages: list[dict], prompt: list[int], args: argparse.Namespace) -> list:
    """The sequential path (create_chat_completion) on the same prompt, prompt eval timed apart."""
    best = None
    for rep in range(args.repeats):
        llm = backend.llm
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt[:-1])  # the completion reuses this prefix and decodes only the last prompt token
        prompt_s = time.perf_counter() - t
        t = time.perf_counter()
        out = llm.create_chat_completion(messages=messages, max_tokens=args.tokens, temperature=args.temperature,
                                         top_p=1.0, repeat_penalty=1.1, seed=rep)
        decode = time.perf_counter() - t
        tokens = int(out["usage"]["completion_tokens"])
        if best is None or decode / max(1, tokens) < best[1] / max(1, best[2]):
            best = (prompt_s, decode, tokens)
    prompt_s, decode, tokens = best
    return ["1 (sequential)", len(prompt), f"{prompt_s:.2f}", tokens, f"{decode:.2f}", f"{tokens / decode:.1f}",
            f"{tokens / decode:.1f}", "", "100%"]


def bench_grammar(backend, messages: list[dict], args: argparse.Namespace) -> list[list]:
    """Completions under the formulation's JSON schema: the sequential path (`chat`, n=1), then k
    parallel sequences through the inference path (`chat_parallel`, what `chat(n=k)` runs)."""
    from l2l.backends.base import GenerationParams
    from l2l.backends.llamacpp import _DECODE_LOCK
    from l2l.backends.llamacpp_parallel import chat_parallel
    from l2l.pipeline.formulator import FORMULATION_SCHEMA

    rows = []
    for k in ["1 (sequential)", *args.sequences]:
        backend.llm.reset()
        params = GenerationParams(max_tokens=args.tokens, temperature=args.temperature, repeat_penalty=1.1,
                                  n=1 if isinstance(k, str) else k, json_schema=FORMULATION_SCHEMA, seed=0)
        t = time.perf_counter()
        if isinstance(k, str):
            out = backend.chat(messages, params)
        else:
            with _DECODE_LOCK:
                [out] = chat_parallel(backend.parallel_engine(), backend.llm, [messages], params, 0)
        wall = time.perf_counter() - t
        tokens = sum(c.completion_tokens for c in out)
        rows.append([k, tokens, f"{wall:.2f}", f"{tokens / wall:.1f}", sum(c.finish_reason == "stop" for c in out)])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b", help="registered model (default: %(default)s)")
    ap.add_argument("--gguf", default=None, help="a GGUF file instead of a registered model")
    ap.add_argument("--tokens", type=int, default=128, help="tokens per sequence, N (default: %(default)s)")
    ap.add_argument("--sequences", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8],
                    help="numbers of parallel sequences (default: 1,2,4,8)")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the usable cores)")
    ap.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default: %(default)s, the pipeline's)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per row, best kept (default: %(default)s)")
    ap.add_argument("--grammar", action="store_true", help="also time chat(n=k) under the formulation JSON schema")
    args = ap.parse_args()

    import llama_cpp

    from l2l.backends.base import GenerationParams
    from l2l.backends.llamacpp_parallel import format_chat

    messages = _messages()
    load = time.perf_counter()
    n_ctx = 4096 + max(args.sequences) * args.tokens  # the prompt (under 4096 tokens) once, every sequence's N
    backend = _load(args, n_ctx)
    load = time.perf_counter() - load
    prompt = format_chat(backend.llm, messages, GenerationParams()).ids
    backend.chat(messages, max_tokens=2, n=2)  # pages the weights in, makes the parallel engine
    name = args.gguf or args.model
    print(f"# parallel sequences: {name}")
    print(f"\nllama-cpp-python {llama_cpp.__version__}, {backend.n_threads} threads, cores available "
          f"{len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.1f}, n_ctx {n_ctx}, "
          f"N={args.tokens} tokens per sequence, temperature {args.temperature}, best of {args.repeats}; load {load:.1f} s\n")
    print(_row(["sequences", "prompt tokens", "prompt eval s", "tokens", "decode s", "aggregate tok/s",
                "per-sequence tok/s", "aggregate vs 1", "in llama.cpp"]))
    print(_row(["---"] * 9))
    print(_row(bench_sequential(backend, messages, prompt, args)))
    for row in bench_fixed_length(backend, prompt, args):
        print(_row(row))
    if args.grammar:
        print("\nschema-constrained formulations, end to end (prompt eval included):\n")
        print(_row(["sequences", "tokens", "wall s", "aggregate tok/s", "closed JSON"]))
        print(_row(["---"] * 5))
        for row in bench_grammar(backend, messages, args):
            print(_row(row))
    backend.close()


if __name__ == "__main__":
    main()
