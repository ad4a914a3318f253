"""`load_model`: one entry point from a model name, path or hub id to a ready ChatBackend.

Accepted forms (first match wins):

| form | backend |
|---|---|
| `openai:<model>` | `openai` (base_url/api_key from overrides or `L2L_OPENAI_BASE_URL`/`OPENAI_BASE_URL`, `OPENAI_API_KEY`) |
| `vllm:<hub id or path>` | `vllm` |
| `hf:<hub id or path>` | `hf` (a `.gguf` path loads through transformers' `gguf_file=`) |
| `llamacpp:<name or .gguf path>` | `llamacpp` |
| a registry name (`qwen2.5-coder-1.5b`, `qwen2.5-coder-0.5b`) | the registry's backend (llamacpp) |
| a trained model (`l2l models list`) or its bundle folder; `<trained>@formulator`, `<trained>@generator` | `llamacpp`: the base GGUF + that policy's GGUF LoRA (bare name: the formulator's), sha256-checked against the bundle's MANIFEST.json |
| a local `.gguf` file | `llamacpp` |
| a PEFT adapter folder whose base is a registry model (its name, its hub id, or an `l2l models export-hf` folder named after it) | `llamacpp`: the registry GGUF + the adapter converted to a GGUF LoRA once (cached by content) |
| any other local directory with `config.json` or `adapter_config.json` (PEFT) | `hf` (`hf:<dir>` forces this for any PEFT folder) |
| `owner/name` (a hub id) | `hf` |
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from l2l.errors import InputError, ModelNotAvailable
from l2l.models.registry import MODELS, find_trained, split_role

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_PREFIXES = ("openai", "vllm", "hf", "llamacpp")


@dataclass
class Adapter:
    """A LoRA adapter llama.cpp applies on the registry base: a trained bundle's GGUF file
    (`kind="trained"`, checked against the manifest when loaded) or a PEFT folder
    (`kind="peft"`, converted to GGUF when loaded)."""

    kind: str
    path: str
    label: str
    role: str | None = None
    bundle: str | None = None  # the trained bundle's folder (where MANIFEST.json is)


@dataclass
class Resolved:
    """What `load_model` will build: a backend name and its constructor arguments."""

    backend: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    registry_name: str | None = None
    adapter: Adapter | None = None


def resolve(name_or_path: str) -> Resolved:
    """Decide backend and arguments for a model string without loading anything.

    >>> resolve("openai:gpt-4o-mini").backend
    'openai'
    >>> resolve("Qwen/Qwen2.5-Coder-7B-Instruct").kwargs
    {'model': 'Qwen/Qwen2.5-Coder-7B-Instruct'}
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise InputError("model must be a non-empty string (a registry name, a path, a hub id or openai:<model>)")
    s = name_or_path.strip()
    prefix, sep, rest = s.partition(":")
    if sep and prefix in _PREFIXES:
        if not rest.strip():
            raise InputError(f"model {s!r}: nothing after '{prefix}:'")
        rest = rest.strip()
        if prefix == "openai":
            return Resolved("openai", {"model": rest})
        if prefix == "vllm":
            return Resolved("vllm", {"model": _existing_or_id(rest)})
        if prefix == "hf":
            name, role = split_role(rest)
            spec = find_trained(name)
            if spec is not None:
                # The bundle's PEFT copy of that policy (bare name: the formulator's, as on llama.cpp).
                return _hf(str(spec.verify_peft(role or "formulator")))
            return _hf(rest)
        return _llamacpp(rest)
    if s in MODELS:
        return _registry(s)
    trained = _trained(s)
    if trained is not None:
        return trained
    path = Path(s).expanduser()
    if path.exists():
        if path.is_file():
            if path.suffix.lower() == ".gguf":
                return Resolved("llamacpp", {"model_path": str(path.resolve())})
            raise ModelNotAvailable(f"{s}: not a .gguf file (pass a GGUF file or a transformers model directory)")
        base = peft_registry_base(path)
        if base is not None:
            return Resolved("llamacpp", {"model_path": None}, registry_name=base,
                            adapter=Adapter("peft", str(path.resolve()), label=path.resolve().name))
        return _hf(str(path))
    if s.endswith(".gguf") or s.startswith((".", "/", "~")) or "\\" in s:
        raise ModelNotAvailable(f"model file or directory {s!r} does not exist")
    if _HUB_ID.match(s):
        return Resolved("hf", {"model": s})
    raise ModelNotAvailable(
        f"unknown model {s!r}; use a registered name ({', '.join(MODELS)}), a .gguf file, a transformers "
        "directory, a hub id like Qwen/Qwen2.5-Coder-7B-Instruct, openai:<model> or vllm:<hub id>"
    )


def model_key(name_or_path: str) -> tuple:
    """What identifies the weights a model string loads, so that two spellings of one model
    (`qwen2.5-coder-1.5b`, `llamacpp:qwen2.5-coder-1.5b`, the assembled .gguf's path) share one
    loaded copy instead of two contexts in one process. Loads nothing.

    >>> model_key("qwen2.5-coder-0.5b") == model_key("llamacpp:qwen2.5-coder-0.5b")
    True
    """
    r = resolve(name_or_path)
    if r.backend == "llamacpp":
        path = r.kwargs.get("model_path")
        if path is None and r.registry_name is not None:
            from l2l.models.gguf_assembly import gguf_path

            path = gguf_path(r.registry_name)
        key = ("llamacpp", str(Path(path).expanduser().resolve()))
        return key + ((r.adapter.kind, r.adapter.path),) if r.adapter is not None else key
    return (r.backend, *sorted((k, str(v)) for k, v in r.kwargs.items()))


def _existing_or_id(s: str) -> str:
    p = Path(s).expanduser()
    return str(p.resolve()) if p.exists() else s


def _registry(name: str) -> Resolved:
    spec = MODELS[name]
    if spec.backend != "llamacpp":  # only GGUF entries today; keep the dispatch honest if that changes
        return Resolved(spec.backend, {"model": spec.hub_id}, registry_name=name)
    return Resolved("llamacpp", {"model_path": None}, registry_name=name)


def _trained(s: str) -> Resolved | None:
    """A trained model (`name`, `name@role`, a bundle folder, `folder@role`) -> base + adapter."""
    name, role = split_role(s)
    spec = find_trained(name)
    if spec is None:
        if role is not None and not Path(name).expanduser().exists():
            raise ModelNotAvailable(f"{s}: {name!r} is not a trained model (see `l2l models list`)")
        return None
    role = role or "formulator"
    return Resolved("llamacpp", {"model_path": None}, registry_name=spec.base,
                    adapter=Adapter("trained", str(spec.adapters[role].path), label=f"{spec.name}@{role}", role=role,
                                    bundle=str(spec.directory)))


def peft_registry_base(path: str | Path) -> str | None:
    """The registry model a PEFT LoRA folder was trained on, if it can run on that model's GGUF:
    `base_model_name_or_path` is a registry name, a registry model's hub id, or a folder named
    after a registry model (what `l2l models export-hf NAME runs/base/NAME` writes and training
    records as an absolute path). None for anything else (the folder then loads with transformers),
    including adapters llama.cpp cannot apply (DoRA, modules_to_save, ...)."""
    from l2l.models.lora_gguf import AdapterError, check_config, read_adapter_config

    p = Path(path)
    if not (p / "adapter_config.json").is_file():
        return None
    try:
        cfg = read_adapter_config(p)
        check_config(cfg, str(p))
    except AdapterError:
        return None
    base = cfg.get("base_model_name_or_path")
    if not isinstance(base, str) or not base.strip():
        return None
    base = base.strip()
    if base in MODELS:
        return base
    for spec in MODELS.values():
        if base.lower() == spec.hub_id.lower():
            return spec.name
    name = Path(base).name
    return name if name in MODELS else None


def _llamacpp(s: str) -> Resolved:
    if s in MODELS:
        return _registry(s)
    trained = _trained(s)
    if trained is not None:
        return trained
    p = Path(s).expanduser()
    if not p.is_file():
        raise ModelNotAvailable(f"GGUF file {s!r} does not exist")
    return Resolved("llamacpp", {"model_path": str(p.resolve())})


def _hf(s: str) -> Resolved:
    p = Path(s).expanduser()
    if p.is_file():
        if p.suffix.lower() != ".gguf":
            raise ModelNotAvailable(f"{s}: transformers loads a directory, a hub id or a .gguf file")
        return Resolved("hf", {"model": str(p.parent.resolve()), "gguf_file": p.name})
    if p.is_dir():
        if not ((p / "config.json").is_file() or (p / "adapter_config.json").is_file()):
            raise ModelNotAvailable(f"{s}: directory has neither config.json nor adapter_config.json")
        return Resolved("hf", {"model": str(p.resolve())})
    if s.startswith((".", "/", "~")):
        raise ModelNotAvailable(f"model directory {s!r} does not exist")
    return Resolved("hf", {"model": s})


def _accepted(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keep the overrides `cls.__init__` accepts. Overrides meant for another backend (e.g. `n_ctx`
    when the model turned out to be a hub id) are dropped; names no backend knows are an error."""
    from l2l.backends import BACKENDS, backend_class

    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    known_anywhere: set[str] = set()
    for name in BACKENDS:
        if name in ("scripted",):
            continue
        known_anywhere |= set(inspect.signature(backend_class(name).__init__).parameters)
    unknown = sorted(set(kwargs) - known_anywhere)
    if unknown:
        raise InputError(f"unknown model option(s): {', '.join(unknown)}")
    return {k: v for k, v in kwargs.items() if k in params}


def load_model(name_or_path: str, **overrides: Any):
    """Build the ChatBackend for a registry name, path, hub id, `openai:<model>` or `vllm:<id>`.

    `overrides` go to the backend constructor: n_ctx, n_threads, seed (llamacpp); base_url,
    api_key, timeout (openai); device, dtype (hf); ... Options meant for a different backend
    are ignored, unknown ones raise InputError. Missing files raise ModelNotAvailable.

    >>> backend = load_model("qwen2.5-coder-0.5b", n_ctx=4096)  # doctest: +SKIP
    """
    from l2l.backends import backend_class

    r = resolve(name_or_path)
    cls = backend_class(r.backend)
    kwargs = {**r.kwargs, **{k: v for k, v in overrides.items() if v is not None}}
    if r.registry_name is not None and r.backend == "llamacpp":
        from l2l.models.gguf_assembly import ensure_gguf

        kwargs["model_path"] = str(ensure_gguf(r.registry_name, progress=overrides.get("progress", True)))
        kwargs.setdefault("display_name", r.registry_name)
    if r.adapter is not None:
        kwargs["lora_path"] = str(_adapter_file(r.adapter, progress=overrides.get("progress", True)))
        kwargs["display_name"] = f"{r.registry_name}+{r.adapter.label}"
    return cls(**_accepted(cls, kwargs))


def _adapter_file(adapter: Adapter, progress: bool = True) -> Path:
    """The GGUF file of an adapter: a trained bundle's, after checking its sha256 against the
    manifest; a PEFT folder's, converted once and cached."""
    if adapter.kind == "trained":
        from l2l.models.registry import TrainedSpec

        spec = TrainedSpec.from_dir(adapter.bundle)
        return spec.verify(adapter.role)[adapter.role]
    from l2l.models.lora_gguf import AdapterError, converted

    try:
        return converted(adapter.path, progress=progress)
    except AdapterError as e:
        raise ModelNotAvailable(f"{e} (to run the folder with transformers instead: --model hf:{adapter.path})") from None
