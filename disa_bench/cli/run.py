"""``disa-bench run``: the whole paper run on the embedded default."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..progress import console
from .app import _interrupted, app, ConfigOpt, flags, SeedOpt, user_errors


@app.command()
@user_errors
def run(
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke (about a minute), default (the full embedded paper run), paper (the paper's setting on math-train with real models: needs a GPU, docs/scale-out.md) or paper-smoke (the same pipeline on CPU with the tiny Qwen2)."),
    model: Optional[str] = typer.Option(None, "--model", help="The policy and pi_ref of every stage (HF id or local dir); default: the profile's (embedded:base; paper: the baselines/gpu recipes' model)."),
    proposal: Optional[str] = typer.Option(None, "--proposal", help="A stronger proposal model q_s sharing --model's tokenizer (needs --model); default with --model: the model itself (proposal mix 0)."),
    config: Optional[str] = ConfigOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default runs/embedded-PROFILE)."),
    seed: Optional[int] = SeedOpt,
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma list of rows to train: methods or variants (disa-offline, flowrl-exact, disa-ln; more under variants: in --config). Default: every registered method; per-method options: method_args in --config."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Comma list of training seeds: every row is trained and evaluated once per seed on the same store and anchor (train/ROW/seedS/). Default: --seed."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Train and evaluate the independent (row, seed) jobs in this many worker processes, the cores split evenly between them (default: the profile's). The numbers do not depend on it."),
    tune: bool = typer.Option(False, "--tune", help="Tune each row's lr in this run first (disa-bench tune's grid on the val split) and train with the chosen lrs."),
    tuning: Optional[str] = typer.Option(None, "--tuning", help="Where each row's lr comes from without --tune: committed (default: the profile's committed tuning, if it has one), none (the profile's one shared lr) or a tune.json."),
    sweep: Optional[bool] = typer.Option(None, "--sweep/--no-sweep", help="Run the β × proposal-strength sweep (default on)."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="OpenAI-compatible endpoint for the LLM diversity judge (default: offline measures only)."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Judge model name at that endpoint."),
    judge_api_key_env: Optional[str] = typer.Option(None, "--judge-api-key-env", help="Environment variable holding the judge API key (default OPENAI_API_KEY; never logged)."),
    resume: bool = typer.Option(False, "--resume", help="Skip the stages already done with the same config, continue a cut-short training from its checkpoint, re-run what changed and everything downstream."),
    report_to: str = typer.Option("none", "--report-to", help="Stream training metrics and eval results to none, tensorboard (OUT/tensorboard), wandb (OUT/wandb; offline unless WANDB_MODE says otherwise) or trackio."),
):
    """The paper's comparison on the embedded default, ending in a paper-style report.

    base models -> shared proposal store -> anchor -> eval base -> train + eval every method (same budget) -> judge -> sweep -> report/ (report.md, .tex, .html, .json, figures/)

    A --config YAML may give method options: [bold]train: {method_args: {...}}[/] for every method, [bold]method_args: {NAME: {...}}[/] for one.

    Example: [bold]disa-bench run --profile smoke[/]
    """
    from ..experiments.pipeline import load_run_config, run_pipeline
    from ..train.resume import Interrupted
    from .train import resume_command, signal_name

    if tune and tuning is not None:
        from ..errors import UserError

        raise UserError(f"--tune (tune now) and --tuning {tuning} (use a given tuning) exclude each other")
    judge = {k: v for k, v in {"base_url": judge_base_url, "model": judge_model, "api_key_env": judge_api_key_env}.items()
             if v is not None}
    cfg = load_run_config(config, flags(profile=profile, model=model, proposal=proposal, seed=seed, methods=methods, seeds=seeds, workers=workers, sweep_enabled=sweep,
                                           tune="run" if tune else tuning))
    if judge:
        cfg.judge = dict(cfg.judge) | judge
    out = out or Path(f"runs/{'' if cfg.profile.startswith('paper') else 'embedded-'}{cfg.profile}")
    try:
        report = run_pipeline(cfg, out, console=console, resume=resume, report_to=report_to)
    except Interrupted as e:
        print(f"interrupted by {signal_name(e.signum)} in training after step {e.step} of {e.steps}; resume with: "
              f"{resume_command()}", file=sys.stderr, flush=True)
        raise typer.Exit(e.exit_code)
    except BaseException as e:
        if not _interrupted(e):
            raise
        print(f"interrupted; resume with: {resume_command()}", file=sys.stderr, flush=True)
        raise typer.Exit(130)
    console.print(f"report: {report}", markup=False)
    print(report.read_text())
