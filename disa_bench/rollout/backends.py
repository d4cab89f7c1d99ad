"""Backend lookup by name: every backend module registers itself in ``BACKENDS`` (base.py) when imported here."""

from __future__ import annotations

from pathlib import Path

from .base import BACKENDS, RolloutBackend

_PATH = [str(Path(__file__).parent)]


def _register_all() -> None:
    """Import every module of this package, so each backend module (hf.py, vllm_backend.py — which imports vllm
    only when used — or a new one) registers itself."""
    from ..registry import discover

    discover(__package__, _PATH, "rollout backend")


def backend_names() -> list[str]:
    _register_all()
    return BACKENDS.names()


def check_backend(name: str) -> None:
    """Validate ``--backend NAME`` before any work: unknown names list the valid ones; a backend whose
    package is missing (vllm) says how to install it. Imports no heavy package."""
    _register_all()
    BACKENDS.get(name)
    if name == "vllm":
        from .vllm_backend import check_available

        check_available()


def get_backend(name: str, model, tokenizer, **kwargs) -> RolloutBackend:
    """A backend around an in-memory HF model (``hf``)."""
    _register_all()
    return BACKENDS.get(name)(model, tokenizer, **kwargs)


def open_backend(name: str, model_ref: str, adapter: str | None = None, batch_size: int = 64, **kwargs) -> RolloutBackend:
    """A backend opened on a model reference (HF id, local dir or ``embedded:NAME``), optionally with a peft
    LoRA adapter. Backends with an ``open`` classmethod (vllm) load the model themselves; the others are built
    around ``disa_bench.models.load_model(model_ref, adapter=adapter)``."""
    _register_all()
    cls = BACKENDS.get(name)
    opener = getattr(cls, "open", None)
    if opener is not None:
        return opener(model_ref, adapter=adapter, batch_size=batch_size, **kwargs)
    from ..models import load_model

    loaded = load_model(model_ref, adapter=adapter)
    return cls(loaded.model, loaded.tokenizer, batch_size=batch_size, **kwargs)


def close_backend(backend) -> None:
    """Release what a backend holds (a vLLM engine); in-memory HF backends have nothing to close."""
    if hasattr(backend, "close"):
        backend.close()
