"""``disa-bench eval``: Mean@k of a model or adapter on one or more tasks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..progress import console
from .app import app, ConfigOpt, flags, SeedOpt, user_errors


@app.command("eval")
@user_errors
def eval_cmd(
    model: Optional[str] = typer.Option(None, "--model", help="HF id, local path or embedded:base (default)."),
    adapter: Optional[str] = typer.Option(None, "--adapter", help="peft adapter dir on top of --model (e.g. runs/t/adapter)."),
    task: Optional[str] = typer.Option(None, "--task"),
    tasks: Optional[str] = typer.Option(None, "--tasks", help="Several tasks and groups, e.g. math6,code3,gsm8k (per-task results under OUT/<task>/)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="ours (default) or lm-eval (lm_eval.simple_evaluate, same grader)."),
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/eval"), "--out", help="Output dir (results.json, samples.jsonl, manifest.json)."),
    seed: Optional[int] = SeedOpt,
    k: Optional[int] = typer.Option(None, "--k", help="Samples per prompt (default 8): Mean@k."),
    n_prompts: Optional[int] = typer.Option(None, "--n-prompts", help="Prompts per task (default 256; benchmarks: all)."),
    split: Optional[str] = typer.Option(None, "--split", help="test (default), train, or val (held out for tuning: disa-bench tune; Countdown)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Default 0.6."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Default 0.95."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    backend: Optional[str] = typer.Option(None, "--backend", help="Rollout backend: hf (transformers, default) or vllm (needs the gpu extra; engine ours only)."),
    force: bool = typer.Option(False, "--force", help="Load --adapter even when it was trained on another model than --model (a warning instead of an error)."),
    template: Optional[str] = typer.Option(None, "--template", help="Prompt template: auto (default: the model's chat template if its tokenizer has one), plain, chat or hf:TOKENIZER."),
):
    """Mean@k (default k = 8) with a 95% bootstrap CI, pass@k and maj@k of a model or adapter on one or more tasks.

    Example: [bold]disa-bench eval --adapter runs/t/adapter --k 8 --out runs/e[/]
    or [bold]disa-bench eval --model Qwen/Qwen2.5-Math-1.5B --tasks math6,code3 --k 8 --out runs/e[/]
    """
    from ..config import load_yaml, resolve
    from ..eval.config import EvalConfig
    from ..io import check_out_dir
    from ..models import check_adapter
    from ..eval.evaluate import headline, markdown_table
    from ..eval.stage import eval_stage, eval_suite_stage
    from ..tasks import get_task

    yaml_cfg = load_yaml(config, "eval")
    cfg = resolve(EvalConfig, yaml_cfg,
                  flags(model=model, adapter=adapter, task=task, tasks=tasks, engine=engine, seed=seed, k=k,
                         n_prompts=n_prompts, split=split, temperature=temperature, top_p=top_p,
                         max_new_tokens=max_new_tokens, backend=backend, template=template), where=config or "flags")
    cfg.check()
    if cfg.adapter:
        check_adapter(cfg.adapter, cfg.model, force, warn=lambda line: print(line, file=sys.stderr))
    check_out_dir(out)
    names = cfg.task_list()
    given = n_prompts is not None or yaml_cfg.get("n_prompts", yaml_cfg.get("n-prompts")) is not None
    if len(names) == 1:
        cfg.task, cfg.tasks = names[0], None
        t = get_task(cfg.task)
        if not given and hasattr(t, "default_eval_prompts"):
            cfg.n_prompts = t.default_eval_prompts
        r = eval_stage(cfg, out)
        typer.echo(markdown_table({cfg.task: headline(r, cfg.k)}, cfg.k))
        lo, hi = r[f"mean@{cfg.k}_ci"]
        console.print(f"{cfg.task}: Mean@{cfg.k} = {r[f'mean@{cfg.k}']:.1f} [95% CI {lo:.1f}, {hi:.1f}], "
                         f"pass@{cfg.k} = {r[f'pass@{cfg.k}']:.1f} over {r['num_prompts']} prompts -> {out / 'results.json'}")
        return
    s = eval_suite_stage(cfg, names, out, n_prompts_given=given)
    typer.echo(markdown_table(s["tasks"], cfg.k))
    console.print(f"{len(names)} tasks ({cfg.engine}) -> {out / 'results.json'} and {out}/<task>/results.json")
