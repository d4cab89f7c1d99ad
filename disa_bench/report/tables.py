"""The report's tables as plain data (rendered by :mod:`.html`/:func:`render_markdown`/:func:`render_latex`).

- accuracy: rows = methods + base, columns = tasks + averages (math avg / code avg when the six math or
  three code benchmarks are present, and the average over all tasks); cells = Mean@k with its 95% CI;
  best per column in bold; paired p-values of each method against the reference method (DISA): prompt-level,
  and seed-aware when both rows have several seeds (:mod:`.stats`); per-seed values when there are seeds.
- diversity: see :mod:`.diversity`.
- compute: tokens, wall time, CPU-/GPU-hours, peak memory from train summaries.
- clipping: each trained row's clipped fraction per mini-batch (train metrics.jsonl), flagged when more than half
  of its updates after the first mini-batch are clipped.
- comparability: what differs between runs (tasks, splits, sampling, seeds, prompt sets, training budget).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from .collect import Collection, Entry

N_BOOT = 2000
COMPARE_SAMPLING = ("k", "temperature", "top_p", "max_new_tokens", "seed")
COMPARE_TRAIN = ("model", "store", "steps", "prompts_per_step", "n", "lr", "seed", "max_new_tokens", "lora_r", "full")


# ---------------------------------------------------------------------- statistics
def avg_ci(per_prompts: list[np.ndarray], n_boot: int = N_BOOT, seed: int = 0, alpha: float = 0.05):
    """Percentile CI (in %) of the average over tasks of per-task means, prompts resampled within each task."""
    rng = np.random.default_rng(seed)
    boots = np.zeros(n_boot)
    for x in per_prompts:
        x = np.asarray(x, dtype=np.float64)
        boots += x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    boots /= len(per_prompts)
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return 100.0 * float(lo), 100.0 * float(hi)


# ---------------------------------------------------------------------- columns
def columns(col: Collection) -> list[dict]:
    """[{"key", "label", "tasks": [...], "kind": "task"|"avg"}]"""
    from ..tasks.groups import TASK_GROUPS

    tasks = col.tasks()
    cols = [{"key": t, "label": t, "tasks": [t], "kind": "task"} for t in tasks]
    for g, label in (("math6", "math avg"), ("code3", "code avg")):
        members = [t for t in tasks if t in TASK_GROUPS[g]]
        if len(members) >= 2 and len(members) < len(tasks):
            cols.append({"key": f"{g}_avg", "label": label, "tasks": members, "kind": "avg"})
    if len(tasks) > 1:
        cols.append({"key": "avg", "label": "average", "tasks": tasks, "kind": "avg"})
    return cols


def headline_column(cols: list[dict]) -> dict:
    """The column the abstract's claims use: the math average, else the overall average, else the one task."""
    by = {c["key"]: c for c in cols}
    return by.get("math6_avg") or by.get("avg") or cols[0]


def cell(entry: Entry, column: dict, n_boot: int = N_BOOT) -> dict | None:
    """Mean@k of a row on a column with its CI; with several seeds also the per-seed values and their sd
    (the CI then varies seeds and prompts, :func:`disa_bench.eval.metrics.seed_mean_ci`)."""
    from ..eval.metrics import seed_mean_ci
    from .seeds import seed_matrix

    trs = [entry.tasks.get(t) for t in column["tasks"]]
    if any(t is None for t in trs) or not trs:
        return None
    seeds = min(len(t.seeds) or 1 for t in trs)
    if len(trs) == 1:
        t = trs[0]
        out = {"mean": t.mean, "ci": list(t.ci), "n": t.num_prompts}
    elif seeds >= 2:
        mean, lo, hi = seed_mean_ci([seed_matrix(t)[1][:seeds] for t in trs])
        out = {"mean": 100.0 * mean, "ci": [100.0 * lo, 100.0 * hi], "n": int(sum(t.num_prompts for t in trs))}
    else:
        means = [t.mean for t in trs]
        pps = [np.array(list(t.per_prompt.values()), float) for t in trs]
        ci = avg_ci(pps, n_boot=n_boot) if all(p.size for p in pps) else (float("nan"), float("nan"))
        out = {"mean": float(np.mean(means)), "ci": list(ci), "n": int(sum(t.num_prompts for t in trs))}
    if seeds >= 2:
        per_seed = [float(np.mean([t.seeds[i].mean for t in trs])) for i in range(seeds)]
        out.update(seeds=per_seed, seed_sd=float(np.std(per_seed, ddof=1)), seed_labels=list(trs[0].seed_labels[:seeds]))
    return out


def p_vs(entry: Entry, ref: Entry, column: dict, n_boot: int = N_BOOT, margin: float = 0.0) -> dict | None:
    """Paired comparison of entry vs ref on the prompts both have, per task of the column (report/stats.py):
    the prompt-level bootstrap p (one seed each: exactly paired_bootstrap_p) and, with seeds, the seed-aware p."""
    from .stats import compare_rows

    return compare_rows(entry, ref, column["tasks"], n_boot=n_boot, margin=margin)


def accuracy_table(col: Collection, reference: str = "disa", n_boot: int = N_BOOT, flagged=None) -> dict:
    cols = columns(col)
    ref = col.by_method(reference)
    flagged = flagged or {}
    rows = []
    for e in col.entries:
        cells = {}
        for c in cols:
            v = cell(e, c, n_boot)
            if v is not None:
                v["flags"] = sorted({f for t in c["tasks"] for f in flagged.get((e.name, t), [])})
                if ref is not None and e is not ref:
                    v["vs_ref"] = p_vs(e, ref, c, n_boot)
            cells[c["key"]] = v
        rows.append({"name": e.name, "method": e.method, "cells": cells, "gaps": list(e.gaps)} | ({"note": e.note} if e.note else {}))
    best = {}
    for c in cols:
        vals = [r["cells"][c["key"]]["mean"] for r in rows if r["cells"].get(c["key"])]
        if vals:
            m = max(vals)
            best[c["key"]] = m
            for r in rows:
                v = r["cells"].get(c["key"])
                if v:
                    v["best"] = abs(v["mean"] - m) < 1e-9
    hc = headline_column(cols) if cols else None
    return {"columns": cols, "rows": rows, "reference": reference if ref is not None else None,
            "reference_row": ref.name if ref is not None else None, "headline": hc["key"] if hc else None, "k": _k(col)}


def _k(col: Collection) -> int:
    ks = Counter(t.k for e in col.entries for t in e.tasks.values())
    return ks.most_common(1)[0][0] if ks else 8


# ---------------------------------------------------------------------- compute
def compute_table(col: Collection) -> dict:
    rows = []
    for e in col.entries:
        if not e.train:
            continue
        seeds = [t for t in (e.train_seeds or [e.train]) if isinstance(t, dict)]

        def mean(get):  # over the row's seeds (one seed: its value); None when no seed has it
            vals = [v for v in map(get, seeds) if isinstance(v, (int, float)) and not isinstance(v, bool)]
            return float(np.mean(vals)) if vals else None

        fair = e.train.get("fairness") or {}
        procs = int(fair.get("num_processes") or 1)
        wall = mean(lambda t: (t.get("compute") or {}).get("wall_seconds"))
        kind = "GPU" if (e.train.get("compute") or {}).get("peak_memory_kind") == "cuda_max_allocated" else "CPU"
        row = {"name": e.name, "method": e.method, "data": e.train.get("data_source") or e.train.get("data"),
               "steps": e.train.get("steps"), "wall_seconds": wall,
               "device_hours": (wall * procs / 3600.0) if wall is not None else None,
               "device_kind": kind, "processes": procs, "seeds": len(seeds) or 1}
        for k in ("tokens_generated", "tokens_forward", "tokens_backward", "peak_memory_mb"):
            row[k] = mean(lambda t, k=k: (t.get("compute") or {}).get(k))
        for k in ("reward_first", "reward_last"):
            row[k] = mean(lambda t, k=k: t.get(k))
        rows.append(row)  # with several seeds: the mean over seeds of every number
    return {"rows": rows}


# ---------------------------------------------------------------------- clipping
CLIP_FLAG = 0.5  # flag a row whose updates after the first mini-batch are more than half clipped


def clipping_table(col: Collection) -> dict:
    """Each trained row's clipped fraction per mini-batch, from its metrics.jsonl (every seed's, pooled).

    The metric is the method's ``clip_metric`` (GRPO/GSPO: ``clip_frac``, samples whose ratio is clipped and so
    carry no gradient; DISA/FlowRL: ``w_clipped_frac``, IS weights capped at w_max). Per mini-batch index: the
    mean over training steps of the step's ``per_minibatch`` values (written when mini_batches > 1; one value per
    step otherwise). A row is flagged when the mean over mini-batches 2..M exceeds ``CLIP_FLAG``."""
    from ..errors import UserError
    from ..methods import get_method

    rows = []
    for e in col.entries:
        if not e.metrics:
            continue
        try:
            spec = get_method(e.method).clip_metric
        except UserError:  # a row whose method is not registered here
            spec = None
        if not spec:
            continue
        key, what = spec
        sums: list[float] = []
        counts: list[int] = []
        for rec in (r for ms in (e.metrics_seeds or [e.metrics]) for r in ms):  # every seed's steps
            vals = (rec.get("per_minibatch") or {}).get(key)
            if vals is None:
                vals = [rec.get(key)]
            for i, v in enumerate(vals):
                if len(sums) <= i:
                    sums.append(0.0)
                    counts.append(0)
                if isinstance(v, (int, float)) and math.isfinite(v):
                    sums[i] += float(v)
                    counts[i] += 1
        per_mb = [s_ / c if c else None for s_, c in zip(sums, counts)]
        later = [v for v in per_mb[1:] if v is not None]
        after_first = float(np.mean(later)) if later else None
        rows.append({"name": e.name, "method": e.method, "metric": key, "what": what, "per_minibatch": per_mb,
                     "after_first": after_first, "steps": sum(map(len, e.metrics_seeds or [e.metrics])),
                     "flag": after_first is not None and after_first > CLIP_FLAG})
    return {"rows": rows, "threshold": CLIP_FLAG}


# ---------------------------------------------------------------------- comparability
def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def comparability(col: Collection, reference: str = "disa") -> dict:
    """Issues (one line each) and the (row, task) cells they affect.

    Per task, every row is compared with the reference row (DISA, else the most common setting): eval split,
    sampling parameters (k, temperature, top_p, max_new_tokens, seed) and the prompt set. Rows missing a task
    that others have, and training budgets / seeds / stores that differ between train runs, are listed too."""
    issues: list[str] = []
    flagged: dict[tuple[str, str], list[str]] = {}
    tasks = col.tasks()
    ref_entry = col.by_method(reference)
    for t in tasks:
        have = [e for e in col.entries if t in e.tasks]
        missing = [e for e in col.entries if e.tasks and t not in e.tasks]
        for e in missing:
            issues.append(f"task `{t}`: no results for `{e.name}` (cell left empty; excluded from averages)")
        if len(have) < 2:
            continue
        ref = ref_entry if ref_entry is not None and t in ref_entry.tasks else None

        def setting(e: Entry) -> dict:
            tr = e.tasks[t]
            s = {"split": tr.split}
            s.update({k: tr.sampling.get(k) for k in COMPARE_SAMPLING})
            if s["seed"] is None:
                s["seed"] = tr.seed
            return s

        if ref is None:  # most common setting
            counts = Counter(tuple(sorted(setting(e).items(), key=lambda kv: kv[0])) for e in have)
            ref_setting = dict(counts.most_common(1)[0][0])
            ref_label = "the most common setting"
            ref_prompts = Counter(frozenset(e.tasks[t].per_prompt) for e in have).most_common(1)[0][0]
        else:
            ref_setting = setting(ref)
            ref_label = f"`{ref.name}`"
            ref_prompts = frozenset(ref.tasks[t].per_prompt)
        for e in have:
            if e is ref:
                continue
            s = setting(e)
            diffs = [f"{k} {_fmt(s[k])} vs {_fmt(ref_setting[k])}" for k in s if s[k] != ref_setting.get(k)]
            for k in s:
                if s[k] != ref_setting.get(k):
                    flagged.setdefault((e.name, t), []).append("seed" if k == "seed" else "split" if k == "split" else "sampling")
            pr = frozenset(e.tasks[t].per_prompt)
            if pr and ref_prompts and pr != ref_prompts:
                common = len(pr & ref_prompts)
                diffs.append(f"prompt set differs ({len(pr)} prompts, {common} shared with {len(ref_prompts)} of the reference; "
                             f"paired p-values use the shared ones)")
                flagged.setdefault((e.name, t), []).append("prompts")
            if diffs:
                issues.append(f"task `{t}`, `{e.name}` vs {ref_label}: " + "; ".join(diffs))
    trains = [e for e in col.entries if e.train]
    if len(trains) >= 2:
        ref_t = next((e for e in trains if e.method == reference), trains[0])
        rf = ref_t.train.get("fairness") or {}
        for e in trains:
            if e is ref_t:
                continue
            f = e.train.get("fairness") or {}
            diffs = []
            for k in COMPARE_TRAIN:
                if k in f and k in rf and f[k] != rf[k]:
                    diffs.append(f"{k} {_fmt(f[k])} vs {_fmt(rf[k])}")
            if diffs:
                issues.append(f"training of `{e.name}` vs `{ref_t.name}`: " + "; ".join(diffs))
                for t in e.tasks:
                    flagged.setdefault((e.name, t), []).append("training")
    flagged = {k: sorted(set(v)) for k, v in flagged.items()}
    return {"issues": issues, "flagged": flagged, "comparable": not issues}


def fmt_num(x, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.{nd}f}"


def fmt_p(p) -> str:
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
