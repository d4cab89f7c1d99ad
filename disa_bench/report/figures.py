"""PNG figures (matplotlib, Agg backend): per-benchmark bars with CIs, training curves, diversity vs accuracy,
and the sensitivity (bias–variance) figure of a sweep. Each function returns the path written, or None when
there is nothing to draw."""

from __future__ import annotations

import math
from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bars(acc: dict, path: Path) -> Path | None:
    cols, rows = acc["columns"], acc["rows"]
    rows = [r for r in rows if any(r["cells"].get(c["key"]) for c in cols)]
    if not cols or not rows:
        return None
    plt = _plt()
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(cols) * max(1, len(rows)) / 2 + 2), 4))
    width = 0.8 / len(rows)
    x = np.arange(len(cols))
    for i, r in enumerate(rows):
        means, lo, hi = [], [], []
        for c in cols:
            v = r["cells"].get(c["key"])
            m = v["mean"] if v else np.nan
            means.append(m)
            ci = v["ci"] if v else [np.nan, np.nan]
            lo.append(max(0.0, m - ci[0]) if v and math.isfinite(ci[0]) else 0.0)
            hi.append(max(0.0, ci[1] - m) if v and math.isfinite(ci[1]) else 0.0)
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, means, width, yerr=[lo, hi], capsize=2, label=r["name"])
    ax.set_xticks(x)
    ax.set_xticklabels([c["label"] for c in cols], rotation=20, ha="right")
    ax.set_ylabel(f"Mean@{acc.get('k', 8)} (%) with 95% CI")
    ax.legend(fontsize=8, ncol=min(3, len(rows)))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves(col, path: Path) -> Path | None:
    series = [(e.name, e.metrics) for e in col.entries if e.metrics]
    if not series:
        return None
    plt = _plt()
    keys = ("reward", "loss", "response_length")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4))
    for ax, k in zip(axes, keys):
        for name, rows in series:
            pts = [(r.get("step", i + 1), r.get(k)) for i, r in enumerate(rows)
                   if isinstance(r.get(k), (int, float)) and math.isfinite(r.get(k))]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, lw=1.2)
        ax.set_title(k.replace("_", " "))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _div_field(div: dict) -> str | None:
    """The measure of the method-level scatter: a claim measure every row has, else a secondary one."""
    for f in ("correct_entropy", "solution_coverage"):
        if f in (div.get("claim_fields") or []):
            return f
    rows = [r for r in div.get("rows", []) if r["problems"]]
    return next((f for f in ("judge_score", "distinct_4") if rows and all(r["values"].get(f) is not None for r in rows)), None)


def diversity_scatter(acc: dict, div: dict, path: Path) -> Path | None:
    f = _div_field(div)
    key = acc.get("headline")
    if not f or not key:
        return None
    pts = []
    dv = {r["name"]: r["values"].get(f) for r in div["rows"]}
    for r in acc["rows"]:
        c = r["cells"].get(key)
        if c and dv.get(r["name"]) is not None:
            pts.append((r["name"], dv[r["name"]], c["mean"], c["ci"]))
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, x, y, ci in pts:
        err = [[max(0.0, y - ci[0])], [max(0.0, ci[1] - y)]] if all(map(math.isfinite, ci)) else None
        ax.errorbar([x], [y], yerr=err, fmt="o", capsize=3, label=name)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel((div.get("labels") or {}).get(f, f) + " (higher = more diverse)")
    label = next((c["label"] for c in acc["columns"] if c["key"] == key), key)
    ax.set_ylabel(f"Mean@{acc.get('k', 8)} ({label}, %)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def diversity_per_prompt(div: dict, path: Path) -> Path | None:
    """Per prompt: each claim measure against that prompt's accuracy, one colour per row (dots jittered),
    with the row's mean per accuracy bin as a line: a measure driven by accuracy shows as a slope."""
    import numpy as np

    fields = [f for f in ("solution_coverage", "correct_entropy")
              if any(v.get(f) is not None for pp in div["per_problem"].values() for v in pp.values())]
    if not fields:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(fields), figsize=(4.8 * len(fields), 3.8), squeeze=False)
    rng = np.random.default_rng(0)
    edges = np.linspace(0, 1, 5)
    for ax, f in zip(axes[0], fields):
        for i, (name, pp) in enumerate(div["per_problem"].items()):
            xy = np.array([(v["accuracy"], v[f]) for v in pp.values() if v.get(f) is not None and v.get("accuracy") is not None],
                          float).reshape(-1, 2)
            if not len(xy):
                continue
            color = f"C{i % 10}"
            ax.scatter(xy[:, 0] + rng.uniform(-0.015, 0.015, len(xy)), xy[:, 1] + rng.uniform(-0.015, 0.015, len(xy)),
                       s=6, alpha=0.35, color=color)
            mids, means = [], []
            for lo, hi in zip(edges[:-1], edges[1:]):
                inb = xy[(xy[:, 0] > lo) & (xy[:, 0] <= hi)]
                if len(inb):
                    mids.append((lo + hi) / 2)
                    means.append(inb[:, 1].mean())
            ax.plot(mids, means, "-o", color=color, ms=4, lw=1.3, label=name)
        ax.set_xlabel("per-prompt accuracy (correct / k)")
        ax.set_ylabel((div.get("labels") or {}).get(f, f))
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sensitivity(sweep: dict, path: Path) -> Path | None:
    """Anchor error and mean ESS/K vs proposal strength α, one line per β; Mean@8 per cell when trained."""
    cells = sweep.get("cells") or []
    if not cells:
        return None
    plt = _plt()
    betas = sorted({c["beta"] for c in cells})
    trained = any(isinstance(c.get("mean@8"), (int, float)) for c in cells)
    n = 3 if trained else 2
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.6))
    panels = [("anchor_abs_err", "mean |log Ẑ − log Z_ref|", "anchor_abs_err_ci"), ("ess_frac_mean", "mean ESS/K", None)]
    if trained:
        panels.append(("mean@8", "Mean@8 (%) after short DISA training", "mean@8_ci"))
    for ax, (k, title, cik) in zip(axes, panels):
        for b in betas:
            row = sorted((c for c in cells if c["beta"] == b and isinstance(c.get(k), (int, float))), key=lambda c: c["alpha"])
            if not row:
                continue
            xs = [c["alpha"] for c in row]
            ys = [c[k] for c in row]
            if cik and all(c.get(cik) for c in row):
                lo = [max(0.0, y - c[cik][0]) for y, c in zip(ys, row)]
                hi = [max(0.0, c[cik][1] - y) for y, c in zip(ys, row)]
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=2, label=f"β={b:g}")
            else:
                ax.plot(xs, ys, marker="o", label=f"β={b:g}")
        ax.set_xlabel("proposal strength α (q = α q_s + (1−α) π_ref)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
