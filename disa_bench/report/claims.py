"""The claims table: each claim of the DISA abstract (methods.md §1.1) checked against these runs.

Every claim with a test is one member of a family; p-values are Holm–Bonferroni adjusted over the family and
the verdict uses the adjusted p (docs/report.md):

- superiority claims ("outperforms", "exceeds", "more diverse", the sweep's): **holds** when the adjusted
  two-sided p < 0.05 and the difference is in the claimed direction, **does not hold** when it is significant
  the other way, else **inconclusive**;
- "matches or exceeds" is a non-inferiority claim against a margin (``--ni-margin``, default 1 Mean@k point):
  **holds** when the adjusted one-sided p of H0 "worse by at least the margin" < 0.05, **does not hold** when
  the one-sided test of "worse by more than the margin" rejects at 0.05 / family size (Bonferroni), else
  inconclusive.

Claims whose runs are missing, or that have fewer than ``MIN_PAIRED`` paired prompts, are inconclusive with
the reason and are not in the family. Every verdict
carries its numbers: raw and adjusted p, the test used (prompt-level, or seed-aware with several seeds).
"""

from __future__ import annotations

import math

import numpy as np

from .collect import Collection
from .stats import MIN_PAIRED
from .tables import fmt_p, headline_column, p_vs

ALPHA = 0.05
NI_MARGIN = 1.0
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def _claim(cid: str, text: str, v: str | None, numbers: str, **extra) -> dict:
    return {"id": cid, "claim": text, "verdict": v, "numbers": numbers, **extra}


def describe_test(r: dict) -> str:
    """The test line of a comparison from report.stats.compare."""
    if r["test"] == "seeds":
        return (f"seed-aware p {fmt_p(r['p_seeds'])} ({r['seeds'][0]} vs {r['seeds'][1]} seeds, df {r['df_seeds']:.1f}); "
                f"prompt-level p {fmt_p(r['p_prompt'])}")
    return f"prompt-level paired bootstrap p {fmt_p(r['p_prompt'])}"


def _mean(acc: dict, name: str, key: str) -> float:
    for r in acc["rows"]:
        if r["name"] == name and r["cells"].get(key):
            return r["cells"][key]["mean"]
    return float("nan")


def _row(col: Collection, name: str):
    """The row called ``name`` (a method or variant), else the first row of method ``name``."""
    return col.by_row(name) or col.by_method(name)


def _acc_claim(col: Collection, acc: dict, cid: str, text: str, other: str, column: dict, note: str = "",
               margin: float | None = None, mine: str = "disa", strict: bool = False) -> dict:
    """``mine`` vs ``other``, each a row name (else the first row of that method; ``strict``: ``other`` only by name)."""
    d, o = _row(col, mine), (col.by_row(other) if strict else _row(col, other))
    if d is None or o is None:
        miss = ", ".join(m for m, e in ((mine, d), (other, o)) if e is None)
        return _claim(cid, text, INCONCLUSIVE, f"no eval results for {miss}")
    r = p_vs(d, o, column, int(acc.get("n_boot", 2000)), margin=margin or 0.0)
    if r is None:
        return _claim(cid, text, INCONCLUSIVE, f"no shared prompts on `{column['label']}` for {mine} and {other}")
    md, mo = _mean(acc, d.name, column["key"]), _mean(acc, o.name, column["key"])
    me = "DISA" if mine == "disa" else mine
    if r["paired_prompts"] < MIN_PAIRED:
        return _claim(cid, text, INCONCLUSIVE, f"{column['label']}: {me} {md:.1f} vs {other} {mo:.1f} (Δ {r['diff']:+.1f}); "
                      f"only {r['paired_prompts']} paired prompts (< {MIN_PAIRED}): not tested")
    nums = f"{column['label']}: {me} {md:.1f} vs {other} {mo:.1f} (Δ {r['diff']:+.1f}; "
    extra = {"diff": r["diff"], "column": column["key"], "test": r["test"], "p_prompt": r["p_prompt"],
             "p_seeds": r.get("p_seeds"), "seeds": r["seeds"], "paired_prompts": r["paired_prompts"]}
    if margin is not None:
        nums += (f"non-inferiority margin {margin:g} pt: one-sided p {fmt_p(r['p_ni'])}; two-sided p "
                 f"{fmt_p(r['p'])} [{r['test']}]; {r['paired_prompts']} paired prompts)")
        extra.update(kind="noninferiority", p=r["p_ni"], p_inf=r["p_inf"], p_two_sided=r["p"], margin=margin)
    else:
        nums += f"{describe_test(r)}; {r['paired_prompts']} paired prompts)"
        extra.update(kind="superiority", p=r["p"])
    if note:
        nums += f"; {note}"
    return _claim(cid, text, None, nums, **extra)


def build_claims(col: Collection, acc: dict, div: dict, comp: dict, margin: float = NI_MARGIN) -> list[dict]:
    from .sweep_claims import sweep_claims

    cols = acc["columns"]
    claims = []
    if cols:
        head = headline_column(cols)
        avg_col = next((c for c in cols if c["key"] == "avg"), head)
        # against every FlowRL row (flowrl = the official recipe; flowrl-exact = FlowRL's learned log Z on DISA's target)
        flowrl_rows = [e.row for e in col.entries if e.method == "flowrl" and e.tasks]
        for row in ["flowrl"] + [r for r in flowrl_rows if r != "flowrl"]:
            text = "DISA matches or exceeds FlowRL" + ("" if row == "flowrl" else f" (`{row}`)")
            claims.append(_acc_claim(col, acc, f"disa_vs_{row}", text, row, avg_col, margin=margin, strict=True))
        from ..tasks.groups import TASK_GROUPS

        all_math = len(head["tasks"]) > 1 and all(t in TASK_GROUPS["math6"] for t in head["tasks"])
        label = "the math average" if head["key"] == "math6_avg" or all_math else (
            "the task average" if head["key"] == "avg" else f"`{head['label']}`")
        for other, name in (("grpo", "GRPO"), ("gspo", "GSPO")):
            claims.append(_acc_claim(col, acc, f"disa_vs_{other}", f"DISA outperforms {name} on {label}", other, head))
        claims.append(_sft_claim(col, acc, avg_col))
        # the second reading of "the same offline trajectories": a DISA row trained only on the store
        for e in [e for e in col.entries if e.method == "disa" and e.tasks and _offline(e) and e is not col.by_method("disa")]:
            claims.append(_sft_claim(col, acc, avg_col, mine=e.row))
        for other, name in (("grpo", "GRPO"), ("gspo", "GSPO")):
            claims += [_div_claim(col, div, other, name, f) for f in ("solution_coverage", "correct_entropy")]
    claims += sweep_claims(col.sweeps, n_boot=int(acc.get("n_boot", 2000)))
    return apply_family(claims)


def _offline(e) -> bool:
    """Trained only on the store (``data: offline``): its train summary's data source."""
    t = e.train or {}
    return t.get("data") == "offline" or str(t.get("data_source") or "").startswith("store")


def _sft_claim(col: Collection, acc: dict, column: dict, mine: str = "disa") -> dict:
    text = "DISA exceeds LoRA-SFT distillation on the same offline trajectories"
    cid = "disa_vs_sft" if mine == "disa" else f"{mine}_vs_sft"
    if mine != "disa":
        text = f"DISA trained only on those trajectories (`{mine}`) exceeds LoRA-SFT distillation on them"
    d, s = _row(col, mine), col.by_method("sft")
    note = ""
    if d is not None and s is not None:
        sd = ((d.train or {}).get("fairness") or {}).get("store")
        ss = ((s.train or {}).get("fairness") or {}).get("store")
        if sd and ss and sd != ss:
            return _claim(cid, text, INCONCLUSIVE, f"not the same offline trajectories: {mine} store {sd}, SFT store {ss}")
        if not (sd and ss):
            note = "store not recorded for both (train summaries missing): same-trajectory condition unchecked"
        gaps = []  # "by up to X points": the largest per-task gap
        for t in d.tasks:
            common = sorted(set(d.tasks[t].per_prompt) & set(s.tasks[t].per_prompt)) if t in s.tasks else []
            if common:
                gaps.append((t, 100.0 * (np.mean([d.tasks[t].per_prompt[p] for p in common])
                                         - np.mean([s.tasks[t].per_prompt[p] for p in common]))))
        if gaps:
            t, g = max(gaps, key=lambda x: x[1])
            note = (note + "; " if note else "") + f"largest per-task gap {g:+.1f} Mean@8 points on `{t}` (abstract: up to 13.8)"
    return _acc_claim(col, acc, cid, text, "sft", column, note, mine=mine)


def _div_claim(col: Collection, div: dict, other: str, name: str, field: str) -> dict:
    from .diversity import LABELS, field_values
    from .stats import compare, task_matrices

    short = {"solution_coverage": "solution coverage", "correct_entropy": f"correct-strategy entropy (m={div.get('m')})"}[field]
    cid = f"div_{'coverage' if field == 'solution_coverage' else 'entropy'}_disa_vs_{other}"
    text = f"DISA retains more strategy-level diversity than {name}: {short}"
    d, o = col.by_method("disa"), col.by_method(other)
    if d is None or o is None:
        return _claim(cid, text, INCONCLUSIVE, "no eval results for " + ", ".join(m for m, e in (("disa", d), (other, o)) if e is None))
    a_list, b_list = [], []
    for t in d.tasks:
        m = task_matrices(d, o, [t], field_values(div, field)) if t in o.tasks else None
        if m is not None:
            a_list += m[0]
            b_list += m[1]
    if not a_list:
        why = ("no enumerable solution set (or no problem with ≥ 2 solutions) on these tasks" if field == "solution_coverage"
               else f"no problem with ≥ {div.get('m')} correct samples for both")
        return _claim(cid, text, INCONCLUSIVE, f"{LABELS[field]}: {why}")
    r = compare(a_list, b_list, n_boot=div.get("n_boot", 2000))
    ma = float(np.mean([x.mean() for x in a_list]))
    mb = float(np.mean([x.mean() for x in b_list]))
    if r["paired_prompts"] < MIN_PAIRED:
        return _claim(cid, text, INCONCLUSIVE, f"{LABELS[field]}: DISA {ma:.3f} vs {name} {mb:.3f} on only "
                      f"{r['paired_prompts']} problems (< {MIN_PAIRED}): not tested")
    nums = (f"{LABELS[field]}: DISA {ma:.3f} vs {name} {mb:.3f} (Δ {r['diff']:+.3f}; {describe_test(r)}; "
            f"{r['paired_prompts']} problems)")
    return _claim(cid, text, None, nums, kind="superiority", diff=r["diff"], p=r["p"], field=field, test=r["test"],
                  p_prompt=r["p_prompt"], p_seeds=r.get("p_seeds"), seeds=r["seeds"])


def apply_family(claims: list[dict], alpha: float = ALPHA) -> list[dict]:
    """Holm-adjust the p-values of the claims with a test and set their verdicts (module docstring)."""
    from ..eval.metrics import holm

    fam = [c for c in claims if c.get("verdict") is None and _finite(c.get("p"))]
    adj = holm([c["p"] for c in fam])
    m = len(fam)
    for c, a in zip(fam, adj):
        c["p_adj"], c["family_size"] = a, m
        if c["kind"] == "noninferiority":
            p_inf = min(1.0, m * c["p_inf"])
            c["verdict"] = HOLDS if a < alpha else FAILS if p_inf < alpha else INCONCLUSIVE
            c["numbers"] += (f"; Holm-adjusted p {fmt_p(a)} (family of {m}); worse-than-margin p {fmt_p(c['p_inf'])} "
                             f"(Bonferroni {fmt_p(p_inf)})")
            if c["verdict"] == INCONCLUSIVE:
                c["numbers"] += " — neither non-inferiority nor a deficit beyond the margin is shown"
        else:
            good = c["diff"] > 0 if c.get("direction", "greater") == "greater" else c["diff"] < 0
            c["verdict"] = INCONCLUSIVE if not a < alpha else HOLDS if good else FAILS
            c["numbers"] += f"; Holm-adjusted p {fmt_p(a)} (family of {m})"
            if c["verdict"] == INCONCLUSIVE and c["p"] < alpha:
                c["numbers"] += " — significant before, not after, the multiplicity correction"
    for c in claims:
        if c.get("verdict") is None:  # a claim that could not be tested
            c["verdict"] = INCONCLUSIVE
    return claims


def claims_note(col: Collection, claims: list[dict], alpha: float = ALPHA) -> str:
    """What the verdicts are about: checkpoints (one seed) or methods (seeds), and the family."""
    from .seeds import n_seeds

    seeds = {e.name: n_seeds(e) for e in col.entries if e.tasks}
    fam = next((c["family_size"] for c in claims if "family_size" in c), 0)
    fam_txt = (f"Holm–Bonferroni over the {fam} claims with a test (α = {alpha:g}); each verdict uses its adjusted p."
               if fam else "No claim could be tested.")
    if seeds and max(seeds.values()) < 2:
        return ("One training seed per method: the tests resample eval prompts for these fixed checkpoints, so the "
                "verdicts are about these checkpoints, not about the methods (training variance is in no p-value). "
                + fam_txt)
    return ("Seeds per row: " + ", ".join(f"{n} {s}" for n, s in seeds.items()) + ". Where both rows have ≥ 2 seeds "
            "the verdict uses the seed-aware test (seeds and prompts vary); elsewhere it is about the checkpoints. " + fam_txt)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
