"""Mean@8 of one model on one task: disa-bench's own eval vs lm-eval's hf backend (repeats = 8), timed.

Both runs use the same prompts (lm-eval loads them through the disa_<task> YAML's custom_dataset), the same
sampling (T = 0.6, top_p = 0.95, top_k off), the same number of sequences per forward pass (lm-eval's
batch_size = our prompts per batch x k) and the same grader; only the generation loop differs. Model loading
is inside both timings; imports and one small warm-up run of each engine (8 prompts) happen before either
clock starts, so neither side pays for first-call initialisation.

    .venv/bin/python benchmarks/eval_vs_lmeval.py                      # embedded:base, countdown, 256 x 8
    .venv/bin/python benchmarks/eval_vs_lmeval.py --task countdown --n-prompts 128 --model embedded:base

Each engine is timed ``--repeats`` times (default 3), interleaved; the ratio is of the medians. Every repeat uses
the same seed, so both Mean@8 values are the same in every repeat.

Prints both Mean@8 (with 95% CI), both wall times and ours/lm-eval (goal <= 0.33).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="countdown")
    ap.add_argument("--model", default="embedded:base")
    ap.add_argument("--n-prompts", type=int, default=256)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="hf", help="disa-bench rollout backend for 'ours' (hf or vllm)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs of each engine, interleaved (ours, lm-eval, ours, ...); medians are compared")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("DISA_BENCH_QUIET", "1")
    import torch

    torch.set_num_threads(args.threads)
    import lm_eval  # noqa: F401  (import cost outside both timings)
    from lm_eval.tasks import TaskManager  # noqa: F401

    from disa_bench.eval.config import EvalConfig
    from disa_bench.eval.evaluate import run_eval
    from disa_bench.eval.lmeval import run_lmeval
    from disa_bench.models import load_model, resolve

    load_model(resolve(args.model))  # build/locate the model and warm the transformers imports outside the timings
    cfg = EvalConfig(task=args.task, model=args.model, k=args.k, n_prompts=args.n_prompts,
                     max_new_tokens=args.max_new_tokens, backend=args.backend)
    warm = EvalConfig(task=args.task, model=args.model, k=args.k, n_prompts=8, max_new_tokens=args.max_new_tokens,
                      backend=args.backend, seed=1)
    run_eval(warm)
    run_lmeval(warm, [args.task])
    t_ours, t_lm = [], []
    for _ in range(max(1, args.repeats)):  # interleaved, so drift in machine load hits both engines alike
        t0 = time.perf_counter()
        ours, _ = run_eval(cfg)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        lm, _ = run_lmeval(cfg, [args.task])[args.task]
        t_lm.append(time.perf_counter() - t0)
    runs = {"disa-bench": t_ours, "lm-eval hf": t_lm}
    t_ours, t_lm = statistics.median(t_ours), statistics.median(t_lm)
    k = args.k
    print(f"task {args.task}, model {args.model}, {ours['num_prompts']} prompts x {k}, "
          f"max_new_tokens {ours['sampling']['max_new_tokens']}, torch threads {args.threads}, ours backend {args.backend}")
    for name, r, t in (("disa-bench", ours, t_ours), ("lm-eval hf", lm, t_lm)):
        lo, hi = r[f"mean@{k}_ci"]
        each = ", ".join(f"{x:.2f}" for x in runs[name])
        print(f"  {name:<10}  Mean@{k} = {r[f'mean@{k}']:5.1f} [95% CI {lo:.1f}, {hi:.1f}]  wall {t:6.2f} s (median of {each})")
    print(f"  wall ratio ours / lm-eval = {t_ours / t_lm:.3f}  (goal <= 0.33)")


if __name__ == "__main__":
    main()
