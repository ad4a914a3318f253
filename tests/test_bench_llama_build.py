"""bench/bench_llama_build.py on a tiny randomly initialised Qwen2 GGUF: it prints the build's CPU
features and, per repeat, prompt and decode token counts with their rates. (~15 s, no real model)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_prints_the_build_and_prompt_and_decode_rates(tiny_qwen2_dir, tmp_path):
    from l2l.models.qwen2_gguf import checkpoint_to_gguf

    gguf = checkpoint_to_gguf(tiny_qwen2_dir, tmp_path / "tiny.gguf")
    out = subprocess.run([sys.executable, "bench/bench_llama_build.py", "--gguf", str(gguf), "--threads", "1",
                          "--tokens", "16", "--repeat", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "llama-cpp-python " in out.stdout and "ggml: " in out.stdout
    runs = re.findall(r"run (\d): prompt (\d+) tok in [\d.]+s \(([\d.]+) tok/s\), decode (\d+) tok in [\d.]+s \(([\d.]+) tok/s\)", out.stdout)
    assert [r[0] for r in runs] == ["1", "2"], out.stdout
    for _, prompt, prompt_rate, decoded, decode_rate in runs:
        assert int(prompt) > 300  # the fixed ~500-token puzzle prompt, whole
        assert 1 <= int(decoded) <= 16 and float(prompt_rate) > 0 and float(decode_rate) > 0
