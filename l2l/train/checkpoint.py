"""Round checkpoints: both adapters, both optimizer states, the round counter, extra state.

Layout under `<out_dir>/checkpoints/round-NNNN/`:
    formulator/  generator/      PEFT adapter dirs (loadable by `l2l solve --model <dir>`)
    optim-formulator.pt  optim-generator.pt
    state.json                   {"round": N, ...}; written last, so its presence means "complete"

A round directory is written under a temporary name and renamed into place, so a kill
mid-save leaves the previous round as the latest complete one. `<out_dir>/adapters/` always
holds a copy of the newest adapters for convenience.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

STATE = "state.json"


def round_dir(out_dir: str, round_index: int) -> str:
    return os.path.join(out_dir, "checkpoints", f"round-{round_index:04d}")


def latest(out_dir: str) -> str | None:
    """The newest complete round directory, or None."""
    root = os.path.join(out_dir, "checkpoints")
    if not os.path.isdir(root):
        return None
    done = sorted(d for d in os.listdir(root) if d.startswith("round-") and os.path.exists(os.path.join(root, d, STATE)))
    return os.path.join(root, done[-1]) if done else None


def load_state(ckpt: str) -> dict[str, Any]:
    with open(os.path.join(ckpt, STATE)) as f:
        return json.load(f)


def save_round(out_dir: str, round_index: int, policies: Any, optimizers: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """Write the checkpoint of a completed round; returns its directory."""
    import torch

    final = round_dir(out_dir, round_index)
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for role in ("formulator", "generator"):
        policies.save(role, os.path.join(tmp, role))
        if role in optimizers and optimizers[role] is not None:
            torch.save(optimizers[role].state_dict(), os.path.join(tmp, f"optim-{role}.pt"))
    with open(os.path.join(tmp, STATE), "w") as f:
        json.dump({"round": round_index, **(extra or {})}, f, indent=2, default=str)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    # Convenience copy of the newest adapters at a stable path.
    adapters = os.path.join(out_dir, "adapters")
    for role in ("formulator", "generator"):
        dst = os.path.join(adapters, role)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(os.path.join(final, role), dst)
    return final


def load_optimizer(ckpt: str, role: str, optimizer: Any) -> bool:
    """Restore an optimizer's state from a round checkpoint; False when none was saved."""
    import torch

    path = os.path.join(ckpt, f"optim-{role}.pt")
    if not os.path.exists(path):
        return False
    optimizer.load_state_dict(torch.load(path, weights_only=False))
    return True
