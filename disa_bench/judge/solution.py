"""Solution-set diversity: measures that wrong answers cannot raise (docs/judge.md).

Per problem, from its k samples:

- ``solution_coverage`` = distinct correct strategies among the k samples / min(k, |solution set|), for tasks
  whose set of correct strategies can be enumerated (``task.solution_strategies(problem)``: Countdown's
  strategy keys of every correct expression, an enumerable world's correct responses). 1 = the samples reach
  as many different solutions as they could; eight copies of one solution score 1/min(8, |set|).
- ``correct_entropy`` = the entropy of the strategy classes of ``m`` correct samples, divided by log m,
  averaged over every m-subset of the c correct samples (drawn without replacement; all C(c, m) subsets when
  there are at most ``MAX_SUBSETS``, else that many seeded random ones). A uniformly drawn m-subset of c
  i.i.d. samples is itself m i.i.d. samples, so this estimates the same quantity whatever c is: a model with
  more correct samples is not made to look less diverse. At m = 2 it is the chance that two correct samples
  use different strategies (the unbiased Gini–Simpson index). Problems with fewer than m correct samples
  have ``None`` (excluded from means, and counted).

Strategy classes of the correct samples: their ``strategy`` keys when every correct sample has one, else the
LLM judge's classes for them when it ran, else none (both measures ``None``). Wrong samples never enter.
"""

from __future__ import annotations

import functools
import itertools
import math

from .offline import is_correct, normalized_entropy

M = 2  # correct samples per entropy subsample
MAX_SUBSETS = 2000


def correct_labels(rows: list[dict], llm: dict | None = None) -> list | None:
    """Strategy classes of the correct samples (keys, else the judge's classes), or None when unknown."""
    idx = [i for i, r in enumerate(rows) if is_correct(r)]
    keys = [rows[i].get("strategy") for i in idx]
    if all(k is not None for k in keys):
        return keys
    if llm and llm.get("status") == "ok" and llm.get("classes"):
        classes = llm["classes"]
        if llm.get("view") == "correct" and len(classes) == len(idx):
            return list(classes)
        if llm.get("view", "all") == "all" and len(classes) == len(rows):
            return [classes[i] for i in idx]
    return None


def entropy_at_m(labels: list, m: int = M, seed: int = 0, max_subsets: int = MAX_SUBSETS) -> float | None:
    """Mean normalized entropy of m-subsets of ``labels`` (without replacement); None when len < m."""
    import numpy as np

    c = len(labels)
    if m < 2 or c < m:
        return None
    if math.comb(c, m) <= max_subsets:
        subsets = itertools.combinations(range(c), m)
    else:
        rng = np.random.default_rng(seed)
        subsets = (rng.permutation(c)[:m] for _ in range(max_subsets))
    vals = [normalized_entropy([labels[i] for i in s]) for s in subsets]
    return float(sum(vals) / len(vals))


def solution_measures(rows: list[dict], solution_set: set | None, m: int = M, labels: list | None = None,
                      seed: int = 0) -> dict:
    """Coverage and correct-strategy entropy of one problem's k sample rows (see the module docstring)."""
    k = len(rows)
    labels = correct_labels(rows) if labels is None else labels
    n_correct = sum(1 for r in rows if is_correct(r))
    out = {"k": k, "n_correct": n_correct, "m": m, "solution_set_size": None, "distinct_correct_strategies": None,
           "solution_coverage": None, "outside_set": None, "correct_entropy": None}
    if labels is None:
        return out
    out["distinct_correct_strategies"] = len(set(labels))
    out["correct_entropy"] = entropy_at_m(labels, m, seed)
    if solution_set:
        inside = set(labels) & set(solution_set)
        out["solution_set_size"] = len(solution_set)
        out["outside_set"] = len(set(labels) - inside)  # should stay 0: a correct key the enumeration lacks
        out["solution_coverage"] = len(inside) / min(k, len(solution_set)) if k else None
    return out


@functools.lru_cache(maxsize=32)
def _task(name: str):
    from ..tasks import get_task

    try:
        return get_task(name)
    except Exception:  # an unknown or unbuildable task (e.g. a name from lm-eval) has no enumerable set
        return None


def solution_set_for(task_name: str | None, prompt_id: str) -> set | None:
    """The problem's set of correct strategies when its task can enumerate it, else None."""
    task = _task(task_name or prompt_id.split("/", 1)[0])
    enum = getattr(task, "solution_strategies", None)
    by_id = getattr(task, "problem_by_id", None)
    if enum is None or by_id is None:
        return None
    try:
        return enum(by_id(prompt_id))
    except Exception:  # a prompt id this task does not know: no set
        return None


def summarize_solution(per_problem: list[dict]) -> dict:
    """Means over problems (None skipped) and how many problems each measure covers or excludes."""
    cov = [p["solution_coverage"] for p in per_problem if p.get("solution_coverage") is not None]
    ent = [p["correct_entropy"] for p in per_problem if p.get("correct_entropy") is not None]
    labelled = [p for p in per_problem if p.get("distinct_correct_strategies") is not None or p.get("n_correct") == 0]
    m = per_problem[0]["m"] if per_problem else M
    return {"solution_coverage": sum(cov) / len(cov) if cov else None, "problems_with_solution_set": len(cov),
            "correct_entropy": sum(ent) / len(ent) if ent else None, "m": m, "problems_with_m_correct": len(ent),
            "excluded_fewer_than_m_correct": sum(1 for p in labelled if (p.get("n_correct") or 0) < m),
            "outside_set": sum(p.get("outside_set") or 0 for p in per_problem)}
