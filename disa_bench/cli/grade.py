"""``disa-bench grade``: score a file of model responses with a task's grader (no model needed).

Input: JSON lines ``{"prompt_id": "math500/3" | "index": 3, "response": "..."}``; several lines per prompt
are k samples of it (every graded prompt must have the same k). ``index`` is the position in the task's
full problem list of ``--split`` (``prompt_id`` is what ``disa-bench eval`` writes in samples.jsonl).
Output: ``verdicts.jsonl`` (one row per input line), ``results.json`` (Mean@k with 95% CI, pass@k, maj@k
via disa_bench/metrics.py) and ``manifest.json``; written all at once or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app, user_errors
from ..errors import UserError


def read_responses(path: Path) -> list[dict]:
    """Rows of a responses file with their line numbers; every problem is a one-line UserError."""
    if not path.exists():
        raise UserError(f"responses file {str(path)!r} does not exist")
    if path.is_dir():
        raise UserError(f"responses path {str(path)!r} is a directory, expected a .jsonl file")
    from ..io import read_jsonl_rows

    rows = []
    for ln, row in read_jsonl_rows(path, "a JSON object with 'prompt_id' (or 'index') and 'response'"):
        if not isinstance(row.get("response"), str):
            raise UserError(f"{path}:{ln}: missing string field 'response'")
        if "prompt_id" not in row and "index" not in row:
            raise UserError(f"{path}:{ln}: missing field 'prompt_id' (or 'index')")
        rows.append({"line": ln, **row})
    if not rows:
        raise UserError(f"responses file {str(path)!r} is empty (expected JSON lines with 'prompt_id' and 'response')")
    return rows


def match_problems(rows: list[dict], problems, path: Path) -> list:
    """The Problem of each row; unknown ids/indices are one UserError listing the first few."""
    by_id = {p.prompt_id: p for p in problems}
    out, unknown = [], []
    for r in rows:
        if "prompt_id" in r:
            p = by_id.get(str(r["prompt_id"]))
        else:
            i = r["index"]
            p = problems[i] if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(problems) else None
        if p is None:
            unknown.append(f"line {r['line']}: {r.get('prompt_id', r.get('index'))!r}")
        out.append(p)
    if unknown:
        more = f" (+{len(unknown) - 3} more)" if len(unknown) > 3 else ""
        raise UserError(f"{path}: {len(unknown)} unknown prompt ids/indices for this task: {'; '.join(unknown[:3])}{more}")
    return out


def grade_responses(task_name: str, responses: Path, split: str = "test", data: str | None = None, seed: int = 0):
    """Read, match and grade; returns (results, verdict rows). Raises UserError before any output exists."""
    from ..eval.grading import grade_all, grader_version
    from ..eval.metrics import summarize
    from ..tasks import get_task

    task = get_task(task_name, **({"data": data} if data else {}))
    rows = read_responses(responses)
    problems = task.problems(split)
    matched = match_problems(rows, problems, responses)
    order: dict[str, list[int]] = {}
    for i, p in enumerate(matched):
        order.setdefault(p.prompt_id, []).append(i)
    ks = {len(v) for v in order.values()}
    if len(ks) != 1:
        counts = sorted(ks)
        raise UserError(f"{responses}: prompts have different numbers of responses ({', '.join(map(str, counts))}); "
                        "Mean@k needs exactly k per prompt")
    k = ks.pop()
    grades = grade_all(task, [(p, r["response"]) for p, r in zip(matched, rows)])
    verdicts, groups = [], []
    sample_no: dict[str, int] = {}
    for r, p, g in zip(rows, matched, grades):
        j = sample_no.get(p.prompt_id, 0)
        sample_no[p.prompt_id] = j + 1
        verdicts.append({"line": r["line"], "prompt_id": p.prompt_id, "sample": j, "reward": g.reward,
                         "answer": g.answer, "verdict": g.verdict, "detail": g.detail,
                         "truncated": bool(r.get("truncated", False))})
    for pid, idx in order.items():
        groups.append({"prompt_id": pid, "rewards": [grades[i].reward for i in idx],
                       "answers": [grades[i].answer for i in idx],
                       "truncated": [bool(rows[i].get("truncated", False)) for i in idx],
                       "verdicts": [grades[i].verdict for i in idx]})
    results = summarize(groups, k, seed=seed)
    results["per_prompt"] = {g["prompt_id"]: sum(x > 0 for x in g["rewards"]) / k for g in groups}
    results.update({"task": task_name, "split": split, "k": k, "responses": str(responses),
                    "grader_version": grader_version(task)})
    return results, verdicts


@app.command()
@user_errors
def grade(
    task: str = typer.Option(..., "--task", help="Task name (e.g. math500, aime24, countdown)."),
    responses: Path = typer.Option(..., "--responses", help="JSON lines: {\"prompt_id\" or \"index\", \"response\"}."),
    out: Path = typer.Option(Path("runs/grade"), "--out", help="Output dir (verdicts.jsonl, results.json, manifest.json)."),
    split: str = typer.Option("test", "--split", help="Split the prompt ids / indices refer to (benchmarks: test)."),
    data: Optional[str] = typer.Option(None, "--data", help="Benchmark data: dir, .jsonl or HF dataset id (math tasks)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap CI."),
):
    """Grade a file of responses with the task's grader: per-line verdicts and Mean@k (k = responses per prompt).

    Example: [bold]disa-bench grade --task math500 --responses runs/e/math500/samples.jsonl --out runs/g[/]
    """
    from ..config import check_seed
    from ..io import check_out_dir, staged_outputs, write_json, write_jsonl
    from ..manifest import Manifest

    check_seed(seed)
    check_out_dir(out)
    m = Manifest("grade", {"task": task, "responses": str(responses), "split": split, "data": data}, seed)
    with m.phase("grade"):
        results, verdicts = grade_responses(task, responses, split=split, data=data, seed=seed)
    with staged_outputs(out) as tmp:
        write_jsonl(tmp / "verdicts.jsonl", verdicts)
        write_json(tmp / "results.json", results)
        m.write(tmp, summary={k: v for k, v in results.items() if k != "per_prompt"})
    k = results["k"]
    lo, hi = results[f"mean@{k}_ci"]
    typer.echo(f"{task}: Mean@{k} = {results[f'mean@{k}']:.1f} [95% CI {lo:.1f}, {hi:.1f}], pass@{k} = "
               f"{results[f'pass@{k}']:.1f}, maj@{k} = {results[f'maj@{k}']:.1f} over {results['num_prompts']} prompts, "
               f"{results['grader_errors']} grader errors -> {out / 'results.json'}")
