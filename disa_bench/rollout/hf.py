"""HF ``generate`` rollout backend: batched prompts x n samples, per-token log-probs of the sampling distribution."""

from __future__ import annotations

from ..types import Completion, SamplingParams
from .base import BACKENDS


@BACKENDS.register("hf")
class HFBackend:
    """Samples with ``model.generate`` (left-padded prompt batches, ``num_return_sequences=n``).

    The returned per-token log-probs are ``log_softmax`` of the *processed* scores (after temperature and
    top-p), i.e. the log-probability under the distribution the token was actually drawn from.
    """

    def __init__(self, model, tokenizer, batch_size: int = 64):
        self.model = model
        self.tok = tokenizer
        self.batch_size = batch_size  # prompts per generate call

    def generate(self, prompts: list[str], params: SamplingParams, progress=None) -> list[list[Completion]]:
        import torch

        tok = self.tok
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        out: list[list[Completion]] = []
        gen = torch.Generator().manual_seed(params.seed)
        was_training = self.model.training
        self.model.eval()
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            ids = [tok(p, add_special_tokens=True)["input_ids"] for p in chunk]
            width = max(map(len, ids))
            device = next(self.model.parameters()).device
            input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=device)
            attn = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
            # seed every chunk from one generator so results do not depend on earlier chunks' lengths
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
            with torch.no_grad():
                res = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=attn,
                    do_sample=True,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    top_k=0,
                    max_new_tokens=params.max_new_tokens,
                    num_return_sequences=params.n,
                    eos_token_id=eos,
                    pad_token_id=pad,
                    return_dict_in_generate=True,
                    output_scores=True,
                )
            seqs = res.sequences[:, width:].cpu()
            scores = torch.stack(res.scores, dim=1).float().cpu()  # (B*n, T, V), processed
            lps = torch.log_softmax(scores, dim=-1).gather(-1, seqs.unsqueeze(-1)).squeeze(-1)
            for i in range(len(chunk)):
                group = []
                for j in range(params.n):
                    row = i * params.n + j
                    toks = seqs[row].tolist()
                    if eos in toks:
                        cut = toks.index(eos) + 1
                        truncated = False
                    else:
                        cut = len(toks)
                        truncated = True
                    toks = toks[:cut]
                    text = tok.decode(toks, skip_special_tokens=True)
                    group.append(Completion(text, toks, lps[row, :cut].tolist(), truncated))
                out.append(group)
            if progress is not None:
                progress(len(chunk))
        self.model.train(was_training)
        return out
