"""Build the embedded tiny models: SFT from scratch on solver-generated, deliberately varied solutions.

Two strengths come from one SFT run of one Llama-config model: the checkpoint after ``CHECKPOINTS["base"]``
steps is ``base`` (weak; the reference policy pi_ref, Mean@8 in the 40-70% band so RL has room) and the one
after ``CHECKPOINTS["teacher"]`` steps is ``teacher`` (stronger; a proposal model). Each training example picks one solution uniformly among *all* distinct
solution strings of the problem, so the models spread mass over many valid expressions.

The built models ship inside the package (``disa_bench/assets/embedded``) with the recipe that made them;
``ensure_embedded`` uses the shipped copy when its recipe hash matches, otherwise trains into
``$DISA_BENCH_HOME`` (``disa-bench base --retrain`` forces that).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import time
from pathlib import Path

from ..io import atomic_dir
from ..models import home

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]
CHARS = list("0123456789+-*()=:. ") + sorted(set("Usetomak")) + ["\n"]


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


ASSETS = Path(__file__).resolve().parent.parent / "assets" / "embedded"

RUN_STEPS = 4000  # cosine schedule length of the one SFT run
RECIPE = dict(split="sft", batch=128, lr=2e-3, min_lr_frac=0.05, warmup=100, run_steps=RUN_STEPS, seed=1, hidden=128, layers=4,
              heads=4, task="countdown")
CHECKPOINTS = {"base": 1500, "teacher": RUN_STEPS}  # SFT steps of the one run (chosen with scripts/build_embedded.py)
RECIPES = {name: RECIPE | {"steps": steps} for name, steps in CHECKPOINTS.items()}


def recipe_of(name: str, seed: int | None = None) -> dict:
    """The recipe of embedded model ``name``; ``seed`` makes a variant (its own hash and cache dir)."""
    return RECIPES[name] if seed is None else RECIPES[name] | {"seed": seed}


def recipe_hash(name: str, seed: int | None = None) -> str:
    return hashlib.sha256(json.dumps(recipe_of(name, seed), sort_keys=True).encode()).hexdigest()[:12]


def _is_built(d: Path, name: str, seed: int | None = None) -> bool:
    f = d / "recipe.json"
    return (f.exists() and json.loads(f.read_text()).get("hash") == recipe_hash(name, seed)
            and (d / "model.safetensors").exists())


def ensure_embedded(name: str, retrain: bool = False, progress=None, seed: int | None = None) -> Path:
    """The model dir of ``embedded:NAME``: the shipped copy, a cached build, or a fresh build (``retrain``)."""
    from ..errors import UserError

    if name not in RECIPES:
        raise UserError(f"unknown embedded model {name!r}; valid: {', '.join(RECIPES)}")
    shipped = ASSETS / name
    if not retrain and _is_built(shipped, name, seed):
        return shipped
    cached = home() / "embedded" / f"{name}-{recipe_hash(name, seed)}"
    if not retrain and _is_built(cached, name, seed):
        return cached
    # one run makes every checkpoint up to this one; save each on the way
    stops = {n: s for n, s in CHECKPOINTS.items() if s <= CHECKPOINTS[name]}
    with contextlib.ExitStack() as stack:
        dirs = {n: stack.enter_context(atomic_dir(home() / "embedded" / f"{n}-{recipe_hash(n, seed)}")) for n in stops}
        train_embedded(CHECKPOINTS[name], {s: (n, dirs[n]) for n, s in stops.items()}, progress=progress, seed=seed)
    return cached


def sft_examples(task, rng: random.Random, n: int):
    """``n`` (prompt, completion) pairs: a random ``sft``-split problem and a uniformly random solution string
    (the RL ``train`` split and the ``test`` split stay unseen)."""
    from ..tasks.countdown import solutions

    out = []
    for p in task.problems("sft", n, seed=rng.randrange(2**31)):
        sols = solutions(tuple(sorted(p.meta["numbers"])), int(p.answer))
        out.append((p.prompt, f" {rng.choice(sols)}={p.answer}"))
    return out


def train_embedded(steps: int, saves: dict[int, tuple[str, Path]], progress=None, every: int = 0,
                   every_dir: Path | None = None, log=print, device: str | None = None, seed: int | None = None) -> None:
    """SFT for ``steps`` steps; ``saves`` maps a step to (name, dir) to save there (``every`` adds extra saves)."""
    import torch
    from transformers import LlamaForCausalLM

    from ..tasks import get_task

    r = RECIPE if seed is None else RECIPE | {"seed": seed}
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(r["seed"])
    rng = random.Random(r["seed"])
    tok = build_tokenizer()
    model = LlamaForCausalLM(tiny_llama_config(len(tok), r["hidden"], r["layers"], r["heads"])).to(device)
    task = get_task(r["task"])
    opt = torch.optim.AdamW(model.parameters(), lr=r["lr"], weight_decay=0.01)
    def lr_factor(s):  # linear warmup, then cosine decay to min_lr_frac at run_steps
        if s < r["warmup"]:
            return (s + 1) / r["warmup"]
        frac = min(1.0, (s - r["warmup"]) / max(1, r["run_steps"] - r["warmup"]))
        return r["min_lr_frac"] + (1 - r["min_lr_frac"]) * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    eos = tok.eos_token_id
    t0 = time.time()
    model.train()
    for step in range(steps):
        batch = sft_examples(task, rng, r["batch"])
        seqs, labels = [], []
        for prompt, comp in batch:
            p = tok(prompt)["input_ids"]
            c = tok(comp)["input_ids"] + [eos]
            seqs.append(p + c)
            labels.append([-100] * len(p) + c)
        width = max(map(len, seqs))
        inp = torch.tensor([s + [0] * (width - len(s)) for s in seqs], device=device)
        lab = torch.tensor([l + [-100] * (width - len(l)) for l in labels], device=device)
        attn = (torch.arange(width)[None, :] < torch.tensor([len(s) for s in seqs])[:, None]).long().to(device)
        loss = model(input_ids=inp, attention_mask=attn, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if progress is not None:
            progress(1)
        if (step + 1) in saves:
            name, d = saves[step + 1]
            _save(model, tok, d, name, time.time() - t0, device, seed)
        if every and (step + 1) % every == 0:
            log(f"step {step + 1} loss {loss.item():.3f} {time.time() - t0:.0f}s")
            _save(model, tok, every_dir / f"step{step + 1}", None, time.time() - t0, device, seed)


def _save(model, tok, d: Path, name: str | None, seconds: float, device: str, seed: int | None = None) -> None:
    d.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(d)
    tok.save_pretrained(d)
    if name is not None:
        info = {"name": name, "hash": recipe_hash(name, seed), "recipe": recipe_of(name, seed), "train_seconds": round(seconds, 1),
                "device": device}
        (d / "recipe.json").write_text(json.dumps(info, indent=2) + "\n")
