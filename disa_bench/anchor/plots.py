"""PNG diagnostics of the anchor (matplotlib, Agg backend): ESS/K and log Z-hat histograms, and with
``--check-exact`` a scatter of log Z-hat (with bootstrap CIs) against the exact log Z. See docs/anchor.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def histograms(rows: list[dict], out: Path) -> list[str]:
    """ESS/K over the prompts with a correct proposal (undefined for the others, counted in the title) and
    log Z-hat of all IS prompts, no-coverage ones stacked in their own colour."""
    plt = _plt()
    rows = [r for r in rows if r.get("k")]  # regressor-only prompts (no proposals) have no IS estimate
    nc = [bool(r.get("no_coverage")) for r in rows]
    ef = np.array([r["ess_frac"] for r, n in zip(rows, nc) if not n], dtype=np.float64)
    lz = np.array([r["log_z_table"] if r.get("log_z_table") is not None else r["log_z"] for r in rows], dtype=np.float64)
    nc = np.array(nc, dtype=bool)
    written = []
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(ef, bins=np.linspace(0, 1, 21), color="tab:blue")
    ax.axvline(0.1, color="tab:red", ls="--", lw=1, label="ESS/K = 0.1")
    ax.set_xlabel("ESS / K (prompts with a correct proposal)")
    ax.set_ylabel("prompts")
    ax.set_title(f"ESS/K: {int((ef < 0.1).sum())} of {ef.size} < 0.1; {int(nc.sum())} no coverage (undefined)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "ess_frac_hist.png", dpi=100)
    plt.close(fig)
    written.append("ess_frac_hist.png")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist([lz[~nc], lz[nc]], bins=20, stacked=True, color=["tab:green", "tab:red"],
            label=["covered", f"no correct proposal ({int(nc.sum())})"])
    ax.set_xlabel("log Z-hat (IS table)")
    ax.set_ylabel("prompts")
    ax.set_title(f"log Z-hat: mean {lz.mean():.3f}, range [{lz.min():.2f}, {lz.max():.2f}]", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "log_z_hist.png", dpi=100)
    plt.close(fig)
    written.append("log_z_hist.png")
    return written


def exact_scatter(check_rows: list[dict], summary: dict, out: Path) -> list[str]:
    plt = _plt()
    ex = np.array([r["log_z_exact"] for r in check_rows])
    est = np.array([r["log_z"] for r in check_rows])
    nc = np.array([r["log_z_ci_low"] is None for r in check_rows])
    lo = np.array([est[i] if nc[i] else r["log_z_ci_low"] for i, r in enumerate(check_rows)], dtype=np.float64)
    hi = np.array([est[i] if nc[i] else r["log_z_ci_high"] for i, r in enumerate(check_rows)], dtype=np.float64)
    cov = np.array([r["covered"] for r in check_rows])
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for m, c, lab in ((cov, "tab:blue", "CI covers exact"), (~cov & ~nc, "tab:red", "CI misses exact")):
        if m.any():
            ax.errorbar(ex[m], est[m], yerr=[est[m] - lo[m], hi[m] - est[m]], fmt="o", ms=3, color=c, lw=0.8, label=lab)
    if nc.any():
        ax.plot(ex[nc], est[nc], "x", color="tab:gray", ms=5, label=f"no correct proposal ({int(nc.sum())}): CI undefined")
    a, b = min(ex.min(), lo.min()), max(ex.max(), hi.max())
    ax.plot([a, b], [a, b], "k--", lw=0.8)
    ax.set_xlabel("exact log Z")
    ax.set_ylabel("log Z-hat (95% bootstrap CI)")
    ax.set_title(f"K={summary['k']}: coverage {100 * summary['coverage']:.0f}%, MAE {summary['mean_abs_err']:.3f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "exact_scatter.png", dpi=100)
    plt.close(fig)
    written = ["exact_scatter.png"]
    if summary.get("per_k"):
        ks = [p["k"] for p in summary["per_k"]]
        errs = [p["mean_abs_err"] for p in summary["per_k"]]
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        ax.loglog(ks, errs, "o-")
        ax.set_xlabel("K")
        ax.set_ylabel("mean |log Z-hat - log Z|")
        ax.set_title(f"error vs K: log-log slope {summary['slope']:.2f}")
        fig.tight_layout()
        fig.savefig(out / "error_vs_k.png", dpi=100)
        plt.close(fig)
        written.append("error_vs_k.png")
    return written
