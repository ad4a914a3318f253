"""The two trainable policies (formulator, generator) as LoRA adapters via PEFT.

Two layouts, chosen by `policies.mode` in the config:

- `shared`: one base model, two named adapters (`formulator`, `generator`) switched with
  `set_adapter`. Memory: one copy of the base weights plus two small adapters (for a 0.5B
  model in fp32, ~2 GB + ~2x a few MB); both policies must share the base model. Only one
  policy is active at a time, which is all the alternating loop needs. `grpo.beta` must be 0:
  TRL builds its KL reference from an adapter named "default", and these are named after the roles
  (`BilevelRun` refuses the combination).
- `separate`: two base models, each with its own adapter. Memory: two copies of the base
  (twice the RAM/VRAM), but the policies may use different base models and can live on
  different devices.

Each adapter is saved on its own as a PEFT directory (`adapter_config.json` whose
`base_model_name_or_path` points at the base checkpoint), which `l2l solve --model <dir>`
loads through the `hf` backend (transformers, slow on a CPU). For llama.cpp, `l2l models pack`
converts both adapters to GGUF LoRA files next to a MANIFEST.json (`l2l/models/lora_gguf.py`);
the bundle's name then works as `--model` on the quantised GGUF base.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from l2l.backends.base import ChatBackend, GenerationParams, Message
from l2l.types import Completion

ROLES = ("formulator", "generator")


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    def peft_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules),
            task_type="CAUSAL_LM",
        )


def _load_base(path: str, dtype: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)


class Policies:
    """Holds the tokenizer and the model(s) carrying the `formulator` and `generator` adapters.

    >>> pol = Policies("tiny_dir", mode="shared")          # doctest: +SKIP
    >>> model = pol.activate("generator")                  # the PeftModel to hand to GRPOTrainer
    """

    def __init__(
        self,
        base: str,
        mode: str = "shared",
        lora: LoraSettings | None = None,
        generator_base: str | None = None,
        dtype: str = "float32",
        resume_from: str | None = None,
    ):
        from peft import PeftModel, get_peft_model
        from transformers import AutoTokenizer

        if mode not in ("shared", "separate"):
            from l2l.errors import InputError

            raise InputError(f"policies.mode must be 'shared' or 'separate', got {mode!r}")
        if mode == "shared" and generator_base and generator_base != base:
            from l2l.errors import InputError

            raise InputError("policies.mode=shared needs one base model; set mode=separate to use two")
        self.mode = mode
        self.base = {"formulator": base, "generator": generator_base or base}
        self.lora = lora or LoraSettings()
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"  # decoder-only generation pads on the left
        self.models: dict[str, Any] = {}
        # (policies, role) -> ChatBackend; set by training when `grpo.rollout=llamacpp` (l2l/train/llamacpp_backend.py)
        self.backend_factory: Any = None

        def adapter_dir(role: str) -> str | None:
            if resume_from and os.path.exists(os.path.join(resume_from, role, "adapter_config.json")):
                return os.path.join(resume_from, role)
            return None

        if mode == "shared":
            base_model = _load_base(base, dtype)
            src = adapter_dir("formulator")
            if src:
                model = PeftModel.from_pretrained(base_model, src, adapter_name="formulator", is_trainable=True)
            else:
                model = get_peft_model(base_model, self.lora.peft_config(), adapter_name="formulator")
            src = adapter_dir("generator")
            if src:
                model.load_adapter(src, adapter_name="generator", is_trainable=True)
            else:
                model.add_adapter("generator", self.lora.peft_config())
            self.models = {"formulator": model, "generator": model}
        else:
            for role in ROLES:
                base_model = _load_base(self.base[role], dtype)
                src = adapter_dir(role)
                if src:
                    self.models[role] = PeftModel.from_pretrained(base_model, src, is_trainable=True)
                else:
                    self.models[role] = get_peft_model(base_model, self.lora.peft_config())

    def adapter_name(self, role: str) -> str:
        return role if self.mode == "shared" else "default"

    def activate(self, role: str) -> Any:
        """Make `role` the active, trainable adapter and return the PeftModel that carries it."""
        model = self.models[role]
        if self.mode == "shared":
            model.set_adapter(role)
        return model

    def trainable_parameters(self, role: str) -> list[Any]:
        """The LoRA parameters of one policy (what its optimizer updates)."""
        name = self.adapter_name(role)
        return [p for n, p in self.models[role].named_parameters() if f".{name}." in n and "lora_" in n]

    def save(self, role: str, out_dir: str) -> str:
        """Write one adapter as a standalone PEFT directory; returns it."""
        model = self.models[role]
        os.makedirs(out_dir, exist_ok=True)
        name = self.adapter_name(role)
        model.save_pretrained(out_dir, selected_adapters=[name])
        # PEFT puts non-default adapters in a subdirectory; flatten so <out_dir>/adapter_config.json exists.
        sub = os.path.join(out_dir, name)
        if name != "default" and os.path.isdir(sub):
            for f in os.listdir(sub):
                os.replace(os.path.join(sub, f), os.path.join(out_dir, f))
            os.rmdir(sub)
        self.tokenizer.save_pretrained(out_dir)
        _point_at_base(out_dir, self.base[role])
        return out_dir

    def backend(self, role: str) -> ChatBackend:
        """A ChatBackend that samples from the live policy (used by rewards and evaluation):
        transformers' generate, or what `backend_factory` makes (llama.cpp with the live adapter)."""
        if self.backend_factory is not None:
            return self.backend_factory(self, role)
        return PolicyBackend(self, role)


def _point_at_base(adapter_dir: str, base: str) -> None:
    # adapter_config.json must name the base checkpoint by an absolute path so the adapter loads
    # from any working directory.
    import json

    path = os.path.join(adapter_dir, "adapter_config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = os.path.abspath(base) if os.path.exists(base) else base
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


class PolicyBackend(ChatBackend):
    """Sample completions from one policy of a `Policies` (its adapter active) with HF generate.

    Restores the previously active adapter afterwards, so the bi-level reward can sample from
    the generator while the formulator is being trained on the same shared base.
    """

    name = "policy"

    def __init__(self, policies: Policies, role: str):
        self.policies = policies
        self.role = role
        self.tokens_generated = 0

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        return self._generate([messages], params)[0]

    def chat_batch(self, conversations: list[list[Message]], params: GenerationParams | None = None, **kw: Any) -> list[list[Completion]]:
        params = params or GenerationParams()
        if kw:
            params = GenerationParams(**{**params.__dict__, **kw})
        return self._generate(conversations, params)

    def _generate(self, conversations: list[list[Message]], params: GenerationParams) -> list[list[Completion]]:
        import torch

        if not conversations:
            return []
        pol = self.policies
        model = pol.models[self.role]
        previous = getattr(model, "active_adapter", None) if pol.mode == "shared" else None
        was_training = model.training
        tok = pol.tokenizer
        texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        enc = tok(texts, return_tensors="pt", padding=True).to(model.device)
        do_sample = params.temperature > 0
        gen_kw: dict[str, Any] = dict(
            max_new_tokens=params.max_tokens,
            do_sample=do_sample,
            num_return_sequences=params.n,
            pad_token_id=tok.pad_token_id,
            repetition_penalty=params.repeat_penalty,
        )
        if do_sample:
            gen_kw.update(temperature=params.temperature, top_p=params.top_p)
        try:
            if pol.mode == "shared":
                model.set_adapter(self.role)
            model.eval()
            with torch.no_grad():
                out = model.generate(**enc, **gen_kw)
        finally:
            if previous is not None and previous != self.role:
                model.set_adapter(previous)
            if was_training:
                model.train()
        new = out[:, enc["input_ids"].shape[1]:]
        results: list[list[Completion]] = []
        for i in range(len(conversations)):
            group = []
            for j in range(params.n):
                ids = new[i * params.n + j]
                ids = ids[ids != tok.pad_token_id]
                self.tokens_generated += int(ids.numel())
                group.append(Completion(text=tok.decode(ids, skip_special_tokens=True), completion_tokens=int(ids.numel())))
            results.append(group)
        return results
