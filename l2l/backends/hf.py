"""transformers backend: a hub id, a local checkpoint directory, a PEFT adapter directory
(loaded on its base model) or a GGUF file through transformers' `gguf_file=` loader.

Sampling is `model.generate`; `chat_batch` left-pads the conversations into one batch.
JSON schemas are not enforced by the decoder here (supports_json_schema=False): callers
extract and repair JSON from the text.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from l2l.backends.base import BackendError, ChatBackend, GenerationParams, Message
from l2l.errors import ModelNotAvailable
from l2l.types import Completion


def _resolve_dtype(dtype: Any, device: str):
    import torch

    if dtype in (None, "auto"):
        # CPUs run float32 fastest and most portably; accelerators use the checkpoint's own dtype.
        return torch.float32 if device == "cpu" else "auto"
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
                "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}[str(dtype)]
    except KeyError:
        raise BackendError(f"dtype must be auto, float32, float16 or bfloat16, got {dtype!r}") from None


class HFBackend(ChatBackend):
    """A causal LM run by transformers.

    >>> b = HFBackend("Qwen/Qwen2.5-Coder-0.5B-Instruct")  # doctest: +SKIP
    >>> b = HFBackend("/ckpt/dir")  # a save_pretrained directory, or a PEFT adapter dir  # doctest: +SKIP
    >>> b = HFBackend("/models", gguf_file="qwen.gguf")  # dequantised by transformers  # doctest: +SKIP
    """

    name = "hf"
    supports_json_schema = False
    supports_deadline = True  # through generate(max_time=...)

    def __init__(
        self,
        model: str,
        gguf_file: str | None = None,
        device: str | None = None,
        dtype: Any = "auto",
        seed: int = 0,
        trust_remote_code: bool = False,
        local_files_only: bool | None = None,
        revision: str | None = None,
        batch_size: int = 8,
        progress: bool = True,
    ):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise BackendError("the hf backend needs torch and transformers: pip install 'l2l[hf]'") from None
        self.model_id = str(model)
        self.seed = int(seed)
        self.batch_size = max(1, int(batch_size))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = _resolve_dtype(dtype, self.device)
        common: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if local_files_only is not None:
            common["local_files_only"] = local_files_only
        if revision:
            common["revision"] = revision
        path = Path(self.model_id).expanduser()
        adapter_dir = path if (path / "adapter_config.json").is_file() else None
        from l2l.models.progress import spinner

        with spinner(f"loading {self.model_id} (transformers, {self.device})", enabled=progress):
            try:
                if adapter_dir is not None:
                    self.model, tok_source = self._load_adapter(adapter_dir, torch_dtype, common)
                else:
                    gguf = {"gguf_file": gguf_file} if gguf_file else {}
                    self.model = AutoModelForCausalLM.from_pretrained(self.model_id, dtype=torch_dtype, **gguf, **common)
                    tok_source = (self.model_id, gguf)
                self.tokenizer = AutoTokenizer.from_pretrained(tok_source[0], **tok_source[1], **common)
            except (OSError, ValueError) as e:
                raise ModelNotAvailable(self._explain(e)) from None
        self.model.to(self.device)
        self.model.eval()
        tok = self.tokenizer
        tok.padding_side = "left"  # generation continues from the right edge of every row
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        if not getattr(tok, "chat_template", None):
            raise BackendError(f"{self.model_id}: the tokenizer has no chat template (use an instruct/chat model)")
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self._eos = set(eos) | ({tok.eos_token_id} if tok.eos_token_id is not None else set())

    def _load_adapter(self, adapter_dir: Path, torch_dtype: Any, common: dict[str, Any]):
        """A PEFT adapter directory (what training writes): base model from adapter_config.json,
        adapter on top, merged when the adapter type allows it (faster generation)."""
        from peft import PeftConfig, PeftModel
        from transformers import AutoModelForCausalLM

        cfg = PeftConfig.from_pretrained(str(adapter_dir))
        base_id = cfg.base_model_name_or_path
        if not base_id:
            raise ModelNotAvailable(f"{adapter_dir}/adapter_config.json does not name base_model_name_or_path")
        base_id = registry_base_checkpoint(adapter_dir) or base_id
        base = AutoModelForCausalLM.from_pretrained(base_id, dtype=torch_dtype, **common)
        model = PeftModel.from_pretrained(base, str(adapter_dir))
        try:
            model = model.merge_and_unload()
        except (AttributeError, ValueError, NotImplementedError):
            pass
        has_tok = any((adapter_dir / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
        return model, (str(adapter_dir) if has_tok else base_id, {})

    def _explain(self, e: Exception) -> str:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        p = Path(self.model_id).expanduser()
        if p.exists():
            return f"transformers could not load {self.model_id}: {text}"
        return (
            f"could not load {self.model_id!r} with transformers: {text} "
            "(offline? the Hugging Face hub is unreachable and the model is not in the local cache; "
            "download it where there is a connection, e.g. `hf download <id>`, or pass a local directory)"
        )

    # -- generation -----------------------------------------------------------------

    def _generate(self, conversations: list[list[Message]], params: GenerationParams) -> list[list[Completion]]:
        import torch

        tok = self.tokenizer
        texts = [tok.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in conversations]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        n = max(1, params.n)
        sample = params.temperature > 0
        kw: dict[str, Any] = dict(
            max_new_tokens=params.max_tokens,
            do_sample=sample,
            pad_token_id=tok.pad_token_id,
            repetition_penalty=params.repeat_penalty,
            num_return_sequences=n if sample else 1,  # greedy: one sequence, copied n times below
        )
        if sample:
            kw.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:  # clear sampling defaults from generation_config so greedy runs without warnings
            kw.update(temperature=None, top_p=None, top_k=None)
        if params.stop:
            kw.update(stop_strings=list(params.stop), tokenizer=tok)
        if params.deadline is not None:  # transformers' MaxTimeCriteria ends generation there
            kw.update(max_time=max(0.001, params.deadline - time.monotonic()))
        torch.manual_seed(self.seed if params.seed is None else params.seed)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(**enc, **kw)
        elapsed = time.perf_counter() - t0
        width = enc["input_ids"].shape[1]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        per_conv = n if sample else 1
        results: list[list[Completion]] = []
        for ci in range(len(conversations)):
            comps = []
            for j in range(per_conv):
                row = out[ci * per_conv + j, width:].tolist()
                comps.append(self._completion(row, int(prompt_lens[ci]), params, elapsed))
            if not sample:
                comps = [comps[0]] + [Completion(**comps[0].__dict__) for _ in range(n - 1)]
            results.append(comps)
        return results

    def _completion(self, row: list[int], prompt_tokens: int, params: GenerationParams, elapsed: float) -> Completion:
        end = next((i for i, t in enumerate(row) if t in self._eos), None)
        tokens = row if end is None else row[: end + 1]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        finish = "stop" if end is not None else "length"
        if end is None and params.deadline is not None and time.monotonic() >= params.deadline and len(tokens) < params.max_tokens:
            finish = "time_budget"
        for s in params.stop:  # OpenAI semantics: the stop string is not part of the text
            k = text.find(s)
            if k >= 0:
                text, finish = text[:k], "stop"
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=len(tokens),
                          elapsed_s=elapsed, finish_reason=finish)

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        return self._generate([messages], params)[0]

    def chat_batch(self, conversations: list[list[Message]], params: GenerationParams | None = None, **kw: Any) -> list[list[Completion]]:
        """Generate for many conversations in left-padded batches of `batch_size`.
        `elapsed_s` of each completion is the wall time of the batch it was generated in."""
        params = params or GenerationParams()
        if kw:
            params = GenerationParams(**{**params.__dict__, **kw})
        out: list[list[Completion]] = []
        for i in range(0, len(conversations), self.batch_size):
            out.extend(self._generate(conversations[i : i + self.batch_size], params))
        return out

    def close(self) -> None:
        self.model = None

    def describe(self) -> str:
        return f"hf:{self.model_id}"


def registry_base_checkpoint(adapter_dir: Path) -> str | None:
    """For an adapter trained on a registry model (its base is the registry name, hub id or an
    `export-hf` folder named after it): the export training used if it is still there, else a
    transformers export of that model's GGUF in the l2l cache (`registry_export`). Training runs on
    exactly such an export, so the adapter meets the weights it was trained on, and it loads
    offline. None for other bases."""
    from l2l.models.load import peft_registry_base
    from l2l.models.lora_gguf import read_adapter_config

    name = peft_registry_base(adapter_dir)
    if name is None:
        return None
    recorded = Path(read_adapter_config(adapter_dir).get("base_model_name_or_path") or "").expanduser()
    if recorded.is_dir() and (recorded / "config.json").is_file():
        return str(recorded)
    return str(registry_export(name))


def registry_export(name: str) -> Path:
    """`l2l models export-hf NAME` into `<l2l cache>/hf/NAME`, once (float32, ~2 GB for the 0.5B)."""
    import os
    import shutil

    from l2l.models.export_hf import export_hf
    from l2l.models.gguf_assembly import cache_dir

    dest = cache_dir() / "hf" / name
    if not (dest / "config.json").is_file():
        # Written beside and renamed, so an interrupted export never looks finished.
        tmp = dest.with_name(f".{name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        export_hf(name, tmp)
        try:
            tmp.rename(dest)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return dest

