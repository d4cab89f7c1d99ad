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


# What transformers / peft raise for files that are not a loadable model or adapter (a missing or garbage
# config.json, a wrong-typed field, weights of another shape): a user's file, so one error line, no traceback.
LOAD_ERRORS: tuple = (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError)
try:  # transformers >= 5 validates config fields through huggingface_hub's strict dataclasses
    from huggingface_hub.errors import StrictDataclassError

    LOAD_ERRORS += (StrictDataclassError,)
except ImportError:  # pragma: no cover - older huggingface_hub
    pass


def _first_line(e: Exception, prefer: str | None = None) -> str:
    """``Type: first line`` of an exception's message, or its first line containing ``prefer``."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    pick = next((x for x in lines if prefer and prefer in x), lines[0] if lines else "")
    return f"{type(e).__name__}: {pick}" if pick else type(e).__name__


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    _quiet_transformers()
    path = resolve(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except LOAD_ERRORS as e:
        raise UserError(f"cannot load tokenizer from {name_or_path!r}: {_first_line(e)}") from None
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
    except LOAD_ERRORS as e:
        raise UserError(f"cannot load model from {name_or_path!r}: {_first_line(e)}") from None
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

    read_adapter_config(adapter)
    try:
        return PeftModel.from_pretrained(model, adapter)
    except LOAD_ERRORS as e:  # e.g. "size mismatch": an adapter of another model's shape
        raise UserError(f"adapter {adapter!r} does not load onto this model ({_first_line(e, 'size mismatch')}); was it trained on "
                        "another model?") from None


def read_adapter_config(adapter: str) -> dict:
    """``adapter_config.json`` of a peft adapter dir as a dict; a missing, unreadable or garbage file is one
    UserError naming it."""
    import json

    d = Path(adapter)
    if not d.is_dir():
        raise UserError(f"adapter dir {adapter!r} does not exist (expected a peft adapter saved by 'disa-bench train')")
    f = d / "adapter_config.json"
    if not f.is_file():
        raise UserError(f"adapter dir {adapter!r} has no adapter_config.json (expected a peft adapter saved by 'disa-bench train')")
    try:
        cfg = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{f}: not a readable JSON adapter config ({_first_line(e)})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("peft_type"), str):
        raise UserError(f"{f}: not a peft adapter config (expected a JSON object with 'peft_type')")
    return cfg


def adapter_base(adapter: str) -> str | None:
    """The model an adapter was trained on: ``config.model`` of the train manifest beside it (``OUT/adapter`` ->
    ``OUT/manifest.json``), else peft's ``base_model_name_or_path``; None when neither records it."""
    import json

    cfg = read_adapter_config(adapter)
    man = Path(adapter).parent / "manifest.json"
    try:
        m = json.loads(man.read_text())
        if m.get("command") == "train" and isinstance(m.get("config", {}).get("model"), str):
            return m["config"]["model"]
    except (OSError, ValueError, AttributeError):
        pass
    base = cfg.get("base_model_name_or_path")
    return base if isinstance(base, str) and base else None


def model_identity(name_or_path: str) -> str:
    """What makes two model references the same model: an embedded model's name and recipe hash (so the same
    model in another checkout matches), else the real path of a local dir, else the reference as given (an HF
    id, or a path that does not exist here)."""
    import json

    try:
        path = Path(resolve(name_or_path))
    except UserError:
        return name_or_path
    recipe = path / "recipe.json"
    if recipe.is_file():
        try:
            r = json.loads(recipe.read_text())
            return f"embedded:{r['name']}@{r['hash']}"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return str(path.resolve()) if path.exists() else name_or_path


def check_adapter(adapter: str, model: str, force: bool = False, warn=None) -> None:
    """Before any work: the adapter dir holds a readable peft config, and the model it was trained on is
    ``model``. A different recorded base model is an error, or with ``force`` a warning (``warn(line)``)."""
    read_adapter_config(adapter)
    base = adapter_base(adapter)
    if base is None or model_identity(base) == model_identity(model):
        return
    msg = f"adapter {adapter!r} was trained on {base!r}, not on --model {model!r}"
    if not force:
        raise UserError(f"{msg}; pass the same --model, or --force to load it anyway")
    if warn:
        warn(f"warning: {msg}; loading it anyway (--force)")


def add_lora(model, r: int = 32, alpha: int = 64, dropout: float = 0.05, target_modules="all-linear"):
    """Wrap ``model`` with a fresh LoRA adapter (same config for every method; methods.md §6 #10)."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)
