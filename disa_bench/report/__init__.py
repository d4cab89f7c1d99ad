"""``disa-bench report``: paper tables, claims, figures and a self-contained HTML page from run dirs.

``build_report(run_dirs, out)`` collects eval/train/judge/sweep outputs (:mod:`.collect`), builds the tables
(:mod:`.tables`), checks the abstract's claims (:mod:`.claims`), draws figures (:mod:`.figures`) and writes
``report.md``, ``report.tex``, ``report.html``, ``report.json`` and ``figures/*.png`` into ``out``.
See docs/report.md.
"""

from __future__ import annotations

import time
from pathlib import Path

FORMATS = ("md", "tex", "html", "png", "json")


def parse_formats(s: str | None) -> list[str]:
    from ..errors import UserError

    if not s:
        return list(FORMATS)
    fs = [f.strip() for f in s.split(",") if f.strip()]
    bad = [f for f in fs if f not in FORMATS]
    if bad:
        raise UserError(f"unknown --format {', '.join(bad)}; valid: {', '.join(FORMATS)}")
    return fs


def provenance(col) -> dict:
    from ..manifest import git_commit, package_versions
    from .collect import config_hash

    runs = []
    for e in col.entries:
        for t, tr0 in e.tasks.items():
            for i, tr in enumerate(tr0.seeds or [tr0]):
                m = tr.manifest or {}
                name = f"{e.name}/{t}" + (f"/seed{tr0.seed_labels[i]}" if tr0.seeds else "")
                runs.append({"name": name, "kind": "eval", "dir": str(tr.eval_dir), "git_commit": m.get("git_commit"),
                             "config_hash": config_hash(tr.results.get("config") or m.get("config")), "seed": tr.seed,
                             "versions": m.get("versions")})
        if e.train:
            m = e.train_manifest or {}
            runs.append({"name": e.name, "kind": "train", "dir": str(e.train_dir), "git_commit": m.get("git_commit"),
                         "config_hash": config_hash(m.get("config")), "seed": (e.train.get("fairness") or {}).get("seed"),
                         "versions": m.get("versions")})
    for sw in col.sweeps:
        runs.append({"name": "sweep", "kind": "sweep", "dir": sw.get("_path"), "git_commit": sw.get("git_commit"),
                     "config_hash": config_hash(sw.get("config")), "seed": (sw.get("config") or {}).get("seed"),
                     "versions": sw.get("versions")})
    sampling: dict[str, list[str]] = {}
    for e in col.entries:
        for t, tr in e.tasks.items():
            s = tr.sampling
            txt = (f"k={s.get('k')}, T={s.get('temperature')}, top_p={s.get('top_p')}, max_new_tokens={s.get('max_new_tokens')}, "
                   f"seed={s.get('seed')}, split={tr.split}")
            lst = sampling.setdefault(t, [])
            if txt not in lst:
                lst.append(txt)
    return {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "report_commit": git_commit(),
            "disa_bench": package_versions().get("disa-bench"), "runs": runs, "sampling": sampling}


def build_model(run_dirs: list[Path], reference: str = "disa", n_boot: int = 2000, warn=None, title: str | None = None,
                ni_margin: float = 1.0):
    """(report dict, collection). Raises UserError when no run dir has any results."""
    from ..errors import UserError
    from .claims import ALPHA, build_claims, claims_note
    from .collect import collect
    from .diversity import diversity_table
    from .tables import accuracy_table, clipping_table, comparability, compute_table
    from .paper import paper_table
    from .tuning import tuning_table

    col = collect(run_dirs, warn=warn)
    if not col.has_results() and not col.sweeps:
        raise UserError(f"no results in {', '.join(str(d) for d in run_dirs)} (expected eval dirs with results.json, "
                        f"pipeline run dirs with eval/*/results.json, or a sweep dir with sweep.json)")
    cmp_ = comparability(col, reference)
    acc = accuracy_table(col, reference, n_boot=n_boot, flagged=cmp_["flagged"])
    acc["n_boot"] = n_boot
    div = diversity_table(col)
    div["n_boot"] = n_boot
    comp = compute_table(col)
    claims = build_claims(col, acc, div, comp, margin=ni_margin)
    rep = {"title": title or "disa-bench report", "accuracy": acc,
           "diversity": {k: v for k, v in div.items() if k not in ("per_problem", "per_seed", "_by_id")}, "compute": comp,
           "clipping": clipping_table(col),
           "tuning": tuning_table(run_dirs),
           "paper_table": paper_table(col, n_boot),
           "comparability": {"issues": cmp_["issues"], "comparable": cmp_["comparable"],
                             "flagged": [{"row": r, "task": t, "why": w} for (r, t), w in cmp_["flagged"].items()]},
           "claims": claims, "claims_note": claims_note(col, claims),
           "statistics": {"alpha": ALPHA, "ni_margin": ni_margin, "n_boot": n_boot, "family": "Holm–Bonferroni"},
           "warnings": list(col.warnings), "gaps": list(col.gaps),
           "sweeps": [{k: v for k, v in sw.items() if k != "_path"} | {"path": sw.get("_path")} for sw in col.sweeps],
           "provenance": provenance(col), "figures": {}}
    rep["_div_full"] = div
    return rep, col


def build_report(run_dirs: list[Path], out: Path, formats: list[str] | None = None, reference: str = "disa",
                 n_boot: int = 2000, drilldown: int = 50, warn=None, title: str | None = None, ni_margin: float = 1.0) -> dict:
    from ..io import staged_outputs, write_json, write_text
    from . import figures as F
    from .html import render_html
    from .render import render_latex, render_markdown

    formats = formats or list(FORMATS)
    rep, col = build_model(run_dirs, reference, n_boot, warn, title, ni_margin)
    div_full = rep.pop("_div_full")
    out = Path(out)
    with staged_outputs(out) as tmp:
        figs: dict[str, Path] = {}
        if "png" in formats or "html" in formats:
            (tmp / "figures").mkdir(exist_ok=True)
            for name, fn in (("bars", lambda p: F.bars(rep["accuracy"], p)), ("curves", lambda p: F.curves(col, p)),
                             ("diversity_vs_accuracy", lambda p: F.diversity_scatter(rep["accuracy"], div_full, p)),
                             ("diversity_per_prompt", lambda p: F.diversity_per_prompt(div_full, p)),
                             ("sensitivity", lambda p: F.sensitivity(col.sweeps[0], p) if col.sweeps else None)):
                p = fn(tmp / "figures" / f"{name}.png")
                if p is not None:
                    figs[name] = p
        rep["figures"] = {n: f"figures/{p.name}" for n, p in figs.items()} if "png" in formats else {}
        if "md" in formats:
            write_text(tmp / "report.md", render_markdown(rep))
        if "tex" in formats:
            write_text(tmp / "report.tex", render_latex(rep))
        if "html" in formats:
            write_text(tmp / "report.html", render_html(rep, col, figs, drilldown=drilldown))
        if "json" in formats:
            write_json(tmp / "report.json", rep)
        if "png" not in formats and (tmp / "figures").exists():
            import shutil

            shutil.rmtree(tmp / "figures")
    rep["out"] = str(out)
    return rep
