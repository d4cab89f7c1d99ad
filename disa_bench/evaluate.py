"""Mean@k evaluation: exactly k samples per prompt, each scored by the task grader.

Truncated or unparsable samples score 0 and are never dropped. Reports Mean@k with a 95% bootstrap CI
over prompts, unbiased pass@k and maj@k; writes ``results.json`` and per-sample ``samples.jsonl``.
Default sampling follows methods.md §1.11 (T = 0.6, top_p = 0.95).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import UserError
from .metrics import summarize


@dataclass
class EvalConfig:
    task: str = "countdown"
    model: str = "embedded:base"
    adapter: str | None = None
    k: int = 8
    temperature: float = 0.6  # methods.md §1.11 / §6 #12 (FlowRL eval settings)
    top_p: float = 0.95
    max_new_tokens: int | None = None  # task default
    n_prompts: int = 256
    split: str = "test"
    seed: int = 0
    batch_size: int = 64  # prompts per generate call (x k sequences)
    backend: str = "hf"

    def check(self) -> None:
        if self.k < 1:
            raise UserError(f"--k must be >= 1, got {self.k}")
        if not self.temperature > 0:
            raise UserError(f"--temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be within (0, 1], got {self.top_p}")


def evaluate_model(model, tokenizer, task, problems, cfg: EvalConfig, bar=None, backend=None) -> tuple[dict, list[dict]]:
    from .rollout import get_backend
    from .rollouts import sample_and_grade
    from .types import SamplingParams

    params = SamplingParams(n=cfg.k, temperature=cfg.temperature, top_p=cfg.top_p,
                            max_new_tokens=cfg.max_new_tokens or task.max_new_tokens, seed=cfg.seed)
    backend = backend or get_backend(cfg.backend, model, tokenizer, batch_size=cfg.batch_size)
    if bar:
        with bar(f"eval {cfg.task}: {len(problems)} prompts x {cfg.k}", len(problems)) as adv:
            graded = sample_and_grade(backend, task, problems, params, progress=adv)
    else:
        graded = sample_and_grade(backend, task, problems, params)
    samples, groups = [], []
    for group in graded:
        if len(group) != cfg.k:
            raise RuntimeError(f"backend returned {len(group)} samples, expected exactly {cfg.k}")
        for j, g in enumerate(group):
            samples.append({
                "prompt_id": g.problem.prompt_id, "sample": j, "prompt": g.problem.prompt,
                "response": g.completion.text, "reward": g.grade.reward, "answer": g.grade.answer,
                "strategy": g.grade.strategy, "verdict": g.grade.verdict, "truncated": g.completion.truncated,
                "num_tokens": g.completion.num_tokens,
            })
        groups.append({"prompt_id": group[0].problem.prompt_id, "rewards": [g.grade.reward for g in group],
                       "answers": [g.grade.answer for g in group], "truncated": [g.completion.truncated for g in group],
                       "verdicts": [g.grade.verdict for g in group]})
    results = summarize(groups, cfg.k, seed=cfg.seed)
    results["per_prompt"] = {g["prompt_id"]: sum(r > 0 for r in g["rewards"]) / cfg.k for g in groups}
    results["sampling"] = {"k": cfg.k, "temperature": cfg.temperature, "top_p": cfg.top_p,
                           "max_new_tokens": params.max_new_tokens, "seed": cfg.seed}
    results["task"] = cfg.task
    results["split"] = cfg.split
    results["model"] = cfg.model
    results["adapter"] = cfg.adapter
    return results, samples


def run_eval(cfg: EvalConfig, bar=None) -> tuple[dict, list[dict]]:
    from .models import load_model
    from .tasks import get_task

    cfg.check()
    task = get_task(cfg.task)
    problems = task.problems(cfg.split, cfg.n_prompts, seed=cfg.seed)
    loaded = load_model(cfg.model, adapter=cfg.adapter)
    results, samples = evaluate_model(loaded.model, loaded.tokenizer, task, problems, cfg, bar=bar)
    results["config"] = asdict(cfg)
    return results, samples
