"""Per-round metrics: named, timed stages and a metrics.jsonl writer.

    >>> log = MetricsLog("/tmp/run/metrics.jsonl")           # doctest: +SKIP
    >>> with log.stage("generator_phase"): ...               # doctest: +SKIP
    >>> log.write({"round": 0})                              # adds seconds per stage
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class MetricsLog:
    """Collects stage timings for the current round and appends one JSON line per round."""

    def __init__(self, path: str, enabled: bool = True):
        self.path = path
        self.enabled = enabled  # False on non-main processes of a multi-process run
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one named stage of the round (generate, reward, update, validate, ...)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append `record` plus `seconds` per stage; resets the stage timers."""
        record = {**record, "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}
        record["seconds"]["round"] = round(sum(self.seconds.values()), 3)
        self.seconds = {}
        if self.enabled:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps(record, default=str) + "\n")
        return record


def read_metrics(path: str) -> list[dict[str, Any]]:
    """All records of a metrics.jsonl file (empty list when it does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarise_log_history(history: list[dict[str, Any]], prefix: str) -> dict[str, float]:
    """Means of the TRL trainer's per-step logs we care about, keyed `<prefix>/<name>`."""
    keys = {
        "reward": "reward",
        "reward_std": "reward_std",
        "completions/mean_length": "completion_length",
        "kl": "kl",
        "loss": "loss",
        "frac_reward_zero_std": "frac_reward_zero_std",
        # rollouts not sampled by the policy (llama.cpp, vLLM): |policy - sampler| log-probability per token,
        # and the importance ratio TRL weighs the loss with (l2l/train/rollout_llamacpp.py)
        "sampling/sampling_logp_difference/mean": "rollout_logp_gap",
        "sampling/sampling_logp_difference/max": "rollout_logp_gap_max",
        "sampling/importance_sampling_ratio/mean": "is_ratio",
        "sampling/importance_sampling_ratio/min": "is_ratio_min",
        "sampling/importance_sampling_ratio/max": "is_ratio_max",
    }
    out: dict[str, float] = {}
    for src, dst in keys.items():
        vals = [h[src] for h in history if src in h and isinstance(h[src], (int, float))]
        if vals:
            out[f"{prefix}/{dst}"] = sum(vals) / len(vals)
    return out
