"""Tiny models for the enumerable worlds (``tasks/enum_world.py``): a letter-level tokenizer and a small GPT-2,
randomly initialised (a reference policy) or briefly SFT'd on every correct response (a stronger proposal).
Written as ordinary HF dirs, usable as ``--ref/--proposal/--model PATH``."""

from __future__ import annotations

from pathlib import Path

from ..tasks.enum_world import EOS, EnumWorld


def build_enum_tokenizer(world: EnumWorld):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=world.vocab(), unk_token=EOS))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=EOS, eos_token=EOS, unk_token=EOS)


def build_enum_model(world: EnumWorld | str, out: str | Path, seed: int = 0, hidden: int = 32, layers: int = 2,
                     heads: int = 2, init_std: float = 0.1, sft_steps: int = 0, lr: float = 1e-2) -> Path:
    """Write a tiny GPT-2 for ``world`` as an HF dir (seconds on a CPU).

    ``sft_steps = 0``: random init; a larger-than-usual ``init_std`` makes the next-token distributions
    prompt-dependent, so the pass rate and log Z vary across prompts (a reference policy).
    ``sft_steps > 0``: then that many full-batch Adam steps of SFT on every correct response of every
    prompt (a stronger proposal). Softmax keeps every response's probability > 0 either way (full support)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    if isinstance(world, str):
        from ..tasks import get_task

        world = get_task(world)
    V = len(world.vocab())
    # GPT-2 (learned absolute positions), not Llama: with RoPE and no absolute positions, a run of identical
    # tokens ("bbb" + response "b") gives identical hidden states at every position, so the model cannot
    # tell "after prompt bbb" from "after response b" and pi* is not representable.
    cfg = GPT2Config(vocab_size=V, n_embd=hidden, n_layer=layers, n_head=heads, n_inner=4 * hidden,
                     n_positions=world.prompt_len + world.max_new_tokens + 4, initializer_range=init_std,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, pad_token_id=0, eos_token_id=0, bos_token_id=0,
                     tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(cfg)
    if sft_steps:
        from ..rollout.scoring import token_logprobs

        v = world.vocab()
        pairs = []
        for p in world.problems("all"):
            for (ids, trunc), r in zip(world.responses(), world.rewards(p)):
                if r > 0:
                    pairs.append(([v[c] for c in p.prompt], ids))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(sft_steps):
            lp, mask = token_logprobs(model, [a for a, _ in pairs], [b for _, b in pairs], 1.0, pad_id=0)
            loss = -(lp * mask).sum() / mask.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    build_enum_tokenizer(world).save_pretrained(out)
    return out
