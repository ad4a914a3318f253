"""PEFT LoRA adapter folder -> GGUF LoRA adapter that llama.cpp applies on top of a GGUF base.

Training writes each policy as a PEFT folder (`adapter_config.json` + `adapter_model.safetensors`,
see `l2l.train.policies`); `l2l solve` runs GGUF models with llama.cpp, which loads LoRA adapters
from GGUF files (`llama_adapter_lora_init`). This module writes that file for the registry's
architecture (Qwen2) and its attention and MLP projections, with numpy and the `gguf` package
only (no torch), and keeps converted files in a content-addressed cache.

    >>> from l2l.models.lora_gguf import peft_to_gguf
    >>> peft_to_gguf("runs/bilevel/adapters/generator", "generator.gguf")  # doctest: +SKIP

The conventions are llama.cpp's, read from its `convert_lora_to_gguf.py` and
`src/llama-adapter.cpp` (the copy vendored in llama-cpp-python 0.3.36, whose gguf-py is 0.19.0):

- keys: `general.architecture` (the base's, checked against the model at load),
  `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha` (float32);
- tensors: `blk.{i}.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight.lora_a`
  and `.lora_b`, PEFT's `lora_A.weight` (rank x in) and `lora_B.weight` (out x rank) as they are:
  GGUF reverses numpy's axes, and llama.cpp wants lora_a's ne[0] == the base weight's ne[0] (in)
  and lora_b's ne[1] == its ne[1] (out). Qwen2 needs no q/k permutation (Llama does);
- scale: llama.cpp multiplies B·A by `alpha / rank` (rank = lora_b's last numpy axis), which is
  PEFT's scaling for plain LoRA. Where PEFT scales differently (rsLoRA's alpha/sqrt(r), a
  per-module `alpha_pattern`), the ratio is folded into lora_b, so the product is PEFT's.

Not converted (a clear error instead of a silently different model): DoRA, LoRA on embeddings
or `lm_head`, `modules_to_save`, LoRA biases, other PEFT methods, architectures other than Qwen2.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from l2l.errors import ModelNotAvailable

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"

# HF module name -> llama.cpp tensor name, for architectures whose HF layout maps one to one
# (llama.cpp's gguf-py TensorNameMap for Qwen2).
_MODULES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
_SUPPORTED_ARCHS = ("qwen2",)
# PEFT state-dict key of one LoRA factor; the adapter name between `lora_A` and `weight` is
# dropped by save_pretrained but kept by some tools.
_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>model\.layers\.(?P<layer>\d+)\.(?:self_attn|mlp)\.(?P<proj>\w+))"
    r"\.lora_(?P<ab>[AB])(?:\.[\w-]+)?\.weight$"
)
_DTYPES = {"f32": np.float32, "f16": np.float16}


class AdapterError(ModelNotAvailable):
    """A PEFT folder that cannot become a llama.cpp adapter (missing files, unsupported settings)."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All tensors of a .safetensors file as float32 numpy arrays (F32, F16, BF16, F64).

    The format is an 8-byte little-endian header length, a JSON header (dtype, shape, byte
    offsets per tensor) and the raw data; parsed here so that converting needs no torch and
    bf16 adapters (numpy has no bfloat16) convert too."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise AdapterError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    try:
        header = json.loads(raw[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AdapterError(f"{path}: not a safetensors file (bad header)") from None
    data = memoryview(raw)[8 + n:]
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        buf = data[start:end]
        dtype = info["dtype"]
        if dtype == "F32":
            a = np.frombuffer(buf, dtype="<f4")
        elif dtype == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype == "F64":
            a = np.frombuffer(buf, dtype="<f8").astype(np.float32)
        else:
            raise AdapterError(f"{path}: tensor {name} has dtype {dtype}; expected F32, F16 or BF16")
        out[name] = a.reshape(info["shape"]).astype(np.float32, copy=True)
    return out


def read_adapter_config(adapter_dir: str | os.PathLike) -> dict[str, Any]:
    """`adapter_config.json` of a PEFT folder; AdapterError when missing or not JSON."""
    path = Path(adapter_dir) / CONFIG_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterError(f"{adapter_dir}: no {CONFIG_FILE} (not a PEFT adapter folder)") from None
    except json.JSONDecodeError as e:
        raise AdapterError(f"{path}: not valid JSON ({e})") from None


def check_config(cfg: dict[str, Any], where: str) -> None:
    """AdapterError when a PEFT config uses something a llama.cpp LoRA cannot express."""
    peft_type = str(cfg.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise AdapterError(f"{where}: PEFT type {peft_type}; only LoRA adapters convert to GGUF")
    if cfg.get("use_dora"):
        raise AdapterError(f"{where}: DoRA adapters have no llama.cpp equivalent; load it with transformers (hf:{where})")
    if cfg.get("modules_to_save"):
        raise AdapterError(f"{where}: modules_to_save {cfg['modules_to_save']} are full weights, not LoRA; "
                           f"load it with transformers (hf:{where})")
    if cfg.get("bias", "none") not in (None, "none"):
        raise AdapterError(f"{where}: LoRA bias={cfg['bias']!r} is not supported by llama.cpp adapters")
    if cfg.get("layer_replication"):
        raise AdapterError(f"{where}: layer_replication is not supported by llama.cpp adapters")


def _alpha_for(module: str, cfg: dict[str, Any]) -> float:
    """PEFT's alpha for one module: `alpha_pattern` keys are matched the way PEFT matches them
    (peft.utils.other.get_pattern_key: the key as a suffix of the module name)."""
    for key, alpha in (cfg.get("alpha_pattern") or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return float(alpha)
    return float(cfg.get("lora_alpha", 8))


def lora_tensors(adapter_dir: str | os.PathLike) -> tuple[float, dict[str, np.ndarray]]:
    """(alpha to write, {gguf tensor name: float32 array}) for a PEFT LoRA folder, in llama.cpp's
    layout, with any scaling that differs from alpha/rank folded into lora_b."""
    adapter_dir = Path(adapter_dir)
    cfg = read_adapter_config(adapter_dir)
    check_config(cfg, str(adapter_dir))
    weights = adapter_dir / WEIGHTS_FILE
    if not weights.is_file():
        if (adapter_dir / "adapter_model.bin").is_file():
            raise AdapterError(f"{adapter_dir}: adapter_model.bin (pickle) is not read; save the adapter with "
                               "safe_serialization=True (PEFT's default)")
        raise AdapterError(f"{adapter_dir}: no {WEIGHTS_FILE}")
    return state_dict_tensors(cfg, read_safetensors(weights), str(adapter_dir))


def state_dict_tensors(cfg: dict[str, Any], state: dict[str, np.ndarray], where: str) -> tuple[float, dict[str, np.ndarray]]:
    """`lora_tensors` for a PEFT config and state dict already in memory (float32 numpy arrays under
    PEFT's saved key names): what training exports after every step without writing a PEFT folder.
    `where` names the adapter in errors."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        m = _KEY.match(key)
        if m is None:
            what = "embeddings or lm_head" if ("embed" in key or "lm_head" in key) else "a tensor that is not a LoRA factor"
            raise AdapterError(f"{where}: {key} is {what}; only LoRA on attention and MLP projections "
                               f"({', '.join(_MODULES)}) converts to GGUF")
        proj = m["proj"]
        if proj not in _MODULES:
            raise AdapterError(f"{where}: LoRA on {proj} has no llama.cpp tensor; supported: {', '.join(_MODULES)}")
        name = f"blk.{int(m['layer'])}.{_MODULES[proj]}.weight"
        pairs.setdefault(name, {"module": m["module"]})[m["ab"]] = value
    if not pairs:
        raise AdapterError(f"{where}: the adapter holds no LoRA tensors")

    alpha = float(cfg.get("lora_alpha", 8))
    rslora = bool(cfg.get("use_rslora"))
    out: dict[str, np.ndarray] = {}
    for name in sorted(pairs, key=_tensor_order):
        p = pairs[name]
        if "A" not in p or "B" not in p:
            raise AdapterError(f"{where}: {p['module']} has lora_{'A' if 'A' not in p else 'B'} missing")
        a, b = p["A"], p["B"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise AdapterError(f"{where}: {p['module']} has lora_A {a.shape} and lora_B {b.shape}, "
                               "which are not (rank, in) and (out, rank)")
        rank = a.shape[0]
        module_alpha = _alpha_for(p["module"], cfg)
        peft_scale = module_alpha / (math.sqrt(rank) if rslora else rank)
        llama_scale = alpha / rank if alpha else 1.0  # llama_adapter_lora_weight::get_scale
        if not math.isclose(peft_scale, llama_scale, rel_tol=1e-12):
            b = b * np.float32(peft_scale / llama_scale)
        out[name + ".lora_a"] = np.ascontiguousarray(a)
        out[name + ".lora_b"] = np.ascontiguousarray(b)
    return alpha, out


def _tensor_order(name: str) -> tuple[int, str]:
    return int(name.split(".")[1]), name


def architecture_of(adapter_dir: str | os.PathLike, default: str = "qwen2") -> str:
    """The base's architecture as llama.cpp names it, from the base's config.json when the
    adapter names a local base, else `default` (every registry model is Qwen2)."""
    cfg = read_adapter_config(adapter_dir)
    base = cfg.get("base_model_name_or_path")
    if base and (Path(base) / "config.json").is_file():
        model_type = json.loads((Path(base) / "config.json").read_text(encoding="utf-8")).get("model_type")
        if model_type:
            return str(model_type)
    return default


def _gguf() -> Any:
    try:
        import gguf
    except ImportError:
        raise AdapterError("converting a LoRA adapter to GGUF needs the gguf package: pip install 'l2l[llamacpp]'") from None
    return gguf


def peft_to_gguf(adapter_dir: str | os.PathLike, out_path: str | os.PathLike, *, arch: str | None = None,
                 dtype: str = "f16", name: str | None = None) -> Path:
    """Write the GGUF LoRA adapter of a PEFT folder to `out_path` (atomically); returns it.

    dtype: "f16" (default: half the size, well under the base's own quantisation error) or
    "f32" (the exact values). `arch` defaults to the base's, read by `architecture_of`.
    """
    _gguf()  # before the work, not after it
    arch = arch or architecture_of(adapter_dir)
    if arch not in _SUPPORTED_ARCHS:
        raise AdapterError(f"{adapter_dir}: base architecture {arch!r}; GGUF conversion supports {', '.join(_SUPPORTED_ARCHS)}")
    alpha, tensors = lora_tensors(adapter_dir)
    return write_lora_gguf(out_path, arch, alpha, tensors, dtype=dtype, name=name or Path(adapter_dir).resolve().name)


def write_lora_gguf(out_path: str | os.PathLike, arch: str, alpha: float, tensors: dict[str, np.ndarray], *,
                    dtype: str = "f16", name: str = "adapter") -> Path:
    """Write `state_dict_tensors`' output as a GGUF LoRA adapter for an `arch` base, atomically."""
    gguf = _gguf()
    if dtype not in _DTYPES:
        raise AdapterError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    np_dtype = _DTYPES[dtype]
    if np_dtype is np.float16:
        worst = max(float(np.abs(t).max()) for t in tensors.values())
        if worst > 60000:  # would overflow half precision
            np_dtype = np.float32
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        w = gguf.GGUFWriter(tmp, arch)
        w.add_string("general.type", "adapter")
        w.add_string("general.name", name)
        w.add_string("adapter.type", "lora")
        w.add_float32("adapter.lora.alpha", alpha)
        for tname, t in tensors.items():
            w.add_tensor(tname, t.astype(np_dtype))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this file is meant to be shipped and shared
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def adapter_digest(adapter_dir: str | os.PathLike) -> str:
    """sha256 over a PEFT folder's config and weights: what a converted file is cached under."""
    adapter_dir = Path(adapter_dir)
    h = hashlib.sha256()
    for fname in (CONFIG_FILE, WEIGHTS_FILE):
        path = adapter_dir / fname
        if not path.is_file():
            raise AdapterError(f"{adapter_dir}: no {fname}")
        h.update(fname.encode() + b"\0" + sha256_file(path).encode() + b"\0")
    return h.hexdigest()


def converted(adapter_dir: str | os.PathLike, dtype: str = "f16", progress: bool = False) -> Path:
    """The GGUF of a PEFT folder, converted once and cached under `<l2l cache>/lora-gguf/` by the
    folder's content (a retrained adapter in the same folder gets a new file)."""
    from l2l.models.gguf_assembly import cache_dir

    adapter_dir = Path(adapter_dir).expanduser().resolve()
    digest = adapter_digest(adapter_dir)
    dest = cache_dir() / "lora-gguf" / f"{adapter_dir.name}-{digest[:16]}-{dtype}.gguf"
    if dest.is_file():
        return dest
    from l2l.models.progress import spinner

    with spinner(f"converting the LoRA adapter {adapter_dir.name} to GGUF", enabled=progress):
        return peft_to_gguf(adapter_dir, dest, dtype=dtype)


# --- trained bundles: base + formulator and generator adapters + MANIFEST.json ---------------


def pack(name: str, base: str, adapters: dict[str, str | os.PathLike], out_dir: str | os.PathLike, *,
         command: str, data: str, description: str = "", dtype: str = "f16",
         extra: dict[str, Any] | None = None) -> Path:
    """Write a trained-model bundle: `<out_dir>/<role>.gguf` for each PEFT folder in `adapters`
    ({"formulator": dir, "generator": dir}), a copy of the PEFT folder under `<out_dir>/peft/<role>/`
    (for transformers: `l2l solve --model hf:<out_dir>/peft/generator`; its base is recorded as the
    registry model's hub id, so it does not name a path on the training machine) and `MANIFEST.json`
    with each file's sha256 and size, the base registry model, the exact training command and data,
    and the PEFT sources' digests.
    `l2l.models.registry` finds bundles under `l2l/models/adapters/` and `$L2L_ADAPTERS`.

    >>> pack("l2l-0.5b", "qwen2.5-coder-0.5b", {"formulator": "runs/x/adapters/formulator",
    ...      "generator": "runs/x/adapters/generator"}, "l2l/models/adapters/l2l-0.5b",
    ...      command="python train.py +experiment=bilevel", data="synthetic")  # doctest: +SKIP
    """
    from l2l.models.registry import MANIFEST, MODELS, ROLES, TrainedSpec

    if base not in MODELS:
        raise AdapterError(f"base {base!r} is not a registered GGUF model ({', '.join(MODELS)})")
    if set(adapters) != set(ROLES):
        raise AdapterError(f"a trained model needs one adapter per role ({', '.join(ROLES)}), got {sorted(adapters)}")
    if not command.strip() or not data.strip():
        raise AdapterError("a trained model records the exact command and data that produced it (command=, data=)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for role in ROLES:
        src = Path(adapters[role]).expanduser().resolve()
        cfg = read_adapter_config(src)
        path = peft_to_gguf(src, out / f"{role}.gguf", dtype=dtype, name=f"{name}-{role}")
        entries[role] = {
            "file": path.name,
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "rank": cfg.get("r"),
            "lora_alpha": cfg.get("lora_alpha"),
            "target_modules": cfg.get("target_modules"),
        }
        entries[role]["peft"] = _copy_peft(src, out / "peft" / role, MODELS[base].hub_id)
        sources[role] = {"peft_dir": str(src), "peft_sha256": adapter_digest(src)}
    manifest = {
        "format": 1,
        "name": name,
        "base": base,
        "description": description,
        "adapters": entries,
        "trained_from": {"base": base, "command": command, "data": data, "sources": sources, **(extra or {})},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    TrainedSpec.from_dir(out).verify()  # what a loader will check, checked once now
    return out


def _copy_peft(src: Path, dest: Path, base_id: str) -> dict[str, str]:
    """Copy a PEFT folder's config and weights into a bundle; the config's base becomes `base_id`
    (training records the absolute path of its export-hf folder, which exists only where it ran;
    `peft_registry_base` maps a hub id back to the registry model). Returns the manifest entry."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    cfg = json.loads((src / CONFIG_FILE).read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = base_id
    (dest / CONFIG_FILE).write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    shutil.copyfile(src / WEIGHTS_FILE, dest / WEIGHTS_FILE)
    return {"dir": dest.relative_to(dest.parents[1]).as_posix(), "sha256": adapter_digest(dest)}
