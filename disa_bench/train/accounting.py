"""What a training run counts and reports: token and step counts, phase timings, the per-step metrics record,
and the summary (fairness budget, compute, parameter hash).

``tokens_forward`` / ``tokens_backward`` count prompt + completion tokens through the model (the no-grad scoring
passes for pi_old / pi_ref are counted in ``tokens_forward_nograd`` and added to ``tokens_forward`` in the
summary); generation is counted in ``tokens_generated``. Under DDP token counts are summed over ranks; wall
time and phases are the main process's.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict

import numpy as np

# the TrainConfig fields every method shares: the fair-comparison budget recorded in each summary
FAIRNESS_FIELDS = ("model", "store", "steps", "prompts_per_step", "n", "mini_batches", "lr", "weight_decay", "grad_clip",
                   "warmup_steps", "lora_r", "lora_alpha", "lora_dropout", "full", "seed", "temperature", "top_p", "data",
                   "backend")


class Accounting:
    """Counts and phase timings of one run (``timings`` may gain ``weight_sync`` with a vllm backend)."""

    def __init__(self):
        self.timings = {"generate": 0.0, "data": 0.0, "score": 0.0, "update": 0.0}
        self.counts = {"tokens_generated": 0, "tokens_forward": 0, "tokens_forward_nograd": 0, "tokens_backward": 0,
                       "sequences": 0, "optimizer_steps": 0}

    def totals(self, world: int, device) -> dict:
        """Counts for the summary: no-grad tokens folded into tokens_forward, summed over ranks under DDP."""
        counts = dict(self.counts)
        counts["tokens_forward"] += counts["tokens_forward_nograd"]
        if world > 1:
            import torch
            import torch.distributed as dist

            keys = sorted(counts)
            t = torch.tensor([float(counts[k]) for k in keys], device=device)
            dist.all_reduce(t)
            counts = {k: int(v) for k, v in zip(keys, t.tolist())}
        return counts


def ntok(prompt_ids, comp_ids) -> int:
    return sum(len(p) + len(c) for p, c in zip(prompt_ids, comp_ids))


def nanmean(v):
    vals = [x for x in v if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.mean(vals)) if vals else None


def step_record(step: int, step_metrics: dict, mini_batches: int, reward, comp_ids, extra: dict, use_store: bool,
                t_start: float) -> dict:
    """One line of metrics.jsonl: the mini-batch means of the method's metrics, reward, length, KL to pi_ref."""
    import torch

    rec = {"step": step + 1, **{k: nanmean(v) for k, v in step_metrics.items()}}
    if mini_batches > 1:  # per-mini-batch values, e.g. GSPO's ratio drifting away from 1 after the first update
        rec["per_minibatch"] = {k: [None if (isinstance(x, float) and math.isnan(x)) else x for x in v]
                                for k, v in step_metrics.items()}
    rec["reward"] = float(reward.mean())
    rec["response_length"] = float(np.mean([len(c) for c in comp_ids]))
    if "ref_logp" in extra and "old_logp" in extra and not use_store:
        # mean per-token log(pi_theta / pi_ref) on the policy's own samples: a KL(pi_theta || pi_ref) estimate
        m_ = torch.zeros_like(extra["ref_logp"])
        for i, c in enumerate(comp_ids):
            m_[i, : len(c)] = 1
        rec["kl_ref"] = float(((extra["old_logp"] - extra["ref_logp"]) * m_).sum() / m_.sum())
    rec["wall"] = round(time.time() - t_start, 3)
    return rec


def params_sha256(params) -> str:
    """Hash of the given parameters' values, e.g. to check DDP ranks agree."""
    import hashlib

    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def peak_memory() -> tuple[float | None, str]:
    """(MB, kind): the CUDA allocator's peak if there is a GPU, else the process's max RSS."""
    import torch

    peak = None
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux: KiB)
    except Exception:
        pass
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**20
    return peak, ("cuda_max_allocated" if torch.cuda.is_available() else "process_max_rss")


def summary(tr, history: list, wall: float) -> dict:
    """summary.json of a finished run of Trainer ``tr``."""
    cfg = tr.cfg
    peak, peak_kind = peak_memory()
    counts = tr.acct.totals(tr.world, tr.accel.device)
    first = history[: max(1, len(history) // 10)]
    last = history[-max(1, len(history) // 10):]
    fair = {k: getattr(cfg, k) for k in FAIRNESS_FIELDS}
    fair.update({"data_source": tr.data_source, "max_new_tokens": tr.max_new, "optimizer": "AdamW",
                 "num_processes": tr.world, "global_sequences_per_step": cfg.prompts_per_step * cfg.n * tr.world})
    return {
        "method": cfg.method,
        "data": cfg.data,
        "data_source": tr.data_source,
        "steps": len(history),
        "trainable_parameters": tr.n_trainable,
        "reward_first": float(np.mean([h["reward"] for h in first])),
        "reward_last": float(np.mean([h["reward"] for h in last])),
        "loss_last": last[-1].get("loss"),
        "params_sha256": tr.params_sha256(),
        "compute": {**counts, "wall_seconds": round(wall, 2),
                    "phase_seconds": {k: round(v, 2) for k, v in tr.acct.timings.items()},
                    "peak_memory_mb": round(peak, 1) if peak else None,
                    "peak_memory_kind": peak_kind},
        "fairness": fair,
        "method_config": asdict(tr.method.cfg),
    }
