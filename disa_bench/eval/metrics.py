"""Mean@k, unbiased pass@k, maj@k and bootstrap confidence intervals over prompts."""

from __future__ import annotations

from collections import Counter
from math import comb

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def maj_at_k(answers: list[str | None], rewards: list[float]) -> float:
    """1 if the most frequent extracted answer (ties: first seen) is a correct one."""
    valid = [(a, r) for a, r in zip(answers, rewards) if a is not None]
    if not valid:
        return 0.0
    top = Counter(a for a, _ in valid).most_common(1)[0][0]
    return float(any(r > 0 for a, r in valid if a == top))


def bootstrap_ci(per_prompt: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile CI of the mean over prompts (resampling prompts)."""
    x = np.asarray(per_prompt, dtype=np.float64)
    if x.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def paired_bootstrap_p(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> float:
    """Two-sided paired bootstrap p-value for mean(a) != mean(b) on the same prompts."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.size == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    centered = boots - d.mean()
    return float(min(1.0, (np.abs(centered) >= abs(d.mean())).mean() + 1.0 / n_boot))


def paired_diff_ci(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean of a - b over the same prompts with a paired percentile bootstrap CI: (diff, lo, hi)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed, alpha=alpha)
    return float(d.mean()), lo, hi


def summarize(groups: list[dict], k: int, seed: int = 0) -> dict:
    """Aggregate per-prompt groups ``{"rewards": [...], "answers": [...], "truncated": [...]}`` of k samples."""
    acc = np.array([np.mean(np.asarray(g["rewards"]) > 0) for g in groups])
    mean_k = 100.0 * acc.mean() if acc.size else float("nan")
    lo, hi = bootstrap_ci(acc, seed=seed)
    out = {
        f"mean@{k}": mean_k,
        f"mean@{k}_ci": [100.0 * lo, 100.0 * hi],
        "num_prompts": len(groups),
        "num_samples": int(sum(len(g["rewards"]) for g in groups)),
        "truncated": int(sum(sum(g["truncated"]) for g in groups)),
        "grader_errors": int(sum(sum(1 for v in g.get("verdicts", []) if v in ("error", "timeout")) for g in groups)),
    }
    ks = sorted({1, k} | {2**i for i in range(1, 10) if 2**i < k})
    for kk in ks:
        out[f"pass@{kk}"] = 100.0 * float(np.mean([pass_at_k(len(g["rewards"]), int(np.sum(np.asarray(g["rewards"]) > 0)), kk) for g in groups]))
    out[f"maj@{k}"] = 100.0 * float(np.mean([maj_at_k(g["answers"], g["rewards"]) for g in groups]))
    return out
