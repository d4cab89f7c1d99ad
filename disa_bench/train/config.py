"""The training config shared by every method (the fair-comparison budget) and its checks.

Method options live in ``method_args`` and are resolved by ``disa_bench.methods.method_config``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UserError


@dataclass
class TrainConfig:
    method: str = "disa"
    task: str = "countdown"
    model: str = "embedded:base"  # pi_ref = the initial policy
    store: str | None = None  # trajectory store (defines the training prompts; offline data)
    anchor: str | None = None  # anchor.parquet, for a method whose needs include "anchor" (DISA)
    data: str = "online"  # "online" | "offline"
    steps: int = 100
    prompts_per_step: int = 16
    n: int = 8  # rollouts per prompt (methods.md §6 #8)
    mini_batches: int | None = None  # optimizer steps per rollout batch; None = the method's default_mini_batches
    temperature: float = 1.0  # rollout temperature (methods.md §1.8)
    top_p: float = 1.0
    max_new_tokens: int | None = None
    template: str = "auto"  # prompt format: auto = the model's chat template when it has one (tasks/prompts.py)
    lr: float = 5e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # verl default (methods.md §1.10)
    warmup_steps: int = 0
    full: bool = False  # full fine-tuning instead of LoRA
    lora_r: int = 32  # methods.md §6 #10
    lora_alpha: int = 64
    lora_dropout: float = 0.0
    seed: int = 0
    log_every: int = 1
    save_every: int | None = None  # steps between checkpoints (OUT/checkpoints); None = a tenth of the run; 0 = only at the end
    keep_checkpoints: int = 2  # newest checkpoints kept
    backend: str = "hf"  # online rollouts: hf (rollout/hf.py on the policy) or vllm (engine + per-step LoRA sync)
    method_args: dict = field(default_factory=dict)  # the method's Config fields (--method-arg key=value)

    def check(self) -> None:
        from ..methods import get_method

        if self.data not in ("online", "offline"):
            raise UserError(f"--data must be 'online' or 'offline', got {self.data!r}")
        method_cls = get_method(self.method)  # unknown name -> one error line listing the valid ones
        import math

        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise UserError(f"--temperature must be a finite number > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be within (0, 1], got {self.top_p}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(f"--max-new-tokens must be >= 1 (or unset for the task's default), got {self.max_new_tokens}")
        if self.data == "online" and method_cls.uses_rollouts:
            method_cls.check_sampling(self.temperature, self.top_p)  # DISA/FlowRL: temperature 1, top_p 1 only
        if self.mini_batches is None:
            self.mini_batches = int(method_cls.default_mini_batches)
        for name in ("steps", "prompts_per_step", "n", "mini_batches"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if (self.prompts_per_step * self.n) % self.mini_batches:
            raise UserError(f"--mini-batches {self.mini_batches} does not divide the rollout batch "
                            f"({self.prompts_per_step} prompts x {self.n} = {self.prompts_per_step * self.n} sequences)")
        if self.save_every is not None and self.save_every < 0:
            raise UserError(f"--save-every must be >= 0 (0: only at the end), got {self.save_every}")
        if self.keep_checkpoints < 1:
            raise UserError(f"--keep-checkpoints must be >= 1, got {self.keep_checkpoints}")
        if not self.lr > 0:
            raise UserError(f"--lr must be > 0, got {self.lr}")
        self.check_backend()

    def check_backend(self, world: int | None = None) -> None:
        import os

        from ..rollout import backend_names, check_backend

        if self.backend == "hf" or self.backend not in backend_names():
            return check_backend(self.backend)  # fine, or the unknown-name error listing the valid ones
        # config errors first (they hold whether or not the engine is installed), then the install check
        if self.full:
            raise UserError(f"--backend {self.backend} is not supported with --full: only a LoRA adapter is synced into "
                            f"the engine each step (full weights would need a reload); use --lora or --backend hf")
        world = world if world is not None else int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1:
            raise UserError(f"--backend {self.backend} is single-process only: every rank would start its own engine "
                            f"on the same device ({world} processes); use --backend hf for multi-process training")
        check_backend(self.backend)  # installed?
