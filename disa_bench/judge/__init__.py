"""Strategy-level diversity of the k samples per problem of an eval dir (``disa-bench judge``).

Offline measures (:mod:`.offline`) and the solution-set measures (:mod:`.solution`: solution coverage and
correct-strategy entropy, which wrong answers cannot raise) are always computed; the LLM judge (:mod:`.llm`)
only when an endpoint is configured. Outputs: ``judge.jsonl`` (one row per problem), ``summary.json`` and ``manifest.json``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .offline import dataset_means, is_correct, load_samples, mean_of, problem_measures, view_rows

NOT_CONFIGURED = "LLM judge not configured (no --judge-base-url): offline measures only"


def find_eval_dirs(run_dir: str | Path) -> list[Path]:
    """``run_dir`` itself when it holds samples.jsonl, else every ``eval/*/`` (or ``*/``) under it that does."""
    from ..errors import UserError

    p = Path(run_dir)
    if not p.is_dir():
        raise UserError(f"{p}: not a directory (expected an eval dir with samples.jsonl or a pipeline run dir)")
    if (p / "samples.jsonl").is_file():
        return [p]
    found = sorted(d.parent for d in p.glob("eval/*/samples.jsonl")) or sorted(d.parent for d in p.glob("*/samples.jsonl"))
    if not found:
        raise UserError(f"{p}: no samples.jsonl here or under {p / 'eval'}/*/ (run `disa-bench eval` first)")
    return found


def _llm_view(judge, rows: list[dict], view: str) -> dict:
    """One judge call on the samples of ``view``; fewer than 2 such samples are skipped (nothing to rate)."""
    from .llm import partition_view

    idx = [i for i, r in enumerate(rows) if view == "all" or is_correct(r)]
    if len(idx) < 2:
        return {"status": "skipped", "view": view, "n": len(idx), "score": None,
                "reason": f"{len(idx)} {view} sample(s): nothing to rate"}
    out = judge.judge(rows[0].get("prompt", ""), [rows[i].get("response", "") for i in idx])
    llm = {"status": out.status, "view": view, "n": len(idx), "attempts": out.attempts, "cached": out.cached}
    if out.status == "ok":
        v = out.verdict
        llm.update(score=v["score"], classes=v["classes"], strategies=v["strategies"])
        if view == "all":
            correct = [i for i, r in enumerate(rows) if is_correct(r)]
            llm["views"] = {"all": partition_view(v["classes"]), "correct": partition_view([v["classes"][i] for i in correct])}
        else:
            llm["views"] = {"correct": partition_view(v["classes"])}
    else:
        llm.update(score=None, reason=out.reason, errors=out.errors)
    return llm


def judge_problem(prompt_id: str, rows: list[dict], judge=None, task: str | None = None) -> dict:
    """One judge.jsonl row: offline measures of both views, the solution-set measures (:mod:`.solution`),
    and the LLM verdict when ``judge`` is given (``llm``: the first view of ``judge.cfg.views``; with
    ``--judge-view both`` also ``llm_all``)."""
    from .solution import correct_labels, solution_measures, solution_set_for

    row = {"prompt_id": prompt_id, "k": len(rows), "n_correct": len(view_rows(rows, "correct")),
           "offline": problem_measures(rows)}
    if judge is None:
        row["llm"] = {"status": "not_configured"}
    else:
        for i, view in enumerate(judge.cfg.views):
            row["llm" if i == 0 else f"llm_{view}"] = _llm_view(judge, rows, view)
    # without strategy keys, the judge's classes of the correct samples (its correct view comes first)
    row["solution"] = solution_measures(rows, solution_set_for(task, prompt_id), labels=correct_labels(rows, row["llm"]))
    return row


def _llm_summary(results: list[dict]) -> dict:
    ok = [r for r in results if r["status"] == "ok"]
    miss = [r for r in results if r["status"] == "missing"]
    views = sorted({v for o in ok for v in o.get("views", {})})
    return {"view": results[0].get("view") if results else None, "judged": len(ok), "missing": len(miss),
            "skipped": sum(1 for r in results if r["status"] == "skipped"),
            "cached": sum(1 for o in ok if o["cached"]), "http_attempts": sum(r.get("attempts", 0) for r in results),
            "missing_reasons": dict(Counter(m["reason"] for m in miss)),
            "score_mean": mean_of(o["score"] for o in ok),
            "score_histogram": {str(i): sum(1 for o in ok if o["score"] == i) for i in range(1, 6)},
            "views": {v: {f: mean_of(o["views"][v][f] for o in ok if v in o["views"])
                          for f in ("n_classes", "entropy", "dominant_share", "rubric_from_partition")} for v in views}}


def summarize(rows: list[dict], judge=None) -> dict:
    from .solution import summarize_solution

    s = {"problems": len(rows), "k": sorted({r["k"] for r in rows}),
         "offline": dataset_means([r["offline"] for r in rows]),
         "solution": summarize_solution([r["solution"] for r in rows])}
    if judge is None:
        s["llm"] = {"configured": False, "note": NOT_CONFIGURED}
        return s
    note = "means over judged problems only; missing problems are excluded, never scored by default"
    for i, view in enumerate(judge.cfg.views):
        key = "llm" if i == 0 else f"llm_{view}"
        s[key] = {"configured": True, "model": judge.cfg.model, **_llm_summary([r[key] for r in rows]), "note": note}
    return s


def run_judge(eval_dir: Path, out_dir: Path, cfg, warn=None) -> dict:
    """Judge one eval dir into ``out_dir``; returns the summary. ``cfg`` is a :class:`.llm.JudgeConfig`."""
    from concurrent.futures import ThreadPoolExecutor

    from ..errors import UserError
    from ..io import staged_outputs, write_json, write_jsonl
    from ..manifest import Manifest

    cfg.check()
    path = Path(eval_dir) / "samples.jsonl"
    subs = suite_task_dirs(Path(eval_dir))
    if not path.is_file() and subs:
        return _judge_suite(Path(eval_dir), subs, Path(out_dir), cfg, warn)
    if not path.is_file():
        raise UserError(f"{eval_dir}: no samples.jsonl (expected an eval dir written by `disa-bench eval`)")
    groups = load_samples(path)
    if not groups:
        raise UserError(f"{path}: no samples")
    m = Manifest("judge", cfg.public() | {"eval_dir": str(eval_dir)}, seed=0)
    judge = None
    if cfg.configured:
        from .llm import Judge

        judge = Judge(cfg)
    with m.phase("judge"):
        items = list(groups.items())
        task = _eval_task(Path(eval_dir))
        if judge is None or cfg.concurrency == 1:
            rows = [judge_problem(pid, rs, judge, task) for pid, rs in items]
        else:
            with ThreadPoolExecutor(cfg.concurrency) as ex:
                rows = list(ex.map(lambda it: judge_problem(it[0], it[1], judge, task), items))
    summary = summarize(rows, judge) | {"eval_dir": str(eval_dir)}
    if judge is not None:
        summary["llm"]["api_key_env"] = cfg.api_key_env
        summary["llm"]["api_key_set"] = judge.api_key_set
        if summary["llm"]["judged"] == 0 and summary["llm"]["missing"] and warn:
            reasons = summary["llm"]["missing_reasons"]
            top = max(reasons, key=reasons.get) if reasons else "unknown"
            warn(f"warning: LLM judge failed on all {summary['llm']['missing']} problems of {eval_dir} it was asked to "
                 f"rate ({top}); "
                 "LLM scores recorded as missing, offline measures written")
    with staged_outputs(out_dir) as tmp:
        write_jsonl(tmp / "judge.jsonl", rows)
        write_json(tmp / "summary.json", summary)
        m.write(tmp, judge={"model": cfg.model, "base_url": cfg.base_url, "template_hash": summary_hash(),
                            "temperature": cfg.temperature, "configured": cfg.configured, "view": cfg.view},
                outputs={"judge.jsonl": str(Path(out_dir) / "judge.jsonl"),
                         "summary.json": str(Path(out_dir) / "summary.json")})
    return summary


def suite_task_dirs(eval_dir: Path) -> list[Path]:
    """The per-task dirs of a multi-task eval dir (``eval --tasks math6,code3``: results.json lists ``tasks``, each
    with its own ``<task>/samples.jsonl``); [] for anything else."""
    import json

    try:
        res = json.loads((eval_dir / "results.json").read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(res, dict) or not isinstance(res.get("tasks"), dict):
        return []
    return [eval_dir / t for t in res["tasks"] if (eval_dir / t / "samples.jsonl").is_file()]


def _judge_suite(eval_dir: Path, subs: list[Path], out_dir: Path, cfg, warn) -> dict:
    """Each task of a multi-task eval dir judged into ``<eval_dir>/<task>/judge/`` (where the report reads it); the
    per-task summaries gathered in ``out_dir/summary.json`` with a manifest."""
    from ..io import staged_outputs, write_json
    from ..manifest import Manifest

    m = Manifest("judge", cfg.public() | {"eval_dir": str(eval_dir)}, seed=0)
    with m.phase("judge"):
        per = {d.name: run_judge(d, d / "judge", cfg, warn=warn) for d in subs}
    summary = {"eval_dir": str(eval_dir), "tasks": per}
    with staged_outputs(out_dir) as tmp:
        write_json(tmp / "summary.json", summary)
        m.write(tmp, outputs={d.name: str(d / "judge") for d in subs})
    return summary


def _eval_task(eval_dir: Path) -> str | None:
    """The task name in the eval dir's results.json (None: taken from each prompt id's prefix)."""
    import json

    try:
        return json.loads((eval_dir / "results.json").read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return None


def summary_hash() -> str:
    from .llm import template_hash

    return template_hash()
