"""Turn a GGUF file into a plain transformers checkpoint (for training with TRL/PEFT).

transformers can read GGUF (`from_pretrained(dir, gguf_file=...)`) but then treats the model
as quantised. Here the architecture is built from the GGUF's config without any
`quantization_config`, the dequantised tensors are loaded into it, and the result is saved
with `save_pretrained` next to the tokenizer: an ordinary checkpoint directory.

    $ l2l models export-hf qwen2.5-coder-0.5b ./qwen-0.5b-hf
    >>> from transformers import AutoModelForCausalLM
    >>> AutoModelForCausalLM.from_pretrained("./qwen-0.5b-hf")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from l2l.errors import InputError, ModelNotAvailable
from l2l.models.gguf_assembly import cache_dir, ensure_gguf
from l2l.models.registry import MODELS

_DTYPES = ("float32", "bfloat16", "float16")


def gguf_for(name_or_path: str | os.PathLike) -> Path:
    """A registry name (assembled on demand) or an existing .gguf path -> the GGUF file."""
    s = str(name_or_path)
    if s in MODELS:
        return ensure_gguf(s)
    p = Path(s).expanduser()
    if p.is_file() and p.suffix.lower() == ".gguf":
        return p.resolve()
    raise ModelNotAvailable(f"{s!r} is neither a registered model ({', '.join(MODELS)}) nor a .gguf file")


def _need_gguf_package() -> None:
    try:
        import gguf  # noqa: F401  (transformers' GGUF reader)
    except ImportError:
        raise ModelNotAvailable("reading GGUF with transformers needs the gguf package: pip install 'l2l[hf]'") from None


def ensure_tokenizer(name_or_path: str | os.PathLike, progress: bool = True) -> Path:
    """Directory with the GGUF's tokenizer saved by `save_pretrained`, extracted once and cached.

    Extraction from GGUF takes ~30 s (the vocabulary is parsed in Python); the cached copy
    loads in well under a second: `AutoTokenizer.from_pretrained(ensure_tokenizer(name))`.
    """
    gguf = gguf_for(name_or_path)
    st = gguf.stat()
    key = f"{gguf.stem}-{st.st_size}"
    dest = cache_dir() / "tokenizers" / key
    if (dest / "tokenizer_config.json").is_file():
        return dest
    _need_gguf_package()
    from transformers import AutoTokenizer

    from l2l.models.progress import spinner

    with spinner(f"extracting the tokenizer of {gguf.name}", enabled=progress):
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=key + ".", dir=dest.parent))
        tok.save_pretrained(tmp)
        try:
            os.replace(tmp, dest)  # atomic publish; a concurrent extraction may have won the race
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def export_hf(name_or_path: str | os.PathLike, out_dir: str | os.PathLike, dtype: str = "float32",
              progress: bool = True) -> Path:
    """Write a transformers checkpoint (config, safetensors, tokenizer) for a registry model or a
    GGUF file into `out_dir`. dtype: float32 (exact dequantised values), bfloat16 or float16."""
    if dtype not in _DTYPES:
        raise InputError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty directory")
    gguf = gguf_for(name_or_path)
    _need_gguf_package()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    from l2l.models.progress import spinner

    torch_dtype = getattr(torch, dtype)
    with spinner(f"reading the config of {gguf.name}", enabled=progress):
        config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # what makes transformers treat a GGUF load as quantised
    model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    tensors: dict[str, Any] = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model,
                                                   torch_dtype=torch_dtype)["tensors"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise ModelNotAvailable(
            f"{gguf.name}: GGUF tensors do not fit the architecture (missing {sorted(set(missing) - tied)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )
    if tied:
        model.tie_weights()
    model.generation_config.eos_token_id = config.eos_token_id
    out.mkdir(parents=True, exist_ok=True)
    with spinner(f"saving to {out}", enabled=progress):
        model.save_pretrained(out)
        AutoTokenizer.from_pretrained(ensure_tokenizer(gguf, progress=progress)).save_pretrained(out)
    return out
