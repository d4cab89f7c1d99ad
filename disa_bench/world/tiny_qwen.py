"""A real-architecture tiny model for tests: Qwen2, a byte-level BPE tokenizer trained here, a ChatML template.

``tiny:qwen2`` is a randomly initialised ``Qwen2ForCausalLM`` (2 layers, width 64, grouped-query attention with
4 query / 2 KV heads, tied embeddings; ~0.3M parameters) with a byte-level BPE tokenizer trained here with
``tokenizers`` on a few thousand lines of the RL training sets (MATH train problems and solutions, GSM8K train
questions and solutions, MBPP train texts, programs and asserts; vocabulary 3,072). The tokenizer follows
Qwen2's own pipeline (NFC, Qwen2's pre-tokenizer regex, byte-level; ``transformers`` loads it as
``Qwen2Tokenizer`` and encodes exactly as the trained ``tokenizers`` object does), with the Qwen special tokens
``<|endoftext|>`` (EOS and pad, as in Qwen2.5-Math base models), ``<|im_start|>`` and ``<|im_end|>`` and a
ChatML chat template. The model's generation config lists only ``<|endoftext|>``, so stopping at ``<|im_end|>``
is the sampler's own end-of-turn rule (rollout/tokens.py), as with Qwen2.5-Math-1.5B.

``tiny:qwen2-chat`` is the same model after 60 steps of chat-format SFT on math-train prompts answered
``The answer is \\boxed{A}.<|im_end|>``, so it ends its turns after a short answer (which is mostly wrong: it
exists to exercise stopping, not to score).

Both are saved as standard Hugging Face model directories (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, chat_template.jinja, generation_config.json), built on demand (seconds; no download)
under ``$DISA_BENCH_HOME/tiny/<name>-<recipe hash>`` and reused while the recipe is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from ..io import atomic_dir
from ..models import home

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen2's pre-tokenizer split (transformers' Qwen2Tokenizer rebuilds its pipeline with it, so training with the
# same one keeps the saved tokenizer and the loaded one identical)
QWEN2_SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
               r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
CHAT_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                 "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                 "{% endif %}")

BASE = dict(vocab=3072, hidden=64, intermediate=256, layers=2, heads=4, kv_heads=2, max_positions=4096, seed=0,
            text=dict(math=1200, gsm8k=600, mbpp="all"), text_seed=0)
RECIPES = {"qwen2": BASE, "qwen2-chat": BASE | {"sft": dict(steps=60, batch=8, lr=3e-3, seed=1, max_tokens=200)}}


def recipe_hash(name: str) -> str:
    return hashlib.sha256(json.dumps(RECIPES[name], sort_keys=True).encode()).hexdigest()[:12]


def ensure_tiny(name: str) -> Path:
    """The model dir of ``tiny:NAME`` (built on first use)."""
    from ..errors import UserError

    if name not in RECIPES:
        raise UserError(f"unknown tiny model {name!r}; valid: {', '.join(RECIPES)}")
    d = home() / "tiny" / f"{name}-{recipe_hash(name)}"
    info = d / "recipe.json"
    if info.exists() and (d / "model.safetensors").exists() and json.loads(info.read_text()).get("hash") == recipe_hash(name):
        return d
    with atomic_dir(d) as tmp:
        build(name, tmp)
    return d


def training_text(r: dict) -> list[str]:
    """Lines of the RL training sets for the tokenizer (seeded samples; the local copies or the HF datasets)."""
    from ..tasks.data import load_rows
    from ..tasks.train_sets import GSM8K_TRAIN, MATH_TRAIN, MBPP_SPLITS

    rng = random.Random(r["text_seed"])
    lines: list[str] = []
    for key, spec, fields in (("math", MATH_TRAIN, ("problem", "solution")),
                              ("gsm8k", GSM8K_TRAIN, ("question", "solution", "answer"))):
        rows = [row for _, row in load_rows(key, None, "train", spec.file, spec.hf_split, spec.hf_id, spec.hf_config).rows]
        for row in rng.sample(rows, min(r["text"][key], len(rows))):
            lines += [row[f] for f in fields if isinstance(row.get(f), str)]
    lo, hi = MBPP_SPLITS["train"]
    rows = load_rows("mbpp", None, "train", "mbpp.jsonl", "train", "google-research-datasets/mbpp", "full").rows
    for _, row in rows:
        if lo <= row.get("task_id", 0) <= hi:
            lines += [row["text"], row["code"], *row["test_list"]]
    return lines + ["system", "user", "assistant"]


def build_tokenizer(r: dict):
    """Train the byte-level BPE (Qwen2 pipeline) and wrap it as a transformers tokenizer with the chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=r["vocab"], special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_text(r), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIALS[1:])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build(name: str, out: Path) -> None:
    """Write ``tiny:NAME`` into ``out``: train the tokenizer and initialise the model, or (a recipe with ``sft``)
    start from the built ``tiny:qwen2`` (its tokenizer files copied unchanged) and fine-tune it."""
    import shutil
    import time

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    r = RECIPES[name]
    t0 = time.time()
    if "sft" in r:
        base = ensure_tiny("qwen2")
        tok = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        sft(model, tok, r)
        for f in base.iterdir():
            if f.is_file() and f.name not in ("model.safetensors", "recipe.json"):
                shutil.copy2(f, out / f.name)
    else:
        tok = build_tokenizer(r)
        eos = tok.convert_tokens_to_ids("<|endoftext|>")
        cfg = Qwen2Config(vocab_size=len(tok), hidden_size=r["hidden"], intermediate_size=r["intermediate"],
                          num_hidden_layers=r["layers"], num_attention_heads=r["heads"],
                          num_key_value_heads=r["kv_heads"], max_position_embeddings=r["max_positions"],
                          tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos, pad_token_id=eos)
        torch.manual_seed(r["seed"])
        model = Qwen2ForCausalLM(cfg)
        tok.save_pretrained(out)
    model.eval()
    model.save_pretrained(out)
    (out / "recipe.json").write_text(json.dumps({"name": name, "hash": recipe_hash(name), "recipe": r,
                                                 "build_seconds": round(time.time() - t0, 1)}, indent=2) + "\n")


def sft_examples(tok):
    """A function ``draw(rng) -> (chat prompt, answer)``: a math-train problem in the chat template, answered
    ``The answer is \\boxed{A}.<|im_end|>``."""
    from ..tasks import get_task

    t = get_task("math-train")
    items = t.items()

    def draw(rng: random.Random) -> tuple[str, str]:
        it = rng.choice(items)
        prompt = tok.apply_chat_template(t.messages(t.system, it.text), tokenize=False, add_generation_prompt=True)
        return prompt, f"The answer is \\boxed{{{it.answer}}}.<|im_end|>"

    return draw


def sft(model, tok, r: dict) -> None:
    """Chat-format SFT on short answers ending in ``<|im_end|>`` (loss on the answer tokens only; examples
    longer than ``max_tokens`` are skipped)."""
    import torch

    s = r["sft"]
    rng = random.Random(s["seed"])
    draw = sft_examples(tok)
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"])
    model.train()
    for _ in range(s["steps"]):
        seqs, labels = [], []
        while len(seqs) < s["batch"]:
            prompt, answer = draw(rng)
            p = tok(prompt, add_special_tokens=False)["input_ids"]
            a = tok(answer, add_special_tokens=False)["input_ids"]
            if len(p) + len(a) > s["max_tokens"]:  # keep batches short: skip the longest examples
                continue
            seqs.append(p + a)
            labels.append([-100] * len(p) + a)
        width = max(map(len, seqs))
        pad = tok.pad_token_id
        inp = torch.tensor([x + [pad] * (width - len(x)) for x in seqs])
        lab = torch.tensor([x + [-100] * (width - len(x)) for x in labels])
        attn = (torch.arange(width)[None, :] < torch.tensor([len(x) for x in seqs])[:, None]).long()
        loss = model(input_ids=inp, attention_mask=attn, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
