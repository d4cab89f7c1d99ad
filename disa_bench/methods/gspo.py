"""GSPO (Qwen, arXiv 2507.18071; methods.md §4.2): a sequence-level, length-normalized ratio, clipped tightly.

    s_i  = exp( min( (1/|y_i|) sum_t (log pi_theta - log pi_old)_{i,t}, 10 ) )      (gradient flows through s_i)
    L_i  = max( -A_i s_i, -A_i clip(s_i, 1 - eps_low, 1 + eps_high) ),   A_i = GRPO group z-score
    loss = mean over sequences (verl forces seq-mean-token-mean; TRL loss_type "grpo"); no KL.

GSPO only differs from on-policy REINFORCE-with-group-baseline when the rollout batch is reused: with one
optimizer step per rollout batch s_i ≡ 1 and clipping never acts. So the default is 4 optimizer
mini-batches per rollout batch (``default_mini_batches``; paper §5.1), and the engine warns when a run is
on-policy. ``ratio_*`` metrics are logged per mini-batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, Batch, Method
from .grpo import group_advantage


@dataclass
class GSPOConfig:
    clip_eps_low: float = 3e-4  # GSPO paper §5.1; verl examples/gspo_trainer clip_ratio_low (methods.md §4.2)
    clip_eps_high: float = 4e-4  # GSPO paper §5.1; verl clip_ratio_high, TRL epsilon_high
    adv_eps: float = 1e-6  # verl GRPO advantage epsilon
    log_ratio_max: float = 10.0  # verl compute_policy_loss_gspo clamps the log-ratio at 10


@METHODS.register("gspo")
class GSPO(Method):
    name = "gspo"
    order = 40
    Config = GSPOConfig
    needs = frozenset({"old"})
    clip_metric = ("clip_frac", "sequences whose ratio is clipped (no gradient)")
    default_mini_batches = 4  # paper §5.1 / TRL steps_per_generation = 4: >= 4 optimizer steps per rollout batch

    def advantages(self, reward, group):
        """Called by the engine on the whole rollout batch, so groups are never split across mini-batches."""
        return group_advantage(reward, group, self.cfg.adv_eps)

    def loss(self, batch: Batch):
        import torch

        cfg = self.cfg
        mask = batch.mask
        n = mask.sum(-1).clamp(min=1)
        adv = batch.extra.get("advantage")
        if adv is None:
            adv = self.advantages(batch.reward, batch.group)
        seq_log_ratio = (((batch.logp - batch.old_logp) * mask).sum(-1) / n).clamp(max=cfg.log_ratio_max)
        s = torch.exp(seq_log_ratio)
        pg1 = -adv * s
        pg2 = -adv * s.clamp(1 - cfg.clip_eps_low, 1 + cfg.clip_eps_high)
        per_seq = torch.maximum(pg1, pg2)
        loss = per_seq.mean()
        sd = s.detach()
        metrics = {
            "adv_abs": adv.abs().mean().item(),
            "ratio_mean": sd.mean().item(),
            "ratio_min": sd.min().item(),
            "ratio_max": sd.max().item(),
            "ratio_abs_dev": (sd - 1).abs().mean().item(),
            "clip_frac": (pg2 > pg1).float().mean().item(),
        }
        return loss, metrics
