"""Load any Hugging Face causal LM by id or local path; attach/save peft LoRA adapters.

Every command that takes a model accepts an HF id, a local path, or a name with a registered prefix:
``embedded:base`` / ``embedded:teacher`` are the project's tiny models, whose resolver ``disa_bench.world``
registers (``register_prefix``) when the package is imported. This module knows nothing about how they are built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import UserError

_PREFIXES: dict[str, Callable[[str], Path]] = {}


def register_prefix(prefix: str, resolver: Callable[[str], Path]) -> None:
    """Make ``PREFIX:NAME`` a model name: ``resolver(NAME)`` returns its (built) model directory."""
    _PREFIXES[prefix] = resolver


def home() -> Path:
    return Path(os.environ.get("DISA_BENCH_HOME", Path.home() / ".cache" / "disa-bench"))


def resolve(name_or_path: str) -> str:
    """Map ``PREFIX:NAME`` (e.g. ``embedded:base``) to its built directory (building it if needed); check local
    paths exist."""
    prefix, sep, rest = name_or_path.partition(":")
    if sep and prefix in _PREFIXES:
        return str(_PREFIXES[prefix](rest))
    p = Path(name_or_path).expanduser()
    # HF ids are "name" or "org/name"; anything else that does not exist is a missing local path
    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if p.exists():
        return str(p)
    if looks_local:
        raise UserError(f"model path {name_or_path!r} does not exist (expected a local model dir, an HF id, or embedded:base|teacher)")
    return name_or_path  # an HF hub id


@dataclass
class Loaded:
    model: object
    tokenizer: object
    path: str
    adapter: str | None = None


def _quiet_transformers() -> None:
    import warnings

    from transformers.utils import logging as hf_logging

    # peft 0.21 calls a transformers attribute deprecated in 5.x; harmless, and noisy on every run
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    _quiet_transformers()
    path = resolve(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load tokenizer from {name_or_path!r}: {str(e).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(name_or_path: str, adapter: str | None = None, dtype: str = "float32", device: str | None = None,
               merge: bool = True) -> Loaded:
    """Load a causal LM (optionally with a peft adapter on top), in eval mode.

    With ``merge`` (default) the adapter is folded into the weights (``merge_and_unload``): the same function up
    to float rounding, and sampling no longer pays for the separate low-rank matmuls in every layer. Pass
    ``merge=False`` to keep a ``PeftModel`` (e.g. to toggle the adapter off)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve(name_or_path)
    tok = load_tokenizer(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model from {name_or_path!r}: {str(e).splitlines()[0]}") from None
    if adapter:
        model = attach_adapter(model, adapter)
        if merge:
            model = model.merge_and_unload()
    if device:
        model.to(device)
    model.eval()
    return Loaded(model, tok, path, adapter)


def attach_adapter(model, adapter: str):
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").exists():
        raise UserError(f"adapter dir {adapter!r} has no adapter_config.json (expected a peft adapter saved by 'disa-bench train')")
    return PeftModel.from_pretrained(model, adapter)


def add_lora(model, r: int = 32, alpha: int = 64, dropout: float = 0.05, target_modules="all-linear"):
    """Wrap ``model`` with a fresh LoRA adapter (same config for every method; methods.md §6 #10)."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)
