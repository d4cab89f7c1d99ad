"""Mean@k evaluation: exactly k samples per prompt, each scored by the task grader.

Truncated or unparsable samples score 0 and are never dropped. Reports Mean@k with a 95% bootstrap CI
over prompts, unbiased pass@k and maj@k, counts of truncated samples and grader errors, the sampling
params and the grader version; writes ``results.json`` and per-sample ``samples.jsonl``.
Default sampling follows methods.md §1.11 (T = 0.6, top_p = 0.95).

One task (``--task``) writes ``results.json`` + ``samples.jsonl`` at the top of the output dir. Several
(``--tasks math6,code3``) write ``<task>/results.json`` + ``<task>/samples.jsonl`` per task, a summary
``results.json`` (``{"tasks": {name: headline metrics}}``) and ``results.md`` (the console table).

Engines: ``ours`` (the project's rollout backend + grader) or ``lm-eval`` (lm_eval.simple_evaluate on the
generated ``disa_<task>`` YAML tasks; samples regraded with the same grader; see eval/lmeval.py).
Rollout backend of engine ``ours`` (``--backend``): ``hf`` (transformers, the sampling loop in rollout/hf.py; default) or ``vllm`` (the model
and adapter are opened by vLLM; the HF model is never loaded). The lm-eval engine ignores ``--backend``.
Prompts: the task's, rendered for ``cfg.model`` (``--template``, default ``auto``: the model's own chat template
when its tokenizer has one; tasks/prompts.py), as propose and train render them; both engines see that text.
"""

from __future__ import annotations

from dataclasses import asdict

from .config import EvalConfig
from .grading import sampling_params, score_groups, task_problems

def evaluate_model(model, tokenizer, task, problems, cfg: EvalConfig, bar=None, backend=None,
                   name: str | None = None) -> tuple[dict, list[dict]]:
    """Sample and grade ``problems`` with ``backend`` (or ``cfg.backend`` built around ``model``)."""
    from ..rollout import get_backend

    params = sampling_params(task, cfg)
    backend = backend or get_backend(cfg.backend, model, tokenizer, batch_size=cfg.batch_size)
    label = name or cfg.task
    if bar:
        with bar(f"eval {label}: {len(problems)} prompts x {cfg.k}", len(problems)) as adv:
            completions = backend.generate([p.prompt for p in problems], params, progress=adv)
    else:
        completions = backend.generate([p.prompt for p in problems], params)
    return score_groups(task, problems, completions, cfg, params.max_new_tokens, name=label)


def run_eval(cfg: EvalConfig, bar=None, n_prompts_given: bool = True) -> tuple[dict, list[dict]]:
    """One task (``cfg.task``), engine ``cfg.engine``."""
    from ..rollout import close_backend
    from ..tasks import get_task

    cfg.check()
    if cfg.engine == "lm-eval":
        from .lmeval import run_lmeval

        out = run_lmeval(cfg, [cfg.task], n_prompts_given=n_prompts_given)[cfg.task]
        out[0]["config"] = asdict(cfg)
        return out
    task = get_task(cfg.task, model=cfg.model, template=cfg.template)
    problems = task_problems(task, cfg, n_prompts_given)
    backend = _open(cfg)
    try:
        results, samples = evaluate_model(None, None, task, problems, cfg, bar=bar, backend=backend)
    finally:
        close_backend(backend)
    results["config"] = asdict(cfg)
    return results, samples


def run_suite(cfg: EvalConfig, names: list[str], bar=None, n_prompts_given: bool = True) -> dict[str, tuple[dict, list[dict]]]:
    """Several tasks with one loaded model: ``{task: (results, samples)}``."""
    from ..rollout import close_backend
    from ..tasks import get_task

    cfg.check()
    tasks = {n: get_task(n, model=cfg.model, template=cfg.template) for n in names}  # unknown names fail early
    if cfg.engine == "lm-eval":
        from .lmeval import run_lmeval

        out = run_lmeval(cfg, names, n_prompts_given=n_prompts_given)
    else:
        problems = {n: task_problems(t, cfg, n_prompts_given) for n, t in tasks.items()}
        backend = _open(cfg)
        try:
            out = {n: evaluate_model(None, None, tasks[n], problems[n], cfg, bar=bar, backend=backend, name=n)
                   for n in names}
        finally:
            close_backend(backend)
    for n in names:
        out[n][0]["config"] = asdict(cfg) | {"task": n}
    return out


def _open(cfg: EvalConfig):
    """The rollout backend on ``cfg.model`` (+ ``cfg.adapter``): hf loads the HF model, vllm opens its engine."""
    from ..rollout import open_backend

    return open_backend(cfg.backend, cfg.model, adapter=cfg.adapter, batch_size=cfg.batch_size)


HEADLINE = ("num_prompts", "num_samples", "truncated", "grader_errors", "grader_version", "engine")


def headline(results: dict, k: int) -> dict:
    keys = (f"mean@{k}", f"mean@{k}_ci", f"pass@{k}", f"maj@{k}") + HEADLINE
    return {key: results.get(key) for key in keys}


def markdown_table(per_task: dict[str, dict], k: int) -> str:
    """One row per task: Mean@k ± half CI, the CI, pass@k, maj@k, truncated and grader-error counts."""
    lines = [f"| task | prompts | Mean@{k} | 95% CI | pass@{k} | maj@{k} | truncated | grader errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in per_task.items():
        m, (lo, hi) = r[f"mean@{k}"], r[f"mean@{k}_ci"]
        lines.append(f"| {name} | {r['num_prompts']} | {m:.1f} ± {(hi - lo) / 2:.1f} | [{lo:.1f}, {hi:.1f}] | "
                     f"{r[f'pass@{k}']:.1f} | {r[f'maj@{k}']:.1f} | {r['truncated']}/{r['num_samples']} | "
                     f"{r['grader_errors']} |")
    return "\n".join(lines)
