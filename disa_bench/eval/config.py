"""The eval config: Mean@k sampling settings (methods.md §1.11) and which tasks, model and engine."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UserError

ENGINES = ("ours", "lm-eval")


@dataclass
class EvalConfig:
    task: str = "countdown"
    tasks: str | None = None  # comma list of tasks and groups (math6, code3); overrides ``task``
    engine: str = "ours"  # ours or lm-eval
    model: str = "embedded:base"
    adapter: str | None = None
    k: int = 8
    temperature: float = 0.6  # methods.md §1.11 / §6 #12 (FlowRL eval settings)
    top_p: float = 0.95
    max_new_tokens: int | None = None  # task default
    n_prompts: int | None = 256  # None: every prompt of the split
    split: str = "test"
    seed: int = 0
    batch_size: int = 64  # prompts per generate call (x k sequences)
    backend: str = "hf"  # rollout backend of engine "ours": hf or vllm
    template: str = "auto"  # prompt template (tasks/prompts.py): auto = the model's chat template if it has one

    def check(self) -> None:
        from ..rollout import check_backend

        if self.k < 1:
            raise UserError(f"--k must be >= 1, got {self.k}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise UserError(f"--temperature must be a finite number > 0, got {self.temperature}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(f"--max-new-tokens must be >= 1 (leave it out for the task's default), got {self.max_new_tokens}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be within (0, 1], got {self.top_p}")
        if self.engine not in ENGINES:
            raise UserError(f"unknown --engine {self.engine!r}; valid: {', '.join(ENGINES)}")
        if self.n_prompts is not None and self.n_prompts < 1:
            raise UserError(f"--n-prompts must be >= 1, got {self.n_prompts}")
        if self.engine == "ours":
            check_backend(self.backend)  # unknown name or vllm not installed: one line, before any work

    def task_list(self) -> list[str]:
        from ..tasks.groups import expand_tasks

        return expand_tasks(self.tasks or self.task)
