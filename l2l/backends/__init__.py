"""Model backends, one registry.

`BACKENDS` maps a backend name to "module:Class"; the module is imported only when the
backend is used, so `import l2l` never pulls in torch or llama_cpp.
"""

from __future__ import annotations

import importlib
from typing import Any

from l2l.backends.base import BackendError, ChatBackend, GenerationParams, Message

BACKENDS: dict[str, str] = {
    "llamacpp": "l2l.backends.llamacpp:LlamaCppBackend",
    "hf": "l2l.backends.hf:HFBackend",
    "openai": "l2l.backends.openai_compat:OpenAIBackend",
    "vllm": "l2l.backends.vllm:VLLMBackend",
    "scripted": "l2l.backends.scripted:ScriptedBackend",
}


def backend_class(name: str) -> type[ChatBackend]:
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(sorted(BACKENDS))}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create_backend(name: str, **kwargs: Any) -> ChatBackend:
    """Instantiate a backend by registry name, e.g. `create_backend("openai", base_url=..., model=...)`."""
    return backend_class(name)(**kwargs)


__all__ = ["BACKENDS", "BackendError", "ChatBackend", "GenerationParams", "Message", "backend_class", "create_backend"]
