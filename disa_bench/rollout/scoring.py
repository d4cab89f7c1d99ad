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
    logits = out.logits.gather(1, pos.to(device)[:, :, None].expand(-1, -1, out.logits.shape[-1])).float()
    if temperature != 1.0:
        logits = logits / temperature
    logps = torch.log_softmax(logits, dim=-1).gather(-1, tgt.to(device)[:, :, None]).squeeze(-1)
    mask = mask.to(device=device, dtype=logps.dtype)
    logps = logps * mask
    if not return_hidden:
        return logps, mask
    h = out.hidden_states[-1].float()
    pmask = (torch.arange(width)[None, :] < plen[:, None]).to(device=device, dtype=h.dtype)
    pooled = (h * pmask.unsqueeze(-1)).sum(1) / pmask.sum(1, keepdim=True).clamp(min=1)
    return logps, mask, pooled


def sequence_logprobs(model, prompt_ids, completion_ids, temperature: float = 1.0, pad_id: int = 0,
                      batch_size: int = 128) -> list[list[float]]:
    """No-grad per-token log-probs as python lists, batched (for scoring stores under pi_ref / q)."""
    import torch

    out: list[list[float]] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for s in range(0, len(prompt_ids), batch_size):
            lp, m = token_logprobs(model, prompt_ids[s : s + batch_size], completion_ids[s : s + batch_size],
                                   temperature, pad_id)
            for row, mrow in zip(lp.cpu(), m.cpu()):
                out.append(row[: int(mrow.sum())].tolist())
    model.train(was_training)
    return out
