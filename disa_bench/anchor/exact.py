"""``anchor --check-exact``: the IS anchor against the exact log Z of an enumerable world.

Per prompt: exact log Z_beta (from the reference model's own probabilities over the full response set, see
tasks/enum_world.py) beside log Z-hat and its bootstrap CI. Summary: the share of prompts whose CI covers
the exact value, mean |error|, and, for several K, the log-log slope of mean |error| against K.

Several K: each prompt's K_max stored proposals (i.i.d. draws from q) are shuffled once and cut into
floor(K_max / K) disjoint chunks of K; every chunk is an independent K-sample estimate. Errors and coverage
at that K average over all chunks of all prompts (so small K is not noisier for want of replicates).
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..tasks.enum_world import EnumWorld
from ..types import Problem
from .estimators import AnchorConfig, anchor_prompt


def parse_k_list(s) -> list[int]:
    if s is None or s == "":
        return []
    if isinstance(s, (list, tuple)):
        ks = [int(v) for v in s]
    else:
        try:
            ks = [int(v) for v in str(s).split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--k must be a comma-separated list of integers, got {s!r}") from None
    if any(k < 1 for k in ks):
        raise UserError(f"--k values must be >= 1, got {s!r}")
    return sorted(set(ks))


def loglog_slope(ks, errs) -> float:
    ks, errs = np.asarray(ks, float), np.asarray(errs, float)
    ok = errs > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ks[ok]), np.log(errs[ok]), 1)[0])


def check_exact(table, cfg: AnchorConfig, ref: str | None, k_list=(), task_name: str | None = None) -> tuple[list[dict], dict]:
    """Return (per-prompt rows, summary). Needs an enumerable task, EXACT units and ``ref``."""
    from ..store.schema import group_by_prompt
    from ..tasks import get_task
    from ..tasks.enum_world import is_enumerable

    name = task_name or table.column("task")[0].as_py()
    task = get_task(name)
    if not is_enumerable(task):
        raise UserError(f"--check-exact needs an enumerable task (enum-*), but the store's task is {name!r}")
    if not ref:
        raise UserError("--check-exact needs the reference model: pass --ref MODEL (the pi_ref the store was scored with)")
    if cfg.units != "exact":
        raise UserError("--check-exact compares with the exact Z, so it needs --units exact")
    groups = group_by_prompt(table)
    pids = list(groups)
    ex = exact_for_model_path(ref, task, pids, cfg.beta)
    exact = dict(zip(pids, ex["log_z"]))
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for pid, g in groups.items():
        est = anchor_prompt(g["ref_logprob"], g["proposal_logprob"], g["num_tokens"], g["reward"], cfg, rng)
        lz = float(exact[pid])
        rows.append({"prompt_id": pid, "log_z_exact": lz, "log_z": est["log_z"], "log_z_ci_low": est["log_z_ci_low"],
                     "log_z_ci_high": est["log_z_ci_high"], "abs_err": abs(est["log_z"] - lz),
                     "covered": _covers(est, lz), "k": est["k"], "no_coverage": est["no_coverage"],
                     "ess_frac": est["ess_frac"], "success_rate": est["success_rate"]})
    summary = {
        "prompts": len(rows), "beta": cfg.beta, "estimator": cfg.estimator, "units": cfg.units,
        "k": int(np.median([r["k"] for r in rows])),
        "coverage": float(np.mean([r["covered"] for r in rows])),
        "mean_abs_err": float(np.mean([r["abs_err"] for r in rows])),
        "ref_mass_min": float(ex["mass"].min()),
    }
    if k_list:
        kmax = min(r["k"] for r in rows)
        too_big = [k for k in k_list if k > kmax]
        if too_big:
            raise UserError(f"--k {','.join(map(str, too_big))} exceeds the store's proposals per prompt ({kmax}); "
                            f"propose with --k {max(k_list)} or more")
        per_k = []
        perm = {pid: rng.permutation(len(g["reward"])) for pid, g in groups.items()}
        for k in k_list:
            errs, cov, signed = [], [], []
            for pid, g in groups.items():
                idx = perm[pid]
                for c in range(len(idx) // k):
                    sl = idx[c * k:(c + 1) * k]
                    est = anchor_prompt(g["ref_logprob"][sl], g["proposal_logprob"][sl], g["num_tokens"][sl],
                                        g["reward"][sl], cfg, rng)
                    e = est["log_z"] - exact[pid]
                    errs.append(abs(e))
                    signed.append(e)
                    cov.append(_covers(est, exact[pid]))
            per_k.append({"k": k, "mean_abs_err": float(np.mean(errs)), "mean_err": float(np.mean(signed)),
                          "coverage": float(np.mean(cov)), "estimates": len(errs)})
        summary["per_k"] = per_k
        summary["slope"] = loglog_slope([p["k"] for p in per_k], [p["mean_abs_err"] for p in per_k])
    return rows, summary


def _covers(est: dict, log_z: float) -> bool:
    """Whether the anchor's CI contains ``log_z``; an undefined CI (no correct proposal) covers nothing."""
    lo, hi = est["log_z_ci_low"], est["log_z_ci_high"]
    return lo is not None and bool(lo <= log_z <= hi)


def write_check(path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..io import atomic_path

    table = pa.table({c: [r[c] for r in rows] for c in rows[0]})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


# ---------------------------------------------------------------------- exact quantities of an enumerable world


def response_logprobs(model, world: EnumWorld, problems: list[Problem], temperature: float = 1.0,
                      grad: bool = False):
    """(P, R) tensor of log pi(y|x) for every prompt and every response of ``world.responses()``."""
    import contextlib

    import torch

    from ..rollout.scoring import token_logprobs

    resp = [ids for ids, _ in world.responses()]
    v = world.vocab()
    rows = []
    ctx = contextlib.nullcontext() if grad else torch.no_grad()
    with ctx:
        for p in problems:
            pids = [[v[c] for c in p.prompt]] * len(resp)
            lp, mask = token_logprobs(model, pids, resp, temperature, pad_id=0)
            rows.append((lp * mask).sum(-1))
    return torch.stack(rows)


def exact_log_z(model, world: EnumWorld, problems: list[Problem], beta: float) -> dict:
    """Exact log Z_beta per prompt, pi*_beta and pi_ref over the full response set (numpy arrays).

    Returns {"prompt_id": [...], "log_z": (P,), "log_pi_ref": (P, R), "log_pi_star": (P, R), "reward": (P, R),
    "mass": (P,) total pi_ref mass of the set (1 up to float error)}."""
    lp = response_logprobs(model, world, problems).double().numpy()
    r = np.stack([world.rewards(p) for p in problems])
    ell = lp + beta * r
    m = ell.max(1, keepdims=True)
    log_z = (m + np.log(np.exp(ell - m).sum(1, keepdims=True)))[:, 0]
    return {"prompt_id": [p.prompt_id for p in problems], "log_z": log_z, "log_pi_ref": lp,
            "log_pi_star": ell - log_z[:, None], "reward": r, "mass": np.exp(lp).sum(1)}


def exact_for_model_path(ref: str, task, prompt_ids: list[str], beta: float) -> dict:
    from ..models import load_model

    loaded = load_model(ref)
    if loaded.tokenizer.get_vocab() != task.vocab():
        raise UserError(f"--ref {ref!r} does not use the vocabulary of task {task.name!r} "
                        f"(build one with disa_bench.world.enum_models.build_enum_model)")
    return exact_log_z(loaded.model, task, [task.problem_by_id(p) for p in prompt_ids], beta)
