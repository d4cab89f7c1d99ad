"""CUDA check of the sampling and scoring paths (run by hand on a GPU machine; CI has no GPU).

    python scripts/gpu_check.py            # needs torch with CUDA, transformers and peft; no other dependency

On the embedded base model, on the GPU:
1. the HF sampler (rollout/hf.py, CUDA generator) returns per-token log-probs equal to a teacher-forced
   log_softmax(TopP(logits / T)) at T 0.6, top_p 0.95, on a batch of prompts of different lengths;
2. shared-prefix scoring equals per-row scoring (values and LoRA gradients);
3. the merged sampling copy of a LoRA policy computes the same logits as the live PeftModel;
then prints the sampler's throughput. Exit status 1 when a check fails.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import torch
    from transformers.generation.logits_process import TopPLogitsWarper

    from disa_bench.models import add_lora, load_model
    from disa_bench.rollout import get_backend
    from disa_bench.rollout.merged import MergedPolicy
    from disa_bench.rollout.scoring import token_logprobs, token_logprobs_shared
    from disa_bench.types import SamplingParams

    import os

    dev = os.environ.get("GPU_CHECK_DEVICE", "cuda")  # GPU_CHECK_DEVICE=cpu: a dry run of the script itself
    if dev == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device (GPU_CHECK_DEVICE=cpu runs the same checks on CPU)")
        return 2
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    base = Path(__file__).resolve().parents[1] / "disa_bench" / "assets" / "embedded" / "base"
    loaded = load_model(str(base), device=dev)
    tok, model = loaded.tokenizer, loaded.model
    rng = random.Random(0)
    prompts = []
    for i in range(64):
        nums = [rng.randint(1, 99) for _ in range(3 + (i % 4 == 0))]
        prompts.append(f"Use {' '.join(map(str, nums))} to make {rng.randint(1, 200)}:")
    failures = []

    # 1. sampler log-probs == processed teacher-forced log-probs
    sp = SamplingParams(n=8, temperature=0.6, top_p=0.95, max_new_tokens=20, seed=1)
    groups = get_backend("hf", model, tok, batch_size=32).generate(prompts, sp)
    warp, worst = TopPLogitsWarper(0.95), 0.0
    for p, g in zip(prompts[:16], groups[:16]):
        pid = tok(p)["input_ids"]
        for c in g:
            ids = torch.tensor([pid + c.token_ids], device=dev)
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0, len(pid) - 1 : len(pid) - 1 + len(c.token_ids)].float()
            exp = torch.log_softmax(warp(None, logits / 0.6), -1).gather(1, torch.tensor(c.token_ids, device=dev)[:, None])
            worst = max(worst, float((exp.squeeze(1).cpu() - torch.tensor(c.logprobs)).abs().max()))
    print(f"1. sampler vs teacher forcing (T 0.6, top_p 0.95): max |diff| {worst:.2e}")
    if worst > 1e-3:
        failures.append("sampler log-probs")

    # 2. shared-prefix scoring == per-row scoring, values and gradients
    pm = add_lora(load_model(str(base), device=dev).model, r=8, alpha=16, dropout=0.0).to(dev)
    g = torch.Generator().manual_seed(0)
    for n, prm in pm.named_parameters():
        if "lora_B" in n:
            prm.data = (torch.randn(prm.shape, generator=g) * 0.05).to(dev)
    P = [tok(p)["input_ids"] for p in prompts[:8] for _ in range(4)]
    C = [c.token_ids for grp in groups[:8] for c in grp[:4]]
    res = {}
    for f in (token_logprobs, token_logprobs_shared):
        pm.zero_grad()
        lp, mask = f(pm, P, C, 1.0, tok.pad_token_id)
        (lp * mask).sum().backward()
        res[f.__name__] = (lp.detach(), {n: q.grad.clone() for n, q in pm.named_parameters() if q.grad is not None})
    a, b = res["token_logprobs"], res["token_logprobs_shared"]
    dv = float((a[0] - b[0]).abs().max())
    dg = max(float((a[1][k] - b[1][k]).abs().max()) for k in a[1])
    print(f"2. shared-prefix vs per-row scoring: max |Δ logp| {dv:.2e}, max |Δ grad| {dg:.2e}")
    if dv > 1e-3 or dg > 1e-3:
        failures.append("shared-prefix scoring")

    # 3. merged sampling copy == live PeftModel
    merged = MergedPolicy(pm)
    ids = torch.tensor([P[0] + C[0]], device=dev)
    pm.eval()
    with torch.no_grad():
        d3 = float((merged.refresh()(input_ids=ids).logits - pm(input_ids=ids).logits).abs().max())
    print(f"3. merged LoRA copy vs PeftModel logits: max |diff| {d3:.2e}")
    if d3 > 1e-3:
        failures.append("merged copy")

    # throughput
    many = prompts * 8
    backend = get_backend("hf", model, tok, batch_size=256)
    backend.generate(many[:64], sp)
    sync()
    t0 = time.perf_counter()
    out = backend.generate(many, sp)
    sync()
    dt = time.perf_counter() - t0
    ntok = sum(c.num_tokens for grp in out for c in grp)
    print(f"throughput: {len(many)} prompts x 8 in {dt:.2f} s ({ntok / dt:,.0f} tok/s) on {torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}")
    import transformers

    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    print("all CUDA checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
