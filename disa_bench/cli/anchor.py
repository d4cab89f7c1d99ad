"""``disa-bench anchor``: estimate and freeze log Z per prompt, with diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UserError
from ..progress import console
from .app import app, ConfigOpt, flags, SeedOpt, user_errors


@app.command()
@user_errors
def anchor(
    store: Path = typer.Option(..., "--store", help="Trajectory store (store.parquet)."),
    config: Optional[str] = ConfigOpt,
    out: Path = typer.Option(Path("runs/anchor"), "--out", help="Output dir (anchor.parquet, summary.json, manifest.json)."),
    seed: Optional[int] = SeedOpt,
    beta: Optional[float] = typer.Option(None, "--beta", help="Inverse temperature beta > 0 (default 5)."),
    estimator: Optional[str] = typer.Option(None, "--estimator", help="snis (default) or is."),
    units: Optional[str] = typer.Option(None, "--units", help="exact (sequence log-ratios) or ln (length-normalized)."),
    bootstrap: Optional[int] = typer.Option(None, "--bootstrap", help="Bootstrap resamples for the CI (default 200)."),
    check_exact: bool = typer.Option(False, "--check-exact", help="Enumerable tasks (enum-*): compare with the exact log Z (needs --ref)."),
    ref: Optional[str] = typer.Option(None, "--ref", help="Reference policy pi_ref (exact check, regressor features; default: the store's)."),
    k: Optional[str] = typer.Option(None, "--k", help="With --check-exact: K values for the error-vs-K slope, e.g. 4,16,64,256."),
    regressor: bool = typer.Option(False, "--regressor", help="Write the prompt-conditioned regressor's log Z (= --mode regressor)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="table (default: IS estimates), regressor, or shrunk (lambda = ESS/(ESS+kappa))."),
    kappa: Optional[float] = typer.Option(None, "--kappa", help="Shrinkage kappa (default 2)."),
    task: Optional[str] = typer.Option(None, "--task", help="Task of the prompts (default: the store's)."),
    n_prompts: Optional[int] = typer.Option(None, "--n-prompts", help="Regressor: also predict this many prompts of --split (as propose draws them)."),
    split: Optional[str] = typer.Option(None, "--split", help="Split for --n-prompts (default train)."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG histograms (and the exact scatter)."),
):
    """Estimate and freeze log Z per prompt from a store by importance sampling, with diagnostics.

    Writes anchor.parquet, summary.json, ess_frac_hist.png, log_z_hist.png; with --check-exact also
    check_exact.parquet/json and exact_scatter.png (error_vs_k.png with --k); with --regressor regressor.json.

    Example: [bold]disa-bench anchor --store runs/p/store.parquet --beta 5 --estimator snis --units exact --out runs/a[/]
    """
    from ..anchor.estimators import AnchorConfig
    from ..anchor.exact import parse_k_list
    from ..anchor.options import AnchorOptions
    from ..config import load_yaml, resolve
    from ..anchor.stage import anchor_stage

    cfg = resolve(AnchorConfig, load_yaml(config, "anchor"),
                  flags(seed=seed, beta=beta, estimator=estimator, units=units, bootstrap=bootstrap), where=config or "flags")
    cfg.check()
    if regressor and mode not in (None, "regressor"):
        raise UserError(f"--regressor conflicts with --mode {mode}")
    opts = AnchorOptions(**flags(mode="regressor" if regressor else mode, kappa=kappa, ref=ref, task=task,
                                  n_prompts=n_prompts, split=split),
                         check_exact=check_exact, k_list=parse_k_list(k), plots=plots)
    if check_exact and not ref:
        raise UserError("--check-exact needs the reference model: pass --ref MODEL (the pi_ref the store was scored with)")
    opts.check()
    s = anchor_stage(cfg, store, out, opts)
    _print_anchor_table(out / "anchor.parquet", s)
    if "check_exact" in s:
        _print_check_exact(s)
    if "regressor" in s:
        h = s["regressor"]["holdout"]
        console.print(f"regressor ({s['regressor']['mode']}): held-out MAE {h['mae']:.4f} vs mean-baseline "
                         f"{h['mae_mean_baseline']:.4f}, R^2 {h['r2']:.3f}, calibration slope {h['calibration_slope']:.3f} "
                         f"on {h['n']} held-out prompts; wrote {s['regressor']['prompts_written']} prompts "
                         f"({s['regressor']['prompts_without_proposals']} without proposals)")


def _print_check_exact(s: dict) -> None:
    from rich.table import Table

    c = s["check_exact"]
    rows = s["check_exact_rows"]
    t = Table(title=f"exact check: K={c['k']}, {c['prompts']} prompts (worst |error| first)")
    for col in ("prompt_id", "exact log Z", "log Z-hat", "95% CI", "|error|", "covered"):
        t.add_column(col)
    for r in sorted(rows, key=lambda r: -r["abs_err"])[:10]:
        t.add_row(r["prompt_id"], f"{r['log_z_exact']:.4f}", f"{r['log_z']:.4f}",
                  f"[{r['log_z_ci_low']:.3f}, {r['log_z_ci_high']:.3f}]", f"{r['abs_err']:.4f}", "yes" if r["covered"] else "NO")
    console.print(t)
    console.print(f"CI covers exact log Z on {100 * c['coverage']:.1f}% of prompts; mean |error| {c['mean_abs_err']:.4f}")
    for p in c.get("per_k", []):
        console.print(f"  K={p['k']:>4}: mean |error| {p['mean_abs_err']:.4f}, mean error {p['mean_err']:+.4f}, "
                         f"CI coverage {100 * p['coverage']:.1f}% ({p['estimates']} estimates)")
    if "slope" in c:
        console.print(f"error-vs-K log-log slope {c['slope']:.3f} (1/sqrt(K) would be -0.5)")


def _print_anchor_table(path: Path, s: dict) -> None:
    import pyarrow.parquet as pq
    from rich.table import Table

    rows = pq.read_table(path).to_pylist()
    t = Table(title=f"log Z ({s['estimator']}, {s['units']} units, beta={s['beta']}) — {s['prompts']} prompts")
    for c in ("prompt_id", "log_z", "95% CI", "ESS/K", "success", "flags"):
        t.add_column(c)
    rows = [r for r in rows if r.get("k")]  # regressor-only prompts have no IS diagnostics
    # no-coverage prompts first (ESS and CI undefined), then the lowest ESS/K
    worst = sorted(rows, key=lambda r: (not r["no_coverage"], not r["no_coverage"] and r["ess_frac"] >= 0.1,
                                        r["ess_frac"] if r["ess_frac"] is not None else 0.0))[:8]
    for r in worst:
        if r["no_coverage"]:
            ci, ef, flags = "undefined", "undefined", "no coverage"
        else:
            ci, ef = f"[{r['log_z_ci_low']:.2f}, {r['log_z_ci_high']:.2f}]", f"{r['ess_frac']:.2f}"
            flags = "ESS/K<0.1" if r["ess_frac"] < 0.1 else ""
        t.add_row(r["prompt_id"], f"{r['log_z']:.3f}", ci, ef, f"{r['success_rate']:.2f}", flags)
    console.print(t)
    ess = "n/a" if s["ess_frac_mean"] is None else f"{s['ess_frac_mean']:.3f}"
    console.print(f"mean log Z {s['log_z_mean']:.3f}; mean ESS/K {ess} over {s['covered_prompts']} covered prompts; "
                  f"{s['ess_frac_below_0.1']} prompts ESS/K < 0.1; {s['no_coverage']} with no correct proposal "
                  "(kept, flagged; ESS and CI undefined)")
