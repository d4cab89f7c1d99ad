"""``disa-bench tune``: the same learning-rate grid for every row, scored on the val split (experiments/tune.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..progress import console
from .app import app, ConfigOpt, flags, SeedOpt, user_errors


@app.command()
@user_errors
def tune(
    profile: Optional[str] = typer.Option(None, "--profile", help="smoke or default: the run whose rows are tuned (its store, anchors, budget per step)."),
    config: Optional[str] = ConfigOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default runs/tune-PROFILE): propose/, anchor*/, tune/tune.json."),
    seed: Optional[int] = SeedOpt,
    methods: Optional[str] = typer.Option(None, "--methods", help="Comma list of rows to tune (methods or variants). Default: every registered method."),
    lrs: Optional[str] = typer.Option(None, "--lrs", help="Comma list of learning rates (default: the profile's, 3 values spanning 10x)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Training steps per grid cell (default: the profile's)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Grid cells in this many worker processes (the numbers do not depend on it)."),
    resume: bool = typer.Option(False, "--resume", help="Skip the cells already done with the same config."),
):
    """Train every row once per learning rate of a small grid (one seed, a short budget), score each on the task's
    held-out val split, and pick per row the lr with the highest val Mean@k (ties: the smaller lr).

    The same grid, budget and rule for every row. Writes OUT/tune/tune.json; a run uses it with
    [bold]disa-bench run --tuning OUT/tune/tune.json[/], and the profile's committed tuning is that file copied to
    disa_bench/experiments/tuned/PROFILE.json (the default run reads it; baselines/embedded/*.yaml repeat the lrs).

    Example: [bold]disa-bench tune --profile smoke --out runs/tune[/]
    """
    from ..experiments.pipeline import load_run_config, run_pipeline

    grid = {k: v for k, v in {"lrs": lrs, "steps": steps}.items() if v is not None}
    cfg = load_run_config(config, flags(profile=profile, seed=seed, methods=methods, workers=workers, tune="run"))
    if grid:
        cfg.tune_grid = dict(cfg.tune_grid) | grid
    out = out or Path(f"runs/tune-{cfg.profile}")
    path = run_pipeline(cfg, out, console=console, resume=resume, tune_only=True)
    rec = json.loads(path.read_text())
    k = rec["protocol"]["k"]
    lrs_ = [f"{x:g}" for x in rec["protocol"]["lrs"]]
    console.print(f"val Mean@{k} (base {rec['base_val']['mean']:.1f}); * = chosen", markup=False)
    console.print("row".ljust(14) + "".join(x.rjust(10) for x in lrs_), markup=False)
    for row in rec["rows"]:
        cells = rec["cells"][row]
        console.print(row.ljust(14) + "".join(
            (f"{cells[x]['mean']:.1f}" + ("*" if float(x) == rec["chosen"][row] else " ")).rjust(10) for x in lrs_),
            markup=False)
    console.print(f"tuning: {path}", markup=False)
