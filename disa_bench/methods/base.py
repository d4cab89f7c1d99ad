"""The method contract.

A method receives a :class:`Batch` of padded per-token tensors and returns ``(loss, metrics)``. It declares
which inputs it needs (``needs``) so the engine computes only those. It knows nothing about batching,
rollouts, optimizers or LoRA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..registry import Registry

METHODS: Registry = Registry("method")


@dataclass
class Batch:
    logp: Any  # (B, T) policy token log-probs, with grad
    mask: Any  # (B, T) 1 on completion tokens
    reward: Any  # (B,)
    group: Any  # (B,) prompt index: samples of one prompt share it
    old_logp: Any = None  # (B, T) behaviour / pi_old token log-probs (no grad)
    ref_logp: Any = None  # (B, T) pi_ref token log-probs (no grad)
    log_z: Any = None  # (B,) frozen anchor log Z (DISA)
    prompt_hidden: Any = None  # (B, d) mean-pooled policy hidden states over the prompt (FlowRL head)
    extra: dict = field(default_factory=dict)


class Method:
    """Base class: subclasses set ``name``, ``Config`` and ``needs`` and implement ``loss``."""

    name: ClassVar[str]
    Config: ClassVar[type]
    needs: ClassVar[frozenset] = frozenset()  # subset of {"old", "ref", "anchor", "hidden"}
    supports_offline: ClassVar[bool] = True
    uses_rollouts: ClassVar[bool] = True  # False for SFT (trains on store trajectories only)

    def __init__(self, cfg=None):
        self.cfg = cfg if cfg is not None else self.Config()

    def parameters(self) -> list:
        """Trainable parameters the method owns besides the policy (e.g. FlowRL's log Z head)."""
        return []

    def setup(self, policy, hidden_size: int) -> None:
        """Called once by the engine before training (e.g. to build a head of the right width)."""

    def loss(self, batch: Batch):
        raise NotImplementedError


def get_method(name: str) -> type[Method]:
    from . import disa  # noqa: F401

    _import_optional()
    return METHODS.get(name)


def method_names() -> list[str]:
    from . import disa  # noqa: F401

    _import_optional()
    return METHODS.names()


def _import_optional() -> None:
    import importlib

    for mod in ("flowrl", "grpo", "gspo", "sft"):
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{mod}":
                raise


def seq_sum(x, mask):
    return (x * mask).sum(-1)


def is_weight(logp, old_logp, mask, w_max: float | None, w_min: float | None = None):
    """Detached sequence-level IS weight clamp(exp(sum_t log pi_theta - log pi_old), w_min, w_max)."""
    import torch

    log_w = seq_sum(logp.detach() - old_logp, mask).clamp(-20, 20)
    raw = torch.exp(log_w)
    w = raw.clamp(min=w_min, max=w_max) if (w_min is not None or w_max is not None) else raw
    clipped = (w != raw).float().mean()
    return w, raw, clipped
