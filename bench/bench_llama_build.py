"""Prompt and decode speed of the installed llama-cpp-python build, on one registry model.

    python bench/bench_llama_build.py                          # the 1.5B default, 2 threads
    python bench/bench_llama_build.py --model qwen2.5-coder-0.5b --repeat 3
    bash bench/bench_llama_builds.sh WHEEL [WHEEL ...]         # the same, once per build

Prints the build (ggml's CPU feature string) and, per repeat, prompt-processing tokens/s (a fixed
~500-token prompt, evaluated once; the first sampled token counts to it) and decode tokens/s (128
greedy tokens after it, one at a time). It measures llama.cpp itself, not the L2L pipeline, so
two builds of the same llama-cpp-python version compare directly. Run on an otherwise idle
machine: llama.cpp's threads spin, and any other process on the cores changes the figures many
times over.
"""

from __future__ import annotations

import argparse
import os
import time

# ~500 tokens of ordinary puzzle text: the size of a formulation prompt's question part
PROMPT = ("On a shelf there are five books: a red book, a green book, a blue book, a white book and a black book. "
          "The red book is to the left of the green book. The blue book is the rightmost. The white book is the "
          "second from the left. The green book is to the right of the white book. ") * 8


def run(model: str, threads: int, decode_tokens: int, repeat: int, gguf: str | None = None) -> None:
    import llama_cpp

    from l2l.models import ensure_gguf

    path = gguf or ensure_gguf(model, progress=False)
    model = os.path.basename(gguf) if gguf else model
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                          n_batch=512, verbose=False)
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    print(f"llama-cpp-python {llama_cpp.__version__} at {os.path.dirname(llama_cpp.__file__)}")
    print(f"ggml: {info.strip()}")
    tokens = llm.tokenize(PROMPT.encode())
    for i in range(repeat):
        llm.reset()
        t0 = time.perf_counter()
        first = None  # the prompt's evaluation ends with the first sampled token
        n = 0
        for tok in llm.generate(tokens, top_k=1, temp=0.0):  # greedy
            if first is None:
                first = time.perf_counter()
                continue
            n += 1
            if n >= decode_tokens or tok == llm.token_eos():
                break
        end = time.perf_counter()
        prompt_s, decode_s = first - t0, end - first
        print(f"{model} threads={threads} run {i + 1}: prompt {len(tokens)} tok in {prompt_s:.2f}s "
              f"({len(tokens) / prompt_s:.1f} tok/s), decode {n} tok in {decode_s:.2f}s ({n / decode_s:.1f} tok/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--gguf", default=None, help="a GGUF file to measure instead of a registry model")
    ap.add_argument("--threads", type=int, default=None, help="default: the cores this process may use")
    ap.add_argument("--tokens", type=int, default=128, help="tokens to decode")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from l2l.machine import usable_cores

    threads = args.threads or usable_cores()
    print(f"cores usable: {usable_cores()}, load average: {os.getloadavg()[0]:.1f}")
    run(args.model, threads, args.tokens, args.repeat, args.gguf)


if __name__ == "__main__":
    main()
