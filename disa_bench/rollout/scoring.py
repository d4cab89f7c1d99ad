"""Teacher-forced per-token log-probs of (prompt, completion) pairs under any model.

One function serves pi_ref, the proposal q and the policy pi_theta: with grad for training, without for
scoring. Sequences are right-padded, so positions need no adjustment. Tensors are created on the model's
device; the returned tensors live there too.
"""

from __future__ import annotations


def token_logprobs(model, prompt_ids: list[list[int]], completion_ids: list[list[int]], temperature: float = 1.0,
                   pad_id: int = 0, return_hidden: bool = False):
    """Per-token log-probs of each completion given its prompt.

    Returns ``(logps, mask)`` of shape (B, Tc) — padded to the longest completion, ``mask`` 1 on real
    tokens — and, with ``return_hidden``, also the mean-pooled final hidden state over each prompt's tokens
    (B, d), the feature used by the log Z regressor and the FlowRL head.
    """
    import torch

    device = next(model.parameters()).device
    B = len(prompt_ids)
    plen = torch.tensor([len(p) for p in prompt_ids])
    clen = torch.tensor([len(c) for c in completion_ids])
    width = int((plen + clen).max())
    tc = max(1, int(clen.max()))
    inp = torch.full((B, width), pad_id, dtype=torch.long)
    tgt = torch.full((B, tc), pad_id, dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        inp[i, : len(p) + len(c)] = torch.tensor(list(p) + list(c), dtype=torch.long)
        if len(c):
            tgt[i, : len(c)] = torch.tensor(c, dtype=torch.long)
    attn = (torch.arange(width)[None, :] < (plen + clen)[:, None]).long()
    mask = (torch.arange(tc)[None, :] < clen[:, None])
    # logits at position t predict token t+1: completion token j sits at len(p)+j, predicted from len(p)+j-1
    pos = (plen[:, None] - 1 + torch.arange(tc)[None, :]).clamp(max=width - 1)
    out = model(input_ids=inp.to(device), attention_mask=attn.to(device), output_hidden_states=return_hidden)
    logits = out.logits.gather(1, pos.to(device)[:, :, None].expand(-1, -1, out.logits.shape[-1]))
    logps, mask = _target_logps(logits, tgt, mask, temperature)
    if not return_hidden:
        return logps, mask
    return logps, mask, _pool(out.hidden_states[-1], torch.arange(width)[None, :] < plen[:, None])


def _target_logps(logits, targets, mask, temperature: float):
    """log_softmax(logits / T) at the target tokens, zeroed outside ``mask``; returns (logps, float mask)."""
    import torch

    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    logps = torch.log_softmax(logits, dim=-1).gather(-1, targets.to(logits.device)[:, :, None]).squeeze(-1)
    mask = mask.to(device=logits.device, dtype=logps.dtype)
    return logps * mask, mask


def _pool(hidden, token_mask):
    """Mean of the final hidden states over the positions where ``token_mask`` is true (the prompt tokens)."""
    h = hidden.float()
    m = token_mask.to(device=h.device, dtype=h.dtype)
    return (h * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp(min=1)


def sequence_logprobs(model, prompt_ids, completion_ids, temperature: float = 1.0, pad_id: int = 0,
                      batch_size: int = 128) -> list[list[float]]:
    """No-grad per-token log-probs as python lists, batched (for scoring stores under pi_ref / q); rows of one
    batch that share a prompt share its forward pass (:func:`token_logprobs_shared`)."""
    import torch

    out: list[list[float]] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for s in range(0, len(prompt_ids), batch_size):
            lp, m = token_logprobs_shared(model, prompt_ids[s : s + batch_size], completion_ids[s : s + batch_size],
                                          temperature, pad_id)
            for row, mrow in zip(lp.cpu(), m.cpu()):
                out.append(row[: int(mrow.sum())].tolist())
    model.train(was_training)
    return out


def token_logprobs_shared(model, prompt_ids: list[list[int]], completion_ids: list[list[int]], temperature: float = 1.0,
                          pad_id: int = 0, return_hidden: bool = False):
    """:func:`token_logprobs` with each distinct prompt run through the model once.

    Rows that share a prompt (a GRPO group: n completions of one prompt) share its KV cache: the distinct
    prompts are run left-padded, their cache is gathered to one row per completion (a differentiable index,
    so gradients from every completion flow back into the one prompt pass), and the completions are run on
    top of it. The result equals :func:`token_logprobs` up to float rounding (tested), with the prompt tokens
    computed once per group instead of n times. Same return values and shapes.
    """
    import torch

    device = next(model.parameters()).device
    keys: dict[tuple, int] = {}
    inv = [keys.setdefault(tuple(p), len(keys)) for p in prompt_ids]
    uniq = [list(k) for k in keys]
    B = len(prompt_ids)
    wp = max(map(len, uniq))
    plen = torch.tensor([len(p) for p in uniq])
    inp = torch.tensor([[pad_id] * (wp - len(p)) + p for p in uniq], dtype=torch.long)
    pmask = (torch.arange(wp)[None, :] >= (wp - plen)[:, None]).long()
    ppos = (pmask.cumsum(-1) - 1).clamp(min=0)
    clen = torch.tensor([len(c) for c in completion_ids])
    tc = max(1, int(clen.max()))
    comp = torch.full((B, tc), pad_id, dtype=torch.long)
    for i, c in enumerate(completion_ids):
        if len(c):
            comp[i, : len(c)] = torch.tensor(c, dtype=torch.long)
    mask = torch.arange(tc)[None, :] < clen[:, None]
    idx = torch.tensor(inv)
    cache_kw = "cache" if model_accepts(model, "cache") else "past_key_values"
    out_p = model(input_ids=inp.to(device), attention_mask=pmask.to(device), position_ids=ppos.to(device), use_cache=True,
                  output_hidden_states=return_hidden)
    cache = getattr(out_p, cache_kw)
    _select_rows(cache, idx.to(device))
    full_mask = torch.cat([pmask[idx], torch.ones((B, tc), dtype=torch.long)], dim=1)
    cpos = plen[idx][:, None] + torch.arange(tc)[None, :]
    out_c = model(input_ids=comp.to(device), attention_mask=full_mask.to(device), position_ids=cpos.to(device),
                  use_cache=True, **{cache_kw: cache})
    # completion token j is predicted by the logits at the previous position: the last prompt token for j = 0
    logits = torch.cat([out_p.logits[:, -1:, :].index_select(0, idx.to(device)), out_c.logits[:, : tc - 1, :]], dim=1)
    logps, mask = _target_logps(logits, comp, mask, temperature)
    if not return_hidden:
        return logps, mask
    return logps, mask, _pool(out_p.hidden_states[-1], pmask.bool()).index_select(0, idx.to(device))


def _select_rows(cache, idx) -> None:
    """Keep rows ``idx`` (repeats allowed) of every cache layer, with ``index_select``.

    Not transformers' ``batch_select_indices``: that indexes with ``keys[idx]``, whose backward is an
    ``index_put_(accumulate=True)`` that CPU torch runs with parallel atomic adds, so the gradient of a
    repeated prompt row is summed in a thread-timing-dependent order and training with more than one thread
    is not bitwise reproducible across processes. ``index_select``'s backward (``index_add_``) sums in index
    order. Caches without per-layer ``keys``/``values`` fall back to ``batch_select_indices``."""
    layers = getattr(cache, "layers", None)
    if not layers or not all(hasattr(layer, "keys") and hasattr(layer, "values") for layer in layers):
        cache.batch_select_indices(idx)
        return
    for layer in layers:
        if layer.keys is not None and layer.keys.numel():
            layer.keys = layer.keys.index_select(0, idx)
            layer.values = layer.values.index_select(0, idx)


def model_accepts(model, name: str) -> bool:
    """Whether the (DDP- / peft-unwrapped) model's ``forward`` takes keyword ``name`` (names differ across
    transformers versions, e.g. ``cache`` vs ``past_key_values``)."""
    import inspect

    base = model
    for attr in ("module", "get_base_model"):  # DDP wrapper, peft wrapper
        if hasattr(base, attr):
            base = getattr(base, attr)
            base = base() if callable(base) and attr == "get_base_model" else base
    try:
        return name in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False
