"""The report's fairness block: how each row's learning rate was chosen (experiments/tune.py).

Reads each pipeline run dir's ``tune/tune.json`` (the grid, every cell's val score, the choice; written by ``run
--tune`` or copied from the profile's committed tuning) and ``variants.json`` (the lr each row trained with and
where it came from: tuned, shared, run config, variant). A run without tuning gets a line saying every row used the
shared lr, so a reader never has to guess.
"""

from __future__ import annotations

import json
from pathlib import Path


def tuning_table(run_dirs: list[Path]) -> dict | None:
    for d in map(Path, run_dirs):
        rows_file, tune_file = d / "variants.json", d / "tune" / "tune.json"
        if not rows_file.is_file():
            continue
        try:
            used = json.loads(rows_file.read_text()).get("rows", {})
            tune = json.loads(tune_file.read_text()) if tune_file.is_file() else None
        except (OSError, ValueError):
            continue
        out = {"run": str(d), "used": {r: {"lr": v.get("lr"), "source": v.get("lr_source")} for r, v in used.items()}}
        if tune:
            out |= {"source": tune.get("source"), "protocol": tune["protocol"], "cells": tune["cells"],
                    "chosen": tune["chosen"], "base_val": tune.get("base_val")}
        return out
    return None


def block(t: dict | None) -> tuple[list[str], list[str], list[list[str]], list[str]] | None:
    """(lines before, table header, table rows, lines after) of the fairness block; None without run dirs."""
    if not t:
        return None
    if "cells" not in t:
        lrs = sorted({f"{v['lr']:g}" for v in t["used"].values() if v.get("lr") is not None})
        return ([f"No tuning: every row trained at the shared lr ({', '.join(lrs)}); see `disa-bench tune`."], [], [], [])
    p = t["protocol"]
    before = [f"Every row got the same grid and budget: lr in {{{', '.join(f'{x:g}' for x in p['lrs'])}}}, {p['steps']} "
              f"steps of {p['prompts_per_step']} prompts x {p['n']} ({p['mini_batches']} mini-batches), seed {p['seed']}, "
              f"scored by Mean@{p['k']} on {p['n_prompts']} `{p['split']}` prompts (disjoint from train, sft and test); "
              f"rule: {p['rule']}. Source: {t.get('source')}."
              + (f" Base model's val Mean@{p['k']}: {t['base_val']['mean']:.1f}." if t.get("base_val") else "")]
    lrs = [f"{x:g}" for x in p["lrs"]]
    header = ["row"] + [f"val Mean@{p['k']}, lr {x}" for x in lrs] + ["chosen lr", "trained with"]
    rows = []
    for row, cells in t["cells"].items():
        best = t["chosen"].get(row)
        vals = [(f"**{cells[x]['mean']:.1f}**" if best is not None and float(x) == best else f"{cells[x]['mean']:.1f}")
                if x in cells else "—" for x in lrs]
        u = t["used"].get(row)
        rows.append([row, *vals, f"{best:g}" if best is not None else "—",
                     f"{u['lr']:g} ({u['source']})" if u and u.get("lr") is not None else "not in this run"])
    for row, u in t["used"].items():
        if row not in t["cells"]:
            rows.append([row] + ["—"] * len(lrs) + ["not tuned", f"{u['lr']:g} ({u['source']})"])
    after = ["One seed per cell and a short budget: cells within a few points of each other are within noise (each "
             "cell's 95% CI is in report.json). The grid and rule were fixed before any cell was run; no lr was chosen "
             "to make a method win."]
    return before, header, rows, after


def markdown(t: dict | None) -> list[str]:
    b = block(t)
    if b is None:
        return []
    before, header, rows, after = b
    L = ["## Tuning (fairness)", ""] + [x for line in before for x in (line, "")]
    if rows:
        L += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        L += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    return L + [x for line in after for x in (line, "")]
