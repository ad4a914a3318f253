"""Would prompt-lookup (n-gram) speculative decoding speed up the pipeline's generation here?
(issue 16: faster decoding without changing a single output token).

    flock /tmp/l2l-model.lock python bench/bench_lookup_decoding.py --measure   # batch cost of the real model, then the estimate
    python bench/bench_lookup_decoding.py                                        # estimate from the cost table below (tokenizer only)

Prompt lookup drafts the next K tokens by finding the generation's last n tokens earlier in the
prompt or the generation (llama.cpp's `lookup`, llama-cpp-python's `LlamaPromptLookupDecoding`) and
checks them in one decode of 1 + K tokens: every draft token the model agrees with is a token gained,
and the output is exactly what plain decoding gives. Programs copy names and statements from the
formulation, so it looks promising; whether it pays depends on what a decode of several tokens costs
compared with one, on this CPU.

Two parts:
1. `--measure`: the seconds of one decode of b tokens of one sequence (b = 1..16, logits for every
   token, as verification needs) after a 900-token prompt, through the same engine the pipeline's
   parallel path uses (`LlamaCppSampler`), median of 6.
2. The estimate: every stored formulation and program in `runs/**/predictions.jsonl*` and
   `bench/results/**/predictions.jsonl*`, tokenized with the model's tokenizer, its prompt rebuilt with
   the pipeline's own prompt builders (message texts joined; the chat template's few role tokens left
   out). Each is replayed as greedy verification would go (draft = the K tokens after the latest earlier
   occurrence of the last n tokens, longest n from 4 down to `nmin`; accepted = the draft's prefix that
   matches what the model wrote) and priced with the cost table; printed is plain decoding's time over
   lookup decoding's, per stage, for a grid of K and nmin. A repair round, which rewrites a whole
   program, is the best case and is not in the stored data (only final programs are kept).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Milliseconds of one decode of b tokens of one sequence, qwen2.5-coder-1.5b (Q4_K_M), 2 threads,
# 900-token context; measured with --measure on the 2-core AVX2 machine, idle (2026-11-30 17:49 UTC).
# Sizes not measured are interpolated linearly.
MEASURED_MS = {1: 125.2, 2: 175.5, 3: 242.6, 4: 288.6, 6: 413.2, 8: 755.3, 12: 892.1, 16: 987.6}


def measure(model: str, sizes: list[int], repeats: int = 6) -> dict[int, float]:
    import time

    import numpy as np

    from l2l.models.gguf_assembly import ensure_gguf
    from l2l.train.llamacpp_sampler import LlamaCppSampler

    eng = LlamaCppSampler(ensure_gguf(model), n_ctx=4096, n_seq_max=1)
    prompt = eng.tokenize("Numpuses are kind. Each numpus is a wumpus. " * 60)[:900]
    eng._read_prompt(prompt)
    b, n = eng.batch.batch, len(prompt)
    out = {}
    for size in sizes:
        times = []
        for _ in range(repeats):
            for j, t in enumerate(prompt[100:100 + size]):
                b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = t, n + j, 1, True
                b.seq_id[j][0] = 0
            b.n_tokens = size
            t0 = time.perf_counter()
            eng._decode()
            for j in range(size):
                eng._logits(j).copy()
            times.append(time.perf_counter() - t0)
            eng.ctx.kv_cache_seq_rm(0, n, -1)
        out[size] = 1000 * float(np.median(times))
        print(f"decode of {size:2d} tokens: {out[size]:7.1f} ms ({out[size] / size:5.1f} ms per token)", flush=True)
    eng.close()
    return out


def cost_table(ms: dict[int, float], up_to: int) -> dict[int, float]:
    import numpy as np

    xs = sorted(ms)
    return {b: float(np.interp(b, xs, [ms[x] for x in xs])) for b in range(1, up_to + 1)}


def replay(prompt: list[int], completion: list[int], k: int, nmin: int, cost: dict[int, float], nmax: int = 4) -> float:
    """Milliseconds to decode `completion` after `prompt` with lookup drafts of up to k tokens."""
    hist, index, i, total = list(prompt), {}, 0, 0.0

    def remember(pos: int) -> None:
        for n in range(nmin, nmax + 1):
            if pos - n + 1 >= 0:
                index[(n, tuple(hist[pos - n + 1:pos + 1]))] = pos

    for p in range(len(hist) - 1):
        remember(p)
    while i < len(completion):
        hist.append(completion[i])  # the token just chosen; look up what followed its n-gram before
        i += 1
        draft: list[int] = []
        for n in range(nmax, nmin - 1, -1):
            j = index.get((n, tuple(hist[-n:])))
            if j is not None:
                draft = hist[j + 1:j + 1 + k]
                break
        remember(len(hist) - 1)
        accepted = 0
        while accepted < len(draft) and i + accepted < len(completion) and draft[accepted] == completion[i + accepted]:
            accepted += 1
        total += cost[1 + len(draft)]
        for _ in range(accepted):
            hist.append(completion[i])
            remember(len(hist) - 1)
            i += 1
    return total


def stored_pairs(tokenize) -> dict[str, list[tuple[list[int], list[int]]]]:
    from l2l.prompts import formulator_messages, generator_messages
    from l2l.types import Formulation

    def text(messages) -> str:
        return "\n".join(m["content"] for m in messages)

    pairs: dict[str, list] = {"formulation": [], "program": []}
    seen = set()
    paths = glob.glob(str(ROOT / "runs/**/predictions.jsonl*"), recursive=True)
    paths += glob.glob(str(ROOT / "bench/results/**/predictions.jsonl*"), recursive=True)
    for path in paths:
        with (gzip.open if path.endswith(".gz") else open)(path, "rt") as f:
            for line in f:
                r = json.loads(line)
                f_dict, program = r.get("formulation"), r.get("program")
                key = (r.get("question"), json.dumps(f_dict), program)
                if not f_dict or key in seen:
                    continue
                seen.add(key)
                q, opts = r["question"], r.get("options")
                pairs["formulation"].append((tokenize(text(formulator_messages(q, opts))), tokenize(json.dumps(f_dict))))
                if program:
                    prompt = text(generator_messages(q, Formulation.from_dict(f_dict), opts))
                    pairs["program"].append((tokenize(prompt), tokenize(f"```python\n{program}\n```")))
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--measure", action="store_true", help="measure the batch cost table on the real model first")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 12])
    ap.add_argument("--nmin", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args()

    import llama_cpp

    from l2l.models.gguf_assembly import ensure_gguf

    ms = measure(args.model, sorted(MEASURED_MS)) if args.measure else MEASURED_MS
    cost = cost_table(ms, 1 + max(args.k))
    vocab = llama_cpp.Llama(model_path=str(ensure_gguf(args.model)), vocab_only=True, verbose=False)
    pairs = stored_pairs(lambda s: vocab.tokenize(s.encode("utf-8"), add_bos=False, special=False))
    print("\nplain decoding time / lookup decoding time (greater than 1: lookup is faster)")
    print(f"{'stage':12s} {'n':>4s} {'tokens':>7s}  " + "  ".join(f"K={k:<2d}n>={n}" for k in args.k for n in args.nmin))
    for stage, ps in pairs.items():
        plain = sum(len(c) for _, c in ps) * cost[1]
        gains = [plain / sum(replay(p, c, k, n, cost) for p, c in ps) for k in args.k for n in args.nmin]
        print(f"{stage:12s} {len(ps):4d} {sum(len(c) for _, c in ps):7d}  " + "  ".join(f"{g:8.2f}" for g in gains))
    best = cost[1] * 9 / cost[9]
    print(f"\nupper bound, every draft accepted: K=8 gives {best:.2f}x (9 tokens per decode of 9)")


if __name__ == "__main__":
    main()
