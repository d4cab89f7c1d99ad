"""Markdown and LaTeX (booktabs) renderings of the report model built in :mod:`disa_bench.report`."""

from __future__ import annotations

import math

from .tables import fmt_num, fmt_p

FLAG_MARK = "†"


def acc_cell_text(v: dict | None, bold: str = "**", pm: str = "±") -> str:
    if not v:
        return "—"
    lo, hi = v["ci"]
    half = (hi - lo) / 2 if math.isfinite(lo) and math.isfinite(hi) else float("nan")
    s = f"{v['mean']:.1f} {pm} {half:.1f}" if math.isfinite(half) else f"{v['mean']:.1f}"
    if v.get("best"):
        s = f"{bold}{s}{bold}"
    if v.get("flags"):
        s += FLAG_MARK
    return s


def p_text(v: dict | None) -> str:
    """Δ and the prompt-level p (plus the seed-aware p when both rows have seeds) of a cell vs the reference."""
    if not v or not v.get("vs_ref"):
        return ""
    r = v["vs_ref"]
    out = f"{r['diff']:+.1f}, p={fmt_p(r['p_prompt'])}"
    if r.get("p_seeds") is not None:
        out += f", seed-aware p={fmt_p(r['p_seeds'])}"
    return out


def seed_text(v: dict | None) -> str:
    if not v or not v.get("seeds"):
        return "—"
    return ", ".join(f"{x:.1f}" for x in v["seeds"]) + f" (sd {v['seed_sd']:.1f})"


def note_lines(acc: dict) -> list[str]:
    """One line per row that carries a note (a variant's, from the run's variants.json)."""
    notes = [(r["name"], r["note"]) for r in acc["rows"] if r.get("note")]
    return (["Row notes:", ""] + [f"- `{n}`: {t}" for n, t in notes] + [""]) if notes else []


def clipping_rows(clip: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the clipping table: mean clipped fraction per mini-batch index."""
    m = max(len(r["per_minibatch"]) for r in clip["rows"])
    header = ["row", "clipped (metric)"] + [f"mini-batch {i + 1}" for i in range(m)] + ["after the first", "flag"]
    rows = []
    for r in clip["rows"]:
        vals = [fmt_num(v, 3) if v is not None else "n/a" for v in r["per_minibatch"]] + ["—"] * (m - len(r["per_minibatch"]))
        rows.append([r["name"], f"{r['what']} (`{r['metric']}`)", *vals, fmt_num(r["after_first"], 3),
                     "**more than half clipped**" if r["flag"] else ""])
    return header, rows


def clipping_lines(clip: dict) -> list[str]:
    lines = [f"Mean over training steps of each mini-batch's clipped fraction (pooled over every seed's steps); "
             f"flagged when the mean over mini-batches 2.. exceeds {clip['threshold']:g}."]
    for r in clip["rows"]:
        if r["flag"]:
            lines.append(f"**Flag:** `{r['name']}`: {100 * r['after_first']:.0f}% clipped on average after the first "
                         f"mini-batch ({r['what']}): most of its updates there are not the update the method intends.")
    return lines


def claim_row(c: dict) -> list[str]:
    return [c["claim"], c["verdict"], fmt_p(c.get("p")), fmt_p(c.get("p_adj")), c["numbers"]]


CLAIM_HEADER = ["claim", "verdict", "raw p", "Holm-adjusted p", "numbers"]


def diversity_rows(div: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the diversity table: claim measures first, then the all-samples ones, then the judge."""
    labels = div.get("labels") or {}
    fields = [f for f in div["fields"] if not f.startswith("judge") or any(r["values"][f] is not None for r in div["rows"])]
    header = ["model"] + [labels.get(f, f) for f in fields] + ["problems (coverage / entropy / fewer than m correct)", "source"]
    rows = [[r["name"], *(fmt_num(r["values"][f], 3) for f in fields),
             f"{r['problems']} ({r.get('problems_coverage', '—')} / {r.get('problems_entropy', '—')} / {r.get('excluded_entropy', '—')})",
             r["source"] or "—"] for r in div["rows"]]
    return header, rows


def by_accuracy_rows(div: dict) -> tuple[list[str], list[list[str]]]:
    ba = div.get("by_accuracy") or {"bins": [], "rows": []}
    header = ["model"] + [f"acc {b}" for b in ba["bins"]] + ["corr(acc, coverage)", "corr(acc, entropy)"]
    rows = []
    for r in ba["rows"]:
        cells = [f"{fmt_num(c['solution_coverage'], 2)} / {fmt_num(c['correct_entropy'], 2)} (n={c['n']})" for c in r["cells"]]
        rows.append([r["name"]] + cells + [fmt_num(r["corr"].get("solution_coverage"), 2), fmt_num(r["corr"].get("correct_entropy"), 2)])
    return header, rows


def _md_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render_markdown(rep: dict) -> str:
    acc, div, comp = rep["accuracy"], rep["diversity"], rep["compute"]
    k = acc["k"]
    L = [f"# {rep['title']}", ""]
    if rep["warnings"]:
        L += ["> **Warnings**", ">"] + [f"> - {w}" for w in rep["warnings"]] + [""]
    if rep.get("paper_table"):
        from .paper import markdown as paper_md

        L += paper_md(rep["paper_table"])
    ref = acc.get("reference")
    L += [f"## Mean@{k} (95% CI half-width; best per column in **bold**; {FLAG_MARK} = not comparable, see Comparability)", ""]
    header = ["model"] + [c["label"] for c in acc["columns"]]
    rows = [[r["name"]] + [acc_cell_text(r["cells"].get(c["key"])) for c in acc["columns"]] for r in acc["rows"]]
    L += _md_table(header, rows) + [""]
    L += note_lines(acc)
    if any(v and v.get("seeds") for r in acc["rows"] for v in r["cells"].values()):
        L += [f"Per-seed Mean@{k} (rows with several training seeds; the CI above varies seeds and prompts):", ""]
        L += _md_table(header, [[r["name"]] + [seed_text(r["cells"].get(c["key"])) for c in acc["columns"]]
                                for r in acc["rows"]]) + [""]
    if ref:
        L += [f"Paired tests vs `{ref}` on the same prompts (Δ in Mean@{k} points; two-sided p of the prompt-level "
              "paired bootstrap, and of the seed-aware test when both rows have several seeds):", ""]
        rows = [[r["name"]] + [p_text(r["cells"].get(c["key"])) or "—" for c in acc["columns"]]
                for r in acc["rows"] if r["name"] != acc.get("reference_row", ref)]
        L += _md_table(header, rows) + [""]
    else:
        L += ["No DISA results: paired p-values against DISA are not available.", ""]
    L += ["## Claims (DISA abstract)", ""]
    rows = [claim_row(c) for c in rep["claims"]]
    L += _md_table(CLAIM_HEADER, [[r[0], f"**{r[1]}**", *r[2:]] for r in rows], ["---", "---", "---:", "---:", "---"]) + [""]
    if rep.get("claims_note"):
        L += [rep["claims_note"] + f" Non-inferiority margin: {rep['statistics']['ni_margin']:g} Mean@{k} points.", ""]
    L += ["## Diversity", ""]
    if any(r["problems"] for r in div["rows"]):
        L += _md_table(*diversity_rows(div)) + [""]
        L += [f"Claims use solution coverage (on problems with ≥ 2 correct strategies) and correct-strategy entropy at "
              f"m = {div.get('m')} correct samples (problems with fewer are excluded and counted); the columns marked "
              "'all samples' count wrong answers too and are shown for reference only.", ""]
        h, rows = by_accuracy_rows(div)
        L += ["Claim measures by per-prompt accuracy (coverage / entropy, n prompts) and their correlation with "
              "accuracy over prompts, so a reader can see whether a measure just follows accuracy:", ""]
        L += _md_table(h, rows) + [""]
    else:
        L += ["No samples.jsonl or judge output found: no diversity measures.", ""]
    L += ["## Compute", ""]
    if comp["rows"]:
        header_c = ["method", "data", "steps", "tokens generated", "tokens forward", "tokens backward", "wall (s)",
                    "device-hours", "peak mem (MB)"]
        rows = [[r["name"], str(r["data"]), fmt_num(r["steps"]), fmt_num(r["tokens_generated"]), fmt_num(r["tokens_forward"]),
                 fmt_num(r["tokens_backward"]), fmt_num(r["wall_seconds"]),
                 f"{fmt_num(r['device_hours'], 4)} {r['device_kind']}-h" + (f" ({r['processes']} proc)" if r["processes"] > 1 else ""),
                 fmt_num(r["peak_memory_mb"])] for r in comp["rows"]]
        L += _md_table(header_c, rows) + [""]
        n = max(r.get("seeds") or 1 for r in comp["rows"])
        if n > 1:
            L += [f"Rows trained with several seeds show the mean over their {n} seeds (each seed: one training of "
                  f"the same budget).", ""]
    else:
        L += ["No train summaries found.", ""]
    from .tuning import markdown as tuning_md

    L += tuning_md(rep.get("tuning"))
    if (rep.get("clipping") or {}).get("rows"):
        L += ["## Clipping", ""]
        h, rows = clipping_rows(rep["clipping"])
        L += _md_table(h, rows, ["---"] * 2 + ["---:"] * (len(h) - 2)) + [""] + clipping_lines(rep["clipping"]) + [""]
    L += ["## Comparability", ""]
    cmp_ = rep["comparability"]
    if cmp_["issues"]:
        L += [f"Not comparable (affected cells marked {FLAG_MARK}):", ""] + [f"- {i}" for i in cmp_["issues"]] + [""]
    else:
        L += ["All runs share tasks, eval split, sampling parameters, seeds and prompt sets.", ""]
    if rep["gaps"]:
        L += ["Gaps (no results):", ""] + [f"- {g}" for g in rep["gaps"]] + [""]
    if rep["figures"]:
        L += ["## Figures", ""] + [f"![{n}]({p})" for n, p in rep["figures"].items()] + [""]
    L += ["---", "", "**Provenance**", ""] + [f"- {line}" for line in provenance_lines(rep["provenance"])] + [""]
    return "\n".join(L)


def provenance_lines(prov: dict) -> list[str]:
    out = [f"report generated {prov['generated']} by disa-bench {prov.get('disa_bench')} (commit `{prov.get('report_commit')}`)"]
    for r in prov["runs"]:
        v = r.get("versions") or {}
        out.append(f"`{r['name']}` ({r['kind']} {r['dir']}): commit `{r.get('git_commit')}`, config `{r.get('config_hash')}`, "
                   f"seed {r.get('seed')}, torch {v.get('torch')}, transformers {v.get('transformers')}, peft {v.get('peft')}")
    for t, s in prov["sampling"].items():
        out.append(f"sampling `{t}`: " + "; ".join(s))
    return out


# ---------------------------------------------------------------------- LaTeX
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "†": r"$^\dagger$", "Δ": r"$\Delta$", "α": r"$\alpha$",
        "β": r"$\beta$", "—": "--", "–": "--", "≥": r"$\geq$", "Ẑ": r"$\hat Z$", "−": "-", "±": r"$\pm$", "×": r"$\times$", "`": "",
        "π": r"$\pi$", "≤": r"$\leq$", "<": r"$<$", ">": r"$>$"}


def tex(s) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(s))


def render_latex(rep: dict) -> str:
    acc = rep["accuracy"]
    k = acc["k"]
    cols = acc["columns"]
    L = ["% generated by disa-bench report; needs \\usepackage{booktabs}", ""]
    if rep.get("paper_table"):
        from .paper import latex as paper_tex

        L += paper_tex(rep["paper_table"], tex)
    L += [r"\begin{table}[t]", r"\centering", r"\small",
          rf"\caption{{Mean@{k} (\%) with 95\% CI half-width; best per column in bold"
          + (rf"; $p$: paired bootstrap vs {tex(acc['reference'])}" if acc.get("reference") else "") + "}",
          r"\label{tab:main}", r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
          "Model & " + " & ".join(tex(c["label"]) for c in cols) + r" \\", r"\midrule"]
    for r in acc["rows"]:
        cells = []
        for c in cols:
            v = r["cells"].get(c["key"])
            s = tex(acc_cell_text(v, bold="", pm="±"))
            if v and v.get("best"):
                s = r"\textbf{" + s.replace(tex("†"), "") + "}" + (tex("†") if v.get("flags") else "")
            if v and v.get("vs_ref"):
                s += rf" {{\scriptsize($p$={tex(fmt_p(v['vs_ref']['p']))})}}"
            cells.append(s)
        L.append(tex(r["name"]) + " & " + " & ".join(cells) + r" \\")
    L += [r"\bottomrule", r"\end{tabular}"]
    if rep["comparability"]["issues"]:
        L.append(r"\\[2pt]{\footnotesize $^\dagger$ not comparable: " + tex("; ".join(rep["comparability"]["issues"])) + "}")
    L += [r"\end{table}", ""]
    L += [r"\begin{table}[t]", r"\centering", r"\small", r"\caption{Claims of the DISA abstract checked on these runs; "
          r"$p$ raw and Holm-adjusted over the family}",
          r"\label{tab:claims}", r"\begin{tabular}{p{0.28\linewidth}lrrp{0.40\linewidth}}", r"\toprule",
          r"Claim & Verdict & $p$ & adj.\ $p$ & Numbers \\", r"\midrule"]
    for c in rep["claims"]:
        L.append(" & ".join(tex(x) for x in claim_row(c)) + " \\\\")
    L += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    div = rep["diversity"]
    if any(r["problems"] for r in div["rows"]):
        header, rows = diversity_rows(div)
        L += [r"\begin{table}[t]", r"\centering", r"\small", r"\caption{Diversity of the samples per problem: claim "
              r"measures (correct samples only) first; `all samples' columns count wrong answers}",
              r"\label{tab:diversity}", r"\begin{tabular}{l" + "r" * (len(header) - 2) + "l}", r"\toprule",
              " & ".join(tex(h) for h in header) + r" \\", r"\midrule"]
        for r in rows:
            L.append(" & ".join(tex(x) for x in r) + r" \\")
        L += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    if rep["compute"]["rows"]:
        L += [r"\begin{table}[t]", r"\centering", r"\small", r"\caption{Training compute}", r"\label{tab:compute}",
              r"\begin{tabular}{lrrrrr}", r"\toprule",
              r"Method & Steps & Tokens gen. & Tokens fwd. & Wall (s) & Device-h \\", r"\midrule"]
        for r in rep["compute"]["rows"]:
            L.append(" & ".join(tex(x) for x in (r["name"], fmt_num(r["steps"]), fmt_num(r["tokens_generated"]),
                                                 fmt_num(r["tokens_forward"]), fmt_num(r["wall_seconds"]),
                                                 f"{fmt_num(r['device_hours'], 4)} {r['device_kind']}")) + r" \\")
        L += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(L)
