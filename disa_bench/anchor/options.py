"""Options of ``disa-bench anchor`` beyond the estimator (AnchorConfig): the exact check and the anchor mode.

Kept apart from AnchorConfig so the pipeline's ``anchor_stage(cfg, store, out)`` is unchanged (defaults:
table mode, plots on, no exact check)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UserError


@dataclass
class AnchorOptions:
    mode: str = "table"  # table | regressor | shrunk (regressor.py)
    kappa: float = 2.0  # shrinkage lambda = ESS / (ESS + kappa)
    ref: str | None = None  # pi_ref: needed by --check-exact and the regressor (default: the store's ref)
    check_exact: bool = False
    k_list: list = field(default_factory=list)  # --k 4,16,64: error-vs-K curve under --check-exact
    task: str | None = None  # default: the store's task
    n_prompts: int | None = None  # regressor: also predict this many prompts of the split (as propose draws them)
    split: str = "train"
    prompt_seed: int = 0  # the seed propose drew its prompts with
    plots: bool = True

    def check(self) -> None:
        from .regressor import MODES

        if self.mode not in MODES:
            raise UserError(f"unknown --mode {self.mode!r}; valid: {', '.join(MODES)}")
        if not self.kappa > 0:
            raise UserError(f"--kappa must be > 0, got {self.kappa}")
        if self.k_list and not self.check_exact:
            raise UserError("--k (a list of K for the error-vs-K curve) needs --check-exact")
        if self.n_prompts is not None and self.n_prompts < 1:
            raise UserError(f"--n-prompts must be >= 1, got {self.n_prompts}")
