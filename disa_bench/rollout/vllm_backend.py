"""vLLM rollout backend (GPU extra). vllm is imported only when this backend is constructed."""

from __future__ import annotations

from ..errors import UserError
from ..types import Completion, SamplingParams
from .base import BACKENDS


@BACKENDS.register("vllm")
class VLLMBackend:
    """``LLM.generate`` with ``SamplingParams(n=..., logprobs=0)``; ``logprobs=0`` returns the sampled token's
    log-prob. LoRA adapters are served through ``LoRARequest``. Needs ``pip install 'disa-bench[gpu]'``."""

    def __init__(self, model_path: str, tokenizer=None, adapter: str | None = None, **llm_kwargs):
        try:
            from vllm import LLM
        except ImportError:
            raise UserError("--backend vllm needs vllm: pip install 'disa-bench[gpu]' (GPU machines only)") from None
        self.adapter = adapter
        self.llm = LLM(model=model_path, enable_lora=adapter is not None, **llm_kwargs)

    def generate(self, prompts: list[str], params: SamplingParams, progress=None) -> list[list[Completion]]:
        from vllm import SamplingParams as VSP

        lora = None
        if self.adapter:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("adapter", 1, self.adapter)
        sp = VSP(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
            logprobs=0,
        )
        results = self.llm.generate(prompts, sp, lora_request=lora)
        out = []
        for r in results:
            group = []
            for c in r.outputs:
                ids = list(c.token_ids)
                lps = [float(step[t].logprob) for step, t in zip(c.logprobs or [], ids)]
                group.append(Completion(c.text, ids, lps, c.finish_reason == "length"))
            out.append(group)
            if progress is not None:
                progress(1)
        return out
