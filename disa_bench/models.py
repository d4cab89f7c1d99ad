"""Load any Hugging Face causal LM by id or local path; attach/save peft LoRA adapters; the embedded tiny models.

The embedded models are ordinary HF model directories (Llama config, a character-level ``tokenizers``
tokenizer) named ``embedded:base`` (the weak reference policy pi_ref) and ``embedded:teacher`` (a stronger
proposal). Every command that takes a model accepts those names, an HF id, or a local path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_NAMES = ("base", "teacher")

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]
CHARS = list("0123456789+-*()=:. ") + sorted(set("Usetomak")) + ["\n"]


def home() -> Path:
    return Path(os.environ.get("DISA_BENCH_HOME", Path.home() / ".cache" / "disa-bench"))


def build_tokenizer():
    """A character-level WordLevel tokenizer; decode is the exact inverse of encode."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + CHARS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )


def tiny_llama_config(vocab_size: int, hidden: int = 128, layers: int = 4, heads: int = 4):
    """Llama, not Qwen2: with model_type qwen2, AutoTokenizer swaps in a byte-level tokenizer that drops spaces."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=128,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )


def resolve(name_or_path: str) -> str:
    """Map ``embedded:NAME`` to its built directory (building it if needed); check local paths exist."""
    if name_or_path.startswith(EMBEDDED_PREFIX):
        from .embedded import ensure_embedded

        return str(ensure_embedded(name_or_path[len(EMBEDDED_PREFIX):]))
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
