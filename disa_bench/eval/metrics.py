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


# ---------------------------------------------------------------------- tests for claims (docs/report.md)
def paired_bootstrap_reps(ds: list[np.ndarray], n_boot: int = 2000, seed: int = 0) -> tuple[float, np.ndarray]:
    """(observed, centred replicates) of the task-averaged mean difference, prompts resampled within each task.

    ``ds`` holds one array of per-prompt differences a - b per task. One task draws exactly what
    :func:`paired_bootstrap_p` draws, so its two-sided p is the same number."""
    ds = [np.asarray(d, dtype=np.float64) for d in ds]
    if not ds or any(d.size == 0 for d in ds):
        return float("nan"), np.zeros(0)
    rng = np.random.default_rng(seed)
    boots = np.zeros(n_boot)
    for d in ds:
        boots += d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    boots /= len(ds)
    obs = float(np.mean([d.mean() for d in ds]))
    return obs, boots - obs


def bootstrap_p(obs: float, centred: np.ndarray, margin: float = 0.0, side: str = "two") -> float:
    """p-value from centred bootstrap replicates (the null distribution is the centred one shifted to -margin).

    ``two``: H0 diff = 0 (margin ignored); ``ni``: H0 diff <= -margin vs H1 diff > -margin (non-inferiority);
    ``inf``: H0 diff >= -margin vs H1 diff < -margin (worse by more than the margin). One added replicate
    keeps p > 0."""
    if centred.size == 0 or not np.isfinite(obs):
        return float("nan")
    n = centred.size
    if side == "two":
        frac = (np.abs(centred) >= abs(obs)).mean()
    elif side == "ni":
        frac = (centred >= obs + margin).mean()
    elif side == "inf":
        frac = (centred <= obs + margin).mean()
    else:
        raise ValueError(f"unknown side {side!r}; valid: two, ni, inf")
    return float(min(1.0, frac + 1.0 / n))


def _seed_component(xs: list[np.ndarray]) -> tuple[float, int]:
    """(variance of the seed mean due to training seeds, its degrees of freedom) for one method.

    ``xs``: per task an (S, P_t) array of per-prompt scores (rows = seeds, the same prompts in every row).
    Method of moments for the crossed seeds x prompts design: the variance of the S task-averaged seed means
    minus what the seed x prompt residual alone would give (mean square / P), floored at 0, divided by S."""
    S = xs[0].shape[0]
    if S < 2:
        return 0.0, 0
    means = np.mean([x.mean(axis=1) for x in xs], axis=0)
    noise = 0.0
    for x in xs:
        P = x.shape[1]
        res = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
        noise += (res**2).sum() / ((S - 1) * max(P - 1, 1)) / P
    noise /= len(xs) ** 2
    return max(0.0, float(means.var(ddof=1)) - noise) / S, S - 1


def _combine(vp: float, dfp: int, parts: list[tuple[float, int]]) -> tuple[float, float]:
    """Total variance and Welch–Satterthwaite degrees of freedom of independent variance components."""
    comps = [(vp, dfp)] + [p for p in parts if p[1] > 0]
    v = sum(c for c, _ in comps)
    den = sum(c**2 / d for c, d in comps if d > 0 and c > 0)
    return v, (v**2 / den if den > 0 else float("inf"))


def seed_aware_test(a: list[np.ndarray], b: list[np.ndarray], margin: float = 0.0, alpha: float = 0.05) -> dict:
    """Paired test of A vs B over seeds and prompts: a crossed random-effects t-test (docs/report.md).

    ``a``/``b``: per task an (S_a, P_t) / (S_b, P_t) array on the same prompts. The difference D of the
    seed- and task-averaged means has variance (prompts) var_p(d)/P over the seed-averaged per-prompt
    differences d, plus (seeds) each method's seed component (:func:`_seed_component`); the t statistic is
    referred to Student's t with Welch–Satterthwaite df. Returns diff, se, df, the two-sided p, the
    non-inferiority p (H1: diff > -margin), the inferiority p (H1: diff < -margin) and a (1 - alpha) CI."""
    ds = [np.asarray(x, float).mean(axis=0) - np.asarray(y, float).mean(axis=0) for x, y in zip(a, b)]
    T = len(ds)
    diff = float(np.mean([d.mean() for d in ds]))
    vp = sum(d.var(ddof=1) / d.size for d in ds) / T**2
    dfp = sum(d.size for d in ds) - T
    v, df = _combine(vp, dfp, [_seed_component([np.asarray(x, float) for x in a]),
                               _seed_component([np.asarray(y, float) for y in b])])
    se = float(np.sqrt(v))
    out = {"diff": diff, "se": se, "df": float(df), "seeds": [a[0].shape[0], b[0].shape[0]]}
    if se == 0:
        same = diff == 0
        out.update(p=1.0 if same else 0.0, p_ni=0.0 if diff > -margin else 1.0, p_inf=0.0 if diff < -margin else 1.0,
                   ci=[diff, diff])
        return out
    t = diff / se
    q = t_quantile(1 - alpha / 2, df)
    out.update(p=min(1.0, 2 * t_sf(abs(t), df)), p_ni=t_sf((diff + margin) / se, df),
               p_inf=t_sf(-(diff + margin) / se, df), ci=[diff - q * se, diff + q * se])
    return out


def seed_mean_ci(xs: list[np.ndarray], alpha: float = 0.05) -> tuple[float, float, float]:
    """(mean, lo, hi) of one method's task-averaged score over several seeds: prompts and seeds both vary
    (the one-sample version of :func:`seed_aware_test`)."""
    xs = [np.asarray(x, float) for x in xs]
    T = len(xs)
    mean = float(np.mean([x.mean() for x in xs]))
    vp = sum(x.mean(axis=0).var(ddof=1) / x.shape[1] for x in xs) / T**2
    v, df = _combine(vp, sum(x.shape[1] for x in xs) - T, [_seed_component(xs)])
    half = t_quantile(1 - alpha / 2, df) * float(np.sqrt(v))
    return mean, mean - half, mean + half


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone); None/NaN entries are not in the family."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and np.isfinite(p)]
    m = len(idx)
    out: list[float | None] = list(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


# ---------------------------------------------------------------------- Student's t without scipy
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    from math import exp, lgamma, log

    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1.0 - x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (df = inf: the standard normal)."""
    from math import erfc, sqrt

    if not np.isfinite(t):
        return 0.0 if t > 0 else 1.0
    if not np.isfinite(df) or df > 1e7:
        return 0.5 * erfc(t / sqrt(2.0))
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_quantile(q: float, df: float) -> float:
    """The q-quantile of Student's t: Newton steps from the normal quantile, bisection as the fallback."""
    from math import exp, lgamma, pi, sqrt

    from statistics import NormalDist

    x = NormalDist().inv_cdf(q)
    if not np.isfinite(df) or df > 1e7:
        return x
    c = exp(lgamma((df + 1) / 2) - lgamma(df / 2)) / sqrt(df * pi)
    for _ in range(50):
        step = (1.0 - t_sf(x, df) - q) / (c * (1 + x * x / df) ** (-(df + 1) / 2))
        x -= step
        if abs(step) < 1e-12 * max(1.0, abs(x)):
            return x
    lo, hi = -1e4, 1e4
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 1.0 - t_sf(mid, df) < q else (lo, mid)
    return (lo + hi) / 2
