"""`Policies.backend(role)` through llama.cpp (`grpo.rollout: llamacpp`): the training-time generation
outside TRL's GRPO steps, sampled from the quantised GGUF base + the role's live adapter.

That is the formulations the generator phase trains on, the `m` programs per formulation of the
formulator reward, the SFT cold start's rejection sampling, self-play proposals and validation:
every caller of `Policies.backend` gets this backend once `BilevelRun` installs it as the
policies' `backend_factory`, so none of them changes. It follows `PolicyBackend`'s conventions
(the HF chat template, an EOS token ends a completion; stop strings and JSON schemas are not
applied) and its samples need no importance correction: they are data for rewards and
rejection, not for a policy gradient.

The adapter is exported again only when its weights have changed since this backend's last
export (torch bumps a tensor's version on every in-place update, the optimizer's included) or
another user put its own adapter into the shared llama.cpp context.

    >>> run.policies.backend_factory = LlamaCppPolicyBackend.factory(run.rollouts)        # doctest: +SKIP
    >>> run.policies.backend("generator").chat(messages, max_tokens=64, temperature=1.0)   # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from l2l.backends.base import ChatBackend, GenerationParams, Message
from l2l.types import Completion


class LlamaCppPolicyBackend(ChatBackend):
    """Samples one role's live policy with llama.cpp (see the module docstring)."""

    name = "policy-llamacpp"

    def __init__(self, rollouts: Any, policies: Any, role: str, seed: int | None = None):
        import random

        self.rollouts = rollouts  # l2l.train.rollout_llamacpp.Rollouts: samplers and adapter paths
        self.policies = policies
        self.role = role
        # None: from Python's `random`, which the training loop seeds per round (fresh and reproducible samples)
        self.seed = int(seed) if seed is not None else random.getrandbits(63)
        self.calls = 0
        self.exports = 0
        self._exported: tuple | None = None

    @classmethod
    def factory(cls, rollouts: Any) -> Any:
        """What `Policies.backend_factory` takes: (policies, role) -> a backend."""
        return lambda policies, role: cls(rollouts, policies, role)

    def _version(self) -> tuple:
        return tuple(p._version for p in self.policies.trainable_parameters(self.role))

    def _sync(self, sampler: Any) -> None:
        from l2l.train.rollout_llamacpp import export_adapter

        version = self._version()
        if sampler.adapter_owner is self and version == self._exported:
            return
        pol = self.policies
        path = export_adapter(pol.models[self.role], pol.adapter_name(self.role), self.rollouts.adapter_path(self.role),
                              self.rollouts.settings.adapter_dtype)
        sampler.set_adapter(path, owner=self)
        self._exported = version
        self.exports += 1

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        return self.chat_batch([messages], params)[0]

    def chat_batch(self, conversations: list[list[Message]], params: GenerationParams | None = None,
                   **kw: Any) -> list[list[Completion]]:
        from l2l.train.llamacpp_sampler import SamplingSettings

        params = params or GenerationParams()
        if kw:
            params = GenerationParams(**{**params.__dict__, **kw})
        if not conversations:
            return []
        pol = self.policies
        tok = pol.tokenizer
        sampler = self.rollouts.sampler(pol.base[self.role], tok)
        self._sync(sampler)
        settings = SamplingSettings(max_tokens=params.max_tokens, temperature=params.temperature, top_p=params.top_p,
                                    repetition_penalty=params.repeat_penalty)
        stop = {int(t) for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}
        rng = np.random.default_rng([self.seed if params.seed is None else int(params.seed), self.calls])
        self.calls += 1
        out = []
        for conv in conversations:
            ids = list(tok.apply_chat_template(conv, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"])
            t = time.perf_counter()
            samples = sampler.sample(ids, max(1, params.n), settings, stop, rng)
            each = (time.perf_counter() - t) / len(samples)
            out.append([Completion(text=tok.decode(s.completion_ids, skip_special_tokens=True), prompt_tokens=len(ids),
                                   completion_tokens=len(s.completion_ids), elapsed_s=each, finish_reason=s.finish_reason)
                        for s in samples])
        return out

    def describe(self) -> str:
        return f"policy-llamacpp:{self.role}"
