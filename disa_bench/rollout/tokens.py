"""Prompt text -> token ids, and the tokens that end a completion: one rule for every backend and scorer.

* :func:`prompt_ids`: the prompt's ids with the tokenizer's special tokens added (a BOS, for tokenizers that
  add one), except when the text already starts with the BOS token (a chat template that writes it itself),
  so a chat-rendered prompt never gets two. The prompt text itself comes from the task
  (``disa_bench.tasks.prompts``).
* :func:`stop_ids`: sampling stops at any of: the tokenizer's EOS, the model's ``generation_config``
  ``eos_token_id`` (an id or a list: chat models list their end-of-turn token there), and ``<|im_end|>`` when
  the tokenizer has it as a single special (added) token (ChatML end of turn, also for base models such as
  Qwen2.5-Math whose EOS is ``<|endoftext|>``). The stop token is kept as the last id of the completion (its
  log-prob is part of the sampled sequence, so teacher-forced scoring of a stored completion reproduces the
  sampler's log-probs) and left out of the decoded text.
"""

from __future__ import annotations

END_OF_TURN = ("<|im_end|>",)


def prompt_ids(tokenizer, text: str) -> list[int]:
    bos = getattr(tokenizer, "bos_token", None)
    add = not (bos and text.startswith(bos))
    return list(tokenizer(text, add_special_tokens=add)["input_ids"])


def stop_ids(tokenizer, model=None) -> list[int]:
    """The ids that end a completion (see the module docstring), EOS first; never empty when the tokenizer has
    an EOS."""
    out: list[int] = []

    def add(i):
        if isinstance(i, int) and i >= 0 and i not in out:
            out.append(i)

    add(getattr(tokenizer, "eos_token_id", None))
    gen = getattr(_base(model), "generation_config", None) if model is not None else None
    ids = getattr(gen, "eos_token_id", None)
    for i in (ids if isinstance(ids, (list, tuple)) else [ids]):
        add(i)
    special = set(getattr(tokenizer, "all_special_tokens", []) or [])
    added = tokenizer.get_added_vocab() if hasattr(tokenizer, "get_added_vocab") else {}
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    for t in END_OF_TURN:
        if t in vocab and (t in special or t in added):
            add(vocab[t])
    return out


def _base(model):
    for attr in ("module", "get_base_model"):  # DDP wrapper, peft wrapper
        if hasattr(model, attr):
            model = getattr(model, attr)
            model = model() if callable(model) and attr == "get_base_model" else model
    return model
