"""``disa-bench train``: train a policy with one method on the shared engine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from ..progress import console
from .app import app, ConfigOpt, flags, rank_line, SeedOpt, user_errors


# the per-method flags of earlier versions, kept working: each is a --method-arg of the same meaning
LEGACY_FLAGS = {"beta": "beta", "units": "units", "flowrl_variant": "variant", "kl_coef": "kl_coef", "loss_agg": "loss_agg",
                "clip_eps": "clip_eps", "clip_eps_high": "clip_eps_high", "sft_data": "sft_data"}


@app.command()
@user_errors
def train(
    method: Optional[str] = typer.Option(None, "--method", help="A registered method (one file in disa_bench/methods/); an unknown name lists them."),
    store: Optional[str] = typer.Option(None, "--store", help="Trajectory store: defines the training prompts (and offline data)."),
    anchor: Optional[str] = typer.Option(None, "--anchor", help="anchor.parquet, for a method that needs the frozen log Z."),
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/train"), "--out", help="Output dir (adapter/, metrics.jsonl, summary.json, manifest.json)."),
    seed: Optional[int] = SeedOpt,
    model: Optional[str] = typer.Option(None, "--model", help="Initial policy = pi_ref (default embedded:base)."),
    task: Optional[str] = typer.Option(None, "--task"),
    template: Optional[str] = typer.Option(None, "--template", help="Prompt format: auto (default: the model's chat template when it has one) or plain; must match the store's."),
    data: Optional[str] = typer.Option(None, "--data", help="online (fresh rollouts, default) or offline (the store). A method that never samples always reads the store."),
    steps: Optional[int] = typer.Option(None, "--steps"),
    prompts_per_step: Optional[int] = typer.Option(None, "--prompts-per-step"),
    n: Optional[int] = typer.Option(None, "--n", help="Rollouts (offline: stored trajectories) per prompt."),
    mini_batches: Optional[int] = typer.Option(None, "--mini-batches", help="Optimizer steps per rollout batch (default: the method's default_mini_batches)."),
    lr: Optional[float] = typer.Option(None, "--lr"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Rollout length cap (default: the task's)."),
    full: Optional[bool] = typer.Option(None, "--full/--lora", help="Full fine-tuning instead of LoRA (default LoRA)."),
    method_arg: Optional[list[str]] = typer.Option(None, "--method-arg", metavar="KEY=VALUE", help="A method option key=value (repeatable); list them with --help-method."),
    help_method: bool = typer.Option(False, "--help-method", help="Print the options of --method (name, type, default, help) and exit."),
    beta: Optional[float] = typer.Option(None, "--beta", help="Same as --method-arg beta=V."),
    units: Optional[str] = typer.Option(None, "--units", help="Same as --method-arg units=V."),
    flowrl_variant: Optional[str] = typer.Option(None, "--flowrl-variant", help="Same as --method-arg variant=V."),
    kl_coef: Optional[float] = typer.Option(None, "--kl-coef", help="Same as --method-arg kl_coef=V."),
    loss_agg: Optional[str] = typer.Option(None, "--loss-agg", help="Same as --method-arg loss_agg=V."),
    clip_eps: Optional[float] = typer.Option(None, "--clip-eps", help="Same as --method-arg clip_eps=V."),
    clip_eps_high: Optional[float] = typer.Option(None, "--clip-eps-high", help="Same as --method-arg clip_eps_high=V."),
    sft_data: Optional[str] = typer.Option(None, "--sft-data", help="Same as --method-arg sft_data=V."),
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke or default: the run profile's training budget."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Rollout backend: hf (transformers, default) or vllm (needs the gpu extra; online rollouts; the LoRA is synced to it each step; single process, not with --full)."),
    save_every: Optional[int] = typer.Option(None, "--save-every", help="Steps between checkpoints in OUT/checkpoints (default: a tenth of the run; 0: only at the end). One is always written after the last step."),
    keep_checkpoints: Optional[int] = typer.Option(None, "--keep-checkpoints", help="Newest checkpoints kept (default 2)."),
    resume: Optional[bool] = typer.Option(None, "--resume/--no-resume", help="Continue from the newest checkpoint in OUT/checkpoints (an error if none fits). Default: continue when one of the same config is there, else start afresh; --no-resume always starts afresh."),
    report_to: str = typer.Option("none", "--report-to", help="Stream per-step metrics to none, tensorboard (OUT/tensorboard), wandb (OUT/wandb; offline unless WANDB_MODE says otherwise) or trackio. Each needs its extra: pip install 'disa-bench[tensorboard]'."),
):
    """Train a policy (LoRA by default) with one method on the shared engine.

    Checkpoints go to OUT/checkpoints/step-N; the same command again continues from the newest one (bitwise as if never stopped); Ctrl-C saves one and says how to resume (docs/resume.md).

    Method options go into the method config: [bold]--method-arg key=value[/] (repeatable; list them with [bold]--method M --help-method[/]); a YAML config may also set them under [bold]method_args:[/]. Multi-process: [bold]accelerate launch -m disa_bench.cli train ...[/]

    Example: [bold]disa-bench train --method disa --store runs/p/store.parquet --anchor runs/a/anchor.parquet --steps 100 --out runs/t[/]
    """
    import os

    from ..config import load_yaml, resolve
    from ..experiments.profiles import PROFILES
    from ..methods import get_method, method_config, parse_method_args
    from ..train import checkpoint, trackers
    from ..train.config import TrainConfig
    from ..train.engine import Trainer
    from ..train.resume import Interrupted
    from ..train.stage import train_stage

    if help_method:
        if method is None:
            raise UserError("--help-method needs --method NAME")
        print_method_options(get_method(method))
        return
    prof = {}
    if profile is not None:
        if profile not in PROFILES:
            raise UserError(f"unknown --profile {profile!r}; valid: {', '.join(PROFILES)}")
        from ..experiments.recipes import train_layer

        prof = train_layer(profile)  # a recipe profile (paper): the recipes' shared budget under its own
    legacy = dict(beta=beta, units=units, flowrl_variant=flowrl_variant, kl_coef=kl_coef, loss_agg=loss_agg,
                  clip_eps=clip_eps, clip_eps_high=clip_eps_high, sft_data=sft_data)
    method_args = {LEGACY_FLAGS[k]: v for k, v in legacy.items() if v is not None}
    yaml_cfg = load_yaml(config, "train")
    if method_args:
        method_args = {**(yaml_cfg.get("method_args") or {}), **method_args}
    cfg = resolve(TrainConfig, prof, yaml_cfg,
                  flags(method=method, store=store, anchor=anchor, seed=seed, model=model, task=task, template=template, data=data,
                         steps=steps, prompts_per_step=prompts_per_step, n=n, mini_batches=mini_batches, lr=lr,
                         max_new_tokens=max_new_tokens, full=full, backend=backend, method_args=method_args or None,
                         save_every=save_every, keep_checkpoints=keep_checkpoints),
                  where=config or "flags")
    cfg.check()
    method_cls = get_method(cfg.method)
    if method_arg:
        cfg.method_args = {**(cfg.method_args or {}), **parse_method_args(method_cls, method_arg)}
    method_cls(method_config(method_cls, cfg.method_args))  # an option the method lacks, or a bad value: one line, now
    trackers.check(report_to)  # a missing tracker package: one line, before any work
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    try:
        if rank != 0:  # accelerate / torchrun worker: trains in lockstep, writes nothing but its share of checkpoints
            import tempfile

            start = checkpoint.find(checkpoint.root(out), cfg, resume)
            t = Trainer(cfg, Path(tempfile.mkdtemp(prefix="disa-bench-rank")), ckpt_root=checkpoint.root(out),
                        resume_from=start)
            s = t.train()
            rank_line(rank, world, s)
            return
        s = train_stage(cfg, out, resume=resume, report_to=report_to,
                        say=lambda msg: console.print(msg, markup=False, soft_wrap=True))
    except Interrupted as e:
        if rank == 0:
            where = f"checkpoint {e.checkpoint}" if e.checkpoint else "no checkpoint"
            how = resume_command() if world == 1 else "the same launch command with --resume"
            print(f"interrupted by {signal_name(e.signum)} after step {e.step} of {e.steps} ({where}); resume with: {how}",
                  file=sys.stderr, flush=True)
        raise typer.Exit(e.exit_code)
    if world > 1:
        rank_line(rank, world, s)
    console.print(f"trained {s['method']} ({s['data_source']}) for {s['steps']} steps: reward {s['reward_first']:.3f} -> "
                     f"{s['reward_last']:.3f}; adapter at {out / 'adapter'}")


def signal_name(signum: int) -> str:
    import signal

    return signal.Signals(signum).name


def resume_command() -> str:
    """This command line with --resume (and without --no-resume), to paste."""
    import shlex

    args = [a for a in sys.argv[1:] if a not in ("--resume", "--no-resume")]
    prog = "disa-bench" if Path(sys.argv[0]).name in ("disa-bench", "__main__.py", "cli") else sys.argv[0]
    return shlex.join([prog, *args, "--resume"])


def print_method_options(method_cls) -> None:
    """The method's options as a plain table: field, type, default, help."""
    from ..methods import method_options

    rows = [(n, t, repr(d), h) for n, t, d, h in method_options(method_cls)]
    print(f"options of method {method_cls.name!r} (--method-arg key=value; YAML: method_args:)")
    head = ("option", "type", "default", "help")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    for r in [head] + rows:
        print(f"  {r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}".rstrip())
