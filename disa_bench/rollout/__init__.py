"""Rollout backends (sampling with per-token log-probs) and the teacher-forced scorer."""

from .backends import backend_names, check_backend, close_backend, get_backend, open_backend
from .base import BACKENDS, RolloutBackend
from .scoring import sequence_logprobs, token_logprobs

__all__ = ["BACKENDS", "RolloutBackend", "backend_names", "check_backend", "close_backend", "get_backend",
           "open_backend", "sequence_logprobs", "token_logprobs"]
