"""``disa-bench store``: import completions you already have into a trajectory store; describe a store."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..progress import console
from .app import app, user_errors

store_app = typer.Typer(no_args_is_help=True, rich_markup_mode="rich",
                        help="The trajectory store: import external completions ([bold]import[/]), inspect one ([bold]info[/]).")
app.add_typer(store_app, name="store")


@store_app.command("import")
@user_errors
def import_(
    source: str = typer.Argument(..., help="JSON lines or Parquet file, a datasets dir, or an HF dataset id org/name[:split]."),
    task: str = typer.Option(..., "--task", help="Task the prompts belong to (e.g. countdown)."),
    proposal: str = typer.Option(..., "--proposal", help="Model the completions were sampled from (at temperature 1): HF id, path or embedded:teacher."),
    ref: str = typer.Option("embedded:base", "--ref", help="Reference policy pi_ref."),
    out: Path = typer.Option(Path("runs/import"), "--out", help="Output dir (store.parquet + manifest.json)."),
    split: str = typer.Option("train", "--split", help="Task split of the prompts (offline training needs train)."),
    seed: int = typer.Option(0, "--seed", help="Recorded in the store's seed column."),
    batch_size: int = typer.Option(128, "--batch-size", help="Sequences per teacher-forced scoring pass."),
):
    """Turn a file of completions into a standard trajectory store: grade, tokenize, teacher-force densities.

    Rows: [bold]{"prompt" or "prompt_id", "completion"}[/] with optional "reward" (kept only where the grader agrees),
    "logprobs" (per token: the behaviour log-probs) and "truncated". IS weights and anchors are exact only when
    the completions really were sampled from --proposal at temperature 1 (docs/store.md).

    Example: [bold]disa-bench store import completions.jsonl --task countdown --proposal embedded:teacher --out runs/imp[/]
    """
    from ..store.importer import ImportConfig, import_stage

    from ..config import check_values
    from ..io import check_out_dir

    cfg = ImportConfig(source=source, task=task, proposal=proposal, ref=ref, split=split, seed=seed, batch_size=batch_size)
    check_values(cfg)  # --seed within [0, 2**32 - 1]
    cfg.check()
    check_out_dir(out)
    info = import_stage(cfg, out)
    for w in info["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", soft_wrap=True, highlight=False)
    if info["behavior_from_file"]:
        console.print(f"behaviour log-probs from the file for {info['behavior_from_file']} rows; max |given - teacher-forced "
                      f"proposal| = {info['max_abs_logprob_diff']:.3g} nats per token", soft_wrap=True, highlight=False)
    console.print(f"wrote {out / 'store.parquet'}: {info['trajectories']} trajectories, {info['prompts']} prompts, "
                  f"success rate {100 * info['success_rate']:.1f}%", soft_wrap=True, highlight=False)


@store_app.command("info")
@user_errors
def info(
    store: Path = typer.Argument(..., help="store.parquet (or the dir holding it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
):
    """Counts, k per prompt, success rate, coverage, the schema check and the store's proposal config.

    Exit status 1 when the store fails validation (the counts are still printed).

    Example: [bold]disa-bench store info runs/p/store.parquet[/]
    """
    from ..store.info import describe

    d = describe(store)
    if as_json:
        typer.echo(json.dumps(d, indent=2))
    else:
        typer.echo(_text(d))
    if not d["schema"]["ok"]:
        raise typer.Exit(1)


def _text(d: dict) -> str:
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    lines = [f"store:         {d['store']}"]
    lines.append(f"task:          {d['task']}   proposal: {d['proposal']}   ref: {d['ref']}   (made by {d['made_by']})")
    if d.get("source"):
        lines.append(f"source:        {d['source']}")
    lines.append(f"trajectories:  {d['trajectories']}")
    if "prompts" in d:
        k = d["k"]
        lines.append(f"prompts:       {d['prompts']}")
        if k:
            lines.append(f"k per prompt:  min {k['min']}, median {k['median']:g}, max {k['max']}")
    if "success_rate" in d:
        lines.append(f"success rate:  {pct(d['success_rate'])} of trajectories correct (reward > 0), mean reward "
                     f"{d['mean_reward']:.4f}")
        lines.append(f"coverage:      {pct(d['coverage'])} of prompts have a correct trajectory")
    if "mean_tokens" in d:
        lines.append(f"mean tokens:   {d['mean_tokens']:.1f}")
    s = d["schema"]
    lines.append(f"schema:        {'ok' if s['ok'] else 'INVALID: ' + s['error']} (version {s['version']})")
    return "\n".join(lines)
