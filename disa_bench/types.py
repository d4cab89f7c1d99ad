"""The small contract between tasks, rollout backends, the store, methods and evaluation.

Everything that crosses a stage boundary is one of these plain dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One prompt of a task. ``prompt`` is the exact text the model sees (already templated)."""

    prompt_id: str
    task: str
    prompt: str
    answer: Any = None  # reference answer / target, task-specific
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Grade:
    """A grader's verdict. ``reward`` is both the RL reward and the eval score of one sample."""

    reward: float
    answer: str | None = None  # the extracted final answer (for distinct-answer counts, maj@k)
    strategy: str | None = None  # canonical strategy key (exact on the embedded task)
    verdict: str = "ok"  # ok / wrong / parse_error / timeout / error ...
    detail: str = ""


@dataclass
class Completion:
    """One sampled completion with the per-token log-probs of the distribution it was drawn from."""

    text: str
    token_ids: list[int]
    logprobs: list[float]  # per token, of the *sampling* distribution (after temperature / top_p)
    truncated: bool  # hit max_new_tokens without EOS

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class SamplingParams:
    n: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 32
    seed: int = 0
