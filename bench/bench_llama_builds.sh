#!/usr/bin/env bash
# Prompt and decode tokens/s of several llama-cpp-python builds on this machine, one after the
# other (never two model processes at once), each in its own throw-away virtualenv that sees the
# rest of the installed packages (--system-site-packages), so only the build differs.
#
#   bash bench/bench_llama_builds.sh installed /tmp/wheels-native/llama_cpp_python-*.whl
#
# Make a build's wheel with the CMAKE_ARGS under test, e.g. pip's default (native) flags:
#   CMAKE_ARGS="-DGGML_NATIVE=ON" pip wheel --no-deps -w /tmp/wheels-native llama-cpp-python==0.3.36
# "installed" means the build already in this environment (scripts/setup.sh's explicit flags).
# Extra arguments for bench/bench_llama_build.py go in $BENCH_ARGS (e.g. "--repeat 3").
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: bash bench/bench_llama_builds.sh installed|WHEEL [...]" >&2; exit 2; }
PY="${PYTHON:-python3}"
for build in "$@"; do
  echo "== build: $build"
  if [[ "$build" == installed ]]; then
    flock /tmp/l2l-model.lock "$PY" bench/bench_llama_build.py ${BENCH_ARGS:-}
  else
    venv="$(mktemp -d)/venv"
    "$PY" -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install --quiet --no-deps --force-reinstall "$build"
    # run from the checkout so `l2l` resolves to this tree, and llama_cpp to the venv's build
    PYTHONPATH="$PWD" flock /tmp/l2l-model.lock "$venv/bin/python" bench/bench_llama_build.py ${BENCH_ARGS:-}
    rm -rf "$(dirname "$venv")"
  fi
done
