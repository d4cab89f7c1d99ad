"""The sweep's two bias–variance claims (methods.md §1.9(d)), each decided by a paired test over prompts.

- **Best α shifts toward stronger proposals as β grows.** α_a = the lowest-error α at the smallest β, α_b at
  the largest. With α_b ≠ α_a and the argmin never moving backwards, the test is the interaction over
  prompts s_p = [e(α_lo, β_max) − e(α_hi, β_max)] − [e(α_lo, β_min) − e(α_hi, β_min)] (e = |log Ẑ − log Z_ref|,
  α_lo < α_hi the two argmins): s > 0 means the stronger proposal gains as β grows, the claim.
- **IS variance rises with β.** Per prompt, ESS/K at the largest β minus at the smallest, averaged over α
  (prompts with no correct proposal have no ESS and are left out); the claim is that it is negative.

Both are paired bootstraps over prompts; a closed-form (sampled) reference also redraws each prompt's
reference pass rate per replicate (Jeffreys posterior, anchor.estimators.pass_rate_draws), shared by all
cells of that replicate, so its error is in the test. The p-value inverts the percentile interval:
p = 2 min(P*(D ≤ 0), P*(D ≥ 0)). A sweep.json without ``per_prompt`` (written before these tests) is not
tested: the verdict is inconclusive and the point estimates are shown; so is a test on fewer than
``MIN_PAIRED`` prompts. Claims go through the report's
Holm–Bonferroni family (report/claims.py ``apply_family``).
"""

from __future__ import annotations

import math

import numpy as np

from .stats import MIN_PAIRED

T_SHIFT = "Bias–variance: the best proposal strength α (lowest anchor error) shifts toward stronger proposals as β grows"
T_ESS = "Bias–variance: IS variance rises with β (mean ESS/K falls at fixed α)"
INCONCLUSIVE = "inconclusive"


def _claim(cid, text, verdict, numbers, **extra) -> dict:
    return {"id": cid, "claim": text, "verdict": verdict, "numbers": numbers, **extra}


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _p_percentile(boots: np.ndarray) -> float:
    n = boots.size
    return float(min(1.0, 2 * min((boots <= 0).mean(), (boots >= 0).mean()) + 1.0 / n))


def _ref_label(sw: dict) -> str:
    ref = sw.get("reference") or {}
    if ref.get("kind") == "exact":
        return "reference: exact log Z (enumerable world)"
    if ref.get("kind") == "closed_form_q_ref":
        return f"reference: closed form from K = {ref.get('k')} π_ref samples, its error carried (Jeffreys draws)"
    return f"reference: {ref.get('kind', 'unknown')}"


def _ref_draws(sw: dict, pids: list[str], beta: float, pass_draws: np.ndarray | None, grid: dict, alpha) -> np.ndarray:
    """(n_boot, P) reference log Z per replicate (constant rows for an exact reference)."""
    if pass_draws is not None:
        return np.log1p(np.expm1(beta) * pass_draws)
    ref = np.array([grid[(alpha, beta)]["per_prompt"][p]["ref"] for p in pids], float)
    return np.broadcast_to(ref, (1, ref.size))


def sweep_claims(sweeps: list[dict], n_boot: int = 2000, seed: int = 0) -> list[dict]:
    if not sweeps:
        return [_claim("sweep_shift", T_SHIFT, INCONCLUSIVE, "no sweep results (run `disa-bench sweep` and pass its dir)"),
                _claim("sweep_ess", T_ESS, INCONCLUSIVE, "no sweep results")]
    sw = sweeps[0]
    cells = [c for c in sw["cells"] if _finite(c.get("anchor_abs_err"))]
    alphas = sorted({c["alpha"] for c in cells})
    betas = sorted({c["beta"] for c in cells})
    if len(alphas) < 2 or len(betas) < 2:
        return [_claim("sweep_shift", T_SHIFT, INCONCLUSIVE, f"the sweep needs >= 2 values of α and of β (has {len(alphas)} × {len(betas)})"),
                _claim("sweep_ess", T_ESS, INCONCLUSIVE, f"the sweep needs >= 2 values of β (has {len(betas)})")]
    grid = {(c["alpha"], c["beta"]): c for c in cells}
    tested = all(c.get("per_prompt") for c in cells)
    rng = np.random.default_rng(seed)
    return [_shift(sw, grid, alphas, betas, tested, n_boot, rng), _ess(grid, alphas, betas, tested, n_boot, rng)]


def _shift(sw, grid, alphas, betas, tested, n_boot, rng) -> dict:
    best = {b: min((grid[(a, b)]["anchor_abs_err"], a) for a in alphas if (a, b) in grid)[1] for b in betas}
    seq = [best[b] for b in betas]
    nums = "argmin-error α per β: " + ", ".join(f"β={b:g}: α={best[b]:g}" for b in betas) + f"; {_ref_label(sw)}"
    lo_b, hi_b = betas[0], betas[-1]
    a_lo, a_hi = sorted((best[lo_b], best[hi_b]))
    if a_lo == a_hi:
        return _claim("sweep_shift", T_SHIFT, INCONCLUSIVE, nums + " (no shift of the optimum between the smallest and largest β)")
    forward = best[hi_b] > best[lo_b]
    if any((y < x) if forward else (y > x) for x, y in zip(seq, seq[1:])):
        return _claim("sweep_shift", T_SHIFT, INCONCLUSIVE, nums + " (no monotone shift)")
    if not tested:
        return _claim("sweep_shift", T_SHIFT, INCONCLUSIVE, nums + "; no per-prompt results in this sweep.json (written "
                      "before the tests existed): not tested, rerun `disa-bench sweep`")
    four = [(a, b) for a in (a_lo, a_hi) for b in (lo_b, hi_b)]
    pids = sorted(set.intersection(*(set(p for p, v in grid[k]["per_prompt"].items() if v.get("ref") is not None) for k in four)))
    if len(pids) < MIN_PAIRED:
        return _claim("sweep_shift", T_SHIFT, INCONCLUSIVE, nums + f"; {len(pids)} prompts with a reference in all four "
                      f"cells (< {MIN_PAIRED}): not tested")
    ref = sw.get("reference") or {}
    draws = None
    if ref.get("kind") == "closed_form_q_ref" and ref.get("correct"):
        from ..anchor.estimators import pass_rate_draws

        draws = pass_rate_draws([ref["correct"][p] for p in pids], ref["k"], n_boot, rng)

    def err(a, b, refs):  # (n_boot or 1, P) |error| of cell (a, b)
        lz = np.array([grid[(a, b)]["per_prompt"][p]["log_z"] for p in pids], float)
        return np.abs(lz[None, :] - refs)

    r_lo, r_hi = (_ref_draws(sw, pids, b, draws, grid, a_lo) for b in (lo_b, hi_b))
    s = (err(a_lo, hi_b, r_hi) - err(a_hi, hi_b, r_hi)) - (err(a_lo, lo_b, r_lo) - err(a_hi, lo_b, r_lo))
    point = (_point_err(grid, a_lo, hi_b, pids) - _point_err(grid, a_hi, hi_b, pids)) \
        - (_point_err(grid, a_lo, lo_b, pids) - _point_err(grid, a_hi, lo_b, pids))
    idx = rng.integers(0, len(pids), size=(n_boot, len(pids)))
    boots = np.take_along_axis(np.broadcast_to(s, (n_boot, len(pids))), idx, axis=1).mean(axis=1)
    p = _p_percentile(boots)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    nums += (f"; stronger proposal's relative error gain from β={lo_b:g} to β={hi_b:g}: {point.mean():+.3f} nats "
             f"[{lo:+.3f}, {hi:+.3f}] over {len(pids)} prompts (α {a_lo:g} vs {a_hi:g}), paired bootstrap p {p:.3g}")
    if not forward:
        nums += " (the optimum moved toward weaker proposals)"
    # diff > 0 is the claimed direction: the stronger of the two proposals gains as β grows
    return _claim("sweep_shift", T_SHIFT, None, nums, kind="superiority", diff=float(point.mean()), p=p,
                  test="prompts" + (" + reference draws" if draws is not None else ""))


def _point_err(grid, a, b, pids) -> np.ndarray:
    pp = grid[(a, b)]["per_prompt"]
    return np.array([abs(pp[p]["log_z"] - pp[p]["ref"]) for p in pids], float)


def _ess(grid, alphas, betas, tested, n_boot, rng) -> dict:
    lo_b, hi_b = betas[0], betas[-1]
    nums = "; ".join(f"α={a:g}: " + ", ".join(_fmt(grid[(a, b)].get("ess_frac_mean")) for b in betas if (a, b) in grid)
                     for a in alphas) + f" (mean ESS/K at β = {', '.join(f'{b:g}' for b in betas)})"
    if not tested:
        return _claim("sweep_ess", T_ESS, INCONCLUSIVE, nums + "; no per-prompt results in this sweep.json: not tested, "
                      "rerun `disa-bench sweep`")
    diffs: dict[str, list[float]] = {}
    for a in alphas:
        if (a, lo_b) not in grid or (a, hi_b) not in grid:
            continue
        lo_pp, hi_pp = grid[(a, lo_b)]["per_prompt"], grid[(a, hi_b)]["per_prompt"]
        for p in set(lo_pp) & set(hi_pp):
            x, y = lo_pp[p].get("ess_frac"), hi_pp[p].get("ess_frac")
            if x is not None and y is not None:
                diffs.setdefault(p, []).append(y - x)
    if len(diffs) < MIN_PAIRED:
        return _claim("sweep_ess", T_ESS, INCONCLUSIVE, nums + f"; {len(diffs)} prompts with an ESS at both ends of β "
                      f"(< {MIN_PAIRED}): not tested")
    d = np.array([np.mean(v) for _, v in sorted(diffs.items())])
    boots = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    p = _p_percentile(boots)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    nums += (f"; ESS/K change from β={lo_b:g} to β={hi_b:g}, averaged over α: {d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}] "
             f"over {d.size} prompts, paired bootstrap p {p:.3g}")
    return _claim("sweep_ess", T_ESS, None, nums, kind="superiority", direction="less", diff=float(d.mean()), p=p,
                  test="prompts")


def _fmt(x) -> str:
    return f"{x:.3f}" if _finite(x) else "n/a"
