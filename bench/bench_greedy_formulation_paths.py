"""A greedy, schema-constrained formulation through llama-cpp-python's sequential path and through the
parallel engine (what `LlamaCppBackend.chat_batch` now uses for it): same text? how long each?

    flock /tmp/l2l-model.lock python bench/bench_greedy_formulation_paths.py                    # 1.5B, 4 LogicalDeduction tune items
    flock /tmp/l2l-model.lock python bench/bench_greedy_formulation_paths.py --dataset bbh_web_of_lies --limit 3

Questions come from the dataset's tune split (the items prompts may be tuned on). Each question's
formulator prompt is read once through the prompt cache ("ram") before timing, so both paths start
from the same cached prefix and the times compare the decoding, prompt suffix included. Printed per
question: generated tokens and wall seconds of each path, and whether the texts are identical.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--dataset", default="logiclm_logicaldeduction")
    ap.add_argument("--limit", type=int, default=4)
    args = ap.parse_args()

    from dataclasses import replace

    from l2l.backends.base import GenerationParams
    from l2l.config import SolveConfig
    from l2l.data import DATASETS, load_dataset
    from l2l.models import load_model
    from l2l.pipeline.formulator import FORMULATION_SCHEMA
    from l2l.prompts import formulator_messages

    c = SolveConfig()
    backend = load_model(args.model, prompt_cache="ram", parallel_sequences=c.parallel_sequences)
    spec = DATASETS[args.dataset]
    items = load_dataset(args.dataset, spec.tune_split, limit=args.limit, seed=0)
    params = GenerationParams(max_tokens=c.formulation_max_tokens, temperature=0.0, repeat_penalty=c.repeat_penalty,
                              json_schema=FORMULATION_SCHEMA, seed=c.seed)
    print(f"{args.model}, {args.dataset} {spec.tune_split}, {len(items)} items, greedy, formulation schema\n")
    print(f"{'item':28s} {'tokens seq':>10s} {'s seq':>7s} {'tokens eng':>10s} {'s eng':>7s}  same text")
    same, t_seq, t_eng = 0, 0.0, 0.0
    for e in items:
        msgs = formulator_messages(e.question, e.options)
        backend.chat(msgs, replace(params, max_tokens=1))  # the prompt into the cache for both paths
        parallel = backend.parallel_sequences
        backend.parallel_sequences = 1  # the sequential path (create_chat_completion)
        t = time.perf_counter()
        [seq] = backend.chat(msgs, params)
        s_seq = time.perf_counter() - t
        backend.parallel_sequences = parallel
        t = time.perf_counter()
        [eng] = backend.chat(msgs, params)
        s_eng = time.perf_counter() - t
        same += seq.text == eng.text
        t_seq, t_eng = t_seq + s_seq, t_eng + s_eng
        print(f"{str(e.id)[:28]:28s} {seq.completion_tokens:10d} {s_seq:7.1f} {eng.completion_tokens:10d} {s_eng:7.1f}  "
              f"{'yes' if seq.text == eng.text else 'NO'}", flush=True)
    print(f"\nidentical texts: {same}/{len(items)}; seconds: sequential {t_seq:.1f}, engine {t_eng:.1f} "
          f"({t_seq / t_eng:.2f}x)")


if __name__ == "__main__":
    main()
