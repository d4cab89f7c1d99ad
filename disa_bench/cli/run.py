"""``disa-bench run``: the whole paper run on the embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..progress import console
from .app import app, ConfigOpt, flags, SeedOpt, user_errors


@app.command()
@user_errors
def run(
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke (about a minute) or default (the full embedded paper run)."),
    config: Optional[str] = ConfigOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default runs/embedded-PROFILE)."),
    seed: Optional[int] = SeedOpt,
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma list of methods to train (default: every registered method; per-method options: method_args in --config)."),
    sweep: Optional[bool] = typer.Option(None, "--sweep/--no-sweep", help="Run the β × proposal-strength sweep (default on)."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="OpenAI-compatible endpoint for the LLM diversity judge (default: offline measures only)."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Judge model name at that endpoint."),
    judge_api_key_env: Optional[str] = typer.Option(None, "--judge-api-key-env", help="Environment variable holding the judge API key (default OPENAI_API_KEY; never logged)."),
):
    """The paper's comparison on the embedded default, ending in a paper-style report.

    base models -> shared proposal store -> anchor -> eval base -> train + eval every method (same budget) -> judge -> sweep -> report/ (report.md, .tex, .html, .json, figures/)

    A --config YAML may give method options: [bold]train: {method_args: {...}}[/] for every method, [bold]method_args: {NAME: {...}}[/] for one.

    Example: [bold]disa-bench run --profile smoke[/]
    """
    from ..experiments.pipeline import load_run_config, run_pipeline

    judge = {k: v for k, v in {"base_url": judge_base_url, "model": judge_model, "api_key_env": judge_api_key_env}.items()
             if v is not None}
    cfg = load_run_config(config, flags(profile=profile, seed=seed, methods=methods, sweep_enabled=sweep))
    if judge:
        cfg.judge = dict(cfg.judge) | judge
    out = out or Path(f"runs/embedded-{cfg.profile}")
    report = run_pipeline(cfg, out, console=console)
    console.print(f"report: {report}", markup=False)
    print(report.read_text())
