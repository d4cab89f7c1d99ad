"""DISA's offline anchor: importance-sampling estimates of log Z(x), diagnostics, and the frozen table.

For each prompt with K proposals y_k ~ q (methods.md §1.5, [RECON]):

    a_k = (log pi_ref(y_k) - log q(y_k)) / n_k      n_k = 1 (EXACT units) or |y_k| (LN units)
    l_k = a_k + beta * r_k
    plain IS (E1):  log Z = LSE_k(l_k) - log K                 (unbiased for Z in EXACT units)
    SNIS    (E2):   log Z = LSE_k(l_k) - LSE_k(a_k)            (bounded in [0, beta] for binary r)

Diagnostics (§1.6), with normalized weights w = softmax(l): ESS = 1/sum w^2 (in both units), CV^2 =
K sum w^2 - 1, max w, coverage (any correct proposal), proposal success rate c/K, the IS estimate p~ of
pi_ref's pass rate, and a bootstrap CI of log Z (resampling the K proposals). Prompts with no correct
proposal are kept and flagged ``no_coverage``; they are never dropped, but their ESS/CV^2/max weight and CI
are undefined (null): with r = 0 everywhere the weights never saw the target and every resample gives the
same estimate, so "ESS/K = 1, CI [0, 0]" would make the most biased prompts look the most certain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError

ESTIMATORS = ("snis", "is")
UNITS = ("exact", "ln")


@dataclass(frozen=True)
class AnchorConfig:
    beta: float = 5.0  # EXACT-unit default (methods.md §6 #6); LN units use 15
    estimator: str = "snis"  # methods.md §6 #4
    units: str = "exact"  # short responses here: exact sequence weights are well behaved
    bootstrap: int = 200  # §1.6
    seed: int = 0

    def check(self) -> None:
        if not (self.beta > 0 and np.isfinite(self.beta)):
            raise UserError(f"--beta must be > 0, got {self.beta}")
        if self.estimator not in ESTIMATORS:
            raise UserError(f"unknown --estimator {self.estimator!r}; valid: {', '.join(ESTIMATORS)}")
        if self.units not in UNITS:
            raise UserError(f"unknown --units {self.units!r}; valid: {', '.join(UNITS)}")
        if self.bootstrap < 0:
            raise UserError(f"--bootstrap must be >= 0, got {self.bootstrap}")


def _lse(x: np.ndarray, axis=-1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))).squeeze(axis)


def log_weights(ref_lp, q_lp, n_tokens, units: str) -> np.ndarray:
    a = np.asarray(ref_lp, dtype=np.float64) - np.asarray(q_lp, dtype=np.float64)
    if units == "ln":
        a = a / np.maximum(np.asarray(n_tokens, dtype=np.float64), 1.0)
    return a


def estimate_log_z(a: np.ndarray, r: np.ndarray, beta: float, estimator: str) -> np.ndarray:
    """log Z over the last axis (a and r may carry leading batch axes, e.g. bootstrap replicates)."""
    ell = a + beta * r
    if estimator == "snis":
        return _lse(ell) - _lse(a)
    return _lse(ell) - np.log(a.shape[-1])


def ess(logw: np.ndarray) -> float:
    w = np.exp(logw - _lse(logw))
    return float(1.0 / np.sum(w**2))


def anchor_prompt(ref_lp, q_lp, n_tokens, reward, cfg: AnchorConfig, rng: np.random.Generator) -> dict:
    """Estimate and diagnose log Z for one prompt's K proposals."""
    r = np.asarray(reward, dtype=np.float64)
    K = r.shape[0]
    a = log_weights(ref_lp, q_lp, n_tokens, cfg.units)
    ell = a + cfg.beta * r
    w = np.exp(ell - _lse(ell))
    log_z = float(estimate_log_z(a, r, cfg.beta, cfg.estimator))
    pa = np.exp(a - _lse(a))
    out = {
        "k": K,
        "log_z": log_z,
        "ess": float(1.0 / np.sum(w**2)),
        "ess_frac": float(1.0 / np.sum(w**2)) / K,
        "ess_exact": ess(log_weights(ref_lp, q_lp, n_tokens, "exact") + cfg.beta * r),
        "ess_ln": ess(log_weights(ref_lp, q_lp, n_tokens, "ln") + cfg.beta * r),
        "cv2": float(K * np.sum(w**2) - 1.0),
        "max_weight": float(w.max()),
        "coverage": bool((r > 0).any()),
        "success_rate": float((r > 0).mean()),
        "p_tilde": float(np.sum(pa * r)),
    }
    if cfg.bootstrap:
        idx = rng.integers(0, K, size=(cfg.bootstrap, K))
        boots = estimate_log_z(a[idx], r[idx], cfg.beta, cfg.estimator)
        out["log_z_ci_low"], out["log_z_ci_high"] = (float(v) for v in np.quantile(boots, [0.025, 0.975]))
    else:
        out["log_z_ci_low"] = out["log_z_ci_high"] = log_z
    out["no_coverage"] = not out["coverage"]
    if out["no_coverage"]:  # the weights never saw the target: ESS and CI are undefined, not 1.0 and [x, x]
        out.update({k: None for k in UNDEFINED_WITHOUT_COVERAGE})
    return out


# With no correct proposal the weights are softmax(a) alone: their ESS describes q vs pi_ref, not the target
# pi*, and every bootstrap resample gives the same estimate. These fields are null for such prompts.
UNDEFINED_WITHOUT_COVERAGE = ("ess", "ess_frac", "ess_exact", "ess_ln", "cv2", "max_weight", "log_z_ci_low", "log_z_ci_high")


def build_anchor(table, cfg: AnchorConfig, progress=None) -> list[dict]:
    """One anchor row per prompt of a validated store table."""
    from ..store.schema import group_by_prompt

    cfg.check()
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for pid, g in group_by_prompt(table).items():
        row = {"prompt_id": pid}
        row.update(anchor_prompt(g["ref_logprob"], g["proposal_logprob"], g["num_tokens"], g["reward"], cfg, rng))
        row.update({"beta": cfg.beta, "units": cfg.units, "estimator": cfg.estimator})
        rows.append(row)
        if progress is not None:
            progress(1)
    return rows


ANCHOR_COLUMNS = ["prompt_id", "log_z", "ess", "ess_frac", "ess_exact", "ess_ln", "cv2", "max_weight", "coverage",
                  "no_coverage", "success_rate", "p_tilde", "log_z_ci_low", "log_z_ci_high", "k", "beta", "units",
                  "estimator", "source"]  # source: table | regressor | shrunk (see regressor.py)


def write_anchor(path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..io import atomic_path

    extra = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in ANCHOR_COLUMNS]
    table = pa.table({c: [r.get(c, "table" if c == "source" else None) for r in rows] for c in ANCHOR_COLUMNS + extra})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


# The stated bound on a stored log Z, in nats. log Z = log E_pi_ref[exp(beta r)] lies within [beta r_min,
# beta r_max] (the SNIS estimate in exact units always does); IS and LN-unit estimates can leave that range,
# but one beyond 1e4 nats only comes from weights no float training can use (log Z = 1e20 makes DISA's squared
# residual overflow to inf).
LOG_Z_MAX = 1e4


def read_anchor(path) -> dict[str, dict]:
    """prompt_id -> row. Checks the columns DISA needs and that the anchor is one anchor: non-empty, no null or
    repeated prompt id, every log Z finite with |log Z| <= LOG_Z_MAX, and one beta and one units on all rows
    (log Z depends on both). Each problem is one UserError naming the file, column and row."""
    from pathlib import Path

    import pyarrow.parquet as pq

    p = Path(path)
    if not p.exists():
        raise UserError(f"anchor file {str(p)!r} does not exist (make one with 'disa-bench anchor')")
    if p.is_dir() and (p / "anchor.parquet").is_file():  # the --out dir of 'disa-bench anchor'
        p = p / "anchor.parquet"
    try:
        t = pq.read_table(p)
    except Exception as e:
        raise UserError(f"{p}: not a readable anchor Parquet file ({type(e).__name__})") from None
    for c in ("prompt_id", "log_z", "beta", "units"):
        if c not in t.column_names:
            raise UserError(f"{p}: missing column {c!r} (expected an anchor.parquet written by 'disa-bench anchor')")
    rows = t.to_pylist()
    if not rows:
        raise UserError(f"{p}: the anchor has no rows (expected one per prompt, written by 'disa-bench anchor')")
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        pid, lz, beta = r["prompt_id"], r["log_z"], r["beta"]
        if pid is None:
            raise UserError(f"{p}: column 'prompt_id' row {i} is null")
        if pid in seen:
            raise UserError(f"{p}: row {i} repeats prompt {pid!r} of row {seen[pid]} (one log Z per prompt)")
        seen[pid] = i
        if not isinstance(lz, (int, float)) or not np.isfinite(lz):
            raise UserError(f"{p}: column 'log_z' row {i} is {lz} (expected a finite number)")
        if abs(lz) > LOG_Z_MAX:
            raise UserError(f"{p}: column 'log_z' row {i} is {lz:g}, beyond the bound |log Z| <= {LOG_Z_MAX:g} nats")
        if not isinstance(beta, (int, float)) or not (np.isfinite(beta) and beta > 0):
            raise UserError(f"{p}: column 'beta' row {i} is {beta} (expected a finite number > 0)")
    for col in ("beta", "units"):
        values = {r[col] for r in rows}
        if len(values) > 1:
            first = rows[0][col]
            i = next(i for i, r in enumerate(rows) if r[col] != first)
            raise UserError(f"{p}: rows carry different {col} ({first!r} in row 0, {rows[i][col]!r} in row {i}); "
                            f"an anchor is computed at one {col}")
    return {r["prompt_id"]: r for r in rows}


def subsample_per_prompt(table, k: int, seed: int = 0):
    """The store restricted to k proposals per prompt (drawn without replacement, seeded); prompts with fewer
    than k keep all of theirs. Stored proposals are i.i.d. from q, so any subset is a valid k-sample store."""
    from ..store.schema import group_by_prompt

    rng = np.random.default_rng(seed)
    keep = []
    for g in group_by_prompt(table).values():
        idx = np.asarray(g["rows"])
        keep.extend(sorted(idx[rng.permutation(len(idx))[:k]].tolist()))
    return table.take(sorted(keep))


def closed_form_log_z(p: float, beta: float) -> float:
    """Exact log Z for a binary reward under pi_ref with pass rate p: log(1 + (e^beta - 1) p) (§1.3)."""
    return float(np.log1p(np.expm1(beta) * p))


def pass_rate_draws(correct, n: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """(n_draws, P) draws of each prompt's pass rate given ``correct[i]`` of ``n`` samples: the Jeffreys
    posterior Beta(c + 1/2, n - c + 1/2). Used to carry a sampled reference's own error into the sweep's
    CIs; unlike resampling the n samples it is not a point mass when c = 0 (log Z of a prompt with no
    correct reference sample is not known to be 0)."""
    c = np.asarray(correct, dtype=np.float64)
    return rng.beta(c + 0.5, n - c + 0.5, size=(n_draws, c.size))


def anchor_summary(rows: list[dict]) -> dict:
    """Headline numbers of an anchor table for summary.json: log Z range, and over the prompts with a correct
    proposal (ESS/CI are undefined for the others, which are counted) mean ESS/K and CI width."""
    lz = np.array([r["log_z"] for r in rows])
    cov = np.array([bool(r["coverage"]) for r in rows])
    ef = np.array([r["ess_frac"] for r in rows if r["coverage"]], dtype=np.float64)
    widths = [r["log_z_ci_high"] - r["log_z_ci_low"] for r in rows if r["coverage"]]
    return {
        "prompts": len(rows),
        "log_z_mean": float(lz.mean()),
        "log_z_min": float(lz.min()),
        "log_z_max": float(lz.max()),
        "ess_frac_mean": float(ef.mean()) if ef.size else None,
        "ess_frac_below_0.1": int((ef < 0.1).sum()),
        "no_coverage": int((~cov).sum()),
        "ci_width_mean": float(np.mean(widths)) if widths else None,
        "covered_prompts": int(cov.sum()),
        "note": "ess_frac_mean, ess_frac_below_0.1 and ci_width_mean are over the covered prompts; no_coverage "
                "prompts have undefined (null) ESS and CI",
        "beta": rows[0]["beta"],
        "units": rows[0]["units"],
        "estimator": rows[0]["estimator"],
    }
