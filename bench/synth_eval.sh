#!/usr/bin/env bash
# Accuracy of one model on the held-out synthetic puzzles, per family, with `cot` and `l2l`.
#
#   bash bench/synth_eval.sh [MODEL] [ITEMS_PER_FAMILY] [METHODS]   # defaults: qwen2.5-coder-1.5b, 5, "cot l2l"
#   bash bench/synth_eval.sh l2l-0.5b-sft 10 l2l      # a trained model, l2l only
#
# Writes the held-out set (seed 900000, far from the training seeds) to runs/heldout, one
# `l2l eval` run per family and method to runs/synth/<model>/<family>/<method> (resumable),
# then prints the comparison table (`l2l eval --compare`); bench/synth_compare.sh does the work.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-qwen2.5-coder-1.5b}"
n="${2:-5}"
pairs=()
for method in ${3:-cot l2l}; do pairs+=("$model:$method"); done
exec bash bench/synth_compare.sh "$n" "${pairs[@]}"
