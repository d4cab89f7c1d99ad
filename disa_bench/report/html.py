"""A self-contained HTML page: inline CSS, no scripts, figures embedded as base64 PNG, and a per-problem
drill-down (``<details>``) to every method's samples, rewards, answers, verdicts and judge labels."""

from __future__ import annotations

import base64
import html as _html
from pathlib import Path

from ..errors import UserError
from .render import (CLAIM_HEADER, FLAG_MARK, acc_cell_text, by_accuracy_rows, claim_row, clipping_lines, clipping_rows,
                     diversity_rows, p_text, provenance_lines, seed_text)
from .tables import fmt_num

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1150px;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:1.6em}
table{border-collapse:collapse;margin:8px 0 14px;font-size:.92em}
th,td{border-top:1px solid #ccc;border-bottom:1px solid #ccc;padding:4px 9px;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #444;border-top:2px solid #444}
td.best{font-weight:bold}td.flag{background:#fff3cd}.gap{color:#999}
.v-holds{color:#146c2e;font-weight:bold}.v-does{color:#b02a37;font-weight:bold}.v-inconclusive{color:#8a6d00;font-weight:bold}
.warn{background:#fff3cd;border-left:4px solid #e0a800;padding:6px 10px;margin:6px 0}
details{margin:3px 0 3px 12px}summary{cursor:pointer}pre{white-space:pre-wrap;background:#f6f8fa;padding:6px;margin:3px 0;font-size:.85em}
.ok{color:#146c2e}.bad{color:#b02a37}img{max-width:100%;border:1px solid #eee;margin:6px 0}
table.text td,table.text th{text-align:left}
footer{margin-top:2em;border-top:1px solid #ccc;font-size:.85em;color:#555}
"""

MAX_CHARS = 1500


def esc(s) -> str:
    return _html.escape(str(s), quote=True)


def txt(s) -> str:
    """Report prose (claims, issues, gaps): HTML-escaped with Markdown code backticks dropped."""
    return esc(str(s).replace("`", ""))


def _table(header: list[str], rows: list[list[tuple[str, str]]], cls: str = "") -> str:
    """rows: list of [(cell html, css class)]"""
    h = (f'<table class="{cls}">' if cls else "<table>") + "<thead><tr>" + "".join(f"<th>{esc(x)}</th>" for x in header) + "</tr></thead><tbody>"
    for r in rows:
        h += "<tr>" + "".join(f'<td class="{c}">{x}</td>' for x, c in r) + "</tr>"
    return h + "</tbody></table>"


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{esc(Path(path).stem)}" src="data:image/png;base64,{data}">'


def render_html(rep: dict, col, figures: dict[str, Path], drilldown: int = 50) -> str:
    acc, div, comp = rep["accuracy"], rep["diversity"], rep["compute"]
    k = acc["k"]
    B = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(rep['title'])}</title>"
         f"<style>{CSS}</style></head><body>", f"<h1>{esc(rep['title'])}</h1>"]
    for w in rep["warnings"]:
        B.append(f'<div class="warn">{txt(w)}</div>')
    if rep.get("paper_table"):
        from .paper import html as paper_html

        B.append(paper_html(rep["paper_table"], esc))
    B.append(f"<h2>Mean@{k}</h2><p>Mean@{k} ± 95% CI half-width (hover a cell for the CI); best per column in bold; "
             f"{FLAG_MARK} = not comparable (see Comparability).</p>")
    header = ["model"] + [c["label"] for c in acc["columns"]]
    rows = []
    for r in acc["rows"]:
        cells = [(esc(r["name"]), "")]
        for c in acc["columns"]:
            v = r["cells"].get(c["key"])
            if not v:
                cells.append(("—", "gap"))
                continue
            shown = esc(acc_cell_text(v, bold=""))
            title = f"95% CI [{v['ci'][0]:.1f}, {v['ci'][1]:.1f}]"
            if v.get("vs_ref"):
                title += f"; vs {acc['reference']}: {p_text(v)}"
            cls = " ".join(x for x in ("best" if v.get("best") else "", "flag" if v.get("flags") else "") if x)
            cells.append((f"<span title=\"{esc(title)}\">{shown}</span>", cls))
        rows.append(cells)
    B.append(_table(header, rows))
    notes = [(r["name"], r["note"]) for r in acc["rows"] if r.get("note")]
    if notes:
        B.append("<p>Row notes:</p><ul>" + "".join(f"<li><b>{esc(n)}</b>: {txt(t)}</li>" for n, t in notes) + "</ul>")
    if any(v and v.get("seeds") for r in acc["rows"] for v in r["cells"].values()):
        B.append(f"<p>Per-seed Mean@{k} (the CI above varies seeds and prompts):</p>")
        B.append(_table(header, [[(esc(r["name"]), "")] + [(esc(seed_text(r["cells"].get(c["key"]))), "") for c in acc["columns"]]
                                 for r in acc["rows"]]))
    if acc.get("reference"):
        B.append(f"<p>Paired tests vs <b>{esc(acc['reference'])}</b> on the same prompts (Δ points; two-sided p, prompt-level "
                 "and, with seeds, seed-aware):</p>")
        rows = [[(esc(r["name"]), "")] + [(esc(p_text(r["cells"].get(c["key"])) or "—"), "") for c in acc["columns"]]
                for r in acc["rows"] if r["name"] != acc.get("reference_row", acc["reference"])]
        B.append(_table(header, rows))
    B.append("<h2>Claims (DISA abstract)</h2>")
    rows = []
    for c in rep["claims"]:
        cl, v, p, pa, nums = claim_row(c)
        rows.append([(txt(cl), ""), (f'<span class="v-{v.split()[0]}">{esc(v)}</span>', ""), (esc(p), ""), (esc(pa), ""),
                     (txt(nums), "")])
    B.append(_table(CLAIM_HEADER, rows, cls="text"))
    if rep.get("claims_note"):
        B.append(f"<p>{txt(rep['claims_note'])} Non-inferiority margin: {rep['statistics']['ni_margin']:g} Mean@{k} points.</p>")
    B.append("<h2>Diversity</h2>")
    if any(r["problems"] for r in div["rows"]):
        header, rows = diversity_rows(div)
        B.append(_table(header, [[(esc(x), "") for x in r] for r in rows]))
        B.append(f"<p>Claims use solution coverage (problems with ≥ 2 correct strategies) and correct-strategy entropy at "
                 f"m = {esc(div.get('m'))} correct samples; 'all samples' columns count wrong answers and are for reference.</p>")
        header, rows = by_accuracy_rows(div)
        B.append("<p>Claim measures by per-prompt accuracy (coverage / entropy, n) and their correlation with accuracy:</p>")
        B.append(_table(header, [[(esc(x), "") for x in r] for r in rows]))
    else:
        B.append("<p>No samples or judge output found.</p>")
    B.append("<h2>Compute</h2>")
    if comp["rows"]:
        rows = [[(esc(r["name"]), ""), (esc(r["data"]), ""), (fmt_num(r["steps"]), ""), (fmt_num(r["tokens_generated"]), ""),
                 (fmt_num(r["tokens_forward"]), ""), (fmt_num(r["tokens_backward"]), ""), (fmt_num(r["wall_seconds"]), ""),
                 (f"{fmt_num(r['device_hours'], 4)} {r['device_kind']}", ""), (fmt_num(r["peak_memory_mb"]), "")]
                for r in comp["rows"]]
        B.append(_table(["method", "data", "steps", "tokens gen.", "tokens fwd.", "tokens bwd.", "wall (s)", "device-h",
                         "peak MB"], rows))
    else:
        B.append("<p>No train summaries found.</p>")
    from .tuning import block as tuning_block

    tb = tuning_block(rep.get("tuning"))
    if tb:
        before, header, rows, after = tb
        B.append("<h2>Tuning (fairness)</h2>" + "".join(f"<p>{txt(x.replace('`', ''))}</p>" for x in before))
        if rows:
            B.append(_table(header, [[(txt(x.replace("**", "")), "best" if x.startswith("**") else "") for x in r]
                                     for r in rows], cls="text"))
        B.append("".join(f"<p>{txt(x)}</p>" for x in after))
    if (rep.get("clipping") or {}).get("rows"):
        B.append("<h2>Clipping</h2>")
        header, rows = clipping_rows(rep["clipping"])
        B.append(_table(header, [[(txt(x.replace('**', '')), "") for x in r] for r in rows], cls="text"))
        B.append("".join(f"<p>{txt(x.replace('**', ''))}</p>" for x in clipping_lines(rep["clipping"])))
    B.append("<h2>Comparability</h2>")
    cmp_ = rep["comparability"]
    if cmp_["issues"]:
        B.append("<ul>" + "".join(f"<li>{txt(i)}</li>" for i in cmp_["issues"]) + "</ul>")
    else:
        B.append("<p>All runs share tasks, eval split, sampling parameters, seeds and prompt sets.</p>")
    if rep["gaps"]:
        B.append("<p>Gaps (no results):</p><ul>" + "".join(f"<li>{txt(g)}</li>" for g in rep["gaps"]) + "</ul>")
    if figures:
        B.append("<h2>Figures</h2>")
        for p in figures.values():
            B.append(_img(p))
    B.append(f"<h2>Per-problem drill-down</h2><p>Up to {drilldown} problems per task; each opens to every model's samples "
             "(reward, answer, verdict, strategy, judge class).</p>")
    B.append(drill(col, drilldown))
    B.append("<footer><b>Provenance</b><ul>" + "".join(f"<li>{txt(x)}</li>" for x in provenance_lines(rep["provenance"]))
             + "</ul></footer></body></html>")
    return "\n".join(B)


def _samples_by_prompt(tr) -> dict[str, list[dict]]:
    if tr.samples_path is None:
        return {}
    from ..judge.offline import load_samples

    try:
        return load_samples(tr.samples_path)
    except (UserError, OSError):
        return {}


def drill(col, limit: int) -> str:
    out = []
    for t in col.tasks():
        have = [e for e in col.entries if t in e.tasks]
        samples = {e.name: _samples_by_prompt(e.tasks[t]) for e in have}
        pids: list[str] = []
        for e in have:
            for p in e.tasks[t].per_prompt:
                if p not in pids:
                    pids.append(p)
        out.append(f"<details><summary><b>{esc(t)}</b> — {len(pids)} problems</summary>")
        for pid in pids[:limit]:
            accs = ", ".join(f"{e.name} {100 * e.tasks[t].per_prompt[pid]:.0f}%" for e in have if pid in e.tasks[t].per_prompt)
            out.append(f"<details><summary>{esc(pid)}: {esc(accs)}</summary>")
            prompt = next((rows[0].get("prompt") for rows in (samples[e.name].get(pid) for e in have) if rows), None)
            if prompt:
                out.append(f"<pre>{esc(prompt[:MAX_CHARS])}</pre>")
            for e in have:
                rows = samples[e.name].get(pid) or []
                jr = (e.tasks[t].judge_rows or {}).get(pid) or {}
                llm = jr.get("llm") or {}
                classes = llm.get("classes") or []
                head = f"{e.name}: {len(rows)} samples"
                if llm.get("status") == "ok":
                    head += f", judge score {llm.get('score')}"
                out.append(f"<details><summary>{esc(head)}</summary>")
                for i, r in enumerate(rows):
                    ok = (r.get("reward") or 0) > 0
                    meta = (f"#{r.get('sample', i)} reward {r.get('reward')} answer {r.get('answer')!r} verdict {r.get('verdict')} "
                            f"strategy {r.get('strategy')!r}" + (f" judge class {classes[i]!r}" if i < len(classes) else "")
                            + (" truncated" if r.get("truncated") else ""))
                    out.append(f'<div class="{"ok" if ok else "bad"}">{esc(meta)}</div>'
                               f"<pre>{esc(str(r.get('response', ''))[:MAX_CHARS])}</pre>")
                if not rows:
                    out.append('<p class="gap">no samples.jsonl</p>')
                out.append("</details>")
            out.append("</details>")
        if len(pids) > limit:
            out.append(f"<p class=\"gap\">{len(pids) - limit} more problems not shown (--drilldown)</p>")
        out.append("</details>")
    return "\n".join(out)
