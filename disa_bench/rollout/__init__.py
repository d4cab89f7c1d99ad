"""Rollout backends (sampling with per-token log-probs) and the teacher-forced scorer."""

from .base import BACKENDS, RolloutBackend, get_backend
from .scoring import sequence_logprobs, token_logprobs

__all__ = ["BACKENDS", "RolloutBackend", "get_backend", "sequence_logprobs", "token_logprobs"]
