"""The rollout-backend contract: n completions per prompt with per-token log-probs; nothing about methods."""

from __future__ import annotations

from typing import Protocol

from ..registry import Registry
from ..types import Completion, SamplingParams


class RolloutBackend(Protocol):
    def generate(self, prompts: list[str], params: SamplingParams, progress=None) -> list[list[Completion]]:
        """Return, for each prompt, ``params.n`` completions (text, token ids, sampling log-probs, truncated)."""
        ...


BACKENDS: Registry = Registry("rollout backend")
