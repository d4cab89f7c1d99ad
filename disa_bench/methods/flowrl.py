"""FlowRL in its official-recipe form (methods.md §3.3; verl-recipe flowrl/flowrl_actor.py ``compute_flowrl``).

    delta = log Z_phi(h(x)) + (1/|y|) log pi_theta(y|x) - beta r_hat - (1/|y|) log pi_ref(y|x)
    w     = sg( clamp( exp( sum_t log pi_theta - log pi_old ), max = 10 ) )
    loss  = mean_seq  w * delta^2
    r_hat = group z-score of the reward (GRPO advantage: unbiased std, eps 1e-6), beta = 15

log Z_phi is *learned*: ProjZ = [Linear(d,d), GELU, LayerNorm(d), Dropout(0.1)] x 2 + Linear(d,1) on the
mean-pooled last hidden state of the **policy** over the prompt tokens. As in the released code the head's
gradient flows into the policy (``# avg_hidden = avg_hidden.detach()`` is commented out upstream). The head
has its own (non-LoRA) parameters, optimized by the engine's single AdamW with the policy, and saved by the
engine next to the adapter (``log_z_head.safetensors``).

Variants (``variant``): ``official`` (above), ``original`` (paper code, Sep 2025: unclipped w),
``detached-head`` (h(x) detached: Z learns without moving the policy — DISA's "decoupling" without a frozen Z).
No KL or entropy term. Offline, pi_old is the store's behaviour distribution.

Target (``units``, ``reward_norm``; defaults = the official recipe): ``units: exact`` uses sequence-level
log-ratios and loss w * delta^2 / |y| (DISA's EXACT mode), ``reward_norm: none`` the raw reward instead of the
group z-score. With ``units: exact, reward_norm: none, beta: 5`` (the ``flowrl-exact`` row) the residual is
DISA's (``methods.base.tb_residual``, shared code) and only log Z differs: learned here, frozen in DISA.
Online rollouts must come from the untempered, untruncated policy (``requires_full_support``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, Batch, Method, is_weight, tb_residual
from .grpo import group_advantage

VARIANTS = ("official", "original", "detached-head")
UNITS = ("ln", "exact")
REWARD_NORMS = ("group", "none")


@dataclass
class FlowRLConfig:
    beta: float = 15.0  # hard-coded 15 in dp_actor.py and verl-recipe flowrl_beta_coef (methods.md §3.2, §3.3)
    variant: str = "official"  # methods.md §3.3 recommended: official verl recipe
    w_max: float = 10.0  # verl-recipe imp_w = clamp(imp_w_raw, max=10); ignored by "original" (unclipped)
    proj_layers: int = 3  # porj_layer=3 (sic) in the FlowRL scripts (methods.md §3.2)
    dropout: float = 0.1  # ProjZModule Dropout(0.1)
    adv_eps: float = 1e-6  # verl GRPO advantage epsilon
    units: str = "ln"  # "ln" (official: length-normalised log-ratios, loss delta^2) | "exact" (DISA's: sums, delta^2/|y|)
    reward_norm: str = "group"  # "group" (official: GRPO group z-score) | "none" (the raw reward, as DISA)

    def check(self) -> None:
        from ..errors import UserError

        if self.units not in UNITS:
            raise UserError(f"FlowRL's units must be one of {', '.join(UNITS)}, got {self.units!r}")
        if self.reward_norm not in REWARD_NORMS:
            raise UserError(f"FlowRL's reward_norm must be one of {', '.join(REWARD_NORMS)}, got {self.reward_norm!r}")


def build_proj_z(d: int, num_layers: int = 3, dropout: float = 0.1):
    """FlowRL's ProjZModule: (num_layers - 1) x [Linear(d,d), GELU, LayerNorm(d), Dropout] + Linear(d,1)."""
    import torch.nn as nn

    layers: list = []
    for _ in range(num_layers - 1):
        layers += [nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Dropout(dropout)]
    layers.append(nn.Linear(d, 1))
    return nn.Sequential(*layers)


@METHODS.register("flowrl")
class FlowRL(Method):
    name = "flowrl"
    order = 20
    Config = FlowRLConfig
    needs = frozenset({"old", "ref", "hidden"})
    state_file = "log_z_head.safetensors"  # saved by the engine next to the adapter
    requires_full_support = True  # online: temperature 1, top_p 1 (Method.check_sampling)
    clip_metric = ("w_clipped_frac", "sequences whose IS weight is capped at w_max (gradient kept, down-weighted)")

    def __init__(self, cfg=None):
        super().__init__(cfg)
        from ..errors import UserError

        if self.cfg.variant not in VARIANTS:
            raise UserError(f"unknown FlowRL variant {self.cfg.variant!r}; valid: {', '.join(VARIANTS)}")
        self.head = None

    def setup(self, policy, hidden_size: int) -> None:
        try:
            device = next(policy.parameters()).device
        except StopIteration:  # pragma: no cover
            device = "cpu"
        self.head = build_proj_z(hidden_size, self.cfg.proj_layers, self.cfg.dropout).to(device)
        self.head.train()

    def parameters(self) -> list:
        return list(self.head.parameters()) if self.head is not None else []

    def state_dict(self) -> dict:
        return {k: v.detach().contiguous() for k, v in self.head.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        self.head.load_state_dict(state)

    def advantages(self, reward, group):
        """r_hat on the whole rollout batch (the engine calls this once, before splitting into mini-batches);
        None with ``reward_norm: none`` (the loss then uses the raw reward)."""
        if self.cfg.reward_norm == "none":
            return None
        return group_advantage(reward, group, self.cfg.adv_eps)

    def loss(self, batch: Batch):
        cfg = self.cfg
        mask = batch.mask
        n = mask.sum(-1).clamp(min=1)
        h = batch.prompt_hidden
        if cfg.variant == "detached-head":
            h = h.detach()
        log_z = self.head(h).squeeze(-1)
        r_hat = batch.extra.get("advantage")
        if r_hat is None:
            r_hat = self.advantages(batch.reward, batch.group)
        if r_hat is None:  # reward_norm: none
            r_hat = batch.reward
        delta, per_seq = tb_residual(log_z, batch.logp, batch.ref_logp, mask, r_hat, cfg.beta, cfg.units)
        avg_lp = (batch.logp * mask).sum(-1) / n
        avg_ref = (batch.ref_logp * mask).sum(-1) / n
        w_max = None if cfg.variant == "original" else cfg.w_max
        w, raw, clipped = is_weight(batch.logp, batch.old_logp, mask, w_max)
        loss = (w * per_seq).mean()
        return loss, {
            "log_z": log_z.detach().mean().item(),
            "delta_abs": delta.detach().abs().mean().item(),
            "log_reward": (cfg.beta * r_hat).mean().item(),
            "importance_weight": raw.mean().item(),
            "w_clipped_frac": float(clipped),
            "ref_kl": ((avg_lp - avg_ref).detach()).mean().item(),
            "ppo_kl": (((batch.old_logp - batch.logp.detach()) * mask).sum() / mask.sum().clamp(min=1)).item(),
        }
