"""Teacher-forced per-token log-probs of (prompt, completion) pairs under any model.

One function serves pi_ref, the proposal q and the policy pi_theta: with grad for training, without for
scoring. Sequences are right-padded, so positions need no adjustment.
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

    B = len(prompt_ids)
    lens = [len(p) + len(c) for p, c in zip(prompt_ids, completion_ids)]
    width = max(lens)
    tc = max(len(c) for c in completion_ids) if completion_ids else 0
    inp = torch.full((B, width), pad_id, dtype=torch.long)
    attn = torch.zeros((B, width), dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        seq = list(p) + list(c)
        inp[i, : len(seq)] = torch.tensor(seq)
        attn[i, : len(seq)] = 1
    out = model(input_ids=inp, attention_mask=attn, output_hidden_states=return_hidden)
    logits = out.logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logps = torch.zeros((B, tc), dtype=logits.dtype)
    mask = torch.zeros((B, tc), dtype=logits.dtype)
    rows = []
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        n = len(c)
        if n == 0:
            rows.append(logp_all.new_zeros((tc,)))
            continue
        pos = torch.arange(len(p) - 1, len(p) - 1 + n)
        lp = logp_all[i, pos].gather(-1, torch.tensor(c).unsqueeze(-1)).squeeze(-1)
        rows.append(torch.nn.functional.pad(lp, (0, tc - n)))
        mask[i, :n] = 1
    if rows:
        logps = torch.stack(rows)
    if not return_hidden:
        return logps, mask
    h = out.hidden_states[-1].float()
    pmask = torch.zeros((B, width), dtype=h.dtype)
    for i, p in enumerate(prompt_ids):
        pmask[i, : len(p)] = 1
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
            for row, mrow in zip(lp, m):
                out.append(row[: int(mrow.sum())].tolist())
    model.train(was_training)
    return out
