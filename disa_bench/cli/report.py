"""``disa-bench report``: paper tables (Markdown, LaTeX), claims, figures and a self-contained HTML page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .app import app, user_errors


@app.command()
@user_errors
def report(
    run_dirs: List[Path] = typer.Argument(..., metavar="RUN_DIR...", help="Pipeline run dirs, eval dirs, train dirs or sweep dirs."),
    out: Path = typer.Option(Path("runs/report"), "--out", help="Output dir (report.md/.tex/.html/.json, figures/)."),
    formats: Optional[str] = typer.Option(None, "--format", help="Comma list of md, tex, html, png, json (default all)."),
    reference: str = typer.Option("disa", "--reference", help="Method the paired p-values compare against."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples for CIs of averages and p-values."),
    drilldown: int = typer.Option(50, "--drilldown", help="Problems per task in the HTML drill-down."),
    title: Optional[str] = typer.Option(None, "--title"),
    ni_margin: float = typer.Option(1.0, "--ni-margin", help="Non-inferiority margin of 'matches or exceeds' claims, in Mean@k points."),
):
    """Collect eval results of several runs into paper tables: Mean@8 ± 95% CI per task and average, paired
    p-values vs DISA (seed-aware with seed<s>/ dirs), diversity and compute columns, the abstract's claims
    (Holm–Bonferroni over the family; non-inferiority for "matches") and a comparability check.

    Example: [bold]disa-bench report runs/embedded-default runs/sweep --out runs/report[/]
    """
    from ..errors import UserError
    from ..report import build_report, parse_formats
    from ..progress import console

    if n_boot < 100:
        raise UserError(f"--n-boot must be >= 100, got {n_boot}")
    if drilldown < 0:
        raise UserError(f"--drilldown must be >= 0, got {drilldown}")
    if not ni_margin >= 0:
        raise UserError(f"--ni-margin must be >= 0 (Mean@k points), got {ni_margin}")
    rep = build_report(run_dirs, out, parse_formats(formats), reference=reference, n_boot=n_boot, drilldown=drilldown,
                       warn=lambda m: print(m, file=sys.stderr), title=title, ni_margin=ni_margin)
    for c in rep["claims"]:
        console.print(f"{c['verdict']:>14}: {c['claim']} — {c['numbers']}", soft_wrap=True, markup=False)
    n_issues = len(rep["comparability"]["issues"])
    if n_issues:
        console.print(f"{n_issues} comparability issue(s); see the Comparability section", markup=False)
    console.print(f"report -> {out}", markup=False)
