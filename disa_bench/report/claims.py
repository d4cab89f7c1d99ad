"""The claims table: each claim of the DISA abstract (methods.md §1.1) checked against these runs.

Verdicts: ``holds`` (the difference is in the claimed direction and significant: paired bootstrap p < 0.05),
``does not hold`` (significant in the other direction), ``inconclusive`` (not significant at 0.05, or the
runs needed are missing / not comparable; the reason is given). Every verdict carries its numbers.
"""

from __future__ import annotations

import math

import numpy as np

from .collect import Collection
from .tables import fmt_p, headline_column, p_vs

ALPHA = 0.05
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def verdict(diff: float, p: float, direction: str = "greater") -> str:
    if p is None or not math.isfinite(p) or diff is None or not math.isfinite(diff):
        return INCONCLUSIVE
    if p >= ALPHA:
        return INCONCLUSIVE
    good = diff > 0 if direction == "greater" else diff < 0
    return HOLDS if good else FAILS


def _claim(cid: str, text: str, v: str, numbers: str, **extra) -> dict:
    return {"id": cid, "claim": text, "verdict": v, "numbers": numbers, **extra}


def _acc_claim(col: Collection, acc: dict, cid: str, text: str, other: str, column: dict, note: str = "") -> dict:
    d, o = col.by_method("disa"), col.by_method(other)
    if d is None or o is None:
        miss = ", ".join(m for m, e in (("disa", d), (other, o)) if e is None)
        return _claim(cid, text, INCONCLUSIVE, f"no eval results for {miss}")
    r = p_vs(d, o, column, acc_nboot(acc))
    if r is None:
        return _claim(cid, text, INCONCLUSIVE, f"no shared prompts on `{column['label']}` for disa and {other}")
    md = _mean(acc, d.name, column["key"])
    mo = _mean(acc, o.name, column["key"])
    v = verdict(r["diff"], r["p"])
    nums = (f"{column['label']}: DISA {md:.1f} vs {other} {mo:.1f} (Δ {r['diff']:+.1f}, paired p {fmt_p(r['p'])}, "
            f"{r['paired_prompts']} paired prompts)")
    if note:
        nums += f"; {note}"
    return _claim(cid, text, v, nums, diff=r["diff"], p=r["p"], column=column["key"])


def acc_nboot(acc: dict) -> int:
    return int(acc.get("n_boot", 2000))


def _mean(acc: dict, name: str, key: str) -> float:
    for r in acc["rows"]:
        if r["name"] == name and r["cells"].get(key):
            return r["cells"][key]["mean"]
    return float("nan")


def build_claims(col: Collection, acc: dict, div: dict, comp: dict) -> list[dict]:
    cols = acc["columns"]
    claims = []
    if not cols:
        return sweep_claims(col.sweeps)
    head = headline_column(cols)
    avg_col = next((c for c in cols if c["key"] == "avg"), head)

    c1 = _acc_claim(col, acc, "disa_vs_flowrl", "DISA matches or exceeds FlowRL", "flowrl", avg_col)
    if c1["verdict"] == INCONCLUSIVE and "p" in c1:
        c1["numbers"] += " — not significant: consistent with 'matches', but not shown"
    claims.append(c1)
    from ..tasks.groups import TASK_GROUPS

    all_math = len(head["tasks"]) > 1 and all(t in TASK_GROUPS["math6"] for t in head["tasks"])
    label = "the math average" if head["key"] == "math6_avg" or all_math else (
        "the task average" if head["key"] == "avg" else f"`{head['label']}`")
    for other, name in (("grpo", "GRPO"), ("gspo", "GSPO")):
        claims.append(_acc_claim(col, acc, f"disa_vs_{other}", f"DISA outperforms {name} on {label}", other, head))
    claims.append(_sft_claim(col, acc, avg_col))
    for other, name in (("grpo", "GRPO"), ("gspo", "GSPO")):
        claims.append(_div_claim(col, div, other, name))
    claims += sweep_claims(col.sweeps)
    return claims


def _sft_claim(col: Collection, acc: dict, column: dict) -> dict:
    text = "DISA exceeds LoRA-SFT distillation on the same offline trajectories"
    d, s = col.by_method("disa"), col.by_method("sft")
    note = ""
    if d is not None and s is not None:
        sd = ((d.train or {}).get("fairness") or {}).get("store")
        ss = ((s.train or {}).get("fairness") or {}).get("store")
        if sd and ss and sd != ss:
            return _claim("disa_vs_sft", text, INCONCLUSIVE, f"not the same offline trajectories: DISA store {sd}, SFT store {ss}")
        if not (sd and ss):
            note = "store not recorded for both (train summaries missing): same-trajectory condition unchecked"
        # "by up to X points": the largest per-task gap
        gaps = [(t, 100.0 * (np.mean([d.tasks[t].per_prompt[p] for p in sorted(set(d.tasks[t].per_prompt) & set(s.tasks[t].per_prompt))])
                             - np.mean([s.tasks[t].per_prompt[p] for p in sorted(set(d.tasks[t].per_prompt) & set(s.tasks[t].per_prompt))])))
                for t in d.tasks if t in s.tasks and set(d.tasks[t].per_prompt) & set(s.tasks[t].per_prompt)]
        if gaps:
            t, g = max(gaps, key=lambda x: x[1])
            note = (note + "; " if note else "") + f"largest per-task gap {g:+.1f} Mean@8 points on `{t}` (abstract: up to 13.8)"
    return _acc_claim(col, acc, "disa_vs_sft", text, "sft", column, note)


def _div_claim(col: Collection, div: dict, other: str, name: str) -> dict:
    from ..eval.metrics import paired_bootstrap_p

    text = f"DISA retains more strategy-level diversity than {name}"
    f = div.get("primary")
    d, o = col.by_method("disa"), col.by_method(other)
    if d is None or o is None or f is None:
        why = "no diversity measure available for every row" if f is None else \
            "no eval results for " + ", ".join(m for m, e in (("disa", d), (other, o)) if e is None)
        return _claim(f"div_disa_vs_{other}", text, INCONCLUSIVE, why)
    pd, po = div["per_problem"].get(d.name, {}), div["per_problem"].get(o.name, {})
    common = sorted(k for k in set(pd) & set(po) if pd[k].get(f) is not None and po[k].get(f) is not None)
    if not common:
        return _claim(f"div_disa_vs_{other}", text, INCONCLUSIVE, f"no problems with `{f}` for both")
    a = np.array([pd[k][f] for k in common], float)
    b = np.array([po[k][f] for k in common], float)
    p = paired_bootstrap_p(a, b, n_boot=div.get("n_boot", 2000))
    diff = float(a.mean() - b.mean())
    v = verdict(diff, p)
    return _claim(f"div_disa_vs_{other}", text, v,
                  f"{f}: DISA {a.mean():.3f} vs {name} {b.mean():.3f} (Δ {diff:+.3f}, paired p {fmt_p(p)}, {len(common)} problems)",
                  diff=diff, p=p, field=f)


# ---------------------------------------------------------------------- sweep (methods.md §1.9(d))
def sweep_claims(sweeps: list[dict]) -> list[dict]:
    t1 = "Bias–variance: the best proposal strength α (lowest anchor error) shifts toward stronger proposals as β grows"
    t2 = "Bias–variance: IS variance rises with β (mean ESS/K falls at fixed α)"
    if not sweeps:
        return [_claim("sweep_shift", t1, INCONCLUSIVE, "no sweep results (run `disa-bench sweep` and pass its dir)"),
                _claim("sweep_ess", t2, INCONCLUSIVE, "no sweep results")]
    sw = sweeps[0]
    cells = [c for c in sw["cells"] if _finite(c.get("anchor_abs_err"))]
    alphas = sorted({c["alpha"] for c in cells})
    betas = sorted({c["beta"] for c in cells})
    if len(alphas) < 2 or len(betas) < 2:
        return [_claim("sweep_shift", t1, INCONCLUSIVE, f"the sweep needs >= 2 values of α and of β (has {len(alphas)} × {len(betas)})"),
                _claim("sweep_ess", t2, INCONCLUSIVE, f"the sweep needs >= 2 values of β (has {len(betas)})")]
    grid = {(c["alpha"], c["beta"]): c for c in cells}
    best = {}
    for b in betas:
        row = [(grid[(a, b)]["anchor_abs_err"], a) for a in alphas if (a, b) in grid]
        best[b] = min(row)[1]
    seq = [best[b] for b in betas]
    nums = "argmin-error α per β: " + ", ".join(f"β={b:g}: α={best[b]:g}" for b in betas)
    backwards = any(y < x for x, y in zip(seq, seq[1:]))
    lo_b, hi_b = betas[0], betas[-1]
    # significance: at the largest beta, is the small-beta optimum's error clearly above the large-beta optimum's?
    c_opt, c_old = grid.get((best[hi_b], hi_b)), grid.get((best[lo_b], hi_b))
    sig = False
    if c_opt and c_old and c_opt is not c_old and c_opt.get("anchor_abs_err_ci") and c_old.get("anchor_abs_err_ci"):
        sig = c_old["anchor_abs_err_ci"][0] > c_opt["anchor_abs_err_ci"][1]
        nums += (f"; at β={hi_b:g}: error {c_old['anchor_abs_err']:.3f} [{c_old['anchor_abs_err_ci'][0]:.3f}, "
                 f"{c_old['anchor_abs_err_ci'][1]:.3f}] at α={best[lo_b]:g} vs {c_opt['anchor_abs_err']:.3f} "
                 f"[{c_opt['anchor_abs_err_ci'][0]:.3f}, {c_opt['anchor_abs_err_ci'][1]:.3f}] at α={best[hi_b]:g}")
    if seq[-1] < seq[0] and sig:
        v1 = _claim("sweep_shift", t1, FAILS, nums + " (optimum moves toward weaker proposals)")
    elif seq[-1] > seq[0] and not backwards and sig:
        v1 = _claim("sweep_shift", t1, HOLDS, nums)
    else:
        shift = seq[-1] != seq[0]
        why = "" if shift and not backwards else " (no monotone shift)"
        v1 = _claim("sweep_shift", t1, INCONCLUSIVE, nums + why + ("; difference not significant (95% CIs overlap)" if shift and not sig else ""))
    down = []
    for a in alphas:
        e = [grid[(a, b)].get("ess_frac_mean") for b in betas if (a, b) in grid]
        e = [x for x in e if _finite(x)]
        if len(e) >= 2:
            down.append(e[-1] < e[0])
    ess_nums = "; ".join(f"α={a:g}: " + ", ".join(f"{grid[(a, b)]['ess_frac_mean']:.3f}" for b in betas if (a, b) in grid)
                         for a in alphas) + f" (ESS/K at β = {', '.join(f'{b:g}' for b in betas)})"
    if down and all(down):
        v2 = HOLDS
    elif down and not any(down):
        v2 = FAILS
    else:
        v2 = INCONCLUSIVE
    return [v1, _claim("sweep_ess", t2, v2, ess_nums)]


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
