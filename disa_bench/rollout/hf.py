"""HF (transformers) rollout backend: batched prompts x n samples, per-token log-probs of the sampling distribution."""

from __future__ import annotations

import contextlib

from ..types import Completion, SamplingParams
from .base import BACKENDS
from .scoring import model_accepts
from .tokens import prompt_ids as encode_prompt, stop_ids


@BACKENDS.register("hf")
class HFBackend:
    """Samples n completions per prompt from a transformers causal LM with its own KV-cached decode loop.

    Why not ``model.generate``: for small models its per-step bookkeeping (logits processors, stopping
    criteria, cache plumbing) costs as much as the forward pass. This loop does only what sampling needs
    (:func:`sample_tokens`): one prefill of the left-padded prompt batch, its KV cache repeated for the n
    samples, then one cached forward per new token, temperature, top-p (HF's TopPLogitsWarper rule: drop the
    lowest-probability tokens whose cumulative mass is <= 1 - top_p, always keeping the most likely one), a
    multinomial draw from a seeded ``torch.Generator`` (the global RNG is not touched), and a stop as soon as
    every row has emitted a stop token (EOS, or a chat model's end of turn such as ``<|im_end|>``:
    ``rollout/tokens.py``; the stop token ends the completion's ids and is left out of its text).
    Prompts are batched in order of token length, and no attention mask is built when the prompts of a
    batch have equal length. Tiny models on CPU decode with shared-prefix attention (prefix_attention.py: the
    n samples of a prompt read one copy of its KV cache instead of n).

    The returned per-token log-probs are ``log_softmax`` of the *processed* logits (after temperature and
    top-p), i.e. the log-probability under the distribution the token was actually drawn from.
    """

    def __init__(self, model, tokenizer, batch_size: int = 64):
        self.model = model
        self.tok = tokenizer
        self.batch_size = batch_size  # prompts per decode batch (x n sequences)

    def generate(self, prompts: list[str], params: SamplingParams, progress=None) -> list[list[Completion]]:
        import torch

        tok = self.tok
        stops = stop_ids(tok, self.model)
        pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
        ids_all = [encode_prompt(tok, p) for p in prompts]
        # prompts sorted by token length (stable), so most batches need no padding and no attention mask;
        # results go back to the caller's order
        order = sorted(range(len(prompts)), key=lambda i: len(ids_all[i]))
        out: list = [None] * len(prompts)
        seeds = torch.Generator().manual_seed(params.seed)
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        restore = _tiny_cpu_attention(self.model)
        try:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                # one seed per batch from one generator: results do not depend on earlier batches' lengths
                gen = torch.Generator(device=device).manual_seed(int(torch.randint(0, 2**62, (1,), generator=seeds)))
                toks, lps = sample_tokens(self.model, [ids_all[i] for i in chunk], params, stops, pad, gen)
                for i, pi in enumerate(chunk):
                    group = []
                    for j in range(params.n):
                        row = i * params.n + j
                        t = toks[row]
                        end = next((k for k, x in enumerate(t) if x in stops), None)
                        if end is not None:
                            cut, truncated = end + 1, False
                        else:
                            cut, truncated = len(t), True
                        t = t[:cut]
                        group.append(Completion(tok.decode(t, skip_special_tokens=True), t, lps[row][:cut], truncated))
                    out[pi] = group
                if progress is not None:
                    progress(len(chunk))
        finally:
            self.model.train(was_training)
            if restore:
                _base(self.model).set_attn_implementation(restore)
        return out


def top_p_filter(logits, top_p: float):
    """Set to -inf the lowest-probability tokens whose cumulative probability is <= 1 - top_p (keep >= 1)."""
    import torch

    if top_p >= 1.0:
        return logits
    sorted_logits, idx = torch.sort(logits, descending=False, dim=-1)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cum <= (1 - top_p)
    remove[..., -1] = False
    return logits.masked_fill(remove.scatter(-1, idx, remove), float("-inf"))


def sample_tokens(model, prompt_ids: list[list[int]], params: SamplingParams, eos, pad: int, gen):
    """KV-cached ancestral sampling: ``params.n`` rows per prompt (prompt i -> rows i*n .. i*n+n-1). ``eos``: the
    stop token id, or a list of them (a row is done once it emits any).

    Two savings over sampling n copies of each prompt independently (what ``generate`` with
    ``num_return_sequences`` or a harness's ``repeats`` does): the prompt is prefilled once and its KV cache
    repeated n times (with the shared-prefix attention: kept once and read by all n rows), and rows that have
    emitted EOS are dropped from the batch (cache rows included) once they are at least a quarter of it, so the
    forward passes shrink as samples finish. Neither changes any row's sampling distribution.

    Returns (token lists, per-token processed log-prob lists), each row up to ``max_new_tokens`` long and
    padded after the stop token (callers cut at the first one).
    """
    import torch

    stops = torch.tensor([eos] if isinstance(eos, int) else list(eos), dtype=torch.long)
    device = next(model.parameters()).device
    n = params.n
    width = max(map(len, prompt_ids))
    ragged = any(len(x) != width for x in prompt_ids)
    inp = torch.tensor([[pad] * (width - len(x)) + list(x) for x in prompt_ids], device=device)
    attn = pos = None
    if ragged:
        attn = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in prompt_ids], device=device)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
    rows = inp.shape[0] * n
    keep = {"logits_to_keep": 1} if model_accepts(model, "logits_to_keep") else {}
    # transformers >= 5.2x names the KV cache ``cache`` (``past_key_values`` before)
    cache_kw = "cache" if model_accepts(model, "cache") else "past_key_values"
    with torch.inference_mode():
        res = model(input_ids=inp, attention_mask=attn, position_ids=pos, use_cache=True, **keep)
        logits = res.logits[:, -1, :].float().repeat_interleave(n, 0)
        cache = getattr(res, cache_kw)
        shared = _shared_prefix(model, cache, n)
        if n > 1:
            if shared is None:
                cache.batch_repeat_interleave(n)
            if attn is not None:
                attn, pos = attn.repeat_interleave(n, 0), pos.repeat_interleave(n, 0)
        with shared or contextlib.nullcontext():
            return _decode(model, cache, cache_kw, shared, logits, attn, pos, params, stops.to(device), pad, gen, rows,
                           device)


def _decode(model, cache, cache_kw, shared, logits, attn, pos, params, stops, pad, gen, rows, device):
    """The decode loop of :func:`sample_tokens` (from the prefill's last logits and cache)."""
    import torch

    toks = torch.full((rows, params.max_new_tokens), pad, dtype=torch.long)
    lps = torch.zeros((rows, params.max_new_tokens))
    live = torch.arange(rows, device=device)  # output row of each batch row
    done = torch.zeros(rows, dtype=torch.bool, device=device)  # per batch row: emitted EOS already
    for step in range(params.max_new_tokens):
        if params.temperature != 1.0:
            logits = logits / params.temperature
        logits = top_p_filter(logits, params.top_p)
        logp = torch.log_softmax(logits, dim=-1)
        nxt = torch.multinomial(logp.exp(), 1, generator=gen).squeeze(1)
        lp = logp.gather(1, nxt[:, None]).squeeze(1)
        fresh = ~done
        out_rows = live[fresh].cpu()
        toks[out_rows, step] = nxt[fresh].cpu()
        lps[out_rows, step] = lp[fresh].float().cpu()
        done = done | (nxt == stops[0] if len(stops) == 1 else torch.isin(nxt, stops))
        n_done = int(done.sum())
        if n_done == len(live) or step + 1 == params.max_new_tokens:
            break
        if n_done * COMPACT >= len(live):  # compact: drop finished rows from the batch and the cache
            idx = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(idx)
            if shared is not None:
                shared.select(idx)
            live, done, nxt = live[idx], done[idx], nxt[idx]
            if attn is not None:
                attn, pos = attn[idx], pos[idx]
        if attn is not None:
            attn = torch.cat([attn, torch.ones((len(live), 1), dtype=attn.dtype, device=device)], dim=1)
            pos = pos[:, -1:] + 1
        res = model(input_ids=nxt[:, None], attention_mask=attn, position_ids=pos, use_cache=True,
                    **{cache_kw: cache})
        cache = getattr(res, cache_kw)
        logits = res.logits[:, -1, :].float()
    return toks.tolist(), lps.tolist()


COMPACT = 4  # drop finished rows once they are >= 1/COMPACT of the batch
TINY_PARAMS = 20_000_000
# architectures whose eager attention is transformers' Llama eager_attention_forward (the shared-prefix
# attention falls back to it for prefill); others (e.g. the GPT-2 enumerable-world models) sample with eager
SHARED_PREFIX_MODEL_TYPES = ("llama",)


def _base(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _tiny_cpu_attention(model) -> str | None:
    """For tiny models on CPU, sample without SDPA: at batch 512 x 20 tokens the SDPA kernel's per-call cost
    exceeds the attention math (embedded:base, 256 prompts x 8: 2.2 s eager vs 2.7 s SDPA). Llama-architecture
    models get the shared-prefix attention (prefix_attention.py: eager for prefill, one shared prompt part plus
    a per-row suffix for decode; 1.6 s on the same run), others plain eager. Returns the implementation to
    restore afterwards, or None when nothing was changed."""
    base = _base(model)
    current = getattr(base.config, "_attn_implementation", None)
    if current != "sdpa" or next(base.parameters()).device.type != "cpu" or not hasattr(base, "set_attn_implementation"):
        return None
    if sum(p.numel() for p in base.parameters()) > TINY_PARAMS:
        return None
    impl = "eager"
    if getattr(base.config, "model_type", None) in SHARED_PREFIX_MODEL_TYPES:
        try:
            from .prefix_attention import register

            impl = register()
        except (ImportError, KeyError):
            pass
    try:
        base.set_attn_implementation(impl)
    except (ValueError, ImportError, AttributeError):
        return None
    return current


def _shared_prefix(model, cache, n: int):
    """A :class:`~.prefix_attention.SharedPrefix` over the prefilled ``cache`` when the model samples with the
    shared-prefix attention (tiny models on CPU, see :func:`_tiny_cpu_attention`), else None."""
    from .prefix_attention import NAME, SharedPrefix, can_share

    cfg = _base(model).config
    if getattr(cfg, "_attn_implementation", None) != NAME or not can_share(cache):
        return None
    heads, kv = cfg.num_attention_heads, getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    return SharedPrefix(cache, n, [heads // kv] * len(cache.layers))
