"""vLLM backend for GPU machines (optional; `vllm` is imported only when this backend is built).

Batches natively (`LLM.chat` over many conversations) and enforces JSON schemas with vLLM's
guided/structured decoding.
"""

from __future__ import annotations

import time
from typing import Any

from l2l.backends.base import BackendError, ChatBackend, GenerationParams, Message
from l2l.types import Completion


class VLLMBackend(ChatBackend):
    """A model served in-process by vLLM.

    >>> b = VLLMBackend("Qwen/Qwen2.5-Coder-7B-Instruct", gpu_memory_utilization=0.8)  # doctest: +SKIP
    """

    name = "vllm"
    supports_json_schema = True

    def __init__(
        self,
        model: str,
        dtype: str = "auto",
        seed: int = 0,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.85,
        tensor_parallel_size: int = 1,
        trust_remote_code: bool = False,
    ):
        try:
            import vllm
        except ImportError:
            raise BackendError(
                "the vllm backend needs the vllm package and a CUDA GPU: pip install 'l2l[vllm]' "
                "(on CPU use the llamacpp or hf backend, or an OpenAI-compatible server with openai:<model>)"
            ) from None
        self._vllm = vllm
        self.model_id = model
        self.seed = int(seed)
        kwargs: dict[str, Any] = dict(model=model, dtype=dtype, seed=self.seed, trust_remote_code=trust_remote_code,
                                      gpu_memory_utilization=gpu_memory_utilization,
                                      tensor_parallel_size=tensor_parallel_size)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        try:
            self.llm = vllm.LLM(**kwargs)
        except Exception as e:  # vLLM raises many types (CUDA, OSError, ValueError); all mean "cannot load"
            raise BackendError(f"vLLM could not load {model}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None

    def _sampling(self, params: GenerationParams, n: int, seed: int):
        vllm = self._vllm
        kw: dict[str, Any] = dict(n=n, temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens,
                                  seed=seed, stop=list(params.stop) or None, repetition_penalty=params.repeat_penalty)
        if params.json_schema is not None:
            # vLLM >= 0.10 calls it structured_outputs; older releases guided_decoding.
            try:
                from vllm.sampling_params import StructuredOutputsParams

                kw["structured_outputs"] = StructuredOutputsParams(json=params.json_schema)
            except ImportError:
                from vllm.sampling_params import GuidedDecodingParams

                kw["guided_decoding"] = GuidedDecodingParams(json=params.json_schema)
        return vllm.SamplingParams(**kw)

    def chat_batch(self, conversations: list[list[Message]], params: GenerationParams | None = None, **kw: Any) -> list[list[Completion]]:
        """All conversations in one vLLM call (continuous batching on the GPU)."""
        params = params or GenerationParams()
        if kw:
            params = GenerationParams(**{**params.__dict__, **kw})
        n = max(1, params.n)
        sp = self._sampling(params, n, self.seed if params.seed is None else params.seed)
        t0 = time.perf_counter()
        outs = self.llm.chat(conversations, sampling_params=sp, use_tqdm=False)
        elapsed = time.perf_counter() - t0
        results = []
        for out in outs:
            prompt_tokens = len(out.prompt_token_ids or [])
            results.append([
                Completion(text=o.text, prompt_tokens=prompt_tokens, completion_tokens=len(o.token_ids),
                           elapsed_s=elapsed, finish_reason=o.finish_reason)
                for o in out.outputs
            ])
        return results

    def _chat(self, messages: list[Message], params: GenerationParams) -> list[Completion]:
        return self.chat_batch([messages], params)[0]

    def close(self) -> None:
        self.llm = None

    def describe(self) -> str:
        return f"vllm:{self.model_id}"
