"""Mean@k evaluation: exactly k samples per prompt, each scored by the task grader.

Truncated or unparsable samples score 0 and are never dropped. Reports Mean@k with a 95% bootstrap CI
over prompts, unbiased pass@k and maj@k, counts of truncated samples and grader errors, the sampling
params and the grader version; writes ``results.json`` and per-sample ``samples.jsonl``.
Default sampling follows methods.md §1.11 (T = 0.6, top_p = 0.95).

One task (``--task``) writes ``results.json`` + ``samples.jsonl`` at the top of the output dir. Several
(``--tasks math6,code3``) write ``<task>/results.json`` + ``<task>/samples.jsonl`` per task, a summary
``results.json`` (``{"tasks": {name: headline metrics}}``) and ``results.md`` (the console table).

Engines: ``ours`` (the project's rollout backend + grader) or ``lm-eval`` (lm_eval.simple_evaluate on the
generated ``disa_<task>`` YAML tasks; samples regraded with the same grader; see disa_bench/lmeval.py).
Rollout backend of engine ``ours`` (``--backend``): ``hf`` (transformers, the sampling loop in rollout/hf.py; default) or ``vllm`` (the model
and adapter are opened by vLLM; the HF model is never loaded). The lm-eval engine ignores ``--backend``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import UserError
from .metrics import summarize

ENGINES = ("ours", "lm-eval")


@dataclass
class EvalConfig:
    task: str = "countdown"
    tasks: str | None = None  # comma list of tasks and groups (math6, code3); overrides ``task``
    engine: str = "ours"  # ours or lm-eval
    model: str = "embedded:base"
    adapter: str | None = None
    k: int = 8
    temperature: float = 0.6  # methods.md §1.11 / §6 #12 (FlowRL eval settings)
    top_p: float = 0.95
    max_new_tokens: int | None = None  # task default
    n_prompts: int | None = 256  # None: every prompt of the split
    split: str = "test"
    seed: int = 0
    batch_size: int = 64  # prompts per generate call (x k sequences)
    backend: str = "hf"  # rollout backend of engine "ours": hf or vllm

    def check(self) -> None:
        from .rollout import check_backend

        if self.k < 1:
            raise UserError(f"--k must be >= 1, got {self.k}")
        if not self.temperature > 0:
            raise UserError(f"--temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be within (0, 1], got {self.top_p}")
        if self.engine not in ENGINES:
            raise UserError(f"unknown --engine {self.engine!r}; valid: {', '.join(ENGINES)}")
        if self.n_prompts is not None and self.n_prompts < 1:
            raise UserError(f"--n-prompts must be >= 1, got {self.n_prompts}")
        if self.engine == "ours":
            check_backend(self.backend)  # unknown name or vllm not installed: one line, before any work

    def task_list(self) -> list[str]:
        from .tasks.groups import expand_tasks

        return expand_tasks(self.tasks or self.task)


def grader_version(task) -> str:
    v = getattr(task, "grader_version", None)
    return v if isinstance(v, str) else f"{type(task).__module__}.{type(task).__name__}.grade"


def grade_all(task, pairs) -> list:
    """Grade ``(problem, response)`` pairs: the task's parallel ``grade_batch`` if it has one, else ``grade``."""
    if hasattr(task, "grade_batch"):
        return task.grade_batch(pairs)
    return [task.grade(p, r) for p, r in pairs]


def task_problems(task, cfg: EvalConfig, n_prompts_given: bool = True):
    """The eval prompts: ``cfg.n_prompts`` seeded ones, or the task's own default (benchmarks: all)."""
    n = cfg.n_prompts
    if not n_prompts_given and hasattr(task, "default_eval_prompts"):
        n = task.default_eval_prompts
    return task.problems(cfg.split, n, seed=cfg.seed)


def sampling_params(task, cfg: EvalConfig):
    from .types import SamplingParams

    return SamplingParams(n=cfg.k, temperature=cfg.temperature, top_p=cfg.top_p,
                          max_new_tokens=cfg.max_new_tokens or task.max_new_tokens, seed=cfg.seed)


def score_groups(task, problems, completions, cfg: EvalConfig, max_new_tokens: int, name: str | None = None,
                 engine: str = "ours") -> tuple[dict, list[dict]]:
    """Grade k completions per problem and aggregate. ``completions[i]`` is a list of k ``Completion``."""
    for p, group in zip(problems, completions):
        if len(group) != cfg.k:
            raise RuntimeError(f"{p.prompt_id}: got {len(group)} samples, expected exactly {cfg.k}")
    pairs = [(p, c.text) for p, group in zip(problems, completions) for c in group]
    flat = grade_all(task, pairs)
    samples, groups = [], []
    it = iter(flat)
    for p, group in zip(problems, completions):
        grades = [next(it) for _ in group]
        for j, (c, g) in enumerate(zip(group, grades)):
            samples.append({
                "prompt_id": p.prompt_id, "sample": j, "prompt": p.prompt,
                "response": c.text, "reward": g.reward, "answer": g.answer,
                "strategy": g.strategy, "verdict": g.verdict, "truncated": c.truncated,
                "num_tokens": c.num_tokens,
            })
        groups.append({"prompt_id": p.prompt_id, "rewards": [g.reward for g in grades],
                       "answers": [g.answer for g in grades], "truncated": [c.truncated for c in group],
                       "verdicts": [g.verdict for g in grades]})
    results = summarize(groups, cfg.k, seed=cfg.seed)
    results["per_prompt"] = {g["prompt_id"]: sum(r > 0 for r in g["rewards"]) / cfg.k for g in groups}
    results["sampling"] = {"k": cfg.k, "temperature": cfg.temperature, "top_p": cfg.top_p,
                           "max_new_tokens": max_new_tokens, "seed": cfg.seed}
    results["task"] = name or cfg.task
    results["split"] = cfg.split
    results["model"] = cfg.model
    results["adapter"] = cfg.adapter
    results["engine"] = engine
    results["backend"] = cfg.backend if engine == "ours" else None
    results["grader_version"] = grader_version(task)
    return results, samples


def evaluate_model(model, tokenizer, task, problems, cfg: EvalConfig, bar=None, backend=None,
                   name: str | None = None) -> tuple[dict, list[dict]]:
    """Sample and grade ``problems`` with ``backend`` (or ``cfg.backend`` built around ``model``)."""
    from .rollout import get_backend

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
    from .rollout import close_backend
    from .tasks import get_task

    cfg.check()
    if cfg.engine == "lm-eval":
        from .lmeval import run_lmeval

        out = run_lmeval(cfg, [cfg.task], n_prompts_given=n_prompts_given)[cfg.task]
        out[0]["config"] = asdict(cfg)
        return out
    task = get_task(cfg.task)
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
    from .rollout import close_backend
    from .tasks import get_task

    cfg.check()
    tasks = {n: get_task(n) for n in names}  # unknown names fail before the model loads
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
    from .rollout import open_backend

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


def eval_suite_stage(cfg: EvalConfig, names: list[str], out: Path, n_prompts_given: bool = True) -> dict:
    """Evaluate several tasks; write per-task results + samples, a summary results.json / results.md, a manifest."""
    from .io import staged_outputs, write_json, write_jsonl, write_text
    from .manifest import Manifest
    from .progress import bar

    m = Manifest("eval", asdict(cfg) | {"tasks_expanded": names}, cfg.seed)
    with staged_outputs(out) as tmp:
        with m.phase("eval"):
            res = run_suite(cfg, names, bar=bar, n_prompts_given=n_prompts_given)
        per_task = {n: headline(r, cfg.k) for n, (r, _) in res.items()}
        for n, (r, s) in res.items():
            write_json(tmp / n / "results.json", r)
            write_jsonl(tmp / n / "samples.jsonl", s)
        first = next(iter(res.values()))[0]
        summary = {"tasks": per_task, "k": cfg.k, "model": cfg.model, "adapter": cfg.adapter, "engine": cfg.engine,
                   "backend": cfg.backend if cfg.engine == "ours" else None,
                   "sampling": {key: v for key, v in first["sampling"].items() if key != "max_new_tokens"}
                   | {"max_new_tokens": {n: r["sampling"]["max_new_tokens"] for n, (r, _) in res.items()}},
                   "grader_versions": {n: r["grader_version"] for n, (r, _) in res.items()}}
        write_json(tmp / "results.json", summary)
        write_text(tmp / "results.md", markdown_table(per_task, cfg.k) + "\n")
        m.write(tmp, summary=summary)
    return summary
