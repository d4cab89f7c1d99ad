"""GRPO as verl implements it (methods.md §4.1): group z-score advantage, clipped token ratio, optional k3 KL.

    A_i      = (r_i - mean_G r) / (std_G r + eps)          unbiased std; a singleton group has mean 0, std 1
    rho_i,t  = exp(clamp(log pi_theta - log pi_old, -20, 20))
    L_i,t    = max(-A_i rho, -A_i clip(rho, 1 - eps_low, 1 + eps_high));  A_i < 0: min(L_i,t, -A_i c)  (dual clip)
             + kl_coef * k3_i,t,   k3 = exp(ref - logp) - (ref - logp) - 1   (log-ratio clamped to ±20, k3 to ±10)
    loss     = agg(L, mask)   token-mean (verl default) | seq-mean-token-mean (DeepSeekMath)
                              | seq-mean-token-sum | seq-mean-token-sum-norm (Dr.GRPO: sum / (B * L_max))

pi_ref is computed only when ``kl_coef > 0`` (``needs`` depends on the config). ``norm_adv_by_std: false``
with ``loss_agg: seq-mean-token-sum-norm`` and ``kl_coef: 0`` is Dr.GRPO. Online, pi_old is the rollout
policy; offline, it is the store's behaviour distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, Batch, Method

LOSS_AGG = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


@dataclass
class GRPOConfig:
    clip_eps: float = 0.2  # verl actor.clip_ratio(_low) default 0.2 (methods.md §4.1)
    clip_eps_high: float | None = None  # verl clip_ratio_high; None = clip_eps (DAPO uses 0.28)
    clip_ratio_c: float | None = 3.0  # verl dual-clip bound for A < 0 (clip_ratio_c = 3.0); None = off
    kl_coef: float = 0.001  # verl kl_loss_coef 0.001, low_var_kl = k3 (methods.md §4.1 recommended baseline)
    loss_agg: str = "token-mean"  # verl loss_agg_mode default (methods.md §4.1)
    norm_adv_by_std: bool = True  # verl norm_adv_by_std_in_grpo; False = Dr.GRPO
    adv_eps: float = 1e-6  # verl compute_grpo_outcome_advantage epsilon
    max_len_norm: int | None = None  # Dr.GRPO constant L; None = the engine's max_new_tokens


def group_advantage(reward, group, eps: float = 1e-6, norm_by_std: bool = True):
    """GRPO outcome advantage: z-score of the reward within each prompt's group (unbiased std, verl form)."""
    import torch

    adv = torch.zeros_like(reward, dtype=torch.float32)
    for g in torch.unique(group):
        idx = group == g
        r = reward[idx].float()
        if r.numel() > 1:
            mean, std = r.mean(), r.std(unbiased=True)
        else:
            mean, std = torch.zeros(()), torch.ones(())
        adv[idx] = (r - mean) / (std + eps) if norm_by_std else r - mean
    return adv


def agg_loss(loss_mat, mask, mode: str, max_len: int | None = None):
    """verl ``agg_loss``: reduce a (B, T) per-token loss over valid tokens."""
    n = mask.sum(-1)
    if mode == "token-mean":
        return (loss_mat * mask).sum() / mask.sum().clamp(min=1)
    if mode == "seq-mean-token-mean":
        return ((loss_mat * mask).sum(-1) / n.clamp(min=1)).mean()
    if mode == "seq-mean-token-sum":
        return (loss_mat * mask).sum(-1).mean()
    if mode == "seq-mean-token-sum-norm":
        return (loss_mat * mask).sum(-1).mean() / float(max_len or mask.shape[-1])
    raise ValueError(f"unknown loss_agg {mode!r}; valid: {', '.join(LOSS_AGG)}")


def k3(logp, ref_logp):
    """Schulman's low-variance KL estimator per token (verl low_var_kl)."""
    import torch

    d = (ref_logp - logp).clamp(-20, 20)
    return (torch.exp(d) - d - 1).clamp(-10, 10)


@METHODS.register("grpo")
class GRPO(Method):
    name = "grpo"
    order = 30
    Config = GRPOConfig
    needs = frozenset({"old", "ref"})
    clip_metric = ("clip_frac", "tokens whose ratio is clipped (no gradient)")

    def __init__(self, cfg=None):
        super().__init__(cfg)
        from ..errors import UserError

        if self.cfg.loss_agg not in LOSS_AGG:
            raise UserError(f"unknown loss_agg {self.cfg.loss_agg!r} for grpo; valid: {', '.join(LOSS_AGG)}")
        self.needs = frozenset({"old", "ref"}) if self.cfg.kl_coef > 0 else frozenset({"old"})

    def advantages(self, reward, group):
        """Called by the engine on the whole rollout batch, so groups are never split across mini-batches."""
        return group_advantage(reward, group, self.cfg.adv_eps, self.cfg.norm_adv_by_std)

    def loss(self, batch: Batch):
        import torch

        cfg = self.cfg
        mask = batch.mask
        adv = batch.extra.get("advantage")
        if adv is None:
            adv = self.advantages(batch.reward, batch.group)
        adv = adv.unsqueeze(-1)
        log_ratio = (batch.logp - batch.old_logp).clamp(-20, 20)
        ratio = torch.exp(log_ratio)
        hi = cfg.clip_eps_high if cfg.clip_eps_high is not None else cfg.clip_eps
        pg1 = -adv * ratio
        pg2 = -adv * ratio.clamp(1 - cfg.clip_eps, 1 + hi)
        pg = torch.maximum(pg1, pg2)
        if cfg.clip_ratio_c is not None:
            pg = torch.where(adv < 0, torch.minimum(pg, -adv * cfg.clip_ratio_c), pg)
        per_tok = pg
        kl = None
        if cfg.kl_coef > 0:
            kl = k3(batch.logp, batch.ref_logp)
            per_tok = per_tok + cfg.kl_coef * kl
        max_len = cfg.max_len_norm or batch.extra.get("max_new_tokens")
        loss = agg_loss(per_tok, mask, cfg.loss_agg, max_len)
        m = mask.bool()
        r = ratio.detach()[m]
        metrics = {
            "adv_abs": adv.abs().mean().item(),
            "ratio_mean": r.mean().item() if r.numel() else float("nan"),
            "ratio_abs_dev": (r - 1).abs().mean().item() if r.numel() else float("nan"),
            "clip_frac": ((pg2 > pg1).detach()[m].float().mean().item()) if r.numel() else float("nan"),
            "pg_loss": agg_loss(pg.detach(), mask, cfg.loss_agg, max_len).item(),
        }
        if kl is not None:
            metrics["kl_k3"] = agg_loss(kl.detach(), mask, "token-mean").item()
        return loss, metrics
