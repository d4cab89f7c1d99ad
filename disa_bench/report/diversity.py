"""The report's diversity table and its per-prompt view against accuracy (docs/report.md, docs/judge.md).

Claims use the solution-set measures of the correct samples (disa_bench/judge/solution.py):

- ``solution_coverage`` on problems with at least 2 correct strategies (on a one-solution problem it is just
  "solved at least once", i.e. accuracy, so those are left out of the claim and of its column);
- ``correct_entropy``: correct-strategy entropy at m correct samples (problems with fewer are excluded and
  counted).

Secondary columns, clearly labelled "all samples" (they count wrong answers): strategy entropy over all k,
distinct strategies, distinct answers, distinct-4; and the LLM judge's score (its ``correct`` view when it
ran with one, ``all`` otherwise, each in its own column).

Values come from ``samples.jsonl`` (recomputed, so an old run dir gets the new measures) with the judge's
scores and classes from ``judge/judge.jsonl`` when present; from the judge rows alone when there are no samples.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError

CLAIM_FIELDS = ("solution_coverage", "correct_entropy")
SECONDARY = ("strategy_entropy", "distinct_strategies", "distinct_answers", "distinct_4")
JUDGE = ("judge_score", "judge_score_all")
DIV_FIELDS = CLAIM_FIELDS + SECONDARY + JUDGE
LABELS = {"solution_coverage": "solution coverage (≥2-solution problems)", "correct_entropy": "correct-strategy entropy",
          "strategy_entropy": "strategy entropy (all samples)", "distinct_strategies": "distinct strategies (all samples)",
          "distinct_answers": "distinct answers (all samples)", "distinct_4": "distinct-4 (all samples)",
          "judge_score": "judge score, correct samples (1–5)", "judge_score_all": "judge score, all samples (1–5)"}


def _judge_views(jr: dict) -> tuple[dict | None, dict | None]:
    """(correct-view, all-view) LLM results of a judge.jsonl row (old rows have no view: all)."""
    views = {}
    for key in ("llm", "llm_all", "llm_correct"):
        x = jr.get(key)
        if isinstance(x, dict) and x.get("status") in ("ok", "missing", "skipped"):
            views.setdefault(x.get("view", "all"), x)
    return views.get("correct"), views.get("all")


def _score(llm: dict | None):
    return llm.get("score") if llm and llm.get("status") == "ok" else None


def problem_diversity(tr) -> dict[str, dict]:
    """prompt_id -> {field: value, "n_correct", "k", "set_size", "accuracy"} for one task of one seed."""
    from ..judge.offline import load_samples, problem_measures
    from ..judge.solution import correct_labels, solution_measures, solution_set_for

    judge = tr.judge_rows or {}
    groups = {}
    if tr.samples_path is not None:
        try:
            groups = load_samples(tr.samples_path)
        except (UserError, OSError):
            groups = {}
    out: dict[str, dict] = {}
    for pid in groups or judge:
        jr = judge.get(pid) or {}
        llm_c, llm_a = _judge_views(jr)
        if groups:
            rows = groups[pid]
            off = problem_measures(rows)["all"]
            sol = solution_measures(rows, solution_set_for(tr.task, pid), labels=correct_labels(rows, llm_c or llm_a))
        else:
            off = (jr.get("offline") or {}).get("all") or {}
            sol = jr.get("solution") or {}
        size = sol.get("solution_set_size")
        out[pid] = {"solution_coverage": sol.get("solution_coverage") if (size or 0) >= 2 else None,
                    "correct_entropy": sol.get("correct_entropy"), "strategy_entropy": off.get("strategy_entropy"),
                    "distinct_strategies": off.get("distinct_strategies"), "distinct_answers": off.get("distinct_answers"),
                    "distinct_4": (off.get("distinct_n") or {}).get("4"), "judge_score": _score(llm_c),
                    "judge_score_all": _score(llm_a), "n_correct": sol.get("n_correct"), "k": sol.get("k"),
                    "set_size": size, "m": sol.get("m"), "accuracy": tr.per_prompt.get(pid)}
    return out


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def diversity_table(col) -> dict:
    """Rows: per method the mean of every field over problems of all tasks (seeds averaged), problem counts,
    and where the values came from. ``per_seed[name][task]`` keeps one prompt -> values dict per seed for
    the claims (``_by_id``: the same keyed by the seed TaskResult's id, see :func:`field_values`);
    ``per_problem[name]`` the first seed's values keyed ``task::prompt`` for the per-prompt view."""
    rows, per_seed, per_problem, by_id = [], {}, {}, {}
    m = None
    for e in col.entries:
        per_seed[e.name] = {}
        pp: dict[str, dict] = {}
        sources = set()
        for t, tr in e.tasks.items():
            seeds = [problem_diversity(s) for s in (tr.seeds or [tr])]
            per_seed[e.name][t] = seeds
            by_id.update({id(s): d for s, d in zip(tr.seeds or [tr], seeds)})
            if seeds[0]:
                sources.add("judge + samples" if tr.judge_rows and tr.samples_path else
                            "judge" if tr.judge_rows else "offline (samples.jsonl)")
            pp.update({f"{t}::{pid}": v for pid, v in seeds[0].items()})
            m = m or next((v["m"] for v in seeds[0].values() if v.get("m")), None)
        per_problem[e.name] = pp
        allp = [v for t in per_seed[e.name].values() for s in t for v in s.values()]
        vals = {f: _mean(v.get(f) for v in allp) for f in DIV_FIELDS}
        rows.append({"name": e.name, "method": e.method, "values": vals, "problems": len(pp),
                     "problems_coverage": sum(1 for v in pp.values() if v["solution_coverage"] is not None),
                     "problems_entropy": sum(1 for v in pp.values() if v["correct_entropy"] is not None),
                     "excluded_entropy": sum(1 for v in pp.values() if v["correct_entropy"] is None and v["n_correct"] is not None),
                     "source": ", ".join(sorted(sources)) or None})
    with_div = [r for r in rows if r["problems"]]
    claim_fields = [f for f in CLAIM_FIELDS if with_div and all(r["values"][f] is not None for r in with_div)]
    return {"fields": list(DIV_FIELDS), "labels": LABELS, "claim_fields": claim_fields, "m": m, "rows": rows,
            "by_accuracy": by_accuracy(per_problem), "per_seed": per_seed, "per_problem": per_problem, "_by_id": by_id}


def by_accuracy(per_problem: dict[str, dict]) -> dict:
    """Per row: the claim measures by bins of per-prompt accuracy, and their correlation with accuracy over
    prompts: a reader can see whether the measure merely follows accuracy."""
    bins = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)]
    out = {"bins": [f"({lo:.2f}, {hi:.2f}]" for lo, hi in bins], "rows": []}
    for name, pp in per_problem.items():
        vals = [v for v in pp.values() if v.get("accuracy") is not None]
        row = {"name": name, "cells": [], "corr": {}}
        for lo, hi in bins:
            inb = [v for v in vals if lo < v["accuracy"] <= hi]
            row["cells"].append({f: _mean(v[f] for v in inb) for f in CLAIM_FIELDS} | {"n": len(inb)})
        for f in CLAIM_FIELDS:
            xy = np.array([(v["accuracy"], v[f]) for v in vals if v[f] is not None], float).reshape(-1, 2)
            ok = len(xy) >= 3 and xy[:, 0].std() > 0 and xy[:, 1].std() > 0
            row["corr"][f] = float(np.corrcoef(xy[:, 0], xy[:, 1])[0, 1]) if ok else None
        out["rows"].append(row)
    return out


def field_values(div: dict, field: str):
    """A ``values`` function for report.stats: any seed's TaskResult -> prompt -> value of ``field``."""
    by_id = div["_by_id"]

    def values(seed_tr) -> dict:
        return {p: v[field] for p, v in by_id.get(id(seed_tr), {}).items()}

    return values
