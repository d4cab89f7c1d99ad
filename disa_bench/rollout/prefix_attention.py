"""Shared-prefix decode attention for the HF sampler: the n samples of a prompt attend to one copy of its KV cache.

Plain decoding keeps a KV cache row per sample, so the prompt's keys and values are stored n times, copied
into every row (``repeat_interleave``), re-copied on every step when the cache grows (``torch.cat``), and read n
times by the attention. Here the prompt part stays (prompts, heads, Lp, dim), once per prompt, and only the
generated tokens are cached per row. Each decode step's attention is computed in two parts and merged exactly:

    scores over the prompt   S_p = q · K_p[prompt of row]    (one batched matmul per prompt group: the rows'
                                                              queries are scattered into a (prompts, n) grid)
    scores over the suffix   S_s = q · K_s[row]
    softmax over [S_p, S_s] with one shared max, output = (P_p V_p + P_s V_s) / (sum P_p + sum P_s)

which is eager attention's softmax(q Kᵀ · scale + mask) V over the concatenated keys, up to float rounding (the
sums run in a different order). Masks are eager's additive masks, split at Lp. This is cascade / shared-prefix
attention (as in Hydragen, FlashInfer's cascade kernels) reduced to what a tiny CPU model needs: plain torch ops,
query length 1, used only by :func:`disa_bench.rollout.hf.sample_tokens` on small Llama-architecture models on
CPU, where memory copies rather than FLOPs dominate. Prefill and every other forward use transformers' eager
attention unchanged.

Measured (embedded:base, 256 countdown prompts x 8, T 0.6, one thread, same process): eval 2.24-2.39 s against
2.47-3.0 s with eager attention; at training-rollout sizes (8-64 prompts x 8) the two are within 2%.
"""

from __future__ import annotations

import functools
import threading

NAME = "disa_shared_prefix"
_STATE = threading.local()


@functools.cache
def register() -> str:
    """Register the attention (and eager's mask builder) under :data:`NAME` with transformers; returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["eager"])
    return NAME


class SharedPrefix:
    """The per-prompt prefix K/V of every layer and, for each live decode row, its prompt and slot in the group.

    Built from a freshly prefilled DynamicCache (one row per prompt); the cache's layers are turned into suffix
    layers that hold only generated tokens (one row per sample) but report the prefix length in their sequence
    length, so position and mask bookkeeping stays that of the full sequence."""

    def __init__(self, cache, n: int, groups_kv: list[int]):
        import torch

        self.k, self.v = [], []
        for layer, g in zip(cache.layers, groups_kv):
            k, v = layer.keys, layer.values
            if g > 1:  # grouped-query attention: expand the shared prefix once, not per step
                k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
            self.k.append(k)
            self.v.append(v)
        B = self.k[0].shape[0]
        self.n, self.prompts, self.plen = n, B, self.k[0].shape[2]
        rows = torch.arange(B * n, device=self.k[0].device)
        self.prompt_of, self.slot = rows // n, rows % n
        cls = _suffix_layer()
        for layer in cache.layers:
            layer.__class__ = cls
            layer.offset = self.plen
            layer.keys = layer.keys.new_empty((B * n,) + layer.keys.shape[1:2] + (0,) + layer.keys.shape[3:])
            layer.values = layer.values.new_empty((B * n,) + layer.values.shape[1:2] + (0,) + layer.values.shape[3:])

    def select(self, idx) -> None:
        """Keep decode rows ``idx`` (the cache's suffix layers are compacted by ``batch_select_indices``)."""
        self.prompt_of, self.slot = self.prompt_of[idx], self.slot[idx]

    def __enter__(self):
        _STATE.prefix = self
        return self

    def __exit__(self, *exc):
        _STATE.prefix = None


def can_share(cache) -> bool:
    """Every layer is a plain, filled, full-attention DynamicLayer (sliding windows etc. are left alone)."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer and layer.is_initialized and layer.keys.numel() > 0
                                for layer in layers)


@functools.cache
def _suffix_layer():
    from transformers.cache_utils import DynamicLayer

    class SuffixLayer(DynamicLayer):
        """Generated tokens only; ``get_seq_length`` counts the shared prefix (``offset``) too."""

        offset = 0

        def get_seq_length(self) -> int:
            return self.offset + self.keys.shape[-2]

    return SuffixLayer


def attention(module, query, key, value, attention_mask, scaling: float, dropout: float = 0.0, **kwargs):
    """transformers attention-interface function: shared-prefix attention while a :class:`SharedPrefix` is active
    and the query is one token, eager attention otherwise."""
    import torch
    from transformers.models.llama.modeling_llama import eager_attention_forward, repeat_kv

    prefix = getattr(_STATE, "prefix", None)
    if prefix is None or query.shape[2] != 1 or getattr(module, "layer_idx", None) is None:
        return eager_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                       **kwargs)
    R, H, _, D = query.shape
    kp, vp = prefix.k[module.layer_idx], prefix.v[module.layer_idx]  # (B, H, Lp, D)
    ks, vs = repeat_kv(key, module.num_key_value_groups), repeat_kv(value, module.num_key_value_groups)
    lp = prefix.plen
    q = query[:, :, 0]  # (R, H, D)
    # prompt part: the rows' queries in a (prompts, n) grid, one matmul per prompt against its single K copy
    grid = q.new_zeros((prefix.prompts, prefix.n, H, D))
    grid[prefix.prompt_of, prefix.slot] = q
    s_grid = torch.matmul(grid.transpose(1, 2), kp.transpose(2, 3))  # (B, H, n, Lp)
    s_p = s_grid.permute(0, 2, 1, 3)[prefix.prompt_of, prefix.slot] * scaling  # (R, H, Lp)
    s_s = torch.matmul(query, ks.transpose(2, 3))[:, :, 0] * scaling  # (R, H, Ls)
    if attention_mask is not None:
        m = attention_mask[:, :, -1, :]  # (R or 1, 1, Lp + Ls): the one query position
        s_p = s_p + m[..., :lp]
        s_s = s_s + m[..., lp:]
    s_p, s_s = s_p.float(), s_s.float()
    top = s_p.amax(-1, keepdim=True)
    if s_s.shape[-1]:
        top = torch.maximum(top, s_s.amax(-1, keepdim=True))
    p_p, p_s = torch.exp(s_p - top), torch.exp(s_s - top)
    denom = p_p.sum(-1, keepdim=True) + p_s.sum(-1, keepdim=True)
    p_grid = p_p.new_zeros((prefix.prompts, prefix.n, H, lp))
    p_grid[prefix.prompt_of, prefix.slot] = p_p
    o_grid = torch.matmul(p_grid.transpose(1, 2).to(vp.dtype), vp)  # (B, H, n, D)
    out = o_grid.permute(0, 2, 1, 3)[prefix.prompt_of, prefix.slot]  # (R, H, D)
    if s_s.shape[-1]:
        out = out + torch.matmul(p_s[:, :, None].to(vs.dtype), vs)[:, :, 0]
    out = (out / denom.to(out.dtype)).to(query.dtype)
    return out[:, None], None  # (R, 1, H, D): eager's layout after transpose(1, 2)
