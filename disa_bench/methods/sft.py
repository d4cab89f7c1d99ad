"""LoRA-SFT distillation on the shared store (methods.md §5): completion-only token-mean NLL.

    loss = - sum_{(x,y)} sum_t log pi_theta(y_t | x, y_<t) / sum |y|        (prompt tokens masked)

It never samples: the engine feeds it the store's trajectories in both ``--data`` modes and records the
effective data source (``store:correct`` or ``store:all``). Default ``sft_data: correct`` (reward > 0,
rejection-sampling distillation, the stronger baseline); ``sft_data: all`` is the literal "same offline
trajectories" ablation. Same LoRA config, optimizer, batch and steps as the RL methods.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, Batch, Method

SFT_DATA = ("correct", "all")


@dataclass
class SFTConfig:
    sft_data: str = "correct"  # methods.md §5: correct-only default; "all" = ablation


@METHODS.register("sft")
class SFT(Method):
    name = "sft"
    order = 50
    Config = SFTConfig
    needs = frozenset()
    uses_rollouts = False

    def __init__(self, cfg=None):
        super().__init__(cfg)
        from ..errors import UserError

        if self.cfg.sft_data not in SFT_DATA:
            raise UserError(f"unknown sft_data {self.cfg.sft_data!r}; valid: {', '.join(SFT_DATA)}")

    def select_store_rows(self, table, rows_by_prompt: dict, where: str) -> dict:
        """Correct trajectories (reward > 0) by default, or all of them; prompts left without a row are dropped."""
        from ..errors import UserError

        if self.cfg.sft_data == "all":
            return rows_by_prompt
        rew = table.column("reward").to_pylist()
        rows = {p: [i for i in r if rew[i] > 0] for p, r in rows_by_prompt.items()}
        rows = {p: r for p, r in rows.items() if r}
        if not rows:
            raise UserError(f"{where}: the store has no correct trajectory (reward > 0) for sft_data: correct; "
                            f"use a stronger proposal or --sft-data all")
        return rows

    def store_source(self) -> str:
        return f"store:{self.cfg.sft_data}"

    def loss(self, batch: Batch):
        mask = batch.mask
        ntok = mask.sum().clamp(min=1)
        loss = -(batch.logp * mask).sum() / ntok
        return loss, {"nll": loss.item(), "frac_correct": (batch.reward > 0).float().mean().item()}
