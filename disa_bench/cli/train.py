"""``disa-bench train``: train a policy with one method on the shared engine."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from ..progress import console
from .app import app, ConfigOpt, flags, rank_line, SeedOpt, user_errors


@app.command()
@user_errors
def train(
    method: Optional[str] = typer.Option(None, "--method", help="disa, flowrl, grpo, gspo or sft."),
    store: Optional[str] = typer.Option(None, "--store", help="Trajectory store: defines the training prompts (and offline data)."),
    anchor: Optional[str] = typer.Option(None, "--anchor", help="anchor.parquet (DISA)."),
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/train"), "--out", help="Output dir (adapter/, metrics.jsonl, summary.json, manifest.json)."),
    seed: Optional[int] = SeedOpt,
    model: Optional[str] = typer.Option(None, "--model", help="Initial policy = pi_ref (default embedded:base)."),
    task: Optional[str] = typer.Option(None, "--task"),
    data: Optional[str] = typer.Option(None, "--data", help="online (fresh rollouts, default) or offline (the store). SFT always reads the store."),
    steps: Optional[int] = typer.Option(None, "--steps"),
    prompts_per_step: Optional[int] = typer.Option(None, "--prompts-per-step"),
    n: Optional[int] = typer.Option(None, "--n", help="Rollouts (offline: stored trajectories) per prompt."),
    mini_batches: Optional[int] = typer.Option(None, "--mini-batches", help="Optimizer steps per rollout batch (default: the method's, 1; GSPO 4)."),
    lr: Optional[float] = typer.Option(None, "--lr"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Rollout length cap (default: the task's)."),
    full: Optional[bool] = typer.Option(None, "--full/--lora", help="Full fine-tuning instead of LoRA (default LoRA)."),
    beta: Optional[float] = typer.Option(None, "--beta", help="Method beta (DISA: must match the anchor; FlowRL default 15)."),
    units: Optional[str] = typer.Option(None, "--units", help="DISA residual units: exact or ln (must match the anchor)."),
    flowrl_variant: Optional[str] = typer.Option(None, "--flowrl-variant", help="FlowRL: official (clamp w at 10), original (unclipped w) or detached-head."),
    kl_coef: Optional[float] = typer.Option(None, "--kl-coef", help="GRPO k3 KL coefficient (default 0.001; 0 = no pi_ref pass)."),
    loss_agg: Optional[str] = typer.Option(None, "--loss-agg", help="GRPO: token-mean, seq-mean-token-mean, seq-mean-token-sum or seq-mean-token-sum-norm."),
    clip_eps: Optional[float] = typer.Option(None, "--clip-eps", help="GRPO clip epsilon (low; default 0.2)."),
    clip_eps_high: Optional[float] = typer.Option(None, "--clip-eps-high", help="GRPO/GSPO upper clip epsilon."),
    sft_data: Optional[str] = typer.Option(None, "--sft-data", help="SFT: correct (default, reward > 0) or all store trajectories."),
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke or default: the run profile's training budget."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Rollout backend: hf (transformers, default) or vllm (needs the gpu extra; online rollouts; the LoRA is synced to it each step; single process, not with --full)."),
):
    """Train a policy (LoRA by default) with one method on the shared engine.

    Method options (--beta, --flowrl-variant, --kl-coef, ...) go into the method config; a YAML config may
    also set them under [bold]method_args:[/]. Multi-process: [bold]accelerate launch -m disa_bench.cli train ...[/]

    Example: [bold]disa-bench train --method disa --store runs/p/store.parquet --anchor runs/a/anchor.parquet --steps 100 --out runs/t[/]
    """
    import os

    from ..config import load_yaml, resolve
    from ..experiments.profiles import PROFILES
    from ..train.stage import train_stage
    from ..train.engine import Trainer
    from ..train.config import TrainConfig

    prof = {}
    if profile is not None:
        if profile not in PROFILES:
            raise UserError(f"unknown --profile {profile!r}; valid: {', '.join(PROFILES)}")
        prof = PROFILES[profile]["train"]
    method_args = flags(beta=beta, units=units, variant=flowrl_variant, kl_coef=kl_coef, loss_agg=loss_agg,
                         clip_eps=clip_eps, sft_data=sft_data)
    if clip_eps_high is not None:
        method_args["clip_eps_high"] = clip_eps_high
    yaml_cfg = load_yaml(config, "train")
    if method_args:
        method_args = {**(yaml_cfg.get("method_args") or {}), **method_args}
    cfg = resolve(TrainConfig, prof, yaml_cfg,
                  flags(method=method, store=store, anchor=anchor, seed=seed, model=model, task=task, data=data,
                         steps=steps, prompts_per_step=prompts_per_step, n=n, mini_batches=mini_batches, lr=lr,
                         max_new_tokens=max_new_tokens, full=full, backend=backend, method_args=method_args or None),
                  where=config or "flags")
    cfg.check()
    if method_args:  # a flag that does not apply to the chosen method (e.g. --kl-coef with disa) is an error
        from ..methods import get_method
        from ..train.config import _method_config

        _method_config(get_method(cfg.method), cfg.method_args)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if rank != 0:  # accelerate / torchrun worker: trains in lockstep, writes nothing
        import tempfile

        t = Trainer(cfg, Path(tempfile.mkdtemp(prefix="disa-bench-rank")))
        s = t.train()
        rank_line(rank, world, s)
        return
    s = train_stage(cfg, out)
    if world > 1:
        rank_line(rank, world, s)
    console.print(f"trained {s['method']} ({s['data_source']}) for {s['steps']} steps: reward {s['reward_first']:.3f} -> "
                     f"{s['reward_last']:.3f}; adapter at {out / 'adapter'}")
