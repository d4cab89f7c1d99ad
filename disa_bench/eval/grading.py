"""Grade k samples per prompt with the task grader and aggregate them into Mean@k results; shared by both engines
(ours in evaluate.py, lm-eval in lmeval.py)."""

from __future__ import annotations

from .config import EvalConfig
from .metrics import summarize


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
    from ..types import SamplingParams

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
