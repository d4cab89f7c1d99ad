"""``disa-bench judge``: strategy-level diversity of the k samples per problem of eval dirs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .app import app, user_errors


@app.command()
@user_errors
def judge(
    run_dirs: List[Path] = typer.Argument(..., metavar="RUN_DIR...", help="Eval dirs (with samples.jsonl) or pipeline run dirs (eval/*/)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default RUN_DIR/judge/; one sub-dir per eval dir when several)."),
    judge_base_url: Optional[str] = typer.Option(None, "--judge-base-url", help="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 or http://localhost:8000/v1. Without it only offline measures are computed."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Judge model name at that endpoint."),
    judge_api_key_env: str = typer.Option("OPENAI_API_KEY", "--judge-api-key-env", help="Environment variable holding the API key (never logged)."),
    judge_temperature: float = typer.Option(0.0, "--judge-temperature"),
    judge_max_tokens: int = typer.Option(1024, "--judge-max-tokens"),
    judge_timeout: float = typer.Option(120.0, "--judge-timeout", help="Seconds per HTTP attempt."),
    judge_max_attempts: int = typer.Option(4, "--judge-max-attempts", help="Attempts per problem (exponential backoff on 429/5xx/timeouts/malformed JSON)."),
    judge_backoff: float = typer.Option(2.0, "--judge-backoff", help="Seconds before the first retry; doubles each retry."),
    judge_max_chars: int = typer.Option(8000, "--judge-max-chars", help="Per-solution character cap (head 2/3 + tail 1/3 kept)."),
    judge_concurrency: int = typer.Option(4, "--judge-concurrency", help="Problems judged in parallel."),
    judge_view: str = typer.Option("correct", "--judge-view", help="Samples the LLM judge rates: correct (reward > 0; the claims' view), all, or both (two calls per problem)."),
    judge_json_mode: bool = typer.Option(True, "--judge-json-mode/--no-judge-json-mode", help="Send response_format=json_object (turn off for endpoints without it)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Judge cache (default $DISA_BENCH_HOME/judge-cache)."),
):
    """Strategy-level diversity of the k samples per problem: offline measures, plus an LLM judge when configured.

    Writes judge.jsonl, summary.json and manifest.json into RUN_DIR/judge/.

    Example: [bold]disa-bench judge runs/e --judge-base-url http://localhost:8000/v1 --judge-model Qwen/Qwen2.5-7B-Instruct[/]
    """
    from ..errors import UserError
    from ..judge import find_eval_dirs, run_judge
    from ..judge.llm import JudgeConfig
    from ..progress import console

    cfg = JudgeConfig(base_url=judge_base_url, model=judge_model, api_key_env=judge_api_key_env,
                      temperature=judge_temperature, max_tokens=judge_max_tokens, timeout=judge_timeout,
                      max_attempts=judge_max_attempts, backoff=judge_backoff, max_chars=judge_max_chars,
                      concurrency=judge_concurrency, json_mode=judge_json_mode, view=judge_view,
                      cache_dir=str(cache_dir) if cache_dir else None)
    cfg.check()
    evals = [e for d in run_dirs for e in find_eval_dirs(d)]
    if len(set(evals)) != len(evals):
        raise UserError("the same eval dir was given twice")
    for e in evals:
        if out is None:
            dest = e / "judge"
        elif len(evals) == 1:
            dest = out
        else:
            dest = out / "-".join(e.resolve().parts[-2:])
        s = run_judge(e, dest, cfg, warn=lambda msg: print(msg, file=sys.stderr))
        off, sol = s["offline"]["all"], s["solution"]
        line = (f"{e}: {s['problems']} problems; solution coverage {_f(sol['solution_coverage'])}, correct-strategy "
                f"entropy (m={sol['m']}) {_f(sol['correct_entropy'])}; all samples: distinct strategies "
                f"{_f(off.get('distinct_strategies'))}, answers {_f(off.get('distinct_answers'))}, distinct-4 {_f(off.get('distinct_4'))}")
        llm = s["llm"]
        line += (f"; judge score ({llm['view']} samples) {_f(llm['score_mean'])} ({llm['judged']} judged, {llm['missing']} missing)"
                 if llm["configured"] else "; LLM judge not configured")
        console.print(line + f" -> {dest}")


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"
