"""Online rollouts: fresh samples from the current policy, graded, for each rollout batch.

Backend ``hf`` samples with the policy itself under ``--full``, and under LoRA with a plain copy that has the live
adapter merged in (``rollout/merged.py``; refreshed before every rollout batch, the policy untouched), which
samples faster than the PeftModel. Backend ``vllm`` samples with a vLLM engine on the base model plus the current
LoRA: before each rollout batch the policy's adapter is saved (``save_pretrained`` of the unwrapped peft model) to
``OUT/vllm_lora/step-N`` and served through a fresh ``LoRARequest`` (``VLLMBackend.set_adapter``); only the last
one is kept on disk. So vllm needs LoRA (not ``--full``) and one process. The sync is timed as ``weight_sync``,
not ``generate``.
"""

from __future__ import annotations

import time
from pathlib import Path


class OnlineRollouts:
    """Rollout batches for ``Trainer``: ``policy()`` returns the unwrapped live policy; timings/counts are updated."""

    def __init__(self, cfg, out: Path, task, tok, max_new: int, policy, acct):
        self.cfg, self.out, self.task, self.tok, self.max_new = cfg, Path(out), task, tok, max_new
        self.policy = policy
        self.timings, self.counts = acct.timings, acct.counts
        self._merged = None  # MergedPolicy: the hf rollout copy of a LoRA policy, made on first use
        self._engine = None  # vllm backend, opened on first use
        self._sync_step = 0  # LoRA syncs into the vllm engine so far

    def batch(self, problems, rng) -> list[dict]:
        """``n`` fresh graded rollouts per problem (one sampling seed drawn from ``rng``); a list of sequence dicts."""
        from ..rollout import get_backend
        from ..rollout.graded import sample_and_grade
        from ..types import SamplingParams

        cfg = self.cfg
        # vllm: the LoRA sync is timed as weight_sync, not generate
        backend = self._sync_engine() if cfg.backend != "hf" else None
        t0 = time.time()
        params = SamplingParams(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=self.max_new,
                                seed=rng.randrange(2**31))
        if backend is None:
            backend = get_backend("hf", self._sampling_model(), self.tok, batch_size=len(problems))
        graded = sample_and_grade(backend, self.task, problems, params)
        self._drop_stale_adapters()
        self.timings["generate"] += time.time() - t0
        # At temperature 1 without top-p the sampling distribution is the policy's own, so the sampler's per-token
        # log-probs are log pi_old (of the batch's policy, up to rounding: the merged copy / vLLM computes them) and the
        # trainer skips its separate no-grad pi_old pass; under any other sampling they are of the processed
        # distribution, and the trainer scores pi_old itself.
        own = cfg.temperature == 1.0 and cfg.top_p >= 1.0
        seqs = []
        for gi, group in enumerate(graded):
            for g in group:
                c = g.completion
                behavior = list(c.logprobs) if own and c.logprobs is not None and len(c.logprobs) == len(c.token_ids) else None
                seqs.append({"problem": g.problem, "group": gi, "ids": c.token_ids,
                             "reward": g.grade.reward, "behavior": behavior, "strategy": g.grade.strategy,
                             "verdict": g.grade.verdict})
                self.counts["tokens_generated"] += g.completion.num_tokens
        return seqs

    def _sampling_model(self):
        """What HF rollouts are drawn from: the merged LoRA copy, or with --full the policy itself."""
        if self.cfg.full:
            return self.policy()
        if self._merged is None:
            from ..rollout.merged import MergedPolicy

            self._merged = MergedPolicy(self.policy())
        return self._merged.refresh()

    def _sync_engine(self):
        """vllm: save the current LoRA to OUT/vllm_lora/step-N and point the engine at it (opened on first use)."""
        from ..rollout import open_backend

        t0 = time.time()
        self._sync_step += 1
        d = self.out / "vllm_lora" / f"step-{self._sync_step}"
        self.policy().save_pretrained(d)
        if self._engine is None:
            import torch

            kw = {"gpu_memory_utilization": 0.3} if torch.cuda.is_available() else {}  # the trainer shares the GPU
            self._engine = open_backend(self.cfg.backend, self.cfg.model, adapter=str(d), max_lora_rank=self.cfg.lora_r,
                                        **kw)
        else:
            self._engine.set_adapter(d)
        self.timings["weight_sync"] = self.timings.get("weight_sync", 0.0) + time.time() - t0
        return self._engine

    def _drop_stale_adapters(self):
        """Keep only the adapter the engine served last (earlier ones are already loaded or never used again)."""
        if self.cfg.backend == "hf":
            return
        import shutil

        for d in (self.out / "vllm_lora").glob("step-*"):
            if d.name != f"step-{self._sync_step}":
                shutil.rmtree(d, ignore_errors=True)


def graded_counts(seqs: list[dict]) -> dict:
    """What graded one rollout batch, per task (a mixture's source task: ``math-train``, ``mbpp-train``): how many
    sequences, their reward sum, and the grader's verdicts (math-verify's, the sandbox's). The metrics row of the
    step records it next to the loss those rewards went into."""
    out: dict = {}
    for s in seqs:
        p = s["problem"]
        t = p.meta.get("source_task") or p.task
        c = out.setdefault(t, {"n": 0, "reward_sum": 0.0, "verdicts": {}})
        c["n"] += 1
        c["reward_sum"] += float(s["reward"])
        v = s.get("verdict") or "ok"
        c["verdicts"][v] = c["verdicts"].get(v, 0) + 1
    return out
