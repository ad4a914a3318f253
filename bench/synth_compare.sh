#!/usr/bin/env bash
# Several (model, method) pairs on the same held-out synthetic items, family by family, so that a
# run stopped at any point leaves paired results (each `l2l eval` resumes where it stopped).
#
#   bash bench/synth_compare.sh ITEMS_PER_FAMILY MODEL:METHOD [MODEL:METHOD ...]
#   bash bench/synth_compare.sh 5 l2l-0.5b-sft:l2l qwen2.5-coder-0.5b:l2l qwen2.5-coder-0.5b:cot
#
# Held-out set: bench/synth_heldout.py (seed 900000, 20 per family) in runs/heldout; results in
# runs/synth/<model>/<family>/<method>; the comparison table (`l2l eval --compare`) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
n="$1"; shift
python3 bench/synth_heldout.py runs/heldout -n 20 >/dev/null
runs=()
for path in runs/heldout/*.jsonl; do
  family="$(basename "$path" .jsonl)"
  for pair in "$@"; do
    model="${pair%%:*}"; method="${pair##*:}"
    out="runs/synth/$model/$family/$method"
    l2l eval -d "$path" --method "$method" -m "$model" --limit "$n" --out "$out" --quiet
    runs+=("$out")
  done
done
l2l eval --compare "${runs[@]}"
