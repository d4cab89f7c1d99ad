"""``disa-bench sweep``: anchor error / ESS (and optionally Mean@8) over a grid of proposal strength α and β."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, user_errors


@app.command()
@user_errors
def sweep(
    beta: str = typer.Option("1,2,5,10", "--beta", help="Comma list of inverse temperatures beta."),
    proposal_mix: str = typer.Option("0,0.25,0.5,0.75,1", "--proposal-mix", help="Comma list of proposal strengths a in [0, 1]."),
    out: Path = typer.Option(Path("runs/sweep"), "--out", help="Output dir (sweep.json, sweep.md, sweep.png, stage dirs)."),
    task: str = typer.Option("countdown", "--task", help="Task (an enumerable enum-* task gives the exact log Z reference)."),
    proposal: str = typer.Option("embedded:teacher", "--proposal", help="Strong proposal q_s."),
    ref: str = typer.Option("embedded:base", "--ref", help="Reference policy pi_ref."),
    k: int = typer.Option(16, "--k", help="Proposals per prompt."),
    n_prompts: int = typer.Option(16, "--n-prompts", help="Training prompts per store."),
    ref_k: int = typer.Option(128, "--ref-k", help="Non-enumerable tasks: samples per prompt of the q = pi_ref reference store."),
    estimator: str = typer.Option("snis", "--estimator", help="snis or is."),
    units: str = typer.Option("exact", "--units", help="exact or ln (no reference log Z in ln units)."),
    bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples of each anchor CI."),
    temperature: float = typer.Option(1.0, "--temperature", help="Proposal sampling temperature."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    train_steps: int = typer.Option(0, "--train-steps", help="N > 0: a short DISA training + Mean@8 eval per cell."),
    prompts_per_step: int = typer.Option(8, "--prompts-per-step", help="With --train-steps."),
    n: int = typer.Option(8, "--n", help="With --train-steps: rollouts per prompt."),
    lr: float = typer.Option(5e-4, "--lr", help="With --train-steps."),
    eval_prompts: int = typer.Option(32, "--eval-prompts", help="With --train-steps: held-out prompts for Mean@8."),
    seed: int = typer.Option(0, "--seed"),
):
    """Bias–variance sweep over proposal strength and beta: one store per a, one anchor per (a, beta); anchor error
    against the exact (enumerable tasks) or a large-K q = pi_ref reference, mean ESS/K, coverage; with
    --train-steps also Mean@8 and diversity per cell.

    Example: [bold]disa-bench sweep --beta 1,5,10 --proposal-mix 0,0.5,1 --out runs/sweep[/]
    """
    from ..progress import console
    from ..config import check_values
    from ..errors import UserError
    from ..experiments.sweep import SweepConfig, run_sweep
    from ..io import check_out_dir

    cfg = SweepConfig(task=task, proposal=proposal, ref=ref, betas=beta, alphas=proposal_mix, k=k, n_prompts=n_prompts,
                      ref_k=ref_k, estimator=estimator, units=units, bootstrap=bootstrap, temperature=temperature,
                      max_new_tokens=max_new_tokens, train_steps=train_steps, prompts_per_step=prompts_per_step, n=n,
                      lr=lr, eval_prompts=eval_prompts, seed=seed)
    check_values(cfg)  # NaN/inf numbers, --seed range
    cfg.check()
    if max_new_tokens is not None and max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be >= 1 (leave it out for the task's default), got {max_new_tokens}")
    check_out_dir(out)
    res = run_sweep(cfg, out, say=lambda s: console.print(s, markup=False))
    console.print(f"{len(res['cells'])} cells ({len(cfg.alphas)} α × {len(cfg.betas)} β), reference "
                  f"{res['reference']['kind']} -> {out / 'sweep.json'}, {out / 'sweep.md'}, {out / 'sweep.png'}", markup=False)
