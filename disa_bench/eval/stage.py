"""The eval stage: Mean@k of a model or adapter on one task; writes ``results.json``, ``samples.jsonl`` and a manifest
(staged, then moved). The CLI's ``eval`` and ``disa-bench run`` call it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..io import staged_outputs, write_json, write_jsonl, write_text
from ..manifest import Manifest
from ..progress import bar
from .config import EvalConfig

def eval_stage(cfg: EvalConfig, out: Path) -> dict:
    """One task, or with ``cfg.tasks`` naming several (``math6,code3``) the suite (:func:`eval_suite_stage`, every
    prompt count as given: ``n_prompts`` None = all of each benchmark)."""
    from .evaluate import run_eval

    if cfg.tasks:
        names = cfg.task_list()
        if len(names) > 1:
            return eval_suite_stage(cfg, names, out)

    m = Manifest("eval", asdict(cfg), cfg.seed)
    with staged_outputs(out, replace=True) as tmp:  # a re-used dir holds only this run's files
        with m.phase("eval"):
            results, samples = run_eval(cfg, bar=bar)
        write_json(tmp / "results.json", results)
        write_jsonl(tmp / "samples.jsonl", samples)
        m.write(tmp, summary={k: v for k, v in results.items() if k not in ("per_prompt",)})
    return results


def eval_suite_stage(cfg: EvalConfig, names: list[str], out: Path, n_prompts_given: bool = True) -> dict:
    """Evaluate several tasks; write per-task results + samples, a summary results.json / results.md, a manifest."""
    from .evaluate import headline, markdown_table, run_suite

    m = Manifest("eval", asdict(cfg) | {"tasks_expanded": names}, cfg.seed)
    with staged_outputs(out, replace=True) as tmp:  # a re-used dir holds only this run's files
        with m.phase("eval"):
            res = run_suite(cfg, names, bar=bar, n_prompts_given=n_prompts_given)
        per_task = {n: headline(r, cfg.k) for n, (r, _) in res.items()}
        for n, (r, s) in res.items():
            write_json(tmp / n / "results.json", r)
            write_jsonl(tmp / n / "samples.jsonl", s)
        first = next(iter(res.values()))[0]
        means = [r[f"mean@{cfg.k}"] for r in per_task.values()]
        summary = {"tasks": per_task, "k": cfg.k,
                   # headline of the suite: the unweighted average over its tasks of each task's Mean@k
                   f"mean@{cfg.k}": sum(means) / len(means), f"mean@{cfg.k}_of": "unweighted average over tasks",
                   "model": cfg.model, "adapter": cfg.adapter, "engine": cfg.engine,
                   "backend": cfg.backend if cfg.engine == "ours" else None,
                   "sampling": {key: v for key, v in first["sampling"].items() if key != "max_new_tokens"}
                   | {"max_new_tokens": {n: r["sampling"]["max_new_tokens"] for n, (r, _) in res.items()}},
                   "grader_versions": {n: r["grader_version"] for n, (r, _) in res.items()}}
        write_json(tmp / "results.json", summary)
        write_text(tmp / "results.md", markdown_table(per_task, cfg.k) + "\n")
        m.write(tmp, summary=summary)
    return summary
