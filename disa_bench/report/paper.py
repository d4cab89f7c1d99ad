"""The paper-shaped Mean@k table: one column per benchmark of each benchmark group the eval covers (``math6``,
``code3``: tasks/groups.py), each group followed by its average ("math avg", "code avg"); rows = the report's rows
(base and every method or variant); every cell Mean@k with its 95% CI (an average's CI resamples prompts within
each benchmark, or seeds and prompts with several seeds: :func:`.tables.cell`). Built only when the eval covers a
whole group; the report's full accuracy table (every task, p-values, flags) stays as it is.
"""

from __future__ import annotations

import math

GROUP_LABELS = (("math6", "math avg"), ("code3", "code avg"))


def paper_columns(tasks: list[str]) -> list[dict]:
    """Columns for the groups whose every member is among ``tasks``: members in the group's order, then its
    average. [] when no group is covered."""
    from ..tasks.groups import TASK_GROUPS

    cols = []
    for g, label in GROUP_LABELS:
        members = TASK_GROUPS[g]
        if all(t in tasks for t in members):
            cols += [{"key": t, "label": t, "tasks": [t], "kind": "task"} for t in members]
            cols.append({"key": f"{g}_avg", "label": label, "tasks": list(members), "kind": "avg"})
    return cols


def paper_table(col, n_boot: int) -> dict | None:
    """``{"columns", "rows": [{"name", "cells": {key: {mean, ci, n, best}}}], "k"}``, or None when the eval covers
    no whole benchmark group."""
    from .tables import _k, cell

    cols = paper_columns(col.tasks())
    if not cols:
        return None
    rows = []
    for e in col.entries:
        if not e.tasks:
            continue
        cells = {}
        for c in cols:
            v = cell(e, c, n_boot)
            cells[c["key"]] = {"mean": v["mean"], "ci": list(v["ci"]), "n": v["n"]} if v else None
        rows.append({"name": e.name, "cells": cells})
    for c in cols:
        vals = [r["cells"][c["key"]]["mean"] for r in rows if r["cells"][c["key"]]]
        for r in rows:
            v = r["cells"][c["key"]]
            if v and vals:
                v["best"] = abs(v["mean"] - max(vals)) < 1e-9
    return {"columns": cols, "rows": rows, "k": _k(col)}


def cell_text(v: dict | None, bold: bool = True) -> str:
    """``mean [lo, hi]`` (best in bold), or — for a missing cell."""
    if not v:
        return "—"
    lo, hi = v["ci"]
    s = f"{v['mean']:.1f}" + (f" [{lo:.1f}, {hi:.1f}]" if math.isfinite(lo) and math.isfinite(hi) else "")
    return f"**{s}**" if bold and v.get("best") else s


def markdown(pt: dict) -> list[str]:
    k = pt["k"]
    L = [f"## Paper table: Mean@{k} per benchmark (95% CI; best per column in **bold**)", ""]
    header = ["model"] + [c["label"] for c in pt["columns"]]
    L += ["| " + " | ".join(header) + " |", "|---" + "|---:" * len(pt["columns"]) + "|"]
    for r in pt["rows"]:
        L.append("| " + " | ".join([r["name"]] + [cell_text(r["cells"][c["key"]]) for c in pt["columns"]]) + " |")
    L += ["", "Averages are unweighted over the group's benchmarks (each benchmark counts once, whatever its size); "
          "their CI resamples prompts within each benchmark.", ""]
    return L


def latex(pt: dict, tex) -> list[str]:
    """A booktabs table (``tex`` escapes text, report/render.py)."""
    cols = pt["columns"]
    L = [r"\begin{table}[t]", r"\centering", r"\scriptsize",
         rf"\caption{{Mean@{pt['k']} (\%) per benchmark with 95\% CI; best per column in bold}}", r"\label{tab:paper}",
         r"\begin{tabular}{l" + "".join("r" if c["kind"] == "task" else "|r|" for c in cols) + "}", r"\toprule",
         "Model & " + " & ".join(tex(c["label"]) for c in cols) + r" \\", r"\midrule"]
    for r in pt["rows"]:
        cells = []
        for c in cols:
            v = r["cells"][c["key"]]
            s = tex(cell_text(v, bold=False))
            cells.append(r"\textbf{" + s + "}" if v and v.get("best") else s)
        L.append(tex(r["name"]) + " & " + " & ".join(cells) + r" \\")
    L += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return L


def html(pt: dict, esc) -> str:
    """An HTML table (``esc`` escapes text)."""
    head = "".join(f"<th>{esc(c['label'])}</th>" for c in pt["columns"])
    body = []
    for r in pt["rows"]:
        tds = []
        for c in pt["columns"]:
            v = r["cells"][c["key"]]
            s = esc(cell_text(v, bold=False))
            tds.append(f"<td><b>{s}</b></td>" if v and v.get("best") else f"<td>{s}</td>")
        body.append(f"<tr><th>{esc(r['name'])}</th>{''.join(tds)}</tr>")
    return (f"<h2>Paper table: Mean@{pt['k']} per benchmark (95% CI)</h2>"
            f"<table><thead><tr><th>model</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
