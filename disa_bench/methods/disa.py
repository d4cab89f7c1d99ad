"""DISA: trajectory balance toward pi*(y|x) ∝ pi_ref(y|x) exp(beta r) with a *frozen* offline log Z.

    EXACT units (default here):  delta = log Z(x) + log pi_theta(y|x) - log pi_ref(y|x) - beta r
                                 loss  = mean_seq  w * delta^2 / |y|
    LN units (FlowRL parity):    delta = log Z(x) + (1/|y|)(log pi_theta - log pi_ref)(y|x) - beta r
                                 loss  = mean_seq  w * delta^2
    w = sg(clamp(exp(sum_t log pi_theta - log pi_old), max = w_max))   (methods.md §1.8, §6 #9)

The residual is ``methods.base.tb_residual``, the same code FlowRL uses, so DISA and FlowRL with
``units: exact, reward_norm: none`` (the ``flowrl-exact`` row) differ only in where log Z comes from.

LN units at beta 15 on binary rewards train badly (methods.md §1.8, measured; docs/protocol.md): log Z ≈ 15 +
log p(correct) on solvable prompts, so at init an incorrect sample's LN residual is log Z nats *per token*
(~13 on a solvable prompt) and the loss asks its log-prob to fall by that much per token; FlowRL's own beta 15
acts on group z-scored rewards (|r| ≈ 1), which a Z frozen offline cannot use. EXACT / beta 5 is therefore the
default; LN / beta 15 is the ``disa-ln`` ablation row.

Online rollouts must come from the untempered, untruncated policy (``requires_full_support``: temperature 1,
top_p 1; other settings are refused when the config is checked), because pi_old is scored at temperature 1.

log Z comes from ``disa-bench anchor`` and never changes during training: no gradient, no parameters, no
update. Simplifications: a table lookup per prompt (the regressor is optional upstream); no KL or entropy
term, as in FlowRL — the prior enters only through -log pi_ref inside delta. In ``--data offline`` mode
pi_old is the stored behaviour distribution; by default w = 1 there (``offline_weight: none``), since TB's
zero-residual optimum is pi* for any full-support sampler (§1.9a) and ratios to a foreign proposal are
high-variance.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, Batch, Method, is_weight, tb_residual


@dataclass
class DISAConfig:
    beta: float = 5.0  # must equal the anchor's beta; EXACT default 5 (methods.md §6 #6)
    units: str = "exact"  # "exact" | "ln"; must equal the anchor's units
    w_max: float | None = 10.0  # FlowRL official recipe clamp(max=10) (methods.md §3.3, §6 #9)
    w_min: float | None = None
    offline_weight: str = "none"  # "none" (w = 1) | "ratio" (clipped pi_theta / behaviour) in offline mode

    def check(self) -> None:
        import math

        from ..errors import UserError

        if not (isinstance(self.beta, (int, float)) and math.isfinite(self.beta) and self.beta > 0):
            raise UserError(f"DISA's beta must be a finite number > 0, got {self.beta!r}")
        if self.units not in ("exact", "ln"):
            raise UserError(f"DISA's units must be 'exact' or 'ln', got {self.units!r}")
        for name in ("w_max", "w_min"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise UserError(f"DISA's {name} must be a finite number > 0 (or none), got {v!r}")
        if self.offline_weight not in ("none", "ratio"):
            raise UserError(f"DISA's offline_weight must be 'none' or 'ratio', got {self.offline_weight!r}")


@METHODS.register("disa")
class DISA(Method):
    name = "disa"
    order = 10
    Config = DISAConfig
    needs = frozenset({"old", "ref", "anchor"})
    requires_full_support = True  # online: temperature 1, top_p 1 (Method.check_sampling)
    clip_metric = ("w_clipped_frac", "sequences whose IS weight is capped at w_max (gradient kept, down-weighted)")

    @classmethod
    def run_defaults(cls, anchor_cfg) -> dict:
        """The run pipeline trains DISA at the beta and units its anchor was computed with."""
        return {"beta": anchor_cfg.beta, "units": anchor_cfg.units}

    def anchor_settings(self) -> dict:
        return {"units": self.cfg.units, "beta": self.cfg.beta}

    def check_anchor(self, anchor_rows: dict, where: str) -> None:
        """Every anchor row must have this config's beta and units (log Z depends on both)."""
        from ..errors import UserError

        cfg = self.cfg
        for pid, row in anchor_rows.items():
            if abs(row["beta"] - cfg.beta) > 1e-9:
                raise UserError(f"{where}: anchor beta={row['beta']} (prompt {pid!r}) but the method uses beta={cfg.beta}; "
                                f"re-anchor or pass the same --beta")
            if row["units"] != cfg.units:
                raise UserError(f"{where}: anchor units={row['units']!r} (prompt {pid!r}) but the method uses "
                                f"units={cfg.units!r}")

    def loss(self, batch: Batch):
        import torch

        cfg = self.cfg
        mask = batch.mask
        r = batch.reward
        delta, per_seq = tb_residual(batch.log_z, batch.logp, batch.ref_logp, mask, r, cfg.beta, cfg.units)
        if batch.extra.get("offline") and cfg.offline_weight == "none":
            w = torch.ones_like(r)
            raw, clipped = w, torch.zeros(())
        else:
            w, raw, clipped = is_weight(batch.logp, batch.old_logp, mask, cfg.w_max, cfg.w_min)
        loss = (w * per_seq).mean()
        d = delta.detach()
        correct = r > 0
        metrics = {
            "delta_correct": d[correct].mean().item() if correct.any() else float("nan"),
            "delta_incorrect": d[~correct].mean().item() if (~correct).any() else float("nan"),
            "delta_abs": d.abs().mean().item(),
            "w_mean": raw.mean().item(),
            "w_clipped_frac": float(clipped),
        }
        return loss, metrics
