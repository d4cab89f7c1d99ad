"""Wall time of disa-bench's GRPO step vs TRL's GRPOTrainer on the identical tiny model, prompts and batch.

    .venv/bin/pip install -c constraints/cpu.txt -e '.[bench]'      # TRL is a benchmark-only extra
    .venv/bin/python benchmarks/grpo_vs_trl.py --steps 5 --prompts 8 --n 8

Both sides: ``embedded:base`` + the same LoRA (r 32, alpha 64, dropout 0, all linear layers), AdamW at the
same lr, no weight decay, grad clip 1.0, constant schedule; the same countdown prompts (the first
``--prompts x --steps`` train problems, so each step sees ``--prompts`` prompts), ``--n`` generations per
prompt, temperature 1, top_p 1, the same max completion length (the task's), one optimizer step per
generation batch, k3 KL to pi_ref with coefficient 0.001 (TRL ``beta``), clip 0.2 and token-mean loss (TRL
``loss_type="dapo"``), the task's own grader as reward. One thread, same process, timed after setup.
The same memory strategy on both sides: full fp32 activations, no gradient checkpointing (TRL's GRPOConfig
defaults to ``gradient_checkpointing=True``, which recomputes activations in the backward pass; the engine never
does, so leaving TRL's default on would charge TRL for recomputation a tiny model does not need). The script
reads the strategy back from both trainers, prints it, and refuses to report a ratio if they differ.

Prints the wall-time ratio ours / TRL (goal <= 0.67) and a per-phase split:
  generate  sampling (ours: HF backend; TRL: ``_generate``)
  score     rewards + pi_old / pi_ref log-prob passes + advantages (TRL: the rest of ``_generate_and_score_completions``)
  update    policy forward + backward + optimizer step (TRL: everything else in ``train()``)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DISA_BENCH_QUIET", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_store(task, problems, path: Path) -> None:
    """A placeholder store: the engine's training prompts come from the store (online GRPO never reads its rows)."""
    from disa_bench.store.schema import write_store

    rows = [{"prompt_id": p.prompt_id, "task": task.name, "prompt": p.prompt, "completion": "1", "completion_ids": [5],
             "behavior_logprobs": [-1.0], "proposal_logprob": -1.0, "ref_logprob": -1.0, "num_tokens": 1, "reward": 0.0,
             "truncated": False, "proposal_model": "bench", "temperature": 1.0, "seed": 0} for p in problems]
    write_store(path, rows, reward_range=task.reward_range)


def memory_strategy(model, config_flag: bool) -> str:
    """What the trainer's model does about activation memory, read back from its modules (transformers sets
    ``gradient_checkpointing = True`` on the modules it checkpoints), plus the weights' dtype."""
    on = bool(config_flag) or any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())
    dtype = next(model.parameters()).dtype
    return f"gradient checkpointing {'on' if on else 'off'}, {str(dtype).replace('torch.', '')} weights"


def run_ours(args, store: Path, out: Path) -> dict:
    from disa_bench.train.engine import Trainer
    from disa_bench.train.config import TrainConfig

    cfg = TrainConfig(method="grpo", model=args.model, store=str(store), steps=args.steps, prompts_per_step=args.prompts, n=args.n,
                      mini_batches=1, lr=args.lr, lora_r=32, lora_alpha=64, lora_dropout=0.0, seed=0,
                      method_args={"kl_coef": 0.001, "loss_agg": "token-mean"})
    t = Trainer(cfg, out)
    s = t.train()
    c = s["compute"]
    ph = c["phase_seconds"]
    return {"wall": c["wall_seconds"], "generate": ph["generate"], "score": ph["score"], "update": ph["update"],
            "memory": memory_strategy(t.model, False),
            "tokens_generated": c["tokens_generated"], "reward": s["reward_last"]}


def run_trl(args, task, problems, max_new: int, out: Path) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    from disa_bench.models import load_model

    loaded = load_model(args.model)
    model, tok = loaded.model, loaded.tokenizer
    model.train()
    by_id = {p.prompt_id: p for p in problems}
    ds = Dataset.from_list([{"prompt": p.prompt, "prompt_id": p.prompt_id} for p in problems])

    def reward(prompts, completions, prompt_id, **kw):
        return [float(task.grade(by_id[pid], c).reward) for c, pid in zip(completions, prompt_id)]

    cfg = GRPOConfig(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.prompts * args.n,
        gradient_accumulation_steps=1, num_generations=args.n, max_completion_length=max_new, temperature=1.0,
        top_p=1.0, learning_rate=args.lr, weight_decay=0.0, max_grad_norm=1.0, lr_scheduler_type="constant",
        warmup_steps=0, beta=0.001, epsilon=0.2, loss_type="dapo", num_iterations=1, use_cpu=True, seed=0,
        logging_steps=1, report_to=[], save_strategy="no", disable_tqdm=True, bf16=False, fp16=False,
        dataloader_num_workers=0, remove_unused_columns=False, shuffle_dataset=False,
        gradient_checkpointing=False,  # like for like: the engine does not checkpoint activations
    )
    peft_cfg = LoraConfig(r=32, lora_alpha=64, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=ds, processing_class=tok,
                          peft_config=peft_cfg)
    timers = {"generate": 0.0, "gen_and_score": 0.0}

    def timed(name, fn):
        def wrap(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers[name] += time.perf_counter() - t0
        return wrap

    trainer._generate = timed("generate", trainer._generate)
    trainer._generate_and_score_completions = timed("gen_and_score", trainer._generate_and_score_completions)
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    logs = [h for h in trainer.state.log_history if "reward" in h]
    return {"wall": round(wall, 2), "generate": round(timers["generate"], 2),
            "memory": memory_strategy(trainer.model, trainer.args.gradient_checkpointing),
            "score": round(timers["gen_and_score"] - timers["generate"], 2),
            "update": round(wall - timers["gen_and_score"], 2),
            "tokens_generated": int(sum(h.get("num_tokens", 0) for h in logs[-1:])) if logs else None,
            "reward": logs[-1]["reward"] if logs else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=8, help="prompts per step")
    ap.add_argument("--n", type=int, default=8, help="generations per prompt")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="embedded:base", help="the one tiny model both trainers start from")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    try:
        import trl  # noqa: F401
    except ImportError:
        sys.exit("error: TRL is not installed; install the bench extra: pip install -c constraints/cpu.txt -e '.[bench]'")
    from disa_bench.world.embedded import ensure_embedded
    from disa_bench.tasks import get_task

    if args.model == "embedded:base":
        ensure_embedded("base")
    task = get_task("countdown")
    problems = task.problems("train")[: args.prompts * args.steps]
    max_new = task.max_new_tokens
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        build_store(task, problems, d / "store.parquet")
        ours = run_ours(args, d / "store.parquet", d / "ours")
        theirs = run_trl(args, task, problems, max_new, d / "trl")
    print(f"memory strategy: disa-bench: {ours['memory']}; TRL: {theirs['memory']}")
    if ours["memory"] != theirs["memory"]:
        sys.exit("error: the two sides run different memory strategies; the ratio would not compare like for like")
    ratio = ours["wall"] / theirs["wall"]
    print(f"GRPO, {args.model} + LoRA r32, {args.steps} steps x {args.prompts} prompts x {args.n} generations, "
          f"max {max_new} new tokens, {args.threads} thread(s), torch {torch.__version__}, trl {trl.__version__}")
    print(f"{'':10}{'wall s':>9}{'generate':>10}{'score':>8}{'update':>8}")
    for name, r in (("disa-bench", ours), ("TRL", theirs)):
        print(f"{name:10}{r['wall']:>9.2f}{r['generate']:>10.2f}{r['score']:>8.2f}{r['update']:>8.2f}")
    verdict = "meets" if ratio <= 0.67 else "misses"
    print(f"wall-time ratio disa-bench / TRL = {ratio:.3f} ({verdict} the <= 0.67 goal)")
    if args.json:
        args.json.write_text(json.dumps({"ours": ours, "trl": theirs, "ratio": ratio, "args": vars(args)}, default=str, indent=2))


if __name__ == "__main__":
    main()
