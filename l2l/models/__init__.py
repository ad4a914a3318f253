"""Model registry, GGUF assembly and `load_model`: names, paths and hub ids -> a ChatBackend.

    >>> from l2l.models import load_model
    >>> backend = load_model("qwen2.5-coder-0.5b")  # doctest: +SKIP
    >>> backend.chat([{"role": "user", "content": "Say hi"}])[0].text  # doctest: +SKIP

Nothing heavy is imported here; torch/llama_cpp load only when a backend is built.
"""

from l2l.models.gguf_assembly import cache_dir, ensure_gguf
from l2l.models.load import load_model, resolve
from l2l.models.registry import MODELS, ModelSpec, get_spec

__all__ = ["MODELS", "ModelSpec", "cache_dir", "ensure_gguf", "get_spec", "load_model", "resolve"]
