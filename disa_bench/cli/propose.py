"""``disa-bench propose``: sample K trajectories per prompt into the shared store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..progress import console
from .app import app, ConfigOpt, flags, SeedOpt, user_errors


@app.command()
@user_errors
def propose(
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/propose"), "--out", help="Output dir (store.parquet + manifest.json)."),
    seed: Optional[int] = SeedOpt,
    task: Optional[str] = typer.Option(None, help="Task name (default countdown)."),
    proposal: Optional[str] = typer.Option(None, help="Proposal model q_s: HF id, local path, or embedded:teacher."),
    ref: Optional[str] = typer.Option(None, help="Reference policy pi_ref (default embedded:base)."),
    proposal_mix: Optional[float] = typer.Option(None, "--proposal-mix", help="a in q_a = a q_s + (1-a) pi_ref, within [0, 1]."),
    k: Optional[int] = typer.Option(None, "--k", help="Trajectories per prompt (default 16)."),
    n_prompts: Optional[int] = typer.Option(None, "--n-prompts", help="Training prompts to cover."),
    temperature: Optional[str] = typer.Option(None, help="Proposal sampling temperature (top_p is always 1); a ladder "
                                              "'0.7,1.0,1.3' writes one store per rung under OUT/t{T}/ (see ladder.json)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    backend: Optional[str] = typer.Option(None, "--backend", help="Rollout backend: hf (transformers, default) or vllm (needs the gpu extra; densities are always scored with HF)."),
    template: Optional[str] = typer.Option(None, "--template", help="Prompt template: auto (default: --ref's chat template if its tokenizer has one), plain, chat or hf:TOKENIZER."),
):
    """Sample K trajectories per prompt from a proposal into the shared trajectory store.

    Example: [bold]disa-bench propose --k 16 --n-prompts 512 --proposal-mix 0.5 --out runs/p[/]
    """
    from ..config import load_yaml, resolve
    from ..store.propose import ProposeConfig
    from ..store.stage import propose_stage

    cfg = resolve(ProposeConfig, load_yaml(config, "propose"),
                  flags(seed=seed, task=task, proposal=proposal, ref=ref, proposal_mix=proposal_mix, k=k,
                         n_prompts=n_prompts, temperature=temperature, max_new_tokens=max_new_tokens, backend=backend,
                         template=template),
                  where=config or "flags")
    cfg.check()
    info = propose_stage(cfg, out)
    for rung in info.get("ladder", []):
        console.print(f"T={rung['temperature']:g}: wrote {rung['store']}: {rung['trajectories']} trajectories, "
                         f"success rate {100 * rung['success_rate']:.1f}%")
    if "ladder" not in info:
        console.print(f"wrote {out / 'store.parquet'}: {info['trajectories']} trajectories, "
                         f"{info['prompts']} prompts, success rate {100 * info['success_rate']:.1f}%")
